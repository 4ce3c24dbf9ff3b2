"""Organisation rule packs (issue 7): inheritance by id and by key, `advisor rules check` and
`advisor rules show`, and the example bank pack."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, profile
from conftest import run_cli as run

from advisor import load_rulepack, recommend
from advisor._errors import RulePackError

BANK = ROOT / "examples" / "org-pack-bank"


def make_pack(folder: Path, files: dict[str, object], extends: str | None = "default") -> Path:
    """Write a pack folder: pack.yaml (name, version, extends) plus the given files."""
    folder.mkdir(parents=True, exist_ok=True)
    head: dict[str, object] = {"name": "org", "version": "0.1.0"}
    if extends is not None:
        head["extends"] = extends
    (folder / "pack.yaml").write_text(yaml.safe_dump(head))
    for name, doc in files.items():
        (folder / name).write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return folder


def rule(rid: str, when: dict, effect: dict) -> dict:
    return {"id": rid, "when": when, "effect": effect, "rationale": "test"}


# ---------------------------------------------------------------------------------------------
# The example bank pack and the default pack.


def test_bank_pack_checks_clean():
    r = run(["rules", "check", str(BANK)])
    assert r.exit_code == 0, r.output
    assert "clean" in r.stdout
    assert "scenarios: 49 passed, 0 failed" in r.stdout
    assert "replaces: advice:model-risk-validation, rules:model-risk-validation" in r.stdout


def test_default_pack_checks_clean():
    r = run(["rules", "check", str(ROOT / "rules")])
    assert r.exit_code == 0, r.output
    assert "every rule can fire" in r.stdout and "no contradictory rules" in r.stdout


def test_bank_pack_inherits_and_overrides(pack):
    bank = load_rulepack(BANK)
    assert bank.extends == "default" and bank.name == "example-bank"
    ids = [r.id for r in bank.rules]
    # Parent rules keep their order; the bank's new rule is added; same-id rule replaced.
    assert ids[: len(pack.rules)] == [r.id for r in pack.rules]
    assert ids[-1] == "bank-no-pure-end-to-end-for-customers"
    mrv = next(r for r in bank.rules if r.id == "model-risk-validation")
    assert mrv.when.contains_any == ["sr_11_7", "bank_customer_facing"]
    # Mappings change only the keys given: weights changed, thresholds inherited.
    assert bank.dimensions.regulation.weight == 0.4
    assert bank.dimensions.data.thresholds == pack.dimensions.data.thresholds
    assert bank.dimensions.latency.curve == pack.dimensions.latency.curve
    prior = bank.explainability.priors["end_to_end"]
    assert (
        prior.fidelity == 0.60
        and prior.traceable == pack.explainability.priors["end_to_end"].traceable
    )
    assert bank.explainability.requirements["medium"].min_fidelity == 0.8
    assert bank.explainability.requirements["high"] == pack.explainability.requirements["high"]
    assert bank.explainability.modality_adjustments == pack.explainability.modality_adjustments
    advice = next(a for a in bank.advice if a.id == "model-risk-validation")
    assert advice.title.startswith("Model risk validation (Example Bank")
    # Scenarios are added, never dropped.
    assert [s.id for s in bank.scenarios][: len(pack.scenarios)] == [s.id for s in pack.scenarios]
    assert len(bank.scenarios) == len(pack.scenarios) + 4
    assert "bank_customer_facing" in {r.id for r in bank.regimes}
    assert bank.sha256() != pack.sha256()


def test_bank_pack_forbids_pure_end_to_end_for_customer_facing_decisions(tmp_path):
    bank = load_rulepack(BANK)
    facing = profile(
        task={"modality": "speech"},
        data={"paired_examples": 1e8},
        latency={"budget_ms": 20},
        regulation={"regimes": ["bank_customer_facing"]},
    )
    internal = profile(
        task={"modality": "speech"}, data={"paired_examples": 1e8}, latency={"budget_ms": 20}
    )
    a = recommend(facing, rulepack=bank, explain=False)
    assert a.recommendation != "end_to_end"
    assert "end_to_end" in {v.option for v in a.vetoes}
    assert recommend(internal, rulepack=bank, explain=False).recommendation == "end_to_end"
    # The default pack does not know the regime, and does not veto.
    assert recommend(facing, explain=False).recommendation == "end_to_end"
    # --rules on the CLI.
    f = tmp_path / "facing.yaml"
    f.write_text(yaml.safe_dump(facing))
    r = run(["recommend", str(f), "--rules", str(BANK), "--format", "json", "--no-explain"])
    assert r.exit_code == 0, r.output
    assert '"name": "example-bank"' in r.stdout and '"recommendation": "end_to_end"' not in r.stdout
    out = tmp_path / "o.jsonl"
    r = run(["batch", str(tmp_path), "-o", str(out), "--rules", str(BANK)])
    assert r.exit_code == 0, r.output
    assert '"recommendation":"end_to_end"' not in out.read_text()
    assert '"rulepack":"example-bank 1.0.0"' in out.read_text()


def test_rules_show_prints_the_effective_pack_that_loads_back(tmp_path):
    r = run(["rules", "show", str(BANK)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# Effective rule pack example-bank 1.0.0")
    doc = yaml.safe_load(r.stdout)
    assert "extends" not in doc
    assert doc["dimensions"]["regulation"]["weight"] == 0.4
    assert doc["dimensions"]["data"]["thresholds"]["vision"] == {
        "scarce": 50000.0,
        "ample": 200000.0,
    }
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "pack.yaml").write_text(r.stdout)
    again = load_rulepack(copy).model_dump()
    orig = load_rulepack(BANK).model_dump()
    again.pop("extends"), orig.pop("extends")
    assert again == orig
    r = run(["rules", "show"])
    assert r.exit_code == 0 and "name: default" in r.stdout


# ---------------------------------------------------------------------------------------------
# What `rules check` finds.


def test_schema_errors_name_file_rule_and_field(tmp_path):
    folder = make_pack(
        tmp_path / "p",
        {
            "rules.yaml": {
                "rules": [
                    rule(
                        "bad-number",
                        {"field": "latency.budget_ms", "lt": "fast"},
                        {"veto": "modular"},
                    ),
                    rule("bad-field", {"field": "latency.budget", "lt": 5}, {"veto": "modular"}),
                    rule(
                        "bad-effect",
                        {"field": "team.ml_maturity", "eq": "low"},
                        {"add": {"modular": "x"}},
                    ),
                ]
            }
        },
    )
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2, r.output
    out = r.stdout
    rules_file = str(folder / "rules.yaml")
    assert f"problem: {rules_file}: rules[id=bad-number].when: " in out
    assert (
        f"problem: {rules_file}: rules[id=bad-field].when: condition on unknown field "
        "'latency.budget' (did you mean 'latency.budget_ms'?)" in out
    )
    assert f"problem: {rules_file}: rules[id=bad-effect].effect.add.modular: " in out
    with pytest.raises(RulePackError):
        load_rulepack(folder)


def test_duplicate_ids(tmp_path):
    r1 = rule("dup", {"field": "team.ml_maturity", "eq": "low"}, {"add": {"modular": 0.01}})
    folder = make_pack(tmp_path / "p", {"a.yaml": {"rules": [r1]}, "b.yaml": {"rules": [r1]}})
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2
    assert (
        f"problem: {folder / 'b.yaml'}: rules[0] (id 'dup'): duplicate id, already defined "
        f"in {folder / 'a.yaml'}" in r.stdout
    )


def test_rules_that_never_fire_contradict_or_veto_everything(tmp_path):
    folder = make_pack(
        tmp_path / "p",
        {
            "rules.yaml": {
                "rules": [
                    rule(
                        "impossible",
                        {
                            "all": [
                                {"field": "latency.budget_ms", "lt": 100},
                                {"field": "latency.budget_ms", "gt": 200},
                            ]
                        },
                        {"add": {"hybrid": 0.1}},
                    ),
                    # The default pack's tight-budget-penalises-cascades takes 0.1 from modular
                    # under 50 ms;
                    # this one gives it back under 40 ms: on its whole region one undoes the other.
                    rule(
                        "undo-cascade-penalty",
                        {"field": "latency.budget_ms", "lt": 40},
                        {"add": {"modular": 0.2}},
                    ),
                    rule(
                        "no-modular-when-safety",
                        {"field": "regulation.criticality", "eq": "safety_critical"},
                        {"veto": "modular"},
                    ),
                    rule(
                        "no-hybrid-when-safety",
                        {"field": "regulation.criticality", "eq": "safety_critical"},
                        {"veto": "hybrid"},
                    ),
                    rule(
                        "exactly-1000-pairs",
                        {"field": "data.paired_examples", "eq": 1000},
                        {"advice": "data-cost"},
                    ),
                ]
            }
        },
    )
    r = run(["rules", "check", str(folder), "--samples", "20000"])
    assert r.exit_code == 2, r.output
    out = r.stdout
    assert "rule impossible: never fired in 20,000 sampled profiles" in out
    assert "exactly-1000-pairs: never fired" not in out  # thresholds themselves are sampled
    assert (
        "rules undo-cascade-penalty and tight-budget-penalises-cascades: undo-cascade-penalty"
        " fires only inside the region of tight-budget-penalises-cascades and they push "
        "modular in opposite directions"
    ) in out
    assert "every option is vetoed in" in out and "safety-critical-needs-envelope" in out
    assert "regulation.criticality=safety_critical" in out


def test_failing_and_replaced_scenarios(tmp_path):
    fast = {"field": "latency.budget_ms", "lt": 100}
    folder = make_pack(
        tmp_path / "p",
        {
            "rules.yaml": {
                "rules": [
                    rule("no-end-to-end-under-100ms", fast, {"veto": "end_to_end"}),
                ]
            }
        },
    )
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2
    assert "FAIL  grid-light-ample-tight: expected end_to_end, got " in r.stdout
    assert "FAIL  recommender-auxiliary" in r.stdout
    # Replacing the parent's scenarios by id (saying why) is explicit, and reported.
    default = load_rulepack()
    replaced = []
    for sc in default.scenarios:
        # The scenarios the new veto (end-to-end under 100 ms) can touch.
        if "end_to_end" in sc.accepted() and sc.input["latency"]["budget_ms"] < 100:
            d = sc.model_dump()
            d["expect"] = "hybrid"
            d["accept"] = ["modular"]
            d["why"] = "This organisation never ships a pure end-to-end model."
            replaced.append(d)
    (folder / "scenarios.yaml").write_text(yaml.safe_dump({"scenarios": replaced}))
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 0, r.output
    assert "replaces: rules" not in r.stdout
    assert "scenarios:grid-light-ample-tight" in r.stdout.split("replaces:")[1].splitlines()[0]
    assert f"scenarios: {len(default.scenarios)} passed, 0 failed" in r.stdout


def test_invalid_scenario_input_is_reported(tmp_path):
    folder = make_pack(
        tmp_path / "p",
        {
            "scenarios.yaml": {
                "scenarios": [
                    {
                        "id": "broken",
                        "input": {
                            "name": "x",
                            "data": {"paired_examples": -1},
                            "latency": {"budget_ms": 10},
                        },
                        "expect": "modular",
                    },
                ]
            }
        },
    )
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2
    assert "FAIL  broken: invalid input: scenario broken: input: data.paired_examples:" in r.stdout


def test_extends_chains_relative_paths_and_cycles(tmp_path):
    child = make_pack(
        tmp_path / "team",
        {"dimensions.yaml": {"dimensions": {"latency": {"weight": 0.2}}}},
        extends=str(Path("..") / "bank"),
    )
    import shutil

    shutil.copytree(BANK, tmp_path / "bank")
    team = load_rulepack(child)
    assert team.dimensions.latency.weight == 0.2
    assert team.dimensions.regulation.weight == 0.4  # from the bank
    assert "bank-no-pure-end-to-end-for-customers" in {r.id for r in team.rules}
    a = make_pack(tmp_path / "a", {}, extends="../b")
    make_pack(tmp_path / "b", {}, extends="../a")
    with pytest.raises(RulePackError, match="cycle"):
        load_rulepack(a)
    missing = make_pack(tmp_path / "m", {}, extends="../nowhere")
    with pytest.raises(RulePackError, match="not found"):
        load_rulepack(missing)
    r = run(["rules", "check", str(missing)])
    assert r.exit_code == 2 and "not found" in r.stdout


def test_new_patterns_go_before_the_fallback(tmp_path, pack):
    fallback = pack.patterns[-1]
    new = pack.patterns[0].model_dump(by_alias=True, exclude_none=True)
    new["id"] = "org-pattern"
    folder = make_pack(tmp_path / "p", {"patterns.yaml": {"patterns": [new]}})
    org = load_rulepack(folder)
    assert org.patterns[-1].id == fallback.id
    assert org.patterns[-2].id == "org-pattern"


def test_more_patterns_than_the_engine_carries_are_refused(tmp_path, pack):
    # The engine carries the applicable patterns as bits of one int64 (`MAX_PATTERNS`).
    from advisor._rulepack import MAX_PATTERNS

    base = pack.patterns[0].model_dump(by_alias=True, exclude_none=True)
    many = [{**yaml.safe_load(yaml.safe_dump(base)), "id": f"org-{i}"} for i in range(MAX_PATTERNS)]
    folder = make_pack(tmp_path / "p", {"patterns.yaml": {"patterns": many}})
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2, r.output
    assert "patterns" in r.stdout and f"at most {MAX_PATTERNS}" in r.stdout, r.stdout
    few = make_pack(tmp_path / "q", {"patterns.yaml": {"patterns": many[: MAX_PATTERNS - 5]}})
    assert len(load_rulepack(few).patterns) == MAX_PATTERNS - 5 + len(pack.patterns)


def test_schema_lists_the_packs_regimes():
    r = run(["schema", "--rules", str(BANK)])
    assert r.exit_code == 0, r.output
    import json

    known = json.loads(r.stdout)["$defs"]["Regulation"]["properties"]["regimes"]["known"]
    assert "bank_customer_facing" in known and "ecoa" in known
    r = run(["schema"])
    known = json.loads(r.stdout)["$defs"]["Regulation"]["properties"]["regimes"]["known"]
    assert "bank_customer_facing" not in known


def test_a_huge_pack_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    # A 1 GB sparse file: its size is checked with stat, and nothing of it is read.
    import os
    import shutil

    folder = tmp_path / "pack"
    shutil.copytree(ROOT / "examples" / "org-pack-bank", folder)
    big = folder / "zz-big.yaml"
    with big.open("wb") as fh:
        os.truncate(fh.fileno(), 1_000_000_000)
    real_open = Path.open

    def guarded_open(self, *args, **kwargs):
        assert self.name != "zz-big.yaml", "the huge file was opened"
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    with pytest.raises(RulePackError) as e:
        load_rulepack(folder)
    assert e.value.problems == [f"{big}: file is larger than 1 MB (1000000000 bytes)"]
