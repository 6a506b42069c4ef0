"""The Mercure preset: JSON-LD updates as notifications, and lossless resume across hub rotations.

Payloads follow SSE.md section 4 (dunglas/mercure): every update has an
``id:`` IRI, an optional ``event:`` (the publisher's type) and ``retry:``,
multi-line data split into several ``data:`` lines, and a bare ``:`` comment
line as heartbeat. The hub-level test runs a real hub against a scripted hub
that closes every connection after a few updates and resumes after the
``Last-Event-ID`` it is sent, as a Mercure hub does at its ``write_timeout``.

The property-test helpers here (:func:`payloads`, :func:`event_types`,
:func:`assert_safe`) serve the EventStreams and Firebase preset tests too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.test_hub import Env, feed
from support.scripted_server import BodyPart, RecordedRequest, Reply, ScriptedServer
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.history import StoredEvent
from tidings.core.hub import GAP_EVENT_TYPE
from tidings.core.presets import MapContext, Mapped, get_preset

PRESET = get_preset("mercure")
CONTEXT = MapContext(
    feed_id="books", feed_name="Bookshop", url="https://hub.example/.well-known/mercure"
)


def decode(body: bytes) -> list[DecodedEvent]:
    """The events of one response body, as the connection would decode them."""
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    return events


# -- helpers shared with the EventStreams and Firebase preset tests --------------------

# What a decoded event can hold: UTF-8 decoding never yields a lone surrogate.
WIRE_TEXT = st.characters(exclude_categories=["Cs"])
URLS = st.one_of(
    st.sampled_from(
        [
            "https://example.com/a",
            "http://example.com/b?x=1",
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "file:///etc/passwd",
            "/relative/path",
            "urn:uuid:1b4e28ba-2d11-11e8-b467-0242ac120002",
            "https://",
            "http://[::1",
            " https://example.com/padded ",
            "https://example.com/\ud800",  # a lone surrogate, as a JSON escape can carry it
            "",
        ]
    ),
    st.text(max_size=30),
)


def json_values(keys: Sequence[str], strings: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), strings)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from([*keys, "x"]) | st.text(max_size=8), inner, max_size=6),
        ),
        max_leaves=25,
    )


def payloads(keys: Sequence[str]) -> st.SearchStrategy[str]:
    """Event data: any text, or JSON whose objects use the preset's ``keys``.

    JSON comes ASCII-escaped (so lone surrogates arrive as ``\\ud800`` escapes,
    as a server may send them) or as UTF-8 text without them.
    """
    any_strings = st.text(max_size=40) | URLS
    wire_strings = st.text(WIRE_TEXT, max_size=40) | URLS.filter(lambda u: "\ud800" not in u)
    return st.one_of(
        st.text(WIRE_TEXT),
        json_values(keys, any_strings).map(json.dumps),
        json_values(keys, wire_strings).map(lambda v: json.dumps(v, ensure_ascii=False)),
    )


def event_types(*common: str) -> st.SearchStrategy[str]:
    """An event type as the decoder gives it: never empty, no line break, no surrogate."""
    return st.sampled_from(common) | st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), min_size=1, max_size=12
    )


def assert_safe(mapped: Mapped) -> None:
    """What a mapping may never contain: a non-http(s) URL, or text that UTF-8 cannot carry."""
    note = mapped.notification
    if note is None:
        return
    for url in (note.url, note.icon, *(a.url for a in note.actions)):
        if url:
            parts = urlsplit(url)
            assert parts.scheme in {"http", "https"}, url
            assert parts.netloc, url
    json.dumps(note.to_json(), ensure_ascii=False).encode("utf-8")
    assert mapped.reason.encode("utf-8") is not None


def nested(depth: int) -> str:
    """JSON nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def depths_near_the_parser_limit() -> range:
    """Nesting depths around the deepest the JSON parser accepts at this point of the stack.

    Parsing and re-encoding a few calls deeper fails a few levels earlier: a
    mapping that parses, then summarizes, must survive that window.
    """
    deepest = 0
    for depth in range(sys.getrecursionlimit(), 0, -1):
        try:
            json.loads(nested(depth))
        except RecursionError:
            continue
        deepest = depth
        break
    return range(max(1, deepest - 30), deepest + 3)


# -- the preset's knowledge ------------------------------------------------------------


def test_flags_resume_with_last_event_id_and_stable_ids() -> None:
    """Mercure resumes with Last-Event-ID, its ids are stable, it replays, and is no firehose."""
    assert PRESET.uses_last_event_id()
    assert PRESET.stable_ids
    assert PRESET.replays is True
    assert not PRESET.firehose


