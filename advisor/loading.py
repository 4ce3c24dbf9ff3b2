"""Reading YAML/JSON safely and turning validation errors into one line per problem.

Takes bytes or text (the CLI reads files; this module never opens them) and gives plain Python
data, refusing what a requirements file or rule pack never needs: python tags, aliases (YAML
bombs), duplicate keys, deep nesting, non-finite numbers.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

MAX_BYTES = 1_000_000
MAX_DEPTH = 32


class _Refused(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys or deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused(
                "YAML aliases (*name) are not allowed", event.start_mark.line + 1
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _Refused(
                    f"nested deeper than {MAX_DEPTH} levels", event.start_mark.line + 1
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise _Refused("a mapping key must be a plain value", key_node.start_mark.line + 1)
            if key in seen:
                raise _Refused(f"duplicate key '{key}'", key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_text(data: bytes | str, source: str, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse YAML or JSON text into Python data.

    Args:
        data: the file's bytes (or text).
        source: the name to put in messages (a file path or `<stdin>`).
        max_bytes: refuse larger input.

    Returns:
        The parsed document.

    Raises:
        ValueError: with a one-line message (without the source) on any problem.
    """
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise ValueError(f"file is larger than {max_bytes // 1_000_000} MB")
        if b"\x00" in data:
            raise ValueError("not a text file (contains NUL bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"not valid UTF-8 (byte {e.start})") from None
    else:
        text = data
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise ValueError(f"file is larger than {max_bytes // 1_000_000} MB")
    if not text.strip():
        raise ValueError("file is empty")
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as e:
        where = f"line {e.line}: " if e.line else ""
        raise ValueError(f"{where}{e.message}") from None
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        tag = (e.problem or "").replace("could not determine a constructor for the tag", "tag")
        raise ValueError(f"{where}unsupported YAML {tag.strip()} (only plain data is allowed)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or "cannot be parsed"
        raise ValueError(f"{where}not valid YAML or JSON ({problem})") from None
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_finite(doc, "")
    return doc


def _check_finite(doc: Any, path: str) -> None:
    if isinstance(doc, float) and not math.isfinite(doc):
        raise ValueError(f"{path or 'value'}: must be a finite number (got {doc})")
    if isinstance(doc, dict):
        for k, v in doc.items():
            _check_finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            _check_finite(v, f"{path}[{i}]")


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in ("float", "Range", "function-after[_ordered(), Range]"):
            continue  # union branch names say nothing to a person
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for p in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or p not in fields:
            return []
        current = fields[p].annotation
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def validation_problems(err: ValidationError, source: str, model: type[BaseModel]) -> list[str]:
    """Turn a pydantic ValidationError into `source: field.path: message` lines."""
    lines: list[str] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            known = _fields_at(model, loc[:-1])
            hint = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            msg = "unknown field" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            if known and not hint:
                msg += f"; expected one of: {', '.join(known)}"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind in ("enum", "literal_error"):
            expected = e.get("ctx", {}).get("expected", "")
            msg = f"must be one of {expected} (got {e.get('input')!r})"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            msg = f"must be a mapping (got {type(e.get('input')).__name__})"
        elif kind == "value_error":
            msg = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            msg = e["msg"]
            if "input" in e and not isinstance(e["input"], dict | list):
                msg += f" (got {e['input']!r})"
        line = f"{source}: {_loc(loc)}: {msg}"
        if line not in lines:
            lines.append(line)
    return _collapse_union(lines)


def _collapse_union(lines: list[str]) -> list[str]:
    # A number-or-range field that fails both branches reports twice; keep the clearest line.
    out: list[str] = []
    seen_fields: dict[str, int] = {}
    for line in lines:
        head = line.rsplit(": ", 1)[0]
        field = head
        for suffix in (".low", ".high"):
            if field.endswith(suffix):
                field = field[: -len(suffix)]
        if "must be a mapping" in line and any(k.startswith(field) for k in seen_fields):
            continue
        if field in seen_fields and "Input should be a valid number" in line:
            continue
        seen_fields[head] = len(out)
        out.append(line)
    return out
