"""The pages at a venue: a phone that says whose it is on every screen, a sit-out screen that
says when the next round starts, a join QR code big enough to scan across the room, and a
phone that rides out lost wifi."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Page, expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path
from tests.browser.test_pages import PHONE, WALL, _check


def _event(server: Server, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events", json={"name": "Harbour mixer", **fields}
    ).json()
    return body


def _join(server: Server, event: dict[str, Any], name: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/join/{event['join_code']}",
        json={"name": name, "answers": {"hobbies": ["jazz"]}},
    ).json()
    return body


def _organiser(server: Server, event: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/{path}",
        headers={"Authorization": f"Bearer {event['organiser_token']}"},
        json=body,
    ).raise_for_status()


def _me(server: Server, person: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {person['token']}"}
    ).json()
    return body


def _phone(browser: Any, link: str) -> Page:
    page: Page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto(link)
    return page


def _seconds(text: str) -> int:
    minutes, seconds = re.findall(r"(\d+):(\d\d)", text)[-1]
    return int(minutes) * 60 + int(seconds)


def _says_whose(page: Page, name: str, event: str = "Harbour mixer") -> None:
    expect(page.locator("#whose-name")).to_have_text(name)
    expect(page.locator("#whose-event")).to_have_text(event)
    # At the top: above the status line, the round card and the buttons.
    header = page.locator("header.whose").bounding_box()
    assert header is not None
    assert header["y"] < 150


def test_the_phone_says_whose_it_is_and_sitting_out_says_when_the_next_round_starts(
    browser: Any, server: Server
) -> None:
    event = _event(server, odd="sit_out", changeover_seconds=8, round_seconds=240, rounds=3)
    people = {name: _join(server, event, name) for name in ("Ada", "Bob", "Cy")}
    phones = {name: _phone(browser, p["links"]["me"]) for name, p in people.items()}
    for name, phone in phones.items():
        expect(phone.locator("#status")).to_contain_text("You're in")
        _says_whose(phone, name)
    _check(phones["Ada"], "venue-me-waiting")

    _organiser(server, event, "rounds", {"expected_index": 1})
    projector: Page = browser.new_context(viewport=WALL).new_page()
    projector.goto(event["links"]["projector"])
    expect(projector.locator("#phase")).to_have_text("Find your partner")
    out = next(n for n, p in people.items() if _me(server, p)["round"]["sitting_out"])
    seated = next(n for n in people if n != out)
    sitter = phones[out]
    card, actions = sitter.locator("#card"), sitter.locator("#actions")
    expect(card).to_contain_text("Take a breather", timeout=3000)
    _says_whose(sitter, out)
    # No partner, no table to find, no buttons about a partner.
    expect(card).not_to_contain_text("Meet")
    expect(card).not_to_contain_text("Table")
    expect(card.locator(".partner")).to_have_count(0)
    expect(actions).not_to_contain_text("My partner isn't here")
    expect(actions).not_to_contain_text("We already know each other")
    expect(actions).to_contain_text("Taking a break")
    # When the next round starts: after this one, counted down to its end (8 s + 4 min).
    expect(card.locator(".next")).to_have_text("Round 2 starts after this round.")
    countdown = sitter.locator("#countdown")
    expect(sitter.locator("#countdown-label")).to_have_text("Next round in")
    expect(countdown).to_have_text(re.compile(r"^\d+:\d\d$"))
    assert 235 <= _seconds(countdown.inner_text()) <= 248
    _check(sitter, "venue-me-sitting-out")

    # The changeover and then the talk, each with the name on top.
    phone = phones[seated]
    expect(phone.locator("#card")).to_contain_text("· go to")
    expect(phone.locator("#countdown-label")).to_have_text("Find your table")
    _says_whose(phone, seated)
    _check(phone, "venue-me-changeover")
    expect(phone.locator("#card")).to_contain_text("· at", timeout=10_000)
    expect(phone.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    # The talk begins on the server's clock, without a word from the server.
    assert _seconds(phone.locator("#countdown").inner_text()) > 200
    expect(projector.locator("#phase")).to_have_text("Talk")
    assert _seconds(projector.locator("#countdown").inner_text()) > 200
    expect(sitter.locator("#countdown-label")).not_to_contain_text("Find your table")
    _says_whose(phone, seated)
    _check(phone, "venue-me-round")

    # Someone who joins during the round sees their name and the next round's start at once.
    late = _phone(browser, f"{server.url}/join/{event['join_code']}")
    late.fill("#name", "Dee")
    late.click("button:has-text('Join')")
    expect(late.locator("#card")).to_contain_text("before you came")
    _says_whose(late, "Dee")
    expect(late.locator("#card .next")).to_have_text("Round 2 starts after this round.")
    expect(late.locator("#countdown-label")).to_have_text("Next round in")
    expect(late.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(late.locator("#actions")).not_to_contain_text("My partner isn't here")
    _check(late, "venue-me-joined-mid-round")

    # A break, and the end of the evening.
    phone.click("text=Taking a break")
    expect(phone.locator("#actions")).to_contain_text("I'm here")
    expect(phone.locator("#status")).to_contain_text("You're on a break")
    _says_whose(phone, seated)
    _check(phone, "venue-me-break")
    _organiser(server, event, "finish", {})
    expect(phone.locator("#status")).to_contain_text("has finished", timeout=3000)
    _says_whose(phone, seated)
    _check(phone, "venue-me-finished")


def test_sitting_out_with_auto_advance_shows_the_time_the_next_round_starts(
    browser: Any, server: Server
) -> None:
    event = _event(server, odd="sit_out", auto_advance=True, round_seconds=300)
    people = [_join(server, event, name) for name in ("Ada", "Bob", "Cy")]
    _organiser(server, event, "rounds", {"expected_index": 1})
    out = next(p for p in people if _me(server, p)["round"]["sitting_out"])
    page = _phone(browser, out["links"]["me"])
    next_line = page.locator("#card .next")
    expect(next_line).to_have_text(re.compile(r"^Round 2 starts at \d{1,2}:\d\d( [AP]M)?\.$"))
    # The time shown is the round's end, on the server's clock, in the phone's time zone.
    ends_at = _me(server, out)["round"]["ends_at"]
    shown = page.evaluate(
        "iso => new Date(Date.parse(iso)).toLocaleTimeString([], "
        "{hour: '2-digit', minute: '2-digit'})",
        ends_at,
    )
    assert shown in next_line.inner_text()
    expect(page.locator("#countdown-label")).to_have_text("Next round in")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    _check(page, "venue-me-sitting-out-auto")


def test_projector_join_code_fills_the_screen_before_round_one_then_moves_to_a_corner(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    for name in ("Ada", "Bob", "Cy", "Di"):
        _join(server, event, name)
    page: Page = browser.new_context(viewport=WALL, bypass_csp=True).new_page()
    page.goto(event["links"]["projector"])
    expect(page.locator("#round-label")).to_contain_text("4 people joined")
    # The drawn code itself (its path, without the quiet zone), not just its box.
    code = page.locator("#join svg path").bounding_box()
    block = page.locator("#join").bounding_box()
    assert code is not None
    assert block is not None
    assert code["height"] >= 0.4 * WALL["height"], code
    centre_x, centre_y = block["x"] + block["width"] / 2, block["y"] + block["height"] / 2
    assert abs(centre_x - WALL["width"] / 2) < 0.05 * WALL["width"], block
    assert abs(centre_y - WALL["height"] / 2) < 0.15 * WALL["height"], block
    # The biggest thing on the screen, with the address and the code beside it.
    for other in ("#event-name", "#phase", "#join p"):
        box = page.locator(other).bounding_box()
        assert box is not None
        assert box["width"] * box["height"] < code["width"] * code["height"], other
    expect(page.locator("#join p")).to_contain_text(f"/join/{event['join_code']}")
    expect(page.locator("#join .code")).to_have_text(event["join_code"])
    text = page.locator("#join p").bounding_box()
    assert text is not None
    assert text["x"] >= code["x"] + code["width"] or text["y"] >= code["y"] + code["height"]
    _check(page, "venue-projector-before")

    _organiser(server, event, "rounds", {"expected_index": 1})
    expect(page.locator("#rows")).to_contain_text("Ada", timeout=3000)
    code = page.locator("#join svg path").bounding_box()
    assert code is not None
    # In the bottom-right corner, still scannable from 5 m.
    assert code["height"] >= 180, code
    assert code["x"] > WALL["width"] / 2
    assert code["y"] > WALL["height"] / 2
    _check(page, "venue-projector-round")


def test_a_phone_that_loses_the_wifi_keeps_its_table_and_catches_up(
    browser: Any, server: Server
) -> None:
    event = _event(server, changeover_seconds=0)
    people = [_join(server, event, name) for name in ("Ada", "Bob", "Cy", "Di")]
    _organiser(server, event, "rounds", {"expected_index": 1})
    ada = people[0]
    partner = _me(server, ada)["round"]["partners"][0]["name"]
    page = _phone(browser, ada["links"]["me"])
    card, line = page.locator("#card"), page.locator("#link")
    expect(card).to_contain_text("Round 1 of 6")
    expect(card).to_contain_text(f"Meet {partner}")
    expect(line).to_be_hidden()

    page.context.set_offline(True)
    expect(line).to_have_text(re.compile(r"^Reconnecting…"))
    expect(line).to_be_visible()
    # The next round starts while the phone is away: it keeps showing its table and partner.
    _organiser(server, event, "clock", {"action": "end_round"})
    _organiser(server, event, "rounds", {"expected_index": 2})
    page.wait_for_timeout(1500)
    expect(card).to_contain_text("Round 1 of 6")
    expect(card).to_contain_text(f"Meet {partner}")
    expect(line).to_be_visible()
    _says_whose(page, "Ada")
    page.screenshot(path=screenshot_path("venue-me-reconnecting"), full_page=True)

    # Back online: it catches up by itself, without a reload.
    page.context.set_offline(False)
    expect(card).to_contain_text("Round 2 of 6", timeout=8000)
    new_partner = _me(server, ada)["round"]["partners"][0]["name"]
    assert new_partner != partner
    expect(card).to_contain_text(f"Meet {new_partner}")
    expect(line).to_be_hidden()
    _check(page, "venue-me-caught-up")
