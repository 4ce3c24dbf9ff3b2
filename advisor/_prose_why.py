"""The sentences of an assessment's explanations: attributions, counterfactuals and the
inputs as the engine read them.

Takes the requirements, the mapping the user gave and the explanation facts (Shapley values,
the verified flips of `_verify`); gives the Assessment's `Attribution`, `ScoreAttribution`,
`Counterfactual` and `DefaultApplied` parts with their plain-language text.
"""

from __future__ import annotations

from typing import Any

from ._assessment import (
    Attribution,
    Change,
    Counterfactual,
    DefaultApplied,
    ScoreAttribution,
)
from ._attributions import PLAYERS, Shapley
from ._fields import OPTIONS, get_path
from ._narrative import FIELD_LABELS, PLAYER_FIELDS, fmt_count, fmt_ms, fmt_value, option_label
from ._requirements import DEFAULT_EXPLAINABILITY, Requirements, field_paths, point
from ._verify import Edit, Flip


def _player_value(req: Requirements, data: dict[str, Any], player: str) -> str:
    field = PLAYER_FIELDS[player]
    if field == "deployment":
        d = req.deployment
        return f"{fmt_value('deployment.target', d.target)}, " + (
            "independent stage updates" if d.independent_updates else "no independent updates"
        )
    if field == "regulation.explainability":
        return req.explainability_level()
    return fmt_value(field, get_path(data, field))


def attributions(
    req: Requirements, given: dict[str, Any], sv: Shapley, rec: int, runner: int
) -> list[Attribution]:
    """Give one attribution per feature, largest contribution first."""
    data = req.model_dump(mode="json")
    out = []
    for player, value in zip(PLAYERS, sv.values, strict=True):
        field = PLAYER_FIELDS[player]
        label = FIELD_LABELS[field]
        shown = _player_value(req, data, player)
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


def change(req: Requirements, e: Edit) -> Change:
    """Give one verified edit as the Assessment's `Change`, described in words."""
    if e.field == "regulation.regimes":
        desc = f"{'add' if e.added else 'remove'} regime {e.regime}"
    elif e.field in ("data.paired_examples", "latency.budget_ms"):
        data = e.field.startswith("data")
        old = point(req.data.paired_examples if data else req.latency.budget_ms)
        fmt = fmt_count if data else fmt_ms
        desc = f"{FIELD_LABELS[e.field]} {fmt(old)} -> {fmt(float(e.new))}"
    else:
        before, after = fmt_value(e.field, e.old), fmt_value(e.field, e.new)
        desc = f"{FIELD_LABELS[e.field]} {before} -> {after}"
    return Change(field=e.field, old=e.old, new=e.new, description=desc)


def _r4(v: float) -> float:
    return round(float(v), 4) + 0.0


def counterfactuals(req: Requirements, flips: dict[str, Flip | None]) -> list[Counterfactual]:
    """Give, per input, the smallest verified change that flips the recommendation."""
    out = []
    for field, flip in flips.items():
        label = FIELD_LABELS[field]
        if flip is None:
            out.append(
                Counterfactual(
                    field=field,
                    label=label,
                    found=False,
                    changes=[],
                    new_recommendation=None,
                    distance=None,
                    verified=False,
                    text=f"No change of {label} alone flips it",
                )
            )
            continue
        ch = change(req, flip.edits[0])
        out.append(
            Counterfactual(
                field=field,
                label=label,
                found=True,
                changes=[ch],
                new_recommendation=flip.new,
                distance=_r4(flip.moves[0].distance),
                verified=True,
                text=f"{ch.description} flips it to {option_label(flip.new)}",
            )
        )
    return out


def pair_counterfactual(req: Requirements, flip: Flip) -> Counterfactual:
    """Give a verified pair of changes as a counterfactual."""
    changes = [change(req, e) for e in flip.edits]
    return Counterfactual(
        field=" + ".join(c.field for c in changes),
        label=" and ".join(FIELD_LABELS[c.field] for c in changes),
        found=True,
        changes=changes,
        new_recommendation=flip.new,
        distance=_r4(sum(m.distance for m in flip.moves)),
        verified=True,
        text=(
            f"{changes[0].description} and {changes[1].description} together flip it to "
            f"{option_label(flip.new)}"
        ),
    )


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
