"""Stage 6c: what would change the answer.

Takes a requirements' feature row and the compiled pack; gives, for every input, the smallest
single change that flips the recommendation (numbers: a log-space scan refined by bisection to 1%;
categories: each alternative; regimes: adding or removing each), and the cheapest pair of changes
when no single change flips it. Distances: decades for numbers, steps for ordered categories,
1 for any other change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._fields import CATEGORICAL, CONDITION_FIELDS, FIELD_ORDER, NUMERIC
from ._scoring import Batch, CompiledPack, score

PRECISION = 1.01  # bisection stops when the bracket's ratio is within 1%
GRID = 240
DEPTH = 5  # bisection steps evaluated per engine call (2^DEPTH - 1 probes per bracket)


@dataclass(frozen=True)
class Move:
    """One change of one input: the field, its new value, its distance and the new row; with
    the engine's answer at that row (an option index) when the search has scored it."""

    field: str
    new: Any
    distance: float
    row: np.ndarray
    choice: int | None = None


def _counts(field: str) -> bool:
    # Counts start at 0 (log10(1 + n)); durations are positive (log10(ms)).
    return CONDITION_FIELDS[field].scale == "count"


def _transform(field: str, v: float) -> float:
    return CONDITION_FIELDS[field].transform(v)


def _transform_all(field: str, values: np.ndarray) -> np.ndarray:
    # `_transform` over an array: numpy's log10 can differ from math.log10 in the last bit,
    # which only moves a grid point by 1e-16 decades; every flip found is re-checked anyway.
    return np.log10(1.0 + values) if _counts(field) else np.log10(values)


def _with(x: np.ndarray, col: int, values: np.ndarray) -> np.ndarray:
    rows = np.repeat(x[None, :], len(values), axis=0)
    rows[:, col] = values
    return rows


def _geometric(start: float, stop: float) -> np.ndarray:
    # GRID points from start to stop (both > 0), evenly spaced in log10: np.geomspace's own
    # steps (log10 of the ends, arange * step + start, 10 ** y, the ends set exactly) without
    # its argument handling, which cost several times the arithmetic on every call.
    lo, hi = np.log10(start), np.log10(stop)
    y = np.arange(GRID, dtype=float)
    y *= (hi - lo) / (GRID - 1)
    y += lo
    y[-1] = hi
    out = np.power(10.0, y)
    out[0], out[-1] = start, stop
    return np.asarray(out)


def _grid(field: str, v: float, up: bool) -> np.ndarray:
    # The values scanned from `v` outwards, nearest first (empty when there is no room).
    _, lowest, highest = NUMERIC[field]
    if up:
        start = max(v, 1.0) if _counts(field) else v
        if start * PRECISION >= highest:
            return np.array([], dtype=float)
        return _geometric(start * PRECISION, highest)
    floor = max(lowest, 1.0) if _counts(field) else lowest
    grid = _geometric(v / PRECISION, floor) if v / PRECISION > floor else np.array([])
    if _counts(field) and v > 0:
        grid = np.append(grid, 0.0)
    return grid


@dataclass
class _Scan:
    field: str
    col: int
    v: float
    up: bool
    grid: np.ndarray
    lo: float = 0.0  # does not flip
    hi: float = 0.0  # flips


def _choices(rows: list[np.ndarray], cp: CompiledPack) -> np.ndarray:
    return score(np.stack(rows), cp).choice if rows else np.array([], dtype=int)


def numeric_moves(
    x: np.ndarray,
    cp: CompiledPack,
    numbers: dict[str, float],
    current: int,
    extra: list[np.ndarray] | None = None,
) -> tuple[dict[str, list[Move]], np.ndarray]:
    """Give, per numeric field, the nearest flipping value below and above (those that exist).

    All scans are evaluated together: one call for the log-space grids, then one per bisection
    step for every bracket still wider than 1%, then one to re-check the rounded values. Rows in
    `extra` ride along in the first call; their recommendations come back second.
    """
    batch = Batch(cp)
    extra = extra or []
    block = batch.add(np.stack(extra)) if extra else -1
    done = _request_numeric(x, cp, numbers, current, batch)
    batch.run()
    extra_choices = batch.result(block).choice if extra else np.array([], dtype=int)
    return done(), extra_choices


def _request_numeric(
    x: np.ndarray,
    cp: CompiledPack,
    numbers: dict[str, float],
    current: int,
    batch: Batch,
    recheck: bool = True,
) -> Callable[[], dict[str, list[Move]]]:
    # Queue the log-space grids of `numeric_moves` on `batch`; give what finishes the search
    # (the bisection and the re-check, in calls of their own) once the batch has run.
    scans = []
    for field, value in numbers.items():
        col = cp.space.col(NUMERIC[field][0])
        for up in (False, True):
            grid = _grid(field, value, up)
            if len(grid):
                scans.append(_Scan(field, col, value, up, grid))
    rows = [_with(x, s.col, _transform_all(s.field, s.grid)) for s in scans]
    block = batch.add(np.concatenate(rows)) if rows else -1

    def done() -> dict[str, list[Move]]:
        choices = batch.result(block).choice if rows else np.array([], dtype=int)
        return _bisect(x, cp, numbers, current, scans, choices, recheck)

    return done


