"""The feeds panel against a real controller, hub and loopback servers; and the status wording."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from qt.conftest import ControllerEnv
from support.scripted_server import Reply, ScriptedServer, sse_reply
from tidings.core.config import load_settings
from tidings.core.models import Auth, AuthKind, ConnectionState, Feed, FeedStatus, StopReason
from tidings.core.secrets import auth_slot
from tidings.qt.feed_editor import FeedEditor
from tidings.qt.feeds_panel import FeedsModel, FeedsPanel
from tidings.qt.status_text import StatusKind, describe_status, status_kind

# -- the wording (shared with the tray) ------------------------------------------------------

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (None, "starting"),
        (FeedStatus(state=ConnectionState.OPEN, url="u"), "connected"),
        (FeedStatus(state=ConnectionState.PAUSED, url="u"), "paused"),
        (FeedStatus(state=ConnectionState.CONNECTING, url="u", attempt=1), "connecting"),
        (FeedStatus(state=ConnectionState.CONNECTING, url="u", attempt=3), "reconnecting"),
        (
            FeedStatus(state=ConnectionState.RETRYING, url="u", next_attempt_at=NOW + 11.2),
            "retrying in 12 s",
        ),
        (
            FeedStatus(state=ConnectionState.RETRYING, url="u", next_attempt_at=NOW + 250),
            "retrying in 5 min",
        ),
        (
            FeedStatus(state=ConnectionState.RETRYING, url="u", next_attempt_at=NOW - 1),
            "retrying now",
        ),
        (
            FeedStatus(
                state=ConnectionState.STOPPED,
                url="u",
                message="HTTP 401 Unauthorized: the server needs valid credentials",
                stop_reason=StopReason.NEEDS_CREDENTIALS,
            ),
            "needs credentials",
        ),
        (
            FeedStatus(
                state=ConnectionState.STOPPED,
                url="u",
                message="HTTP 404 Not Found",
                stop_reason=StopReason.HTTP_STATUS,
            ),
            "failed: HTTP 404 Not Found",
        ),
        (
            FeedStatus(
                state=ConnectionState.STOPPED,
                url="u",
                message="the server answered <b>text/html</b>",
                stop_reason=StopReason.NOT_EVENT_STREAM,
            ),
            "failed: the server answered <b>text/html</b>",
        ),
    ],
)
def test_describe_status(status: FeedStatus | None, text: str) -> None:
    """Each state reads as the tray and panel show it; server text stays as it is."""
    assert describe_status(status, NOW) == text


def test_status_kinds_tell_problems_from_pauses() -> None:
    """Credentials and failures are errors; a clean close is not; a retry is retrying."""
    stopped = FeedStatus(state=ConnectionState.STOPPED, url="u")
    assert status_kind(replace_reason(stopped, StopReason.TLS)) is StatusKind.ERROR
    assert status_kind(replace_reason(stopped, StopReason.CLOSED)) is StatusKind.PAUSED
    retrying = FeedStatus(state=ConnectionState.RETRYING, url="u")
    assert status_kind(retrying) is StatusKind.RETRYING
    assert status_kind(None) is StatusKind.OK


def replace_reason(status: FeedStatus, reason: StopReason) -> FeedStatus:
    return FeedStatus(state=status.state, url=status.url, stop_reason=reason, message="m")


# -- the panel --------------------------------------------------------------------------------


def row_texts(panel: FeedsPanel, feed_id: str) -> list[str]:
    row = panel.model.row_of(feed_id)
    return [str(panel.model.index(row, c).data() or "") for c in range(4)]


def status_of(panel: FeedsPanel, feed_id: str) -> str:
    return row_texts(panel, feed_id)[FeedsModel.STATUS]


@pytest.fixture
def panel(controller_env: ControllerEnv, qtbot: QtBot) -> FeedsPanel:
    widget = FeedsPanel(controller_env.controller)
    qtbot.addWidget(widget)
    widget.resize(700, 300)
    widget.show()
    return widget


def serve(env: ControllerEnv, *replies: Reply) -> ScriptedServer:
    server = ScriptedServer(list(replies))
    env.run(server.__aenter__())
    return server


def focus_view(panel: FeedsPanel) -> None:
    panel.activateWindow()
    panel.view.setFocus()


def test_live_statuses_connected_then_needs_credentials(
    controller_env: ControllerEnv, panel: FeedsPanel
) -> None:
    """A working feed shows "connected", a 401 feed "needs credentials" with the reason at hand."""
    env = controller_env
    good = serve(env, sse_reply(b"id: 1\ndata: <b>hi</b>\n\n", end="hang"))
    denied = serve(env, Reply(status=401, body=[b"no"], framing="length"))
    try:
        ok_feed = env.run(env.controller.add_feed(Feed(id="", name="Builds", url=good.url())))
        env.wait_for(lambda: status_of(panel, ok_feed.id) == "connected")
        env.wait_for(lambda: row_texts(panel, ok_feed.id)[FeedsModel.UNREAD] == "1")
        assert row_texts(panel, ok_feed.id)[FeedsModel.LAST_EVENT] == "just now"
        assert (
            panel.model.index(panel.model.row_of(ok_feed.id), 0)
            .data(Qt.ItemDataRole.FontRole)
            .bold()
        )
        bad = env.run(env.controller.add_feed(Feed(id="", name="Private", url=denied.url())))
        env.wait_for(lambda: status_of(panel, bad.id) == "needs credentials")
        tooltip = panel.model.index(panel.model.row_of(bad.id), 1).data(Qt.ItemDataRole.ToolTipRole)
        assert "HTTP 401 Unauthorized" in tooltip
        panel.select_feed(bad.id)
        assert panel.detail.text().startswith("Private: HTTP 401 Unauthorized")
        assert panel.detail.textFormat() is Qt.TextFormat.PlainText
        assert status_of(panel, "") == "2 feed(s), 1 need attention"
        assert row_texts(panel, "")[0] == "All feeds"
    finally:
        env.run(env.hub.stop())
        env.run(good.close())
        env.run(denied.close())


def test_space_pauses_and_resumes_the_selected_feed(
    controller_env: ControllerEnv, panel: FeedsPanel
) -> None:
    """Space on a selected feed pauses it (shown "paused", saved), Space again resumes it."""
    env = controller_env
    server = serve(env, sse_reply(b"data: a\n\n", end="hang"))
    try:
        feed = env.run(env.controller.add_feed(Feed(id="", name="Builds", url=server.url())))
        env.wait_for(lambda: status_of(panel, feed.id) == "connected")
        panel.select_feed(feed.id)
        focus_view(panel)
        QTest.keyClick(panel.view, Qt.Key.Key_Space)
        env.wait_for(lambda: status_of(panel, feed.id) == "paused")
        assert load_settings(env.paths.settings_file).feeds[0].paused is True
        assert panel.pause_button.text() == "Res&ume"
        assert not panel.reconnect_button.isEnabled()
        QTest.keyClick(panel.view, Qt.Key.Key_Space)
        env.wait_for(lambda: status_of(panel, feed.id) == "connected")
        assert panel.pause_button.text() == "&Pause"
    finally:
        env.run(env.hub.stop())
        env.run(server.close())


def test_selecting_rows_emits_the_feed_and_all_feeds_emits_empty(
    controller_env: ControllerEnv, panel: FeedsPanel
) -> None:
    """feed_selected: the feed's id for its row, "" for "All feeds" at the top."""
    env = controller_env
    feed = env.run(
        env.controller.add_feed(Feed(id="", name="A", url="http://127.0.0.1:9/x", paused=True))
    )
    seen: list[str] = []
    panel.feed_selected.connect(seen.append)
    panel.select_feed(feed.id)
    panel.select_feed("")
    assert seen == [feed.id, ""]
    assert not panel.edit_button.isEnabled()
    assert panel.add_button.isEnabled()


