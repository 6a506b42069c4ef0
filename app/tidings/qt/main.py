"""The desktop app's composition root: ``tidings``, ``tidings --demo``, ``tidings --background``.

Builds every concrete object (paths, settings, keyring, history, hub,
notifier, controller, tray, window), runs them on one qasync loop, and tears
them down in order when the quit Event is set: never ``app.quit()`` while the
main coroutine runs (STYLE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from logging.handlers import RotatingFileHandler
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QLibraryInfo, QLocale, Qt, QTranslator
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

import tidings
from tidings.core.demo import DemoServer
from tidings.core.history import HistoryStore, HistoryUnavailableError
from tidings.core.hub import Hub
from tidings.core.instance import InstanceLock
from tidings.core.live import LiveSettings, keep_retention
from tidings.core.models import AppSettings, Feed
from tidings.core.paths import Paths
from tidings.core.redact import KnownSecrets, RedactingFilter
from tidings.core.resources import resource_path
from tidings.core.secrets import KeyringStore, SecretStore
from tidings.core.wake import ResumeWatcher
from tidings.notify import Notifier, NotifierSink, build_notifier
from tidings.qt.controller import DEMO_FEED_ID, AppController
from tidings.qt.instance import InstanceMessenger
from tidings.qt.loop import AppLoop, dialog_result
from tidings.qt.main_window import MainWindow
from tidings.qt.tray import Tray
from tidings.qt.tray_notifier import TrayNotifier
from tidings.qt.wake import PlatformWake

__all__ = ["APP_ID", "build_parser", "main"]

logger = logging.getLogger(__name__)

APP_ID = "io.github.tidings.Tidings"
"""The reverse-DNS app id: the desktop file's name, and what notifications are grouped by."""

EXIT_OK = 0
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings",
        description="Tidings: Server-Sent Events as desktop notifications and a searchable log. "
        "Without a command it starts the desktop app; `tidings --help-commands` lists the "
        "headless commands (listen, feeds, history, run --headless, doctor).",
    )
    parser.add_argument("--demo", action="store_true", help="also run the built-in demo feed")
    parser.add_argument(
        "--background",
        action="store_true",
        help="start in the tray without showing the window (used by autostart)",
    )
    parser.add_argument("--profile-dir", help="keep settings and history in this directory")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check offscreen, without network, that this install has every part it needs "
        "(Qt plugins, icons, history, keyring, notifications, certificates); exit 0 or 1",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to log (stderr and the log file)",
    )
    # Hidden: the demo's pace, so tests and screencasts need not wait.
    parser.add_argument("--demo-interval", type=float, default=1.5, help=argparse.SUPPRESS)
    # Hidden: quit after this many seconds (smoke tests, start-up benchmarks).
    parser.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)
    return parser


OnReady = Callable[["AppController", "_UI"], Coroutine[Any, Any, object]]
"""A seam for in-process drivers (the desktop end-to-end test, benchmarks): awaited as a task
once the app is up; the app keeps running until it quits."""


