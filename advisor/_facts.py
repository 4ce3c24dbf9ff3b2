"""The facts of one assessment: numbers and choices, computed once, no prose.

Takes the requirements, the compiled pack and one row of the engine's `Evaluation`; gives a
typed `Facts`: each dimension's utility, side and thresholds, the vetoes, the explainability
check of each option, the rules that fired, the hybrid pattern, the plan and the risks that
apply. `_prose` turns these into sentences; nothing here writes one (the texts it carries are
the rule pack's own). Pure: no files, no printing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._assessment import (
    DataThresholds,
    EvidenceRef,
    HybridPattern,
    LatencyThresholds,
    MonitorItem,
    PatternStage,
    Plan,
    PlanItem,
    RegulationThresholds,
    RiskItem,
    Thresholds,
)
from ._citations import ProjectFit, project_fit
from ._citations import evidence_refs as _cite
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, OPTIONS
from ._requirements import (
    COST_ORDER,
    EXPLAINABILITY_ORDER,
    LEVEL3_ORDER,
    MODALITIES,
    Requirements,
)
from ._rulepack import (
    Adjustment,
    DataDimension,
    LatencyDimension,
    Pattern,
    RegulationDimension,
    Rule,
    Source,
)
from ._scoring import CompiledPack, Evaluation, data_window, latency_thresholds

# What depends only on the compiled pack and the project's fit (evidence entries with their
# sources, the pack's rules, advice, risks and patterns as report parts, compiled risk
# conditions) is built once per pack and kept: an assessment then builds only what its own
# figures change. Keyed by id(cp) with the pack held, so an id cannot be reused while cached.
_MEMO: dict[int, tuple[CompiledPack, dict[Any, Any]]] = {}
_MEMO_PACKS = 16
_MEMO_ENTRIES = 20_000


_MEMO_LOCK = threading.Lock()  # the service assesses in threads


def _memo_for(cp: CompiledPack) -> dict[Any, Any]:
    with _MEMO_LOCK:
        entry = _MEMO.get(id(cp))
        if entry is None or entry[0] is not cp:
            while len(_MEMO) >= _MEMO_PACKS:
                _MEMO.pop(next(iter(_MEMO)), None)
            entry = (cp, {})
            _MEMO[id(cp)] = entry
        elif len(entry[1]) > _MEMO_ENTRIES:
            entry[1].clear()
        return entry[1]


def _r(v: float, nd: int = 6) -> float:
    return round(float(v), nd) + 0.0  # + 0.0 turns -0.0 into 0.0 for stable JSON


@dataclass(frozen=True, slots=True)
class DimensionFacts:
    """One dimension as the engine read it: its pack entry, utility, side and thresholds."""

    name: str
    spec: DataDimension | LatencyDimension | RegulationDimension  # the pack's entry
    utility: float
    favours: str  # end_to_end | modular | neutral
    thresholds: Thresholds
    evidence: list[EvidenceRef]


@dataclass(frozen=True, slots=True)
class ExplainabilityCheck:
    """One option's explanation fidelity against the effective requirement."""

    option: str
    fidelity: float
    meets: bool
    vetoed: bool  # the requirement is hard and not met
    penalty: float
    gap: float
    traceable: bool


@dataclass(frozen=True, slots=True)
class VetoFacts:
    """A veto: by a pack rule (`rule`), or by a hard explainability requirement (`rule` None)."""

    option: str
    rule_id: str
    rule: Rule | None


