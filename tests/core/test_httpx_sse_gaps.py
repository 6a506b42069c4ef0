"""The httpx-sse 0.4.3 gaps (SSE.md section 2) that Tidings closes, shown side by side.

Each test makes one assertion about what a subscriber must see and runs it
against both implementations over a real loopback server: Tidings'
:class:`~tidings.core.sse.EventSource`, and httpx-sse's public path
(``aconnect_sse`` + ``aiter_sse`` on an ``httpx.AsyncClient``, reconnecting
the way its README does). The httpx-sse run is a strict xfail: if upstream
closes a gap, that test turns into an unexpected pass and flags it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import httpx_sse
import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent
from tidings.core.models import ConnectionPolicy
from tidings.core.sse import EventSource

DEFAULT_T = 0.05  # seconds; a server's retry: is clamped to at least 0.1, so any change shows
Event = tuple[str, str, str]  # (type, data, id)


@dataclass
class Seen:
    """What one implementation delivered over all its connections."""

    events: list[Event] = field(default_factory=list)
    retry_taken: bool = False
    """Whether a ``retry`` field changed (Tidings) or was reported (httpx-sse)."""
    requests: list[RecordedRequest] = field(default_factory=list)


async def _run_tidings(server: ScriptedServer, connections: int) -> Seen:
    seen = Seen()

    async def on_events(events: Sequence[DecodedEvent]) -> None:
        seen.events.extend((e.type, e.data, e.id) for e in events)

    source = EventSource(
        server.url(),
        on_events=on_events,
        # With one connection, stop at its end; with more, the script ends with a 204.
        reconnect=connections > 1,
        policy=ConnectionPolicy(reconnection_time=DEFAULT_T, connect_timeout=10, idle_timeout=10),
        random=lambda: 0.0,
    )
    await source.run()
    seen.retry_taken = source.reconnection_time != DEFAULT_T
    return seen


async def _run_httpx_sse(server: ScriptedServer, connections: int) -> Seen:
    seen = Seen()
    last_event_id = ""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(connections):
            # httpx-sse's README recipe: resume with the id of the last event seen.
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            async with httpx_sse.aconnect_sse(client, "GET", server.url(), headers=headers) as es:
                async for sse in es.aiter_sse():
                    seen.events.append((sse.event, sse.data, sse.id))
                    seen.retry_taken |= sse.retry is not None
                    last_event_id = sse.id
    return seen


async def _subscribe(impl: str, *replies: Reply) -> Seen:
    """Connect once per reply (reconnecting in between) and collect what was delivered."""
    run = _run_tidings if impl == "tidings" else _run_httpx_sse
    async with ScriptedServer([*replies, Reply(status=204)]) as server:
        seen = await run(server, len(replies))
    seen.requests = server.requests[: len(replies)]
    return seen


def _both(
    gap: str, raises: type[BaseException] | tuple[type[BaseException], ...] = AssertionError
) -> pytest.MarkDecorator:
    """Run for Tidings, and for httpx-sse as a strict xfail that may only raise ``raises``."""
    return pytest.mark.parametrize(
        "impl",
        [
            pytest.param("tidings", id="tidings"),
            pytest.param(
                "httpx-sse",
                id="httpx-sse",
                marks=pytest.mark.xfail(strict=True, raises=raises, reason=f"httpx-sse gap {gap}"),
            ),
        ],
    )


@_both("G1: no BOM stripping, the first line becomes the unknown field '\\ufeffdata'")
async def test_g1_leading_bom_does_not_lose_the_first_event(impl: str) -> None:
    """A body starting with a UTF-8 BOM still delivers its first event (R14)."""
    seen = await _subscribe(impl, sse_reply(b"\xef\xbb\xbfdata: first\n\ndata: second\n\n"))
    assert seen.events == [("message", "first", ""), ("message", "second", "")]


@pytest.mark.parametrize("charset", ["windows-1252", "latin-1", "us-ascii", "utf-16"])
@_both(
    "G2: the Content-Type charset is honoured instead of always UTF-8",
    raises=(AssertionError, UnicodeError),  # utf-16: "stream does not start with BOM"
)
async def test_g2_body_is_utf8_whatever_the_charset(impl: str, charset: str) -> None:
    """The body is decoded as UTF-8 whatever charset the Content-Type claims (R13)."""
    reply = sse_reply(
        b"data: caf\xc3\xa9 \xe2\x80\xa6\n\n",
        content_type=f"text/event-stream; charset={charset}",
    )
    seen = await _subscribe(impl, reply)
    assert seen.events == [("message", "caf\u00e9 \u2026", "")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b"id: 1\ndata: a\n\n: keep-alive\n\n",
            [("message", "a", "1")],
            id="comment-block-after-id",
        ),
        pytest.param(
            b"id: 1\r\ndata: a\r\n\r\n: ping - 2024-05-01 10:00:00.000000+00:00\r\n\r\n",
            [("message", "a", "1")],
            id="sse-starlette-ping-after-id",
        ),
        pytest.param(b"id: 1\ndata: a\n\n\n", [("message", "a", "1")], id="extra-blank-after-id"),
        pytest.param(b"id: 7\n\n", [], id="id-only-block"),
        pytest.param(b"retry: 1000\n\n", [], id="retry-only-block"),
        pytest.param(b"event: update\n\n", [], id="event-only-block"),
    ],
)
@_both("G3: a block without data still yields an empty event (issue #35)")
async def test_g3_block_without_data_fires_nothing(
    impl: str, body: bytes, expected: list[Event]
) -> None:
    """Comment, id-only, retry-only and event-only blocks dispatch no event (R28)."""
    seen = await _subscribe(impl, sse_reply(body))
    assert seen.events == expected


@_both("G4: a new connection's decoder starts with an empty id; the README recipe stores it")
async def test_g4_sticky_id_survives_reconnects(impl: str) -> None:
    """After a reconnect, events without an id keep the last id, and it is sent again (R38)."""
    seen = await _subscribe(
        impl,
        sse_reply(b"id: 1\ndata: a\n\n"),
        sse_reply(b"data: b\n\n"),
        sse_reply(b"data: c\n\n"),
    )
    assert seen.events == [("message", "a", "1"), ("message", "b", "1"), ("message", "c", "1")]
    assert [r.header("Last-Event-ID") for r in seen.requests] == [None, "1", "1"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"+5", id="plus-sign"),
        pytest.param(b"-5", id="minus-sign"),
        pytest.param(b" 1000", id="second-space"),
        pytest.param(b"1000 ", id="trailing-space"),
        pytest.param(b"1_000", id="underscore"),
        pytest.param("\u0663".encode(), id="arabic-indic-digit"),
        pytest.param("\uff15".encode(), id="fullwidth-digit"),
    ],
)
@_both("G5: retry is parsed with int(), which accepts more than ASCII digits")
async def test_g5_retry_only_ascii_digits(impl: str, value: bytes) -> None:
    """A retry value that is not all ASCII digits is ignored (R25)."""
    seen = await _subscribe(impl, sse_reply(b"retry: " + value + b"\ndata: x\n\n"))
    assert seen.events == [("message", "x", "")]
    assert not seen.retry_taken


@_both("new gap: int() refuses more than 4300 digits, so a valid retry is dropped")
async def test_retry_with_5000_digits_is_still_a_retry(impl: str) -> None:
    """An all-digit retry longer than int()'s digit limit is valid and taken (then clamped)."""
    seen = await _subscribe(impl, sse_reply(b"retry: " + b"1" * 5000 + b"\ndata: x\n\n"))
    assert seen.events == [("message", "x", "")]
    assert seen.retry_taken


