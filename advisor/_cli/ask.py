"""`advisor ask`: the questionnaire in a terminal (issue 4).

Takes argv, a terminal (or none) and optionally an answers file; asks what is unanswered through
`advisor._ask` (the pure questionnaire), then writes the answers file and the report atomically
and prints the recommendation. Ctrl-C, EOF or q at the summary save a draft and exit 130. With
no terminal it asks nothing: unanswered questions are an error (exit 2) naming each field.

numpy, shap and scikit-learn are imported only after the answers are confirmed, so the first
question shows quickly.

Testing hook: the environment variable ADVISOR_ASK_INTERACTIVE=1 makes the command prompt even
when stdin is not a terminal (tests drive it with scripted input; so can `expect`-style tools),
and ADVISOR_ASK_INTERACTIVE=0 makes it behave as without a terminal.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._errors import InputError, OutputError
from .._escape import printable, shell_quote
from .common import check_parent, make_parent, rules_option

if TYPE_CHECKING:
    from .._ask import Session

ENV_INTERACTIVE = "ADVISOR_ASK_INTERACTIVE"
DEFAULT_REPORT = "report.html"
DEFAULT_ANSWERS = "answers.yaml"
EXIT_INTERRUPTED = 130
_DRAFT = re.compile(r"\.draft(-\d+)?$")


def enable_line_editing() -> bool:
    """Load readline where the platform has it, so that `input()` edits lines (arrow keys,
    history, Ctrl-A/E) instead of saving the keys' escape codes into the answer.

    Returns:
        True when readline is active (only on a terminal: it does nothing to piped input).
    """
    if not (sys.stdin is not None and sys.stdin.isatty()):
        return False
    try:
        import readline  # noqa: F401 - importing it is what turns line editing on
    except ImportError:  # Windows without pyreadline, or a Python built without it
        return False
    return True


class TerminalPrompter:
    """The real prompter: input() with readline's line editing on a terminal, and echo."""

    def __init__(self) -> None:
        self.editing = enable_line_editing()

    def say(self, text: str) -> None:
        """Print `text` on stdout, made printable (answers and file names are echoed in it)."""
        click.echo(printable(text, keep="\n"))

    def ask(self, prompt: str) -> str:
        """Read one line; Ctrl-C and EOF become KeyboardInterrupt."""
        try:
            # click.prompt reads the line with input(), which readline (once imported) edits.
            return str(
                click.prompt(
                    printable(prompt, keep="\n"), default="", show_default=False, prompt_suffix=""
                )
            )
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None


def interactive() -> bool:
    """Tell whether to prompt: stdin is a terminal, unless ADVISOR_ASK_INTERACTIVE says 1 or 0."""
    forced = os.environ.get(ENV_INTERACTIVE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):  # closed or replaced by a non-stream
        return False


def answers_target(source: Path | None) -> Path:
    """Give where the confirmed answers go: the --answers file (a draft's final name), else
    answers.yaml."""
    if source is None:
        return Path(DEFAULT_ANSWERS)
    if not source.name or source.is_dir():  # `.`, `..`, `/` or a folder: no file to write
        from .._errors import OutputError, Problem

        raise OutputError(Problem(str(source), "--answers", "is a folder; give a file name"))
    return source.with_name(_DRAFT.sub("", source.stem) + source.suffix)


def draft_path(target: Path, source: Path | None) -> Path:
    """Give where a draft is saved: the draft resumed from, else a draft name not yet taken."""
    if source is not None and _DRAFT.search(source.stem):
        return source
    n = 1
    while True:
        name = f"{target.stem}.draft{'' if n == 1 else f'-{n}'}{target.suffix or '.yaml'}"
        path = target.with_name(name)
        if not path.exists():
            return path
        n += 1


def _command(answers: Path, output: str, rules_dir: str | None) -> str:
    parts = ["advisor", "ask", "--answers", str(answers)]
    if output != DEFAULT_REPORT:
        parts += ["-o", output]
    if rules_dir:
        parts += ["--rules", rules_dir]
    # One line whatever the paths hold (a newline in a file name becomes $'...\n...'), so the
    # command can sit in a comment of the answers file and be pasted into a shell.
    return " ".join(shell_quote(p) for p in parts)


