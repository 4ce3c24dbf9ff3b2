"""Reading a batch's rows: CSV and JSON lines into parsed items, checked by column.

Takes the lines of a CSV (with its header) or of JSON lines; gives `Item`s (one per row, with
its parsed mapping or its problems) and, per chunk, the columns the column-wise checks vouch for
(`_check_columns`), so that valid rows need no pydantic model each. A row the checks do not
vouch for is validated by the requirements model itself (`validate`), whose messages are the
ones reported. Pure: no files, no printing.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from ._errors import InputError, Problem
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, get_path
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
    MIN_BUDGET_MS,
    Requirements,
    field_info,
    field_paths,
    typed_number,
)

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
