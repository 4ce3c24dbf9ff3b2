"""The sentences of an assessment, from its facts: one module writes every sentence.

Takes a `Facts` (`_facts`) and the parts computed from it; gives the Assessment's parts that
carry text: the dimensions with their values in words, the vetoes and rule results with their
reasons, the explainability estimates with their bases, the one-line rationale and the three
strongest reasons, the confidence note, the value of information and the warnings. The
explanations (attributions and counterfactuals) are in `_prose_why`. Domain wording comes from
the rule pack (rules/*.yaml); the sentences here only put facts into words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._assessment import (
    Dimension,
    ExplainabilityEstimate,
    InformationValue,
    PriorFigure,
    RuleResult,
    Uncertainty,
    Veto,
)
from ._facts import DimensionFacts, ExplainabilityBasis, Facts, VetoFacts, explainability_basis
from ._fields import OPTIONS
from ._narrative import FIELD_LABELS, fmt_value, option_label
from ._requirements import Requirements
from ._scoring import CompiledPack


def _r(v: float, nd: int = 6) -> float:
    return round(float(v), nd) + 0.0  # + 0.0 turns -0.0 into 0.0 for stable JSON


def _given_number(v: Any) -> Any:
    return v.model_dump() if hasattr(v, "model_dump") else v


def dimension_value(f: Facts, d: DimensionFacts) -> str:
    """Give a dimension's input in words ("2M pairs (tabular; stage labels full, ...)")."""
    req = f.req
    if d.name == "data":
        measured = f.cp.pack.explainability.measured
        return (
            f"{fmt_value('data.paired_examples', _given_number(req.data.paired_examples))} "
            f"({req.task.modality}; stage labels {req.data.stage_labels}, "
            f"labelling cost {req.data.labeling_cost})"
            + (
                f"; measured accuracy gap {measured.accuracy_gap:+.3f} "
                f"shifts it {f.cp.data_shift:+.2f}"
                if measured is not None and measured.accuracy_gap is not None
                else ""
            )
        )
    if d.name == "latency":
        return f"{fmt_value('latency.budget_ms', _given_number(req.latency.budget_ms))} p95"
    crit = str(req.regulation.criticality).replace("_", " ")
    regimes = req.regulation.regimes
    return f"{crit}; explainability {f.level}" + (
        f"; regimes {', '.join(regimes)}" if regimes else ""
    )


def dimensions(f: Facts) -> list[Dimension]:
    """Give the three dimensions with value, utility, side favoured and thresholds."""
    return [
        Dimension(
            name=d.name,
            label=d.spec.label,
            value=dimension_value(f, d),
            utility=_r(d.utility),
            favours=d.favours,
            weight=_r(d.spec.weight),
            rationale=d.spec.rationale.strip(),
            thresholds=d.thresholds,
            evidence=d.evidence,
        )
        for d in f.dimensions
    ]


def _veto_reason(f: Facts, v: VetoFacts) -> str:
    if v.rule is not None:
        return v.rule.rationale.strip()
    c = f.checks[OPTIONS.index(v.option)]
    return (
        f"The {f.level} explainability requirement is hard (minimum fidelity {f.need:.2f}"
        + (", decisions traceable to a rule path" if f.need_trace else "")
        + f"); {option_label(v.option)} is estimated at {c.fidelity:.2f}"
        + ("" if c.traceable else " and is not traceable")
        + "."
    )


def vetoes(f: Facts) -> list[Veto]:
    """Give each veto with the rule and its reason."""
    return [Veto(option=v.option, rule=v.rule_id, reason=_veto_reason(f, v)) for v in f.vetoes]