def main(argv: Sequence[str] | None = None, *, on_ready: OnReady | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.self_test:  # before any window, tray or lock: offscreen, no network
        from tidings.qt.selftest import run as self_test  # noqa: PLC0415

        return self_test()
    known = KnownSecrets()
    _setup_logging(args.log_level, known)
    paths = Paths.resolve(args.profile_dir)

    QCoreApplication.setApplicationName("Tidings")
    QCoreApplication.setOrganizationName("Tidings")
    QCoreApplication.setApplicationVersion(tidings.__version__)
    QGuiApplication.setDesktopFileName(APP_ID)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    _install_translator(app)
    app.setWindowIcon(QIcon(str(resource_path("icons/tidings.svg"))))

    messenger = InstanceMessenger(paths)
    lock = InstanceLock(paths.lock_file)
    if not lock.acquire():
        if messenger.send("show"):
            sys.stderr.write("Tidings is already running: its window was brought forward.\n")
            return EXIT_OK
        holder = lock.holder()
        who = f" (pid {holder})" if holder else ""
        sys.stderr.write(
            f"tidings: Tidings is already running with this profile{who} but does not answer; "
            "stop it first, or use --profile-dir for a separate profile\n"
        )
        return EXIT_FAILURE
    try:
        _log_to_file(paths, known)
        loop = AppLoop(app)
        asyncio.set_event_loop(loop)
        try:
            code: int = loop.run_until_complete(_run(args, paths, known, messenger, on_ready))
        finally:
            loop.close()
            asyncio.set_event_loop(None)
    finally:
        messenger.close()
        lock.release()
    _tear_down_qt(app)
    return code


def _tear_down_qt(app: QApplication) -> None:
    """Destroy every Qt object while Python is still whole.

    Left to the interpreter's final garbage collection, PySide6 6.12 can crash there
    ("bool_dealloc: deallocating True or False"); deleting the widgets and the
    application here, in order, avoids it.
    """
    for widget in app.topLevelWidgets():
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    app.shutdown()
    del app
    gc.collect()


async def _run(
    args: argparse.Namespace,
    paths: Paths,
    known: KnownSecrets,
    messenger: InstanceMessenger,
    on_ready: OnReady | None = None,
) -> int:
    quit_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, quit_event.set)
    first_run = not paths.settings_file.exists() and not paths.history_db.exists()
    secrets: SecretStore = KeyringStore()
    store = HistoryStore(paths.history_db)
    try:
        await store.open()
    except HistoryUnavailableError as exc:
        # Nothing can be stored, so no feed starts: say why (the message names the file and
        # what to do) on stderr and, where a person sees the screen, in a box.
        logger.error("%s", exc)
        await _tell_user(str(exc))
        return EXIT_FAILURE
    try:
        hub = Hub(store=store, secrets=secrets, known_secrets=known)
        live = LiveSettings(paths.settings_file, hub)
        _apply_flood_limits(hub, live.current.app)
        controller = AppController(
            paths=paths,
            store=store,
            hub=hub,
            live=live,
            secrets=secrets,
            known=known,
            request_quit=quit_event.set,
        )

        def another_launch(message: str) -> None:
            logger.info("another launch asked for the window (%s)", message)
            controller.show_window()

        messenger.listen(another_launch)
        ui = build_ui(controller)
        notifications = _Notifications(controller, ui)
        live.on_reload = lambda _settings: controller.settings_changed.emit()

        def settings_changed() -> None:
            _apply_flood_limits(hub, controller.app_settings)
            controller.tasks.spawn(notifications.apply(controller.app_settings))

        controller.settings_changed.connect(settings_changed)
        resume = ResumeWatcher(hub=hub)  # suspend/resume and network changes reconnect all
        wake = PlatformWake(resume)
        try:
            await live.start()
            resume.start()
            await wake.start()
            await notifications.start()
            await controller.refresh_counts()
            if args.demo:
                await start_demo(controller, interval=args.demo_interval)
            tray_ok = ui.tray_available
            if not args.background and (
                first_run or not tray_ok or live.current.app.show_window_at_start
            ):
                ui.show_window()
            elif not tray_ok:
                ui.show_window()  # never locked out: without a tray the window is the app
            controller.tasks.spawn(live.follow(), name="tidings-settings-watch")
            controller.tasks.spawn(
                # live.current is replaced at every change: ask it each round.
                keep_retention(store, lambda: live.current.retention()),  # noqa: PLW0108
                name="tidings-retention",
            )
            if args.exit_after is not None:
                loop.call_later(args.exit_after, quit_event.set)
            _announce_ready(ui)
            if on_ready is not None:
                controller.tasks.spawn(on_ready(controller, ui), name="tidings-on-ready")
            await quit_event.wait()
        finally:
            ui.close()
            await wake.close()
            await resume.stop()
            await controller.tasks.cancel_all()
            await hub.stop()
            await notifications.close()
            if controller.demo_server is not None:
                await controller.demo_server.close()  # from --demo or the welcome page
            await ui.aclose()
    finally:
        await store.close()
    return EXIT_OK


async def _tell_user(message: str) -> None:
    """A plain-text error box, awaited without a nested event loop (none offscreen: no one
    would see it, and nothing could close it)."""
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return
    box = QMessageBox(QMessageBox.Icon.Critical, "Tidings", message)
    box.setTextFormat(Qt.TextFormat.PlainText)
    await dialog_result(box)


def _apply_flood_limits(hub: Hub, app: AppSettings) -> None:
    """The ``[app]`` flood limits, for every feed from its next event on."""
    limits = replace(hub.rule_limits, flood_limit=app.flood_limit, flood_window=app.flood_window)
    if limits != hub.rule_limits:
        hub.set_rule_limits(limits)


async def start_demo(controller: AppController, *, interval: float = 1.5) -> DemoServer:
    """Start the built-in demo source and subscribe to it for this session only (once: a
    second call returns the running one). The controller keeps it; the app closes it at quit."""
    if controller.demo_server is not None:
        return controller.demo_server
    demo = DemoServer(interval=interval)
    controller.demo_server = demo
    url = await demo.start()
    feed = Feed(id=DEMO_FEED_ID, name="Demo", url=url, preset="json")
    controller.transient[DEMO_FEED_ID] = feed
    controller.hub.add(feed)
    controller.feeds_changed.emit()
    return demo


