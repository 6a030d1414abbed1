"""Statistics per round: conversations, mutual connections, pairs with common ground."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.app.conftest import EventHandle, Person, create_event, join, start_round


def _stats(client: TestClient, event: EventHandle) -> dict[str, Any]:
    response = client.get(f"/api/v1/events/{event.id}/stats", headers=event.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _connect(client: TestClient, first: Person, second: Person) -> None:
    for me, other in ((first, second), (second, first)):
        response = client.post(
            "/api/v1/me/interest",
            headers=me.auth,
            json={"attendee_id": other.id, "interested": True},
        )
        assert response.status_code == 200, response.text


def test_each_round_counts_conversations_connections_and_common_ground(
    client: TestClient,
) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada", answers={"hobbies": ["jazz"]})
    bob = join(client, event, "Bob", answers={"hobbies": ["jazz"]})
    join(client, event, "Cy", answers={"hobbies": ["chess"]})
    join(client, event, "Di", answers={"hobbies": ["golf"]})
    assert _stats(client, event)["rounds"] == []
    first = start_round(client, event, 1)
    pairs = {frozenset(m["name"] for m in g["members"]) for g in first["groups"]}
    assert frozenset({"Ada", "Bob"}) in pairs  # the only pair with common ground
    _connect(client, ada, bob)
    start_round(client, event, 2)
    stats = _stats(client, event)
    assert stats["rounds"][0] == {
        "index": 1,
        "conversations": 2,
        "mutual_connections": 1,
        "pairs_with_common_ground": 1,
        "share_with_common_ground": 0.5,
    }
    assert stats["rounds"][1]["conversations"] == 2
    assert stats["rounds"][1]["mutual_connections"] == 0
    assert stats["totals"]["conversations"] == 4
    assert stats["totals"]["mutual_connections"] == 1
    assert stats["purged_at"] is None
    display = client.get(f"/api/v1/events/{event.id}/display?key={event.projector_key}").json()
    assert display["totals"] == {"conversations": 4, "connections": 1}


def test_a_trio_holds_three_conversations_and_counts_its_pairs_apart(
    client: TestClient,
) -> None:
    event = create_event(client)
    for name, hobby in (("Ada", "jazz"), ("Bob", "jazz"), ("Cy", "chess")):
        join(client, event, name, answers={"hobbies": [hobby]})
    start_round(client, event, 1)
    figures = _stats(client, event)["rounds"][0]
    assert figures["conversations"] == 3
    assert figures["pairs_with_common_ground"] == 1
    assert figures["share_with_common_ground"] == round(1 / 3, 4)


def test_statistics_need_the_organiser(client: TestClient) -> None:
    event = create_event(client)
    assert client.get(f"/api/v1/events/{event.id}/stats").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get(f"/api/v1/events/{event.id}/stats", headers=wrong).status_code == 403
