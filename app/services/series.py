"""Recurring mixers: a series of events that remembers who met whom, among people who asked.

Someone is recognised at a later event of the series only by their personal series token
(a link, or a cookie on the same phone), never by their name. The memory holds, per member,
the profile offered back to them pre-filled, and which members met at which event: derived
from the rounds while the event's personal data is there, kept in `series_meetings` when it
goes. Forgetting a member (they untick "remember me", or delete their data in any event of
the series) deletes all of it.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import models
from app.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorised
from app.schemas import (
    EventCreate,
    JoinRequest,
    NextEvent,
    QuestionSpec,
    SeriesEvent,
    SeriesRead,
    SeriesUpdate,
)
from app.security import new_id, new_token, series_token_for, token_hash
from app.services import consent
from app.services import events as event_service
from matching.model import Pair, pair
from matching.scoring import Scorer
from matching.solve import shares

SERIES_COOKIE_PREFIX = "cg_series_"
# A series meets monthly or so: its memory outlives the events' own retention by default.
DEFAULT_RETENTION_DAYS = 365


def cookie_name(series_id: str) -> str:
    """The phone's cookie that keeps someone's personal series token for one series."""
    return SERIES_COOKIE_PREFIX + series_id


# ------------------------------------------------------------------ the series and its events


def get_series(session: Session, series_id: str) -> models.Series:
    series = session.get(models.Series, series_id)
    if series is None:
        raise NotFound("no such series")
    return series


def start(*, session: Session, event: models.Event, now: datetime) -> models.Series:
    """The event's series, made now with the event as its first when it has none."""
    if event.series_id is not None:
        return get_series(session, event.series_id)
    series = models.Series(
        id=new_id(),
        name=event.name,
        memory="never",
        recent_events=1,
        retention_days=None,
        created_at=now,
        link_secret=new_token(),
    )
    session.add(series)
    session.flush()
    event.series_id = series.id
    event.series_position = 1
    session.flush()
    return series


def events_of(session: Session, series: models.Series) -> list[models.Event]:
    return list(
        session.scalars(
            select(models.Event)
            .where(models.Event.series_id == series.id)
            .order_by(models.Event.series_position, models.Event.created_at)
        )
    )


def _copy_settings(event: models.Event, data: NextEvent) -> EventCreate:
    """The settings of the next event: the same questions, rules and table names."""
    return EventCreate(
        name=data.name or event.name,
        starts_at=data.starts_at,
        rounds=event.rounds,
        round_seconds=event.round_seconds,
        changeover_seconds=event.changeover_seconds,
        group_size=event.group_size,
        odd="sit_out" if event.odd == "sit_out" else "trio",
        avoid_same_organisation=event_service.same_organisation_setting(event.same_organisation),
        tables=list(event.tables) or None,
        questions=[QuestionSpec.model_validate(q) for q in event.questions],
        auto_advance=event.auto_advance,
    )


def next_event(
    *, session: Session, event: models.Event, data: NextEvent, now: datetime
) -> tuple[models.Event, str, str, models.Series]:
    """The next event of the event's series (made now if the event was a one-off): the same
    settings, a new join code, organiser token and projector key (shown once)."""
    series = start(session=session, event=event, now=now)
    last = session.scalar(
        select(func.max(models.Event.series_position)).where(models.Event.series_id == series.id)
    )
    created, organiser_token, projector_key = event_service.create_event(
        session=session, data=_copy_settings(event, data), now=now
    )
    created.series_id = series.id
    created.series_position = (last or 0) + 1
    session.flush()
    return created, organiser_token, projector_key, series


def organiser_series(session: Session, series_id: str, token: str | None) -> models.Series:
    """The series, if `token` is the organiser token of one of its events."""
    if not token:
        raise Unauthorised("organiser token required")
    series = get_series(session, series_id)
    found = session.scalar(
        select(models.Event.id).where(
            models.Event.series_id == series.id,
            models.Event.organiser_token_hash == token_hash(token),
        )
    )
    if found is None:
        raise Forbidden("this token is not the organiser token of an event of this series")
    return series


def update_series(*, session: Session, series: models.Series, data: SeriesUpdate) -> models.Series:
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "memory", "recent_events"):
        if changes.get(field) is not None:
            setattr(series, field, changes[field])
    if "retention_days" in changes:
        series.retention_days = changes["retention_days"]
    session.flush()
    return series


# ------------------------------------------------------------------ members: joining, forgetting


