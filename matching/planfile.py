"""The planner file (docs/planner-file.md): reading and checking its input, writing its output."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from matching.defaults import DEFAULT_QUESTIONS
from matching.model import (
    Attendee,
    Pair,
    Plan,
    Question,
    Room,
    Rules,
    pair,
    same_organisation_rule,
)

MAX_ROUNDS = 100

Text = Annotated[str, Field(min_length=1, max_length=200)]


class PlanFileError(ValueError):
    """Bad planner input; the message is one line that names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QuestionIn(_Strict):
    key: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
    label: Text
    kind: Literal["shared", "offers", "seeks", "different"]
    weight: Annotated[float, Field(ge=0, le=100)] = 1.0
    pairs_with: str | None = None
    suggestions: list[Text] = Field(default_factory=list, max_length=100)
    free: bool = True


class AttendeeIn(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=100)]
    name: Annotated[str, Field(max_length=200)] = ""
    organisation: Annotated[str, Field(max_length=200)] = ""
    answers: dict[str, list[Annotated[str, Field(max_length=200)]]] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # Ids are often numbers in exported spreadsheets: accept them as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


PairIn = Annotated[list[str], Field(min_length=2, max_length=2)]


class PlanFile(_Strict):
    questions: list[QuestionIn] = Field(
        default_factory=lambda: [
            QuestionIn(
                key=q.key,
                label=q.label,
                kind=q.kind,
                weight=q.weight,
                pairs_with=q.pairs_with,
                suggestions=list(q.suggestions),
            )
            for q in DEFAULT_QUESTIONS
        ]
    )
    attendees: list[AttendeeIn]
    rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)] = 6
    group_size: int = 2
    odd: Literal["trio", "sit_out"] = "trio"
    avoid_same_organisation: bool | Literal["strict"] = True
    met_before: list[PairIn] = Field(default_factory=list)
    keep_apart: list[PairIn] = Field(default_factory=list)
    must_meet: list[PairIn] = Field(default_factory=list)
    tables: list[Text] | None = None
    seed: int = 0


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "input"


def parse_plan_file(raw: str | bytes) -> PlanFile:
    """Parse and check a planner file, or raise PlanFileError with one line naming the field."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PlanFileError(f"not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise PlanFileError("not valid JSON: the file is not UTF-8 text") from None
    if not isinstance(data, dict):
        raise PlanFileError("input: expected a JSON object with 'attendees'")
    try:
        parsed = PlanFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PlanFileError(f"{_where(tuple(first['loc']))}: {first['msg']}") from None
    _check(parsed)
    return parsed


def _check(parsed: PlanFile) -> None:
    if parsed.group_size not in (2, 3, 4):
        raise PlanFileError(f"group_size: must be 2, 3 or 4 (got {parsed.group_size})")
    keys = Counter(q.key for q in parsed.questions)
    for i, question in enumerate(parsed.questions):
        if keys[question.key] > 1:
            raise PlanFileError(f"questions[{i}].key: duplicate question key {question.key!r}")
        if question.kind == "offers":
            partner = next((q for q in parsed.questions if q.key == question.pairs_with), None)
            if partner is None or partner.kind != "seeks":
                raise PlanFileError(
                    f"questions[{i}].pairs_with: an offers question must name a seeks "
                    f"question (got {question.pairs_with!r})"
                )
        elif question.pairs_with is not None:
            raise PlanFileError(f"questions[{i}].pairs_with: only offers questions pair up")
    if len(parsed.attendees) < 2:
        raise PlanFileError(
            f"attendees: at least 2 people are needed (got {len(parsed.attendees)})"
        )
    seen: set[str] = set()
    for i, attendee in enumerate(parsed.attendees):
        if attendee.id in seen:
            raise PlanFileError(f"attendees[{i}].id: duplicate attendee id {attendee.id!r}")
        seen.add(attendee.id)
        for key in attendee.answers:
            if key not in keys:
                raise PlanFileError(f"attendees[{i}].answers: unknown question key {key!r}")
    for rule in ("met_before", "keep_apart", "must_meet"):
        for i, (a, b) in enumerate(getattr(parsed, rule)):
            for person in (a, b):
                if person not in seen:
                    raise PlanFileError(f"{rule}[{i}]: unknown attendee id {person!r}")
            if a == b:
                raise PlanFileError(f"{rule}[{i}]: a pair needs two different people")


def room_from_plan_file(parsed: PlanFile) -> Room:
    def pairs(rows: list[list[str]]) -> frozenset[Pair]:
        return frozenset(pair(a, b) for a, b in rows)

    same = parsed.avoid_same_organisation
    rules = Rules(
        group_size=parsed.group_size,
        odd=parsed.odd,
        same_organisation=same_organisation_rule(same),
        met_before=pairs(parsed.met_before),
        keep_apart=pairs(parsed.keep_apart),
        must_meet=pairs(parsed.must_meet),
        tables=tuple(parsed.tables or ()),
    )
    questions = tuple(
        Question(
            key=q.key,
            label=q.label,
            kind=q.kind,
            weight=q.weight,
            pairs_with=q.pairs_with,
            suggestions=tuple(q.suggestions),
            free=q.free,
        )
        for q in parsed.questions
    )
    attendees = tuple(
        Attendee(
            id=a.id,
            name=a.name,
            organisation=a.organisation,
            answers={k: tuple(v) for k, v in a.answers.items()},
        )
        for a in parsed.attendees
    )
    return Room(questions=questions, attendees=attendees, rules=rules)


def plan_to_json(room: Room, plan: Plan, *, seed: int) -> dict[str, Any]:
    """The planner's output document (docs/planner-file.md)."""
    names = {a.id: a.display_name for a in room.attendees}
    totals = sorted(plan.totals.values())
    groups = [g for r in plan.rounds for g in r.groups]
    return {
        "rounds": [
            {
                "index": r.index,
                "groups": [
                    {
                        "table": g.table,
                        "members": list(g.members),
                        "score": g.score,
                        "common_ground": [reason.text(names) for reason in g.reasons],
                        "repeats": g.repeats,
                    }
                    for g in r.groups
                ],
                "sitting_out": list(r.sitting_out),
            }
            for r in plan.rounds
        ],
        "stats": {
            "attendees": len(room.attendees),
            "rounds": len(plan.rounds),
            "seed": seed,
            "total_score": round(sum(s.total_score for s in plan.round_stats), 3),
            "weakest_total": round(totals[0], 3) if totals else 0.0,
            "median_total": round(totals[len(totals) // 2], 3) if totals else 0.0,
            "groups_without_common_ground": sum(1 for g in groups if g.score <= 0),
            "repeats": plan.repeats,
            "per_round": [
                {
                    "index": s.index,
                    "groups": s.groups,
                    "total_score": s.total_score,
                    "mean_score": s.mean_score,
                    "groups_without_common_ground": s.groups_without_common_ground,
                    "repeats": s.repeats,
                    "sitting_out": s.sitting_out,
                }
                for s in plan.round_stats
            ],
        },
    }
