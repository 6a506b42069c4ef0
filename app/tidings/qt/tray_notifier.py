"""The last-resort notifier: the tray icon's balloon (``QSystemTrayIcon.showMessage``).

No buttons, no replace, no withdraw: Qt's API has none (and through D-Bus it
registers no action at all, so on some desktops a click does nothing). A click
on the balloon, where Qt reports it (``messageClicked``), opens the last shown
notification's URL, or its event in the log. The text is passed as plain text.
"""

from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon

from tidings.core.notification import Notification, Urgency
from tidings.notify.base import ActionHandler, NotifierError, NotifierState
from tidings.notify.dispatch import DEFAULT, Actions

__all__ = ["TrayNotifier", "urgency_icon"]

BALLOON_MS = 10_000


def urgency_icon(urgency: Urgency) -> QSystemTrayIcon.MessageIcon:
    """The balloon's icon for an urgency (Qt has no "low": it shows as information)."""
    if urgency is Urgency.CRITICAL:
        return QSystemTrayIcon.MessageIcon.Critical
    return QSystemTrayIcon.MessageIcon.Information


class TrayNotifier:
    """Notifications as tray balloons: a Notifier for the end of the fallback chain."""

    def __init__(
        self, tray: QSystemTrayIcon, handler: ActionHandler, *, duration_ms: int = BALLOON_MS
    ) -> None:
        self.name = "tray balloon"
        self.state = NotifierState.FAILED
        self.detail = "not started"
        self._tray = tray
        self._actions = Actions(handler=handler)
        self._duration = duration_ms
        self._last: tuple[Notification, int | None] | None = None
        self._connected = False

    async def start(self) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            self.state, self.detail = NotifierState.FAILED, "no system tray on this desktop"
            raise NotifierError(self.detail)
        if not QSystemTrayIcon.supportsMessages():
            self.state, self.detail = NotifierState.FAILED, "this tray cannot show messages"
            raise NotifierError(self.detail)
        if not self._connected:
            self._tray.messageClicked.connect(self._on_tray_message_clicked)
            self._connected = True
        self.state, self.detail = NotifierState.OK, "balloons from the tray icon (no buttons)"

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        if self.state is not NotifierState.OK:
            raise NotifierError(self.detail)
        self._last = (notification, rowid)
        self._tray.showMessage(
            notification.title,
            notification.short_body,
            urgency_icon(notification.urgency),
            self._duration,
        )

    async def withdraw(self, replace_key: str) -> None:
        # A balloon cannot be taken back; at least a click no longer opens it.
        if self._last is not None and replace_key and self._last[0].replace_key == replace_key:
            self._last = None

    async def close(self) -> None:
        if self._connected:
            self._tray.messageClicked.disconnect(self._on_tray_message_clicked)
            self._connected = False
        self._last = None
        await self._actions.drain()

    def _on_tray_message_clicked(self) -> None:
        if self._last is not None:
            notification, rowid = self._last
            self._actions.invoke(DEFAULT, notification, rowid)
