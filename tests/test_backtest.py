"""`advisor rules backtest` on the shipped labelled set, and the answer mix on random profiles."""

from __future__ import annotations

import json
import sys

import numpy as np
import yaml
from conftest import ROOT, run_cli

from advisor import load_rulepack, recommend
from advisor._backtest import backtest, parse_labelled
from advisor._errors import InputError
from advisor._fields import OPTIONS
from advisor._requirements import Requirements
from advisor._scoring import compile_pack, evaluate

LABELLED = ROOT / "rules" / "precedents-labelled.yaml"


def _backtest():
    doc = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    pack = load_rulepack()
    return backtest(
        parse_labelled(doc, str(LABELLED)),
        pack,
        lambda req, p: recommend(req, rulepack=p, explain=False),
    )


def test_shipped_development_set_figures_are_pinned():
    bt = _backtest()
    assert bt.cases == 78
    assert round(bt.accepted * bt.cases) == 76
    assert round(bt.primary * bt.cases) == 65
    assert bt.unsafe == 0
    # Every grid cell gets an accepted answer; the strict and safety rows never end-to-end.
    grid = [r for r in bt.results if r.kind == "grid"]
    assert len(grid) == 36 and all(r.accepted for r in grid)
    assert not [
        r.id for r in grid if ("strict" in r.id or "safety" in r.id) and r.got == "end_to_end"
    ]
    assert sum(bt.confusion[o][g] for o in OPTIONS for g in OPTIONS) == 78
    assert all(r.id in {d.id for d in bt.disagreements} for r in bt.results if not r.primary)
    # The confidence (inputs and pack sampled jointly) as a forecast of acceptance.
    assert bt.brier < 0.08
    assert sum(b.count for b in bt.reliability) == 78
    top = bt.reliability[-1]
    assert top.low == 0.95 and top.accepted_share == 1.0 and top.primary_share >= 0.85
    assert len(bt.reliability) == 5  # every band of confidence is used


def test_answer_mix_on_random_profiles_is_balanced():
    # The calibration's own spreads of random projects (tools/calibrate.py): no option takes
    # more than half of the answers and each takes at least 15%.
    sys.path.insert(0, str(ROOT / "tools"))
    from calibrate import random_profiles

    pack = load_rulepack()
    cp = compile_pack(pack)
    ids = [r.id for r in pack.regimes]
    for seed, regime_p, stated in ((7, 0.08, True), (8, 0.0, False)):
        x = np.stack(
            [
                cp.space.vector(Requirements.model_validate(p))
                for p in random_profiles(3000, seed, ids, regime_p, stated)
            ]
        )
        mix = np.bincount(evaluate(x, cp).choice, minlength=3) / len(x)
        assert mix.max() <= 0.5 and mix.min() >= 0.15, dict(zip(OPTIONS, mix, strict=True))


def test_backtest_command_prints_and_writes_json(tmp_path):
    out = tmp_path / "bt.json"
    r = run_cli(["rules", "backtest", str(LABELLED), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "accepted: 97% (76/78)" in r.stdout and "unsafe answers: 0" in r.stdout
    assert "confusion (rows: expected primary" in r.stdout
    data = json.loads(out.read_text())
    assert data["cases"] == 78 and len(data["results"]) == 78
    assert {"brier", "reliability", "mix", "disagreements"} <= set(data)


def test_bad_labelled_file_names_entry_and_field(tmp_path):
    bad = tmp_path / "bad-labelled.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "labelled": [
                    {"id": "a", "accept": ["sideways"], "source": "s", "input": {"name": "x"}},
                    {
                        "id": "b",
                        "accept": ["modular"],
                        "source": "s",
                        "input": {
                            "name": "x",
                            "data": {"paired_examples": -1},
                            "latency": {"budget_ms": 5},
                        },
                    },
                ]
            }
        )
    )
    r = run_cli(["rules", "backtest", str(bad)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert any("labelled[0]" in ln and "accept" in ln for ln in lines), lines
    assert any("labelled[1].input" in ln and "data.paired_examples" in ln for ln in lines), lines
    try:
        parse_labelled({"labelled": []}, "x.yaml")
    except InputError as e:
        assert "x.yaml: labelled:" in e.problems[0]
    else:
        raise AssertionError("an empty labelled set must be refused")
