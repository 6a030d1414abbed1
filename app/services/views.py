"""Read models: what the organiser, an attendee and the projector each get to see."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic_core import to_json
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import models
from app.config import Settings
from app.schemas import (
    AttendeeRead,
    Clock,
    ConsoleState,
    Contact,
    Counts,
    DisplayRead,
    DisplayRow,
    DisplayTotals,
    EventRead,
    GroupRead,
    Links,
    LiveLoad,
    Member,
    MeRead,
    Preview,
    Quality,
    QuestionSpec,
    RoundRead,
)
from app.security import projector_key_for
from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services import retention
from app.services.rounds import Draw, all_rounds, clock_state, current_round, reasons_from_json
from app.services.snapshot import Snapshot, Table
from app.services.stats import event_stats
from matching.model import Reason

GONE = "Someone who left"


def links(public_url: str, event: models.Event, organiser_token: str) -> Links:
    base = public_url.rstrip("/")
    key = projector_key_for(organiser_token, event.id)
    return Links(
        organiser=f"{base}/events/{event.id}/console?token={quote(organiser_token)}",
        join=join_link(base, event.join_code),
        projector=f"{base}/events/{event.id}/projector?key={key}",
    )


def join_link(public_url: str, join_code: str) -> str:
    return f"{public_url.rstrip('/')}/join/{join_code}"


def me_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/me?token={quote(token)}"


def series_link(public_url: str, series_token: str) -> str:
    """The personal series link: opens the series' next event with the profile filled in."""
    return f"{public_url.rstrip('/')}/series/me?token={quote(series_token)}"


def _people(session: Session, event: models.Event) -> dict[str, models.Attendee]:
    return {
        a.id: a
        for a in session.scalars(
            select(models.Attendee).where(models.Attendee.event_id == event.id)
        )
    }


def _member(people: dict[str, models.Attendee], attendee_id: str) -> Member:
    person = people.get(attendee_id)
    if person is None:
        return Member(attendee_id=attendee_id, name=GONE, organisation="")
    return Member(attendee_id=attendee_id, name=person.name, organisation=person.organisation)


def _names(people: dict[str, models.Attendee]) -> dict[str, str]:
    return {pid: p.name for pid, p in people.items()}


def attendee_out(
    attendee: models.Attendee, *, organiser_token: str, public_url: str
) -> AttendeeRead:
    """A roster row; `link` is the personal link of someone the organiser added."""
    row = AttendeeRead.model_validate(attendee, from_attributes=True)
    token = attendee_service.token_for_organiser(attendee, organiser_token)
    row.link = None if token is None else me_link(public_url, token)
    return row


def counts(session: Session, event: models.Event) -> Counts:
    rows = dict(
        session.execute(
            select(models.Attendee.presence, func.count())
            .where(models.Attendee.event_id == event.id)
            .group_by(models.Attendee.presence)
        ).all()
    )
    return Counts(
        joined=sum(rows.values()),
        present=rows.get("present", 0),
        on_break=rows.get("break", 0),
        left=rows.get("left", 0),
        registered=rows.get("registered", 0),
    )


def event_read(
    session: Session,
    event: models.Event,
    *,
    settings: Settings,
    public_url: str,
    organiser_token: str,
) -> EventRead:
    latest = current_round(session, event)
    return EventRead(
        id=event.id,
        name=event.name,
        status=event_service.status(session, event),
        starts_at=event.starts_at,
        rounds=event.rounds,
        round_seconds=event.round_seconds,
        changeover_seconds=event.changeover_seconds,
        group_size=event.group_size,
        odd="sit_out" if event.odd == "sit_out" else "trio",
        avoid_same_organisation=event_service.same_organisation_setting(event.same_organisation),
        tables=list(event.tables),
        questions=[QuestionSpec.model_validate(q) for q in event.questions],
        auto_advance=event.auto_advance,
        keep_apart=[list(p) for p in event.keep_apart],
        must_meet=[list(p) for p in event.must_meet],
        join_code=event.join_code,
        current_round=None if latest is None else latest.index,
        counts=counts(session, event),
        links=links(public_url, event, organiser_token),
        purged_at=event.purged_at,
        purge_due_at=retention.purge_due_at(session, event, days=settings.retention_days),
        series_id=event.series_id,
        series_position=event.series_position,
    )


def clock(event: models.Event, round_: models.Round, now: datetime) -> Clock:
    state = clock_state(round_, now)
    return Clock(
        index=round_.index,
        of=event.rounds,
        phase=state.phase,
        paused_phase=state.paused_phase,
        remaining_seconds=state.remaining_seconds,
        started_at=round_.started_at,
        talk_starts_at=round_.talk_starts_at,
        ends_at=round_.ends_at,
        phase_ends_at=state.phase_ends_at,
        server_time=now,
    )


