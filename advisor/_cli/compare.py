"""`advisor compare OLD NEW`: what changed between two assessments, and why.

Takes two files, each either a requirements file (YAML or JSON, assessed here with the rule
pack) or a JSON assessment written by `advisor recommend --format json`; gives the comparison as
text (default), HTML or JSON, on stdout or atomically into -o. The comparison itself is pure
(`advisor._compare`); this module only reads, assesses and writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._errors import InputError
from .common import check_parent, output_format, rules_option


def _looks_like_assessment(doc: Any) -> bool:
    return isinstance(doc, dict) and "recommendation" in doc and "advisor_version" in doc


def load_side(path: str, pack: Any) -> Any:
    """Give the `Assessment` for one side: read as an assessment, or assessed from requirements.

    Raises:
        InputError: unreadable, invalid, or an assessment this version cannot read.
    """
    from pydantic import ValidationError

    from .._api import parse_requirements, read_limited
    from .._assessment import Assessment
    from .._engine import assess
    from .._loading import parse_text, validation_problems

    if path == "-":
        data = _read_stdin()
        path = "<stdin>"
    else:
        data = read_limited(Path(path))
    try:
        doc = parse_text(data, path)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    if _looks_like_assessment(doc):
        from .._compare import assessment_problems

        try:
            assessment = Assessment.model_validate(doc)
        except ValidationError as e:
            lines = validation_problems(e, path, Assessment)
            raise InputError(
                [
                    f"{path}: not an assessment this advisor can read (written by advisor "
                    f"{doc.get('advisor_version')}?)"
                ]
                + lines[:5]
            ) from None
        problems = assessment_problems(assessment, path)
        if problems:
            raise InputError(problems)
        return assessment
    req = parse_requirements(doc, path)
    return assess(req, pack, given=doc, explain=False)  # attributions are not compared


def _read_stdin() -> bytes:
    import sys

    from .._loading import MAX_BYTES

    data = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"<stdin>: input is larger than {MAX_BYTES // 1_000_000} MB")
    return data


@click.command(
    epilog="""\b
Examples:
  advisor recommend examples/credit-scoring.yaml --format json -o before.json
  advisor compare before.json examples/revised/credit-scoring.yaml
  advisor compare before.json examples/revised/credit-scoring.yaml -o cmp.html
  cat before.json | advisor compare - examples/revised/credit-scoring.yaml
"""
)
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Write here (atomically), creating missing folders; the format follows the suffix "
    "(.html, .json, .txt; any other suffix needs --format).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html", "json"]),
    help="Output format (default: from the -o suffix, else text).",
)
@rules_option()
def compare(old: str, new: str, output: str | None, fmt: str | None, rules_dir: str | None) -> None:
    """Compare two requirement files or two JSON assessments: inputs, scores, answer, and why.

    OLD or NEW may be - (stdin), not both.
    """
    from .._api import load_rulepack
    from .._compare import compare as compare_assessments
    from .._escape import printable
    from .._output import check_target
    from .._render import render_comparison
    from .common import emit

    fmt = output_format(output, fmt, ("text", "html", "json"), "text")
    if old == "-" and new == "-":
        raise click.UsageError("only one of OLD and NEW can be - (stdin)")
    inputs: list[str | Path | None] = [old, new, rules_dir]
    if output and output != "-":
        check_parent(Path(output))  # its folders can be made (or say why not)
        check_target(Path(output), inputs)  # before any work: never over an input
    pack = load_rulepack(rules_dir)
    before = load_side(old, pack)
    after = load_side(new, pack)
    result = compare_assessments(before, after, pack)
    emit(render_comparison(result, fmt), output, inputs)
    if output and output != "-":
        click.echo(printable(result.summary + f" -> {output}"), err=True)
