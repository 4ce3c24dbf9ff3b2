"""Stage 7: rendering an Assessment as JSON, HTML, Markdown or an ADR (and comparisons).

Takes an `Assessment` (or a `Comparison`); gives a string. Templates come from templates/
through one Jinja2 environment built once, with autoescaping on for HTML and undefined names an
error. Nothing here writes files, and nothing depends on the clock: the same assessment renders
to the same bytes.
"""

from __future__ import annotations

import threading
from typing import Any

from ._assessment import Assessment
from ._escape import markdown, printable
from ._fields import OPTIONS
from ._units import count

FORMATS = ("html", "json", "md", "adr")
COMPARE_FORMATS = ("html", "text", "json")
TEMPLATES = {"html": "report.html.j2", "md": "report.md.j2", "adr": "report.adr.j2"}

_env: Any = None
_lock = threading.Lock()


def environment() -> Any:
    """Give the shared Jinja2 environment (HTML autoescaped, StrictUndefined)."""
    global _env
    with _lock:
        if _env is None:
            import jinja2

            from . import _charts as charts
            from ._narrative import fmt_value, option_label
            from ._resources import templates_dir

            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(templates_dir())),
                autoescape=jinja2.select_autoescape(
                    ["html.j2", "html"], default_for_string=True, default=False
                ),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                bytecode_cache=_bytecode_cache(jinja2),
                finalize=_visible,
            )
            env.filters["option"] = option_label
            env.filters["pct"] = lambda v: f"{float(v) * 100:.0f}%"
            env.filters["num"] = lambda v, nd=2: f"{float(v):+.{nd}f}"
            env.filters["md"] = _md_escape
            env.filters["front_matter"] = _front_matter
            env.filters["effect"] = effect_text
            env.filters["value"] = lambda v, field="": fmt_value(field, v)
            env.filters["count"] = count
            env.filters["ms"] = charts.ms
            env.filters["words"] = lambda s: str(s).replace("_", " ")
            env.filters["kind"] = lambda k: charts.KIND_LABELS.get(str(k), str(k))
            env.filters["short"] = lambda s, n=12: str(s)[:n]
            env.filters["url"] = _web_url
            env.filters["cite"] = cite_text
            env.tests["contains"] = lambda seq, item: item in seq
            env.globals["charts"] = charts
            env.globals["option_case"] = option_case
            env.globals["OPTIONS"] = OPTIONS
            _env = env
        return _env


def _visible(value: Any) -> Any:
    # Every value put into a document: control characters (ESC, C1, bidi overrides, lone
    # surrogates) shown as escapes, so a report printed on a terminal cannot drive it and a
    # lone surrogate cannot make the document unwritable. Newlines and tabs are layout. Markup
    # (a chart's SVG) stays Markup: the characters replaced are never part of markup.
    if type(value) is str:  # most values: no import on their way (hundreds per report)
        return printable(value, keep="\n\t")
    from markupsafe import Markup

    if isinstance(value, Markup):
        return Markup(printable(str(value), keep="\n\t"))
    if isinstance(value, str):
        return printable(value, keep="\n\t")
    return value


def _bytecode_cache(jinja2: Any, variant: str = "documents") -> Any:
    """Give Jinja's compiled-template cache, or None when it cannot be used.

    Compiling the report template costs about 0.1 s per process; the cache keeps the compiled
    code in Jinja's per-user folder in the temporary directory, which Jinja creates private
    (0700) and refuses when another user owns it. Set ADVISOR_NO_TEMPLATE_CACHE=1 to compile
    every time.

    Compiled code depends on the environment as well as the template: `finalize` (and the
    autoescape and whitespace options) are compiled in. So an entry is keyed by `variant` (one
    per environment) and checked against the template's text together with this module's own
    source, where the environments are configured: an edited template or a changed
    environment is recompiled, never served from an older build.
    """
    import hashlib
    import os

    if os.environ.get("ADVISOR_NO_TEMPLATE_CACHE"):
        return None
    try:
        with open(__file__, "rb") as fh:
            salt = hashlib.sha1(fh.read()).hexdigest()
    except OSError:  # no source to read (a frozen build): no cache rather than a stale one
        return None

    class Cache(jinja2.FileSystemBytecodeCache):  # type: ignore[misc]
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            return str(super().get_cache_key(f"{variant}:{name}", filename))

        def get_source_checksum(self, source: str) -> str:
            return hashlib.sha1(f"{salt}\0{source}".encode()).hexdigest()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:  # a full or read-only disk: the report does not need the cache
                pass

    try:
        return Cache()
    except (OSError, RuntimeError):  # no usable temporary directory
        return None


def cite_text(e: Any) -> str:
    """Give an evidence entry's or a source's citation as plain text, with its URL and any analogy.

    Args:
        e: an `EvidenceRef` (citation in `source`) or a `SourceRef` (in `citation`).
    """
    text = str(getattr(e, "citation", None) or e.source)
    url = _web_url(getattr(e, "url", ""))
    if url:
        text += f", {url}"
    analogy = getattr(e, "analogy", "")
    return f"{text}; {analogy}" if analogy else text


def _web_url(url: Any) -> str:
    """Give an http(s) URL unchanged, anything else as "" (a link never runs a script)."""
    text = str(url or "")
    ok = text.startswith(("https://", "http://")) and not any(c in text for c in " \t\n<>\"'`")
    return text if ok else ""


def _md_escape(text: Any) -> str:
    # User and rule-pack text as literal inline Markdown: see `escape.markdown`.
    return markdown(text)


