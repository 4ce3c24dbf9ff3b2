"""The command line: `advisor recommend`, `advisor schema` and friends.

Takes argv; reads files, calls the pure core, writes files atomically and maps outcomes to exit
codes: 0 ok, 2 bad input or usage (one line per problem on stderr), 1 a bug. Heavy modules
(numpy, shap, scikit-learn) are imported only inside the commands that need them, so `--help`
and `schema` start fast.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .._errors import AdvisorError
from .._escape import printable
from .._version import __version__
from .ask import ask
from .batch import batch
from .common import check_parent, echo_stdout, emit, report_format, rules_option, warn
from .compare import compare
from .probe import probe, read_probe
from .rules import rules
from .serve import serve

EXIT_OK, EXIT_BUG, EXIT_INPUT = 0, 1, 2


def _read_input(file: str) -> tuple[Any, dict[str, Any], str]:
    from .._api import read_limited, read_requirements_bytes
    from .._loading import MAX_BYTES

    if file == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        source = "<stdin>"
        if len(data) > MAX_BYTES:
            raise_input(f"{source}: input is larger than {MAX_BYTES // 1_000_000} MB")
    else:
        source = file
        data = read_limited(Path(file))
    req, doc = read_requirements_bytes(data, source)
    return req, doc, source


def raise_input(line: str) -> NoReturn:
    from .._errors import InputError

    raise InputError(line)


_EXAMPLES = """\b
Examples:
  advisor recommend examples/credit-scoring.yaml -o report.html
  advisor recommend examples/card-fraud.yaml --format md
  advisor ask -o loan.html --answers loan.yaml
  advisor batch examples/portfolio.csv -o results.jsonl --report portfolio.html
  advisor compare before.json examples/revised/credit-scoring.yaml
  advisor schema assessment

\b
Exit codes: 0 success; 2 bad input or usage, or an output that cannot be written (one line per
problem); 1 a bug (ADVISOR_DEBUG=1 shows the traceback); 130 interrupted.
ADVISOR_RULES=DIR sets the default rule pack of every command (--rules takes precedence).
Shell completion (bash): eval "$(_ADVISOR_COMPLETE=bash_source advisor)"
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EXAMPLES)
@click.version_option(__version__, "--version", prog_name="advisor")
def cli() -> None:
    """Recommend end-to-end, modular or hybrid for an AI system, and say why."""


@cli.command(
    epilog="""\b
Examples:
  advisor recommend examples/credit-scoring.yaml -o report.html
  advisor recommend examples/credit-scoring.yaml --format json
  cat examples/card-fraud.yaml | advisor recommend - --format md
  advisor recommend examples/credit-scoring.yaml --format adr -o adr/0007-arch.md
"""
)
@click.argument("file", metavar="FILE|-")
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Write here (atomically), creating missing folders; the format follows the suffix "
    "(.html, .md, .json; any other suffix needs --format).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "md", "adr"]),
    help="Output format (default: from the -o suffix, else json); adr: a MADR decision record.",
)
@rules_option()
@click.option("--no-explain", is_flag=True, help="Skip SHAP attributions and counterfactuals.")
@click.option("--explain-scores", is_flag=True, help="Also attribute each option's own score.")
@click.option(
    "--probe",
    "probe_file",
    metavar="PROBE.json",
    help="Use the figures `advisor probe` measured on your data in place of the priors.",
)
def recommend(
    file: str,
    output: str | None,
    fmt: str | None,
    rules_dir: str | None,
    no_explain: bool,
    explain_scores: bool,
    probe_file: str | None = None,
) -> None:
    """Assess a requirements file (YAML or JSON; - reads stdin).

    Warnings (an unknown regime, a derived requirement...) go to stderr as well as into the
    report.
    """
    fmt = report_format(output, fmt)  # an unknown -o suffix fails before any work
    from .._api import load_rulepack
    from .._engine import assess
    from .._output import check_target
    from .._render import render

    inputs: list[str | Path | None] = [file, probe_file, rules_dir]
    if output and output != "-":
        check_parent(Path(output))  # its folders can be made (or say why not)
        check_target(Path(output), inputs)  # before any work: never over an input
    req, doc, _ = _read_input(file)
    pack = load_rulepack(rules_dir)
    probe = read_probe(probe_file) if probe_file else None
    assessment = assess(
        req,
        pack,
        given=doc,
        explain=not no_explain,
        explain_scores=explain_scores and not no_explain,
        probe=probe,
    )
    text = render(assessment, report_format(output, fmt))
    emit(text, output, inputs)
    warn(assessment.warnings)
    if output and output != "-":
        click.echo(
            f"{assessment.recommendation} (confidence {assessment.confidence:.0%}) -> "
            f"{printable(output)}",
            err=True,
        )


