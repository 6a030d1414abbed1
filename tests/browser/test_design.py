"""The pages designed for the room: a console that fits a laptop's first screen, a projector
readable from the back (one line a person, a page indicator, nothing overlapping at three
screen sizes, 300 people in five pages at most) and a phone that leads (its person and
event on top, the round first, "Stay in touch?" only once the talk is over). Screenshots of
every page at phone, laptop and wall sizes go to test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.app.live import Server
from tests.browser.conftest import screenshot_path
from tests.browser.test_pages import PHONE, WALL, _check

LAPTOP: ViewportSize = {"width": 1366, "height": 900}
SMALL_WALL: ViewportSize = {"width": 1280, "height": 720}
BIG_WALL: ViewportSize = {"width": 3840, "height": 2160}
SIZES = {"phone": PHONE, "laptop": LAPTOP, "wall": WALL}

FIRST = [
    "Ada", "Priya", "Kwame", "Mei", "Lucas", "Amara", "Jonas", "Chloé", "Hiroshi", "Fatima",
    "Björn", "Anastasia", "Diego", "Esther", "Oluwaseun", "Zanele", "Tomasz", "Ingrid", "Ravi",
    "Camila", "Maximilian", "Leila", "Noah", "Sofia", "Dmitri", "Ayesha", "Mateo", "Elif",
    "Kofi", "Grace",
]  # fmt: skip
LAST = [
    "Novak", "Okafor", "Shah", "Mensah", "Tanaka", "Moreau", "Osei", "Berg", "Lindqvist",
    "Kowalski", "García", "Papadopoulou", "Nguyen", "Yilmaz", "Haddad",
]  # fmt: skip


def _names(count: int) -> list[str]:
    """Made-up but realistic names, all different: 30 first names, 15 surnames."""
    return [f"{FIRST[i % 30]} {LAST[(i // 30 + i) % 15]}" for i in range(count)]


def _event(server: Server, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{server.url}/api/v1/events", json={"name": "Harbour Lights mixer", **fields}
    ).json()
    return body


def _auth(event: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {event['organiser_token']}"}


def _join(
    server: Server,
    event: dict[str, Any],
    name: str,
    hobby: str = "jazz",
    *,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """`client`: one for many joins (a new client costs more than the join it sends)."""
    url = f"{server.url}/api/v1/join/{event['join_code']}"
    data = {"name": name, "organisation": "Studio " + name[:1], "answers": {"hobbies": [hobby]}}
    response = httpx.post(url, json=data) if client is None else client.post(url, json=data)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _room(server: Server, event: dict[str, Any], count: int) -> list[dict[str, Any]]:
    hobbies = ["jazz", "hiking", "chess", "cooking", "films", "running"]
    with httpx.Client() as client:
        return [
            _join(server, event, n, hobbies[i % 6], client=client)
            for i, n in enumerate(_names(count))
        ]


def _organiser(server: Server, event: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    httpx.post(
        f"{server.url}/api/v1/events/{event['id']}/{path}", headers=_auth(event), json=body
    ).raise_for_status()


def _in_first_screen(page: Page, selector: str) -> None:
    # Visible first: a live update may be redrawing it (the console's roster is rebuilt
    # when its stream's first state arrives).
    element = page.locator(selector).first
    expect(element).to_be_visible()
    box = element.bounding_box()
    size = page.viewport_size
    assert box is not None, selector
    assert size is not None
    assert box["y"] >= 0, (selector, box)
    assert box["y"] + box["height"] <= size["height"], (selector, box)
    assert box["x"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= size["width"], (selector, box)


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 0.5
        and b["x"] < a["x"] + a["width"] - 0.5
        and a["y"] < b["y"] + b["height"] - 0.5
        and b["y"] < a["y"] + a["height"] - 0.5
    )


# ------------------------------------------------------------------ the console


def test_console_fits_a_laptop_and_shows_only_the_actions_that_apply(
    browser: Any, server: Server
) -> None:
    event = _event(server, rounds=3)
    people = _room(server, event, 40)
    # Someone on a break and someone not arrived yet, for the filters.
    for person, presence in ((people[3], "break"), (people[4], "registered")):
        httpx.patch(
            f"{server.url}/api/v1/events/{event['id']}/attendees/{person['attendee_id']}",
            headers=_auth(event),
            json={"presence": presence},
        ).raise_for_status()
    page = browser.new_context(viewport=LAPTOP, bypass_csp=True).new_page()
    page.goto(event["links"]["organiser"])
    expect(page.locator("#roster tr")).to_have_count(40)
    # The start button and the first row of the roster, both in the first screen.
    expect(page.locator("#start")).to_have_text("Start round 1")
    _in_first_screen(page, "#start")
    _in_first_screen(page, "#roster tr")
    _in_first_screen(page, "#search")
    # Before the start: no pause, resume, extra minute or end.
    for action in ("pause", "resume", "extend", "end_round"):
        expect(page.locator(f"[data-clock={action}]")).to_be_hidden()
    # The preview with its fairness figures, without a click.
    preview = page.locator("#preview-body")
    expect(preview).to_contain_text("Round 1: ", timeout=5000)
    expect(preview).to_contain_text("most meetings with nothing in common: ")
    expect(preview).to_contain_text("Least lucky so far: ")
    _check(page, "design-console-laptop-waiting")

    # Filters and search.
    filters = page.locator(".filters")
    expect(filters.locator("[data-filter=present]")).to_have_text("Here (38)")
    page.click("[data-filter=break]")
    expect(page.locator("#roster tr")).to_have_count(1)
    expect(page.locator("#roster tr")).to_contain_text(_names(40)[3])
    page.click("[data-filter=registered]")
    expect(page.locator("#roster tr")).to_contain_text(_names(40)[4])
    expect(page.locator("#roster tr")).to_contain_text("Not arrived")
    page.click("[data-filter=all]")
    page.fill("#search", "papadopoulou")
    expect(page.locator("#roster tr")).to_have_count(sum("Papadopoulou" in n for n in _names(40)))
    page.fill("#search", "")
    expect(page.locator("#roster tr")).to_have_count(40)

    # The tools open as tabs: one at a time.
    expect(page.locator("#walkup-name")).to_be_visible()
    expect(page.locator("#import-file")).to_be_hidden()
    page.click("[data-panel=links-panel]")
    expect(page.locator("#links-panel .qr svg")).to_be_visible()
    expect(page.locator("#walkup-name")).to_be_hidden()
    page.screenshot(path=screenshot_path("design-console-laptop-links"))

    # Running: pause, a minute more and the end; paused: resume instead of pause.
    page.click("#start")
    expect(page.locator("#clock")).to_contain_text("Round 1 · changeover")
    expect(page.locator("#start")).to_be_hidden()
    expect(page.locator("[data-clock=pause]")).to_be_visible()
    expect(page.locator("[data-clock=resume]")).to_be_hidden()
    expect(page.locator("[data-clock=extend]")).to_be_visible()
    _in_first_screen(page, "[data-clock=pause]")
    _check(page, "design-console-laptop-round")
    page.click("[data-clock=pause]")
    expect(page.locator("[data-clock=resume]")).to_be_visible()
    expect(page.locator("[data-clock=pause]")).to_be_hidden()
    page.click("[data-clock=resume]")
    page.click("[data-clock=end_round]")
    expect(page.locator("#start")).to_have_text("Start round 2")
    expect(page.locator("[data-clock=end_round]")).to_be_hidden()
    # The preview of round 2 counts round 1 in its fairness.
    expect(preview).to_contain_text("Round 2: ", timeout=5000)


def test_console_on_a_phone_is_one_column_with_the_clock_first(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    _room(server, event, 6)
    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto(event["links"]["organiser"])
    expect(page.locator("#roster tr")).to_have_count(6)
    clock = page.locator(".clock-card").bounding_box()
    assert clock is not None
    for other in (".preview-card", ".people-card", "#walkup-panel", "#import", "#after"):
        box = page.locator(other).bounding_box()
        assert box is not None, other
        assert box["y"] > clock["y"], other
        assert abs(box["x"] - clock["x"]) < 2, other  # one column
    _in_first_screen(page, "#start")
    _check(page, "design-console-phone")


# ------------------------------------------------------------------ the projector


def test_projector_forty_people_one_line_each_with_a_page_indicator(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    _room(server, event, 40)
    _organiser(server, event, "rounds", {"expected_index": 1})
    page = browser.new_context(viewport=WALL, bypass_csp=True).new_page()
    page.goto(event["links"]["projector"])
    expect(page.locator("#rows p")).to_have_count(40)
    expect(page.locator("#page")).to_contain_text(re.compile(r"Page 1 of \d"))
    expect(page.locator("#page")).to_be_visible()
    rows = page.locator("#rows p").evaluate_all(
        """rows => rows.map(r => {
            const style = getComputedStyle(r), box = r.getBoundingClientRect();
            return {name: r.dataset.name, height: box.height, size: parseFloat(style.fontSize),
                    line: parseFloat(style.lineHeight), partner: r.querySelector(".w").textContent,
                    cut: [...r.children].some(c => c.scrollWidth > c.clientWidth + 1)};
        })"""
    )
    for row in rows:
        assert row["size"] >= 32, row  # legible from the back of the room
        assert row["height"] < 1.5 * row["line"], row  # a single line
        assert not row["cut"], row  # nothing cut short
        assert re.match(r"^with \w", row["partner"]), row
    # Sorted by first name.
    names = [row["name"] for row in rows]
    assert names == sorted(names, key=lambda n: n.casefold().replace("é", "e").replace("ö", "o"))
    # The countdown has its own place, apart from the phase.
    clock = page.locator("#countdown").bounding_box()
    phase = page.locator("#phase").bounding_box()
    assert clock is not None
    assert phase is not None
    assert not _overlap(clock, phase)
    expect(page.locator("body")).to_have_class(re.compile(r"\bphase-changeover\b"))
    _check(page, "design-projector-40-wall")


def test_projector_three_hundred_people_in_five_pages_nothing_overlapping(
    browser: Any, server: Server
) -> None:
    event = _event(server)
    _room(server, event, 300)
    _organiser(server, event, "rounds", {"expected_index": 1})
    page = browser.new_context(viewport=WALL, bypass_csp=True).new_page()
    # The page's clock runs as usual but can be moved on: no waiting 10 s for a page to turn.
    page.clock.install()
    page.goto(event["links"]["projector"])
    expect(page.locator("#page")).to_contain_text("Page 1 of", timeout=5000)
    # Pages turn by themselves (every 10 s), a line filling until the next one...
    page.clock.run_for(10_000)
    expect(page.locator("#page .of")).to_have_text(re.compile(r"^Page 2 of \d$"), timeout=2000)
    bar = page.locator("#page .progress i")
    assert bar.evaluate("e => getComputedStyle(e).animationName") == "page-progress"
    # ...and stand still for people who ask for less motion.
    page.emulate_media(reduced_motion="reduce")
    assert bar.evaluate("e => getComputedStyle(e).animationName") == "none"
    page.emulate_media(reduced_motion="no-preference")
    for label, size in (("720p", SMALL_WALL), ("1080p", WALL), ("4k", BIG_WALL)):
        page.set_viewport_size(size)
        page.wait_for_timeout(500)  # the layout follows a resize
        count = int(page.locator("#page .of").inner_text().rsplit(" ", 1)[1])
        assert count <= 5, (label, count)
        expect(page.locator("#page .progress")).to_be_visible()
        fixed = {
            sel: page.locator(sel).bounding_box()
            for sel in ("#event-name", "#round-label", "#page", "#sound", ".clock", "#join")
        }
        for sel, box in fixed.items():
            assert box is not None, (label, sel)
            assert box["x"] >= 0, (label, sel)
            assert box["x"] + box["width"] <= size["width"] + 0.5, (label, sel)
            assert box["y"] >= 0, (label, sel)
            assert box["y"] + box["height"] <= size["height"] + 0.5, (label, sel)
        pairs = [(a, b) for a in fixed for b in fixed if a < b]
        for a, b in pairs:
            box_a, box_b = fixed[a], fixed[b]
            assert box_a is not None
            assert box_b is not None
            assert not _overlap(box_a, box_b), (label, a, b)
        seen: list[str] = []
        for turn in range(count):
            rows = page.locator("#rows p").evaluate_all(
                """rows => rows.map(r => {
                    const b = r.getBoundingClientRect();
                    const n = r.querySelector(".n");
                    return {name: r.dataset.name, x: b.x, y: b.y, width: b.width,
                            height: b.height, line: parseFloat(getComputedStyle(r).lineHeight),
                            size: parseFloat(getComputedStyle(r).fontSize),
                            cut: n.scrollWidth > n.clientWidth + 1};
                })"""
            )
            for row in rows:
                assert row["height"] < 1.5 * row["line"], (label, row)
                assert not row["cut"], (label, row)  # a name is never cut short
                if label == "1080p":
                    assert row["size"] >= 32, row
                assert row["x"] + row["width"] <= size["width"], (label, row)
                assert row["y"] + row["height"] <= size["height"], (label, row)
                for sel, box in fixed.items():
                    assert box is not None
                    assert not _overlap(row, box), (label, row, sel)
            seen += [row["name"] for row in rows]
            if turn == 0:
                page.screenshot(path=screenshot_path(f"design-projector-300-{label}"))
            page.evaluate("window.dispatchEvent(new Event('cg-next-page'))")
            page.wait_for_timeout(100)
        assert len(seen) == len(set(seen)) == 300, label


def test_projector_phases_look_different(browser: Any, server: Server) -> None:
    event = _event(server, rounds=1, changeover_seconds=2)
    _room(server, event, 8)
    page = browser.new_context(viewport=WALL, bypass_csp=True).new_page()
    page.goto(event["links"]["projector"])
    expect(page.locator("body")).to_have_class(re.compile(r"\bwaiting\b"))
    page.screenshot(path=screenshot_path("design-projector-waiting-wall"))
    _organiser(server, event, "rounds", {"expected_index": 1})
    colours = {}
    expect(page.locator("body")).to_have_class(re.compile(r"\bphase-changeover\b"))
    colours["changeover"] = page.locator("#phase").evaluate("e => getComputedStyle(e).color")
    page.screenshot(path=screenshot_path("design-projector-changeover-wall"))
    expect(page.locator("body")).to_have_class(re.compile(r"\bphase-talk\b"), timeout=5000)
    expect(page.locator("#phase")).to_have_text("Talk")
    colours["talk"] = page.locator("#phase").evaluate("e => getComputedStyle(e).color")
    page.screenshot(path=screenshot_path("design-projector-talk-wall"))
    _organiser(server, event, "clock", {"action": "pause"})
    expect(page.locator("body")).to_have_class(re.compile(r"\bphase-paused\b"), timeout=3000)
    colours["paused"] = page.locator("#phase").evaluate("e => getComputedStyle(e).color")
    _organiser(server, event, "clock", {"action": "end_round"})
    expect(page.locator("body")).to_have_class(re.compile(r"\bfinished\b"), timeout=3000)
    colours["finished"] = page.locator("#phase").evaluate("e => getComputedStyle(e).color")
    assert len(set(colours.values())) == 4, colours
    _check(page, "design-projector-finished-wall")


# ------------------------------------------------------------------ the phone


def test_phone_leads_and_asks_to_stay_in_touch_only_once_the_talk_is_over(
    browser: Any, server: Server
) -> None:
    event = _event(server, changeover_seconds=60)
    ada, _bob = (_join(server, event, name) for name in ("Ada Novak", "Bob Okafor"))
    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto(ada["links"]["me"])
    expect(page.locator("#whose-name")).to_have_text("Ada Novak")
    _organiser(server, event, "rounds", {"expected_index": 1})
    card = page.locator("#card")
    expect(card).to_contain_text("Meet Bob Okafor", timeout=3000)
    # The changeover of round 1: nobody has talked yet, so no "Stay in touch?".
    expect(page.locator("#countdown-label")).to_have_text("Find your table")
    expect(page.get_by_text(re.compile("Stay in touch"))).to_have_count(0)
    expect(page.locator("#met")).to_be_empty()
    # The name and the event first, then the round: table biggest, then partner, then chips.
    order = [
        page.locator(sel).bounding_box()
        for sel in ("#whose-name", "#card .table", "#card .partner", "#card .chips", "#countdown")
    ]
    tops = [box["y"] for box in order if box is not None]
    assert len(tops) == 5, tops
    assert tops == sorted(tops), tops
    sizes = {
        sel: float(page.locator(sel).evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
        for sel in ("#card .table", "#card .partner", "#countdown", "#countdown-label")
    }
    assert sizes["#card .table"] == max(sizes.values()), sizes
    assert sizes["#countdown-label"] < sizes["#countdown"] < sizes["#card .table"], sizes
    # Big touch targets.
    for i in range(page.locator("#actions button").count()):
        box = page.locator("#actions button").nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= 48, box
        assert box["width"] >= 120, box
    _check(page, "design-me-changeover-phone")

    # The talk is over: now the phone asks, in the card and in the people met.
    _organiser(server, event, "clock", {"action": "end_round"})
    ask = card.get_by_role("button", name="Stay in touch?")
    expect(ask).to_be_visible(timeout=3000)
    expect(card).to_contain_text("You met Bob Okafor")
    expect(page.locator("#met")).to_contain_text("Bob Okafor")
    expect(page.locator("#met button")).to_have_text("Stay in touch?")
    _check(page, "design-me-talk-over-phone")
    ask.click()
    expect(card.get_by_role("button", name="Stay in touch ✓")).to_be_visible()
    expect(page.locator("#met button")).to_have_text("Stay in touch ✓")

    # Round 2 starts: round 1's partner stays in "People you met", with the answer kept.
    _join(server, event, "Cy Berg")
    _organiser(server, event, "rounds", {"expected_index": 2})
    expect(page.locator("#card")).to_contain_text("Round 2 of 6", timeout=3000)
    expect(page.locator("#met")).to_contain_text("Bob Okafor")
    expect(page.locator("#met li")).to_have_count(1)


def test_phone_works_with_text_zoomed_to_two_hundred_percent(browser: Any, server: Server) -> None:
    event = _event(server)
    ada, _bob, _cy = (_join(server, event, n) for n in ("Anastasia Papadopoulou", "Bo Li", "Cy"))
    _organiser(server, event, "rounds", {"expected_index": 1})
    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto(ada["links"]["me"])
    expect(page.locator("#card")).to_contain_text("Table", timeout=3000)
    # The browser's text zoom at 200%: every rem doubles.
    page.add_style_tag(content="html { font-size: 36px !important; }")
    page.wait_for_timeout(300)
    for sel in ("#whose-name", "#card .table", "#card .partner", "#countdown", "#actions button"):
        box = page.locator(sel).first.bounding_box()
        assert box is not None, sel
        assert box["x"] >= 0, (sel, box)
        assert box["x"] + box["width"] <= PHONE["width"] + 0.5, (sel, box)
    _check(page, "design-me-text-200-phone")


# ------------------------------------------------------------------ every page, every size


def test_home_groups_the_form_and_says_what_to_do_next(browser: Any, server: Server) -> None:
    page = browser.new_context(viewport=LAPTOP, bypass_csp=True).new_page()
    page.goto(server.url + "/")
    expect(page.locator(".hero .lead")).to_contain_text("everyone meets someone new")
    expect(page.locator("legend")).to_contain_text(["The basics", "Questions attendees answer"])
    # The default questions are shown; the advanced settings are folded away.
    expect(page.locator(".question summary").first).to_contain_text("Outside work I love")
    expect(page.locator(".question summary").first).to_contain_text("hiking")
    expect(page.locator("#label_hobbies")).to_be_hidden()
    page.click(".question summary >> nth=0")
    expect(page.locator("#label_hobbies")).to_have_value("Outside work I love")
    expect(page.locator("details.advanced")).not_to_have_attribute("open", "")
    expect(page.locator("#tables")).to_be_hidden()
    page.click("summary:has-text('Advanced settings')")
    expect(page.locator("#tables")).to_be_visible()
    page.fill("#name", "Harbour Lights mixer")
    page.click("text=Create the mixer")
    steps = page.locator(".next-steps > li h3")
    expect(steps).to_have_text(
        [
            "Put the projector on the big screen",
            "Keep the organiser link",
            "Run the evening from the console",
        ]
    )


@pytest.mark.parametrize("size_name", list(SIZES))
def test_every_page_before_the_first_round(browser: Any, server: Server, size_name: str) -> None:
    event = _event(server, changeover_seconds=120)
    people = _room(server, event, 40)
    context = browser.new_context(viewport=SIZES[size_name], bypass_csp=True)
    page = context.new_page()
    page.goto(server.url + "/")
    _check(page, f"page-home-{size_name}")
    page.fill("#name", "Harbour Lights mixer")
    page.click("text=Create the mixer")
    _check(page, f"page-created-{size_name}")
    page.goto(f"{server.url}/join/{event['join_code']}")
    _check(page, f"page-join-{size_name}")
    page.goto(event["links"]["organiser"])
    expect(page.locator("#roster tr")).to_have_count(40)
    expect(page.locator("#preview-body")).to_contain_text("Round", timeout=5000)
    _check(page, f"page-console-waiting-{size_name}")
    page.goto(people[0]["links"]["me"])
    expect(page.locator("#status")).to_contain_text("You're in")
    _check(page, f"page-me-waiting-{size_name}")
    page.goto(event["links"]["projector"])
    expect(page.locator("#round-label")).to_contain_text("40 people joined")
    _check(page, f"page-projector-waiting-{size_name}")
    context.close()


@pytest.mark.parametrize("size_name", [*SIZES, "720p", "4k"])
def test_every_page_during_round_one(browser: Any, server: Server, size_name: str) -> None:
    event = _event(server, changeover_seconds=120)
    people = _room(server, event, 40)
    _organiser(server, event, "rounds", {"expected_index": 1})
    size = {**SIZES, "720p": SMALL_WALL, "4k": BIG_WALL}[size_name]
    context = browser.new_context(viewport=size, bypass_csp=True)
    page = context.new_page()
    page.goto(event["links"]["projector"])
    expect(page.locator("#rows p").first).to_be_visible()
    _check(page, f"page-projector-round-{size_name}")
    if size_name in SIZES:
        page.goto(event["links"]["organiser"])
        expect(page.locator("#clock")).to_contain_text("Round 1 · changeover")
        _check(page, f"page-console-round-{size_name}")
        page.goto(people[0]["links"]["me"])
        expect(page.locator("#card")).to_contain_text("Table")
        _check(page, f"page-me-round-{size_name}")
    context.close()