@pytest.mark.parametrize(
    "url",
    [
        # Pre-standardization hubs: repeated topic= (IRIs and URI templates).
        "https://example.com/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D"
        "&topic=https%3A%2F%2Fexample.com%2Fauthors%2F1",
        # The current spec: match= / match_<type>=.
        "https://example.com/.well-known/mercure?match=https%3A%2F%2Fexample.com%2Fbooks%2F1"
        "&match_urlpattern=https%3A%2F%2Fexample.com%2Fauthors%2F%3Aid",
        # A bare hub URL is fine too.
        "https://example.com/.well-known/mercure",
    ],
)
def test_subscribe_urls_of_both_generations_are_left_alone(url: str) -> None:
    """topic= (older hubs), match= (current spec) and a bare hub URL are used exactly as given."""
    assert PRESET.normalize_url(url) == url


def test_jsonld_update_becomes_a_notification() -> None:
    """An API Platform-style JSON-LD update: "<@type>: <title>", its description, a link to @id."""
    events = decode(
        b"retry: 2000\n"
        b"id: urn:uuid:5e94c686-2c0b-4f9b-958c-92ccc3bbb4eb\n"
        b'data: {"@context": "/contexts/Book",\n'
        b'data:  "@id": "https://api.example.com/books/1",\n'
        b'data:  "@type": "Book",\n'
        b'data:  "title": "Dune",\n'
        b'data:  "description": "A desert planet, a spice, a prophecy."}\n'
        b"\n"
    )
    [mapped] = [PRESET.map(e, CONTEXT) for e in events]
    note = mapped.notification
    assert note is not None
    assert note.title == "Book: Dune"
    assert note.body == "A desert planet, a spice, a prophecy."
    assert note.url == "https://api.example.com/books/1"
    assert note.replace_key == "mercure:https://api.example.com/books/1"
    assert note.feed_id == "books"
    assert mapped.dedupe_id == "urn:uuid:5e94c686-2c0b-4f9b-958c-92ccc3bbb4eb"
    assert mapped.stop is None
    assert not mapped.bad_payload


def test_event_type_names_the_update_and_json_is_summarized() -> None:
    """With an event: type and no text field, the title is the type and the body compact JSON."""
    [event] = decode(
        b"event: order.shipped\n"
        b"id: https://example.com/orders/42/events/7\n"
        b'data: {"@context": "/contexts/Order", "@id": "/orders/42", "status": "shipped"}\n\n'
    )
    mapped = PRESET.map(event, CONTEXT)
    note = mapped.notification
    assert note is not None
    assert note.title == "order.shipped"
    assert note.body == '{"@id": "/orders/42", "status": "shipped"}'  # no @context noise
    assert note.url == ""  # a relative @id opens the event in the log instead
    assert mapped.dedupe_id == "https://example.com/orders/42/events/7"


@pytest.mark.parametrize(
    ("data", "title", "body"),
    [
        ('{"name": "Alice joined"}', "Alice joined", '{"name": "Alice joined"}'),
        ('{"@type": ["Article", "NewsArticle"], "message": "Hi"}', "Article, NewsArticle", "Hi"),
        ('{"text": "  hello\\nworld  "}', "Bookshop", "hello\nworld"),
        ('"just a string"', "Bookshop", "just a string"),
        ("[1, 2, 3]", "Bookshop", "[1, 2, 3]"),
        ("plain text, not JSON", "Bookshop", "plain text, not JSON"),
        ("", "Bookshop", ""),
    ],
)
def test_titles_and_bodies_of_other_payloads(data: str, title: str, body: str) -> None:
    """name/@type/message/text fields, bare JSON values and plain text each get a sensible shape."""
    mapped = PRESET.map(DecodedEvent("message", data, "urn:uuid:1", True), CONTEXT)
    assert mapped.notification is not None
    assert (mapped.notification.title, mapped.notification.body) == (title, body)
    assert not mapped.bad_payload  # a Mercure payload may be any text


def test_unsafe_id_is_not_a_click_url() -> None:
    """A javascript: @id (or url) never becomes the click URL."""
    data = '{"@id": "javascript:alert(1)", "url": "data:text/html,x", "title": "t"}'
    mapped = PRESET.map(DecodedEvent("message", data, "1", True), CONTEXT)
    assert mapped.notification is not None
    assert mapped.notification.url == ""


def test_only_an_own_block_id_deduplicates() -> None:
    """An id inherited from an earlier block (sticky) names nothing: no dedupe id (SSE.md 5)."""
    sticky = PRESET.map(DecodedEvent("message", "{}", "urn:uuid:1", False), CONTEXT)
    assert sticky.dedupe_id is None
    empty = PRESET.map(DecodedEvent("message", "{}", "", True), CONTEXT)
    assert empty.dedupe_id is None


