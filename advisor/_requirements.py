"""The input contract: a project's requirements, as a pydantic model.

Takes a mapping (from YAML or JSON) and gives a validated `Requirements`. Each field carries its
questionnaire wording (`question`, `help`, `example`, `unit`) in its JSON-schema extras, so the
schema, the docs and `advisor ask` share one definition per field.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)


class Modality(str, Enum):
    text = "text"
    speech = "speech"
    vision = "vision"
    tabular = "tabular"
    multimodal = "multimodal"
    control = "control"
    other = "other"


class Level3(str, Enum):
    none = "none"
    partial = "partial"
    full = "full"


class Cost(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"


class Criticality(str, Enum):
    non_critical = "non_critical"
    business_critical = "business_critical"
    regulated = "regulated"
    safety_critical = "safety_critical"


class Explainability(str, Enum):
    none = "none"
    low = "low"
    medium = "medium"
    high = "high"


class ExplanationMethod(str, Enum):
    none = "none"
    lime = "lime"
    shap = "shap"
    counterfactual = "counterfactual"
    saliency = "saliency"


class Maturity(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"


class Target(str, Enum):
    cloud = "cloud"
    on_premises = "on_premises"
    edge = "edge"
    on_device = "on_device"


#: Regimes the default rule pack knows. Others are accepted with a warning.
KNOWN_REGIMES: tuple[str, ...] = (
    "gdpr_art22",
    "eu_ai_act_high_risk",
    "ecoa",
    "sr_11_7",
    "hipaa",
    "fda_samd",
    "eu_mdr",
    "iso_26262",
    "eu_dsa",
    "sec_15c3_5",
    "colorado_sb21_169",
    "pci_dss",
)

CRITICALITY_ORDER = [c.value for c in Criticality]
EXPLAINABILITY_ORDER = [e.value for e in Explainability]
EXPLANATION_METHODS = [m.value for m in ExplanationMethod]
LEVEL3_ORDER = [v.value for v in Level3]
COST_ORDER = [v.value for v in Cost]
MATURITY_ORDER = [v.value for v in Maturity]
MODALITIES = [m.value for m in Modality]
TARGETS = [t.value for t in Target]

#: Default explainability when the file leaves it out, by criticality. Regimes may raise the
#: effective requirement further (see the rule pack's regimes.yaml).
DEFAULT_EXPLAINABILITY = {
    "non_critical": "none",
    "business_critical": "low",
    "regulated": "medium",
    # Safety assurance rests on a verifiable envelope more than on per-decision explanations
    # (RSS, Apollo's Guardian); a team that needs more states it, or a regime raises it.
    "safety_critical": "medium",
}


#: The smallest latency budget accepted: one nanosecond.
MIN_BUDGET_MS = 1e-6


def _q(question: str, help: str, example: str, unit: str = "") -> dict[str, Any]:
    return {"question": question, "help": help, "example": example, "unit": unit}


class Range(BaseModel):
    """A numeric input known only as an interval, low <= high; the advisor samples across it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    low: float = Field(description="Lowest plausible value (at most high).")
    high: float = Field(description="Highest plausible value (at least low).")

    @field_validator("low", "high", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return not_bool(v)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low must not exceed high (got low={self.low:g}, high={self.high:g})")
        return self


Number = float | Range


def _is_text(s: str) -> bool:
    # str fields refuse lone surrogates in pydantic; list items do not, so regimes check here.
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_bool(v: Any) -> Any:
    """Refuse true/false where a number belongs (pydantic would read them as 1 and 0)."""
    if isinstance(v, bool):
        raise ValueError(f"must be a number, not {str(v).lower()}")
    return v


# A string that starts like a number ("2M", "300 ms", "10k-50k", "1.5 s") is read as the
# questionnaire reads it; other strings ("lots", "nan") are left to pydantic, whose message
# for them is the usual one.
_NUMERIC_START = re.compile(r"^\s*[+-]?(\d|\.\d)")


def typed_number(v: Any, kind: Literal["count", "duration"]) -> Any:
    """Read a number as people type it, the same in every input (file, JSON, HTTP, CSV, the
    questionnaire): "2M" pairs, "300 ms", "2 s", a range "10k-50k" or `{low: "10k", ...}`.

    Args:
        v: the raw value.
        kind: "count" (pairs) or "duration" (milliseconds), as `units.parse_number_or_range`.

    Returns:
        A number or `{"low", "high"}` mapping for the model to validate, or `v` unchanged.

    Raises:
        ValueError: a string that starts like a number but is not one (an unknown unit...).
    """
    from ._units import parse_number_or_range, parse_quantity

    v = not_bool(v)
    if isinstance(v, str) and _NUMERIC_START.match(v):
        return parse_number_or_range(v, kind)
    if isinstance(v, dict):
        out = dict(v)
        for end in ("low", "high"):
            x = out.get(end)  # true/false are left to Range, which names the end
            if isinstance(x, str) and _NUMERIC_START.match(x):
                try:
                    out[end] = parse_quantity(x, kind)
                except ValueError as e:
                    raise ValueError(f"{end}: {e}") from None
        return out
    return v


def file_examples(schema: dict[str, Any], cls: Any = None) -> None:
    """JSON-schema hook: give each field's questionnaire example as standard `examples`, in the
    form a requirements file accepts ("gdpr_art22, ecoa" -> ["gdpr_art22", "ecoa"], "yes" ->
    true); the questionnaire keeps the typed form in the field's extras."""
    for prop in schema.get("properties", {}).values():
        if "example" not in prop:
            continue
        typed = prop.pop("example")
        value: Any = typed
        if prop.get("type") == "array":
            value = [t.strip() for t in str(typed).split(",") if t.strip()]
        elif prop.get("type") == "boolean":
            value = str(typed).lower() in ("yes", "true")
        prop["examples"] = [value]


def _number_schema(kind: Literal["count", "duration"]) -> Any:
    """Give a section's JSON-schema hook: the bounds of its number-or-range field, and the
    typed forms ("2M", "300 ms", "10k-50k") a file may also use."""
    name = "paired_examples" if kind == "count" else "budget_ms"
    if kind == "count":
        bounds: dict[str, Any] = {"minimum": 0, "maximum": 1e12}
        typed = "a count as typed: 20k, 1.5M, 2 billion, or a range 10k-50k"
    else:
        bounds = {"exclusiveMinimum": 0, "maximum": 86_400_000}
        typed = "a duration as typed: 300 ms, 2s, 1.5 min, or a range 100-400 or 1-2 s"

    def hook(schema: dict[str, Any], cls: Any = None) -> None:
        file_examples(schema)
        prop = schema["properties"][name]
        branches = []
        for b in prop.get("anyOf", []):
            if b.get("type") == "number":
                branches.append({**b, **bounds})
            elif "$ref" in b:
                ends = {"low": {"type": "number", **bounds}, "high": {"type": "number", **bounds}}
                branches.append(
                    {
                        "allOf": [b, {"properties": ends}],
                        "description": "A range; low must not exceed high.",
                    }
                )
            else:
                branches.append(b)
        branches.append({"type": "string", "pattern": _NUMERIC_START.pattern, "description": typed})
        prop["anyOf"] = branches

    return hook


def point(value: float | Range) -> float:
    """Give the representative value of a number or range: the geometric midpoint of a range."""
    if isinstance(value, Range):
        return midpoint(value.low, value.high)
    return float(value)


def midpoint(low: float, high: float) -> float:
    """Give the representative value of the range [low, high] (`point` of a `Range`)."""
    if low > 0:
        product = low * high
        if product >= sys.float_info.min:
            return math.sqrt(product)
        # The product underflows (1e-200 x 1e-170): the same midpoint, factor by factor.
        return math.sqrt(low) * math.sqrt(high)
    return (low + high) / 2


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        use_enum_values=True,
        validate_default=True,
        json_schema_extra=file_examples,
    )


