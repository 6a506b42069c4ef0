"""A frozen process and kill -9 under load: ``tidings run --headless`` as a real child process.

The servers replay from Last-Event-ID, so the promise is exact: every id
once, none missing, whatever happened to the client. The figures (recovery
times, many more kills) come from tests/benchmarks/crash_suite.py; these are
its small versions, asserting only what users see: no loss, no duplicate,
an intact history database and settings file. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from benchmarks.crash_suite import (
    HeadServer,
    check_profile,
    freeze_once,
    start_child,
    write_profile,
)
from support.starlette_app import FeedApp, UvicornThread, make_events

IDLE = 1.0
"""Each feed's idle timeout in these tests (seconds)."""


async def test_a_freeze_past_the_idle_timeout_loses_nothing(tmp_path: Path) -> None:
    """SIGSTOP for longer than the idle timeout while a (uvicorn + sse-starlette) server keeps
    sending, then SIGCONT: every event arrives once, in order, and is stored once."""
    feed_app = FeedApp(make_events(60), per_connection=25, interval=0.03)
    with UvicornThread(feed_app.app) as server:
        settings = write_profile(tmp_path, {"live": server.url()}, idle=IDLE)
        child = await start_child(tmp_path)
        try:
            assert await child.wait_until(lambda: child.lines >= 10, 15), child.stderr.decode()
            child.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(IDLE + 0.5)
            child.proc.send_signal(signal.SIGCONT)
            assert await child.wait_until(lambda: child.last_id.get("live") == 60, 20), (
                child.seen,
                child.stderr.decode(),
            )
        finally:
            child.proc.send_signal(signal.SIGCONT)
            code = await child.finish(signal.SIGTERM)
    assert code == 143
    assert child.seen["live"] == list(range(1, 61))
    check = check_profile(tmp_path, settings)
    assert check.integrity == "ok"
    assert check.stored["live"] == list(range(1, 61))


async def test_a_freeze_over_a_dead_connection_reconnects_and_resumes(tmp_path: Path) -> None:
    """The server stops writing on every open connection while Tidings is frozen: after SIGCONT
    the idle timeout ends the dead connection, and the reconnect resumes without a gap."""
    async with HeadServer(feeds=2, rate=100) as server:
        write_profile(tmp_path, {f: server.url(f) for f in server.feeds}, idle=IDLE)
        freeze = await freeze_once(tmp_path, server, idle=IDLE, mode="stall")
    assert freeze.recovery is not None, "not caught up after the freeze"
    assert freeze.reconnect is not None, "no feed reconnected after the dead connection"
    assert (freeze.lost, freeze.duplicated) == (0, 0)


async def test_kill_9_at_random_moments_then_restart_keeps_everything(tmp_path: Path) -> None:
    """kill -9 three times under load (start-up included), then a clean run: the database
    passes its integrity check after each kill, the settings file is untouched, and each
    feed holds ids 1..N exactly once."""
    rng = random.Random(9)
    async with HeadServer(feeds=3, rate=300) as server:
        settings = write_profile(tmp_path, {f: server.url(f) for f in server.feeds})
        for _ in range(3):
            child = await start_child(tmp_path)
            await asyncio.sleep(rng.uniform(0.4, 1.2))
            assert await child.finish(signal.SIGKILL) == -signal.SIGKILL
            check = check_profile(tmp_path, settings)
            assert check.integrity in ("ok", "no database yet")
            assert check.settings_intact
        before = check_profile(tmp_path, settings).stored
        child = await start_child(tmp_path)
        target = server.head()
        assert await child.wait_until(
            lambda: all(child.last_id.get(f, 0) >= target for f in server.feeds), 20
        ), child.stderr.decode()
        assert await child.finish(signal.SIGTERM) == 143
    final = check_profile(tmp_path, settings)
    assert final.integrity == "ok"
    assert final.settings_intact
    assert final.stats_match
    for feed in server.feeds:
        ids = final.stored[feed]
        assert ids == list(range(1, len(ids) + 1)), f"{feed}: a gap or a duplicate"
        # The last run resumed from the stored cursor instead of starting over.
        if before.get(feed):
            assert child.seen[feed][0] == max(before[feed]) + 1
