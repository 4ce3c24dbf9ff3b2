"""Interleaved A/B: this checkout against a git revision, on the same machine at the same time.

On a shared machine the speed moves by up to 2x within an hour, so figures from runs made at
different times do not compare; this script alternates the two versions round by round and
prints each figure's median for both, and their ratio. Prints figures; asserts nothing.

Measures, per version and round, in fresh processes (BLAS on one thread, as the command line
runs it):
- the median explained assessment over the bundled examples, after imports (in process);
- `recommend_many(explain=False)` of the examples repeated, projects per second;
- cold `python -m advisor recommend examples/card-fraud.yaml -o r.html` (wall);
- `python -m advisor batch` of a synthetic portfolio (`bench_batch.portfolio`, --rows), wall.

The revision is checked out in a temporary git worktree and imported through PYTHONPATH, with
this environment's packages: it must run on them.

Usage: python bench/bench_ab.py REV [--rounds N] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child: the in-process figures of the version on PYTHONPATH.
CHILD = textwrap.dedent("""
    import json, statistics, sys, time
    from pathlib import Path
    from advisor import load_requirements, load_rulepack, recommend, recommend_many
    pack = load_rulepack()
    reqs = [load_requirements(p) for p in sorted(Path(sys.argv[1]).glob("*.yaml"))]
    recommend(reqs[0], rulepack=pack)
    times = []
    for r in reqs:
        for _ in range(8):
            t = time.perf_counter()
            recommend(r, rulepack=pack)
            times.append(time.perf_counter() - t)
    many = reqs * 25
    t = time.perf_counter()
    recommend_many(many, rulepack=pack, explain=False)
    rate = len(many) / (time.perf_counter() - t)
    print(json.dumps({"explained_ms": statistics.median(times) * 1000, "many_per_s": rate}))
""")


def _wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the git revision to compare against (a commit, tag or branch)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20_000, help="rows of the batch portfolio")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_batch import portfolio

    dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")  # bytecode cached, as pip installs it
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "rev"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.rev],
            check=True,
            capture_output=True,
        )
        try:
            csv = Path(tmp) / "portfolio.csv"
            portfolio(csv, args.rows)
            versions = {args.rev: tree, "this checkout": ROOT}
            figures: dict[str, dict[str, list[float]]] = {v: {} for v in versions}
            for _ in range(args.rounds):
                for name, path in versions.items():
                    env = {**base, "PYTHONPATH": str(path)}
                    got = figures[name]
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, str(ROOT / "examples")],
                        env=env,
                        cwd=tmp,
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    for key, value in json.loads(out.stdout.splitlines()[-1]).items():
                        got.setdefault(key, []).append(value)
                    report = [sys.executable, "-m", "advisor", "recommend"]
                    report += [str(ROOT / "examples" / "card-fraud.yaml"), "-o", "r.html"]
                    got.setdefault("cold_report_s", []).append(_wall(report, env, tmp))
                    batch = [sys.executable, "-m", "advisor", "batch", str(csv), "-o", "b.jsonl"]
                    got.setdefault("batch_s", []).append(_wall(batch, env, tmp))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
            )
    labels = {
        "explained_ms": "explained assessment, median (ms)",
        "many_per_s": "recommend_many(explain=False) (projects/s)",
        "cold_report_s": "cold recommend -o r.html (s)",
        "batch_s": f"batch, {args.rows:,} rows (s)",
    }
    old, new = figures[args.rev], figures["this checkout"]
    print(f"interleaved, {args.rounds} rounds, medians: {args.rev} | this checkout | ratio")
    for key, label in labels.items():
        a, b = statistics.median(old[key]), statistics.median(new[key])
        print(f"  {label:45s} {a:10.2f} | {b:10.2f} | {b / a:.2f}x")


if __name__ == "__main__":
    main()
