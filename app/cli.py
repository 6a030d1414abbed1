"""The `commonground` command: serve, demo, plan (the matcher offline), export, series, purge."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import uvicorn
    from sqlalchemy.orm import Session

    from app import models
    from app.config import Settings
    from app.db import Database

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _fail(message: str) -> NoReturn:
    print(f"commonground: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _rounds(text: str) -> int:
    # Here, not at the top: every command would load the planner file's schema (pydantic).
    from matching.planfile import MAX_ROUNDS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_ROUNDS} (got {value})")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535 (got {value})")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commonground", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    plan = commands.add_parser(
        "plan",
        help="plan the rounds of an event offline from a planner file (docs/planner-file.md)",
        description="Plan rounds from a planner file; writes the plan as JSON.",
    )
    plan.add_argument("input", help="the planner file (JSON), or - for standard input")
    plan.add_argument("--rounds", type=_rounds, help="how many rounds (overrides the file)")
    plan.add_argument("--seed", type=_seed, help="seed for tie-breaking (overrides the file)")
    plan.add_argument("--out", help="write the plan here instead of standard output")

    serve = commands.add_parser(
        "serve",
        help="run the web service",
        description="Run the web service. Links and QR codes name the address each visitor "
        "used, unless COMMONGROUND_PUBLIC_URL is set.",
    )
    _listen_arguments(serve)
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes (default 1; more than one needs PostgreSQL, DATABASE_URL)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        help="proxies whose X-Forwarded-* headers are believed: comma-separated addresses or "
        "networks, or * (default: COMMONGROUND_FORWARDED_ALLOW_IPS, or 127.0.0.1)",
    )

    demo = commands.add_parser(
        "demo",
        help="start the service with a demo mixer of made-up attendees and print its links",
    )
    _listen_arguments(demo)
    demo.add_argument("--people", type=int, default=40, help="how many attendees (default 40)")
    demo.add_argument(
        "--live",
        action="store_true",
        help="short rounds that run on their own, with attendees acting by themselves",
    )
    demo.add_argument(
        "--data-dir", help="keep the demo database here (default: a new temporary folder)"
    )

    export = commands.add_parser(
        "export",
        help="export an event's connections (who met whom) as CSV or JSON, or its network "
        "as GraphML or GEXF",
        description="Export who met whom, their common ground and connections, with contact "
        "details only where both connected and the owner consents. Reads the database of "
        "`commonground serve` (DATABASE_URL, or the SQLite file in COMMONGROUND_DATA_DIR).",
    )
    export.add_argument("event", help="the event's id (as in its organiser link /events/ID/...)")
    export.add_argument(
        "--format",
        choices=("csv", "json", "graphml", "gexf"),
        default="csv",
        help="default csv; graphml and gexf: the network, for Gephi or Cytoscape",
    )
    export.add_argument("--out", help="write here instead of standard output")

    series = commands.add_parser(
        "series",
        help="list the series, a series' events, or export a series' network",
        description="Without SERIES: every series. With SERIES (its id): its events with their "
        "statistics, with --format graphml|gexf its network (people named only if they "
        "consented), or with --format links the personal series link of everyone it remembers "
        "(CSV for the next invitation; the links use COMMONGROUND_PUBLIC_URL).",
    )
    series.add_argument("series", nargs="?", help="the series' id (as in /series/ID)")
    series.add_argument(
        "--format",
        choices=("text", "graphml", "gexf", "links"),
        default="text",
        help="default text",
    )
    series.add_argument("--out", help="write here instead of standard output")

    purge = commands.add_parser(
        "purge",
        help="delete the personal data of events that ended long enough ago",
        description="Delete the personal data (attendees, answers, contacts, connections) of "
        "events that ended RETENTION days ago or more, or of one event at once. Statistics "
        "are kept. The running server does the same by itself every hour.",
    )
    purge.add_argument(
        "--days",
        type=_days,
        help="retention in days (default: COMMONGROUND_RETENTION_DAYS, or 30)",
    )
    purge.add_argument("--event", help="purge this finished event now, whatever its age")
    purge.add_argument(
        "--dry-run", action="store_true", help="list what would be purged, change nothing"
    )

    return parser


def _listen_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)"
    )
    where.add_argument(
        "--lan",
        action="store_true",
        help="venue mode: listen on every network interface so phones on the same wifi can "
        "join, and print the network address with a join QR code",
    )
    parser.add_argument("--port", type=_port, default=8000, help="port (default 8000)")


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64 (got {value})")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 3650:
        raise argparse.ArgumentTypeError(f"must be from 0 to 3650 (got {value})")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "plan":
        _plan(args.input, rounds=args.rounds, seed=args.seed, out=args.out)
    elif args.command == "serve":
        if args.forwarded_allow_ips is not None:
            # Settings come from the environment in every worker process.
            os.environ["COMMONGROUND_FORWARDED_ALLOW_IPS"] = args.forwarded_allow_ips
        listen = Listen(host="0.0.0.0" if args.lan else args.host, port=args.port, lan=args.lan)
        if listen.lan and listen.network_url:
            os.environ["COMMONGROUND_LAN_URL"] = listen.network_url
        _guarded(lambda: _serve(listen, workers=args.workers))
    elif args.command == "demo":
        if not 2 <= args.people <= 2000:
            _fail(f"--people: must be from 2 to 2000 (got {args.people})")
        listen = Listen(host="0.0.0.0" if args.lan else args.host, port=args.port, lan=args.lan)
        _demo(listen, people=args.people, live=args.live, data=args.data_dir)
    elif args.command == "export":
        _guarded(lambda: _export(args.event, fmt=args.format, out=args.out))
    elif args.command == "series":
        _guarded(lambda: _series(args.series, fmt=args.format, out=args.out))
    elif args.command == "purge":
        _guarded(lambda: _purge(days=args.days, event_id=args.event, dry_run=args.dry_run))


def _serve(listen: Listen, *, workers: int) -> None:
    from app import fdlimit

    for line in fdlimit.describe(fdlimit.raise_open_file_limit(), workers=workers):
        print(line, flush=True)
    import uvicorn

    from app.config import get_settings
    from app.db import create_database
    from app.migrate import upgrade

    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        _fail(
            f"--workers {workers} needs PostgreSQL (DATABASE_URL): with SQLite, live updates "
            "made in one worker process cannot reach the phones connected to another"
        )
    # Once, before any worker starts: workers and replicas then find the schema current.
    db = create_database(settings)
    try:
        upgrade(db.engine)
    finally:
        db.engine.dispose()
    _announce(listen, settings.public_url, paths=[("Organisers start here", "/")], join="/join")
    # Workers with a socket each (app/loops.py): Linux, on asyncio.
    own_sockets = workers > 1 and settings.event_loop == "asyncio" and sys.platform == "linux"
    options: dict[str, Any] = {
        "host": listen.host,
        "port": listen.port,
        "workers": workers,
        # X-Forwarded-* are applied by the app itself, from COMMONGROUND_FORWARDED_ALLOW_IPS.
        "proxy_headers": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "loop": "app.loops:WorkerLoop" if own_sockets else settings.event_loop,
    }
    if own_sockets:
        _serve_workers(uvicorn.Config("app.main:create_app", factory=True, **options))
    else:
        uvicorn.run("app.main:create_app", factory=True, **options)


def _serve_workers(config: uvicorn.Config) -> None:
    """uvicorn's supervisor and workers, each worker listening on a socket of its own at
    the address, the kernel spreading connections evenly between them (app/loops.py)."""
    from uvicorn.supervisors import Multiprocess

    from app.loops import workers_socket

    try:
        sock = workers_socket(config.host, config.port)
    except OSError as error:
        _fail(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}")
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def _guarded(run: Callable[[], None]) -> None:
    """Settings or database trouble is one line and exit status 2, not a traceback."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from app.errors import DomainError

    try:
        run()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        _fail(f"{where}: {first['msg']}")
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip()
        _fail(f"database: {cause.splitlines()[0] if cause else type(error).__name__}")
    except DomainError as error:
        _fail(str(error.detail))


