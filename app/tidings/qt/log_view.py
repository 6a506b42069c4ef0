"""The log window's right side: a filter bar, the paged event table and the detail pane.

Everything from a server is shown as plain text (labels with
``Qt.TextFormat.PlainText``, plain-text editors, the table's default
delegate): a ``<b>`` in a message shows as ``<b>``. Selecting a row marks it
read after :data:`READ_DELAY_MS` (so that walking the list with the arrow keys
does not mark everything read on the way); the detail pane's button toggles
it at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import replace

from PySide6.QtCore import (
    QDateTime,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tidings.core.history import HistoryFilter, StoredEvent
from tidings.core.notification import Urgency, safe_url
from tidings.qt.controller import AppController
from tidings.qt.log_model import Column, LogModel, decision_text
from tidings.qt.loop import dialog_result

__all__ = ["READ_DELAY_MS", "SEARCH_DELAY_MS", "DetailPane", "LogView", "pretty_data"]

logger = logging.getLogger(__name__)

READ_DELAY_MS = 800
"""A selected unread event is marked read after this long (unless the selection moved on)."""
SEARCH_DELAY_MS = 300
"""Typing in the search box re-queries this long after the last key."""
MAX_SHOW_PAGES = 50
"""How many pages :meth:`LogView.show_event` reads looking for an old event before it shows
the event in the detail pane only."""
DATA_SHOWN_CHARS = 1_000_000
"""The detail pane shows this much of an event's data (a 4 MiB event stays responsive)."""

_ANY = "any"
_TIME_RANGES = ("any", "hour", "today", "week")
_URGENCIES: tuple[Urgency | None, ...] = (None, Urgency.LOW, Urgency.NORMAL, Urgency.CRITICAL)


def pretty_data(data: str) -> str:
    """An event's data for reading: indented when it is JSON, as it came otherwise."""
    stripped = data.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return data


def _plain_label(text: str = "", *, selectable: bool = True, wrap: bool = True) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
    return label


