"""The OS's own word on a wake-up or a network change, fed to the core's ResumeWatcher.

Two small adapters, both failing soft (a machine without NetworkManager or
without a system bus still has the watcher's clock ticker):

- :class:`NetworkWatch`: Qt's ``QNetworkInformation`` (NetworkManager,
  connman or glib backend on Linux, the native ones elsewhere). The network
  coming back (reachability rising to site or online), moving to another
  interface (the transport medium changing while reachable), or a captive
  portal being passed, each call ``ResumeWatcher.network_changed``. Losing
  the network calls nothing: there is nothing to reconnect to yet.
- :class:`LogindWatch`: logind's ``PrepareForSleep(false)`` on the system
  bus (Linux), read with dbus-fast on the running loop, calls
  ``ResumeWatcher.system_resumed``. ``PrepareForSleep(true)`` (going to
  sleep) is only logged.

:class:`PlatformWake` starts and closes both for the composition root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from PySide6.QtCore import QObject
from PySide6.QtNetwork import QNetworkInformation

from tidings.core.wake import ResumeWatcher

__all__ = ["LogindWatch", "NetworkWatch", "PlatformWake"]

logger = logging.getLogger(__name__)

LOGIND_NAME = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_MANAGER = "org.freedesktop.login1.Manager"
SLEEP_MATCH = (
    f"type='signal',sender='{LOGIND_NAME}',interface='{LOGIND_MANAGER}',"
    f"member='PrepareForSleep',path='{LOGIND_PATH}'"
)
CONNECT_LIMIT = 3.0
"""The longest start-up waits for the system bus."""

_Reach = QNetworkInformation.Reachability
_USABLE = frozenset({_Reach.Site, _Reach.Online})


class NetworkWatch(QObject):
    """QNetworkInformation's changes to ``watcher.network_changed`` (see the module doc)."""

    def __init__(self, watcher: ResumeWatcher, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._watcher = watcher
        self._reachability: QNetworkInformation.Reachability | None = None
        self._transport: QNetworkInformation.TransportMedium | None = None
        self.backend = ""

    def start(self) -> bool:
        """Load the platform's backend and follow it; False (logged) when there is none."""
        # None until a backend is loaded (the stubs say otherwise).
        info: QNetworkInformation | None = QNetworkInformation.instance()
        if info is None:
            loaded = QNetworkInformation.loadBackendByFeatures(
                QNetworkInformation.Feature.Reachability
            )
            info = QNetworkInformation.instance() if loaded else None
        if info is None:
            logger.info("no network information backend: network changes are not followed")
            return False
        self.backend = info.backendName()
        self._reachability = info.reachability()
        self._transport = info.transportMedium()
        info.reachabilityChanged.connect(self.reachability_changed)
        info.transportMediumChanged.connect(self.transport_changed)
        info.isBehindCaptivePortalChanged.connect(self.captive_portal_changed)
        logger.info("following network changes through Qt's %s backend", self.backend)
        return True

    def stop(self) -> None:
        info: QNetworkInformation | None = QNetworkInformation.instance()
        if info is not None and self.backend:
            for signal, slot in (
                (info.reachabilityChanged, self.reachability_changed),
                (info.transportMediumChanged, self.transport_changed),
                (info.isBehindCaptivePortalChanged, self.captive_portal_changed),
            ):
                with contextlib.suppress(RuntimeError, TypeError):
                    signal.disconnect(slot)
        self.backend = ""

    # The slots: the seam a test drives with Qt's own values.

    def reachability_changed(self, reachability: QNetworkInformation.Reachability) -> None:
        previous, self._reachability = self._reachability, reachability
        if reachability in _USABLE and reachability != previous:
            self._watcher.network_changed(f"reachability {reachability.name}")

    def transport_changed(self, medium: QNetworkInformation.TransportMedium) -> None:
        previous, self._transport = self._transport, medium
        if medium != previous and self._reachability in _USABLE:
            self._watcher.network_changed(f"transport {medium.name}")

    def captive_portal_changed(self, behind: bool) -> None:
        # Passing a portal: feeds stopped by its HTML page can connect now.
        if not behind and self._reachability in _USABLE:
            self._watcher.network_changed("captive portal passed")


class LogindWatch:
    """logind's ``PrepareForSleep`` to ``watcher.system_resumed`` (Linux, system bus)."""

    def __init__(self, watcher: ResumeWatcher, *, bus_address: str | None = None) -> None:
        """``bus_address``: the bus to listen on (tests); ``None`` is the system bus."""
        self._watcher = watcher
        self._address = bus_address
        self._bus: MessageBus | None = None

    @property
    def listening(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def start(self, limit: float = CONNECT_LIMIT) -> bool:
        """Listen for the signal; False (logged at info) without a bus or logind."""
        bus: MessageBus | None = None
        try:
            async with asyncio.timeout(limit):
                if self._address is None:
                    bus = MessageBus(bus_type=BusType.SYSTEM)
                else:
                    bus = MessageBus(bus_address=self._address)
                await bus.connect()
                bus.add_message_handler(self._on_message)
                reply = await bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="AddMatch",
                        signature="s",
                        body=[SLEEP_MATCH],
                    )
                )
            if reply is None or reply.message_type is MessageType.ERROR:
                raise ConnectionError("the bus refused the match rule")
        except Exception as exc:  # noqa: BLE001 (no bus, no logind, a timeout: the ticker works)
            logger.info("not following logind's sleep signal: %s", exc or type(exc).__name__)
            if bus is not None:
                bus.disconnect()
            return False
        self._bus = bus
        return True

    def _on_message(self, message: Message) -> None:
        if (
            message.message_type is MessageType.SIGNAL
            and message.interface == LOGIND_MANAGER
            and message.member == "PrepareForSleep"
            and message.path == LOGIND_PATH
            and message.signature == "b"
        ):
            if message.body[0]:
                logger.info("the system is going to sleep")
            else:
                self._watcher.system_resumed("logind")

    async def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        bus.disconnect()
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(
                bus.wait_for_disconnect(),  # type: ignore[no-untyped-call]
                timeout=2.0,
            )


class PlatformWake:
    """Both adapters for the composition root: ``await start()``, ``await close()``."""

    def __init__(self, watcher: ResumeWatcher, *, bus_address: str | None = None) -> None:
        self.network = NetworkWatch(watcher)
        self.logind = LogindWatch(watcher, bus_address=bus_address)

    async def start(self) -> None:
        self.network.start()
        await self.logind.start()

    async def close(self) -> None:
        self.network.stop()
        await self.logind.close()
