"""How fair rounds are to each attendee: their share of their best possible, and their
meetings with nothing in common beyond those their own answers force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.model import Fairness, History
from matching.scoring import FloatMatrix

Counts = npt.NDArray[np.int64]
Index = npt.NDArray[np.int64]
BoolMatrix = npt.NDArray[np.bool_]
BoolVector = npt.NDArray[np.bool_]
FloatVector = npt.NDArray[np.float64]

# A pair "with nothing in common" has at most this many points.
NOTHING = 1e-9
# When a plan's round is drawn again for its common ground, a meeting with nothing in
# common, within a person's allowance, costs them this share of a meeting's typical points.
EMPTY_PRICE = 0.25


def best_possible(points: FloatMatrix, partners: BoolMatrix, count: int) -> FloatMatrix:
    """Each row's best possible common ground: the sum of its `count` best partners' points,
    among the partners it may meet (`partners`)."""
    n = points.shape[1]
    k = min(count, n)
    if k <= 0 or n == 0:
        return np.zeros(len(points), dtype=np.float64)
    candidates = np.where(partners, points, 0.0)
    if k == 1:
        best: FloatMatrix = candidates.max(axis=1)
        return best
    top = np.partition(candidates, n - k, axis=1)[:, n - k :]
    summed: FloatMatrix = top.sum(axis=1)
    return summed


def beyond_forced(empty: Counts, meetings: Counts, findable: Counts) -> Counts:
    """Meetings with nothing in common beyond those a person's answers force.

    Someone who shares something with only `findable` of the people they may meet has at
    least `meetings - findable` meetings with nothing in common, whatever the plan. People
    with nobody to find (empty profiles) count 0: every meeting of theirs is forced.
    """
    forced = np.maximum(meetings - findable, 0)
    beyond: Counts = np.where(findable > 0, np.maximum(empty - forced, 0), 0)
    return beyond


def summarise(
    ids: Sequence[str],
    totals: FloatMatrix,
    best: FloatMatrix,
    empty: Counts,
    meetings: Counts,
    findable: Counts,
) -> Fairness:
    """The least-lucky attendee and the worst count of meetings with nothing in common."""
    has = np.flatnonzero(best > 0)
    least, who = 1.0, None
    if len(has):
        shares = totals[has] / best[has]
        k = int(np.argmin(shares))
        least, who = float(shares[k]), ids[int(has[k])]
    beyond = beyond_forced(empty, meetings, findable)
    return Fairness(
        least_share=round(least, 3),
        least_lucky=who,
        most_empty=int(beyond.max(initial=0)),
    )


def shares(totals: FloatMatrix, best: FloatMatrix) -> FloatMatrix:
    """Each person's share of their best possible (at most 1; NaN for those with none)."""
    has = best > 0
    result: FloatMatrix = np.full(len(best), np.nan)
    np.divide(totals, best, out=result, where=has)
    np.minimum(result, 1.0, out=result, where=has)
    return result


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True, slots=True)
class Standing:
    """Where each person of a round stands before it, for fair weights and the figures."""

    best: FloatMatrix  # best possible common ground (see fairness.best_possible)
    totals: FloatMatrix  # common ground so far
    empty: Counts  # meetings so far with nothing in common
    meetings: Counts  # meetings so far (table-mates, rounds only)
    findable: Counts  # people they share something with and may meet, met or not
    left_to_find: Counts  # of whom not met yet


def standing(
    ids: list[str],
    history: History,
    points: FloatMatrix,
    zero: BoolMatrix,
    partners: BoolMatrix,
    met: tuple[Index, Index, Index],
    known: tuple[Index, Index],
    best_of: int,
    best: FloatMatrix | None,
) -> Standing:
    """Where everyone stands before the round. `partners`: whom each may meet (not kept
    apart, not met before the event, not a colleague unless colleagues may meet); `met`:
    the positions of the pairs who met before (both ways round) and how many times;
    `known`: those of the pairs who met before the event."""
    n = len(ids)
    common = partners & ~zero
    if best is None:
        best = best_possible(points, partners, best_of)
    totals = np.array([history.totals.get(i, 0.0) for i in ids], dtype=np.float64)
    meetings = np.zeros(n, dtype=np.int64)
    empty = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=np.int64)
    a, b, times = met
    if len(a):
        # Meetings in rounds: a pair who met before the event counts once less.
        in_rounds = times - np.isin(a * n + b, known[0] * n + known[1])
        meetings = np.bincount(a, weights=in_rounds, minlength=n).astype(np.int64)
        empty = np.bincount(a, weights=in_rounds * zero[a, b], minlength=n).astype(np.int64)
        found = np.bincount(a, weights=common[a, b], minlength=n).astype(np.int64)
    findable = common.sum(axis=1)
    return Standing(
        best=best,
        totals=totals,
        empty=empty,
        meetings=meetings,
        findable=findable,
        left_to_find=findable - found,
    )


