"""Transactions: an event's version rises once per transaction, and the joins of a batch
(app.db.WriteBatches) share one, each undone alone when it fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import suppress

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.clock import FrozenClock
from app.db import Database, WriteBatches, transaction_memo
from app.errors import Conflict, NotFound
from app.schemas import JoinRequest
from app.services import attendees, events
from tests.app.conftest import EventHandle, create_event


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    return db


def _version(db: Database, event_id: str) -> int:
    with db.reading() as session:
        return events.get_event(session, event_id).version


@pytest.fixture
def event(client: TestClient) -> tuple[EventHandle, Database, int]:
    """An event, the database, and the event's version now."""
    created = create_event(client)
    db = _db(client)
    return created, db, _version(db, created.id)


def test_a_transaction_raises_the_version_once_however_many_changes_it_makes(
    event: tuple[EventHandle, Database, int],
) -> None:
    created, db, before = event
    with db.writing() as session:
        found = events.get_event(session, created.id, lock=True)
        for _ in range(3):
            events.mark_changed(session, found)
    assert _version(db, created.id) == before + 1
    with db.writing() as session:  # the next transaction raises it again
        events.mark_changed(session, events.get_event(session, created.id, lock=True))
    assert _version(db, created.id) == before + 2


def test_a_raise_undone_with_its_savepoint_is_made_again(
    event: tuple[EventHandle, Database, int],
) -> None:
    created, db, before = event
    with db.writing() as session:
        found = events.get_event(session, created.id, lock=True)
        with suppress(RuntimeError), session.begin_nested():
            events.mark_changed(session, found)
            session.flush()
            raise RuntimeError("this change is undone")
        events.mark_changed(session, found)
    assert _version(db, created.id) == before + 1


def test_a_session_used_for_two_transactions_raises_the_version_in_each(
    event: tuple[EventHandle, Database, int],
) -> None:
    created, db, before = event
    with db.write() as session:
        for _ in range(2):
            with session.begin():
                events.mark_changed(session, events.get_event(session, created.id, lock=True))
    assert _version(db, created.id) == before + 2


def test_the_memo_lasts_as_long_as_the_outermost_transaction(client: TestClient) -> None:
    db = _db(client)
    with db.write() as session:
        # None begun yet: nothing is remembered, so nothing outlives a transaction.
        transaction_memo(session)["not kept"] = 1
        assert transaction_memo(session) == {}
        with session.begin():
            memo = transaction_memo(session)
            memo["kept"] = 1
            with session.begin_nested():
                assert transaction_memo(session) is memo
        with session.begin():
            assert transaction_memo(session) == {}


def test_a_batch_of_joins_shares_one_lock_and_a_failed_join_is_undone_alone(
    client: TestClient, clock: FrozenClock
) -> None:
    event = create_event(client)
    db = _db(client)
    before = _version(db, event.id)
    published: list[str] = []

    def joining(name: str, *, fail: bool = False) -> Callable[[Session], str]:
        def write(session: Session) -> str:
            found = events.event_by_join_code(session, event.join_code, lock=True)
            if fail:  # after it changed the event: its raise must not count for the rest
                events.mark_changed(session, found)
                session.flush()
                raise Conflict("this join fails")
            person, _ = attendees.join(
                session=session, event=found, data=JoinRequest(name=name), now=clock.now()
            )
            return person.id

        return write

    async def batch() -> list[str | BaseException]:
        batches = WriteBatches(db, limiter=anyio.CapacityLimiter(2), publish=published.extend)
        writes = [joining("Fails first", fail=True), joining("Ada"), joining("Grace")]
        return await asyncio.gather(
            *(batches.run(event.join_code, write) for write in writes), return_exceptions=True
        )

    failed, ada, grace = asyncio.run(batch())
    assert isinstance(failed, Conflict)
    assert isinstance(ada, str)
    assert isinstance(grace, str)
    assert published == [event.id]  # one commit, one wake-up
    assert _version(db, event.id) == before + 1
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert sorted(person["name"] for person in roster) == ["Ada", "Grace"]


def _locked_elsewhere(database_url: str, event_id: str) -> bool:
    """Whether another connection, not waiting, finds the event locked for writing."""
    sqlite = database_url.startswith("sqlite")
    engine = create_engine(database_url, connect_args={"timeout": 0} if sqlite else {})
    try:
        with engine.connect() as connection:
            if sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(
                    text("SELECT id FROM events WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": event_id},
                )
            connection.rollback()
        return False
    except OperationalError:
        return True
    finally:
        engine.dispose()


def test_after_a_failed_join_the_next_of_its_batch_holds_the_event_lock_again(
    client: TestClient, clock: FrozenClock, database_url: str
) -> None:
    """PostgreSQL releases the row lock taken in a savepoint that is rolled back: the next
    join of the batch must take it again, or a finish or purge could commit in the middle
    of the batch and people join a finished event."""
    event = create_event(client)
    db = _db(client)
    locked: list[bool] = []

    def fails(session: Session) -> str:
        events.event_by_join_code(session, event.join_code, lock=True)
        raise Conflict("this join fails after taking the lock")

    def joins(session: Session) -> str:
        found = events.event_by_join_code(session, event.join_code, lock=True)
        locked.append(_locked_elsewhere(database_url, event.id))
        person, _ = attendees.join(
            session=session, event=found, data=JoinRequest(name="Ada"), now=clock.now()
        )
        return person.id

    async def batch() -> list[str | BaseException]:
        batches = WriteBatches(db, limiter=anyio.CapacityLimiter(2), publish=lambda _ids: None)
        return await asyncio.gather(
            *(batches.run(event.join_code, write) for write in (fails, joins)),
            return_exceptions=True,
        )

    failed, joined = asyncio.run(batch())
    assert isinstance(failed, Conflict)
    assert isinstance(joined, str)
    assert locked == [True]


def test_an_unknown_join_code_is_not_found_locked_or_not(client: TestClient) -> None:
    db = _db(client)
    for lock in (False, True):
        with db.writing() as session, pytest.raises(NotFound):
            events.event_by_join_code(session, "NOSUCH", lock=lock)


def test_json_columns_read_as_json_loads_reads_them_sharing_their_keys() -> None:
    from app.db import _json_loads

    document = json.dumps(
        {
            "reasons": [{"kind": "shared", "label": "Hobbies", "answer": "jazz ♪ café"}],
            "gains": {"a1": 0.1, "b2": 1e-7, "c3": 12345678901234567890, "d4": -2.5},
            "members": ["a1", "b2"],
            "none": None,
            "flags": [True, False],
        }
    )
    first, second = _json_loads(document), _json_loads(document.encode())
    assert first == second == json.loads(document)
    (key,) = (k for k in first["reasons"][0] if k == "label")
    assert key is next(k for k in second["reasons"][0] if k == "label")
    # Values (answers, contact details) are not kept by the process-wide cache.
    assert first["reasons"][0]["answer"] is not second["reasons"][0]["answer"]
