"""The printed plan: fixing it, live rounds following it, schedules and table cards."""

from __future__ import annotations

from html.parser import HTMLParser
from itertools import combinations
from typing import Any

from fastapi.testclient import TestClient

from app import models
from app.services.rounds import _unforeseen_meetings
from matching.model import pair
from tests.app.conftest import EventHandle, Person, create_event, join, start_round

HOBBIES = ["jazz", "chess", "hiking", "poetry"]
Tables = dict[str, frozenset[str]]


def _room(client: TestClient, n: int, **event_fields: Any) -> tuple[EventHandle, list[Person]]:
    event = create_event(client, **event_fields)
    people = [
        join(client, event, f"Person {i}", answers={"hobbies": [HOBBIES[i % 4]]}) for i in range(n)
    ]
    return event, people


def _fix(client: TestClient, event: EventHandle) -> list[dict[str, Any]]:
    response = client.post(f"/api/v1/events/{event.id}/plan", headers=event.auth)
    assert response.status_code == 201, response.text
    rounds: list[dict[str, Any]] = response.json()["rounds"]
    return rounds


def _planned(plan: list[dict[str, Any]], index: int) -> Tables:
    (round_,) = [r for r in plan if r["index"] == index]
    return {g["table"]: frozenset(g["members"]) for g in round_["groups"]}


def _live(body: dict[str, Any]) -> Tables:
    return {g["table"]: frozenset(m["attendee_id"] for m in g["members"]) for g in body["groups"]}


def _pairs(tables: Tables) -> set[frozenset[str]]:
    return {pair(a, b) for members in tables.values() for a, b in combinations(members, 2)}


def _set_presence(client: TestClient, person: Person, state: str) -> None:
    response = client.post("/api/v1/me/presence", headers=person.auth, json={"state": state})
    assert response.status_code == 200, response.text


def _walk_up(client: TestClient, event: EventHandle, name: str, presence: str) -> str:
    response = client.post(
        f"/api/v1/events/{event.id}/attendees",
        headers=event.auth,
        json={"name": name, "presence": presence},
    )
    assert response.status_code == 201, response.text
    attendee_id: str = response.json()["attendee_id"]
    return attendee_id


# ------------------------------------------------------------------ fixing the plan


def test_the_plan_covers_every_remaining_round_with_everyone_here_or_registered_once(
    client: TestClient,
) -> None:
    event = create_event(client, rounds=4)
    # Twins share a rare hobby: the matcher would pair them again, were round 1 forgotten.
    people = [join(client, event, f"P{i}", answers={"hobbies": [f"h{i // 2}"]}) for i in range(11)]
    start_round(client, event, 1)
    registered = _walk_up(client, event, "On the list", "registered")
    _set_presence(client, people[10], "break")
    plan = _fix(client, event)
    assert [r["index"] for r in plan] == [2, 3, 4]
    expected = sorted([p.id for p in people[:10]] + [registered])
    for round_ in plan:
        placed = [m for g in round_["groups"] for m in g["members"]] + round_["sitting_out"]
        assert sorted(placed) == expected
        assert sorted(g["table"] for g in round_["groups"]) == ["1", "2", "3", "4", "5"]
    # It is kept with the event, and continues round 1: nobody meets their round-1 partner.
    stored = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    first = _pairs(_live(stored[0]))
    later = [p for r in plan for p in _pairs(_planned(plan, r["index"]))]
    assert not first & set(later)
    assert len(later) == len(set(later))


def _turn_the_tables(client: TestClient, people: list[Person], planned: Tables) -> None:
    """Change profiles so that each planned partner now shares a rare hobby with someone at
    the next table and nothing with their partner: the matcher alone would pair otherwise."""
    by_id = {p.id: p for p in people}
    pairs = [sorted(members) for members in planned.values()]
    for k, (first, second) in enumerate(pairs):
        for person, hobby in ((first, f"x{k}"), (second, f"x{(k + 1) % len(pairs)}")):
            changed = client.patch(
                "/api/v1/me", headers=by_id[person].auth, json={"answers": {"hobbies": [hobby]}}
            )
            assert changed.status_code == 200, changed.text


def test_rounds_started_afterwards_reproduce_the_printed_groups_and_tables(
    client: TestClient,
) -> None:
    names = ["Bar", "Window", "Door", "Stage"]
    event, people = _room(client, 8, rounds=3, tables=names)
    plan = _fix(client, event)
    assert {t for r in plan for g in r["groups"] for t in [g["table"]]} == set(names)
    _turn_the_tables(client, people, _planned(plan, 1))
    for index in (1, 2, 3):
        assert _live(start_round(client, event, index)) == _planned(plan, index)


