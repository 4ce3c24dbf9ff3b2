"""Fit the default pack's decision numbers to the labelled development set.

Usage: python tools/calibrate.py [--rounds N] [--folds K] [--seed S]

Reads rules/ and rules/precedents-labelled.yaml; searches the weights, the latency curve, the
regulation utilities, the data adjustments and the hybrid terms (coordinate search over a grid
of candidate values per parameter, several passes, within the bounds below) for the best
objective: accepted share and primary share on the labelled set, no unsafe answer, and an
answer mix on random profiles with every option between 15% and 50%. Prints the fitted numbers
(to copy into rules/dimensions.yaml and rules/pack.yaml with this provenance), the in-sample
figures, and K-fold cross-validated figures (each fold fitted on the others, scored on itself).
The search is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor._api import load_rulepack  # noqa: E402
from advisor._backtest import parse_labelled  # noqa: E402
from advisor._fields import OPTIONS  # noqa: E402
from advisor._requirements import Requirements  # noqa: E402
from advisor._rulepack import RulePack  # noqa: E402
from advisor._scoring import compile_pack, evaluate  # noqa: E402

# name -> (path in the pack's JSON dump, candidate values)
PARAMS: dict[str, tuple[tuple[Any, ...], list[float]]] = {
    "w_data": (("dimensions", "data", "weight"), [0.25, 0.3, 0.3333333333, 0.37, 0.4, 0.45]),
    "w_lat": (("dimensions", "latency", "weight"), [0.2, 0.25, 0.3, 0.3333333333, 0.37, 0.4]),
    "lat_50": (("dimensions", "latency", "curve", 1, 1), [0.5, 0.6, 0.7, 0.8, 0.9]),
    "lat_100": (("dimensions", "latency", "curve", 2, 1), [0.25, 0.35, 0.45, 0.55]),
    "lat_400": (("dimensions", "latency", "curve", 3, 1), [0.05, 0.1, 0.15, 0.2]),
    "crit_business": (
        ("dimensions", "regulation", "criticality", "business_critical"),
        [-0.05, -0.1, -0.15, -0.2],
    ),
    "crit_regulated": (
        ("dimensions", "regulation", "criticality", "regulated"),
        [-0.3, -0.4, -0.5],
    ),
    "crit_safety": (
        ("dimensions", "regulation", "criticality", "safety_critical"),
        [-0.3, -0.4, -0.5, -0.6],
    ),
    "expl_low": (("dimensions", "regulation", "explainability", "low"), [0.0, -0.05, -0.1, -0.15]),
    "expl_medium": (
        ("dimensions", "regulation", "explainability", "medium"),
        [-0.2, -0.3, -0.4, -0.5],
    ),
    "expl_high": (("dimensions", "regulation", "explainability", "high"), [-0.4, -0.5, -0.6, -0.7]),
    "stage_none": (("dimensions", "data", "stage_labels", "none"), [0.1, 0.2, 0.25, 0.3, 0.4]),
    "stage_full": (("dimensions", "data", "stage_labels", "full"), [-0.1, -0.15, -0.2, -0.3]),
    "cost_high": (("dimensions", "data", "labeling_cost", "high"), [-0.1, -0.2, -0.25, -0.3]),
    "foundation": (("dimensions", "data", "foundation_shift_decades"), [1.0, 1.5, 2.0, 2.5]),
    "complexity": (("hybrid_score", "complexity_cost"), [0.0, 0.02, 0.05, 0.08, 0.1]),
    "gain": (("hybrid_score", "conflict_gain"), [0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 1.8, 2.2, 2.6]),
    "floor": (("hybrid_score", "conflict_floor"), [0.0, 0.02, 0.05, 0.08, 0.12]),
    "shortage": (("hybrid_score", "shortage_cost"), [0.2, 0.35, 0.5, 0.7, 1.0]),
    "winner": (("hybrid_score", "winner_share"), [0.0, 0.2, 0.35, 0.5, 0.65, 0.8]),
    "lean_independent": (
        ("rules", "stages-updated-independently", "effect", "lean"),
        [-0.1, -0.15, -0.2, -0.25, -0.3, -0.4],
    ),
}
# The regulation weight is what the other two leave: the weights sum to 1, so every score
# stays on the 0-1 scale.
WEIGHTS = ("w_data", "w_lat")
PRIMARY_WEIGHT = 1.5  # the objective values a primary match at this much of an accepted one


def _step(node: Any, key: Any) -> Any:
    if isinstance(node, list) and isinstance(key, str):  # a rule by id
        return next(item for item in node if item.get("id") == key)
    return node[key]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: float) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = _step(node, key)
    node[path[-1]] = value


def _get(doc: dict[str, Any], path: tuple[Any, ...]) -> float:
    node: Any = doc
    for key in path:
        node = _step(node, key)
    return float(node)


def random_profiles(
    n: int, seed: int, regimes: list[str], regime_p: float = 0.08, stated: bool = True
) -> list[dict[str, Any]]:
    """Give n random requirement profiles: every choice uniform, numbers log-uniform.

    Each known regime applies with probability `regime_p`; with `stated` False the
    explainability requirement is always left to its default (derived from criticality).
    """
    rng = np.random.default_rng(seed)
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    out = []
    for i in range(n):
        expl = pick([None, "none", "low", "medium", "high"]) if stated else None
        reg: dict[str, Any] = {
            "criticality": pick(
                ["non_critical", "business_critical", "regulated", "safety_critical"]
            ),
            "regimes": [r for r in regimes if rng.random() < regime_p],
        }
        if expl:
            reg["explainability"] = expl
        out.append(
            {
                "name": f"r{i}",
                "task": {
                    "modality": pick(
                        ["text", "speech", "vision", "tabular", "multimodal", "control", "other"]
                    ),
                    "pretrained_available": bool(rng.random() < 0.5),
                    "foundation_model": bool(rng.random() < 0.2),
                },
                "data": {
                    "paired_examples": float(10 ** rng.uniform(2, 9)),
                    "stage_labels": pick(["none", "partial", "full"]),
                    "labeling_cost": pick(["low", "medium", "high"]),
                },
                "latency": {"budget_ms": float(10 ** rng.uniform(1, 4.8))},
                "regulation": reg,
                "team": {"ml_maturity": pick(["low", "medium", "high"])},
                "deployment": {
                    "target": pick(["cloud", "on_premises", "edge", "on_device"]),
                    "independent_updates": bool(rng.random() < 0.3),
                },
            }
        )
    return out


class Problem:
    """The labelled rows and random rows as feature matrices, and how to score a pack."""

    def __init__(self, base: RulePack, labelled: Path, seed: int) -> None:
        doc = yaml.safe_load(labelled.read_text(encoding="utf-8"))
        cases = parse_labelled(doc, str(labelled))
        self.base = base.model_dump(mode="json", by_alias=True, exclude_none=True)
        cp = compile_pack(base)
        self.x = np.stack([cp.space.vector(req) for _, req in cases])
        self.accept = np.zeros((len(cases), 3), dtype=bool)
        self.primary = np.array([OPTIONS.index(c.accept[0]) for c, _ in cases])
        for i, (c, _) in enumerate(cases):
            for o in c.accept:
                self.accept[i, OPTIONS.index(o)] = True
        self.unsafe_rows = np.array(
            [
                str(r.regulation.criticality) == "safety_critical"
                or (
                    str(r.regulation.criticality) == "regulated"
                    and r.explainability_level() == "high"
                )
                for _, r in cases
            ]
        )
        # Two spreads of random projects: one with stated requirements and frequent regimes,
        # one with defaults and no regimes; the answer mix must be balanced on both.
        ids = [r.id for r in base.regimes]
        self.xr = [
            np.stack(
                [
                    cp.space.vector(Requirements.model_validate(p))
                    for p in random_profiles(2000, seed + k, ids, regime_p, stated)
                ]
            )
            for k, (regime_p, stated) in enumerate(((0.08, True), (0.0, False)))
        ]
        self.ids = [c.id for c, _ in cases]

    def pack(self, values: dict[str, float]) -> RulePack:
        doc = copy.deepcopy(self.base)
        for name, v in values.items():
            _set(doc, PARAMS[name][0], v)
        w_reg = 1.0 - sum(values[w] for w in WEIGHTS)
        if w_reg < 0.15:
            raise ValueError("regulation weight below 0.15")
        _set(doc, ("dimensions", "regulation", "weight"), round(w_reg, 10))
        return RulePack.model_validate(doc)

    def score(self, values: dict[str, float], rows: np.ndarray | None = None) -> dict[str, float]:
        try:
            cp = compile_pack(self.pack(values))
        except Exception:  # an invalid combination (e.g. a non-monotone curve)
            return {"objective": -1e9}
        idx = np.arange(len(self.x)) if rows is None else rows
        choice = evaluate(self.x[idx], cp).choice
        accepted = self.accept[idx, choice]
        primary = choice == self.primary[idx]
        unsafe = (choice == 0) & self.unsafe_rows[idx]
        balance = 0.0
        mixes = []
        for xr in self.xr:
            mix = np.bincount(evaluate(xr, cp).choice, minlength=3) / len(xr)
            balance += float(np.maximum(0.16 - mix, 0).sum() + np.maximum(mix - 0.49, 0).sum())
            mixes.append(mix)
        mix = np.mean(mixes, axis=0)
        objective = (
            2.0 * accepted.mean()
            + PRIMARY_WEIGHT * primary.mean()
            - 5.0 * unsafe.sum()
            - 4.0 * balance
        )
        return {
            "objective": float(objective),
            "accepted": float(accepted.mean()),
            "primary": float(primary.mean()),
            "unsafe": int(unsafe.sum()),
            **{f"mix_{o}": [round(float(m[i]), 3) for m in mixes] for i, o in enumerate(OPTIONS)},
        }

    def fit(
        self, start: dict[str, float], rows: np.ndarray | None, rounds: int, seed: int
    ) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        best = dict(start)
        best_obj = self.score(best, rows)["objective"]
        names = list(PARAMS)
        for _ in range(rounds):
            improved = False
            for name in rng.permutation(names):
                for v in PARAMS[name][1]:
                    trial = {**best, name: v}
                    obj = self.score(trial, rows)["objective"]
                    # Ties keep the current value: the search never drifts for nothing.
                    if obj > best_obj + 1e-12:
                        best, best_obj, improved = trial, obj, True
            if not improved:
                break
        return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="B",
        help="Also refit on B bootstrap resamples of the labelled set and print "
        "each parameter's 10th-90th percentile (the pack's intervals).",
    )
    ap.add_argument(
        "--intervals",
        action="store_true",
        help="Print, per parameter, the values (on a fine grid across its candidate "
        "range, the others at their current values) whose objective stays "
        "within two labelled cases of the current one: the fit's own "
        "uncertainty, which the pack's uncertainty.parameters state.",
    )
    args = ap.parse_args()
    base = load_rulepack()
    prob = Problem(base, ROOT / "rules" / "precedents-labelled.yaml", args.seed)
    start = {name: _get(prob.base, path) for name, (path, _) in PARAMS.items()}
    print("current:", prob.score(start))
    if args.intervals:
        best = prob.score(start)["objective"]
        tol = 2.0 / len(prob.x) * (2.0 + PRIMARY_WEIGHT) / 2
        print(f"intervals (objective within {tol:.3f} of {best:.3f}):")
        for name, (_, cands) in PARAMS.items():
            grid = np.linspace(min(cands), max(cands), 21)
            ok = [
                float(v)
                for v in grid
                if prob.score({**start, name: float(v)})["objective"] >= best - tol
            ]
            if ok:
                print(f"  {name}: current {start[name]:g}, interval [{min(ok):.3g}, {max(ok):.3g}]")
        return
    fitted = prob.fit(start, None, args.rounds, args.seed)
    print("fitted (in sample):", prob.score(fitted))
    for name in PARAMS:
        if fitted[name] != start[name]:
            print(f"  {name}: {start[name]:g} -> {fitted[name]:g}")
    # Cross-validation: each fold is scored with numbers fitted on the other folds.
    order = np.random.default_rng(args.seed).permutation(len(prob.x))
    folds = np.array_split(order, args.folds)
    acc, prim, total = 0.0, 0.0, 0
    for k, test in enumerate(folds):
        train = np.setdiff1d(order, test)
        f = prob.fit(start, train, args.rounds, args.seed + k)
        s = prob.score(f, test)
        acc += s["accepted"] * len(test)
        prim += s["primary"] * len(test)
        total += len(test)
    print(
        f"cross-validated ({args.folds} folds): accepted {acc / total:.3f}, "
        f"primary {prim / total:.3f}"
    )
    print(yaml.safe_dump({"fitted": fitted}, sort_keys=False))
    if args.bootstrap:
        rng = np.random.default_rng(args.seed)
        fits = []
        for b in range(args.bootstrap):
            rows = rng.integers(0, len(prob.x), len(prob.x))
            fits.append(prob.fit(fitted, rows, args.rounds, args.seed + 100 + b))
        print(f"bootstrap ({args.bootstrap} resamples): 10th-90th percentile per parameter")
        for name in PARAMS:
            vals = np.array([f[name] for f in fits])
            lo, hi = np.percentile(vals, [10, 90])
            print(f"  {name}: fitted {fitted[name]:g}, interval [{lo:g}, {hi:g}]")


if __name__ == "__main__":
    main()
