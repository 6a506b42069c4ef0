"""The feed editor: add or edit one feed, test it before saving, keep its secrets in the keyring.

Open it with ``await edit_feed(controller, parent, feed)`` (``feed=None`` adds
one): the dialog opens with ``open()``, never ``exec()`` (STYLE.md), and the
coroutine returns the saved feed, or ``None`` when the user cancelled.

Secrets (password, token, secret header values) are typed into password
fields that are never filled with a stored value: a stored one shows as a
placeholder, leaving the field empty keeps it, typing replaces it, and
"remove the stored secret" deletes it. The checks, the test connection and
the keyring plan come from :mod:`tidings.core.feedtest`; this module only
wires them to widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Collection
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tidings.core.errors import SecretStoreError, TidingsError
from tidings.core.feedtest import (
    FeedProblem,
    FeedTestResult,
    check_feed,
    detect_preset,
    needed_slots,
    secret_changes,
    test_feed,
)
from tidings.core.models import Auth, AuthKind, Feed, FeedRules, Header, TlsOptions
from tidings.core.notification import Urgency
from tidings.core.presets import get_preset, preset_names
from tidings.core.presets.json_preset import OPTION_NAMES
from tidings.core.rules import compile_filter
from tidings.core.secrets import SecretStore, auth_slot, header_slot
from tidings.qt.controller import AppController
from tidings.qt.loop import dialog_result

__all__ = ["FeedEditor", "edit_feed", "stored_slots"]

logger = logging.getLogger(__name__)

STORED_PLACEHOLDER = "•••• stored in the keyring"


def _tr(text: str) -> str:
    return QCoreApplication.translate("FeedEditor", text)


async def stored_slots(secrets: SecretStore, feed: Feed | None) -> tuple[frozenset[str], str]:
    """Which of the feed's secret slots hold a value (never the values), and a keyring error.

    Every slot the feed reads is probed; a value read is dropped at once.
    """
    if feed is None or not feed.id:
        return frozenset(), ""
    found: set[str] = set()
    try:
        for slot, _what in needed_slots(feed):
            if await secrets.get(feed.id, slot):
                found.add(slot)
    except SecretStoreError as exc:
        return frozenset(found), str(exc)
    return frozenset(found), ""


async def edit_feed(
    controller: AppController, parent: QWidget | None, feed: Feed | None
) -> Feed | None:
    """Open the editor for ``feed`` (``None``: a new one); return the saved feed or ``None``."""
    stored, keyring_error = await stored_slots(controller.secrets, feed)
    dialog = FeedEditor(
        controller, feed, stored_slots=stored, keyring_error=keyring_error, parent=parent
    )
    try:
        code = await dialog_result(dialog)
        return dialog.saved_feed if code == QDialog.DialogCode.Accepted else None
    finally:
        dialog.cancel_test()
        dialog.deleteLater()


class _HeaderRow:
    """One row of the headers table: its widgets and the name it had when the editor opened."""

    def __init__(self, name: QLineEdit, value: QLineEdit, secret: QCheckBox, original: str):
        self.name = name
        self.value = value
        self.secret = secret
        self.original = original
        """The header's name when loaded, if it was a secret one with a stored value."""


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setVisible(False)
    palette = label.palette()
    palette.setColor(label.foregroundRole(), Qt.GlobalColor.red)
    label.setPalette(palette)
    return label


