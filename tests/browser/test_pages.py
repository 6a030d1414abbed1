"""Every page at phone size: no sideways scrolling, no serious or critical accessibility
violations (axe-core), a screenshot saved; the projector pages 300 names at 1920x1080."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE: ViewportSize = {"width": 390, "height": 844}
WALL: ViewportSize = {"width": 1920, "height": 1080}


def _axe_path() -> Path:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail("axe-core is required under CI=true: run `npm ci` (make test does)")
        pytest.skip("axe-core is not installed here (npm ci)")
    return AXE


def _check(page: Page, name: str) -> None:
    """No sideways scroll, no serious/critical axe violations; keep a screenshot."""
    page.wait_for_timeout(600)
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"{name} scrolls sideways ({width}px)"
    page.add_script_tag(path=str(_axe_path()))
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    page.screenshot(path=screenshot_path(name), full_page=True)
    assert not bad, f"{name}: " + "; ".join(bad)


def _event(server: Server) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events", json={"name": "Accessible mixer"}
    ).json()
    return body


def _join(
    server: Server, code: str, name: str, hobby: str = "jazz", *, client: httpx.Client | None = None
) -> dict[str, Any]:
    """`client`: one for many joins (a new client costs more than the join it sends)."""
    url = f"{server.url}/api/v1/join/{code}"
    data = {"name": name, "organisation": "Acme", "answers": {"hobbies": [hobby]}}
    response = httpx.post(url, json=data) if client is None else client.post(url, json=data)
    body: dict[str, Any] = response.json()
    return body


def _start(server: Server, event: dict[str, Any], index: int = 1) -> None:
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/rounds",
        headers={"Authorization": f"Bearer {event['organiser_token']}"},
        json={"expected_index": index},
    ).raise_for_status()


def test_every_page_is_usable_at_phone_size(browser: Any, server: Server) -> None:
    _axe_path()
    # Strict CSP keeps injected scripts out; the checker is injected by the test alone.
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    page = context.new_page()
    page.goto(server.url + "/")
    _check(page, "home-phone")
    page.fill("#name", "Accessible mixer")
    page.click("text=Create the mixer")
    _check(page, "created-phone")
    page.click("text=Open the console")
    expect(page.locator("#summary")).to_contain_text("waiting")
    _check(page, "console-phone")

    event = _event(server)
    page.goto(f"{server.url}/join/{event['join_code']}")
    _check(page, "join-phone")
    page.fill("#name", "Ada")
    page.fill("#contact_email", "not-an-email")
    page.click("button:has-text('Join')")
    _check(page, "join-errors-phone")
    page.fill("#contact_email", "ada@example.org")
    page.click("button:has-text('Join')")
    expect(page.locator("#status")).to_contain_text("You're in")
    _check(page, "me-waiting-phone")
    _join(server, event["join_code"], "Bob")
    _start(server, event)
    expect(page.locator("#card")).to_contain_text("Bob", timeout=3000)
    _check(page, "me-round-phone")

    projector = browser.new_context(viewport=WALL, bypass_csp=True).new_page()
    projector.goto(f"{server.url}/events/{event['id']}/projector?key={event['projector_key']}")
    expect(projector.locator("#rows")).to_contain_text("Ada")
    _check(projector, "projector-round")


def test_projector_pages_three_hundred_names(browser: Any, server: Server) -> None:
    event = _event(server)
    hobbies = ["jazz", "hiking", "chess", "cooking", "films"]
    with httpx.Client() as client:
        for i in range(300):
            name = f"Guest Number {i:03d}"
            _join(server, event["join_code"], name, hobbies[i % 5], client=client)
    _start(server, event)
    page = browser.new_context(viewport=WALL).new_page()
    page.goto(f"{server.url}/events/{event['id']}/projector?key={event['projector_key']}")
    expect(page.locator("#page")).to_contain_text("Page 1 of", timeout=5000)
    pages = int(page.locator("#page .of").inner_text().rsplit(" ", 1)[1])
    assert 2 <= pages <= 5
    # The boxes of the names shown, read in one go (not one round trip to the browser each).
    rows = page.locator("#rows p:visible").evaluate_all(
        """rows => rows.map(r => {
            const b = r.getBoundingClientRect();
            return {x: b.x, y: b.y, width: b.width, height: b.height};
        })"""
    )
    assert 0 < len(rows) < 300
    # Every name on the page fits on the screen, clear of the join corner.
    corner = page.locator("#join").bounding_box()
    assert corner is not None
    for row in rows:
        assert row["x"] + row["width"] <= WALL["width"]
        assert row["y"] + row["height"] <= WALL["height"]
        assert row["x"] + row["width"] <= corner["x"] or row["y"] + row["height"] <= corner["y"]
    page.screenshot(path=screenshot_path("projector-300"))
    # The pages together show everyone once.
    seen: list[str] = []
    for _ in range(pages):
        seen += page.locator("#rows p").evaluate_all("rows => rows.map(r => r.dataset.name)")
        page.evaluate("window.dispatchEvent(new Event('cg-next-page'))")
        page.wait_for_timeout(200)
    assert len(seen) == len(set(seen)) == 300
