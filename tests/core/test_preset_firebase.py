"""The Firebase preset: put/patch notify, keep-alive is quiet, cancel and auth_revoked stop.

Streams are written as Firebase's REST streaming sends them (SSE.md section 4):
named events (``put``, ``patch``, ``keep-alive``, ``cancel``, ``auth_revoked``)
with JSON data, no ``id:`` at all, and a 307 to the serving host first.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings

from core.test_hub import Env, feed
from core.test_preset_mercure import (
    assert_safe,
    depths_near_the_parser_limit,
    event_types,
    nested,
    payloads,
)
from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.hub import GAP_EVENT_TYPE
from tidings.core.models import Auth, AuthKind, ConnectionState, StopReason
from tidings.core.presets import MapContext, Mapped, get_preset
from tidings.core.secrets import auth_slot

PRESET = get_preset("firebase")
CONTEXT = MapContext(
    feed_id="chat", feed_name="Chat", url="https://chat-1234.firebaseio.com/rooms/lobby.json"
)

SNAPSHOT = (
    b"event: put\n"
    b'data: {"path":"/","data":{"-Nx1":{"from":"ada","text":"hello"},'
    b'"-Nx2":{"from":"bob","text":"hi"}}}\n\n'
)
NEW_MESSAGE = b'event: put\ndata: {"path":"/-Nx3","data":{"from":"ada","text":"lunch?"}}\n\n'
PATCH = b'event: patch\ndata: {"path":"/-Nx1","data":{"text":"hello, all"}}\n\n'
KEEP_ALIVE = b"event: keep-alive\ndata: null\n\n"
CANCEL = b'event: cancel\ndata: "Permission denied"\n\n'
AUTH_REVOKED = b'event: auth_revoked\ndata: "credential is no longer valid"\n\n'


def decode(body: bytes) -> list[DecodedEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    return events


def map_one(body: bytes, context: MapContext = CONTEXT) -> Mapped:
    [event] = decode(body)
    return PRESET.map(event, context)


# -- the preset's knowledge ------------------------------------------------------------


def test_flags_no_ids_no_replay() -> None:
    """Firebase sends no ids: nothing to de-duplicate by, and a reconnect cannot replay."""
    assert PRESET.replays is False
    assert not PRESET.stable_ids
    assert not PRESET.firehose


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        (
            "https://chat-1234.firebaseio.com/rooms/lobby",
            "https://chat-1234.firebaseio.com/rooms/lobby.json",
        ),
        ("https://chat-1234.firebaseio.com/rooms/", "https://chat-1234.firebaseio.com/rooms.json"),
        ("https://chat-1234.firebaseio.com", "https://chat-1234.firebaseio.com/.json"),
        (
            "https://chat-1234-default-rtdb.europe-west1.firebasedatabase.app/a?auth=T",
            "https://chat-1234-default-rtdb.europe-west1.firebasedatabase.app/a.json?auth=T",
        ),
        # Already right, or not Firebase at all: left alone.
        (
            "https://chat-1234.firebaseio.com/a.json?auth=T",
            "https://chat-1234.firebaseio.com/a.json?auth=T",
        ),
        ("http://127.0.0.1:8080/events", "http://127.0.0.1:8080/events"),
        ("https://firebaseio.com.evil.example/x", "https://firebaseio.com.evil.example/x"),
    ],
)
def test_pasted_database_url_gets_json_suffix(pasted: str, expected: str) -> None:
    """A Firebase location pasted without ``.json`` gets it; other URLs are left alone."""
    assert PRESET.normalize_url(pasted) == expected


def test_put_and_patch_become_notifications() -> None:
    """put/patch: title "<feed>: <path>", body a compact summary, replace key per location."""
    events = decode(SNAPSHOT + KEEP_ALIVE + NEW_MESSAGE + PATCH)
    snapshot, keep_alive, new, patch = (PRESET.map(e, CONTEXT) for e in events)

    assert snapshot.notification is not None
    assert snapshot.notification.title == "Chat: /"
    assert snapshot.notification.body == (
        '{"-Nx1": {"from": "ada", "text": "hello"}, "-Nx2": {"from": "bob", "text": "hi"}}'
    )

    assert keep_alive.notification is None
    assert keep_alive.reason == "keep-alive"
    assert keep_alive.stop is None

    assert new.notification is not None
    assert new.notification.title == "Chat: /-Nx3"
    assert new.notification.body == '{"from": "ada", "text": "lunch?"}'
    assert new.notification.replace_key == "firebase:/-Nx3"
    assert new.notification.feed_id == "chat"

    assert patch.notification is not None
    assert patch.notification.title == "Chat: /-Nx1"
    assert patch.notification.body == '{"text": "hello, all"}'
    # Nothing names a Firebase event across connections.
    assert {m.dedupe_id for m in (snapshot, new, patch)} == {None}


@pytest.mark.parametrize(
    ("data", "body"),
    [
        ('{"path": "/status", "data": "deploying"}', "deploying"),
        ('{"path": "/count", "data": 42}', "42"),
        ('{"path": "/-Nx1", "data": null}', "(deleted)"),
    ],
)
def test_put_of_scalars_and_deletes(data: str, body: str) -> None:
    """A string is shown as itself, a number as text, a null put as a deletion."""
    mapped = PRESET.map(DecodedEvent("put", data, "", False), CONTEXT)
    assert mapped.notification is not None
    assert mapped.notification.body == body


def test_without_a_feed_name_the_host_names_the_feed() -> None:
    """``tidings listen`` has no feed name: the database host stands in for it."""
    mapped = map_one(NEW_MESSAGE, MapContext(url="https://chat-1234.firebaseio.com/rooms.json"))
    assert mapped.notification is not None
    assert mapped.notification.title == "chat-1234.firebaseio.com: /-Nx3"


def test_cancel_stops_with_the_servers_reason() -> None:
    """cancel: no notification, a stop that is a failure, with the server's reason text."""
    mapped = map_one(CANCEL)
    assert mapped.notification is None
    assert mapped.reason == "cancel"
    stop = mapped.stop
    assert stop is not None
    assert stop.reason is StopReason.FAILED
    assert stop.reason.is_error
    assert stop.message == "the server cancelled the stream: Permission denied"


