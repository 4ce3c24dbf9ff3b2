"""Shared fixtures. Tests run shap's exact explainer interpreted (no 8 s numba compile)."""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="session")
def pack():
    """The bundled default rule pack."""
    from advisor import load_rulepack

    return load_rulepack()


def profile(**over):
    """Give a minimal valid requirements mapping, with nested overrides by section."""
    base = {
        "name": "test",
        "task": {"modality": "text"},
        "data": {"paired_examples": 100000},
        "latency": {"budget_ms": 300},
        "regulation": {"criticality": "non_critical"},
    }
    for section, values in over.items():
        if isinstance(values, dict):
            base.setdefault(section, {}).update(values)
        else:
            base[section] = values
    return base
