"""Stages 2-4: features -> rules fired -> dimension utilities -> option scores and vetoes.

Takes a feature matrix (n rows, `FeatureSpace.columns`) and a compiled rule pack; gives an
`Evaluation` of arrays, one row per profile. Everything is numpy over all rows at once, so one
assessment, a Monte Carlo sample, a SHAP coalition set and a portfolio batch share this code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ._features import FeatureSpace
from ._fields import BASE_COLUMNS, CONDITION_FIELDS, OPTIONS
from ._requirements import (
    COST_ORDER,
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    LEVEL3_ORDER,
    MODALITIES,
)
from ._rulepack import Condition, RulePack

#: The effective score of a vetoed option: below any score a live option can reach.
VETO_SCORE = -1.0
_RAW_FLOOR = -0.99

Columns = dict[str, np.ndarray]
Predicate = Callable[[Columns], np.ndarray]


def _leaf(cond: Condition, space: FeatureSpace) -> Predicate:
    assert cond.field is not None
    kind = CONDITION_FIELDS[cond.field]
    op, value = cond.operator()
    if kind.kind == "set":
        names = [value] if isinstance(value, str) else list(value)
        wanted = np.array([1.0 if r in names else 0.0 for r in space.regimes])

        def has_any(c: Columns) -> np.ndarray:
            # A matrix-vector product: far cheaper per row than a max over a column subset.
            return np.asarray(c["regimes"] @ wanted > 0.5)

        if op == "not_contains":
            return lambda c: ~has_any(c)
        return has_any
    col = kind.column
    if op in ("in", "not_in"):
        codes = [kind.encode(v) for v in value]
        if kind.kind == "numeric":
            allowed = np.array(codes)
            hit: Predicate = lambda c: np.isin(c[col], allowed)  # noqa: E731
        else:
            # Category codes are small whole numbers: a lookup table beats np.isin.
            table = np.zeros(len(kind.choices) or 2, dtype=bool)
            table[[int(k) for k in codes]] = True
            hit = lambda c: table[c[col].astype(np.intp)]  # noqa: E731
        if op == "in":
            return hit
        return lambda c: ~hit(c)
    code = kind.encode(value)
    # One closure per operator (not a closure calling a comparison): the engine evaluates
    # every leaf on every call, and most calls score a few rows.
    compare: dict[str, Predicate] = {
        "lt": lambda c: np.asarray(c[col] < code),
        "le": lambda c: np.asarray(c[col] <= code),
        "gt": lambda c: np.asarray(c[col] > code),
        "ge": lambda c: np.asarray(c[col] >= code),
        "eq": lambda c: np.asarray(c[col] == code),
        "ne": lambda c: np.asarray(c[col] != code),
    }
    return compare[op]


def compile_condition(cond: Condition, space: FeatureSpace) -> Predicate:
    """Compile a condition into a function of the feature columns giving a bool per row."""
    if cond.all is not None:
        parts = [compile_condition(c, space) for c in cond.all]
        return lambda c: _fold(np.logical_and, parts, c) if parts else _true(c)
    if cond.any is not None:
        parts = [compile_condition(c, space) for c in cond.any]
        return lambda c: _fold(np.logical_or, parts, c) if parts else ~_true(c)
    if cond.not_ is not None:
        inner = compile_condition(cond.not_, space)
        return lambda c: ~inner(c)
    return _leaf(cond, space)


def _fold(op: np.ufunc, parts: list[Predicate], c: Columns) -> np.ndarray:
    # op over the parts' results, pairwise into the first result (a ufunc's reduce over a list
    # would first copy the results into one 2-D array).
    out = np.array(parts[0](c), dtype=bool)
    for p in parts[1:]:
        op(out, p(c), out=out)
    return out


def tests_numbers(cond: Condition) -> bool:
    """Tell whether a condition tests a numeric field anywhere in it."""
    if cond.field is not None:
        return CONDITION_FIELDS[cond.field].kind == "numeric"
    parts = cond.all or cond.any or ([cond.not_] if cond.not_ is not None else [])
    return any(tests_numbers(c) for c in parts)


def _group_radix(space: FeatureSpace) -> tuple[slice | np.ndarray, np.ndarray] | None:
    # The categorical columns and the place value of each in a key that tells apart every
    # combination of their codes; None when the key would not be exact in a float.
    kinds = {f.column: f for f in CONDITION_FIELDS.values() if f.slot is not None}
    cards = [
        (i, 2 if kinds[c].kind == "bool" else len(kinds[c].choices))
        for i, c in enumerate(BASE_COLUMNS)
        if kinds[c].kind != "numeric"
    ] + [(len(BASE_COLUMNS) + j, 2) for j in range(len(space.regimes))]
    places = np.cumprod([1.0] + [float(k) for _, k in cards])
    if places[-1] > 2.0**53:
        return None
    at = [i for i, _ in cards]
    # A run of columns is a view (no copy); the registry puts the numbers first.
    cols: slice | np.ndarray = (
        slice(at[0], at[-1] + 1) if at == list(range(at[0], at[-1] + 1)) else np.array(at)
    )
    return cols, places[:-1]


def _true(c: Columns) -> np.ndarray:
    return np.ones(c["regimes"].shape[0], dtype=bool)


def _lookup(table: Mapping[Any, float], order: list[str]) -> np.ndarray:
    return np.array([table[k] for k in order], dtype=float)


@dataclass(frozen=True)
class ExplainabilityTables:
    """The explainability outcome of every (modality, required level, hybrid pattern).

    Rows of `meets_pattern` are keyed by modality * levels + level; rows of the other tables by
    (modality * levels + level) * patterns + pattern; columns are the options.
    """

    levels: int
    patterns: int
    meets_pattern: np.ndarray  # key x patterns: the pattern meets the requirement
    meets_code: np.ndarray  # key: the same as bits (pattern j: bit j), int64
    # By kind first, so that each kind's rows gather into a contiguous array.
    numbers: np.ndarray  # (fidelity, gap, penalty) x key x options
    flags: np.ndarray  # (traceable, meets, veto) x key x options


def _explainability_tables(
    prior_e2e: float,
    prior_mod: float,
    trace_e2e: bool,
    trace_mod: bool,
    modality_adj: np.ndarray,
    req_min: np.ndarray,
    req_trace: np.ndarray,
    req_hard: np.ndarray,
    penalty: float,
    share: np.ndarray,
    pattern_trace: np.ndarray,
) -> ExplainabilityTables:
    # End-to-end: the prior adjusted by modality; modular: its prior; hybrid: the two mixed by
    # the interpretable share of the pattern.
    levels, patterns = len(req_min), len(share)
    modality = np.repeat(np.arange(len(modality_adj)), levels)
    req = np.tile(np.arange(levels), len(modality_adj))
    fid_e2e = np.clip(prior_e2e + modality_adj[modality], 0.0, 1.0)
    need, need_trace = req_min[req], req_trace[req]
    fid_pat = share[None, :] * prior_mod + (1.0 - share[None, :]) * fid_e2e[:, None]
    meets_pat = (fid_pat >= need[:, None]) & (~need_trace[:, None] | pattern_trace[None, :])
    # Expand to every pattern: key row k becomes rows k * patterns + pattern.
    k = np.repeat(np.arange(len(req)), patterns)
    pattern = np.tile(np.arange(patterns), len(req))
    n = len(k)
    fid = np.stack([fid_e2e[k], np.full(n, prior_mod), fid_pat[k, pattern]], axis=1)
    traceable = np.stack(
        [np.full(n, trace_e2e), np.full(n, trace_mod), pattern_trace[pattern]], axis=1
    )
    meets = (fid >= need[k][:, None]) & (~need_trace[k][:, None] | traceable)
    gap = np.maximum(need[k][:, None] - fid, 0.0)
    hard = req_hard[req][k][:, None]
    expl_penalty = np.where(~meets & ~hard, np.maximum(gap, 0.0) * penalty, 0.0)
    return ExplainabilityTables(
        levels=levels,
        patterns=patterns,
        meets_pattern=meets_pat,
        meets_code=(meets_pat.astype(np.int64) << np.arange(patterns, dtype=np.int64)).sum(axis=1),
        numbers=np.stack([fid, gap, expl_penalty]),
        flags=np.stack([traceable, meets, ~meets & hard]),
    )


@dataclass(frozen=True)
class CompiledPack:
    """A rule pack turned into arrays and predicates, built once per pack."""

    pack: RulePack
    space: FeatureSpace
    weights: np.ndarray
    scarce_log: np.ndarray
    ample_log: np.ndarray
    stage_adj: np.ndarray
    cost_adj: np.ndarray
    pretrained_shift: float
    foundation_shift: float
    curve_x: np.ndarray
    curve_u: np.ndarray
    crit_adj: np.ndarray
    expl_adj: np.ndarray
    floor_steps: np.ndarray  # regimes x levels-1: the regime's floor reaches level l+1
    rule_preds: tuple[Predicate, ...]
    rule_numeric: tuple[bool, ...]  # the rule's condition tests a number
    rule_veto: np.ndarray
    rule_add: np.ndarray
    rule_lean: np.ndarray  # R x 2: what each rule adds to the learned and traditional pulls
    prior_e2e: float
    prior_mod: float
    trace_e2e: bool
    trace_mod: bool
    modality_adj: np.ndarray
    req_min: np.ndarray
    req_trace: np.ndarray
    req_hard: np.ndarray
    penalty: float
    pattern_preds: tuple[Predicate | None, ...]
    pattern_numeric: tuple[bool, ...]
    pattern_share: np.ndarray
    pattern_trace: np.ndarray
    tie_order: np.ndarray
    # complexity, gain, floor, shortage, winner share
    hybrid_terms: tuple[float, float, float, float, float]
    data_shift: float = 0.0  # added to the data utility by a probe's measured accuracy gap
    evidence: Mapping[str, Any] = field(default_factory=dict)  # the pack's evidence by id
    # The categorical columns and their place values in a row's group key (see `evaluate`).
    group_key: tuple[slice | np.ndarray, np.ndarray] | None = None
    expl_tables: ExplainabilityTables = field(init=False)

    def __post_init__(self) -> None:
        tables = _explainability_tables(
            self.prior_e2e,
            self.prior_mod,
            self.trace_e2e,
            self.trace_mod,
            self.modality_adj,
            self.req_min,
            self.req_trace,
            self.req_hard,
            self.penalty,
            self.pattern_share,
            self.pattern_trace,
        )
        object.__setattr__(self, "expl_tables", tables)


def compile_pack(pack: RulePack) -> CompiledPack:
    """Compile a validated rule pack for vectorised evaluation."""
    space = FeatureSpace(tuple(r.id for r in pack.regimes))
    dims = pack.dimensions
    th = dims.data.thresholds
    ex = pack.explainability
    modality_adj = np.zeros(len(MODALITIES))
    for adj in ex.modality_adjustments:
        if adj.modality in MODALITIES:
            modality_adj[MODALITIES.index(adj.modality)] += adj.delta
    # A measured fidelity (advisor probe) replaces the end-to-end prior and its modality
    # adjustment; the method adjustment (relative to LIME, the method of both) applies to either.
    prior_e2e = ex.priors["end_to_end"].fidelity
    data_shift = 0.0
    if ex.measured is not None:
        prior_e2e = ex.measured.fidelity
        modality_adj[:] = 0.0
        if ex.probe is not None and ex.measured.accuracy_gap is not None:
            curve = ex.probe.accuracy_gap_curve
            data_shift = float(
                np.interp(ex.measured.accuracy_gap, [p[0] for p in curve], [p[1] for p in curve])
            )
    prior_e2e += sum(a.delta for a in ex.method_deltas())
    rule_veto = np.zeros((len(pack.rules), 3))
    rule_add = np.zeros((len(pack.rules), 3))
    rule_lean = np.zeros((len(pack.rules), 2))
    for i, rule in enumerate(pack.rules):
        if rule.effect.veto:
            rule_veto[i, OPTIONS.index(rule.effect.veto)] = 1.0
        for opt, v in (rule.effect.add or {}).items():
            rule_add[i, OPTIONS.index(opt)] = v
        lean = rule.effect.lean or 0.0
        rule_lean[i] = (max(lean, 0.0), max(-lean, 0.0))
    levels = EXPLAINABILITY_ORDER
    required: Mapping[Any, Any] = ex.requirements  # keyed by level name
    return CompiledPack(
        pack=pack,
        space=space,
        weights=np.array([dims.data.weight, dims.latency.weight, dims.regulation.weight]),
        scarce_log=np.log10([th[m].scarce for m in MODALITIES]),
        ample_log=np.log10([th[m].ample for m in MODALITIES]),
        stage_adj=_lookup(dims.data.stage_labels, LEVEL3_ORDER),
        cost_adj=_lookup(dims.data.labeling_cost, COST_ORDER),
        pretrained_shift=dims.data.pretrained_shift_decades,
        foundation_shift=dims.data.foundation_shift_decades,
        curve_x=np.log10([p[0] for p in dims.latency.curve]),
        curve_u=np.array([p[1] for p in dims.latency.curve]),
        crit_adj=_lookup(dims.regulation.criticality, CRITICALITY_ORDER),
        expl_adj=_lookup(dims.regulation.explainability, levels),
        floor_steps=np.array(
            [
                [levels.index(r.explainability_floor) >= step for step in range(1, len(levels))]
                for r in pack.regimes
            ],
            dtype=float,
        ).reshape(len(pack.regimes), len(levels) - 1),
        rule_preds=tuple(compile_condition(r.when, space) for r in pack.rules),
        rule_numeric=tuple(tests_numbers(r.when) for r in pack.rules),
        rule_veto=rule_veto,
        rule_add=rule_add,
        rule_lean=rule_lean,
        prior_e2e=prior_e2e,
        prior_mod=ex.priors["modular"].fidelity,
        trace_e2e=ex.priors["end_to_end"].traceable,
        trace_mod=ex.priors["modular"].traceable,
        modality_adj=modality_adj,
        req_min=np.array([required[lv].min_fidelity for lv in levels]),
        req_trace=np.array([required[lv].traceability for lv in levels]),
        req_hard=np.array([required[lv].hard for lv in levels]),
        penalty=ex.penalty_per_point,
        pattern_preds=tuple(
            compile_condition(p.when, space) if p.when is not None else None for p in pack.patterns
        ),
        pattern_numeric=tuple(p.when is not None and tests_numbers(p.when) for p in pack.patterns),
        pattern_share=np.array([p.interpretable_share for p in pack.patterns]),
        pattern_trace=np.array([p.traceable for p in pack.patterns]),
        tie_order=np.array([OPTIONS.index(o) for o in pack.tie_break]),
        hybrid_terms=(
            pack.hybrid_score.complexity_cost,
            pack.hybrid_score.conflict_gain,
            pack.hybrid_score.conflict_floor,
            pack.hybrid_score.shortage_cost,
            pack.hybrid_score.winner_share,
        ),
        data_shift=data_shift,
        evidence=pack.evidence_by_id(),
        group_key=_group_radix(space),
    )


@dataclass(frozen=True)
class Stack:
    """The numbers of K variants of one compiled pack, stacked (K first), for `evaluate` to
    score each row under its own variant in one call. Variants share the pack's structure
    (rules, conditions, patterns, regimes); only numbers differ."""

    weights: np.ndarray  # K x 3
    scarce_log: np.ndarray  # K x modalities
    ample_log: np.ndarray
    stage_adj: np.ndarray  # K x 3
    cost_adj: np.ndarray  # K x 3
    shifts: np.ndarray  # K x 2: pretrained, foundation (decades)
    curve_u: np.ndarray  # K x curve points (the budgets `curve_x` are shared)
    crit_adj: np.ndarray  # K x 4
    expl_adj: np.ndarray  # K x 4
    rule_lean: np.ndarray  # K x R x 2
    hybrid: np.ndarray  # K x 4: complexity, gain, floor, shortage
    meets_pattern: np.ndarray  # K x keys x patterns
    meets_code: np.ndarray  # K x keys: the same as bits (`ExplainabilityTables.meets_code`)
    numbers: np.ndarray  # 3 kinds x (K * keys * patterns) x 3 options: variant k's key at
    flags: np.ndarray  # k * (keys * patterns) + key (`ExplainabilityTables`)


def stack(packs: tuple[CompiledPack, ...]) -> Stack:
    """Give the stacked numbers of a pack's variants (`packs[0]` is any of them)."""
    return Stack(
        weights=np.stack([p.weights for p in packs]),
        scarce_log=np.stack([p.scarce_log for p in packs]),
        ample_log=np.stack([p.ample_log for p in packs]),
        stage_adj=np.stack([p.stage_adj for p in packs]),
        cost_adj=np.stack([p.cost_adj for p in packs]),
        shifts=np.array([[p.pretrained_shift, p.foundation_shift] for p in packs]),
        curve_u=np.stack([p.curve_u for p in packs]),
        crit_adj=np.stack([p.crit_adj for p in packs]),
        expl_adj=np.stack([p.expl_adj for p in packs]),
        rule_lean=np.stack([p.rule_lean for p in packs]),
        hybrid=np.array([p.hybrid_terms for p in packs]),
        meets_pattern=np.stack([p.expl_tables.meets_pattern for p in packs]),
        meets_code=np.stack([p.expl_tables.meets_code for p in packs]),
        numbers=np.concatenate([p.expl_tables.numbers for p in packs], axis=1),
        flags=np.concatenate([p.expl_tables.flags for p in packs], axis=1),
    )


