"""Several rounds: no repeated pair while one is avoidable, fair to the least lucky."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Collection, Sequence

import numpy as np
import numpy.typing as npt

from matching.fairness import NOTHING, best_possible, beyond_forced
from matching.model import (
    Fairness,
    Group,
    History,
    Pair,
    Plan,
    Room,
    Round,
    RoundStats,
    Rules,
    pair,
)
from matching.scoring import FloatMatrix, Scorer
from matching.solve import (
    SAME_ORGANISATION_PENALTY,
    SCALE,
    Draft,
    RoundOutcome,
    SolverOptions,
    draft_round,
    max_weight_factor,
    room_best,
    round_fairness,
    solve_round,
    table_name,
)

Index = npt.NDArray[np.int64]

# Lifting the least-lucky share: each try asks everyone for at least this much more than
# the current least share (the partners found decide how much more they get).
LIFT_STEP = 0.001

# Issue 12's bound for plans of tables (`_greedy_limits`): a plan that spends common ground
# to share out meetings with nothing in common keeps at least this much of the greedy
# approach's, in points and in plain shared answers, and nobody below this share of their
# best possible (or the greedy approach's least-lucky share, if higher).
GREEDY_SHARE = 0.97
LEAST_SHARE = 0.5

# The annealing of plans of tables (`_anneal`): the temperature at the start and at the
# end (in meetings with nothing in common beyond the target), how many pairs' typical
# points weigh as much as one such meeting, and how long it goes on for common ground once
# everyone is within the target (a share of `options.table_anneal_work`).
ANNEAL_HOT = 1.0
ANNEAL_COLD = 0.05
ANNEAL_POINTS = 13.0
ANNEAL_POLISH = 0.1
# A step of the annealing counts as at least this many swaps weighed (its fixed cost), so
# that small rooms do not take many more steps than large ones.
ANNEAL_STEP = 3_600


def plan_rounds(
    room: Room,
    *,
    rounds: int,
    seed: int = 0,
    options: SolverOptions = SolverOptions(),
    history: History | None = None,
    first: int = 1,
) -> Plan:
    """Plan `rounds` rounds for everyone in the room. Same room and seed, same plan.

    The rounds are drawn one after another as they would be live, knowing how many there
    are; in rooms of up to `options.lookahead_limit` people, the plan is then improved by
    drawing rounds again knowing all the others (`_look_ahead`).

    To continue rounds already held, give what they left (`history`, which then stands for
    the room's met-before pairs too; it is not changed) and the index of the first round to
    plan (`first`). The totals then include those earlier rounds.
    """
    scorer = Scorer(room)
    start = _copy(History.from_rules(room.rules) if history is None else history)
    present = [a.id for a in room.attendees]
    everyone = np.arange(len(present), dtype=np.int64)
    points = scorer.points(everyone, everyone)
    np.fill_diagonal(points, 0.0)
    size = room.rules.group_size
    last = first + rounds - 1
    best_of = last * (size - 1)
    best = room_best(scorer, points, count=best_of)
    context = _Context(scorer, list(scorer.ids), start, points, best, seed, options, best_of)
    running = _copy(start)
    drafts: list[Draft] = []
    for index in range(first, last + 1):
        draft = context.draw(running, index, meetings_left=(last - index + 1) * (size - 1))
        context.record(running, context.placed(draft))
        drafts.append(draft)
    redrawn = (
        options.fair
        and 2 <= rounds <= options.lookahead_rounds
        and len(present) <= options.lookahead_limit
    )
    bound: _Bound | None = None
    if redrawn or (options.fair and size > 2):
        context = dataclasses.replace(context, facts=_Facts.build(scorer, start, points))
    if redrawn:
        drafts, bound = _look_ahead(context, drafts, first=first)
    swapped = False
    if options.fair and size > 2:
        drafts, swapped = _share_out_empty(context, drafts, bound)
    running = _copy(start)
    planned: list[Round] = []
    stats: list[RoundStats] = []
    for draft in drafts:
        if redrawn or swapped:
            # Drawn knowing other rounds: its figures are those after the rounds before it.
            draft = draft.after(scorer, running, best_of=best_of, best=best)
        outcome = draft.outcome(scorer)
        running.record(outcome.round, gains=outcome.gains, odd_ones=outcome.odd_ones)
        planned.append(outcome.round)
        stats.append(round_stats(outcome.round, outcome.fairness))
    totals = {person: running.totals.get(person, 0.0) for person in present}
    return Plan(
        rounds=tuple(planned),
        round_stats=tuple(stats),
        totals=totals,
        repeats=sum(s.repeats for s in stats),
    )


def round_stats(round_: Round, fairness: Fairness | None = None) -> RoundStats:
    """Quality figures of one round, as the organiser's preview shows them; with the
    round's `fairness` (its RoundOutcome's), the least-lucky share and the most meetings
    with nothing in common too."""
    groups = round_.groups
    total = sum(g.score for g in groups)
    return RoundStats(
        index=round_.index,
        groups=len(groups),
        total_score=round(total, 3),
        mean_score=round(total / len(groups), 3) if groups else 0.0,
        groups_without_common_ground=sum(1 for g in groups if g.score <= 0),
        repeats=sum(g.repeats for g in groups),
        sitting_out=len(round_.sitting_out),
        least_share=None if fairness is None else fairness.least_share,
        most_empty=None if fairness is None else fairness.most_empty,
    )


# --------------------------------------------------------------------------- look-ahead


@dataclasses.dataclass(frozen=True, slots=True)
class _Placed:
    """A drafted round as room positions: each meeting (pairs inside each group, once) and
    the odd ones."""

    draft: Draft
    a: Index
    b: Index
    odd: Index


@dataclasses.dataclass(frozen=True, slots=True)
class _Facts:
    """What the rules and the rounds already held say about a room (room order), for
    scoring whole plans: meetings before the plan (held rounds, met before), colleagues,
    how many people each one shares something with and may meet."""

    before: npt.NDArray[np.int64]
    known: npt.NDArray[np.bool_]
    apart: npt.NDArray[np.bool_]
    colleagues: npt.NDArray[np.bool_]
    must: npt.NDArray[np.bool_]
    findable: Index
    base_meetings: Index
    base_empty: Index
    base_totals: FloatMatrix
    base_turns: Index

    @classmethod
    def build(cls, scorer: Scorer, start: History, points: FloatMatrix) -> _Facts:
        rules = scorer.room.rules
        n = len(points)
        index = scorer.index

        def matrix(pairs: Sequence[tuple[Pair, int]]) -> Index:
            result = np.zeros((n, n), dtype=np.int64)
            for p, count in pairs:
                # Rounds already held may include people no longer in the room.
                a, b = (index.get(x, -1) for x in p)
                if a >= 0 and b >= 0:
                    result[a, b] = result[b, a] = count
            return result

        def mask(pairs: frozenset[Pair]) -> npt.NDArray[np.bool_]:
            return matrix([(p, 1) for p in pairs]) > 0

        before = matrix(list(start.met.items()))
        known = mask(rules.met_before)
        apart = mask(rules.keep_apart)
        everyone = np.arange(n, dtype=np.int64)
        colleagues = scorer.same_organisation(everyone, everyone)
        np.fill_diagonal(colleagues, False)
        partners = ~known & ~apart
        np.fill_diagonal(partners, False)
        if rules.same_organisation != "allow":
            partners &= ~colleagues
        in_rounds = np.maximum(before - known, 0)
        ids = scorer.ids
        return cls(
            before=before,
            known=known,
            apart=apart,
            colleagues=colleagues,
            must=mask(rules.must_meet),
            findable=(partners & (points > NOTHING)).sum(axis=1),
            base_meetings=in_rounds.sum(axis=1),
            base_empty=(in_rounds * (points <= NOTHING)).sum(axis=1),
            base_totals=np.array([start.totals.get(p, 0.0) for p in ids]),
            base_turns=np.array([start.odd_turns.get(p, 0) for p in ids], dtype=np.int64),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    """A plan's room, in room order, and what every draw of a round shares."""

    scorer: Scorer
    present: list[str]
    start: History
    points: FloatMatrix  # 0 on the diagonal
    best: FloatMatrix  # everyone's best possible over the whole event
    seed: int
    options: SolverOptions
    best_of: int
    # Only for the look-ahead.
    facts: _Facts | None = None

    @property
    def given(self) -> _Facts:
        if self.facts is None:
            raise ValueError("only the look-ahead's context has the facts")
        return self.facts

    def draw(
        self,
        history: History,
        index: int,
        *,
        meetings_left: int,
        needs: FloatMatrix | None = None,
        preferred: npt.NDArray[np.bool_] | None = None,
    ) -> Draft:
        return draft_round(
            self.scorer,
            present=self.present,
            history=history,
            index=index,
            seed=self.seed,
            options=self.options,
            points=self.points,
            best=self.best,
            best_of=self.best_of,
            meetings_left=meetings_left,
            needs=needs,
            preferred=preferred,
        )

    def placed(self, draft: Draft) -> _Placed:
        index = self.scorer.index
        a: list[int] = []
        b: list[int] = []
        for members in draft.members():
            at = [index[m] for m in members]
            for i, x in enumerate(at):
                for y in at[i + 1 :]:
                    a.append(x)
                    b.append(y)
        odd = [index[o] for o in draft.odd_ones()]
        return _Placed(
            draft,
            np.array(a, dtype=np.int64),
            np.array(b, dtype=np.int64),
            np.array(odd, dtype=np.int64),
        )

    def record(self, history: History, placed: _Placed) -> None:
        """Add a drafted round's meetings, common ground and odd turns to `history`."""
        ids = self.present
        gains = self.points[placed.a, placed.b]
        for x, y, gain in zip(placed.a.tolist(), placed.b.tolist(), gains.tolist(), strict=True):
            p = pair(ids[x], ids[y])
            history.met[p] = history.met.get(p, 0) + 1
            history.totals[ids[x]] = history.totals.get(ids[x], 0.0) + gain
            history.totals[ids[y]] = history.totals.get(ids[y], 0.0) + gain
        for o in placed.odd.tolist():
            history.odd_turns[ids[o]] = history.odd_turns.get(ids[o], 0) + 1

    def without(self, plan: Sequence[_Placed], k: int) -> History:
        """What all the plan's rounds but the `k`-th leave."""
        history = _copy(self.start)
        for j, placed in enumerate(plan):
            if j != k:
                self.record(history, placed)
        return history


