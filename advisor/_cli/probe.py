"""The `advisor probe` command, and reading tables and probe files for the CLI.

Takes argv (through click); reads a CSV (or Parquet, when pyarrow is installed) into a
`probe.Table`, runs the pure probe, prints a compact table (progress on stderr) and writes
probe.json atomically. Bad input raises `InputError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._errors import InputError
from .common import check_parent, make_parent, output_format, rules_option

if TYPE_CHECKING:
    from .._probe import ProbeResult, Table

SNIFF_BYTES = 64 * 1024


def _reservoir(rows: Any, keep: int, seed: int) -> tuple[list[list[str]], int]:
    """Give up to `keep` rows sampled uniformly (in file order) and the number of rows seen."""
    rng = random.Random(seed)
    kept: list[tuple[int, list[str]]] = []
    n = 0
    for row in rows:
        if len(kept) < keep:
            kept.append((n, row))
        else:
            j = rng.randrange(n + 1)
            if j < keep:
                kept[j] = (n, row)
        n += 1
    kept.sort(key=lambda t: t[0])
    return [r for _, r in kept], n


def read_csv(path: Path, max_rows: int, seed: int = 0) -> Table:
    """Read a CSV (delimiter sniffed among , ; tab |) with a header row into a `Table`.

    Raises:
        InputError: missing or unreadable, binary, not UTF-8, or rows of unequal length.
    """
    from .._probe import Table

    src = str(path)
    try:
        with path.open("rb") as raw:
            head = raw.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{src}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{src}: is a folder, not a data file") from None
    except OSError as e:
        raise InputError(f"{src}: cannot be read ({e.strerror})") from None
    if not head.strip():
        raise InputError(f"{src}: file is empty")
    if b"\x00" in head:
        raise InputError(f"{src}: not a tabular text file (binary content); give a CSV")
    try:
        sample = head.decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as e:
        if len(head) - e.start > 4:  # a multi-byte character cut at the end is fine
            raise InputError(
                f"{src}: not UTF-8 text (byte {e.start}); save the table as UTF-8 CSV"
            ) from None
        sample = head[: e.start].decode("utf-8-sig")
    lines = sample.splitlines()[:50]
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    try:
        dialect: Any = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    width = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, dialect)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{src}: file is empty")
            header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
            width = len(header)
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise InputError(
                    f"{src}: column '{dupes[0]}': appears more than once in the header"
                )

            def rows() -> Any:
                for i, row in enumerate(reader, start=1):
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    if len(row) != width:
                        raise InputError(
                            f"{src}: not a consistent table: data row {i} has {len(row)} "
                            f"field(s), the header has {width}"
                        )
                    yield row

            kept, seen = _reservoir(rows(), max_rows, seed)
    except UnicodeDecodeError as e:
        raise InputError(
            f"{src}: not UTF-8 text ({e.reason}); save the table as UTF-8 CSV"
        ) from None
    except csv.Error as e:
        raise InputError(f"{src}: not a readable CSV ({e})") from None
    cells = [list(col) for col in zip(*kept, strict=True)] if kept else [[] for _ in header]
    return Table(source=src, columns=header, cells=cells, rows_read=seen)


def read_parquet(path: Path, max_rows: int, seed: int = 0) -> Table:
    """Read a Parquet file into a `Table` (needs pyarrow).

    Raises:
        InputError: pyarrow is missing, or the file cannot be read as Parquet.
    """
    from .._probe import Table

    src = str(path)
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found]
    except ImportError:
        raise InputError(
            f"{src}: reading Parquet needs pyarrow (pip install pyarrow); "
            "or export the table as CSV"
        ) from None
    if not path.is_file():
        raise InputError(f"{src}: file not found")
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds; all mean "not Parquet"
        raise InputError(f"{src}: not a readable Parquet file ({type(e).__name__})") from None
    n = table.num_rows
    if n > max_rows:
        keep = sorted(random.Random(seed).sample(range(n), max_rows))
        table = table.take(keep)
    cells = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return Table(source=src, columns=[str(c) for c in table.column_names], cells=cells, rows_read=n)


def read_table(path: Path, max_rows: int, seed: int = 0) -> Table:
    """Read a CSV, or a Parquet file by its suffix, into a `Table`."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return read_parquet(path, max_rows, seed)
    return read_csv(path, max_rows, seed)


