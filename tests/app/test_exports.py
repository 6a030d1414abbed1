"""Exports and vCards: who met whom, and contacts only along consented, mutual connections."""

from __future__ import annotations

import csv
import io
from typing import Any

import vobject
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from app.services.exports import FORMULA_TRIGGERS, safe_cell
from tests.app.conftest import EventHandle, Person, create_event, join, start_round


@given(st.text())
def test_no_csv_cell_begins_with_a_formula_trigger(text: str) -> None:
    cell = safe_cell(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert cell.endswith(text)


def _mixer(client: TestClient) -> tuple[EventHandle, dict[str, Person]]:
    event = create_event(client)
    people = {
        "ada": join(
            client,
            event,
            "Ada",
            organisation='=HYPERLINK("http://evil")',
            answers={"hobbies": ["jazz"]},
            contact={"email": "ada@example.org", "phone": "+44 1"},
            share=["email"],
        ),
        "bob": join(
            client,
            event,
            "Bob",
            answers={"hobbies": ["jazz"]},
            contact={"email": "bob@example.org", "url": "https://bob.example"},
            share=["url"],
        ),
        "cy": join(
            client,
            event,
            "Cy",
            answers={"hobbies": ["chess"]},
            contact={"email": "cy@example.org"},
            share=["email"],
        ),
        "di": join(
            client,
            event,
            "Di",
            answers={"hobbies": ["chess"]},
            contact={"email": "di@example.org"},
            share=["email"],
        ),
    }
    start_round(client, event, 1)
    return event, people


def _partner(client: TestClient, person: Person) -> str:
    me = client.get("/api/v1/me", headers=person.auth).json()
    partner: str = me["round"]["partners"][0]["attendee_id"]
    return partner


def _interest(client: TestClient, person: Person, other: str) -> None:
    response = client.post("/api/v1/me/interest", headers=person.auth, json={"attendee_id": other})
    assert response.status_code == 200


def _csv_rows(client: TestClient, event: EventHandle) -> list[dict[str, str]]:
    response = client.get(f"/api/v1/events/{event.id}/export/connections.csv", headers=event.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_lists_meetings_with_contacts_only_on_connections(client: TestClient) -> None:
    event, people = _mixer(client)
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    partner_of_ada = _partner(client, ada)
    assert partner_of_ada == bob.id  # jazz with jazz
    _interest(client, ada, bob.id)
    _interest(client, bob, ada.id)
    _interest(client, cy, _partner(client, cy))  # one way only
    rows = _csv_rows(client, event)
    assert len(rows) == 2
    jazz = next(r for r in rows if "Ada" in (r["person_a"], r["person_b"]))
    assert jazz["connection"] == "yes"
    assert jazz["common_ground"].casefold() == "outside work i love: jazz"
    a_side = "a" if jazz["person_a"] == "Ada" else "b"
    b_side = "b" if a_side == "a" else "a"
    assert jazz[f"{a_side}_email"] == "ada@example.org"
    assert jazz[f"{a_side}_phone"] == ""  # not consented
    assert jazz[f"{b_side}_url"] == "https://bob.example"
    assert jazz[f"{b_side}_email"] == ""  # not consented
    # A cell that would run as a formula is neutralised.
    assert jazz[f"organisation_{a_side}"].startswith("'=")
    chess = next(r for r in rows if r is not jazz)
    assert chess["connection"] == "no"
    assert {chess["a_asked_to_stay_in_touch"], chess["b_asked_to_stay_in_touch"]} == {"yes", "no"}
    assert "cy@example.org" not in str(rows)
    assert "di@example.org" not in str(rows)


def test_json_export_has_meetings_and_each_persons_connections(client: TestClient) -> None:
    event, people = _mixer(client)
    ada, bob = people["ada"], people["bob"]
    _interest(client, ada, bob.id)
    _interest(client, bob, ada.id)
    response = client.get(f"/api/v1/events/{event.id}/export/connections.json", headers=event.auth)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert len(body["meetings"]) == 2
    directory = {p["name"]: p for p in body["people"]}
    assert [c["name"] for c in directory["Ada"]["connections"]] == ["Bob"]
    assert directory["Ada"]["connections"][0]["contact"] == {
        "email": None,
        "phone": None,
        "url": "https://bob.example",
    }
    assert directory["Cy"]["connections"] == []


def test_withdrawn_consent_applies_to_later_exports(client: TestClient) -> None:
    event, people = _mixer(client)
    ada, bob = people["ada"], people["bob"]
    _interest(client, ada, bob.id)
    _interest(client, bob, ada.id)
    assert "ada@example.org" in str(_csv_rows(client, event))
    client.patch("/api/v1/me", headers=ada.auth, json={"share": []})
    assert "ada@example.org" not in str(_csv_rows(client, event))


def test_deleted_attendee_leaves_every_export(client: TestClient) -> None:
    event, people = _mixer(client)
    ada, bob = people["ada"], people["bob"]
    _interest(client, ada, bob.id)
    _interest(client, bob, ada.id)
    assert client.delete("/api/v1/me", headers=ada.auth).status_code == 204
    rows = _csv_rows(client, event)
    assert "Ada" not in str(rows)
    assert "ada@example.org" not in str(rows)
    body = client.get(f"/api/v1/events/{event.id}/export/connections.json", headers=event.auth)
    assert "Ada" not in body.text
    vcf = client.get("/api/v1/me/connections.vcf", headers=bob.auth)
    assert vcf.content == b""


def test_vcards_round_trip_with_consented_fields_only(client: TestClient) -> None:
    _event, people = _mixer(client)
    ada, bob = people["ada"], people["bob"]
    _interest(client, ada, bob.id)
    assert client.get("/api/v1/me/connections.vcf", headers=ada.auth).content == b""
    _interest(client, bob, ada.id)
    response = client.get("/api/v1/me/connections.vcf", headers=bob.auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/vcard")
    cards = list(vobject.readComponents(response.content.decode()))
    assert len(cards) == 1
    card = cards[0]
    assert card.fn.value == "Ada"
    assert card.email.value == "ada@example.org"
    assert not hasattr(card, "tel")  # phone given but not consented
    assert card.org.value == ['=HYPERLINK("http://evil")']


def test_exports_need_the_organiser_and_vcards_an_attendee(client: TestClient) -> None:
    event, people = _mixer(client)
    other = create_event(client)
    for suffix in ("csv", "json"):
        url = f"/api/v1/events/{event.id}/export/connections.{suffix}"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=other.auth).status_code == 403
        assert client.get(url, headers=people["ada"].auth).status_code == 403
    assert client.get("/api/v1/me/connections.vcf").status_code == 401
    assert client.get("/api/v1/me/connections.vcf", headers=event.auth).status_code == 401
