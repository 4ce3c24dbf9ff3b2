"""Plain-language labels and value formatting shared by the engine's explanations.

Takes field paths and raw values; gives the short strings a reader sees ("2M pairs", "300 ms").
"""

from __future__ import annotations

from typing import Any

from ._fields import OPTION_LABELS

FIELD_LABELS = {
    "data.paired_examples": "paired examples",
    "latency.budget_ms": "latency budget",
    "data.stage_labels": "stage labels",
    "data.labeling_cost": "labelling cost",
    "task.modality": "modality",
    "regulation.criticality": "criticality",
    "regulation.explainability": "explainability requirement",
    "task.pretrained_available": "pretrained model available",
    "task.foundation_model": "foundation model covers the task",
    "team.ml_maturity": "team ML maturity",
    "deployment.independent_updates": "independent stage updates",
    "deployment.target": "deployment target",
    "regulation.regimes": "regimes",
    "deployment": "deployment",
}

#: Which requirement field each Shapley player stands for.
PLAYER_FIELDS = {
    "paired_log": "data.paired_examples",
    "latency_log": "latency.budget_ms",
    "stage_labels": "data.stage_labels",
    "labeling_cost": "data.labeling_cost",
    "modality": "task.modality",
    "criticality": "regulation.criticality",
    "explainability": "regulation.explainability",
    "pretrained": "task.pretrained_available",
    "foundation": "task.foundation_model",
    "ml_maturity": "team.ml_maturity",
    "deployment": "deployment",
    "regimes": "regulation.regimes",
}


def fmt_count(n: float) -> str:
    """Give a count the way people say it: 2M, 150k, 950."""
    if n >= 1e9:
        return f"{n / 1e9:.3g}B"
    if n >= 1e6:
        return f"{n / 1e6:.3g}M"
    if n >= 1e4:
        return f"{n / 1e3:.3g}k"
    return f"{n:,.0f}"


def fmt_ms(ms: float) -> str:
    """Give a duration in ms or s."""
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    return f"{ms:.3g} ms"


def fmt_value(field: str, value: Any) -> str:
    """Give a requirement value as shown to a reader."""
    if isinstance(value, dict) and "low" in value:
        return f"{fmt_value(field, value['low'])} to {fmt_value(field, value['high'])}"
    if field in ("data.paired_examples", "latency.budget_ms") and isinstance(value, str):
        # A number as the file typed it ("2M", "300 ms"): shown as the model reads it.
        from ._units import parse_number_or_range

        try:
            number = parse_number_or_range(value, "count" if field[0] == "d" else "duration")
        except ValueError:
            return value
        return fmt_value(field, number)
    if field == "data.paired_examples":
        return fmt_count(float(value)) + " pairs"
    if field == "latency.budget_ms":
        return fmt_ms(float(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    if value is None:
        return "not stated"
    return str(value).replace("_", " ")


def option_label(option: str) -> str:
    """Give an option's display name."""
    return OPTION_LABELS.get(option, option)
