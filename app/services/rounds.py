"""Rounds: drawing them with the matcher, the round clock, repairs, auto-advance."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import models
from app.errors import Conflict, Invalid
from app.services import series as series_service
from app.services.events import mark_changed
from matching.model import (
    Attendee,
    Group,
    History,
    Pair,
    Question,
    Reason,
    Room,
    Round,
    Rules,
    pair,
    same_organisation_rule,
)
from matching.plan import complete_round
from matching.scoring import Scorer
from matching.solve import RoundOutcome, repair, solve_round

Phase = Literal["changeover", "talk", "paused", "ended"]


# ------------------------------------------------------------------ the matcher's view


def room_for(
    event: models.Event, attendees: Sequence[models.Attendee], known: Iterable[Pair]
) -> Room:
    """The matcher's input for this event: its questions, these people, its rules."""
    questions = tuple(
        Question(
            key=q["key"],
            label=q["label"],
            kind=q["kind"],
            weight=float(q.get("weight", 1.0)),
            pairs_with=q.get("pairs_with"),
        )
        for q in event.questions
    )
    people = tuple(
        Attendee(
            id=a.id,
            name=a.name,
            organisation=a.organisation,
            answers={k: tuple(v) for k, v in (a.answers or {}).items()},
        )
        for a in attendees
    )
    present = {a.id for a in attendees}

    def pairs(rows: Iterable[Sequence[str]]) -> frozenset[Pair]:
        return frozenset(pair(a, b) for a, b in rows if a in present and b in present)

    rules = Rules(
        group_size=event.group_size,
        odd="sit_out" if event.odd == "sit_out" else "trio",
        same_organisation=same_organisation_rule(event.same_organisation),
        met_before=frozenset(p for p in known if p <= present),
        keep_apart=pairs(event.keep_apart),
        must_meet=pairs(event.must_meet),
        tables=tuple(event.tables),
    )
    return Room(questions=questions, attendees=people, rules=rules)


def known_pairs(
    session: Session, event: models.Event, memory: series_service.Memory | None = None
) -> list[Pair]:
    """Pairs who met before: "we already know each other", and (in a series) remembered
    people who met at its earlier events, as its memory setting counts them (`memory`, when
    the caller has it already: it costs a few queries)."""
    rows = session.execute(
        select(models.KnownPair.first_id, models.KnownPair.second_id).where(
            models.KnownPair.event_id == event.id
        )
    )
    if memory is None:
        memory = series_service.memory_for(session, event)
    return [pair(a, b) for a, b in rows] + memory.known


def history_for(
    rounds: Iterable[models.Round], known: Iterable[Pair], luck: Mapping[str, float] | None = None
) -> History:
    """What earlier rounds left: who met whom, each person's common ground, odd turns; and
    (in a series) returning people's `luck` at their last event, which fair rounds favour."""
    history = History(met=dict.fromkeys(known, 1), luck=dict(luck or {}))
    for round_ in rounds:
        for group in round_.groups:
            members = list(group.members)
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    p = pair(a, b)
                    history.met[p] = history.met.get(p, 0) + 1
            for person, gain in (group.gains or {}).items():
                history.totals[person] = history.totals.get(person, 0.0) + float(gain)
            if group.odd:
                for person in members:
                    history.odd_turns[person] = history.odd_turns.get(person, 0) + 1
        for person in round_.sitting_out:
            history.odd_turns[person] = history.odd_turns.get(person, 0) + 1
    return history


def all_rounds(session: Session, event: models.Event) -> list[models.Round]:
    return list(
        session.scalars(
            select(models.Round)
            .where(models.Round.event_id == event.id)
            .order_by(models.Round.index)
        )
    )


def current_round(session: Session, event: models.Event) -> models.Round | None:
    return session.scalar(
        select(models.Round)
        .where(models.Round.event_id == event.id)
        .order_by(models.Round.index.desc())
        .limit(1)
    )


