"""The engine's decisions: scenarios, corners, vetoes, determinism, additivity."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES, profile

from advisor import load_requirements, recommend


def test_pack_scenarios_pass(pack):
    # Every scenario gets an answer it accepts; all but a few get the expected primary.
    assert len(pack.scenarios) >= 36
    failures, primary = [], 0
    for sc in pack.scenarios:
        got = recommend(sc.input, rulepack=pack, explain=False).recommendation
        if got not in sc.accepted():
            failures.append(f"{sc.id}: expected {sc.accepted()}, got {got}")
        primary += got == sc.expect
    assert not failures, failures
    assert primary >= len(pack.scenarios) - 3


def test_scores_lie_on_one_zero_to_one_scale(pack):
    for path in EXAMPLES:
        a = recommend(load_requirements(path), rulepack=pack, explain=False)
        assert all(0.0 <= v <= 1.0 for v in a.scores.values()), (path, a.scores)


def test_corner_all_end_to_end(pack):
    # Ample data and a tight budget argue for end-to-end; low stakes argue for neither.
    a = recommend(
        profile(
            task={"modality": "speech"}, data={"paired_examples": 1e7}, latency={"budget_ms": 20}
        ),
        rulepack=pack,
        explain=False,
    )
    assert [d.favours for d in a.dimensions] == ["end_to_end", "end_to_end", "neutral"]
    assert a.recommendation == "end_to_end"


def test_corner_all_modular(pack):
    # Scarce data and strict regulation argue for modular; a relaxed budget argues for neither.
    a = recommend(
        profile(
            task={"modality": "tabular"},
            data={"paired_examples": 500},
            latency={"budget_ms": 8000},
            regulation={"criticality": "regulated", "explainability": "high"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert [d.favours for d in a.dimensions] == ["modular", "neutral", "modular"]
    assert a.recommendation == "modular"


@pytest.mark.parametrize("budget", [1000, 2000, 5000, 10_000, 60_000])
def test_relaxed_budget_is_no_argument_for_modular(pack, budget):
    # Issue 12: a non-critical text project with 100M cheap pairs stays end-to-end whatever
    # relaxed budget it has.
    a = recommend(
        profile(
            task={"modality": "text"},
            data={"paired_examples": 1e8, "stage_labels": "none", "labeling_cost": "low"},
            latency={"budget_ms": budget},
            regulation={"criticality": "non_critical"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert a.recommendation == "end_to_end"
    latency = next(d for d in a.dimensions if d.name == "latency")
    assert latency.utility == 0.0 and latency.favours == "neutral"


def test_low_stakes_with_scarce_data_are_modular(pack):
    # Non-critical projects can be modular: low stakes are no evidence for end-to-end.
    a = recommend(
        profile(
            task={"modality": "tabular"},
            data={"paired_examples": 1000, "stage_labels": "full"},
            latency={"budget_ms": 1000},
            regulation={"criticality": "non_critical", "explainability": "none"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert a.recommendation == "modular"


def test_real_conflict_gives_hybrid_and_mild_disagreement_does_not(pack):
    conflict = recommend(
        profile(
            task={"modality": "text"},
            data={"paired_examples": 5e7},
            latency={"budget_ms": 500},
            regulation={"criticality": "regulated", "explainability": "high"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert conflict.recommendation == "hybrid"
    assert conflict.hybrid_pattern is not None and conflict.hybrid_pattern.stages
    # Ample data against a business-critical system with a low explanation need: mild.
    mild = recommend(
        profile(
            task={"modality": "text"},
            data={"paired_examples": 5e7},
            latency={"budget_ms": 500},
            regulation={"criticality": "business_critical", "explainability": "low"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert mild.recommendation == "end_to_end"


def test_independent_updates_can_change_the_answer(pack):
    base = profile(
        task={"modality": "vision"},
        data={"paired_examples": 5e7},
        latency={"budget_ms": 40},
        regulation={"criticality": "business_critical"},
    )
    alone = recommend(base, rulepack=pack, explain=False)
    base["deployment"] = {"independent_updates": True}
    owned = recommend(base, rulepack=pack, explain=False)
    assert alone.recommendation == "end_to_end"
    assert owned.recommendation == "hybrid"


def test_foundation_model_lowers_the_data_needed(pack):
    base = profile(
        task={"modality": "text"},
        data={"paired_examples": 2000, "stage_labels": "none"},
        latency={"budget_ms": 2000},
    )
    plain = recommend(base, rulepack=pack, explain=False)
    base["task"]["pretrained_available"] = True
    backbone = recommend(base, rulepack=pack, explain=False)
    base["task"]["foundation_model"] = True
    covered = recommend(base, rulepack=pack, explain=False)
    u = [
        next(d.utility for d in a.dimensions if d.name == "data")
        for a in (plain, backbone, covered)
    ]
    assert u[0] < u[1] < u[2]
    assert plain.recommendation == "modular"
    assert covered.recommendation == "end_to_end"


def test_hard_explainability_vetoes_end_to_end(pack):
    a = recommend(
        profile(
            data={"paired_examples": 1e9},
            latency={"budget_ms": 5},
            regulation={"explainability": "high"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert "end_to_end" in {v.option for v in a.vetoes}
    assert a.recommendation != "end_to_end"
    assert not a.explainability["end_to_end"].meets_requirement


def test_regime_raises_requirement_and_vetoes(pack):
    a = recommend(
        profile(
            data={"paired_examples": 1e9},
            latency={"budget_ms": 5},
            regulation={"regimes": ["ecoa"]},
        ),
        rulepack=pack,
        explain=False,
    )
    assert a.explainability["modular"].required_level == "high"
    assert a.recommendation != "end_to_end"
    assert any("raised" in w for w in a.warnings)


def test_no_paired_data_vetoes_end_to_end(pack):
    a = recommend(
        profile(data={"paired_examples": 0}, latency={"budget_ms": 5}), rulepack=pack, explain=False
    )
    assert any(v.option == "end_to_end" and v.rule == "e2e-needs-paired-data" for v in a.vetoes)
    assert a.recommendation != "end_to_end"


def test_safety_critical_gets_envelope(pack):
    a = recommend(
        profile(
            task={"modality": "control"},
            data={"paired_examples": 1e8},
            latency={"budget_ms": 10},
            regulation={"criticality": "safety_critical"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert a.recommendation == "hybrid"
    assert a.hybrid_pattern is not None and a.hybrid_pattern.id == "safety-envelope"
    assert "rule_based" in {s.kind for s in a.hybrid_pattern.stages}


def test_unknown_regime_warns_and_is_ignored(pack):
    with_unknown = recommend(
        profile(regulation={"regimes": ["made_up_act"]}), rulepack=pack, explain=False
    )
    without = recommend(profile(), rulepack=pack, explain=False)
    assert any("made_up_act" in w for w in with_unknown.warnings)
    assert with_unknown.scores == without.scores


def test_explainability_default_is_reported(pack):
    a = recommend(profile(regulation={"criticality": "regulated"}), rulepack=pack, explain=False)
    d = {x.field: x for x in a.defaults_applied}
    assert d["regulation.explainability"].value == "medium"
    assert "criticality" in d["regulation.explainability"].reason
    assert a.requirements["regulation"]["explainability"] == "medium"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_deterministic_and_additive(path, pack):
    req = load_requirements(path)
    first = recommend(req, rulepack=pack)
    second = recommend(req, rulepack=pack)
    assert first.to_json() == second.to_json()
    total = first.attribution_base + sum(x.contribution for x in first.attributions)
    rec, runner = first.recommendation, first.runner_up
    eff = {
        o: (-1.0 if o in {v.option for v in first.vetoes} else s) for o, s in first.scores.items()
    }
    assert total == pytest.approx(eff[rec] - eff[runner], abs=1e-6)
    assert 0.0 <= first.confidence <= 1.0
    assert sum(first.probabilities.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_counterfactuals_really_flip(path, pack):
    a = recommend(load_requirements(path), rulepack=pack)
    assert len(a.counterfactuals) == 13
    found = [c for c in a.counterfactuals if c.found] + ([a.best_pair] if a.best_pair else [])
    assert found, "some change must flip every example"
    base = json.loads(json.dumps(a.requirements))
    for cf in found:
        data = json.loads(json.dumps(base))
        for ch in cf.changes:
            section, _, key = ch.field.partition(".")
            data[section][key] = ch.new
        assert recommend(data, rulepack=pack, explain=False).recommendation == cf.new_recommendation
        assert cf.new_recommendation != a.recommendation


def test_score_attributions_on_request_are_additive(pack):
    a = recommend(load_requirements(EXAMPLES[0]), rulepack=pack, explain_scores=True)
    assert a.score_attributions is not None and set(a.score_attributions) == set(a.scores)
    vetoed = {v.option for v in a.vetoes}
    for opt, sa in a.score_attributions.items():
        eff = -1.0 if opt in vetoed else a.scores[opt]
        assert sa.base + sum(x.contribution for x in sa.attributions) == pytest.approx(
            eff, abs=1e-6
        )
    assert recommend(load_requirements(EXAMPLES[0]), rulepack=pack).score_attributions is None


def test_attributions_mark_defaults(pack):
    a = recommend(profile(), rulepack=pack)
    by = {x.feature: x for x in a.attributions}
    assert by["data.paired_examples"].default is False
    assert by["team.ml_maturity"].default is True
    assert by["deployment"].default is True
    assert "(default: not given)" in by["team.ml_maturity"].text


def test_the_counterfactual_grid_is_geometric_between_its_exact_ends():
    # The scan's grid is np.geomspace's sequence, written without its argument handling.
    import random

    import numpy as np

    from advisor._counterfactuals import GRID, _geometric

    rnd = random.Random(5)
    for _ in range(2000):
        a, b = 10 ** rnd.uniform(-3, 9), 10 ** rnd.uniform(-3, 9)
        g = _geometric(a, b)
        assert len(g) == GRID and g[0] == a and g[-1] == b
        np.testing.assert_allclose(g, np.geomspace(a, b, GRID), rtol=1e-14, atol=0)
        ratios = np.log10(g[1:] / g[:-1])
        np.testing.assert_allclose(ratios, np.log10(b / a) / (GRID - 1), rtol=1e-9, atol=1e-12)
