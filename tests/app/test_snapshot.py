"""The shared snapshot behind GET /me and the live streams: served from memory when that is
safe, never stale after this server's own writes, and out-of-process writes seen soon."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app import models
from app.clock import FrozenClock
from app.config import Settings
from app.db import create_database
from app.main import create_app
from app.security import token_hash
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