def _present(session: Session, event: models.Event) -> list[models.Attendee]:
    return list(
        session.scalars(
            select(models.Attendee)
            .where(models.Attendee.event_id == event.id, models.Attendee.presence == "present")
            .order_by(models.Attendee.joined_at, models.Attendee.id)
        )
    )


@dataclass(frozen=True)
class Draw:
    """A round the matcher proposes, not yet saved."""

    index: int
    outcome: RoundOutcome
    room: Room
    # The series' memory as it bore on this draw (read once: the preview reports from it).
    memory: series_service.Memory


def draw(session: Session, event: models.Event, *, index: int) -> Draw:
    """Run the matcher for round `index` over the people present now.

    When the printed plan holds this round, people on paper keep their table and partners:
    a planned group stays as printed unless one of its members is missing or two of them
    turned out to know each other (or met in a live round the plan did not foresee); only
    the others are placed by the matcher, at the tables left free.
    """
    present = _present(session, event)
    if len(present) < 2:
        raise Conflict(f"at least 2 people must be present to draw a round ({len(present)} are)")
    memory = series_service.memory_for(session, event)
    known = known_pairs(session, event, memory)
    room = room_for(event, present, known)
    held = all_rounds(session, event)
    history = history_for(held, known, memory.luck)
    ids = [a.id for a in present]
    planned = _planned_groups(event, index)
    if planned is None:
        scorer = Scorer(room)
        outcome = solve_round(
            scorer,
            present=ids,
            history=history,
            index=index,
            seed=event.seed,
            points=_prefer_new_faces(scorer, ids, memory),
        )
    else:
        scorer = Scorer(room)
        broken = set(known) | room.rules.keep_apart | _unforeseen_meetings(event, held, index)
        here = set(ids)
        kept = [
            (table, members)
            for table, members in planned
            if set(members) <= here
            and not any(p in broken for p in _pairs_of(members))
            and not _forbidden_colleagues(scorer, members)
        ]
        outcome = complete_round(
            scorer, kept=kept, present=ids, history=history, index=index, seed=event.seed
        )
    return Draw(index=index, outcome=outcome, room=room, memory=memory)


def _prefer_new_faces(
    scorer: Scorer, ids: Sequence[str], memory: series_service.Memory
) -> np.ndarray | None:
    """A series that prefers new faces: pairs who met at its earlier events count half their
    common ground (None, the matcher's own points, when there are none)."""
    if not memory.soft:
        return None
    idx = np.array([scorer.index[i] for i in ids], dtype=np.int64)
    points = scorer.points(idx, idx)
    position = {person: i for i, person in enumerate(ids)}
    for p in memory.soft:
        a, b = (position.get(x, -1) for x in p)
        if a >= 0 and b >= 0:
            points[a, b] *= 0.5
            points[b, a] *= 0.5
    return points


def _planned_groups(event: models.Event, index: int) -> list[tuple[str, list[str]]] | None:
    """Round `index` of the printed plan as (table, members), or None if it is not planned."""
    for planned in event.printed_plan or ():
        if planned["index"] == index:
            return [(str(g["table"]), [str(m) for m in g["members"]]) for g in planned["groups"]]
    return None


def _forbidden_colleagues(scorer: Scorer, members: Sequence[str]) -> bool:
    """Whether the group seats colleagues although the event forbids it (the setting or an
    organisation may have changed since the plan was printed)."""
    if scorer.room.rules.same_organisation != "forbid":
        return False
    idx = np.array([scorer.index[m] for m in members], dtype=np.int64)
    same = scorer.same_organisation(idx, idx)
    np.fill_diagonal(same, False)
    return bool(same.any())


def _pairs_of(members: Sequence[str]) -> Iterable[Pair]:
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            yield pair(a, b)


