"""The history store: events and cursor in one transaction, de-duplication, WAL, crash safety.

Every test uses a real SQLite file in ``tmp_path``. The crash test runs a
writer in a child process and kills it with SIGKILL at random moments.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidings.core.decoder import DecodedEvent
from tidings.core.history import SCHEMA_VERSION, HistoryStore

LIMIT = 10.0  # bound of each async test body (seconds)


def ev(event_id: str, data: str = "x", *, own: bool = True, type_: str = "message") -> DecodedEvent:
    return DecodedEvent(type=type_, data=data, id=event_id, has_own_id=own)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    s = HistoryStore(tmp_path / "data" / "history.sqlite3")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def history_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tidings-history")]


async def test_record_stores_events_and_cursor(store: HistoryStore) -> None:
    """record() stores each event (newest first in recent()) and the feed's cursor."""
    async with asyncio.timeout(LIMIT):
        stored = await store.record(
            "f1", [ev("1", "a"), ev("2", "b", type_="tick")], cursor="2", dedupe=False
        )
        assert [(s.event_id, s.data, s.type, s.has_own_id) for s in stored] == [
            ("1", "a", "message", True),
            ("2", "b", "tick", True),
        ]
        assert await store.cursor("f1") == "2"
        assert await store.cursor("other") is None
        assert await store.count("f1") == 2
        assert await store.count() == 2
        recent = await store.recent("f1")
        assert [r.event_id for r in recent] == ["2", "1"]
        assert recent[0].rowid == stored[1].rowid


async def test_cursor_none_leaves_cursor_and_empty_cursor_is_kept(store: HistoryStore) -> None:
    """cursor=None leaves the stored cursor alone; an empty cursor (an id reset) is stored."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("7")], cursor="7", dedupe=False)
        await store.record("f", [ev("7", own=False)], cursor=None, dedupe=False)
        assert await store.cursor("f") == "7"
        await store.record("f", [ev("", own=True)], cursor="", dedupe=False)
        assert await store.cursor("f") == ""


async def test_failed_insert_mid_batch_changes_nothing(store: HistoryStore) -> None:
    """An insert failing mid-batch rolls back the whole batch: no event and no cursor change."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("1")], cursor="1", dedupe=True)
        unbindable = DecodedEvent(type="message", data=object(), id="3", has_own_id=True)  # type: ignore[arg-type]
        with pytest.raises(sqlite3.Error):
            await store.record("f", [ev("2"), unbindable, ev("4")], cursor="4", dedupe=True)
        assert await store.cursor("f") == "1"
        assert [e.event_id for e in await store.recent("f")] == ["1"]
        # The store still works, and "2" was not remembered as a duplicate.
        stored = await store.record("f", [ev("2")], cursor="2", dedupe=True)
        assert [s.event_id for s in stored] == ["2"]


async def test_constraint_violation_is_an_error_not_a_silent_skip(store: HistoryStore) -> None:
    """A row breaking NOT NULL fails the batch instead of being skipped while the cursor moves."""
    async with asyncio.timeout(LIMIT):
        bad = DecodedEvent(type="message", data=None, id="2", has_own_id=True)  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError):
            await store.record("f", [ev("1"), bad], cursor="2", dedupe=False)
        assert await store.cursor("f") is None
        assert await store.count("f") == 0


async def test_dedupe_drops_replayed_own_ids(store: HistoryStore) -> None:
    """With dedupe, an event whose own block carried an id already stored is dropped."""
    async with asyncio.timeout(LIMIT):
        first = await store.record("f", [ev("a"), ev("b")], cursor="b", dedupe=True)
        again = await store.record("f", [ev("a"), ev("b"), ev("c")], cursor="c", dedupe=True)
        assert [s.event_id for s in first] == ["a", "b"]
        assert [s.event_id for s in again] == ["c"]
        assert await store.cursor("f") == "c"
        # A repeat inside one batch is a replay too.
        same = await store.record("f", [ev("d"), ev("d")], cursor="d", dedupe=True)
        assert [s.event_id for s in same] == ["d"]
        assert await store.count("f") == 4


