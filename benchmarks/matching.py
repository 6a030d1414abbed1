"""The matcher's benchmark: speed, exactness and quality, against the published approach.

    .venv/bin/python benchmarks/matching.py [--quick] [--repeat N] [--elife DIR]

A script that prints plain-text tables (never a test). Times are medians over `--repeat`
runs (default 3); the exact optima and the plans of the fairness section are computed once.
--quick skips the slowest measurements: the exact optimum of the 2000-person round,
networkx at 300 people and the 2000-person fairness room. The eLife 2014 data set is read
from --elife (not copied into the project). docs/benchmarks.md explains every figure and
holds the latest output.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

# This file is benchmarks/matching.py: run as a script, its own folder comes first on sys.path
# and would shadow the `matching` package. The project root goes before it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx
import numpy as np
import numpy.typing as npt

from benchmarks.report import heading, say, table
from matching.defaults import DEFAULT_QUESTIONS
from matching.fairness import NOTHING, best_possible, beyond_forced
from matching.model import Attendee, History, Plan, Question, Room, Round, Rules, pair
from matching.plan import plan_rounds
from matching.scoring import FloatMatrix, Scorer, normalise
from matching.solve import SolverOptions, _graph, max_weight_pairs, repair, solve_round
from matching.synthetic import synthetic_room

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ELIFE = ROOT.parent / "shared" / "data" / "elife-2014"

SIZES = (100, 300, 1000, 2000)  # synthetic rooms: speed, exactness, nothing in common
NETWORKX_SIZES = (100, 200, 300)  # networkx speed and the per-round greedy plan
ROOM_SEED = 0  # synthetic_room(n, seed=ROOM_SEED)
PLAN_SEED = 1  # plan_rounds(..., seed=PLAN_SEED)
RANDOM_SEED = 7  # random pairing
PLAN_ROUNDS = 8
ELIFE_ROUNDS = 5
ELIFE_PAPER = 395  # complementary matches over the paper's first 5 rounds
REPAIR_SIZE = 2000
SPREAD_SIZE = 2000  # one round is also timed in other rooms of this size: the target is close
SPREAD_SEEDS = (0, 1, 2, 3, 4)
REPAIR_ABSENTEES = 9
# --quick skips these reference measurements (the slowest ones).
QUICK_EXACT_MAX = 1000  # the exact optimum above this many people (~70 s at 2000)
QUICK_NETWORKX_MAX = 200  # networkx above this many people (~9 s a round at 300)

T = TypeVar("T")
Groups = Sequence[Sequence[int]]  # one round: each group's members, as room indices


# --------------------------------------------------------------------------- helpers


def run_once(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds taken by `fn()`, and its result.

    Each run starts with an empty answer-normalisation cache (so a repeat is not helped by the
    run before it) and after a garbage collection.
    """
    normalise.cache_clear()
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timings(fn: Callable[[], T], repeat: int) -> tuple[list[float], T]:
    """The seconds of `repeat` timed runs of `fn()`, and the last run's result."""
    elapsed, result = run_once(fn)
    times = [elapsed]
    for _ in range(repeat - 1):
        elapsed, result = run_once(fn)
        times.append(elapsed)
    return times, result


