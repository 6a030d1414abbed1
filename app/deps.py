"""Dependencies, named once: sessions, settings, clock, broker, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app import models
from app.clock import Clock
from app.config import Settings
from app.db import Database
from app.errors import Forbidden, NotFound, Unauthorised
from app.ratelimit import RateLimits
from app.realtime import Broker
from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services import series as series_service


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


async def get_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.limits
    return limits


_LOOPBACK = ("127.", "localhost", "[::1]")


def public_url(request: Request) -> str:
    """The address people reach this server at, for links and QR codes:
    COMMONGROUND_PUBLIC_URL when set, otherwise the one this request used (scheme, host and
    port, as a trusted proxy forwarded them) - except a loopback address in venue mode,
    which phones could not use: then the network address."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url
    if settings.lan_url and request.url.netloc.startswith(_LOOPBACK):
        return settings.lan_url
    return str(request.base_url).rstrip("/")


async def public_url_of(request: Request) -> str:
    return public_url(request)


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the browser reached us over HTTPS (directly or via a proxy)."""
    return request.url.scheme == "https"


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def client_address(request: Request) -> str:
    return client_of(request)


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
LimitsDep = Annotated[RateLimits, Depends(get_limits)]
ClientDep = Annotated[str, Depends(client_address)]
PublicUrlDep = Annotated[str, Depends(public_url_of)]


def read_session(db: DatabaseDep) -> Iterator[Session]:
    with db.reading() as session:
        yield session


def write_session(db: DatabaseDep, broker: BrokerDep) -> Iterator[Session]:
    """The one commit point: commits when the route returns, rolls back if it raises, and
    wakes the streams of the events the request changed."""
    with db.write() as session:
        with session.begin():
            yield session
        broker.publish(session.info.get("changed_events", ()))


# scope="function": the transaction ends before the response is sent, so a client that
# got 201 and asks again at once sees what it created.
#
# A request's session is opened in one worker thread and used and closed in others. Were
# every worker thread waiting for a database connection (or the write lock) while the
# sessions holding them wait for a thread, nothing would move again. So at most READERS +
# WRITERS requests hold a session at once (the others wait without a thread), fewer than
# the worker threads (40) and than the connection pool (see app/db.py).
READERS = 16
WRITERS = 8
ReadSession = Annotated[Session, Depends(read_session, scope="function", max_concurrency=READERS)]
WriteSession = Annotated[Session, Depends(write_session, scope="function", max_concurrency=WRITERS)]

_bearer = HTTPBearer(auto_error=False, description="Organiser or attendee token")

ATTENDEE_COOKIE = "cg_token"
ORGANISER_COOKIE = "cg_org"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _from_cookie(request: Request, name: str) -> str | None:
    """A token kept by the pages in an HttpOnly cookie. Writes authorised by a cookie must
    carry the X-CSRF header (which a cross-site form or image cannot send) and, when the
    browser names an Origin, come from this site."""
    token = request.cookies.get(name)
    if token is None or request.method in _SAFE_METHODS:
        return token
    if request.headers.get("x-csrf") != "1":
        raise Forbidden("cookie-authorised changes need the X-CSRF header")
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise Forbidden("request from another site")
    return token


def token_of(request: Request, cookie: str) -> str | None:
    """A caller's token: `Authorization: Bearer <token>` (read as FastAPI's HTTPBearer reads
    it), or else the page's cookie `cookie`. The one reader of tokens: the dependencies
    below use it, and so does `GET /me`, which takes no dependencies (the hot path)."""
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    if credentials and scheme.lower() == "bearer":
        return credentials
    return _from_cookie(request, cookie)


# The `_bearer` parameters below only declare the scheme in the OpenAPI document.


async def bearer_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The attendee's token: `Authorization: Bearer`, or the page's cookie."""
    return token_of(request, ATTENDEE_COOKIE)


async def organiser_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The organiser's token: `Authorization: Bearer`, or the console's cookie."""
    return token_of(request, ORGANISER_COOKIE)


TokenDep = Annotated[str | None, Depends(bearer_token)]
OrganiserTokenDep = Annotated[str | None, Depends(organiser_token)]


async def optional_bearer(
    authorization: Annotated[
        str | None, Header(max_length=300, description="Bearer <admin token>, if configured")
    ] = None,
) -> str | None:
    """A bearer token that only some servers ask for (the admin token)."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


