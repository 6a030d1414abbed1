"""The live service under load: throughput against a bare FastAPI route (wrk), joins at once
and phones on live streams (asyncio).

    .venv/bin/python benchmarks/load.py [--attendees 500,2000] [--me-attendees 300]
                                        [--duration 10] [--warmup 2] [--threads 2]
                                        [--connections 50] [--high-connections 200]
                                        [--workers N] [--compare-workers [--worker-runs 3]]
                                        [--database-url URL [--reset-schema]]
                                        [--skip-throughput] [--skip-live] [--wrk PATH]
                                        [--keep] [--time-limit 900]

A script that prints plain-text tables (never a test). It starts its own servers on free
loopback ports: the service (`python -m app.cli serve --workers N`; SQLite in a temporary
folder unless --database-url is given) and, for comparison, benchmarks/bare_app.py (one
FastAPI route under the same uvicorn settings, one worker: the framework's own limit on this
machine). Throughput comes from wrk (`apt-get install wrk`; without it those figures are
skipped, with a line saying how to get it); joins and live streams from this process, with
asyncio (joins sent with aiohttp, live streams read with httpx2). Only loopback traffic;
every phase has a time limit and the whole run stops after --time-limit seconds. Exit
status 1 if any request failed (a non-201 join, a 5xx or other non-2xx, a transport error, a
phone that never saw a change), else 0 (even when a target is missed). docs/benchmarks.md
explains every figure.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# This file is benchmarks/load.py: run as a script, its own folder comes first on sys.path and
# its sibling benchmarks/matching.py would shadow the `matching` package. The root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2 as httpx

from app.config import Settings
from app.deps import WRITERS
from benchmarks.bare_app import UVICORN_KEYWORDS
from benchmarks.harness import (
    Client,
    CpuMeter,
    Joins,
    Phone,
    Report,
    Seen,
    Server,
    app_server,
    bare_server,
    describe_retries,
    ended,
    join_all,
    ms,
    open_file_limit,
    print_log,
    print_preamble,
    quantile,
    raise_open_files,
    reset_schema,
    secs,
    settle,
    showing,
    stream_client,
    streaming,
    wait_until,
)
from benchmarks.report import heading, say, table

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = ROOT / "benchmarks" / "wrk_report.lua"
HEARTBEAT_SECONDS = 15.0
TICK_SECONDS = 1.0
ROUND_SECONDS = 1800  # no round ends on its own during the run

# Targets (issue 11). Joins and fan-out are given for 500 and 2000 people: fewer people are
# held to the goal for 500, sizes in between to a straight line between the two.
JOIN_GOALS = ((500, 2.0), (2000, 8.0))
FANOUT_GOALS = ((500, 1.0), (2000, 3.0))
ME_SHARE_GOAL = 0.35  # GET /me at --connections, as a share of the bare route's requests/s
ME_SHARE_AIM = 0.50
ME_P99_GOAL = 0.150
HIGH_P99_GOAL = 0.500  # GET /me at --high-connections
HEALTHZ_SHARE_GOAL = 0.50
WORKERS_GOAL = 1.6  # GET /me with 2 workers / with 1, PostgreSQL


def goal(goals: Sequence[tuple[int, float]], people: int) -> tuple[float, str]:
    """The goal for `people`, and how it was derived when they are not a size of its own."""
    (low, low_goal), (high, high_goal) = goals
    if people <= low:
        return low_goal, "" if people == low else f" (the goal for {low})"
    if people >= high:
        return high_goal, ""
    share = (people - low) / (high - low)
    return low_goal + share * (high_goal - low_goal), f" (between the goals for {low} and {high})"


# ------------------------------------------------------------------ throughput: wrk


def uvicorn_differences() -> list[str]:
    """Settings `serve` gives uvicorn (app/cli.py, `_serve`: the keywords of its uvicorn.run
    and the keys of the dictionary of options it passes there) that the bare app does not
    give: then the bare route no longer runs under the same settings."""
    try:
        tree = ast.parse((ROOT / "app" / "cli.py").read_text())
    except (OSError, SyntaxError) as error:
        return [f"app/cli.py unreadable: {error}"]
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and function.name == "_serve":
            given: list[str] = []
            for node in ast.walk(function):
                if isinstance(node, ast.Dict):
                    given += [ast.literal_eval(k) for k in node.keys if isinstance(k, ast.Constant)]
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "uvicorn.run":
                    given += [k.arg for k in node.keywords if k.arg is not None]
            if given:
                return [name for name in given if name not in UVICORN_KEYWORDS]
    return ["no uvicorn.run(...) in app/cli.py _serve"]


@dataclass
class Wrk:
    """One measured wrk run, as benchmarks/wrk_report.lua reports it."""

    label: str
    server: str
    connections: int
    seconds: float  # the window, as wrk measured it
    requests: int
    p50: float  # seconds
    p90: float
    p99: float
    slowest: float
    statuses: Counter[int]
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    server_cores: float
    wrk_cores: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def describe_errors(self) -> str:
        parts = [
            f"{n} {what}"
            for what, n in (
                ("connect", self.connect_errors),
                ("read", self.read_errors),
                ("write", self.write_errors),
                ("timeout", self.timeouts),
            )
            if n
        ]
        parts += [f"{n} x {s}" for s, n in sorted(self.statuses.items()) if not 200 <= s < 300]
        return ", ".join(parts) or "none"


class WrkFailed(Exception):
    pass


@dataclass
class WrkTool:
    path: str
    threads: int
    duration: int
    warmup: int
    timeout: int

    def version(self) -> str:
        try:
            done = subprocess.run(
                [self.path, "--version"], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        first = (done.stdout or done.stderr).splitlines()
        return first[0].split("Copyright")[0].strip() if first else "unknown"

    def once(
        self, server: Server, path: str, connections: int, seconds: int, tokens: Path | None
    ) -> tuple[dict[str, str], float, float, float]:
        """One wrk run: its report, the wall time, the server's and wrk's CPU seconds."""
        command = [
            self.path,
            f"-t{min(self.threads, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            f"{self.timeout}s",
            "-s",
            str(WRK_SCRIPT),
            f"{server.url}{path}",
        ]
        if tokens is not None:
            command += ["--", str(tokens)]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = server.cpu_seconds()
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=seconds + self.timeout + 60
            )
        except subprocess.TimeoutExpired as error:
            raise WrkFailed(f"wrk did not finish: {error}") from None
        wall = time.perf_counter() - started
        server_cpu = server.cpu_seconds() - server_cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
        lines = [line for line in done.stdout.splitlines() if line.startswith("wrk-report ")]
        if done.returncode != 0 or not lines:
            raise WrkFailed(
                f"wrk exited with {done.returncode}: {(done.stderr or done.stdout).strip()[:500]}"
            )
        report = dict(part.split("=", 1) for part in lines[-1].split()[1:])
        return report, wall, server_cpu, wrk_cpu

    def measure(
        self,
        label: str,
        server: Server,
        path: str,
        connections: int,
        tokens: Path | None = None,
    ) -> Wrk:
        """A warm-up run (not counted), then the measured one."""
        if self.warmup > 0:
            self.once(server, path, connections, self.warmup, tokens)
        report, wall, server_cpu, wrk_cpu = self.once(
            server, path, connections, self.duration, tokens
        )
        seconds = int(report["duration_us"]) / 1e6
        statuses: Counter[int] = Counter(
            {
                int(k.removeprefix("status_")): int(v)
                for k, v in report.items()
                if k.startswith("status_") and k != "status_errors"
            }
        )
        return Wrk(
            label=label,
            server=server.name,
            connections=connections,
            seconds=seconds,
            requests=int(report["requests"]),
            p50=int(report["p50_us"]) / 1e6,
            p90=int(report["p90_us"]) / 1e6,
            p99=int(report["p99_us"]) / 1e6,
            slowest=int(report["max_us"]) / 1e6,
            statuses=statuses,
            connect_errors=int(report["connect_errors"]),
            read_errors=int(report["read_errors"]),
            write_errors=int(report["write_errors"]),
            timeouts=int(report["timeouts"]),
            server_cores=server_cpu / wall if wall > 0 else 0.0,
            wrk_cores=wrk_cpu / wall if wall > 0 else 0.0,
        )


async def prepare_me_event(
    server: Server, report: Report, count: int, seed: int, retries: Counter[str]
) -> list[str]:
    """An event of `count` attendees with round 1 running: what GET /me reads mid-round."""
    timeout = httpx.Timeout(60.0)
    async with Client(
        server.url, retries=retries, what="setup", timeout=timeout, connections=60
    ) as client:
        created = await client.post(
            "/api/v1/events",
            json={
                "name": "Throughput",
                "rounds": 6,
                "round_seconds": ROUND_SECONDS,
                "changeover_seconds": 0,
            },
        )
        created.raise_for_status()
        event = created.json()
        organiser = {"Authorization": f"Bearer {event['organiser_token']}"}
        joins = await join_all(client, server, event["join_code"], count, seed, at_once=50)
        if joins.statuses["201"] != count:
            report.fail(
                f"GET /me event: {count - joins.statuses['201']} joins failed: "
                f"{dict(joins.statuses)}"
            )
        if not joins.tokens:
            raise RuntimeError(f"GET /me event: no attendee joined: {dict(joins.statuses)}")
        started = await client.post(
            f"/api/v1/events/{event['id']}/rounds",
            headers=organiser,
            json={"expected_index": 1},
        )
        if started.status_code != 201:
            report.fail(f"GET /me event: starting round 1 got {started.status_code}")
        check = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {joins.tokens[0]}"}
        )
        current = check.json().get("round") if check.status_code == 200 else None
        if current is None or current.get("index") != 1:
            report.fail(f"GET /me event: GET /me answered {check.status_code}, not round 1")
        return joins.tokens


@dataclass
class Throughput:
    rows: list[Wrk]
    bare: list[Wrk]
    workers: list[tuple[int, Wrk]]

    def bare_at(self, connections: int) -> list[Wrk]:
        """The bare route's runs at as many connections."""
        return [r for r in self.bare if r.connections == connections]

    def bare_rate(self, connections: int) -> float:
        """The bare route's requests/s at as many connections (the mean of its runs there)."""
        rates = [r.rate for r in self.bare_at(connections)]
        return statistics.mean(rates) if rates else float("nan")

    def share(self, row: Wrk) -> float:
        bare = self.bare_rate(row.connections)
        return row.rate / bare if bare > 0 else float("nan")


