"""The decision path: n requirements and a rule pack in, the decisions out, vectorised.

Takes validated `Requirements` (one or many) and a `RulePack` (and optionally the figures of
`advisor probe`); gives `Decisions`: the feature rows, the engine's `Evaluation`, the runner-up,
the Monte Carlo probabilities and, on request, the exact Shapley game and the attribution of the
recommendation's margin. Every caller that decides goes through `decide`: one assessment
(`engine.assess`, n = 1), `recommend_many`, a batch (`batch.assess_chunk`) and the mixes of a
comparison (`compare.attribute`); or through `decide_encoded`, the same groups and stages for
rows a batch has encoded by column. The maths lives in the stages it calls, once each: features
(the encoding), scoring (scores, vetoes, choice, runner-up), uncertainty (the Monte Carlo shares)
and attributions (exact Shapley values). Pure: no files, no printing.

Rows are decided with the pack as it applies to them (`estimates.specialise`: a stated
`regulation.explanation_method` or a probe changes the explainability estimates), so they are
decided in groups, one per effective pack, each group vectorised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ._attributions import Game, ShapleyRows, coalition_tables, explain_rows
from ._estimates import specialise, specialise_method
from ._requirements import Requirements
from ._rulepack import RulePack
from ._scoring import CompiledPack, Evaluation, compile_pack, evaluate, runner_up
from ._uncertainty import probabilities_bounds, probabilities_many

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
        sub = [reqs[j] for j in rows]
        x = prep.compiled.space.matrix(sub)
        out.append(
            _decide_group(
                rows,
                prep,
                x,
                partial(_many, sub, x, samples) if confidence else None,
                explain,
            )
        )
    return out


def decide_encoded(
    x: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    methods: Sequence[str | None],
    pack: RulePack,
    *,
    samples: int | None = None,
    explain: bool = False,
) -> list[Decisions]:
    """`decide` for rows already encoded, column-wise (the batch's CSV and JSON lines): the
    same groups, engine, Monte Carlo stream and Shapley values, without a `Requirements` per
    row. Rows with unsure answers are decided by `decide` (their samples draw the answers).

    Args:
        x: n x width feature rows (`features.encode_columns` or `FeatureSpace.matrix`).
        lo, hi: per row and numeric field, the bounds of its samples on the engine's scale
            (`uncertainty.log_bounds_many`).
        methods: each row's `regulation.explanation_method` (None: not stated).
        pack, samples, explain: as `decide`.
    """
    groups: dict[int, tuple[RulePack, list[int]]] = {}
    for j, m in enumerate(methods):
        sp = specialise_method(pack, m)
        groups.setdefault(id(sp), (sp, []))[1].append(j)
    out = []
    for sp, rows in groups.values():
        prep = prepare(sp)
        idx = np.array(rows, dtype=np.intp)
        sx, slo, shi = (x, lo, hi) if len(groups) == 1 else (x[idx], lo[idx], hi[idx])
        out.append(
            _decide_group(
                rows,
                prep,
                sx,
                partial(_bounded, slo, shi, sx, samples),
                explain,
            )
        )
    return out


def _many(
    reqs: Sequence[Requirements], x: np.ndarray, samples: int | None, cp: CompiledPack
) -> np.ndarray:
    return probabilities_many(reqs, x, cp, samples)


def _bounded(
    lo: np.ndarray, hi: np.ndarray, x: np.ndarray, samples: int | None, cp: CompiledPack
) -> np.ndarray:
    return probabilities_bounds(lo, hi, x, cp, samples)


def _decide_group(
    rows: Sequence[int],
    prep: Prepared,
    x: np.ndarray,
    probabilities: Callable[[CompiledPack], np.ndarray] | None,
    explain: bool,
) -> Decisions:
    # One effective pack's rows: the engine, the runner-up, the Monte Carlo and the game.
    cp = prep.compiled
    ev = evaluate(x, cp)
    runner = runner_up(ev, cp)
    probs = probabilities(cp) if probabilities is not None else None
    game = margin = None
    if explain:
        game = coalition_tables(x, prep.background, cp)
        margin = explain_rows(game, ev.choice, runner)
    return Decisions(np.array(rows, dtype=np.intp), prep, x, ev, runner, probs, game, margin)


def take(ev: Evaluation, rows: np.ndarray | slice) -> Evaluation:
    """Give the `Evaluation` of some of its rows (arrays indexed along their first axis)."""
    return Evaluation(**{f.name: getattr(ev, f.name)[rows] for f in fields(ev)})
