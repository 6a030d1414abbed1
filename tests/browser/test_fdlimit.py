"""A phone refused a live stream (the server at its open-file limit) polls quietly, shows
the round, and takes up the stream again later; the console counts live phones."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from playwright.sync_api import expect

from tests.app.live import Server
from tests.browser.test_pages import PHONE

WATCH_LINK = """
window.linkSaid = [];
new MutationObserver(() => {
  const link = document.getElementById("link");
  if (link && link.textContent) window.linkSaid.push(link.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_a_refused_stream_falls_back_to_polling_without_alarm(browser: Any, server: Server) -> None:
    event = httpx.post(f"{server.url}/api/v1/events", json={"name": "Full room"}).json()
    ada, _bob = (
        httpx.post(f"{server.url}/api/v1/join/{event['join_code']}", json={"name": n}).json()
        for n in ("Ada", "Bob")
    )
    console = browser.new_context(viewport=PHONE).new_page()
    console.goto(event["links"]["organiser"])
    expect(console.locator("#live-phones")).to_contain_text("Live phones: 0")

    phone = browser.new_context(viewport=PHONE).new_page()
    refused: list[str] = []

    def first_refused(route: Any) -> None:
        # As the server answers when a stream would eat into its reserve of open files.
        if not refused:
            refused.append(route.request.url)
            route.fulfill(
                status=503,
                headers={"Retry-After": "30"},
                json={"detail": "no room for another live stream now"},
            )
        else:
            route.continue_()

    phone.route("**/api/v1/me/stream", first_refused)
    # Everything the page ever says about its link to the server.
    phone.add_init_script(WATCH_LINK)
    phone.goto(ada["links"]["me"])
    expect(phone.locator("#status")).to_contain_text("You're in, Ada")
    assert refused
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/rounds",
        headers={"Authorization": f"Bearer {event['organiser_token']}"},
        json={"expected_index": 1},
    ).raise_for_status()
    # Polling shows the round; nothing alarming is said meanwhile.
    expect(phone.locator("#card")).to_contain_text("Bob", timeout=8000)
    expect(phone.locator("#status")).not_to_contain_text("wrong")
    # The stream is tried again by itself (after 2.5 to 7.5 s) and counted on the console.
    expect(console.locator("#live-phones")).to_contain_text("Live phones: 1", timeout=12_000)
    expect(console.locator("#near-limit")).to_be_hidden()
    assert phone.evaluate("window.linkSaid") == []
