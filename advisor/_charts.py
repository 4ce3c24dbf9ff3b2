"""Inline SVG charts for the HTML report (no JavaScript, no images, no network).

Takes an Assessment (or one of its parts); gives SVG markup as `markupsafe.Markup`. Every label
is escaped; every chart has a <title> and a <desc> (its text alternative) and is exposed as one
image with an aria-label. Colours come from CSS classes (the report's light, dark and print
themes), and no chart relies on colour alone: bars carry signed values and words, options are
named, and the architecture sketch marks stage kinds with patterns and labels.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape

from ._assessment import (
    DataThresholds,
    Dimension,
    LatencyThresholds,
    PatternStage,
    RegulationThresholds,
)
from ._fields import OPTION_LABELS, OPTIONS
from ._requirements import Requirements, point
from ._units import count

LABELS = OPTION_LABELS
CLS = {"end_to_end": "e2e", "modular": "mod", "hybrid": "hyb", "neutral": "neu"}
KIND_LABELS = {"learned": "learned", "traditional": "traditional", "rule_based": "rule-based"}


def _f(v: float) -> str:
    return f"{v:.1f}"


def _svg(width: int, height: int, title: str, desc: str, body: str, cls: str = "") -> Markup:
    t, d = escape(title), escape(desc)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{t}" class="chart {cls}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{t}</title><desc>{d}</desc>{body}</svg>"
    )


def _text(x: float, y: float, s: str, cls: str = "", anchor: str = "start") -> str:
    c = f' class="{cls}"' if cls else ""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{_f(x)}" y="{_f(y)}"{c}{a}>{escape(s)}</text>'


def ms(v: float) -> str:
    """Give a duration in ms or s."""
    return f"{v / 1000:.3g} s" if v >= 1000 else f"{v:.3g} ms"


# ---------------------------------------------------------------------------------------------
# Decision: probability of each option


def probabilities(a: Any) -> Markup:
    """Give a stacked bar of the Monte Carlo probability of each option, labelled in words."""
    width, height = 320, 40
    x = 0.0
    parts = []
    legend = ", ".join(f"{LABELS[o]} {float(a.probabilities.get(o, 0.0)):.0%}" for o in OPTIONS)
    for opt in OPTIONS:
        p = float(a.probabilities.get(opt, 0.0))
        w = p * width
        if w <= 0:
            continue
        parts.append(
            f'<rect x="{_f(x)}" y="0" width="{_f(w)}" height="24" class="fill-{CLS[opt]}"/>'
        )
        if w > 100:
            parts.append(_text(x + 8, 16.5, f"{LABELS[opt]} {p:.0%}", "on-fill"))
        x += w
    parts.append(_text(0, 38, legend, "muted small"))
    return _svg(
        width,
        height,
        "Probability of each recommendation",
        f"Share of Monte Carlo samples ending in each option: {legend}.",
        "".join(parts),
        "prob",
    )


# ---------------------------------------------------------------------------------------------
# The three-dimension matrix: one small grid per dimension


def _utility_row(d: Any, y: float, width: int, pad: int, th: float) -> str:
    """Give the shared -1..+1 utility scale with the favour zones and the push arrow."""
    u = float(d.utility)
    span = width - 2 * pad

    def ux(v: float) -> float:
        return pad + (v + 1) / 2 * span

    parts = [
        f'<rect x="{_f(ux(-1))}" y="{_f(y)}" width="{_f(ux(-th) - ux(-1))}" height="10" '
        'class="zone-mod"/>',
        f'<rect x="{_f(ux(-th))}" y="{_f(y)}" width="{_f(ux(th) - ux(-th))}" height="10" '
        'class="zone-neu"/>',
        f'<rect x="{_f(ux(th))}" y="{_f(y)}" width="{_f(ux(1) - ux(th))}" height="10" '
        'class="zone-e2e"/>',
        f'<line x1="{_f(ux(0))}" y1="{_f(y - 4)}" x2="{_f(ux(0))}" y2="{_f(y + 14)}" '
        'class="axis"/>',
        _text(pad, y + 26, "−1 modular", "small muted"),
        _text(ux(0), y + 26, "0", "small muted", "middle"),
        _text(width - pad, y + 26, "end-to-end +1", "small muted", "end"),
    ]
    x0, x1 = ux(0), ux(u)
    yy = y + 5
    if abs(x1 - x0) >= 2:
        sgn = 1 if x1 > x0 else -1
        tip = x1
        parts.append(
            f'<line x1="{_f(x0)}" y1="{_f(yy)}" x2="{_f(tip - sgn * 7)}" y2="{_f(yy)}" '
            'class="push"/>'
            f'<polygon points="{_f(tip)},{_f(yy)} {_f(tip - sgn * 9)},{_f(yy - 6)} '
            f'{_f(tip - sgn * 9)},{_f(yy + 6)}" class="push-head"/>'
        )
    else:
        parts.append(f'<circle cx="{_f(x1)}" cy="{_f(yy)}" r="5" class="push-head"/>')
    side = d.favours
    words = "neutral" if side == "neutral" else f"pushes towards {LABELS[side]}"
    label = f"{words} ({u:+.2f})"
    half = len(label) * 3.2
    parts.append(
        _text(min(max(x1, pad + half), width - pad - half), y - 7, label, "strong small", "middle")
    )
    return "".join(parts)


def _band(zones: list[tuple[float, float, str]], y: float, h: float, sx: Any) -> tuple[str, str]:
    """Give the zone rectangles and, separately, their labels (drawn last, over the marker)."""
    names = {"mod": "favours modular", "neu": "neutral", "e2e": "favours end-to-end"}
    rects, labels = [], []
    for lo, hi, kind in zones:
        x0, x1 = sx(lo), sx(hi)
        if x1 - x0 <= 0:
            continue
        rects.append(
            f'<rect x="{_f(x0)}" y="{_f(y)}" width="{_f(x1 - x0)}" height="{_f(h)}" '
            f'class="zone-{kind}"/>'
        )
        short = {"mod": "MOD", "neu": "–", "e2e": "E2E"}[kind]
        text = names[kind] if x1 - x0 > len(names[kind]) * 5.6 + 8 else short
        if x1 - x0 > len(text) * 6 + 4:
            labels.append(
                _text((x0 + x1) / 2, y + h / 2 + 4, text, f"small zone-label halo-{kind}", "middle")
            )
    return "".join(rects), "".join(labels)


def _marker(x: float, y0: float, y1: float, label: str, width: int, pad: int) -> str:
    lx = min(max(x, pad + 55), width - pad - 55)
    return (
        f'<line x1="{_f(x)}" y1="{_f(y0)}" x2="{_f(x)}" y2="{_f(y1)}" class="marker-line"/>'
        f'<polygon points="{_f(x - 6)},{_f(y0 - 8)} {_f(x + 6)},{_f(y0 - 8)} {_f(x)},{_f(y0)}" '
        'class="marker"/>' + _text(lx, y0 - 12, label, "strong small", "middle")
    )


def _log_scale(values: Iterable[float], lo_pad: float, hi_pad: float) -> tuple[float, float]:
    logs = [math.log10(max(v, 1.0)) for v in values]
    return math.floor(min(logs) - lo_pad), math.ceil(max(logs) + hi_pad)


def points(gap: float) -> str:
    """Give a difference of two shares in percentage points ("15 percentage points")."""
    n = round(abs(gap) * 100)
    return f"{n} percentage point{'' if n == 1 else 's'}"


def threshold_words(d: Dimension) -> str:
    """Give the thresholds of a data or latency dimension's chart in words ("" for others).

    Args:
        d: a `Dimension` of the assessment.
    """
    th = d.thresholds
    if isinstance(th, DataThresholds):
        mod_upto = th.favours_modular_up_to_pairs
        e2e_from = th.favours_end_to_end_from_pairs
        parts = []
        if mod_upto:
            parts.append(
                f"≤ {count(mod_upto)}: up to {count(mod_upto)} paired examples the "
                "data favours modular"
            )
        if e2e_from:
            parts.append(f"≥ {count(e2e_from)}: from {count(e2e_from)} pairs it favours end-to-end")
        if not parts:
            return ""
        return (
            "; ".join(parts) + "; in between it is neutral. Both limits already include this "
            "project's stage-label, labelling-cost and pretraining adjustments."
        )
    if isinstance(th, LatencyThresholds):
        fast = th.favours_end_to_end_below_ms
        slow = th.tolerates_modular_from_ms
        return (
            f"< {ms(fast)}: a p95 budget under {ms(fast)} favours end-to-end (a cascade of "
            f"stages rarely fits); ≥ {ms(slow)}: from {ms(slow)} a modular pipeline's "
            "extra hops fit the budget; in between the budget is neutral."
        )
    return ""


def dimension_grid(d: Dimension, project: Requirements, favour_threshold: float) -> Markup:
    """Give one dimension's grid: thresholds in its own units, the project, and its push.

    Args:
        d: a `Dimension` of the assessment.
        project: the requirements as understood (`Assessment.understood()`).
        favour_threshold: the utility beyond which a dimension favours a side.
    """
    width, pad = 300, 6
    th = d.thresholds
    parts: list[str] = []
    if isinstance(th, RegulationThresholds):
        body, desc = _regulation_grid(d, th, width, pad, favour_threshold)
        parts.append(body)
        top = 140
    elif isinstance(th, DataThresholds):
        body, desc = _data_band(th, point(project.data.paired_examples), width, pad)
        parts.append(body)
        top = 104
    else:
        body, desc = _latency_band(th, point(project.latency.budget_ms), width, pad)
        parts.append(body)
        top = 104
    parts.append(_utility_row(d, top + 22, width, pad, favour_threshold))
    height = top + 58
    title = f"{d.label}: {d.value}"
    desc += (
        f" On the utility scale (−1 modular to +1 end-to-end) this project is at "
        f"{float(d.utility):+.2f}: "
        + ("neutral." if d.favours == "neutral" else f"it pushes towards {LABELS[d.favours]}.")
    )
    return _svg(width, height, title, desc, "".join(parts), "dimchart")


def _data_band(th: DataThresholds, pairs: float, width: int, pad: int) -> tuple[str, str]:
    e2e_from = th.favours_end_to_end_from_pairs
    mod_upto = th.favours_modular_up_to_pairs
    known = [v for v in (th.scarce_pairs, th.ample_pairs, pairs, e2e_from, mod_upto) if v]
    lo, hi = _log_scale(known, 0.6, 0.6)
    span = width - 2 * pad

    def sx(v: float) -> float:
        return pad + (math.log10(max(v, 1.0)) - lo) / (hi - lo) * span

    a, b = 10.0**lo, 10.0**hi
    zones = []
    m = mod_upto if mod_upto is not None else a
    e = e2e_from if e2e_from is not None else b
    zones.append((a, m, "mod"))
    zones.append((m, e, "neu"))
    zones.append((e, b, "e2e"))
    y = 40
    rects, labels = _band(zones, y, 26, sx)
    parts = [rects]
    for v in (mod_upto, e2e_from):
        if v is None:
            continue
        parts.append(
            f'<line x1="{_f(sx(v))}" y1="{y}" x2="{_f(sx(v))}" y2="{y + 32}" class="tick"/>'
        )
    ticks = []
    if mod_upto is not None:
        ticks.append((sx(mod_upto), f"≤ {count(mod_upto)}", "end"))
    if e2e_from is not None:
        ticks.append((sx(e2e_from), f"≥ {count(e2e_from)}", "start"))
    for x, s, anchor in ticks:
        parts.append(_text(x + (-3 if anchor == "end" else 3), y + 42, s, "small", anchor))
    parts.append(
        _text(pad, y + 58, f"paired examples, log scale ({count(a)} – {count(b)})", "small muted")
    )
    parts.append(_marker(sx(pairs), y - 2, y + 28, f"this project: {count(pairs)}", width, pad))
    parts.append(labels)
    desc = (
        f"Data resources on a log scale of paired examples. Favours modular up to "
        f"{count(mod_upto) if mod_upto else 'never'} pairs and end-to-end from "
        f"{count(e2e_from) if e2e_from else 'never'} pairs (scarce {count(th.scarce_pairs)}, "
        f"ample {count(th.ample_pairs)}, after label and pretraining adjustments). "
        f"This project has {count(pairs)} pairs."
    )
    return "".join(parts), desc


def _latency_band(th: LatencyThresholds, budget: float, width: int, pad: int) -> tuple[str, str]:
    fast = th.favours_end_to_end_below_ms
    slow = th.tolerates_modular_from_ms
    lo, hi = _log_scale([fast, slow, budget, 10.0, 60000.0], 0.0, 0.0)
    span = width - 2 * pad

    def sx(v: float) -> float:
        return pad + (math.log10(max(v, 1.0)) - lo) / (hi - lo) * span

    a, b = 10.0**lo, 10.0**hi
    y = 40
    rects, labels = _band([(a, fast, "e2e"), (fast, slow, "neu"), (slow, b, "mod")], y, 26, sx)
    parts = [rects]
    for v, s, anchor in ((fast, f"< {ms(fast)}", "end"), (slow, f"≥ {ms(slow)}", "start")):
        parts.append(
            f'<line x1="{_f(sx(v))}" y1="{y}" x2="{_f(sx(v))}" y2="{y + 32}" class="tick"/>'
        )
        parts.append(_text(sx(v) + (-3 if anchor == "end" else 3), y + 42, s, "small", anchor))
    parts.append(_text(pad, y + 58, f"p95 budget, log scale ({ms(a)} – {ms(b)})", "small muted"))
    parts.append(_marker(sx(budget), y - 2, y + 28, f"this project: {ms(budget)}", width, pad))
    parts.append(labels)
    desc = (
        f"Latency budget on a log scale. Under {ms(fast)} favours end-to-end; from {ms(slow)} a "
        f"modular pipeline is tolerated. This project's p95 budget is {ms(budget)}."
    )
    return "".join(parts), desc


def _regulation_grid(
    d: Dimension, t: RegulationThresholds, width: int, pad: int, th: float
) -> tuple[str, str]:
    crits = list(t.criticality_utilities)
    expls = list(t.explainability_utilities)
    if not crits or not expls:  # an older assessment: no grid, the utility row still shows
        return _text(pad, 20, f"{d.value}", "small"), f"Regulatory compliance: {d.value}."
    left, top, cw, ch = 100, 34, (width - 100 - pad) / len(expls), 21
    parts = [
        _text(left + cw * len(expls) / 2, 12, "required explainability", "small muted", "middle")
    ]
    for j, e in enumerate(expls):
        parts.append(_text(left + cw * (j + 0.5), 28, e, "small", "middle"))
    here = (t.criticality, t.required_explainability)
    for i, c in enumerate(crits):
        y = top + i * ch
        parts.append(_text(left - 6, y + 15, c.replace("_", " "), "small", "end"))
        for j, e in enumerate(expls):
            u = max(
                -1.0,
                min(
                    1.0,
                    t.criticality_utilities[c] + t.explainability_utilities[e],
                ),
            )
            kind = "e2e" if u >= th else "mod" if u <= -th else "neu"
            word = {"e2e": "E2E", "mod": "MOD", "neu": "–"}[kind]
            x = left + j * cw
            mine = (c, e) == here
            parts.append(
                f'<rect x="{_f(x + 1)}" y="{_f(y + 1)}" width="{_f(cw - 2)}" height="{ch - 2}" '
                f'class="zone-{kind}{" here" if mine else ""}"/>'
            )
            parts.append(
                _text(
                    x + cw / 2,
                    y + 15,
                    ("● " + word) if mine else word,
                    "small strong" if mine else "small zone-label",
                    "middle",
                )
            )
    parts.append(
        _text(
            pad,
            top + len(crits) * ch + 16,
            "● this project · E2E / MOD: the side each cell favours",
            "small muted",
        )
    )
    desc = (
        "Regulatory compliance as a grid of criticality (rows) by required explainability "
        "(columns); each cell says which side that combination favours (E2E, MOD or neutral). "
        f"This project is {here[0].replace('_', ' ')} with {here[1]} explainability required."
    )
    return "".join(parts), desc


# ---------------------------------------------------------------------------------------------
# Scores with vetoes


def scores(a: Any) -> Markup:
    """Give the option scores as labelled bars; vetoed options hatched and marked 'vetoed'."""
    width, left, bar_h, gap = 760, 120, 26, 14
    vetoed = {v.option for v in a.vetoes}
    vals = [float(a.scores[o]) for o in OPTIONS]
    lo, hi = min(0.0, *vals), max(vals + [0.01])
    span = width - left - 200

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * span

    parts = [
        f'<line x1="{_f(sx(0))}" y1="0" x2="{_f(sx(0))}" y2="{3 * (bar_h + gap)}" class="axis"/>'
    ]
    words = []
    for i, opt in enumerate(OPTIONS):
        y = i * (bar_h + gap) + 4
        v = vals[i]
        x0, x1 = sorted((sx(0), sx(v)))
        status = "vetoed" if opt in vetoed else "recommended" if opt == a.recommendation else ""
        fill = "fill-veto" if opt in vetoed else f"fill-{CLS[opt]}"
        parts.append(
            _text(
                left - 10, y + 18, LABELS[opt], "strong" if opt == a.recommendation else "", "end"
            )
        )
        parts.append(
            f'<rect x="{_f(x0)}" y="{y}" width="{_f(max(x1 - x0, 1))}" height="{bar_h}" '
            f'class="{fill}"/>'
        )
        mark = {"vetoed": "  ✗ vetoed", "recommended": "  ✓ recommended", "": ""}[status]
        parts.append(_text(x1 + 8, y + 18, f"{v:.3f}{mark}", "strong" if status else ""))
        words.append(f"{LABELS[opt]} {v:.3f}{' (' + status + ')' if status else ''}")
    height = 3 * (bar_h + gap) + 4
    return _svg(
        width,
        height,
        "Score per option",
        "Option scores: " + "; ".join(words) + ".",
        "".join(parts),
        "scores",
    )


# ---------------------------------------------------------------------------------------------
# Why: SHAP waterfall


def waterfall(a: Any) -> Markup:
    """Give the SHAP waterfall: base, one bar per feature (largest first), this project."""
    rows = list(a.attributions)
    if not rows or a.attribution_base is None:
        return Markup("")
    bar_h, gap, left, width, right = 20, 8, 330, 1000, 120
    height = (len(rows) + 2) * (bar_h + gap) + 34
    base = float(a.attribution_base)
    values = [base]
    running = base
    for r in rows:
        running += r.contribution
        values.append(running)
    lo, hi = min(values + [0.0]), max(values + [0.0])
    span = (hi - lo) or 1.0
    plot_w = width - left - right

    def sx(v: float) -> float:
        return left + (v - lo) / span * plot_w

    rec, run = a.recommendation, a.runner_up
    parts = [
        f'<line x1="{_f(sx(0))}" y1="0" x2="{_f(sx(0))}" y2="{height - 30}" class="axis"/>',
        _text(sx(0), height - 16, "0", "small muted", "middle"),
        _text(left, height - 2, f"◀ towards {LABELS[run]}", "small muted"),
        _text(width - right, height - 2, f"towards {LABELS[rec]} ▶", "small muted", "end"),
    ]
    y = 2

    def total(label: str, v: float, cls: str) -> str:
        x0, x1 = sorted((sx(0), sx(v)))
        return (
            _text(left - 10, y + 15, label, "strong", "end")
            + f'<rect x="{_f(x0)}" y="{y}" width="{_f(max(x1 - x0, 1))}" height="{bar_h}" '
            f'class="{cls}"/>' + _text(x1 + 6, y + 15, f"{v:+.3f}", "strong")
        )

    parts.append(total("average project (base)", base, "fill-base"))
    running = base
    for r in rows:
        y += bar_h + gap
        start, end = running, running + r.contribution
        x0, x1 = sorted((sx(start), sx(end)))
        pos = r.contribution >= 0
        cls = f"wf-bar fill-{CLS[rec]}" if pos else f"wf-bar fill-{CLS[run]} neg"
        label = f"{r.label} = {r.value}" + (" *" if r.default else "")
        label = label if len(label) <= 46 else label[:45] + "…"
        sign = "+" if pos else "−"
        parts.append(
            _text(left - 10, y + 14, label, "", "end")
            + f'<line x1="{_f(sx(start))}" y1="{y - gap}" x2="{_f(sx(start))}" y2="{y + bar_h}" '
            'class="connector"/>'
            + f'<rect x="{_f(x0)}" y="{y}" width="{_f(max(x1 - x0, 1.5))}" height="{bar_h}" '
            f'class="{cls}" data-feature="{escape(r.feature)}"/>'
            + _text(x1 + 6, y + 14, f"{sign}{abs(r.contribution):.3f}", "small")
        )
        running = end
    y += bar_h + gap
    parts.append(total("this project (margin)", running, "fill-total"))
    listing = "; ".join(f"{r.label} {r.contribution:+.3f}" for r in rows)
    return _svg(
        width,
        height,
        f"SHAP waterfall of the {a.attribution_target}",
        f"Starts at the background average {base:+.3f}; contributions, largest first: {listing}; "
        f"ends at this project's margin {running:+.3f}. Positive values push towards "
        f"{LABELS[rec]}, negative towards {LABELS[run]}.",
        "".join(parts),
        "waterfall",
    )


# ---------------------------------------------------------------------------------------------
# Explainability per option against the requirement


def explainability(a: Any) -> Markup:
    """Give each option's estimated fidelity, its interval and the required minimum."""
    ests = [a.explainability[o] for o in OPTIONS if o in a.explainability]
    if not ests:
        return Markup("")
    need = float(ests[0].required_fidelity)
    width, left, right, row = 880, 120, 390, 34
    lo = min([0.5, need - 0.05] + [float(e.low) - 0.05 for e in ests])
    lo = max(0.0, math.floor(lo * 10) / 10)
    span = width - left - right

    def sx(v: float) -> float:
        return left + (v - lo) / (1.0 - lo) * span

    height = len(ests) * row + 44
    parts = []
    t = lo
    while t <= 1.0001:
        parts.append(
            f'<line x1="{_f(sx(t))}" y1="18" x2="{_f(sx(t))}" y2="{height - 24}" class="grid"/>'
            + _text(sx(t), height - 8, f"{t:.0%}", "small muted", "middle")
        )
        t = round(t + 0.1, 2)
    parts.append(
        f'<line x1="{_f(sx(need))}" y1="10" x2="{_f(sx(need))}" y2="{height - 24}" class="need"/>'
        + _text(
            sx(need),
            10,
            f"required ≥ {need:.0%} ({ests[0].required_level})",
            "small strong",
            "middle",
        )
    )
    words = []
    for i, e in enumerate(ests):
        y = 24 + i * row
        opt = e.option
        parts.append(
            _text(
                left - 10, y + 14, LABELS[opt], "strong" if opt == a.recommendation else "", "end"
            )
        )
        parts.append(
            f'<rect x="{_f(sx(e.low))}" y="{y + 5}" width="{_f(max(sx(e.high) - sx(e.low), 2))}" '
            f'height="10" class="fill-{CLS[opt]} interval"/>'
            f'<circle cx="{_f(sx(e.estimate))}" cy="{y + 10}" r="6" class="dot"/>'
        )
        # The gap is a difference of two fidelities: percentage points, not a percentage.
        verdict = "✓ meets" if e.meets_requirement else f"✗ {points(float(e.gap))} short"
        if not e.traceable:
            verdict += ", not traceable"
        parts.append(
            _text(
                width - right + 12,
                y + 14,
                f"{e.estimate:.0%} ({e.low:.0%}–{e.high:.0%}) {verdict}",
                "small",
            )
        )
        words.append(f"{LABELS[opt]} {e.estimate:.0%} ({e.low:.0%} to {e.high:.0%}), {verdict}")
    return _svg(
        width,
        height,
        "Estimated explanation fidelity per option",
        f"Required at least {need:.0%}. " + "; ".join(words) + ".",
        "".join(parts),
        "expl",
    )


