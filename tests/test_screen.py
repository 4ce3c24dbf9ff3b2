"""`advisor.screen`: the portfolio batch in process. Its records are the JSON lines `advisor
batch` writes for the same projects (only `row` and `source` say where each came from); an
invalid item gets its error record and never stops the others; the pack's full sample count
gives `recommend`'s confidence."""

from __future__ import annotations

import json
import math
import random

import pytest
from conftest import run_cli
from test_batch import random_profile

from advisor import InputError, UsageError, recommend, screen
from advisor._requirements import Range


def _where_free(record):
    return {k: v for k, v in record.items() if k not in ("row", "source")}


def _docs(n, seed):
    rnd = random.Random(seed)
    docs = [random_profile(rnd, i) for i in range(n)]
    for i, d in enumerate(docs):
        d["id"] = f"P-{i}"
    # Some invalid ones among them, each naming its field.
    docs[3]["latency"]["budget_ms"] = -5
    docs[7]["data"]["paired_examples"] = "many"
    docs[11]["task"]["modality"] = "smell"
    return docs


@pytest.mark.parametrize("explain", [False, True])
def test_records_are_the_batchs_json_lines(tmp_path, explain):
    docs = _docs(60 if explain else 150, 3)
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out)] + (["--explain"] if explain else [])
    r = run_cli(args)
    assert r.exit_code == 2, r.output  # some rows are invalid: exit 2, every line written
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    got = screen(docs, explain=explain)
    assert [_where_free(a) for a in got] == [_where_free(b) for b in lines]
    assert [g["row"] for g in got] == list(range(len(docs)))
    assert [g["source"] for g in got] == [f"<item {i}>" for i in range(len(docs))]
    assert [g["id"] for g in got] == [d["id"] for d in docs]
    errors = {g["row"]: g["errors"] for g in got if g["status"] == "error"}
    assert set(errors) == {3, 7, 11}
    assert errors[3][0]["field"] == "latency.budget_ms"
    assert errors[7][0]["field"] == "data.paired_examples"
    assert errors[11][0]["field"] == "task.modality"
    if explain:
        assert all("attributions" in g for g in got if g["status"] == "ok")


def test_the_packs_sample_count_gives_recommends_confidence(pack):
    docs = [d for i, d in enumerate(_docs(40, 5)) if i not in (3, 7, 11)]
    got = screen(docs, samples=pack.uncertainty.samples)
    for d, g in zip(docs, got, strict=True):
        a = recommend({k: v for k, v in d.items() if k != "id"}, explain=False)
        assert g["status"] == "ok"
        assert (g["recommendation"], g["runner_up"]) == (a.recommendation, a.runner_up)
        assert g["confidence"] == a.confidence and g["probabilities"] == a.probabilities
        assert g["scores"] == a.scores
        assert g["confidence_samples"] == pack.uncertainty.samples


def test_items_that_are_not_json_data_are_judged_as_recommend_judges_them():
    base = {"name": "x", "data": {"paired_examples": 5000}, "latency": {"budget_ms": 80}}
    ranged = {**base, "data": {"paired_examples": Range(low=1000, high=9000)}}
    nan = {**base, "latency": {"budget_ms": math.nan}}
    surrogate = {**base, "name": "bad \ud800 name"}
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    number_key = {**base, "data": {"paired_examples": 5000, 3: "a"}}
    long_text = {**base, "description": "d" * 1_500_000}
    got = screen(
        [
            base,
            ranged,
            nan,
            "not a mapping",
            surrogate,
            {**base, "deep": deep},
            number_key,
            long_text,
        ]
    )
    assert [g["status"] for g in got] == ["ok", "ok"] + ["error"] * 6
    want = recommend(ranged, explain=False)
    assert got[1]["recommendation"] == want.recommendation
    assert got[1]["scores"] == want.scores
    assert got[2]["errors"][0] == {
        "field": "latency.budget_ms",
        "message": "must be a finite number (got nan)",
    }
    assert "must be a mapping of fields" in got[3]["errors"][0]["message"]
    assert got[4]["errors"][0]["field"] == "name"
    assert "lone surrogate" in got[4]["errors"][0]["message"]
    assert "nested deeper" in got[5]["errors"][0]["message"]
    assert got[6]["errors"] == [
        {"field": "data.3", "message": "a key must be text (got int 3; quote it)"}
    ]
    # The same refusals as `recommend` gives for each mapping.
    for item, g in zip(
        [nan, surrogate, number_key, long_text], [got[2], got[4], got[6], got[7]], strict=True
    ):
        with pytest.raises(InputError) as e:
            recommend(item)
        assert e.value.details[0].field == g["errors"][0]["field"]
        assert e.value.details[0].message == g["errors"][0]["message"]


def test_samples_below_one_is_a_usage_error():
    with pytest.raises(UsageError, match="samples: must be 1 or more"):
        screen([], samples=0)
    assert screen([]) == []


def test_more_samples_than_the_pack_has_are_the_packs_count(pack):
    doc = {"name": "x", "data": {"paired_examples": 5000}, "latency": {"budget_ms": 80}}
    many = screen([doc], samples=10 * pack.uncertainty.samples)[0]
    assert many["confidence_samples"] == pack.uncertainty.samples
    assert many == screen([doc], samples=pack.uncertainty.samples)[0]


def test_records_cross_chunks_in_order():
    # More items than one chunk holds: every record in input order, as one chunk gives it.
    from advisor._batch import CHUNK_ROWS

    docs = _docs(30, 8)
    items = [docs[i % len(docs)] for i in range(CHUNK_ROWS + 7)]
    got = screen(items)
    assert [g["row"] for g in got] == list(range(len(items)))
    one = {g["row"]: _where_free(g) for g in screen(docs)}
    assert all(_where_free(g) == one[g["row"] % len(docs)] for g in got)
