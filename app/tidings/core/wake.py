"""Reconnect every feed at once when the machine wakes up or the network changes.

After a real suspend, ``time.monotonic()`` (and so asyncio's clock, every
read timeout and every reconnection wait) has not counted the time asleep:
a connection the server dropped meanwhile would only be noticed when the
idle timeout ran out its *remaining* time, up to 90 s after the lid opens.
:class:`ResumeWatcher` notices the wake-up and asks the hub to reconnect
every feed now; each resumes from its cursor with ``Last-Event-ID``.

Three ways in, all ending in one debounced trigger:

- its own ticker (:meth:`ResumeWatcher.run`): every few seconds it compares
  how far the wall clock and the monotonic clock moved since the last tick;
  the wall clock moving much further means the machine slept (a frozen
  process, ``SIGSTOP``, moves both alike and is left to the idle timeout);
- :meth:`ResumeWatcher.system_resumed`, which the platform side calls on the
  OS's own signal (logind's ``PrepareForSleep(false)`` on Linux);
- :meth:`ResumeWatcher.network_changed`, called when the network comes back
  or moves to another interface (Qt's ``QNetworkInformation``).

One wake-up often fires all three within a second or two: the first trigger
reconnects every feed, and a later one inside the debounce window only
skips the feeds' pending reconnection waits (``Hub.wake_all``), so a feed
whose first attempt failed because the network was not up yet tries again
at once instead of backing off. The window is measured on both clocks, so a
trigger just before a suspend never swallows the one after it.

Everything the watcher reads (both clocks, the sleep) is injectable: tests
drive it without suspending anything. It runs on the event loop's thread;
platform adapters call its methods from there (Qt slots, dbus-fast handlers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["ResumeWatcher", "WakeTarget"]

logger = logging.getLogger(__name__)

TICK_SECONDS = 5.0
"""How often the ticker compares the clocks."""
JUMP_SECONDS = 5.0
"""How much further the wall clock must move than the monotonic clock to count as a sleep."""
DEBOUNCE_SECONDS = 10.0
"""Triggers closer than this (on both clocks) to the last reconnect only wake pending waits."""


class WakeTarget(Protocol):
    """What the watcher drives: :class:`~tidings.core.hub.Hub` fits."""

    async def reconnect_all(self) -> None: ...

    def wake_all(self) -> None: ...


class ResumeWatcher:
    """Reconnects every feed of ``hub`` after a suspend or a network change; debounced.

    ``start()`` runs the clock ticker as a task, ``await stop()`` ends it
    (and waits for a reconnect in progress). ``reconnects`` counts the full
    reconnects done, ``wakes`` the debounced triggers that only woke waits.
    """

    def __init__(
        self,
        *,
        hub: WakeTarget,
        tick: float = TICK_SECONDS,
        jump: float = JUMP_SECONDS,
        debounce: float = DEBOUNCE_SECONDS,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if tick <= 0 or jump <= 0 or debounce < 0:
            raise ValueError("tick and jump must be positive, debounce not negative")
        self._hub = hub
        self._tick = tick
        self._jump = jump
        self._debounce = debounce
        self._wall = wall
        self._monotonic = monotonic
        self._sleep = sleep
        self._last: tuple[float, float] | None = None  # (wall, monotonic) of the last reconnect
        self._mark: tuple[float, float] | None = None  # the ticker's last reading
        self._ticker: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._stopped = False
        self.reconnects = 0
        self.wakes = 0

    # -- the triggers -------------------------------------------------------------

    def system_resumed(self, source: str = "system") -> None:
        """The OS says the machine woke up (logind ``PrepareForSleep(false)``)."""
        self._trigger(f"resumed from sleep ({source})")

    def network_changed(self, detail: str = "") -> None:
        """The network came back or changed interface: connections may be dead."""
        self._trigger(f"network changed{f' ({detail})' if detail else ''}")

    def check(self) -> bool:
        """Compare the clocks with the last reading; True (and trigger) when the machine slept.

        The ticker calls this every ``tick`` seconds; the first call only takes a reading.
        """
        now = (self._wall(), self._monotonic())
        mark, self._mark = self._mark, now
        if mark is None:
            return False
        slept = (now[0] - mark[0]) - (now[1] - mark[1])
        if slept < self._jump:
            return False  # includes a wall clock set back, and a frozen process
        self._trigger(f"the clock jumped {slept:.0f} s: the system slept")
        return True

    # -- running ------------------------------------------------------------------

    def start(self) -> None:
        """Start the clock ticker on the running loop (once)."""
        if self._ticker is None:
            self._stopped = False
            self.check()  # the first reading
            self._ticker = asyncio.create_task(self.run(), name="tidings-resume-watcher")

    async def run(self) -> None:
        """Tick until cancelled: sleep ``tick`` seconds, compare the clocks."""
        while True:
            await self._sleep(self._tick)
            try:
                self.check()
            except Exception:  # an injected clock gone wrong must not end the watcher
                logger.exception("the resume watcher failed a check")

    async def stop(self) -> None:
        """End the ticker; wait (bounded) for a reconnect in progress; ignore later triggers."""
        self._stopped = True
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=15.0)

    async def idle(self) -> None:
        """Wait until no reconnect started by a trigger is in progress (tests, shutdown)."""
        while self._jobs:
            await asyncio.wait(set(self._jobs))

    # -- inside -------------------------------------------------------------------

    def _trigger(self, why: str) -> None:
        if self._stopped:
            return
        wall, mono = self._wall(), self._monotonic()
        last = self._last
        recent = (
            last is not None
            and 0 <= wall - last[0] < self._debounce
            and 0 <= mono - last[1] < self._debounce
        )
        if recent or self._jobs:
            # The same wake-up seen again: only end the waits of feeds that already retried.
            self.wakes += 1
            logger.info("%s: waking pending reconnects", why)
            self._hub.wake_all()
            return
        self._last = (wall, mono)
        self._mark = (wall, mono)  # the ticker must not count this jump again
        self.reconnects += 1
        logger.info("%s: reconnecting every feed", why)
        job = asyncio.get_running_loop().create_task(self._reconnect(), name="tidings-wake")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _reconnect(self) -> None:
        try:
            await self._hub.reconnect_all()
        except Exception:
            logger.exception("reconnecting every feed after a wake-up failed")
