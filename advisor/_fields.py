"""The field registry: one declaration per input field, and what is derived from it.

Takes nothing; gives `FIELDS`, one `InputField` per requirement the engine reads (its path, kind,
choices in order, scale, label, unit, feature-matrix slot, counterfactual bounds and Shapley
player), in the order reports list them. Everything else that knows about an input is derived
here: the feature layout (`BASE_COLUMNS`), the condition language (`CONDITION_FIELDS`), the
counterfactual search's tables (`NUMERIC`, `CATEGORICAL`, `FIELD_ORDER`), the narrative's labels
(`FIELD_LABELS`, `PLAYER_FIELDS`), the Shapley players (`PLAYERS`, `PLAYER_COLUMNS`) and the
numeric fields that may be ranges (`NUMERIC_FIELDS`, which the questionnaire and the batch CSV
columns use). The questionnaire's wording lives beside each pydantic field in `_requirements`.

Adding an input is one pydantic field in `_requirements` and one entry in `FIELDS` (with the next
free `slot`); tests/test_registry.py proves it by adding one to a copy of the package.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from ._assessment import Option
from ._requirements import (
    COST_ORDER,
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    LEVEL3_ORDER,
    MATURITY_ORDER,
    MODALITIES,
    TARGETS,
    point,
)

if TYPE_CHECKING:
    from ._requirements import Requirements

OPTIONS: tuple[str, ...] = get_args(Option)
OPTION_LABELS = {"end_to_end": "end-to-end", "modular": "modular", "hybrid": "hybrid"}


def log_pairs(n: float) -> float:
    """Paired examples on the engine's log scale: log10(1 + n)."""
    return math.log10(1.0 + n)


def log_ms(ms: float) -> float:
    """Latency budget on the engine's log scale: log10(ms)."""
    return math.log10(ms)


Kind = Literal["numeric", "ordinal", "nominal", "bool", "set"]
Scale = Literal["count", "duration"]


@dataclass(frozen=True)
class InputField:
    """One input field as the engine, the rules and the report know it.

    path: the dotted requirement path (`latency.budget_ms`); `derived.*` paths are computed by
    the engine, not given. kind: numeric, ordinal, nominal, bool or set. label and unit: how a
    reader sees it. choices: the values in order (ordinal: low to high); a bool's are (False,
    True). scale: a number's ("count": log10(1 + n); "duration": log10(ms)). slot: its column in
    the feature matrix (None: not a base column; the regimes have one column each after them).
    column: that column's name. bounds: the lowest and highest value the counterfactual search
    tries (numbers). player: the Shapley player it belongs to (default: its column; fields that
    share a player are one group). read: how the engine reads it from the requirements when not
    the stored value at `path`.
    """

    path: str
    kind: Kind
    label: str
    column: str = ""
    slot: int | None = None
    choices: tuple[Any, ...] = ()
    scale: Scale | None = None
    unit: str = ""
    bounds: tuple[float, float] | None = None
    player: str = ""
    read: Callable[[Requirements], Any] | None = None

    @property
    def given(self) -> bool:
        """Tell whether the field is given by the user (not derived by the engine)."""
        return not self.path.startswith("derived.")

    @property
    def ordered(self) -> bool:
        """Tell whether the choices are ordered (a step between neighbours is one unit)."""
        return self.kind == "ordinal"

    def value(self, req: Requirements) -> Any:
        """Give the value the engine reads from `req` (numbers at their point value)."""
        if self.read is not None:
            return self.read(req)
        cur = self.stored(req)
        return point(cur) if self.kind == "numeric" else cur

    def stored(self, req: Requirements) -> Any:
        """Give the value stored at `path` in `req` (a number may be a `Range`)."""
        cur: Any = req
        for part in self.path.split("."):
            cur = getattr(cur, part)
        return cur

    def transform(self, v: float) -> float:
        """Give a number on the engine's scale (`scale`)."""
        return self._scale(v)

    def transform_many(self, values: Iterable[float]) -> list[float]:
        """Give many numbers on the engine's scale: `transform` of each, value by value (the
        same `math.log10` as for one row, whose last bit numpy's log10 need not match)."""
        return list(map(self._scale, values))

    @property
    def _scale(self) -> Callable[[float], float]:
        return log_ms if self.scale == "duration" else log_pairs

    def encode_numbers(self, values: Iterable[Any]) -> list[float]:
        """Give validated numbers of a numeric field on the engine's scale, a column at once:
        `encode` of each, its range checked once for the column (raises ValueError)."""
        numbers = [float(v) for v in values]
        low = min(numbers, default=1.0)
        if (
            low < 0
            or (self.scale == "duration" and low <= 0)
            or not all(map(math.isfinite, numbers))
        ):
            raise ValueError(f"{self.path}: a value out of the field's range")
        return self.transform_many(numbers)

    def encode(self, value: object) -> float:
        """Give the number stored for `value` (raises ValueError when it does not fit)."""
        if self.kind == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expects a number (got {value!r})")
            v = float(value)
            if self.scale == "duration":
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


#: Players that stand for several fields at once, by name: (the path a reader sees, its label).
PLAYER_GROUPS = {"deployment": ("deployment", "deployment")}

_BOOL = (False, True)