def _front_matter(text: Any) -> str:
    # A value in the YAML front matter of a Markdown file: the Markdown-escaped text (one
    # line, no control character) as a single-quoted YAML scalar, where only ' is doubled and
    # backslashes stay as they are. So neither a YAML reader (a ': ' or '#' in a pack name) nor
    # a renderer that shows the front matter as Markdown is misled.
    return "'" + _md_escape(text).replace("'", "''") + "'"


def effect_text(effect: dict[str, Any]) -> str:
    """Give a rule's effect in words: 'veto end-to-end', 'modular +0.08', 'advice: x'."""
    from ._narrative import option_label

    parts = []
    if effect.get("veto"):
        parts.append(f"veto {option_label(effect['veto'])}")
    for opt, v in (effect.get("add") or {}).items():
        parts.append(f"{option_label(opt)} {float(v):+.2f}")
    if effect.get("advice"):
        parts.append(f"advice: {effect['advice']}")
    return ", ".join(parts) if parts else "none"


def option_case(a: Assessment, opt: str) -> dict[str, list[str]]:
    """Give the arguments for and against one option, from the assessment's own findings.

    Returns:
        {"good": [...], "neutral": [...], "bad": [...]}, each a list of sentences (no leading
        "Good, because").
    """
    from ._narrative import option_label

    good: list[str] = []
    bad: list[str] = []
    neutral: list[str] = []
    vetoes = [v for v in a.vetoes if v.option == opt]
    for d in a.dimensions:
        where = f"{d.label.lower()} ({d.value}; utility {d.utility:+.2f})"
        if d.favours == "neutral":
            continue
        if opt == "hybrid":
            side = "learned stages" if d.favours == "end_to_end" else "traditional modules"
            good.append(
                f"{where} favours {option_label(d.favours)}, which a hybrid serves with its {side}"
            )
        elif d.favours == opt:
            good.append(f"{where} favours it")
        else:
            bad.append(f"{where} favours {option_label(d.favours)}")
    for r in a.rules_fired:
        add = (r.effect.get("add") or {}).get(opt)
        if add and not r.id.startswith("explainability-requirement:"):  # covered just below
            text = f"{_lower_first(r.rationale)} (rule {r.id}, {add:+.2f})"
            (good if add > 0 else bad).append(text)
    e = a.explainability.get(opt)
    if e is not None:
        text = (
            f"estimated explanation fidelity {e.estimate:.0%} ({e.low:.0%}–{e.high:.0%}) "
            f"against the {e.required_level} requirement's {e.required_fidelity:.0%}"
        )
        if e.meets_requirement:
            good.append(f"its {text} meets it")
        else:
            bad.append(f"its {text} falls short" + ("" if e.traceable else "; not traceable"))
    for v in vetoes:
        bad.insert(0, f"it is ruled out ({v.rule}): {v.reason}")
    for risk in a.risks:
        if opt in risk.applies_to:
            ev = risk.evidence[0] if risk.evidence else None
            fig = f": {ev.figure}" if ev is not None and ev.figure else ""
            src = f" ({cite_text(ev)})" if ev is not None else ""
            bad.append(f"{risk.title.lower()}{fig}{src}")
    if opt == "hybrid" and a.hybrid_pattern is not None:
        neutral.append(f"pattern: {a.hybrid_pattern.title}. {a.hybrid_pattern.summary}")
    neutral.append(
        f"score {a.scores[opt]:.3f}; {a.probabilities.get(opt, 0.0):.0%} of the Monte Carlo "
        "samples choose it" + ("; vetoed" if vetoes else "")
    )
    return {"good": good, "neutral": neutral, "bad": bad}


def _lower_first(text: str) -> str:
    # "Stages with..." -> "stages with...", but keep acronyms ("SEC Rule...", "EU AI Act").
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def render(assessment: Assessment, format: str = "html") -> str:
    """Render an assessment.

    Args:
        assessment: the assessment to show.
        format: one of "html", "json", "md", "adr".

    Returns:
        The document as text.

    Raises:
        UsageError: an unknown format (an AdvisorError, and a ValueError).
    """
    if format == "json":
        return assessment.to_json()
    if format not in FORMATS:
        from ._errors import Problem, UsageError

        raise UsageError(
            Problem("", "format", f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        )
    template = environment().get_template(TEMPLATES[format])
    return str(template.render(a=assessment))


def render_comparison(comparison: Any, format: str = "text") -> str:
    """Render a `compare.Comparison` as "html", "text" or "json".

    Raises:
        UsageError: an unknown format (an AdvisorError, and a ValueError).
    """
    if format == "json":
        return str(comparison.model_dump_json(indent=2)) + "\n"
    if format not in COMPARE_FORMATS:
        from ._errors import Problem, UsageError

        raise UsageError(
            Problem(
                "", "format", f"unknown format {format!r}; use one of {', '.join(COMPARE_FORMATS)}"
            )
        )
    if format == "html":
        return str(environment().get_template("compare.html.j2").render(c=comparison))
    return str(_text_environment().get_template("compare.txt.j2").render(c=comparison))


_text_env: Any = None


def _text_environment() -> Any:
    """Give the environment for plain-text templates, read on a terminal: every value put
    into the text is made printable (escape sequences and bidi controls in names are shown,
    not obeyed; a newline in a value cannot break the layout)."""
    global _text_env
    base = environment()
    with _lock:
        if _text_env is None:
            import jinja2

            _text_env = base.overlay(
                finalize=printable, bytecode_cache=_bytecode_cache(jinja2, "text")
            )
        return _text_env
