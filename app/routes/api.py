"""The JSON API v1 (docs/api.md): thin routes that translate HTTP and call the services."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app import models
from app.clock import Clock
from app.config import Settings
from app.db import Database, WriteBatches
from app.deps import (
    ATTENDEE_COOKIE,
    AdminTokenDep,
    AttendeeRead,
    AttendeeWrite,
    ClientDep,
    ClockDep,
    FailureGuard,
    LimitsDep,
    Organiser,
    OrganiserRead,
    OrganiserWrite,
    ProjectorEvent,
    PublicUrlDep,
    ReadSession,
    SettingsDep,
    WriteSession,
    client_of,
    token_of,
)
from app.deps import SeriesRead as SeriesGuard
from app.deps import SeriesWrite as SeriesWriteGuard
from app.errors import Forbidden, RowErrors, Unauthorised
from app.fdlimit import live_load
from app.ratelimit import RateLimits
from app.schemas import (
    AttendeeRead as AttendeeOut,
)
from app.schemas import (
    AttendeeUpdate,
    ClockRequest,
    ConnectionsExport,
    ConsoleState,
    DisplayRead,
    ErrorDetail,
    EventCreate,
    EventCreated,
    EventRead,
    EventStats,
    EventUpdate,
    ImportedAttendee,
    ImportResult,
    InterestRequest,
    Joined,
    JoinRequest,
    MeLinks,
    MeRead,
    MeUpdate,
    MyData,
    NextEvent,
    NextEventCreated,
    PersonalLinksExport,
    PresenceRequest,
    Preview,
    PrintedPlan,
    Purged,
    ReportRequest,
    ReturningFigures,
    RoundRead,
    RoundStart,
    SeriesRead,
    SeriesUpdate,
    WalkUp,
)
from app.security import new_token, normalise_join_code, token_hash
from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services import exports, imports, network, printing, retention, snapshot, stats, views
from app.services import rounds as round_service
from app.services import series as series_service
from app.services.snapshot import SnapshotCache

router = APIRouter(prefix="/api/v1")

AttendeeId = Annotated[str, Path(min_length=1, max_length=16)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route really returns."""
    described = {
        400: "Host name not allowed (COMMONGROUND_ALLOWED_HOSTS)",
        401: "No or unknown token",
        403: "The token does not grant this",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Body too large",
        422: "Invalid input",
        429: "Too many requests",
    }
    return {
        code: {"model": ErrorDetail, "description": described[code]}
        for code in sorted({*codes, 400, 413, 422})
    }


ORGANISER = errors(401, 403, 404, 429)
ATTENDEE = errors(401, 429)


# ------------------------------------------------------------------ the hot path
#
# Routes are matched in the order they are declared: the one every phone asks comes first.


@router.get(
    "/me",
    responses={200: {"model": MeRead}, **ATTENDEE},
    tags=["me"],
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def read_me(request: Request) -> Response:
    """Your profile, the event, your table and partners now, people met, connections."""
    # Every phone asks this, and asks again at each round change: no dependencies (FastAPI
    # solving them cost a third of the request), the same token reader as theirs.
    state = request.app.state
    db: Database = state.db
    snapshots: SnapshotCache = state.snapshots
    limits: RateLimits = state.limits
    clock: Clock = state.clock
    client = client_of(request)
    token = token_of(request, ATTENDEE_COOKIE)
    limits.check_failures(client)
    if token:
        # From memory for a known token while its event's snapshot is known to be current
        # (app/services/snapshot.py: SQLite's data version, or PostgreSQL's event version
        # read on the event loop by one query for the requests of a moment).
        known = await snapshots.aperson(token_hash(token))
        if known is not None:
            shared, me = known
            return _raw_json(views.me_json(shared, me, clock.now()))

    def view() -> bytes:
        # Otherwise one short query (who, and the event's version), then the shared
        # snapshot every phone reads; the version makes it current even when the change was
        # made by another worker. One trip to a worker thread.
        with FailureGuard(limits, client, checked=True), db.reading() as session:
            caller = attendee_service.caller_by_token(session, token)
        shared = snapshots.get(caller.event_id, version=caller.event_version)
        me = shared.people.get(caller.attendee_id)
        if me is None:  # every join changes the event's version: gone since the query
            raise Unauthorised("unknown or expired attendee token")
        snapshots.remember(me.token_hash, me.id, caller.event_id)
        return views.me_json(shared, me, clock.now())

    return _raw_json(await run_in_threadpool(view))


# ------------------------------------------------------------------ events


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403),
    tags=["events"],
    # `series_id` only for the first event of a series.
    response_model_exclude_none=True,
)
def create_event(
    data: EventCreate,
    session: WriteSession,
    clock: ClockDep,
    settings: SettingsDep,
    base: PublicUrlDep,
    token: AdminTokenDep,
) -> EventCreated:
    """Create an event; the organiser token and projector key are shown only here."""
    if settings.admin_token is not None:
        if not token:
            raise Unauthorised("this server needs its admin token to create events")
        if not hmac.compare_digest(token, settings.admin_token):
            raise Forbidden("not the admin token of this server")
    event, organiser_token, projector_key = event_service.create_event(
        session=session, data=data, now=clock.now()
    )
    if data.series:
        series_service.start(session=session, event=event, now=clock.now())
    return EventCreated(
        id=event.id,
        join_code=event.join_code,
        organiser_token=organiser_token,
        projector_key=projector_key,
        links=views.links(base, event, organiser_token),
        series_id=event.series_id,
    )