def rule_results(f: Facts) -> list[RuleResult]:
    """Give every rule of the pack with whether it fired, then the explainability checks."""

    def result(rule: Any, fired: bool) -> RuleResult:
        return RuleResult(
            id=rule.id,
            fired=fired,
            effect=rule.effect.model_dump(exclude_none=True),
            rationale=rule.rationale.strip(),
            evidence=f.evidence(rule.evidence),
        )

    # A pack rule's result depends on the project only through whether it fired: built once.
    out: list[RuleResult] = [
        f.once(("rule", i, fired), lambda rule=rule, fired=fired: result(rule, fired))
        for i, (rule, fired) in enumerate(zip(f.cp.pack.rules, f.fired, strict=True))
    ]
    ex_ev = f.evidence(f.cp.pack.explainability.priors["end_to_end"].evidence)
    for c in f.checks:
        effect: dict[str, Any]
        if c.vetoed:
            effect = {"veto": c.option}
        elif not c.meets:
            effect = {"add": {c.option: _r(-c.penalty)}}
        else:
            effect = {}
        out.append(
            RuleResult(
                id=f"explainability-requirement:{c.option}",
                fired=not c.meets,
                effect=effect,
                rationale=(
                    f"{option_label(c.option).capitalize()} explanation fidelity estimate "
                    f"{c.fidelity:.2f} against the {f.level} requirement's {f.need:.2f}"
                    + (" with traceable decisions" if f.need_trace else "")
                    + (": met." if c.meets else ": not met.")
                ),
                evidence=ex_ev,
            )
        )
    return out


def _clip01(v: float) -> float:
    return _r(min(max(v, 0.0), 1.0), 4)


def _adjustment(a: Any) -> str:
    kind = "assumption" if a.assumption else "sourced"
    return f"{a.id}: {a.delta:+.2f} ({kind}): {a.reasoning.strip()}"


def _traceability(f: Facts) -> dict[str, str]:
    # Why each option's decision can or cannot be followed along a rule path: the pack's texts
    # (rules/architectures.yaml), chosen by the pack's traceability flags.
    pack = f.cp.pack
    arch, priors, p = pack.architectures, pack.explainability.priors, f.pattern
    kept = ", ".join(s.name for s in p.stages if s.kind != "learned")
    out = {}
    for opt, traceable in (
        ("end_to_end", priors["end_to_end"].traceable),
        ("modular", priors["modular"].traceable),
        ("hybrid", p.traceable),
    ):
        a = getattr(arch, opt)
        text = a.traceable if traceable else a.untraceable
        out[opt] = text.format_map({"stages": kept, "pattern": p.title})
    return out


def explainability(f: Facts) -> dict[str, ExplainabilityEstimate]:
    """Give each option's explanation fidelity and traceability against the requirement.

    Measured estimates carry the prior they replaced (see `_facts.explainability_basis`).
    """
    b: ExplainabilityBasis = explainability_basis(f)
    ex = f.cp.pack.explainability
    m = ex.measured
    method = ex.method or "lime"
    method_text = method if ex.method else "lime (assumed: regulation.explanation_method not given)"
    adj_text = [_adjustment(a) for a in b.used]
    if m is not None:
        adj_text.append(
            "measured: the probe's figure replaces the prior and its modality adjustment"
            + (f" ({', '.join(a.id for a in b.modality)})" if b.modality else "")
        )
    e2e, mod = ex.priors["end_to_end"], ex.priors["modular"]
    s = b.share
    prior_basis = {
        "end_to_end": e2e.basis.strip(),
        "hybrid": f"{s:.2f} x modular prior + {1 - s:.2f} x end-to-end prior",
    }
    basis = {
        "end_to_end": m.basis.strip() if m is not None else e2e.basis.strip(),
        "modular": mod.basis.strip(),
        "hybrid": (
            f"Pattern '{f.pattern.title}' keeps {s:.0%} of the decision path in interpretable "
            f"modules (an assumption of the pattern): {s:.2f} x modular prior + {1 - s:.2f} x "
            f"end-to-end {'measured figure' if m is not None else 'prior'}."
        ),
    }
    trace = _traceability(f)
    trace_note = " Traceability is required at this level." if f.need_trace else ""
    out = {}
    for c in f.checks:
        opt = c.option
        lo, hi = b.bounds[opt]
        prior = None
        if opt in b.priors:
            pe, pl, ph = b.priors[opt]
            prior = PriorFigure(
                estimate=_clip01(pe), low=_clip01(pl), high=_clip01(ph), basis=prior_basis[opt]
            )
        out[opt] = ExplainabilityEstimate(
            option=opt,
            estimate=_r(c.fidelity, 4),
            low=_clip01(min(lo, c.fidelity)),
            high=_clip01(max(hi, c.fidelity)),
            traceable=c.traceable,
            required_level=f.level,
            required_fidelity=_r(f.need, 4),
            meets_requirement=c.meets,
            gap=_r(c.gap, 4),
            basis=basis[opt],
            adjustments=adj_text if opt != "modular" else [],
            evidence=f.evidence(list(dict.fromkeys(b.evidence[opt]))),
            estimated=not (b.measured and opt == "end_to_end"),
            measured=b.measured and opt != "modular",
            prior=prior,
            traceability_basis=trace[opt] + trace_note,
            method=method_text if opt != "modular" else "the model itself (interpretable)",
        )
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _favour(items: list[str]) -> str:
    return f"{_join(items)} favour{'s' if len(items) == 1 else ''}"


