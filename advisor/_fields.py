"""The fields a rule condition may test, and how each maps onto the engine's feature matrix.

Takes nothing; gives `CONDITION_FIELDS`: dotted path -> how to encode a value of that field as the
number stored in the feature matrix. Keeping this table apart lets the rule-pack validator reject
conditions on unknown fields without importing numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._requirements import (
    COST_ORDER,
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    LEVEL3_ORDER,
    MATURITY_ORDER,
    MODALITIES,
    TARGETS,
)

OPTIONS = ("end_to_end", "modular", "hybrid")
OPTION_LABELS = {"end_to_end": "end-to-end", "modular": "modular", "hybrid": "hybrid"}

# The feature matrix's fixed columns, in order; regime bits follow them (one per known regime).
BASE_COLUMNS = (
    "paired_log",
    "latency_log",
    "stage_labels",
    "labeling_cost",
    "modality",
    "criticality",
    "explainability",
    "pretrained",
    "ml_maturity",
    "independent_updates",
    "target",
    "foundation",
)


def log_pairs(n: float) -> float:
    """Paired examples on the engine's log scale: log10(1 + n)."""
    return math.log10(1.0 + n)


def log_ms(ms: float) -> float:
    """Latency budget on the engine's log scale: log10(ms)."""
    return math.log10(ms)


@dataclass(frozen=True)
class FieldKind:
    """How a condition field is stored: `numeric`, `ordinal`, `nominal`, `bool` or `set`."""

    kind: str
    column: str
    choices: tuple[str, ...] = ()

    def encode(self, value: object) -> float:
        """Give the number stored for `value` (raises ValueError when it does not fit)."""
        if self.kind == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expects a number (got {value!r})")
            v = float(value)
            if self.column == "latency_log":
                if v <= 0:
                    raise ValueError(f"latency must be > 0 (got {v:g})")
                return log_ms(v)
            if v < 0:
                raise ValueError(f"expects a number >= 0 (got {v:g})")
            return log_pairs(v)
        if self.kind in ("ordinal", "nominal"):
            if value not in self.choices:
                raise ValueError(f"expects one of {', '.join(self.choices)} (got {value!r})")
            return float(self.choices.index(str(value)))
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expects true or false (got {value!r})")
            return 1.0 if value else 0.0
        raise ValueError("a set field is tested with contains / contains_any / not_contains")


CONDITION_FIELDS: dict[str, FieldKind] = {
    "data.paired_examples": FieldKind("numeric", "paired_log"),
    "latency.budget_ms": FieldKind("numeric", "latency_log"),
    "data.stage_labels": FieldKind("ordinal", "stage_labels", tuple(LEVEL3_ORDER)),
    "data.labeling_cost": FieldKind("ordinal", "labeling_cost", tuple(COST_ORDER)),
    "task.modality": FieldKind("nominal", "modality", tuple(MODALITIES)),
    "task.pretrained_available": FieldKind("bool", "pretrained"),
    "task.foundation_model": FieldKind("bool", "foundation"),
    "regulation.criticality": FieldKind("ordinal", "criticality", tuple(CRITICALITY_ORDER)),
    "regulation.explainability": FieldKind(
        "ordinal", "explainability", tuple(EXPLAINABILITY_ORDER)
    ),
    "derived.explainability_required": FieldKind(
        "ordinal", "required", tuple(EXPLAINABILITY_ORDER)
    ),
    "regulation.regimes": FieldKind("set", "regimes"),
    "team.ml_maturity": FieldKind("ordinal", "ml_maturity", tuple(MATURITY_ORDER)),
    "deployment.target": FieldKind("nominal", "target", tuple(TARGETS)),
    "deployment.independent_updates": FieldKind("bool", "independent_updates"),
}

ORDER_OPS = ("lt", "le", "gt", "ge")
EQ_OPS = ("eq", "ne", "in", "not_in")
SET_OPS = ("contains", "contains_any", "not_contains")
ALL_OPS = ORDER_OPS + EQ_OPS + SET_OPS


def get_path(data: dict[str, Any], path: str) -> Any:
    """Give the value at a dotted path of a nested mapping (None when absent)."""
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path of a nested mapping, creating sections."""
    parts = path.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value