def test_when_one_person_is_absent_only_their_group_changes(client: TestClient) -> None:
    event, people = _room(client, 8, rounds=2)
    plan = _fix(client, event)
    _turn_the_tables(client, people, _planned(plan, 1))
    absent = people[3]
    _set_presence(client, absent, "break")
    live = _live(start_round(client, event, 1))
    planned = _planned(plan, 1)
    (table_of_absent,) = [t for t, members in planned.items() if absent.id in members]
    stranded = planned[table_of_absent] - {absent.id}
    for table, members in planned.items():
        if table == table_of_absent:
            continue
        # Everyone else keeps partner and table; at most the one stranded joins them.
        assert members <= live[table]
        assert live[table] - members <= stranded
    placed = sorted(m for members in live.values() for m in members)
    assert placed == sorted(p.id for p in people if p is not absent)


def test_a_walk_up_after_printing_moves_nobody_on_paper(client: TestClient) -> None:
    event, people = _room(client, 8, rounds=2)
    plan = _fix(client, event)
    _turn_the_tables(client, people, _planned(plan, 1))
    late = _walk_up(client, event, "Late Comer", "present")
    live = _live(start_round(client, event, 1))
    planned = _planned(plan, 1)
    for table, members in planned.items():
        assert members <= live[table]
    (joined,) = [t for t, members in live.items() if late in members]
    assert live[joined] - {late} == planned[joined]


def test_plan_conflicts(client: TestClient, clock: Any) -> None:
    lonely, _ = _room(client, 1)
    assert client.post(f"/api/v1/events/{lonely.id}/plan", headers=lonely.auth).status_code == 409

    event, _ = _room(client, 4, rounds=1)
    start_round(client, event, 1)
    done = client.post(f"/api/v1/events/{event.id}/plan", headers=event.auth)
    assert done.status_code == 409
    assert "all 1 rounds" in done.json()["detail"]

    finished, _ = _room(client, 4, rounds=3)
    assert client.post(f"/api/v1/events/{finished.id}/finish", headers=finished.auth).is_success
    over = client.post(f"/api/v1/events/{finished.id}/plan", headers=finished.auth)
    assert over.status_code == 409
    assert "finished" in over.json()["detail"]


def test_plan_needs_the_organiser(client: TestClient) -> None:
    event, _ = _room(client, 4)
    other = create_event(client)
    assert client.post(f"/api/v1/events/{event.id}/plan").status_code == 401
    assert client.post(f"/api/v1/events/{event.id}/plan", headers=other.auth).status_code == 403
    # The page's cookie needs the CSRF header, as every cookie-authorised change.
    client.cookies.set("cg_org", event.token)
    assert client.post(f"/api/v1/events/{event.id}/plan").status_code == 403
    fixed = client.post(f"/api/v1/events/{event.id}/plan", headers={"X-CSRF": "1"})
    assert fixed.status_code == 201


def test_releasing_the_plan_draws_rounds_live_again(client: TestClient) -> None:
    event, _ = _room(client, 6, rounds=2)
    _fix(client, event)
    client.cookies.set("cg_org", event.token)
    assert "fix-plan" not in client.get(f"/events/{event.id}/print/schedule").text
    released = client.delete(f"/api/v1/events/{event.id}/plan", headers=event.auth)
    assert released.status_code == 204
    page = client.get(f"/events/{event.id}/print/schedule").text
    assert "Fix the plan for the remaining rounds" in page
    assert "2 of 2 rounds are not planned yet" in page


def test_a_plan_the_live_rounds_departed_from_is_not_kept_where_it_would_repeat() -> None:
    event = models.Event(
        printed_plan=[
            {"index": 1, "groups": [{"table": "1", "members": ["a", "b"]}]},
            {"index": 2, "groups": [{"table": "1", "members": ["a", "c"]}]},
            {"index": 3, "groups": [{"table": "1", "members": ["a", "d"]}]},
        ]
    )
    # Round 1 went as planned; round 2 sat "a" with "d" (their planned round-3 partner).
    held = [
        models.Round(index=1, groups=[models.Group(table="1", members=["a", "b"])]),
        models.Round(index=2, groups=[models.Group(table="1", members=["a", "d"])]),
    ]
    assert _unforeseen_meetings(event, held[:1], 2) == set()
    assert _unforeseen_meetings(event, held, 3) == {pair("a", "d")}


# ------------------------------------------------------------------ the pages


