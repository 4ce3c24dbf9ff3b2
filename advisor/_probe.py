"""`advisor probe`: measure explainability on a tabular sample of the project's own data.

Takes a `Table` (column names and cells; the CLI reads CSV or Parquet into one) or arrays; gives
a `ProbeResult`: an interpretable model and a black box trained with scikit-learn, their held-out
accuracy (or R2) with bootstrap intervals, the LIME-style local-surrogate fidelity of the black
box (the analogue of the 65% in the 2025 article on end-to-end trade-offs), and the stability of
its SHAP attributions across bootstrap retrains. Pure: no files and no printing (progress goes
to a callback). scikit-learn and shap are imported inside the functions that need them, so
importing this module for `ProbeResult` is cheap.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ._errors import InputError
from ._version import __version__

Task = Literal["classification", "regression"]
Progress = Callable[[str], None]

MIN_ROWS = 50
MIN_PER_CLASS = 2
MAX_CLASSES = 50
MAX_LEVELS = 20
#: Above this many features, local surrogates pick theirs by weighted covariance, not a full fit.
WIDE = 200
#: Cells read as missing values (compared lower-cased, stripped).
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


# --------------------------------------------------------------------------------------------
# The result (probe.json)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Interval(_M):
    """A figure with its interval (a 95% bootstrap interval unless said otherwise)."""

    value: float
    low: float
    high: float


class ModelReport(_M):
    model: str
    metric: Literal["accuracy", "r2"]
    test: Interval
    rank_stability: Interval = Field(
        description="Rank correlation of the model's top feature importances across bootstrap "
        "retrains: mean, and the lowest and highest pair."
    )


class EncodedColumn(_M):
    column: str
    levels: list[str]
    other: bool = Field(description="Rarer levels were grouped as '(other)'.")


class DroppedColumn(_M):
    column: str
    reason: str


class FeatureImportance(_M):
    feature: str
    mean_abs_shap: float


class DataReport(_M):
    source: str
    sha256: str = Field(description="sha256 of the prepared feature matrix and target.")
    rows_read: int
    rows_used: int
    target: str
    task: Task
    task_note: str
    classes: list[str]
    features: list[str]
    numeric: list[str]
    encoded: list[EncodedColumn]
    dropped: list[DroppedColumn]


class SplitReport(_M):
    test_fraction: float
    train_rows: int
    test_rows: int
    stratified: bool


class SurrogateReport(_M):
    method: str
    agreement: Interval
    local_r2_median: float
    points: int
    perturbations: int
    radius: float
    kernel_width: float
    top_k: int
    tolerance: float | None


class StabilityReport(_M):
    method: str
    rank_correlation: Interval
    top_k_overlap: float
    retrains: int
    eval_rows: int
    top_k: int
    top_features: list[FeatureImportance]


class ProbeSettings(_M):
    """How the probe ran; every field has a default and is recorded in probe.json."""

    seed: int = Field(default=0, ge=0)
    test_fraction: float = Field(default=0.25, gt=0.05, lt=0.6)
    interpretable: Literal["linear", "tree"] = "linear"
    black_box_iterations: int = Field(default=100, ge=10, le=2000)
    bootstrap: int = Field(default=1000, ge=100, le=20000)
    points: int = Field(default=200, ge=10, le=5000)
    perturbations: int = Field(default=500, ge=50, le=20000)
    radius: float = Field(default=1.0, gt=0, le=10)
    top_k: int = Field(default=10, ge=1, le=100)
    tolerance: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Regression: a surrogate agrees when within this share of the target's "
        "standard deviation.",
    )
    repeats: int = Field(default=5, ge=2, le=100)
    eval_rows: int = Field(default=200, ge=10, le=5000)
    max_rows: int = Field(default=20000, ge=MIN_ROWS)


class ProbeResult(_M):
    """What `advisor probe` measured: the content of probe.json."""

    schema_version: Literal[1] = 1
    kind: Literal["advisor-probe"] = "advisor-probe"
    advisor_version: str
    data: DataReport
    split: SplitReport
    interpretable: ModelReport
    black_box: ModelReport
    accuracy_gap: Interval = Field(
        description="Black box minus interpretable model on the same test rows (accuracy or R2 "
        "points), with a paired bootstrap interval."
    )
    surrogate: SurrogateReport
    stability: StabilityReport
    settings: ProbeSettings
    notes: list[str]

    def to_json(self) -> str:
        """Give the canonical JSON text (sorted keys, two-space indent, trailing newline)."""
        from ._canonical import canonical_json

        return canonical_json(self.model_dump(mode="json")) + "\n"

    def sha256(self) -> str:
        """Give the sha256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Data preparation


