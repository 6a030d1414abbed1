"""Several rounds: no repeats, fairness, statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.fairness import NOTHING
from matching.model import History, Rules, pair
from matching.plan import complete_round, plan_rounds
from matching.scoring import Scorer
from matching.solve import SolverOptions, solve_round
from matching.synthetic import synthetic_room
from tests.matching.conftest import person, room


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


def test_an_annealing_brings_everyone_within_two_where_the_tabu_search_stalls() -> None:
    """32 people at tables of 4, 4 rounds: the tabu search over swaps between tables leaves
    someone with 3 meetings with nothing in common beyond those their answers force; the
    annealing over the same swaps (`plan._anneal`) brings everyone within 2, within issue
    12's bound against the greedy approach."""
    room = synthetic_room(32, seed=0, rules=Rules(group_size=4))
    scorer = Scorer(room)

    def figures(options: SolverOptions) -> tuple[int, float, int, float, int]:
        """Worst count beyond forced, points, pairs with nothing in common, least share,
        repeats."""
        plan = plan_rounds(room, rounds=4, seed=1, options=options)
        empty = 0
        for planned in plan.rounds:
            for group in planned.groups:
                ids = [scorer.index[m] for m in group.members]
                matrix = scorer.points(np.array(ids), np.array(ids))
                empty += int(np.triu(matrix <= NOTHING, 1).sum())
        last = plan.round_stats[-1]
        assert last.most_empty is not None
        assert last.least_share is not None
        points = sum(s.total_score for s in plan.round_stats)
        return last.most_empty, points, empty, last.least_share, plan.repeats

    tabu = figures(SolverOptions(table_anneal_chains=0))
    annealed = figures(SolverOptions())
    greedy = figures(SolverOptions(fair=False))
    assert tabu[0] == 3
    assert annealed[0] <= 2
    assert annealed[1] >= 0.97 * greedy[1]
    assert annealed[2] <= greedy[2]
    assert annealed[3] >= min(tabu[3], max(0.5, greedy[3])) - 1e-3
    assert annealed[4] == 0


def test_round_stats_add_up() -> None:
    plan = plan_rounds(synthetic_room(30, seed=2), rounds=2)
    for stats, planned in zip(plan.round_stats, plan.rounds, strict=True):
        assert stats.groups == len(planned.groups)
        assert stats.total_score == round(sum(g.score for g in planned.groups), 3)
        assert stats.groups_without_common_ground == sum(1 for g in planned.groups if g.score <= 0)


def test_a_plan_continues_the_rounds_already_held() -> None:
    room = synthetic_room(12, seed=4)
    scorer = Scorer(room)
    ids = [a.id for a in room.attendees]
    history = History.from_rules(room.rules)
    for index in (1, 2):
        held = solve_round(scorer, present=ids, history=history, index=index)
        history.record(held.round, gains=held.gains, odd_ones=held.odd_ones)
    met_before = dict(history.met)
    plan = plan_rounds(room, rounds=3, history=history, first=3)
    assert [r.index for r in plan.rounds] == [3, 4, 5]
    planned = [p for r in plan.rounds for p in r.pairs()]
    assert len(planned) == len(set(planned))
    assert not set(planned) & set(met_before)
    assert history.met == met_before  # the caller's history is left as it was


def test_a_plan_continues_rounds_held_with_people_who_have_left() -> None:
    room = synthetic_room(12, seed=4)
    ids = [a.id for a in room.attendees]
    history = History(met={pair(ids[0], "gone"): 1, pair(ids[1], ids[2]): 1})
    history.totals.update({"gone": 5.0, ids[0]: 5.0})
    plan = plan_rounds(room, rounds=3, history=history, first=2)
    assert [r.index for r in plan.rounds] == [2, 3, 4]
    assert pair(ids[1], ids[2]) not in {p for r in plan.rounds for p in r.pairs()}


def test_complete_round_keeps_the_given_groups_and_seats_the_rest_at_free_tables() -> None:
    people = [person(f"p{i}", hobbies=["jazz" if i % 2 else "chess"]) for i in range(8)]
    scorer = Scorer(room(*people))
    kept = [("3", ("p0", "p1")), ("1", ("p2", "p3"))]
    outcome = complete_round(
        scorer,
        kept=kept,
        present=[p.id for p in people],
        history=History(),
        index=2,
    )
    tables = {g.table: g.members for g in outcome.round.groups}
    assert tables["3"] == ("p0", "p1")
    assert tables["1"] == ("p2", "p3")
    assert sorted(tables) == ["1", "2", "3", "4"]
    assert [g.table for g in outcome.round.groups] == ["1", "2", "3", "4"]
    placed = sorted(m for g in outcome.round.groups for m in g.members)
    assert placed == sorted(p.id for p in people)
    assert outcome.round.index == 2
    assert set(outcome.gains) == set(placed)


