"""One read of an event's whole state, shared by every live stream of that event.

When a round starts, hundreds of phones wake at once. Each would otherwise load the whole
roster and every round to build its own view; instead the first one loads a snapshot and
the others reuse it until the event changes again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import models
from app.db import Database
from app.schemas import Counts
from app.services import events as event_service


@dataclass(frozen=True)
class Snapshot:
    """An event's state, read in one transaction. Once its session has closed, its objects
    are detached: read them, never change them."""

    event: models.Event
    people: dict[str, models.Attendee]
    rounds: list[models.Round]
    interests: frozenset[tuple[str, str]]

    @property
    def status(self) -> event_service.EventStatus:
        if self.event.finished_at is not None:
            return "finished"
        return "running" if self.rounds else "waiting"

    @property
    def counts(self) -> Counts:
        presence = [p.presence for p in self.people.values()]
        return Counts(
            joined=len(presence),
            present=presence.count("present"),
            on_break=presence.count("break"),
            left=presence.count("left"),
            registered=presence.count("registered"),
        )

    def interests_of(self, attendee_id: str) -> tuple[set[str], set[str]]:
        outgoing = {b for a, b in self.interests if a == attendee_id}
        incoming = {a for a, b in self.interests if b == attendee_id}
        return outgoing, incoming


def load(session: Session, event_id: str) -> Snapshot:
    event = event_service.get_event(session, event_id)
    people = {
        a.id: a
        for a in session.scalars(
            select(models.Attendee)
            .where(models.Attendee.event_id == event_id)
            .order_by(models.Attendee.joined_at, models.Attendee.id)
        )
    }
    rounds = list(
        session.scalars(
            select(models.Round)
            .where(models.Round.event_id == event_id)
            .order_by(models.Round.index)
            .options(selectinload(models.Round.groups))
        )
    )
    interests = frozenset(
        (a, b)
        for a, b in session.execute(
            select(models.Interest.from_id, models.Interest.to_id).where(
                models.Interest.event_id == event_id
            )
        )
    )
    return Snapshot(event=event, people=people, rounds=rounds, interests=interests)


class SnapshotCache:
    """The latest snapshot per event, valid until the broker says the event changed.

    `generation(event_id)` counts the changes the broker has delivered; a snapshot records
    the generation it was loaded at (read before loading, so a change that lands during
    the load makes the next caller load again).
    """

    def __init__(self, db: Database, generation: Callable[[str], int]) -> None:
        self._db = db
        self._generation = generation
        self._entries: dict[str, tuple[int, Snapshot]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, event_id: str, *, version: int | None = None) -> Snapshot:
        """The current snapshot; with `version` (the event's, just read from the database),
        also reload if the cached one is older, whatever the broker has heard so far."""
        with self._guard:
            lock = self._locks.setdefault(event_id, threading.Lock())
        with lock:
            wanted = self._generation(event_id)
            cached = self._entries.get(event_id)
            if (
                cached is not None
                and cached[0] == wanted
                and (version is None or cached[1].event.version >= version)
            ):
                return cached[1]
            with self._db.reading() as session:
                snapshot = load(session, event_id)
            self._entries[event_id] = (wanted, snapshot)
            return snapshot

    def forget(self, event_id: str) -> None:
        self._entries.pop(event_id, None)
