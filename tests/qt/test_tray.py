"""The tray: its state and tooltip from real feeds, the menu built as it opens, and what each
entry does to the running app (offscreen Qt has no tray, but the menu and icon logic run)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QSystemTrayIcon

from qt.conftest import ControllerEnv
from support.scripted_server import Reply, ScriptedServer, sse_reply
from tidings.core.config import load_settings
from tidings.core.models import (
    ConnectionState,
    Feed,
    FeedRules,
    FeedStatus,
    QuietHours,
    StopReason,
)
from tidings.core.rules import mute_until_tomorrow
from tidings.core.tray_state import TrayState, is_quiet, next_quiet_change, tray_state
from tidings.qt.controller import COUNTS_EVERY_MS
from tidings.qt.tray import Tray, menu_text

# -- the pure state -------------------------------------------------------------------


def _feed(feed_id: str, *, paused: bool = False, muted_until: float | None = None) -> Feed:
    return Feed(
        id=feed_id,
        name=feed_id,
        url="http://127.0.0.1:9/",
        paused=paused,
        rules=FeedRules(muted_until=muted_until),
    )


def _status(
    state: ConnectionState, reason: StopReason | None = None, attempt: int = 1
) -> FeedStatus:
    return FeedStatus(state=state, url="http://127.0.0.1:9/", stop_reason=reason, attempt=attempt)


OPEN = _status(ConnectionState.OPEN)
RETRYING = _status(ConnectionState.RETRYING)
NEEDS_CREDENTIALS = _status(ConnectionState.STOPPED, StopReason.NEEDS_CREDENTIALS)
CLOSED = _status(ConnectionState.STOPPED, StopReason.CLOSED)


def test_tray_state_ranks_error_over_retrying_over_quiet() -> None:
    """A failure shows whatever else holds; then a retry; then quiet or all paused; else ok."""
    a, b = _feed("a"), _feed("b")
    assert tray_state({}, [], quiet=False) is TrayState.OK
    assert tray_state({"a": OPEN, "b": OPEN}, [a, b], quiet=False) is TrayState.OK
    assert tray_state({"a": OPEN, "b": RETRYING}, [a, b], quiet=False) is TrayState.RETRYING
    assert (
        tray_state({"a": NEEDS_CREDENTIALS, "b": RETRYING}, [a, b], quiet=True) is TrayState.ERROR
    )
    assert tray_state({"a": OPEN, "b": RETRYING}, [a, b], quiet=True) is TrayState.RETRYING
    assert tray_state({"a": OPEN}, [a], quiet=True) is TrayState.PAUSED
    # A second connecting attempt is a retry; a clean stop is no error.
    again = _status(ConnectionState.CONNECTING, attempt=2)
    assert tray_state({"a": again}, [a], quiet=False) is TrayState.RETRYING
    assert tray_state({"a": CLOSED}, [a], quiet=False) is TrayState.OK


def test_paused_feeds_do_not_count_and_all_paused_is_paused() -> None:
    """A paused feed's old failure is ignored; when every feed is paused the icon says so."""
    a, b = _feed("a", paused=True), _feed("b")
    assert tray_state({"a": NEEDS_CREDENTIALS, "b": OPEN}, [a, b], quiet=False) is TrayState.OK
    assert tray_state({"a": NEEDS_CREDENTIALS}, [a], quiet=False) is TrayState.PAUSED


def test_quiet_means_quiet_hours_now_or_every_running_feed_muted() -> None:
    """Quiet hours in effect, or all running feeds muted (the tray's quiet mode), is quiet."""
    now = time.time()
    muted, loud, paused = _feed("m", muted_until=now + 60), _feed("l"), _feed("p", paused=True)
    off = QuietHours()
    assert is_quiet([muted, paused], off, now)
    assert not is_quiet([muted, loud], off, now)
    assert not is_quiet([], off, now)
    assert not is_quiet([_feed("old", muted_until=now - 1)], off, now)
    always = QuietHours(enabled=True, start=dt.time(0, 0), end=dt.time(0, 0))
    assert is_quiet([loud], always, now)
    assert next_quiet_change([muted, loud], off, now) == pytest.approx(60)
    assert next_quiet_change([loud], off, now) is None


