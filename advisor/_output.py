"""Writing output files safely: never over an input, never half-written, no litter left behind.

Takes an output path (and the inputs the command read); writes text so that a crash, a kill or
a full disk at any moment leaves the previous file intact.

- `check_target` refuses, before any work, an output that is one of the inputs: compared by
  device and inode with every file the command reads (stdin included, through fstat), so
  `-o /dev/stdin`, `/proc/self/fd/0`, `/dev/fd/0`, a symbolic or a hard link are all caught.
- `AtomicWriter` (and `write_atomic` for a whole text) writes a temporary file beside the
  target, fsyncs it and renames it over the target. A symbolic link is followed: the file it
  points to is replaced, the link stays (a dangling link gets its target created, when the
  target's folder exists). A target that is not a regular file (/dev/null, /dev/stdout, a FIFO)
  is written into, never replaced.
- Temporary files are named `.<name>.advisor-tmp-<pid>-<8 hex digits>` (the name shortened so
  the whole stays within the file system's name limit) and hold an exclusive flock(2) while
  they are written. Each write first sweeps the folder of stale temporaries: only a regular
  file with that name pattern, owned by this user, whose lock nobody holds and whose writer
  is gone (the pid in its name is not a running process, or the file is older than
  STALE_AFTER_S seconds). A live writer holds its lock from just after creating the file
  until after the rename, so its file is never taken for stale.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

from ._errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, so the sweep is still safe
    fcntl = None  # type: ignore[assignment]

TMP_MARK = ".advisor-tmp-"
# A temporary file this program made: ".<name>.advisor-tmp-<pid>-<8 hex>".
_TMP_NAME = re.compile(r"\..*\.advisor-tmp-(\d{1,10})-([0-9a-f]{8})", re.DOTALL)
# A temporary file with a free lock this old is stale even if a process has its pid now (the
# pid was reused): a live writer holds the lock the whole time, so age only matters for the
# microseconds between creating the file and locking it.
STALE_AFTER_S = 600
_NAME_MAX = 255

Identity = tuple[int, int]


def _stat_shown(path: Path, shown: Path) -> os.stat_result | None:
    """stat(2) following links; None when nothing is there. Other failures are OutputErrors."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise OutputError(f"{shown}: a part of the path is not a folder") from None
    except PermissionError:
        raise OutputError(f"{shown}: permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(f"{shown}: too many levels of symbolic links") from None
        if e.errno == errno.ENAMETOOLONG:
            size = len(os.fsencode(shown.name))
            if size > _NAME_MAX:
                raise OutputError(
                    f"{shown}: the file name is {size} bytes long; at most "
                    f"{_NAME_MAX} bytes are allowed"
                ) from None
            raise OutputError(f"{shown}: the path is too long") from None
        raise OutputError(f"{shown}: cannot write ({e.strerror})") from None


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return _NAME_MAX


def input_identities(inputs: Iterable[str | Path | None]) -> set[Identity]:
    """Give the (device, inode) of every input.

    Args:
        inputs: file names; the string "-" stands for stdin (its fstat), a folder for every
            regular file directly in it (a batch folder, a rule pack), None is skipped.
            Inputs that cannot be stat'ed are skipped: reading them fails on its own.
    """
    ids: set[Identity] = set()
    for item in inputs:
        if item is None:
            continue
        if isinstance(item, str) and item == "-":
            try:
                st = os.fstat(sys.stdin.fileno())
            except (AttributeError, ValueError, OSError):  # closed, or not a real descriptor
                continue
            ids.add((st.st_dev, st.st_ino))
            continue
        try:
            st = os.stat(item)
        except (OSError, ValueError):
            continue
        ids.add((st.st_dev, st.st_ino))
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(item) as entries:
                    for entry in entries:
                        try:
                            est = entry.stat()
                        except OSError:
                            continue
                        if stat.S_ISREG(est.st_mode):
                            ids.add((est.st_dev, est.st_ino))
            except OSError:
                continue
    return ids


def check_target(path: Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse, before any work, an output path that cannot or must not be written.

    Refused: the same file as one of `inputs` (see `input_identities`; a character device such
    as /dev/null or a terminal may be both, since writing it destroys nothing), a folder, a
    name longer than the file system allows, a missing folder, a dangling link whose target's
    folder is missing, a link loop.

    Raises:
        OutputError: with a one-line reason naming the path.
    """
    st = _stat_shown(path, path)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path}: is a folder; give a file name")
        if not stat.S_ISCHR(st.st_mode) and (st.st_dev, st.st_ino) in input_identities(inputs):
            raise OutputError(f"{path}: refusing to overwrite the input file")
        if not stat.S_ISREG(st.st_mode):
            return  # a FIFO or device: written into, so no temporary file name to check
    if not os.path.islink(path) and not Path(os.path.realpath(path)).parent.exists():
        # Its missing folders are made when it is written (every command makes them), so
        # nothing there can be an input; its name must still fit the file system.
        ancestor = Path(os.path.realpath(path)).parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.is_dir():
            limit = _name_max(ancestor)
            size = len(os.fsencode(path.name))
            if size > limit:
                raise OutputError(
                    f"{path}: the file name is {size} bytes long; at most {limit} bytes are allowed"
                )
        return
    final_path(path)


def same_file(a: Path, b: Path) -> bool:
    """Tell whether two output paths name one file (by inode when both exist, else by path)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def final_path(shown: Path) -> Path:
    """Give the regular file to replace for output `shown` (links resolved), checking its
    folder exists and its name fits; else raise OutputError."""
    target = Path(os.path.realpath(shown))
    parent = target.parent
    if not parent.is_dir():
        if os.path.islink(shown):
            raise OutputError(
                f"{shown}: is a symbolic link to {target}, whose folder {parent} does not exist"
            )
        raise OutputError(f"{shown}: folder {shown.parent} does not exist")
    limit = _name_max(parent)
    size = len(os.fsencode(target.name))
    if size > limit:
        raise OutputError(
            f"{shown}: the file name is {size} bytes long; at most {limit} bytes are allowed"
        )
    return target


def _temp_name(name: str, limit: int) -> str:
    suffix = f"{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    room = limit - 1 - len(suffix)  # the leading "." and the suffix
    raw = os.fsencode(name)
    if len(raw) > room:
        raw = raw[:room]
        while raw and (raw[-1] & 0xC0) == 0x80:  # never cut a UTF-8 sequence in two
            raw = raw[:-1]
        if raw and raw[-1] >= 0xC0:
            raw = raw[:-1]
    return "." + os.fsdecode(raw) + suffix


def _lock(fd: int, block: bool) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: fall back on the pid and the age
        return True
    return True


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    except (OverflowError, OSError):
        return False
    return True


def sweep_stale(folder: Path) -> list[str]:
    """Delete the stale temporary files of this program in `folder`; give their names.

    A file is deleted only when all hold: its name has the pattern of `_temp_name`; it is a
    regular file (not a link) owned by this user; no process holds its lock; and the pid in
    its name is not running, or the file is older than STALE_AFTER_S seconds. Errors (an
    unreadable folder, a file gone meanwhile) skip the file: sweeping never fails a write.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    now = time.time()
    for entry in entries:
        if TMP_MARK not in entry.name:
            continue
        m = _TMP_NAME.fullmatch(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        if _pid_running(int(m[1])) and now - st.st_mtime < STALE_AFTER_S:
            continue
        if _remove_if_unlocked(entry.path, st):
            removed.append(entry.name)
    return removed


def _remove_if_unlocked(path: str, st: os.stat_result) -> bool:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not _lock(fd, block=False):
            return False
        again = os.lstat(path)  # still the very file we locked, under that name
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class AtomicWriter:
    """A text file written beside its target and renamed over it on `commit`.

    Use as a context manager (commit on success, abort on an exception), or call `commit` or
    `abort` yourself. `fh` is the text stream to write to (UTF-8, no newline translation).

    Args:
        path: the output path as the user gave it (shown in messages).

    Raises:
        OutputError: the folder is missing or not writable, the name too long, the target a
            folder; `commit` raises it when the disk is full or the rename fails.
    """

    def __init__(self, path: Path) -> None:
        self.shown = path
        self.tmp: str | None = None
        st = _stat_shown(path, path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path}: is a folder; give a file name")
        if st is not None and not stat.S_ISREG(st.st_mode):
            # /dev/null, /dev/stdout, a FIFO: write into it; a rename would replace the node.
            self.path = path
            try:
                self.fh: IO[str] = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            except OSError as e:
                raise OutputError(f"{path}: cannot write ({e.strerror})") from None
            return
        self.path = final_path(path)
        self._mode = (st.st_mode & 0o777) if st is not None else 0o644
        parent = self.path.parent
        sweep_stale(parent)
        limit = _name_max(parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_NOFOLLOW", 0)
        for attempt in range(100):
            tmp = str(parent / _temp_name(self.path.name, limit))
            try:
                fd = os.open(tmp, flags, 0o600)
            except FileExistsError:  # the same 32 random bits twice: draw again
                if attempt == 99:
                    raise OutputError(
                        f"{path}: cannot create a temporary file in {parent}"
                    ) from None
                continue
            except PermissionError:
                raise OutputError(
                    f"{path}: permission denied (folder {parent} is not writable)"
                ) from None
            except OSError as e:
                raise OutputError(f"{path}: cannot write ({e.strerror})") from None
            break
        self.tmp = tmp
        _lock(fd, block=True)
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        """Make the written text the target's content (flush, fsync, rename, fsync folder)."""
        if self.tmp is None:  # a special file: nothing to rename
            try:
                self.fh.close()
            except OSError as e:
                raise OutputError(f"{self.shown}: cannot write ({e.strerror})") from None
            return
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(self.fh.fileno(), self._mode)
                else:
                    os.chmod(self.tmp, self._mode)
            except OSError:
                pass
            if os.name == "nt":  # Windows cannot rename an open file
                self.fh.close()
            # Renamed while still open and locked: a sweep in another process never sees
            # this file unlocked under its temporary name.
            os.replace(self.tmp, self.path)
            self.tmp = None
            self.fh.close()
        except PermissionError:
            self.abort()
            raise OutputError(f"{self.shown}: permission denied") from None
        except OSError as e:
            self.abort()
            raise OutputError(f"{self.shown}: cannot write ({e.strerror})") from None
        except BaseException:
            self.abort()
            raise
        _fsync_folder(self.path.parent)

    def abort(self) -> None:
        """Discard the temporary file; the target is left as it was."""
        try:
            self.fh.close()
        except OSError:
            pass
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too.
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see `AtomicWriter`).

    Raises:
        OutputError: the folder is missing or not writable, the disk full, the name too long.
    """
    with AtomicWriter(path) as out:
        out.fh.write(text)
