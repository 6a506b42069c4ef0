"""The log table's model: the history store's events, paged from SQLite as the view scrolls.

Only what the view shows is loaded: the first page when the filter is set,
then one keyset page (:meth:`HistoryStore.page`) each time the view asks
:meth:`LogModel.fetchMore` for more. Every query runs on the store's worker
thread through a task (``controller.tasks.spawn``); rows are inserted when the
page arrives, so the GUI thread never waits on SQLite.

Filtering is done by the store, not by a ``QSortFilterProxyModel``: a proxy
can only filter rows that are already loaded, and this model holds a few
pages out of possibly millions of events. Setting a :class:`HistoryFilter`
(:meth:`LogModel.set_filter`) re-queries from the newest event. Order is fixed
(newest first): the store pages in that order and offers no other.

New events (``controller.events_stored``) are not matched against the filter
in Python: the model asks the store for rows newer than the newest it holds
(:meth:`HistoryStore.newer`, same filter), so full-text search, urgency and
time filters mean exactly what they mean for paging. One such query runs at a
time; arrivals meanwhile are picked up by the next round.

Read state: the model's own :meth:`LogModel.mark_read` updates its rows at
once. Changes made elsewhere (the tray's "mark all read", another window)
reach it only as ``controller.counts_changed``; when a feed's unread count
drops, the loaded unread rows are checked against the store.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont

from tidings.core.history import PAGE_SIZE, HistoryFilter, StoredEvent
from tidings.core.notification import Urgency, plain_title, shorten
from tidings.qt.controller import AppController

__all__ = ["EVENT_ROLE", "ROWID_ROLE", "Column", "LogModel", "one_line"]

logger = logging.getLogger(__name__)

EVENT_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""The row's :class:`StoredEvent` (any column)."""
ROWID_ROLE = int(Qt.ItemDataRole.UserRole) + 2
"""The row's history rowid (any column)."""

SUMMARY_CHARS = 240
"""Characters of body or data shown in the one-line summary column (the detail pane has all)."""
MAX_LIVE_ROWS = 10_000
"""New events arriving at the top push the oldest loaded rows out beyond this many, so a
flood does not grow memory without end (scrolling down reads them again)."""
MAX_FOLLOW_PAGES = 50
"""Pages of new events read in one round; a bigger burst continues at the next arrival."""

_Index = QModelIndex | QPersistentModelIndex


