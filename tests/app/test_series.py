"""Recurring mixers: the next event of a series, remembering people who consent, the
matcher's memory of earlier meetings, forgetting, and the `commonground series` command."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import models
from app.cli import main
from app.clock import FrozenClock
from app.config import Settings
from app.services import consent
from app.services import series as series_service
from tests.app.conftest import EventHandle, Person, create_event, join, start_round

HOBBIES = {"hobbies": ["jazz"]}


def _next(client: TestClient, event: EventHandle, **body: Any) -> EventHandle:
    response = client.post(f"/api/v1/events/{event.id}/next", headers=event.auth, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    return EventHandle(
        id=created["id"],
        join_code=created["join_code"],
        token=created["organiser_token"],
        projector_key=created["projector_key"],
        body=created,
    )


def _join(client: TestClient, event: EventHandle, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/join/{event.join_code}", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _pairs(round_: dict[str, Any], names: dict[str, str]) -> set[frozenset[str]]:
    return {
        frozenset((names[a["attendee_id"]], names[b["attendee_id"]]))
        for group in round_["groups"]
        for a, b in combinations(group["members"], 2)
    }


def test_next_event_copies_settings_with_a_new_code_and_tokens(client: TestClient) -> None:
    first = create_event(
        client,
        name="Monthly meetup",
        rounds=3,
        round_seconds=300,
        tables=["Bar 1", "Window 2"],
        avoid_same_organisation="strict",
    )
    second = _next(client, first, starts_at="2027-01-05T18:00:00Z")
    body = second.body
    assert set(body) == {
        "id",
        "join_code",
        "organiser_token",
        "projector_key",
        "links",
        "series_id",
    }
    assert second.join_code != first.join_code
    assert second.token != first.token
    settings = client.get(f"/api/v1/events/{second.id}", headers=second.auth).json()
    original = client.get(f"/api/v1/events/{first.id}", headers=first.auth).json()
    for field in ("rounds", "round_seconds", "tables", "questions", "avoid_same_organisation"):
        assert settings[field] == original[field]
    assert settings["name"] == "Monthly meetup"
    assert settings["starts_at"] == "2027-01-05T18:00:00Z"
    assert settings["series_id"] == original["series_id"] == body["series_id"]
    assert (original["series_position"], settings["series_position"]) == (1, 2)
    # The second event's token does not open the first.
    assert client.get(f"/api/v1/events/{first.id}", headers=second.auth).status_code == 403


def test_series_page_lists_its_events_for_any_of_their_organisers(client: TestClient) -> None:
    first = create_event(client, name="Coffee", series=True)
    assert first.body["series_id"]
    second = _next(client, first)
    third = _next(client, second, name="Coffee, summer edition")
    series_id = first.body["series_id"]
    for handle in (first, third):
        response = client.get(f"/api/v1/series/{series_id}", headers=handle.auth)
        assert response.status_code == 200, response.text
        read = response.json()
        assert [e["position"] for e in read["events"]] == [1, 2, 3]
        assert read["events"][2]["name"] == "Coffee, summer edition"
    other = create_event(client)
    assert client.get(f"/api/v1/series/{series_id}", headers=other.auth).status_code == 403
    assert client.get(f"/api/v1/series/{series_id}").status_code == 401
    assert client.get("/api/v1/series/nope", headers=first.auth).status_code == 404
    page = client.get(f"/series/{series_id}?token={first.token}")
    assert page.status_code == 200
    assert "Coffee, summer edition" in page.text
    assert "<svg" in page.text
    assert f'href="/api/v1/series/{series_id}/export/links.csv"' in page.text
    # The page's cookie opens the series' downloads, as the console's opens the event's.
    assert client.get(f"/api/v1/series/{series_id}/export/links.csv").status_code == 200


def test_series_settings_change_and_bad_ones_are_422(client: TestClient) -> None:
    event = create_event(client, series=True)
    series_id = event.body["series_id"]
    response = client.patch(
        f"/api/v1/series/{series_id}",
        headers=event.auth,
        json={"memory": "recent", "recent_events": 2, "retention_days": 90, "name": "Cohort"},
    )
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("memory", "recent_events", "retention_days")} == {
        "memory": "recent",
        "recent_events": 2,
        "retention_days": 90,
    }
    for bad in ({"memory": "sometimes"}, {"recent_events": 0}, {"colour": "red"}):
        response = client.patch(f"/api/v1/series/{series_id}", headers=event.auth, json=bad)
        assert response.status_code == 422
        assert "detail" in response.json()


def test_remember_returns_a_series_token_and_link_and_records_the_consent(
    client: TestClient,
) -> None:
    event = create_event(client, series=True)
    plain = _join(client, event, "Ada")
    assert "series_token" not in plain
    assert "series" not in plain["links"]
    body = _join(client, event, "Bob", remember=True, listed=True, answers=HOBBIES)
    assert body["series_token"]
    assert body["links"]["series"] == f"http://test/series/me?token={body['series_token']}"
    mine = client.get(
        "/api/v1/me/export.json", headers={"Authorization": f"Bearer {body['token']}"}
    ).json()
    texts = {c["field"]: c["text"] for c in mine["consents"] if c["granted"]}
    assert texts["series"] == consent.REMEMBER_TEXT
    assert texts["listed"] == consent.LISTED_TEXT


def test_remember_in_a_one_off_event_and_unknown_series_tokens_are_refused(
    client: TestClient,
) -> None:
    one_off = create_event(client)
    response = client.post(
        f"/api/v1/join/{one_off.join_code}", json={"name": "Ada", "remember": True}
    )
    assert response.status_code == 422
    assert "not part of a series" in response.json()["detail"]
    event = create_event(client, series=True)
    response = client.post(
        f"/api/v1/join/{event.join_code}", json={"name": "Ada", "series_token": "guess"}
    )
    assert response.status_code == 401
    # Nothing half-made: the refused join left no attendee.
    assert client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json() == []
    # A token of another series is not one of this series.
    other = create_event(client, series=True)
    token = _join(client, other, "Bob", remember=True)["series_token"]
    response = client.post(
        f"/api/v1/join/{event.join_code}", json={"name": "Bob", "series_token": token}
    )
    assert response.status_code == 401


def test_a_returning_person_is_recognised_once_per_event(client: TestClient) -> None:
    first = create_event(client, series=True)
    token = _join(client, first, "Ada", remember=True, answers=HOBBIES)["series_token"]
    second = _next(client, first)
    again = _join(client, second, "Ada L.", series_token=token)
    assert again["series_token"] == token
    response = client.post(
        f"/api/v1/join/{second.join_code}", json={"name": "Ada", "series_token": token}
    )
    assert response.status_code == 409


def test_the_join_page_is_filled_in_from_the_series_link_on_the_same_phone(
    client: TestClient,
) -> None:
    first = create_event(client, series=True)
    joined = client.post(
        f"/join/{first.join_code}",
        data={"name": "Grace", "organisation": "Navy", "free_hobbies": "sailing", "remember": "1"},
        follow_redirects=False,
    )
    assert joined.status_code == 303
    cookie = f"cg_series_{first.body['series_id']}"
    token = client.cookies.get(cookie)
    assert token
    second = _next(client, first)
    page = client.get(f"/join/{second.join_code}")
    assert "Welcome back" in page.text
    assert 'value="Grace"' in page.text
    assert 'value="sailing"' in page.text
    # Another phone (no cookie) sees an empty form; the personal link sets the cookie.
    client.cookies.clear()
    assert "Welcome back" not in client.get(f"/join/{second.join_code}").text
    link = client.get(f"/series/me?token={token}", follow_redirects=False)
    assert link.status_code == 303
    assert link.headers["location"] == f"/join/{second.join_code}"
    assert "Welcome back" in client.get(f"/join/{second.join_code}").text
    assert client.get("/series/me?token=nope", follow_redirects=False).status_code == 401


def test_joining_without_consent_is_never_recognised_by_name(client: TestClient) -> None:
    first = create_event(client, series=True)
    client.post(f"/join/{first.join_code}", data={"name": "Grace"}, follow_redirects=False)
    assert not any(name.startswith("cg_series_") for name in client.cookies)
    second = _next(client, first)
    client.cookies.clear()
    client.post(f"/join/{second.join_code}", data={"name": "Grace"}, follow_redirects=False)
    read = client.get(f"/api/v1/series/{first.body['series_id']}", headers=first.auth).json()
    assert read["members"] == 0
    assert [e["returning"] for e in read["events"]] == [0, 0]


def _two_events(
    client: TestClient, clock: FrozenClock, *, memory: str = "never"
) -> tuple[EventHandle, dict[str, str], dict[str, dict[str, Any]], list[Person]]:
    """Event 1 of a series: four remembered people, two not, two rounds. Returns the
    organiser handle, names by id, and the remembered people's join bodies."""
    first = create_event(client, series=True, rounds=2)
    client.patch(
        f"/api/v1/series/{first.body['series_id']}", headers=first.auth, json={"memory": memory}
    )
    remembered = {
        name: _join(client, first, name, remember=True, answers=HOBBIES)
        for name in ("Ada", "Bob", "Cy", "Di")
    }
    others = [join(client, first, name, answers=HOBBIES) for name in ("Eve", "Fay")]
    start_round(client, first, 1)
    clock.advance(400)
    start_round(client, first, 2)
    names = {body["attendee_id"]: name for name, body in remembered.items()}
    names.update({p.id: p.name for p in others})
    return first, names, remembered, others


