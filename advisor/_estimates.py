"""Explainability estimates in context: the rule pack as it applies to one assessment.

Takes a validated `RulePack`, the `Requirements` and optionally a `ProbeResult`; gives the pack
with the explanation method in effect (`regulation.explanation_method`) and the measured figures
of `advisor probe` set in its explainability section, so that every stage (scores, Monte Carlo,
SHAP, counterfactuals) sees the same estimates. Also the probe's summary for the Assessment.
Pure: no files, no printing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from ._assessment import ProbeSummary, ScoreInterval
from ._requirements import Requirements
from ._rulepack import ExplainabilityPack, Measured, RulePack
from ._scoring import CompiledPack

if TYPE_CHECKING:
    from ._probe import Interval, ProbeResult

_MEMO_SIZE = 32
_memo: OrderedDict[tuple[int, str | None, str], tuple[RulePack, RulePack]] = OrderedDict()
_lock = threading.Lock()


def measured(probe: ProbeResult) -> Measured:
    """Give the figures of a probe that replace the end-to-end prior."""
    s = probe.surrogate
    d = probe.data
    metric = "accuracy" if d.task == "classification" else "R2"
    return Measured(
        fidelity=s.agreement.value,
        low=s.agreement.low,
        high=s.agreement.high,
        accuracy_gap=max(-1.0, min(1.0, probe.accuracy_gap.value)),
        basis=(
            f"Measured by advisor probe on {d.source} ({d.rows_used} rows, {len(d.features)} "
            f"features, {d.task}): LIME-style local surrogates of a {probe.black_box.model} agree "
            f"with it on {s.agreement.value:.0%} of fresh perturbations around {s.points} held-out "
            f"rows (95% bootstrap interval {s.agreement.low:.0%}-{s.agreement.high:.0%}). Its SHAP "
            f"attributions keep their top-feature ranking with Spearman "
            f"{probe.stability.rank_correlation.value:.2f} across {probe.stability.retrains} "
            f"bootstrap retrains. Black box minus interpretable model: "
            f"{probe.accuracy_gap.value:+.3f} {metric}."
        ),
        sha256=probe.sha256(),
    )


def specialise(pack: RulePack, req: Requirements, probe: ProbeResult | None = None) -> RulePack:
    """Give the pack with this assessment's explanation method and measured figures set.

    The same pack object comes back when there is nothing to set, and the same derived object for
    the same (pack, method, probe), so the engine's per-pack compilation is reused.

    Args:
        pack: the validated rule pack.
        req: the requirements (for `regulation.explanation_method`).
        probe: figures measured by `advisor probe`, or None.

    Returns:
        A validated pack.
    """
    method = req.regulation.explanation_method
    return specialise_method(pack, None if method is None else str(method), probe)


def specialise_method(
    pack: RulePack, method: str | None, probe: ProbeResult | None = None
) -> RulePack:
    """`specialise` from the explanation method alone (None: not stated), for callers that
    hold a validated method without a `Requirements` (the column-wise batch)."""
    if method is None and probe is None:
        return pack
    sha = probe.sha256() if probe is not None else ""
    key = (id(pack), method, sha)
    with _lock:
        hit = _memo.get(key)
        if hit is not None and hit[0] is pack:
            _memo.move_to_end(key)
            return hit[1]
    ex = pack.explainability
    update: dict[str, object] = {}
    if method is not None:
        update["method"] = method
    if probe is not None:
        update["measured"] = measured(probe).model_dump()
    new_ex = ExplainabilityPack.model_validate({**ex.model_dump(by_alias=True), **update})
    derived = pack.model_copy(update={"explainability": new_ex})
    with _lock:
        _memo[key] = (pack, derived)
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return derived


def _si(iv: Interval) -> ScoreInterval:
    return ScoreInterval(value=iv.value, low=iv.low, high=iv.high)


def probe_summary(probe: ProbeResult, data_shift: float | None) -> ProbeSummary:
    """Give the Assessment's account of the probe it used."""
    d = probe.data
    metric = "accuracy" if d.task == "classification" else "r2"
    gap = probe.accuracy_gap
    shift = (
        f"shifts the data dimension's utility by {data_shift:+.2f} (explainability.probe in the "
        "rule pack; an assumption)"
        if data_shift is not None
        else "is reported but not applied: this rule pack defines no explainability.probe curve"
    )
    return ProbeSummary(
        sha256=probe.sha256(),
        source=d.source,
        rows=d.rows_used,
        features=len(d.features),
        task=d.task,
        metric=metric,
        interpretable_model=probe.interpretable.model,
        interpretable=_si(probe.interpretable.test),
        black_box_model=probe.black_box.model,
        black_box=_si(probe.black_box.test),
        accuracy_gap=_si(gap),
        data_shift=None if data_shift is None else round(data_shift, 6) + 0.0,
        surrogate_fidelity=_si(probe.surrogate.agreement),
        attribution_stability=_si(probe.stability.rank_correlation),
        text=(
            f"On {d.source}, black box minus interpretable model: {gap.value:+.3f} "
            f"{'accuracy' if metric == 'accuracy' else 'R2'} (95% interval {gap.low:+.3f} to "
            f"{gap.high:+.3f}); this gap {shift}. The measured local-surrogate fidelity replaces "
            "the end-to-end prior."
        ),
    )


def probe_warnings(req: Requirements, cp: CompiledPack, probe: ProbeResult | None) -> list[str]:
    """Give what a reader should know about using this probe for these requirements."""
    if probe is None:
        return []
    use = cp.pack.explainability.probe
    threshold = use.stability_warning if use is not None else 0.7
    out = []
    if str(req.task.modality) != "tabular":
        out.append(
            f"The probe measured tabular data ({probe.data.source}) but task.modality is "
            f"{req.task.modality}: the measured fidelity replaces the prior and its modality "
            "adjustment all the same; read it as a lower-bound check, not a measurement of the "
            "end-to-end system."
        )
    if probe.stability.rank_correlation.value < threshold:
        out.append(
            f"The black box's SHAP attributions are unstable on this data (top-feature rank "
            f"correlation {probe.stability.rank_correlation.value:.2f} across "
            f"{probe.stability.retrains} retrains): explanations may change with each retrain."
        )
    return out
