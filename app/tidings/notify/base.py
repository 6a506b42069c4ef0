"""The Notifier protocol the apps code against, the null notifier, and the fallback chain.

Contract of every backend (FreedesktopNotifier, PlatformNotifier, the Qt
TrayNotifier): ``start``, ``show`` and ``withdraw`` raise :class:`NotifierError`
when the backend itself fails (no bus, daemon gone, permission denied), after
setting ``state`` to FAILED and ``detail`` to a sentence for a person. They
never raise for a bad notification. :class:`NullNotifier` and
:class:`FallbackNotifier` never raise: they are what an app holds.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tidings.core.errors import TidingsError
from tidings.core.notification import Notification

__all__ = [
    "APP_ID",
    "APP_NAME",
    "ActionHandler",
    "FallbackNotifier",
    "Notifier",
    "NotifierError",
    "NotifierState",
    "NullNotifier",
    "StateListener",
]

logger = logging.getLogger(__name__)

APP_ID = "io.github.tidings.Tidings"
"""The reverse-DNS application id: the desktop entry's name (``<APP_ID>.desktop``), the
freedesktop ``desktop-entry`` hint, so desktops group Tidings' notifications."""
APP_NAME = "Tidings"


class NotifierError(TidingsError):
    """A notification backend failed (not a notification): the fallback chain moves on."""


class NotifierState(enum.Enum):
    OK = "ok"
    FAILED = "failed"
    OFF = "off"


class ActionHandler(Protocol):
    """What the app does when a person acts on a notification. Called on the event loop."""

    def open_url(self, url: str) -> None: ...

    def open_event(self, feed_id: str, rowid: int | None) -> None:
        """A click on a notification without a URL: show the event (or the feed) in the log."""
        ...

    async def mute_feed(self, feed_id: str, seconds: float) -> None: ...

    async def mark_read(self, rowid: int) -> None: ...


class Notifier(Protocol):
    """Shows notifications somewhere. ``name`` says where, for doctor, tray and settings.

    ``name``, ``state`` and ``detail`` are read-only here: plain attributes or properties.
    """

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> NotifierState: ...

    @property
    def detail(self) -> str: ...

    async def start(self) -> None: ...

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None: ...

    async def withdraw(self, replace_key: str) -> None: ...

    async def close(self) -> None: ...


StateListener = Callable[[], None]


@runtime_checkable
class _Observable(Protocol):
    """A backend that can say by itself that it failed (the bus saw the daemon go)."""

    on_state_changed: StateListener | None


class NullNotifier:
    """Shows nothing: notifications are off (or nothing can show them)."""

    def __init__(
        self, *, detail: str = "notifications are off", state: NotifierState = NotifierState.OFF
    ) -> None:
        self.name = "off"
        self.state = state
        self.detail = detail

    async def start(self) -> None:
        return None

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        return None

    async def withdraw(self, replace_key: str) -> None:
        return None

    async def close(self) -> None:
        return None


RETRY_FIRST = 30.0
RETRY_MAX = 900.0


