"""Peer benchmark (issue 14): `advisor batch` against the same decision logic run by a rules
engine (GoRules zen-engine) and by plain numpy, on the same CSV, in one interleaved run.

Prints figures and ratios; asserts only that every peer gives the same recommendation as
`advisor batch` on every row (it stops, naming the rows, when one does not).

The peers are generated at run time from the compiled rule pack (`advisor._decide.prepare`):
the thresholds, curves, rules, vetoes, explainability tables and tie-break come from the pack's
arrays, so a change to the pack's numbers or rules needs no change here. The decision model's
formulas (the data utility, and how the utilities and the rules fired become option scores) are
written once, in `data_utility` and `option_scores` below (marked): when the model changes,
update those two (the agreement check fails until they match `advisor._scoring.evaluate`).

One logic, two back ends: `decision_logic` is written against a small set of operations; the
numpy back end runs it on whole columns, the ZEN back end turns it into one expression node of
a JDM graph (ZEN's expression language has no logarithm, so the peers' readers put the two
numbers on the engine's log scale while parsing the CSV, as `advisor batch` does).

Each contender is a whole process reading the CSV and writing JSON lines:
- advisor: `advisor batch IN -o OUT.jsonl` (the Monte Carlo confidence and everything else
  it writes included; --samples as given);
- zen: the csv module, one `ZenDecision.evaluate` per row, json.dumps per row;
- numpy: the csv module, columns encoded with numpy, the logic over all rows at once.

zen-engine is an optional benchmark dependency (`pip install zen-engine`), never a runtime one;
without it the zen peer is skipped with a message.

Usage: python bench/bench_peers.py [--rows N] [--runs N] [--samples N]
       python bench/bench_peers.py --peer zen|numpy IN.csv OUT.jsonl   (one peer, as timed)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


# ---------------------------------------------------------------------------------------------
# Reading the CSV (both peers): the columns the logic needs, on the engine's scales.


def _defaults() -> dict[str, Any]:
    # What an empty cell means: the requirements model's own defaults.
    from advisor._requirements import Requirements

    minimal = {
        "name": "x",
        "task": {"modality": "text"},
        "data": {"paired_examples": 1},
        "latency": {"budget_ms": 1},
    }
    return Requirements.model_validate(minimal).model_dump(mode="json")


def read_columns(path: Path, regimes: Sequence[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read the portfolio CSV with the csv module; give the ids and the feature columns
    (`advisor._fields.BASE_COLUMNS` codes, plus one 0/1 column per known regime)."""
    from advisor._fields import CONDITION_FIELDS
    from advisor._requirements import DEFAULT_EXPLAINABILITY

    defaults = _defaults()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    by_name = dict(zip(header, cols, strict=True))
    n = len(rows)
    out: dict[str, np.ndarray] = {}
    for field, kind in CONDITION_FIELDS.items():
        if kind.kind == "set" or field.startswith("derived."):
            continue
        section, name = field.split(".")
        default = defaults[section].get(name)
        cells = by_name.get(field, ("",) * n)
        if kind.kind == "numeric":
            vals = np.array([float(c) if c else np.nan for c in cells])
            out[kind.column] = (
                np.log10(vals) if kind.column == "latency_log" else np.log10(1.0 + vals)
            )
        elif kind.kind == "bool":
            table = {"true": 1.0, "false": 0.0, "": 1.0 if default else 0.0}
            out[kind.column] = np.array([table[c.lower()] for c in cells])
        elif field == "regulation.explainability":
            continue  # below: its default follows the criticality
        else:
            codes = {c: float(i) for i, c in enumerate(kind.choices)}
            codes[""] = codes[default]
            out[kind.column] = np.array([codes[c] for c in cells])
    levels = CONDITION_FIELDS["regulation.explainability"].choices
    crit_names = CONDITION_FIELDS["regulation.criticality"].choices
    stated = by_name.get("regulation.explainability", ("",) * n)
    out["explainability"] = np.array(
        [
            float(levels.index(s or DEFAULT_EXPLAINABILITY[crit_names[int(c)]]))
            for s, c in zip(stated, out["criticality"], strict=True)
        ]
    )
    known = {r: i for i, r in enumerate(regimes)}
    bits = np.zeros((n, len(regimes)))
    for i, cell in enumerate(by_name.get("regulation.regimes", ("",) * n)):
        for name in cell.split(";"):
            if name in known:
                bits[i, known[name]] = 1.0
    out["regimes"] = bits
    return list(by_name.get("id", [str(i + 1) for i in range(n)])), out


