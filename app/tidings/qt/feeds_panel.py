"""The feeds panel: every feed with its live status, last event and unread count, and its actions.

A table over :class:`FeedsModel` (an "All feeds" row first, then the feeds in
the settings' order) that follows the controller's signals, with Add, Edit,
Pause/Resume, Reconnect and Remove. Keyboard: Enter edits, Delete removes,
Space pauses or resumes. Selecting a row emits :attr:`FeedsPanel.feed_selected`
(``""`` for "All feeds"), which the main window connects to the log's filter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tidings.core.errors import TidingsError
from tidings.core.models import ConnectionState, Feed
from tidings.qt.controller import AppController
from tidings.qt.feed_editor import edit_feed
from tidings.qt.loop import dialog_result
from tidings.qt.status_text import StatusKind, describe_status, status_detail, status_kind

__all__ = ["FEED_ID_ROLE", "FeedsModel", "FeedsPanel"]

logger = logging.getLogger(__name__)

FEED_ID_ROLE = Qt.ItemDataRole.UserRole
"""The row's feed id (``""`` for "All feeds")."""
STATUS_KIND_ROLE = Qt.ItemDataRole.UserRole + 1
"""The row's :class:`StatusKind` value (``ok``, ``retrying``, ``error``, ``paused``)."""

_Index = QModelIndex | QPersistentModelIndex


def _tr(text: str) -> str:
    return QCoreApplication.translate("FeedsPanel", text)


