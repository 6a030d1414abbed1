"""Request and response models of the JSON API v1: what it accepts and what it promises."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from matching.defaults import DEFAULT_QUESTIONS

# Control characters and the bidirectional overrides/isolates that can disguise text.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean_text(value: str) -> str:
    """NFKC-normalise, trim, and refuse control or bidi-override characters."""
    text = unicodedata.normalize("NFKC", value).strip()
    for char in text:
        if char in _BIDI or (unicodedata.category(char) in {"Cc", "Cf"} and char != "\u200d"):
            raise ValueError("must not contain control or bidirectional-override characters")
    return " ".join(text.split())


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


Name = Annotated[str, Field(max_length=100), AfterValidator(clean_text), AfterValidator(_non_empty)]
OptionalText = Annotated[str, Field(max_length=100), AfterValidator(clean_text)]
Answer = Annotated[
    str, Field(max_length=100), AfterValidator(clean_text), AfterValidator(_non_empty)
]
Answers = dict[Annotated[str, Field(max_length=40)], Annotated[list[Answer], Field(max_length=20)]]
ContactField = Literal["email", "phone", "url"]
AttendeeId = Annotated[str, Field(min_length=1, max_length=16)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ events


class QuestionSpec(_In):
    key: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    label: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(clean_text)]
    kind: Literal["shared", "offers", "seeks", "different"]
    weight: Annotated[float, Field(ge=0, le=10)] = 1.0
    pairs_with: str | None = None
    suggestions: Annotated[list[Answer], Field(max_length=50)] = Field(default_factory=list)
    free: bool = True


def default_questions() -> list[QuestionSpec]:
    return [
        QuestionSpec(
            key=q.key,
            label=q.label,
            kind=q.kind,
            weight=q.weight,
            pairs_with=q.pairs_with,
            suggestions=list(q.suggestions),
            free=q.free,
        )
        for q in DEFAULT_QUESTIONS
    ]


def _check_questions(questions: list[QuestionSpec]) -> list[QuestionSpec]:
    keys = [q.key for q in questions]
    if len(set(keys)) != len(keys):
        raise ValueError("question keys must be unique")
    kinds = {q.key: q.kind for q in questions}
    for q in questions:
        if q.kind == "offers" and kinds.get(q.pairs_with or "") != "seeks":
            raise ValueError(f"question {q.key!r}: an offers question must name a seeks question")
        if q.kind != "offers" and q.pairs_with is not None:
            raise ValueError(f"question {q.key!r}: only offers questions pair up")
    return questions


Questions = Annotated[
    list[QuestionSpec], Field(min_length=1, max_length=12), AfterValidator(_check_questions)
]
TableNames = Annotated[list[OptionalText], Field(min_length=1, max_length=1000)]
PairIds = Annotated[list[AttendeeId], Field(min_length=2, max_length=2)]


class EventCreate(_In):
    name: Name
    starts_at: AwareDatetime | None = None
    rounds: Annotated[int, Field(ge=1, le=50)] = 6
    round_seconds: Annotated[int, Field(ge=30, le=7200)] = 240
    changeover_seconds: Annotated[int, Field(ge=0, le=1800)] = 60
    group_size: Annotated[int, Field(ge=2, le=4)] = 2
    odd: Literal["trio", "sit_out"] = "trio"
    avoid_same_organisation: bool | Literal["strict"] = True
    # A count of numbered tables, or their names; default: one table per group, numbered.
    tables: Annotated[int, Field(ge=1, le=1000)] | TableNames | None = None
    questions: Questions = Field(default_factory=default_questions)
    auto_advance: bool = False
    # The first event of a series (its join form offers "remember me for the next mixers").
    series: bool = False


class EventUpdate(_In):
    name: Name | None = None
    starts_at: AwareDatetime | None = None
    rounds: Annotated[int, Field(ge=1, le=50)] | None = None
    round_seconds: Annotated[int, Field(ge=30, le=7200)] | None = None
    changeover_seconds: Annotated[int, Field(ge=0, le=1800)] | None = None
    group_size: Annotated[int, Field(ge=2, le=4)] | None = None
    odd: Literal["trio", "sit_out"] | None = None
    avoid_same_organisation: bool | Literal["strict"] | None = None
    tables: Annotated[int, Field(ge=1, le=1000)] | TableNames | None = None
    questions: Questions | None = None
    auto_advance: bool | None = None
    keep_apart: Annotated[list[PairIds], Field(max_length=1000)] | None = None
    must_meet: Annotated[list[PairIds], Field(max_length=1000)] | None = None


class Links(BaseModel):
    organiser: str
    join: str
    projector: str


class EventCreated(BaseModel):
    id: str
    join_code: str
    organiser_token: str
    projector_key: str
    links: Links
    # The event's series, when it is part of one.
    series_id: str | None = None


class Counts(BaseModel):
    joined: int
    present: int
    on_break: int
    left: int
    registered: int


class EventRead(BaseModel):
    id: str
    name: str
    status: Literal["waiting", "running", "finished"]
    starts_at: datetime | None
    rounds: int
    round_seconds: int
    changeover_seconds: int
    group_size: int
    odd: Literal["trio", "sit_out"]
    avoid_same_organisation: bool | Literal["strict"]
    tables: list[str]
    questions: list[QuestionSpec]
    auto_advance: bool
    keep_apart: list[list[str]]
    must_meet: list[list[str]]
    join_code: str
    current_round: int | None
    counts: Counts
    links: Links
    # When the personal data was deleted, or when it will be (retention).
    purged_at: datetime | None
    purge_due_at: datetime | None
    # The event's series (None: a one-off) and its place in it.
    series_id: str | None = None
    series_position: int | None = None


# ------------------------------------------------------------------ attendees


class Contact(_In):
    email: Annotated[str, Field(max_length=254), AfterValidator(clean_text)] | None = None
    phone: Annotated[str, Field(max_length=40), AfterValidator(clean_text)] | None = None
    url: Annotated[str, Field(max_length=300), AfterValidator(clean_text)] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and ("@" not in value or value.startswith("@") or value.endswith("@")):
            raise ValueError("not an email address")
        return value or None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http://")
        return value or None


class JoinRequest(_In):
    name: Name
    organisation: OptionalText = ""
    answers: Annotated[Answers, Field(max_length=12)] = Field(default_factory=dict)
    contact: Contact = Field(default_factory=Contact)
    share: Annotated[list[ContactField], Field(max_length=3)] = Field(default_factory=list)
    # Name me (name and organisation) in the organiser's network export.
    listed: bool = False
    # An event of a series: remember me for its next events (a `series_token` comes back).
    remember: bool = False
    # A returning person's personal series token (from the link or cookie of a past event).
    series_token: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _share_only_given(self) -> JoinRequest:
        self.share = sorted(set(self.share))
        return self


Presence = Literal["registered", "present", "break", "left"]


class WalkUp(JoinRequest):
    presence: Presence = "present"


class AttendeeUpdate(_In):
    name: Name | None = None
    organisation: OptionalText | None = None
    answers: Annotated[Answers, Field(max_length=12)] | None = None
    presence: Presence | None = None


class MeUpdate(_In):
    name: Name | None = None
    organisation: OptionalText | None = None
    answers: Annotated[Answers, Field(max_length=12)] | None = None
    contact: Contact | None = None
    share: Annotated[list[ContactField], Field(max_length=3)] | None = None
    listed: bool | None = None
    # Untick "remember me": the series forgets you (ticking it again needs a new join).
    remember: Literal[False] | None = None


class MeLinks(BaseModel):
    me: str
    # The personal series link (recognised at the series' next events), when remembered.
    series: str | None = None


class Joined(BaseModel):
    attendee_id: str
    token: str
    links: MeLinks
    # When the person is remembered by the event's series: their personal series token.
    series_token: str | None = None


class AttendeeRead(BaseModel):
    """What the organiser sees of an attendee: never their contact details."""

    id: str
    name: str
    organisation: str
    answers: dict[str, list[str]]
    presence: Presence
    joined_at: datetime
    # Their personal link, for people the organiser added (import, walk-up): derivable
    # from the organiser token. None for people who joined on their own phone.
    link: str | None = None


class PresenceRequest(_In):
    state: Literal["present", "break", "left"]


class ReportRequest(_In):
    kind: Literal["partner_absent", "already_know"]
    # Which table-mate, at a table of three or more.
    attendee_id: AttendeeId | None = None


class InterestRequest(_In):
    attendee_id: AttendeeId
    interested: bool = True


# ------------------------------------------------------------------ rounds and clock


class RoundStart(_In):
    expected_index: Annotated[int, Field(ge=1, le=50)]


class ClockRequest(_In):
    action: Literal["pause", "resume", "extend", "end_round"]
    seconds: Annotated[int, Field(ge=1, le=3600)] = 60


Phase = Literal["changeover", "talk", "paused", "ended"]


class Member(BaseModel):
    attendee_id: str
    name: str
    organisation: str


class GroupRead(BaseModel):
    table: str
    members: list[Member]
    score: float
    common_ground: list[str]
    repeats: int


class Clock(BaseModel):
    index: int
    of: int
    phase: Phase
    # While paused: the phase that was running and the seconds it had left.
    paused_phase: Literal["changeover", "talk"] | None
    remaining_seconds: float | None
    started_at: datetime
    talk_starts_at: datetime
    ends_at: datetime
    phase_ends_at: datetime | None
    server_time: datetime


class RoundRead(BaseModel):
    index: int
    clock: Clock
    groups: list[GroupRead]
    sitting_out: list[Member]


class Quality(BaseModel):
    groups: int
    mean_common_ground: float
    groups_without_common_ground: int
    repeats: int
    odd_group: list[Member]
    sitting_out: list[Member]
    # Fairness once this round has met, counting the rounds so far: the lowest share of
    # their best possible common ground among people with common ground to find (1.0 when
    # nobody has any), who has it, and the most meetings with nothing in common anyone has
    # had beyond those their own answers force.
    least_share: float
    least_lucky: Member | None
    most_empty: int
    # In an event of a series: people here who were at an earlier event of it (and consented
    # to be remembered), and how many of them meet only new faces in this round.
    returning: int = 0
    returning_only_new_faces: int = 0


class Preview(BaseModel):
    index: int
    groups: list[GroupRead]
    quality: Quality


# ------------------------------------------------------------------ the attendee's own view


class Partner(BaseModel):
    attendee_id: str
    name: str
    organisation: str
    common_ground: list[str]


class MyRound(BaseModel):
    index: int
    of: int
    phase: Phase
    phase_ends_at: datetime | None
    remaining_seconds: float | None
    server_time: datetime
    table: str | None
    partners: list[Partner]
    sitting_out: bool
    # When the round ends (None while paused or ended), and when the next round starts by
    # itself (auto-advance) — None when the organiser starts it or this is the last round.
    ends_at: datetime | None = None
    next_starts_at: datetime | None = None


class Met(BaseModel):
    attendee_id: str
    name: str
    organisation: str
    round: int
    table: str
    common_ground: list[str]
    interested: bool


class Connection(BaseModel):
    attendee_id: str
    name: str
    organisation: str
    contact: Contact


class MyEvent(BaseModel):
    id: str
    name: str
    status: Literal["waiting", "running", "finished"]
    rounds: int
    joined: int
    present: int


class MeProfile(BaseModel):
    id: str
    name: str
    organisation: str
    answers: dict[str, list[str]]
    contact: Contact
    share: list[ContactField]
    presence: Presence
    # Named in the organiser's network export; remembered by the event's series.
    listed: bool = False
    remembered: bool = False


class MeRead(BaseModel):
    attendee: MeProfile
    event: MyEvent
    questions: list[QuestionSpec]
    round: MyRound | None
    # The next round's table and partners, once it has been drawn (during the changeover).
    next_round: MyRound | None
    met: list[Met]
    connections: list[Connection]
    server_time: datetime


class ConsentRecord(BaseModel):
    """Consent to share one contact field (or to be remembered by the series, or named in the
    network export) was given (or withdrawn) at this time, to this text."""

    field: ContactField | Literal["series", "listed"]
    granted: bool
    text: str
    recorded_at: datetime


class MyData(BaseModel):
    """Everything the service holds about one attendee (their data export)."""

    exported_at: datetime
    event: MyEvent
    profile: MeProfile
    joined_at: datetime
    consents: list[ConsentRecord]
    met: list[Met]
    connections: list[Connection]
    # When this event's personal data will be deleted (retention), if it is known yet.
    deleted_after: datetime | None


# ------------------------------------------------------------------ statistics


class Figures(BaseModel):
    conversations: int
    mutual_connections: int
    pairs_with_common_ground: int
    # pairs_with_common_ground / conversations (0 when there were none).
    share_with_common_ground: float


class RoundFigures(Figures):
    index: int


class ReturningFigures(BaseModel):
    """People remembered from an earlier event of the series, and how many of them met only
    people they had not met at the series' earlier events."""

    returning: int
    only_new_faces: int


