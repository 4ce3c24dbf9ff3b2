"""Checking a rule pack (`advisor rules check`): schema, ids, reach of every rule, contradictions,
and the pack's own scenarios.

Takes a pack's parsed files (and, for a pack that `extends` another, the parent's effective
mapping); gives a `CheckReport`: findings that name the file, the rule or entry and the field,
and the result of every scenario. Rules that can never fire, contradictory pairs and profiles
with every option vetoed are found by sampling the input space (every category, the numbers on
log scales and at every threshold the conditions use) and running the vectorised engine over
all the samples at once. Pure: no files, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from ._errors import Problem, RulePackError
from ._fields import BASE_COLUMNS, CONDITION_FIELDS, OPTIONS
from ._packbuild import inherit, merge_documents, pack_problems, reference_details
from ._rulepack import Condition, RulePack

#: Profiles sampled to find rules that never fire and contradictory pairs.
SAMPLES = 60_000
#: A region needs at least this many samples before a pair of rules is called nested in it.
MIN_SUPPORT = 30
_SEED = 20251119


@dataclass(frozen=True)
class Finding:
    """One problem: its kind, where it is (file, then entry and field) and what is wrong."""

    kind: str
    where: str
    message: str

    def line(self) -> str:
        """Give the one-line form: `where: message`."""
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario: what it expects, what the pack gives."""

    id: str
    file: str
    expect: str
    got: str | None
    problem: str = ""
    accept: tuple[str, ...] = ()  # every accepted answer, `expect` first

    @property
    def passed(self) -> bool:
        """Tell whether the pack gives an answer the scenario accepts."""
        return not self.problem and (self.got == self.expect or self.got in self.accept)

    @property
    def primary(self) -> bool:
        """Tell whether the pack gives the scenario's expected primary answer."""
        return not self.problem and self.got == self.expect


@dataclass
class CheckReport:
    """Everything `advisor rules check` reports about one pack."""

    source: str
    pack: RulePack | None = None
    findings: list[Finding] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    inheritance: dict[str, list[str]] = field(default_factory=dict)
    sampled: int = 0

    @property
    def clean(self) -> bool:
        """Tell whether the pack has no problems and every scenario passes."""
        return self.pack is not None and not self.findings and all(s.passed for s in self.scenarios)


def _kind(message: str) -> str:
    if "duplicate id" in message:
        return "duplicate-id"
    if "condition on unknown field" in message:
        return "unknown-field"
    return "schema"


def _finding(p: Problem) -> Finding:
    where = ": ".join(part for part in (p.source, p.field) if part)
    return Finding(_kind(p.message), where, p.message)


def check_pack(
    docs: dict[str, Any],
    source: str,
    parent: tuple[dict[str, Any], dict[str, str]] | None = None,
    *,
    samples: int = SAMPLES,
) -> CheckReport:
    """Check a rule pack.

    Args:
        docs: file name -> parsed YAML, as `resources.read_pack_documents` gives them.
        source: the pack folder, for messages.
        parent: the effective (mapping, origin) of the pack it extends, if any.
        samples: how many profiles to sample for the reach and contradiction checks.

    Returns:
        The report: `clean` when there is nothing to fix.
    """
    report = CheckReport(source)
    try:
        merged, origin = merge_documents(docs)
    except RulePackError as e:
        report.findings.extend(_finding(p) for p in e.details)
        return report
    if parent is not None:
        merged, origin, report.inheritance = inherit(parent, (merged, origin))
    try:
        pack = RulePack.model_validate(merged)
    except ValidationError as e:
        report.findings.extend(_finding(p) for p in pack_problems(e, origin, merged, source))
        return report
    report.pack = pack
    broken = False
    for key, entry, msg in reference_details(pack):
        # The entry's own file where the merge recorded it, else the file its section names.
        fname = origin.get(key) or _file_of(entry, origin, source)
        report.findings.append(Finding("reference", f"{fname}: {entry}", msg))
        # Invalid background profiles leave the engine nothing to explain against: the
        # sampled checks and the scenarios need it.
        broken = broken or key.startswith("background")
    if broken:
        return report
    report.findings.extend(_nested_duplicates(pack, origin))
    report.findings.extend(_sampled_findings(pack, origin, samples, report))
    report.scenarios = run_scenarios(pack, origin)
    return report


def _file_of(head: str, origin: dict[str, str], default: str = "pack") -> str:
    # "rule x" -> origin["rules:x"], "pattern y" -> origin["patterns:y"], ...
    kind, _, ident = head.partition(" ")
    section = {
        "rule": "rules",
        "pattern": "patterns",
        "advice": "advice",
        "risk": "risks",
        "precedent": "precedents",
    }.get(kind, "")
    if section and f"{section}:{ident}" in origin:
        return origin[f"{section}:{ident}"]
    first = head.split(".")[0].split(" ")[0].split("[")[0]
    section = "explainability" if "explainability" in head else ""
    return origin.get(first, origin.get(section, default))