def _check_outputs(report: Path, target: Path, source: Path | None, rules_dir: str | None) -> None:
    from .._output import check_target, final_path, same_file

    if same_file(report, target):
        raise OutputError(f"{report}: the report and the answers file must be different files")

    # The answers file is both read and rewritten (that is its purpose), so only the report
    # and the rule pack are inputs to protect.
    def folder_exists(path: Path) -> bool:
        try:
            return final_path(path).parent.is_dir()
        except OutputError:  # its folder does not exist (yet)
            return False

    for path in (target, report):
        if not folder_exists(path):
            check_parent(path)  # created when the files are written, after the questions
    if folder_exists(report):
        check_target(report, [source, target, rules_dir])
    if folder_exists(target):
        check_target(target, [rules_dir])
    for path in (target, report):
        if not folder_exists(path) or (os.path.exists(path) and not os.path.isfile(path)):
            continue  # made later; or /dev/null or a FIFO: written into, no temporary file
        parent = final_path(path).parent
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{path}: permission denied (folder {parent} is not writable)")


def _replacing(path: Path) -> str:
    return f"{path} (replacing it)" if path.exists() else str(path)


def _save_draft(
    session: Session, target: Path, source: Path | None, output: str, rules_dir: str | None
) -> None:
    from .. import _ask as core
    from .._output import write_atomic

    click.echo("", err=True)
    if not session.answers:
        click.echo("Stopped before any answer: nothing to save.", err=True)
        return
    draft = draft_path(target, source)
    resume = _command(draft, output, rules_dir)
    header = [
        "Draft answers from `advisor ask`: incomplete, not yet a requirements file.",
        f"Resume with: {resume}",
    ]
    text = core.answers_text(session, header, json_format=draft.suffix.lower() == ".json")
    try:
        write_atomic(draft, text)
    except OutputError as e:
        # The draft cannot be written: show it, so that nothing typed is lost.
        click.echo(
            printable(f"error: {e.problems[0]}; your answers so far:\n{text}", keep="\n"), err=True
        )
        return
    n = len(session.answers)
    click.echo(
        f"Stopped. {n} answer{'' if n == 1 else 's'} saved to {printable(draft)}.\n"
        f"Resume with: {resume}",
        err=True,
    )


