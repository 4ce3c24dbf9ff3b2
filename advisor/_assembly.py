"""Assembling an Assessment: the facts once, then the prose, then the pydantic contract.

Takes one row of the engine's decisions (`_decide.Decisions`) with the requirements and the
mapping the user gave; gives the `Assessment`. The decision-side figures (confidence shares,
value of information, Shapley values, counterfactual moves) come from their stage modules;
`_facts` reads the row once, `_verify` re-checks the counterfactuals through the full
pipeline, and `_prose` / `_prose_why` write the sentences. Pure: no files, no printing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _facts, _prose, _prose_why, _verify
from ._assessment import Assessment, Counterfactual, PatternStage, RulePackInfo
from ._attributions import Game, Shapley, coalition_rows, explain_rows
from ._attributions import explain as explain_game
from ._citations import cited
from ._counterfactuals import best_pair, request_single_moves
from ._decide import Decisions, take
from ._estimates import probe_summary, probe_warnings
from ._fields import OPTIONS
from ._precedents import nearest
from ._requirements import Requirements
from ._scoring import Batch, Rows
from ._uncertainty import Figures, batch_stack, describe_inputs, request_figures, variants
from ._version import __version__

if TYPE_CHECKING:  # the probe's models are imported only by `advisor probe`
    from ._probe import ProbeResult


def sketch(f: _facts.Facts) -> list[PatternStage]:
    """Give the stages of the recommended design for the architecture sketch: a hybrid's
    pattern's, else the pack's illustrative stages for the option and modality."""
    if f.option == "hybrid":
        stages: list[Any] = f.pattern.stages
    else:
        arch = getattr(f.cp.pack.architectures, f.option)
        stages = arch.sketch_for(str(f.req.task.modality))
    return [PatternStage(name=s.name, kind=s.kind) for s in stages]


def given_mapping(req: Requirements, given: dict[str, Any] | None) -> dict[str, Any]:
    """Give the mapping as the user gave it; when unknown (None), the fields set on `req`."""
    return req.model_dump(mode="json", exclude_unset=True) if given is None else given


def _request_game(d: Decisions, j: int, batch: Batch) -> Callable[[], Game]:
    # Queue the rows of row j's Shapley game (`attributions.coalition_tables`) on `batch`.
    layout = coalition_rows(d.x[j : j + 1], d.prep.background)
    block = batch.add(Rows(layout.size, layout.fill))
    return lambda: layout.game(batch.result(block).effective)


def assessment(
    req: Requirements,
    given: dict[str, Any] | None,
    pack_sha256: str,
    input_sha256: str,
    d: Decisions,
    j: int,
    explain: bool,
    explain_scores: bool,
    probe: ProbeResult | None,
    *,
    figures: Figures | None = None,
) -> Assessment:
    """Give the Assessment of row `j` of a group of decisions.

    Args:
        req: the project's requirements.
        given: the mapping as the user gave it (None: the fields set on `req`).
        pack_sha256: the pack's sha256.
        input_sha256: the requirements' sha256.
        d: the decisions; row `j` is this project's.
        explain: add the attributions and counterfactuals.
        explain_scores: add each option's own score attribution.
        probe: the figures `advisor probe` measured, if used.
        figures: the uncertainty figures when already computed (`engine.assess_many`).
    """
    prep = d.prep
    pack = prep.pack
    cp = prep.compiled
    given = given_mapping(req, given)
    x = d.x[j]
    ev = take(d.ev, slice(j, j + 1)) if len(d.rows) > 1 else d.ev
    rec = int(ev.choice[0])
    runner = int(d.runner[j])
    f = _facts.facts(req, cp, ev, rec)
    # One engine call for the rows of the Monte Carlo split, the value of information, the
    # Shapley game and the counterfactual grids (each row scores exactly as on its own).
    batch = Batch(cp, batch_stack(cp))
    figures_done = (
        request_figures(req, given, x, cp, rec, batch) if figures is None else lambda: figures
    )
    numbers = _facts.numbers(req)
    game_done = _request_game(d, j, batch) if explain or explain_scores else None
    # The verification below re-runs every move through the full pipeline, nearest first: the
    # engine's own re-check of the rounded numbers would only score the same rows again (the
    # bisection scores each rounded value it may end on with its probes, and the verification
    # takes the answer at a row scored already).
    moves_done = (
        request_single_moves(x, cp, numbers, rec, batch, recheck=False) if explain else None
    )
    batch.run()
    shares, voi = figures_done()
    probs = shares["joint"]
    warnings = _prose.warnings(f, probs) + probe_warnings(req, cp, probe)

    attributions: list[Any] = []
    base: float | None = None
    cfs: list[Counterfactual] = []
    pair = None
    game = game_done() if game_done is not None else d.game
    if game is not None and explain:
        assert moves_done is not None
        m = explain_rows(game, ev.choice, d.runner[j : j + 1])
        sv = Shapley(base=float(m.base[0]), values=m.values[0], explained=float(m.explained[0]))
        base = round(sv.base, 9)
        attributions = _prose_why.attributions(req, given, sv, rec, runner)
        flips = _verify.single_flips(req, pack, moves_done(), rec)
        cfs = _prose_why.counterfactuals(req, flips)
        if not any(c.found for c in cfs):
            found = best_pair(x, cp, numbers)
            flip = _verify.pair_flip(req, pack, found, rec) if found else None
            pair = _prose_why.pair_counterfactual(req, flip) if flip is not None else None
    score_attributions = None
    if game is not None and explain_scores:
        score_attributions = {
            opt: _prose_why.score_attribution(req, given, explain_game(game, i, None), i)
            for i, opt in enumerate(OPTIONS)
        }

    rule_results = _prose.rule_results(f)
    dims = _prose.dimensions(f)
    vetoes = _prose.vetoes(f)
    expl = _prose.explainability(f)
    pattern = _facts.hybrid_pattern(f) if f.option == "hybrid" else None
    plan = _facts.plan(f)
    risks = _facts.risks(f, x)
    # Context only: found after the decision, never part of it.
    precedents = nearest(req, pack.precedents, sources=f.sources, sectors=f.fit.sectors)
    bibliography = cited(
        [d.evidence for d in dims]
        + [r.evidence for r in rule_results if r.fired]
        + [e.evidence for e in expl.values()]
        + ([pattern.evidence] if pattern is not None else [])
        + [s.evidence for s in plan.steps]
        + [r.evidence for r in risks],
        [p.sources for p in precedents],
        f.sources,
    )
    return Assessment(
        advisor_version=__version__,
        rulepack=RulePackInfo(name=pack.name, version=pack.version, sha256=pack_sha256),
        input_sha256=input_sha256,
        name=req.name,
        description=req.description,
        recommendation=OPTIONS[rec],
        runner_up=OPTIONS[runner],
        confidence=probs[OPTIONS[rec]],
        probabilities=probs,
        rationale=_prose.rationale(f, dims),
        reasons=_prose.reasons(f, dims, vetoes),
        scores={o: round(float(ev.raw[0, i]), 9) + 0.0 for i, o in enumerate(OPTIONS)},
        vetoes=vetoes,
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
        design_stages=sketch(f),
        plan=plan,
        uncertainty=_prose.uncertainty(cp, describe_inputs(req, cp), shares, len(variants(cp))),
        value_of_information=_prose.value_of_information(
            sorted(voi, key=lambda d: (-d["probability"], d["input"])), rec
        ),
        requirements=_prose_why.understood(req),
        input=given,
        defaults_applied=_prose_why.defaults_applied(req, given),
        warnings=warnings,
        risks=risks,
        precedents=precedents,
        sources=bibliography,
    )