_own_cache: dict[int, tuple[Stack, CompiledPack, Stack]] = {}
#: The stack's tables laid out kind first (variants along their second axis).
_BY_KIND = ("numbers", "flags")
_own_lock = threading.Lock()


def _with_own(cp: CompiledPack, variants: Stack) -> Stack:
    # The stack with the pack's own numbers as entry 0 (built once per stack).
    with _own_lock:
        hit = _own_cache.get(id(variants))
        if hit is not None and hit[0] is variants and hit[1] is cp:
            return hit[2]
        own = stack((cp,))
        joined = Stack(
            **{
                f.name: np.concatenate(
                    [getattr(own, f.name), getattr(variants, f.name)],
                    axis=1 if f.name in _BY_KIND else 0,
                )
                for f in fields(Stack)
            }
        )
        _own_cache[id(variants)] = (variants, cp, joined)
        while len(_own_cache) > 64:
            del _own_cache[next(iter(_own_cache))]
        return joined


_lean_cache: dict[int, tuple[Stack, np.ndarray]] = {}


def _lean_rules(variants: Stack) -> np.ndarray:
    # The rules with a lean in some variant of a stack (found once per stack).
    with _own_lock:
        hit = _lean_cache.get(id(variants))
        if hit is not None and hit[0] is variants:
            return hit[1]
        rules = np.flatnonzero(np.abs(variants.rule_lean).sum(axis=(0, 2)) > 0)
        _lean_cache[id(variants)] = (variants, rules)
        while len(_lean_cache) > 64:
            del _lean_cache[next(iter(_lean_cache))]
        return rules


