"""Events: create, read, update; who may act on them."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import models
from app.db import transaction_memo
from app.errors import Conflict, Forbidden, NotFound, Unauthorised
from app.schemas import EventCreate, EventUpdate, QuestionSpec
from app.security import new_id, new_join_code, new_token, projector_key_for, token_hash
from matching.model import same_organisation_rule

EventStatus = Literal["waiting", "running", "finished"]


def mark_changed(session: Session, event: models.Event) -> None:
    """Record that an event changed: its version goes up and, after commit, streams wake.

    The version goes up once per transaction, however many changes it makes (a batch of
    200 joins: one UPDATE, not 200): a commit's changes become visible together, and the
    version only tells a reader that what it holds is older. Once *still in effect*: a
    savepoint rolled back with the raise undoes it (the event is reloaded), and the next
    change raises it again."""
    before = transaction_memo(session).setdefault(("version", event.id), event.version or 0)
    if (event.version or 0) <= before:
        event.version = before + 1
    session.info.setdefault("changed_events", set()).add(event.id)


def same_organisation_setting(stored: str) -> bool | Literal["strict"]:
    if stored == "forbid":
        return "strict"
    return stored == "avoid"


def _tables(value: int | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, int):
        return [str(i + 1) for i in range(value)]
    return list(value)


def create_event(
    *, session: Session, data: EventCreate, now: datetime
) -> tuple[models.Event, str, str]:
    """A new event, its organiser token and its projector key (both shown once)."""
    organiser_token = new_token()
    event_id = new_id()
    projector_key = projector_key_for(organiser_token, event_id)
    for _ in range(20):
        code = new_join_code()
        taken = session.scalar(select(models.Event.id).where(models.Event.join_code == code))
        if taken is None:
            break
    else:  # pragma: no cover - 31^6 codes
        raise Conflict("could not find a free join code; try again")
    event = models.Event(
        id=event_id,
        name=data.name,
        starts_at=data.starts_at,
        rounds=data.rounds,
        round_seconds=data.round_seconds,
        changeover_seconds=data.changeover_seconds,
        group_size=data.group_size,
        odd=data.odd,
        same_organisation=same_organisation_rule(data.avoid_same_organisation),
        tables=_tables(data.tables),
        questions=[q.model_dump() for q in data.questions],
        keep_apart=[],
        must_meet=[],
        auto_advance=data.auto_advance,
        seed=int.from_bytes(bytes.fromhex(event_id)[:4], "big") & 0x7FFFFFFF,
        join_code=code,
        organiser_token_hash=token_hash(organiser_token),
        projector_key_hash=token_hash(projector_key),
        created_at=now,
        finished_at=None,
        version=0,
    )
    session.add(event)
    try:
        session.flush()
    except IntegrityError:  # pragma: no cover - a join code raced in between
        raise Conflict("could not create the event; try again") from None
    return event, organiser_token, projector_key


def get_event(session: Session, event_id: str, *, lock: bool = False) -> models.Event:
    query = select(models.Event).where(models.Event.id == event_id)
    if lock:
        # Locked reads also refresh a copy this session already holds: a decision taken
        # under the lock must see what another server committed before it (e.g. a purge).
        query = query.with_for_update().execution_options(populate_existing=True)
    event = session.scalar(query)
    if event is None:
        raise NotFound("no such event")
    return event


def organiser_event(
    session: Session, event_id: str, token: str | None, *, lock: bool = False
) -> models.Event:
    """The event, if `token` is its organiser token."""
    if not token:
        raise Unauthorised("organiser token required")
    event = get_event(session, event_id, lock=lock)
    if not hmac.compare_digest(event.organiser_token_hash, token_hash(token)):
        raise Forbidden("this token is not the organiser token of this event")
    return event


def projector_event(session: Session, event_id: str, key: str | None) -> models.Event:
    if not key:
        raise Unauthorised("projector key required")
    event = get_event(session, event_id)
    if not hmac.compare_digest(event.projector_key_hash, token_hash(key)):
        raise Forbidden("this key is not the projector key of this event")
    return event


def event_by_join_code(session: Session, code: str, *, lock: bool = False) -> models.Event:
    """The event of a join code; with `lock`, locked as `get_event` locks it, once per
    transaction (the joins of one batch share the transaction, and the lock)."""
    memo = transaction_memo(session)
    if lock and ("joining", code) in memo:
        locked: models.Event = memo[("joining", code)]
        return locked
    query = select(models.Event).where(models.Event.join_code == code)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    event = session.scalar(query)
    if event is None:
        raise NotFound("no event has this join code")
    if lock:
        memo[("joining", code)] = event
    return event


def status(session: Session, event: models.Event) -> EventStatus:
    if event.finished_at is not None:
        return "finished"
    started = session.scalar(
        select(func.count()).select_from(models.Round).where(models.Round.event_id == event.id)
    )
    return "running" if started else "waiting"


def update_event(*, session: Session, event: models.Event, data: EventUpdate) -> models.Event:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "questions" in changes and changes["questions"] is not None:
        joined = session.scalar(
            select(func.count())
            .select_from(models.Attendee)
            .where(models.Attendee.event_id == event.id)
        )
        if joined:
            raise Conflict("questions cannot change once people have joined")
        event.questions = [
            QuestionSpec.model_validate(q).model_dump() for q in changes["questions"]
        ]
    for rule in ("keep_apart", "must_meet"):
        if rule in changes and changes[rule] is not None:
            known = set(
                session.scalars(
                    select(models.Attendee.id).where(models.Attendee.event_id == event.id)
                )
            )
            for a, b in changes[rule]:
                for person in (a, b):
                    if person not in known:
                        raise NotFound(f"{rule}: no attendee {person!r} in this event")
                if a == b:
                    raise Conflict(f"{rule}: a pair needs two different people")
            setattr(event, rule, [sorted(p) for p in changes[rule]])
    if "rounds" in changes and changes["rounds"] is not None:
        done = session.scalar(
            select(func.max(models.Round.index)).where(models.Round.event_id == event.id)
        )
        if done and changes["rounds"] < done:
            raise Conflict(f"rounds: {done} rounds have already started")
    simple = (
        "name",
        "starts_at",
        "rounds",
        "round_seconds",
        "changeover_seconds",
        "group_size",
        "odd",
        "auto_advance",
    )
    for field in simple:
        if field in changes and (changes[field] is not None or field == "starts_at"):
            setattr(event, field, changes[field])
    if changes.get("avoid_same_organisation") is not None:
        event.same_organisation = same_organisation_rule(changes["avoid_same_organisation"])
    if "tables" in changes:
        event.tables = _tables(changes["tables"])
    if event.printed_plan and (
        "tables" in changes or any(changes.get(f) is not None for f in ("group_size", "odd"))
    ):
        # The paper no longer fits the event: its groups or tables would be wrong.
        event.printed_plan = None
    mark_changed(session, event)
    session.flush()
    return event
