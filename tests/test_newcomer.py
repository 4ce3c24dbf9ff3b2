"""A newcomer's first hour (issue 16), the CLI side: warnings on stderr and per batch row, the
portfolio table, `compare -`, the ADVISOR_RULES default pack, help and shell completion, and the
JSON Schemas (`$schema`/`$id`, bounds, examples a file accepts, the same number forms in every
input, the assessment's schema)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from conftest import run_cli as run

CREDIT = ROOT / "examples" / "credit-scoring.yaml"
VOICE = ROOT / "examples" / "realtime-voice-agent.yaml"


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _unknown_regime(tmp_path: Path) -> Path:
    doc = yaml.safe_load(CREDIT.read_text())
    doc["regulation"]["regimes"].append("made_up_act")
    del doc["regulation"]["explainability"]
    return _write(tmp_path / "odd.yaml", doc)


# --------------------------------------------------------------------------------------------
# Warnings


def test_recommend_prints_the_warnings_on_stderr(tmp_path):
    f = _unknown_regime(tmp_path)
    r = run(["recommend", str(f), "--no-explain", "--format", "json"])
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert any("made_up_act" in w for w in warnings)
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")] == [
        f"warning: {w}" for w in warnings
    ]


def test_batch_keeps_each_rows_warnings_as_recommend_gives_them(tmp_path):
    f = _unknown_regime(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(f, folder / "a.yaml")
    shutil.copy(VOICE, folder / "b.yaml")
    out = tmp_path / "r.jsonl"
    # --samples 2000: the very Monte Carlo of `recommend`, so every warning must agree.
    r = run(["batch", str(folder), "-o", str(out), "--samples", "2000"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row, path in zip(rows, [f, VOICE], strict=True):
        single = run(["recommend", str(path), "--no-explain", "--format", "json"])
        assert row["warnings"] == json.loads(single.stdout)["warnings"], path
    assert any("made_up_act" in w for w in rows[0]["warnings"])
    csv_out = tmp_path / "r.csv"
    assert run(["batch", str(folder), "-o", str(csv_out)]).exit_code == 0
    import csv

    table = list(csv.DictReader(csv_out.read_text().splitlines()))
    assert "made_up_act" in table[0]["warnings"]


def test_portfolio_table_shows_the_id_column_and_ranges_as_ranges(tmp_path):
    from bs4 import BeautifulSoup

    report = tmp_path / "p.html"
    r = run(
        [
            "batch",
            str(ROOT / "examples" / "portfolio.csv"),
            "-o",
            str(tmp_path / "r.jsonl"),
            "--report",
            str(report),
        ]
    )
    assert r.exit_code == 0, r.output
    soup = BeautifulSoup(report.read_text(), "html.parser")
    table = soup.find("h2", id="h-table").find_next("table")
    head = [th.get_text() for th in table.find("thead").find_all("th")]
    assert head[:3] == ["Row", "ID", "Project"]
    rows = {
        tr.find_all("td")[1].get_text(): [td.get_text() for td in tr.find_all("td")]
        for tr in table.find("tbody").find_all("tr")
    }
    assert rows["P-004"][2] == "Invoice extraction"
    assert rows["P-004"][-2:] == ["10,000 to 50,000", "1,000 to 5,000"]  # not the midpoints
    assert rows["P-001"][-2:] == ["2,000,000", "300"]


# --------------------------------------------------------------------------------------------
# compare -, ADVISOR_RULES, help


def test_compare_reads_one_side_from_stdin(tmp_path):
    before = run(["recommend", str(CREDIT), "--format", "json", "--no-explain"]).stdout
    r = run(
        ["compare", "-", str(ROOT / "examples" / "revised" / "credit-scoring.yaml")], input=before
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("advisor compare: Consumer credit scoring")
    assert "latency budget               800 ms -> 150 ms" in r.stdout
    r = run(["compare", "-", "-"], input=before)
    assert r.exit_code == 2 and "only one of OLD and NEW can be -" in r.stderr


def test_advisor_rules_sets_the_default_pack_and_rules_wins(tmp_path):
    bank = ROOT / "examples" / "org-pack-bank"
    env = {"ADVISOR_RULES": str(bank)}

    def pack_of(args, env=None):
        r = run([*args, "--format", "json", "--no-explain"], env=env)
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["rulepack"]["name"]

    assert pack_of(["recommend", str(CREDIT)]) == "default"
    assert pack_of(["recommend", str(CREDIT)], env) == "example-bank"
    assert pack_of(["recommend", str(CREDIT), "--rules", str(ROOT / "rules")], env) == "default"
    r = run(["rules", "show"], env=env)
    assert r.exit_code == 0 and "# Effective rule pack example-bank" in r.stdout
    r = run(["schema"], env=env)
    regimes = json.loads(r.stdout)["$defs"]["Regulation"]["properties"]["regimes"]["known"]
    assert "bank_customer_facing" in regimes
    r = run(["recommend", str(CREDIT), "--no-explain"], env={"ADVISOR_RULES": str(tmp_path)})
    assert r.exit_code == 2 and str(tmp_path) in r.stderr  # a bad default fails like --rules


def test_help_has_examples_and_every_option_has_help():
    import click

    from advisor._cli.main import cli

    r = run(["--help"])
    assert "Examples:" in r.stdout and "advisor recommend examples/" in r.stdout

    def walk(group, path):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from walk(cmd, [*path, name])
            else:
                yield [*path, name], cmd

    for path, cmd in walk(cli, []):
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, (path, param.name)
        assert "Examples:" in (cmd.epilog or ""), path


def test_shell_completion_script_and_completions():
    exe = Path(sys.executable).with_name("advisor")
    if not exe.exists():
        pytest.skip("the advisor command is not installed next to this Python")
    env = {**os.environ, "_ADVISOR_COMPLETE": "bash_source"}
    p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "_advisor_completion" in p.stdout and "complete " in p.stdout
    env = {
        **os.environ,
        "_ADVISOR_COMPLETE": "bash_complete",
        "COMP_WORDS": "advisor rec",
        "COMP_CWORD": "1",
    }
    p = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "plain,recommend" in p.stdout.splitlines()


# --------------------------------------------------------------------------------------------
# The schemas


def test_schema_declares_its_dialect_id_and_bounds():
    r = run(["schema"])
    assert r.exit_code == 0
    s = json.loads(r.stdout)
    assert list(s)[:2] == ["$schema", "$id"]
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"].startswith("urn:e2e-advisor:")
    budget = s["$defs"]["Latency"]["properties"]["budget_ms"]["anyOf"]
    number = next(b for b in budget if b.get("type") == "number")
    assert number["exclusiveMinimum"] == 0 and number["maximum"] == 86_400_000
    ranged = next(b for b in budget if "allOf" in b)
    assert "low must not exceed high" in ranged["description"]
    assert ranged["allOf"][1]["properties"]["low"]["exclusiveMinimum"] == 0
    pairs = s["$defs"]["Data"]["properties"]["paired_examples"]["anyOf"]
    assert next(b for b in pairs if b.get("type") == "number")["minimum"] == 0


def _validator(schema):
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_every_schema_example_is_accepted_by_a_file_and_by_the_schema(tmp_path):
    """Each field's `examples` value, put in a requirements file, reads (exit 0)."""
    from advisor._api import requirements_schema

    schema = requirements_schema()
    check = _validator(schema)
    base = {"name": "x", "data": {"paired_examples": 1000}, "latency": {"budget_ms": 300}}
    seen = 0
    sections = {
        k: v["$ref"].rsplit("/", 1)[1] for k, v in schema["properties"].items() if "$ref" in v
    }
    for key, prop in schema["properties"].items():
        for section_key, ref in [(key, sections[key])] if key in sections else [(None, None)]:
            props = schema["$defs"][ref]["properties"] if ref else {key: prop}
            for field, fprop in props.items():
                for example in fprop.get("examples", []):
                    doc = json.loads(json.dumps(base))
                    (doc.setdefault(section_key, {}) if section_key else doc)[field] = example
                    f = _write(tmp_path / f"{field}.yaml", doc)
                    r = run(["recommend", str(f), "--no-explain", "--format", "json"])
                    assert r.exit_code == 0, (field, example, r.stderr)
                    assert not list(check.iter_errors(doc)), (field, example)
                    seen += 1
    assert seen >= 15
    assert list(check.iter_errors({**base, "latency": {"budget_ms": 0}}))  # the bound holds


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2M", 2_000_000),
        ("150k-400k", {"low": 150_000, "high": 400_000}),
        ({"low": "10k", "high": "50k"}, {"low": 10_000, "high": 50_000}),
    ],
)
def test_the_same_number_forms_in_a_file_json_csv_and_the_questionnaire(tmp_path, typed, expected):
    from advisor import _ask as core
    from advisor import load_requirements

    doc = {"name": "x", "data": {"paired_examples": typed}, "latency": {"budget_ms": "300 ms"}}
    from_file = load_requirements(_write(tmp_path / "a.yaml", doc))
    (tmp_path / "a.json").write_text(json.dumps(doc))
    from_json = load_requirements(tmp_path / "a.json")
    want = load_requirements(
        {"name": "x", "data": {"paired_examples": expected}, "latency": {"budget_ms": 300}}
    )
    assert from_file == from_json == want
    if isinstance(typed, str):
        q = next(q for q in core.questions() if q.path == "data.paired_examples")
        assert core.parse_answer(q, typed) == expected
        csv_in = tmp_path / "p.csv"
        csv_in.write_text(f"name,data.paired_examples,latency.budget_ms\nx,{typed},300 ms\n")
        out = tmp_path / "p.jsonl"
        assert run(["batch", str(csv_in), "-o", str(out), "--samples", "2000"]).exit_code == 0
        single = run(["recommend", str(tmp_path / "a.yaml"), "--format", "json", "--no-explain"])
        assert json.loads(out.read_text())["scores"] == json.loads(single.stdout)["scores"]


