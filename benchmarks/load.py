"""The live service under load: joins at once, phones on live streams, GET /me throughput.

    .venv/bin/python benchmarks/load.py [--attendees 500] [--samples 2] [--readers 200]
                                        [--few-readers 20] [--duration 15] [--warmup 2]
                                        [--database-url URL [--reset-schema]]
                                        [--keep] [--time-limit 300]

A script that prints plain-text tables (never a test). It starts its own server
(`python -m app.cli serve`: one uvicorn worker on a free loopback port; SQLite in a temporary
folder unless --database-url is given), drives it from this process with asyncio and httpx2,
and stops it at the end. Only loopback traffic; every phase has its own time limit and the
whole run stops after --time-limit seconds. --reset-schema drops and recreates the schema
`public` of the PostgreSQL database first (as the tests do); without it the run adds one
event to whatever is there. Exit status 1 if any request failed (a non-201 join, a 5xx, a
transport error, a phone that never saw a round), else 0 (even when a goal is missed).
docs/benchmarks.md explains every figure and holds the latest output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

# This file is benchmarks/load.py: run as a script, its own folder comes first on sys.path and
# its sibling benchmarks/matching.py would shadow the `matching` package. The root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.config import Settings
from app.deps import WRITERS
from benchmarks.report import heading, say, table
from matching.defaults import DEFAULT_QUESTIONS

ROOT = Path(__file__).resolve().parents[1]
GOAL_FANOUT_SECONDS = 2.0
REQUEST_TIMEOUT = 60.0  # GET /me under load: a client gives up after this long
HEARTBEAT_SECONDS = 15.0
TICK_SECONDS = 1.0
ROUND_SECONDS = 1800  # no round ends on its own during the run
ORGANISATIONS = [f"Org {i:02d}" for i in range(40)]


# ------------------------------------------------------------------ output


def loud(message: str) -> None:
    """A failure: on its own line, impossible to miss."""
    say(f"!!! FAILURE: {message}")


def ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def secs(value: float) -> str:
    return f"{value:.3f}"


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """`python -m app.cli serve` in a subprocess, its output in `log`."""

    data_dir: Path
    database_url: str
    join_rate: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def settings(self) -> dict[str, str]:
        return {
            "COMMONGROUND_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "COMMONGROUND_PUBLIC_URL": self.url,
            "COMMONGROUND_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "COMMONGROUND_TICK_SECONDS": str(TICK_SECONDS),
            "COMMONGROUND_JOIN_RATE_PER_MINUTE": str(self.join_rate),
        }

    def start(self, timeout: float = 60.0) -> None:
        # Only the settings above: nothing inherited (an admin token, another database).
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("COMMONGROUND_") and name != "DATABASE_URL"
        }
        env.update(self.settings())
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start in {timeout:.0f} s:\n{self.log.read_text()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        if self.process is None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return float("nan")
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def reset_schema(database_url: str) -> None:
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@dataclass
class CpuMeter:
    """CPU seconds used by the server and by this load generator over one measured window."""

    server: Server
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    _start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        self._start = (time.perf_counter(), self.server.cpu_seconds(), time.process_time())

    def stop(self) -> None:
        wall, server, client = self._start
        self.wall = time.perf_counter() - wall
        self.server_cpu = self.server.cpu_seconds() - server
        self.client_cpu = time.process_time() - client

    def describe(self) -> str:
        if self.wall <= 0:
            return "-"
        return (
            f"server CPU {self.server_cpu:.1f} s ({self.server_cpu / self.wall:.2f} cores), "
            f"load generator CPU {self.client_cpu:.1f} s ({self.client_cpu / self.wall:.2f} cores)"
            f" over {self.wall:.1f} s"
        )


# ------------------------------------------------------------------ 1. joins


def profile(i: int, rng: random.Random) -> dict[str, Any]:
    """A plausible attendee: a few answers to the default questions, one of 40 organisations."""
    answers: dict[str, list[str]] = {}
    for question in DEFAULT_QUESTIONS:
        most = 3 if question.kind == "shared" else 1
        picked = rng.sample(list(question.suggestions), rng.randint(0, most))
        if picked:
            answers[question.key] = picked
    return {
        "name": f"Guest {i:04d}",
        "organisation": rng.choice(ORGANISATIONS),
        "answers": answers,
    }


@dataclass
class Joins:
    wall: float
    latencies: list[float]
    statuses: Counter[str]
    tokens: list[str]
    cpu: CpuMeter


async def join_all(
    client: httpx.AsyncClient, server: Server, code: str, count: int, seed: int
) -> Joins:
    rng = random.Random(seed)
    bodies = [profile(i, rng) for i in range(count)]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    tokens: list[str] = []

    async def one(body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            response = await client.post(f"/api/v1/join/{code}", json=body)
        except httpx.HTTPError as error:
            statuses[type(error).__name__] += 1
            return
        latencies.append(time.perf_counter() - started)
        statuses[str(response.status_code)] += 1
        if response.status_code == 201:
            tokens.append(response.json()["token"])

    cpu = CpuMeter(server)
    cpu.start()
    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    wall = time.perf_counter() - started
    cpu.stop()
    return Joins(wall, latencies, statuses, tokens, cpu)


# ------------------------------------------------------------------ 2. phones on streams


@dataclass
class Seen:
    at: float  # perf_counter when the blank line ending the message arrived
    index: int  # 0 before the first round
    phase: str | None
    placed: bool  # has a table, or is sitting out


@dataclass
class Phone:
    """One attendee's GET /me/stream, read as a browser's EventSource would."""

    token: str
    opened: float = 0.0
    status: int | None = None
    error: str | None = None
    states: list[Seen] = field(default_factory=list)
    heartbeats: int = 0

    async def run(self, client: httpx.AsyncClient) -> None:
        self.opened = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        try:
            async with client.stream("GET", "/api/v1/me/stream", headers=headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.error = f"HTTP {response.status_code}"
                    return
                kind = "message"
                data: list[str] = []
                async for line in response.aiter_lines():
                    if line == "":
                        if data and kind == "state":
                            self._state(time.perf_counter(), "\n".join(data))
                        kind, data = "message", []
                    elif line.startswith(":"):
                        self.heartbeats += 1
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "event":
                            kind = value
                        elif name == "data":
                            data.append(value)
                self.error = "the server closed the stream"
        except httpx.HTTPError as error:
            self.error = f"{type(error).__name__}: {error}"

    def _state(self, at: float, raw: str) -> None:
        body = json.loads(raw)
        current = body.get("round")
        if current is None:
            self.states.append(Seen(at, 0, None, False))
        else:
            placed = current.get("table") is not None or bool(current.get("sitting_out"))
            self.states.append(Seen(at, int(current["index"]), current.get("phase"), placed))

    def first(self, since: int, test: Callable[[Seen], bool]) -> Seen | None:
        return next((s for s in self.states[since:] if test(s)), None)


def showing(index: int) -> Callable[[Seen], bool]:
    """A state of round `index` (any phase)."""
    return lambda seen: seen.index == index


def ended(index: int) -> Callable[[Seen], bool]:
    """A state of round `index`, ended."""
    return lambda seen: seen.index == index and seen.phase == "ended"


async def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.005) -> bool:
    """Poll `check` until it holds or `timeout` passes (the phones keep their own times)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return True
        await asyncio.sleep(poll)
    return check()