def until_visible_box(env: ControllerEnv, panel: FeedsPanel) -> Any:
    env.wait_for(lambda: panel.remove_box is not None and panel.remove_box.isVisible())
    return panel.remove_box


def test_delete_asks_then_removes_feed_history_and_secrets(
    controller_env: ControllerEnv, panel: FeedsPanel
) -> None:
    """Delete asks first (Cancel keeps it); Remove with "delete events" forgets all of it."""
    env = controller_env
    server = serve(env, sse_reply(b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n", end="hang"))
    try:
        feed = env.run(
            env.controller.add_feed(
                Feed(
                    id="",
                    name="Secret <b>feed</b>",
                    url=server.url(),
                    auth=Auth(kind=AuthKind.BEARER),
                ),
                {auth_slot(): "tok"},
            )
        )
        env.wait_for(lambda: env.controller.unread.get(feed.id, 0) == 2)
        panel.select_feed(feed.id)
        focus_view(panel)
        QTest.keyClick(panel.view, Qt.Key.Key_Delete)
        box = until_visible_box(env, panel)
        assert box.text() == "Remove the feed “Secret <b>feed</b>”?"
        assert box.textFormat() is Qt.TextFormat.PlainText
        assert "2 stored event(s)" in box.checkBox().text()
        box.button(box.StandardButton.Cancel).click()
        env.wait_for(lambda: panel.remove_box is None)
        assert [f.id for f in load_settings(env.paths.settings_file).feeds] == [feed.id]

        panel.remove_button.click()
        box = until_visible_box(env, panel)
        box.checkBox().setChecked(True)
        remove = next(b for b in box.buttons() if b.text() == "&Remove")
        remove.click()
        env.wait_for(lambda: panel.model.row_of(feed.id) == -1)
        task = panel._remove_task
        env.wait_for(lambda: task is not None and task.done())
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    assert load_settings(env.paths.settings_file).feeds == ()
    assert env.run(env.secrets.get(feed.id, auth_slot())) is None
    assert env.run(env.store.count(feed.id)) == 0
    assert panel.selected_feed_id() == ""


def test_enter_opens_the_editor_for_the_selected_feed(
    controller_env: ControllerEnv, panel: FeedsPanel
) -> None:
    """Enter on a feed opens its editor (once), showing that feed's name."""
    env = controller_env
    feed = env.run(
        env.controller.add_feed(
            Feed(id="", name="Edit me", url="http://127.0.0.1:9/x", paused=True)
        )
    )
    panel.select_feed(feed.id)
    focus_view(panel)
    QTest.keyClick(panel.view, Qt.Key.Key_Return)

    def editor() -> FeedEditor | None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, FeedEditor) and widget.isVisible():
                return widget
        return None

    env.wait_for(lambda: editor() is not None)
    opened = editor()
    assert opened is not None
    assert opened.name_edit.text() == "Edit me"
    QTest.keyClick(panel.view, Qt.Key.Key_Return)  # a second Enter opens no second editor
    opened.cancel_button.click()
    env.wait_for(lambda: editor() is None)


def test_a_retrying_feed_counts_down(controller_env: ControllerEnv, panel: FeedsPanel) -> None:
    """A 503 with Retry-After: 30 reads "retrying in 30 s" and the countdown timer runs."""
    env = controller_env
    busy = serve(
        env,
        Reply(
            status=503,
            headers=(("Content-Type", "text/plain"), ("Retry-After", "30")),
            body=[b"busy"],
            framing="length",
        ),
    )
    try:
        feed = env.run(env.controller.add_feed(Feed(id="", name="Busy", url=busy.url())))
        pattern = re.compile(r"retrying in (29|30) s")
        env.wait_for(lambda: pattern.fullmatch(status_of(panel, feed.id)))
        assert panel._ticker.isActive()
        status = env.controller.status(feed.id)
        assert status is not None
        assert status.next_attempt_at is not None
        retry_at = status.next_attempt_at
        panel.model._clock = lambda: retry_at - 4.5
        panel.model.refresh_times()
        assert status_of(panel, feed.id) == "retrying in 5 s"
        assert status_of(panel, "") == "1 feed(s), 1 retrying"
    finally:
        env.run(env.hub.stop())
        env.run(busy.close())
