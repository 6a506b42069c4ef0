"""Screenshots of the desktop app for the README, made offscreen from a temporary profile.

Run: ``.venv/bin/python tests/qt/screenshots.py docs/screenshots``. The profile
is filled with a few hours of realistic events (the demo source's own
generator, mapped by the generic JSON preset as the demo feed is), and the
feeds connect to demo servers on loopback, so statuses are real. Writes
``main-window.png``, ``log-detail.png``, ``feed-editor-test.png``, ``settings.png`` and
``tray-icons.png`` into the directory given.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication

from tidings.core.decoder import DecodedEvent
from tidings.core.demo import DemoServer, demo_event
from tidings.core.history import HistoryStore
from tidings.core.hub import Hub
from tidings.core.live import LiveSettings
from tidings.core.models import ConnectionState, Feed, Header
from tidings.core.paths import Paths
from tidings.core.presets.json_preset import preview
from tidings.core.redact import KnownSecrets
from tidings.core.rules import RuleLimits
from tidings.core.secrets import MemoryStore
from tidings.core.tray_state import TrayState
from tidings.qt.controller import AppController
from tidings.qt.feed_editor import FeedEditor
from tidings.qt.icons import TrayIcons
from tidings.qt.log_model import Column
from tidings.qt.loop import AppLoop
from tidings.qt.main_window import MainWindow
from tidings.qt.settings_dialog import SettingsDialog

SIZE = (1100, 700)
HOURS = 6
EVENTS = 140

# (id, name, kinds of demo events it carries, connects to a demo server?, JSON preset options)
FEEDS: tuple[tuple[str, str, tuple[str, ...], bool, tuple[tuple[str, str], ...]], ...] = (
    (
        "ci",
        "CI builds",
        ("build",),
        True,
        (
            ("title", "{repo}: build {status}"),
            ("body", "{branch} by {by}, {duration_s} s"),
            ("url", "https://ci.example.org/{repo}/{branch}"),
        ),
    ),
    (
        "deploys",
        "Deploys",
        ("deploy",),
        True,
        (("title", "{service} {version} to {environment}"), ("body", "deployed by {by}")),
    ),
    ("chat", "Team chat", ("message",), True, (("title", "{from}"),)),
    ("alerts", "Alerts", ("alert", "metric"), False, (("title", "{service}: {summary}"),)),
)


class _Clock:
    """The history store's clock: in the past while the profile is filled, then real time."""

    def __init__(self) -> None:
        self.fixed: float | None = None

    def __call__(self) -> float:
        return time.time() if self.fixed is None else self.fixed


async def _fill(store: HistoryStore, clock: _Clock) -> None:
    rng = random.Random(7)
    now = time.time()
    by_kind = {kind: feed for feed in FEEDS for kind in feed[2]}
    start = now - HOURS * 3600
    for i in range(EVENTS):
        at = start + (i + rng.random() * 0.8) * (HOURS * 3600 / EVENTS)
        kind, payload = demo_event(i, rng, at)
        seq = i + 1
        feed_id, name, _kinds, _live, options = by_kind[kind]
        data = json.dumps(payload)
        decoded = DecodedEvent(kind, data, str(seq), True)
        clock.fixed = at
        stored = await store.record(feed_id, [decoded], cursor=str(seq))
        mapped = preview(dict(options), [decoded], feed_name=name)[0]
        reason = ""
        notification = mapped.notification
        if kind == "metric":
            notification, reason = None, "filtered"
        elif feed_id == "chat" and i % 9 == 4:
            notification, reason = None, "muted"
        decided = [replace(s, notification=notification, reason=reason) for s in stored]
        store.save_decisions(decided)
    clock.fixed = None
    unread_from = now - 25 * 60
    old = await store.newer(None, limit=EVENTS)
    await store.mark_read([e.rowid for e in old.rows if e.received_at < unread_from])


