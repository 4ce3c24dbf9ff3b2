"""`advisor probe` and explainability estimates: metric computations, bad input, demo, --probe."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT, profile

from advisor._cli.main import cli, main
from advisor._probe import (
    ProbeResult,
    ProbeSettings,
    Table,
    bootstrap_scores,
    pairwise_stability,
    prepare,
    run_probe,
    surrogate_fidelity,
    top_rank_correlation,
)

FAST = ["--repeats", "2", "--points", "30", "-q"]


def _points(n: int = 60, d: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------------- metrics


def test_linear_regression_ground_truth_gives_perfect_surrogates():
    w = np.array([2.0, -1.0, 0.5, 0.0, 3.0])
    rep = surrogate_fidelity(
        lambda z: z @ w + 1.0,
        _points(),
        task="regression",
        rng=np.random.default_rng(0),
        perturbations=200,
        top_k=5,
        tolerance=0.1 * float(np.linalg.norm(w)),
    )
    assert rep.agreement.value >= 0.99
    assert rep.local_r2_median >= 0.999


def test_linear_classifier_ground_truth_gives_near_perfect_agreement():
    w = np.array([1.5, -2.0, 1.0, 0.5, 0.0])

    def proba(z: np.ndarray) -> np.ndarray:
        p = _sigmoid(z @ w)
        return np.column_stack([1 - p, p])

    rep = surrogate_fidelity(
        proba, _points(), task="classification", rng=np.random.default_rng(0), perturbations=300
    )
    assert rep.agreement.value >= 0.95
    assert rep.agreement.low <= rep.agreement.value <= rep.agreement.high


def test_highly_non_linear_models_give_lower_fidelity():
    rng = np.random.default_rng(0)

    def wavy(z: np.ndarray) -> np.ndarray:
        return np.sin(3 * z[:, 0]) * np.cos(3 * z[:, 1]) + np.sin(4 * z[:, 2])

    def checkerboard(z: np.ndarray) -> np.ndarray:
        p = _sigmoid(20 * np.sin(2.5 * z[:, 0]) * np.sin(2.5 * z[:, 1]))
        return np.column_stack([1 - p, p])

    reg = surrogate_fidelity(
        wavy, _points(), task="regression", rng=rng, perturbations=300, tolerance=0.1
    )
    cls = surrogate_fidelity(
        checkerboard, _points(), task="classification", rng=rng, perturbations=300
    )
    assert reg.agreement.value < 0.5
    assert reg.local_r2_median < 0.5
    assert cls.agreement.value < 0.8


def test_rank_correlation_of_top_features():
    a = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    assert top_rank_correlation(a, a, 3) == (1.0, 1.0)
    c, overlap = top_rank_correlation(a, a[::-1].copy(), 3)
    assert c < -0.5 and overlap == 0.0
    iv, ov = pairwise_stability([a, a, a], 3)
    assert (iv.value, iv.low, iv.high, ov) == (1.0, 1.0, 1.0, 1.0)


def test_bootstrap_scores_bracket_the_point_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    noisy = np.where(rng.random(400) < 0.8, y, 1 - y)
    b = bootstrap_scores(y, [y, noisy], "classification", rng, 500)
    assert np.all(b[:, 0] == 1.0)
    lo, hi = np.quantile(b[:, 1], [0.025, 0.975])
    assert lo < float(np.mean(noisy == y)) < hi and hi - lo < 0.12
    yr = rng.normal(size=300)
    r2 = bootstrap_scores(yr, [yr, yr + rng.normal(scale=0.5, size=300)], "regression", rng, 200)
    assert np.allclose(r2[:, 0], 1.0) and 0.6 < r2[:, 1].mean() < 0.9


# ---------------------------------------------------------------------------------- data


def _table(n: int = 120, seed: int = 0, target: str = "linear") -> Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    if target == "linear":
        y = (x @ np.array([1.5, -1.0, 0.8, 0.0]) + 0.3 * rng.normal(size=n) > 0).astype(int)
    else:
        y = (np.sin(2.5 * x[:, 0]) * np.sin(2.5 * x[:, 1]) > 0).astype(int)
    colour = rng.choice(["red", "green", "blue"], size=n)
    cols = [x[:, j].tolist() for j in range(4)]
    cells = cols + [
        list(colour),
        [f"id{i}" for i in range(n)],
        ["same"] * n,
        ["yes" if v else "no" for v in y],
    ]
    return Table(
        source="t.csv",
        columns=["a", "b", "c", "d", "colour", "id", "k", "y"],
        cells=cells,
        rows_read=n,
    )


def test_prepare_encodes_categoricals_and_reports_it():
    ds = prepare(_table(), "y")
    rep = ds.report
    assert ds.task == "classification" and rep.classes == ["no", "yes"]
    assert [e.column for e in rep.encoded] == ["colour"]
    assert {"colour=red", "colour=green", "colour=blue"} <= set(ds.feature_names)
    assert {c.column for c in rep.dropped} == {"id", "k"}
    assert ds.x.shape == (120, 7)


def test_linear_data_gives_higher_surrogate_fidelity_than_non_linear():
    settings = ProbeSettings(
        repeats=2,
        points=30,
        perturbations=150,
        bootstrap=200,
        black_box_iterations=30,
        eval_rows=50,
    )
    lin = run_probe(prepare(_table(300, target="linear"), "y"), settings)
    non = run_probe(prepare(_table(300, target="checker"), "y"), settings)
    assert lin.surrogate.agreement.value > non.surrogate.agreement.value
    # deterministic: the same data and settings give the same file
    again = run_probe(prepare(_table(300, target="linear"), "y"), settings)
    assert again.to_json() == lin.to_json()


# ---------------------------------------------------------------------------------- CLI


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


def _good_rows(n: int = 80) -> list[list[object]]:
    rng = np.random.default_rng(0)
    return [
        [round(float(a), 3), round(float(b), 3), "yes" if a + b > 0 else "no"]
        for a, b in rng.normal(size=(n, 2))
    ]


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing_target", "column 'outcome': not found"),
        ("regression_text", "column 'y': --task regression needs a numeric target"),
        ("few_rows", "49 data rows; the probe needs at least 50"),
        ("constant", "column 'y': the target is constant"),
        ("nan", "column 'a': 1 missing or non-finite values (first at data row 3)"),
        ("ragged", "not a consistent table: data row 2 has 2 field(s), the header has 3"),
        ("binary", "not a tabular text file"),
        ("parquet", "reading Parquet needs pyarrow"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case, expect):
    rows = _good_rows()
    header = ["a", "b", "y"]
    f = tmp_path / "d.csv"
    target, extra = "y", []
    if case == "missing_target":
        target = "outcome"
    elif case == "regression_text":
        extra = ["--task", "regression"]
    elif case == "few_rows":
        rows = rows[:49]
    elif case == "constant":
        rows = [[a, b, "no"] for a, b, _ in rows]
    elif case == "nan":
        rows[2][0] = "NA"
    elif case == "ragged":
        rows[1] = rows[1][:2]
    if case == "binary":
        f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    elif case == "parquet":
        if importlib.util.find_spec("pyarrow") is not None:
            pytest.skip("pyarrow is installed: Parquet is read")
        f = tmp_path / "d.parquet"
        f.write_bytes(b"PAR1")
    else:
        _csv(f, header, rows)
    code, err = _run(
        ["probe", str(f), "--target", target, "-o", str(tmp_path / "p.json"), *extra, *FAST], capsys
    )
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {f}: "), err
    assert expect in lines[0]
    assert not (tmp_path / "p.json").exists()


def test_probe_on_a_user_csv_one_hot_encodes(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(120):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "blue"])
        rows.append([f"{a:.3f}", f"{b:.3f}", colour, f"{2 * a - b + (colour == 'red'):.3f}"])
    f = tmp_path / "data.csv"
    f.write_text("a;b;colour;price\n" + "\n".join(";".join(r) for r in rows) + "\n")
    out = tmp_path / "probe.json"
    res = CliRunner().invoke(cli, ["probe", str(f), "--target", "price", "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    assert "one-hot encoded: colour" in res.output
    probe = ProbeResult.model_validate_json(out.read_text())
    assert probe.data.task == "regression" and probe.black_box.metric == "r2"
    assert probe.interpretable.test.value > 0.9  # a linear target: ridge fits it


# ---------------------------------------------------------------------------------- demo, --probe


@pytest.fixture(scope="module")
def demo_probe(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("probe") / "probe.json"
    res = CliRunner().invoke(cli, ["probe", "--demo", "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    return out


def test_demo_works(demo_probe):
    probe = ProbeResult.model_validate_json(demo_probe.read_text())
    assert probe.data.rows_used == 569 and len(probe.data.features) == 30
    assert probe.black_box.test.value > 0.9 and probe.interpretable.test.value > 0.9
    assert 0.0 <= probe.surrogate.agreement.low <= probe.surrogate.agreement.high <= 1.0
    assert -1.0 <= probe.stability.rank_correlation.value <= 1.0


def _recommend(args: list[str]) -> dict:
    res = CliRunner().invoke(cli, ["recommend", *args, "--format", "json", "--no-explain"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # warnings go to stderr


def test_probe_replaces_the_prior_and_shifts_the_data_dimension(demo_probe):
    example = str(ROOT / "examples" / "credit-scoring.yaml")
    before = _recommend([example])
    after = _recommend([example, "--probe", str(demo_probe)])
    probe = ProbeResult.model_validate_json(demo_probe.read_text())
    e2e = after["explainability"]["end_to_end"]
    assert e2e["measured"] and not e2e["estimated"]
    assert e2e["estimate"] == pytest.approx(probe.surrogate.agreement.value, abs=1e-4)
    assert e2e["prior"]["estimate"] == before["explainability"]["end_to_end"]["estimate"]
    assert after["explainability"]["hybrid"]["measured"]
    assert not after["explainability"]["modular"]["measured"]
    assert after["probe"]["sha256"] == probe.sha256()
    data_before = next(d for d in before["dimensions"] if d["name"] == "data")
    data_after = next(d for d in after["dimensions"] if d["name"] == "data")
    assert data_after["thresholds"]["probe_shift"] == after["probe"]["data_shift"]
    assert data_after["utility"] != data_before["utility"]
    assert after["rulepack"] == before["rulepack"]  # the pack's identity, not the derived one
    assert before["probe"] is None
    again = CliRunner().invoke(
        cli, ["recommend", example, "--probe", str(demo_probe), "--format", "json", "--no-explain"]
    )
    assert json.loads(again.stdout) == after
    for opt in ("end_to_end", "modular", "hybrid"):
        assert "meets_requirement" in after["explainability"][opt]


def test_api_recommend_takes_the_probe_as_the_cli_does(demo_probe):
    from advisor import load_requirements, recommend

    example = ROOT / "examples" / "credit-scoring.yaml"
    probe = ProbeResult.model_validate_json(demo_probe.read_text())
    via_api = recommend(load_requirements(example), explain=False, probe=probe)
    via_cli = _recommend([str(example), "--probe", str(demo_probe)])
    assert via_api.probe is not None and via_api.probe.sha256 == probe.sha256()
    got = json.loads(via_api.to_json())
    # The echo of the input differs in form only (a model's numbers are floats; the file's 800).
    assert {k: v for k, v in got.items() if k != "input"} == {
        k: v for k, v in via_cli.items() if k != "input"
    }
    assert recommend(load_requirements(example), explain=False).probe is None


def test_probe_report_shows_measured_against_prior(demo_probe):
    example = str(ROOT / "examples" / "card-fraud.yaml")
    res = CliRunner().invoke(
        cli, ["recommend", example, "--probe", str(demo_probe), "--format", "md", "--no-explain"]
    )
    assert res.exit_code == 0, res.output
    section = res.stdout.split("## Explainability per option", 1)[1].split("\n## ", 1)[0]
    assert "| Prior |" in section and "(measured)" in section
    assert "Measured by `advisor probe`" in section


def test_html_report_shows_basis_intervals_and_prior(demo_probe):
    from bs4 import BeautifulSoup

    example = str(ROOT / "examples" / "credit-scoring.yaml")
    res = CliRunner().invoke(
        cli, ["recommend", example, "--probe", str(demo_probe), "--format", "html", "--no-explain"]
    )
    assert res.exit_code == 0, res.output
    section = BeautifulSoup(res.stdout, "html5lib").find(id="explainability")
    table = next(t for t in section.find_all("table") if t.find("th", string="Prior (interval)"))
    rows = {tr.th.get_text(strip=True): tr for tr in table.tbody.find_all("tr")}
    assert set(rows) == {"end-to-end", "modular", "hybrid"}
    e2e = rows["end-to-end"].get_text(" ", strip=True)
    assert "measured" in e2e and "Measured by advisor probe" in e2e and "–" in e2e
    assert "Traditional models" in rows["modular"].get_text(" ", strip=True)


def test_bad_probe_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text('{"kind": "advisor-probe", "schema_version": 1}')
    code, err = _run(
        [
            "recommend",
            str(ROOT / "examples" / "credit-scoring.yaml"),
            "--probe",
            str(bad),
            "--no-explain",
        ],
        capsys,
    )
    assert code == 2 and f"error: {bad}: " in err


# ---------------------------------------------------------------------------------- estimates


def test_explanation_method_adjusts_end_to_end_and_hybrid(pack):
    from advisor import recommend

    def est(method: str | None) -> dict:
        reg = {"criticality": "regulated"}
        if method:
            reg["explanation_method"] = method
        a = recommend(
            profile(task={"modality": "tabular"}, regulation=reg), rulepack=pack, explain=False
        )
        return {k: v.estimate for k, v in a.explainability.items()}

    base, shap_, none = est(None), est("shap"), est("none")
    assert base == est("lime")
    assert shap_["end_to_end"] == pytest.approx(base["end_to_end"] + 0.05)
    assert none["end_to_end"] == pytest.approx(base["end_to_end"] - 0.15)
    assert shap_["modular"] == base["modular"] == none["modular"]
    assert none["hybrid"] < base["hybrid"] < shap_["hybrid"]


def test_estimates_carry_intervals_basis_and_traceability(pack):
    from advisor import recommend

    a = recommend(
        profile(regulation={"criticality": "regulated", "explainability": "high"}),
        rulepack=pack,
        explain=False,
    )
    for opt, e in a.explainability.items():
        assert e.low <= e.estimate <= e.high and e.basis and e.traceability_basis
        assert e.evidence, opt
    assert a.explainability["end_to_end"].meets_requirement is False
    assert not a.explainability["end_to_end"].traceable


def test_stricter_explainability_never_raises_end_to_end_with_a_probe(pack, demo_probe):
    from advisor._engine import assess
    from advisor._fields import OPTIONS
    from advisor._requirements import Requirements

    probe = ProbeResult.model_validate_json(demo_probe.read_text())
    margins = []
    for level in ("none", "low", "medium", "high"):
        req = Requirements.model_validate(
            profile(regulation={"explainability": level, "explanation_method": "shap"})
        )
        a = assess(req, pack, explain=False, probe=probe)
        s = a.scores
        margins.append(
            s["end_to_end"] - s["modular"]
            if not any(v.option == "end_to_end" for v in a.vetoes)
            else -9.0
        )
        assert set(a.scores) == set(OPTIONS)
    assert all(b <= a + 1e-12 for a, b in zip(margins, margins[1:], strict=False))


def test_probe_bad_rule_pack_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "probe.json"
    code, err = _run(["probe", "--demo", "-o", str(out), "--rules", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert "rule pack folder not found" in err
    assert not out.exists()
