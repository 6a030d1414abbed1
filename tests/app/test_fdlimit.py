"""Open-file limits: raised at start, and a server at its limit fails soft (phones beyond
its room poll instead of streaming; nothing gets 500)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import random
import resource
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.db import create_database
from app.fdlimit import (
    PRIORITY_FLOOR,
    SQLITE_FILES,
    FileBudget,
    FileLimit,
    KeepFilesFree,
    budget_for,
    count_open_files,
    describe,
    headroom,
    out_of_files,
    quiet_accept_errors,
)
from app.migrate import upgrade
from tests.app.conftest import create_event, join
from tests.app.live import Server

PHONES = 400
LOW = 256
# The test process holds a socket per phone, and then some.
TEST_FILES = 4 * PHONES

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").exists(), reason="reads the server's limits in /proc"
)


# ------------------------------------------------------------------ the limit at start


def _in_child(soft: int, hard: int, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=partial(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def _hard_limit_or_skip(needed: int) -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs a hard open-file limit of {needed} or more (here {hard})")
    return needed if hard == resource.RLIM_INFINITY else hard


def test_a_low_soft_limit_is_raised_to_the_hard_limit_with_a_cap() -> None:
    hard = _hard_limit_or_skip(4096)
    code = (
        "import resource; from app.fdlimit import raise_open_file_limit as r; "
        "print(r(cap={cap}), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    uncapped = _in_child(LOW, hard, code.format(cap=10**9))
    assert uncapped == f"FileLimit(soft={hard}, hard={hard}, raised_from={LOW}, known=True) {hard}"
    capped = _in_child(LOW, hard, code.format(cap=2048))
    assert capped.endswith(f"raised_from={LOW}, known=True) 2048")
    # Already high enough: left alone.
    left = _in_child(hard, hard, code.format(cap=2048))
    assert left == f"FileLimit(soft={hard}, hard={hard}, raised_from=None, known=True) {hard}"


def test_the_start_up_lines_say_how_many_phones_fit_and_how_to_make_room() -> None:
    roomy = describe(FileLimit(soft=10240, hard=10240, raised_from=256))
    assert roomy == ["Open files: 10,240 (raised from 256): room for about 9,400 live phones."]
    low = describe(FileLimit(soft=256, hard=256))
    assert low[0] == "Open files: 256: room for about 55 live phones."
    assert len(low) == 2
    for how in ("ulimit -n", "launchctl", "LimitNOFILE", "--ulimit", "deployment-limits.md"):
        assert how in low[1]
    assert describe(FileLimit(soft=512, hard=512), workers=4)[0].endswith("per worker.")


# ------------------------------------------------------------------ admission


class FakeFiles:
    """Open files as the budget sees them, set by the test."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.now = 0.0

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def _budget(files: FakeFiles, soft: int = 1000, database: int = 0) -> FileBudget:
    return FileBudget(
        soft, database=lambda: database, count=lambda: files.count, clock=lambda: files.now
    )


def test_phones_stop_short_of_the_reserve_and_the_organiser_gets_in() -> None:
    files = FakeFiles(100)
    budget = _budget(files, soft=1000, database=80)
    room = 1000 - 100 - 80 - headroom(1000)
    assert budget.room() == room
    phones = [budget.admit("phone") for _ in range(room)]
    assert all(phones)
    # Admissions count at once, before the next look at the real count.
    assert budget.admit("phone") is None
    assert budget.near_limit()
    # The console and projector may use the reserve down to its floor.
    organiser = budget.admit("organiser")
    assert organiser is not None
    assert budget.admit("projector") is not None
    # Streams count per event once the phone is known.
    for slot in phones[:3]:
        assert slot is not None
        slot.event_id = "E1"
    load = budget.load("E1")
    assert (load.phones, load.phones_on_server, load.near_limit) == (3, room, True)
    # Phones leave; a later count finds their files closed.
    for slot in phones[:10]:
        assert slot is not None
        budget.release(slot)
    files.count = 100 + room + 2 - 10
    files.tick()
    assert budget.admit("phone") is not None


def test_priority_streams_keep_a_floor_for_everything_else() -> None:
    # After an admission at least PRIORITY_FLOOR files must still be free.
    files = FakeFiles(1000 - PRIORITY_FLOOR)
    budget = _budget(files)
    assert budget.admit("organiser") is None
    files.count -= 1
    files.tick()
    assert budget.admit("organiser") is not None


