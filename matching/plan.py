"""Several rounds: no repeated pair while one is avoidable, fair to the least lucky."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matching.model import Group, History, Plan, Room, Round, RoundStats, Rules, pair
from matching.scoring import Scorer
from matching.solve import (
    SAME_ORGANISATION_PENALTY,
    RoundOutcome,
    SolverOptions,
    solve_round,
    table_name,
)


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

    To continue rounds already held, give what they left (`history`, which then stands for
    the room's met-before pairs too; it is not changed) and the index of the first round to
    plan (`first`). The totals then include those earlier rounds.
    """
    scorer = Scorer(room)
    if history is None:
        history = History.from_rules(room.rules)
    else:
        history = History(
            met=dict(history.met), totals=dict(history.totals), odd_turns=dict(history.odd_turns)
        )
    present = [a.id for a in room.attendees]
    idx = np.arange(len(present), dtype=np.int64)
    points = scorer.points(idx, idx)
    planned: list[Round] = []
    for index in range(first, first + rounds):
        outcome = solve_round(
            scorer,
            present=present,
            history=history,
            index=index,
            seed=seed,
            options=options,
            points=points,
        )
        history.record(outcome.round, gains=outcome.gains, odd_ones=outcome.odd_ones)
        planned.append(outcome.round)
    totals = {person: history.totals.get(person, 0.0) for person in present}
    stats = tuple(round_stats(r) for r in planned)
    return Plan(
        rounds=tuple(planned),
        round_stats=stats,
        totals=totals,
        repeats=sum(s.repeats for s in stats),
    )


def round_stats(round_: Round) -> RoundStats:
    """Quality figures of one round, as the organiser's preview shows them."""
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
    )


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
    return RoundOutcome(
        round=Round(index=index, groups=tuple(groups), sitting_out=tuple(sorted(sitting_out))),
        gains=gains,
        odd_ones=tuple(dict.fromkeys(odd_ones)),
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