async def test_dedupe_keeps_sticky_and_empty_ids(store: HistoryStore) -> None:
    """Dedupe never drops an event with an inherited (sticky) id or an empty id."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("a")], cursor="a", dedupe=True)
        sticky = await store.record(
            "f", [ev("a", "next", own=False), ev("a", "again", own=False)], cursor="a", dedupe=True
        )
        empty = await store.record("f", [ev("", "e1"), ev("", "e2")], cursor="", dedupe=True)
        assert [s.data for s in sticky] == ["next", "again"]
        assert [s.data for s in empty] == ["e1", "e2"]
        # A sticky copy stored first does not block the real own-id event either.
        await store.record("g", [ev("z", own=False)], cursor="z", dedupe=True)
        own = await store.record("g", [ev("z")], cursor="z", dedupe=True)
        assert len(own) == 1
        assert await store.count() == 7


async def test_without_dedupe_duplicates_are_kept(store: HistoryStore) -> None:
    """dedupe=False (plain ids, which restart) keeps every event, even with repeated own ids."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("1"), ev("2")], cursor="2", dedupe=False)
        again = await store.record("f", [ev("1"), ev("2")], cursor="2", dedupe=False)
        assert len(again) == 2
        assert await store.count("f") == 4


async def test_dedupe_is_per_feed(store: HistoryStore) -> None:
    """The same id on two feeds is two events."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("1")], cursor="1", dedupe=True)
        other = await store.record("g", [ev("1")], cursor="1", dedupe=True)
        assert len(other) == 1


async def test_cursor_and_events_survive_reopen(tmp_path: Path) -> None:
    """Closing and reopening the store (a restart) keeps the cursor, the events and dedupe."""
    async with asyncio.timeout(LIMIT):
        path = tmp_path / "h.sqlite3"
        async with HistoryStore(path) as first:
            await first.record("f", [ev("1"), ev("2")], cursor="2", dedupe=True)
        async with HistoryStore(path) as second:
            assert await second.cursor("f") == "2"
            assert await second.count("f") == 2
            assert await second.record("f", [ev("2")], cursor="2", dedupe=True) == []
        assert not history_threads()


async def test_forget_feed(store: HistoryStore) -> None:
    """forget_feed deletes one feed's events, cursor and dedupe memory; others stay."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("1")], cursor="1", dedupe=True)
        await store.record("g", [ev("1")], cursor="1", dedupe=True)
        await store.forget_feed("f")
        assert await store.cursor("f") is None
        assert await store.count("f") == 0
        assert await store.count("g") == 1
        assert await store.cursor("g") == "1"
        assert len(await store.record("f", [ev("1")], cursor="1", dedupe=True)) == 1


async def test_wal_mode_is_on(store: HistoryStore) -> None:
    """The database is in WAL mode (readers never block the writer)."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("1")], cursor="1", dedupe=False)
        with sqlite3.connect(store.path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    """A store that is not open raises a clear RuntimeError; open twice is refused."""
    async with asyncio.timeout(LIMIT):
        store = HistoryStore(tmp_path / "h.sqlite3")
        with pytest.raises(RuntimeError, match="not open"):
            await store.cursor("f")
        await store.open()
        with pytest.raises(RuntimeError, match="already open"):
            await store.open()
        await store.close()
        await store.close()  # idempotent
        with pytest.raises(RuntimeError, match="not open"):
            await store.record("f", [ev("1")], cursor="1", dedupe=False)


async def test_newer_schema_is_refused_without_leaking(tmp_path: Path) -> None:
    """A database from a newer Tidings is refused, and the failed open leaves no thread behind."""
    async with asyncio.timeout(LIMIT):
        path = tmp_path / "h.sqlite3"
        with sqlite3.connect(path) as db:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        store = HistoryStore(path)
        with pytest.raises(sqlite3.DatabaseError, match="newer Tidings"):
            await store.open()
        assert not store.is_open
        for _ in range(100):
            if not history_threads():
                break
            await asyncio.sleep(0.01)
        assert not history_threads()


async def test_big_batch_does_not_block_the_loop(store: HistoryStore) -> None:
    """While a large batch is written, another task on the loop keeps ticking."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set() and len(ticks) < 100_000:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.001)

    batch = [ev(str(i), "payload " * 20) for i in range(80_000)]
    async with asyncio.timeout(30):
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        started = time.monotonic()
        stored = await store.record("f", batch, cursor=batch[-1].id, dedupe=True)
        elapsed = time.monotonic() - started
        done.set()
        await task
    assert len(stored) == len(batch)
    during = [t for t in ticks if t >= started]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert elapsed > 0.1, "the batch was too small to show anything"
    # A blocked loop would not tick at all until the batch is done: here it ticked all along.
    assert len(during) >= 10
    assert max(gaps, default=elapsed) < elapsed / 2