# ---------------------------------------------------------------------------------------------
# Back ends: numpy arrays, or ZEN expression text.


class NumpyOps:
    """The logic's operations on whole numpy columns."""

    @staticmethod
    def let(name: str, value: Any) -> Any:
        return value

    const = staticmethod(lambda v: v)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    abs = staticmethod(np.abs)
    where = staticmethod(np.where)

    @staticmethod
    def clip(a: Any, lo: float, hi: float) -> Any:
        return np.clip(a, lo, hi)

    @staticmethod
    def take(table: Sequence[float], index: Any) -> Any:
        return np.asarray(table)[np.asarray(index).astype(np.intp)]

    @staticmethod
    def all(parts: list[Any], n: int) -> Any:
        return np.logical_and.reduce(parts) if parts else np.ones(n, dtype=bool)

    @staticmethod
    def any(parts: list[Any], n: int) -> Any:
        return np.logical_or.reduce(parts) if parts else np.zeros(n, dtype=bool)

    @staticmethod
    def not_(a: Any) -> Any:
        return ~a

    @staticmethod
    def interp(x: Any, xp: Sequence[float], fp: Sequence[float]) -> Any:
        return np.interp(x, xp, fp)


def _num(v: float) -> str:
    return repr(float(v)) if v >= 0 else f"({float(v)!r})"


class Z:
    """A ZEN expression (text) that supports the arithmetic and comparisons the logic uses."""

    def __init__(self, text: str) -> None:
        self.text = text

    @staticmethod
    def of(v: Any) -> Z:
        if isinstance(v, Z):
            return v
        if isinstance(v, bool | np.bool_):
            return Z("true" if v else "false")
        return Z(_num(float(v)))

    def _op(self, op: str, other: Any, swap: bool = False) -> Z:
        a, b = (Z.of(other), self) if swap else (self, Z.of(other))
        return Z(f"({a.text} {op} {b.text})")

    def __add__(self, o: Any) -> Z:
        return self._op("+", o)

    def __radd__(self, o: Any) -> Z:
        return self._op("+", o, True)

    def __sub__(self, o: Any) -> Z:
        return self._op("-", o)

    def __rsub__(self, o: Any) -> Z:
        return self._op("-", o, True)

    def __mul__(self, o: Any) -> Z:
        return self._op("*", o)

    def __rmul__(self, o: Any) -> Z:
        return self._op("*", o, True)

    def __truediv__(self, o: Any) -> Z:
        return self._op("/", o)

    def __rtruediv__(self, o: Any) -> Z:
        return self._op("/", o, True)

    def __neg__(self) -> Z:
        return Z(f"(-{self.text})")

    def __lt__(self, o: Any) -> Z:
        return self._op("<", o)  # type: ignore[override]

    def __le__(self, o: Any) -> Z:
        return self._op("<=", o)  # type: ignore[override]

    def __gt__(self, o: Any) -> Z:
        return self._op(">", o)  # type: ignore[override]

    def __ge__(self, o: Any) -> Z:
        return self._op(">=", o)  # type: ignore[override]

    def __eq__(self, o: Any) -> Z:
        return self._op("==", o)  # type: ignore[override]

    def __ne__(self, o: Any) -> Z:
        return self._op("!=", o)  # type: ignore[override]

    __hash__ = None  # type: ignore[assignment]