class NetworkFigures(BaseModel):
    """The room's network after the event (computed with networkx)."""

    people: int
    meetings: int
    mutual_connections: int
    # How many organisations other than their own each person met, on average and at most.
    organisations_reached_mean: float
    organisations_reached_max: int
    # Pairs of organisations linked by at least one meeting, and meetings that are bridges
    # (the only path between their two sides) across organisations.
    organisation_pairs_linked: int
    bridges_between_organisations: int
    # Mutual connections between people of different organisations / all mutual connections.
    share_of_connections_across_organisations: float


class EventStats(BaseModel):
    rounds: list[RoundFigures]
    totals: Figures
    # Set once the personal data is deleted: the figures are those kept at that time.
    purged_at: datetime | None
    returning: ReturningFigures | None = None
    network: NetworkFigures | None = None


class Purged(BaseModel):
    purged_at: datetime
    attendees_removed: int


# ------------------------------------------------------------------ projector


class DisplayRow(BaseModel):
    name: str
    table: str | None
    partners: list[str]


class DisplayTotals(BaseModel):
    conversations: int
    connections: int


class DisplayRead(BaseModel):
    event_id: str
    name: str
    status: Literal["waiting", "running", "finished"]
    joined: int
    join_code: str
    join_url: str
    round: Clock | None
    rows: list[DisplayRow]
    totals: DisplayTotals
    server_time: datetime


