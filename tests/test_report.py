"""The reports as documents: HTML structure and safety, Markdown, ADR, precedents and compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT, profile

from advisor import render
from advisor._api import load_requirements, load_rulepack, recommend
from advisor._cli.main import cli
from advisor._compare import compare
from advisor._engine import assess
from advisor._loading import parse_text
from advisor._scoring import compile_pack

SECTIONS = (
    "decision",
    "matrix",
    "scores",
    "why",
    "what-if",
    "explainability",
    "architecture",
    "risks",
    "plan",
    "precedents",
    "audit",
)
XSS = "<script>alert(1)</script>"
XSS_DESC = '<img src=x onerror="alert(2)"> & <b>bold</b>'


@pytest.fixture(scope="module")
def assessments(pack):
    """Every example's assessment, keyed by the file's stem."""
    out = {}
    for ex in EXAMPLES:
        doc = parse_text(ex.read_bytes(), str(ex))
        out[ex.stem] = assess(load_requirements(ex), pack, given=doc)
    return out


@pytest.fixture(scope="module")
def pages(assessments):
    """Every example's HTML report and its parsed tree."""
    out = {}
    for k, a in assessments.items():
        html = render(a, "html")
        out[k] = (html, BeautifulSoup(html, "html5lib"))
    return out


@pytest.fixture(scope="module")
def hostile(pack):
    """An assessment whose user-typed text is hostile."""
    return recommend(profile(name=XSS, description=XSS_DESC), rulepack=pack)


# --- HTML: structure ------------------------------------------------------------------------------


def test_every_section_present_with_a_heading(pages):
    for name, (_, soup) in pages.items():
        for sid in SECTIONS:
            sec = soup.find("section", id=sid)
            assert sec is not None, (name, sid)
            h2 = sec.find("h2")
            assert h2 is not None and sec.get("aria-labelledby") == h2.get("id"), (name, sid)
        toc = [a["href"] for a in soup.select("nav a")]
        assert toc == [f"#{s}" for s in SECTIONS], name


def test_landmarks_and_heading_order(pages):
    for name, (_, soup) in pages.items():
        assert soup.find("html")["lang"] == "en"
        for landmark in ("header", "nav", "main", "footer"):
            assert soup.find(landmark), (name, landmark)
        assert len(soup.find_all("main")) == 1
        levels = [int(h.name[1]) for h in soup.find_all(re.compile(r"^h[1-6]$"))]
        assert levels[0] == 1 and levels.count(1) == 1, name
        for a, b in zip(levels, levels[1:], strict=False):
            assert b <= a + 1, f"{name}: heading h{b} follows h{a}"


def test_every_table_has_headers_and_a_caption(pages):
    for name, (_, soup) in pages.items():
        tables = soup.find_all("table")
        assert len(tables) >= 8, name
        for t in tables:
            assert t.find("caption") and t.caption.get_text(strip=True), name
            head = t.find("thead")
            assert head is not None and head.find_all("th"), (name, t.caption.get_text())
            for th in head.find_all("th"):
                assert th.get("scope") == "col", (name, t.caption.get_text())


def test_waterfall_has_one_bar_per_feature(assessments, pages):
    for name, (_, soup) in pages.items():
        a = assessments[name]
        svg = soup.select_one("#why svg.waterfall")
        bars = svg.select("rect.wf-bar")
        assert len(bars) == len(a.attributions) > 5, name
        assert [b["data-feature"] for b in bars] == [x.feature for x in a.attributions]
        # Signed values beside each bar: colour is not the only signal.
        texts = [t.get_text() for t in svg.find_all("text")]
        for x in a.attributions:
            sign = "+" if x.contribution >= 0 else "−"
            assert f"{sign}{abs(x.contribution):.3f}" in texts, (name, x.feature)


def test_every_chart_has_a_title_and_a_text_alternative(pages):
    for name, (_, soup) in pages.items():
        svgs = soup.find_all("svg")
        assert len(svgs) >= 7, name
        for svg in svgs:
            assert svg.get("role") == "img" and svg.get("aria-label"), name
            assert svg.find("title").get_text() == svg["aria-label"]
            assert len(svg.find("desc").get_text()) > 20