def wrk_row(row: Wrk, share: float) -> list[str]:
    return [
        row.label,
        str(row.connections),
        f"{row.rate:.0f}",
        f"{share:.0%}",
        f"{row.p50 * 1000:.1f}",
        f"{row.p90 * 1000:.1f}",
        f"{row.p99 * 1000:.1f}",
        f"{row.slowest * 1000:.0f}",
        str(row.requests),
        str(row.non_2xx),
        str(row.errors),
        f"{row.server_cores:.2f}",
        f"{row.wrk_cores:.2f}",
    ]


WRK_HEADERS = [
    "what",
    "conns",
    "requests/s",
    "vs bare",
    "p50 (ms)",
    "p90 (ms)",
    "p99 (ms)",
    "max (ms)",
    "responses",
    "non-2xx",
    "errors",
    "server cores",
    "wrk cores",
]


def check_wrk(report: Report, row: Wrk) -> None:
    if row.non_2xx or row.errors:
        report.fail(
            f"{row.label} at {row.connections} connections ({row.server}): {row.describe_errors()}"
        )


def print_throughput(
    report: Report, result: Throughput, tool: WrkTool, args: argparse.Namespace
) -> None:
    heading("Throughput (wrk)")
    say(
        f"{tool.version()}: {tool.threads} threads, keep-alive connections; each row is a "
        f"{tool.warmup} s warm-up (not"
    )
    say(
        f"counted), then {tool.duration} s measured. requests/s = responses in the window / its"
        " length; 'vs bare' = that"
    )
    say(
        "/ the bare route's requests/s at as many connections (at "
        f"{args.connections}: the mean of its first and last runs). Latency = from sending a"
    )
    say(
        "request to its whole response, p50/p90/p99/max from wrk's histogram. non-2xx = "
        "statuses counted"
    )
    say(
        f"by the script's response(); errors = wrk's connect, read and write errors and timeouts "
        f"(> {tool.timeout} s)."
    )
    say(
        f"GET /api/v1/me: an event of {args.me_attendees} attendees with round 1 running, "
        f"{args.me_attendees} attendee tokens in turn."
    )
    say(
        "server cores = CPU time of the server's processes / wall time; wrk cores the same for wrk."
    )
    say()
    rows = [wrk_row(r, result.share(r)) for r in result.rows]
    say(table(WRK_HEADERS, rows))
    rates = [r.rate for r in result.bare_at(args.connections)]
    if len(rates) > 1:
        spread = (max(rates) - min(rates)) / statistics.mean(rates)
        say()
        say(
            "bare route: "
            + ", ".join(f"{r:.0f}" for r in rates)
            + f" requests/s in its runs ({spread:.0%} apart: how steady the machine was)"
        )
    for row in result.rows:
        check_wrk(report, row)
        if row.errors or row.non_2xx:
            say(f"{row.label} at {row.connections}: {row.describe_errors()}")

    def find(label: str, connections: int) -> Wrk | None:
        return next(
            (r for r in result.rows if r.label == label and r.connections == connections), None
        )

    me = find("GET /api/v1/me", args.connections)
    if me is not None:
        share = result.share(me)
        aim = "reached" if share >= ME_SHARE_AIM else "not reached"
        report.target(
            share >= ME_SHARE_GOAL and me.p99 <= ME_P99_GOAL,
            f"GET /api/v1/me at {args.connections} connections >= {ME_SHARE_GOAL:.0%} of the bare "
            f"route's requests/s (aim {ME_SHARE_AIM:.0%}), p99 <= {ME_P99_GOAL * 1000:.0f} ms",
            f"{share:.0%} of bare ({me.rate:.0f} vs "
            f"{result.bare_rate(args.connections):.0f}/s; aim {aim}), p99 {me.p99 * 1000:.0f} ms",
        )
    high = find("GET /api/v1/me", args.high_connections)
    if high is not None:
        report.target(
            high.errors == 0 and high.non_2xx == 0 and high.p99 <= HIGH_P99_GOAL,
            f"GET /api/v1/me at {args.high_connections} connections: no errors, "
            f"p99 <= {HIGH_P99_GOAL * 1000:.0f} ms",
            f"errors: {high.describe_errors()}; p99 {high.p99 * 1000:.0f} ms, {high.rate:.0f}/s"
            + _bare_p99(result, args.high_connections),
        )
    health = find("GET /healthz", args.connections)
    if health is not None:
        share = result.share(health)
        report.target(
            share >= HEALTHZ_SHARE_GOAL,
            f"GET /healthz at {args.connections} connections >= {HEALTHZ_SHARE_GOAL:.0%} of the "
            "bare route's requests/s",
            f"{share:.0%} ({health.rate:.0f} vs {result.bare_rate(args.connections):.0f}/s)",
        )


