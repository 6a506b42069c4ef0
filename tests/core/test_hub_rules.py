"""The rules inside the hub, against real loopback servers and a real history store.

Each test runs a :class:`ScriptedServer`, a :class:`HistoryStore` in
``tmp_path`` and sinks that record what the hub hands them. Every event must
be stored and reach every sink; the rules only decide which carry a
notification, and which summaries the sinks are asked to show or update.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from support.scripted_server import BodyPart, Pause, RecordedRequest, Reply, ScriptedServer
from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.models import (
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedRules,
    FeedStatus,
    QuietHours,
)
from tidings.core.notification import Notification, Urgency
from tidings.core.presets import PRESETS, MapContext, Mapped, Preset
from tidings.core.rules import MUTED_FOREVER, RuleLimits
from tidings.core.secrets import MemoryStore

POLICY = ConnectionPolicy(
    reconnection_time=0.05, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
LIMIT = 10.0
# A short backlog window, so a test can send "live" events soon after the connection opens.
LIMITS = RuleLimits(backlog_window=0.3)
AFTER_BACKLOG = Pause(0.8)


def events(first: int, last: int, *, event: str = "", data: str = "event") -> bytes:
    """SSE blocks with ids first..last, in one chunk (one read on the client)."""
    kind = f"event: {event}\n" if event else ""
    return b"".join(f"{kind}id: {n}\ndata: {data} {n}\n\n".encode() for n in range(first, last + 1))


def stream(*parts: BodyPart) -> Reply:
    return Reply(body=list(parts), end="hang")


def ticking(period: float, *, data: str = "tick") -> Reply:
    """One event per period, for as long as the test runs, after a pause for the backlog window."""

    def body(request: RecordedRequest) -> AsyncIterator[BodyPart]:
        async def parts() -> AsyncIterator[BodyPart]:
            yield AFTER_BACKLOG
            for n in range(1, 10_000):
                yield f"id: {n}\ndata: {data} {n}\n\n".encode()
                yield Pause(period)

        return parts()

    return Reply(body=body, end="hang")


class Sink:
    """Records stored events, statuses and summaries, per feed."""

    def __init__(self) -> None:
        self.events: dict[str, list[StoredEvent]] = defaultdict(list)
        self.statuses: dict[str, list[FeedStatus]] = defaultdict(list)
        self.summaries: dict[str, list[Notification]] = defaultdict(list)
        self.feeds: dict[str, Feed] = {}
        self.changed = asyncio.Event()

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        self.events[feed.id].extend(events)
        self.feeds[feed.id] = feed
        self.changed.set()

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.statuses[feed.id].append(status)
        self.changed.set()

    def summary_updated(self, feed: Feed, notification: Notification) -> None:
        self.summaries[feed.id].append(notification)
        self.changed.set()

    def count(self, feed_id: str) -> int:
        return len(self.events[feed_id])

    def shown(self, feed_id: str) -> list[Notification]:
        return [e.notification for e in self.events[feed_id] if e.notification is not None]

    def reasons(self, feed_id: str) -> list[str]:
        return [e.reason for e in self.events[feed_id]]

    async def wait_for(self, predicate: Callable[[], object], within: float = LIMIT) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class PlainSink:
    """A sink of the kind that existed before summaries: no summary_updated method."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        pass


class FirehosePreset(Preset):
    """A firehose preset like EventStreams: maps like plain text, log only by default."""

    name: ClassVar[str] = "test-firehose"
    firehose: ClassVar[bool] = True


class UrgentPreset(Preset):
    """Data starting with "!" is critical, "~" is a keep-alive (no notification)."""

    name: ClassVar[str] = "test-urgent"

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        if event.data.startswith("~"):
            return Mapped(notification=None, reason="keep-alive")
        urgency = Urgency.CRITICAL if event.data.startswith("!") else Urgency.NORMAL
        return Mapped(
            notification=Notification(title=event.data, urgency=urgency, feed_id=context.feed_id)
        )


