"""The main window: feeds on the left, the log on the right, a first-run page, menus, status.

Closing it hides it when a tray icon exists (the app keeps running there).
Without a tray the window is the app, so closing asks whether to keep running
in the background, unless the user chose once for all
(``AppSettings.background_on_close``). Dialogs open with ``open()`` and a
future, never ``exec()``. Window geometry and splitter positions are kept in
the profile's state directory (``window.ini``), so each profile has its own.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QHideEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

import tidings
from tidings.core.models import ConnectionState
from tidings.qt import feed_files
from tidings.qt.controller import AppController
from tidings.qt.feeds_panel import FeedsPanel
from tidings.qt.log_view import LogView
from tidings.qt.loop import dialog_result

__all__ = ["MainWindow"]

logger = logging.getLogger(__name__)

KEEP = "keep"
QUIT = "quit"
ASK = "ask"


class WelcomePage(QWidget):
    """What a first run (no feeds yet) shows instead of an empty log."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        heading = QLabel(self.tr("Welcome to Tidings"))
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        heading.setFont(font)
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            self.tr(
                "Tidings turns Server-Sent Events feeds (ntfy topics, Mercure hubs, CI relays, "
                "any event-stream URL) into desktop notifications and a searchable log.\n\n"
                "Try the built-in demo feed to see it work right away, or add a feed of your own."
            )
        )
        text.setTextFormat(Qt.TextFormat.PlainText)
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.demo_button = QPushButton(self.tr("&Try a demo feed"))
        self.demo_button.setAccessibleName(self.tr("Try a demo feed"))
        self.demo_button.setDefault(True)
        self.add_button = QPushButton(self.tr("&Add a feed…"))
        self.add_button.setAccessibleName(self.tr("Add a feed"))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(heading)
        column.addWidget(text)
        column.addSpacing(self.fontMetrics().height())
        column.addLayout(buttons)
        column.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 4)
        outer.addStretch(1)


