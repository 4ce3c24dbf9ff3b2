"""The field registry: adding an input is one pydantic field plus one registry entry.

The test copies the package, adds `team.on_call` (a bool: the team runs an on-call rota) with
exactly those two edits, and checks in a fresh process that every consumer picks it up: the
feature encoding, the condition language (a rule on it loads and fires), the counterfactual
search, the Shapley players and the narrative's labels, the questionnaire, and the batch CSV
columns. The same rule pack is refused by the unmodified package, so the check can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from advisor._fields import (
    BASE_COLUMNS,
    CATEGORICAL,
    CONDITION_FIELDS,
    FIELD_LABELS,
    FIELD_ORDER,
    FIELDS,
    NUMERIC,
    NUMERIC_FIELDS,
    PLAYER_COLUMNS,
    PLAYER_FIELDS,
    PLAYERS,
)
from advisor._requirements import Requirements, field_paths

PYDANTIC_FIELD = """
    on_call: bool = Field(
        default=False,
        description="The team runs an on-call rota for the system.",
        json_schema_extra=_q(
            "Does the team run an on-call rota for the system?",
            "A rota can debug one model at 3 a.m.; a fixture field of the registry test.",
            "no",
        ),
    )
"""

REGISTRY_ENTRY = """    InputField(
        "team.on_call",
        "bool",
        "on-call rota",
        column="on_call",
        slot=12,
        choices=_BOOL,
    ),
"""

RULE = """
  - id: on-call-rota-rules-out-end-to-end
    when: {field: team.on_call, eq: true}
    effect: {veto: end_to_end}
    rationale: >-
      A fixture rule of the registry test: it tests the new field.
    evidence: [data-matrix]
"""

PROBE = r"""
import json, sys
from advisor import Requirements, load_rulepack, recommend
from advisor._ask import questions
from advisor._features import FeatureSpace
from advisor._fields import CONDITION_FIELDS, FIELD_LABELS, PLAYER_FIELDS, PLAYERS
pack = load_rulepack(sys.argv[1])
doc = {"name": "x", "data": {"paired_examples": 5000000}, "latency": {"budget_ms": 30},
       "task": {"modality": "speech"}, "team": {"on_call": True}}