def test_a_number_with_a_wrong_unit_says_why(tmp_path):
    doc = {"name": "x", "data": {"paired_examples": 1000}, "latency": {"budget_ms": "5 parsecs"}}
    r = run(["recommend", str(_write(tmp_path / "a.yaml", doc))])
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: {tmp_path / 'a.yaml'}: latency.budget_ms: unknown unit 'parsecs' "
        "in '5 parsecs' (use ms, s, min or h)\n"
    )


def test_schema_assessment_describes_what_recommend_writes():
    r = run(["schema", "assessment"])
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    assert schema["$id"].startswith("urn:e2e-advisor:") and schema["title"] == "Assessment"
    check = _validator(schema)
    out = run(["recommend", str(CREDIT), "--format", "json"])
    assert not list(check.iter_errors(json.loads(out.stdout)))
    bad = {**json.loads(out.stdout), "confidence": "high"}
    assert list(check.iter_errors(bad))


@pytest.mark.parametrize("typed", ["1e999", "9" * 5000, "-1e999", "1e308 min", "1e308k"])
def test_typed_numbers_too_large_are_bad_input_not_a_crash(typed):
    from advisor import load_requirements
    from advisor._errors import InputError

    for doc in (
        {"data": {"paired_examples": typed}, "latency": {"budget_ms": 300}},
        {"data": {"paired_examples": 10}, "latency": {"budget_ms": {"low": typed, "high": 5}}},
    ):
        with pytest.raises(InputError):
            load_requirements({"name": "x", **doc})


def test_any_text_as_a_number_is_read_or_refused_with_a_reason():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from advisor import load_requirements
    from advisor._errors import InputError

    numberish = st.one_of(
        st.text(max_size=20),
        st.from_regex(
            r"\A[+-]?[\d.,_e]{1,12} ?[a-zµ]{0,8}"
            r"(-[\d.e]{1,6})?\Z"
        ),
    )

    @settings(derandomize=True, max_examples=400, deadline=None, database=None)
    @given(numberish, numberish)
    def check(pairs, budget):
        try:
            load_requirements(
                {"name": "x", "data": {"paired_examples": pairs}, "latency": {"budget_ms": budget}}
            )
        except InputError as e:
            assert e.problems and all(p.startswith("<mapping>: ") for p in e.problems)

    check()
