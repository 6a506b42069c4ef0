"""The app's one controller: what every window, menu and dialog asks of the running app.

It turns the hub's sink calls into Qt signals (on the loop's thread: the hub
runs on qasync's loop, so no thread hop is needed) and offers the actions the
UI needs as coroutines. Business rules stay in :mod:`tidings.core`; this class
only wires them to Qt. Widgets get the controller as a constructor argument
and never build core objects themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from tidings.core.config import Settings, new_feed_id
from tidings.core.demo import DemoServer
from tidings.core.errors import SecretStoreError
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.live import LiveSettings
from tidings.core.models import MUTED_FOREVER, AppSettings, Feed, FeedStatus, QuietHours
from tidings.core.notification import Notification, safe_url
from tidings.core.paths import Paths
from tidings.core.redact import KnownSecrets
from tidings.core.rules import muted, unmuted
from tidings.core.secrets import SecretStore, auth_slot, header_slot
from tidings.qt.loop import TaskKeeper

__all__ = ["DEMO_FEED_ID", "AppController"]

logger = logging.getLogger(__name__)

COUNTS_EVERY_MS = 100
"""How often, at most, new events make the unread counts redraw."""

DEMO_FEED_ID = "demo"
"""The built-in demo feed's id: it runs for this session only and is never saved."""


