"""Stage 1: requirements -> features (a row of named numbers).

Takes a `Requirements` and the rule pack's list of regimes; gives a float vector laid out as
`FeatureSpace.columns`: the fixed columns of `fields.BASE_COLUMNS`, then one 0/1 column per known
regime. Categories are stored as their index in the field's choices, numbers on a log scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._fields import BASE_COLUMNS, log_ms, log_pairs
from ._requirements import (
    COST_ORDER,
    CRITICALITY_ORDER,
    EXPLAINABILITY_ORDER,
    LEVEL3_ORDER,
    MATURITY_ORDER,
    MODALITIES,
    TARGETS,
    Requirements,
    point,
)


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
        reg = req.regulation
        row = [
            log_pairs(point(req.data.paired_examples)),
            log_ms(point(req.latency.budget_ms)),
            LEVEL3_ORDER.index(str(req.data.stage_labels)),
            COST_ORDER.index(str(req.data.labeling_cost)),
            MODALITIES.index(str(req.task.modality)),
            CRITICALITY_ORDER.index(str(reg.criticality)),
            EXPLAINABILITY_ORDER.index(req.explainability_level()),
            1.0 if req.task.pretrained_available else 0.0,
            MATURITY_ORDER.index(str(req.team.ml_maturity)),
            1.0 if req.deployment.independent_updates else 0.0,
            TARGETS.index(str(req.deployment.target)),
            1.0 if req.task.foundation_model else 0.0,
        ]
        bits = [1.0 if r in reg.regimes else 0.0 for r in self.regimes]
        return np.array(row + bits, dtype=float)

    def matrix(self, reqs: Sequence[Requirements]) -> np.ndarray:
        """Give the n-row feature matrix of many requirements: `vector` of each, stacked."""
        if not reqs:
            return np.zeros((0, self.width))
        return np.stack([self.vector(r) for r in reqs])

    def unknown_regimes(self, req: Requirements) -> list[str]:
        """Give the regimes of `req` that the pack does not know."""
        return [r for r in req.regulation.regimes if r not in self.regimes]