@router.post(
    "/events/{event_id}/next",
    status_code=status.HTTP_201_CREATED,
    responses=ORGANISER,
    tags=["series"],
)
def next_event(
    organiser: OrganiserWrite,
    session: WriteSession,
    clock: ClockDep,
    base: PublicUrlDep,
    data: Annotated[NextEvent | None, Body()] = None,
) -> NextEventCreated:
    """The next mixer of this event's series (a one-off becomes the first of a new series):
    the same questions, settings and table names; a new join code, organiser token and
    projector key, shown only here. Remembered people are recognised there."""
    event, organiser_token, projector_key, series = series_service.next_event(
        session=session, event=organiser.event, data=data or NextEvent(), now=clock.now()
    )
    return NextEventCreated(
        id=event.id,
        join_code=event.join_code,
        organiser_token=organiser_token,
        projector_key=projector_key,
        links=views.links(base, event, organiser_token),
        series_id=series.id,
    )


@router.get("/series/{series_id}", responses=ORGANISER, tags=["series"])
def read_series(series: SeriesGuard, session: ReadSession) -> SeriesRead:
    """The series: its memory settings and its events with their statistics (the organiser
    token of any of its events opens it)."""
    return series_service.series_read(session, series)


@router.patch("/series/{series_id}", responses=ORGANISER, tags=["series"])
def update_series(
    data: SeriesUpdate, series: SeriesWriteGuard, session: WriteSession
) -> SeriesRead:
    """Name the series, choose how it remembers (`memory`: never again, not within the last
    `recent_events` events, or prefer new faces) and how long (`retention_days`)."""
    series_service.update_series(session=session, series=series, data=data)
    return series_service.series_read(session, series)


@router.get("/events/{event_id}", responses=ORGANISER, tags=["events"])
def read_event(
    organiser: OrganiserRead,
    session: ReadSession,
    settings: SettingsDep,
    base: PublicUrlDep,
) -> EventRead:
    return _event_read(session, organiser, settings, base)


def _event_read(session: Session, organiser: Organiser, settings: Settings, base: str) -> EventRead:
    return views.event_read(
        session,
        organiser.event,
        settings=settings,
        public_url=base,
        organiser_token=organiser.token,
    )


@router.patch("/events/{event_id}", responses=errors(401, 403, 404, 409, 429), tags=["events"])
def update_event(
    data: EventUpdate,
    organiser: OrganiserWrite,
    session: WriteSession,
    settings: SettingsDep,
    base: PublicUrlDep,
) -> EventRead:
    event_service.update_event(session=session, event=organiser.event, data=data)
    return _event_read(session, organiser, settings, base)


