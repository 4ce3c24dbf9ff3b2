"""The pipeline, end to end: requirements -> Assessment (docs/architecture.md).

Takes a validated `Requirements`, the mapping the user gave (to tell given values from defaults)
and a `RulePack`; gives an `Assessment`. Pure: no files, no printing. Each stage lives in its own
module (features, scoring, uncertainty, attributions, counterfactuals, report_parts); this one
wires them together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _report_parts as parts
from ._assessment import Assessment, RulePackInfo
from ._attributions import Game, Shapley, coalition_rows, explain_rows
from ._attributions import explain as explain_game
from ._citations import cited, project_fit
from ._counterfactuals import best_pair, request_single_moves
from ._decide import Decisions, decide, take
from ._decide import Prepared as Prepared  # re-exported: `engine.prepare` is used widely
from ._decide import prepare as prepare
from ._estimates import probe_summary, probe_warnings
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, OPTIONS
from ._precedents import nearest
from ._requirements import Requirements
from ._rulepack import RulePack
from ._scoring import Batch
from ._uncertainty import Figures, batch_stack, describe_inputs, request_figures, variants
from ._version import __version__

if TYPE_CHECKING:  # the probe's models are imported only by `advisor probe`
    from ._probe import ProbeResult


def input_sha256(req: Requirements) -> str:
    """Give the sha256 of the requirements' canonical JSON (key order and format do not matter)."""
    text = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def assess(
    req: Requirements,
    pack: RulePack,
    *,
    given: dict[str, Any] | None = None,
    explain: bool = True,
    explain_scores: bool = False,
    probe: ProbeResult | None = None,
) -> Assessment:
    """Assess one project.

    Args:
        req: validated requirements.
        pack: the rule pack.
        given: the mapping as the user gave it (defaults are what it leaves out); when None,
            the fields set on `req` count as given.
        explain: compute SHAP attributions and counterfactuals (the slow part).
        explain_scores: also explain each option's effective score on its own.
        probe: figures measured by `advisor probe`: they replace the end-to-end prior, and the
            accuracy gap shifts the data dimension.

    Returns:
        The full `Assessment`.
    """
    # The explanation method and any measured figures apply to every stage (`decide`).
    # The Shapley game is built here rather than by `decide`, so that its rows share one engine
    # call with every other row the assessment scores (`_assemble`).
    d = decide([req], pack, probe=probe, confidence=False)[0]
    return _assemble(req, given, prepare(pack).sha256, d, 0, explain, explain_scores, probe)


def assess_many(
    reqs: Sequence[Requirements],
    givens: Sequence[dict[str, Any] | None],
    pack: RulePack,
    *,
    probe: ProbeResult | None = None,
) -> list[Assessment]:
    """Assess many projects without explanations, deciding them all in one vectorised pass.

    Args:
        reqs: validated requirements.
        givens: per project, the mapping as the user gave it, or None (see `assess`).
        pack: the rule pack.
        probe: figures measured by `advisor probe`, applied to every project.

    Returns:
        The Assessments in input order, equal to `assess(..., explain=False)` of each.
    """
    sha = prepare(pack).sha256
    out: list[Assessment | None] = [None] * len(reqs)
    for d in decide(reqs, pack, probe=probe, confidence=False):
        cp = d.prep.compiled
        rows = d.rows.tolist()
        # The uncertainty figures of a few projects per engine call (each needs ~4,000 rows; far
        # larger calls run slower per row, their arrays no longer in cache).
        for a in range(0, len(rows), _FIGURES_AT_ONCE):
            batch = Batch(cp, batch_stack(cp))
            todo = []
            for j in range(a, min(a + _FIGURES_AT_ONCE, len(rows))):
                i = rows[j]
                given = _given(reqs[i], givens[i])
                rec = int(d.ev.choice[j])
                todo.append((j, i, given, request_figures(reqs[i], given, d.x[j], cp, rec, batch)))
            batch.run()
            for j, i, given, figures in todo:
                out[i] = _assemble(reqs[i], given, sha, d, j, False, False, probe, figures())
    return [a for a in out if a is not None]


#: Projects whose uncertainty figures share one engine call in `assess_many`.
_FIGURES_AT_ONCE = 4


def _given(req: Requirements, given: dict[str, Any] | None) -> dict[str, Any]:
    # The mapping as the user gave it; when unknown, the fields set on `req`.
    return req.model_dump(mode="json", exclude_unset=True) if given is None else given


def _request_game(d: Decisions, j: int, batch: Batch) -> Callable[[], Game]:
    # Queue the rows of row j's Shapley game (`attributions.coalition_tables`) on `batch`.
    layout = coalition_rows(d.x[j : j + 1], d.prep.background)
    block = batch.add(layout.rows)
    return lambda: layout.game(batch.result(block).effective)


