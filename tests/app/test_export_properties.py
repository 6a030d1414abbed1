"""Property tests of the exports: contacts travel only along mutual connections, only as
consented at export time; no CSV cell runs as a formula; CSV, JSON and vCards round-trip.

The expected exports are built here from what each example set up through the API, never
by calling the export code.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import hypothesis
import pytest
import vobject
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import attendees as attendee_service
from app.services import events as event_service
from app.services.views import GONE
from tests.app.conftest import EventHandle, Person, create_event, start_round

FIELDS = ("email", "phone", "url")
# What a spreadsheet runs as a formula when a cell starts with it (the list).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = [
    "round",
    "table",
    "person_a",
    "organisation_a",
    "person_b",
    "organisation_b",
    "common_ground",
    "a_asked_to_stay_in_touch",
    "b_asked_to_stay_in_touch",
    "connection",
    "a_email",
    "a_phone",
    "a_url",
    "b_email",
    "b_phone",
    "b_url",
]

# Characters the API stores as given (NFKC-stable, no controls), including the ones that
# trouble CSV and vCard writers. "~" is kept out: it delimits the markers below.
WORD = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "éüøñßÅçłŁœÆ日本語🎉,;:\"'\\=+-@()/.!?&%#"
)
# Leading characters: formula triggers, and whitespace controls the API trims away.
LEADING = ("", "", "=", "+", "-", "@", "'", "\t", "\r", "\n", " ")


def marker(index: int, kind: str) -> str:
    """Text unique to one person's name or contact field, so raw searches mean something."""
    return f"~{kind}{index}~"


def spreadsheet_text(value: str) -> str:
    """The cell a value must become: a leading formula trigger is quoted away."""
    return "'" + value if value.startswith(TRIGGERS) else value


def unfold(vcard: str) -> str:
    """vCard lines are folded at 75 octets; a marker may straddle a fold."""
    return re.sub(r"\r?\n[ \t]", "", vcard)


@st.composite
def display_text(draw: st.DrawFn, *, max_words: int = 3) -> tuple[str, str]:
    """(what is sent, what the API stores): leading whitespace controls are trimmed."""
    words = draw(st.lists(st.text(WORD, min_size=1, max_size=8), min_size=1, max_size=max_words))
    core = draw(st.sampled_from(LEADING)) + " ".join(words)
    lead = draw(st.sampled_from(("", "\t", "\r", "\n", " ")))
    return lead + core, core.strip()


@dataclass
class Spec:
    """One attendee as generated: what is sent and what the API should store."""

    index: int
    name_sent: str
    name: str
    organisation_sent: str
    organisation: str
    answers: dict[str, list[str]]
    contact_sent: dict[str, str]
    contact: dict[str, str]
    share: set[str]


ANSWERS = ("jazz", "=cmd|' /C calc'!A0", "+1", "-x", "@SUM(1)", "chess, go", "Café")


@st.composite
def attendee(draw: st.DrawFn, index: int) -> Spec:
    name_sent, name = draw(display_text())
    name_sent += marker(index, "n")
    name += marker(index, "n")
    organisation_sent, organisation = draw(st.just(("", "")) | display_text(max_words=2))
    contact: dict[str, str] = {}
    if draw(st.booleans()):
        local = draw(st.text(WORD.replace("@", ""), min_size=1, max_size=10))
        domain = draw(st.text("abcdefghijklmnopqrstuvwxyzé.-", min_size=1, max_size=8))
        start = draw(st.sampled_from(("", "=", "+", "-", "\t")))
        contact["email"] = f"{start}{local}{marker(index, 'e')}@{domain}.example"
    if draw(st.booleans()):
        start = draw(st.sampled_from(("", "+", "-", "=", "@", "(0)")))
        digits = draw(
            st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=4)
        )
        contact["phone"] = f"{start}{' '.join(digits)}{marker(index, 'p')}"
    if draw(st.booleans()):
        scheme = draw(st.sampled_from(("https://", "http://", "HTTPS://")))
        path = draw(st.text(WORD.replace("\\", ""), max_size=20))
        contact["url"] = f"{scheme}example.org/{path}{marker(index, 'u')}"
    share = draw(st.sets(st.sampled_from(FIELDS)))  # may name fields not given
    answers = {
        key: draw(st.lists(st.sampled_from(ANSWERS), unique=True, max_size=2))
        for key in ("likes", "offers", "seeks")
    }
    return Spec(
        index=index,
        name_sent=name_sent,
        name=name,
        organisation_sent=organisation_sent,
        organisation=organisation,
        answers={k: v for k, v in answers.items() if v},
        contact_sent=contact,
        # The API trims the tab an email may start with.
        contact={k: v.lstrip("\t") for k, v in contact.items()},
        share=share,
    )