def _look_ahead(context: _Context, fair: list[Draft], *, first: int) -> tuple[list[Draft], _Bound]:
    """A better plan than the rounds drawn one by one, drawing rounds again knowing all the
    others (`_redraw`).

    First the most common ground: the rounds drawn in order on plain points (preferring
    the pairs of the best set of pairs for all rounds, `_best_pairs`, in small rooms), then
    redrawn on plain points. Then two starts, that plan and the rounds drawn with the fair
    weights (`fair`): each gets the most common ground that keeps its least-lucky share,
    then that share is lifted step by step, as long as the room keeps
    `1 - options.fairness_cost` of the most common ground. The better of the two wins
    (`_Score.floor_key`).
    """
    plain = _drawn_in_order(context, first, _best_pairs(context, first))
    plain = _redraw(context, plain, lift=None, bound=None)
    most = _score(context, plain)
    bound = _Bound((1.0 - context.options.fairness_cost) * most.total, most.empty)
    starts = (plain, [context.placed(d) for d in fair])
    lifted = [_lift(context, start, bound) for start in starts]
    if context.scorer.room.rules.group_size > 2:
        # Not lifted: it is there for its meetings with nothing in common, shared out early.
        lifted.append(_drawn_live(context, first))
    best = max(lifted, key=lambda plan: _score(context, plan).floor_key(bound))
    return [placed.draft for placed in best], bound


def _best_pairs(context: _Context, first: int) -> npt.NDArray[np.bool_] | None:
    """The best set of pairs for all the rounds at once (the most common ground with
    everyone in one pair a round, `solve.max_weight_factor`), for rounds drawn in order to
    take; None when the room is too large for it (or seats people at tables)."""
    rules = context.scorer.room.rules
    rounds = context.best_of // (rules.group_size - 1) - first + 1
    free = (context.given.before == 0) & ~context.given.apart
    np.fill_diagonal(free, False)
    if rules.same_organisation == "forbid":
        free &= ~context.given.colleagues
    edges = int(np.triu(free, 1).sum())
    if rules.group_size != 2 or edges * rounds > context.options.factor_limit:
        return None
    weights = np.rint(context.points * SCALE).astype(np.int64)
    tier = int(weights.max(initial=0)) + 1
    # Colleagues (when avoided) only where the rounds need them; pairs who must meet first.
    if rules.same_organisation == "avoid":
        weights -= 2 * tier * len(weights) * context.given.colleagues
    weights += 4 * tier * len(weights) ** 2 * context.given.must
    return max_weight_factor(weights, free, rounds)


def _drawn_in_order(
    context: _Context, first: int, preferred: npt.NDArray[np.bool_] | None = None
) -> list[_Placed]:
    """The rounds drawn one after another on plain points (no fair weights), taking the
    `preferred` pairs first."""
    running = _copy(context.start)
    plan: list[_Placed] = []
    size = context.scorer.room.rules.group_size
    last = context.best_of // (size - 1)
    nothing = np.zeros(len(context.present))
    for index in range(first, last + 1):
        left = (last - index + 1) * (size - 1)
        drawn = context.draw(running, index, meetings_left=left, needs=nothing, preferred=preferred)
        placed = context.placed(drawn)
        context.record(running, placed)
        plan.append(placed)
    return plan


def _drawn_live(context: _Context, first: int) -> list[_Placed]:
    """The rounds drawn one after another as the service draws them live, each as if it
    were the last (everyone's best possible counting the rounds so far): at tables this
    shares out meetings with nothing in common early, before the people one could still
    meet are taken."""
    running = _copy(context.start)
    plan: list[_Placed] = []
    size = context.scorer.room.rules.group_size
    last = context.best_of // (size - 1)
    for index in range(first, last + 1):
        drawn = draft_round(
            context.scorer,
            present=context.present,
            history=running,
            index=index,
            seed=context.seed,
            options=context.options,
            points=context.points,
            best_of=index * (size - 1),
            meetings_left=size - 1,
        )
        placed = context.placed(drawn)
        context.record(running, placed)
        plan.append(placed)
    return plan