def _nested_duplicates(pack: RulePack, origin: dict[str, str]) -> list[Finding]:
    out = []
    ex = pack.explainability
    where = origin.get("explainability", "pack")
    for name in ("modality_adjustments", "method_adjustments"):
        seen: set[str] = set()
        for adj in getattr(ex, name, []):
            if adj.id in seen:
                out.append(
                    Finding(
                        "duplicate-id",
                        f"{where}: explainability.{name}[id={adj.id}]",
                        "duplicate id",
                    )
                )
            seen.add(adj.id)
    return out


# ---------------------------------------------------------------------------------------------
# Sampling the input space.


def _leaves(cond: Condition) -> list[Condition]:
    if cond.all is not None:
        return [leaf for c in cond.all for leaf in _leaves(c)]
    if cond.any is not None:
        return [leaf for c in cond.any for leaf in _leaves(c)]
    if cond.not_ is not None:
        return _leaves(cond.not_)
    return [cond]


def _thresholds(pack: RulePack, column: str) -> list[float]:
    # Every encoded constant a condition compares this numeric column with, and its neighbours.
    conds = [r.when for r in pack.rules] + [p.when for p in pack.patterns if p.when is not None]
    out: set[float] = set()
    for cond in conds:
        for leaf in _leaves(cond):
            assert leaf.field is not None
            kind = CONDITION_FIELDS[leaf.field]
            if kind.column != column or kind.kind != "numeric":
                continue
            _, value = leaf.operator()
            for v in value if isinstance(value, list) else [value]:
                t = kind.encode(v)
                out.update(
                    (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), t - 1e-3, t + 1e-3)
                )
    return sorted(out)


def sample_space(pack: RulePack, cp: Any, n: int, seed: int = _SEED) -> np.ndarray:
    """Give n feature rows spread over every valid input: each category uniformly, the numbers
    log-uniformly over their whole range and, three times in ten, at a threshold a condition
    uses; each known regime present one time in six."""
    from ._fields import log_ms, log_pairs

    rng = np.random.default_rng(seed)
    width = cp.space.width
    x = np.zeros((n, width))
    by_column = {k.column: k for k in CONDITION_FIELDS.values()}
    ranges = {
        "paired_log": (0.0, log_pairs(1e12)),
        "latency_log": (log_ms(0.01), log_ms(86_400_000)),
    }
    for i, col in enumerate(BASE_COLUMNS):
        kind = by_column.get(col)
        if col in ranges:
            lo, hi = ranges[col]
            values = rng.uniform(lo, hi, n)
            special = np.array([v for v in _thresholds(pack, col) if lo <= v <= hi] + [lo])
            pick = rng.random(n) < 0.3
            values[pick] = rng.choice(special, int(pick.sum()))
            x[:, i] = values
        elif kind is not None and kind.kind == "bool":
            x[:, i] = rng.integers(0, 2, n)
        elif kind is not None and kind.choices:
            x[:, i] = rng.integers(0, len(kind.choices), n)
        else:  # a column no condition names: take the values the background profiles use
            from ._engine import prepare

            x[:, i] = rng.choice(np.unique(prepare(pack).background[:, i]), n)
    nb = len(BASE_COLUMNS)
    if width > nb:
        x[:, nb:] = (rng.random((n, width - nb)) < 1 / 6).astype(float)
    return x


def describe_row(x: np.ndarray, cp: Any) -> str:
    """Give a sampled feature row as the fields a person would write."""
    parts = []
    by_column = {k.column: (f, k) for f, k in CONDITION_FIELDS.items()}
    for i, col in enumerate(BASE_COLUMNS):
        entry = by_column.get(col)
        if entry is None:
            continue
        name, kind = entry
        v = float(x[i])
        if col == "paired_log":
            parts.append(f"{name}={10**v - 1:.4g}")
        elif col == "latency_log":
            parts.append(f"{name}={10**v:.4g}")
        elif kind.kind == "bool":
            parts.append(f"{name}={'true' if v else 'false'}")
        elif kind.choices:
            parts.append(f"{name}={kind.choices[int(v)]}")
    regimes = [r for j, r in enumerate(cp.space.regimes) if x[len(BASE_COLUMNS) + j] > 0.5]
    parts.append(f"regulation.regimes=[{', '.join(regimes)}]")
    return ", ".join(parts)


