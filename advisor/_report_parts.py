"""Stage 5 and the narrative: turn the engine's arrays into the Assessment's parts.

Takes the requirements, the compiled pack and an `Evaluation` (one row); gives the pydantic parts
of the output contract: dimensions, vetoes, rules with evidence, explainability estimates, the
hybrid pattern, the plan, attributions and counterfactuals with plain-language text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._assessment import (
    Attribution,
    Change,
    Counterfactual,
    DefaultApplied,
    Dimension,
    EvidenceRef,
    ExplainabilityEstimate,
    HybridPattern,
    InformationValue,
    MonitorItem,
    PatternStage,
    Plan,
    PlanItem,
    PriorFigure,
    RiskItem,
    RuleResult,
    ScoreAttribution,
    Uncertainty,
    Veto,
)
from ._attributions import PLAYERS, Shapley
from ._citations import ANY_PROJECT, ProjectFit, project_fit
from ._citations import evidence_refs as _cite
from ._counterfactuals import Move
from ._fields import OPTIONS, get_path, set_path
from ._narrative import (
    FIELD_LABELS,
    PLAYER_FIELDS,
    fmt_count,
    fmt_ms,
    fmt_value,
    option_label,
)
from ._requirements import (
    DEFAULT_EXPLAINABILITY,
    EXPLAINABILITY_ORDER,
    MODALITIES,
    Requirements,
    field_paths,
    point,
)
from ._rulepack import RulePack
from ._scoring import CompiledPack, Evaluation, evaluate

DIMENSIONS = ("data", "latency", "regulation")


def _r(v: float, nd: int = 6) -> float:
    return round(float(v), nd) + 0.0  # + 0.0 turns -0.0 into 0.0 for stable JSON


def evidence_refs(
    cp: CompiledPack, ids: list[str], fit: ProjectFit = ANY_PROJECT
) -> list[EvidenceRef]:
    """Give the evidence entries for ids with their sources, those that fit the project first."""
    return _cite(cp.evidence, cp.pack.sources_by_id(), ids, fit)


def favours(cp: CompiledPack, u: float) -> str:
    """Give which side a utility favours, by the pack's threshold."""
    th = cp.pack.favour_threshold
    if u >= th:
        return "end_to_end"
    if u <= -th:
        return "modular"
    return "neutral"


def latency_thresholds(cp: CompiledPack) -> tuple[float, float]:
    """Give the budget (ms) under which latency favours end-to-end, and the one from which it
    argues for neither side (a pipeline is tolerated; the curve has reached 0 or below)."""
    th = cp.pack.favour_threshold
    xs, us = cp.curve_x[::-1], cp.curve_u[::-1]
    return float(10 ** np.interp(th, us, xs)), float(10 ** np.interp(0.0, us, xs))


def pretraining_shift(req: Requirements, cp: CompiledPack) -> float:
    """Give how many decades of pairs a pretrained backbone or foundation model saves."""
    return max(
        cp.pretrained_shift if req.task.pretrained_available else 0.0,
        cp.foundation_shift if req.task.foundation_model else 0.0,
    )


def data_thresholds(req: Requirements, cp: CompiledPack) -> tuple[float, float]:
    """Give this modality's scarce and ample pair counts, after any pretrained shift."""
    m = MODALITIES.index(str(req.task.modality))
    shift = pretraining_shift(req, cp)
    return float(10 ** (cp.scarce_log[m] - shift)), float(10 ** (cp.ample_log[m] - shift))


def required_level(ev: Evaluation) -> str:
    """Give the effective explainability level name."""
    return EXPLAINABILITY_ORDER[int(ev.required[0])]