def _met_in(client: TestClient, event: EventHandle, names: dict[str, str]) -> set[frozenset[str]]:
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    met: set[frozenset[str]] = set()
    for round_ in rounds:
        met |= _pairs(round_, names)
    return met


def test_remembered_pairs_never_meet_again_and_fairness_of_new_faces(
    client: TestClient, clock: FrozenClock
) -> None:
    first, names, remembered, _ = _two_events(client, clock)
    before = _met_in(client, first, names)
    second = _next(client, first)
    names2: dict[str, str] = {}
    for name, body in remembered.items():
        again = _join(client, second, name, series_token=body["series_token"], answers=HOBBIES)
        names2[again["attendee_id"]] = name
    for name in ("Eve", "Fay"):
        names2[join(client, second, name, answers=HOBBIES).id] = name
    preview = client.get(f"/api/v1/events/{second.id}/rounds/preview", headers=second.auth)
    assert preview.status_code == 200
    quality = preview.json()["quality"]
    assert quality["returning"] == 4
    assert quality["returning_only_new_faces"] == 4
    start_round(client, second, 1)
    clock.advance(400)
    start_round(client, second, 2)
    after = _met_in(client, second, names2)
    consented = {"Ada", "Bob", "Cy", "Di"}
    assert any(p <= consented for p in before)  # there were pairs to remember
    repeated = {p for p in after & before if p <= consented}
    assert repeated == set()
    assert after - before  # new faces met
    stats = client.get(f"/api/v1/events/{second.id}/stats", headers=second.auth).json()
    assert stats["returning"] == {"returning": 4, "only_new_faces": 4}
    assert stats["network"]["people"] == 6
    series = client.get(f"/api/v1/series/{first.body['series_id']}", headers=first.auth).json()
    assert [e["returning"] for e in series["events"]] == [0, 4]


