"""The CLI of issue 2: recommend and schema, formats, and bad input (exit 2, one line each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT
from conftest import run_cli as run

from advisor._cli.main import cli

VOICE = ROOT / "examples" / "realtime-voice-agent.yaml"
GOOD = "name: t\ndata: {paired_examples: 1000}\nlatency: {budget_ms: 300}\n"


def test_recommend_json_stdout():
    r = run(["recommend", str(VOICE), "--format", "json", "--no-explain"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    for key in (
        "schema_version",
        "advisor_version",
        "rulepack",
        "input_sha256",
        "recommendation",
        "confidence",
        "scores",
        "vetoes",
        "dimensions",
        "rules_fired",
        "attributions",
        "attribution_base",
        "counterfactuals",
        "explainability",
        "hybrid_pattern",
        "plan",
    ):
        assert key in data, key
    assert data["recommendation"] in ("end_to_end", "modular", "hybrid")


def test_recommend_html_by_suffix(tmp_path):
    out = tmp_path / "report.html"
    r = run(["recommend", str(VOICE), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "Realtime voice agent" in html


def test_recommend_stdin():
    r = run(["recommend", "-", "--format", "json", "--no-explain"], input=GOOD)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["name"] == "t"


def test_recommend_markdown(tmp_path):
    out = tmp_path / "r.md"
    r = run(["recommend", str(VOICE), "-o", str(out), "--no-explain"])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("# Architecture recommendation")


def test_schema_lists_fields():
    r = run(["schema"])
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    assert "data" in schema["properties"] and "latency" in schema["properties"]
    assert set(schema["required"]) >= {"name", "data", "latency"}


def test_version():
    r = run(["--version"])
    assert r.exit_code == 0 and "advisor" in r.stdout


BAD = [
    ("empty", "", "file is empty"),
    ("not-yaml", "name: [unclosed\n", "not valid YAML"),
    ("python-tag", "name: !!python/object/apply:os.system ['echo hi']\n", "unsupported YAML"),
    ("list", "- a\n- b\n", "must be a mapping"),
    ("missing-required", "name: t\nlatency: {budget_ms: 300}\n", "data: required field is missing"),
    (
        "wrong-type",
        "name: t\ndata: {paired_examples: lots}\nlatency: {budget_ms: 300}\n",
        "data.paired_examples",
    ),
    (
        "zero-latency",
        "name: t\ndata: {paired_examples: 10}\nlatency: {budget_ms: 0}\n",
        "latency.budget_ms: must be greater than 0 (got 0)",
    ),
    (
        "negative-latency",
        "name: t\ndata: {paired_examples: 10}\nlatency: {budget_ms: -5}\n",
        "latency.budget_ms: must be greater than 0 (got -5)",
    ),
    (
        "negative-pairs",
        "name: t\ndata: {paired_examples: -1}\nlatency: {budget_ms: 5}\n",
        "data.paired_examples: must be 0 or more",
    ),
    ("unknown-modality", GOOD + "task: {modality: smell}\n", "task.modality: must be one of"),
    (
        "range-reversed",
        "name: t\ndata: {paired_examples: 10}\nlatency: {budget_ms: {low: 400, high: 80}}\n",
        "low must not exceed high",
    ),
    ("typo", GOOD + "latncy: {budget_ms: 3}\n", "latncy: unknown field (did you mean 'latency'?)"),
    (
        "nested-typo",
        "name: t\ndata: {paired_examples: 10, stage_label: full}\nlatency: {budget_ms: 5}\n",
        "data.stage_label: unknown field (did you mean 'stage_labels'?)",
    ),
]


@pytest.mark.parametrize("name,text,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exit_2(tmp_path, name, text, expected):
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    r = run(["recommend", str(f), "--format", "json"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith(f"error: {f}") for ln in lines), r.stderr
    assert expected in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_missing_file(tmp_path):
    r = run(["recommend", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2
    assert "nope.yaml: file not found" in r.stderr


def test_file_over_1mb(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(GOOD + "#" * 1_100_000)
    r = run(["recommend", str(f)])
    assert r.exit_code == 2
    assert "larger than 1 MB" in r.stderr


def test_several_problems_one_line_each(tmp_path):
    f = tmp_path / "multi.yaml"
    f.write_text("name: t\ndata: {paired_examples: -3}\nlatency: {budget_ms: -1}\nlatncy: 1\n")
    r = run(["recommend", str(f)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    assert any("data.paired_examples" in ln for ln in lines)
    assert any("latency.budget_ms" in ln for ln in lines)
    assert any("latncy" in ln for ln in lines)


def test_output_never_overwrites_input(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(
        json.dumps({"name": "t", "data": {"paired_examples": 10}, "latency": {"budget_ms": 5}})
    )
    before = f.read_text()
    r = run(["recommend", str(f), "-o", str(f)])
    assert r.exit_code == 2
    assert "refusing to overwrite the input" in r.stderr
    assert f.read_text() == before


def test_output_missing_folders_are_created(tmp_path):
    target = tmp_path / "adr" / "2026" / "0007-arch.md"
    r = run(["recommend", str(VOICE), "--format", "adr", "-o", str(target), "--no-explain"])
    assert r.exit_code == 0, r.output
    assert target.read_text().startswith("---\nstatus: proposed\n")  # MADR front matter
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "r.html"
    r = run(["recommend", str(VOICE), "-o", str(bad), "--no-explain"])
    assert r.exit_code == 2
    assert r.stderr == f"error: {bad}: {tmp_path / 'afile'} is a file, not a folder\n"


@pytest.mark.parametrize("name", ["r.pdf", "r.yaml", "report"])
def test_an_unknown_output_suffix_is_refused_unless_format_says(tmp_path, name):
    target = tmp_path / name
    r = run(["recommend", str(VOICE), "-o", str(target), "--no-explain"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {target}: cannot tell what to write from ")
    assert r.stderr.endswith("; use .html, .json, .md, or give --format\n")
    assert len(r.stderr.splitlines()) == 1 and not target.exists()
    r = run(["recommend", str(VOICE), "-o", str(target), "--format", "md", "--no-explain"])
    assert r.exit_code == 0 and target.read_text().startswith("# ")


@pytest.mark.parametrize(
    ("suffix", "start"), [(".markdown", "# "), (".htm", "<!DOCTYPE"), (".JSON", "{")]
)
def test_every_known_suffix_names_its_format(tmp_path, suffix, start):
    target = tmp_path / f"r{suffix}"
    r = run(["recommend", str(VOICE), "-o", str(target), "--no-explain"])
    assert r.exit_code == 0, r.output
    assert target.read_text().lstrip().startswith(start)


def test_one_suffix_function_serves_every_command(tmp_path):
    """compare, batch, ask and probe refuse an unknown suffix the same way, before any work."""
    cases = [
        ["compare", str(VOICE), str(VOICE), "-o", str(tmp_path / "c.pdf")],
        ["batch", str(ROOT / "examples"), "-o", str(tmp_path / "b.pdf")],
        [
            "batch",
            str(ROOT / "examples"),
            "-o",
            str(tmp_path / "b.jsonl"),
            "--report",
            str(tmp_path / "p.pdf"),
        ],
        ["probe", "--demo", "-o", str(tmp_path / "p.pdf")],
    ]
    for args in cases:
        r = run(args)
        assert r.exit_code == 2, (args, r.output)
        assert "cannot tell what to write from the suffix '.pdf'" in r.stderr, (args, r.stderr)
        assert not list(tmp_path.iterdir()), args


def test_stdout_on_a_full_disk_is_exit_2_not_a_bug(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        p = subprocess.run(
            [sys.executable, "-m", "advisor", "recommend", str(VOICE), "--no-explain"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert p.returncode == 2, p.stderr
    assert p.stderr == "error: <stdout>: cannot write (No space left on device)\n"
    with open("/dev/full", "w") as full:
        p = subprocess.run(
            [sys.executable, "-m", "advisor", "schema"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert p.returncode == 2 and p.stderr.startswith("error: <stdout>: cannot write"), p.stderr


def test_unknown_format_is_usage_error():
    r = run(["recommend", str(VOICE), "--format", "pdf"])
    assert r.exit_code == 2


def _bad_pack(tmp_path: Path, mutate) -> Path:
    dest = tmp_path / "pack"
    dest.mkdir()
    for f in (ROOT / "rules").glob("*.yaml"):
        (dest / f.name).write_text(f.read_text())
    mutate(dest)
    return dest


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda d: (d / "rules.yaml").write_text("rules: [unclosed\n"), "rules.yaml: line"),
        (
            lambda d: _replace(
                d / "rules.yaml",
                "    effect: {veto: end_to_end}\n",
                "    effect: {veto: end_to_end}\n    colour: red\n",
            ),
            "rules.yaml: rules[id=e2e-needs-paired-data].colour: unknown field",
        ),
        (
            lambda d: _replace(
                d / "rules.yaml",
                "field: latency.budget_ms, lt: 50",
                "field: latency.budget, lt: 50",
            ),
            "rules.yaml: rules[id=tight-budget-penalises-cascades].when: "
            "condition on unknown field 'latency.budget' (did you mean 'latency.budget_ms'?)",
        ),
    ],
    ids=["bad-yaml", "unknown-key", "unknown-field"],
)
def test_broken_rule_pack_exit_2(tmp_path, mutate, expected):
    pack = _bad_pack(tmp_path, mutate)
    r = run(["recommend", str(VOICE), "--rules", str(pack), "--no-explain"])
    assert r.exit_code == 2, r.output
    assert expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_bug_exits_1(monkeypatch):
    import advisor._engine

    def boom(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(advisor._engine, "assess", boom)
    r = run(["recommend", str(VOICE)])
    assert r.exit_code == 1
    assert "internal error" in r.stderr and "Traceback" not in r.stderr


def test_runs_from_any_directory(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "advisor",
            "recommend",
            str(VOICE),
            "-o",
            str(out),
            "--no-explain",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["rulepack"]["name"] == "default"


def test_cli_group_help():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "recommend" in r.output


def test_serve_without_the_extra_names_the_distribution_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if FastAPI were not installed
    r = run(["serve"])
    assert r.exit_code == 2
    assert r.stderr == (
        "error: advisor serve needs FastAPI and uvicorn: pip install 'e2e-advisor[server]'\n"
    )