def dimensions(req: Requirements, cp: CompiledPack, ev: Evaluation) -> list[Dimension]:
    """Give the three dimensions with value, utility, side favoured and thresholds."""
    d = cp.pack.dimensions
    u = ev.utilities[0]
    scarce, ample = data_thresholds(req, cp)
    fast, slow = latency_thresholds(cp)
    crit = str(req.regulation.criticality).replace("_", " ")
    level = required_level(ev)
    fit = project_fit(req, cp.pack)
    out = []
    specs: list[tuple[str, Any, str, dict[str, Any]]] = [
        (
            "data",
            d.data,
            f"{fmt_value('data.paired_examples', _given_number(req.data.paired_examples))} "
            f"({req.task.modality}; stage labels {req.data.stage_labels}, "
            f"labelling cost {req.data.labeling_cost})"
            + (
                f"; measured accuracy gap {cp.pack.explainability.measured.accuracy_gap:+.3f} "
                f"shifts it {cp.data_shift:+.2f}"
                if cp.pack.explainability.measured is not None
                and cp.pack.explainability.measured.accuracy_gap is not None
                else ""
            ),
            {
                "scarce_pairs": _r(scarce, 2),
                "ample_pairs": _r(ample, 2),
                "pretrained_shift_decades": pretraining_shift(req, cp),
                **_data_favour_bounds(req, cp, scarce, ample),
                "probe_shift": _r(cp.data_shift),
            },
        ),
        (
            "latency",
            d.latency,
            f"{fmt_value('latency.budget_ms', _given_number(req.latency.budget_ms))} p95",
            {"favours_end_to_end_below_ms": _r(fast, 2), "tolerates_modular_from_ms": _r(slow, 2)},
        ),
        (
            "regulation",
            d.regulation,
            f"{crit}; explainability {level}"
            + (f"; regimes {', '.join(req.regulation.regimes)}" if req.regulation.regimes else ""),
            {
                "criticality": str(req.regulation.criticality),
                "required_explainability": level,
                "criticality_utilities": dict(d.regulation.criticality),
                "explainability_utilities": dict(d.regulation.explainability),
                "favour_threshold": cp.pack.favour_threshold,
            },
        ),
    ]
    for i, (name, spec, value, thresholds) in enumerate(specs):
        out.append(
            Dimension(
                name=name,
                label=spec.label,
                value=value,
                utility=_r(u[i]),
                favours=favours(cp, float(u[i])),
                weight=_r(spec.weight),
                rationale=spec.rationale.strip(),
                thresholds=thresholds,
                evidence=evidence_refs(cp, spec.evidence, fit),
            )
        )
    return out


def _data_favour_bounds(
    req: Requirements, cp: CompiledPack, scarce: float, ample: float
) -> dict[str, Any]:
    # The pair counts at which this project's data utility crosses the favour thresholds, given
    # its stage-label and labelling-cost adjustments (None: that side cannot be reached).
    from ._requirements import COST_ORDER, LEVEL3_ORDER

    th = cp.pack.favour_threshold
    adj = float(
        cp.stage_adj[LEVEL3_ORDER.index(str(req.data.stage_labels))]
        + cp.cost_adj[COST_ORDER.index(str(req.data.labeling_cost))]
        + cp.data_shift
    )
    lo, hi = np.log10(scarce), np.log10(ample)

    def pairs(u_lin: float) -> float | None:
        if u_lin > 1.0 or u_lin < -1.0:
            return None
        return _r(10 ** (lo + (u_lin + 1.0) * (hi - lo) / 2.0), 0)

    return {
        "label_adjustment": _r(adj),
        "favours_end_to_end_from_pairs": pairs(th - adj),
        "favours_modular_up_to_pairs": pairs(-th - adj),
    }


def _given_number(v: Any) -> Any:
    return v.model_dump() if hasattr(v, "model_dump") else v


def _effect(rule: Any) -> dict[str, Any]:
    effect: dict[str, Any] = rule.effect.model_dump(exclude_none=True)
    return effect


def rule_results(
    cp: CompiledPack, ev: Evaluation, fit: ProjectFit = ANY_PROJECT
) -> list[RuleResult]:
    """Give every rule of the pack with whether it fired, then the explainability checks."""
    out = [
        RuleResult(
            id=rule.id,
            fired=bool(ev.fired[0, i]),
            effect=_effect(rule),
            rationale=rule.rationale.strip(),
            evidence=evidence_refs(cp, rule.evidence, fit),
        )
        for i, rule in enumerate(cp.pack.rules)
    ]
    level = required_level(ev)
    need = float(cp.req_min[int(ev.required[0])])
    ex_ev = cp.pack.explainability.priors["end_to_end"].evidence
    for i, opt in enumerate(OPTIONS):
        missed = not bool(ev.meets[0, i])
        effect: dict[str, Any]
        if bool(ev.expl_veto[0, i]):
            effect = {"veto": opt}
        elif missed:
            effect = {"add": {opt: _r(-float(ev.expl_penalty[0, i]))}}
        else:
            effect = {}
        out.append(
            RuleResult(
                id=f"explainability-requirement:{opt}",
                fired=missed,
                effect=effect,
                rationale=(
                    f"{option_label(opt).capitalize()} explanation fidelity estimate "
                    f"{float(ev.fidelity[0, i]):.2f} against the {level} requirement's "
                    f"{need:.2f}"
                    + (" with traceable decisions" if cp.req_trace[int(ev.required[0])] else "")
                    + (": met." if not missed else ": not met.")
                ),
                evidence=evidence_refs(cp, ex_ev, fit),
            )
        )
    return out


