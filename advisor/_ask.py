"""The questionnaire behind `advisor ask`: one question per requirement field, asked adaptively.

Takes the requirements model's fields (each carries its wording, help, example and unit beside
its definition in `requirements.py`), the answers known so far (from a file, `--set` or
`--defaults`) and a `Prompter` (how to show text and read one line); gives the answers as a flat
mapping of dotted field path -> plain value, the requirements document built from them, and the
answers file's text. Pure: the terminal is injected, so tests feed canned answers. Nothing here
imports click, numpy or the engine, so the first question shows without them.

Interrupts (KeyboardInterrupt, EOFError from the prompter, or `Stopped` when the user quits at
the summary) propagate to the caller; `Session.answers` holds every answer given so far, so the
caller can save a draft.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol, get_args

import yaml
from pydantic import ValidationError

from ._errors import InputError
from ._escape import printable
from ._fields import CONDITION_FIELDS, NUMERIC_FIELDS, get_path, set_path
from ._loading import parse_text, validation_details
from ._narrative import fmt_value
from ._requirements import (
    DEFAULT_EXPLAINABILITY,
    KNOWN_REGIMES,
    Requirements,
    field_info,
    field_paths,
)
from ._units import parse_number_or_range

Kind = Literal["text", "choice", "bool", "number", "list"]
WIDTH = 78
_INDENT = " " * 7


class Prompter(Protocol):
    """How the questionnaire talks to a person: show text, read one line."""

    def say(self, text: str) -> None:
        """Show `text` (one or more lines) to the user."""

    def ask(self, prompt: str) -> str:
        """Show `prompt` and give the line typed (raises EOFError or KeyboardInterrupt)."""


class Stopped(Exception):
    """The user chose to stop at the summary; the caller saves a draft as for Ctrl-C."""


class _Retype(ValueError):
    """An answer that looks like a typo: entering the same answer again keeps it."""


@dataclass(frozen=True)
class Question:
    """One requirement field as a question.

    `default` is what an empty answer means (the model's default; None for a required field or
    for `regulation.explainability`, whose default is derived from criticality).
    """

    path: str
    kind: Kind
    question: str
    help: str
    example: str
    unit: str
    choices: tuple[str, ...] = ()
    required: bool = False
    default: Any = None
    #: What each choice is, when a name alone does not say (the regimes' titles), by choice.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Skip:
    applies: Callable[[Mapping[str, Any]], bool]
    reason: str


# Adaptive skips: a question is asked only when it can matter, given the answers so far. The
# predicate sees every field's effective value (answer, else the model's default).
SKIPS: dict[str, _Skip] = {
    "regulation.regimes": _Skip(
        lambda a: a["regulation.criticality"] in ("regulated", "safety_critical"),
        "only when criticality is regulated or safety_critical",
    ),
    "data.labeling_cost": _Skip(
        lambda a: a["data.stage_labels"] != "full",
        "only when stage labels are not full",
    ),
    # The method only moves the end-to-end explainability estimate, which matters only against
    # a requirement above none (stated, derived from criticality, or raised by a regime).
    "regulation.explanation_method": _Skip(
        lambda a: (
            bool(a["regulation.regimes"])
            or (
                a["regulation.explainability"]
                or DEFAULT_EXPLAINABILITY[a["regulation.criticality"]]
            )
            != "none"
        ),
        "only when some per-decision explanation is required",
    ),
}

_YES = {"y", "yes", "true", "t", "1", "on"}
_NO = {"n", "no", "false", "f", "0", "off"}
_NONE_WORDS = {"none", "no", "-", "[]", "nothing"}
_DERIVED = "derived"  # typed for regulation.explainability: follow criticality


def _suggest(name: str, options: Iterable[str]) -> str:
    """Give " (did you mean 'x'?)" for the option `name` most likely meant, or ""."""
    opts = sorted(set(options))
    starts = [o for o in opts if o.startswith(name) or name.startswith(o)] if name else []
    hint = starts[:1] or difflib.get_close_matches(name, opts, n=1, cutoff=0.6)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _enum_of(annotation: Any) -> type[Enum] | None:
    for t in (annotation, *get_args(annotation)):
        if isinstance(t, type) and issubclass(t, Enum):
            return t
    return None


def questions(
    known_regimes: Sequence[str] | None = None, regime_titles: Mapping[str, str] | None = None
) -> list[Question]:
    """Give one `Question` per requirement field, in the model's order.

    Args:
        known_regimes: regimes to offer as numbered choices (default: the schema's known list;
            the CLI passes the rule pack's own).
        regime_titles: what each regime is ("ECOA / Regulation B"), shown beside its name.

    Returns:
        The questions; `schema_version` is not asked (it is always 1).
    """
    out: list[Question] = []
    for path in field_paths():
        if path == "schema_version":
            continue
        info = field_info(path)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        enum = _enum_of(info.annotation)
        choices: tuple[str, ...] = ()
        kind: Kind
        if path in NUMERIC_FIELDS:
            kind = "number"
        elif info.annotation is bool:
            kind = "bool"
        elif enum is not None:
            kind, choices = "choice", tuple(str(e.value) for e in enum)
        elif getattr(info.annotation, "__origin__", None) is list:
            kind = "list"
            known = extra.get("known", KNOWN_REGIMES) if known_regimes is None else known_regimes
            choices = tuple(str(k) for k in known)
        else:
            kind = "text"
        notes: tuple[str, ...] = ()
        if kind == "list" and regime_titles:
            notes = tuple(regime_titles.get(c, "") for c in choices)
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        if isinstance(default, Enum):
            default = default.value
        out.append(
            Question(
                path=path,
                kind=kind,
                question=str(extra.get("question") or info.description or path),
                help=str(extra.get("help") or ""),
                example=str(extra.get("example") or ""),
                unit=str(extra.get("unit") or ""),
                choices=choices,
                required=required,
                default=default,
                notes=notes,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Reading one answer


def check_value(path: str, value: Any) -> Any:
    """Validate one field's value against the requirements model.

    Args:
        path: the dotted field path.
        value: plain data (a number, range mapping, string, bool, list or None).

    Returns:
        The value as the model normalises it (regimes lower-cased and sorted, enums as strings);
        numbers are given back as passed, so that 2000000 stays an int.

    Raises:
        ValueError: the model's reason, without the field path.
    """
    doc: dict[str, Any] = {"name": "placeholder"}
    # Required fields other than the one checked get harmless values, so that only this field's
    # problems are reported.
    for p in NUMERIC_FIELDS:
        set_path(doc, p, 1)
    set_path(doc, path, value)
    try:
        req = Requirements.model_validate(doc)
    except ValidationError as e:
        found = validation_details(e, "?", Requirements)
        mine = [p.message for p in found if p.field.startswith(path)]
        raise ValueError("; ".join(mine or [p.message for p in found])) from None
    if path in NUMERIC_FIELDS:
        return value
    if path in req.unsure():  # an unsure answer keeps its choices (and weights)
        dist = req.unsure()[path]
        weights = set(dist.values())
        return {"one_of": list(dist) if len(weights) == 1 else dict(dist)}
    return get_path(req.model_dump(mode="json"), path)


def _unit_kind(q: Question) -> Literal["count", "duration"]:
    return CONDITION_FIELDS[q.path].scale or "count"


def _choice(q: Question, text: str) -> str | None:
    s = text.strip().lower().replace("-", "_").replace(" ", "_")
    if q.path == "regulation.explainability" and s in (_DERIVED, "default"):
        return None
    if s.isdigit():
        i = int(s)
        if 1 <= i <= len(q.choices):
            return q.choices[i - 1]
        raise ValueError(f"choose a number from 1 to {len(q.choices)}")
    if s in q.choices:
        return s
    starts = [c for c in q.choices if c.startswith(s)]
    if len(starts) == 1:
        return starts[0]
    if len(starts) > 1:
        raise ValueError(f"'{text.strip()}' could be {' or '.join(starts)}; type more of it")
    hint = difflib.get_close_matches(s, q.choices, n=1, cutoff=0.6)
    msg = f"'{text.strip()}' is not one of: {', '.join(q.choices)}"
    raise ValueError(msg + (f" (did you mean {hint[0]}?)" if hint else ""))


def _squash(text: str) -> str:
    # "GDPR Art. 22", "gdpr-art22" and "gdpr_art22" are the same name.
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _known_regime(q: Question, text: str) -> str | None:
    """Give the regime `text` names: a number, the name in any spelling of its separators, or
    a unique start of it (`gdpr` is gdpr_art22); None when it names none.

    Raises:
        ValueError: a number out of range, or a start that fits several regimes.
    """
    s = text.strip()
    if s.isdigit():
        i = int(s)
        if not 1 <= i <= len(q.choices):
            raise ValueError(f"'{s}': choose numbers from 1 to {len(q.choices)}")
        return q.choices[i - 1]
    key = _squash(s)
    if not key:
        return None
    for c in q.choices:
        if _squash(c) == key:
            return c
    starts = [c for c in q.choices if _squash(c).startswith(key)]
    if len(starts) == 1:
        return starts[0]
    if len(starts) > 1:
        raise ValueError(f"'{s}' could be {' or '.join(starts)}; type more of it")
    return None


def _regimes(q: Question, text: str, lenient: bool) -> list[str]:
    s = text.strip()
    if s.lower() in _NONE_WORDS:
        return []
    out: list[str] = []
    # Commas and semicolons separate regimes; spaces do only when every word is a regime of
    # its own ("ecoa hipaa", "1 3"), so that "gdpr art 22" stays one name.
    for part in (t.strip() for t in re.split(r"[,;]+", s)):
        if not part:
            continue
        names: list[str] = []
        found = _known_regime(q, part)
        if found is not None:
            names = [found]
        elif len(part.split()) > 1:
            words = [_known_regime(q, w) for w in part.split()]
            if all(w is not None for w in words):
                names = [w for w in words if w is not None]
        if not names:
            name = re.sub(r"[\s-]+", "_", part.lower())
            if not lenient:
                hint = difflib.get_close_matches(name, q.choices, n=1, cutoff=0.75)
                if hint:
                    raise _Retype(
                        f"unknown regime '{part}' (did you mean {hint[0]}?); enter the same "
                        "answer again to keep it as typed"
                    )
            names = [name]
        out.extend(n for n in names if n not in out)
    return out


_UNSURE = re.compile(r"^\s*(\?|not\s+sure|unsure|don'?t\s+know)\s*[:,-]?\s*", re.I)
_ALTERNATIVES = re.compile(r"\s*(?:,|/|\bor\b)\s*", re.I)


def _unsure(q: Question, text: str) -> Any:
    """Give an unsure answer (`not sure`, `? medium high`, `medium or high`) as `{"one_of":
    [...]}`: the choices named, or every choice when none is; None when `text` is not unsure."""
    lead = _UNSURE.match(text)
    rest = text[lead.end() :] if lead else text
    if lead is None and not re.search(r"\bor\b|/", rest, re.I):
        return None
    parts = [p for p in _ALTERNATIVES.split(rest) if p.strip()]
    if lead is not None and len(parts) == 1 and " " in parts[0].strip():
        parts = parts[0].split()
    picked: list[Any] = []
    for part in parts:
        if q.kind == "bool":
            if part.lower() not in _YES | _NO:
                raise ValueError(f"answer yes or no (got '{part}')")
            value: Any = part.lower() in _YES
        else:
            value = _choice(q, part)
            if value is None:  # "derived" inside an unsure answer means nothing
                raise ValueError("name the levels you are unsure between, e.g. medium or high")
        if value not in picked:
            picked.append(value)
    if not picked:
        picked = [True, False] if q.kind == "bool" else list(q.choices)
    if len(picked) == 1:
        return picked[0]
    return {"one_of": picked}


def parse_answer(q: Question, text: str, *, lenient: bool = False) -> Any:
    """Turn a typed answer into the field's value and validate it.

    Args:
        q: the question.
        text: the answer as typed (not empty: the caller handles defaults).
        lenient: accept names that look like typos (for `--set` and a repeated answer).

    Returns:
        The field's plain value: a number or `{"low", "high"}` range, a choice's name, a bool,
        a list of regimes, a string, or None (explainability derived from criticality).

    Raises:
        ValueError: a one-line reason to show before asking again.
    """
    s = text.strip()
    value: Any
    if q.kind in ("choice", "bool"):
        unsure = _unsure(q, s)
        if unsure is not None:
            return check_value(q.path, unsure)
    if q.kind == "number":
        value = parse_number_or_range(s, _unit_kind(q))
    elif q.kind == "choice":
        value = _choice(q, s)
    elif q.kind == "bool":
        if s.lower() not in _YES | _NO:
            raise ValueError(f"answer yes or no (got '{s}')")
        value = s.lower() in _YES
    elif q.kind == "list":
        value = _regimes(q, s, lenient)
    else:
        value = "" if (s == "-" and not q.required) else s
    return check_value(q.path, value)


# ---------------------------------------------------------------------------------------------
# The session


def effective(qs: Iterable[Question], answers: Mapping[str, Any]) -> dict[str, Any]:
    """Give every field's value as it stands: the answer, else the question's default."""
    return {q.path: answers.get(q.path, q.default) for q in qs}


def derived_explainability(answers: Mapping[str, Any]) -> str:
    """Give the explainability level criticality implies for these answers."""
    return DEFAULT_EXPLAINABILITY[str(answers.get("regulation.criticality", "non_critical"))]


@dataclass
class Session:
    """A questionnaire in progress: the questions and the answers so far (path -> value)."""

    questions: list[Question]
    answers: dict[str, Any] = field(default_factory=dict)
    asked: int = 0
    #: Each known regime's explainability floor (the rule pack's), to show the effective level.
    floors: dict[str, str] = field(default_factory=dict)

    def question(self, path: str) -> Question:
        """Give the question for a dotted field path (KeyError when there is none)."""
        for q in self.questions:
            if q.path == path:
                return q
        raise KeyError(path)

    def skip_reason(self, q: Question) -> str | None:
        """Give why `q` does not apply to the answers so far, or None when it applies."""
        rule = SKIPS.get(q.path)
        if rule is None or rule.applies(effective(self.questions, self.answers)):
            return None
        return rule.reason

    def pending(self) -> list[Question]:
        """Give the questions that apply and have no answer yet, in order."""
        return [
            q for q in self.questions if q.path not in self.answers and self.skip_reason(q) is None
        ]

    def apply_defaults(self) -> list[str]:
        """Answer every pending question that has a default with it; give the paths answered."""
        done: list[str] = []
        changed = True
        while changed:  # an answer can make another question apply
            changed = False
            for q in self.pending():
                if q.required:
                    continue
                self.answers[q.path] = q.default
                done.append(q.path)
                changed = True
        return done

    def document(self) -> dict[str, Any]:
        """Give the answers as a nested requirements mapping (schema_version first)."""
        doc: dict[str, Any] = {"schema_version": 1}
        for q in self.questions:
            if q.path in self.answers:
                set_path(doc, q.path, self.answers[q.path])
        return doc


def effective_explainability(
    value: str | None, answers: Mapping[str, Any], floors: Mapping[str, str]
) -> str:
    """Give the explainability level that applies and why: "medium (derived from
    criticality)", "high (raised by ecoa; criticality alone gives medium)", "low".

    Args:
        value: the stated level, or None (derived from criticality).
        answers: the answers so far (criticality and regimes).
        floors: each known regime's floor, as the rule pack sets it.
    """
    from ._requirements import EXPLAINABILITY_ORDER as order

    base = value if value is not None else derived_explainability(answers)
    regimes = answers.get("regulation.regimes") or []
    top = max((floors[r] for r in regimes if r in floors), key=order.index, default=base)
    if order.index(top) > order.index(base):
        by = ", ".join(r for r in regimes if floors.get(r) == top)
        why = f"criticality alone gives {base}" if value is None else f"stated {base}"
        return f"{top} (raised by {by}; {why})"
    return f"{base} (derived from criticality)" if value is None else base


def show_value(
    q: Question,
    value: Any,
    answers: Mapping[str, Any] | None = None,
    floors: Mapping[str, str] | None = None,
) -> str:
    """Give a value as the summary shows it ("2M pairs", "300 ms", "none", "medium (derived
    from criticality)"); explainability shows the level that applies once regimes raise it."""
    if q.path == "regulation.explainability" and (value is None or isinstance(value, str)):
        return effective_explainability(value, answers or {}, floors or {})
    if isinstance(value, dict) and "low" in value:
        return f"{show_value(q, value['low'])} to {show_value(q, value['high'])}"
    if isinstance(value, dict) and "one_of" in value:
        return "not sure: " + " or ".join(show_value(q, v) for v in value["one_of"])
    if q.kind == "number" and isinstance(value, int | float):
        return fmt_value(q.path, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    if value == "":
        return "(none)"
    if value is None:
        return "not stated"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _choice_grid(choices: Sequence[str], notes: Sequence[str] = ()) -> list[str]:
    if any(notes):  # one choice a line, with what it is
        digits = len(str(len(choices)))
        width = max(len(c) for c in choices) + digits + 4
        out = []
        for i, (c, note) in enumerate(zip(choices, notes, strict=True), 1):
            line = f"{_INDENT}  {f'{i:>{digits}}. {c}'.ljust(width)}{note}".rstrip()
            out.append(line if len(line) <= WIDTH else line[: WIDTH - 3] + "...")
        return out
    items = [f"{i}. {c}" for i, c in enumerate(choices, 1)]
    width = max(len(s) for s in items) + 3
    per_line = max(1, (WIDTH - len(_INDENT) - 2) // width)
    lines = []
    for start in range(0, len(items), per_line):
        row = items[start : start + per_line]
        lines.append(_INDENT + "  " + "".join(s.ljust(width) for s in row).rstrip())
    return lines


def _default_hint(
    q: Question,
    answers: Mapping[str, Any],
    current: Any,
    has_current: bool,
    floors: Mapping[str, str] | None = None,
) -> str:
    if has_current:
        return f"current: {show_value(q, current, answers, floors)}"
    if q.required:
        return ""
    if q.path == "regulation.explainability":
        return f"Enter: derived from criticality, {derived_explainability(answers)}"
    if q.kind == "text":
        return "Enter to skip"
    if q.default is None:
        return "Enter: not stated"
    return show_value(q, q.default, answers)


def question_text(q: Question, marker: str, answers: Mapping[str, Any]) -> str:
    """Give the lines shown before the prompt: marker, question, help, choices, example."""
    head = f"{marker} {q.question}"
    lines = textwrap.wrap(head, WIDTH, subsequent_indent=_INDENT) or [head]
    if q.help:
        lines += textwrap.wrap(q.help, WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT)
    if q.choices:
        lines += _choice_grid(q.choices, q.notes)
    facts = []
    if q.example:
        facts.append(f"e.g. {q.example}")
    if q.unit:
        facts.append(f"unit: {q.unit}")
    if q.kind == "bool":
        facts.append("yes or no")
    if q.kind in ("choice", "bool"):
        facts.append(
            "not sure? e.g. "
            + ("'yes or no'" if q.kind == "bool" else f"'{q.choices[0]} or {q.choices[-1]}'")
        )
    if q.kind == "list":
        facts.append("numbers, names or their unique start, comma-separated")
    facts.append(f"field: {q.path}")
    # Each fact stays on one line (no-break spaces inside it while wrapping), so that the field
    # path a user may copy into --set is never split.
    joined = " | ".join(f.replace(" ", "\xa0") for f in facts)
    wrapped = textwrap.wrap(
        joined, WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT, break_on_hyphens=False
    )
    lines += [line.replace("\xa0", " ") for line in wrapped]
    return "\n".join(lines)


_MISSING: Any = object()


def ask_question(
    session: Session, q: Question, io: Prompter, marker: str, current: Any = _MISSING
) -> Any:
    """Ask one question until the answer is valid; give the value (also stored in the session).

    Args:
        session: the answers so far (they set derived defaults shown in the prompt).
        q: the question.
        io: the prompter.
        marker: shown before the question, e.g. "[4/11]".
        current: the present answer when revising (an empty answer keeps it).
    """
    has_current = current is not _MISSING
    io.say("\n" + question_text(q, marker, session.answers))
    hint = _default_hint(q, session.answers, current, has_current, session.floors)
    prompt = f"  [{hint}] > " if hint else "  > "
    retype: str | None = None
    while True:
        text = io.ask(prompt)
        if not text.strip():
            if has_current:
                value = current
                break
            if not q.required:
                value = None if q.path == "regulation.explainability" else q.default
                break
            io.say("  ! an answer is required" + (f" (e.g. {q.example})" if q.example else ""))
            continue
        try:
            value = parse_answer(q, text, lenient=text.strip() == retype)
        except _Retype as e:
            retype = text.strip()
            io.say(f"  ! {e}")
            continue
        except ValueError as e:
            io.say(f"  ! {e}; please answer again")
            continue
        break
    if q.kind == "list":
        unknown = [r for r in value if r not in q.choices]
        if unknown:
            io.say(
                f"  note: {', '.join(unknown)} not known to the rule pack: kept, acting only "
                "through criticality and explainability"
            )
    session.answers[q.path] = value
    return value


def walk(session: Session, io: Prompter) -> None:
    """Ask every pending question in order, re-checking which apply after each answer."""
    while True:
        pending = session.pending()
        if not pending:
            return
        q = pending[0]
        n = session.asked + 1
        ask_question(session, q, io, f"[{n}/{session.asked + len(pending)}]")
        session.asked += 1


def summary_text(session: Session) -> str:
    """Give the summary table: number, field, answer (or why it was not asked)."""
    width = max(len(q.path) for q in session.questions) + 2
    lines = ["", "Summary", f"  {'#':>3}  {'field'.ljust(width)}answer"]
    for i, q in enumerate(session.questions, 1):
        if q.path in session.answers:
            shown = show_value(q, session.answers[q.path], session.answers, session.floors)
        else:
            reason = session.skip_reason(q)
            default = show_value(q, q.default, session.answers)
            shown = f"(not asked: {reason}; default {default})" if reason else "(no answer)"
        lines.append(f"  {i:>3}  {q.path.ljust(width)}{shown}")
    return "\n".join(lines)


def review(session: Session, io: Prompter, footer: str = "") -> None:
    """Show the summary until the user confirms, changing any answer they pick by number.

    Raises:
        Stopped: the user typed q.
    """
    while True:
        walk(session, io)  # a changed answer can make a skipped question apply
        io.say(summary_text(session) + ("\n" + footer if footer else ""))
        choice = (
            io.ask("Enter to confirm, a number to change that answer, q to stop (keeps a draft) > ")
            .strip()
            .lower()
        )
        if not choice:
            return
        if choice in ("q", "quit", "stop"):
            raise Stopped()
        if not choice.isdigit() or not 1 <= int(choice) <= len(session.questions):
            io.say(f"  ! type a number from 1 to {len(session.questions)}, q, or press Enter")
            continue
        q = session.questions[int(choice) - 1]
        current = session.answers.get(q.path, _MISSING)
        ask_question(session, q, io, "[change]", current)


def run(session: Session, io: Prompter, footer: str = "") -> dict[str, Any]:
    """Ask what is unanswered, then review; give the requirements document once confirmed."""
    walk(session, io)
    review(session, io, footer)
    return session.document()


# ---------------------------------------------------------------------------------------------
# Answers that come without a prompt: a file, --set


@dataclass
class Prefill:
    """Answers read from a file: the valid ones, and one line per invalid value."""

    answers: dict[str, Any]
    invalid: list[str]


def prefill(doc: Any, source: str, qs: Sequence[Question]) -> Prefill:
    """Read answers from a requirements mapping, complete or a draft.

    Args:
        doc: the parsed file.
        source: its name, for messages.
        qs: the questions.

    Returns:
        The valid answers and, for each invalid value, a line naming the file and field (the
        questionnaire asks those again).

    Raises:
        InputError: not a mapping, an unknown field, or a section that is not a mapping.
    """
    if not isinstance(doc, dict):
        raise InputError(f"{source}: (top level): must be a mapping of fields")
    by_path = {q.path: q for q in qs}
    sections = {p.rpartition(".")[0] for p in by_path if "." in p}
    answers: dict[str, Any] = {}
    invalid: list[str] = []
    errors: list[str] = []

    def visit(node: Mapping[Any, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path == "schema_version":
                if value != 1:
                    errors.append(f"{source}: schema_version: must be 1 (got {value!r})")
            elif path in by_path:
                q = by_path[path]
                try:
                    if q.kind == "number" and isinstance(value, str):
                        # "2s" or "10k-50k" in a file: read as typed at the prompt
                        value = parse_number_or_range(value, _unit_kind(q))
                    answers[path] = check_value(path, value)
                except ValueError as e:
                    invalid.append(f"{source}: {path}: {e}")
            elif path in sections:
                if isinstance(value, dict):
                    visit(value, path + ".")
                elif value is not None:
                    kind = type(value).__name__
                    errors.append(f"{source}: {path}: must be a mapping (got {kind})")
            else:
                siblings = [
                    p[len(prefix) :].split(".")[0]
                    for p in (*by_path, *sections)
                    if p.startswith(prefix)
                ]
                errors.append(f"{source}: {path}: unknown field{_suggest(str(key), siblings)}")

    visit(doc, "")
    if errors:
        raise InputError(errors)
    return Prefill(answers, invalid)


def parse_sets(items: Iterable[str], qs: Sequence[Question]) -> dict[str, Any]:
    """Read `--set KEY=VALUE` answers (KEY a dotted field path; VALUE as typed at a prompt).

    Raises:
        InputError: one line per bad item, naming the field.
    """
    by_path = {q.path: q for q in qs}
    answers: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {item}: expected KEY=VALUE, e.g. latency.budget_ms=50")
            continue
        q = by_path.get(key)
        if q is None:
            problems.append(f"--set {key}: unknown field{_suggest(key, by_path)}")
            continue
        try:
            if text.strip():
                answers[key] = parse_answer(q, text, lenient=True)
            elif q.path == "regulation.explainability":
                answers[key] = None  # empty: derived from criticality, as at the prompt
            elif q.kind == "text" and not q.required:
                answers[key] = ""
            elif q.kind == "list":
                answers[key] = []
            else:
                raise ValueError("needs a value")
        except ValueError as e:
            problems.append(f"--set {key}: {e}")
    if problems:
        raise InputError(problems)
    return answers


# ---------------------------------------------------------------------------------------------
# The answers file


def _plain_text(value: Any) -> bool:
    # Line breaks YAML knows beyond \n (NEL, LS, PS) and control characters would be folded or
    # refused if written raw; such strings are written double-quoted with escapes instead.
    return not isinstance(value, str) or all(c.isprintable() for c in value)


def _yaml_scalar(value: Any) -> str:
    plain = _plain_text(value)
    text = yaml.safe_dump(
        value,
        default_flow_style=True,
        default_style=None if plain else '"',
        allow_unicode=plain,
        width=10**6,
        sort_keys=False,
    )
    return text.removesuffix("\n...\n").strip()


def _hint(q: Question) -> str:
    if q.kind == "choice":
        if q.path == "regulation.explainability":
            return " | ".join(q.choices) + " | null (derived from criticality)"
        return " | ".join(q.choices) + (" | null (not stated)" if q.default is None else "")
    if q.kind == "number":
        return f"{q.unit}; a number or {{low: ..., high: ...}}"
    if q.kind == "bool":
        return "true | false"
    return ""


def answers_text(session: Session, header: Sequence[str], *, json_format: bool = False) -> str:
    """Give the answers file: a requirements YAML with each question as a comment.

    Unanswered fields (skipped, or not reached in a draft) appear as comments, so the file says
    what the engine will default. The text is parsed back and compared with the answers; should
    the commented layout ever disagree, the plain YAML is written instead.

    Args:
        session: the answers.
        header: comment lines for the top of the file (without "# ").
        json_format: give JSON instead (no comments), for a .json answers file.
    """
    doc = session.document()
    if json_format:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    # A header line is a comment: a line break (or any control character) in it, say from a
    # file name, would end the comment and put the rest into the YAML.
    lines = [f"# {printable(h)}".rstrip() for h in header]
    lines.append("schema_version: 1")
    sections: dict[str, list[Question]] = {}
    for q in session.questions:
        sections.setdefault(q.path.rpartition(".")[0], []).append(q)
    for section, qs in sections.items():
        indent = "  " if section else ""
        if section:
            lines.append("")
            answered = any(q.path in session.answers for q in qs)
            lines.append(f"{section}:" if answered else f"# {section}: (no answers)")
        for q in qs:
            key = q.path.rpartition(".")[2]
            lines.append(f"{indent}# {q.question}")
            if q.path in session.answers:
                entry = f"{indent}{key}: {_yaml_scalar(session.answers[q.path])}"
                hint = _hint(q)
                lines.append(f"{entry.ljust(40)}  # {hint}" if hint else entry)
            else:
                reason = session.skip_reason(q)
                why = f"not asked: {reason}" if reason else "not answered yet"
                shown = "(required)" if q.required else _yaml_scalar(q.default)
                lines.append(f"{indent}# {key}: {shown}  ({why})")
    text = "\n".join(lines) + "\n"
    try:
        same = parse_text(text, "answers") == doc
    except ValueError:
        same = False
    if not same:  # never write a file that reads back differently from what was answered
        body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=False)  # escapes everything
        text = "\n".join(f"# {printable(h)}".rstrip() for h in header) + "\n" + body
    return text