Choice = Literal["none", "first", "second", "both"]


@dataclass
class EventSpec:
    """An event and everything its people will do, drawn up front: who meets whom is only
    known once the rounds are drawn, and hypothesis needs the same draws on every replay."""

    seed: int
    name: str
    label: str
    tables: list[str]
    rounds: int
    people: list[Spec]
    # For each pair of people (by index, lower first), who asks to stay in touch should
    # they meet; then interests withdrawn again, consent changes, and who leaves.
    interest: dict[tuple[int, int], Choice]
    withdrawn: list[tuple[int, int]]
    shares: list[set[str] | None]
    leaving: list[int]


@st.composite
def events(draw: st.DrawFn) -> EventSpec:
    count = draw(st.integers(min_value=2, max_value=8))
    indices = st.integers(min_value=0, max_value=count - 1)
    others = st.integers(min_value=1, max_value=count - 1)

    def pair(drawn: tuple[int, int]) -> tuple[int, int]:
        return drawn[0], (drawn[0] + drawn[1]) % count

    choices: st.SearchStrategy[Choice] = st.sampled_from(("none", "first", "second", "both"))
    return EventSpec(
        seed=draw(st.integers(min_value=0, max_value=2**31 - 1)),
        name=draw(display_text())[0],
        label=draw(display_text())[0],
        tables=[f"{draw(display_text(max_words=1))[0]}{marker(i, 't')}" for i in range(4)],
        rounds=draw(st.integers(min_value=1, max_value=2)),
        people=[draw(attendee(i)) for i in range(count)],
        interest={
            (i, j): draw(choices | st.just("both"))
            for i in range(count)
            for j in range(i + 1, count)
        },
        withdrawn=draw(st.lists(st.tuples(indices, others).map(pair), max_size=2)),
        shares=[draw(st.none() | st.sets(st.sampled_from(FIELDS))) for _ in range(count)],
        leaving=draw(st.lists(indices, unique=True, max_size=2)),
    )


class IdSource:
    """Ids in creation order, the event's starting with the example's seed: the matcher
    draws from the event id and orders people by id, so a failing example replays."""

    def __init__(self) -> None:
        self.seed = 0
        self._counter = itertools.count()

    def event_id(self) -> str:
        return f"{self.seed:08x}{next(self._counter) % 0x10000:04x}"

    def attendee_id(self) -> str:
        return f"{next(self._counter):012x}"


@pytest.fixture
def ids(monkeypatch: pytest.MonkeyPatch) -> IdSource:
    source = IdSource()
    monkeypatch.setattr(event_service, "new_id", source.event_id)
    monkeypatch.setattr(attendee_service, "new_id", source.attendee_id)
    return source


@dataclass(frozen=True)
class Meeting:
    round: int
    table: str
    a: str
    b: str