@router.get("/events/{event_id}/console", responses=ORGANISER, tags=["events"])
def console_state(
    request: Request,
    organiser: OrganiserRead,
    session: ReadSession,
    clock: ClockDep,
    settings: SettingsDep,
    base: PublicUrlDep,
) -> ConsoleState:
    """What the organiser console shows: the event, the roster and the current round (the
    same as each message of its live stream)."""
    return views.console_read(
        session,
        organiser.event,
        clock.now(),
        settings=settings,
        public_url=base,
        organiser_token=organiser.token,
        live=live_load(request.app, organiser.event.id),
    )


# ------------------------------------------------------------------ roster


@router.get("/events/{event_id}/attendees", responses=ORGANISER, tags=["attendees"])
def list_attendees(
    organiser: OrganiserRead, session: ReadSession, base: PublicUrlDep
) -> list[AttendeeOut]:
    """The roster; `link` is the personal link of each person the organiser added."""
    return [
        views.attendee_out(attendee, organiser_token=organiser.token, public_url=base)
        for attendee in attendee_service.roster(session, organiser.event)
    ]


@router.post(
    "/events/{event_id}/attendees",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 429),
    tags=["attendees"],
)
def add_walk_up(
    data: WalkUp,
    organiser: OrganiserWrite,
    session: WriteSession,
    clock: ClockDep,
    base: PublicUrlDep,
) -> Joined:
    """Add someone by hand (a walk-up); they get their own personal link."""
    attendee, token = attendee_service.add_by_organiser(
        session=session,
        event=organiser.event,
        data=data,
        now=clock.now(),
        presence=data.presence,
        organiser_token=organiser.token,
    )
    return Joined(
        attendee_id=attendee.id,
        token=token,
        links=MeLinks(me=views.me_link(base, token)),
    )


@router.patch("/events/{event_id}/attendees/{attendee_id}", responses=ORGANISER, tags=["attendees"])
def update_attendee(
    attendee_id: AttendeeId,
    data: AttendeeUpdate,
    organiser: OrganiserWrite,
    session: WriteSession,
    base: PublicUrlDep,
) -> AttendeeOut:
    """Check someone in (`presence`), or correct their profile."""
    attendee = attendee_service.organiser_attendee(session, organiser.event, attendee_id)
    attendee_service.update_attendee(
        session=session,
        event=organiser.event,
        attendee=attendee,
        changes=data.model_dump(exclude_unset=True),
    )
    return views.attendee_out(attendee, organiser_token=organiser.token, public_url=base)


