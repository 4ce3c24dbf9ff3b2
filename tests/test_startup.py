"""Fast start (issue 8): `advisor --help`, `advisor schema` and the first question of `advisor ask`
import no numpy, scikit-learn, pandas or shap (nor scipy or numba). A fresh process runs each and
reports the modules loaded at that moment. bench/bench_start.py prints the start times.
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

    if sys.argv[1:2] == ["ask"]:
        import advisor.cli_ask as cli_ask

        def first_question(self, prompt):
            record()
            raise KeyboardInterrupt

        cli_ask.TerminalPrompter.ask = first_question
    else:
        atexit.register(record)
    from advisor.cli import main
    main(sys.argv[1:])
""")


def loaded_at(args: list[str], tmp_path: Path) -> tuple[set[str], subprocess.CompletedProcess]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "ADVISOR_MODULES_OUT": str(out), "ADVISOR_ASK_INTERACTIVE": "1"}
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
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
        import advisor.cli_ask  # noqa: F401
    except ImportError as e:  # pragma: no cover - the questionnaire is built in parallel
        pytest.skip(f"advisor ask is not available ({e})")
    modules, p = loaded_at(["ask"], tmp_path)
    assert p.returncode == 130, p.stdout + p.stderr  # stopped at the first question: a draft
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "advisor" in modules


def test_the_probe_sees_heavy_modules_when_they_load(tmp_path):
    # The check is live: a real assessment does load numpy.
    example = Path(__file__).resolve().parent.parent / "examples" / "realtime-voice-agent.yaml"
    modules, p = loaded_at(["recommend", str(example), "--format", "json", "--no-explain"],
                           tmp_path)
    assert p.returncode == 0, p.stderr
    assert "numpy" in modules


def test_precedent_search_is_exact_and_cheap():
    """The nearest-precedent search (every assessment runs it) gives the exact Euclidean order of
    a brute-force search, from a single-threaded k-d tree: scikit-learn's default brute search
    spent 10-50 ms of CPU per assessment in OpenMP threads for a few dozen rows."""
    import numpy as np

    from advisor import load_rulepack
    from advisor.precedents import _index

    library = load_rulepack().precedents
    index = _index(library)
    rows = np.asarray(index.tree.data)
    assert len(rows) == len(library)
    rng = np.random.default_rng(8)
    queries = rows[rng.integers(0, len(rows), 300)] + rng.normal(0, 1, (300, rows.shape[1]))
    for q in queries:
        dist, idx = index.tree.query(q[None], k=index.size)
        exact = np.sqrt(((rows - q) ** 2).sum(axis=1))
        assert np.allclose(dist[0], exact[idx[0]], atol=1e-9)
        assert np.all(np.diff(dist[0]) >= 0)
