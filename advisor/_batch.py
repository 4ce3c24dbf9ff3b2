"""Portfolio batches: many projects' requirements in, one result record per project out.

Takes input rows (CSV lines with dotted column names, JSON lines, or parsed documents) and a
rule pack; gives, per row, either a result (recommendation, confidence, scores, rules fired and,
when asked, exact Shapley attributions) or the validation problems that name the row and the
field. The rows of a chunk are decided together by the one decision path (`decide.decide`, which
a single assessment uses with one row): the same encoding, engine, Monte Carlo stream and exact
Shapley values, vectorised over the rows; this module holds no decision maths of its own.
Pure: no files, no printing (the CLI, `cli_batch`, reads and writes).
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
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from ._errors import InputError, Problem
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, OPTIONS
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
    EXPLAINABILITY_ORDER,
    Range,
    Requirements,
    field_paths,
    point,
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
            start = prev + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                row += 1
                prev = reader.line_num
                yield (row, f"{source}:{start}", "bad", ("(row)", f"not valid CSV ({e})"))
                continue
            prev = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            row += 1
            yield (row, f"{source}:{start}", "csv", cells)

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


def _shown(value: float | Range, fmt: str) -> str:
    if isinstance(value, Range):
        return f"{fmt.format(value.low)} to {fmt.format(value.high)}"
    return fmt.format(value)


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

    n = len(reqs)
    out: dict[str, np.ndarray] = {}
    for d in decide(reqs, prep.compiled.pack, samples=samples, explain=explain):
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


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _name_of(item: Item) -> str | None:
    name = item.doc.get("name") if item.doc is not None else None
    return name if isinstance(name, str) else None


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
    pack_tag = f"{pack.name} {pack.version}"
    items = [to_item_safely(r, header) for r in rows]
    checked = [validate(it) for it in items]
    good = [i for i, c in enumerate(checked) if isinstance(c, Requirements)]
    reqs: list[Requirements] = [checked[i] for i in good]  # type: ignore[misc]
    out: list[str | None] = [None] * len(items)
    counts = dict.fromkeys(OPTIONS, 0)
    pts: list[Point | None] = [None] * len(items)
    errors = 0
    for i, c in enumerate(checked):
        if isinstance(c, Requirements):
            continue
        it = items[i]
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
        from ._prose import warning_lines

        g = _evaluate_groups(reqs, prep, samples=samples, explain=explain)
        choice, runner, probs = g["choice"], g["runner"], g["probs"]
        k = max(1, min(samples, pack.uncertainty.samples))
        rule_ids = [r.id for r in pack.rules]
        if explain:
            from ._attributions import PLAYERS
            from ._narrative import PLAYER_FIELDS

            base, vals = g["base"], g["values"]
            feature_names = [PLAYER_FIELDS[p] for p in PLAYERS]
        raw = g["raw"].tolist()
        util = np.round(g["utilities"], 6)
        vetoed = g["vetoed"]
        fired = g["fired"]
        required = g["required"].astype(int)
        for j, (i, r) in enumerate(zip(good, reqs, strict=True)):
            it = items[i]
            o = int(choice[j])
            rec = {
                "row": it.row,
                "source": it.source,
                "status": "ok",
                "name": r.name,
                "rulepack": pack_tag,
                "recommendation": OPTIONS[o],
                "runner_up": OPTIONS[int(runner[j])],
                "confidence": float(probs[j, o]),
                "confidence_samples": k,
                "probabilities": {opt: float(probs[j, q]) for q, opt in enumerate(OPTIONS)},
                # Rounded as `engine.assess` rounds them, so the figures are the same.
                "scores": {opt: round(raw[j][q], 9) + 0.0 for q, opt in enumerate(OPTIONS)},
                "utilities": {
                    "data": float(util[j, 0]) + 0.0,
                    "latency": float(util[j, 1]) + 0.0,
                    "regulation": float(util[j, 2]) + 0.0,
                },
                "vetoed": [opt for q, opt in enumerate(OPTIONS) if vetoed[j, q]],
                "rules_fired": [rule_ids[q] for q in np.flatnonzero(fired[j])],
                "explainability_required": EXPLAINABILITY_ORDER[int(required[j])],
            }
            # The lines `advisor recommend` prints (unknown regimes, a derived or raised
            # requirement...), here from this row's own figures.
            rec["warnings"] = warning_lines(
                r,
                cp,
                rec["explainability_required"],
                bool(vetoed[j].all()),
                rec["probabilities"],
                rec["recommendation"],
            )
            if it.ident is not None:
                rec["id"] = it.ident
            if explain:
                rec["attribution_base"] = round(float(base[j]), 9) + 0.0
                rec["attribution_target"] = (
                    f"score margin of {OPTIONS[o]} over {OPTIONS[int(runner[j])]}"
                )
                rec["attributions"] = {
                    feature_names[q]: round(float(vals[j, q]), 9) + 0.0
                    for q in range(len(feature_names))
                }
            counts[OPTIONS[o]] += 1
            out[i] = _dumps(rec)
            if points:
                pts[i] = Point(
                    it.row,
                    it.source,
                    r.name,
                    OPTIONS[o],
                    float(probs[j, o]),
                    point(r.data.paired_examples),
                    point(r.latency.budget_ms),
                    ident=it.ident,
                    paired_shown=_shown(r.data.paired_examples, "{:,.0f}"),
                    budget_shown=_shown(r.latency.budget_ms, "{:,.4g}"),
                )
    lines = [s for s in out if s is not None]
    assert len(lines) == len(items)
    return ChunkResult(lines, counts, errors, [p for p in pts if p is not None])


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