def _lift(context: _Context, plan: list[_Placed], bound: _Bound) -> list[_Placed]:
    """Keep the least-lucky share, then raise it while the room's total stays within
    `bound`, until no redraw of one round, or of two, raises it; then the most common ground
    that keeps it."""
    plan = _redraw(context, plan, lift=0.0, bound=bound)
    for _ in range(context.options.lookahead_passes * len(plan)):
        lifted = _redraw(context, plan, lift=LIFT_STEP, bound=bound)
        if lifted is plan:
            lifted = _two(context, plan, bound, lift=LIFT_STEP, first=2)
            if lifted is plan:
                break
        plan = _redraw(context, lifted, lift=0.0, bound=bound)
    for _ in range(context.options.lookahead_passes):
        kept = _two(context, plan, bound, lift=0.0, first=len(plan))
        if kept is plan:
            break
        plan = _redraw(context, kept, lift=0.0, bound=bound)
    return plan


def _two(
    context: _Context, plan: list[_Placed], bound: _Bound, *, lift: float, first: int
) -> list[_Placed]:
    """The first plan found better by redrawing two rounds one after the other (the first
    is kept even if it alone is no better), or `plan` itself. The first round redrawn is
    one of the `first` rounds in which the least lucky got least."""
    best = _score(context, plan).floor_key(bound)
    for k in _weakest_rounds(context, plan)[:first]:
        once = _redrawn(context, plan, k, lift=lift)
        for j in range(len(plan)):
            if j != k:
                twice = _redrawn(context, once, j, lift=lift)
                if _score(context, twice).floor_key(bound) > best:
                    return twice
    return plan


def _weakest_rounds(context: _Context, plan: Sequence[_Placed]) -> list[int]:
    """The plan's rounds, those in which its least-lucky people got least first."""
    n = len(context.points)
    totals = context.given.base_totals.copy()
    gains = []
    for placed in plan:
        value = context.points[placed.a, placed.b]
        gain = np.bincount(placed.a, weights=value, minlength=n)
        gain += np.bincount(placed.b, weights=value, minlength=n)
        totals += gain
        gains.append(gain)
    has = context.best > 0
    shares = np.where(has, totals / np.where(has, context.best, 1.0), np.inf)
    least = shares <= shares.min(initial=np.inf) + 1e-9
    return sorted(range(len(plan)), key=lambda k: float(gains[k][least].sum()))


def _redrawn(
    context: _Context, plan: Sequence[_Placed], k: int, *, lift: float | None
) -> list[_Placed]:
    """The plan with its `k`-th round drawn again knowing all the others (as the event's
    last round: nobody has meetings left after it), on plain points; with `lift`, with a
    tier above the points for everyone who would end below the plan's least-lucky share
    plus `lift` and could reach it this round."""
    size = context.scorer.room.rules.group_size
    others = context.without(plan, k)
    needs = np.zeros(len(context.present))
    if lift is not None:
        target = _score(context, plan).least + lift
        totals = np.array([others.totals.get(p, 0.0) for p in context.present])
        needs = np.where(context.best > 0, target * context.best - totals, 0.0) - 1e-9
    redrawn = context.draw(others, plan[k].draft.index, meetings_left=size - 1, needs=needs)
    return [*plan[:k], context.placed(redrawn), *plan[k + 1 :]]


def _redraw(
    context: _Context,
    plan: list[_Placed],
    *,
    lift: float | None,
    bound: _Bound | None,
) -> list[_Placed]:
    """Draw each round again knowing all the others (`_redrawn`), keeping it when the plan
    is better for it, until a pass over the rounds changes nothing (at most
    `options.lookahead_passes`). Returns `plan` itself when nothing changed.

    Without `bound`, the plan with most common ground is better (`_Score.total_key`);
    with it, `_Score.floor_key`.
    """

    def key(candidate: Sequence[_Placed]) -> tuple[object, ...]:
        score = _score(context, candidate)
        return score.total_key() if bound is None else score.floor_key(bound)

    def improve(current: list[_Placed]) -> list[_Placed]:
        best = key(current)
        for _ in range(context.options.lookahead_passes):
            improved = False
            for k in range(len(current)):
                candidate = _redrawn(context, current, k, lift=lift)
                candidate_key = key(candidate)
                if candidate_key > best:
                    current, best, improved = candidate, candidate_key, True
            if not improved:
                break
        return current

    return improve(plan)


@dataclasses.dataclass(frozen=True, slots=True)
class _Score:
    """What a plan is worth, by `_score`."""

    # The larger the better, in this order: fewer repeats, more pairs who must meet
    # meeting, fewer odd turns for whoever has most (and fewer people with that many),
    # fewer colleague pairs (when avoided).
    rules: tuple[int, ...]
    # The most meetings with nothing in common anyone has beyond those their answers force.
    beyond: int
    empty: int  # pairs with nothing in common
    least: float  # the least-lucky share of their best possible
    at_least: int  # how many people have it
    total: float  # the room's common ground (points)

    def total_key(self) -> tuple[object, ...]:
        """The rules, the most meetings with nothing in common anyone has, the total."""
        return (self.rules, -self.beyond, self.total)

    def floor_key(self, bound: _Bound) -> tuple[object, ...]:
        """The rules, then keeping the room's total and its pairs with nothing in common
        within `bound`, the most meetings with nothing in common anyone has, the
        least-lucky share (and fewer people at it), the total."""
        least = round(self.least, 9)
        within = self.total >= bound.total and self.empty <= bound.empty
        return (self.rules, within, -self.beyond, least, -self.at_least, self.total)


@dataclasses.dataclass(frozen=True, slots=True)
class _Bound:
    """The least common ground, and the most pairs with nothing in common, a fairer plan
    may have."""

    total: float
    empty: int


def _score(context: _Context, plan: Sequence[_Placed]) -> _Score:
    n = len(context.points)
    a = np.concatenate([p.a for p in plan])
    b = np.concatenate([p.b for p in plan])
    odd = np.concatenate([p.odd for p in plan])
    keys, counts = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_counts=True)
    low, high = keys // n, keys % n
    repeats = int(np.where(context.given.before[low, high] > 0, counts, counts - 1).sum())
    must = int(context.given.must[low, high].sum())
    colleagues = 0
    if context.scorer.room.rules.same_organisation == "avoid":
        colleagues = int(context.given.colleagues[a, b].sum())
    gains = context.points[a, b]
    empty = (gains <= NOTHING).astype(np.int64)
    meetings = (
        context.given.base_meetings + np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    )
    empties = (
        context.given.base_empty
        + np.bincount(a, weights=empty, minlength=n).astype(np.int64)
        + np.bincount(b, weights=empty, minlength=n).astype(np.int64)
    )
    beyond = beyond_forced(empties, meetings, context.given.findable)
    totals = (
        context.given.base_totals
        + np.bincount(a, weights=gains, minlength=n)
        + np.bincount(b, weights=gains, minlength=n)
    )
    turns = context.given.base_turns + np.bincount(odd, minlength=n)
    has = context.best > 0
    shares = totals[has] / context.best[has]
    least = float(shares.min(initial=1.0))
    top = int(turns.max(initial=0))
    return _Score(
        rules=(-repeats, must, -top, -int((turns == top).sum()), -colleagues),
        beyond=int(beyond.max(initial=0)),
        empty=int(empty.sum()),
        least=least,
        at_least=int((shares <= least + 1e-9).sum()),
        total=float(gains.sum()),
    )