async def settle(phones: Sequence[Phone], quiet: float = 0.5, timeout: float = 15.0) -> None:
    """Wait until no phone has received a state for `quiet` seconds."""
    deadline = time.perf_counter() + timeout
    count = sum(len(p.states) for p in phones)
    while time.perf_counter() < deadline:
        await asyncio.sleep(quiet)
        now = sum(len(p.states) for p in phones)
        if now == count:
            return
        count = now


@dataclass
class Connect:
    wall: float
    delays: list[float]
    failed: int
    cpu: CpuMeter


@dataclass
class Fanout:
    label: str
    request: str  # status of the organiser's POST
    request_latency: float
    last: float  # seconds from just before the POST to the last phone's state
    delays: list[float]
    missing: int
    unplaced: int
    extra_states: int  # states beyond the one awaited, per window
    cpu: CpuMeter


async def fanout(
    label: str,
    server: Server,
    phones: Sequence[Phone],
    action: Callable[[], Awaitable[httpx.Response]],
    test: Callable[[Seen], bool],
    timeout: float,
) -> Fanout:
    marks = [len(p.states) for p in phones]
    cpu = CpuMeter(server)
    cpu.start()
    started = time.perf_counter()
    try:
        response = await action()
        request = str(response.status_code)
    except httpx.HTTPError as error:
        request = type(error).__name__
    request_latency = time.perf_counter() - started
    await wait_until(
        lambda: all(p.first(m, test) is not None for p, m in zip(phones, marks, strict=True)),
        timeout,
    )
    cpu.stop()
    seen = [p.first(m, test) for p, m in zip(phones, marks, strict=True)]
    got = [s for s in seen if s is not None]
    delays = [s.at - started for s in got]
    await settle(phones)
    extra = sum(len(p.states) - m for p, m in zip(phones, marks, strict=True)) - len(got)
    return Fanout(
        label=label,
        request=request,
        request_latency=request_latency,
        last=max(delays) if delays else float("nan"),
        delays=delays,
        missing=len(phones) - len(got),
        unplaced=sum(1 for s in got if s.index > 0 and s.phase != "ended" and not s.placed),
        extra_states=extra,
        cpu=cpu,
    )