# -- the tray over a running app ------------------------------------------------------


@pytest.fixture
def tray(controller_env: ControllerEnv) -> Iterator[Tray]:
    tray = Tray(controller_env.controller)
    # Finish the history load inside the loop (pytest-qt processes events between phases).
    controller_env.run(tray.recent_loaded)
    try:
        yield tray
    finally:
        tray.hide()
        tray.menu.deleteLater()
        tray.deleteLater()


def _texts(menu: QMenu) -> list[str]:
    return [
        a.text().replace("&&", "\0").replace("&", "").replace("\0", "&") for a in menu.actions()
    ]


def _action(menu: QMenu, text: str) -> QAction:
    """The entry whose text (mnemonics removed) starts with ``text``."""
    for action in menu.actions():
        shown = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        if shown.startswith(text):
            return action
    raise AssertionError(f"no entry {text!r} in {_texts(menu)}")


def _submenu(menu: QMenu, text: str) -> QMenu:
    sub = _action(menu, text).menu()
    assert isinstance(sub, QMenu)
    return sub


def _open_menu(tray: Tray) -> QMenu:
    tray.menu.aboutToShow.emit()
    return tray.menu


def _events(*titles: str) -> bytes:
    return b"".join(
        f"id: {n}\ndata: {json.dumps({'title': t})}\n\n".encode() for n, t in enumerate(titles, 1)
    )


def _serve(env: ControllerEnv, body: bytes = b"") -> ScriptedServer:
    server = ScriptedServer(lambda _request: sse_reply(body, end="hang"))
    env.run(server.__aenter__())
    return server


def _add(env: ControllerEnv, name: str, url: str, **kwargs: object) -> Feed:
    return env.run(env.controller.add_feed(Feed(id="", name=name, url=url, **kwargs)))  # type: ignore[arg-type]


def _flush(env: ControllerEnv) -> None:
    """Let queued signals, timers (counts redraw at most every COUNTS_EVERY_MS) and spawned
    tasks run."""
    env.run(asyncio.sleep(COUNTS_EVERY_MS / 1000 + 0.05))


def test_tooltip_and_state_follow_connections_and_unread(
    controller_env: ControllerEnv, tray: Tray
) -> None:
    """Two connected feeds with three events: ok, "2 feeds connected, 3 unread"; a rejected
    token turns the icon to error and the tooltip says so."""
    env = controller_env
    assert tray.tooltip == "Tidings — no feeds yet, 0 unread"
    server = _serve(env, _events("one", "two", "three"))
    denied = ScriptedServer(
        lambda _r: Reply(status=401, headers=(("Content-Type", "text/plain"),), body=[b"no"])
    )
    env.run(denied.__aenter__())
    try:
        a = _add(env, "A", server.url("/a"), preset="json")
        b = _add(env, "B", server.url("/b"), preset="json")
        env.wait_for(
            lambda: all(
                (s := env.controller.status(f.id)) is not None and s.state is ConnectionState.OPEN
                for f in (a, b)
            )
        )
        env.wait_for(lambda: tray.tooltip == "Tidings — 2 feeds connected, 6 unread")
        assert tray.state is TrayState.OK
        assert tray.icon.toolTip() == tray.tooltip
        assert not tray.icon.icon().isNull()

        c = _add(env, "C", denied.url())
        env.wait_for(
            lambda: (
                (s := env.controller.status(c.id)) is not None
                and s.stop_reason is StopReason.NEEDS_CREDENTIALS
            )
        )
        _flush(env)
        assert tray.state is TrayState.ERROR
        assert tray.tooltip == (
            "Tidings — 2 of 3 feeds connected, 6 unread, a feed needs attention"
        )
        menu = _open_menu(tray)
        assert any(t.startswith("C — ") for t in _texts(menu))
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
        env.run(denied.close())


