"""The freedesktop Notifications service over D-Bus (Linux and BSD desktops), with dbus-fast.

Why not desktop-notifier's own D-Bus backend (it is what macOS and Windows use,
see :mod:`tidings.notify.desktop`): in 6.2 it always sends ``replaces_id = 0``
(no update in place), sends no hints but urgency, sound and image (no
``desktop-entry``, so desktops cannot group by app), passes the body raw to
servers that read markup, and its ``send`` swallows every failure into a log
warning, so a fallback cannot know that nothing was shown. The protocol is
five calls and two signals; this module speaks it directly with dbus-fast,
which desktop-notifier already depends on.

What is sent (spec 1.2): app name "Tidings", ``replaces_id`` for a
notification whose replace key is showing, the app icon (a ``file://`` URI),
title as summary, the body cut to ``short_body`` and escaped when the server
has ``body-markup``, a ``default`` action (the click) and one action per
button when the server has ``actions``, hints ``urgency`` and
``desktop-entry``, server-default expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tidings.core.actions import ClientFactory, default_client_factory
from tidings.core.notification import Notification, Urgency
from tidings.core.resources import resource_path
from tidings.notify.base import (
    APP_ID,
    APP_NAME,
    ActionHandler,
    NotifierError,
    NotifierState,
    StateListener,
)
from tidings.notify.dispatch import DEFAULT, Actions

__all__ = [
    "BUS_NAME",
    "CALL_TIMEOUT",
    "FreedesktopNotifier",
    "ServerInfo",
    "probe_server",
    "session_bus_address",
]

logger = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = BUS_NAME
CALL_TIMEOUT = 5.0
"""The longest one D-Bus call may take; a silent bus is a failed backend."""
MAX_TRACKED = 256
"""Notifications remembered for their clicks (servers that never say "closed" cannot grow us)."""

_URGENCY = {Urgency.LOW: 0, Urgency.NORMAL: 1, Urgency.CRITICAL: 2}
_DBUS = {"destination": "org.freedesktop.DBus", "path": "/org/freedesktop/DBus"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """What the notification server says about itself (GetServerInformation, GetCapabilities)."""

    name: str
    vendor: str
    version: str
    spec_version: str
    capabilities: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()


def session_bus_address(environ: dict[str, str] | None = None) -> str:
    """The session bus address, or NotifierError saying there is none."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime, "bus").exists():
        return f"unix:path={Path(runtime, 'bus')}"
    raise NotifierError(
        "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set): notifications need a "
        "desktop session"
    )


async def _connect(address: str, limit: float) -> MessageBus:
    try:
        async with asyncio.timeout(limit):
            return await MessageBus(bus_address=address).connect()
    except TimeoutError as exc:
        raise NotifierError(f"the D-Bus session bus did not answer within {limit:g} s") from exc
    except Exception as exc:
        raise NotifierError(f"cannot connect to the D-Bus session bus: {exc}") from exc


async def _call(
    bus: MessageBus,
    limit: float,
    *,
    signature: str = "",
    body: list[Any] | None = None,
    **where: str,
) -> list[Any]:
    """One method call, bounded; NotifierError for a failure of the bus or the server."""
    message = Message(
        destination=where.get("destination", BUS_NAME),
        path=where.get("path", OBJECT_PATH),
        interface=where.get("interface", INTERFACE),
        member=where["member"],
        signature=signature,
        body=body or [],
    )
    try:
        async with asyncio.timeout(limit):
            reply = await bus.call(message)
    except TimeoutError as exc:
        raise NotifierError(
            f"the notification server did not answer {where['member']} within {limit:g} s"
        ) from exc
    except Exception as exc:
        raise NotifierError(f"the D-Bus session bus failed: {exc}") from exc
    if reply.message_type is MessageType.ERROR:
        text = reply.body[0] if reply.body else ""
        if reply.error_name in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            raise NotifierError("no notification server on the session bus")
        if (reply.error_name or "").startswith("org.freedesktop.DBus.Error.Spawn."):
            raise NotifierError(f"the notification server could not be started: {text}")
        raise NotifierError(
            f"the notification server refused {where['member']}: {reply.error_name}: {text}"
        )
    return list(reply.body)


