"""Stage 6a: confidence under uncertain inputs, by Monte Carlo with a fixed seed.

Takes a requirements' point feature row, the numeric fields as given (number or range) and the
compiled pack; gives the share of samples that end in each option. Ranges are sampled
log-uniformly across them; plain numbers across the pack's default spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .fields import OPTIONS, log_ms, log_pairs
from .requirements import Range, Requirements
from .scoring import CompiledPack, evaluate


def _bounds(value: float | Range, spread: float) -> tuple[float, float]:
    if isinstance(value, Range):
        return value.low, value.high
    return value / spread, value * spread


def sample_matrix(req: Requirements, x: np.ndarray, cp: CompiledPack) -> np.ndarray:
    """Give the Monte Carlo feature matrix: `x` repeated, numeric columns sampled."""
    unc = cp.pack.uncertainty
    rng = np.random.default_rng(unc.seed)
    n = unc.samples
    xs = np.repeat(x[None, :], n, axis=0)
    sp = cp.space
    pairs_lo, pairs_hi = _bounds(
        req.data.paired_examples, unc.default_spread["data.paired_examples"]
    )
    lat_lo, lat_hi = _bounds(req.latency.budget_ms, unc.default_spread["latency.budget_ms"])
    # Sampling in the engine's own log scales is sampling log-uniformly in the raw units.
    xs[:, sp.col("paired_log")] = rng.uniform(log_pairs(pairs_lo), log_pairs(pairs_hi), n)
    xs[:, sp.col("latency_log")] = rng.uniform(log_ms(lat_lo), log_ms(lat_hi), n)
    return xs


def probabilities(req: Requirements, x: np.ndarray, cp: CompiledPack) -> dict[str, float]:
    """Give each option's share of the Monte Carlo samples, rounded to 4 decimals."""
    ev = evaluate(sample_matrix(req, x, cp), cp)
    counts = np.bincount(ev.choice, minlength=3)
    total = float(counts.sum())
    return {opt: round(float(counts[i]) / total, 4) for i, opt in enumerate(OPTIONS)}


def describe_inputs(req: Requirements, cp: CompiledPack) -> dict[str, str]:
    """Give, per numeric field, how it was sampled (for the report)."""
    spread: Mapping[Any, float] = cp.pack.uncertainty.default_spread  # keyed by field path
    out: dict[str, str] = {}
    for path, value in (
        ("data.paired_examples", req.data.paired_examples),
        ("latency.budget_ms", req.latency.budget_ms),
    ):
        if isinstance(value, Range):
            out[path] = f"range given: log-uniform over [{value.low:g}, {value.high:g}]"
        else:
            f = spread[path]
            out[path] = (
                f"default uncertainty (an assumption): log-uniform over "
                f"[{value / f:.4g}, {value * f:.4g}] (x/÷ {f:g})"
            )
    return out


def entropy(probs: dict[str, float]) -> float:
    """Give the Shannon entropy of a distribution in bits (0 = certain)."""
    return -sum(p * math.log2(p) for p in probs.values() if p > 0)
