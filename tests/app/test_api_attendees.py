"""Joining, the roster, the attendee's own page, presence, interest and connections."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app.conftest import create_event, join, start_round


def test_join_returns_token_and_personal_link(client: TestClient) -> None:
    event = create_event(client)
    response = client.post(
        f"/api/v1/join/{event.join_code.lower()}",
        json={
            "name": "  Priya   Shah ",
            "organisation": "Acme Bio",
            "answers": {"hobbies": ["Jazz", "hiking", "jazz "]},
            "contact": {"email": "priya@example.org", "phone": "+44 1234"},
            "share": ["email"],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"attendee_id", "token", "links"}
    assert body["links"]["me"].startswith("http://test/me?token=")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert me["attendee"]["name"] == "Priya Shah"
    # Answers are kept once each, as the chips show them.
    assert me["attendee"]["answers"] == {"hobbies": ["jazz", "hiking"]}
    assert me["attendee"]["contact"] == {
        "email": "priya@example.org",
        "phone": "+44 1234",
        "url": None,
    }
    assert me["attendee"]["share"] == ["email"]
    assert me["attendee"]["presence"] == "present"
    assert me["event"]["status"] == "waiting"
    assert me["event"]["joined"] == 1
    assert me["round"] is None


def test_join_validates_answers_against_the_questions(client: TestClient) -> None:
    event = create_event(
        client,
        questions=[
            {"key": "hobbies", "label": "Outside work I love", "kind": "shared"},
            {
                "key": "level",
                "label": "Seniority",
                "kind": "different",
                "suggestions": ["junior", "senior"],
                "free": False,
            },
        ],
    )
    url = f"/api/v1/join/{event.join_code}"
    unknown = client.post(url, json={"name": "A", "answers": {"hobby": ["x"]}})
    assert unknown.status_code == 422
    assert "unknown question key 'hobby'" in unknown.json()["detail"]
    fixed = client.post(url, json={"name": "A", "answers": {"level": ["CEO"]}})
    assert fixed.status_code == 422
    assert client.post(url, json={"name": "A", "answers": {"level": ["Senior"]}}).status_code == 201


def test_join_rejects_bad_text_and_unknown_codes(client: TestClient) -> None:
    event = create_event(client)
    url = f"/api/v1/join/{event.join_code}"
    assert client.post(url, json={"name": "evil\u202etxt"}).status_code == 422
    assert client.post(url, json={"name": "bell\x07"}).status_code == 422
    assert client.post(url, json={"name": "   "}).status_code == 422
    assert client.post(url, json={"name": "A", "contact": {"email": "nope"}}).status_code == 422
    assert (
        client.post(url, json={"name": "A", "contact": {"url": "javascript:x"}}).status_code == 422
    )
    assert client.post(url, json={"name": "A", "share": ["fax"]}).status_code == 422
    assert (
        client.post(url, json={"name": "A", "answers": {"hobbies": ["x" * 101]}}).status_code == 422
    )
    missing = client.post("/api/v1/join/ZZZZZZ", json={"name": "A"})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no event has this join code"}


def test_names_are_nfkc_normalised(client: TestClient) -> None:
    event = create_event(client)
    person = join(client, event, "\uff30\uff52\uff49\uff59\uff41")  # fullwidth "Priya"
    me = client.get("/api/v1/me", headers=person.auth).json()
    assert me["attendee"]["name"] == "Priya"


def test_roster_shows_no_contact_details(client: TestClient) -> None:
    event = create_event(client)
    join(client, event, "Ada", contact={"email": "ada@example.org"}, share=["email"])
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert [a["name"] for a in roster] == ["Ada"]
    assert "contact" not in roster[0]
    assert "ada@example.org" not in str(roster)


def test_walk_up_check_in_and_removal(client: TestClient) -> None:
    event = create_event(client)
    walk_up = client.post(
        f"/api/v1/events/{event.id}/attendees",
        headers=event.auth,
        json={"name": "Walk Up", "presence": "registered"},
    )
    assert walk_up.status_code == 201
    attendee_id = walk_up.json()["attendee_id"]
    checked = client.patch(
        f"/api/v1/events/{event.id}/attendees/{attendee_id}",
        headers=event.auth,
        json={"presence": "present"},
    )
    assert checked.status_code == 200
    assert checked.json()["presence"] == "present"
    gone = client.delete(f"/api/v1/events/{event.id}/attendees/{attendee_id}", headers=event.auth)
    assert gone.status_code == 204
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert roster == []
    again = client.delete(f"/api/v1/events/{event.id}/attendees/{attendee_id}", headers=event.auth)
    assert again.status_code == 404


def test_presence_decides_who_is_matched_next(client: TestClient) -> None:
    event = create_event(client)
    people = [join(client, event, name) for name in ("A", "B", "C", "D", "E")]
    away = client.post("/api/v1/me/presence", headers=people[4].auth, json={"state": "break"})
    assert away.status_code == 200
    assert away.json()["attendee"]["presence"] == "break"
    started = start_round(client, event, 1)
    placed = {m["attendee_id"] for g in started["groups"] for m in g["members"]}
    assert placed == {p.id for p in people[:4]}
    assert (
        client.post(
            "/api/v1/me/presence", headers=people[4].auth, json={"state": "gone"}
        ).status_code
        == 422
    )


def test_me_shows_table_partner_and_common_ground(client: TestClient) -> None:
    event = create_event(client)
    priya = join(
        client,
        event,
        "Priya",
        organisation="Acme Bio",
        answers={"hobbies": ["jazz"], "offers": ["fundraising"]},
        contact={"email": "p@example.org"},
        share=["email"],
    )
    sam = join(client, event, "Sam", answers={"hobbies": ["Jazz"], "seeks": ["fundraising"]})
    start_round(client, event, 1)
    me = client.get("/api/v1/me", headers=sam.auth).json()
    current = me["round"]
    assert current["index"] == 1
    assert current["of"] == 6
    assert current["phase"] == "changeover"
    assert current["phase_ends_at"] == "2026-06-01T18:01:00Z"
    assert current["server_time"] == "2026-06-01T18:00:00Z"
    assert current["table"] == "1"
    partner = current["partners"][0]
    assert (partner["attendee_id"], partner["name"], partner["organisation"]) == (
        priya.id,
        "Priya",
        "Acme Bio",
    )
    # "jazz" and "Jazz" are one answer, shown as one of the two spellings.
    assert [t.casefold() for t in partner["common_ground"]] == [
        "priya can help with fundraising",
        "outside work i love: jazz",
    ]
    # No contact details travel before a mutual connection.
    assert "p@example.org" not in str(me)


def test_me_says_when_the_round_ends_and_when_the_next_starts_by_itself(
    client: TestClient,
) -> None:
    # 18:00 start, a 60 s changeover and 240 s of talk: the round ends at 18:05.
    for auto, rounds, next_at in (
        (False, 6, None),
        (True, 6, "2026-06-01T18:05:00Z"),
        (True, 1, None),  # the last round: nothing comes next
    ):
        event = create_event(client, auto_advance=auto, rounds=rounds, odd="sit_out")
        people = [join(client, event, name) for name in ("Ada", "Bob", "Cy")]
        start_round(client, event, 1)
        for person in people:
            current = client.get("/api/v1/me", headers=person.auth).json()["round"]
            assert current["ends_at"] == "2026-06-01T18:05:00Z"
            assert current["next_starts_at"] == next_at


def test_answers_are_stored_as_the_chips_show_them(client: TestClient) -> None:
    event = create_event(client)
    cats = [
        join(client, event, name, answers={"hobbies": [typed]})
        for name, typed in (("Ada", "CATS"), ("Bob", " cats "), ("Cy", "Cats"))
    ]
    shown = [client.get("/api/v1/me", headers=p.auth).json()["attendee"]["answers"] for p in cats]
    assert shown == [{"hobbies": ["cats"]}] * 3
    # The matcher still finds the answer they share (three people: one trio).
    start_round(client, event, 1)
    partners = client.get("/api/v1/me", headers=cats[0].auth).json()["round"]["partners"]
    assert [p["common_ground"] for p in partners] == [["Outside work I love: cats"]] * 2
    # A suggestion keeps its own spelling ("board games"); free text reads in lower case.
    other = create_event(client)
    di = join(
        client, other, "Di", answers={"hobbies": ["Board Game", "Élan VITAL"], "topics": ["DATA"]}
    )
    assert client.get("/api/v1/me", headers=di.auth).json()["attendee"]["answers"] == {
        "hobbies": ["board games", "élan vital"],
        "topics": ["data"],
    }


def test_mutual_interest_makes_a_connection_with_consented_contacts_only(
    client: TestClient,
) -> None:
    event = create_event(client)
    ada = join(
        client, event, "Ada", contact={"email": "ada@example.org", "phone": "123"}, share=["email"]
    )
    bob = join(client, event, "Bob", contact={"url": "https://bob.example"}, share=[])
    start_round(client, event, 1)
    one_way = client.post("/api/v1/me/interest", headers=ada.auth, json={"attendee_id": bob.id})
    assert one_way.status_code == 200
    assert one_way.json()["connections"] == []
    assert one_way.json()["met"][0]["interested"] is True
    both = client.post("/api/v1/me/interest", headers=bob.auth, json={"attendee_id": ada.id})
    connection = both.json()["connections"]
    assert connection == [
        {
            "attendee_id": ada.id,
            "name": "Ada",
            "organisation": "",
            "contact": {"email": "ada@example.org", "phone": None, "url": None},
        }
    ]
    ada_view = client.get("/api/v1/me", headers=ada.auth).json()
    assert ada_view["connections"][0]["contact"] == {"email": None, "phone": None, "url": None}
    withdrawn = client.post(
        "/api/v1/me/interest", headers=ada.auth, json={"attendee_id": bob.id, "interested": False}
    )
    assert withdrawn.json()["connections"] == []


def test_interest_only_in_people_met(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    bob = join(client, event, "Bob")
    response = client.post("/api/v1/me/interest", headers=ada.auth, json={"attendee_id": bob.id})
    assert response.status_code == 403
    assert (
        client.post(
            "/api/v1/me/interest", headers=ada.auth, json={"attendee_id": ada.id}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/me/interest", headers=ada.auth, json={"attendee_id": "nobody"}
        ).status_code
        == 404
    )


def test_update_and_delete_me(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    bob = join(client, event, "Bob")
    changed = client.patch(
        "/api/v1/me",
        headers=ada.auth,
        json={
            "organisation": "Engines Ltd",
            "contact": {"email": "a@example.org"},
            "share": ["email"],
        },
    )
    assert changed.status_code == 200
    assert changed.json()["attendee"]["organisation"] == "Engines Ltd"
    start_round(client, event, 1)
    assert client.delete("/api/v1/me", headers=ada.auth).status_code == 204
    assert client.get("/api/v1/me", headers=ada.auth).status_code == 401
    rounds = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    names = [m["name"] for m in rounds[0]["groups"][0]["members"]]
    assert sorted(names) == ["Bob", "Someone who left"]
    assert client.get("/api/v1/me", headers=bob.auth).json()["met"] == []
