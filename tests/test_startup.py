"""Fast start (issue 8): `advisor --help`, `advisor schema` and the first question of `advisor ask`
import no numpy, scikit-learn, pandas or shap (nor scipy or numba). The commands that assess
(`recommend`, `batch`, `compare`, `ask`) and the service's assessments import no shap,
scikit-learn or scipy (issue 14). A fresh process runs each and reports the modules loaded at
that moment. bench/bench_start.py prints the start times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("numpy", "sklearn", "pandas", "shap", "scipy", "numba")

# Runs in the child: record the top-level packages loaded when the process ends, or when the
# first question of `advisor ask` is put (then stop there, as Ctrl-C would).
PROBE = textwrap.dedent("""
    import atexit, json, os, sys

    def record():
        with open(os.environ["ADVISOR_MODULES_OUT"], "w") as fh:
            json.dump(sorted({m.split(".")[0] for m in sys.modules}), fh)

    if sys.argv[1:2] == ["run"]:  # run the command to its end, `ask` included
        atexit.register(record)
        sys.argv[1:2] = []
    elif sys.argv[1:2] == ["ask"]:
        import advisor._cli.ask as cli_ask

        def first_question(self, prompt):
            record()
            raise KeyboardInterrupt

        cli_ask.TerminalPrompter.ask = first_question
    else:
        atexit.register(record)
    from advisor._cli.main import main
    main(sys.argv[1:])
