"""What issue 14's speed work must not change: rows scored together (`scoring.Batch`) score as
they would alone, `recommend_many(explain=False)` gives `recommend`'s bytes, the bundled pack's
parsed-document cache gives the parsed documents back (and is ignored when it cannot be trusted),
and a report's cold path leaves out the modules it does not need. No timings: bench/bench_assess.py
measures those. While `recommend_many` and `screen` build their results the cyclic garbage
collector is paused, and nothing the advisor does leaves garbage for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from advisor import InputError, load_rulepack, recommend, recommend_many, screen
from advisor._decide import prepare
from advisor._requirements import KNOWN_REGIMES
from advisor._scoring import Batch, Evaluation, Scores, evaluate, score
from advisor._uncertainty import batch_stack

ROOT = Path(__file__).resolve().parent.parent


def _rows(cp, rnd: np.random.Generator, n: int, background: np.ndarray) -> np.ndarray:
    # Rows near the pack's background: numbers moved, categories and regime bits swapped.
    x = background[rnd.integers(len(background), size=n)].copy()
    x[:, 0] = rnd.uniform(0, 12, n)
    x[:, 1] = rnd.uniform(-1, 7.9, n)
    other = background[rnd.integers(len(background), size=n)]
    swap = rnd.random(x.shape) < 0.3
    x[swap] = other[swap]
    return x


def _compiled(rules: str | None):
    # The pack (bundled, or the folder `rules`), prepared; its compiled form; its variants.
    prep = prepare(load_rulepack(ROOT / rules if rules else None))
    return prep, prep.compiled, batch_stack(prep.compiled)


def _equal(a: Evaluation, b: Evaluation) -> None:
    for f in fields(Evaluation):
        left, right = getattr(a, f.name), getattr(b, f.name)
        assert left.dtype == right.dtype, f.name
        assert np.array_equal(left, right), f.name  # bit for bit, not approximately


def _same_scores(a: Scores, b: Evaluation) -> None:
    # `score` gives what `evaluate` gives of the scores and the choice, bit for bit.
    for name in ("effective", "choice"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        assert np.array_equal(left, right), name


@pytest.mark.parametrize("rules", [None, "examples/org-pack-bank"])
def test_rows_scored_in_one_batch_score_as_they_would_alone(rules):
    prep, cp, st = _compiled(rules)
    k = len(st.weights)
    rnd = np.random.default_rng(14)
    blocks = []
    for i in range(12):
        x = _rows(cp, rnd, int(rnd.integers(1, 400)), prep.background)
        kind = i % 3  # the pack's own numbers, one variant per row, or a mix of both
        variant = None if kind == 0 else rnd.integers(-1 if kind == 2 else 0, k, size=len(x))
        blocks.append((x, variant))
    batch = Batch(cp, st)
    ids = [batch.add(x, v) for x, v in blocks]
    batch.run()
    for (x, v), b in zip(blocks, ids, strict=True):
        alone = evaluate(x, cp) if v is None else evaluate(x, cp, st, v)
        _same_scores(batch.result(b), alone)
        _same_scores(score(x, cp) if v is None else score(x, cp, st, v), alone)
        if v is not None and (v < 0).any():
            # A row at -1 scores exactly as under the pack's own numbers.
            own = np.flatnonzero(v < 0)
            mine = evaluate(x[own], cp)
            got = batch.result(b)
            assert np.array_equal(got.effective[own], mine.effective)
            assert np.array_equal(got.choice[own], mine.choice)


@pytest.mark.parametrize("rules", [None, "examples/org-pack-bank"])
def test_rows_grouped_by_their_categories_score_as_each_row_alone(rules):
    # `evaluate` tests the categorical columns once per distinct combination of them; a row
    # scored alone is its own group. Mixed rows, and Monte Carlo-like rows (one combination,
    # numbers moved), under the pack's own numbers and under variants.
    prep, cp, st = _compiled(rules)
    rnd = np.random.default_rng(7)
    mixed = _rows(cp, rnd, 150, prep.background)
    one = np.repeat(mixed[:1], 100, axis=0)
    one[:, 0] = rnd.uniform(0, 12, 100)
    one[:, 1] = rnd.uniform(-1, 7.9, 100)
    runs = np.repeat(mixed[:10], 30, axis=0)  # a batch's samples: a run per project
    runs[:, 0] = rnd.uniform(0, 12, len(runs))
    # Scattered rows (too few repeats to group), one combination, runs of combinations.
    for x in (np.concatenate([mixed, one]), one, runs):
        _check_grouped(x, cp, st, rnd)
    # Without a key (one too wide to be exact), every row is its own group: the same scores.
    x = np.concatenate([mixed, one])
    ungrouped = evaluate(x, dataclasses.replace(cp, group_key=None))
    _equal(ungrouped, evaluate(x, cp))


def _check_grouped(x, cp, st, rnd) -> None:
    variant = rnd.integers(-1, len(st.weights), size=len(x))
    for v in (None, variant):
        together = evaluate(x, cp) if v is None else evaluate(x, cp, st, v)
        _same_scores(score(x, cp) if v is None else score(x, cp, st, v), together)
        rows = [slice(i, i + 1) for i in range(len(x))]
        alone = [evaluate(x[r], cp) if v is None else evaluate(x[r], cp, st, v[r]) for r in rows]
        for f in fields(Evaluation):
            joined = np.concatenate([getattr(a, f.name) for a in alone])
            assert np.array_equal(getattr(together, f.name), joined), f.name


def test_the_pattern_is_the_first_applicable_one_that_meets_else_the_first_applicable():
    # `evaluate` carries the patterns as bits of an int64; the pick equals the boolean rule.
    from advisor._scoring import _lowest_bit

    rnd = np.random.default_rng(3)
    for patterns in (1, 5, 62):
        applicable = rnd.random((500, patterns)) < rnd.uniform(0.02, 0.6)
        meets = rnd.random((500, patterns)) < 0.4
        good = applicable & meets
        want = np.where(good.any(axis=1), good.argmax(axis=1), applicable.argmax(axis=1))
        bits = np.int64(1) << np.arange(patterns, dtype=np.int64)
        a, g = (applicable * bits).sum(axis=1), (good * bits).sum(axis=1)
        assert np.array_equal(_lowest_bit(np.where(g != 0, g, a)), want), patterns
    cp = prepare(load_rulepack()).compiled
    et = cp.expl_tables
    as_bits = (et.meets_code[:, None] >> np.arange(et.patterns)) & 1
    assert np.array_equal(as_bits.astype(bool), et.meets_pattern)


def test_a_group_key_too_wide_to_be_exact_is_not_used():
    from advisor._features import FeatureSpace
    from advisor._scoring import _group_radix

    assert _group_radix(FeatureSpace(tuple(f"r{i}" for i in range(12)))) is not None
    assert _group_radix(FeatureSpace(tuple(f"r{i}" for i in range(60)))) is None


def _profile(rnd: random.Random, i: int) -> dict:
    # Profiles with ranges, unsure answers, explanation methods and regimes.
    doc: dict = {"name": f"p{i}"}
    pairs = round(10 ** rnd.uniform(0, 9))
    doc["data"] = {
        "paired_examples": pairs if rnd.random() < 0.7 else {"low": pairs, "high": pairs * 5},
        "stage_labels": rnd.choice(["none", "partial", "full"]),
    }
    budget = round(10 ** rnd.uniform(0, 5), 2)
    doc["latency"] = {
        "budget_ms": budget if rnd.random() < 0.7 else {"low": budget, "high": budget * 3}
    }
    doc["task"] = {"modality": rnd.choice(["text", "speech", "vision", "tabular", "control"])}
    if rnd.random() < 0.3:
        doc["task"]["pretrained_available"] = {"one_of": [True, False]}
    doc["regulation"] = {
        "criticality": rnd.choice(["non_critical", "business_critical", "regulated"])
        if rnd.random() < 0.7
        else {"one_of": {"regulated": 2, "safety_critical": 1}},
        "regimes": rnd.sample(list(KNOWN_REGIMES), rnd.randint(0, 2)),
    }
    if rnd.random() < 0.3:
        doc["regulation"]["explanation_method"] = rnd.choice(["shap", "lime", "counterfactual"])
    if rnd.random() < 0.5:
        doc["team"] = {"ml_maturity": rnd.choice(["low", "medium", "high"])}
    return doc


@pytest.mark.parametrize("rules", [None, "examples/org-pack-bank"])
def test_recommend_many_without_explanations_gives_recommends_bytes(rules):
    pack = load_rulepack(ROOT / rules if rules else None)
    rnd = random.Random(14)
    docs = [_profile(rnd, i) for i in range(60)]
    many = recommend_many(docs, rulepack=pack, explain=False)
    assert len(many) == len(docs)
    for d, a in zip(docs, many, strict=True):
        assert a.to_json() == recommend(d, rulepack=pack, explain=False).to_json()


def test_the_bundled_packs_parsed_documents_come_back_from_the_cache(tmp_path, monkeypatch):
    import tempfile

    from advisor import _resources as res

    monkeypatch.delenv("ADVISOR_NO_PACK_CACHE", raising=False)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    folder = res.default_rules_dir()
    parsed = res.read_pack_documents(folder)  # parses, then writes the cache
    (cache_dir,) = tmp_path.glob("_advisor-pack-cache-*")
    (entry,) = cache_dir.glob("*.json")
    assert oct(cache_dir.stat().st_mode & 0o777) == oct(0o700)
    cached = res.read_pack_documents(folder)
    assert res._same(cached, parsed) and list(cached) == list(parsed)

    # A damaged entry is ignored: the files are parsed again (and the entry rewritten).
    entry.write_text("{not json")
    assert res._same(res.read_pack_documents(folder), parsed)
    assert json.loads(entry.read_text())

    # An entry that names other files is ignored too.
    entry.write_text(json.dumps({"other.yaml": {}}))
    assert res._same(res.read_pack_documents(folder), parsed)

    # A folder others can write to is never used.
    entry.unlink()
    cache_dir.chmod(0o777)
    res.read_pack_documents(folder)
    assert not list(cache_dir.glob("*.json"))
    cache_dir.chmod(0o700)

    monkeypatch.setenv("ADVISOR_NO_PACK_CACHE", "1")
    res.read_pack_documents(folder)
    assert not list(cache_dir.glob("*.json"))


def test_only_what_json_gives_back_unchanged_is_cached():
    from advisor._resources import _same

    assert _same({"a": [1, 2.5, True, None, "x"]}, {"a": [1, 2.5, True, None, "x"]})
    assert not _same({"a": 1}, {"a": 1.0})
    assert not _same({"a": True}, {"a": 1})
    assert not _same({1: "x"}, {"1": "x"})  # YAML's integer keys become text in JSON
    assert not _same({"a": 1, "b": 2}, {"b": 2, "a": 1})  # key order is part of a document


# Runs in the child: the full names of the modules loaded when the command ends.
MODULES = textwrap.dedent("""
    import atexit, json, os, sys

    def record():
        with open(os.environ["ADVISOR_MODULES_OUT"], "w") as fh:
            json.dump(sorted(sys.modules), fh)

    atexit.register(record)
    from advisor._cli.main import main
    main(sys.argv[1:])
