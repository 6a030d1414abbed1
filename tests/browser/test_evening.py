"""The rest of an evening in the browser: the console's clock buttons, the finished screens,
and a projector that rides out a server restart on its own."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path
from tests.browser.test_pages import PHONE, WALL


def _event(server: Server, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events", json={"name": "Evening", **fields}
    ).json()
    return body


def _join(server: Server, code: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/join/{code}", json={"name": name, "answers": {"hobbies": ["jazz"]}}
    ).json()
    return body


def test_console_runs_the_clock_and_the_evening_ends_with_totals(
    browser: Any, server: Server
) -> None:
    event = _event(server, rounds=1)
    ada = _join(server, event["join_code"], "Ada")
    bob = _join(server, event["join_code"], "Bob")
    console = browser.new_context(viewport=PHONE).new_page()
    console.goto(event["links"]["organiser"])
    expect(console.locator("#roster")).to_contain_text("Bob")
    console.click("#start")
    expect(console.locator("#clock")).to_contain_text("Round 1 · changeover")
    console.click("button[data-clock=pause]")
    expect(console.locator("#clock")).to_contain_text("paused")
    console.click("button[data-clock=resume]")
    expect(console.locator("#clock")).to_contain_text("changeover")
    console.click("button[data-clock=extend]")
    expect(console.locator("#message")).to_have_text("")
    console.click("button[data-clock=end_round]")
    expect(console.locator("#summary")).to_contain_text("finished")

    phone = browser.new_context(viewport=PHONE).new_page()
    phone.goto(ada["links"]["me"])
    expect(phone.locator("#status")).to_contain_text("has finished")
    expect(phone.locator("#met")).to_contain_text("Bob")
    phone.click("#met button")  # stay in touch with Bob
    expect(phone.locator("#met button")).to_contain_text("✓")
    httpx.post(
        f"{server.url}/api/v1/me/interest",
        headers={"Authorization": f"Bearer {bob['token']}"},
        json={"attendee_id": ada["attendee_id"]},
    ).raise_for_status()
    expect(phone.locator("#connections")).to_contain_text("Bob", timeout=3000)
    phone.screenshot(path=screenshot_path("phone-finished"), full_page=True)

    projector = browser.new_context(viewport=WALL).new_page()
    projector.goto(event["links"]["projector"])
    expect(projector.locator("#totals")).to_have_text(
        "1 conversation · 1 new connection", timeout=3000
    )
    projector.screenshot(path=screenshot_path("projector-finished"))


def test_projector_recovers_from_a_server_restart_by_itself(browser: Any, server: Server) -> None:
    event = _event(server)
    for name in ("Ada", "Bob", "Cy", "Di"):
        _join(server, event["join_code"], name)
    projector = browser.new_context(viewport=WALL).new_page()
    projector.goto(event["links"]["projector"])
    expect(projector.locator("#round-label")).to_contain_text("4 people joined")
    server.kill()
    server.start()  # same port, same database
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/rounds",
        headers={"Authorization": f"Bearer {event['organiser_token']}"},
        json={"expected_index": 1},
    ).raise_for_status()
    # No reload: the stream reconnects (or polling takes over) and shows the round.
    expect(projector.locator("#round-label")).to_have_text("Round 1 of 6", timeout=10_000)
    expect(projector.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