def test_recent_memory_forgets_meetings_older_than_the_last_events(
    client: TestClient, clock: FrozenClock
) -> None:
    first, _names, remembered, _ = _two_events(client, clock, memory="recent")
    second = _next(client, first)
    third = _next(client, second)
    # Nobody came to the second event: with memory of the last one, the first is forgotten.
    for name, body in remembered.items():
        _join(client, third, name, series_token=body["series_token"], answers=HOBBIES)
    preview = client.get(f"/api/v1/events/{third.id}/rounds/preview", headers=third.auth).json()
    assert preview["quality"]["repeats"] == 0
    assert preview["quality"]["returning"] == 4
    # With a memory of two events it counts again: the preview avoids the old pairs.
    client.patch(
        f"/api/v1/series/{first.body['series_id']}", headers=first.auth, json={"recent_events": 2}
    )
    again = client.get(f"/api/v1/events/{third.id}/rounds/preview", headers=third.auth).json()
    assert again["quality"]["returning_only_new_faces"] == 4


def test_withdrawing_forgets_the_member_but_keeps_the_event_profile(
    client: TestClient, clock: FrozenClock
) -> None:
    first, _, remembered, _ = _two_events(client, clock)
    ada = remembered["Ada"]
    auth = {"Authorization": f"Bearer {ada['token']}"}
    response = client.patch("/api/v1/me", headers=auth, json={"remember": False})
    assert response.status_code == 200, response.text
    assert client.patch("/api/v1/me", headers=auth, json={"remember": True}).status_code == 422
    series = client.get(f"/api/v1/series/{first.body['series_id']}", headers=first.auth).json()
    assert series["members"] == 3
    second = _next(client, first)
    response = client.post(
        f"/api/v1/join/{second.join_code}",
        json={"name": "Ada", "series_token": ada["series_token"]},
    )
    assert response.status_code == 401
    mine = client.get("/api/v1/me/export.json", headers=auth).json()
    withdrawn = [c for c in mine["consents"] if c["field"] == "series" and not c["granted"]]
    assert withdrawn
    assert withdrawn[0]["text"] == consent.REMEMBER_TEXT


