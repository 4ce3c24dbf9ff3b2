"""Stage 7: rendering an Assessment as JSON, HTML or Markdown.

Takes an `Assessment`; gives a string. Templates come from templates/ through one Jinja2
environment built once, with autoescaping on and undefined names an error. Nothing here writes
files.
"""

from __future__ import annotations

import threading
from typing import Any

from .assessment import Assessment

FORMATS = ("html", "json", "md")

_env: Any = None
_lock = threading.Lock()


def environment() -> Any:
    """Give the shared Jinja2 environment (autoescaped, StrictUndefined)."""
    global _env
    with _lock:
        if _env is None:
            import jinja2

            from . import charts
            from .narrative import option_label
            from .resources import templates_dir

            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(templates_dir())),
                autoescape=jinja2.select_autoescape(
                    ["html.j2", "html"], default_for_string=True, default=False
                ),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            env.filters["option"] = option_label
            env.filters["pct"] = lambda v: f"{float(v) * 100:.0f}%"
            env.filters["num"] = lambda v, nd=2: f"{float(v):+.{nd}f}"
            env.filters["md"] = _md_escape
            env.globals["charts"] = charts
            _env = env
        return _env


def _md_escape(text: Any) -> str:
    # Markdown renderers accept inline HTML; escape it and the characters that start markup so
    # user text shows as text.
    s = str(text)
    for ch, rep in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        s = s.replace(ch, rep)
    for ch in ("\\", "`", "*", "_", "[", "]", "|", "#"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def render(assessment: Assessment, format: str = "html") -> str:
    """Render an assessment.

    Args:
        assessment: the assessment to show.
        format: one of "html", "json", "md".

    Returns:
        The document as text.

    Raises:
        ValueError: an unknown format.
    """
    if format == "json":
        return assessment.to_json()
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    template = environment().get_template("report.html.j2" if format == "html" else "report.md.j2")
    return str(template.render(a=assessment))
