"""Work that never ends, for the service's worker-process test (importable by name in the
spawned process, as a test module's local function is not)."""

import time


def forever(*args: object) -> None:
    """Sleep for an hour (the test kills the process long before)."""
    time.sleep(3600)