class FeedsModel(QAbstractTableModel):
    """Rows: "All feeds", then each feed. Columns: name, status, last event, unread."""

    NAME, STATUS, LAST_EVENT, UNREAD = range(4)

    def __init__(
        self,
        controller: AppController,
        *,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._clock = clock
        self._ids: list[str] = [f.id for f in controller.feeds]
        controller.feeds_changed.connect(self._on_controller_feeds_changed)
        controller.status_changed.connect(self._on_controller_status_changed)
        controller.counts_changed.connect(self._on_controller_counts_changed)

    # -- Qt's model interface --------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._ids) + 1

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else 4

    def headerData(  # noqa: N802 - Qt's name
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return [_tr("Feed"), _tr("Status"), _tr("Last event"), _tr("Unread")][section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        feed_id = self.feed_id(index.row())
        column = index.column()
        if role == FEED_ID_ROLE:
            return feed_id
        if role == STATUS_KIND_ROLE:
            return status_kind(self._controller.status(feed_id)).value if feed_id else ""
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._text(feed_id, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(feed_id)
        if role == Qt.ItemDataRole.FontRole and column == self.NAME and self._unread(feed_id):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.UNREAD:
            return int(Qt.AlignmentFlag.AlignTrailing | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- reading -------------------------------------------------------------------------

    def feed_id(self, row: int) -> str:
        return "" if row <= 0 or row > len(self._ids) else self._ids[row - 1]

    def row_of(self, feed_id: str) -> int:
        """The row showing ``feed_id`` (0, "All feeds", for ``""``), or -1."""
        if not feed_id:
            return 0
        try:
            return self._ids.index(feed_id) + 1
        except ValueError:
            return -1

    def _unread(self, feed_id: str) -> int:
        if not feed_id:
            return self._controller.total_unread
        return self._controller.unread.get(feed_id, 0)

    def _last_event(self, feed_id: str) -> float | None:
        times = self._controller.last_event_at
        if feed_id:
            return times.get(feed_id)
        known = [times[i] for i in self._ids if i in times]
        return max(known) if known else None

    def _text(self, feed_id: str, column: int) -> str:
        controller = self._controller
        if column == self.NAME:
            return controller.feed_name(feed_id) if feed_id else _tr("All feeds")
        if column == self.STATUS:
            return self._summary() if not feed_id else self.status_text(feed_id)
        if column == self.LAST_EVENT:
            return _when(self._last_event(feed_id), self._clock())
        unread = self._unread(feed_id)
        return str(unread) if unread else ""

    def status_text(self, feed_id: str) -> str:
        """What the status column says for ``feed_id`` (and that its certificate checks are off,
        when they are: turning them off is explicit and must stay visible)."""
        text = describe_status(self._controller.status(feed_id), self._clock())
        feed = self._controller.feed(feed_id)
        if feed is not None and not feed.tls.verify:
            text = _tr("{status}; certificate checks off").format(status=text)
        return text

    def _summary(self) -> str:
        kinds = [status_kind(self._controller.status(i)) for i in self._ids]
        if not kinds:
            return _tr("no feeds yet")
        problems = sum(1 for k in kinds if k is StatusKind.ERROR)
        retrying = sum(1 for k in kinds if k is StatusKind.RETRYING)
        parts = [_tr("{count} feed(s)").format(count=len(kinds))]
        if problems:
            parts.append(_tr("{count} need attention").format(count=problems))
        if retrying:
            parts.append(_tr("{count} retrying").format(count=retrying))
        return ", ".join(parts)

    def _tooltip(self, feed_id: str) -> str:
        if not feed_id:
            return _tr("Events of every feed")
        status = self._controller.status(feed_id)
        lines = [self._controller.feed_name(feed_id), describe_status(status, self._clock())]
        detail = status_detail(status)
        if detail and detail not in lines[1]:
            lines.append(detail)
        if status is not None and status.url:
            lines.append(status.url)  # already redacted
        return "\n".join(lines)

    def has_countdown(self) -> bool:
        """Whether a row shows a countdown to a retry (it then needs a refresh every second)."""
        for feed_id in self._ids:
            status = self._controller.status(feed_id)
            if status is not None and status.state is ConnectionState.RETRYING:
                return True
        return False

    # -- following the controller ----------------------------------------------------------

    def refresh_times(self) -> None:
        """Re-read the columns that depend on the clock (countdowns, "2 min ago")."""
        if self._ids:
            self.dataChanged.emit(
                self.index(0, self.STATUS), self.index(len(self._ids), self.LAST_EVENT)
            )

    def _on_controller_feeds_changed(self) -> None:
        ids = [f.id for f in self._controller.feeds]
        if ids == self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(ids), 3))
            return
        self.beginResetModel()
        self._ids = ids
        self.endResetModel()

    def _on_controller_status_changed(self, feed_id: str, _status: object) -> None:
        row = self.row_of(feed_id)
        if row > 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, 3))
            self.dataChanged.emit(self.index(0, self.STATUS), self.index(0, self.STATUS))

    def _on_controller_counts_changed(self) -> None:
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids), 3))


