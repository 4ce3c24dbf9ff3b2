"""Benchmark `advisor serve` on loopback (issues 7 and 15). Prints figures; asserts nothing.

Starts the real service (`python -m advisor serve`) on a free port of 127.0.0.1, with a
minimal asyncio HTTP client (so the figures measure the server, not the client), and measures:
- requests/s for N sequential requests (one keep-alive connection) and N concurrent requests
  (C keep-alive connections busy at once), for POST /v1/assessments without attributions
  (`?explain=false`), GET /healthz (the HTTP stack alone) and, with --explain, with attributions;
- the latency (p50, p99) of valid requests, quiet and then during an attack, in the same run, and
  their ratio. The attacker process is started (idle) before the quiet phase and runs at a
  lower CPU priority (--attacker-nice, +10), so the ratio measures what the attack does to the
  server rather than the attacker's own CPU on a shared machine; --rounds N alternates quiet
  and attack phases N times and prints the p99 of all rounds together. The attack, bounded in
  count and time and sent only to 127.0.0.1: slow-loris connections (a request head sent a byte
  a second; reopened when the server closes them), slow bodies (headers, then nothing),
  oversized bodies (Content-Length over 1 MB, and chunked bodies that never end), and slow
  requests (bodies of ~700 KB with thousands of unknown fields, costly to validate); with
  `--attack ...,dense`, also dense requests (bodies under 64 KB, the size of an ordinary one,
  with 2,100 unknown fields). It prints what the attack got back (status counts) and any valid
  request that was not answered 200.

Usage: python bench/bench_server.py [--requests N] [--concurrency C] [--explain]
                                    [--latency-requests N] [--loris N] [--workers N]
                                    [--attack loris,body,oversized,slow[,dense]]
                                    [--no-rates]
                                    [--slow-fields N] [--attacker-nice N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

BODY = {
    "name": "Bench project",
    "task": {"modality": "tabular"},
    "data": {"paired_examples": 250000, "stage_labels": "partial"},
    "latency": {"budget_ms": 150},
    "regulation": {"criticality": "regulated", "regimes": ["gdpr_art22"]},
}


def free_port() -> int:
    """Give a port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request_bytes(method: str, path: str, port: int, body: bytes | None = None) -> bytes:
    if body is None:
        body = json.dumps(BODY).encode() if method == "POST" else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    # One request on a keep-alive connection; read the response by its Content-Length.
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


def rate(port: int, n: int, in_flight: int, method: str, path: str) -> float:
    """Give requests/s for n requests over `in_flight` keep-alive connections (1: sequential)."""
    request = _request_bytes(method, path, port)

    async def run() -> float:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(in_flight)]
        per = [n // in_flight + (1 if i < n % in_flight else 0) for i in range(in_flight)]

        async def worker(i: int) -> None:
            reader, writer = conns[i]
            for _ in range(per[i]):
                status = await _exchange(reader, writer, request)
                if status != 200:
                    raise SystemExit(f"HTTP {status}")

        t = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(in_flight)))
        elapsed = time.perf_counter() - t
        for _, writer in conns:
            writer.close()
        return n / elapsed

    return asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# Latency quiet and under attack.


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _valid_latencies(port: int, n: int, path: str, bad: list[int]) -> list[float]:
    # n valid requests, one at a time on one keep-alive connection (reopened if the server
    # closes it); the time of each, in ms.
    request = _request_bytes("POST", path, port)
    out: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(n):
        t = time.perf_counter()
        try:
            status = await _exchange(reader, writer, request)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            t = time.perf_counter()
            status = await _exchange(reader, writer, request)
        out.append((time.perf_counter() - t) * 1000)
        if status != 200:
            bad.append(status)
        await asyncio.sleep(0.01)  # a client that thinks between requests
    writer.close()
    return out


SLOW_FIELDS = 24_000


def _slow_body(fields: int = SLOW_FIELDS) -> bytes:
    # ~700 KB by default: valid fields plus thousands of unknown ones, each a problem to report.
    doc: dict[str, object] = dict(BODY)
    for i in range(fields):
        doc[f"unknown_field_{i:05d}"] = i
    return json.dumps(doc).encode()


ATTACKS = ("loris", "body", "oversized", "slow")
DENSE_FIELDS = 2_100  # ~60 KB: under the service's 64 KB large-body threshold


