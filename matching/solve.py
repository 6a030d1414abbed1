"""One round: the weighted graph, the matching solvers, odd head-counts, tables, and repair."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.fairness import (
    NOTHING,
    Standing,
    empty_costs,
    fair_value,
    hard_empty,
    summarise,
    take_soft_empty_costs,
)
from matching.fairness import (
    shares as fairness_shares,
)
from matching.fairness import (
    standing as standing_of,
)
from matching.model import Fairness, Group, History, Pair, Round, Rules, pair
from matching.scoring import FloatMatrix, Scorer

IntMatrix = npt.NDArray[np.int64]
BoolMatrix = npt.NDArray[np.bool_]
Index = npt.NDArray[np.int64]

# Weights are integers (networkx warns that float weights can give a sub-optimal matching):
# this many units per point of common ground.
SCALE = 1000
# The rules above common ground are tiers (see _graph): each outweighs this many pairs' worth
# of everything below it (n/2 + 1 in smaller rooms: every pair of the round).
STRICT = 64
# Same organisation, when avoided rather than forbidden, where a printed plan's round takes in
# one more person (plan.complete_round): points off.
SAME_ORGANISATION_PENALTY = 5.0


class MatchingError(RuntimeError):
    """The solver returned something that breaks the rules: a bug, never bad input."""


@dataclass(frozen=True, slots=True)
class SolverOptions:
    # Up to this many people a round is solved exactly on the complete graph.
    exact_limit: int = 400
    # Above it, each person keeps their best `neighbours` allowed partners, and their best
    # `discounted_neighbours` by weight less half the partner's best (see _sparse_edges).
    neighbours: int = 8
    discounted_neighbours: int = 22
    # Fair rounds: the fewest pairs with nothing in common, those meetings shared out, and
    # priority to whoever is furthest behind their best possible. False: each round's total
    # common ground only (the greedy approach), with the same rules.
    fair: bool = True
    # What a pair is worth beyond its points (fairness.fair_value): for each of the two,
    # `fairness` times the room's typical points per meeting for going from nothing to all
    # of their best possible, on a concave scale whose steepness is `curve`.
    fairness: float = 3.0
    curve: float = 3.0
    # Someone back from an earlier event of a series (`History.luck`) who had only `luck` of
    # their best possible there weighs 1 + carry x (1 - luck) times as much: a weak evening
    # last time is made up for first this time. At 1, someone who found nothing then counts
    # double; 0 ignores the luck. It scales only the fairness value: the rules, tiers above
    # common ground, still come first.
    carry: float = 1.0
    # Plans of up to `lookahead_rounds` rounds for rooms up to `lookahead_limit` people are
    # improved by drawing rounds again knowing all the others, at most `lookahead_passes`
    # passes over the rounds at a time (see plan._look_ahead).
    lookahead_limit: int = 200
    lookahead_rounds: int = 12
    lookahead_passes: int = 3
    # Plans of pairs look for the best set of pairs for all rounds at once when the room's
    # allowed pairs times the rounds are at most this (see plan._best_pairs).
    factor_limit: int = 5_000
    # Meetings with nothing in common beyond those a person's answers force that anyone may
    # have before one more weighs more than any common ground (then whoever has most is
    # spared first).
    empty_allowance: int = 1
    # The most of the room's common ground a plan may give up to lift its least lucky,
    # against the most common ground the planner finds.
    fairness_cost: float = 0.0075
    # Local search for tables of 3 or 4: at most this many sweeps / seconds.
    table_sweeps: int = 60
    table_seconds: float = 2.0
    # Plans of tables: the search that shares out meetings with nothing in common weighs
    # at most about this many swaps (see plan._share_out_empty).
    table_plan_work: int = 100_000
    # If someone is still beyond this many meetings with nothing in common beyond forced
    # after that search, an annealing over the same swaps may spend common ground down to
    # the bound set against the greedy approach (see plan._greedy_limits): at most
    # `table_anneal_chains` chains of `table_anneal_work` swaps weighed each, until one
    # brings everyone within it.
    table_empty_target: int = 2
    table_anneal_work: int = 4_000_000
    table_anneal_chains: int = 4
    # Rooms up to this size also try `table_restarts` random starting splits.
    restart_limit: int = 300
    table_restarts: int = 8


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    round: Round
    # Each placed person's common ground from this round (points with their table-mates).
    gains: Mapping[str, float]
    # Who was the odd one out: members of the trio / odd-sized table, or sitting out.
    odd_ones: tuple[str, ...]
    # How the least lucky fare once this round is held (the organiser's preview).
    fairness: Fairness


# --------------------------------------------------------------------------- matching


def max_weight_pairs(
    weights: IntMatrix, allowed: BoolMatrix, *, options: SolverOptions = SolverOptions()
) -> list[tuple[int, int]]:
    """A maximum-cardinality, maximum-weight matching over the allowed pairs.

    Exact (rustworkx's blossom algorithm on the complete graph) up to `exact_limit` people;
    above it, on the sparse graph of each person's best `neighbours` partners, after which
    anyone the sparse graph left single is matched among themselves on all their edges.
    """
    n = len(weights)
    if n < 2:
        return []
    upper = np.triu(allowed, 1)
    if n <= options.exact_limit:
        rows, cols = np.nonzero(upper)
        pairs = _blossom(n, rows, cols, weights[rows, cols])
    else:
        rows, cols = _sparse_edges(weights, allowed, options)
        pairs = _blossom(n, rows, cols, weights[rows, cols])
        matched = {v for p in pairs for v in p}
        single = np.array([v for v in range(n) if v not in matched], dtype=np.int64)
        if len(single) >= 2:
            sub_rows, sub_cols = np.nonzero(np.triu(allowed[np.ix_(single, single)], 1))
            extra = _blossom(
                len(single),
                sub_rows,
                sub_cols,
                weights[single[sub_rows], single[sub_cols]],
            )
            pairs.extend((int(single[a]), int(single[b])) for a, b in extra)
    for a, b in pairs:
        if a == b or not allowed[a, b]:
            raise MatchingError(f"solver returned a forbidden pair ({a}, {b})")
    return pairs


def max_weight_factor(weights: IntMatrix, allowed: BoolMatrix, degree: int) -> BoolMatrix:
    """The allowed pairs of most total weight such that everyone is in `degree` of them,
    or as many as can be (a maximum-cardinality, maximum-weight simple b-matching): the
    best set of pairs for `degree` rounds, if it splits into rounds.

    Exact, by blossom on the usual gadget: `degree` copies of each person, and two nodes
    per allowed pair, joined to each other (the pair unused) or each to all copies of one
    of its people (used); so it is for small rooms (the gadget has pairs x (2 x degree + 1)
    edges).
    """
    n = len(weights)
    rows, cols = np.nonzero(np.triu(allowed, 1))
    base = n * degree
    copies = np.arange(degree)
    pair_nodes = base + 2 * np.arange(len(rows))
    sources = np.concatenate(
        [
            (rows[:, None] * degree + copies[None, :]).ravel(),
            (cols[:, None] * degree + copies[None, :]).ravel(),
            pair_nodes,
        ]
    )
    targets = np.concatenate(
        [
            np.repeat(pair_nodes, degree),
            np.repeat(pair_nodes + 1, degree),
            pair_nodes + 1,
        ]
    )
    # Every edge of a pair's gadget weighs what the pair does: used (both nodes to copies)
    # it counts twice, unused (the two nodes together) once, so using it gains its weight;
    # half used (one node to a copy, the other single) gains nothing.
    pair_weights = weights[rows, cols]
    values = np.concatenate(
        [np.repeat(pair_weights, degree), np.repeat(pair_weights, degree), pair_weights]
    )
    found = _blossom(base + 2 * len(rows), sources, targets, values)
    to_copy = np.zeros(2 * len(rows), dtype=np.bool_)
    for a, b in found:
        if a < base <= b:
            to_copy[b - base] = True
    used_pairs = to_copy[0::2] & to_copy[1::2]
    used = np.zeros((n, n), dtype=np.bool_)
    used[rows[used_pairs], cols[used_pairs]] = True
    used[cols[used_pairs], rows[used_pairs]] = True
    return used


def _blossom(
    n: int, rows: Index, cols: Index, weights: npt.NDArray[np.int64]
) -> list[tuple[int, int]]:
    # Imported here, as scipy is below: planning a tiny room starts faster without them.
    import rustworkx as rx

    graph: rx.PyGraph[int, int] = rx.PyGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(list(zip(rows.tolist(), cols.tolist(), weights.tolist(), strict=True)))
    found = rx.max_weight_matching(graph, max_cardinality=True, weight_fn=_identity)
    return sorted((min(a, b), max(a, b)) for a, b in found)


def _identity(weight: int) -> int:
    return weight


def _sparse_edges(
    weights: IntMatrix, allowed: BoolMatrix, options: SolverOptions
) -> tuple[Index, Index]:
    """The candidate pairs of a large room: each person's best partners by weight, and by
    weight less half the partner's own best (a dual estimate: partners in demand elsewhere
    are less likely to be free). Measured at 2000 people: within about 0.02% of the exact
    optimum (8 + 22 partners), where plain top-60 lost 0.1%."""
    n = len(weights)
    # Ties are common (popular answers, empty profiles): broken at random (seeded), so that
    # people with equal options do not all keep the same few partners and crowd them out.
    # Pairs weighing far less than any common ground (a rule's tier, a repeat) are left
    # out: whoever is left single is matched on all their pairs afterwards.
    key = weights.astype(np.float64)
    key += np.random.default_rng(n).random((n, n))
    key[~allowed | (weights < -4 * max(int(weights.max(initial=0)), 1))] = -np.inf
    np.fill_diagonal(key, -np.inf)
    best = key.max(axis=1)
    half = np.where(np.isfinite(best), best / 2.0, 0.0)
    keys = [
        _top(key, options.neighbours),
        _top(key - half[None, :], options.discounted_neighbours),
    ]
    pairs = np.unique(np.concatenate(keys))
    return pairs // n, pairs % n


def _top(key: FloatMatrix, k: int) -> Index:
    """Each row's `k` best finite columns, as sorted pair keys low * n + high."""
    n = len(key)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-key, k - 1, axis=1)[:, :k]
    source = np.repeat(np.arange(n, dtype=np.int64), k)
    target = best.ravel().astype(np.int64)
    keep = np.isfinite(key[source, target])
    low = np.minimum(source[keep], target[keep])
    high = np.maximum(source[keep], target[keep])
    result: Index = low * n + high
    return result


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True, slots=True)
class _Graph:
    """A round's people (in solving order) with their points, weights and allowed pairs."""

    ids: list[str]
    points: FloatMatrix
    weights: IntMatrix
    allowed: BoolMatrix
    met: IntMatrix
    # Only for a whole round (not the stranded rows of a repair).
    standing: Standing | None = None


