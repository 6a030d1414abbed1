"""One read of an event's whole state, shared by every live stream of that event.

When a round starts, hundreds of phones wake at once. Each would otherwise load the whole
roster and every round to build its own view; instead the first one loads a snapshot and
the others reuse it until the event changes again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, raiseload

from app import models
from app.db import Database, VersionsUnavailable
from app.schemas import Counts, QuestionSpec
from app.services import events as event_service
from app.services.rounds import reasons_from_json
from matching.model import Reason
from matching.scoring import normalise


def answer_keys(
    person: models.Attendee, questions: list[dict[str, object]]
) -> frozenset[tuple[str, str]]:
    """A person's answers as (question label, normalised answer): a table's reasons name
    questions by label."""
    labels = {str(q["key"]): str(q["label"]) for q in questions}
    return frozenset(
        (labels.get(key, key), normalise(answer))
        for key, answers in (person.answers or {}).items()
        for answer in answers
    )


def reasons_between(
    reasons: Iterable[Reason],
    me: str,
    other: str,
    mine: frozenset[tuple[str, str]],
    theirs: frozenset[tuple[str, str]],
) -> list[Reason]:
    """Of a table's reasons, those that hold between two of its members, given their
    `answer_keys` (in a trio, not every shared answer is shared by all three)."""
    found = []
    for reason in reasons:
        if reason.kind == "offers":
            if {reason.giver, reason.receiver} == {me, other}:
                found.append(reason)
        elif reason.kind == "shared":
            key = (reason.label, normalise(reason.answer))
            if key in mine and key in theirs:
                found.append(reason)
        else:
            found.append(reason)
    return found


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a round as the views read it: plain values, its reasons parsed once.

    A snapshot holds every table of every round (each phone's list of whom it met needs
    them), so they are kept small: as ORM objects with their JSON decoded they took 2.2 KB
    a table and grew the server by 1.3 MiB a round of 500 tables (docs/benchmarks.md)."""

    id: int
    table: str
    members: tuple[str, ...]
    score: float
    reasons: tuple[Reason, ...]
    repeats: int


