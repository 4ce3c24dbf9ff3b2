"""Model-selection decision advisor: end-to-end, modular or hybrid, and why.

The public API (everything else is private):

    from advisor import recommend, load_requirements, render
    assessment = recommend(load_requirements("examples/credit-scoring.yaml"))
    html = render(assessment, format="html")

Names are imported lazily so that `advisor --help` starts without numpy or shap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "AdvisorError",
    "Assessment",
    "InputError",
    "OutputError",
    "ProbeResult",
    "Problem",
    "Requirements",
    "RulePack",
    "RulePackError",
    "UsageError",
    "__version__",
    "load_requirements",
    "load_rulepack",
    "recommend",
    "recommend_many",
    "render",
    "screen",
]

_LAZY = {
    "AdvisorError": "_errors",
    "InputError": "_errors",
    "OutputError": "_errors",
    "RulePackError": "_errors",
    "Problem": "_errors",
    "ProbeResult": "_probe",
    "UsageError": "_errors",
    "Assessment": "_assessment",
    "Requirements": "_requirements",
    "RulePack": "_rulepack",
    "load_requirements": "_api",
    "load_rulepack": "_api",
    "recommend": "_api",
    "recommend_many": "_many",
    "render": "_render",
    "screen": "_screen",
}

if TYPE_CHECKING:
    from ._api import load_requirements, load_rulepack, recommend
    from ._assessment import Assessment
    from ._errors import (
        AdvisorError,
        InputError,
        OutputError,
        Problem,
        RulePackError,
        UsageError,
    )
    from ._many import recommend_many
    from ._probe import ProbeResult
    from ._render import render
    from ._requirements import Requirements
    from ._rulepack import RulePack
    from ._screen import screen


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'advisor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