@dataclass(frozen=True, slots=True)
class ExplainabilityBasis:
    """The numbers behind each option's explainability estimate (see `_prose.explainability`)."""

    share: float  # the pattern's interpretable share (hybrid)
    bounds: dict[str, tuple[float, float]]  # option -> (low, high) before clipping
    priors: dict[str, tuple[float, float, float]]  # with a probe: option -> the prior replaced
    used: list[Adjustment]  # the adjustments in the figures
    modality: list[Adjustment]  # the modality adjustments (replaced when measured)
    evidence: dict[str, list[str]]  # option -> evidence ids, in citing order
    measured: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything an assessment's parts are built from, computed once per assessment."""

    req: Requirements
    cp: CompiledPack
    ev: Evaluation
    rec: int
    option: str  # the recommended option
    level: str  # the effective explainability requirement
    need: float  # its minimum fidelity
    need_trace: bool  # it asks for traceable decisions
    fit: ProjectFit
    sources: dict[str, Source]
    pattern: Pattern  # the hybrid pattern the engine chose for this profile
    dimensions: tuple[DimensionFacts, ...]
    fired: tuple[bool, ...]  # per pack rule
    checks: tuple[ExplainabilityCheck, ...]  # per option, in OPTIONS order
    vetoes: tuple[VetoFacts, ...]
    vetoed: tuple[str, ...]  # the options vetoed, in OPTIONS order
    memo: dict[Any, Any]  # the pack's parts built once (see `_memo_for`)

    def evidence(self, ids: list[str]) -> list[EvidenceRef]:
        """Give the evidence entries for ids with their sources, those that fit first."""
        key = ("evidence", self.fit, tuple(ids))
        refs = self.memo.get(key)
        if refs is None:
            refs = self.memo[key] = _cite(self.cp.evidence, self.sources, ids, self.fit)
        return list(refs)

    def once(self, key: Any, build: Any) -> Any:
        """Give `build()` for a part that depends only on the pack and the project's fit,
        built once per pack and fit (`key` names the part)."""
        key = (key, self.fit)
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

    def dimension(self, name: str) -> DimensionFacts:
        """Give the dimension called `name` (data, latency or regulation)."""
        return next(d for d in self.dimensions if d.name == name)


def facts(req: Requirements, cp: CompiledPack, ev: Evaluation, rec: int) -> Facts:
    """Give the facts of one assessed project.

    Args:
        req: the requirements.
        cp: the compiled (specialised) pack.
        ev: the engine's evaluation of this project (one row).
        rec: the recommended option's index.
    """
    pack = cp.pack
    req_idx = int(ev.required[0])
    level = EXPLAINABILITY_ORDER[req_idx]
    fit = project_fit(req, pack)
    memo = _memo_for(cp)
    sources = memo.get("sources")
    if sources is None:
        sources = memo["sources"] = pack.sources_by_id()
    fired = tuple(bool(f) for f in ev.fired[0])
    checks = tuple(
        ExplainabilityCheck(
            option=opt,
            fidelity=float(ev.fidelity[0, i]),
            meets=bool(ev.meets[0, i]),
            vetoed=bool(ev.expl_veto[0, i]),
            penalty=float(ev.expl_penalty[0, i]),
            gap=float(ev.gap[0, i]),
            traceable=bool(ev.traceable[0, i]),
        )
        for i, opt in enumerate(OPTIONS)
    )
    vetoes = [
        VetoFacts(option=str(rule.effect.veto), rule_id=rule.id, rule=rule)
        for rule, f in zip(pack.rules, fired, strict=True)
        if f and rule.effect.veto
    ]
    vetoes += [
        VetoFacts(option=c.option, rule_id=f"explainability-requirement:{c.option}", rule=None)
        for c in checks
        if c.vetoed
    ]
    f = Facts(
        req=req,
        cp=cp,
        ev=ev,
        rec=rec,
        option=OPTIONS[rec],
        level=level,
        need=float(cp.req_min[req_idx]),
        need_trace=bool(cp.req_trace[req_idx]),
        fit=fit,
        sources=sources,
        pattern=pack.patterns[int(ev.pattern[0])],
        dimensions=(),
        fired=fired,
        checks=checks,
        vetoes=tuple(vetoes),
        vetoed=tuple(o for i, o in enumerate(OPTIONS) if ev.vetoed[0, i]),
        memo=memo,
    )
    object.__setattr__(f, "dimensions", _dimensions(f))
    return f


def favours(cp: CompiledPack, u: float) -> str:
    """Give which side a utility favours, by the pack's threshold."""
    th = cp.pack.favour_threshold
    if u >= th:
        return "end_to_end"
    if u <= -th:
        return "modular"
    return "neutral"


def _window(req: Requirements, cp: CompiledPack) -> tuple[float, float, float, float]:
    # The engine's own data window for this project (`scoring.data_window`), as numbers.
    lo, hi, labels, shift = data_window(
        cp,
        np.array([MODALITIES.index(str(req.task.modality))]),
        np.array([LEVEL3_ORDER.index(str(req.data.stage_labels))]),
        np.array([COST_ORDER.index(str(req.data.labeling_cost))]),
        np.array([1.0 if req.task.pretrained_available else 0.0]),
        np.array([1.0 if req.task.foundation_model else 0.0]),
    )
    return float(lo[0]), float(hi[0]), float(labels[0]), float(shift[0])