@dataclass
class World:
    """What the test set up, kept independently of the service."""

    event: EventHandle
    ids: list[str] = field(default_factory=list)  # by index in the spec
    specs: dict[str, Spec] = field(default_factory=dict)  # the present ones, by id
    persons: dict[str, Person] = field(default_factory=dict)
    share: dict[str, set[str]] = field(default_factory=dict)
    deleted: dict[str, Spec] = field(default_factory=dict)
    meetings: list[Meeting] = field(default_factory=list)
    interests: set[tuple[str, str]] = field(default_factory=set)

    def mutual(self, a: str, b: str) -> bool:
        return (
            a in self.specs
            and b in self.specs
            and (a, b) in self.interests
            and (b, a) in self.interests
        )

    def connections(self, a: str) -> list[str]:
        return [b for b in self.specs if b != a and self.mutual(a, b)]

    def consented(self, pid: str) -> dict[str, str]:
        spec = self.specs.get(pid)
        if spec is None:
            return {}
        return {f: v for f, v in spec.contact.items() if f in self.share[pid]}

    def shown(self, pid: str) -> tuple[str, str, str]:
        spec = self.specs.get(pid)
        return (pid, spec.name, spec.organisation) if spec else ("", GONE, "")


def set_up(client: TestClient, spec: EventSpec) -> World:
    event = create_event(
        client,
        name=spec.name,
        tables=spec.tables,
        questions=[
            {"key": "likes", "label": spec.label, "kind": "shared"},
            {"key": "offers", "label": "I can help with", "kind": "offers", "pairs_with": "seeks"},
            {"key": "seeks", "label": "I'm looking for", "kind": "seeks"},
        ],
    )
    world = World(event=event)
    for person in spec.people:
        # Added by the organiser (the same join as by code, without its rate limit,
        # which shrinking a failure would soon reach).
        response = client.post(
            f"/api/v1/events/{event.id}/attendees",
            headers=event.auth,
            json={
                "name": person.name_sent,
                "organisation": person.organisation_sent,
                "answers": person.answers,
                "contact": person.contact_sent,
                "share": sorted(person.share),
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        pid = body["attendee_id"]
        world.ids.append(pid)
        world.specs[pid] = person
        world.persons[pid] = Person(pid, body["token"], person.name)
        world.share[pid] = set(person.share)
    roster = client.get(f"/api/v1/events/{event.id}/attendees", headers=event.auth).json()
    assert {(a["id"], a["name"], a["organisation"]) for a in roster} == {
        (pid, s.name, s.organisation) for pid, s in world.specs.items()
    }
    for index in range(1, spec.rounds + 1):
        round_ = start_round(client, event, index)
        for group in round_["groups"]:
            members = [m["attendee_id"] for m in group["members"]]
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    world.meetings.append(Meeting(index, group["table"], a, b))
    return world


def interact(client: TestClient, world: World, spec: EventSpec) -> None:
    """Stay-in-touch choices between people who met, some withdrawn again."""
    met = {frozenset((m.a, m.b)) for m in world.meetings}
    for (i, j), choice in spec.interest.items():
        a, b = world.ids[i], world.ids[j]
        if frozenset((a, b)) not in met:
            continue
        if choice in ("first", "both"):
            say(client, world, a, b, interested=True)
        if choice in ("second", "both"):
            say(client, world, b, a, interested=True)
    for i, j in spec.withdrawn:
        a, b = world.ids[i], world.ids[j]
        if frozenset((a, b)) in met:
            say(client, world, a, b, interested=False)


def say(client: TestClient, world: World, sender: str, other: str, *, interested: bool) -> None:
    response = client.post(
        "/api/v1/me/interest",
        headers=world.persons[sender].auth,
        json={"attendee_id": other, "interested": interested},
    )
    assert response.status_code == 200, response.text
    if interested:
        world.interests.add((sender, other))
    else:
        world.interests.discard((sender, other))


def change_consent_and_leave(client: TestClient, world: World, spec: EventSpec) -> None:
    for pid, share in zip(world.ids, spec.shares, strict=True):
        if share is None:
            continue
        response = client.patch(
            "/api/v1/me", headers=world.persons[pid].auth, json={"share": sorted(share)}
        )
        assert response.status_code == 200, response.text
        world.share[pid] = set(share)
    for index in spec.leaving:
        pid = world.ids[index]
        response = client.delete("/api/v1/me", headers=world.persons[pid].auth)
        assert response.status_code == 204, response.text
        world.deleted[pid] = world.specs.pop(pid)
        world.interests = {(a, b) for a, b in world.interests if pid not in (a, b)}


@dataclass
class Exports:
    csv_text: str
    rows: list[dict[str, str]]
    document: dict[str, Any]
    json_text: str
    vcards: dict[str, str]  # by attendee id


def fetch(client: TestClient, world: World) -> Exports:
    event = world.event
    response = client.get(f"/api/v1/events/{event.id}/export/connections.csv", headers=event.auth)
    assert response.status_code == 200, response.text
    assert response.content.startswith("\ufeff".encode())
    csv_text = response.content.decode("utf-8-sig")
    cells = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert cells[0] == COLUMNS
    for row in cells:
        assert len(row) == len(COLUMNS)
        for cell in row:
            assert not cell.startswith(TRIGGERS), f"formula cell {cell!r} in {row}"
    rows = list(csv.DictReader(io.StringIO(csv_text, newline="")))
    response = client.get(f"/api/v1/events/{event.id}/export/connections.json", headers=event.auth)
    assert response.status_code == 200, response.text
    vcards: dict[str, str] = {}
    for pid in world.specs:
        card = client.get("/api/v1/me/connections.vcf", headers=world.persons[pid].auth)
        assert card.status_code == 200, card.text
        assert card.headers["content-type"].startswith("text/vcard")
        vcards[pid] = card.content.decode("utf-8")
    return Exports(csv_text, rows, response.json(), response.text, vcards)


def check_json(world: World, exports: Exports) -> None:
    meetings = exports.document["meetings"]
    gone = set(world.deleted)
    expected = Counter(
        (m.round, m.table, *sorted("" if p in gone else p for p in (m.a, m.b)))
        for m in world.meetings
    )
    assert (
        Counter((m["round"], m["table"], *sorted(p["id"] for p in m["people"])) for m in meetings)
        == expected
    )
    for m in meetings:
        a, b = (p["id"] for p in m["people"])
        assert [(p["id"], p["name"], p["organisation"]) for p in m["people"]] == [
            world.shown(a),
            world.shown(b),
        ]
        assert m["asked_to_stay_in_touch"] == [(a, b) in world.interests, (b, a) in world.interests]
        assert m["connection"] is world.mutual(a, b)
    directory = {p["id"]: p for p in exports.document["people"]}
    assert set(directory) == set(world.specs)
    for pid, entry in directory.items():
        assert (entry["name"], entry["organisation"]) == world.shown(pid)[1:]
        connections = entry["connections"]
        assert Counter(c["id"] for c in connections) == Counter(world.connections(pid))
        for c in connections:
            assert (c["id"], c["name"], c["organisation"]) == world.shown(c["id"])
            consented = world.consented(c["id"])
            assert c["contact"] == {f: consented.get(f) for f in FIELDS}


def check_csv_round_trip(world: World, exports: Exports) -> None:
    """Each CSV row is the JSON meeting at its place, as spreadsheet-safe text."""
    meetings = exports.document["meetings"]
    assert len(exports.rows) == len(meetings)
    yes_no = {True: "yes", False: "no"}
    for row, m in zip(exports.rows, meetings, strict=True):
        (a, a_name, a_org), (b, b_name, b_org) = (world.shown(p["id"]) for p in m["people"])
        connected = world.mutual(a, b)
        expected = {
            "round": str(m["round"]),
            "table": m["table"],
            "person_a": a_name,
            "organisation_a": a_org,
            "person_b": b_name,
            "organisation_b": b_org,
            "common_ground": "; ".join(m["common_ground"]),
            "a_asked_to_stay_in_touch": yes_no[(a, b) in world.interests],
            "b_asked_to_stay_in_touch": yes_no[(b, a) in world.interests],
            "connection": yes_no[connected],
        }
        for side, pid in (("a", a), ("b", b)):
            consented = world.consented(pid) if connected else {}
            expected |= {f"{side}_{f}": consented.get(f, "") for f in FIELDS}
        assert row == {k: spreadsheet_text(v) for k, v in expected.items()}


def card_fields(card: Any) -> tuple[str, tuple[str, ...], dict[str, str]]:
    names = {line.name.lower() for line in card.getChildren()}
    assert names <= {"version", "prodid", "fn", "n", "org", "email", "tel", "url"}, names
    contact: dict[str, str] = {}
    for name, key in (("email", "email"), ("tel", "phone"), ("url", "url")):
        lines = card.contents.get(name, [])
        assert len(lines) <= 1
        if lines:
            contact[key] = lines[0].value
    assert card.n.value.given == card.fn.value
    assert card.n.value.family == ""
    org = tuple(card.org.value) if "org" in card.contents else ()
    return card.fn.value, org, contact


def check_vcards(world: World, exports: Exports) -> None:
    for pid, text in exports.vcards.items():
        cards = list(vobject.readComponents(text)) if text else []
        got = Counter(
            (name, org, tuple(sorted(contact.items())))
            for name, org, contact in map(card_fields, cards)
        )
        expected = Counter(
            (
                world.specs[other].name,
                (world.specs[other].organisation,) if world.specs[other].organisation else (),
                tuple(sorted(world.consented(other).items())),
            )
            for other in world.connections(pid)
        )
        assert got == expected, f"vCards of {world.specs[pid].name!r}"


def check_raw_text(world: World, exports: Exports) -> None:
    """Every marked value appears exactly where a consented, mutual connection puts it."""
    everyone = {**world.specs, **world.deleted}
    cards = {pid: unfold(text) for pid, text in exports.vcards.items()}
    for pid, spec in everyone.items():
        consented = world.consented(pid)
        for f in spec.contact:
            mark = marker(spec.index, f[0])
            if f not in consented:
                # Not consented now, or its owner has left: nowhere at all.
                assert mark not in exports.csv_text, (pid, f)
                assert mark not in exports.json_text, (pid, f)
                assert all(mark not in card for card in cards.values()), (pid, f)
                continue
            in_csv = sum(1 for m in world.meetings if pid in (m.a, m.b) and world.mutual(m.a, m.b))
            assert exports.csv_text.count(mark) == in_csv, (pid, f)
            assert exports.json_text.count(mark) == len(world.connections(pid)), (pid, f)
            for other, card in cards.items():
                assert card.count(mark) == (1 if world.mutual(pid, other) else 0), (pid, f)
    for spec in world.deleted.values():
        mark = marker(spec.index, "n")
        assert mark not in exports.csv_text
        assert mark not in exports.json_text
        assert all(mark not in card for card in cards.values())


def check(client: TestClient, world: World) -> None:
    exports = fetch(client, world)
    # Shown by --hypothesis-show-statistics: how often the cases that matter came up.
    pairs = {frozenset((m.a, m.b)) for m in world.meetings if world.mutual(m.a, m.b)}
    hypothesis.event("mutual connections", len(pairs))
    connected = {person for pair in pairs for person in pair}
    hypothesis.event("contacts consented on them", sum(len(world.consented(p)) for p in connected))
    hypothesis.event("people who left", len(world.deleted))
    quoted = sum(c.startswith("'") for row in exports.rows for c in row.values())
    hypothesis.event("cells quoted", min(quoted, 5))
    check_json(world, exports)
    check_csv_round_trip(world, exports)
    check_vcards(world, exports)
    check_raw_text(world, exports)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=events())
def test_exports_carry_only_consented_contacts_of_mutual_connections(
    client: TestClient, ids: IdSource, spec: EventSpec
) -> None:
    ids.seed = spec.seed
    world = set_up(client, spec)
    interact(client, world, spec)
    check(client, world)
    change_consent_and_leave(client, world, spec)
    check(client, world)
    for pid in world.deleted:
        gone = client.get("/api/v1/me/connections.vcf", headers=world.persons[pid].auth)
        assert gone.status_code == 401