class ZenOps:
    """The logic's operations as ZEN expressions; `let` records one expression of the node."""

    def __init__(self) -> None:
        self.expressions: list[tuple[str, str]] = []

    def let(self, name: str, value: Any) -> Z:
        self.expressions.append((name, Z.of(value).text))
        return Z(f"$.{name}")

    const = staticmethod(Z.of)

    @staticmethod
    def maximum(a: Any, b: Any) -> Z:
        return Z(f"max([{Z.of(a).text}, {Z.of(b).text}])")

    @staticmethod
    def minimum(a: Any, b: Any) -> Z:
        return Z(f"min([{Z.of(a).text}, {Z.of(b).text}])")

    @staticmethod
    def abs(a: Any) -> Z:
        return Z(f"abs({Z.of(a).text})")

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Z:
        return Z(f"({Z.of(c).text} ? {Z.of(a).text} : {Z.of(b).text})")

    @staticmethod
    def clip(a: Any, lo: float, hi: float) -> Z:
        return ZenOps.minimum(ZenOps.maximum(a, lo), hi)

    @staticmethod
    def take(table: Sequence[Any], index: Any) -> Z:
        items = ", ".join(Z.of(v).text for v in table)
        return Z(f"[{items}][{Z.of(index).text}]")

    @staticmethod
    def all(parts: list[Any], n: int) -> Z:
        return Z("(" + " and ".join(Z.of(p).text for p in parts) + ")") if parts else Z("true")

    @staticmethod
    def any(parts: list[Any], n: int) -> Z:
        return Z("(" + " or ".join(Z.of(p).text for p in parts) + ")") if parts else Z("false")

    @staticmethod
    def not_(a: Any) -> Z:
        return Z(f"(not {Z.of(a).text})")

    @staticmethod
    def interp(x: Any, xp: Sequence[float], fp: Sequence[float]) -> Z:
        # np.interp: fp[0] left of xp[0], fp[-1] right of xp[-1], else slope * (x - xp[j]) +
        # fp[j] on the segment [xp[j], xp[j+1]).
        x = Z.of(x)
        text = _num(fp[-1])
        for j in range(len(xp) - 2, -1, -1):
            slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
            seg = f"({_num(slope)} * ({x.text} - {_num(xp[j])}) + {_num(fp[j])})"
            text = f"({x.text} < {_num(xp[j + 1])} ? {seg} : {text})"
        return Z(f"({x.text} < {_num(xp[0])} ? {_num(fp[0])} : {text})")


# ---------------------------------------------------------------------------------------------
# The decision logic, generated from the compiled pack.


# >>> THE DECISION MODEL'S FORMULAS. Keep these two functions in step with advisor/_scoring.py's
# `evaluate` (the agreement check fails until they match); everything else is read from the pack.
def data_utility(B: Any, v: dict[str, Any], cp: Any) -> Any:
    """Give the data dimension's utility in [-1, 1] from the feature columns `v`."""
    shift = B.maximum(v["pretrained"] * cp.pretrained_shift, v["foundation"] * cp.foundation_shift)
    lo = B.take(cp.scarce_log.tolist(), v["modality"]) - shift
    hi = B.take(cp.ample_log.tolist(), v["modality"]) - shift
    u_data = B.clip(-1.0 + 2.0 * (v["paired_log"] - lo) / (hi - lo), -1.0, 1.0)
    return B.clip(
        u_data
        + (
            B.take(cp.stage_adj.tolist(), v["stage_labels"])
            + B.take(cp.cost_adj.tolist(), v["labeling_cost"])
        )
        + cp.data_shift,
        -1.0,
        1.0,
    )


def option_scores(B: Any, u: list[Any], fired: list[Any], cp: Any) -> list[Any]:
    """Give the three options' base scores (end-to-end, modular, hybrid) from the utilities
    u = [data, latency, regulation] in [-1, 1] and the rules fired (one flag per pack rule),
    with the pack's weights, rule leans and hybrid numbers: the learned, traditional and
    shortage pulls; end-to-end and modular split one unit by the net pull; hybrid answers a
    conflict between the learned and the traditional pulls, keeping a share of the winning
    side's lead."""
    w = [float(x) for x in cp.weights]
    complexity, gain, floor, short, share = (float(x) for x in cp.hybrid_terms)
    lean = [B.const(0.0), B.const(0.0)]
    for i, f in enumerate(fired):
        for k in range(2):
            if cp.rule_lean[i, k] != 0.0:
                lean[k] = lean[k] + B.where(f, float(cp.rule_lean[i, k]), 0.0)
    pos = [B.maximum(u[d], 0.0) * w[d] for d in range(3)]
    neg = [B.maximum(-u[d], 0.0) * w[d] for d in range(3)]
    learned = B.let("learned", pos[0] + pos[1] + pos[2] + lean[0])
    traditional = B.let("traditional", neg[1] + neg[2] + lean[1])
    shortage = B.let("shortage", neg[0])
    net = learned - traditional - shortage
    s_e2e = B.clip((1.0 + net) / 2.0, 0.0, 1.0)
    s_mod = B.clip((1.0 - net) / 2.0, 0.0, 1.0)
    conflict = B.maximum(B.minimum(learned, traditional) - floor, 0.0)
    s_hyb = B.clip(
        0.5 - complexity + share * B.abs(net) / 2.0 + gain * conflict - short * shortage, 0.0, 1.0
    )
    return [s_e2e, s_mod, s_hyb]