async def _wait(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def _shoot(out: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="tidings-shots-"))
    paths = Paths.resolve(root)
    clock = _Clock()
    store = HistoryStore(paths.history_db, clock=clock)
    await store.open()
    servers: list[DemoServer] = []
    secrets = MemoryStore()
    hub = Hub(store=store, secrets=secrets, known_secrets=KnownSecrets(), rule_limits=RuleLimits())
    live = LiveSettings(paths.settings_file, hub)
    controller = AppController(
        paths=paths,
        store=store,
        hub=hub,
        live=live,
        secrets=secrets,
        known=KnownSecrets(),
        request_quit=lambda: None,
        open_url=lambda url: True,
    )
    try:
        await _fill(store, clock)
        await live.start()
        for feed_id, name, _kinds, connect, options in FEEDS:
            if connect:
                server = DemoServer(interval=3600)
                servers.append(server)
                url = await server.start()
            else:
                url = "http://127.0.0.1:9/alerts"  # nothing listens: shows a retrying feed
            headers = (Header(name="Authorization", secret=True),) if feed_id == "alerts" else ()
            await controller.add_feed(
                Feed(
                    id=feed_id,
                    name=name,
                    url=url,
                    preset="json",
                    headers=headers,
                    preset_options=options,
                )
            )
        await controller.refresh_counts()

        window = MainWindow(controller, tray_available=True)
        window.resize(*SIZE)
        window.splitter.setSizes([SIZE[0] * 3 // 10, SIZE[0] * 7 // 10])
        window.show()
        await window.log_view.model.wait_idle()

        def connected() -> bool:
            states = [controller.status(f[0]) for f in FEEDS if f[3]]
            return all(s is not None and s.state is ConnectionState.OPEN for s in states)

        await _wait(connected)
        view = window.log_view
        view.table.setCurrentIndex(view.model.index(1, Column.TITLE))
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "main-window.png"))

        # The detail shot: a build with a link, the pane given most of the height.
        build = next(
            row
            for row in range(view.model.rowCount())
            if (event := view.model.event_at(row)) is not None
            and event.type == "build"
            and '"failed"' in event.data
        )
        view.table.setCurrentIndex(view.model.index(build, Column.TITLE))
        total = sum(view.splitter.sizes())
        view.splitter.setSizes([total * 2 // 5, total * 3 // 5])
        await asyncio.sleep(0.3)
        view.detail.grab().save(str(out / "log-detail.png"))
        window.close_for_quit()
        window.deleteLater()

        # The feed editor after a click on Test, against a demo server.
        editor = FeedEditor(controller, None)
        editor.resize(640, 700)
        editor.show()
        editor.name_edit.setText("Deploys")
        quick = DemoServer(interval=0.3, seed=7)
        servers.append(quick)
        editor.url_edit.setText(await quick.start())
        editor.preset_combo.setCurrentIndex(editor.preset_combo.findData("json"))
        editor.test_button.click()
        await _wait(lambda: "works" in editor.test_output.toPlainText(), 30)
        editor.grab().save(str(out / "feed-editor-test.png"))
        editor.close()
        editor.deleteLater()

        # The settings' notifications page, and the tray icons in each state and theme.
        controller.set_notifier_info("freedesktop notifications (dunst 1.9.0)", "ok", "")
        settings = SettingsDialog(controller)
        settings.resize(640, 560)
        settings.show()
        await asyncio.sleep(0.2)
        settings.grab().save(str(out / "settings.png"))
        settings.close()
        settings.deleteLater()
        _tray_sheet().save(str(out / "tray-icons.png"))
    finally:
        await controller.tasks.cancel_all()
        await hub.stop()
        for server in servers:
            await server.close()
        await store.close()


def _tray_sheet() -> QImage:
    """Every tray state (error, retrying, paused, ok), without and with a badge, light and dark."""
    states = [TrayState.ERROR, TrayState.RETRYING, TrayState.PAUSED, TrayState.OK]
    size, gap = 64, 8
    sheet = QImage(
        (size + gap) * len(states) + gap, (size + gap) * 4 + gap, QImage.Format.Format_ARGB32
    )
    sheet.fill(QColor("#f0f0f0"))
    painter = QPainter(sheet)
    try:
        for row, (dark, unread) in enumerate([(False, 0), (False, 7), (True, 0), (True, 120)]):
            if dark:
                painter.fillRect(
                    0, gap // 2 + row * (size + gap), sheet.width(), size + gap, QColor("#202124")
                )
            icons = TrayIcons(dark=dark)
            for col, state in enumerate(states):
                pixmap = icons.icon(state, unread).pixmap(size, size)
                painter.drawPixmap(gap + col * (size + gap), gap + row * (size + gap), pixmap)
    finally:
        painter.end()
    return sheet


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: screenshots.py OUTDIR\n")
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    QCoreApplication.setApplicationName("Tidings")
    QCoreApplication.setOrganizationName("Tidings")
    app = QApplication.instance() or QApplication(argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = AppLoop(app)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_shoot(out))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    for name in ("main-window.png", "log-detail.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
