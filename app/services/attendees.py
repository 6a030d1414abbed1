"""Attendees: joining, walk-ups, profiles, presence, interest in people met."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import models
from app.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorised
from app.schemas import Contact, JoinRequest, MeUpdate
from app.security import attendee_token_for, new_id, new_token, token_hash
from app.services import consent
from app.services.events import mark_changed
from matching.scoring import display, normalise


def shown_answer(value: str, suggestions: dict[str, str]) -> str:
    """An answer as the chips show it: the suggestion's own spelling when it is one (by the
    matcher's normalisation, keyed in `suggestions`), else in lower case with tidy spacing.

    The matcher compares normalised answers, so it sees no change.
    """
    key = normalise(value)
    if key in suggestions:
        return suggestions[key]
    lowered = display(value).lower()
    # Lower case keeps the comparison key; the check makes sure of it in every script.
    return lowered if normalise(lowered) == key else display(value)


def check_answers(event: models.Event, answers: dict[str, list[str]]) -> dict[str, list[str]]:
    """Answers for the event's questions only, each stored once and as it will be shown;
    fixed-choice questions take their suggestions."""
    questions = {q["key"]: q for q in event.questions}
    cleaned: dict[str, list[str]] = {}
    for key, values in answers.items():
        question = questions.get(key)
        if question is None:
            raise Invalid(f"answers: unknown question key {key!r}")
        suggestions: dict[str, str] = {}
        for suggestion in question.get("suggestions", []):
            suggestions.setdefault(normalise(suggestion), suggestion)
        if not question.get("free", True):
            for value in values:
                if normalise(value) not in suggestions:
                    raise Invalid(f"answers.{key}: {value!r} is not one of the choices")
        unique: dict[str, str] = {}
        for value in values:
            unique.setdefault(normalise(value), shown_answer(value, suggestions))
        if unique:
            cleaned[key] = list(unique.values())
    return cleaned


def join(
    *,
    session: Session,
    event: models.Event,
    data: JoinRequest,
    now: datetime,
    presence: str = "present",
    token: str | None = None,
    added_by_organiser: bool = False,
    attendee_id: str | None = None,
) -> tuple[models.Attendee, str]:
    """A new attendee and their token (shown once; or the given one, derived by the caller)."""
    if event.finished_at is not None:
        raise Conflict("this event has finished")
    token = token or new_token()
    attendee = models.Attendee(
        id=attendee_id or new_id(),
        event_id=event.id,
        name=data.name,
        organisation=data.organisation,
        answers=check_answers(event, data.answers),
        contact=data.contact.model_dump(exclude_none=True),
        share=list(data.share),
        token_hash=token_hash(token),
        presence=presence,
        joined_at=now,
    )
    consent.record(
        attendee=attendee,
        before=(),
        after=attendee.share,
        now=now,
        by_organiser=added_by_organiser,
    )
    session.add(attendee)
    mark_changed(session, event)
    session.flush()
    return attendee, token


def add_by_organiser(
    *,
    session: Session,
    event: models.Event,
    data: JoinRequest,
    now: datetime,
    presence: str,
    organiser_token: str,
) -> tuple[models.Attendee, str]:
    """Someone the organiser adds (walk-up, guest list) gets a token derived from the
    organiser token, so the console and the links export can show their link again later."""
    attendee_id = new_id()
    return join(
        session=session,
        event=event,
        data=data,
        now=now,
        presence=presence,
        attendee_id=attendee_id,
        token=attendee_token_for(organiser_token, attendee_id),
        added_by_organiser=True,
    )


def token_for_organiser(attendee: models.Attendee, organiser_token: str) -> str | None:
    """The token of someone the organiser added, derived again; None for someone who joined
    on their own phone (their token exists only there)."""
    token = attendee_token_for(organiser_token, attendee.id)
    return token if hmac.compare_digest(attendee.token_hash, token_hash(token)) else None


def attendee_by_token(session: Session, token: str | None) -> models.Attendee:
    if not token:
        raise Unauthorised("attendee token required")
    attendee = session.scalar(
        select(models.Attendee).where(models.Attendee.token_hash == token_hash(token))
    )
    if attendee is None:
        raise Unauthorised("unknown or expired attendee token")
    return attendee


@dataclass(frozen=True)
class Caller:
    """Who an attendee token belongs to, and the version of their event at that moment."""

    attendee_id: str
    event_id: str
    event_version: int


def caller_by_token(session: Session, token: str | None) -> Caller:
    """One query for the hot read path: the token's attendee and their event's version (a
    snapshot at least that new is current, whichever worker made the last change)."""
    if not token:
        raise Unauthorised("attendee token required")
    row = session.execute(
        select(models.Attendee.id, models.Attendee.event_id, models.Event.version)
        .join(models.Event, models.Event.id == models.Attendee.event_id)
        .where(models.Attendee.token_hash == token_hash(token))
    ).first()
    if row is None:
        raise Unauthorised("unknown or expired attendee token")
    return Caller(attendee_id=row[0], event_id=row[1], event_version=row[2])


def organiser_attendee(session: Session, event: models.Event, attendee_id: str) -> models.Attendee:
    attendee = session.get(models.Attendee, attendee_id)
    if attendee is None or attendee.event_id != event.id:
        raise NotFound("no such attendee in this event")
    return attendee


def roster(session: Session, event: models.Event) -> list[models.Attendee]:
    return list(
        session.scalars(
            select(models.Attendee)
            .where(models.Attendee.event_id == event.id)
            .order_by(models.Attendee.joined_at, models.Attendee.id)
        )
    )


def update_attendee(
    *, session: Session, event: models.Event, attendee: models.Attendee, changes: dict[str, Any]
) -> models.Attendee:
    if changes.get("name") is not None:
        attendee.name = changes["name"]
    if changes.get("organisation") is not None:
        attendee.organisation = changes["organisation"]
    if changes.get("answers") is not None:
        attendee.answers = check_answers(event, changes["answers"])
    if changes.get("presence") is not None:
        attendee.presence = changes["presence"]
    mark_changed(session, event)
    session.flush()
    return attendee


def update_me(
    *,
    session: Session,
    event: models.Event,
    attendee: models.Attendee,
    data: MeUpdate,
    now: datetime,
) -> models.Attendee:
    changes = data.model_dump(exclude_unset=True)
    update_attendee(
        session=session,
        event=event,
        attendee=attendee,
        changes={k: changes.get(k) for k in ("name", "organisation", "answers")},
    )
    if data.contact is not None:
        attendee.contact = data.contact.model_dump(exclude_none=True)
    if data.share is not None:
        share = sorted(set(data.share))
        consent.record(attendee=attendee, before=attendee.share, after=share, now=now)
        attendee.share = share
    session.flush()
    return attendee


def remove(*, session: Session, event: models.Event, attendee: models.Attendee) -> None:
    """Remove an attendee and what only they own; past groups keep an anonymous place."""
    session.execute(
        delete(models.Interest).where(
            (models.Interest.from_id == attendee.id) | (models.Interest.to_id == attendee.id)
        )
    )
    session.delete(attendee)
    mark_changed(session, event)
    session.flush()


def set_interest(
    *,
    session: Session,
    event: models.Event,
    attendee: models.Attendee,
    other_id: str,
    interested: bool,
    met: set[str],
    now: datetime,
) -> bool:
    """Record (or withdraw) interest in someone met; True when it is now mutual."""
    if other_id == attendee.id:
        raise Invalid("attendee_id: that is you")
    other = session.get(models.Attendee, other_id)
    if other is None or other.event_id != event.id:
        raise NotFound("no such attendee in this event")
    if other_id not in met:
        raise Forbidden("you can only stay in touch with people you have met")
    existing = session.scalar(
        select(models.Interest).where(
            models.Interest.from_id == attendee.id, models.Interest.to_id == other_id
        )
    )
    if interested and existing is None:
        session.add(
            models.Interest(event_id=event.id, from_id=attendee.id, to_id=other_id, created_at=now)
        )
    elif not interested and existing is not None:
        session.delete(existing)
    mark_changed(session, event)
    session.flush()
    back = session.scalar(
        select(models.Interest.id).where(
            models.Interest.from_id == other_id, models.Interest.to_id == attendee.id
        )
    )
    return interested and back is not None


def interests_of(session: Session, attendee: models.Attendee) -> tuple[set[str], set[str]]:
    """Whom this attendee asked to stay in touch with, and who asked for them."""
    outgoing = set(
        session.scalars(select(models.Interest.to_id).where(models.Interest.from_id == attendee.id))
    )
    incoming = set(
        session.scalars(select(models.Interest.from_id).where(models.Interest.to_id == attendee.id))
    )
    return outgoing, incoming


def shared_contact(attendee: models.Attendee) -> Contact:
    """Only the contact fields this attendee consented to share."""
    given = attendee.contact or {}
    return Contact.model_validate({k: v for k, v in given.items() if k in attendee.share})
