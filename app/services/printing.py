"""The printed plan: the remaining rounds fixed in advance, per-attendee schedules and table
cards on paper for people without phones (live rounds then follow the paper)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import models
from app.errors import Conflict, NotFound
from app.services import series as series_service
from app.services.events import mark_changed
from app.services.rounds import all_rounds, history_for, known_pairs, room_for
from app.services.views import GONE
from matching.plan import plan_rounds

# Who a fixed plan seats: people in the room and people on the guest list not yet arrived.
PLANNED_PRESENCE = ("present", "registered")


def fix_plan(*, session: Session, event: models.Event) -> list[dict[str, Any]]:
    """Plan every round not yet drawn, continuing the rounds held, and keep it as the
    printed plan: live rounds then keep its groups and tables wherever they can."""
    if event.finished_at is not None:
        raise Conflict("this event has finished")
    held = all_rounds(session, event)
    first = held[-1].index + 1 if held else 1
    if first > event.rounds:
        raise Conflict(f"all {event.rounds} rounds have been drawn")
    people = list(
        session.scalars(
            select(models.Attendee)
            .where(
                models.Attendee.event_id == event.id,
                models.Attendee.presence.in_(PLANNED_PRESENCE),
            )
            .order_by(models.Attendee.joined_at, models.Attendee.id)
        )
    )
    if len(people) < 2:
        raise Conflict(
            f"at least 2 people must be here or registered to plan rounds ({len(people)} are)"
        )
    memory = series_service.memory_for(session, event)
    known = known_pairs(session, event, memory)
    plan = plan_rounds(
        room_for(event, people, known),
        rounds=event.rounds - first + 1,
        seed=event.seed,
        history=history_for(held, known, memory.luck),
        first=first,
    )
    event.printed_plan = [
        {
            "index": planned.index,
            "groups": [{"table": g.table, "members": list(g.members)} for g in planned.groups],
            "sitting_out": list(planned.sitting_out),
        }
        for planned in plan.rounds
    ]
    mark_changed(session, event)
    session.flush()
    return event.printed_plan


def release_plan(*, session: Session, event: models.Event) -> None:
    """Forget the printed plan: rounds are drawn live again, one at a time."""
    if event.printed_plan is not None:
        event.printed_plan = None
        mark_changed(session, event)
        session.flush()


# ------------------------------------------------------------------ what the paper shows


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    organisation: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    members: tuple[str, ...]


RoundSource = Literal["held", "planned", "open"]


@dataclass(frozen=True, slots=True)
class SheetRound:
    """One round as printed: held (from the database), planned (the printed plan), or open
    (to be drawn live). `starts_at` is when it starts (estimated unless held), if known."""

    index: int
    source: RoundSource
    starts_at: datetime | None
    tables: tuple[Table, ...]
    sitting_out: tuple[str, ...]

    def table_of(self, attendee_id: str) -> Table | None:
        return next((t for t in self.tables if attendee_id in t.members), None)


@dataclass(frozen=True, slots=True)
class Sheet:
    event_name: str
    rounds: tuple[SheetRound, ...]
    people: dict[str, Person]
    # Rounds left to draw live with no plan for them: the paper cannot say where to sit.
    open_rounds: int

    def person(self, attendee_id: str) -> Person:
        return self.people.get(attendee_id) or Person(attendee_id, GONE, "")


def sheet_for(session: Session, event: models.Event) -> Sheet:
    """Every round of the event as the paper shows it: the rounds held, then the printed
    plan, with the times they start (estimated from the event's timing)."""
    held = {r.index: r for r in all_rounds(session, event)}
    planned = {int(r["index"]): r for r in event.printed_plan or ()}
    attendees = session.scalars(select(models.Attendee).where(models.Attendee.event_id == event.id))
    people = {a.id: Person(a.id, a.name, a.organisation) for a in attendees}
    period = timedelta(seconds=event.changeover_seconds + event.round_seconds)
    rounds: list[SheetRound] = []
    next_start = event.starts_at
    # Once the event has finished, rounds never held will not be.
    last = max(held, default=0) if event.finished_at is not None else event.rounds
    for index in range(1, last + 1):
        round_ = held.get(index)
        if round_ is not None:
            rounds.append(
                SheetRound(
                    index=index,
                    source="held",
                    starts_at=round_.started_at.astimezone(UTC),
                    tables=tuple(Table(g.table, tuple(g.members)) for g in round_.groups),
                    sitting_out=tuple(round_.sitting_out),
                )
            )
            # The next round starts when this one ends (or ended), at the earliest.
            next_start = round_.ended_at or round_.ends_at
            continue
        plan = planned.get(index)
        rounds.append(
            SheetRound(
                index=index,
                source="open" if plan is None else "planned",
                starts_at=None if next_start is None else next_start.astimezone(UTC),
                tables=()
                if plan is None
                else tuple(
                    Table(str(g["table"]), tuple(str(m) for m in g["members"]))
                    for g in plan["groups"]
                ),
                sitting_out=() if plan is None else tuple(plan.get("sitting_out", ())),
            )
        )
        next_start = None if next_start is None else next_start + period
    return Sheet(
        event_name=event.name,
        rounds=tuple(rounds),
        people=people,
        open_rounds=sum(1 for r in rounds if r.source == "open"),
    )


@dataclass(frozen=True, slots=True)
class Seat:
    """Where one person is in one round: a table with partners, sitting out, or not known
    (`note` says why)."""

    round: SheetRound
    table: str | None
    partners: tuple[Person, ...]
    sits_out: bool
    note: str


@dataclass(frozen=True, slots=True)
class Schedule:
    person: Person
    seats: tuple[Seat, ...]


def _seat(sheet: Sheet, round_: SheetRound, attendee_id: str) -> Seat:
    table = round_.table_of(attendee_id)
    if table is not None:
        partners = tuple(sheet.person(m) for m in table.members if m != attendee_id)
        return Seat(round_, table.name, partners, sits_out=False, note="")
    if attendee_id in round_.sitting_out:
        return Seat(round_, None, (), sits_out=True, note="")
    notes = {
        "held": "not placed",
        "planned": "not on the plan: see the screen",
        "open": "drawn live: see the screen",
    }
    return Seat(round_, None, (), sits_out=False, note=notes[round_.source])


def _by_name(people: Sequence[Person]) -> list[Person]:
    return sorted(people, key=lambda p: (p.name.casefold(), p.organisation.casefold(), p.id))


def schedules(
    session: Session, event: models.Event, sheet: Sheet, *, attendee_id: str | None = None
) -> list[Schedule]:
    """Each attendee's rounds, alphabetically: everyone who is on any round of the sheet or
    has not left; or only `attendee_id`."""
    if attendee_id is not None:
        if attendee_id not in sheet.people:
            raise NotFound("no such attendee in this event")
        chosen = [sheet.people[attendee_id]]
    else:
        listed = {m for r in sheet.rounds for t in r.tables for m in t.members}
        listed |= {m for r in sheet.rounds for m in r.sitting_out}
        listed |= set(
            session.scalars(
                select(models.Attendee.id).where(
                    models.Attendee.event_id == event.id, models.Attendee.presence != "left"
                )
            )
        )
        chosen = _by_name([sheet.people[pid] for pid in listed if pid in sheet.people])
    return [
        Schedule(person, tuple(_seat(sheet, r, person.id) for r in sheet.rounds))
        for person in chosen
    ]


@dataclass(frozen=True, slots=True)
class CardRound:
    round: SheetRound
    people: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class TableCard:
    table: str
    rounds: tuple[CardRound, ...]


def table_cards(sheet: Sheet, event: models.Event) -> list[TableCard]:
    """One card per table used by any round held or planned, in table order: who sits
    there in each round."""
    names: dict[str, None] = {}
    for round_ in sheet.rounds:
        for table in round_.tables:
            names.setdefault(table.name, None)
    order = {name: i for i, name in enumerate(event.tables)}

    def rank(name: str) -> tuple[int, int, str]:
        if name in order:
            return 0, order[name], name
        if name.isdigit():
            return 1, int(name), name
        return 2, 0, name

    cards: list[TableCard] = []
    for name in sorted(names, key=rank):
        rows: list[CardRound] = []
        for round_ in sheet.rounds:
            here = next((t for t in round_.tables if t.name == name), None)
            members = () if here is None else here.members
            rows.append(CardRound(round_, tuple(sheet.person(m) for m in members)))
        cards.append(TableCard(name, tuple(rows)))
    return cards