def _when(stamp: float | None, now: float) -> str:
    if stamp is None:
        return ""
    ago = now - stamp
    if 0 <= ago < 60:
        return _tr("just now")
    if 0 <= ago < 3600:
        return _tr("{minutes} min ago").format(minutes=int(ago // 60))
    moment = QDateTime.fromSecsSinceEpoch(int(stamp))
    locale = QLocale()
    if moment.date() == QDateTime.currentDateTime().date():
        return locale.toString(moment.time(), QLocale.FormatType.ShortFormat)
    return locale.toString(moment, QLocale.FormatType.ShortFormat)


class FeedsPanel(QWidget):
    """The feeds list and its actions. ``feed_selected(feed_id)``: ``""`` for "All feeds"."""

    feed_selected = Signal(str)

    def __init__(self, controller: AppController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._editing: set[str] = set()
        self._remove_task: asyncio.Task[None] | None = None
        self.remove_box: QMessageBox | None = None
        """The open "remove feed?" question, if any (tests answer it)."""
        self.setAccessibleName(self.tr("Feeds"))

        self.model = FeedsModel(controller, parent=self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setAccessibleName(self.tr("Feeds"))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setTabKeyNavigation(False)
        self.view.verticalHeader().setVisible(False)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(FeedsModel.NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(FeedsModel.STATUS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(FeedsModel.LAST_EVENT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FeedsModel.UNREAD, QHeaderView.ResizeMode.ResizeToContents)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setWordWrap(True)
        self.detail.setAccessibleName(self.tr("Selected feed's status"))
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.add_button = self._button(self.tr("&Add…"), self.tr("Add a feed"), self.add_feed)
        self.edit_button = self._button(
            self.tr("&Edit…"), self.tr("Edit the selected feed"), self.edit_selected
        )
        self.pause_button = self._button(
            self.tr("&Pause"), self.tr("Pause or resume the selected feed"), self.toggle_pause
        )
        self.reconnect_button = self._button(
            self.tr("Re&connect"), self.tr("Reconnect the selected feed now"), self.reconnect
        )
        self.remove_button = self._button(
            self.tr("&Remove…"), self.tr("Remove the selected feed"), self.remove_selected
        )
        buttons = QHBoxLayout()
        for button in (
            self.add_button,
            self.edit_button,
            self.pause_button,
            self.reconnect_button,
            self.remove_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.edit_action = self._action(
            self.tr("Edit…"), [QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)]
        )
        self.edit_action.triggered.connect(self.edit_selected)
        self.pause_action = self._action(
            self.tr("Pause or resume"), [QKeySequence(Qt.Key.Key_Space)]
        )
        self.pause_action.triggered.connect(self.toggle_pause)
        self.reconnect_action = self._action(self.tr("Reconnect"), [])
        self.reconnect_action.triggered.connect(self.reconnect)
        self.remove_action = self._action(
            self.tr("Remove…"), [QKeySequence(QKeySequence.StandardKey.Delete)]
        )
        self.remove_action.triggered.connect(self.remove_selected)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._on_ticker_timeout)

        selection = self.view.selectionModel()
        selection.currentRowChanged.connect(self._on_current_row_changed)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self._kept_selection = ""
        self.view.setCurrentIndex(self.model.index(0, 0))
        self._update_actions()

    def _button(self, text: str, accessible: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(accessible)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _action(self, text: str, keys: list[QKeySequence]) -> QAction:
        action = QAction(text, self.view)
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.view.addAction(action)
        return action

    # -- selection -------------------------------------------------------------------------

    def selected_feed_id(self) -> str:
        """The selected feed's id, or ``""`` ("All feeds", or nothing)."""
        index = self.view.currentIndex()
        return self.model.feed_id(index.row()) if index.isValid() else ""

    def select_feed(self, feed_id: str) -> None:
        """Select a feed's row (``""``: "All feeds")."""
        row = self.model.row_of(feed_id)
        if row >= 0:
            self.view.setCurrentIndex(self.model.index(row, 0))

    def _selected_feed(self) -> Feed | None:
        feed_id = self.selected_feed_id()
        return self._controller.feed(feed_id) if feed_id else None

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_actions()
        self.feed_selected.emit(self.model.feed_id(current.row()) if current.isValid() else "")

    def _remember_selection(self) -> None:
        self._kept_selection = self.selected_feed_id()

    def _restore_selection(self) -> None:
        row = self.model.row_of(self._kept_selection)
        self.view.setCurrentIndex(self.model.index(max(row, 0), 0))
        self._update_actions()
        self._update_ticker()

    def _on_model_data_changed(self, *_args: object) -> None:
        self._update_actions()
        self._update_ticker()

    def _update_actions(self) -> None:
        feed = self._selected_feed()
        has = feed is not None
        for widget in (self.edit_button, self.pause_button, self.reconnect_button):
            widget.setEnabled(has)
        self.remove_button.setEnabled(has)
        for action in (
            self.edit_action,
            self.pause_action,
            self.reconnect_action,
            self.remove_action,
        ):
            action.setEnabled(has)
        paused = feed is not None and feed.paused
        self.pause_button.setText(self.tr("Res&ume") if paused else self.tr("&Pause"))
        self.reconnect_button.setEnabled(has and not paused)
        self.reconnect_action.setEnabled(has and not paused)
        self.detail.setText(self._detail_text(feed))

    def _detail_text(self, feed: Feed | None) -> str:
        if feed is None:
            return ""
        status = self._controller.status(feed.id)
        detail = status_detail(status)
        if not detail:
            return ""
        return self.tr("{name}: {detail}").format(name=feed.name, detail=detail)

    def _update_ticker(self) -> None:
        if self.model.has_countdown():
            if not self._ticker.isActive():
                self._ticker.start()
        else:
            self._ticker.stop()

    def _on_ticker_timeout(self) -> None:
        self.model.refresh_times()

    # -- actions ------------------------------------------------------------------------------

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and self.model.feed_id(index.row()):
            self.edit_selected()

    def _spawn(self, work: Any, name: str) -> asyncio.Task[Any]:
        return self._controller.tasks.spawn(self._reporting(work), name=name)

    async def _reporting(self, work: Any) -> None:
        """Run an action; a failure becomes a message for the user instead of a lost exception."""
        try:
            await work
        except (TidingsError, OSError) as exc:
            self._controller.error_raised.emit(str(exc))

    def add_feed(self) -> None:
        """Open the editor for a new feed; select it once saved."""
        if "" in self._editing:
            return
        self._editing.add("")
        self._spawn(self._edit(None), "feeds-panel-add")

    def edit_selected(self) -> None:
        """Open the editor for the selected feed (once per feed)."""
        feed = self._selected_feed()
        if feed is None or feed.id in self._editing:
            return
        self._editing.add(feed.id)
        self._spawn(self._edit(feed), "feeds-panel-edit")

    async def _edit(self, feed: Feed | None) -> None:
        key = "" if feed is None else feed.id
        try:
            saved = await edit_feed(self._controller, self, feed)
        finally:
            self._editing.discard(key)
        if saved is not None:
            self.select_feed(saved.id)

    def toggle_pause(self) -> None:
        """Pause the selected feed, or resume it when paused."""
        feed = self._selected_feed()
        if feed is not None:
            self._spawn(self._controller.set_paused(feed.id, not feed.paused), "feeds-panel-pause")

    def reconnect(self) -> None:
        feed = self._selected_feed()
        if feed is not None and not feed.paused:
            self._spawn(self._controller.reconnect(feed.id), "feeds-panel-reconnect")

    def remove_selected(self) -> None:
        """Ask, then remove the selected feed (and, if chosen, its stored events)."""
        feed = self._selected_feed()
        if feed is None or (self._remove_task is not None and not self._remove_task.done()):
            return
        self._remove_task = self._spawn(self._remove(feed), "feeds-panel-remove")

    async def _remove(self, feed: Feed) -> None:
        try:
            stored = await self._controller.store.count(feed.id)
        except Exception:
            logger.exception("cannot count the events of feed %s", feed.id)
            stored = 0
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("Remove feed"))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(self.tr("Remove the feed “{name}”?").format(name=feed.name))
        box.setInformativeText(
            self.tr("Its secrets are deleted from the keyring. Its log can stay or go.")
        )
        forget = QCheckBox(self.tr("Also &delete its {count} stored event(s)").format(count=stored))
        forget.setAccessibleName(self.tr("Also delete its stored events"))
        box.setCheckBox(forget)
        remove = box.addButton(self.tr("&Remove"), QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        self.remove_box = box
        try:
            await dialog_result(box)
            confirmed = box.clickedButton() is remove
            forget_history = forget.isChecked()
        finally:
            self.remove_box = None
            box.deleteLater()
        if not confirmed:
            return
        await self._controller.remove_feed(feed.id, forget_history=forget_history)
