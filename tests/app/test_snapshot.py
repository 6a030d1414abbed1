"""The shared snapshot behind GET /me and the live streams: served from memory when that is
safe, never stale after this server's own writes, and out-of-process writes seen soon."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from sqlalchemy.exc import InvalidRequestError

from app import models
from app.clock import FrozenClock
from app.config import Settings
from app.db import create_database
from app.main import create_app
from app.schemas import MeRead
from app.security import token_hash
from app.services import snapshot, views
from app.services.snapshot import SnapshotCache
from tests.app.conftest import create_event, join, postgres_or_skip, start_round


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url=None, public_url="http://test")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        yield client


@contextmanager
def _no_database(client: TestClient) -> Iterator[None]:
    """Fail any read session opened meanwhile: what runs must come from memory."""
    db = client.app.state.db  # type: ignore[attr-defined]

    def refuse() -> Any:
        raise AssertionError("the database was read")

    original = db.read
    object.__setattr__(db, "read", refuse)
    try:
        yield
    finally:
        object.__setattr__(db, "read", original)


def test_a_known_phone_is_answered_from_memory_on_sqlite(sqlite_client: TestClient) -> None:
    event = create_event(sqlite_client)
    ada = join(sqlite_client, event, "Ada", answers={"hobbies": ["jazz"]})
    join(sqlite_client, event, "Bob", answers={"hobbies": ["jazz"]})
    start_round(sqlite_client, event, 1)
    first = sqlite_client.get("/api/v1/me", headers=ada.auth)
    assert first.status_code == 200
    with _no_database(sqlite_client):
        again = sqlite_client.get("/api/v1/me", headers=ada.auth)
    assert again.status_code == 200
    assert again.json()["round"]["partners"][0]["name"] == "Bob"
    assert again.json()["round"] == {**first.json()["round"], "server_time": ANY_TIME}


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)


ANY_TIME: Any = _AnyTime()


def test_own_writes_are_seen_at_once(sqlite_client: TestClient) -> None:
    event = create_event(sqlite_client)
    ada = join(sqlite_client, event, "Ada")
    assert sqlite_client.get("/api/v1/me", headers=ada.auth).json()["attendee"]["presence"] == (
        "present"
    )
    changed = sqlite_client.post("/api/v1/me/presence", headers=ada.auth, json={"state": "break"})
    assert changed.status_code == 200
    # The write woke the broker: the next read loads the event again, then memory serves.
    seen = sqlite_client.get("/api/v1/me", headers=ada.auth)
    assert seen.json()["attendee"]["presence"] == "break"
    with _no_database(sqlite_client):
        again = sqlite_client.get("/api/v1/me", headers=ada.auth)
    assert again.json()["attendee"]["presence"] == "break"
    deleted = sqlite_client.delete("/api/v1/me", headers=ada.auth)
    assert deleted.status_code == 204
    assert sqlite_client.get("/api/v1/me", headers=ada.auth).status_code == 401


def test_a_change_from_another_process_is_seen_at_once(sqlite_client: TestClient) -> None:
    event = create_event(sqlite_client)
    ada = join(sqlite_client, event, "Ada")
    sqlite_client.get("/api/v1/me", headers=ada.auth)
    # As the command line would: another connection, no broker.
    settings: Settings = sqlite_client.app.state.settings  # type: ignore[attr-defined]
    other = create_database(settings)
    with other.writing() as session:
        session.execute(
            update(models.Attendee).where(models.Attendee.id == ada.id).values(name="Ada L.")
        )
        session.execute(
            update(models.Event)
            .where(models.Event.id == event.id)
            .values(version=models.Event.version + 1)
        )
    other.engine.dispose()
    assert sqlite_client.get("/api/v1/me", headers=ada.auth).json()["attendee"]["name"] == (
        "Ada L."
    )


def test_on_postgresql_a_phone_is_always_checked_against_the_database(tmp_path: Path) -> None:
    # Several workers may serve one event there: only the database knows what is current.
    settings = Settings(data_dir=tmp_path, database_url=postgres_or_skip(), public_url="http://t")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        event = create_event(client)
        ada = join(client, event, "Ada")
        client.get("/api/v1/me", headers=ada.auth)
        snapshots: SnapshotCache = client.app.state.snapshots  # type: ignore[attr-defined]
        assert snapshots.person(token_hash(ada.token)) is None


def test_on_postgresql_a_known_phone_costs_a_version_read_and_sees_a_silent_write(
    tmp_path: Path,
) -> None:
    # Served from memory after reading the event's version on the event loop (no read
    # session), and a write this worker never heard of (no NOTIFY, as from another worker
    # whose notification is late) is seen by the very next request.
    settings = Settings(data_dir=tmp_path, database_url=postgres_or_skip(), public_url="http://t")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        event = create_event(client)
        ada = join(client, event, "Ada")
        assert client.get("/api/v1/me", headers=ada.auth).status_code == 200
        with _no_database(client):
            again = client.get("/api/v1/me", headers=ada.auth)
        assert again.json()["attendee"]["name"] == "Ada"
        silent = create_engine(settings.sqlalchemy_url)
        with silent.begin() as connection:
            connection.execute(
                update(models.Attendee).where(models.Attendee.id == ada.id).values(name="Ada L.")
            )
            connection.execute(
                update(models.Event)
                .where(models.Event.id == event.id)
                .values(version=models.Event.version + 1)
            )
        silent.dispose()
        seen = client.get("/api/v1/me", headers=ada.auth)
        assert seen.json()["attendee"]["name"] == "Ada L."


def test_the_plain_view_encodes_as_its_model_for_everyone_in_a_varied_room(
    sqlite_client: TestClient,
) -> None:
    # Phones get `me_json` (plain data, one encoding); the schema is `MeRead`. For every
    # person of a room with a trio, shared answers and offers, contacts shared in part,
    # mutual and one-way interest, someone gone, a break, a paused round and people met
    # earlier, the bytes must be the model's own.
    client = sqlite_client
    event = create_event(client, auto_advance=True, rounds=4)
    answers: list[dict[str, list[str]]] = [
        {"hobbies": ["jazz", "Chess"], "offers": ["Python"]},
        {"hobbies": ["jazz"], "seeks": ["python"], "topics": ["Climate"]},
        {"topics": ["climate", "AI"]},
        {},
        {"hobbies": ["chess"], "offers": ["Design"], "seeks": ["Python"]},
        {"seeks": ["design"]},
        {"hobbies": ["jazz", "chess"]},
    ]
    people = [
        join(
            client,
            event,
            name,
            answers=answers[i],
            organisation=["", "Acme", 'Zoë & Co "Ltd"'][i % 3],
            contact={"email": f"p{i}@example.org", "phone": "+44 1632 960000"},
            share=[["email"], ["email", "phone"], []][i % 3],
        )
        for i, name in enumerate(["Ada", "Bob", "Chloé", "Dev", "Eve", "Fay", "Gus"])
    ]
    start_round(client, event, 1)
    orgs = event.auth
    assert (
        client.post(
            f"/api/v1/events/{event.id}/clock", headers=orgs, json={"action": "end_round"}
        ).status_code
        == 200
    )
    snapshots: SnapshotCache = client.app.state.snapshots  # type: ignore[attr-defined]
    met = {
        person.id: [
            m["attendee_id"] for m in client.get("/api/v1/me", headers=person.auth).json()["met"]
        ]
        for person in people
    }
    for person in people[:4]:  # mutual where both ask, one-way otherwise
        for other in met[person.id]:
            client.post("/api/v1/me/interest", headers=person.auth, json={"attendee_id": other})
    start_round(client, event, 2)
    client.post("/api/v1/me/presence", headers=people[5].auth, json={"state": "break"})
    assert client.delete("/api/v1/me", headers=people[6].auth).status_code == 204
    clock: FrozenClock = client.app.state.clock  # type: ignore[attr-defined]
    clock.advance(7.25)
    for moment in ("talk", "paused"):
        if moment == "paused":
            client.post(f"/api/v1/events/{event.id}/clock", headers=orgs, json={"action": "pause"})
        shared = snapshots.get(event.id)
        assert len(shared.people) == 6
        for me in shared.people.values():
            view = views.me_view(shared, me, clock.now())
            encoded = views.me_json(shared, me, clock.now())
            assert encoded == MeRead.model_validate(view).model_dump_json().encode()
    # The room really was varied.
    seen = [views.me_view(shared, me, clock.now()) for me in shared.people.values()]
    partners = [p for view in seen for p in view["round"]["partners"]]
    assert any(p["name"] == views.GONE for p in partners)
    assert any(p["common_ground"] for p in partners)
    assert any(len(view["round"]["partners"]) == 2 for view in seen)
    assert all(view["met"] for view in seen)
    assert any(view["connections"] for view in seen)
    assert {view["round"]["phase"] for view in seen} == {"paused"}


def test_a_replaced_snapshot_is_let_go_before_the_next_is_read(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = create_event(sqlite_client)
    join(sqlite_client, event, "Ada")
    generation = {"value": 0}
    cache = SnapshotCache(
        sqlite_client.app.state.db,  # type: ignore[attr-defined]
        lambda _event_id: generation["value"],
    )
    old = weakref.ref(cache.get(event.id))
    alive_at_load: list[bool] = []
    original = snapshot.load

    def load(session: Any, event_id: str) -> snapshot.Snapshot:
        alive_at_load.append(old() is not None)
        return original(session, event_id)

    monkeypatch.setattr(snapshot, "load", load)
    join(sqlite_client, event, "Bob")
    generation["value"] += 1
    fresh = cache.get(event.id)
    assert alive_at_load == [False]
    assert sorted(p.name for p in fresh.people.values()) == ["Ada", "Bob"]


def test_freed_memory_goes_back_once_a_burst_of_changes_is_sent(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = create_event(sqlite_client)
    join(sqlite_client, event, "Ada")
    generation = {"value": 0}
    trims: list[int] = []
    monkeypatch.setattr(SnapshotCache, "TRIM_AFTER", 0.05)
    cache = SnapshotCache(
        sqlite_client.app.state.db,  # type: ignore[attr-defined]
        lambda _event_id: generation["value"],
        trim=lambda: trims.append(generation["value"]),
    )

    async def changes() -> None:
        await cache.aget(event.id)
        generation["value"] += 1  # a second change at once: one trim for both
        await cache.aget(event.id)
        await cache.aget(event.id)  # from memory: nothing new to trim
        assert trims == []
        await asyncio.sleep(0.2)
        assert trims == [1]

    asyncio.run(changes())


def test_a_snapshot_holds_its_tables_as_plain_values_and_the_views_need_no_more(
    sqlite_client: TestClient,
) -> None:
    """A snapshot holds every table of every round: as plain `Table`s (no ORM objects, no
    JSON, no gains, which are for drawing later rounds), memory grew 1.3 MiB a round of 500
    tables the other way. A round's ORM groups are never loaded into it: reading them is an
    error, not a query or an empty list."""
    event = create_event(sqlite_client)
    ada = join(sqlite_client, event, "Ada", answers={"hobbies": ["jazz"]})
    bob = join(sqlite_client, event, "Bob", answers={"hobbies": ["jazz"]})
    start_round(sqlite_client, event, 1)
    cache = SnapshotCache(sqlite_client.app.state.db, lambda _event_id: 0)  # type: ignore[attr-defined]
    shared = cache.get(event.id)
    (table,) = shared.groups(shared.rounds[0])
    assert isinstance(table, snapshot.Table)
    assert sorted(table.members) == sorted([ada.id, bob.id])
    # Each person's id is held once, by the roster, not again by every table they sat at.
    assert all(any(m is pid for pid in shared.people) for m in table.members)
    assert [(r.kind, r.answer) for r in table.reasons] == [("shared", "jazz")]
    assert not hasattr(table, "gains")
    assert not hasattr(table, "__dict__")
    assert shared.seats[ada.id] == [(shared.rounds[0], table)]
    with pytest.raises(InvalidRequestError):
        _ = shared.rounds[0].groups
    for path in ("/api/v1/me", f"/api/v1/events/{event.id}/console"):
        headers = ada.auth if path.endswith("/me") else event.auth
        assert sqlite_client.get(path, headers=headers).status_code == 200
