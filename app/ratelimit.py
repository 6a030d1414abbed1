"""Rate limits per client address: joins, and failed token or join-code lookups.

Limits are generous enough that a whole venue behind one NAT address gets in (300 people
joining within a minute), and tight enough to make guessing tokens hopeless.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from app.errors import TooMany


class MovingWindow:
    """At most `limit` hits per client in any `window` seconds; a refused hit is not counted.

    (The `limits` package's memory storage, used before, started a timer thread to expire
    entries whenever its last one had finished: under a room joining at once, a new thread
    every 10 ms, a third of a join's time on the event loop.)"""

    # Clients remembered before the ones with no recent hit are swept out.
    SWEEP_AT = 10_000

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self._limit = limit
        self._window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._recent(client, now)
            if hits is None:
                if len(self._hits) >= self.SWEEP_AT:
                    for other in list(self._hits):
                        self._recent(other, now)
                hits = self._hits[client] = deque()
            if len(hits) >= self._limit:
                return False
            hits.append(now)
            return True

    def test(self, client: str) -> bool:
        """Whether a hit now would be allowed (nothing is counted)."""
        with self._lock:
            hits = self._recent(client, time.monotonic())
            return hits is None or len(hits) < self._limit

    def _recent(self, client: str, now: float) -> deque[float] | None:
        hits = self._hits.get(client)
        if hits is None:
            return None
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if not hits:
            del self._hits[client]
            return None
        return hits


class RateLimits:
    def __init__(self, *, joins_per_minute: int, failures_per_minute: int) -> None:
        self._joins = MovingWindow(joins_per_minute)
        self._failures = MovingWindow(failures_per_minute)

    def join(self, client: str) -> None:
        if not self._joins.hit(client):
            raise TooMany("too many joins from this address; wait a minute and try again")

    def check_failures(self, client: str) -> None:
        """Refuse a client that has failed too many lookups recently."""
        if not self._failures.test(client):
            raise TooMany("too many failed attempts from this address; wait a minute")

    def failed(self, client: str) -> None:
        self._failures.hit(client)
