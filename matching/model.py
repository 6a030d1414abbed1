"""The matcher's vocabulary: what goes in (a room of attendees and rules) and what comes out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

QuestionKind = Literal["shared", "offers", "seeks", "different"]
OddPolicy = Literal["trio", "sit_out"]
SameOrganisation = Literal["allow", "avoid", "forbid"]
ReasonKind = Literal["shared", "offers", "different", "must_meet"]

Pair = frozenset[str]


def same_organisation_rule(setting: bool | str) -> SameOrganisation:
    """The rule for colleagues from the setting `avoid_same_organisation` (true: avoid,
    "strict": forbid, false: allow) or from a stored rule name."""
    if setting in ("strict", "forbid"):
        return "forbid"
    if setting in (False, "allow"):
        return "allow"
    return "avoid"


def pair(a: str, b: str) -> Pair:
    """The unordered pair {a, b}."""
    return frozenset((a, b))


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    label: str
    kind: QuestionKind
    weight: float = 1.0
    # For an `offers` question: the key of the `seeks` question it answers.
    pairs_with: str | None = None
    # Shown as chips on the join form; free answers too unless `free` is False.
    suggestions: tuple[str, ...] = ()
    free: bool = True


@dataclass(frozen=True, slots=True)
class Attendee:
    id: str
    name: str = ""
    organisation: str = ""
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Rules:
    group_size: int = 2
    odd: OddPolicy = "trio"
    same_organisation: SameOrganisation = "avoid"
    met_before: frozenset[Pair] = frozenset()
    keep_apart: frozenset[Pair] = frozenset()
    must_meet: frozenset[Pair] = frozenset()
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Room:
    """Everything the matcher needs to know about an event: its questions, people and rules."""

    questions: tuple[Question, ...]
    attendees: tuple[Attendee, ...]
    rules: Rules = Rules()

    def attendee(self, attendee_id: str) -> Attendee:
        for person in self.attendees:
            if person.id == attendee_id:
                return person
        raise KeyError(attendee_id)


@dataclass(frozen=True, slots=True)
class Reason:
    """One piece of common ground between members of a group."""

    kind: ReasonKind
    label: str
    answer: str
    points: float
    # For `offers`: who can help (giver) and who is looking for it (receiver).
    giver: str | None = None
    receiver: str | None = None

    def text(self, names: Mapping[str, str]) -> str:
        """A sentence for phones and the projector, e.g. "Outside work I love: jazz"."""
        if self.kind == "offers" and self.giver is not None:
            giver = names.get(self.giver, self.giver)
            if self.label.startswith("I "):
                return f"{giver} {self.label[2:]} {self.answer}"
            return f"{giver} — {self.label}: {self.answer}"
        if self.kind == "must_meet":
            return self.label
        return f"{self.label}: {self.answer}"


@dataclass(frozen=True, slots=True)
class Group:
    table: str
    members: tuple[str, ...]
    score: float
    reasons: tuple[Reason, ...] = ()
    # How many pairs inside this group had already met (only when nothing else was possible).
    repeats: int = 0


@dataclass(frozen=True, slots=True)
class Round:
    index: int
    groups: tuple[Group, ...]
    sitting_out: tuple[str, ...] = ()

    def group_of(self, attendee_id: str) -> Group | None:
        for group in self.groups:
            if attendee_id in group.members:
                return group
        return None

    def pairs(self) -> Iterable[Pair]:
        for group in self.groups:
            members = group.members
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    yield pair(a, b)


@dataclass(slots=True)
class History:
    """What earlier rounds left behind; the planner and the live service both keep one."""

    # Times each pair has met (earlier rounds, "met before" lists, "we already know each other").
    met: dict[Pair, int] = field(default_factory=dict)
    # Each attendee's common ground so far (sum of the scores of their meetings).
    totals: dict[str, float] = field(default_factory=dict)
    # Times each attendee was the odd one out: in the trio, or sitting out.
    odd_turns: dict[str, int] = field(default_factory=dict)
    # People back from an earlier event of a series: their share (0..1) of their best
    # possible common ground there. Fair rounds favour those who had a weak evening.
    luck: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_rules(cls, rules: Rules) -> History:
        return cls(met=dict.fromkeys(rules.met_before, 1))

    def record(self, round_: Round, *, gains: Mapping[str, float], odd_ones: Iterable[str]) -> None:
        """Add a round: its pairs have met, `gains` is each member's common ground from it."""
        for p in round_.pairs():
            self.met[p] = self.met.get(p, 0) + 1
        for person, gain in gains.items():
            self.totals[person] = self.totals.get(person, 0.0) + gain
        for person in odd_ones:
            self.odd_turns[person] = self.odd_turns.get(person, 0) + 1


@dataclass(frozen=True, slots=True)
class Fairness:
    """How the least lucky fare after a round: what the organiser's preview shows.

    A person's best possible is the common ground of their best partners, one per round
    (group size less one per round at tables), among those the rules let them meet (not
    kept apart, not met before the event, not colleagues unless colleagues may meet). The
    rounds counted are those so far for a round drawn live (`solve_round` without a
    horizon), the event's for a planned one.
    """

    # The lowest share of their best possible among people with common ground to find (1.0
    # when nobody has any), and who has it.
    least_share: float
    least_lucky: str | None
    # The most meetings with nothing in common anyone has had beyond those their own answers
    # force (someone who shares something with 3 people meets at least 5 people with nothing
    # in common over 8 rounds; those 5 are not counted).
    most_empty: int


@dataclass(frozen=True, slots=True)
class RoundStats:
    index: int
    groups: int
    total_score: float
    mean_score: float
    groups_without_common_ground: int
    repeats: int
    sitting_out: int
    # After this round (when known): the least-lucky attendee's share of their best
    # possible, and the most meetings with nothing in common beyond forced (see Fairness).
    least_share: float | None = None
    most_empty: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: tuple[Round, ...]
    round_stats: tuple[RoundStats, ...]
    # Per attendee: sum of the scores of the groups they sat in.
    totals: Mapping[str, float]
    repeats: int
