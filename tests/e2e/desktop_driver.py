"""Drives the real desktop app the way a person does, under Xvfb with a tray host.

Run by ``test_desktop_app.py`` in a child process (the Qt platform is chosen
once per process: xcb here, offscreen in the other Qt tests)::

    python tests/e2e/desktop_driver.py PROFILE_DIR FEED_URL RESULT_JSON SHOT_PNG

It starts Tidings in-process through ``tidings.qt.main.main(on_ready=...)``, the
app's own composition root, and then acts only through what a user has: the
tray icon's menu (clicked over D-Bus, as a panel does), the feed editor's
fields (typed with QTest) and the log window's table. Each step's outcome goes
into RESULT_JSON for the test to assert; the app must then quit through the
tray's Quit entry and ``main`` return 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))  # tests/ for support.*

import shiboken6
from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from support.tray_host import TrayHostClient
from tidings.core.config import load_settings
from tidings.qt import main as app_main
from tidings.qt.controller import AppController
from tidings.qt.feed_editor import FeedEditor
from tidings.qt.log_view import LogView

STEP_WITHIN = 20.0


async def until(what: str, check: Any, within: float = STEP_WITHIN) -> Any:
    """Poll ``check()`` on the loop until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {within:g} s")
        await asyncio.sleep(0.05)


async def tray_item() -> str:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    try:
        deadline = time.monotonic() + STEP_WITHIN
        while time.monotonic() < deadline:
            intro = await bus.introspect("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
            proxy = bus.get_proxy_object(
                "org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher", intro
            )
            watcher = proxy.get_interface("org.kde.StatusNotifierWatcher")
            items = await watcher.get_registered_status_notifier_items()
            if items:
                return str(items[-1])
            await asyncio.sleep(0.1)
    finally:
        bus.disconnect()
    raise TimeoutError("the tray icon never registered with the tray host")


def visible_editor() -> FeedEditor | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, FeedEditor) and widget.isVisible():
            return widget
    return None


def line_edit(parent: FeedEditor, name: str) -> QLineEdit:
    for edit in parent.findChildren(QLineEdit):
        if edit.accessibleName() == name:
            return edit
    raise LookupError(f"no field named {name!r} in the feed editor")


async def scenario(
    controller: AppController, ui: Any, feed_url: str, result: dict[str, Any], shot: Path
) -> None:
    client = await TrayHostClient.connect(await tray_item())
    try:
        result["tray_available"] = ui.tray_available
        result["tooltip_start"] = await client.tooltip()
        result["menu_start"] = [entry[1] for entry in await client.menu()]

        # Add a feed from the tray menu, by typing into the editor.
        await client.click("Add a feed")
        editor = await until("the feed editor", visible_editor)
        name = line_edit(editor, "Name")
        url = line_edit(editor, "URL")
        QTest.keyClicks(name, "Deploys")
        QTest.keyClicks(url, feed_url)
        QTest.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        await until(
            "the editor to close", lambda: not shiboken6.isValid(editor) or not editor.isVisible()
        )
        feed = await until("the saved feed", lambda: next(iter(controller.feeds), None))
        result["saved_feeds"] = [
            f.name for f in load_settings(controller.paths.settings_file).feeds
        ]

        # Receive: the server's events are stored and counted as unread.
        await until("three events", lambda: controller.unread.get(feed.id, 0) >= 3)
        result["unread_after_receive"] = controller.unread.get(feed.id, 0)
        result["notifier"] = controller.notifier_name
        result["notifier_state"] = controller.notifier_state
        await asyncio.sleep(0.3)
        result["tooltip_after_receive"] = await client.tooltip()

        # Read: open the log from the tray, select the newest row; it is marked read.
        await client.click("Open log")
        window = ui.window
        await until("the log window", window.isVisible)
        log_view = window.findChild(LogView)
        table = log_view.table
        await until("rows in the log", lambda: table.model().rowCount() >= 3)
        result["log_rows"] = table.model().rowCount()
        before = controller.unread.get(feed.id, 0)
        table.setFocus()
        table.selectRow(0)
        await until(
            "the selected event to be read", lambda: controller.unread.get(feed.id, 0) < before
        )
        result["unread_after_read"] = controller.unread.get(feed.id, 0)
        await asyncio.sleep(0.3)
        result["tooltip_after_read"] = await client.tooltip()
        window.grab().save(str(shot))

        # Mute from the feed's submenu in the tray.
        feed_row = next(e[1] for e in await client.menu() if e[1].startswith("Deploys"))
        result["feed_row"] = feed_row
        await client.click("Mute for 1 hour", submenu=feed_row)

        def muted_until() -> float | None:
            saved = load_settings(controller.paths.settings_file).feeds
            return saved[0].rules.muted_until if saved else None

        result["muted_until"] = await until("the mute to be saved", muted_until)
        result["muted_for"] = result["muted_until"] - time.time()
        result["feed_row_after_mute"] = next(
            e[1] for e in await client.menu() if e[1].startswith("Deploys")
        )

        # Quit from the tray: the app cancels its tasks (this one too) on the way out.
        result["quit_clicked"] = True
        await client.click("Quit Tidings")
        await asyncio.sleep(STEP_WITHIN)
        result["error"] = "still running after Quit"
    except asyncio.CancelledError:
        if not result.get("quit_clicked"):
            result["error"] = "cancelled before Quit was clicked"
        raise
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        controller.quit()
        raise
    finally:
        await client.close()


def main() -> int:
    profile, feed_url, result_path, shot = sys.argv[1:5]
    result: dict[str, Any] = {}

    async def on_ready(controller: AppController, ui: Any) -> None:
        await scenario(controller, ui, feed_url, result, Path(shot))

    started = time.monotonic()
    code = app_main.main(["--profile-dir", profile, "--log-level", "info"], on_ready=on_ready)
    result["exit_code"] = code
    result["seconds"] = round(time.monotonic() - started, 2)
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
