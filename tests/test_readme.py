"""README.md says only what runs (issue 16): every fenced shell command of the README runs, in
README order, from a folder laid out like the repository root (a copy of `examples/`), and exits
0. Commands that install packages, run the test suite itself, need a terminal or a running
server are skipped, each with its reason; the list of public names matches `advisor.__all__`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^```(sh|bash|shell)\n(.*?)^```", re.M | re.S)

# Why a command is not run here; the first rule a command matches decides.
SKIPS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^(python3? -m venv|\. \.venv/bin/activate|(python -m )?pip install)"),
        "sets up the environment this test already runs in",
    ),
    (re.compile(r"^python -m pytest"), "is the test suite itself"),
    (
        re.compile(r"^(advisor serve|curl )"),
        "needs a running server (tests/test_server.py covers the service)",
    ),
    (
        re.compile(r"^advisor ask(?!.*< /dev/null)"),
        "needs a terminal to answer the questions (tests/test_ask.py drives it)",
    ),
]


def readme_commands(text: str) -> list[str]:
    """Give the README's shell commands in order: one per line (a trailing backslash joins the
    next line), `&&` chains split into their commands, blank lines dropped."""
    out: list[str] = []
    for m in FENCE.finditer(text):
        body = m.group(2).replace("\\\n", " ")
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out += [part.strip() for part in line.split(" && ")]
    return out


def skip_reason(command: str) -> str | None:
    """Give why `command` is not run here, or None to run it."""
    for pattern, reason in SKIPS:
        if pattern.search(command):
            return reason
    return None


def test_readme_commands_are_found_and_classified():
    commands = readme_commands(README.read_text())
    assert len(commands) >= 30
    skipped = [c for c in commands if skip_reason(c)]
    run = [c for c in commands if not skip_reason(c)]
    # Only the kinds of command named in SKIPS are skipped: every other one runs.
    assert all(
        c.split()[0] in ("python3", ".", "pip", "python", "advisor", "curl") for c in skipped
    ), skipped
    assert len(run) >= 25
    assert "advisor recommend examples/realtime-voice-agent.yaml -o report.html" in run


def test_every_readme_command_runs_from_the_repository_root(tmp_path):
    exe = Path(sys.executable).with_name("advisor")
    if not exe.exists():
        pytest.skip("the advisor command is not installed next to this Python")
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_") and k != "VIRTUAL_ENV"
    }
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    failures = []
    ran = 0
    done: set[str] = set()
    for command in readme_commands(README.read_text()):
        if skip_reason(command):
            continue
        # A command the README shows twice (with another comment) runs once: same folder,
        # same files, same result.
        bare = command.split("  #", 1)[0].strip()
        if bare in done:
            continue
        done.add(bare)
        p = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        ran += 1
        if p.returncode != 0:
            failures.append(f"{command}\n  exit {p.returncode}: {p.stderr.strip()[-600:]}")
    assert not failures, "\n".join(failures)
    assert ran >= 20
    # What the commands said they write is there (a few spot checks).
    assert (work / "adr" / "0007-arch.md").read_text().startswith("---\nstatus: proposed")
    assert (work / "loan.yaml").exists() and (work / "loan.html").exists()
    assert (work / "port.html").exists() and (work / "results.csv").exists()


def test_the_public_names_listed_are_advisor_all():
    import advisor

    text = " ".join(README.read_text().split())
    m = re.search(r"The public names are exactly `advisor.__all__`: (.*?)\(`tests/", text)
    assert m, "README lists the public names"
    listed = set(re.findall(r"`([A-Za-z_]+)`", m.group(1)))
    assert listed == set(advisor.__all__)


def test_the_shapley_game_size_stated_is_the_engines():
    # The README's account of the exact game names its player and coalition counts; adding a
    # player to the registry must change that sentence too.
    from advisor._attributions import PLAYERS

    text = " ".join(README.read_text().split())
    k = len(PLAYERS)
    assert f"the game has {k} players and 2^{k} coalitions" in text
    assert f"all {2**k:,} values in one vectorised call" in text
    assert f"rows instead of 2^{k} x" in text