def _copy(history: History) -> History:
    return History(
        met=dict(history.met),
        totals=dict(history.totals),
        odd_turns=dict(history.odd_turns),
        luck=dict(history.luck),
    )


# --------------------------------------------------------------------------- printed plans


def complete_round(
    scorer: Scorer,
    *,
    kept: Sequence[tuple[str, Sequence[str]]],
    present: Sequence[str],
    history: History,
    index: int,
    seed: int = 0,
    options: SolverOptions = SolverOptions(),
) -> RoundOutcome:
    """Round `index` that keeps the groups `kept` ((table, members), e.g. from a printed
    plan) as they are, and places everyone else `present` with the matcher at the tables
    left over. Nobody kept moves; one person left alone joins a kept group as its odd one
    (trio policy) rather than sitting out, if a group will take them.
    """
    rules = scorer.room.rules
    seated = [m for _, members in kept for m in members]
    placed = set(seated)
    if len(placed) != len(seated) or not placed <= set(present):
        raise ValueError("kept groups must hold present people, each at most once")
    rest = [p for p in present if p not in placed]
    if len(rest) % rules.group_size and any(len(m) != rules.group_size for _, m in kept):
        # Seating the rest would make a second odd group: the printed odd one gives way, so
        # a round keeps one trio (or odd table) at most.
        kept = [(t, m) for t, m in kept if len(m) == rules.group_size]
        placed = {m for _, members in kept for m in members}
        rest = [p for p in present if p not in placed]
    groups = [_kept_group(scorer, table, tuple(members), history) for table, members in kept]
    gains = {m: g for group in groups for m, g in _gains(scorer, group.members).items()}
    odd_ones = [
        m for group in groups if len(group.members) != rules.group_size for m in group.members
    ]
    sitting_out: list[str] = []
    if len(rest) >= 2:
        outcome = solve_round(
            scorer, present=rest, history=history, index=index, seed=seed, options=options
        )
        taken = {group.table for group in groups}
        free = (name for k in itertools.count() if (name := table_name(rules, k)) not in taken)
        groups += [dataclasses.replace(g, table=next(free)) for g in outcome.round.groups]
        gains.update(outcome.gains)
        odd_ones += outcome.odd_ones
        sitting_out += outcome.round.sitting_out
    elif rest:
        (alone,) = rest
        target = _welcoming_group(scorer, groups, alone, history) if rules.odd == "trio" else None
        if target is None:
            sitting_out.append(alone)
            odd_ones.append(alone)
        else:
            members = (*groups[target].members, alone)
            groups[target] = _kept_group(scorer, groups[target].table, members, history)
            gains.update(_gains(scorer, members))
            odd_ones += members
    groups.sort(key=lambda g: _table_rank(rules, g.table))
    drawn = Round(index=index, groups=tuple(groups), sitting_out=tuple(sorted(sitting_out)))
    return RoundOutcome(
        round=drawn,
        gains=gains,
        odd_ones=tuple(dict.fromkeys(odd_ones)),
        fairness=round_fairness(scorer, drawn, history=history),
    )


def _points(scorer: Scorer, members: Sequence[str]) -> npt.NDArray[np.float64]:
    idx = np.array([scorer.index[m] for m in members], dtype=np.int64)
    points = scorer.points(idx, idx)
    np.fill_diagonal(points, 0.0)
    return points


def _gains(scorer: Scorer, members: Sequence[str]) -> dict[str, float]:
    points = _points(scorer, members)
    return {m: float(row.sum()) for m, row in zip(members, points, strict=True)}


def _kept_group(scorer: Scorer, table: str, members: tuple[str, ...], history: History) -> Group:
    repeats = sum(
        1
        for i, a in enumerate(members)
        for b in members[i + 1 :]
        if history.met.get(pair(a, b), 0) > 0
    )
    return Group(
        table=table,
        members=members,
        score=round(float(np.triu(_points(scorer, members), 1).sum()), 3),
        reasons=scorer.reasons(members),
        repeats=repeats,
    )


def _welcoming_group(
    scorer: Scorer, groups: Sequence[Group], person: str, history: History
) -> int | None:
    """The full-sized group `person` adds most to, among those where they meet nobody again
    and break no rule; None if there is none."""
    rules = scorer.room.rules
    best: tuple[float, int] | None = None
    for position, group in enumerate(groups):
        if len(group.members) != rules.group_size:
            continue
        pairs = [pair(person, m) for m in group.members]
        if any(p in rules.keep_apart or history.met.get(p, 0) > 0 for p in pairs):
            continue
        idx = np.array([scorer.index[m] for m in group.members], dtype=np.int64)
        here = np.array([scorer.index[person]], dtype=np.int64)
        colleagues = int(scorer.same_organisation(here, idx).sum())
        if colleagues and rules.same_organisation == "forbid":
            continue
        value = float(scorer.points(here, idx).sum())
        if rules.same_organisation == "avoid":
            value -= SAME_ORGANISATION_PENALTY * colleagues
        if best is None or value > best[0]:
            best = (value, position)
    return None if best is None else best[1]


def _table_rank(rules: Rules, table: str) -> tuple[int, str]:
    """Where `table` comes in the order `table_name` gives names (unknown names last)."""
    if table in rules.tables:
        return rules.tables.index(table), table
    if table.isdigit() and int(table) > len(rules.tables):
        return int(table) - 1, table
    return 1 << 30, table


# --------------------------------------------------------------------------- tables