# -- kill -9 -------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import asyncio, random, sys
    from pathlib import Path
    from tidings.core.decoder import DecodedEvent
    from tidings.core.history import HistoryStore

    async def main() -> None:
        store = HistoryStore(Path(sys.argv[1]))
        await store.open()
        rnd = random.Random(int(sys.argv[2]))
        feeds = ["f0", "f1", "f2"]
        counters = {}
        for f in feeds:
            cursor = await store.cursor(f)
            counters[f] = int(cursor) if cursor else 0
        announced = False
        for _ in range(100_000):
            f = rnd.choice(feeds)
            n = counters[f]
            size = rnd.randint(1, 300)
            batch = [
                DecodedEvent("message", "data %d " % i * rnd.randint(1, 30), str(i), True)
                for i in range(n + 1, n + 1 + size)
            ]
            await store.record(f, batch, cursor=batch[-1].id, dedupe=rnd.random() < 0.5)
            counters[f] = n + size
            if not announced:
                print("ready", flush=True)
                announced = True

    asyncio.run(main())
    """
)


def check_crashed_database(path: Path) -> dict[str, int]:
    """Integrity holds, and each feed's cursor is its newest stored event's id."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        cursors = dict(db.execute("SELECT feed_id, last_event_id FROM cursors").fetchall())
        newest = dict(
            db.execute(
                "SELECT feed_id, event_id FROM events WHERE id IN "
                "(SELECT max(id) FROM events GROUP BY feed_id)"
            ).fetchall()
        )
        assert cursors == newest
        counts = dict(db.execute("SELECT feed_id, count(*) FROM events GROUP BY feed_id"))
        for feed, cursor in cursors.items():
            # Ids run 1..cursor with neither gap nor repeat: no committed batch was torn.
            assert counts[feed] == int(cursor)
    return {feed: int(cursor) for feed, cursor in cursors.items()}


def test_kill_9_while_writing_leaves_a_consistent_database(tmp_path: Path) -> None:
    """SIGKILL of a process writing batches in a loop, ~20 times: the database stays consistent."""
    path = tmp_path / "history.sqlite3"
    rnd = random.Random(1234)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    progress: list[int] = []
    deadline = time.monotonic() + 60
    for round_ in range(20):
        assert time.monotonic() < deadline, "the kill -9 rounds took too long"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the writer's first batch is committed
            assert line == b"ready\n", proc.stderr.read() if proc.stderr else b""
            time.sleep(rnd.uniform(0.0, 0.15))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        assert proc.returncode == -signal.SIGKILL
        progress.append(sum(check_crashed_database(path).values()))
    # The writer kept making progress across crashes (each round resumed from the cursors).
    assert progress == sorted(progress)
    assert progress[-1] > progress[0]

    async def reopen() -> None:
        async with HistoryStore(path) as store:
            for feed in ("f0", "f1", "f2"):
                cursor = await store.cursor(feed)
                if cursor is not None:
                    newest = await store.recent(feed, limit=1)
                    assert newest[0].event_id == cursor

    asyncio.run(reopen())