def test_open_files_are_counted_for_real_not_only_streams() -> None:
    """Keep-alive connections hold files too: a rise in the real count shrinks the room."""
    files = FakeFiles(100)
    budget = _budget(files)
    before = budget.room()
    files.count += 300
    files.tick()
    assert budget.room() == before - 300


def test_running_out_of_files_is_recognised() -> None:
    assert out_of_files(OSError(errno.EMFILE, "Too many open files"), None)
    wrapped = RuntimeError("database")
    wrapped.__cause__ = OSError(errno.ENFILE, "File table overflow")
    assert out_of_files(wrapped, None)
    assert out_of_files(RuntimeError("could not create socket: Too many open files"), None)
    assert not out_of_files(OSError(errno.ENOENT, "No such file"), None)
    assert not out_of_files(ValueError("unable to open database file"), None)


def test_accept_out_of_files_is_one_warning_line_not_a_traceback_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.new_event_loop()
    try:
        quiet_accept_errors(loop)
        full = OSError(errno.EMFILE, "Too many open files")
        with caplog.at_level(logging.WARNING):
            for _ in range(5):  # asyncio retries accept() every second
                loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": full}
                )
        assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
            ("WARNING", "out of open files")
        ]
        assert not any(r.exc_info for r in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.WARNING):  # anything else is reported as before
            loop.call_exception_handler({"message": "something else", "exception": full})
        assert [r.levelname for r in caplog.records] == ["ERROR"]
        assert caplog.records[0].exc_info is not None
    finally:
        loop.close()


def test_a_request_that_finds_no_file_left_is_503_not_500() -> None:
    def no_file(_request: Request) -> Response:
        raise OSError(errno.EMFILE, "Too many open files")

    def bug(_request: Request) -> Response:
        raise ValueError("a bug")

    app = Starlette(routes=[Route("/full", no_file), Route("/bug", bug)])
    app.add_middleware(KeepFilesFree)
    with TestClient(app, raise_server_exceptions=False) as client:
        full = client.get("/full")
        assert full.status_code == 503
        assert full.headers["retry-after"] == "5"
        assert full.json()["detail"]
        assert client.get("/bug").status_code == 500


@needs_proc
def test_sqlite_opens_all_its_files_at_start(tmp_path: Path) -> None:
    """A server near its limit could not open them later."""
    db = create_database(Settings(data_dir=tmp_path))
    upgrade(db.engine)
    try:
        budget = budget_for(db.engine, sqlite=True)
        before = count_open_files()
        assert before is not None
        with contextlib.ExitStack() as stack:
            for _ in range(40):
                connection = stack.enter_context(db.engine.connect())
                connection.exec_driver_sql("SELECT count(*) FROM events").all()
            assert count_open_files() == before
        assert budget.in_use() >= SQLITE_FILES
    finally:
        db.engine.dispose()


def test_a_refused_stream_is_503_with_retry_after_and_the_console_shows_it(
    client: TestClient,
) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    files = FakeFiles(10**6)  # nothing left
    client.app.state.files = _budget(files, soft=1000)  # type: ignore[attr-defined]
    response = client.get("/api/v1/me/stream", headers=ada.auth)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["detail"]
    # Polling still works, and tells the browser to close the connection.
    me = client.get("/api/v1/me", headers=ada.auth)
    assert me.status_code == 200
    assert me.headers["connection"] == "close"
    live = client.get(f"/api/v1/events/{event.id}/console", headers=event.auth).json()["live"]
    assert live == {"phones": 0, "phones_on_server": 0, "capacity": 0, "near_limit": True}


# ------------------------------------------------------------------ against a real server


@dataclass
class Phone:
    token: str
    # Seconds after the round started when this phone showed it, and how.
    saw: float | None = None
    by: str = ""
    settled: bool = False


