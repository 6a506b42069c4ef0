"""The hub against real loopback servers: many feeds, each controlled alone, resumed on restart.

Every test runs real :class:`ScriptedServer` instances, a real
:class:`HistoryStore` in ``tmp_path`` and in-memory secrets, with small
timings (T = 50 ms), and bounds each wait with ``asyncio.timeout``. A feed's
connection counts as "not restarted" when its path on the server saw exactly
one request.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from support.scripted_server import BodyPart, Pause, RecordedRequest, Reply, ScriptedServer
from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.models import (
    Auth,
    AuthKind,
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedStatus,
    StopReason,
    TlsOptions,
)
from tidings.core.secrets import MemoryStore, auth_slot

POLICY = ConnectionPolicy(
    reconnection_time=0.05, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
LIMIT = 10.0  # bound of each wait (seconds)
HANG = Reply(body=[], end="hang")


# -- servers -------------------------------------------------------------------------


def start_id(request: RecordedRequest) -> int:
    raw = request.header("Last-Event-ID")
    return int(raw) + 1 if raw else 1


def ticking(period: float = 0.02, limit: int = 2000) -> Reply:
    """An endless-looking stream resuming after Last-Event-ID: one numbered event per period."""

    def body(request: RecordedRequest) -> AsyncIterator[BodyPart]:
        async def parts() -> AsyncIterator[BodyPart]:
            first = start_id(request)
            for n in range(first, first + limit):
                yield f"id: {n}\ndata: {request.target} {n}\n\n".encode()
                yield Pause(period)

        return parts()

    return Reply(body=body, end="hang")


def numbered(total: int, period: float = 0.01) -> Reply:
    """Holds events 1..total and sends those after Last-Event-ID, then stays open."""

    def body(request: RecordedRequest) -> AsyncIterator[BodyPart]:
        async def parts() -> AsyncIterator[BodyPart]:
            for n in range(start_id(request), total + 1):
                yield f"id: {n}\ndata: event {n}\n\n".encode()
                yield Pause(period)

        return parts()

    return Reply(body=body, end="hang")


def replaying(total: int) -> Reply:
    """Ignores Last-Event-ID: sends its whole backlog 1..total at each connection, then closes."""
    blob = b"".join(f"id: {n}\ndata: event {n}\n\n".encode() for n in range(1, total + 1))
    return Reply(body=[blob[: len(blob) // 2], blob[len(blob) // 2 :]], end="close")


class Paths:
    """A script that answers each path with its own reply (404 for unknown paths)."""

    def __init__(self, **routes: Reply) -> None:
        self.routes = {"/" + name.replace("_", "/"): reply for name, reply in routes.items()}

    def __call__(self, request: RecordedRequest) -> Reply:
        path = request.target.split("?", 1)[0]
        reply = self.routes.get(path)
        if reply is None:
            return Reply(status=404, headers=(("Content-Type", "text/plain"),), framing="length")
        return reply


def hits(server: ScriptedServer, path: str) -> int:
    return sum(1 for r in server.requests if r.target.split("?", 1)[0] == path)


def requests_to(server: ScriptedServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.target.split("?", 1)[0] == path]


# -- the hub's surroundings ------------------------------------------------------------


class Sink:
    """Collects what the hub hands to sinks, per feed, and lets a test wait on it."""

    def __init__(self) -> None:
        self.events: dict[str, list[StoredEvent]] = defaultdict(list)
        self.statuses: dict[str, list[FeedStatus]] = defaultdict(list)
        self.changed = asyncio.Event()

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        self.events[feed.id].extend(events)
        self.changed.set()

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.statuses[feed.id].append(status)
        self.changed.set()

    def count(self, feed_id: str) -> int:
        return len(self.events[feed_id])

    def states(self, feed_id: str) -> list[ConnectionState]:
        return [s.state for s in self.statuses[feed_id]]

    async def wait_for(self, predicate: Callable[[], object], within: float = LIMIT) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class Env:
    """A store, secrets, a sink and hubs built on them; everything closed at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "history.sqlite3"
        self.store = HistoryStore(self.path)
        self.secrets = MemoryStore()
        self.sink = Sink()
        self.hubs: list[Hub] = []

    def hub(self, *sinks: Any, store: HistoryStore | None = None) -> Hub:
        hub = Hub(
            store=store or self.store,
            secrets=self.secrets,
            sinks=sinks or (self.sink,),
            policy=POLICY,
        )
        self.hubs.append(hub)
        return hub

    async def close(self) -> None:
        for hub in self.hubs:
            await hub.stop()
        await self.store.close()