def _share_out_empty(
    context: _Context, drafts: list[Draft], bound: _Bound | None
) -> tuple[list[Draft], bool]:
    """Tables of 3 or 4: swaps of two people between tables of the same round that lower
    the meetings with nothing in common beyond forced of whoever has most (a lexicographic
    min-max of everyone's counts), by a tabu search; returns the drafts and whether any
    changed.

    Tables are built round by round from pair weights, which see a person's meetings with
    nothing in common one pair at a time; at a table they come three at once, and redrawing
    whole rounds (the look-ahead) rarely moves one person. A swap is allowed only if it
    creates no repeat, separates no pair who must meet and meet nowhere else, seats nobody
    with someone kept apart (nor a colleague unless it removes as many), keeps the room's
    common ground within `bound` (or within `options.fairness_cost` of the plan's), adds no
    more pairs with nothing in common than `bound` allows (or than the plan has), and
    leaves nobody below the plan's least-lucky share. Only full tables without an odd one
    take part, so odd turns do not change. The work is counted in swaps weighed
    (`options.table_plan_work`), so that the same plan comes out on any machine.

    If someone is still beyond `options.table_empty_target` such meetings (in rooms of up
    to `options.lookahead_limit` people), an annealing over the same swaps (`_anneal`) may
    spend common ground down to the bound set against the greedy approach (`_greedy_limits`:
    within 3% of its common ground in points and in plain answers, no more pairs with
    nothing in common, the least lucky no worse); its plan is kept only if it brings
    everyone within the target.
    """
    facts = context.given
    options = context.options
    rules = context.scorer.room.rules
    size = rules.group_size
    index = context.scorer.index
    points = context.points
    zero = (points <= NOTHING).astype(np.int64)
    np.fill_diagonal(zero, 0)
    colleagues = facts.colleagues.astype(np.int64)

    # Each round's groups as room positions; which of them may swap members.
    groups: list[list[list[int]]] = []
    swappable: list[list[int]] = []
    for draft in drafts:
        ids = draft.graph.ids
        odd = {index[ids[o]] for o in draft.odd}
        round_groups = [[index[ids[m]] for m in g] for g in draft.groups]
        groups.append(round_groups)
        swappable.append(
            [
                t
                for t, g in enumerate(round_groups)
                if len(g) == size and not any(m in odd for m in g)
            ]
        )
    start_groups = [[list(g) for g in round_groups] for round_groups in groups]
    met, meetings, empty, totals = _table_counts(context, groups)
    findable = facts.findable
    forced = np.maximum(meetings - findable, 0)
    best = context.best
    has = best > 0
    inverse = np.divide(1.0, best, out=np.zeros_like(best), where=has)
    least = float((totals * inverse)[has].min(initial=1.0)) - 1e-9
    total = float(sum(points[np.ix_(g, g)].sum() / 2 for rg in groups for g in rg))
    floor = total * (1.0 - options.fairness_cost) if bound is None else min(bound.total, total)
    pairs_empty = int(sum(np.triu(zero[np.ix_(g, g)], 1).sum() for rg in groups for g in rg))
    most_empty = pairs_empty if bound is None else max(bound.empty, pairs_empty)
    # A swap changes at most 2 x size people's counts: with levels this far apart, the
    # sum of their weights falls exactly when the counts' profile (highest first) falls.
    base = 2 * size + 1
    top_level = 15  # counts beyond it weigh as much as it (int64)

    has_ground = findable > 0

    def weight(counts: Index, people: Index) -> Index:
        over = np.where(has_ground[people], np.maximum(counts - forced[people], 0), 0)
        result: Index = base ** np.minimum(over, top_level)
        return result

    def state() -> _SwapState:
        return _SwapState(
            met, zero, points, facts.apart, facts.must, colleagues, rules.same_organisation,
            empty, totals, inverse, least, weight, total - floor, most_empty - pairs_empty,
        )  # fmt: skip

    def level() -> Index:
        return np.where(has_ground, np.maximum(empty - forced, 0), 0)

    work = 0

    def search(step: int) -> tuple[int, int, _Swap] | None:
        """The best swap that is not tabu, for those with most such meetings: one of them
        moves, or one of those at their table they have nothing in common with does."""
        nonlocal work
        beyond = level()
        found: tuple[int, int, _Swap] | None = None
        top = int(beyond.max(initial=0))
        if top == 0:
            return None
        # A few of them at a time (the first in room order): a step stays quick.
        for person in np.flatnonzero(beyond == top)[:8].tolist():
            for k, round_groups in enumerate(groups):
                at = next((t for t in swappable[k] if person in round_groups[t]), None)
                if at is None or len(swappable[k]) < 2:
                    continue
                mates = [m for m in round_groups[at] if m != person]
                frozen = {m for m, until in tabu[k].items() if until >= step}
                movers = [m for m in [person, *mates] if m not in frozen]
                movers = [m for m in movers if m == person or zero[person, m]]
                if not zero[person, mates].any() or not movers:
                    continue
                others = [t for t in swappable[k] if t != at]
                work += len(movers) * len(others) * size
                swap = _best_swap(movers, round_groups, at, others, state(), frozen)
                if swap is not None and (found is None or swap.key < found[2].key):
                    found = (k, at, swap)
        return found

    def profile() -> tuple[int, float]:
        return int(weight(empty, np.arange(len(empty))).sum()), -total

    # A tabu search: the best swap each step, even one that makes things worse for a
    # while (the people swapped may not move again in that round for `tenure` steps);
    # the best plan seen wins.
    tenure = 2 * size + 1
    tabu: list[dict[int, int]] = [{} for _ in groups]
    best_profile = profile()
    best_groups = [[list(g) for g in round_groups] for round_groups in groups]
    # The time limit is only a safety net: the work budget ends the search first.
    deadline = time.perf_counter() + options.table_seconds
    step = 0
    while work < options.table_plan_work and time.perf_counter() < deadline:
        move = search(step)
        if move is None:
            break
        k, at, swap = move
        _apply_swap(groups[k], at, swap.table, swap.mover, swap.other, met, zero, points,
                    empty, totals)  # fmt: skip
        total += swap.gain
        pairs_empty += swap.more_empty
        tabu[k][swap.mover] = tabu[k][swap.other] = step + tenure
        if profile() < best_profile:
            best_profile = profile()
            best_groups = [[list(g) for g in round_groups] for round_groups in groups]
        step += 1
    small = len(context.present) <= options.lookahead_limit
    if small and _worst(context, best_groups) > options.table_empty_target:
        limits = _greedy_limits(context, best_groups, least)
        if limits is not None:
            best_groups = _anneal(context, best_groups, swappable, limits) or best_groups
    if best_groups == start_groups:
        return drafts, False
    groups = best_groups
    result: list[Draft] = []
    ids = context.present
    for draft, round_groups in zip(drafts, groups, strict=True):
        position = {person: i for i, person in enumerate(draft.graph.ids)}
        regrouped = [[position[ids[m]] for m in g] for g in round_groups]
        result.append(dataclasses.replace(draft, groups=regrouped))
    return result, True


@dataclasses.dataclass(frozen=True, slots=True)
class _SwapState:
    """What `_best_swap` needs to know of a plan of tables (room positions throughout)."""

    met: Index  # meetings of each pair in the plan and before it
    zero: Index  # 1 for a pair with nothing in common
    points: FloatMatrix
    apart: npt.NDArray[np.bool_]
    must: npt.NDArray[np.bool_]
    colleagues: Index
    same_organisation: str
    empty: Index  # each person's meetings with nothing in common
    totals: FloatMatrix
    inverse: FloatMatrix  # 1 / best possible (0 for those with none)
    least: float  # nobody may end below this share
    weight: Callable[[Index, Index], Index]  # of a count of meetings with nothing in common
    points_slack: float  # how much common ground the room may still lose
    empty_slack: int  # how many more pairs with nothing in common it may have