# <<< THE DECISION MODEL'S FORMULAS


def _condition(B: Any, cond: Any, v: dict[str, Any], regimes: Sequence[str], n: int) -> Any:
    # A rule-pack condition over the feature columns (the condition language of rulepack.py).
    from advisor._fields import CONDITION_FIELDS

    if cond.all is not None:
        return B.all([_condition(B, c, v, regimes, n) for c in cond.all], n)
    if cond.any is not None:
        return B.any([_condition(B, c, v, regimes, n) for c in cond.any], n)
    if cond.not_ is not None:
        return B.not_(_condition(B, cond.not_, v, regimes, n))
    kind = CONDITION_FIELDS[cond.field]
    op, value = cond.operator()
    if kind.kind == "set":
        names = [value] if isinstance(value, str) else list(value)
        has = B.any([v["regimes"][regimes.index(r)] > 0.5 for r in names if r in regimes], n)
        return B.not_(has) if op == "not_contains" else has
    col = v[kind.column]
    if op in ("in", "not_in"):
        hit = B.any([col == kind.encode(x) for x in value], n)
        return hit if op == "in" else B.not_(hit)
    code = kind.encode(value)
    return {
        "lt": col < code,
        "le": col <= code,
        "gt": col > code,
        "ge": col >= code,
        "eq": col == code,
        "ne": col != code,
    }[op]


def decision_logic(B: Any, v: dict[str, Any], cp: Any, n: int = 1) -> Any:
    """Give the recommended option's index, from the feature columns `v`, as the pack decides.

    Args:
        B: the back end (`NumpyOps` or a `ZenOps`).
        v: per base column its values (and "regimes": one value per known regime).
        cp: the compiled pack (`advisor._scoring.CompiledPack`).
        n: rows (numpy back end).
    """
    from advisor._scoring import _RAW_FLOOR, VETO_SCORE

    regimes = list(cp.space.regimes)
    u_data = B.let("u_data", data_utility(B, v, cp))
    u_lat = B.let("u_lat", B.interp(v["latency_log"], cp.curve_x.tolist(), cp.curve_u.tolist()))
    # The highest floor among the regimes present, as a count of level steps reached.
    floor = B.const(0.0)
    for step in cp.floor_steps.T:
        reached = B.any([v["regimes"][r] > 0.5 for r in range(len(regimes)) if step[r] > 0.5], n)
        floor = floor + B.where(reached, 1.0, 0.0)
    required = B.let("required", B.maximum(v["explainability"], floor))
    u_reg = B.let(
        "u_reg",
        B.clip(
            B.take(cp.crit_adj.tolist(), v["criticality"]) + B.take(cp.expl_adj.tolist(), required),
            -1.0,
            1.0,
        ),
    )
    cols = {**v, "required": required}
    fired = [
        B.let(f"rule{i}", _condition(B, r.when, cols, regimes, n))
        for i, r in enumerate(cp.pack.rules)
    ]
    scores = option_scores(B, [u_data, u_lat, u_reg], fired, cp)
    base = [B.let(f"base{o}", s) for o, s in enumerate(scores)]
    et = cp.expl_tables
    key = B.let("key", v["modality"] * et.levels + required)
    applicable = [
        B.all([], n)
        if p.when is None
        else B.let(f"applies{j}", _condition(B, p.when, cols, regimes, n))
        for j, p in enumerate(cp.pack.patterns)
    ]
    good = [
        B.all([applicable[j], B.take(et.meets_pattern[:, j].tolist(), key)], n)
        for j in range(et.patterns)
    ]
    # The first applicable pattern that meets the requirement, else the first applicable one.
    first_applicable = B.const(0.0)
    for j in range(et.patterns - 1, -1, -1):
        first_applicable = B.where(applicable[j], float(j), first_applicable)
    pattern = first_applicable
    for j in range(et.patterns - 1, -1, -1):
        pattern = B.where(good[j], float(j), pattern)
    full = B.let("full_key", key * et.patterns + B.let("pattern", pattern))
    effective = []
    for o in range(3):
        adjust = B.const(0.0)
        for i in range(len(fired)):
            if cp.rule_add[i, o] != 0.0:
                adjust = adjust + B.where(fired[i], float(cp.rule_add[i, o]), 0.0)
        vetoes = [fired[i] for i in range(len(fired)) if cp.rule_veto[i, o] > 0.5]
        vetoes.append(B.take(et.flags[2][:, o].tolist(), full))
        penalty = B.take(et.numbers[2][:, o].tolist(), full)
        raw = B.maximum(base[o] + adjust - penalty, _RAW_FLOOR)
        effective.append(B.let(f"effective{o}", B.where(B.any(vetoes, n), VETO_SCORE, raw)))
    t = [int(i) for i in cp.tie_order]
    a, b, c = (effective[i] for i in t)
    return B.let(
        "choice",
        B.where(B.all([a >= b, a >= c], n), float(t[0]), B.where(b >= c, float(t[1]), float(t[2]))),
    )


