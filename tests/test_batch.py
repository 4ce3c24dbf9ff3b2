"""Portfolio batches (issue 7): inputs, one line per row, errors that name the row and the field,
agreement with single assessments, determinism, the vectorised engine, the portfolio overview."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, ROOT
from conftest import run_cli as run

from advisor import load_requirements, recommend

HEADER = [
    "id",
    "name",
    "task.modality",
    "data.paired_examples",
    "latency.budget_ms",
    "regulation.criticality",
    "regulation.regimes",
    "data.paired_examples.low",
    "data.paired_examples.high",
]


def write_csv(path: Path, rows, header=HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def lines_of(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


MIXED = [
    ["v1", "Voice", "speech", "2M", "300 ms", "business_critical", "gdpr_art22;ecoa", "", ""],
    ["b1", "Bad number", "text", "lots", "300", "", "", "", ""],
    ["b2", "Negative budget", "text", "1000", "-5", "", "", "", ""],
    ["r1", "Range", "vision", "", "1-2 s", "regulated", "", "10k", "50k"],
    ["b3", "Bad enum", "sound", "1000", "300", "", "", "", ""],
    ["b4", "short row"],
    ["t1", "Tabular", "tabular", "1e6", "80", "non_critical", "", "", ""],
]


def test_csv_rows_give_one_line_each_and_errors_name_row_and_field(tmp_path):
    src = write_csv(tmp_path / "portfolio.csv", MIXED)
    with src.open("a", encoding="utf-8") as fh:
        fh.write("\n")  # a blank record at the end is not a row
    out = tmp_path / "results.jsonl"
    r = run(["batch", str(src), "-o", str(out)])
    assert r.exit_code == 2, r.output  # some rows were invalid: outputs written, exit 2
    recs = lines_of(out)
    assert len(recs) == len(MIXED)
    ok = [x for x in recs if x["status"] == "ok"]
    bad = [x for x in recs if x["status"] == "error"]
    assert len(ok) + len(bad) == len(MIXED)
    assert [x["row"] for x in recs] == list(range(1, len(MIXED) + 1))
    assert {x["id"] for x in ok} == {"v1", "r1", "t1"}
    by_id = {x.get("id"): x for x in recs}
    assert by_id["b1"]["errors"][0]["field"] == "data.paired_examples"
    assert "not a number" in by_id["b1"]["errors"][0]["message"]
    assert by_id["b2"]["errors"] == [
        {"field": "latency.budget_ms", "message": "must be greater than 0 (got -5)"}
    ]
    assert by_id["b3"]["errors"][0]["field"] == "task.modality"
    assert by_id["b2"]["source"] == f"{src}:4"  # file and line
    short = next(x for x in bad if x["row"] == 6)
    assert short["errors"][0]["field"] == "(row)" and "cells" in short["errors"][0]["message"]
    # The summary: counts per recommendation and errors, and the first errors by row and field.
    assert "7 rows" in r.stderr and "4 errors" in r.stderr
    assert "row 2 (" in r.stderr and "data.paired_examples" in r.stderr
    assert "4 of 7 rows failed validation" in r.stderr
    # Quiet when piped: no progress bar in the captured stderr.
    assert "\r" not in r.stderr and "assessing" not in r.stderr
    voice = by_id["v1"]
    assert voice["recommendation"] in ("end_to_end", "modular", "hybrid")
    assert set(voice["probabilities"]) == {"end_to_end", "modular", "hybrid"}
    assert voice["rules_fired"] == ["human-oversight", "fairness-testing"]


def test_ok_plus_error_lines_equal_input_rows_on_a_noisy_portfolio(tmp_path):
    rnd = random.Random(3)
    rows = []
    for i in range(400):
        row = [
            f"p{i}",
            f"Project {i}",
            rnd.choice(["text", "speech", "vision", "tabular"]),
            str(rnd.randint(0, 10**8)),
            str(rnd.randint(1, 60000)),
            rnd.choice(["non_critical", "regulated", ""]),
            rnd.choice(["", "ecoa", "gdpr_art22;hipaa", "made_up"]),
            "",
            "",
        ]
        damage = rnd.random()
        if damage < 0.05:
            row[3] = "-1"
        elif damage < 0.10:
            row[4] = "fast"
        elif damage < 0.13:
            row = row[:3]
        elif damage < 0.15:
            row[1] = ""  # name is required
        rows.append(row)
    src = write_csv(tmp_path / "noisy.csv", rows)
    out = tmp_path / "out.jsonl"
    r = run(["batch", str(src), "-o", str(out)])
    recs = lines_of(out)
    ok = sum(1 for x in recs if x["status"] == "ok")
    err = sum(1 for x in recs if x["status"] == "error")
    assert ok + err == len(rows) == 400
    assert err > 20 and r.exit_code == 2
    assert sorted(x["row"] for x in recs) == list(range(1, 401))
    for x in recs:
        if x["status"] == "error":
            assert x["errors"] and all(e["field"] and e["message"] for e in x["errors"])


def test_folder_and_jsonl_agree_with_single_assessments(tmp_path):
    out = tmp_path / "folder.jsonl"
    r = run(["batch", str(ROOT / "examples"), "-o", str(out), "--samples", "2000"])
    assert r.exit_code == 0, r.output
    recs = lines_of(out)
    files = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".yaml", ".yml"))
    assert len(recs) == len(files) == len(EXAMPLES)
    jsonl = tmp_path / "examples.jsonl"
    import yaml

    jsonl.write_text("".join(json.dumps(yaml.safe_load(p.read_text())) + "\n" for p in files))
    out2 = tmp_path / "jsonl.jsonl"
    r = run(["batch", str(jsonl), "-o", str(out2), "--samples", "2000"])
    assert r.exit_code == 0, r.output
    recs2 = lines_of(out2)
    for path, a_line, b_line in zip(files, recs, recs2, strict=True):
        a = recommend(load_requirements(path), explain=False)
        for line in (a_line, b_line):
            assert line["recommendation"] == a.recommendation, path
            assert line["confidence"] == a.confidence, path  # same 2,000 samples, same answer
            assert line["probabilities"] == a.probabilities, path
            assert line["scores"] == a.scores, path
            assert line["rules_fired"] == [
                x.id for x in a.rules_fired if not x.id.startswith("explainability-requirement")
            ]
            assert set(line["vetoed"]) == {v.option for v in a.vetoes}, path
            assert line["runner_up"] == a.runner_up, path


def test_rows_with_an_explanation_method_use_the_pack_as_it_applies(tmp_path):
    from advisor._requirements import EXPLANATION_METHODS

    rnd = random.Random(21)
    docs = []
    for i in range(24):
        d = random_profile(rnd, i)
        d["regulation"]["explanation_method"] = EXPLANATION_METHODS[i % len(EXPLANATION_METHODS)]
        docs.append(d)
    src = tmp_path / "methods.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out.jsonl"
    r = run(["batch", str(src), "-o", str(out), "--samples", "2000", "--explain"])
    assert r.exit_code == 0, r.output
    for d, line in zip(docs, lines_of(out), strict=True):
        a = recommend(d, explain=True)
        assert line["recommendation"] == a.recommendation, d
        assert line["confidence"] == a.confidence, d
        assert line["scores"] == a.scores, d
        assert line["attribution_base"] == pytest.approx(a.attribution_base, abs=1e-9)


def test_explain_gives_the_same_attributions_as_a_single_assessment(tmp_path):
    out = tmp_path / "explained.jsonl"
    r = run(["batch", str(ROOT / "examples"), "-o", str(out), "--explain"])
    assert r.exit_code == 0, r.output
    for path, line in zip(sorted((ROOT / "examples").glob("*.yaml")), lines_of(out), strict=True):
        a = recommend(load_requirements(path), explain=True)
        assert line["attribution_base"] == pytest.approx(a.attribution_base, abs=1e-9)
        single = {x.feature: x.contribution for x in a.attributions}
        assert set(line["attributions"]) == set(single)
        for k, v in single.items():
            assert line["attributions"][k] == pytest.approx(v, abs=1e-9), (path, k)
        margin = a.scores[a.recommendation] - a.scores[a.runner_up]
        total = line["attribution_base"] + sum(line["attributions"].values())
        if not a.vetoes:
            assert total == pytest.approx(margin, abs=1e-5)


def test_many_profiles_at_once_equal_one_at_a_time(pack):
    # The batch explains a chunk of profiles in one game; each equals its one-profile game
    # (itself pinned to shap's Exact explainer in test_attributions).
    from advisor._attributions import coalition_tables, explain_rows, shapley
    from advisor._decide import prepare
    from advisor._requirements import Requirements
    from advisor._scoring import evaluate, runner_up

    prep = prepare(pack)
    cp = prep.compiled
    rnd = random.Random(5)
    reqs = [Requirements.model_validate(random_profile(rnd, i)) for i in range(6)]
    x = cp.space.matrix(reqs)
    ev = evaluate(x, cp)
    runner = runner_up(ev, cp)
    sv_all = explain_rows(coalition_tables(x, prep.background, cp), ev.choice, runner)
    for j in range(len(reqs)):
        sv = shapley(x[j], prep.background, cp, int(ev.choice[j]), int(runner[j]))
        assert abs(sv.base - sv_all.base[j]) < 1e-12
        assert np.abs(sv.values - sv_all.values[j]).max() < 1e-12
        assert abs(sv_all.base[j] + sv_all.values[j].sum() - sv_all.explained[j]) < 1e-9


def random_profile(rnd: random.Random, i: int) -> dict:
    """A valid requirements mapping spread over the input space."""
    doc = {
        "name": f"p{i}",
        "task": {
            "modality": rnd.choice(
                ["text", "speech", "vision", "tabular", "multimodal", "control", "other"]
            ),
            "pretrained_available": rnd.random() < 0.4,
        },
        "data": {
            "paired_examples": rnd.choice([0, round(10 ** rnd.uniform(1, 9))]),
            "stage_labels": rnd.choice(["none", "partial", "full"]),
            "labeling_cost": rnd.choice(["low", "medium", "high"]),
        },
        "latency": {"budget_ms": round(10 ** rnd.uniform(0, 4.7), 2)},
        "regulation": {
            "criticality": rnd.choice(
                ["non_critical", "business_critical", "regulated", "safety_critical"]
            ),
            "regimes": rnd.sample(
                ["ecoa", "gdpr_art22", "hipaa", "iso_26262", "sec_15c3_5", "unknown_regime"],
                rnd.randint(0, 2),
            ),
        },
        "team": {"ml_maturity": rnd.choice(["low", "medium", "high"])},
        "deployment": {
            "target": rnd.choice(["cloud", "on_premises", "edge", "on_device"]),
            "independent_updates": rnd.random() < 0.3,
        },
    }
    if rnd.random() < 0.5:
        doc["regulation"]["explainability"] = rnd.choice(["none", "low", "medium", "high"])
    if rnd.random() < 0.2:
        doc["data"]["paired_examples"] = {"low": 1000, "high": 10**6}
    if rnd.random() < 0.2:
        doc["latency"]["budget_ms"] = {"low": 20, "high": 900}
    return doc


def test_monte_carlo_is_the_single_assessments_stream(pack):
    from advisor._decide import prepare
    from advisor._requirements import Requirements
    from advisor._uncertainty import probabilities as single
    from advisor._uncertainty import probabilities_many

    cp = prepare(pack).compiled
    rnd = random.Random(12)
    reqs = [Requirements.model_validate(random_profile(rnd, i)) for i in range(40)]
    x = cp.space.matrix(reqs)
    full = probabilities_many(reqs, x, cp, pack.uncertainty.samples)
    for j, r in enumerate(reqs):
        assert tuple(single(r, x[j], cp).values()) == tuple(full[j])
    few = probabilities_many(reqs, x, cp, 32)
    assert np.allclose(few.sum(axis=1), 1.0, atol=1e-3)
    assert np.allclose(few * 32, np.round(few * 32), atol=0.01)  # counts out of 32 samples


def test_engine_runs_over_all_rows_at_once(monkeypatch, pack):
    # A chunk of 600 rows takes a handful of engine calls, not one (or more) per row.
    import advisor._scoring as scoring
    from advisor._batch import assess_chunk
    from advisor._batch_read import Item
    from advisor._engine import prepare

    prep = prepare(pack)
    calls = []
    real = scoring._evaluate  # behind `evaluate` and `score` both

    def counting(x, cp, *rest, **options):
        calls.append(len(x))
        return real(x, cp, *rest, **options)

    import advisor._uncertainty as uncertainty

    monkeypatch.setattr(scoring, "_evaluate", counting)
    rnd = random.Random(1)
    docs = [random_profile(rnd, i) for i in range(600)]
    # Blocks of the Monte Carlo rows per call (bounded memory): one call for the point values
    # plus ceil(600 / rows per block) for the samples, through either way in.
    per_block = uncertainty._BLOCK_ROWS // 32
    most = 1 + -(-600 // per_block)
    items = [Item(i + 1, f"t:{i}", d) for i, d in enumerate(docs)]
    res = assess_chunk(items, prep, samples=32)
    assert len(res.lines) == 600
    assert len(calls) <= most, calls
    assert calls[0] == 600 and sum(calls) == 600 + 600 * 32
    calls.clear()
    raws = [(i + 1, f"t:{i}", "json", json.dumps(d)) for i, d in enumerate(docs)]
    assert assess_chunk(raws, prep, samples=32).lines == res.lines  # column-wise: the same
    assert len(calls) <= most, calls
    assert calls[0] == 600 and sum(calls) == 600 + 600 * 32


def test_deterministic_and_independent_of_jobs(tmp_path):
    rnd = random.Random(9)
    rows = [
        [
            f"p{i}",
            f"P {i}",
            rnd.choice(["text", "vision"]),
            str(rnd.randint(10, 10**7)),
            str(rnd.randint(5, 9000)),
            "",
            rnd.choice(["", "ecoa"]),
            "",
            "",
        ]
        for i in range(150)
    ]
    src = write_csv(tmp_path / "p.csv", rows)
    outs = []
    for n, extra in enumerate((["--jobs", "1"], ["--jobs", "1"], ["--jobs", "2"])):
        out = tmp_path / f"o{n}.jsonl"
        r = run(["batch", str(src), "-o", str(out), "--explain", *extra])
        assert r.exit_code == 0, r.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_csv_output_neutralises_formulas(tmp_path):
    evil = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(1)"]
    rows = [[f"=id{i}", name, "text", "1000", "300", "", "", "", ""] for i, name in enumerate(evil)]
    src = write_csv(tmp_path / "evil.csv", rows)
    out = tmp_path / "out.csv"
    r = run(["batch", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with out.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(evil)
    for row, name in zip(table, evil, strict=True):
        assert row["name"] == "'" + name
        assert row["id"].startswith("'=")
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@")), cell
    # JSON lines carry the data exactly (JSON is not evaluated by spreadsheets).
    out2 = tmp_path / "out.jsonl"
    run(["batch", str(src), "-o", str(out2)])
    assert [x["name"] for x in lines_of(out2)] == evil


def test_portfolio_overview(tmp_path):
    from bs4 import BeautifulSoup

    rows = [list(r) for r in MIXED] + [
        ["x1", "<script>alert(1)</script> & co", "text", "5000", "40", "", "", "", ""],
    ]
    src = write_csv(tmp_path / "portfolio.csv", rows)
    out, html_path = tmp_path / "r.jsonl", tmp_path / "portfolio.html"
    r = run(["batch", str(src), "-o", str(out), "--report", str(html_path)])
    assert r.exit_code == 2, r.output
    html = html_path.read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html5lib")
    assert soup.find("script") is None  # user text is escaped, and the page has no scripts
    assert "<script>alert(1)</script> &amp; co" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    for tag in soup.find_all(src=True) + soup.find_all("link"):
        pytest.fail(f"external resource: {tag}")
    recs = lines_of(out)
    ok = [x for x in recs if x["status"] == "ok"]
    # The table: one row per input row, with recommendation and confidence.
    body = soup.find("section", attrs={"aria-labelledby": "h-table"}).find("tbody")
    assert len(body.find_all("tr")) == len(rows)
    first = body.find_all("tr")[0].find_all("td")
    assert first[1].get_text(strip=True) == "v1"  # the id column (the input has one)
    assert first[3].get_text(strip=True) in ("end-to-end", "modular", "hybrid")
    assert first[4].get_text(strip=True).endswith("%")
    # Counts per recommendation and errors.
    counts = soup.find("ul", class_="counts")
    assert counts.find("li", class_="error").find(class_="n").get_text() == str(len(recs) - len(ok))
    # The scatter: one mark per assessed project, coloured (class) and shaped by recommendation,
    # each with a text label.
    svg = soup.find("section", attrs={"aria-labelledby": "h-plane"}).find("svg")
    marks = svg.find_all("path", class_="mark")
    assert len(marks) == len(ok)
    for m, rec in zip(marks, ok, strict=True):
        assert rec["recommendation"] in m["class"]
        assert m.find("title").get_text().startswith(rec["name"])
    shapes = {m["class"][1]: re.sub(r"[^a-zA-Z]", "", m["d"]) for m in marks}
    assert len(set(shapes.values())) == len(shapes)  # one shape per recommendation
    assert "paired examples" in svg.get_text() and "latency budget" in svg.get_text()


def test_portfolio_overview_memory_is_flat_with_the_rows():
    # --report keeps an Overview, not every row: its lists stop at the page's limits however
    # many rows arrive; the scatter is a uniform sample of every assessed row, in input order.
    from advisor._batch import Point
    from advisor._portfolio import (
        ERROR_LIMIT,
        SCATTER_LIMIT,
        TABLE_LIMIT,
        Overview,
        portfolio_html,
    )

    def points(n):
        for i in range(n):
            if i % 10 == 9:
                yield Point(i, f"p.csv:{i}", f"P{i}", None, None, None, None, "name: bad")
            else:
                yield Point(
                    i,
                    f"p.csv:{i}",
                    f"P{i}",
                    ("end_to_end", "modular", "hybrid")[i % 3],
                    0.5,
                    10.0 ** (1 + i % 8),
                    10.0 ** (i % 4),
                )

    n = 60_000
    ov = Overview()
    ov.extend(points(n))
    assert (ov.total, ov.errors, ov.ok) == (n, n // 10, n - n // 10)
    assert sum(ov.counts.values()) == ov.ok
    assert [p.row for p in ov.table] == list(range(TABLE_LIMIT))
    assert len(ov.error_rows) == ERROR_LIMIT and ov.error_rows[0].row == 9
    shown = ov.scatter
    rows = [p.row for p in shown]
    assert len(shown) == SCATTER_LIMIT and rows == sorted(rows) and len(set(rows)) == len(rows)
    assert all(p.recommendation is not None for p in shown)
    # A sample of the whole input, not its first rows: every sixth of the input is represented.
    sixths = {r * 6 // n for r in rows}
    assert sixths == set(range(6))
    again = Overview()
    again.extend(points(n))
    assert [p.row for p in again.scatter] == rows  # the same input, the same page
    html = portfolio_html(ov, title="t", source="p.csv", rulepack="default 1", samples=32)
    assert f"Showing {SCATTER_LIMIT} of {ov.ok} projects" in html
    assert f"Showing the first {TABLE_LIMIT} of {n} rows" in html
    # Few rows: every assessed row is plotted, no sampling note.
    small = Overview()
    small.extend(points(30))
    assert [p.row for p in small.scatter] == [i for i in range(30) if i % 10 != 9]
    assert "uniform random sample" not in portfolio_html(
        small, title="t", source="p.csv", rulepack="default 1", samples=32
    )


def test_bad_header_writes_nothing_and_keeps_previous_output(tmp_path):
    src = write_csv(
        tmp_path / "p.csv",
        [["a", "1000", "300"]],
        header=["name", "data.paired_examples", "latency.budget"],
    )
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    r = run(["batch", str(src), "-o", str(out)])
    assert r.exit_code == 2
    assert "header column 3: unknown field 'latency.budget'" in r.stderr
    assert "did you mean 'latency.budget_ms'?" in r.stderr
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_stdout_and_refusals(tmp_path):
    src = write_csv(tmp_path / "p.csv", [MIXED[0]])
    r = run(["batch", str(src), "-o", "-"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["id"] == "v1"
    r = run(["batch", str(src), "-o", str(src)])
    assert r.exit_code == 2 and "refusing to overwrite the input" in r.stderr
    r = run(["batch", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "missing.csv" in r.stderr
    r = run(
        ["batch", "-", "-o", "-"],
        input='{"name": "x", "data": {"paired_examples": 5},'
        ' "latency": {"budget_ms": 9}}\nnot json\n',
    )
    assert r.exit_code == 2
    first, second = (json.loads(x) for x in r.stdout.splitlines())
    assert first["status"] == "ok" and second["status"] == "error"
    assert second["source"] == "<stdin>:2" and "not valid JSON" in second["errors"][0]["message"]


# ---------------------------------------------------------------------------------------------
# Column-wise reading and checks (issue 14): the same lines as the model row by row.

#: Cell texts per column, valid and not: choices, unsure answers, booleans pydantic reads,
#: numbers at and past each bound, units, ranges, regimes to normalise, texts at their limits.
HOSTILE_CELLS = {
    "id": ["a1", "=x", "", " 7 ", "é"],
    "name": ["Project", "", "x" * 200, "x" * 201, " spaced ", "<b>&</b>", "a|b"],
    "description": ["", "text", "d" * 5000, "d" * 5001],
    "task.modality": ["text", "speech", "sound", "text|vision", "text=0.7|vision=0.3", "TEXT"],
    "task.pretrained_available": ["true", "false", "yes", "No", "1", "0", "on", "maybe", "t"],
    "task.foundation_model": ["true", "false", "x", "true=0.2|false=0.8"],
    "data.paired_examples": [
        "1000",
        "2M",
        "10k-50k",
        "-1",
        "-0",
        "0",
        "lots",
        "nan",
        "inf",
        "1e12",
        "1000000000001",
        "1e400",
        "1e-320",
        "0x10",
        "1_000",
        "+5",
        "\uff15",
        "1,000",
        "50k-10k",
        "3 pairs",
    ],
    "data.paired_examples.low": ["10", "10k", "-3", "x", "2e12"],
    "data.stage_labels": ["none", "partial", "full", "bad", "none|full"],
    "data.labeling_cost": ["low", "medium", "high", "cheap"],
    "latency.budget_ms": [
        "300",
        "300 ms",
        "2 s",
        "1-2 s",
        "0",
        "-5",
        "1e-6",
        "9.9e-7",
        "86400000",
        "86400000.5",
        "fast",
        "400-100",
        "1e308 h",
        "7|8",
    ],
    "regulation.criticality": ["non_critical", "regulated", "critical", "regulated|non_critical"],
    "regulation.explainability": ["none", "low", "high", "max", "high|low"],
    "regulation.explanation_method": ["lime", "shap", "saliency", "magic"],
    "regulation.regimes": ["ecoa", "gdpr_art22;ecoa", "made_up", "a" * 65, "ECOA", "Sr 11-7", ";;"],
    "team.ml_maturity": ["low", "high", "expert"],
    "deployment.target": ["cloud", "edge", "mars"],
    "deployment.independent_updates": ["true", "false", "perhaps"],
    "schema_version": ["1", "2", "01", "1.0", "\u00b2", "true"],
}


def _hostile_rows(rnd: random.Random, columns: list[str], n: int, bad: float) -> list[list[str]]:
    rows = []
    for _ in range(n):
        row = []
        for c in columns:
            values = HOSTILE_CELLS.get(c) or HOSTILE_CELLS[c.rsplit(".", 1)[0]]
            if rnd.random() < 0.3 and c != "name":
                row.append("")
            elif rnd.random() > bad:
                row.append(values[0])
            else:
                row.append(rnd.choice(values))
        if rnd.random() < 0.03:
            row = row[:-1]
        rows.append(row)
    return rows


def _both_ways(pack, raws, header=()):
    # The chunk read column-wise (raw rows) and through the model row by row (parsed items).
    from advisor._batch import assess_chunk
    from advisor._batch_read import to_item
    from advisor._decide import prepare

    prep = prepare(pack)
    fast = assess_chunk(raws, prep, header=header, points=True)
    slow = assess_chunk([to_item(r, header) for r in raws], prep, header=header, points=True)
    return fast, slow


@pytest.mark.parametrize("explain", [False, True])
def test_column_checks_give_the_models_lines_on_hostile_csv(pack, explain):
    from advisor._batch import assess_chunk
    from advisor._batch_read import to_item
    from advisor._decide import prepare

    columns = [c for c in HOSTILE_CELLS if not c.endswith((".low", ".high"))]
    columns += [
        "data.paired_examples.low",
        "data.paired_examples.high",
        "latency.budget_ms.low",
        "latency.budget_ms.high",
    ]
    rnd = random.Random(14)
    header = columns
    rows = _hostile_rows(rnd, columns, 300, 0.2) if not explain else []
    rows += _hostile_rows(rnd, columns, 60, 0.03)
    rows += [["P", "", "text", *[""] * (len(columns) - 3)]]  # a row missing required fields
    raws = [(i + 1, f"h.csv:{i + 2}", "csv", r) for i, r in enumerate(rows)]
    prep = prepare(pack)
    fast = assess_chunk(raws, prep, header=header, explain=explain, points=True)
    slow = assess_chunk(
        [to_item(r, header) for r in raws], prep, header=header, explain=explain, points=True
    )
    assert fast.lines == slow.lines
    assert fast.points == slow.points
    assert (fast.counts, fast.errors) == (slow.counts, slow.errors)
    oks = sum(1 for line in fast.lines if '"status":"ok"' in line)
    assert 0 < oks < len(rows) and fast.errors == len(rows) - oks  # both kinds were exercised


def test_column_checks_give_the_models_lines_on_hostile_json_lines(pack):
    rnd = random.Random(15)
    values = {
        "name": ["P", "", 5, None, "x" * 201],
        "id": ["a", 5, None, 1.5, ["x"], True],
        "schema_version": [1, 2, "1", True, 1.0],
        ("task", "modality"): ["text", "sound", 3, None, {"one_of": ["text", "vision"]}],
        ("task", "pretrained_available"): [True, False, "yes", 1, None],
        ("data", "paired_examples"): [
            1000,
            "2M",
            "10k-50k",
            -1,
            1e13,
            0,
            True,
            None,
            {"low": 10, "high": 100},
            {"low": 100, "high": 10},
            {"low": "10k", "high": "1M"},
            {"low": 1},
            [1, 2],
            "1e400",
        ],
        ("latency", "budget_ms"): [300, "2 s", 0, 1e-7, {"low": 10, "high": 20}, False],
        ("regulation", "explainability"): ["high", None, "x", {"one_of": {"high": 1, "low": 1}}],
        ("regulation", "explanation_method"): ["shap", None, "x"],
        ("regulation", "regimes"): [
            ["ecoa"],
            ["ECOA", "gdpr-art22"],
            "ecoa",
            [""],
            [1],
            None,
            [["x"]],
            [{"a": 1}],
        ],
        ("deployment", "target"): ["edge", "mars"],
        ("team", "bogus"): [1],
    }
    lines = []
    for _ in range(300):
        doc: dict = {}
        for key, options in values.items():
            if rnd.random() < 0.4 and key not in ("name", ("data", "paired_examples")):
                continue
            v = options[0] if rnd.random() < 0.75 else rnd.choice(options)
            if key == ("team", "bogus") and rnd.random() < 0.9:
                continue
            if isinstance(key, tuple):
                doc.setdefault(key[0], {})[key[1]] = v
            else:
                doc[key] = v
        doc.setdefault("latency", {}).setdefault("budget_ms", 100)
        lines.append(json.dumps(doc))
    lines += ["not json", "[1]", '{"name": "a", "name": "b"}', '{"name": "\\ud800"}', "{}"]
    raws = [(i + 1, f"h.jsonl:{i + 1}", "json", line) for i, line in enumerate(lines)]
    fast, slow = _both_ways(pack, raws)
    assert fast.lines == slow.lines
    assert fast.points == slow.points
    oks = sum(1 for line in fast.lines if '"status":"ok"' in line)
    assert 0 < oks < len(lines)


def test_column_checks_know_every_field():
    # A field the column checks do not know would send every row with it to the row path:
    # correct, but slow. A new field in the requirements model needs its kind here.
    from advisor._batch_read import _NUMBER_BOUNDS, _specs
    from advisor._fields import NUMERIC_FIELDS
    from advisor._requirements import field_paths

    specs = _specs()
    assert set(specs) == set(field_paths())
    assert [p for p, s in specs.items() if s.kind == "unknown"] == []
    assert set(_NUMBER_BOUNDS) == set(NUMERIC_FIELDS)


def test_column_encoding_equals_the_row_encoding(pack):
    from advisor._batch import _point_of
    from advisor._batch_read import _check_columns, _json_columns
    from advisor._decide import prepare
    from advisor._features import encode_columns
    from advisor._requirements import Requirements

    space = prepare(pack).compiled.space
    rnd = random.Random(16)
    docs = [random_profile(rnd, i) for i in range(200)]
    raw, _, slow = _json_columns([json.dumps(d) for d in docs])
    values, bad = _check_columns(raw, len(docs))
    assert not slow.any() and not bad.any()
    for path in ("data.paired_examples", "latency.budget_ms"):
        values[path] = [_point_of(v) for v in values[path]]
    x = encode_columns(space, values)
    want = space.matrix([Requirements.model_validate(d) for d in docs])
    assert np.array_equal(x, want)
    # A number out of its field's range is refused for the column, as `encode` refuses it.
    for path, value in (("data.paired_examples", -1.0), ("latency.budget_ms", 0.0)):
        broken = {**values, path: [value, *values[path][1:]]}
        with pytest.raises(ValueError, match=path):
            encode_columns(space, broken)


def test_scores_are_rounded_as_python_rounds_them():
    # The batch rounds its score and attribution columns at once; each value is exactly
    # `round(v, 9) + 0.0`, half-way points, negative zeros and large values included.
    import numpy as np

    from advisor._batch import _round9

    rng = np.random.default_rng(9)
    x = rng.uniform(-2, 2, 200_000)
    x[::3] = np.round(x[::3], 9) + 5e-10  # near a half-way point of the ninth decimal
    x[::5] = np.round(x[::5], 10)
    x[:6] = [-0.0, -1e-12, 0.0000000005, 1e7 + 0.1234567895, -3e15, 2.5e-10]
    want = [round(v, 9) + 0.0 for v in x.tolist()]
    got = _round9(x)
    assert [repr(v) for v in got] == [repr(v) for v in want]
