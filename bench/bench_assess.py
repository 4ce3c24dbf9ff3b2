"""Benchmark one full assessment (issue 3). Prints figures; asserts nothing.

Measures, after imports:
- the median time of one full assessment (engine, SHAP attributions, counterfactuals and the
  2,000-sample Monte Carlo) over the bundled examples;
- the time of 1,000 assessments with attributions, one after another in this process and with
  `recommend_many(jobs=0)` (one worker process per CPU);
and, cold, the wall time of `advisor recommend EXAMPLE -o r.html` next to `python -c "import shap"`.

Usage: python bench/bench_assess.py [--repeat N] [--many N] [--mode both|interpreted|jit]
  interpreted: NUMBA_DISABLE_JIT=1, as the one-shot CLI runs shap's explainer;
  jit: numba compiles shap's loops once (about 8 s), as a long-running process would;
  both (default): one child process each, then the cold CLI timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cold(cmds: list[list[str]], runs: int = 7) -> list[float]:
    """Give the median wall time of a fresh process running each command.

    The commands take turns, run after run, so a burst of load on the machine hits all of them.
    """
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per example")
    ap.add_argument("--many", type=int, default=1000, help="assessments in the bulk run")
    ap.add_argument("--mode", choices=["both", "interpreted", "jit"], default="both")
    args = ap.parse_args()
    if args.mode == "both":
        for mode in ("interpreted", "jit"):
            env = dict(os.environ, NUMBA_DISABLE_JIT="1" if mode == "interpreted" else "0")
            subprocess.run(
                [sys.executable, __file__, "--mode", mode, "--repeat", str(args.repeat),
                 "--many", str(args.many)],
                check=True, env=env,
            )
        cold_figures()
        return
    os.environ["NUMBA_DISABLE_JIT"] = "1" if args.mode == "interpreted" else "0"

    from advisor import load_requirements, load_rulepack, recommend

    pack = load_rulepack()
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    reqs = [load_requirements(p) for p in examples]
    t = time.perf_counter()
    recommend(reqs[0], rulepack=pack)  # warm-up: compiles the pack, builds shap's tables
    warm = time.perf_counter() - t

    times = []
    for req in reqs:
        for _ in range(args.repeat):
            t = time.perf_counter()
            recommend(req, rulepack=pack)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)

    # Wall time, and this process's CPU time: on a shared machine the wall time also counts
    # the time other tenants took the cores (steal), which the CPU time leaves out.
    t, c = time.perf_counter(), time.process_time()
    for i in range(args.many):
        recommend(reqs[i % len(reqs)], rulepack=pack)
    bulk, bulk_cpu = time.perf_counter() - t, time.process_time() - c

    t, c = time.perf_counter(), time.process_time()
    for i in range(args.many):
        recommend(reqs[i % len(reqs)], rulepack=pack, explain=False)
    bulk_noexp, noexp_cpu = time.perf_counter() - t, time.process_time() - c

    from advisor import recommend_many

    batch = [reqs[i % len(reqs)] for i in range(args.many)]
    t = time.perf_counter()
    recommend_many(batch, rulepack=pack, jobs=0)
    many = time.perf_counter() - t

    jit = "off (interpreted)" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "on"
    print(f"numba JIT: {jit}; warm-up first call {warm * 1000:.0f} ms")
    print(f"one full assessment, median over {len(times)} runs: {med * 1000:.1f} ms "
          f"(p90 {sorted(times)[int(len(times) * 0.9)] * 1000:.1f} ms; target <= 50 ms)")
    print(f"{args.many} assessments with attributions: {bulk:.2f} s wall, {bulk_cpu:.2f} s CPU "
          "(target <= 10 s)")
    print(f"{args.many} assessments without attributions: {bulk_noexp:.2f} s wall, "
          f"{noexp_cpu:.2f} s CPU")
    print(f"{args.many} assessments with attributions, recommend_many(jobs=0) over "
          f"{os.cpu_count()} CPUs: {many:.2f} s wall (target <= 10 s)")


def cold_figures() -> None:
    """Print the cold wall time of the CLI against importing shap alone."""
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    exe = Path(sys.executable).parent / "advisor"
    advisor = [str(exe)] if exe.exists() else [sys.executable, "-m", "advisor.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "r.html")
        # The advisor's own time inside one process: everything after shap and scikit-learn
        # are imported (the CLI imports both; shap imports most of scikit-learn itself).
        inner = (
            "import sys, time; import shap, sklearn.neighbors, sklearn.preprocessing; "
            "t = time.perf_counter(); from advisor.cli import main\n"
            "try: main(sys.argv[1:])\nexcept SystemExit: pass\n"
            "print(time.perf_counter() - t, file=sys.stderr)"
        )
        rec, shap_only, bare = cold([
            [*advisor, "recommend", str(examples[0]), "-o", out],
            [sys.executable, "-c", "import shap"],
            [sys.executable, "-c", "pass"],
        ])
        own = []
        for _ in range(7):
            done = subprocess.run(
                [sys.executable, "-c", inner, "recommend", str(examples[0]), "-o", out],
                check=True, capture_output=True, text=True,
                env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
            )
            own.append(float(done.stderr.strip().splitlines()[-1]))
    print(f"cold `advisor recommend {examples[0].name} -o r.html`: {rec:.2f} s (median of 7)")
    print(f"cold `python -c 'import shap'`: {shap_only:.2f} s (bare interpreter {bare:.2f} s)")
    print(f"advisor's own share: {rec - shap_only:.2f} s by difference; "
          f"{statistics.median(own):.2f} s measured inside the process after shap and "
          "scikit-learn are imported (target < 0.5 s)")


if __name__ == "__main__":
    main()
