"""create_app(): routers, middleware, error handlers, and the lifespan (database, clock ticks)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import anyio
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app import logs
from app.clock import Clock, SystemClock
from app.config import Settings, get_settings
from app.db import Database, EventVersions, SqliteChanges, WriteBatches, create_database
from app.deps import WRITERS
from app.errors import DomainError, Unavailable
from app.fdlimit import KeepFilesFree, budget_for, quiet_accept_errors
from app.memory import heap_trim, limit_arenas
from app.middleware import AllowedHosts, BodyLimit, ForwardedHeaders, SecurityHeaders
from app.migrate import upgrade
from app.ratelimit import RateLimits
from app.realtime import Broker, PostgresBroker, libpq_url
from app.routes import api, pages, stream
from app.routes.pages import find_static
from app.schemas import ErrorDetail, Liveness, Readiness
from app.services import events as event_service
from app.services import retention, series
from app.services import rounds as round_service
from app.services.snapshot import SnapshotCache

logger = logging.getLogger("commonground")

LIVE = b'{"status":"ok"}'


_collector_settled = False


def _settle_collector() -> None:
    """Once per process, after start-up: what exists now (modules, classes, the app) lives
    as long as the process, so the collector's full passes stop scanning it; and young
    collections come every 50,000 allocations instead of 700. With 2000 phones on live
    streams a full pass took 0.2-0.6 s, often in the middle of a round's fan-out, and came
    every few changes (docs/benchmarks.md)."""
    global _collector_settled
    if _collector_settled:
        return
    _collector_settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, tick: bool = True
) -> FastAPI:
    settings = settings or get_settings()
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.install()
        limit_arenas()  # before the first worker thread (app/memory.py)
        db = create_database(settings)
        await run_in_threadpool(upgrade, db.engine)
        broker = (
            Broker() if settings.is_sqlite else PostgresBroker(libpq_url(settings.sqlalchemy_url))
        )
        broker.bind(asyncio.get_running_loop())
        await broker.start()
        app.state.db = db
        app.state.broker = broker
        # One process writes a SQLite file: its data version tells when a snapshot is current.
        changes = (
            SqliteChanges(settings.sqlalchemy_url.removeprefix("sqlite:///"))
            if settings.is_sqlite
            else None
        )
        # Several workers (PostgreSQL): the event's version, read on the event loop.
        versions = None if settings.is_sqlite else EventVersions(libpq_url(settings.sqlalchemy_url))
        app.state.snapshots = SnapshotCache(
            db, broker.generation, changes=changes, versions=versions, trim=heap_trim()
        )
        # Joins to one event that arrive together share a transaction; batches of different
        # events hold a worker thread each while they wait for the write lock: at most this many.
        app.state.joins = WriteBatches(
            db, limiter=anyio.CapacityLimiter(WRITERS), publish=broker.publish
        )
        # Read in each worker process; opens SQLite's files while they are plentiful.
        app.state.files = await run_in_threadpool(budget_for, db.engine, sqlite=settings.is_sqlite)
        ticker = asyncio.create_task(_tick_forever(app)) if tick else None
        _settle_collector()
        loop = asyncio.get_running_loop()
        quiet_accept_errors(loop)
        kind = type(loop)
        logger.info("event loop: %s (%s)", kind.__module__.split(".")[0], kind.__qualname__)
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await broker.stop()
            if changes is not None:
                changes.close()
            if versions is not None:
                await versions.close()
            db.engine.dispose()

    app = FastAPI(
        title="Common Ground",
        version="0.1.0",
        summary="Run a live networking mixer: timed rounds, people paired around common ground.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.limits = RateLimits(
        joins_per_minute=settings.join_rate_per_minute,
        failures_per_minute=settings.failed_auth_per_minute,
    )

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, error: DomainError) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        # A bug, not bad input: logged in full, answered as JSON without internals.
        logger.error("unhandled error", exc_info=error)
        return JSONResponse({"detail": "internal error; nothing was changed"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names only the first route's methods; list every method of the path.
            headers["Allow"] = ", ".join(_methods(app, request.url.path))
        return JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=headers
        )

    # Outermost last: proxy headers first, then the host check, headers, body limit.
    app.add_middleware(KeepFilesFree)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(SecurityHeaders)
    if settings.allowed_host_list:
        app.add_middleware(AllowedHosts, hosts=settings.allowed_host_list)
    app.add_middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips)

    @app.get("/healthz", tags=["health"], responses={200: {"model": Liveness}})
    async def healthz() -> Response:
        """Liveness: the process answers (no database, so a busy database never gets a
        working server restarted)."""
        return Response(LIVE, media_type="application/json")

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"model": ErrorDetail, "description": "Database unreachable"}},
    )
    def readyz(request: Request) -> Readiness:
        """Readiness: a database round trip (for a proxy or an orchestrator)."""
        db: Database = request.app.state.db
        try:
            with db.reading() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            logger.warning("readiness: database unreachable: %s", type(error).__name__)
            raise Unavailable("database unreachable") from None
        return Readiness(status="ok", database="ok")

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=find_static()), name="static")
    return app


ROUTERS = (api.router, stream.router, pages.router)


def _methods(app: FastAPI, path: str) -> list[str]:
    """Every method of the routes at `path`: its most specific template (fewest path
    parameters), as documented: `/attendees/import` is not `/attendees/{attendee_id}`."""
    # The included routers' own routes (FastAPI keeps them behind a private wrapper).
    routes = [
        route
        for route in [*app.router.routes, *(r for router in ROUTERS for r in router.routes)]
        if isinstance(route, APIRoute) and route.path_regex.match(path)
    ]
    if not routes:
        return []
    fewest = min(len(route.param_convertors) for route in routes)
    methods: set[str] = set()
    for route in routes:
        if len(route.param_convertors) == fewest:
            methods |= route.methods or set()
    return sorted(methods)


async def _tick_forever(app: FastAPI) -> None:
    """End rounds whose time is up, and start the next where auto-advance is on."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.tick_seconds)
        try:
            await run_in_threadpool(tick, app)
        except Exception:
            # A failed tick must not stop the clock for every later round; it is logged
            # and retried on the next tick.
            logger.exception("clock tick failed")


