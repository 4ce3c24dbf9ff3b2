"""Properties over the whole input space (docs/architecture.md, "Properties"; issue 8).

Generated requirement profiles (tests/strategies.py) and valid variations of the default rule
pack. Monotonicity, corners and vetoes evaluate many profiles per example through the vectorised
engine (`scoring.evaluate`), whose rows are built exactly as `FeatureSpace.vector` builds them
(each example checks that for one row); the full-pipeline properties run `recommend(...,
explain=False)`; one small property runs the explanations.

Examples per property: 2,000 under CI (the "ci" profile, derandomised), 50,000 under the "deep"
profile (ADVISOR_HYPOTHESIS_PROFILE=deep; see conftest.py).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import EXAMPLES, ROOT
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import budget_number, examples, pack_variation, pairs_number, profiles

from advisor import Assessment, Requirements, load_requirements, load_rulepack, recommend
from advisor._api import read_requirements_bytes
from advisor._fields import OPTIONS, log_ms, log_pairs
from advisor._packbuild import check_references
from advisor._requirements import (
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    KNOWN_REGIMES,
)
from advisor._rulepack import RulePack
from advisor._scoring import CompiledPack, compile_pack, evaluate

E2E, MOD, HYB = (OPTIONS.index(o) for o in ("end_to_end", "modular", "hybrid"))
TOL = 1e-9
FLOOR = -0.99  # scoring._RAW_FLOOR: the lowest score of an option not vetoed
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]

DEFAULT = load_rulepack()
DEFAULT_CP = compile_pack(DEFAULT)
BASE_DOC = DEFAULT.model_dump(mode="json", by_alias=True, exclude_none=True)
DEEP = settings.get_current_profile_name() == "deep"
PLAIN = profiles(text=st.just("p"))  # the engine never reads the name

# A log grid every monotonicity example checks besides the values it draws.
PAIRS_GRID = [0.0, *np.logspace(0, 12, 49).tolist()]
BUDGET_GRID = np.logspace(-3, math.log10(86_400_000), 49).tolist()


VARIATIONS = 400  # distinct valid packs the properties draw from (more under "deep")


@functools.cache
def variation(i: int) -> tuple[RulePack, CompiledPack]:
    """Give valid variation `i` of the default pack (0: the default pack itself), compiled."""
    if i == 0:
        return DEFAULT, DEFAULT_CP
    pack = RulePack.model_validate(pack_variation(BASE_DOC, i))
    assert check_references(pack) == []
    return pack, compile_pack(pack)


# The default pack about half the time, else one of the variations (shown as its number).
pack_ids = st.one_of(st.just(0), st.integers(1, VARIATIONS * (25 if DEEP else 1)))


try:  # the engine specialises a pack to the explanation method a profile names
    from advisor._estimates import specialise
except ImportError:  # pragma: no cover - before explanation methods existed
    specialise = None


@functools.cache
def _specialised(i: int, method: str | None) -> CompiledPack:
    pack, cp = variation(i)
    if method is None or specialise is None:
        return cp
    req = Requirements.model_validate(
        {
            "name": "p",
            "data": {"paired_examples": 1},
            "latency": {"budget_ms": 1},
            "regulation": {"explanation_method": method},
        }
    )
    return compile_pack(specialise(pack, req))


# The full pipeline draws from a few variations: the engine keeps a bounded cache of prepared
# packs (one per pack and explanation method), and preparing one costs more than an assessment.
full_pack_ids = st.one_of(st.just(0), st.integers(1, 8 * (25 if DEEP else 1)))


def compiled(i: int, doc: dict[str, Any]) -> CompiledPack:
    """Give variation `i` compiled as the engine compiles it for `doc`."""
    cp = _specialised(i, doc.get("regulation", {}).get("explanation_method"))
    # The pack keeps an end-to-end model no better explained than a modular pipeline.
    assert float(np.max(cp.prior_e2e + cp.modality_adj)) <= cp.prior_mod + 1e-12
    return cp


def row(doc: dict[str, Any], cp: CompiledPack) -> np.ndarray:
    return cp.space.vector(Requirements.model_validate(doc))


def margin(x: np.ndarray, cp: CompiledPack) -> tuple[np.ndarray, np.ndarray]:
    """Give end-to-end's effective score minus modular's per row, and whether end-to-end is out:
    vetoed, or at the floor below which no live score goes (`scoring._RAW_FLOOR`)."""
    ev = evaluate(x, cp)
    out = ev.vetoed[:, E2E] | (ev.raw[:, E2E] <= FLOOR + TOL)
    return ev.effective[:, E2E] - ev.effective[:, MOD], out


def with_field(doc: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.setdefault(section, {})[key] = value
    return out


def never_raised(m: np.ndarray, out: np.ndarray, labels: list[Any], strict: bool) -> None:
    """Check that each step along `labels` (each stricter than the one before) never raises
    end-to-end's margin over modular.

    Where a step puts end-to-end out (vetoed, or at the score floor), its margin no longer
    measures its standing: a pack whose modular option also falls short of the stricter
    requirement (never the default pack) penalises modular there too, or vetoes both, which can
    lift the margin of an option already out. So, unless `strict` (the default pack): a step
    either puts end-to-end out or does not raise its margin, and never puts it back in.
    """
    problems = []
    for i in range(len(labels) - 1):
        if out[i] and not out[i + 1]:
            problems.append(("put back in", labels[i], labels[i + 1]))
        if m[i + 1] > m[i] + TOL and (strict or not out[i + 1]):
            problems.append((labels[i], labels[i + 1], float(m[i]), float(m[i + 1])))
    assert not problems, problems


# ---------------------------------------------------------------------------------------------
# Totality


@examples(2000, suppress_health_check=SLOW)
@given(doc=profiles(), pack=full_pack_ids, seed=st.integers(0, 2**32 - 1))
def test_every_valid_profile_assesses_and_order_or_format_change_nothing(doc, pack, seed):
    """Totality, determinism and invariance on each generated profile (one property test, so
    that each profile is assessed twice rather than four times):

    - the assessment validates against the output schema and agrees with the vectorised engine;
    - the same profile written as YAML or JSON, keys shuffled at every level and (one time in
      two) its regimes too, reads back to the same requirements and the same data;
    - assessed again from that file, it gives byte-identical JSON; with its regimes shuffled,
      everything but the echo of the input is the same.
    """
    cp = compiled(pack, doc)
    pack = variation(pack)[0]
    a = recommend(doc, rulepack=pack, explain=False)
    text = a.to_json()
    assert Assessment.model_validate(json.loads(text)) == a
    assert a.recommendation in OPTIONS and a.runner_up in OPTIONS
    assert a.recommendation != a.runner_up
    assert 0.0 <= a.confidence <= 1.0
    assert math.isclose(sum(a.probabilities.values()), 1.0, abs_tol=2e-4)
    assert all(math.isfinite(v) for v in a.scores.values())
    # The full pipeline and the vectorised engine agree on this profile.
    ev = evaluate(row(doc, cp), cp)
    assert a.recommendation == OPTIONS[int(ev.choice[0])]
    for i, o in enumerate(OPTIONS):
        assert a.scores[o] == pytest.approx(float(ev.raw[0, i]), abs=1e-6)
    assert {v.option for v in a.vetoes} == {OPTIONS[i] for i in range(3) if ev.vetoed[0, i]}

    rnd = random.Random(seed)
    shuffled = _shuffled(doc, rnd)
    regimes = shuffled.get("regulation", {}).get("regimes")
    if regimes and seed % 2:
        rnd.shuffle(regimes)
    # (PyYAML writes U+0085, a YAML line break, raw inside quotes when allow_unicode is on.)
    unicode = rnd.random() < 0.5 and "\x85" not in json.dumps(doc, ensure_ascii=False)
    as_yaml = yaml.safe_dump(shuffled, allow_unicode=unicode, sort_keys=False)
    as_json = json.dumps(shuffled, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 2]))
    note(as_yaml)
    reference = Requirements.model_validate(doc)
    read = {}
    for data, source in ((as_yaml, "p.yaml"), (as_json, "p.json")):
        req, given = read_requirements_bytes(data.encode(), source)
        assert req == reference
        # What the output echoes as given is the same data, whatever the format and order.
        assert json.dumps(given, sort_keys=True) == json.dumps(shuffled, sort_keys=True)
        read[source] = given
    b = recommend(read["p.yaml"], rulepack=pack, explain=False)
    if read["p.yaml"] == doc:  # same data (dict order aside): byte-identical output
        assert b.to_json() == text
    else:
        assert b.input_sha256 == a.input_sha256
        assert _without_input(b) == _without_input(a)


# ---------------------------------------------------------------------------------------------
# Monotonicity, everything else fixed: the margin of end-to-end over modular (effective scores,
# a vetoed option at the veto score).


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids, drawn=st.lists(budget_number, min_size=1, max_size=4))
def test_smaller_budget_never_lowers_end_to_end_margin(doc, pack, drawn):
    cp = compiled(pack, doc)
    x = row(doc, cp)
    budgets = sorted(set(BUDGET_GRID + [float(b) for b in drawn]))
    col = cp.space.col("latency_log")
    xs = np.repeat(x[None, :], len(budgets), axis=0)
    xs[:, col] = [log_ms(b) for b in budgets]
    # The row encoding is the pipeline's own.
    assert np.array_equal(xs[-1], row(with_field(doc, "latency", "budget_ms", budgets[-1]), cp))
    m, _ = margin(xs, cp)
    assert np.all(np.diff(m) <= TOL), budgets  # less budget (to the left), more margin


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids, drawn=st.lists(pairs_number, min_size=1, max_size=4))
def test_more_paired_data_never_lowers_end_to_end_margin(doc, pack, drawn):
    cp = compiled(pack, doc)
    x = row(doc, cp)
    pairs = sorted(set(PAIRS_GRID + [float(p) for p in drawn]))
    col = cp.space.col("paired_log")
    xs = np.repeat(x[None, :], len(pairs), axis=0)
    xs[:, col] = [log_pairs(p) for p in pairs]
    assert np.array_equal(xs[0], row(with_field(doc, "data", "paired_examples", pairs[0]), cp))
    m, _ = margin(xs, cp)
    assert np.all(np.diff(m) >= -TOL), pairs


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids)
def test_stricter_explainability_never_raises_end_to_end_margin(doc, pack):
    cp = compiled(pack, doc)
    xs = np.stack(
        [
            row(with_field(doc, "regulation", "explainability", lv), cp)
            for lv in EXPLAINABILITY_ORDER
        ]
    )
    never_raised(*margin(xs, cp), EXPLAINABILITY_ORDER, strict=pack == 0)


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids)
def test_higher_criticality_never_raises_end_to_end_margin(doc, pack):
    # With explainability stated it stays fixed; left out, it follows criticality (as given).
    cp = compiled(pack, doc)
    xs = np.stack(
        [row(with_field(doc, "regulation", "criticality", c), cp) for c in CRITICALITY_ORDER]
    )
    never_raised(*margin(xs, cp), CRITICALITY_ORDER, strict=pack == 0)


@examples(2000, suppress_health_check=SLOW)
@given(
    doc=PLAIN, pack=pack_ids, extra=st.lists(st.sampled_from(["zz", "made_up", "Ab-C"]), max_size=2)
)
def test_an_added_regime_never_raises_end_to_end_margin(doc, pack, extra):
    cp = compiled(pack, doc)
    have = list(doc.get("regulation", {}).get("regimes", []))
    candidates = [r for r in (*KNOWN_REGIMES, *cp.space.regimes, *extra) if r not in have]
    docs = [doc] + [with_field(doc, "regulation", "regimes", have + [r]) for r in candidates]
    m, vetoed = margin(np.stack([row(d, cp) for d in docs]), cp)
    for i, regime in enumerate(candidates, start=1):
        pair = np.array([m[0], m[i]]), np.array([vetoed[0], vetoed[i]])
        never_raised(*pair, ["as given", f"+{regime}"], strict=pack == 0)


# ---------------------------------------------------------------------------------------------
# The matrix's corners and the vetoes (docs/architecture.md, "Properties").


def _corner_rows(doc: dict[str, Any], cp: CompiledPack) -> np.ndarray:
    """Give the profile with its two numbers swept across both ends of their scales."""
    x = row(doc, cp)
    pairs = [log_pairs(p) for p in (0, 1e2, 1e4, 1e5, 1e6, 1e7, 1e9, 1e12)]
    budgets = [log_ms(b) for b in (0.5, 5, 20, 60, 150, 800, 3000, 20000, 86_400_000)]
    xs = np.repeat(x[None, :], len(pairs) * len(budgets), axis=0)
    xs[:, cp.space.col("paired_log")] = np.repeat(pairs, len(budgets))
    xs[:, cp.space.col("latency_log")] = np.tile(budgets, len(pairs))
    return xs


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids)
def test_corners_dimensions_arguing_one_way_rank_that_side_first(doc, pack):
    # The matrix itself (dimension scores, before rules): when every dimension that argues at
    # all argues for one side (the others neutral or on that side), that side scores at least
    # the other pure option and at least hybrid, for every valid pack.
    cp = compiled(pack, doc)
    xs = _corner_rows(doc, cp)
    ev = evaluate(xs, cp)
    u, base = ev.utilities, ev.base
    sides = ((E2E, MOD, (u >= 0).all(axis=1)), (MOD, E2E, (u <= 0).all(axis=1)))
    # Rule leans (edge deployment, independent updates) are not the matrix: left out here.
    no_lean = np.abs(ev.pulls[:, 0] - np.maximum(u, 0) @ cp.weights) < TOL
    no_lean &= np.abs(ev.pulls[:, 1] - np.maximum(-u[:, 1:], 0) @ cp.weights[1:]) < TOL
    for side, other, mask in sides:
        m = mask & no_lean
        assert np.all(base[m, side] >= base[m, other] - TOL)
        assert np.all(base[m, side] >= base[m, HYB] - TOL)


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids)
def test_scores_lie_on_one_scale_and_hybrid_needs_a_conflict(doc, pack):
    # Every option's score before rules lies in [0, 1]; end-to-end and modular split one unit;
    # without a conflict above the pack's floor, hybrid never outscores the better pure option.
    cp = compiled(pack, doc)
    xs = _corner_rows(doc, cp)
    ev = evaluate(xs, cp)
    base = ev.base
    assert np.all((base >= -TOL) & (base <= 1 + TOL))
    learned, traditional = ev.pulls[:, 0], ev.pulls[:, 1]
    no_conflict = np.minimum(learned, traditional) <= cp.pack.hybrid_score.conflict_floor
    best_pure = np.maximum(base[:, E2E], base[:, MOD])
    assert np.all(base[no_conflict, HYB] <= best_pure[no_conflict] + TOL)


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN)
def test_arguments_where_the_seed_puts_them_with_the_default_pack(doc):
    # The default pack: a budget of a second or more argues for neither side; low stakes
    # (non-critical, no explanation need, no regime) argue for neither; a strong reason for a
    # learned core (ample data or a budget under 20 ms) against a hard reason for modules (a
    # high requirement, safety-critical, stages updated independently) gives hybrid unless a
    # veto rules it out or the data are short; no conflict and no veto: never hybrid.
    cp = compiled(0, doc)
    xs = _corner_rows(doc, cp)
    ev = evaluate(xs, cp)
    u, choice = ev.utilities, ev.choice
    budgets = 10 ** xs[:, cp.space.col("latency_log")]
    assert np.all(u[budgets >= 1000, 1] == 0.0)
    reg = doc.get("regulation", {})
    if (
        reg.get("criticality", "non_critical") == "non_critical"
        and not reg.get("regimes")
        and (reg.get("explainability") in (None, "none"))
    ):
        assert np.all(u[:, 2] == 0.0)
    assert np.all(u[:, 1] >= 0.0) and np.all(u[:, 2] <= 0.0)
    strong = (u[:, 0] >= 0.99) | (budgets < 20)
    req = ev.required.astype(int)
    hard = (
        (req == EXPLAINABILITY_ORDER.index("high"))
        | (xs[:, cp.space.col("criticality")] == CRITICALITY_ORDER.index("safety_critical"))
        | (xs[:, cp.space.col("independent_updates")] == 1.0)
    )
    # ... unless a rule moved the scores, or the traditional reasons outweigh the learned ones
    # by more than half again (then modular: the matrix's stronger side).
    learned, traditional = ev.pulls[:, 0], ev.pulls[:, 1]
    conflict = strong & hard & ~ev.vetoed[:, HYB] & (ev.pulls[:, 2] == 0.0)
    conflict &= (np.abs(ev.rule_adjust).sum(axis=1) == 0) & (traditional <= 1.5 * learned)
    bad = np.nonzero(conflict & (choice != HYB))[0]
    assert bad.size == 0, [
        (xs[i].tolist(), u[i].tolist(), ev.effective[i].tolist()) for i in bad[:2]
    ]
    calm = np.minimum(ev.pulls[:, 0], ev.pulls[:, 1]) <= cp.pack.hybrid_score.conflict_floor
    calm &= ~ev.vetoed.any(axis=1) & (np.abs(ev.rule_adjust).sum(axis=1) == 0)
    assert np.all(choice[calm] != HYB)


@examples(2000, suppress_health_check=SLOW)
@given(doc=PLAIN, pack=pack_ids)
def test_vetoes(doc, pack):
    cp = compiled(pack, doc)
    xs = _corner_rows(doc, cp)
    ev = evaluate(xs, cp)
    req = ev.required.astype(int)
    hard = cp.req_hard[req]
    # A hard explainability requirement that an option cannot meet vetoes that option.
    assert np.array_equal(ev.expl_veto, ~ev.meets & hard[:, None])
    need = cp.req_min[req]
    meets = (ev.fidelity >= need[:, None]) & (~cp.req_trace[req][:, None] | ev.traceable)
    assert np.array_equal(ev.meets, meets)
    # A vetoed option is never recommended while another is not vetoed.
    chosen_vetoed = ev.vetoed[np.arange(len(xs)), ev.choice]
    assert np.all(~chosen_vetoed | ev.vetoed.all(axis=1))
    if pack == 0:
        # No paired data, safety-critical, SEC 15c3-5 and a hard requirement veto end-to-end.
        pairs = xs[:, cp.space.col("paired_log")]
        assert np.all(ev.vetoed[pairs < log_pairs(1), E2E])
        if doc.get("regulation", {}).get("criticality") == "safety_critical":
            assert ev.vetoed[:, E2E].all()
        if "sec_15c3_5" in doc.get("regulation", {}).get("regimes", []):
            assert ev.vetoed[:, E2E].all()
        assert np.array_equal(ev.expl_veto[:, E2E], hard)  # end-to-end never meets "high"
        assert not ev.vetoed[:, MOD].any()  # the default pack always leaves modular open


# ---------------------------------------------------------------------------------------------
# Determinism and invariance


def _shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]  # a copy: the caller may shuffle it
    return value


def _without_input(a: Assessment) -> dict[str, Any]:
    return a.model_dump(exclude={"input"})


def test_determinism_across_processes(tmp_path):
    """Byte-identical JSON (explanations included) in processes with different hash seeds."""
    rnd = random.Random(8)
    docs: list[dict[str, Any]] = [
        load_requirements(p).model_dump(mode="json", exclude_unset=True) for p in EXAMPLES
    ]
    for i in range(40):
        doc: dict[str, Any] = {
            "name": f"p{i} {rnd.choice(['ü', 'x', '漢'])}",
            "task": {"modality": rnd.choice(["text", "speech", "vision", "tabular", "control"])},
            "data": {"paired_examples": round(10 ** rnd.uniform(0, 9))},
            "latency": {"budget_ms": round(10 ** rnd.uniform(0, 5), 2)},
            "regulation": {
                "criticality": rnd.choice(CRITICALITY_ORDER),
                "regimes": rnd.sample(list(KNOWN_REGIMES) + ["zz", "aa"], 2),
            },
        }
        docs.append(doc)
    explain = len(EXAMPLES) + 2  # explanations for the examples and two generated profiles
    (tmp_path / "docs.json").write_text(json.dumps(docs))
    script = (
        "import hashlib, json, sys\n"
        "from advisor import recommend, render\n"
        f"docs = json.load(open({str(tmp_path / 'docs.json')!r}))\n"
        "h = hashlib.sha256()\n"
        "for i, d in enumerate(docs):\n"
        f"    a = recommend(d, explain=i < {explain})\n"
        "    h.update(a.to_json().encode())\n"
        "print(h.hexdigest())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["NUMBA_DISABLE_JIT"] = "1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONHASHSEED": seed},
        )
        for seed in ("0", "4242")
    ]
    digests = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        digests.append(out.strip())
    # And this process (its own random hash seed) agrees with them.
    import hashlib

    h = hashlib.sha256()
    for i, d in enumerate(docs):
        h.update(recommend(d, explain=i < explain).to_json().encode())
    assert digests == [h.hexdigest()] * 2


# ---------------------------------------------------------------------------------------------
# The explanations: SHAP additivity and counterfactuals that really flip (a few hundred examples:
# each assessment with explanations costs ~50-150 ms interpreted).


@examples(200, suppress_health_check=SLOW)
@given(doc=profiles())
def test_attributions_add_up_and_counterfactuals_flip(doc):
    a = recommend(doc, rulepack=DEFAULT, explain=True)
    vetoed = {v.option for v in a.vetoes}
    eff = {o: (-1.0 if o in vetoed else s) for o, s in a.scores.items()}
    assert a.attribution_base is not None
    total = a.attribution_base + sum(x.contribution for x in a.attributions)
    assert total == pytest.approx(eff[a.recommendation] - eff[a.runner_up], abs=1e-6)
    found = [c for c in a.counterfactuals if c.found] + ([a.best_pair] if a.best_pair else [])
    for n, cf in enumerate(found):
        data = json.loads(json.dumps(a.requirements))
        for ch in cf.changes:
            section, _, key = ch.field.partition(".")
            data[section][key] = ch.new
        data["name"] = "cf"
        # Re-evaluated independently: the first through the whole pipeline, the others through
        # the vectorised engine from the changed requirements (the two agree: see the first
        # property).
        if n == 0:
            got = recommend(data, rulepack=DEFAULT, explain=False).recommendation
        else:
            cp = compiled(0, data)
            got = OPTIONS[int(evaluate(row(data, cp), cp).choice[0])]
        assert got == cf.new_recommendation != a.recommendation, cf


# ---------------------------------------------------------------------------------------------
# `advisor ask`: a profile saved by the questionnaire and read back gives the same assessment.


def _ask_module() -> Any:
    try:
        import advisor._ask as module
    except ImportError as e:  # pragma: no cover - the questionnaire is built in parallel
        pytest.skip(f"advisor._ask is not available yet ({e}); the ask round-trip cannot run")
    return module


ASK_TEXT = st.text(min_size=1, max_size=40)  # NEL, LS/PS and control characters included


@examples(2000, suppress_health_check=SLOW)
@given(
    doc=profiles(text=st.one_of(st.just("p"), ASK_TEXT)),
    defaults=st.booleans(),
    json_format=st.booleans(),
)
def test_profile_saved_by_ask_reads_back_to_the_same_assessment(doc, defaults, json_format):
    module = _ask_module()
    qs = module.questions()
    filled = module.prefill(doc, "p.yaml", qs)
    assert filled.invalid == []
    session = module.Session(qs, dict(filled.answers))
    if defaults:
        session.apply_defaults()
    in_memory = session.document()
    if not defaults:
        assert Requirements.model_validate(in_memory) == Requirements.model_validate(doc)
    text = module.answers_text(session, ["saved by a test"], json_format=json_format)
    req, saved = read_requirements_bytes(text.encode(), "answers.json" if json_format else "a.yaml")
    # The file reads back to the very mapping the questionnaire holds (types and order as JSON
    # sees them), so the assessment, a function of that mapping (determinism above), is the same;
    # test_ask_round_trip_through_the_cli checks the two reports byte for byte.
    assert json.dumps(saved, sort_keys=True) == json.dumps(in_memory, sort_keys=True)
    assert req == Requirements.model_validate(in_memory)


def test_ask_keeps_next_line_characters():
    # U+0085 (NEL) is a YAML line break PyYAML once wrote raw into a quoted scalar; it read back
    # as a space (fixed in advisor/_ask.py).
    module = _ask_module()
    qs = module.questions()
    doc = {"name": "a\x85b\u2028c", "data": {"paired_examples": 1}, "latency": {"budget_ms": 1}}
    session = module.Session(qs, dict(module.prefill(doc, "p.yaml", qs).answers))
    _, saved = read_requirements_bytes(module.answers_text(session, []).encode(), "a.yaml")
    assert saved["name"] == "a\x85b\u2028c"


def test_ask_round_trip_through_the_cli(tmp_path, monkeypatch):
    """`advisor ask` writes the answers and the report; `advisor recommend` on the saved answers
    gives the same report, byte for byte."""
    _ask_module()
    from click.testing import CliRunner

    from advisor._cli.main import main

    def run(args: list[str]) -> int:
        with CliRunner().isolation():
            try:
                main(args)
            except SystemExit as e:
                return e.code if isinstance(e.code, int) else 1
        return 0

    for i, path in enumerate(EXAMPLES[:4]):
        answers, report, again = (
            tmp_path / f"{i}.yaml",
            tmp_path / f"{i}.json",
            tmp_path / f"{i}-again.json",
        )
        answers.write_bytes(path.read_bytes())
        monkeypatch.setenv("ADVISOR_ASK_INTERACTIVE", "0")  # no terminal: nothing is asked
        assert run(["ask", "--answers", str(answers), "--defaults", "-o", str(report)]) == 0
        assert run(["recommend", str(answers), "-o", str(again)]) == 0
        assert again.read_bytes() == report.read_bytes()
