"""Stage 6b: SHAP attributions of the recommendation over the engine's input features.

Takes a point feature row, the rule pack's background rows and the compiled pack; gives exact
Shapley values (shap's Exact explainer over the engine's own vectorised scoring) of the score
margin of the recommended option over the runner-up, or of one option's score.

Each player is one feature, or a group: all regimes form one player, and the deployment target
with the independent-updates flag another (both describe deployment; grouping keeps the game at
11 players, 2^11 coalitions). The explainer sees, per player, an index into a table of values:
row 0 holds the profile being explained, row i the i-th background profile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fields import BASE_COLUMNS
from .scoring import CompiledPack, evaluate

_GROUPS = {"deployment": ("independent_updates", "target")}
#: The players of the Shapley game.
PLAYERS = tuple(
    c for c in BASE_COLUMNS if not any(c in g for g in _GROUPS.values())
) + tuple(_GROUPS) + ("regimes",)
_NB = len(BASE_COLUMNS)


def _player_columns(width: int) -> list[list[int]]:
    cols: list[list[int]] = []
    for p in PLAYERS:
        if p == "regimes":
            cols.append(list(range(_NB, width)))
        elif p in _GROUPS:
            cols.append([BASE_COLUMNS.index(c) for c in _GROUPS[p]])
        else:
            cols.append([BASE_COLUMNS.index(p)])
    return cols


@dataclass(frozen=True)
class Shapley:
    """Base value and one contribution per player; base + sum(values) = explained value."""

    base: float
    values: np.ndarray
    explained: float


@dataclass
class _Game:
    # One explainer per (pack, background), reused across calls so shap's coalition tables are
    # built once; the instance being explained is swapped in under the lock.
    cp: CompiledPack
    rows: np.ndarray  # (1 + background) x width: row 0 is the profile explained
    columns: list[list[int]]
    first: int = 0
    second: int | None = None
    explainer: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, zz: np.ndarray) -> np.ndarray:
        idx = zz.astype(np.intp)
        full = np.empty((zz.shape[0], self.rows.shape[1]))
        for p, cols in enumerate(self.columns):
            if len(cols) == 1:
                full[:, cols[0]] = self.rows[idx[:, p], cols[0]]
            else:
                full[:, cols] = self.rows[:, cols][idx[:, p]]
        eff = evaluate(full, self.cp).effective
        out = eff[:, self.first]
        return out - eff[:, self.second] if self.second is not None else out.copy()


_games: dict[tuple[int, int], tuple[CompiledPack, np.ndarray, _Game]] = {}
_games_lock = threading.Lock()


def _game_for(cp: CompiledPack, background: np.ndarray) -> _Game:
    import shap

    key = (id(cp), id(background))
    with _games_lock:
        hit = _games.get(key)
        if hit is not None and hit[0] is cp and hit[1] is background:
            return hit[2]
        rows = np.vstack([np.zeros((1, background.shape[1])), background])
        zb = np.repeat(np.arange(1, len(background) + 1, dtype=float)[:, None], len(PLAYERS), 1)
        game = _Game(cp=cp, rows=rows, columns=_player_columns(background.shape[1]))
        masker = shap.maskers.Independent(zb, max_samples=len(zb))
        game.explainer = shap.explainers.Exact(game.value, masker)
        _games[key] = (cp, background, game)
        return game


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
    game = _game_for(cp, background)
    z = np.zeros((1, len(PLAYERS)))
    with game.lock:
        game.rows[0] = x
        game.first, game.second = first, second
        out = game.explainer(z)
        explained = float(game.value(z)[0])
    vals = np.asarray(out.values, dtype=float)[0]
    base = float(np.asarray(out.base_values, dtype=float).reshape(-1)[0])
    return Shapley(base=base, values=vals, explained=explained)
