"""The HTML pages, in-process: forms, errors next to fields, cookies, CSRF on cookie writes."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.app.conftest import create_event, join

CREATE_FORM = {
    "name": "Demo <b>night</b>",
    "rounds": "3",
    "talk_minutes": "4",
    "changeover_seconds": "60",
    "group_size": "2",
    "odd": "trio",
    "avoid_same_organisation": "1",
    "tables": "Bar 1, Window 2",
    "label_hobbies": "Outside work I love",
    "suggestions_hobbies": "jazz, hiking",
}


def test_home_offers_the_create_form_with_default_questions(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'action="/events/new"' in page.text
    assert 'value="Outside work I love"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_creating_an_event_shows_links_once_with_a_warning(client: TestClient) -> None:
    page = client.post("/events/new", data=CREATE_FORM)
    assert page.status_code == 201
    assert "Keep the organiser link secret" in page.text
    assert "Demo &lt;b&gt;night&lt;/b&gt;" in page.text  # escaped, never markup
    assert "<svg" in page.text  # the join QR code
    assert page.cookies.get("cg_org")
    code = re.search(r'<strong class="code">(\w+)</strong>', page.text)
    assert code is not None
    assert client.get(f"/join/{code.group(1)}").status_code == 200


def test_invalid_create_form_is_shown_again_with_errors(client: TestClient) -> None:
    page = client.post("/events/new", data={**CREATE_FORM, "name": "", "rounds": "0"})
    assert page.status_code == 422
    assert 'role="alert"' in page.text
    assert 'href="#name"' in page.text
    assert 'href="#rounds"' in page.text
    assert 'value="Bar 1, Window 2"' in page.text  # nothing typed is lost


def test_join_form_errors_sit_next_to_the_field(client: TestClient) -> None:
    event = create_event(client)
    page = client.post(
        f"/join/{event.join_code}",
        data={"name": "Ada", "contact_email": "not-an-email", "free_hobbies": "chess"},
    )
    assert page.status_code == 422
    assert 'class="field-error"' in page.text
    assert "not an email address" in page.text
    assert 'value="chess"' in page.text


def test_joining_by_form_keeps_the_token_in_a_cookie(client: TestClient) -> None:
    event = create_event(client)
    response = client.post(
        f"/join/{event.join_code.lower()}",
        data={"name": "Ada", "answers_hobbies": ["jazz", "hiking"], "free_hobbies": "chess"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    set_cookie = response.headers["set-cookie"]
    assert "cg_token=" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie
    me = client.get("/api/v1/me").json()
    assert me["attendee"]["answers"] == {"hobbies": ["jazz", "hiking", "chess"]}
    assert client.get("/me").status_code == 200


def test_unknown_join_code_page_says_so(client: TestClient) -> None:
    page = client.get("/join/ZZZZZZ")
    assert page.status_code == 404
    assert "No event has this join code" in page.text
    assert (
        client.get("/join", params={"code": " ab cd "}, follow_redirects=False).headers["location"]
        == "/join/ABCD"
    )


def test_personal_link_sets_the_cookie_and_cleans_the_address(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    response = client.get("/me", params={"token": ada.token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    assert client.get("/api/v1/me").json()["attendee"]["name"] == "Ada"
    client.cookies.clear()
    assert client.get("/me", follow_redirects=False).headers["location"] == "/join"
    assert client.get("/me", params={"token": "forged"}).status_code == 401


def test_cookie_writes_need_the_csrf_header_and_this_origin(client: TestClient) -> None:
    event = create_event(client)
    ada = join(client, event, "Ada")
    client.get("/me", params={"token": ada.token})
    body = {"state": "break"}
    assert client.post("/api/v1/me/presence", json=body).status_code == 403
    csrf = {"X-CSRF": "1"}
    assert client.post("/api/v1/me/presence", json=body, headers=csrf).status_code == 200
    evil = {**csrf, "Origin": "https://evil.example"}
    assert client.post("/api/v1/me/presence", json=body, headers=evil).status_code == 403
    # Bearer tokens (no cookie involved) need no CSRF header.
    client.cookies.clear()
    assert client.post("/api/v1/me/presence", json=body, headers=ada.auth).status_code == 200


def test_console_and_projector_pages(client: TestClient) -> None:
    event = create_event(client)
    console = client.get(
        f"/events/{event.id}/console", params={"token": event.token}, follow_redirects=False
    )
    assert console.status_code == 303
    page = client.get(f"/events/{event.id}/console")
    assert page.status_code == 200
    assert f"key={event.projector_key}" in page.text
    projector = client.get(f"/events/{event.id}/projector", params={"key": event.projector_key})
    assert projector.status_code == 200
    assert event.join_code in projector.text
    assert client.get(f"/events/{event.id}/projector").status_code == 401
    client.cookies.clear()
    assert client.get(f"/events/{event.id}/console").status_code == 401


def test_question_labels_kinds_and_suggestions_are_editable(client: TestClient) -> None:
    page = client.post(
        "/events/new",
        data={
            **CREATE_FORM,
            "label_topics": "My department",
            "kind_topics": "different",
            "suggestions_topics": "sales, research",
        },
    )
    assert page.status_code == 201
    link = re.search(r'href="http://test/events/(\w+)/console\?token=([^"]+)"', page.text)
    assert link is not None
    event_id, token = link.groups()
    body = client.get(
        f"/api/v1/events/{event_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    topics = next(q for q in body["questions"] if q["key"] == "topics")
    assert (topics["label"], topics["kind"], topics["suggestions"]) == (
        "My department",
        "different",
        ["sales", "research"],
    )
