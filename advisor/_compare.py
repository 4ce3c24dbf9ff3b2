"""Comparing two assessments: what changed in the inputs, the scores and the answer, and why.

Takes two `Assessment`s (old, new) and, optionally, the rule pack they were made with; gives a
`Comparison`. When the pack is given and both assessments were made with it, the change in the
explained margin is split among the changed inputs with exact Shapley values: every mix of old
and new inputs is re-evaluated through the engine, so the contributions add up to the change.
Pure: no files, no printing.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from ._assessment import Assessment, RulePackInfo
from ._fields import OPTIONS, get_path, set_path
from ._narrative import FIELD_LABELS, fmt_value, option_label

#: Fields that never affect a score (shown as changes, left out of the attribution).
NON_SCORING = ("name", "description", "schema_version")
#: Most changed inputs the exact attribution handles (2**k evaluations).
MAX_PLAYERS = 14


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputChange(_Out):
    field: str
    label: str
    old: str
    new: str
    scoring: bool


class ScoreChange(_Out):
    option: str
    old: float
    new: float
    delta: float
    old_probability: float
    new_probability: float


class DimensionChange(_Out):
    name: str
    label: str
    old_value: str
    new_value: str
    old_utility: float
    new_utility: float
    old_favours: str
    new_favours: str


class RuleChange(_Out):
    id: str
    change: str  # "now fires" | "no longer fires"
    effect: dict[str, Any]
    rationale: str


class VetoChange(_Out):
    option: str
    change: str  # "added" | "lifted"
    rule: str
    reason: str


class ExplainabilityChange(_Out):
    option: str
    old: float
    new: float
    old_meets: bool
    new_meets: bool
    old_required: str
    new_required: str


class Contribution(_Out):
    field: str
    label: str
    old: str
    new: str
    contribution: float


class Comparison(_Out):
    """The difference between two assessments, with its causes."""

    schema_version: int = 1
    old_name: str
    new_name: str
    old_recommendation: str
    new_recommendation: str
    recommendation_changed: bool
    old_confidence: float
    new_confidence: float
    old_rulepack: RulePackInfo
    new_rulepack: RulePackInfo
    rulepack_changed: bool
    old_advisor_version: str
    new_advisor_version: str
    inputs: list[InputChange]
    scores: list[ScoreChange]
    dimensions: list[DimensionChange]
    rules: list[RuleChange]
    vetoes: list[VetoChange]
    explainability: list[ExplainabilityChange]
    attribution_target: str
    attribution_old: float | None
    attribution_new: float | None
    contributions: list[Contribution]
    attribution_note: str
    why: list[str]
    summary: str


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    # Flatten a nested mapping to dotted paths; lists and ranges stay whole values.
    out: dict[str, Any] = {}
    if isinstance(data, dict) and not ({"low", "high"} >= set(data) and data):
        for k in sorted(data):
            out.update(_leaves(data[k], f"{prefix}{k}."))
        return out
    out[prefix[:-1]] = data
    return out


def _show(field: str, value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, str) and field in ("name", "description"):
        return value
    return fmt_value(field, value)


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field.rsplit(".", 1)[-1].replace("_", " "))


def input_changes(old: Assessment, new: Assessment) -> list[InputChange]:
    """Give the inputs that differ, as given by the user (a default counts as not given)."""
    a, b = _leaves(old.input), _leaves(new.input)
    out = []
    for field in sorted(set(a) | set(b)):
        if field == "schema_version" or a.get(field) == b.get(field):
            continue
        if _norm(a.get(field)) == _norm(b.get(field)):
            continue
        out.append(
            InputChange(
                field=field,
                label=_label(field),
                old=_show(field, a.get(field)),
                new=_show(field, b.get(field)),
                scoring=field not in NON_SCORING,
            )
        )
    return out


def _norm(v: Any) -> Any:
    # Regimes in another order are the same regimes.
    return sorted(v) if isinstance(v, list) else v


def _rule_changes(old: Assessment, new: Assessment) -> list[RuleChange]:
    before = {r.id: r for r in old.rules_evaluated}
    after = {r.id: r for r in new.rules_evaluated}
    out = []
    for rid in list(after) + [r for r in before if r not in after]:
        was = before[rid].fired if rid in before else False
        now = after[rid].fired if rid in after else False
        if was == now:
            continue
        r = after.get(rid) or before[rid]
        out.append(
            RuleChange(
                id=rid,
                change="now fires" if now else "no longer fires",
                effect=dict(r.effect),
                rationale=r.rationale,
            )
        )
    return out


def _veto_changes(old: Assessment, new: Assessment) -> list[VetoChange]:
    before = {(v.option, v.rule): v for v in old.vetoes}
    after = {(v.option, v.rule): v for v in new.vetoes}
    out = [
        VetoChange(option=v.option, change="added", rule=v.rule, reason=v.reason)
        for k, v in after.items()
        if k not in before
    ]
    out += [
        VetoChange(option=v.option, change="lifted", rule=v.rule, reason=v.reason)
        for k, v in before.items()
        if k not in after
    ]
    return out


def _dimension_changes(old: Assessment, new: Assessment) -> list[DimensionChange]:
    before = {d.name: d for d in old.dimensions}
    out = []
    for d in new.dimensions:
        o = before.get(d.name)
        if o is None:
            continue
        out.append(
            DimensionChange(
                name=d.name,
                label=d.label,
                old_value=o.value,
                new_value=d.value,
                old_utility=o.utility,
                new_utility=d.utility,
                old_favours=o.favours,
                new_favours=d.favours,
            )
        )
    return out


def _explainability_changes(old: Assessment, new: Assessment) -> list[ExplainabilityChange]:
    out = []
    for opt, e in new.explainability.items():
        o = old.explainability.get(opt)
        if o is None:
            continue
        out.append(
            ExplainabilityChange(
                option=opt,
                old=o.estimate,
                new=e.estimate,
                old_meets=o.meets_requirement,
                new_meets=e.meets_requirement,
                old_required=o.required_level,
                new_required=e.required_level,
            )
        )
    return out


def _target(old: Assessment, new: Assessment) -> tuple[str, str, str]:
    if old.recommendation != new.recommendation:
        first, second = new.recommendation, old.recommendation
    else:
        first, second = new.recommendation, new.runner_up
    return first, second, f"score margin of {option_label(first)} over {option_label(second)}"


def attribute(
    old: Assessment, new: Assessment, pack: Any, players: list[str], first: str, second: str
) -> tuple[float, float, list[float]]:
    """Split the change of a margin among changed inputs with exact Shapley values.

    Every mix of old and new inputs is decided by the one decision path (`decide.decide`), so
    each mix is scored with the pack as it applies to it (its `regulation.explanation_method`),
    as an assessment of it would be; the game's ends are then the two assessments' margins.

    Args:
        old, new: the assessments (their `input` mappings are mixed field by field).
        pack: the rule pack both were assessed with.
        players: the changed scoring fields.
        first, second: the margin explained is score(first) - score(second).

    Returns:
        (old margin, new margin, one contribution per player); contributions add up to the
        change of the margin.
    """
    import numpy as np

    from ._attributions import shapley_of_values
    from ._decide import decide
    from ._fields import OPTIONS
    from ._requirements import Requirements

    k = len(players)
    reqs = []
    for mask in range(1 << k):
        doc: dict[str, Any] = _copy(old.input)
        for i, field in enumerate(players):
            if mask >> i & 1:
                value = get_path(new.input, field)
                if value is None:
                    _delete(doc, field)
                else:
                    set_path(doc, field, _copy(value))
        reqs.append(Requirements.model_validate(doc))
    i1, i2 = OPTIONS.index(first), OPTIONS.index(second)
    v = np.empty(1 << k)
    for d in decide(reqs, pack, confidence=False):
        v[d.rows] = d.ev.effective[:, i1] - d.ev.effective[:, i2]
    phi = shapley_of_values(v[None, :])[0]
    return float(v[0]), float(v[-1]), [float(p) for p in phi]


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def _delete(doc: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    cur: Any = doc
    for p in parts[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)


def compare(old: Assessment, new: Assessment, pack: Any = None) -> Comparison:
    """Compare two assessments of (usually) the same project.

    Args:
        old: the earlier assessment.
        new: the later assessment.
        pack: the `RulePack` to re-evaluate mixes of the inputs with; the attribution of the
            change to inputs is computed only when both assessments were made with this pack.

    Returns:
        The `Comparison`.
    """
    inputs = input_changes(old, new)
    players = [c.field for c in inputs if c.scoring]
    first, second, target = _target(old, new)
    pack_changed = old.rulepack.sha256 != new.rulepack.sha256
    contributions: list[Contribution] = []
    a_old = a_new = None
    if pack is None:
        note = (
            "No rule pack was given to re-evaluate the inputs; the causes below are the changes "
            "in the dimensions, rules and vetoes."
        )
    elif pack_changed:
        note = (
            "The two assessments used different rule packs, so the change cannot be split "
            "among the inputs alone."
        )
    elif old.rulepack.sha256 != pack.sha256():
        note = (
            "The assessments were made with another rule pack than the one loaded here; pass "
            "it with --rules to split the change among the inputs."
        )
    elif not players:
        note = "No scoring input changed."
    elif len(players) > MAX_PLAYERS:
        note = f"{len(players)} inputs changed; the exact split handles at most {MAX_PLAYERS}."
    else:
        a_old, a_new, phi = attribute(old, new, pack, players, first, second)
        byfield = {c.field: c for c in inputs}
        contributions = sorted(
            (
                Contribution(
                    field=f,
                    label=byfield[f].label,
                    old=byfield[f].old,
                    new=byfield[f].new,
                    contribution=round(p, 6) + 0.0,
                )
                for f, p in zip(players, phi, strict=True)
            ),
            key=lambda c: (-abs(c.contribution), c.field),
        )
        a_old, a_new = round(a_old, 6) + 0.0, round(a_new, 6) + 0.0
        note = (
            f"Exact Shapley values over the {len(players)} changed input(s): each mix of old and "
            f"new values was re-evaluated; the contributions add up to the change of the "
            f"{target} ({a_old:+.3f} -> {a_new:+.3f})."
        )
    scores = [
        ScoreChange(
            option=o,
            old=old.scores[o],
            new=new.scores[o],
            delta=round(new.scores[o] - old.scores[o], 6) + 0.0,
            old_probability=old.probabilities.get(o, 0.0),
            new_probability=new.probabilities.get(o, 0.0),
        )
        for o in OPTIONS
    ]
    dims = _dimension_changes(old, new)
    rules = _rule_changes(old, new)
    vetoes = _veto_changes(old, new)
    expl = _explainability_changes(old, new)
    changed = old.recommendation != new.recommendation
    why = _why(old, new, inputs, dims, rules, vetoes, contributions, pack_changed, target)
    if changed:
        summary = (
            f"The recommendation changed from {option_label(old.recommendation)} to "
            f"{option_label(new.recommendation)} (confidence {old.confidence:.0%} -> "
            f"{new.confidence:.0%})."
        )
    else:
        summary = (
            f"The recommendation is still {option_label(new.recommendation)} (confidence "
            f"{old.confidence:.0%} -> {new.confidence:.0%})."
        )
    return Comparison(
        old_name=old.name,
        new_name=new.name,
        old_recommendation=old.recommendation,
        new_recommendation=new.recommendation,
        recommendation_changed=changed,
        old_confidence=old.confidence,
        new_confidence=new.confidence,
        old_rulepack=old.rulepack,
        new_rulepack=new.rulepack,
        rulepack_changed=pack_changed,
        old_advisor_version=old.advisor_version,
        new_advisor_version=new.advisor_version,
        inputs=inputs,
        scores=scores,
        dimensions=dims,
        rules=rules,
        vetoes=vetoes,
        explainability=expl,
        attribution_target=target,
        attribution_old=a_old,
        attribution_new=a_new,
        contributions=contributions,
        attribution_note=note,
        why=why,
        summary=summary,
    )


def _favour_words(side: str) -> str:
    return "neutral" if side == "neutral" else f"favouring {option_label(side)}"


def _why(
    old: Assessment,
    new: Assessment,
    inputs: list[InputChange],
    dims: list[DimensionChange],
    rules: list[RuleChange],
    vetoes: list[VetoChange],
    contributions: list[Contribution],
    pack_changed: bool,
    target: str,
) -> list[str]:
    out = []
    if pack_changed:
        out.append(
            f"The rule pack changed ({old.rulepack.name} {old.rulepack.version} -> "
            f"{new.rulepack.name} {new.rulepack.version}); part of any difference comes from the "
            "pack, not the inputs."
        )
    if not [c for c in inputs if c.scoring] and not pack_changed:
        out.append("No input that the scores depend on changed.")
    total = sum(c.contribution for c in contributions)
    # Shares read well only when every contribution points the way of the total.
    same_way = all(c.contribution * total >= 0 for c in contributions) and abs(total) > 1e-9
    for c in contributions[:3]:
        if abs(c.contribution) < 5e-4:
            continue
        share = f" ({c.contribution / total:.0%} of the change)" if same_way else ""
        out.append(
            f"{c.label.capitalize()} {c.old} -> {c.new} moved the {target} by "
            f"{c.contribution:+.3f}{share}."
        )
    for d in dims:
        if d.old_favours != d.new_favours or abs(d.new_utility - d.old_utility) >= 0.1:
            out.append(
                f"{d.label} went from {_favour_words(d.old_favours)} ({d.old_utility:+.2f}) to "
                f"{_favour_words(d.new_favours)} ({d.new_utility:+.2f})."
            )
    for v in vetoes:
        verb = "is now ruled out" if v.change == "added" else "is no longer ruled out"
        out.append(f"{option_label(v.option).capitalize()} {verb} ({v.rule}).")
    for r in rules:
        if r.id.startswith("explainability-requirement:"):
            continue
        out.append(f"Rule {r.id} {r.change}.")
    return out


# ---------------------------------------------------------------------------------------------
# Checking an assessment read from a file (it may have been edited by hand).


def assessment_problems(a: Assessment, source: str) -> list[Any]:
    """Give what makes an assessment read from a file unusable for a comparison.

    The model's own validation checks types; this checks what the comparison relies on
    beyond them: every number finite, scores and probabilities for exactly the three options,
    rule effects shaped as the engine writes them, and `input` valid requirements (mixes of the
    two inputs are re-evaluated).

    Args:
        a: the validated assessment.
        source: the file it came from, for messages.

    Returns:
        `errors.Problem`s, empty when the assessment can be compared.
    """
    from pydantic import ValidationError

    from ._errors import Problem
    from ._fields import OPTIONS
    from ._loading import field_path, first_bad_value, validation_details
    from ._requirements import Requirements

    out: list[Problem] = []
    bad = first_bad_value(a.model_dump(mode="python"), max_depth=64)
    if bad is not None:
        out.append(Problem(source, bad[0], bad[2], bad[1]))
    for name in ("scores", "probabilities"):
        keys = set(getattr(a, name))
        if keys != set(OPTIONS):
            missing = [o for o in OPTIONS if o not in keys]
            unknown = sorted(str(k) for k in keys - set(OPTIONS))
            out.append(
                Problem(
                    source,
                    name,
                    "must give a value for each of end_to_end, modular "
                    f"and hybrid (missing {missing}, unknown {unknown})",
                    (name,),
                )
            )
    for where, results in (("rules_evaluated", a.rules_evaluated), ("rules_fired", a.rules_fired)):
        for i, r in enumerate(results):
            problem = _effect_problem(r.effect, OPTIONS)
            if problem:
                loc: tuple[str | int, ...] = (where, i, "effect", *problem[0])
                out.append(Problem(source, field_path(loc), problem[1], loc))
    try:
        Requirements.model_validate(a.input)
    except ValidationError as e:
        for p in validation_details(e, source, Requirements, limit=5):
            at: tuple[str | int, ...] = ("input", *p.loc)
            out.append(Problem(source, field_path(at), p.message, at))
    return out


def _effect_problem(
    effect: dict[str, Any], options: tuple[str, ...]
) -> tuple[tuple[str, ...], str] | None:
    from ._rulepack import Effect

    known = tuple(Effect.model_fields)  # what a rule's effect may hold, as the pack defines it
    unknown = sorted(str(k) for k in effect if k not in known)
    if unknown:
        return (), f"unknown keys {unknown} (an effect has {', '.join(known)})"
    for k, v in effect.items():
        if (
            k not in ("add", "veto", "advice")
            and v is not None
            and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v))
        ):
            return (k,), f"must be a finite number (got {v!r})"
    add = effect.get("add")
    if add is not None:
        if not isinstance(add, dict):
            return ("add",), f"must be a mapping of option to number (got {type(add).__name__})"
        for k, v in add.items():
            if k not in options:
                return ("add",), f"unknown option {k!r}"
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return ("add", k), f"must be a finite number (got {v!r})"
    veto = effect.get("veto")
    if veto is not None and veto not in options:
        return ("veto",), f"must be one of {', '.join(options)} (got {veto!r})"
    advice = effect.get("advice")
    if advice is not None and not isinstance(advice, str):
        return ("advice",), f"must be an advice id (got {type(advice).__name__})"
    return None
