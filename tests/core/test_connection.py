"""EventSource against a real scripted HTTP/1.1 server on loopback (SSE.md R1-R12, R36-R42, §5).

Every test runs a real :class:`ScriptedServer` and a real httpx client, with
small timings (T = 20 ms) and injected randomness where the delay matters,
and is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import InvalidURLError
from tidings.core.models import ConnectionPolicy, ConnectionState, FeedStatus, StopReason
from tidings.core.sse import EventSource

T = 0.02
FAST = ConnectionPolicy(
    reconnection_time=T, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
LIMIT = 10.0  # every test is bounded by this (seconds)
HANG = sse_reply(end="hang")


def policy(**changes: Any) -> ConnectionPolicy:
    """FAST with some fields changed."""
    fields = {
        "reconnection_time": FAST.reconnection_time,
        "retry_floor": FAST.retry_floor,
        "idle_timeout": FAST.idle_timeout,
        "connect_timeout": FAST.connect_timeout,
    }
    fields.update(changes)
    return ConnectionPolicy(**fields)


class Recorder:
    """Collects events and statuses (with their monotonic time) and lets a test wait on them."""

    def __init__(self) -> None:
        self.events: list[DecodedEvent] = []
        self.batches: list[list[DecodedEvent]] = []
        self.statuses: list[FeedStatus] = []
        self.status_times: list[float] = []
        self.timeline: list[tuple[str, object]] = []
        self._changed = asyncio.Event()
        self.source: EventSource | None = None

    async def on_events(self, events: Sequence[DecodedEvent]) -> None:
        self.batches.append(list(events))
        self.events.extend(events)
        self.timeline.extend(("event", e) for e in events)
        self._changed.set()

    def on_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)
        self.status_times.append(time.monotonic())
        self.timeline.append(("status", status.state))
        self._changed.set()

    def of(self, state: ConnectionState) -> list[FeedStatus]:
        return [s for s in self.statuses if s.state is state]

    @property
    def data(self) -> list[str]:
        return [e.data for e in self.events]

    async def wait_until(self, predicate: Callable[[], object]) -> None:
        while not predicate():
            self._changed.clear()
            await self._changed.wait()


def make_source(url: str, rec: Recorder, **kwargs: Any) -> EventSource:
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("random", lambda: 0.0)
    source = EventSource(url, on_events=rec.on_events, on_status=rec.on_status, **kwargs)
    rec.source = source
    return source


async def run_until(
    source: EventSource, rec: Recorder, predicate: Callable[[], object]
) -> FeedStatus:
    """Run the source until the predicate holds (or it stops by itself), then close it."""
    task = asyncio.create_task(source.run())
    waiter = asyncio.create_task(rec.wait_until(predicate))
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        source.close()
    return await task


def values(request: RecordedRequest, name: str) -> list[bytes]:
    """Every raw value of one header in a recorded request."""
    key = name.lower().encode()
    return [v for n, v in request.raw_headers if n.lower() == key]


def by_path(routes: dict[str, Reply], default: Reply = HANG) -> Callable[[RecordedRequest], Reply]:
    """A script that answers by request path."""

    def script(request: RecordedRequest) -> Reply:
        return routes.get(request.target, default)

    return script


def redirect(status: int, location: str, *extra: tuple[str, str]) -> Reply:
    return Reply(
        status=status,
        headers=(("Location", location), ("Content-Type", "text/html"), *extra),
        body=[b"moved"],
        framing="length",
    )


def plain(status: int, body: bytes = b"nope", content_type: str = "text/plain") -> Reply:
    return Reply(
        status=status, headers=(("Content-Type", content_type),), body=[body], framing="length"
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- R1-R3: the request --------------------------------------------------------


async def test_request_is_a_get_with_exact_accept_cache_control_and_user_agent() -> None:
    """R1-R3: a GET with exactly Accept: text/event-stream, Cache-Control: no-cache, Tidings UA."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    request = srv.requests[0]
    assert request.method == "GET"
    assert request.target == "/events"
    assert values(request, "Accept") == [b"text/event-stream"]
    assert values(request, "Cache-Control") == [b"no-cache"]
    (agent,) = values(request, "User-Agent")
    assert b"Tidings" in agent


async def test_user_agent_can_be_replaced() -> None:
    """The injected user_agent replaces the default one, once."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        source = make_source(srv.url(), rec, user_agent="Tidings-test/0 (probe)")
        await run_until(source, rec, lambda: rec.events)
    assert values(srv.requests[0], "User-Agent") == [b"Tidings-test/0 (probe)"]


# -- R5 / R42: Last-Event-ID ---------------------------------------------------------

ID_255 = "<" + "a" * 249 + "é☃"


@pytest.mark.parametrize("last_id", ["é-☃", ID_255, "<", "1", "a b", '{"p":0}'])
async def test_last_event_id_sent_on_reconnect_as_utf8_bytes(last_id: str) -> None:
    """R5/R42: no Last-Event-ID on the first request; on the reconnect the id's UTF-8 bytes."""
    assert len(ID_255.encode()) == 255
    first = sse_reply(f"id: {last_id}\ndata: a\n\n".encode())
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(
            source, rec, lambda: len(srv.requests) >= 2 and rec.of(ConnectionState.OPEN)[1:]
        )
    assert not srv.requests[0].has_header("Last-Event-ID")
    assert values(srv.requests[1], "Last-Event-ID") == [last_id.encode("utf-8")]
    assert rec.events[0].id == last_id
    assert source.last_event_id == last_id