def _texts(reasons: Iterable[Reason], names: Mapping[str, str]) -> list[str]:
    return [r.text(names) for r in reasons]


def _group_read(
    people: dict[str, models.Attendee],
    names: Mapping[str, str],
    table: str,
    members: Sequence[str],
    score: float,
    reasons: Sequence[Reason],
    repeats: int,
) -> GroupRead:
    return GroupRead(
        table=table,
        members=[_member(people, m) for m in members],
        score=score,
        common_ground=_texts(reasons, names),
        repeats=repeats,
    )


def round_read(
    session: Session, event: models.Event, round_: models.Round, now: datetime
) -> RoundRead:
    people = _people(session, event)
    # Once per round, not per table: 1000 tables of 2000 people cost 0.45 s the other way.
    names = _names(people)
    return RoundRead(
        index=round_.index,
        clock=clock(event, round_, now),
        groups=[
            _group_read(
                people, names, g.table, g.members, g.score, reasons_from_json(g.reasons), g.repeats
            )
            for g in round_.groups
        ],
        sitting_out=[_member(people, m) for m in round_.sitting_out],
    )


def console_read(
    session: Session,
    event: models.Event,
    now: datetime,
    *,
    settings: Settings,
    public_url: str,
    organiser_token: str,
    live: LiveLoad | None = None,
) -> ConsoleState:
    latest = current_round(session, event)
    return ConsoleState(
        event=event_read(
            session,
            event,
            settings=settings,
            public_url=public_url,
            organiser_token=organiser_token,
        ),
        attendees=[
            attendee_out(a, organiser_token=organiser_token, public_url=public_url)
            for a in attendee_service.roster(session, event)
        ],
        round=None if latest is None else round_read(session, event, latest, now),
        server_time=now,
        live=live,
    )


def rounds_read(session: Session, event: models.Event, now: datetime) -> list[RoundRead]:
    return [round_read(session, event, r, now) for r in all_rounds(session, event)]


def preview_read(session: Session, event: models.Event, drawn: Draw) -> Preview:
    people = _people(session, event)
    names = _names(people)
    groups = drawn.outcome.round.groups
    odd = [g for g in groups if len(g.members) != event.group_size]
    total = sum(g.score for g in groups)
    fairness = drawn.outcome.fairness
    return Preview(
        index=drawn.index,
        groups=[
            _group_read(people, names, g.table, g.members, g.score, g.reasons, g.repeats)
            for g in groups
        ],
        quality=Quality(
            groups=len(groups),
            mean_common_ground=round(total / len(groups), 3) if groups else 0.0,
            groups_without_common_ground=sum(1 for g in groups if g.score <= 0),
            repeats=sum(g.repeats for g in groups),
            odd_group=[_member(people, m) for g in odd for m in g.members],
            sitting_out=[_member(people, m) for m in drawn.outcome.round.sitting_out],
            least_share=fairness.least_share,
            least_lucky=None
            if fairness.least_lucky is None
            else _member(people, fairness.least_lucky),
            most_empty=fairness.most_empty,
        ),
    )


# ------------------------------------------------------------------ the attendee