def _unforeseen_meetings(
    event: models.Event, held: Sequence[models.Round], index: int
) -> set[Pair]:
    """Pairs who met in live rounds before `index` more often than the printed plan foresaw
    (live rounds that did not follow it): keeping them together would be a repeat."""
    plan = {r["index"]: r for r in event.printed_plan or ()}
    first = min(plan, default=index)
    expected = _pair_counts(
        g.members for r in held if r.index < first for g in r.groups
    ) + _pair_counts(g["members"] for i, r in plan.items() if i < index for g in r["groups"])
    actual = _pair_counts(g.members for r in held if r.index < index for g in r.groups)
    return {p for p, count in actual.items() if count > expected[p]}


def _pair_counts(groups: Iterable[Sequence[str]]) -> Counter[Pair]:
    """How often each pair sat together in these groups."""
    return Counter(p for members in groups for p in _pairs_of(members))


def _next_index(session: Session, event: models.Event) -> int:
    last = current_round(session, event)
    return 1 if last is None else last.index + 1


def preview(session: Session, event: models.Event) -> Draw:
    index = _next_index(session, event)
    if event.finished_at is not None or index > event.rounds:
        raise Conflict(f"all {event.rounds} rounds have been drawn")
    return draw(session, event, index=index)


def start_next(
    *, session: Session, event: models.Event, now: datetime, expected_index: int
) -> models.Round:
    """Start round `expected_index`: 409 unless it is the next one. Ends the current round."""
    if event.finished_at is not None:
        raise Conflict("this event has finished")
    next_index = _next_index(session, event)
    if expected_index != next_index:
        raise Conflict(
            f"round {expected_index} is not the next round; the next round is {next_index}"
        )
    if expected_index > event.rounds:
        raise Conflict(f"all {event.rounds} rounds have been held")
    drawn = draw(session, event, index=expected_index)
    last = current_round(session, event)
    if last is not None and last.ended_at is None:
        last.ended_at = min(now, last.ends_at) if last.paused_at is None else last.paused_at
    talk = now + timedelta(seconds=event.changeover_seconds)
    round_ = models.Round(
        event_id=event.id,
        index=expected_index,
        started_at=now,
        talk_starts_at=talk,
        ends_at=talk + timedelta(seconds=event.round_seconds),
        paused_at=None,
        ended_at=None,
        sitting_out=list(drawn.outcome.round.sitting_out),
    )
    round_.groups = _group_rows(drawn.outcome.round.groups, drawn.outcome, event)
    session.add(round_)
    try:
        session.flush()
    except IntegrityError:
        # Another request started this round first (PostgreSQL; SQLite serialises writers).
        raise Conflict(f"round {expected_index} has already started") from None
    mark_changed(session, event)
    return round_


def _reason_json(reason: Reason) -> dict[str, object]:
    return {
        "kind": reason.kind,
        "label": reason.label,
        "answer": reason.answer,
        "points": round(reason.points, 3),
        "giver": reason.giver,
        "receiver": reason.receiver,
    }


def reasons_from_json(rows: Iterable[dict[str, object]]) -> list[Reason]:
    return [
        Reason(
            kind=row["kind"],  # type: ignore[arg-type]
            label=str(row["label"]),
            answer=str(row["answer"]),
            points=float(row["points"]),  # type: ignore[arg-type]
            giver=row.get("giver"),  # type: ignore[arg-type]
            receiver=row.get("receiver"),  # type: ignore[arg-type]
        )
        for row in rows
    ]


def _group_rows(
    groups: Sequence[Group], outcome: RoundOutcome, event: models.Event
) -> list[models.Group]:
    odd_ones = set(outcome.odd_ones)
    return [
        _group_row(
            position,
            group,
            gains={m: outcome.gains.get(m, 0.0) for m in group.members},
            odd=len(group.members) != event.group_size or bool(odd_ones & set(group.members)),
        )
        for position, group in enumerate(groups)
    ]


def _group_row(position: int, group: Group, *, gains: dict[str, float], odd: bool) -> models.Group:
    return models.Group(
        position=position,
        table=group.table,
        members=list(group.members),
        score=group.score,
        reasons=[_reason_json(r) for r in group.reasons],
        repeats=group.repeats,
        gains={m: round(g, 3) for m, g in gains.items()},
        odd=odd,
    )