@contextmanager
def _database() -> Iterator[tuple[Settings, Database]]:
    from app.config import Settings
    from app.db import create_database
    from app.migrate import upgrade

    settings = Settings()
    db = create_database(settings)
    try:
        upgrade(db.engine)
        yield settings, db
    finally:
        db.engine.dispose()


def _event_or_fail(session: Session, event_id: str) -> models.Event:
    from sqlalchemy import select

    from app import models

    event = session.get(models.Event, event_id)
    if event is None:
        known = session.execute(
            select(models.Event.id, models.Event.name).order_by(models.Event.created_at.desc())
        ).all()[:5]
        hint = "; recent events: " + ", ".join(f"{i} ({n})" for i, n in known) if known else ""
        _fail(f"no event {event_id!r} in this database{hint}")
    return event


def _export(event_id: str, *, fmt: str, out: str | None) -> None:
    from app.schemas import ConnectionsExport
    from app.services import exports

    with _database() as (_settings, db), db.reading() as session:
        event = _event_or_fail(session, event_id)
        if fmt == "csv":
            data = exports.connections_csv(session, event)
        elif fmt in ("graphml", "gexf"):
            from app.services import network

            found = network.collect(session, [event])
            write = network.graphml if fmt == "graphml" else network.gexf
            data = write(found, title=event.name)
        else:
            document = ConnectionsExport.model_validate(
                exports.connections_document(session, event)
            )
            data = (document.model_dump_json(indent=2) + "\n").encode()
    _write(data, out)