class Task(_Section):
    modality: Modality = Field(
        default=Modality.other,
        description="The kind of raw input the system consumes.",
        json_schema_extra=_q(
            "What kind of raw input does the system consume?",
            "Data thresholds differ by modality: raw speech or video needs far more paired data "
            "than tabular records.",
            "speech",
        ),
    )
    pretrained_available: bool = Field(
        default=False,
        description="A pretrained model for this input/output can be fine-tuned end to end.",
        json_schema_extra=_q(
            "Is there a pretrained model you can fine-tune end to end for this task?",
            "Transfer learning cuts the paired data end-to-end needs (10k pairs instead of "
            "50k in low-resource translation).",
            "yes",
        ),
    )
    foundation_model: bool = Field(
        default=False,
        description=(
            "A pretrained foundation model already performs this task zero- or few-shot (a "
            "general LLM for text, a speech foundation model for recognition), so an "
            "end-to-end system adapts it rather than training one."
        ),
        json_schema_extra=_q(
            "Does a pretrained foundation model already do this task (e.g. a general LLM or a "
            "speech foundation model), needing only prompting or light adaptation?",
            "A model that already covers the task cuts the paired data end-to-end needs far "
            "more than a backbone to fine-tune: a few thousand examples can be enough.",
            "no",
        ),
    )


