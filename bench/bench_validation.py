"""Benchmark validating hostile requirement files (issue 15). Prints figures; asserts nothing.

Times `read_requirements_bytes` (parse, the loader's checks, the model, the problem lines) on
documents that grow: N unknown top-level keys (refused, at most 50 problems listed) and N regimes
(accepted), for N doubling up to what fits in the 1 MB limit. Linear validation shows as time per
item that stays flat while N grows; the quadratic version it replaced took 6.4 s for 16,000
unknown keys.

Usage: python bench/bench_validation.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from advisor._api import read_requirements_bytes
from advisor._errors import InputError

BASE = {"name": "t", "data": {"paired_examples": 1000}, "latency": {"budget_ms": 300}}


def _time(data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            read_requirements_bytes(data, "bench.json")
        except InputError:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'document':<24}{'N':>8}{'bytes':>10}{'seconds':>10}{'us per item':>13}")
    for label, build in (
        ("unknown keys", lambda n: {**BASE, **{f"unknown_key_{i}": i for i in range(n)}}),
        ("regimes", lambda n: {**BASE, "regulation": {"regimes": [f"r{i}" for i in range(n)]}}),
    ):
        n = 2000
        while True:
            data = json.dumps(build(n)).encode()
            if len(data) > 1_000_000:
                break
            seconds = _time(data, args.repeat)
            print(f"{label:<24}{n:>8,}{len(data):>10,}{seconds:>10.3f}{seconds / n * 1e6:>13.1f}")
            n *= 2


if __name__ == "__main__":
    main()