def _bisect(
    x: np.ndarray,
    cp: CompiledPack,
    numbers: dict[str, float],
    current: int,
    scans: list[_Scan],
    choices: np.ndarray,
    recheck: bool = True,
) -> dict[str, list[Move]]:
    bracketed = []
    # The engine's answer at each rounded value a bisection can end on, keyed by the scan and
    # the value: scored with the probes, so neither the re-check nor the verification needs an
    # engine call of its own for them.
    known: dict[tuple[int, Any], int] = {}
    offset = 0
    for s in scans:
        flips = np.nonzero(choices[offset : offset + len(s.grid)] != current)[0]
        offset += len(s.grid)
        if len(flips):
            i = int(flips[0])
            s.hi = float(s.grid[i])
            s.lo = float(s.grid[i - 1]) if i > 0 else s.v
            bracketed.append(s)
            # A value the grid holds exactly (a count of 0, say) was scored there.
            new, row = _rounded(s, s.hi, x)
            at = offset - len(s.grid) + i
            grid_row = _transform_all(s.field, s.grid[i : i + 1])
            if new == s.hi and row[s.col : s.col + 1].tobytes() == grid_row.tobytes():
                known[(id(s), new)] = int(choices[at])

    def wide(lo: float, hi: float) -> bool:
        return lo > 0 and hi > 0 and max(lo, hi) / min(lo, hi) > PRECISION

    # Bisection, several steps per engine call: every midpoint the next DEPTH steps could probe
    # (the tree of brackets below the current one) is evaluated at once, then the steps are
    # taken one by one as plain bisection would take them, so the result is exactly its result.
    while active := [s for s in bracketed if wide(s.lo, s.hi)]:
        probes: list[tuple[_Scan, float, float]] = []  # (scan, lo, hi) of each bracket probed
        ends: dict[tuple[int, Any], np.ndarray] = {}  # the rounded rows the steps may end on
        for s in active:
            level = [(s.lo, s.hi)]
            for _ in range(DEPTH):
                for lo, hi in level:
                    if not wide(lo, hi):
                        _end(ends, s, hi, x)
                level = [b for b in level if wide(*b)]
                nxt = []
                for lo, hi in level:
                    mid = math.sqrt(lo * hi)
                    probes.append((s, lo, hi))
                    nxt += [(lo, mid), (mid, hi)]
                level = nxt
            for lo, hi in level:
                if not wide(lo, hi):
                    _end(ends, s, hi, x)
        rows = []
        for s, lo, hi in probes:
            row = x.copy()
            row[s.col] = _transform(s.field, math.sqrt(lo * hi))
            rows.append(row)
        choices = _choices(rows + list(ends.values()), cp)
        flipped = {
            (id(s), lo, hi): bool(c != current)
            for (s, lo, hi), c in zip(probes, choices[: len(rows)], strict=True)
        }
        known.update(zip(ends, (int(c) for c in choices[len(rows) :]), strict=True))
        for s in active:
            for _ in range(DEPTH):
                if not wide(s.lo, s.hi):
                    break
                mid = math.sqrt(s.lo * s.hi)
                if flipped[(id(s), s.lo, s.hi)]:
                    s.hi = mid
                else:
                    s.lo = mid
    candidates = []
    for s in bracketed:
        new, row = _rounded(s, s.hi, x)
        distance = abs(row[s.col] - x[s.col])
        candidates.append(Move(s.field, new, distance, row, known.get((id(s), new))))
    out: dict[str, list[Move]] = {field: [] for field in numbers}
    if not recheck:
        for m in candidates:
            out[m.field].append(m)
        return out
    unknown = [m for m in candidates if m.choice is None]
    scored = dict(zip(map(id, unknown), _choices([m.row for m in unknown], cp), strict=True))
    for m in candidates:
        if (m.choice if m.choice is not None else scored[id(m)]) != current:
            out[m.field].append(m)
    return out


def _rounded(s: _Scan, hi: float, x: np.ndarray) -> tuple[Any, np.ndarray]:
    # The value a bracket ending at `hi` reports (a whole count, or 4 significant figures;
    # a count never rounds back onto the current one) and its feature row.
    paired = _counts(s.field)
    new = round(hi) if paired else float(f"{hi:.4g}")
    if paired and new == round(s.v):
        new = round(hi) + (1 if s.up else -1)
    row = x.copy()
    row[s.col] = _transform(s.field, new)
    return new, row


def _end(ends: dict[tuple[int, Any], np.ndarray], s: _Scan, hi: float, x: np.ndarray) -> None:
    # Note the rounded row of a bracket the bisection may end on (once per value).
    new, row = _rounded(s, hi, x)
    ends.setdefault((id(s), new), row)


def _category_moves(x: np.ndarray, cp: CompiledPack, field: str) -> list[Move]:
    column, choices, ordered = CATEGORICAL[field]
    col = cp.space.col(column)
    cur = int(x[col])
    out = []
    for i, value in enumerate(choices):
        if i == cur:
            continue
        row = x.copy()
        row[col] = float(i)
        out.append(Move(field, value, float(abs(i - cur)) if ordered else 1.0, row))
    return out