def vetoes(cp: CompiledPack, ev: Evaluation) -> list[Any]:
    """Give each veto with the rule and its reason."""
    out = []
    for i, rule in enumerate(cp.pack.rules):
        if ev.fired[0, i] and rule.effect.veto:
            out.append(Veto(option=rule.effect.veto, rule=rule.id, reason=rule.rationale.strip()))
    level = required_level(ev)
    for i, opt in enumerate(OPTIONS):
        if ev.expl_veto[0, i]:
            out.append(
                Veto(
                    option=opt,
                    rule=f"explainability-requirement:{opt}",
                    reason=(
                        f"The {level} explainability requirement is hard (minimum fidelity "
                        f"{float(cp.req_min[int(ev.required[0])]):.2f}"
                        + (
                            ", decisions traceable to a rule path"
                            if cp.req_trace[int(ev.required[0])]
                            else ""
                        )
                        + f"); {option_label(opt)} is estimated at "
                        f"{float(ev.fidelity[0, i]):.2f}"
                        + ("" if ev.traceable[0, i] else " and is not traceable")
                        + "."
                    ),
                )
            )
    return out


def _clip01(v: float) -> float:
    return _r(min(max(v, 0.0), 1.0), 4)


def explainability(
    req: Requirements, cp: CompiledPack, ev: Evaluation
) -> dict[str, ExplainabilityEstimate]:
    """Give each option's explanation fidelity and traceability against the requirement.

    The end-to-end figure is the pack's prior adjusted for modality and explanation method, or,
    with a probe, the measured fidelity adjusted for the method; the hybrid mixes it with the
    modular prior by its pattern's interpretable share. Measured estimates carry the prior they
    replaced.
    """
    ex = cp.pack.explainability
    level = required_level(ev)
    req_idx = int(ev.required[0])
    need = float(cp.req_min[req_idx])
    need_trace = bool(cp.req_trace[req_idx])
    modality = str(req.task.modality)
    m = ex.measured
    mod_adjs = [a for a in ex.modality_adjustments if a.modality == modality]
    meth_adjs = ex.method_deltas()
    method = ex.method or "lime"
    method_text = method if ex.method else "lime (assumed: regulation.explanation_method not given)"

    def texts(adjs: list[Any]) -> list[str]:
        return [
            f"{a.id}: {a.delta:+.2f} ({'assumption' if a.assumption else 'sourced'}): "
            f"{a.reasoning.strip()}"
            for a in adjs
        ]

    e2e, mod = ex.priors["end_to_end"], ex.priors["modular"]
    prior_adj = sum(a.delta for a in mod_adjs + meth_adjs)
    used_adjs = meth_adjs if m is not None else mod_adjs + meth_adjs
    adj = sum(a.delta for a in used_adjs)
    adj_text = texts(used_adjs)
    if m is not None:
        adj_text.append(
            "measured: the probe's figure replaces the prior and its modality adjustment"
            + (f" ({', '.join(a.id for a in mod_adjs)})" if mod_adjs else "")
        )
    e_lo, e_hi = (m.low, m.high) if m is not None else (e2e.low, e2e.high)
    pattern = cp.pack.patterns[int(ev.pattern[0])]
    s = pattern.interpretable_share
    bounds = {
        "end_to_end": (e_lo + adj, e_hi + adj),
        "modular": (mod.low, mod.high),
        "hybrid": (s * mod.low + (1 - s) * (e_lo + adj), s * mod.high + (1 - s) * (e_hi + adj)),
    }
    p_e2e = min(max(e2e.fidelity + prior_adj, 0.0), 1.0)
    priors = {
        "end_to_end": (p_e2e, e2e.low + prior_adj, e2e.high + prior_adj, e2e.basis.strip()),
        "hybrid": (
            s * mod.fidelity + (1 - s) * p_e2e,
            s * mod.low + (1 - s) * (e2e.low + prior_adj),
            s * mod.high + (1 - s) * (e2e.high + prior_adj),
            f"{s:.2f} x modular prior + {1 - s:.2f} x end-to-end prior",
        ),
    }
    e2e_basis = m.basis.strip() if m is not None else e2e.basis.strip()
    basis = {
        "end_to_end": e2e_basis,
        "modular": mod.basis.strip(),
        "hybrid": (
            f"Pattern '{pattern.title}' keeps {s:.0%} of the decision path in interpretable "
            f"modules (an assumption of the pattern): {s:.2f} x modular prior + {1 - s:.2f} x "
            f"end-to-end {'measured figure' if m is not None else 'prior'}."
        ),
    }
    kept = [st.name for st in pattern.stages if st.kind != "learned"]
    trace_basis = {
        "end_to_end": (
            "Traceable: the pack's end-to-end prior says so."
            if e2e.traceable
            else "No rule path: one jointly trained model's decision can only be explained "
            "after the fact (the 2025 article on end-to-end trade-offs)."
        ),
        "modular": (
            "Each stage has its own output and the decision module a rule path a reviewer can "
            'follow (the 2025 article on end-to-end trade-offs: "income ratio > 3").'
            if mod.traceable
            else "Not traceable: the pack's modular prior says so."
        ),
        "hybrid": (
            f"The decision passes through {', '.join(kept)}, which keep a rule path."
            if pattern.traceable
            else f"The pattern '{pattern.title}' keeps no rule path for the decision."
        ),
    }
    ev_ids = {
        "end_to_end": e2e.evidence + [e for a in used_adjs for e in a.evidence],
        "modular": list(mod.evidence),
        "hybrid": e2e.evidence
        + mod.evidence
        + pattern.evidence
        + [e for a in used_adjs for e in a.evidence],
    }
    out = {}
    for i, opt in enumerate(OPTIONS):
        lo, hi = bounds[opt]
        prior = None
        if m is not None and opt in priors:
            pe, pl, ph, pb = priors[opt]
            prior = PriorFigure(estimate=_clip01(pe), low=_clip01(pl), high=_clip01(ph), basis=pb)
        fid = float(ev.fidelity[0, i])
        trace_note = " Traceability is required at this level." if need_trace else ""
        out[opt] = ExplainabilityEstimate(
            option=opt,
            estimate=_r(fid, 4),
            low=_clip01(min(lo, fid)),
            high=_clip01(max(hi, fid)),
            traceable=bool(ev.traceable[0, i]),
            required_level=level,
            required_fidelity=_r(need, 4),
            meets_requirement=bool(ev.meets[0, i]),
            gap=_r(ev.gap[0, i], 4),
            basis=basis[opt],
            adjustments=adj_text if opt != "modular" else [],
            evidence=evidence_refs(cp, list(dict.fromkeys(ev_ids[opt])), project_fit(req, cp.pack)),
            estimated=not (m is not None and opt == "end_to_end"),
            measured=m is not None and opt != "modular",
            prior=prior,
            traceability_basis=trace_basis[opt] + trace_note,
            method=method_text if opt != "modular" else "the model itself (interpretable)",
        )
    return out


