"""Confidence from the inputs and the pack's own assumptions; unsure answers; what to find out
next (value of information), re-checked by resolving each input to each of its values."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import EXAMPLES, profile
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from strategies import examples

from advisor import load_requirements, load_rulepack, recommend
from advisor._engine import prepare
from advisor._errors import InputError
from advisor._requirements import Requirements
from advisor._scoring import evaluate
from advisor._uncertainty import NUMERIC_POINTS, stacked, variants

PACK = load_rulepack()


def test_stacked_variants_score_as_each_variant_alone():
    cp = prepare(PACK).compiled
    packs = variants(cp)
    assert len(packs) == PACK.uncertainty.pack_variants
    rng = np.random.default_rng(3)
    base = cp.space.vector(Requirements.model_validate(profile()))
    x = np.repeat(base[None, :], 400, axis=0)
    x[:, cp.space.col("paired_log")] = rng.uniform(0, 10, 400)
    x[:, cp.space.col("latency_log")] = rng.uniform(-1, 5, 400)
    x[:, cp.space.col("criticality")] = rng.integers(0, 4, 400)
    x[:, cp.space.col("explainability")] = rng.integers(0, 4, 400)
    x[:, cp.space.col("independent_updates")] = rng.integers(0, 2, 400)
    v = rng.integers(0, len(packs), 400)
    joint = evaluate(x, cp, stacked(cp), v)
    for k, vp in enumerate(packs):
        rows = v == k
        alone = evaluate(x[rows], vp)
        assert np.allclose(joint.effective[rows], alone.effective, atol=1e-12)
        assert np.array_equal(joint.choice[rows], alone.choice)


def test_confidence_parts_and_examples_not_all_certain():
    confidences = []
    for path in EXAMPLES:
        a = recommend(load_requirements(path), rulepack=PACK, explain=False)
        u = a.uncertainty
        assert u.pack_variants == PACK.uncertainty.pack_variants
        for shares in (a.probabilities, u.from_inputs, u.from_pack):
            assert math.isclose(sum(shares.values()), 1.0, abs_tol=1e-3)
        confidences.append(a.confidence)
    assert min(confidences) < 0.9, confidences
    assert len(set(confidences)) >= 3, confidences


def test_a_pack_without_intervals_has_no_pack_uncertainty():
    doc = PACK.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["uncertainty"]["parameters"] = {}
    bare = type(PACK).model_validate(doc)
    a = recommend(profile(), rulepack=bare, explain=False)
    assert a.uncertainty.pack_variants == 1
    assert a.uncertainty.from_pack[a.recommendation] == 1.0
    assert not [v for v in a.value_of_information if v.kind == "pack"]


def test_unsure_answer_forms():
    base = profile(regulation={"criticality": "regulated"})
    base["regulation"]["explainability"] = {"one_of": {"medium": 0.7, "high": 0.3}}
    req = Requirements.model_validate(base)
    assert req.regulation.explainability == "medium"
    assert req.unsure() == {"regulation.explainability": {"medium": 0.7, "high": 0.3}}
    base["task"]["pretrained_available"] = {"one_of": [True, False]}
    req = Requirements.model_validate(base)
    assert req.task.pretrained_available is True  # a tie: the first listed stands
    assert req.unsure()["task.pretrained_available"] == {True: 0.5, False: 0.5}
    for bad in (
        {"one_of": []},
        {"one_of": {"medium": -1}},
        {"one_of": ["medium", "bogus"]},
        {"one_of": {"medium": float("nan")}},
    ):
        doc = copy.deepcopy(base)
        doc["regulation"]["explainability"] = bad
        with pytest.raises(InputError) as e:
            recommend(doc, rulepack=PACK, explain=False)
        assert any("regulation.explainability" in p for p in e.value.problems)


def test_unsure_answer_is_sampled_and_explained_at_its_most_likely_value():
    # Ample data and a tight budget: no explanation need -> end-to-end; high -> hybrid.
    doc = profile(
        task={"modality": "text"}, data={"paired_examples": 5e7}, latency={"budget_ms": 40}
    )
    doc["regulation"]["explainability"] = {"one_of": {"none": 0.75, "high": 0.25}}
    a = recommend(doc, rulepack=PACK)
    assert a.recommendation == "end_to_end"
    assert 0.6 < a.confidence < 0.9  # about three quarters of the samples
    assert "unsure answer" in a.uncertainty.inputs["regulation.explainability"]
    assert a.attributions  # explanations still work, at the most likely value
    top = next(v for v in a.value_of_information if v.input == "regulation.explainability")
    assert top.probability == 0.25 and top.answers == {"end_to_end": 0.75, "hybrid": 0.25}
    assert "Settling the unsure explainability requirement" in top.text


def _resolved(doc: dict, field: str, value: object) -> dict:
    out = copy.deepcopy(doc)
    section, key = field.split(".")
    out.setdefault(section, {})[key] = value
    return out


_LEVELS = st.sampled_from(["none", "low", "medium", "high"])
_CRITS = st.sampled_from(["non_critical", "business_critical", "regulated", "safety_critical"])


@examples(25, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.floats(1e2, 1e9),
    budget=st.floats(5, 20000),
    expl=st.lists(_LEVELS, min_size=2, max_size=4, unique=True),
    crit=_CRITS,
    modality=st.sampled_from(["text", "speech", "vision", "tabular"]),
)
def test_value_of_information_matches_resolving_each_value(pairs, budget, expl, crit, modality):
    # Every stated probability equals the weighted share of its values whose re-run (the input
    # set to that value, everything else as given) gives another recommendation.
    doc = profile(
        task={"modality": modality},
        data={"paired_examples": pairs},
        latency={"budget_ms": budget},
        regulation={"criticality": crit},
    )
    doc["regulation"]["explainability"] = {"one_of": expl}
    a = recommend(doc, rulepack=PACK, explain=False)
    items = {v.input: v for v in a.value_of_information}
    unsure = items["regulation.explainability"]
    changed = sum(
        1.0 / len(expl)
        for level in expl
        if recommend(
            _resolved(doc, "regulation.explainability", level), rulepack=PACK, explain=False
        ).recommendation
        != a.recommendation
    )
    assert unsure.probability == pytest.approx(changed, abs=1e-4)
    # A plain number with the default spread: resolved to its bins' midpoints.
    spread = PACK.uncertainty.default_spread["data.paired_examples"]
    lo, hi = math.log10(1 + pairs / spread), math.log10(1 + pairs * spread)
    changed = 0.0
    for i in range(NUMERIC_POINTS):
        exact = 10 ** (lo + (hi - lo) * (i + 0.5) / NUMERIC_POINTS) - 1
        # The pack treats a plain number as uncertain; the re-run fixes it with a zero-width
        # range, which the engine reads at exactly that value.
        again = recommend(
            _resolved(doc, "data.paired_examples", {"low": exact, "high": exact}),
            rulepack=PACK,
            explain=False,
        )
        changed += (again.recommendation != a.recommendation) / NUMERIC_POINTS
    assert items["data.paired_examples"].probability == pytest.approx(changed, abs=1e-4)
    # Ranked, largest first.
    probs = [v.probability for v in a.value_of_information]
    assert probs == sorted(probs, reverse=True)


def test_questionnaire_takes_not_sure_answers():
    from advisor._ask import parse_answer, questions

    qs = {q.path: q for q in questions()}
    expl, stage, pre = (
        qs[p]
        for p in ("regulation.explainability", "data.stage_labels", "task.pretrained_available")
    )
    assert parse_answer(expl, "not sure") == {"one_of": ["none", "low", "medium", "high"]}
    assert parse_answer(expl, "medium or high") == {"one_of": ["medium", "high"]}
    assert parse_answer(expl, "? low high") == {"one_of": ["low", "high"]}
    assert parse_answer(stage, "partial/full") == {"one_of": ["partial", "full"]}
    assert parse_answer(stage, "not sure: full") == "full"  # one choice: not unsure at all
    assert parse_answer(pre, "not sure") == {"one_of": [True, False]}
    with pytest.raises(ValueError):
        parse_answer(stage, "partial or sideways")


def test_unsure_answer_saved_by_ask_reads_back(tmp_path):
    from conftest import run_cli

    answers, report = tmp_path / "a.yaml", tmp_path / "r.json"
    r = run_cli(
        [
            "ask",
            "--defaults",
            "--set",
            "name=Demo",
            "--set",
            "data.paired_examples=5e7",
            "--set",
            "latency.budget_ms=40",
            "--set",
            "regulation.explainability=none or high",
            "--answers",
            str(answers),
            "-o",
            str(report),
        ],
        input="",
    )
    assert r.exit_code == 0, r.output
    assert "Find out next: Settling the unsure explainability requirement" in r.stdout
    again = recommend(load_requirements(answers), rulepack=PACK, explain=False)
    assert again.uncertainty.inputs["regulation.explainability"].startswith("unsure answer")
    import json

    assert json.loads(report.read_text())["confidence"] == again.confidence


def test_batch_csv_cells_take_unsure_answers(tmp_path):
    import json

    from conftest import run_cli

    src = tmp_path / "u.csv"
    src.write_text(
        "id,name,data.paired_examples,latency.budget_ms,regulation.explainability\n"
        "1,a,5e7,40,none=0.75|high=0.25\n"
        "2,b,5e7,40,medium|sideways\n"
    )
    out = tmp_path / "u.jsonl"
    r = run_cli(["batch", str(src), "-o", str(out), "--samples", "2000"])
    assert r.exit_code == 2  # one bad row; the other is assessed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    doc = profile(
        task={"modality": "other"},
        data={"paired_examples": 5e7},
        latency={"budget_ms": 40},
        regulation={},
    )
    doc["regulation"] = {"explainability": {"one_of": {"none": 0.75, "high": 0.25}}}
    single = recommend(doc, rulepack=PACK, explain=False)
    assert rows[0]["recommendation"] == single.recommendation
    assert rows[0]["confidence"] == single.confidence
    assert rows[1]["errors"][0]["field"] == "regulation.explainability"
    assert "'sideways' is not one of its choices" in rows[1]["errors"][0]["message"]
