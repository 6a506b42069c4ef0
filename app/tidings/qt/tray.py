"""The tray icon and its menu: every feed's status and actions, the last events, quiet mode, quit.

The icon (:mod:`tidings.qt.icons`) and tooltip follow the controller's
signals, coalesced through a zero-delay single-shot timer so a flood of
events re-renders once per loop turn, not once per event. The menu is
rebuilt each time it opens (``aboutToShow``), so it never shows stale
statuses. A left click toggles the window, except on macOS where a click
opens the menu, as users there expect.
"""

from __future__ import annotations

import collections
import heapq
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontMetrics
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from tidings.core.history import StoredEvent
from tidings.core.models import Feed, FeedStatus
from tidings.core.notification import plain_title, strip_bidi_controls
from tidings.core.rules import mute_until_tomorrow
from tidings.core.tray_state import (
    TrayState,
    connected_count,
    is_quiet,
    next_quiet_change,
    tray_state,
)
from tidings.qt.controller import AppController
from tidings.qt.icons import TrayIcons
from tidings.qt.status_text import describe_status

__all__ = ["MENU_TEXT_WIDTH", "RECENT_EVENTS", "Tray", "menu_text"]

RECENT_EVENTS = 5
"""How many of the newest events the menu lists."""
MENU_TEXT_WIDTH = 40
"""Menu entries (event titles, feed names) are elided to about this many average characters."""
MUTE_SECONDS = 3600.0
QUIET_MORNING_HOUR = 8


def menu_text(text: str) -> str:
    """``text`` (a feed name, a server's title) safe as a QAction's text: one line, and an
    ``&`` shown as itself instead of making a mnemonic."""
    return " ".join(strip_bidi_controls(text).split()).replace("&", "&&")


def _opener(controller: AppController, event: StoredEvent) -> Callable[[], None]:
    """A slot without parameters (so Qt passes no ``checked``) that opens ``event`` in the log."""
    return lambda: controller.open_event(event.feed_id, event.rowid)


