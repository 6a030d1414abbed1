"""A real server for tests that the in-process client cannot do: uvicorn in a subprocess on
a random loopback port, and a Server-Sent Events reader."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import resource
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2 as httpx


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """One TLS context for the clients of these plain-HTTP servers: a client that makes its
    own spends some 20 ms of CPU on it, more than the requests it sends here."""
    return ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    data_dir: Path
    database_url: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    # More `commonground serve` arguments, e.g. ["--workers", "2"].
    args: list[str] = field(default_factory=list)
    # The server's open-file limit (soft, hard), set in the child before it starts.
    files: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_until_up()

    def launch(self) -> None:
        """Start the process without waiting for it: servers started together start up
        at the same time."""
        env = {
            **os.environ,
            "COMMONGROUND_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "COMMONGROUND_PUBLIC_URL": self.url,
            "COMMONGROUND_HEARTBEAT_SECONDS": "0.5",
            "COMMONGROUND_TICK_SECONDS": "0.2",
            **self.env,
        }
        self.log = self.data_dir / f"server-{self.port}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=None if self.files is None else partial(_limit_files, self.files),
            )

    def wait_until_up(self) -> None:
        """Until /healthz answers 200; raises if the process exits first or after 30 s."""
        assert self.process is not None
        assert self.log is not None
        deadline = time.monotonic() + 30
        # One client for all the polls (not one each, whose CPU the server starting up needs).
        with httpx.Client(timeout=1, verify=shared_tls()) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash or a pulled plug."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _limit_files(limits: tuple[int, int]) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


@contextlib.contextmanager
def running(data_dir: Path, database_url: str) -> Iterator[Server]:
    server = Server(data_dir=data_dir, database_url=database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class EventStream:
    """Reads an SSE stream in a thread; `next_state()` waits for the next `state` event."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.status: int | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        # Set when the stream ends: closed here, or cut by the server.
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise TimeoutError(f"no response from {url}")

    def _run(self) -> None:
        try:
            self._read()
        except httpx.TransportError:
            pass  # the server cut the stream (it stopped); `ended` says so
        finally:
            self.ended.set()

    def _read(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=None), verify=shared_tls()) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            self.status = response.status_code
            self._ready.set()
            if response.status_code != 200:
                return
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line == "":
                    if "data" in fields:
                        self.events.put(
                            {
                                "event": fields.get("event", "message"),
                                "data": json.loads(fields["data"]),
                            }
                        )
                    fields = {}
                elif line.startswith(":"):
                    self.comments.put(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    def next_state(self, timeout: float = 5.0) -> dict[str, Any]:
        event = self.events.get(timeout=timeout)
        data: dict[str, Any] = event["data"]
        return data

    def close(self) -> None:
        self._stop.set()
