"""The broker: wakes the live streams of an event when it changes.

In-process by default. On PostgreSQL, changes also travel through LISTEN/NOTIFY so that
every worker or replica serving the event wakes its own streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

logger = logging.getLogger(__name__)

CHANNEL = "commonground_events"


class Broker:
    """Subscribers per event; a publish from any thread wakes them on the event loop.

    A wake-up carries no data: each stream re-reads its own view of the state, so a
    subscriber that misses several wake-ups still sends the latest state once.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @contextlib.asynccontextmanager
    async def subscribe(self, event_id: str) -> AsyncIterator[asyncio.Queue[None]]:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._subscribers.setdefault(event_id, set()).add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(event_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[event_id]

    def subscriber_count(self, event_id: str) -> int:
        return len(self._subscribers.get(event_id, ()))

    def publish(self, event_ids: Iterable[str]) -> None:
        """Wake the streams of these events (callable from any thread)."""
        ids = list(event_ids)
        if not ids or self._loop is None or self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(ids)
        else:
            self._loop.call_soon_threadsafe(self._deliver, ids)

    def _deliver(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            for queue in list(self._subscribers.get(event_id, ())):
                if queue.empty():
                    queue.put_nowait(None)

    async def start(self) -> None:
        """Start whatever the broker needs (nothing in-process)."""

    async def stop(self) -> None:
        """Stop it."""