def _graph(
    scorer: Scorer,
    ids: list[str],
    history: History,
    rules: Rules,
    *,
    fair: bool,
    points: FloatMatrix | None = None,
    rows: int | None = None,
    best_of: int = 1,
    meetings_left: int = 1,
    best: FloatMatrix | None = None,
    needs: FloatMatrix | None = None,
    preferred: BoolMatrix | None = None,
    options: SolverOptions = SolverOptions(),
) -> _Graph:
    """Weights and rules between `ids`: all of them, or only the first `rows` against all
    (a repair needs the stranded people's rows, not the whole room's matrix).

    A person's best possible is their `best_of` best partners' points (`best`, when given,
    holds it for everyone of `ids` in that order); `meetings_left` is how many meetings
    they have left, this round's included. With `needs` (points each person needs from this
    round, in `ids` order), the weights are plain points, and falling short of one's need
    is a tier above them: the most common ground that keeps everyone's share up. Pairs
    `preferred` by a planner weigh more than any other pair's common ground.
    """
    idx = np.array([scorer.index[i] for i in ids], dtype=np.int64)
    n = len(ids)
    r = n if rows is None else rows
    if points is None:
        points = scorer.points(idx[:r], idx)
    points = points.copy()
    diagonal = np.arange(r)
    points[diagonal, diagonal] = 0.0
    position = {person: i for i, person in enumerate(ids)}

    def positions(pairs: Iterable[Pair]) -> tuple[Index, Index, Index]:
        """Where `pairs` (or their counts in `history.met`) sit: both ways round, in the
        rows asked for; and the index of each in `pairs`."""
        rows_: list[int] = []
        cols: list[int] = []
        which: list[int] = []
        for k, p in enumerate(pairs):
            x, y = tuple(p)
            a, b = position.get(x, -1), position.get(y, -1)
            if a >= 0 and b >= 0:
                for u, v in ((a, b), (b, a)):
                    if u < r:
                        rows_.append(u)
                        cols.append(v)
                        which.append(k)
        return (
            np.array(rows_, dtype=np.int64),
            np.array(cols, dtype=np.int64),
            np.array(which, dtype=np.int64),
        )

    def mask(pairs: Iterable[Pair]) -> BoolMatrix:
        result = np.zeros((r, n), dtype=np.bool_)
        a, b, _ = positions(pairs)
        result[a, b] = True
        return result

    same_org = scorer.same_organisation(idx[:r], idx)
    allowed = ~mask(rules.keep_apart)
    allowed[diagonal, diagonal] = False
    if rules.same_organisation == "forbid":
        allowed &= ~same_org
    met = list(history.met.items())
    met_a, met_b, which = positions(p for p, _ in met)
    met_counts = np.zeros((r, n), dtype=np.int64)
    met_counts[met_a, met_b] = np.array([c for _, c in met], dtype=np.int64)[which]
    known_a, known_b, _ = positions(rules.met_before)

    zero = points <= NOTHING
    standing = None
    if rows is None:
        partners = allowed.copy()
        partners[known_a, known_b] = False
        if rules.same_organisation != "allow":
            partners &= ~same_org
        standing = standing_of(
            ids,
            history,
            points,
            zero,
            partners,
            (met_a, met_b, met_counts[met_a, met_b]),
            (known_a, known_b),
            best_of,
            best,
        )
    value = points.copy()
    hard = np.zeros(r, dtype=np.bool_)
    over = np.zeros(r, dtype=np.int64)
    if fair and standing is not None:
        if needs is None:
            carried = None
            if history.luck:
                # In the graph's order: rows and columns are all of `ids` here.
                carried = np.array([history.luck.get(i, 1.0) for i in ids], dtype=np.float64)
            value += fair_value(
                points,
                standing,
                best_of,
                fairness=options.fairness,
                curve=options.curve,
                carried=carried,
                carry=options.carry,
            )
        else:
            take_soft_empty_costs(
                value, zero, standing, meetings_left, best_of, options.empty_allowance
            )
        hard, over = hard_empty(standing, meetings_left, options.empty_allowance)
    if preferred is not None:
        # Pairs a planner wants (its best set of pairs for all rounds) weigh more than any.
        value += (float(points.max(initial=0.0)) + 1.0) * preferred[:r]
    value *= SCALE
    weights = np.rint(value, out=value).astype(np.int64)
    # Above common ground, in tiers, from the lowest: each outweighs `strict` pairs' worth
    # of all those below (`unit`: a pair's worth of them).
    unit = max(int(weights.max(initial=0)), -int(weights.min(initial=0))) + 1
    strict = min(n // 2 + 1, STRICT)
    if needs is not None:
        # Falling short of what one needs from this round to keep the floor.
        short = unit * strict
        weights -= short * (needs[:r, None] > points + NOTHING)
        weights -= short * (needs[None, :] > points + NOTHING)
        unit = 2 * short + unit
    if hard.any():
        # Going over one's allowance of meetings with nothing in common. The tiers above
        # multiply this one by at most 16 * strict**3 * (n + 2) * repeats, inside 64 bits.
        most = max(int(met_counts.max(initial=0)), 1)
        limit = (1 << 62) // (16 * strict**3 * (n + 2) * most)
        cost = empty_costs(hard, over, unit, strict, limit)
        if r == n:
            np.subtract(weights, cost[:, None] + cost[None, :], out=weights, where=zero)
        else:
            np.subtract(weights, cost[:, None], out=weights, where=zero)
        unit = 2 * int(cost.max(initial=0)) + unit
    if fair and standing is not None:
        tier = unit * strict
        if needs is None:
            # Each pair with nothing in common (which also seats two empty profiles
            # together rather than each with someone who has common ground to find).
            np.subtract(weights, tier, out=weights, where=zero)
        else:
            # Redrawing a plan's round for its common ground: empty profiles together.
            lonely = np.flatnonzero(standing.findable == 0)
            block = np.ix_(lonely, lonely)
            weights[block] += tier * zero[block]
        unit = tier + unit
    colleague = unit * strict
    if rules.same_organisation == "avoid":
        np.subtract(weights, colleague, out=weights, where=same_org)
    must_a, must_b, _ = positions(rules.must_meet)
    weights[must_a, must_b] += 2 * colleague * strict
    weights[diagonal, diagonal] = 0
    if len(met_a):
        # A repeat costs more than any set of first meetings can be worth, more each time.
        repeat_cost = (max(int(weights.max()), -int(weights.min())) + 1) * (n + 2)
        weights[met_a, met_b] -= repeat_cost * met_counts[met_a, met_b]
    return _Graph(ids, points, weights, allowed, met_counts, standing)


def _sub(graph: _Graph, keep: Sequence[int]) -> _Graph:
    """The graph among `keep` only (no standing: only the whole round has one)."""
    k = np.asarray(keep, dtype=np.int64)
    grid = np.ix_(k, k)
    return _Graph(
        [graph.ids[i] for i in keep],
        graph.points[grid],
        graph.weights[grid],
        graph.allowed[grid],
        graph.met[grid],
    )


# --------------------------------------------------------------------------- one round


def solve_round(
    scorer: Scorer,
    *,
    present: Sequence[str],
    history: History,
    index: int,
    seed: int = 0,
    options: SolverOptions = SolverOptions(),
    points: FloatMatrix | None = None,
    horizon: int | None = None,
) -> RoundOutcome:
    """Place everyone present for round `index`: pairs (or tables), at most one odd group.

    `horizon` is the number of rounds of the event when it is known (default: `index`):
    everyone's best possible counts that many rounds, and who has fewer people to find than
    meetings left may take a meeting with nothing in common first. `points`, when given, is
    the common-ground matrix of `present` in that order (a planner reuses it across rounds).
    Same input and seed, same round.
    """
    rounds = max(horizon or index, index)
    size = scorer.room.rules.group_size
    draft = draft_round(
        scorer,
        present=present,
        history=history,
        index=index,
        seed=seed,
        options=options,
        points=points,
        best_of=rounds * (size - 1),
        meetings_left=(rounds - index + 1) * (size - 1),
    )
    return draft.outcome(scorer)


@dataclass(frozen=True, slots=True)
class Draft:
    """A round before it is written out: groups as positions in its graph's order."""

    index: int
    graph: _Graph
    groups: list[list[int]]
    sitting: list[int]
    odd: list[int]

    def members(self) -> list[tuple[str, ...]]:
        ids = self.graph.ids
        return [tuple(ids[m] for m in g) for g in self.groups if g]

    def odd_ones(self) -> list[str]:
        return [self.graph.ids[o] for o in self.odd]

    def outcome(self, scorer: Scorer) -> RoundOutcome:
        """The round with its tables, scores and reasons."""
        return _outcome(
            scorer,
            self.graph,
            self.groups,
            self.sitting,
            self.odd,
            index=self.index,
            rules=scorer.room.rules,
        )

    def after(
        self, scorer: Scorer, history: History, *, best_of: int, best: FloatMatrix | None = None
    ) -> Draft:
        """The same groups, standing after `history` instead (for the round's figures and
        repeats, once the rounds before it are settled). `best`: everyone's best possible,
        in room order (default: the draft's own)."""
        standing = self.graph.standing
        if best is not None:
            best = best[[scorer.index[i] for i in self.graph.ids]]
        elif standing is not None:
            best = standing.best
        graph = _graph(
            scorer,
            self.graph.ids,
            history,
            scorer.room.rules,
            fair=False,
            best_of=best_of,
            best=best,
        )
        return dataclasses.replace(self, graph=graph)


def draft_round(
    scorer: Scorer,
    *,
    present: Sequence[str],
    history: History,
    index: int,
    seed: int,
    options: SolverOptions,
    best_of: int,
    meetings_left: int,
    points: FloatMatrix | None = None,
    best: FloatMatrix | None = None,
    needs: FloatMatrix | None = None,
    preferred: BoolMatrix | None = None,
) -> Draft:
    """Round `index` as a draft: `best_of` partners count in each person's best possible
    (`best`, when given, holds it for `present` in that order), and `meetings_left` is how
    many meetings everyone has left, this round's included."""
    rules = scorer.room.rules
    rng = np.random.default_rng([seed, index])
    order = rng.permutation(len(present))
    ids = [present[i] for i in order]
    if points is not None:
        points = points[np.ix_(order, order)]
    if best is not None:
        best = best[order]
    if needs is not None:
        needs = needs[order]
    if preferred is not None:
        preferred = preferred[np.ix_(order, order)]
    graph = _graph(
        scorer,
        ids,
        history,
        rules,
        fair=options.fair,
        points=points,
        best_of=best_of,
        meetings_left=meetings_left,
        best=best,
        needs=needs,
        preferred=preferred,
        options=options,
    )
    turns = np.array([history.odd_turns.get(i, 0) for i in ids], dtype=np.int64)
    if rules.group_size == 2:
        groups, sitting, odd = _pairs(graph, turns, rules, options)
    else:
        groups, sitting, odd = _tables(graph, turns, rules, options)
    return Draft(index, graph, groups, sitting, odd)


def room_best(scorer: Scorer, points: FloatMatrix, *, count: int) -> FloatMatrix:
    """Everyone's best possible (in room order; `points` is the room's matrix): the sum of
    their `count` best partners' points among those the rules let them meet."""
    ids = list(scorer.ids)
    rules = scorer.room.rules
    standing = _graph(scorer, ids, History(), rules, fair=False, points=points, best_of=count)
    if standing.standing is None:
        raise MatchingError("a whole room's graph has a standing")
    return standing.standing.best


def _outcome(
    scorer: Scorer,
    graph: _Graph,
    groups: list[list[int]],
    sitting: list[int],
    odd: list[int],
    *,
    index: int,
    rules: Rules,
) -> RoundOutcome:
    # Members and tables in the order people were given (input order), whatever the seed.
    rank = {person: i for i, person in enumerate(sorted(graph.ids, key=scorer.index.__getitem__))}

    def first(members: list[int]) -> int:
        return rank[graph.ids[members[0]]]

    ordered = sorted((sorted(g, key=lambda m: rank[graph.ids[m]]) for g in groups if g), key=first)
    built: list[Group] = []
    gains: dict[str, float] = {}
    for number, members in enumerate(ordered):
        member_ids = tuple(graph.ids[m] for m in members)
        sub = graph.points[np.ix_(members, members)]
        for m, row in zip(member_ids, sub, strict=True):
            gains[m] = float(row.sum())
        built.append(
            Group(
                table=table_name(rules, number),
                members=member_ids,
                score=round(float(np.triu(sub, 1).sum()), 3),
                reasons=scorer.reasons(member_ids),
                repeats=int(np.count_nonzero(np.triu(graph.met[np.ix_(members, members)], 1))),
            )
        )
    return RoundOutcome(
        round=Round(
            index=index,
            groups=tuple(built),
            sitting_out=tuple(sorted(graph.ids[s] for s in sitting)),
        ),
        gains=gains,
        odd_ones=tuple(graph.ids[o] for o in odd),
        fairness=_fairness_after(graph, groups),
    )


def _fairness_after(graph: _Graph, groups: Sequence[Sequence[int]]) -> Fairness:
    """The figures of `fairness.summarise` once the round's groups have met."""
    standing = graph.standing
    if standing is None:
        raise ValueError("a round's fairness needs the whole round's graph")
    totals = standing.totals.copy()
    empty = standing.empty.copy()
    meetings = standing.meetings.copy()
    for members in groups:
        block = np.ix_(members, members)
        sub = graph.points[block]
        totals[members] += sub.sum(axis=1)
        meetings[members] += len(members) - 1
        empty[members] += (sub <= NOTHING).sum(axis=1) - 1
    return summarise(graph.ids, totals, standing.best, empty, meetings, standing.findable)


def round_fairness(
    scorer: Scorer,
    round_: Round,
    *,
    history: History,
    horizon: int | None = None,
) -> Fairness:
    """How the least lucky fare once `round_` is held, after `history` (see Fairness):
    for a round built otherwise than by `solve_round`, e.g. from a printed plan."""
    ids = [m for g in round_.groups for m in g.members] + list(round_.sitting_out)
    rules = scorer.room.rules
    rounds = max(horizon or round_.index, round_.index)
    graph = _graph(scorer, ids, history, rules, fair=False, best_of=rounds * (rules.group_size - 1))
    position = {person: i for i, person in enumerate(ids)}
    groups = [[position[m] for m in g.members] for g in round_.groups]
    return _fairness_after(graph, groups)


def shares(
    scorer: Scorer, groups: Iterable[Sequence[str]], *, rounds: Mapping[str, int]
) -> dict[str, float]:
    """Each person's share of their best possible once these groups have met, as the
    organiser's preview counts it (see Fairness): their common ground with their table-mates
    against their best partners, one per round (group size less one at tables) for the
    `rounds` they took part in. Everyone of the scorer's room counts as a possible partner;
    people with no common ground to find are left out."""
    ids = list(scorer.ids)
    rules = scorer.room.rules
    position = {person: i for i, person in enumerate(ids)}
    history = History.from_rules(rules)
    points = _graph(scorer, ids, history, rules, fair=False).points
    totals = np.zeros(len(ids), dtype=np.float64)
    for group in groups:
        members = [position[m] for m in group if m in position]
        totals[members] += points[np.ix_(members, members)].sum(axis=1)
    counts = np.array([rounds.get(i, 0) * (rules.group_size - 1) for i in ids], dtype=np.int64)
    best = np.zeros(len(ids), dtype=np.float64)
    # Usually one count for everyone; one more for each late arrival's or early leaver's.
    for count in np.unique(counts[counts > 0]):
        graph = _graph(scorer, ids, history, rules, fair=False, points=points, best_of=int(count))
        if graph.standing is None:
            raise MatchingError("a whole room's graph has a standing")
        rows = counts == count
        best[rows] = graph.standing.best[rows]
    result = fairness_shares(totals, best)
    return {ids[i]: float(result[i]) for i in np.flatnonzero(best > 0)}


def table_name(rules: Rules, number: int) -> str:
    """The name of the table of the `number`-th group (0-based): the organiser's, or 1, 2..."""
    if number < len(rules.tables):
        return rules.tables[number]
    return str(number + 1)


def _eligible(turns: npt.NDArray[np.int64], among: Sequence[int]) -> list[int]:
    """Who may be the odd one out: those of `among` with the fewest odd turns so far."""
    if not among:
        return []
    least = min(int(turns[i]) for i in among)
    return [i for i in among if turns[i] == least]


def _pairs(
    graph: _Graph, turns: npt.NDArray[np.int64], rules: Rules, options: SolverOptions
) -> tuple[list[list[int]], list[int], list[int]]:
    n = len(graph.ids)
    everyone = list(range(n))
    if n % 2 == 0:
        pairs = max_weight_pairs(graph.weights, graph.allowed, options=options)
        extra: int | None = None
    else:
        # The odd one out is chosen by the matching itself: a dummy person who may only be
        # paired with those whose turn it is, at weight 0.
        weights = np.zeros((n + 1, n + 1), dtype=np.int64)
        weights[:n, :n] = graph.weights
        allowed = np.zeros((n + 1, n + 1), dtype=np.bool_)
        allowed[:n, :n] = graph.allowed
        for e in _eligible(turns, everyone):
            allowed[n, e] = allowed[e, n] = True
        found = max_weight_pairs(weights, allowed, options=options)
        extra = next((a for a, b in found if b == n), None)
        pairs = [p for p in found if n not in p]
    groups: list[list[int]] = [list(p) for p in pairs]
    placed = {v for p in pairs for v in p}
    single = [v for v in everyone if v not in placed and v != extra]
    if extra is None and n % 2 == 1 and single:
        extra, single = single[0], single[1:]
    sitting: list[int] = []
    odd: list[int] = []
    if extra is not None:
        if rules.odd == "sit_out":
            sitting.append(extra)
            odd.append(extra)
        else:
            groups, trio = _trio(graph, turns, groups, extra, options)
            if trio is None:
                sitting.append(extra)
                odd.append(extra)
            else:
                odd.extend(trio)
    # People the rules left with no allowed partner: into a pair as a third, or sitting out.
    for person in single:
        target = _best_group(graph, groups, person, max_size=3 if rules.odd == "trio" else 2)
        if target is None:
            sitting.append(person)
        else:
            groups[target].append(person)
        odd.append(person)
    return groups, sitting, odd


def _trio(
    graph: _Graph,
    turns: npt.NDArray[np.int64],
    groups: list[list[int]],
    extra: int,
    options: SolverOptions,
) -> tuple[list[list[int]], list[int] | None]:
    """Make one trio with `extra`: nobody meets twice, nobody odd more often than others.

    Meeting no one twice comes first; then a pair whose members have been odd no more than
    anyone; failing that, a trio of such people is built directly and the rest re-matched.
    """
    eligible = set(_eligible(turns, range(len(graph.ids))))
    pairs = [i for i, g in enumerate(groups) if len(g) == 2]
    fair = [i for i in pairs if all(m in eligible for m in groups[i])]
    target = _best_group(graph, groups, extra, max_size=3, among=fair, fresh=True)
    if target is None and len(eligible) >= 3:
        triangle = _best_triangle(graph, sorted(eligible))
        if triangle is not None:
            rest = [v for v in range(len(graph.ids)) if v not in triangle]
            sub = _sub(graph, rest)
            found = max_weight_pairs(sub.weights, sub.allowed, options=options)
            if 2 * len(found) == len(rest):
                regrouped = [[rest[a], rest[b]] for a, b in found]
                regrouped.append(list(triangle))
                return regrouped, list(triangle)
    if target is None:
        # Fewest odd turns first, among the pairs the newcomer has not met.
        def load(i: int) -> int:
            return sum(int(turns[m]) for m in groups[i])

        fresh = [i for i in pairs if not graph.met[extra, groups[i]].any()]
        if fresh:
            fewest = min(load(i) for i in fresh)
            target = _best_group(
                graph, groups, extra, max_size=3, among=[i for i in fresh if load(i) == fewest]
            )
    if target is None:
        target = _best_group(graph, groups, extra, max_size=3)
    if target is None:
        return groups, None
    groups[target].append(extra)
    return groups, list(groups[target])


def _best_triangle(graph: _Graph, people: list[int]) -> tuple[int, int, int] | None:
    if len(people) > 200:
        return None
    p = np.array(people, dtype=np.int64)
    w = graph.weights[np.ix_(p, p)].astype(np.float64)
    ok = graph.allowed[np.ix_(p, p)] & (graph.met[np.ix_(p, p)] == 0)
    w = np.where(ok, w, -np.inf)
    best: tuple[float, tuple[int, int, int]] | None = None
    m = len(p)
    for a in range(m):
        total = w[a][:, None] + w[a][None, :] + w
        total[np.tril_indices(m)] = -np.inf
        total[a, :] = total[:, a] = -np.inf
        flat = int(np.argmax(total))
        value = float(total.flat[flat])
        if value > -np.inf and (best is None or value > best[0]):
            b, c = divmod(flat, m)
            best = (value, (int(p[a]), int(p[b]), int(p[c])))
    return None if best is None else best[1]


def _best_group(
    graph: _Graph,
    groups: list[list[int]],
    person: int,
    *,
    max_size: int,
    among: Sequence[int] | None = None,
    fresh: bool = False,
) -> int | None:
    """The group `person` adds most to, with room left and nobody they must not meet.

    With `fresh`, only groups in which `person` has met nobody before.
    """
    best: tuple[int, int] | None = None
    for g in range(len(groups)) if among is None else among:
        members = groups[g]
        if len(members) >= max_size or not all(graph.allowed[person, m] for m in members):
            continue
        if fresh and graph.met[person, members].any():
            continue
        value = int(sum(int(graph.weights[person, m]) for m in members))
        if best is None or value > best[0]:
            best = (value, g)
    return None if best is None else best[1]


# --------------------------------------------------------------------------- tables of 3 or 4


def table_sizes(n: int, size: int, odd: str) -> tuple[list[int], int]:
    """How `n` people sit at tables of `size`: the sizes, and how many sit out.

    All tables take `size` people but at most one: with one person over, that person joins
    a table (trio policy) or sits out; with more over, they make one smaller table.
    """
    if n < 2:
        return [], n
    if n < size:
        return [n], 0
    full, over = divmod(n, size)
    if over == 0:
        return [size] * full, 0
    if over == 1:
        if odd == "sit_out":
            return [size] * full, 1
        return [size] * (full - 1) + [size + 1], 0
    return [size] * full + [over], 0


def _tables(
    graph: _Graph, turns: npt.NDArray[np.int64], rules: Rules, options: SolverOptions
) -> tuple[list[list[int]], list[int], list[int]]:
    n = len(graph.ids)
    sizes, sit = table_sizes(n, rules.group_size, rules.odd)
    everyone = list(range(n))
    sitting: list[int] = []
    odd: list[int] = []
    if sit:
        # Sit out whoever has least to lose, among those whose turn it is.
        eligible = _eligible(turns, everyone)
        best = np.where(graph.allowed, graph.weights, np.iinfo(np.int64).min).max(axis=1)
        sitting = [min(eligible, key=lambda i: (int(best[i]), i))]
        odd = list(sitting)
    groups: list[list[int]] = []
    rest = [v for v in everyone if v not in sitting]
    odd_size = next((s for s in sizes if s != rules.group_size), None)
    if odd_size is not None:
        table = _odd_table(graph, turns, rest, odd_size)
        groups.append(table)
        odd.extend(table)
        rest = [v for v in rest if v not in table]
    if rest:
        sub = _sub(graph, rest)
        for table in _even_tables(sub, rules.group_size, options):
            groups.append([rest[m] for m in table])
    # Never seat people who must be kept apart together, even when nothing else fitted.
    for table in groups:
        for a in list(table):
            if any(not graph.allowed[a, b] for b in table if b != a):
                table.remove(a)
                sitting.append(a)
    sitting.extend(v for table in groups if len(table) == 1 for v in table)
    return [table for table in groups if len(table) >= 2], sitting, odd


def _odd_table(
    graph: _Graph, turns: npt.NDArray[np.int64], people: list[int], size: int
) -> list[int]:
    """The odd-sized table, from those whose turn it is, grown greedily by weight."""
    pool = _eligible(turns, people)
    remaining = [p for p in people if p not in pool]
    table: list[int] = []
    while len(table) < size:
        if not pool:
            pool, remaining = _eligible(turns, remaining), []
            pool = pool or remaining
        candidates = [p for p in pool if all(graph.allowed[p, m] for m in table)] or pool
        if not table:
            chosen = max(candidates, key=lambda p: (int(graph.weights[p, pool].max()), -p))
        else:
            chosen = max(
                candidates, key=lambda p: (sum(int(graph.weights[p, m]) for m in table), -p)
            )
        table.append(chosen)
        pool.remove(chosen)
    return table


def _even_tables(graph: _Graph, size: int, options: SolverOptions) -> list[list[int]]:
    """Split a group of people (a multiple of `size`) into tables of `size`.

    Built from matchings (pairs; for 4, pairs of pairs; for 3, one person assigned to each
    of the best pairs), then improved by swapping people between tables.
    """
    n = len(graph.ids)
    count = n // size
    blocked = ~graph.allowed
    weights = graph.weights.astype(np.float64)
    # Kept-apart weighs more than any possible gain, so swaps always remove it.
    penalty = (np.abs(weights).sum() + 1.0) * 4.0
    weights = np.where(blocked, -penalty, weights)
    np.fill_diagonal(weights, 0.0)
    pairs = max_weight_pairs(graph.weights, graph.allowed, options=options)
    pairs.sort(key=lambda p: -int(graph.weights[p]))
    matched = {v for p in pairs for v in p}
    loose = [v for v in range(n) if v not in matched]
    if size == 3:
        from scipy.optimize import linear_sum_assignment

        cores = [list(p) for p in pairs[:count]]
        singles = loose + [v for p in pairs[count:] for v in p]
        while len(cores) < count:
            cores.append([singles.pop(), singles.pop()])
        value = np.array([[weights[s, c[0]] + weights[s, c[1]] for c in cores] for s in singles])
        rows, cols = linear_sum_assignment(value, maximize=True)
        tables = [list(c) for c in cores]
        for r, c in zip(rows, cols, strict=True):
            tables[int(c)].append(singles[int(r)])
    else:
        units = [list(p) for p in pairs] + [loose[i : i + 2] for i in range(0, len(loose), 2)]
        m = len(units)
        unit_weights = np.zeros((m, m), dtype=np.int64)
        unit_allowed = np.zeros((m, m), dtype=np.bool_)
        for i in range(m):
            for j in range(i + 1, m):
                block = np.ix_(units[i], units[j])
                unit_weights[i, j] = unit_weights[j, i] = int(graph.weights[block].sum())
                unit_allowed[i, j] = unit_allowed[j, i] = bool(graph.allowed[block].all())
        joined = max_weight_pairs(unit_weights, unit_allowed, options=options)
        tables = [units[a] + units[b] for a, b in joined]
        used = {u for p in joined for u in p}
        spare = [v for u in range(m) if u not in used for v in units[u]]
        tables.extend(spare[i : i + size] for i in range(0, len(spare), size))
    best = _improve_tables(weights, tables, options)
    if n <= options.restart_limit:
        # Swaps alone can stall in a local optimum: in small rooms, also start from a few
        # seeded random splits and keep the best (measured in docs/matching.md).
        rng = np.random.default_rng(n)
        for _ in range(options.table_restarts):
            order = rng.permutation(n).tolist()
            start = [order[i : i + size] for i in range(0, n, size)]
            candidate = _improve_tables(weights, start, options)
            if _tables_value(weights, candidate) > _tables_value(weights, best):
                best = candidate
    return best


def _tables_value(weights: FloatMatrix, tables: list[list[int]]) -> float:
    return float(sum(weights[np.ix_(t, t)].sum() for t in tables))


def _improve_tables(
    weights: FloatMatrix, tables: list[list[int]], options: SolverOptions
) -> list[list[int]]:
    """Swap people between tables while any swap raises the total weight."""
    n = len(weights)
    count = len(tables)
    if count < 2:
        return tables
    label = np.empty(n, dtype=np.int64)
    for t, members in enumerate(tables):
        label[members] = t
    deadline = time.perf_counter() + options.table_seconds
    for _ in range(options.table_sweeps):
        onehot = np.zeros((n, count))
        onehot[np.arange(n), label] = 1.0
        towards = weights @ onehot  # towards[i, t]: i's weight with table t
        across = towards[:, label]  # across[i, j]: i's weight with j's table
        own = towards[np.arange(n), label]
        delta = across + across.T - 2.0 * weights - own[:, None] - own[None, :]
        delta[label[:, None] == label[None, :]] = 0.0
        rows, cols = np.nonzero(np.triu(delta, 1) > 1e-9)
        if len(rows) == 0:
            break
        gains = delta[rows, cols]
        touched: set[int] = set()
        for k in np.argsort(-gains, kind="stable"):
            i, j = int(rows[k]), int(cols[k])
            ti, tj = int(label[i]), int(label[j])
            if ti in touched or tj in touched:
                continue
            label[i], label[j] = tj, ti
            touched.update((ti, tj))
        if time.perf_counter() > deadline:
            break
    return [sorted(np.flatnonzero(label == t).tolist()) for t in range(count)]


# --------------------------------------------------------------------------- repair


def repair(
    scorer: Scorer,
    round_: Round,
    *,
    history: History,
    absent: Collection[str] = (),
    already_know: Pair | None = None,
    options: SolverOptions = SolverOptions(),
) -> Round:
    """Re-place only the people a live round stranded; nobody else moves.

    `absent` left the round (not there, left, on a break); `already_know` is a pair at the
    same table who knew each other. Stranded people (and anyone sitting out) pair up with
    each other; one left over joins a pair as a third, or sits out if none will take them.
    """
    rules = scorer.room.rules
    gone = set(absent)
    tables: list[tuple[str, list[str]]] = []
    stranded: list[str] = []
    free_tables: list[str] = []
    for group in round_.groups:
        members = [m for m in group.members if m not in gone]
        if already_know is not None and already_know <= set(members):
            a, b = sorted(already_know)
            if len(members) == 2:
                stranded.extend(members)
                members = []
            else:
                # Of the two who know each other, the one the rest of the table values less
                # moves on.
                others = [m for m in members if m not in already_know]
                moving = min(
                    (a, b),
                    key=lambda x: (_points_with(scorer, x, others), x),
                )
                stranded.append(moving)
                members.remove(moving)
        if len(members) == 1:
            stranded.extend(members)
            members = []
        if members:
            tables.append((group.table, members))
        else:
            free_tables.append(group.table)
    waiting = [p for p in round_.sitting_out if p not in gone]
    if not stranded:
        return Round(round_.index, _regroup(scorer, round_, tables, history), tuple(waiting))
    # Whoever was sitting out can now meet someone stranded.
    stranded.extend(waiting)

    placed = [m for _, members in tables for m in members]
    ids = stranded + placed
    if already_know is not None:
        history = History(
            met={**history.met, already_know: history.met.get(already_know, 0) + 1},
            totals=history.totals,
            odd_turns=history.odd_turns,
            luck=history.luck,
        )
    # Only the stranded rows are needed: a few sparse products, even in a large room.
    k = len(stranded)
    graph = _graph(scorer, ids, history, rules, fair=options.fair, rows=k)
    local = _sub(graph, list(range(k)))
    # In a live round nobody is sent to someone they already know: joining another table as
    # a third is better.
    pairs = max_weight_pairs(local.weights, local.allowed & (local.met == 0), options=options)
    new_tables: list[list[str]] = [[stranded[a], stranded[b]] for a, b in pairs]
    paired = {v for p in pairs for v in p}
    sitting: list[str] = []
    position = {person: i for i, person in enumerate(ids)}
    group_index = [[position[m] for m in members] for _, members in tables]
    for s in range(k):
        if s in paired:
            continue
        if stranded[s] in waiting and rules.odd == "sit_out":
            sitting.append(stranded[s])
            continue
        target = _best_group(graph, group_index, s, max_size=rules.group_size + 1, fresh=True)
        if target is None:
            target = _best_group(graph, group_index, s, max_size=rules.group_size + 1)
        if target is None:
            sitting.append(stranded[s])
        else:
            group_index[target].append(s)
            tables[target][1].append(stranded[s])
    names = iter(free_tables)
    used = {table for table, _ in tables}
    number = 0
    for members in new_tables:
        table = next(names, None)
        while table is None:
            candidate = table_name(rules, number)
            number += 1
            if candidate not in used:
                table = candidate
        used.add(table)
        tables.append((table, members))
    return Round(round_.index, _regroup(scorer, round_, tables, history), tuple(sorted(sitting)))


def _points_with(scorer: Scorer, person: str, others: Sequence[str]) -> float:
    if not others:
        return 0.0
    row = np.array([scorer.index[person]], dtype=np.int64)
    cols = np.array([scorer.index[o] for o in others], dtype=np.int64)
    return float(scorer.points(row, cols).sum())


def _regroup(
    scorer: Scorer, original: Round, tables: list[tuple[str, list[str]]], history: History
) -> tuple[Group, ...]:
    """Groups for the repaired round; a table whose members did not change keeps its record."""
    before = {g.table: g for g in original.groups}
    result: list[Group] = []
    for table, members in tables:
        old = before.get(table)
        if old is not None and list(old.members) == members:
            result.append(old)
            continue
        idx = np.array([scorer.index[m] for m in members], dtype=np.int64)
        points = np.triu(scorer.points(idx, idx), 1)
        repeats = sum(
            1
            for i, a in enumerate(members)
            for b in members[i + 1 :]
            if history.met.get(pair(a, b), 0) > 0
        )
        result.append(
            Group(
                table=table,
                members=tuple(members),
                score=round(float(points.sum()), 3),
                reasons=scorer.reasons(members),
                repeats=repeats,
            )
        )
    return tuple(result)