def _best_swap(
    movers: Sequence[int],
    round_groups: list[list[int]],
    at: int,
    others: Sequence[int],
    state: _SwapState,
    frozen: Collection[int],
) -> _Swap | None:
    """The allowed swap of one of `movers` (at table `at`) with someone at one of the
    tables `others`, not `frozen`, that lowers the weight of meetings with nothing in
    common most, or raises it least (most common ground among equals); None if no swap
    is allowed."""
    members = np.array([round_groups[t] for t in others], dtype=np.int64)
    count, size = members.shape
    candidates = members.ravel()
    table_of = np.repeat(np.asarray(others, dtype=np.int64), size)
    apart_from_self = ~np.eye(size, dtype=np.bool_)
    # Each candidate's table-mates, (candidates, size - 1).
    mates = np.broadcast_to(members[:, None, :], (count, size, size))[:, apart_from_self]
    mates = mates.reshape(count * size, size - 1)
    column = candidates[:, None]
    met, zero, points, weight = state.met, state.zero, state.points, state.weight
    movable = ~np.isin(candidates, np.fromiter(frozen, dtype=np.int64, count=len(frozen)))
    best: _Swap | None = None
    for mover in movers:
        here = np.array([m for m in round_groups[at] if m != mover], dtype=np.int64)
        if (state.must[mover, here] & (met[mover, here] == 1)).any():
            continue  # they would not meet anywhere else
        ok = movable & (met[mover, mates] == 0).all(axis=1) & (met[column, here] == 0).all(axis=1)
        ok &= ~state.apart[mover, mates].any(axis=1) & ~state.apart[column, here].any(axis=1)
        ok &= ~(state.must[column, mates] & (met[column, mates] == 1)).any(axis=1)
        if state.same_organisation != "allow":
            joining = state.colleagues[mover, mates].sum(axis=1)
            joining += state.colleagues[column, here].sum(axis=1)
            if state.same_organisation == "forbid":
                ok &= joining == 0
            else:
                leaving = state.colleagues[mover, here].sum()
                leaving += state.colleagues[column, mates].sum(axis=1)
                ok &= joining <= leaving
        # Changes in meetings with nothing in common and in common ground: the mover,
        # the candidate, the mover's table-mates and the candidate's.
        empty_mover = zero[mover, mates].sum(axis=1) - zero[mover, here].sum()
        empty_other = zero[column, here].sum(axis=1) - zero[column, mates].sum(axis=1)
        empty_here = zero[column, here] - zero[mover, here][None, :]
        empty_there = zero[mates, mover] - zero[mates, column]
        more_empty = empty_mover + empty_other
        ok &= more_empty <= state.empty_slack
        gain_mover = points[mover, mates].sum(axis=1) - points[mover, here].sum()
        gain_other = points[column, here].sum(axis=1) - points[column, mates].sum(axis=1)
        gain_here = points[column, here] - points[mover, here][None, :]
        gain_there = points[mates, mover] - points[mates, column]
        gain = gain_mover + gain_other
        ok &= gain >= -state.points_slack
        change = np.zeros(len(candidates), dtype=np.int64)
        everyone = (
            (np.full_like(candidates, mover), empty_mover, gain_mover),
            (candidates, empty_other, gain_other),
            (np.broadcast_to(here, empty_here.shape), empty_here, gain_here),
            (mates, empty_there, gain_there),
        )
        for people, extra, gained in everyone:
            share = (state.totals[people] + gained) * state.inverse[people]
            kept = (share >= state.least) | (state.inverse[people] == 0)
            now = state.empty[people]
            delta = weight(now + extra, people) - weight(now, people)
            if extra.ndim == 2:
                kept = kept.all(axis=1)
                delta = delta.sum(axis=1)
            ok &= kept
            change += delta
        if not ok.any():
            continue
        allowed = np.flatnonzero(ok)
        k = int(allowed[np.lexsort((-gain[allowed], change[allowed]))[0]])
        swap = _Swap(
            (int(change[k]), -float(gain[k])),
            mover,
            int(candidates[k]),
            int(table_of[k]),
            float(gain[k]),
            int(more_empty[k]),
        )
        if best is None or swap.key < best.key:
            best = swap
    return best


@dataclasses.dataclass(frozen=True, slots=True)
class _Swap:
    key: tuple[int, float]  # change in the weight of empty meetings, common ground lost
    mover: int
    other: int
    table: int  # the other's
    gain: float  # common ground gained
    more_empty: int  # pairs with nothing in common added


def _apply_swap(
    round_groups: list[list[int]],
    at: int,
    table: int,
    mover: int,
    other: int,
    met: Index,
    zero: Index,
    points: FloatMatrix,
    empty: Index,
    totals: FloatMatrix,
) -> None:
    """Swap `mover` (table `at`) and `other` (table `table`), updating the counts."""
    for sign in (-1, 1):
        if sign == 1:
            first, second = round_groups[at], round_groups[table]
            first[first.index(mover)] = other
            second[second.index(other)] = mover
        for g in (round_groups[at], round_groups[table]):
            block = np.ix_(g, g)
            met[block] += sign
            empty[g] += sign * zero[block].sum(axis=1)
            totals[g] += sign * points[block].sum(axis=1)
    np.fill_diagonal(met, 0)


def _table_counts(
    context: _Context, groups: Sequence[Sequence[Sequence[int]]]
) -> tuple[Index, Index, Index, FloatMatrix]:
    """Who met whom (with the meetings before the plan), everyone's meetings, meetings with
    nothing in common and common ground, for a plan of tables (room positions)."""
    facts = context.given
    points = context.points
    zero = points <= NOTHING
    np.fill_diagonal(zero, False)
    met = facts.before.copy()
    meetings = facts.base_meetings.copy()
    empty = facts.base_empty.copy()
    totals = facts.base_totals.copy()
    for round_groups in groups:
        for g in round_groups:
            block = np.ix_(g, g)
            met[block] += 1
            meetings[g] += len(g) - 1
            empty[g] += zero[block].sum(axis=1)
            totals[g] += points[block].sum(axis=1)
    np.fill_diagonal(met, 0)
    return met, meetings, empty, totals


def _worst(context: _Context, groups: Sequence[Sequence[Sequence[int]]]) -> int:
    """The most meetings with nothing in common beyond forced anyone has in a plan."""
    _, meetings, empty, _ = _table_counts(context, groups)
    return int(beyond_forced(empty, meetings, context.given.findable).max(initial=0))


@dataclasses.dataclass(frozen=True, slots=True)
class _Limits:
    """What a plan of tables found by `_anneal` must keep: the room's common ground in
    points and in plain shared answers (`plain`, 0 on the diagonal), the most pairs with
    nothing in common, the least-lucky share in each currency (`plain_best`: everyone's
    best possible in plain answers; `plain_base`: their plain answers before the plan)."""

    points_floor: float
    plain_floor: float
    most_empty: int
    least: float
    plain_least: float
    plain: FloatMatrix
    plain_best: FloatMatrix
    plain_base: FloatMatrix


def _greedy_limits(
    context: _Context, groups: Sequence[Sequence[Sequence[int]]], least: float
) -> _Limits | None:
    """Issue 12's bound for a plan of tables `groups`: never below `GREEDY_SHARE` of the
    greedy approach's common ground (each round on its own for the most common ground, met
    pairs never again, the same rules: `SolverOptions(fair=False)`), in points and in plain
    shared answers; never more pairs with nothing in common than it has; nobody below the
    plan's least-lucky share (`least`, in points; the plan's own in plain answers) or, if
    lower, the greedy approach's or `LEAST_SHARE`, whichever is higher. None when the greedy
    approach seats people otherwise (other table sizes): then the figures do not compare."""
    scorer = context.scorer
    size = scorer.room.rules.group_size
    last = context.best_of // (size - 1)
    first = last - len(groups) + 1
    greedy = dataclasses.replace(context, options=dataclasses.replace(context.options, fair=False))
    running = _copy(context.start)
    theirs: list[list[list[int]]] = []
    for k in range(first, last + 1):
        draft = greedy.draw(running, k, meetings_left=(last - k + 1) * (size - 1))
        greedy.record(running, greedy.placed(draft))
        theirs.append([[scorer.index[m] for m in members] for members in draft.members()])
    if sorted(len(g) for rg in theirs for g in rg) != sorted(len(g) for rg in groups for g in rg):
        return None
    facts = context.given
    plain = scorer.answers_in_common()
    np.fill_diagonal(plain, 0.0)
    partners = ~facts.known & ~facts.apart
    np.fill_diagonal(partners, False)
    if scorer.room.rules.same_organisation != "allow":
        partners &= ~facts.colleagues
    plain_best = best_possible(plain, partners, context.best_of)
    plain_base = (np.maximum(facts.before - facts.known, 0) * plain).sum(axis=1)

    def figures(plan: Sequence[Sequence[Sequence[int]]]) -> tuple[float, float, int, float]:
        """Points, plain answers, pairs with nothing in common, least share in plain."""
        totals, points, answers, empty = _common_ground(context, plain, plain_base, plan)
        has = plain_best > 0
        return points, answers, empty, float((totals[has] / plain_best[has]).min(initial=1.0))

    _, _, _, greedy_totals = _table_counts(context, theirs)
    has = context.best > 0
    greedy_least = float((greedy_totals[has] / context.best[has]).min(initial=1.0))
    points, answers, empty, plain_least = figures(theirs)
    _, _, _, our_plain_least = figures(groups)
    return _Limits(
        points_floor=GREEDY_SHARE * points,
        plain_floor=GREEDY_SHARE * answers,
        most_empty=empty,
        least=min(least, max(LEAST_SHARE, greedy_least) - 1e-9),
        plain_least=min(our_plain_least, max(LEAST_SHARE, plain_least)) - 1e-9,
        plain=plain,
        plain_best=plain_best,
        plain_base=plain_base,
    )


