"""Hypothesis strategies for requirement profiles and valid rule-pack variations.

Shared by the property, fuzz and hostile-input tests. A profile is a plain mapping as a user would
write it (optional fields left out at random); a pack variation perturbs the default pack's
numbers (weights, thresholds, curves, priors, rule magnitudes) while keeping what makes a pack
meaningful: utilities that do not rise with strictness, scarce below ample, an end-to-end prior no
better explained than the modular one, requirement levels that only get stricter.
"""

from __future__ import annotations

import copy
import math
import os
import random
from enum import Enum
from typing import Any, get_args

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from advisor._requirements import (
    COST_ORDER,
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    KNOWN_REGIMES,
    LEVEL3_ORDER,
    MODALITIES,
    field_info,
    field_paths,
)

# ---------------------------------------------------------------------------------------------
# How many examples: the "ci" profile (registered in conftest.py) unless another profile was
# chosen with --hypothesis-profile; the default profile means "CI numbers" for these suites.


def examples(ci: int | None = None, **over: Any) -> settings:
    """Give the settings for one property: `ci` examples under CI, scaled under other profiles.

    Under the "ci" profile (the default, derandomised: see conftest.py) a property runs `ci`
    examples (2,000 unless given); under "deep" it runs 25x that (50,000 for a 2,000-example
    property) from random seeds; any other profile is used as it is. ADVISOR_PROPERTY_EXAMPLES
    overrides the count.
    """
    name = settings.get_current_profile_name()
    base = settings.get_profile("ci") if name in ("default", "ci") else settings.default
    n = base.max_examples
    if ci is not None:
        if name in ("default", "ci"):
            n = ci
        elif name == "deep":
            n = ci * 25
    if os.environ.get("ADVISOR_PROPERTY_EXAMPLES"):
        n = int(os.environ["ADVISOR_PROPERTY_EXAMPLES"])
    return settings(base, max_examples=n, **over)


# ---------------------------------------------------------------------------------------------
# Numbers as a user writes them.

# Paired examples: 0 .. 1e12 and budgets above 0 up to one day (86,400,000 ms): the edges, the
# thresholds of the default pack, and values spread over the decades (log-uniform) or anywhere.
pairs_number = st.one_of(
    st.sampled_from([0, 1, 9_999, 10_000, 50_000, 200_000, 1_000_000, 10**12]),
    st.integers(min_value=0, max_value=10**12),
    st.integers(0, 12_000).map(lambda e: round(10 ** (e / 1000), 3)),
    st.floats(min_value=0, max_value=1e12),
)
budget_number = st.one_of(
    st.sampled_from([1e-6, 0.001, 1, 5, 49.9, 50, 100, 1000, 2000, 10_000, 60_000, 86_400_000]),
    st.integers(-3000, 7936).map(lambda e: round(10 ** (e / 1000), 4)),
    st.floats(min_value=1e-6, max_value=86_400_000),
)