def hybrid_pattern(
    cp: CompiledPack, ev: Evaluation, fit: ProjectFit = ANY_PROJECT
) -> HybridPattern:
    """Give the hybrid pattern the engine chose for this profile."""
    p = cp.pack.patterns[int(ev.pattern[0])]
    return HybridPattern(
        id=p.id,
        title=p.title,
        summary=p.summary.strip(),
        stages=[PatternStage(name=s.name, kind=s.kind) for s in p.stages],
        learned=[s.name for s in p.stages if s.kind == "learned"],
        traditional=[s.name for s in p.stages if s.kind != "learned"],
        interpretable_share=p.interpretable_share,
        evidence=evidence_refs(cp, p.evidence, fit),
    )


def plan(cp: CompiledPack, ev: Evaluation, rec: int, fit: ProjectFit = ANY_PROJECT) -> Plan:
    """Give the implementation plan: advice for the option and for rules that fired."""
    option = OPTIONS[rec]
    fired_advice = [
        r.effect.advice for i, r in enumerate(cp.pack.rules) if ev.fired[0, i] and r.effect.advice
    ]
    items: list[PlanItem] = []
    monitoring: list[MonitorItem] = []
    for a in cp.pack.advice:
        if option in a.applies_to or a.id in fired_advice:
            if a.steps or not a.monitoring:
                items.append(
                    PlanItem(
                        id=a.id,
                        title=a.title,
                        text=a.text.strip(),
                        steps=list(a.steps),
                        evidence=evidence_refs(cp, a.evidence, fit),
                    )
                )
            monitoring.extend(
                MonitorItem(metric=m.metric, kind=m.kind, threshold=m.threshold)
                for m in a.monitoring
            )
    if option == "hybrid":
        keep = [s.name for s in cp.pack.patterns[int(ev.pattern[0])].stages if s.kind != "learned"]
    elif option == "modular":
        keep = ["Every stage, each with its own data, metric and owner"]
    else:
        keep = [
            "Input validation and business rules around the model",
            "The previous pipeline, as a fallback until the monitoring thresholds hold",
        ]
    return Plan(steps=items, keep_traditional=keep, monitoring=monitoring)


