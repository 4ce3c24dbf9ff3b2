"""Stage 6a: confidence under uncertainty, by Monte Carlo with a fixed seed, and what to find
out next.

Takes a requirements' point feature row (or many) and the compiled pack; gives the share of
joint samples that end in each option. A sample draws the project's uncertain inputs (numeric
ranges log-uniformly, plain numbers across the pack's default spread, unsure answers by their
weights) and one of the pack's variants (its assumed numbers drawn from their intervals,
`uncertainty.parameters`). The same draws also give the confidence from the inputs alone and from
the pack alone. `value_of_information` gives, per uncertain input and per pack assumption, the
probability that learning its true value changes the recommendation.

Every sample uses fixed columns of one uniform matrix (one column per input and one for the
pack variant), so fixing an input leaves every other draw as it was.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, OPTIONS
from ._requirements import (
    DEFAULT_EXPLAINABILITY,
    EXPLAINABILITY_ORDER,
    Range,
    Requirements,
)
from ._scoring import Batch, CompiledPack, Rows, Stack, score, stack

#: Choice fields that may be given as unsure (`{one_of: ...}`), each with its own uniform column.
CHOICE_FIELDS = tuple(
    path
    for path, kind in CONDITION_FIELDS.items()
    if kind.kind in ("ordinal", "nominal", "bool") and not path.startswith("derived.")
)
#: The uniform columns: one per numeric field (in registry order), the variant, then the choices.
_NUMBERS = tuple(CONDITION_FIELDS[p] for p in NUMERIC_FIELDS)
_VARIANT = len(_NUMBERS)
_COLUMNS = _VARIANT + 1 + len(CHOICE_FIELDS)
_BLOCK_ROWS = 1 << 12  # rows per engine call in batch: bounded memory, and in cache


def _uniforms(seed: int, total: int) -> np.ndarray:
    with _lock:
        hit = _uniform_cache.get((seed, total))
        if hit is None:
            hit = np.random.default_rng(seed).random((total, _COLUMNS))
            hit.setflags(write=False)
            _uniform_cache[(seed, total)] = hit
            while len(_uniform_cache) > 8:
                del _uniform_cache[next(iter(_uniform_cache))]
        return hit


_uniform_cache: dict[tuple[int, int], np.ndarray] = {}
_variant_cache: dict[int, tuple[CompiledPack, tuple[CompiledPack, ...], Stack]] = {}
_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# The pack's variants


def _apply(cp: CompiledPack, values: Mapping[str, float]) -> CompiledPack:
    # One variant: each named number replaced, then the orders the pack's validator demands
    # restored (curves and regulation utilities never rise with the budget or strictness).
    arrays = {
        name: np.array(getattr(cp, name), dtype=float)
        for name in (
            "weights",
            "curve_u",
            "crit_adj",
            "expl_adj",
            "stage_adj",
            "cost_adj",
            "scarce_log",
            "ample_log",
            "rule_lean",
        )
    }
    scalars: dict[str, Any] = {}
    hybrid = list(cp.hybrid_terms)
    rule_ids = [r.id for r in cp.pack.rules]
    for name, v in values.items():
        head, _, rest = name.partition(".")
        if head == "weights":
            arrays["weights"][("data", "latency", "regulation").index(rest)] = v
        elif head == "latency":
            i = int(rest.rsplit(".", 1)[1])
            if i < len(arrays["curve_u"]):
                arrays["curve_u"][i] = v
        elif head == "regulation":
            table, level = rest.split(".")
            key = "crit_adj" if table == "criticality" else "expl_adj"
            order = (
                ("non_critical", "business_critical", "regulated", "safety_critical")
                if table == "criticality"
                else tuple(EXPLAINABILITY_ORDER)
            )
            arrays[key][order.index(level)] = v
        elif rest.startswith(("stage_labels.", "labeling_cost.")):
            table, level = rest.split(".")
            order = (
                ("none", "partial", "full")
                if table == "stage_labels"
                else ("low", "medium", "high")
            )
            arrays["stage_adj" if table == "stage_labels" else "cost_adj"][order.index(level)] = v
        elif rest == "thresholds_shift":
            arrays["scarce_log"] = arrays["scarce_log"] + v
            arrays["ample_log"] = arrays["ample_log"] + v
        elif rest in ("pretrained_shift_decades", "foundation_shift_decades"):
            scalars[rest.replace("_decades", "")] = v
        elif head == "hybrid":
            hybrid[
                (
                    "complexity_cost",
                    "conflict_gain",
                    "conflict_floor",
                    "shortage_cost",
                    "winner_share",
                ).index(rest)
            ] = v
        elif name == "explainability.end_to_end_fidelity":
            base = cp.pack.explainability.priors["end_to_end"].fidelity
            if cp.pack.explainability.measured is None:
                scalars["prior_e2e"] = cp.prior_e2e + (v - base)
        elif head == "rules":
            rule = rest.rsplit(".", 1)[0]
            if rule in rule_ids:
                arrays["rule_lean"][rule_ids.index(rule)] = (max(v, 0.0), max(-v, 0.0))
    base_sum = float(np.sum(cp.weights))
    w = np.maximum(arrays["weights"], 0.0)
    if w.sum() > 0:
        arrays["weights"] = w * (base_sum / w.sum())
    for key in ("curve_u", "crit_adj", "expl_adj"):
        arrays[key] = np.minimum.accumulate(np.clip(arrays[key], -1.0, 1.0))
    changes: dict[str, Any] = {**arrays, **scalars}
    return dataclasses.replace(
        cp, **changes, hybrid_terms=(hybrid[0], hybrid[1], hybrid[2], hybrid[3], hybrid[4])
    )


def variants(cp: CompiledPack) -> tuple[CompiledPack, ...]:
    """Give the pack's variants (the base pack itself when it states no interval)."""
    return _variants(cp)[0]


