"""Shared builders for matcher tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matching.model import Attendee, Question, Room, Rules

QUESTIONS = (
    Question("hobbies", "Outside work I love", "shared"),
    Question("topics", "Ask me about", "shared"),
    Question("offers", "I can help with", "offers", weight=1.5, pairs_with="seeks"),
    Question("seeks", "I'm looking for", "seeks"),
)


def person(
    pid: str,
    *,
    org: str = "",
    name: str = "",
    **answers: Sequence[str],
) -> Attendee:
    return Attendee(id=pid, name=name or pid.upper(), organisation=org, answers=_answers(answers))


def _answers(answers: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in answers.items()}


def room(*people: Attendee, rules: Rules = Rules()) -> Room:
    return Room(questions=QUESTIONS, attendees=tuple(people), rules=rules)
