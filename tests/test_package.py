"""Packaging and the rule pack's content: the wheel carries rules/ and templates/, the pack
carries every figure of the seed digest with its source, and every input field is documented."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT

from advisor._requirements import field_info, field_paths


def test_wheel_contains_rules_and_templates(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel = next(tmp_path.glob("e2e_advisor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (ROOT / "rules").glob("*.yaml"):
        assert f"advisor/_data/rules/{f.name}" in names
    for f in (ROOT / "templates").iterdir():
        assert f"advisor/_data/templates/{f.name}" in names
    assert "advisor/_cli/main.py" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "\nName: e2e-advisor\n" in zipfile.ZipFile(wheel).read(meta).decode()


def test_the_distribution_name_is_the_one_every_install_hint_names():
    """`advisor` on the package index is another project: pyproject's name, DISTRIBUTION and
    every `pip install '...[server]'` hint in the package agree on e2e-advisor."""
    import re
    import tomllib

    from advisor._version import DISTRIBUTION

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == DISTRIBUTION
    hints = []
    for f in (ROOT / "advisor").glob("*.py"):
        hints += re.findall(r"pip install '([^'.\[]+)\[", f.read_text())
    assert set(hints) <= {DISTRIBUTION, "{DISTRIBUTION}"}, hints


# Every figure the source articles give, as it must appear in the pack's evidence.
DIGEST_FIGURES = [
    "28.7",
    "26.3",
    "3M",
    "60M",
    "40M",
    "120M",  # WMT2014 translation
    "4.2 -> 5.0",
    "+0.8",
    "+35%",  # Tacotron2 naturalness, prosody
    "-60%",
    "200 ms -> 80 ms",  # synthesis latency
    "6 independent microservices",
    "-45%",
    "32 GB -> 18 GB",  # deployment
    "10k",
    "50k",  # low-resource translation
    "200k",
    "+300%",  # medical imaging data demand
    "3-5x",  # training steps
    "65%",
    "92%",  # explainability confidence
    "< 100 ms",  # latency threshold
]


def test_pack_carries_every_digest_figure(pack):
    text = " ".join(f"{e.claim} {e.figure}" for e in pack.evidence)
    missing = [f for f in DIGEST_FIGURES if f not in text]
    assert not missing, missing
    bib = pack.sources_by_id()
    for e in pack.evidence:
        assert e.source in bib, e.id
    # The four Chinese articles are cited by their translated and original titles.
    articles = [src for src in pack.sources if src.language == "zh"]
    assert len(articles) == 4
    for src in articles:
        assert src.kind == "article" and src.title and src.original_title, src.id
    assert any(src.date == "2025-09-19" for src in articles)


def test_priors_are_the_seed_figures(pack):
    pri = pack.explainability.priors
    assert pri["end_to_end"].fidelity == 0.65 and pri["modular"].fidelity == 0.92
    assert "finance-explainability-65-92" in pri["end_to_end"].evidence


def test_pack_has_three_hybrid_patterns_saying_what_is_learned(pack):
    assert len(pack.patterns) >= 3
    for p in pack.patterns:
        kinds = {s.kind for s in p.stages}
        assert "learned" in kinds and kinds & {"traditional", "rule_based"}, p.id


def test_known_regimes(pack):
    ids = {r.id for r in pack.regimes}
    assert ids >= {
        "gdpr_art22",
        "eu_ai_act_high_risk",
        "ecoa",
        "sr_11_7",
        "hipaa",
        "fda_samd",
        "eu_mdr",
        "iso_26262",
        "eu_dsa",
        "sec_15c3_5",
        "colorado_sb21_169",
        "pci_dss",
    }


def test_every_field_documented():
    readme = (ROOT / "README.md").read_text()
    for path in field_paths():
        if path == "schema_version":
            continue
        info = field_info(path)
        assert info.description, path
        extra = info.json_schema_extra or {}
        assert extra.get("question") and extra.get("help"), path
        assert path.split(".")[-1] in readme, f"{path} is not documented in README.md"