class DetailPane(QWidget):
    """One event in full: title, body, data, where it came from and what was done with it."""

    open_requested = Signal(str)
    """(url): the user asked to open the notification's link."""
    copy_requested = Signal()
    read_toggled = Signal(bool)
    """(read): mark the event read (True) or unread (False)."""
    delete_requested = Signal()

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.current: StoredEvent | None = None

        self.title = _plain_label()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.title.setAccessibleName(self.tr("Event title"))

        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setAccessibleName(self.tr("Message"))
        self.body.setTabChangesFocus(True)
        self.data = QPlainTextEdit()
        self.data.setReadOnly(True)
        self.data.setAccessibleName(self.tr("Raw data"))
        self.data.setTabChangesFocus(True)
        self.data.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QGuiApplication.font()
        mono.setFamilies(["monospace"])
        mono.setStyleHint(mono.StyleHint.Monospace)
        self.data.setFont(mono)

        self.feed = _plain_label()
        self.type = _plain_label()
        self.event_id = _plain_label()
        self.received = _plain_label()
        self.decision = _plain_label()
        self.link = _plain_label()
        self.headers = _plain_label()
        facts = QFormLayout()
        facts.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        facts.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for text, widget in (
            (self.tr("Feed:"), self.feed),
            (self.tr("Type:"), self.type),
            (self.tr("Event ID:"), self.event_id),
            (self.tr("Received:"), self.received),
            (self.tr("Decision:"), self.decision),
            (self.tr("Link:"), self.link),
            (self.tr("Feed headers:"), self.headers),
        ):
            widget.setAccessibleName(text.rstrip(":"))
            facts.addRow(text, widget)

        self.open_button = QPushButton(self.tr("&Open link"))
        self.open_button.setAccessibleName(self.tr("Open the notification's link"))
        self.copy_button = QPushButton(self.tr("Cop&y data"))
        self.copy_button.setAccessibleName(self.tr("Copy the event's data to the clipboard"))
        self.read_button = QPushButton(self.tr("&Mark unread"))
        self.delete_button = QPushButton(self.tr("De&lete…"))
        self.delete_button.setAccessibleName(self.tr("Delete this event from the log"))
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.copy_button.clicked.connect(self.copy_requested)
        self.read_button.clicked.connect(self._on_read_button_clicked)
        self.delete_button.clicked.connect(self.delete_requested)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.copy_button, self.read_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.placeholder = QLabel(self.tr("Select an event to see it in full."))
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        self.content = QWidget()
        inner = QVBoxLayout(self.content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.title)
        texts = QVBoxLayout()
        texts.addWidget(_plain_label(self.tr("Message"), selectable=False))
        texts.addWidget(self.body, 1)
        texts.addWidget(_plain_label(self.tr("Data"), selectable=False))
        texts.addWidget(self.data, 2)
        facts_column = QVBoxLayout()
        facts_column.addLayout(facts)
        facts_column.addStretch(1)
        # Side by side: the pane stays short, so the table keeps most of the height.
        columns = QHBoxLayout()
        columns.addLayout(texts, 3)
        columns.addLayout(facts_column, 2)
        inner.addLayout(columns, 1)
        inner.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.content)
        self.update_read(False)
        self.show_event(None)

    def show_event(self, event: StoredEvent | None) -> None:
        """Show ``event`` (``None``: nothing selected)."""
        self.current = event
        self.placeholder.setVisible(event is None)
        self.content.setVisible(event is not None)
        if event is None:
            return
        n = event.notification
        self.title.setText(n.title if n is not None and n.title else event.type)
        self.body.setPlainText(n.body if n is not None else "")
        data = event.data
        if len(data) > DATA_SHOWN_CHARS:
            data = data[:DATA_SHOWN_CHARS] + "\n" + self.tr("[cut: copy the data to see it all]")
        self.data.setPlainText(pretty_data(data))
        self.feed.setText(self._controller.feed_name(event.feed_id))
        self.type.setText(event.type)
        self.event_id.setText(event.event_id or self.tr("(none)"))
        self.received.setText(
            QLocale().toString(
                QDateTime.fromMSecsSinceEpoch(int(event.received_at * 1000)),
                QLocale.FormatType.LongFormat,
            )
        )
        self.decision.setText(decision_text(self, event))
        url = safe_url(n.url) if n is not None and n.url else ""
        self.link.setText(url or self.tr("(none)"))
        self.open_button.setEnabled(bool(url))
        self.headers.setText(self._header_text(event.feed_id))
        self.update_read(event.read)

    def update_read(self, read: bool) -> None:
        if self.current is not None and self.current.read != read:
            self.current = replace(self.current, read=read)
        self.read_button.setText(self.tr("&Mark unread") if read else self.tr("&Mark read"))
        self.read_button.setAccessibleName(
            self.tr("Mark this event unread") if read else self.tr("Mark this event read")
        )

    def _header_text(self, feed_id: str) -> str:
        feed = self._controller.feed(feed_id)
        if feed is None or not feed.headers:
            return self.tr("(none)")
        lines = []
        for header in feed.headers:
            # A secret header's value lives in the keyring: only its name is ever shown.
            if header.secret:
                lines.append(self.tr("{0}: (secret, kept in the keyring)").format(header.name))
            else:
                lines.append(f"{header.name}: {header.value}")
        return "\n".join(lines)

    def _on_open_button_clicked(self) -> None:
        event = self.current
        if event is not None and event.notification is not None and event.notification.url:
            self.open_requested.emit(event.notification.url)

    def _on_read_button_clicked(self) -> None:
        if self.current is not None:
            self.read_toggled.emit(not self.current.read)


