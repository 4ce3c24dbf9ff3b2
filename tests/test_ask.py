"""`advisor ask` (issue 4): units and ranges, the questionnaire core, the CLI flows with scripted
input, a real pseudo-terminal run, and the answers file round-tripping through `recommend`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from advisor import _ask as core
from advisor._units import parse_number_or_range, parse_quantity

# --------------------------------------------------------------------------------------------
# Units and ranges


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("2s", "duration", 2000),
        ("300 ms", "duration", 300),
        ("300", "duration", 300),
        ("0.5 s", "duration", 500),
        ("2 min", "duration", 120_000),
        ("1.5M", "count", 1_500_000),
        ("1.5m", "count", 1_500_000),
        ("20k", "count", 20_000),
        ("2,000,000", "count", 2_000_000),
        ("1e6", "count", 1_000_000),
        ("50k pairs", "count", 50_000),
        ("100-400", "duration", {"low": 100, "high": 400}),
        ("10k-50k", "count", {"low": 10_000, "high": 50_000}),
        ("1-2 s", "duration", {"low": 1000, "high": 2000}),
        ("500-2k", "count", {"low": 500, "high": 2000}),
        ("100 ms to 2s", "duration", {"low": 100, "high": 2000}),
        ("10k–50k", "count", {"low": 10_000, "high": 50_000}),
        ("-5", "duration", -5),  # a sign, not a range: the model says why it is wrong
    ],
)
def test_units_parse(text, kind, expected):
    assert parse_number_or_range(text, kind) == expected


def test_units_whole_numbers_are_ints():
    assert isinstance(parse_quantity("1.5M", "count"), int)
    assert isinstance(parse_quantity("0.25 ms", "duration"), float)


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("abc", "count", "not a number"),
        ("", "count", "expected a number"),
        ("5 parsecs", "duration", "unknown unit 'parsecs'"),
        ("5m", "duration", "m is ambiguous"),  # minutes or milliseconds?
        ("2s", "count", "unknown unit 's'"),
        ("400-100", "duration", "must not exceed"),
        ("1,00", "count", "commas must group thousands"),
        ("x-5", "count", "low end of range"),
    ],
)
def test_units_reject(text, kind, reason):
    with pytest.raises(ValueError, match=reason):
        parse_number_or_range(text, kind)


# --------------------------------------------------------------------------------------------
# The core, with a scripted prompter


class Scripted:
    """A prompter that answers from a list and records what was shown (EOF when it runs out)."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.shown: list[str] = []

    def say(self, text):
        self.shown.append(text)

    def ask(self, prompt):
        self.shown.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    @property
    def text(self):
        return "\n".join(self.shown)


def asked_fields(io: Scripted) -> list[str]:
    return [
        line.rsplit("field: ", 1)[1]
        for s in io.shown
        for line in s.splitlines()
        if "field: " in line
    ]


def test_every_field_has_its_question_beside_the_schema():
    qs = core.questions()
    from advisor._requirements import field_paths

    assert [q.path for q in qs] == [p for p in field_paths() if p != "schema_version"]
    for q in qs:
        assert q.question.endswith("?") or "(optional)" in q.question, q.path
        assert q.help and q.example, q.path


def _by_path(answers):
    """Give a prompter answering by field path (Enter for a field not listed)."""

    class ByPath(Scripted):
        def ask(self, prompt):
            self.shown.append(prompt)
            if "Enter to confirm" in prompt:
                return ""
            field = asked_fields(self)[-1]
            value = answers.get(field, "")
            return value.pop(0) if isinstance(value, list) else value

    return ByPath([])


def test_skip_logic_regimes_only_when_regulated():
    base = {"name": "x", "data.paired_examples": "20k", "latency.budget_ms": "300"}
    io = _by_path({**base, "regulation.criticality": "business_critical"})
    session = core.Session(core.questions())
    core.run(session, io)
    assert "regulation.regimes" not in asked_fields(io)
    assert "regulation.regimes" not in session.answers
    assert "not asked: only when criticality is regulated" in io.text

    io = _by_path({**base, "regulation.criticality": "3", "regulation.regimes": "gdpr_art22, 3"})
    session = core.Session(core.questions())
    doc = core.run(session, io)
    assert "regulation.regimes" in asked_fields(io)
    assert doc["regulation"]["regimes"] == ["ecoa", "gdpr_art22"]


