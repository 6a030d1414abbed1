"""Two mixers of one series in real Chromium: people who ticked "Remember me" are recognised
on the same phone with their answers filled in and meet new faces; people who did not tick
it are never recognised; someone who deletes their data leaves the series' memory and its
network export."""

from __future__ import annotations

import io
import re
from itertools import combinations
from typing import Any

import httpx2 as httpx
import networkx as nx
from playwright.sync_api import Page, expect

from tests.app.live import Server
from tests.browser.test_pages import PHONE, _check

RETURNING = {"Ada": True, "Bob": True, "Cy": False, "Di": False}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _join_on_phone(page: Page, code: str, name: str, hobby: str, *, remember: bool) -> None:
    page.goto(f"/join/{code}")
    page.fill("#name", name)
    page.fill("#free_hobbies", hobby)
    if remember:
        page.check("input[name=remember]")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/me$"))


def _pairs(server: Server, event: dict[str, Any]) -> set[frozenset[str]]:
    """Pairs who met in the event's rounds, by name."""
    auth = _auth(event["organiser_token"])
    roster = httpx.get(f"{server.url}/api/v1/events/{event['id']}/attendees", headers=auth).json()
    names = {a["id"]: a["name"] for a in roster}
    rounds = httpx.get(f"{server.url}/api/v1/events/{event['id']}/rounds", headers=auth).json()
    return {
        frozenset((names.get(a["attendee_id"], "?"), names.get(b["attendee_id"], "?")))
        for round_ in rounds
        for group in round_["groups"]
        for a, b in combinations(group["members"], 2)
    }


def _start_rounds(server: Server, event: dict[str, Any], count: int) -> None:
    for index in range(1, count + 1):
        httpx.post(
            f"{server.url}/api/v1/events/{event['id']}/rounds",
            headers=_auth(event["organiser_token"]),
            json={"expected_index": index},
        ).raise_for_status()


