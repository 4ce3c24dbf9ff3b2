"""Benchmark `advisor probe` on a synthetic table (not a test; prints figures).

    python bench/bench_probe.py                       # 10,000 rows x 30 columns, 5 retrains
    python bench/bench_probe.py --rows 2000 --cols 10 --repeats 3 --points 100 --runs 3

Writes the table as a CSV in a temporary folder, then times reading it and the probe itself
(what `advisor probe DATA.csv --target y` does, in this process), and prints each step's time
and the process's peak memory (resource.getrusage). Target: at most 60 s and under 1 GB for
10,000 x 30 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_csv(path: Path, rows: int, cols: int, seed: int) -> None:
    """Write a classification table: numeric columns, two categorical ones, a non-linear target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, cols - 2))
    cat = rng.choice(["north", "south", "east", "west"], size=rows)
    tier = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])
    logit = x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] + np.sin(2 * x[:, 4])
    logit = logit + (cat == "north")
    y = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    header = [f"x{j}" for j in range(cols - 2)] + ["region", "tier", "y"]
    with path.open("w") as fh:
        fh.write(",".join(header) + "\n")
        for i in range(rows):
            fh.write(",".join(f"{v:.5f}" for v in x[i]) + f",{cat[i]},{tier[i]},{y[i]}\n")


class Steps:
    """Time between progress messages; each message names the step that starts."""

    def __init__(self, first: str) -> None:
        self.times: list[tuple[str, float]] = []
        self.current = first
        self.last = time.perf_counter()

    def __call__(self, msg: str) -> None:
        now = time.perf_counter()
        self.times.append((self.current, now - self.last))
        self.current, self.last = msg, now


def peak_mb() -> float:
    """Give this process's peak resident memory in MB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--cols", type=int, default=30, help="columns besides the target (>= 7)")
    ap.add_argument("--repeats", type=int, default=5, help="bootstrap retrains for SHAP stability")
    ap.add_argument("--points", type=int, default=200, help="test points for local surrogates")
    ap.add_argument("--runs", type=int, default=1, help="time the probe this many times")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import shap  # noqa: F401 - imported once here, so the runs below time the work only

    from advisor._cli.probe import read_csv
    from advisor._probe import ProbeSettings, prepare, run_probe

    t_import = time.perf_counter() - t0
    settings = ProbeSettings(
        repeats=args.repeats, points=args.points, seed=args.seed, max_rows=max(args.rows, 50)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        synthetic_csv(path, args.rows, args.cols, args.seed)
        size = path.stat().st_size / 1e6
        print(
            f"data: {args.rows:,} rows x {args.cols} columns + target ({size:.1f} MB CSV); "
            f"repeats {args.repeats}, points {args.points}, threads {args.threads}"
        )
        print(f"imports (scikit-learn, shap): {t_import:.2f} s")
        times = []
        for run in range(args.runs):
            steps = Steps("read and parse the CSV")
            start = time.perf_counter()
            table = read_csv(path, settings.max_rows, args.seed)
            steps("prepare (types, one-hot)")
            data = prepare(table, "y")
            steps("split, scale")
            result = run_probe(data, settings, steps, threads=args.threads)
            steps("")
            total = time.perf_counter() - start
            times.append(total)
            print(f"\nrun {run + 1}: {total:.2f} s")
            for msg, secs in steps.times:
                print(f"  {secs:7.2f} s  {msg}")
        s = result.surrogate.agreement
        print(
            f"\nprobe time: median {np.median(times):.2f} s over {len(times)} run(s) "
            f"(target <= 60 s); imports add {t_import:.2f} s"
        )
        print(f"peak memory: {peak_mb():.0f} MB (target < 1024 MB)")
        print(
            f"results: accuracy {result.interpretable.test.value:.3f} (interpretable) vs "
            f"{result.black_box.test.value:.3f} (black box); surrogate fidelity {s.value:.3f}; "
            f"SHAP rank stability {result.stability.rank_correlation.value:.2f}"
        )


if __name__ == "__main__":
    main()