def fair_value(
    points: FloatMatrix,
    standing: Standing,
    best_of: int,
    *,
    fairness: float,
    curve: float,
    carried: FloatVector | None = None,
    carry: float = 1.0,
) -> FloatMatrix:
    """What a pair is worth beyond its points: for each of the two, the rise in
    1 - exp(-curve x their share of their best possible), scaled so that going from nothing
    to all of it is worth 1 (more to whoever is further behind), at `fairness` times the
    room's typical points per meeting.

    `carried` (in the standing's order) is each person's luck at an earlier event of a
    series, their share of their best possible there (1 for everyone else): their rise
    counts 1 + carry x (1 - luck) times, so whoever had a weak evening comes first."""
    best = standing.best
    has = best > 0
    if not has.any():
        return np.zeros_like(points)
    typical = float(np.median(best[has])) / max(best_of, 1)
    inverse = np.divide(1.0, best, out=np.zeros_like(best), where=has)
    # Each one's rise is (left now) x (1 - exp(-curve x points / best)).
    left = np.exp(-curve * standing.totals * inverse) * has
    if carried is not None:
        left *= 1.0 + carry * (1.0 - np.clip(carried, 0.0, 1.0))
    scale = fairness * typical / -np.expm1(-curve)
    rows = _rise(points, -curve * inverse[:, None])
    rows *= (scale * left)[:, None]
    columns = _rise(points, -curve * inverse[None, :])
    columns *= (scale * left)[None, :]
    rows += columns
    return rows


def _rise(points: FloatMatrix, rate: FloatMatrix) -> FloatMatrix:
    """1 - exp(rate x points), elementwise, with few temporaries."""
    result: FloatMatrix = points * rate
    np.expm1(result, out=result)
    np.negative(result, out=result)
    return result


def _over(standing: Standing, meetings_left: int) -> tuple[BoolVector, Counts]:
    """Who would have one meeting with nothing in common too many if they had one now
    (`tight`: as many people left to share something with as meetings left, or more;
    for the others it is one of those their answers force, as long as they meet the rest
    later), and how many such meetings beyond forced each has at least if they do not."""
    tight = standing.left_to_find >= meetings_left
    over = beyond_forced(
        standing.empty + np.maximum(meetings_left - standing.left_to_find, 0),
        standing.meetings + meetings_left,
        standing.findable,
    )
    return tight, over


def take_soft_empty_costs(
    value: FloatMatrix,
    zero: BoolMatrix,
    standing: Standing,
    meetings_left: int,
    best_of: int,
    allowance: int,
) -> None:
    """Points off each pair with nothing in common (`zero`), in `value`: `EMPTY_PRICE` of a
    meeting's typical points for each of them still within `allowance` meetings with
    nothing in common beyond forced (those over it are a tier above)."""
    tight, over = _over(standing, meetings_left)
    soft = tight & (over < allowance)
    if not soft.any():
        return
    best = standing.best
    typical = float(np.median(best[best > 0])) / max(best_of, 1) if (best > 0).any() else 1.0
    charge = (EMPTY_PRICE * typical) * soft
    np.subtract(value, charge[:, None] + charge[None, :], out=value, where=zero)


def hard_empty(standing: Standing, meetings_left: int, allowance: int) -> tuple[BoolVector, Counts]:
    """Who would go over `allowance` meetings with nothing in common beyond forced with one
    now, and how far over each one is already."""
    tight, over = _over(standing, meetings_left)
    return tight & (over >= allowance), over


def empty_costs(hard: BoolVector, over: Counts, unit: int, strict: int, limit: int) -> Counts:
    """What a meeting with nothing in common this round costs each of the `hard` people, in
    weight units: a tier above any common ground, higher for those already furthest over
    the meetings with nothing in common their answers force, so that such meetings go to
    those with fewest (a lexicographic min-max); nothing for the others."""
    levels = np.unique(over[hard])
    rank = np.searchsorted(levels, over)
    base = strict
    while base > 2 and unit * strict * base ** len(levels) > limit:
        base //= 2
    cost = np.array([unit * strict * base ** int(k) for k in rank], dtype=np.int64)
    result: Counts = np.where(hard, cost, 0)
    return result
