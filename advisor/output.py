"""Writing output files safely: a temporary file in the same folder, then an atomic rename.

Takes a path and text; writes it so that a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def check_target(path: Path, inputs: list[Path]) -> None:
    """Refuse an output path that is an input file, a folder or in a missing folder.

    Raises:
        OutputError: with a one-line reason naming the path.
    """
    for p in inputs:
        try:
            if path.exists() and p.exists() and path.resolve() == p.resolve():
                raise OutputError(f"{path}: refusing to overwrite the input file")
        except OSError:
            continue
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary file, fsync, rename).

    A symbolic link is followed (the file it points to is replaced, the link stays); a target
    that is not a regular file (/dev/null, /dev/stdout, a FIFO) is written into, never replaced.

    Raises:
        OutputError: the folder is missing or not writable.
    """
    shown, path = path, Path(os.path.realpath(path))
    if path.exists() and not path.is_file() and not path.is_dir():
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as e:
            raise OutputError(f"{shown}: cannot write ({e.strerror})") from None
        return
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{shown}: folder {shown.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except PermissionError:
        raise OutputError(f"{shown}: permission denied (folder {parent} is not writable)") from None
    except OSError as e:
        raise OutputError(f"{shown}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            try:
                os.chmod(tmp, path.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except PermissionError:
        _discard(tmp)
        raise OutputError(f"{shown}: permission denied") from None
    except OSError as e:
        _discard(tmp)
        raise OutputError(f"{shown}: cannot write ({e.strerror})") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