# ------------------------------------------------------------------ the round clock


@dataclass(frozen=True)
class ClockState:
    phase: Phase
    phase_ends_at: datetime | None
    paused_phase: Literal["changeover", "talk"] | None
    remaining_seconds: float | None


def clock_state(round_: models.Round, now: datetime) -> ClockState:
    if round_.ended_at is not None:
        return ClockState("ended", None, None, None)
    if round_.paused_at is not None:
        at = round_.paused_at
        paused: Literal["changeover", "talk"] = (
            "changeover" if at < round_.talk_starts_at else "talk"
        )
        end = round_.talk_starts_at if paused == "changeover" else round_.ends_at
        return ClockState("paused", None, paused, max((end - at).total_seconds(), 0.0))
    if now < round_.talk_starts_at:
        return ClockState(
            "changeover",
            round_.talk_starts_at,
            None,
            (round_.talk_starts_at - now).total_seconds(),
        )
    if now < round_.ends_at:
        return ClockState("talk", round_.ends_at, None, (round_.ends_at - now).total_seconds())
    return ClockState("ended", None, None, None)


def clock_action(
    *,
    session: Session,
    event: models.Event,
    action: Literal["pause", "resume", "extend", "end_round"],
    seconds: int,
    now: datetime,
) -> models.Round:
    round_ = current_round(session, event)
    if round_ is None or clock_state(round_, now).phase == "ended":
        raise Conflict("no round is running")
    if action == "pause":
        if round_.paused_at is not None:
            raise Conflict("the round is already paused")
        round_.paused_at = now
    elif action == "resume":
        if round_.paused_at is None:
            raise Conflict("the round is not paused")
        gap = now - round_.paused_at
        if round_.paused_at < round_.talk_starts_at:
            round_.talk_starts_at += gap
        round_.ends_at += gap
        round_.paused_at = None
    elif action == "extend":
        extra = timedelta(seconds=seconds)
        at = round_.paused_at or now
        if at < round_.talk_starts_at:
            round_.talk_starts_at += extra
        round_.ends_at += extra
    else:
        _end(event, round_, at=round_.paused_at or now, now=now)
    mark_changed(session, event)
    session.flush()
    if action == "end_round" and event.finished_at is not None:
        # The last round ended: the event with it.
        series_service.record_luck(session=session, event=event)
    return round_


def _end(event: models.Event, round_: models.Round, *, at: datetime, now: datetime) -> None:
    round_.ended_at = min(at, round_.ends_at)
    round_.paused_at = None
    if round_.index >= event.rounds:
        event.finished_at = now


def finish(*, session: Session, event: models.Event, now: datetime) -> None:
    """End the event now (early, or after its last round): the current round ends too."""
    if event.finished_at is not None:
        raise Conflict("this event has already finished")
    round_ = current_round(session, event)
    if round_ is not None and round_.ended_at is None:
        round_.ended_at = min(round_.paused_at or now, round_.ends_at)
        round_.paused_at = None
    event.finished_at = now
    mark_changed(session, event)
    session.flush()
    series_service.record_luck(session=session, event=event)


def advance_if_due(*, session: Session, event: models.Event, now: datetime) -> bool:
    """End a round whose time is up; with auto-advance, start the next. True if changed."""
    round_ = current_round(session, event)
    if round_ is None or round_.ended_at is not None or round_.paused_at is not None:
        return False
    if now < round_.ends_at:
        return False
    _end(event, round_, at=round_.ends_at, now=now)
    mark_changed(session, event)
    session.flush()
    if event.finished_at is not None:
        series_service.record_luck(session=session, event=event)
    if event.auto_advance and event.finished_at is None:
        # Too few people present: the round stays ended and the organiser starts the next.
        with contextlib.suppress(Conflict), session.begin_nested():
            start_next(session=session, event=event, now=now, expected_index=round_.index + 1)
    return True


