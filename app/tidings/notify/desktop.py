"""Native notifications on macOS and Windows, through desktop-notifier.

:func:`tidings.notify.native_notifier` picks the backend for this platform. On
Linux and the BSDs it is :class:`~tidings.notify.freedesktop.FreedesktopNotifier`
(why not desktop-notifier's own D-Bus backend is said there), and this module
is never imported, so ``run --headless`` loads no desktop-notifier. On macOS (Notification
Center, inside an app bundle) and Windows (WinRT toasts) it is
:class:`PlatformNotifier` over desktop-notifier's public API: title, body
(plain text on both), urgency, app icon, click and buttons (same plan as
everywhere, :class:`~tidings.notify.dispatch.Actions`), ``thread`` set to the
replace key so the platform groups updates, and replace-in-place emulated by
clearing the previous notification before sending its update.

macOS and Windows are unverified: no CI here can run them (the README says so).
The class itself is exercised on Linux, where desktop-notifier talks D-Bus.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from desktop_notifier import Button, DesktopNotifier, Icon
from desktop_notifier import Notification as DNNotification
from desktop_notifier import Urgency as DNUrgency

from tidings.core.actions import ClientFactory, default_client_factory
from tidings.core.notification import Notification, Urgency
from tidings.core.resources import resource_path
from tidings.notify.base import (
    APP_NAME,
    ActionHandler,
    NotifierError,
    NotifierState,
    StateListener,
)
from tidings.notify.dispatch import DEFAULT, Actions

__all__ = ["PlatformNotifier"]

logger = logging.getLogger(__name__)

_URGENCY = {
    Urgency.LOW: DNUrgency.Low,
    Urgency.NORMAL: DNUrgency.Normal,
    Urgency.CRITICAL: DNUrgency.Critical,
}


def _app_icon() -> Icon | None:
    # macOS shows the bundle's icon whatever we pass; Windows takes a file (PNG or ICO is
    # safest, SVG support varies), so the SVG is only a start.
    try:
        return Icon(path=resource_path("icons/tidings.svg"))
    except FileNotFoundError:
        return None


class PlatformNotifier:
    """desktop-notifier's notification center for this platform (macOS, Windows)."""

    def __init__(
        self,
        *,
        handler: ActionHandler,
        app_name: str = APP_NAME,
        client_factory: ClientFactory = default_client_factory,
    ) -> None:
        self.name = f"desktop-notifier ({sys.platform})"
        self.state = NotifierState.FAILED
        self.detail = "not started"
        self.on_state_changed: StateListener | None = None
        self._actions = Actions(handler=handler, client_factory=client_factory)
        self._notifier = DesktopNotifier(app_name=app_name, app_icon=_app_icon())
        self._by_key: dict[str, str] = {}

    async def start(self) -> None:
        try:
            allowed = await self._notifier.request_authorisation()
        except Exception as exc:
            self.state, self.detail = NotifierState.FAILED, f"cannot reach notifications: {exc}"
            raise NotifierError(self.detail) from exc
        if not allowed:
            self.state = NotifierState.FAILED
            self.detail = (
                "permission denied: allow notifications for Tidings in the system settings"
            )
            raise NotifierError(self.detail)
        self.state, self.detail = NotifierState.OK, "authorised"

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        if self.state is not NotifierState.OK:
            raise NotifierError(self.detail)
        key = notification.replace_key
        if key and key in self._by_key:
            await self._notifier.clear(self._by_key.pop(key))
        dispatched: list[bool] = []
        invoke = self._actions.invoke

        def pressed(key: str) -> Callable[[], None]:
            return lambda: invoke(key, notification, rowid)

        buttons = tuple(
            Button(title=b.label, on_pressed=pressed(b.key), identifier=b.key)
            for b in self._actions.buttons(notification, rowid)
        )
        identifier = await self._notifier.send_notification(
            DNNotification(
                title=notification.title,
                message=notification.short_body,
                urgency=_URGENCY[notification.urgency],
                buttons=buttons,
                on_clicked=lambda: invoke(DEFAULT, notification, rowid),
                on_dispatched=lambda: dispatched.append(True),
                thread=key or None,
            )
        )
        if not dispatched:
            # desktop-notifier logs and swallows a failed send; on_dispatched is how we know.
            self.state, self.detail = NotifierState.FAILED, "the notification could not be sent"
            raise NotifierError(self.detail)
        if key:
            self._by_key[key] = identifier

    async def withdraw(self, replace_key: str) -> None:
        identifier = self._by_key.pop(replace_key, None)
        if identifier is not None:
            await self._notifier.clear(identifier)

    async def close(self) -> None:
        await self._actions.drain()
        self._by_key.clear()
