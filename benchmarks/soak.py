"""Live streams held open for a long time: does every phone see every round change, and does
the server keep its memory and open files?

    .venv/bin/python benchmarks/soak.py [--streams 1000] [--minutes 10] [--every 60]
                                        [--sample 10] [--workers N]
                                        [--database-url URL [--reset-schema]]
                                        [--change-timeout 30] [--fd-tolerance 5]
                                        [--keep] [--time-limit S]

A script that prints plain-text tables (never a test). It starts its own server
(`python -m app.cli serve`, on a free loopback port; SQLite in a temporary folder unless
--database-url is given), lets --streams attendees join one event, opens one live stream
(GET /api/v1/me/stream) per attendee and holds them for --minutes. Round 1 starts at once;
every --every seconds the organiser ends the round (POST /events/{id}/clock, end_round) and
starts the next (POST /events/{id}/rounds with expected_index). The event has one round more
than there are changes and rounds far longer than the run, so nothing changes by itself.
It reports how many streams saw each change and how late the slowest one was; the server's
resident memory (VmRSS) and open file descriptors every --sample seconds; the growth in
memory from minute 2 to the end (10 s after the last change); and the open files before the
streams open, while they are open and after they close (they must come back to where they
were). Only loopback traffic; every step has a deadline, and the whole run stops after
--time-limit seconds. Exit status 1 on a failure (a lost join, a 5xx, a stream that broke or
missed a change, files not given back), else 0 (even when the memory target is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# This file is benchmarks/soak.py: run as a script, its own folder comes first on sys.path and
# its sibling benchmarks/matching.py would shadow the `matching` package. The root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2 as httpx

from benchmarks.harness import (
    Client,
    Phone,
    Report,
    Seen,
    Server,
    app_server,
    describe_retries,
    ended,
    join_all,
    open_file_limit,
    print_log,
    print_preamble,
    quantile,
    raise_open_files,
    reset_schema,
    secs,
    showing,
    stream_client,
    streaming,
    wait_until,
)
from benchmarks.report import heading, say, table

HEARTBEAT_SECONDS = 15.0  # the default: what phones get in a venue
TICK_SECONDS = 1.0
ROUND_SECONDS = 7200  # the longest allowed: no round ends on its own
GROWTH_GOAL = 0.10  # resident memory, minute 2 → the end
GROWTH_FROM = 120.0  # seconds into the soak
SETTLE_SECONDS = 10.0  # from the last change to the last sample (one --sample interval)


@dataclass
class Sample:
    at: float  # seconds since round 1 started (negative: before)
    rss_kib: int
    files: int
    streaming: int  # phones whose stream is open, as the load generator sees them
    note: str = ""


@dataclass
class Sampler:
    """The server's memory and open files, every `every` seconds, in the background."""

    server: Server
    phones: Sequence[Phone]
    every: float
    zero: float = 0.0  # perf_counter of second 0
    samples: list[Sample] = field(default_factory=list)

    def take(self, note: str = "") -> Sample:
        sample = Sample(
            at=time.perf_counter() - self.zero,
            rss_kib=self.server.rss_kib(),
            files=self.server.open_files(),
            streaming=sum(1 for p in self.phones if p.opened and not p.closed),
            note=note,
        )
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        for _ in range(1_000_000):  # bounded; cancelled long before
            self.take()
            await asyncio.sleep(self.every)


@dataclass
class Change:
    label: str
    at: float  # seconds since round 1 started
    request: str
    request_latency: float
    delays: list[float]  # per phone that saw it: from just before the POST
    missing: int