def data_thresholds(req: Requirements, cp: CompiledPack) -> tuple[float, float]:
    """Give this modality's scarce and ample pair counts, after any pretrained shift."""
    lo, hi, _, _ = _window(req, cp)
    return float(10**lo), float(10**hi)


def _data(req: Requirements, cp: CompiledPack) -> DataThresholds:
    # The pair counts at which this project's data utility crosses the favour thresholds, given
    # its stage-label and labelling-cost adjustments (None: that side cannot be reached).
    lo_log, hi_log, labels, shift = _window(req, cp)
    scarce, ample = float(10**lo_log), float(10**hi_log)
    th = cp.pack.favour_threshold
    adj = float(labels + cp.data_shift)
    lo, hi = np.log10(scarce), np.log10(ample)

    def pairs(u_lin: float) -> float | None:
        if u_lin > 1.0 or u_lin < -1.0:
            return None
        return _r(10 ** (lo + (u_lin + 1.0) * (hi - lo) / 2.0), 0)

    return DataThresholds(
        scarce_pairs=_r(scarce, 2),
        ample_pairs=_r(ample, 2),
        pretrained_shift_decades=shift,
        label_adjustment=_r(adj),
        favours_end_to_end_from_pairs=pairs(th - adj),
        favours_modular_up_to_pairs=pairs(-th - adj),
        probe_shift=_r(cp.data_shift),
    )


def _dimensions(f: Facts) -> tuple[DimensionFacts, ...]:
    cp, d = f.cp, f.cp.pack.dimensions
    fast, slow = latency_thresholds(cp)
    thresholds: list[
        tuple[str, DataDimension | LatencyDimension | RegulationDimension, Thresholds]
    ] = [
        ("data", d.data, _data(f.req, cp)),
        (
            "latency",
            d.latency,
            LatencyThresholds(
                favours_end_to_end_below_ms=_r(fast, 2), tolerates_modular_from_ms=_r(slow, 2)
            ),
        ),
        (
            "regulation",
            d.regulation,
            RegulationThresholds(
                criticality=str(f.req.regulation.criticality),
                required_explainability=f.level,
                criticality_utilities=dict(d.regulation.criticality),
                explainability_utilities=dict(d.regulation.explainability),
                favour_threshold=cp.pack.favour_threshold,
            ),
        ),
    ]
    u = f.ev.utilities[0]
    return tuple(
        DimensionFacts(
            name=name,
            spec=spec,
            utility=float(u[i]),
            favours=favours(cp, float(u[i])),
            thresholds=th,
            evidence=f.evidence(spec.evidence),
        )
        for i, (name, spec, th) in enumerate(thresholds)
    )


def numbers(req: Requirements) -> dict[str, float]:
    """Give the numeric inputs at the point the engine reads (a range's geometric middle)."""
    return {f: CONDITION_FIELDS[f].value(req) for f in NUMERIC_FIELDS}


def explainability_basis(f: Facts) -> ExplainabilityBasis:
    """Give the numbers behind each option's explainability estimate.

    The end-to-end figure is the pack's prior adjusted for modality and explanation method, or,
    with a probe, the measured fidelity adjusted for the method; the hybrid mixes it with the
    modular prior by its pattern's interpretable share.
    """
    ex = f.cp.pack.explainability
    m = ex.measured
    mod_adjs = [a for a in ex.modality_adjustments if a.modality == str(f.req.task.modality)]
    meth_adjs = ex.method_deltas()
    e2e, mod = ex.priors["end_to_end"], ex.priors["modular"]
    prior_adj = sum(a.delta for a in mod_adjs + meth_adjs)
    used = meth_adjs if m is not None else mod_adjs + meth_adjs
    adj = sum(a.delta for a in used)
    e_lo, e_hi = (m.low, m.high) if m is not None else (e2e.low, e2e.high)
    s = f.pattern.interpretable_share
    p_e2e = min(max(e2e.fidelity + prior_adj, 0.0), 1.0)
    used_ev = [e for a in used for e in a.evidence]
    return ExplainabilityBasis(
        share=s,
        bounds={
            "end_to_end": (e_lo + adj, e_hi + adj),
            "modular": (mod.low, mod.high),
            "hybrid": (
                s * mod.low + (1 - s) * (e_lo + adj),
                s * mod.high + (1 - s) * (e_hi + adj),
            ),
        },
        priors={}
        if m is None
        else {
            "end_to_end": (p_e2e, e2e.low + prior_adj, e2e.high + prior_adj),
            "hybrid": (
                s * mod.fidelity + (1 - s) * p_e2e,
                s * mod.low + (1 - s) * (e2e.low + prior_adj),
                s * mod.high + (1 - s) * (e2e.high + prior_adj),
            ),
        },
        used=used,
        modality=mod_adjs,
        evidence={
            "end_to_end": e2e.evidence + used_ev,
            "modular": list(mod.evidence),
            "hybrid": e2e.evidence + mod.evidence + f.pattern.evidence + used_ev,
        },
        measured=m is not None,
    )