def test_two_mixers_of_a_series_remember_only_people_who_consented(
    browser: Any, server: Server
) -> None:
    first: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events",
        json={"name": "Monthly meetup", "rounds": 2, "series": True},
    ).json()
    series_id = first["series_id"]
    phones = {
        name: browser.new_context(viewport=PHONE, base_url=server.url, bypass_csp=True).new_page()
        for name in RETURNING
    }
    # Event 1: everyone on their own phone; Ada and Bob tick "Remember me". Ada and Bob share
    # a rare answer, so a matcher without memory would seat them together again next time.
    for name, remember in RETURNING.items():
        hobby = "sailing" if name in ("Ada", "Bob") else "chess"
        _join_on_phone(phones[name], first["join_code"], name, hobby, remember=remember)
    for name in ("Eve", "Fay"):
        httpx.post(
            f"{server.url}/api/v1/join/{first['join_code']}",
            json={"name": name, "answers": {"hobbies": ["chess"]}},
        ).raise_for_status()
    _start_rounds(server, first, 2)
    before = _pairs(server, first)
    assert frozenset(("Ada", "Bob")) in before

    # Event 2, the next of the series, from the organiser's console.
    desk = browser.new_context(
        viewport={"width": 1366, "height": 900}, base_url=server.url, bypass_csp=True
    )
    organiser = desk.new_page()
    organiser.goto(first["links"]["organiser"])
    organiser.click("button[data-panel=after]")
    organiser.fill("#next-name", "Monthly meetup, June")
    organiser.click("#next-go")
    console_link = organiser.get_by_role("link", name="Console of the next mixer")
    expect(console_link).to_be_visible()
    href = console_link.get_attribute("href") or ""
    found = re.search(r"/events/(\w+)/console\?token=([^&]+)", href)
    assert found is not None
    second: dict[str, Any] = httpx.get(
        f"{server.url}/api/v1/events/{found[1]}", headers=_auth(found[2])
    ).json()
    second["organiser_token"] = found[2]
    assert second["name"] == "Monthly meetup, June"
    assert second["series_id"] == series_id
    expect(organiser.locator("#series-page")).to_have_attribute("href", f"/series/{series_id}")
    for name, remembered in RETURNING.items():
        page = phones[name]
        page.goto(f"/join/{second['join_code']}")
        if remembered:
            expect(page.locator(".returning")).to_contain_text("Welcome back")
            expect(page.locator("#name")).to_have_value(name)
            expect(page.locator("#free_hobbies")).to_have_value("sailing")
            expect(page.locator("input[name=remember]")).to_be_checked()
            page.check("input[name=listed]")
            if name == "Ada":
                _check(page, "join-returning-phone")
            page.click("button[type=submit]")
            expect(page).to_have_url(re.compile(r"/me$"))
        else:
            # Same phone, same name: not recognised without consent.
            expect(page.locator(".returning")).to_have_count(0)
            expect(page.locator("#name")).to_have_value("")
            expect(page.locator("input[name=remember]")).not_to_be_checked()
            _join_on_phone(page, second["join_code"], name, "chess", remember=False)
    for name, hobby in (("Gus", "sailing"), ("Hal", "sailing")):
        httpx.post(
            f"{server.url}/api/v1/join/{second['join_code']}",
            json={"name": name, "answers": {"hobbies": [hobby]}},
        ).raise_for_status()
    auth2 = _auth(second["organiser_token"])
    preview = httpx.get(
        f"{server.url}/api/v1/events/{second['id']}/rounds/preview", headers=auth2
    ).json()
    assert preview["quality"]["returning"] == 2
    assert preview["quality"]["returning_only_new_faces"] == 2
    _start_rounds(server, second, 2)
    after = _pairs(server, second)
    assert frozenset(("Ada", "Bob")) not in after
    assert after - before  # new faces met
    assert any("Ada" in p and p - {"Ada"} <= {"Gus", "Hal"} for p in after)
    series = httpx.get(f"{server.url}/api/v1/series/{series_id}", headers=auth2).json()
    assert [e["returning"] for e in series["events"]] == [0, 2]
    assert series["members"] == 2

    # The organiser's series page: both events with their figures, and the picture.
    organiser.goto(f"/series/{series_id}?token={second['organiser_token']}")
    expect(organiser.locator("table.series-events tbody tr")).to_have_count(2)
    expect(organiser.locator("figure.network svg circle").first).to_be_visible()
    _check(organiser, "series-page")

    exported = httpx.get(
        f"{server.url}/api/v1/series/{series_id}/export/network.graphml", headers=auth2
    )
    # Bob consented to be named: he is, once, across both events.
    assert exported.content.count(b">Bob<") == 1
    assert nx.read_graphml(io.BytesIO(exported.content)).number_of_nodes() == 2 + 4 + 4

    # Bob deletes his data on his phone in event 2: the series forgets him everywhere.
    bob = phones["Bob"]
    bob.goto("/me")
    bob.once("dialog", lambda dialog: dialog.accept())
    bob.click("summary:has-text('My data')")
    bob.click("#delete-me")
    expect(bob).not_to_have_url(re.compile(r"/me$"))
    series = httpx.get(f"{server.url}/api/v1/series/{series_id}", headers=auth2).json()
    assert series["members"] == 1
    for fmt, reader in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        exported = httpx.get(
            f"{server.url}/api/v1/series/{series_id}/export/network.{fmt}", headers=auth2
        )
        assert exported.status_code == 200
        assert b"Bob" not in exported.content
        graph = reader(io.BytesIO(exported.content))
        # Ada (one node across both events), and Cy, Di and two others in each event.
        assert graph.number_of_nodes() == 1 + 4 + 4

    # Ada unticks "Remember me" on her page: the series forgets her, this evening goes on.
    ada = phones["Ada"]
    ada.goto("/me")
    ada.click("summary:has-text('My data')")
    expect(ada.locator("#remember")).to_be_checked()
    ada.uncheck("#remember")
    ada.click("#sharing button[type=submit]")
    expect(ada.locator("#sharing-status")).to_contain_text("named in the organiser's map")
    expect(ada.locator("#remember-box")).to_be_hidden()
    series = httpx.get(f"{server.url}/api/v1/series/{series_id}", headers=auth2).json()
    assert series["members"] == 0
    for context in [*(p.context for p in phones.values()), desk]:
        context.close()
