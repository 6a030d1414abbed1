"""Addresses: links and QR codes follow the address people used, proxy headers only from
trusted proxies, allowed host names, Secure cookies over HTTPS, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FrozenClock
from app.config import Settings
from app.main import create_app
from app.middleware import HEALTH_PATHS

HEALTH = sorted(HEALTH_PATHS)


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(data_dir=tmp_path, database_url=None).model_copy(update=changes)


@pytest.fixture
def open_client(tmp_path: Path) -> Iterator[TestClient]:
    """No COMMONGROUND_PUBLIC_URL: links come from each request."""
    with TestClient(create_app(_settings(tmp_path), clock=FrozenClock(), tick=False)) as client:
        yield client


def _create(client: TestClient, **headers: str) -> dict[str, Any]:
    response = client.post("/api/v1/events", json={"name": "Venue night"}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_links_name_the_address_the_request_used(open_client: TestClient) -> None:
    body = _create(open_client, host="192.168.1.20:9000")
    for link in body["links"].values():
        assert link.startswith("http://192.168.1.20:9000/"), link
    joined = open_client.post(
        f"/api/v1/join/{body['join_code']}",
        json={"name": "Priya"},
        headers={"host": "venue.local:8080"},
    )
    assert joined.json()["links"]["me"].startswith("http://venue.local:8080/me?token=")


def test_a_configured_public_url_wins_over_the_request(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url="https://mixer.example.org")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        body = _create(client, host="192.168.1.20:9000")
    assert body["links"]["join"] == f"https://mixer.example.org/join/{body['join_code']}"


def test_venue_mode_gives_phones_the_network_address_from_the_laptop_itself(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, lan_url="http://192.168.1.20:8000")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        on_laptop = _create(client, host="127.0.0.1:8000")
        by_name = _create(client, host="localhost:8000")
        from_phone = _create(client, host="192.168.1.20:8000")
        other_name = _create(client, host="mixer.local:8000")
    for body in (on_laptop, by_name, from_phone):
        assert body["links"]["join"].startswith("http://192.168.1.20:8000/join/")
    assert other_name["links"]["join"].startswith("http://mixer.local:8000/join/")


def test_public_url_must_be_an_http_address() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(public_url="mixer.example.org")
    assert Settings(public_url="https://mixer.example.org/").public_url == (
        "https://mixer.example.org"
    )


def test_pages_and_projector_show_the_address_the_organiser_used(
    open_client: TestClient,
) -> None:
    venue = {"host": "10.1.2.3:9000"}
    body = _create(open_client, **venue)
    console = open_client.get(body["links"]["organiser"].split("10.1.2.3:9000")[1], headers=venue)
    assert console.status_code == 200
    assert f"http://10.1.2.3:9000/join/{body['join_code']}" in console.text
    display = open_client.get(
        f"/api/v1/events/{body['id']}/display",
        params={"key": body["projector_key"]},
        headers=venue,
    )
    assert display.json()["join_url"] == f"http://10.1.2.3:9000/join/{body['join_code']}"
    page = open_client.get(
        f"/events/{body['id']}/projector", params={"key": body["projector_key"]}, headers=venue
    )
    assert f"http://10.1.2.3:9000/join/{body['join_code']}" in page.text


def test_created_page_qr_code_encodes_the_request_address(open_client: TestClient) -> None:
    response = open_client.post(
        "/events/new", data={"name": "Venue night"}, headers={"host": "10.1.2.3:9000"}
    )
    assert response.status_code == 201
    assert re.search(r"http://10\.1\.2\.3:9000/join/[A-Z0-9]+", response.text)


def test_forwarded_headers_are_ignored_from_untrusted_clients(open_client: TestClient) -> None:
    # The test client's address ("testclient") is not the trusted proxy (127.0.0.1).
    body = _create(
        open_client,
        host="10.1.2.3:9000",
        **{"x-forwarded-proto": "https", "x-forwarded-host": "evil.example"},
    )
    assert body["links"]["join"].startswith("http://10.1.2.3:9000/")


@pytest.mark.parametrize("trusted", ["*", "10.0.0.0/8", "10.0.0.5"])
def test_forwarded_headers_from_a_trusted_proxy_set_scheme_and_host(
    tmp_path: Path, trusted: str
) -> None:
    settings = _settings(tmp_path, forwarded_allow_ips=trusted)
    app = create_app(settings, clock=FrozenClock(), tick=False)
    with TestClient(app, client=("10.0.0.5", 40000)) as client:
        body = _create(
            client,
            host="app:8000",
            **{"x-forwarded-proto": "https", "x-forwarded-host": "mixer.example.org"},
        )
        assert body["links"]["join"].startswith("https://mixer.example.org/join/")
        # The organiser's cookie is Secure: the browser came over HTTPS.
        created = client.post(
            "/events/new",
            data={"name": "Over HTTPS"},
            headers={"x-forwarded-proto": "https", "x-forwarded-host": "mixer.example.org"},
        )
    assert created.status_code == 201
    cookie = created.headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_cookies_over_plain_http_are_not_secure(open_client: TestClient) -> None:
    created = open_client.post("/events/new", data={"name": "Plain"})
    assert created.status_code == 201
    assert "Secure" not in created.headers["set-cookie"]


def test_other_host_names_get_400_when_allowed_hosts_are_set(tmp_path: Path) -> None:
    settings = _settings(tmp_path, allowed_hosts="mixer.example.org, *.venue.test")
    with TestClient(create_app(settings, clock=FrozenClock(), tick=False)) as client:
        ok = client.get("/", headers={"host": "mixer.example.org"})
        sub = client.get("/", headers={"host": "hall-2.venue.test:8443"})
        bad = client.get("/api/v1/me", headers={"host": "attacker.example"})
        bare = client.get("/", headers={"host": "venue.test"})
        # Docker's health check calls the container by its own address.
        health = [client.get(path, headers={"host": "127.0.0.1:8000"}) for path in HEALTH]
    assert ok.status_code == 200
    assert sub.status_code == 200
    assert bad.status_code == 400
    assert bad.json() == {"detail": "this server does not answer to that host name"}
    assert bare.status_code == 400
    assert [r.status_code for r in health] == [200, 200]


def test_allowed_hosts_judge_the_forwarded_host_of_a_trusted_proxy(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, allowed_hosts="mixer.example.org", forwarded_allow_ips="10.0.0.5"
    )
    app = create_app(settings, clock=FrozenClock(), tick=False)
    with TestClient(app, client=("10.0.0.5", 40000)) as client:
        proxied = client.get(
            "/", headers={"host": "app:8000", "x-forwarded-host": "mixer.example.org"}
        )
    assert proxied.status_code == 200


def test_health_is_from_memory_and_readiness_asks_the_database(open_client: TestClient) -> None:
    live = open_client.get("/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = open_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}


def test_readiness_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), clock=FrozenClock(), tick=False)
    with TestClient(app) as client:
        app.state.db.engine.dispose()
        # A database the server can no longer open: a folder where the file was.
        database = tmp_path / "commonground.db"
        for path in tmp_path.glob("commonground.db*"):
            path.unlink()
        database.mkdir()
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"detail": "database unreachable"}


def test_a_wrong_method_gets_405_with_every_allowed_method(open_client: TestClient) -> None:
    response = open_client.put("/api/v1/me")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def test_allow_names_the_methods_of_the_most_specific_path(open_client: TestClient) -> None:
    body = _create(open_client)
    response = open_client.put(f"/api/v1/events/{body['id']}/attendees/import")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