req = Requirements.model_validate(doc)
a = recommend(req, rulepack=pack)
space = FeatureSpace(())
print(json.dumps({
    "columns": list(space.columns),
    "value": float(space.vector(req)[space.col("on_call")]),
    "kind": CONDITION_FIELDS["team.on_call"].kind,
    "players": list(PLAYERS),
    "player_field": PLAYER_FIELDS.get("on_call"),
    "label": FIELD_LABELS["team.on_call"],
    "questions": [q.path for q in questions()],
    "fired": [r.id for r in a.rules_fired],
    "recommendation": a.recommendation,
    "moves": [[c.field, c.label, c.new_recommendation] for c in a.counterfactuals if c.found],
    "attributed": [x.feature for x in a.attributions],
}))
"""


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """The package as it is, and a copy with `team.on_call` added; and a pack with a rule on it."""
    base = tmp_path_factory.mktemp("registry")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    plain, added = base / "plain", base / "added"
    for tree in (plain, added):
        shutil.copytree(ROOT / "advisor", tree / "advisor", ignore=ignore)
        for folder in ("rules", "templates"):
            shutil.copytree(ROOT / folder, tree / folder, ignore=ignore)
    # The two edits, and nothing else: one pydantic field, one registry entry.
    req = added / "advisor" / "_requirements.py"
    body = req.read_text(encoding="utf-8")
    anchor = "\n\nclass Deployment(_Section):"
    assert body.count(anchor) == 1
    req.write_text(body.replace(anchor, PYDANTIC_FIELD.rstrip("\n") + anchor), encoding="utf-8")
    fields = added / "advisor" / "_fields.py"
    body = fields.read_text(encoding="utf-8")
    anchor = "\n)\n\n#: Fields by path"
    assert body.count(anchor) == 1
    fields.write_text(
        body.replace(anchor, "\n" + REGISTRY_ENTRY.rstrip("\n") + anchor), encoding="utf-8"
    )
    pack = base / "pack"
    shutil.copytree(ROOT / "rules", pack, ignore=ignore)
    (pack / "rules.yaml").write_text(
        (pack / "rules.yaml").read_text(encoding="utf-8").rstrip("\n") + "\n" + RULE,
        encoding="utf-8",
    )
    return plain, added, pack


def _run(tree: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ADVISOR_RULES", None)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or tree,
        timeout=300,
    )


def test_adding_a_field_reaches_every_consumer(trees, tmp_path):
    plain, added, pack = trees
    proc = _run(added, "-c", PROBE, str(pack))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    # The encoding: a new column at its slot, after the old ones.
    assert got["columns"][: len(BASE_COLUMNS)] == list(BASE_COLUMNS)
    assert got["columns"][len(BASE_COLUMNS)] == "on_call"
    assert got["value"] == 1.0
    # The condition language: the rule on it loads and fires, and vetoes end-to-end.
    assert got["kind"] == "bool"
    assert "on-call-rota-rules-out-end-to-end" in got["fired"]
    assert got["recommendation"] != "end_to_end"
    # The counterfactuals: turning the rota off gives end-to-end back, labelled by the registry.
    assert ["team.on_call", "on-call rota", "end_to_end"] in got["moves"]
    # The Shapley game has it as a player, standing for the field; the report attributes it.
    assert "on_call" in got["players"] and got["player_field"] == "team.on_call"
    assert "team.on_call" in got["attributed"]
    assert got["label"] == "on-call rota"
    # The questionnaire asks it.
    assert "team.on_call" in got["questions"]
    # The batch CSV takes it as a column.
    csv = tmp_path / "in.csv"
    csv.write_text(
        "name,data.paired_examples,latency.budget_ms,task.modality,team.on_call\n"
        "rota,5000000,30,speech,true\nnone,5000000,30,speech,false\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    proc = _run(added, "-m", "advisor", "batch", str(csv), "-o", str(out), "--rules", str(pack))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["recommendation"] != "end_to_end" for r in rows] == [True, False]


def test_without_the_registry_entry_the_field_is_unknown(trees, tmp_path):
    plain, _, pack = trees
    # The unmodified package refuses the rule on the new field: the check above can fail.
    proc = _run(plain, "-m", "advisor", "rules", "check", str(pack))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "condition on unknown field 'team.on_call'" in proc.stdout + proc.stderr


def test_the_registry_derives_the_tables_the_package_had():
    # The derived tables, pinned: the feature layout, the players and the search order are
    # what the engine's arrays, the Monte Carlo stream and the examples' bytes depend on.
    assert BASE_COLUMNS == (
        "paired_log",
        "latency_log",
        "stage_labels",
        "labeling_cost",
        "modality",
        "criticality",
        "explainability",
        "pretrained",
        "ml_maturity",
        "independent_updates",
        "target",
        "foundation",
    )
    assert PLAYERS[-2:] == ("deployment", "regimes")
    assert PLAYER_COLUMNS["deployment"] == ("independent_updates", "target")
    assert PLAYER_FIELDS["deployment"] == "deployment" and FIELD_LABELS["deployment"]
    assert NUMERIC_FIELDS == ("data.paired_examples", "latency.budget_ms")
    assert set(NUMERIC) == set(NUMERIC_FIELDS)
    assert set(CATEGORICAL) | set(NUMERIC) | {"regulation.regimes"} == set(FIELD_ORDER)
    assert "derived.explainability_required" in CONDITION_FIELDS
    assert "derived.explainability_required" not in FIELD_ORDER
    # Every given field is a requirement field; slots are 0..n-1 without gaps or repeats.
    paths = set(field_paths(Requirements))
    assert all(f.path in paths for f in FIELDS if f.given)
    slots = sorted(f.slot for f in FIELDS if f.slot is not None)
    assert slots == list(range(len(BASE_COLUMNS)))
    # Choices are the pydantic enums' values, in their order.
    assert CONDITION_FIELDS["regulation.criticality"].choices == (
        "non_critical",
        "business_critical",
        "regulated",
        "safety_critical",
    )