@router.delete(
    "/events/{event_id}/attendees/{attendee_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ORGANISER,
    tags=["attendees"],
)
def remove_attendee(
    attendee_id: AttendeeId, organiser: OrganiserWrite, session: WriteSession
) -> Response:
    attendee = attendee_service.organiser_attendee(session, organiser.event, attendee_id)
    attendee_service.remove(session=session, event=organiser.event, attendee=attendee)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/events/{event_id}/attendees/import",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ImportResult, "description": "Dry run"},
        **errors(401, 403, 404, 409, 429),
    },
    tags=["attendees"],
)
def import_attendees(
    data: Annotated[bytes, Body(media_type="text/csv", description="The guest list (CSV)")],
    organiser: OrganiserWrite,
    session: WriteSession,
    clock: ClockDep,
    base: PublicUrlDep,
    response: Response,
    mapping: Annotated[
        str | None,
        Query(max_length=4000, description='JSON corrections, e.g. {"Firma": "organisation"}'),
    ] = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import a guest list: UTF-8 (with or without BOM), comma or semicolon separated;
    Eventbrite, Luma and pretix column names are recognised; in a series, a `series_link`
    column makes a guest the person the series remembers. Every row is checked first: a
    file with a bad row imports nothing (422, each bad row with its line and reason)."""
    plan = imports.read(data, organiser.event, imports.parse_corrections(mapping), session=session)
    result = ImportResult(
        columns=plan.columns,
        mapping=plan.mapping,
        rows=len(plan.rows),
        dry_run=dry_run,
        attendees=[],
    )
    if dry_run:
        if plan.errors:
            raise RowErrors(plan.errors)
        response.status_code = status.HTTP_200_OK
        return result
    saved = imports.save(
        session=session,
        event=organiser.event,
        plan=plan,
        now=clock.now(),
        organiser_token=organiser.token,
    )
    for item in saved:
        result.attendees.append(
            ImportedAttendee(
                attendee_id=item.attendee.id,
                name=item.attendee.name,
                token=item.token,
                link=views.me_link(base, item.token),
            )
        )
    return result


# ------------------------------------------------------------------ joining


@router.post(
    "/join/{join_code}",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 404, 409, 429),
    tags=["attendees"],
    # `series_token` and `links.series` only for someone the series remembers.
    response_model_exclude_none=True,
)
async def join(
    join_code: Annotated[str, Path(min_length=1, max_length=12)],
    data: JoinRequest,
    request: Request,
    clock: ClockDep,
    base: PublicUrlDep,
    limits: LimitsDep,
    client: ClientDep,
) -> Joined:
    """Join an event with its join code: returns the attendee's token and personal link."""
    limits.join(client)
    limits.check_failures(client)  # before the write lock: a guesser waits for nothing
    code = normalise_join_code(join_code)
    token = new_token()
    joins: WriteBatches = request.app.state.joins

    def write(session: Session) -> tuple[models.Attendee, series_service.Remembered | None]:
        # In one short write transaction with the joins to this code that arrived with it
        # (app.db.WriteBatches), in a savepoint of its own: the body was checked before
        # it, the token made; SQLite's single writer lock is held for the inserts alone.
        # Under the event's lock (taken by the batch's first join, held to its commit): a
        # join never lands in an event being finished or purged.
        with FailureGuard(limits, client, checked=True):
            event = event_service.event_by_join_code(session, code, lock=True)
        attendee, _ = attendee_service.join(
            session=session, event=event, data=data, now=clock.now(), token=token
        )
        with FailureGuard(limits, client, checked=True):
            remembered = series_service.after_join(
                session=session,
                event=event,
                attendee=attendee,
                data=data,
                now=clock.now(),
            )
        return attendee, remembered

    attendee, remembered = await joins.run(code, write)
    return Joined(
        attendee_id=attendee.id,
        token=token,
        links=MeLinks(
            me=views.me_link(base, token),
            series=None if remembered is None else views.series_link(base, remembered.token),
        ),
        series_token=None if remembered is None else remembered.token,
    )


# ------------------------------------------------------------------ the attendee


def _me(session: Session, me: models.Attendee, clock: Clock) -> MeRead:
    return views.me_read(snapshot.load(session, me.event_id), me, clock.now())


def _raw_json(body: bytes) -> Response:
    """A view the service encoded as its response model would be encoded."""
    return Response(body, media_type="application/json")


@router.patch("/me", responses=errors(401, 429), tags=["me"])
def update_me(data: MeUpdate, me: AttendeeWrite, session: WriteSession, clock: ClockDep) -> MeRead:
    event = me.event
    attendee_service.update_me(
        session=session, event=event, attendee=me.attendee, data=data, now=clock.now()
    )
    if data.listed is not None:
        series_service.set_listed(attendee=me.attendee, listed=data.listed, now=clock.now())
    if data.remember is False:
        series_service.withdraw(session=session, attendee=me.attendee, now=clock.now())
    series_service.remember_profile(session=session, attendee=me.attendee)
    return _me(session, me.attendee, clock)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT, responses=ATTENDEE, tags=["me"])
def delete_me(me: AttendeeWrite, session: WriteSession) -> Response:
    """Delete your profile and contact details; past tables keep an anonymous place. If the
    series remembers you, it forgets you, and your profile goes from its other events too."""
    event = me.event
    series_service.forget_everywhere(session=session, attendee=me.attendee)
    attendee_service.remove(session=session, event=event, attendee=me.attendee)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/export.json", responses=ATTENDEE, tags=["me"])
