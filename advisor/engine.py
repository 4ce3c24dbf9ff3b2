"""The pipeline, end to end: requirements -> Assessment (docs/architecture.md).

Takes a validated `Requirements`, the mapping the user gave (to tell given values from defaults)
and a `RulePack`; gives an `Assessment`. Pure: no files, no printing. Each stage lives in its own
module (features, scoring, uncertainty, attributions, counterfactuals, report_parts); this one
wires them together.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import report_parts as parts
from ._version import __version__
from .assessment import Assessment, RulePackInfo
from .attributions import coalition_table
from .attributions import explain as explain_game
from .citations import cited, project_fit
from .counterfactuals import best_pair, single_moves
from .estimates import probe_summary, probe_warnings, specialise
from .fields import OPTIONS
from .precedents import nearest
from .requirements import Requirements, point
from .rulepack import RulePack
from .scoring import CompiledPack, compile_pack, evaluate
from .uncertainty import (
    describe_inputs,
    probe_sensitivity,
    split,
    value_of_information,
    variants,
)

if TYPE_CHECKING:  # the probe's models are imported only by `advisor probe`
    from .probe import ProbeResult


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
    pack_sha256 = prepare(pack).sha256
    # The explanation method and any measured figures apply to every stage below.
    pack = specialise(pack, req, probe)
    prep = prepare(pack)
    cp = prep.compiled
    if given is None:
        given = req.model_dump(mode="json", exclude_unset=True)
    x = cp.space.vector(req)
    ev = evaluate(x[None, :], cp)
    rec = int(ev.choice[0])
    runner = _runner_up(ev, cp, rec)
    shares = split(req, x, cp)
    probs = shares["joint"]
    voi = value_of_information(req, given, x, cp, rec)
    voi += probe_sensitivity(x, cp, rec)
    warnings = parts.warnings(req, cp, ev, probs, OPTIONS[rec]) + probe_warnings(req, cp, probe)

    attributions: list[Any] = []
    base: float | None = None
    cfs: list[Any] = []
    pair = None
    game = coalition_table(x, prep.background, cp) if explain or explain_scores else None
    if game is not None and explain:
        sv = explain_game(game, rec, runner)
        base = round(sv.base, 9)
        attributions = parts.attributions(req, given, sv, rec, runner)
        numbers = {
            "data.paired_examples": point(req.data.paired_examples),
            "latency.budget_ms": point(req.latency.budget_ms),
        }
        moves = single_moves(x, cp, numbers, rec)
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
    precedents = nearest(
        req, pack.precedents, sources=pack.sources_by_id(), sectors=fit.sectors
    )
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


def _runner_up(ev: Any, cp: CompiledPack, rec: int) -> int:
    # The best other option; ties broken by the pack's tie-break order.
    best = None
    for i in (int(j) for j in cp.tie_order):
        if i == rec:
            continue
        if best is None or ev.effective[0, i] > ev.effective[0, best]:
            best = i
    assert best is not None
    return best