def _non_negative(v: float | Range, what: str) -> float | Range:
    values = [v.low, v.high] if isinstance(v, Range) else [v]
    for x in values:
        if x < 0:
            raise ValueError(f"must be 0 or more (got {x:g})")
        if x > 1e12:
            raise ValueError(f"must be at most 1e12 {what} (got {x:g})")
    return v


class Data(_Section):
    model_config = ConfigDict(json_schema_extra=_number_schema("count"))

    paired_examples: Annotated[Number, Field(union_mode="left_to_right")] = Field(
        description="End-to-end labelled input->output pairs available now (a number or a range).",
        json_schema_extra=_q(
            "How many end-to-end labelled input->output pairs do you have now?",
            "Count complete pairs of raw input and final output. Accepts 20k, 1.5M or a range "
            "like 10k-50k.",
            "2M",
            "pairs",
        ),
    )
    stage_labels: Level3 = Field(
        default=Level3.partial,
        description="Labels exist for intermediate stages: none, partial or full.",
        json_schema_extra=_q(
            "Do labels exist for the intermediate stages (e.g. transcripts, bounding boxes)?",
            "A modular pipeline needs supervision for each stage; full stage labels make it cheap.",
            "partial",
        ),
    )
    labeling_cost: Cost = Field(
        default=Cost.medium,
        description="Cost of obtaining more labelled examples.",
        json_schema_extra=_q(
            "How expensive is it to label more examples?",
            "Expensive labelling favours a modular design (the 2025 article on end-to-end "
            "trade-offs: end-to-end data collection cost +300% in a medical-imaging project).",
            "medium",
        ),
    )

    @field_validator("paired_examples", mode="before")
    @classmethod
    def _paired_number(cls, v: Any) -> Any:
        return typed_number(v, "count")

    @field_validator("paired_examples")
    @classmethod
    def _check_paired(cls, v: float | Range) -> float | Range:
        return _non_negative(v, "pairs")


class Latency(_Section):
    model_config = ConfigDict(json_schema_extra=_number_schema("duration"))

    budget_ms: Annotated[Number, Field(union_mode="left_to_right")] = Field(
        description="p95 end-to-end response budget in milliseconds (a number or a range).",
        json_schema_extra=_q(
            "What is the p95 end-to-end response budget?",
            "Under 100 ms favours end-to-end; 1 s or more tolerates a modular pipeline (the "
            "2025 article on end-to-end trade-offs). Accepts 300 ms, 2s or a range like 100-400.",
            "300 ms",
            "ms",
        ),
    )

    @field_validator("budget_ms", mode="before")
    @classmethod
    def _budget_number(cls, v: Any) -> Any:
        return typed_number(v, "duration")

    @field_validator("budget_ms")
    @classmethod
    def _check_budget(cls, v: float | Range) -> float | Range:
        values = [v.low, v.high] if isinstance(v, Range) else [v]
        for x in values:
            if x <= 0:
                raise ValueError(f"must be greater than 0 (got {x:g})")
            if x < MIN_BUDGET_MS:
                # Below a nanosecond no design differs; and x / spread, or a range's midpoint,
                # must stay a positive float for the log scale the engine works on.
                raise ValueError(
                    f"must be at least {MIN_BUDGET_MS:g} ms, one nanosecond (got {x:g})"
                )
            if x > 86_400_000:
                raise ValueError(f"must be at most one day, 86400000 ms (got {x:g})")
        return v


