"""The `commonground` command: serve, demo, and plan (the matcher offline)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from matching.plan import plan_rounds
from matching.planfile import (
    MAX_ROUNDS,
    PlanFileError,
    parse_plan_file,
    plan_to_json,
    room_from_plan_file,
)

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _fail(message: str) -> NoReturn:
    print(f"commonground: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _rounds(text: str) -> int:
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
        help="plan the rounds of an event offline from a planner file (SPEC 4.2)",
        description="Plan rounds from a planner file; writes the plan as JSON.",
    )
    plan.add_argument("input", help="the planner file (JSON), or - for standard input")
    plan.add_argument("--rounds", type=_rounds, help="how many rounds (overrides the file)")
    plan.add_argument("--seed", type=_seed, help="seed for tie-breaking (overrides the file)")
    plan.add_argument("--out", help="write the plan here instead of standard output")

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")

    demo = commands.add_parser(
        "demo",
        help="start the service with a demo mixer of made-up attendees and print its links",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    demo.add_argument("--people", type=int, default=40, help="how many attendees (default 40)")
    demo.add_argument(
        "--live",
        action="store_true",
        help="short rounds that run on their own, with attendees acting by themselves",
    )
    demo.add_argument(
        "--data-dir", help="keep the demo database here (default: a new temporary folder)"
    )

    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "plan":
        _plan(args.input, rounds=args.rounds, seed=args.seed, out=args.out)
    elif args.command == "serve":
        import uvicorn

        uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port)
    elif args.command == "demo":
        if not 2 <= args.people <= 2000:
            _fail(f"--people: must be from 2 to 2000 (got {args.people})")
        _demo(
            host=args.host, port=args.port, people=args.people, live=args.live, data=args.data_dir
        )


def _plan(source: str, *, rounds: int | None, seed: int | None, out: str | None) -> None:
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


def _demo(*, host: str, port: int, people: int, live: bool, data: str | None) -> None:
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
    settings = Settings(data_dir=folder, database_url=None, public_url=f"http://{host}:{port}")
    db = create_database(settings)
    upgrade(db.engine)
    clock = SystemClock()
    links = demo.seed(db, settings, clock, people=people, live=live)
    print(
        f"Common Ground demo: {people} made-up attendees, data in {folder}\n\n"
        f"  Organiser console  {links.organiser}\n"
        f"  Projector          {links.projector}\n"
        f"  Join page          {links.join}\n"
        f"  {links.attendee_name}'s phone  {links.attendee}\n\n"
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
        uvicorn.run(create_app(settings, clock=clock), host=host, port=port)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
