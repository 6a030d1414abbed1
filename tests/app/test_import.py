"""Guest-list import: recognised columns, corrections, per-row errors, all or nothing."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.app.conftest import EventHandle, create_event

EVENTBRITE = (
    "\ufeffOrder #,First Name,Last Name,Email,Company,Outside work I love\r\n"
    "1001,Priya,Shah,priya@example.org,Acme Bio,jazz; hiking\r\n"
    '1002,Kofi,Mensah,kofi@example.org,,"chess, poetry"\r\n'
)


def _upload(client: TestClient, event: EventHandle, text: str | bytes, **params: Any) -> Any:
    body = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/api/v1/events/{event.id}/attendees/import",
        headers={**event.auth, "Content-Type": "text/csv"},
        content=body,
        params=params,
    )


def _roster(client: TestClient, event: EventHandle) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = client.get(
        f"/api/v1/events/{event.id}/attendees", headers=event.auth
    ).json()
    return body


def test_eventbrite_export_is_recognised_and_imported(client: TestClient) -> None:
    event = create_event(client)
    response = _upload(client, event, EVENTBRITE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mapping"] == {
        "Order #": "ignore",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Company": "organisation",
        "Outside work I love": "answers:hobbies",
    }
    assert [a["name"] for a in body["attendees"]] == ["Priya Shah", "Kofi Mensah"]
    roster = {a["name"]: a for a in _roster(client, event)}
    assert roster["Priya Shah"]["presence"] == "registered"
    assert roster["Priya Shah"]["organisation"] == "Acme Bio"
    assert roster["Priya Shah"]["answers"] == {"hobbies": ["jazz", "hiking"]}
    assert roster["Kofi Mensah"]["answers"] == {"hobbies": ["chess", "poetry"]}
    # Each imported person has a working personal link; nothing is shared by default.
    token = body["attendees"][0]["token"]
    assert body["attendees"][0]["link"] == f"http://test/me?token={token}"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["attendee"]["contact"]["email"] == "priya@example.org"
    assert me["attendee"]["share"] == []


def test_pretix_semicolon_export_is_recognised(client: TestClient) -> None:
    event = create_event(client)
    text = (
        "Order code;Attendee name;E-mail;Company;Phone number\n"
        "AB12;Ada Lovelace;ada@example.org;Engines;+44 1\n"
    )
    body = _upload(client, event, text).json()
    assert body["mapping"]["Attendee name"] == "name"
    assert body["mapping"]["E-mail"] == "email"
    assert body["mapping"]["Phone number"] == "phone"
    assert [a["name"] for a in body["attendees"]] == ["Ada Lovelace"]


def test_luma_export_prefers_the_full_name(client: TestClient) -> None:
    event = create_event(client)
    text = (
        "api_id,name,first_name,last_name,email,phone_number\n"
        "g-1,Mei Tanaka,Mei,Tanaka,mei@example.org,\n"
    )
    body = _upload(client, event, text).json()
    assert body["mapping"]["name"] == "name"
    assert body["mapping"]["api_id"] == "ignore"
    assert [a["name"] for a in body["attendees"]] == ["Mei Tanaka"]


def test_organiser_corrects_the_mapping(client: TestClient) -> None:
    event = create_event(client)
    text = "Teilnehmer,Firma,Hobbys\nJonas Berg,Globex,Segeln\n"
    guessed = _upload(client, event, text, dry_run="true")
    assert guessed.status_code == 422  # no name column recognised
    corrected = _upload(
        client,
        event,
        text,
        mapping=json.dumps(
            {"Teilnehmer": "name", "Firma": "organisation", "Hobbys": "answers:hobbies"}
        ),
    )
    assert corrected.status_code == 201
    (jonas,) = _roster(client, event)
    assert (jonas["name"], jonas["organisation"], jonas["answers"]) == (
        "Jonas Berg",
        "Globex",
        {"hobbies": ["segeln"]},  # as the chips show answers
    )


def test_dry_run_checks_without_saving(client: TestClient) -> None:
    event = create_event(client)
    response = _upload(client, event, EVENTBRITE, dry_run="true")
    assert response.status_code == 200
    assert response.json()["rows"] == 2
    assert response.json()["attendees"] == []
    assert _roster(client, event) == []


def test_bad_rows_are_all_reported_and_nothing_is_imported(client: TestClient) -> None:
    event = create_event(client)
    text = (
        "Name,Email\n"
        "Good Person,good@example.org\n"
        ",nobody@example.org\n"
        "Bad Mail,not-an-address\n"
        "Bidi \u202eName,x@example.org\n"
    )
    response = _upload(client, event, text)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [row["line"] for row in detail] == [3, 4, 5]
    assert detail[0]["field"] == "name"
    assert detail[1]["field"] == "contact.email"
    assert detail[1]["msg"] == "not an email address"
    assert _roster(client, event) == []


def test_unreadable_files_are_clear_errors(client: TestClient) -> None:
    event = create_event(client)
    cases: list[tuple[bytes, str]] = [
        ("Name\nCafé\n".encode("latin-1"), "not UTF-8"),
        (b"\n", "empty"),
        (b"Name,Name\nA,B\n", "same name"),
    ]
    for body, message in cases:
        response = _upload(client, event, body)
        assert response.status_code == 422
        assert message in response.json()["detail"]
    nothing = _upload(client, event, b"")
    assert nothing.status_code == 422
    assert nothing.json()["detail"][0]["loc"] == ["body"]
    bad_mapping = _upload(client, event, "Name\nA\n", mapping=json.dumps({"Name": "shoe_size"}))
    assert bad_mapping.status_code == 422
    assert "shoe_size" in bad_mapping.json()["detail"]
    not_json = _upload(client, event, "Name\nA\n", mapping="{oops")
    assert not_json.status_code == 422


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    names=st.lists(
        st.from_regex(r"[A-Za-z][A-Za-z ]{0,20}", fullmatch=True), min_size=1, max_size=8
    ),
    bad_at=st.integers(min_value=0, max_value=7),
)
def test_one_bad_row_imports_nothing(client: TestClient, names: list[str], bad_at: int) -> None:
    event = create_event(client)
    rows = [f"{name},ok{i}@example.org" for i, name in enumerate(names)]
    rows.insert(min(bad_at, len(rows)), "Broken Row,not-an-email")
    response = _upload(client, event, "Name,Email\n" + "\n".join(rows) + "\n")
    assert response.status_code == 422
    assert _roster(client, event) == []
