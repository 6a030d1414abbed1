"""Open files: the process's limit raised at start, and shared out while the server runs.

Every phone on the live page holds a connection, and every connection is an open file.
Laptops start processes with few (macOS 256, most Linux desktops 1024). Were the streams to
use them all, the database could no longer be opened, and joins, GET /me and the console
would fail with 500. So `serve` and `demo` raise the soft limit to the hard one before they
listen; SQLite's connections are all opened at start-up, while files are plentiful; and a
new phone stream that would eat into the files kept for the database, ordinary requests and
the organiser is refused with 503 (the phone polls instead and tries again later). The
console and projector streams may use part of that reserve.

When the table fills anyway (hundreds of phones arriving within a second), accept() fails
with EMFILE. The standard event loop (`serve`'s default) then stops accepting for a second
and tries again, the phones waiting meanwhile in the queue of the listening socket; it would
log a traceback at each try, so `quiet_accept_errors` makes that one warning line every 10
seconds. uvloop (COMMONGROUND_EVENT_LOOP=uvloop) accepts and at once closes the connections
waiting, and those phones try again by themselves.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas import LiveLoad

if TYPE_CHECKING:
    from sqlalchemy import Engine

logger = logging.getLogger("commonground")

# Files the server holds besides its connections: standard streams, the event loop's
# poller and pipes, the listening socket, log files (19 measured on Linux with uvloop).
BASELINE = 24
# SQLite: the database file and its WAL per pooled connection (40, app/db.py), and one
# shared-memory file. PostgreSQL needs fewer: one socket per connection and LISTEN's.
SQLITE_FILES = 40 * 2 + 1
# Organiser and projector streams are refused only with fewer files than this to spare.
PRIORITY_FLOOR = 4
# Phones are admitted by the highest count of open files over this many seconds.
PEAK_SECONDS = 5.0
# Below this many live phones, the start-up lines say how to raise the limit.
ENOUGH_PHONES = 1000
DOCS = "docs/deployment-limits.md"


def headroom(soft: int) -> int:
    """Files kept for ordinary requests (polling phones, joins, the organiser's clicks) and
    priority streams: phone streams stop this far short of the limit."""
    return max(96, soft // 16)


@dataclass(frozen=True)
class FileLimit:
    """The open-file limit of this process after `raise_open_file_limit`."""

    soft: int
    # -1: unlimited (RLIM_INFINITY).
    hard: int
    # The soft limit before it was raised; None if it was left as it was.
    raised_from: int | None = None
    # False where the system has no such per-process limit to read (Windows).
    known: bool = True

    @property
    def live_phones(self) -> int:
        """About how many phones can hold a live stream (one worker process, SQLite)."""
        return max(0, self.soft - BASELINE - SQLITE_FILES - headroom(self.soft))


def raise_open_file_limit(cap: int = 65536) -> FileLimit:
    """Raise the soft open-file limit to the hard limit (at most `cap`). Child processes,
    such as uvicorn's workers, inherit it."""
    if sys.platform == "win32":
        return FileLimit(soft=cap, hard=cap, known=False)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    shown = -1 if hard == unlimited else hard
    target = cap if hard == unlimited else min(hard, cap)
    if soft == unlimited or soft >= target:
        return FileLimit(soft=cap if soft == unlimited else soft, hard=shown)
    # macOS refuses more than kern.maxfilesperproc even under an unlimited hard limit;
    # 10240 (OPEN_MAX) is always allowed there.
    for wanted in dict.fromkeys((target, min(target, 10240))):
        if wanted <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            continue
        return FileLimit(soft=wanted, hard=shown, raised_from=soft)
    return FileLimit(soft=soft, hard=shown)


def describe(limit: FileLimit, *, workers: int = 1) -> list[str]:
    """The start-up lines: the limit, how many live phones it allows, and how to raise it
    when that is too few for a big room."""
    if not limit.known:
        return ["Open files: no per-process limit on this system."]
    raised = f" (raised from {limit.raised_from:,})" if limit.raised_from is not None else ""
    each = " per worker" if workers > 1 else ""
    lines = [
        f"Open files: {limit.soft:,}{raised}: "
        f"room for about {_about(limit.live_phones)} live phones{each}."
    ]
    if limit.live_phones * workers < ENOUGH_PHONES:
        lines.append(
            "More phones poll every few seconds instead. To make room, raise the limit and "
            "start again: `ulimit -n 65536` in this shell (or the hard limit in "
            "/etc/security/limits.conf); macOS: `sudo launchctl limit maxfiles 65536 200000`; "
            "systemd: LimitNOFILE=65536; Docker: --ulimit nofile=65536:65536 "
            f"(see {DOCS})."
        )
    return lines


def _about(n: int) -> str:
    """Two significant figures: 9,884 → 9,800; 92 → 92."""
    if n < 100:
        return str(n)
    step = 10 ** (len(str(n)) - 2)
    return f"{n // step * step:,}"


# ------------------------------------------------------------------ while serving


def count_open_files() -> int | None:
    """Files this process has open; None where the system cannot tell."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            # Listing the folder opens one more: not counted.
            return len(os.listdir(folder)) - 1
        except FileNotFoundError:
            continue
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE):
                return _soft_limit() or 1 << 30  # full: not even the listing fits
            continue
    return None


def _soft_limit() -> int | None:
    if sys.platform == "win32":
        return None
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


StreamKind = Literal["phone", "organiser", "projector"]


class StreamSlot:
    """One admitted live stream; a phone's names its event once the phone is known."""

    __slots__ = ("event_id", "kind")

    def __init__(self, kind: StreamKind) -> None:
        self.kind = kind
        self.event_id: str | None = None


class FileBudget:
    """Counts live streams and admits a new one only while it leaves the files the rest of
    the server needs: the database's, ordinary requests' (`headroom`) and, for phones, the
    organiser's and projector's streams.

    Open files are counted for real (every keep-alive connection holds one, not only the
    streams), at most every 0.1 s near the limit and every second far from it; streams
    admitted in between are added on top. Phones are judged by the highest count of the
    last few seconds: polling phones come in waves, and a phone let in during a lull would
    take the files the next wave (and the organiser) needs.
    """

    def __init__(
        self,
        soft: int,
        *,
        database: Callable[[], int] = lambda: 0,
        count: Callable[[], int | None] = count_open_files,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.soft = soft
        self.headroom = headroom(soft)
        self._database = database
        self._count = count
        self._clock = clock
        self._slots: set[StreamSlot] = set()
        self._lock = threading.Lock()
        self._measured: int | None = None
        self._measured_at = -1e9
        self._recent: deque[tuple[float, int]] = deque()
        self._admitted_since = 0
        self._refused_at = -1e9

    def in_use(self, *, peak: bool = False) -> int:
        """Open files now, or at most in the last `PEAK_SECONDS` (a recent count, plus
        streams admitted since)."""
        with self._lock:
            now = self._clock()
            near = self._measured is not None and self._measured > self.soft // 2
            if now - self._measured_at >= (0.1 if near else 1.0):
                self._measured = self._count()
                self._measured_at = now
                self._admitted_since = 0
                if self._measured is not None:
                    self._recent.append((now, self._measured))
                while self._recent and now - self._recent[0][0] > PEAK_SECONDS:
                    self._recent.popleft()
            if self._measured is None:
                # No way to count here: what the server holds for sure.
                return BASELINE + SQLITE_FILES + len(self._slots)
            base = max(n for _, n in self._recent) if peak and self._recent else self._measured
            return max(base + self._admitted_since, len(self._slots))

    def _spare(self, *, peak: bool = False) -> int:
        """Files left once the database has opened all it may still open."""
        return self.soft - self.in_use(peak=peak) - self._database()

    def admit(self, kind: StreamKind) -> StreamSlot | None:
        """A slot for a new stream, or None: phones stop `headroom` short of the limit, the
        organiser's and projector's streams `PRIORITY_FLOOR` short."""
        phone = kind == "phone"
        if self._spare(peak=phone) - 1 < (self.headroom if phone else PRIORITY_FLOOR):
            if phone:
                self._refused_at = self._clock()
            return None
        slot = StreamSlot(kind)
        with self._lock:
            self._slots.add(slot)
            self._admitted_since += 1
        return slot

    def release(self, slot: StreamSlot) -> None:
        with self._lock:
            self._slots.discard(slot)

    def phones(self, event_id: str | None = None) -> int:
        """Live phone streams: of one event, or of all."""
        with self._lock:
            return sum(
                1
                for s in self._slots
                if s.kind == "phone" and (event_id is None or s.event_id == event_id)
            )

    def room(self) -> int:
        """How many more phones can stream now."""
        return max(0, self._spare(peak=True) - self.headroom)

    def near_limit(self) -> bool:
        """Phones were refused a stream in the last minute, or soon will be."""
        if self._clock() - self._refused_at < 60:
            return True
        room = self.room()
        return room < max(8, (self.phones() + room) // 10)

    def load(self, event_id: str) -> LiveLoad:
        """What the console shows about it."""
        phones = self.phones()
        return LiveLoad(
            phones=self.phones(event_id),
            phones_on_server=phones,
            capacity=phones + self.room(),
            near_limit=self.near_limit(),
        )


def live_load(app: object, event_id: str) -> LiveLoad | None:
    """The console's figures, where the server counts its streams (not in a test client
    without a lifespan)."""
    budget: FileBudget | None = getattr(getattr(app, "state", None), "files", None)
    return None if budget is None else budget.load(event_id)


def budget_for(engine: Engine, *, sqlite: bool) -> FileBudget:
    """This worker process's budget (the limit read now: each worker has its own), with
    SQLite's pooled connections opened up front so the database never needs a file later."""
    if sqlite:
        open_database_files(engine)
    soft = _soft_limit()
    return FileBudget(
        soft=soft if soft is not None else 1 << 30,
        database=_unopened_database_files(engine, sqlite=sqlite),
    )


def open_database_files(engine: Engine) -> None:
    """Open every connection the pool may hold, and the WAL with each (a query that reads
    the database opens it), then return them to the pool, which keeps them."""
    with ExitStack() as stack:
        for _ in range(_pool_capacity(engine)):
            connection = stack.enter_context(engine.connect())
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()


def _pool_capacity(engine: Engine) -> int:
    from sqlalchemy.pool import QueuePool

    pool = engine.pool
    if isinstance(pool, QueuePool):
        return pool.size() + max(0, pool._max_overflow)
    return 1


def _unopened_database_files(engine: Engine, *, sqlite: bool) -> Callable[[], int]:
    """Files the database may still open: connections the pool has yet to open, at two
    files each on SQLite (database and WAL) and one socket on PostgreSQL, plus the
    shared-memory file (SQLite) or a reconnecting LISTEN (PostgreSQL)."""
    from sqlalchemy.pool import QueuePool

    pool = engine.pool
    per_connection = 2 if sqlite else 1

    def unopened() -> int:
        if not isinstance(pool, QueuePool):
            return per_connection + 1
        opened = pool.size() + pool.overflow()
        capacity = pool.size() + max(0, pool._max_overflow)
        return max(0, capacity - opened) * per_connection + (1 if not sqlite or not opened else 0)

    return unopened


# ------------------------------------------------------------------ the middleware


class KeepFilesFree:
    """Near the limit, ordinary responses close their connection (an idle keep-alive
    connection holds a file for seconds); and a request that finds no file left anyway is
    answered 503 with Retry-After, not 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._warned_at = -1e9

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget: FileBudget | None = getattr(scope["app"].state, "files", None)
        started = False

        async def closing(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                stream = headers.get("content-type", "").startswith("text/event-stream")
                if budget is not None and not stream and budget.near_limit():
                    headers["connection"] = "close"
            await send(message)

        try:
            await self.app(scope, receive, closing)
        except Exception as error:
            if started or not out_of_files(error, budget):
                raise
            self._warn(budget)
            busy = JSONResponse(
                {"detail": "the server is busy; try again in a few seconds"},
                status_code=503,
                headers={"Retry-After": "5", "Connection": "close"},
            )
            await busy(scope, receive, send)

    def _warn(self, budget: FileBudget | None) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 10:
            self._warned_at = now
            limit = f" (limit {budget.soft:,})" if budget is not None else ""
            logger.warning(
                "out of open files%s: answering 503 until some are free (see %s)",
                limit,
                DOCS,
            )


_ACCEPT_FAILED = "socket.accept() out of system resource"


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio's accept() out of files: one warning line every 10 seconds instead of a
    traceback at each of its retries (a second apart); every other error as before."""
    before = loop.get_exception_handler()
    warned_at = -math.inf

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal warned_at
        error = context.get("exception")
        if (
            context.get("message") == _ACCEPT_FAILED
            and isinstance(error, OSError)
            and error.errno in (errno.EMFILE, errno.ENFILE)
        ):
            now = time.monotonic()
            if now - warned_at >= 10:
                warned_at = now
                logger.warning(
                    "out of open files: new connections wait until some are free (see %s)",
                    DOCS,
                )
            return
        if before is not None:
            before(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def out_of_files(error: BaseException, budget: FileBudget | None) -> bool:
    """Whether an error means this process ran out of file handles."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.EMFILE, errno.ENFILE):
            return True
        text = str(current)
        if "Too many open files" in text:
            return True  # PostgreSQL (libpq) says it in words
        if "unable to open database file" in text and budget is not None:
            # SQLite does not say why; in a server that opened it at start, a full table
            # is the likely cause. Checked now, with a fresh count.
            found = count_open_files()
            return found is not None and found >= budget.soft - PRIORITY_FLOOR
        current = current.__cause__ or current.__context__
    return False