class FeedEditor(QDialog):
    """The add/edit dialog. ``saved_feed`` is set once the feed is saved (then it accepts)."""

    def __init__(
        self,
        controller: AppController,
        feed: Feed | None,
        *,
        stored_slots: Collection[str] = (),
        keyring_error: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._original = feed
        self._stored = frozenset(stored_slots)
        self._keyring_error = keyring_error
        self.saved_feed: Feed | None = None
        self._test_task: asyncio.Task[None] | None = None
        self._save_task: asyncio.Task[None] | None = None
        self._closed = False
        self._errors: dict[str, QLabel] = {}
        self._header_rows: list[_HeaderRow] = []
        self.setWindowTitle(self.tr("Add a feed") if feed is None else self.tr("Edit feed"))
        self.setAccessibleName(self.windowTitle())
        self.setSizeGripEnabled(True)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(self.tr("Feed settings"))
        self.tabs.addTab(self._build_feed_tab(), self.tr("&Feed"))
        self.tabs.addTab(self._build_auth_tab(), self.tr("&Authentication"))
        self.tabs.addTab(self._build_headers_tab(), self.tr("&Headers"))
        self.tabs.addTab(self._build_connection_tab(), self.tr("C&onnection"))
        self.tabs.addTab(self._build_rules_tab(), self.tr("&Notifications"))

        self.form_error = _error_label()
        self.form_error.setAccessibleName(self.tr("Problems"))

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName(self.tr("Save the feed"))
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 3)
        layout.addWidget(self._build_test_box(), 2)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)

        self._load(feed)
        self.save_button.setDefault(True)

    # -- building ---------------------------------------------------------------------

    def _with_error(self, field: str, widget: QWidget) -> QWidget:
        """``widget`` with an inline error line under it, for the check of ``field``."""
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(widget)
        error = _error_label()
        column.addWidget(error)
        self._errors[field] = error
        box.setFocusProxy(widget)
        return box

    def _line(self, accessible: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setAccessibleName(accessible)
        if placeholder:
            edit.setPlaceholderText(placeholder)
        return edit

    def _build_feed_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.name_edit = self._line(self.tr("Name"))
        self.url_edit = self._line(self.tr("URL"), "https://ntfy.sh/mytopic")
        self.url_edit.textChanged.connect(self._on_url_changed)
        form.addRow(self.tr("Na&me:"), self._with_error("name", self.name_edit))
        form.addRow(self.tr("&URL:"), self._with_error("url", self.url_edit))

        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName(self.tr("Preset"))
        self.preset_combo.addItem(self.tr("Detect from the URL"), "")
        for name in preset_names():
            self.preset_combo.addItem(get_preset(name).label, name)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_changed)
        form.addRow(self.tr("&Preset:"), self._with_error("preset", self.preset_combo))

        self.json_box = QGroupBox(self.tr("JSON fields"))
        self.json_box.setAccessibleName(self.tr("JSON fields"))
        json_form = QFormLayout(self.json_box)
        self.json_edits: dict[str, QLineEdit] = {}
        labels = {
            "title": self.tr("T&itle:"),
            "body": self.tr("&Body:"),
            "url": self.tr("Click UR&L:"),
            "priority": self.tr("Priorit&y:"),
            "id": self.tr("I&d:"),
        }
        for option in OPTION_NAMES:
            edit = self._line(
                self.tr("JSON field for the {option}").format(option=option),
                self.tr("a path such as data.title, or a template such as {repo}: {status}"),
            )
            self.json_edits[option] = edit
            json_form.addRow(labels.get(option, option), edit)
        form.addRow(self.json_box)
        form.addRow("", self._errors.setdefault("preset_options", _error_label()))

        self.paused_check = QCheckBox(self.tr("Paused (&keep it disconnected)"))
        self.paused_check.setAccessibleName(self.tr("Paused"))
        form.addRow("", self.paused_check)
        self._feed_form = form
        return page

    def _build_auth_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.auth_combo = QComboBox()
        self.auth_combo.setAccessibleName(self.tr("Authentication"))
        kinds = [
            (AuthKind.NONE, self.tr("None")),
            (AuthKind.BASIC, self.tr("User name and password (Basic)")),
            (AuthKind.BEARER, self.tr("Bearer token")),
            (AuthKind.HEADER, self.tr("Secret header (API key)")),
            (AuthKind.QUERY, self.tr("Token in a query parameter")),
            (AuthKind.COMMAND, self.tr("Command that prints a token")),
        ]
        for kind, label in kinds:
            self.auth_combo.addItem(label, kind.value)
        self.auth_combo.currentIndexChanged.connect(self._on_auth_changed)
        form.addRow(self.tr("&Method:"), self.auth_combo)

        self.username_edit = self._line(self.tr("User name"))
        form.addRow(self.tr("&User name:"), self._with_error("auth.username", self.username_edit))
        self.auth_header_edit = self._line(self.tr("Header name"), "X-Api-Key")
        form.addRow(
            self.tr("Heade&r name:"), self._with_error("auth.header_name", self.auth_header_edit)
        )
        self.query_param_edit = self._line(self.tr("Query parameter"), "auth")
        form.addRow(
            self.tr("&Parameter:"), self._with_error("auth.query_param", self.query_param_edit)
        )
        self.command_edit = self._line(self.tr("Token command"), "pass show ntfy/token")
        form.addRow(self.tr("Comman&d:"), self._with_error("auth.command", self.command_edit))

        self.secret_edit = self._line(self.tr("Secret"))
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_label = QLabel(self.tr("&Secret:"))
        self.secret_label.setBuddy(self.secret_edit)
        form.addRow(self.secret_label, self._with_error("auth.secret", self.secret_edit))
        self.remove_secret_check = QCheckBox(self.tr("Remo&ve the stored secret"))
        self.remove_secret_check.setAccessibleName(self.tr("Remove the stored secret"))
        self.remove_secret_check.toggled.connect(self._on_remove_secret_toggled)
        form.addRow("", self.remove_secret_check)
        self.keyring_note = QLabel()
        self.keyring_note.setTextFormat(Qt.TextFormat.PlainText)
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setText(
            self.tr(
                "Secrets are kept in the system keyring ({backend}), never in the settings."
            ).format(backend=self._controller.secrets.name)
            if not self._keyring_error
            else self.tr("The keyring cannot be read: {error}").format(error=self._keyring_error)
        )
        form.addRow(self.keyring_note)
        self._auth_form = form
        return page

    def _build_headers_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        note = QLabel(self.tr("Extra request headers. A secret one's value goes to the keyring."))
        note.setWordWrap(True)
        column.addWidget(note)
        self.headers_table = QTableWidget(0, 3)
        self.headers_table.setAccessibleName(self.tr("Headers"))
        self.headers_table.setHorizontalHeaderLabels(
            [self.tr("Name"), self.tr("Value"), self.tr("Secret")]
        )
        header = self.headers_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.headers_table.verticalHeader().setVisible(False)
        self.headers_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.headers_table.setTabKeyNavigation(False)
        column.addWidget(self.headers_table)
        self.headers_error = _error_label()
        column.addWidget(self.headers_error)
        row = QHBoxLayout()
        self.add_header_button = QPushButton(self.tr("Add hea&der"))
        self.add_header_button.setAccessibleName(self.tr("Add a header"))
        self.add_header_button.clicked.connect(lambda: self.add_header_row(focus=True))
        self.remove_header_button = QPushButton(self.tr("Re&move header"))
        self.remove_header_button.setAccessibleName(self.tr("Remove the selected header"))
        self.remove_header_button.clicked.connect(self._on_remove_header_clicked)
        row.addWidget(self.add_header_button)
        row.addWidget(self.remove_header_button)
        row.addStretch(1)
        column.addLayout(row)
        return page

    def _build_connection_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.verify_check = QCheckBox(self.tr("Chec&k the server's certificate"))
        self.verify_check.setAccessibleName(self.tr("Check the server's certificate"))
        self.verify_check.setChecked(True)
        self.verify_check.toggled.connect(self._on_verify_toggled)
        form.addRow("", self.verify_check)
        self.tls_warning = QLabel(
            self.tr(
                "Certificate checks are off: anyone on the network path can read and change "
                "this feed's events and credentials."
            )
        )
        self.tls_warning.setWordWrap(True)
        self.tls_warning.setAccessibleName(self.tr("Warning"))
        palette = self.tls_warning.palette()
        palette.setColor(self.tls_warning.foregroundRole(), Qt.GlobalColor.red)
        self.tls_warning.setPalette(palette)
        self.tls_warning.setVisible(False)
        form.addRow("", self.tls_warning)

        ca_row = QWidget()
        ca_layout = QHBoxLayout(ca_row)
        ca_layout.setContentsMargins(0, 0, 0, 0)
        self.ca_file_edit = self._line(self.tr("CA file"), self.tr("the system's trust store"))
        self.ca_browse_button = QPushButton(self.tr("&Browse…"))
        self.ca_browse_button.setAccessibleName(self.tr("Choose a CA file"))
        self.ca_browse_button.clicked.connect(self._on_browse_clicked)
        ca_layout.addWidget(self.ca_file_edit, 1)
        ca_layout.addWidget(self.ca_browse_button)
        ca_row.setFocusProxy(self.ca_file_edit)
        form.addRow(self.tr("CA fi&le:"), self._with_error("tls.ca_file", ca_row))

        self.proxy_edit = self._line(self.tr("Proxy"), self.tr("the system's proxy"))
        form.addRow(self.tr("&Proxy:"), self._with_error("proxy", self.proxy_edit))
        self.idle_spin = QSpinBox()
        self.idle_spin.setAccessibleName(self.tr("Idle timeout in seconds"))
        self.idle_spin.setRange(5, 86_400)
        self.idle_spin.setSuffix(self.tr(" s"))
        self.idle_spin.setValue(90)
        form.addRow(self.tr("&Idle timeout:"), self._with_error("idle_timeout", self.idle_spin))
        return page

    def _build_rules_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.notifications_combo = QComboBox()
        self.notifications_combo.setAccessibleName(self.tr("Notifications"))
        self.notifications_combo.addItem(self.tr("As the preset says"), None)
        self.notifications_combo.addItem(self.tr("On"), True)
        self.notifications_combo.addItem(self.tr("Off (log only)"), False)
        form.addRow(self.tr("&Pop up:"), self.notifications_combo)
        self.event_types_edit = self._line(
            self.tr("Event types"), self.tr("all; or for example: message, push")
        )
        form.addRow(
            self.tr("&Event types:"), self._with_error("rules.event_types", self.event_types_edit)
        )
        self.filter_edit = self._line(
            self.tr("Text filter (regular expression)"), self.tr("none; for example: fail|error")
        )
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        form.addRow(self.tr("Text filte&r:"), self._with_error("rules.filter", self.filter_edit))
        self.urgency_combo = QComboBox()
        self.urgency_combo.setAccessibleName(self.tr("Minimum urgency"))
        for urgency, label in (
            (Urgency.LOW, self.tr("Low (everything)")),
            (Urgency.NORMAL, self.tr("Normal")),
            (Urgency.CRITICAL, self.tr("Critical only")),
        ):
            self.urgency_combo.addItem(label, urgency.value)
        form.addRow(self.tr("&Minimum urgency:"), self.urgency_combo)
        return page

    def _build_test_box(self) -> QWidget:
        box = QGroupBox(self.tr("Test the connection"))
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.test_button = QPushButton(self.tr("&Test"))
        self.test_button.setAccessibleName(self.tr("Test the connection"))
        self.test_button.clicked.connect(self._on_test_clicked)
        self.cancel_test_button = QPushButton(self.tr("Stop t&est"))
        self.cancel_test_button.setAccessibleName(self.tr("Stop the test"))
        self.cancel_test_button.setEnabled(False)
        self.cancel_test_button.clicked.connect(self.cancel_test)
        self.test_progress = QLabel()
        self.test_progress.setTextFormat(Qt.TextFormat.PlainText)
        self.test_progress.setAccessibleName(self.tr("Test progress"))
        self.test_progress.setWordWrap(True)
        row.addWidget(self.test_button)
        row.addWidget(self.cancel_test_button)
        row.addWidget(self.test_progress, 1)
        column.addLayout(row)
        self.test_output = QPlainTextEdit()
        self.test_output.setReadOnly(True)
        self.test_output.setAccessibleName(self.tr("Test result"))
        self.test_output.setPlaceholderText(
            self.tr("Connects once and shows the first events and what would pop up.")
        )
        column.addWidget(self.test_output)
        return box

    # -- loading ------------------------------------------------------------------------

    def _load(self, feed: Feed | None) -> None:
        if feed is None:
            self._on_auth_changed()
            self._on_preset_changed()
            return
        self.name_edit.setText(feed.name)
        self.url_edit.setText(feed.url)
        index = self.preset_combo.findData(feed.preset)
        self.preset_combo.setCurrentIndex(max(index, 0))
        options = dict(feed.preset_options)
        if feed.preset == "json":
            for option, edit in self.json_edits.items():
                edit.setText(options.get(option, ""))
        self.paused_check.setChecked(feed.paused)
        auth = feed.auth
        self.auth_combo.setCurrentIndex(max(self.auth_combo.findData(auth.kind.value), 0))
        self.username_edit.setText(auth.username)
        self.auth_header_edit.setText(auth.header_name)
        self.query_param_edit.setText(auth.query_param)
        self.command_edit.setText(auth.command)
        for header in feed.headers:
            self.add_header_row(header)
        self.verify_check.setChecked(feed.tls.verify)
        self.ca_file_edit.setText(feed.tls.ca_file)
        self.proxy_edit.setText(feed.proxy)
        self.idle_spin.setValue(round(feed.idle_timeout))
        rules = feed.rules
        self.notifications_combo.setCurrentIndex({None: 0, True: 1, False: 2}[rules.notifications])
        self.event_types_edit.setText(", ".join(rules.event_types))
        self.filter_edit.setText(rules.text_filter)
        self.urgency_combo.setCurrentIndex(
            max(self.urgency_combo.findData(rules.min_urgency.value), 0)
        )
        self._on_auth_changed()
        self._on_preset_changed()
        self._on_verify_toggled(self.verify_check.isChecked())

    def add_header_row(self, header: Header | None = None, *, focus: bool = False) -> None:
        """Append a row to the headers table (a stored secret shows only as a placeholder)."""
        row = self.headers_table.rowCount()
        self.headers_table.insertRow(row)
        name = self._line(self.tr("Header {number} name").format(number=row + 1), "X-Env")
        value = self._line(self.tr("Header {number} value").format(number=row + 1))
        secret = QCheckBox()
        secret.setAccessibleName(self.tr("Header {number} is secret").format(number=row + 1))
        original = ""
        if header is not None:
            name.setText(header.name)
            secret.setChecked(header.secret)
            if header.secret:
                if header_slot(header.name) in self._stored:
                    original = header.name
            else:
                value.setText(header.value)
        entry = _HeaderRow(name, value, secret, original)
        self._header_rows.append(entry)
        secret.toggled.connect(lambda _on, e=entry: self._update_header_row(e))
        name.textChanged.connect(lambda _text, e=entry: self._update_header_row(e))
        self.headers_table.setCellWidget(row, 0, name)
        self.headers_table.setCellWidget(row, 1, value)
        self.headers_table.setCellWidget(row, 2, secret)
        self._update_header_row(entry)
        if focus:
            self.tabs.setCurrentIndex(2)
            name.setFocus()

    def _update_header_row(self, entry: _HeaderRow) -> None:
        secret = entry.secret.isChecked()
        entry.value.setEchoMode(
            QLineEdit.EchoMode.Password if secret else QLineEdit.EchoMode.Normal
        )
        same = bool(entry.original) and header_slot(entry.name.text()) == header_slot(
            entry.original
        )
        if secret and entry.original:
            entry.value.setPlaceholderText(
                self.tr(STORED_PLACEHOLDER)
                if same
                else self.tr("•••• stored under {name}: moved to the new name").format(
                    name=entry.original
                )
            )
        else:
            entry.value.setPlaceholderText(self.tr("value") if not secret else "")

    def _on_remove_header_clicked(self) -> None:
        row = self.headers_table.currentRow()
        if row < 0:
            row = self.headers_table.rowCount() - 1
        if row < 0:
            return
        self.headers_table.removeRow(row)
        del self._header_rows[row]

    # -- reacting -------------------------------------------------------------------------

    def effective_preset(self) -> str:
        """The chosen preset, or the one detected from the URL when none is chosen."""
        chosen = self.preset_combo.currentData()
        return str(chosen) if chosen else detect_preset(self.url_edit.text())

    def _on_url_changed(self, text: str) -> None:
        detected = detect_preset(text)
        self.preset_combo.setItemText(
            0,
            self.tr("Detect from the URL: {preset}").format(preset=get_preset(detected).label),
        )
        self.name_edit.setPlaceholderText(_host(text))
        self._on_preset_changed()

    def _on_preset_changed(self, _index: int = 0) -> None:
        self.json_box.setVisible(self.effective_preset() == "json")

    def _auth_kind(self) -> AuthKind:
        return AuthKind(self.auth_combo.currentData())

    def _on_auth_changed(self, _index: int = 0) -> None:
        kind = self._auth_kind()
        form = self._auth_form
        form.setRowVisible(1, kind is AuthKind.BASIC)
        form.setRowVisible(2, kind is AuthKind.HEADER)
        form.setRowVisible(3, kind is AuthKind.QUERY)
        form.setRowVisible(4, kind is AuthKind.COMMAND)
        uses_secret = kind in (AuthKind.BASIC, AuthKind.BEARER, AuthKind.HEADER, AuthKind.QUERY)
        form.setRowVisible(5, uses_secret)
        stored = auth_slot() in self._stored
        form.setRowVisible(6, uses_secret and stored)
        self.secret_label.setText(
            {
                AuthKind.BASIC: self.tr("Pass&word:"),
                AuthKind.BEARER: self.tr("To&ken:"),
                AuthKind.HEADER: self.tr("Header va&lue:"),
                AuthKind.QUERY: self.tr("To&ken:"),
            }.get(kind, self.tr("&Secret:"))
        )
        self.secret_edit.setAccessibleName(self.secret_label.text().replace("&", "").rstrip(":"))
        if stored:
            self.secret_edit.setPlaceholderText(self.tr(STORED_PLACEHOLDER))
        elif self._keyring_error:
            self.secret_edit.setPlaceholderText(self.tr("the keyring cannot be read"))
        else:
            self.secret_edit.setPlaceholderText("")

    def _on_remove_secret_toggled(self, on: bool) -> None:
        if on:
            self.secret_edit.clear()
        self.secret_edit.setEnabled(not on)

    def _on_verify_toggled(self, on: bool) -> None:
        self.tls_warning.setVisible(not on)

    def _on_filter_changed(self, text: str) -> None:
        message = ""
        if text:
            try:
                compile_filter(text)
            except re.error as exc:
                message = self.tr("not a valid regular expression: {error}").format(error=exc)
        self._set_error("rules.filter", message)

    def _on_browse_clicked(self) -> None:
        chooser = QFileDialog(self, self.tr("Choose a CA certificate file"))
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.setNameFilters(
            [self.tr("Certificates (*.pem *.crt *.cer)"), self.tr("All files (*)")]
        )
        chooser.fileSelected.connect(self.ca_file_edit.setText)
        chooser.finished.connect(chooser.deleteLater)
        chooser.open()

    # -- the feed in the form ------------------------------------------------------------

    def build_feed(self) -> Feed:
        """The feed as the form describes it (not checked: see :func:`check_feed`)."""
        original = self._original
        preset = self.effective_preset()
        if preset == "json":
            options = tuple(
                sorted(
                    (k, e.text().strip()) for k, e in self.json_edits.items() if e.text().strip()
                )
            )
        elif original is not None and original.preset == preset:
            options = original.preset_options  # another preset's options, kept as they were
        else:
            options = ()
        kind = self._auth_kind()
        auth = Auth(
            kind=kind,
            username=self.username_edit.text().strip() if kind is AuthKind.BASIC else "",
            header_name=self.auth_header_edit.text().strip() if kind is AuthKind.HEADER else "",
            query_param=self.query_param_edit.text().strip() if kind is AuthKind.QUERY else "",
            command=self.command_edit.text().strip() if kind is AuthKind.COMMAND else "",
        )
        headers = []
        for entry in self._header_rows:
            name = entry.name.text().strip()
            if not name and not entry.value.text():
                continue  # an empty row
            secret = entry.secret.isChecked()
            headers.append(
                Header(name=name, value="" if secret else entry.value.text(), secret=secret)
            )
        types = tuple(
            dict.fromkeys(t for t in self.event_types_edit.text().replace(",", " ").split() if t)
        )
        base_rules = original.rules if original is not None else FeedRules()
        rules = replace(
            base_rules,
            notifications=self.notifications_combo.currentData(),
            event_types=types,
            text_filter=self.filter_edit.text(),
            min_urgency=Urgency(self.urgency_combo.currentData()),
        )
        name = self.name_edit.text().strip() or self.name_edit.placeholderText()
        fields: dict[str, Any] = {
            "id": original.id if original is not None else "",
            "name": name,
            "url": self.url_edit.text().strip(),
            "preset": preset,
            "paused": self.paused_check.isChecked(),
            "auth": auth,
            "headers": tuple(headers),
            "tls": TlsOptions(
                verify=self.verify_check.isChecked(), ca_file=self.ca_file_edit.text().strip()
            ),
            "proxy": self.proxy_edit.text().strip(),
            "idle_timeout": float(self.idle_spin.value()),
            "rules": rules,
            "preset_options": options,
        }
        if original is not None:
            if round(original.idle_timeout) == self.idle_spin.value():
                fields["idle_timeout"] = original.idle_timeout
            return replace(original, **fields)
        return Feed(**fields)

    def typed_secrets(self) -> dict[str, str]:
        """The secrets typed in this editor, by slot (only non-empty ones)."""
        typed: dict[str, str] = {}
        if self.secret_edit.isEnabled() and self.secret_edit.text():
            typed[auth_slot()] = self.secret_edit.text()
        for entry in self._header_rows:
            if entry.secret.isChecked() and entry.value.text() and entry.name.text().strip():
                typed[header_slot(entry.name.text().strip())] = entry.value.text()
        return typed

    def removed_slots(self) -> set[str]:
        """The stored secrets the user asked to forget."""
        if self.remove_secret_check.isChecked() and auth_slot() in self._stored:
            return {auth_slot()}
        return set()

    def _test_secrets(self) -> dict[str, str]:
        extra = self.typed_secrets()
        for slot in self.removed_slots():
            extra[slot] = ""
        return extra

    def _set_error(self, field: str, message: str) -> None:
        label = self._errors.get(field)
        if label is None:
            return
        label.setText(message)
        label.setVisible(bool(message))

    def show_problems(self, problems: list[FeedProblem]) -> None:
        """Show each problem under its field, and the first one's tab and field in focus."""
        for field in self._errors:
            self._set_error(field, "")
        self.headers_error.setVisible(False)
        header_messages = []
        for problem in problems:
            if problem.field.startswith("headers["):
                row = int(problem.field[len("headers[") :].split("]", 1)[0])
                header_messages.append(
                    self.tr("Header {number}: {message}").format(
                        number=row + 1, message=problem.message
                    )
                )
            elif problem.field in self._errors:
                self._set_error(problem.field, problem.message)
        if header_messages:
            self.headers_error.setText("\n".join(header_messages))
            self.headers_error.setVisible(True)
        if problems:
            self.form_error.setText(
                self.tr("Please correct: {message}").format(message=problems[0].message)
            )
            self.form_error.setVisible(True)
            self._focus_field(problems[0].field)
        else:
            self.form_error.setVisible(False)

    def _focus_field(self, field: str) -> None:
        if field.startswith("headers["):
            self.tabs.setCurrentIndex(2)
            row = int(field[len("headers[") :].split("]", 1)[0])
            visible = [e for e in self._header_rows if e.name.text().strip() or e.value.text()]
            if row < len(visible):
                visible[row].name.setFocus()
            return
        label = self._errors.get(field)
        if label is None:
            return
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and page.isAncestorOf(label):
                self.tabs.setCurrentIndex(index)
                break
        box = label.parentWidget()
        if box is not None:
            box.setFocus()

    def _problems(self, feed: Feed) -> list[FeedProblem]:
        others = [f.name for f in self._controller.feeds if f.id != feed.id or not feed.id]
        return check_feed(feed, other_names=others)

    # -- testing ---------------------------------------------------------------------------

    def _on_test_clicked(self) -> None:
        if self._test_task is not None and not self._test_task.done():
            return
        feed = self.build_feed()
        problems = [p for p in self._problems(feed) if p.field != "name"]
        if problems:
            self.show_problems(problems)
            return
        self.show_problems([])
        self.test_output.clear()
        self._test_task = self._controller.tasks.spawn(
            self._run_test(feed, self._test_secrets()), name="feed-editor-test"
        )

    async def _run_test(self, feed: Feed, extra: dict[str, str]) -> None:
        self._set_testing(True)
        self.test_progress.setText(self.tr("Testing…"))
        try:
            result = await test_feed(
                feed,
                secrets=self._controller.secrets,
                known=self._controller.known,
                extra_secrets=extra,
                on_progress=self._on_test_progress,
            )
        except asyncio.CancelledError:
            if not self._closed:
                self.test_progress.setText(self.tr("Test stopped."))
                self._set_testing(False)
            raise
        if self._closed:
            return
        self._set_testing(False)
        self.show_test_result(result)

    def _on_test_progress(self, line: str) -> None:
        if not self._closed:
            self.test_progress.setText(line)

    def _set_testing(self, running: bool) -> None:
        self.test_button.setEnabled(not running)
        self.cancel_test_button.setEnabled(running)

    def cancel_test(self) -> None:
        """Stop a running test (its connection closes)."""
        task = self._test_task
        if task is not None and not task.done():
            task.cancel()

    def show_test_result(self, result: FeedTestResult) -> None:
        """The outcome, then each event and what it would pop up as: all plain text."""
        self.test_progress.setText(
            self.tr("Works.")
            if result.ok
            else self.tr("Failed: {message}").format(message=result.message)
        )
        lines = [("✔ " if result.ok else "✖ ") + result.message]
        for number, event in enumerate(result.events, 1):
            head = self.tr("Event {number}: {type}").format(number=number, type=event.type)
            if event.id:
                head += f"  #{event.id}"
            lines += ["", head]
            lines += [f"    {line}" for line in event.data.split("\n")]
            preview = result.previews[number - 1] if number <= len(result.previews) else None
            if preview is None:
                reason = result.preview_reasons[number - 1] if result.preview_reasons else ""
                lines.append(self.tr("  No popup ({reason})").format(reason=reason))
                continue
            lines.append(
                self.tr("  Popup [{urgency}]: {title}").format(
                    urgency=preview.urgency.value, title=preview.title
                )
            )
            if preview.body:
                lines += [f"    {line}" for line in preview.short_body.split("\n")[:5]]
            rule = result.rule_reasons[number - 1] if result.rule_reasons else ""
            if rule:
                lines.append(
                    self.tr("  (this feed's rules would not show it: {reason})").format(reason=rule)
                )
        self.test_output.setPlainText("\n".join(lines))

    # -- saving ------------------------------------------------------------------------------

    def _on_save_clicked(self) -> None:
        if self._save_task is not None and not self._save_task.done():
            return
        feed = self.build_feed()
        problems = self._problems(feed)
        self.show_problems(problems)
        if problems:
            return
        self._save_task = self._controller.tasks.spawn(self._save(feed), name="feed-editor-save")

    async def _save(self, feed: Feed) -> None:
        self.save_button.setEnabled(False)
        try:
            changes = secret_changes(
                self._original, feed, typed=self.typed_secrets(), remove=self.removed_slots()
            )
            await self._move_renamed_headers(feed, changes)
            if self._original is None:
                saved = await self._controller.add_feed(feed, changes)
            else:
                await self._controller.save_feed(feed, changes)
                saved = feed
                if changes and not feed.paused:
                    # A new credential alone leaves the settings unchanged, so nothing would
                    # restart a feed stopped for credentials: connect again with it now.
                    await self._controller.reconnect(feed.id)
        except (TidingsError, OSError) as exc:
            if not self._closed:
                self.form_error.setText(self.tr("Not saved: {error}").format(error=str(exc)))
                self.form_error.setVisible(True)
                self.save_button.setEnabled(True)
            return
        self.saved_feed = saved
        if not self._closed:
            self.accept()

    async def _move_renamed_headers(self, feed: Feed, changes: dict[str, str]) -> None:
        """A renamed secret header keeps its stored value (read, then saved under the new name)."""
        if self._original is None:
            return
        for entry in self._header_rows:
            new_name = entry.name.text().strip()
            if not (entry.original and entry.secret.isChecked() and new_name):
                continue
            new_slot, old_slot = header_slot(new_name), header_slot(entry.original)
            if new_slot == old_slot or changes.get(new_slot):
                continue
            value = await self._controller.secrets.get(feed.id, old_slot)
            if value:
                changes[new_slot] = value
                changes.setdefault(old_slot, "")

    # -- closing -----------------------------------------------------------------------------

    def done(self, result: int) -> None:
        self._closed = True
        self.cancel_test()
        super().done(result)


def _host(url: str) -> str:
    """The host name of a URL, as a default feed name (``""`` when there is none)."""
    with contextlib.suppress(ValueError):
        return urlsplit(url.strip()).hostname or ""
    return ""