def test_skip_logic_labelling_cost_only_without_full_stage_labels():
    base = {"name": "x", "data.paired_examples": "20k", "latency.budget_ms": "300"}
    io = _by_path({**base, "data.stage_labels": "full"})
    core.run(core.Session(core.questions()), io)
    assert "data.labeling_cost" not in asked_fields(io)
    io = _by_path({**base, "data.stage_labels": "none"})
    core.run(core.Session(core.questions()), io)
    assert "data.labeling_cost" in asked_fields(io)


def test_skip_rules_name_real_fields():
    assert set(core.SKIPS) <= {q.path for q in core.questions()}


def test_skip_logic_explanation_method_only_when_explanations_are_required():
    base = {"name": "x", "data.paired_examples": "20k", "latency.budget_ms": "300"}
    io = _by_path(base)  # non_critical: no explanation required
    core.run(core.Session(core.questions()), io)
    assert "regulation.explanation_method" not in asked_fields(io)
    io = _by_path({**base, "regulation.criticality": "business_critical"})
    core.run(core.Session(core.questions()), io)
    assert "regulation.explanation_method" in asked_fields(io)


def test_explainability_default_follows_criticality():
    io = _by_path(
        {
            "name": "x",
            "data.paired_examples": "1",
            "latency.budget_ms": "1",
            "regulation.criticality": "regulated",
        }
    )
    session = core.Session(core.questions())
    doc = core.run(session, io)
    assert "[Enter: derived from criticality, medium]" in io.text
    assert doc["regulation"]["explainability"] is None  # stays derived, as in the model


def test_progress_marker_counts_the_questions_that_apply():
    io = _by_path({"name": "x", "data.paired_examples": "1", "latency.budget_ms": "1"})
    core.run(core.Session(core.questions()), io)
    markers = [s.split("]")[0] + "]" for s in io.shown if s.startswith("\n[")]
    total = len(markers)
    assert markers[0] == f"\n[1/{total}]" and markers[-1] == f"\n[{total}/{total}]"


def test_regime_typo_is_questioned_then_kept_when_repeated():
    io = _by_path(
        {
            "name": "x",
            "data.paired_examples": "1",
            "latency.budget_ms": "1",
            "regulation.criticality": "regulated",
            "regulation.regimes": ["gdrp_art22", "gdrp_art22"],
        }
    )
    doc = core.run(core.Session(core.questions()), io)
    assert "did you mean gdpr_art22?" in io.text
    assert doc["regulation"]["regimes"] == ["gdrp_art22"]


def test_prefill_reports_invalid_values_and_refuses_unknown_fields():
    qs = core.questions()
    doc = {"name": "x", "latency": {"budget_ms": "2s"}, "data": {"paired_examples": -3}}
    found = core.prefill(doc, "d.yaml", qs)
    assert found.answers == {"name": "x", "latency.budget_ms": 2000}
    assert found.invalid == ["d.yaml: data.paired_examples: must be 0 or more (got -3)"]
    with pytest.raises(core.InputError) as e:
        core.prefill({"latency": {"budget": 3}}, "d.yaml", qs)
    assert e.value.problems == ["d.yaml: latency.budget: unknown field (did you mean 'budget_ms'?)"]


# --------------------------------------------------------------------------------------------
# The command, through `main` with scripted input


def run(args, input=None, interactive=True):
    """Run `advisor ARGS` through `main` (exit codes as a user sees them), in the current folder.

    `interactive` sets the documented testing hook ADVISOR_ASK_INTERACTIVE (CliRunner's stdin
    is not a terminal).
    """
    return run_cli(args, input=input, env={"ADVISOR_ASK_INTERACTIVE": "1" if interactive else "0"})