@dataclass
class Room:
    """What the phones met, for the assertions and the report."""

    statuses: Counter[str]
    retry_after: set[str]
    started_at: float | None = None
    # Seconds from the first join to each step, for the report.
    steps: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def _files_for_the_test() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= TEST_FILES:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < TEST_FILES:
        pytest.skip(f"the test itself needs {TEST_FILES} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (TEST_FILES, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _shows_round_one(state: dict[str, Any]) -> bool:
    return state["round"] is not None and state["round"]["index"] == 1


async def _phone(url: str, phone: Phone, room: Room, tls: ssl.SSLContext) -> None:
    """A phone's live page, as static/common.js: the stream, and the state read at once;
    while the stream is down, GET /me every 4 to 6 s (a period of its own); a refused stream
    is tried again after 5 s, doubling, at random; a lost one after 2 s (EventSource)."""
    headers = {"Authorization": f"Bearer {phone.token}"}
    loop = asyncio.get_running_loop()
    stream_at = loop.time()
    period = random.uniform(4, 6)
    refused = 0

    def saw(state: dict[str, Any], by: str) -> bool:
        phone.settled = True
        if room.started_at is not None and _shows_round_one(state):
            phone.saw, phone.by = time.monotonic() - room.started_at, by
            return True
        return False

    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, verify=tls) as client:
        while True:
            if loop.time() >= stream_at:
                try:
                    async with client.stream("GET", "/api/v1/me/stream", headers=headers) as r:
                        room.statuses[f"stream {r.status_code}"] += 1
                        if r.status_code == 200:
                            async for line in r.aiter_lines():
                                if line.startswith("data:") and saw(json.loads(line[5:]), "stream"):
                                    return
                            stream_at = loop.time() + 2  # the stream ended: reconnect
                        else:
                            room.retry_after.add(r.headers.get("retry-after", ""))
                            refused += 1
                            wait = min(5 * 2 ** (refused - 1), 60) * random.uniform(0.5, 1.5)
                            stream_at = loop.time() + wait
                except httpx.TransportError:
                    room.statuses["stream lost"] += 1
                    stream_at = loop.time() + 2
            try:
                me = await client.get("/api/v1/me", headers=headers)
                room.statuses[f"poll {me.status_code}"] += 1
                if me.status_code == 200 and saw(me.json(), "poll"):
                    return
            except httpx.TransportError:
                room.statuses["poll lost"] += 1
            await asyncio.sleep(period)


async def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _first_state(client: httpx.AsyncClient, path: str, **kw: Any) -> tuple[int, Any]:
    async with client.stream("GET", path, **kw) as response:
        if response.status_code != 200:
            return response.status_code, None
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                return 200, json.loads(line[5:])
    return 0, None


async def _evening(server: Server) -> tuple[Room, list[Phone], dict[str, Any]]:
    """400 phones open their live page; then, with them connected, a walk-up joins, the
    console and projector connect, and the organiser starts round 1."""
    tls = ssl.create_default_context()
    room = Room(statuses=Counter(), retry_after=set())
    found: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=limits, verify=tls
    ) as organiser:
        begun = time.monotonic()
        created = await organiser.post("/api/v1/events", json={"name": "Full room", "rounds": 2})
        event = created.json()
        auth = {"Authorization": f"Bearer {event['organiser_token']}"}

        async def walk_in(name: str) -> str:
            joined = await organiser.post(f"/api/v1/join/{event['join_code']}", json={"name": name})
            assert joined.status_code == 201, joined.text
            token: str = joined.json()["token"]
            return token

        phones = [
            Phone(token)
            for token in await asyncio.gather(*(walk_in(f"Guest {i}") for i in range(PHONES)))
        ]
        room.steps["joined"] = time.monotonic() - begun
        tasks = []
        for phone in phones:
            tasks.append(asyncio.create_task(_phone(server.url, phone, room, tls)))
            await asyncio.sleep(2 / PHONES)  # everyone within two seconds
        try:
            assert await _wait(lambda: all(p.settled for p in phones), 20), room.statuses
            room.steps["connected"] = time.monotonic() - begun
            # With every phone connected (or polling): the organiser's streams get in...
            status, console = await _first_state(
                organiser, f"/api/v1/events/{event['id']}/stream", headers=auth
            )
            found["console stream"] = status
            found["live"] = console and console["live"]
            status, _ = await _first_state(
                organiser,
                f"/api/v1/events/{event['id']}/display/stream",
                params={"key": event["projector_key"]},
            )
            found["projector stream"] = status
            # ...a walk-up joins and reads their page...
            late = await organiser.post(f"/api/v1/join/{event['join_code']}", json={"name": "Late"})
            found["join"] = late.status_code
            me = await organiser.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {late.json()['token']}"}
            )
            found["me"] = me.status_code
            # ...and the round starts.
            room.started_at = time.monotonic()
            started = await organiser.post(
                f"/api/v1/events/{event['id']}/rounds", headers=auth, json={"expected_index": 1}
            )
            found["start"] = started.status_code
            await _wait(lambda: all(p.saw is not None for p in phones), 15)
            room.steps["round 1 everywhere"] = time.monotonic() - begun
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return room, phones, found