# ---------------------------------------------------------------------------------------------
# Architecture sketch


def sketch_stages(a: Any) -> list[PatternStage]:
    """Give the stages of the recommended design, in order (`Assessment.design_stages`: a
    hybrid's pattern's, else the rule pack's illustrative stages for the option and modality).
    An assessment written before the design stages were recorded gives a hybrid's pattern
    stages, else none."""
    if a.design_stages:
        return list(a.design_stages)
    if a.recommendation == "hybrid" and a.hybrid_pattern is not None:
        return list(a.hybrid_pattern.stages)
    return []


_PATTERNS = (
    "<defs>"
    '<pattern id="pat-learned" width="8" height="8" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="8" height="8" class="pat-bg-learned"/>'
    '<line x1="0" y1="0" x2="0" y2="8" class="pat-line"/></pattern>'
    '<pattern id="pat-rule" width="10" height="10" patternUnits="userSpaceOnUse">'
    '<rect width="10" height="10" class="pat-bg-rule"/>'
    '<circle cx="5" cy="5" r="1.6" class="pat-dot"/></pattern>'
    "</defs>"
)
_FILL = {"learned": "url(#pat-learned)", "rule_based": "url(#pat-rule)", "traditional": ""}


def sketch(a: Any) -> Markup:
    """Give the architecture sketch: a box per stage, marked learned, traditional or rule-based."""
    stages = sketch_stages(a)
    n = len(stages)
    if not n:
        return Markup("")
    width, gap, top = 1000, 44, 24
    box_w = (width - (n - 1) * gap) / n
    chars = max(12, int((box_w - 36) / 7.4))
    lines = max(len(textwrap.wrap(s.name, chars)[:4]) for s in stages)
    box_h = 62 + 17 * lines
    parts = [_PATTERNS]
    parts.append(_text(0, 14, "input ▸", "small muted"))
    words = []
    for i, s in enumerate(stages):
        x = i * (box_w + gap)
        kind = s.kind
        fill = _FILL[kind]
        style = f' fill="{fill}"' if fill else ""
        parts.append(
            f'<rect x="{_f(x)}" y="{top}" width="{_f(box_w)}" height="{box_h}" rx="8" '
            f'class="stage stage-{kind}"{style}/>'
        )
        # A solid label plate so the stage name stays legible over the pattern.
        parts.append(
            f'<rect x="{_f(x + 12)}" y="{top + 12}" width="{_f(box_w - 24)}" height="{box_h - 24}" '
            'rx="4" class="plate"/>'
        )
        parts.append(
            _text(x + 20, top + 30, f"{i + 1} · {KIND_LABELS[kind].upper()}", "kind strong small")
        )
        for j, line in enumerate(textwrap.wrap(s.name, chars)[:4]):
            parts.append(_text(x + 20, top + 50 + j * 17, line))
        if i < n - 1:
            ax = x + box_w
            mid = top + box_h / 2
            parts.append(
                f'<line x1="{_f(ax + 4)}" y1="{_f(mid)}" x2="{_f(ax + gap - 12)}" y2="{_f(mid)}" '
                'class="flow"/>'
                f'<polygon points="{_f(ax + gap - 4)},{_f(mid)} {_f(ax + gap - 13)},{_f(mid - 6)} '
                f'{_f(ax + gap - 13)},{_f(mid + 6)}" class="flow-head"/>'
            )
        words.append(f"{i + 1}. {s.name} ({KIND_LABELS[kind]})")
    parts.append(_text(width, 14, "▸ output", "small muted", "end"))
    # Legend: the same patterns and words.
    ly = top + box_h + 26
    lx = 0.0
    for kind, text in (
        ("learned", "learned (trained from data)"),
        ("traditional", "traditional (engineered, interpretable)"),
        ("rule_based", "rule-based (explicit rules)"),
    ):
        fill = _FILL[kind]
        style = f' fill="{fill}"' if fill else ""
        parts.append(
            f'<rect x="{_f(lx)}" y="{ly - 12}" width="26" height="16" rx="3" '
            f'class="stage stage-{kind}"{style}/>' + _text(lx + 34, ly + 1, text, "small")
        )
        lx += 34 + len(text) * 6.6 + 28
    height = ly + 14
    title = f"Architecture sketch of the recommended {LABELS[a.recommendation]} design"
    return _svg(
        width,
        height,
        title,
        "Stages from input to output: " + "; ".join(words) + ".",
        "".join(parts),
        "sketch",
    )


