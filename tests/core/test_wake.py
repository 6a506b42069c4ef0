"""ResumeWatcher: a wake-up or a network change reconnects every feed once, at once.

The clocks are injected (no test suspends anything); the last tests drive a
real hub against a real loopback server whose connection went silent, as
one does when the server dropped it while the machine slept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from core.test_hub import Env, feed
from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.wake import ResumeWatcher

LIMIT = 10.0


class Clocks:
    """A wall clock and a monotonic clock that a test moves by hand."""

    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.mono = 1000.0

    def advance(self, seconds: float, *, asleep: float = 0.0) -> None:
        """``seconds`` pass for both clocks, then ``asleep`` more for the wall clock only."""
        self.mono += seconds
        self.wall += seconds + asleep


class FakeHub:
    def __init__(self, *, fail: bool = False) -> None:
        self.reconnects = 0
        self.wakes = 0
        self.fail = fail

    async def reconnect_all(self) -> None:
        await asyncio.sleep(0)
        self.reconnects += 1
        if self.fail:
            raise RuntimeError("boom")

    def wake_all(self) -> None:
        self.wakes += 1


def watcher(hub: FakeHub, clocks: Clocks, *, debounce: float = 10.0) -> ResumeWatcher:
    return ResumeWatcher(
        hub=hub, debounce=debounce, wall=lambda: clocks.wall, monotonic=lambda: clocks.mono
    )


async def test_a_clock_jump_reconnects_every_feed_once() -> None:
    """Wall time moving 60 s further than monotonic time means the machine slept."""
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks)
    assert w.check() is False  # the first reading
    clocks.advance(5)
    assert w.check() is False
    clocks.advance(5, asleep=60)
    assert w.check() is True
    await w.idle()
    assert hub.reconnects == 1
    clocks.advance(5)
    assert w.check() is False  # the jump is counted once
    await w.idle()
    assert hub.reconnects == 1


@pytest.mark.parametrize(
    ("seconds", "asleep"),
    [
        (100.0, 0.0),  # a frozen process (SIGSTOP) or a busy loop: both clocks moved
        (5.0, -3600.0),  # the wall clock set back an hour
        (5.0, 2.0),  # NTP stepping the clock a little
    ],
)
async def test_no_reconnect_without_a_sleep(seconds: float, asleep: float) -> None:
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks)
    w.check()
    clocks.advance(seconds, asleep=asleep)
    assert w.check() is False
    await w.idle()
    assert (hub.reconnects, hub.wakes) == (0, 0)


async def test_one_wake_up_seen_three_ways_reconnects_once() -> None:
    """Ticker, logind and the network all report one resume: one reconnect, then only wakes."""
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks)
    w.check()
    clocks.advance(2, asleep=600)
    w.system_resumed("logind")
    clocks.advance(1)
    assert w.check() is False  # the reading was reset by the reconnect: not counted again
    clocks.advance(2)
    w.network_changed("online")
    await w.idle()
    assert hub.reconnects == 1
    assert w.reconnects == 1
    # The later triggers skipped pending reconnection waits instead.
    assert hub.wakes == 1
    assert w.wakes == 1


async def test_triggers_while_a_reconnect_runs_only_wake() -> None:
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks, debounce=0)
    w.network_changed()
    w.network_changed()  # the first reconnect has not finished yet
    await w.idle()
    assert (hub.reconnects, hub.wakes) == (1, 1)


async def test_a_trigger_before_a_suspend_does_not_swallow_the_resume() -> None:
    """The network dropping as the lid closes, then the resume: two reconnects.

    The monotonic clock barely moved across the sleep; the wall clock did.
    """
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks)
    w.network_changed("transport changed")
    await w.idle()
    clocks.advance(1, asleep=3600)
    w.system_resumed("logind")
    await w.idle()
    assert hub.reconnects == 2
    assert hub.wakes == 0


async def test_after_the_debounce_window_a_new_change_reconnects_again() -> None:
    clocks, hub = Clocks(), FakeHub()
    w = watcher(hub, clocks, debounce=10)
    w.network_changed()
    await w.idle()
    clocks.advance(11)
    w.network_changed()
    await w.idle()
    assert hub.reconnects == 2


async def test_the_ticker_notices_a_sleep(caplog: pytest.LogCaptureFixture) -> None:
    """run(): each tick's sleep moves both clocks; one of them hides a 10-minute suspend."""
    clocks, hub = Clocks(), FakeHub()
    ticks = 0
    done = asyncio.Event()

    async def sleep(seconds: float) -> None:
        nonlocal ticks
        ticks += 1
        clocks.advance(seconds, asleep=600 if ticks == 3 else 0)
        if ticks >= 6:
            done.set()
        await asyncio.sleep(0)

    w = ResumeWatcher(
        hub=hub, tick=5, wall=lambda: clocks.wall, monotonic=lambda: clocks.mono, sleep=sleep
    )
    caplog.set_level(logging.INFO, logger="tidings.core.wake")
    w.start()
    async with asyncio.timeout(LIMIT):
        await done.wait()
    await w.stop()
    assert hub.reconnects == 1
    assert any("the system slept" in r.getMessage() for r in caplog.records)
    w.system_resumed()  # stopped: ignored
    await w.idle()
    assert hub.reconnects == 1


async def test_a_failing_reconnect_is_logged_and_the_watcher_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clocks, hub = Clocks(), FakeHub(fail=True)
    w = watcher(hub, clocks, debounce=1)
    w.system_resumed()
    await w.idle()
    clocks.advance(2)
    w.system_resumed()
    await w.idle()
    assert hub.reconnects == 2
    assert any("failed" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        ResumeWatcher(hub=FakeHub(), tick=0)


# -- with a real hub -----------------------------------------------------------------------


def resumable(total: int, first_batch: int) -> Callable[[RecordedRequest], Reply]:
    """Events 1..first_batch, then silence (the connection died unnoticed); a reconnect with
    Last-Event-ID gets the rest up to ``total``, then silence again."""

    def script(request: RecordedRequest) -> Reply:
        last = int(request.header("Last-Event-ID") or 0)
        end = first_batch if last == 0 else total
        chunks = [f"id: {n}\ndata: event {n}\n\n".encode() for n in range(last + 1, end + 1)]
        return sse_reply(*chunks, Pause(0.01), end="hang")

    return script


async def test_a_resume_reconnects_a_silent_feed_at_once_without_loss(env: Env) -> None:
    """A feed whose connection went silent (idle timeout 90 s) reconnects when the system
    resumes, sends Last-Event-ID, and stores the rest: ids 1..8, each once."""
    async with ScriptedServer(resumable(8, 3)) as server:
        hub = env.hub()
        sink = env.sink
        hub.add(feed(server, "a"))  # the default idle timeout: 90 s
        others = feed(server, "b")
        hub.add(others)
        await sink.wait_for(lambda: sink.count("a") == 3 and sink.count("b") == 3)
        w = ResumeWatcher(hub=hub)
        w.system_resumed("test")
        await sink.wait_for(lambda: sink.count("a") == 8 and sink.count("b") == 8, within=LIMIT)
        await w.stop()
        for feed_id in ("a", "b"):
            assert [e.event_id for e in sink.events[feed_id]] == [str(n) for n in range(1, 9)]
        resumed = sorted(r.header("Last-Event-ID") or "" for r in server.requests)
        assert resumed == ["", "", "3", "3"]
        assert w.reconnects == 1
