"""Injection (issue 15): user text is inert in every output.

- Markdown (`md`, `adr`): a corpus of payloads, one for each Markdown construct, in every text
  field a requirements file or a rule pack can fill. A CommonMark parser (markdown-it, with
  GitHub's tables and strikethrough) reads the report: its structure (every block and inline
  token) must be the same as the report of the same project with plain words in those fields,
  and each payload must show as its own characters.
- Terminal: everything echoed on stdout or stderr (error lines naming unknown keys or files,
  usage errors, compare's text, batch's summary, the questionnaire, probe's table) holds no
  C0/C1 control, ESC, DEL, line separator or bidi control other than the newlines it makes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, run_cli
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from advisor._escape import markdown, printable, shell_quote

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is a test dependency")
MD = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])

# One payload per Markdown construct (and the terminal ones, which Markdown must also defuse).
MD_PAYLOADS = [
    "~~~ x",
    "```python",
    "~~~",
    "````",
    "# heading",
    "### closed ###",
    "Setext\n===",
    "Setext\n---",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "1) item",
    "> quote",
    "| a | b |\n|---|---|\n| c | d |",
    "a | b",
    "[link](http://evil.example)",
    "![img](http://evil.example/x.png)",
    "[ref]: http://evil.example",
    "[^note]",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- comment -->",
    "<http://evil.example>",
    "<div>\n\nblock\n\n</div>",
    "<br>",
    "*em* **strong** _em_ __strong__ ***both***",
    "~~strike~~ ~one~",
    "`code` ``double``",
    "$math$ $$display$$",
    "back\\slash \\* \\",
    "trailing backslash\\",
    "    indented code",
    "\tindented code",
    "  two leading",
    "hard  \nbreak",
    "soft\nbreak",
    "cr\rbreak",
    "crlf\r\nbreak",
    "\x85nel \u2028ls \u2029ps \x0bvt \x0cff",
    "&copy; &#65; &#x41; &amp;",
    "R&D and A & B",
    "---",
    "***",
    "___",
    "===",
    "snake_case __dunder__ _lead trail_",
    "\x1b]0;owned\x07 \x1b[31mred\x1b[0m",
    "\u202eevil\u202c \u2066iso\u2069",
    "\x7f\x9b",
    "{{ 7*7 }}{% if 1 %}x{% endif %}",
    "emoji 😀, é, 中文",
]
LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# What a terminal acts on instead of showing (newline and tab aside, checked separately).
UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f"
    "\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f\ud800-\udfff]"
)


def _shown(text: str) -> str:
    """What a Markdown renderer must show for `text` given to `markdown`."""
    return printable(LINE_BREAKS.sub(" ", text), keep="\t")


def _plain(tokens) -> str:
    """The text of the inline tokens; any other inline token is marked, to be caught."""
    out = []
    for t in tokens:
        if t.type == "inline":
            for c in t.children:
                out.append(c.content if c.type == "text" else f"<<{c.type}>>")
    return "".join(out)


CONTEXTS = {
    "paragraph": ("{}\n", "{}"),
    "mid-line": ("before {} after\n", "before {} after"),
    "list item": ("- {}\n", "{}"),
    "heading": ("# {}\n", "{}"),
    "table cell": ("| a | b |\n|---|---|\n| {} | z |\n", "ab{}z"),
    "emphasis": ("**{}**\n", "<<strong_open>>{}<<strong_close>>"),
}


def _assert_literal(text: str) -> None:
    escaped = markdown(text)
    assert "\n" not in escaped and "\r" not in escaped
    assert not UNPRINTABLE.search(escaped), repr(escaped)
    shown = _shown(text)
    for context, (wrap, expect) in CONTEXTS.items():
        tokens = MD.parse(wrap.format(escaped))
        got = _plain(tokens)
        before, after = expect.split("{}")
        assert got.startswith(before) and got.endswith(after), (context, text, escaped, got)
        inner = got[len(before) : len(got) - len(after)]
        # Some contexts trim white space at the ends of their text, some keep it.
        assert inner.strip() == shown.strip(), (context, text, escaped, got)
        kinds = {t.type for t in tokens}
        assert not kinds & {
            "html_block",
            "fence",
            "code_block",
            "blockquote_open",
            "hr",
            "ordered_list_open",
        }, (context, text, kinds)


@pytest.mark.parametrize("text", MD_PAYLOADS)
def test_markdown_escape_shows_each_payload_as_text(text):
    _assert_literal(text)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    st.lists(
        st.characters(codec="utf-8")
        | st.sampled_from(
            list("\\`*_[]()<>#|~$!&-+=.:;'\" \t\n\r1") + ["```", "~~~", "    ", "&#65;", "<a>"]
        ),
        max_size=30,
    ).map("".join)
)
@example("1. x")
@example(" 1. x")
@example("_ _")
@example("\x1f")
@example("\t x \t")
def test_markdown_escape_shows_any_text_as_text(text):
    assume(_shown(text).strip())  # "- " or "****" with nothing inside is the template's
    _assert_literal(text)


# ---------------------------------------------------------------------------------------------
# Whole reports: a payload in each field changes no structure of the Markdown or the ADR


def _profile(slots: list[str]) -> dict:
    return {
        "name": slots[0],
        "description": slots[1],
        "task": {"modality": "text"},
        "data": {"paired_examples": 2_000_000},
        "latency": {"budget_ms": 500},
        "regulation": {"criticality": "regulated", "regimes": ["gdpr_art22", slots[2]]},
    }


def _pack(folder: Path, text: str) -> Path:
    """A pack extending the default one with `text` in each kind of field a report shows."""
    folder.mkdir()
    docs = {
        "pack.yaml": {
            "name": f"pack {text}",
            "version": f"1.0 {text}",
            "extends": "default",
            "description": text,
        },
        "rules.yaml": {
            "rules": [
                {
                    "id": "payload-rule",
                    "when": {"field": "data.paired_examples", "ge": 0},
                    "effect": {"advice": "payload-advice", "add": {"hybrid": 0.0}},
                    "rationale": f"Rule {text}",
                    "evidence": ["payload-evidence"],
                }
            ]
        },
        "advice.yaml": {
            "advice": [
                {
                    "id": "payload-advice",
                    "title": f"Advice {text}",
                    "text": f"Advice {text}",
                    "applies_to": ["end_to_end", "modular", "hybrid"],
                    "steps": [f"Step {text}"],
                    "monitoring": [
                        {
                            "metric": f"metric {text}",
                            "kind": "performance",
                            "threshold": f"threshold {text}",
                        }
                    ],
                    "evidence": ["payload-evidence"],
                }
            ]
        },
        "evidence.yaml": {
            "evidence": [
                {
                    "id": "payload-evidence",
                    "claim": f"claim {text}",
                    "figure": f"figure {text}",
                    "source": "payload-source",
                    "kind": "reported",
                }
            ]
        },
        "sources.yaml": {
            "sources": [
                {
                    "id": "payload-source",
                    "title": f"Source {text}",
                    "original_title": text,
                    "kind": "article",
                    "publisher": f"publisher {text}",
                    "url": "https://pack-source.example/",
                }
            ]
        },
        "risks.yaml": {
            "risks": [
                {
                    "id": "payload-risk",
                    "area": "quality",
                    "title": f"Risk {text}",
                    "text": f"risk {text}",
                    "mitigation": f"mitigation {text}",
                    "applies_to": ["end_to_end", "modular", "hybrid"],
                    "evidence": ["payload-evidence"],
                }
            ]
        },
        "dimensions.yaml": {
            "dimensions": {
                "data": {"label": f"Data {text}"},
                "latency": {"label": f"Latency {text}"},
                "regulation": {"label": f"Regulation {text}"},
            }
        },
    }
    for name, doc in docs.items():
        (folder / name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return folder


def _shape(text: str) -> list[tuple]:
    """The report's structure: every block token, and the kinds of each inline's children
    (runs of text merged), without the text itself."""
    shape: list[tuple] = []
    if text.startswith("---\n"):  # the ADR's YAML front matter is YAML, checked as such below
        text = text.split("\n---\n", 1)[1]
    for t in MD.parse(text):
        if t.type == "inline":
            kinds: list[str] = []
            for c in t.children:
                if not (c.type == "text" and kinds and kinds[-1] == "text"):
                    kinds.append(c.type)
            shape.append(("inline", tuple(kinds)))
        elif t.type in ("fence", "code_block"):
            shape.append((t.type, t.info))
        else:
            shape.append((t.type, t.tag, t.nesting))
    return shape


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    from advisor import load_rulepack

    base = tmp_path_factory.mktemp("packs")
    every = " ".join(p for p in MD_PAYLOADS)
    return {
        "plain": load_rulepack(_pack(base / "plain", "plain")),
        "payload": load_rulepack(_pack(base / "payload", every)),
    }


@pytest.mark.parametrize("fmt", ["md", "adr"])
@pytest.mark.parametrize("i", range(0, len(MD_PAYLOADS), 3))
def test_payloads_change_no_markdown_structure(fmt, i, packs):
    from advisor import recommend, render

    slots = [MD_PAYLOADS[(i + k) % len(MD_PAYLOADS)] for k in range(3)]
    plain = render(recommend(_profile(["plain"] * 3), rulepack=packs["plain"], explain=False), fmt)
    text = render(recommend(_profile(slots), rulepack=packs["plain"], explain=False), fmt)
    assert _shape(text) == _shape(plain)
    assert not UNPRINTABLE.search(text)
    rendered = _plain(MD.parse(text))
    for slot in slots[:2]:  # the name and the description (a regime is normalised first)
        assert _shown(slot).strip() in rendered, slot


@pytest.mark.parametrize("fmt", ["md", "adr"])
def test_rule_pack_text_changes_no_markdown_structure(fmt, packs):
    from advisor import recommend, render

    profile = _profile(["plain"] * 3)
    plain = render(recommend(profile, rulepack=packs["plain"], explain=True), fmt)
    text = render(recommend(profile, rulepack=packs["payload"], explain=True), fmt)
    assert _shape(text) == _shape(plain)
    assert not UNPRINTABLE.search(text)


def test_adr_front_matter_is_yaml_whatever_the_pack_name(packs):
    from advisor import __version__, recommend, render

    text = render(
        recommend(_profile(["plain"] * 3), rulepack=packs["payload"], explain=False), "adr"
    )
    front = text.split("---\n")[1]
    meta = yaml.safe_load(front)
    assert set(meta) == {"status", "deciders", "consulted"}
    pack = packs["payload"]
    # It reads back as the Markdown-escaped line: ': ', '#' and quotes in the name break nothing.
    assert meta["consulted"] == markdown(
        f"advisor {__version__}, rule pack {pack.name} {pack.version}"
    )


# ---------------------------------------------------------------------------------------------
# Terminal: whatever is echoed is printable, one line per problem


ESC_KEY = "\x1b]0;owned\x07"
TERMINAL_PAYLOAD = "\x1b[2J\x1b]0;owned\x07 \u202eevil\u202c \x9b31m \x7f \x00 end"


def _assert_terminal_safe(text: str) -> None:
    assert not UNPRINTABLE.search(text), repr(text)
    assert "\t" not in text and "\r" not in text, repr(text)


def test_unknown_key_is_echoed_printable(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        json.dumps(
            {"name": "x", "data": {"paired_examples": 1}, "latency": {"budget_ms": 1}, ESC_KEY: 1}
        )
    )
    r = run_cli(["recommend", str(f)])
    assert r.exit_code == 2
    _assert_terminal_safe(r.stderr)
    line = next(x for x in r.stderr.splitlines() if "unknown field" in x)
    assert "\\x1b]0;owned\\x07: unknown field" in line


def test_a_newline_in_a_file_name_keeps_one_line_per_problem(tmp_path):
    bad = tmp_path / "two\nlines\x1b[31m.yaml"
    bad.write_text("name: x\n")
    r = run_cli(["recommend", str(bad)])
    assert r.exit_code == 2
    _assert_terminal_safe(r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), lines
    assert all("two\\nlines\\x1b[31m.yaml" in line for line in lines)
    r = run_cli(["recommend", str(tmp_path / "missing\nfile.yaml")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "missing\\nfile.yaml" in r.stderr


def test_usage_errors_are_echoed_printable():
    r = run_cli(["recommend", str(EXAMPLES[0]), f"--bogus{ESC_KEY}"])
    assert r.exit_code == 2 and "--bogus" in r.stderr
    _assert_terminal_safe(r.stderr)


def _payload_profile(path: Path, name: str) -> Path:
    path.write_text(
        json.dumps({**_profile([name, TERMINAL_PAYLOAD, TERMINAL_PAYLOAD])}), encoding="utf-8"
    )
    return path


def test_compare_text_output_is_printable(tmp_path):
    old = _payload_profile(tmp_path / "old.json", f"old {TERMINAL_PAYLOAD}")
    new = tmp_path / "new.json"
    doc = json.loads(old.read_text())
    doc.update(name=f"new {TERMINAL_PAYLOAD}", latency={"budget_ms": 20})
    new.write_text(json.dumps(doc))
    r = run_cli(["compare", str(old), str(new)])
    assert r.exit_code == 0, r.output
    _assert_terminal_safe(r.stdout)
    assert "advisor compare: old \\x1b[2J" in r.stdout
    out = tmp_path / "c.txt"
    r = run_cli(["compare", str(old), str(new), "-o", str(out)])
    assert r.exit_code == 0, r.output
    _assert_terminal_safe(r.stderr)
    _assert_terminal_safe(out.read_text())


def test_markdown_on_stdout_is_printable(tmp_path):
    f = _payload_profile(tmp_path / "p.json", TERMINAL_PAYLOAD)
    for fmt in ("md", "adr", "json"):
        r = run_cli(["recommend", str(f), "--format", fmt, "--no-explain"])
        assert r.exit_code == 0, r.output
        _assert_terminal_safe(r.stdout.replace("\t", " "))


def test_batch_summary_is_printable(tmp_path):
    src = tmp_path / "p.jsonl"
    rows = [
        {
            "name": TERMINAL_PAYLOAD,
            "data": {"paired_examples": 1000},
            "latency": {"budget_ms": 300},
        },
        {"name": "x", "data": {"paired_examples": TERMINAL_PAYLOAD}, "latency": {"budget_ms": 300}},
        {"name": "y", ESC_KEY: 1, "data": {"paired_examples": 1000}, "latency": {"budget_ms": 300}},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / f"out{ESC_KEY}.jsonl"
    r = run_cli(["batch", str(src), "-o", str(out)])
    assert r.exit_code == 2, r.output
    _assert_terminal_safe(r.stderr)
    assert "\\x1b]0;owned\\x07" in r.stderr
    assert len(out.read_text().splitlines()) == 3


def test_questionnaire_echo_is_printable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = _payload_profile(tmp_path / "prefill.json", TERMINAL_PAYLOAD)
    r = run_cli(
        ["ask", "--answers", str(answers), "--defaults", "-o", "r.md"],
        input="\n" * 40,
        env={"ADVISOR_ASK_INTERACTIVE": "1"},
    )
    assert r.exit_code == 0, r.output
    _assert_terminal_safe(r.output)
    assert "\\x1b[2J" in r.stdout


def test_rules_check_is_printable(tmp_path):
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "pack.yaml").write_text(yaml.safe_dump({"extends": "default", ESC_KEY: 1}))
    r = run_cli(["rules", "check", str(folder)])
    assert r.exit_code == 2
    _assert_terminal_safe(r.output)


# ---------------------------------------------------------------------------------------------
# The escapes themselves


@pytest.mark.parametrize(
    "ch",
    [
        "\x00",
        "\x07",
        "\t",
        "\n",
        "\r",
        "\x1b",
        "\x7f",
        "\x85",
        "\x9b",
        "\u2028",
        "\u2029",
        "\u202e",
        "\u2066",
        "\u200f",
        "\U000e0041",
        "\ud800",
    ],
)
def test_printable_shows_every_terminal_control_as_an_escape(ch):
    s = printable(f"a{ch}b")
    assert s.startswith("a\\") and s.endswith("b") and not UNPRINTABLE.search(s)
    s.encode("utf-8")  # a lone surrogate could not be written to a terminal at all
    assert printable("a\nb", keep="\n") == "a\nb"


def test_printable_keeps_ordinary_text():
    text = "Café 中文 😀 👩‍💻 naïve — “quotes” \\ back"
    assert printable(text) == text


@pytest.mark.parametrize(
    "word",
    [
        "plain",
        "with space",
        "it's",
        "new\nline",
        "tab\there",
        "esc\x1b[0m",
        "quote' and \\ back\nslash",
        "é\u202e",
    ],
)
def test_shell_quote_reads_back_in_bash(word, tmp_path):
    import shutil
    import subprocess

    quoted = shell_quote(word)
    assert "\n" not in quoted and not UNPRINTABLE.search(quoted)
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to read the quoting back")
    got = subprocess.run([bash, "-c", f"printf %s {quoted}"], capture_output=True, check=True)
    assert got.stdout.decode("utf-8", "surrogateescape") == word


def test_probe_table_and_progress_are_printable(tmp_path):
    import numpy as np

    rng = np.random.default_rng(3)
    lines = [f"a,b,colour{ESC_KEY},price\u202e"]
    for _ in range(120):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "blue"])
        lines.append(f"{a:.3f},{b:.3f},{colour},{2 * a - b + (colour == 'red'):.3f}")
    f = tmp_path / f"data{ESC_KEY}.csv"
    f.write_text("\n".join(lines) + "\n")
    r = run_cli(
        [
            "probe",
            str(f),
            "--target",
            "price\u202e",
            "-o",
            str(tmp_path / "p.json"),
            "--repeats",
            "2",
            "--points",
            "30",
        ]
    )
    assert r.exit_code == 0, r.output
    _assert_terminal_safe(r.output)
    assert "colour\\x1b]0;owned\\x07" in r.output


def test_reports_are_printable_even_after_an_older_build_filled_the_template_cache(tmp_path):
    """Jinja compiles `finalize` into a template's code. A cache entry left by an older build
    (the same template text, no finalize) must not be served: the report still escapes."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TMPDIR=str(tmp_path))
    # The older build: this environment without finalize, cached with Jinja's own keys.
    older = (
        "import jinja2\n"
        "import importlib\n"
        "r = importlib.import_module('advisor._render')\n"
        "init = jinja2.Environment.__init__\n"
        "def older(self, *a, **k):\n"
        "    k.pop('finalize', None)\n"
        "    k['bytecode_cache'] = jinja2.FileSystemBytecodeCache()\n"
        "    init(self, *a, **k)\n"
        "jinja2.Environment.__init__ = older\n"
        "r.environment().get_template('report.html.j2')\n"
    )
    subprocess.run([sys.executable, "-c", older], env=env, check=True)
    assert list(tmp_path.glob("_jinja2-cache-*/*.cache"))
    profile = _payload_profile(tmp_path / "p.json", TERMINAL_PAYLOAD)
    code = (
        "import sys; from advisor import load_requirements, recommend, render; "
        f"a = recommend(load_requirements({str(profile)!r}), explain=False); "
        "sys.stdout.write(render(a, format='html'))"
    )
    for _ in range(2):  # cold for this build, then warm
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, check=True
        ).stdout.decode()
        assert "\\x1b[2J" in out and not UNPRINTABLE.search(out)


