"""No tokens or keys in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2 as httpx

from app.logs import RedactSecrets, redact
from tests.app.live import running


def test_redact_hides_tokens_and_keys_in_queries() -> None:
    assert redact("GET /me?token=abc123&x=1") == "GET /me?token=[redacted]&x=1"
    assert redact("/display/stream?key=f00d") == "/display/stream?key=[redacted]"
    assert redact("/events/abc") == "/events/abc"


def test_filter_rewrites_access_log_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s"',
        ("1.2.3.4", "GET", "/x?key=s3cret"),
        None,
    )
    RedactSecrets().filter(record)
    assert "s3cret" not in record.getMessage()


def test_server_log_holds_no_secrets(tmp_path: Path) -> None:
    with running(tmp_path, f"sqlite:///{tmp_path / 'logs.db'}") as server:
        event = httpx.post(f"{server.url}/api/v1/events", json={"name": "Logs"}).json()
        joined = httpx.post(
            f"{server.url}/api/v1/join/{event['join_code']}",
            json={"name": "Ada", "contact": {"email": "ada@example.org"}},
        ).json()
        httpx.get(f"{server.url}/api/v1/events/{event['id']}/display?key={event['projector_key']}")
        httpx.get(f"{server.url}/api/v1/me?token={joined['token']}")
        httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {joined['token']}"})
    assert server.log is not None
    text = server.log.read_text()
    assert "display?key=[redacted]" in text
    for secret in (
        event["organiser_token"],
        event["projector_key"],
        joined["token"],
        "ada@example.org",
    ):
        assert secret not in text
