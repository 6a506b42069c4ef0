"""Fixtures shared by every test folder: a private desktop session (bus, keyring, dunst)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.desktop import DesktopSession
from support.notify_monitor import NotifyMonitor


@pytest.fixture
def dbus_session(tmp_path: Path) -> Iterator[DesktopSession]:
    """A private D-Bus session bus, active in this process for the test's duration."""
    session = DesktopSession(root=tmp_path / "desktop")
    try:
        session.start_bus()
        with session.activated():
            yield session
    finally:
        session.close()


@pytest.fixture
def gnome_keyring(dbus_session: DesktopSession) -> DesktopSession:
    """gnome-keyring's Secret Service, unlocked, on the private bus."""
    dbus_session.start_keyring()
    return dbus_session


@pytest.fixture
def quiet_bus(tmp_path: Path) -> Iterator[DesktopSession]:
    """A private bus that starts no service on demand (no notification daemon unless started)."""
    session = DesktopSession(root=tmp_path / "desktop")
    try:
        session.start_bus(activation=False)
        with session.activated():
            yield session
    finally:
        session.close()


@pytest.fixture
def dunst_session(quiet_bus: DesktopSession) -> DesktopSession:
    """dunst (the real notification daemon) on Xvfb and the private bus; killed at teardown."""
    quiet_bus.start_display()
    quiet_bus.start_dunst()
    return quiet_bus


@pytest.fixture
async def bus_monitor(dunst_session: DesktopSession) -> AsyncIterator[NotifyMonitor]:
    """Every Notify/CloseNotification call on the private bus, as dunst received it."""
    monitor = NotifyMonitor(dunst_session.bus_address)
    await monitor.start()
    try:
        yield monitor
    finally:
        monitor.close()
