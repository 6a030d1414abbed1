"""Retention: personal data of a finished event goes after N days (by the running server or
`commonground purge`), or at once when the organiser asks; the statistics stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from app.config import Settings
from app.main import create_app, tick
from app.services import retention
from tests.app.conftest import (
    EventHandle,
    Person,
    create_event,
    join,
    postgres_or_skip,
    start_round,
)

DAY = 24 * 3600


def _finished_mixer(client: TestClient) -> tuple[EventHandle, list[Person]]:
    event = create_event(client, rounds=1)
    people = [
        join(
            client,
            event,
            name,
            answers={"hobbies": ["jazz"]},
            contact={"email": f"{name.lower()}@example.org"},
            share=["email"],
        )
        for name in ("Ada", "Bob", "Cy")
    ]
    start_round(client, event, 1)
    for me, other in ((people[0], people[1]), (people[1], people[0])):
        client.post(
            "/api/v1/me/interest",
            headers=me.auth,
            json={"attendee_id": other.id, "interested": True},
        )
    finished = client.post(f"/api/v1/events/{event.id}/finish", headers=event.auth)
    assert finished.status_code == 200, finished.text
    assert finished.json()["status"] == "finished"
    return event, people


def _event(client: TestClient, event: EventHandle) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/events/{event.id}", headers=event.auth).json()
    return body


def _assert_purged(client: TestClient, event: EventHandle, people: list[Person]) -> None:
    for person in people:
        assert client.get("/api/v1/me", headers=person.auth).status_code == 401
    exported = client.get(f"/api/v1/events/{event.id}/export/connections.csv", headers=event.auth)
    text = exported.content.decode("utf-8-sig")
    for person in people:
        assert person.name not in text
        assert "example.org" not in text
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert roster == []
    assert _event(client, event)["purged_at"] is not None


def test_the_running_server_purges_a_finished_event_after_the_retention_days(
    client: TestClient, clock: FrozenClock
) -> None:
    event, people = _finished_mixer(client)
    due = _event(client, event)["purge_due_at"]
    assert due == "2026-07-01T18:00:00Z"  # finished 2026-06-01 18:00, 30 days by default
    before = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth).json()
    clock.advance(30 * DAY - 1)
    assert tick(client.app) == []  # type: ignore[arg-type]
    assert client.get("/api/v1/me", headers=people[0].auth).status_code == 200
    clock.advance(3600)  # the server looks again an hour later
    assert tick(client.app) == [event.id]  # type: ignore[arg-type]
    _assert_purged(client, event, people)
    after = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth).json()
    assert after["rounds"] == before["rounds"]
    assert after["totals"] == before["totals"]
    assert after["totals"]["mutual_connections"] == 1
    assert after["purged_at"] is not None
    assert _event(client, event)["purge_due_at"] is None
    display = client.get(f"/api/v1/events/{event.id}/display?key={event.projector_key}").json()
    assert display["totals"] == {"conversations": 3, "connections": 1}


def test_an_event_nobody_ended_is_purged_once_untouched_for_the_retention_days(
    client: TestClient, clock: FrozenClock
) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    # An event planned a year ahead is not "untouched": its start time counts.
    ahead = create_event(client, starts_at="2027-06-01T18:00:00Z")
    join(client, ahead, "Zed")
    clock.advance(30 * DAY + 1)
    assert tick(client.app) == [event.id]  # type: ignore[arg-type]
    _assert_purged(client, event, [ada])
    assert _event(client, ahead)["purged_at"] is None


def test_the_organiser_can_purge_at_once_but_only_after_the_end(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    early = client.post(f"/api/v1/events/{event.id}/purge", headers=event.auth)
    assert early.status_code == 409
    assert "end the event first" in early.json()["detail"]
    assert client.get("/api/v1/me", headers=ada.auth).status_code == 200
    client.post(f"/api/v1/events/{event.id}/finish", headers=event.auth)
    done = client.post(f"/api/v1/events/{event.id}/purge", headers=event.auth)
    assert done.status_code == 200, done.text
    assert done.json()["attendees_removed"] == 1
    _assert_purged(client, event, [ada])
    again = client.post(f"/api/v1/events/{event.id}/purge", headers=event.auth)
    assert again.status_code == 409


def test_purge_needs_the_organiser(client: TestClient) -> None:
    event = create_event(client)
    assert client.post(f"/api/v1/events/{event.id}/purge").status_code == 401


def test_finishing_ends_the_running_round_and_closes_joining(
    client: TestClient, clock: FrozenClock
) -> None:
    event = create_event(client, rounds=3)
    for name in ("Ada", "Bob"):
        join(client, event, name)
    start_round(client, event, 1)
    clock.advance(30)
    assert client.post(f"/api/v1/events/{event.id}/finish", headers=event.auth).status_code == 200
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    assert rounds[0]["clock"]["phase"] == "ended"
    late = client.post(f"/api/v1/join/{event.join_code}", json={"name": "Late"})
    assert late.status_code == 409
    again = client.post(f"/api/v1/events/{event.id}/finish", headers=event.auth)
    assert again.status_code == 409
    nothing_next = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": 2}
    )
    assert nothing_next.status_code == 409


@pytest.mark.parametrize(
    ("days", "due"), [(0, "2026-06-01T18:00:00Z"), (7, "2026-06-08T18:00:00Z")]
)
def test_retention_days_come_from_the_settings(days: int, due: str, client: TestClient) -> None:
    client.app.state.settings.retention_days = days  # type: ignore[attr-defined]
    event, _people = _finished_mixer(client)
    assert _event(client, event)["purge_due_at"] == due


def test_two_servers_sweeping_at_once_purge_an_event_once(tmp_path: Path) -> None:
    """PostgreSQL only: SQLite has a single writer, so its sweeps cannot overlap."""
    settings = Settings(data_dir=tmp_path, database_url=postgres_or_skip())
    clock = FrozenClock()
    with TestClient(create_app(settings, clock=clock, tick=False)) as client:
        event, _people = _finished_mixer(client)
        before = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth).json()
        db = client.app.state.db  # type: ignore[attr-defined]
        later = clock.now() + timedelta(days=31)
        with db.writing() as first:
            # This server found the event due (and holds a copy of it)...
            (due,) = retention.due_events(first, now=later, days=30)
            # ...while another server purged it and committed.
            with db.writing() as second:
                assert retention.purge_if_due(session=second, event_id=event.id, now=later, days=30)
            assert not retention.purge_if_due(session=first, event_id=due.id, now=later, days=30)
        after = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth).json()
        assert after["totals"] == before["totals"]
        assert after["totals"]["mutual_connections"] == 1
