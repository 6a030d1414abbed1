"""Personal links for people the organiser adds: derived tokens, the roster, the links export."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.security import attendee_token_for, new_token
from tests.app.conftest import EventHandle, Person, create_event, join

GUESTS = (
    "\ufeffName,Email,Company\r\n"
    "Priya Shah,priya@example.org,Acme Bio\r\n"
    '"=HYPERLINK(""http://evil"")",eve@example.org,-Minus Ltd\r\n'
)


def _import(client: TestClient, event: EventHandle) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/events/{event.id}/attendees/import",
        headers={**event.auth, "Content-Type": "text/csv"},
        content=GUESTS.encode(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _walk_up(client: TestClient, event: EventHandle, name: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/events/{event.id}/attendees",
        headers=event.auth,
        json={"name": name, "contact": {"email": "walk@example.org"}},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def _me(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _evening(client: TestClient) -> tuple[EventHandle, dict[str, Any], dict[str, Any], Person]:
    event = create_event(client)
    imported = _import(client, event)
    walk_up = _walk_up(client, event, "Walter Up")
    phone = join(
        client,
        event,
        "Phoebe Phone",
        organisation="Own Ltd",
        contact={"email": "phoebe@example.org"},
    )
    return event, imported, walk_up, phone


def test_derived_token_is_urlsafe_long_and_bound_to_both_inputs() -> None:
    organiser = new_token()
    token = attendee_token_for(organiser, "a1")
    assert token == attendee_token_for(organiser, "a1")
    assert len(token) * 6 >= 192
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert token != attendee_token_for(organiser, "a2")
    assert token != attendee_token_for(new_token(), "a1")


def test_imported_and_walk_up_people_get_derived_tokens_that_open_their_page(
    client: TestClient,
) -> None:
    event, imported, walk_up, _ = _evening(client)
    for person in imported["attendees"]:
        assert person["token"] == attendee_token_for(event.token, person["attendee_id"])
        assert _token_of(person["link"]) == person["token"]
        assert _me(client, person["token"])["attendee"]["id"] == person["attendee_id"]
    assert walk_up["token"] == attendee_token_for(event.token, walk_up["attendee_id"])
    assert _me(client, walk_up["token"])["attendee"]["name"] == "Walter Up"


def test_links_json_lists_exactly_the_organiser_added_people_with_working_links(
    client: TestClient,
) -> None:
    event, imported, walk_up, phone = _evening(client)
    response = client.get(f"/api/v1/events/{event.id}/export/links.json", headers=event.auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    people = {p["name"]: p for p in response.json()["people"]}
    added = {p["attendee_id"] for p in imported["attendees"]} | {walk_up["attendee_id"]}
    assert {p["id"] for p in people.values() if p["link"]} == added
    for person in people.values():
        if person["link"] is None:
            continue
        assert not person["joined_on_own_phone"]
        assert person["link"].startswith("http://test/me?token=")
        assert _me(client, _token_of(person["link"]))["attendee"]["id"] == person["id"]
    assert people["Priya Shah"]["email"] == "priya@example.org"
    assert people["Priya Shah"]["presence"] == "registered"
    assert people["Walter Up"]["presence"] == "present"
    # Someone who joined on their own phone: no link, and their email stays theirs.
    assert people[phone.name] == {
        "id": phone.id,
        "name": phone.name,
        "organisation": "Own Ltd",
        "email": None,
        "presence": "present",
        "link": None,
        "joined_on_own_phone": True,
    }


def test_links_csv_parses_and_is_safe_in_a_spreadsheet(client: TestClient) -> None:
    event, _, walk_up, phone = _evening(client)
    response = client.get(f"/api/v1/events/{event.id}/export/links.csv", headers=event.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    assert f'filename="links-{event.id}.csv"' in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["name", "organisation", "email", "presence", "link", "note"]
    by_name = {row["name"]: row for row in rows}
    assert len(rows) == 4
    # Formula triggers in imported names and organisations are defused.
    evil = by_name['\'=HYPERLINK("http://evil")']
    assert evil["organisation"] == "'-Minus Ltd"
    for row in rows:
        assert not row["name"].startswith(("=", "+", "-", "@"))
    assert _me(client, _token_of(evil["link"]))["attendee"]["name"] == '=HYPERLINK("http://evil")'
    assert _token_of(by_name["Walter Up"]["link"]) == walk_up["token"]
    assert by_name[phone.name]["link"] == ""
    assert by_name[phone.name]["email"] == ""
    assert by_name[phone.name]["note"] == "joined on their own phone"
    assert by_name["Priya Shah"]["note"] == ""


@pytest.mark.parametrize("path", ["links.csv", "links.json"])
def test_links_export_needs_this_events_organiser(client: TestClient, path: str) -> None:
    event, _, _, phone = _evening(client)
    other = create_event(client, name="Another mixer")
    url = f"/api/v1/events/{event.id}/export/{path}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=other.auth).status_code == 403
    assert client.get(url, headers=phone.auth).status_code == 403


def test_roster_shows_links_only_for_people_the_organiser_added(client: TestClient) -> None:
    event, imported, walk_up, phone = _evening(client)
    response = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth)
    assert response.status_code == 200, response.text
    links = {a["id"]: a["link"] for a in response.json()}
    expected = {p["attendee_id"]: p["link"] for p in imported["attendees"]}
    expected[walk_up["attendee_id"]] = walk_up["links"]["me"]
    expected[phone.id] = None
    assert links == expected