class Tray(QObject):
    """The system tray icon with its menu. Shows itself when the desktop has a tray."""

    toggle_window_requested = Signal()
    """A left click on the icon (not on macOS): show the log window, or hide it."""

    def __init__(
        self,
        controller: AppController,
        *,
        icons: TrayIcons | None = None,
        clock: Callable[[], float] = time.time,
        platform: str = sys.platform,
    ) -> None:
        super().__init__()
        self._controller = controller
        self._clock = clock
        self._platform = platform
        self.icons = icons or TrayIcons(parent=self)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.setAccessibleName(self.tr("Tidings"))
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_icon_activated)
        self._recent: collections.deque[StoredEvent] = collections.deque(maxlen=RECENT_EVENTS)
        self.state = TrayState.OK
        self.tooltip = ""

        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(0)
        self._update_timer.timeout.connect(self.update_icon)
        # Wakes the icon when a mute or quiet time ends by itself.
        self._quiet_timer = QTimer(self)
        self._quiet_timer.setSingleShot(True)
        self._quiet_timer.timeout.connect(self.update_icon)

        controller.status_changed.connect(self._on_controller_status_changed)
        controller.counts_changed.connect(self._schedule_update)
        controller.feeds_changed.connect(self._schedule_update)
        controller.settings_changed.connect(self._schedule_update)
        controller.notifier_changed.connect(self._schedule_update)
        controller.events_stored.connect(self._on_controller_events_stored)
        self.icons.theme_changed.connect(self._schedule_update)

        self.update_icon()
        self.recent_loaded = controller.tasks.spawn(self._load_recent(), name="tidings-tray-recent")
        """The initial load of the newest events from the history (awaitable in tests)."""
        if self.available:
            self.icon.show()

    # -- showing ---------------------------------------------------------------------

    def show(self) -> None:
        if self.available:
            self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def update_icon(self) -> None:
        """Re-render the icon and the tooltip from the controller's current state (now)."""
        self._update_timer.stop()
        controller = self._controller
        feeds = controller.feeds
        statuses = {f.id: s for f in feeds if (s := controller.status(f.id)) is not None}
        now = self._clock()
        quiet_hours = controller.settings.quiet_hours
        self.state = tray_state(statuses, feeds, is_quiet(feeds, quiet_hours, now))
        unread = controller.total_unread
        self.icon.setIcon(self.icons.icon(self.state, unread))
        self.tooltip = self._tooltip(feeds, statuses, unread)
        self.icon.setToolTip(self.tooltip)
        wake = next_quiet_change(feeds, quiet_hours, now)
        if wake is None:
            self._quiet_timer.stop()
        else:
            self._quiet_timer.start(int(min(wake, 3600.0) * 1000) + 50)

    def _tooltip(self, feeds: Sequence[Feed], statuses: dict[str, FeedStatus], unread: int) -> str:
        if not feeds:
            summary = self.tr("no feeds yet")
        else:
            connected = connected_count(statuses, feeds)
            if connected == len(feeds):
                summary = self._plural("1 feed connected", "%n feeds connected", connected)
            else:
                summary = self._plural(
                    "{connected} of 1 feed connected",
                    "{connected} of %n feeds connected",
                    len(feeds),
                ).format(connected=connected)
        parts = [summary, self.tr("%n unread", "", unread)]
        if self.state is TrayState.ERROR:
            parts.append(self.tr("a feed needs attention"))
        elif self.state is TrayState.PAUSED:
            parts.append(self.tr("paused or quiet"))
        if self._notifications_failed():
            parts.append(self.tr("notifications are not working"))
        return self.tr("Tidings — {details}").format(details=", ".join(parts))

    def _notifications_failed(self) -> bool:
        controller = self._controller
        return controller.app_settings.notifications and controller.notifier_state == "failed"

    def _plural(self, one: str, many: str, n: int) -> str:
        """English needs no translation file for its plural; other languages translate ``many``
        with Qt's numerus forms (``%n``)."""
        return self.tr(one) if n == 1 else self.tr(many, "", n)

    def _schedule_update(self) -> None:
        if not self._update_timer.isActive():
            self._update_timer.start()

    def _on_controller_status_changed(self, _feed_id: str, _status: object) -> None:
        self._schedule_update()

    def _on_controller_events_stored(self, _feed_id: str, events: list[StoredEvent]) -> None:
        self._remember_all(events)

    def _remember(self, event: StoredEvent) -> None:
        self._remember_all([event])

    def _remember_all(self, events: Sequence[StoredEvent]) -> None:
        """Keep the newest RECENT_EVENTS of what was known and ``events`` (a flood's batch costs
        one sort of a few items, not one per event)."""
        newest = heapq.nlargest(RECENT_EVENTS, events, key=lambda e: e.key)
        known = {e.rowid for e in self._recent}
        fresh = [e for e in newest if e.rowid not in known]
        if not fresh:
            return
        items = sorted([*self._recent, *fresh], key=lambda e: e.key, reverse=True)
        self._recent.clear()
        self._recent.extend(items[:RECENT_EVENTS])

    async def _load_recent(self) -> None:
        for event in await self._controller.store.recent(limit=RECENT_EVENTS):
            self._remember(event)

    @property
    def recent(self) -> list[StoredEvent]:
        """The newest events the menu lists, newest first."""
        return list(self._recent)

    # -- clicks ------------------------------------------------------------------------

    def _on_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason is QSystemTrayIcon.ActivationReason.Trigger and self._platform != "darwin":
            self.toggle_window_requested.emit()

    # -- the menu ----------------------------------------------------------------------

    def _on_menu_about_to_show(self) -> None:
        self.rebuild_menu()

    def rebuild_menu(self) -> None:
        """Fill the menu from the current state (called when it is about to open)."""
        menu = self.menu
        for action in menu.actions():
            sub = action.menu()
            if sub is not None:
                sub.deleteLater()
        menu.clear()
        controller = self._controller
        now = self._clock()
        feeds = controller.feeds

        if self._notifications_failed():
            # Why nothing pops up, where the user looks first; the settings say more.
            failed = menu.addAction(self.tr("Notifications are not working…"))
            failed.setToolTip(controller.notifier_detail)
            failed.triggered.connect(self._open_settings)
            menu.addSeparator()
        if feeds:
            for feed in feeds:
                self._add_feed_menu(menu, feed, now)
        else:
            none = menu.addAction(self.tr("No feeds yet"))
            none.setEnabled(False)
            add = menu.addAction(self.tr("&Add a feed…"))
            add.triggered.connect(lambda: self._edit_feed(None))

        menu.addSeparator()
        menu.addSection(self.tr("Recent events"))
        if self._recent:
            metrics = QFontMetrics(menu.font())
            width = metrics.averageCharWidth() * MENU_TEXT_WIDTH
            for event in self._recent:
                text = self._event_text(event)
                elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
                action = menu.addAction(menu_text(elided))
                action.setToolTip(text)
                if not event.read:
                    font = action.font()
                    font.setBold(True)
                    action.setFont(font)
                action.triggered.connect(_opener(controller, event))
        else:
            empty = menu.addAction(self.tr("No events yet"))
            empty.setEnabled(False)

        menu.addSeparator()
        paused = [f for f in feeds if f.paused]
        pause_all = menu.addAction(self.tr("&Pause all"))
        pause_all.setEnabled(len(paused) < len(feeds))
        pause_all.triggered.connect(lambda: self._spawn(controller.set_all_paused(True)))
        resume_all = menu.addAction(self.tr("&Resume all"))
        resume_all.setEnabled(bool(paused))
        resume_all.triggered.connect(lambda: self._spawn(controller.set_all_paused(False)))

        quiet = menu.addMenu(self.tr("&Quiet until…"))
        quiet.setAccessibleName(self.tr("Quiet until"))
        hour = quiet.addAction(self.tr("For &1 hour"))
        hour.triggered.connect(lambda: self._quiet(self._clock() + MUTE_SECONDS))
        morning = quiet.addAction(
            self.tr("Until &tomorrow {time}").format(time=f"{QUIET_MORNING_HOUR:02d}:00")
        )
        morning.triggered.connect(
            lambda: self._quiet(mute_until_tomorrow(self._clock(), hour=QUIET_MORNING_HOUR))
        )
        end = quiet.addAction(self.tr("&End quiet time"))
        end.setEnabled(any(f.rules.muted_at(now) for f in feeds))
        end.triggered.connect(lambda: self._quiet(None))

        menu.addSeparator()
        open_log = menu.addAction(self.tr("Open &log"))
        open_log.triggered.connect(lambda: controller.open_event("", None))
        settings = menu.addAction(self.tr("&Settings…"))
        settings.triggered.connect(self._open_settings)
        menu.addSeparator()
        quit_action = menu.addAction(self.tr("&Quit Tidings"))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(controller.quit)

    def _add_feed_menu(self, menu: QMenu, feed: Feed, now: float) -> None:
        controller = self._controller
        status = controller.status(feed.id)
        described = self.tr("paused") if feed.paused else describe_status(status, now)
        if not feed.paused and feed.rules.muted_at(now):
            described = self.tr("{status}, muted").format(status=described)
        sub = menu.addMenu(
            self.tr("{name} — {status}").format(name=menu_text(feed.name), status=described)
        )
        sub.setAccessibleName(self.tr("Feed {name}").format(name=feed.name))
        unread = controller.unread.get(feed.id, 0)
        if unread:
            count = sub.addAction(self.tr("%n unread", "", unread))
            count.setEnabled(False)
            sub.addSeparator()
        if feed.paused:
            resume = sub.addAction(self.tr("&Resume"))
            resume.triggered.connect(lambda: self._spawn(controller.set_paused(feed.id, False)))
        else:
            pause = sub.addAction(self.tr("&Pause"))
            pause.triggered.connect(lambda: self._spawn(controller.set_paused(feed.id, True)))
        reconnect = sub.addAction(self.tr("Re&connect"))
        reconnect.setEnabled(not feed.paused)
        reconnect.triggered.connect(lambda: self._spawn(controller.reconnect(feed.id)))
        if feed.rules.muted_at(now):
            unmute = sub.addAction(self.tr("&Unmute"))
            unmute.triggered.connect(lambda: self._spawn(controller.unmute(feed.id)))
        else:
            mute = sub.addAction(self.tr("&Mute for 1 hour"))
            mute.triggered.connect(lambda: self._spawn(controller.mute(feed.id, MUTE_SECONDS)))
        sub.addSeparator()
        edit = sub.addAction(self.tr("&Edit…"))
        edit.triggered.connect(lambda: self._edit_feed(feed))
        log = sub.addAction(self.tr("Open its &log"))
        log.triggered.connect(lambda: controller.open_event(feed.id, None))

    def _event_text(self, event: StoredEvent) -> str:
        feed_name = self._controller.feed_name(event.feed_id)
        notification = event.notification
        title = ""
        if notification is not None:
            # Presets without a title of their own use the feed's name: the body says more.
            title = notification.title if notification.title != feed_name else ""
            title = title or notification.body
        title = plain_title((title or event.data)[:500], 500) or self.tr("(empty event)")
        return self.tr("{feed}: {title}").format(feed=feed_name, title=title)

    # -- actions -----------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._controller.tasks.spawn(work)

    def _quiet(self, until: float | None) -> None:
        self._spawn(self._controller.quiet_until(until))

    def _edit_feed(self, feed: Feed | None) -> None:
        from tidings.qt.feed_editor import edit_feed  # noqa: PLC0415 - another window's module

        self._controller.tasks.spawn(edit_feed(self._controller, None, feed))

    def _open_settings(self) -> None:
        from tidings.qt.settings_dialog import open_settings  # noqa: PLC0415

        self._controller.tasks.spawn(open_settings(self._controller, None))