def feed(server: ScriptedServer, key: str, **fields: Any) -> Feed:
    """A feed with id ``key`` (and, unless given, that name) at the path ``key`` names."""
    fields.setdefault("name", key)
    return Feed(id=key, url=server.url("/" + key.replace("_", "/")), **fields)


def feed_tasks() -> list[asyncio.Task[Any]]:
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("tidings-feed-") and not t.done()
    ]


async def stored_ids(store: HistoryStore, feed_id: str) -> list[int]:
    events = await store.recent(feed_id, limit=100_000)
    return sorted(int(e.event_id) for e in events)


# -- several feeds ---------------------------------------------------------------------


async def test_feeds_run_concurrently_with_their_own_statuses(env: Env) -> None:
    """Feeds run side by side; each has its own status and its own stored events."""
    async with ScriptedServer(Paths(a=ticking(), b=ticking())) as server:
        hub = env.hub()
        await hub.start([feed(server, "a"), feed(server, "b"), feed(server, "missing")])
        assert set(hub.statuses) == {"a", "b", "missing"}  # a status from the start
        sink = env.sink
        await sink.wait_for(lambda: sink.count("a") >= 3 and sink.count("b") >= 3)
        await sink.wait_for(lambda: hub.statuses["missing"].state is ConnectionState.STOPPED)
        assert hub.statuses["a"].state is ConnectionState.OPEN
        assert hub.statuses["b"].state is ConnectionState.OPEN
        assert hub.statuses["missing"].stop_reason is StopReason.HTTP_STATUS
        assert hub.statuses["missing"].http_status == 404
        assert {e.data.split()[0] for e in sink.events["a"]} == {"/a"}
        await hub.stop()
        assert await env.store.count("a") == sink.count("a")
        assert await env.store.cursor("b") == sink.events["b"][-1].event_id
        assert [f.id for f in hub.feeds] == ["a", "b", "missing"]


async def test_controlling_one_feed_leaves_the_others_alone(env: Env) -> None:
    """add/pause/resume/reconnect/update/remove on one feed: the others keep their connection."""
    routes = {"s1": ticking(), "s2": ticking(), "x": ticking(), "y": ticking()}
    async with ScriptedServer(Paths(**routes)) as server:
        hub = env.hub()
        sink = env.sink
        await hub.start([feed(server, "s1"), feed(server, "s2")])
        await sink.wait_for(lambda: sink.count("s1") >= 2 and sink.count("s2") >= 2)

        async def others_keep_going() -> None:
            before = {f: sink.count(f) for f in ("s1", "s2")}
            await sink.wait_for(lambda: all(sink.count(f) >= before[f] + 3 for f in before))
            assert hits(server, "/s1") == 1
            assert hits(server, "/s2") == 1
            assert hub.statuses["s1"].state is ConnectionState.OPEN
            assert hub.statuses["s2"].state is ConnectionState.OPEN

        hub.add(feed(server, "x"))
        await sink.wait_for(lambda: sink.count("x") >= 2)
        await others_keep_going()

        await hub.pause("x")
        assert hub.statuses["x"].state is ConnectionState.PAUSED
        await others_keep_going()

        await hub.resume("x")
        await sink.wait_for(lambda: hits(server, "/x") == 2 and sink.count("x") >= 4)
        await others_keep_going()

        await hub.reconnect("x")
        await sink.wait_for(lambda: hits(server, "/x") == 3)
        await others_keep_going()

        await hub.update(feed(server, "x", name="renamed"))
        await sink.wait_for(lambda: hits(server, "/x") == 4)
        assert hub.feed("x") is not None
        assert hub.feed("x").name == "renamed"  # type: ignore[union-attr]
        await others_keep_going()

        await hub.remove("x")
        assert "x" not in hub.statuses
        assert hub.feed("x") is None
        assert not [t for t in feed_tasks() if t.get_name() == "tidings-feed-x"]
        await others_keep_going()
        assert hits(server, "/x") == 4

        # Each reconnect of x resumed after the last event it had stored: no loss, no repeat.
        ids = await stored_ids(env.store, "x")
        assert ids == list(range(1, len(ids) + 1))


