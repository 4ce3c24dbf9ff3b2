"""Shared fixtures. The tests' shap oracle runs interpreted (no 8 s numba compile)."""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# Hypothesis profiles for the property and fuzz suites (tests/strategies.py `examples`), registered
# before pytest configures hypothesis so that `--hypothesis-profile=NAME` works too.
#  - "ci" (the default): derandomised. Each property draws the same examples on every run and
#    every machine, so CI is never green or red by luck and a red run reproduces as it is;
#    2,000 examples per property unless a property says otherwise.
#  - "deep" (exploration: `ADVISOR_HYPOTHESIS_PROFILE=deep python -m pytest tests/test_fuzz.py`):
#    random seeds, 25x the examples, failures saved in .hypothesis/ and replayed first. What it
#    finds is pinned with @example or as a file under tests/data/hostile/, so "ci" keeps it.
from hypothesis import HealthCheck, settings  # noqa: E402

_slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=_slow,
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.register_profile(
    "deep",
    max_examples=50_000,
    deadline=None,
    suppress_health_check=_slow,
    derandomize=False,
    print_blob=True,
)
settings.load_profile(os.environ.get("ADVISOR_HYPOTHESIS_PROFILE", "ci"))


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


class Result:
    """What a run of the CLI gave: exit code, stdout and stderr (and both together)."""

    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr
        self.output = stdout + stderr


def run_cli(args, input=None, env=None) -> Result:
    """Run `advisor ARGS` through `advisor._cli.main.main`, exit codes mapped as a user sees them,
    capturing stdout and stderr (CliRunner's isolation: `input` is stdin, `env` is added)."""
    from click.testing import CliRunner

    from advisor._cli.main import main

    with CliRunner().isolation(input=input, env=env) as (out, err, _):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        else:
            code = 0
        return Result(code, out.getvalue().decode(), err.getvalue().decode())
