"""The log view: filter bar, table and detail pane, as a user sees and drives them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyleOptionViewItem,
)
from pytestqt.qtbot import QtBot

from qt.conftest import ControllerEnv
from qt.log_support import add_feed, settle, store_events
from tidings.core.models import Header
from tidings.core.notification import Urgency
from tidings.qt import log_view as log_view_module
from tidings.qt.log_model import Column
from tidings.qt.log_view import READ_DELAY_MS, SEARCH_DELAY_MS, LogView, pretty_data


@pytest.fixture
def env(controller_env: ControllerEnv) -> ControllerEnv:
    add_feed(controller_env, "a", "Alpha")
    add_feed(controller_env, "b", "Beta")
    return controller_env


def make_view(env: ControllerEnv, qtbot: QtBot, *, height: int = 600) -> LogView:
    view = LogView(env.controller)
    qtbot.addWidget(view)
    view.resize(900, height)
    view.show()
    env.run(view.model.wait_idle())
    settle(env, 0.05)
    return view


def select(env: ControllerEnv, view: LogView, row: int) -> None:
    view.table.setCurrentIndex(view.model.index(row, Column.TITLE))
    settle(env, 0.02)


def cell_text(view: LogView, row: int, column: int) -> str:
    return str(view.model.data(view.model.index(row, column)))


def is_bold(view: LogView, row: int) -> bool:
    font = view.model.data(view.model.index(row, Column.TITLE), Qt.ItemDataRole.FontRole)
    return isinstance(font, QFont) and font.bold()


def test_markup_shows_literally_in_table_and_detail(env: ControllerEnv, qtbot: QtBot) -> None:
    """`<b>x</b>` in title, body and data is shown as those eight characters everywhere."""
    store_events(
        env,
        "a",
        1,
        title=lambda i: "<b>x</b>",
        body=lambda i: "<b>x</b>",
        data=lambda i: "<b>x</b>",
    )
    view = make_view(env, qtbot)
    select(env, view, 0)
    detail = view.detail
    assert detail.title.textFormat() == Qt.TextFormat.PlainText
    assert detail.title.text() == "<b>x</b>"
    # Rendered as rich text the label would be only as wide as a bold "x".
    assert detail.title.sizeHint().width() >= detail.title.fontMetrics().horizontalAdvance(
        "<b>x</b>"
    )
    assert detail.body.toPlainText() == "<b>x</b>"
    assert detail.data.toPlainText() == "<b>x</b>"
    for label in (detail.feed, detail.type, detail.event_id, detail.decision, detail.headers):
        assert label.textFormat() == Qt.TextFormat.PlainText
    index = view.model.index(0, Column.TITLE)
    assert index.data() == "<b>x</b>"
    option = QStyleOptionViewItem()
    view.table.itemDelegate().initStyleOption(option, index)  # type: ignore[attr-defined]
    assert option.text == "<b>x</b>"
    hint = view.table.itemDelegate().sizeHint(option, index)
    assert hint.width() >= view.table.fontMetrics().horizontalAdvance("<b>x</b>")


def test_selecting_marks_read_after_a_short_delay(env: ControllerEnv, qtbot: QtBot) -> None:
    """A selected unread event turns read after the delay; passing over one leaves it unread."""
    events = store_events(env, "a", 3)
    env.run(env.controller.refresh_counts())
    view = make_view(env, qtbot)
    select(env, view, 2)
    select(env, view, 1)  # moved on before the delay: row 2 stays unread
    assert is_bold(view, 1)
    assert view.detail.read_button.text().replace("&", "") == "Mark read"
    settle(env, READ_DELAY_MS / 1000 + 0.4)
    env.run(view.model.wait_idle())
    assert not is_bold(view, 1)
    assert is_bold(view, 2)
    assert is_bold(view, 0)
    stored = env.run(env.store.get(events[1].rowid))
    assert stored is not None
    assert stored.read
    assert env.controller.unread["a"] == 2
    assert view.detail.read_button.text().replace("&", "") == "Mark unread"
    view.detail.read_button.click()
    settle(env, 0.1)
    assert is_bold(view, 1)
    assert env.controller.unread["a"] == 3


def test_search_box_waits_for_typing_to_pause(env: ControllerEnv, qtbot: QtBot) -> None:
    """Typing re-queries once, shortly after the last key, with the words typed."""
    store_events(env, "a", 5, body=lambda i: "the kettle boiled" if i == 2 else "tea")
    view = make_view(env, qtbot)
    assert view.model.rowCount() == 5
    qtbot.keyClicks(view.search, "kettle")
    assert view.model.filter.query == ""
    settle(env, SEARCH_DELAY_MS / 1000 + 0.3)
    env.run(view.model.wait_idle())
    assert view.model.filter.query == "kettle"
    assert [cell_text(view, r, Column.SUMMARY) for r in range(view.model.rowCount())] == [
        "the kettle boiled"
    ]


def test_filter_bar_widgets_filter_the_table(env: ControllerEnv, qtbot: QtBot) -> None:
    """Feed, urgency, unread-only and time range each narrow the table; clearing shows all."""
    store_events(env, "a", 3, urgency=lambda i: Urgency.CRITICAL if i == 0 else Urgency.LOW)
    store_events(env, "b", 2, title=lambda i: f"beta {i}")
    env.run(env.controller.refresh_counts())
    view = make_view(env, qtbot)
    assert view.model.rowCount() == 5
    assert view.feed_combo.itemText(1) == "Alpha (3)"

    def wait() -> int:
        env.run(view.model.wait_idle())
        return view.model.rowCount()

    view.feed_combo.setCurrentIndex(view.feed_combo.findData("b"))
    assert wait() == 2
    view.feed_combo.setCurrentIndex(0)
    view.urgency_combo.setCurrentIndex(3)  # critical only
    assert wait() == 1
    assert cell_text(view, 0, Column.TITLE) == "Event 0"
    view.urgency_combo.setCurrentIndex(0)
    assert wait() == 5
    env.run(view.model.mark_read([view.model.event_at(0).rowid]))  # type: ignore[union-attr]
    view.unread_check.setChecked(True)
    assert wait() == 4
    view.unread_check.setChecked(False)
    view.time_combo.setCurrentIndex(1)  # last hour
    assert wait() == 5
    assert view.model.filter.since is not None
    env.run(view.clear_filters())
    assert wait() == 5
    assert view.model.filter.since is None


def test_new_events_do_not_move_a_scrolled_view(env: ControllerEnv, qtbot: QtBot) -> None:
    """Scrolled down, the rows in view stay where they are when events arrive at the top; at
    the top, the newest event shows first."""
    store_events(env, "a", 150)
    view = make_view(env, qtbot, height=400)
    bar = view.table.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    settle(env, 0.05)
    top_rowid = view.model.event_at(view.table.rowAt(0)).rowid  # type: ignore[union-attr]
    store_events(env, "a", 4, title=lambda i: f"new {i}", deliver=True)
    env.wait_for(lambda: view.model.rowCount() == 154)
    settle(env, 0.05)
    assert view.model.event_at(view.table.rowAt(0)).rowid == top_rowid  # type: ignore[union-attr]
    bar.setValue(0)
    store_events(env, "a", 1, title=lambda i: "newest", deliver=True)
    env.wait_for(lambda: view.model.rowCount() == 155)
    settle(env, 0.05)
    assert bar.value() == 0
    assert cell_text(view, view.table.rowAt(0), Column.TITLE) == "newest"


def test_detail_pane_shows_the_event_in_full(env: ControllerEnv, qtbot: QtBot) -> None:
    """JSON data is indented, the decision is in words, header names show but secret values
    never do, and the link opens through the controller."""
    feed = env.controller.feed("a")
    assert feed is not None
    headers = (Header(name="X-Env", value="prod"), Header(name="X-Token", secret=True))
    env.run(env.controller.save_feed(replace(feed, headers=headers), {"header:X-Token": "s3cr3t"}))
    store_events(env, "a", 1, title=None, reason="muted", data=lambda i: '{"a": 1, "b": [2]}')
    store_events(env, "a", 1, url="https://example.org/x")
    opened: list[str] = []
    env.controller._open_url = lambda url: opened.append(url) or True
    view = make_view(env, qtbot)
    select(env, view, 1)
    detail = view.detail
    assert detail.data.toPlainText() == json.dumps({"a": 1, "b": [2]}, indent=2)
    assert "muted" in detail.decision.text()
    assert "X-Env: prod" in detail.headers.text()
    assert "X-Token" in detail.headers.text()
    assert not detail.open_button.isEnabled()
    texts = [w.text() for w in view.findChildren(QLineEdit)] + [
        w.text() for w in view.findChildren(QPushButton)
    ]
    texts += [detail.headers.text(), detail.body.toPlainText(), detail.data.toPlainText()]
    assert not any("s3cr3t" in t for t in texts)
    select(env, view, 0)
    assert detail.link.text() == "https://example.org/x"
    assert detail.open_button.isEnabled()
    detail.open_button.click()
    assert opened == ["https://example.org/x"]


def test_copy_puts_the_data_on_the_clipboard(env: ControllerEnv, qtbot: QtBot) -> None:
    """The copy button copies the event's raw data, exactly."""
    store_events(env, "a", 1, data=lambda i: '{"x": "<b>1</b>"}')
    view = make_view(env, qtbot)
    select(env, view, 0)
    view.detail.copy_button.click()
    assert QGuiApplication.clipboard().text() == '{"x": "<b>1</b>"}'