def _anneal(
    context: _Context,
    groups: list[list[list[int]]],
    swappable: list[list[int]],
    limits: _Limits,
) -> list[list[list[int]]] | None:
    """A plan of tables with nobody beyond `options.table_empty_target` meetings with
    nothing in common beyond forced, found by simulated annealing over the swaps of
    `_share_out_empty` from `groups`, within `limits`; None if no chain finds one.

    The annealing lowers the sum of everyone's count beyond the target, less the room's
    common ground at one unit per `ANNEAL_POINTS` pairs' typical points. Each step takes a
    random round and weighs every swap of two people at two of its full tables at once,
    against the same plan (`_round_swaps`): a swap that breaks a rule or a limit is refused,
    the others are accepted by the Metropolis rule; then, those that lower the sum first
    (the rest in random order), each accepted swap whose two tables no swap took yet is
    applied. Swaps at different tables of a round touch different people, so their figures
    add up exactly. Each chain cools linearly from `ANNEAL_HOT` to `ANNEAL_COLD` over
    `options.table_anneal_work` swaps weighed (each step at least `ANNEAL_STEP`), with its
    own fixed seed; once everyone is
    within the target, the chain goes on cold for `ANNEAL_POLISH` of that work, keeping
    everyone within it, for more common ground. The first chain that gets there ends the
    search with the plan of most common ground it saw.
    """
    facts = context.given
    options = context.options
    size = context.scorer.room.rules.group_size
    points = context.points
    target = options.table_empty_target
    eligible = [k for k, tables in enumerate(swappable) if len(tables) >= 2]
    if not eligible:
        return None
    count = [len(swappable[k]) for k in eligible]
    _, meetings, _, _ = _table_counts(context, groups)
    findable = facts.findable
    # Swaps do not change anyone's number of meetings, so neither those forced.
    forced = np.where(findable > 0, np.maximum(meetings - findable, 0) + target, 1 << 30)
    positive = points > NOTHING
    typical = float(points[positive].mean()) if positive.any() else 1.0
    rules = _SwapRules.build(context, limits, forced, 1.0 / (ANNEAL_POINTS * typical))
    work_limit = options.table_anneal_work
    for chain in range(options.table_anneal_chains):
        rng = np.random.default_rng([context.seed, chain])
        plan = _Annealed.build(context, limits, groups, swappable, eligible, forced)
        found: tuple[float, Index] | None = None
        work = 0
        polish = 0
        while work < work_limit if found is None else polish > 0:
            heat = ANNEAL_HOT + (ANNEAL_COLD - ANNEAL_HOT) * work / work_limit
            r = int(rng.integers(len(eligible)))
            weighed = max((count[r] * size) ** 2, ANNEAL_STEP)
            work += weighed
            if found is not None:
                heat = ANNEAL_COLD
                polish -= weighed
            _round_swaps(plan, rules, r, count[r], heat, rng, keep=found is not None)
            if plan.beyond == 0 and (found is None or plan.total > found[0] + 1e-9):
                if found is None:
                    polish = int(ANNEAL_POLISH * work_limit)
                found = (plan.total, plan.seats.copy())
        if found is not None:
            result = [[list(g) for g in round_groups] for round_groups in groups]
            for r, k in enumerate(eligible):
                for t, table in enumerate(swappable[k]):
                    result[k][table] = found[1][r, t].tolist()
            return result
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _SwapRules:
    """What `_round_swaps` needs to know of a room (room positions throughout)."""

    stack: FloatMatrix  # (n, n, 3): each pair's nothing in common (1/0), points, plain
    met_before: Index  # meetings before the plan
    apart: Index  # 1 for a pair kept apart (and colleagues, when forbidden)
    must: npt.NDArray[np.bool_]
    colleagues: Index | None  # 1 for colleagues, when avoided
    inverse: FloatMatrix  # 1 / best possible in points (0 for those with none)
    plain_inverse: FloatMatrix
    forced: Index  # meetings with nothing in common anyone may have (huge if any)
    limits: _Limits
    price: float  # of a point of common ground, in meetings beyond the target
    others: Index  # (size, size - 1): the other seats of a table

    @classmethod
    def build(cls, context: _Context, limits: _Limits, forced: Index, price: float) -> _SwapRules:
        facts = context.given
        rules = context.scorer.room.rules
        size = rules.group_size
        zero = (context.points <= NOTHING).astype(np.float64)
        np.fill_diagonal(zero, 0.0)
        apart = facts.apart.copy()
        if rules.same_organisation == "forbid":
            apart |= facts.colleagues
        best, plain_best = context.best, limits.plain_best
        return cls(
            stack=np.stack([zero, context.points, limits.plain], axis=-1),
            met_before=facts.before,
            apart=apart.astype(np.int64),
            must=facts.must,
            colleagues=(
                facts.colleagues.astype(np.int64) if rules.same_organisation == "avoid" else None
            ),
            inverse=np.divide(1.0, best, out=np.zeros_like(best), where=best > 0),
            plain_inverse=np.divide(
                1.0, plain_best, out=np.zeros_like(plain_best), where=plain_best > 0
            ),
            forced=forced,
            limits=limits,
            price=price,
            others=np.array([[j for j in range(size) if j != i] for i in range(size)]),
        )

    def beyond(self, counts: Index, people: Index) -> Index:
        """Meetings with nothing in common beyond the target (`counts` of `people`)."""
        result: Index = np.maximum(counts - self.forced[people], 0)
        return result


def _common_ground(
    context: _Context,
    plain: FloatMatrix,
    plain_base: FloatMatrix,
    plan: Sequence[Sequence[Sequence[int]]],
) -> tuple[FloatMatrix, float, float, int]:
    """A plan of tables' common ground: everyone's plain shared answers (from their
    `plain_base`), the room's points and plain answers, its pairs with nothing in common."""
    zero = context.points <= NOTHING
    totals = plain_base.copy()
    points = answers = 0.0
    empty = 0
    for round_groups in plan:
        for g in round_groups:
            block = np.ix_(g, g)
            totals[g] += plain[block].sum(axis=1)
            points += float(context.points[block].sum()) / 2
            answers += float(plain[block].sum()) / 2
            empty += int(np.triu(zero[block], 1).sum())
    return totals, points, answers, empty