""")


def loaded_at(
    args: list[str], tmp_path: Path, interactive: str = "1"
) -> tuple[set[str], subprocess.CompletedProcess]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "ADVISOR_MODULES_OUT": str(out), "ADVISOR_ASK_INTERACTIVE": interactive}
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.exists(), p.stderr
    return set(json.loads(out.read_text())), p


@pytest.mark.parametrize("args", [["--help"], ["schema"], ["recommend", "--help"]])
def test_help_and_schema_import_nothing_heavy(args, tmp_path):
    modules, p = loaded_at(args, tmp_path)
    assert p.returncode == 0, p.stderr
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "advisor" in modules


def test_first_question_of_ask_imports_nothing_heavy(tmp_path):
    try:
        import advisor._cli.ask  # noqa: F401
    except ImportError as e:  # pragma: no cover - the questionnaire is built in parallel
        pytest.skip(f"advisor ask is not available ({e})")
    modules, p = loaded_at(["ask"], tmp_path)
    assert p.returncode == 130, p.stdout + p.stderr  # stopped at the first question: a draft
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "advisor" in modules


def test_the_probe_sees_heavy_modules_when_they_load(tmp_path):
    # The check is live: a real assessment does load numpy.
    example = Path(__file__).resolve().parent.parent / "examples" / "realtime-voice-agent.yaml"
    modules, p = loaded_at(
        ["recommend", str(example), "--format", "json", "--no-explain"], tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert "numpy" in modules


#: What an assessment needs none of: shap and scikit-learn (and scipy, numba under them) are for
#: `advisor probe` only (and the tests' oracles).
NOT_FOR_ASSESSMENTS = ("sklearn", "shap", "scipy", "numba")
ROOT = Path(__file__).resolve().parent.parent


def _portfolio(tmp_path: Path) -> Path:
    src = tmp_path / "portfolio.csv"
    src.write_text(
        "id,name,task.modality,data.paired_examples,latency.budget_ms,"
        "regulation.criticality,regulation.regimes,regulation.explanation_method\n"
        "a,A,text,20000,300,regulated,gdpr_art22,shap\n"
        "b,B,vision,2M,20,safety_critical,iso_26262,\n"
    )
    return src


@pytest.mark.parametrize(
    "name", ["recommend-html", "recommend-scores", "batch", "batch-explain", "compare", "ask"]
)
def test_assessing_commands_import_no_shap_sklearn_or_scipy(name, tmp_path):
    card = str(ROOT / "examples" / "card-fraud.yaml")
    voice = str(ROOT / "examples" / "realtime-voice-agent.yaml")
    args = {
        "recommend-html": ["recommend", card, "-o", str(tmp_path / "r.html")],
        "recommend-scores": ["recommend", card, "--format", "json", "--explain-scores"],
        "batch": [
            "batch",
            str(_portfolio(tmp_path)),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--report",
            str(tmp_path / "portfolio.html"),
        ],
        "batch-explain": [
            "batch",
            str(_portfolio(tmp_path)),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--explain",
            "--samples",
            "2000",
        ],
        "compare": ["compare", card, voice, "-o", str(tmp_path / "c.html")],
        "ask": [
            "ask",
            "--answers",
            str(tmp_path / "answers.yaml"),
            "--defaults",
            "-o",
            str(tmp_path / "a.html"),
        ],
    }[name]
    (tmp_path / "answers.yaml").write_bytes(Path(card).read_bytes())
    # Not interactive: `ask` takes the answers file and the defaults, then assesses.
    modules, p = loaded_at(["run", *args] if name == "ask" else args, tmp_path, interactive="0")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "numpy" in modules  # it did assess
    assert not modules & set(NOT_FOR_ASSESSMENTS), sorted(modules & set(NOT_FOR_ASSESSMENTS))


SERVICE = textwrap.dedent("""
    import json, sys, warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from advisor._server import create_app
    doc = {"name": "svc", "task": {"modality": "text"}, "data": {"paired_examples": 20000},
           "latency": {"budget_ms": 250}, "regulation": {"explanation_method": "shap"}}
    with TestClient(create_app()) as client:
        r = client.post("/v1/assessments", json=doc)
        assert r.status_code == 200, r.text
        assert r.json()["attributions"], r.text
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
""")


def _assesses_without_heavy_modules(script: str, tmp_path: Path) -> None:
    # Run `script` in a fresh process; it prints the top-level modules it ended with.
    p = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 0, p.stderr
    modules = set(json.loads(p.stdout.strip().splitlines()[-1]))
    assert "numpy" in modules  # it did assess
    assert not modules & set(NOT_FOR_ASSESSMENTS), sorted(modules & set(NOT_FOR_ASSESSMENTS))


def test_the_services_assessments_import_no_shap_sklearn_or_scipy(tmp_path):
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")
    _assesses_without_heavy_modules(SERVICE, tmp_path)


API = textwrap.dedent("""
    import json, sys
    from advisor import recommend, recommend_many, screen
    doc = {"name": "api", "task": {"modality": "text"}, "data": {"paired_examples": 20000},
           "latency": {"budget_ms": 250}}
    assert recommend(doc).attributions
    assert recommend_many([doc, doc], explain=False)[1].recommendation
    assert screen([doc], explain=True)[0]["status"] == "ok"
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
""")


def test_the_apis_assessments_import_no_shap_sklearn_or_scipy(tmp_path):
    _assesses_without_heavy_modules(API, tmp_path)


def test_precedent_search_is_exact():
    """The nearest-precedent search (every assessment runs it, in plain numpy) gives the order
    and distances of scikit-learn's standardisation and exact k-d tree search (the oracle)."""
    import numpy as np
    from sklearn.neighbors import KDTree
    from sklearn.preprocessing import StandardScaler

    from advisor import load_rulepack
    from advisor._precedents import LATENCY_CLASSES, _index, _numeric, _onehot

    library = load_rulepack().precedents
    index = _index(library)
    num = np.array(
        [
            _numeric(
                p.features.modality,
                p.features.paired_log10,
                p.features.latency_class,
                p.features.criticality,
            )
            for p in library
        ]
    )
    scaler = StandardScaler().fit(num)
    rows = np.hstack([scaler.transform(num), [_onehot(p.features.modality) for p in library]])
    assert np.allclose(index.rows, rows, atol=1e-12)
    tree = KDTree(rows)
    rng = np.random.default_rng(8)
    modalities = sorted({p.features.modality for p in library})
    for _ in range(300):
        feats = {
            "modality": modalities[int(rng.integers(len(modalities)))],
            "paired_log10": round(float(rng.uniform(0, 12)), 3),
            "latency_class": LATENCY_CLASSES[int(rng.integers(4))][0],
            "criticality": ["non_critical", "business_critical", "regulated", "safety_critical"][
                int(rng.integers(4))
            ],
        }
        q = np.hstack(
            [
                scaler.transform(
                    [
                        _numeric(
                            feats["modality"],
                            feats["paired_log10"],
                            feats["latency_class"],
                            feats["criticality"],
                        )
                    ]
                )[0],
                _onehot(feats["modality"]),
            ]
        )
        dist, idx = tree.query(q[None], k=len(library))
        pairs = zip(dist[0], idx[0], strict=True)
        want = sorted((round(float(d), 6) + 0.0, int(i)) for d, i in pairs)
        assert index.distances(feats) == want


@pytest.mark.parametrize("given", [None, "3"])
def test_the_command_line_runs_blas_on_one_thread_unless_told(given):
    # The setting must be in place before numpy loads (OpenBLAS reads it then), and a value the
    # user set is kept.
    code = textwrap.dedent("""
        import os, sys
        import advisor._cli
        assert "numpy" not in sys.modules
        print(os.environ["OPENBLAS_NUM_THREADS"])
    """)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (given or "1")