async def change(
    label: str,
    zero: float,
    phones: Sequence[Phone],
    action: Callable[[], Awaitable[httpx.Response]],
    test: Callable[[Seen], bool],
    timeout: float,
) -> Change:
    """The organiser's request, then wait (at most `timeout`) until every phone shows it."""
    marks = [len(p.states) for p in phones]
    started = time.perf_counter()
    try:
        response = await action()
        request = str(response.status_code)
    except httpx.HTTPError as error:
        request = type(error).__name__
    latency = time.perf_counter() - started
    await wait_until(
        lambda: all(p.first(m, test) is not None for p, m in zip(phones, marks, strict=True)),
        timeout,
        poll=0.02,
    )
    seen = [p.first(m, test) for p, m in zip(phones, marks, strict=True)]
    delays = [s.at - started for s in seen if s is not None]
    return Change(
        label=label,
        at=started - zero,
        request=request,
        request_latency=latency,
        delays=delays,
        missing=len(phones) - len(delays),
    )


@dataclass
class Soak:
    changes: list[Change] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    files_before: int = 0
    rss_before: int = 0
    files_after: int = 0
    rss_after: int = 0
    files_back_after: float | None = None  # seconds after the streams closed
    seconds: float = 0.0  # how long the streams were held after round 1 started
    phones: list[Phone] = field(default_factory=list)


async def soak(
    args: argparse.Namespace, server: Server, report: Report, retries: Counter[str]
) -> Soak:
    result = Soak()
    count: int = args.streams
    changes = int(args.minutes * 60 // args.every)
    timeout = httpx.Timeout(60.0)

    async with Client(
        server.url, retries=retries, what="joins", timeout=timeout, connections=110
    ) as client:
        created = await client.post(
            "/api/v1/events",
            json={"name": "Soak", "rounds": changes + 1, "round_seconds": ROUND_SECONDS},
        )
        created.raise_for_status()
        event = created.json()
        joins = await asyncio.wait_for(
            join_all(client, server, event["join_code"], count, args.seed, at_once=100), 300
        )
    heading(f"{count} attendees join")
    say(
        f"{joins.statuses['201']} of {count} joined in {joins.wall:.1f} s (100 at a time): "
        + ", ".join(f"{n} x {code}" for code, n in sorted(joins.statuses.items()))
    )
    if joins.statuses["201"] != count:
        report.fail(f"{count - joins.statuses['201']} joins did not get 201")
    if len(joins.tokens) < 2:
        report.fail("too few attendees joined to go on")
        return result

    # Before: the join connections closed, the server idle.
    await asyncio.sleep(2.0)
    phones = [Phone(token) for token in joins.tokens]
    result.phones = phones
    sampler = Sampler(server, phones, args.sample, zero=time.perf_counter())
    before = sampler.take("before the streams")
    result.files_before = before.files
    result.rss_before = before.rss_kib
    say(
        f"server before the streams: {result.files_before} open files, "
        f"{result.rss_before / 1024:.1f} MiB resident"
    )

    organiser = {"Authorization": f"Bearer {event['organiser_token']}"}
    rounds_url = f"/api/v1/events/{event['id']}/rounds"
    clock_url = f"/api/v1/events/{event['id']}/clock"
    async with (
        stream_client(server, len(phones), retries) as streams,
        Client(server.url, retries=retries, what="organiser", timeout=timeout) as organiser_client,
        streaming(phones, streams),
    ):

        def start(index: int) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: organiser_client.post(
                rounds_url, headers=organiser, json={"expected_index": index}
            )

        def end() -> Awaitable[httpx.Response]:
            return organiser_client.post(clock_url, headers=organiser, json={"action": "end_round"})

        sampling = asyncio.create_task(sampler.run())
        try:
            opened = time.perf_counter()
            await wait_until(lambda: all(p.states or p.closed for p in phones), 180, poll=0.05)
            waiting = sum(1 for p in phones if not p.states)
            heading(f"{len(phones)} live streams")
            say(
                f"first states on {len(phones) - waiting} of {len(phones)} streams after "
                f"{time.perf_counter() - opened:.1f} s"
            )
            if waiting:
                errors = Counter(p.error for p in phones if not p.states)
                report.fail(f"{waiting} streams sent no first state: {dict(errors)}")

            zero = time.perf_counter()
            for sample in sampler.samples:
                sample.at -= zero - sampler.zero
            sampler.zero = zero
            result.changes.append(
                await change(
                    "start round 1",
                    zero,
                    phones,
                    start(1),
                    showing(1),
                    args.change_timeout,
                )
            )
            for k in range(1, changes + 1):
                await asyncio.sleep(max(0.0, zero + k * args.every - time.perf_counter()))
                result.changes.append(
                    await change(
                        f"end round {k}",
                        zero,
                        phones,
                        end,
                        ended(k),
                        args.change_timeout,
                    )
                )
                result.changes.append(
                    await change(
                        f"start round {k + 1}",
                        zero,
                        phones,
                        start(k + 1),
                        showing(k + 1),
                        args.change_timeout,
                    )
                )
            await asyncio.sleep(max(0.0, zero + args.minutes * 60 - time.perf_counter()))
            # When --every divides the run, the last change was sent a moment ago and its
            # fan-out (the organiser's draw, a snapshot, a view per phone) is still in memory:
            # the end is read SETTLE_SECONDS after it, as the sample at minute 2 is read some
            # seconds after the change at minute 2, not during it.
            settled = (result.changes[-1].at if result.changes else 0.0) + SETTLE_SECONDS
            if time.perf_counter() - zero < settled:
                sampler.take("just after the last change")
                await asyncio.sleep(max(0.0, zero + settled - time.perf_counter()))
            sampler.take("the end, streams open")
            result.seconds = time.perf_counter() - zero
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)

    # After: every stream closed by this side; the server should give their files back.
    closed = time.perf_counter()
    limit = args.fd_tolerance
    wait = 2 * HEARTBEAT_SECONDS + 15
    await wait_until(lambda: server.open_files() <= result.files_before + limit, wait, poll=0.5)
    if server.open_files() <= result.files_before + limit:
        result.files_back_after = time.perf_counter() - closed
    await asyncio.sleep(1.0)  # a last look, settled
    after = sampler.take("after the streams closed")
    result.files_after = after.files
    result.rss_after = after.rss_kib
    result.samples = sampler.samples
    return result