def test_menu_rows_pause_mute_and_reconnect_a_feed(
    controller_env: ControllerEnv, tray: Tray
) -> None:
    """Each feed is a row with its status; its submenu pauses (saved), mutes for an hour
    (saved), unmutes and resumes."""
    env = controller_env
    feed = _add(env, "Builds & tests", "http://127.0.0.1:9/x")
    menu = _open_menu(tray)
    row = next(t for t in _texts(menu) if t.startswith("Builds & tests — "))
    assert row != "Builds & tests — paused"
    sub = _submenu(menu, "Builds & tests")
    assert _texts(sub)[:3] == ["Pause", "Reconnect", "Mute for 1 hour"]
    assert "Edit…" in _texts(sub)
    assert "Open its log" in _texts(sub)

    _action(sub, "Pause").trigger()
    env.wait_for(lambda: load_settings(env.paths.settings_file).feeds[0].paused)
    menu = _open_menu(tray)
    assert "Builds & tests — paused" in _texts(menu)
    sub = _submenu(menu, "Builds & tests")
    assert _action(sub, "Reconnect").isEnabled() is False

    before = time.time()
    _action(sub, "Mute for 1 hour").trigger()
    env.wait_for(lambda: load_settings(env.paths.settings_file).feeds[0].rules.muted_until)
    until = load_settings(env.paths.settings_file).feeds[0].rules.muted_until
    assert until is not None
    assert before + 3590 < until < time.time() + 3610

    sub = _submenu(_open_menu(tray), "Builds & tests")
    _action(sub, "Unmute").trigger()
    env.wait_for(lambda: load_settings(env.paths.settings_file).feeds[0].rules.muted_until is None)
    _action(sub, "Resume").trigger()
    env.wait_for(lambda: not load_settings(env.paths.settings_file).feeds[0].paused)
    assert env.controller.feed(feed.id) is not None


def test_recent_events_show_as_plain_text_and_open_the_log(
    controller_env: ControllerEnv, tray: Tray
) -> None:
    """The last five events, newest first, show their text literally (markup and & too),
    whether they popped up or were held back by the flood limit; clicking one asks the log
    window for that event."""
    env = controller_env
    lines = [f"event {n}" for n in range(1, 7)] + ["<b>bold</b> & co"]
    server = _serve(env, b"".join(f"data: {line}\n\n".encode() for line in lines))
    shown: list[tuple[str, int]] = []
    env.controller.show_log_requested.connect(lambda f, r: shown.append((f, r)))
    try:
        feed = _add(env, "Feed", server.url())
        env.wait_for(lambda: len(tray.recent) == 5 and "co" in tray.recent[0].data)
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    menu = _open_menu(tray)
    texts = _texts(menu)
    start = texts.index("Recent events") + 1
    assert texts[start : start + 5] == [
        "Feed: <b>bold</b> & co",
        "Feed: event 6",
        "Feed: event 5",
        "Feed: event 4",
        "Feed: event 3",
    ]
    _action(menu, "Feed: <b>bold</b>").trigger()
    assert shown == [(feed.id, tray.recent[0].rowid)]


def test_recent_events_are_loaded_from_history_at_start(controller_env: ControllerEnv) -> None:
    """A tray built after events were stored lists them (store.recent), without duplicates."""
    env = controller_env
    server = _serve(env, _events("stored before"))
    try:
        _add(env, "Old", server.url(), preset="json")
        env.wait_for(lambda: env.controller.total_unread == 1)
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    tray = Tray(env.controller)
    try:
        env.run(tray.recent_loaded)
        _flush(env)
        assert len(tray.recent) == 1
        assert "Old: stored before" in _texts(_open_menu(tray))
    finally:
        tray.menu.deleteLater()
        tray.deleteLater()


def test_pause_all_resume_all_and_quiet_mode(controller_env: ControllerEnv, tray: Tray) -> None:
    """Pause all pauses every feed, Resume all resumes them; "Quiet until…" mutes all feeds
    for an hour or until tomorrow morning, shows the paused icon, and "End quiet time" ends it."""
    env = controller_env
    server = _serve(env)
    try:
        _quiet_mode_scenario(env, tray, server)
    finally:
        env.run(env.hub.stop())
        env.run(server.close())


