"""The history store: every event kept in SQLite, with each feed's resume cursor.

One worker thread owns the connection, so the event loop never waits on the
disk; callers await coroutines. Events and the feed's cursor are committed in
one transaction, so after a crash the cursor never points past an event that
was not stored (resume replays it) nor behind one that was (de-duplication
drops it where ids are stable).

De-duplication uses only ids that an event's own block carried, and only for
feeds whose ids are stable across connections (SSE.md section 5): the caller
says which by passing ``dedupe=True``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tidings.core.decoder import DecodedEvent
from tidings.core.notification import Notification

__all__ = ["SCHEMA_VERSION", "HistoryStore", "StoredEvent"]

SCHEMA_VERSION = 1
T = TypeVar("T")

logger = logging.getLogger(__name__)

# Only the de-duplication index may turn an insert into a no-op. ``INSERT OR IGNORE``
# would also skip a row that breaks NOT NULL (silently losing it while the cursor
# moves past it), so the conflict target is spelled out.
_INSERT_EVENT = (
    "INSERT INTO events (feed_id, type, data, event_id, own_id, dedupe_id, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (feed_id, dedupe_id) WHERE dedupe_id IS NOT NULL DO NOTHING"
)

_SCHEMA = """
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
    """What the preset (and later the rules) made of it; not yet persisted."""
    reason: str = field(default="", compare=False)
    """Why there is no notification (keep-alive, control, muted...)."""
    withdraw_key: str = field(default="", compare=False)
    """A replace key whose notification the server withdrew (ntfy ``message_delete``)."""
    batch_index: int = field(default=-1, compare=False)
    """Its position in the batch given to :meth:`HistoryStore.record` (to line results up)."""


class HistoryStore:
    """SQLite (WAL) on one worker thread. Open with ``await store.open()``; close when done."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def is_open(self) -> bool:
        return self._executor is not None

    async def open(self) -> None:
        """Create or open the database (and its directory) on the worker thread."""
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

    async def cursor(self, feed_id: str) -> str | None:
        """The feed's resume cursor (its last event ID), or ``None`` when it never had one."""
        return await self._run(lambda: self._cursor_sync(feed_id))

    async def recent(self, feed_id: str | None = None, *, limit: int = 50) -> list[StoredEvent]:
        """The newest events, newest first, of one feed or all."""
        return await self._run(lambda: self._recent_sync(feed_id, limit))

    async def count(self, feed_id: str | None = None) -> int:
        return await self._run(lambda: self._count_sync(feed_id))

    async def forget_feed(self, feed_id: str) -> None:
        """Delete a removed feed's events and cursor."""
        await self._run(lambda: self._forget_sync(feed_id))

    # -- on the worker thread ---------------------------------------------------

    async def _run(self, work: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("the history store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the history store is not open")
        return self._db

    def _open_sync(self) -> None:
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
                raise sqlite3.DatabaseError(
                    f"{self._path} was written by a newer Tidings (schema {version}); "
                    "upgrade Tidings"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _close_sync(self) -> None:
        if self._db is not None:
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
        now = self._clock()
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
        return stored

    def _cursor_sync(self, feed_id: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT last_event_id FROM cursors WHERE feed_id = ?", (feed_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def _recent_sync(self, feed_id: str | None, limit: int) -> list[StoredEvent]:
        query = "SELECT id, feed_id, type, data, event_id, own_id, received_at, read FROM events "
        params: tuple[object, ...]
        if feed_id is None:
            query += "ORDER BY id DESC LIMIT ?"
            params = (limit,)
        else:
            query += "WHERE feed_id = ? ORDER BY id DESC LIMIT ?"
            params = (feed_id, limit)
        return [
            StoredEvent(
                rowid=r[0],
                feed_id=r[1],
                type=r[2],
                data=r[3],
                event_id=r[4],
                has_own_id=bool(r[5]),
                received_at=r[6],
                read=bool(r[7]),
            )
            for r in self._conn().execute(query, params)
        ]

    def _count_sync(self, feed_id: str | None) -> int:
        db = self._conn()
        if feed_id is None:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        return int(
            db.execute("SELECT count(*) FROM events WHERE feed_id = ?", (feed_id,)).fetchone()[0]
        )

    def _forget_sync(self, feed_id: str) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM events WHERE feed_id = ?", (feed_id,))
            db.execute("DELETE FROM cursors WHERE feed_id = ?", (feed_id,))
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some on its own, e.g. disk full)."""
    if db.in_transaction:
        db.execute("ROLLBACK")