def _bare_p99(result: Throughput, connections: int) -> str:
    """The bare route's p99 at as many connections, for scale."""
    bare = result.bare_at(connections)
    return f" (bare route: p99 {bare[0].p99 * 1000:.0f} ms)" if bare else ""


def print_workers(report: Report, result: Throughput, args: argparse.Namespace) -> None:
    heading("GET /api/v1/me by worker processes")
    say(
        "The same event and tokens, read through `serve --workers N` on the same database; both "
        "servers"
    )
    say(
        f"up, measured in turns ({args.worker_runs} runs each at {args.connections} connections, "
        "in the order listed), one run"
    )
    say(f"each at {args.high_connections}. 'vs bare' as above (the bare route has one worker).")
    say()
    rows = result.workers
    say(
        table(
            ["workers", *WRK_HEADERS[1:]],
            [[str(n), *wrk_row(r, result.share(r))[1:]] for n, r in rows],
        )
    )
    for _, row in rows:
        check_wrk(report, row)
    say()
    for connections in sorted({r.connections for _, r in rows}):
        rates = {
            n: [r.rate for m, r in rows if m == n and r.connections == connections] for n in (1, 2)
        }
        if not rates[1] or not rates[2] or statistics.median(rates[1]) <= 0:
            continue
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        ratio = two / one
        runs = "" if len(rates[1]) == 1 else f"medians of {len(rates[1])} runs: "
        say(
            f"{connections} connections: 2 workers / 1 worker = {ratio:.2f}x requests/s "
            f"({runs or 'one run each: '}{two:.0f} vs {one:.0f}/s); "
            f"each run: 1 worker {', '.join(f'{r:.0f}' for r in rates[1])}; 2 workers "
            + ", ".join(f"{r:.0f}" for r in rates[2])
        )
        if connections == args.connections:
            report.target(
                ratio >= WORKERS_GOAL,
                f"GET /api/v1/me at {connections} connections, 2 workers >= {WORKERS_GOAL}x one "
                "worker's requests/s (PostgreSQL)",
                f"{ratio:.2f}x ({runs}{two:.0f} vs {one:.0f}/s)",
            )


