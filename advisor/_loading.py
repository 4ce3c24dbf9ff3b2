"""Reading YAML/JSON safely and turning validation errors into one line per problem.

Takes bytes or text (the CLI reads files; this module never opens them) and gives plain Python
data, refusing what a requirements file or rule pack never needs: python tags, aliases (YAML
bombs), duplicate keys, deep nesting, non-finite numbers.
"""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ._errors import MAX_PROBLEMS, Problem, capped

MAX_BYTES = 1_000_000
MAX_DEPTH = 32


class ParseError(ValueError):
    """A file that cannot be read as data: where (`line 3`, a field path, or "") and what.

    A ValueError whose text is `where: message`, as `parse_text` always raised; callers that
    build a `Problem` take `field` and `message` rather than splitting the text.
    """

    def __init__(self, message: str, field: str = "", loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.loc = field, message, loc

    def problem(self, source: str) -> Problem:
        """Give this error as the `Problem` of input `source`."""
        return Problem(source, self.field, self.message, self.loc)


class _Refused(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Strict:
    """The constructor side of the strict loaders: no duplicate keys, plain data only."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if not isinstance(node, yaml.MappingNode):  # `!!map [1, 2]`: a tag on the wrong node
            raise _Refused(_misfit(node), node.start_mark.line + 1)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise _Refused(
                    "a mapping key must be a plain value", key_node.start_mark.line + 1
                ) from None
            if key in seen:
                raise _Refused(f"duplicate key '{key}'", key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (ValueError, OverflowError) as e:  # !!int 9z, a 5,000-digit number...
            if not isinstance(node, yaml.ScalarNode):
                raise _Refused(_misfit(node), node.start_mark.line + 1) from None
            reason = "too many digits" if "digits" in str(e) else str(e)
            value = str(node.value)
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise _Refused(f"cannot read {shown!r} ({reason})", node.start_mark.line + 1) from None
        except (KeyError, TypeError, AttributeError, IndexError):
            # A standard tag on a value it cannot hold (`!!bool maybe`, `!!float [1]`): PyYAML's
            # constructors assume the value fits the tag.
            raise _Refused(_misfit(node), node.start_mark.line + 1) from None
        except yaml.constructor.ConstructorError as e:
            problem = e.problem or ""
            if "could not determine a constructor" in problem:
                raise  # an unknown tag: parse_text names it
            line = (e.problem_mark.line if e.problem_mark else node.start_mark.line) + 1
            raise _Refused(
                _misfit(node) if "node" in problem else f"cannot read this value ({problem})", line
            ) from None

    def construct_scalar(self, node: Any) -> Any:
        if not isinstance(node, yaml.ScalarNode):  # `!!str [a]`: a tag on the wrong node
            raise _Refused(_misfit(node), node.start_mark.line + 1)
        return super().construct_scalar(node)  # type: ignore[misc]

    def construct_sequence(self, node: Any, deep: bool = False) -> Any:
        if not isinstance(node, yaml.SequenceNode):  # `!!seq {a: 1}`
            raise _Refused(_misfit(node), node.start_mark.line + 1)
        return super().construct_sequence(node, deep=deep)  # type: ignore[misc]

    def construct_plain_timestamp(self, node: Any) -> str:
        # An unquoted date (`2024-05-01`) is kept as the text it is: the formats have no dates.
        return str(self.construct_scalar(node))


def _misfit(node: Any) -> str:
    kind = {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "")
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    if kind:
        return f"the YAML tag {tag} does not fit {kind}"
    value = str(node.value)
    shown = value if len(value) <= 40 else value[:37] + "..."
    return f"cannot read {shown!r} as {tag}"


class _StrictLoader(_Strict, yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys or deep nesting (pure Python: exact messages)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused("YAML aliases (*name) are not allowed", event.start_mark.line + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml, when PyYAML was built with it: about ten times faster on a rule pack. It composes in
# C with no hook per node, so `_fast_yaml` checks aliases and depth on the event stream first.
_CLoader: Any = getattr(yaml, "CSafeLoader", None)
_FastLoader: Any = type("_FastLoader", (_Strict, _CLoader), {}) if _CLoader else None

# Only plain data: no sets (their order changes from run to run), ordered maps, pairs or binary;
# dates stay text.
_CONSTRUCTORS = {
    tag: fn
    for tag, fn in yaml.SafeLoader.yaml_constructors.items()
    if tag is None or tag.rsplit(":", 1)[-1] not in ("set", "omap", "pairs", "binary")
}
_CONSTRUCTORS["tag:yaml.org,2002:timestamp"] = _Strict.construct_plain_timestamp
for _loader in (_StrictLoader, _FastLoader):
    if _loader is not None:
        _loader.yaml_constructors = dict(_CONSTRUCTORS)

_NESTING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_UNNESTING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _fast_yaml(text: str) -> Any:
    """Load with libyaml, or give `_NOT_FAST` for anything the pure loader should judge.

    Any refusal or error (aliases, deep nesting, bad syntax, duplicate keys...) goes back to the
    pure-Python loader, which refuses the same input with its exact message and line. Aliases
    and depth are checked on libyaml's event stream before it composes (its composer recurses
    in C, with no depth limit of its own).
    """
    if _FastLoader is None:
        return _NOT_FAST
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_CLoader):
            if isinstance(event, _NESTING):
                depth += 1
                if depth > MAX_DEPTH:
                    return _NOT_FAST
            elif isinstance(event, _UNNESTING):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                return _NOT_FAST
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a CSafeLoader subclass
    except Exception:  # noqa: BLE001 - whatever libyaml objects to, the pure loader words it
        return _NOT_FAST


_NOT_FAST = object()


def parse_text(
    data: bytes | str, source: str, *, max_bytes: int = MAX_BYTES, bundled: bool = False
) -> Any:
    """Parse YAML or JSON text into Python data.

    Args:
        data: the file's bytes (or text).
        source: the name to put in messages (a file path or `<stdin>`).
        max_bytes: refuse larger input.
        bundled: the text is one of the advisor's own files (the default rule pack): read it
            with libyaml when available. libyaml accepts a little more than the pure loader
            (a tab inside a plain scalar, for one), so the user's files always get the pure
            loader; a test checks that both read the bundled files the same.

    Returns:
        The parsed document.

    Raises:
        ValueError: with a one-line message (without the source) on any problem.
    """
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise ParseError(f"file is larger than {max_bytes // 1_000_000} MB")
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise ParseError("UTF-16 text; save the file as UTF-8")
        if b"\x00" in data:
            raise ParseError("not a text file (contains NUL bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise ParseError(f"not valid UTF-8 (byte {e.start})", f"line {line}") from None
    else:
        text = data
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise ParseError(f"file is larger than {max_bytes // 1_000_000} MB")
    if not text.strip():
        raise ParseError("file is empty")
    doc = _json_document(text)
    if doc is _NOT_JSON:
        doc = _fast_yaml(text) if bundled else _NOT_FAST
    if doc is _NOT_JSON or doc is _NOT_FAST:
        doc = _pure_yaml(text)
    problem = first_bad_value(doc)
    if problem is not None:
        raise ParseError(problem[2], problem[0], problem[1])
    return doc


def _pure_yaml(text: str) -> Any:
    # The strict pure-Python loader, every refusal turned into a ParseError naming the line.
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as e:
        raise ParseError(e.message, f"line {e.line}" if e.line else "") from None
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}" if mark else ""
        tag = (e.problem or "").replace("could not determine a constructor for the tag", "tag")
        raise ParseError(
            f"unsupported YAML {tag.strip()} (only plain data is allowed)", where
        ) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, str) else chr(e.character)
        raise ParseError(
            f"contains U+{ord(char):04X}, a character YAML text cannot hold", f"line {line}"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "cannot be parsed"
        raise ParseError(f"not valid YAML or JSON ({problem})", where) from None
    except RecursionError:
        raise ParseError(f"nested deeper than {MAX_DEPTH} levels") from None


_NOT_JSON = object()


def _json_document(text: str) -> Any:
    """Parse a JSON document with JSON's own rules (YAML 1.1 reads `1e-05` as a string).

    Gives `_NOT_JSON` for anything that is not plain, clean JSON (YAML flow style, broken JSON,
    duplicate keys, deep nesting): the YAML parser then reads it or says what is wrong, and where.
    NaN and Infinity are parsed so that `first_bad_value` names the field that holds them.
    """
    if text.lstrip()[:1] not in ("{", "["):
        return _NOT_JSON

    try:
        doc = json.loads(text, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError):
        return _NOT_JSON
    return doc if _depth(doc) <= MAX_DEPTH else _NOT_JSON


def unique_keys(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads` object hook: give the mapping, or raise ValueError on a duplicate key."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (numbers must be finite)")


def strict_json(text: str) -> Any:
    """Parse JSON refusing duplicate keys, NaN and Infinity.

    Raises:
        ValueError: `json.JSONDecodeError` for syntax, plain ValueError for the refusals.
    """
    return json.loads(text, object_pairs_hook=unique_keys, parse_constant=_no_constant)


def _depth(doc: Any) -> int:
    stack, deepest = [(doc, 1)], 0
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def text_ok(s: str) -> bool:
    """Tell whether `s` is text UTF-8 can hold (no lone surrogates)."""
    # Lone surrogates (a JSON "\\ud800", undecodable bytes read with surrogateescape) are not
    # text: no UTF-8 output can hold them, so the HTML and Markdown reports would fail later.
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_key(key: object) -> str:
    """Give a key as it may appear in a field path: lone surrogates escaped (`\\ud800`)."""
    text = str(key)
    return text if text_ok(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_path(loc: tuple[Any, ...]) -> str:
    """Give a location (keys and list positions) as a dotted path: `data.regimes[2]`."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int) and not isinstance(p, bool):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + shown_key(p))
    return "".join(parts)


def first_bad_value(
    doc: Any, max_depth: int = MAX_DEPTH
) -> tuple[str, tuple[Any, ...], str] | None:
    """Find the first value no input may hold, in document order.

    Refused: non-finite numbers (NaN, infinities, 1e999), text with lone surrogates (in values
    and keys), and nesting deeper than `max_depth`. Iterative, so a deep mapping handed to the
    API cannot exhaust the stack; linear in the size of the document.

    Returns:
        (field path, location, message) of the first problem, or None.
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) >= max_depth and isinstance(node, dict | list):
            return field_path(loc), loc, f"nested deeper than {max_depth} levels"
        if isinstance(node, float):
            if not math.isfinite(node):
                return field_path(loc) or "value", loc, f"must be a finite number (got {node})"
        elif isinstance(node, str):
            if not text_ok(node):
                return (
                    field_path(loc) or "value",
                    loc,
                    "is not valid Unicode text (it holds a lone surrogate, such as \\ud800)",
                )
        elif isinstance(node, dict):
            children = []
            for k, v in node.items():
                if not isinstance(k, str):  # `1:`, `true:` or `~:` in YAML; no format has them
                    where = (*loc, str(k))
                    return (
                        field_path(where),
                        where,
                        f"a key must be text (got {type(k).__name__} {k!r}; quote it)",
                    )
                if not text_ok(k):
                    where = (*loc, k)
                    return (
                        field_path(where),
                        where,
                        "this key is not valid Unicode text (it holds a lone surrogate)",
                    )
                children.append((v, (*loc, k)))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            if all(type(v) is str for v in node):
                joined = "".join(node)  # a long list of names: checked at once
                if joined.isascii() or text_ok(joined):
                    continue
            stack.extend(reversed([(v, (*loc, i)) for i, v in enumerate(node)]))
    return None


_BRANCHES = ("float", "Range", "function-after[_ordered(), Range]")


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # Union branch names say nothing to a person.
    return tuple(p for p in loc if isinstance(p, int) or p not in _BRANCHES)


def _loc(loc: tuple[Any, ...]) -> str:
    return field_path(_clean_loc(loc)) or "(top level)"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for p in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or p not in fields:
            return []
        current = fields[p].annotation
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def validation_details(
    err: ValidationError, source: str, model: type[BaseModel], limit: int = MAX_PROBLEMS
) -> list[Problem]:
    """Turn a pydantic ValidationError into one `Problem` per problem (at most `limit`, and a
    last one counting the rest), in linear time however many errors there are."""
    entries: dict[tuple[str, str], tuple[tuple[str | int, ...], str, tuple[Any, ...] | None]] = {}
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        kind = e["type"]
        unknown: tuple[Any, ...] | None = None
        if kind == "extra_forbidden":
            # The "did you mean" hint is worked out below, for the problems reported only: a
            # close-match search per key is the costly part of 16,000 unknown keys.
            msg, unknown = "unknown field", loc
        elif kind == "missing":
            msg = "required field is missing"
        elif kind in ("enum", "literal_error"):
            expected = e.get("ctx", {}).get("expected", "")
            msg = f"must be one of {expected} (got {_shown(e.get('input'))})"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            msg = f"must be a mapping (got {type(e.get('input')).__name__})"
        elif kind == "value_error":
            msg = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            msg = e["msg"]
            if "input" in e and not isinstance(e["input"], dict | list):
                msg += f" (got {_shown(e['input'])})"
        entries.setdefault((_loc(loc), msg), (_clean_loc(loc), msg, unknown))
    kept = _collapse_union([(path, loc, msg) for (path, msg), (loc, _, _) in entries.items()])
    out = []
    known_at: dict[tuple[Any, ...], list[str]] = {}
    for path, loc, msg in kept[: limit + 1]:
        unknown = entries[(path, msg)][2]
        if unknown is not None:
            msg = _unknown_field(model, unknown, known_at)
        out.append(Problem(source, path, msg, loc))
    more = [Problem(source, path, msg, loc) for path, loc, msg in kept[limit + 1 :]]
    return capped(out + more, limit)


def _unknown_field(
    model: type[BaseModel], loc: tuple[Any, ...], known_at: dict[tuple[Any, ...], list[str]]
) -> str:
    name = shown_key(loc[-1])
    parent = loc[:-1]
    if parent not in known_at:
        known_at[parent] = _fields_at(model, parent)
    known = known_at[parent]
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if len(name) < 99 else []
    msg = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    if known and not hint:
        msg += f"; expected one of: {', '.join(known)}"
    return msg


def validation_problems(err: ValidationError, source: str, model: type[BaseModel]) -> list[str]:
    """Turn a pydantic ValidationError into `source: field.path: message` lines."""
    return [p.line() for p in validation_details(err, source, model)]


def _shown(value: Any) -> str:
    # The input as it came, cut short: a 5,000-character description is not worth repeating.
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + f"... ({len(str(value))} characters)"


_BRANCH_NOISE = ("Input should be a valid number", "must be a mapping (got")


def _is_branch_noise(msg: str) -> bool:
    # The float branch's bare line (its input was a mapping or list, so no "(got ...)"), or the
    # Range branch's "must be a mapping": a line naming the value is specific.
    return msg == _BRANCH_NOISE[0] or msg.startswith(_BRANCH_NOISE[1])


def _collapse_union(
    entries: list[tuple[str, tuple[str | int, ...], str]],
) -> list[tuple[str, tuple[str | int, ...], str]]:
    # A number-or-range field that fails both branches reports once per branch ("a valid number",
    # "a mapping"); keep the most specific line: a branch's generic line goes when the field or a
    # part of it (`.low`) has a specific one, or when the field already has a line. Linear: the
    # paths with a specific line, and every dotted prefix of them, go into one set first.
    generic = _is_branch_noise
    specific: set[str] = set()
    for path, _, msg in entries:
        if not generic(msg):
            cut = path.find(".")
            while cut != -1:
                specific.add(path[:cut])
                cut = path.find(".", cut + 1)
            specific.add(path)
    out = []
    kept: set[str] = set()
    for path, loc, msg in entries:
        if generic(msg) and (path in specific or path in kept):
            continue
        kept.add(path)
        out.append((path, loc, msg))
    return out
