"""Event statistics for the organiser: conversations, mutual connections, common ground."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from app import models
from app.services.snapshot import Snapshot, answer_keys, reasons_between
from matching.model import Reason

# Reasons that are common ground; "different" mixes a room and must-meet is a rule.
_COMMON = ("shared", "offers")


@dataclass(frozen=True)
class Figures:
    conversations: int
    mutual_connections: int
    pairs_with_common_ground: int

    @property
    def share_with_common_ground(self) -> float:
        if not self.conversations:
            return 0.0
        return round(self.pairs_with_common_ground / self.conversations, 4)

    def as_json(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "mutual_connections": self.mutual_connections,
            "pairs_with_common_ground": self.pairs_with_common_ground,
            "share_with_common_ground": self.share_with_common_ground,
        }


def pair_reasons(
    reasons: Iterable[Reason],
    me: models.Attendee,
    other: models.Attendee | None,
    questions: list[dict[str, object]],
) -> list[Reason]:
    """Of a table's reasons, those that hold between `me` and `other`."""
    if other is None:
        return []
    return reasons_between(
        reasons, me.id, other.id, answer_keys(me, questions), answer_keys(other, questions)
    )


def _have_common_ground(
    reasons: list[Reason],
    members: Sequence[str],
    first: models.Attendee | None,
    second: models.Attendee | None,
    questions: list[dict[str, Any]],
) -> bool:
    if len(members) == 2 or not reasons:
        return bool(reasons)
    # At a larger table, the reasons hold between some of its members only.
    if first is None or second is None:
        return False
    return bool(pair_reasons(reasons, first, second, questions))


def event_stats(snapshot: Snapshot) -> dict[str, Any]:
    """Per round and in total. Every two people at a table held a conversation (a trio holds
    three); a pair that met and both asked to stay in touch is one mutual connection."""
    event = snapshot.event
    if event.summary is not None:
        # Purged: the figures were kept when the personal data went.
        return dict(event.summary)
    people, asked = snapshot.people, snapshot.interests
    rounds: list[dict[str, Any]] = []
    connected: set[frozenset[str]] = set()
    total_common = total_conversations = 0
    for round_ in snapshot.rounds:
        conversations = common = mutual = 0
        for group in snapshot.groups(round_):
            reasons = [r for r in group.reasons if r.kind in _COMMON]
            for a, b in combinations(group.members, 2):
                conversations += 1
                if _have_common_ground(
                    reasons, group.members, people.get(a), people.get(b), event.questions
                ):
                    common += 1
                if (a, b) in asked and (b, a) in asked:
                    mutual += 1
                    connected.add(frozenset((a, b)))
        figures = Figures(conversations, mutual, common)
        rounds.append({"index": round_.index, **figures.as_json()})
        total_conversations += conversations
        total_common += common
    totals = Figures(total_conversations, len(connected), total_common)
    return {"rounds": rounds, "totals": totals.as_json(), "purged_at": None}