# ------------------------------------------------------------------ live: joins, streams


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


def print_joins(report: Report, joins: Joins, count: int) -> None:
    heading(f"{count} attendees joining at once")
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
        report.fail(f"{fives} of {count} joins answered with a 5xx")
    if bad:
        report.fail(f"{bad} of {count} joins did not get 201: {dict(joins.statuses)}")
    limit, how = goal(JOIN_GOALS, count)
    report.target(
        bad == 0 and joins.wall <= limit,
        f"{count} joins at once, every one 201, all in <= {limit:.1f} s{how}",
        f"{joins.statuses['201']} of {count} in {joins.wall:.2f} s",
    )


def print_connect(connect: Connect, count: int) -> None:
    heading(f"{count} phones on GET /api/v1/me/stream")
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
            report.fail(f"{count} phones, {f.label}: the organiser's request got {f.request}")
        if f.missing:
            report.fail(f"{count} phones, {f.label}: {f.missing} phones never showed it")
        if f.unplaced:
            report.fail(f"{count} phones, {f.label}: {f.unplaced} phones without a table")
    limit, how = goal(FANOUT_GOALS, count)
    worst = max(lasts)
    report.target(
        worst <= limit,
        f"round start reaches all {count} phones in <= {limit:.1f} s{how}, every start",
        f"{', '.join(secs(x) for x in lasts)} s (median {secs(statistics.median(lasts))} s)",
    )


