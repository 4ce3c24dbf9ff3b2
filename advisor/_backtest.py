"""Back-testing a rule pack against labelled decisions (`advisor rules backtest`).

Takes a labelled set (parsed YAML: a mapping with a `labelled` list, or the list itself; each
entry an id, the answers a reviewer accepts with the expected primary first, a source and a
requirements profile) and a rule pack; gives a `Backtest`: how often the pack's answer is
accepted and how often it is the primary, a confusion matrix, the answer mix, every disagreement
with the rules that fired, and a reliability table of the stated confidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._assessment import Assessment, Option
from ._errors import InputError
from ._fields import OPTIONS
from ._loading import validation_problems
from ._requirements import Requirements
from ._rulepack import RulePack

# Reliability bins of the stated confidence (the share of Monte Carlo samples that agree).
BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 0.95), (0.95, 1.0001))


class LabelledCase(BaseModel):
    """One labelled decision: a profile and the answers a reviewer accepts (primary first)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    kind: str = "case"
    chosen: Option | None = None
    accept: list[Option] = Field(min_length=1, max_length=3)
    source: str = Field(min_length=1)
    note: str = ""
    input: dict[str, Any]


class CaseResult(BaseModel):
    """What the pack answered for one labelled case."""

    id: str
    kind: str
    accept: list[str]
    got: str
    confidence: float
    accepted: bool
    primary: bool
    unsafe: bool
    rules_fired: list[str]
    scores: dict[str, float]


class ReliabilityBin(BaseModel):
    """Answers whose confidence fell in [low, high): how many, and how many were accepted."""

    low: float
    high: float
    count: int
    mean_confidence: float
    accepted_share: float
    primary_share: float


class Backtest(BaseModel):
    """The outcome of a back-test, as `advisor rules backtest -o` writes it."""

    cases: int
    accepted: float
    primary: float
    unsafe: int
    mix: dict[str, float]
    confusion: dict[str, dict[str, int]]  # expected primary -> answer -> count
    brier: float
    reliability: list[ReliabilityBin]
    by_kind: dict[str, dict[str, float]]
    disagreements: list[CaseResult]
    results: list[CaseResult]


def parse_labelled(doc: Any, source: str) -> list[tuple[LabelledCase, Requirements]]:
    """Validate a parsed labelled set; give each case with its validated requirements.

    Raises:
        InputError: one problem per bad entry or field, naming `source` and the entry.
    """
    items = doc.get("labelled") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise InputError(f"{source}: labelled: expects a non-empty list of labelled cases")
    problems: list[str] = []
    out: list[tuple[LabelledCase, Requirements]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"labelled[{i}]"
        try:
            case = LabelledCase.model_validate(item)
        except ValidationError as e:
            problems.extend(validation_problems(e, f"{source}: {where}", LabelledCase))
            continue
        if case.id in seen:
            problems.append(f"{source}: {where}.id: duplicate id {case.id!r}")
        seen.add(case.id)
        try:
            req = Requirements.model_validate(case.input)
        except ValidationError as e:
            problems.extend(validation_problems(e, f"{source}: {where}.input", Requirements))
            continue
        out.append((case, req))
    if problems:
        raise InputError(problems)
    return out


def _unsafe(req: Requirements, got: str) -> bool:
    # Pure end-to-end for a safety-critical system, or for a regulated one that needs high
    # explainability: the answers no reviewer signs.
    reg = req.regulation
    strict = str(reg.criticality) == "regulated" and req.explainability_level() == "high"
    return got == "end_to_end" and (str(reg.criticality) == "safety_critical" or strict)


def backtest(
    cases: list[tuple[LabelledCase, Requirements]],
    pack: RulePack,
    assess: Callable[[Requirements, RulePack], Assessment],
) -> Backtest:
    """Run the pack over every labelled case and summarise the agreement.

    Args:
        cases: from `parse_labelled`.
        pack: the rule pack under test.
        assess: how one profile is assessed (the API's `recommend` without explanations).

    Returns:
        The `Backtest`.
    """
    results: list[CaseResult] = []
    for case, req in cases:
        a = assess(req, pack)
        got = a.recommendation
        results.append(
            CaseResult(
                id=case.id,
                kind=case.kind,
                accept=list(case.accept),
                got=got,
                confidence=a.confidence,
                accepted=got in case.accept,
                primary=got == case.accept[0],
                unsafe=_unsafe(req, got),
                rules_fired=[r.id for r in a.rules_fired],
                scores=dict(a.scores),
            )
        )
    n = len(results)
    confusion = {o: dict.fromkeys(OPTIONS, 0) for o in OPTIONS}
    for r in results:
        confusion[r.accept[0]][r.got] += 1
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({r.kind for r in results}):
        rs = [r for r in results if r.kind == kind]
        by_kind[kind] = {
            "cases": len(rs),
            "accepted": sum(r.accepted for r in rs) / len(rs),
            "primary": sum(r.primary for r in rs) / len(rs),
        }
    # Brier score of the confidence as a forecast that the answer is accepted.
    brier = sum((r.confidence - float(r.accepted)) ** 2 for r in results) / n
    reliability = []
    for low, high in BINS:
        rs = [r for r in results if low <= r.confidence < high]
        if rs:
            reliability.append(
                ReliabilityBin(
                    low=low,
                    high=min(high, 1.0),
                    count=len(rs),
                    mean_confidence=sum(r.confidence for r in rs) / len(rs),
                    accepted_share=sum(r.accepted for r in rs) / len(rs),
                    primary_share=sum(r.primary for r in rs) / len(rs),
                )
            )
    return Backtest(
        cases=n,
        accepted=sum(r.accepted for r in results) / n,
        primary=sum(r.primary for r in results) / n,
        unsafe=sum(r.unsafe for r in results),
        mix={o: sum(r.got == o for r in results) / n for o in OPTIONS},
        confusion=confusion,
        brier=brier,
        reliability=reliability,
        by_kind=by_kind,
        disagreements=[r for r in results if not r.primary],
        results=results,
    )