def _quiet_mode_scenario(env: ControllerEnv, tray: Tray, server: ScriptedServer) -> None:
    one = _add(env, "One", server.url("/1"))
    two = _add(env, "Two", server.url("/2"))

    def saved() -> tuple[Feed, ...]:
        return load_settings(env.paths.settings_file).feeds

    menu = _open_menu(tray)
    assert _action(menu, "Resume all").isEnabled() is False
    _action(menu, "Pause all").trigger()
    env.wait_for(lambda: all(f.paused for f in saved()))
    _flush(env)
    assert tray.state is TrayState.PAUSED
    menu = _open_menu(tray)
    assert _action(menu, "Pause all").isEnabled() is False
    _action(menu, "Resume all").trigger()
    env.wait_for(lambda: not any(f.paused for f in saved()))
    env.wait_for(
        lambda: all(
            (s := env.controller.status(f.id)) is not None and s.state is ConnectionState.OPEN
            for f in (one, two)
        )
    )
    _flush(env)
    assert tray.state is TrayState.OK

    quiet = _submenu(_open_menu(tray), "Quiet until")
    assert _texts(quiet) == ["For 1 hour", "Until tomorrow 08:00", "End quiet time"]
    assert _action(quiet, "End quiet time").isEnabled() is False
    _action(quiet, "Until tomorrow").trigger()
    morning = mute_until_tomorrow(time.time(), hour=8)
    env.wait_for(lambda: all(f.rules.muted_until == morning for f in saved()))
    _flush(env)
    assert tray.state is TrayState.PAUSED
    assert "paused or quiet" in tray.tooltip
    quiet = _submenu(_open_menu(tray), "Quiet until")
    assert _action(quiet, "End quiet time").isEnabled() is True


def test_quiet_for_one_hour(controller_env: ControllerEnv, tray: Tray) -> None:
    """ "Quiet until… / For 1 hour" mutes every feed for an hour (saved)."""
    env = controller_env
    _add(env, "One", "http://127.0.0.1:9/1")
    _add(env, "Two", "http://127.0.0.1:9/2")
    _action(_submenu(_open_menu(tray), "Quiet until"), "For 1 hour").trigger()
    saved = lambda: load_settings(env.paths.settings_file).feeds  # noqa: E731
    env.wait_for(lambda: all(f.rules.muted_until is not None for f in saved()))
    # The settings file keeps whole seconds, rounded up.
    assert all(3590 < (f.rules.muted_until or 0) - time.time() <= 3601 for f in saved())


def test_end_quiet_time_unmutes_what_quiet_mode_muted(
    controller_env: ControllerEnv, tray: Tray
) -> None:
    """ "End quiet time" lifts the mute that "Quiet until…" set on every feed."""
    env = controller_env
    _add(env, "One", "http://127.0.0.1:9/1")
    _action(_submenu(_open_menu(tray), "Quiet until"), "Until tomorrow").trigger()
    saved = lambda: load_settings(env.paths.settings_file).feeds  # noqa: E731
    env.wait_for(lambda: all(f.rules.muted_until is not None for f in saved()))
    _action(_submenu(_open_menu(tray), "Quiet until"), "End quiet time").trigger()
    env.wait_for(lambda: all(f.rules.muted_until is None for f in saved()), timeout=3)