async def live(
    args: argparse.Namespace, server: Server, report: Report, count: int, retries: Counter[str]
) -> None:
    """One event of `count` attendees: joins at once, their phones' streams, round changes."""
    timeout = httpx.Timeout(60.0)
    async with Client(
        server.url, retries=retries, what="joins", timeout=timeout, connections=count + 10
    ) as client:
        created = await client.post(
            "/api/v1/events",
            json={
                "name": f"Load test {count}",
                "rounds": max(6, args.samples),
                "round_seconds": ROUND_SECONDS,
            },
        )
        created.raise_for_status()
        event = created.json()
        organiser = {"Authorization": f"Bearer {event['organiser_token']}"}
        joins = await asyncio.wait_for(
            join_all(client, server, event["join_code"], count, args.seed), 180
        )
        print_joins(report, joins, count)
        client.what = "organiser"
        roster = await client.get(f"/api/v1/events/{event['id']}/attendees", headers=organiser)
        joined = len(roster.json()) if roster.status_code == 200 else -1
        say(f"roster after the joins: {joined} attendees")
        if joined != joins.statuses["201"]:
            report.fail(f"roster has {joined} attendees, {joins.statuses['201']} joins got 201")
        tokens = joins.tokens
        if len(tokens) < 2:
            report.fail("too few attendees joined to go on")
            return

    phones = [Phone(token) for token in tokens]
    async with (
        stream_client(server, len(phones), retries) as streams,
        Client(server.url, retries=retries, what="organiser", timeout=timeout) as organiser_client,
        streaming(phones, streams),
    ):
        cpu = CpuMeter(server)
        cpu.start()
        started = time.perf_counter()
        await wait_until(lambda: all(p.states or p.closed for p in phones), 180, poll=0.02)
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

                def end() -> Awaitable[httpx.Response]:
                    return organiser_client.post(
                        clock_url, headers=organiser, json={"action": "end_round"}
                    )

                fanouts.append(
                    await fanout(
                        f"end round {index - 1} (clock)",
                        server,
                        phones,
                        end,
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
    broken = [p for p in phones if p.error and p.error != "the server closed the stream"]
    if broken:
        report.fail(f"{len(broken)} streams broke: {Counter(p.error for p in broken)}")
    say()
    say(
        f"sent again on a new connection (the server closed a kept-alive one without "
        f"answering): {describe_retries(retries)}"
    )


# ------------------------------------------------------------------ the run


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not sizes or any(not 2 <= n <= 2000 for n in sizes):
        raise argparse.ArgumentTypeError("each size must be from 2 to 2000")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--attendees",
        type=parse_sizes,
        default=[500, 2000],
        help="joins and phones, one event per size, comma-separated (500,2000)",
    )
    parser.add_argument(
        "--me-attendees", type=int, default=300, help="GET /me: event size and tokens (300)"
    )
    parser.add_argument("--duration", type=int, default=10, help="each wrk window, s (10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up before each, s (2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument(
        "--high-connections", type=int, default=200, help="GET /me at many connections (200)"
    )
    parser.add_argument("--wrk", default="wrk", help="the wrk program (wrk, from PATH)")
    parser.add_argument(
        "--wrk-timeout", type=int, default=10, help="wrk counts a timeout after, s (10)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="`serve --workers N`; above 1 needs PostgreSQL"
    )
    parser.add_argument(
        "--event-loop",
        choices=("asyncio", "uvloop"),
        default=None,
        help="COMMONGROUND_EVENT_LOOP for the service and the bare app (`serve`'s default)",
    )
    parser.add_argument(
        "--compare-workers",
        action="store_true",
        help="also measure GET /me on a server with 2 workers (1 if --workers is not 1)",
    )
    parser.add_argument(
        "--worker-runs",
        type=int,
        default=3,
        help="with --compare-workers: runs of each server at --connections, taking turns (3)",
    )
    parser.add_argument("--samples", type=int, default=2, help="round starts measured (2)")
    parser.add_argument(
        "--fanout-timeout", type=float, default=60.0, help="give up on a phone after, s (60)"
    )
    parser.add_argument("--skip-throughput", action="store_true", help="no wrk phases")
    parser.add_argument("--skip-live", action="store_true", help="no joins, streams, rounds")
    parser.add_argument("--database-url", help="e.g. postgresql+psycopg://user@127.0.0.1/db")
    parser.add_argument(
        "--reset-schema",
        action="store_true",
        help="PostgreSQL: DROP SCHEMA public CASCADE and recreate it first (destroys its data)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the attendees' profiles")
    parser.add_argument("--time-limit", type=float, default=900.0, help="whole run, s (900)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    postgres = (args.database_url or "").startswith("postgres")
    if not 2 <= args.me_attendees <= 2000:
        parser.error("--me-attendees must be from 2 to 2000")
    if not (1 <= args.duration <= 300 and 0 <= args.warmup <= 60):
        parser.error("--duration must be in [1, 300] and --warmup in [0, 60]")
    if not (1 <= args.threads <= 16 and 1 <= args.wrk_timeout <= 120):
        parser.error("--threads must be in [1, 16] and --wrk-timeout in [1, 120]")
    if not (1 <= args.connections <= 5000 and 1 <= args.high_connections <= 5000):
        parser.error("--connections and --high-connections must be from 1 to 5000")
    if not 1 <= args.workers <= 16:
        parser.error("--workers must be from 1 to 16")
    if (args.workers > 1 or args.compare_workers) and not postgres:
        parser.error("--workers above 1 and --compare-workers need a PostgreSQL --database-url")
    if not 1 <= args.samples <= 10:
        parser.error("--samples must be from 1 to 10")
    if not 1 <= args.fanout_timeout <= 120 or not 30 <= args.time_limit <= 3600:
        parser.error("--fanout-timeout must be in [1, 120] and --time-limit in [30, 3600]")
    if args.reset_schema and not postgres:
        parser.error("--reset-schema is for a PostgreSQL --database-url only")
    if args.skip_throughput and args.skip_live:
        parser.error("--skip-throughput and --skip-live leave nothing to measure")


class OutOfTime(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)

    began = time.perf_counter()
    deadline: float = began + args.time_limit
    files = raise_open_files()
    data_dir = Path(tempfile.mkdtemp(prefix="commonground-load-"))
    database_url = args.database_url or f"sqlite:///{data_dir / 'commonground.db'}"
    if args.reset_schema:
        reset_schema(database_url)
    sizes: list[int] = [] if args.skip_live else args.attendees
    joins_total = sum(sizes) + (0 if args.skip_throughput else args.me_attendees)
    join_rate = max(600, 4 * joins_total)
    app = app_server(
        data_dir,
        database_url,
        workers=args.workers,
        heartbeat=HEARTBEAT_SECONDS,
        tick=TICK_SECONDS,
        join_rate=join_rate,
        event_loop=args.event_loop,
    )
    wrk_path = None if args.skip_throughput else shutil.which(args.wrk)
    tool = (
        WrkTool(wrk_path, args.threads, args.duration, args.warmup, args.wrk_timeout)
        if wrk_path
        else None
    )
    bare = bare_server(data_dir, args.event_loop) if tool is not None else None
    report = Report()
    retries: Counter[str] = Counter()
    print_preamble(
        "Common Ground live service under load",
        database_url=database_url,
        lines=[
            f"server: python -m app.cli serve --workers {args.workers} on 127.0.0.1 (uvicorn "
            f"as `serve` sets it up: event loop {args.event_loop or Settings().event_loop}, "
            "http 'auto' (httptools where installed), access log to a file); "
            f"heartbeat {HEARTBEAT_SECONDS:.0f} s, tick {TICK_SECONDS:.0f} s, join limit "
            f"{join_rate}/min per address, {WRITERS} write sessions at once",
            "bare route: "
            + (
                'python -m benchmarks.bare_app (GET /bare -> {"status": "ok"}; the same '
                "uvicorn settings, 1 worker)"
                if bare is not None
                else "not measured"
            ),
            f"events: default questions, pairs, rounds of {ROUND_SECONDS} s (none ends by itself "
            f"during the run); attendees with random answers (seed {args.seed})",
            "load generator: this process (asyncio; aiohttp for the joins, httpx2 for the rest)"
            + (" and wrk" if tool is not None else "")
            + f"; open files {files}",
            "wrk: " + (f"{wrk_path} ({tool.version()})" if tool is not None else "not used"),
        ],
    )
    differences = uvicorn_differences() if bare is not None else []
    if differences:
        say(
            "!!! `serve` passes uvicorn settings the bare app does not: "
            + ", ".join(differences)
            + " (the ratios to the bare route compare different settings; see "
            "benchmarks/bare_app.py)"
        )
    if tool is None and not args.skip_throughput:
        say()
        say(
            f"!!! wrk not found ({args.wrk!r}): the throughput figures (bare route, /healthz, "
            "GET /me) are skipped."
        )
        say(
            "    Install it and run again: `apt-get install wrk` (Debian/Ubuntu package wrk; "
            "elsewhere https://github.com/wg/wrk)."
        )
        skipped = [
            f"GET /api/v1/me at {args.connections} connections vs the bare route",
            f"GET /api/v1/me at {args.high_connections} connections: no errors, p99",
            f"GET /healthz at {args.connections} connections vs the bare route",
        ]
        if args.compare_workers:
            skipped.append("GET /api/v1/me, 2 workers vs 1")
        for what in skipped:
            report.target(None, what, "not measured: wrk not installed")

    servers: list[Server] = [s for s in (bare, app) if s is not None]

    def left() -> float:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise OutOfTime
        return remaining

    try:
        for server in servers:
            server.start()
        say(
            f"servers started after {time.perf_counter() - began:.1f} s: "
            + ", ".join(
                f"{s.name} at {s.url} (open-file limit {open_file_limit(s.pid)})" for s in servers
            )
        )
        result = Throughput(rows=[], bare=[], workers=[])
        if tool is not None and bare is not None:
            remaining = min(left(), 180)
            tokens = asyncio.run(
                asyncio.wait_for(
                    prepare_me_event(app, report, args.me_attendees, args.seed + 1, retries),
                    remaining,
                )
            )
            token_file = data_dir / "tokens.txt"
            token_file.write_text("".join(f"{t}\n" for t in tokens))
            phases: list[tuple[str, Server, str, int, Path | None]] = [
                ("GET /bare (bare FastAPI)", bare, "/bare", args.connections, None),
                ("GET /healthz", app, "/healthz", args.connections, None),
                ("GET /api/v1/me", app, "/api/v1/me", args.connections, token_file),
                ("GET /api/v1/me", app, "/api/v1/me", args.high_connections, token_file),
                ("GET /bare (bare FastAPI)", bare, "/bare", args.high_connections, None),
                ("GET /bare (bare FastAPI)", bare, "/bare", args.connections, None),
            ]
            for label, server, path, connections, file in phases:
                left()
                try:
                    row = tool.measure(label, server, path, connections, file)
                except WrkFailed as error:
                    report.fail(f"{label} at {connections} connections: {error}")
                    continue
                result.rows.append(row)
                if server is bare:
                    result.bare.append(row)
            print_throughput(report, result, tool, args)

        for count in sizes:
            remaining = left()
            asyncio.run(asyncio.wait_for(live(args, app, report, count, retries), remaining))

        if args.compare_workers and tool is not None and result.rows:
            left()
            other = 2 if args.workers == 1 else 1
            second = app_server(
                data_dir,
                database_url,
                name=f"app-{other}-workers",
                workers=other,
                heartbeat=HEARTBEAT_SECONDS,
                tick=TICK_SECONDS,
                join_rate=join_rate,
                event_loop=args.event_loop,
            )
            servers.append(second)
            second.start()
            # Both servers up (the idle one's clock ticks once a second), measured in turns,
            # first one then the other, then the other way round: a machine that runs
            # faster or slower for a while (this one's rates move 10-20% from run to run)
            # moves both alike. At --high-connections, one run each.
            by_workers = {args.workers: app, other: second}
            counts = sorted(by_workers)
            turns = [
                (count, args.connections)
                for i in range(args.worker_runs)
                for count in (counts if i % 2 == 0 else counts[::-1])
            ] + [(count, args.high_connections) for count in counts]
            for count, connections in turns:
                left()
                try:
                    row = tool.measure(
                        "GET /api/v1/me",
                        by_workers[count],
                        "/api/v1/me",
                        connections,
                        data_dir / "tokens.txt",
                    )
                except WrkFailed as error:
                    report.fail(f"GET /api/v1/me, {count} workers: {error}")
                    continue
                result.workers.append((count, row))
            print_workers(report, result, args)
    except (OutOfTime, TimeoutError):
        report.fail(f"the run hit its time limit of {args.time_limit:.0f} s")
    except (RuntimeError, httpx.HTTPError) as error:
        report.fail(f"the run stopped: {type(error).__name__}: {error}")
    finally:
        for server in servers:
            server.stop()
        heading("Server logs")
        for server in servers:
            print_log(report, server)
        say(f"sent again on a new connection in the whole run: {describe_retries(retries)}")
        if args.keep:
            say(f"kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return report.print_end(began)


if __name__ == "__main__":
    raise SystemExit(main())