# ---------------------------------------------------------------------------------------------
# Comparison: what moved the margin


def contributions(c: Any) -> Markup:
    """Give the comparison's per-input contributions as signed, labelled bars."""
    rows = list(c.contributions)
    if not rows:
        return Markup("")
    width, left, right, bar_h, gap = 900, 300, 90, 20, 8
    vals = [float(r.contribution) for r in rows]
    lo, hi = min(vals + [0.0]), max(vals + [0.0])
    span = (hi - lo) or 1.0

    def sx(v: float) -> float:
        return left + (v - lo) / span * (width - left - right)

    parts = []
    height = len(rows) * (bar_h + gap) + 24
    parts.append(
        f'<line x1="{_f(sx(0))}" y1="0" x2="{_f(sx(0))}" y2="{height - 20}" class="axis"/>'
    )
    words = []
    for i, r in enumerate(rows):
        y = i * (bar_h + gap)
        v = float(r.contribution)
        x0, x1 = sorted((sx(0), sx(v)))
        label = f"{r.label}: {r.old} → {r.new}"
        label = label if len(label) <= 44 else label[:43] + "…"
        parts.append(
            _text(left - 10, y + 14, label, "", "end")
            + f'<rect x="{_f(x0)}" y="{y}" width="{_f(max(x1 - x0, 1.5))}" height="{bar_h}" '
            f'class="{"fill-e2e" if v >= 0 else "fill-mod"}"/>'
            + _text(x1 + 6, y + 14, f"{v:+.3f}", "small")
        )
        words.append(f"{r.label} {v:+.3f}")
    parts.append(_text(left, height - 4, "◀ lowers the margin", "small muted"))
    parts.append(_text(width - right, height - 4, "raises the margin ▶", "small muted", "end"))
    return _svg(
        width,
        height,
        f"What moved the {c.attribution_target}",
        "Contribution of each changed input: " + "; ".join(words) + ".",
        "".join(parts),
        "waterfall",
    )