def stacked(cp: CompiledPack) -> Stack:
    """Give the pack's variants' numbers stacked for one engine call (`scoring.stack`)."""
    return _variants(cp)[1]


def _variants(cp: CompiledPack) -> tuple[tuple[CompiledPack, ...], Stack]:
    with _lock:
        hit = _variant_cache.get(id(cp))
        if hit is not None and hit[0] is cp:
            return hit[1], hit[2]
    unc = cp.pack.uncertainty
    if not unc.parameters:
        out: tuple[CompiledPack, ...] = (cp,)
    else:
        rng = np.random.default_rng(unc.seed + 1)
        names = sorted(unc.parameters)
        draws = rng.random((unc.pack_variants, len(names)))
        out = tuple(
            _apply(
                cp,
                {
                    n: unc.parameters[n][0] + (unc.parameters[n][1] - unc.parameters[n][0]) * d
                    for n, d in zip(names, row, strict=True)
                },
            )
            for row in draws
        )
    st = stack(out)
    with _lock:
        _variant_cache[id(cp)] = (cp, out, st)
        while len(_variant_cache) > 64:
            del _variant_cache[next(iter(_variant_cache))]
    return out, st


# ---------------------------------------------------------------------------------------------
# Samples of the inputs


def _bounds(value: float | Range, spread: float) -> tuple[float, float]:
    if isinstance(value, Range):
        return value.low, value.high
    return value / spread, value * spread


def _log_bounds(req: Requirements, cp: CompiledPack) -> np.ndarray:
    # Row 0: the lowest value of each numeric field on its scale; row 1: the highest.
    spread: Mapping[Any, float] = cp.pack.uncertainty.default_spread  # keyed by field path
    ends = [_bounds(f.stored(req), spread.get(f.path, 1.0)) for f in _NUMBERS]
    return np.array(
        [[f.transform(e[end]) for f, e in zip(_NUMBERS, ends, strict=True)] for end in (0, 1)]
    )


def _choice_codes(req: Requirements) -> list[tuple[int, str, np.ndarray, np.ndarray]]:
    # Per unsure field: its uniform column, feature column, cumulative weights and codes.
    out = []
    for path, dist in req.unsure().items():
        if path not in CHOICE_FIELDS:
            continue
        kind = CONDITION_FIELDS[path]
        codes = np.array([kind.encode(v) for v in dist])
        out.append(
            (
                _VARIANT + 1 + CHOICE_FIELDS.index(path),
                kind.column,
                np.cumsum(list(dist.values())),
                codes,
            )
        )
    return out


def _fill_choices(xs: np.ndarray, req: Requirements, cp: CompiledPack, u: np.ndarray) -> None:
    # Write one project's unsure answers into its sample rows, by their weights.
    sp = cp.space
    for col, column, cum, codes in _choice_codes(req):
        pick = np.minimum(np.searchsorted(cum, u[:, col] * cum[-1], side="right"), len(codes) - 1)
        xs[:, sp.col(column)] = codes[pick]
    if not req.explainability_given() and "regulation.criticality" in req.unsure():
        # The default explainability follows the sampled criticality.
        order = ("non_critical", "business_critical", "regulated", "safety_critical")
        table = np.array([EXPLAINABILITY_ORDER.index(DEFAULT_EXPLAINABILITY[c]) for c in order])
        xs[:, sp.col("explainability")] = table[xs[:, sp.col("criticality")].astype(int)]


