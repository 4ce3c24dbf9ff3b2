"""Stage 6b: SHAP attributions of the recommendation over the engine's input features.

Takes a point feature row, the rule pack's background rows and the compiled pack; gives exact
Shapley values (shap's Exact explainer over the engine's own vectorised scoring) of the score
margin of the recommended option over the runner-up, or of one option's score. The regimes
columns form one player: the explainer sees an index into a table of regime sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import BASE_COLUMNS
from .scoring import CompiledPack, evaluate

#: The players of the Shapley game: the base columns, then all regimes as one.
PLAYERS = BASE_COLUMNS + ("regimes",)


@dataclass(frozen=True)
class Shapley:
    """Base value and one contribution per player; base + sum(values) = explained value."""

    base: float
    values: np.ndarray
    explained: float


def _game(x: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nb = len(BASE_COLUMNS)
    table = np.vstack([x[None, nb:], background[:, nb:]])
    z = np.concatenate([x[:nb], [0.0]])[None, :]
    zb = np.hstack([background[:, :nb], np.arange(1, len(background) + 1, dtype=float)[:, None]])
    return z, zb, table


def shapley(
    x: np.ndarray, background: np.ndarray, cp: CompiledPack, first: int, second: int | None
) -> Shapley:
    """Explain one profile.

    Args:
        x: the profile's feature row.
        background: the reference rows (the pack's background profiles).
        cp: the compiled pack.
        first: the option whose score (or margin) is explained.
        second: the option subtracted, or None to explain `first`'s score alone.

    Returns:
        The exact Shapley values over `PLAYERS`.
    """
    import shap

    nb = len(BASE_COLUMNS)
    z, zb, table = _game(x, background)

    def value(zz: np.ndarray) -> np.ndarray:
        full = np.empty((zz.shape[0], nb + table.shape[1]))
        full[:, :nb] = zz[:, :nb]
        full[:, nb:] = table[zz[:, nb].astype(int)]
        eff = evaluate(full, cp).effective
        return eff[:, first] - (eff[:, second] if second is not None else 0.0)

    masker = shap.maskers.Independent(zb, max_samples=len(zb))
    explainer = shap.explainers.Exact(value, masker)
    out = explainer(z)
    vals = np.asarray(out.values, dtype=float)[0]
    base = float(np.asarray(out.base_values, dtype=float).reshape(-1)[0])
    return Shapley(base=base, values=vals, explained=float(value(z)[0]))
