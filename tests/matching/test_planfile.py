"""The planner file: accepted input, the errors that name their field, the output shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from matching.plan import plan_rounds
from matching.planfile import PlanFileError, parse_plan_file, plan_to_json, room_from_plan_file

SPEC_EXAMPLE: dict[str, Any] = {
    "questions": [
        {"key": "hobbies", "label": "Outside work I love", "kind": "shared", "weight": 1.0},
        {
            "key": "offers",
            "label": "I can help with",
            "kind": "offers",
            "pairs_with": "seeks",
            "weight": 1.5,
        },
        {"key": "seeks", "label": "I'm looking for", "kind": "seeks"},
    ],
    "attendees": [
        {
            "id": f"a{i}",
            "name": f"Person {i}",
            "organisation": "Analytical Engines" if i < 3 else "",
            "answers": {"hobbies": ["chess", "poetry"][: i % 3], "offers": ["maths"]},
        }
        for i in range(1, 9)
    ],
    "rounds": 3,
    "group_size": 2,
    "odd": "trio",
    "avoid_same_organisation": True,
    "met_before": [["a1", "a2"]],
    "keep_apart": [["a3", "a4"]],
    "must_meet": [["a5", "a6"]],
    "seed": 1,
}


def _with(**changes: Any) -> bytes:
    return json.dumps({**SPEC_EXAMPLE, **changes}).encode()


def test_spec_example_round_trips_to_a_plan() -> None:
    parsed = parse_plan_file(json.dumps(SPEC_EXAMPLE))
    room = room_from_plan_file(parsed)
    plan = plan_rounds(room, rounds=parsed.rounds, seed=parsed.seed)
    out = plan_to_json(room, plan, seed=parsed.seed)
    assert [r["index"] for r in out["rounds"]] == [1, 2, 3]
    group = out["rounds"][0]["groups"][0]
    assert set(group) >= {"table", "members", "score", "common_ground"}
    assert ["a5", "a6"] in [g["members"] for g in out["rounds"][0]["groups"]]
    assert out["stats"]["repeats"] == 0
    json.dumps(out)  # serialisable as is


def test_defaults_fill_everything_but_the_attendees() -> None:
    parsed = parse_plan_file(json.dumps({"attendees": [{"id": "a"}, {"id": "b"}]}))
    assert parsed.rounds == 6
    assert parsed.group_size == 2
    assert [q.key for q in parsed.questions] == ["hobbies", "topics", "offers", "seeks"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "input: expected a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (_with(group_size=5), "group_size: must be 2, 3 or 4 (got 5)"),
        (_with(attendees=[{"id": "a"}]), "attendees: at least 2 people are needed (got 1)"),
        (
            _with(attendees=[{"id": "a"}, {"id": "a"}]),
            "attendees[1].id: duplicate attendee id 'a'",
        ),
        (
            _with(attendees=[{"id": "a", "answers": {"hobby": ["x"]}}, {"id": "b"}]),
            "attendees[0].answers: unknown question key 'hobby'",
        ),
        (_with(keep_apart=[["a1", "zz"]]), "keep_apart[0]: unknown attendee id 'zz'"),
        (_with(must_meet=[["a1", "a1"]]), "must_meet[0]: a pair needs two different people"),
        (_with(met_before=[["a1"]]), "met_before[0]: List should have at least 2 items"),
        (_with(rounds=0), "rounds: Input should be greater than or equal to 1"),
        (_with(odd="sometimes"), "odd: Input should be 'trio' or 'sit_out'"),
        (_with(colour="red"), "colour: Extra inputs are not permitted"),
        (
            _with(attendees=[{"name": "x"}, {"id": "b"}]),
            "attendees[0].id: Field required",
        ),
        (
            _with(questions=[{"key": "o", "label": "O", "kind": "offers", "pairs_with": "x"}]),
            "questions[0].pairs_with: an offers question must name a seeks question",
        ),
    ],
)
def test_bad_input_names_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(PlanFileError) as caught:
        parse_plan_file(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_strict_organisation_rule_is_a_hard_rule() -> None:
    room = room_from_plan_file(parse_plan_file(_with(avoid_same_organisation="strict")))
    assert room.rules.same_organisation == "forbid"
    room = room_from_plan_file(parse_plan_file(_with(avoid_same_organisation=False)))
    assert room.rules.same_organisation == "allow"


def test_numeric_ids_are_read_as_text() -> None:
    parsed = parse_plan_file(json.dumps({"attendees": [{"id": 1}, {"id": 2}]}))
    assert [a.id for a in parsed.attendees] == ["1", "2"]


def test_same_organisation_rule_reads_settings_and_stored_names() -> None:
    from matching.model import same_organisation_rule

    assert [same_organisation_rule(v) for v in (True, False, "strict")] == [
        "avoid",
        "allow",
        "forbid",
    ]
    assert [same_organisation_rule(v) for v in ("avoid", "allow", "forbid")] == [
        "avoid",
        "allow",
        "forbid",
    ]
