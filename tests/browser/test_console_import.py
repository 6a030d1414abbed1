"""The console at phone size: importing a guest list (mapping, bad rows, personal links), the
roster's links, and the end of the event (statistics, finish, purge)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
from playwright.sync_api import FilePayload, Page, expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path
from tests.browser.test_pages import PHONE, _check

# A Luma export, plus a column nobody recognises ("Firma": the organisation, in German).
HEADER = "api_id,name,first_name,last_name,email,phone_number,approval_status,Firma\n"
GOOD = (
    HEADER
    + "gst-1,Priya Shah,Priya,Shah,priya@example.org,+44 20 1,approved,Acme Bio\n"
    + "gst-2,Kofi Mensah,Kofi,Mensah,kofi@example.org,,approved,Mensah & Co\n"
)
BAD = (
    HEADER
    + "gst-1,Priya Shah,Priya,Shah,priya@example.org,+44 20 1,approved,Acme Bio\n"
    + "gst-2,Kofi Mensah,Kofi,Mensah,not-an-email,,approved,Mensah & Co\n"
    + "gst-3,,,,someone@example.org,,approved,\n"
)


def _event(server: Server, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events", json={"name": "Imported mixer", **fields}
    ).json()
    return body


def _auth(event: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {event['organiser_token']}"}


def _roster(server: Server, event: dict[str, Any]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = httpx.get(
        f"{server.url}/api/v1/events/{event['id']}/attendees", headers=_auth(event)
    ).json()
    return body


def _choose(page: Page, name: str, text: str) -> None:
    file: FilePayload = {"name": name, "mimeType": "text/csv", "buffer": text.encode()}
    page.set_input_files("#import-file", files=[file])


def test_console_imports_a_guest_list_and_shows_personal_links(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.goto(event["links"]["organiser"])
    expect(page.locator("#summary")).to_contain_text("waiting")

    _choose(page, "guests.csv", GOOD)
    firma = page.locator("#import-columns select[data-column=Firma]")
    expect(firma).to_have_value("ignore")
    expect(page.locator("#import-columns select[data-column=name]")).to_have_value("name")
    expect(page.locator("#import-columns select[data-column=email]")).to_have_value("email")
    expect(page.locator("label[for=map-7]")).to_have_text("Firma")
    expect(page.locator("#map-7-example")).to_have_text("e.g. Acme Bio")
    expect(page.locator("#import-status")).to_contain_text("2 people in guests.csv")
    expect(page.locator("#import-go")).to_have_text("Import 2 people")
    firma.select_option("organisation")
    expect(page.locator("#import-status")).to_contain_text("2 people in guests.csv")

    # A file with bad rows: every bad row listed, no import button, nothing saved, and the
    # corrected mapping is still there.
    _choose(page, "guests-bad.csv", BAD)
    status = page.locator("#import-status")
    expect(status).to_contain_text("2 rows need fixing; nothing was imported.")
    expect(status.locator("li")).to_have_text(
        ["Line 3, email: not an email address", "Line 4, name: must not be empty"]
    )
    expect(page.locator("#import-go")).to_be_hidden()
    expect(firma).to_have_value("organisation")
    assert _roster(server, event) == []
    page.screenshot(path=screenshot_path("console-import-errors-phone"), full_page=True)

    _choose(page, "guests.csv", GOOD)
    expect(firma).to_have_value("organisation")
    page.click("text=Import 2 people")
    done = page.locator("#import-done")
    expect(done.locator("h3")).to_have_text("Imported 2 people")
    expect(done.locator("li")).to_have_count(2)
    expect(done.locator("li").first).to_contain_text(f"{server.url}/me?token=")
    download = done.locator("a", has_text="Download links (CSV)")
    expect(download).to_have_attribute("href", f"/api/v1/events/{event['id']}/export/links.csv")
    expect(page.locator("#import-mapping")).to_be_hidden()

    roster = {a["name"]: a for a in _roster(server, event)}
    assert set(roster) == {"Priya Shah", "Kofi Mensah"}
    assert roster["Priya Shah"]["organisation"] == "Acme Bio"  # the corrected column
    link = roster["Priya Shah"]["link"]
    assert done.locator("li", has_text="Priya Shah").locator("code").inner_text() == link
    token = parse_qs(urlsplit(link).query)["token"][0]
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["attendee"]["name"] == "Priya Shah"

    # The roster: a copy button per imported person; someone who joined on their phone has none.
    httpx.post(
        f"{server.url}/api/v1/join/{event['join_code']}", json={"name": "Phoebe Phone"}
    ).raise_for_status()
    rows = page.locator("#roster tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="Phoebe Phone")).to_contain_text("own phone")
    copy = page.locator("#roster").get_by_role("button", name="Copy link for Priya Shah")
    copy.click()
    expect(page.locator("#roster-message")).to_have_text("Copied the personal link for Priya Shah.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.locator("#import").screenshot(path=screenshot_path("console-import-section-phone"))
    _check(page, "console-import-phone")


def test_console_shows_statistics_then_ends_the_event_and_purges(
    browser: Any, server: Server
) -> None:
    event = _event(server, rounds=1)
    for name in ("Ada", "Bob"):
        httpx.post(
            f"{server.url}/api/v1/join/{event['join_code']}",
            json={"name": name, "answers": {"hobbies": ["jazz"]}},
        ).raise_for_status()
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/rounds",
        headers=_auth(event),
        json={"expected_index": 1},
    ).raise_for_status()
    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto(event["links"]["organiser"])
    expect(page.locator("#stats-rounds tr")).to_have_count(1)
    expect(page.locator("#stats-rounds td")).to_have_text(["1", "1", "0", "1 (100%)"])
    expect(page.locator("#stats-totals")).to_contain_text("All rounds")

    # Not finished yet: the server refuses the purge and says why.
    page.click("#purge")
    expect(page.locator("#after-message")).to_have_text(
        "end the event first: its personal data is still in use"
    )
    assert "cannot be undone" in dialogs[-1]

    page.click("#finish")
    expect(page.locator("#after-message")).to_have_text("The event has ended.")
    expect(page.locator("#summary")).to_contain_text("finished")
    expect(page.locator("#finish")).to_be_disabled()
    expect(page.locator("#retention")).to_contain_text("Personal data will be deleted on")

    page.click("#purge")
    expect(page.locator("#after-message")).to_have_text("Deleted the personal data of 2 people.")
    expect(page.locator("#roster tr")).to_have_count(0)
    expect(page.locator("#stats-rounds tr")).to_have_count(1)
    page.locator("#after").screenshot(path=screenshot_path("console-after-section-phone"))
    _check(page, "console-after-phone")


def test_console_asks_which_column_holds_the_name_when_none_is_recognised(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(event["links"]["organiser"])
    expect(page.locator("#summary")).to_contain_text("waiting")
    _choose(page, "teilnehmer.csv", "Teilnehmer;E-Mail\nGrete Weiss;grete@example.org\n")
    expect(page.locator("#import-status")).to_contain_text("No column was recognised as the name")
    # The other column keeps what the server recognised in it.
    expect(page.locator("#import-columns select[data-column=E-Mail]")).to_have_value("email")
    expect(page.locator("#import-go")).to_be_hidden()
    page.locator("#import-columns select[data-column=Teilnehmer]").select_option("name")
    expect(page.locator("#import-status")).to_contain_text("1 person in teilnehmer.csv")
    page.click("text=Import 1 person")
    expect(page.locator("#import-done h3")).to_have_text("Imported 1 person")
    expect(page.locator("#roster")).to_contain_text("Grete Weiss")
    expect(
        page.locator("#roster").get_by_role("button", name="Copy link for Grete Weiss")
    ).to_be_visible()
