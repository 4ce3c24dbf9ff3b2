"""The `advisor rules` commands: `check` a rule pack, `show` the effective pack.

Takes a pack folder; reads its files (and those of the pack it extends), runs `packcheck` and
prints the findings and scenario results (exit 0 when clean, 2 otherwise), or prints the
effective pack after inheritance as YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._errors import Problem, RulePackError
from .._escape import printable
from .common import ENV_RULES, check_parent, make_parent, output_format, rules_option


@click.group(
    "rules",
    epilog="""\b
Examples:
  advisor rules check examples/org-pack-bank    # validate a pack; exit 0 clean, 2 otherwise
  advisor rules show examples/org-pack-bank     # the effective pack after inheritance
""",
)
def rules() -> None:
    """Check and show rule packs (a folder of YAML files; the default is rules/)."""


def _say(line: str) -> None:
    # Findings quote the pack's own keys, ids and text: shown, never obeyed by the terminal.
    click.echo(printable(line, keep="\n"))


def _print_list(label: str, items: list[str]) -> None:
    if items:
        _say(f"  {label}: {', '.join(items)}")


@rules.command(
    "check",
    epilog="""\b
Examples:
  advisor rules check examples/org-pack-bank
  advisor rules check rules/ --samples 200000     # the bundled pack, more profiles
""",
)
@click.argument("folder", metavar="DIR")
@click.option(
    "--samples",
    type=click.IntRange(min=1000),
    default=None,
    metavar="N",
    help="Profiles sampled for the reach and contradiction checks (default 60000).",
)
def check(folder: str, samples: int | None) -> None:
    """Validate the rule pack in DIR and run its scenarios (exit 0 clean, 2 otherwise).

    \b
    Reports schema errors (file, rule id, field), conditions on unknown fields, duplicate ids,
    references to undefined evidence or advice, rules that never fire and pairs of rules that
    undo each other on the same region (both found by sampling the input space), profiles with
    every option vetoed, then each scenario's pass or fail.
    """
    from .._packcheck import SAMPLES, Finding, check_pack
    from .._resources import parent_documents, read_pack_documents

    path = Path(folder)
    docs = read_pack_documents(path)
    try:
        parent = parent_documents(docs, path)
    except RulePackError as e:
        for line in e.problems:
            _say(f"problem: {line}")
        raise RulePackError(Problem(folder, "", _count(len(e.details)))) from None
    report = check_pack(docs, folder, parent, samples=samples or SAMPLES)
    pack = report.pack
    if pack is not None:
        ext = f", extends {pack.extends}" if pack.extends else ""
        _say(
            f"{folder}: pack {pack.name} {pack.version}{ext}: {len(pack.rules)} rules, "
            f"{len(pack.scenarios)} scenarios"
        )
    else:
        _say(f"{folder}: the pack does not validate")
    if report.inheritance:
        _print_list("replaces", report.inheritance.get("replaced", []))
        _print_list("adds", report.inheritance.get("added", []))
        _print_list("sets", report.inheritance.get("set", []))
    by_kind: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_kind.setdefault(f.kind, []).append(f)
    for f in report.findings:
        _say(f"problem: {f.line()}")
    if pack is not None and not report.sampled:
        # Invalid background profiles: nothing was sampled and no scenario run (packcheck).
        _say("not sampled and no scenario run: the background profiles must be fixed first")
    elif pack is not None:
        _say(
            f"sampled {report.sampled:,} profiles: "
            + (
                "every rule can fire"
                if "never-fires" not in by_kind
                else f"{len(by_kind['never-fires'])} rule(s) or pattern(s) never fire"
            )
            + "; "
            + (
                "no contradictory rules"
                if "contradiction" not in by_kind
                else f"{len(by_kind['contradiction'])} contradictory pair(s)"
            )
            + "; "
            + (
                "no profile with every option vetoed"
                if "all-vetoed" not in by_kind
                else "some profiles have every option vetoed"
            )
        )
        passed = sum(1 for s in report.scenarios if s.passed)
        failed = len(report.scenarios) - passed
        primary = sum(1 for s in report.scenarios if s.primary)
        _say(
            f"scenarios: {passed} passed, {failed} failed; {primary} of "
            f"{len(report.scenarios)} give the expected primary answer"
        )
        for s in report.scenarios:
            if s.passed and not s.primary:
                _say(f"  pass  {s.id}: {s.got} (accepted; the expected primary is {s.expect})")
            elif s.passed:
                _say(f"  pass  {s.id}: {s.got}")
            elif s.problem:
                _say(f"  FAIL  {s.id}: invalid input: {s.problem} ({s.file})")
            else:
                _say(f"  FAIL  {s.id}: expected {' or '.join(s.accept)}, got {s.got} ({s.file})")
    problems = len(report.findings) + sum(1 for s in report.scenarios if not s.passed)
    if report.clean:
        _say("clean")
        return
    # The findings are the report (stdout); the error, which the CLI turns into exit 2, sums up.
    raise RulePackError(Problem(folder, "", _count(problems)))


def _count(problems: int) -> str:
    return f"{problems} problem{'s' if problems != 1 else ''}"


def effective_yaml(pack: Any, source: str) -> str:
    """Give the effective pack as YAML: every section after inheritance, `extends` resolved."""
    import yaml

    data = pack.model_dump(mode="json", by_alias=True, exclude_none=True)
    extends = data.pop("extends", None)
    head = [printable(f"# Effective rule pack {pack.name} {pack.version} from {source}")]
    if extends:
        head.append(
            printable(f"# (extends {extends}; inheritance resolved: this file stands alone)")
        )
    head.append(f"# sha256 {pack.sha256()}")
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body


@rules.command(
    "show",
    epilog="""\b
