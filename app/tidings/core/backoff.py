"""How long to wait before reconnecting (SSE.md section 5), with injectable time and chance."""

from __future__ import annotations

import email.utils
import random as _random
import time
from collections.abc import Callable

from tidings.core.models import ConnectionPolicy

__all__ = ["Backoff", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), capped.

    Returns ``None`` when the header is missing or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return cap if len(value) > 12 else min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now), cap)


class Backoff:
    """The reconnection time T and the count of consecutive failures.

    After a healthy connection ends cleanly the wait is exactly T. After n
    consecutive failures (n >= 1) it is T + uniform(0, min(cap, T * (2^(n-1) - 1))):
    never sooner than T, growing with jitter. A ``Retry-After`` longer than
    that replaces it.
    """

    def __init__(
        self,
        *,
        policy: ConnectionPolicy,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._random = random
        self._clock = clock
        self.reconnection_time = policy.reconnection_time
        self.failures = 0

    def set_retry_ms(self, retry_ms: int) -> None:
        """Adopt the server's ``retry:`` field, clamped to the policy's floor and ceiling."""
        seconds = retry_ms / 1000
        self.reconnection_time = min(
            max(seconds, self._policy.retry_floor), self._policy.retry_ceiling
        )

    def next_delay(
        self, *, healthy: bool, clean_end: bool, retry_after: str | None = None
    ) -> float:
        """The wait before the next attempt, given how the last connection ended.

        ``healthy``: the connection delivered an event or stayed open for the
        healthy period, which resets the failure count. ``clean_end``: the
        body ended normally (EOF). ``retry_after``: the raw header, if any.
        """
        if healthy:
            self.failures = 0
        t = self.reconnection_time
        if healthy and clean_end:
            delay = t
        else:
            self.failures += 1
            # 2 ** n overflows nothing here: the exponent is bounded first.
            growth = t * (2 ** min(self.failures - 1, 62) - 1)
            delay = t + self._random() * min(self._policy.backoff_cap, growth)
        server_wait = parse_retry_after(
            retry_after, now=self._clock(), cap=self._policy.retry_after_cap
        )
        if server_wait is not None and server_wait > delay:
            delay = server_wait
        return delay
