"""The platform side of resume detection: Qt's network information and logind's sleep signal.

Nothing here can change the machine's network or suspend it, so the Qt
slots are driven with Qt's own enum values (the seam), and logind is a fake
service owning ``org.freedesktop.login1`` on a private bus that emits
``PrepareForSleep`` exactly as logind does. The listener runs on the app's
qasync loop, as in the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import QApplication

from support.desktop import DesktopSession
from tidings.core.wake import ResumeWatcher
from tidings.qt.loop import AppLoop
from tidings.qt.wake import LOGIND_MANAGER, LOGIND_NAME, LOGIND_PATH, LogindWatch, NetworkWatch

Reach = QNetworkInformation.Reachability
Medium = QNetworkInformation.TransportMedium


class FakeHub:
    def __init__(self) -> None:
        self.reconnects = 0
        self.wakes = 0

    async def reconnect_all(self) -> None:
        self.reconnects += 1

    def wake_all(self) -> None:
        self.wakes += 1


class Recorder(ResumeWatcher):
    """A watcher that records what the platform side told it."""

    def __init__(self) -> None:
        super().__init__(hub=FakeHub())
        self.calls: list[str] = []

    def network_changed(self, detail: str = "") -> None:
        self.calls.append(f"network: {detail}")

    def system_resumed(self, source: str = "system") -> None:
        self.calls.append(f"resumed: {source}")


def test_the_network_coming_back_or_moving_reconnects(qapp: QApplication) -> None:
    recorder = Recorder()
    watch = NetworkWatch(recorder)
    watch.reachability_changed(Reach.Disconnected)
    assert recorder.calls == []  # nothing to reconnect to
    watch.reachability_changed(Reach.Online)
    watch.reachability_changed(Reach.Online)  # no change: nothing
    assert recorder.calls == ["network: reachability Online"]
    watch.transport_changed(Medium.WiFi)
    assert recorder.calls[-1] == "network: transport WiFi"
    watch.reachability_changed(Reach.Disconnected)
    watch.transport_changed(Medium.Ethernet)  # while offline: wait for the network
    watch.captive_portal_changed(False)
    assert len(recorder.calls) == 2
    watch.reachability_changed(Reach.Site)
    watch.captive_portal_changed(True)
    watch.captive_portal_changed(False)  # logged in to the portal: feeds it stopped can connect
    assert recorder.calls[2:] == ["network: reachability Site", "network: captive portal passed"]


def test_starting_the_network_watch_never_fails(qapp: QApplication) -> None:
    """With or without a backend on this machine, start() answers and stop() cleans up."""
    watch = NetworkWatch(Recorder())
    started = watch.start()
    assert started == bool(watch.backend)
    watch.stop()
    assert watch.backend == ""


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    session = DesktopSession(root=tmp_path / "bus")
    session.start_bus(activation=False)
    try:
        yield session.bus_address
    finally:
        session.close()


def sleep_signal(going_to_sleep: bool) -> Message:
    return Message.new_signal(LOGIND_PATH, LOGIND_MANAGER, "PrepareForSleep", "b", [going_to_sleep])


def test_logind_resume_reconnects_every_feed_once(loop: AppLoop, bus: str) -> None:
    """PrepareForSleep(true) is only logged; PrepareForSleep(false) from logind reconnects;
    the same signal from another sender is ignored."""
    hub = FakeHub()
    watcher = ResumeWatcher(hub=hub)
    listener = LogindWatch(watcher, bus_address=bus)

    async def scenario() -> None:
        assert await listener.start()
        assert listener.listening
        impostor = await MessageBus(bus_address=bus).connect()
        logind = await MessageBus(bus_address=bus).connect()
        try:
            await logind.request_name(LOGIND_NAME)
            await impostor.send(sleep_signal(False))
            await logind.send(sleep_signal(True))
            await logind.send(sleep_signal(False))
            async with asyncio.timeout(10):
                while hub.reconnects == 0:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # anything else in flight arrives meanwhile
        finally:
            impostor.disconnect()
            logind.disconnect()
            await listener.close()
            await watcher.stop()

    loop.run_until_complete(asyncio.wait_for(scenario(), 20))
    assert (hub.reconnects, hub.wakes) == (1, 0)
    assert watcher.reconnects == 1


def test_no_bus_means_no_logind_watch_and_no_error(loop: AppLoop, tmp_path: Path) -> None:
    listener = LogindWatch(Recorder(), bus_address=f"unix:path={tmp_path / 'no-bus'}")
    assert loop.run_until_complete(asyncio.wait_for(listener.start(), 10)) is False
    assert not listener.listening
    loop.run_until_complete(listener.close())
