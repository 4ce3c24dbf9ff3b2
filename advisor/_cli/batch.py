"""The `advisor batch` command: a portfolio of projects in, one JSON line per project out.

Takes a CSV file (columns named by dotted field path), a JSON-lines file or a folder of YAML/JSON
requirements files; reads it in chunks, assesses each chunk vectorised (`batch.assess_chunk`),
in worker processes with `--jobs`, and streams the result lines to a temporary file that
replaces the output only when the batch is complete. Prints a summary on stderr and a progress
bar when stderr is a terminal.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from .._errors import InputError, OutputError, Problem
from .._escape import printable
from .common import make_parent, output_format, rules_option

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

_FOLDER_SUFFIXES = (".yaml", ".yml", ".json")


class _Counter:
    """Characters read so far, for the progress bar."""

    def __init__(self) -> None:
        self.n = 0

    def lines(self, fh: Iterable[str]) -> Iterator[str]:
        for line in fh:
            self.n += len(line)
            yield line


def _stdin_text() -> IO[str]:
    import io

    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text-only stdin (an embedding program's): read it as it is
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _input_kind(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path == "-":
        return "jsonl"
    p = Path(path)
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if not p.exists():
        raise InputError(f"{path}: file not found")
    raise InputError(
        f"{path}: cannot tell the input format from the suffix; use .csv, .jsonl or a folder of "
        "YAML files, or --input-format"
    )


def _folder_records(folder: Path, counter: _Counter) -> Iterator[Any]:
    from .._api import read_limited

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _FOLDER_SUFFIXES)
    for row, path in enumerate(files, 1):
        counter.n += 1
        try:
            data = read_limited(path)
        except InputError as e:
            yield (row, str(path), "bad", ("(file)", e.details[0].message))
            continue
        yield (row, str(path), "doc", data)


def _chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for r in records:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# Worker processes: the prepared pack is built once per process.
_worker_prep: Any = None


def _init_worker(pack: Any) -> None:
    global _worker_prep
    from .._decide import prepare

    _worker_prep = prepare(pack)
    gc.freeze()


def _work(chunk: list[Any], header: list[str], explain: bool, samples: int, points: bool) -> Any:
    from .._batch import assess_chunk

    return assess_chunk(
        chunk, _worker_prep, header=header, explain=explain, samples=samples, points=points
    )


def _context() -> Any:
    import multiprocessing

    from .._many import fork_context

    # The same fork policy as recommend_many (fork shares the loaded pack and starts at once;
    # only on Linux, while this process has no other threads); otherwise spawn.
    return fork_context() or multiprocessing.get_context("spawn")


@click.command(
    "batch",
    epilog="""\b
Examples:
  advisor batch examples/portfolio.csv -o results.jsonl --report portfolio.html
  advisor batch examples/ -o results.csv      # a folder of YAML files; spreadsheet CSV
  advisor batch examples/projects.jsonl -o results.jsonl --explain --jobs 0