class LiveLoad(BaseModel):
    """Live phones on this server process, and the room its open-file limit leaves."""

    # This event's phones with a live stream.
    phones: int
    # Every event's, on this server process.
    phones_on_server: int
    # How many phones can stream at once here; more poll every few seconds instead.
    capacity: int
    # Phones are refused a live stream (they poll instead), or soon will be.
    near_limit: bool


class ConsoleState(BaseModel):
    event: EventRead
    attendees: list[AttendeeRead]
    round: RoundRead | None
    server_time: datetime
    # None where the server does not count (no live streams, as in a test client).
    live: LiveLoad | None = None


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


class ErrorDetail(BaseModel):
    detail: str | list[dict[str, object]]


# ------------------------------------------------------------------ exports


class ExportPerson(BaseModel):
    id: str
    name: str
    organisation: str


class ExportContact(BaseModel):
    email: str | None = None
    phone: str | None = None
    url: str | None = None


class ExportConnection(ExportPerson):
    contact: ExportContact


class Meeting(BaseModel):
    round: int
    table: str
    people: list[ExportPerson]
    common_ground: list[str]
    asked_to_stay_in_touch: list[bool]
    connection: bool


class DirectoryEntry(ExportPerson):
    connections: list[ExportConnection]


class ExportEvent(BaseModel):
    id: str
    name: str


