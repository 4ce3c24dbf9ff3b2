"""The decision path: n requirements and a rule pack in, the decisions out, vectorised.

Takes validated `Requirements` (one or many) and a `RulePack` (and optionally the figures of
`advisor probe`); gives `Decisions`: the feature rows, the engine's `Evaluation`, the runner-up,
the Monte Carlo probabilities and, on request, the exact Shapley game and the attribution of the
recommendation's margin. Every caller that decides goes through `decide`: one assessment
(`engine.assess`, n = 1), `recommend_many`, a batch (`batch.assess_chunk`) and the mixes of a
comparison (`compare.attribute`). The maths lives in the stages it calls, once each: features
(the encoding), scoring (scores, vetoes, choice, runner-up), uncertainty (the Monte Carlo shares)
and attributions (exact Shapley values). Pure: no files, no printing.

Rows are decided with the pack as it applies to them (`estimates.specialise`: a stated
`regulation.explanation_method` or a probe changes the explainability estimates), so they are
decided in groups, one per effective pack, each group vectorised.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from ._attributions import Game, ShapleyRows, coalition_tables, explain_rows
from ._estimates import specialise
from ._requirements import Requirements
from ._rulepack import RulePack
from ._scoring import CompiledPack, Evaluation, compile_pack, evaluate, runner_up
from ._uncertainty import probabilities_many

if TYPE_CHECKING:  # the probe's models are imported only by `advisor probe`
    from ._probe import ProbeResult


@dataclass(frozen=True)
class Prepared:
    """A pack compiled once, with its background rows and hash."""

    pack: RulePack
    compiled: CompiledPack
    background: np.ndarray
    sha256: str


_prepared: dict[int, Prepared] = {}
_lock = threading.Lock()


def prepare(pack: RulePack) -> Prepared:
    """Give the compiled form of a pack, built once per pack object (thread-safe)."""
    with _lock:
        hit = _prepared.get(id(pack))
        if hit is not None and hit.pack is pack:
            return hit
        cp = compile_pack(pack)
        rows = []
        for i, profile in enumerate(pack.background):
            data = {"name": f"background-{i}", **profile}
            rows.append(cp.space.vector(Requirements.model_validate(data)))
        prep = Prepared(pack, cp, np.stack(rows), pack.sha256())
        _prepared[id(pack)] = prep
        while len(_prepared) > 64:  # packs derived per assessment (estimates.specialise)
            del _prepared[next(iter(_prepared))]
        return prep


@dataclass(frozen=True)
class Decisions:
    """The decisions of the rows that share one effective pack.

    rows: their positions in the input. prep: the pack as it applies to them, compiled.
    x: their feature rows. ev: the engine's arrays. runner: the runner-up option per row.
    probabilities: n x 3 Monte Carlo shares (None when not asked). game: the Shapley game of
    every row, and margin: the attribution of each recommendation's margin over its runner-up
    (both None unless explained).
    """

    rows: np.ndarray
    prep: Prepared
    x: np.ndarray
    ev: Evaluation
    runner: np.ndarray
    probabilities: np.ndarray | None
    game: Game | None
    margin: ShapleyRows | None


def decide(
    reqs: Sequence[Requirements],
    pack: RulePack,
    *,
    probe: ProbeResult | None = None,
    confidence: bool = True,
    samples: int | None = None,
    explain: bool = False,
) -> list[Decisions]:
    """Decide many projects at once.

    Args:
        reqs: validated requirements.
        pack: the rule pack (each row is decided with `estimates.specialise` of it).
        probe: figures measured by `advisor probe`, applied to every row.
        confidence: compute the Monte Carlo probabilities.
        samples: Monte Carlo samples per row: the first this many of the pack's stream (all of
            it when None, as a single assessment uses).
        explain: also build the Shapley game of every row and attribute its margin.

    Returns:
        One `Decisions` per effective pack, in order of first appearance; together their
        `rows` cover the input once.
    """
    groups: dict[int, tuple[RulePack, list[int]]] = {}
    for j, r in enumerate(reqs):
        sp = specialise(pack, r, probe)
        groups.setdefault(id(sp), (sp, []))[1].append(j)
    out = []
    for sp, rows in groups.values():
        prep = prepare(sp)
        cp = prep.compiled
        sub = [reqs[j] for j in rows]
        x = cp.space.matrix(sub)
        ev = evaluate(x, cp)
        runner = runner_up(ev, cp)
        probs = probabilities_many(sub, x, cp, samples) if confidence else None
        game = margin = None
        if explain:
            game = coalition_tables(x, prep.background, cp)
            margin = explain_rows(game, ev.choice, runner)
        out.append(
            Decisions(np.array(rows, dtype=np.intp), prep, x, ev, runner, probs, game, margin)
        )
    return out


def take(ev: Evaluation, rows: np.ndarray | slice) -> Evaluation:
    """Give the `Evaluation` of some of its rows (arrays indexed along their first axis)."""
    return Evaluation(**{f.name: getattr(ev, f.name)[rows] for f in fields(ev)})