class Regulation(_Section):
    criticality: Criticality = Field(
        default=Criticality.non_critical,
        description="How much is at stake per decision.",
        json_schema_extra=_q(
            "How critical are the system's decisions?",
            "Regulated (a law or regulator governs the decisions: credit, medical, hiring) and "
            "safety-critical domains push towards modular or hybrid designs.",
            "business_critical",
        ),
    )
    explainability: Explainability | None = Field(
        default=None,
        description="Required per-decision explanation. Derived from criticality when left out.",
        json_schema_extra=_q(
            "How much per-decision explanation is required?",
            "Left out, it follows criticality (non_critical: none, business_critical: low, "
            "regulated and safety_critical: medium), and regimes can raise it. High vetoes any "
            "option whose explanations cannot meet it.",
            "medium",
        ),
    )
    explanation_method: ExplanationMethod | None = Field(
        default=None,
        description=(
            "How decisions of a learned (end-to-end) model would be explained: none, lime, shap, "
            "counterfactual or saliency. Left out: LIME-style local surrogates, the method behind "
            "the rule pack's prior."
        ),
        json_schema_extra=_q(
            "Which explanation method would you use for a learned, end-to-end model?",
            "lime (local surrogates), shap (Shapley attributions), counterfactual, saliency "
            "(attention or gradient maps) or none. It adjusts the end-to-end explainability "
            "estimate; left out, LIME is assumed (the method behind the 65% prior of the 2025 "
            "article on end-to-end trade-offs).",
            "shap",
        ),
    )
    regimes: list[str] = Field(
        default_factory=list,
        description="Regulatory regimes that apply, e.g. gdpr_art22, ecoa, hipaa.",
        json_schema_extra={
            **_q(
                "Which regulatory regimes apply?",
                "Comma-separated, or none. Unknown regimes are accepted with a warning.",
                "gdpr_art22, ecoa",
            ),
            "known": list(KNOWN_REGIMES),
        },
    )

    @field_validator("regimes")
    @classmethod
    def _normalise_regimes(cls, v: list[str]) -> list[str]:
        out: set[str] = set()  # a set: 30,000 regimes must not cost 30,000 list scans each
        for r in v:
            key = r.strip().lower().replace("-", "_").replace(" ", "_")
            if not key:
                raise ValueError("regime names must not be empty")
            if len(key) > 64:
                raise ValueError(f"regime name too long ({len(key)} characters, at most 64)")
            if not _is_text(key):
                raise ValueError(
                    "regime names must be valid Unicode text (a lone surrogate, "
                    "such as \\ud800, is not)"
                )
            out.add(key)
        return sorted(out)


class Team(_Section):
    ml_maturity: Maturity = Field(
        default=Maturity.medium,
        description="The team's experience training and operating deep models.",
        json_schema_extra=_q(
            "How experienced is the team at training and operating deep models?",
            "End-to-end models need 3-5x the training steps and are harder to debug (the 2025 "
            "article on end-to-end trade-offs).",
            "medium",
        ),
    )


class Deployment(_Section):
    target: Target = Field(
        default=Target.cloud,
        description="Where the system runs.",
        json_schema_extra=_q(
            "Where will the system run?",
            "On-device and edge targets reward one compact model (the 2025 article on end-to-end "
            "trade-offs: -45% hardware).",
            "cloud",
        ),
    )
    independent_updates: bool = Field(
        default=False,
        description="Stages must be updated, audited or replaced independently.",
        json_schema_extra=_q(
            "Must stages be updated, audited or replaced independently?",
            "Separate owners, release cycles or certification per stage favour modular designs.",
            "no",
        ),
    )