# ---------------------------------------------------------------------------------------------
# advisor ask: the answers file reads back whatever the paths hold

ODD_NAMES = ["rep\nort", "tab\tand\x1b[31m", "quote ' and $(echo x)", "bidi\u202eevil"]


def _bash_words(command: str) -> list[str]:
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to read the command back")
    out = subprocess.run(
        [bash, "-c", f"printf '%s\\0' {command}"], capture_output=True, check=True
    ).stdout
    return out.decode("utf-8", "surrogateescape").split("\0")[:-1]


@pytest.mark.parametrize("odd", ODD_NAMES)
def test_answers_file_reads_back_with_odd_characters_in_the_paths(odd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers, report = f"ans {odd}.yaml", f"rep {odd}.json"
    sets = [
        "--set",
        "name=Odd paths",
        "--set",
        "data.paired_examples=20k",
        "--set",
        "latency.budget_ms=2s",
        "--set",
        "task.modality=text",
    ]
    r = run_cli(
        ["ask", "--answers", answers, "-o", report, "--defaults", *sets],
        env={"ADVISOR_ASK_INTERACTIVE": "0"},
    )
    assert r.exit_code == 0, r.output
    _assert_terminal_safe(r.output)
    text = (tmp_path / answers).read_text()
    header = text.split("schema_version: 1")[0].splitlines()
    assert header and all(line.startswith("#") for line in header), header
    again = run_cli(["recommend", answers, "--format", "json"])
    assert again.exit_code == 0, again.output
    assert again.stdout == (tmp_path / report).read_text()
    # The commands in the header paste back into a shell as the same paths.
    command = next(line for line in header if "--answers" in line).lstrip("# ")
    assert _bash_words(command) == ["advisor", "ask", "--answers", answers, "-o", report]


def test_draft_resume_command_is_one_line_and_reads_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = "ans\nwers.yaml"
    # Two answers, then the input ends: a draft is saved (exit 130).
    r = run_cli(
        ["ask", "--answers", answers, "-o", "r\x1b.html"],
        input="Drafty\n\n",
        env={"ADVISOR_ASK_INTERACTIVE": "1"},
    )
    assert r.exit_code == 130, r.output
    _assert_terminal_safe(r.output)
    resume = next(line for line in r.stderr.splitlines() if line.startswith("Resume with: "))
    draft = "ans\nwers.draft.yaml"
    assert _bash_words(resume.removeprefix("Resume with: ")) == [
        "advisor",
        "ask",
        "--answers",
        draft,
        "-o",
        "r\x1b.html",
    ]
    doc = yaml.safe_load((tmp_path / draft).read_text())
    assert doc["name"] == "Drafty"
