"""The Wikimedia EventStreams preset: recentchange and friends, canaries, errors and JSON ids.

Streams are written as KafkaSSE sends them (SSE.md section 4): the body opens
with the ``:ok`` comment block, each event is ``event: message`` with a JSON
array of Kafka positions as its ``id`` and the event JSON as ``data``; errors
after the 200 come as ``event: error`` with KafkaSSE's error JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.test_hub import Env, feed
from core.test_preset_mercure import (
    assert_safe,
    depths_near_the_parser_limit,
    event_types,
    nested,
    payloads,
)
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.models import ConnectionState
from tidings.core.notification import Urgency
from tidings.core.presets import MapContext, get_preset

PRESET = get_preset("eventstreams")
CONTEXT = MapContext(
    feed_id="rc",
    feed_name="Recent changes",
    url="https://stream.wikimedia.org/v2/stream/recentchange",
)


def kafka_id(timestamp: int) -> str:
    """An EventStreams id: the positions of both datacenters' topics (multi-DC, timestamps)."""
    return json.dumps(
        [
            {"topic": "eqiad.mediawiki.recentchange", "partition": 0, "timestamp": timestamp},
            {"topic": "codfw.mediawiki.recentchange", "partition": 0, "offset": -1},
        ],
        separators=(",", ":"),
    )


def recentchange(**fields: Any) -> dict[str, Any]:
    """A recentchange event (mediawiki/recentchange schema) for an edit on English Wikipedia."""
    domain = fields.pop("domain", "en.wikipedia.org")
    title = fields.get("title", "Example page")
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": f"https://{domain}/wiki/{title.replace(' ', '_')}",
            "request_id": "ZjJkNzM0YjktYmU2Zi00",
            "id": fields.pop("meta_id", "8f0b5c8e-1d7e-4a55-9f4e-0e7c0a9d3c11"),
            "dt": "2024-05-01T12:00:00Z",
            "domain": domain,
            "stream": "mediawiki.recentchange",
            "topic": "eqiad.mediawiki.recentchange",
            "partition": 0,
            "offset": 5123456789,
        },
        "id": 1746123456,
        "type": "edit",
        "namespace": 0,
        "title": title,
        "title_url": f"https://{domain}/wiki/{title.replace(' ', '_')}",
        "comment": "fix typo",
        "timestamp": 1714564800,
        "user": "Alice",
        "bot": False,
        "notify_url": f"https://{domain}/w/index.php?diff=123&oldid=122",
        "minor": False,
        "length": {"old": 100, "new": 101},
        "revision": {"old": 122, "new": 123},
        "server_url": f"https://{domain}",
        "server_name": domain,
        "server_script_path": "/w",
        "wiki": "enwiki",
        "parsedcomment": "fix typo",
    }
    event.update(fields)
    return event


def revision_create(stream: str, **fields: Any) -> dict[str, Any]:
    """A page-create or revision-create event (mediawiki/revision/create schema)."""
    event: dict[str, Any] = {
        "$schema": "/mediawiki/revision/create/1.1.0",
        "meta": {
            "stream": f"mediawiki.{stream}",
            "uri": "https://de.wikipedia.org/wiki/Neue_Seite",
            "request_id": "a1b2c3",
            "id": "4b5f6a7e-0000-4000-8000-000000000001",
            "dt": "2024-05-01T12:00:01Z",
            "domain": "de.wikipedia.org",
            "topic": f"eqiad.mediawiki.{stream}",
            "partition": 0,
            "offset": 42,
        },
        "database": "dewiki",
        "page_id": 12345,
        "page_title": "Neue_Seite",
        "page_namespace": 0,
        "rev_id": 98765,
        "rev_timestamp": "2024-05-01T12:00:01Z",
        "rev_len": 2048,
        "rev_minor_edit": False,
        "rev_content_model": "wikitext",
        "page_is_redirect": False,
        "comment": "Neuer Artikel",
        "performer": {
            "user_text": "Bernd",
            "user_groups": ["*", "user"],
            "user_is_bot": False,
            "user_id": 77,
            "user_edit_count": 1500,
        },
    }
    event.update(fields)
    return event


