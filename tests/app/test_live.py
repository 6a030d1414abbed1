"""Against a real uvicorn: live streams, a restart after SIGKILL, many concurrent joins."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.app.live import EventStream, Server, running, shared_tls


def _event(server: Server, **fields: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/events", json={"name": "Live", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _join(server: Server, code: str, name: str) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/join/{code}", json={"name": name}, timeout=30)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_streams_send_state_on_connect_and_after_a_round_starts(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as server:
        event = _event(server)
        a = _join(server, event["join_code"], "Ada")
        b = _join(server, event["join_code"], "Bob")
        phone = EventStream(f"{server.url}/api/v1/me/stream", _bearer(a["token"]))
        projector = EventStream(
            f"{server.url}/api/v1/events/{event['id']}/display/stream?key={event['projector_key']}"
        )
        console = EventStream(
            f"{server.url}/api/v1/events/{event['id']}/stream", _bearer(event["organiser_token"])
        )
        try:
            assert phone.next_state()["round"] is None
            assert projector.next_state()["status"] == "waiting"
            assert console.next_state()["round"] is None
            started = time.monotonic()
            response = httpx.post(
                f"{server.url}/api/v1/events/{event['id']}/rounds",
                headers=_bearer(event["organiser_token"]),
                json={"expected_index": 1},
            )
            assert response.status_code == 201
            mine = phone.next_state(timeout=3)
            assert mine["round"]["index"] == 1
            assert mine["round"]["partners"][0]["attendee_id"] == b["attendee_id"]
            shown = projector.next_state(timeout=3)
            assert sorted(row["name"] for row in shown["rows"]) == ["Ada", "Bob"]
            assert console.next_state(timeout=3)["round"]["index"] == 1
            assert time.monotonic() - started < 3
            # Heartbeats keep the connection alive between changes.
            assert phone.comments.get(timeout=3) == "heartbeat"
        finally:
            for stream in (phone, projector, console):
                stream.close()


def test_a_stopping_server_cuts_open_streams_after_its_grace(
    tmp_path: Path, database_url: str
) -> None:
    """SIGTERM with a phone still connected: the server lets the stream go after the grace
    period and exits cleanly, instead of waiting for every phone to leave."""
    server = Server(
        data_dir=tmp_path,
        database_url=database_url,
        env={"COMMONGROUND_SHUTDOWN_GRACE_SECONDS": "1"},
    )
    server.start()
    try:
        event = _event(server)
        projector = EventStream(
            f"{server.url}/api/v1/events/{event['id']}/display/stream?key={event['projector_key']}"
        )
        assert projector.next_state()["status"] == "waiting"
        assert server.process is not None
        stopping = time.monotonic()
        server.process.terminate()
        # uvicorn re-raises SIGTERM once it has shut down cleanly.
        assert server.process.wait(timeout=8) in (0, -signal.SIGTERM)
        assert time.monotonic() - stopping < 6
        assert server.log is not None
        assert "Application shutdown complete" in server.log.read_text()
        assert projector.ended.wait(timeout=3)
    finally:
        server.kill()


def test_streams_refuse_bad_credentials_with_json(tmp_path: Path, database_url: str) -> None:
    with running(tmp_path, database_url) as server:
        event = _event(server)
        me = httpx.get(f"{server.url}/api/v1/me/stream", headers=_bearer("forged"))
        assert me.status_code == 401
        assert me.json()["detail"]
        display = httpx.get(
            f"{server.url}/api/v1/events/{event['id']}/display/stream", params={"key": "nope"}
        )
        assert display.status_code == 403


def test_killed_server_restarts_into_the_same_round(tmp_path: Path, database_url: str) -> None:
    server = Server(data_dir=tmp_path, database_url=database_url)
    server.start()
    try:
        event = _event(server)
        for name in ("Ada", "Bob", "Cy"):
            _join(server, event["join_code"], name)
        httpx.post(
            f"{server.url}/api/v1/events/{event['id']}/rounds",
            headers=_bearer(event["organiser_token"]),
            json={"expected_index": 1},
        ).raise_for_status()
        display = f"/api/v1/events/{event['id']}/display?key={event['projector_key']}"
        before = httpx.get(server.url + display).json()
        server.kill()
        server.start()
        after = httpx.get(server.url + display).json()
    finally:
        server.stop()
    assert after["round"]["index"] == 1
    assert after["round"]["phase_ends_at"] == before["round"]["phase_ends_at"]
    assert after["round"]["ends_at"] == before["round"]["ends_at"]
    assert after["rows"] == before["rows"]


def test_three_hundred_concurrent_joins_lose_nothing(tmp_path: Path, database_url: str) -> None:
    with running(tmp_path, database_url) as server:
        event = _event(server)

        def attempt(i: int) -> int:
            # A client (a connection) of its own for each join, on the TLS context they
            # share: one each would cost more CPU than the server spends on the joins.
            response = httpx.post(
                f"{server.url}/api/v1/join/{event['join_code']}",
                json={"name": f"Guest {i}", "answers": {"hobbies": ["jazz"]}},
                timeout=60,
                verify=shared_tls(),
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(attempt, range(300)))
        assert codes == [201] * 300
        roster = httpx.get(
            f"{server.url}/api/v1/events/{event['id']}/attendees",
            headers=_bearer(event["organiser_token"]),
        ).json()
        assert len(roster) == 300
