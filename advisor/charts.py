"""Inline SVG charts for the HTML report (no JavaScript, no images, no network).

Takes numbers and labels from an Assessment; gives SVG markup as `markupsafe.Markup`, with every
label escaped, a <title> and an aria-label so each chart has a text alternative.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

COLOURS = {"end_to_end": "#3b6fd4", "modular": "#c7721c", "hybrid": "#2e9d6b"}
LABELS = {"end_to_end": "end-to-end", "modular": "modular", "hybrid": "hybrid"}


def _svg(width: int, height: int, title: str, body: str) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{t}" class="chart"><title>{t}</title>{body}</svg>'
    )


def waterfall(a: Any) -> Markup:
    """Give the SHAP waterfall: base, one bar per feature (largest first), final margin."""
    rows = list(a.attributions)
    if not rows or a.attribution_base is None:
        return Markup("")
    bar_h, gap, left, width = 22, 6, 330, 760
    height = (len(rows) + 2) * (bar_h + gap) + 30
    values = [a.attribution_base]
    running = a.attribution_base
    for r in rows:
        running += r.contribution
        values.append(running)
    lo, hi = min(values + [0.0]), max(values + [0.0])
    span = (hi - lo) or 1.0
    plot_w = width - left - 90

    def sx(v: float) -> float:
        return left + (v - lo) / span * plot_w

    parts = [
        f'<line x1="{sx(0):.1f}" y1="0" x2="{sx(0):.1f}" y2="{height - 20}" class="axis"/>'
    ]
    y = 4
    parts.append(
        f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">average project (base)</text>'
        f'<rect x="{min(sx(0), sx(a.attribution_base)):.1f}" y="{y}" '
        f'width="{abs(sx(a.attribution_base) - sx(0)):.1f}" height="{bar_h}" class="bar-base"/>'
        f'<text x="{max(sx(0), sx(a.attribution_base)) + 4:.1f}" y="{y + 15}">'
        f"{a.attribution_base:+.2f}</text>"
    )
    running = a.attribution_base
    for r in rows:
        y += bar_h + gap
        start, end = running, running + r.contribution
        running = end
        cls = "bar-pos" if r.contribution >= 0 else "bar-neg"
        sign = "+" if r.contribution >= 0 else "−"
        label = escape(f"{r.label}: {r.value}")
        mark = " *" if r.default else ""
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{label}{mark}</text>'
            f'<rect x="{min(sx(start), sx(end)):.1f}" y="{y}" '
            f'width="{max(abs(sx(end) - sx(start)), 1):.1f}" height="{bar_h}" class="{cls}">'
            f"<title>{escape(r.text)}</title></rect>"
            f'<text x="{max(sx(start), sx(end)) + 4:.1f}" y="{y + 15}">{sign}{abs(r.contribution):.2f}</text>'
        )
    y += bar_h + gap
    parts.append(
        f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" class="strong">this project (margin)</text>'
        f'<rect x="{min(sx(0), sx(running)):.1f}" y="{y}" width="{abs(sx(running) - sx(0)):.1f}" '
        f'height="{bar_h}" class="bar-total"/>'
        f'<text x="{max(sx(0), sx(running)) + 4:.1f}" y="{y + 15}" class="strong">{running:+.2f}</text>'
    )
    title = (
        f"Waterfall of SHAP contributions to the {a.attribution_target}: base "
        f"{a.attribution_base:+.2f}, final {running:+.2f}"
    )
    return _svg(width, height, title, "".join(parts))


def probabilities(a: Any) -> Markup:
    """Give a stacked bar of the Monte Carlo probability of each option."""
    width, height = 760, 56
    x = 0.0
    parts = []
    for opt in ("end_to_end", "hybrid", "modular"):
        p = float(a.probabilities.get(opt, 0.0))
        w = p * width
        if w > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="30" fill="{COLOURS[opt]}">'
                f"<title>{LABELS[opt]}: {p:.0%}</title></rect>"
            )
            if w > 90:
                parts.append(
                    f'<text x="{x + 6:.1f}" y="20" class="on-bar">{LABELS[opt]} {p:.0%}</text>'
                )
        x += w
    legend = " · ".join(f"{LABELS[o]} {float(a.probabilities.get(o, 0)):.0%}" for o in COLOURS)
    parts.append(f'<text x="0" y="50">{escape(legend)}</text>')
    return _svg(width, height, f"Probability of each recommendation: {legend}", "".join(parts))


def dimension_scale(d: Any) -> Markup:
    """Give one dimension's utility on a -1..+1 scale with the favour thresholds marked."""
    width, height = 360, 48
    pad = 10

    def sx(u: float) -> float:
        return pad + (u + 1) / 2 * (width - 2 * pad)

    u = float(d.utility)
    parts = [
        f'<rect x="{pad}" y="14" width="{width - 2 * pad}" height="10" class="scale"/>',
        f'<line x1="{sx(0):.1f}" y1="8" x2="{sx(0):.1f}" y2="30" class="axis"/>',
        f'<circle cx="{sx(u):.1f}" cy="19" r="7" class="marker"/>',
        f'<text x="{pad}" y="44">modular</text>',
        f'<text x="{width - pad}" y="44" text-anchor="end">end-to-end</text>',
        f'<text x="{sx(0):.1f}" y="44" text-anchor="middle">neutral</text>',
    ]
    title = f"{d.label}: utility {u:+.2f}, favours {d.favours.replace('_', '-')}"
    return _svg(width, height, title, "".join(parts))