def export_my_data(
    me: AttendeeRead,
    session: ReadSession,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> MyData:
    """Everything held about you: profile, contact details and what you share (with when
    you consented, to which text), people met, connections."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return exports.my_data(session, me, now=clock.now(), retention_days=settings.retention_days)


@router.post("/me/presence", responses=ATTENDEE, tags=["me"])
def set_presence(
    data: PresenceRequest, me: AttendeeWrite, session: WriteSession, clock: ClockDep
) -> MeRead:
    """I'm here / taking a break / leaving: decides whether the next round includes you."""
    event = me.event
    attendee_service.update_attendee(
        session=session, event=event, attendee=me.attendee, changes={"presence": data.state}
    )
    return _me(session, me.attendee, clock)


@router.post("/me/report", responses=errors(401, 409, 429), tags=["me"])
def report(
    data: ReportRequest, me: AttendeeWrite, session: WriteSession, clock: ClockDep
) -> MeRead:
    """My partner isn't here / we already know each other: re-pair the stranded people."""
    event = me.event
    round_service.report(
        session=session,
        event=event,
        attendee=me.attendee,
        kind=data.kind,
        partner_id=data.attendee_id,
        now=clock.now(),
    )
    return _me(session, me.attendee, clock)


@router.post("/me/interest", responses=errors(401, 403, 404, 429), tags=["me"])
def interest(
    data: InterestRequest, me: AttendeeWrite, session: WriteSession, clock: ClockDep
) -> MeRead:
    """Stay in touch with someone you met; a connection when both say yes."""
    event = me.event
    attendee_service.set_interest(
        session=session,
        event=event,
        attendee=me.attendee,
        other_id=data.attendee_id,
        interested=data.interested,
        met=views.met_ids(session, event, me.attendee),
        now=clock.now(),
    )
    return _me(session, me.attendee, clock)


# ------------------------------------------------------------------ rounds and the clock


@router.get("/events/{event_id}/rounds", responses=ORGANISER, tags=["rounds"])
def list_rounds(organiser: OrganiserRead, session: ReadSession, clock: ClockDep) -> list[RoundRead]:
    return views.rounds_read(session, organiser.event, clock.now())


@router.get(
    "/events/{event_id}/rounds/preview", responses=errors(401, 403, 404, 409, 429), tags=["rounds"]
)
def preview_round(organiser: OrganiserRead, session: ReadSession) -> Preview:
    """The next round as the matcher would draw it now, with its quality; nothing is saved."""
    drawn = round_service.preview(session, organiser.event)
    result = views.preview_read(session, organiser.event, drawn)
    result.quality.returning, result.quality.returning_only_new_faces = (
        series_service.only_new_faces(drawn.memory, [g.members for g in drawn.outcome.round.groups])
    )
    return result


@router.post(
    "/events/{event_id}/rounds",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 429),
    tags=["rounds"],
)
def start_round(
    data: RoundStart, organiser: OrganiserWrite, session: WriteSession, clock: ClockDep
) -> RoundRead:
    """Start round `expected_index`; 409 unless it is the next one (a double click is safe)."""
    now = clock.now()
    round_ = round_service.start_next(
        session=session, event=organiser.event, now=now, expected_index=data.expected_index
    )
    return views.round_read(session, organiser.event, round_, now)


@router.post("/events/{event_id}/clock", responses=errors(401, 403, 404, 409, 429), tags=["rounds"])
def clock_action(
    data: ClockRequest, organiser: OrganiserWrite, session: WriteSession, clock: ClockDep
) -> RoundRead:
    """Pause, resume, add time to, or end the current round."""
    now = clock.now()
    round_ = round_service.clock_action(
        session=session, event=organiser.event, action=data.action, seconds=data.seconds, now=now
    )
    return views.round_read(session, organiser.event, round_, now)


@router.post(
    "/events/{event_id}/finish", responses=errors(401, 403, 404, 409, 429), tags=["rounds"]
)
def finish_event(
    organiser: OrganiserWrite,
    session: WriteSession,
    clock: ClockDep,
    settings: SettingsDep,
    base: PublicUrlDep,
) -> EventRead:
    """End the event now: the current round ends, no more rounds or joins; exports,
    statistics and the purge of personal data follow."""
    round_service.finish(session=session, event=organiser.event, now=clock.now())
    return _event_read(session, organiser, settings, base)


@router.get("/events/{event_id}/stats", responses=ORGANISER, tags=["events"])
def event_statistics(organiser: OrganiserRead, session: ReadSession) -> EventStats:
    """Per round and in total: conversations held, mutual connections, and the share of
    pairs with common ground (kept after the personal data is deleted)."""
    figures = EventStats.model_validate(
        stats.event_stats(snapshot.load(session, organiser.event.id))
    )
    returning = series_service.returning_figures(session, organiser.event)
    if returning is not None:
        figures.returning = ReturningFigures.model_validate(returning)
    if organiser.event.purged_at is None:
        figures.network = network.figures(network.collect(session, [organiser.event]))
    return figures