def risks(
    cp: CompiledPack, x: np.ndarray, ev: Evaluation, fit: ProjectFit = ANY_PROJECT
) -> list[RiskItem]:
    """Give the pack's risks whose condition holds for this profile, in pack order."""
    from ._scoring import columns, compile_condition

    cols = columns(x[None, :], cp, ev.required)
    out = []
    for risk in cp.pack.risks:
        if risk.when is not None and not bool(compile_condition(risk.when, cp.space)(cols)[0]):
            continue
        out.append(
            RiskItem(
                id=risk.id,
                area=risk.area,
                title=risk.title,
                text=risk.text.strip(),
                mitigation=risk.mitigation.strip(),
                applies_to=list(risk.applies_to),
                evidence=evidence_refs(cp, risk.evidence, fit),
            )
        )
    return out


def uncertainty(
    cp: CompiledPack, inputs: dict[str, str], shares: dict[str, dict[str, float]], variants: int
) -> Uncertainty:
    """Give how confidence was estimated, with the inputs' and the pack's parts."""
    u = cp.pack.uncertainty
    pack_part = (
        f" Each sample also draws one of {variants} variants of the rule pack, whose assumed "
        "numbers (weights, curve points, regulation utilities, hybrid terms, the end-to-end "
        "explainability prior) are drawn from the intervals the pack states."
        if variants > 1
        else ""
    )
    return Uncertainty(
        samples=u.samples,
        seed=u.seed,
        inputs=inputs,
        note=(
            f"Confidence is the share of {u.samples} Monte Carlo samples (seed {u.seed}) that "
            "end in the recommended option. The samples draw the numeric inputs and any unsure "
            "answer." + pack_part + " " + u.rationale.strip()
        ),
        from_inputs=shares["inputs"],
        from_pack=shares["pack"],
        pack_variants=variants,
    )


def value_of_information(items: list[dict[str, Any]], rec: int) -> list[InformationValue]:
    """Give the value-of-information items with their labels and sentences."""
    out = []
    for item in items:
        field = item["input"]
        p = float(item["probability"])
        if item["kind"] == "pack":
            label = "the rule pack's assumptions"
            what = (
                "Pinning down the rule pack's assumed numbers (for example with your own "
                "labelled decisions and advisor rules backtest)"
            )
        elif item["kind"] == "probe":
            label = "the end-to-end explainability estimate"
            what = "Measuring end-to-end explainability on your own data with advisor probe"
        else:
            label = FIELD_LABELS.get(field, field)
            what = {
                "a range": f"Narrowing the {label} range to its true value",
                "a figure with the default spread": f"An exact figure for the {label}",
                "an unsure answer": f"Settling the unsure {label}",
            }.get(item["uncertainty"], f"Stating the {label} (left to its default)")
        text = (
            f"{what} has a {p:.0%} chance of changing the answer from {option_label(OPTIONS[rec])}."
        )
        out.append(
            InformationValue(
                input=field,
                label=label,
                kind=item["kind"],
                uncertainty=item["uncertainty"],
                probability=p,
                answers=item["answers"],
                text=text,
            )
        )
    return out


def understood(req: Requirements) -> dict[str, Any]:
    """Give the requirements as the engine read them, with the derived explainability filled."""
    data = req.model_dump(mode="json")
    data["regulation"]["explainability"] = req.explainability_level()
    return data