def zen_graph(cp: Any) -> str:
    """Give the JDM graph (input -> one expression node -> output) of the pack's logic."""
    from advisor._fields import BASE_COLUMNS

    ops = ZenOps()
    v: dict[str, Any] = {c: Z(c) for c in BASE_COLUMNS}
    v["regimes"] = [Z(f"regimes[{i}]") for i in range(len(cp.space.regimes))]
    decision_logic(ops, v, cp)
    node = {
        "id": "logic",
        "type": "expressionNode",
        "name": "logic",
        "position": {"x": 200, "y": 0},
        "content": {
            "expressions": [
                {"id": f"e{i}", "key": k, "value": text}
                for i, (k, text) in enumerate(ops.expressions)
            ],
            "passThrough": False,
        },
    }
    nodes = [
        {"id": "in", "type": "inputNode", "name": "in", "position": {"x": 0, "y": 0}},
        node,
        {"id": "out", "type": "outputNode", "name": "out", "position": {"x": 400, "y": 0}},
    ]
    edges = [
        {"id": "a", "sourceId": "in", "targetId": "logic", "type": "edge"},
        {"id": "b", "sourceId": "logic", "targetId": "out", "type": "edge"},
    ]
    return json.dumps({"nodes": nodes, "edges": edges})


# ---------------------------------------------------------------------------------------------
# The peers, as the timed processes run them.


def _compiled() -> Any:
    from advisor import load_rulepack
    from advisor._decide import prepare

    return prepare(load_rulepack()).compiled


def run_numpy(src: Path, dst: Path) -> None:
    """The numpy peer: read, encode by column, decide all rows at once, write JSON lines."""
    from advisor._fields import OPTIONS

    cp = _compiled()
    ids, v = read_columns(src, cp.space.regimes)
    v["regimes"] = list(v["regimes"].T)
    choice = decision_logic(NumpyOps, v, cp, len(ids)).astype(int)
    with dst.open("w", encoding="utf-8") as fh:
        for i, (ident, o) in enumerate(zip(ids, choice.tolist(), strict=True)):
            fh.write(json.dumps({"row": i + 1, "id": ident, "recommendation": OPTIONS[o]}) + "\n")


def run_zen(src: Path, dst: Path) -> None:
    """The zen-engine peer: read and encode, one engine evaluation per row, write JSON lines."""
    import zen

    from advisor._fields import BASE_COLUMNS, OPTIONS

    cp = _compiled()
    decision = zen.ZenEngine().create_decision(zen_graph(cp))
    ids, v = read_columns(src, cp.space.regimes)
    columns = [v[c].tolist() for c in BASE_COLUMNS]
    regimes = v["regimes"].tolist()
    with dst.open("w", encoding="utf-8") as fh:
        for i, ident in enumerate(ids):
            ctx: dict[str, Any] = {c: col[i] for c, col in zip(BASE_COLUMNS, columns, strict=True)}
            ctx["regimes"] = regimes[i]
            o = int(decision.evaluate(ctx)["result"]["choice"])
            fh.write(json.dumps({"row": i + 1, "id": ident, "recommendation": OPTIONS[o]}) + "\n")


