"""Helpers of the log window's tests: feeds that never connect, and events stored quickly."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from qt.conftest import ControllerEnv
from tidings.core.decoder import DecodedEvent
from tidings.core.history import StoredEvent
from tidings.core.models import Feed
from tidings.core.notification import Notification, Urgency

UNREACHABLE = "http://127.0.0.1:9/events"
"""A URL nothing listens on: the feeds of these tests are paused and never connect."""


def add_feed(env: ControllerEnv, feed_id: str, name: str) -> Feed:
    """A saved, paused feed (the log shows its name; nothing connects)."""
    feed = Feed(id=feed_id, name=name, url=UNREACHABLE, paused=True)
    return env.run(env.controller.add_feed(feed))


def store_events(
    env: ControllerEnv,
    feed_id: str,
    count: int,
    *,
    event_type: str = "message",
    data: Callable[[int], str] = lambda i: f"payload number {i}",
    title: Callable[[int], str] | None = lambda i: f"Event {i}",
    body: Callable[[int], str] = lambda i: f"body {i}",
    urgency: Callable[[int], Urgency] = lambda i: Urgency.NORMAL,
    url: str = "",
    reason: str = "muted",
    deliver: bool = False,
) -> list[StoredEvent]:
    """Store ``count`` events with their decisions (a notification when ``title`` is given,
    else not shown for ``reason``); with ``deliver``, also hand them to the controller as the
    hub does after storing, so the UI hears of them."""
    decoded = [DecodedEvent(event_type, data(i), str(i), True) for i in range(count)]
    stored = env.run(env.store.record(feed_id, decoded, cursor=None))
    decided = [
        replace(
            s,
            notification=Notification(
                title=title(i), body=body(i), urgency=urgency(i), url=url, feed_id=feed_id
            )
            if title is not None
            else None,
            reason="" if title is not None else reason,
        )
        for i, s in enumerate(stored)
    ]
    env.store.save_decisions(decided)
    if deliver:
        feed = env.controller.feed(feed_id)
        assert feed is not None
        env.controller.on_events_stored(feed, decided)
    return decided


def bulk_insert(db_path: Path, feed_id: str, count: int, *, start: float | None = None) -> None:
    """Insert ``count`` plain events straight into the history file (fast; the store is open,
    WAL lets a second connection write): for tests that need hundreds of thousands."""
    now = time.time() if start is None else start
    db = sqlite3.connect(db_path)
    try:
        with db:
            db.executemany(
                "INSERT INTO events (feed_id, type, data, event_id, own_id, received_at, reason) "
                "VALUES (?, 'message', ?, ?, 1, ?, 'muted')",
                ((feed_id, f"bulk event {i}", str(i), now + i * 1e-6) for i in range(count)),
            )
    finally:
        db.close()


def settle(env: ControllerEnv, seconds: float) -> None:
    """Let the loop (tasks and Qt timers) run for ``seconds``."""
    env.run(asyncio.sleep(seconds))


def titles(rows: Sequence[StoredEvent]) -> list[str]:
    return [r.notification.title if r.notification else r.type for r in rows]