def typed(answers: dict, summary=("",), given=()) -> str:
    """Give the lines a user types: one per question that applies, in order (Enter where the
    field is not in `answers`; a list gives several tries), then the summary choices. Fields in
    `given` are answered otherwise (a file, --set) and not typed."""
    session = core.Session(core.questions())
    lines: list[str] = []
    for q in session.questions:
        if session.skip_reason(q) is not None:
            continue
        value = answers.get(q.path, "")
        if q.path in given:
            session.answers[q.path] = core.parse_answer(q, value) if value else q.default
            continue
        tries = value if isinstance(value, list) else [value]
        lines.extend(tries)
        last = tries[-1]
        session.answers[q.path] = core.parse_answer(q, last, lenient=True) if last else q.default
    return "\n".join(lines + list(summary)) + "\n"


VOICE = {
    "name": "Voice bot",
    "task.modality": "speech",
    "task.pretrained_available": "yes",
    "data.paired_examples": "2M",
    "latency.budget_ms": "300 ms",
    "regulation.criticality": "2",
}


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_happy_path_writes_answers_and_report(here):
    r = run(["ask"], typed(VOICE))
    assert r.exit_code == 0, r.output
    assert "[1/" in r.stdout and "Summary" in r.stdout
    assert "Recommendation: " in r.stdout and "(confidence " in r.stdout
    assert "  1. " in r.stdout  # the top reasons
    text = (here / "answers.yaml").read_text()
    assert text.startswith("# ") and "# What is the p95 end-to-end response budget?" in text
    doc = yaml.safe_load(text)
    assert doc["data"]["paired_examples"] == 2_000_000
    assert doc["latency"]["budget_ms"] == 300
    assert doc["regulation"]["criticality"] == "business_critical"
    assert (here / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert not list(here.glob("*.draft*"))


def test_bad_answers_are_asked_again_with_the_reason(here):
    answers = {
        **VOICE,
        "name": ["", "Voice bot"],
        "task.modality": ["9", "sp", "speech"],
        "task.pretrained_available": ["maybe", "y"],
        "data.paired_examples": ["lots", "-3", "2M"],
        "latency.budget_ms": ["-5", "5 parsecs", "0.3s"],
    }
    r = run(["ask"], typed(answers))
    assert r.exit_code == 0, r.output
    for reason in (
        "an answer is required",
        "choose a number from 1 to 7",
        "answer yes or no",
        "'lots' is not a number",
        "must be 0 or more (got -3)",
        "must be greater than 0 (got -5)",
        "unknown unit 'parsecs'",
    ):
        assert reason in r.stdout, reason
    assert "Traceback" not in r.output
    doc = yaml.safe_load((here / "answers.yaml").read_text())
    assert doc["task"]["modality"] == "speech" and doc["latency"]["budget_ms"] == 300


def test_ranges_and_units(here):
    answers = {**VOICE, "data.paired_examples": "10k-50k", "latency.budget_ms": "1-2 s"}
    r = run(["ask", "-o", "out.md"], typed(answers))
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load((here / "answers.yaml").read_text())
    assert doc["data"]["paired_examples"] == {"low": 10_000, "high": 50_000}
    assert doc["latency"]["budget_ms"] == {"low": 1000, "high": 2000}
    assert "10k pairs to 50k pairs" in r.stdout  # the summary
    assert (here / "out.md").exists()


def test_revise_from_summary(here):
    paths = [q.path for q in core.questions()]
    row = str(paths.index("latency.budget_ms") + 1)
    crit = str(paths.index("regulation.criticality") + 1)
    # Change the budget, then criticality to regulated, which makes the regimes question apply.
    summary = [row, "2s", crit, "regulated", "hipaa", ""]
    r = run(["ask"], typed(VOICE, summary=summary))
    assert r.exit_code == 0, r.output
    assert "[current: 300 ms]" in r.stdout
    doc = yaml.safe_load((here / "answers.yaml").read_text())
    assert doc["latency"]["budget_ms"] == 2000
    assert doc["regulation"]["criticality"] == "regulated"
    assert doc["regulation"]["regimes"] == ["hipaa"]
    assert r.stdout.count("Summary") == 3


def test_eof_midway_saves_a_draft_and_resume_completes_it(here):
    first = "Voice bot\n\nspeech\n"  # name, description, modality; then EOF
    r = run(["ask"], first)
    assert r.exit_code == 130, r.output
    assert "3 answers saved to answers.draft.yaml" in r.stderr
    assert "Resume with: advisor ask --answers answers.draft.yaml" in r.stderr
    draft = yaml.safe_load((here / "answers.draft.yaml").read_text())
    assert draft["name"] == "Voice bot" and draft["task"]["modality"] == "speech"

    r = run(
        ["ask", "--answers", "answers.draft.yaml"],
        typed(VOICE, given=("name", "description", "task.modality")),
    )
    assert r.exit_code == 0, r.output
    assert "3 answers read from answers.draft.yaml" in r.stdout
    assert "What is the project called?" not in r.stdout  # answered in the draft
    doc = yaml.safe_load((here / "answers.yaml").read_text())
    assert doc["name"] == "Voice bot" and doc["latency"]["budget_ms"] == 300
    assert not (here / "answers.draft.yaml").exists()


def test_quit_at_summary_keeps_a_draft(here):
    r = run(["ask"], typed(VOICE, summary=["q"]))
    assert r.exit_code == 130, r.output
    assert (here / "answers.draft.yaml").exists()
    assert not (here / "answers.yaml").exists() and not (here / "report.html").exists()


def test_set_and_defaults_without_a_terminal(here):
    r = run(
        [
            "ask",
            "--defaults",
            "--set",
            "name=CLI",
            "--set",
            "data.paired_examples=1.5M",
            "--set",
            "latency.budget_ms=2s",
            "--set",
            "regulation.criticality=regulated",
            "--set",
            "regulation.regimes=ecoa,gdpr_art22",
            "-o",
            "r.json",
        ],
        interactive=False,
    )
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load((here / "answers.yaml").read_text())
    assert doc["latency"]["budget_ms"] == 2000 and doc["data"]["paired_examples"] == 1_500_000
    assert doc["regulation"]["regimes"] == ["ecoa", "gdpr_art22"]
    assert doc["team"]["ml_maturity"] == "medium"  # a default taken
    assert "[1/" not in r.stdout  # nothing asked


def test_set_answers_are_not_asked(here):
    r = run(["ask", "--set", "latency.budget_ms=80ms"], typed(VOICE, given=("latency.budget_ms",)))
    assert r.exit_code == 0, r.output
    assert "field: latency.budget_ms" not in r.stdout.split("Summary")[0]
    assert yaml.safe_load((here / "answers.yaml").read_text())["latency"]["budget_ms"] == 80


def test_bad_set_is_exit_2_naming_the_field(here):
    r = run(
        ["ask", "--set", "latency.budget=5", "--set", "latency.budget_ms=-5", "--set", "nonsense"],
        interactive=False,
    )
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "error: --set latency.budget: unknown field (did you mean 'latency.budget_ms'?)",
        "error: --set latency.budget_ms: must be greater than 0 (got -5)",
        "error: --set nonsense: expected KEY=VALUE, e.g. latency.budget_ms=50",
    ]