@dataclasses.dataclass(slots=True)
class _Annealed:
    """A plan of tables as `_anneal` changes it: the full tables of the rounds with two or
    more of them (`seats`: round, table, seat), who met whom, everyone's meetings with
    nothing in common and common ground (points, plain answers), the room's figures."""

    seats: Index
    met: Index
    empty: Index
    totals: FloatMatrix
    plain_totals: FloatMatrix
    total: float
    plain_total: float
    pairs_empty: int
    beyond: int  # the sum of everyone's meetings with nothing in common beyond the target

    @classmethod
    def build(
        cls,
        context: _Context,
        limits: _Limits,
        groups: Sequence[Sequence[Sequence[int]]],
        swappable: Sequence[Sequence[int]],
        eligible: Sequence[int],
        forced: Index,
    ) -> _Annealed:
        size = context.scorer.room.rules.group_size
        count = max(len(swappable[k]) for k in eligible)
        seats = np.zeros((len(eligible), count, size), dtype=np.int64)
        for r, k in enumerate(eligible):
            for t, table in enumerate(swappable[k]):
                seats[r, t] = groups[k][table]
        met, _, empty, totals = _table_counts(context, groups)
        plain_totals, total, plain_total, pairs_empty = _common_ground(
            context, limits.plain, limits.plain_base, groups
        )
        beyond = int(np.maximum(empty - forced, 0).sum())
        return cls(seats, met, empty, totals, plain_totals, total, plain_total, pairs_empty, beyond)


def _per_table(matrix: Index, ids: Index, at: Index, tables: int, size: int) -> Index:
    """For people `ids` seated at `tables` tables of `size` (`at`: each one's table), how
    many at each one's table (columns, by person) the pair `matrix` counts for each of them
    (rows), leaving out the column's person."""
    block = matrix[np.ix_(ids, ids)]
    counts: Index = block.reshape(len(ids), tables, size).sum(axis=2)[:, at]
    return counts - block


def _round_swaps(
    plan: _Annealed,
    rules: _SwapRules,
    r: int,
    tables: int,
    heat: float,
    rng: np.random.Generator,
    *,
    keep: bool,
) -> None:
    """One step of `_anneal` at round `r` (`tables` full tables), at temperature `heat`;
    with `keep`, no swap may take anyone beyond the target."""
    limits = rules.limits
    size = plan.seats.shape[2]
    seated = plan.seats[r, :tables]
    ids = seated.ravel()
    at = np.repeat(np.arange(tables), size)
    met = plan.met
    # Every swap of two people of the round at different tables that breaks no rule:
    # nobody meets someone again, or someone kept apart, at their new table, nor leaves
    # the only meeting with someone they must meet; colleagues (when avoided) no more.
    clash = _per_table(met, ids, at, tables, size) + _per_table(rules.apart, ids, at, tables, size)
    ok = (clash == 0) & (clash.T == 0) & (at[:, None] < at[None, :])
    bound = (rules.must & (met == 1)).astype(np.int64)[np.ix_(ids, ids)]
    held = bound.reshape(len(ids), tables, size).sum(axis=2)[np.arange(len(ids)), at] == 0
    ok &= held[:, None] & held[None, :]
    if rules.colleagues is not None:
        joining = _per_table(rules.colleagues, ids, at, tables, size)
        own = np.diag(joining + rules.colleagues[np.ix_(ids, ids)])
        ok &= joining + joining.T <= own[:, None] + own[None, :]
    first, second = np.nonzero(ok)
    if len(first) == 0:
        return
    t1, t2 = at[first], at[second]
    i1, i2 = first % size, second % size
    a, b = ids[first], ids[second]
    here, there = seated[t1[:, None], rules.others[i1]], seated[t2[:, None], rules.others[i2]]
    a_, b_ = a[:, None], b[:, None]
    stack = rules.stack
    a_here, a_there = stack[a_, here], stack[a_, there]  # (swaps, size - 1, 3)
    b_here, b_there = stack[b_, here], stack[b_, there]
    change_a = (a_there - a_here).sum(axis=1)  # (swaps, 3)
    change_b = (b_here - b_there).sum(axis=1)
    people = np.concatenate([a_, b_, here, there], axis=1)
    change = np.concatenate(
        [change_a[:, None], change_b[:, None], b_here - a_here, a_there - b_there], axis=1
    )  # (swaps, 2 x size, 3): nothing in common, points, plain answers
    room = change_a + change_b
    ok = plan.total + room[:, 1] >= limits.points_floor
    ok &= plan.plain_total + room[:, 2] >= limits.plain_floor - 1e-9
    ok &= plan.pairs_empty + np.rint(room[:, 0]) <= limits.most_empty
    shares = (plan.totals[people] + change[..., 1]) * rules.inverse[people]
    ok &= ((shares >= limits.least) | (rules.inverse[people] == 0)).all(axis=1)
    shares = (plan.plain_totals[people] + change[..., 2]) * rules.plain_inverse[people]
    ok &= ((shares >= limits.plain_least) | (rules.plain_inverse[people] == 0)).all(axis=1)
    now = plan.empty[people]
    moved = np.rint(change[..., 0]).astype(np.int64)
    more = (rules.beyond(now + moved, people) - rules.beyond(now, people)).sum(axis=1)
    if keep:
        ok &= more <= 0
    cost = more - rules.price * room[:, 1]
    luck = rng.random(len(cost))
    ok &= (cost <= 0) | (luck < np.exp(-np.maximum(cost, 0) / heat))
    # Those that lower the cost most first, the others in random order; each whose two
    # tables no swap took yet.
    accepted = rng.permutation(np.flatnonzero(ok))
    accepted = accepted[np.argsort(cost[accepted], kind="stable")]
    taken = np.zeros(tables, dtype=np.bool_)
    chosen: list[int] = []
    for k in accepted.tolist():
        if not taken[t1[k]] and not taken[t2[k]]:
            taken[t1[k]] = taken[t2[k]] = True
            chosen.append(k)
    if not chosen:
        return
    j = np.array(chosen, dtype=np.int64)
    # Their figures add up: keep the longest run of them within the room's limits.
    run = np.cumsum(room[j], axis=0)
    within = (
        (plan.total + run[:, 1] >= limits.points_floor)
        & (plan.plain_total + run[:, 2] >= limits.plain_floor - 1e-9)
        & (plan.pairs_empty + np.rint(run[:, 0]) <= limits.most_empty)
    )
    j = j[: int(np.cumprod(within).sum())]
    if len(j) == 0:
        return
    x, y = a[j], b[j]
    plan.seats[r, t1[j], i1[j]] = y
    plan.seats[r, t2[j], i2[j]] = x
    for p, q, sign in ((x, here[j], -1), (y, here[j], 1), (y, there[j], -1), (x, there[j], 1)):
        met[p[:, None], q] += sign
        met[q, p[:, None]] += sign
    who = people[j]
    plan.empty[who] += moved[j]
    plan.totals[who] += change[j, :, 1]
    plan.plain_totals[who] += change[j, :, 2]
    total = room[j].sum(axis=0)
    plan.total += float(total[1])
    plan.plain_total += float(total[2])
    plan.pairs_empty += round(float(total[0]))
    plan.beyond += int(more[j].sum())