def message(data: dict[str, Any], timestamp: int) -> bytes:
    """One event as KafkaSSE writes it."""
    return (
        f"event: message\nid: {kafka_id(timestamp)}\n"
        f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
    ).encode()


def decode(body: bytes) -> list[DecodedEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    return events


CANARY = recentchange(
    domain="canary", title="Canary", meta_id="c0000000-0000-4000-8000-000000000000"
)
KAFKA_ERROR = {
    "message": "Cannot assign to topic partition, timestamp not found",
    "origin": "KafkaSSE",
    "name": "InvalidAssignmentError",
}


# -- the preset's knowledge ------------------------------------------------------------


def test_flags_firehose_stable_ids_and_replay() -> None:
    """EventStreams is a firehose (log only until turned on), with stable ids, and replays."""
    assert PRESET.firehose
    assert PRESET.stable_ids
    assert PRESET.replays is True
    assert PRESET.uses_last_event_id()
    url = (
        "https://stream.wikimedia.org/v2/stream/recentchange,page-create?since=2024-05-01T00:00:00Z"
    )
    assert PRESET.normalize_url(url) == url


def test_recorded_stream_drops_canaries_and_titles_edits() -> None:
    """The ":ok" opener, a canary (dropped), and an edit titled "Edit on <wiki>: <page>"."""
    events = decode(
        b":ok\n\n" + message(CANARY, 1714564800000) + message(recentchange(), 1714564800123)
    )
    assert [e.type for e in events] == ["message", "message"]
    canary, edit = (PRESET.map(e, CONTEXT) for e in events)

    assert canary.notification is None
    assert canary.reason == "canary"
    assert canary.stop is None

    note = edit.notification
    assert note is not None
    assert note.title == "Edit on en.wikipedia.org: Example page"
    assert note.body == "by Alice: fix typo"
    assert note.url == "https://en.wikipedia.org/w/index.php?diff=123&oldid=122"
    assert note.urgency is Urgency.NORMAL
    assert note.feed_id == "rc"
    assert not edit.bad_payload
    # The event's own UUID names it across connections.
    assert edit.dedupe_id == "8f0b5c8e-1d7e-4a55-9f4e-0e7c0a9d3c11"
    # The id is the JSON text exactly as sent: that is what a reconnect sends back.
    assert events[1].id == kafka_id(1714564800123)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"type": "new", "title": "Fresh article", "comment": "Created page"},
            (
                "New page on en.wikipedia.org: Fresh article",
                "by Alice: Created page",
                "https://en.wikipedia.org/w/index.php?diff=123&oldid=122",
                (),
                Urgency.NORMAL,
            ),
        ),
        (
            {"bot": True, "user": "InternetArchiveBot", "minor": True, "comment": ""},
            (
                "Edit on en.wikipedia.org: Example page",
                "by InternetArchiveBot",
                "https://en.wikipedia.org/w/index.php?diff=123&oldid=122",
                ("minor", "bot"),
                Urgency.LOW,
            ),
        ),
        (
            {
                "type": "log",
                "title": "User:Spammer",
                "log_type": "block",
                "log_action": "block",
                "log_action_comment": "blocked Spammer (spam)",
                "comment": "",
                "notify_url": None,
            },
            (
                "Log (block/block) on en.wikipedia.org: User:Spammer",
                "by Alice: blocked Spammer (spam)",
                "https://en.wikipedia.org/wiki/User:Spammer",
                (),
                Urgency.NORMAL,
            ),
        ),
        (
            {"type": "categorize", "title": "Category:Birds", "notify_url": "javascript:x()"},
            (
                "Category change on en.wikipedia.org: Category:Birds",
                "by Alice: fix typo",
                "https://en.wikipedia.org/wiki/Category:Birds",
                (),
                Urgency.NORMAL,
            ),
        ),
    ],
    ids=["new", "bot", "log", "categorize"],
)
def test_recentchange_kinds(fields: dict[str, Any], expected: tuple[object, ...]) -> None:
    """New pages, bot edits, log entries and category changes read naturally; only http(s) links."""
    [event] = decode(message(recentchange(**fields), 1714564800500))
    note = PRESET.map(event, CONTEXT).notification
    assert note is not None
    assert (note.title, note.body, note.url, note.tags, note.urgency) == expected


