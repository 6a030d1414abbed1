"""Several rounds: no repeats, fairness, statistics."""

from __future__ import annotations

from matching.model import Rules, pair
from matching.plan import plan_rounds
from matching.solve import SolverOptions
from matching.synthetic import synthetic_room


def test_plan_has_the_rounds_asked_for_and_no_repeats() -> None:
    room = synthetic_room(40, seed=3)
    plan = plan_rounds(room, rounds=6, seed=1)
    assert [r.index for r in plan.rounds] == [1, 2, 3, 4, 5, 6]
    assert plan.repeats == 0
    pairs = [p for r in plan.rounds for p in r.pairs()]
    assert len(pairs) == len(set(pairs))


def test_met_before_pairs_never_meet_in_a_plan() -> None:
    room = synthetic_room(20, seed=1)
    ids = [a.id for a in room.attendees]
    met = frozenset(pair(ids[i], ids[i + 1]) for i in range(0, 20, 2))
    rules = Rules(met_before=met)
    plan = plan_rounds(synthetic_room(20, seed=1, rules=rules), rounds=5)
    assert not {p for r in plan.rounds for p in r.pairs()} & met


def test_repeats_once_the_room_is_exhausted_are_counted() -> None:
    room = synthetic_room(4, seed=1)
    plan = plan_rounds(room, rounds=5)
    # 4 people have 3 rounds of new pairs; rounds 4 and 5 must repeat.
    assert [s.repeats for s in plan.round_stats] == [0, 0, 0, 2, 2]
    assert plan.repeats == 4


def test_fairness_raises_the_weakest_total() -> None:
    room = synthetic_room(120, seed=7)
    fair = plan_rounds(room, rounds=6, seed=1)
    greedy = plan_rounds(room, rounds=6, seed=1, options=SolverOptions(fair=False))
    assert min(fair.totals.values()) >= min(greedy.totals.values())
    # ... for a small share of the total.
    assert sum(fair.totals.values()) >= 0.97 * sum(greedy.totals.values())


def test_round_stats_add_up() -> None:
    plan = plan_rounds(synthetic_room(30, seed=2), rounds=2)
    for stats, planned in zip(plan.round_stats, plan.rounds, strict=True):
        assert stats.groups == len(planned.groups)
        assert stats.total_score == round(sum(g.score for g in planned.groups), 3)
        assert stats.groups_without_common_ground == sum(1 for g in planned.groups if g.score <= 0)
