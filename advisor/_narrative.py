"""Plain-language labels and value formatting shared by the engine's explanations.

Takes field paths and raw values; gives the short strings a reader sees ("2M pairs", "300 ms").
"""

from __future__ import annotations

from typing import Any

from ._fields import CONDITION_FIELDS, FIELD_LABELS, OPTION_LABELS, PLAYER_FIELDS

__all__ = ["FIELD_LABELS", "PLAYER_FIELDS", "fmt_count", "fmt_ms", "fmt_value", "option_label"]


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
    if hasattr(value, "low") and hasattr(value, "high"):  # a `Range` of the requirements
        return f"{fmt_value(field, value.low)} to {fmt_value(field, value.high)}"
    entry = CONDITION_FIELDS.get(field)
    scale = entry.scale if entry is not None else None
    if scale is not None and isinstance(value, str):
        # A number as the file typed it ("2M", "300 ms"): shown as the model reads it.
        from ._units import parse_number_or_range

        try:
            number = parse_number_or_range(value, scale)
        except ValueError:
            return value
        return fmt_value(field, number)
    if scale == "count":
        return fmt_count(float(value)) + (f" {entry.unit}" if entry and entry.unit else "")
    if scale == "duration":
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