@dataclass(frozen=True)
class Rows:
    """A block of `n` feature rows that `fill(out)` writes where the engine reads them when the
    batch runs (`out`: an n x width float view, column by column in memory), instead of rows
    built first and copied."""

    n: int
    fill: Callable[[np.ndarray], None]


class Batch:
    """Blocks of rows to score together: each block under the pack's own numbers or under its
    variants (one `Stack` for the whole batch).

    `add` gives a block's number; `run` scores every block, in two engine calls at most (the
    blocks under the pack's own numbers, then those under variants: the pack's own numbers need
    no per-row lookups); then `result(block)` gives that block's `Scores`. Scoring rows together
    gives each row exactly what a call of its own would.
    """

    def __init__(self, cp: CompiledPack, variants: Stack | None = None) -> None:
        self.cp = cp
        self.variants = variants
        self._blocks: list[tuple[np.ndarray | Rows, np.ndarray | None]] = []
        self._where: list[tuple[int, int, int]] = []  # (call, start, end) per block
        self._evs: list[Scores | None] = []

    def add(self, rows: np.ndarray | Rows, variant: np.ndarray | None = None) -> int:
        """Queue feature rows (n x width, or a `Rows` block that writes them), each under
        `variant` (indices into the batch's stack; -1: the pack's own numbers), or all under
        the pack's own numbers when None; give the block's number."""
        if not isinstance(rows, Rows):
            rows = np.atleast_2d(rows)
        if variant is not None:
            variant = np.asarray(variant, dtype=np.intp)
            if len(variant) and variant.max() < 0:
                variant = None
        self._blocks.append((rows, variant))
        self._evs = []
        return len(self._blocks) - 1

    def run(self) -> None:
        """Score every queued row."""
        self._where = []
        self._evs = []
        groups: list[list[int]] = [[], []]
        for b, (_, variant) in enumerate(self._blocks):
            groups[0 if variant is None or self.variants is None else 1].append(b)
        self._where = [(0, 0, 0)] * len(self._blocks)
        for call, members in enumerate(groups):
            if not members:
                self._evs.append(None)
                continue
            at = 0
            for b in members:
                block = self._blocks[b][0]
                n = block.n if isinstance(block, Rows) else len(block)
                self._where[b] = (call, at, at + n)
                at += n
            # Column by column in memory (Fortran order): the engine reads whole columns, and
            # a column of a C-order matrix of thousands of rows is a strided walk through it.
            x = np.empty((at, self.cp.space.width), order="F")
            for b in members:
                block = self._blocks[b][0]
                _, start, end = self._where[b]
                if isinstance(block, Rows):
                    block.fill(x[start:end])
                else:
                    x[start:end] = block
            if call == 0:
                self._evs.append(score(x, self.cp))
            else:
                parts = [self._blocks[b][1] for b in members]
                variant = np.concatenate([p for p in parts if p is not None])
                self._evs.append(score(x, self.cp, self.variants, variant))

    def result(self, block: int) -> Scores:
        """Give the `Scores` of one block (running the batch first if need be)."""
        if not self._evs:
            self.run()
        call, a, b = self._where[block]
        ev = self._evs[call]
        assert ev is not None
        return Scores(effective=ev.effective[a:b], choice=ev.choice[a:b])


