"""The settings dialog: notifications, quiet hours, history, startup, privacy and files.

Opened with ``await open_settings(controller, parent)`` (``open()`` plus a
future, never ``exec()``). OK validates (a problem shows inline, the dialog
stays open), saves through the controller, and closes only when the save
worked. Export, import, "Open folder" and "Copy diagnostics" act at once.
Nothing a server sent is shown here except feed statuses in the diagnostics
text, which is copied, never rendered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QLocale, Qt, QTime, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

import tidings
from tidings.core.autostart import Autostart, autostart_for
from tidings.core.diagnostics import DiagnosticsInput, diagnostics_report, keyring_is_secure
from tidings.core.errors import TidingsError
from tidings.core.history import Retention
from tidings.core.models import NOTIFIER_CHOICES, AppSettings, QuietHours
from tidings.core.notification import Urgency
from tidings.qt import feed_files
from tidings.qt.controller import AppController
from tidings.qt.loop import dialog_result

__all__ = ["SettingsDialog", "open_settings"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEYRING_NAME_TIMEOUT = 5.0
"""Seconds to wait for the keyring backend's name (detecting it talks to D-Bus on Linux)."""


_OPEN: weakref.WeakKeyDictionary[AppController, SettingsDialog] = weakref.WeakKeyDictionary()
"""The settings dialog open for each running app (at most one). Not found through
``QApplication.topLevelWidgets()``: wrapping every top-level widget from Python crashed the
test run later (a timer fired at a deleted object), with PySide6 6.11."""


async def open_settings(controller: AppController, parent: QWidget | None) -> None:
    """Show the settings (or bring an open settings dialog forward) until it is closed."""
    current = _OPEN.get(controller)
    if current is not None:
        current.raise_()
        current.activateWindow()
        return
    dialog = SettingsDialog(controller, parent)
    _OPEN[controller] = dialog
    try:
        await dialog_result(dialog)
    finally:
        _OPEN.pop(controller, None)
        dialog.deleteLater()