def defaults_applied(req: Requirements, given: dict[str, Any]) -> list[DefaultApplied]:
    """Give the fields the user left out and the value used for each."""
    data = req.model_dump(mode="json")
    out = []
    for path in field_paths():
        if path in ("schema_version",) or get_path(given, path) is not None:
            continue
        if path == "regulation.explainability":
            crit = str(req.regulation.criticality)
            out.append(
                DefaultApplied(
                    field=path,
                    value=DEFAULT_EXPLAINABILITY[crit],
                    reason=f"derived from criticality {crit} (regimes may raise it further)",
                )
            )
            continue
        out.append(DefaultApplied(field=path, value=get_path(data, path), reason="default"))
    return out


def warnings(
    req: Requirements, cp: CompiledPack, ev: Evaluation, probs: dict[str, float], rec: str
) -> list[str]:
    """Give what a reader should know before trusting the result."""
    return warning_lines(req, cp, required_level(ev), bool(ev.vetoed[0].all()), probs, rec)


def warning_lines(
    req: Requirements,
    cp: CompiledPack,
    level: str,
    all_vetoed: bool,
    probs: dict[str, float],
    rec: str,
) -> list[str]:
    """Give the warnings of one assessed project from plain figures, so that `advisor batch`'s
    rows carry the very lines `advisor recommend` shows.

    Args:
        req: the requirements.
        cp: the compiled pack (its known regimes).
        level: the effective explainability requirement.
        all_vetoed: every option is vetoed.
        probs: each option's share of the Monte Carlo samples.
        rec: the recommended option.
    """
    out = []
    unknown = cp.space.unknown_regimes(req)
    if unknown:
        out.append(
            f"regulation.regimes: unknown regime(s) {', '.join(unknown)}: accepted, but they act "
            "only through criticality and explainability."
        )
    if req.regulation.explainability is None:
        out.append(
            "regulation.explainability was not given: derived as "
            f"'{req.explainability_level()}' from criticality."
        )
    stated = req.explainability_level()
    if level != stated:
        out.append(
            f"The explainability requirement was raised from {stated} to {level} by the regimes."
        )
    if all_vetoed:
        out.append("Every option is vetoed; the least bad one is shown. Revisit the requirements.")
    top = max(probs, key=lambda k: probs[k])
    if top != rec:
        out.append(
            f"Across the uncertain inputs and the pack's assumptions {option_label(top)} is more "
            f"likely ({probs[top]:.0%}) than the recommendation at the central values "
            f"({probs[rec]:.0%})."
        )
    return out


def rationale(req: Requirements, cp: CompiledPack, ev: Evaluation, rec: int) -> str:
    """Give a one-sentence rationale."""
    dims = dimensions(req, cp, ev)
    pro = [d.label.lower() for d in dims if d.favours == "end_to_end"]
    con = [d.label.lower() for d in dims if d.favours == "modular"]
    vetoed = [OPTIONS[i] for i in range(3) if ev.vetoed[0, i]]
    option = OPTIONS[rec]
    veto_note = f"; {' and '.join(option_label(v) for v in vetoed)} ruled out" if vetoed else ""
    if option == "hybrid":
        pat = cp.pack.patterns[int(ev.pattern[0])].title.lower()
        if pro and con:
            return (
                f"Hybrid ({pat}): {_join(pro)} favour{'s' if len(pro) == 1 else ''} end-to-end "
                f"while {_join(con)} favour{'s' if len(con) == 1 else ''} a modular pipeline"
                f"{veto_note}."
            )
        return f"Hybrid ({pat}): the dimensions are balanced or mixed{veto_note}."
    side = pro if option == "end_to_end" else con
    other = con if option == "end_to_end" else pro
    text = f"{option_label(option).capitalize()}: "
    text += (
        f"{_join(side)} favour{'s' if len(side) == 1 else ''} it"
        if side
        else "no dimension clearly favours another option"
    )
    if other:
        text += f", against {_join(other)}"
    return text + veto_note + "."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def reasons(req: Requirements, cp: CompiledPack, ev: Evaluation, rec: int) -> list[str]:
    """Give the three strongest reasons for the recommendation, strongest first."""
    option = OPTIONS[rec]
    cands: list[tuple[float, str]] = []
    for v in vetoes(cp, ev):
        cands.append((10.0, f"{option_label(v.option).capitalize()} is ruled out: {v.reason}"))
    for d in dimensions(req, cp, ev):
        if d.favours == "neutral":
            continue
        helps = (
            d.favours == option
            or option == "hybrid"
            or (option == "modular" and d.favours == "modular")
        )
        if not helps:
            continue
        src = d.evidence[0].source_title if d.evidence else ""
        cands.append(
            (
                abs(d.utility) * d.weight * 3,
                f"{d.label}: {d.value} favours {option_label(d.favours)} "
                f"(utility {d.utility:+.2f}; {src}).",
            )
        )
    for i, rule in enumerate(cp.pack.rules):
        if ev.fired[0, i] and rule.effect.add:
            add: dict[str, float] = {str(k): v for k, v in rule.effect.add.items()}
            delta = add.get(option, 0.0) - max(
                (v for k, v in add.items() if k != option), default=0.0
            )
            if delta > 0:
                cands.append((delta * 3, f"{rule.rationale.strip()} (rule {rule.id})"))
    for i, opt in enumerate(OPTIONS):
        if opt != option and float(ev.expl_penalty[0, i]) > 0:
            cands.append(
                (
                    float(ev.expl_penalty[0, i]) * 3,
                    f"{option_label(opt).capitalize()}'s explanations (estimated fidelity "
                    f"{float(ev.fidelity[0, i]):.2f}) fall short of the {required_level(ev)} "
                    "requirement.",
                )
            )
    cands.sort(key=lambda c: -c[0])
    return [text for _, text in cands[:3]]