def test_complete_round_seats_one_person_left_over_with_a_kept_pair_they_have_not_met() -> None:
    people = [person("a", hobbies=["jazz"]), person("b"), person("d")]
    fans = [person("x", hobbies=["jazz"]), person("y", hobbies=["jazz"])]
    scorer = Scorer(room(*people, *fans))
    outcome = complete_round(
        scorer,
        kept=[("2", ("b", "x")), ("3", ("d", "y"))],
        present=["b", "x", "d", "y", "a"],
        history=History(met={pair("a", "x"): 1}),
        index=1,
    )
    # Both tables have a jazz fan; "a" has met "x" already, so joins "y" as the odd one.
    assert {g.table: g.members for g in outcome.round.groups} == {
        "2": ("b", "x"),
        "3": ("d", "y", "a"),
    }
    assert set(outcome.odd_ones) == {"d", "y", "a"}
    assert outcome.round.sitting_out == ()


def test_complete_round_sits_the_one_left_over_out_under_the_sit_out_policy() -> None:
    people = [person("a"), person("b"), person("c")]
    scorer = Scorer(room(*people, rules=Rules(odd="sit_out")))
    outcome = complete_round(
        scorer, kept=[("1", ("a", "b"))], present=["a", "b", "c"], history=History(), index=1
    )
    assert [g.members for g in outcome.round.groups] == [("a", "b")]
    assert outcome.round.sitting_out == ("c",)


def test_complete_round_refuses_kept_groups_of_absent_people() -> None:
    scorer = Scorer(room(person("a"), person("b"), person("c")))
    with pytest.raises(ValueError, match="present"):
        complete_round(
            scorer, kept=[("1", ("a", "b"))], present=["a", "c"], history=History(), index=1
        )


def test_complete_round_lets_a_printed_trio_give_way_rather_than_seat_two() -> None:
    people = [person(f"p{i}") for i in range(10)]
    scorer = Scorer(room(*people))
    kept = [
        ("1", ("p0", "p1")),
        ("2", ("p2", "p3")),
        ("3", ("p4", "p5")),
        ("4", ("p6", "p7", "p8")),
    ]
    outcome = complete_round(
        scorer, kept=kept, present=[p.id for p in people], history=History(), index=1
    )
    sizes = sorted(len(g.members) for g in outcome.round.groups)
    assert sizes == [2, 2, 2, 2, 2]
    tables = {g.table: g.members for g in outcome.round.groups}
    assert tables["1"] == ("p0", "p1")
    assert tables["2"] == ("p2", "p3")
    assert tables["3"] == ("p4", "p5")


@settings(max_examples=60, deadline=None)
@given(
    people=st.integers(min_value=2, max_value=14),
    cut=st.lists(st.integers(min_value=2, max_value=3), max_size=5),
    absent=st.sets(st.integers(min_value=0, max_value=13), max_size=4),
    odd=st.sampled_from(["trio", "sit_out"]),
)
def test_complete_round_places_everyone_present_once_with_one_odd_group_at_most(
    people: int, cut: list[int], absent: set[int], odd: str
) -> None:
    ids = [f"p{i}" for i in range(people)]
    scorer = Scorer(room(*(person(i) for i in ids), rules=Rules(odd=odd)))  # type: ignore[arg-type]
    present = [p for i, p in enumerate(ids) if i not in absent]
    kept: list[tuple[str, tuple[str, ...]]] = []
    start = 0
    for size in cut:
        # At most one printed trio, as a printed plan has.
        if size == 3 and any(len(m) == 3 for _, m in kept):
            size = 2
        members = tuple(present[start : start + size])
        if len(members) < 2:
            break
        kept.append((str(len(kept) + 1), members))
        start += size
    outcome = complete_round(scorer, kept=kept, present=present, history=History(), index=1)
    placed = [m for g in outcome.round.groups for m in g.members] + list(outcome.round.sitting_out)
    assert sorted(placed) == sorted(present)
    assert sum(1 for g in outcome.round.groups if len(g.members) != 2) <= 1
    tables = [g.table for g in outcome.round.groups]
    assert len(tables) == len(set(tables))
    seated = {g.table: g.members for g in outcome.round.groups}
    for table, members in kept:
        if len(members) == 2:
            # A printed pair keeps its table, or takes in the one person left over.
            assert seated[table][:2] == members