@pytest.fixture
def test_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test presets for the duration of one test."""
    monkeypatch.setitem(PRESETS, FirehosePreset.name, FirehosePreset())
    monkeypatch.setitem(PRESETS, UrgentPreset.name, UrgentPreset())


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.store = HistoryStore(tmp_path / "history.sqlite3")
        self.sink = Sink()
        self.hubs: list[Hub] = []

    def hub(self, *sinks: Any, **options: Any) -> Hub:
        options.setdefault("rule_limits", LIMITS)
        hub = Hub(
            store=self.store,
            secrets=MemoryStore(),
            sinks=sinks or (self.sink,),
            policy=POLICY,
            **options,
        )
        self.hubs.append(hub)
        return hub

    async def close(self) -> None:
        for hub in self.hubs:
            await hub.stop()
        await self.store.close()


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    e = Env(tmp_path)
    await e.store.open()
    try:
        yield e
    finally:
        await e.close()


def feed(server: ScriptedServer, key: str, **fields: Any) -> Feed:
    fields.setdefault("name", key.upper())
    return Feed(id=key, url=server.url("/" + key), **fields)


def hits(server: ScriptedServer, path: str) -> int:
    return sum(1 for r in server.requests if r.target.split("?", 1)[0] == path)


# -- flood and backlog ---------------------------------------------------------------------


async def test_burst_of_fifty_shows_three_and_one_summary(env: Env) -> None:
    """50 events at once: all stored and logged, 3 popups, one summary updated to "47 more"."""
    plain = PlainSink()
    async with ScriptedServer([stream(AFTER_BACKLOG, events(1, 50))]) as server:
        hub = env.hub(env.sink, plain)
        hub.add(feed(server, "ci", name="CI"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("ci") == 50)
        assert await env.store.count("ci") == 50
        assert len(plain.events) == 50  # a sink without summary_updated still gets every event
        assert [n.title for n in sink.shown("ci")] == ["CI"] * 3
        assert [e.data for e in sink.events["ci"] if e.notification] == [
            "event 1",
            "event 2",
            "event 3",
        ]
        assert sink.reasons("ci") == [""] * 3 + ["flood"] * 47
        summaries = sink.summaries["ci"]
        assert summaries
        assert {s.replace_key for s in summaries} == {"flood:ci"}  # one summary, in place
        assert summaries[-1].title == "47 more from CI"
        assert summaries[-1].body == "Latest: event 50"  # the title is only the feed's name
        assert summaries[-1].extra["count"] == "47"


async def test_new_flood_limits_apply_to_running_feeds(env: Env) -> None:
    """The settings' flood limit changed while a feed runs: the next burst follows it."""
    async with ScriptedServer(
        [stream(AFTER_BACKLOG, events(1, 5), Pause(0.5), events(6, 15))]
    ) as server:
        hub = env.hub(env.sink)
        hub.add(feed(server, "ci", name="CI"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("ci") == 5)
        assert len(sink.shown("ci")) == 3
        hub.set_rule_limits(replace(hub.rule_limits, flood_limit=1, flood_window=0.2))
        assert hub.rule_limits.flood_limit == 1
        await sink.wait_for(lambda: sink.count("ci") == 15)
        # The old window had passed: one popup, the other nine into the summary.
        assert len(sink.shown("ci")) == 4
        assert sink.reasons("ci")[5:] == [""] + ["flood"] * 9


async def test_backlog_replayed_at_connect_is_one_summary(env: Env) -> None:
    """A server replaying 12 events at connect: no popups, one backlog summary; live ones pop."""
    async with ScriptedServer([stream(events(1, 12), AFTER_BACKLOG, events(13, 13))]) as server:
        hub = env.hub()
        hub.add(feed(server, "ci", name="CI"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("ci") == 13)
        assert sink.reasons("ci") == ["backlog"] * 12 + [""]
        assert [e.data for e in sink.events["ci"] if e.notification] == ["event 13"]
        summaries = sink.summaries["ci"]
        assert [s.replace_key for s in summaries] == ["backlog:ci"]
        assert summaries[0].title == "12 events from CI while you were away"
        assert await env.store.count("ci") == 13


async def test_backlog_after_a_reconnect(env: Env) -> None:
    """Each connection's replay becomes its own summary under the same replace key."""
    replies = [
        Reply(body=[events(1, 2)], end="close"),  # two live-looking events, then a drop
        stream(events(3, 8)),  # the replay after the reconnect
    ]
    async with ScriptedServer(replies) as server:
        hub = env.hub()
        hub.add(feed(server, "ci", name="CI"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("ci") == 8)
        assert sink.reasons("ci") == ["", ""] + ["backlog"] * 6
        assert [s.title for s in sink.summaries["ci"]] == ["6 events from CI while you were away"]


async def test_keep_alives_never_make_a_backlog(env: Env, test_presets: None) -> None:
    """Control events at connect keep the preset's reason and are not counted as a backlog."""
    body = b"".join(f"data: ~ {n}\n\n".encode() for n in range(10)) + b"data: hi\n\n"
    async with ScriptedServer([stream(body)]) as server:
        hub = env.hub()
        hub.add(feed(server, "k", preset="test-urgent"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("k") == 11)
        assert sink.reasons("k") == ["keep-alive"] * 10 + [""]
        assert [n.title for n in sink.shown("k")] == ["hi"]
        assert sink.summaries["k"] == []


# -- per-feed settings through the hub --------------------------------------------------------


async def test_firehose_preset_is_log_only_by_default(env: Env, test_presets: None) -> None:
    """A firehose preset: every event stored and logged, none shown, no summary; on when asked."""
    async with ScriptedServer([ticking(0.01)]) as server:
        hub = env.hub()
        hub.add(feed(server, "wiki", preset="test-firehose"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("wiki") >= 20)
        assert set(sink.reasons("wiki")) == {"off"}
        assert sink.shown("wiki") == []
        assert sink.summaries["wiki"] == []

        updated = await hub.set_rules("wiki", FeedRules(notifications=True))
        assert updated.rules.notifications is True
        assert hub.feed("wiki") == updated
        count = sink.count("wiki")
        await sink.wait_for(lambda: len(sink.shown("wiki")) >= 1)
        assert sink.count("wiki") > count
        assert hits(server, "/wiki") == 1  # the rules changed, the connection did not
        assert await env.store.count("wiki") == sink.count("wiki")


async def test_eventstreams_is_log_only_by_default(env: Env) -> None:
    """The real EventStreams preset is a firehose: its events are stored, none pops up."""
    change = (
        '{"$schema":"/mediawiki/recentchange/1.0.0","type":"edit","title":"Page %d",'
        '"user":"Alice","wiki":"enwiki","server_name":"en.wikipedia.org"}'
    )
    body = b"".join(
        f'id: [{{"topic":"rc","partition":0,"offset":{n}}}]\ndata: {change % n}\n\n'.encode()
        for n in range(10)
    )
    async with ScriptedServer([stream(AFTER_BACKLOG, body)]) as server:
        hub = env.hub()
        hub.add(feed(server, "wiki", preset="eventstreams"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("wiki") == 10)
        assert sink.shown("wiki") == []
        assert set(sink.reasons("wiki")) == {"off"}
        assert sink.summaries["wiki"] == []


async def test_mute_and_unmute_keep_the_connection(env: Env) -> None:
    """mute() holds popups back (all still logged) without reconnecting; unmute() ends it."""
    async with ScriptedServer([ticking(0.05)]) as server:
        hub = env.hub(rule_limits=RuleLimits(backlog_window=0.3, flood_limit=1000))
        hub.add(feed(server, "m"))
        sink = env.sink
        await sink.wait_for(lambda: len(sink.shown("m")) >= 2)

        muted = await hub.mute("m")
        assert muted.rules.muted_until == MUTED_FOREVER
        count = sink.count("m")
        await sink.wait_for(lambda: sink.count("m") >= count + 3)
        assert set(sink.reasons("m")[count:]) == {"muted"}
        assert sink.feeds["m"].rules.muted_until == MUTED_FOREVER  # sinks see the current feed

        unmuted = await hub.unmute("m")
        assert unmuted.rules.muted_until is None
        count = sink.count("m")
        await sink.wait_for(lambda: sink.count("m") >= count + 3)
        assert sink.reasons("m")[-1] == ""
        assert hits(server, "/m") == 1


async def test_timed_mute_expires(env: Env) -> None:
    """A mute until a time (on the hub's clock) ends by itself at that time."""
    now = [1_000_000.0]
    async with ScriptedServer([ticking(0.05)]) as server:
        hub = env.hub(
            rule_limits=RuleLimits(backlog_window=0.3, flood_limit=1000), clock=lambda: now[0]
        )
        hub.add(feed(server, "t"))
        sink = env.sink
        feed_after = await hub.mute("t", until=now[0] + 3600)
        assert feed_after.rules.muted_until == now[0] + 3600
        await sink.wait_for(lambda: sink.count("t") >= 3)
        assert set(sink.reasons("t")) == {"muted"}
        now[0] += 3600
        count = sink.count("t")
        await sink.wait_for(lambda: sink.count("t") >= count + 2)
        assert sink.reasons("t")[-1] == ""


async def test_update_with_new_rules_does_not_reconnect(env: Env) -> None:
    """update() that changes only the rules applies them at once and keeps the connection."""
    async with ScriptedServer([ticking(0.05)]) as server:
        hub = env.hub(rule_limits=RuleLimits(backlog_window=0.3, flood_limit=1000))
        base = feed(server, "u")
        hub.add(base)
        sink = env.sink
        await sink.wait_for(lambda: len(sink.shown("u")) >= 1)
        await hub.update(Feed(id="u", name="U", url=base.url, rules=FeedRules(text_filter="^x")))
        count = sink.count("u")
        await sink.wait_for(lambda: sink.count("u") >= count + 3)
        assert set(sink.reasons("u")[count:]) == {"filtered"}
        assert hits(server, "/u") == 1
        assert hub.statuses["u"].state is ConnectionState.OPEN


async def test_event_type_and_urgency_rules(env: Env, test_presets: None) -> None:
    """Only chosen event types at or above the minimum urgency pop up; the rest are logged."""
    body = (
        b"event: push\ndata: ! deploy failed\n\n"
        b"event: push\ndata: deployed\n\n"
        b"event: ping\ndata: ! ping\n\n"
    )
    rules = FeedRules(event_types=("push",), min_urgency=Urgency.CRITICAL)
    async with ScriptedServer([stream(AFTER_BACKLOG, body)]) as server:
        hub = env.hub()
        hub.add(feed(server, "r", preset="test-urgent", rules=rules))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("r") == 3)
        assert sink.reasons("r") == ["", "filtered", "filtered"]
        assert [n.title for n in sink.shown("r")] == ["! deploy failed"]


async def test_quiet_hours_let_only_urgent_events_through(env: Env, test_presets: None) -> None:
    """During quiet hours ordinary events are logged only; critical ones break through."""
    quiet = QuietHours(enabled=True, start=dt.time(0), end=dt.time(0))  # all day, every day
    body = b"data: routine\n\ndata: ! server down\n\ndata: also routine\n\n"
    async with ScriptedServer([stream(AFTER_BACKLOG, body)]) as server:
        hub = env.hub(quiet_hours=quiet, tz=dt.UTC)
        assert hub.quiet_hours == quiet
        hub.add(feed(server, "q", preset="test-urgent"))
        sink = env.sink
        await sink.wait_for(lambda: sink.count("q") == 3)
        assert sink.reasons("q") == ["quiet", "", "quiet"]
        assert [n.title for n in sink.shown("q")] == ["! server down"]

        hub.set_quiet_hours(QuietHours())
        assert hub.quiet_hours == QuietHours()


async def test_failing_summary_sink_does_not_break_the_hub(env: Env) -> None:
    """A sink whose summary_updated raises is logged; the other sinks still get everything."""

    class Broken(PlainSink):
        def summary_updated(self, feed: Feed, notification: Notification) -> None:
            raise RuntimeError("sink bug")

    broken = Broken()
    async with ScriptedServer([stream(AFTER_BACKLOG, events(1, 10))]) as server:
        hub = env.hub(broken, env.sink)
        hub.add(feed(server, "b", name="B"))
        await env.sink.wait_for(lambda: env.sink.count("b") == 10)
        assert len(broken.events) == 10
        assert env.sink.summaries["b"][-1].title == "7 more from B"


async def test_mute_of_an_unknown_feed_is_a_key_error(env: Env) -> None:
    """mute/unmute/set_rules name a feed the hub runs; any other id is a KeyError."""
    hub = env.hub()
    with pytest.raises(KeyError):
        await hub.mute("nope")
    with pytest.raises(KeyError):
        await hub.unmute("nope")
    with pytest.raises(KeyError):
        await hub.set_rules("nope", FeedRules())


async def test_mute_of_a_paused_feed_keeps_it_paused(env: Env) -> None:
    """Muting a paused feed changes its rules only: it stays paused and makes no request."""
    async with ScriptedServer([ticking(0.05)]) as server:
        hub = env.hub()
        hub.add(feed(server, "p", paused=True))
        updated = await hub.mute("p", until=2_000_000_000.0)
        assert updated.paused
        assert updated.rules.muted_until == 2_000_000_000.0
        await asyncio.sleep(0.1)
        assert hub.statuses["p"].state is ConnectionState.PAUSED
        assert hits(server, "/p") == 0