def _player_value(req: Requirements, player: str) -> str:
    field = PLAYER_FIELDS[player]
    if field == "deployment":
        d = req.deployment
        return f"{fmt_value('deployment.target', d.target)}, " + (
            "independent stage updates" if d.independent_updates else "no independent updates"
        )
    if field == "regulation.explainability":
        return req.explainability_level()
    data = req.model_dump(mode="json")
    return fmt_value(field, get_path(data, field))


def attributions(
    req: Requirements, given: dict[str, Any], sv: Shapley, rec: int, runner: int
) -> list[Attribution]:
    """Give one attribution per feature, largest contribution first."""
    out = []
    for player, value in zip(PLAYERS, sv.values, strict=True):
        field = PLAYER_FIELDS[player]
        label = FIELD_LABELS[field]
        shown = _player_value(req, player)
        c = float(value)
        towards = OPTIONS[rec] if c > 0 else OPTIONS[runner] if c < 0 else "none"
        default = get_path(given, field) is None or (
            field == "deployment"
            and all(v is None for v in (get_path(given, field) or {}).values())
        )
        if abs(c) < 5e-7:
            text = f"{label} {shown} makes no difference here"
        else:
            text = f"{label} {shown} pushes towards {option_label(towards)} by {abs(c):.2f}"
        if default:
            text += " (default: not given)"
        out.append(
            Attribution(
                feature=field,
                label=label,
                value=shown,
                contribution=round(c, 9) + 0.0,
                towards=towards,
                default=default,
                text=text,
            )
        )
    out.sort(key=lambda a: (-abs(a.contribution), a.feature))
    return out


def score_attribution(
    req: Requirements, given: dict[str, Any], sv: Shapley, option: int
) -> ScoreAttribution:
    """Give the attributions of one option's own score (a positive contribution raises it)."""
    name = option_label(OPTIONS[option])
    fixed = []
    for r in attributions(req, given, sv, option, option):
        verb = "raises" if r.contribution > 0 else "lowers"
        text = f"{r.label} {r.value} {verb} the {name} score by {abs(r.contribution):.2f}"
        if abs(r.contribution) < 5e-7:
            text = f"{r.label} {r.value} makes no difference to the {name} score"
        if r.default:
            text += " (default: not given)"
        towards = OPTIONS[option] if r.contribution > 0 else "none"
        fixed.append(r.model_copy(update={"towards": towards, "text": text}))
    return ScoreAttribution(base=round(sv.base, 9), attributions=fixed)