def test_no_terminal_names_the_unanswered_questions(here):
    r = run(["ask", "--defaults"], interactive=False)
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert lines[:3] == [
        "error: name: no answer, and no terminal to ask on",
        "error: data.paired_examples: no answer, and no terminal to ask on",
        "error: latency.budget_ms: no answer, and no terminal to ask on",
    ]
    assert "--set KEY=VALUE" in lines[-1]
    r = run(["ask"], interactive=False)
    assert r.exit_code == 2 and "error: task.modality: no answer" in r.stderr
    assert "--defaults" in r.stderr.splitlines()[-1]
    assert not list(here.iterdir())  # nothing written


def test_no_terminal_reports_invalid_prefilled_values(here):
    (here / "a.yaml").write_text("name: x\ndata: {paired_examples: -1}\nlatency: {budget_ms: 9}\n")
    r = run(["ask", "--answers", "a.yaml", "--defaults"], interactive=False)
    assert r.exit_code == 2
    assert "error: a.yaml: data.paired_examples: must be 0 or more (got -1)" in r.stderr
    (here / "b.yaml").write_text("name: x\ndata: {paired: 1}\n")
    r = run(["ask", "--answers", "b.yaml"])
    assert r.exit_code == 2
    assert "error: b.yaml: data.paired: unknown field (did you mean 'paired_examples'?)" in r.stderr


