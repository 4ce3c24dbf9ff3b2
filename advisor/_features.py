"""Stage 1: requirements -> features (a row of named numbers).

Takes a `Requirements` and the rule pack's list of regimes; gives a float vector laid out as
`FeatureSpace.columns`: one fixed column per slotted field of the registry (`_fields.FIELDS`),
then one 0/1 column per known regime. Categories are stored as their index in the field's
choices, numbers on their log scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._fields import BASE_COLUMNS, FIELDS
from ._requirements import Requirements

#: The fields with a base column, in column order.
_SLOTTED = sorted((f for f in FIELDS if f.slot is not None), key=lambda f: f.slot or 0)


@dataclass(frozen=True)
class FeatureSpace:
    """The feature matrix layout for one rule pack."""

    regimes: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Give every column name: the base columns, then `regime:<id>` per known regime."""
        return BASE_COLUMNS + tuple(f"regime:{r}" for r in self.regimes)

    @property
    def width(self) -> int:
        """Give the number of columns."""
        return len(BASE_COLUMNS) + len(self.regimes)

    def col(self, name: str) -> int:
        """Give the index of a base column."""
        return BASE_COLUMNS.index(name)

    def vector(self, req: Requirements) -> np.ndarray:
        """Give the feature row of `req` at its point values (ranges at their midpoint)."""
        row = [f.encode(f.value(req)) for f in _SLOTTED]
        regimes = req.regulation.regimes
        bits = [1.0 if r in regimes else 0.0 for r in self.regimes]
        return np.array(row + bits, dtype=float)

    def matrix(self, reqs: Sequence[Requirements]) -> np.ndarray:
        """Give the n-row feature matrix of many requirements: `vector` of each, stacked."""
        if not reqs:
            return np.zeros((0, self.width))
        return np.stack([self.vector(r) for r in reqs])

    def unknown_regimes(self, req: Requirements) -> list[str]:
        """Give the regimes of `req` that the pack does not know."""
        return [r for r in req.regulation.regimes if r not in self.regimes]
