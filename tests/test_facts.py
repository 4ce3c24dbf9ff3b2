"""Facts before prose (issue 13): an assessment's facts are computed once and typed, the
sentences come from them, the domain wording about each architecture comes from the rule pack
(rules/architectures.yaml), and the templates read typed parts, not dictionaries by key."""

from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup
from conftest import ROOT
from conftest import run_cli as run
from test_rulepacks import make_pack

from advisor import Assessment, load_requirements, load_rulepack, recommend, render
from advisor._assessment import DataThresholds, LatencyThresholds, RegulationThresholds
from advisor._errors import RulePackError

EXAMPLES = ROOT / "examples"
CREDIT = EXAMPLES / "credit-scoring.yaml"  # tabular, recommended modular


def test_thresholds_are_typed_and_read_back_typed_from_json():
    a = recommend(load_requirements(CREDIT), explain=False)
    kinds = {d.name: type(d.thresholds) for d in a.dimensions}
    assert kinds == {
        "data": DataThresholds,
        "latency": LatencyThresholds,
        "regulation": RegulationThresholds,
    }
    back = Assessment.model_validate(json.loads(a.to_json()))
    assert back == a
    assert {d.name: type(d.thresholds) for d in back.dimensions} == kinds
    assert back.to_json() == a.to_json()


def test_the_dimensions_are_computed_once_per_assessment(monkeypatch):
    import advisor._facts as facts

    calls = []
    real = facts._dimensions

    def counted(f):
        calls.append(1)
        return real(f)

    monkeypatch.setattr(facts, "_dimensions", counted)
    a = recommend(load_requirements(CREDIT))
    # The dimensions feed the Dimension parts, the rationale and the reasons: one computation.
    assert len(calls) == 1
    assert a.rationale and a.reasons and len(a.dimensions) == 3


def test_design_stages_and_keep_list_come_from_the_pack(tmp_path):
    folder = make_pack(
        tmp_path / "org",
        {
            "architectures.yaml": {
                "architectures": {
                    "modular": {
                        "keep_traditional": ["Our <own> stage owners"],
                        "sketch_by_modality": {
                            "tabular": [
                                {"name": "Feature store <checked>", "kind": "traditional"},
                                {"name": "Scorecard model", "kind": "learned"},
                                {"name": "Credit policy rules", "kind": "rule_based"},
                            ]
                        },
                    }
                }
            }
        },
    )
    pack = load_rulepack(folder)
    a = recommend(load_requirements(CREDIT), rulepack=pack, explain=False)
    assert a.recommendation == "modular"
    assert [s.name for s in a.design_stages] == [
        "Feature store <checked>",
        "Scorecard model",
        "Credit policy rules",
    ]
    assert a.plan.keep_traditional == ["Our <own> stage owners"]
    # The rest of the section is inherited from the default pack.
    assert pack.architectures.end_to_end == load_rulepack().architectures.end_to_end
    soup = BeautifulSoup(render(a, "html"), "html.parser")
    flow = [li.contents[0].strip() for li in soup.select("#architecture ol.flow li")]
    assert flow == [s.name for s in a.design_stages]
    assert "Feature store <checked>" in soup.select_one("#architecture svg.sketch").get_text()
    assert "**traditional**: Feature store &lt;checked>" in render(a, "md")


def test_the_default_texts_fill_in_the_modality_and_the_pattern():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        a = recommend(load_requirements(path), explain=False)
        modality = a.requirements["task"]["modality"]
        names = [s.name for s in a.design_stages]
        assert len(names) >= 3 and not any("{" in n for n in names), path.name
        if a.recommendation == "end_to_end":
            assert f"raw {modality} input" in names[1]
        if a.recommendation == "hybrid":
            assert a.hybrid_pattern is not None
            assert names == [s.name for s in a.hybrid_pattern.stages]
        for e in a.explainability.values():
            assert e.traceability_basis and "{" not in e.traceability_basis, path.name


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        ("hybrid.traceable", "Passes through {stage}.", "unknown placeholder {stage}"),
        ("end_to_end.untraceable", "No path for {modality}.", "unknown placeholder {modality}"),
        ("modular.traceable", "Rules {pattern.__class__}.", "unknown placeholder"),
        ("hybrid.untraceable", "A brace { alone", "literal braces"),
    ],
)
def test_the_pack_schema_checks_the_placeholders(tmp_path, where, text, message):
    option, key = where.split(".")
    folder = make_pack(
        tmp_path / "bad", {"architectures.yaml": {"architectures": {option: {key: text}}}}
    )
    with pytest.raises(RulePackError) as e:
        load_rulepack(folder)
    line = str(e.value)
    assert "architectures.yaml" in line and f"architectures.{option}" in line, line
    assert message in line, line
    r = run(["rules", "check", str(folder)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert message in r.output


def test_a_sketch_stage_may_name_only_the_modality(tmp_path):
    stages = [{"name": "Model for {pattern}", "kind": "learned"}]
    folder = make_pack(
        tmp_path / "bad", {"architectures.yaml": {"architectures": {"modular": {"sketch": stages}}}}
    )
    with pytest.raises(RulePackError, match="unknown placeholder {pattern}; use modality"):
        load_rulepack(folder)


def test_every_dimension_chart_uses_the_packs_favour_threshold(tmp_path):
    # The utility row of the data and latency charts drew its neutral zone at +-0.25 whatever
    # the pack said (only the regulation dimension carried the threshold).
    folder = make_pack(tmp_path / "wide", {})
    (folder / "pack.yaml").write_text(
        "name: org\nversion: 0.1.0\nextends: default\nfavour_threshold: 0.4\n"
    )
    a = recommend(load_requirements(CREDIT), rulepack=load_rulepack(folder), explain=False)
    soup = BeautifulSoup(render(a, "html"), "html.parser")
    span = 300 - 2 * 6  # the chart's width less its padding
    for name in ("data", "latency", "regulation"):
        svg = soup.select_one(f"#matrix article[aria-labelledby=h-dim-{name}] svg")
        neutral = [r for r in svg.select("rect.zone-neu") if r.get("height") == "10"]
        assert [float(r["width"]) for r in neutral] == [pytest.approx(0.4 * span, abs=0.06)], name


def test_templates_read_no_dictionary_by_key():
    # Typed parts only: no `x["key"]`, no `.get(` on a mapping, no `.thresholds.<key>` by name
    # lookup on a dict (the thresholds are models).
    for path in sorted((ROOT / "templates").glob("*.j2")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"[\w)\]]\[\s*[\"']", text), path.name
        assert ".get(" not in text, path.name
        assert "a.requirements." not in text, path.name
