"""The reports as a person sees them: each example loaded in headless Debian chromium.

Drives chromium through the Chrome DevTools Protocol over `--remote-debugging-pipe` (JSON
messages separated by NUL bytes on file descriptors 3 and 4), so the test needs no websocket
package, no playwright and no browser download: only /usr/bin/chromium (CI installs Debian's
package). For every example report: a full-page screenshot is written and is not blank, the page
logs no console errors, makes zero network requests, and prints to PDF on A4 and on Letter.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES

CHROMIUM = os.environ.get("ADVISOR_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("ADVISOR_SCREENSHOTS", tempfile.gettempdir())) / "advisor-screenshots"
TIMEOUT = 30.0

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
    reason=f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium); "
    ".ci/run does this when it runs as root",
)


def _high(fd: int) -> int:
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


class Browser:
    """A headless chromium and a minimal CDP client over its debugging pipe."""

    def __init__(self, user_dir: str) -> None:
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()
        # Move the browser's ends above 9 so that moving one to fd 3 or 4 cannot clobber the
        # other (under pytest, pipes may well get fds 3 and 4 themselves).
        to_browser_r, from_browser_w = (_high(to_browser_r), _high(from_browser_w))
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--mute-audio",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={user_dir}",
            "about:blank",
        ]
        # The browser reads commands on fd 3 and writes replies on fd 4. A tiny Python trampoline
        # moves the pipe ends there and execs chromium (no preexec_fn: no fork of a threaded
        # interpreter; not sh: dash accepts only one-digit fd numbers).
        trampoline = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        """Ask the browser to quit, then make sure it did."""
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - closing is best effort; the kill below is not
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the debugging pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and give its result; events that arrive meanwhile are kept."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event of this session (or take it from those already received)."""
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        deadline = time.monotonic() + TIMEOUT
        while True:
            ev = self._read(deadline)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB(A) PNG into (width, height, rows of raw pixel bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Write every example's HTML report to a temporary folder."""
    from advisor import load_rulepack
    from advisor._api import load_requirements
    from advisor._engine import assess
    from advisor._loading import parse_text
    from advisor._render import render

    folder = tmp_path_factory.mktemp("reports")
    pack = load_rulepack()
    out = []
    for ex in EXAMPLES:
        doc = parse_text(ex.read_bytes(), str(ex))
        a = assess(load_requirements(ex), pack, given=doc)
        path = folder / f"{ex.stem}.html"
        path.write_text(render(a, "html"), encoding="utf-8")
        out.append(path)
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One headless chromium for the module."""
    b = Browser(str(tmp_path_factory.mktemp("chromium-profile")))
    try:
        yield b
    finally:
        b.close()


def test_examples_in_chromium(browser: Browser, reports: list[Path]) -> None:
    """Each report renders (non-blank), logs no error, fetches nothing and prints to PDF."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path in reports:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        url = path.resolve().as_uri()
        browser.events.clear()
        browser.call("Page.navigate", session, url=url)
        browser.wait_for("Page.loadEventFired", session)
        metrics = browser.call("Page.getLayoutMetrics", session)
        height = int(metrics["cssContentSize"]["height"])
        # The detail sections are closed <details> on screen: the summary page plus their
        # headings is about 1,800-2,000 px at 1280 wide.
        assert height > 1200, f"{path.name}: page only {height}px tall"
        shot = base64.b64decode(
            browser.call(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                optimizeForSpeed=True,
                clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
            )["data"]
        )
        (SHOTS / f"{path.stem}.png").write_bytes(shot)
        assert len(shot) > 20_000, f"{path.name}: screenshot suspiciously small"
        # Not blank: decode a quarter-scale view of the first screen and count its colours.
        small = base64.b64decode(
            browser.call(
                "Page.captureScreenshot",
                session,
                format="png",
                clip={"x": 0, "y": 0, "width": 1280, "height": 900, "scale": 0.25},
            )["data"]
        )
        w, h, rows = png_pixels(small)
        step = 4 if len(rows[0]) == w * 4 else 3
        colours = {row[i : i + 3] for row in rows for i in range(0, len(row), step)}
        assert len(colours) > 50, f"{path.name}: first screen looks blank ({len(colours)} colours)"
        for paper, (pw, ph) in {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}.items():
            pdf = base64.b64decode(
                browser.call(
                    "Page.printToPDF",
                    session,
                    paperWidth=pw,
                    paperHeight=ph,
                    printBackground=True,
                    preferCSSPageSize=False,
                )["data"]
            )
            assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page") >= 5, (path.name, paper)
            if path.stem == "credit-scoring":
                (SHOTS / f"{path.stem}-{paper}.pdf").write_bytes(pdf)
        events = [e for e in browser.events if e.get("sessionId") == session]
        errors = [
            e["params"]
            for e in events
            if (
                e["method"] == "Runtime.consoleAPICalled"
                and e["params"]["type"] in ("error", "assert")
            )
            or e["method"] == "Runtime.exceptionThrown"
            or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        ]
        assert errors == [], f"{path.name}: console errors {errors}"
        requests = [
            e["params"]["request"]["url"]
            for e in events
            if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"] != url
        ]
        assert requests == [], f"{path.name}: network requests {requests}"
        browser.call("Target.closeTarget", targetId=target)
    # No wall-clock assertion: speed is measured by bench/, never by a timed test (a busy
    # machine failed this suite's two-minute guard).


def _filter_row(ftype: int, row: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray()
    for x, v in enumerate(row):
        a = row[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
        pred = (0, a, b, (a + b) // 2, paeth)[ftype]
        out.append((v - pred) & 255)
    return bytes(out)


def test_png_decoder_handles_every_row_filter() -> None:
    """The decoder behind the not-blank check undoes all five PNG row filters."""
    width, bpp = 4, 3
    rows = [
        bytes((x * 37 + y * 91 + k * 13) % 256 for x in range(width) for k in range(bpp))
        for y in range(10)
    ]
    raw, prev = b"", bytes(width * bpp)
    for y, row in enumerate(rows):
        ftype = y % 5
        raw += bytes([ftype]) + _filter_row(ftype, row, prev, bpp)
        prev = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 10, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    assert png_pixels(png) == (width, 10, rows)