# ---------------------------------------------------------------------------------------------
# The interleaved run.


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in (0,):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return dt


def _tied(rec: dict[str, Any], other: str) -> bool:
    # The advisor's recommendation and the peer's are both unvetoed and score the same to 1e-9.
    scores, vetoed = rec["scores"], set(rec["vetoed"])
    mine = rec["recommendation"]
    return mine not in vetoed and other not in vetoed and abs(scores[mine] - scores[other]) < 1e-9


def _recommendations(path: Path) -> list[str]:
    return [json.loads(line)["recommendation"] for line in path.read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--samples",
        type=int,
        default=None,
        help="advisor batch --samples (default: batch's own default)",
    )
    ap.add_argument("--peer", choices=["zen", "numpy"], help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.peer:
        src, dst = (Path(p) for p in opts.paths)
        (run_zen if opts.peer == "zen" else run_numpy)(src, dst)
        return
    from bench_batch import portfolio

    try:
        import zen  # noqa: F401

        have_zen = True
    except ImportError:
        have_zen = False
        print("zen-engine is not installed (pip install zen-engine): the zen peer is skipped")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "portfolio.csv"
        portfolio(src, opts.rows)
        advisor = [
            sys.executable,
            "-m",
            "advisor",
            "batch",
            str(src),
            "-o",
            str(d / "advisor.jsonl"),
            "--no-progress",
        ]
        if opts.samples:
            advisor += ["--samples", str(opts.samples)]
        me = [sys.executable, str(Path(__file__).resolve())]
        contenders: dict[str, list[str]] = {"advisor batch": advisor}
        if have_zen:
            contenders["zen-engine"] = [*me, "--peer", "zen", str(src), str(d / "zen.jsonl")]
        contenders["numpy"] = [*me, "--peer", "numpy", str(src), str(d / "numpy.jsonl")]
        outputs = {
            "advisor batch": d / "advisor.jsonl",
            "zen-engine": d / "zen.jsonl",
            "numpy": d / "numpy.jsonl",
        }
        # First: every contender gives the same recommendation on every row.
        for cmd in contenders.values():
            _timed(cmd)
        ours = [json.loads(line) for line in outputs["advisor batch"].read_text().splitlines()]
        want = [rec["recommendation"] for rec in ours]
        for name in contenders:
            got = _recommendations(outputs[name])
            differ = [i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b]
            # An exact tie of two options' scores (0.5 - 0.1 against 0.5 + -0.1) is broken by
            # the pack's tie order in binary floating point; ZEN computes in decimal, where the
            # same tie can come out a hair apart. Such rows are counted, not failures.
            ties = [i for i in differ if _tied(ours[i], got[i])]
            bad = [i + 1 for i in differ if i not in set(ties)]
            if len(got) != len(want) or bad:
                raise SystemExit(
                    f"{name} disagrees with advisor batch on {len(bad)} of "
                    f"{len(want)} rows (first rows: {bad[:10]})"
                )
            note = f" ({len(ties)} exact ties broken the other way)" if ties else ""
            print(f"{opts.rows:,} rows: {name} agrees on every row's recommendation{note}")
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(opts.runs):  # interleaved
            for name, cmd in contenders.items():
                times[name].append(_timed(cmd))
    best = {name: min(ts) for name, ts in times.items()}
    cpu = os.cpu_count()
    print(f"whole process, CSV -> JSON lines, best of {opts.runs} (machine: {cpu} CPUs):")
    for name, t in best.items():
        print(f"  {name:14s} {t:7.2f} s  {opts.rows / t:10,.0f} rows/s")
    a = best["advisor batch"]
    if "zen-engine" in best:
        print(f"advisor batch throughput / zen-engine: {best['zen-engine'] / a:.2f}x")
    print(f"advisor batch time / numpy baseline: {a / best['numpy']:.2f}x")


if __name__ == "__main__":
    main()