class AppController(QObject):
    """The running app, as the UI sees it."""

    events_stored = Signal(str, list)
    """(feed id, list of StoredEvent): a batch was stored (with its decisions)."""
    summary_updated = Signal(str, object)
    """(feed id, Notification): a flood or backlog summary changed."""
    status_changed = Signal(str, object)
    """(feed id, FeedStatus)."""
    feeds_changed = Signal()
    """A feed was added, removed or edited (names, rules, pause...)."""
    counts_changed = Signal()
    """Unread counts may have changed: read :attr:`unread` (refreshed first)."""
    settings_changed = Signal()
    """The ``[app]`` settings, quiet hours or retention changed."""
    notifier_changed = Signal()
    """The notification backend or its state changed."""
    show_log_requested = Signal(str, int)
    """(feed id or "", rowid or -1): bring the log window forward at that event."""
    show_window_requested = Signal()
    """Bring the main window forward (a second launch, a click on the tray icon...)."""
    error_raised = Signal(str)
    """A message for the user about something that failed in the background."""

    def __init__(
        self,
        *,
        paths: Paths,
        store: HistoryStore,
        hub: Hub,
        live: LiveSettings,
        secrets: SecretStore,
        known: KnownSecrets,
        request_quit: Callable[[], None],
        clock: Callable[[], float] = time.time,
        open_url: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.store = store
        self.hub = hub
        self.live = live
        self.secrets = secrets
        self.known = known
        self.tasks = TaskKeeper()
        self._request_quit = request_quit
        self._clock = clock
        self._open_url = open_url or (lambda url: QDesktopServices.openUrl(QUrl(url)))
        self.unread: dict[str, int] = {}
        self.last_event_at: dict[str, float] = {}
        self.transient: dict[str, Feed] = {}
        self._quiet_ends: float | None = None
        """When the quiet time this session set ends (``None``: none set, or not known)."""
        self.demo_server: DemoServer | None = None
        """The built-in demo source, once started (``--demo`` or the welcome page)."""
        """Feeds that run for this session only (the demo), never written to the settings."""
        self.notifier_name = "off"
        self.notifier_state = "off"
        """``ok``, ``failed`` or ``off`` (tidings.notify.NotifierState values)."""
        self.notifier_detail = ""
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(COUNTS_EVERY_MS)
        self._counts_timer.timeout.connect(self.counts_changed.emit)
        hub.add_sink(_HubBridge(self))

    # -- what the UI reads -------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.live.current

    @property
    def app_settings(self) -> AppSettings:
        return self.live.current.app

    @property
    def feeds(self) -> list[Feed]:
        """Every feed the hub runs, in the settings' order, then the session-only ones."""
        running = {f.id: f for f in self.hub.feeds}
        ordered = [running.get(f.id, f) for f in self.live.current.feeds]
        return ordered + [running.get(f.id, f) for f in self.transient.values()]

    def feed(self, feed_id: str) -> Feed | None:
        return self.hub.feed(feed_id) or self.live.current.feed(feed_id)

    def status(self, feed_id: str) -> FeedStatus | None:
        return self.hub.statuses.get(feed_id)

    def feed_name(self, feed_id: str) -> str:
        feed = self.feed(feed_id)
        return feed.name if feed is not None else feed_id

    @property
    def total_unread(self) -> int:
        return sum(self.unread.get(f.id, 0) for f in self.feeds)

    # -- hub sink (called on the loop by the hub) ---------------------------------------

    def on_events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        if events:
            self.last_event_at[feed.id] = max(e.received_at for e in events)
            self.unread[feed.id] = self.unread.get(feed.id, 0) + sum(
                1 for e in events if not e.read
            )
        self.events_stored.emit(feed.id, list(events))
        # A flood stores hundreds of batches a second: counts are redrawn at most every
        # COUNTS_EVERY_MS (the feeds panel, tray and status bar repaint on this signal).
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def on_status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.status_changed.emit(feed.id, status)

    def on_summary_updated(self, feed: Feed, notification: Notification) -> None:
        self.summary_updated.emit(feed.id, notification)

    # -- actions -----------------------------------------------------------------------

    async def refresh_counts(self) -> None:
        self.unread = await self.store.unread_counts()
        for feed in self.feeds:
            if feed.id not in self.last_event_at:
                newest = await self.store.recent(feed.id, limit=1)
                if newest:
                    self.last_event_at[feed.id] = newest[0].received_at
        self.counts_changed.emit()

    async def add_feed(self, feed: Feed, secrets: Mapping[str, str] | None = None) -> Feed:
        """Save a new feed (its secrets first, into the keyring) and start it."""
        if not feed.id:
            feed = replace(feed, id=new_feed_id())
        await self._store_secrets(feed.id, secrets or {})
        await self.live.change(lambda s: s.with_feed(feed))
        self.feeds_changed.emit()
        return feed

    async def save_feed(self, feed: Feed, secrets: Mapping[str, str] | None = None) -> None:
        """Save an edited feed; a secret given replaces the stored one, an empty one deletes it."""
        await self._store_secrets(feed.id, secrets or {})
        if feed.id in self.transient:
            self.transient[feed.id] = feed
            await self.hub.update(feed)
        else:
            await self.live.change(lambda s: s.with_feed(feed))
        self.feeds_changed.emit()

    async def _store_secrets(self, feed_id: str, secrets: Mapping[str, str]) -> None:
        for slot, value in secrets.items():
            if value:
                self.known.add(value)
                await self.secrets.set(feed_id, slot, value)
            else:
                await self.secrets.delete(feed_id, slot)

    async def remove_feed(self, feed_id: str, *, forget_history: bool = False) -> None:
        """Remove a feed, and its secrets from the keyring (as ``tidings feeds remove`` does);
        its history stays unless ``forget_history``."""
        feed = self.feed(feed_id)
        if feed_id in self.transient:
            del self.transient[feed_id]
            await self.hub.remove(feed_id)
        else:
            await self.live.change(lambda s: s.with_feeds([f for f in s.feeds if f.id != feed_id]))
        if forget_history:
            await self.store.forget_feed(feed_id)
        self.unread.pop(feed_id, None)
        self.feeds_changed.emit()
        self.counts_changed.emit()
        if feed is not None:
            await self._forget_secrets(feed)

    async def _forget_secrets(self, feed: Feed) -> None:
        # Every slot the feed may have used, not only the ones its settings name now.
        slots = dict.fromkeys([auth_slot(), *(header_slot(h.name) for h in feed.headers)])
        for slot in slots:
            try:
                await self.secrets.delete(feed.id, slot)
            except SecretStoreError as exc:
                self.error_raised.emit(
                    self.tr(
                        "The secrets of “{name}” could not be deleted from the keyring: {error}"
                    ).format(name=feed.name, error=exc)
                )
                return

    async def set_paused(self, feed_id: str, paused: bool) -> None:
        await self._edit_feed(feed_id, lambda f: replace(f, paused=paused))

    async def reconnect(self, feed_id: str) -> None:
        await self.hub.reconnect(feed_id)

    async def mute(self, feed_id: str, seconds: float | None) -> None:
        """Mute a feed for ``seconds`` (``None``: until unmuted); events are still logged."""
        until = None if seconds is None else self._clock() + seconds
        await self._edit_feed(feed_id, lambda f: replace(f, rules=muted(f.rules, until)))

    async def unmute(self, feed_id: str) -> None:
        await self._edit_feed(feed_id, lambda f: replace(f, rules=unmuted(f.rules)))

    async def set_all_paused(self, paused: bool) -> None:
        ids = {f.id for f in self.feeds}
        await self._edit_all(lambda f: replace(f, paused=paused) if f.id in ids else f)

    async def quiet_until(self, until: float | None) -> None:
        """Mute every feed until ``until`` (``None``: end the quiet time now).

        A feed muted for longer already keeps its own mute. Ending the quiet time lifts the
        mutes it set: those ending when it ends (when this session set it), or every timed
        mute (after a restart, when that moment is not known); a mute "until unmuted" stays.
        """
        ending = self._quiet_ends

        def quiet(feed: Feed) -> Feed:
            current = feed.rules.muted_until
            if until is None:
                if current is None or current == MUTED_FOREVER:
                    return feed
                if ending is None or abs(current - ending) <= 1:
                    return replace(feed, rules=unmuted(feed.rules))
                return feed
            if current is not None and current >= until:
                return feed
            return replace(feed, rules=muted(feed.rules, until))

        await self._edit_all(quiet)
        self._quiet_ends = until

    async def save_app_settings(self, app: AppSettings) -> None:
        await self.live.change(lambda s: s.with_app(app))
        self.settings_changed.emit()

    async def save_quiet_hours(self, quiet_hours: QuietHours) -> None:
        await self.live.change(lambda s: s.with_quiet_hours(quiet_hours))
        self.settings_changed.emit()

    async def mark_read(self, rowids: Sequence[int], *, read: bool = True) -> None:
        await self.store.mark_read(rowids, read=read)
        await self.refresh_counts()

    async def mark_all_read(self, feed_id: str | None = None) -> None:
        if feed_id is None:
            await self.store.mark_all_read()
        else:
            await self.store.mark_feed_read(feed_id)
        await self.refresh_counts()

    async def delete_events(self, rowids: Sequence[int]) -> None:
        await self.store.delete(rowids)
        await self.refresh_counts()

    def open_url(self, url: str) -> bool:
        """Open an http(s) URL in the browser; anything else is refused (and logged)."""
        safe = safe_url(url)
        if not safe:
            logger.warning("refused to open a URL that is not http(s)")
            return False
        return bool(self._open_url(safe))

    def open_event(self, feed_id: str, rowid: int | None) -> None:
        self.show_log_requested.emit(feed_id, -1 if rowid is None else rowid)

    def set_notifier_info(self, name: str, state: str, detail: str) -> None:
        """The notification backend in use and its state, for the tray and the settings."""
        if (name, state, detail) != (self.notifier_name, self.notifier_state, self.notifier_detail):
            self.notifier_name, self.notifier_state, self.notifier_detail = name, state, detail
            self.notifier_changed.emit()

    def show_window(self) -> None:
        self.show_window_requested.emit()

    def quit(self) -> None:
        """End the app: the main coroutine stops the hub and closes the store, then Qt exits."""
        self._request_quit()

    async def _edit_all(self, change: Callable[[Feed], Feed]) -> None:
        """Apply ``change`` to every feed: the saved ones through the settings file, the
        session-only ones in the hub."""
        await self.live.change(lambda s: s.with_feeds([change(f) for f in s.feeds]))
        for feed_id, feed in list(self.transient.items()):
            self.transient[feed_id] = change(feed)
            await self.hub.update(self.transient[feed_id])
        self.feeds_changed.emit()

    async def _edit_feed(self, feed_id: str, change: Callable[[Feed], Feed]) -> None:
        if feed_id in self.transient:
            self.transient[feed_id] = change(self.transient[feed_id])
            await self.hub.update(self.transient[feed_id])
        else:
            await self.live.change(
                lambda s: s.with_feeds([change(f) if f.id == feed_id else f for f in s.feeds])
            )
        self.feeds_changed.emit()


class _HubBridge:
    """The hub's sink: forwards to the controller, whose signal names are taken by the signals."""

    def __init__(self, controller: AppController) -> None:
        self._controller = controller

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        self._controller.on_events_stored(feed, events)

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self._controller.on_status_changed(feed, status)

    def summary_updated(self, feed: Feed, notification: Notification) -> None:
        self._controller.on_summary_updated(feed, notification)
