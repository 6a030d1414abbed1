"""Retention: an event's personal data is deleted some days after it ends, or at once.

What goes: every attendee (name, organisation, answers, contacts, consent records), their
interests and "already know" pairs, the common ground of past tables, the printed plan and
the event's pair rules. What stays: the event's settings and its figures (kept in
`summary`), and the rounds' shape with anonymous member ids, so the statistics and the
projector's totals still read right.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import models
from app.errors import Conflict
from app.services import series, snapshot
from app.services.events import get_event, mark_changed
from app.services.stats import event_stats


def last_activity(session: Session, event: models.Event) -> datetime:
    """When anything last happened in an event (or is planned to: its start time)."""
    times = [event.created_at, event.starts_at, event.finished_at]
    times.append(
        session.scalar(
            select(func.max(models.Round.ends_at)).where(models.Round.event_id == event.id)
        )
    )
    times.append(
        session.scalar(
            select(func.max(models.Attendee.joined_at)).where(models.Attendee.event_id == event.id)
        )
    )
    return max(_aware(t) for t in times if t is not None)


def _aware(value: datetime) -> datetime:
    # Aggregates bypass the column type on SQLite: their datetimes come back naive, in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def purge_due_at(session: Session, event: models.Event, *, days: int) -> datetime | None:
    """When the event's personal data will go (None once it has)."""
    if event.purged_at is not None:
        return None
    start = event.finished_at or last_activity(session, event)
    return start + timedelta(days=days)


def due_events(session: Session, *, now: datetime, days: int) -> list[models.Event]:
    """Events whose personal data is due for deletion: finished `days` ago or more, or not
    finished but untouched that long (an event nobody ended)."""
    found = []
    for event in session.scalars(select(models.Event).where(models.Event.purged_at.is_(None))):
        due = purge_due_at(session, event, days=days)
        if due is not None and due <= now:
            found.append(event)
    return found


def purge(*, session: Session, event: models.Event, now: datetime) -> int:
    """Delete the event's personal data now; returns how many attendees were removed."""
    if event.purged_at is not None:
        raise Conflict("this event's personal data has already been deleted")
    figures = event_stats(snapshot.load(session, event.id))
    # The series remembers who met whom among its members, and how each one fared, after
    # the attendees go.
    series.record_meetings(session=session, event=event)
    series.record_luck(session=session, event=event)
    people = select(models.Attendee.id).where(models.Attendee.event_id == event.id)
    removed = session.scalar(select(func.count()).select_from(people.subquery())) or 0
    session.execute(delete(models.Consent).where(models.Consent.attendee_id.in_(people)))
    session.execute(delete(models.Interest).where(models.Interest.event_id == event.id))
    session.execute(delete(models.KnownPair).where(models.KnownPair.event_id == event.id))
    session.execute(delete(models.Attendee).where(models.Attendee.event_id == event.id))
    rounds = select(models.Round.id).where(models.Round.event_id == event.id)
    session.execute(
        update(models.Group).where(models.Group.round_id.in_(rounds)).values(reasons=[])
    )
    event.keep_apart = []
    event.must_meet = []
    event.printed_plan = None
    if event.finished_at is None:
        event.finished_at = now
    event.purged_at = now
    event.summary = {**figures, "purged_at": now.isoformat()}
    mark_changed(session, event)
    session.flush()
    session.expire_all()
    return removed


def purge_finished(*, session: Session, event: models.Event, now: datetime) -> int:
    """The organiser's "delete now": only once the event has ended."""
    if event.finished_at is None:
        raise Conflict("end the event first: its personal data is still in use")
    return purge(session=session, event=event, now=now)


def purge_if_due(*, session: Session, event_id: str, now: datetime, days: int) -> bool:
    """Purge one event if it is (still) due, under its lock: with several servers sweeping at
    once, or the organiser purging too, each event is purged once."""
    event = get_event(session, event_id, lock=True)
    due = purge_due_at(session, event, days=days)
    if due is None or due > now:
        return False
    purge(session=session, event=event, now=now)
    return True