class _Sheet(HTMLParser):
    """Text of each cell (by class) of each row (data-round) of each block (data-attendee
    or data-table)."""

    def __init__(self, block: str) -> None:
        super().__init__()
        self.block_attr = block
        self.blocks: dict[str, dict[int, dict[str, str]]] = {}
        self.headings: dict[str, str] = {}
        self._block: str | None = None
        self._row: int | None = None
        self._cell: str | None = None
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "article" and found.get(self.block_attr) is not None:
            self._block = found[self.block_attr]
            self.blocks[str(self._block)] = {}
        elif tag == "h2" and self._block is not None:
            self._in_heading = True
        elif tag == "tr" and self._block is not None and found.get("data-round"):
            self._row = int(str(found["data-round"]))
            self.blocks[str(self._block)][self._row] = {}
        elif tag == "td" and self._row is not None:
            self._cell = str(found.get("class"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._block = None
        elif tag == "h2":
            self._in_heading = False
        elif tag == "tr":
            self._row = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._block is None:
            return
        if self._in_heading:
            self.headings[self._block] = self.headings.get(self._block, "") + data
        if self._row is not None and self._cell is not None:
            row = self.blocks[self._block][self._row]
            row[self._cell] = row.get(self._cell, "") + data

    @classmethod
    def read(cls, html: str, block: str) -> _Sheet:
        parser = cls(block)
        parser.feed(html)
        for rows in parser.blocks.values():
            for cells in rows.values():
                for cell, text in cells.items():
                    cells[cell] = " ".join(text.split())
        return parser


def _print_room(client: TestClient) -> tuple[EventHandle, list[Person], list[dict[str, Any]]]:
    """Round 1 held, rounds 2 and 3 on the printed plan."""
    event = create_event(client, rounds=3)
    people = [
        join(client, event, f"Person {i}", organisation=f"Org {i}", answers={"hobbies": ["jazz"]})
        for i in range(6)
    ]
    start_round(client, event, 1)
    return event, people, _fix(client, event)


def _expected_seats(
    client: TestClient, event: EventHandle, plan: list[dict[str, Any]]
) -> dict[int, Tables]:
    held = client.get(f"/api/v1/events/{event.id}/rounds", headers=event.auth).json()
    seats = {r["index"]: _live(r) for r in held}
    seats.update({r["index"]: _planned(plan, r["index"]) for r in plan})
    return seats


def test_the_schedule_lists_each_attendees_table_and_partner_for_every_round(
    client: TestClient,
) -> None:
    event, people, plan = _print_room(client)
    client.cookies.set("cg_org", event.token)
    page = client.get(f"/events/{event.id}/print/schedule")
    assert page.status_code == 200
    assert "fix-plan" not in page.text
    sheet = _Sheet.read(page.text, "data-attendee")
    number = {p.id: p.name.removeprefix("Person ") for p in people}
    assert set(sheet.blocks) == set(number)
    seats = _expected_seats(client, event, plan)
    for person in people:
        n = number[person.id]
        assert sheet.headings[person.id].split() == ["Person", n, "Org", n]
        rows = sheet.blocks[person.id]
        assert sorted(rows) == [1, 2, 3]
        for index, tables in seats.items():
            (table,) = [t for t, members in tables.items() if person.id in members]
            (partner,) = tables[table] - {person.id}
            assert rows[index]["table"] == table
            assert rows[index]["partners"] == f"Person {number[partner]} (Org {number[partner]})"
    # Times: round 1 when it started; later rounds estimated from its end, one period each.
    times = [t["datetime"] for t in _times(page.text)]
    assert times[:3] == ["2026-06-01T18:00:00Z", "2026-06-01T18:05:00Z", "2026-06-01T18:10:00Z"]
    assert [t["text"] for t in _times(page.text)][:3] == ["18:00 UTC", "18:05 UTC", "18:10 UTC"]


class _Times(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "time":
            self.found.append({"datetime": str(dict(attrs)["datetime"]), "text": ""})
            self._open = True

    def handle_endtag(self, tag: str) -> None:
        self._open = self._open and tag != "time"

    def handle_data(self, data: str) -> None:
        if self._open:
            self.found[-1]["text"] += data


def _times(html: str) -> list[dict[str, str]]:
    parser = _Times()
    parser.feed(html)
    return parser.found


def test_the_schedule_prints_one_attendee_when_asked(client: TestClient) -> None:
    event, people, _ = _print_room(client)
    client.cookies.set("cg_org", event.token)
    one = client.get(f"/events/{event.id}/print/schedule", params={"attendee": people[2].id})
    assert one.status_code == 200
    assert list(_Sheet.read(one.text, "data-attendee").blocks) == [people[2].id]
    missing = client.get(f"/events/{event.id}/print/schedule", params={"attendee": "nobody"})
    assert missing.status_code == 404


def test_table_cards_have_one_card_per_table_with_who_sits_there_each_round(
    client: TestClient,
) -> None:
    event, people, plan = _print_room(client)
    client.cookies.set("cg_org", event.token)
    page = client.get(f"/events/{event.id}/print/tables")
    assert page.status_code == 200
    cards = _Sheet.read(page.text, "data-table")
    seats = _expected_seats(client, event, plan)
    assert list(cards.blocks) == ["1", "2", "3"]
    assert page.text.count('class="table-card"') == 3
    name = {p.id: p.name for p in people}
    for table, rows in cards.blocks.items():
        assert cards.headings[table].split() == ["Table", table]
        for index, tables in seats.items():
            shown = set(rows[index]["people"].split(" · "))
            assert shown == {f"{name[m]} (Org {name[m].split()[-1]})" for m in tables[table]}


def test_unplanned_rounds_offer_to_fix_the_plan(client: TestClient) -> None:
    event, _ = _room(client, 4, rounds=3)
    start_round(client, event, 1)
    client.cookies.set("cg_org", event.token)
    for page in ("schedule", "tables"):
        html = client.get(f"/events/{event.id}/print/{page}").text
        assert "2 of 3 rounds are not planned yet" in html
        assert f'data-url="/api/v1/events/{event.id}/plan"' in html
        assert "keep their table and partner" in html
    rows = _Sheet.read(client.get(f"/events/{event.id}/print/schedule").text, "data-attendee")
    some = next(iter(rows.blocks.values()))
    assert some[2]["partners"] == "drawn live: see the screen"


def test_print_pages_need_the_organiser_cookie(client: TestClient) -> None:
    event, _ = _room(client, 2)
    other = create_event(client)
    for page in ("schedule", "tables"):
        url = f"/events/{event.id}/print/{page}"
        client.cookies.clear()
        assert client.get(url).status_code == 401
        assert client.get(url, headers=event.auth).status_code == 401  # the cookie, as the console
        client.cookies.set("cg_org", other.token)
        assert client.get(url).status_code == 403
        client.cookies.set("cg_org", event.token)
        assert client.get(url).status_code == 200


def test_names_are_escaped_on_paper(client: TestClient) -> None:
    event = create_event(client, name="<b>Mixer</b>", rounds=2)
    join(client, event, "<script>alert(1)</script>", organisation='"><img src=x>')
    join(client, event, "Plain Name")
    start_round(client, event, 1)
    _fix(client, event)
    client.cookies.set("cg_org", event.token)
    for page in ("schedule", "tables"):
        html = client.get(f"/events/{event.id}/print/{page}").text
        assert "<script>alert" not in html
        assert "<img src=x>" not in html
        assert "<b>Mixer" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;b&gt;Mixer&lt;/b&gt;" in html


def test_a_pair_kept_apart_after_printing_is_not_seated_together(client: TestClient) -> None:
    event, _people = _room(client, 8, rounds=2)
    plan = _fix(client, event)
    planned = _planned(plan, 1)
    apart = sorted(next(iter(planned.values())))
    changed = client.patch(
        f"/api/v1/events/{event.id}", headers=event.auth, json={"keep_apart": [apart]}
    )
    assert changed.status_code == 200, changed.text
    live = _live(start_round(client, event, 1))
    assert pair(*apart) not in _pairs(live)
    # The other printed pairs keep their tables.
    for table, members in planned.items():
        if set(apart) != members:
            assert members <= live[table]


def test_changing_the_group_size_releases_the_printed_plan(client: TestClient) -> None:
    event, _people = _room(client, 8, rounds=2)
    _fix(client, event)
    client.patch(f"/api/v1/events/{event.id}", headers=event.auth, json={"group_size": 4})
    with client.app.state.db.reading() as session:  # type: ignore[attr-defined]
        assert session.get(models.Event, event.id).printed_plan is None
    live = _live(start_round(client, event, 1))
    assert sorted(len(m) for m in live.values()) == [4, 4]


def test_print_pages_count_failed_cookies_towards_the_rate_limit(client: TestClient) -> None:
    event = create_event(client)
    client.cookies.set("cg_org", "forged")
    codes = {client.get(f"/events/{event.id}/print/tables").status_code for _ in range(65)}
    assert codes == {403, 429}