""")


def test_a_cold_report_loads_neither_the_service_nor_numpys_masked_arrays(tmp_path):
    out = tmp_path / "modules.json"
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            MODULES,
            "recommend",
            str(ROOT / "examples" / "card-fraud.yaml"),
            "-o",
            str(tmp_path / "r.html"),
        ],
        cwd=tmp_path,
        env={**os.environ, "ADVISOR_MODULES_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    modules = set(json.loads(out.read_text()))
    assert "advisor._engine" in modules  # it did assess
    assert not modules & {"advisor._server", "advisor._server_http", "numpy.ma"}, sorted(
        modules & {"advisor._server", "advisor._server_http", "numpy.ma"}
    )


def test_worker_processes_run_blas_on_one_thread(monkeypatch):
    # In a fresh process with BLAS at its default: the workers' initializer leaves every BLAS
    # pool at one thread.
    code = textwrap.dedent("""
        import numpy, threadpoolctl
        from advisor._process import worker_setup
        worker_setup()
        print(sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                      if p["user_api"] == "blas"}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[1]"
    # recommend_many's pool starts its workers with it (the pool stands in: no fork needed).
    import concurrent.futures

    from advisor import _many

    seen = {}

    class Started(Exception):
        pass

    class Pool:
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)
            raise Started

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(_many, "fork_context", lambda: object())
    docs = [
        {"name": f"p{i}", "data": {"paired_examples": 10**i}, "latency": {"budget_ms": 200}}
        for i in range(2, 6)
    ]
    with pytest.raises(Started):
        recommend_many(docs, explain=False, jobs=2)
    from advisor import _process

    assert seen.get("initializer") is _process.worker_setup


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_the_heap_pad_stops_the_page_faults_of_the_engines_arrays():
    # Without the pad, malloc returns the top of the heap at each free of the engine's large
    # arrays and the next allocation faults fresh pages in; importing the API sets the pad.
    code = textwrap.dedent("""
        import resource, sys
        from advisor import load_requirements, recommend
        from advisor import _process
        assert (_process.applied is not None) == (sys.argv[1] == "pad")
        req = load_requirements("examples/card-fraud.yaml")
        recommend(req)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            recommend(req)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """)
    env = {
        k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "ADVISOR_NO_HEAP_PAD")
    }
    faults = {}
    for mode in ("plain", "pad"):
        p = subprocess.run(
            [sys.executable, "-c", code, mode],
            cwd=ROOT,
            env={**env, "ADVISOR_NO_HEAP_PAD": "1"} if mode == "plain" else env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        faults[mode] = int(p.stdout)
    assert faults["pad"] * 3 < faults["plain"], faults
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from advisor import recommend, _process; print(_process.applied)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.stdout.strip() == str(16 << 20), p.stderr
    # A pad the user set in the environment stands.
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from advisor import recommend, _process; print(_process.applied)",
        ],
        env={**env, "MALLOC_TOP_PAD_": "1048576"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.stdout.strip() == "None", p.stderr


# ---------------------------------------------------------------------------------------------
# The collector paused while many results are built (`_process.gc_paused`)


def _watching(docs, seen):
    # The items, noting at each whether the cyclic garbage collector is on as it is read.
    for d in docs:
        seen.append(gc.isenabled())
        yield d


def _fresh_process(code: str) -> None:
    # In a process of its own: here, earlier tests leave threads running (the service's
    # lanes), and with another thread alive the collector is never paused.
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_recommend_many_and_screen_read_their_items_with_the_collector_paused():
    _fresh_process("""
        import gc
        from advisor import recommend_many, screen

        docs = [
            {"name": f"p{i}", "data": {"paired_examples": 10 ** (i + 2)},
             "latency": {"budget_ms": 50 * (i + 1)}}
            for i in range(4)
        ]

        def watching(seen):
            for d in docs:
                seen.append(gc.isenabled())
                yield d

        assert gc.isenabled()
        for run in (
            lambda items: recommend_many(items, explain=False),
            lambda items: recommend_many(items, explain=False, jobs=2),
            screen,
        ):
            seen = []
            assert len(run(watching(seen))) == len(docs)
            assert seen == [False] * len(docs), seen
            assert gc.isenabled()  # on again after
        print("ok")
    """)


def test_with_another_thread_running_the_collector_stays_on():
    rnd = random.Random(4)
    docs = [_profile(rnd, i) for i in range(3)]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        seen: list[bool] = []
        recommend_many(_watching(docs, seen), explain=False)
        screen(_watching(docs, seen))
    finally:
        stop.set()
        other.join()
    assert seen == [True] * (2 * len(docs))


def test_the_pause_ends_on_an_error_and_leaves_an_off_collector_off():
    _fresh_process("""
        import gc
        from advisor import InputError, recommend_many
        from advisor._process import gc_paused

        try:
            with gc_paused():
                assert not gc.isenabled()
                recommend_many([{"name": "x", "data": {"paired_examples": "lots"}}])
        except InputError:
            pass
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()  # the caller's choice, kept
        print("ok")
    """)


def test_assessing_many_leaves_no_cyclic_garbage_for_the_paused_collector_to_hold():
    # The pause is safe only because the advisor makes no reference cycles: with the collector
    # off, a run's garbage must all be freed by reference counting (collect() finds none).
    rnd = random.Random(5)
    docs = [_profile(rnd, i) for i in range(8)]
    bad = [{"name": "x", "data": {"paired_examples": "lots"}}, 5, {"name": "y", "team": 3}]

    def run() -> None:
        recommend_many(docs[:3], explain=True)
        recommend_many(docs, explain=False)
        recommend(docs[0])
        screen(docs + bad)
        screen(docs[:3] + bad, explain=True)
        with contextlib.suppress(InputError):
            recommend_many([*docs[:2], bad[0], bad[2]])

    run()  # caches filled
    gc.collect()
    gc.disable()
    try:
        run()
        assert gc.collect() == 0
    finally:
        gc.enable()
