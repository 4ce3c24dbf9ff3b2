"""The command line: `advisor recommend`, `advisor schema` and friends.

Takes argv; reads files, calls the pure core, writes files atomically and maps outcomes to exit
codes: 0 ok, 2 bad input or usage (one line per problem on stderr), 1 a bug. Heavy modules
(numpy, shap, scikit-learn) are imported only inside the commands that need them, so `--help`
and `schema` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from ._version import __version__
from .errors import AdvisorError
from .escape import printable

EXIT_OK, EXIT_BUG, EXIT_INPUT = 0, 1, 2


def _one_shot_shap() -> None:
    # shap's explainers are numba functions: compiling them costs ~8 s per process, far more
    # than the ~30 ms the exact explainer needs interpreted for one assessment. Commands that
    # assess one project turn the JIT off unless the user chose otherwise.
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")


def _read_input(file: str) -> tuple[Any, dict[str, Any], str]:
    from .api import read_limited, read_requirements_bytes
    from .loading import MAX_BYTES

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
    from .errors import InputError

    raise InputError(line)


def _format_for(output: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output:
        suffix = Path(output).suffix.lower()
        return {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}.get(suffix, "json")
    return "json"


def _emit(text: str, output: str | None, inputs: list[str | Path | None]) -> None:
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    from .output import check_target, write_atomic

    target = Path(output)
    check_target(target, inputs)
    write_atomic(target, text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="advisor")
def cli() -> None:
    """Recommend end-to-end, modular or hybrid for an AI system, and say why."""


@cli.command()
@click.argument("file", metavar="FILE|-")
@click.option(
    "-o", "--output", metavar="OUT", help="Write here (atomically); the format follows the suffix."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "md", "adr"]),
    help="Output format (default: from the -o suffix, else json); adr: a MADR decision record.",
)
@click.option(
    "--rules", "rules_dir", metavar="DIR", help="Rule pack folder (default: the bundled pack)."
)
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
    """Assess a requirements file (YAML or JSON; - reads stdin)."""
    _one_shot_shap()
    from .api import load_rulepack
    from .engine import assess
    from .output import check_target
    from .render import render

    inputs: list[str | Path | None] = [file, probe_file, rules_dir]
    if output and output != "-":
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
    text = render(assessment, _format_for(output, fmt))
    _emit(text, output, inputs)
    if output and output != "-":
        click.echo(
            f"{assessment.recommendation} (confidence {assessment.confidence:.0%}) -> "
            f"{printable(output)}",
            err=True,
        )


@cli.command()
@click.option(
    "--rules",
    "rules_dir",
    metavar="DIR",
    help="Rule pack folder: its regimes are listed as known (default: the bundled pack).",
)
def schema(rules_dir: str | None) -> None:
    """Print the JSON Schema of the requirements file."""
    from .api import load_rulepack, requirements_schema

    pack = load_rulepack(rules_dir) if rules_dir else None
    click.echo(json.dumps(requirements_schema(pack), indent=2, sort_keys=True))


from .cli_ask import ask as _ask  # noqa: E402 - the questionnaire lives in its own module

cli.add_command(_ask)

from .cli_probe import probe as _probe  # noqa: E402 - measuring on data lives in its own module
from .cli_probe import read_probe  # noqa: E402

cli.add_command(_probe)

from .cli_batch import batch as _batch  # noqa: E402 - portfolio batches live in their own module

cli.add_command(_batch)

from .cli_rules import rules as _rules  # noqa: E402 - rule pack tools live in their own module

cli.add_command(_rules)

from .cli_compare import compare as _compare  # noqa: E402 - comparisons live in their own module

cli.add_command(_compare)

from .server import serve as _serve  # noqa: E402 - the JSON service lives in its own module

cli.add_command(_serve)


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
    except AdvisorError as e:
        # Problems quote what the user gave (keys, file names, values): each is made printable,
        # so an escape sequence is shown, not obeyed, and a newline cannot split the line.
        for line in e.problems:
            click.echo(f"error: {printable(line)}", err=True)
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
        sys.exit(EXIT_OK)
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, exit 1
        if os.environ.get("ADVISOR_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(e).__name__}: {printable(e)} (a bug; rerun with "
            "ADVISOR_DEBUG=1 for the traceback and please report it)",
            err=True,
        )
        sys.exit(EXIT_BUG)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
