"""uvicorn's side of `advisor serve`: the connection protocol and the server settings.

Imported only by `advisor serve` and the tests (it imports uvicorn and h11, the `server` extra).
uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that
trickles its request line and headers a byte at a time resets that timer with every byte and
stays open for ever (slow-loris). `HeadTimeoutH11Protocol` closes a connection whose request
head has not fully arrived within `HEAD_TIMEOUT` seconds of the connection opening or of the
previous response; the body has its own limit in the app (`Limits.body_timeout`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: uvicorn's settings for `advisor serve` (README, "The JSON service").
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection stays open
HEAD_TIMEOUT = 10.0  # seconds for a request's line and headers to arrive (slow-loris)
MAX_HEAD = 16_384  # bytes of request line and headers
LIMIT_CONCURRENCY = 200  # connections (or tasks) per process beyond which uvicorn answers 503


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

    #: Seconds for a request head to arrive (a class attribute so a test can shorten it).
    head_timeout: float = HEAD_TIMEOUT

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection and its first head deadline."""
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        """Feed h11; once a whole head has arrived, the deadline is off until the next one."""
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        """After each response, the next request's head gets a new deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request head did not arrive within %g s",
                self.head_timeout,
            )
            self.transport.close()


def uvicorn_settings(protocol: type[H11Protocol] = HeadTimeoutH11Protocol) -> dict[str, Any]:
    """Give the keyword arguments `advisor serve` passes to uvicorn (README documents them)."""
    return {
        "http": protocol,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "limit_concurrency": LIMIT_CONCURRENCY,
        "h11_max_incomplete_event_size": MAX_HEAD,
        "timeout_graceful_shutdown": 10,
    }
