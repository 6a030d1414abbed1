"""The service under test and its clients, shared by benchmarks/load.py and benchmarks/soak.py:
server processes on loopback, what /proc says about them, phones on live streams, and the
lines every run starts with."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import aiohttp
import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.config import Settings
from benchmarks.report import heading, say
from matching.defaults import DEFAULT_QUESTIONS

ROOT = Path(__file__).resolve().parents[1]
ORGANISATIONS = [f"Org {i:02d}" for i in range(40)]
LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "httpx2",
    "aiohttp",
)


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


@dataclass
class Report:
    """Failures (exit status 1) and targets (met / MISSED / SKIPPED, printed last)."""

    failures: list[str] = field(default_factory=list)
    # (met: True/False, or None when not measured; what; measured)
    targets: list[tuple[bool | None, str, str]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        loud(message)

    def target(self, ok: bool | None, what: str, measured: str) -> None:
        self.targets.append((ok, what, measured))

    def print_end(self, began: float) -> int:
        heading("Targets")
        if not self.targets:
            say("(none measured)")
        for ok, what, measured in self.targets:
            verdict = "SKIPPED" if ok is None else "met" if ok else "MISSED"
            say(f"{verdict:<7}  {what}")
            say(f"         measured: {measured}")
        if self.failures:
            say()
            say(f"{len(self.failures)} FAILURE(S):")
            for failure in self.failures:
                say(f"  - {failure}")
        say()
        say(f"benchmark ran in {time.perf_counter() - began:.0f} s")
        return 1 if self.failures else 0


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def print_preamble(title: str, *, database_url: str, lines: Sequence[str] = ()) -> None:
    """Date, machine, library versions, database and code version."""
    say(title)
    say(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    say(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} "
        f"{platform.release()}; load average {load} at the start; "
        f"Python {platform.python_version()}"
    )
    say("libraries: " + ", ".join(f"{name} {package_version(name)}" for name in LIBRARIES))
    settings = Settings(database_url=database_url)
    say(f"database: {settings.sqlalchemy_url.split('://', 1)[0]} ({redact(database_url)})")
    say(f"code: {code_version()}")
    for line in lines:
        say(line)


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


# ------------------------------------------------------------------ open files


def raise_open_files(needed: int | None = None) -> str:
    """This process's soft open-file limit: raised to `needed` (None: to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _highest_soft(hard) if needed is None else min(needed, _highest_soft(hard))
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return f"{soft} raised to {target}"
    return str(soft)


def _highest_soft(hard: int) -> int:
    if hard != resource.RLIM_INFINITY:
        return hard
    try:  # Linux refuses a soft limit above fs.nr_open
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20