class MainWindow(QMainWindow):
    """Feeds and the log of their events, for the running app."""

    def __init__(self, controller: AppController, *, tray_available: bool) -> None:
        super().__init__()
        self._controller = controller
        self._tray_available = tray_available
        self._asking = False
        self._state = QSettings(
            str(controller.paths.state_dir / "window.ini"), QSettings.Format.IniFormat
        )
        self.demo: Any = None
        """The demo server the welcome page started (the composition root closes it)."""
        self.setWindowTitle(self.tr("Tidings"))
        self.setObjectName("tidings-main-window")

        self.log_view = LogView(controller)
        self.feeds_panel = FeedsPanel(controller)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.feeds_panel)
        self.splitter.addWidget(self.log_view)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.feeds_panel.feed_selected.connect(self.log_view.set_feed)

        self.welcome = WelcomePage()
        self.welcome.demo_button.clicked.connect(self.start_demo)
        self.welcome.add_button.clicked.connect(self.add_feed)

        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.splitter)
        self.setCentralWidget(self.pages)

        self._build_menus()
        self.counts_label = QLabel()
        self.counts_label.setTextFormat(Qt.TextFormat.PlainText)
        self.counts_label.setAccessibleName(self.tr("Feeds and unread events"))
        self.statusBar().addPermanentWidget(self.counts_label)
        self.log_view.status_message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        controller.error_raised.connect(self._on_controller_error_raised)

        controller.feeds_changed.connect(self._on_controller_feeds_changed)
        # Bound methods, not lambdas: Qt drops them when the window is deleted.
        controller.status_changed.connect(self._on_controller_status_changed)
        controller.counts_changed.connect(self._update_counts)
        self._on_controller_feeds_changed()
        self._restore_state()

    # -- what the composition root calls --------------------------------------------

    def bring_forward(self) -> None:
        """Show the window on top and give it the focus (restoring it if minimised)."""
        if self.isMinimized():
            self.showNormal()
        else:
            self.show()
        self.raise_()
        self.activateWindow()

    def show_event(self, feed_id: str, rowid: int | None) -> None:
        """Show that event (or the feed's newest events) in the log."""
        if self._controller.feeds:
            self.pages.setCurrentWidget(self.splitter)
        self.log_view.show_event(feed_id, rowid)

    def close_for_quit(self) -> None:
        """Save the window's state and hide it without asking (the app is quitting)."""
        self._save_state()
        self.hide()

    # -- actions ---------------------------------------------------------------------

    def start_demo(self) -> None:
        self.welcome.demo_button.setEnabled(False)
        self._controller.tasks.spawn(self._start_demo(), name="tidings-demo")

    def add_feed(self) -> None:
        from tidings.qt.feed_editor import edit_feed  # noqa: PLC0415 - written alongside

        self._controller.tasks.spawn(edit_feed(self._controller, self, None), name="tidings-add")

    def open_settings(self) -> None:
        from tidings.qt.settings_dialog import open_settings  # noqa: PLC0415 - written alongside

        self._controller.tasks.spawn(open_settings(self._controller, self), name="tidings-settings")

    def import_feeds(self) -> None:
        self._controller.tasks.spawn(self._choose_and_import(), name="tidings-import")

    def export_feeds(self) -> None:
        self._controller.tasks.spawn(self._choose_and_export(), name="tidings-export")

    def export_to(self, path: Path) -> bool:
        """Write the saved feeds (never a secret, never the session-only demo) to ``path``."""
        outcome = feed_files.export_feeds(self._controller, path)
        if outcome.failed:
            self._tell(self.tr("Export feeds"), outcome.summary)
            return False
        self.statusBar().showMessage(outcome.summary, 10000)
        if outcome.details:
            self._tell(self.tr("Export feeds"), outcome.text)
        return True

    async def import_from(self, path: Path) -> int:
        """Add the feeds of an exported (or settings) file; how many were added."""
        outcome = await feed_files.import_feeds(self._controller, path)
        if outcome.failed:
            self._tell(self.tr("Import feeds"), outcome.summary)
            return 0
        self.statusBar().showMessage(outcome.summary, 10000)
        if outcome.details:
            self._tell(self.tr("Import feeds"), outcome.text)
        return outcome.count

    def mark_all_read(self) -> None:
        self._controller.tasks.spawn(self._controller.mark_all_read(), name="tidings-all-read")

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle(self.tr("About Tidings"))
        box.setIcon(QMessageBox.Icon.Information)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(self.tr("Tidings {0}").format(tidings.__version__))
        box.setInformativeText(
            self.tr(
                "Server-Sent Events as desktop notifications and a searchable log.\n"
                "Qt {0}, Python bindings by PySide6."
            ).format(qVersion())
        )
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setObjectName("tidings-about")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def quit_app(self) -> None:
        self._save_state()
        self._controller.quit()

    # -- Qt events -------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._save_state()
        if self._tray_available:
            event.accept()  # hidden; the tray icon brings it back
            return
        choice = self._controller.app_settings.background_on_close
        if choice == KEEP:
            event.accept()
        elif choice == QUIT:
            event.accept()
            self._controller.quit()
        else:
            event.ignore()
            if not self._asking:
                self._controller.tasks.spawn(self._ask_on_close(), name="tidings-ask-close")

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        self._save_state()
        super().hideEvent(event)

    # -- async work --------------------------------------------------------------------

    async def _choose_and_export(self) -> None:
        path = await feed_files.choose_file(self, save=True)
        if path is not None:
            self.export_to(path)

    async def _choose_and_import(self) -> None:
        path = await feed_files.choose_file(self, save=False)
        if path is not None:
            await self.import_from(path)

    async def _start_demo(self) -> None:
        from tidings.qt.main import start_demo  # noqa: PLC0415 - main imports this module

        try:
            self.demo = await start_demo(self._controller)
        except Exception as exc:
            logger.exception("the demo feed did not start")
            self.statusBar().showMessage(self.tr("The demo feed did not start: {0}").format(exc))
        finally:
            self.welcome.demo_button.setEnabled(True)

    async def _ask_on_close(self) -> None:
        self._asking = True
        try:
            box = QMessageBox(self)
            box.setObjectName("tidings-ask-close")
            box.setIcon(QMessageBox.Icon.Question)
            box.setWindowTitle(self.tr("Close Tidings"))
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(self.tr("Keep Tidings running in the background?"))
            box.setInformativeText(
                self.tr(
                    "Notifications keep coming while it runs. There is no tray icon on this "
                    "desktop: start Tidings again to bring this window back."
                )
            )
            keep = box.addButton(self.tr("&Keep running"), QMessageBox.ButtonRole.AcceptRole)
            quit_button = box.addButton(self.tr("&Quit"), QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(keep)
            remember = QCheckBox(self.tr("&Don't ask again"))
            box.setCheckBox(remember)
            await dialog_result(box)
            clicked = box.clickedButton()
            choice = KEEP if clicked is keep else QUIT if clicked is quit_button else None
            remembered = remember.isChecked()
            box.deleteLater()
            if choice is None:
                return
            if remembered:
                app = dataclasses.replace(self._controller.app_settings, background_on_close=choice)
                await self._controller.save_app_settings(app)
            if choice == KEEP:
                self.hide()
            else:
                self.quit_app()
        finally:
            self._asking = False

    # -- building ----------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        self.add_action = self._action(
            file_menu, self.tr("&Add Feed…"), self.add_feed, QKeySequence.StandardKey.New
        )
        self.import_action = self._action(file_menu, self.tr("&Import Feeds…"), self.import_feeds)
        self.export_action = self._action(file_menu, self.tr("&Export Feeds…"), self.export_feeds)
        file_menu.addSeparator()
        self.settings_action = self._action(
            file_menu,
            self.tr("&Settings…"),
            self.open_settings,
            QKeySequence.StandardKey.Preferences,
        )
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence(self.tr("Ctrl+,")))
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, self.tr("&Quit"), self.quit_app)
        self.quit_action.setShortcut(QKeySequence(self.tr("Ctrl+Q")))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        view_menu = bar.addMenu(self.tr("&View"))
        self.mark_all_action = self._action(
            view_menu, self.tr("&Mark All Read"), self.mark_all_read
        )
        self.mark_all_action.setShortcut(QKeySequence(self.tr("Ctrl+Shift+R")))
        self.search_action = self._action(
            view_menu,
            self.tr("&Search the Log"),
            self.log_view.focus_search,
            QKeySequence.StandardKey.Find,
        )
        if self.search_action.shortcut().isEmpty():
            self.search_action.setShortcut(QKeySequence(self.tr("Ctrl+F")))

        help_menu = bar.addMenu(self.tr("&Help"))
        self.about_action = self._action(help_menu, self.tr("&About Tidings"), self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _action(
        self,
        menu: Any,
        text: str,
        slot: Any,
        shortcut: QKeySequence.StandardKey | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _tell(self, title: str, text: str) -> None:
        """A plain-text message box, opened without a nested event loop."""
        box = QMessageBox(self)
        box.setObjectName("tidings-message")
        box.setWindowTitle(title)
        box.setIcon(QMessageBox.Icon.Information)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- updates -----------------------------------------------------------------------

    def _on_controller_feeds_changed(self) -> None:
        has_feeds = bool(self._controller.feeds)
        self.pages.setCurrentWidget(self.splitter if has_feeds else self.welcome)
        self._update_counts()

    def _on_controller_status_changed(self, _feed_id: str, _status: object) -> None:
        self._update_counts()

    def _on_controller_error_raised(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _update_counts(self) -> None:
        feeds = self._controller.feeds
        connected = 0
        for feed in feeds:
            status = self._controller.status(feed.id)
            if status is not None and status.state is ConnectionState.OPEN:
                connected += 1
        unread = self._controller.total_unread
        if len(feeds) == 1:
            text = self.tr("1 feed, {0} connected, {1} unread").format(connected, unread)
        else:
            text = self.tr("{0} feeds, {1} connected, {2} unread").format(
                len(feeds), connected, unread
            )
        self.counts_label.setText(text)

    def _restore_state(self) -> None:
        geometry = self._state.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            # A first size that follows the font, not fixed pixels.
            metrics = self.fontMetrics()
            self.resize(metrics.averageCharWidth() * 150, metrics.height() * 42)
            self.splitter.setSizes([self.width() * 3 // 10, self.width() * 7 // 10])
        for key, widget in (
            ("window/splitter", self.splitter),
            ("window/log_splitter", self.log_view.splitter),
        ):
            value = self._state.value(key)
            if value is not None:
                widget.restoreState(value)
        header = self._state.value("window/log_header")
        if header is not None:
            self.log_view.table.horizontalHeader().restoreState(header)

    def _save_state(self) -> None:
        self._state.setValue("window/geometry", self.saveGeometry())
        self._state.setValue("window/splitter", self.splitter.saveState())
        self._state.setValue("window/log_splitter", self.log_view.splitter.saveState())
        self._state.setValue(
            "window/log_header", self.log_view.table.horizontalHeader().saveState()
        )
        self._state.sync()
