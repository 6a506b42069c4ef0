"""History store at scale: insert rate, full-text search, unread counts, pages, size.

A script, not a test: it prints figures. It fills a fresh SQLite file with
``--events`` events (default 1,000,000) across ten feeds through the real
:class:`~tidings.core.history.HistoryStore` (batches as the hub writes them,
plus the decision of each batch), then times each named query ``--repeats``
times and prints median and p99 in milliseconds.

    .venv/bin/python tests/benchmarks/bench_history.py                 # ~2-4 min on 2 cores
    .venv/bin/python tests/benchmarks/bench_history.py --events 200000  # quicker
    .venv/bin/python tests/benchmarks/bench_history.py --db /tmp/h.sqlite3 --reuse

Words: a Zipf-like vocabulary; ``status`` is in about half the events (common),
``xylophone`` in 1 of 100,000 (rare). One shown notification in 50 (title and
body indexed too). After filling, everything but the newest 2 % is marked read.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryFilter, HistoryStore
from tidings.core.notification import Notification, Urgency

FEEDS = [f"feed-{i}" for i in range(10)]
VOCAB = [f"w{i}" for i in range(5000)]


def make_data(rnd: random.Random, n: int) -> str:
    words = [VOCAB[min(int(rnd.paretovariate(1.2)) - 1, len(VOCAB) - 1)] for _ in range(12)]
    if rnd.random() < 0.5:
        words.append("status")
    if n % 100_000 == 7:
        words.append("xylophone")
    text = " ".join(words)
    return f'{{"n": {n}, "text": "{text}", "host": "srv{n % 97}"}}'


async def fill(store: HistoryStore, total: int, batch: int) -> tuple[float, int]:
    rnd = random.Random(42)
    n = 0
    started = time.perf_counter()
    pending = None
    while n < total:
        feed = FEEDS[(n // batch) % len(FEEDS)]
        size = min(batch, total - n)
        events = [
            DecodedEvent(
                "message" if (n + i) % 3 else "alert", make_data(rnd, n + i), str(n + i), True
            )
            for i in range(size)
        ]
        stored = await store.record(feed, events, cursor=events[-1].id)
        decided = [
            replace(
                s,
                notification=Notification(
                    title=f"alert {s.rowid}", body=s.data[:80], urgency=Urgency.NORMAL
                )
                if s.rowid % 50 == 0
                else None,
                reason="" if s.rowid % 50 == 0 else "flood",
            )
            for s in stored
        ]
        pending = store.save_decisions(decided)
        n += size
        if n % 100_000 < batch:
            rate = n / (time.perf_counter() - started)
            print(f"  {n:>9,} stored, {rate:,.0f} events/s", flush=True)
    if pending is not None:
        await asyncio.wrap_future(pending)
    return time.perf_counter() - started, n


async def timed(repeats: int, query: Callable[[int], Awaitable[Any]]) -> tuple[float, float, Any]:
    samples = []
    result = None
    for i in range(repeats):
        t0 = time.perf_counter()
        result = await query(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99, result


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def db_size(path: Path) -> int:
    files = [Path(str(path) + s) for s in ("", "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=200, help="events per record() call")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--db", type=Path, help="the file (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="keep the existing --db contents")
    args = parser.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="tidings-bench-")
        args.db = Path(tmp.name) / "history.sqlite3"
    if not args.reuse:
        remove_db(args.db)
    store = HistoryStore(args.db)
    await store.open()
    try:
        total = await store.count()
        if total == 0:
            print(f"filling {args.events:,} events in batches of {args.batch} ...", flush=True)
            seconds, total = await fill(store, args.events, args.batch)
            print(f"insert: {total / seconds:,.0f} events/s sustained ({seconds:.1f} s)")
            t0 = time.perf_counter()
            newest = (await store.page(limit=1)).rows[0].rowid
            marked = await store.mark_all_read()
            await store.mark_read(range(newest - total // 50 + 1, newest + 1), read=False)
            print(f"mark all read: {marked:,} events in {time.perf_counter() - t0:.1f} s")
        print(f"events stored: {total:,}")
        newest = (await store.page(limit=1)).rows[0].rowid
        rnd = random.Random(7)
        r = args.repeats

        figures: list[tuple[str, float, float, str]] = []

        async def measure(name: str, query: Callable[[int], Awaitable[Any]]) -> None:
            await query(0)  # warm the cache once
            med, p99, result = await timed(r, query)
            rows = getattr(result, "rows", None)
            note = f"{len(rows)} rows" if rows is not None else str(result)[:60]
            figures.append((name, med, p99, note))
            print(f"  {name:<48} median {med:8.2f} ms   p99 {p99:8.2f} ms   ({note})", flush=True)

        print(f"queries ({r} runs each):")
        await measure(
            "search 'xylophone' (rare), newest first", lambda i: store.search("xylophone")
        )
        await measure("search 'status' (common), newest first", lambda i: store.search("status"))
        await measure(
            "search 'w7' + feed filter, newest first",
            lambda i: store.search("w7", HistoryFilter(feeds=(FEEDS[i % 10],))),
        )
        await measure(
            "search 'status' + unread only",
            lambda i: store.search("status", HistoryFilter(unread_only=True)),
        )
        await measure("search 'w3 w9' (two words), newest first", lambda i: store.search("w3 w9"))
        await measure(
            "search 'xylophone' by relevance",
            lambda i: store.search("xylophone", order="relevance"),
        )
        await measure("unread counts per feed", lambda i: store.unread_counts())
        await measure(
            "page of 200 anywhere (no filter)",
            lambda i: store.page(before=(0.0, rnd.randint(1, newest)), limit=200),
        )
        await measure(
            "page of 200 anywhere (one feed)",
            lambda i: store.page(
                HistoryFilter(feeds=(FEEDS[i % 10],)),
                before=(0.0, rnd.randint(1, newest)),
                limit=200,
            ),
        )
        await measure(
            "page of 200 anywhere (unread only)",
            lambda i: store.page(
                HistoryFilter(unread_only=True), before=(0.0, rnd.randint(1, newest)), limit=200
            ),
        )
        await measure(
            "page of 200 'status' anywhere",
            lambda i: store.search("status", before=(0.0, rnd.randint(1, newest)), limit=200),
        )
        await measure("count (all, counters)", lambda i: store.count())
        await measure(
            "count 'status' (full text)", lambda i: store.count(HistoryFilter(query="status"))
        )
    finally:
        await store.close()
    size = db_size(args.db)
    print(
        f"database size: {size / 2**20:,.0f} MiB for {total:,} events "
        f"({size / 2**20 / total * 1_000_000:,.0f} MiB per million)"
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
