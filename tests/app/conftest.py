"""Fixtures for the service: a fresh database per test (SQLite file, or a clean PostgreSQL
schema), a frozen clock, and helpers to create events and attendees."""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from app.clock import FrozenClock
from app.config import Settings
from app.main import create_app

# The server to test against; each test run makes a database of its own on it (so two runs
# at once, say a developer's and CI's, never drop each other's tables) and drops it after.
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
_RUN_DATABASE: str | None = None


def _run_database() -> str:
    """This test run's own database (created once, dropped when the run ends)."""
    global _RUN_DATABASE
    if _RUN_DATABASE is None:
        name = f"commonground_test_{os.getpid()}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()

        def drop() -> None:
            engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()

        atexit.register(drop)
        _RUN_DATABASE = (
            make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        )
    return _RUN_DATABASE


def postgres_or_skip() -> str:
    global _PG
    if _PG is None:
        _PG = _postgres_available()
    if not _PG:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI=true but {POSTGRES_URL} is unreachable")
        pytest.skip("PostgreSQL is not running here (set COMMONGROUND_TEST_POSTGRES)")
    url = _run_database()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


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