@router.post("/events/{event_id}/purge", responses=errors(401, 403, 404, 409, 429), tags=["events"])
def purge_event(organiser: OrganiserWrite, session: WriteSession, clock: ClockDep) -> Purged:
    """Delete the event's personal data now (it must have ended): attendees, answers,
    contacts, interests. The settings and statistics stay. This cannot be undone."""
    now = clock.now()
    removed = retention.purge_finished(session=session, event=organiser.event, now=now)
    return Purged(purged_at=now, attendees_removed=removed)


# ------------------------------------------------------------------ the printed plan


@router.post(
    "/events/{event_id}/plan",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 429),
    tags=["rounds"],
)
def fix_plan(organiser: OrganiserWrite, session: WriteSession) -> PrintedPlan:
    """Plan every round not yet drawn for the people here or registered, to print it:
    live rounds then keep each printed group and table while all its members are there."""
    return PrintedPlan.model_validate(
        {"rounds": printing.fix_plan(session=session, event=organiser.event)}
    )


@router.delete(
    "/events/{event_id}/plan",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ORGANISER,
    tags=["rounds"],
)
def release_plan(organiser: OrganiserWrite, session: WriteSession) -> Response:
    """Drop the printed plan: the remaining rounds are drawn live again."""
    printing.release_plan(session=session, event=organiser.event)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ projector


@router.get("/events/{event_id}/display", responses=ORGANISER, tags=["projector"])
def display(
    event: ProjectorEvent, session: ReadSession, clock: ClockDep, base: PublicUrlDep
) -> DisplayRead:
    """The public room state for the projector: no contact details, no answers."""
    return views.display_read(snapshot.load(session, event.id), clock.now(), public_url=base)


# ------------------------------------------------------------------ after the event


def _download(data: bytes, filename: str, media_type: str = "text/csv; charset=utf-8") -> Response:
    """A file to save, never kept by a cache (exports hold personal data)."""
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/events/{event_id}/export/connections.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per meeting"},
        **ORGANISER,
    },
    tags=["exports"],
)
def export_connections_csv(organiser: OrganiserRead, session: ReadSession) -> Response:
    """Who met whom, their common ground, who asked to stay in touch; contacts only on
    connections, as consented. Safe to open in a spreadsheet (UTF-8 with BOM)."""
    return _download(
        exports.connections_csv(session, organiser.event), f"connections-{organiser.event.id}.csv"
    )


@router.get("/events/{event_id}/export/connections.json", responses=ORGANISER, tags=["exports"])
def export_connections_json(
    organiser: OrganiserRead, session: ReadSession, response: Response
) -> ConnectionsExport:
    """The same as the CSV, as JSON: every meeting, and per person their connections."""
    response.headers["Cache-Control"] = "no-store"
    return ConnectionsExport.model_validate(exports.connections_document(session, organiser.event))


@router.get(
    "/events/{event_id}/export/links.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per attendee"},
        **ORGANISER,
    },
    tags=["exports"],
)
def export_links_csv(
    organiser: OrganiserRead, session: ReadSession, base: PublicUrlDep
) -> Response:
    """Everyone's personal link, for a mail merge: people the organiser imported or added
    have one; people who joined on their own phone are listed without. Safe to open in a
    spreadsheet (UTF-8 with BOM)."""
    return _download(
        exports.links_csv(
            session, organiser.event, organiser_token=organiser.token, public_url=base
        ),
        f"links-{organiser.event.id}.csv",
    )


@router.get("/events/{event_id}/export/links.json", responses=ORGANISER, tags=["exports"])
def export_links_json(
    organiser: OrganiserRead,
    session: ReadSession,
    base: PublicUrlDep,
    response: Response,
) -> PersonalLinksExport:
    """The same as the CSV, as JSON."""
    response.headers["Cache-Control"] = "no-store"
    return PersonalLinksExport.model_validate(
        exports.links_document(
            session, organiser.event, organiser_token=organiser.token, public_url=base
        )
    )