async def test_last_event_id_not_sent_when_reset_to_empty() -> None:
    """R5/R24: an empty id: field resets the id, and an empty id is never sent."""
    first = sse_reply(b"id: 1\ndata: a\n\nid\ndata: b\n\n")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    assert [e.id for e in rec.events] == ["1", ""]
    assert not srv.requests[1].has_header("Last-Event-ID")
    assert source.last_event_id == ""


async def test_no_last_event_id_without_any_id() -> None:
    """R5: a stream without ids sends no Last-Event-ID on reconnect."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: len(srv.requests) >= 2)
    assert not any(r.has_header("Last-Event-ID") for r in srv.requests)


async def test_resume_sends_seeded_id_on_first_connection() -> None:
    """resume=True: a persisted cursor goes as Last-Event-ID on the very first request."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        source = make_source(srv.url(), rec, last_event_id="é-42", resume=True)
        await run_until(source, rec, lambda: rec.events)
    assert values(srv.requests[0], "Last-Event-ID") == ["é-42".encode()]
    assert rec.events[0].id == "é-42"  # the seeded id is sticky too


async def test_seeded_id_without_resume_waits_for_a_reconnect() -> None:
    """R5: without resume a seeded id is not sent first, but is sent on the reconnect."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, last_event_id="seed")
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    assert not srv.requests[0].has_header("Last-Event-ID")
    assert values(srv.requests[1], "Last-Event-ID") == [b"seed"]


@pytest.mark.parametrize("raw_id", [b" x", b"x ", b"\tx", b"x\t", b"a\x0bb", b"a\x0cb", b" "])
async def test_unsendable_id_is_dropped_with_a_warning(
    raw_id: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """§5: an id HTTP/1.1 cannot carry is not sent; the reconnect goes on, with one warning."""
    caplog.set_level(logging.WARNING, logger="tidings")
    first = sse_reply(b"id: " + raw_id + b"\ndata: a\n\n")
    later = sse_reply(b"id: ok-1\ndata: b\n\n")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, first, later, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        final = await run_until(source, rec, lambda: len(rec.of(ConnectionState.OPEN)) >= 4)
    assert final.stop_reason is StopReason.CLOSED
    assert [e.id for e in rec.events] == [raw_id.decode(), raw_id.decode(), "ok-1"]
    assert len(srv.requests) == 4
    assert not any(r.has_header("Last-Event-ID") for r in srv.requests[:3])
    assert values(srv.requests[3], "Last-Event-ID") == [b"ok-1"]
    # Each reconnect followed one clean end: no retry loop, no failure, no stop.
    assert [s.message for s in rec.of(ConnectionState.RETRYING)] == [
        "the server closed the stream"
    ] * 3
    warnings = [r for r in caplog.records if "Last-Event-ID" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert repr(raw_id.decode()) in warnings[0].getMessage()


# -- R4: cookies ----------------------------------------------------------------------


async def test_cookie_set_by_stream_is_sent_on_reconnect() -> None:
    """R4: a cookie set by the first stream response goes along on the reconnect."""
    first = sse_reply(b"data: a\n\n", extra_headers=[("Set-Cookie", "sid=abc123; Path=/")])
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: len(srv.requests) >= 2)
    assert not srv.requests[0].has_header("Cookie")
    assert values(srv.requests[1], "Cookie") == [b"sid=abc123"]


# -- R8 / R39: redirects ------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_ends_in_working_stream_and_reconnects_to_original_url(status: int) -> None:
    """R8/R39: each redirect status ends in a working stream; reconnects go to the original URL."""
    routes = {
        "/events": redirect(status, "/stream"),
        "/stream": sse_reply(b"id: 1\ndata: hello\n\n"),
    }
    async with asyncio.timeout(LIMIT), ScriptedServer(by_path(routes)) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: len(srv.requests) >= 4)
        assert source.origin == srv.origin
    assert [r.target for r in srv.requests[:4]] == ["/events", "/stream", "/events", "/stream"]
    assert all(r.method == "GET" for r in srv.requests)
    assert rec.data[:1] == ["hello"]
    assert not srv.requests[1].has_header("Last-Event-ID")
    assert values(srv.requests[2], "Last-Event-ID") == [b"1"]
    assert values(srv.requests[3], "Last-Event-ID") == [b"1"]


@pytest.mark.parametrize(
    "routes",
    [
        {"/events": redirect(302, "/events")},
        {"/events": redirect(307, "/a"), "/a": redirect(301, "/b"), "/b": redirect(302, "/events")},
    ],
    ids=["self", "cycle"],
)
async def test_redirect_loop_stops(routes: dict[str, Reply]) -> None:
    """R8/§5: a redirect loop stops for good with StopReason.REDIRECT."""
    async with asyncio.timeout(LIMIT), ScriptedServer(by_path(routes)) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.state is ConnectionState.STOPPED
    assert final.stop_reason is StopReason.REDIRECT
    assert "loop" in final.message
    assert not rec.of(ConnectionState.RETRYING)
    assert len(srv.requests) == len(routes)


@pytest.mark.parametrize(("hops", "works"), [(3, True), (4, False)])
async def test_redirect_count_is_bounded(hops: int, works: bool) -> None:
    """§5: at most max_redirects redirects are followed; one more stops with REDIRECT."""
    routes = {"/events": redirect(302, "/r1")}
    routes |= {f"/r{k}": redirect(302, f"/r{k + 1}") for k in range(1, hops)}
    routes[f"/r{hops}"] = sse_reply(b"data: there\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer(by_path(routes)) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(max_redirects=3))
        final = await run_until(source, rec, lambda: rec.events)
    if works:
        assert rec.data == ["there"]
        assert final.stop_reason is StopReason.CLOSED
        assert len(srv.requests) == hops + 1
    else:
        assert rec.events == []
        assert final.stop_reason is StopReason.REDIRECT
        assert "too many redirects" in final.message
        assert len(srv.requests) == 4


async def test_redirect_to_unsupported_scheme_stops() -> None:
    """§5: a redirect to ftp:// stops with REDIRECT and never leaks the target's secrets."""
    routes = {"/events": redirect(302, "ftp://user:pw@files.example/x?token=SECRET")}
    async with asyncio.timeout(LIMIT), ScriptedServer(by_path(routes)) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.stop_reason is StopReason.REDIRECT
    assert "unsupported" in final.message
    assert "SECRET" not in final.message
    assert "pw" not in final.message
    assert len(srv.requests) == 1