def _regime_moves(x: np.ndarray, cp: CompiledPack) -> list[Move]:
    base = len(x) - len(cp.space.regimes)
    out = []
    for j, regime in enumerate(cp.space.regimes):
        row = x.copy()
        row[base + j] = 1.0 - row[base + j]
        out.append(
            Move("regulation.regimes", ("add" if row[base + j] else "remove", regime), 1.0, row)
        )
    return out


def single_moves(
    x: np.ndarray, cp: CompiledPack, numbers: dict[str, float], current: int | None = None
) -> dict[str, list[Move]]:
    """Give, per field, every single change that flips the recommendation, nearest first.

    `current` is the recommendation at `x` (an option index), when the caller has it.
    """
    if current is None:
        current = int(score(x[None, :], cp).choice[0])
    batch = Batch(cp)
    done = request_single_moves(x, cp, numbers, current, batch)
    batch.run()
    return done()


def request_single_moves(
    x: np.ndarray,
    cp: CompiledPack,
    numbers: dict[str, float],
    current: int,
    batch: Batch,
    *,
    recheck: bool = True,
) -> Callable[[], dict[str, list[Move]]]:
    """Queue on `batch` the first rows `single_moves` scores (every category and regime move
    and the numeric grids); give what finishes it, once the batch has run, exactly as
    `single_moves` does (the bisection then makes calls of its own).

    With `recheck` False the numeric moves at their rounded values are not scored again: each
    field's list then holds them all, nearest first, and the caller checks them in that order
    (`verify.single_flips` does, through the full pipeline, and keeps the first that flips: the
    move the re-check would have kept first)."""
    cands: list[Move] = _regime_moves(x, cp)
    for field in FIELD_ORDER:
        if field in CATEGORICAL:
            cands.extend(_category_moves(x, cp, field))
    block = batch.add(np.stack([m.row for m in cands]))
    numeric_done = _request_numeric(x, cp, numbers, current, batch, recheck)

    def done() -> dict[str, list[Move]]:
        numeric = numeric_done()
        choices = batch.result(block).choice
        flipping = [
            Move(m.field, m.new, m.distance, m.row, int(c))
            for m, c in zip(cands, choices, strict=True)
            if c != current
        ]
        out: dict[str, list[Move]] = {}
        for field in FIELD_ORDER:
            if field in NUMERIC:
                moves = numeric[field]
            else:
                moves = [m for m in flipping if m.field == field]
            out[field] = sorted(moves, key=lambda m: m.distance)
        return out

    return done


def _pair_candidates(x: np.ndarray, cp: CompiledPack, numbers: dict[str, float]) -> list[Move]:
    cands: list[Move] = []
    for field in FIELD_ORDER:
        if field in NUMERIC:
            column, lowest, highest = NUMERIC[field]
            col = cp.space.col(column)
            v = numbers[field]
            factors = [1e-3, 1e-2, 0.1, 1 / 3, 3.0, 10.0, 100.0, 1000.0]
            values = [v * f for f in factors if lowest <= v * f <= highest and v * f > 0]
            if _counts(field) and v > 0:
                values.append(0.0)
            if _counts(field) and v == 0:
                values += [1e3, 1e4, 1e5, 1e6]
            for nv in values:
                row = x.copy()
                row[col] = _transform(field, nv)
                shown = round(nv) if _counts(field) else float(f"{nv:.4g}")
                cands.append(Move(field, shown, abs(row[col] - x[col]), row))
        elif field == "regulation.regimes":
            cands.extend(_regime_moves(x, cp))
        else:
            cands.extend(_category_moves(x, cp, field))
    return cands


def best_pair(
    x: np.ndarray, cp: CompiledPack, numbers: dict[str, float]
) -> tuple[Move, Move] | None:
    """Give the cheapest pair of changes to two different inputs that flips the answer."""
    current = score(x[None, :], cp).choice[0]
    cands = _pair_candidates(x, cp, numbers)
    pairs: list[tuple[int, int]] = []
    rows = []
    for i, a in enumerate(cands):
        for j in range(i + 1, len(cands)):
            b = cands[j]
            if a.field == b.field:
                continue
            row = a.row.copy()
            changed = b.row != x
            row[changed] = b.row[changed]
            pairs.append((i, j))
            rows.append(row)
    if not rows:
        return None
    choices = score(np.stack(rows), cp).choice
    best: tuple[float, int] | None = None
    for k, (i, j) in enumerate(pairs):
        if choices[k] != current:
            cost = cands[i].distance + cands[j].distance
            if best is None or cost < best[0] - 1e-12:
                best = (cost, k)
    if best is None:
        return None
    i, j = pairs[best[1]]
    return cands[i], cands[j]


def condition_kind(field: str) -> str:
    """Give the kind of a field (numeric, ordinal, nominal, bool, set)."""
    return CONDITION_FIELDS[field].kind