def _message_box(view: LogView) -> QMessageBox | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox) and widget.isVisible():
            return widget
    box = view.findChild(QMessageBox, "tidings-confirm-delete")
    return box if box is not None and box.isVisible() else None


def test_delete_asks_first(env: ControllerEnv, qtbot: QtBot) -> None:
    """Delete opens a confirmation (no nested loop): Cancel keeps the event, Delete removes it."""
    events = store_events(env, "a", 2)
    view = make_view(env, qtbot)
    select(env, view, 0)

    async def answer(button_text: str) -> None:
        view.detail.delete_button.click()
        for _ in range(200):
            box = _message_box(view)
            if box is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no confirmation appeared")
        assert box.isModal()
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                break
        else:
            raise AssertionError(f"no {button_text} button")
        for _ in range(200):
            if not view._deleting:
                return
            await asyncio.sleep(0.01)

    env.run(answer("Cancel"))
    assert view.model.rowCount() == 2
    env.run(answer("Delete"))
    assert view.model.rowCount() == 1
    assert env.run(env.store.get(events[1].rowid)) is None
    assert cell_text(view, 0, Column.TITLE) == "Event 0"


def test_show_event_finds_an_event_beyond_the_first_page(env: ControllerEnv, qtbot: QtBot) -> None:
    """show_event clears the filters to the event's feed, loads pages until it is there and
    selects it."""
    events = store_events(env, "a", 700)
    store_events(env, "b", 3)
    view = make_view(env, qtbot)
    qtbot.keyClicks(view.search, "nothing-matches")
    env.run(view.apply_filter())
    assert view.model.rowCount() == 0
    env.run(view.show_event("a", events[100].rowid))
    assert view.search.text() == ""
    assert view.feed_combo.currentData() == "a"
    assert view.selected_event is not None
    assert view.selected_event.rowid == events[100].rowid
    assert view.detail.title.text() == "Event 100"


