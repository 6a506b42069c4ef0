"""The feed editor, driven as a user would: typed fields, Save, Test, against a real controller."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtWidgets import QApplication, QDialog, QLabel, QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from qt.conftest import ControllerEnv
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.config import load_settings
from tidings.core.models import Auth, AuthKind, Feed, Header
from tidings.core.secrets import auth_slot, header_slot
from tidings.qt.feed_editor import FeedEditor, edit_feed

TOKEN = "tk_Sup3rSecret-91f2"
HEADER_SECRET = "hdr-s3cret-value-44"
DEAD_URL = "http://127.0.0.1:9/events"
"""Nothing listens there: feeds saved with it are saved paused, so no test leaves a connect
attempt behind at teardown."""


async def find_editor(within: float = 5.0) -> FeedEditor:
    """The open feed editor (edit_feed opens it after probing the keyring)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, FeedEditor) and widget.isVisible():
                return widget
        await asyncio.sleep(0.02)
    raise AssertionError("no feed editor opened")


async def until(condition: Callable[[], Any], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def with_editor(
    env: ControllerEnv,
    feed: Feed | None,
    drive: Callable[[FeedEditor], Awaitable[None]],
) -> Feed | None:
    """Open the editor through edit_feed, let ``drive`` act on it, return what edit_feed gave."""

    async def scenario() -> Feed | None:
        task = asyncio.ensure_future(edit_feed(env.controller, None, feed))
        editor = await find_editor()
        await drive(editor)
        return await asyncio.wait_for(task, 10)

    return env.run(scenario())


def every_text(editor: FeedEditor) -> list[str]:
    """Every text the dialog's widgets hold or show (line edits, labels, text panes)."""
    texts = [e.text() for e in editor.findChildren(QLineEdit)]
    texts += [e.placeholderText() for e in editor.findChildren(QLineEdit)]
    texts += [label.text() for label in editor.findChildren(QLabel)]
    texts += [pane.toPlainText() for pane in editor.findChildren(QPlainTextEdit)]
    return texts


def choose_auth(editor: FeedEditor, kind: AuthKind) -> None:
    editor.auth_combo.setCurrentIndex(editor.auth_combo.findData(kind.value))


def test_adding_a_feed_saves_settings_and_secrets_apart(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Typed name, URL, token, secret header: the file gets the feed, the keyring the secrets."""
    env = controller_env

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.name_edit, "Builds")
        qtbot.keyClicks(editor.url_edit, DEAD_URL)
        editor.paused_check.click()
        choose_auth(editor, AuthKind.BEARER)
        qtbot.keyClicks(editor.secret_edit, TOKEN)
        assert editor.secret_edit.echoMode() is QLineEdit.EchoMode.Password
        editor.add_header_button.click()
        editor.add_header_button.click()
        name0, value0 = editor.headers_table.cellWidget(0, 0), editor.headers_table.cellWidget(0, 1)
        secret0 = editor.headers_table.cellWidget(0, 2)
        assert isinstance(name0, QLineEdit)
        assert isinstance(value0, QLineEdit)
        qtbot.keyClicks(name0, "X-Key")
        secret0.click()  # type: ignore[union-attr]
        qtbot.keyClicks(value0, HEADER_SECRET)
        assert value0.echoMode() is QLineEdit.EchoMode.Password
        name1, value1 = editor.headers_table.cellWidget(1, 0), editor.headers_table.cellWidget(1, 1)
        assert isinstance(name1, QLineEdit)
        assert isinstance(value1, QLineEdit)
        qtbot.keyClicks(name1, "X-Env")
        qtbot.keyClicks(value1, "prod")
        editor.save_button.click()

    saved = with_editor(env, None, drive)
    assert saved is not None
    assert saved.id
    text = env.paths.settings_file.read_text(encoding="utf-8")
    assert TOKEN not in text
    assert HEADER_SECRET not in text
    (feed,) = load_settings(env.paths.settings_file).feeds
    assert (feed.name, feed.url, feed.auth.kind) == ("Builds", DEAD_URL, AuthKind.BEARER)
    assert feed.paused is True
    assert feed.headers == (
        Header(name="X-Key", secret=True),
        Header(name="X-Env", value="prod"),
    )
    assert env.run(env.secrets.get(feed.id, auth_slot())) == TOKEN
    assert env.run(env.secrets.get(feed.id, header_slot("X-Key"))) == HEADER_SECRET


def stored_feed(env: ControllerEnv) -> Feed:
    feed = Feed(
        id="",
        name="Private",
        url=DEAD_URL,
        paused=True,
        auth=Auth(kind=AuthKind.BEARER),
        headers=(Header(name="X-Key", secret=True),),
    )
    return env.run(
        env.controller.add_feed(feed, {auth_slot(): TOKEN, header_slot("X-Key"): HEADER_SECRET})
    )


def test_editing_never_shows_a_stored_secret_and_keeps_it(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """No widget holds the stored token or header value; empty fields keep them on save."""
    env = controller_env
    feed = stored_feed(env)

    async def drive(editor: FeedEditor) -> None:
        texts = every_text(editor)
        assert not [t for t in texts if TOKEN in t or HEADER_SECRET in t]
        assert editor.secret_edit.text() == ""
        assert "stored in the keyring" in editor.secret_edit.placeholderText()
        value = editor.headers_table.cellWidget(0, 1)
        assert isinstance(value, QLineEdit)
        assert value.text() == ""
        assert "stored in the keyring" in value.placeholderText()
        editor.name_edit.clear()
        qtbot.keyClicks(editor.name_edit, "Renamed")
        editor.save_button.click()

    saved = with_editor(env, feed, drive)
    assert saved is not None
    assert saved.name == "Renamed"
    assert env.run(env.secrets.get(feed.id, auth_slot())) == TOKEN
    assert env.run(env.secrets.get(feed.id, header_slot("X-Key"))) == HEADER_SECRET


def test_remove_stored_secret_deletes_it_and_a_typed_one_replaces_it(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """ "Remove the stored secret" deletes the token; a typed header value replaces the old."""
    env = controller_env
    feed = stored_feed(env)

    async def drive(editor: FeedEditor) -> None:
        assert not editor.remove_secret_check.isHidden()
        editor.remove_secret_check.click()
        assert not editor.secret_edit.isEnabled()
        value = editor.headers_table.cellWidget(0, 1)
        assert isinstance(value, QLineEdit)
        qtbot.keyClicks(value, "new-value")
        editor.save_button.click()

    assert with_editor(env, feed, drive) is not None
    assert env.run(env.secrets.get(feed.id, auth_slot())) is None
    assert env.run(env.secrets.get(feed.id, header_slot("X-Key"))) == "new-value"


def test_a_renamed_secret_header_keeps_its_value(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Renaming a secret header moves its stored value to the new name's slot."""
    env = controller_env
    feed = stored_feed(env)

    async def drive(editor: FeedEditor) -> None:
        name = editor.headers_table.cellWidget(0, 0)
        assert isinstance(name, QLineEdit)
        name.clear()
        qtbot.keyClicks(name, "X-Api-Key")
        editor.save_button.click()

    with_editor(env, feed, drive)
    assert env.run(env.secrets.get(feed.id, header_slot("X-Api-Key"))) == HEADER_SECRET
    assert env.run(env.secrets.get(feed.id, header_slot("X-Key"))) is None


def test_cancel_saves_nothing(controller_env: ControllerEnv) -> None:
    """Cancel: edit_feed returns None and the settings file gets no feed."""
    env = controller_env

    async def drive(editor: FeedEditor) -> None:
        editor.url_edit.setText(DEAD_URL)
        editor.cancel_button.click()

    assert with_editor(env, None, drive) is None
    assert load_settings(env.paths.settings_file).feeds == ()


def test_bad_fields_are_named_inline_and_nothing_is_saved(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """A bad URL, a taken name and a bad regex: each says why under its field; no save."""
    env = controller_env
    env.run(env.controller.add_feed(Feed(id="", name="Taken", url=DEAD_URL, paused=True)))
    seen: dict[str, str] = {}

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.name_edit, "taken")
        qtbot.keyClicks(editor.url_edit, "ftp://example.org/x")
        qtbot.keyClicks(editor.filter_edit, "(unclosed")
        seen["filter_live"] = editor._errors["rules.filter"].text()
        editor.save_button.click()
        await asyncio.sleep(0.05)
        assert editor.isVisible()
        for field in ("name", "url", "rules.filter"):
            label = editor._errors[field]
            assert not label.isHidden()
            seen[field] = label.text()
        assert editor.form_error.text().startswith("Please correct:")
        editor.cancel_button.click()

    assert with_editor(env, None, drive) is None
    assert seen["filter_live"].startswith("not a valid regular expression")
    assert seen["name"] == "another feed is already called 'taken'"
    assert "http://" in seen["url"]
    assert seen["rules.filter"].startswith("not a valid regular expression")
    assert [f.name for f in load_settings(env.paths.settings_file).feeds] == ["Taken"]


def test_the_preset_is_detected_from_the_url_unless_chosen(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """An ntfy-style URL with no preset chosen saves as ntfy; the combo says it detected ntfy."""
    env = controller_env
    url = "http://127.0.0.1:9/alerts/sse"
    shown: list[str] = []

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, url)
        editor.paused_check.click()
        shown.append(editor.preset_combo.currentText())
        assert editor.name_edit.placeholderText() == "127.0.0.1"
        editor.save_button.click()

    saved = with_editor(env, None, drive)
    assert shown == ["Detect from the URL: ntfy"]
    assert saved is not None
    assert (saved.preset, saved.name) == ("ntfy", "127.0.0.1")


def test_json_fields_show_for_the_json_preset_and_are_saved(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Choosing the JSON preset shows its title/body fields; they become preset options."""
    env = controller_env

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, DEAD_URL)
        editor.paused_check.click()
        assert editor.json_box.isHidden()
        editor.preset_combo.setCurrentIndex(editor.preset_combo.findData("json"))
        assert not editor.json_box.isHidden()
        qtbot.keyClicks(editor.json_edits["title"], "repo.name")
        qtbot.keyClicks(editor.json_edits["body"], "{who}: {text}")
        editor.save_button.click()

    saved = with_editor(env, None, drive)
    assert saved is not None
    assert dict(saved.preset_options) == {"title": "repo.name", "body": "{who}: {text}"}


def test_turning_certificate_checks_off_shows_a_warning(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Unchecking "check the certificate" shows the warning; the feed saves with verify off."""
    env = controller_env

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, DEAD_URL)
        editor.paused_check.click()
        assert editor.tls_warning.isHidden()
        editor.verify_check.click()
        assert not editor.tls_warning.isHidden()
        assert "Certificate checks are off" in editor.tls_warning.text()
        editor.save_button.click()

    saved = with_editor(env, None, drive)
    assert saved is not None
    assert saved.tls.verify is False


def test_the_test_button_shows_a_401_in_words(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Test against a server answering 401: the exact failure, and the typed token not shown."""
    env = controller_env
    server = ScriptedServer([Reply(status=401, body=[b"no"], framing="length")])
    env.run(server.__aenter__())
    output: list[str] = []

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, server.url())
        choose_auth(editor, AuthKind.BEARER)
        qtbot.keyClicks(editor.secret_edit, TOKEN)
        editor.test_button.click()
        await until(editor.test_output.toPlainText)
        output.append(editor.test_output.toPlainText())
        output.append(editor.test_progress.text())
        assert not [t for t in every_text(editor) if TOKEN in t and t != editor.secret_edit.text()]
        editor.cancel_button.click()

    try:
        assert with_editor(env, None, drive) is None
    finally:
        env.run(server.close())
    assert output[0].startswith("✖ 401: the token was rejected")
    assert output[1] == "Failed: 401: the token was rejected"
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"
    assert load_settings(env.paths.settings_file).feeds == ()


def test_the_test_button_shows_events_and_popups_as_plain_text(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """Test against a working stream: the events and each popup's title, markup shown literally."""
    env = controller_env
    payload = json.dumps({"title": "Build 7 passed", "message": "<b>x</b>"})
    server = ScriptedServer([sse_reply(f"id: 7\ndata: {payload}\n\n".encode(), end="hang")])
    env.run(server.__aenter__())
    output: list[str] = []

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, server.url())
        editor.preset_combo.setCurrentIndex(editor.preset_combo.findData("json"))
        editor.test_button.click()
        await until(editor.test_output.toPlainText, within=20)
        output.append(editor.test_output.toPlainText())
        editor.cancel_button.click()

    try:
        with_editor(env, None, drive)
    finally:
        env.run(server.close())
    text = output[0]
    assert text.startswith("✔ the feed works")
    assert "Event 1: message  #7" in text
    assert "Popup [normal]: Build 7 passed" in text
    assert "<b>x</b>" in text  # literally: the pane is plain text


def test_a_running_test_can_be_stopped(controller_env: ControllerEnv, qtbot: QtBot) -> None:
    """Stop test on a server that never answers: the test ends at once and says so."""
    env = controller_env

    async def stall(_request: RecordedRequest) -> Reply:
        await asyncio.sleep(30)
        return Reply()

    server = ScriptedServer(stall)
    env.run(server.__aenter__())
    seen: list[str] = []

    async def drive(editor: FeedEditor) -> None:
        qtbot.keyClicks(editor.url_edit, server.url())
        editor.test_button.click()
        await server.wait_for_requests(1)
        assert editor.cancel_test_button.isEnabled()
        editor.cancel_test_button.click()
        await until(editor.test_button.isEnabled, within=5)
        seen.append(editor.test_progress.text())
        editor.cancel_button.click()

    try:
        with_editor(env, None, drive)
    finally:
        env.run(server.close())
    assert seen == ["Test stopped."]


def test_the_editor_is_a_dialog_with_named_controls(controller_env: ControllerEnv) -> None:
    """Every input has an accessible name, and every label showing server text is plain text."""
    env = controller_env

    async def drive(editor: FeedEditor) -> None:
        assert isinstance(editor, QDialog)
        for edit in editor.findChildren(QLineEdit):
            if edit.parent() is not None and edit.objectName() != "qt_spinbox_lineedit":
                assert edit.accessibleName(), edit.placeholderText()
        assert editor.test_progress.textFormat() is not None
        for label in (editor.test_progress, editor.form_error):
            assert label.textFormat().name == "PlainText"
        editor.cancel_button.click()

    with_editor(env, None, drive)


def test_a_new_token_reconnects_a_feed_stopped_for_credentials(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    """A feed stopped on 401 gets the right token in the editor: it connects again at once."""
    env = controller_env

    def answer(request: RecordedRequest) -> Reply:
        if request.header("Authorization") == f"Bearer {TOKEN}":
            return sse_reply(b"data: in\n\n", end="hang")
        return Reply(status=401, body=[b"no"], framing="length")

    server = ScriptedServer(answer)
    env.run(server.__aenter__())
    try:
        feed = env.run(
            env.controller.add_feed(
                Feed(id="", name="Private", url=server.url(), auth=Auth(kind=AuthKind.BEARER)),
                {auth_slot(): "wrong"},
            )
        )

        def state() -> str:
            status = env.controller.status(feed.id)
            return "" if status is None else status.state.value

        env.wait_for(lambda: state() == "stopped")

        async def drive(editor: FeedEditor) -> None:
            qtbot.keyClicks(editor.secret_edit, TOKEN)
            editor.save_button.click()

        with_editor(env, feed, drive)
        env.wait_for(lambda: state() == "open")
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    assert env.run(env.secrets.get(feed.id, auth_slot())) == TOKEN
