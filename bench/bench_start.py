"""Cold start of the command line (issue 8). Prints figures; asserts nothing.

Each figure is the median (and the best) wall time of a fresh process, N runs:
- `python -c pass`: the interpreter alone, the floor;
- `python -c "import click"`: the CLI framework alone;
- `advisor --help` (target: at most 0.15 s) and `advisor schema`;
- `advisor recommend EXAMPLE -o r.html`, next to `python -c "import numpy, pydantic, jinja2,
  yaml"`, the libraries it cannot do without (issue 14's target: within 0.3 s of it).

Besides wall times, the median CPU time (user + system) of each process: on a busy machine the
wall time grows with the load, the CPU time does not, and on an idle one they nearly agree.

Python caches compiled modules in __pycache__ folders; an installed package has them (pip
compiles at install). The benchmark runs with bytecode caching on (PYTHONDONTWRITEBYTECODE
removed) after one warm-up run, as an installed advisor starts.

Usage: python bench/bench_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "realtime-voice-agent.yaml"
TARGET = 0.15


def cold(args: list[str], runs: int, env: dict[str, str], cwd: str) -> tuple[float, float, float]:
    """Give the median and the best wall time of a fresh `python args...` process, and its median
    CPU time (user + system: what the wall time would be on an idle machine, I/O aside)."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True, env=env, cwd=cwd)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    opts = ap.parse_args()
    cli = "from advisor._cli.main import main; main()"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"advisor cold start ({opts.runs} runs each; load average {load:.2f} on "
        f"{os.cpu_count()} CPUs)"
    )
    print(f"  {'':<42} {'median':>8} {'best':>8} {'cpu':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        # Warm the bytecode caches once, as an install would.
        subprocess.run([sys.executable, "-c", cli, "--help"], env=env, capture_output=True)
        subprocess.run(
            [sys.executable, "-c", cli, "recommend", str(EXAMPLE), "-o", str(Path(tmp) / "r.html")],
            env={**env, "NUMBA_DISABLE_JIT": "1"},
            capture_output=True,
        )
        rows: list[tuple[str, list[str], dict[str, str], int]] = [
            ("python -c pass", ["-c", "pass"], env, opts.runs),
            ('python -c "import click"', ["-c", "import click"], env, opts.runs),
            ("advisor --help", ["-c", cli, "--help"], env, opts.runs),
            ("advisor schema", ["-c", cli, "schema"], env, opts.runs),
            (
                'python -c "import numpy, pydantic, jinja2, yaml"',
                ["-c", "import numpy, pydantic, jinja2, yaml"],
                env,
                max(3, opts.runs // 3),
            ),
            (
                "advisor recommend EXAMPLE -o r.html",
                ["-c", cli, "recommend", str(EXAMPLE), "-o", str(Path(tmp) / "r.html")],
                {**env, "NUMBA_DISABLE_JIT": "1"},
                max(3, opts.runs // 3),
            ),
        ]
        for label, args, e, runs in rows:
            med, best, cpu = cold(args, runs, e, tmp)
            flag = ""
            if label == "advisor --help":
                flag = "  ok (target <= 0.15 s)" if med <= TARGET else "  over the 0.15 s target"
                if med > TARGET and cpu <= TARGET:
                    flag += " on this load; cpu within it"
            print(f"  {label:<50} {med:6.3f} s {best:6.3f} s {cpu:6.3f} s{flag}")


if __name__ == "__main__":
    main()