def lift_open_file_limit() -> None:
    """preexec_fn of the servers: soft open-file limit = hard limit, whatever `serve` does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _highest_soft(hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ------------------------------------------------------------------ /proc


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers run as children of its supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 1000:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of one process, KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def open_files(pid: int) -> int:
    """Open file descriptors of one process; 0 if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def open_file_limit(pid: int) -> str:
    """The process's soft open-file limit, as /proc/PID/limits says."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return line.split()[3]
    except (OSError, IndexError):
        pass
    return "unknown"


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A server in a subprocess on a free loopback port, its output in `log`."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    health: str = "/healthz"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else -1

    def start(self, timeout: float = 60.0) -> None:
        # Only the settings given: nothing inherited (an admin token, another database).
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("COMMONGROUND_") and name != "DATABASE_URL"
        }
        env.update(self.env)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lift_open_file_limit,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}{self.health}", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout:.0f} s:\n{self.log.read_text()}")

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the server's processes so far (its workers included)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids())

    def open_files(self) -> int:
        return sum(open_files(pid) for pid in self.pids())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in reversed(process_tree(self.process.pid)):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def app_server(
    data_dir: Path,
    database_url: str,
    *,
    name: str = "app",
    workers: int = 1,
    heartbeat: float = 15.0,
    tick: float = 1.0,
    join_rate: int = 600,
    event_loop: str | None = None,
) -> Server:
    """`python -m app.cli serve` with the settings of a benchmark run (`event_loop`: `serve`'s
    default unless given)."""
    server = Server(
        name=name,
        command=[sys.executable, "-m", "app.cli", "serve", "--workers", str(workers)],
        log=data_dir / f"server-{name}.log",
    )
    server.env = {
        "COMMONGROUND_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "COMMONGROUND_PUBLIC_URL": server.url,
        "COMMONGROUND_HEARTBEAT_SECONDS": str(heartbeat),
        "COMMONGROUND_TICK_SECONDS": str(tick),
        "COMMONGROUND_JOIN_RATE_PER_MINUTE": str(join_rate),
        **_loop_setting(event_loop),
    }
    return server


def bare_server(data_dir: Path, event_loop: str | None = None) -> Server:
    """benchmarks/bare_app.py: one FastAPI route, uvicorn as `serve` runs it, one worker."""
    return Server(
        name="bare",
        command=[sys.executable, "-m", "benchmarks.bare_app"],
        log=data_dir / "server-bare.log",
        health="/bare",
        env=_loop_setting(event_loop),
    )


def _loop_setting(event_loop: str | None) -> dict[str, str]:
    return {} if event_loop is None else {"COMMONGROUND_EVENT_LOOP": event_loop}


def reset_schema(database_url: str) -> None:
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def print_log(report: Report, server: Server) -> None:
    """Access-log lines by status, tracebacks and ERROR lines; any 5xx is a failure."""
    try:
        lines = server.log.read_text(errors="replace").splitlines()
    except OSError:
        say(f"{server.name}: (no log)")
        return
    statuses: Counter[str] = Counter()
    for line in lines:
        match = ACCESS.search(line)
        if match:
            statuses[match["status"]] += 1
    tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    errors = [line for line in lines if "ERROR" in line or "CRITICAL" in line]
    warnings = [line for line in lines if "WARNING" in line]
    say(
        f"{server.name}: access log {sum(statuses.values())} requests, by status: "
        + (", ".join(f"{code} x {n}" for code, n in sorted(statuses.items())) or "-")
        + f"; tracebacks: {tracebacks}; ERROR lines: {len(errors)}; WARNING lines: "
        f"{len(warnings)}"
    )
    for line in warnings[:3]:
        say(f"    {line}")
    fives = sum(n for code, n in statuses.items() if code.startswith("5"))
    if fives or tracebacks:
        report.fail(
            f"{server.name}: the server logged {fives} 5xx responses and {tracebacks} tracebacks"
        )
        for line in errors[:5]:
            say(f"    {line}")


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


# ------------------------------------------------------------------ clients


def unanswered(error: httpx.HTTPError) -> bool:
    """The server closed the connection before answering: a kept-alive connection it had
    just timed out (uvicorn closes idle ones after 5 s) as the client reused it. The request
    was never read, so sending it again, on a new connection, is safe."""
    return isinstance(error, httpx.RemoteProtocolError) and "without sending a response" in str(
        error
    )


class Client:
    """An httpx2 client that sends a request again, once, on a new connection when the
    server closed a kept-alive connection without answering; `retries` counts them."""

    def __init__(
        self,
        base_url: str,
        *,
        retries: Counter[str],
        what: str,
        timeout: httpx.Timeout,
        connections: int = 100,
    ) -> None:
        self.base_url = base_url
        self.retries = retries
        self.what = what
        self.timeout = timeout
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    def fresh(self) -> httpx.AsyncClient:
        """A client whose every request opens its own connection."""
        limits = httpx.Limits(max_keepalive_connections=0)
        return httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=self.timeout)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.RemoteProtocolError as error:
            if not unanswered(error):
                raise
        self.retries[self.what] += 1
        async with self.fresh() as fresh:
            return await fresh.request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)


def describe_retries(retries: Counter[str]) -> str:
    total = sum(retries.values())
    detail = ", ".join(f"{what} {n}" for what, n in sorted(retries.items()) if n)
    return f"{total}" + (f" ({detail})" if detail else "")


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
    client: Client, server: Server, code: str, count: int, seed: int, *, at_once: int = 0
) -> Joins:
    """`count` POST /join/{code}: all at once (each on a connection of its own), or
    `at_once` at a time (0: all).

    Sent with aiohttp, not the `client`'s httpx2 (its base URL, timeout and retry count are
    used): measured on this machine, 2000 requests at once cost httpx2 7.2 s of CPU and
    aiohttp 0.5 s, and on 2 cores the load generator's CPU is taken from the server."""
    rng = random.Random(seed)
    bodies = [profile(i, rng) for i in range(count)]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    tokens: list[str] = []
    gate = asyncio.Semaphore(at_once or count)
    url = f"{client.base_url}/api/v1/join/{code}"
    timeout = aiohttp.ClientTimeout(total=client.timeout.read)

    async def post(session: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[int, Any]:
        async with session.post(url, json=body) as response:
            return response.status, await response.json() if response.status == 201 else None

    async def one(session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                try:
                    status, answer = await post(session, body)
                except aiohttp.ServerDisconnectedError:
                    # A kept-alive connection the server had just closed, never read (see
                    # `unanswered`): sent again, once, on a new connection.
                    client.retries[client.what] += 1
                    async with aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(force_close=True), timeout=timeout
                    ) as fresh:
                        status, answer = await post(fresh, body)
            except (aiohttp.ClientError, TimeoutError) as error:
                statuses[type(error).__name__] += 1
                return
            latencies.append(time.perf_counter() - started)
            statuses[str(status)] += 1
            if status == 201:
                tokens.append(answer["token"])

    cpu = CpuMeter(server)
    connector = aiohttp.TCPConnector(limit=at_once or count)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        cpu.start()
        started = time.perf_counter()
        await asyncio.gather(*(one(session, body) for body in bodies))
        wall = time.perf_counter() - started
        cpu.stop()
    return Joins(wall, latencies, statuses, tokens, cpu)


# ------------------------------------------------------------------ phones on live streams


@dataclass
class Seen:
    at: float  # perf_counter when the blank line ending the message arrived
    index: int  # 0 before the first round
    phase: str | None
    placed: bool  # has a table, or is sitting out


@dataclass
class Phone:
    """One attendee's GET /me/stream, read as a browser's EventSource would (without its
    reconnecting: a stream that ends is reported)."""

    token: str
    opened: float = 0.0
    status: int | None = None
    error: str | None = None
    states: list[Seen] = field(default_factory=list)
    heartbeats: int = 0
    closed: bool = False  # the stream has ended, for whatever reason

    async def run(self, client: Client) -> None:
        try:
            await self._run(client)
        finally:
            self.closed = True

    async def _run(self, client: Client) -> None:
        self.opened = time.perf_counter()
        try:
            await self._read(client.http)
        except httpx.HTTPError as error:
            if self.status is not None or not unanswered(error):
                self.error = f"{type(error).__name__}: {error}"
                return
        else:
            return
        client.retries[client.what] += 1
        try:
            async with client.fresh() as fresh:
                await self._read(fresh)
        except httpx.HTTPError as error:
            self.error = f"{type(error).__name__}: {error}"

    async def _read(self, http: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        async with http.stream("GET", "/api/v1/me/stream", headers=headers) as response:
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


async def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
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


def stream_client(server: Server, phones: int, retries: Counter[str]) -> Client:
    """One connection per stream, no read timeout."""
    return Client(
        server.url,
        retries=retries,
        what="stream opens",
        timeout=httpx.Timeout(60.0, read=None),
        connections=phones + 10,
    )


@contextlib.asynccontextmanager
async def streaming(phones: Sequence[Phone], client: Client) -> AsyncIterator[None]:
    """The phones' streams open for the duration of the block, closed after it."""
    tasks = [asyncio.create_task(p.run(client)) for p in phones]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