@cli.command(
    epilog="""\b
Examples:
  advisor schema                  # the requirements file (the input)
  advisor schema assessment       # the assessment (--format json, the service's answer)
"""
)
@click.argument(
    "which",
    type=click.Choice(["requirements", "assessment"]),
    default="requirements",
    required=False,
)
@rules_option(
    help="Rule pack folder: its regimes are listed as known (default: $ADVISOR_RULES, else the "
    "bundled pack).",
)
def schema(which: str, rules_dir: str | None) -> None:
    """Print the JSON Schema of the requirements file (default) or of the assessment."""
    from .._api import assessment_schema, load_rulepack, requirements_schema

    if which == "assessment":
        doc = assessment_schema()
    else:
        doc = requirements_schema(load_rulepack(rules_dir) if rules_dir else None)
    echo_stdout(json.dumps(doc, indent=2) + "\n")  # $schema and $id first


for _command in (ask, probe, batch, rules, compare, serve):
    cli.add_command(_command)


def _show_usage_error(e: click.ClickException) -> None:
    # click's own message (usage, "Try --help", the error) quotes the arguments as typed.
    import io

    buf = io.StringIO()
    e.show(file=buf)
    click.echo(printable(buf.getvalue(), keep="\n"), err=True, nl=False)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI and exit with 0, 1 (bug) or 2 (bad input or usage)."""
    try:
        cli.main(args=argv, prog_name="advisor", standalone_mode=False)
        _flush_stdout()
    except AdvisorError as e:
        # Problems quote what the user gave (keys, file names, values): each is made printable,
        # so an escape sequence is shown, not obeyed, and a newline cannot split the line.
        for line in e.problems:
            click.echo(f"error: {printable(line)}", err=True)
        _finish_stdout()
        sys.exit(EXIT_INPUT)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        _show_usage_error(e)
        sys.exit(EXIT_INPUT)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_OK)
    except OSError as e:
        if os.environ.get("ADVISOR_DEBUG"):
            raise_bug(e)
        if e.errno in _ENVIRONMENT_ERRNOS:
            # The machine, not the input or the advisor: a full disk, a failing device.
            _quiet_stdout()
            click.echo(f"error: cannot write ({e.strerror})", err=True)
            sys.exit(EXIT_INPUT)
        if e.filename is None:
            raise_bug(e)
        # The system refused a path the user gave (a name too long, a folder in the way...):
        # bad input, named with the path, whichever check missed it.
        click.echo(f"error: {printable(e.filename)}: {e.strerror or e}", err=True)
        sys.exit(EXIT_INPUT)
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, exit 1
        raise_bug(e)
    sys.exit(EXIT_OK)


# Errors of the machine rather than of the advisor or its input: no space (`> /dev/full`), a
# quota, a file too large for the file system, an I/O error. They exit 2 with one line.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def raise_bug(e: BaseException) -> NoReturn:
    """Report an unexpected exception as a bug (exit 1); with ADVISOR_DEBUG set, re-raise it."""
    if os.environ.get("ADVISOR_DEBUG"):
        raise e
    click.echo(
        f"internal error: {type(e).__name__}: {printable(e)} (a bug; rerun with "
        "ADVISOR_DEBUG=1 for the traceback and please report it)",
        err=True,
    )
    sys.exit(EXIT_BUG)


def _flush_stdout() -> None:
    # Output still buffered is written now, so that a full disk is reported here (exit 2)
    # rather than by the interpreter at exit.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        from .._errors import OutputError

        raise OutputError(f"<stdout>: cannot write ({e.strerror})") from None


def _finish_stdout() -> None:
    # What was written before the error (a batch's result lines) still goes out; if stdout
    # cannot take it (the error may be just that), nothing more is tried.
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _quiet_stdout()


def _quiet_stdout() -> None:
    # After a failed write the interpreter would flush stdout again at exit and complain:
    # point it at /dev/null instead.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
