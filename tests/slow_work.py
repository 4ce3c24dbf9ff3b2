"""Work that never ends, and work that reports its process's CPU priority, for the service's
worker-process test (importable by name in the spawned process, as a test module's local
function is not)."""

import os
import time

from advisor._server import _Answer


def forever(*args: object) -> None:
    """Sleep for an hour (the test kills the process long before)."""
    time.sleep(3600)


def niceness(*args: object) -> _Answer:
    """Answer with this process's niceness (os.nice(0)), as the body's text."""
    return _Answer(200, str(os.nice(0)).encode(), "text/plain")
