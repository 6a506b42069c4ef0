"""Fixtures shared by every test folder: a private desktop session (bus, keyring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.desktop import DesktopSession


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