def _holding(session: Session, token: str) -> models.SeriesMember | None:
    """The member whose series token this is: the derived one, or a random one issued
    before tokens were derived (still on their phone, or in a link they were sent)."""
    digest = token_hash(token)
    return session.scalar(
        select(models.SeriesMember).where(
            (models.SeriesMember.token_hash == digest)
            | (models.SeriesMember.previous_token_hash == digest)
        )
    )


def member_by_token(
    session: Session, series_id: str | None, token: str | None
) -> models.SeriesMember | None:
    """The member of this series holding `token`, or None."""
    if not token or series_id is None:
        return None
    member = _holding(session, token)
    if member is None or not hmac.compare_digest(member.series_id, series_id):
        return None
    return member


def token_of(series: models.Series, member: models.SeriesMember) -> str:
    """A member's personal series token, derived again (for the organiser's invitations)."""
    return series_token_for(series.link_secret, member.id)


def prefill(session: Session, event: models.Event, token: str | None) -> models.SeriesMember | None:
    """Who a returning person is, for their join form to be filled in for them."""
    return member_by_token(session, event.series_id, token)


@dataclass(frozen=True)
class Remembered:
    """The outcome of a join for the series: the token to hand back (new or the one given)."""

    member_id: str
    token: str


def attending(
    session: Session, *, event: models.Event, member: models.SeriesMember, attendee_id: str = ""
) -> bool:
    """Whether the member is in this event already (under another attendee than this one)."""
    found = session.scalar(
        select(models.Attendee.id).where(
            models.Attendee.event_id == event.id,
            models.Attendee.series_member_id == member.id,
            models.Attendee.id != attendee_id,
        )
    )
    return found is not None


def tie_imported(*, session: Session, attendee: models.Attendee, member_id: str) -> None:
    """A guest the organiser imported with their personal series link is that member here:
    the matcher knows whom they met, their profile edits reach the memory. Their consent was
    given when they asked to be remembered; being on a guest list adds none, so none is
    recorded here, and they are not "seen" until they take part."""
    attendee.series_member_id = member_id
    session.flush()


def check_join(
    *, session: Session, event: models.Event, data: JoinRequest, attendee_id: str = ""
) -> models.SeriesMember | None:
    """What a join asks of the series, checked before anything is written: the returning
    member its series token names (None for a newcomer)."""
    if not data.remember and data.series_token is None:
        return None
    if event.series_id is None:
        raise Invalid("remember: this event is not part of a series")
    if data.series_token is None:
        return None
    member = member_by_token(session, event.series_id, data.series_token)
    if member is None:
        raise Unauthorised("unknown or expired series token")
    if attending(session, event=event, member=member, attendee_id=attendee_id):
        raise Conflict("you have already joined this event")
    return member


def after_join(
    *,
    session: Session,
    event: models.Event,
    attendee: models.Attendee,
    data: JoinRequest,
    now: datetime,
) -> Remembered | None:
    """Record what a join asks of the series (and the "name me" consent): recognise a
    returning member by their series token, or remember someone who ticked the box."""
    if data.listed:
        attendee.listed = True
        consent.record_choice(
            attendee=attendee, field="listed", text=consent.LISTED_TEXT, granted=True, now=now
        )
    if not data.remember and data.series_token is None:
        session.flush()
        return None
    member = check_join(session=session, event=event, data=data, attendee_id=attendee.id)
    if member is not None:
        assert data.series_token is not None  # check_join found the member by it
        token = data.series_token
    else:
        assert event.series_id is not None  # check_join refused a one-off event
        series = get_series(session, event.series_id)
        member_id = new_id()
        token = series_token_for(series.link_secret, member_id)
        member = models.SeriesMember(
            id=member_id,
            series_id=series.id,
            token_hash=token_hash(token),
            name=attendee.name,
            organisation=attendee.organisation,
            answers=dict(attendee.answers),
            first_event_id=event.id,
            consented_at=now,
            last_seen_at=now,
        )
        session.add(member)
        # The member row first: the attendee's row points at it.
        session.flush()
    member.name = attendee.name
    member.organisation = attendee.organisation
    member.answers = dict(attendee.answers)
    member.last_seen_at = now
    attendee.series_member_id = member.id
    consent.record_choice(
        attendee=attendee, field="series", text=consent.REMEMBER_TEXT, granted=True, now=now
    )
    session.flush()
    return Remembered(member_id=member.id, token=token)


def remember_profile(*, session: Session, attendee: models.Attendee) -> None:
    """Keep the memory's profile in step when a remembered person edits theirs."""
    if attendee.series_member_id is None:
        return
    member = session.get(models.SeriesMember, attendee.series_member_id)
    if member is not None:
        member.name = attendee.name
        member.organisation = attendee.organisation
        member.answers = dict(attendee.answers)
        session.flush()


def member_by_series_token(session: Session, token: str) -> models.SeriesMember:
    member = _holding(session, token)
    if member is None:
        raise Unauthorised("unknown or expired series token")
    return member


def open_event(session: Session, series_id: str) -> models.Event | None:
    """The series' latest event still open to joins, if any."""
    return session.scalar(
        select(models.Event)
        .where(models.Event.series_id == series_id, models.Event.finished_at.is_(None))
        .order_by(models.Event.series_position.desc())
        .limit(1)
    )


def forget(*, session: Session, member_id: str) -> None:
    """The series forgets this member: their profile, token and meetings."""
    _forget(session, member_id)


def _forget(session: Session, member_id: str) -> None:
    session.execute(
        update(models.Attendee)
        .where(models.Attendee.series_member_id == member_id)
        .values(series_member_id=None)
        .execution_options(synchronize_session="fetch")
    )
    session.execute(
        delete(models.SeriesMeeting).where(
            (models.SeriesMeeting.first_id == member_id)
            | (models.SeriesMeeting.second_id == member_id)
        )
    )
    session.execute(delete(models.SeriesMember).where(models.SeriesMember.id == member_id))
    session.flush()


def withdraw(*, session: Session, attendee: models.Attendee, now: datetime) -> None:
    """Untick "remember me": the series forgets them; this event keeps their profile."""
    member_id = attendee.series_member_id
    if member_id is None:
        return
    consent.record_choice(
        attendee=attendee, field="series", text=consent.REMEMBER_TEXT, granted=False, now=now
    )
    _forget(session, member_id)


def set_listed(*, attendee: models.Attendee, listed: bool, now: datetime) -> None:
    if attendee.listed != listed:
        attendee.listed = listed
        consent.record_choice(
            attendee=attendee, field="listed", text=consent.LISTED_TEXT, granted=listed, now=now
        )


def forget_everywhere(*, session: Session, attendee: models.Attendee) -> None:
    """ "Delete my data" by a remembered person: the series forgets them, and their profile
    goes from its other events too (they were one person there, by their consent)."""
    member_id = attendee.series_member_id
    if member_id is None:
        return
    others = list(
        session.scalars(
            select(models.Attendee).where(
                models.Attendee.series_member_id == member_id,
                models.Attendee.id != attendee.id,
            )
        )
    )
    # Imported here: attendees imports nothing of the series, and stays the lighter module.
    from app.services import attendees as attendee_service

    for other in others:
        other_event = event_service.get_event(session, other.event_id)
        attendee_service.remove(session=session, event=other_event, attendee=other)
    _forget(session, member_id)


# ------------------------------------------------------------------ who met whom before


def _member_of(session: Session, event_ids: Sequence[str]) -> dict[str, str]:
    """Attendee id -> member id, for the remembered people of these events."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(models.Attendee.id, models.Attendee.series_member_id).where(
            models.Attendee.event_id.in_(event_ids),
            models.Attendee.series_member_id.is_not(None),
        )
    )
    return {a: m for a, m in rows if m is not None}


def _groups(session: Session, event_ids: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(event id, members) of every group of these events' rounds."""
    if not event_ids:
        return []
    rows = session.execute(
        select(models.Round.event_id, models.Group.members)
        .join(models.Group, models.Group.round_id == models.Round.id)
        .where(models.Round.event_id.in_(event_ids))
    )
    return [(e, [str(m) for m in members]) for e, members in rows]


def member_meetings(
    session: Session, series_id: str, event_ids: Sequence[str]
) -> dict[Pair, set[str]]:
    """Which members met at which of these events (by member id)."""
    met: dict[Pair, set[str]] = {}
    if not event_ids:
        return met
    for event_id, first, second in session.execute(
        select(
            models.SeriesMeeting.event_id,
            models.SeriesMeeting.first_id,
            models.SeriesMeeting.second_id,
        ).where(
            models.SeriesMeeting.series_id == series_id,
            models.SeriesMeeting.event_id.in_(event_ids),
        )
    ):
        met.setdefault(pair(first, second), set()).add(event_id)
    members = _member_of(session, event_ids)
    for event_id, people in _groups(session, event_ids):
        for a, b in combinations(people, 2):
            ma, mb = members.get(a), members.get(b)
            if ma is not None and mb is not None and ma != mb:
                met.setdefault(pair(ma, mb), set()).add(event_id)
    return met


def record_meetings(*, session: Session, event: models.Event) -> None:
    """Keep this event's meetings between members before its personal data goes."""
    if event.series_id is None:
        return
    met = member_meetings(session, event.series_id, [event.id])
    stored = {
        pair(a, b)
        for a, b in session.execute(
            select(models.SeriesMeeting.first_id, models.SeriesMeeting.second_id).where(
                models.SeriesMeeting.event_id == event.id
            )
        )
    }
    for p in met:
        if p not in stored:
            first, second = sorted(p)
            session.add(
                models.SeriesMeeting(
                    series_id=event.series_id, event_id=event.id, first_id=first, second_id=second
                )
            )
    session.flush()


def record_luck(*, session: Session, event: models.Event) -> None:
    """Keep each member's share of their best possible at this event, as the matcher counts
    it (their common ground with their table-mates against their best partners, one per
    round they took part in), for the fairness of the series' next event. Called when the
    event ends and again before its personal data goes; a member already at a later event
    of the series keeps the luck that one leaves."""
    if event.series_id is None:
        return
    # Imported here: rounds imports this module to read the memory.
    from app.services import rounds as round_service

    taking_part: Counter[str] = Counter()
    groups: list[list[str]] = []
    for round_ in round_service.all_rounds(session, event):
        for group in round_.groups:
            members = [str(m) for m in group.members]
            groups.append(members)
            taking_part.update(members)
        taking_part.update(str(m) for m in round_.sitting_out)
    if not taking_part:
        return
    attendees = list(
        session.scalars(
            select(models.Attendee)
            .where(
                models.Attendee.event_id == event.id,
                models.Attendee.id.in_(set(taking_part)),
            )
            .order_by(models.Attendee.joined_at, models.Attendee.id)
        )
    )
    member_of = {a.id: a.series_member_id for a in attendees if a.series_member_id is not None}
    later = set(
        session.scalars(
            select(models.Attendee.series_member_id)
            .join(models.Event, models.Event.id == models.Attendee.event_id)
            .where(
                models.Event.series_id == event.series_id,
                models.Event.series_position > (event.series_position or 0),
                models.Attendee.series_member_id.in_(set(member_of.values())),
            )
        )
    )
    member_of = {a: m for a, m in member_of.items() if m not in later}
    if not member_of:
        return
    room = round_service.room_for(event, attendees, round_service.known_pairs(session, event))
    found = shares(Scorer(room), groups, rounds=taking_part)
    for attendee_id, member_id in member_of.items():
        member = session.get(models.SeriesMember, member_id)
        if member is not None and attendee_id in found:
            member.last_share = round(found[attendee_id], 3)
    session.flush()


def _earlier_events(session: Session, event: models.Event) -> list[models.Event]:
    if event.series_id is None or event.series_position is None:
        return []
    return list(
        session.scalars(
            select(models.Event)
            .where(
                models.Event.series_id == event.series_id,
                models.Event.series_position < event.series_position,
            )
            .order_by(models.Event.series_position)
        )
    )


@dataclass(frozen=True)
class Memory:
    """What the matcher of one event takes from the series: pairs of its attendees who met
    at earlier events, as met before (`known`) or only to be avoided when it costs little
    (`soft`, the "prefer new faces" setting); and who here is returning."""

    known: list[Pair]
    soft: frozenset[Pair]
    returning: frozenset[str]
    # Every pair of attendees here who met at an earlier event (whatever the setting).
    earlier: frozenset[Pair]
    # Returning attendees' share of their best possible at their last event of the series
    # (see record_luck): the matcher's fairness carries it over.
    luck: Mapping[str, float] = dataclasses.field(default_factory=dict)


NO_MEMORY = Memory(known=[], soft=frozenset(), returning=frozenset(), earlier=frozenset())