USER_HEADERS = [
    ("Authorization", "Bearer TOKEN-1"),
    ("X-Api-Key", "KEY-1"),
    ("Cookie", "user=1"),
]


async def test_cross_origin_redirect_drops_user_headers_but_keeps_last_event_id() -> None:
    """§5: on a redirect to another origin no user header or first-origin cookie goes along."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer(host_name="127.0.0.1") as a,
        ScriptedServer([sse_reply(b"data: b\n\n", end="hang")], host_name="localhost") as b,
    ):
        a.set_script(
            by_path({"/events": redirect(307, b.url("/stream"), ("Set-Cookie", "a_sid=1; Path=/"))})
        )
        rec = Recorder()
        source = make_source(a.url(), rec, headers=USER_HEADERS, last_event_id="41", resume=True)
        await run_until(source, rec, lambda: rec.events)
        assert source.origin == b.origin
    sent_a = a.requests[0]
    assert values(sent_a, "Authorization") == [b"Bearer TOKEN-1"]
    assert values(sent_a, "X-Api-Key") == [b"KEY-1"]
    assert values(sent_a, "Cookie") == [b"user=1"]
    (sent_b,) = b.requests
    assert sent_b.target == "/stream"
    for name in ("Authorization", "X-Api-Key", "Cookie"):
        assert not sent_b.has_header(name), name
    assert values(sent_b, "Last-Event-ID") == [b"41"]
    assert values(sent_b, "Accept") == [b"text/event-stream"]
    assert rec.data == ["b"]


async def test_headers_stay_dropped_when_a_redirect_chain_comes_back() -> None:
    """§5: once a redirect chain has left the origin, user headers stay off even back home."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer(host_name="127.0.0.1") as a,
        ScriptedServer(host_name="localhost") as b,
    ):
        a.set_script(
            by_path({"/events": redirect(302, b.url("/hop")), "/home": sse_reply(b"data: h\n\n")})
        )
        b.set_script(by_path({"/hop": redirect(302, a.url("/home"))}))
        rec = Recorder()
        source = make_source(a.url(), rec, headers=USER_HEADERS)
        await run_until(source, rec, lambda: rec.events)
    assert [r.target for r in a.requests[:2]] == ["/events", "/home"]
    assert values(a.requests[0], "X-Api-Key") == [b"KEY-1"]
    for request in (b.requests[0], a.requests[1]):
        for name in ("Authorization", "X-Api-Key", "Cookie"):
            assert not request.has_header(name), name


async def test_url_credentials_do_not_follow_a_cross_origin_redirect() -> None:
    """§5: Basic credentials from the URL's user info go to the feed's origin only."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer(host_name="127.0.0.1") as a,
        ScriptedServer([sse_reply(b"data: b\n\n", end="hang")], host_name="localhost") as b,
    ):
        a.set_script(by_path({"/events": redirect(307, b.url("/stream"))}))
        rec = Recorder()
        source = make_source(f"http://user:pass@127.0.0.1:{a.port}/events", rec)
        await run_until(source, rec, lambda: rec.events)
    (auth,) = values(a.requests[0], "Authorization")
    assert auth.startswith(b"Basic ")
    assert not b.requests[0].has_header("Authorization")


async def test_same_origin_redirect_keeps_user_headers() -> None:
    """§5: a redirect within the same origin keeps the user's headers."""
    routes = {"/events": redirect(307, "/stream"), "/stream": sse_reply(b"data: s\n\n", end="hang")}
    async with asyncio.timeout(LIMIT), ScriptedServer(by_path(routes)) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, headers=USER_HEADERS)
        await run_until(source, rec, lambda: rec.events)
    assert [r.target for r in srv.requests] == ["/events", "/stream"]
    for request in srv.requests:
        assert values(request, "Authorization") == [b"Bearer TOKEN-1"]
        assert values(request, "X-Api-Key") == [b"KEY-1"]
        assert values(request, "Cookie") == [b"user=1"]


# -- R9 and the status table of §5 --------------------------------------------------------