@settings(max_examples=300, deadline=None)
@given(
    event_type=event_types("message", "update", "Book"),
    data=payloads(["@id", "@type", "@context", "title", "name", "message", "url", "text"]),
    event_id=st.text(WIRE_TEXT, max_size=20),
    own=st.booleans(),
)
def test_map_never_raises_nor_yields_an_unsafe_url(
    event_type: str, data: str, event_id: str, own: bool
) -> None:
    """Whatever a hub sends, map() returns a mapping with only http(s) URLs and UTF-8-safe text."""
    assert_safe(PRESET.map(DecodedEvent(event_type, data, event_id, own), CONTEXT))


def test_deeply_nested_json_never_raises() -> None:
    """JSON nested up to (and past) the parser's recursion limit is mapped without an exception."""
    for depth in depths_near_the_parser_limit():
        assert_safe(PRESET.map(DecodedEvent("message", nested(depth), "1", True), CONTEXT))


# -- against a hub that rotates its connections ---------------------------------------------


TOTAL = 20
PER_CONNECTION = 3
IDS = [f"urn:uuid:00000000-0000-4000-8000-{n:012d}" for n in range(1, TOTAL + 1)]


class RotatingHub:
    """A scripted Mercure hub holding TOTAL updates that closes each connection after a few.

    It resumes after the ``Last-Event-ID`` it is sent (from the start without
    one); ``overlap`` re-sends that many updates before the cursor, as a hub
    with a coarse history might. With nothing new it keeps the connection
    open, sending a heartbeat only. ``last_sent`` holds, per request, the id
    of the last update the client had been sent by then.
    """

    def __init__(self, *, overlap: int) -> None:
        self.overlap = overlap
        self.last_sent: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        last = request.header("Last-Event-ID")
        start = max(0, IDS.index(last) + 1 - self.overlap) if last in IDS else 0
        batch = IDS[start : start + PER_CONNECTION]
        parts: list[BodyPart] = [b":\n"]  # a heartbeat: a bare comment line, no blank line
        for n, ident in enumerate(batch, start=start + 1):
            payload = json.dumps(
                {"@id": f"https://example.com/books/{n}", "@type": "Book", "title": f"Book {n}"},
                indent=1,
            )
            data = b"".join(b"data: " + line.encode() + b"\n" for line in payload.split("\n"))
            # Mercure's order: event, retry, id, data, blank line.
            parts.append(b"event: Book\nretry: 50\nid: " + ident.encode() + b"\n" + data + b"\n")
            parts.append(b":\n")
        self.last_sent.append(batch[-1] if batch else (last or ""))
        return Reply(body=parts, end="close" if batch else "hang")


def ids_of(events: Iterable[StoredEvent]) -> list[str]:
    return [e.event_id for e in events]


@pytest.mark.parametrize("overlap", [0, 1])
@pytest.mark.parametrize(
    "query",
    [
        "?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&topic=https%3A%2F%2Fexample.com%2Fx",
        "?match=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D",
    ],
    ids=["topic", "match"],
)
async def test_hub_rotation_loses_nothing_and_repeats_nothing(
    env: Env, overlap: int, query: str
) -> None:
    """A hub closing every few updates: each stored once, in order, and no "possible gap" entry."""
    script = RotatingHub(overlap=overlap)
    async with ScriptedServer(script) as server:
        hub = env.hub()
        base = feed(server, "mercure", preset="mercure")
        hub.add(replace(base, url=base.url + query))
        await env.sink.wait_for(lambda: env.sink.count("mercure") >= TOTAL)
        await server.wait_for_requests(len(script.last_sent) + 1)  # the one that finds nothing new
        await asyncio.sleep(0.1)  # room for a stray duplicate or gap entry to show up
        await hub.stop()

    stored = list(reversed(await env.store.recent("mercure", limit=1000)))
    assert ids_of(stored) == IDS
    assert GAP_EVENT_TYPE not in {e.type for e in stored}
    assert ids_of(env.sink.events["mercure"]) == IDS  # the sinks saw each update once too

    # The subscribe URL went out as given; the first request resumed nothing, and each
    # reconnect sent the id of the last update it had been sent, byte for byte.
    first, *reconnects = server.requests
    assert {r.target for r in server.requests} == {"/mercure" + query}
    assert not first.has_header("Last-Event-ID")
    sent = [r.header_bytes("Last-Event-ID") for r in reconnects]
    assert sent == [ident.encode() for ident in script.last_sent[: len(sent)]]