""",
)
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUT",
    help="Results: .jsonl (one JSON line per row), .csv (spreadsheet-safe) or - "
    "(stdout); missing folders are created. Any other suffix needs --format.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    help="Results format (default: from the -o suffix; jsonl on stdout).",
)
@click.option(
    "--report",
    metavar="HTML",
    help="Also write a portfolio overview (.html), creating missing folders.",
)
@click.option("--explain", is_flag=True, help="Add exact Shapley attributions to each line.")
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes (0: one per CPU).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Monte Carlo samples per project for the confidence (default 32, a screening "
    "estimate; the pack's count, 2000 by default, reproduces `advisor recommend` "
    "exactly).",
)
@click.option(
    "--input-format",
    "input_format",
    type=click.Choice(["csv", "jsonl", "folder"]),
    help="Input format (default: from the suffix; - reads JSON lines from stdin).",
)
@rules_option()
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: only when stderr is a terminal).",
)
def batch(
    input_path: str,
    output: str,
    fmt: str | None,
    report: str | None,
    explain: bool,
    jobs: int,
    samples: int | None,
    input_format: str | None,
    rules_dir: str | None,
    progress: bool | None,
) -> None:
    """Assess every project of a portfolio: INPUT is a CSV, JSON lines or a folder of YAML files.

    \b
    CSV columns are dotted field paths (name, data.paired_examples, latency.budget_ms,
    regulation.regimes with names separated by ';', ...) plus an optional id column.
    Each row gives one line: status "ok" with the recommendation, or status "error" naming
    the row and the field. Exit 0 when every row is valid, 2 when some were not (all outputs
    are still written).
    """
    from .._api import load_rulepack
    from .._batch import CHUNK_ROWS, DEFAULT_SAMPLES, EXPLAIN_CHUNK_ROWS
    from .._batch_read import csv_records, jsonl_records
    from .._decide import prepare
    from .._output import AtomicWriter, check_target, same_file, write_atomic

    # Unknown suffixes fail before any work, with the same rule as every command's -o.
    out_format = output_format(output, fmt, ("jsonl", "csv"), "jsonl")
    if report:
        output_format(report, None, ("html",), "html", option="--report")
    in_path = Path(input_path)
    try:
        kind = _input_kind(input_path, input_format)
        if kind != "folder" and input_path != "-" and in_path.is_dir():
            raise InputError(
                f"{input_path}: is a folder; use --input-format folder or leave it out"
            )
        if kind == "folder" and not in_path.is_dir():
            raise InputError(f"{input_path}: not a folder")
        if kind != "folder" and input_path != "-" and not in_path.exists():
            raise InputError(f"{input_path}: file not found")
    except OSError as e:  # a name too long, a permission denied on the way
        raise InputError(f"{input_path}: cannot be read ({e.strerror})") from None
    pack = load_rulepack(rules_dir)
    prep = prepare(pack)
    n_samples = samples if samples is not None else DEFAULT_SAMPLES
    n_samples = min(n_samples, pack.uncertainty.samples)
    # Never write over what is read: the input (stdin, a file, each file of a folder) and
    # the rule pack's files.
    inputs = [input_path, rules_dir]
    for target in [output, report]:
        if target and target != "-":
            make_parent(Path(target))
            check_target(Path(target), inputs)
    if report and output != "-" and same_file(Path(report), Path(output)):
        raise OutputError(f"{report}: the report and the results must be different files")
    as_csv = out_format == "csv"
    workers = jobs or (os.cpu_count() or 1)
    show = progress if progress is not None else sys.stderr.isatty()

    counter = _Counter()
    fh: IO[str] | None = None
    header: list[str] = []
    total = 0
    if kind == "folder":
        total = sum(1 for p in in_path.iterdir() if p.is_file() and p.suffix in _FOLDER_SUFFIXES)
        records: Iterator[Any] = _folder_records(in_path, counter)
    else:
        try:
            # surrogateescape: a byte that is not UTF-8 spoils only its own row (the reader
            # reports that row as "not valid UTF-8 text"), never the whole batch.
            fh = (
                _stdin_text()
                if input_path == "-"
                else open(
                    in_path,
                    encoding="utf-8-sig",
                    newline="",  # noqa: SIM115
                    errors="surrogateescape",
                )
            )
        except OSError as e:
            raise InputError(f"{input_path}: cannot be read ({e.strerror})") from None
        if input_path != "-":
            total = in_path.stat().st_size
        lines = counter.lines(fh)
        try:
            if kind == "csv":
                header, records = csv_records(lines, input_path)
            else:
                records = jsonl_records(lines, "<stdin>" if input_path == "-" else input_path)
        except BaseException:
            if input_path != "-":
                fh.close()
            raise

    out_file = AtomicWriter(Path(output)) if output != "-" else None
    sink: IO[str] = out_file.fh if out_file is not None else sys.stdout
    csv_writer = None
    if as_csv:
        import csv

        from .._batch import CSV_COLUMNS

        csv_writer = csv.writer(sink, lineterminator="\n")
        csv_writer.writerow(CSV_COLUMNS)
    counts = {"end_to_end": 0, "modular": 0, "hybrid": 0}
    errors = 0
    rows = 0
    first_errors: list[str] = []
    from .._portfolio import Overview

    overview = Overview()  # what --report shows, in memory that does not grow with the rows
    size = EXPLAIN_CHUNK_ROWS if explain else CHUNK_ROWS
    started = time.perf_counter()
    threshold = gc.get_threshold()
    pool: ProcessPoolExecutor | None = None
    bar: Any = None

    def handle(res: Any) -> None:
        nonlocal errors, rows
        import json

        from .._batch import csv_row

        if csv_writer is not None:
            csv_writer.writerows(map(csv_row, res.lines))
        elif res.lines:
            sink.write("\n".join(res.lines) + "\n")
        for k, v in res.counts.items():
            counts[k] += v
        if res.errors and len(first_errors) < 5:
            for line in res.lines:
                if len(first_errors) >= 5:
                    break
                if '"status":"error"' in line:
                    rec = json.loads(line)
                    e = rec["errors"][0]
                    first_errors.append(
                        f"row {rec['row']} ({rec['source']}): {e['field']}: {e['message']}"
                    )
        errors += res.errors
        rows += len(res.lines)
        overview.extend(res.points)
        if bar is not None:
            bar.update(counter.n - bar.pos)

    ok = False
    try:
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        if show:
            bar = click.progressbar(
                length=max(total, 1), file=sys.stderr, label="assessing", show_eta=True
            ).__enter__()
        want_points = report is not None
        chunks = _chunks(records, size)
        if workers <= 1:
            from .._batch import assess_chunk

            for chunk in chunks:
                handle(
                    assess_chunk(
                        chunk,
                        prep,
                        header=header,
                        explain=explain,
                        samples=n_samples,
                        points=want_points,
                    )
                )
        else:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=_context(),
                initializer=_init_worker,
                initargs=(pack,),
            )
            pending: deque[Future[Any]] = deque()
            for chunk in chunks:
                pending.append(pool.submit(_work, chunk, header, explain, n_samples, want_points))
                if len(pending) >= 2 * workers:
                    handle(pending.popleft().result())
            while pending:
                handle(pending.popleft().result())
        if bar is not None:
            bar.update(max(total, 1) - bar.pos)
        ok = True
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        if pool is not None:
            pool.shutdown(wait=ok, cancel_futures=not ok)
        if fh is not None and input_path != "-":
            fh.close()
        gc.set_threshold(*threshold)
        gc.unfreeze()
        if out_file is not None and not ok:
            out_file.abort()
    if out_file is not None:
        out_file.commit()
    else:
        sys.stdout.flush()

    if report:
        from .._portfolio import portfolio_html

        html = portfolio_html(
            overview,
            title=Path(input_path).name if input_path != "-" else "portfolio",
            source=input_path if input_path != "-" else "<stdin>",
            rulepack=f"{pack.name} {pack.version}",
            samples=n_samples,
        )
        write_atomic(Path(report), html)

    elapsed = max(time.perf_counter() - started, 1e-9)
    shown = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in counts.items())
    where = f" -> {printable(output)}" if output != "-" else ""
    click.echo(
        f"{rows} row{'s' if rows != 1 else ''} in {elapsed:.1f} s ({rows / elapsed:,.0f}/s): "
        f"{shown}; {errors} error{'s' if errors != 1 else ''}{where}"
        + (f"; overview -> {printable(report)}" if report else ""),
        err=True,
    )
    for line in first_errors:  # they quote the rows' own text and file names
        click.echo(f"  {printable(line)}", err=True)
    if errors > len(first_errors):
        click.echo(
            f'  ... and {errors - len(first_errors)} more (status "error" in the output)', err=True
        )
    if errors:
        raise InputError(
            Problem(
                "<stdin>" if input_path == "-" else input_path,
                "",
                f"{errors} of {rows} row{'s' if rows != 1 else ''} failed validation "
                f'(status "error" in {output if output != "-" else "the output"}); '
                "every other row was assessed",
            )
        )
