"""The `commonground` command: serve, plan (offline matcher) and demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from matching.model import Room
from matching.plan import plan_rounds
from matching.planfile import (
    MAX_ROUNDS,
    PlanFileError,
    parse_plan_file,
    plan_to_json,
    room_from_plan_file,
)
from matching.synthetic import synthetic_room

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
        "demo", help="plan a made-up room of attendees and print who meets whom"
    )
    demo.add_argument("--people", type=int, default=40, help="how many attendees (default 40)")
    demo.add_argument("--rounds", type=_rounds, default=3, help="how many rounds (default 3)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "plan":
        _plan(args.input, rounds=args.rounds, seed=args.seed, out=args.out)
    elif args.command == "serve":
        import uvicorn

        uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port)
    elif args.command == "demo":
        if not 2 <= args.people <= 5000:
            _fail(f"--people: must be from 2 to 5000 (got {args.people})")
        _demo(synthetic_room(args.people, seed=1), rounds=args.rounds)


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


def _demo(room: Room, *, rounds: int) -> None:
    """Until the live service exists: a readable plan of a made-up room."""
    people = {a.id: a for a in room.attendees}
    plan = plan_rounds(room, rounds=rounds, seed=1)
    print(f"A made-up mixer: {len(people)} people, {rounds} rounds.\n")
    for round_ in plan.rounds:
        print(f"Round {round_.index} of {rounds}")
        for group in round_.groups:
            names = " + ".join(
                people[m].display_name
                + (f" ({people[m].organisation})" if people[m].organisation else "")
                for m in group.members
            )
            names_by_id = {m: people[m].display_name for m in group.members}
            why = "; ".join(r.text(names_by_id) for r in group.reasons[:3]) or "something new"
            print(f"  Table {group.table:>3} · {names} — {why}")
        for person in round_.sitting_out:
            print(f"  sitting out: {people[person].display_name}")
        print()
    totals = sorted(plan.totals.values())
    print(
        f"Weakest attendee's common ground: {totals[0]:.1f} points; "
        f"median {totals[len(totals) // 2]:.1f}; repeated pairs: {plan.repeats}."
    )


if __name__ == "__main__":
    main()