async def _server_info(bus: MessageBus, limit: float) -> ServerInfo:
    name, vendor, version, spec = await _call(bus, limit, member="GetServerInformation")
    (caps,) = await _call(bus, limit, member="GetCapabilities")
    return ServerInfo(
        name=str(name),
        vendor=str(vendor),
        version=str(version),
        spec_version=str(spec),
        capabilities=tuple(str(c) for c in caps),
    )


async def probe_server(*, address: str | None = None, limit: float = CALL_TIMEOUT) -> ServerInfo:
    """Ask the session's notification server who it is (for ``tidings doctor``).

    Raises NotifierError with a sentence for a person when there is no bus or no server.
    """
    bus = await _connect(address or session_bus_address(), limit)
    try:
        return await _server_info(bus, limit)
    finally:
        bus.disconnect()


@dataclass(slots=True)
class _Shown:
    notification: Notification
    rowid: int | None


def _default_icon() -> str:
    try:
        return resource_path("icons/tidings.svg").as_uri()
    except FileNotFoundError:
        logger.info("the app icon is missing: notifications show the server's default icon")
        return ""


class FreedesktopNotifier:
    """Notifications through ``org.freedesktop.Notifications`` on the session bus.

    ``start`` connects and asks the server who it is (``name`` then says it, for
    example "freedesktop notifications (dunst 1.9.0)"). The server leaving the
    bus, or the bus closing, sets ``state`` FAILED and calls ``on_state_changed``;
    ``start`` again reconnects (the fallback chain does that after a back-off).
    """

    def __init__(
        self,
        *,
        handler: ActionHandler,
        app_name: str = APP_NAME,
        app_icon: str | None = None,
        desktop_entry: str = APP_ID,
        bus_address: str | None = None,
        call_timeout: float = CALL_TIMEOUT,
        client_factory: ClientFactory = default_client_factory,
    ) -> None:
        """``app_icon``: a ``file://`` URI or an icon name (default: Tidings' icon)."""
        self.name = "freedesktop notifications"
        self.state = NotifierState.FAILED
        self.detail = "not started"
        self.on_state_changed: StateListener | None = None
        self.server: ServerInfo | None = None
        self._actions = Actions(handler=handler, client_factory=client_factory)
        self._app_name = app_name
        self._app_icon = _default_icon() if app_icon is None else app_icon
        self._desktop_entry = desktop_entry
        self._address = bus_address
        self._timeout = call_timeout
        self._bus: MessageBus | None = None
        self._owner = ""
        self._shown: OrderedDict[int, _Shown] = OrderedDict()
        self._by_key: dict[str, int] = {}
        self._watch: asyncio.Task[None] | None = None

    # -- the Notifier surface -------------------------------------------------------

    async def start(self) -> None:
        await self._disconnect()
        try:
            bus = await _connect(self._address or session_bus_address(), self._timeout)
            self._bus = bus
            bus.add_message_handler(self._on_message)
            for rule in (
                f"type='signal',sender='{BUS_NAME}',interface='{INTERFACE}',path='{OBJECT_PATH}'",
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{BUS_NAME}'",
            ):
                await _call(
                    bus,
                    self._timeout,
                    member="AddMatch",
                    interface="org.freedesktop.DBus",
                    signature="s",
                    body=[rule],
                    **_DBUS,
                )
            info = await _server_info(bus, self._timeout)
            (owner,) = await _call(
                bus,
                self._timeout,
                member="GetNameOwner",
                interface="org.freedesktop.DBus",
                signature="s",
                body=[BUS_NAME],
                **_DBUS,
            )
        except NotifierError as exc:
            await self._disconnect()
            self._set(NotifierState.FAILED, str(exc), announce=False)
            raise
        self._owner = str(owner)
        self.server = info
        self.name = f"freedesktop notifications ({info.label})"
        self._watch = asyncio.get_running_loop().create_task(self._watch_bus(bus))
        self._set(
            NotifierState.OK,
            f"{info.label}; capabilities: {', '.join(info.capabilities)}",
            announce=False,
        )

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        bus = self._require_bus()
        caps = self.server.capabilities if self.server is not None else ()
        key = notification.replace_key
        replaces = self._by_key.get(key, 0) if key else 0
        actions: list[str] = []
        if "actions" in caps:
            actions += [DEFAULT, "Open"]
            for button in self._actions.buttons(notification, rowid):
                actions += [button.key, button.label]
        body = notification.short_body if "body" in caps or not caps else ""
        if "body-markup" in caps:
            body = html.escape(body, quote=False)
        hints = {
            "urgency": Variant("y", _URGENCY[notification.urgency]),
            "desktop-entry": Variant("s", self._desktop_entry),
        }
        (platform_id,) = await _call(
            bus,
            self._timeout,
            member="Notify",
            signature="susssasa{sv}i",
            body=[
                self._app_name,
                replaces,
                self._app_icon,
                notification.title,
                body,
                actions,
                hints,
                -1,
            ],
        )
        self._remember(int(platform_id), _Shown(notification, rowid), key)

    async def withdraw(self, replace_key: str) -> None:
        platform_id = self._by_key.pop(replace_key, None) if replace_key else None
        if platform_id is None:
            return
        self._shown.pop(platform_id, None)
        await _call(
            self._require_bus(),
            self._timeout,
            member="CloseNotification",
            signature="u",
            body=[platform_id],
        )

    async def close(self) -> None:
        await self._actions.drain()
        await self._disconnect()

    # -- internals ------------------------------------------------------------------

    def _require_bus(self) -> MessageBus:
        if self._bus is None or not self._bus.connected or self.state is not NotifierState.OK:
            raise NotifierError(
                self.detail if self.state is NotifierState.FAILED else "not started"
            )
        return self._bus

    def _remember(self, platform_id: int, shown: _Shown, key: str) -> None:
        self._shown.pop(platform_id, None)
        self._shown[platform_id] = shown
        if key:
            self._by_key[key] = platform_id
        while len(self._shown) > MAX_TRACKED:
            old_id, old = self._shown.popitem(last=False)
            self._forget_key(old_id, old.notification.replace_key)

    def _forget_key(self, platform_id: int, key: str) -> None:
        if key and self._by_key.get(key) == platform_id:
            del self._by_key[key]

    def _on_message(self, message: Message) -> None:
        if message.message_type is not MessageType.SIGNAL:
            return
        try:
            if message.member == "NameOwnerChanged" and message.interface == "org.freedesktop.DBus":
                name, _old, new = message.body
                if name == BUS_NAME:
                    self._owner_changed(str(new))
            elif message.interface == INTERFACE and message.sender == self._owner:
                if message.member == "ActionInvoked":
                    platform_id, key = message.body
                    shown = self._shown.get(int(platform_id))
                    if shown is not None:
                        self._actions.invoke(str(key), shown.notification, shown.rowid)
                elif message.member == "NotificationClosed":
                    shown = self._shown.pop(int(message.body[0]), None)
                    if shown is not None:
                        self._forget_key(int(message.body[0]), shown.notification.replace_key)
        except Exception:
            logger.exception("a signal from the notification server could not be handled")

    def _owner_changed(self, new_owner: str) -> None:
        if new_owner == self._owner:
            return
        self._shown.clear()
        self._by_key.clear()
        if not new_owner and self.state is NotifierState.OK:
            server = self.server.name if self.server is not None else "the server"
            self._set(NotifierState.FAILED, f"the notification server ({server}) left the bus")
        elif new_owner:
            # Another server took over (a restart): its ids are new, and it answers to us.
            self._owner = new_owner
            if self.state is NotifierState.FAILED and self._bus is not None:
                self._set(NotifierState.OK, "a notification server is back on the bus")

    async def _watch_bus(self, bus: MessageBus) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        if bus is self._bus:
            self._bus = None
            self._set(NotifierState.FAILED, "the D-Bus session bus closed")

    def _set(self, state: NotifierState, detail: str, *, announce: bool = True) -> None:
        changed = state is not self.state
        self.state, self.detail = state, detail
        if changed and announce and self.on_state_changed is not None:
            self.on_state_changed()

    async def _disconnect(self) -> None:
        bus, self._bus = self._bus, None
        watch, self._watch = self._watch, None
        if bus is not None:
            bus.disconnect()
        if watch is not None:
            # It ends when the bus reports the disconnect (and, the bus being no longer
            # ours, leaves the state alone).
            try:
                async with asyncio.timeout(self._timeout):
                    await watch
            except TimeoutError:
                logger.info("the D-Bus connection did not report its close in time")
        self._shown.clear()
        self._by_key.clear()