@dataclass(frozen=True)
class Table:
    """A table as read from a file: column names and one list of cells per column."""

    source: str
    columns: list[str]
    cells: list[list[Any]]
    rows_read: int

    @property
    def rows(self) -> int:
        """Give the number of rows held."""
        return len(self.cells[0]) if self.cells else 0


@dataclass(frozen=True)
class Dataset:
    """Numeric features and a target, ready to train on."""

    x: np.ndarray
    y: np.ndarray
    task: Task
    feature_names: list[str]
    classes: list[str] = field(default_factory=list)
    report: DataReport | None = None


def _err(source: str, column: str | None, text: str) -> InputError:
    where = f"column '{column}': " if column is not None else ""
    return InputError(f"{source}: {where}{text}")


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and v.strip().lower() in MISSING


def _as_numbers(cells: list[Any]) -> np.ndarray | None:
    """Give the cells as floats, or None when any is not a number (missing cells give NaN)."""
    if any(isinstance(v, bool) for v in cells[:1000]):
        return None
    try:
        return np.asarray(cells, dtype=float)
    except (TypeError, ValueError):
        pass
    out = np.empty(len(cells))
    for i, v in enumerate(cells):
        if _missing(v):
            out[i] = np.nan
            continue
        if isinstance(v, bool):
            return None
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            return None
    return out


def _stray_text(cells: list[Any]) -> tuple[int, str] | None:
    """Give the first non-number of a column that is at least 95% numbers, else None."""
    bad: tuple[int, str] | None = None
    count = 0
    for i, v in enumerate(cells):
        try:
            float(v)
        except (TypeError, ValueError):
            count += 1
            if bad is None:
                bad = (i, _label(v))
            if count > 0.05 * len(cells):
                return None
    return bad


def _missing_rows(cells: list[Any], numbers: np.ndarray | None) -> list[int]:
    if numbers is not None:
        return [int(i) for i in np.flatnonzero(~np.isfinite(numbers))]
    return [i for i, v in enumerate(cells) if _missing(v)]


def _label(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).strip()


def _check_missing(table: Table, columns: list[int], parsed: dict[int, np.ndarray | None]) -> None:
    bad: list[tuple[str, int, int]] = []
    for j in columns:
        rows = _missing_rows(table.cells[j], parsed[j])
        if rows:
            bad.append((table.columns[j], len(rows), rows[0] + 1))
    if bad:
        name, count, first = bad[0]
        more = f" ({len(bad) - 1} more column(s) have them too)" if len(bad) > 1 else ""
        kind = "missing or non-finite values"
        raise _err(
            table.source,
            name,
            f"{count} {kind} (first at data row {first}); fill or drop them before probing{more}",
        )


#: Numbers larger than this (in magnitude) cannot be standardised or fitted: their squares and
#: sums overflow to infinity (1e308 is a valid float; its square is not).
MAX_MAGNITUDE = 1e100


def _check_magnitude(source: str, column: str, values: np.ndarray) -> None:
    big = np.flatnonzero(np.abs(values) > MAX_MAGNITUDE)
    if len(big):
        first = int(big[0])
        raise _err(
            source,
            column,
            f"{len(big)} value(s) larger than {MAX_MAGNITUDE:g} in "
            f"magnitude (first at data row {first + 1}: {values[first]:g}); no model can "
            "be fitted on them: rescale the column (a log, or other units)",
        )