def _interp_rows(x: np.ndarray, xp: np.ndarray, table: np.ndarray, v: np.ndarray) -> np.ndarray:
    # np.interp with one curve per row (row i: table[v[i]]): piecewise linear in x, flat
    # beyond the ends. The two points each row needs are gathered by one flat index each.
    j = _clip(np.searchsorted(xp, x, side="right"), 1, len(xp) - 1)
    x0, x1 = xp[j - 1], xp[j]
    t = _clip((x - x0) / (x1 - x0), 0.0, 1.0)
    at = v * table.shape[1] + j
    flat = table.ravel()
    return np.asarray(flat[at - 1] * (1.0 - t) + flat[at] * t)


@dataclass(frozen=True)
class Evaluation:
    """The engine's arrays for n profiles (options in `fields.OPTIONS` order)."""

    utilities: np.ndarray  # n x 3: data, latency, regulation in [-1, 1]
    pulls: np.ndarray  # n x 3: learned, traditional, shortage (see `evaluate`)
    required: np.ndarray  # n: effective explainability level index
    fired: np.ndarray  # n x R rules fired
    base: np.ndarray  # n x 3 option scores from the dimensions alone
    rule_adjust: np.ndarray  # n x 3 score added by rules
    fidelity: np.ndarray  # n x 3 explanation fidelity estimate
    traceable: np.ndarray  # n x 3
    meets: np.ndarray  # n x 3 meets the explainability requirement
    gap: np.ndarray  # n x 3 fidelity short of the requirement
    expl_penalty: np.ndarray  # n x 3 soft-requirement penalty
    expl_veto: np.ndarray  # n x 3 vetoed by a hard explainability requirement
    rule_veto: np.ndarray  # n x 3 vetoed by a rule
    pattern: np.ndarray  # n: index of the hybrid pattern
    raw: np.ndarray  # n x 3 score before vetoes
    effective: np.ndarray  # n x 3 score with vetoed options at VETO_SCORE
    choice: np.ndarray  # n: index into OPTIONS

    @property
    def vetoed(self) -> np.ndarray:
        """Give n x 3 flags: the option is ruled out."""
        return np.asarray(self.expl_veto | self.rule_veto)


