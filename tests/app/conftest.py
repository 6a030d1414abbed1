"""Fixtures for the service: a fresh database per test (SQLite file, or a clean PostgreSQL
schema), a frozen clock, and helpers to create events and attendees."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.clock import FrozenClock
from app.config import Settings
from app.main import create_app

POSTGRES_URL = os.environ.get(
    "COMMONGROUND_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except OperationalError:
        return False


_PG: bool | None = None


def postgres_or_skip() -> str:
    global _PG
    if _PG is None:
        _PG = _postgres_available()
    if not _PG:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI=true but {POSTGRES_URL} is unreachable")
        pytest.skip("PostgreSQL is not running here (set COMMONGROUND_TEST_POSTGRES)")
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return postgres_or_skip()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, public_url="http://test")


@pytest.fixture
def client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock, tick=False)
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class EventHandle:
    id: str
    join_code: str
    token: str
    projector_key: str
    body: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Person:
    id: str
    token: str
    name: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_event(client: TestClient, **fields: Any) -> EventHandle:
    response = client.post("/api/v1/events", json={"name": "Friday mixer", **fields})
    assert response.status_code == 201, response.text
    body = response.json()
    return EventHandle(
        id=body["id"],
        join_code=body["join_code"],
        token=body["organiser_token"],
        projector_key=body["projector_key"],
        body=body,
    )


def join(client: TestClient, event: EventHandle, name: str, **fields: Any) -> Person:
    response = client.post(f"/api/v1/join/{event.join_code}", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(id=body["attendee_id"], token=body["token"], name=name)


def start_round(client: TestClient, event: EventHandle, index: int) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/events/{event.id}/rounds", headers=event.auth, json={"expected_index": index}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