def test_deleting_my_data_in_a_later_event_removes_me_from_the_whole_series(
    client: TestClient, clock: FrozenClock
) -> None:
    first, _, remembered, _ = _two_events(client, clock)
    second = _next(client, first)
    bob = _join(
        client, second, "Bob", series_token=remembered["Bob"]["series_token"], answers=HOBBIES
    )
    response = client.delete("/api/v1/me", headers={"Authorization": f"Bearer {bob['token']}"})
    assert response.status_code == 204
    series_id = first.body["series_id"]
    series = client.get(f"/api/v1/series/{series_id}", headers=first.auth).json()
    assert series["members"] == 3
    roster = client.get(f"/api/v1/events/{first.id}/attendees", headers=first.auth).json()
    assert "Bob" not in {a["name"] for a in roster}
    graphml = client.get(f"/api/v1/series/{series_id}/export/network.graphml", headers=first.auth)
    assert graphml.status_code == 200
    assert b"Bob" not in graphml.content
    response = client.post(
        f"/api/v1/join/{second.join_code}",
        json={"name": "Bob", "series_token": remembered["Bob"]["series_token"]},
    )
    assert response.status_code == 401


def test_purged_events_keep_the_members_meetings_for_the_matcher(
    client: TestClient, clock: FrozenClock
) -> None:
    first, names, remembered, _ = _two_events(client, clock)
    before = _met_in(client, first, names)
    assert client.post(f"/api/v1/events/{first.id}/finish", headers=first.auth).status_code == 200
    assert client.post(f"/api/v1/events/{first.id}/purge", headers=first.auth).status_code == 200
    second = _next(client, first)
    names2 = {
        _join(client, second, name, series_token=body["series_token"], answers=HOBBIES)[
            "attendee_id"
        ]: name
        for name, body in remembered.items()
    }
    start_round(client, second, 1)
    after = _met_in(client, second, names2)
    assert not (after & before)


