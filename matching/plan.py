"""Several rounds: no repeated pair while one is avoidable, fair to the least lucky."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matching.fairness import NOTHING, beyond_forced
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
    if redrawn:
        facts = _Facts.build(scorer, start, points)
        drafts = _look_ahead(dataclasses.replace(context, facts=facts), drafts, first=first)
    running = _copy(start)
    planned: list[Round] = []
    stats: list[RoundStats] = []
    for draft in drafts:
        if redrawn:
            # Drawn knowing other rounds: its figures are those after the rounds before it.
            draft = draft.after(scorer, running, best_of=best_of)
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


def _look_ahead(context: _Context, fair: list[Draft], *, first: int) -> list[Draft]:
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
    best = max(lifted, key=lambda plan: _score(context, plan).floor_key(bound))
    return [placed.draft for placed in best]


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
        met=dict(history.met), totals=dict(history.totals), odd_turns=dict(history.odd_turns)
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