def print_soak(report: Report, result: Soak, args: argparse.Namespace) -> None:
    phones = result.phones
    count = len(phones)
    heading("Round changes")
    say(
        f"Every {args.every:.0f} s: end the round (clock), wait until every phone shows it "
        f"ended, start the next;"
    )
    say(
        "'at' = seconds after round 1 started; 'saw it' = streams that showed the change "
        f"within {args.change_timeout:.0f} s;"
    )
    say("delays from just before the organiser's POST to the phone's state.")
    say()
    rows = [
        [
            c.label,
            f"{c.at:.0f}",
            c.request,
            f"{c.request_latency * 1000:.0f}",
            f"{len(c.delays)} of {count}",
            secs(quantile(c.delays, 0.5)),
            secs(max(c.delays) if c.delays else float("nan")),
        ]
        for c in result.changes
    ]
    say(
        table(
            ["change", "at (s)", "POST", "POST (ms)", "saw it", "median (s)", "slowest (s)"],
            rows,
        )
    )
    for c in result.changes:
        if not c.request.startswith("2"):
            report.fail(f"{c.label}: the organiser's request got {c.request}")
        if c.missing:
            report.fail(f"{c.label}: {c.missing} of {count} streams never showed it")
    missed = sum(c.missing for c in result.changes)
    slowest = max((max(c.delays) for c in result.changes if c.delays), default=float("nan"))
    report.target(
        missed == 0 and bool(result.changes),
        f"every one of {count} streams saw every one of {len(result.changes)} changes",
        f"{missed} missed; slowest {secs(slowest)} s",
    )

    broken = Counter(p.error for p in phones if p.error)
    beats = [p.heartbeats for p in phones]
    say()
    say(
        f"streams held {result.seconds:.0f} s after round 1 started; broken or closed by the "
        f"server: {sum(broken.values())}"
        + (f" ({dict(broken)})" if broken else "")
        + f"; heartbeats per stream: min {min(beats, default=0)}, "
        f"median {statistics.median(beats) if beats else 0:.0f}, max {max(beats, default=0)} "
        f"(one every {HEARTBEAT_SECONDS:.0f} s without a change)"
    )
    if broken:
        report.fail(f"{sum(broken.values())} streams broke: {dict(broken)}")

    heading("Server memory and open files")
    say(
        f"Every {args.sample:.0f} s: VmRSS from /proc/PID/status and the entries of "
        "/proc/PID/fd (summed over the"
    )
    say("server's processes); 'streams' = streams open as this side sees them. 'at' as above.")
    say()
    say(
        table(
            ["at (s)", "RSS (MiB)", "open files", "streams", ""],
            [
                [
                    f"{s.at:.0f}",
                    f"{s.rss_kib / 1024:.1f}",
                    str(s.files),
                    str(s.streaming),
                    s.note,
                ]
                for s in result.samples
            ],
        )
    )
    during = [s for s in result.samples if s.streaming > 0 and s.at >= 0]
    say()
    if during:
        reference_at = GROWTH_FROM if result.seconds >= GROWTH_FROM + 60 else result.seconds / 2
        reference = next((s for s in during if s.at >= reference_at), during[0])
        last = during[-1]
        growth = (last.rss_kib - reference.rss_kib) / reference.rss_kib
        when = (
            f"minute 2 ({reference.at:.0f} s)"
            if reference_at == GROWTH_FROM
            else f"{reference.at:.0f} s (half-way: the run is too short for minute 2)"
        )
        say(
            f"resident memory: {result.rss_before / 1024:.1f} MiB before the streams, "
            f"{reference.rss_kib / 1024:.1f} MiB at {reference.at:.0f} s, "
            f"{last.rss_kib / 1024:.1f} MiB at {last.at:.0f} s, "
            f"{result.rss_after / 1024:.1f} MiB after they closed"
        )
        report.target(
            growth < GROWTH_GOAL,
            f"resident memory grows < {GROWTH_GOAL:.0%} from {when} to the end",
            f"{growth:+.1%} ({reference.rss_kib / 1024:.1f} -> {last.rss_kib / 1024:.1f} MiB)",
        )
    most = max((s.files for s in during), default=0)
    back = (
        f"back within {args.fd_tolerance} after {result.files_back_after:.1f} s"
        if result.files_back_after is not None
        else f"not back within {args.fd_tolerance} after {2 * HEARTBEAT_SECONDS + 15:.0f} s"
    )
    say(
        f"open files: {result.files_before} before the streams, at most {most} while "
        f"{count} were open, {result.files_after} after they closed ({back})"
    )
    returned = abs(result.files_after - result.files_before) <= args.fd_tolerance
    if not returned:
        report.fail(
            f"open files: {result.files_after} after the streams closed, "
            f"{result.files_before} before"
        )
    report.target(
        returned,
        f"open files come back to the baseline (+/- {args.fd_tolerance}) after the streams close",
        f"{result.files_before} before, at most {most} during, {result.files_after} after",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=1000, help="live streams (1000)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to hold them (10)")
    parser.add_argument("--every", type=float, default=60.0, help="s between changes (60)")
    parser.add_argument("--sample", type=float, default=10.0, help="s between samples (10)")
    parser.add_argument("--workers", type=int, default=1, help="`serve --workers N` (1)")
    parser.add_argument(
        "--change-timeout", type=float, default=30.0, help="a phone misses a change after, s (30)"
    )
    parser.add_argument(
        "--fd-tolerance", type=int, default=5, help="open files may differ by this much (5)"
    )
    parser.add_argument("--database-url", help="e.g. postgresql+psycopg://user@127.0.0.1/db")
    parser.add_argument(
        "--reset-schema",
        action="store_true",
        help="PostgreSQL: DROP SCHEMA public CASCADE and recreate it first (destroys its data)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    parser.add_argument("--seed", type=int, default=1, help="seed of the attendees' profiles")
    parser.add_argument("--time-limit", type=float, help="whole run, s (default: the soak + 600)")
    args = parser.parse_args(argv)
    postgres = (args.database_url or "").startswith("postgres")
    if not 2 <= args.streams <= 5000:
        parser.error("--streams must be from 2 to 5000")
    if not (0 < args.minutes <= 120 and 5 <= args.every <= 3600 and 1 <= args.sample <= 300):
        parser.error("--minutes must be in (0, 120], --every in [5, 3600], --sample in [1, 300]")
    changes = int(args.minutes * 60 // args.every)
    if changes + 1 > 50:
        parser.error(f"{changes} changes need {changes + 1} rounds; an event has at most 50")
    if args.minutes * 60 + 60 > ROUND_SECONDS:
        parser.error("--minutes: rounds would end on their own before the run does")
    if not (1 <= args.change_timeout <= 300 and 0 <= args.fd_tolerance <= 1000):
        parser.error("--change-timeout must be in [1, 300] and --fd-tolerance in [0, 1000]")
    if not 1 <= args.workers <= 16 or (args.workers > 1 and not postgres):
        parser.error("--workers must be from 1 to 16; above 1 needs a PostgreSQL --database-url")
    if args.reset_schema and not postgres:
        parser.error("--reset-schema is for a PostgreSQL --database-url only")
    time_limit: float = args.time_limit or args.minutes * 60 + 600
    if not 30 <= time_limit <= 4 * 3600:
        parser.error("--time-limit must be in [30, 14400]")

    began = time.perf_counter()
    files = raise_open_files()
    data_dir = Path(tempfile.mkdtemp(prefix="commonground-soak-"))
    database_url = args.database_url or f"sqlite:///{data_dir / 'commonground.db'}"
    if args.reset_schema:
        reset_schema(database_url)
    server = app_server(
        data_dir,
        database_url,
        workers=args.workers,
        heartbeat=HEARTBEAT_SECONDS,
        tick=TICK_SECONDS,
        join_rate=max(600, 2 * args.streams),
    )
    report = Report()
    retries: Counter[str] = Counter()
    print_preamble(
        "Common Ground live streams, held",
        database_url=database_url,
        lines=[
            f"server: python -m app.cli serve --workers {args.workers} on 127.0.0.1; heartbeat "
            f"{HEARTBEAT_SECONDS:.0f} s, tick {TICK_SECONDS:.0f} s",
            f"soak: {args.streams} streams for {args.minutes:g} min, a round change every "
            f"{args.every:g} s ({changes} changes, {changes + 1} rounds of {ROUND_SECONDS} s), "
            f"samples every {args.sample:g} s",
            f"load generator: this process, asyncio + httpx2; open files {files}",
        ],
    )
    try:
        server.start()
        say(
            f"server started after {time.perf_counter() - began:.1f} s at {server.url} "
            f"(open-file limit {open_file_limit(server.pid)})"
        )
        remaining = time_limit - (time.perf_counter() - began)
        result = asyncio.run(asyncio.wait_for(soak(args, server, report, retries), remaining))
        if result.phones:
            print_soak(report, result, args)
    except TimeoutError:
        report.fail(f"the run hit its time limit of {time_limit:.0f} s")
    except (RuntimeError, httpx.HTTPError) as error:
        report.fail(f"the run stopped: {type(error).__name__}: {error}")
    finally:
        server.stop()
        heading("Server log")
        print_log(report, server)
        say(
            "sent again on a new connection (the server closed a kept-alive one without "
            f"answering): {describe_retries(retries)}"
        )
        if args.keep:
            say(f"kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return report.print_end(began)


if __name__ == "__main__":
    raise SystemExit(main())
