"""Model-selection decision advisor: end-to-end, modular or hybrid, and why.

The public API (everything else is private):

    from advisor import recommend, load_requirements, render
    assessment = recommend(load_requirements("examples/credit-scoring.yaml"))
    html = render(assessment, format="html")

Names are imported lazily so that `advisor --help` starts without numpy or shap.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "AdvisorError",
    "Assessment",
    "InputError",
    "OutputError",
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
]

_LAZY = {
    "AdvisorError": "errors",
    "InputError": "errors",
    "OutputError": "errors",
    "RulePackError": "errors",
    "Problem": "errors",
    "UsageError": "errors",
    "Assessment": "assessment",
    "Requirements": "requirements",
    "RulePack": "rulepack",
    "load_requirements": "api",
    "load_rulepack": "api",
    "recommend": "api",
    "recommend_many": "many",
    "render": "render",
}

if TYPE_CHECKING:
    from .api import load_requirements, load_rulepack, recommend
    from .assessment import Assessment
    from .errors import (
        AdvisorError,
        InputError,
        OutputError,
        Problem,
        RulePackError,
        UsageError,
    )
    from .many import recommend_many
    from .render import render
    from .requirements import Requirements
    from .rulepack import RulePack


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


class _Package(types.ModuleType):
    """This package's module type: importing a submodule that shares a public name (the
    `advisor.render` module and the `render` function) never replaces the public name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable through sys.modules and `from .x import`
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