def number_or_range(numbers: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    """Give a number, or (one time in three) a {low, high} range with low <= high."""
    ranges = st.tuples(numbers, numbers).map(lambda t: {"low": min(t), "high": max(t)})
    return st.one_of(numbers, numbers, ranges)


# Regimes as people write them: known ids (in any case, with hyphens or spaces), unknown ones.
regime_names = st.one_of(
    st.sampled_from(KNOWN_REGIMES),
    st.sampled_from(KNOWN_REGIMES).map(lambda r: r.upper().replace("_", "-")),
    st.sampled_from(["made_up_act", "Local Law 144", "soc2", " hipaa ", "x" * 64]),
)
names = st.one_of(
    st.sampled_from(["p", "Voice agent", "Ünïcödé 漢字 🚀"]), st.text(min_size=1, max_size=40)
)


def _choice_fields() -> list[tuple[str, str, list[Any]]]:
    """Give every enum or bool field of the requirements model with its values (from the model,
    so fields added later are generated too); regimes and numbers are drawn apart."""
    out = []
    for path in field_paths():
        info = field_info(path)
        args = [a for a in (get_args(info.annotation) or (info.annotation,)) if a is not type(None)]
        values: list[Any] = []
        for a in args:
            if isinstance(a, type) and issubclass(a, Enum):
                values += [m.value for m in a]
            elif a is bool:
                values += [False, True]
        if values and "." in path:
            section, key = path.split(".", 1)
            out.append((section, key, values))
    return out


CHOICE_FIELDS = _choice_fields()
_RADIX = [len(v) + 1 for _, _, v in CHOICE_FIELDS]  # + 1: the field left out
_COMBINATIONS = math.prod(_RADIX)
_PAIRS = number_or_range(pairs_number)
_BUDGET = number_or_range(budget_number)
_FLAGS = st.integers(0, 7)
_CODES = st.integers(0, _COMBINATIONS - 1)
_MASKS = st.integers(-1, 2 ** len(KNOWN_REGIMES) - 1)  # -1: regimes left out
_EXTRA_REGIME = st.one_of(st.just(None), regime_names)


@st.composite
def profiles(
    draw: st.DrawFn, *, ranges: bool = True, text: st.SearchStrategy[str] = names
) -> dict[str, Any]:
    """Give a valid requirements mapping; optional fields left out at random.

    The enum and bool fields come from one integer (a mixed-radix code, 0 = all left out), which
    keeps generation cheap (hypothesis spends ~0.1-1 ms per draw) and shrinks to the minimal
    profile.
    """
    # Every strategy drawn from is built once (below): hypothesis validates each new strategy
    # object, which cost more than the draws themselves.
    doc: dict[str, Any] = {
        "name": draw(text),
        "data": {"paired_examples": draw(_PAIRS if ranges else pairs_number)},
        "latency": {"budget_ms": draw(_BUDGET if ranges else budget_number)},
    }
    flags = draw(_FLAGS)
    if flags & 1:
        doc["schema_version"] = 1
    if flags & 2:
        doc["description"] = "" if flags & 4 else draw(text)
    code = draw(_CODES)
    for (section, key, values), radix in zip(CHOICE_FIELDS, _RADIX, strict=True):
        code, digit = divmod(code, radix)
        if digit:
            doc.setdefault(section, {})[key] = values[digit - 1]
    mask = draw(_MASKS)
    if mask >= 0:
        regimes = [r for i, r in enumerate(KNOWN_REGIMES) if mask >> i & 1]
        extra = draw(_EXTRA_REGIME)
        doc.setdefault("regulation", {})["regimes"] = regimes + ([extra] if extra else [])
    return doc


# ---------------------------------------------------------------------------------------------
# Rule-pack variations: variation i is built by a random.Random(i), so a failing example names a
# small number (reproduce with `pack_variation(BASE, i)`) and each variation is validated and
# compiled once per session.


def _descending(rnd: random.Random, n: int, lo: float, hi: float) -> list[float]:
    return sorted((rnd.uniform(lo, hi) for _ in range(n)), reverse=True)


def pack_variation(base: dict[str, Any], i: int) -> dict[str, Any]:
    """Give variation `i` of a pack's merged mapping (`RulePack.model_dump(by_alias=True)`).

    Numbers change (weights, thresholds, curves, priors, penalties, rule magnitudes and numeric
    rule thresholds, tie-break order); the structure and the signs of rule effects stay.
    """
    rnd = random.Random(i)
    d = dict(base)
    for key in ("hybrid_score", "dimensions", "explainability", "rules", "regimes"):
        d[key] = copy.deepcopy(base[key])
    d["favour_threshold"] = rnd.uniform(0.02, 0.6)
    d["tie_break"] = rnd.sample(["end_to_end", "modular", "hybrid"], 3)
    hs = d["hybrid_score"]
    hs["complexity_cost"] = rnd.uniform(0, 0.3)
    hs["conflict_gain"] = rnd.uniform(0, 2.5)
    hs["conflict_floor"] = rnd.uniform(0, 0.5)
    hs["shortage_cost"] = rnd.uniform(0, 1.5)
    dims = d["dimensions"]
    for name in ("data", "latency", "regulation"):
        dims[name]["weight"] = rnd.choice([0.0, 1.0, rnd.random()])
    if not any(dims[name]["weight"] > 0 for name in ("data", "latency", "regulation")):
        dims[rnd.choice(["data", "latency", "regulation"])]["weight"] = 1.0  # one must count
    data = dims["data"]
    for m in MODALITIES:
        scarce = 10 ** rnd.uniform(1, 7)
        data["thresholds"][m] = {"scarce": scarce, "ample": scarce * 10 ** rnd.uniform(0.05, 3)}
    data["stage_labels"] = {k: rnd.uniform(-0.4, 0.4) for k in LEVEL3_ORDER}
    data["labeling_cost"] = {k: rnd.uniform(-0.4, 0.4) for k in COST_ORDER}
    data["pretrained_shift_decades"] = rnd.uniform(0, 3)
    data["foundation_shift_decades"] = rnd.uniform(0, 4)
    xs = sorted({round(10 ** rnd.uniform(-1, 7.9), 3) for _ in range(rnd.randint(2, 6))})
    if len(xs) < 2:
        xs = [10.0, 1000.0]
    dims["latency"]["curve"] = [
        [x, u] for x, u in zip(xs, _descending(rnd, len(xs), -1, 1), strict=True)
    ]
    reg = dims["regulation"]
    reg["criticality"] = dict(zip(CRITICALITY_ORDER, _descending(rnd, 4, -1, 1), strict=True))
    reg["explainability"] = dict(zip(EXPLAINABILITY_ORDER, _descending(rnd, 4, -1, 1), strict=True))
    ex = d["explainability"]
    mod = rnd.uniform(0.3, 1)
    top = max([0.0, *(a["delta"] for a in ex.get("modality_adjustments", []))]) + max(
        [0.0, *(a["delta"] for a in ex.get("method_adjustments", []))]
    )
    ex["priors"]["modular"]["fidelity"] = mod
    ex["priors"]["modular"]["traceable"] = True
    ex["priors"]["end_to_end"]["fidelity"] = rnd.uniform(0, max(0.0, mod - top))
    ex["penalty_per_point"] = rnd.uniform(0, 3)
    mins = sorted(rnd.random() for _ in range(4))
    hard_from, trace_from = rnd.randint(1, 4), rnd.randint(1, 4)
    ex["requirements"] = {
        lv: {"min_fidelity": mins[j], "traceability": j >= trace_from, "hard": j >= hard_from}
        for j, lv in enumerate(EXPLAINABILITY_ORDER)
    }
    for regime in d["regimes"]:
        regime["explainability_floor"] = rnd.choice(EXPLAINABILITY_ORDER)
    for rule in d["rules"]:
        add = rule["effect"].get("add")
        if add:
            scale = rnd.uniform(0, 3)
            rule["effect"]["add"] = {k: v * scale for k, v in add.items()}
        lean = rule["effect"].get("lean")
        if lean:
            rule["effect"]["lean"] = max(-1.0, min(1.0, lean * rnd.uniform(0, 2.5)))
        when = rule["when"]
        if when.get("field") == "latency.budget_ms" and "lt" in when:
            when["lt"] = round(10 ** rnd.uniform(0, 4), 3)
        if when.get("field") == "data.paired_examples" and "lt" in when:
            when["lt"] = rnd.choice([1, 10, 1000])
    return d


__all__ = [
    "HealthCheck",
    "examples",
    "budget_number",
    "number_or_range",
    "pack_variation",
    "pairs_number",
    "profiles",
    "regime_names",
]
