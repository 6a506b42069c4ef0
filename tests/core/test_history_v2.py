"""History schema 2: migration, decisions, full-text search, pages, read state, retention, export.

Every test uses a real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidings.core.decoder import DecodedEvent
from tidings.core.history import (
    SCHEMA_VERSION,
    UNDECIDED,
    FeedRetention,
    HistoryFilter,
    HistoryStore,
    Retention,
    StoredEvent,
    fts_query,
)
from tidings.core.notification import Notification, Urgency

LIMIT = 20.0  # bound of each async test body (seconds)

# The schema the first store (schema 1) created, verbatim.
V1_SCHEMA = """
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


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ev(data: str, event_id: str = "", *, type_: str = "message") -> DecodedEvent:
    return DecodedEvent(type=type_, data=data, id=event_id, has_own_id=bool(event_id))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[HistoryStore]:
    s = HistoryStore(tmp_path / "history.sqlite3", clock=clock)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def decide(store: HistoryStore, events: list[StoredEvent]) -> None:
    future = store.save_decisions(events)
    assert future is not None
    await asyncio.wrap_future(future)


def shown(
    event: StoredEvent, title: str, body: str = "", urgency: Urgency = Urgency.NORMAL
) -> StoredEvent:
    from dataclasses import replace

    note = Notification(title=title, body=body, urgency=urgency, url="https://example.org/x")
    return replace(event, notification=note, reason="")


def hidden(event: StoredEvent, reason: str) -> StoredEvent:
    from dataclasses import replace

    return replace(event, notification=None, reason=reason)


async def test_migration_from_v1_keeps_data_and_backs_up(tmp_path: Path) -> None:
    """A schema 1 file migrates to 2: rows, cursors and dedupe intact, a backup left beside it."""
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.executemany(
            "INSERT INTO events (feed_id, type, data, event_id, own_id, dedupe_id, received_at, "
            "read) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("f", "message", "deploy finished on prod", "1", 1, "1", 100.0, 0),
                ("f", "message", "build failed", "2", 1, "2", 101.0, 1),
                ("g", "tick", "heartbeat", "", 0, None, 102.0, 0),
            ],
        )
        db.execute("INSERT INTO cursors VALUES ('f', '2', 101.0)")
        db.execute("PRAGMA user_version=1")
    db.close()
    async with asyncio.timeout(LIMIT):
        async with HistoryStore(path) as store:
            assert await store.cursor("f") == "2"
            rows = (await store.page()).rows
            assert [(r.feed_id, r.data, r.read) for r in rows] == [
                ("g", "heartbeat", False),
                ("f", "build failed", True),
                ("f", "deploy finished on prod", False),
            ]
            assert all(r.reason == UNDECIDED and r.notification is None for r in rows)
            # The full-text index covers what was there before.
            found = await store.search("prod")
            assert [r.data for r in found.rows] == ["deploy finished on prod"]
            assert await store.unread_counts() == {"f": 1, "g": 1}
            # Dedupe memory survived.
            assert await store.record("f", [ev("again", "1")], cursor="1", dedupe=True) == []
        backup = store.backup_path(1)
        assert backup.exists()
        with sqlite3.connect(backup) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 1
            assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 3
        db.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


async def test_new_file_needs_no_backup(tmp_path: Path) -> None:
    """A new (empty) store is created at the current schema with no backup file."""
    async with asyncio.timeout(LIMIT), HistoryStore(tmp_path / "h.sqlite3") as store:
        assert not store.backup_path(1).exists()
        assert await store.count() == 0


async def test_decisions_are_persisted(store: HistoryStore) -> None:
    """save_decisions stores the shown notification or the reason; reads give them back."""
    async with asyncio.timeout(LIMIT):
        a, b, c = await store.record("f", [ev("one"), ev("two"), ev("three")], cursor=None)
        await decide(store, [shown(a, "Deploy", "all green", Urgency.CRITICAL), hidden(b, "muted")])
        rows = {r.rowid: r for r in (await store.page()).rows}
        note = rows[a.rowid].notification
        assert note is not None
        assert (note.title, note.body, note.urgency, note.url) == (
            "Deploy",
            "all green",
            Urgency.CRITICAL,
            "https://example.org/x",
        )
        assert rows[a.rowid].reason == ""
        assert rows[b.rowid].notification is None
        assert rows[b.rowid].reason == "muted"
        assert rows[c.rowid].reason == UNDECIDED
        # Title and body are searchable once decided.
        assert [r.rowid for r in (await store.search("green")).rows] == [a.rowid]


