"""Engine and sessions: SQLite (WAL, busy timeout, writers take the lock up front) or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_core import from_json
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.realtime import CHANNEL

if TYPE_CHECKING:
    import anyio

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


T = TypeVar("T")


def transaction_memo(session: Session) -> dict[Any, Any]:
    """A dictionary that lives as long as the session's current outermost transaction: what
    holds until it ends (an event it has locked, a version it has already raised). A new
    transaction of the same session starts with an empty one."""
    transaction = session.get_transaction()
    if transaction is None:  # none begun yet: nothing to remember it by
        return {}
    held = session.info.get("transaction_memo")
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info["transaction_memo"] = held
    memo: dict[Any, Any] = held[1]
    return memo


class WriteBatches:
    """Short writes that arrive together under one key (a join code) share one transaction:
    a room joining at once takes the write lock, begins, commits and wakes the event's
    streams once per batch instead of once per person, and no writer sleeps in SQLite's
    busy handler waiting for another join. Each write runs in a SAVEPOINT of its own: one
    that raises is undone alone, and its error goes to its own caller; the others commit
    together. One batch per key at a time (one event's row lock: no deadlock between
    batches), at most `size` writes in it; batches of different keys run side by side,
    at most as many as `limiter` lets."""

    def __init__(
        self,
        db: Database,
        *,
        limiter: anyio.CapacityLimiter,
        publish: Callable[[Iterable[str]], None],
        size: int = 200,
    ) -> None:
        self._db = db
        self._limiter = limiter
        self._publish = publish
        self._size = size
        self._pending: dict[str, list[tuple[Callable[[Session], Any], asyncio.Future[Any]]]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def run(self, key: str, write: Callable[[Session], T]) -> T:
        """`write`'s result once its batch has committed (or its error)."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((write, done))
        if key not in self._draining:
            self._draining[key] = asyncio.create_task(self._drain(key))
        return await done

    async def _drain(self, key: str) -> None:
        import anyio.to_thread  # the server's, not the command line's

        try:
            while waiting := self._pending.pop(key, None):
                batch, rest = waiting[: self._size], waiting[self._size :]
                if rest:
                    self._pending[key] = rest
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self._write, [write for write, _ in batch], limiter=self._limiter
                    )
                except BaseException as error:  # the commit failed: every write of it did
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue  # the caller has gone
                    if ok:
                        done.set_result(value)
                    else:
                        done.set_exception(value)
        finally:
            del self._draining[key]

    def _write(self, writes: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self._db.writing() as session:
            for write in writes:
                try:
                    with session.begin_nested():
                        outcomes.append((True, write(session)))
                except Exception as error:  # undone alone; raised again for its own caller
                    outcomes.append((False, error))
                    # Undone with it: any row lock it took (PostgreSQL releases the locks of
                    # a savepoint rolled back) and what it remembered for the transaction.
                    # The next write locks and reads again.
                    transaction_memo(session).clear()
            changed = set(session.info.get("changed_events", ()))
        self._publish(changed)
        return outcomes


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


class VersionsUnavailable(Exception):
    """PostgreSQL could not be asked for versions now (the caller asks the ordinary way)."""


class EventVersions:
    """Events' versions as PostgreSQL has them, read on the event loop: what SqliteChanges is
    to SQLite, for several workers (a snapshot at least that new is current, whichever
    worker made the last change).

    One connection of its own, one query at a time. A caller waits for the first query
    sent *after* it asked, so it sees every write committed before it asked (read-your-
    writes across workers, not "at most N ms old"); every caller that asks while a query is
    out shares the next one, so 50 phones asking at once cost one query, not 50 worker-
    thread trips. A database error reaches the callers as VersionsUnavailable, and the next
    query opens a new connection."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None  # psycopg.AsyncConnection, imported on first use
        self._next: asyncio.Future[dict[str, int]] | None = None
        self._wanted: set[str] = set()
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, event_id: str) -> int | None:
        """The event's version now (None: no such event)."""
        self._wanted.add(event_id)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        batch = self._next
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        versions = await asyncio.shield(batch)
        return versions.get(event_id)

    async def _run(self) -> None:
        batch: asyncio.Future[dict[str, int]] | None = None
        try:
            while self._next is not None:
                batch, wanted = self._next, self._wanted
                self._next, self._wanted = None, set()
                try:
                    found = await self._query(sorted(wanted))
                except VersionsUnavailable as error:
                    await self.close()
                    batch.set_exception(error)
                    batch.exception()  # retrieved: no warning when every caller has gone
                else:
                    batch.set_result(found)
        finally:
            self._runner = None
            for waiting in (batch, self._next):
                if waiting is not None and not waiting.done():
                    waiting.cancel()  # stopping: nobody is left to answer them

    async def _query(self, event_ids: list[str]) -> dict[str, int]:
        import psycopg

        try:
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            cursor = await self._connection.execute(
                "SELECT id, version FROM events WHERE id = ANY(%s)", (event_ids,)
            )
            rows = await cursor.fetchall()
        except psycopg.Error as error:
            raise VersionsUnavailable(str(error)) from error
        return {str(row[0]): int(row[1]) for row in rows}

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


def _json_loads(text: str | bytes) -> Any:
    """JSON columns as `json.loads` reads them, with their keys (a table's reasons: "kind",
    "label", "answer", ...) shared between documents, not made again for each: a snapshot
    holds every table of every round, and its decoded JSON was a third of it (pydantic-core's
    parser and its string cache). Keys only: the cache lives as long as the process, and
    values are people's answers and contact details, which must go when they are deleted."""
    return from_json(text, cache_strings="keys")


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
            # The connection used last is used next: each holds a page cache of its own
            # (512 KiB), and those of connections seldom used then stay empty, where a pool
            # taking them in turn fills every one. (A 1000-phone soak showed no difference
            # in memory either way: docs/benchmarks.md, fourth pass.)
            pool_use_lifo=True,
            json_deserializer=_json_loads,
        )
        _sqlite_pragmas(engine)
    else:
        engine = create_engine(
            url,
            pool_size=10,
            max_overflow=30,
            pool_pre_ping=True,
            json_deserializer=_json_loads,
        )
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
        # A page cache of 512 KiB per connection, not SQLite's 2 MiB: the pool holds 40, and
        # each grew with the event's rounds (up to 80 MiB in all). In WAL mode a connection's
        # cache is dropped whenever another commits, so a larger one bought little; the
        # operating system caches the file anyway.
        cursor.execute("PRAGMA cache_size=-512")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades to a
        # writer later can fail with "database is locked" no matter the busy timeout.
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