# ------------------------------------------------------------------ 3. GET /me


@dataclass
class Reads:
    readers: int
    duration: float
    warmup: float
    completed: int
    latencies: list[float]
    statuses: Counter[str]
    slowest: float  # any response or error, whole run
    cpu: CpuMeter
    recovery: str = "-"  # after the load: how long until GET /me answers 200 again
    recovered: bool = True

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != "200")


async def serial_reads(server: Server, token: str, count: int) -> list[float]:
    """One client, one request at a time: what a single GET /me costs the server."""
    latencies = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(30.0)) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get("/api/v1/me", headers=headers)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


async def read_load(server: Server, tokens: Sequence[str], duration: float, warmup: float) -> Reads:
    """Every token's client loops on GET /me for warmup + duration seconds."""
    readers = len(tokens)
    limits = httpx.Limits(max_connections=readers, max_keepalive_connections=readers)
    statuses: Counter[str] = Counter()
    records: list[tuple[float, float]] = []  # (start, end) of each 200 response
    slowest = 0.0
    cpu = CpuMeter(server)
    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, timeout=httpx.Timeout(REQUEST_TIMEOUT)
    ) as client:
        start = time.perf_counter()
        measure_from = start + warmup
        end = measure_from + duration

        async def worker(token: str) -> None:
            nonlocal slowest
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(1_000_000):  # bounded; the clock ends it long before
                began = time.perf_counter()
                if began >= end:
                    return
                try:
                    response = await client.get("/api/v1/me", headers=headers)
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1
                    slowest = max(slowest, time.perf_counter() - began)
                    continue
                ended = time.perf_counter()
                slowest = max(slowest, ended - began)
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    records.append((began, ended))

        async def meter() -> None:
            await asyncio.sleep(warmup)
            cpu.start()
            await asyncio.sleep(duration)
            cpu.stop()

        await asyncio.wait_for(
            asyncio.gather(meter(), *(worker(t) for t in tokens)),
            warmup + duration + REQUEST_TIMEOUT + 30,
        )
    in_window = [(b, e) for b, e in records if measure_from <= e <= end]
    return Reads(
        readers=readers,
        duration=duration,
        warmup=warmup,
        completed=len(in_window),
        latencies=[e - b for b, e in in_window if b >= measure_from],
        statuses=statuses,
        slowest=slowest,
        cpu=cpu,
    )


