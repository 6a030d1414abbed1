"""An evening in the browser: an organiser creates a mixer, six phones join through the join
page, round 1 starts, and every phone and the projector follow without a reload."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path

PHONE: ViewportSize = {"width": 390, "height": 844}
NAMES = ["Priya Shah", "Kwame Mensah", "Mei Tanaka", "Lucas Moreau", "Amara Osei", "Jonas Berg"]
HOBBIES = ["jazz", "jazz", "hiking", "hiking", "cooking", "cooking"]


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] if page.viewport_size else True


def _create_event(browser: Browser, server: Server) -> tuple[Page, str, str]:
    organiser = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    organiser.goto(server.url + "/")
    organiser.fill("#name", "Browser mixer")
    organiser.fill("#changeover_seconds", "30")
    organiser.click("text=Create the mixer")
    expect(organiser.locator("h1")).to_contain_text("Browser mixer is ready")
    organiser.screenshot(path=screenshot_path("created"), full_page=True)
    code = organiser.locator("strong.code").first.inner_text().strip()
    projector = organiser.locator("a", has_text="Open the projector view").get_attribute("href")
    assert projector is not None
    organiser.click("text=Open the console")
    expect(organiser.locator("#summary")).to_contain_text("waiting")
    return organiser, code, projector


def _join(browser: Browser, server: Server, code: str, name: str, hobby: str) -> Page:
    phone = browser.new_context(viewport=PHONE).new_page()
    phone.goto(f"{server.url}/join/{code}")
    phone.fill("#name", name)
    phone.locator("label.chip", has_text=re.compile(f"^{hobby}$")).first.click()
    phone.click("button:has-text('Join')")
    expect(phone.locator("#status")).to_contain_text("You're in")
    _no_sideways_scroll(phone)
    return phone


def test_six_phones_follow_round_one_live(browser: Any, server: Server) -> None:
    organiser, code, projector_url = _create_event(browser, server)
    phones = [_join(browser, server, code, n, h) for n, h in zip(NAMES, HOBBIES, strict=True)]
    phones[0].screenshot(path=screenshot_path("phone-waiting"))
    projector = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    projector.goto(projector_url)
    expect(projector.locator("#round-label")).to_contain_text("6 people joined")

    organiser.click("#start")
    for phone, name in zip(phones, NAMES, strict=True):
        # Within 3 seconds, no reload: the table and a partner (jazz with jazz, ...).
        expect(phone.locator("#card")).to_contain_text("Table", timeout=3000)
        expect(phone.locator("#card")).to_contain_text("Meet", timeout=3000)
        assert name not in phone.locator("#card .partner").first.inner_text()
    expect(phones[0].locator("#card")).to_contain_text("Kwame Mensah")
    expect(phones[0].locator("#card")).to_contain_text("jazz")
    for name in NAMES:
        expect(projector.locator("#rows")).to_contain_text(name, timeout=3000)
    expect(projector.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    phones[0].screenshot(path=screenshot_path("phone-round"))
    projector.screenshot(path=screenshot_path("projector-round"))
    organiser.screenshot(path=screenshot_path("console-round"), full_page=True)

    # A reload shows the same remaining time (±1 s): the server owns the clock.
    def remaining(page: Page) -> int:
        minutes, seconds = page.locator("#countdown").inner_text().split(":")
        return int(minutes) * 60 + int(seconds)

    before = remaining(projector)
    projector.reload()
    expect(projector.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    assert abs(remaining(projector) - before) <= 1

    # Mei's partner is not there: Mei, stranded, joins another table at once; Lucas is
    # taken out of the next round until he says he is here.
    expect(phones[2].locator("#card")).to_contain_text("Lucas Moreau")
    phones[2].click("text=My partner isn't here")
    expect(phones[2].locator("#card")).not_to_contain_text("Lucas Moreau", timeout=3000)
    expect(phones[2].locator("#card .partner")).to_have_count(2)
    expect(phones[3].locator("#actions")).to_contain_text("I'm here", timeout=3000)
    phones[2].screenshot(path=screenshot_path("phone-repaired"))