def _links(client: TestClient, series_id: str, event: EventHandle) -> list[dict[str, str]]:
    response = client.get(f"/api/v1/series/{series_id}/export/links.csv", headers=event.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_exported_series_link_recognises_the_person_on_another_phone(
    client: TestClient,
) -> None:
    first = create_event(client, series=True)
    series_id = first.body["series_id"]
    ada = _join(client, first, "Ada", organisation="Engines", remember=True, answers=HOBBIES)
    _join(client, first, "Ada", organisation="Engines")  # the same name, not remembered
    second = _next(client, first)
    # The organiser of any event of the series: the next one's writes the invitations.
    rows = _links(client, series_id, second)
    assert [(r["name"], r["organisation"]) for r in rows] == [("Ada", "Engines")]
    link = rows[0]["link"]
    assert link == ada["links"]["series"]
    assert rows[0]["remembered_since"] == rows[0]["last_seen"]
    # Another phone: no cookie, only the link from the invitation.
    client.cookies.clear()
    opened = client.get(link.removeprefix("http://test"), follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/join/{second.join_code}"
    page = client.get(f"/join/{second.join_code}")
    assert "Welcome back" in page.text
    assert 'value="Ada"' in page.text
    joined = client.post(
        f"/join/{second.join_code}",
        data={"name": "Ada", "organisation": "Engines", "remember": "1"},
        follow_redirects=False,
    )
    assert joined.status_code == 303
    read = client.get(f"/api/v1/series/{series_id}", headers=second.auth).json()
    assert (read["members"], [e["returning"] for e in read["events"]]) == (1, [0, 1])


def test_people_the_series_forgot_or_never_remembered_are_not_in_its_links(
    client: TestClient, clock: FrozenClock
) -> None:
    first, _, remembered, _ = _two_events(client, clock)
    series_id = first.body["series_id"]
    auth = {"Authorization": f"Bearer {remembered['Ada']['token']}"}
    assert client.patch("/api/v1/me", headers=auth, json={"remember": False}).status_code == 200
    rows = _links(client, series_id, first)
    assert sorted(r["name"] for r in rows) == ["Bob", "Cy", "Di"]
    assert remembered["Ada"]["links"]["series"] not in {r["link"] for r in rows}
    # Forgotten: their link, derived again, would name nobody.
    token = remembered["Ada"]["series_token"]
    assert client.get(f"/series/me?token={token}", follow_redirects=False).status_code == 401


def test_series_links_need_an_organiser_of_the_series(client: TestClient) -> None:
    event = create_event(client, series=True)
    series_id = event.body["series_id"]
    path = f"/api/v1/series/{series_id}/export/links.csv"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=create_event(client).auth).status_code == 403
    wrong = {"Authorization": "Bearer not-a-token"}
    assert client.get(path, headers=wrong).status_code == 403
    missing = client.get("/api/v1/series/nope/export/links.csv", headers=event.auth)
    assert missing.status_code == 404


def test_series_links_are_safe_to_open_in_a_spreadsheet(client: TestClient) -> None:
    event = create_event(client, series=True)
    _join(client, event, '=HYPERLINK("http://x")', organisation="@corp", remember=True)
    (row,) = _links(client, event.body["series_id"], event)
    assert row["name"] == '\'=HYPERLINK("http://x")'
    assert row["organisation"] == "'@corp"


def _import(client: TestClient, event: EventHandle, text: str) -> Any:
    return client.post(
        f"/api/v1/events/{event.id}/attendees/import",
        headers={**event.auth, "Content-Type": "text/csv"},
        content=text.encode(),
    )


def test_guests_imported_with_their_series_link_are_the_members_it_names(
    client: TestClient, clock: FrozenClock
) -> None:
    first, names, remembered, _ = _two_events(client, clock)
    met_before = {p for p in _met_in(client, first, names) if p <= set(remembered)}
    second = _next(client, first)
    links = {r["name"]: r["link"] for r in _links(client, first.body["series_id"], second)}
    guest_list = "Name,Email,Series link\n" + "".join(
        f"{name},{name.lower()}@example.org,{link}\n" for name, link in links.items()
    )
    # Eve was not remembered: the same name without a link is a newcomer.
    response = _import(client, second, guest_list + "Eve,eve@example.org,\n")
    assert response.status_code == 201, response.text
    assert response.json()["mapping"]["Series link"] == "series_link"
    imported = {a["name"]: a for a in response.json()["attendees"]}
    roster = {a["name"]: a for a in _roster(client, second)}
    # The answers the guest list left blank are the ones the series remembers.
    assert roster["Ada"]["answers"] == HOBBIES
    assert roster["Eve"]["answers"] == {}
    ada = {"Authorization": f"Bearer {imported['Ada']['token']}"}
    assert client.get("/api/v1/me", headers=ada).json()["attendee"]["remembered"] is True
    eve = {"Authorization": f"Bearer {imported['Eve']['token']}"}
    assert client.get("/api/v1/me", headers=eve).json()["attendee"]["remembered"] is False
    # The matcher knows whom they met at the first event.
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.reading() as session:
        event = session.get_one(models.Event, second.id)
        memory = series_service.memory_for(session, event)
    by_id = {a["attendee_id"]: name for name, a in imported.items()}
    assert {frozenset(by_id[m] for m in p) for p in memory.known} == met_before
    assert {by_id[a] for a in memory.returning} == set(remembered)
    # Their own phone, with the same link, finds them already here.
    response = client.post(
        f"/api/v1/join/{second.join_code}",
        json={"name": "Ada", "series_token": links["Ada"].split("token=")[1]},
    )
    assert response.status_code == 409


def test_a_guest_list_with_a_bad_series_link_imports_nothing(
    client: TestClient, clock: FrozenClock
) -> None:
    first, _, remembered, _ = _two_events(client, clock)
    second = _next(client, first)
    ada, bob = (remembered[n]["links"]["series"] for n in ("Ada", "Bob"))
    other = _join(client, create_event(client, series=True), "Zed", remember=True)
    guest_list = (
        "name,series_token\n"
        f"Ada,{ada}\n"
        "Guess,http://test/series/me?token=guess\n"
        f"Ada again,{ada}\n"
        f"Zed,{other['series_token']}\n"
        f"Bob,{remembered['Bob']['series_token']}\n"
    )
    response = _import(client, second, guest_list)
    assert response.status_code == 422, response.text
    assert [(e["line"], e["field"]) for e in response.json()["detail"]] == [
        (3, "series_link"),
        (4, "series_link"),
        (5, "series_link"),
    ]
    assert "line 2" in response.json()["detail"][1]["msg"]
    assert _roster(client, second) == []
    assert _import(client, second, f"name,series link\nBob,{bob}\n").status_code == 201
    again = _import(client, second, f"name,series link\nBob,{bob}\n")
    assert again.status_code == 422
    assert "already" in again.json()["detail"][0]["msg"]
    one_off = create_event(client)
    response = _import(client, one_off, f"name,series link\nBob,{bob}\n")
    assert response.status_code == 422
    assert "not part of a series" in response.json()["detail"][0]["msg"]


def _roster(client: TestClient, event: EventHandle) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = client.get(
        f"/api/v1/events/{event.id}/attendees", headers=event.auth
    ).json()
    return body


def test_next_event_of_an_unknown_event_or_with_bad_body_is_4xx(client: TestClient) -> None:
    event = create_event(client)
    assert client.post("/api/v1/events/nope/next", headers=event.auth).status_code == 404
    response = client.post(
        f"/api/v1/events/{event.id}/next", headers=event.auth, json={"rounds": 3}
    )
    assert response.status_code == 422
    assert client.post(f"/api/v1/events/{event.id}/next").status_code == 401


def test_series_command_lists_and_exports(
    client: TestClient,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, _, _, _ = _two_events(client, clock)
    series_id = first.body["series_id"]
    monkeypatch.setenv("DATABASE_URL", settings.sqlalchemy_url)
    main(["series"])
    assert series_id in capsys.readouterr().out
    main(["series", series_id])
    out = capsys.readouterr().out
    assert "1. " + first.id in out
    assert "memory never" in out
    target = tmp_path / "series.gexf"
    main(["series", series_id, "--format", "gexf", "--out", str(target)])
    assert target.read_text().startswith("<?xml")
    monkeypatch.setenv("COMMONGROUND_PUBLIC_URL", "https://mixer.example")
    links = tmp_path / "links.csv"
    main(["series", series_id, "--format", "links", "--out", str(links)])
    rows = list(csv.DictReader(io.StringIO(links.read_text(encoding="utf-8-sig"))))
    assert sorted(r["name"] for r in rows) == ["Ada", "Bob", "Cy", "Di"]
    assert all(r["link"].startswith("https://mixer.example/series/me?token=") for r in rows)
    monkeypatch.delenv("COMMONGROUND_PUBLIC_URL")
    for bad in (
        ["series", "nope"],
        ["series", "--format", "graphml"],
        ["series", "--format=x"],
        ["series", series_id, "--format", "links"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(bad)
        assert exit_.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_members_not_seen_for_the_series_retention_are_forgotten(
    client: TestClient, clock: FrozenClock
) -> None:
    first = create_event(client, series=True)
    series_id = first.body["series_id"]
    _join(client, first, "Ada", remember=True)
    client.patch(f"/api/v1/series/{series_id}", headers=first.auth, json={"retention_days": 60})
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.writing() as session:
        assert series_service.forget_stale(session=session, now=clock.now()) == 0
    with db.writing() as session:
        later = clock.now() + timedelta(days=61)
        assert series_service.forget_stale(session=session, now=later) == 1
    read = client.get(f"/api/v1/series/{series_id}", headers=first.auth).json()
    assert read["members"] == 0


def test_my_page_says_whether_the_series_remembers_me(client: TestClient) -> None:
    event = create_event(client, series=True)
    body = _join(client, event, "Ada", remember=True, listed=True)
    auth = {"Authorization": f"Bearer {body['token']}"}
    profile = client.get("/api/v1/me", headers=auth).json()["attendee"]
    assert (profile["remembered"], profile["listed"]) == (True, True)
    client.patch("/api/v1/me", headers=auth, json={"remember": False})
    assert client.get("/api/v1/me", headers=auth).json()["attendee"]["remembered"] is False


# a and b both share most with c (a more); d shares one thing with each of them.
_COMPETING = {
    "Ada": ["jazz", "chess", "go", "poker", "bridge", "ai"],
    "Bob": ["tennis", "golf", "polo", "judo", "bio"],
    "Cy": ["jazz", "chess", "go", "poker", "bridge", "tennis", "golf", "polo", "judo"],
    "Di": ["ai", "bio"],
}


def _last_shares(client: TestClient) -> dict[str, float | None]:
    with client.app.state.db.reading() as session:  # type: ignore[attr-defined]
        members = session.query(models.SeriesMember).all()
        return {m.name: m.last_share for m in members}


def test_a_weak_evening_is_made_up_for_at_the_next_event(
    client: TestClient, clock: FrozenClock
) -> None:
    first = create_event(client, series=True, rounds=1)
    tokens = {
        name: _join(client, first, name, remember=True, answers={"hobbies": _COMPETING[name]})[
            "series_token"
        ]
        for name in ("Ada", "Bob")
    }
    for name in ("Cy", "Di"):
        join(client, first, name, answers={"hobbies": _COMPETING[name]})
    start_round(client, first, 1)
    assert _last_shares(client) == {"Ada": None, "Bob": None}
    # The points decide: Ada meets Cy, Bob meets Di (one thing of the four he shares with Cy).
    ended = client.post(
        f"/api/v1/events/{first.id}/clock", headers=first.auth, json={"action": "end_round"}
    )
    assert ended.status_code == 200, ended.text
    shares = _last_shares(client)
    assert shares["Ada"] == 1.0
    assert shares["Bob"] == pytest.approx(0.25, abs=0.01)

    second = _next(client, first)
    names: dict[str, str] = {}
    for name, token in tokens.items():
        body = _join(
            client, second, name, series_token=token, answers={"hobbies": _COMPETING[name]}
        )
        names[body["attendee_id"]] = name
    for name in ("Cy", "Di"):
        names[join(client, second, name, answers={"hobbies": _COMPETING[name]}).id] = name
    with client.app.state.db.reading() as session:  # type: ignore[attr-defined]
        memory = series_service.memory_for(session, session.get_one(models.Event, second.id))
    assert {names[a]: luck for a, luck in memory.luck.items()} == shares
    # The event's data goes: the luck stays (Bob is at the next event: his stays his).
    assert client.post(f"/api/v1/events/{first.id}/purge", headers=first.auth).status_code == 200
    assert _last_shares(client) == shares
    # This time Bob, whose evening was weak, meets Cy.
    met = _pairs(start_round(client, second, 1), names)
    assert frozenset(("Bob", "Cy")) in met


def test_finishing_an_event_early_records_how_its_members_fared(
    client: TestClient, clock: FrozenClock
) -> None:
    first = create_event(client, series=True, rounds=3)
    for name in ("Ada", "Bob"):
        _join(client, first, name, remember=True, answers={"hobbies": _COMPETING[name]})
    for name in ("Cy", "Di"):
        join(client, first, name, answers={"hobbies": _COMPETING[name]})
    start_round(client, first, 1)
    assert client.post(f"/api/v1/events/{first.id}/finish", headers=first.auth).status_code == 200
    # Counted over the one round held, not the three planned.
    shares = _last_shares(client)
    assert shares["Ada"] == 1.0
    assert shares["Bob"] == pytest.approx(0.25, abs=0.01)