async def test_search_ranks_title_above_body_above_data(store: HistoryStore) -> None:
    """Relevance order puts a title match first, then body, then data; newest order is by time."""
    async with asyncio.timeout(LIMIT):
        data_hit, body_hit, title_hit, miss = await store.record(
            "f", [ev("zebra in data"), ev("x"), ev("y"), ev("nothing")], cursor=None
        )
        await decide(
            store,
            [
                shown(body_hit, "plain", "a zebra in the body"),
                shown(title_hit, "zebra crossing", "b"),
                hidden(data_hit, "filtered"),
                hidden(miss, "filtered"),
            ],
        )
        best = await store.search("zebra", order="relevance")
        assert [r.rowid for r in best.rows] == [title_hit.rowid, body_hit.rowid, data_hit.rowid]
        newest = await store.search("zebra")
        assert [r.rowid for r in newest.rows] == [title_hit.rowid, body_hit.rowid, data_hit.rowid]
        assert await store.count(HistoryFilter(query="zebra")) == 3


async def test_search_filters_combine(store: HistoryStore, clock: Clock) -> None:
    """Feed, type, urgency, time range and unread filters combine with the text query."""
    async with asyncio.timeout(LIMIT):
        (a,) = await store.record("ci", [ev("alpha build", type_="build")], cursor=None)
        clock.now += 60
        (b,) = await store.record("ci", [ev("alpha deploy", type_="deploy")], cursor=None)
        clock.now += 60
        (c,) = await store.record("ops", [ev("alpha page", type_="build")], cursor=None)
        await decide(
            store, [shown(a, "t", urgency=Urgency.LOW), shown(c, "t", urgency=Urgency.CRITICAL)]
        )
        await decide(store, [hidden(b, "quiet")])
        await store.mark_read([b.rowid])

        async def ids(**kw: object) -> list[int]:
            flt = HistoryFilter(query="alpha", **kw)  # type: ignore[arg-type]
            page = await store.page(flt)
            assert await store.count(flt) == len(page.rows)
            return [r.rowid for r in page.rows]

        assert await ids() == [c.rowid, b.rowid, a.rowid]
        assert await ids(feeds=("ci",)) == [b.rowid, a.rowid]
        assert await ids(types=("build",)) == [c.rowid, a.rowid]
        assert await ids(min_urgency=Urgency.NORMAL) == [c.rowid]
        assert await ids(min_urgency=Urgency.LOW) == [c.rowid, a.rowid]
        assert await ids(unread_only=True) == [c.rowid, a.rowid]
        assert await ids(since=a.received_at + 1) == [c.rowid, b.rowid]
        assert await ids(until=c.received_at) == [b.rowid, a.rowid]
        assert await ids(since=b.received_at, until=b.received_at + 1) == [b.rowid]
        assert await ids(feeds=("ci",), unread_only=True, types=("build",)) == [a.rowid]
        assert await ids(since=c.received_at + 1) == []


async def test_query_words_are_literal(store: HistoryStore) -> None:
    """Typed words are literal (hyphens, colons, quotes, operators); '*' keeps prefix search."""
    async with asyncio.timeout(LIMIT):
        await store.record(
            "f",
            [ev('build-42 failed: "NEAR" the end'), ev("OR gate"), ev("prefixes matter")],
            cursor=None,
        )
        assert len((await store.search("build-42")).rows) == 1
        assert len((await store.search('failed: "near')).rows) == 1
        assert len((await store.search("OR")).rows) == 1
        assert len((await store.search("prefix*")).rows) == 1
        assert len((await store.search("prefix")).rows) == 0
        assert fts_query('a"b c*') == '"a""b" AND "c"*'
        with pytest.raises(ValueError, match="no words"):
            fts_query("   ")


