"""Runs the real desktop app (offscreen) through a session that touches every secret path.

Run by ``test_gui_no_secret_leaks.py`` in a child process::

    python tests/security/gui_leak_driver.py PROFILE_DIR RESULT_JSON

The app starts through its own composition root, ``tidings.qt.main.main(on_ready=...)``,
at debug log level, with feeds whose secrets are in the keyring. Once an event of every
feed is stored, the driver shows the log window and selects a row, opens each feed in the
editor (every field's text is recorded) and presses its Test button (a real connection with
the secret), opens the settings and presses "Copy diagnostics" (the report is recorded),
then quits. Everything recorded goes into RESULT_JSON, for the test to search.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit  # noqa: TID251 - a Qt driver

from tidings.qt import main as app_main
from tidings.qt.controller import AppController
from tidings.qt.feed_editor import FeedEditor, edit_feed
from tidings.qt.settings_dialog import SettingsDialog, open_settings

WITHIN = 20.0


async def until(what: str, check: Any, within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {within:g} s")
        await asyncio.sleep(0.05)


def top_level(kind: type) -> Any:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, kind) and widget.isVisible():
            return widget
    return None


async def scenario(controller: AppController, ui: Any, result: dict[str, Any]) -> None:
    feeds = list(controller.feeds)
    result["feeds"] = [f.name for f in feeds]
    await until("an event of every feed", lambda: all(controller.unread.get(f.id) for f in feeds))

    ui.show_window()
    table = ui.window.log_view.table
    await until("rows in the log", lambda: table.model().rowCount() >= len(feeds))
    table.selectRow(0)
    await asyncio.sleep(0.3)
    detail = ui.window.log_view.detail
    result["detail"] = [detail.title.text(), detail.headers.text(), detail.data.toPlainText()]

    seen: list[str] = []
    for feed in feeds:
        task = controller.tasks.spawn(edit_feed(controller, ui.window, feed), name="leak-edit")
        editor: FeedEditor = await until("the feed editor", lambda: top_level(FeedEditor))
        seen += [edit.text() for edit in editor.findChildren(QLineEdit)]
        seen += [edit.placeholderText() for edit in editor.findChildren(QLineEdit)]
        editor.test_button.click()
        await until(
            "the test's first event",
            lambda e=editor: "welcome" in e.test_output.toPlainText(),
        )
        seen += [text.toPlainText() for text in editor.findChildren(QPlainTextEdit)]
        editor.reject()
        await asyncio.wait_for(task, WITHIN)
    result["editor_texts"] = seen

    task = controller.tasks.spawn(open_settings(controller, ui.window), name="leak-settings")
    dialog: SettingsDialog = await until("the settings", lambda: top_level(SettingsDialog))
    dialog.copy_diagnostics.click()
    result["diagnostics"] = dialog.last_diagnostics
    clipboard = QApplication.clipboard()
    result["clipboard"] = clipboard.text() if clipboard is not None else ""
    dialog.reject()
    await asyncio.wait_for(task, WITHIN)
    result["done"] = True


def main() -> int:
    profile, result_path = sys.argv[1:3]
    result: dict[str, Any] = {}

    async def on_ready(controller: AppController, ui: Any) -> None:
        try:
            await scenario(controller, ui, result)
        except BaseException:
            result["error"] = traceback.format_exc()
            raise
        finally:
            controller.quit()

    code = app_main.main(
        ["--profile-dir", profile, "--log-level", "debug", "--exit-after", "60"], on_ready=on_ready
    )
    result["exit_code"] = code
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
