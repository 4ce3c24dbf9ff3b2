"""One decision path (issue 13): the single assessment, batch, recommend_many and compare all
decide through `decide.decide`, so they agree; compare explains the margin the assessments
report, with the pack as it applies to each mix (its explanation method)."""

from __future__ import annotations

import json
import random

import numpy as np
from test_batch import random_profile

from advisor import recommend, recommend_many
from advisor._compare import compare
from advisor._engine import prepare
from advisor._fields import OPTIONS
from advisor._requirements import Requirements
from advisor._scoring import VETO_SCORE, evaluate


def _explained(old, new):
    if old.recommendation != new.recommendation:
        return new.recommendation, old.recommendation
    return new.recommendation, new.runner_up


def _margin(a, first, second):
    # The effective margin the game plays: a vetoed option scores VETO_SCORE.
    vetoed = {v.option for v in a.vetoes}
    eff = {o: VETO_SCORE if o in vetoed else a.scores[o] for o in OPTIONS}
    return eff[first] - eff[second]


def test_compare_explains_the_margin_the_assessments_report_with_an_explanation_method(pack):
    rnd = random.Random(31)
    checked = differs = 0
    for i in range(60):
        a = random_profile(rnd, i)
        a["regulation"]["explanation_method"] = "shap"
        b = json.loads(json.dumps(a))
        b["latency"]["budget_ms"] = round(10 ** rnd.uniform(0, 4.7), 2)
        if i % 3 == 0:  # the method itself changes too: each end keeps its own
            b["regulation"]["explanation_method"] = "lime"
        old, new = (
            recommend(a, rulepack=pack, explain=False),
            recommend(b, rulepack=pack, explain=False),
        )
        c = compare(old, new, pack)
        assert c.attribution_old is not None, c.attribution_note
        first, second = _explained(old, new)
        assert abs(c.attribution_old - _margin(old, first, second)) < 1e-6, (i, a)
        assert abs(c.attribution_new - _margin(new, first, second)) < 1e-6, (i, b)
        total = sum(x.contribution for x in c.contributions)
        assert abs(c.attribution_old + total - c.attribution_new) < 1e-5
        checked += 1
        # The check is live: the pack as it is, without the method, gives another margin here.
        cp = prepare(pack).compiled
        eff = evaluate(cp.space.vector(Requirements.model_validate(a))[None], cp).effective[0]
        plain = eff[OPTIONS.index(first)] - eff[OPTIONS.index(second)]
        differs += abs(plain - _margin(old, first, second)) > 1e-6
    assert checked == 60
    assert differs >= 1