def prepare(table: Table, target: str, task: Task | None = None) -> Dataset:
    """Turn a table into numeric features and a target.

    Numeric columns are kept as they are; other columns are one-hot encoded (the
    `MAX_LEVELS - 1` most frequent levels, the rest grouped as '(other)'); constant columns and
    text columns where most values are distinct (identifiers, free text) are dropped. Every
    choice is recorded in the result's `report`.

    Args:
        table: the table as read.
        target: the column to predict.
        task: classification or regression; inferred from the target when None.

    Returns:
        The dataset.

    Raises:
        InputError: one line naming the file and the column: a missing target, too few rows,
            missing values, a constant or unsuitable target, no feature columns.
    """
    src = table.source
    if len(table.columns) < 2:
        raise _err(
            src,
            None,
            "not a table with a header row and at least two columns "
            f"(found {len(table.columns)} column)",
        )
    if target not in table.columns:
        hint = difflib.get_close_matches(target, table.columns, n=1)
        shown = ", ".join(table.columns[:12]) + (", ..." if len(table.columns) > 12 else "")
        extra = f"did you mean '{hint[0]}'? " if hint else ""
        raise _err(src, target, f"not found; {extra}columns are: {shown}")
    n = table.rows
    if n < MIN_ROWS:
        raise _err(src, None, f"{n} data rows; the probe needs at least {MIN_ROWS}")
    parsed = {j: _as_numbers(cells) for j, cells in enumerate(table.cells)}
    t = table.columns.index(target)
    _check_missing(table, [t] + [j for j in range(len(table.columns)) if j != t], parsed)

    y_num = parsed[t]
    y_cells = table.cells[t]
    distinct = set(y_num.tolist()) if y_num is not None else {_label(v) for v in y_cells}
    if len(distinct) < 2:
        only = _label(next(iter(distinct))) if distinct else ""
        raise _err(
            src, target, f"the target is constant ('{only}' in every row); nothing to predict"
        )
    if task is None:
        if y_num is None:
            task, note = "classification", "inferred: the target is not numeric"
        elif len(distinct) <= 10 and all(float(v).is_integer() for v in distinct):
            task, note = "classification", f"inferred: {len(distinct)} distinct integer values"
        else:
            task, note = "regression", "inferred: a numeric target with many values"
    else:
        note = "given"
    classes: list[str] = []
    if task == "regression":
        if y_num is None:
            bad = next(i for i, v in enumerate(y_cells) if _as_numbers([v]) is None)
            raise _err(
                src,
                target,
                f"--task regression needs a numeric target (got "
                f"'{_label(y_cells[bad])}' at data row {bad + 1})",
            )
        y = y_num.astype(float)
        _check_magnitude(src, target, y)
    else:
        labels = [_label(v) for v in (y_num.tolist() if y_num is not None else y_cells)]
        counts = Counter(labels)
        if len(counts) > MAX_CLASSES:
            raise _err(
                src,
                target,
                f"{len(counts)} distinct values is too many classes (at most "
                f"{MAX_CLASSES}); use --task regression for a numeric target",
            )
        if y_num is not None:
            classes = sorted(counts, key=lambda c: float(c))
        else:
            classes = sorted(counts)
        rare = [c for c in classes if counts[c] < MIN_PER_CLASS]
        if rare:
            raise _err(
                src,
                target,
                f"class '{rare[0]}' has {counts[rare[0]]} row; every class "
                f"needs at least {MIN_PER_CLASS} (merge or drop rare classes)",
            )
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in labels], dtype=np.int64)

    columns: list[np.ndarray] = []
    names: list[str] = []
    numeric: list[str] = []
    encoded: list[EncodedColumn] = []
    dropped: list[DroppedColumn] = []
    for j, name in enumerate(table.columns):
        if j == t:
            continue
        nums = parsed[j]
        if nums is not None:
            if np.all(nums == nums[0]):
                dropped.append(DroppedColumn(column=name, reason="constant"))
                continue
            _check_magnitude(src, name, nums)
            columns.append(nums)
            names.append(name)
            numeric.append(name)
            continue
        labels = [_label(v) for v in table.cells[j]]
        stray = _stray_text(table.cells[j])
        if stray is not None:
            raise _err(
                src,
                name,
                f"not a number at data row {stray[0] + 1} ('{stray[1]}') in a "
                "column of numbers; fix or drop that value",
            )
        counts = Counter(labels)
        if len(counts) < 2:
            dropped.append(DroppedColumn(column=name, reason="constant"))
            continue
        if len(counts) > max(MAX_LEVELS, n // 2):
            dropped.append(
                DroppedColumn(
                    column=name,
                    reason=f"text with {len(counts)} distinct values in {n} rows (an identifier "
                    "or free text)",
                )
            )
            continue
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        other = len(ranked) > MAX_LEVELS
        keep = ranked[: MAX_LEVELS - 1] if other else ranked
        arr = np.array(labels, dtype=object)
        for level in keep:
            columns.append((arr == level).astype(float))
            names.append(f"{name}={level}")
        if other:
            columns.append((~np.isin(arr, keep)).astype(float))
            names.append(f"{name}=(other)")
        encoded.append(EncodedColumn(column=name, levels=list(keep), other=other))
    if not columns:
        raise _err(src, None, f"no usable feature columns besides the target '{target}'")
    x = np.column_stack(columns).astype(float)
    digest = hashlib.sha256()
    digest.update("\x1f".join(names).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    report = DataReport(
        source=src,
        sha256=digest.hexdigest(),
        rows_read=table.rows_read,
        rows_used=n,
        target=target,
        task=task,
        task_note=note,
        classes=classes,
        features=names,
        numeric=numeric,
        encoded=encoded,
        dropped=dropped,
    )
    return Dataset(x=x, y=y, task=task, feature_names=names, classes=classes, report=report)


# --------------------------------------------------------------------------------------------
# Metrics (pure numpy; the tests exercise them on known functions)


def _r(v: float, nd: int = 4) -> float:
    return round(float(v), nd) + 0.0


def _interval(value: float, samples: np.ndarray, level: float = 0.95) -> Interval:
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return Interval(value=_r(value), low=_r(min(lo, value)), high=_r(max(hi, value)))


def score(y: np.ndarray, pred: np.ndarray, task: Task) -> float:
    """Give accuracy (classification) or R2 (regression)."""
    if task == "classification":
        return float(np.mean(y == pred))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else 0.0


def bootstrap_scores(
    y: np.ndarray,
    preds: Sequence[np.ndarray],
    task: Task,
    rng: np.random.Generator,
    n_boot: int = 1000,
) -> np.ndarray:
    """Give n_boot x len(preds) scores of each prediction on the same resamples of the rows."""
    n = len(y)
    out = np.empty((n_boot, len(preds)))
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        yt = y[idx]
        for k, p in enumerate(preds):
            pt = p[idx]
            if task == "classification":
                out[start : start + b, k] = np.mean(yt == pt, axis=1)
            else:
                ss_res = np.sum((yt - pt) ** 2, axis=1)
                ss_tot = np.sum((yt - yt.mean(axis=1, keepdims=True)) ** 2, axis=1)
                out[start : start + b, k] = 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, np.inf)
    return out


def _weighted_ridge(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted ridge with intercept: x (p,s,k), y (p,s,c), w (p,s) -> coef, intercept."""
    w = w / w.mean(axis=1, keepdims=True)
    sw = w.sum(axis=1)[:, None]
    xm = np.einsum("ps,psk->pk", w, x) / sw
    ym = np.einsum("ps,psc->pc", w, y) / sw
    xc = x - xm[:, None, :]
    yc = y - ym[:, None, :]
    xw = xc * w[:, :, None]
    a = np.matmul(xw.transpose(0, 2, 1), xc) + alpha * np.eye(x.shape[2])[None]
    b = np.matmul(xw.transpose(0, 2, 1), yc)
    coef = np.linalg.solve(a, b)
    intercept = ym - np.einsum("pk,pkc->pc", xm, coef)
    return coef, intercept


def surrogate_fidelity(
    predict: Callable[[np.ndarray], np.ndarray],
    points: np.ndarray,
    *,
    task: Task,
    rng: np.random.Generator,
    perturbations: int = 500,
    radius: float = 1.0,
    top_k: int = 10,
    tolerance: float | None = None,
    alpha: float = 1.0,
    n_boot: int = 1000,
) -> SurrogateReport:
    """Measure how well LIME-style local surrogates reproduce a model around each point.

    Around each point, `perturbations` samples are drawn from a Gaussian of standard deviation
    `radius` (features are standardised) and weighted by LIME's exponential kernel of width
    0.75 * sqrt(d) * radius. A weighted ridge fit on all features picks the `top_k` with the
    largest coefficients; a sparse weighted ridge on those is the explanation. It is scored on
    fresh perturbations: for classification, the share (kernel-weighted) where the surrogate's
    class equals the model's; for regression, the share within `tolerance` of the model.

    Args:
        predict: the model: rows -> class probabilities (n x C) or predictions (n,).
        points: the points explained, in the model's (standardised) feature space.
        task: classification or regression.
        rng: the random generator (seeded by the caller).
        perturbations: samples per point, for the fit and again for the score.
        radius: the perturbations' standard deviation.
        top_k: the surrogate's number of features (LIME's default is 10).
        tolerance: regression only: the largest difference that counts as agreement.
        alpha: the ridge penalty (LIME's default is 1).
        n_boot: bootstrap resamples of the points for the interval.

    Returns:
        The agreement rate with its interval, and the median local R2 of the surrogates.
    """
    if task == "regression" and tolerance is None:
        raise ValueError("regression needs a tolerance")
    pts = np.atleast_2d(np.asarray(points, dtype=float))
    p_all, d = pts.shape
    k = min(top_k, d)
    width = 0.75 * math.sqrt(d) * radius
    agree = np.empty(p_all)
    local_r2 = np.empty(p_all)
    chunk = max(1, 3_000_000 // (perturbations * max(d, 1)))

    def model(z: np.ndarray) -> np.ndarray:
        out = np.asarray(predict(z.reshape(-1, d)), dtype=float)
        return out.reshape(z.shape[0], z.shape[1], -1)

    for start in range(0, p_all, chunk):
        x0 = pts[start : start + chunk]
        p = x0.shape[0]
        e_fit = rng.standard_normal((p, perturbations, d)) * radius
        e_new = rng.standard_normal((p, perturbations, d)) * radius
        y_fit = model(x0[:, None, :] + e_fit)
        y_new = model(x0[:, None, :] + e_new)
        y_0 = model(x0[:, None, :])[:, 0, :]
        w_fit = np.exp(-np.sum(e_fit**2, axis=2) / width**2)
        w_new = np.exp(-np.sum(e_new**2, axis=2) / width**2)
        if d <= WIDE:
            full, _ = _weighted_ridge(e_fit, y_fit, w_fit, alpha)
            strength = np.linalg.norm(full, axis=2)
            sel = np.argsort(-strength, axis=1, kind="stable")[:, :k]
        else:  # many (one-hot) features: a full fit is cubic in d, so first screen
            # 5k candidates by weighted covariance, then pick k of them by a ridge fit
            wn = w_fit / w_fit.sum(axis=1, keepdims=True)
            yc = y_fit - np.einsum("ps,psc->pc", wn, y_fit)[:, None, :]
            cov = np.linalg.norm(np.einsum("ps,psk,psc->pkc", wn, e_fit, yc), axis=2)
            cand = np.argsort(-cov, axis=1, kind="stable")[:, : min(d, 5 * k)]
            xc = np.take_along_axis(e_fit, cand[:, None, :], axis=2)
            part, _ = _weighted_ridge(xc, y_fit, w_fit, alpha)
            best = np.argsort(-np.linalg.norm(part, axis=2), axis=1, kind="stable")[:, :k]
            sel = np.take_along_axis(cand, best, axis=1)
        xs = np.take_along_axis(e_fit, sel[:, None, :], axis=2)
        coef, intercept = _weighted_ridge(xs, y_fit, w_fit, alpha)
        xn = np.take_along_axis(e_new, sel[:, None, :], axis=2)
        y_hat = np.einsum("psk,pkc->psc", xn, coef) + intercept[:, None, :]
        if task == "classification":
            hit = np.argmax(y_hat, axis=2) == np.argmax(y_new, axis=2)
            col = np.argmax(y_0, axis=1)
        else:
            hit = np.abs(y_hat[:, :, 0] - y_new[:, :, 0]) <= tolerance
            col = np.zeros(p, dtype=int)
        agree[start : start + p] = np.sum(w_new * hit, axis=1) / np.sum(w_new, axis=1)
        yh = np.take_along_axis(y_hat, col[:, None, None], axis=2)[:, :, 0]
        yt = np.take_along_axis(y_new, col[:, None, None], axis=2)[:, :, 0]
        wn = w_new / w_new.sum(axis=1, keepdims=True)
        ss_res = np.sum(wn * (yh - yt) ** 2, axis=1)
        mean = np.sum(wn * yt, axis=1, keepdims=True)
        ss_tot = np.sum(wn * (yt - mean) ** 2, axis=1)
        flat = ss_tot < 1e-12
        local_r2[start : start + p] = np.where(
            flat, np.where(ss_res < 1e-12, 1.0, 0.0), 1.0 - ss_res / np.where(flat, 1.0, ss_tot)
        )
    boot_idx = rng.integers(0, p_all, size=(n_boot, p_all))
    boot = agree[boot_idx].mean(axis=1)
    return SurrogateReport(
        method="LIME-style: Gaussian perturbations around each test point, exponential kernel, "
        f"top-{k} features by weighted ridge, sparse weighted ridge surrogate, scored on fresh "
        "perturbations",
        agreement=_interval(float(agree.mean()), boot),
        local_r2_median=_r(float(np.median(local_r2))),
        points=p_all,
        perturbations=perturbations,
        radius=_r(radius),
        kernel_width=_r(width),
        top_k=k,
        tolerance=None if tolerance is None else _r(tolerance, 6),
    )


def top_rank_correlation(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, float]:
    """Give the Spearman correlation of two importance vectors over the union of their top-k
    features, and the share of the top-k they share."""
    from scipy.stats import rankdata

    k = min(k, len(a))
    # Features with no importance at all (unused by a tree, say) are not "top" features.
    top_a = {i for i in np.argsort(-a, kind="stable")[:k].tolist() if a[i] > 0}
    top_b = {i for i in np.argsort(-b, kind="stable")[:k].tolist() if b[i] > 0}
    if not top_a and not top_b:
        return 1.0, 1.0
    union = sorted(top_a | top_b)
    overlap = len(top_a & top_b) / max(len(top_a), len(top_b))
    if len(union) < 2:
        return 1.0, overlap
    ra = rankdata(a[union])
    rb = rankdata(b[union])
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return (1.0 if np.array_equal(ra, rb) else 0.0), overlap
    return float(np.corrcoef(ra, rb)[0, 1]), overlap


def pairwise_stability(importances: Sequence[np.ndarray], k: int) -> tuple[Interval, float]:
    """Give the mean (lowest, highest) top-k rank correlation over all pairs, and mean overlap."""
    cors, overlaps = [], []
    for i in range(len(importances)):
        for j in range(i + 1, len(importances)):
            c, o = top_rank_correlation(importances[i], importances[j], k)
            cors.append(c)
            overlaps.append(o)
    arr = np.array(cors)
    return (
        Interval(value=_r(arr.mean()), low=_r(arr.min()), high=_r(arr.max())),
        _r(float(np.mean(overlaps))),
    )


# --------------------------------------------------------------------------------------------
# The probe


def _models(task: Task, settings: ProbeSettings, seed: int) -> tuple[Any, str, Any, str]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if settings.interpretable == "tree":
        cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
        inter = cls(max_depth=4, min_samples_leaf=10, random_state=seed)
        inter_name = "decision tree (depth 4, at least 10 rows a leaf)"
    elif task == "classification":
        inter = LogisticRegression(C=1.0, max_iter=5000)
        inter_name = "L2-regularised logistic regression (C=1) on standardised features"
    else:
        inter = Ridge(alpha=1.0)
        inter_name = "ridge regression (alpha=1) on standardised features"
    box_cls: Any = HistGradientBoostingRegressor
    if task == "classification":
        box_cls = HistGradientBoostingClassifier
    box = box_cls(
        max_iter=settings.black_box_iterations,
        learning_rate=0.1,
        early_stopping=False,
        random_state=seed,
    )
    box_name = (
        f"histogram gradient boosting ({settings.black_box_iterations} trees, 31 leaves each)"
    )
    return inter, inter_name, box, box_name


def _fit(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _importance_linear(model: Any, d: int) -> np.ndarray:
    if hasattr(model, "coef_"):
        coef: np.ndarray = np.abs(np.asarray(model.coef_, dtype=float)).reshape(-1, d)
        return np.asarray(coef.sum(axis=0), dtype=float)
    return np.asarray(model.feature_importances_, dtype=float)


def shap_importance(model: Any, x: np.ndarray) -> np.ndarray:
    """Give each feature's mean |SHAP| (TreeExplainer) over the rows, summed over classes."""
    import shap

    values = np.abs(np.asarray(shap.TreeExplainer(model).shap_values(x), dtype=float))
    mean: np.ndarray = values.mean(axis=0)
    if mean.ndim == 2:  # features x classes
        mean = mean.sum(axis=1)
    return mean


def _bootstrap_rows(y: np.ndarray, task: Task, rng: np.random.Generator) -> np.ndarray:
    if task == "regression":
        return rng.integers(0, len(y), size=len(y))
    parts = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        parts.append(rng.choice(members, size=len(members), replace=True))
    return np.sort(np.concatenate(parts))


def run_probe(
    data: Dataset,
    settings: ProbeSettings | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
) -> ProbeResult:
    """Train both models and measure the black box's explanations.

    Args:
        data: the prepared dataset (see `prepare`).
        settings: how to run; the defaults when None.
        progress: called with a short message before each long step.
        threads: native threads for scikit-learn (OpenMP, BLAS); None leaves them as they are.
            One is the default: on a busy 2-core machine two OpenMP threads were several
            times slower than one.

    Returns:
        The `ProbeResult` (deterministic for the same data and settings).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _run(data, settings or ProbeSettings(), progress or (lambda _msg: None))


def _run(data: Dataset, s: ProbeSettings, say: Progress) -> ProbeResult:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    report = data.report
    assert report is not None
    task = data.task
    rng = np.random.default_rng(s.seed)
    notes: list[str] = []
    stratify = data.y if task == "classification" else None
    idx = np.arange(len(data.y))
    try:
        tr, te = train_test_split(
            idx, test_size=s.test_fraction, random_state=s.seed, stratify=stratify
        )
    except ValueError:  # a class too small for a stratified split of this size
        tr, te = train_test_split(idx, test_size=s.test_fraction, random_state=s.seed)
        stratify = None
        notes.append("The test split is not stratified: some classes are too small.")
    tr, te = np.sort(tr), np.sort(te)
    scaler = StandardScaler().fit(data.x[tr])
    x_tr, x_te = scaler.transform(data.x[tr]), scaler.transform(data.x[te])
    y_tr, y_te = data.y[tr], data.y[te]
    d = x_tr.shape[1]

    inter, inter_name, box, box_name = _models(task, s, s.seed)
    say(f"training the interpretable model ({len(tr)} rows x {d} features)")
    _fit(inter, x_tr, y_tr)
    say("training the black box")
    _fit(box, x_tr, y_tr)
    p_inter, p_box = inter.predict(x_te), box.predict(x_te)
    say(f"bootstrap intervals ({s.bootstrap} resamples of {len(te)} test rows)")
    boots = bootstrap_scores(y_te, [p_inter, p_box], task, rng, s.bootstrap)
    s_inter, s_box = score(y_te, p_inter, task), score(y_te, p_box, task)
    metric: Literal["accuracy", "r2"] = "accuracy" if task == "classification" else "r2"

    n_points = min(s.points, len(te))
    chosen = np.sort(rng.choice(len(te), size=n_points, replace=False))
    say(f"local surrogates ({n_points} test points x {s.perturbations} perturbations, twice)")
    if task == "classification":
        predict = box.predict_proba
        tolerance = None
    else:
        predict = box.predict
        tolerance = s.tolerance * float(np.std(y_tr))
    surrogate = surrogate_fidelity(
        predict,
        x_te[chosen],
        task=task,
        rng=rng,
        perturbations=s.perturbations,
        radius=s.radius,
        top_k=s.top_k,
        tolerance=tolerance,
        n_boot=s.bootstrap,
    )

    eval_rows = x_te[np.sort(rng.choice(len(te), size=min(s.eval_rows, len(te)), replace=False))]
    say("SHAP attributions of the black box (TreeExplainer)")
    main_imp = shap_importance(box, eval_rows)
    box_imps, inter_imps = [], []
    for r in range(s.repeats):
        say(f"bootstrap retrain {r + 1}/{s.repeats}: black box and SHAP")
        rows = _bootstrap_rows(y_tr, task, rng)
        i_r, _, b_r, _ = _models(task, s, s.seed + r + 1)
        _fit(b_r, x_tr[rows], y_tr[rows])
        box_imps.append(shap_importance(b_r, eval_rows))
        _fit(i_r, x_tr[rows], y_tr[rows])
        inter_imps.append(_importance_linear(i_r, d))
    box_stab, overlap = pairwise_stability(box_imps, s.top_k)
    inter_stab, _ = pairwise_stability(inter_imps, s.top_k)
    order = np.argsort(-main_imp, kind="stable")[: min(s.top_k, d)]
    top = [
        FeatureImportance(feature=data.feature_names[i], mean_abs_shap=_r(main_imp[i], 6))
        for i in order
    ]
    if report.encoded:
        notes.append("One-hot encoded: " + ", ".join(e.column for e in report.encoded) + ".")
    if report.rows_read > report.rows_used:
        notes.append(f"A random sample of {report.rows_used} of {report.rows_read} rows was used.")
    return ProbeResult(
        advisor_version=__version__,
        data=report,
        split=SplitReport(
            test_fraction=s.test_fraction,
            train_rows=len(tr),
            test_rows=len(te),
            stratified=stratify is not None,
        ),
        interpretable=ModelReport(
            model=inter_name,
            metric=metric,
            test=_interval(s_inter, boots[:, 0]),
            rank_stability=inter_stab,
        ),
        black_box=ModelReport(
            model=box_name,
            metric=metric,
            test=_interval(s_box, boots[:, 1]),
            rank_stability=box_stab,
        ),
        accuracy_gap=_interval(s_box - s_inter, boots[:, 1] - boots[:, 0]),
        surrogate=surrogate,
        stability=StabilityReport(
            method="shap.TreeExplainer mean |SHAP| per feature on the same held-out rows, one "
            "model per stratified bootstrap resample of the training rows; Spearman correlation "
            "over the union of each pair's top features",
            rank_correlation=box_stab,
            top_k_overlap=overlap,
            retrains=s.repeats,
            eval_rows=len(eval_rows),
            top_k=min(s.top_k, d),
            top_features=top,
        ),
        settings=s,
        notes=notes,
    )


def demo_table() -> Table:
    """Give scikit-learn's bundled breast cancer data (569 rows, 30 features) as a table."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    labels = [str(bunch.target_names[v]) for v in bunch.target]
    cells = [bunch.data[:, j].tolist() for j in range(bunch.data.shape[1])] + [labels]
    n = len(labels)
    return Table(
        source="breast-cancer (scikit-learn demo)",
        columns=names + ["diagnosis"],
        cells=cells,
        rows_read=n,
    )
