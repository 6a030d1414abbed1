"""Rate limits per client address: joins, and failed token or join-code lookups.

Limits are generous enough that a whole venue behind one NAT address gets in (300 people
joining within a minute), and tight enough to make guessing tokens hopeless.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import TooMany


class RateLimits:
    def __init__(self, *, joins_per_minute: int, failures_per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._joins = RateLimitItemPerMinute(joins_per_minute)
        self._failures = RateLimitItemPerMinute(failures_per_minute)

    def join(self, client: str) -> None:
        if not self._limiter.hit(self._joins, "join", client):
            raise TooMany("too many joins from this address; wait a minute and try again")

    def check_failures(self, client: str) -> None:
        """Refuse a client that has failed too many lookups recently."""
        if not self._limiter.test(self._failures, "fail", client):
            raise TooMany("too many failed attempts from this address; wait a minute")

    def failed(self, client: str) -> None:
        self._limiter.hit(self._failures, "fail", client)
