"""Several rounds: no repeated pair while one is avoidable, fair to the least lucky."""

from __future__ import annotations

import numpy as np

from matching.model import History, Plan, Room, Round, RoundStats
from matching.scoring import Scorer
from matching.solve import SolverOptions, solve_round


def plan_rounds(
    room: Room, *, rounds: int, seed: int = 0, options: SolverOptions = SolverOptions()
) -> Plan:
    """Plan `rounds` rounds for everyone in the room. Same room and seed, same plan."""
    scorer = Scorer(room)
    history = History.from_rules(room.rules)
    present = [a.id for a in room.attendees]
    idx = np.arange(len(present), dtype=np.int64)
    points = scorer.points(idx, idx)
    planned: list[Round] = []
    for index in range(1, rounds + 1):
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
