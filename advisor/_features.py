"""Stage 1: requirements -> features (a row of named numbers).

Takes a `Requirements` and the rule pack's list of regimes; gives a float vector laid out as
`FeatureSpace.columns`: one fixed column per slotted field of the registry (`_fields.FIELDS`),
then one 0/1 column per known regime. Categories are stored as their index in the field's
choices, numbers on their log scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._fields import BASE_COLUMNS, FIELDS
from ._requirements import DEFAULT_EXPLAINABILITY, Requirements

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


def encode_columns(space: FeatureSpace, values: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """Give the n-row feature matrix of many projects from their fields' columns, as `matrix`
    gives it from their `Requirements` (the column-wise batch).

    Driven by the registry (`fields.FIELDS`), as `vector` is: each slotted field's column holds
    its values encoded by the field itself; the regimes give one 0/1 column per known regime.

    Args:
        space: the pack's layout.
        values: per field path (every slotted field, and `regulation.regimes`), the validated
            values as the requirements model stores them, one per row: choices as their names,
            booleans, numbers at their point value (`requirements.point`), regimes as sequences
            of normalised names; `regulation.explainability` None where it was not stated (the
            default of the row's criticality then applies, as `explainability_level` gives).
    """
    n = len(values["regulation.regimes"])
    x = np.zeros((n, space.width))
    for j, f in enumerate(_SLOTTED):
        column = values[f.path]
        if f.read is not None:
            if f.path != "regulation.explainability":  # a reading this encoder does not know
                raise ValueError(f"{f.path}: no column-wise reading of this field")
            crit = values["regulation.criticality"]
            column = [
                DEFAULT_EXPLAINABILITY[str(c)] if v is None else v
                for v, c in zip(column, crit, strict=True)
            ]
        if f.kind == "numeric":
            x[:, j] = f.encode_numbers(column)
        else:
            codes = {v: f.encode(v) for v in set(column)}
            x[:, j] = [codes[v] for v in column]
    # One 0/1 row per distinct set of regimes (a portfolio repeats a few sets).
    distinct: dict[tuple[str, ...], int] = {}
    rows = [distinct.setdefault(tuple(rs), len(distinct)) for rs in values["regulation.regimes"]]
    bits = np.array(
        [[1.0 if name in rs else 0.0 for name in space.regimes] for rs in distinct]
    ).reshape(len(distinct), len(space.regimes))
    if n:
        x[:, len(BASE_COLUMNS) :] = bits[np.array(rows, dtype=np.intp)]
    return x