def test_dimension_grids_show_thresholds_position_and_push(assessments, pages):
    for name, (_, soup) in pages.items():
        a = assessments[name]
        for d in a.dimensions:
            svg = soup.select_one(f"#matrix article[aria-labelledby=h-dim-{d.name}] svg")
            text = " ".join(t.get_text() for t in svg.find_all("text"))
            assert ("this project" in text) or ("●" in text), (name, d.name)
            side = d.favours.replace("_", "-")
            push = "neutral" if d.favours == "neutral" else f"pushes towards {side}"
            assert push in text and f"{d.utility:+.2f}" in text, (name, d.name)
        lat = a.dimensions[1].thresholds
        # Where the pack's curve crosses the favour threshold (strong below 100 ms, weaker up
        # to this budget), and from where it argues for neither side (1 s).
        cp = compile_pack(load_rulepack())
        crossing = 10 ** np.interp(0.25, cp.curve_u[::-1], cp.curve_x[::-1])
        assert lat.favours_end_to_end_below_ms == pytest.approx(crossing, rel=1e-2)
        assert lat.tolerates_modular_from_ms == 1000
        assert "< 100 ms" in soup.select_one("#matrix").get_text()


def test_architecture_sketch_marks_kinds_by_label_and_pattern(assessments, pages):
    for name, (_, soup) in pages.items():
        a = assessments[name]
        svg = soup.select_one("#architecture svg.sketch")
        boxes = svg.select("rect.stage")
        labels = [t.get_text() for t in svg.select("text.kind")]
        from advisor._charts import sketch_stages

        stages = sketch_stages(a)
        assert len(labels) == len(stages) >= 3, name
        for label, s in zip(labels, stages, strict=True):
            assert label.endswith(s.kind.replace("_", "-").upper()), (name, label)
        for box in boxes:
            kind = [c for c in box["class"] if c.startswith("stage-")][0]
            want = {"stage-learned": "url(#pat-learned)", "stage-rule_based": "url(#pat-rule)"}
            assert box.get("fill") == want.get(kind), (name, kind)
        if a.hybrid_pattern:
            assert [s.name for s in stages] == [s.name for s in a.hybrid_pattern.stages]


def test_risks_show_their_source_figures(assessments, pages):
    for name, (_, soup) in pages.items():
        a = assessments[name]
        mine = [r for r in a.risks if a.recommendation in r.applies_to]
        assert mine, name
        cards = soup.select("#risks article.card")
        assert len(cards) == len(mine)
        for r, card in zip(mine, cards, strict=True):
            text = card.get_text(" ")
            for e in r.evidence:
                assert (e.figure or "No figure") in text and e.source_title in text, (name, r.id)
                assert (not e.analogy) or e.analogy in text, (name, r.id)


def test_plan_monitors_performance_and_explainability(pages):
    for name, (_, soup) in pages.items():
        groups = [th.get_text() for th in soup.select("#plan tr.group th")]
        assert groups == ["Performance", "Explainability"], name
        assert soup.select("#plan .keep li") and soup.select("#plan ol.steps li")


def test_audit_appendix_reproduces(assessments, pages):
    for name, (_, soup) in pages.items():
        a = assessments[name]
        audit = soup.select_one("#audit").get_text(" ")
        for bit in (a.rulepack.sha256, a.input_sha256, a.advisor_version, a.rulepack.name):
            assert bit in audit, name
        for r in a.rules_evaluated:
            assert r.id in audit
        pres = soup.select("#audit pre")
        assert json.loads(pres[0].get_text()) == json.loads(json.dumps(a.input))


def test_precedents_are_context_only(assessments, pages, pack):
    for name, (_, soup) in pages.items():
        sec = soup.select_one("#precedents")
        assert "Context only" in sec.get_text()
        assert len(sec.select("article.prec")) == len(assessments[name].precedents)
        assert 3 <= len(assessments[name].precedents) <= 5, name
    # Taking the library away changes nothing but the precedents.
    bare = pack.model_copy(update={"precedents": []})
    ex = EXAMPLES[0]
    with_lib = assess(load_requirements(ex), pack)
    without = assess(load_requirements(ex), bare)
    assert without.precedents == [] and with_lib.precedents
    assert (without.recommendation, without.scores, without.confidence) == (
        with_lib.recommendation,
        with_lib.scores,
        with_lib.confidence,
    )


# --- HTML: self-contained, safe, small, deterministic ---------------------------------------------