def _assemble(
    req: Requirements,
    given: dict[str, Any] | None,
    pack_sha256: str,
    d: Decisions,
    j: int,
    explain: bool,
    explain_scores: bool,
    probe: ProbeResult | None,
    figures: Figures | None = None,
) -> Assessment:
    # Row j of a group of decisions -> the Assessment (the facts, then the prose). `figures`:
    # its uncertainty figures when already computed (`assess_many`).
    prep: Prepared = d.prep
    pack = prep.pack
    cp = prep.compiled
    given = _given(req, given)
    x = d.x[j]
    ev = take(d.ev, slice(j, j + 1)) if len(d.rows) > 1 else d.ev
    rec = int(ev.choice[0])
    runner = int(d.runner[j])
    # One engine call for the rows of the Monte Carlo split, the value of information, the
    # Shapley game and the counterfactual grids (each row scores exactly as on its own).
    batch = Batch(cp, batch_stack(cp))
    figures_done = (
        request_figures(req, given, x, cp, rec, batch) if figures is None else lambda: figures
    )
    numbers = {f: CONDITION_FIELDS[f].value(req) for f in NUMERIC_FIELDS}
    game_done = _request_game(d, j, batch) if explain or explain_scores else None
    moves_done = request_single_moves(x, cp, numbers, rec, batch) if explain else None
    batch.run()
    shares, voi = figures_done()
    probs = shares["joint"]
    warnings = parts.warnings(req, cp, ev, probs, OPTIONS[rec]) + probe_warnings(req, cp, probe)

    attributions: list[Any] = []
    base: float | None = None
    cfs: list[Any] = []
    pair = None
    game = game_done() if game_done is not None else d.game
    if game is not None and explain:
        assert moves_done is not None
        m = explain_rows(game, ev.choice, d.runner[j : j + 1])
        sv = Shapley(base=float(m.base[0]), values=m.values[0], explained=float(m.explained[0]))
        base = round(sv.base, 9)
        attributions = parts.attributions(req, given, sv, rec, runner)
        moves = moves_done()
        cfs = parts.counterfactuals(req, pack, moves, rec)
        if not any(c.found for c in cfs):
            found = best_pair(x, cp, numbers)
            pair = parts.pair_counterfactual(req, pack, found, rec) if found else None
    score_attributions = None
    if game is not None and explain_scores:
        score_attributions = {
            opt: parts.score_attribution(req, given, explain_game(game, i, None), i)
            for i, opt in enumerate(OPTIONS)
        }

    fit = project_fit(req, pack)
    rule_results = parts.rule_results(cp, ev, fit)
    dims = parts.dimensions(req, cp, ev)
    expl = parts.explainability(req, cp, ev)
    pattern = parts.hybrid_pattern(cp, ev, fit) if OPTIONS[rec] == "hybrid" else None
    plan = parts.plan(cp, ev, rec, fit)
    risks = parts.risks(cp, x, ev, fit)
    # Context only: found after the decision, never part of it.
    precedents = nearest(req, pack.precedents, sources=pack.sources_by_id(), sectors=fit.sectors)
    bibliography = cited(
        [d.evidence for d in dims]
        + [r.evidence for r in rule_results if r.fired]
        + [e.evidence for e in expl.values()]
        + ([pattern.evidence] if pattern is not None else [])
        + [s.evidence for s in plan.steps]
        + [r.evidence for r in risks],
        [p.sources for p in precedents],
        pack.sources_by_id(),
    )
    return Assessment(
        advisor_version=__version__,
        rulepack=RulePackInfo(name=pack.name, version=pack.version, sha256=pack_sha256),
        input_sha256=input_sha256(req),
        name=req.name,
        description=req.description,
        recommendation=OPTIONS[rec],
        runner_up=OPTIONS[runner],
        confidence=probs[OPTIONS[rec]],
        probabilities=probs,
        rationale=parts.rationale(req, cp, ev, rec),
        reasons=parts.reasons(req, cp, ev, rec),
        scores={o: round(float(ev.raw[0, i]), 9) + 0.0 for i, o in enumerate(OPTIONS)},
        vetoes=parts.vetoes(cp, ev),
        dimensions=dims,
        rules_fired=[r for r in rule_results if r.fired],  # the same entries, not copies
        rules_evaluated=rule_results,
        attributions=attributions,
        attribution_base=base,
        attribution_target=f"score margin of {OPTIONS[rec]} over {OPTIONS[runner]}",
        score_attributions=score_attributions,
        counterfactuals=cfs,
        best_pair=pair,
        explainability=expl,
        probe=probe_summary(probe, cp.data_shift if cp.pack.explainability.probe else None)
        if probe is not None
        else None,
        hybrid_pattern=pattern,
        plan=plan,
        uncertainty=parts.uncertainty(cp, describe_inputs(req, cp), shares, len(variants(cp))),
        value_of_information=parts.value_of_information(
            sorted(voi, key=lambda d: (-d["probability"], d["input"])), rec
        ),
        requirements=parts.understood(req),
        input=given,
        defaults_applied=parts.defaults_applied(req, given),
        warnings=warnings,
        risks=risks,
        precedents=precedents,
        sources=bibliography,
    )