def test_open_log_settings_and_quit(controller_env: ControllerEnv, tray: Tray) -> None:
    """Open log asks for the whole log; Settings… opens the settings dialog; Quit asks the app
    to end."""
    env = controller_env
    shown: list[tuple[str, int]] = []
    env.controller.show_log_requested.connect(lambda f, r: shown.append((f, r)))
    menu = _open_menu(tray)
    assert "No feeds yet" in _texts(menu)
    assert "No events yet" in _texts(menu)
    _action(menu, "Open log").trigger()
    assert shown == [("", -1)]

    _action(menu, "Settings…").trigger()
    _flush(env)
    # Not QApplication.topLevelWidgets(): wrapping Qt's own top-level widgets from Python
    # crashed later tests (a timer fired at a deleted object).
    dialog = QApplication.activeModalWidget()
    assert type(dialog).__name__ == "SettingsDialog"
    assert isinstance(dialog, QDialog)
    assert dialog.isVisible()
    dialog.reject()
    _flush(env)

    _action(_open_menu(tray), "Quit Tidings").trigger()
    assert env.quit_requested == [True]


def test_edit_opens_the_feed_editor(controller_env: ControllerEnv, tray: Tray) -> None:
    """A feed's Edit… opens the feed editor for it (the editor's own tests cover the rest)."""
    env = controller_env
    _add(env, "Edited", "http://127.0.0.1:9/e")
    sub = _submenu(_open_menu(tray), "Edited")
    _action(sub, "Edit…").trigger()
    env.wait_for(lambda: type(QApplication.activeModalWidget()).__name__ == "FeedEditor")
    editor = QApplication.activeModalWidget()
    assert isinstance(editor, QDialog)
    assert editor.isVisible()
    editor.reject()
    _flush(env)


@pytest.mark.parametrize(("platform", "toggles"), [("linux", 1), ("win32", 1), ("darwin", 0)])
def test_left_click_toggles_the_window_except_on_macos(
    controller_env: ControllerEnv, platform: str, toggles: int
) -> None:
    """A left click (Trigger) asks for the window; on macOS a click opens the menu instead.
    A right click (Context) never toggles."""
    tray = Tray(controller_env.controller, platform=platform)
    controller_env.run(tray.recent_loaded)
    try:
        seen: list[bool] = []
        tray.toggle_window_requested.connect(lambda: seen.append(True))
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Context)
        assert len(seen) == toggles
    finally:
        tray.menu.deleteLater()
        tray.deleteLater()


def test_a_flood_of_signals_renders_the_icon_once(
    controller_env: ControllerEnv, tray: Tray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hundred count and status changes in one loop turn re-render the icon once."""
    env = controller_env
    _flush(env)
    renders: list[TrayState] = []
    original = tray.icons.icon

    def counting(state: TrayState, unread: int = 0) -> object:
        renders.append(state)
        return original(state, unread)

    monkeypatch.setattr(tray.icons, "icon", counting)
    for _ in range(100):
        env.controller.counts_changed.emit()
        env.controller.status_changed.emit("x", OPEN)
    assert renders == []
    _flush(env)
    assert len(renders) == 1


def test_availability_matches_the_platform(controller_env: ControllerEnv, tray: Tray) -> None:
    """`available` is Qt's answer; offscreen there is no tray, so the icon stays hidden."""
    assert tray.available is QSystemTrayIcon.isSystemTrayAvailable()
    if not tray.available:
        assert not tray.icon.isVisible()


def test_menu_text_escapes_mnemonics_and_newlines() -> None:
    """A name's & shows as itself; line breaks become spaces."""
    assert menu_text("R&D\nbuilds") == "R&&D builds"


def test_failed_notifications_show_in_the_tooltip_and_menu(
    controller_env: ControllerEnv, tray: Tray
) -> None:
    """No notification backend works: the tray says so (tooltip and a first menu entry)
    until a backend works again."""
    env = controller_env
    assert "notifications" not in tray.tooltip
    env.controller.set_notifier_info("freedesktop notifications", "failed", "no D-Bus session")
    _flush(env)
    assert tray.tooltip.endswith("notifications are not working")
    entry = _action(_open_menu(tray), "Notifications are not working")
    assert entry.toolTip() == "no D-Bus session"
    env.controller.set_notifier_info("freedesktop notifications", "ok", "dunst 1.9.0")
    _flush(env)
    assert "notifications" not in tray.tooltip
    assert not any(t.startswith("Notifications") for t in _texts(_open_menu(tray)))