class LogView(QWidget):
    """Filters, the table of events (newest first) and the selected event in full."""

    status_message = Signal(str)
    """A short message for the window's status bar (copied, deleted, not found...)."""

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.model = LogModel(controller, parent=self)
        self._applying = False
        self._deleting = False

        # -- filter bar --
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search the log"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(self.tr("Search the log"))
        search_label = QLabel(self.tr("&Search:"))
        search_label.setBuddy(self.search)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        self.search.textEdited.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_filter)

        self.feed_combo = QComboBox()
        self.feed_combo.setAccessibleName(self.tr("Feed"))
        feed_label = QLabel(self.tr("Fee&d:"))
        feed_label.setBuddy(self.feed_combo)

        self.urgency_combo = QComboBox()
        self.urgency_combo.setAccessibleName(self.tr("Minimum urgency"))
        for text, urgency in zip(
            (
                self.tr("All events"),
                self.tr("Shown notifications"),
                self.tr("Normal and critical"),
                self.tr("Critical only"),
            ),
            _URGENCIES,
            strict=True,
        ):
            self.urgency_combo.addItem(text, urgency.value if urgency else _ANY)
        urgency_label = QLabel(self.tr("Sho&w:"))
        urgency_label.setBuddy(self.urgency_combo)

        self.time_combo = QComboBox()
        self.time_combo.setAccessibleName(self.tr("Time range"))
        for text, key in zip(
            (self.tr("Any time"), self.tr("Last hour"), self.tr("Today"), self.tr("Last 7 days")),
            _TIME_RANGES,
            strict=True,
        ):
            self.time_combo.addItem(text, key)
        time_label = QLabel(self.tr("&Time:"))
        time_label.setBuddy(self.time_combo)

        self.unread_check = QCheckBox(self.tr("U&nread only"))
        self.unread_check.setAccessibleName(self.tr("Unread only"))

        for combo in (self.feed_combo, self.urgency_combo, self.time_combo):
            combo.currentIndexChanged.connect(self._on_filter_widget_changed)
            # Narrow when space is short (a long feed name must not squeeze the search box).
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        self.search.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 12)
        self.unread_check.toggled.connect(self._on_filter_widget_changed)

        # Two rows, so the window stays usable on narrow screens and with large fonts.
        search_row = QHBoxLayout()
        search_row.addWidget(search_label)
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.unread_check)
        choices_row = QHBoxLayout()
        for label, widget in (
            (feed_label, self.feed_combo),
            (urgency_label, self.urgency_combo),
            (time_label, self.time_combo),
        ):
            choices_row.addWidget(label)
            choices_row.addWidget(widget, 1)
        bar = QVBoxLayout()
        bar.addLayout(search_row)
        bar.addLayout(choices_row)

        # -- table --
        self.table = QTableView()
        self.table.setAccessibleName(self.tr("Events"))
        self.table.setModel(self.model)
        self.table.setSortingEnabled(False)  # the store's order (newest first) is the only one
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().setVisible(False)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.SUMMARY, QHeaderView.ResizeMode.Stretch)
        em = self.fontMetrics().horizontalAdvance("M")
        header.resizeSection(Column.TIME, em * 7)
        header.resizeSection(Column.FEED, em * 8)
        header.resizeSection(Column.TITLE, em * 20)
        header.resizeSection(Column.URGENCY, em * 6)
        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(self._on_selection_current_row_changed)
        self.model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self.model.modelReset.connect(self._on_model_reset)
        self.model.rowsRemoved.connect(lambda *_args: self._on_model_rows_removed())
        self.model.load_failed.connect(self.status_message)
        self._keep_scroll: int | None = None

        self.empty_label = _plain_label(selectable=False)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model.reset_done.connect(self._update_empty)
        self.model.loading_changed.connect(lambda _loading: self._update_empty())
        self.model.rowsInserted.connect(lambda *_args: self._update_empty())
        self.model.rowsRemoved.connect(lambda *_args: self._update_empty())

        self._read_timer = QTimer(self)
        self._read_timer.setSingleShot(True)
        self._read_timer.setInterval(READ_DELAY_MS)
        self._read_timer.timeout.connect(self._on_read_timer_timeout)

        # -- detail pane --
        self.detail = DetailPane(controller)
        self.detail.open_requested.connect(self._on_detail_open_requested)
        self.detail.copy_requested.connect(self.copy_data)
        self.detail.read_toggled.connect(self._on_detail_read_toggled)
        self.detail.delete_requested.connect(self.delete_selected)

        table_side = QWidget()
        table_layout = QVBoxLayout(table_side)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.empty_label)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(table_side)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.delete_selected)
        copy = QShortcut(QKeySequence(QKeySequence.StandardKey.Copy), self.table)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self.copy_data)
        self.table.doubleClicked.connect(self._on_table_double_clicked)

        self.setTabOrder(self.search, self.unread_check)
        self.setTabOrder(self.unread_check, self.feed_combo)
        self.setTabOrder(self.feed_combo, self.urgency_combo)
        self.setTabOrder(self.urgency_combo, self.time_combo)
        self.setTabOrder(self.time_combo, self.table)

        controller.feeds_changed.connect(self._fill_feed_combo)
        controller.counts_changed.connect(self._fill_feed_combo)
        self._fill_feed_combo()
        self._update_empty()

    # -- public ----------------------------------------------------------------------

    @property
    def selected_event(self) -> StoredEvent | None:
        index = self.table.currentIndex()
        return self.model.event_at(index.row()) if index.isValid() else None

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def current_filter(self, now: float | None = None) -> HistoryFilter:
        """The filter the bar's widgets describe (times relative to ``now``)."""
        now = time.time() if now is None else now
        feed_id = self.feed_combo.currentData()
        urgency_value = self.urgency_combo.currentData()
        since: float | None = None
        span = self.time_combo.currentData()
        if span == "hour":
            since = now - 3600
        elif span == "week":
            since = now - 7 * 86400
        elif span == "today":
            local = dt.datetime.fromtimestamp(now).astimezone()
            since = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return HistoryFilter(
            feeds=(feed_id,) if feed_id else (),
            min_urgency=None if urgency_value in (None, _ANY) else Urgency(urgency_value),
            since=since,
            unread_only=self.unread_check.isChecked(),
            query=" ".join(self.search.text().split()),
        )

    def apply_filter(self) -> asyncio.Task[None]:
        """Re-query with what the filter bar says; the first page's task."""
        self._search_timer.stop()
        return self.model.set_filter(self.current_filter())

    def set_feed(self, feed_id: str) -> None:
        """Show one feed's events (``""``: every feed), keeping the other filters."""
        self._select_feed(feed_id)
        self.apply_filter()

    def clear_filters(self, feed_id: str = "") -> asyncio.Task[None]:
        """Reset the bar to show everything (of one feed, when given)."""
        self._applying = True
        try:
            self.search.clear()
            self.urgency_combo.setCurrentIndex(0)
            self.time_combo.setCurrentIndex(0)
            self.unread_check.setChecked(False)
            self._select_feed(feed_id)
        finally:
            self._applying = False
        return self.apply_filter()

    def show_event(self, feed_id: str, rowid: int | None) -> asyncio.Task[None]:
        """Select that event (clearing the filters to its feed if it is not in view); without a
        rowid, show the feed's newest events."""
        return self._controller.tasks.spawn(self._show_event(feed_id, rowid), name="tidings-show")

    def copy_data(self) -> None:
        event = self.detail.current
        if event is None:
            return
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(event.data)
        self.status_message.emit(self.tr("The event's data was copied to the clipboard."))

    def delete_selected(self) -> None:
        """Ask (a window-modal box, never a nested event loop), then delete the event."""
        event = self.detail.current
        if event is None or self._deleting:
            return
        self._controller.tasks.spawn(self._confirm_delete(event), name="tidings-delete")

    # -- async work --------------------------------------------------------------------

    async def _show_event(self, feed_id: str, rowid: int | None) -> None:
        if rowid is not None:
            row = self.model.row_of(rowid)
            if row is not None:
                self._select_row(row)
                return
        await self.clear_filters(feed_id)
        if rowid is None:
            if self.model.rowCount():
                self._select_row(0)
            return
        event = await self._controller.store.get(rowid)
        if event is None:
            self.status_message.emit(self.tr("That event is no longer in the log."))
            return
        for _ in range(MAX_SHOW_PAGES):
            row = self.model.row_of(rowid)
            if row is not None:
                self._select_row(row)
                return
            if self.model.exhausted:
                break
            await self.model.fetch_older()
        # Too far down to load the rows above it: show it in full without selecting a row.
        self.table.clearSelection()
        self.detail.show_event(event)

    async def _confirm_delete(self, event: StoredEvent) -> None:
        self._deleting = True
        try:
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Question)
            box.setWindowTitle(self.tr("Delete event"))
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(self.tr("Delete this event from the log? This cannot be undone."))
            delete = box.addButton(self.tr("&Delete"), QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.setObjectName("tidings-confirm-delete")
            await dialog_result(box)
            confirmed = box.clickedButton() is delete
            box.deleteLater()
            if not confirmed:
                return
            await self.model.delete([event.rowid])
            if self.detail.current is not None and self.detail.current.rowid == event.rowid:
                self.detail.show_event(self.selected_event)
            self.status_message.emit(self.tr("The event was deleted."))
        finally:
            self._deleting = False

    # -- slots -------------------------------------------------------------------------

    def _on_filter_widget_changed(self) -> None:
        if not self._applying:
            self.apply_filter()

    def _on_selection_current_row_changed(
        self, current: QModelIndex, _previous: QModelIndex
    ) -> None:
        event = self.model.event_at(current.row()) if current.isValid() else None
        self.detail.show_event(event)
        self._read_timer.stop()
        if event is not None and not event.read:
            self._read_timer.start()

    def _on_read_timer_timeout(self) -> None:
        event = self.selected_event
        if event is not None and not event.read:
            self._controller.tasks.spawn(self.model.mark_read([event.rowid]), name="tidings-read")

    def _on_detail_read_toggled(self, read: bool) -> None:
        event = self.detail.current
        if event is None:
            return
        self._read_timer.stop()
        self.detail.update_read(read)
        self._controller.tasks.spawn(
            self.model.mark_read([event.rowid], read=read), name="tidings-read"
        )

    def _on_detail_open_requested(self, url: str) -> None:
        if not self._controller.open_url(url):
            self.status_message.emit(self.tr("Only http and https links are opened."))

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        event = self.model.event_at(index.row())
        if event is not None and event.notification is not None and event.notification.url:
            self._on_detail_open_requested(event.notification.url)

    def _on_model_data_changed(
        self, top: QModelIndex, bottom: QModelIndex, _roles: list[int] | None = None
    ) -> None:
        current = self.detail.current
        if current is None:
            return
        row = self.model.row_of(current.rowid)
        if row is not None and top.row() <= row <= bottom.row():
            event = self.model.event_at(row)
            if event is not None:
                self.detail.update_read(event.read)

    def _on_model_rows_about_to_be_inserted(
        self, parent: QModelIndex | QPersistentModelIndex, first: int, _last: int
    ) -> None:
        bar = self.table.verticalScrollBar()
        # Rows arriving above a scrolled view would push what the user reads down: keep it.
        self._keep_scroll = bar.value() if first == 0 and bar.value() > 0 else None
        del parent

    def _on_model_rows_inserted(
        self, _parent: QModelIndex | QPersistentModelIndex, first: int, last: int
    ) -> None:
        if first != 0 or self._keep_scroll is None:
            return
        added = (last - first + 1) * self.table.verticalHeader().defaultSectionSize()
        bar = self.table.verticalScrollBar()
        # The view lays out later; widen the range now so the value is not clamped.
        bar.setMaximum(bar.maximum() + added)
        bar.setValue(self._keep_scroll + added)
        self._keep_scroll = None

    def _on_model_reset(self) -> None:
        self._read_timer.stop()
        self.detail.show_event(None)

    def _on_model_rows_removed(self) -> None:
        if self.detail.current is not None and self.model.row_of(self.detail.current.rowid) is None:
            self.detail.show_event(self.selected_event)

    def _update_empty(self) -> None:
        empty = self.model.rowCount() == 0
        if empty:
            if self.model.filter != HistoryFilter():
                self.empty_label.setText(self.tr("No events match these filters."))
            else:
                self.empty_label.setText(
                    self.tr("No events yet. They appear here as soon as a feed sends one.")
                )
        self.empty_label.setVisible(empty and not self.model.loading)

    # -- helpers -----------------------------------------------------------------------

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, Column.TITLE)
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _select_feed(self, feed_id: str) -> None:
        self._applying = True
        try:
            found = self.feed_combo.findData(feed_id)
            if found < 0:
                # A removed feed whose history is still kept: offer it by its id.
                self.feed_combo.addItem(feed_id, feed_id)
                found = self.feed_combo.count() - 1
            self.feed_combo.setCurrentIndex(found)
        finally:
            self._applying = False

    def _fill_feed_combo(self) -> None:
        """The feed choices with their unread counts (from the controller), keeping the choice."""
        chosen = self.feed_combo.currentData() or ""
        unread = self._controller.unread
        items = [(self.tr("All feeds ({0} unread)").format(self._controller.total_unread), "")]
        if not self._controller.total_unread:
            items[0] = (self.tr("All feeds"), "")
        for feed in self._controller.feeds:
            count = unread.get(feed.id, 0)
            text = f"{feed.name} ({count})" if count else feed.name
            items.append((text, feed.id))
        if chosen and all(data != chosen for _text, data in items):
            items.append((chosen, chosen))
        self._applying = True
        try:
            current = [
                (self.feed_combo.itemText(i), self.feed_combo.itemData(i))
                for i in range(self.feed_combo.count())
            ]
            if [d for _t, d in current] == [d for _t, d in items]:
                for i, (text, _data) in enumerate(items):
                    if self.feed_combo.itemText(i) != text:
                        self.feed_combo.setItemText(i, text)
            else:
                self.feed_combo.clear()
                for text, data in items:
                    self.feed_combo.addItem(text, data)
                self.feed_combo.setCurrentIndex(max(0, self.feed_combo.findData(chosen)))
        finally:
            self._applying = False
