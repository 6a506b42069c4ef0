"""Live settings: one owner of the settings file for a running app.

Both the desktop app and ``run --headless`` keep the feeds in the hub equal to
the feeds in the settings file. Changes come from two sides: the app itself
(a feed added in the editor, a mute from the tray) and a person or another
command editing the file. :class:`LiveSettings` serialises both:

- :meth:`change` re-reads the file, applies the change to what is on disk
  (so an edit made meanwhile is not overwritten: compare before save), saves
  atomically, then applies the difference to the hub;
- :meth:`follow` polls the file's stamp and applies outside edits the same
  way; a half-edited file (one that cannot be saved) is reported and the
  running feeds are kept.

Everything runs on the event loop, one change at a time (an asyncio lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tidings.core.config import Settings, load_settings, save_settings
from tidings.core.errors import ConfigError
from tidings.core.history import HistoryStore, Retention
from tidings.core.hub import Hub

__all__ = ["RETENTION_EVERY_SECONDS", "LiveSettings", "keep_retention"]

logger = logging.getLogger(__name__)

Stamp = tuple[int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


class LiveSettings:
    """The settings of a running app and the hub that follows them."""

    def __init__(
        self,
        path: Path,
        hub: Hub,
        *,
        say: Callable[[str], None] = logger.info,
        on_reload: Callable[[Settings], None] | None = None,
    ) -> None:
        """``say`` reports what changed and each problem of the file; ``on_reload`` sees every
        new :class:`Settings` (after the hub has been brought in line with it)."""
        self._path = path
        self._hub = hub
        self._say = say
        self.on_reload = on_reload
        self._lock = asyncio.Lock()
        self._stamp: Stamp = _stamp(path)
        self.current: Settings = load_settings(path)

    @property
    def path(self) -> Path:
        return self._path

    def report_problems(self, settings: Settings | None = None) -> None:
        for problem in (settings or self.current).problems:
            self._say(f"settings: {problem}")

    async def start(self) -> None:
        """Start the hub on the loaded feeds."""
        self._hub.set_quiet_hours(self.current.quiet_hours)
        await self._hub.start(self.current.feeds)

    async def change(self, change: Callable[[Settings], Settings]) -> Settings:
        """Apply ``change`` to the file as it is now, save it, and bring the hub in line.

        Raises :class:`ConfigError` (nothing saved, nothing changed) when the file on disk has a
        problem that makes it unsafe to rewrite, or when the result cannot be saved.
        """
        async with self._lock:
            fresh = load_settings(self._path)
            if fresh.unsaveable:
                raise ConfigError(
                    f"not changing {self._path}: it has a problem to fix first "
                    f"({fresh.unsaveable}); nothing was changed"
                )
            new = change(fresh)
            save_settings(self._path, new)
            self._stamp = _stamp(self._path)
            await self._adopt(new)
            return new

    async def follow(self, poll: float = 2.0) -> None:
        """Apply outside edits of the file until cancelled (polling: cheap and portable)."""
        while True:
            await asyncio.sleep(poll)
            await self.check()

    async def check(self) -> bool:
        """Apply the file if it changed since last seen; return whether it did."""
        async with self._lock:
            stamp = _stamp(self._path)
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            fresh = load_settings(self._path)
            self.report_problems(fresh)
            if fresh.unsaveable:
                # A half-edited file: keep running what we have, say why once per change.
                return False
            await self._adopt(fresh)
            return True

    async def _adopt(self, new: Settings) -> None:
        old, self.current = self.current, new
        self._hub.set_quiet_hours(new.quiet_hours)
        before = {f.id: f for f in old.feeds}
        after = {f.id: f for f in new.feeds}
        for feed_id in before.keys() - after.keys():
            self._say(f"[{before[feed_id].name}] removed")
            await self._hub.remove(feed_id)
        for feed_id, feed in after.items():
            running = self._hub.feed(feed_id)
            if running is None:
                self._say(f"[{feed.name}] added")
                self._hub.add(feed)
            elif feed != running:
                if replace(feed, retention=running.retention) == running:
                    self._say(f"[{feed.name}] history retention changed")
                else:
                    self._say(f"[{feed.name}] settings changed")
                await self._hub.update(feed)  # rules or retention alone keep the connection
        if self.on_reload is not None:
            self.on_reload(new)


RETENTION_EVERY_SECONDS = 3600.0
"""How often a running app applies the history's retention (and once at start)."""


async def keep_retention(
    store: HistoryStore,
    retention: Callable[[], Retention] = Retention,
    *,
    every: float = RETENTION_EVERY_SECONDS,
) -> None:
    """Apply the history's retention now and every ``every`` seconds until cancelled:
    ``retention()`` is asked each time, so an edit of the settings' ``[history]`` or a feed's
    ``retention`` applies at the next round (default: DESIGN.md's 30 days and 100,000 events
    per feed)."""
    while True:
        try:
            removed = await store.apply_retention(retention())
        except Exception:
            logger.exception("applying the history's retention failed")
        else:
            if removed:
                logger.info("retention removed %d old events", removed)
        await asyncio.sleep(every)
