"""Events: creating, reading and changing them; their defaults (docs/api.md)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.app.conftest import create_event, join


def test_create_event_returns_tokens_code_and_links(client: TestClient) -> None:
    event = create_event(client)
    body = event.body
    assert set(body) == {"id", "join_code", "organiser_token", "projector_key", "links"}
    assert len(body["join_code"]) == 6
    assert body["links"]["join"] == f"http://test/join/{event.join_code}"
    assert body["links"]["organiser"].startswith(f"http://test/events/{event.id}/console?token=")
    assert body["links"]["projector"].endswith(f"key={event.projector_key}")


def test_event_defaults_follow_the_spec(client: TestClient) -> None:
    event = create_event(client)
    body = client.get(f"/api/v1/events/{event.id}", headers=event.auth).json()
    assert body["rounds"] == 6
    assert body["round_seconds"] == 240
    assert body["changeover_seconds"] == 60
    assert body["group_size"] == 2
    assert body["odd"] == "trio"
    assert body["avoid_same_organisation"] is True
    assert body["auto_advance"] is False
    assert body["tables"] == []
    assert [q["key"] for q in body["questions"]] == ["hobbies", "topics", "offers", "seeks"]
    assert body["status"] == "waiting"
    assert body["counts"]["joined"] == 0
    # The organiser can see the projector link again (the key is derived, not stored).
    assert body["links"]["projector"] == event.body["links"]["projector"]


def test_create_event_with_every_field(client: TestClient) -> None:
    event = create_event(
        client,
        starts_at="2026-06-01T18:00:00+02:00",
        rounds=3,
        round_seconds=300,
        changeover_seconds=30,
        group_size=3,
        odd="sit_out",
        avoid_same_organisation="strict",
        tables=["Bar 1", "Window 2"],
        questions=[{"key": "dept", "label": "Department", "kind": "different"}],
        auto_advance=True,
    )
    body = client.get(f"/api/v1/events/{event.id}", headers=event.auth).json()
    assert body["starts_at"] == "2026-06-01T16:00:00Z"
    assert body["avoid_same_organisation"] == "strict"
    assert body["tables"] == ["Bar 1", "Window 2"]
    assert body["group_size"] == 3


def test_a_table_count_becomes_numbered_tables(client: TestClient) -> None:
    event = create_event(client, tables=3)
    body = client.get(f"/api/v1/events/{event.id}", headers=event.auth).json()
    assert body["tables"] == ["1", "2", "3"]


def test_invalid_event_is_422_with_detail(client: TestClient) -> None:
    for bad in (
        {},
        {"name": ""},
        {"name": "x", "group_size": 5},
        {"name": "x", "odd": "maybe"},
        {"name": "x", "colour": "red"},
        {"name": "x", "questions": [{"key": "o", "label": "O", "kind": "offers"}]},
        {"name": "x", "questions": []},
        {"name": "bad\u202ename"},
        {"name": "x" * 101},
    ):
        response = client.post("/api/v1/events", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/events", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "detail" in response.json()


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/api/v1/events", json={"name": "x" * 300_000})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}


def test_patch_event_changes_settings(client: TestClient) -> None:
    event = create_event(client)
    response = client.patch(
        f"/api/v1/events/{event.id}",
        headers=event.auth,
        json={"rounds": 4, "auto_advance": True, "avoid_same_organisation": False},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["rounds"], body["auto_advance"], body["avoid_same_organisation"]) == (
        4,
        True,
        False,
    )


def test_questions_are_fixed_once_people_have_joined(client: TestClient) -> None:
    event = create_event(client)
    join(client, event, "Ada")
    response = client.patch(
        f"/api/v1/events/{event.id}",
        headers=event.auth,
        json={"questions": [{"key": "x", "label": "X", "kind": "shared"}]},
    )
    assert response.status_code == 409


def test_rules_must_name_attendees_of_the_event(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    bob = join(client, event, "Bob")
    ok = client.patch(
        f"/api/v1/events/{event.id}", headers=event.auth, json={"keep_apart": [[ada.id, bob.id]]}
    )
    assert ok.status_code == 200
    assert ok.json()["keep_apart"] == [sorted([ada.id, bob.id])]
    missing = client.patch(
        f"/api/v1/events/{event.id}", headers=event.auth, json={"must_meet": [[ada.id, "nobody"]]}
    )
    assert missing.status_code == 404


def test_admin_token_guards_event_creation(settings: Settings) -> None:
    guarded = settings.model_copy(update={"admin_token": "a-long-enough-admin-token"})
    with TestClient(create_app(guarded, tick=False)) as client:
        assert client.post("/api/v1/events", json={"name": "x"}).status_code == 401
        wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
        assert client.post("/api/v1/events", json={"name": "x"}, headers=wrong).status_code == 403
        right = {"Authorization": "Bearer a-long-enough-admin-token"}
        assert client.post("/api/v1/events", json={"name": "x"}, headers=right).status_code == 201


def test_readyz_checks_the_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_security_headers_on_every_response(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    api = client.get("/api/v1/me")
    assert api.headers["cache-control"] == "no-store"