Examples:
  advisor rules show                              # the bundled pack (or $ADVISOR_RULES)
  advisor rules show examples/org-pack-bank > effective.yaml
""",
)
@click.argument("folder", metavar="[DIR]", required=False, envvar=ENV_RULES)
def show(folder: str | None) -> None:
    """Print the effective rule pack in DIR (default: $ADVISOR_RULES, else the bundled pack)
    as YAML."""
    from .._api import load_rulepack
    from .._resources import default_rules_dir

    pack = load_rulepack(folder)
    click.echo(effective_yaml(pack, folder or str(default_rules_dir())), nl=False)


def _printable(text: str) -> str:
    # Labelled ids come from the user's file: never let them drive the terminal.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def backtest_text(bt: Any, source: str, pack: Any) -> str:
    """Give the back-test as the text `advisor rules backtest` prints."""
    from .._fields import OPTIONS

    n = bt.cases
    ok = round(bt.accepted * n)
    first = round(bt.primary * n)
    lines = [
        f"{_printable(source)}: {n} labelled cases, rule pack {pack.name} {pack.version}",
        f"accepted: {_pct(bt.accepted)} ({ok}/{n})   primary: {_pct(bt.primary)} ({first}/{n})"
        f"   unsafe answers: {bt.unsafe}",
        "answer mix: " + ", ".join(f"{o} {_pct(bt.mix[o])}" for o in OPTIONS),
    ]
    for kind, k in bt.by_kind.items():
        lines.append(
            f"  {_printable(kind)}: {int(k['cases'])} cases, accepted "
            f"{_pct(k['accepted'])}, primary {_pct(k['primary'])}"
        )
    lines.append("confusion (rows: expected primary; columns: the pack's answer):")
    lines.append("  " + " " * 12 + "".join(f"{o:>12}" for o in OPTIONS))
    for o in OPTIONS:
        lines.append(f"  {o:<12}" + "".join(f"{bt.confusion[o][g]:>12}" for g in OPTIONS))
    lines.append(
        f"confidence: Brier score {bt.brier:.3f} (0 is perfect; as a forecast that "
        "the answer is accepted)"
    )
    for b in bt.reliability:
        lines.append(
            f"  confidence {b.low:.2f}-{b.high:.2f}: {b.count} answers, mean "
            f"{b.mean_confidence:.2f}, accepted {_pct(b.accepted_share)}, primary "
            f"{_pct(b.primary_share)}"
        )
    if bt.disagreements:
        lines.append(f"disagreements with the primary answer ({len(bt.disagreements)}):")
    for r in bt.disagreements:
        mark = "not accepted" if not r.accepted else "accepted"
        lines.append(
            f"  {_printable(r.id)}: expected {r.accept[0]} (accepts {', '.join(r.accept)}), "
            f"got {r.got} at {_pct(r.confidence)} ({mark}); rules: "
            + (", ".join(_printable(x) for x in r.rules_fired) or "none")
        )
    return "\n".join(lines) + "\n"


@rules.command(
    "backtest",
    epilog="""\b
Examples:
  advisor rules backtest rules/precedents-labelled.yaml
  advisor rules backtest my-adrs-labelled.yaml --rules my-pack -o backtest.json
""",
)
@click.argument("labelled", metavar="LABELLED.yaml")
@rules_option(help="The rule pack to test (default: $ADVISOR_RULES, else the bundled pack).")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default=None,
    help="Also write the full back-test as JSON to FILE (.json; missing folders are created).",
)
def backtest_cmd(labelled: str, rules_dir: str | None, output: str | None) -> None:
    """Run a rule pack over labelled decisions and report where it and the reviewers part.

    \b
    LABELLED.yaml holds a list `labelled:` of entries, each with an id, `accept` (the answers a
    reviewer accepts, the expected primary first), a `source` and an `input` requirements
    profile. Prints agreement (accepted, primary), the answer mix, a confusion matrix, the
    reliability of the stated confidence (with the Brier score) and every disagreement with the
    rules that fired.

    """
    from .._api import load_rulepack, read_limited, recommend
    from .._backtest import backtest, parse_labelled
    from .._loading import parse_text
    from .._output import check_target, write_atomic

    if output:
        output_format(output, None, ("json",), "json")  # an unknown suffix fails first
        check_parent(Path(output))  # its folders can be made (or say why not)
        check_target(Path(output), [labelled, rules_dir])  # before any work: never over an input
    pack = load_rulepack(rules_dir)
    path = Path(labelled)
    from .._errors import InputError

    try:
        doc = parse_text(read_limited(path), labelled)
    except ValueError as e:
        raise InputError(f"{labelled}: {e}") from None
    cases = parse_labelled(doc, labelled)
    bt = backtest(cases, pack, lambda req, p: recommend(req, rulepack=p, explain=False))
    click.echo(backtest_text(bt, labelled, pack), nl=False)
    if output:
        make_parent(Path(output))
        write_atomic(Path(output), bt.model_dump_json(indent=2) + "\n")