class _ActionHandler:
    """What a click on a notification does, in the running app."""

    def __init__(self, controller: AppController) -> None:
        self._controller = controller

    def open_url(self, url: str) -> None:
        self._controller.open_url(url)

    def open_event(self, feed_id: str, rowid: int | None) -> None:
        self._controller.open_event(feed_id, rowid)

    async def mute_feed(self, feed_id: str, seconds: float) -> None:
        if self._controller.feed(feed_id) is not None:
            await self._controller.mute(feed_id, seconds)

    async def mark_read(self, rowid: int) -> None:
        await self._controller.mark_read([rowid])


class _Notifications:
    """The notifier chain (native, then the tray balloon) behind one hub sink, rebuilt when the
    user picks another backend in the settings."""

    def __init__(self, controller: AppController, ui: _UI) -> None:
        self._controller = controller
        self._handler = _ActionHandler(controller)
        self._fallback = TrayNotifier(ui.tray.icon, self._handler)
        self._app = controller.app_settings
        self.sink = NotifierSink(
            notifier=self._build(self._app),
            app=self._app,
            feed_exists=lambda feed_id: controller.hub.feed(feed_id) is not None,
        )
        controller.hub.add_sink(self.sink)

    def _build(self, app: AppSettings) -> Notifier:
        return build_notifier(
            app, handler=self._handler, fallback=self._fallback, on_state_changed=self._report
        )

    def _report(self) -> None:
        notifier = self.sink.notifier
        self._controller.set_notifier_info(notifier.name, notifier.state.value, notifier.detail)

    async def start(self) -> None:
        await self.sink.start()
        self._report()

    async def apply(self, app: AppSettings) -> None:
        old, self._app = self._app, app
        self.sink.set_app_settings(app)
        if (old.notifications, old.notifier) != (app.notifications, app.notifier):
            await self.sink.replace_notifier(self._build(app))
        self._report()

    async def close(self) -> None:
        await self.sink.close()


class _UI:
    """The windows and the tray, built lazily so the composition root stays readable."""

    def __init__(self, controller: AppController) -> None:
        self.tray = Tray(controller)
        self.tray_available = self.tray.available
        self.window = MainWindow(controller, tray_available=self.tray_available)
        controller.show_window_requested.connect(self.show_window)
        controller.show_log_requested.connect(self._show_event)
        self.tray.toggle_window_requested.connect(self.toggle_window)

    def show_window(self) -> None:
        self.window.bring_forward()

    def toggle_window(self) -> None:
        if self.window.isVisible() and self.window.isActiveWindow():
            self.window.hide()
        else:
            self.window.bring_forward()

    def _show_event(self, feed_id: str, rowid: int) -> None:
        self.window.bring_forward()
        self.window.show_event(feed_id, None if rowid < 0 else rowid)

    def close(self) -> None:
        self.window.hide()
        self.tray.hide()

    async def aclose(self) -> None:
        self.window.deleteLater()
        self.tray.deleteLater()


def _announce_ready(ui: _UI) -> None:
    """Log (at info) that the app is up and whether its tray icon shows: tests and benchmarks
    wait for this line."""
    logger.info("ready: tray icon %s", "shown" if ui.tray_available else "unavailable")


def build_ui(controller: AppController) -> _UI:
    return _UI(controller)


def _setup_logging(level: str, known: KnownSecrets) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tidings: %(message)s"))
    handler.addFilter(RedactingFilter(known))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))


def _log_to_file(paths: Paths, known: KnownSecrets) -> None:
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            paths.log_dir / "tidings.log", maxBytes=1024 * 1024, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logger.warning("cannot write a log file in %s (%s): stderr only", paths.log_dir, exc)
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(known))
    logging.getLogger().addHandler(handler)


def _install_translator(app: QApplication) -> None:
    """Load Qt's own translations for the user's locale (Tidings' strings go through tr())."""
    translator = QTranslator(app)
    if translator.load(
        QLocale.system(),
        "qtbase",
        "_",
        QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath),
    ):
        app.installTranslator(translator)
    if QLocale.system().textDirection() == Qt.LayoutDirection.RightToLeft:
        app.setLayoutDirection(Qt.LayoutDirection.RightToLeft)


if __name__ == "__main__":
    sys.exit(main())