def median_time(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The median of `repeat` timed runs of `fn()`, and the last run's result."""
    times, result = timings(fn, repeat)
    return statistics.median(times), result


def spread(times: Sequence[float]) -> str:
    return f"{min(times):.3f}-{max(times):.3f}"


def seconds(value: float) -> str:
    return f"{value:.3f}"


def millis(value: float) -> str:
    return f"{value * 1000:.1f}"


def percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def objective(weights: npt.NDArray[np.int64], pairs: Sequence[tuple[int, int]]) -> int:
    return sum(int(weights[a, b]) for a, b in pairs)


def room_points(scorer: Scorer) -> FloatMatrix:
    """Common-ground points of every pair of the room (room order), 0 on the diagonal."""
    points = scorer.points()
    np.fill_diagonal(points, 0.0)
    return points


def ids_of(room: Room) -> list[str]:
    return [a.id for a in room.attendees]


# --------------------------------------------------------------------------- plan figures


@dataclass(frozen=True)
class Figures:
    """What a plan (any list of rounds of groups) is worth, from the room's points matrix."""

    name: str
    per_round: list[float]  # total common ground of each round (sum of group scores)
    totals: FloatMatrix  # each attendee's common ground over the plan
    pairs: int  # pairs that met (every pair inside a group)
    empty: int  # of which with nothing in common (0 points)
    colleagues: int  # of which from the same organisation
    repeats: int  # of which had met before (earlier round or "met before")
    # People with nothing in common with anyone (e.g. empty profiles): their pairs are 0.
    isolated: npt.NDArray[np.bool_]
    unavoidable: int  # pairs with nothing in common that include an isolated person
    seconds: float | None = None

    @property
    def total(self) -> float:
        return float(sum(self.per_round))

    @property
    def weakest(self) -> float:
        return float(self.totals.min())

    @property
    def weakest_matchable(self) -> float:
        """The weakest attendee's total among those with common ground with someone."""
        matchable = self.totals[~self.isolated]
        return float(matchable.min()) if len(matchable) else 0.0

    @property
    def mean(self) -> float:
        return float(self.totals.mean())


def figures(
    name: str,
    rounds: Sequence[Groups],
    points: FloatMatrix,
    same_org: npt.NDArray[np.bool_],
    met_before: set[tuple[int, int]],
    elapsed: float | None = None,
) -> Figures:
    totals = np.zeros(len(points), dtype=np.float64)
    isolated = points.max(axis=1) <= 1e-9
    seen = set(met_before)
    per_round: list[float] = []
    pairs = empty = unavoidable = colleagues = repeats = 0
    for groups in rounds:
        round_total = 0.0
        for members in groups:
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    value = float(points[a, b])
                    round_total += value
                    totals[a] += value
                    totals[b] += value
                    pairs += 1
                    empty += value <= 1e-9
                    unavoidable += bool(isolated[a] or isolated[b])
                    colleagues += bool(same_org[a, b])
                    key = (min(a, b), max(a, b))
                    repeats += key in seen
                    seen.add(key)
        per_round.append(round_total)
    return Figures(
        name,
        per_round,
        totals,
        pairs,
        empty,
        colleagues,
        repeats,
        isolated,
        unavoidable,
        elapsed,
    )


def plan_groups(plan: Plan, scorer: Scorer) -> list[list[list[int]]]:
    return [[[scorer.index[m] for m in g.members] for g in r.groups] for r in plan.rounds]


def check_plan(plan: Plan, scorer: Scorer, found: Figures) -> list[str]:
    """Cross-checks of the plan's own statistics against the figures computed here."""
    problems: list[str] = []
    for stats, value in zip(plan.round_stats, found.per_round, strict=True):
        # Group scores are rounded to 3 decimals.
        if abs(stats.total_score - value) > 0.001 * stats.groups + 1e-6:
            problems.append(f"round {stats.index}: total_score {stats.total_score} vs {value:.3f}")
    for person, total in plan.totals.items():
        mine = float(found.totals[scorer.index[person]])
        if abs(total - mine) > 1e-6:
            problems.append(f"attendee {person}: plan total {total:.3f} vs {mine:.3f}")
            break
    if plan.repeats != found.repeats:
        problems.append(f"plan.repeats {plan.repeats} vs {found.repeats} counted here")
    placed = [sum(len(g.members) for g in r.groups) + len(r.sitting_out) for r in plan.rounds]
    if any(count != len(scorer) for count in placed):
        problems.append(f"people placed per round {placed}, expected {len(scorer)}")
    return problems


def random_pairing(n: int, rounds: int, seed: int) -> list[list[tuple[int, int]]]:
    """A random perfect pairing each round (seeded), nothing excluded; odd: one left out."""
    rng = random.Random(seed)
    planned: list[list[tuple[int, int]]] = []
    for _ in range(rounds):
        order = list(range(n))
        rng.shuffle(order)
        planned.append([(order[i], order[i + 1]) for i in range(0, n - 1, 2)])
    return planned


# --------------------------------------------------------------------------- results


@dataclass
class Results:
    scorer_time: dict[int, float] = field(default_factory=dict)
    round_time: dict[int, float] = field(default_factory=dict)
    round_time_by_seed: dict[int, float] = field(default_factory=dict)  # SPREAD_SIZE people
    plan_time: dict[int, float] = field(default_factory=dict)
    plans: dict[int, tuple[Room, Plan]] = field(default_factory=dict)
    gap: dict[int, float] = field(default_factory=dict)  # % below the exact optimum
    networkx_ratio: dict[int, float] = field(default_factory=dict)
    networkx_equal: dict[int, bool] = field(default_factory=dict)
    repair_time: float | None = None
    repair_scorer_time: float | None = None
    fair: list[FairRoom] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- sections


def speed(results: Results, repeat: int) -> None:
    heading(f"1. Synthetic rooms: speed (median of {repeat})")
    say(
        f"synthetic_room(N, seed={ROOM_SEED}); one round = Scorer(room) + solve_round(...,"
        " History(), index=1);"
    )
    say(
        f"plan = plan_rounds(room, rounds={PLAN_ROUNDS}, seed={PLAN_SEED}) (builds its own Scorer)."
    )
    rows: list[list[str]] = []
    for n in SIZES:
        room = synthetic_room(n, seed=ROOM_SEED)
        ids = ids_of(room)
        build, _ = median_time(partial(Scorer, room), repeat)

        round_times, _ = timings(partial(one_round, room, ids), repeat)
        plan_times, plan = timings(
            partial(plan_rounds, room, rounds=PLAN_ROUNDS, seed=PLAN_SEED), repeat
        )
        results.scorer_time[n] = build
        results.round_time[n] = statistics.median(round_times)
        results.plan_time[n] = statistics.median(plan_times)
        results.plans[n] = (room, plan)
        path = "exact" if n <= SolverOptions().exact_limit else "sparse"
        rows.append(
            [
                str(n),
                path,
                millis(build),
                seconds(results.round_time[n]),
                spread(round_times),
                seconds(results.plan_time[n]),
                spread(plan_times),
            ]
        )
    say()
    say(
        table(
            [
                "N",
                "solver",
                "Scorer build (ms)",
                "one round incl. build (s)",
                "min-max",
                "8-round plan (s)",
                "min-max",
            ],
            rows,
        )
    )
    say()
    say(f"One round of {SPREAD_SIZE} people in other synthetic rooms (same measurement):")
    spread_rows: list[list[str]] = []
    for seed in SPREAD_SEEDS:
        if seed == ROOM_SEED:
            middle = results.round_time[SPREAD_SIZE]
            times = [middle]
            note = "(above)"
        else:
            room = synthetic_room(SPREAD_SIZE, seed=seed)
            times, _ = timings(partial(one_round, room, ids_of(room)), repeat)
            middle = statistics.median(times)
            note = spread(times)
        results.round_time_by_seed[seed] = middle
        spread_rows.append([str(seed), seconds(middle), note])
    say(table(["room seed", "one round incl. build (s)", "min-max"], spread_rows))


def one_round(room: Room, ids: list[str]) -> object:
    """One round of everyone, from scratch: the Scorer, then the matching."""
    return solve_round(Scorer(room), present=ids, history=History(), index=1)


def exactness(results: Results, quick: bool) -> None:
    heading("2. Solver exactness: default options vs the exact optimum (round 1, fair weights)")
    say("Objective = sum of the integer weights of the chosen pairs (1000 units per point).")
    say("Default = SolverOptions() (exact up to 400 people, sparse graph above);")
    say("exact = SolverOptions(exact_limit=10**9) (blossom on the complete graph, timed once).")
    rows: list[list[str]] = []
    for n in SIZES:
        room = synthetic_room(n, seed=ROOM_SEED)
        scorer = Scorer(room)
        graph = _graph(scorer, ids_of(room), History(), room.rules, fair=True)
        default_time, default_pairs = run_once(
            partial(max_weight_pairs, graph.weights, graph.allowed, options=SolverOptions())
        )
        default_value = objective(graph.weights, default_pairs)
        if quick and n > QUICK_EXACT_MAX:
            rows.append(
                [str(n), str(default_value), "skipped (--quick)", "-", seconds(default_time), "-"]
            )
            continue
        exact_time, exact_pairs = run_once(
            partial(
                max_weight_pairs,
                graph.weights,
                graph.allowed,
                options=SolverOptions(exact_limit=10**9),
            )
        )
        exact_value = objective(graph.weights, exact_pairs)
        gap = 100.0 * (exact_value - default_value) / abs(exact_value) if exact_value else 0.0
        results.gap[n] = gap
        if len(default_pairs) != len(exact_pairs):
            results.warnings.append(
                f"exactness N={n}: {len(default_pairs)} pairs by default vs {len(exact_pairs)}"
            )
        if default_value > exact_value:
            results.warnings.append(f"exactness N={n}: default beats the 'exact' optimum")
        rows.append(
            [
                str(n),
                str(default_value),
                str(exact_value),
                f"{gap:.4f}%",
                seconds(default_time),
                seconds(exact_time),
            ]
        )
    say()
    say(
        table(
            ["N", "default objective", "exact optimum", "gap", "default (s)", "exact (s)"],
            rows,
        )
    )


def networkx_speed(results: Results, repeat: int, quick: bool) -> None:
    heading(f"3. One round against networkx (round 1, raw points, median of {repeat})")
    say("Same integer weights (fair=False: raw common ground, colleague penalty included) on the")
    say("complete graph of allowed pairs: networkx.max_weight_matching(G, maxcardinality=True)")
    say("vs our exact path max_weight_pairs (rustworkx blossom). Graph building not timed.")
    say("'full round' = Scorer build + solve_round (fair weights, reasons), for comparison.")
    rows: list[list[str]] = []
    for n in NETWORKX_SIZES:
        room = synthetic_room(n, seed=ROOM_SEED)
        ids = ids_of(room)
        scorer = Scorer(room)
        graph = _graph(scorer, ids, History(), room.rules, fair=False)
        ours_time, ours = median_time(
            partial(max_weight_pairs, graph.weights, graph.allowed, options=SolverOptions()),
            repeat,
        )
        full_time, _ = median_time(partial(one_round, room, ids), repeat)
        if quick and n > QUICK_NETWORKX_MAX:
            rows.append(
                [str(n), "skipped (--quick)", millis(ours_time), millis(full_time)] + ["-"] * 3
            )
            continue
        rows_, cols_ = np.nonzero(np.triu(graph.allowed, 1))
        network: nx.Graph[int] = nx.Graph()
        network.add_nodes_from(range(n))
        network.add_weighted_edges_from(
            zip(rows_.tolist(), cols_.tolist(), graph.weights[rows_, cols_].tolist(), strict=True)
        )
        theirs_time, theirs = median_time(
            partial(nx.max_weight_matching, network, maxcardinality=True, weight="weight"),
            repeat,
        )
        theirs_pairs = [(int(a), int(b)) for a, b in theirs]
        equal = objective(graph.weights, ours) == objective(graph.weights, theirs_pairs) and len(
            ours
        ) == len(theirs_pairs)
        ratio = theirs_time / ours_time
        results.networkx_ratio[n] = ratio
        results.networkx_equal[n] = equal
        rows.append(
            [
                str(n),
                seconds(theirs_time),
                millis(ours_time),
                millis(full_time),
                f"{ratio:.0f}x",
                f"{theirs_time / full_time:.0f}x",
                "yes" if equal else "NO",
            ]
        )
    say()
    say(
        table(
            [
                "N",
                "networkx (s)",
                "ours (ms)",
                "full round (ms)",
                "speed-up",
                "vs full round",
                "same objective",
            ],
            rows,
        )
    )


def nothing_in_common(results: Results) -> None:
    heading(f"5. Pairs with nothing in common over {PLAN_ROUNDS} rounds: ours vs random pairing")
    say(f"Random = a random perfect pairing each round (random.Random({RANDOM_SEED})), nothing")
    say("excluded. A pair with nothing in common has 0 points (scorer.points()). isolated =")
    say("people with 0 points with everyone (empty profiles); unavoidable = 0-point pairs of ours")
    say("that include one of them; weakest* = weakest attendee's total among the others.")
    rows: list[list[str]] = []
    for n in SIZES:
        room, plan = results.plans[n]
        scorer = Scorer(room)
        points = room_points(scorer)
        everyone = np.arange(n, dtype=np.int64)
        same_org = scorer.same_organisation(everyone, everyone)
        ours = figures("ours", plan_groups(plan, scorer), points, same_org, set())
        results.warnings.extend(f"plan N={n}: {p}" for p in check_plan(plan, scorer, ours))
        chance = figures(
            "random", random_pairing(n, PLAN_ROUNDS, RANDOM_SEED), points, same_org, set()
        )
        rows.append(
            [
                str(n),
                str(int(ours.isolated.sum())),
                f"{ours.empty}/{ours.pairs} ({percent(ours.empty, ours.pairs)})",
                f"{chance.empty}/{chance.pairs} ({percent(chance.empty, chance.pairs)})",
                f"{ours.unavoidable} ({percent(ours.unavoidable, ours.pairs)})",
                f"{ours.weakest_matchable:.2f}",
                f"{chance.weakest_matchable:.2f}",
                f"{ours.total:.0f}",
                f"{chance.total:.0f}",
                f"{ours.repeats}/{chance.repeats}",
            ]
        )
    say()
    say(
        table(
            [
                "N",
                "isolated",
                "ours: nothing",
                "random: nothing",
                "unavoidable",
                "weakest* ours",
                "weakest* random",
                "total ours",
                "total random",
                "repeats ours/random",
            ],
            rows,
        )
    )


def repair_speed(results: Results, repeat: int) -> None:
    heading(f"6. Repair of a live round at {REPAIR_SIZE} people (median)")
    room = synthetic_room(REPAIR_SIZE, seed=ROOM_SEED)
    ids = ids_of(room)
    build, scorer = median_time(partial(Scorer, room), repeat)
    live = solve_round(scorer, present=ids, history=History(), index=1).round
    pairs = [g for g in live.groups if len(g.members) == 2]
    chosen = [pairs[k * len(pairs) // REPAIR_ABSENTEES] for k in range(REPAIR_ABSENTEES)]
    absentees = [g.members[k % 2] for k, g in enumerate(chosen)]
    samples: list[float] = []
    for absent in absentees:
        for _ in range(repeat):
            elapsed, repaired = run_once(
                partial(repair, scorer, live, history=History(), absent={absent})
            )
            samples.append(elapsed)
        placed = [m for g in repaired.groups for m in g.members] + list(repaired.sitting_out)
        if sorted(placed) != sorted(set(ids) - {absent}):
            results.warnings.append(f"repair without {absent}: not everyone else placed once")
        moved = {g.members for g in live.groups} - {g.members for g in repaired.groups}
        if len(moved) > 2:
            results.warnings.append(f"repair without {absent}: {len(moved)} groups changed")
    middle = statistics.median(samples)
    results.repair_time = middle
    results.repair_scorer_time = build
    say(
        f"One member of {REPAIR_ABSENTEES} different pairs absent in turn, each repaired"
        f" {repeat} time(s) with a prebuilt Scorer:"
    )
    say("repair(scorer, round, history=History(), absent={id}); round = solve_round(...).round.")
    say()
    say(
        table(
            ["figure", "ms"],
            [
                ["repair, median", millis(middle)],
                ["repair, fastest", millis(min(samples))],
                ["repair, slowest", millis(max(samples))],
                ["Scorer build (not included above), median", millis(build)],
                ["repair + Scorer build, medians", millis(middle + build)],
            ],
        )
    )


def read_flags(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """A methods-by-participants CSV of True/False: the participants, and each one's methods."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    participants = [p.strip() for p in rows[0][1:]]
    chosen: dict[str, list[str]] = {p: [] for p in participants}
    for row in rows[1:]:
        if not row:
            continue
        method, flags = row[0].strip(), row[1:]
        if len(flags) != len(participants):
            raise ValueError(f"{path.name}: row {method!r} has {len(flags)} values")
        for person, flag in zip(participants, flags, strict=True):
            if flag.strip() not in ("True", "False"):
                raise ValueError(f"{path.name}: row {method!r}: {flag!r} is not True/False")
            if flag.strip() == "True":
                chosen[person].append(method)
    return participants, chosen


def elife_room(folder: Path) -> Room:
    participants, known = read_flags(folder / "known_methods.csv")
    wanted_participants, wanted = read_flags(folder / "wanted_methods.csv")
    if participants != wanted_participants:
        raise ValueError("known_methods.csv and wanted_methods.csv list different participants")
    met: set[frozenset[str]] = set()
    for line in (folder / "network.txt").read_text().splitlines():
        if line.strip():
            a, b = line.split()
            met.add(pair(a, b))
    questions = (
        Question("offers", "I can help with", "offers", pairs_with="seeks"),
        Question("seeks", "I'm looking for", "seeks"),
    )
    attendees = tuple(
        Attendee(
            id=p,
            answers={k: tuple(v) for k, v in (("offers", known[p]), ("seeks", wanted[p])) if v},
        )
        for p in participants
    )
    return Room(questions, attendees, Rules(met_before=frozenset(met)))


# --------------------------------------------------------------------------- fairness

# Rooms the matcher was never tuned on (see `mixer_room`): answers from other vocabularies,
# fields whose people share topics, many short profiles (one answer), a few large
# organisations, some empty profiles.
FIELDS = {
    "biology": ("genomics", "proteomics", "microscopy", "ecology", "neuroscience", "imaging"),
    "software": ("rust", "web apps", "databases", "security", "devops", "compilers"),
    "policy": ("housing", "transport", "health policy", "schools", "tax", "migration"),
    "design": ("typography", "ux research", "illustration", "branding", "product", "motion"),
    "finance": ("venture capital", "accounting", "insurance", "crypto", "payments", "risk"),
}
PASTIMES = (
    "running", "cooking", "chess", "choir", "climbing", "reading", "gardening", "films",
    "salsa", "opera", "surfing", "lego", "judo", "bridge", "karaoke", "darts", "quilting",
    "hiking", "squash", "mahjong", "comics", "podcasts", "cycling", "poker", "sailing",
    "pottery", "birding", "knitting", "rowing", "tango", "go", "archery", "fencing",
    "origami", "beekeeping", "kayaking", "drumming", "calligraphy",
)  # fmt: skip
HELP = (
    "hiring", "mentoring", "fundraising", "legal advice", "statistics", "python",
    "public speaking", "grant writing", "design review", "sales",
)  # fmt: skip


def mixer_room(
    n: int,
    *,
    seed: int,
    empty: float,
    organisations: int = 3,
    rules: bool = False,
    group_size: int = 2,
) -> Room:
    """A made-up room unlike `synthetic_room`: `empty` of the people leave their profile
    empty, 30% give one answer only, `organisations` large organisations hold 12% of the
    room each; with `rules`, n/2 random pairs met before, n/15 are kept apart and n/20 must
    meet."""
    rng = random.Random(seed)
    popular = [1.0 / (rank + 1) for rank in range(len(PASTIMES))]
    people: list[Attendee] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.12 * organisations:
            organisation = f"Organisation {int(roll / 0.12)}"
        elif roll < 0.8:
            organisation = f"Small {rng.randint(1, n)}"
        else:
            organisation = ""
        answers: dict[str, tuple[str, ...]] = {}
        if rng.random() >= empty:
            short = rng.random() < 0.3
            count = 1 if short else min(1 + int(rng.expovariate(0.7)), 5)
            pastimes: set[str] = set()
            if rng.random() < 0.8:
                for _ in range(count):
                    chosen = rng.choices(PASTIMES, popular)[0]
                    pastimes.add(chosen if rng.random() < 0.7 else rng.choice(PASTIMES))
            topics = FIELDS[rng.choice(list(FIELDS))]
            asked = (not short or not pastimes) and rng.random() < 0.7
            answers = {
                "hobbies": tuple(sorted(pastimes)),
                "topics": tuple(rng.sample(topics, min(1 + int(rng.expovariate(1.2)), 4)))
                if asked
                else (),
                "offers": () if short else tuple(rng.sample(HELP, rng.randint(0, 2))),
                "seeks": () if short else tuple(rng.sample(HELP, rng.randint(0, 1))),
            }
            answers = {k: v for k, v in answers.items() if v}
        people.append(
            Attendee(id=f"m{i}", name=f"M{i}", organisation=organisation, answers=answers)
        )
    ids = [p.id for p in people]
    met: set[frozenset[str]] = set()
    apart: set[frozenset[str]] = set()
    must: set[frozenset[str]] = set()
    if rules:
        for _ in range(n // 2):
            met.add(pair(*rng.sample(ids, 2)))
        for _ in range(max(2, n // 15)):
            apart.add(pair(*rng.sample(ids, 2)))
        for _ in range(max(1, n // 20)):
            must.add(pair(*rng.sample(ids, 2)))
    return Room(
        questions=DEFAULT_QUESTIONS,
        attendees=tuple(people),
        rules=Rules(
            group_size=group_size,
            met_before=frozenset(met),
            keep_apart=frozenset(apart),
            must_meet=frozenset(must - met - apart),
        ),
    )


@dataclass(frozen=True)
class Kind:
    """A room of the fairness benchmark."""

    name: str
    room: Callable[[], Room]
    rounds: int
    quick: bool = True  # also in --quick runs


def kinds(folder: Path) -> list[Kind]:
    found = [
        Kind("45 people, odd, rules", partial(mixer_room, 45, seed=12, empty=0.05, rules=True), 6),
        Kind("60 people, rules", partial(mixer_room, 60, seed=11, empty=0.05, rules=True), 6),
        Kind(
            "150 people, 10% empty, 3 large organisations",
            partial(mixer_room, 150, seed=13, empty=0.10),
            7,
        ),
        Kind("300 people", partial(mixer_room, 300, seed=15, empty=0.08), 8),
        Kind("2000 people", partial(mixer_room, 2000, seed=19, empty=0.08), 8, quick=False),
        Kind(
            "45 people, tables of 3",
            partial(mixer_room, 45, seed=16, empty=0.08, group_size=3),
            6,
        ),
        Kind(
            "62 people, tables of 4",
            partial(mixer_room, 62, seed=17, empty=0.08, group_size=4),
            6,
        ),
    ]
    if (folder / "known_methods.csv").is_file():
        found.append(Kind("eLife 2014", partial(elife_room, folder), ELIFE_ROUNDS))
    return found


@dataclass(frozen=True)
class Fair:
    """A plan's fairness figures, in points and in plain shared answers (and needs met)."""

    name: str
    points: float
    plain: float
    least: tuple[float, float]  # least-lucky share of their best possible: points, plain
    p10: tuple[float, float]  # 10th percentile of the shares
    beyond: int  # most meetings with nothing in common beyond those the answers force
    empty: int  # pairs with nothing in common
    colleagues: int
    repeats: int
    seconds: float


def fairness_figures(
    name: str, room: Room, rounds: Sequence[Groups], horizon: int, elapsed: float
) -> Fair:
    """The figures of a plan of `horizon` rounds (each a list of groups of room indices)."""
    scorer = Scorer(room)
    rules = room.rules
    points = room_points(scorer)
    plain = scorer.answers_in_common()
    np.fill_diagonal(plain, 0.0)
    n = len(points)
    index = scorer.index
    everyone = np.arange(n, dtype=np.int64)
    colleagues = scorer.same_organisation(everyone, everyone)
    np.fill_diagonal(colleagues, False)
    known = np.zeros((n, n), dtype=np.bool_)
    for p in rules.met_before:
        a, b = (index[x] for x in p)
        known[a, b] = known[b, a] = True
    partners = ~known & ~np.eye(n, dtype=np.bool_)
    for p in rules.keep_apart:
        a, b = (index[x] for x in p)
        partners[a, b] = partners[b, a] = False
    if rules.same_organisation != "allow":
        partners &= ~colleagues
    best_of = horizon * (rules.group_size - 1)
    totals = np.zeros((2, n))
    meetings = np.zeros(n, dtype=np.int64)
    empties = np.zeros(n, dtype=np.int64)
    seen = known.copy()
    empty = colleague = repeats = 0
    for groups in rounds:
        for members in groups:
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    for side, matrix in enumerate((points, plain)):
                        totals[side, [a, b]] += matrix[a, b]
                    meetings[[a, b]] += 1
                    nothing = points[a, b] <= NOTHING
                    empties[[a, b]] += int(nothing)
                    empty += int(nothing)
                    colleague += int(colleagues[a, b])
                    repeats += int(seen[a, b])
                    seen[a, b] = seen[b, a] = True
    least: list[float] = []
    p10: list[float] = []
    for side, matrix in enumerate((points, plain)):
        best = best_possible(matrix, partners, best_of)
        shares = totals[side, best > 0] / best[best > 0]
        least.append(float(shares.min(initial=1.0)))
        p10.append(float(np.percentile(shares, 10)) if len(shares) else 1.0)
    findable = (partners & (points > NOTHING)).sum(axis=1)
    return Fair(
        name=name,
        points=float(totals[0].sum() / 2),
        plain=float(totals[1].sum() / 2),
        least=(least[0], least[1]),
        p10=(p10[0], p10[1]),
        beyond=int(beyond_forced(empties, meetings, findable).max(initial=0)),
        empty=empty,
        colleagues=colleague,
        repeats=repeats,
        seconds=elapsed,
    )


def live_rounds(room: Room, rounds: int) -> list[Round]:
    """Rounds drawn one at a time with what happened so far, as the live service draws them
    (`solve_round` with the history, not knowing how many rounds there will be)."""
    scorer = Scorer(room)
    ids = ids_of(room)
    history = History.from_rules(room.rules)
    drawn: list[Round] = []
    for index in range(1, rounds + 1):
        outcome = solve_round(scorer, present=ids, history=history, index=index, seed=PLAN_SEED)
        history.record(outcome.round, gains=outcome.gains, odd_ones=outcome.odd_ones)
        drawn.append(outcome.round)
    return drawn


def round_groups(rounds: Sequence[Round], scorer: Scorer) -> list[list[list[int]]]:
    return [[[scorer.index[m] for m in g.members] for g in r.groups] for r in rounds]


@dataclass(frozen=True)
class FairRoom:
    kind: Kind
    people: int
    ours: Fair
    live: Fair
    greedy: Fair


def fairness(results: Results, folder: Path, quick: bool) -> None:
    heading("4. Fairness: ours vs the greedy approach, in points and in plain shared answers")
    say("ours = plan_rounds (rounds drawn knowing how many there are, then redrawn knowing all")
    say("the others); live = solve_round one round at a time with the history so far, as the")
    say("service draws rounds without a printed plan; greedy = each round on its own for the")
    say("most common ground (SolverOptions(fair=False): the maximum-weight matching networkx")
    say("finds, section 3), met pairs never again, the same rules (colleagues kept apart the same")
    say("way, keep-apart, must-meet, odd one in a trio). Points: rarity-weighted; plain: shared")
    say("answers + needs met, each 1. least = the least-lucky attendee's share of their best")
    say("possible (their best partners' common ground, one per round, among those the rules let")
    say("them meet), points/plain; p10 = 10th percentile; beyond = most meetings with nothing in")
    say("common beyond those someone's own answers force; nothing = pairs with nothing in common.")
    for kind in kinds(folder):
        if quick and not kind.quick:
            say()
            say(f"{kind.name}: skipped (--quick)")
            continue
        room = kind.room()
        scorer = Scorer(room)
        elapsed, plan = run_once(partial(plan_rounds, room, rounds=kind.rounds, seed=PLAN_SEED))
        ours = fairness_figures("ours", room, plan_groups(plan, scorer), kind.rounds, elapsed)
        everyone = np.arange(len(scorer), dtype=np.int64)
        counted = figures(
            "ours",
            plan_groups(plan, scorer),
            room_points(scorer),
            scorer.same_organisation(everyone, everyone),
            met_before_pairs(room, scorer),
        )
        results.warnings.extend(f"{kind.name}: {p}" for p in check_plan(plan, scorer, counted))
        elapsed, drawn = run_once(partial(live_rounds, room, kind.rounds))
        live = fairness_figures("live", room, round_groups(drawn, scorer), kind.rounds, elapsed)
        unfair = SolverOptions(fair=False)
        elapsed, baseline = run_once(
            partial(plan_rounds, room, rounds=kind.rounds, seed=PLAN_SEED, options=unfair)
        )
        greedy = fairness_figures(
            "greedy", room, plan_groups(baseline, scorer), kind.rounds, elapsed
        )
        found = FairRoom(kind, len(room.attendees), ours, live, greedy)
        results.fair.append(found)
        say()
        say(f"{kind.name}: {len(room.attendees)} people, {kind.rounds} rounds")
        say(fair_table(found))
        if kind.name.startswith("eLife"):
            say(
                f"complementary matches (known method <-> wanted method, each direction):"
                f" ours {ours.plain:.0f}, live {live.plain:.0f}, greedy {greedy.plain:.0f};"
                f" the paper: {ELIFE_PAPER}"
            )
    if not (folder / "known_methods.csv").is_file():
        say()
        say("eLife 2014: skipped, no data set in the --elife folder")
    if results.fair:
        say()
        say("All rooms, ours vs greedy (points | plain):")
        say(summary_table(results.fair))


def met_before_pairs(room: Room, scorer: Scorer) -> set[tuple[int, int]]:
    return {
        (min(i, j), max(i, j))
        for i, j in (sorted(scorer.index[m] for m in p) for p in room.rules.met_before)
    }


def fair_table(found: FairRoom) -> str:
    greedy = found.greedy
    rows = []
    for f in (found.ours, found.live, found.greedy):
        rows.append(
            [
                f.name,
                f"{f.points:.1f}",
                ratio(f.points, greedy.points),
                f"{f.plain:.0f}",
                ratio(f.plain, greedy.plain),
                f"{f.least[0]:.2f} / {f.least[1]:.2f}",
                f"{f.p10[0]:.2f} / {f.p10[1]:.2f}",
                str(f.beyond),
                str(f.empty),
                str(f.colleagues),
                str(f.repeats),
                seconds(f.seconds),
            ]
        )
    return table(
        [
            "plan",
            "points",
            "vs greedy",
            "plain",
            "vs greedy",
            "least",
            "p10",
            "beyond",
            "nothing",
            "colleagues",
            "repeats",
            "time (s)",
        ],
        rows,
    )


def summary_table(found: Sequence[FairRoom]) -> str:
    rows = []
    for room in found:
        o, g = room.ours, room.greedy
        rows.append(
            [
                room.kind.name,
                f"{ratio(o.points, g.points)} | {ratio(o.plain, g.plain)}",
                f"{o.least[0]:.2f} / {g.least[0]:.2f} | {o.least[1]:.2f} / {g.least[1]:.2f}",
                f"{o.p10[0]:.2f} / {g.p10[0]:.2f} | {o.p10[1]:.2f} / {g.p10[1]:.2f}",
                f"{o.beyond} / {g.beyond}",
                f"{o.empty} / {g.empty}",
                f"{o.colleagues} / {g.colleagues}",
                f"{o.repeats} / {g.repeats}",
            ]
        )
    return table(
        [
            "room",
            "total vs greedy",
            "least, ours / greedy",
            "p10, ours / greedy",
            "beyond",
            "nothing",
            "colleagues",
            "repeats",
        ],
        rows,
    )


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.3f}" if reference else "-"


def fairness_targets(found: Sequence[FairRoom]) -> list[tuple[str, str, str]]:
    """The targets of issue 12, per room: judged on our plan against the greedy approach."""
    checks: list[tuple[str, str, str]] = []
    for room in found:
        o, g = room.ours, room.greedy
        least_ok = all(o.least[k] >= max(g.least[k], 0.5) - 1e-9 for k in (0, 1))
        checks.append(
            (
                f"{room.kind.name}: least lucky >= greedy's and >= 0.5, points and plain",
                f"{o.least[0]:.2f} / {o.least[1]:.2f} (greedy {g.least[0]:.2f} / {g.least[1]:.2f})",
                "met" if least_ok else "MISSED",
            )
        )
        fair_ok = (
            o.beyond <= 2
            and o.plain >= 0.97 * g.plain
            and o.empty <= g.empty
            and o.colleagues <= g.colleagues
        )
        checks.append(
            (
                f"{room.kind.name}: beyond <= 2, plain >= 97% of greedy's, nothing and"
                " colleagues <= greedy's",
                f"beyond {o.beyond}, plain {ratio(o.plain, g.plain)}, nothing {o.empty} /"
                f" {g.empty}, colleagues {o.colleagues} / {g.colleagues}",
                "met" if fair_ok else "MISSED",
            )
        )
        if room.kind.name.startswith("eLife"):
            elife_ok = o.plain >= ELIFE_PAPER and min(o.least) >= 0.5 and o.empty <= 3
            checks.append(
                (
                    f"eLife: >= {ELIFE_PAPER} complementary matches, least >= 0.5,"
                    " <= 3 pairs with nothing in common",
                    f"{o.plain:.0f}, {min(o.least):.2f}, {o.empty}",
                    "met" if elife_ok else "MISSED",
                )
            )
    return checks


def targets(results: Results) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    found.append(
        (
            "one round of 300 people, exact, <= 0.2 s",
            f"{seconds(results.round_time[300])} s (exact path, incl. Scorer build)",
            verdict(results.round_time[300] <= 0.2),
        )
    )
    # The time over several rooms (each a median of repeats): one room alone is close to 1 s
    # either way. The gap is room 0's (the exact optimum takes about a minute).
    by_seed = list(results.round_time_by_seed.values())
    round_2000 = statistics.median(by_seed)
    timing = (
        f"{seconds(round_2000)} s (median of {len(by_seed)} rooms, {spread(by_seed)};"
        f" room {ROOM_SEED}: {seconds(results.round_time[SPREAD_SIZE])} s)"
    )
    gap = results.gap.get(SPREAD_SIZE)
    target = f"one round of {SPREAD_SIZE} people <= 1 s, within 0.1% of the exact optimum"
    if gap is None:
        status = "MISSED" if round_2000 > 1.0 else "not checked (--quick)"
        found.append((target, f"{timing}; gap not measured (--quick)", status))
    else:
        found.append(
            (
                target,
                f"{timing}; {gap:.4f}% below the optimum",
                verdict(round_2000 <= 1.0 and gap <= 0.1),
            )
        )
    for n, limit in ((300, 1.0), (2000, 10.0)):
        found.append(
            (
                f"{PLAN_ROUNDS}-round plan for {n} people <= {limit:g} s",
                f"{seconds(results.plan_time[n])} s",
                verdict(results.plan_time[n] <= limit),
            )
        )
    if results.repair_time is not None and results.repair_scorer_time is not None:
        found.append(
            (
                f"repair <= 50 ms at {REPAIR_SIZE} people",
                f"{millis(results.repair_time)} ms (prebuilt Scorer;"
                f" +{millis(results.repair_scorer_time)} ms to build one)",
                verdict(results.repair_time <= 0.05),
            )
        )
    ratio = results.networkx_ratio.get(200)
    if ratio is not None:
        found.append(
            (
                ">= 50x faster than networkx per round at 200 people",
                f"{ratio:.0f}x (same objective: {'yes' if results.networkx_equal[200] else 'NO'})",
                verdict(ratio >= 50 and results.networkx_equal[200]),
            )
        )
    found.extend(fairness_targets(results.fair))
    return found


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the slowest reference measurements (exact optimum at 2000, networkx at 300)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    parser.add_argument(
        "--elife", type=Path, default=DEFAULT_ELIFE, help="the eLife 2014 data set folder"
    )
    args = parser.parse_args(argv)
    repeat: int = args.repeat
    quick: bool = args.quick
    if repeat < 1:
        parser.error("--repeat must be at least 1")

    started = time.perf_counter()
    say("Common Ground matcher benchmark")
    say(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    say(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()};"
        f" Python {platform.python_version()}"
    )
    say(
        "libraries: "
        + ", ".join(
            f"{name} {version(name)}" for name in ("numpy", "scipy", "networkx", "rustworkx")
        )
    )
    say(f"mode: {'quick' if quick else 'full'}; timings are medians of {repeat} run(s)")

    results = Results()
    speed(results, repeat)
    exactness(results, quick)
    networkx_speed(results, repeat, quick)
    fairness(results, args.elife.resolve(), quick)
    nothing_in_common(results)
    repair_speed(results, repeat)

    heading("Targets")
    found = targets(results)
    for target, measured, status in found:
        say(f"{status:<7} {target}")
        say(f"{'':<7} measured: {measured}")
    if results.warnings:
        say()
        say("WARNINGS (cross-checks that failed):")
        for warning in results.warnings:
            say(f"  {warning}")
    say()
    say(f"benchmark ran in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
