"""`commonground serve --workers N`: several processes serve one event on PostgreSQL (live
updates cross between them through LISTEN/NOTIFY); SQLite refuses with one line."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.app.conftest import postgres_or_skip
from tests.app.live import EventStream, Server, shared_tls

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "COMMONGROUND_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", "1"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "needs PostgreSQL" in lines[0]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name (field 2) may hold spaces: fields after its ")" are fixed.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _workers(server: Server) -> set[int]:
    """The uvicorn worker processes (the parent's children that serve requests)."""
    assert server.process is not None
    found = set()
    for pid in _children(server.process.pid):
        try:
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                found.add(pid)
        except OSError:
            continue  # gone meanwhile
    return found


def _connections_by_worker(server: Server, workers: set[int]) -> dict[int, int]:
    """How many established connections to the server's port each worker holds."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == server.port and fields[3] == "01":
                established.add(fields[9])
    counts = {}
    for pid in workers:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        counts[pid] = len(inodes & established)
    return counts


def _a_burst_of_connections_is_shared(
    server: Server, workers: set[int], before: dict[int, int], burst: int = 40
) -> None:
    """Connections opened all at once (wrk's, or a room's phones after the wifi came back)
    fall on both workers: each listens on a socket of its own and the kernel spreads them
    (app/loops.py). Waiting on one shared socket, the first worker to wake took a burst of
    them: 48 to 2 and 50 to 0 were seen."""
    sockets = []
    try:
        for _ in range(burst):  # connected by the kernel at once, accepted by the workers
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))

        def accepted() -> dict[int, int]:
            now = _connections_by_worker(server, workers)
            return {pid: now.get(pid, 0) - before.get(pid, 0) for pid in workers}

        _wait_for(lambda: sum(accepted().values()) == burst, 5, f"{burst} accepted connections")
        shares = accepted()
        assert all(share >= burst // 5 for share in shares.values()), shares
    finally:
        for sock in sockets:
            sock.close()


def _post(
    client: httpx.Client, server: Server, path: str, body: dict[str, Any], token: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(f"{server.url}{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _round_index(stream: EventStream, timeout: float) -> int | None:
    """The round the phone shows after its next state message."""
    state = stream.next_state(timeout=timeout)
    return None if state["round"] is None else int(state["round"]["index"])


def test_two_workers_share_one_event_and_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, database_url=postgres_or_skip(), args=["--workers", "2"])
    server.start()
    streams: list[EventStream] = []
    workers: set[int] = set()
    # One client (making one costs more than a request here) that opens a new connection
    # for every request: requests land on both workers, and none rides a killed worker's.
    client = httpx.Client(
        timeout=30, limits=httpx.Limits(max_keepalive_connections=0), verify=shared_tls()
    )
    try:
        _wait_for(lambda: len(_workers(server)) == 2, 20, "two workers")
        workers = _workers(server)
        event = _post(client, server, "/api/v1/events", {"name": "Two workers"})
        organiser = event["organiser_token"]
        phones = [
            _post(client, server, f"/api/v1/join/{event['join_code']}", {"name": f"Guest {i}"})
            for i in range(24)
        ]
        url = f"{server.url}/api/v1/me/stream"
        for phone in phones:
            stream = EventStream(url, {"Authorization": f"Bearer {phone['token']}"})
            assert stream.status == 200
            assert _round_index(stream, timeout=10) is None
            streams.append(stream)
        spread = _connections_by_worker(server, workers)
        assert all(count > 0 for count in spread.values()), f"phones per worker: {spread}"
        _a_burst_of_connections_is_shared(server, workers, spread)

        _post(
            client, server, f"/api/v1/events/{event['id']}/rounds", {"expected_index": 1}, organiser
        )
        assert [_round_index(s, timeout=5) for s in streams] == [1] * len(streams)

        # A write answered by one worker is read back at once, whichever worker reads it:
        # each request on a new connection, so they land on both.
        phone = {"Authorization": f"Bearer {phones[0]['token']}"}
        for state in ["break", "present"] * 10:
            _post(client, server, "/api/v1/me/presence", {"state": state}, phones[0]["token"])
            seen = client.get(f"{server.url}/api/v1/me", headers=phone)
            assert seen.json()["attendee"]["presence"] == state

        # A worker dies: the supervisor starts another, its phones reconnect (as a browser's
        # EventSource does) and see the round they are in.
        victim = max(spread, key=lambda pid: spread[pid])
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: len(w := _workers(server)) == 2 and victim not in w, 30, "a new worker")
        _wait_for(
            lambda: sum(s.ended.is_set() for s in streams) >= spread[victim],
            10,
            "the killed worker's phones to see their streams end",
        )
        cut = [s for s in streams if s.ended.is_set()]
        for stream in cut:
            stream.close()
            again = EventStream(stream.url, stream.headers)
            assert again.status == 200
            assert _round_index(again, timeout=10) == 1
            streams[streams.index(stream)] = again

        # The next round reaches every phone, whichever worker holds it.
        _post(
            client,
            server,
            f"/api/v1/events/{event['id']}/clock",
            {"action": "end_round"},
            organiser,
        )
        _post(
            client, server, f"/api/v1/events/{event['id']}/rounds", {"expected_index": 2}, organiser
        )
        for stream in streams:
            deadline = time.monotonic() + 5
            index = None
            while index != 2 and time.monotonic() < deadline:
                index = _round_index(stream, timeout=max(0.1, deadline - time.monotonic()))
            assert index == 2
    finally:
        client.close()
        for stream in streams:
            stream.close()
        left = _workers(server) | workers
        server.stop()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
