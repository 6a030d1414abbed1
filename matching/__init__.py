"""The matcher: who meets whom, round after round. A pure library: no web, no database."""

from matching.model import (
    Attendee,
    Group,
    History,
    Plan,
    Question,
    Reason,
    Room,
    Round,
    RoundStats,
    Rules,
    pair,
)
from matching.plan import plan_rounds, round_stats
from matching.scoring import Scorer, normalise
from matching.solve import (
    MatchingError,
    RoundOutcome,
    SolverOptions,
    max_weight_pairs,
    repair,
    solve_round,
)

__all__ = [
    "Attendee",
    "Group",
    "History",
    "MatchingError",
    "Plan",
    "Question",
    "Reason",
    "Room",
    "Round",
    "RoundOutcome",
    "RoundStats",
    "Rules",
    "Scorer",
    "SolverOptions",
    "max_weight_pairs",
    "normalise",
    "pair",
    "plan_rounds",
    "repair",
    "round_stats",
    "solve_round",
]
