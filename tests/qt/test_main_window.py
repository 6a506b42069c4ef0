"""The main window: first-run page, live log from a real feed, status bar, menus, closing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
)
from pytestqt.qtbot import QtBot

from qt.conftest import ControllerEnv
from qt.log_support import UNREACHABLE, add_feed, settle, store_events
from support.scripted_server import ScriptedServer, sse_reply
from tidings.core.config import load_settings
from tidings.core.models import Auth, AuthKind, Feed
from tidings.qt.log_model import Column
from tidings.qt.main_window import MainWindow


def make_window(env: ControllerEnv, qtbot: QtBot, *, tray: bool = True) -> MainWindow:
    window = MainWindow(env.controller, tray_available=tray)
    qtbot.addWidget(window)
    window.show()
    env.run(window.log_view.model.wait_idle())
    return window


def visible_box() -> QMessageBox | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox) and widget.isVisible():
            return widget
    return None


async def wait_box() -> QMessageBox:
    for _ in range(300):
        box = visible_box()
        if box is not None:
            return box
        await asyncio.sleep(0.01)
    raise AssertionError("no message box appeared")


def click(box: QMessageBox, text: str) -> None:
    for button in box.buttons():
        if button.text().replace("&", "") == text:
            button.click()
            return
    raise AssertionError(f"no {text!r} button in {[b.text() for b in box.buttons()]}")


def test_first_run_offers_the_demo_and_it_fills_the_log(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """With no feeds the window shows the welcome page; "Try a demo feed" starts the demo on
    loopback, the log page replaces the welcome page and demo events appear in the table."""
    env = controller_env
    window = make_window(env, qtbot)
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.demo_button.text().replace("&", "") == "Try a demo feed"
    window.welcome.demo_button.click()
    try:
        env.wait_for(lambda: window.pages.currentWidget() is window.splitter, timeout=10)
        env.wait_for(lambda: window.log_view.model.rowCount() > 0, timeout=15)
        assert window.log_view.model.data(window.log_view.model.index(0, Column.FEED)) == "Demo"
    finally:
        env.run(env.hub.stop())
        if window.demo is not None:
            env.run(window.demo.close())


def test_add_a_feed_opens_the_editor(
    controller_env: ControllerEnv, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The welcome page's and the File menu's "Add a feed" both open the feed editor."""
    env = controller_env
    calls: list[tuple[Any, ...]] = []

    async def fake_edit_feed(controller: Any, parent: Any, feed: Any) -> None:
        calls.append((controller, parent, feed))

    import tidings.qt.feed_editor

    monkeypatch.setattr(tidings.qt.feed_editor, "edit_feed", fake_edit_feed)
    window = make_window(env, qtbot)
    window.welcome.add_button.click()
    window.add_action.trigger()
    settle(env, 0.05)
    assert calls == [(env.controller, window, None)] * 2