@router.get(
    "/me/connections.vcf",
    response_class=Response,
    responses={200: {"content": {"text/vcard": {}}, "description": "vCard 3.0"}, **ATTENDEE},
    tags=["me"],
)
def my_connections_vcf(me: AttendeeRead, session: ReadSession) -> Response:
    """Your mutual connections as vCards, with the details each consented to share."""
    return _download(
        exports.connections_vcf(session, me), "connections.vcf", "text/vcard; charset=utf-8"
    )


# ------------------------------------------------------------------ the room's network

_NETWORK_FORMATS = {
    "graphml": ("application/graphml+xml", network.graphml),
    "gexf": ("application/gexf+xml", network.gexf),
}


def _network_file(net: network.Network, *, title: str, fmt: str, filename: str) -> Response:
    media_type, write = _NETWORK_FORMATS[fmt]
    return _download(write(net, title=title), f"{filename}.{fmt}", f"{media_type}; charset=utf-8")


_GRAPH_FILE = {
    200: {
        "content": {"application/graphml+xml": {}, "application/gexf+xml": {}},
        "description": "The network for Gephi or Cytoscape",
    },
    **ORGANISER,
}


@router.get(
    "/events/{event_id}/export/network.graphml",
    response_class=Response,
    responses=_GRAPH_FILE,
    tags=["exports"],
)
def export_network_graphml(organiser: OrganiserRead, session: ReadSession) -> Response:
    """The room's network as GraphML: people as nodes (named only if they consented to be
    listed, else "Person N"), meetings and mutual connections as edges with their common
    ground."""
    net = network.collect(session, [organiser.event])
    return _network_file(
        net, title=organiser.event.name, fmt="graphml", filename=f"network-{organiser.event.id}"
    )


@router.get(
    "/events/{event_id}/export/network.gexf",
    response_class=Response,
    responses=_GRAPH_FILE,
    tags=["exports"],
)
def export_network_gexf(organiser: OrganiserRead, session: ReadSession) -> Response:
    """The same network as GEXF (Gephi's own format)."""
    net = network.collect(session, [organiser.event])
    return _network_file(
        net, title=organiser.event.name, fmt="gexf", filename=f"network-{organiser.event.id}"
    )


_SVG = {200: {"content": {"image/svg+xml": {}}, "description": "A picture"}, **ORGANISER}


@router.get(
    "/events/{event_id}/network.svg", response_class=Response, responses=_SVG, tags=["exports"]
)
def network_picture(organiser: OrganiserRead, session: ReadSession) -> Response:
    """A small picture of the room's network, drawn on the server."""
    net = network.collect(session, [organiser.event])
    return Response(
        network.svg(net), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/series/{series_id}/export/network.{fmt}",
    response_class=Response,
    responses=_GRAPH_FILE,
    tags=["series"],
)
def export_series_network(
    fmt: Annotated[str, Path(pattern="^(graphml|gexf)$")],
    series: SeriesGuard,
    session: ReadSession,
) -> Response:
    """The series' network (`graphml` or `gexf`): a remembered person is one node across
    its events, anyone else one per event."""
    net = network.collect_series(session, series)
    return _network_file(net, title=series.name, fmt=fmt, filename=f"network-series-{series.id}")


@router.get(
    "/series/{series_id}/export/links.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per remembered person"},
        **ORGANISER,
    },
    tags=["series"],
)
def export_series_links_csv(
    series: SeriesGuard, session: ReadSession, base: PublicUrlDep
) -> Response:
    """Everyone the series remembers (they asked to be) with their personal series link, for
    the invitation to its next mixer: opened on any phone, the link fills in their join
    form. Safe to open in a spreadsheet (UTF-8 with BOM)."""
    return _download(
        exports.series_links_csv(session, series, public_url=base),
        f"links-series-{series.id}.csv",
    )


@router.get(
    "/series/{series_id}/network.svg", response_class=Response, responses=_SVG, tags=["series"]
)
def series_network_picture(series: SeriesGuard, session: ReadSession) -> Response:
    """A small picture of the series' network, drawn on the server."""
    net = network.collect_series(session, series)
    return Response(
        network.svg(net), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )
