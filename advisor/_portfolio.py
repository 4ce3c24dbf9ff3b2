"""The portfolio overview of a batch (`advisor batch --report`): one self-contained HTML page.

Takes the batch's result points (`_batch.Point`), kept in an `Overview` whose memory does not
grow with the rows; gives the page's HTML (a scatter of pairs against budget, a table, the
errors), with every user text escaped and no network request. Pure: no files, no printing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

from ._batch import Point
from ._fields import OPTIONS

# ---------------------------------------------------------------------------------------------
# The portfolio overview (HTML).

#: At most this many projects in the overview's table and scatter; the page says when it shows
#: fewer than all (every project is always in the JSON lines).
TABLE_LIMIT = 5000
SCATTER_LIMIT = 5000
ERROR_LIMIT = 500
_PLOT = {"width": 720, "height": 440, "left": 70, "right": 20, "top": 20, "bottom": 56}
_SHAPES = {"end_to_end": "circle", "modular": "square", "hybrid": "triangle"}


def _decade_label(e: int) -> str:
    v = 10.0**e
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _marker(shape: str, x: float, y: float) -> str:
    if shape == "circle":
        return f"M{x - 4:.1f},{y:.1f}a4,4 0 1,0 8,0a4,4 0 1,0 -8,0z"
    if shape == "square":
        return f"M{x - 3.5:.1f},{y - 3.5:.1f}h7v7h-7z"
    return f"M{x:.1f},{y - 4.5:.1f}l4.5,8h-9z"


class Overview:
    """What the portfolio overview keeps of a batch, in memory that does not grow with the rows.

    Fed one `Point` per row in input order (`add`); keeps the counts, the first TABLE_LIMIT rows
    (the table), the first ERROR_LIMIT failed rows and a uniform random sample of SCATTER_LIMIT
    assessed rows for the scatter (reservoir sampling, Vitter's algorithm R, with a fixed seed:
    the same input gives the same page).
    """

    def __init__(self, seed: int = 0) -> None:
        self.total = 0
        self.ok = 0
        self.errors = 0
        self.counts = dict.fromkeys(OPTIONS, 0)
        self.table: list[Point] = []
        self.error_rows: list[Point] = []
        self._sample: list[tuple[int, Point]] = []  # (position among assessed rows, point)
        self._rng = random.Random(seed)

    def add(self, p: Point) -> None:
        """Take one row's point (rows in input order)."""
        self.total += 1
        if len(self.table) < TABLE_LIMIT:
            self.table.append(p)
        if p.recommendation is None:
            self.errors += 1
            if len(self.error_rows) < ERROR_LIMIT:
                self.error_rows.append(p)
            return
        self.ok += 1
        self.counts[p.recommendation] += 1
        if len(self._sample) < SCATTER_LIMIT:
            self._sample.append((self.ok, p))
        else:
            j = self._rng.randrange(self.ok)
            if j < SCATTER_LIMIT:
                self._sample[j] = (self.ok, p)

    def extend(self, points: Iterable[Point]) -> None:
        """Take several rows' points, in input order."""
        for p in points:
            self.add(p)

    @property
    def scatter(self) -> list[Point]:
        """The sampled assessed rows, in input order (all of them when there are few enough)."""
        return [p for _, p in sorted(self._sample, key=lambda t: t[0])]


def portfolio_view(
    points: Overview | Sequence[Point],
    *,
    title: str,
    source: str,
    rulepack: str,
    samples: int,
) -> dict[str, Any]:
    """Give what the portfolio template shows: counts, the table, the scatter and the errors.

    Args:
        points: an `Overview` fed every row, or the rows' points themselves.
    """
    if isinstance(points, Overview):
        ov = points
    else:
        ov = Overview()
        ov.extend(points)
    counts = ov.counts
    shown = ov.scatter
    g = _PLOT
    pw = g["width"] - g["left"] - g["right"]
    ph = g["height"] - g["top"] - g["bottom"]
    xs = [math.log10(1.0 + (p.paired or 0.0)) for p in shown]
    ys = [math.log10(p.budget or 1.0) for p in shown]
    x0, x1 = (math.floor(min(xs)), math.ceil(max(xs))) if xs else (0, 9)
    y0, y1 = (math.floor(min(ys)), math.ceil(max(ys))) if ys else (0, 5)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(v: float) -> float:
        return g["left"] + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return g["top"] + ph - (v - y0) / (y1 - y0) * ph

    marks = []
    for p, xv, yv in zip(shown, xs, ys, strict=True):
        rec = p.recommendation or ""
        marks.append(
            {
                "option": rec,
                "path": _marker(_SHAPES[rec], px(xv), py(yv)),
                "label": f"{p.name}: {rec.replace('_', '-')} ({(p.confidence or 0) * 100:.0f}%)",
            }
        )
    return {
        "title": title,
        "source": source,
        "rulepack": rulepack,
        "samples": samples,
        "total": ov.total,
        "ok": ov.ok,
        "errors": ov.errors,
        "counts": counts,
        "table": ov.table,
        "has_ids": any(p.ident is not None for p in ov.table),
        "table_limited": ov.total > TABLE_LIMIT,
        "error_rows": ov.error_rows,
        "errors_limited": ov.errors > ERROR_LIMIT,
        "plot": g,
        "plot_w": pw,
        "plot_h": ph,
        "marks": marks,
        "scatter_sampled": ov.ok > len(shown),
        "scatter_shown": len(shown),
        "x_ticks": [{"at": px(e), "label": _decade_label(e)} for e in range(x0, x1 + 1)],
        "y_ticks": [{"at": py(e), "label": _decade_label(e)} for e in range(y0, y1 + 1)],
        "legend": [
            {
                "option": o,
                "path": _marker(_SHAPES[o], 8, 8),
                "count": counts[o],
                "shape": _SHAPES[o] + "s",
            }
            for o in OPTIONS
        ],
    }


def portfolio_html(points: Overview | Sequence[Point], **meta: Any) -> str:
    """Render the portfolio overview: one self-contained HTML page (no scripts, no network).

    Args:
        points: an `Overview` fed every row, or every row's point, in input order.
        **meta: title, source, rulepack and samples (see `portfolio_view`).
    """
    from ._render import environment

    template = environment().get_template("portfolio.html.j2")
    return str(template.render(p=portfolio_view(points, **meta)))
