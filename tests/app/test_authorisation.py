"""Who may do what: attendee A vs B, organiser of event 1 vs event 2, the projector key,
no token, a forged token — on every route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.app.conftest import EventHandle, Person, create_event, join, start_round

FORGED = {"Authorization": "Bearer forged-token-forged-token-forged"}


def _setup(client: TestClient) -> tuple[EventHandle, EventHandle, Person, Person]:
    first = create_event(client)
    second = create_event(client)
    a = join(client, first, "A", contact={"email": "a@example.org"}, share=["email"])
    b = join(client, first, "B", contact={"email": "b@example.org"})
    start_round(client, first, 1)
    return first, second, a, b


ORGANISER_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/events/{id}", None),
    ("PATCH", "/api/v1/events/{id}", {"name": "Renamed"}),
    ("GET", "/api/v1/events/{id}/attendees", None),
    ("POST", "/api/v1/events/{id}/attendees", {"name": "Walk Up"}),
    ("GET", "/api/v1/events/{id}/rounds", None),
    ("GET", "/api/v1/events/{id}/rounds/preview", None),
    ("POST", "/api/v1/events/{id}/rounds", {"expected_index": 2}),
    ("POST", "/api/v1/events/{id}/clock", {"action": "pause"}),
    ("GET", "/api/v1/events/{id}/export/connections.csv", None),
    ("GET", "/api/v1/events/{id}/export/connections.json", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ORGANISER_ROUTES)
def test_organiser_routes_need_this_events_organiser_token(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    first, second, a, _ = _setup(client)
    url = path.format(id=first.id)
    assert client.request(method, url, json=body).status_code == 401
    assert client.request(method, url, json=body, headers=FORGED).status_code == 403
    # The organiser of another event, and an attendee of this one, are refused.
    assert client.request(method, url, json=body, headers=second.auth).status_code == 403
    assert client.request(method, url, json=body, headers=a.auth).status_code == 403
    # Projector keys are not organiser tokens.
    projector = {"Authorization": f"Bearer {first.projector_key}"}
    assert client.request(method, url, json=body, headers=projector).status_code == 403
    unknown = path.format(id="nosuchevent")
    assert client.request(method, unknown, json=body, headers=first.auth).status_code == 404
    assert client.request(method, url, json=body, headers=first.auth).status_code < 400


def test_organiser_cannot_touch_another_events_attendee(client: TestClient) -> None:
    _first, second, a, _ = _setup(client)
    url = f"/api/v1/events/{second.id}/attendees/{a.id}"
    assert client.patch(url, headers=second.auth, json={"presence": "left"}).status_code == 404
    assert client.delete(url, headers=second.auth).status_code == 404


ATTENDEE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/me", None),
    ("PATCH", "/api/v1/me", {"organisation": "X"}),
    ("POST", "/api/v1/me/presence", {"state": "present"}),
    ("POST", "/api/v1/me/interest", {"attendee_id": "someone"}),
    ("POST", "/api/v1/me/report", {"kind": "partner_absent"}),
    ("GET", "/api/v1/me/connections.vcf", None),
    ("DELETE", "/api/v1/me", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ATTENDEE_ROUTES)
def test_attendee_routes_need_an_attendee_token(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    first, _, _, _ = _setup(client)
    assert client.request(method, path, json=body).status_code == 401
    assert client.request(method, path, json=body, headers=FORGED).status_code == 401
    assert client.request(method, path, json=body, headers=first.auth).status_code == 401


def test_every_attendee_route_reads_the_token_the_same_way(client: TestClient) -> None:
    """GET /me reads its token without FastAPI's dependencies (the hot path); the other
    routes through them: one reader, the same answer for every way of sending a token."""
    _first, _, a, _ = _setup(client)
    ways: list[tuple[dict[str, str], dict[str, str], int]] = [
        ({"Authorization": f"Bearer {a.token}"}, {}, 200),
        ({"Authorization": f"bearer   {a.token}  "}, {}, 200),
        ({"Authorization": f"Basic {a.token}"}, {}, 401),
        ({"Authorization": "Bearer"}, {}, 401),
        ({"Authorization": "Bearer "}, {"cg_token": a.token}, 200),
        ({"Authorization": f"Token {a.token}"}, {"cg_token": a.token}, 200),
        ({}, {"cg_token": a.token}, 200),
        ({}, {"cg_token": "forged"}, 401),
    ]
    for headers, cookies, expected in ways:
        client.cookies.clear()
        client.cookies.update(cookies)
        for path, whose in (("/api/v1/me", "attendee"), ("/api/v1/me/export.json", "profile")):
            got = client.get(path, headers=headers)
            assert got.status_code == expected, (path, headers, cookies, got.text)
            if expected == 200:
                assert got.json()[whose]["id"] == a.id
    client.cookies.clear()


def test_attendee_sees_only_themselves_and_their_partners(client: TestClient) -> None:
    _first, _, a, b = _setup(client)
    me = client.get("/api/v1/me", headers=a.auth).json()
    assert me["attendee"]["id"] == a.id
    assert [p["attendee_id"] for p in me["round"]["partners"]] == [b.id]
    text = str(me)
    assert "b@example.org" not in text
    assert "answers" not in str(me["round"])


def test_projector_key_reads_only_the_display(client: TestClient) -> None:
    first, second, _a, _ = _setup(client)
    url = f"/api/v1/events/{first.id}/display"
    assert client.get(url).status_code == 401
    assert client.get(url, params={"key": second.projector_key}).status_code == 403
    assert client.get(url, params={"key": first.token}).status_code == 403
    ok = client.get(url, params={"key": first.projector_key})
    assert ok.status_code == 200
    assert "example.org" not in ok.text


def test_failed_lookups_are_rate_limited_per_address(settings: Settings) -> None:
    strict = settings.model_copy(update={"failed_auth_per_minute": 5})
    with TestClient(create_app(strict, tick=False)) as client:
        codes = [client.get("/api/v1/me", headers=FORGED).status_code for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
        assert client.get("/api/v1/me", headers=FORGED).json()["detail"].startswith("too many")


def test_a_venue_behind_one_address_can_all_join(client: TestClient) -> None:
    event = create_event(client)
    codes = {
        client.post(f"/api/v1/join/{event.join_code}", json={"name": f"P{i}"}).status_code
        for i in range(300)
    }
    assert codes == {201}
