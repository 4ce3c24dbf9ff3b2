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

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

import numpy as np

from ._batch_read import (
    _SLOW,
    Item,
    Raw,
    _check_columns,
    _csv_column_values,
    _json_columns,
    _Memo,
    to_item_safely,
    validate,
)
from ._fields import NUMERIC_FIELDS, OPTIONS
from ._requirements import (
    DEFAULT_EXPLAINABILITY,
    EXPLAINABILITY_ORDER,
    Range,
    Requirements,
    midpoint,
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


def _round9(values: np.ndarray) -> list[float]:
    # `round(v, 9) + 0.0` of each value (Python's correctly rounded decimal rounding, no
    # negative zero), a whole column at once: numpy's round (scale, round to an integer,
    # divide) gives the same float wherever the scaled value is not near a half-way point
    # (both round to the same integer, and the division is correctly rounded); near one, or
    # for a value too large to scale exactly, Python's round decides. 14x faster a column.
    a = np.asarray(values, dtype=float)
    out: list[float] = (np.round(a, 9) + 0.0).tolist()
    with np.errstate(invalid="ignore"):
        scaled = a * 1e9
        risky = ~(np.abs(a) < 1e6) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3)
    for i in np.flatnonzero(risky).tolist():
        out[i] = round(float(a[i]), 9) + 0.0
    return out


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
        cols[f"scores.{opt}"] = _reprs(_round9(raw[:, q]))
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

        cols["attribution_base"] = _reprs(_round9(g["base"]))
        target = _Memo(
            lambda t: encode_basestring(f"score margin of {OPTIONS[t[0]]} over {OPTIONS[t[1]]}")
        )
        cols["attribution_target"] = [
            target[t] for t in zip(choice.tolist(), runner.tolist(), strict=True)
        ]
        names = [PLAYER_FIELDS[p] for p in PLAYERS]
        values = g["values"]
        for q, feature in enumerate(names):
            cols[f"attributions.{feature}"] = _reprs(_round9(values[:, q]))
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
