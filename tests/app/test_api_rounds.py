"""Rounds: starting them (idempotently), the preview, the clock, repairs, the projector."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from app.main import tick
from tests.app.conftest import EventHandle, Person, create_event, join, start_round


def _room(client: TestClient, n: int, **event_fields: object) -> tuple[EventHandle, list[Person]]:
    event = create_event(client, **event_fields)
    hobbies = ["jazz", "chess", "hiking", "poetry"]
    people = [
        join(client, event, f"Person {i}", answers={"hobbies": [hobbies[i % 4]]}) for i in range(n)
    ]
    return event, people


def test_starting_a_round_places_everyone_present_once(client: TestClient) -> None:
    event, people = _room(client, 7)
    body = start_round(client, event, 1)
    members = [m["attendee_id"] for g in body["groups"] for m in g["members"]]
    assert sorted(members) == sorted(p.id for p in people)
    assert sorted(len(g["members"]) for g in body["groups"]) == [2, 2, 3]
    assert body["clock"]["phase"] == "changeover"
    assert body["clock"]["talk_starts_at"] == "2026-06-01T18:01:00Z"
    assert body["clock"]["ends_at"] == "2026-06-01T18:05:00Z"


def test_a_repeated_start_is_409_and_never_skips_a_round(client: TestClient) -> None:
    event, _ = _room(client, 4)
    start_round(client, event, 1)
    again = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 1}
    )
    assert again.status_code == 409
    ahead = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 3}
    )
    assert ahead.status_code == 409
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    assert [r["index"] for r in rounds] == [1]


def test_concurrent_starts_make_exactly_one_round(client: TestClient) -> None:
    event, _ = _room(client, 10)

    def attempt(_: int) -> int:
        return client.post(
            f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 1}
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(attempt, range(6)))
    assert codes == [201, 409, 409, 409, 409, 409]
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    assert [r["index"] for r in rounds] == [1]


def test_rounds_never_repeat_a_pair_and_end_after_the_last(
    client: TestClient, clock: FrozenClock
) -> None:
    event, _ = _room(client, 6, rounds=3)
    seen: set[frozenset[str]] = set()
    for index in (1, 2, 3):
        body = start_round(client, event, index)
        for group in body["groups"]:
            ids = frozenset(m["attendee_id"] for m in group["members"])
            assert ids not in seen
            seen.add(ids)
        clock.advance(30)
    done = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 4}
    )
    assert done.status_code == 409
    assert "all 3 rounds" in done.json()["detail"]


def test_fewer_than_two_present_is_409(client: TestClient) -> None:
    event, _ = _room(client, 1)
    response = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 1}
    )
    assert response.status_code == 409


def test_preview_shows_quality_and_saves_nothing(client: TestClient) -> None:
    event, _ = _room(client, 5)
    preview = client.get(f"/api/v1/events/{event.id}/rounds/preview", headers=event.auth)
    assert preview.status_code == 200
    body = preview.json()
    assert body["index"] == 1
    assert body["quality"]["groups"] == 2
    assert len(body["quality"]["odd_group"]) == 3
    assert body["quality"]["mean_common_ground"] >= 0
    assert client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json() == []


def test_preview_names_the_least_lucky_before_the_round_starts(client: TestClient) -> None:
    # Three jazz lovers among six: one of them must meet someone with nothing in common.
    event = create_event(client)
    hobbies = ["jazz", "jazz", "jazz", "chess", "hiking", "poetry"]
    people = [
        join(client, event, f"Person {i}", answers={"hobbies": [h]}) for i, h in enumerate(hobbies)
    ]
    preview = client.get(f"/api/v1/events/{event.id}/rounds/preview", headers=event.auth)
    quality = preview.json()["quality"]
    assert quality["least_share"] == 0.0
    assert quality["least_lucky"]["attendee_id"] in {p.id for p in people[:3]}
    assert quality["most_empty"] == 1


def test_preview_with_no_common_ground_anywhere_has_nobody_least_lucky(
    client: TestClient,
) -> None:
    event, _ = _room(client, 4)
    quality = client.get(f"/api/v1/events/{event.id}/rounds/preview", headers=event.auth).json()[
        "quality"
    ]
    assert (quality["least_share"], quality["least_lucky"], quality["most_empty"]) == (1.0, None, 0)


def test_clock_pause_resume_extend_and_end(client: TestClient, clock: FrozenClock) -> None:
    event, _ = _room(client, 4)
    start_round(client, event, 1)
    url = f"/api/v1/events/{event.id}/clock"
    clock.advance(90)  # 30 s into the talk
    paused = client.post(url, headers=event.auth, json={"action": "pause"}).json()
    assert paused["clock"]["phase"] == "paused"
    assert paused["clock"]["paused_phase"] == "talk"
    assert paused["clock"]["remaining_seconds"] == 210
    assert client.post(url, headers=event.auth, json={"action": "pause"}).status_code == 409
    clock.advance(100)
    resumed = client.post(url, headers=event.auth, json={"action": "resume"}).json()
    assert resumed["clock"]["phase"] == "talk"
    assert resumed["clock"]["ends_at"] == "2026-06-01T18:06:40Z"
    extended = client.post(url, headers=event.auth, json={"action": "extend", "seconds": 60})
    assert extended.json()["clock"]["ends_at"] == "2026-06-01T18:07:40Z"
    ended = client.post(url, headers=event.auth, json={"action": "end_round"}).json()
    assert ended["clock"]["phase"] == "ended"
    assert client.post(url, headers=event.auth, json={"action": "resume"}).status_code == 409
    assert client.post(url, headers=event.auth, json={"action": "stop"}).status_code == 422


def test_round_ends_on_time_and_auto_advance_starts_the_next(
    client: TestClient, clock: FrozenClock
) -> None:
    event, _ = _room(client, 6, rounds=2, auto_advance=True)
    start_round(client, event, 1)
    app = client.app
    clock.advance(299)
    assert tick(app) == []  # type: ignore[arg-type]
    clock.advance(1)
    assert tick(app) == [event.id]  # type: ignore[arg-type]
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    assert [(r["index"], r["clock"]["phase"]) for r in rounds] == [(1, "ended"), (2, "changeover")]
    clock.advance(300)
    tick(app)  # type: ignore[arg-type]
    body = client.get(f"/api/v1/events/{event.id}", headers=event.auth).json()
    assert body["status"] == "finished"


def test_without_auto_advance_the_round_just_ends(client: TestClient, clock: FrozenClock) -> None:
    event, _ = _room(client, 4)
    start_round(client, event, 1)
    clock.advance(301)
    tick(client.app)  # type: ignore[arg-type]
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    assert [(r["index"], r["clock"]["phase"]) for r in rounds] == [(1, "ended")]


def test_partner_absent_repairs_only_the_stranded(client: TestClient) -> None:
    event, people = _room(client, 8)
    body = start_round(client, event, 1)
    groups = {frozenset(m["attendee_id"] for m in g["members"]) for g in body["groups"]}
    reporter = people[0]
    mine = next(g for g in groups if reporter.id in g)
    (absent,) = mine - {reporter.id}
    response = client.post(
        "/api/v1/me/report", headers=reporter.auth, json={"kind": "partner_absent"}
    )
    assert response.status_code == 200
    after = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()[0]
    new_groups = {frozenset(m["attendee_id"] for m in g["members"]) for g in after["groups"]}
    untouched = groups - {mine}
    # Nobody else moved: every other pair is intact, and the reporter joined one as a third.
    assert all(any(g <= ng for ng in new_groups) for g in untouched)
    assert absent not in {m for g in new_groups for m in g}
    partners = response.json()["round"]["partners"]
    assert len(partners) == 2
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert {a["id"]: a["presence"] for a in roster}[absent] == "break"


def test_already_know_splits_them_now_and_later(client: TestClient, clock: FrozenClock) -> None:
    event, people = _room(client, 4, rounds=3)
    body = start_round(client, event, 1)
    reporter = people[0]
    mine = next(
        g for g in body["groups"] if reporter.id in [m["attendee_id"] for m in g["members"]]
    )
    other = next(m["attendee_id"] for m in mine["members"] if m["attendee_id"] != reporter.id)
    response = client.post(
        "/api/v1/me/report", headers=reporter.auth, json={"kind": "already_know"}
    )
    assert response.status_code == 200
    for index in (2, 3):
        clock.advance(60)
        later = start_round(client, event, index)
        pairs = [{m["attendee_id"] for m in g["members"]} for g in later["groups"]]
        assert {reporter.id, other} not in pairs


def test_report_needs_a_running_round(client: TestClient) -> None:
    _event, people = _room(client, 2)
    response = client.post(
        "/api/v1/me/report", headers=people[0].auth, json={"kind": "partner_absent"}
    )
    assert response.status_code == 409


def test_display_is_public_state_without_contacts(client: TestClient, clock: FrozenClock) -> None:
    event = create_event(client)
    for name in ("Zoe", "adam", "Mia"):
        join(client, event, name, contact={"email": f"{name}@example.org"}, share=["email"])
    url = f"/api/v1/events/{event.id}/display?key={event.projector_key}"
    before = client.get(url).json()
    assert before["status"] == "waiting"
    assert before["join_code"] == event.join_code
    assert before["rows"] == []
    start_round(client, event, 1)
    clock.advance(5)
    during = client.get(url).json()
    assert [row["name"] for row in during["rows"]] == ["adam", "Mia", "Zoe"]
    assert during["round"]["phase"] == "changeover"
    assert during["round"]["server_time"] == "2026-06-01T18:00:05Z"
    assert during["totals"]["conversations"] == 3
    assert "example.org" not in str(during)


def test_a_failing_matcher_writes_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, _ = _room(client, 4)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr("app.services.rounds.solve_round", broken)
    # Shares the running app; answers a server error as a response instead of raising it.
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 1}
    )
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; nothing was changed"}
    assert client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json() == []
    monkeypatch.undo()
    assert start_round(client, event, 1)["index"] == 1


def test_late_arrivals_join_from_the_next_round(client: TestClient, clock: FrozenClock) -> None:
    event, people = _room(client, 4)
    start_round(client, event, 1)
    late = join(client, event, "Late Comer")
    me = client.get("/api/v1/me", headers=late.auth).json()
    assert me["round"]["table"] is None
    clock.advance(60)
    second = start_round(client, event, 2)
    placed = {m["attendee_id"] for g in second["groups"] for m in g["members"]}
    assert late.id in placed
    assert placed == {p.id for p in people} | {late.id}
