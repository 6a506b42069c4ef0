"""A D-Bus monitor of the notification protocol: what a client really sent to the server.

It joins the test's private bus as a monitor (``BecomeMonitor``, the way
``dbus-monitor`` works) and records every ``Notify`` and ``CloseNotification``
call to ``org.freedesktop.Notifications`` with the id the server returned.
Monitors only listen: the handler swallows every message so that dbus-fast
never answers anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

__all__ = ["NotifyCall", "NotifyMonitor"]

INTERFACE = "org.freedesktop.Notifications"


@dataclass
class NotifyCall:
    """One ``Notify`` as it crossed the bus; ``returned_id`` once the server answered."""

    sender: str
    serial: int
    app_name: str
    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: list[tuple[str, str]]
    hints: dict[str, Any]
    expire_timeout: int
    returned_id: int | None = None

    @property
    def action_keys(self) -> list[str]:
        return [key for key, _ in self.actions]

    def label_of(self, key: str) -> str:
        return dict(self.actions)[key]


@dataclass
class NotifyMonitor:
    address: str
    notifies: list[NotifyCall] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    _bus: MessageBus | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        bus = await MessageBus(bus_address=self.address).connect()
        rules = [
            f"type='method_call',interface='{INTERFACE}'",
            "type='method_return'",
            "type='error'",
        ]
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus.Monitoring",
                member="BecomeMonitor",
                signature="asu",
                body=[rules, 0],
            )
        )
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        bus.add_message_handler(self._on_message)
        self._bus = bus

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type is MessageType.METHOD_CALL and msg.interface == INTERFACE:
            if msg.member == "Notify":
                app, replaces, icon, summary, body, actions, hints, timeout = msg.body
                pairs = list(zip(actions[::2], actions[1::2], strict=True))
                self.notifies.append(
                    NotifyCall(
                        sender=msg.sender,
                        serial=msg.serial,
                        app_name=app,
                        replaces_id=replaces,
                        app_icon=icon,
                        summary=summary,
                        body=body,
                        actions=pairs,
                        hints={k: v.value for k, v in hints.items()},
                        expire_timeout=timeout,
                    )
                )
            elif msg.member == "CloseNotification":
                self.closes.append(int(msg.body[0]))
        elif msg.message_type is MessageType.METHOD_RETURN:
            for call in self.notifies:
                if (
                    call.returned_id is None
                    and call.sender == msg.destination
                    and call.serial == msg.reply_serial
                ):
                    call.returned_id = int(msg.body[0])
        self._changed.set()
        return True  # a monitor never replies

    async def wait_until(
        self, condition: Callable[[], bool], *, within: float = 10.0, what: str = ""
    ) -> None:
        """Wait (bounded) until ``condition()`` holds; fail the test with ``what`` if not."""
        try:
            async with asyncio.timeout(within):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"not seen on the bus within {within:g} s: {what}; seen: {self.notifies}"
            ) from None

    async def notified(self, count: int, *, within: float = 10.0) -> list[NotifyCall]:
        """The first ``count`` answered Notify calls, once there are that many."""
        await self.wait_until(
            lambda: sum(1 for c in self.notifies if c.returned_id is not None) >= count,
            within=within,
            what=f"{count} Notify call(s)",
        )
        return [c for c in self.notifies if c.returned_id is not None][:count]