def due_events(session: Session, now: datetime) -> list[str]:
    """Events with a running, unpaused round whose time is up."""
    return list(
        session.scalars(
            select(models.Round.event_id).where(
                models.Round.ended_at.is_(None),
                models.Round.paused_at.is_(None),
                models.Round.ends_at <= now,
            )
        )
    )


# ------------------------------------------------------------------ repairs


def live_round(round_: models.Round) -> Round:
    return Round(
        index=round_.index,
        groups=tuple(
            Group(
                table=g.table,
                members=tuple(g.members),
                score=g.score,
                reasons=tuple(reasons_from_json(g.reasons)),
                repeats=g.repeats,
            )
            for g in round_.groups
        ),
        sitting_out=tuple(round_.sitting_out),
    )


def report(
    *,
    session: Session,
    event: models.Event,
    attendee: models.Attendee,
    kind: Literal["partner_absent", "already_know"],
    partner_id: str | None,
    now: datetime,
) -> models.Round:
    """Re-place the people stranded by an absent partner or a pair who already know each
    other; nobody else moves. "Already know" is remembered for later rounds."""
    round_ = current_round(session, event)
    if round_ is None or clock_state(round_, now).phase == "ended":
        raise Conflict("no round is running")
    group = next((g for g in round_.groups if attendee.id in g.members), None)
    if group is None:
        raise Conflict("you are not at a table this round")
    others = [m for m in group.members if m != attendee.id]
    absent: set[str] = set()
    know: Pair | None = None
    if kind == "partner_absent":
        absent = set(others) if partner_id is None else {partner_id}
        if not absent <= set(others):
            raise Invalid("attendee_id: not at your table")
        for person in absent:
            away = session.get(models.Attendee, person)
            if away is not None and away.presence == "present":
                # Skipped from later rounds until they say "I'm here".
                away.presence = "break"
    else:
        if partner_id is None:
            if len(others) != 1:
                raise Invalid("attendee_id: say which table-mate you already know")
            partner_id = others[0]
        if partner_id not in others:
            raise Invalid("attendee_id: not at your table")
        know = pair(attendee.id, partner_id)
        first, second = sorted(know)
        exists = session.scalar(
            select(models.KnownPair.id).where(
                models.KnownPair.event_id == event.id,
                models.KnownPair.first_id == first,
                models.KnownPair.second_id == second,
            )
        )
        if exists is None:
            session.add(
                models.KnownPair(
                    event_id=event.id, first_id=first, second_id=second, created_at=now
                )
            )
    everyone = list(
        session.scalars(select(models.Attendee).where(models.Attendee.event_id == event.id))
    )
    in_round = {m for g in round_.groups for m in g.members} | set(round_.sitting_out)
    people = [a for a in everyone if a.id in in_round]
    known = known_pairs(session, event)
    earlier = [r for r in all_rounds(session, event) if r.index < round_.index]
    history = history_for(earlier, known)
    scorer = Scorer(room_for(event, people, known))
    repaired = repair(scorer, live_round(round_), history=history, absent=absent, already_know=know)
    _replace_groups(session, event, round_, repaired, scorer)
    mark_changed(session, event)
    session.flush()
    return round_


def _replace_groups(
    session: Session, event: models.Event, round_: models.Round, repaired: Round, scorer: Scorer
) -> None:
    before = {tuple(g.members): g for g in round_.groups}
    rows: list[models.Group] = []
    for position, group in enumerate(repaired.groups):
        old = before.get(group.members)
        if old is not None:
            old.position = position
            rows.append(old)
            continue
        idx = np.array([scorer.index[m] for m in group.members], dtype=np.int64)
        points = scorer.points(idx, idx)
        np.fill_diagonal(points, 0.0)
        gains = {m: float(row.sum()) for m, row in zip(group.members, points, strict=True)}
        rows.append(
            _group_row(position, group, gains=gains, odd=len(group.members) != event.group_size)
        )
    for group_row in round_.groups:
        if group_row not in rows:
            session.delete(group_row)
    round_.groups = rows
    round_.sitting_out = list(repaired.sitting_out)