def test_auth_revoked_stops_for_credentials() -> None:
    """auth_revoked: a stop for credentials, saying the token in the URL must be renewed."""
    mapped = map_one(AUTH_REVOKED)
    stop = mapped.stop
    assert mapped.notification is None
    assert stop is not None
    assert stop.reason is StopReason.NEEDS_CREDENTIALS
    assert "credential is no longer valid" in stop.message
    assert "auth=" in stop.message


@pytest.mark.parametrize(
    ("event_type", "data", "message"),
    [
        ("cancel", "null", "the server cancelled the stream"),
        ("cancel", "", "the server cancelled the stream"),
        ("cancel", "payload too\nlarge", "the server cancelled the stream: payload too large"),
        (
            "auth_revoked",
            "null",
            "the credential in the URL (auth= or access_token=) expired "
            "or was revoked: set a fresh token",
        ),
    ],
)
def test_control_events_with_odd_data(event_type: str, data: str, message: str) -> None:
    """cancel and auth_revoked stop whatever their data: null, empty, raw text on lines."""
    mapped = PRESET.map(DecodedEvent(event_type, data, "", False), CONTEXT)
    assert mapped.stop is not None
    assert mapped.stop.message == message


@pytest.mark.parametrize(
    ("event_type", "data", "bad"),
    [
        ("put", "not json", True),
        ("patch", '{"data": 1}', True),  # no path
        ("put", "[1, 2]", True),
        ("message", "hello", False),  # not Firebase's, but harmless: shown as text
    ],
)
def test_unexpected_data_is_shown_raw(event_type: str, data: str, bad: bool) -> None:
    """Data Firebase would not send is shown raw; a malformed put/patch is marked bad_payload."""
    mapped = PRESET.map(DecodedEvent(event_type, data, "", False), CONTEXT)
    assert mapped.notification is not None
    assert (mapped.notification.title, mapped.notification.body) == ("Chat", data)
    assert mapped.bad_payload is bad
    assert mapped.stop is None


@settings(max_examples=300, deadline=None)
@given(
    event_type=event_types("put", "patch", "keep-alive", "cancel", "auth_revoked", "message"),
    data=payloads(["path", "data", "from", "text", "url"]),
)
def test_map_never_raises_nor_yields_an_unsafe_url(event_type: str, data: str) -> None:
    """Whatever the database sends, map() returns a mapping with only http(s) URLs, never raises."""
    mapped = PRESET.map(DecodedEvent(event_type, data, "", False), CONTEXT)
    assert_safe(mapped)
    assert (mapped.stop is not None) == (event_type in {"cancel", "auth_revoked"})


def test_deeply_nested_json_never_raises() -> None:
    """JSON nested up to (and past) the parser's recursion limit is mapped without an exception."""
    for depth in depths_near_the_parser_limit():
        deep = nested(depth)
        for data in (deep, f'{{"path": "/", "data": {deep}}}'):
            for event_type in ("put", "patch", "cancel"):
                assert_safe(PRESET.map(DecodedEvent(event_type, data, "", False), CONTEXT))


