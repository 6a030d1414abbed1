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
        # Changes delivered per event, so readers can tell whether what they hold is current.
        self._generations: dict[str, int] = {}

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

    def generation(self, event_id: str) -> int:
        return self._generations.get(event_id, 0)

    def _deliver(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self._generations[event_id] = self._generations.get(event_id, 0) + 1
            for queue in list(self._subscribers.get(event_id, ())):
                if queue.empty():
                    queue.put_nowait(None)

    async def start(self) -> None:
        """Start whatever the broker needs (nothing in-process)."""

    async def stop(self) -> None:
        """Stop it."""


class PostgresBroker(Broker):
    """Wakes streams on every worker and replica: writes NOTIFY inside their transaction
    (delivered on commit), and one LISTEN connection per process delivers locally."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def publish(self, event_ids: Iterable[str]) -> None:
        """Nothing to do here: the NOTIFY sent on commit comes back through LISTEN."""

    async def start(self) -> None:
        self.bind(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._listen_forever())
        await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    # After a reconnect, wake everyone: notifications may have been missed.
                    self._deliver(list(self._subscribers))
                    async for notification in connection.notifies():
                        self._deliver([notification.payload])
            except psycopg.OperationalError:
                logger.warning("lost the LISTEN connection; reconnecting in 1 s")
                await asyncio.sleep(1)


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL psycopg takes, from SQLAlchemy's (which names the driver)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
