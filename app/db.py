"""Engine and sessions: SQLite (WAL, busy timeout, writers take the lock up front) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.realtime import CHANNEL

_WRITE = "commonground_write"


@dataclass(frozen=True)
class Database:
    """The engine and the two kinds of session: readers, and writers."""

    engine: Engine
    read: sessionmaker[Session]
    write: sessionmaker[Session]

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on any error."""
        with self.write() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.read() as session, session.begin():
            yield session


class SqliteChanges:
    """SQLite's `PRAGMA data_version` on a connection of its own: it changes whenever any
    other connection, of this process or another (the command line), commits. Reading it
    touches no disk (a counter in the WAL's shared memory), so the event loop may ask it
    on every request. SQLite's default serialized mode lets worker threads ask too."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def __call__(self) -> int:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, check_same_thread=False)
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def create_database(settings: Settings) -> Database:
    """Pools hold up to 40 connections: more than the sessions requests may hold at once
    (app.deps READERS + WRITERS), so the live streams' short reads always find one."""
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # Kept open, never closed after a peak and opened again: a server near its
            # open-file limit could not open them again (app/fdlimit.py opens them at start).
            pool_size=40,
            max_overflow=0,
        )
        _sqlite_pragmas(engine)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True)
    writer = engine.execution_options(**{_WRITE: True})
    write = sessionmaker(writer, expire_on_commit=False)
    if not settings.is_sqlite:
        _notify_on_commit(write)
    return Database(engine=engine, read=sessionmaker(engine, expire_on_commit=False), write=write)


def _notify_on_commit(factory: sessionmaker[Session]) -> None:
    """On PostgreSQL, a write that changed events sends NOTIFY in its own transaction: every
    worker's LISTEN hears of it exactly when (and only if) it commits."""

    @event.listens_for(factory, "before_commit")
    def _notify(session: Session) -> None:
        for event_id in sorted(session.info.get("changed_events", ())):
            session.execute(
                text("SELECT pg_notify(:channel, :event_id)"),
                {"channel": CHANNEL, "event_id": event_id},
            )


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted personal data (delete-me, purges) is overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades to a
        # writer later can fail with "database is locked" no matter the busy timeout.
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
