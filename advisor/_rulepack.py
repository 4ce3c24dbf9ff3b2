"""The rule pack: its pydantic schema and loading from parsed YAML documents.

Takes a mapping of file name -> parsed YAML document (the CLI or `resources` reads the files) and
gives a validated `RulePack`. A pack is data, never code: conditions are a small declarative
language checked against `fields.CONDITION_FIELDS`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._assessment import Option
from ._errors import Problem, RulePackError
from ._fields import ALL_OPS, CONDITION_FIELDS, OPTIONS, ORDER_OPS, SET_OPS
from ._loading import field_path, shown_key, validation_details
from ._precedents import Precedent
from ._requirements import EXPLAINABILITY_ORDER, EXPLANATION_METHODS, MODALITIES

LevelName = Literal["none", "low", "medium", "high"]

# Every number in a pack is finite (the loader and allow_inf_nan) and bounded, so that no sum
# of weights, utilities and rule effects can overflow: utilities lie in [-1, 1], weights and
# penalties in [0, 100], what a rule adds in [-10, 10].
Utility = Annotated[float, Field(ge=-1, le=1)]
RuleAdd = Annotated[float, Field(ge=-10, le=10)]
MAX_WEIGHT = 100.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


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
    patterns: list[Pattern] = Field(min_length=1)
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
        """Give the bibliography keyed by id."""
        return {s.id: s for s in self.sources}


# Top-level keys that hold lists of id'd entries, merged across files.
LIST_SECTIONS = (
    "rules",
    "evidence",
    "patterns",
    "advice",
    "regimes",
    "scenarios",
    "background",
    "risks",
    "precedents",
    "sources",
)


def merge_documents(docs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge a pack's parsed files into one mapping.

    Args:
        docs: file name -> parsed YAML mapping.

    Returns:
        The merged mapping, and for each `section` or `section:id` the file it came from.

    Raises:
        RulePackError: when a file is not a mapping, a section name or an id is not text, or an
            id or section appears twice.
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    problems: list[Problem] = []
    for fname in sorted(docs):
        doc = docs[fname]
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(fname, "(top level)", "must be a mapping of pack sections"))
            continue
        for key, value in doc.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        fname,
                        shown_key(key),
                        f"a pack section name must be text (got {type(key).__name__} {key!r})",
                        (key,),
                    )
                )
                continue
            if key in LIST_SECTIONS:
                if not isinstance(value, list):
                    problems.append(Problem(fname, key, "must be a list", (key,)))
                    continue
                merged.setdefault(key, [])
                for i, item in enumerate(value):
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if item_id is not None and not isinstance(item_id, str):
                        problems.append(
                            Problem(
                                fname,
                                f"{key}[{i}].id",
                                f"must be a text id (got {_kind_of(item_id)})",
                                (key, i, "id"),
                            )
                        )
                        continue
                    tag = (
                        f"{key}:{item_id}" if item_id is not None else f"{key}[{len(merged[key])}]"
                    )
                    if item_id is not None and tag in origin:
                        problems.append(
                            Problem(
                                fname,
                                f"{key}[{i}] (id '{shown_key(item_id)}')",
                                f"duplicate id, already defined in {origin[tag]}",
                                (key, i),
                            )
                        )
                        continue
                    origin[tag] = fname
                    merged[key].append(item)
            else:
                if key in merged:
                    problems.append(
                        Problem(fname, shown_key(key), f"already defined in {origin[key]}", (key,))
                    )
                    continue
                merged[key] = value
                origin[key] = fname
    if problems:
        raise RulePackError(problems)
    return merged, origin


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def pack_problems(
    err: ValidationError, origin: dict[str, str], merged: dict[str, Any], folder: str = "pack"
) -> list[Problem]:
    """Turn a pack's ValidationError into problems naming the file that holds each entry.

    Args:
        err: the error of `RulePack.model_validate(merged)`.
        origin: section or `section:id` -> file, from `merge_documents`.
        merged: the merged mapping that was validated.
        folder: the pack folder, named for what no single file holds (a missing section).
    """
    out: list[Problem] = []
    for p in validation_details(err, "<pack>", RulePack):
        loc = p.loc
        section = loc[0] if loc and isinstance(loc[0], str) else None
        fname = origin.get(section, folder) if section is not None else folder
        field = p.field
        if section in LIST_SECTIONS and len(loc) > 1 and isinstance(loc[1], int):
            items = merged.get(section) or []
            item = items[loc[1]] if 0 <= loc[1] < len(items) else None
            item_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item_id, str):
                fname = origin.get(f"{section}:{item_id}", fname)
                field = field_path((f"{section}[id={shown_key(item_id)}]", *loc[2:]))
            else:  # an entry without an id: merge_documents keyed it by its position
                fname = origin.get(f"{section}[{loc[1]}]", fname)
        out.append(Problem(fname, field, p.message, loc))
    return out


def _pack_problems(
    err: ValidationError, origin: dict[str, str], merged: dict[str, Any]
) -> list[str]:
    return [p.line() for p in pack_problems(err, origin, merged)]


def reference_problems(pack: RulePack) -> list[tuple[str, str]]:
    """Give problems with references between sections (unknown evidence, advice or source ids).

    Returns:
        (where, message) pairs; `where` is the `merge_documents` origin key of the entry at
        fault (`rules:<id>`, `explainability`...), so the caller can name its file.
    """
    return [(key, f"{entry}: {message}") for key, entry, message in reference_details(pack)]


def reference_details(pack: RulePack) -> list[tuple[str, str, str]]:
    """Give problems between sections: unknown evidence or advice ids, a tie-break that does not
    list every option, a fallback pattern with a condition, background profiles that are not
    valid requirements.

    Returns:
        (key, entry, message) triples: `key` is the `merge_documents` origin key of the entry at
        fault (`rules:<id>`, `explainability`...), so the caller can name its file; `entry` names
        the entry and field (`rule x`, `background[2].data.paired_examples`).
    """
    ev = pack.evidence_by_id()
    advice_ids = {a.id for a in pack.advice}
    problems: list[tuple[str, str, str]] = []

    def refs(key: str, where: str, ids: list[str]) -> None:
        for e in ids:
            if e not in ev:
                problems.append(
                    (key, where, f"evidence '{e}' is not defined in the evidence section")
                )

    for r in pack.rules:
        refs(f"rules:{r.id}", f"rule {r.id}", r.evidence)
        if r.effect.advice and r.effect.advice not in advice_ids:
            problems.append(
                (
                    f"rules:{r.id}",
                    f"rule {r.id}",
                    f"effect.advice '{r.effect.advice}' is not defined",
                )
            )
    for p in pack.patterns:
        refs(f"patterns:{p.id}", f"pattern {p.id}", p.evidence)
    for risk in pack.risks:
        refs(f"risks:{risk.id}", f"risk {risk.id}", risk.evidence)
    for a in pack.advice:
        refs(f"advice:{a.id}", f"advice {a.id}", a.evidence)
    for prior_name, prior in pack.explainability.priors.items():
        refs("explainability", f"explainability.priors.{prior_name}", prior.evidence)
    for adj in pack.explainability.modality_adjustments + pack.explainability.method_adjustments:
        refs("explainability", f"explainability adjustment {adj.id}", adj.evidence)
    if pack.explainability.probe is not None:
        refs("explainability", "explainability.probe", pack.explainability.probe.evidence)
    for regime in pack.regimes:
        refs(f"regimes:{regime.id}", f"regime {regime.id}", [regime.source])
    for dim_name in ("data", "latency", "regulation"):
        refs("dimensions", f"dimensions.{dim_name}", getattr(pack.dimensions, dim_name).evidence)
    # Every figure's source must be a bibliography entry a reader can look up.
    bib = pack.sources_by_id()
    for e in pack.evidence:
        if e.source not in bib:
            problems.append(
                (
                    f"evidence:{e.id}",
                    f"evidence[id={e.id}].source",
                    f"'{e.source}' is not defined in the sources section",
                )
            )
    for prec in pack.precedents:
        for i, sid in enumerate(prec.sources):
            if sid not in bib:
                problems.append(
                    (
                        f"precedents:{prec.id}",
                        f"precedents[id={prec.id}].sources[{i}]",
                        f"'{sid}' is not defined in the sources section",
                    )
                )
    if set(pack.tie_break) != set(OPTIONS) or len(pack.tie_break) != 3:
        problems.append(
            ("tie_break", "tie_break", "must list end_to_end, modular and hybrid once each")
        )
    if pack.patterns[-1].when is not None:
        last = pack.patterns[-1].id
        problems.append(
            (
                f"patterns:{last}",
                f"pattern {last}",
                "the last pattern must have no 'when' (the fallback)",
            )
        )
    problems.extend(_background_problems(pack))
    return problems


def _background_problems(pack: RulePack) -> list[tuple[str, str, str]]:
    # The background profiles are requirements (the SHAP reference): each must validate as one,
    # or the engine would fail on the first assessment instead of the pack being refused here.
    from ._requirements import Requirements

    out: list[tuple[str, str, str]] = []
    for i, entry in enumerate(pack.background):
        try:
            Requirements.model_validate(entry)
        except ValidationError as e:
            for p in validation_details(e, "", Requirements, limit=5):
                where = field_path(("background", i, *p.loc)) if p.loc else f"background[{i}]"
                out.append((f"background[{i}]", where, p.message))  # merge_documents' key
    return out


def check_references(pack: RulePack) -> list[str]:
    """Give problems with references between sections (unknown evidence or advice ids)."""
    return [message for _, message in reference_problems(pack)]


def build_pack(
    docs: dict[str, Any],
    source: str,
    parent: tuple[dict[str, Any], dict[str, str]] | None = None,
) -> RulePack:
    """Validate a pack's parsed files.

    Args:
        docs: file name (as it should appear in messages) -> parsed YAML.
        source: the pack folder, for messages.
        parent: when the pack `extends` another, the parent's effective (mapping, origin).

    Returns:
        The validated pack.

    Raises:
        RulePackError: one line per problem, naming the file and the rule id or field.
    """
    merged, origin = merge_documents(docs)
    if parent is not None:
        merged, origin, _ = inherit(parent, (merged, origin))
    try:
        pack = RulePack.model_validate(merged)
    except ValidationError as e:
        raise RulePackError(pack_problems(e, origin, merged, source)) from None
    problems = reference_details(pack)
    if problems:
        # Name the file that holds the entry at fault (the folder when it cannot be told).
        raise RulePackError(
            [Problem(origin.get(key, source), entry, msg) for key, entry, msg in problems]
        )
    return pack


# ---------------------------------------------------------------------------------------------
# Inheritance: a pack that declares `extends` overrides its parent by id and by key.


def _merge_by_id(
    parent: list[Any], child: list[Any], section: str, report: dict[str, list[str]]
) -> list[Any]:
    # Entries with the same id replace the parent's in place; new ids are added at the end,
    # except that new hybrid patterns go before the parent's fallback (its last, `when`-less
    # pattern), which must stay last.
    out = list(parent)
    index = {
        e["id"]: i
        for i, e in enumerate(out)
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    added: list[Any] = []
    for entry in child:
        eid = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(eid, str) and eid in index:
            out[index[eid]] = entry
            report.setdefault("replaced", []).append(f"{section}:{eid}")
        else:
            added.append(entry)
            report.setdefault("added", []).append(f"{section}:{eid}")
    if section == "patterns" and out and isinstance(out[-1], dict) and out[-1].get("when") is None:
        return out[:-1] + added + out[-1:]
    return out + added


def _is_id_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(e, dict) and "id" in e for e in value)
    )


def _deep_merge(parent: Any, child: Any, path: str, report: dict[str, list[str]]) -> Any:
    # Mappings merge key by key (a child overrides one weight without restating its section);
    # lists of entries with ids merge by id; any other value (numbers, strings, plain lists such
    # as a curve or the tie-break order) is replaced by the child's.
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for k, v in child.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in parent:
                out[k] = _deep_merge(parent[k], v, sub, report)
            else:
                out[k] = v
                report.setdefault("set", []).append(sub)
        return out
    if _is_id_list(parent) and isinstance(child, list):
        return _merge_by_id(parent, child, path, report)
    if parent != child:
        report.setdefault("set", []).append(path)
    return child


def inherit(
    parent: tuple[dict[str, Any], dict[str, str]],
    child: tuple[dict[str, Any], dict[str, str]],
) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Give the effective pack mapping of a child pack over its parent (`extends`).

    The child's sections override the parent's: mappings key by key (so a pack can change one
    weight, threshold or prior), lists of entries by id (rules, vetoes, advice, evidence,
    patterns, regimes, risks, precedents, explainability adjustments: the same id replaces the
    parent's entry, a new id is added). Scenarios are merged the same way: a parent scenario is
    replaced only by one with its id, so none is silently dropped. `background` (entries without
    ids) is replaced as a whole when the child gives one.

    Args:
        parent: the parent's effective (merged mapping, origin) from `merge_documents`.
        child: the child's own (merged mapping, origin).

    Returns:
        The effective mapping, the origin of each section and entry (the file that gave it), and
        what the child changed: `replaced` and `added` as `section:id`, `set` as key paths.
    """
    p_doc, p_origin = parent
    c_doc, c_origin = child
    report: dict[str, list[str]] = {}
    out: dict[str, Any] = dict(p_doc)
    origin = dict(p_origin)
    for key, value in c_doc.items():
        if (
            key in LIST_SECTIONS
            and key != "background"
            and isinstance(value, list)
            and isinstance(p_doc.get(key), list)
        ):
            out[key] = _merge_by_id(p_doc[key], value, key, report)
        elif key in p_doc and key not in ("extends",):
            out[key] = _deep_merge(p_doc[key], value, key, report)
        else:
            out[key] = value
    for tag, fname in c_origin.items():
        origin[tag] = fname
    return out, origin, report