AdminTokenDep = Annotated[str | None, Depends(optional_bearer)]
EventId = Annotated[str, Path(min_length=1, max_length=16)]


class FailureGuard:
    """Counts failed lookups of a client and refuses it (429) after too many; `checked`:
    the caller has just refused it if so (no second check)."""

    def __init__(self, limits: RateLimits, client: str, *, checked: bool = False) -> None:
        self.limits = limits
        self.client = client
        self.checked = checked

    def __enter__(self) -> None:
        if not self.checked:
            self.limits.check_failures(self.client)

    def __exit__(self, kind: type[BaseException] | None, error: object, _tb: object) -> None:
        if isinstance(error, Unauthorised | Forbidden | NotFound):
            self.limits.failed(self.client)


@dataclass(frozen=True)
class Organiser:
    """An event's organiser, proven by their token: the event (locked for writes) and the
    token (personal links of people they added derive from it)."""

    event: models.Event
    token: str


@dataclass(frozen=True)
class Me:
    """An attendee, proven by their token, and their event (locked for writes)."""

    attendee: models.Attendee
    event: models.Event


def _organiser(session: Session, event_id: str, token: str | None, *, lock: bool) -> Organiser:
    event = event_service.organiser_event(session, event_id, token, lock=lock)
    assert token is not None  # organiser_event refuses a missing token
    return Organiser(event=event, token=token)


def organiser_for_read(
    event_id: EventId,
    session: ReadSession,
    token: OrganiserTokenDep,
    limits: LimitsDep,
    client: ClientDep,
) -> Organiser:
    with FailureGuard(limits, client):
        return _organiser(session, event_id, token, lock=False)


def organiser_for_write(
    event_id: EventId,
    session: WriteSession,
    token: OrganiserTokenDep,
    limits: LimitsDep,
    client: ClientDep,
) -> Organiser:
    with FailureGuard(limits, client):
        return _organiser(session, event_id, token, lock=True)


def attendee_for_read(
    session: ReadSession, token: TokenDep, limits: LimitsDep, client: ClientDep
) -> models.Attendee:
    with FailureGuard(limits, client):
        return attendee_service.attendee_by_token(session, token)


def attendee_for_write(
    session: WriteSession, token: TokenDep, limits: LimitsDep, client: ClientDep
) -> Me:
    with FailureGuard(limits, client):
        attendee = attendee_service.attendee_by_token(session, token)
    # Serialise changes per event (row lock on PostgreSQL; SQLite has one writer anyway).
    event = event_service.get_event(session, attendee.event_id, lock=True)
    if event.purged_at is not None:
        # Purged by another request while this one waited for the lock.
        raise Unauthorised("unknown or expired attendee token")
    return Me(attendee=attendee, event=event)


def projector_event(
    event_id: EventId,
    session: ReadSession,
    limits: LimitsDep,
    client: ClientDep,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> models.Event:
    with FailureGuard(limits, client):
        return event_service.projector_event(session, event_id, key)


SeriesId = Annotated[str, Path(min_length=1, max_length=16)]


def series_for_read(
    series_id: SeriesId,
    session: ReadSession,
    token: OrganiserTokenDep,
    limits: LimitsDep,
    client: ClientDep,
) -> models.Series:
    """A series, for the organiser of any of its events."""
    with FailureGuard(limits, client):
        return series_service.organiser_series(session, series_id, token)


def series_for_write(
    series_id: SeriesId,
    session: WriteSession,
    token: OrganiserTokenDep,
    limits: LimitsDep,
    client: ClientDep,
) -> models.Series:
    with FailureGuard(limits, client):
        return series_service.organiser_series(session, series_id, token)


SeriesRead = Annotated[models.Series, Depends(series_for_read)]
SeriesWrite = Annotated[models.Series, Depends(series_for_write)]
OrganiserRead = Annotated[Organiser, Depends(organiser_for_read)]
OrganiserWrite = Annotated[Organiser, Depends(organiser_for_write)]
AttendeeRead = Annotated[models.Attendee, Depends(attendee_for_read)]
AttendeeWrite = Annotated[Me, Depends(attendee_for_write)]
ProjectorEvent = Annotated[models.Event, Depends(projector_event)]
