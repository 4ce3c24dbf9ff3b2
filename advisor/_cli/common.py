"""What every `advisor` command shares: the output format from a file's suffix, output folders,
the `--rules` option (with its ADVISOR_RULES default) and stdout writes that report a full disk.

Takes option values as click parsed them; gives formats, paths and option decorators, or raises
`InputError` / `OutputError` with one line naming the path. Imports only click and the standard
library, so that `--help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from .._errors import InputError, OutputError
from .._escape import printable

#: The environment variable that names an organisation's default rule pack folder; `--rules`
#: given on the command line takes precedence over it.
ENV_RULES = "ADVISOR_RULES"

#: Every output suffix any command knows, and the format it means. Each command accepts the
#: formats it can write (`output_format`'s `allowed`); any other suffix is refused.
SUFFIX_FORMATS: dict[str, str] = {
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".txt": "text",
}

#: What `recommend` and `ask` write (adr only with --format: its suffix is .md).
REPORT_FORMATS = ("html", "json", "md", "adr")

F = TypeVar("F", bound=Callable[..., Any])


def output_format(
    output: str | None,
    fmt: str | None,
    allowed: Sequence[str],
    default: str,
    *,
    option: str = "-o",
) -> str:
    """Give the format to write: `fmt` when given, else the one `output`'s suffix names.

    Args:
        output: the output path (None or "-": stdout, which gets `default`).
        fmt: the format the user chose with --format, or None.
        allowed: the formats this command writes (the suffix must name one of them).
        default: the format for stdout, and for a special file (/dev/stdout, a FIFO).
        option: the option's name, for the message.

    Raises:
        InputError: the suffix names no format this command writes, and `fmt` is None. The
            one line names the path and the suffixes that work.
    """
    if fmt:
        return fmt
    if output is None or output == "-":
        return default
    path = Path(output)
    if path.exists() and not path.is_file():
        # /dev/stdout, /dev/null, a FIFO: written into like stdout. A folder: the writer
        # refuses it with its own message ("is a folder; give a file name").
        return default
    suffix = path.suffix.lower()
    found = SUFFIX_FORMATS.get(suffix)
    if found is not None and found in allowed:
        return found
    known: list[str] = []
    for f in allowed:  # the first suffix of each format, in the command's order
        first = next((s for s, g in SUFFIX_FORMATS.items() if g == f), None)
        if first and first not in known:
            known.append(first)
    said = f"the suffix '{Path(output).suffix}'" if suffix else "a name without a suffix"
    choose = ", or give --format" if option == "-o" else ""
    raise InputError(
        f"{output}: cannot tell what to write from {said}; use {', '.join(known)}{choose}"
    )


def make_parent(path: Path) -> None:
    """Create the folders above an output file that do not exist yet (like `mkdir -p`).

    Raises:
        OutputError: a part of the path is a file, or a folder cannot be created.
    """
    parent = path.parent
    if not str(parent) or parent.is_dir():
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path}: {_first_file(parent)} is a file, not a folder") from None
    except NotADirectoryError:
        raise OutputError(f"{path}: {_first_file(parent)} is a file, not a folder") from None
    except PermissionError:
        raise OutputError(f"{path}: permission denied (cannot create folder {parent})") from None
    except OSError as e:
        raise OutputError(f"{path}: cannot create folder {parent} ({e.strerror})") from None


def check_parent(path: Path) -> None:
    """Check, before any work, that `make_parent` can make the folders above `path`: the
    nearest existing one is a folder this process can write into.

    Raises:
        OutputError: a part of the path is a file, or the nearest folder is not writable.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if parent.is_dir():
        return
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: {_first_file(parent)} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise OutputError(f"{path}: permission denied (cannot create folder {parent})")


def _first_file(parent: Path) -> Path:
    for p in [*reversed(parent.parents), parent]:
        if p.exists() and not p.is_dir():
            return p
    return parent


def rules_option(
    help: str = "Rule pack folder (default: $ADVISOR_RULES, else the bundled pack).",
) -> Callable[[F], F]:
    """The `--rules DIR` option; its default is the ADVISOR_RULES environment variable."""
    return click.option("--rules", "rules_dir", metavar="DIR", envvar=ENV_RULES, help=help)


def echo_stdout(text: str) -> None:
    """Write `text` to stdout; a full disk or failing device is an `OutputError` (exit 2).

    Raises:
        OutputError: writing or flushing stdout failed (ENOSPC on `> /dev/full`, EIO...).
    """
    try:
        click.echo(text, nl=False)
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(f"<stdout>: cannot write ({e.strerror or e})") from None


def report_format(output: str | None, fmt: str | None) -> str:
    """Give the report format for `recommend` and `ask`: --format, else -o's suffix, else json."""
    return output_format(output, fmt, REPORT_FORMATS, "json")


def emit(text: str, output: str | None, inputs: list[str | Path | None]) -> None:
    """Write `text` to stdout (None or "-") or atomically to `output`, creating its folders.

    Raises:
        OutputError: the target is an input, a folder, or cannot be written.
    """
    if output is None or output == "-":
        echo_stdout(text)
        return
    from .._output import check_target, write_atomic

    target = Path(output)
    make_parent(target)
    check_target(target, inputs)
    write_atomic(target, text)


def warn(lines: list[str]) -> None:
    """Print an assessment's warnings on stderr, one `warning:` line each (made printable)."""
    for line in lines:
        click.echo(f"warning: {printable(line)}", err=True)
