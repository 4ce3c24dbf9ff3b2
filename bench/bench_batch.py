"""Benchmark `advisor batch` (issue 7). Prints figures; asserts nothing.

Writes a synthetic portfolio CSV (projects spread over every modality, criticality, regime mix,
data volume and latency budget), then runs the real CLI in a child process and measures:
- projects/s from CSV to JSON lines without attributions (the whole run: start-up, reading,
  validation, the vectorised engine, the Monte Carlo confidence, writing);
- projects/s with attributions (`--explain`, exact Shapley values);
- peak resident memory of the whole process tree (the command and its workers, summed) for
  100,000 rows.

Usage: python bench/bench_batch.py [--rows N] [--explain-rows N] [--jobs N] [--samples N]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MODALITIES = ["text", "speech", "vision", "tabular", "multimodal", "control", "other"]
# The regimes the default pack knows, from the requirements model (one list, not a copy).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from advisor._requirements import KNOWN_REGIMES  # noqa: E402

REGIMES = list(KNOWN_REGIMES)
COLUMNS = [
    "id",
    "name",
    "task.modality",
    "task.pretrained_available",
    "data.paired_examples",
    "data.stage_labels",
    "data.labeling_cost",
    "latency.budget_ms",
    "regulation.criticality",
    "regulation.explainability",
    "regulation.regimes",
    "team.ml_maturity",
    "deployment.target",
    "deployment.independent_updates",
]


def portfolio(path: Path, rows: int, seed: int = 7) -> None:
    """Write a synthetic portfolio CSV of `rows` projects."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(rows):
            w.writerow(
                [
                    f"P{i:06d}",
                    f"Project {i}",
                    rnd.choice(MODALITIES),
                    rnd.choice(["true", "false", ""]),
                    str(round(10 ** rnd.uniform(1, 9))),
                    rnd.choice(["none", "partial", "full", ""]),
                    rnd.choice(["low", "medium", "high", ""]),
                    str(round(10 ** rnd.uniform(0.5, 4.7), 1)),
                    rnd.choice(
                        ["non_critical", "business_critical", "regulated", "safety_critical"]
                    ),
                    rnd.choice(["", "", "none", "low", "medium", "high"]),
                    ";".join(rnd.sample(REGIMES, rnd.choice([0, 0, 0, 1, 1, 2]))),
                    rnd.choice(["low", "medium", "high", ""]),
                    rnd.choice(["cloud", "cloud", "on_premises", "edge", "on_device", ""]),
                    rnd.choice(["true", "false", "false", ""]),
                ]
            )


def _tree_rss(pid: int) -> int:
    """Give the summed resident memory (bytes) of a process and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total


def run(args: list[str]) -> tuple[float, int, str]:
    """Run `advisor ARGS` in a child; give wall seconds, peak tree RSS and stderr.

    Also records the CPU seconds (user + system) of the child and its workers in `CPU[-1]`.
    """
    import resource

    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "advisor", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - t
    done.set()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"advisor {' '.join(args)} failed ({proc.returncode}):\n{err}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed, peak, err.strip()


CPU: list[float] = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--explain-rows", type=int, default=2_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=None)
    a = ap.parse_args()
    extra = ["--samples", str(a.samples)] if a.samples else []
    print(
        f"CPUs: {os.cpu_count()}; Python {sys.version.split()[0]}; load average before: "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (other processes share the CPUs; "
        "the CPU-seconds figures do not depend on them)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        big, small = d / "portfolio.csv", d / "explain.csv"
        portfolio(big, a.rows)
        portfolio(small, a.explain_rows, seed=8)
        print(f"portfolio: {a.rows:,} rows, {big.stat().st_size / 1e6:.1f} MB CSV")
        for jobs in sorted({1, a.jobs}):
            secs, peak, err = run(
                [
                    "batch",
                    str(big),
                    "-o",
                    str(d / "out.jsonl"),
                    "--jobs",
                    str(jobs),
                    "--no-progress",
                    *extra,
                ]
            )
            lines = sum(1 for _ in (d / "out.jsonl").open())
            print(
                f"CSV -> JSONL, no attributions, --jobs {jobs}: {a.rows / secs:,.0f} projects/s "
                f"({secs:.2f} s wall incl. start-up; {lines:,} lines; {CPU[-1]:.1f} CPU-s, "
                f"{a.rows / CPU[-1]:,.0f} projects per CPU-second); peak memory "
                f"{peak / 2**20:,.0f} MiB (process tree)"
            )
            print(f"  advisor says: {err.splitlines()[0]}")
        secs, peak, err = run(
            [
                "batch",
                str(big),
                "-o",
                str(d / "out.jsonl"),
                "--report",
                str(d / "portfolio.html"),
                "--jobs",
                str(a.jobs),
                "--no-progress",
                *extra,
            ]
        )
        size = (d / "portfolio.html").stat().st_size / 1e6
        print(
            f"  with --report: {a.rows / secs:,.0f} projects/s; peak memory "
            f"{peak / 2**20:,.0f} MiB; overview {size:.1f} MB"
        )
        for jobs in sorted({1, a.jobs}):
            secs, peak, err = run(
                [
                    "batch",
                    str(small),
                    "-o",
                    str(d / "explained.jsonl"),
                    "--explain",
                    "--jobs",
                    str(jobs),
                    "--no-progress",
                    *extra,
                ]
            )
            print(
                f"CSV -> JSONL with attributions, --jobs {jobs}: "
                f"{a.explain_rows / secs:,.0f} projects/s ({secs:.2f} s wall for "
                f"{a.explain_rows:,} rows; {CPU[-1]:.1f} CPU-s, "
                f"{a.explain_rows / CPU[-1]:,.0f} projects per CPU-second); peak memory "
                f"{peak / 2**20:,.0f} MiB"
            )


if __name__ == "__main__":
    main()