def test_unwritable_targets_fail_before_any_question(here):
    (here / "afile").write_text("x")
    r = run(["ask", "-o", "afile/sub/report.html"], "x\n")
    assert r.exit_code == 2, r.output
    assert r.stderr == "error: afile/sub/report.html: afile is a file, not a folder\n"
    assert "[1/" not in r.stdout
    r = run(["ask", "-o", "same.json", "--answers", "same.json"], "x\n")
    assert r.exit_code == 2 and "must be different files" in r.stderr
    r = run(["ask", "-o", "r.pdf"], "x\n")
    assert r.exit_code == 2 and "[1/" not in r.stdout
    assert r.stderr == (
        "error: r.pdf: cannot tell what to write from the suffix '.pdf'; use "
        ".html, .json, .md, or give --format\n"
    )


def test_missing_folders_are_created_when_the_files_are_written(here):
    answers = {**VOICE}
    r = run(
        ["ask", "-o", "out/reports/voice.md", "--answers", "out/answers/voice.yaml"], typed(answers)
    )
    assert r.exit_code == 0, r.output
    assert (here / "out/reports/voice.md").read_text().startswith("# ")
    assert (here / "out/answers/voice.yaml").exists()


def test_stopping_before_the_end_creates_no_folder(here):
    r = run(["ask", "-o", "out/voice.html"], "Voice\n")  # EOF after the first answer
    assert r.exit_code == 130
    assert not (here / "out").exists()


def test_round_trip_recommend_gives_the_same_assessment(here):
    """The answers file is the whole input: `recommend` on it gives byte-identical JSON,
    `input` and `input_sha256` included (the command assesses the very mapping it writes)."""
    answers = {
        **VOICE,
        "data.paired_examples": "20k-80k",
        "regulation.criticality": "regulated",
        "regulation.regimes": "gdpr_art22",
        "description": "Books appointments: #1 use",
    }
    r = run(["ask", "-o", "asked.json"], typed(answers))
    assert r.exit_code == 0, r.output
    again = run(["recommend", "answers.yaml", "--format", "json"])
    assert again.exit_code == 0, again.output
    assert again.stdout == (here / "asked.json").read_text()


# --------------------------------------------------------------------------------------------
# A real terminal


def _advisor_cmd() -> tuple[str, list[str]]:
    script = Path(sys.executable).with_name("advisor")
    if script.exists():
        return str(script), []
    return sys.executable, ["-m", "advisor"]


# Each expectation may wait this long: on a busy machine (or a fresh clone, where Python first
# compiles every module) starting the command or importing numpy and shap after the answers
# can take minutes. Nothing is timed: a healthy run passes as soon as the text appears.
PTY_TIMEOUT = 600


