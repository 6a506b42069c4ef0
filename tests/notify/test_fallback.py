"""The fallback chain: daemon crash, no daemon, no bus, recovery; build_notifier's choices."""

from __future__ import annotations

import asyncio
import logging

import pytest

from support.desktop import DesktopSession
from support.notify_monitor import NotifyMonitor
from tidings.core.models import AppSettings
from tidings.core.notification import Notification
from tidings.notify import (
    FallbackNotifier,
    NotifierState,
    NullNotifier,
    build_notifier,
)
from tidings.notify.freedesktop import FreedesktopNotifier

from .conftest import RecordingHandler, RecordingNotifier

WARNING_PREFIX = "notifications: "


def chain_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tidings.notify.base" and r.levelno >= logging.WARNING
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.desktop
async def test_daemon_crash_falls_back_once_and_recovers(
    dunst_session: DesktopSession,
    bus_monitor: NotifyMonitor,
    handler: RecordingHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """dunst killed: the chain moves to the fallback (one warning, one state change); a dunst
    started again is used from the first show after the back-off."""
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    changes: list[tuple[str, NotifierState]] = []
    fallback = RecordingNotifier()
    chain = FallbackNotifier(
        [FreedesktopNotifier(handler=handler), fallback],
        clock=clock,
        on_state_changed=lambda: changes.append((chain.name, chain.state)),
    )
    await chain.start()
    try:
        assert chain.state is NotifierState.OK
        assert chain.name.startswith("freedesktop notifications (dunst")
        await chain.show(Notification(title="one"))
        await bus_monitor.notified(1)

        dunst = dunst_session.dunst
        assert dunst is not None
        dunst.kill()
        await asyncio.to_thread(dunst.wait, 10)
        async with asyncio.timeout(10):  # the bus tells the backend; the chain moves on
            while chain.name != fallback.name:
                await asyncio.sleep(0.02)
        for title in ("two", "three", "four"):
            await chain.show(Notification(title=title))
        assert [n.title for n, _ in fallback.shown] == ["two", "three", "four"]
        assert chain.state is NotifierState.OK
        assert "left the bus" in chain.detail
        moved = [m for m in chain_warnings(caplog) if "now recording fallback" in m]
        assert len(moved) == 1, chain_warnings(caplog)
        assert changes[-1] == (fallback.name, NotifierState.OK)
        assert len(changes) == 2  # the start, then the move: not once per notification

        dunst_session.start_dunst()
        await chain.show(Notification(title="five"))  # back-off not over: still the fallback
        assert fallback.shown[-1][0].title == "five"
        clock.now += 31
        await chain.show(Notification(title="six"))
        await bus_monitor.wait_until(
            lambda: any(c.summary == "six" for c in bus_monitor.notifies), what="six on dunst"
        )
        assert chain.name.startswith("freedesktop notifications (dunst")
        assert [n.title for n, _ in fallback.shown] == ["two", "three", "four", "five"]
        assert len(changes) == 3
    finally:
        await chain.close()


@pytest.mark.desktop
async def test_no_daemon_on_the_bus(
    quiet_bus: DesktopSession, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """A bus without a notification server: the native backend fails at start, the fallback
    shows, and the detail says why."""
    fallback = RecordingNotifier()
    chain = FallbackNotifier([FreedesktopNotifier(handler=handler, call_timeout=3), fallback])
    await chain.start()
    try:
        assert chain.name == fallback.name
        assert "no notification server on the session bus" in chain.detail
        await chain.show(Notification(title="x"))
        assert len(fallback.shown) == 1
        assert len(chain_warnings(caplog)) == 1
    finally:
        await chain.close()


async def test_no_bus_at_all(handler: RecordingHandler, monkeypatch: pytest.MonkeyPatch) -> None:
    """No session bus: FAILED with a clear sentence; with nothing to fall back on, shows are
    dropped quietly (the hub is never troubled)."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    chain = FallbackNotifier([FreedesktopNotifier(handler=handler)])
    await chain.start()
    assert chain.state is NotifierState.FAILED
    assert "no D-Bus session bus" in chain.detail
    await chain.show(Notification(title="dropped"))
    await chain.withdraw("k")
    await chain.close()


async def test_build_notifier_choices(handler: RecordingHandler) -> None:
    """off: NullNotifier; auto: native then fallback; native: native only; tray: fallback only."""
    tray = RecordingNotifier("tray balloon")
    off = build_notifier(AppSettings(notifications=False), handler=handler, fallback=tray)
    assert isinstance(off, NullNotifier)
    assert (off.name, off.state) == ("off", NotifierState.OFF)
    auto = build_notifier(AppSettings(notifier="auto"), handler=handler, fallback=tray)
    assert isinstance(auto, FallbackNotifier)
    assert [type(b).__name__ for b in auto.backends] == ["FreedesktopNotifier", "RecordingNotifier"]
    native = build_notifier(AppSettings(notifier="native"), handler=handler, fallback=tray)
    assert isinstance(native, FallbackNotifier)
    assert [type(b).__name__ for b in native.backends] == ["FreedesktopNotifier"]
    only_tray = build_notifier(AppSettings(notifier="tray"), handler=handler, fallback=tray)
    assert isinstance(only_tray, FallbackNotifier)
    assert only_tray.backends == [tray]
    headless_tray = build_notifier(AppSettings(notifier="tray"), handler=handler)
    assert headless_tray.state is NotifierState.FAILED
    assert "desktop app" in headless_tray.detail