# -- the hub with a scripted database ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "control", "reason", "words"),
    [
        ("cancel", CANCEL, StopReason.FAILED, "the server cancelled the stream: Permission denied"),
        ("auth_revoked", AUTH_REVOKED, StopReason.NEEDS_CREDENTIALS, "no longer valid"),
    ],
    ids=["cancel", "auth_revoked"],
)
async def test_control_event_stops_the_feed(
    env: Env, name: str, control: bytes, reason: StopReason, words: str
) -> None:
    """cancel / auth_revoked stop the feed with the right reason and message; no reconnect."""
    async with ScriptedServer(
        [sse_reply(SNAPSHOT, KEEP_ALIVE, control, Pause(0.3), NEW_MESSAGE, end="hang")]
    ) as server:
        hub = env.hub()
        hub.add(feed(server, "rooms.json", preset="firebase"))
        await env.sink.wait_for(lambda: hub.statuses["rooms.json"].state is ConnectionState.STOPPED)
        status = hub.statuses["rooms.json"]
        assert status.stop_reason is reason
        assert words in status.message
        await asyncio.sleep(0.2)  # several reconnection times (T = 50 ms): none may happen
        assert len(server.requests) == 1
        await hub.stop()
    stored = list(reversed(await env.store.recent("rooms.json")))
    # Everything up to the control event is logged; nothing sent after it is read.
    assert [e.type for e in stored] == ["put", "keep-alive", name]
    delivered = env.sink.events["rooms.json"]
    assert [(e.notification, e.reason) for e in delivered[1:]] == [
        (None, "keep-alive"),
        (None, name),
    ]


async def test_events_in_the_same_read_after_a_stop_are_not_kept(env: Env) -> None:
    """cancel and a put in one chunk: the put after the stop is neither stored nor shown."""
    async with ScriptedServer([sse_reply(SNAPSHOT, CANCEL + NEW_MESSAGE, end="hang")]) as server:
        hub = env.hub()
        hub.add(feed(server, "one.json", preset="firebase"))
        await env.sink.wait_for(lambda: hub.statuses["one.json"].state is ConnectionState.STOPPED)
        await hub.stop()
    stored = list(reversed(await env.store.recent("one.json")))
    assert [e.type for e in stored] == ["put", "cancel"]
    assert [e.type for e in env.sink.events["one.json"]] == ["put", "cancel"]


async def test_reconnect_records_a_possible_gap(env: Env) -> None:
    """No ids, no replay: a reconnect logs a "possible gap" entry, then a fresh snapshot."""
    async with ScriptedServer(
        [sse_reply(SNAPSHOT, NEW_MESSAGE), sse_reply(SNAPSHOT, end="hang")]
    ) as server:
        hub = env.hub()
        hub.add(feed(server, "db.json", preset="firebase"))
        await server.wait_for_requests(2)
        await env.sink.wait_for(lambda: env.sink.count("db.json") >= 4)
        await hub.stop()
    assert not any(r.has_header("Last-Event-ID") for r in server.requests)
    stored = list(reversed(await env.store.recent("db.json")))
    types = [e.type for e in stored]
    assert sorted(types) == sorted(["put", "put", GAP_EVENT_TYPE, "put"])
    assert types[:2] == ["put", "put"]  # the first connection's events come before the gap
    [gap] = [e for e in stored if e.type == GAP_EVENT_TYPE]
    assert gap.data.startswith("possible gap from ")
    assert [e.reason for e in env.sink.events["db.json"] if e.type == GAP_EVENT_TYPE] == ["gap"]


async def test_redirect_to_the_serving_host_keeps_the_url_token(env: Env) -> None:
    """The 307 to another host is followed; auth= (in the URL) gets there, a header would not."""

    async with ScriptedServer(host_name="localhost") as serving:

        def serve(request: RecordedRequest) -> Reply:
            return sse_reply(SNAPSHOT, end="hang")

        def redirect(request: RecordedRequest) -> Reply:
            # Like Firebase: the same path and query (auth= included) on the serving host.
            location = serving.url(request.target)
            return Reply(status=307, headers=(("Location", location),), framing="length")

        serving.set_script(serve)
        async with ScriptedServer(redirect) as front:
            await env.secrets.set("rooms.json", auth_slot(), "ID-TOKEN-123")
            await env.secrets.set("lobby.json", auth_slot(), "BEARER-456")
            hub = env.hub()
            query = Auth(kind=AuthKind.QUERY, query_param="auth")
            hub.add(feed(front, "rooms.json", preset="firebase", auth=query))
            hub.add(feed(front, "lobby.json", preset="firebase", auth=Auth(kind=AuthKind.BEARER)))
            await env.sink.wait_for(
                lambda: env.sink.count("rooms.json") >= 1 and env.sink.count("lobby.json") >= 1
            )
            await hub.stop()

    by_path = {r.target.split("?", 1)[0]: r for r in serving.requests}
    assert by_path["/rooms.json"].target == "/rooms.json?auth=ID-TOKEN-123"
    assert not by_path["/lobby.json"].has_header("Authorization")
    front_lobby = [r for r in front.requests if r.target == "/lobby.json"]
    assert front_lobby[0].header("Authorization") == "Bearer BEARER-456"