@pytest.mark.parametrize(
    ("stream", "title"),
    [
        ("page-create", "New page on de.wikipedia.org: Neue Seite"),
        ("revision-create", "New revision on de.wikipedia.org: Neue Seite"),
    ],
)
def test_page_create_and_revision_create(stream: str, title: str) -> None:
    """The revision/create schema: title from the stream and page, performer and comment as body."""
    [event] = decode(message(revision_create(stream), 1714564801000))
    mapped = PRESET.map(event, CONTEXT)
    note = mapped.notification
    assert note is not None
    assert note.title == title
    assert note.body == "by Bernd: Neuer Artikel"
    assert note.url == "https://de.wikipedia.org/wiki/Neue_Seite"
    assert mapped.dedupe_id == "4b5f6a7e-0000-4000-8000-000000000001"


def test_bot_performer_on_revision_create_is_low_urgency() -> None:
    """A bot's revision is tagged and low urgency: a person's edit stands out in a firehose."""
    performer = {"user_text": "ClueBot NG", "user_is_bot": True}
    [event] = decode(message(revision_create("revision-create", performer=performer), 1))
    note = PRESET.map(event, CONTEXT).notification
    assert note is not None
    assert (note.urgency, note.tags) == (Urgency.LOW, ("bot",))


def test_other_streams_get_a_generic_shape() -> None:
    """An unknown stream (page-delete) still gets a title from its stream name and the page."""
    data = {
        "meta": {"stream": "mediawiki.page-delete", "domain": "fr.wikipedia.org", "uri": "ftp://x"},
        "page_title": "Vieille_Page",
        "performer": {"user_text": "Admin"},
        "comment": "doublon",
    }
    [event] = decode(message(data, 2))
    note = PRESET.map(event, CONTEXT).notification
    assert note is not None
    assert note.title == "page-delete on fr.wikipedia.org: Vieille Page"
    assert note.body == "by Admin: doublon"
    assert note.url == ""


def test_error_event_is_a_log_entry_not_a_connection_error() -> None:
    """event: error with KafkaSSE's JSON: no notification, a reason naming it, no stop."""
    body = b"event: error\ndata: " + json.dumps(KAFKA_ERROR).encode() + b"\n\n"
    [event] = decode(body)
    mapped = PRESET.map(event, CONTEXT)
    assert mapped.notification is None
    assert mapped.reason == (
        "server error: InvalidAssignmentError: Cannot assign to topic partition, "
        "timestamp not found"
    )
    assert mapped.stop is None
    assert not mapped.bad_payload


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ('"stream closed"', "server error: stream closed"),
        ("not json at all", "server error: not json at all"),
        ("", "server error"),
        ('{"detail": 1}', 'server error: {"detail": 1}'),
    ],
)
def test_error_event_with_other_data(data: str, reason: str) -> None:
    """An error event whose data is not KafkaSSE's shape still gives a short reason."""
    mapped = PRESET.map(DecodedEvent("error", data, "", False), CONTEXT)
    assert (mapped.notification, mapped.reason, mapped.stop) == (None, reason, None)


@pytest.mark.parametrize("data", ["<html>oops</html>", "[1, 2]", '"a string"', "null"])
def test_data_that_is_not_an_event_object_is_shown_raw(data: str) -> None:
    """EventStreams always sends a JSON object: anything else is shown raw, marked bad_payload."""
    mapped = PRESET.map(DecodedEvent("message", data, "[]", True), CONTEXT)
    assert mapped.notification is not None
    assert mapped.notification.body == data
    assert mapped.bad_payload


def test_without_meta_id_the_own_block_id_deduplicates() -> None:
    """An event without meta.id falls back to its own-block SSE id (a sticky one names nothing)."""
    data = json.dumps({"type": "edit", "title": "T", "server_name": "x.org", "user": "U"})
    own = PRESET.map(DecodedEvent("message", data, kafka_id(5), True), CONTEXT)
    sticky = PRESET.map(DecodedEvent("message", data, kafka_id(5), False), CONTEXT)
    assert own.dedupe_id == kafka_id(5)
    assert sticky.dedupe_id is None


