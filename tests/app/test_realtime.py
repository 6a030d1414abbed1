"""The broker: in-process wake-ups, and PostgreSQL LISTEN/NOTIFY across servers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx2 as httpx
from fastapi.testclient import TestClient

from app.realtime import Broker
from tests.app.conftest import create_event, join, postgres_or_skip
from tests.app.live import EventStream, Server


def test_publish_from_another_thread_wakes_subscribers_of_that_event_only() -> None:
    async def scenario() -> tuple[bool, bool]:
        broker = Broker()
        broker.bind(asyncio.get_running_loop())
        async with broker.subscribe("e1") as one, broker.subscribe("e2") as two:
            thread = threading.Thread(target=broker.publish, args=(["e1"],))
            thread.start()
            thread.join()
            await asyncio.wait_for(one.get(), timeout=1)
            return one.empty(), two.empty()

    assert asyncio.run(scenario()) == (True, True)


def test_wake_ups_coalesce_and_subscriptions_are_cleaned_up() -> None:
    async def scenario() -> tuple[int, int, int]:
        broker = Broker()
        async with broker.subscribe("e1") as queue:
            for _ in range(5):
                broker.publish(["e1"])
            pending = queue.qsize()
            during = broker.subscriber_count("e1")
        return pending, during, broker.subscriber_count("e1")

    # Five changes while a stream is busy: it re-reads the state once, not five times.
    assert asyncio.run(scenario()) == (1, 1, 0)


def test_a_change_on_one_server_reaches_streams_on_another(tmp_path: Path) -> None:
    url = postgres_or_skip()
    first = Server(data_dir=tmp_path / "a", database_url=url)
    second = Server(data_dir=tmp_path / "b", database_url=url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        # Both start up at once.
        first.launch()
        second.launch()
        first.wait_until_up()
        second.wait_until_up()
        event = httpx.post(f"{first.url}/api/v1/events", json={"name": "Two workers"}).json()
        tokens = [
            httpx.post(f"{first.url}/api/v1/join/{event['join_code']}", json={"name": name}).json()[
                "token"
            ]
            for name in ("Ada", "Bob")
        ]
        phone = EventStream(
            f"{first.url}/api/v1/me/stream", {"Authorization": f"Bearer {tokens[0]}"}
        )
        try:
            assert phone.next_state()["round"] is None
            httpx.post(
                f"{second.url}/api/v1/events/{event['id']}/rounds",
                headers={"Authorization": f"Bearer {event['organiser_token']}"},
                json={"expected_index": 1},
            ).raise_for_status()
            assert phone.next_state(timeout=3)["round"]["index"] == 1
        finally:
            phone.close()
    finally:
        first.stop()
        second.stop()


def test_snapshot_is_shared_until_the_event_changes(client: TestClient) -> None:
    from app.services.snapshot import SnapshotCache

    event = create_event(client)
    join(client, event, "Ada")
    app = client.app
    generations = {"value": 0}
    cache = SnapshotCache(app.state.db, lambda _event_id: generations["value"])  # type: ignore[attr-defined]
    first = cache.get(event.id)
    assert cache.get(event.id) is first
    join(client, event, "Bob")
    assert len(cache.get(event.id).people) == 1  # no change delivered yet: still shared
    generations["value"] += 1
    fresh = cache.get(event.id)
    assert fresh is not first
    assert sorted(p.name for p in fresh.people.values()) == ["Ada", "Bob"]