@_both("R3: aconnect_sse sends Cache-Control: no-store; browsers and WPT send no-cache")
async def test_request_cache_control_is_no_cache(impl: str) -> None:
    """The request carries Cache-Control: no-cache, as WPT request-cache-control expects (R3)."""
    seen = await _subscribe(impl, sse_reply(b"data: x\n\n"))
    assert seen.requests[0].header("Cache-Control") == "no-cache"
    assert seen.requests[0].header("Accept") == "text/event-stream"


@pytest.mark.parametrize("status", [201, 404, 500])
@_both("G7: no status check, the body of any response is parsed as events")
async def test_g7_body_of_a_non_200_response_is_never_parsed(impl: str, status: int) -> None:
    """A non-200 response with an event-stream type delivers no events (R9)."""
    reply = Reply(
        status=status,
        headers=(("Content-Type", "text/event-stream"),),
        body=[b"data: not an event\n\n"],
    )
    seen = await _subscribe(impl, reply)
    assert seen.events == []


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("Text/Event-Stream", [("message", "x", "")], id="mixed-case-is-valid"),
        pytest.param("TEXT/EVENT-STREAM; charset=utf-8", [("message", "x", "")], id="upper"),
        pytest.param("text/event-streams", [], id="longer-subtype-is-not-sse"),
        pytest.param("application/text/event-stream", [], id="prefixed-is-not-sse"),
    ],
)
@_both(
    "G8: the content-type check is a case-sensitive substring test",
    raises=(AssertionError, httpx_sse.SSEError),
)
async def test_g8_content_type_compared_by_essence(
    impl: str, content_type: str, expected: list[Event]
) -> None:
    """Only a Content-Type whose lower-cased essence is text/event-stream is parsed (R10)."""
    seen = await _subscribe(impl, sse_reply(b"data: x\n\n", content_type=content_type))
    assert seen.events == expected


@_both(
    "G11: redirects are not followed with httpx's default client",
    raises=httpx_sse.SSEError,  # the 307's text/html fails the content-type check
)
async def test_g11_redirect_is_followed(impl: str) -> None:
    """A 307 to the stream (Firebase does this) ends in a working subscription (R8)."""
    redirect = Reply(
        status=307,
        headers=(("Location", "/events?served=1"), ("Content-Type", "text/html")),
        body=[b"<a href='/events?served=1'>moved</a>"],
        framing="length",
    )

    def script(request: RecordedRequest) -> Reply:
        return sse_reply(b"data: x\n\n") if "served=1" in request.target else redirect

    async with ScriptedServer(script) as server:
        # One subscription, no reconnect: each implementation gets its own fresh run.
        if impl == "tidings":
            seen = await _run_tidings(server, 1)
        else:
            seen = await _run_httpx_sse(server, 1)
    assert seen.events == [("message", "x", "")]
