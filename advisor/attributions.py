"""Stage 6b: SHAP attributions of the recommendation over the engine's input features.

Takes a point feature row, the rule pack's background rows and the compiled pack; gives exact
Shapley values, computed by shap's Exact explainer, of the score margin of the recommended option
over the runner-up, or of one option's score.

Each player is one feature, or a group: all regimes form one player, and the deployment target
with the independent-updates flag another (both describe deployment; grouping keeps the game at
11 players, 2^11 coalitions).

The game is the one shap's Independent masker defines over the background: v(S) is the mean, over
background rows b, of the engine's score for the row that takes the players in S from the profile
and the rest from b. `coalition_table` evaluates v for every coalition in one vectorised engine
call, and shap's Exact explainer then computes the Shapley values of v. Handing shap the masked
values rather than the raw rows gives the same numbers (tests compare the two to 1e-9) but costs
far less: in the game of background row b, every player on which the profile and b agree is a
null player, so b needs only the 2^k coalitions of the k players where they differ, where shap's
masker would evaluate up to 2^11 rows per background row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
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
_COALITIONS = 1 << len(PLAYERS)
#: Coalition S is the integer whose bit p is set when player p is in S.
_BITS = 1 << np.arange(len(PLAYERS))


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


@dataclass(frozen=True)
class Game:
    """The coalition values of one profile against the background.

    effective: the engine's effective scores (rows x 3 options) of the rows evaluated.
    local: 2^players x background rows: the evaluated row that coalition S gives against each
        background row (S restricted to the players where that row differs from the profile).
    varying: per player, whether the profile differs from some background row; the others are
        null players, which shap leaves out.
    """

    effective: np.ndarray
    local: np.ndarray
    varying: np.ndarray

    def values(self, first: int, second: int | None) -> np.ndarray:
        """Give v(S) for every coalition S: the mean over the background of the score of option
        `first`, minus option `second`'s when given (the quantity shap's masker averages)."""
        per_row = self.effective[:, first]
        if second is not None:
            per_row = per_row - self.effective[:, second]
        return np.asarray(per_row[self.local].mean(axis=1))


@lru_cache(maxsize=len(PLAYERS) + 1)
def _subsets(k: int) -> np.ndarray:
    # All 2^k subsets of k players as bool rows; row i holds bit j of i. Shared: read-only.
    subsets = ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
    subsets.flags.writeable = False
    return subsets


@lru_cache(maxsize=64)
def _column_player(width: int) -> np.ndarray:
    owner = np.empty(width, dtype=np.intp)
    for p, cols in enumerate(_player_columns(width)):
        owner[cols] = p
    owner.flags.writeable = False
    return owner


def coalition_table(x: np.ndarray, background: np.ndarray, cp: CompiledPack) -> Game:
    """Evaluate the Shapley game of one profile for every coalition.

    Args:
        x: the profile's feature row.
        background: the reference rows (the pack's background profiles).
        cp: the compiled pack.

    Returns:
        The `Game`: the engine's scores behind v(S) for all 2^11 coalitions S, and which
        players vary.
    """
    owner = _column_player(x.shape[0])
    players_n = len(PLAYERS)
    # differs_b[b, p]: background row b differs from the profile in some column of player p.
    owned = owner[None, :] == np.arange(players_n)[:, None]  # players x columns
    differs_b = (background != x[None, :]).astype(float) @ owned.T.astype(float) > 0.5
    blocks: list[np.ndarray] = []
    # place[p, b]: the bit that player p has in background row b's own coalition numbering.
    place = np.zeros((players_n, len(background)), dtype=np.intp)
    for b, row in enumerate(background):
        players = np.nonzero(differs_b[b])[0]
        take = np.zeros((1 << len(players), players_n), dtype=bool)
        take[:, players] = _subsets(len(players))
        blocks.append(np.where(take[:, owner], x[None, :], row[None, :]))
        place[players, b] = 1 << np.arange(len(players))
    effective = evaluate(np.concatenate(blocks), cp).effective
    starts = np.cumsum([0] + [len(block) for block in blocks[:-1]])
    # Row of the concatenated blocks that coalition S selects against each background row: S
    # restricted to that row's differing players, numbered within its block.
    # (A float product: numpy multiplies integer matrices without BLAS; the values are exact.)
    local = (_subsets(players_n).astype(float) @ place.astype(float)).astype(np.intp)
    local += starts[None, :]
    return Game(effective=effective, local=local, varying=np.asarray(differs_b.any(axis=0)))


class _Explainer:
    # One shap Exact explainer per process, over coalition indicators: the masker's single
    # background row is all zeros (no player from the profile) and the explained row has a 1 for
    # every varying player. shap keeps its gray-code tables on the instance, so it is reused; the
    # game being explained is swapped in under the lock.
    def __init__(self) -> None:
        import shap

        self.values = np.zeros(_COALITIONS)
        self.lock = threading.Lock()
        masker = shap.maskers.Independent(np.zeros((1, len(PLAYERS))), max_samples=1)
        self.explainer: Any = shap.explainers.Exact(self.model, masker)

    def model(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.values[(z > 0.5).astype(np.intp) @ _BITS])

    def explain(self, values: np.ndarray, varying: np.ndarray) -> tuple[float, np.ndarray]:
        z = varying.astype(float)[None, :]
        with self.lock:
            self.values = values
            out = self.explainer(z)
        base = float(np.asarray(out.base_values, dtype=float).reshape(-1)[0])
        return base, np.asarray(out.values, dtype=float)[0]


_explainer: _Explainer | None = None
_explainer_lock = threading.Lock()


def _shap() -> _Explainer:
    global _explainer
    with _explainer_lock:
        if _explainer is None:
            _explainer = _Explainer()
        return _explainer


def explain(game: Game, first: int, second: int | None) -> Shapley:
    """Give the exact Shapley values (shap's Exact explainer) of one quantity of a game.

    Args:
        game: the profile's `coalition_table`.
        first: the option whose score (or margin) is explained.
        second: the option subtracted, or None to explain `first`'s score alone.

    Returns:
        The Shapley values over `PLAYERS`; null players get exactly 0.
    """
    values = game.values(first, second)
    if game.varying.any():
        base, contributions = _shap().explain(values, game.varying)
    else:  # shap's Exact explainer fails on a game with no player; every value is 0
        base, contributions = float(values[0]), np.zeros(len(PLAYERS))
    full = int(game.varying.astype(np.intp) @ _BITS)
    return Shapley(base=base, values=contributions, explained=float(values[full]))


def shapley(
    x: np.ndarray, background: np.ndarray, cp: CompiledPack, first: int, second: int | None
) -> Shapley:
    """Explain one profile: `explain(coalition_table(x, background, cp), first, second)`."""
    return explain(coalition_table(x, background, cp), first, second)