class Column:
    TIME = 0
    FEED = 1
    TITLE = 2
    SUMMARY = 3
    URGENCY = 4
    COUNT = 5


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` on one line (whitespace runs become one space, bidi controls dropped so a
    server cannot reorder the row), cut to ``limit`` characters without splitting a grapheme."""
    # Only the start is looked at: data may be megabytes long.
    head = " ".join(plain_title(text[: limit * 4], limit * 4).split())
    if len(head) > limit:
        return shorten(head, limit)
    if len(text) > limit * 4:  # more follows than was looked at
        return shorten(head, limit - 1).removesuffix("\u2026").rstrip() + "\u2026"
    return head


class LogModel(QAbstractTableModel):
    """The history's events, newest first, filtered by the store and paged as the view scrolls."""

    loading_changed = Signal(bool)
    """Whether a page (first, older or newer) is being read."""
    reset_done = Signal()
    """The first page of a new filter arrived (the model may be empty)."""
    load_failed = Signal(str)
    """Reading the history failed (the message is for the user)."""
    rows_marked = Signal(list, bool)
    """(rowids, read): the model changed the read state of these loaded rows."""

    def __init__(
        self,
        controller: AppController,
        *,
        page_size: int = PAGE_SIZE,
        max_live_rows: int = MAX_LIVE_ROWS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._page_size = page_size
        self._max_live_rows = max(max_live_rows, page_size)
        self._filter = HistoryFilter()
        self._rows: list[StoredEvent] = []
        self._gen = 0
        self._trims = 0  # bumped when live arrivals push loaded rows out at the bottom
        self._ready = False  # the first page (and the watermark) arrived
        self._next_key: tuple[float, int] | None = None
        self._exhausted = False
        self._top_key: tuple[float, int] | None = None
        self._older: asyncio.Task[None] | None = None
        self._follow: asyncio.Task[None] | None = None
        self._follow_dirty = False
        self._refresh: asyncio.Task[None] | None = None
        self._refresh_dirty = False
        self._unread_seen = dict(controller.unread)
        self._feed_ids = {f.id for f in controller.feeds}
        self._bold = QFont()
        self._bold.setBold(True)
        controller.events_stored.connect(self._on_controller_events_stored)
        controller.counts_changed.connect(self._on_controller_counts_changed)
        controller.feeds_changed.connect(self._on_controller_feeds_changed)
        self.reload()

    # -- state the view reads --------------------------------------------------------

    @property
    def filter(self) -> HistoryFilter:
        return self._filter

    @property
    def loading(self) -> bool:
        return self._busy(self._older) or self._busy(self._follow)

    @property
    def exhausted(self) -> bool:
        """Every row of the filter older than the loaded ones has been read."""
        return self._exhausted

    @property
    def loaded_rows(self) -> int:
        return len(self._rows)

    def event_at(self, row: int) -> StoredEvent | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, rowid: int) -> int | None:
        """The row showing history rowid ``rowid``, if it is loaded."""
        # Rows are in descending rowid order: search on the negated rowids.
        pos = bisect.bisect_left(self._rows, -rowid, key=lambda e: -e.rowid)
        if pos < len(self._rows) and self._rows[pos].rowid == rowid:
            return pos
        return None

    # -- filter and loading ----------------------------------------------------------

    def set_filter(self, flt: HistoryFilter) -> asyncio.Task[None]:
        """Show the events ``flt`` selects (re-queried from the newest); the first page's task."""
        self._filter = flt
        return self.reload()

    def reload(self) -> asyncio.Task[None]:
        """Drop the loaded rows and read the first page again."""
        self._gen += 1
        for task in (self._older, self._follow, self._refresh):
            if task is not None and not task.done():
                task.cancel()
        self.beginResetModel()
        self._rows = []
        self._ready = False
        self._next_key = None
        self._exhausted = False
        self._top_key = None
        self._follow = None
        self._follow_dirty = False
        self._refresh = None
        self._refresh_dirty = False
        self.endResetModel()
        self._older = self._controller.tasks.spawn(
            self._read_older(self._gen), name="tidings-log-first-page"
        )
        self.loading_changed.emit(True)
        return self._older

    async def fetch_older(self) -> None:
        """Read the next older page (or wait for the one being read); for code and tests."""
        if self._busy(self._older):
            assert self._older is not None
            await asyncio.shield(self._older)
            return
        if self._exhausted:
            return
        self._older = self._controller.tasks.spawn(
            self._read_older(self._gen), name="tidings-log-page"
        )
        self.loading_changed.emit(True)
        await asyncio.shield(self._older)

    async def wait_idle(self, limit: float = 10) -> None:
        """Wait until no page is being read (bounded); for code and tests."""
        deadline = asyncio.get_running_loop().time() + limit
        while self.loading or self._busy(self._refresh):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the log model is still loading")
            await asyncio.sleep(0.01)

    # -- QAbstractItemModel ----------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else Column.COUNT

    def canFetchMore(self, parent: _Index) -> bool:  # noqa: N802 - Qt's name
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: _Index) -> None:  # noqa: N802 - Qt's name
        # The view asks again at every scroll while a page is on its way: one at a time.
        if parent.isValid() or self._exhausted or self._busy(self._older):
            return
        self._older = self._controller.tasks.spawn(
            self._read_older(self._gen), name="tidings-log-page"
        )
        self.loading_changed.emit(True)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def headerData(  # noqa: N802 - Qt's name
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return {
            Column.TIME: self.tr("Time"),
            Column.FEED: self.tr("Feed"),
            Column.TITLE: self.tr("Title"),
            Column.SUMMARY: self.tr("Message"),
            Column.URGENCY: self.tr("Urgency"),
        }.get(section)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < len(self._rows)) or not (0 <= column < Column.COUNT):
            return None
        event = self._rows[row]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._display(event, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(event, column)
        if role == Qt.ItemDataRole.FontRole:
            return None if event.read else self._bold
        if role == EVENT_ROLE:
            return event
        if role == ROWID_ROLE:
            return event.rowid
        return None

    # -- read state and deletion -----------------------------------------------------

    async def mark_read(self, rowids: Sequence[int], *, read: bool = True) -> None:
        """Mark events read (or unread) in the store, then in the loaded rows."""
        ids = list(rowids)
        if not ids:
            return
        self._set_read_local(ids, read)  # at once: the font changes as the user acts
        await self._controller.mark_read(ids, read=read)

    async def delete(self, rowids: Sequence[int]) -> None:
        """Delete events from the store and from the loaded rows."""
        ids = list(rowids)
        if not ids:
            return
        await self._controller.delete_events(ids)
        self.remove_rowids(ids)

    def remove_rowids(self, rowids: Sequence[int]) -> None:
        """Remove loaded rows (already deleted from the store) from the model."""
        rows = sorted((r for r in map(self.row_of, rowids) if r is not None), reverse=True)
        for row in rows:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def _set_read_local(self, rowids: Sequence[int], read: bool) -> None:
        changed: list[int] = []
        for rowid in rowids:
            row = self.row_of(rowid)
            if row is None or self._rows[row].read == read:
                continue
            self._rows[row] = dataclasses.replace(self._rows[row], read=read)
            changed.append(row)
            self.dataChanged.emit(
                self.index(row, 0),
                self.index(row, Column.COUNT - 1),
                [Qt.ItemDataRole.FontRole],
            )
        if changed:
            self.rows_marked.emit([self._rows[r].rowid for r in changed], read)

    # -- the controller's signals ----------------------------------------------------

    def _on_controller_events_stored(self, _feed_id: str, events: list[StoredEvent]) -> None:
        if not events:
            return
        self._follow_dirty = True
        if self._ready and not self._busy(self._follow):
            self._follow = self._controller.tasks.spawn(
                self._read_newer(self._gen), name="tidings-log-follow"
            )
            self.loading_changed.emit(True)

    def _on_controller_counts_changed(self) -> None:
        unread = dict(self._controller.unread)
        dropped = any(count < self._unread_seen.get(f, 0) for f, count in unread.items()) or any(
            f not in unread for f, c in self._unread_seen.items() if c
        )
        self._unread_seen = unread
        if not dropped or not self._ready:
            return
        self._refresh_dirty = True
        if not self._busy(self._refresh):
            self._refresh = self._controller.tasks.spawn(
                self._refresh_read(self._gen), name="tidings-log-read-state"
            )

    def _on_controller_feeds_changed(self) -> None:
        ids = {f.id for f in self._controller.feeds}
        removed = self._feed_ids - ids
        self._feed_ids = ids
        if removed and any(e.feed_id in removed for e in self._rows):
            # Its history may have gone with it: read again rather than guess.
            self.reload()
            return
        if self._rows:
            self.dataChanged.emit(
                self.index(0, Column.FEED),
                self.index(len(self._rows) - 1, Column.FEED),
                [Qt.ItemDataRole.DisplayRole],
            )

    # -- the tasks ---------------------------------------------------------------------

    async def _read_older(self, gen: int) -> None:
        store = self._controller.store
        trims = self._trims
        try:
            watermark: tuple[float, int] | None = None
            if not self._ready:
                # The newest row of all, before the first page: whatever arrives after it and
                # matches is "new", even when the filter matches nothing yet.
                newest = await store.recent(None, limit=1)
                watermark = newest[0].key if newest else None
            page = await store.page(self._filter, before=self._next_key, limit=self._page_size)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            if gen == self._gen:
                self._fail(exc)
            return
        if gen != self._gen:
            return
        if trims != self._trims:
            self._emit_loading()  # the bottom moved meanwhile: the next fetch reads from there
            return
        rows = page.rows
        if rows and self._rows and rows[0].rowid >= self._rows[-1].rowid:
            rows = [r for r in rows if r.rowid < self._rows[-1].rowid]  # never twice
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self._next_key = page.next_key
        self._exhausted = page.next_key is None
        if not self._ready:
            self._ready = True
            keys = [k for k in (watermark, self._rows[0].key if self._rows else None) if k]
            self._top_key = max(keys) if keys else None
            self.reset_done.emit()
            if self._follow_dirty:
                self._follow = self._controller.tasks.spawn(
                    self._read_newer(gen), name="tidings-log-follow"
                )
        self._emit_loading()

    async def _read_newer(self, gen: int) -> None:
        store = self._controller.store
        try:
            for _ in range(MAX_FOLLOW_PAGES):
                self._follow_dirty = False
                page = await store.newer(self._filter, after=self._top_key, limit=self._page_size)
                if gen != self._gen:
                    return
                self._insert_top(page.rows)
                if page.next_key is None and not self._follow_dirty:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            if gen == self._gen:
                self._fail(exc)
            return
        finally:
            if gen == self._gen:
                self._follow = None
                self._emit_loading()

    def _insert_top(self, ascending: list[StoredEvent]) -> None:
        if not ascending:
            return
        self._top_key = ascending[-1].key
        if self._rows:
            top = self._rows[0].rowid
            ascending = [r for r in ascending if r.rowid > top]
        if not ascending:
            return
        self.beginInsertRows(QModelIndex(), 0, len(ascending) - 1)
        self._rows[:0] = reversed(ascending)
        self.endInsertRows()
        excess = len(self._rows) - self._max_live_rows
        if excess > 0:
            keep = self._max_live_rows
            self._trims += 1  # a page on its way would land below rows no longer there
            self.beginRemoveRows(QModelIndex(), keep, len(self._rows) - 1)
            del self._rows[keep:]
            self.endRemoveRows()
            self._next_key = self._rows[-1].key  # the next older page starts below the last kept
            self._exhausted = False

    async def _refresh_read(self, gen: int) -> None:
        """Find which loaded unread rows the store now has as read (marked elsewhere)."""
        store = self._controller.store
        try:
            while self._refresh_dirty:
                self._refresh_dirty = False
                unread = [e for e in self._rows if not e.read]
                if not unread:
                    return
                oldest = unread[-1]
                since = oldest.received_at
                if self._filter.since is not None:
                    since = max(since, self._filter.since)
                flt = dataclasses.replace(self._filter, unread_only=True, since=since)
                still: set[int] = set()
                before: tuple[float, int] | None = None
                # Bounded: the range holds the loaded rows (plus a few newer arrivals).
                for _ in range(len(self._rows) // self._page_size + 3):
                    page = await store.page(flt, before=before, limit=self._page_size)
                    still.update(r.rowid for r in page.rows)
                    if page.next_key is None or page.next_key[1] <= oldest.rowid:
                        break
                    before = page.next_key
                if gen != self._gen:
                    return
                self._set_read_local([e.rowid for e in unread if e.rowid not in still], True)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("cannot refresh the read state of the log")
        finally:
            if gen == self._gen:
                self._refresh = None

    # -- helpers -----------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        logger.error("cannot read the history: %s", exc)
        self._exhausted = True  # do not let the view ask again and again
        self._ready = True
        self.load_failed.emit(self.tr("Cannot read the history: {0}").format(exc))
        self._emit_loading()

    def _emit_loading(self) -> None:
        # Called by a finishing task, which is still "running": it is not counted.
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop (a teardown stepping a task)
            current = None
        busy = any(self._busy(t) and t is not current for t in (self._older, self._follow))
        self.loading_changed.emit(busy)

    @staticmethod
    def _busy(task: asyncio.Task[Any] | None) -> bool:
        return task is not None and not task.done()

    def _display(self, event: StoredEvent, column: int) -> str:
        n = event.notification
        if column == Column.TIME:
            return format_time(event.received_at)
        if column == Column.FEED:
            return self._controller.feed_name(event.feed_id)
        if column == Column.TITLE:
            return one_line(n.title if n is not None and n.title else event.type, 160)
        if column == Column.SUMMARY:
            return one_line(n.body if n is not None and n.body else event.data)
        if column == Column.URGENCY:
            return urgency_text(self, event)
        return ""

    def _tooltip(self, event: StoredEvent, column: int) -> str:
        n = event.notification
        if column == Column.TIME:
            return QLocale().toString(
                QDateTime.fromMSecsSinceEpoch(int(event.received_at * 1000)),
                QLocale.FormatType.LongFormat,
            )
        if column == Column.TITLE:
            return one_line(n.title if n is not None and n.title else event.type, 1000)
        if column == Column.SUMMARY:
            return one_line(n.body if n is not None and n.body else event.data, 1000)
        if column == Column.URGENCY:
            return decision_text(self, event)
        return self._display(event, column)


def format_time(when: float, now: float | None = None) -> str:
    """A row's time: the time of day for today's events, else the date and time (locale's)."""
    moment = QDateTime.fromMSecsSinceEpoch(int(when * 1000))
    today = (
        QDateTime.currentDateTime()
        if now is None
        else QDateTime.fromMSecsSinceEpoch(int(now * 1000))
    ).date()
    locale = QLocale()
    if moment.date() == today:
        return locale.toString(moment.time(), "HH:mm:ss")
    return (
        locale.toString(moment.date(), QLocale.FormatType.ShortFormat)
        + " "
        + locale.toString(moment.time(), "HH:mm")
    )


def urgency_text(context: QObject, event: StoredEvent) -> str:
    """The urgency column: the shown notification's urgency, or a dash for a hidden event."""
    n = event.notification
    if n is None:
        return "\u2014"
    return {
        Urgency.LOW: context.tr("Low"),
        Urgency.NORMAL: context.tr("Normal"),
        Urgency.CRITICAL: context.tr("Critical"),
    }[n.urgency]


def decision_text(context: QObject, event: StoredEvent) -> str:
    """Whether the event popped up, and if not, why (the rules' reason, in words)."""
    n = event.notification
    if n is not None:
        return context.tr("Shown as a notification ({0})").format(urgency_text(context, event))
    reason = event.reason or ""
    words = {
        "": context.tr("Not shown"),
        "undecided": context.tr("Not decided (stored before the rules ran)"),
        "muted": context.tr("Not shown: the feed is muted"),
        "quiet": context.tr("Not shown: quiet hours"),
        "flood": context.tr("Not shown: too many at once (summarised)"),
        "backlog": context.tr("Not shown: part of a replayed backlog (summarised)"),
        "filtered": context.tr("Not shown: filtered out by the feed's rules"),
        "off": context.tr("Not shown: notifications are off for this feed"),
        "no-notification": context.tr("Not shown: the preset makes no notification of it"),
        "keep-alive": context.tr("Not shown: a keep-alive"),
        "empty": context.tr("Not shown: an empty message"),
        "error": context.tr("Not shown: the rules failed on it"),
    }
    text = words.get(reason)
    if text is None:
        text = context.tr("Not shown: {0}").format(reason)
    return text
