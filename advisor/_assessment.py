"""The output contract: an `Assessment`, as a pydantic model (docs/architecture.md, "Output").

Takes nothing; gives the models the engine fills and the renderers read. `Assessment.to_json()`
is the canonical JSON: same input and pack, byte-identical output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

if TYPE_CHECKING:
    from ._requirements import Requirements

#: The three options, defined once: `_fields.OPTIONS` is this tuple, in this order.
Option = Literal["end_to_end", "modular", "hybrid"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SourceRef(_Out):
    """A bibliography entry as a report cites it (from the pack's sources section)."""

    id: str
    title: str
    original_title: str
    kind: str
    publisher: str
    date: str
    url: str
    citation: str


class EvidenceRef(_Out):
    """A figure or claim with its source, and whether it is direct evidence for this project.

    `source` is the citation as text (title, publisher, date), `source_title` the title alone,
    `source_id` the bibliography id, `url` the source's address ("" when it has none). `fits` is
    False for evidence measured in another modality and sector; `analogy` then says so ("analogy
    from speech synthesis").
    """

    id: str
    claim: str
    figure: str
    source: str
    source_title: str
    source_id: str
    url: str
    kind: str
    fits: bool
    analogy: str


class RulePackInfo(_Out):
    name: str
    version: str
    sha256: str


class DataThresholds(_Out):
    """The data dimension's limits for this project, in paired examples.

    `scarce_pairs` and `ample_pairs` are the modality's limits after any pretrained shift; the
    `favours_*` limits also include the stage-label, labelling-cost and probe adjustments (None:
    that side cannot be reached).
    """

    scarce_pairs: float
    ample_pairs: float
    pretrained_shift_decades: float = 0.0
    label_adjustment: float = 0.0
    favours_end_to_end_from_pairs: float | None = None
    favours_modular_up_to_pairs: float | None = None
    probe_shift: float = 0.0


class LatencyThresholds(_Out):
    """The budgets (ms) under which latency favours end-to-end, and from which it argues for
    neither side (a pipeline is tolerated)."""

    favours_end_to_end_below_ms: float
    tolerates_modular_from_ms: float


class RegulationThresholds(_Out):
    """This project's criticality and explainability level, with the pack's utility tables."""

    criticality: str
    required_explainability: str
    criticality_utilities: dict[str, float] = {}
    explainability_utilities: dict[str, float] = {}
    favour_threshold: float = 0.25


Thresholds = DataThresholds | LatencyThresholds | RegulationThresholds
_THRESHOLDS: dict[str, type[_Out]] = {
    "data": DataThresholds,
    "latency": LatencyThresholds,
    "regulation": RegulationThresholds,
}


class Dimension(_Out):
    name: Literal["data", "latency", "regulation"]
    label: str
    value: str
    utility: float
    favours: Literal["end_to_end", "modular", "neutral"]
    weight: float
    rationale: str
    thresholds: Thresholds
    evidence: list[EvidenceRef]

    @field_validator("thresholds", mode="before")
    @classmethod
    def _by_name(cls, v: Any, info: ValidationInfo) -> Any:
        # The dimension's name says which thresholds it has (JSON carries no tag).
        model = _THRESHOLDS.get(str(info.data.get("name")))
        return model.model_validate(v) if model is not None and isinstance(v, dict) else v


class Veto(_Out):
    option: Option
    rule: str
    reason: str


class RuleResult(_Out):
    id: str
    fired: bool
    effect: dict[str, Any]
    rationale: str
    evidence: list[EvidenceRef]


class Attribution(_Out):
    feature: str
    label: str
    value: str
    contribution: float
    towards: Option | Literal["none"]
    default: bool
    text: str


class ScoreAttribution(_Out):
    """Shapley values of one option's score (on request): base + contributions = the score."""

    base: float
    attributions: list[Attribution]


class Change(_Out):
    field: str
    old: Any
    new: Any
    description: str


class Counterfactual(_Out):
    field: str
    label: str
    found: bool
    changes: list[Change]
    new_recommendation: Option | None
    distance: float | None
    verified: bool
    text: str


class ExplainabilityEstimate(_Out):
    option: Option
    estimate: float
    low: float
    high: float
    traceable: bool
    required_level: str
    required_fidelity: float
    meets_requirement: bool
    gap: float
    basis: str
    adjustments: list[str]
    evidence: list[EvidenceRef]
    estimated: bool
    # True when the estimate rests (wholly or, for hybrid, partly) on `advisor probe` figures.
    measured: bool = False
    # The prior (with its interval) that the measured figure replaced, to compare against.
    prior: PriorFigure | None = None
    traceability_basis: str = ""
    method: str = ""


class PriorFigure(_Out):
    estimate: float
    low: float
    high: float
    basis: str


class ScoreInterval(_Out):
    value: float
    low: float
    high: float


class ProbeSummary(_Out):
    """What `advisor probe` measured, as used by this assessment (`recommend --probe`)."""

    sha256: str
    source: str
    rows: int
    features: int
    task: str
    metric: str
    interpretable_model: str
    interpretable: ScoreInterval
    black_box_model: str
    black_box: ScoreInterval
    accuracy_gap: ScoreInterval
    data_shift: float | None
    surrogate_fidelity: ScoreInterval
    attribution_stability: ScoreInterval
    text: str


class PatternStage(_Out):
    name: str
    kind: Literal["learned", "traditional", "rule_based"]


class HybridPattern(_Out):
    id: str
    title: str
    summary: str
    stages: list[PatternStage]
    learned: list[str]
    traditional: list[str]
    interpretable_share: float
    evidence: list[EvidenceRef]


class MonitorItem(_Out):
    metric: str
    kind: Literal["performance", "explainability"]
    threshold: str


class PlanItem(_Out):
    id: str
    title: str
    text: str
    steps: list[str]
    evidence: list[EvidenceRef]


class Plan(_Out):
    steps: list[PlanItem]
    keep_traditional: list[str]
    monitoring: list[MonitorItem]


class Uncertainty(_Out):
    samples: int
    seed: int
    inputs: dict[str, str]
    note: str
    # Each option's share of the samples from the project's inputs alone (the pack as it is)
    # and from the pack's assumptions alone (the inputs at their point values).
    from_inputs: dict[str, float] = {}
    from_pack: dict[str, float] = {}
    pack_variants: int = 1


class InformationValue(_Out):
    """What learning one uncertain input (or the pack's assumptions) is worth."""

    input: str
    label: str
    kind: str  # input | pack
    uncertainty: str
    probability: float  # that learning its true value changes the recommendation
    answers: dict[str, float]  # the answer's distribution over its possible values
    text: str


class DefaultApplied(_Out):
    field: str
    value: Any
    reason: str


class RiskItem(_Out):
    id: str
    area: str
    title: str
    text: str
    mitigation: str
    applies_to: list[Option]
    evidence: list[EvidenceRef]


class PrecedentMatch(_Out):
    """A similar public system (context only: precedents never change a score)."""

    id: str
    domain: str
    system: str
    year: str
    architecture: Option
    confidence: str
    architecture_note: str
    why: str
    data: str
    latency: str
    regulatory: str
    sources: list[SourceRef]
    secondary: bool
    unverified: bool
    distance: float
    similarity: str
    features: dict[str, Any]
    same_modality: bool
    same_sector: bool


class Assessment(_Out):
    """The advisor's answer for one project."""

    schema_version: Literal[1] = 1
    advisor_version: str
    rulepack: RulePackInfo
    input_sha256: str
    name: str
    description: str
    recommendation: Option
    runner_up: Option
    confidence: float
    probabilities: dict[str, float]
    rationale: str
    reasons: list[str]
    scores: dict[str, float]
    vetoes: list[Veto]
    dimensions: list[Dimension]
    rules_fired: list[RuleResult]
    rules_evaluated: list[RuleResult]
    attributions: list[Attribution]
    attribution_base: float | None
    attribution_target: str
    score_attributions: dict[str, ScoreAttribution] | None = None
    counterfactuals: list[Counterfactual]
    best_pair: Counterfactual | None
    explainability: dict[str, ExplainabilityEstimate]
    probe: ProbeSummary | None = None
    hybrid_pattern: HybridPattern | None
    # The stages of the recommended design, for the architecture sketch: a hybrid's pattern's,
    # else the rule pack's illustrative stages for the option and modality (architectures).
    design_stages: list[PatternStage] = []
    plan: Plan
    uncertainty: Uncertainty
    value_of_information: list[InformationValue] = []
    requirements: dict[str, Any]
    input: dict[str, Any]
    defaults_applied: list[DefaultApplied]
    warnings: list[str]
    risks: list[RiskItem] = []
    precedents: list[PrecedentMatch] = []
    sources: list[SourceRef] = []

    # Typed views for the renderers (not fields: the JSON stays as it is).

    def dimension(self, name: str) -> Dimension | None:
        """Give the dimension called `name` (data, latency or regulation), if present."""
        return next((d for d in self.dimensions if d.name == name), None)

    @property
    def favour_threshold(self) -> float:
        """The utility beyond which a dimension favours a side."""
        d = self.dimension("regulation")
        th = d.thresholds if d is not None else None
        return th.favour_threshold if isinstance(th, RegulationThresholds) else 0.25

    @property
    def required(self) -> ExplainabilityEstimate:
        """The estimate of the modular option, which carries the requirement (level and minimum
        fidelity) every option is checked against."""
        return self.explainability["modular"]

    @property
    def end_to_end(self) -> ExplainabilityEstimate:
        """The end-to-end option's explainability estimate (measured with a probe)."""
        return self.explainability["end_to_end"]

    @property
    def learned_method(self) -> str:
        """The explanation method assumed for a learned model."""
        return self.end_to_end.method

    def share(self, source: Literal["inputs", "pack"]) -> float:
        """Give the recommendation's share of the samples from the inputs or the pack alone."""
        shares = self.uncertainty.from_inputs if source == "inputs" else self.uncertainty.from_pack
        return shares.get(self.recommendation, 0.0)

    def understood(self) -> Requirements:
        """Give the requirements as the engine read them, typed (`requirements` as a model)."""
        from ._requirements import Requirements

        return Requirements.model_validate(self.requirements)

    def to_json(self) -> str:
        """Give the canonical JSON text (sorted keys, two-space indent, trailing newline)."""
        from ._canonical import canonical_json

        return canonical_json(self.model_dump(mode="json")) + "\n"