class FallbackNotifier:
    """An ordered chain of backends (native first, the tray balloon last); shows on the first
    one that works.

    - ``start`` starts backends in order and makes the first one that reports OK the
      active one.
    - A backend that fails (at start, at a show, or by itself: the daemon left the bus)
      is left for the next one; the notification being shown is shown there. Each change
      is logged once (a warning) and reported through ``on_state_changed``.
    - Recovery: while a backend earlier in the chain than the active one is down, the
      next ``show`` after a back-off (30 s, doubling up to 15 min) tries to start it
      again; when it answers, it becomes the active one again (logged once, reported).
      Nothing retries on a timer: a quiet app makes no D-Bus calls.
    - When no backend works, ``state`` is FAILED and notifications are dropped (the log
      still has every event); the back-off retries go on at shows.

    ``name`` and ``state`` are the active backend's; ``detail`` also says what failed.
    """

    def __init__(
        self,
        backends: Sequence[Notifier],
        *,
        on_state_changed: StateListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise ValueError("a fallback chain needs at least one backend")
        self._backends = list(backends)
        self.on_state_changed = on_state_changed
        self._clock = clock
        self._active: int | None = None
        self._started: set[int] = set()
        self._down: dict[int, str] = {}
        """Failed backends and why."""
        self._retry_at: dict[int, float] = {}
        self._retry_wait: dict[int, float] = {}
        self._reported: tuple[int | None, NotifierState, str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        for index, backend in enumerate(self._backends):
            if isinstance(backend, _Observable):
                backend.on_state_changed = self._watcher(index)

    # -- the Notifier surface -----------------------------------------------------

    @property
    def backends(self) -> list[Notifier]:
        return list(self._backends)

    @property
    def active(self) -> Notifier | None:
        """The backend that shows notifications now, or None when none works."""
        return None if self._active is None else self._backends[self._active]

    @property
    def name(self) -> str:
        active = self.active
        return active.name if active is not None else self._backends[0].name

    @property
    def state(self) -> NotifierState:
        return NotifierState.OK if self._active is not None else NotifierState.FAILED

    @property
    def detail(self) -> str:
        failed = [f"{self._backends[i].name}: {why}" for i, why in sorted(self._down.items())]
        active = self.active
        if active is None:
            return "no notifier works (" + "; ".join(failed) + ")" if failed else "not started"
        if failed:
            return f"using {active.name}; " + "; ".join(failed)
        return active.detail

    async def start(self) -> None:
        await self._activate_from(0)
        self._report()

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        await self._maybe_recover()
        for _ in range(len(self._backends)):
            index = self._active
            if index is None:
                break
            try:
                await self._backends[index].show(notification, rowid=rowid)
            except NotifierError as exc:
                self._failed(index, str(exc))
                await self._activate_from(index + 1)
            except Exception:
                logger.exception("notifier %s failed on a notification", self.name)
                break
            else:
                break
        self._report()

    async def withdraw(self, replace_key: str) -> None:
        for index in sorted(self._started - self._down.keys()):
            backend = self._backends[index]
            try:
                await backend.withdraw(replace_key)
            except NotifierError as exc:
                self._failed(index, str(exc))
                if index == self._active:
                    await self._activate_from(index + 1)
            except Exception:
                logger.exception("notifier %s failed to withdraw %s", backend.name, replace_key)
        self._report()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for index in sorted(self._started):
            try:
                await self._backends[index].close()
            except Exception:
                logger.exception("closing notifier %s failed", self._backends[index].name)
        self._started.clear()
        self._active = None

    # -- the chain ----------------------------------------------------------------

    async def _start_one(self, index: int) -> bool:
        backend = self._backends[index]
        self._started.add(index)
        try:
            await backend.start()
        except NotifierError as exc:
            self._failed(index, str(exc))
            return False
        except Exception as exc:
            logger.exception("notifier %s crashed at start", backend.name)
            self._failed(index, f"{type(exc).__name__}: {exc}")
            return False
        if backend.state is not NotifierState.OK:
            self._failed(index, backend.detail)
            return False
        self._down.pop(index, None)
        self._retry_at.pop(index, None)
        self._retry_wait.pop(index, None)
        return True

    async def _activate_from(self, first: int) -> None:
        self._active = None
        for index in range(first, len(self._backends)):
            if index in self._started and index not in self._down:
                self._active = index
                return
            if index in self._down and self._clock() < self._retry_at.get(index, 0.0):
                continue  # failed recently: wait for its back-off
            if await self._start_one(index):
                self._active = index
                return

    async def _maybe_recover(self) -> None:
        limit = len(self._backends) if self._active is None else self._active
        now = self._clock()
        for index in range(limit):
            if index not in self._down or now < self._retry_at.get(index, 0.0):
                continue
            if await self._start_one(index):
                self._active = index
                return

    def _failed(self, index: int, why: str) -> None:
        wait = min(RETRY_MAX, self._retry_wait.get(index, RETRY_FIRST / 2) * 2)
        self._retry_wait[index] = wait
        self._retry_at[index] = self._clock() + wait
        self._down[index] = why or "failed"

    def _watcher(self, index: int) -> StateListener:
        def changed() -> None:
            backend = self._backends[index]
            if backend.state is NotifierState.FAILED and index not in self._down:
                self._failed(index, backend.detail)
                if index == self._active:
                    # Move on now, so the tray shows the change before the next notification.
                    task = asyncio.get_running_loop().create_task(self._move_on(index))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    return
            self._report()

        return changed

    async def _move_on(self, index: int) -> None:
        if self._active == index:
            await self._activate_from(index + 1)
        self._report()

    def _report(self) -> None:
        """Log and announce a change of the active backend or its state, once per change."""
        now = (self._active, self.state, self.name)
        if now == self._reported:
            return
        previous, self._reported = self._reported, now
        if previous is None and self._active == 0:
            logger.info("notifications: %s", self.name)
        elif self.state is NotifierState.OK:
            logger.warning("notifications: now %s (%s)", self.name, self.detail)
        else:
            logger.warning("notifications: none work: %s", self.detail)
        if self.on_state_changed is not None:
            try:
                self.on_state_changed()
            except Exception:
                logger.exception("a notifier state listener failed")
