"""A hostile server's text is shown as plain text, on one line where a line is meant, and cut
where a person can still read it: markup, ``<img>``, ``<a>``, bidi overrides, line breaks,
terminal escapes, very long lines and emoji sequences.

The rule (``tidings.core.notification``): a title is one line with no bidi embedding,
override or isolate and no control character, cut at ``TITLE_LIMIT``; bodies and raw data
keep every character, and are only ever put into plain-text widgets.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt  # noqa: TID251 - the log window's real widgets
from pytestqt.qtbot import QtBot

from qt.conftest import ControllerEnv
from qt.log_support import add_feed, settle, store_events
from tidings.core.decoder import DecodedEvent
from tidings.core.notification import (
    BIDI_CONTROLS,
    TITLE_LIMIT,
    Notification,
    plain_title,
    shorten,
)
from tidings.core.presets import MapContext, get_preset
from tidings.qt.log_model import Column
from tidings.qt.log_view import LogView

RLO = "\u202e"
PDF = "\u202c"
HOSTILE_TITLE = (
    f'<img src="https://evil.example/x.png"> invoice{RLO}fdp.exe{PDF} '
    "<a href='javascript:alert(1)'>pay</a>\n\x1b[31mred\x1b[0m 👨‍👩‍👧 🇫🇷"
)
FAMILY = "👨‍👩‍👧"


def test_a_title_is_one_plain_line_without_bidi_controls() -> None:
    note = Notification(title=HOSTILE_TITLE, body=f"body {RLO}kept")
    assert not BIDI_CONTROLS & set(note.title)
    assert "\n" not in note.title
    assert "\x1b" not in note.title
    # Markup stays literal text (it is never interpreted), emoji stay whole.
    assert '<img src="https://evil.example/x.png">' in note.title
    assert "<a href='javascript:alert(1)'>pay</a>" in note.title
    assert FAMILY in note.title
    assert "🇫🇷" in note.title
    assert "invoicefdp.exe" in note.title
    # The body is not a one-line view: it keeps what the server sent (plain text only).
    assert note.body == f"body {RLO}kept"
    # Every bidi control, not just U+202E, and isolates too.
    for control in BIDI_CONTROLS:
        assert plain_title(f"a{control}b") == "ab"
    # The marks cannot reorder anything and stay (Arabic and Hebrew titles need them).
    hebrew = "\u200f\u05e9\u05dc\u05d5\u05dd\u200e"
    assert plain_title(hebrew) == hebrew


def test_titles_from_a_preset_are_sanitised_too() -> None:
    """The JSON preset builds its title from the server's fields: the same rule holds."""
    preset = get_preset("json")
    data = json.dumps({"title": f"build {RLO}deliaf", "message": "x" * 5000})
    mapped = preset.map(
        DecodedEvent("message", data, "1", True),
        MapContext(feed_id="f", feed_name="CI", options={"title": "title", "body": "message"}),
    )
    assert mapped.notification is not None
    assert mapped.notification.title == "build deliaf"
    assert len(mapped.notification.short_body) == 1000


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        (f"ab{FAMILY}cd", 4, "ab…"),  # never half a family (ZWJ sequence)
        (f"ab{FAMILY}cd", 8, f"ab{FAMILY}…"),
        ("x🇫🇷🇩🇪", 3, "x…"),  # never half a flag
        ("x🇫🇷🇩🇪", 4, "x🇫🇷…"),
        ("xe\u0301\u0301y", 3, "x…"),  # never a letter without its accents
        ("👍🏽👍🏽", 2, "…"),  # never a thumb without its skin tone
        ("short", 10, "short"),
    ],
)
def test_cutting_never_splits_what_a_reader_sees_as_one_character(
    text: str, limit: int, expected: str
) -> None:
    assert shorten(text, limit) == expected


def test_a_very_long_title_is_cut_and_the_body_cut_for_the_popup() -> None:
    note = Notification(title="t" * 100_000, body="b" * 1_000_000)
    assert len(note.title) == TITLE_LIMIT
    assert note.title.endswith("…")
    assert len(note.short_body) == 1000
    assert len(note.body) == 1_000_000  # the log keeps the full text


@pytest.fixture
def env(controller_env: ControllerEnv) -> ControllerEnv:
    add_feed(controller_env, "h", "Hostile")
    return controller_env


def _view(env: ControllerEnv, qtbot: QtBot) -> LogView:
    view = LogView(env.controller)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    env.run(view.model.wait_idle())
    settle(env, 0.05)
    return view


def test_the_log_window_shows_hostile_text_literally(env: ControllerEnv, qtbot: QtBot) -> None:
    """Real widgets, offscreen: the row and the detail pane show the server's text as text,
    the title without its override, the raw data untouched, long lines cut in the row."""
    long_line = "word " * 40_000
    data = f"{RLO}raw <b>data</b> {long_line}"
    store_events(
        env,
        "h",
        1,
        title=lambda i: HOSTILE_TITLE,
        body=lambda i: f"<img src=x onerror=alert(1)> {long_line}",
        data=lambda i: data,
    )
    view = _view(env, qtbot)
    view.table.setCurrentIndex(view.model.index(0, Column.TITLE))
    settle(env, 0.05)

    title_cell = str(view.model.index(0, Column.TITLE).data())
    assert RLO not in title_cell
    assert "\n" not in title_cell
    assert title_cell.startswith('<img src="https://evil.example/x.png"> invoicefdp.exe')
    summary = str(view.model.index(0, Column.SUMMARY).data())
    assert summary.startswith("<img src=x onerror=alert(1)> word word")
    assert len(summary) <= 240
    assert summary.endswith("…")

    detail = view.detail
    assert detail.title.textFormat() == Qt.TextFormat.PlainText
    assert RLO not in detail.title.text()
    assert FAMILY in detail.title.text()
    assert detail.body.toPlainText().startswith("<img src=x onerror=alert(1)> word")
    # The raw data is the one place that keeps every character, in a plain-text editor.
    assert detail.data.toPlainText() == data


def test_the_summary_column_drops_bidi_controls(env: ControllerEnv, qtbot: QtBot) -> None:
    store_events(env, "h", 1, title=lambda i: "t", body=lambda i: f"report{RLO}fdp.exe")
    view = _view(env, qtbot)
    assert RLO not in str(view.model.index(0, Column.SUMMARY).data())


def test_the_tray_menu_drops_bidi_controls(env: ControllerEnv) -> None:
    from tidings.qt.tray import Tray

    store_events(env, "h", 1, title=lambda i: "Hostile", body=lambda i: f"report{RLO}fdp.exe")
    tray = Tray(env.controller)
    try:
        env.run(tray.recent_loaded)
        tray.menu.aboutToShow.emit()
        texts = [action.text() for action in tray.menu.actions()]
        assert any("report" in text for text in texts)
        assert not any(RLO in text for text in texts)
    finally:
        tray.hide()
        tray.menu.deleteLater()
        tray.deleteLater()