@settings(max_examples=300, deadline=None)
@given(
    event_type=event_types("message", "error"),
    data=payloads(
        [
            "meta",
            "domain",
            "uri",
            "id",
            "stream",
            "type",
            "title",
            "user",
            "comment",
            "notify_url",
            "title_url",
            "server_name",
            "bot",
            "minor",
            "performer",
            "user_text",
            "user_is_bot",
            "page_title",
            "log_type",
            "log_action",
            "name",
            "message",
        ]
    ),
    own=st.booleans(),
)
def test_map_never_raises_nor_yields_an_unsafe_url(event_type: str, data: str, own: bool) -> None:
    """Whatever the stream sends, map() returns a mapping with only http(s) URLs, never raising."""
    assert_safe(PRESET.map(DecodedEvent(event_type, data, kafka_id(1), own), CONTEXT))


def test_deeply_nested_json_never_raises() -> None:
    """JSON nested up to (and past) the parser's recursion limit is mapped without an exception."""
    for depth in depths_near_the_parser_limit():
        for event_type in ("message", "error"):
            assert_safe(PRESET.map(DecodedEvent(event_type, nested(depth), "", False), CONTEXT))


# -- against a scripted EventStreams server -------------------------------------------------


def eventstreams_server(first_body: bytes) -> tuple[list[bytes | None], Any]:
    """A script: ``first_body`` then a clean close; later connections hang after ``:ok``.

    Returns the list in which the raw ``Last-Event-ID`` of each request is recorded.
    """
    seen: list[bytes | None] = []

    def reply(request: RecordedRequest) -> Reply:
        seen.append(request.header_bytes("Last-Event-ID"))
        if len(seen) == 1:
            return sse_reply(first_body)
        return sse_reply(b":ok\n\n", end="hang")

    return seen, reply


async def test_reconnect_sends_the_json_id_verbatim(env: Env) -> None:
    """After a rotation, Last-Event-ID is exactly the JSON text of the last id, byte for byte."""
    last = kafka_id(1714564800999)
    body = (
        b":ok\n\n"
        + message(recentchange(title="One", meta_id="m1"), 1714564800123)
        + message(CANARY, 1714564800500)
        + message(recentchange(title="Two", meta_id="m2"), 1714564800999)
    )
    seen, script = eventstreams_server(body)
    async with ScriptedServer(script) as server:
        hub = env.hub()
        hub.add(feed(server, "v2_stream_recentchange", preset="eventstreams"))
        await server.wait_for_requests(2)
        await hub.stop()

        assert seen == [None, last.encode("utf-8")]
        # A restart resumes from the stored cursor with the same bytes, on its first request.
        assert await env.store.cursor("v2_stream_recentchange") == last
        again = env.hub()
        again.add(feed(server, "v2_stream_recentchange", preset="eventstreams"))
        await server.wait_for_requests(3)
        await again.stop()
    assert seen[2] == last.encode("utf-8")

    stored = list(reversed(await env.store.recent("v2_stream_recentchange")))
    assert [json.loads(e.data)["meta"]["id"] for e in stored] == ["m1", CANARY["meta"]["id"], "m2"]
    delivered = env.sink.events["v2_stream_recentchange"]
    # Logged, every one; popped up, none: a firehose is log-only until the user turns it on.
    assert len(delivered) == 3
    assert all(e.notification is None for e in delivered)
    assert delivered[1].reason == "canary"


async def test_error_event_keeps_the_connection(env: Env) -> None:
    """An event: error mid-stream is stored with its reason; the connection stays open."""
    body = (
        b":ok\n\n"
        + b"event: error\ndata: "
        + json.dumps(KAFKA_ERROR).encode()
        + b"\n\n"
        + message(recentchange(), 1714564800123)
    )
    async with ScriptedServer([sse_reply(body, end="hang")]) as server:
        hub = env.hub()
        hub.add(feed(server, "es", preset="eventstreams"))
        await env.sink.wait_for(lambda: env.sink.count("es") >= 2)
        await asyncio.sleep(0.1)
        assert hub.statuses["es"].state is ConnectionState.OPEN
        await hub.stop()
    assert len(server.requests) == 1
    error, edit = env.sink.events["es"]
    assert (error.type, error.notification) == ("error", None)
    assert error.reason.startswith("server error: InvalidAssignmentError")
    assert edit.type == "message"
