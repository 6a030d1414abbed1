"""Live streams (Server-Sent Events): the full state on connect and after every change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from app.clock import Clock
from app.db import Database
from app.deps import (
    ClientDep,
    DatabaseDep,
    EventId,
    FailureGuard,
    LimitsDep,
    OrganiserTokenDep,
    TokenDep,
    public_url,
)
from app.fdlimit import FileBudget, StreamKind, StreamSlot, live_load
from app.realtime import Broker
from app.routes import api
from app.schemas import ErrorDetail
from app.security import token_hash
from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services import views
from app.services.snapshot import SnapshotCache

router = APIRouter(prefix="/api/v1", tags=["streams"])


State = BaseModel | bytes


def _state(state: State, *, retry: int | None = None) -> ServerSentEvent:
    """A state message; `bytes` are a view already encoded as its model would encode it."""
    if isinstance(state, bytes):
        return ServerSentEvent(event="state", raw_data=state.decode(), retry=retry)
    return ServerSentEvent(event="state", data=state, retry=retry)


async def _stream(
    request: Request,
    event_id: str,
    read: Callable[[], Awaitable[State | None]],
    changed: Callable[[], object] | None = None,
) -> AsyncIterable[ServerSentEvent]:
    """`read` gives the state to send, or None when the caller is gone from the event (the
    stream ends; reconnecting then gets 401). `changed`, if given, is checked at each
    heartbeat: when its value differs, the state is sent again (for what changes without
    the event changing)."""
    broker: Broker = request.app.state.broker
    heartbeat: float = request.app.state.settings.heartbeat_seconds
    async with broker.subscribe(event_id) as wake:
        seen = changed() if changed else None
        state = await read()
        if state is None:
            return
        yield _state(state, retry=2000)
        while True:
            try:
                await asyncio.wait_for(wake.get(), timeout=heartbeat)
            except TimeoutError:
                if changed is None or changed() == seen:
                    yield ServerSentEvent(comment="heartbeat")
                    continue
            seen = changed() if changed else None
            state = await read()
            if state is None:
                return
            yield _state(state)


def _parts(request: Request) -> tuple[Database, Clock, str]:
    return request.app.state.db, request.app.state.clock, public_url(request)


# Who may stream is settled in dependencies, before the response starts (an error inside
# the stream could no longer change its status), and before a slot is taken (a bad token is
# 401, and counted, even when the server has no room). They hold no session for the stream's
# life.


async def _stream_attendee(
    request: Request, db: DatabaseDep, token: TokenDep, limits: LimitsDep, client: ClientDep
) -> tuple[str, str]:
    snapshots: SnapshotCache = request.app.state.snapshots
    limits.check_failures(client)
    # A room opening its pages at once: known tokens need no trip to the database.
    known = await snapshots.aperson(token_hash(token)) if token else None
    if known is not None:
        shared, me = known
        return shared.event.id, me.id

    def lookup() -> tuple[str, str]:
        with FailureGuard(limits, client, checked=True), db.reading() as session:
            attendee = attendee_service.attendee_by_token(session, token)
            snapshots.remember(attendee.token_hash, attendee.id, attendee.event_id)
            return attendee.event_id, attendee.id

    return await run_in_threadpool(lookup)


def _stream_projector(
    db: DatabaseDep,
    event_id: EventId,
    limits: LimitsDep,
    client: ClientDep,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> str:
    with FailureGuard(limits, client), db.reading() as session:
        return event_service.projector_event(session, event_id, key).id


def _stream_organiser(
    db: DatabaseDep,
    event_id: EventId,
    token: OrganiserTokenDep,
    limits: LimitsDep,
    client: ClientDep,
) -> tuple[str, str]:
    with FailureGuard(limits, client), db.reading() as session:
        event = event_service.organiser_event(session, event_id, token)
    assert token is not None  # organiser_event refuses a missing token
    return event.id, token


def _admission(kind: StreamKind) -> Callable[[Request], AsyncIterator[StreamSlot]]:
    """A slot for the stream for as long as it lasts, or 503 when it would use the open
    files kept for the database, ordinary requests and (for phones) the organiser."""

    async def admit(request: Request) -> AsyncIterator[StreamSlot]:
        budget: FileBudget = request.app.state.files
        slot = budget.admit(kind)
        if slot is None:
            # Routes translate HTTP: Retry-After, and the connection closed so that its
            # file is free at once. The page polls meanwhile.
            raise HTTPException(
                503,
                "no room for another live stream now; read the state instead and try again",
                headers={"Retry-After": "30", "Connection": "close"},
            )
        try:
            yield slot
        finally:
            budget.release(slot)

    return admit


PhoneSlot = Annotated[StreamSlot, Depends(_admission("phone"))]
ProjectorSlot = Annotated[StreamSlot, Depends(_admission("projector"))]
OrganiserSlot = Annotated[StreamSlot, Depends(_admission("organiser"))]

STREAM_ERRORS = {
    **api.errors(401, 403, 404, 429),
    503: {
        "model": ErrorDetail,
        "description": "No room for another live stream now (the server's open-file limit): "
        "read the state instead and try again after Retry-After",
    },
}


@router.get("/me/stream", response_class=EventSourceResponse, responses=STREAM_ERRORS)
async def me_stream(
    request: Request,
    who: Annotated[tuple[str, str], Depends(_stream_attendee)],
    slot: PhoneSlot,
) -> AsyncIterable[ServerSentEvent]:
    """Your state (as GET /me) now and after every change of the event; heartbeats between."""
    _, clock, _ = _parts(request)
    event_id, attendee_id = who
    slot.event_id = event_id

    snapshots: SnapshotCache = request.app.state.snapshots

    # Built on the event loop from the shared snapshot (loaded once per change for every
    # phone): a view visits only its own person's rows, as plain data encoded once.
    async def read() -> bytes | None:
        shared = await snapshots.aget(event_id)
        attendee = shared.people.get(attendee_id)
        if attendee is None:
            return None  # deleted their data, or removed by the organiser
        return views.me_json(shared, attendee, clock.now())

    async for item in _stream(request, event_id, read):
        yield item


@router.get(
    "/events/{event_id}/display/stream",
    response_class=EventSourceResponse,
    responses=STREAM_ERRORS,
)
async def display_stream(
    request: Request,
    event_id: Annotated[str, Depends(_stream_projector)],
    _slot: ProjectorSlot,
) -> AsyncIterable[ServerSentEvent]:
    """The projector's state (as GET /display) now and after every change."""
    _, clock, public_url = _parts(request)
    snapshots: SnapshotCache = request.app.state.snapshots

    async def read() -> BaseModel:
        shared = await snapshots.aget(event_id)
        return views.display_read(shared, clock.now(), public_url=public_url)

    async for item in _stream(request, event_id, read):
        yield item


@router.get(
    "/events/{event_id}/stream", response_class=EventSourceResponse, responses=STREAM_ERRORS
)
async def console_stream(
    request: Request,
    organiser: Annotated[tuple[str, str], Depends(_stream_organiser)],
    _slot: OrganiserSlot,
) -> AsyncIterable[ServerSentEvent]:
    """The organiser console's state: the event, the roster and the current round."""
    db, clock, base = _parts(request)
    event_id, token = organiser

    def console() -> BaseModel:
        with db.reading() as session:
            event = event_service.get_event(session, event_id)
            return views.console_read(
                session,
                event,
                clock.now(),
                settings=request.app.state.settings,
                public_url=base,
                organiser_token=token,
                live=live_load(request.app, event_id),
            )

    async def read() -> BaseModel:
        return await run_in_threadpool(console)

    # Phones come and go without the event changing: the count is refreshed at heartbeats.
    def phones() -> object:
        load = live_load(request.app, event_id)
        return None if load is None else (load.phones, load.near_limit)

    async for item in _stream(request, event_id, read, changed=phones):
        yield item
