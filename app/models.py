"""SQLAlchemy tables: events and their series, attendees, rounds and their groups, known pairs,
interests, and the series' memory of who met whom."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in, UTC-aware datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        # SQLite keeps no offset: store every time as UTC.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Event(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime | None]
    rounds: Mapped[int] = mapped_column(Integer)
    round_seconds: Mapped[int] = mapped_column(Integer)
    changeover_seconds: Mapped[int] = mapped_column(Integer)
    group_size: Mapped[int] = mapped_column(Integer)
    odd: Mapped[str] = mapped_column(String(10))
    # "avoid" (a penalty), "forbid" (a hard rule) or "allow".
    same_organisation: Mapped[str] = mapped_column(String(10))
    # Table names; empty: numbered.
    tables: Mapped[list[Any]] = mapped_column(JSON)
    questions: Mapped[list[Any]] = mapped_column(JSON)
    keep_apart: Mapped[list[Any]] = mapped_column(JSON, default=list)
    must_meet: Mapped[list[Any]] = mapped_column(JSON, default=list)
    auto_advance: Mapped[bool] = mapped_column(Boolean)
    seed: Mapped[int] = mapped_column(Integer)
    join_code: Mapped[str] = mapped_column(String(12), unique=True)
    organiser_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    projector_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # Bumped on every change; streams send it so clients can drop stale states.
    version: Mapped[int] = mapped_column(Integer, default=0)
    # When the event's personal data was purged; its figures are kept in `summary`.
    purged_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Rounds fixed in advance by printing the plan (people on paper follow it):
    # [{"index": n, "groups": [{"table": name, "members": [ids]}], "sitting_out": [ids]}].
    printed_plan: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # The series the event belongs to (None: a one-off), and its place in it (1, 2, ...).
    series_id: Mapped[str | None] = mapped_column(
        ForeignKey("series.id", ondelete="SET NULL"), index=True, nullable=True
    )
    series_position: Mapped[int | None] = mapped_column(Integer, nullable=True)

    attendees: Mapped[list[Attendee]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Attendee.joined_at"
    )
    round_list: Mapped[list[Round]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Round.index"
    )


class Attendee(Base):
    __tablename__ = "attendees"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    contact: Mapped[dict[str, Any]] = mapped_column(JSON)
    share: Mapped[list[Any]] = mapped_column(JSON)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "registered" (on the list, not in the room), "present", "break" or "left".
    presence: Mapped[str] = mapped_column(String(12))
    joined_at: Mapped[datetime]
    # Consented to be named (name and organisation) in the organiser's network exports.
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who they are in the series' memory, when they consented to be remembered.
    series_member_id: Mapped[str | None] = mapped_column(
        ForeignKey("series_members.id", ondelete="SET NULL"), index=True, nullable=True
    )

    event: Mapped[Event] = relationship(back_populates="attendees")
    consents: Mapped[list[Consent]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Consent.id"
    )


class Consent(Base):
    """One change of an attendee's consent (to share a contact field, to be remembered by the
    series, to be named in the network export): when, and to which text."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attendee_id: Mapped[str] = mapped_column(
        ForeignKey("attendees.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(10))
    # True: consent given; False: withdrawn.
    granted: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[datetime]


class Round(Base):
    __tablename__ = "rounds"
    # One row per (event, index): a repeated or concurrent start cannot make a second one.
    __table_args__ = (UniqueConstraint("event_id", "index", name="uq_round_event_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    # Changeover runs from started_at to talk_starts_at, the talk to ends_at.
    talk_starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # While paused: when the pause began. Resuming shifts the phase ends by its length.
    paused_at: Mapped[datetime | None]
    # Set when the round was ended (early by the organiser, or on time by the clock).
    ended_at: Mapped[datetime | None]
    sitting_out: Mapped[list[Any]] = mapped_column(JSON, default=list)

    event: Mapped[Event] = relationship(back_populates="round_list")
    groups: Mapped[list[Group]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="Group.position"
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    table: Mapped[str] = mapped_column(String(100))
    members: Mapped[list[Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    # Each member's common ground from this group (for the fairness of later rounds).
    gains: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The trio or odd-sized table of its round (odd turns are shared out fairly).
    odd: Mapped[bool] = mapped_column(Boolean, default=False)

    round: Mapped[Round] = relationship(back_populates="groups")


class KnownPair(Base):
    """Pairs who must not meet (again): "we already know each other", or met elsewhere."""

    __tablename__ = "known_pairs"
    __table_args__ = (UniqueConstraint("event_id", "first_id", "second_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    first_id: Mapped[str] = mapped_column(String(16))
    second_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class Interest(Base):
    """One attendee asked to stay in touch with another; mutual interest is a connection."""

    __tablename__ = "interests"
    __table_args__ = (UniqueConstraint("from_id", "to_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    from_id: Mapped[str] = mapped_column(ForeignKey("attendees.id", ondelete="CASCADE"))
    to_id: Mapped[str] = mapped_column(ForeignKey("attendees.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class Series(Base):
    """Recurring mixers: events that remember who met whom among people who consented."""

    __tablename__ = "series"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Earlier meetings count as met before: "never" (never again), "recent" (within the last
    # `recent_events` events) or "prefer_new" (allowed, but new faces are preferred).
    memory: Mapped[str] = mapped_column(String(12), default="never")
    recent_events: Mapped[int] = mapped_column(Integer, default=1)
    # Days after its last event ends that the memory is deleted; None: the server's setting.
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    # The key its members' series tokens are derived from (security.series_token_for): the
    # organiser can export each member's personal link for the next invitation. Kept in the
    # clear, as a key must be; the tokens themselves are stored only as hashes.
    link_secret: Mapped[str] = mapped_column(String(64))


class SeriesMember(Base):
    """Someone who asked to be remembered at the next events of a series: their personal
    series token (hashed) and the profile offered back to them, pre-filled, next time."""

    __tablename__ = "series_members"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    # The hash of their series token, derived from the series' `link_secret` and their id.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The random token issued before series tokens were derived (migration 0004): it keeps
    # working, as the derived one does.
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The event where they asked to be remembered: at any later one, they are returning.
    first_event_id: Mapped[str] = mapped_column(String(16))
    consented_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Their share (0..1) of their best possible common ground at the last event of the
    # series they took part in (None: none yet): the matcher favours a weak evening next.
    last_share: Mapped[float | None] = mapped_column(Float, default=None)


class SeriesMeeting(Base):
    """Two members of a series met at one of its events: kept once that event's personal data
    is deleted, so the matcher still knows (until the member is forgotten)."""

    __tablename__ = "series_meetings"
    __table_args__ = (UniqueConstraint("event_id", "first_id", "second_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    first_id: Mapped[str] = mapped_column(ForeignKey("series_members.id", ondelete="CASCADE"))
    second_id: Mapped[str] = mapped_column(ForeignKey("series_members.id", ondelete="CASCADE"))