def memory_for(session: Session, event: models.Event) -> Memory:
    """The series' memory as it bears on this event's attendees."""
    if event.series_id is None:
        return NO_MEMORY
    series = session.get(models.Series, event.series_id)
    if series is None:
        return NO_MEMORY
    here = {
        attendee_id: member_id
        for attendee_id, member_id in session.execute(
            select(models.Attendee.id, models.Attendee.series_member_id).where(
                models.Attendee.event_id == event.id,
                models.Attendee.series_member_id.is_not(None),
            )
        )
        if member_id is not None
    }
    if not here:
        return NO_MEMORY
    firsts: dict[str, str] = {}
    last_shares: dict[str, float] = {}
    for member_id, first_event_id, last_share in session.execute(
        select(
            models.SeriesMember.id,
            models.SeriesMember.first_event_id,
            models.SeriesMember.last_share,
        ).where(models.SeriesMember.id.in_(set(here.values())))
    ):
        firsts[member_id] = first_event_id
        if last_share is not None:
            last_shares[member_id] = float(last_share)
    returning = frozenset(a for a, m in here.items() if firsts.get(m, event.id) != event.id)
    luck = {a: last_shares[here[a]] for a in returning if here[a] in last_shares}
    earlier = _earlier_events(session, event)
    met = member_meetings(session, series.id, [e.id for e in earlier])
    if not met:
        return Memory(
            known=[], soft=frozenset(), returning=returning, earlier=frozenset(), luck=luck
        )
    recent = {e.id for e in earlier[-series.recent_events :]}
    attendee_of = {m: a for a, m in here.items()}
    everything: set[Pair] = set()
    counted: set[Pair] = set()
    for members, where in met.items():
        first, second = tuple(members)
        a, b = attendee_of.get(first), attendee_of.get(second)
        if a is None or b is None:
            continue
        p = pair(a, b)
        everything.add(p)
        if series.memory == "never" or (series.memory == "recent" and where & recent):
            counted.add(p)
    soft = frozenset(everything) if series.memory == "prefer_new" else frozenset()
    return Memory(
        known=sorted(counted, key=sorted),
        soft=soft,
        returning=returning,
        earlier=frozenset(everything),
        luck=luck,
    )


def only_new_faces(memory: Memory, groups: Iterable[Sequence[str]]) -> tuple[int, int]:
    """(returning people placed in these groups, those of them meeting only new faces)."""
    placed: set[str] = set()
    repeated: set[str] = set()
    for members in groups:
        for a, b in combinations(members, 2):
            if pair(a, b) in memory.earlier:
                repeated.update((a, b))
        placed.update(m for m in members if m in memory.returning)
    return len(placed), len(placed - repeated)


def returning_figures(session: Session, event: models.Event) -> dict[str, int] | None:
    """For the statistics: returning people, and how many met only new faces all event."""
    if event.series_id is None:
        return None
    memory = memory_for(session, event)
    groups = [members for _, members in _groups(session, [event.id])]
    met_any, only_new = only_new_faces(memory, groups)
    returning_here = len(memory.returning)
    # Someone returning who sat out every round met nobody at all: not "only new faces".
    return {"returning": returning_here, "only_new_faces": only_new if met_any else 0}


# ------------------------------------------------------------------ the series' page


def series_read(session: Session, series: models.Series) -> SeriesRead:
    from app.services import snapshot, stats

    rows: list[SeriesEvent] = []
    for event in events_of(session, series):
        figures = stats.event_stats(snapshot.load(session, event.id))
        returning = returning_figures(session, event) or {"returning": 0, "only_new_faces": 0}
        joined = session.scalar(
            select(func.count())
            .select_from(models.Attendee)
            .where(models.Attendee.event_id == event.id)
        )
        rows.append(
            SeriesEvent(
                id=event.id,
                name=event.name,
                position=event.series_position or 0,
                starts_at=event.starts_at,
                status=event_service.status(session, event),
                joined=joined or 0,
                returning=returning["returning"],
                only_new_faces=returning["only_new_faces"],
                conversations=int(figures["totals"]["conversations"]),
                mutual_connections=int(figures["totals"]["mutual_connections"]),
                purged_at=event.purged_at,
            )
        )
    members = session.scalar(
        select(func.count())
        .select_from(models.SeriesMember)
        .where(models.SeriesMember.series_id == series.id)
    )
    memory: Literal["never", "recent", "prefer_new"] = (
        "recent"
        if series.memory == "recent"
        else "prefer_new"
        if series.memory == "prefer_new"
        else "never"
    )
    return SeriesRead(
        id=series.id,
        name=series.name,
        memory=memory,
        recent_events=series.recent_events,
        retention_days=series.retention_days,
        members=members or 0,
        events=rows,
    )


# ------------------------------------------------------------------ retention


def forget_stale(
    *, session: Session, now: datetime, default_days: int = DEFAULT_RETENTION_DAYS
) -> int:
    """Forget members not seen at an event of their series for its retention period."""
    forgotten = 0
    for series in list(session.scalars(select(models.Series))):
        days = series.retention_days or default_days
        cutoff = now - timedelta(days=days)
        stale = list(
            session.scalars(
                select(models.SeriesMember.id).where(
                    models.SeriesMember.series_id == series.id,
                    models.SeriesMember.last_seen_at <= cutoff,
                )
            )
        )
        for member_id in stale:
            _forget(session, member_id)
        forgotten += len(stale)
    return forgotten