class ConnectionsExport(BaseModel):
    event: ExportEvent
    meetings: list[Meeting]
    people: list[DirectoryEntry]


# ------------------------------------------------------------------ guest-list import


class ImportedAttendee(BaseModel):
    attendee_id: str
    name: str
    token: str
    link: str


class ImportResult(BaseModel):
    columns: list[str]
    # What each column was read as: name, first_name, last_name, email, organisation,
    # phone, url, answers:<question key>, or ignore.
    mapping: dict[str, str]
    rows: int
    dry_run: bool
    attendees: list[ImportedAttendee]


# ------------------------------------------------------------------ personal links export


class PersonalLink(BaseModel):
    id: str
    name: str
    organisation: str
    # Only for people the organiser added: someone who joined on their own phone gave
    # their contact details to the attendees they choose, not to the organiser.
    email: str | None
    presence: Presence
    # None: they joined on their own phone, and only they hold their link.
    link: str | None
    joined_on_own_phone: bool


class PersonalLinksExport(BaseModel):
    event: ExportEvent
    people: list[PersonalLink]


# ------------------------------------------------------------------ the printed plan


class PlannedGroup(BaseModel):
    table: str
    members: list[str]


class PlannedRound(BaseModel):
    index: int
    groups: list[PlannedGroup]
    sitting_out: list[str]


class PrintedPlan(BaseModel):
    """The rounds not yet drawn, fixed in advance for printing (attendee ids by table);
    live rounds keep these groups and tables for everyone who is there."""

    rounds: list[PlannedRound]


# ------------------------------------------------------------------ series


Memory = Literal["never", "recent", "prefer_new"]


class SeriesUpdate(_In):
    name: Name | None = None
    # Earlier meetings of the series: never again, not within the last `recent_events`
    # events, or allowed but new faces preferred.
    memory: Memory | None = None
    recent_events: Annotated[int, Field(ge=1, le=50)] | None = None
    # Days after its last event that the series' memory is deleted (None: server default).
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class NextEvent(_In):
    """Optional changes for the next event of a series; everything else is copied."""

    name: Name | None = None
    starts_at: AwareDatetime | None = None


class NextEventCreated(EventCreated):
    series_id: str


class SeriesEvent(BaseModel):
    id: str
    name: str
    position: int
    starts_at: datetime | None
    status: Literal["waiting", "running", "finished"]
    joined: int
    returning: int
    only_new_faces: int
    conversations: int
    mutual_connections: int
    purged_at: datetime | None


class SeriesRead(BaseModel):
    id: str
    name: str
    memory: Memory
    recent_events: int
    retention_days: int | None
    # People the series remembers now.
    members: int
    events: list[SeriesEvent]
