"""Portfolio batches: many projects' requirements in, one result record per project out.

Takes input rows (CSV lines with dotted column names, JSON lines, or parsed documents) and a
rule pack; gives, per row, either a result (recommendation, confidence, scores, rules fired and,
when asked, exact Shapley attributions) or the validation problems that name the row and the
field. A chunk's CSV records and JSON lines are read, checked and encoded by column, and their
result lines written by column, without a model or a record per row; rows the column checks do
not vouch for go through the requirements model one by one (its messages, the same bytes). The
rows of a chunk are decided together by the one decision path (`decide.decide`, which a single
assessment uses with one row, or `decide.decide_encoded` from encoded columns): the same
encoding, engine, Monte Carlo stream and exact Shapley values, vectorised over the rows; this
module holds no decision maths of its own. Pure: no files, no printing (the CLI, `_cli/batch.py`,
reads and writes).
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from ._errors import InputError, Problem
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, OPTIONS, get_path
from ._loading import (
    MAX_BYTES,
    ParseError,
    first_bad_value,
    parse_text,
    strict_json,
    text_ok,
    validation_details,
)
from ._requirements import (
    DEFAULT_EXPLAINABILITY,
    EXPLAINABILITY_ORDER,
    MIN_BUDGET_MS,
    Range,
    Requirements,
    field_info,
    field_paths,
    midpoint,
    typed_number,
)

#: Rows evaluated together; fixed, so that results never depend on --jobs.
CHUNK_ROWS = 2000
#: Rows per chunk when attributions are computed (each costs thousands of evaluated rows).
EXPLAIN_CHUNK_ROWS = 100
#: Monte Carlo samples per project in a batch unless told otherwise: the first this many of the
#: pack's own sample stream (a screening estimate: its standard error is at most 0.09), so
#: `--samples` equal to the pack's count (2,000 by default) reproduces `advisor recommend`'s
#: confidence exactly, at about 20 times the cost.
DEFAULT_SAMPLES = 32

#: An optional CSV column / JSON key that identifies a project; echoed, never validated.
ID_KEY = "id"


# ---------------------------------------------------------------------------------------------
# Input rows.


@dataclass(frozen=True)
class Item:
    """One input row: its position, where it came from, and its parsed mapping or problems."""

    row: int
    source: str
    doc: dict[str, Any] | None
    problems: tuple[tuple[str, str], ...] = ()
    ident: str | None = None
    invalid: bool = False


def _csv_columns() -> dict[str, str]:
    # Allowed column -> the requirement field it fills; numeric fields also take .low/.high.
    cols = {p: p for p in field_paths()}
    for p in NUMERIC_FIELDS:
        cols[f"{p}.low"] = p
        cols[f"{p}.high"] = p
    return cols


_SPLIT = re.compile(r"[;,|\s]+")
_TEXT, _REGIMES, _VERSION, _NUMBER, _BOUND, _ID = range(6)


class _CellError(ValueError):
    pass


#: Text columns that are free text, never choices.
_FREE_TEXT = ("name", "description")


def _unsure_cell(text: str) -> Any:
    # An unsure answer in a cell: "medium|high" (equally likely) or "medium=0.7|high=0.3"; the
    # requirements model validates the choices and weights like {one_of: ...} anywhere else.
    if "|" not in text:
        return text
    parts = [p.strip() for p in text.split("|") if p.strip()]
    if all("=" in p for p in parts):
        weights: dict[str, Any] = {}
        for p in parts:
            key, _, w = p.partition("=")
            try:
                weights[key.strip()] = float(w)
            except ValueError:
                weights[key.strip()] = w.strip()  # the model says what is wrong
        return {"one_of": weights}
    return {"one_of": parts}


@lru_cache(maxsize=16)
def _plan(header: tuple[str, ...]) -> tuple[tuple[int, str, tuple[str, ...], int], ...]:
    # Per column: its index, name, path in the mapping and how its text is read.
    allowed = _csv_columns()
    plan = []
    for i, name in enumerate(header):
        if name == ID_KEY:
            kind = _ID
        elif name == "regulation.regimes":
            kind = _REGIMES
        elif name == "schema_version":
            kind = _VERSION
        elif allowed.get(name) in NUMERIC_FIELDS:
            kind = _BOUND if name.endswith((".low", ".high")) else _NUMBER
        else:
            kind = _TEXT
        plan.append((i, name, tuple(name.split(".")), kind))
    return tuple(plan)


def _number(name: str, text: str, whole: bool) -> Any:
    # Plain numbers first (fast); then the questionnaire's suffixes, units and ranges.
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    from ._units import parse_number_or_range, parse_quantity

    field = CONDITION_FIELDS[name.removesuffix(".low").removesuffix(".high")]
    kind: Literal["count", "duration"] = field.scale or "count"
    try:
        return parse_number_or_range(text, kind) if whole else parse_quantity(text, kind)
    except ValueError as e:
        raise _CellError(str(e)) from None


_BOTH = "give either the number or its .low/.high columns, not both"


def check_header(header: list[str], source: str) -> list[str]:
    """Check a CSV header of dotted field paths; give the column names, stripped.

    Raises:
        InputError: an empty, unknown or duplicate column, one line each.
    """
    names = [h.strip() for h in header]
    allowed = _csv_columns()
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, name in enumerate(names, 1):
        where = f"header column {i}"
        if not name:
            problems.append(Problem(source, where, "empty column name"))
        elif not text_ok(name):
            problems.append(Problem(source, where, "not valid UTF-8 text"))
        elif name in seen:
            problems.append(Problem(source, where, f"duplicate column '{name}'"))
        elif name != ID_KEY and name not in allowed:
            import difflib

            hint = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            problems.append(Problem(source, where, f"unknown field '{name}'{extra}"))
        seen.add(name)
    if problems:
        raise InputError(problems)
    return names


#: A raw input row as the reader gives it, cheap to send to a worker process:
#: (row, source, kind, payload) with kind "csv" (cells), "json" (a line), "doc" (a file's
#: bytes) or "bad" ((field, message)).
Raw = tuple[int, str, str, Any]


def csv_records(lines: Iterable[str], source: str) -> tuple[list[str], Iterator[Raw]]:
    """Read CSV text: a header of dotted field paths, then one project per record.

    Empty cells are left out (the field's default applies). `regulation.regimes` takes names
    separated by `;` (or `,`, `|`, spaces); numbers take the suffixes of the questionnaire
    (`20k`, `2 s`) or a range (`10k-50k`), or use `<field>.low` / `<field>.high` columns. Blank
    records are skipped; every other record gives exactly one row.

    Args:
        lines: the file's text, line by line (opened with newline="").
        source: the file's name, for messages.

    Returns:
        The header and the rows, lazily.

    Raises:
        InputError: the header is missing, or has an unknown or duplicate column.
    """
    reader = csv.reader(lines)
    try:
        first = next(reader)
    except StopIteration:
        raise InputError(
            Problem(source, "", "the CSV file is empty (expected a header row)")
        ) from None
    except csv.Error as e:
        raise InputError(Problem(source, "line 1", f"not a valid CSV header ({e})")) from None
    header = check_header(first, source)

    def rows() -> Iterator[Raw]:
        row = 0
        prev = reader.line_num
        while True:
            try:
                for cells in reader:  # the loop itself in C; a bad record ends it, then resumes
                    start = prev + 1
                    prev = reader.line_num
                    # Whitespace-only cells all round: a blank record, not a row.
                    if not cells or not "".join(cells).strip():
                        continue
                    row += 1
                    yield (row, f"{source}:{start}", "csv", cells)
                return
            except csv.Error as e:
                row += 1
                start = prev + 1
                prev = reader.line_num
                yield (row, f"{source}:{start}", "bad", ("(row)", f"not valid CSV ({e})"))

    return header, rows()


def jsonl_records(lines: Iterable[str], source: str) -> Iterator[Raw]:
    """Read JSON lines: one requirements object per non-blank line.

    Args:
        lines: the file's text, line by line.
        source: the file's name, for messages.
    """
    row = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row += 1
        yield (row, f"{source}:{lineno}", "json", line)


def to_item(raw: Raw, header: Sequence[str] = ()) -> Item:
    """Parse one raw row into an `Item` (its mapping, or the problems that name the field)."""
    row, where, kind, payload = raw
    if kind == "csv":
        return _csv_item(row, where, header, payload)
    if kind == "json":
        return _json_item(row, where, payload)
    if kind == "doc":
        try:
            doc = parse_text(payload, where)
        except ParseError as e:
            return Item(row, where, None, ((e.field or "(file)", e.message),))
        return _item_from_doc(row, where, doc)
    return Item(row, where, None, (tuple(payload),))


def to_item_safely(raw: Raw | Item, header: Sequence[str] = ()) -> Item:
    """`to_item`, except that a row no reader anticipated becomes that row's problem: one bad
    row never stops a batch."""
    if isinstance(raw, Item):
        return raw
    try:
        return to_item(raw, header)
    except Exception as e:  # noqa: BLE001 - isolates the row; the message says it is a bug
        return Item(
            raw[0],
            raw[1],
            None,
            (("(row)", f"could not be read ({type(e).__name__}: {e}; a bug, please report it)"),),
        )


def _csv_item(row: int, where: str, header: Sequence[str], cells: list[str]) -> Item:
    if len(cells) != len(header):
        return Item(
            row, where, None, (("(row)", f"has {len(cells)} cells, the header has {len(header)}"),)
        )
    doc: dict[str, Any] = {}
    ident: str | None = None
    bad: list[tuple[str, str]] = []
    for i, name, parts, kind in _plan(tuple(header)):
        text = cells[i].strip()
        if not text:
            continue
        if not text_ok(text):  # bytes that were not UTF-8 (read with surrogateescape)
            bad.append((".".join(parts[:2]) if kind != _ID else ID_KEY, "not valid UTF-8 text"))
            continue
        if kind == _TEXT:
            value: Any = _unsure_cell(text) if name not in _FREE_TEXT else text
        elif kind == _ID:
            ident = text
            continue
        elif kind == _REGIMES:
            value = [r for r in _SPLIT.split(text) if r]
        elif kind == _VERSION:
            # isdigit() is true for '²' too, which int() refuses; the model says what is wrong.
            value = int(text) if text.isascii() and text.isdigit() else text
        else:
            try:
                value = _number(name, text, kind == _NUMBER)
            except _CellError as e:
                bad.append((".".join(parts[:2]), str(e)))
                continue
        node = doc
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                node = {}
                bad.append((".".join(parts[:2]), _BOTH))
                break
            node = nxt
        else:
            if parts[-1] in node:
                bad.append((".".join(parts[:2]), _BOTH))
            else:
                node[parts[-1]] = value
    if bad:
        return Item(row, where, doc, tuple(dict.fromkeys(bad)), ident, invalid=True)
    return Item(row, where, doc, (), ident)


def _json_item(row: int, where: str, line: str) -> Item:
    if len(line) > MAX_BYTES:
        return Item(row, where, None, (("(row)", "line is larger than 1 MB"),))
    if not text_ok(line):  # bytes that were not UTF-8 (read with surrogateescape)
        return Item(row, where, None, (("(row)", "not valid UTF-8 text"),))
    try:
        doc = strict_json(line)
    except ValueError as e:
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        return Item(row, where, None, (("(row)", f"not valid JSON ({msg})"),))
    except RecursionError:
        return Item(row, where, None, (("(row)", "nested too deeply to read"),))
    bad = first_bad_value(doc)
    if bad is not None:
        return Item(row, where, None, ((bad[0], bad[2]),))
    return _item_from_doc(row, where, doc)


def _item_from_doc(row: int, where: str, doc: Any) -> Item:
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else type(doc).__name__
        problem = ("(top level)", f"must be a mapping of fields, got {kind}")
        return Item(row, where, None, (problem,))
    ident = doc.get(ID_KEY)
    if ID_KEY in doc:
        doc = {k: v for k, v in doc.items() if k != ID_KEY}
    return Item(row, where, doc, (), None if ident is None else str(ident))


# ---------------------------------------------------------------------------------------------
# Validation and the feature matrix.


def _problems(err: ValidationError, source: str) -> tuple[tuple[str, str], ...]:
    return tuple((p.field, p.message) for p in validation_details(err, source, Requirements))


def validate(item: Item) -> Requirements | tuple[tuple[str, str], ...]:
    """Give the item's validated requirements, or its problems as (field, message) pairs."""
    if item.doc is None:
        return item.problems
    try:
        req = Requirements.model_validate(item.doc)
    except ValidationError as e:
        # Cells that could not be read were left out; the model then calls them missing.
        bad = {f for f, _ in item.problems}
        more = tuple(
            p
            for p in _problems(e, item.source)
            if not any(
                p[0] == f
                or p[0].startswith(f + ".")
                or (f.startswith(p[0] + ".") and p[1] == "required field is missing")
                for f in bad
            )
        )
        return item.problems + more
    return item.problems if item.invalid else req


# ---------------------------------------------------------------------------------------------
# Column-wise reading and checks: the rows the checks vouch for, without a model per row.
#
# A chunk's CSV cells (or JSON lines' values) are read into one column per field and checked a
# column at a time against what the requirements model accepts, for the forms that make up
# nearly every real row: a listed choice, true/false, a finite number or range inside the
# field's bounds, regime names. Any row with something else (a problem, an unsure answer, a
# form the checks do not know) takes the row path (`to_item` and `validate`, the model itself),
# so its problems are the model's own lines, named by row and field, and a row the column
# checks accept is one the model accepts with the same values (tests/test_batch.py pins both).


class _Slow:
    """The mark of a value the column checks do not vouch for (its row takes the row path)."""


class _Absent:
    """The mark of an empty cell or a key left out (the field's default applies)."""


_SLOW = _Slow()
_ABSENT = _Absent()

#: Bounds of the numeric fields (lowest, highest), as the requirements model checks them
#: (`Data._check_paired`, `Latency._check_budget`; tests/test_batch.py holds them together).
_NUMBER_BOUNDS = {
    "data.paired_examples": (0.0, 1e12),
    "latency.budget_ms": (MIN_BUDGET_MS, 86_400_000.0),
}


class _Memo(dict[Any, Any]):
    # A cache that computes on a miss: `[memo[c] for c in column]` runs at dict speed.
    def __init__(self, f: Any) -> None:
        super().__init__()
        self.f = f

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.f(key)
        return value


@dataclass(frozen=True)
class _Spec:
    """How one field's column is checked: kind, the accepted names, the default."""

    path: str
    kind: str  # choice, bool, number, regimes, text, version
    choices: frozenset[Any] = frozenset()
    optional: bool = False
    default: Any = None
    required: bool = False
    max_length: int = 0
    min_length: int = 0


@lru_cache(maxsize=1)
def _specs() -> dict[str, _Spec]:
    # From the model itself: its enums, literals, bounds and defaults.
    import typing
    from enum import Enum

    from pydantic import TypeAdapter

    minimal = {"name": "x", "data": {"paired_examples": 1}, "latency": {"budget_ms": 1}}
    defaults = Requirements.model_validate(minimal).model_dump()
    bools = {}
    for text in ("true", "false", "True", "False", "TRUE", "FALSE", "yes", "no", "1", "0"):
        bools[text] = TypeAdapter(bool).validate_python(text)
    out: dict[str, _Spec] = {}
    for path in field_paths():
        info = field_info(path)
        ann = info.annotation
        args = typing.get_args(ann)
        required = info.is_required()
        default = None if required else get_path(defaults, path)
        if path in NUMERIC_FIELDS:
            spec = _Spec(path, "number", required=required, default=default)
        elif path == "regulation.regimes":
            spec = _Spec(path, "regimes", default=tuple(default or ()))
        elif isinstance(ann, type) and issubclass(ann, Enum):
            spec = _Spec(path, "choice", frozenset(e.value for e in ann), default=default)
        elif (
            args
            and type(None) in args
            and all(a is type(None) or (isinstance(a, type) and issubclass(a, Enum)) for a in args)
        ):
            names = frozenset(e.value for a in args if a is not type(None) for e in a)
            spec = _Spec(path, "choice", names, optional=True, default=default)
        elif ann is bool:
            spec = _Spec(path, "bool", frozenset(bools.items()), default=default)
        elif typing.get_origin(ann) is typing.Literal:
            spec = _Spec(path, "version", frozenset(args), default=default)
        elif ann is str:
            lengths = {type(m).__name__: m for m in info.metadata}
            spec = _Spec(
                path,
                "text",
                default=default,
                required=required,
                min_length=getattr(lengths.get("MinLen"), "min_length", 0),
                max_length=getattr(lengths.get("MaxLen"), "max_length", 1 << 62),
            )
        else:  # a field the column checks do not know: a value there takes the row path
            spec = _Spec(path, "unknown", default=default, required=required)
        out[path] = spec
    return out


def _check_choice(spec: _Spec) -> Any:
    names, optional = spec.choices, spec.optional

    def check(v: Any) -> Any:
        if v is _ABSENT:
            return spec.default
        if v.__class__ is str and v in names:
            return v
        if v is None and optional:
            return None
        return _SLOW

    return check


def _check_bool(spec: _Spec) -> Any:
    texts = dict(spec.choices)

    def check(v: Any) -> Any:
        if v is _ABSENT:
            return spec.default
        if v is True or v is False:
            return v
        if v.__class__ is str:
            return texts.get(v, _SLOW)
        return _SLOW

    return check


@lru_cache(maxsize=4096)
def _regimes_of(names: tuple[str, ...]) -> tuple[str, ...] | _Slow:
    # The model's normalisation (`Regulation._normalise_regimes`), for names it accepts.
    out = set()
    for r in names:
        if r.__class__ is not str or not text_ok(r):
            return _SLOW
        key = r.strip().lower().replace("-", "_").replace(" ", "_")
        if not key or len(key) > 64:
            return _SLOW
        out.add(key)
    return tuple(sorted(out))


def _check_value(spec: _Spec, v: Any) -> Any:
    # One value of a text, version, regimes or unknown field.
    if v is _ABSENT:
        return _SLOW if spec.required else spec.default
    if spec.kind == "text":
        if v.__class__ is str and spec.min_length <= len(v) <= spec.max_length:
            return v
        return _SLOW
    if spec.kind == "version":
        return v if v.__class__ is int and v in spec.choices else _SLOW
    if spec.kind == "regimes":
        if v.__class__ is not list or not all(r.__class__ is str for r in v):
            return _SLOW
        return _regimes_of(tuple(v))
    return _SLOW


def _number_value(path: str, v: Any) -> Any:
    # A number as the model stores it: a float, or (low, high) for a range; else _SLOW.
    if v is _ABSENT:
        return _SLOW
    cls = v.__class__
    if cls is float:
        return v
    if cls is int:
        try:
            return float(v)
        except OverflowError:
            return _SLOW
    if cls is str or cls is dict:
        try:
            v = typed_number(v, CONDITION_FIELDS[path].scale or "count")
        except ValueError:
            return _SLOW
        if v.__class__ is dict:
            if len(v) != 2 or "low" not in v or "high" not in v:
                return _SLOW
            ends = (_number_value(path, v["low"]), _number_value(path, v["high"]))
            if any(e.__class__ is not float for e in ends):
                return _SLOW
            return ends
        if v.__class__ in (int, float):
            return _number_value(path, v)
    return _SLOW


def _check_numbers(path: str, values: list[Any]) -> list[Any]:
    # Finite and inside the field's bounds; a range also ordered. Vectorised over plain figures.
    lowest, highest = _NUMBER_BOUNDS[path]
    plain = [v if v.__class__ is float else math.nan for v in values]
    a = np.array(plain)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(a) & (a >= lowest) & (a <= highest)
    out = values
    for i in np.flatnonzero(~ok).tolist():
        v = values[i]
        if v.__class__ is tuple:
            lo, hi = v
            if lo <= hi and all(math.isfinite(e) and lowest <= e <= highest for e in v):
                continue
        out[i] = _SLOW
    return out


def _check_columns(raw: dict[str, list[Any]], n: int) -> tuple[dict[str, list[Any]], np.ndarray]:
    """Check a chunk's columns (field path -> the value each row gives, `_ABSENT` when it
    gives none); give the stored values and the rows that take the row path."""
    specs = _specs()
    slow = np.zeros(n, dtype=bool)
    values: dict[str, list[Any]] = {}
    for path, spec in specs.items():
        col = raw.get(path)
        if col is None:
            if spec.required:
                slow[:] = True
                col = [_ABSENT] * n
            else:
                values[path] = [spec.default] * n
                continue
        if spec.kind == "choice":
            out = [*map(_check_choice(spec), col)]
        elif spec.kind == "bool":
            out = [*map(_check_bool(spec), col)]
        elif spec.kind == "number":
            out = _check_numbers(
                path, [v if v.__class__ is float else _number_value(path, v) for v in col]
            )
        else:
            out = [_check_value(spec, v) for v in col]
        values[path] = out
        if _SLOW in out:
            slow[[i for i, v in enumerate(out) if v is _SLOW]] = True
    return values, slow


def _cell_reader(kind: int, name: str) -> Any:
    # What a CSV cell gives the requirements mapping, as `_csv_item` reads it: _ABSENT for an
    # empty cell, _SLOW for one the row path must report (or an unsure answer).
    def text_of(cell: str) -> Any:
        text = cell.strip()
        if not text:
            return _ABSENT
        return text if text_ok(text) else _SLOW

    if kind in (_ID,) or (kind == _TEXT and name in _FREE_TEXT):
        return text_of
    if kind == _TEXT:

        def choice(cell: str) -> Any:
            text = text_of(cell)
            return _SLOW if text.__class__ is str and "|" in text else text

        return choice
    if kind == _REGIMES:

        def regimes(cell: str) -> Any:
            text = text_of(cell)
            return [r for r in _SPLIT.split(text) if r] if text.__class__ is str else text

        return regimes
    if kind == _VERSION:

        def version(cell: str) -> Any:
            text = text_of(cell)
            if text.__class__ is str and text.isascii() and text.isdigit():
                return int(text)
            return text

        return version
    whole = kind == _NUMBER

    def number(cell: str) -> Any:
        text = text_of(cell)
        if text.__class__ is not str:
            return text
        try:
            return _number(name, text, whole)
        except _CellError:
            return _SLOW

    return number


def _plain_numbers(cells: Sequence[str]) -> list[Any] | None:
    # A column of plain figures read at once; None when some cell needs `_number`. float()
    # reads every text int() does, to the same float (a whole number below 2^53 exactly, a
    # larger one correctly rounded either way), except a negative zero: "-0" is int 0.
    try:
        values = [*map(float, cells)]
    except ValueError:
        return None
    if 0.0 in values and any(v == 0.0 and math.copysign(1.0, v) < 0 for v in values):
        return None
    return values


def _csv_column_values(
    header: Sequence[str], cells: Sequence[Sequence[str]]
) -> tuple[dict[str, list[Any]], list[Any]]:
    """Read a chunk's CSV records (each as long as the header) into columns: field path -> the
    value of each row as `_csv_item` would put it in the mapping; and the rows' ids."""
    n = len(cells)
    by_column = list(zip(*cells, strict=True)) if n else [()] * len(header)
    raw: dict[str, list[Any]] = {}
    ends: dict[str, dict[str, list[Any]]] = {}
    idents: list[Any] = [None] * n
    for i, name, parts, kind in _plan(tuple(header)):
        read = _cell_reader(kind, name)
        memo = kind in (_TEXT, _REGIMES, _VERSION) and name not in _FREE_TEXT
        col = None
        if kind in (_NUMBER, _BOUND):
            col = _plain_numbers(by_column[i])
        if col is None:
            col = [*map(_Memo(read).__getitem__ if memo else read, by_column[i])]
        if kind == _ID:
            idents = [None if v is _ABSENT else v for v in col]
        elif kind == _BOUND:
            ends.setdefault(".".join(parts[:-1]), {})[parts[-1]] = col
        else:
            raw[name] = col
    for path, given in ends.items():
        base = raw.get(path, [_ABSENT] * n)
        low = given.get("low", [_ABSENT] * n)
        high = given.get("high", [_ABSENT] * n)
        merged = []
        for b, lo, hi in zip(base, low, high, strict=True):
            if lo is _ABSENT and hi is _ABSENT:
                merged.append(b)
            elif b is not _ABSENT or lo is _ABSENT or hi is _ABSENT:
                merged.append(_SLOW)  # both forms, or half a range: the row path says which
            else:
                merged.append({"low": lo, "high": hi})
        raw[path] = merged
    return raw, idents


@lru_cache(maxsize=1)
def _layout() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    # The mapping's shape: top-level fields, and per section its fields (key -> path).
    top: dict[str, str] = {}
    sections: dict[str, dict[str, str]] = {}
    for path in field_paths():
        head, _, rest = path.partition(".")
        if rest:
            sections.setdefault(head, {})[rest] = path
        else:
            top[head] = path
    return top, sections


def _json_columns(lines: Sequence[str]) -> tuple[dict[str, list[Any]], list[Any], np.ndarray]:
    """Read a chunk's JSON lines into columns (as `_csv_column_values`), marking the lines whose
    reading or shape the row path must judge (not JSON, escapes, unknown keys...)."""
    top, sections = _layout()
    n = len(lines)
    raw: dict[str, list[Any]] = {p: [_ABSENT] * n for p in field_paths()}
    idents: list[Any] = [None] * n
    slow = np.zeros(n, dtype=bool)
    for i, line in enumerate(lines):
        # "\u" escapes may spell lone surrogates; the row path checks every string for them.
        if len(line) > MAX_BYTES or "\\u" in line or not text_ok(line):
            slow[i] = True
            continue
        try:
            doc = strict_json(line)
        except (ValueError, RecursionError):
            slow[i] = True
            continue
        if doc.__class__ is not dict:
            slow[i] = True
            continue
        for key, value in doc.items():
            path = top.get(key)
            if path is not None:
                raw[path][i] = value
            elif key == ID_KEY:
                if value is not None:
                    if value.__class__ not in (str, int, bool):
                        slow[i] = True
                        break
                    idents[i] = str(value)
            elif key in sections and value.__class__ is dict:
                fields_of = sections[key]
                for k, v in value.items():
                    p = fields_of.get(k)
                    if p is None:
                        slow[i] = True
                        break
                    raw[p][i] = v
            else:
                slow[i] = True
                break
    return raw, idents, slow


# ---------------------------------------------------------------------------------------------
# A chunk of rows -> result records.


@dataclass
class Point:
    """What the portfolio overview shows of one row."""

    row: int
    source: str
    name: str
    recommendation: str | None
    confidence: float | None
    paired: float | None
    budget: float | None
    error: str | None = None
    #: The row's id column, when the input has one.
    ident: str | None = None
    #: The inputs as given: a range stays a range ("10,000 to 50,000"), not its midpoint.
    paired_shown: str = ""
    budget_shown: str = ""


@dataclass
class ChunkResult:
    """The JSON lines of a chunk (in row order), its counts and, optionally, its points."""

    lines: list[str]
    counts: dict[str, int]
    errors: int
    points: list[Point] = field(default_factory=list)


def _evaluate_groups(
    reqs: Sequence[Requirements], prep: Any, *, samples: int, explain: bool
) -> dict[str, np.ndarray]:
    # The engine's arrays for every row, from the one decision path (`decide.decide`: each row
    # with the pack as it applies to it, as a single assessment decides it).
    from ._decide import decide

    return _gather(decide(reqs, prep.compiled.pack, samples=samples, explain=explain), len(reqs))


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _name_of(item: Item) -> str | None:
    name = item.doc.get("name") if item.doc is not None else None
    return name if isinstance(name, str) else None


@dataclass
class _Good:
    """The valid rows of a chunk that share one way in (column-wise, or through the model),
    with what their result lines show besides the engine's arrays."""

    at: list[int]  # positions in the chunk
    names: list[str]
    idents: list[str | None]
    unknown: list[tuple[str, ...]]  # regimes the pack does not know
    given: list[bool]  # regulation.explainability was stated
    stated: list[str]  # the stated (or derived) explainability level
    paired: list[Any]  # float, or (low, high)
    budget: list[Any]
    g: dict[str, np.ndarray]


def _point_of(v: Any) -> float:
    return midpoint(v[0], v[1]) if v.__class__ is tuple else float(v)


def _shown_of(v: Any, fmt: str) -> str:
    if v.__class__ is tuple:
        return f"{fmt.format(v[0])} to {fmt.format(v[1])}"
    return fmt.format(v)


def _decide_columns(
    values: dict[str, list[Any]], prep: Any, *, samples: int, explain: bool
) -> dict[str, np.ndarray]:
    # The engine's arrays for rows checked column-wise: encoded by the pack's feature table,
    # decided by the one decision path (`decide.decide_encoded`).
    from ._decide import decide_encoded
    from ._features import encode_columns

    cp = prep.compiled
    enc = dict(values)
    n = len(values["regulation.regimes"])
    low, high = np.empty((n, len(NUMERIC_FIELDS))), np.empty((n, len(NUMERIC_FIELDS)))
    ranged = np.zeros((n, len(NUMERIC_FIELDS)), dtype=bool)
    for col, path in enumerate(NUMERIC_FIELDS):
        column = values[path]
        enc[path] = [v if v.__class__ is float else midpoint(*v) for v in column]
        low[:, col] = high[:, col] = [v if v.__class__ is float else math.nan for v in column]
        for i in [i for i, v in enumerate(column) if v.__class__ is tuple]:
            low[i, col], high[i, col] = column[i]
            ranged[i, col] = True
    x = encode_columns(cp.space, enc)
    from ._uncertainty import log_bounds_many

    lo, hi = log_bounds_many(low, high, ranged, cp)
    decisions = decide_encoded(
        x,
        lo,
        hi,
        values["regulation.explanation_method"],
        cp.pack,
        samples=samples,
        explain=explain,
    )
    return _gather(decisions, n)


def _gather(decisions: Any, n: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for d in decisions:
        ev = d.ev
        parts = {
            "choice": ev.choice,
            "runner": d.runner,
            "probs": d.probabilities,
            "raw": ev.raw,
            "utilities": ev.utilities,
            "vetoed": ev.vetoed,
            "fired": ev.fired,
            "required": ev.required,
        }
        if d.margin is not None:
            parts["base"], parts["values"] = d.margin.base, d.margin.values
        for key, arr in parts.items():
            assert arr is not None
            if key not in out:
                out[key] = np.zeros((n, *arr.shape[1:]), dtype=arr.dtype)
            out[key][d.rows] = arr
    return out


def _reprs(values: list[float]) -> list[str]:
    # Each float as json.dumps writes it (repr), a whole column in one call.
    return repr(values)[1:-1].split(", ") if values else []


def _few_reprs(values: list[float]) -> list[str]:
    # The same for a column of few distinct values (shares of 32 samples, rounded utilities).
    return [*map(_Memo(repr).__getitem__, values)]


def _template(members: dict[str, Any]) -> tuple[str, list[str]]:
    # A %-template of one JSON object with its keys sorted (json.dumps' sort_keys), and the
    # order its %s slots take the members: a member is a column (None), a constant JSON text
    # (str) or a nested object (dict of the same).
    parts, order = [], []
    for key in sorted(members):
        value = members[key]
        head = encode_basestring(key).replace("%", "%%") + ":"
        if isinstance(value, dict):
            inner, sub = _template(value)
            parts.append(head + inner)
            order += [f"{key}.{s}" for s in sub]
        elif isinstance(value, str):
            parts.append(head + value.replace("%", "%%"))
        else:
            parts.append(head + "%s")
            order.append(key)
    return "{" + ",".join(parts) + "}", order


def _ok_lines(
    good: _Good,
    items_meta: Sequence[tuple[int, str]],
    cp: Any,
    *,
    k: int,
    explain: bool,
) -> list[str]:
    """The result lines of valid rows, column by column: the bytes `json.dumps(record,
    sort_keys=True, separators=(",", ":"), ensure_ascii=False)` gives, without a record or a
    model per row (one %-template per line, its slots filled from the columns)."""
    from ._prose import warning_texts

    g = good.g
    pack = cp.pack
    n = len(good.at)
    choice = g["choice"].astype(np.intp)
    runner = g["runner"].astype(np.intp)
    probs = g["probs"]
    opt_json = [encode_basestring(o) for o in OPTIONS]
    cols: dict[str, Sequence[str]] = {}
    cols["confidence"] = _few_reprs(probs[np.arange(n), choice].tolist())
    required = g["required"].astype(int).tolist()
    levels = [EXPLAINABILITY_ORDER[r] for r in required]
    level_json = [encode_basestring(v) for v in EXPLAINABILITY_ORDER]
    cols["explainability_required"] = [level_json[r] for r in required]
    cols["name"] = [*map(encode_basestring, good.names)]
    for q, opt in enumerate(OPTIONS):
        cols[f"probabilities.{opt}"] = _few_reprs(probs[:, q].tolist())
    cols["recommendation"] = [opt_json[o] for o in choice.tolist()]
    cols["row"] = [str(items_meta[i][0]) for i in good.at]
    rule_ids = [encode_basestring(r.id) for r in pack.rules]
    fired = g["fired"]
    if fired.shape[1] <= 62:
        codes = fired.astype(np.int64) @ (np.int64(1) << np.arange(fired.shape[1], dtype=np.int64))
    else:  # more rules than an int64 holds bits for
        codes = (fired.astype(object) * [1 << q for q in range(fired.shape[1])]).sum(axis=1)
    fired_json = _Memo(
        lambda c: "[" + ",".join(rule_ids[q] for q in range(len(rule_ids)) if c >> q & 1) + "]"
    )
    cols["rules_fired"] = [fired_json[c] for c in codes.tolist()]
    cols["runner_up"] = [opt_json[o] for o in runner.tolist()]
    raw = g["raw"]
    for q, opt in enumerate(OPTIONS):
        cols[f"scores.{opt}"] = _reprs([round(v, 9) + 0.0 for v in raw[:, q].tolist()])
    cols["source"] = [encode_basestring(items_meta[i][1]) for i in good.at]
    util = np.round(g["utilities"], 6) + 0.0
    dims = ("data", "latency", "regulation")
    for q, dim in enumerate(dims):
        cols[f"utilities.{dim}"] = _few_reprs(util[:, q].tolist())
    vetoed = g["vetoed"]
    vcode = (vetoed * np.array([1, 2, 4])).sum(axis=1).tolist()
    veto_json = _Memo(lambda c: "[" + ",".join(opt_json[q] for q in range(3) if c >> q & 1) + "]")
    cols["vetoed"] = [veto_json[c] for c in vcode]
    # The warnings `advisor recommend` prints, from the row's own figures (one text per case).
    top: list[int] = np.argmax(probs, axis=1).tolist()
    all_vetoed = [bool(v) for v in np.all(vetoed, axis=1).tolist()]
    plist: list[list[float]] = probs.tolist()
    warn_json: dict[tuple[Any, ...], str] = {}
    warn_col = []
    for j, o in enumerate(choice.tolist()):
        key = (
            good.unknown[j],
            good.given[j],
            good.stated[j],
            levels[j],
            all_vetoed[j],
            o,
            None if top[j] == o else tuple(plist[j]),
        )
        hit = warn_json.get(key)
        if hit is None:
            texts = warning_texts(
                good.unknown[j],
                good.given[j],
                good.stated[j],
                levels[j],
                all_vetoed[j],
                dict(zip(OPTIONS, plist[j], strict=True)),
                OPTIONS[o],
            )
            hit = warn_json[key] = "[" + ",".join(encode_basestring(t) for t in texts) + "]"
        warn_col.append(hit)
    cols["warnings"] = warn_col
    members: dict[str, Any] = {
        "confidence": None,
        "confidence_samples": str(k),
        "explainability_required": None,
        "name": None,
        "probabilities": dict.fromkeys(OPTIONS),
        "recommendation": None,
        "row": None,
        "rulepack": encode_basestring(f"{pack.name} {pack.version}"),
        "rules_fired": None,
        "runner_up": None,
        "scores": dict.fromkeys(OPTIONS),
        "source": None,
        "status": '"ok"',
        "utilities": dict.fromkeys(dims),
        "vetoed": None,
        "warnings": None,
    }
    if explain:
        from ._attributions import PLAYERS
        from ._narrative import PLAYER_FIELDS

        cols["attribution_base"] = _reprs([round(v, 9) + 0.0 for v in g["base"].tolist()])
        target = _Memo(
            lambda t: encode_basestring(f"score margin of {OPTIONS[t[0]]} over {OPTIONS[t[1]]}")
        )
        cols["attribution_target"] = [
            target[t] for t in zip(choice.tolist(), runner.tolist(), strict=True)
        ]
        names = [PLAYER_FIELDS[p] for p in PLAYERS]
        values = g["values"]
        for q, feature in enumerate(names):
            cols[f"attributions.{feature}"] = _reprs(
                [round(v, 9) + 0.0 for v in values[:, q].tolist()]
            )
        members["attribution_base"] = None
        members["attribution_target"] = None
        members["attributions"] = dict.fromkeys(names)
    lines: list[str] = [""] * n
    with_id = [j for j, v in enumerate(good.idents) if v is not None]
    without = [j for j, v in enumerate(good.idents) if v is None]
    for rows, has_id in ((with_id, True), (without, False)):
        if not rows:
            continue
        tmpl, order = _template({**members, "id": None} if has_id else members)
        if has_id:
            cols["id"] = [encode_basestring(v) if v is not None else "" for v in good.idents]
        columns = [cols[key] for key in order]
        if len(rows) == n:
            lines = [tmpl % t for t in zip(*columns, strict=True)]
        else:
            for j in rows:
                lines[j] = tmpl % tuple(c[j] for c in columns)
    return lines


def assess_chunk(
    rows: Sequence[Item | Raw],
    prep: Any,
    *,
    header: Sequence[str] = (),
    explain: bool = False,
    samples: int = DEFAULT_SAMPLES,
    points: bool = False,
) -> ChunkResult:
    """Assess a chunk of rows, vectorised.

    CSV records and JSON lines are read and checked column-wise (`_check_columns`); the rows
    those checks do not vouch for, and parsed items, go through the requirements model one by
    one, which names their problems by row and field. Every valid row is decided by the one
    decision path, and the result lines are written column-wise.

    Args:
        rows: the rows, parsed (`Item`) or raw (`Raw`, parsed here).
        prep: the prepared pack (`engine.prepare`).
        header: the CSV header, for raw CSV rows.
        explain: add exact Shapley attributions of each recommendation.
        samples: Monte Carlo samples per project for the confidence.
        points: also give what the portfolio overview shows of each row.

    Returns:
        One JSON line per item, in order: a result or an error naming the row and the fields.
    """
    cp = prep.compiled
    pack = cp.pack
    n_rows = len(rows)
    meta: list[tuple[int, str]] = [
        (r.row, r.source) if isinstance(r, Item) else (r[0], r[1]) for r in rows
    ]
    width = len(header)
    # (A header `check_header` passed has no duplicate; any other is left to the row path.)
    csv_at = [
        i
        for i, r in enumerate(rows)
        if not isinstance(r, Item) and r[2] == "csv" and len(r[3]) == width
    ]
    if len(set(header)) != width:
        csv_at = []
    json_at = [i for i, r in enumerate(rows) if not isinstance(r, Item) and r[2] == "json"]
    fast_at: list[int] = []
    fast_values: dict[str, list[Any]] = {}
    fast_idents: list[Any] = []
    for at, kind in ((csv_at, "csv"), (json_at, "json")):
        if not at:
            continue
        payloads = [rows[i][3] for i in at]  # type: ignore[index]
        try:
            if kind == "csv":
                raw, idents = _csv_column_values(header, payloads)
                slow = np.zeros(len(at), dtype=bool)
            else:
                raw, idents, slow = _json_columns(payloads)
            values, bad = _check_columns(raw, len(at))
        except Exception:  # noqa: BLE001 - a case the column checks missed: the row path
            continue  # judges every row of the chunk, isolating a bad one as always
        slow |= bad
        slow[[j for j, v in enumerate(idents) if v is _SLOW]] = True
        keep = np.flatnonzero(~slow).tolist()
        fast_at += [at[j] for j in keep]
        fast_idents += [idents[j] for j in keep]
        for path, col in values.items():
            fast_values.setdefault(path, []).extend([col[j] for j in keep])
    out: list[str | None] = [None] * n_rows
    pts: list[Point | None] = [None] * n_rows
    counts = dict.fromkeys(OPTIONS, 0)
    errors = 0
    goods: list[_Good] = []
    if fast_at:
        known = set(cp.space.regimes)
        crit = fast_values["regulation.criticality"]
        stated_given = fast_values["regulation.explainability"]
        goods.append(
            _Good(
                fast_at,
                fast_values["name"],
                fast_idents,
                [
                    tuple(r for r in rs if r not in known)
                    for rs in fast_values["regulation.regimes"]
                ],
                [v is not None for v in stated_given],
                [
                    DEFAULT_EXPLAINABILITY[c] if v is None else v
                    for v, c in zip(stated_given, crit, strict=True)
                ],
                fast_values["data.paired_examples"],
                fast_values["latency.budget_ms"],
                _decide_columns(fast_values, prep, samples=samples, explain=explain),
            )
        )
    # The other rows, one by one through the model.
    fast = set(fast_at)
    slow_at = [i for i in range(n_rows) if i not in fast]
    items = {i: to_item_safely(rows[i], header) for i in slow_at}
    reqs: list[Requirements] = []
    req_at: list[int] = []
    for i in slow_at:
        it = items[i]
        c = validate(it)
        if isinstance(c, Requirements):
            reqs.append(c)
            req_at.append(i)
            continue
        errors += 1
        rec: dict[str, Any] = {
            "row": it.row,
            "source": it.source,
            "status": "error",
            "errors": [{"field": f, "message": m} for f, m in c],
        }
        name = _name_of(it)
        if name is not None:
            rec["name"] = name
        if it.ident is not None:
            rec["id"] = it.ident
        out[i] = _dumps(rec)
        if points:
            first = c[0] if c else ("(row)", "invalid")
            pts[i] = Point(
                it.row,
                it.source,
                name or "",
                None,
                None,
                None,
                None,
                f"{first[0]}: {first[1]}",
                ident=it.ident,
            )
    if reqs:
        goods.append(
            _Good(
                req_at,
                [r.name for r in reqs],
                [items[i].ident for i in req_at],
                [tuple(cp.space.unknown_regimes(r)) for r in reqs],
                [r.explainability_given() for r in reqs],
                [r.explainability_level() for r in reqs],
                [_value_of(r.data.paired_examples) for r in reqs],
                [_value_of(r.latency.budget_ms) for r in reqs],
                _evaluate_groups(reqs, prep, samples=samples, explain=explain),
            )
        )
    k = max(1, min(samples, pack.uncertainty.samples))
    for good in goods:
        lines = _ok_lines(good, meta, cp, k=k, explain=explain)
        choice = good.g["choice"].tolist()
        probs = good.g["probs"]
        for j, (i, line) in enumerate(zip(good.at, lines, strict=True)):
            out[i] = line
            counts[OPTIONS[choice[j]]] += 1
        if points:
            for j, i in enumerate(good.at):
                o = choice[j]
                row, source = meta[i]
                pts[i] = Point(
                    row,
                    source,
                    good.names[j],
                    OPTIONS[o],
                    float(probs[j, o]),
                    _point_of(good.paired[j]),
                    _point_of(good.budget[j]),
                    ident=good.idents[j],
                    paired_shown=_shown_of(good.paired[j], "{:,.0f}"),
                    budget_shown=_shown_of(good.budget[j], "{:,.4g}"),
                )
    lines_out = [s for s in out if s is not None]
    assert len(lines_out) == n_rows
    return ChunkResult(lines_out, counts, errors, [p for p in pts if p is not None])


def _value_of(v: float | Range) -> Any:
    return (v.low, v.high) if isinstance(v, Range) else float(v)


# ---------------------------------------------------------------------------------------------
# Spreadsheet-safe text.

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (`=cmd|...`): prefix a quote.

    OWASP's advice for CSV injection: a leading =, +, -, @, tab or carriage return makes a
    spreadsheet evaluate the cell; a leading apostrophe makes it text.
    """
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


CSV_COLUMNS = (
    "row",
    "source",
    "id",
    "name",
    "status",
    "recommendation",
    "confidence",
    "runner_up",
    "score_end_to_end",
    "score_modular",
    "score_hybrid",
    "vetoed",
    "rules_fired",
    "errors",
    "warnings",
)


def csv_row(line: str) -> list[str]:
    """Flatten one result line into spreadsheet-safe CSV cells (`CSV_COLUMNS`)."""
    rec = json.loads(line)
    scores = rec.get("scores", {})
    cells: dict[str, Any] = {
        "row": rec["row"],
        "source": rec["source"],
        "id": rec.get("id", ""),
        "name": rec.get("name", ""),
        "status": rec["status"],
        "recommendation": rec.get("recommendation", ""),
        "confidence": rec.get("confidence", ""),
        "runner_up": rec.get("runner_up", ""),
        "score_end_to_end": scores.get("end_to_end", ""),
        "score_modular": scores.get("modular", ""),
        "score_hybrid": scores.get("hybrid", ""),
        "vetoed": ";".join(rec.get("vetoed", [])),
        "rules_fired": ";".join(rec.get("rules_fired", [])),
        "errors": "; ".join(f"{e['field']}: {e['message']}" for e in rec.get("errors", [])),
        "warnings": " | ".join(rec.get("warnings", [])),
    }
    return [spreadsheet_safe(str(cells[c])) for c in CSV_COLUMNS]


# ---------------------------------------------------------------------------------------------
# The portfolio overview (HTML).

#: At most this many projects in the overview's table and scatter; the page says when it shows
#: fewer than all (every project is always in the JSON lines).
TABLE_LIMIT = 5000
SCATTER_LIMIT = 5000
ERROR_LIMIT = 500
_PLOT = {"width": 720, "height": 440, "left": 70, "right": 20, "top": 20, "bottom": 56}
_SHAPES = {"end_to_end": "circle", "modular": "square", "hybrid": "triangle"}


def _decade_label(e: int) -> str:
    v = 10.0**e
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _marker(shape: str, x: float, y: float) -> str:
    if shape == "circle":
        return f"M{x - 4:.1f},{y:.1f}a4,4 0 1,0 8,0a4,4 0 1,0 -8,0z"
    if shape == "square":
        return f"M{x - 3.5:.1f},{y - 3.5:.1f}h7v7h-7z"
    return f"M{x:.1f},{y - 4.5:.1f}l4.5,8h-9z"


class Overview:
    """What the portfolio overview keeps of a batch, in memory that does not grow with the rows.

    Fed one `Point` per row in input order (`add`); keeps the counts, the first TABLE_LIMIT rows
    (the table), the first ERROR_LIMIT failed rows and a uniform random sample of SCATTER_LIMIT
    assessed rows for the scatter (reservoir sampling, Vitter's algorithm R, with a fixed seed:
    the same input gives the same page).
    """

    def __init__(self, seed: int = 0) -> None:
        self.total = 0
        self.ok = 0
        self.errors = 0
        self.counts = dict.fromkeys(OPTIONS, 0)
        self.table: list[Point] = []
        self.error_rows: list[Point] = []
        self._sample: list[tuple[int, Point]] = []  # (position among assessed rows, point)
        self._rng = random.Random(seed)

    def add(self, p: Point) -> None:
        """Take one row's point (rows in input order)."""
        self.total += 1
        if len(self.table) < TABLE_LIMIT:
            self.table.append(p)
        if p.recommendation is None:
            self.errors += 1
            if len(self.error_rows) < ERROR_LIMIT:
                self.error_rows.append(p)
            return
        self.ok += 1
        self.counts[p.recommendation] += 1
        if len(self._sample) < SCATTER_LIMIT:
            self._sample.append((self.ok, p))
        else:
            j = self._rng.randrange(self.ok)
            if j < SCATTER_LIMIT:
                self._sample[j] = (self.ok, p)

    def extend(self, points: Iterable[Point]) -> None:
        """Take several rows' points, in input order."""
        for p in points:
            self.add(p)

    @property
    def scatter(self) -> list[Point]:
        """The sampled assessed rows, in input order (all of them when there are few enough)."""
        return [p for _, p in sorted(self._sample, key=lambda t: t[0])]


def portfolio_view(
    points: Overview | Sequence[Point],
    *,
    title: str,
    source: str,
    rulepack: str,
    samples: int,
) -> dict[str, Any]:
    """Give what the portfolio template shows: counts, the table, the scatter and the errors.

    Args:
        points: an `Overview` fed every row, or the rows' points themselves.
    """
    if isinstance(points, Overview):
        ov = points
    else:
        ov = Overview()
        ov.extend(points)
    counts = ov.counts
    shown = ov.scatter
    g = _PLOT
    pw = g["width"] - g["left"] - g["right"]
    ph = g["height"] - g["top"] - g["bottom"]
    xs = [math.log10(1.0 + (p.paired or 0.0)) for p in shown]
    ys = [math.log10(p.budget or 1.0) for p in shown]
    x0, x1 = (math.floor(min(xs)), math.ceil(max(xs))) if xs else (0, 9)
    y0, y1 = (math.floor(min(ys)), math.ceil(max(ys))) if ys else (0, 5)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(v: float) -> float:
        return g["left"] + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return g["top"] + ph - (v - y0) / (y1 - y0) * ph

    marks = []
    for p, xv, yv in zip(shown, xs, ys, strict=True):
        rec = p.recommendation or ""
        marks.append(
            {
                "option": rec,
                "path": _marker(_SHAPES[rec], px(xv), py(yv)),
                "label": f"{p.name}: {rec.replace('_', '-')} ({(p.confidence or 0) * 100:.0f}%)",
            }
        )
    return {
        "title": title,
        "source": source,
        "rulepack": rulepack,
        "samples": samples,
        "total": ov.total,
        "ok": ov.ok,
        "errors": ov.errors,
        "counts": counts,
        "table": ov.table,
        "has_ids": any(p.ident is not None for p in ov.table),
        "table_limited": ov.total > TABLE_LIMIT,
        "error_rows": ov.error_rows,
        "errors_limited": ov.errors > ERROR_LIMIT,
        "plot": g,
        "plot_w": pw,
        "plot_h": ph,
        "marks": marks,
        "scatter_sampled": ov.ok > len(shown),
        "scatter_shown": len(shown),
        "x_ticks": [{"at": px(e), "label": _decade_label(e)} for e in range(x0, x1 + 1)],
        "y_ticks": [{"at": py(e), "label": _decade_label(e)} for e in range(y0, y1 + 1)],
        "legend": [
            {
                "option": o,
                "path": _marker(_SHAPES[o], 8, 8),
                "count": counts[o],
                "shape": _SHAPES[o] + "s",
            }
            for o in OPTIONS
        ],
    }


def portfolio_html(points: Overview | Sequence[Point], **meta: Any) -> str:
    """Render the portfolio overview: one self-contained HTML page (no scripts, no network).

    Args:
        points: an `Overview` fed every row, or every row's point, in input order.
        **meta: title, source, rulepack and samples (see `portfolio_view`).
    """
    from ._render import environment

    template = environment().get_template("portfolio.html.j2")
    return str(template.render(p=portfolio_view(points, **meta)))
