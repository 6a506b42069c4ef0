"""End to end: an SSE server on loopback -> Hub -> NotifierSink -> dunst, and back by clicks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.desktop import DesktopSession
from support.notify_monitor import NotifyMonitor
from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.history import HistoryStore
from tidings.core.hub import Hub
from tidings.core.models import AppSettings, ConnectionPolicy, Feed
from tidings.core.rules import RuleLimits
from tidings.core.secrets import MemoryStore
from tidings.notify import NotifierSink, build_notifier

from .conftest import RecordingHandler, press

pytestmark = pytest.mark.desktop

POLICY = ConnectionPolicy(
    reconnection_time=0.05, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
HANG = Pause(30)


class HubHandler(RecordingHandler):
    """Records every call, and mutes / marks read for real, as the apps do."""

    def __init__(self) -> None:
        super().__init__()
        self.hub: Hub | None = None
        self.store: HistoryStore | None = None

    async def mute_feed(self, feed_id: str, seconds: float) -> None:
        assert self.hub is not None
        await self.hub.mute(feed_id, time.time() + seconds)
        await super().mute_feed(feed_id, seconds)

    async def mark_read(self, rowid: int) -> None:
        assert self.store is not None
        await self.store.mark_read([rowid])
        await super().mark_read(rowid)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    db = HistoryStore(tmp_path / "history.sqlite3")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def run_hub(
    store: HistoryStore, handler: HubHandler, app: AppSettings
) -> tuple[Hub, NotifierSink]:
    hub = Hub(
        store=store,
        secrets=MemoryStore(),
        policy=POLICY,
        rule_limits=RuleLimits(backlog_threshold=1000),
    )
    sink = NotifierSink(
        notifier=build_notifier(app, handler=handler),
        app=app,
        feed_exists=lambda feed_id: hub.feed(feed_id) is not None,
    )
    await sink.start()
    hub.add_sink(sink)
    handler.hub, handler.store = hub, store
    return hub, sink


async def test_events_arrive_as_notifications_and_mute_reaches_the_hub(
    dunst_session: DesktopSession,
    bus_monitor: NotifyMonitor,
    store: HistoryStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain event pops up (feed name as title, body escaped); "Mute feed 1 h" mutes the
    feed in the hub, so the next event is stored but not shown; "Mark read" marks its row."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = HubHandler()
    release = asyncio.Event()

    async def later(_request: RecordedRequest) -> AsyncIterator[bytes | Pause]:
        yield b"id: 1\ndata: <b>deploy</b> failed\n\n"
        await release.wait()
        yield b"id: 2\ndata: muted one\n\n"
        yield HANG

    async with ScriptedServer([Reply(body=later)]) as server:
        hub, sink = await run_hub(store, handler, AppSettings())
        try:
            hub.add(Feed(id="f-ci", name="CI", url=server.url()))
            (call,) = await bus_monitor.notified(1)
            assert call.summary == "CI"
            assert call.body == "&lt;b&gt;deploy&lt;/b&gt; failed"
            assert call.hints["urgency"] == 1
            assert "tidings:mark-read" in call.action_keys
            assert call.returned_id is not None
            await press(dunst_session, call.returned_id, "tidings:mute-1h")
            await handler.wait_for(1)
            feed = hub.feed("f-ci")
            assert feed is not None
            assert feed.rules.muted_at(time.time())
            release.set()
            async with asyncio.timeout(10):
                while await store.count("f-ci") < 2:
                    await asyncio.sleep(0.05)
            await sink.drain()
            await asyncio.sleep(0.2)
            assert len(bus_monitor.notifies) == 1  # muted: logged, not shown
        finally:
            await hub.stop()
            await sink.close()
    assert handler.calls == [("mute_feed", "f-ci", 3600.0)]


async def test_flood_summary_updates_in_place(
    bus_monitor: NotifyMonitor, store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the flood limit, one summary notification is updated in place (same id)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = HubHandler()
    burst = [b"id: %d\ndata: e%d\n\n" % (i, i) for i in range(1, 6)]
    more = [b"id: %d\ndata: e%d\n\n" % (i, i) for i in range(6, 9)]
    script = [sse_reply(b"".join(burst), Pause(0.3), b"".join(more), HANG)]
    async with ScriptedServer(script) as server:
        hub, sink = await run_hub(store, handler, AppSettings())
        try:
            hub.add(Feed(id="f-ci", name="CI", url=server.url()))
            await bus_monitor.wait_until(
                lambda: sum(1 for c in bus_monitor.notifies if c.returned_id) >= 5,
                what="3 popups and 2 summaries",
            )
        finally:
            await hub.stop()
            await sink.close()
    popups = [c for c in bus_monitor.notifies if c.summary == "CI"]
    summaries = [c for c in bus_monitor.notifies if c.summary != "CI"]
    assert [c.body for c in popups] == ["e1", "e2", "e3"]
    assert len(summaries) == 2
    assert summaries[0].replaces_id == 0
    assert summaries[1].replaces_id == summaries[0].returned_id
    assert summaries[1].returned_id == summaries[0].returned_id


async def test_lost_connection_alert_once_then_back(
    bus_monitor: NotifyMonitor, store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed failing past the grace gets one "Cannot connect" notification, however often it
    retries; when it connects, one "is back" replaces it in place."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = HubHandler()
    up = asyncio.Event()

    def script(_request: RecordedRequest) -> Reply:
        if up.is_set():
            return sse_reply(b": hello\n\n", HANG)
        return Reply(status=503, headers=(("Content-Type", "text/plain"),), body=[b"down"])

    async with ScriptedServer(script) as server:
        hub, sink = await run_hub(store, handler, AppSettings(lost_connection_after=0.4))
        try:
            hub.add(Feed(id="f-ci", name="CI", url=server.url()))
            (lost,) = await bus_monitor.notified(1)
            assert lost.summary == "Cannot connect to CI"
            assert "503" in lost.body
            await server.wait_for_requests(len(server.requests) + 2, within=20)
            await asyncio.sleep(0.5)
            assert len(bus_monitor.notifies) == 1  # still down: nothing repeats
            up.set()
            await bus_monitor.notified(2, within=30)
        finally:
            await hub.stop()
            await sink.close()
    back = bus_monitor.notifies[1]
    assert back.summary == "CI is back"
    assert back.replaces_id == lost.returned_id
    assert len(bus_monitor.notifies) == 2


async def test_notifications_off_shows_nothing(
    bus_monitor: NotifyMonitor, store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [app] notifications = false, events are stored and nothing reaches the daemon;
    turning them on live shows the next event."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = HubHandler()
    gate = asyncio.Event()

    async def body(_request: RecordedRequest) -> AsyncIterator[bytes | Pause]:
        yield b"id: 1\ndata: quiet\n\n"
        await gate.wait()
        yield b"id: 2\ndata: loud\n\n"
        yield HANG

    async with ScriptedServer([Reply(body=body)]) as server:
        hub, sink = await run_hub(store, handler, AppSettings(notifications=False))
        try:
            hub.add(Feed(id="f", name="F", url=server.url()))
            async with asyncio.timeout(10):
                while await store.count("f") < 1:
                    await asyncio.sleep(0.05)
            await sink.drain()
            # Turning notifications on needs a notifier that is not "off": the apps rebuild it.
            await sink.replace_notifier(build_notifier(AppSettings(), handler=handler))
            sink.set_app_settings(AppSettings())
            gate.set()
            (call,) = await bus_monitor.notified(1)
        finally:
            await hub.stop()
            await sink.close()
    assert call.body == "loud"