async def test_keyset_pages_cover_everything_once(store: HistoryStore, clock: Clock) -> None:
    """Walking pages (plain, filtered, full text) gives each row once, despite inserts between."""
    async with asyncio.timeout(LIMIT):
        for i in range(37):
            clock.now += 1 if i % 5 else 0  # several batches share a time
            await store.record(
                f"f{i % 3}",
                [ev(f"word{j % 4} item {i}-{j}") for j in range(i % 7 + 1)],
                cursor=None,
            )
        for flt in (
            HistoryFilter(),
            HistoryFilter(feeds=("f1",)),
            HistoryFilter(query="word2"),
            HistoryFilter(query="item", feeds=("f0", "f2")),
        ):
            expected = [r.rowid for r in (await store.page(flt, limit=10_000)).rows]
            seen: list[int] = []
            before = None
            while True:
                page = await store.page(flt, before=before, limit=7)
                seen += [r.rowid for r in page.rows]
                # New rows arriving meanwhile never show up in older pages.
                await store.record("f1", [ev("word2 item late")], cursor=None)
                if page.next_key is None:
                    break
                before = page.next_key
            assert seen == expected
            assert len(set(seen)) == len(seen)
        # newer() walks forward, oldest first.
        forward: list[int] = []
        after = None
        while True:
            page = await store.newer(after=after, limit=9)
            forward += [r.rowid for r in page.rows]
            if page.next_key is None:
                break
            after = page.next_key
        assert forward == sorted(forward)
        assert len(forward) == await store.count()


async def test_clock_stepping_back_is_clamped(store: HistoryStore, clock: Clock) -> None:
    """A wall clock that steps back does not reorder: received_at never decreases with rowid."""
    async with asyncio.timeout(LIMIT):
        await store.record("f", [ev("a")], cursor=None)
        clock.now -= 3600
        (b,) = await store.record("f", [ev("b")], cursor=None)
        rows = (await store.newer()).rows
        assert [r.received_at for r in rows] == sorted(r.received_at for r in rows)
        assert b.received_at == rows[0].received_at


async def test_unread_counts_and_marking(store: HistoryStore) -> None:
    """Unread counts follow inserts, mark one / feed / all read, unread again and deletes."""
    async with asyncio.timeout(LIMIT):
        a = await store.record("a", [ev(str(i)) for i in range(5)], cursor=None)
        await store.record("b", [ev(str(i)) for i in range(3)], cursor=None)
        assert await store.unread_counts() == {"a": 5, "b": 3}
        assert await store.mark_read([a[0].rowid, a[0].rowid, a[1].rowid]) == 2
        assert await store.mark_read([a[0].rowid]) == 0
        assert await store.unread_counts() == {"a": 3, "b": 3}
        assert await store.mark_read([a[0].rowid], read=False) == 1
        assert await store.unread_counts() == {"a": 4, "b": 3}
        assert await store.count(HistoryFilter(unread_only=True, feeds=("a",))) == 4
        assert await store.mark_feed_read("b") == 3
        assert await store.unread_counts() == {"a": 4}
        assert await store.delete([a[2].rowid, a[1].rowid]) == 2
        assert (await store.counts())["a"].total == 3
        assert await store.unread_counts() == {"a": 3}
        assert await store.mark_all_read() == 3
        assert await store.unread_counts() == {}
        page = await store.page(HistoryFilter(unread_only=True))
        assert page.rows == []


async def test_clear_feed_and_all(store: HistoryStore) -> None:
    """Clearing a feed or everything removes rows and index entries; cursors stay; inserts go on."""
    async with asyncio.timeout(LIMIT):
        await store.record("a", [ev(f"apple {i}") for i in range(2500)], cursor="9")
        await store.record("b", [ev("apple b")], cursor="3")
        assert await store.clear_feed("a") == 2500
        assert await store.cursor("a") == "9"
        assert await store.count() == 1
        assert [r.feed_id for r in (await store.search("apple")).rows] == ["b"]
        await store.record("a", [ev("apple again")], cursor=None)
        assert await store.clear_all() == 2
        assert await store.count() == 0
        assert (await store.search("apple")).rows == []
        assert await store.cursor("b") == "3"
        (new,) = await store.record("a", [ev("apple fresh")], cursor=None)
        assert [r.rowid for r in (await store.search("apple")).rows] == [new.rowid]
        assert await store.unread_counts() == {"a": 1}
        with sqlite3.connect(store.path) as db:
            assert db.execute("INSERT INTO events_fts(events_fts) VALUES('integrity-check')")
        db.close()