def test_live_events_from_a_real_feed_and_the_status_bar(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """A feed on a real loopback server: its events show in the log as they arrive (markup as
    text), and the status bar counts feeds, connections and unread events."""
    env = controller_env
    window = make_window(env, qtbot)
    assert window.counts_label.text() == "0 feeds, 0 connected, 0 unread"
    server = ScriptedServer(
        [sse_reply(b"id: 1\ndata: <b>first</b>\n\nid: 2\ndata: second\n\n", end="hang")]
    )
    env.run(server.__aenter__())
    try:
        env.run(env.controller.add_feed(Feed(id="live", name="Live", url=server.url())))
        env.wait_for(lambda: window.log_view.model.rowCount() == 2)
        env.wait_for(lambda: window.counts_label.text() == "1 feed, 1 connected, 2 unread")
        model = window.log_view.model
        assert model.data(model.index(0, Column.SUMMARY)) == "second"
        assert model.data(model.index(1, Column.SUMMARY)) == "<b>first</b>"
        assert window.pages.currentWidget() is window.splitter
        window.mark_all_action.trigger()
        env.wait_for(lambda: window.counts_label.text().endswith(" 0 unread"))
    finally:
        env.run(env.hub.stop())
        env.run(server.close())


def test_closing_with_a_tray_hides_the_window(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """With a tray icon, closing hides the window and the app keeps running."""
    env = controller_env
    window = make_window(env, qtbot, tray=True)
    window.close()
    assert not window.isVisible()
    assert visible_box() is None
    assert env.quit_requested == []
    window.bring_forward()
    assert window.isVisible()


def test_closing_without_a_tray_asks_and_can_remember(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Without a tray, closing asks; Cancel keeps the window, "Keep running" with "Don't ask
    again" hides it and saves the choice, and the next close does not ask."""
    env = controller_env
    window = make_window(env, qtbot, tray=False)

    async def close_and_answer(answer: str, remember: bool = False) -> None:
        window.close()
        box = await wait_box()
        assert box.text() == "Keep Tidings running in the background?"
        checkbox = box.checkBox()
        assert checkbox is not None
        checkbox.setChecked(remember)
        click(box, answer)
        for _ in range(300):
            if not window._asking:
                return
            await asyncio.sleep(0.01)

    env.run(close_and_answer("Cancel"))
    assert window.isVisible()
    env.run(close_and_answer("Keep running", remember=True))
    assert not window.isVisible()
    assert env.quit_requested == []
    assert load_settings(env.paths.settings_file).app.background_on_close == "keep"
    window.bring_forward()
    window.close()
    settle(env, 0.1)
    assert visible_box() is None
    assert not window.isVisible()
    assert env.quit_requested == []


def test_closing_without_a_tray_can_quit(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Choosing Quit ends the app; a saved "quit" choice quits without asking."""
    env = controller_env
    window = make_window(env, qtbot, tray=False)

    async def close_and_quit() -> None:
        window.close()
        click(await wait_box(), "Quit")
        for _ in range(300):
            if env.quit_requested:
                return
            await asyncio.sleep(0.01)

    env.run(close_and_quit())
    assert env.quit_requested == [True]
    app = load_settings(env.paths.settings_file).app
    assert app.background_on_close == "ask"  # not remembered
    from dataclasses import replace

    env.run(env.controller.save_app_settings(replace(app, background_on_close="quit")))
    window.bring_forward()
    window.close()
    settle(env, 0.05)
    assert visible_box() is None
    assert env.quit_requested == [True, True]


def test_menus_quit_search_and_about(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Ctrl+Q quits, Ctrl+F goes to the search box, About names the version (as plain text)."""
    env = controller_env
    add_feed(env, "a", "Alpha")
    window = make_window(env, qtbot)
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.search_action.shortcut().toString() == "Ctrl+F"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.log_view.table.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.log_view.search
    window.about_action.trigger()
    box = visible_box()
    assert box is not None
    import tidings

    assert tidings.__version__ in box.text()
    assert box.textFormat() == Qt.TextFormat.PlainText
    box.close()
    window.quit_action.trigger()
    assert env.quit_requested == [True]


def test_settings_menu_opens_the_settings_dialog(
    controller_env: ControllerEnv, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File > Settings… opens the settings dialog with the window as its parent."""
    env = controller_env
    calls: list[tuple[Any, Any]] = []

    async def fake_open_settings(controller: Any, parent: Any) -> None:
        calls.append((controller, parent))

    import tidings.qt.settings_dialog

    monkeypatch.setattr(tidings.qt.settings_dialog, "open_settings", fake_open_settings)
    window = make_window(env, qtbot)
    window.settings_action.trigger()
    settle(env, 0.05)
    assert calls == [(env.controller, window)]


def test_show_event_and_bring_forward(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """show_event selects the event in the log; bring_forward restores a minimised window."""
    env = controller_env
    add_feed(env, "a", "Alpha")
    events = store_events(env, "a", 5)
    window = make_window(env, qtbot)
    window.show_event("a", events[1].rowid)

    def selected() -> int | None:
        event = window.log_view.selected_event
        return None if event is None else event.rowid

    env.wait_for(lambda: selected() == events[1].rowid)
    assert window.log_view.detail.title.text() == "Event 1"
    window.showMinimized()
    settle(env, 0.05)
    window.bring_forward()
    assert window.isVisible()
    assert not window.isMinimized()


def test_window_state_is_kept_per_profile(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Size, splitters and column widths are saved in the profile's state directory and
    restored by the next window."""
    env = controller_env
    add_feed(env, "a", "Alpha")
    window = make_window(env, qtbot)
    window.resize(window.width(), 520)
    settle(env, 0.05)
    total = sum(window.log_view.splitter.sizes())
    window.log_view.splitter.setSizes([total - 200, 200])
    window.log_view.table.horizontalHeader().resizeSection(Column.TITLE, 333)
    settle(env, 0.05)
    saved_sizes = window.log_view.splitter.sizes()
    window.close()
    assert (env.paths.state_dir / "window.ini").exists()
    again = make_window(env, qtbot)
    settle(env, 0.05)
    assert again.height() == 520
    assert again.log_view.splitter.sizes() == saved_sizes
    assert again.log_view.table.horizontalHeader().sectionSize(Column.TITLE) == 333


def test_export_then_import_feeds_through_the_file_menu(
    controller_env: ControllerEnv, qtbot: QtBot, tmp_path: Path
) -> None:
    """File > Export writes the feeds without secrets; File > Import adds them back (renamed
    when the name is taken) and says the secret must be entered again."""
    env = controller_env
    feed = Feed(
        id="tok", name="Tokened", url=UNREACHABLE, paused=True, auth=Auth(kind=AuthKind.BEARER)
    )
    env.run(env.controller.add_feed(feed, {"auth": "tok-3n-s3cret"}))
    window = make_window(env, qtbot)
    target = tmp_path / "feeds.toml"

    async def through_dialog(action: Any, path: Path) -> None:
        action.trigger()
        for _ in range(300):
            dialog = window.findChild(QFileDialog, "tidings-feeds-file")
            if dialog is not None and dialog.isVisible():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no file dialog")
        # As a user would: type the file's path into the dialog's name box, press Enter.
        name_box = dialog.findChild(QLineEdit, "fileNameEdit")
        assert name_box is not None
        name_box.setText(str(path))
        dialog.accept()
        for _ in range(300):
            if env.controller.tasks.pending == 0:
                return
            await asyncio.sleep(0.01)

    env.run(through_dialog(window.export_action, target))
    text = target.read_text(encoding="utf-8")
    assert "Tokened" in text
    assert "tok-3n-s3cret" not in text
    env.run(through_dialog(window.import_action, target))
    names = [f.name for f in load_settings(env.paths.settings_file).feeds]
    assert names == ["Tokened", "Tokened (2)"]
    box = visible_box()
    assert box is not None
    assert "credentials" in box.text()
    box.close()


def test_no_two_mnemonics_of_the_window_clash(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Alt+letter reaches one control: the menus, the feeds panel, the filter bar and the
    detail pane's buttons all use different letters."""
    env = controller_env
    add_feed(env, "a", "Alpha")
    store_events(env, "a", 1)
    window = make_window(env, qtbot)
    window.log_view.table.setCurrentIndex(window.log_view.model.index(0, Column.TITLE))
    settle(env, 0.05)
    texts = [action.text() for action in window.menuBar().actions()]
    for widget in window.findChildren(QAbstractButton):
        if widget.isVisibleTo(window):
            texts.append(widget.text())
    for label in window.findChildren(QLabel):
        if label.buddy() is not None and label.isVisibleTo(window):
            texts.append(label.text())
    keys = [QKeySequence.mnemonic(t).toString() for t in texts]
    keys = [k for k in keys if k]
    assert len(keys) >= 12
    assert sorted(keys) == sorted(set(keys)), sorted(zip(keys, texts, strict=True))


def test_choosing_a_feed_in_the_feeds_panel_filters_the_log(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Selecting a feed on the left shows only its events; "All feeds" shows every event."""
    env = controller_env
    add_feed(env, "a", "Alpha")
    add_feed(env, "b", "Beta")
    store_events(env, "a", 2)
    store_events(env, "b", 3)
    window = make_window(env, qtbot)
    panel = window.feeds_panel
    model = window.log_view.model
    assert model.rowCount() == 5
    panel.view.setCurrentIndex(panel.model.index(panel.model.row_of("b"), 0))
    env.wait_for(lambda: model.filter.feeds == ("b",) and not model.loading)
    assert model.rowCount() == 3
    assert window.log_view.feed_combo.currentData() == "b"
    panel.view.setCurrentIndex(panel.model.index(panel.model.row_of(""), 0))
    env.wait_for(lambda: model.filter.feeds == () and not model.loading)
    assert model.rowCount() == 5
