"""The rule pack's schema: pydantic models of every section, and `RulePack` itself.

Takes nothing; gives the models a pack document validates against (`_packbuild` merges a pack's
files and validates them). A pack is data, never code: conditions are a small declarative
language checked against the field registry (`_fields.CONDITION_FIELDS`).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._assessment import Option
from ._fields import ALL_OPS, CONDITION_FIELDS, ORDER_OPS, SET_OPS
from ._precedents import Precedent
from ._requirements import EXPLAINABILITY_ORDER, EXPLANATION_METHODS, MODALITIES

LevelName = Literal["none", "low", "medium", "high"]

# Every number in a pack is finite (the loader and allow_inf_nan) and bounded, so that no sum
# of weights, utilities and rule effects can overflow: utilities lie in [-1, 1], weights and
# penalties in [0, 100], what a rule adds in [-10, 10].
Utility = Annotated[float, Field(ge=-1, le=1)]
RuleAdd = Annotated[float, Field(ge=-10, le=10)]
MAX_WEIGHT = 100.0
#: Hybrid patterns a pack may define: the engine carries which apply as bits of one int64.
MAX_PATTERNS = 62


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, defer_build=True)


class Condition(_Strict):
    """A test on one field (`field` plus one operator), or `all` / `any` / `not` of others."""

    field: str | None = None
    lt: Any = None
    le: Any = None
    gt: Any = None
    ge: Any = None
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    contains: str | None = None
    contains_any: list[str] | None = None
    not_contains: str | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    def operator(self) -> tuple[str, Any]:
        """Give the leaf's (operator, operand)."""
        for op in ALL_OPS:
            value = getattr(self, "in_" if op == "in" else op)
            if value is not None:
                return op, value
        raise ValueError("no operator")

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        groups = [g for g in ("all", "any", "not_") if getattr(self, g) is not None]
        ops = [op for op in ALL_OPS if getattr(self, "in_" if op == "in" else op) is not None]
        if groups:
            if self.field is not None or ops or len(groups) > 1:
                raise ValueError("a condition is either one of all/any/not, or a field test")
            return self
        if self.field is None:
            raise ValueError("a condition needs 'field' and one operator, or all/any/not")
        if self.field not in CONDITION_FIELDS:
            hint = difflib.get_close_matches(self.field, list(CONDITION_FIELDS), n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ValueError(f"condition on unknown field '{self.field}'{extra}")
        if len(ops) != 1:
            raise ValueError(f"a field test needs exactly one operator of {', '.join(ALL_OPS)}")
        op, value = self.operator()
        kind = CONDITION_FIELDS[self.field]
        if kind.kind == "set":
            if op not in SET_OPS:
                raise ValueError(f"'{self.field}' is a set: use {', '.join(SET_OPS)}")
            return self
        if op in SET_OPS:
            raise ValueError(f"'{op}' applies only to regulation.regimes")
        if op in ORDER_OPS and kind.kind in ("nominal", "bool"):
            raise ValueError(f"'{self.field}' has no order: use eq, ne, in or not_in")
        if op in ("in", "not_in"):
            if not value:
                raise ValueError(f"'{op}' needs at least one value")
            values = value
        elif isinstance(value, list | dict):
            raise ValueError(
                f"'{op}' compares with one value, not a list or mapping "
                "(use in / not_in for several)"
            )
        else:
            values = [value]
        for v in values:
            try:
                kind.encode(v)
            except OverflowError:  # a 400-digit integer: no float holds it
                raise ValueError(f"'{op}': {str(v)[:20]}... is too large a number") from None
        return self


Modality = Literal["text", "speech", "vision", "tabular", "multimodal", "control", "other"]
#: The sectors a regime or an evidence entry belongs to (how evidence is matched to a project).
Sector = Literal["finance", "insurance", "health", "automotive", "trading", "online_platforms"]


class Source(_Strict):
    """One entry of the pack's bibliography (rules/sources.yaml), cited by id."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str = Field(min_length=1)
    original_title: str = ""
    kind: Literal[
        "article", "paper", "documentation", "press", "regulation", "filing", "assumption"
    ]
    publisher: str = Field(min_length=1)
    date: str = Field(default="", pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$")
    url: str = Field(default="", pattern=r"^(https?://[^\s<>\"']+)?$")
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")


class Evidence(_Strict):
    """A figure or claim, the id of its source, and the projects it is direct evidence for.

    `modalities` and `sectors` say where the figure was measured: a project of another modality
    and sector sees it labelled as an analogy from `domain`. Both empty: general evidence (the
    selection framework, a regulation) that fits every project.
    """

    id: str
    claim: str
    figure: str = ""
    source: str
    section: str = ""
    kind: Literal["measured", "reported", "regulation", "precedent", "assumption"] = "reported"
    domain: str = ""
    modalities: list[Modality] = []
    sectors: list[Sector] = []


class Thresholds(_Strict):
    # Pairs, within the range a requirements file may state (at most 1e12).
    scarce: float = Field(gt=0, le=1e12)
    ample: float = Field(gt=0, le=1e12)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.scarce >= self.ample:
            raise ValueError("scarce must be below ample")
        return self


class DataDimension(_Strict):
    label: str = "Data resources"
    weight: float = Field(ge=0, le=MAX_WEIGHT)
    thresholds: dict[str, Thresholds]
    stage_labels: dict[Literal["none", "partial", "full"], Utility]
    labeling_cost: dict[Literal["low", "medium", "high"], Utility]
    pretrained_shift_decades: float = Field(ge=0, le=3)
    # A pretrained model that already performs the task (task.foundation_model) cuts the pairs
    # needed further than a backbone to fine-tune; the larger of the two shifts applies.
    foundation_shift_decades: float = Field(default=0.0, ge=0, le=4)
    rationale: str = ""
    evidence: list[str] = []

    @model_validator(mode="after")
    def _complete(self) -> DataDimension:
        missing = [m for m in MODALITIES if m not in self.thresholds]
        unknown = [m for m in self.thresholds if m not in MODALITIES]
        if missing or unknown:
            raise ValueError(
                f"thresholds must cover exactly the modalities {MODALITIES}"
                f" (missing {missing}, unknown {unknown})"
            )
        if len(self.stage_labels) != 3 or len(self.labeling_cost) != 3:
            raise ValueError("stage_labels and labeling_cost need a value for every level")
        return self


class LatencyDimension(_Strict):
    label: str = "Latency budget"
    weight: float = Field(ge=0, le=MAX_WEIGHT)
    # (budget in ms, at most one day as in a requirements file; utility)
    curve: list[tuple[Annotated[float, Field(le=86_400_000)], float]] = Field(min_length=2)
    rationale: str = ""
    evidence: list[str] = []

    @model_validator(mode="after")
    def _monotone(self) -> LatencyDimension:
        xs = [p[0] for p in self.curve]
        us = [p[1] for p in self.curve]
        if any(x <= 0 for x in xs) or xs != sorted(xs) or len(set(xs)) != len(xs):
            raise ValueError("curve points need increasing budgets above 0 ms")
        if any(b > a for a, b in zip(us, us[1:], strict=False)):
            raise ValueError("curve utilities must not increase with the budget")
        if any(abs(u) > 1 for u in us):
            raise ValueError("curve utilities must lie in [-1, 1]")
        return self


class RegulationDimension(_Strict):
    label: str = "Regulatory compliance"
    weight: float = Field(ge=0, le=MAX_WEIGHT)
    criticality: dict[
        Literal["non_critical", "business_critical", "regulated", "safety_critical"], Utility
    ]
    explainability: dict[LevelName, Utility]
    rationale: str = ""
    evidence: list[str] = []

    @model_validator(mode="after")
    def _monotone(self) -> RegulationDimension:
        crit = [
            self.criticality.get(k)
            for k in ("non_critical", "business_critical", "regulated", "safety_critical")
        ]
        levels: dict[str, float] = {str(k): v for k, v in self.explainability.items()}
        expl = [levels.get(k) for k in EXPLAINABILITY_ORDER]
        for name, seq in (("criticality", crit), ("explainability", expl)):
            if None in seq:
                raise ValueError(f"{name} needs a value for every level")
            if any(b > a for a, b in zip(seq, seq[1:], strict=False)):  # type: ignore[operator]
                raise ValueError(f"{name} utilities must not rise with strictness")
        return self


class Dimensions(_Strict):
    data: DataDimension
    latency: LatencyDimension
    regulation: RegulationDimension

    @model_validator(mode="after")
    def _weighted(self) -> Dimensions:
        if not any(d.weight > 0 for d in (self.data, self.latency, self.regulation)):
            raise ValueError(
                "the weights of data, latency and regulation are all 0: at least "
                "one dimension must count"
            )
        return self


class Effect(_Strict):
    """What a fired rule does: veto an option, add to scores, or attach advice."""

    veto: Option | None = None
    add: dict[Option, RuleAdd] | None = None
    # A reason that weighs like a dimension: > 0 for a learned core, < 0 for traditional modules
    # (it adds to the `learned` or `traditional` pull, so it can make a real conflict).
    lean: float | None = Field(default=None, ge=-1, le=1)
    advice: str | None = None

    @model_validator(mode="after")
    def _some(self) -> Effect:
        if self.veto is None and not self.add and self.advice is None and not self.lean:
            raise ValueError("an effect needs veto, add, lean or advice")
        return self


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    when: Condition
    effect: Effect
    rationale: str
    evidence: list[str] = []


class Prior(_Strict):
    fidelity: float = Field(ge=0, le=1)
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    traceable: bool
    evidence: list[str] = []
    basis: str = ""


class Adjustment(_Strict):
    id: str
    modality: str | None = None
    method: str | None = None
    delta: float = Field(ge=-0.5, le=0.5)
    reasoning: str
    assumption: bool = True
    evidence: list[str] = []


class RequirementLevel(_Strict):
    min_fidelity: float = Field(ge=0, le=1)
    traceability: bool = False
    hard: bool = False


class ProbeUse(_Strict):
    """How the accuracy gap measured by `advisor probe` shifts the data dimension."""

    # (gap in accuracy or R2 points, black box minus interpretable) -> added to the data utility
    accuracy_gap_curve: list[tuple[Annotated[float, Field(ge=-1, le=1)], float]] = Field(
        min_length=2
    )
    # Warn when the black box's SHAP top-feature rank correlation across retrains is below this.
    stability_warning: float = Field(default=0.7, ge=-1, le=1)
    rationale: str = ""
    assumption: bool = True
    evidence: list[str] = []

    @model_validator(mode="after")
    def _monotone(self) -> ProbeUse:
        xs = [p[0] for p in self.accuracy_gap_curve]
        us = [p[1] for p in self.accuracy_gap_curve]
        if xs != sorted(xs) or len(set(xs)) != len(xs):
            raise ValueError("accuracy_gap_curve needs increasing gaps")
        if any(b < a for a, b in zip(us, us[1:], strict=False)):
            raise ValueError("accuracy_gap_curve shifts must not fall as the gap grows")
        if any(abs(u) > 1 for u in us):
            raise ValueError("accuracy_gap_curve shifts must lie in [-1, 1]")
        return self


class Measured(_Strict):
    """End-to-end explanation fidelity measured on the project's own data (`advisor probe`).

    Set per assessment from a probe file (`advisor recommend --probe`). It replaces the
    end-to-end prior and its modality adjustments; method adjustments still apply, since they are
    relative to LIME-style surrogates, the method of both the prior and the probe.
    """

    fidelity: float = Field(ge=0, le=1)
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    accuracy_gap: float | None = Field(default=None, ge=-1, le=1)
    basis: str
    sha256: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Measured:
        if not self.low <= self.fidelity <= self.high:
            raise ValueError("measured fidelity must lie within [low, high]")
        return self


class ExplainabilityPack(_Strict):
    priors: dict[Literal["end_to_end", "modular"], Prior]
    modality_adjustments: list[Adjustment] = []
    # Adjustments by regulation.explanation_method, relative to LIME-style local surrogates.
    method_adjustments: list[Adjustment] = []
    # The explanation method in effect: the pack's default, or (per assessment) the one the
    # requirements state. None: LIME-style, no method adjustment.
    method: str | None = None
    requirements: dict[LevelName, RequirementLevel]
    penalty_per_point: float = Field(ge=0, le=MAX_WEIGHT)
    probe: ProbeUse | None = None
    measured: Measured | None = None
    rationale: str = ""

    @model_validator(mode="after")
    def _adjustments(self) -> ExplainabilityPack:
        for a in self.modality_adjustments:
            if a.modality not in MODALITIES or a.method is not None:
                raise ValueError(
                    f"modality adjustment '{a.id}' needs a modality of {', '.join(MODALITIES)} "
                    "and no method"
                )
        for a in self.method_adjustments:
            if a.method not in EXPLANATION_METHODS or a.modality is not None:
                raise ValueError(
                    f"method adjustment '{a.id}' needs a method of "
                    f"{', '.join(EXPLANATION_METHODS)} and no modality"
                )
        if self.method is not None and self.method not in EXPLANATION_METHODS:
            raise ValueError(f"method must be one of {', '.join(EXPLANATION_METHODS)}")
        missing = [o for o in ("end_to_end", "modular") if o not in self.priors]
        if missing:
            raise ValueError(f"priors needs an entry for {', '.join(missing)}")
        missing = [lv for lv in ("none", "low", "medium", "high") if lv not in self.requirements]
        if missing:
            raise ValueError(f"requirements needs a level for {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _stricter_never_favours_end_to_end(self) -> ExplainabilityPack:
        # What keeps "a stricter explainability requirement never raises end-to-end" true for
        # every pack: each level asks at least what the one below asks, and end-to-end is never
        # better explained than modular, whatever modality or method adjusts it.
        levels: tuple[LevelName, ...] = ("none", "low", "medium", "high")
        for lower, upper in zip(levels, levels[1:], strict=False):
            a, b = self.requirements[lower], self.requirements[upper]
            if (
                b.min_fidelity < a.min_fidelity
                or (a.traceability and not b.traceability)
                or (a.hard and not b.hard)
            ):
                raise ValueError(
                    f"requirements: level '{upper}' asks less than '{lower}' (each level needs "
                    "a min_fidelity, traceability and hard at least those of the level below)"
                )
        e2e, mod = self.priors["end_to_end"], self.priors["modular"]
        best = (
            e2e.fidelity
            + max([0.0, *(a.delta for a in self.modality_adjustments)])
            + max([0.0, *(a.delta for a in self.method_adjustments)])
        )
        if best > mod.fidelity + 1e-12:
            raise ValueError(
                f"priors: end-to-end fidelity {e2e.fidelity:g} with its largest modality and "
                f"method adjustments ({best:g}) exceeds the modular prior {mod.fidelity:g}; "
                "end-to-end is never the better explained option"
            )
        if e2e.traceable and not mod.traceable:
            raise ValueError("priors: end-to-end cannot be traceable where modular is not")
        return self

    def method_deltas(self) -> list[Adjustment]:
        """Give the method adjustments that apply to the method in effect."""
        return [a for a in self.method_adjustments if self.method and a.method == self.method]


class Stage(_Strict):
    name: str
    kind: Literal["learned", "traditional", "rule_based"]


class Pattern(_Strict):
    id: str
    title: str
    summary: str
    when: Condition | None = None
    interpretable_share: float = Field(ge=0, le=1)
    traceable: bool
    stages: list[Stage] = Field(min_length=2)
    evidence: list[str] = []


def _placeholders(text: str, allowed: frozenset[str]) -> list[str]:
    # The problems with a text's {placeholders}: only plain names from `allowed` (no format
    # spec, conversion or attribute), so that filling it in can never fail or reach an object.
    import string

    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)]
    except ValueError as e:
        return [f"{text!r}: {e} (write {{{{ and }}}} for literal braces)"]
    return [
        f"{text!r}: unknown placeholder {{{name}}}; use {', '.join(sorted(allowed)) or 'none'}"
        for name, spec, conv in fields
        if name is not None and (name not in allowed or spec or conv)
    ]


class SketchStage(_Strict):
    """One box of an illustrative architecture sketch; `{modality}` in its name is filled in."""

    name: str = Field(min_length=1)
    kind: Literal["learned", "traditional", "rule_based"]


class Architecture(_Strict):
    """How the report describes one option's design (rules/architectures.yaml).

    `keep_traditional`: what the plan keeps outside the learned model (a hybrid keeps its
    pattern's non-learned stages instead). `sketch` (or `sketch_by_modality`, which wins for its
    modalities): the illustrative stages of the architecture sketch (a hybrid's are its
    pattern's). `traceable` / `untraceable`: why the option's decisions can or cannot be
    followed along a rule path, by the pack's traceability flag for it; a hybrid's may name
    `{stages}` (the stages that keep a rule path) and `{pattern}` (the pattern's title).
    """

    keep_traditional: list[str] = []
    sketch: list[SketchStage] = []
    sketch_by_modality: dict[Modality, list[SketchStage]] = {}
    traceable: str = Field(min_length=1)
    untraceable: str = Field(min_length=1)

    @model_validator(mode="after")
    def _texts(self) -> Architecture:
        names = [s.name for s in self.sketch] + [
            s.name for stages in self.sketch_by_modality.values() for s in stages
        ]
        problems = [p for n in names for p in _placeholders(n, frozenset({"modality"}))]
        for text in (self.traceable, self.untraceable):
            problems += _placeholders(text, frozenset({"stages", "pattern"}))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def sketch_for(self, modality: str) -> list[SketchStage]:
        """Give the sketch's stages for a modality, `{modality}` filled in."""
        stages = self.sketch_by_modality.get(modality, self.sketch)  # type: ignore[call-overload]
        return [
            SketchStage(name=s.name.format_map({"modality": modality}), kind=s.kind) for s in stages
        ]


class Architectures(_Strict):
    """The report's description of each option (see `Architecture`)."""

    end_to_end: Architecture
    modular: Architecture
    hybrid: Architecture


class Monitor(_Strict):
    metric: str
    kind: Literal["performance", "explainability"]
    threshold: str


class Advice(_Strict):
    id: str
    title: str
    text: str
    applies_to: list[Option]
    steps: list[str] = []
    monitoring: list[Monitor] = []
    evidence: list[str] = []


class Risk(_Strict):
    """A risk of one or more options, shown with its evidence (never changes a score)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    area: Literal[
        "data_cost",
        "training",
        "explainability",
        "portability",
        "latency",
        "quality",
        "integration",
        "safety",
        "security",
    ]
    title: str
    text: str
    mitigation: str = ""
    applies_to: list[Option] = Field(min_length=1)
    when: Condition | None = None
    evidence: list[str] = Field(min_length=1)


class Regime(_Strict):
    id: str
    title: str
    explainability_floor: LevelName
    summary: str
    source: str
    sectors: list[Sector] = []


class Scenario(_Strict):
    """A pack self-test: an input, the expected primary answer and the others accepted."""

    id: str
    input: dict[str, Any]
    expect: Option
    # Further answers a reviewer accepts: the scenario passes with any of them, and
    # `rules check` says when the answer is accepted but not the expected primary.
    accept: list[Option] = []
    why: str = ""

    def accepted(self) -> list[str]:
        """Give every accepted answer, the expected primary first."""
        return [self.expect, *(a for a in self.accept if a != self.expect)]


#: The pack numbers that may carry an interval in `uncertainty.parameters`.
PACK_PARAMETER = (
    r"^(weights\.(data|latency|regulation)"
    r"|latency\.curve\.[0-9]+"
    r"|regulation\.criticality\.(non_critical|business_critical|regulated|safety_critical)"
    r"|regulation\.explainability\.(none|low|medium|high)"
    r"|data\.stage_labels\.(none|partial|full)"
    r"|data\.labeling_cost\.(low|medium|high)"
    r"|data\.(thresholds_shift|pretrained_shift_decades|foundation_shift_decades)"
    r"|hybrid\.(complexity_cost|conflict_gain|conflict_floor|shortage_cost|winner_share)"
    r"|explainability\.end_to_end_fidelity"
    r"|rules\.[a-z0-9][a-z0-9_.-]*\.lean)$"
)


class Uncertainty(_Strict):
    samples: int = Field(ge=100, le=100_000)
    seed: int = Field(ge=0, lt=2**63)
    # A plain number x is sampled over [x / f, x * f]: f = 1 is no spread; f is at most 100
    # (two decades either way), so the interval stays inside what floats hold.
    default_spread: dict[
        Literal["data.paired_examples", "latency.budget_ms"], Annotated[float, Field(ge=1, le=100)]
    ]
    # The pack's own judgement: each named number is drawn uniformly from its interval in
    # `pack_variants` variants of the pack, sampled jointly with the inputs.
    pack_variants: int = Field(default=24, ge=1, le=200)
    parameters: dict[str, tuple[float, float]] = {}
    rationale: str = ""

    @model_validator(mode="after")
    def _parameters(self) -> Uncertainty:
        import re

        for name, (low, high) in self.parameters.items():
            if not re.match(PACK_PARAMETER, name):
                raise ValueError(f"parameters: unknown pack parameter {name!r}")
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise ValueError(f"parameters: {name}: needs a finite interval [low, high]")
            if abs(low) > 10 or abs(high) > 10:
                raise ValueError(f"parameters: {name}: interval must lie within [-10, 10]")
        missing = [
            f for f in ("data.paired_examples", "latency.budget_ms") if f not in self.default_spread
        ]
        if missing:
            raise ValueError(f"default_spread needs a value for {', '.join(missing)}")
        return self


class HybridScore(_Strict):
    """The hybrid option's score: 0.5 - complexity_cost + winner_share * |net| / 2
    + conflict_gain * conflict - shortage_cost * shortage.

    conflict = max(min(learned, traditional) - conflict_floor, 0): a reason for a learned core
    and a reason for traditional modules, both stronger than the floor. A shortage of paired
    data costs hybrid `shortage_cost` per unit, since its learned core needs data too.
    """

    complexity_cost: float = Field(ge=0, le=0.5)
    conflict_gain: float = Field(ge=0, le=3)
    conflict_floor: float = Field(ge=0, le=1)
    shortage_cost: float = Field(ge=0, le=2)
    # Hybrid keeps this share of the winning pure option's lead over 0.5 (below 1, so that
    # without a conflict hybrid still scores below the better pure option).
    winner_share: float = Field(default=0.0, ge=0, lt=1)
    rationale: str = ""


class RulePack(_Strict):
    """A complete, validated rule pack."""

    schema_version: Literal[1] = 1
    name: str
    version: str
    description: str = ""
    extends: str | None = None
    favour_threshold: float = Field(gt=0, lt=1)
    tie_break: list[Option]
    hybrid_score: HybridScore
    uncertainty: Uncertainty
    dimensions: Dimensions
    rules: list[Rule]
    evidence: list[Evidence]
    explainability: ExplainabilityPack
    patterns: list[Pattern] = Field(min_length=1, max_length=MAX_PATTERNS)
    architectures: Architectures
    advice: list[Advice]
    regimes: list[Regime]
    scenarios: list[Scenario] = []
    background: list[dict[str, Any]] = Field(min_length=2)
    risks: list[Risk] = []
    precedents: list[Precedent] = []
    sources: list[Source] = []

    def sha256(self) -> str:
        """Give the sha256 of the pack's canonical JSON (independent of file layout)."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def evidence_by_id(self) -> dict[str, Evidence]:
        """Give the evidence entries keyed by id."""
        return {e.id: e for e in self.evidence}

    def sources_by_id(self) -> dict[str, Source]:
        """Give the bibliography keyed by id (a new dict each call, from an index built once)."""
        return dict(self._sources_index)

    @functools.cached_property
    def _sources_index(self) -> dict[str, Source]:
        # Every assessment asks for it dozens of times; the pack is frozen.
        return {s.id: s for s in self.sources}
