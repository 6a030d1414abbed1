"""Paper for people without phones (schedules, table cards) and the attendee's sharing
controls, in real Chromium at phone and desk sizes."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path
from tests.browser.test_pages import PHONE, _check, _event, _join


def test_organiser_fixes_the_plan_and_prints_schedules_and_table_cards(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    for name, hobby in (("Ada", "jazz"), ("Bob", "jazz"), ("Cy", "chess"), ("Di", "chess")):
        _join(server, event["join_code"], name, hobby)
    page = browser.new_context(viewport={"width": 1000, "height": 900}, bypass_csp=True).new_page()
    page.goto(event["links"]["organiser"])
    page.goto(f"{server.url}/events/{event['id']}/print/schedule")
    expect(page.locator("#plan-notice")).to_contain_text("not planned yet")
    page.click("#fix-plan")
    expect(page.locator("#plan-notice")).to_have_count(0, timeout=5000)
    people = page.locator("article.person")
    expect(people).to_have_count(4)
    # Every person has a table and a partner in each of the event's 6 rounds.
    for i in range(4):
        rows = people.nth(i).locator("tbody tr")
        expect(rows).to_have_count(6)
        for r in range(6):
            expect(rows.nth(r).locator(".partner").first).not_to_be_empty()
    _check(page, "print-schedule")
    # On paper: no buttons or links, one block per person.
    page.emulate_media(media="print")
    assert not page.locator("#print").is_visible()
    page.screenshot(path=screenshot_path("print-schedule-paper"), full_page=True)
    page.emulate_media(media="screen")

    page.goto(f"{server.url}/events/{event['id']}/print/tables")
    cards = page.locator(".table-card")
    expect(cards).to_have_count(2)
    _check(page, "print-tables")


def test_attendee_withdraws_consent_from_the_phone_and_downloads_their_data(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/join/{event['join_code']}",
        json={"name": "Ada", "contact": {"email": "ada@example.org"}, "share": ["email"]},
    ).json()
    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto(body["links"]["me"])
    page.click("summary:has-text('My data')")
    email = page.locator("#contact_email")
    expect(email).to_have_value("ada@example.org")
    box = page.locator("#sharing input[name=share][value=email]")
    expect(box).to_be_checked()
    box.uncheck()
    page.fill("#contact_phone", "+44 20 7946 0000")
    page.click("#sharing button[type=submit]")
    expect(page.locator("#sharing-status")).to_contain_text("You share: nothing")
    _check(page, "me-sharing-phone")
    with page.expect_download() as download:
        page.click("text=Download my data (JSON)")
    data = httpx.get(
        f"{server.url}/api/v1/me/export.json",
        headers={"Authorization": f"Bearer {body['token']}"},
    ).json()
    assert download.value.suggested_filename == "my-data.json"
    assert [(c["field"], c["granted"]) for c in data["consents"]] == [
        ("email", True),
        ("email", False),
    ]
    assert data["profile"]["contact"]["phone"] == "+44 20 7946 0000"