def hybrid_pattern(f: Facts) -> HybridPattern:
    """Give the hybrid pattern the engine chose for this profile."""
    p = f.pattern

    def build() -> HybridPattern:
        return HybridPattern(
            id=p.id,
            title=p.title,
            summary=p.summary.strip(),
            stages=[PatternStage(name=s.name, kind=s.kind) for s in p.stages],
            learned=[s.name for s in p.stages if s.kind == "learned"],
            traditional=[s.name for s in p.stages if s.kind != "learned"],
            interpretable_share=p.interpretable_share,
            evidence=f.evidence(p.evidence),
        )

    pattern: HybridPattern = f.once(("pattern", p.id), build)
    return pattern


def plan(f: Facts) -> Plan:
    """Give the implementation plan: the pack's advice for the option and for rules that fired,
    and what to keep traditional (the pattern's non-learned stages for a hybrid, else the
    pack's list for the option)."""
    pack = f.cp.pack
    fired_advice = [
        r.effect.advice
        for r, fired in zip(pack.rules, f.fired, strict=True)
        if fired and r.effect.advice
    ]
    items: list[PlanItem] = []
    monitoring: list[MonitorItem] = []
    for i, a in enumerate(pack.advice):
        if f.option in a.applies_to or a.id in fired_advice:
            if a.steps or not a.monitoring:
                items.append(f.once(("advice", i), lambda a=a: _plan_item(f, a)))
            monitoring.extend(
                f.once(
                    ("monitoring", i),
                    lambda a=a: [
                        MonitorItem(metric=m.metric, kind=m.kind, threshold=m.threshold)
                        for m in a.monitoring
                    ],
                )
            )
    if f.option == "hybrid":
        keep = [s.name for s in f.pattern.stages if s.kind != "learned"]
    else:
        keep = list(getattr(pack.architectures, f.option).keep_traditional)
    return Plan(steps=items, keep_traditional=keep, monitoring=monitoring)


def _plan_item(f: Facts, a: Any) -> PlanItem:
    return PlanItem(
        id=a.id,
        title=a.title,
        text=a.text.strip(),
        steps=list(a.steps),
        evidence=f.evidence(a.evidence),
    )


def _risk_item(f: Facts, risk: Any) -> RiskItem:
    return RiskItem(
        id=risk.id,
        area=risk.area,
        title=risk.title,
        text=risk.text.strip(),
        mitigation=risk.mitigation.strip(),
        applies_to=list(risk.applies_to),
        evidence=f.evidence(risk.evidence),
    )


def risks(f: Facts, x: np.ndarray) -> list[RiskItem]:
    """Give the pack's risks whose condition holds for this profile, in pack order."""
    from ._scoring import columns, compile_condition

    conditions = f.memo.get("risk conditions")
    if conditions is None:
        conditions = f.memo["risk conditions"] = [
            None if r.when is None else compile_condition(r.when, f.cp.space)
            for r in f.cp.pack.risks
        ]
    cols = columns(x[None, :], f.cp, f.ev.required)
    return [
        f.once(("risk", i), lambda risk=risk: _risk_item(f, risk))
        for i, (risk, when) in enumerate(zip(f.cp.pack.risks, conditions, strict=True))
        if when is None or bool(when(cols)[0])
    ]