async def test_update_applies_a_changed_url(env: Env) -> None:
    """update() with a new URL reconnects to it; an unchanged update does not reconnect."""
    async with ScriptedServer(Paths(old=ticking(), new=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        original = feed(server, "old")
        hub.add(original)
        await sink.wait_for(lambda: sink.count("old") >= 2)
        await hub.update(original)
        assert hits(server, "/old") == 1
        await hub.update(Feed(id="old", name="old", url=server.url("/new")))
        await sink.wait_for(lambda: any(e.data.startswith("/new ") for e in sink.events["old"]))
        assert hub.statuses["old"].state is ConnectionState.OPEN
        assert hub.statuses["old"].url == server.url("/new")
        assert hits(server, "/new") == 1
        # The cursor was kept: the new URL was asked to resume after the last stored id.
        assert requests_to(server, "/new")[0].header("Last-Event-ID") is not None


async def test_pause_shows_paused_and_sends_nothing(env: Env) -> None:
    """A paused feed is PAUSED and makes no request until resumed, then resumes from its cursor."""
    async with ScriptedServer(Paths(p=ticking(), q=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        hub.add(feed(server, "p", paused=True))
        hub.add(feed(server, "q"))
        await sink.wait_for(lambda: sink.count("q") >= 2)
        await asyncio.sleep(0.2)
        assert hub.statuses["p"].state is ConnectionState.PAUSED
        assert hits(server, "/p") == 0

        await hub.pause("q")
        assert hub.statuses["q"].state is ConnectionState.PAUSED
        assert hub.feed("q").paused  # type: ignore[union-attr]
        cursor = await env.store.cursor("q")
        count = sink.count("q")
        await hub.pause("q")  # pausing again changes nothing
        await asyncio.sleep(0.3)
        assert hits(server, "/q") == 1
        assert sink.count("q") == count
        assert hub.statuses["q"].state is ConnectionState.PAUSED

        await hub.resume_all()
        await sink.wait_for(lambda: sink.count("p") >= 1 and sink.count("q") > count)
        assert requests_to(server, "/q")[1].header("Last-Event-ID") == cursor
        assert hits(server, "/p") == 1


async def test_resume_and_resume_all_leave_running_feeds_alone(env: Env) -> None:
    """resume() of a feed that is not paused does not restart its connection."""
    async with ScriptedServer(Paths(r=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        hub.add(feed(server, "r"))
        await sink.wait_for(lambda: sink.count("r") >= 2)
        await hub.resume("r")
        await hub.resume_all()
        count = sink.count("r")
        await sink.wait_for(lambda: sink.count("r") >= count + 3)
        assert hits(server, "/r") == 1


async def test_pause_all_and_reconnect_all(env: Env) -> None:
    """pause_all pauses every feed; reconnect_all skips paused ones and restarts the rest."""
    async with ScriptedServer(Paths(a=ticking(), b=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        await hub.start([feed(server, "a"), feed(server, "b")])
        await sink.wait_for(lambda: sink.count("a") >= 1 and sink.count("b") >= 1)
        await hub.pause_all()
        assert {s.state for s in hub.statuses.values()} == {ConnectionState.PAUSED}
        await hub.reconnect_all()
        await asyncio.sleep(0.2)
        assert (hits(server, "/a"), hits(server, "/b")) == (1, 1)
        await hub.resume("a")
        await sink.wait_for(lambda: hits(server, "/a") == 2)
        await hub.reconnect_all()
        await sink.wait_for(lambda: hits(server, "/a") == 3)
        assert hits(server, "/b") == 1
        assert hub.statuses["b"].state is ConnectionState.PAUSED


async def test_concurrent_control_calls_leave_one_task(env: Env) -> None:
    """Overlapping control calls on one feed never leave a second task running."""
    async with ScriptedServer(Paths(c=ticking(), d=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        base = feed(server, "c")
        hub.add(base)
        await sink.wait_for(lambda: sink.count("c") >= 1)
        for round_ in range(5):
            await asyncio.gather(
                hub.reconnect("c"),
                hub.update(Feed(id="c", name=f"c{round_}", url=base.url)),
                hub.reconnect("c"),
                hub.pause("c"),
                hub.resume("c"),
            )
            await asyncio.sleep(0.05)
            assert len([t for t in feed_tasks() if t.get_name() == "tidings-feed-c"]) <= 1
        # remove racing an update: nothing survives the removal.
        await asyncio.gather(hub.update(Feed(id="c", name="z", url=base.url)), hub.remove("c"))
        await asyncio.sleep(0.1)
        assert not [t for t in feed_tasks() if t.get_name() == "tidings-feed-c"]
        assert "c" not in hub.statuses
        # A feed can come back under the same id.
        hub.add(feed(server, "d"))
        await sink.wait_for(lambda: sink.count("d") >= 1)


async def test_failing_sink_does_not_break_the_hub(env: Env) -> None:
    """A sink that raises on every call is logged; other sinks and the feed go on."""

    class Broken:
        def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
            raise RuntimeError("sink bug")

        def status_changed(self, feed: Feed, status: FeedStatus) -> None:
            raise RuntimeError("sink bug")

    async with ScriptedServer(Paths(s=ticking())) as server:
        hub = env.hub(Broken(), env.sink)
        hub.add(feed(server, "s"))
        await env.sink.wait_for(lambda: env.sink.count("s") >= 5)
        assert hub.statuses["s"].state is ConnectionState.OPEN
        assert hits(server, "/s") == 1
        assert await env.store.count("s") >= 5


async def test_stop_ends_every_task(env: Env) -> None:
    """stop() ends every feed task, in every state, promptly; each feed ends STOPPED or PAUSED."""
    async with ScriptedServer(Paths(open=ticking(), flaky=Reply(status=503))) as server:
        hub = env.hub()
        sink = env.sink
        await hub.start(
            [
                feed(server, "open"),
                feed(server, "flaky"),
                feed(server, "paused", paused=True),
                Feed(id="refused", name="refused", url="http://127.0.0.1:9/"),
            ]
        )
        await sink.wait_for(
            lambda: (
                sink.count("open") >= 1
                and ConnectionState.RETRYING in sink.states("flaky")
                and ConnectionState.RETRYING in sink.states("refused")
            )
        )
        started = time.monotonic()
        await hub.stop()
        assert time.monotonic() - started < 2.0
        assert feed_tasks() == []
        others = {
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and t not in server._tasks
        }
        assert others == set()
        states = {f: s.state for f, s in hub.statuses.items()}
        assert states == {
            "open": ConnectionState.STOPPED,
            "flaky": ConnectionState.STOPPED,
            "paused": ConnectionState.PAUSED,
            "refused": ConnectionState.STOPPED,
        }
        assert all(
            s.stop_reason is StopReason.CLOSED for f, s in hub.statuses.items() if f != "paused"
        )
        count = hits(server, "/open") + hits(server, "/flaky")
        await asyncio.sleep(0.2)
        assert hits(server, "/open") + hits(server, "/flaky") == count


async def test_hub_as_context_manager_stops_on_exit(env: Env) -> None:
    """``async with hub`` stops it on the way out."""
    async with ScriptedServer(Paths(a=ticking())) as server:
        async with env.hub() as hub:
            hub.add(feed(server, "a"))
            await env.sink.wait_for(lambda: env.sink.count("a") >= 1)
        assert feed_tasks() == []
        assert hub.statuses["a"].state is ConnectionState.STOPPED


async def test_reconnect_after_credentials_are_set(env: Env) -> None:
    """A feed stopped for missing credentials connects with them after reconnect()."""

    def script(request: RecordedRequest) -> Reply:
        if request.header("Authorization") == "Bearer s3cret":
            return ticking()
        return Reply(status=401, headers=(("Content-Type", "text/plain"),), framing="length")

    async with ScriptedServer(script) as server:
        hub = env.hub()
        sink = env.sink
        hub.add(feed(server, "auth", auth=Auth(kind=AuthKind.BEARER)))
        await sink.wait_for(lambda: hub.statuses["auth"].state is ConnectionState.STOPPED)
        assert hub.statuses["auth"].stop_reason is StopReason.NEEDS_CREDENTIALS
        await env.secrets.set("auth", auth_slot(), "s3cret")
        await hub.reconnect("auth")
        await sink.wait_for(lambda: sink.count("auth") >= 1)
        assert hub.statuses["auth"].state is ConnectionState.OPEN


async def test_unreadable_ca_file_stops_only_that_feed(env: Env, tmp_path: Path) -> None:
    """A feed whose CA file is missing stops with a TLS reason; the other feed runs on."""
    async with ScriptedServer(Paths(ok=ticking(), ca=ticking())) as server:
        hub = env.hub()
        sink = env.sink
        missing = TlsOptions(ca_file=str(tmp_path / "no-such-ca.pem"))
        await hub.start([feed(server, "ok"), feed(server, "ca", tls=missing)])
        await sink.wait_for(lambda: hub.statuses["ca"].state is ConnectionState.STOPPED)
        assert hub.statuses["ca"].stop_reason is StopReason.TLS
        assert "no-such-ca.pem" in hub.statuses["ca"].message
        await sink.wait_for(lambda: sink.count("ok") >= 2)
        assert hits(server, "/ca") == 0


# -- the store under the hub -------------------------------------------------------------


class SlowStore(HistoryStore):
    """Takes its time committing each batch (in the worker thread, as a slow disk would)."""

    delay = 0.3

    def _record_sync(
        self, feed_id: str, events: Sequence[DecodedEvent], cursor: str | None, dedupe: bool
    ) -> list[StoredEvent]:
        time.sleep(self.delay)
        return super()._record_sync(feed_id, events, cursor, dedupe)


class FailingStore(HistoryStore):
    """Fails the first commits of one feed, as a full disk would."""

    failures = 1

    def _record_sync(
        self, feed_id: str, events: Sequence[DecodedEvent], cursor: str | None, dedupe: bool
    ) -> list[StoredEvent]:
        if feed_id == "bad" and self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return super()._record_sync(feed_id, events, cursor, dedupe)


async def test_restart_during_a_commit_still_delivers_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed restarted while its batch commits: the sinks still see every stored event."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    store = SlowStore(tmp_path / "h.sqlite3")
    sink = Sink()
    async with store, ScriptedServer(Paths(slow=numbered(40, period=0.005))) as server:
        hub = Hub(store=store, secrets=MemoryStore(), sinks=[sink], policy=POLICY)
        try:
            hub.add(feed(server, "slow"))
            await server.wait_for_requests(1)
            await asyncio.sleep(0.15)  # the first batch is being committed now
            await hub.reconnect("slow")
            await asyncio.sleep(0.15)
            await hub.stop()
        finally:
            await hub.stop()
        ids = await stored_ids(store, "slow")
        assert ids
        assert sorted(int(e.event_id) for e in sink.events["slow"]) == ids
        assert ids == list(range(1, len(ids) + 1))


async def test_history_write_failure_stops_the_feed_visibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed commit stops that feed, saying why; reconnect resumes from the cursor, no loss."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    store = FailingStore(tmp_path / "h.sqlite3")
    sink = Sink()
    async with store, ScriptedServer(Paths(bad=numbered(20), good=ticking())) as server:
        hub = Hub(store=store, secrets=MemoryStore(), sinks=[sink], policy=POLICY)
        try:
            await hub.start([feed(server, "bad"), feed(server, "good")])
            await sink.wait_for(lambda: hub.statuses["bad"].state is ConnectionState.STOPPED)
            status = hub.statuses["bad"]
            assert status.stop_reason is StopReason.FAILED
            assert "disk is full" in status.message
            assert await store.cursor("bad") is None
            count = sink.count("good")
            await sink.wait_for(lambda: sink.count("good") >= count + 2)
            await hub.reconnect("bad")
            await sink.wait_for(lambda: sink.count("bad") >= 20)
            assert await stored_ids(store, "bad") == list(range(1, 21))
            assert requests_to(server, "/bad")[1].header("Last-Event-ID") is None
            assert hits(server, "/good") == 1
        finally:
            await hub.stop()


# -- resume across a restart -------------------------------------------------------------


async def test_restart_resumes_from_the_stored_cursor(env: Env) -> None:
    """Stop the hub mid-stream, start a new hub on the reopened store: 1..N exactly once."""
    total = 80
    async with ScriptedServer(Paths(n=numbered(total))) as server:
        first = env.hub()
        first.add(feed(server, "n"))
        await env.sink.wait_for(lambda: env.sink.count("n") >= 15)
        await first.stop()
        await env.store.close()
        assert len(server.requests) == 1

        reopened = HistoryStore(env.path)
        await reopened.open()
        try:
            cursor = await reopened.cursor("n")
            before = await stored_ids(reopened, "n")
            assert cursor == str(before[-1])
            assert before == list(range(1, len(before) + 1))
            assert len(before) < total, "the first run should have stopped mid-stream"
            sink = Sink()
            second = env.hub(sink, store=reopened)
            second.add(feed(server, "n"))
            await sink.wait_for(lambda: len(before) + sink.count("n") >= total)
            assert server.requests[1].header("Last-Event-ID") == cursor
            await second.stop()
            assert await stored_ids(reopened, "n") == list(range(1, total + 1))
            assert [int(e.event_id) for e in sink.events["n"]] == list(
                range(len(before) + 1, total + 1)
            )
        finally:
            await reopened.close()


def replaying_ntfy(total: int) -> Reply:
    """ntfy past an expired since= id: its whole cache at every connection, then closes.

    ntfy's wire format: an ``open`` event, then messages as bare ``data:`` JSON
    with the message id inside and no SSE ``id:`` line.
    """
    opened = (
        b'event: open\ndata: {"id":"k5lPzQVa3Rn0","time":1717171700,"event":"open","topic":"r"}\n\n'
    )
    blob = opened + b"".join(
        (
            f'data: {{"id":"m{n:011d}","time":{1717171700 + n},"event":"message",'
            f'"topic":"r","message":"event {n}"}}\n\n'
        ).encode()
        for n in range(1, total + 1)
    )
    return Reply(body=[blob[: len(blob) // 2], blob[len(blob) // 2 :]], end="close")


def message_numbers(events: Sequence[StoredEvent]) -> list[int]:
    """N of each stored "event N" message (ntfy's in its JSON, Mercure's as the data)."""
    numbers = []
    for event in events:
        if event.type == "message":
            found = re.search(r"event (\d+)", event.data)
            assert found is not None, event.data
            numbers.append(int(found.group(1)))
    return sorted(numbers)


@pytest.mark.parametrize("preset", ["ntfy", "mercure"])
async def test_replayed_backlog_is_deduplicated_for_stable_ids(env: Env, preset: str) -> None:
    """A server replaying its whole backlog on every connection and restart: stored once each."""
    total = 30
    # ntfy subscribes at /r/sse (the preset adds /sse to the topic URL), Mercure at /r.
    routes = Paths(r=replaying(total), r_sse=replaying_ntfy(total))
    async with ScriptedServer(routes) as server:
        hub = env.hub()
        hub.add(feed(server, "r", preset=preset))
        await server.wait_for_requests(3)
        await env.sink.wait_for(lambda: len(message_numbers(env.sink.events["r"])) >= total)
        await hub.stop()
        stored = await env.store.recent("r", limit=100_000)
        assert message_numbers(stored) == list(range(1, total + 1))

        again = env.hub()
        again.add(feed(server, "r", preset=preset))
        seen = len(server.requests)
        await server.wait_for_requests(seen + 2)
        await asyncio.sleep(0.1)
        await again.stop()
        stored = await env.store.recent("r", limit=100_000)
        assert message_numbers(stored) == list(range(1, total + 1))
        # The sinks never saw a replayed message.
        assert message_numbers(env.sink.events["r"]) == list(range(1, total + 1))
        if preset == "ntfy":
            assert {r.target.split("?", 1)[0] for r in server.requests} == {"/r/sse"}
            # Every reconnect asked for what came after the last message seen.
            assert [r.target.partition("?")[2] for r in server.requests][1:] == [
                f"since=m{total:011d}"
            ] * (len(server.requests) - 1)


async def test_replayed_backlog_is_kept_for_plain_ids(env: Env) -> None:
    """With the plain preset, ids may restart, so a replay is stored again (SSE.md section 5)."""
    total = 30
    async with ScriptedServer(Paths(r=replaying(total))) as server:
        hub = env.hub()
        hub.add(feed(server, "r"))
        await server.wait_for_requests(3)
        await env.sink.wait_for(lambda: env.sink.count("r") >= 2 * total)
        await hub.stop()
        ids = await stored_ids(env.store, "r")
        assert len(ids) >= 2 * total
        assert set(ids) == set(range(1, total + 1))


# -- many feeds --------------------------------------------------------------------------


async def test_two_hundred_feeds(env: Env) -> None:
    """200 feeds in one hub against two servers: all OPEN, each gets its events, stop is prompt."""
    count = 200
    one_event = Reply(body=[b"id: 1\ndata: hello\n\n"], end="hang")
    half = count // 2
    routes_a = {f"f_{i}": one_event for i in range(half)}
    routes_b = {f"f_{i}": one_event for i in range(half, count)}
    async with ScriptedServer(Paths(**routes_a)) as a, ScriptedServer(Paths(**routes_b)) as b:
        hub = env.hub()
        feeds = [feed(a if i < half else b, f"f_{i}") for i in range(count)]
        started = time.monotonic()
        await hub.start(feeds)
        sink = env.sink
        await sink.wait_for(
            lambda: all(
                hub.statuses[f.id].state is ConnectionState.OPEN and sink.count(f.id) >= 1
                for f in feeds
            ),
            within=15.0,
        )
        opened = time.monotonic() - started
        assert len(a.requests) + len(b.requests) == count
        assert await env.store.count() == count
        stopping = time.monotonic()
        await hub.stop()
        assert time.monotonic() - stopping < 3.0
        assert feed_tasks() == []
        assert all(s.state is ConnectionState.STOPPED for s in hub.statuses.values())
        assert opened < 15.0
