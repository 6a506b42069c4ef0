"""The history store: every event with its decision, each feed's resume cursor, search and upkeep.

One worker thread owns the SQLite (WAL) connection, so the event loop never
waits on the disk; callers await coroutines. Events and the feed's cursor are
committed in one transaction, so after a crash the cursor never points past an
event that was not stored (resume replays it) nor behind one that was
(de-duplication drops it where ids are stable). A kill -9 loses only the
events of batches whose transaction had not committed yet: those handed to
:meth:`HistoryStore.record` and still queued or being written (one network
read per batch in the hub). ``synchronous=NORMAL`` keeps every committed
transaction across a process crash; a power cut may roll back the last few,
never tearing one.

De-duplication uses only ids that an event's own block carried, and only for
feeds whose ids are stable across connections (SSE.md section 5): the caller
says which by passing ``dedupe=True``.

Schema 2 (migrated from 1, with a backup of the file first) adds:

- the rules' decision per event: the shown notification's title, body,
  urgency and URL, or the reason it was not shown (``undecided`` until the hub
  saved it: rows from schema 1, or a crash between the two commits);
- full-text search (FTS5, external content kept in sync by triggers) over
  title, body and data, combined with filters (:class:`HistoryFilter`);
- per-feed totals and unread counts in ``feed_stats``, kept by triggers in
  the same transaction as the change, so counts cost one small read.

Rows come in arrival order: the rowid grows with each stored event and
``received_at`` never decreases with it (a wall clock that steps back is
clamped to the last stored time), so a page key ``(received_at, rowid)``
orders exactly like the rowid, and full-text pages can stop early.
Long jobs (retention, clearing or marking a whole feed) run in small
transactions, each its own turn on the worker, so batches of new events get
in between.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import datetime as dt
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from tidings.core.decoder import DecodedEvent
from tidings.core.errors import TidingsError
from tidings.core.notification import Notification, Urgency

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "DEFAULT_MAX_EVENTS_PER_FEED",
    "PAGE_SIZE",
    "SCHEMA_VERSION",
    "UNDECIDED",
    "FeedCounts",
    "FeedRetention",
    "HistoryFilter",
    "HistoryPage",
    "HistoryStore",
    "HistoryUnavailableError",
    "Retention",
    "StoredEvent",
    "csv_header",
    "csv_row",
    "event_to_json",
    "fts_query",
]

SCHEMA_VERSION = 2
T = TypeVar("T")

DEFAULT_MAX_AGE_DAYS = 30.0
"""History retention by age (DESIGN.md's defaults table)."""
DEFAULT_MAX_EVENTS_PER_FEED = 100_000
"""History retention by count, per feed (DESIGN.md's defaults table); no global cap by default."""
PAGE_SIZE = 200
"""Rows per page unless the caller asks otherwise."""
UNDECIDED = "undecided"
"""The reason of an event whose decision was never saved (schema 1 rows, a crash in between)."""
BATCH = 1000
"""Rows per transaction in long jobs (retention, clearing, marking read)."""

logger = logging.getLogger(__name__)

# Only the de-duplication index may turn an insert into a no-op. ``INSERT OR IGNORE``
# would also skip a row that breaks NOT NULL (silently losing it while the cursor
# moves past it), so the conflict target is spelled out.
_INSERT_EVENT = (
    "INSERT INTO events (feed_id, type, data, event_id, own_id, dedupe_id, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (feed_id, dedupe_id) WHERE dedupe_id IS NOT NULL DO NOTHING"
)

# Schema 1, exactly as the first store created it (a new file starts here and migrates).
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    feed_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    event_id TEXT NOT NULL,
    own_id INTEGER NOT NULL,
    dedupe_id TEXT,
    received_at REAL NOT NULL,
    read INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS events_dedupe ON events (feed_id, dedupe_id)
    WHERE dedupe_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_feed ON events (feed_id, id);
CREATE TABLE IF NOT EXISTS cursors (
    feed_id TEXT PRIMARY KEY,
    last_event_id TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

# The triggers that keep the full-text index and the counters in step with ``events``.
# Dropped and recreated around "clear all", so that it can truncate in one go.
_TRIGGERS = """
CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN
    INSERT INTO events_fts (rowid, title, body, data)
        VALUES (new.id, new.title, new.body, new.data);
    INSERT INTO feed_stats (feed_id, total, unread) VALUES (new.feed_id, 1, new.read = 0)
        ON CONFLICT (feed_id) DO UPDATE SET total = total + 1, unread = unread + (new.read = 0);
END;
CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN
    INSERT INTO events_fts (events_fts, rowid, title, body, data)
        VALUES ('delete', old.id, old.title, old.body, old.data);
    UPDATE feed_stats SET total = total - 1, unread = unread - (old.read = 0)
        WHERE feed_id = old.feed_id;
END;
CREATE TRIGGER events_au_text AFTER UPDATE OF title, body, data ON events
    WHEN old.title IS NOT new.title OR old.body IS NOT new.body OR old.data IS NOT new.data
BEGIN
    INSERT INTO events_fts (events_fts, rowid, title, body, data)
        VALUES ('delete', old.id, old.title, old.body, old.data);
    INSERT INTO events_fts (rowid, title, body, data)
        VALUES (new.id, new.title, new.body, new.data);
END;
CREATE TRIGGER events_au_read AFTER UPDATE OF read ON events
    WHEN (old.read = 0) IS NOT (new.read = 0)
BEGIN
    UPDATE feed_stats SET unread = unread + (CASE WHEN new.read = 0 THEN 1 ELSE -1 END)
        WHERE feed_id = new.feed_id;
END;
"""
_TRIGGER_NAMES = ("events_ai", "events_ad", "events_au_text", "events_au_read")

_MIGRATE_1_TO_2 = """
ALTER TABLE events ADD COLUMN title TEXT;
ALTER TABLE events ADD COLUMN body TEXT;
ALTER TABLE events ADD COLUMN urgency INTEGER;
ALTER TABLE events ADD COLUMN url TEXT;
ALTER TABLE events ADD COLUMN reason TEXT;
CREATE INDEX events_time ON events (received_at);
CREATE INDEX events_unread ON events (id) WHERE read = 0;
CREATE INDEX events_unread_feed ON events (feed_id, id) WHERE read = 0;
CREATE VIRTUAL TABLE events_fts USING fts5 (
    title, body, data,
    content = 'events', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO events_fts (events_fts) VALUES ('rebuild');
CREATE TABLE feed_stats (
    feed_id TEXT PRIMARY KEY,
    total INTEGER NOT NULL,
    unread INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO feed_stats (feed_id, total, unread)
    SELECT feed_id, count(*), sum(read = 0) FROM events GROUP BY feed_id;
"""

# version reached -> the script that gets there from the one before.
_MIGRATIONS: dict[int, tuple[str, ...]] = {2: (_MIGRATE_1_TO_2, _TRIGGERS)}

_COLUMNS = (
    "e.id, e.feed_id, e.type, e.data, e.event_id, e.own_id, e.received_at, e.read, "
    "e.title, e.body, e.urgency, e.url, e.reason"
)
_URGENCY_BY_RANK = {u.rank: u for u in Urgency}
_BM25_WEIGHTS = (10.0, 5.0, 1.0)  # title, body, data


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the history keeps it."""

    rowid: int
    feed_id: str
    type: str
    data: str
    event_id: str
    has_own_id: bool
    received_at: float
    read: bool = False
    notification: Notification | None = field(default=None, compare=False)
    """What was shown (after the preset and the rules); ``None`` when nothing was."""
    reason: str = field(default="", compare=False)
    """Why there is no notification (keep-alive, control, muted...); ``undecided`` if unknown."""
    withdraw_key: str = field(default="", compare=False)
    """A replace key whose notification the server withdrew (ntfy ``message_delete``)."""
    batch_index: int = field(default=-1, compare=False)
    """Its position in the batch given to :meth:`HistoryStore.record` (to line results up)."""

    @property
    def key(self) -> tuple[float, int]:
        """Its page key: pass it as ``before`` (or ``after``) to :meth:`HistoryStore.page`."""
        return (self.received_at, self.rowid)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryFilter:
    """Which events a page, count, search or export covers; the defaults select everything.

    ``query`` is full text over title, body and data: words (all must match,
    a trailing ``*`` matches a prefix) unless ``raw_query`` passes FTS5's own
    syntax (``OR``, ``NEAR``, ``title:`` ...). Times are ``time.time()``
    values; ``since`` is inclusive, ``until`` exclusive.
    """

    feeds: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    min_urgency: Urgency | None = None
    """Only shown notifications of at least this urgency."""
    since: float | None = None
    until: float | None = None
    unread_only: bool = False
    query: str = ""
    raw_query: bool = False


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of rows, and the key of the next page (``None``: nothing further that way)."""

    rows: list[StoredEvent]
    next_key: tuple[float, int] | None


@dataclass(frozen=True, slots=True)
class FeedCounts:
    total: int
    unread: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRetention:
    """One feed's own limits (``None``: no limit of that kind for this feed)."""

    max_age_days: float | None = DEFAULT_MAX_AGE_DAYS
    max_events: int | None = DEFAULT_MAX_EVENTS_PER_FEED


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """What the history keeps: per feed by age and count (with overrides), and a global cap."""

    max_age_days: float | None = DEFAULT_MAX_AGE_DAYS
    max_events_per_feed: int | None = DEFAULT_MAX_EVENTS_PER_FEED
    max_events_total: int | None = None
    per_feed: Mapping[str, FeedRetention] = field(default_factory=dict)

    def for_feed(self, feed_id: str) -> FeedRetention:
        own = self.per_feed.get(feed_id)
        if own is not None:
            return own
        return FeedRetention(max_age_days=self.max_age_days, max_events=self.max_events_per_feed)


class HistoryUnavailableError(TidingsError, sqlite3.DatabaseError):
    """The history file cannot be opened or created (a read-only or full disk, a damaged or
    newer file); the message names the file and what to do."""


class HistoryStore:
    """SQLite (WAL) on one worker thread. Open with ``await store.open()``; close when done.

    For the log view: :meth:`page` (keyset pages newest first, by
    ``(received_at, rowid)``), :meth:`newer` (rows after a key, oldest
    first), :meth:`count` and :meth:`counts` (total and unread per feed).
    Changes: :meth:`mark_read`, :meth:`mark_feed_read`, :meth:`mark_all_read`,
    :meth:`delete`, :meth:`clear_feed`, :meth:`clear_all`,
    :meth:`apply_retention`. Output: :meth:`export` (JSON Lines or CSV).
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._last_at = 0.0  # the newest received_at stored (worker thread only)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def is_open(self) -> bool:
        return self._executor is not None

    def backup_path(self, version: int) -> Path:
        """Where the copy taken before migrating from schema ``version`` is kept."""
        return self._path.with_name(f"{self._path.name}.v{version}.bak")

    async def open(self) -> None:
        """Create or open the database (and its directory), migrating it, on the worker thread."""
        if self._executor is not None:
            raise RuntimeError("the history store is already open")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-history")
        # Set at once: calls made while opening queue behind the open on the one worker.
        self._executor = executor
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._open_sync)
        except BaseException:
            # A failed (or cancelled) open leaves neither a thread nor a connection behind.
            if self._executor is executor:
                self._executor = None
            executor.submit(self._close_sync)
            executor.shutdown(wait=False)
            raise

    async def close(self) -> None:
        """Close the database; work queued before this call still completes first."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            executor.shutdown(wait=True)  # the worker is idle by now: this returns at once

    async def __aenter__(self) -> HistoryStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writing events -------------------------------------------------------------

    async def record(
        self,
        feed_id: str,
        events: Sequence[DecodedEvent],
        *,
        cursor: str | None,
        dedupe: bool = False,
        dedupe_ids: Sequence[str | None] | None = None,
    ) -> list[StoredEvent]:
        """Store events and the feed's cursor in one transaction; return those newly stored.

        With ``dedupe``, an event whose own block carried an id already stored
        for this feed is dropped (a replay). ``dedupe_ids`` (one per event,
        ``None`` for "never a duplicate") replaces that rule with the ids a
        preset names, such as ntfy's message ids, which are not SSE ids.
        """
        if dedupe_ids is not None and len(dedupe_ids) != len(events):
            raise ValueError("dedupe_ids must name one id (or None) per event")
        ids = (
            list(dedupe_ids)
            if dedupe_ids is not None
            else [e.id if (dedupe and e.has_own_id and e.id) else None for e in events]
        )
        return await self._run(lambda: self._record_sync(feed_id, events, cursor, ids))

    def save_decisions(
        self, events: Sequence[StoredEvent]
    ) -> concurrent.futures.Future[None] | None:
        """Persist each stored event's decision (``notification`` or ``reason``); do not wait.

        Called from the loop right after the rules decided. The write queues on
        the worker behind the batch's own commit and before any later call, so
        every read made after this sees it. Failures are logged (the events are
        stored either way). Returns the pending write, or ``None`` when closed.
        """
        executor = self._executor
        if executor is None or not events:
            return None
        rows = [_decision_row(e) for e in events]
        future = executor.submit(self._save_decisions_sync, rows)
        future.add_done_callback(_log_failure)
        return future

    async def cursor(self, feed_id: str) -> str | None:
        """The feed's resume cursor (its last event ID), or ``None`` when it never had one."""
        return await self._run(lambda: self._cursor_sync(feed_id))

    # -- reading ----------------------------------------------------------------------

    async def recent(self, feed_id: str | None = None, *, limit: int = 50) -> list[StoredEvent]:
        """The newest events, newest first, of one feed or all."""
        flt = HistoryFilter(feeds=() if feed_id is None else (feed_id,))
        return (await self.page(flt, limit=limit)).rows

    async def page(
        self,
        flt: HistoryFilter | None = None,
        *,
        before: tuple[float, int] | None = None,
        limit: int = PAGE_SIZE,
    ) -> HistoryPage:
        """Up to ``limit`` rows older than the key ``before`` (``None``: the newest), newest first.

        Keyset pagination: pass ``page.next_key`` as the next ``before``; each
        row comes exactly once however many rows arrive meanwhile.
        """
        flt = flt or HistoryFilter()
        return await self._run(lambda: self._page_sync(flt, before, None, limit))

    async def newer(
        self,
        flt: HistoryFilter | None = None,
        *,
        after: tuple[float, int] | None = None,
        limit: int = PAGE_SIZE,
    ) -> HistoryPage:
        """Up to ``limit`` rows newer than the key ``after`` (``None``: from the oldest), oldest
        first: for following new events and for reading the whole selection in order."""
        flt = flt or HistoryFilter()
        return await self._run(lambda: self._page_sync(flt, None, after, limit, ascending=True))

    async def search(
        self,
        query: str,
        flt: HistoryFilter | None = None,
        *,
        order: Literal["newest", "relevance"] = "newest",
        before: tuple[float, int] | None = None,
        limit: int = PAGE_SIZE,
    ) -> HistoryPage:
        """Full text (with ``flt``'s other filters): newest first in keyset pages, or the best
        ``limit`` matches by relevance (BM25, title above body above data; one page only)."""
        base = flt or HistoryFilter()
        flt = HistoryFilter(
            feeds=base.feeds,
            types=base.types,
            min_urgency=base.min_urgency,
            since=base.since,
            until=base.until,
            unread_only=base.unread_only,
            query=query,
            raw_query=base.raw_query,
        )
        if order == "relevance":
            if before is not None:
                raise ValueError("relevance order has a single page: no 'before' key")
            return await self._run(lambda: self._relevance_sync(flt, limit))
        return await self._run(lambda: self._page_sync(flt, before, None, limit))

    async def get(self, rowid: int) -> StoredEvent | None:
        """One event by its rowid."""
        return await self._run(lambda: self._get_sync(rowid))

    async def count(self, feed_id: str | HistoryFilter | None = None) -> int:
        """How many events: all, one feed's (from the counters: cheap), or a filter's."""
        if isinstance(feed_id, HistoryFilter):
            flt = feed_id
            return await self._run(lambda: self._count_filter_sync(flt))
        return await self._run(lambda: self._count_sync(feed_id))

    async def counts(self) -> dict[str, FeedCounts]:
        """Total and unread events per feed that has any (one small table: cheap)."""
        return await self._run(self._counts_sync)

    async def unread_counts(self) -> dict[str, int]:
        """Unread events per feed (feeds with none are left out)."""
        return {f: c.unread for f, c in (await self.counts()).items() if c.unread}

    # -- read state -------------------------------------------------------------------

    async def mark_read(self, rowids: Iterable[int], *, read: bool = True) -> int:
        """Mark these events read (or unread); return how many changed."""
        ids = list(rowids)
        return await self._run(lambda: self._mark_ids_sync(ids, read))

    async def mark_feed_read(self, feed_id: str) -> int:
        """Mark every event of a feed stored so far read (in small transactions)."""
        return await self._in_batches(lambda top: self._mark_batch_sync(feed_id, top))

    async def mark_all_read(self) -> int:
        """Mark every event stored so far read (in small transactions)."""
        return await self._in_batches(lambda top: self._mark_batch_sync(None, top))

    # -- deleting ---------------------------------------------------------------------

    async def delete(self, rowids: Iterable[int]) -> int:
        """Delete these events; return how many were there."""
        ids = list(rowids)
        return await self._run(lambda: self._delete_ids_sync(ids))

    async def clear_feed(self, feed_id: str) -> int:
        """Delete a feed's events stored so far, in small transactions; its cursor stays."""
        return await self._in_batches(lambda top: self._clear_batch_sync(feed_id, top))

    async def clear_all(self) -> int:
        """Delete every event at once (cursors stay, so no feed replays its server's backlog)."""
        return await self._run(self._clear_all_sync)

    async def forget_feed(self, feed_id: str) -> None:
        """Delete a removed feed's events and cursor."""
        await self.clear_feed(feed_id)
        await self._run(lambda: self._forget_sync(feed_id))

    async def apply_retention(self, retention: Retention | None = None) -> int:
        """Delete what ``retention`` (default: DESIGN.md's) does not keep; return how many.

        Oldest first, in transactions of :data:`BATCH` rows, each its own turn on
        the worker: new events keep being stored meanwhile.
        """
        retention = retention or Retention()
        now = self._clock()
        deleted = 0
        counts = await self.counts()
        for feed_id, feed_counts in counts.items():
            rule = retention.for_feed(feed_id)
            if rule.max_age_days is not None:
                cutoff = now - rule.max_age_days * 86400.0
                deleted += await self._repeat(
                    lambda f=feed_id, c=cutoff: self._delete_older_sync(f, c)  # type: ignore[misc]
                )
            if rule.max_events is not None and feed_counts.total > rule.max_events:
                keep = rule.max_events
                deleted += await self._repeat(
                    lambda f=feed_id, k=keep: self._delete_excess_sync(f, k)  # type: ignore[misc]
                )
        if retention.max_events_total is not None:
            cap = retention.max_events_total
            deleted += await self._repeat(lambda: self._delete_excess_sync(None, cap))
        return deleted

    # -- export -----------------------------------------------------------------------

    async def export(
        self,
        out: IO[str],
        flt: HistoryFilter | None = None,
        *,
        fmt: Literal["jsonl", "csv"] = "jsonl",
        csv_formula_guard: bool = True,
        chunk: int = 1000,
    ) -> int:
        """Write the selection, oldest first, to ``out`` as JSON Lines or CSV; return the rows.

        Streamed: ``chunk`` rows are read and written per turn on the worker
        thread (which does the writing, so a slow file never blocks the loop).
        Open ``out`` with ``newline=""`` for CSV. ``csv_formula_guard`` puts a
        ``'`` before text cells that a spreadsheet would run as a formula
        (``= + - @``, tab, CR): data comes from servers. JSON Lines is exact.
        """
        flt = flt or HistoryFilter()
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            await self._run(lambda: writer.writerow(csv_header()))
        total = 0
        after: tuple[float, int] | None = None
        while True:

            def step(after: tuple[float, int] | None = after) -> HistoryPage:
                page = self._page_sync(flt, None, after, chunk, ascending=True)
                if writer is not None:
                    writer.writerows(csv_row(r, formula_guard=csv_formula_guard) for r in page.rows)
                else:
                    out.writelines(
                        json.dumps(event_to_json(r), ensure_ascii=False) + "\n" for r in page.rows
                    )
                out.flush()
                return page

            page = await self._run(step)
            total += len(page.rows)
            if page.next_key is None:
                return total
            after = page.next_key

    # -- on the worker thread ---------------------------------------------------------
    # SQL text is only ever built from constants and "?" lists (noqa: S608 below); every
    # value goes in as a parameter.

    async def _run(self, work: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("the history store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _repeat(self, step: Callable[[], int]) -> int:
        """Run ``step`` (one small transaction) until it does nothing; the rows it touched."""
        total = 0
        while n := await self._run(step):
            total += n
        return total

    async def _in_batches(self, step: Callable[[int], int]) -> int:
        """:meth:`_repeat` over rows up to the newest rowid now (later arrivals are left alone)."""
        top = await self._run(self._max_id_sync)
        return await self._repeat(lambda: step(top))

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the history store is not open")
        return self._db

    def _open_sync(self) -> None:
        try:
            self._open_db()
        except HistoryUnavailableError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise HistoryUnavailableError(self._unavailable(exc)) from exc

    def _unavailable(self, exc: BaseException) -> str:
        """Why the history cannot be opened, and what to do about it, for a person."""
        folder = self._path.parent
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        text = f"cannot open the history {self._path}: {reason}"
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            return f"{text}; the file is damaged: move it away and Tidings starts a new one"
        if "full" in reason.lower() or (isinstance(exc, OSError) and exc.errno == 28):
            return f"{text}; free some space on the disk that holds {folder}"
        return (
            f"{text}; check that {folder} exists and is writable, or choose another place "
            "with --profile-dir"
        )

    def _open_db(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                # Some file systems (network shares) cannot do WAL: still correct, slower.
                logger.warning("%s: SQLite refused WAL mode (journal mode %s)", self._path, mode)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryUnavailableError(
                    f"{self._path} was written by a newer Tidings (schema {version}); "
                    "upgrade Tidings"
                )
            self._migrate(db, version)
            row = db.execute("SELECT max(received_at) FROM events").fetchone()
            self._last_at = float(row[0] or 0.0)
        except BaseException:
            db.close()
            raise
        self._db = db

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        """Bring the file to :data:`SCHEMA_VERSION`: a backup, then one transaction, per step."""
        fresh = version == 0
        if fresh:
            # A new file (or one from before versions existed): schema 1, then onwards.
            db.executescript(_SCHEMA_V1)
            db.execute("PRAGMA user_version=1")
            version = 1
        while version < SCHEMA_VERSION:
            if db.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0]:
                self._backup(db, version)
            target = version + 1
            db.execute("BEGIN IMMEDIATE")
            try:
                # executescript would COMMIT first: run the statements one by one instead.
                for script in _MIGRATIONS[target]:
                    for statement in _statements(script):
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={target}")
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            if not fresh:  # a new file's steps are its creation, not news
                logger.info(
                    "%s: history migrated from schema %d to %d", self._path, version, target
                )
            version = target

    def _backup(self, db: sqlite3.Connection, version: int) -> None:
        """A consistent copy of the whole file (SQLite's backup API) before a migration."""
        target = self.backup_path(version)
        partial = target.with_name(target.name + ".part")
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial)
        try:
            db.backup(copy)
        finally:
            copy.close()
        partial.replace(target)
        logger.info("%s: backed up to %s before migrating", self._path, target)

    def _close_sync(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA optimize")
            self._db.close()
            self._db = None

    def _record_sync(
        self,
        feed_id: str,
        events: Sequence[DecodedEvent],
        cursor: str | None,
        dedupe_ids: Sequence[str | None],
    ) -> list[StoredEvent]:
        db = self._conn()
        # Never before the newest stored time: arrival order and time order stay one order.
        now = max(self._clock(), self._last_at)
        stored: list[StoredEvent] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for index, (event, dedupe_id) in enumerate(zip(events, dedupe_ids, strict=True)):
                cur = db.execute(
                    _INSERT_EVENT,
                    (feed_id, event.type, event.data, event.id, event.has_own_id, dedupe_id, now),
                )
                if cur.rowcount:
                    assert cur.lastrowid is not None
                    stored.append(
                        StoredEvent(
                            rowid=cur.lastrowid,
                            feed_id=feed_id,
                            type=event.type,
                            data=event.data,
                            event_id=event.id,
                            has_own_id=event.has_own_id,
                            received_at=now,
                            reason=UNDECIDED,
                            batch_index=index,
                        )
                    )
            if cursor is not None:
                db.execute(
                    "INSERT INTO cursors (feed_id, last_event_id, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (feed_id) DO UPDATE SET last_event_id = excluded.last_event_id, "
                    "updated_at = excluded.updated_at",
                    (feed_id, cursor, now),
                )
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        if stored:
            self._last_at = now
        return stored

    def _save_decisions_sync(self, rows: Sequence[tuple[Any, ...]]) -> None:
        db = self._conn()
        shown = [r for r in rows if r[2] is not None]
        hidden = [(r[4], r[5]) for r in rows if r[2] is None]
        db.execute("BEGIN IMMEDIATE")
        try:
            if shown:
                db.executemany(
                    "UPDATE events SET title = ?, body = ?, urgency = ?, url = ?, reason = '' "
                    "WHERE id = ?",
                    [(r[0], r[1], r[2], r[3], r[5]) for r in shown],
                )
            if hidden:
                db.executemany(
                    "UPDATE events SET title = NULL, body = NULL, urgency = NULL, url = NULL, "
                    "reason = ? WHERE id = ?",
                    hidden,
                )
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise

    def _cursor_sync(self, feed_id: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT last_event_id FROM cursors WHERE feed_id = ?", (feed_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def _max_id_sync(self) -> int:
        return int(self._conn().execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def _time_bounds(self, flt: HistoryFilter) -> tuple[int | None, int | None]:
        """The rowid range of ``[since, until)``: time order is rowid order (see the module)."""
        db = self._conn()
        low = high = None
        if flt.since is not None:
            row = db.execute(
                "SELECT id FROM events WHERE received_at >= ? ORDER BY received_at, id LIMIT 1",
                (flt.since,),
            ).fetchone()
            low = row[0] if row else 1 << 62
        if flt.until is not None:
            row = db.execute(
                "SELECT id FROM events WHERE received_at < ? "
                "ORDER BY received_at DESC, id DESC LIMIT 1",
                (flt.until,),
            ).fetchone()
            high = row[0] if row else 0
        return low, high

    def _where(self, flt: HistoryFilter, id_col: str) -> tuple[list[str], list[Any]]:
        """SQL conditions (on ``e``) and their parameters for everything but the text query."""
        where: list[str] = []
        params: list[Any] = []
        if flt.feeds:
            where.append(f"e.feed_id IN ({','.join('?' * len(flt.feeds))})")
            params += flt.feeds
        if flt.types:
            where.append(f"e.type IN ({','.join('?' * len(flt.types))})")
            params += flt.types
        if flt.min_urgency is not None:
            where.append("e.urgency >= ?")
            params.append(flt.min_urgency.rank)
        if flt.unread_only:
            where.append("e.read = 0")  # a literal, so that the partial unread indexes apply
        low, high = self._time_bounds(flt)
        if low is not None:
            where.append(f"{id_col} >= ?")
            params.append(low)
            where.append("e.received_at >= ?")
            params.append(flt.since)
        if high is not None:
            where.append(f"{id_col} <= ?")
            params.append(high)
            where.append("e.received_at < ?")
            params.append(flt.until)
        return where, params

    def _select(
        self, flt: HistoryFilter, id_col: str, where: list[str], params: list[Any]
    ) -> tuple[str, list[Any]]:
        if flt.query:
            match = flt.query if flt.raw_query else fts_query(flt.query)
            # The full-text index drives (in rowid order, so LIMIT stops it early).
            sql = (
                f"SELECT {_COLUMNS} FROM events_fts f CROSS JOIN events e ON e.id = f.rowid "  # noqa: S608
                "WHERE events_fts MATCH ?"
            )
            params = [match, *params]
        else:
            sql = f"SELECT {_COLUMNS} FROM events e WHERE 1"  # noqa: S608
        return sql + "".join(f" AND {w}" for w in where), params

    def _page_sync(
        self,
        flt: HistoryFilter,
        before: tuple[float, int] | None,
        after: tuple[float, int] | None,
        limit: int,
        *,
        ascending: bool = False,
    ) -> HistoryPage:
        if limit < 1:
            raise ValueError("limit must be 1 or more")
        id_col = "f.rowid" if flt.query else "e.id"
        where, params = self._where(flt, id_col)
        if before is not None:
            where.append(f"{id_col} < ?")
            params.append(before[1])
        if after is not None:
            where.append(f"{id_col} > ?")
            params.append(after[1])
        sql, params = self._select(flt, id_col, where, params)
        sql += f" ORDER BY {id_col} {'ASC' if ascending else 'DESC'} LIMIT ?"
        rows = [_row(r) for r in self._conn().execute(sql, [*params, limit])]
        next_key = rows[-1].key if len(rows) == limit else None
        return HistoryPage(rows, next_key)

    def _relevance_sync(self, flt: HistoryFilter, limit: int) -> HistoryPage:
        where, params = self._where(flt, "f.rowid")
        sql, params = self._select(flt, "f.rowid", where, params)
        weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
        sql += f" ORDER BY bm25(events_fts, {weights}), f.rowid DESC LIMIT ?"
        return HistoryPage([_row(r) for r in self._conn().execute(sql, [*params, limit])], None)

    def _get_sync(self, rowid: int) -> StoredEvent | None:
        sql = f"SELECT {_COLUMNS} FROM events e WHERE e.id = ?"  # noqa: S608
        found = self._conn().execute(sql, (rowid,)).fetchone()
        return None if found is None else _row(found)

    def _count_sync(self, feed_id: str | None) -> int:
        db = self._conn()
        if feed_id is None:
            return int(db.execute("SELECT coalesce(sum(total), 0) FROM feed_stats").fetchone()[0])
        row = db.execute("SELECT total FROM feed_stats WHERE feed_id = ?", (feed_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def _count_filter_sync(self, flt: HistoryFilter) -> int:
        if flt == HistoryFilter():
            return self._count_sync(None)
        if flt == HistoryFilter(feeds=flt.feeds):
            return sum(self._count_sync(f) for f in dict.fromkeys(flt.feeds))
        if flt == HistoryFilter(feeds=flt.feeds, unread_only=True):
            counts = self._counts_sync()
            chosen = flt.feeds or tuple(counts)
            return sum(counts[f].unread for f in dict.fromkeys(chosen) if f in counts)
        id_col = "f.rowid" if flt.query else "e.id"
        where, params = self._where(flt, id_col)
        sql, params = self._select(flt, id_col, where, params)
        sql = sql.replace(f"SELECT {_COLUMNS} FROM", "SELECT count(*) FROM", 1)
        return int(self._conn().execute(sql, params).fetchone()[0])

    def _counts_sync(self) -> dict[str, FeedCounts]:
        rows = self._conn().execute(
            "SELECT feed_id, total, unread FROM feed_stats WHERE total > 0 ORDER BY feed_id"
        )
        return {r[0]: FeedCounts(int(r[1]), int(r[2])) for r in rows}

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        """One statement in its own transaction; the rows it changed."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            changed = db.execute(sql, params).rowcount
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return int(changed)

    def _mark_ids_sync(self, ids: Sequence[int], read: bool) -> int:
        total = 0
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            total += self._write(
                f"UPDATE events SET read = ? WHERE read != ? AND id IN ({marks})",  # noqa: S608
                [int(read), int(read), *part],
            )
        return total

    def _mark_batch_sync(self, feed_id: str | None, top: int) -> int:
        if feed_id is None:
            inner = "SELECT id FROM events WHERE read = 0 AND id <= ? ORDER BY id LIMIT ?"
            params: list[Any] = [top, BATCH]
        else:
            inner = (
                "SELECT id FROM events WHERE feed_id = ? AND read = 0 AND id <= ? "
                "ORDER BY feed_id, id LIMIT ?"
            )
            params = [feed_id, top, BATCH]
        return self._write(f"UPDATE events SET read = 1 WHERE id IN ({inner})", params)  # noqa: S608

    def _delete_ids_sync(self, ids: Sequence[int]) -> int:
        total = 0
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            total += self._write(
                f"DELETE FROM events WHERE id IN ({','.join('?' * len(part))})",  # noqa: S608
                part,
            )
        return total

    def _clear_batch_sync(self, feed_id: str, top: int) -> int:
        return self._write(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE feed_id = ? AND id <= ? "
            "ORDER BY feed_id, id LIMIT ?)",
            (feed_id, top, BATCH),
        )

    def _delete_older_sync(self, feed_id: str, cutoff: float) -> int:
        return self._write(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE feed_id = ? "
            "AND received_at < ? ORDER BY feed_id, id LIMIT ?)",
            (feed_id, cutoff, BATCH),
        )

    def _delete_excess_sync(self, feed_id: str | None, keep: int) -> int:
        """Delete up to :data:`BATCH` of the oldest events beyond ``keep`` (of a feed, or all)."""
        excess = self._count_sync(feed_id) - keep
        if excess <= 0:
            return 0
        if feed_id is None:
            inner = "SELECT id FROM events ORDER BY id LIMIT ?"
            params: list[Any] = [min(excess, BATCH)]
        else:
            inner = "SELECT id FROM events WHERE feed_id = ? ORDER BY feed_id, id LIMIT ?"
            params = [feed_id, min(excess, BATCH)]
        return self._write(f"DELETE FROM events WHERE id IN ({inner})", params)  # noqa: S608

    def _clear_all_sync(self) -> int:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            count = int(db.execute("SELECT coalesce(sum(total), 0) FROM feed_stats").fetchone()[0])
            # Without triggers SQLite empties the table in one go instead of row by row.
            for name in _TRIGGER_NAMES:
                db.execute(f"DROP TRIGGER {name}")
            db.execute("DELETE FROM events")
            db.execute("INSERT INTO events_fts (events_fts) VALUES ('delete-all')")
            db.execute("DELETE FROM feed_stats")
            for statement in _statements(_TRIGGERS):
                db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return count

    def _forget_sync(self, feed_id: str) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM events WHERE feed_id = ?", (feed_id,))
            db.execute("DELETE FROM cursors WHERE feed_id = ?", (feed_id,))
            db.execute("DELETE FROM feed_stats WHERE feed_id = ?", (feed_id,))
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise


# -- rows and their outside shapes -------------------------------------------------------


def _row(r: Sequence[Any]) -> StoredEvent:
    urgency = r[10]
    notification = None
    if urgency is not None:
        notification = Notification(
            title=r[8] or "",
            body=r[9] or "",
            urgency=_URGENCY_BY_RANK.get(int(urgency), Urgency.NORMAL),
            url=r[11] or "",
            feed_id=r[1],
        )
    return StoredEvent(
        rowid=r[0],
        feed_id=r[1],
        type=r[2],
        data=r[3],
        event_id=r[4],
        has_own_id=bool(r[5]),
        received_at=r[6],
        read=bool(r[7]),
        notification=notification,
        reason=UNDECIDED if r[12] is None else r[12],
    )


def _decision_row(event: StoredEvent) -> tuple[Any, ...]:
    """(title, body, urgency rank or None, url, reason, rowid) for the decision update."""
    n = event.notification
    if n is None:
        return (None, None, None, None, event.reason or UNDECIDED, event.rowid)
    return (n.title, n.body, n.urgency.rank, n.url, "", event.rowid)


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="milliseconds")


def event_to_json(event: StoredEvent) -> dict[str, Any]:
    """One event as JSON (export, ``tidings history --json``): every stored field."""
    n = event.notification
    return {
        "rowid": event.rowid,
        "feed": event.feed_id,
        "event": event.type,
        "data": event.data,
        "id": event.event_id,
        "own_id": event.has_own_id,
        "received_at": event.received_at,
        "time": _iso(event.received_at),
        "read": event.read,
        "notification": None
        if n is None
        else {"title": n.title, "body": n.body, "urgency": n.urgency.value, "url": n.url},
        "reason": event.reason,
    }


_CSV_FIELDS = (
    "rowid",
    "feed",
    "time",
    "received_at",
    "event",
    "id",
    "read",
    "shown",
    "title",
    "body",
    "urgency",
    "url",
    "reason",
    "data",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_header() -> list[str]:
    return list(_CSV_FIELDS)


def csv_row(event: StoredEvent, *, formula_guard: bool = True) -> list[str]:
    """One event as a CSV row (the columns of :func:`csv_header`)."""
    n = event.notification

    def text(value: str) -> str:
        if formula_guard and value.startswith(_FORMULA_START):
            return "'" + value
        return value

    return [
        str(event.rowid),
        text(event.feed_id),
        _iso(event.received_at),
        repr(event.received_at),
        text(event.type),
        text(event.event_id),
        "1" if event.read else "0",
        "1" if n is not None else "0",
        text(n.title) if n else "",
        text(n.body) if n else "",
        n.urgency.value if n else "",
        text(n.url) if n else "",
        text(event.reason),
        text(event.data),
    ]


_WORD = re.compile(r"\S+")


def fts_query(text: str) -> str:
    """Words typed by a person as an FTS5 query: each one a quoted string (so ``-``, ``:``
    and quotes are just characters), all required; a trailing ``*`` keeps prefix search."""
    terms = []
    for word in _WORD.findall(text):
        prefix = word.endswith("*") and len(word) > 1
        core = word[:-1] if prefix else word
        core = core.replace('"', '""')
        terms.append(f'"{core}"' + ("*" if prefix else ""))
    if not terms:
        raise ValueError("the search has no words")
    return " AND ".join(terms)


def _statements(script: str) -> list[str]:
    """A script's statements (``sqlite3.complete_statement`` finds where triggers end)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some on its own, e.g. disk full)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        logger.error("cannot save the decisions of stored events: %s", exc)