async def _attack(
    port: int,
    stop: asyncio.Event,
    loris: int,
    seen: collections.Counter[str],
    kinds: tuple[str, ...] = ATTACKS,
    slow_fields: int = SLOW_FIELDS,
) -> None:
    # Bounded: a fixed number of attacker tasks, each looping until `stop` (or its own cap).

    async def slow_loris() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\n")
                for _ in range(600):
                    if stop.is_set():
                        break
                    writer.write(b"X")
                    await writer.drain()
                    try:
                        got = await asyncio.wait_for(reader.read(1), 1.0)
                        if got == b"":
                            seen["slow-loris closed by the server"] += 1
                            break
                    except TimeoutError:
                        pass
                writer.close()
            except (ConnectionError, OSError):
                seen["slow-loris refused"] += 1
                await asyncio.sleep(0.5)

    async def slow_body() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    b"application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                seen[f"slow body: HTTP {int(head.split(b' ', 2)[1])}"] += 1
                writer.close()
            except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
                seen["slow body: closed"] += 1

    async def oversized() -> None:
        big_head = (
            b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 50000000\r\n\r\n"
        )
        chunked = (
            b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        while not stop.is_set():
            for head, tail in ((big_head, b"x" * 65536), (chunked, chunk * 20)):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(head + tail)
                    await writer.drain()
                    h = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    seen[f"oversized: HTTP {int(h.split(b' ', 2)[1])}"] += 1
                    writer.close()
                except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
                    seen["oversized: closed"] += 1
                await asyncio.sleep(0.05)

    async def slow_requests(fields: int, label: str) -> None:
        request = _request_bytes("POST", "/v1/assessments", port, _slow_body(fields))
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                status = await asyncio.wait_for(_exchange(reader, writer, request), 120)
                seen[f"{label}: HTTP {status}"] += 1
                writer.close()
            except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
                seen[f"{label}: closed"] += 1

    tasks = (
        [slow_loris() for _ in range(loris if "loris" in kinds else 0)]
        + [slow_body() for _ in range(4 if "body" in kinds else 0)]
        + [oversized() for _ in range(2 if "oversized" in kinds else 0)]
        + [slow_requests(slow_fields, "slow request") for _ in range(3 if "slow" in kinds else 0)]
        + [
            slow_requests(DENSE_FIELDS, "dense request")
            for _ in range(3 if "dense" in kinds else 0)
        ]
    )
    await asyncio.gather(*tasks)


def _attack_process(
    port: int,
    loris: int,
    seconds: float,
    out: Any,
    kinds: tuple[str, ...],
    slow_fields: int,
    nice: int,
) -> None:
    # The attack in a process of its own, so that its client work does not slow the measuring
    # client. It exists (idle) from before the quiet phase, so both phases share the machine
    # with the same processes; it waits for the parent's first byte ("go"), attacks until the
    # second ("stop") or for `seconds` at most, then sends back what it got. At a lower CPU
    # priority (`nice`): on one machine, an attacker's own CPU is not the server's doing (a real
    # one runs elsewhere), and without it the ratio measures the 2 cores' sharing.
    if nice:
        os.nice(nice)
    out.recv()  # go

    async def run() -> collections.Counter[str]:
        stop = asyncio.Event()
        seen: collections.Counter[str] = collections.Counter()
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, stop.set)
        loop.add_reader(out.fileno(), stop.set)  # the parent writes again: stop
        try:
            await asyncio.wait_for(
                _attack(port, stop, loris, seen, kinds, slow_fields), seconds + 130
            )
        except TimeoutError:
            pass
        return seen

    out.send(dict(asyncio.run(run())))