class SettingsDialog(QDialog):
    """Every app-wide setting, on tabs. Feeds have their own editor."""

    def __init__(
        self,
        controller: AppController,
        parent: QWidget | None = None,
        *,
        autostart: Autostart | None = None,
        open_folder: Callable[[Path], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        extra: list[str] = []
        if controller.paths.profile_dir is not None:
            extra = ["--profile-dir", str(controller.paths.profile_dir)]
        self._autostart: Autostart = autostart or autostart_for(extra)
        self._open_folder = open_folder or _open_folder
        self._keyring_name = ""
        self.last_diagnostics = ""
        self.setWindowTitle(self.tr("Tidings Settings"))
        self.setAccessibleName(self.tr("Settings"))

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(self.tr("Settings pages"))
        self.tabs.addTab(self._notifications_page(), self.tr("&Notifications"))
        self.tabs.addTab(self._quiet_page(), self.tr("&Quiet hours"))
        self.tabs.addTab(self._history_page(), self.tr("&History"))
        self.tabs.addTab(self._startup_page(), self.tr("S&tartup"))
        self.tabs.addTab(self._privacy_page(), self.tr("&Privacy && files"))

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName(self.tr("Problem"))
        font = self.error_label.font()
        font.setBold(True)
        self.error_label.setFont(font)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.load()
        self._refresh_backend()
        controller.notifier_changed.connect(self._refresh_backend)
        controller.tasks.spawn(self._fetch_keyring_name(), name="tidings-settings-keyring")

    # -- pages -------------------------------------------------------------------------

    def _notifications_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.notifications = QCheckBox(self.tr("&Show notifications"))
        self.notifications.setAccessibleName(self.tr("Show notifications"))
        self.notifications.setToolTip(self.tr("Off: every event is still logged; nothing pops up."))
        form.addRow(self.notifications)

        self.notifier = QComboBox()
        self.notifier.setAccessibleName(self.tr("Notification backend"))
        labels = {
            "auto": self.tr("Automatic (native, else the tray icon)"),
            "native": self.tr("Native notifications"),
            "tray": self.tr("Tray icon balloons"),
        }
        for choice in NOTIFIER_CHOICES:
            self.notifier.addItem(labels.get(choice, choice), choice)
        form.addRow(self.tr("&Backend:"), self.notifier)

        self.backend_label = QLabel()
        self.backend_label.setTextFormat(Qt.TextFormat.PlainText)
        self.backend_label.setWordWrap(True)
        self.backend_label.setAccessibleName(self.tr("Backend in use"))
        self.backend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.tr("In use:"), self.backend_label)

        self.lost_after = QSpinBox()
        self.lost_after.setRange(0, 7 * 86400)
        self.lost_after.setSuffix(self.tr(" s"))
        self.lost_after.setSpecialValueText(self.tr("Never"))
        self.lost_after.setAccessibleName(self.tr("Lost connection alert after seconds"))
        self.lost_after.setToolTip(
            self.tr("One notification when a feed has been down this long (0: never).")
        )
        form.addRow(self.tr("&Lost connection alert after:"), self.lost_after)

        self.flood_limit = QSpinBox()
        self.flood_limit.setRange(1, 1000)
        self.flood_limit.setAccessibleName(self.tr("Flood limit: popups per feed"))
        self.flood_window = QSpinBox()
        self.flood_window.setRange(1, 3600)
        self.flood_window.setSuffix(self.tr(" s"))
        self.flood_window.setAccessibleName(self.tr("Flood limit: within seconds"))
        flood = QHBoxLayout()
        flood.addWidget(self.flood_limit)
        per = QLabel(self.tr("popups per feed within"))
        per.setBuddy(self.flood_window)
        flood.addWidget(per)
        flood.addWidget(self.flood_window)
        flood.addStretch(1)
        flood_label = QLabel(self.tr("&Flood limit:"))
        flood_label.setBuddy(self.flood_limit)
        form.addRow(flood_label, flood)
        hint = QLabel(self.tr("Beyond the limit, one summary is updated in place."))
        hint.setWordWrap(True)
        form.addRow(hint)
        return page

    def _quiet_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.quiet_enabled = QCheckBox(self.tr("&Quiet hours: only urgent events pop up"))
        self.quiet_enabled.setAccessibleName(self.tr("Quiet hours enabled"))
        form.addRow(self.quiet_enabled)

        days_box = QGroupBox(self.tr("Days"))
        days_box.setAccessibleName(self.tr("Quiet days"))
        grid = QGridLayout(days_box)
        locale = QLocale()
        first = locale.firstDayOfWeek().value  # Qt: Monday = 1
        self.day_boxes: dict[int, QCheckBox] = {}
        for position in range(7):
            weekday = (first - 1 + position) % 7  # datetime: Monday = 0
            name = locale.dayName(weekday + 1, QLocale.FormatType.LongFormat)
            box = QCheckBox(locale.dayName(weekday + 1, QLocale.FormatType.ShortFormat))
            box.setAccessibleName(name)
            self.day_boxes[weekday] = box
            grid.addWidget(box, position // 4, position % 4)
        form.addRow(days_box)

        time_format = locale.timeFormat(QLocale.FormatType.ShortFormat)
        self.quiet_start = QTimeEdit()
        self.quiet_start.setDisplayFormat(time_format)
        self.quiet_start.setAccessibleName(self.tr("Quiet hours start"))
        self.quiet_end = QTimeEdit()
        self.quiet_end.setDisplayFormat(time_format)
        self.quiet_end.setAccessibleName(self.tr("Quiet hours end"))
        form.addRow(self.tr("&From:"), self.quiet_start)
        form.addRow(self.tr("&Until:"), self.quiet_end)

        self.break_through = QComboBox()
        self.break_through.setAccessibleName(self.tr("Urgency that still pops up"))
        names = {
            Urgency.LOW: self.tr("Every event (quiet hours change nothing)"),
            Urgency.NORMAL: self.tr("Normal and critical"),
            Urgency.CRITICAL: self.tr("Critical only"),
        }
        for urgency in Urgency:
            self.break_through.addItem(names[urgency], urgency.value)
        form.addRow(self.tr("Still &pop up:"), self.break_through)
        note = QLabel(
            self.tr("An end time not after the start runs into the next day. Events are logged.")
        )
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _history_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.max_age = QSpinBox()
        self.max_age.setRange(1, 36500)
        self.max_age.setSuffix(self.tr(" days"))
        self.max_age.setAccessibleName(self.tr("Keep events for days"))
        form.addRow(self.tr("&Keep events for:"), self.max_age)

        self.max_per_feed = QSpinBox()
        self.max_per_feed.setRange(1, 100_000_000)
        self.max_per_feed.setGroupSeparatorShown(True)
        self.max_per_feed.setAccessibleName(self.tr("Events kept per feed"))
        form.addRow(self.tr("Events kept &per feed:"), self.max_per_feed)

        self.total_enabled = QCheckBox(self.tr("Limit &all feeds together to:"))
        self.total_enabled.setAccessibleName(self.tr("Limit the total of events"))
        self.max_total = QSpinBox()
        self.max_total.setRange(1, 1_000_000_000)
        self.max_total.setGroupSeparatorShown(True)
        self.max_total.setAccessibleName(self.tr("Events kept in total"))
        self.total_enabled.toggled.connect(self.max_total.setEnabled)
        form.addRow(self.total_enabled, self.max_total)
        note = QLabel(self.tr("A feed's own limits, set in its editor, win over these."))
        note.setWordWrap(True)
        form.addRow(note)
        return page

    def _startup_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.autostart = QCheckBox(self.tr("&Start Tidings when I log in"))
        self.autostart.setAccessibleName(self.tr("Start at login"))
        form.addRow(self.autostart)
        where = QLabel(self._autostart.location)
        where.setTextFormat(Qt.TextFormat.PlainText)
        where.setWordWrap(True)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where.setAccessibleName(self.tr("Autostart entry location"))
        form.addRow(self.tr("Entry:"), where)
        self.show_window = QCheckBox(self.tr("Show the &window at start"))
        self.show_window.setAccessibleName(self.tr("Show the window at start"))
        form.addRow(self.show_window)
        self.on_close = QComboBox()
        self.on_close.setAccessibleName(self.tr("Closing the window without a tray"))
        for value, label in (
            ("ask", self.tr("Ask")),
            ("keep", self.tr("Keep running in the background")),
            ("quit", self.tr("Quit")),
        ):
            self.on_close.addItem(label, value)
        form.addRow(self.tr("Without a tray, &closing the window:"), self.on_close)
        return page

    def _privacy_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        self.keyring_label = QLabel(self.tr("checking…"))
        self.keyring_label.setTextFormat(Qt.TextFormat.PlainText)
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setAccessibleName(self.tr("Keyring in use"))
        self.keyring_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.tr("Keyring:"), self.keyring_label)
        self.keyring_warning = QLabel()
        self.keyring_warning.setTextFormat(Qt.TextFormat.PlainText)
        self.keyring_warning.setWordWrap(True)
        self.keyring_warning.setAccessibleName(self.tr("Keyring warning"))
        self.keyring_warning.hide()
        form.addRow(self.keyring_warning)

        paths = self.controller.paths
        self.folder_buttons: dict[str, QPushButton] = {}
        for key, label, shown, folder in (
            ("settings", self.tr("Settings:"), paths.settings_file, paths.settings_file.parent),
            ("history", self.tr("History:"), paths.history_db, paths.history_db.parent),
            ("logs", self.tr("Logs:"), paths.log_dir, paths.log_dir),
        ):
            field = QLineEdit(str(shown))
            field.setReadOnly(True)
            field.setAccessibleName(label.rstrip(":"))
            button = QPushButton(self.tr("Open folder"))
            button.setAccessibleName(self.tr("Open the folder of {what}").format(what=label))
            button.clicked.connect(self._folder_opener(folder))
            self.folder_buttons[key] = button
            row = QHBoxLayout()
            row.addWidget(field, 1)
            row.addWidget(button)
            form.addRow(label, row)
        layout.addLayout(form)

        actions = QHBoxLayout()
        self.copy_diagnostics = QPushButton(self.tr("&Copy diagnostics"))
        self.copy_diagnostics.setToolTip(
            self.tr("Versions, backends and feed statuses, with secrets removed, for a bug report")
        )
        self.copy_diagnostics.clicked.connect(self._on_copy_diagnostics_clicked)
        self.export_button = QPushButton(self.tr("&Export feeds…"))
        self.export_button.setToolTip(self.tr("Write the feeds to a file, without secrets"))
        self.export_button.clicked.connect(self._on_export_clicked)
        self.import_button = QPushButton(self.tr("&Import feeds…"))
        self.import_button.setToolTip(self.tr("Add the feeds of an exported file"))
        self.import_button.clicked.connect(self._on_import_clicked)
        for button in (self.copy_diagnostics, self.export_button, self.import_button):
            actions.addWidget(button)
        actions.addStretch(1)
        layout.addLayout(actions)

        self.files_status = QLabel()
        self.files_status.setTextFormat(Qt.TextFormat.PlainText)
        self.files_status.setWordWrap(True)
        self.files_status.setAccessibleName(self.tr("Result"))
        self.files_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.files_status)
        layout.addStretch(1)
        return page

    # -- values ------------------------------------------------------------------------

    def load(self) -> None:
        """Fill every control from the current settings."""
        settings = self.controller.settings
        app = settings.app
        self.notifications.setChecked(app.notifications)
        self.notifier.setCurrentIndex(max(0, self.notifier.findData(app.notifier)))
        self.lost_after.setValue(round(app.lost_connection_after))
        self.flood_limit.setValue(app.flood_limit)
        self.flood_window.setValue(round(app.flood_window))
        self.show_window.setChecked(app.show_window_at_start)
        self.on_close.setCurrentIndex(max(0, self.on_close.findData(app.background_on_close)))

        quiet = settings.quiet_hours
        self.quiet_enabled.setChecked(quiet.enabled)
        for day, box in self.day_boxes.items():
            box.setChecked(day in quiet.days)
        self.quiet_start.setTime(QTime(quiet.start.hour, quiet.start.minute))
        self.quiet_end.setTime(QTime(quiet.end.hour, quiet.end.minute))
        self.break_through.setCurrentIndex(
            max(0, self.break_through.findData(quiet.break_through.value))
        )

        retention = settings.history_retention
        defaults = Retention()
        self.max_age.setValue(round(retention.max_age_days or defaults.max_age_days or 30))
        self.max_per_feed.setValue(
            retention.max_events_per_feed or defaults.max_events_per_feed or 100_000
        )
        total = retention.max_events_total
        self.total_enabled.setChecked(total is not None)
        self.max_total.setValue(total or 1_000_000)
        self.max_total.setEnabled(total is not None)

        try:
            self.autostart.setChecked(self._autostart.is_enabled())
        except OSError:
            logger.warning("could not read the autostart entry", exc_info=True)
        self._autostart_was = self.autostart.isChecked()

    def app_settings(self) -> AppSettings:
        """The ``[app]`` settings as the controls say (unchanged fractions are kept)."""
        current = self.controller.app_settings
        return replace(
            current,
            notifications=self.notifications.isChecked(),
            notifier=str(self.notifier.currentData()),
            lost_connection_after=_kept(current.lost_connection_after, self.lost_after.value()),
            flood_limit=self.flood_limit.value(),
            flood_window=_kept(current.flood_window, self.flood_window.value()),
            show_window_at_start=self.show_window.isChecked(),
            background_on_close=str(self.on_close.currentData()),
        )

    def quiet_hours(self) -> QuietHours:
        start, end = self.quiet_start.time(), self.quiet_end.time()
        return QuietHours(
            enabled=self.quiet_enabled.isChecked(),
            days=frozenset(day for day, box in self.day_boxes.items() if box.isChecked()),
            start=dt.time(start.hour(), start.minute()),
            end=dt.time(end.hour(), end.minute()),
            break_through=Urgency(str(self.break_through.currentData())),
        )

    def retention(self) -> Retention:
        current = self.controller.settings.history_retention
        return Retention(
            max_age_days=_kept(current.max_age_days, self.max_age.value()),
            max_events_per_feed=self.max_per_feed.value(),
            max_events_total=self.max_total.value() if self.total_enabled.isChecked() else None,
        )

    def problems(self) -> list[str]:
        """What keeps the settings from being saved, in words for the user."""
        found = []
        quiet = self.quiet_hours()
        if quiet.enabled and not quiet.days:
            found.append(self.tr("Choose at least one day for the quiet hours, or turn them off."))
        return found

    # -- OK ----------------------------------------------------------------------------

    def _on_buttons_accepted(self) -> None:
        problems = self.problems()
        if problems:
            self._show_error("\n".join(problems))
            return
        self._show_error("")
        self.buttons.setEnabled(False)
        self.controller.tasks.spawn(self._save_and_close(), name="tidings-settings-save")

    async def _save_and_close(self) -> None:
        try:
            await self.save()
        except (TidingsError, OSError) as exc:
            self._show_error(self.tr("Not saved: {reason}").format(reason=str(exc)))
            return
        finally:
            self.buttons.setEnabled(True)
        self.accept()

    async def save(self) -> None:
        """Apply every changed setting through the controller (and the autostart entry)."""
        controller = self.controller
        wanted = self.autostart.isChecked()
        if wanted != self._autostart_was:
            if wanted:
                self._autostart.enable()
            else:
                self._autostart.disable()
            self._autostart_was = wanted
        app = self.app_settings()
        if app != controller.app_settings:
            await controller.save_app_settings(app)
        quiet = self.quiet_hours()
        if quiet != controller.settings.quiet_hours:
            await controller.save_quiet_hours(quiet)
        retention = self.retention()
        current = controller.settings.history_retention
        if retention != replace(current, per_feed={}):
            await controller.live.change(lambda s: s.with_history_retention(retention))
            controller.settings_changed.emit()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    # -- backend and keyring -----------------------------------------------------------

    def _refresh_backend(self) -> None:
        name = self.controller.notifier_name or self.tr("none")
        detail = self.controller.notifier_detail
        self.backend_label.setText(f"{name} ({detail})" if detail else name)

    async def _fetch_keyring_name(self) -> None:
        secrets = self.controller.secrets
        try:
            name = await _off_loop(lambda: secrets.name, KEYRING_NAME_TIMEOUT)
        except Exception:  # a silent or broken keyring: say it did not answer
            logger.warning("could not tell which keyring is in use", exc_info=True)
            name = ""
        self.show_keyring(name)

    def show_keyring(self, name: str) -> None:
        """Show the keyring backend ``name`` (``""``: it did not answer) and warn when unsafe."""
        self._keyring_name = name
        if not name:
            self.keyring_label.setText(self.tr("unknown: the keyring did not answer"))
        else:
            self.keyring_label.setText(name)
        if name and keyring_is_secure(name):
            self.keyring_warning.hide()
            return
        self.keyring_warning.setText(
            self.tr(
                "Warning: this is not a secure, persistent keyring. Feed passwords and tokens "
                "cannot be kept safely: install and unlock GNOME Keyring or KWallet (Linux), "
                "then restart Tidings."
            )
        )
        self.keyring_warning.show()

    # -- files -------------------------------------------------------------------------

    def _folder_opener(self, folder: Path) -> Callable[[], None]:
        return lambda: self._on_open_folder(folder)

    def _on_open_folder(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.files_status.setText(
                self.tr("Cannot open {path}: {reason}").format(
                    path=str(folder), reason=exc.strerror or str(exc)
                )
            )
            return
        if not self._open_folder(folder):
            self.files_status.setText(
                self.tr("No file manager opened {path}").format(path=str(folder))
            )

    def diagnostics(self) -> str:
        """The redacted diagnostics report."""
        controller = self.controller
        paths = controller.paths
        info = DiagnosticsInput(
            version=tidings.__version__,
            qt_version=qVersion(),
            keyring=self._keyring_name,
            notifier=controller.notifier_name,
            notifier_detail=controller.notifier_detail,
            feeds=controller.feeds,
            statuses=dict(controller.hub.statuses),
            settings_file=str(paths.settings_file),
            history_db=str(paths.history_db),
            log_dir=str(paths.log_dir),
        )
        return diagnostics_report(info, controller.known)

    def _on_copy_diagnostics_clicked(self) -> None:
        self.last_diagnostics = self.diagnostics()
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.last_diagnostics)
        self.files_status.setText(self.tr("Diagnostics copied to the clipboard (secrets removed)."))

    def _on_export_clicked(self) -> None:
        self.controller.tasks.spawn(self._choose_and_export(), name="tidings-export")

    def _on_import_clicked(self) -> None:
        self.controller.tasks.spawn(self._choose_and_import(), name="tidings-import")

    async def _choose_and_export(self) -> None:
        path = await feed_files.choose_file(self, save=True)
        if path is not None:
            self.export_feeds(path)

    async def _choose_and_import(self) -> None:
        path = await feed_files.choose_file(self, save=False)
        if path is not None:
            await self.import_feeds(path)

    def export_feeds(self, path: Path) -> bool:
        """Write the saved feeds (not the session-only demo) to ``path``; say how it went."""
        outcome = feed_files.export_feeds(self.controller, path)
        self.files_status.setText(outcome.text)
        return not outcome.failed

    async def import_feeds(self, path: Path) -> int:
        """Add the feeds of ``path`` (paused when a command gives their token); returns how many."""
        outcome = await feed_files.import_feeds(self.controller, path)
        self.files_status.setText(outcome.text)
        return outcome.count


def _kept(current: float | None, shown: int) -> float:
    """The current value when the control still shows it rounded, else the control's value."""
    if current is not None and round(current) == shown:
        return current
    return float(shown)


def _open_folder(folder: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


async def _off_loop(work: Callable[[], T], seconds: float) -> T:
    """Run a call that may block (keyring detection) on a daemon thread; give up after
    ``seconds`` (the thread is abandoned, never waited for at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (work(), None)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting coroutine
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop may be closed by now
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name="tidings-settings-probe", daemon=True).start()
    return await asyncio.wait_for(future, seconds)