def test_show_event_too_far_down_shows_it_without_a_row(
    env: ControllerEnv, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event further down than show_event will load is still shown in the detail pane."""
    monkeypatch.setattr(log_view_module, "MAX_SHOW_PAGES", 1)
    events = store_events(env, "a", 700)
    view = make_view(env, qtbot)
    env.run(view.show_event("a", events[0].rowid))
    assert view.detail.current is not None
    assert view.detail.current.rowid == events[0].rowid
    assert view.model.rowCount() < 700


def test_controls_have_names_and_mnemonics(env: ControllerEnv, qtbot: QtBot) -> None:
    """Every control can be found by a screen reader, and the filter bar by the keyboard."""
    view = make_view(env, qtbot)
    for widget in (
        view.search,
        view.feed_combo,
        view.urgency_combo,
        view.time_combo,
        view.unread_check,
        view.table,
        view.detail.open_button,
        view.detail.copy_button,
        view.detail.read_button,
        view.detail.delete_button,
    ):
        assert widget.accessibleName(), widget
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=2000)
    view.focus_search()
    assert QApplication.focusWidget() is view.search
    # Tab walks the bar in reading order, then into the table.
    walked = []
    for _ in range(5):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        walked.append(QApplication.focusWidget())
    assert walked == [
        view.unread_check,
        view.feed_combo,
        view.urgency_combo,
        view.time_combo,
        view.table,
    ]


def test_pretty_data() -> None:
    """JSON is indented, anything else is kept as it came."""
    assert pretty_data('{"a":1}') == '{\n  "a": 1\n}'
    assert pretty_data("{not json") == "{not json"
    assert pretty_data("plain <b>") == "plain <b>"


def test_unused_index_is_harmless(env: ControllerEnv, qtbot: QtBot) -> None:
    """Nothing selected: the detail pane says so, and the actions do nothing."""
    view = make_view(env, qtbot)
    assert view.detail.placeholder.isVisible()
    view.copy_data()
    view.delete_selected()
    assert view.selected_event is None
    assert not view.table.currentIndex().isValid()
    assert QModelIndex() == view.table.currentIndex()


def test_large_fonts_and_right_to_left(env: ControllerEnv, qtbot: QtBot) -> None:
    """With a doubled font rows grow to fit the text, and right to left the filter bar mirrors
    (its labels sit right of their fields)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    normal = app.font()
    big = QFont(normal)
    big.setPointSizeF(normal.pointSizeF() * 2)
    app.setFont(big)
    app.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
    try:
        store_events(env, "a", 3, title=lambda i: "<b>x</b>")
        view = make_view(env, qtbot)
        assert view.table.rowHeight(0) >= view.table.fontMetrics().height()
        assert view.table.rowHeight(0) > QFontMetrics(normal).height() * 1.5
        search_label = next(w for w in view.findChildren(QLabel) if w.buddy() is view.search)
        assert search_label.geometry().left() > view.search.geometry().right()
    finally:
        app.setFont(normal)
        app.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
