"""One round: exact against networkx, sparse path, rules, odd head-counts, tables, repair."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from matching.model import History, Rules, pair
from matching.scoring import Scorer
from matching.solve import (
    BoolMatrix,
    IntMatrix,
    SolverOptions,
    max_weight_pairs,
    repair,
    solve_round,
    table_sizes,
)
from matching.synthetic import synthetic_room
from tests.matching.conftest import person, room


def _random_graph(n: int, seed: int) -> tuple[IntMatrix, BoolMatrix]:
    rng = np.random.default_rng(seed)
    weights = rng.integers(-50, 1000, size=(n, n)) * rng.integers(0, 2, size=(n, n))
    weights = np.triu(weights, 1)
    weights = weights + weights.T
    allowed = np.triu(rng.random((n, n)) < 0.85, 1)
    allowed = allowed | allowed.T
    return weights.astype(np.int64), allowed


def _networkx_optimum(weights: IntMatrix, allowed: BoolMatrix) -> tuple[int, int]:
    graph: nx.Graph[int] = nx.Graph()
    n = len(weights)
    graph.add_nodes_from(range(n))
    for a, b in zip(*np.nonzero(np.triu(allowed, 1)), strict=True):
        graph.add_edge(int(a), int(b), weight=int(weights[a, b]))
    found = nx.max_weight_matching(graph, maxcardinality=True)
    return len(found), sum(int(weights[a, b]) for a, b in found)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 21, 34, 47, 60])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_path_equals_networkx(n: int, seed: int) -> None:
    weights, allowed = _random_graph(n, seed)
    pairs = max_weight_pairs(weights, allowed)
    size, total = _networkx_optimum(weights, allowed)
    assert len(pairs) == size
    assert sum(int(weights[a, b]) for a, b in pairs) == total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_path_returns_allowed_pairs_of_full_cardinality(seed: int) -> None:
    weights, allowed = _random_graph(60, seed)
    sparse = max_weight_pairs(weights, allowed, options=SolverOptions(exact_limit=0))
    size, total = _networkx_optimum(weights, allowed)
    assert all(allowed[a, b] for a, b in sparse)
    assert len({v for p in sparse for v in p}) == 2 * len(sparse)
    assert len(sparse) == size
    assert sum(int(weights[a, b]) for a, b in sparse) <= total


def test_sparse_path_is_near_exact_on_a_realistic_room() -> None:
    from matching.solve import _graph

    built = synthetic_room(120, seed=4)
    scorer = Scorer(built)
    graph = _graph(scorer, list(scorer.ids), History(), built.rules, fair=True)
    exact = max_weight_pairs(graph.weights, graph.allowed)
    sparse = max_weight_pairs(graph.weights, graph.allowed, options=SolverOptions(exact_limit=0))
    best = sum(int(graph.weights[p]) for p in exact)
    assert sum(int(graph.weights[p]) for p in sparse) >= best - abs(best) * 0.001


def _members(outcome_round: object) -> list[str]:
    from matching.model import Round

    assert isinstance(outcome_round, Round)
    return [m for g in outcome_round.groups for m in g.members] + list(outcome_round.sitting_out)


def _ids(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def test_even_room_is_all_pairs() -> None:
    built = room(*(person(p) for p in _ids(10)))
    outcome = solve_round(Scorer(built), present=_ids(10), history=History(), index=1)
    assert sorted(len(g.members) for g in outcome.round.groups) == [2] * 5
    assert sorted(_members(outcome.round)) == sorted(_ids(10))


def test_odd_headcount_gets_one_trio() -> None:
    built = room(*(person(p) for p in _ids(9)))
    outcome = solve_round(Scorer(built), present=_ids(9), history=History(), index=1)
    sizes = sorted(len(g.members) for g in outcome.round.groups)
    assert sizes == [2, 2, 2, 3]
    assert outcome.round.sitting_out == ()
    trio = next(g for g in outcome.round.groups if len(g.members) == 3)
    assert set(outcome.odd_ones) == set(trio.members)


def test_odd_headcount_with_sit_out_policy_leaves_one_out() -> None:
    built = room(*(person(p) for p in _ids(9)), rules=Rules(odd="sit_out"))
    outcome = solve_round(Scorer(built), present=_ids(9), history=History(), index=1)
    assert sorted(len(g.members) for g in outcome.round.groups) == [2] * 4
    assert len(outcome.round.sitting_out) == 1


def test_third_person_joins_where_they_add_most() -> None:
    people = [
        person("a", hobbies=["jazz"]),
        person("b", hobbies=["jazz"]),
        person("c", hobbies=["chess"]),
        person("d", hobbies=["chess"]),
        person("e", hobbies=["chess"]),
    ]
    outcome = solve_round(
        Scorer(room(*people)), present=["a", "b", "c", "d", "e"], history=History(), index=1
    )
    groups = {g.members for g in outcome.round.groups}
    assert groups == {("a", "b"), ("c", "d", "e")}


def test_pairs_with_most_common_ground_meet() -> None:
    people = [
        person("a", hobbies=["jazz", "sailing"]),
        person("b", hobbies=["chess"]),
        person("c", hobbies=["jazz", "sailing"]),
        person("d", hobbies=["chess"]),
    ]
    outcome = solve_round(
        Scorer(room(*people)), present=["a", "b", "c", "d"], history=History(), index=1
    )
    assert {g.members for g in outcome.round.groups} == {("a", "c"), ("b", "d")}
    jazz = outcome.round.group_of("a")
    assert jazz is not None
    assert [r.answer for r in jazz.reasons] == ["jazz", "sailing"]


def test_met_before_pairs_are_not_placed_again() -> None:
    people = [person(p, hobbies=["jazz"]) for p in "abcd"]
    history = History(met={pair("a", "b"): 1, pair("c", "d"): 1})
    outcome = solve_round(Scorer(room(*people)), present=list("abcd"), history=history, index=1)
    assert pair("a", "b") not in set(outcome.round.pairs())
    assert pair("c", "d") not in set(outcome.round.pairs())


def test_repeat_only_when_nothing_else_places_everyone_and_it_is_reported() -> None:
    people = [person(p) for p in "abcd"]
    met = {pair(a, b): 1 for a, b in itertools.combinations("abcd", 2) if {a, b} != {"a", "b"}}
    met[pair("a", "b")] = 3
    outcome = solve_round(
        Scorer(room(*people)), present=list("abcd"), history=History(met=met), index=1
    )
    # Every pair has met; the two least-met-pairs are preferred over a-b (met 3 times).
    assert pair("a", "b") not in set(outcome.round.pairs())
    assert sum(g.repeats for g in outcome.round.groups) == 2


def test_keep_apart_is_never_placed_together_even_at_a_cost() -> None:
    people = [person("a", hobbies=["jazz"]), person("b", hobbies=["jazz"]), person("c")]
    rules = Rules(keep_apart=frozenset({pair("a", "b")}), odd="sit_out")
    outcome = solve_round(
        Scorer(room(*people, rules=rules)), present=list("abc"), history=History(), index=1
    )
    assert pair("a", "b") not in set(outcome.round.pairs())


def test_same_organisation_is_avoided_when_possible() -> None:
    people = [
        person("a", org="Acme", hobbies=["jazz"]),
        person("b", org="ACME", hobbies=["jazz"]),
        person("c", org="Globex"),
        person("d", org="Initech"),
    ]
    outcome = solve_round(Scorer(room(*people)), present=list("abcd"), history=History(), index=1)
    assert pair("a", "b") not in set(outcome.round.pairs())


def test_same_organisation_allowed_when_the_rule_is_off() -> None:
    people = [
        person("a", org="Acme", hobbies=["jazz"]),
        person("b", org="Acme", hobbies=["jazz"]),
        person("c", org="Globex"),
        person("d", org="Initech"),
    ]
    rules = Rules(same_organisation="allow")
    outcome = solve_round(
        Scorer(room(*people, rules=rules)), present=list("abcd"), history=History(), index=1
    )
    assert pair("a", "b") in set(outcome.round.pairs())


def test_strict_same_organisation_rule_sits_people_out_rather_than_pair_them() -> None:
    people = [person("a", org="Acme"), person("b", org="Acme")]
    rules = Rules(same_organisation="forbid")
    outcome = solve_round(
        Scorer(room(*people, rules=rules)), present=["a", "b"], history=History(), index=1
    )
    assert outcome.round.groups == ()
    assert outcome.round.sitting_out == ("a", "b")


def test_must_meet_pair_meets_first() -> None:
    people = [
        person("a", hobbies=["jazz"]),
        person("b", hobbies=["jazz"]),
        person("c"),
        person("d"),
    ]
    rules = Rules(must_meet=frozenset({pair("a", "c")}))
    outcome = solve_round(
        Scorer(room(*people, rules=rules)), present=list("abcd"), history=History(), index=1
    )
    assert pair("a", "c") in set(outcome.round.pairs())


def test_weak_totals_get_priority_with_fairness() -> None:
    # b and c both fit a equally well; c has had a poor event so far and gets a.
    people = [
        person("a", hobbies=["jazz"]),
        person("b", hobbies=["jazz"]),
        person("c", hobbies=["jazz"]),
        person("d"),
    ]
    history = History(totals={"b": 40.0, "c": 0.0})
    outcome = solve_round(Scorer(room(*people)), present=list("abcd"), history=history, index=1)
    assert pair("a", "c") in set(outcome.round.pairs())


def test_same_seed_same_round_and_tables_named_by_the_organiser() -> None:
    built = synthetic_room(31, seed=2, rules=Rules(tables=("Bar 1", "Window 2")))
    scorer = Scorer(built)
    ids = list(scorer.ids)
    first = solve_round(scorer, present=ids, history=History(), index=1, seed=5)
    again = solve_round(scorer, present=ids, history=History(), index=1, seed=5)
    assert first == again
    assert [g.table for g in first.round.groups][:3] == ["Bar 1", "Window 2", "3"]


# ---------------------------------------------------------------- tables of 3 and 4


@pytest.mark.parametrize(
    ("n", "size", "odd", "expected"),
    [
        (12, 3, "trio", ([3, 3, 3, 3], 0)),
        (13, 3, "trio", ([3, 3, 3, 4], 0)),
        (13, 3, "sit_out", ([3, 3, 3, 3], 1)),
        (14, 3, "trio", ([3, 3, 3, 3, 2], 0)),
        (10, 4, "trio", ([4, 4, 2], 0)),
        (11, 4, "trio", ([4, 4, 3], 0)),
        (9, 4, "trio", ([4, 5], 0)),
        (3, 4, "trio", ([3], 0)),
        (1, 2, "trio", ([], 1)),
    ],
)
def test_table_sizes_leave_at_most_one_odd_table(
    n: int, size: int, odd: str, expected: tuple[list[int], int]
) -> None:
    assert table_sizes(n, size, odd) == expected


def _best_partition_value(points: np.ndarray, n: int, size: int) -> float:
    """The exact best total points of splitting n people into tables of `size` (brute force)."""

    def best(rest: tuple[int, ...]) -> float:
        if not rest:
            return 0.0
        head, tail = rest[0], rest[1:]
        top = -1.0
        for others in itertools.combinations(tail, size - 1):
            table = (head, *others)
            value = sum(points[a, b] for a, b in itertools.combinations(table, 2))
            remaining = tuple(x for x in tail if x not in others)
            top = max(top, value + best(remaining))
        return top

    return best(tuple(range(n)))


@pytest.mark.parametrize(("n", "size"), [(9, 3), (12, 3), (12, 4)])
def test_tables_come_close_to_the_best_split(n: int, size: int) -> None:
    ratios = []
    for seed in range(3):
        built = synthetic_room(
            n, seed=seed, rules=Rules(group_size=size, same_organisation="allow")
        )
        scorer = Scorer(built)
        points = scorer.points()
        np.fill_diagonal(points, 0)
        outcome = solve_round(
            scorer,
            present=list(scorer.ids),
            history=History(),
            index=1,
            options=SolverOptions(fair=False),
        )
        assert all(len(g.members) == size for g in outcome.round.groups)
        got = sum(g.score for g in outcome.round.groups)
        best = _best_partition_value(points, n, size)
        ratios.append(got / best if best else 1.0)
    # Measured: 100% on these rooms (docs/matching.md); a regression below 95% fails.
    assert min(ratios) >= 0.95


def test_tables_have_no_repeated_pair_inside_when_avoidable() -> None:
    built = synthetic_room(24, seed=1, rules=Rules(group_size=4))
    scorer = Scorer(built)
    history = History()
    for index in (1, 2, 3):
        outcome = solve_round(scorer, present=list(scorer.ids), history=history, index=index)
        assert all(g.repeats == 0 for g in outcome.round.groups)
        assert all(len(g.members) == 4 for g in outcome.round.groups)
        history.record(outcome.round, gains=outcome.gains, odd_ones=outcome.odd_ones)


# ---------------------------------------------------------------- repair


def _live_round(n: int, seed: int = 1) -> tuple[Scorer, object]:
    built = synthetic_room(n, seed=seed)
    scorer = Scorer(built)
    outcome = solve_round(scorer, present=list(scorer.ids), history=History(), index=1)
    return scorer, outcome.round


def test_repair_pairs_two_stranded_people_and_moves_nobody_else() -> None:
    from matching.model import Round

    scorer, live = _live_round(20)
    assert isinstance(live, Round)
    first, second = live.groups[0], live.groups[1]
    gone = {first.members[0], second.members[0]}
    fixed = repair(scorer, live, history=History(), absent=gone)
    stranded = {first.members[1], second.members[1]}
    new = fixed.group_of(first.members[1])
    assert new is not None
    assert set(new.members) == stranded
    assert all(g in fixed.groups for g in live.groups[2:])
    assert not gone & set(_members(fixed))


def test_repair_adds_a_single_stranded_person_to_a_pair() -> None:
    from matching.model import Round

    scorer, live = _live_round(20)
    assert isinstance(live, Round)
    absent = live.groups[0].members[0]
    stranded = live.groups[0].members[1]
    fixed = repair(scorer, live, history=History(), absent={absent})
    group = fixed.group_of(stranded)
    assert group is not None
    assert len(group.members) == 3
    assert sorted(_members(fixed)) == sorted(set(scorer.ids) - {absent})


def test_already_know_each_other_splits_the_pair_and_never_rejoins_it() -> None:
    from matching.model import Round

    scorer, live = _live_round(21)
    assert isinstance(live, Round)
    pair_group = next(g for g in live.groups if len(g.members) == 2)
    a, b = pair_group.members
    fixed = repair(scorer, live, history=History(), already_know=pair(a, b))
    group_a, group_b = fixed.group_of(a), fixed.group_of(b)
    assert group_a is not None
    assert group_b is not None
    assert group_a != group_b
    assert sorted(_members(fixed)) == sorted(scorer.ids)


def test_repair_with_nobody_stranded_changes_nothing() -> None:
    from matching.model import Round

    scorer, live = _live_round(21)
    assert isinstance(live, Round)
    trio = next(g for g in live.groups if len(g.members) == 3)
    fixed = repair(scorer, live, history=History(), absent={trio.members[0]})
    others = [g for g in live.groups if g is not trio]
    assert all(g in fixed.groups for g in others)
    shrunk = fixed.group_of(trio.members[1])
    assert shrunk is not None
    assert set(shrunk.members) == set(trio.members[1:])


@pytest.mark.parametrize("n", [10, 25, 41, 60])
def test_exact_path_equals_networkx_on_realistic_rooms(n: int) -> None:
    from matching.solve import _graph

    built = synthetic_room(n, seed=n)
    scorer = Scorer(built)
    history = History(totals={i: float(k % 7) for k, i in enumerate(scorer.ids)})
    graph = _graph(scorer, list(scorer.ids), history, built.rules, fair=True)
    pairs = max_weight_pairs(graph.weights, graph.allowed)
    size, total = _networkx_optimum(graph.weights, graph.allowed)
    assert len(pairs) == size
    assert sum(int(graph.weights[p]) for p in pairs) == total