class Requirements(BaseModel):
    """A project's requirements: the advisor's input contract (docs/architecture.md)."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, use_enum_values=True, json_schema_extra=file_examples
    )

    schema_version: Literal[1] = Field(default=1, description="Requirements format version.")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_number(cls, v: Any) -> Any:
        # `schema_version: true` equals 1 to Python; a version is a number, never a boolean.
        if isinstance(v, bool):
            raise ValueError(f"must be the number 1, not {str(v).lower()}")
        return v

    name: str = Field(
        min_length=1,
        max_length=200,
        description="Project name.",
        json_schema_extra=_q("What is the project called?", "Shown on the report.", "Voice agent"),
    )
    description: str = Field(
        default="",
        max_length=5000,
        description="Free text shown on the report.",
        json_schema_extra=_q(
            "Describe the system in a sentence (optional).",
            "Shown on the report as context.",
            "Answers customer calls in real time",
        ),
    )
    task: Task = Field(default_factory=Task)
    data: Data
    latency: Latency
    regulation: Regulation = Field(default_factory=Regulation)
    team: Team = Field(default_factory=Team)
    deployment: Deployment = Field(default_factory=Deployment)

    # Unsure answers: field path -> {value: probability}, taken from `{one_of: ...}` forms. The
    # field itself holds the most likely value; the Monte Carlo samples the rest.
    _unsure: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _take_unsure(cls, data: Any, handler: Any) -> Any:
        unsure: dict[str, dict[str, Any]] = {}
        if isinstance(data, dict):
            data = dict(data)
            for section, values in list(data.items()):
                if not isinstance(values, dict):
                    continue
                values = dict(values)
                for key, value in values.items():
                    if isinstance(value, dict) and set(value) == {"one_of"}:
                        path = f"{section}.{key}"
                        try:
                            choices = _one_of(path, value["one_of"])
                        except ValueError as e:
                            raise _field_error(cls, (section, key), value, e) from None
                        # The most likely value stands for the field; ties: the first listed.
                        values[key] = _most_likely(choices)
                        unsure[path] = {k: w for k, (w, _) in choices.items()}
                data[section] = values
        model = handler(data)
        # Keys are the values as the model stores them (enum values, booleans).
        stored: dict[str, dict[str, Any]] = {}
        for path, dist in unsure.items():
            try:
                stored[path] = {_stored(model, path, k): w for k, w in dist.items()}
            except ValueError as e:
                raise _field_error(cls, tuple(path.split(".")), dist, e) from None
        model._unsure = stored
        return model

    def unsure(self) -> dict[str, dict[str, Any]]:
        """Give the unsure answers: field path -> {value: probability} (empty: none)."""
        return self._unsure

    def explainability_given(self) -> bool:
        """Tell whether the user stated `regulation.explainability` (else it is derived)."""
        return self.regulation.explainability is not None

    def explainability_level(self) -> str:
        """Give the stated explainability level, or the default derived from criticality."""
        if self.regulation.explainability is not None:
            return str(self.regulation.explainability)
        return DEFAULT_EXPLAINABILITY[str(self.regulation.criticality)]


def _one_of(path: str, raw: Any) -> dict[Any, tuple[float, Any]]:
    # {one_of: [a, b]} (equally likely) or {one_of: {a: 0.7, b: 0.3}}: key -> (weight, value).
    if isinstance(raw, list) and raw:
        items = [(v, 1.0) for v in raw]
    elif isinstance(raw, dict) and raw:
        items = list(raw.items())
    else:
        raise ValueError(
            f"{path}: one_of needs a non-empty list of choices or a mapping of choice to weight"
        )
    out: dict[Any, tuple[float, Any]] = {}
    for v, w in items:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"{path}: one_of weights must be positive numbers (got {w!r})")
        if not isinstance(v, str | bool) or (isinstance(v, str) and len(v) > 100):
            raise ValueError(f"{path}: one_of choices must be names (got {v!r})")
        out[v] = (out.get(v, (0.0, v))[0] + float(w), v)
    total = sum(w for w, _ in out.values())
    return {k: (w / total, v) for k, (w, v) in out.items()}


def _field_error(
    model: type[BaseModel], loc: tuple[str, ...], value: Any, err: ValueError
) -> ValidationError:
    # The problem at the field's own location (not the model's top level), its path dropped
    # from the message since the location names it.
    path = ".".join(loc)
    msg = str(err).removeprefix(f"{path}: ")
    return ValidationError.from_exception_data(
        model.__name__,
        [{"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(msg)}}],
    )


def _most_likely(choices: dict[Any, tuple[float, Any]]) -> Any:
    best = max(w for w, _ in choices.values())
    return next(v for w, v in choices.values() if w == best)


def _stored(model: BaseModel, path: str, raw: Any) -> Any:
    # Validate one unsure choice the way the field itself is validated (a bad one raises).
    section, key = path.split(".", 1)
    sub = getattr(model, section, None)
    if not isinstance(sub, BaseModel) or key not in type(sub).model_fields:
        raise ValueError(f"{path}: one_of is only for choice fields")
    annotation = type(sub).model_fields[key].annotation
    assert annotation is not None
    try:
        value = TypeAdapter(annotation).validate_python(raw)
    except ValidationError:
        raise ValueError(f"{path}: one_of: {raw!r} is not one of its choices") from None
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str | bool):
        raise ValueError(f"{path}: one_of is only for choice fields")
    return value


@functools.cache
def field_paths(model: type[BaseModel] = Requirements, prefix: str = "") -> tuple[str, ...]:
    """Give every leaf field's dotted path, in declaration order (computed once per model:
    every assessment reads them)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        path = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, _Section):
            out.extend(field_paths(ann, path + "."))
        else:
            out.append(path)
    return tuple(out)


def field_info(path: str) -> Any:
    """Give the pydantic FieldInfo of a dotted field path."""
    model: type[BaseModel] = Requirements
    parts = path.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    return model.model_fields[parts[-1]]