#: Every input field, in the order reports list them (and the Monte Carlo draws them).
FIELDS: tuple[InputField, ...] = (
    InputField(
        "data.paired_examples",
        "numeric",
        "paired examples",
        column="paired_log",
        slot=0,
        scale="count",
        unit="pairs",
        bounds=(0.0, 1e12),
    ),
    InputField(
        "latency.budget_ms",
        "numeric",
        "latency budget",
        column="latency_log",
        slot=1,
        scale="duration",
        unit="ms",
        bounds=(0.1, 86_400_000.0),
    ),
    InputField(
        "data.stage_labels",
        "ordinal",
        "stage labels",
        column="stage_labels",
        slot=2,
        choices=tuple(LEVEL3_ORDER),
    ),
    InputField(
        "data.labeling_cost",
        "ordinal",
        "labelling cost",
        column="labeling_cost",
        slot=3,
        choices=tuple(COST_ORDER),
    ),
    InputField(
        "task.modality", "nominal", "modality", column="modality", slot=4, choices=tuple(MODALITIES)
    ),
    InputField(
        "task.pretrained_available",
        "bool",
        "pretrained model available",
        column="pretrained",
        slot=7,
        choices=_BOOL,
    ),
    InputField(
        "task.foundation_model",
        "bool",
        "foundation model covers the task",
        column="foundation",
        slot=11,
        choices=_BOOL,
    ),
    InputField(
        "regulation.criticality",
        "ordinal",
        "criticality",
        column="criticality",
        slot=5,
        choices=tuple(CRITICALITY_ORDER),
    ),
    InputField(
        "regulation.explainability",
        "ordinal",
        "explainability requirement",
        column="explainability",
        slot=6,
        choices=tuple(EXPLAINABILITY_ORDER),
        # Left out, it follows criticality: the engine reads the effective level.
        read=lambda req: req.explainability_level(),
    ),
    InputField(
        "derived.explainability_required",
        "ordinal",
        "required explainability",
        column="required",
        choices=tuple(EXPLAINABILITY_ORDER),
    ),
    InputField("regulation.regimes", "set", "regimes", column="regimes", player="regimes"),
    InputField(
        "team.ml_maturity",
        "ordinal",
        "team ML maturity",
        column="ml_maturity",
        slot=8,
        choices=tuple(MATURITY_ORDER),
    ),
    InputField(
        "deployment.target",
        "nominal",
        "deployment target",
        column="target",
        slot=10,
        choices=tuple(TARGETS),
        player="deployment",
    ),
    InputField(
        "deployment.independent_updates",
        "bool",
        "independent stage updates",
        column="independent_updates",
        slot=9,
        choices=_BOOL,
        player="deployment",
    ),
)

#: Fields by path: the fields a rule condition may test (`derived.*` included).
CONDITION_FIELDS: dict[str, InputField] = {f.path: f for f in FIELDS}
#: The fields a user gives (the engine derives the rest).
GIVEN_FIELDS = tuple(f for f in FIELDS if f.given)
#: The feature matrix's fixed columns, in slot order; regime bits follow them.
_BY_SLOT = sorted((f for f in FIELDS if f.slot is not None), key=lambda f: f.slot or 0)
BASE_COLUMNS = tuple(f.column for f in _BY_SLOT)
#: Numeric fields (they may be ranges), by path.
NUMERIC_FIELDS = tuple(f.path for f in GIVEN_FIELDS if f.kind == "numeric")
#: The counterfactual search's tables: numbers (column, lowest, highest), choices (column,
#: choices in order, ordered?), and the order fields are tried and listed in.
NUMERIC: dict[str, tuple[str, float, float]] = {
    f.path: (f.column, *(f.bounds or (0.0, 0.0))) for f in GIVEN_FIELDS if f.kind == "numeric"
}
CATEGORICAL: dict[str, tuple[str, list[Any], bool]] = {
    f.path: (f.column, list(f.choices), f.ordered)
    for f in GIVEN_FIELDS
    if f.kind in ("ordinal", "nominal", "bool")
}
FIELD_ORDER = tuple(f.path for f in GIVEN_FIELDS)
#: A reader's label of every field and of every group player's path.
FIELD_LABELS: dict[str, str] = {f.path: f.label for f in GIVEN_FIELDS} | {
    path: label for path, label in PLAYER_GROUPS.values()
}


def _player(f: InputField) -> str:
    return f.player or f.column


#: The Shapley game's players: single columns in slot order, then groups, then the regimes.
PLAYERS: tuple[str, ...] = (
    tuple(_player(f) for f in _BY_SLOT if _player(f) == f.column)
    + tuple(dict.fromkeys(_player(f) for f in _BY_SLOT if _player(f) != f.column))
    + tuple(_player(f) for f in GIVEN_FIELDS if f.kind == "set")
)
#: The base columns each player (other than the regimes) moves, by player.
PLAYER_COLUMNS: dict[str, tuple[str, ...]] = {
    p: tuple(f.column for f in _BY_SLOT if _player(f) == p) for p in PLAYERS if p != "regimes"
}
#: The requirement field (or group path) each player stands for.
PLAYER_FIELDS: dict[str, str] = {
    p: (
        PLAYER_GROUPS[p][0]
        if p in PLAYER_GROUPS
        else next(f.path for f in GIVEN_FIELDS if _player(f) == p)
    )
    for p in PLAYERS
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