def test_no_scripts_and_nothing_external(pages):
    for name, (html, soup) in pages.items():
        assert not soup.find_all(["script", "iframe", "object", "embed", "link", "img"]), name
        for tag in soup.find_all(True):
            for attr, value in tag.attrs.items():
                assert not attr.lower().startswith("on"), (name, tag.name, attr)
                if attr in ("src", "href", "xlink:href", "action"):
                    # Only in-page anchors, and plain links to a cited source (a link the
                    # reader may follow; the page itself requests nothing).
                    internal = str(value).startswith("#")
                    source_link = (
                        tag.name == "a"
                        and attr == "href"
                        and re.fullmatch(r"https?://[^\s<>\"']+", str(value)) is not None
                        and "noreferrer" in tag.get("rel", [])
                    )
                    assert internal or source_link, (name, tag.name, value)
        css = " ".join(s.get_text() for s in soup.find_all("style"))
        assert "@import" not in css and "@font-face" not in css
        assert not re.search(r"url\((?!#)", css + html.split("</style>", 1)[1]), name
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "default-src 'none'" in csp and "script-src" not in csp


def test_reports_are_small(pages):
    for name, (html, _) in pages.items():
        assert len(html.encode()) <= 200_000, (name, len(html.encode()))


def test_reports_are_deterministic(pack):
    ex = EXAMPLES[-1]
    one = render(assess(load_requirements(ex), pack), "html")
    two = render(assess(load_requirements(ex), pack), "html")
    assert one == two
    assert not re.search(r"20\d\d-\d\d-\d\d[T ]\d\d:\d\d", one)


def test_user_text_is_escaped_in_html(hostile):
    html = render(hostile, "html")
    soup = BeautifulSoup(html, "html5lib")
    assert not soup.find_all("script") and not soup.find_all("img")
    assert not [b for b in soup.find_all("b") if b.get_text() == "bold"]
    assert soup.find("h1").get_text() == XSS
    assert soup.select_one(".lede").get_text() == XSS_DESC
    assert XSS in soup.find("title").get_text()
    assert "&lt;script&gt;" in html
    assert not soup.find_all(attrs={"onerror": True})


def test_themes_and_print_styles():
    css = (ROOT / "templates" / "report.css").read_text()
    assert "@media (prefers-color-scheme: dark)" in css
    printing = css[css.index("@media print") :]
    assert "break-before: page" in printing and "break-inside: avoid" in printing
    assert "size: auto" in printing  # A4 and Letter alike: the printer's paper decides


def _vars(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", block))


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_contrast_is_aa_in_both_themes():
    css = (ROOT / "templates" / "report.css").read_text()
    light = _vars(css[: css.index("@media (prefers-color-scheme: dark)")])
    dark_block = css[css.index("@media (prefers-color-scheme: dark)") : css.index("* {")]
    dark = {**light, **_vars(dark_block)}
    for theme in (light, dark):
        for fg in ("ink", "muted", "accent"):
            for bg in ("bg", "panel", "panel-2"):
                assert _contrast(theme[fg], theme[bg]) >= 4.5, (fg, bg, theme[fg], theme[bg])
        for opt in ("e2e", "mod", "hyb"):
            assert _contrast(theme["on-fill"], theme[opt]) >= 4.5, opt
            assert _contrast(theme["ink"], theme[f"{opt}-tint"]) >= 4.5, opt
        assert _contrast(theme["warn"], theme["warn-tint"]) >= 4.5


# --- Markdown and ADR -----------------------------------------------------------------------------


MD_SECTIONS = (
    "## Decision",
    "## The three-dimension selection matrix",
    "## Scores and vetoes",
    "## Why: what each input contributed",
    "## What would change the answer",
    "## Explainability per option",
    "## Architecture sketch",
    "## Risks, with evidence",
    "## Implementation plan",
    "## Precedents: similar public systems",
    "## Audit appendix",
)


def _tables(md: str) -> list[list[str]]:
    out, cur = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            out.append(cur)
            cur = []
    return out


def _cells(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row.strip())) - 2


def test_markdown_has_the_same_sections_and_sound_tables(assessments):
    for name, a in assessments.items():
        md = render(a, "md")
        pos = [md.find(h) for h in MD_SECTIONS]
        assert all(p >= 0 for p in pos) and pos == sorted(pos), (name, pos)
        for table in _tables(md):
            width = _cells(table[0])
            assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1]), (name, table[:2])
            for row in table:
                assert _cells(row) == width, (name, row)
        for x in a.attributions:
            assert f"{x.contribution:+.3f}" in md
        for p in a.precedents:
            assert p.system in md
            for src in p.sources:
                assert src.url in md, (name, p.id, src.id)