def _server(tmp_path: Path, database_url: str, files: tuple[int, int]) -> Server:
    return Server(data_dir=tmp_path, database_url=database_url, files=files)


def _log(server: Server) -> str:
    assert server.log is not None
    return server.log.read_text()


@needs_proc
def test_a_low_soft_limit_is_raised_and_every_phone_streams(
    tmp_path: Path, database_url: str
) -> None:
    hard = _hard_limit_or_skip(2048)
    server = _server(tmp_path, database_url, (LOW, hard))
    with _files_for_the_test():
        server.start()
        try:
            assert server.process is not None
            limits = Path(f"/proc/{server.process.pid}/limits").read_text()
            soft = min(hard, 65536)
            assert f"Max open files            {soft:<21}" in limits
            room, phones, found = asyncio.run(_evening(server))
        finally:
            server.stop()
    print(f"\n{database_url.split(':')[0]} soft {LOW} hard {hard}: {dict(room.statuses)}")
    print(f"steps {room.steps}; slowest {max(p.saw or 99 for p in phones):.1f} s")
    assert f"(raised from {LOW})" in _log(server)
    assert room.statuses["stream 200"] == PHONES, room.statuses
    assert not room.statuses.keys() - {"stream 200"}, room.statuses
    assert found == {
        "console stream": 200,
        "live": found["live"],
        "projector stream": 200,
        "join": 201,
        "me": 200,
        "start": 201,
    }
    assert found["live"]["phones"] == PHONES
    assert not found["live"]["near_limit"]
    assert all(p.saw is not None and p.by == "stream" for p in phones)
    assert max(p.saw or 0 for p in phones) < 10


@needs_proc
def test_at_a_low_hard_limit_phones_beyond_the_room_poll_and_nothing_fails(
    tmp_path: Path, database_url: str
) -> None:
    server = _server(tmp_path, database_url, (LOW, LOW))
    with _files_for_the_test():
        server.start()
        try:
            room, phones, found = asyncio.run(_evening(server))
        finally:
            server.stop()
    log = _log(server)
    late = sorted(p.saw or 99 for p in phones)
    print(
        f"\n{database_url.split(':')[0]} soft=hard={LOW}: {dict(room.statuses)}; "
        f"by stream {sum(p.by == 'stream' for p in phones)}, "
        f"by polling {sum(p.by == 'poll' for p in phones)}; slowest {late[-1]:.1f} s; {found}; "
        f"steps {room.steps}"
    )
    # Never a 500, never the database failing to open.
    assert not [s for s in room.statuses if s.endswith(" 500")], room.statuses
    assert '" 500' not in log
    assert "unable to open database file" not in log
    assert "Traceback" not in log
    # Some phones stream; those beyond the room are refused politely and poll.
    assert room.statuses["stream 200"] > 20, room.statuses
    assert room.statuses["stream 503"] > 0, room.statuses
    assert room.retry_after == {"30"}
    assert set(room.statuses) <= {
        "stream 200",
        "stream 503",
        "stream lost",
        "poll 200",
        "poll lost",
    }, room.statuses
    # The organiser's streams get in while phones are refused; joins and GET /me work.
    assert {k: v for k, v in found.items() if k != "live"} == {
        "console stream": 200,
        "projector stream": 200,
        "join": 201,
        "me": 200,
        "start": 201,
    }
    assert found["live"]["near_limit"]
    assert 20 < found["live"]["phones"] < PHONES
    # Every phone shows round 1 within 10 s, by its stream or by polling.
    assert late[-1] < 10, late[-10:]