def latency_under_attack(
    port: int,
    n: int,
    path: str,
    loris: int,
    kinds: tuple[str, ...] = ATTACKS,
    slow_fields: int = SLOW_FIELDS,
    nice: int = 10,
    rounds: int = 1,
) -> None:
    """Print p50/p99 of n valid requests quiet, then during the attack, and their ratio.

    With rounds > 1, quiet and attack phases alternate (each round a fresh attacker process),
    so that a change in the machine's other load falls on both; each round's figures are
    printed, then the p99 of all rounds' samples together and the median of the rounds' ratios.
    """
    import multiprocessing
    import statistics

    ctx = multiprocessing.get_context("spawn")
    ratios: list[float] = []
    all_quiet: list[float] = []
    all_loud: list[float] = []
    print(
        f"valid POST {path}, {n} requests a phase, one at a time; attack: {', '.join(kinds)}; "
        f"attacker at nice +{nice}, idle (but started) during the quiet phase"
    )
    for r in range(rounds):
        here, there = ctx.Pipe()
        attacker = ctx.Process(
            target=_attack_process,
            args=(port, loris, 600.0, there, kinds, slow_fields, nice),
        )
        attacker.start()
        time.sleep(2)  # the attacker process is up (and idle)
        bad_quiet: list[int] = []
        quiet = asyncio.run(_valid_latencies(port, n, path, bad_quiet))
        here.send(b"go")
        time.sleep(5)  # let the attack get going
        bad_attack: list[int] = []
        loud = asyncio.run(_valid_latencies(port, n, path, bad_attack))
        here.send(b"stop")
        seen: dict[str, int] = here.recv() if here.poll(200) else {}
        attacker.join(30)
        if attacker.is_alive():
            attacker.kill()
        q50, q99 = _pct(quiet, 0.5), _pct(quiet, 0.99)
        a50, a99 = _pct(loud, 0.5), _pct(loud, 0.99)
        ratios.append(a99 / q99)
        all_quiet += quiet
        all_loud += loud
        if rounds > 1:
            print(f"round {r + 1}:")
        print(f"  quiet:        p50 {q50:7.1f} ms   p99 {q99:7.1f} ms")
        print(f"  under attack: p50 {a50:7.1f} ms   p99 {a99:7.1f} ms")
        print(f"  ratio (attack / quiet): p50 {a50 / q50:.2f}x   p99 {a99 / q99:.2f}x")
        print(
            f"  valid requests not answered 200: quiet {len(bad_quiet)}, "
            f"under attack {len(bad_attack)} {sorted(collections.Counter(bad_attack).items())}"
        )
        print(
            "  the attack (another process) got: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(seen.items()))
        )
        fivexx = sum(v for k, v in seen.items() if "HTTP 5" in k and "HTTP 503" not in k)
        print(f"  5xx other than 503 answered to the attack: {fivexx}")
    if rounds > 1:
        q99, a99 = _pct(all_quiet, 0.99), _pct(all_loud, 0.99)
        print(
            f"all {rounds} rounds: quiet p99 {q99:.1f} ms, under attack p99 {a99:.1f} ms, "
            f"ratio {a99 / q99:.2f}x; the rounds' p99 ratios: median "
            f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}x, max {max(ratios):.2f}x)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--explain", action="store_true", help="also measure with attributions")
    ap.add_argument(
        "--latency-requests",
        type=int,
        default=300,
        help="valid requests timed quiet, and again under attack",
    )
    ap.add_argument("--loris", type=int, default=40, help="slow-loris connections")
    ap.add_argument("--workers", type=int, default=1, help="advisor serve --workers")
    ap.add_argument(
        "--attack",
        default=",".join(ATTACKS),
        help=f"the attacks to send, comma-separated (default: {ATTACKS}; also: dense)",
    )
    ap.add_argument("--no-rates", action="store_true", help="skip the requests/s figures")
    ap.add_argument(
        "--slow-fields",
        type=int,
        default=SLOW_FIELDS,
        help="unknown fields in each slow request's body",
    )
    ap.add_argument(
        "--attacker-nice",
        type=int,
        default=10,
        help="CPU priority offset of the attacker process (0: the same as the server's)",
    )
    ap.add_argument("--rounds", type=int, default=1, help="quiet/attack rounds, alternating")
    a = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "advisor",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(a.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                if health.status_code == 200 and health.json().get("large_bodies") == "ready":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        print(
            f"CPUs: {os.cpu_count()}; uvicorn, {a.workers} worker process(es), on {base}; "
            f"{a.requests:,} requests each, {a.concurrency} connections for 'concurrent'"
        )
        cases = [
            ("GET /healthz", "GET", "/healthz"),
            ("POST /v1/assessments?explain=false", "POST", "/v1/assessments?explain=false"),
        ]
        if a.explain:
            cases.append(("POST /v1/assessments (attributions)", "POST", "/v1/assessments"))
        for label, method, path in cases if not a.no_rates else []:
            rate(port, 5, 1, method, path)  # warm up
            seq = rate(port, a.requests, 1, method, path)
            con = rate(port, a.requests, a.concurrency, method, path)
            print(f"{label}: {seq:,.1f} requests/s sequential, {con:,.1f} requests/s concurrent")
        latency_under_attack(
            port,
            a.latency_requests,
            "/v1/assessments" if a.explain else "/v1/assessments?explain=false",
            a.loris,
            tuple(k for k in a.attack.split(",") if k),
            a.slow_fields,
            a.attacker_nice,
            a.rounds,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
