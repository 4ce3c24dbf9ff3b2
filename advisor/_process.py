"""Process settings for the engine's speed: the heap pad, applied when the API is first imported
(`advisor._api`: every command, the service and `from advisor import recommend`), one BLAS
thread in the worker processes the advisor starts (README, "Embedding"), and the cyclic garbage
collector paused while `recommend_many` and `screen` build their results.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Spare memory glibc's malloc keeps at the top of its heap (M_TOP_PAD), in bytes.
HEAP_PAD = 16 << 20
_M_TOP_PAD = -2  # mallopt's parameter number in glibc's malloc.h

#: The pad this process asked for, or None (not asked, or not glibc).
applied: int | None = None


def pad_heap() -> bool:
    """Ask glibc's malloc to keep `HEAP_PAD` bytes spare at the top of its heap; give whether it
    took the setting (False off Linux, off glibc, when `MALLOC_TOP_PAD_` is set: the user's
    value stands, or when `ADVISOR_NO_HEAP_PAD=1` turns it off).

    The engine's arrays are freed and allocated again thousands of times per assessment; by
    default malloc hands the top of the heap back to the system at each free, and the next
    allocation faults fresh zeroed pages in (200 explained assessments: 306,050 page faults
    without the pad, 301 with it, and 0.63x the time).
    """
    global applied
    if (
        not sys.platform.startswith("linux")
        or "MALLOC_TOP_PAD_" in os.environ
        or os.environ.get("ADVISOR_NO_HEAP_PAD") == "1"
    ):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    if mallopt(_M_TOP_PAD, HEAP_PAD) != 1:  # glibc gives 1 on success
        return False
    applied = HEAP_PAD
    return True


def one_blas_thread() -> None:
    """Run this process's BLAS on one thread (for worker processes the advisor starts).

    The engine's matrix products are a few columns wide: BLAS threads only spin on them, and
    with one worker per CPU they take the cores the other workers need (on 2 CPUs,
    `recommend_many(jobs=0)` of 1,000 explained assessments took 30 s against 22 s in one
    process). threadpoolctl changes the thread count of a BLAS already loaded, which an
    environment variable cannot.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def worker_setup() -> None:
    """Set up a worker process the advisor starts: BLAS on one thread (and the heap pad, which
    a forked worker inherits and a spawned one sets when it imports the API)."""
    one_blas_thread()
    pad_heap()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block, and resume it after; only when
    it was on and no other thread runs (another thread's garbage is not ours to hold back).

    Many assessments at once keep millions of objects alive, and every full collection walks
    all of them: on 2 CPUs, `recommend_many(explain=False)` of 1,000 projects ran 0.8x as fast
    with the collector on, `screen` 0.85x, and the parent process of `recommend_many(jobs=0)`
    spent about 1 ms per Assessment it read back (0.12 ms paused). The advisor makes no
    reference cycles (tests/test_speed.py checks that its runs leave no cyclic garbage), so
    nothing waits for the collector meanwhile.
    """
    if not gc.isenabled() or threading.active_count() > 1:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