@dataclass(frozen=True)
class Snapshot:
    """An event's state, read in one transaction. Once its session has closed, its objects
    are detached: read them, never change them.

    Hundreds of phones' views are built from one snapshot, so what every view needs (names,
    counts, who sat where, interests) is worked out once here, on first use, and each view
    costs only its own person's rows, however large the room."""

    event: models.Event
    people: dict[str, models.Attendee]
    # Without their groups: a round's tables are `tables[round.id]` (`groups`).
    rounds: list[models.Round]
    tables: dict[int, tuple[Table, ...]]
    interests: frozenset[tuple[str, str]]

    def groups(self, round_: models.Round) -> tuple[Table, ...]:
        """A round's tables, in their order."""
        return self.tables.get(round_.id, ())

    @property
    def status(self) -> event_service.EventStatus:
        if self.event.finished_at is not None:
            return "finished"
        return "running" if self.rounds else "waiting"

    @cached_property
    def counts(self) -> Counts:
        presence = [p.presence for p in self.people.values()]
        return Counts(
            joined=len(presence),
            present=presence.count("present"),
            on_break=presence.count("break"),
            left=presence.count("left"),
            registered=presence.count("registered"),
        )

    @cached_property
    def token_hashes(self) -> dict[str, str]:
        return {p.token_hash: pid for pid, p in self.people.items() if p.token_hash}

    @cached_property
    def names(self) -> dict[str, str]:
        return {pid: p.name for pid, p in self.people.items()}

    @cached_property
    def questions(self) -> list[QuestionSpec]:
        return [QuestionSpec.model_validate(q) for q in self.event.questions]

    @cached_property
    def question_data(self) -> list[dict[str, Any]]:
        """`questions` as plain data, shared by every phone's view (never change it)."""
        return [q.model_dump() for q in self.questions]

    @cached_property
    def seats(self) -> dict[str, list[tuple[models.Round, Table]]]:
        """Each person's tables, round by round."""
        found: dict[str, list[tuple[models.Round, Table]]] = {}
        for round_ in self.rounds:
            for group in self.groups(round_):
                for member in group.members:
                    found.setdefault(member, []).append((round_, group))
        return found

    @cached_property
    def _interests(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        outgoing: dict[str, set[str]] = {}
        incoming: dict[str, set[str]] = {}
        for a, b in self.interests:
            outgoing.setdefault(a, set()).add(b)
            incoming.setdefault(b, set()).add(a)
        return outgoing, incoming

    def interests_of(self, attendee_id: str) -> tuple[set[str], set[str]]:
        """Whom this person asked to stay in touch with, and who asked them."""
        outgoing, incoming = self._interests
        return outgoing.get(attendee_id, set()), incoming.get(attendee_id, set())

    def reasons_between(self, group: Table, me: str, other: str) -> list[Reason]:
        """Of a table's reasons, those that hold between two of its members."""
        theirs = self.answer_keys.get(other)
        if theirs is None:
            return []
        mine = self.answer_keys.get(me, frozenset())
        return reasons_between(group.reasons, me, other, mine, theirs)

    @cached_property
    def answer_keys(self) -> dict[str, frozenset[tuple[str, str]]]:
        questions = self.event.questions
        return {pid: answer_keys(person, questions) for pid, person in self.people.items()}


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
            .options(raiseload(models.Round.groups))
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
    return Snapshot(
        event=event,
        people=people,
        rounds=rounds,
        tables=_tables(session, event_id, people),
        interests=interests,
    )


def _tables(
    session: Session, event_id: str, people: dict[str, models.Attendee]
) -> dict[int, tuple[Table, ...]]:
    """Every round's tables as `Table`s, read as rows, not ORM objects. Each member's gain
    is for drawing the next round, not for any view: not read. The strings and reasons that
    repeat from table to table (people's ids, a shared "jazz") are held once."""
    shared: dict[Any, Any] = {pid: pid for pid in people}
    found: dict[int, list[Table]] = {}
    # Core, not the ORM: rows one at a time, as the driver gives them, none kept.
    rows = session.connection().execute(
        select(
            models.Group.round_id,
            models.Group.id,
            models.Group.table,
            models.Group.members,
            models.Group.score,
            models.Group.reasons,
            models.Group.repeats,
        )
        .join(models.Round, models.Round.id == models.Group.round_id)
        .where(models.Round.event_id == event_id)
        .order_by(models.Group.round_id, models.Group.position)
    )
    for round_id, group_id, table, members, score, reasons, repeats in rows:
        found.setdefault(round_id, []).append(
            Table(
                id=group_id,
                table=shared.setdefault(table, table),
                members=tuple(shared.setdefault(m, m) for m in members),
                score=score,
                reasons=tuple(shared.setdefault(r, r) for r in reasons_from_json(reasons)),
                repeats=repeats,
            )
        )
    return {round_id: tuple(tables) for round_id, tables in found.items()}


class SnapshotCache:
    """The latest snapshot per event, valid until the broker says the event changed.

    `generation(event_id)` counts the changes the broker has delivered; a snapshot records
    the generation it was loaded at (read before loading, so a change that lands during
    the load makes the next caller load again).

    With `changes` (one server process: SQLite's data version, see app.db.SqliteChanges),
    a snapshot found current against the database stays current until the database changes
    at all, by this process or another (the command line's purge): until then it answers an
    attendee with no trip to a worker thread (`person`). With several workers (PostgreSQL),
    a NOTIFY from another worker may arrive after that worker's response, so a notification
    alone never proves a snapshot current: `versions` (app.db.EventVersions) reads the
    event's version from the database for every request, on the event loop and shared by
    the requests of the same moment (`aperson`).
    """

    # Tokens remembered (token hash -> attendee, event); forgotten all at once past this.
    MAX_TOKENS = 100_000
    # Seconds from a load for the event loop's callers to `trim`: their views sent meanwhile.
    TRIM_AFTER = 5.0

    def __init__(
        self,
        db: Database,
        generation: Callable[[str], int],
        *,
        changes: Callable[[], int] | None = None,
        versions: Callable[[str], Awaitable[int | None]] | None = None,
        trim: Callable[[], object] | None = None,
    ) -> None:
        self._db = db
        self._generation = generation
        self._changes = changes
        self._versions = versions
        self._entries: dict[str, tuple[int, Snapshot]] = {}
        # The database's data version when each event's snapshot was last found current.
        self._checked: dict[str, int] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Loads under way for the event loop's callers, one per event (see `aget`).
        self._loading: dict[str, asyncio.Future[Snapshot]] = {}
        # Run TRIM_AFTER seconds after a change reached the streams (`heap_trim` in the server).
        self._trim = trim
        self._trimming: asyncio.TimerHandle | None = None

    def get(self, event_id: str, *, version: int | None = None) -> Snapshot:
        """The current snapshot; with `version` (the event's, just read from the database),
        also reload if the cached one is older, whatever the broker has heard so far."""
        with self._guard:
            lock = self._locks.setdefault(event_id, threading.Lock())
        with lock:
            # Read before the check: a change landing meanwhile makes the next caller check.
            seen = self._changes() if self._changes is not None else 0
            wanted = self._generation(event_id)
            cached = self._entries.get(event_id)
            if (
                cached is not None
                and cached[0] == wanted
                and (version is None or cached[1].event.version >= version)
            ):
                if version is not None:
                    self._checked[event_id] = seen
                return cached[1]
            if cached is not None:
                # Let the old snapshot go before the new one is read, not after: the new one
                # then reuses its memory instead of growing the heap by a whole event.
                self._entries.pop(event_id, None)
                cached = None
            with self._db.reading() as session:
                snapshot = load(session, event_id)
            self._entries[event_id] = (wanted, snapshot)
            self._checked[event_id] = seen
            return snapshot

    def remember(self, token_hash: str, attendee_id: str, event_id: str) -> None:
        """Whose token this is (found in the database), for `person`."""
        if len(self._tokens) >= self.MAX_TOKENS:
            self._tokens.clear()
        self._tokens[token_hash] = (attendee_id, event_id)

    def person(self, token_hash: str) -> tuple[Snapshot, models.Attendee] | None:
        """The attendee with this token and their event's snapshot, from memory alone when
        that is safe (see the class); None sends the caller to the database."""
        changes = self._changes
        known = self._tokens.get(token_hash) if changes is not None else None
        if changes is None or known is None:
            return None
        attendee_id, event_id = known
        shared = self.current(event_id)
        if shared is None or self._checked.get(event_id) != changes():
            return None
        if shared.token_hashes.get(token_hash) != attendee_id:
            return None  # deleted or removed since: the database says what is true
        return shared, shared.people[attendee_id]

    async def aperson(self, token_hash: str) -> tuple[Snapshot, models.Attendee] | None:
        """`person` for the event loop, on either database: with `versions`, a known token's
        snapshot is served when it is at least as new as the event's version read after
        the request arrived (None when it is not, or the database cannot say now)."""
        if self._versions is None:
            return self.person(token_hash)
        known = self._tokens.get(token_hash)
        if known is None:
            return None
        attendee_id, event_id = known
        shared = self.current(event_id)
        if shared is None or shared.token_hashes.get(token_hash) != attendee_id:
            return None
        try:
            version = await self._versions(event_id)
        except VersionsUnavailable:
            return None
        if version is None or shared.event.version < version:
            return None
        return shared, shared.people[attendee_id]

    def current(self, event_id: str) -> Snapshot | None:
        """The cached snapshot if nothing has changed since it was loaded, else None."""
        cached = self._entries.get(event_id)
        if cached is not None and cached[0] == self._generation(event_id):
            return cached[1]
        return None

    async def aget(self, event_id: str) -> Snapshot:
        """`get` for the event loop: from memory when current; otherwise one load in a
        worker thread, which every caller waiting meanwhile shares (2000 phones woken by a
        round start cost one load, not 2000 threads queueing for it)."""
        found = self.current(event_id)
        if found is not None:
            return found
        from starlette.concurrency import run_in_threadpool  # the server's: not the CLI's

        loading = self._loading.get(event_id)
        if loading is None:
            loading = asyncio.ensure_future(run_in_threadpool(self.get, event_id))
            self._loading[event_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(event_id, None))
            self._trim_later()
        return await asyncio.shield(loading)

    def _trim_later(self) -> None:
        """Once a change has been sent, give what it freed back to the system (one call for
        the changes of a few seconds). glibc's malloc keeps the pages of what Python frees,
        and each change frees a snapshot and a fan-out of views: with 1000 phones, 50 MiB of
        the server's resident memory was such free memory after a few round changes, given
        back by one call of 2 ms (docs/benchmarks.md, "The soak benchmark")."""
        if self._trim is None or self._trimming is not None:
            return
        self._trimming = asyncio.get_running_loop().call_later(self.TRIM_AFTER, self._trim_now)

    def _trim_now(self) -> None:
        self._trimming = None
        if self._trim is not None:
            self._trim()  # a few milliseconds on the event loop, once per change

    def forget(self, event_id: str) -> None:
        self._entries.pop(event_id, None)
