"""Consent to share contact details is recorded (when, to which text); the data export."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy import select

from app import models
from app.clock import FrozenClock
from app.services.consent import BY_ORGANISER, SHARE_INTRO, consent_text
from tests.app.conftest import create_event, join, start_round


def test_joining_records_each_consent_with_the_text_shown_on_the_join_page(
    client: TestClient, clock: FrozenClock
) -> None:
    event = create_event(client)
    page = html.unescape(client.get(f"/join/{event.join_code}").text)
    # One sentence above the three boxes; a box completes it into the sentence recorded.
    assert page.count(SHARE_INTRO) == 1
    for label in ("My email address", "My phone number", "My LinkedIn or website"):
        assert label in page
    assert consent_text("email") == SHARE_INTRO.replace("what I tick", "my email address")
    ada = join(
        client,
        event,
        "Ada",
        contact={"email": "ada@example.org", "phone": "+44 1"},
        share=["email"],
    )
    data = client.get("/api/v1/me/export.json", headers=ada.auth).json()
    assert data["consents"] == [
        {
            "field": "email",
            "granted": True,
            "text": consent_text("email"),
            "recorded_at": clock.now().isoformat().replace("+00:00", "Z"),
        }
    ]


def test_withdrawing_and_giving_consent_adds_to_the_record_and_nothing_else_does(
    client: TestClient, clock: FrozenClock
) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada", contact={"email": "a@x.org", "url": "https://a.org"})
    clock.advance(60)
    changed = client.patch("/api/v1/me", headers=ada.auth, json={"share": ["email", "url"]})
    assert changed.status_code == 200, changed.text
    clock.advance(60)
    client.patch("/api/v1/me", headers=ada.auth, json={"share": ["url"]})
    # Changing the name or sending the same sharing again records nothing.
    client.patch("/api/v1/me", headers=ada.auth, json={"name": "Ada L", "share": ["url"]})
    consents = client.get("/api/v1/me/export.json", headers=ada.auth).json()["consents"]
    assert [(c["field"], c["granted"]) for c in consents] == [
        ("email", True),
        ("url", True),
        ("email", False),
    ]
    assert consents[0]["recorded_at"] < consents[2]["recorded_at"]


def test_data_export_holds_profile_people_met_and_connections(client: TestClient) -> None:
    event = create_event(client)
    ada = join(
        client,
        event,
        "Ada",
        organisation="Engines",
        answers={"hobbies": ["jazz"]},
        contact={"email": "ada@example.org"},
        share=["email"],
    )
    bob = join(
        client,
        event,
        "Bob",
        answers={"hobbies": ["jazz"]},
        contact={"email": "bob@example.org", "phone": "+1 555"},
        share=["email"],
    )
    start_round(client, event, 1)
    for me, other in ((ada, bob), (bob, ada)):
        client.post(
            "/api/v1/me/interest",
            headers=me.auth,
            json={"attendee_id": other.id, "interested": True},
        )
    response = client.get("/api/v1/me/export.json", headers=ada.auth)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert data["profile"]["name"] == "Ada"
    assert data["profile"]["contact"]["email"] == "ada@example.org"
    assert data["event"]["name"] == "Friday mixer"
    assert [(m["name"], m["round"], m["interested"]) for m in data["met"]] == [("Bob", 1, True)]
    assert data["connections"][0]["contact"] == {
        "email": "bob@example.org",
        "phone": None,
        "url": None,
    }
    assert "+1 555" not in response.text
    assert data["deleted_after"] is None  # the event has not ended


def test_data_export_needs_the_attendee(client: TestClient) -> None:
    assert client.get("/api/v1/me/export.json").status_code == 401


def test_phone_page_offers_sharing_with_the_consent_text(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    client.get(f"/me?token={ada.token}")
    page = html.unescape(client.get("/me").text)
    assert page.count(SHARE_INTRO) == 1
    assert "My LinkedIn or website" in page
    assert 'href="/api/v1/me/export.json"' in page


def test_deleting_my_data_deletes_my_consent_record(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada", contact={"email": "a@x.org"}, share=["email"])
    join(client, event, "Bob", contact={"email": "b@x.org"}, share=["email"])
    assert client.delete("/api/v1/me", headers=ada.auth).status_code == 204
    with client.app.state.db.reading() as session:  # type: ignore[attr-defined]
        rows = session.execute(select(models.Consent.attendee_id)).scalars().all()
    assert ada.id not in rows
    assert len(rows) == 1


def test_consent_ticked_by_the_organiser_for_a_walk_up_says_so(client: TestClient) -> None:
    event = create_event(client)
    added = client.post(
        f"/api/v1/events/{event.id}/attendees",
        headers=event.auth,
        json={"name": "Walk Up", "contact": {"email": "w@x.org"}, "share": ["email"]},
    )
    assert added.status_code == 201, added.text
    auth = {"Authorization": f"Bearer {added.json()['token']}"}
    (record,) = client.get("/api/v1/me/export.json", headers=auth).json()["consents"]
    assert record["text"] == consent_text("email") + BY_ORGANISER
