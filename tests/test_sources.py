"""Sources a reader can find, evidence that fits the project, and the report's one-page summary.

Covers: the bibliography (rules/sources.yaml) and the check that every evidence entry and
precedent cites an entry of it; no path outside the repository in any file or output; evidence,
risks, precedents and hybrid patterns that fit the project's modality and sector; the
model-security advice (no score effect); and the HTML report's layout (summary first, detail in
<details>, print rules).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import EXAMPLES, ROOT, profile, run_cli

from advisor import render
from advisor._api import load_requirements, recommend
from advisor._engine import assess
from advisor._loading import parse_text

#: Paths outside the repository that nothing may mention (the rule this test enforces).
OUTSIDE = re.compile(r"seeds/|\bseed 0\d\d\b|PRECEDENTS|DESIGN\.md|STYLE\.md|\.\./shared")


@pytest.fixture(scope="module")
def assessed(pack):
    """Every example's assessment, keyed by the file's stem."""
    out = {}
    for ex in EXAMPLES:
        doc = parse_text(ex.read_bytes(), str(ex))
        out[ex.stem] = assess(load_requirements(ex), pack, given=doc)
    return out


# --- No path outside the repository ---------------------------------------------------------------


def _repo_files() -> list[Path]:
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        return [ROOT / f for f in listed if (ROOT / f).is_file()]
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def test_no_file_mentions_a_path_outside_the_repository():
    this = Path(__file__).resolve()
    hits = []
    for f in _repo_files():
        if f.resolve() == this:  # the pattern itself lives here
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert hits == []


def test_no_output_mentions_a_path_outside_the_repository(assessed):
    for name, a in assessed.items():
        for fmt in ("html", "md", "adr"):
            assert not OUTSIDE.search(render(a, fmt)), (name, fmt)
        assert not OUTSIDE.search(a.to_json()), name


# --- The bibliography ----------------------------------------------------------------------------


def test_every_evidence_entry_and_precedent_cites_a_bibliography_entry(pack):
    bib = pack.sources_by_id()
    assert {e.source for e in pack.evidence} <= set(bib)
    assert {s for p in pack.precedents for s in p.sources} <= set(bib)
    for src in pack.sources:
        assert src.title and src.publisher, src.id
        assert src.url == "" or src.url.startswith(("https://", "http://")), src.id


def _pack_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "pack"
    shutil.copytree(ROOT / "rules", dest)
    return dest


def test_rules_check_refuses_an_unknown_evidence_source(tmp_path):
    dest = _pack_copy(tmp_path)
    path = dest / "evidence.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["evidence"][0]["source"] = "no-such-source"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = run_cli(["rules", "check", str(dest)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if "no-such-source" in ln]
    assert len(lines) == 1, r.output
    first = doc["evidence"][0]["id"]
    assert "evidence.yaml" in lines[0] and f"evidence[id={first}].source" in lines[0], lines
    assert "Traceback" not in r.output


def test_rules_check_refuses_an_unknown_precedent_source(tmp_path):
    dest = _pack_copy(tmp_path)
    path = dest / "precedents.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["precedents"][0]["sources"].append("no-such-source")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = run_cli(["rules", "check", str(dest)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if "no-such-source" in ln]
    assert len(lines) == 1 and "precedents.yaml" in lines[0], r.output
    assert f"precedents[id={doc['precedents'][0]['id']}].sources[" in lines[0]


@pytest.mark.parametrize("url", ["javascript:alert(1)", 'https://x.example/"><b>', "ftp://x"])
def test_a_source_url_must_be_a_plain_web_address(tmp_path, url):
    dest = _pack_copy(tmp_path)
    path = dest / "sources.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sources"][0]["url"] = url
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = run_cli(["rules", "check", str(dest)])
    assert r.exit_code == 2 and "sources.yaml" in r.output and ".url" in r.output, r.output


def test_html_links_sources_and_text_formats_print_the_url(assessed):
    a = assessed["credit-scoring"]
    soup = BeautifulSoup(render(a, "html"), "html5lib")
    links = {x["href"] for x in soup.select("a.src")}
    with_url = [s for s in a.sources if s.url]
    assert with_url and {s.url for s in with_url} <= links
    for x in soup.select("a.src"):
        assert "noreferrer" in x.get("rel", []), x
    listed = soup.select("#audit ol.bibliography li")
    assert len(listed) == len(a.sources)
    md, adr = render(a, "md"), render(a, "adr")
    for s in with_url:
        assert s.url in md, s.id
    # The ADR names each precedent's first source with its address.
    for p in a.precedents:
        if p.sources and p.sources[0].url:
            assert p.sources[0].url in adr, p.id


def test_chinese_articles_are_cited_by_translated_and_original_title(assessed):
    a = assessed["realtime-voice-agent"]
    art = next(s for s in a.sources if s.id == "article-e2e-definition-tradeoffs")
    assert "端到端大模型" in art.citation and "trade-off" in art.citation
    assert "2025-09-19" in art.citation and "in Chinese" in art.citation
    assert art.citation in render(a, "md")


# --- Evidence, risks, precedents and patterns that fit the project --------------------------------


def _all_refs(a):
    lists = [d.evidence for d in a.dimensions] + [r.evidence for r in a.rules_fired]
    lists += [r.evidence for r in a.risks] + [s.evidence for s in a.plan.steps]
    return [e for refs in lists for e in refs]


def test_other_domains_evidence_is_labelled_as_an_analogy(assessed):
    credit = assessed["credit-scoring"]
    refs = {e.id: e for e in _all_refs(credit)}
    assert refs["tts-latency"].analogy == "analogy from speech synthesis"
    assert refs["medical-imaging-data-demand"].analogy == "analogy from medical imaging"
    assert refs["finance-explainability-65-92"].fits  # tabular, finance: direct evidence
    voice = {e.id: e for e in _all_refs(assessed["realtime-voice-agent"])}
    assert voice["tts-latency"].fits and voice["tts-latency"].analogy == ""
    # Within every list, the entries that fit come first.
    for a in assessed.values():
        for d in a.dimensions:
            flags = [e.fits for e in d.evidence]
            assert flags == sorted(flags, reverse=True), (a.name, d.name)
    html = render(credit, "html")
    assert "analogy from speech synthesis" in html
    assert "analogy from speech synthesis" in render(credit, "md")


def test_paired_data_cost_risk_only_where_labels_are_not_cheap(assessed):
    risks = {name: {r.id for r in a.risks} for name, a in assessed.items()}
    assert "paired-data-cost" not in risks["card-fraud"]  # 300M cheap outcome pairs
    assert "paired-data-cost" not in risks["credit-scoring"]
    assert "paired-data-cost" in risks["realtime-voice-agent"]  # labelling cost medium


def test_precedents_prefer_the_projects_modality_and_sector(assessed):
    for name in ("credit-scoring", "card-fraud"):
        ids = [p.id for p in assessed[name].precedents]
        assert "baidu-apollo-3" not in ids and "google-saycan" not in ids, (name, ids)
        assert ids[0] == "upstart-underwriting", (name, ids)
        assert all(p.same_modality or p.same_sector for p in assessed[name].precedents), name
    assert all(
        p.features["modality"] == "speech" for p in assessed["realtime-voice-agent"].precedents
    )


def test_precedents_of_other_domains_only_make_up_a_minimum(pack):
    from advisor._precedents import MIN_SHOWN, nearest
    from advisor._requirements import Requirements

    req = Requirements.model_validate(profile(task={"modality": "tabular"}))
    lib = [p for p in pack.precedents if p.features.modality != "tabular"]
    shown = nearest(req, lib)
    assert len(shown) == MIN_SHOWN and not any(p.same_modality for p in shown)
    full = nearest(req, pack.precedents)
    assert all(p.same_modality or p.same_sector for p in full)


def test_tabular_hybrids_get_a_pattern_named_for_records(pack):
    # Ample tabular data and a tight budget against a high explainability requirement: a hybrid.
    a = recommend(
        profile(
            task={"modality": "tabular"},
            data={"paired_examples": 5e7},
            latency={"budget_ms": 30},
            regulation={"criticality": "regulated", "explainability": "high"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert a.recommendation == "hybrid" and a.hybrid_pattern is not None
    assert "perception" not in a.hybrid_pattern.title.lower()
    assert "risk score" in a.hybrid_pattern.title.lower()
    # The raw-input pattern keeps its name where inputs are raw.
    img = recommend(
        profile(
            task={"modality": "vision"},
            data={"paired_examples": 5e7},
            latency={"budget_ms": 30},
            regulation={"criticality": "regulated", "explainability": "high"},
        ),
        rulepack=pack,
        explain=False,
    )
    assert img.hybrid_pattern is not None
    assert img.hybrid_pattern.title == "Learned perception with an interpretable decision layer"


# --- Model security (seed article on models as a service) ----------------------------------------


def test_model_security_advice_where_a_served_model_meets_regulated_data(assessed):
    for name in ("card-fraud", "credit-scoring"):  # pci_dss; regulated
        a = assessed[name]
        assert "model-security" in {r.id for r in a.rules_fired}, name
        assert "model-exposure" in {r.id for r in a.risks}, name
        step = next(s for s in a.plan.steps if s.id == "model-security")
        text = " ".join(step.steps).lower()
        assert "authenticat" in text and "encrypt" in text, name
        assert step.evidence[0].source_id == "article-models-as-a-service"
    voice = assessed["realtime-voice-agent"]  # non-critical, no pci_dss or hipaa
    assert "model-security" not in {r.id for r in voice.rules_fired}
    hipaa = recommend(
        profile(regulation={"criticality": "business_critical", "regimes": ["hipaa"]})
    )
    assert "model-security" in {s.id for s in hipaa.plan.steps}
    on_device = recommend(
        profile(regulation={"regimes": ["hipaa"]}, deployment={"target": "on_device"})
    )
    assert "model-security" not in {s.id for s in on_device.plan.steps}


def test_model_security_rule_changes_no_score(pack):
    rule = next(r for r in pack.rules if r.id == "model-security")
    assert rule.effect.veto is None and not rule.effect.add and rule.effect.advice
    without = pack.model_copy(update={"rules": [r for r in pack.rules if r.id != rule.id]})
    for ex in EXAMPLES:
        req = load_requirements(ex)
        one, two = assess(req, pack, explain=False), assess(req, without, explain=False)
        assert (one.scores, one.recommendation, one.confidence) == (
            two.scores,
            two.recommendation,
            two.confidence,
        ), ex.stem


# --- Report layout ----------------------------------------------------------------------------


def test_summary_first_and_detail_in_details(assessed):
    for name, a in assessed.items():
        soup = BeautifulSoup(render(a, "html"), "html5lib")
        sections = soup.select("main section")
        assert sections[0]["id"] == "decision" and "summary-page" in sections[0]["class"]
        assert sections[0].find("details") is None, name
        for sec in sections[1:]:
            d = sec.find("details", recursive=False)
            assert d is not None and d.find("summary", recursive=False) is not None, sec["id"]
            assert d.summary.find("h2") is not None, sec["id"]


def test_reasons_heading_counts_the_reasons(assessed):
    words = {
        1: "The strongest reason",
        2: "The two strongest reasons",
        3: "The three strongest reasons",
    }
    seen = set()
    for a in assessed.values():
        n = len(a.reasons)
        seen.add(n)
        soup = BeautifulSoup(render(a, "html"), "html5lib")
        heading = soup.select_one(".verdict-card h3").get_text()
        assert heading == words.get(n, "Reasons"), (a.name, n, heading)
        assert len(soup.select(".verdict-card ol.reasons li")) == max(n, 1)
        assert f"{words.get(n, 'Reasons')}:" in render(a, "md")
    assert 2 in seen  # the voice agent's two reasons


def test_regimes_at_a_glance_are_a_list_without_separators_in_the_text(assessed):
    a = assessed["credit-scoring"]
    soup = BeautifulSoup(render(a, "html"), "html5lib")
    items = [li.get_text() for li in soup.select(".glance ul.regimes li")]
    assert items == list(a.requirements["regulation"]["regimes"])
    assert not any("," in t for t in items)


def test_fidelity_gaps_are_percentage_points_and_thresholds_have_words(pack):
    from advisor._charts import points

    assert points(0.15) == "15 percentage points" and points(0.01) == "1 percentage point"
    a = recommend(
        profile(regulation={"criticality": "regulated", "explainability": "high"}), rulepack=pack
    )
    short = [e for e in a.explainability.values() if not e.meets_requirement and e.gap > 0]
    assert short
    html = render(a, "html")
    assert "percentage points short" in html and "short by" not in html
    soup = BeautifulSoup(html, "html5lib")
    words = [p.get_text() for p in soup.select("#matrix p.thresholds")]
    assert len(words) == 2  # data and latency
    assert "the data favours modular" in words[0] or "favours end-to-end" in words[0]
    assert "favours end-to-end" in words[1]


def test_print_css_keeps_rows_whole_and_opens_the_detail():
    css = (ROOT / "templates" / "report.css").read_text()
    printing = css[css.index("@media print") :]
    assert re.search(r"\btr \{ break-inside: avoid", printing)
    assert "details.part-d::details-content { content-visibility: visible" in printing
    assert re.search(r"section#decision \{[^}]*break-after: page", printing)