async def test_retention_by_age_and_count(store: HistoryStore, clock: Clock) -> None:
    """Retention deletes by age, per-feed count (with overrides) and a global cap, oldest first."""
    async with asyncio.timeout(LIMIT):
        await store.record("old", [ev("ancient")], cursor=None)
        clock.now += 31 * 86400
        await store.record("old", [ev("fresh")], cursor=None)
        await store.record("big", [ev(f"b{i}") for i in range(2500)], cursor=None)
        await store.record("own", [ev(f"o{i}") for i in range(10)], cursor=None)
        retention = Retention(
            max_events_per_feed=2000,
            per_feed={"own": FeedRetention(max_age_days=None, max_events=4)},
        )
        assert await store.apply_retention(retention) == 1 + 500 + 6
        counts = await store.counts()
        assert {f: c.total for f, c in counts.items()} == {"old": 1, "big": 2000, "own": 4}
        assert [r.data for r in (await store.recent("own"))] == ["o9", "o8", "o7", "o6"]
        assert (await store.newer(HistoryFilter(feeds=("big",)), limit=1)).rows[0].data == "b500"
        assert await store.apply_retention(Retention(max_events_total=100)) == 1905
        assert await store.count() == 100
        # The defaults (30 days, 100,000 per feed) keep all of that.
        assert await store.apply_retention() == 0


async def test_export_jsonl_round_trip(store: HistoryStore) -> None:
    """JSON Lines export gives every selected row, oldest first, exactly (non-ASCII, newlines)."""
    async with asyncio.timeout(LIMIT):
        rows = await store.record(
            "f", [ev("line1\nline2 \u2028 ünï", "7"), ev('{"a": 1}'), ev("skip me")], cursor=None
        )
        await decide(store, [shown(rows[0], "T\u00eftle", 'b,o"dy'), hidden(rows[1], "flood")])
        out = io.StringIO()
        n = await store.export(out, HistoryFilter(query="line1 OR a", raw_query=True), chunk=1)
        assert n == 2
        lines = out.getvalue().split("\n")
        assert lines[-1] == ""
        parsed = [json.loads(line) for line in lines[:-1]]
        assert [p["data"] for p in parsed] == [rows[0].data, rows[1].data]
        assert parsed[0]["notification"] == {
            "title": "T\u00eftle",
            "body": 'b,o"dy',
            "urgency": "normal",
            "url": "https://example.org/x",
        }
        assert parsed[0]["id"] == "7"
        assert parsed[0]["own_id"] is True
        assert parsed[1]["notification"] is None
        assert parsed[1]["reason"] == "flood"


async def test_export_csv_escaping(store: HistoryStore) -> None:
    """CSV export quotes commas, quotes and newlines, and guards formula-looking cells."""
    async with asyncio.timeout(LIMIT):
        tricky = 'a,b "quoted"\r\nnext line'
        await store.record("f", [ev(tricky), ev("=HYPERLINK(1)"), ev("-5")], cursor=None)
        out = io.StringIO(newline="")
        assert await store.export(out, fmt="csv") == 3
        table = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
        assert [r["data"] for r in table] == [tricky, "'=HYPERLINK(1)", "'-5"]
        assert table[0]["feed"] == "f"
        assert table[0]["shown"] == "0"
        assert table[0]["reason"] == UNDECIDED
        raw = io.StringIO(newline="")
        await store.export(raw, fmt="csv", csv_formula_guard=False)
        assert [r["data"] for r in csv.DictReader(io.StringIO(raw.getvalue(), newline=""))] == [
            tricky,
            "=HYPERLINK(1)",
            "-5",
        ]


async def test_long_jobs_let_batches_in(store: HistoryStore) -> None:
    """While a feed is cleared in small transactions, a new batch is stored before it ends."""
    async with asyncio.timeout(LIMIT):
        await store.record("a", [ev("x")] * 20_000, cursor=None)
        clearing = asyncio.create_task(store.clear_feed("a"))
        await asyncio.sleep(0)
        stored = await store.record("b", [ev("y")], cursor=None)
        assert not clearing.done()
        assert await clearing == 20_000
        assert len(stored) == 1
        assert await store.count() == 1
