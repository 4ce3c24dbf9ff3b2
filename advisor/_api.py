"""The public Python API behind `advisor/__init__.py`.

Takes paths, mappings or models; gives `Requirements`, `RulePack`, `Assessment` and rendered text.
Reading a file here is the one convenience the API adds over the pure core.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ._assessment import Assessment
from ._errors import InputError, Problem
from ._loading import MAX_BYTES, ParseError, first_bad_value, parse_text, validation_details
from ._process import pad_heap
from ._requirements import Requirements
from ._rulepack import RulePack

if TYPE_CHECKING:  # the probe's models load only when a probe is used
    from ._probe import ProbeResult

# The engine's large arrays then reuse the top of the heap instead of faulting fresh pages in
# at every allocation (`_process.pad_heap`; a MALLOC_TOP_PAD_ the user set stands).
pad_heap()


def parse_requirements(doc: Any, source: str) -> Requirements:
    """Validate parsed data as requirements.

    Raises:
        InputError: one line per problem, naming `source` and the field path.
    """
    return _validated(doc, source, parsed=False)


def parse_mapping(doc: Any, source: str) -> tuple[Requirements, dict[str, Any]]:
    """Validate a mapping given to the API as requirements; give the model and a copy of the
    mapping (the Assessment's `input`). Anything else is refused as a file's top level is.

    Raises:
        InputError: one line per problem, naming `source` and the field path.
    """
    given = dict(doc) if isinstance(doc, Mapping) else doc
    return parse_requirements(given, source), given


def _validated(doc: Any, source: str, parsed: bool) -> Requirements:
    # `parsed`: the document comes from `parse_text`, which refused non-finite numbers, lone
    # surrogates and deep nesting already.
    if doc is None:
        raise InputError(Problem(source, "(top level)", "no fields (empty, only comments or null)"))
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else type(doc).__name__
        raise InputError(Problem(source, "(top level)", f"must be a mapping of fields, got {kind}"))
    # What a file's parser refuses, a mapping from the API or the service is refused for too:
    # NaN, lone surrogates, deep nesting.
    bad = None if parsed else first_bad_value(doc)
    if bad is not None:
        raise InputError(Problem(source, bad[0], bad[2], bad[1]))
    try:
        return Requirements.model_validate(doc)
    except ValidationError as e:
        raise InputError(validation_details(e, source, Requirements)) from None


def read_requirements_bytes(data: bytes, source: str) -> tuple[Requirements, dict[str, Any]]:
    """Parse and validate a requirements file's bytes; give the model and the raw mapping."""
    try:
        doc = parse_text(data, source)
    except ParseError as e:
        raise InputError(e.problem(source)) from None
    return _validated(doc, source, parsed=True), doc


def load_requirements(source: str | Path | Mapping[str, Any]) -> Requirements:
    """Load requirements from a YAML/JSON file path or a mapping.

    Args:
        source: a path to a .yaml/.yml/.json file, or a mapping of fields.

    Returns:
        The validated requirements.

    Raises:
        InputError: the file is missing or unreadable, or the content is invalid.
    """
    if isinstance(source, Mapping):
        return parse_requirements(dict(source), "<mapping>")
    path = Path(source)
    return read_requirements_bytes(read_limited(path), str(path))[0]


def read_limited(path: Path, limit: int = MAX_BYTES) -> bytes:
    """Read a file, refusing one over `limit` bytes without reading it all.

    Raises:
        InputError: missing, a folder, unreadable or too large.
    """
    shown = str(path)
    try:
        if path.is_dir():
            raise InputError(Problem(shown, "", "is a folder, not a requirements file"))
        size = path.stat().st_size
        if size > limit:
            raise InputError(
                Problem(shown, "", f"file is larger than {limit // 1_000_000} MB ({size} bytes)")
            )
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError(Problem(shown, "", "file not found")) from None
    except PermissionError:
        raise InputError(Problem(shown, "", "permission denied")) from None
    except ValueError:  # a NUL byte in the name: no file can have it
        raise InputError(Problem(shown, "", "not a valid file name (a NUL byte)")) from None
    except OSError as e:
        raise InputError(Problem(shown, "", f"cannot be read ({e.strerror})")) from None
    if len(data) > limit:
        raise InputError(Problem(shown, "", f"file is larger than {limit // 1_000_000} MB"))
    return data


def load_rulepack(path: str | Path | None = None) -> RulePack:
    """Load a rule pack folder (the bundled default when `path` is None); cached per folder.

    Raises:
        RulePackError: one line per problem, naming the file and the rule or field.
    """
    from ._resources import load_pack_dir

    return load_pack_dir(path)


def recommend(
    requirements: Requirements | Mapping[str, Any],
    *,
    rulepack: RulePack | None = None,
    explain: bool = True,
    explain_scores: bool = False,
    probe: ProbeResult | None = None,
) -> Assessment:
    """Assess a project's requirements.

    Args:
        requirements: a `Requirements` or a mapping of fields.
        rulepack: the rule pack; the bundled default when None.
        explain: compute SHAP attributions and counterfactuals.
        explain_scores: also attribute each option's own score (`score_attributions`).
        probe: a result of `advisor probe` (`ProbeResult`, as `advisor recommend --probe`
            reads from probe.json): its measured fidelity replaces the end-to-end prior.

    Returns:
        The `Assessment`.

    Raises:
        InputError: `requirements` is an invalid mapping, or no mapping at all.
    """
    from ._engine import assess

    given: dict[str, Any] | None = None
    if isinstance(requirements, Requirements):
        req = requirements
    else:
        req, given = parse_mapping(requirements, "<mapping>")
    pack = rulepack if rulepack is not None else load_rulepack()
    return assess(
        req, pack, given=given, explain=explain, explain_scores=explain_scores, probe=probe
    )


#: The JSON Schema dialect of `requirements_schema` and `assessment_schema`, and their ids. An
#: id names the document without claiming a web address (a URN: nothing is fetched from it).
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REQUIREMENTS_SCHEMA_ID = "urn:e2e-advisor:schema:requirements:1"
ASSESSMENT_SCHEMA_ID = "urn:e2e-advisor:schema:assessment"


def requirements_schema(rulepack: RulePack | None = None) -> dict[str, Any]:
    """Give the JSON Schema of the requirements, listing the rule pack's regimes as known.

    Args:
        rulepack: the pack whose regimes `regulation.regimes` lists under `known`; the schema's
            own list (the default pack's) when None.

    Returns:
        The schema, with `$schema` (draft 2020-12) and `$id` first; each field's `examples`
        holds values a requirements file accepts.
    """
    schema = Requirements.model_json_schema()
    if rulepack is not None:
        regimes = schema["$defs"]["Regulation"]["properties"]["regimes"]
        regimes["known"] = [r.id for r in rulepack.regimes]
    return {"$schema": SCHEMA_DIALECT, "$id": REQUIREMENTS_SCHEMA_ID, **schema}


def assessment_schema() -> dict[str, Any]:
    """Give the JSON Schema of an assessment: `advisor recommend --format json`'s output and
    the service's answer."""
    schema = Assessment.model_json_schema(mode="serialization")
    return {"$schema": SCHEMA_DIALECT, "$id": ASSESSMENT_SCHEMA_ID, **schema}
