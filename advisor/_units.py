"""Reading numbers the way people type them: units, suffixes and ranges.

Takes a short text answer ("2s", "300 ms", "1.5M", "20k", "100-400", "10k-50k") and the kind of
quantity it answers (a count of pairs, or a duration in milliseconds); gives a plain number (an
int when it is whole) or a range mapping `{"low": ..., "high": ...}` as the requirements model
accepts it. Raises ValueError with a one-line reason a person can act on. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Literal

Kind = Literal["count", "duration"]
Number = int | float
Value = Number | dict[str, Number]

# Multipliers to the field's own unit: pairs for counts, milliseconds for durations. "m" is a
# million for counts (people write "1.5m pairs") but never a duration: minutes and milliseconds
# would both be plausible there, so durations insist on "min" or "ms".
_COUNT_UNITS: dict[str, float] = {
    "": 1,
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "mio": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}
_COUNT_WORDS = ("pairs", "pair", "examples", "example", "samples", "sample")

_DURATION_UNITS: dict[str, float] = {
    "": 1,
    "ms": 1,
    "msec": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "us": 1e-3,
    "µs": 1e-3,
    "microsecond": 1e-3,
    "microseconds": 1e-3,
    "s": 1e3,
    "sec": 1e3,
    "secs": 1e3,
    "second": 1e3,
    "seconds": 1e3,
    "min": 60e3,
    "mins": 60e3,
    "minute": 60e3,
    "minutes": 60e3,
    "h": 3600e3,
    "hr": 3600e3,
    "hrs": 3600e3,
    "hour": 3600e3,
    "hours": 3600e3,
}

_NUMBER = r"[+-]?(?:\d[\d,_]*(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([a-zµ]*)\s*$", re.IGNORECASE)
# Range separators: "to", "..", an en or em dash, or a hyphen that is not a number's sign.
_RANGE = re.compile(
    r"^(.+?)\s*(?:\bto\b|\.\.|–|—|(?<=[\w.])(?<![\d.]e)\s*-\s*(?=[\d.]))\s*(.+)$", re.I
)
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?(e[+-]?\d+)?", re.I)


def _examples(kind: Kind) -> str:
    return "20k, 1.5M or 10k-50k" if kind == "count" else "300, 300 ms, 2s or 100-400"


def _clean(x: float) -> Number:
    # Whole numbers stay ints so that the answers file reads "2000000", not "2000000.0".
    rounded = round(x, 9)
    if rounded == int(rounded) and abs(rounded) < 1e15:
        return int(rounded)
    return rounded


def parse_quantity(text: str, kind: Kind) -> Number:
    """Read one number with an optional unit or suffix.

    Args:
        text: e.g. "2s", "300 ms", "1.5M", "20k", "2,000,000", "1e6".
        kind: "count" (pairs; suffixes k, M, B) or "duration" (milliseconds; units ms, s, min, h).

    Returns:
        The number in the field's unit: pairs, or milliseconds.

    Raises:
        ValueError: not a number, or a unit that does not fit the kind.
    """
    s = text.strip()
    if not s:
        raise ValueError("expected a number")
    if kind == "count":
        lowered = s.lower()
        for word in _COUNT_WORDS:
            if lowered.endswith(word):
                s = s[: -len(word)].strip()
                break
    m = _QUANTITY.match(s)
    if not m:
        raise ValueError(f"'{text.strip()}' is not a number (try {_examples(kind)})")
    digits, unit = m.group(1), m.group(2)
    if "," in digits and not _THOUSANDS.fullmatch(digits):
        raise ValueError(f"'{digits}': commas must group thousands (2,000,000)")
    try:
        value = float(digits.replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not a number (try {_examples(kind)})") from None
    table = _COUNT_UNITS if kind == "count" else _DURATION_UNITS
    key = unit if unit in ("µs",) else unit.lower()
    if kind == "duration" and key == "m":
        raise ValueError(f"'{text.strip()}': m is ambiguous for a duration; write min or ms")
    if key not in table:
        known = "k, M or B" if kind == "count" else "ms, s, min or h"
        raise ValueError(f"unknown unit '{unit}' in '{text.strip()}' (use {known})")
    scaled = value * table[key]
    if not math.isfinite(scaled):  # 1e309, or 1e308k: beyond what a float holds
        raise ValueError(f"'{_cut(text.strip())}' is too large a number")
    return _clean(scaled)


def _cut(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def parse_number_or_range(text: str, kind: Kind) -> Value:
    """Read a number or a range ("100-400", "10k-50k", "100 ms to 2 s", "1-2 s").

    A unit written once after a range applies to both ends ("1-2 s" is 1000-2000 ms). Order and
    sign are not checked here beyond low <= high: the requirements model says what is allowed.

    Args:
        text: the answer as typed.
        kind: "count" or "duration", as for `parse_quantity`.

    Returns:
        A number, or `{"low": low, "high": high}`.

    Raises:
        ValueError: unreadable, or a range whose low end exceeds its high end.
    """
    s = text.strip()
    m = _RANGE.match(s)
    if not m:
        return parse_quantity(s, kind)
    left, right = m.group(1).strip(), m.group(2).strip()
    high = parse_quantity(right, kind)
    try:
        low = parse_quantity(left, kind)
        unit_left, unit_right = _QUANTITY.match(left), _QUANTITY.match(right)
        if unit_left and unit_right and not unit_left.group(2) and unit_right.group(2):
            # "1-2 s" means 1 s to 2 s; but "500-2k" means 500 to 2000, so the shared unit is
            # applied only when the range stays ordered.
            shared = parse_quantity(left + unit_right.group(2), kind)
            if shared <= high:
                low = shared
    except ValueError as e:
        raise ValueError(f"low end of range: {e}") from None
    if low > high:
        raise ValueError(f"the low end of a range must not exceed its high end (got {s})")
    return {"low": low, "high": high}


def count(n: float) -> str:
    """Give a count the way people say it: 2M, 150k, 950 (never '1e+03k')."""
    n = float(n)
    if n < 999.5:
        return f"{n:,.0f}"
    for unit, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B")):
        v = float(f"{n / unit:.3g}")
        if v < 1000 or suffix == "B":
            return f"{v:g}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover
