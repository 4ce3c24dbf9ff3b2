"""Stage 6b: exact Shapley attributions of the recommendation over the engine's input features.

Takes feature rows (one profile, or many at once), the rule pack's background rows and the
compiled pack; gives exact Shapley values of the score margin of the recommended option over the
runner-up, or of one option's score. Plain numpy: shap is not imported here (the tests use shap's
Exact explainer as the oracle, to 1e-9; `advisor probe` uses shap to explain the user's model).

Each player is one feature, or a group: all regimes form one player, and the deployment target
with the independent-updates flag another (both describe deployment; grouping keeps the game at
12 players, 2^12 coalitions).

The game is the one shap's Independent masker defines over the background: v(S) is the mean, over
background rows b, of the engine's score for the row that takes the players in S from the profile
and the rest from b. `coalition_tables` evaluates v for every coalition of every profile in one
vectorised engine pass: in the game of background row b, every player on which the profile and b
agree is a null player, so b needs only the 2^k coalitions of the k players where they differ.
`explain_rows` then takes the Shapley values from the coalition values with a weight table
precomputed once per player count: phi_j = sum over S without j of w(|S|) (v(S+j) - v(S)), with
w(s) = s! (k-s-1)! / k!, over the k players that vary (the others are null players: exactly 0,
as shap gives them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._fields import BASE_COLUMNS, PLAYER_COLUMNS
from ._fields import PLAYERS as PLAYERS  # the game's players, re-exported for its callers
from ._scoring import CompiledPack, score

_NB = len(BASE_COLUMNS)
#: Coalition S is the integer whose bit p is set when player p is in S.
_BITS = 1 << np.arange(len(PLAYERS))
#: Evaluated rows per engine call (bounds memory when many profiles are explained at once).
BLOCK_ROWS = 1 << 13
#: Profiles whose coalition rows are built at once (each needs a few thousand rows).
_PROFILES_AT_ONCE = 8


def _player_columns(width: int) -> list[list[int]]:
    cols: list[list[int]] = []
    for p in PLAYERS:
        if p == "regimes":
            cols.append(list(range(_NB, width)))
        else:
            cols.append([BASE_COLUMNS.index(c) for c in PLAYER_COLUMNS[p]])
    return cols


@dataclass(frozen=True)
class Shapley:
    """Base value and one contribution per player; base + sum(values) = explained value."""

    base: float
    values: np.ndarray
    explained: float


@dataclass(frozen=True)
class ShapleyRows:
    """`Shapley` of n profiles: n bases, n x players contributions, n explained values."""

    base: np.ndarray
    values: np.ndarray
    explained: np.ndarray


@dataclass(frozen=True)
class Game:
    """The coalition values of n profiles against the background.

    effective: the engine's effective scores (rows x 3 options) of the rows evaluated.
    owner: per evaluated row, the profile it belongs to.
    local: n x 2^players x background rows: the evaluated row that coalition S gives against
        each background row (S restricted to the players where that row differs from the
        profile).
    varying: n x players: the profile differs from some background row in that player; the
        others are null players.
    """

    effective: np.ndarray
    owner: np.ndarray
    local: np.ndarray
    varying: np.ndarray

    def values(self, first: np.ndarray, second: np.ndarray | None) -> np.ndarray:
        """Give v(S) for every profile and coalition S (n x 2^players): the mean over the
        background of the score of option `first` (one index per profile), minus option
        `second`'s when given (the quantity shap's masker averages)."""
        if len(first) == 1:  # one profile: its options' columns
            per_row = self.effective[:, int(first[0])]
            if second is not None:
                per_row = per_row - self.effective[:, int(second[0])]
        else:
            rows = np.arange(len(self.owner))
            per_row = self.effective[rows, first[self.owner]]
            if second is not None:
                per_row = per_row - self.effective[rows, second[self.owner]]
        return np.asarray(np.take(per_row, self.local).mean(axis=2))


@lru_cache(maxsize=len(PLAYERS) + 1)
def _subsets(k: int) -> np.ndarray:
    # All 2^k subsets of k players as bool rows; row i holds bit j of i. Shared: read-only.
    subsets = ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
    subsets.flags.writeable = False
    return subsets


@lru_cache(maxsize=len(PLAYERS) + 1)
def _subsets_int(k: int) -> np.ndarray:
    # `_subsets(k)` as 0/1 integers, for index arithmetic. Shared: read-only.
    subsets = _subsets(k).astype(np.intp)
    subsets.flags.writeable = False
    return subsets


@lru_cache(maxsize=len(PLAYERS) + 1)
def shapley_weights(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give the Shapley weight table of a k-player game, in difference form.

    Returns:
        (without, with_, weight), each k x 2^(k-1): for player j, the coalitions S that lack j,
        the same coalitions with j added, and w(|S|) = |S|! (k-|S|-1)! / k!; so that
        phi_j = sum(weight[j] * (v[with_[j]] - v[without[j]])). Shared: read-only.
    """
    s = np.arange(1 << k)
    sizes = _subsets(k).sum(axis=1)
    w = np.array(
        [math.factorial(n) * math.factorial(k - n - 1) / math.factorial(k) for n in range(k)]
    )
    without = np.stack([s[(s >> j) & 1 == 0] for j in range(k)]) if k else np.zeros((0, 0), int)
    with_ = without | (1 << np.arange(k))[:, None]
    weight = w[sizes[without]] if k else np.zeros((0, 0))
    for a in (without, with_, weight):
        a.flags.writeable = False
    return without, with_, weight


def shapley_of_values(v: np.ndarray) -> np.ndarray:
    """Give the exact Shapley values of games given by their coalition values.

    Args:
        v: m x 2^k: coalition S of k players at column S (bit j set: player j in S).

    Returns:
        m x k contributions; a player whose every marginal difference is 0 gets exactly 0.
    """
    k = int(v.shape[1]).bit_length() - 1
    without, with_, weight = shapley_weights(k)
    # np.take along one axis gathers several times faster than v[:, with_]; same numbers.
    diff = np.take(v, with_, axis=1)
    diff -= np.take(v, without, axis=1)
    diff *= weight
    return np.asarray(diff.sum(axis=2))


@lru_cache(maxsize=64)
def _column_player(width: int) -> np.ndarray:
    owner = np.empty(width, dtype=np.intp)
    for p, cols in enumerate(_player_columns(width)):
        owner[cols] = p
    owner.flags.writeable = False
    return owner


_spread_cache: dict[int, np.ndarray] = {}


def _spread(mask: int) -> np.ndarray:
    # The 2^k coalitions within the k players of `mask`, in their own numbering: coalition c
    # has bit j set when it holds the j-th of those players (in player order). Read-only.
    hit = _spread_cache.get(mask)
    if hit is None:
        players = [p for p in range(len(PLAYERS)) if mask >> p & 1]
        bits = 1 << np.array(players, dtype=np.intp)
        hit = np.asarray(_subsets(len(players)).astype(np.intp) @ bits)
        hit.flags.writeable = False
        _spread_cache[mask] = hit  # at most 2^players entries
    return hit


@dataclass(frozen=True)
class Layout:
    """The rows a Shapley game needs evaluated, and how its coalitions map onto them.

    x, background: the profiles' feature rows and the reference rows. coalitions: per row to
    score, its coalition of all players. sizes: the rows of each (profile, background row)
    pair, pairs in order (profile-major). size: how many rows to score; `fill` writes them,
    `rows` gives them. owner, local, varying: as in `Game`.
    """

    x: np.ndarray
    background: np.ndarray
    coalitions: np.ndarray
    sizes: np.ndarray
    owner: np.ndarray
    local: np.ndarray
    varying: np.ndarray

    @property
    def size(self) -> int:
        """Give the number of rows to score."""
        return len(self.coalitions)

    def fill(self, out: np.ndarray) -> None:
        """Write the rows to score into `out` (size x width floats; column by column in memory
        suits it best): each takes the profile's columns of the players in its coalition and
        its background row's elsewhere, value by value (a select, no arithmetic)."""
        n, nb = len(self.x), len(self.background)
        pairs = np.arange(n * nb)
        # Per pair, its background row and profile; each pair's rows are one block.
        bg = self.background[pairs % nb]
        profile = self.x[pairs // nb] if n > 1 else None
        # Columns whose value is the same in every profile and background row, bit for bit.
        bits_x = np.ascontiguousarray(self.x).view(np.int64)
        bits_b = np.ascontiguousarray(self.background).view(np.int64)
        same = (bits_x[:, None, :] == bits_b[None, :, :]).all(axis=(0, 1))
        for p, cols in enumerate(_player_columns(self.x.shape[1])):
            taken = ((self.coalitions >> p) & 1).astype(bool)
            for c in cols:
                if same[c]:
                    out[:, c] = self.x[0, c]
                    continue
                mine = self.x[0, c] if profile is None else np.repeat(profile[:, c], self.sizes)
                out[:, c] = np.where(taken, mine, np.repeat(bg[:, c], self.sizes))

    def rows(self) -> np.ndarray:
        """Give the rows to score (size x width, column by column in memory)."""
        out = np.empty((self.size, self.x.shape[1]), order="F")
        self.fill(out)
        return out

    def game(self, effective: np.ndarray) -> Game:
        """Give the `Game` once the rows are scored (their effective scores, size x 3)."""
        return Game(effective=effective, owner=self.owner, local=self.local, varying=self.varying)


def coalition_rows(x: np.ndarray, background: np.ndarray) -> Layout:
    """Give the rows the Shapley games of n profiles need (their `Layout`), without scoring
    them.

    Args:
        x: the profiles' feature rows (n x width).
        background: the reference rows (the pack's background profiles).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    background = np.asarray(background, dtype=float)
    n, width = x.shape
    nb = len(background)
    owner = _column_player(width)
    players_n = len(PLAYERS)
    # differs[i, b, p]: background row b differs from profile i in some column of player p.
    owned = (owner[None, :] == np.arange(players_n)[:, None]).astype(float)  # players x columns
    diff = (x[:, None, :] != background[None, :, :]).astype(float)
    differs = (diff @ owned.T) > 0.5
    ks = differs.sum(axis=2)  # n x nb
    sizes = (1 << ks).ravel()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(n, nb)
    # place[i, p, b]: the bit that player p has in pair (i, b)'s own coalition numbering (0 when
    # b agrees with profile i on p): the pair's differing players numbered in player order.
    rank = np.cumsum(differs, axis=2) - 1
    place = np.where(differs, 1 << np.maximum(rank, 0), 0).transpose(0, 2, 1)
    # Pair (i, b)'s block: coalition c of its own numbering takes the profile's columns for the
    # players whose bits c spreads over the pair's differing players (`_spread`), b's for the
    # rest; every block's coalitions at once, from tables built once.
    masks = (differs.reshape(n * nb, players_n) @ _BITS[:players_n]).tolist()
    coalitions = np.concatenate([_spread(m) for m in masks])
    # Row of the evaluated blocks that coalition S selects against each background row: S
    # restricted to that row's differing players, numbered within its block: the sum of the
    # places of S's low players and of its high players, each half a table of 2^(players/2).
    half = players_n // 2
    low = _subsets_int(half) @ place[:, :half, :] + starts[:, None, :]
    high = _subsets_int(players_n - half) @ place[:, half:, :]
    local = (high[:, :, None, :] + low[:, None, :, :]).reshape(n, 1 << players_n, nb)
    return Layout(
        x=x,
        background=background,
        coalitions=coalitions,
        sizes=sizes,
        owner=np.repeat(np.arange(n), (1 << ks).sum(axis=1)),
        local=local,
        varying=np.asarray(differs.any(axis=1)),
    )


def effective_scores(rows: np.ndarray, cp: CompiledPack) -> np.ndarray:
    """Give the effective scores (rows x 3) of many rows, in blocks of `BLOCK_ROWS`."""
    if len(rows) <= BLOCK_ROWS:
        return score(rows, cp).effective
    return np.concatenate(
        [score(rows[a : a + BLOCK_ROWS], cp).effective for a in range(0, len(rows), BLOCK_ROWS)]
    )


def coalition_tables(x: np.ndarray, background: np.ndarray, cp: CompiledPack) -> Game:
    """Evaluate the Shapley game of n profiles for every coalition, in one engine pass.

    Args:
        x: the profiles' feature rows (n x width).
        background: the reference rows (the pack's background profiles).
        cp: the compiled pack.

    Returns:
        The `Game`: the engine's scores behind v(S) for all 2^12 coalitions S of every profile,
        and which players vary.
    """
    x = np.atleast_2d(x)
    if len(x) <= _PROFILES_AT_ONCE:
        layout = coalition_rows(x, background)
        return layout.game(effective_scores(layout.rows(), cp))
    # A few profiles at a time, so the rows to score stay a few MB; then one game of all.
    games = [
        coalition_tables(x[a : a + _PROFILES_AT_ONCE], background, cp)
        for a in range(0, len(x), _PROFILES_AT_ONCE)
    ]
    offsets = np.cumsum([0] + [len(g.effective) for g in games[:-1]])
    return Game(
        effective=np.concatenate([g.effective for g in games]),
        owner=np.concatenate(
            [g.owner + a for g, a in zip(games, range(0, len(x), _PROFILES_AT_ONCE), strict=True)]
        ),
        local=np.concatenate([g.local + o for g, o in zip(games, offsets, strict=True)]),
        varying=np.concatenate([g.varying for g in games]),
    )


def coalition_table(x: np.ndarray, background: np.ndarray, cp: CompiledPack) -> Game:
    """Evaluate the Shapley game of one profile (a feature row): `coalition_tables` of one."""
    return coalition_tables(x[None, :], background, cp)


def explain_rows(game: Game, first: np.ndarray, second: np.ndarray | None) -> ShapleyRows:
    """Give the exact Shapley values of one quantity for every profile of a game.

    Args:
        game: the profiles' `coalition_tables`.
        first: per profile, the option whose score (or margin) is explained.
        second: per profile, the option subtracted, or None to explain `first`'s score alone.

    Returns:
        The Shapley values over `PLAYERS`; null players get exactly 0.
    """
    first = np.asarray(first, dtype=np.intp)
    values = game.values(first, None if second is None else np.asarray(second, dtype=np.intp))
    n = values.shape[0]
    contributions = np.zeros((n, len(PLAYERS)))
    ks = game.varying.sum(axis=1)
    # The player counts present (np.unique would import numpy.ma: a cold start pays for it).
    for k in np.flatnonzero(np.bincount(ks)):
        if k == 0:
            continue
        idx = np.flatnonzero(ks == k)
        players = np.nonzero(game.varying[idx])[1].reshape(len(idx), int(k))
        # Coalitions of the k varying players, as coalitions of all players (2^k x m).
        masks = ((1 << players).sum(axis=1)).tolist()
        index = np.stack([_spread(m) for m in masks], axis=1)
        contributions[idx[:, None], players] = shapley_of_values(values[idx[None, :], index].T)
    full = game.varying.astype(np.intp) @ _BITS
    return ShapleyRows(
        base=values[:, 0].copy(), values=contributions, explained=values[np.arange(n), full]
    )


def explain(game: Game, first: int, second: int | None) -> Shapley:
    """Give the exact Shapley values of one quantity of a one-profile game.

    Args:
        game: the profile's `coalition_table`.
        first: the option whose score (or margin) is explained.
        second: the option subtracted, or None to explain `first`'s score alone.

    Returns:
        The Shapley values over `PLAYERS`; null players get exactly 0.
    """
    out = explain_rows(game, np.array([first]), None if second is None else np.array([second]))
    return Shapley(base=float(out.base[0]), values=out.values[0], explained=float(out.explained[0]))


def shapley(
    x: np.ndarray, background: np.ndarray, cp: CompiledPack, first: int, second: int | None
) -> Shapley:
    """Explain one profile: `explain(coalition_table(x, background, cp), first, second)`."""
    return explain(coalition_table(x, background, cp), first, second)
