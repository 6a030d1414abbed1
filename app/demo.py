"""A demo mixer a newcomer can click through: made-up attendees, optionally live."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

from sqlalchemy import select

from app import models
from app.clock import Clock
from app.db import Database
from app.schemas import Contact, EventCreate, JoinRequest
from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services import rounds as round_service
from app.services import views
from matching.synthetic import FIRST, LAST, synthetic_room


@dataclass(frozen=True)
class DemoLinks:
    event_id: str
    organiser: str
    projector: str
    join: str
    attendee: str
    attendee_name: str


def _readable(answers: tuple[str, ...]) -> list[str]:
    # The made-up rooms mark one-off answers with a number ("poetry 49"); people would not.
    return sorted({re.sub(r" \d+$", "", answer) for answer in answers})


def seed(db: Database, clock: Clock, *, public_url: str, people: int, live: bool) -> DemoLinks:
    """Create the demo event and its attendees; returns the links to print (on `public_url`)."""
    room = synthetic_room(people, seed=7)
    with db.writing() as session:
        event, token, _ = event_service.create_event(
            session=session,
            data=EventCreate(
                name="Common Ground demo mixer",
                rounds=6,
                round_seconds=90 if live else 240,
                changeover_seconds=20 if live else 60,
                auto_advance=live,
            ),
            now=clock.now(),
        )
        first: tuple[str, str] | None = None
        for i, person in enumerate(room.attendees):
            handle = f"guest{i + 1}"
            request = JoinRequest(
                # Distinct names (the made-up rooms may repeat one), so the demo reads clearly.
                name=f"{FIRST[i % len(FIRST)]} {LAST[(7 * i) % len(LAST)]}",
                organisation=person.organisation,
                answers={k: _readable(v) for k, v in person.answers.items()},
                contact=Contact(email=f"{handle}@example.org"),
                share=["email"] if i % 2 == 0 else [],
            )
            attendee, personal = attendee_service.join(
                session=session, event=event, data=request, now=clock.now()
            )
            if first is None:
                first = (attendee.name, personal)
        assert first is not None
        links = views.links(public_url, event, token)
        return DemoLinks(
            event_id=event.id,
            organiser=links.organiser,
            projector=links.projector,
            join=links.join,
            attendee=views.me_link(public_url, first[1]),
            attendee_name=first[0],
        )


def simulate(db: Database, clock: Clock, event_id: str, stop: threading.Event) -> None:
    """Keep made-up attendees busy: breaks and returns, stay-in-touch requests, and the first
    round started; auto-advance runs the rest."""
    rng = random.Random(7)
    while not stop.wait(3.0):
        with db.writing() as session:
            event = event_service.get_event(session, event_id, lock=True)
            if event.finished_at is not None:
                return
            if round_service.current_round(session, event) is None:
                round_service.start_next(
                    session=session, event=event, now=clock.now(), expected_index=1
                )
                continue
            people = list(
                session.scalars(select(models.Attendee).where(models.Attendee.event_id == event_id))
            )
            person = rng.choice(people)
            if rng.random() < 0.15:
                new = "break" if person.presence == "present" else "present"
                attendee_service.update_attendee(
                    session=session, event=event, attendee=person, changes={"presence": new}
                )
                continue
            met = views.met_ids(session, event, person)
            if met:
                attendee_service.set_interest(
                    session=session,
                    event=event,
                    attendee=person,
                    other_id=rng.choice(sorted(met)),
                    interested=True,
                    met=met,
                    now=clock.now(),
                )