def _exit_status(child) -> int | None:
    """Wait for the child to end after its output closed, then give its exit status.

    `close()` alone would send SIGHUP, SIGINT and then SIGKILL to a child that has not exited
    within a tenth of a second of the end of its output, which on a loaded machine is often.
    """
    pexpect = pytest.importorskip("pexpect")
    child.expect(pexpect.EOF)
    child.wait()
    child.close()
    return child.exitstatus


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pseudo-terminal")
def test_pseudo_terminal_ctrl_c_then_resume(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    cmd, pre = _advisor_cmd()
    env = {k: v for k, v in os.environ.items() if k != "ADVISOR_ASK_INTERACTIVE"}
    env.update(COLUMNS="100", TERM="dumb")

    child = pexpect.spawn(
        cmd,
        [*pre, "ask"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=PTY_TIMEOUT,
        dimensions=(40, 100),
    )
    child.expect(r"\[1/\d+\] What is the project called\?")
    child.expect(r"> ")
    child.sendline("Terminal bot")
    child.expect(r"\[2/\d+\]")
    child.expect(r"> ")
    child.sendline("")
    child.expect(r"\[3/\d+\] What kind of raw input")
    child.expect(r"> ")
    child.sendline("text")
    child.expect(r"\[4/\d+\]")
    child.expect(r"> ")
    child.sendintr()  # Ctrl-C mid-way
    child.expect("Resume with: advisor ask --answers answers.draft.yaml")
    assert _exit_status(child) == 130
    draft = yaml.safe_load((tmp_path / "answers.draft.yaml").read_text())
    assert draft["name"] == "Terminal bot" and draft["task"]["modality"] == "text"

    child = pexpect.spawn(
        cmd,
        [*pre, "ask", "--answers", "answers.draft.yaml"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=PTY_TIMEOUT,
        dimensions=(40, 100),
    )
    child.expect("3 answers read from answers.draft.yaml")
    replies = {"pretrained": "no", "pairs do you have": "20k", "response budget": "2s"}
    while True:
        i = child.expect([r"\[\d+/\d+\] ([^\r\n]*)", "Enter to confirm"])
        if i == 1:
            child.sendline("")
            break
        question = child.match.group(1)
        child.expect(r"> ")
        child.sendline(next((v for k, v in replies.items() if k in question), ""))
    child.expect(r"Recommendation: (end-to-end|modular|hybrid) \(confidence \d+%\)")
    assert _exit_status(child) == 0, child.before
    doc = yaml.safe_load((tmp_path / "answers.yaml").read_text())
    assert doc["name"] == "Terminal bot" and doc["latency"]["budget_ms"] == 2000
    assert (tmp_path / "report.html").exists()
    assert not (tmp_path / "answers.draft.yaml").exists()


@pytest.mark.parametrize(
    "name",
    ["a\x85b", "x\u2028y", "tab\there", "line\nbreak", "emoji 😀 é", "#1: yes", "null", "  lead"],
)
def test_answers_file_keeps_any_text_exactly(name):
    from advisor._api import read_requirements_bytes

    qs = core.questions()
    doc = {"name": name, "data": {"paired_examples": 1}, "latency": {"budget_ms": 1}}
    session = core.Session(qs, dict(core.prefill(doc, "p.yaml", qs).answers))
    text = core.answers_text(session, ["header"])
    assert "# What is the project called?" in text  # the commented layout, not the fallback
    _, saved = read_requirements_bytes(text.encode(), "a.yaml")
    assert saved["name"] == name


# --------------------------------------------------------------------------------------------
# Issue 16: regimes by unique start, the effective explainability, line editing, wording


def _regimes_question(pack):
    qs = core.questions([r.id for r in pack.regimes], {r.id: r.title for r in pack.regimes})
    return next(q for q in qs if q.path == "regulation.regimes")


@pytest.mark.parametrize(
    ("typed_text", "expected"),
    [
        ("gdpr", ["gdpr_art22"]),  # a unique start, as for other choices
        ("gdpr art 22", ["gdpr_art22"]),  # spaces inside one name do not split it
        ("GDPR Art. 22", ["gdpr_art22"]),
        ("ecoa hipaa", ["ecoa", "hipaa"]),  # ... but words that are each a regime do
        ("ecoa, sr", ["ecoa", "sr_11_7"]),
        ("1 3", ["gdpr_art22", "ecoa"]),
        ("none", []),
    ],
)
def test_regimes_take_a_unique_start_and_keep_spaced_names_whole(pack, typed_text, expected):
    q = _regimes_question(pack)
    assert core.parse_answer(q, typed_text) == sorted(expected)


def test_an_ambiguous_regime_start_is_asked_again(pack):
    q = _regimes_question(pack)
    with pytest.raises(ValueError, match="'eu' could be eu_ai_act_high_risk or eu_mdr or eu_dsa"):
        core.parse_answer(q, "eu")


def test_the_regimes_question_says_what_each_regime_is(pack):
    q = _regimes_question(pack)
    text = core.question_text(q, "[1/1]", {})
    titles = {r.id: r.title for r in pack.regimes}
    for i, r in enumerate(q.choices, 1):
        line = next(ln for ln in text.splitlines() if f"{i}. {r} " in ln)
        assert titles[r][:20] in line, (r, line)


def test_summary_shows_the_effective_explainability_and_why(pack):
    qs = core.questions([r.id for r in pack.regimes])
    floors = {r.id: r.explainability_floor for r in pack.regimes}
    assert floors["ecoa"] == "high"
    s = core.Session(
        qs,
        {
            "regulation.criticality": "regulated",
            "regulation.regimes": ["ecoa"],
            "regulation.explainability": None,
        },
        floors=floors,
    )
    row = next(ln for ln in core.summary_text(s).splitlines() if "regulation.explainability" in ln)
    assert row.endswith("high (raised by ecoa; criticality alone gives medium)")
    s.answers["regulation.regimes"] = []
    row = next(ln for ln in core.summary_text(s).splitlines() if "regulation.explainability" in ln)
    assert row.endswith("medium (derived from criticality)")
    s.answers.update({"regulation.explainability": "low", "regulation.regimes": ["ecoa"]})
    row = next(ln for ln in core.summary_text(s).splitlines() if "regulation.explainability" in ln)
    assert row.endswith("high (raised by ecoa; stated low)")


def test_the_summary_level_is_the_one_the_assessment_uses(here, pack):
    answers = {
        "name": "Loans",
        "data.paired_examples": "200k",
        "latency.budget_ms": "2s",
        "regulation.criticality": "regulated",
        "regulation.regimes": "ecoa",
    }
    r = run(["ask", "-o", "loans.json"], typed(answers))
    assert r.exit_code == 0, r.output
    assert "high (raised by ecoa; criticality alone gives medium)" in r.stdout
    import json

    assessed = json.loads((here / "loans.json").read_text())
    assert "raised from medium to high" in " ".join(assessed["warnings"])


def test_no_terminal_does_not_list_the_optional_description(here):
    r = run(
        [
            "ask",
            "--set",
            "name=x",
            "--set",
            "data.paired_examples=20k",
            "--set",
            "latency.budget_ms=300ms",
            "--defaults",
            "-o",
            "r.json",
        ],
        interactive=False,
    )
    assert r.exit_code == 0, r.output
    r = run(
        [
            "ask",
            "--answers",
            "new.yaml",
            "--set",
            "name=x",
            "--set",
            "data.paired_examples=20k",
            "--set",
            "latency.budget_ms=300ms",
        ],
        interactive=False,
    )
    assert r.exit_code == 2
    assert "description" not in r.stderr and "task.modality: no answer" in r.stderr


def test_one_answer_saved_is_singular(here):
    r = run(["ask"], "Voice\n")  # one answer, then EOF: a draft
    assert r.exit_code == 130
    assert "Stopped. 1 answer saved to answers.draft.yaml." in r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pseudo-terminal")
def test_arrow_keys_edit_the_answer_in_a_terminal(tmp_path):
    """In a real pseudo-terminal, the left arrow moves the cursor (readline): "Voie", left,
    "c" is saved as "Voice", not with the arrow's escape code in it."""
    pexpect = pytest.importorskip("pexpect")
    pytest.importorskip("readline", reason="this Python has no readline module")
    env = {**os.environ, "ADVISOR_ASK_INTERACTIVE": "", "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "advisor", "ask"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 100),
    )
    child.expect(r"\[1/\d+\] What is the project called\?")
    child.expect(r"> ")
    child.send("Voie\x1b[Dc\r")
    child.expect(r"\[2/\d+\]")
    child.expect(r"> ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    draft = yaml.safe_load((tmp_path / "answers.draft.yaml").read_text())
    assert draft["name"] == "Voice"
