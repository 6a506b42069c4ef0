# ruff: noqa: UP037, F821, F722  (dbus-fast reads D-Bus signatures from string annotations)
"""A tray host for tests: a small ``org.kde.StatusNotifierWatcher`` on the session bus.

Debian bookworm ships no StatusNotifier tray host that runs without a full
desktop (ENV.md). Qt's tray icon registers a StatusNotifierItem with whoever
owns ``org.kde.StatusNotifierWatcher`` and reports a host, so this watcher
makes ``QSystemTrayIcon.isSystemTrayAvailable()`` true on a private bus, and
lets a test act as the user does on a real panel: read the icon's tooltip,
activate (left-click) it, read its menu (``com.canonical.dbusmenu``) and click
an entry. Qt looks for the watcher once, at the first tray use in a process:
start this first.

Run as a process (``python -m support.tray_host``, ``DBUS_SESSION_BUS_ADDRESS``
set): it prints ``ready`` on stdout when it owns the name, and one line
``registered <service>`` per item that registers. :class:`TrayHostClient`
reads the items and clicks through them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from dbus_fast import BusType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method, signal

__all__ = ["TrayHostClient"]

WATCHER = "org.kde.StatusNotifierWatcher"


class _Watcher(ServiceInterface):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(WATCHER)
        self.items: list[str] = []

    @method()  # type: ignore[misc]
    def RegisterStatusNotifierItem(self, service: "s"):  # type: ignore[name-defined,no-untyped-def]
        # Qt passes its unique bus name (or an object path on the sender's connection).
        item = service
        if service.startswith("/"):
            item = f"{self._sender}{service}"
        self.items.append(item)
        print(f"registered {item}", flush=True)
        self.StatusNotifierItemRegistered(item)

    @method()  # type: ignore[misc]
    def RegisterStatusNotifierHost(self, service: "s"):  # type: ignore[name-defined,no-untyped-def]
        del service

    @dbus_property(access=PropertyAccess.READ)  # type: ignore[misc]
    def RegisteredStatusNotifierItems(self) -> "as":  # type: ignore[name-defined]
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)  # type: ignore[misc]
    def IsStatusNotifierHostRegistered(self) -> "b":  # type: ignore[name-defined]
        return True

    @dbus_property(access=PropertyAccess.READ)  # type: ignore[misc]
    def ProtocolVersion(self) -> "i":  # type: ignore[name-defined]
        return 0

    @signal()  # type: ignore[misc]
    def StatusNotifierItemRegistered(self, service: str) -> "s":  # type: ignore[name-defined]
        return service

    _sender = ""


async def _serve() -> None:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    watcher = _Watcher()

    def remember_sender(message: Any) -> None:
        if message.member == "RegisterStatusNotifierItem":
            watcher._sender = message.sender

    bus.add_message_handler(remember_sender)
    bus.export("/StatusNotifierWatcher", watcher)
    await bus.request_name(WATCHER)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


class TrayHostClient:
    """What a panel does with a registered item: read it, activate it, click its menu."""

    def __init__(self, bus: MessageBus, item: str) -> None:
        self._bus = bus
        self.service, _, path = item.partition("/")
        self.path = "/" + path if path else "/StatusNotifierItem"

    @classmethod
    async def connect(cls, item: str) -> TrayHostClient:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
        return cls(bus, item)

    async def close(self) -> None:
        self._bus.disconnect()

    async def _iface(self, path: str, name: str) -> Any:
        introspection = await self._bus.introspect(self.service, path)
        proxy = self._bus.get_proxy_object(self.service, path, introspection)
        return proxy.get_interface(name)

    async def item_property(self, name: str) -> Any:
        item = await self._iface(self.path, "org.kde.StatusNotifierItem")
        return await getattr(item, f"get_{_snake(name)}")()

    async def tooltip(self) -> str:
        tooltip = await self.item_property("ToolTip")
        # (icon name, icon pixmaps, title, description)
        return f"{tooltip[2]}\n{tooltip[3]}".strip()

    async def activate(self) -> None:
        item = await self._iface(self.path, "org.kde.StatusNotifierItem")
        await item.call_activate(0, 0)

    async def menu(self) -> list[tuple[int, str, bool, list[Any]]]:
        """The top menu's entries: (id, label, enabled, children), after AboutToShow."""
        menu_path = await self.item_property("Menu")
        menu = await self._iface(menu_path, "com.canonical.dbusmenu")
        await menu.call_about_to_show(0)
        _revision, layout = await menu.call_get_layout(0, -1, [])
        return [_entry(child) for child in layout[2]]

    async def click(self, label: str, *, submenu: str = "") -> None:
        """Click the menu entry ``label`` (inside ``submenu`` when given); mnemonics ignored."""
        menu_path = await self.item_property("Menu")
        menu = await self._iface(menu_path, "com.canonical.dbusmenu")
        await menu.call_about_to_show(0)
        _revision, layout = await menu.call_get_layout(0, -1, [])
        entries = [_entry(child) for child in layout[2]]
        if submenu:
            parent = _find(entries, submenu)
            await menu.call_about_to_show(parent[0])
            _revision, sub = await menu.call_get_layout(parent[0], -1, [])
            entries = [_entry(child) for child in sub[2]]
        target = _find(entries, label)
        await menu.call_event(target[0], "clicked", Variant("s", ""), 0)


def _entry(child: Any) -> tuple[int, str, bool, list[Any]]:
    node = child.value if isinstance(child, Variant) else child
    ident, props, children = node[0], node[1], node[2]
    label = props.get("label", Variant("s", "")).value
    enabled = props.get("enabled", Variant("b", True)).value
    # dbusmenu marks a mnemonic with "_" and writes a literal underscore as "__".
    text = str(label).replace("__", "\0").replace("_", "").replace("\0", "_")
    return (ident, text, bool(enabled), children)


def _find(entries: list[tuple[int, str, bool, list[Any]]], label: str) -> Any:
    for entry in entries:
        if entry[1] == label or entry[1].startswith(label):
            return entry
    raise LookupError(f"no menu entry {label!r} in {[e[1] for e in entries]}")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


if __name__ == "__main__":
    try:
        asyncio.run(_serve())
    except KeyboardInterrupt:
        sys.exit(0)
