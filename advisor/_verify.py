"""Counterfactual re-verification: a change found by the search is re-run through the full
pipeline (validation, features, engine) before the report states it. The changed requirements
are validated and encoded afresh; where they encode to exactly (bit for bit) the row the search
scored for that move, the engine's answer there is the answer (it depends on the row alone),
and every other row is scored again.

Takes the requirements, the pack and the moves `_counterfactuals` found; gives, per input, the
nearest move that really flips the recommendation, as the changed values (no prose: `_prose`
describes them). Pure: no files, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._counterfactuals import Move
from ._fields import OPTIONS, get_path, set_path
from ._requirements import Requirements
from ._rulepack import RulePack


@dataclass(frozen=True, slots=True)
class Edit:
    """One change to the requirements: the field, its value before and after."""

    field: str
    old: Any
    new: Any
    regime: str = ""  # for regulation.regimes: the regime added or removed
    added: bool = False  # for regulation.regimes: it was added


@dataclass(frozen=True, slots=True)
class Flip:
    """A verified counterfactual: the edits, the move(s) they came from, the new answer."""

    edits: tuple[Edit, ...]
    moves: tuple[Move, ...]
    new: str


def edit(req: Requirements, data: dict[str, Any], move: Move) -> Edit:
    """Give the change a move makes, with the field's value before it as the report shows it.

    Args:
        req: the requirements.
        data: `req` as JSON-shaped data (`model_dump(mode="json")`).
        move: a move of the counterfactual search.
    """
    if move.field == "regulation.regimes":
        action, regime = move.new
        regimes = list(req.regulation.regimes)
        new = (
            sorted(set(regimes) | {regime})
            if action == "add"
            else [r for r in regimes if r != regime]
        )
        return Edit(move.field, regimes, new, regime=regime, added=action == "add")
    old = get_path(data, move.field)
    if move.field == "regulation.explainability":
        old = req.explainability_level()
    return Edit(move.field, old, move.new)


def _copy(data: Any) -> Any:
    # A copy of JSON-shaped data (dicts, lists, scalars): copy.deepcopy's memo bookkeeping costs
    # several times more, and this data has no shared or cyclic parts.
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _apply(data: dict[str, Any], edits: tuple[Edit, ...]) -> Requirements:
    changed = _copy(data)
    for e in edits:
        set_path(changed, e.field, e.new)
    return Requirements.model_validate(changed)


def recommendations_after(
    data: dict[str, Any],
    pack: RulePack,
    trials: list[tuple[Edit, ...]],
    scored: list[Move | None] | None = None,
) -> list[str]:
    """Give the recommendation after each tuple of edits to the requirements `data`, through
    the full pipeline (validation, features, engine), all trials in one engine call.

    `scored`, when given, holds per trial the move it came from: a trial whose requirements
    encode to exactly (bit for bit) the row the search scored that move at takes the engine's
    answer there (the answer depends on the row alone) instead of a new engine call.
    """
    from ._decide import prepare
    from ._scoring import score

    if not trials:
        return []
    cp = prepare(pack).compiled
    rows = [cp.space.vector(_apply(data, edits)) for edits in trials]
    known: list[int | None] = [
        m.choice
        if m is not None and m.choice is not None and m.row.tobytes() == row.tobytes()
        else None
        for m, row in zip(scored or [None] * len(rows), rows, strict=True)
    ]
    todo = [row for row, a in zip(rows, known, strict=True) if a is None]
    fresh = iter(score(np.stack(todo), cp).choice.tolist() if todo else [])
    # The rows scored now, in trial order, fill the trials without a kept answer.
    return [OPTIONS[a if a is not None else next(fresh)] for a in known]


def single_flips(
    req: Requirements, pack: RulePack, moves: dict[str, list[Move]], rec: int
) -> dict[str, Flip | None]:
    """Give, per input, the nearest move that flips the recommendation once verified (None: no
    move of that input alone does)."""
    data = req.model_dump(mode="json")
    current = OPTIONS[rec]
    firsts = {field: edit(req, data, found[0]) for field, found in moves.items() if found}
    first_new = dict(
        zip(
            firsts,
            recommendations_after(
                data, pack, [(e,) for e in firsts.values()], [moves[f][0] for f in firsts]
            ),
            strict=True,
        )
    )
    out: dict[str, Flip | None] = {}
    for field, found in moves.items():
        out[field] = None
        for n, move in enumerate(found):
            # The nearest move of every field was re-evaluated above, together; the engine
            # found each move flipping, so the rest are re-checked only if that one did not.
            e = firsts[field] if n == 0 else edit(req, data, move)
            new = (
                first_new[field] if n == 0 else recommendations_after(data, pack, [(e,)], [move])[0]
            )
            if new != current:
                out[field] = Flip(edits=(e,), moves=(move,), new=new)
                break
    return out


def pair_flip(req: Requirements, pack: RulePack, pair: tuple[Move, Move], rec: int) -> Flip | None:
    """Give the best pair of moves as a verified flip (None if together they do not flip)."""
    data = req.model_dump(mode="json")
    edits = tuple(edit(req, data, m) for m in pair)
    new = recommendations_after(data, pack, [edits])[0]
    return None if new == OPTIONS[rec] else Flip(edits=edits, moves=pair, new=new)