@dataclass(frozen=True)
class Scores:
    """What most engine calls read of n profiles (`score`): the same arrays as `Evaluation`'s."""

    effective: np.ndarray  # n x 3 score with vetoed options at VETO_SCORE
    choice: np.ndarray  # n: index into OPTIONS


def columns(x: np.ndarray, cp: CompiledPack, required: np.ndarray) -> Columns:
    """Give the named column views of a feature matrix, with the derived required level."""
    base = len(BASE_COLUMNS)
    cols: Columns = {name: x[:, i] for i, name in enumerate(BASE_COLUMNS)}
    cols["regimes"] = x[:, base:]
    cols["required"] = required
    return cols


def data_window(
    cp: CompiledPack,
    modality: np.ndarray,
    stage: np.ndarray,
    cost: np.ndarray,
    pretrained: np.ndarray,
    foundation: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Give, per row, the data utility's window under the pack's own numbers: the log10 pair
    counts at which it reaches -1 (lo) and +1 (hi), after the shift a pretrained backbone or a
    foundation model gives; the stage-label and labelling-cost adjustment; and the shift itself.

    Args: the rows' modality, stage-label and labelling-cost codes, and 0/1 pretrained and
    foundation flags (arrays of one length).
    """
    shift = np.maximum(pretrained * cp.pretrained_shift, foundation * cp.foundation_shift)
    lo = cp.scarce_log[modality] - shift
    hi = cp.ample_log[modality] - shift
    labels = cp.stage_adj[stage] + cp.cost_adj[cost]
    return lo, hi, labels, shift


def latency_thresholds(cp: CompiledPack) -> tuple[float, float]:
    """Give the budget (ms) under which latency favours end-to-end, and the one from which it
    argues for neither side (a pipeline is tolerated; the curve has reached 0 or below)."""
    th = cp.pack.favour_threshold
    xs, us = cp.curve_x[::-1], cp.curve_u[::-1]
    return float(10 ** np.interp(th, us, xs)), float(10 ** np.interp(0.0, us, xs))


def evaluate(
    x: np.ndarray,
    cp: CompiledPack,
    variants: Stack | None = None,
    variant: np.ndarray | None = None,
) -> Evaluation:
    """Score every row of a feature matrix.

    Args:
        x: n x width feature matrix (see `FeatureSpace`).
        cp: the compiled rule pack.
        variants: the stacked numbers of the pack's variants (`stack`); None: the pack's own.
        variant: with `variants`, the variant each row is scored under (n indices).

    Returns:
        The `Evaluation` of all rows.
    """
    out = _evaluate(x, cp, variants, variant, full=True)
    assert isinstance(out, Evaluation)
    return out


def score(
    x: np.ndarray,
    cp: CompiledPack,
    variants: Stack | None = None,
    variant: np.ndarray | None = None,
) -> Scores:
    """Give the effective scores and the choice of every row (as `evaluate` with the same
    arguments gives them), without the arrays that only explain them: the Monte Carlo samples,
    a Shapley game's coalitions and the counterfactual search need no more."""
    out = _evaluate(x, cp, variants, variant, full=False)
    assert isinstance(out, Scores)
    return out


def _evaluate(
    x: np.ndarray,
    cp: CompiledPack,
    variants: Stack | None,
    variant: np.ndarray | None,
    full: bool,
) -> Evaluation | Scores:
    # Speed (numpy, per row): whole columns, one dimension or option at a time. An n x 3 array
    # broadcast against 3 numbers runs an inner loop of 3, several times slower than the same
    # arithmetic on three columns; np.take gathers rows several times faster than indexing.
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[0]
    sp = cp.space
    # Rows at variant -1 take the pack's own numbers (a mixed call): the stack gets the pack
    # itself in front, and those rows the pack's own interpolation and rule leans below, so
    # each row scores exactly as it would in a call of its own kind.
    own: np.ndarray | None = None
    others = np.zeros(0, dtype=np.intp)
    if variants is not None and variant is not None:
        variant = np.asarray(variant, dtype=np.intp)
        if n and variant.min() < 0:
            variants = _with_own(cp, variants)
            variant = variant + 1
            own = np.flatnonzero(variant == 0)
            others = np.flatnonzero(variant != 0)
    v = variant if variants is not None and variant is not None else None
    vt = variants if v is not None else None

    # Rows that differ only in their numbers (a Monte Carlo block, a counterfactual grid, much
    # of a Shapley game) share everything computed from the categorical columns: it is
    # computed once per distinct combination of them (a group), and each row takes its
    # group's results.
    first, inverse = _groups(x, cp)
    xg = x[first] if inverse is not None else x

    def spread(a: np.ndarray) -> np.ndarray:
        # Per row, its group's value (a is per group along its last axis).
        return a if inverse is None else np.take(a, inverse, axis=-1)

    modality_g = xg[:, sp.col("modality")].astype(int)
    stage_g = xg[:, sp.col("stage_labels")].astype(int)
    cost_g = xg[:, sp.col("labeling_cost")].astype(int)
    crit_g = xg[:, sp.col("criticality")].astype(int)
    pretrained_g = xg[:, sp.col("pretrained")]
    foundation_g = xg[:, sp.col("foundation")]
    paired = x[:, sp.col("paired_log")]
    latency = x[:, sp.col("latency_log")]
    # Contiguous once: every regime condition and the floor multiply it (a strided view would
    # be copied by each product).
    bits = np.ascontiguousarray(xg[:, len(BASE_COLUMNS) :])
    # The highest floor among the regimes present, as a count of the level steps some present
    # regime reaches (a matrix product: a max along a short axis is slow in numpy).
    floor = ((bits @ cp.floor_steps) > 0.5).sum(axis=1)
    required_g = np.maximum(xg[:, sp.col("explainability")], floor)
    req_g = required_g.astype(int)
    required = spread(required_g)

    # Data: linear in log10(pairs) between the modality's scarce and ample thresholds, which a
    # pretrained backbone or a foundation model that already does the task lowers.
    # Every number below is the pack's own or, with `variants`, each row's variant's.
    if vt is None:
        lo_g, hi_g, labels_g, _ = data_window(
            cp, modality_g, stage_g, cost_g, pretrained_g, foundation_g
        )
        lo, width, labels = spread(lo_g), spread(hi_g - lo_g), spread(labels_g)
        u_reg = spread(_clip(cp.crit_adj[crit_g] + cp.expl_adj[req_g], -1.0, 1.0))
    else:
        assert v is not None
        modality, stage, cost = spread(modality_g), spread(stage_g), spread(cost_g)
        shift = np.maximum(
            spread(pretrained_g) * np.take(vt.shifts[:, 0], v),
            spread(foundation_g) * np.take(vt.shifts[:, 1], v),
        )
        lo = _at(vt.scarce_log, v, modality) - shift
        width = (_at(vt.ample_log, v, modality) - shift) - lo
        labels = _at(vt.stage_adj, v, stage) + _at(vt.cost_adj, v, cost)
        u_reg = _clip(
            _at(vt.crit_adj, v, spread(crit_g)) + _at(vt.expl_adj, v, spread(req_g)), -1.0, 1.0
        )
    u_data = _clip(-1.0 + 2.0 * (paired - lo) / width, -1.0, 1.0)
    u_data = _clip(u_data + labels + cp.data_shift, -1.0, 1.0)
    if vt is None:
        u_lat = np.interp(latency, cp.curve_x, cp.curve_u)
    else:
        assert v is not None
        if own is None:
            u_lat = _interp_rows(latency, cp.curve_x, vt.curve_u, v)
        else:
            u_lat = np.empty(n)
            u_lat[others] = _interp_rows(latency[others], cp.curve_x, vt.curve_u, v[others])
            u_lat[own] = np.interp(latency[own], cp.curve_x, cp.curve_u)
    u = _side_by_side(u_data, u_lat, u_reg) if full else None

    cols = columns(x, cp, required)
    group_cols = columns(xg, cp, required_g)
    group_cols["regimes"] = bits
    # One row per rule, filled in place (a stack of columns then a cast cost twice as much);
    # grouped, the rules that test only categories are taken to the rows in one gather.
    if inverse is None:
        f = np.empty((len(cp.rule_preds), n))
        for i, numeric in enumerate(cp.rule_numeric):
            f[i] = cp.rule_preds[i](cols if numeric else group_cols)
    else:
        fg = np.zeros((len(cp.rule_preds), len(xg)))
        for i, numeric in enumerate(cp.rule_numeric):
            if not numeric:
                fg[i] = cp.rule_preds[i](group_cols)
        f = np.take(fg, inverse, axis=1)
        for i, numeric in enumerate(cp.rule_numeric):
            if numeric:
                f[i] = cp.rule_preds[i](cols)
    fired = f.T > 0.5 if full else None
    rule_adjust = f.T @ cp.rule_add
    rule_veto = (f.T @ cp.rule_veto) > 0.5
    if vt is None:
        lean = f.T @ cp.rule_lean
        lean_l, lean_t = lean[:, 0], lean[:, 1]
    else:
        assert v is not None
        # Only the rules that lean in some variant add anything: their terms, summed in rule
        # order (with at most two leaning rules, as in the default pack, any order gives the
        # same sum).
        picked = slice(None) if own is None else others
        vv = v[picked]
        parts = [np.zeros(len(vv)), np.zeros(len(vv))]
        for r in _lean_rules(vt):
            fr = f[r][picked]
            for side in (0, 1):
                parts[side] += fr * np.take(vt.rule_lean[:, r, side], vv)
        if own is None:
            lean_l, lean_t = parts
        else:
            lean = f.T @ cp.rule_lean  # the pack's own leans, kept on its own rows
            lean[others, 0] = parts[0]
            lean[others, 1] = parts[1]
            lean_l, lean_t = lean[:, 0], lean[:, 1]

    # Three pulls, each a weighted sum of the dimensions' arguments (weights sum to 1):
    #   learned      the reasons for a learned core (ample data, a tight budget, rule leans);
    #   traditional  the reasons for traditional modules other than data (regulation,
    #                explanations, safety, stages updated or certified on their own);
    #   shortage     the shortage of paired data, which argues against any learned core.
    # End-to-end and modular split one unit by the net pull, so end-to-end's margin over
    # modular is sum_d weight_d * u_d plus the leans: monotone in every input. Hybrid answers a
    # real conflict only: it scores below both pure options' midpoint unless both a learned and
    # a traditional pull exceed the floor.
    terms: list[Any]
    if vt is None:
        w: list[Any] = [float(c) for c in cp.weights]
        terms = list(cp.hybrid_terms)
    else:
        assert v is not None
        w = [np.take(vt.weights[:, d], v) for d in range(3)]
        terms = [np.take(vt.hybrid[:, t], v) for t in range(5)]
    complexity, gain, floor_, short, share = terms
    pos = [np.maximum(ud, 0.0) * wd for ud, wd in zip((u_data, u_lat, u_reg), w, strict=True)]
    neg = [np.maximum(-ud, 0.0) * wd for ud, wd in zip((u_data, u_lat, u_reg), w, strict=True)]
    learned = pos[0] + pos[1] + pos[2] + lean_l
    traditional = neg[1] + neg[2] + lean_t
    shortage = neg[0]
    net = learned - traditional - shortage
    s_e2e = _clip((1.0 + net) / 2.0, 0.0, 1.0)
    s_mod = _clip((1.0 - net) / 2.0, 0.0, 1.0)
    conflict = np.maximum(np.minimum(learned, traditional) - floor_, 0.0)
    # Hybrid keeps a share of the winning side's lead (it can put that side's kind of stage
    # where it matters), so a conflict still decides for hybrid when one side is far ahead.
    s_hyb = 0.5 - complexity + share * np.abs(net) / 2.0 + gain * conflict - short * shortage
    s_hyb = _clip(s_hyb, 0.0, 1.0)
    pulls = _side_by_side(learned, traditional, shortage) if full else None
    base = _side_by_side(s_e2e, s_mod, s_hyb)

    # Explainability depends on the row only through (modality, required level, pattern): look
    # it up in the pack's tables (`ExplainabilityTables`) instead of computing it per row.
    et = cp.expl_tables
    key = spread(modality_g * et.levels + req_g)
    # Which patterns apply, as bits (pattern j: bit j): the categorical conditions per group,
    # the ones that test a number per row, each ORed in as a shifted 0/1 (a ufunc masked by
    # where= runs several times slower). The pattern is the first applicable one that meets the
    # requirement, else the first applicable one, else the first.
    applicable_g = np.zeros(len(xg), dtype=np.int64)
    for j, p in enumerate(cp.pattern_preds):
        if p is None:
            applicable_g |= np.int64(1) << j
        elif not cp.pattern_numeric[j]:
            np.bitwise_or(applicable_g, p(group_cols).astype(np.int64) << j, out=applicable_g)
    applicable = spread(applicable_g)  # (applicable_g itself when ungrouped: not read again)
    for j, p in enumerate(cp.pattern_preds):
        if p is not None and cp.pattern_numeric[j]:
            np.bitwise_or(applicable, p(cols).astype(np.int64) << j, out=applicable)
    if vt is None:
        meets = np.take(et.meets_code, key)
    else:
        assert v is not None
        meets = _at(vt.meets_code, v, key)
    good = applicable & meets
    pattern = _lowest_bit(np.where(good != 0, good, applicable))
    full_key = key * et.patterns + pattern
    if vt is None:
        numbers, flags, at = et.numbers, et.flags, full_key
    else:
        # One flat index into the stacked tables: cheaper than a pair of index arrays.
        assert v is not None
        numbers, flags, at = vt.numbers, vt.flags, v * et.numbers.shape[1] + full_key
    expl_penalty = np.take(numbers[2], at, axis=0)
    expl_veto = np.take(flags[2], at, axis=0)

    # (Arrays of one shape and layout: numpy runs each operation as one flat loop.)
    raw = base + rule_adjust
    raw -= expl_penalty
    np.maximum(raw, _RAW_FLOOR, out=raw)
    effective = np.where(expl_veto | rule_veto, VETO_SCORE, raw)
    # Ties go to the pack's tie-break order: argmax takes the first maximum.
    a, b, c = (effective[:, i] for i in cp.tie_order)
    choice = np.where(
        (a >= b) & (a >= c), cp.tie_order[0], np.where(b >= c, cp.tie_order[1], cp.tie_order[2])
    )
    if not full:
        return Scores(effective=effective, choice=choice)
    assert u is not None and pulls is not None and fired is not None
    return Evaluation(
        utilities=u,
        pulls=pulls,
        required=required,
        fired=fired,
        base=base,
        rule_adjust=rule_adjust,
        fidelity=np.take(numbers[0], at, axis=0),
        traceable=np.take(flags[0], at, axis=0),
        meets=np.take(flags[1], at, axis=0),
        gap=np.take(numbers[1], at, axis=0),
        expl_penalty=expl_penalty,
        expl_veto=expl_veto,
        rule_veto=rule_veto,
        pattern=pattern,
        raw=raw,
        effective=effective,
        choice=choice,
    )


def _clip(a: np.ndarray, low: Any, high: Any) -> np.ndarray:
    # np.clip's arithmetic (its documented definition) without its argument checks, which cost
    # several times the operation on the few rows of most calls.
    return np.asarray(np.minimum(np.maximum(a, low), high))


def _side_by_side(*cols: np.ndarray) -> np.ndarray:
    # np.stack(cols, axis=1), written column by column (cheaper on few rows).
    out = np.empty((len(cols[0]), len(cols)))
    for j, c in enumerate(cols):
        out[:, j] = c
    return out


def _at(table: np.ndarray, v: np.ndarray, index: np.ndarray) -> np.ndarray:
    # table[v, index] for a 2-D table, by one flat index (cheaper than a pair of index arrays).
    return np.asarray(np.take(table.ravel(), v * table.shape[1] + index))


def _lowest_bit(codes: np.ndarray) -> np.ndarray:
    # The position of each code's lowest set bit (0 for a code of 0): frexp of the bit alone
    # gives its exponent exactly (codes of up to `rulepack.MAX_PATTERNS` bits).
    low = (codes & -codes).astype(float)
    return np.asarray(np.maximum(np.frexp(low)[1] - 1, 0), dtype=np.intp)


#: Rows below which grouping them costs more than it saves.
_GROUP_FROM = 32


def _groups(x: np.ndarray, cp: CompiledPack) -> tuple[np.ndarray, np.ndarray | None]:
    # Runs of rows with one combination of the categorical columns, and each row's run (None:
    # every row its own, for few rows, a key too wide to be exact, or runs too short to pay).
    # Runs need no sort, and the rows the engine is given come in runs: a Monte Carlo block is
    # one, a batch's samples one per project, a Shapley game's coalitions a few rows each.
    if len(x) < _GROUP_FROM or cp.group_key is None:
        return np.arange(len(x)), None
    cols, places = cp.group_key
    key = x[:, cols] @ places
    change = key[1:] != key[:-1]
    starts = np.flatnonzero(change) + 1
    if 2 * (len(starts) + 1) > len(x):
        return np.arange(len(x)), None
    first = np.concatenate([[0], starts])
    # Each run's number repeated over its rows (np.cumsum of the changes runs slower).
    inverse = np.repeat(np.arange(len(first)), np.diff(first, append=len(x)))
    return first, inverse


def margin(ev: Evaluation, first: int, second: int) -> np.ndarray:
    """Give the effective score of option `first` minus option `second`, per row."""
    return np.asarray(ev.effective[:, first] - ev.effective[:, second])


def runner_up(ev: Evaluation, cp: CompiledPack) -> np.ndarray:
    """Give, per row, the best option other than the chosen one (ties: the pack's tie-break
    order, as for the choice)."""
    masked = ev.effective.copy()
    masked[np.arange(len(ev.choice)), ev.choice] = -np.inf
    return np.asarray(cp.tie_order[masked[:, cp.tie_order].argmax(axis=1)])
