"""Benchmark `advisor serve` on loopback (issue 7). Prints figures; asserts nothing.

Starts the real service (`python -m advisor.cli serve`) on a free port of 127.0.0.1 and measures
requests/s for N sequential requests (one keep-alive connection) and N concurrent requests
(C keep-alive connections busy at once), with a minimal asyncio HTTP client, for:
- POST /v1/assessments without attributions (`?explain=false`: engine, Monte Carlo, JSON);
- GET /healthz (the HTTP stack alone), for reference;
and, with --explain, POST /v1/assessments with attributions.

Usage: python bench/bench_server.py [--requests N] [--concurrency C] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

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


def _request_bytes(method: str, path: str, port: int) -> bytes:
    body = json.dumps(BODY).encode() if method == "POST" else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> None:
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
    if status != 200:
        raise SystemExit(f"HTTP {status}")


def rate(port: int, n: int, in_flight: int, method: str, path: str) -> float:
    """Give requests/s for n requests over `in_flight` keep-alive connections (1: sequential).

    A minimal asyncio HTTP/1.1 client, so that the figure measures the server, not the client.
    """
    request = _request_bytes(method, path, port)

    async def run() -> float:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(in_flight)]
        per = [n // in_flight + (1 if i < n % in_flight else 0) for i in range(in_flight)]

        async def worker(i: int) -> None:
            reader, writer = conns[i]
            for _ in range(per[i]):
                await _exchange(reader, writer, request)

        t = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(in_flight)))
        elapsed = time.perf_counter() - t
        for _, writer in conns:
            writer.close()
        return n / elapsed

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--explain", action="store_true", help="also measure with attributions")
    a = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "advisor.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        print(f"CPUs: {os.cpu_count()}; uvicorn, one process, on {base}; "
              f"{a.requests:,} requests each, {a.concurrency} connections for 'concurrent'")
        cases = [("GET /healthz", "GET", "/healthz"),
                 ("POST /v1/assessments?explain=false", "POST", "/v1/assessments?explain=false")]
        if a.explain:
            cases.append(("POST /v1/assessments (attributions)", "POST", "/v1/assessments"))
        for label, method, path in cases:
            rate(port, 5, 1, method, path)  # warm up
            seq = rate(port, a.requests, 1, method, path)
            con = rate(port, a.requests, a.concurrency, method, path)
            print(f"{label}: {seq:,.1f} requests/s sequential, {con:,.1f} requests/s concurrent")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