def rationale(f: Facts, dims: list[Dimension]) -> str:
    """Give the one-sentence rationale."""
    pro = [d.label.lower() for d in dims if d.favours == "end_to_end"]
    con = [d.label.lower() for d in dims if d.favours == "modular"]
    option = f.option
    veto_note = f"; {' and '.join(option_label(v) for v in f.vetoed)} ruled out" if f.vetoed else ""
    if option == "hybrid":
        pat = f.pattern.title.lower()
        if pro and con:
            return (
                f"Hybrid ({pat}): {_favour(pro)} end-to-end while {_favour(con)} a modular "
                f"pipeline{veto_note}."
            )
        return f"Hybrid ({pat}): the dimensions are balanced or mixed{veto_note}."
    side = pro if option == "end_to_end" else con
    other = con if option == "end_to_end" else pro
    text = f"{option_label(option).capitalize()}: "
    text += f"{_favour(side)} it" if side else "no dimension clearly favours another option"
    if other:
        text += f", against {_join(other)}"
    return text + veto_note + "."


def reasons(f: Facts, dims: list[Dimension], vetoes: list[Veto]) -> list[str]:
    """Give the three strongest reasons for the recommendation, strongest first."""
    option = f.option
    cands: list[tuple[float, str]] = []
    for v in vetoes:
        cands.append((10.0, f"{option_label(v.option).capitalize()} is ruled out: {v.reason}"))
    for d in dims:
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
    for rule, fired in zip(f.cp.pack.rules, f.fired, strict=True):
        if fired and rule.effect.add:
            add: dict[str, float] = {str(k): v for k, v in rule.effect.add.items()}
            delta = add.get(option, 0.0) - max(
                (v for k, v in add.items() if k != option), default=0.0
            )
            if delta > 0:
                cands.append((delta * 3, f"{rule.rationale.strip()} (rule {rule.id})"))
    for c in f.checks:
        if c.option != option and c.penalty > 0:
            cands.append(
                (
                    c.penalty * 3,
                    f"{option_label(c.option).capitalize()}'s explanations (estimated fidelity "
                    f"{c.fidelity:.2f}) fall short of the {f.level} requirement.",
                )
            )
    cands.sort(key=lambda c: -c[0])
    return [text for _, text in cands[:3]]


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
    return warning_texts(
        cp.space.unknown_regimes(req),
        req.regulation.explainability is not None,
        req.explainability_level(),
        level,
        all_vetoed,
        probs,
        rec,
    )


def warning_texts(
    unknown: Sequence[str],
    given: bool,
    stated: str,
    level: str,
    all_vetoed: bool,
    probs: Mapping[str, float],
    rec: str,
) -> list[str]:
    """`warning_lines` from the figures alone (the column-wise batch has no `Requirements`).

    Args:
        unknown: the project's regimes the pack does not know, in its order.
        given: `regulation.explainability` was stated.
        stated: the stated (or derived) explainability level.
        level, all_vetoed, probs, rec: as `warning_lines`.
    """
    out = []
    if unknown:
        out.append(
            f"regulation.regimes: unknown regime(s) {', '.join(unknown)}: accepted, but they act "
            "only through criticality and explainability."
        )
    if not given:
        out.append(
            f"regulation.explainability was not given: derived as '{stated}' from criticality."
        )
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


def warnings(f: Facts, probs: dict[str, float]) -> list[str]:
    """Give what a reader should know before trusting the result."""
    return warning_lines(f.req, f.cp, f.level, len(f.vetoed) == len(OPTIONS), probs, f.option)