def me_view(snapshot: Snapshot, me: models.Attendee, now: datetime) -> dict[str, Any]:
    """An attendee's own view, from a snapshot of their event, as plain data in the shape
    and field order of `MeRead` (`me_read` validates it into one; a test holds the JSON of
    both equal for every person of a varied room).

    Only this person's rows are visited (the snapshot indexes the room once), so a round
    change costs each phone the same in a room of 40 or of 2000; and no model is built, so
    2000 phones woken by a round start cost one pass of plain dictionaries and one JSON
    encoding each (`me_json`)."""
    event = snapshot.event
    people = snapshot.people
    names = ChainMap({me.id: "You"}, snapshot.names)
    rounds = snapshot.rounds
    seats = snapshot.seats.get(me.id, [])
    outgoing, incoming = snapshot.interests_of(me.id)

    def common_ground(group: Table, other_id: str) -> list[str]:
        return _texts(snapshot.reasons_between(group, me.id, other_id), names)

    my_round: dict[str, Any] | None = None
    latest = rounds[-1] if rounds else None
    if latest is not None:
        state = clock_state(latest, now)
        group = seats[-1][1] if seats and seats[-1][0] is latest else None
        partners = []
        if group is not None:
            for other_id in group.members:
                if other_id == me.id:
                    continue
                other = people.get(other_id)
                partners.append(
                    {
                        "attendee_id": other_id,
                        "name": GONE if other is None else other.name,
                        "organisation": "" if other is None else other.organisation,
                        "common_ground": common_ground(group, other_id),
                    }
                )
        running = state.phase in ("changeover", "talk")
        my_round = {
            "index": latest.index,
            "of": event.rounds,
            "phase": state.phase,
            "phase_ends_at": state.phase_ends_at,
            "remaining_seconds": state.remaining_seconds,
            "server_time": now,
            "table": None if group is None else group.table,
            "partners": partners,
            "sitting_out": me.id in latest.sitting_out,
            "ends_at": latest.ends_at if running else None,
            "next_starts_at": (
                latest.ends_at
                if running and event.auto_advance and latest.index < event.rounds
                else None
            ),
        }

    met = [
        {
            "attendee_id": other_id,
            "name": people[other_id].name,
            "organisation": people[other_id].organisation,
            "round": round_.index,
            "table": group.table,
            "common_ground": common_ground(group, other_id),
            "interested": other_id in outgoing,
        }
        for round_, group in seats
        for other_id in group.members
        if other_id != me.id and other_id in people
    ]
    connections = [
        {
            "attendee_id": pid,
            "name": people[pid].name,
            "organisation": people[pid].organisation,
            "contact": _contact(people[pid].contact, only=people[pid].share),
        }
        for pid in sorted(outgoing & incoming)
        if pid in people
    ]
    c = snapshot.counts
    return {
        "attendee": {
            "id": me.id,
            "name": me.name,
            "organisation": me.organisation,
            "answers": me.answers or {},
            "contact": _contact(me.contact),
            "share": list(me.share),
            "presence": me.presence,
            "listed": bool(me.listed),
            "remembered": me.series_member_id is not None,
        },
        "event": {
            "id": event.id,
            "name": event.name,
            "status": snapshot.status,
            "rounds": event.rounds,
            "joined": c.joined,
            "present": c.present,
        },
        "questions": snapshot.question_data,
        "round": my_round,
        "next_round": None,
        "met": met,
        "connections": connections,
        "server_time": now,
    }


def _contact(stored: dict[str, str] | None, only: Iterable[str] | None = None) -> dict[str, Any]:
    """A stored contact (validated when written) in the shape of `Contact`; with `only`,
    just the fields its owner consented to share (as `attendees.shared_contact`)."""
    given = stored or {}
    shown = set(CONTACT_FIELDS if only is None else only)
    return {field: given.get(field) if field in shown else None for field in CONTACT_FIELDS}


CONTACT_FIELDS = tuple(Contact.model_fields)


def me_read(snapshot: Snapshot, me: models.Attendee, now: datetime) -> MeRead:
    """`me_view` as a response model."""
    return MeRead.model_validate(me_view(snapshot, me, now))


def me_json(snapshot: Snapshot, me: models.Attendee, now: datetime) -> bytes:
    """`me_view` encoded as `MeRead.model_dump_json` would encode it, without the model."""
    return to_json(me_view(snapshot, me, now))


def met_ids(session: Session, event: models.Event, me: models.Attendee) -> set[str]:
    return {
        m
        for r in all_rounds(session, event)
        for g in r.groups
        if me.id in g.members
        for m in g.members
        if m != me.id
    }


# ------------------------------------------------------------------ the projector


def display_read(snapshot: Snapshot, now: datetime, *, public_url: str) -> DisplayRead:
    """The projector's public view, from a snapshot: names and tables, never contacts."""
    event = snapshot.event
    people = snapshot.people
    rounds = snapshot.rounds
    latest = rounds[-1] if rounds else None
    rows: list[DisplayRow] = []
    round_clock = None
    if latest is not None:
        round_clock = clock(event, latest, now)
        if round_clock.phase != "ended":
            for group in snapshot.groups(latest):
                for member in group.members:
                    if member in people:
                        rows.append(
                            DisplayRow(
                                name=people[member].name,
                                table=group.table,
                                partners=[
                                    _member(people, m).name for m in group.members if m != member
                                ],
                            )
                        )
            rows.extend(
                DisplayRow(name=people[m].name, table=None, partners=[])
                for m in latest.sitting_out
                if m in people
            )
            rows.sort(key=lambda row: (row.name.casefold(), row.table or ""))
    totals = event_stats(snapshot)["totals"]
    return DisplayRead(
        event_id=event.id,
        name=event.name,
        status=snapshot.status,
        joined=len(people),
        join_code=event.join_code,
        join_url=join_link(public_url, event.join_code),
        round=round_clock,
        rows=rows,
        totals=DisplayTotals(
            conversations=totals["conversations"], connections=totals["mutual_connections"]
        ),
        server_time=now,
    )