def _write(data: bytes, out: str | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as error:
        _fail(f"{out}: {error.strerror or error}")


def _series(series_id: str | None, *, fmt: str, out: str | None) -> None:
    from sqlalchemy import select

    from app import models
    from app.services import exports, network
    from app.services import series as series_service

    with _database() as (settings, db), db.reading() as session:
        if series_id is None:
            if fmt != "text":
                _fail(f"--format {fmt} needs a SERIES")
            lines = []
            for found in session.scalars(
                select(models.Series).order_by(models.Series.created_at.desc())
            ):
                read = series_service.series_read(session, found)
                lines.append(
                    f"{read.id}  {read.name}  {len(read.events)} events, {read.members} remembered"
                )
            data = ("\n".join(lines) + "\n" if lines else "no series yet\n").encode()
        else:
            series = session.get(models.Series, series_id)
            if series is None:
                _fail(f"no series {series_id!r} in this database")
            if fmt == "text":
                read = series_service.series_read(session, series)
                lines = [
                    f"{read.name} ({read.id}): memory {read.memory}, {read.members} remembered"
                ]
                for e in read.events:
                    lines.append(
                        f"{e.position}. {e.id}  {e.name}  {e.status}: {e.joined} joined, "
                        f"{e.returning} returning ({e.only_new_faces} met only new faces), "
                        f"{e.conversations} conversations, {e.mutual_connections} connections"
                    )
                data = ("\n".join(lines) + "\n").encode()
            elif fmt == "links":
                if not settings.public_url:
                    _fail("--format links needs COMMONGROUND_PUBLIC_URL (the links' address)")
                data = exports.series_links_csv(session, series, public_url=settings.public_url)
            else:
                found_net = network.collect_series(session, series)
                write = network.graphml if fmt == "graphml" else network.gexf
                data = write(found_net, title=series.name)
    _write(data, out)


def _purge(*, days: int | None, event_id: str | None, dry_run: bool) -> None:
    from app.clock import SystemClock
    from app.services import events as event_service
    from app.services import retention

    now = SystemClock().now()
    with _database() as (settings, db):
        retention_days = settings.retention_days if days is None else days
        with db.reading() as session:
            if event_id is None:
                due = [
                    (e.id, e.name, len(e.attendees))
                    for e in retention.due_events(session, now=now, days=retention_days)
                ]
            else:
                event = _event_or_fail(session, event_id)
                if event.purged_at is not None:
                    _fail(f"event {event_id!r}: its personal data was already deleted")
                if event.finished_at is None:
                    _fail(f"event {event_id!r} has not ended; end it first (or wait for retention)")
                due = [(event.id, event.name, len(event.attendees))]
        for found, name, people in due:
            if not dry_run:
                with db.writing() as session:
                    if event_id is None:
                        done = retention.purge_if_due(
                            session=session, event_id=found, now=now, days=retention_days
                        )
                    else:
                        event = event_service.get_event(session, found, lock=True)
                        retention.purge_finished(session=session, event=event, now=now)
                        done = True
                if not done:
                    continue
            verb = "would delete" if dry_run else "deleted"
            print(f"{found} ({name}): {verb} the personal data of {people} people")
        if not due:
            print(f"nothing to purge (retention {retention_days} days)")


def _plan(source: str, *, rounds: int | None, seed: int | None, out: str | None) -> None:
    from matching.plan import plan_rounds
    from matching.planfile import PlanFileError, parse_plan_file, plan_to_json, room_from_plan_file

    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        _fail(f"{source}: {error.strerror or error}")
    try:
        parsed = parse_plan_file(raw)
    except PlanFileError as error:
        _fail(f"{source}: {error}")
    room = room_from_plan_file(parsed)
    chosen_seed = parsed.seed if seed is None else seed
    plan = plan_rounds(room, rounds=rounds or parsed.rounds, seed=chosen_seed)
    text = json.dumps(plan_to_json(room, plan, seed=chosen_seed), indent=2, ensure_ascii=False)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    try:
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        _fail(f"{out}: {error.strerror or error}")


def _demo(listen: Listen, *, people: int, live: bool, data: str | None) -> None:
    from app import fdlimit

    for line in fdlimit.describe(fdlimit.raise_open_file_limit()):
        print(line, flush=True)
    import tempfile
    import threading

    import uvicorn

    from app import demo
    from app.clock import SystemClock
    from app.config import Settings
    from app.db import create_database
    from app.main import create_app
    from app.migrate import upgrade

    folder = Path(data) if data else Path(tempfile.mkdtemp(prefix="commonground-demo-"))
    settings = Settings(
        data_dir=folder, database_url=None, lan_url=listen.network_url if listen.lan else None
    )
    db = create_database(settings)
    upgrade(db.engine)
    clock = SystemClock()
    shown = settings.public_url or listen.network_url or listen.urls()[0]
    links = demo.seed(db, clock, public_url=shown, people=people, live=live)
    print(f"Common Ground demo: {people} made-up attendees, data in {folder}\n", flush=True)
    _announce(
        listen,
        settings.public_url,
        paths=[
            ("Organiser console", _path(links.organiser)),
            ("Projector", _path(links.projector)),
            (f"{links.attendee_name}'s phone", _path(links.attendee)),
        ],
        join=_path(links.join),
    )
    print(
        "Open the console and start round 1"
        + (" (or wait: --live starts it and runs the rest)." if live else ".")
        + " Ctrl+C stops the server.\n",
        flush=True,
    )
    stop = threading.Event()
    if live:
        threading.Thread(
            target=demo.simulate, args=(db, clock, links.event_id, stop), daemon=True
        ).start()
    try:
        uvicorn.run(
            create_app(settings, clock=clock),
            host=listen.host,
            port=listen.port,
            proxy_headers=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            loop=settings.event_loop,
        )
    finally:
        stop.set()


def _path(url: str) -> str:
    """The path and query of a link (the demo prints them on each address)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class Listen:
    """Where the server listens, and the addresses people can reach it at."""

    host: str
    port: int
    lan: bool = False

    @property
    def network_url(self) -> str | None:
        """The address to give phones, if this server listens on a network."""
        urls = self.urls()
        return urls[1] if len(urls) > 1 else None

    def urls(self) -> list[str]:
        """Local first, then the network addresses (the first of those is the one to share)."""
        everywhere = self.host in ("0.0.0.0", "::")
        hosts = ["127.0.0.1", *lan_addresses()] if everywhere else [self.host]
        return [f"http://{_bracketed(h)}:{self.port}" for h in hosts]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def lan_addresses() -> list[str]:
    """This machine's addresses on the local network (IPv4), best first.

    Asks the operating system which interface would route outwards (a UDP `connect` sends
    nothing), then the addresses the host name resolves to."""
    import socket

    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet leaves, only a route lookup
        found.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    usable = [a for a in dict.fromkeys(found) if not a.startswith(("127.", "0.", "169.254."))]
    return usable


def _announce(
    listen: Listen, public_url: str | None, *, paths: list[tuple[str, str]], join: str
) -> None:
    """The start-up lines: where the server answers, the links people need, how to let phones
    in (or a QR code for them to scan, in venue mode)."""
    urls = listen.urls()
    local, network = urls[0], urls[1:]
    lines = [f"  Local:    {local}/"]
    if listen.host in ("0.0.0.0", "::"):
        if network:
            lines += [f"  Network:  {url}/" for url in network]
        else:
            lines.append("  Network:  no network address found - is this machine on the wifi?")
    if public_url:
        lines.append(f"  Public:   {public_url}/  (COMMONGROUND_PUBLIC_URL: every link uses it)")
    share = public_url or listen.network_url or local
    lines.append("")
    width = max(len(label) for label, _ in paths)
    lines += [f"  {label.ljust(width)}  {share}{path}" for label, path in paths]
    print("\n".join(lines), flush=True)
    if public_url is None and listen.host in ("127.0.0.1", "localhost", "::1"):
        print(
            "\n  Only this computer can reach this address. To let phones on the venue wifi "
            "in, restart with --lan.",
            flush=True,
        )
    elif listen.lan or public_url:
        import segno

        print(f"\n  Phones join at {share}{join} - scan:", flush=True)
        segno.make(f"{share}{join}", error="m").terminal(compact=True)
    print(flush=True)


if __name__ == "__main__":
    main()