def test_markdown_and_adr_escape_user_text(hostile):
    for fmt in ("md", "adr"):
        text = render(hostile, fmt)
        assert "<script>" not in text and "<img" not in text and "<b>" not in text, fmt
        assert "&lt;script>alert(1)&lt;/script>" in text, fmt


def test_adr_follows_madr(assessments):
    for name, a in assessments.items():
        adr = render(a, "adr")
        assert adr.startswith("---\nstatus: proposed\n"), name
        heads = [
            "## Context and Problem Statement",
            "## Decision Drivers",
            "## Considered Options",
            "## Decision Outcome",
            "### Consequences",
            "### Confirmation",
            "## Pros and Cons of the Options",
            "## More Information",
        ]
        pos = [adr.find(h) for h in heads]
        assert all(p >= 0 for p in pos) and pos == sorted(pos), (name, pos)
        label = a.recommendation.replace("_", "-").capitalize()
        assert f'Chosen option: "{label}", because' in adr
        for opt in ("End-to-end", "Modular", "Hybrid"):
            assert re.search(rf"^### {opt}( \(chosen\))?$", adr, re.M), (name, opt)
        assert "* Good, because" in adr and "* Bad, because" in adr
        for v in a.vetoes:
            assert v.reason in adr


def test_cli_writes_adr_and_md(tmp_path):
    ex = ROOT / "examples" / "credit-scoring.yaml"
    out = tmp_path / "0001-architecture.md"
    r = CliRunner().invoke(cli, ["recommend", str(ex), "--format", "adr", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("---\nstatus: proposed")
    r = CliRunner().invoke(cli, ["recommend", str(ex), "-o", str(tmp_path / "r.md")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# Architecture recommendation: Consumer credit scoring\n")
    a = recommend(load_requirements(ex), explain=False)
    assert f"**Recommendation: {a.recommendation.replace('_', '-')}**" in md


# --- Precedent library ----------------------------------------------------------------------------


def test_precedents_cite_bibliography_entries(pack):
    bib = pack.sources_by_id()
    for p in pack.precedents:
        assert p.sources, p.id
        for sid in p.sources:
            assert sid in bib, (p.id, sid)
        # Every precedent can be looked up by a reader: at least one source has an address.
        assert any(bib[sid].url for sid in p.sources), p.id


def test_nearest_precedents_use_standardised_features(pack):
    from advisor._precedents import nearest, project_features
    from advisor._requirements import Requirements

    credit = nearest(load_requirements(ROOT / "examples" / "credit-scoring.yaml"), pack.precedents)
    assert credit[0].id == "upstart-underwriting" and credit[0].distance < 0.5
    assert [m.distance for m in credit] == sorted(m.distance for m in credit)
    voice_req = load_requirements(ROOT / "examples" / "realtime-voice-agent.yaml")
    voice = nearest(voice_req, pack.precedents)
    assert all(m.features["modality"] == "speech" for m in voice)
    req = Requirements.model_validate(profile(latency={"budget_ms": 50}))
    assert project_features(req)["latency_class"] == "realtime"
    assert nearest(req, []) == []


def test_unverified_precedents_are_marked(pack):
    from advisor._precedents import Precedent, nearest

    req = load_requirements(ROOT / "examples" / "realtime-voice-agent.yaml")
    first = nearest(req, pack.precedents)[0].id
    lib = []
    for p in pack.precedents:
        entry = p.model_dump()
        if p.id == first:
            entry.update(id="from-memory", data="About 5M pairs (memory, unverified)")
        lib.append(Precedent.model_validate(entry))
    a = recommend(req, rulepack=pack.model_copy(update={"precedents": lib}))
    hit = [p for p in a.precedents if p.id == "from-memory"]
    assert hit and hit[0].unverified
    html = render(a, "html")
    assert "unverified" in BeautifulSoup(html, "html5lib").select_one("#precedents").get_text()
    assert "unverified" in render(a, "md") and "unverified" in render(a, "adr")


def test_risks_are_validated_against_evidence(pack):
    from advisor._errors import RulePackError
    from advisor._packbuild import build_pack
    from advisor._resources import default_rules_dir, read_pack_documents

    docs = read_pack_documents(default_rules_dir())
    key = next(k for k in docs if k.endswith("risks.yaml"))
    docs[key]["risks"][0]["evidence"] = ["no-such-evidence"]
    with pytest.raises(RulePackError, match="risk paired-data-cost: evidence 'no-such-evidence'"):
        build_pack(docs, "pack")
    areas = {r.area for r in pack.risks}
    assert areas >= {"data_cost", "training", "explainability", "portability"}
    for r in pack.risks:
        assert any(pack.evidence_by_id()[e].figure for e in r.evidence) or r.area in (
            "integration",
            "explainability",
            "security",
        ), r.id


# --- compare --------------------------------------------------------------------------------------


def _variant(tmp_path: Path, name: str, **over) -> Path:
    doc = profile(**over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(doc))
    return path


def test_compare_two_requirement_files_explains_the_flip(tmp_path):
    old = _variant(tmp_path, "old", data={"paired_examples": 5_000_000}, latency={"budget_ms": 50})
    new = _variant(tmp_path, "new", data={"paired_examples": 2_000}, latency={"budget_ms": 50})
    r = CliRunner().invoke(cli, ["compare", str(old), str(new)])
    assert r.exit_code == 0, r.output
    assert "The recommendation changed from end-to-end to" in r.output
    assert "paired examples" in r.output and "5M pairs -> 2,000 pairs" in r.output
    r = CliRunner().invoke(cli, ["compare", str(old), str(new), "--format", "json"])
    c = json.loads(r.output)
    total = sum(k["contribution"] for k in c["contributions"])
    assert abs(c["attribution_old"] + total - c["attribution_new"]) < 1e-5
    assert c["attribution_old"] < 0 < c["attribution_new"]


def test_compare_json_assessments_and_html(tmp_path, pack):
    paths = []
    for i, budget in enumerate((40, 4000)):
        doc = profile(name=XSS, latency={"budget_ms": budget})
        a = recommend(doc, rulepack=pack, explain=False)
        p = tmp_path / f"a{i}.json"
        p.write_text(a.to_json())
        paths.append(p)
    out = tmp_path / "cmp.html"
    r = CliRunner().invoke(cli, ["compare", str(paths[0]), str(paths[1]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    soup = BeautifulSoup(out.read_text(), "html5lib")
    assert not soup.find_all("script") and soup.find("h1").get_text() == XSS
    assert "latency budget" in soup.select_one("#inputs").get_text()
    for t in soup.find_all("table"):
        assert t.find("thead").find_all("th") and t.find("caption")
    assert soup.select("svg title")


def test_compare_same_inputs_and_other_packs(tmp_path, pack):
    a = recommend(profile(), rulepack=pack, explain=False)
    same = compare(a, a, pack)
    assert same.inputs == [] and not same.recommendation_changed and same.contributions == []
    assert same.why == ["No input that the scores depend on changed."]
    other = a.model_copy(update={"rulepack": a.rulepack.model_copy(update={"sha256": "0" * 64})})
    c = compare(a, other, pack)
    assert c.rulepack_changed and c.contributions == [] and "rule pack changed" in c.why[0]
    assert compare(a, a, None).attribution_note.startswith("No rule pack")


def test_compare_bad_input_is_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"advisor_version": "9", "recommendation": "x", "extra": 1}))
    good = _variant(tmp_path, "good")
    from advisor._cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["compare", str(bad), str(good)])
    assert e.value.code == 2


def test_template_cache_changes_nothing_and_stays_private(tmp_path):
    # The report rendered by a fresh process with Jinja's bytecode cache (in a private folder of
    # the temporary directory) is byte-identical to one rendered without it, and the cache
    # folder is readable by its owner only.
    import os
    import stat
    import subprocess
    import sys

    code = (
        "import sys; from advisor import load_requirements, recommend, render; "
        f"a = recommend(load_requirements({str(EXAMPLES[0])!r}), explain=False); "
        "sys.stdout.write(render(a, format='html'))"
    )
    env = dict(os.environ, TMPDIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    cached = list(tmp_path.glob("_jinja2-cache-*/*.cache"))
    assert cached, list(tmp_path.iterdir())
    assert stat.S_IMODE(cached[0].parent.stat().st_mode) == 0o700
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    off = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        env=dict(env, ADVISOR_NO_TEMPLATE_CACHE="1"),
    )
    assert first.stdout == again.stdout == off.stdout
    assert b"<html" in first.stdout