def test_recommend_many_without_explanations_equals_recommend_on_each(pack):
    rnd = random.Random(4)
    docs = [random_profile(rnd, i) for i in range(40)]
    for i, d in enumerate(docs):
        if i % 4 == 0:
            d["regulation"]["explanation_method"] = ["shap", "lime"][i % 8 // 4]
    many = recommend_many(docs, rulepack=pack, explain=False)
    for d, a in zip(docs, many, strict=True):
        assert a.to_json() == recommend(d, rulepack=pack, explain=False).to_json()
    models = [Requirements.model_validate(d) for d in docs[:5]]
    for m, a in zip(models, recommend_many(models, rulepack=pack, explain=False), strict=True):
        assert a.to_json() == recommend(m, rulepack=pack, explain=False).to_json()


def test_batch_rows_equal_single_assessments_decided_by_the_same_path(pack):
    from advisor._batch import assess_chunk
    from advisor._batch_read import Item

    rnd = random.Random(6)
    docs = [random_profile(rnd, i) for i in range(30)]
    for i, d in enumerate(docs):
        if i % 3 == 0:
            d["regulation"]["explanation_method"] = "shap"
    items = [Item(i + 1, f"t:{i}", d) for i, d in enumerate(docs)]
    res = assess_chunk(items, prepare(pack), samples=pack.uncertainty.samples, explain=True)
    for d, line in zip(docs, res.lines, strict=True):
        got = json.loads(line)
        a = recommend(d, rulepack=pack)
        assert got["recommendation"] == a.recommendation
        assert got["runner_up"] == a.runner_up
        assert got["probabilities"] == a.probabilities
        assert got["scores"] == a.scores
        assert got["attribution_base"] == a.attribution_base
        single = {x.feature: x.contribution for x in a.attributions}
        assert np.allclose(
            [got["attributions"][k] for k in single], list(single.values()), atol=1e-9, rtol=0
        )


def test_flips_verified_without_the_engines_recheck_of_the_rounded_moves_are_the_same(pack):
    # An assessment leaves the re-check of the rounded numeric moves to the verification, which
    # scores each move through the full pipeline, nearest first: the flips it keeps are those
    # it keeps from the re-checked moves.
    from advisor._counterfactuals import Move, request_single_moves, single_moves
    from advisor._decide import decide
    from advisor._facts import numbers
    from advisor._scoring import Batch
    from advisor._verify import single_flips

    def flips(found):
        return {f: None if v is None else (v.edits, v.new) for f, v in found.items()}

    cp = prepare(pack).compiled
    rnd = random.Random(23)
    passed_over = 0
    for i in range(60):
        req = Requirements.model_validate(random_profile(rnd, i))
        d = decide([req], pack, confidence=False)[0]
        x, rec = d.x[0], int(d.ev.choice[0])
        checked = single_moves(x, cp, numbers(req), rec)
        batch = Batch(cp)
        done = request_single_moves(x, cp, numbers(req), rec, batch, recheck=False)
        batch.run()
        unchecked = done()
        want = flips(single_flips(req, pack, checked, rec))
        assert flips(single_flips(req, pack, unchecked, rec)) == want, req.name
        # A move that does not flip, nearest of all, is passed over for the next one.
        for field, found in checked.items():
            if found and field in numbers(req):
                stay = Move(field, numbers(req)[field], 0.0, x)
                assert flips(single_flips(req, pack, {**checked, field: [stay, *found]}, rec)) == (
                    want
                ), (req.name, field)
                passed_over += 1
    assert passed_over > 10


def _searched(pack, rnd, n):
    # n random projects with their rows, recommendations and unchecked single moves (as an
    # explained assessment finds them).
    from advisor._counterfactuals import request_single_moves
    from advisor._decide import decide
    from advisor._facts import numbers
    from advisor._scoring import Batch

    cp = prepare(pack).compiled
    for i in range(n):
        req = Requirements.model_validate(random_profile(rnd, i))
        d = decide([req], pack, confidence=False)[0]
        x, rec = d.x[0], int(d.ev.choice[0])
        batch = Batch(cp)
        done = request_single_moves(x, cp, numbers(req), rec, batch, recheck=False)
        batch.run()
        yield req, x, rec, done()


def test_the_answers_the_search_keeps_with_its_moves_are_the_engines_at_their_rows(pack):
    # The search keeps the engine's answer with each move it scored (the bisection scores the
    # rounded value it may end on with its probes): each is what scoring the row alone gives.
    from advisor._scoring import score

    cp = prepare(pack).compiled
    kept = numeric = 0
    for _req, _x, _rec, moves in _searched(pack, random.Random(41), 60):
        for field, found in moves.items():
            for m in found:
                if m.choice is not None:
                    kept += 1
                    numeric += field in ("data.paired_examples", "latency.budget_ms")
                    assert m.choice == int(score(m.row[None, :], cp).choice[0]), field
    assert kept > 100 and numeric > 20


def test_verification_takes_a_kept_answer_only_for_the_very_row_it_was_scored_at(pack):
    # The verification re-runs validation and the features for every move; a kept answer
    # stands for the engine call only where the requirements encode to that exact row, so
    # the flips are those of scoring every move afresh, and a wrong answer kept with a row the
    # requirements do not encode to is never read.
    import dataclasses

    from advisor import _verify
    from advisor._scoring import score

    calls = []
    real = _verify.recommendations_after

    def fresh(data, pack_, trials, scored=None):
        calls.append(len(trials))
        return real(data, pack_, trials)

    def flips(found):
        return {f: None if v is None else (v.edits, v.new) for f, v in found.items()}

    cp = prepare(pack).compiled
    skipped = 0
    for req, x, rec, moves in _searched(pack, random.Random(43), 60):
        got = flips(_verify.single_flips(req, pack, moves, rec))
        _verify.recommendations_after = fresh
        try:
            assert flips(_verify.single_flips(req, pack, moves, rec)) == got, req.name
        finally:
            _verify.recommendations_after = real
        # A move whose row is not what its edit encodes to: its (wrong) kept answer is unused.
        for field, found in moves.items():
            if found and found[0].choice is not None:
                m = found[0]
                stale = dataclasses.replace(m, row=x, choice=1 - min(m.choice, 1))
                data = req.model_dump(mode="json")
                trial = (_verify.edit(req, data, m),)
                want = real(data, pack, [trial])
                assert real(data, pack, [trial], [stale]) == want, (req.name, field)
                assert want[0] == OPTIONS[int(score(m.row[None, :], cp).choice[0])] or (
                    field == "regulation.criticality"
                )
                skipped += 1
    assert calls and skipped > 30
