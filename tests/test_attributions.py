"""The attribution game: shap's Exact explainer over the coalition table gives the same values as
shap's Exact explainer with an Independent masker over the engine's raw rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
import shap
from test_batch import random_profile

from advisor._attributions import PLAYERS, _player_columns, coalition_table, explain
from advisor._engine import prepare
from advisor._requirements import Requirements
from advisor._scoring import evaluate


def shap_on_raw_rows(x, background, cp, first, second):
    """The definition: shap's Exact explainer, Independent masker over the background profiles,
    each player an index into (profile, background rows...)."""
    columns = _player_columns(x.shape[0])
    rows = np.vstack([x[None, :], background])

    def f(z):
        idx = z.astype(np.intp)
        full = np.empty((z.shape[0], rows.shape[1]))
        for p, cols in enumerate(columns):
            full[:, cols] = rows[:, cols][idx[:, p]]
        eff = evaluate(full, cp).effective
        return eff[:, first] - (eff[:, second] if second is not None else 0.0)

    zb = np.repeat(np.arange(1, len(background) + 1, dtype=float)[:, None], len(PLAYERS), 1)
    masker = shap.maskers.Independent(zb, max_samples=len(zb))
    out = shap.explainers.Exact(f, masker)(np.zeros((1, len(PLAYERS))))
    return float(np.asarray(out.base_values).reshape(-1)[0]), np.asarray(out.values)[0]


@pytest.mark.parametrize("seed", range(3))
def test_coalition_table_game_equals_shap_on_raw_rows(pack, seed):
    prep = prepare(pack)
    cp = prep.compiled
    rnd = random.Random(seed)
    reqs = [Requirements.model_validate(random_profile(rnd, i)) for i in range(4)]
    x = cp.space.matrix(reqs)
    for row in x:
        game = coalition_table(row, prep.background, cp)
        for first, second in ((0, 1), (2, 0), (1, None)):
            want_base, want = shap_on_raw_rows(row, prep.background, cp, first, second)
            got = explain(game, first, second)
            assert abs(got.base - want_base) < 1e-9
            assert np.abs(got.values - want).max() < 1e-9
            assert abs(got.base + got.values.sum() - got.explained) < 1e-9


def test_players_equal_to_every_background_row_get_exactly_zero(pack):
    prep = prepare(pack)
    cp = prep.compiled
    x = prep.background[3].copy()
    background = prep.background[3:4]  # one reference row, equal to the profile but in latency
    x[cp.space.col("latency_log")] += 1.0
    game = coalition_table(x, background, cp)
    assert game.varying[0].tolist() == [p == "latency_log" for p in PLAYERS]
    sv = explain(game, 0, 1)
    latency = PLAYERS.index("latency_log")
    assert all(v == 0.0 for i, v in enumerate(sv.values) if i != latency)
    ev = evaluate(np.stack([background[0], x]), cp).effective
    assert sv.base == pytest.approx(ev[0, 0] - ev[0, 1], abs=1e-12)
    assert sv.values[latency] == pytest.approx((ev[1, 0] - ev[1, 1]) - sv.base, abs=1e-12)


def test_profile_equal_to_the_only_background_row_explains_nothing(pack):
    prep = prepare(pack)
    cp = prep.compiled
    x = prep.background[0].copy()
    sv = explain(coalition_table(x, prep.background[:1], cp), 0, 2)
    assert not sv.values.any()
    assert sv.base == sv.explained


def test_assessment_attributions_and_score_attributions_equal_shap(pack):
    # What the report shows, end to end: the margin's attributions and each option's score
    # attributions (explain_scores) equal shap's ExactExplainer over the engine's rows, to 1e-9.
    from advisor import recommend
    from advisor._fields import OPTIONS
    from advisor._narrative import PLAYER_FIELDS

    prep = prepare(pack)
    cp = prep.compiled
    rnd = random.Random(100)
    for i in range(2):
        doc = random_profile(rnd, i)
        a = recommend(doc, rulepack=pack, explain_scores=True)
        x = cp.space.vector(Requirements.model_validate(doc))
        rec, runner = OPTIONS.index(a.recommendation), OPTIONS.index(a.runner_up)
        base, want = shap_on_raw_rows(x, prep.background, cp, rec, runner)
        got = {r.feature: r.contribution for r in a.attributions}
        assert abs(a.attribution_base - base) < 1e-9
        for p, w in zip(PLAYERS, want, strict=True):
            assert abs(got[PLAYER_FIELDS[p]] - w) < 1e-9, (doc, p)
        for o, sa in a.score_attributions.items():
            base, want = shap_on_raw_rows(x, prep.background, cp, OPTIONS.index(o), None)
            got = {r.feature: r.contribution for r in sa.attributions}
            assert abs(sa.base - base) < 1e-9
            for p, w in zip(PLAYERS, want, strict=True):
                assert abs(got[PLAYER_FIELDS[p]] - w) < 1e-9, (doc, o, p)