def read_probe(file: str) -> ProbeResult:
    """Read and validate a probe.json written by `advisor probe`.

    Raises:
        InputError: one line per problem, naming the file and the field.
    """
    from pydantic import ValidationError

    from .._api import read_limited
    from .._loading import validation_problems
    from .._probe import ProbeResult

    data = read_limited(Path(file))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{file}: not a probe file (not valid JSON: {e})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "advisor-probe":
        raise InputError(
            f"{file}: not a probe file (write one with `advisor probe DATA.csv --target COLUMN`)"
        )
    try:
        return ProbeResult.model_validate(doc)
    except ValidationError as e:
        raise InputError(validation_problems(e, file, ProbeResult)) from None


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def _iv(iv: Any) -> str:
    return f"{iv.low:.3f} to {iv.high:.3f}"


def summary(result: ProbeResult, prior: float | None = None) -> str:
    """Give the compact table printed after a probe."""
    d = result.data
    metric = "accuracy" if d.task == "classification" else "R2"
    classes = f", {len(d.classes)} classes" if d.classes else ""
    lines = [
        f"{d.source}: {d.rows_used} rows, {len(d.features)} features, target '{d.target}' "
        f"({d.task}{classes}; {d.task_note})",
    ]
    if d.encoded:
        lines.append(
            "one-hot encoded: "
            + ", ".join(
                f"{e.column} ({len(e.levels)}{' + other' if e.other else ''} levels)"
                for e in d.encoded
            )
        )
    if d.dropped:
        lines.append("dropped: " + ", ".join(f"{c.column} ({c.reason})" for c in d.dropped))
    rows: list[tuple[str, str, str, str]] = [
        ("measure", "value", "interval", "note"),
        (
            f"interpretable {metric}",
            _fmt(result.interpretable.test.value),
            _iv(result.interpretable.test),
            result.interpretable.model.split(" (")[0],
        ),
        (
            f"black box {metric}",
            _fmt(result.black_box.test.value),
            _iv(result.black_box.test),
            result.black_box.model.split(" (")[0],
        ),
        (
            "gap (black box - interpretable)",
            f"{result.accuracy_gap.value:+.3f}",
            _iv(result.accuracy_gap),
            "paired bootstrap, 95%",
        ),
        (
            "local-surrogate fidelity",
            _fmt(result.surrogate.agreement.value),
            _iv(result.surrogate.agreement),
            f"LIME-style agreement, {result.surrogate.points} points"
            + (f"; prior {prior:.2f}" if prior is not None else ""),
        ),
        (
            "SHAP rank stability",
            _fmt(result.stability.rank_correlation.value),
            _iv(result.stability.rank_correlation),
            f"Spearman, top {result.stability.top_k}, {result.stability.retrains} retrains (range)",
        ),
        (
            "interpretable rank stability",
            _fmt(result.interpretable.rank_stability.value),
            _iv(result.interpretable.rank_stability),
            "same retrains (range)",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    top = ", ".join(f.feature for f in result.stability.top_features[:5])
    lines.append(f"top features (mean |SHAP|): {top}")
    return "\n".join(lines) + "\n"


@click.command(
    epilog="""\b
Examples:
  advisor probe --demo                                    # scikit-learn's breast cancer data
  advisor probe examples/loans.csv --target defaulted -o probe.json
  advisor recommend examples/credit-scoring.yaml --probe probe.json -o report.html
"""
)
@click.argument("data", required=False, metavar="DATA.csv")
@click.option("--target", metavar="COLUMN", help="The column to predict.")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    help="Default: inferred from the target (text or few integer values: classification).",
)
@click.option(
    "-o",
    "--output",
    default="probe.json",
    show_default=True,
    metavar="OUT",
    help="Write the measurements here (.json, atomically, creating missing folders); "
    "'-' prints the JSON instead.",
)
@click.option("--demo", is_flag=True, help="Run on scikit-learn's bundled breast cancer data.")
@click.option(
    "--interpretable",
    type=click.Choice(["linear", "tree"]),
    default="linear",
    show_default=True,
    help="The interpretable model: regularised linear or depth-4 tree.",
)
@click.option(
    "--repeats",
    type=click.IntRange(2, 100),
    default=5,
    show_default=True,
    help="Bootstrap retrains for SHAP stability.",
)
@click.option(
    "--points",
    type=click.IntRange(10, 5000),
    default=200,
    show_default=True,
    help="Test points explained by local surrogates.",
)
@click.option(
    "--max-rows",
    type=click.IntRange(50, 10_000_000),
    default=20000,
    show_default=True,
    help="Use a random sample of this many rows from larger files.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed of the row sample, the split, the bootstrap and the perturbations: the "
    "same data, settings and seed give the same probe.json.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Threads for scikit-learn (1 is fastest on a busy machine).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@rules_option(
    help="Rule pack whose end-to-end prior the summary compares with (default: "
    "$ADVISOR_RULES, else the bundled pack)."
)
def probe(
    data: str | None,
    target: str | None,
    task: str | None,
    output: str,
    demo: bool,
    interpretable: str,
    repeats: int,
    points: int,
    max_rows: int,
    seed: int,
    threads: int,
    quiet: bool,
    rules_dir: str | None,
) -> None:
    """Measure explainability on a tabular sample of your data (CSV; Parquet with pyarrow).

    Trains an interpretable model and a gradient-boosting black box, reports their held-out
    accuracy (or R2) with bootstrap intervals, the fidelity of LIME-style local surrogates of
    the black box and the stability of its SHAP attributions, and writes probe.json for
    `advisor recommend REQ.yaml --probe probe.json`.
    """
    from .._output import check_target, write_atomic
    from .._probe import ProbeSettings, demo_table, prepare, run_probe

    output_format(output, None, ("json",), "json")  # an unknown suffix fails before training
    if demo and data:
        raise click.UsageError("give DATA.csv or --demo, not both")
    if not demo and not data:
        raise click.UsageError("give DATA.csv and --target COLUMN, or --demo")
    if not demo and not target:
        raise click.UsageError("--target COLUMN is required with DATA.csv")
    from .._api import load_rulepack
    from .._escape import printable

    if output != "-":
        check_parent(Path(output))  # its folders can be made (or say why not)
        check_target(Path(output), [data, rules_dir])  # before minutes of work
    # Load the pack first: a broken pack should fail before minutes of training, not after.
    prior = load_rulepack(rules_dir).explainability.priors["end_to_end"].fidelity
    start = time.perf_counter()

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - start:5.1f}s] {printable(msg)}", err=True)

    if demo:
        table = demo_table()
        target = target or "diagnosis"
    else:
        say(f"reading {data}")
        table = read_table(Path(str(data)), max_rows, seed)
    assert target is not None
    dataset = prepare(table, target, task)  # type: ignore[arg-type]
    settings = ProbeSettings(
        seed=seed,
        interpretable=interpretable,
        repeats=repeats,
        points=points,
        max_rows=max_rows,
    )
    result = run_probe(dataset, settings, say, threads=threads)
    text = result.to_json()
    say("done")
    table_text = summary(result, prior)
    table_text = printable(table_text, keep="\n")  # it names the data's own columns
    if output == "-":
        click.echo(table_text, err=True, nl=False)
        click.echo(text, nl=False)
        return
    target_path = Path(output)
    make_parent(target_path)
    check_target(target_path, [data, rules_dir])
    write_atomic(target_path, text)
    click.echo(table_text + f"-> {printable(output)}", nl=True)
    if not quiet:
        sys.stderr.flush()