async def test_204_stops_for_good() -> None:
    """R9/§5: 204 stops with NO_CONTENT, not an error, and never reconnects."""
    reply = Reply(status=204, headers=(("Content-Type", "text/event-stream"),))
    async with asyncio.timeout(LIMIT), ScriptedServer([reply]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.state is ConnectionState.STOPPED
    assert final.stop_reason is StopReason.NO_CONTENT
    assert not final.stop_reason.is_error
    assert final.http_status == 204
    assert len(srv.requests) == 1
    assert [s.state for s in rec.statuses] == [ConnectionState.CONNECTING, ConnectionState.STOPPED]


@pytest.mark.parametrize("status", [205, 210, 299, 400, 404, 405, 410])
async def test_other_statuses_are_fatal_with_the_status(status: int) -> None:
    """R9/§5: any other non-200, non-transient status stops with HTTP_STATUS naming it."""
    reply = plain(status, b"data: not an event\n\n", content_type="text/event-stream")
    async with asyncio.timeout(LIMIT), ScriptedServer([reply]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.stop_reason is StopReason.HTTP_STATUS
    assert final.stop_reason.is_error
    assert str(status) in final.message
    assert final.http_status == status
    assert rec.events == []
    assert not rec.of(ConnectionState.OPEN)
    assert len(srv.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_401_403_need_credentials(status: int) -> None:
    """§5: 401/403 stop with NEEDS_CREDENTIALS."""
    async with asyncio.timeout(LIMIT), ScriptedServer([plain(status)]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert str(status) in final.message
    assert final.http_status == status
    assert len(srv.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_transient_statuses_retry_without_parsing_the_body(status: int) -> None:
    """§5/G7: 408, 429, 5xx retry; their body is never parsed even if it looks like SSE."""
    bad = plain(status, b"id: bad\nretry: 5000\ndata: not an event\n\n", "text/event-stream")
    good = sse_reply(b"data: ok\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer([bad, good]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: rec.events)
    assert rec.data == ["ok"]
    assert [s.state for s in rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.RETRYING,
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.STOPPED,
    ]
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert retrying.http_status == status
    assert str(status) in retrying.message
    assert retrying.delay == pytest.approx(T)
    assert source.last_event_id == ""
    assert source.reconnection_time == pytest.approx(T)
    assert not srv.requests[1].has_header("Last-Event-ID")


async def test_retry_after_seconds_is_honoured() -> None:
    """§5: 429 with Retry-After: 1 delays the next attempt by at least 1 s even with a tiny T."""
    busy = Reply(
        status=429,
        headers=(("Content-Type", "text/plain"), ("Retry-After", "1")),
        body=[b"slow"],
        framing="length",
    )
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([busy, sse_reply(b"data: ok\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert retrying.delay == 1.0
    assert retrying.http_status == 429
    i = rec.statuses.index(retrying)
    assert rec.statuses[i + 1].state is ConnectionState.CONNECTING
    assert rec.status_times[i + 1] - rec.status_times[i] >= 0.99
    assert rec.data == ["ok"]


@pytest.mark.parametrize(("offset", "expected"), [(30, 30.0), (-30, T)])
async def test_retry_after_http_date(offset: int, expected: float) -> None:
    """§5: Retry-After as an HTTP date is honoured when in the future, ignored when past."""
    now = 1_700_000_000.0
    when = email.utils.formatdate(now + offset, usegmt=True)
    busy = Reply(
        status=503,
        headers=(("Content-Type", "text/plain"), ("Retry-After", when)),
        body=[b"x"],
        framing="length",
    )
    async with asyncio.timeout(LIMIT), ScriptedServer([busy, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, clock=lambda: now)
        await run_until(source, rec, lambda: rec.of(ConnectionState.RETRYING))
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert retrying.delay == pytest.approx(expected)
    assert retrying.next_attempt_at == pytest.approx(now + expected)


async def test_garbage_retry_after_is_ignored() -> None:
    """§5: an unreadable Retry-After (even an absurd date) falls back to the backoff delay."""
    junk = "Sun, 06 Nov 99999999999999999999 08:49:37 GMT"
    busy = Reply(
        status=503,
        headers=(("Content-Type", "text/plain"), ("Retry-After", junk)),
        body=[b"x"],
        framing="length",
    )
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([busy, sse_reply(b"data: ok\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        final = await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    assert final.stop_reason is StopReason.CLOSED
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert retrying.delay == pytest.approx(T)
    assert rec.data == ["ok"]


# -- R10: Content-Type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/event-stream",
        "text/event-stream;charset=utf-8",
        "Text/Event-Stream",
        "text/event-stream;",
        "TEXT/EVENT-STREAM ; charset=windows-1252",
    ],
)
async def test_event_stream_content_types_are_accepted(content_type: str) -> None:
    """R10: the lower-cased essence counts; parameters and a bare ';' are ignored."""
    reply = sse_reply(b"data: ok\n\n", end="hang", content_type=content_type)
    async with asyncio.timeout(LIMIT), ScriptedServer([reply]) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    assert rec.data == ["ok"]


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/html", "text/html"),
        ("text/html; charset=utf-8", "text/html"),
        (None, "no Content-Type"),
        ("text/event-streams", "text/event-streams"),
        ("application/text/event-stream", "application/text/event-stream"),
        ("application/json, text/event-stream", "application/json, text/event-stream"),
    ],
)
async def test_other_content_types_stop(content_type: str | None, named: str) -> None:
    """R10/§5: any other (or no) Content-Type stops with NOT_EVENT_STREAM naming what came."""
    headers = () if content_type is None else (("Content-Type", content_type),)
    reply = Reply(headers=headers, body=[b"data: not parsed\n\n"])
    async with asyncio.timeout(LIMIT), ScriptedServer([reply]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec).run()
    assert final.stop_reason is StopReason.NOT_EVENT_STREAM
    assert named in final.message
    assert final.http_status == 200
    assert rec.events == []
    assert not rec.of(ConnectionState.OPEN)
    assert len(srv.requests) == 1


async def test_body_is_utf8_whatever_the_charset() -> None:
    """R13: a charset parameter never changes the decoding: the body is UTF-8."""
    reply = sse_reply(
        "data: é☃\n\n".encode(), end="hang", content_type="text/event-stream; charset=iso-8859-1"
    )
    async with asyncio.timeout(LIMIT), ScriptedServer([reply]) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    assert rec.data == ["é☃"]


async def test_each_response_body_loses_its_own_bom() -> None:
    """R14: one leading BOM is removed from every response body, also after a reconnect."""
    bom = b"\xef\xbb\xbf"
    first = sse_reply(bom + b"data: one\n\n")
    second = sse_reply(bom[:1], Pause(0.02), bom[1:] + b"data: two\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, second]) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: len(rec.events) >= 2)
    assert rec.data == ["one", "two"]


# -- R11, R12, R36, R38: open, end, reconnect ----------------------------------------------


async def test_open_is_announced_before_the_first_event() -> None:
    """R11: CONNECTING, then OPEN (with the status), then the events."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    assert rec.timeline[:3] == [
        ("status", ConnectionState.CONNECTING),
        ("status", ConnectionState.OPEN),
        ("event", rec.events[0]),
    ]
    assert rec.of(ConnectionState.OPEN)[0].http_status == 200


async def test_clean_end_reconnects_and_the_id_is_sticky() -> None:
    """R12/R36/R38: EOF -> RETRYING -> reconnect; an event without id on it keeps the old id."""
    first = sse_reply(b"id: 7\ndata: a\n\n")
    second = sse_reply(b"data: b\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, second]) as srv:
        rec = Recorder()
        final = await run_until(make_source(srv.url(), rec), rec, lambda: len(rec.events) >= 2)
    assert [(e.data, e.id, e.has_own_id) for e in rec.events] == [
        ("a", "7", True),
        ("b", "7", False),
    ]
    assert [s.state for s in rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.RETRYING,
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.STOPPED,
    ]
    retrying = rec.of(ConnectionState.RETRYING)[0]
    assert retrying.message == "the server closed the stream"
    assert retrying.delay == pytest.approx(T)
    assert retrying.attempt == 1
    assert rec.of(ConnectionState.CONNECTING)[1].attempt == 2
    assert values(srv.requests[1], "Last-Event-ID") == [b"7"]
    assert final.stop_reason is StopReason.CLOSED


async def test_unterminated_block_is_dropped_and_its_id_not_committed() -> None:
    """R34: at EOF a block without its blank line is discarded; its id is not sent."""
    first = sse_reply(b"id: 1\ndata: a\n\nid: 2\ndata: lost")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    assert rec.data == ["a"]
    assert values(srv.requests[1], "Last-Event-ID") == [b"1"]


async def test_retry_field_sets_the_reconnection_time_for_later_connections() -> None:
    """R25/R37/R38: retry: from connection 1 is the wait before connections 2 and 3."""
    first = sse_reply(b"retry: 150\ndata: a\n\n")
    empty = sse_reply()  # accepted, then closed at once without events
    async with asyncio.timeout(LIMIT), ScriptedServer([first, empty, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: len(srv.requests) >= 3)
    assert source.reconnection_time == pytest.approx(0.15)
    retrying = rec.of(ConnectionState.RETRYING)
    assert [s.delay for s in retrying] == [pytest.approx(0.15), pytest.approx(0.15)]
    for status in retrying:
        i = rec.statuses.index(status)
        assert rec.status_times[i + 1] - rec.status_times[i] >= 0.14


@pytest.mark.parametrize(("retry", "expected"), [(b"1", 0.01), (b"0", 0.01), (b"9" * 40, 0.25)])
async def test_retry_field_is_clamped(retry: bytes, expected: float) -> None:
    """§5: retry: below the floor or above the ceiling is clamped to them."""
    first = sse_reply(b"retry: " + retry + b"\ndata: a\n\n")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(retry_ceiling=0.25))
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    assert source.reconnection_time == pytest.approx(expected)
    assert rec.of(ConnectionState.RETRYING)[0].delay == pytest.approx(expected)


async def test_invalid_retry_field_is_ignored() -> None:
    """R25: retry values that are not all ASCII digits change nothing."""
    first = sse_reply(b"retry: -5\nretry:  100\nretry: 1e3\nretry: 1_000\ndata: a\n\n")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    assert source.reconnection_time == pytest.approx(T)


# -- §5 backoff through the connection ---------------------------------------------------------


async def test_failures_back_off_exponentially_with_a_cap() -> None:
    """§5: a server that accepts then closes at once: delays T, 2T, 4T, ... capped (random=1)."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply()]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, random=lambda: 1.0, policy=policy(backoff_cap=0.1))
        await run_until(source, rec, lambda: len(rec.of(ConnectionState.RETRYING)) >= 6)
    delays = [s.delay for s in rec.of(ConnectionState.RETRYING)][:6]
    assert delays == pytest.approx([T, 2 * T, 4 * T, T + 0.1, T + 0.1, T + 0.1])
    assert [s.attempt for s in rec.of(ConnectionState.RETRYING)][:6] == [1, 2, 3, 4, 5, 6]
    assert rec.events == []


async def test_jitter_stays_between_t_and_the_growth() -> None:
    """§5: with random=0.5 the added wait is half of T x (2^(n-1) - 1)."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply()]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, random=lambda: 0.5)
        await run_until(source, rec, lambda: len(rec.of(ConnectionState.RETRYING)) >= 4)
    delays = [s.delay for s in rec.of(ConnectionState.RETRYING)][:4]
    assert delays == pytest.approx([T, 1.5 * T, 2.5 * T, 4.5 * T])


async def test_failure_count_resets_after_a_healthy_connection() -> None:
    """§5: after a stream that delivered events the wait is exactly T and the count restarts."""
    empty = sse_reply()
    healthy = sse_reply(b"data: fine\n\n")
    script = [empty, empty, empty, healthy, empty, empty, HANG]
    async with asyncio.timeout(LIMIT), ScriptedServer(script) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, random=lambda: 1.0)
        await run_until(source, rec, lambda: len(srv.requests) >= 7)
    delays = [s.delay for s in rec.of(ConnectionState.RETRYING)]
    assert delays == pytest.approx([T, 2 * T, 4 * T, T, T, 2 * T])
    assert rec.data == ["fine"]


async def test_long_open_connection_counts_as_healthy() -> None:
    """§5: a connection that stayed open for healthy_after resets the count even without events."""
    slow_empty = Reply(body=[Pause(0.4), b": keep-alive\n\n"])
    empty = sse_reply()
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([empty, empty, slow_empty, empty, HANG]) as srv,
    ):
        rec = Recorder()
        source = make_source(srv.url(), rec, random=lambda: 1.0, policy=policy(healthy_after=0.3))
        await run_until(source, rec, lambda: len(srv.requests) >= 5)
    delays = [s.delay for s in rec.of(ConnectionState.RETRYING)]
    assert delays == pytest.approx([T, 2 * T, T, T])


# -- idle watchdog, caps, broken connections ---------------------------------------------------


async def test_idle_connection_is_dropped_and_retried() -> None:
    """§5: one event then silence: after idle_timeout the connection is presumed dead."""
    first = sse_reply(b"data: a\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer([first, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(idle_timeout=0.3))
        await run_until(source, rec, lambda: len(srv.requests) >= 2)
    retrying = rec.of(ConnectionState.RETRYING)[0]
    assert "no data" in retrying.message
    i = rec.statuses.index(retrying)
    opened = rec.status_times[rec.statuses.index(rec.of(ConnectionState.OPEN)[0])]
    assert rec.status_times[i] - opened >= 0.29
    assert rec.data == ["a"]


async def test_bytes_keep_an_idle_connection_alive() -> None:
    """§5: keep-alive comments more often than idle_timeout keep the connection."""
    pings = [part for _ in range(6) for part in (Pause(0.1), b":\n")]
    first = sse_reply(b"data: a\n\n", *pings, b"data: b\n\n", end="hang")
    async with asyncio.timeout(LIMIT), ScriptedServer([first]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(idle_timeout=0.6))
        await run_until(source, rec, lambda: len(rec.events) >= 2)
    assert rec.data == ["a", "b"]
    assert not rec.of(ConnectionState.RETRYING)


def endless(
    first: bytes, repeat: bytes, counter: list[int]
) -> Callable[[RecordedRequest], AsyncIterator[bytes]]:
    """A body factory: ``first`` then ``repeat`` forever (counting the bytes actually produced)."""

    async def body(_request: RecordedRequest) -> AsyncIterator[bytes]:
        yield first
        while True:
            counter[0] += len(repeat)
            yield repeat

    return body


@pytest.mark.parametrize(
    ("first", "repeat", "policy_change", "words"),
    [
        (b"data: ", b"x" * 4096, {"max_line_length": 8192}, "line longer than 8,192 bytes"),
        (b"", b"data: " + b"y" * 250 + b"\n", {"max_event_size": 8192}, "event larger than 8,192"),
        (b"id: ", b"z" * 4096, {"max_id_length": 1000, "max_line_length": 8192}, "line longer"),
        (b"id: " + b"z" * 2000 + b"\n", b":" * 4095 + b"\n", {"max_id_length": 1000}, "id longer"),
    ],
    ids=["line", "event", "id-line", "id"],
)
async def test_caps_drop_the_connection_and_retry(
    first: bytes, repeat: bytes, policy_change: dict[str, int], words: str
) -> None:
    """§5: past a cap the connection is dropped and retried; memory stays bounded."""
    produced = [0]
    hostile = Reply(body=endless(first, repeat, produced))
    good = sse_reply(b"data: ok\n\n", end="hang")

    def script(request: RecordedRequest) -> Reply:
        return hostile if request is srv.requests[0] else good

    async with asyncio.timeout(LIMIT), ScriptedServer(script) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(**policy_change))
        final = await run_until(source, rec, lambda: rec.events)
    assert final.stop_reason is StopReason.CLOSED
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert words in retrying.message
    assert "dropped the connection" in retrying.message
    assert rec.data == ["ok"]
    # The server could write only about as much as the socket buffers hold.
    assert produced[0] < 64 * 1024 * 1024


@pytest.mark.parametrize("end", ["cut", "reset"])
async def test_broken_body_is_transient(end: str) -> None:
    """§5: a body cut mid-event (incomplete chunked body) or a TCP reset means reconnect."""
    broken = Reply(
        body=[b"id: 1\ndata: a\n\n", Pause(0.1), b"id: 2\ndata: hal"],
        end=end,  # type: ignore[arg-type]
        framing="chunked",
    )
    async with asyncio.timeout(LIMIT), ScriptedServer([broken, HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        final = await run_until(source, rec, lambda: len(rec.of(ConnectionState.OPEN)) >= 2)
    assert final.stop_reason is StopReason.CLOSED
    assert rec.data == ["a"]
    (retrying,) = rec.of(ConnectionState.RETRYING)
    assert retrying.message != "the server closed the stream"
    assert retrying.delay == pytest.approx(T)
    assert values(srv.requests[1], "Last-Event-ID") == [b"1"]


async def test_connection_refused_is_retried() -> None:
    """R7/§5: a refused connection is retried with a 'cannot connect' message and backoff."""
    rec = Recorder()
    url = f"http://127.0.0.1:{closed_port()}/events"
    source = make_source(url, rec, random=lambda: 1.0)
    async with asyncio.timeout(LIMIT):
        final = await run_until(source, rec, lambda: len(rec.of(ConnectionState.RETRYING)) >= 3)
    retrying = rec.of(ConnectionState.RETRYING)
    assert all(s.message.startswith("cannot connect") for s in retrying)
    assert [s.delay for s in retrying[:3]] == pytest.approx([T, 2 * T, 4 * T])
    assert final.stop_reason is StopReason.CLOSED
    assert not rec.of(ConnectionState.OPEN)


async def test_reset_before_headers_is_retried() -> None:
    """R7: a connection reset before any response is transient."""
    reset = Reply(body=[], end="reset")

    def script(request: RecordedRequest) -> Reply:
        return reset if len(srv.requests) == 1 else sse_reply(b"data: ok\n\n", end="hang")

    async with asyncio.timeout(LIMIT), ScriptedServer(script) as srv:
        rec = Recorder()
        await run_until(make_source(srv.url(), rec), rec, lambda: rec.events)
    assert rec.data == ["ok"]
    assert len(rec.of(ConnectionState.RETRYING)) == 1


# -- R41 / R33: closing and cancelling ----------------------------------------------------


async def test_close_during_reconnect_wait_returns_promptly() -> None:
    """R41: close() cancels a pending 5 s reconnect wait at once; STOPPED CLOSED."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(reconnection_time=5.0))
        task = asyncio.create_task(source.run())
        await rec.wait_until(lambda: rec.of(ConnectionState.RETRYING))
        started = time.monotonic()
        source.close()
        final = await task
        elapsed = time.monotonic() - started
    assert elapsed < 0.5
    assert final.state is ConnectionState.STOPPED
    assert final.stop_reason is StopReason.CLOSED
    assert rec.statuses[-1] == final
    assert source.closed
    assert len(srv.requests) == 1


async def test_close_while_streaming_aborts_the_request() -> None:
    """R41: close() during an open stream ends run() with CLOSED and no reconnect."""
    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        rec = Recorder()
        source = make_source(srv.url(), rec)
        final = await run_until(source, rec, lambda: rec.events)
        await asyncio.sleep(0.1)
    assert final.stop_reason is StopReason.CLOSED
    assert len(srv.requests) == 1
    assert [s.state for s in rec.statuses][-1] is ConnectionState.STOPPED
    assert not rec.of(ConnectionState.RETRYING)


async def test_close_before_run_connects_nowhere() -> None:
    """R41: a source closed before run() returns CLOSED without a request."""
    async with asyncio.timeout(LIMIT), ScriptedServer([HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec)
        source.close()
        final = await source.run()
    assert final.stop_reason is StopReason.CLOSED
    assert srv.requests == []


async def test_close_inside_on_events_stops_further_events() -> None:
    """R33: close() called by the events callback: that call is the last one, nothing after."""
    body = sse_reply(
        b"data: 1\n\ndata: 2\n\ndata: 3\n\n",
        Pause(0.1),
        b"data: 4\n\ndata: 5\n\n",
        Pause(0.1),
        b"data: 6\n\n",
        end="hang",
    )
    calls: list[list[str]] = []

    async with asyncio.timeout(LIMIT), ScriptedServer([body]) as srv:
        source: EventSource

        async def on_events(events: Sequence[DecodedEvent]) -> None:
            calls.append([e.data for e in events])
            source.close()
            assert source.closed

        source = EventSource(srv.url(), on_events=on_events, policy=FAST)
        final = await source.run()
        await asyncio.sleep(0.3)  # the rest of the body would have arrived by now
    assert final.stop_reason is StopReason.CLOSED
    assert len(calls) == 1
    assert calls[0][0] == "1"
    assert "6" not in calls[0]
    assert len(srv.requests) == 1


async def test_close_inside_on_status_stops_before_any_event() -> None:
    """R33: close() from the OPEN status callback: no event is delivered at all."""
    events: list[DecodedEvent] = []

    async def on_events(batch: Sequence[DecodedEvent]) -> None:
        events.extend(batch)

    def on_status(status: FeedStatus) -> None:
        if status.state is ConnectionState.OPEN:
            source.close()

    async with (
        asyncio.timeout(LIMIT),
        ScriptedServer([sse_reply(b"data: a\n\n", end="hang")]) as srv,
    ):
        source = EventSource(srv.url(), on_events=on_events, on_status=on_status, policy=FAST)
        final = await source.run()
    assert final.stop_reason is StopReason.CLOSED
    assert events == []


@pytest.mark.parametrize("on_attempt", [1, 2])
async def test_close_inside_connecting_status_sends_no_request(on_attempt: int) -> None:
    """R41: close() from the CONNECTING status callback: no request goes out, no OPEN follows."""
    rec = Recorder()

    def on_status(status: FeedStatus) -> None:
        rec.on_status(status)
        if status.state is ConnectionState.CONNECTING and status.attempt == on_attempt:
            source.close()

    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        source = EventSource(srv.url(), on_events=rec.on_events, on_status=on_status, policy=FAST)
        final = await source.run()
        await asyncio.sleep(0.05)
    assert final.stop_reason is StopReason.CLOSED
    assert len(srv.requests) == on_attempt - 1
    assert [s.state for s in rec.statuses][-2:] == [
        ConnectionState.CONNECTING,
        ConnectionState.STOPPED,
    ]


def other_pending_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


@pytest.mark.parametrize("when", ["streaming", "waiting"])
async def test_cancelling_the_run_task_leaves_nothing_behind(when: str) -> None:
    """Cancelling run()'s task raises CancelledError there and leaves no pending task."""
    reply = sse_reply(b"data: a\n\n", end="hang" if when == "streaming" else "close")
    async with asyncio.timeout(LIMIT):
        async with ScriptedServer([reply, HANG]) as srv:
            rec = Recorder()
            source = make_source(srv.url(), rec, policy=policy(reconnection_time=5.0))
            task = asyncio.create_task(source.run())
            if when == "streaming":
                await rec.wait_until(lambda: rec.events)
            else:
                await rec.wait_until(lambda: rec.of(ConnectionState.RETRYING))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled()
            assert len(srv.requests) == 1
        await asyncio.sleep(0)
        assert other_pending_tasks() == set()


async def test_reconnect_now_skips_the_wait() -> None:
    """reconnect_now() ends a pending reconnection wait at once."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        rec = Recorder()
        source = make_source(srv.url(), rec, policy=policy(reconnection_time=5.0))
        task = asyncio.create_task(source.run())
        await rec.wait_until(lambda: rec.of(ConnectionState.RETRYING))
        started = time.monotonic()
        source.reconnect_now()
        await srv.wait_for_requests(2, within=2.0)
        assert time.monotonic() - started < 1.0
        source.close()
        final = await task
    assert final.stop_reason is StopReason.CLOSED


# -- reconnect=False ---------------------------------------------------------------------------


async def test_without_reconnect_a_clean_end_is_ended() -> None:
    """reconnect=False: a clean end of the stream stops with ENDED (not an error)."""
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(b"data: a\n\n"), HANG]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec, reconnect=False).run()
    assert final.stop_reason is StopReason.ENDED
    assert not final.stop_reason.is_error
    assert rec.data == ["a"]
    assert len(srv.requests) == 1
    assert not rec.of(ConnectionState.RETRYING)


@pytest.mark.parametrize(
    "reply", [plain(503), Reply(body=[b"data: a"], end="cut", framing="chunked")]
)
async def test_without_reconnect_a_transient_failure_is_failed(reply: Reply) -> None:
    """reconnect=False: what would be retried (a 503, a cut body) stops with FAILED."""
    async with asyncio.timeout(LIMIT), ScriptedServer([reply, HANG]) as srv:
        rec = Recorder()
        final = await make_source(srv.url(), rec, reconnect=False).run()
    assert final.stop_reason is StopReason.FAILED
    assert final.stop_reason.is_error
    assert len(srv.requests) == 1
    assert not rec.of(ConnectionState.RETRYING)


# -- events, secrets, URLs ---------------------------------------------------------------------


async def test_events_named_error_open_message_are_ordinary() -> None:
    """§5: server events named error, open or message are plain events, never signals."""
    body = (
        b"event: error\ndata: e\n\nevent: open\ndata: o\n\nevent: message\ndata: m\n\ndata: d\n\n"
    )
    async with asyncio.timeout(LIMIT), ScriptedServer([sse_reply(body, end="hang")]) as srv:
        rec = Recorder()
        final = await run_until(make_source(srv.url(), rec), rec, lambda: len(rec.events) >= 4)
    assert [(e.type, e.data) for e in rec.events] == [
        ("error", "e"),
        ("open", "o"),
        ("message", "m"),
        ("message", "d"),
    ]
    assert [s.state for s in rec.statuses] == [
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.STOPPED,
    ]
    assert final.stop_reason is StopReason.CLOSED


async def test_secrets_never_reach_the_status() -> None:
    """§5: query tokens and the URL's password never appear in any FeedStatus."""
    script = [
        plain(500),
        sse_reply(b"data: a\n\n"),
        redirect(302, "/x?token=SECRET&a=1"),
        plain(404),
    ]
    async with asyncio.timeout(LIMIT), ScriptedServer(script) as srv:
        rec = Recorder()
        url = f"http://user:pass@127.0.0.1:{srv.port}/events?auth=SECRET&topic=x"
        source = make_source(url, rec)
        final = await source.run()
    assert final.stop_reason is StopReason.HTTP_STATUS
    assert "auth=SECRET" in srv.requests[0].target  # the server still gets what it needs
    assert len(rec.statuses) >= 7
    for status in rec.statuses:
        assert "SECRET" not in status.url
        assert "pass" not in status.url
        assert "SECRET" not in status.message
        assert "user:pass" not in status.message
    assert "topic=x" in final.url
    assert "SECRET" not in source.display_url


async def test_secrets_never_reach_a_connect_error_message() -> None:
    """§5: a 'cannot connect' message does not carry the URL's token."""
    rec = Recorder()
    url = f"http://u:pass@127.0.0.1:{closed_port()}/e?token=SECRET"
    source = make_source(url, rec)
    async with asyncio.timeout(LIMIT):
        await run_until(source, rec, lambda: rec.of(ConnectionState.RETRYING))
    for status in rec.statuses:
        assert "SECRET" not in status.url + status.message
        assert ":pass@" not in status.url + status.message


@pytest.mark.parametrize(
    "url", ["ftp://x", "not a url", "http://", "", "https:///path", "file:///etc/passwd"]
)
def test_invalid_urls_are_rejected_at_construction(url: str) -> None:
    """R1: an unparseable or non-http(s) URL is a construction-time InvalidURLError."""

    async def on_events(_events: Sequence[DecodedEvent]) -> None:
        raise AssertionError("never called")

    with pytest.raises(InvalidURLError):
        EventSource(url, on_events=on_events)