def _fill(xs: np.ndarray, req: Requirements, cp: CompiledPack, u: np.ndarray) -> None:
    # Write one project's sampled columns into xs (rows = samples), in the engine's scales.
    sp = cp.space
    lo, hi = _log_bounds(req, cp)
    for i, f in enumerate(_NUMBERS):
        xs[:, sp.col(f.column)] = lo[i] + (hi[i] - lo[i]) * u[:, i]
    _fill_choices(xs, req, cp, u)


def _choices(xs: np.ndarray, variant: np.ndarray, cp: CompiledPack) -> np.ndarray:
    # The engine's answer per row, each row under its pack variant (one call per variant).
    packs, st = _variants(cp)
    if len(packs) == 1:
        return np.asarray(score(xs, cp).choice)
    return np.asarray(score(xs, cp, st, variant).choice)


def _variant_index(u: np.ndarray, cp: CompiledPack) -> np.ndarray:
    k = len(variants(cp))
    return np.minimum((u[:, _VARIANT] * k).astype(np.intp), k - 1)


def _shares(choice: np.ndarray) -> dict[str, float]:
    counts = np.bincount(choice, minlength=3)
    total = float(counts.sum())
    return {opt: round(float(counts[i]) / total, 4) for i, opt in enumerate(OPTIONS)}


def probabilities(req: Requirements, x: np.ndarray, cp: CompiledPack) -> dict[str, float]:
    """Give each option's share of the joint samples (inputs and pack), to 4 decimals."""
    return split(req, x, cp)["joint"]


def point_answers(x: np.ndarray, cp: CompiledPack) -> np.ndarray:
    """Give the answer at one feature row under each of the pack's variants."""
    k = len(variants(cp))
    return _choices(np.repeat(x[None, :], k, axis=0), np.arange(k), cp)


def split(req: Requirements, x: np.ndarray, cp: CompiledPack) -> dict[str, dict[str, float]]:
    """Give each option's share of the samples: `joint` (inputs and pack together), `inputs`
    (the project's uncertain inputs, the pack as it is) and `pack` (the pack's assumptions,
    the inputs at their point values)."""
    batch = Batch(cp, batch_stack(cp))
    done = _request_split(req, x, cp, batch, _request_points(x, cp, batch))
    batch.run()
    return done()


def _mc_variant(cp: CompiledPack, index: np.ndarray) -> np.ndarray:
    # A sample's pack in `batch_stack(cp)`: its variant, or the pack's own numbers (-1) when
    # the pack states no interval (its only variant is itself).
    if len(variants(cp)) == 1:
        return np.full(len(index), -1, dtype=np.intp)
    return index


def _request_points(x: np.ndarray, cp: CompiledPack, batch: Batch) -> int:
    # The point row under each of the pack's variants (`point_answers`), queued.
    k = len(variants(cp))
    return batch.add(np.repeat(x[None, :], k, axis=0), _mc_variant(cp, np.arange(k)))


def _request_split(
    req: Requirements, x: np.ndarray, cp: CompiledPack, batch: Batch, points: int
) -> Callable[[], dict[str, dict[str, float]]]:
    # Queue the samples of `split` (with the point answers' block); give what finishes it.
    unc = cp.pack.uncertainty
    u = _uniforms(unc.seed, unc.samples)

    def samples(out: np.ndarray) -> None:
        out[:] = x
        _fill(out, req, cp, u)

    variant = _variant_index(u, cp)
    # Written where the engine reads them (twice: once per engine call), not built and copied.
    joint = batch.add(Rows(unc.samples, samples), _mc_variant(cp, variant))
    inputs = batch.add(Rows(unc.samples, samples))

    def done() -> dict[str, dict[str, float]]:
        return {
            "joint": _shares(np.asarray(batch.result(joint).choice)),
            "inputs": _shares(np.asarray(batch.result(inputs).choice)),
            "pack": _shares(np.asarray(batch.result(points).choice)[variant]),
        }

    return done


Figures = tuple[dict[str, dict[str, float]], list[dict[str, Any]]]