def _change(req: Requirements, move: Move) -> Change:
    data = req.model_dump(mode="json")
    if move.field == "regulation.regimes":
        action, regime = move.new
        regimes = list(req.regulation.regimes)
        new = (
            sorted(set(regimes) | {regime})
            if action == "add"
            else [r for r in regimes if r != regime]
        )
        desc = f"{'add' if action == 'add' else 'remove'} regime {regime}"
        return Change(field=move.field, old=regimes, new=new, description=desc)
    old = get_path(data, move.field)
    if move.field == "regulation.explainability":
        old = req.explainability_level()
    if move.field in ("data.paired_examples", "latency.budget_ms"):
        old_num = point(
            req.data.paired_examples if move.field.startswith("data") else req.latency.budget_ms
        )
        fmt = fmt_count if move.field.startswith("data") else fmt_ms
        desc = f"{FIELD_LABELS[move.field]} {fmt(old_num)} -> {fmt(float(move.new))}"
    else:
        before, after = fmt_value(move.field, old), fmt_value(move.field, move.new)
        desc = f"{FIELD_LABELS[move.field]} {before} -> {after}"
    return Change(field=move.field, old=old, new=move.new, description=desc)


def _copy(data: Any) -> Any:
    # A copy of JSON-shaped data (dicts, lists, scalars): copy.deepcopy's memo bookkeeping costs
    # several times more, and this data has no shared or cyclic parts.
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _apply(data: dict[str, Any], changes: list[Change]) -> Requirements:
    changed = _copy(data)
    for ch in changes:
        set_path(changed, ch.field, ch.new)
    return Requirements.model_validate(changed)


def reevaluate_all(req: Requirements, pack: RulePack, trials: list[list[Change]]) -> list[str]:
    """Give the recommendation after each list of changes to `req`, through the full pipeline
    (validation, features, engine), all trials in one engine call."""
    from ._decide import prepare

    if not trials:
        return []
    cp = prepare(pack).compiled
    data = req.model_dump(mode="json")
    rows = np.stack([cp.space.vector(_apply(data, changes)) for changes in trials])
    return [OPTIONS[int(c)] for c in evaluate(rows, cp).choice]


def reevaluate(req: Requirements, pack: RulePack, changes: list[Change]) -> str:
    """Give the recommendation after applying `changes` to `req`, through the full pipeline."""
    return reevaluate_all(req, pack, [changes])[0]


def counterfactuals(
    req: Requirements, pack: RulePack, moves: dict[str, list[Move]], rec: int
) -> list[Counterfactual]:
    """Give, per input, the smallest verified change that flips the recommendation."""
    current = OPTIONS[rec]
    firsts = {field: _change(req, found[0]) for field, found in moves.items() if found}
    first_new = dict(
        zip(firsts, reevaluate_all(req, pack, [[c] for c in firsts.values()]), strict=True)
    )
    out = []
    for field, found in moves.items():
        label = FIELD_LABELS[field]
        cf = None
        for n, move in enumerate(found):
            # The nearest move of every field was re-evaluated above, together; the engine
            # found each move flipping, so the rest are re-checked only if that one did not.
            change = firsts[field] if n == 0 else _change(req, move)
            new = first_new[field] if n == 0 else reevaluate(req, pack, [change])
            if new != current:
                cf = Counterfactual(
                    field=field,
                    label=label,
                    found=True,
                    changes=[change],
                    new_recommendation=new,
                    distance=_r(move.distance, 4),
                    verified=True,
                    text=f"{change.description} flips it to {option_label(new)}",
                )
                break
        if cf is None:
            cf = Counterfactual(
                field=field,
                label=label,
                found=False,
                changes=[],
                new_recommendation=None,
                distance=None,
                verified=False,
                text=f"No change of {label} alone flips it",
            )
        out.append(cf)
    return out


def pair_counterfactual(
    req: Requirements, pack: RulePack, pair: tuple[Move, Move], rec: int
) -> Counterfactual | None:
    """Give the best pair of changes as a verified counterfactual (None if it does not flip)."""
    changes = [_change(req, m) for m in pair]
    new = reevaluate(req, pack, changes)
    if new == OPTIONS[rec]:
        return None
    return Counterfactual(
        field=" + ".join(c.field for c in changes),
        label=" and ".join(FIELD_LABELS[c.field] for c in changes),
        found=True,
        changes=changes,
        new_recommendation=new,
        distance=_r(sum(m.distance for m in pair), 4),
        verified=True,
        text=(
            f"{changes[0].description} and {changes[1].description} together flip it to "
            f"{option_label(new)}"
        ),
    )