@click.command(
    epilog="""\b
Examples:
  advisor ask                                   # asks, then writes answers.yaml and report.html
  advisor ask -o loan.html --answers loan.yaml  # answers saved to (and pre-filled from) loan.yaml
  advisor ask --answers loan.yaml --set name=Loans --set data.paired_examples=150k-400k \\
      --set latency.budget_ms=2s --defaults < /dev/null   # no terminal: nothing asked
"""
)
@click.option(
    "-o",
    "--output",
    default=DEFAULT_REPORT,
    show_default=True,
    metavar="OUT",
    help="Write the report here (atomically), creating missing folders; the format follows the "
    "suffix (.html, .md, .json; any other suffix needs --format).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "md", "adr"]),
    help="Report format (default: from the -o suffix).",
)
@click.option(
    "--answers",
    "answers_file",
    metavar="FILE",
    help="Pre-fill from this requirements file or draft, and save the answers to it (a draft "
    "X.draft.yaml saves to X.yaml). A missing FILE starts fresh. Default: write answers.yaml.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Answer a question without a prompt; KEY is the dotted field path, e.g. "
    "latency.budget_ms=50ms. Repeatable.",
)
@click.option(
    "--defaults",
    "use_defaults",
    is_flag=True,
    help="Take the default for every question that has one.",
)
@rules_option()
def ask(
    output: str,
    fmt: str | None,
    answers_file: str | None,
    sets: tuple[str, ...],
    use_defaults: bool,
    rules_dir: str | None,
) -> None:
    """Answer the requirements questionnaire, then write the answers and the report.

    Questions already answered by --answers, --set or --defaults are not asked. At the end a
    summary lets you change any answer before confirming. Ctrl-C saves a draft (exit 130).
    """
    from .. import _ask as core
    from .._api import load_rulepack, parse_requirements, read_limited
    from .._loading import parse_text
    from .._output import write_atomic
    from .common import report_format

    if output == "-":
        raise click.BadParameter(
            "give a file name: the terminal is used for the questions", param_hint="'-o'"
        )
    fmt = report_format(output, fmt)  # an unknown suffix fails before the first question
    report = Path(output)
    source = Path(answers_file) if answers_file else None
    target = answers_target(source)
    _check_outputs(report, target, source, rules_dir)
    pack = load_rulepack(rules_dir)  # before any question: a bad pack fails at once
    qs = core.questions([r.id for r in pack.regimes], {r.id: r.title for r in pack.regimes})
    session = core.Session(qs, floors={r.id: r.explainability_floor for r in pack.regimes})

    invalid: list[str] = []
    loaded = ""
    if source is not None and source.exists():
        try:
            doc = parse_text(read_limited(source), str(source))
        except ValueError as e:
            raise InputError(f"{source}: {e}") from None
        found = core.prefill(doc, str(source), qs)
        session.answers.update(found.answers)
        invalid = found.invalid
        n = len(found.answers)
        loaded = f"{n} answer{'' if n == 1 else 's'} read from {source}."
    elif source is not None:
        loaded = f"{source} does not exist yet: starting fresh."
    session.answers.update(core.parse_sets(sets, qs))
    if use_defaults:
        session.apply_defaults()

    if not interactive():
        # Without a terminal an optional text field (description) simply stays empty: only
        # questions that need an answer, or have a default the user did not take, are missing.
        missing = [
            f"{q.path}: no answer, and no terminal to ask on"
            for q in session.pending()
            if not (q.kind == "text" and not q.required)
        ]
        if invalid or missing:
            hint = "answer with --set KEY=VALUE or --answers FILE"
            if not use_defaults:
                hint += ", or take the defaults with --defaults"
            raise InputError(invalid + missing + [hint])
    else:
        io = TerminalPrompter()
        intro = [
            f"advisor ask: {len(session.pending())} questions. Enter accepts the value in "
            "[brackets]; Ctrl-C stops and keeps a draft.",
        ]
        if loaded:
            intro.append(loaded)
        stale = target.with_name(f"{target.stem}.draft{target.suffix or '.yaml'}")
        if source is None and stale.exists():
            resume = _command(stale, output, rules_dir)
            intro.append(f"An earlier draft exists; to resume it instead: {resume}")
        intro += [f"  ! {line}: asked again below" for line in invalid]
        io.say("\n".join(intro))
        footer = (
            f"Confirming writes the answers to {_replacing(target)} and the report to "
            f"{_replacing(report)}."
        )
        try:
            core.run(session, io, footer)
        except (KeyboardInterrupt, EOFError, core.Stopped):
            _save_draft(session, target, source, output, rules_dir)
            sys.exit(EXIT_INTERRUPTED)

    doc = session.document()
    req = parse_requirements(doc, str(target))
    header = [
        "Requirements written by `advisor ask`. Reuse or revise them with:",
        f"  advisor recommend {shell_quote(target)} -o {shell_quote(output)}",
        f"  {_command(target, output, rules_dir)}",
    ]
    make_parent(target)
    write_atomic(
        target, core.answers_text(session, header, json_format=target.suffix.lower() == ".json")
    )
    if source is not None and source != target and _DRAFT.search(source.stem):
        source.unlink(missing_ok=True)  # the draft is now complete in the answers file
    click.echo(f"\nAnswers saved to {printable(target)}. Assessing...")

    from .._engine import assess
    from .._render import render

    assessment = assess(req, pack, given=doc, explain=True)
    make_parent(report)
    write_atomic(report, render(assessment, fmt))
    _print_result(assessment, report)


def _print_result(assessment: Any, report: Path) -> None:
    import textwrap

    from .._narrative import option_label

    click.echo(
        f"\nRecommendation: {option_label(assessment.recommendation)} "
        f"(confidence {assessment.confidence:.0%})"
    )
    for i, reason in enumerate(assessment.reasons[:3], 1):
        click.echo(
            textwrap.fill(
                printable(reason), 78, initial_indent=f"  {i}. ", subsequent_indent="     "
            )
        )
    worth = [v for v in assessment.value_of_information if v.probability > 0]
    if worth:
        click.echo(
            textwrap.fill(printable("Find out next: " + worth[0].text), 78, subsequent_indent="  ")
        )
    click.echo(f"Report: {printable(report)}")