def request_figures(
    req: Requirements,
    given: Mapping[str, Any],
    x: np.ndarray,
    cp: CompiledPack,
    rec: int,
    batch: Batch,
) -> Callable[[], Figures]:
    """Queue on `batch` (built with `batch_stack(cp)`) every row of one assessment's
    uncertainty figures; give what finishes them once the batch has run: the shares of `split`
    and the items of `value_of_information` followed by those of `probe_sensitivity`, each
    exactly as those functions give them."""
    points = _request_points(x, cp, batch)
    shares = _request_split(req, x, cp, batch, points)
    voi = _request_information(req, given, x, cp, rec, batch, points)
    probe = _request_probe(x, cp, rec, batch)
    return lambda: (shares(), voi() + probe())


def probabilities_many(
    reqs: Sequence[Requirements], x: np.ndarray, cp: CompiledPack, samples: int | None = None
) -> np.ndarray:
    """Give each row's joint shares per option (n x 3, to 4 decimals), vectorised.

    The samples are the first `samples` of the stream `probabilities` uses, so with the pack's
    full count each row equals a single assessment's exactly.
    """
    n = len(reqs)
    lo = np.empty((n, len(_NUMBERS)))
    hi = np.empty((n, len(_NUMBERS)))
    for i, r in enumerate(reqs):
        lo[i], hi[i] = _log_bounds(r, cp)
    return _probabilities(lo, hi, x, cp, samples, reqs)


def log_bounds_many(
    low: np.ndarray, high: np.ndarray, ranged: np.ndarray, cp: CompiledPack
) -> tuple[np.ndarray, np.ndarray]:
    """Give the sampled inputs' bounds on the engine's scales, many rows at once, as
    `_log_bounds` gives one row's: one column per numeric field, in registry order
    (`fields.NUMERIC_FIELDS`).

    Args:
        low, high: n x fields, a range's ends, or the figure itself in both for a plain number.
        ranged: n x fields, True where the input is a range (a plain figure takes the pack's
            default spread).
    """
    spread: Mapping[Any, float] = cp.pack.uncertainty.default_spread  # keyed by field path
    s = np.array([spread.get(f.path, 1.0) for f in _NUMBERS])
    lo_v = np.where(ranged, low, low / s)
    hi_v = np.where(ranged, high, high * s)
    lo = np.empty(lo_v.shape)
    hi = np.empty(hi_v.shape)
    # On each field's scale by the field itself, value by value (math.log10, as for one row).
    for j, f in enumerate(_NUMBERS):
        lo[:, j] = f.transform_many(lo_v[:, j].tolist())
        hi[:, j] = f.transform_many(hi_v[:, j].tolist())
    return lo, hi


def probabilities_bounds(
    lo: np.ndarray, hi: np.ndarray, x: np.ndarray, cp: CompiledPack, samples: int | None = None
) -> np.ndarray:
    """`probabilities_many` for rows without unsure answers, from their log bounds
    (`log_bounds_many`) instead of their requirements: the same samples, the same shares."""
    return _probabilities(lo, hi, x, cp, samples, None)