async def recovery(server: Server, token: str, limit: float) -> tuple[bool, str]:
    """After a load with errors: GET /me every 2 s (10 s timeout) until it answers 200."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    attempts = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10.0)) as client:
        while attempts < 1000 and time.perf_counter() - started < limit:
            attempts += 1
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get("/api/v1/me", headers=headers)
                if response.status_code == 200:
                    waited = time.perf_counter() - started
                    return True, f"200 after {waited:.0f} s ({attempts} tries)"
            await asyncio.sleep(2.0)
    return False, f"no 200 in {time.perf_counter() - started:.0f} s ({attempts} tries)"


# ------------------------------------------------------------------ the run


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    targets: list[tuple[bool, str, str]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        loud(message)


def print_joins(report: Report, joins: Joins, count: int) -> None:
    heading(f"1. {count} attendees joining at once")
    say(f"{count} concurrent POST /api/v1/join/{{code}} (one connection each), one event;")
    say("latency = from sending the request to having the response, as the client saw it.")
    say()
    lat = joins.latencies
    rows = [
        ["wall time, all joins (s)", secs(joins.wall)],
        ["joins per second", f"{count / joins.wall:.0f}"],
        ["latency p50 (ms)", ms(quantile(lat, 0.50))],
        ["latency p95 (ms)", ms(quantile(lat, 0.95))],
        ["latency p99 (ms)", ms(quantile(lat, 0.99))],
        ["latency max (ms)", ms(max(lat) if lat else float("nan"))],
        ["responses", ", ".join(f"{n} x {code}" for code, n in sorted(joins.statuses.items()))],
        ["non-201 responses or errors", str(count - joins.statuses["201"])],
    ]
    say(table(["figure", "value"], rows))
    say(joins.cpu.describe())
    bad = count - joins.statuses["201"]
    fives = sum(n for code, n in joins.statuses.items() if code.startswith("5"))
    if fives:
        report.fail(f"{fives} joins answered with a 5xx")
    if bad:
        report.fail(f"{bad} of {count} joins did not get 201: {dict(joins.statuses)}")
    report.targets.append(
        (bad == 0, f"{count} joins at once, every one 201", f"{joins.statuses['201']} of {count}")
    )


def print_connect(connect: Connect, count: int) -> None:
    heading(f"2. {count} phones on GET /api/v1/me/stream")
    say(f"{count} streams opened at once; 'first state' = from opening the stream to receiving")
    say("its first `event: state` (the full /me view).")
    say()
    rows = [
        ["all first states received (s)", secs(connect.wall)],
        ["first state p50 (ms)", ms(quantile(connect.delays, 0.50))],
        ["first state p95 (ms)", ms(quantile(connect.delays, 0.95))],
        ["streams refused or broken", str(connect.failed)],
    ]
    say(table(["figure", "value"], rows))
    say(connect.cpu.describe())


def print_fanouts(report: Report, fanouts: Sequence[Fanout], count: int) -> None:
    say()
    say("The organiser acts; 'last phone' = from just before the POST until the last of the")
    say(f"{count} phones has a state showing it; 'first phone', median and p95: the per-phone")
    say("delays, measured the same way.")
    say("'POST' = the organiser's own request (it includes drawing the round).")
    say()
    headers = [
        "action",
        "POST",
        "POST (ms)",
        "first phone (s)",
        "last phone (s)",
        "median (s)",
        "p95 (s)",
        "missing",
        "no table",
        "extra states",
    ]
    rows = [
        [
            f.label,
            f.request,
            ms(f.request_latency),
            secs(min(f.delays) if f.delays else float("nan")),
            secs(f.last),
            secs(quantile(f.delays, 0.5)),
            secs(quantile(f.delays, 0.95)),
            str(f.missing),
            str(f.unplaced),
            str(f.extra_states),
        ]
        for f in fanouts
    ]
    say(table(headers, rows))
    for f in fanouts:
        say(f"{f.label}: {f.cpu.describe()}")
    starts = [f for f in fanouts if f.label.startswith("start")]
    lasts = [f.last for f in starts]
    say()
    say(
        f"round starts: last phone after {', '.join(secs(x) for x in lasts)} s; "
        f"median {secs(statistics.median(lasts))} s"
    )
    for f in fanouts:
        if not f.request.startswith("2"):
            report.fail(f"{f.label}: the organiser's request got {f.request}")
        if f.missing:
            report.fail(f"{f.label}: {f.missing} phones never showed it")
        if f.unplaced:
            report.fail(f"{f.label}: {f.unplaced} phones in the round without a table")
    worst = max(lasts)
    report.targets.append(
        (
            worst < GOAL_FANOUT_SECONDS,
            f"round start reaches all {count} phones in < {GOAL_FANOUT_SECONDS:.0f} s",
            f"{', '.join(secs(x) for x in lasts)} s (median {secs(statistics.median(lasts))} s)",
        )
    )


def print_reads(report: Report, serial: Sequence[float], loads: Sequence[Reads]) -> None:
    clients = " and ".join(str(r.readers) for r in loads)
    duration = loads[-1].duration
    heading(f"3. GET /api/v1/me: {clients} concurrent clients, {duration:.0f} s each")
    say("Each client has its own attendee token and loops on GET /me over keep-alive")
    say(f"connections; the first {loads[-1].warmup:.0f} s are a warm-up and not counted.")
    say("requests/s = responses completed inside the window / its length; latencies of the")
    say("requests sent in it. 'one client' = 30 requests one after another, before the load.")
    say("'server answers again' = after a load with errors, GET /me every 2 s until a 200.")
    say()
    one = statistics.median(serial) if serial else float("nan")
    say(f"one client: latency median {one * 1000:.1f} ms ({len(serial)} requests)")
    say()

    def column(r: Reads) -> list[str]:
        return [
            f"{r.completed / r.duration:.0f}",
            ms(quantile(r.latencies, 0.50)),
            ms(quantile(r.latencies, 0.95)),
            ms(quantile(r.latencies, 0.99)),
            str(r.completed),
            secs(r.slowest),
            ", ".join(f"{n} x {code}" for code, n in sorted(r.statuses.items())),
            str(r.errors),
            r.recovery,
        ]

    names = [
        "requests per second",
        "latency p50 (ms)",
        "latency p95 (ms)",
        "latency p99 (ms)",
        "requests in the window",
        "slowest response or error (s)",
        "responses, whole run",
        "errors (non-200 or transport)",
        "server answers again",
    ]
    columns = [column(r) for r in loads]
    rows = [[name, *(c[i] for c in columns)] for i, name in enumerate(names)]
    say(table(["figure", *(f"{r.readers} clients" for r in loads)], rows))
    for r in loads:
        say(f"{r.readers} clients: {r.cpu.describe()}")
    for r in loads:
        if r.errors:
            report.fail(f"GET /me, {r.readers} clients: {r.errors} errors: {dict(r.statuses)}")
        if not r.recovered:
            report.fail(f"GET /me after {r.readers} clients: {r.recovery}")
        report.targets.append(
            (
                r.errors == 0,
                f"GET /me under {r.readers} concurrent clients, no errors",
                f"{r.completed / r.duration:.0f} requests/s, {r.errors} errors",
            )
        )


ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def print_log(report: Report, server: Server) -> None:
    heading("Server log")
    try:
        lines = server.log.read_text(errors="replace").splitlines()
    except OSError:
        say("(no log)")
        return
    statuses: Counter[str] = Counter()
    for line in lines:
        match = ACCESS.search(line)
        if match:
            statuses[match["status"]] += 1
    tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    errors = [line for line in lines if "ERROR" in line or "CRITICAL" in line]
    say(
        f"access log: {sum(statuses.values())} requests, by status: "
        + ", ".join(f"{code} x {n}" for code, n in sorted(statuses.items()))
    )
    say(f"tracebacks: {tracebacks}; ERROR lines: {len(errors)}")
    fives = sum(n for code, n in statuses.items() if code.startswith("5"))
    if fives or tracebacks:
        report.fail(f"the server logged {fives} 5xx responses and {tracebacks} tracebacks")
        for line in errors[:5]:
            say(f"    {line}")


async def run(args: argparse.Namespace, server: Server, report: Report, deadline: float) -> None:
    count: int = args.attendees
    timeout = httpx.Timeout(60.0)
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as client:
        created = await client.post(
            "/api/v1/events",
            json={
                "name": "Load test",
                "rounds": max(6, args.samples),
                "round_seconds": ROUND_SECONDS,
            },
        )
        created.raise_for_status()
        event = created.json()
        organiser = {"Authorization": f"Bearer {event['organiser_token']}"}

        joins = await asyncio.wait_for(
            join_all(client, server, event["join_code"], count, args.seed), 120
        )
        print_joins(report, joins, count)
        roster = await client.get(f"/api/v1/events/{event['id']}/attendees", headers=organiser)
        joined = len(roster.json()) if roster.status_code == 200 else -1
        say(f"roster after the joins: {joined} attendees")
        if joined != joins.statuses["201"]:
            report.fail(f"roster has {joined} attendees, {joins.statuses['201']} joins got 201")
        tokens = joins.tokens
        if len(tokens) < 2:
            report.fail("too few attendees joined to go on")
            return

    # 2. Phones: a client of their own, one connection per stream, no read timeout.
    phones = [Phone(token) for token in tokens]
    stream_limits = httpx.Limits(
        max_connections=len(phones) + 10, max_keepalive_connections=len(phones) + 10
    )
    stream_timeout = httpx.Timeout(60.0, read=None)
    async with (
        httpx.AsyncClient(
            base_url=server.url, limits=stream_limits, timeout=stream_timeout
        ) as streams,
        httpx.AsyncClient(base_url=server.url, timeout=timeout) as organiser_client,
    ):
        tasks = [asyncio.create_task(p.run(streams)) for p in phones]
        try:
            cpu = CpuMeter(server)
            cpu.start()
            started = time.perf_counter()
            await wait_until(lambda: all(p.states or p.error for p in phones), 120, poll=0.02)
            cpu.stop()
            connect = Connect(
                wall=time.perf_counter() - started,
                delays=[p.states[0].at - p.opened for p in phones if p.states],
                failed=sum(1 for p in phones if not p.states),
                cpu=cpu,
            )
            print_connect(connect, len(phones))
            if connect.failed:
                errors = Counter(p.error for p in phones if not p.states)
                report.fail(f"{connect.failed} streams sent no first state: {dict(errors)}")
            bad_first = sum(1 for p in phones if p.states and p.states[0].index != 0)
            if bad_first:
                report.fail(f"{bad_first} first states had a round before any round started")
            await settle(phones)

            rounds_url = f"/api/v1/events/{event['id']}/rounds"
            clock_url = f"/api/v1/events/{event['id']}/clock"
            fanouts: list[Fanout] = []
            for index in range(1, args.samples + 1):
                if index > 1:
                    fanouts.append(
                        await fanout(
                            f"end round {index - 1} (clock)",
                            server,
                            phones,
                            lambda: organiser_client.post(
                                clock_url, headers=organiser, json={"action": "end_round"}
                            ),
                            ended(index - 1),
                            args.fanout_timeout,
                        )
                    )

                def start(i: int = index) -> Awaitable[httpx.Response]:
                    return organiser_client.post(
                        rounds_url, headers=organiser, json={"expected_index": i}
                    )

                fanouts.append(
                    await fanout(
                        f"start round {index}",
                        server,
                        phones,
                        start,
                        showing(index),
                        args.fanout_timeout,
                    )
                )
            print_fanouts(report, fanouts, len(phones))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        broken = [p for p in phones if p.error and p.error != "the server closed the stream"]
        if broken:
            report.fail(f"{len(broken)} streams broke: {Counter(p.error for p in broken)}")

    # 3. With the streams closed: GET /me alone; first below the database pool's size.
    await asyncio.sleep(1.0)
    serial = await serial_reads(server, tokens[0], 30)
    loads: list[Reads] = []
    for readers in sorted({min(args.few_readers, args.readers), args.readers}):
        if readers < 1:
            continue
        reads = await read_load(server, tokens[:readers], args.duration, args.warmup)
        if reads.errors:
            left = deadline - time.perf_counter() - 15
            reads.recovered, reads.recovery = await recovery(server, tokens[0], min(120, left))
        loads.append(reads)
        if not reads.recovered:
            break
    print_reads(report, serial, loads)


def raise_open_files(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return f"{soft} raised to {target}"
    return str(soft)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--attendees", type=int, default=500, help="joins and phones (500)")
    parser.add_argument("--readers", type=int, default=200, help="GET /me clients (200)")
    parser.add_argument(
        "--few-readers", type=int, default=20, help="GET /me clients first, 0: none (20)"
    )
    parser.add_argument("--duration", type=float, default=15.0, help="GET /me window, s (15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="GET /me warm-up, s (2)")
    parser.add_argument("--samples", type=int, default=2, help="round starts measured (2)")
    parser.add_argument(
        "--fanout-timeout", type=float, default=60.0, help="give up on a phone after, s (60)"
    )
    parser.add_argument("--database-url", help="e.g. postgresql+psycopg://user@127.0.0.1/db")
    parser.add_argument(
        "--reset-schema",
        action="store_true",
        help="PostgreSQL: DROP SCHEMA public CASCADE and recreate it first (destroys its data)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    parser.add_argument("--seed", type=int, default=1, help="seed of the attendees' profiles")
    parser.add_argument("--time-limit", type=float, default=300.0, help="whole run, s (300)")
    args = parser.parse_args(argv)
    if not 2 <= args.attendees <= 2000:
        parser.error("--attendees must be from 2 to 2000")
    if not 1 <= args.readers <= args.attendees:
        parser.error("--readers must be from 1 to --attendees")
    if not 0 <= args.few_readers <= args.attendees:
        parser.error("--few-readers must be from 0 to --attendees")
    if not 1 <= args.samples <= 10:
        parser.error("--samples must be from 1 to 10")
    if not (0 < args.duration <= 120 and 0 <= args.warmup <= 30):
        parser.error("--duration must be in (0, 120] and --warmup in [0, 30]")
    if not 1 <= args.fanout_timeout <= 120 or not 30 <= args.time_limit <= 900:
        parser.error("--fanout-timeout must be in [1, 120] and --time-limit in [30, 900]")
    if args.reset_schema and not (args.database_url or "").startswith("postgres"):
        parser.error("--reset-schema is for a PostgreSQL --database-url only")

    began = time.perf_counter()
    files = raise_open_files(2 * args.attendees + args.readers + 256)
    data_dir = Path(tempfile.mkdtemp(prefix="commonground-load-"))
    database_url = args.database_url or f"sqlite:///{data_dir / 'commonground.db'}"
    if args.reset_schema:
        reset_schema(database_url)
    server = Server(
        data_dir=data_dir, database_url=database_url, join_rate=max(600, 2 * args.attendees)
    )
    report = Report()
    say("Common Ground live service under load")
    say(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    say(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()};"
        f" Python {platform.python_version()}"
    )
    say(
        "libraries: "
        + ", ".join(
            f"{name} {version(name)}"
            for name in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "httpx2")
        )
    )
    settings = Settings(database_url=database_url)
    say(f"database: {settings.sqlalchemy_url.split('://', 1)[0]} ({redact(database_url)})")
    say(
        "server: python -m app.cli serve (1 uvicorn worker) on 127.0.0.1; "
        f"heartbeat {HEARTBEAT_SECONDS:.0f} s, tick {TICK_SECONDS:.0f} s, "
        f"join limit {server.join_rate}/min per address, {WRITERS} write sessions at once, "
        "database pool 10 (+20 overflow on PostgreSQL), 40 worker threads (anyio default)"
    )
    say(
        f"event: default questions, pairs, rounds of {ROUND_SECONDS} s (none ends by itself "
        f"during the run); {args.attendees} attendees with random answers (seed {args.seed})"
    )
    say(f"code: {code_version()}")
    say(f"load generator: this process, asyncio + httpx2; open files {files}")

    try:
        server.start()
        say(f"server started in {time.perf_counter() - began:.1f} s at {server.url}")
        remaining = args.time_limit - (time.perf_counter() - began)
        try:
            deadline = time.perf_counter() + remaining
            asyncio.run(asyncio.wait_for(run(args, server, report, deadline), remaining))
        except TimeoutError:
            report.fail(f"the run hit its time limit of {args.time_limit:.0f} s")
    finally:
        server.stop()
        print_log(report, server)
        if args.keep:
            say(f"kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    heading("Targets")
    for ok, what, measured in report.targets:
        say(f"{'met   ' if ok else 'MISSED'}  {what}")
        say(f"        measured: {measured}")
    if report.failures:
        say()
        say(f"{len(report.failures)} FAILURE(S):")
        for failure in report.failures:
            say(f"  - {failure}")
    say()
    say(f"benchmark ran in {time.perf_counter() - began:.0f} s")
    return 1 if report.failures else 0


def code_version() -> str:
    """The commit the server runs, and whether app/ or matching/ differ from it."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %ci"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "app", "matching"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    dirty = f", {len(changed)} files changed since in app/ and matching/" if changed else ""
    return f"commit {commit}{dirty}"


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


if __name__ == "__main__":
    raise SystemExit(main())