def _sampled_findings(
    pack: RulePack, origin: dict[str, str], n: int, report: CheckReport
) -> list[Finding]:
    from ._engine import prepare
    from ._scoring import columns, evaluate

    cp = prepare(pack).compiled
    x = sample_space(pack, cp, n)
    ev = evaluate(x, cp)
    report.sampled = n
    out: list[Finding] = []
    fired = ev.fired
    counts = fired.sum(axis=0)
    for j, rule in enumerate(pack.rules):
        if counts[j] == 0:
            out.append(
                Finding(
                    "never-fires",
                    f"{origin.get(f'rules:{rule.id}', 'pack')}: rule {rule.id}",
                    f"never fired in {n:,} sampled profiles: its condition can probably never hold",
                )
            )
    cols = columns(x, cp, ev.required)
    for p, pred in zip(pack.patterns, cp.pattern_preds, strict=True):
        if pred is not None and not pred(cols).any():
            out.append(
                Finding(
                    "never-fires",
                    f"{origin.get(f'patterns:{p.id}', 'pack')}: pattern {p.id}",
                    f"its 'when' never held in {n:,} sampled profiles: it can probably never apply",
                )
            )
    out.extend(_contradictions(pack, origin, cp, x, fired, counts))
    all_vetoed = ev.vetoed.all(axis=1)
    if all_vetoed.any():
        k = int(np.flatnonzero(all_vetoed)[0])
        who = sorted(
            {pack.rules[j].id for j in np.flatnonzero(fired[k]) if pack.rules[j].effect.veto}
        )
        by = f" (vetoes: {', '.join(who)}, and the explainability requirement)" if who else ""
        out.append(
            Finding(
                "all-vetoed",
                f"{origin.get('rules', 'pack')}: vetoes",
                f"every option is vetoed in {int(all_vetoed.sum()):,} of {n:,} sampled "
                f"profiles{by}; "
                f"e.g. {describe_row(x[k], cp)}",
            )
        )
    return out


def _effect_signs(rule: Any) -> np.ndarray:
    # Per option: +1 a bonus, -1 a malus, -2 a veto, 0 nothing.
    signs = np.zeros(3)
    for opt, v in (rule.effect.add or {}).items():
        signs[OPTIONS.index(opt)] = np.sign(v)
    if rule.effect.veto:
        signs[OPTIONS.index(rule.effect.veto)] = -2
    return signs


def _contradictions(
    pack: RulePack,
    origin: dict[str, str],
    cp: Any,
    x: np.ndarray,
    fired: np.ndarray,
    counts: np.ndarray,
) -> list[Finding]:
    # Two rules contradict when, on the region where one of them fires (all of it, and at least
    # MIN_SUPPORT samples), the other fires too and pushes some option the other way: a bonus
    # against a malus, or a bonus to an option the other vetoes. Independent considerations that
    # merely overlap (edge deployment and independent updates) are trade-offs, not mistakes.
    out = []
    signs = [_effect_signs(r) for r in pack.rules]
    n_rules = len(pack.rules)
    for a in range(n_rules):
        for b in range(a + 1, n_rules):
            clash = [
                OPTIONS[o]
                for o in range(3)
                if (signs[a][o] > 0 > signs[b][o]) or (signs[b][o] > 0 > signs[a][o])
            ]
            if not clash:
                continue
            both = fired[:, a] & fired[:, b]
            n_both = int(both.sum())
            small = min(counts[a], counts[b])
            if small < MIN_SUPPORT or n_both < small:
                continue
            ra, rb = pack.rules[a], pack.rules[b]
            inner, outer = (ra, rb) if counts[a] <= counts[b] else (rb, ra)
            k = int(np.flatnonzero(both)[0])
            same = "the same region as" if counts[a] == counts[b] else "only inside the region of"
            out.append(
                Finding(
                    "contradiction",
                    f"{origin.get(f'rules:{inner.id}', 'pack')}: rules {inner.id} and {outer.id}",
                    f"{inner.id} fires {same} {outer.id} and they push {', '.join(clash)} "
                    "in opposite "
                    f"directions (one undoes the other there); e.g. {describe_row(x[k], cp)}",
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Scenarios.


def run_scenarios(pack: RulePack, origin: dict[str, str] | None = None) -> list[ScenarioResult]:
    """Run every scenario of the pack through the whole engine; give each one's result."""
    from ._api import parse_requirements
    from ._engine import assess
    from ._errors import InputError

    results = []
    for sc in pack.scenarios:
        fname = (origin or {}).get(f"scenarios:{sc.id}", "pack")
        try:
            req = parse_requirements(dict(sc.input), f"scenario {sc.id}: input")
        except InputError as e:
            results.append(
                ScenarioResult(
                    sc.id, fname, sc.expect, None, "; ".join(e.problems), tuple(sc.accepted())
                )
            )
            continue
        got = assess(req, pack, given=dict(sc.input), explain=False).recommendation
        results.append(ScenarioResult(sc.id, fname, sc.expect, got, "", tuple(sc.accepted())))
    return results
