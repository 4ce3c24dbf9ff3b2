"""Hostile and broken input (issue 8): the bad-input corpus under tests/data, files far over the
size limit, formula injection in batch CSV, and payloads in every free-text field of every
output format.

Each corpus file and rule pack runs through the real CLI (`advisor._cli.main`, exit codes mapped as
for a user): exit 2, nothing on stdout, no traceback, and one `error: <file>: <field or line>:
<problem>` line per problem. tests/data/*/EXPECTED.yaml give the expected lines.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import ROOT, Result
from conftest import run_cli as run

from advisor import load_requirements, load_rulepack
from advisor._errors import AdvisorError, InputError

DATA = Path(__file__).resolve().parent / "data"
BAD_REQUIREMENTS = DATA / "bad_requirements"
BAD_RULEPACKS = DATA / "bad_rulepacks"
FORMULAS = DATA / "bad_batch" / "formula_injection.csv"
REQ_EXPECTED: dict[str, str] = yaml.safe_load((BAD_REQUIREMENTS / "EXPECTED.yaml").read_text())
PACK_EXPECTED: dict[str, dict[str, str]] = yaml.safe_load(
    (BAD_RULEPACKS / "EXPECTED.yaml").read_text()
)
GOOD = "name: t\ndata: {paired_examples: 1000}\nlatency: {budget_ms: 300}\n"


def assert_refused(r: Result, shown: str, expected: str) -> None:
    """Exit 2, nothing on stdout, no traceback, every line an error naming `shown`, the first one
    `error: <shown>: <expected>...`."""
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert lines, "no message"
    assert all(line.startswith(f"error: {shown}: ") for line in lines), lines
    assert lines[0].startswith(f"error: {shown}: {expected}"), lines[0]


# ---------------------------------------------------------------------------------------------
# The corpus


def test_corpus_is_complete():
    files = {p.name for p in BAD_REQUIREMENTS.iterdir()} - {"EXPECTED.yaml"}
    assert files == set(REQ_EXPECTED), files ^ set(REQ_EXPECTED)
    assert len(files) >= 40
    folders = {p.name for p in BAD_RULEPACKS.iterdir() if p.is_dir()}
    assert folders == set(PACK_EXPECTED), folders ^ set(PACK_EXPECTED)
    assert len(folders) >= 15


@pytest.mark.parametrize("name", sorted(REQ_EXPECTED))
def test_bad_requirements_file(name):
    path = BAD_REQUIREMENTS / name
    expected = REQ_EXPECTED[name]
    assert_refused(run(["recommend", str(path), "--no-explain"]), str(path), expected)
    # The same bytes on stdin, and through the Python API: the same refusal, no other exception.
    data = path.read_bytes()
    assert_refused(run(["recommend", "-", "--no-explain"], input=data), "<stdin>", expected)
    with pytest.raises(InputError) as info:
        load_requirements(path)
    assert info.value.problems[0].startswith(f"{path}: {expected}")


@pytest.mark.parametrize("name", sorted(PACK_EXPECTED))
def test_bad_rule_pack(name, tmp_path):
    folder = BAD_RULEPACKS / name
    spec = PACK_EXPECTED[name]
    shown = str(folder) if spec["file"] == "." else str(folder / spec["file"])
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    r = run(["recommend", str(good), "--rules", str(folder), "--no-explain"])
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and "Traceback" not in r.stderr, r.output
    lines = r.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    assert any(line.startswith(f"error: {shown}: {spec['message']}") for line in lines), lines
    with pytest.raises(AdvisorError):
        load_rulepack(folder)


@pytest.mark.parametrize(
    "name",
    ["billion_laughs.yaml", "python_object_apply.yaml", "binary_garbage.yaml", "deep_nesting.json"],
)
def test_hostile_files_in_a_real_process(name, tmp_path):
    """The installed console entry point, in its own process: fast, exit 2, no traceback."""
    marker = Path("/tmp/advisor-pwned")  # what python_object_apply.yaml would create if run
    marker.unlink(missing_ok=True)
    path = BAD_REQUIREMENTS / name
    start = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "advisor", "recommend", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert p.returncode == 2, p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr.startswith(f"error: {path}: {REQ_EXPECTED[name]}")
    assert time.monotonic() - start < 20
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Files far over the 1 MB limit: refused fast, without reading them.


def _big_file(path: Path, size: int = 50_000_000) -> Path:
    with path.open("wb") as fh:
        fh.write(GOOD.encode() + b"description: ")
        fh.truncate(size)  # sparse: 50 MB without writing 50 MB
    return path


def test_50_mb_file_refused_without_reading_it(tmp_path, monkeypatch):
    big = _big_file(tmp_path / "big.yaml")
    read = []
    real_open = Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        fh = real_open(self, mode, *args, **kwargs)
        if self == big:
            real_read = fh.read

            def read_some(n=-1):
                data = real_read(n)
                read.append(len(data))
                return data

            fh.read = read_some
        return fh

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read_bytes({self})"))
    start = time.monotonic()
    r = run(["recommend", str(big), "--no-explain"])
    assert time.monotonic() - start < 2
    assert_refused(r, str(big), "file is larger than 1 MB")
    assert sum(read) <= 1_000_001


def test_50_mb_on_stdin_refused_fast(tmp_path):
    big = _big_file(tmp_path / "big.yaml")
    start = time.monotonic()
    with big.open("rb") as fh:
        p = subprocess.run(
            [sys.executable, "-m", "advisor", "recommend", "-"],
            stdin=fh,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # The process stopped after 1 MB: the rest of the file was never consumed.
        assert fh.tell() <= 1_000_001 + 1_000_000  # a pipe buffer of slack at most
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("error: <stdin>: input is larger than 1 MB")
    assert time.monotonic() - start < 20


def test_a_file_whose_size_lies_is_still_limited():
    # /dev/zero reports size 0 and never ends: reading stops after the limit.
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this system")
    start = time.monotonic()
    assert_refused(
        run(["recommend", "/dev/zero", "--no-explain"]), "/dev/zero", "file is larger than 1 MB"
    )
    assert time.monotonic() - start < 2


def test_a_folder_is_not_a_requirements_file(tmp_path):
    assert_refused(run(["recommend", str(tmp_path)]), str(tmp_path), "is a folder")


# ---------------------------------------------------------------------------------------------
# Batch CSV with formula injection: outputs that may reach a spreadsheet neutralise it.

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def test_formula_injection_in_batch_csv(tmp_path):
    pytest.importorskip("advisor._batch", reason="advisor batch is not available")
    out_csv, out_jsonl, report = tmp_path / "out.csv", tmp_path / "out.jsonl", tmp_path / "p.html"
    r = run(["batch", str(FORMULAS), "-o", str(out_csv), "--report", str(report)])
    assert r.exit_code == 2, r.output  # two rows are invalid; every other row is assessed
    assert "Traceback" not in r.output
    with out_csv.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    with FORMULAS.open(newline="", encoding="utf-8") as fh:
        source = list(csv.DictReader(fh))
    assert len(table) == len(source)
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_START), (column, cell)
    by_id = {row["id"].lstrip("'"): row for row in table}
    assert by_id["bad-number"]["status"] == "error"
    assert by_id["bad-number"]["errors"].startswith("data.paired_examples: ")
    assert by_id["bad-enum"]["errors"].startswith("task.modality: ")
    assert by_id["=1+1"]["name"] == "'=cmd|' /C calc'!A0"
    # JSON lines carry the data exactly (no spreadsheet reads them as formulas).
    r = run(["batch", str(FORMULAS), "-o", str(out_jsonl)])
    names = [json.loads(line).get("name") for line in out_jsonl.read_text().splitlines()]
    assert "=cmd|' /C calc'!A0" in names
    assert_no_injection(report.read_text(encoding="utf-8"), baseline=None)


# ---------------------------------------------------------------------------------------------
# XSS and template injection: payloads in every free-text field show as text in every format.

PAYLOADS = [
    "<script>alert('name')</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(2)>",
    '<a href="javascript:alert(3)">click</a>',
    "</textarea></title><iframe src=//evil.example>",
    "{{ 7*7 }}{% if 1 %}jinja{% endif %}${7*7}",
    "[md link](javascript:alert(4)) ![img](http://evil.example/x.png) <!-- c -->",
    "&lt;b&gt; &amp; &#x3C;script&#x3E;",
    "\u202eevil\u202c | table | # heading * _ ` \\",
    "line\r- list item\r# heading\u2028=====\x85> quote",
]
EVERYTHING = " ".join(PAYLOADS)
DANGEROUS = {
    "script",
    "iframe",
    "object",
    "embed",
    "form",
    "input",
    "textarea",
    "base",
    "frame",
    "frameset",
    "applet",
    "button",
    "select",
    "video",
    "audio",
}


def assert_no_injection(html: str, baseline: str | None) -> BeautifulSoup:
    """Parse `html` and find no element or attribute a payload could have injected."""
    soup = BeautifulSoup(html, "html5lib")
    tags = [el for el in soup.find_all(True)]
    names = {el.name for el in tags}
    assert not names & DANGEROUS, names & DANGEROUS
    for el in tags:
        for attr, value in el.attrs.items():
            assert not attr.lower().startswith("on"), (el.name, attr)
            values = value if isinstance(value, list) else [value]
            for v in values:
                v = re.sub(r"\s", "", str(v)).lower()
                assert not v.startswith(("javascript:", "vbscript:", "data:text/html")), (el, attr)
                assert "evil.example" not in v, (el.name, attr, v)
    if baseline is not None:
        allowed = {el.name for el in BeautifulSoup(baseline, "html5lib").find_all(True)}
        assert names <= allowed, names - allowed
        assert len(soup.find_all("img")) == 0 or "img" in allowed
    return soup


def assert_markdown_safe(text: str) -> None:
    """No payload markup survives unescaped in Markdown (raw HTML, links, images); fenced code
    blocks (where Markdown is not read) open and close on lines of their own."""
    for raw in ("<script", "<img", "<svg", "<a href", "<iframe", "</textarea", "<!--"):
        assert raw not in text, raw
    fences = [line for line in text.splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0 and all(f.strip() in ("```", "```json") for f in fences), fences
    for ending in ("\r", "\x85", "\u2028", "\u2029"):  # Markdown line endings from payloads
        assert ending not in text, repr(ending)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    assert not re.search(r"(?<!\\)\]\((?:javascript|http://evil)", prose)
    assert "{{ 7*7 }}" in text.replace("\\", "")  # shown, never evaluated


def _evil_pack(folder: Path) -> Path:
    """A pack extending the default one, with a payload in each kind of text field it shows."""
    folder.mkdir()
    p = EVERYTHING
    docs = {
        "pack.yaml": {
            "name": "<script>alert('pack')</script>",
            "version": "1.0<b>x</b>",
            "extends": "default",
            "description": p,
        },
        "rules.yaml": {
            "rules": [
                {
                    "id": "evil-rule",
                    "when": {"field": "data.paired_examples", "ge": 0},
                    "effect": {"advice": "evil-advice", "add": {"hybrid": 0.0}},
                    "rationale": p,
                    "evidence": ["evil-evidence"],
                }
            ]
        },
        "advice.yaml": {
            "advice": [
                {
                    "id": "evil-advice",
                    "title": p,
                    "text": p,
                    "applies_to": ["end_to_end", "modular", "hybrid"],
                    "steps": [p],
                    "monitoring": [{"metric": p, "kind": "performance", "threshold": p}],
                    "evidence": ["evil-evidence"],
                }
            ]
        },
        "evidence.yaml": {
            "evidence": [
                {
                    "id": "evil-evidence",
                    "claim": p,
                    "figure": p,
                    "source": "evil-source",
                    "kind": "reported",
                    "domain": p,
                    "modalities": ["speech"],
                }
            ]
        },
        # A bibliography entry whose every text is a payload (its URL must be http(s): the
        # schema refuses javascript: and anything with quotes or angle brackets).
        "sources.yaml": {
            "sources": [
                {
                    "id": "evil-source",
                    "title": "javascript:alert(5)",
                    "original_title": p,
                    "kind": "article",
                    "publisher": p,
                    "url": "https://pack-source.example/?q=1&x=%3Cscript%3E",
                }
            ]
        },
        "regimes.yaml": {
            "regimes": [
                {
                    "id": "evil_regime",
                    "title": p,
                    "explainability_floor": "none",
                    "summary": p,
                    "source": "evil-evidence",
                }
            ]
        },
        "patterns.yaml": {
            "patterns": [
                {
                    "id": "evil-pattern",
                    "title": p,
                    "summary": p,
                    "when": {"field": "data.paired_examples", "ge": 0},
                    "interpretable_share": 0.5,
                    "traceable": True,
                    "stages": [{"name": p, "kind": "learned"}, {"name": p, "kind": "rule_based"}],
                    "evidence": ["evil-evidence"],
                }
            ]
        },
        "risks.yaml": {
            "risks": [
                {
                    "id": "evil-risk",
                    "area": "quality",
                    "title": PAYLOADS[0],
                    "text": p,
                    "mitigation": p,
                    "applies_to": ["end_to_end", "modular", "hybrid"],
                    "evidence": ["evil-evidence"],
                }
            ]
        },
        "dimensions.yaml": {
            "dimensions": {
                "data": {"label": PAYLOADS[0], "rationale": p},
                "latency": {"label": PAYLOADS[1]},
                "regulation": {"label": PAYLOADS[2]},
            }
        },
    }
    for name, doc in docs.items():
        (folder / name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return folder


def _evil_profile(path: Path, name: str = PAYLOADS[0]) -> Path:
    doc = {
        "name": name,
        "description": EVERYTHING,
        "task": {"modality": "text"},
        "data": {"paired_examples": 2_000_000},
        "latency": {"budget_ms": 500},
        "regulation": {
            "criticality": "regulated",
            "regimes": [
                "evil_regime",
                "<script>alert(7)</script>",
                "<img src=x onerror=alert(8)>",
                "gdpr_art22",
            ],
        },
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    base = tmp_path_factory.mktemp("evil")
    pack = _evil_pack(base / "pack")
    assert run(["rules", "check", str(pack)]).exit_code in (0, 2)  # loads; scenarios may differ
    load_rulepack(pack)  # valid
    benign = base / "benign.json"
    benign.write_text(
        json.dumps(
            {
                "name": "Benign",
                "description": "Plain text.",
                "task": {"modality": "text"},
                "data": {"paired_examples": 2_000_000},
                "latency": {"budget_ms": 500},
                "regulation": {
                    "criticality": "regulated",
                    "regimes": ["evil_regime", "made_up", "gdpr_art22"],
                },
            }
        )
    )
    return {"pack": pack, "profile": _evil_profile(base / "evil.json"), "benign": benign}


def _report(evil, fmt: str, profile: str = "profile", explain: bool = False) -> str:
    args = ["recommend", str(evil[profile]), "--rules", str(evil["pack"]), "--format", fmt]
    r = run(args if explain else [*args, "--no-explain"])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_payloads_show_as_text_in_the_html_report(evil):
    baseline = _report(evil, "html", "benign")
    html = _report(evil, "html", explain=True)
    soup = assert_no_injection(html, baseline)
    text = soup.get_text()
    # (unknown regime names are normalised: lower case, spaces to underscores)
    for payload in (
        PAYLOADS[0],
        "<img_src=x_onerror=alert(8)>",
        "{{ 7*7 }}",
        "javascript:alert(5)",
    ):
        assert payload in text, payload
    assert "<script>alert('pack')</script>" in text


@pytest.mark.parametrize("fmt", ["md", "adr"])
def test_payloads_show_as_text_in_markdown_and_adr(evil, fmt):
    if fmt == "adr" and "adr" not in _formats():
        pytest.skip("the ADR format is not available")
    assert_markdown_safe(_report(evil, fmt))


def test_payloads_survive_exactly_in_json(evil):
    data = json.loads(_report(evil, "json"))
    assert data["name"] == PAYLOADS[0]
    assert data["description"] == EVERYTHING
    assert data["rulepack"]["name"] == "<script>alert('pack')</script>"


def test_payloads_show_as_text_in_the_portfolio_and_compare_reports(evil, tmp_path):
    pytest.importorskip("advisor._batch", reason="advisor batch is not available")
    rows = [
        {
            "id": f"<b>{i}</b>",
            "name": p,
            "data.paired_examples": "1000",
            "latency.budget_ms": "300",
            "regulation.regimes": "<script>x</script>;ecoa",
        }
        for i, p in enumerate(PAYLOADS)
    ]
    rows.append(
        {
            "id": "<i>bad</i>",
            "name": PAYLOADS[1],
            "data.paired_examples": PAYLOADS[0],
            "latency.budget_ms": "300",
            "regulation.regimes": "",
        }
    )
    src = tmp_path / "p.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    report = tmp_path / "portfolio.html"
    r = run(
        [
            "batch",
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--report",
            str(report),
            "--rules",
            str(evil["pack"]),
        ]
    )
    assert r.exit_code == 2, r.output  # the last row is invalid
    soup = assert_no_injection(report.read_text(encoding="utf-8"), baseline=None)
    assert PAYLOADS[0] in soup.get_text()
    if "compare" not in _commands():
        pytest.skip("advisor compare is not available")
    out = tmp_path / "compare.html"
    other = _evil_profile(tmp_path / "other.json", name=PAYLOADS[3])
    r = run(
        ["compare", str(evil["profile"]), str(other), "--rules", str(evil["pack"]), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    soup = assert_no_injection(out.read_text(encoding="utf-8"), baseline=None)
    assert PAYLOADS[3] in soup.get_text()


def _formats() -> list[str]:
    from advisor._cli.main import recommend

    fmt = next(p for p in recommend.params if p.name == "fmt")
    return list(fmt.type.choices)  # type: ignore[attr-defined]


def _commands() -> list[str]:
    from advisor._cli.main import cli

    return list(cli.commands)


# ---------------------------------------------------------------------------------------------
# Loader fixes found by this suite (each pinned here).


def test_json_numbers_keep_json_meaning():
    # YAML 1.1 reads 1e-05 and 2E6 as strings; a JSON file means numbers.
    from advisor._loading import parse_text

    assert parse_text('{"a": 1e-05, "b": 2E6, "c": -0.0}', "x.json") == {
        "a": 1e-05,
        "b": 2e6,
        "c": -0.0,
    }
    assert parse_text("a: 2024-05-01\n", "x.yaml") == {"a": "2024-05-01"}  # dates stay text
    r = run(
        ["recommend", "-", "--no-explain"],
        input='{"name": 1e5, "data": {"paired_examples": 10}, "latency": {"budget_ms": 5}}',
    )
    assert_refused(r, "<stdin>", "name: Input should be a valid string")


def test_set_tag_is_refused_so_output_stays_deterministic():
    # !!set iterates in hash order: the echoed input changed with PYTHONHASHSEED.
    r = run(["recommend", str(BAD_REQUIREMENTS / "set_tag.yaml"), "--no-explain"])
    assert r.exit_code == 2


def test_numbers_refuse_true_and_false():
    doc = "name: t\ndata: {paired_examples: {low: true, high: 5}}\nlatency: {budget_ms: false}\n"
    r = run(["recommend", "-", "--no-explain"], input=doc)
    assert r.exit_code == 2
    assert "error: <stdin>: data.paired_examples.low: must be a number, not true" in r.stderr
    assert "error: <stdin>: latency.budget_ms: must be a number, not false" in r.stderr


def test_a_range_error_is_one_line():
    doc = "name: t\ndata: {paired_examples: 1000}\nlatency: {budget_ms: {low: 9, high: 1}}\n"
    r = run(["recommend", "-", "--no-explain"], input=doc)
    assert r.stderr.splitlines() == [
        "error: <stdin>: latency.budget_ms: low must not exceed high (got low=9, high=1)"
    ]


def test_stdout_and_stderr_are_bytes_safe():
    # A bidi override in an error line reaches stderr shown as an escape, never obeyed.
    doc = GOOD.replace("name: t", "name: t\nextra\u202e: 1")
    r = run(["recommend", "-", "--no-explain"], input=doc.encode("utf-8"))
    assert_refused(r, "<stdin>", "extra\\u202e: unknown field")
    assert io.StringIO(r.stderr).read()  # decodes
    assert os.fsencode(r.stderr)


# ---------------------------------------------------------------------------------------------
# The hostile corpus (issue 15): tests/data/hostile/, one file per case, CASES.yaml says how each
# runs and what it must say. Exit 2 (never 1, never a traceback), one line naming the file and the
# field; in a batch, the bad row becomes that row's problem record and every other row is assessed.

HOSTILE = DATA / "hostile"
CASES: dict[str, dict[str, object]] = yaml.safe_load((HOSTILE / "CASES.yaml").read_text("utf-8"))
BAD_OUTPUT = ("Traceback", "internal error")


def test_hostile_corpus_is_complete():
    files = {p.name for p in HOSTILE.iterdir()} - {"CASES.yaml"}
    assert files == set(CASES), files ^ set(CASES)
    kinds = {str(spec["run"]) for spec in CASES.values()}
    assert kinds == {"recommend", "pack", "batch", "compare", "probe", "args"}
    assert len(files) >= 100
    readme = (ROOT / "README.md").read_text("utf-8")
    assert f"`tests/data/hostile/`, {len(files)} files" in readme  # the count README gives


def _clean_refusal(r: Result) -> list[str]:
    assert r.exit_code == 2, r.output
    assert not any(bad in r.output for bad in BAD_OUTPUT), r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert lines, r.output
    return lines


def _assessment_json(tmp_path: Path) -> dict[str, object]:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    r = run(["recommend", str(good), "--no-explain", "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _merge_patch(doc: object, patch: object) -> object:
    # RFC 7396: mappings merge key by key, null deletes, anything else replaces.
    if not isinstance(patch, dict):
        return patch
    out = dict(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(name, tmp_path):
    spec = CASES[name]
    path = HOSTILE / name
    expect = str(spec.get("expect", ""))
    kind = spec["run"]
    if kind == "recommend":
        if spec.get("accept"):
            for fmt in ("json", "html", "md", "adr"):
                r = run(["recommend", str(path), "--no-explain", "--format", fmt])
                assert r.exit_code == 0, (fmt, r.output)
                assert r.stdout and not any(bad in r.output for bad in BAD_OUTPUT)
            return
        lines = _clean_refusal(run(["recommend", str(path), "--no-explain", "--format", "html"]))
        assert lines[0].startswith(f"error: {path}: {expect}"), lines
        with pytest.raises(InputError) as info:
            load_requirements(path)
        assert info.value.details[0].source == str(path)
    elif kind == "pack":
        folder = tmp_path / name.removesuffix(".yaml")
        folder.mkdir()
        target = folder / "pack.yaml"
        target.write_bytes(path.read_bytes())
        good = tmp_path / "good.yaml"
        good.write_text(GOOD)
        lines = _clean_refusal(
            run(["recommend", str(good), "--rules", str(folder), "--no-explain"])
        )
        assert any(line.startswith(f"error: {target}: {expect}") for line in lines), lines
        r = run(["rules", "check", str(folder)])
        assert r.exit_code == 2 and not any(bad in r.output for bad in BAD_OUTPUT), r.output
        assert f"{target}: {expect}" in r.output, r.output
        with pytest.raises(AdvisorError):
            load_rulepack(folder)
    elif kind == "batch":
        out = tmp_path / "out.jsonl"
        r = run(["batch", str(path), "-o", str(out)])
        lines = _clean_refusal(r)
        row = int(spec["row"])  # type: ignore[call-overload]
        if row == 0:  # the file itself is refused
            assert lines[0].startswith(f"error: {path}: {expect}"), lines
            return
        assert lines[-1].startswith(f"error: {path}: 1 of "), lines
        records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert [rec["row"] for rec in records] == list(range(1, len(records) + 1))
        for rec in records:
            if rec["row"] == row:
                assert rec["status"] == "error", rec
                first = rec["errors"][0]
                assert f"{first['field']}: {first['message']}".startswith(expect), rec
            else:
                assert rec["status"] == "ok", rec
    elif kind == "compare":
        base = _assessment_json(tmp_path)
        (tmp_path / "old.json").write_text(json.dumps(base))
        patched = _merge_patch(base, json.loads(path.read_text("utf-8")))
        new = tmp_path / name.replace(".patch", "")
        new.write_text(json.dumps(patched))  # \ud800 escapes stay escapes
        lines = _clean_refusal(run(["compare", str(tmp_path / "old.json"), str(new)]))
        assert lines[0].startswith(f"error: {new}: {expect}"), lines
    elif kind == "probe":
        lines = _clean_refusal(
            run(["probe", str(path), "--target", "y", "-o", str(tmp_path / "probe.json")])
        )
        assert lines[0].startswith(f"error: {path}: {expect}"), lines
    else:
        good = tmp_path / "good.yaml"
        good.write_text(GOOD)
        good_csv = tmp_path / "good.csv"
        good_csv.write_text("name,data.paired_examples,latency.budget_ms\nA,1000,300\n")
        values = {"{tmp}": str(tmp_path), "{good}": str(good), "{good_csv}": str(good_csv)}

        def fill(text: str) -> str:
            for k, v in values.items():
                text = text.replace(k, v)
            return text

        argv = [fill(a) for a in json.loads(path.read_text("utf-8"))]
        lines = _clean_refusal(run(argv, input=""))
        assert lines[0].startswith(fill(expect)), lines


def test_hostile_requirement_cases_refused_by_the_api_too():
    # The same bytes as a mapping (the service's and recommend_many's way in): the same field.
    from advisor._api import parse_requirements

    for name, spec in sorted(CASES.items()):
        if spec["run"] != "recommend" or spec.get("accept") or not name.endswith(".json"):
            continue
        text = (HOSTILE / name).read_text("utf-8")
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            continue  # not a mapping the API could be given
        with pytest.raises(InputError) as info:
            parse_requirements(doc, "<mapping>")
        assert info.value.problems[0].startswith(f"<mapping>: {spec['expect']}"), (name, info)


# ---------------------------------------------------------------------------------------------
# Validation cost: linear, and the problems reported capped. (No timing here; the counts show the
# work done does not grow with the square of the input.)


def test_sixteen_thousand_unknown_keys_give_fifty_lines_and_a_count():
    doc = json.loads(GOOD_JSON)
    doc.update({f"unknown_{i}": i for i in range(16_000)})
    from advisor._api import parse_requirements
    from advisor._errors import MAX_PROBLEMS

    with pytest.raises(InputError) as info:
        parse_requirements(doc, "big.json")
    details = info.value.details
    assert len(details) == MAX_PROBLEMS + 1
    assert details[0] == details[0].__class__(
        "big.json", "unknown_0", details[0].message, ("unknown_0",)
    )
    assert details[-1].message == f"... and {16_000 - MAX_PROBLEMS} more problems (not listed)"
    r = run(["recommend", "-", "--no-explain"], input=json.dumps(doc))
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == MAX_PROBLEMS + 1


def test_validation_work_is_linear(monkeypatch):
    # Collapsing the union branches looks at each problem line a fixed number of times, however
    # many there are; 30,000 regimes are normalised through one set. (Times: bench/
    # bench_validation.py; tests assert no timings.)
    import advisor._loading as loading
    from advisor._api import parse_requirements

    looks = {"n": 0}
    real = loading._is_branch_noise

    def counting(msg):
        looks["n"] += 1
        return real(msg)

    monkeypatch.setattr(loading, "_is_branch_noise", counting)
    regimes = [f"r{i}" for i in range(30_000)]
    req = parse_requirements({**json.loads(GOOD_JSON), "regulation": {"regimes": regimes}}, "x")
    assert len(req.regulation.regimes) == 30_000
    for n in (1_000, 8_000):
        looks["n"] = 0
        with pytest.raises(InputError):
            parse_requirements({**json.loads(GOOD_JSON), **{f"k{i}": 1 for i in range(n)}}, "x")
        assert looks["n"] <= 2 * n


GOOD_JSON = '{"name": "t", "data": {"paired_examples": 1000}, "latency": {"budget_ms": 300}}'