def tick(app: FastAPI) -> list[str]:
    """One pass of the round clock; returns the events it changed."""
    db: Database = app.state.db
    clock: Clock = app.state.clock
    broker: Broker = app.state.broker
    now = clock.now()
    with db.reading() as session:
        due = round_service.due_events(session, now)
    changed: list[str] = []
    for event_id in due:
        with db.writing() as session:
            event = event_service.get_event(session, event_id, lock=True)
            if round_service.advance_if_due(session=session, event=event, now=now):
                changed.append(event_id)
        broker.publish([event_id])
    changed.extend(_purge_if_due(app, now))
    return changed


def _purge_if_due(app: FastAPI, now: datetime) -> list[str]:
    """Retention: at start-up and then every `purge_every_seconds`, delete the personal data
    of events that ended `retention_days` ago."""
    settings: Settings = app.state.settings
    last: datetime | None = getattr(app.state, "last_purge", None)
    if last is not None and (now - last).total_seconds() < settings.purge_every_seconds:
        return []
    app.state.last_purge = now
    db: Database = app.state.db
    days = settings.retention_days
    with db.reading() as session:
        due = [e.id for e in retention.due_events(session, now=now, days=days)]
    purged = []
    for event_id in due:
        # One transaction per event: a long sweep never holds SQLite's writer lock for long.
        with db.writing() as session:
            if retention.purge_if_due(session=session, event_id=event_id, now=now, days=days):
                purged.append(event_id)
                logger.info("retention: deleted the personal data of event %s", event_id)
    with db.writing() as session:
        # A series' memory has its own retention: members not seen for that long go.
        series.forget_stale(session=session, now=now)
    app.state.broker.publish(purged)
    return purged