def _probabilities(
    lo: np.ndarray,
    hi: np.ndarray,
    x: np.ndarray,
    cp: CompiledPack,
    samples: int | None,
    reqs: Sequence[Requirements] | None,
) -> np.ndarray:
    unc = cp.pack.uncertainty
    k = max(1, min(samples or unc.samples, unc.samples))
    u = _uniforms(unc.seed, unc.samples)[:k]
    variant = _variant_index(u, cp)
    n = len(x)
    span = hi - lo
    number_cols = [cp.space.col(f.column) for f in _NUMBERS]
    counts = np.zeros((n, 3))
    step = max(1, _BLOCK_ROWS // k)
    for a in range(0, n, step):
        b = min(n, a + step)
        xs = np.repeat(x[a:b], k, axis=0)
        for j, col in enumerate(number_cols):
            xs[:, col] = (lo[a:b, j : j + 1] + span[a:b, j : j + 1] * u[None, :, j]).ravel()
        if reqs is not None:
            for i in range(a, b):
                if reqs[i].unsure():
                    _fill_choices(xs[(i - a) * k : (i - a + 1) * k], reqs[i], cp, u)
        choice = _choices(xs, np.tile(variant, b - a), cp).reshape(b - a, k)
        for o in range(3):
            counts[a:b, o] = (choice == o).sum(axis=1)
    return np.round(counts / float(k), 4)


# ---------------------------------------------------------------------------------------------
# What to find out next


#: Resolution points of a numeric input: the midpoints of this many equal-probability bins.
NUMERIC_POINTS = 8


def _candidates(
    req: Requirements, given: Mapping[str, Any], cp: CompiledPack
) -> list[tuple[str, str, list[tuple[float, dict[str, float]]]]]:
    # Per uncertain input: (field, how it is uncertain, [(probability, fixed columns)]).
    from ._fields import get_path

    out = []
    lo, hi = _log_bounds(req, cp)
    mids = (np.arange(NUMERIC_POINTS) + 0.5) / NUMERIC_POINTS
    for i, f in enumerate(_NUMBERS):
        path, column, value = f.path, f.column, f.stored(req)
        how = "a range" if isinstance(value, Range) else "a figure with the default spread"
        points = lo[i] + (hi[i] - lo[i]) * mids
        out.append((path, how, [(1.0 / NUMERIC_POINTS, {column: float(p)}) for p in points]))
    unsure = req.unsure()
    for path in CHOICE_FIELDS:
        kind = CONDITION_FIELDS[path]
        dist: dict[Any, float]
        if path in unsure:
            dist = unsure[path]
            how = "an unsure answer"
        elif get_path(dict(given), path) is None and path != "regulation.explainability":
            dist = (
                {c: 1.0 / len(kind.choices) for c in kind.choices}
                if kind.choices
                else {False: 0.5, True: 0.5}
            )
            how = "a default the file did not give"
        else:
            continue
        opts = []
        for choice, w in dist.items():
            code = kind.encode(choice if kind.kind != "bool" else bool(choice))
            fixed = {kind.column: code}
            if path == "regulation.criticality" and not req.explainability_given():
                crit = ("non_critical", "business_critical", "regulated", "safety_critical")[
                    int(code)
                ]
                fixed["explainability"] = float(
                    EXPLAINABILITY_ORDER.index(DEFAULT_EXPLAINABILITY[crit])
                )
            opts.append((float(w), fixed))
        out.append((path, how, opts))
    return out


def value_of_information(
    req: Requirements, given: Mapping[str, Any], x: np.ndarray, cp: CompiledPack, rec: int
) -> list[dict[str, Any]]:
    """Give, per uncertain input and per pack assumption, the probability that learning its
    true value changes the recommendation, largest first.

    An input is resolved to each of its possible values (a numeric one to the midpoints of
    `NUMERIC_POINTS` equal-probability bins of its range or spread; an unsure answer to each
    choice by its weight; a default the file did not give to each choice equally) with every
    other input at its point value, as a re-run with that value would assess it. A pack
    assumption is resolved to each of its variants' values the same way. One engine call for
    all of it.
    """
    batch = Batch(cp, batch_stack(cp))
    done = _request_information(req, given, x, cp, rec, batch, _request_points(x, cp, batch))
    batch.run()
    return done()


def _request_information(
    req: Requirements,
    given: Mapping[str, Any],
    x: np.ndarray,
    cp: CompiledPack,
    rec: int,
    batch: Batch,
    points: int,
) -> Callable[[], list[dict[str, Any]]]:
    # Queue the rows of `value_of_information`; give what finishes it.
    cands = _candidates(req, given, cp)
    rows: list[np.ndarray] = []
    owner: list[tuple[int, float]] = []
    for j, (_, _, opts) in enumerate(cands):
        for w, fixed in opts:
            row = x.copy()
            for column, value in fixed.items():
                row[cp.space.col(column)] = value
            rows.append(row)
            owner.append((j, w))
    block = batch.add(np.stack(rows)) if rows else -1

    def done() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if rows:
            choice = np.asarray(batch.result(block).choice)
            changes = [0.0] * len(cands)
            answers: list[dict[str, float]] = [{} for _ in cands]
            for (j, w), c in zip(owner, choice, strict=True):
                if int(c) != rec:
                    changes[j] += w
                answers[j][OPTIONS[int(c)]] = answers[j].get(OPTIONS[int(c)], 0.0) + w
            for j, (path, how, _) in enumerate(cands):
                out.append(
                    {
                        "input": path,
                        "kind": "input",
                        "uncertainty": how,
                        "probability": round(min(changes[j], 1.0), 4),
                        "answers": {k: round(v, 4) for k, v in sorted(answers[j].items())},
                    }
                )
        # The pack's assumptions: each variant's answer at the point input, per parameter group.
        if len(variants(cp)) > 1:
            answers_k = np.asarray(batch.result(points).choice)
            out.append(
                {
                    "input": "rule pack assumptions",
                    "kind": "pack",
                    "uncertainty": f"{len(answers_k)} variants of the pack's assumed numbers",
                    "probability": round(float((answers_k != rec).mean()), 4),
                    "answers": _shares(answers_k),
                }
            )
        out.sort(key=lambda d: (-d["probability"], d["input"]))
        return out

    return done


_prior_cache: dict[int, tuple[CompiledPack, tuple[CompiledPack, ...], Stack]] = {}
_batch_cache: dict[int, tuple[CompiledPack, Stack]] = {}


def _prior_packs(cp: CompiledPack) -> tuple[tuple[CompiledPack, ...], Stack]:
    # The pack with its end-to-end prior at five points from its low to its high end, and
    # their numbers stacked (built once per compiled pack).
    with _lock:
        hit = _prior_cache.get(id(cp))
        if hit is not None and hit[0] is cp:
            return hit[1], hit[2]
    prior = cp.pack.explainability.priors["end_to_end"]
    packs = tuple(
        dataclasses.replace(cp, prior_e2e=cp.prior_e2e + (float(p) - prior.fidelity))
        for p in np.linspace(prior.low, prior.high, 5)
    )
    st = stack(packs)
    with _lock:
        _prior_cache[id(cp)] = (cp, packs, st)
        while len(_prior_cache) > 64:
            del _prior_cache[next(iter(_prior_cache))]
    return packs, st


def batch_stack(cp: CompiledPack) -> Stack:
    """Give the numbers of every pack an assessment's figures score rows under, stacked: the
    pack's variants (`variants`), then the five points of its end-to-end prior
    (`probe_sensitivity`), so that one `Batch` holds all of them."""
    with _lock:
        hit = _batch_cache.get(id(cp))
        if hit is not None and hit[0] is cp:
            return hit[1]
    st = stack(variants(cp) + _prior_packs(cp)[0])
    with _lock:
        _batch_cache[id(cp)] = (cp, st)
        while len(_batch_cache) > 64:
            del _batch_cache[next(iter(_batch_cache))]
    return st


def probe_sensitivity(x: np.ndarray, cp: CompiledPack, rec: int) -> list[dict[str, Any]]:
    """Give, when the end-to-end explainability estimate drives the answer, the share of its
    interval (five points from its low to its high end) that changes the recommendation, as an
    item that suggests measuring it with `advisor probe`; else nothing."""
    batch = Batch(cp, batch_stack(cp))
    done = _request_probe(x, cp, rec, batch)
    batch.run()
    return done()


def _request_probe(
    x: np.ndarray, cp: CompiledPack, rec: int, batch: Batch
) -> Callable[[], list[dict[str, Any]]]:
    # Queue the five prior points of `probe_sensitivity`; give what finishes it.
    ex = cp.pack.explainability
    if ex.measured is not None:
        return lambda: []
    prior = ex.priors["end_to_end"]
    block = batch.add(np.repeat(x[None, :], 5, axis=0), len(variants(cp)) + np.arange(5))

    def done() -> list[dict[str, Any]]:
        answers = np.asarray(batch.result(block).choice)
        changed = float((answers != rec).mean())
        if changed == 0.0:
            return []
        return [
            {
                "input": "explainability.end_to_end",
                "kind": "probe",
                "uncertainty": f"an estimate: fidelity {prior.low:.2f}-{prior.high:.2f}",
                "probability": round(changed, 4),
                "answers": _shares(answers),
            }
        ]

    return done


def describe_inputs(req: Requirements, cp: CompiledPack) -> dict[str, str]:
    """Give, per uncertain field, how it was sampled (for the report)."""
    spread: Mapping[Any, float] = cp.pack.uncertainty.default_spread  # keyed by field path
    out: dict[str, str] = {}
    for number in _NUMBERS:
        path, value = number.path, number.stored(req)
        if isinstance(value, Range):
            out[path] = f"range given: log-uniform over [{value.low:g}, {value.high:g}]"
        else:
            f = spread.get(path, 1.0)
            out[path] = (
                f"default uncertainty (an assumption): log-uniform over "
                f"[{value / f:.4g}, {value * f:.4g}] (x/÷ {f:g})"
            )
    for path, dist in req.unsure().items():
        shown = ", ".join(f"{_name(v)} {w:.0%}" for v, w in dist.items())
        out[path] = f"unsure answer: {shown} (explained at the most likely value)"
    return out


def _name(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def entropy(probs: dict[str, float]) -> float:
    """Give the Shannon entropy of a distribution in bits (0 = certain)."""
    return -sum(p * math.log2(p) for p in probs.values() if p > 0)
