"""The MCP preset: pure mapping, and the connection hook driven through EventSource.

The SDK-backed flows (Streamable HTTP, HTTP+SSE, session expiry) are here with
EventSource + the preset's hook against the official SDK's server; corner
cases the SDK cannot be made to produce (a 405 on GET, an endpoint on another
origin) use httpx's MockTransport.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.mcp_server import SERVER_NAME, McpServerThread
from tidings.core.decoder import DecodedEvent
from tidings.core.models import ConnectionPolicy, ConnectionState, FeedStatus, StopReason
from tidings.core.notification import Urgency
from tidings.core.presets import MapContext, Mapped, get_preset
from tidings.core.presets.mcp import McpConnection, McpPreset, level_urgency, resource_name
from tidings.core.sse import EventSource

WAIT = 10.0
_registered = get_preset("mcp")
assert isinstance(_registered, McpPreset)
PRESET: McpPreset = _registered


def _event(data: str, type_: str = "message", id_: str = "") -> DecodedEvent:
    return DecodedEvent(type=type_, data=data, id=id_, has_own_id=bool(id_))


def _log(level: str, data: Any, logger: str | None = None) -> str:
    params: dict[str, Any] = {"level": level, "data": data}
    if logger is not None:
        params["logger"] = logger
    return json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": params})


def _map(data: str, type_: str = "message", **options: str) -> Mapped:
    return PRESET.map(_event(data, type_), MapContext(options=options))


# -- mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "urgency"),
    [
        ("debug", Urgency.LOW),
        ("info", Urgency.LOW),
        ("notice", Urgency.LOW),
        ("warning", Urgency.NORMAL),
        ("error", Urgency.CRITICAL),
        ("critical", Urgency.CRITICAL),
        ("alert", Urgency.CRITICAL),
        ("emergency", Urgency.CRITICAL),
        ("chatty", Urgency.NORMAL),
    ],
)
def test_log_level_maps_to_urgency(level: str, urgency: Urgency) -> None:
    """Each syslog level of MCP logging gets the urgency the preset promises."""
    assert level_urgency(level) is urgency
    mapped = _map(_log(level, "disk almost full", logger="storage"))
    assert mapped.notification is not None
    assert mapped.notification.urgency is urgency


def test_log_title_is_logger_else_server_name() -> None:
    """The title is the logger, else the server's name the handshake learnt, else a default."""
    with_logger = _map(_log("info", "x", logger="builds"), server_name="srv")
    assert with_logger.notification is not None
    assert with_logger.notification.title == "builds"
    named = _map(_log("info", "x"), server_name="srv")
    assert named.notification is not None
    assert named.notification.title == "srv"
    plain = _map(_log("info", "x"))
    assert plain.notification is not None
    assert plain.notification.title == "MCP server"


def test_log_data_that_is_not_text_becomes_json() -> None:
    """Structured log data is shown as JSON text, never as markup."""
    mapped = _map(_log("error", {"b": [1, 2], "a": "<b>x</b>"}))
    assert mapped.notification is not None
    assert json.loads(mapped.notification.body) == {"b": [1, 2], "a": "<b>x</b>"}


def test_resource_update_replaces_per_uri() -> None:
    """A resource update is a notification keyed by its URI, so later ones replace it."""
    data = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "notifications/resources/updated",
            "params": {"uri": "file:///a.txt"},
        }
    )
    mapped = _map(data)
    assert mapped.notification is not None
    assert mapped.notification.title == "a.txt updated"
    assert mapped.notification.body == "file:///a.txt"
    assert mapped.notification.replace_key == "mcp-resource:file:///a.txt"


def test_resource_update_as_the_2026_listen_stream_sends_it() -> None:
    """The SDK's listen frame (uri + subscription _meta): title from the URI, the URI as body."""
    data = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "notifications/resources/updated",
            "params": {
                "uri": "https://example.com/docs/read%20me.md",
                "_meta": {"io.modelcontextprotocol/subscriptionId": 7},
            },
        }
    )
    mapped = _map(data, server_name="srv")
    note = mapped.notification
    assert note is not None
    assert (note.title, note.body, note.urgency) == (
        "read me.md updated",
        "https://example.com/docs/read%20me.md",
        Urgency.NORMAL,
    )
    assert note.tags == ("resource",)


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("file:///a/b/c.txt", "c.txt"),
        ("file:///a/b/", "b"),
        ("https://host.example", "host.example"),
        ("db://orders", "orders"),
        ("urn:isbn:0451450523", "urn:isbn:0451450523"),
        ("  spaced\nuri  ", "spaced uri"),
        ("x" * 500, "x" * 119 + "\u2026"),
    ],
)
def test_resource_name_from_uri(uri: str, name: str) -> None:
    """A resource's short title is its last path segment, else the host, else the URI."""
    assert resource_name(uri) == name


@pytest.mark.parametrize("kind", ["tools", "prompts", "resources"])
def test_list_changes_are_low_urgency_and_replace(kind: str) -> None:
    """tools/prompts/resources list_changed: one low-urgency notification per list."""
    data = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": f"notifications/{kind}/list_changed",
            "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": 1}},
        }
    )
    note = _map(data, server_name="srv").notification
    assert note is not None
    assert (note.title, note.urgency, note.replace_key) == (
        f"srv: {kind} changed",
        Urgency.LOW,
        f"mcp-list:{kind}",
    )


@pytest.mark.parametrize(
    ("data", "type_", "reason"),
    [
        ("", "message", "priming"),
        ("/messages/?session_id=1", "endpoint", "endpoint"),
        ('{"jsonrpc":"2.0","id":1,"result":{}}', "message", "response"),
        ('{"jsonrpc":"2.0","id":1,"method":"ping"}', "message", "request ping"),
        (
            '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}',
            "message",
            "notifications/progress",
        ),
        (
            '{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged",'
            '"params":{"notifications":{"toolsListChanged":true}}}',
            "message",
            "acknowledged subscriptions/listen",
        ),
        (
            '{"jsonrpc":"2.0","id":3,"result":{"_meta":'
            '{"io.modelcontextprotocol/subscriptionId":3}}}',
            "message",
            "ended the subscriptions/listen stream",
        ),
        (
            '{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"limit reached"}}',
            "message",
            "error response: limit reached",
        ),
        (
            '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}',
            "message",
            "cancelled",
        ),
        ('{"jsonrpc":"2.0","method":"notifications/tasks/status"}', "message", "tasks/status"),
    ],
)
def test_other_messages_are_silent_with_a_reason(data: str, type_: str, reason: str) -> None:
    """Priming, endpoint, responses, pings, progress, listen control frames: no notification."""
    mapped = _map(data, type_)
    assert mapped.notification is None
    assert reason in mapped.reason
    assert not mapped.bad_payload


def test_non_json_is_shown_raw() -> None:
    """A payload that is not JSON is a per-event problem: shown raw, flagged, never fatal."""
    mapped = _map("not json at all")
    assert mapped.bad_payload
    assert mapped.notification is not None
    assert mapped.notification.body == "not json at all"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_rpc = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0")},
    optional={
        "method": st.sampled_from(
            [
                "notifications/message",
                "notifications/resources/updated",
                "notifications/resources/list_changed",
                "notifications/tools/list_changed",
                "notifications/prompts/list_changed",
                "notifications/subscriptions/acknowledged",
                "notifications/progress",
                "ping",
            ]
        )
        | st.text(),
        "params": _json
        | st.fixed_dictionaries(
            {},
            optional={
                "level": _json,
                "data": _json,
                "logger": _json,
                "uri": _json | st.text(),
                "title": _json,
                "_meta": _json,
                "notifications": _json,
            },
        ),
        "id": _json,
        "result": _json
        | st.fixed_dictionaries({"_meta": _json | st.dictionaries(st.text(), _json)}),
        "error": _json | st.fixed_dictionaries({"code": _json, "message": _json}),
    },
)


@settings(max_examples=300, deadline=None)
@given(value=_json | _rpc, type_=st.sampled_from(["message", "endpoint", "other"]))
def test_map_never_raises_on_arbitrary_json(value: object, type_: str) -> None:
    """Whatever JSON a server sends, mapping returns a Mapped and never raises."""
    mapped = _map(json.dumps(value), type_)
    assert isinstance(mapped, Mapped)
    if mapped.notification is None:
        assert mapped.reason or mapped.bad_payload


@settings(max_examples=200, deadline=None)
@given(data=st.text())
def test_map_never_raises_on_arbitrary_text(data: str) -> None:
    """Arbitrary text (bad JSON, deep nesting, control characters) never makes mapping raise."""
    assert isinstance(_map(data), Mapped)


@settings(max_examples=300, deadline=None)
@given(
    uri=st.text() | st.from_regex(r"[a-z]{1,6}://[^\s]{0,40}", fullmatch=True),
    title=st.none() | st.text() | st.integers(),
    kind=st.sampled_from(["tools", "prompts", "resources"]),
)
def test_listen_stream_frames_never_raise(uri: str, title: object, kind: str) -> None:
    """Any resource URI (or title) and any list change map to a Mapped; an update keys by URI."""
    params: dict[str, Any] = {"uri": uri, "_meta": {"io.modelcontextprotocol/subscriptionId": 1}}
    if title is not None:
        params["title"] = title
    update = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": params}
    mapped = _map(json.dumps(update))
    if uri.strip():
        assert mapped.notification is not None
        assert mapped.notification.replace_key == f"mcp-resource:{uri}"
        assert uri in mapped.notification.body
        assert 0 < len(mapped.notification.title) <= 130
    else:
        assert mapped.notification is None
        assert mapped.reason
    changed = {"jsonrpc": "2.0", "method": f"notifications/{kind}/list_changed"}
    assert _map(json.dumps(changed)).notification is not None


# -- connecting: helpers ---------------------------------------------------------------


class _Run:
    """An EventSource with the MCP hook, collecting what it delivers."""

    def __init__(
        self,
        url: str,
        options: dict[str, str] | None = None,
        *,
        reconnection_time: float = 0.1,
        **kwargs: Any,
    ) -> None:
        self.hook = PRESET.connect_hook(options)
        self.events: list[DecodedEvent] = []
        self.statuses: list[FeedStatus] = []
        self.arrived = asyncio.Event()
        self.source = EventSource(
            url,
            connect_hook=self.hook,
            on_events=self._on_events,
            on_status=self.statuses.append,
            policy=ConnectionPolicy(reconnection_time=reconnection_time, idle_timeout=WAIT),
            **kwargs,
        )
        self.task: asyncio.Task[FeedStatus] | None = None

    async def _on_events(self, events: Sequence[DecodedEvent]) -> None:
        self.events.extend(events)
        self.arrived.set()

    def notes(self) -> list[dict[str, Any]]:
        context = MapContext(options=self.hook.map_options)
        out = []
        for event in self.events:
            note = PRESET.map(event, context).notification
            if note is not None:
                out.append(note.to_json())
        return out

    async def wait_notes(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            while len(self.notes()) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.notes()

    def start(self) -> None:
        self.task = asyncio.create_task(self.source.run())

    async def stop(self) -> FeedStatus:
        self.source.close()
        assert self.task is not None
        async with asyncio.timeout(WAIT):
            return await self.task


@pytest.fixture
def streamable() -> Any:
    with McpServerThread(transport="streamable") as server:
        yield server


@pytest.fixture
def legacy() -> Any:
    with McpServerThread(transport="sse") as server:
        yield server


@pytest.fixture
def modern() -> Any:
    with McpServerThread(transport="streamable", modern=True) as server:
        yield server


# -- connecting: against the official SDK ---------------------------------------------


async def test_streamable_http_handshake_then_get_stream(streamable: McpServerThread) -> None:
    """POST initialize + initialized, then a GET echoing the session: log messages arrive."""
    run = _Run(streamable.url)
    run.start()
    try:
        assert await asyncio.to_thread(streamable.wait_for_stream)
        await asyncio.to_thread(streamable.log, "warning", "low disk", "storage")
        await asyncio.to_thread(streamable.log, "error", "down")
        notes = await run.wait_notes(2)
    finally:
        await run.stop()
    assert [(n["title"], n["body"], n["urgency"]) for n in notes] == [
        ("storage", "low disk", "normal"),
        (SERVER_NAME, "down", "critical"),
    ]
    probe, *posts = [r for r in streamable.requests if r.method == "POST"]
    get = next(r for r in streamable.requests if r.method == "GET")
    # The 2026-07-28 probe first; a server that predates it answers 400: the handshake follows.
    assert probe.headers["mcp-method"] == "server/discover"
    assert probe.headers["mcp-protocol-version"] == "2026-07-28"
    assert probe.status == 400
    assert "application/json" in posts[0].headers["accept"]
    assert "text/event-stream" in posts[0].headers["accept"]
    session = posts[1].headers["mcp-session-id"]
    assert get.headers["mcp-session-id"] == session
    assert get.headers["mcp-protocol-version"] == "2025-11-25"
    assert run.hook.mode == "streamable"
    assert run.hook.replays is None


async def test_session_expiry_initialises_again(streamable: McpServerThread) -> None:
    """A deleted session answers 404 on the next GET: the hook starts a new session."""
    run = _Run(streamable.url)
    run.start()
    try:
        assert await asyncio.to_thread(streamable.wait_for_stream)
        await asyncio.to_thread(streamable.log, "info", "before")
        await run.wait_notes(1)
        first = run.hook.session_id
        assert first is not None
        async with httpx.AsyncClient(trust_env=False) as client:
            deleted = await client.delete(
                streamable.url,
                headers={"mcp-session-id": first, "mcp-protocol-version": "2025-11-25"},
            )
        assert deleted.status_code in (200, 204)
        assert await asyncio.to_thread(streamable.wait_for_stream, 2)
        await asyncio.to_thread(streamable.log, "info", "after")
        notes = await run.wait_notes(2)
    finally:
        await run.stop()
    assert [n["body"] for n in notes][-1] == "after"
    assert run.hook.initializations == 2
    assert run.hook.session_id not in (None, first)
    gets = [r for r in streamable.requests if r.method == "GET"]
    assert any(r.status == 404 and r.headers.get("mcp-session-id") == first for r in gets)


async def test_http_sse_2024_fallback(legacy: McpServerThread) -> None:
    """POST initialize answers 405, so the hook GETs the SSE endpoint and follows `endpoint`."""
    run = _Run(legacy.url)
    run.start()
    try:
        assert await asyncio.to_thread(legacy.wait_for_stream)
        await asyncio.to_thread(legacy.log, "error", "on fire", "ops")
        notes = await run.wait_notes(1)
    finally:
        await run.stop()
    assert notes[0]["title"] == "ops"
    assert notes[0]["urgency"] == "critical"
    assert run.hook.mode == "sse"
    assert run.hook.map_options["protocol_version"] == "2024-11-05"
    posts = [r for r in legacy.requests if r.method == "POST"]
    assert posts[0].path == "/sse"
    assert posts[0].status == 405
    assert {r.path for r in posts[1:]} == {"/messages/"}


async def test_2026_discover_then_listen_stream(modern: McpServerThread) -> None:
    """The SDK's server as shipped: discover picks 2026-07-28; listen frames become notes."""
    run = _Run(modern.url, {"subscribe": "file:///a.txt file:///b.txt"})
    run.start()
    try:
        assert await asyncio.to_thread(modern.wait_for_listen)
        await asyncio.to_thread(modern.resource_updated, "file:///b.txt")
        await asyncio.to_thread(modern.list_changed, "resources")
        await asyncio.to_thread(modern.list_changed, "prompts")
        notes = await run.wait_notes(3)
    finally:
        await run.stop()
    assert [(n["title"], n["urgency"]) for n in notes] == [
        ("b.txt updated", "normal"),
        (f"{SERVER_NAME}: resources changed", "low"),
        (f"{SERVER_NAME}: prompts changed", "low"),
    ]
    hook = run.hook
    assert (hook.mode, hook.protocol_version, hook.session_id) == ("modern", "2026-07-28", None)
    assert hook.replays is False
    assert hook.map_options == {"protocol_version": "2026-07-28", "server_name": SERVER_NAME}
    assert hook.honored == {
        "toolsListChanged": True,
        "promptsListChanged": True,
        "resourcesListChanged": True,
        "resourceSubscriptions": ["file:///a.txt", "file:///b.txt"],
    }
    assert hook.initializations == 0  # no handshake on this revision
    assert not [r for r in modern.requests if r.method == "GET"]


async def test_2026_dropped_listen_streams_reconnect_without_a_hot_loop(
    modern: McpServerThread,
) -> None:
    """Every listen stream cut after its ack: a new POST each time, never sooner than T."""
    t = 0.3
    run = _Run(modern.url, {"subscribe": "file:///a.txt"}, reconnection_time=t)
    modern.state.cut_listens = True
    loop = asyncio.get_running_loop()
    run.start()
    try:
        assert await asyncio.to_thread(modern.wait_for_listen)
        started = loop.time()
        await asyncio.sleep(1.5)
        window = loop.time() - started
        modern.state.cut_listens = False
        cut = len(modern.listens())
        assert await asyncio.to_thread(modern.wait_for_listen, cut + 1)
        await asyncio.to_thread(modern.resource_updated, "file:///a.txt")
        notes = await run.wait_notes(1)
    finally:
        await run.stop()
    assert notes[-1]["body"] == "file:///a.txt"
    # A hot loop would make hundreds; each cut stream delivered its ack, so the wait is T.
    assert 3 <= cut <= window / t + 2, cut
    assert run.hook.listens == len(modern.listens())
    probes = [r for r in modern.requests if r.headers.get("mcp-method") == "server/discover"]
    assert len(probes) == 1
    states = [s.state for s in run.statuses]
    reopened = sum(
        1
        for a, b in itertools.pairwise(states)
        if (a, b) == (ConnectionState.RETRYING, ConnectionState.CONNECTING)
    )
    assert reopened >= cut - 1


async def test_2026_every_reconnect_is_a_possible_gap(modern: McpServerThread) -> None:
    """The hook's `replays` (False on 2026-07-28) makes the hub's gap watch flag each reconnect."""
    from tidings.core.hub import _GapWatch  # the hub's reader of `replays` (hub.py)

    run = _Run(modern.url)
    run.start()
    try:
        assert await asyncio.to_thread(modern.wait_for_listen)
        await asyncio.to_thread(modern.drop_connections)
        assert await asyncio.to_thread(modern.wait_for_listen, 2)
        await asyncio.to_thread(modern.drop_connections)
        assert await asyncio.to_thread(modern.wait_for_listen, 3)
        async with asyncio.timeout(WAIT):
            # The third stream's acknowledgement: the source reported it open.
            while sum("acknowledged" in e.data for e in run.events) < 3:
                run.arrived.clear()
                await run.arrived.wait()
    finally:
        await run.stop()

    class _Replays:
        replays = run.hook.replays

    watch = _GapWatch(_Replays())  # type: ignore[arg-type]
    # Even with a last event id at hand, nothing can be replayed on this revision.
    gaps = [watch.observe(s, last_event_id="42") for s in run.statuses]
    assert len([g for g in gaps if g is not None]) == 2


# -- connecting: corner cases over a mock transport -----------------------------------


def _init_answer(request: httpx.Request) -> dict[str, Any]:
    body = json.loads(request.content)
    return {
        "jsonrpc": "2.0",
        "id": body["id"],
        "result": {"protocolVersion": "2025-06-18", "serverInfo": {"name": "mock"}},
    }


def _is_probe(request: httpx.Request) -> bool:
    return bool(request.headers.get("mcp-method") == "server/discover")


def _pre_2026(request: httpx.Request) -> httpx.Response:
    """What a Streamable HTTP server predating 2026-07-28 answers the discover probe."""
    return httpx.Response(
        400,
        json={
            "jsonrpc": "2.0",
            "id": "server-error",
            "error": {"code": -32600, "message": "Bad Request: Missing session ID"},
        },
    )


async def _run_mock(handler: Any, url: str = "http://mcp.test/mcp") -> tuple[_Run, FeedStatus]:
    run = _Run(url, transport=httpx.MockTransport(handler), reconnect=True)
    async with asyncio.timeout(WAIT):
        final = await run.source.run()
    return run, final


async def test_get_405_stops_with_a_clear_message() -> None:
    """A server without a GET stream (405) stops the feed, saying why, without retrying."""
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if _is_probe(request):
            return _pre_2026(request)
        seen.append((request.method, dict(request.headers)))
        if request.method == "POST":
            body = json.loads(request.content)
            if "id" in body:
                # An initialize answered as an event stream, as the SDK does by default.
                text = f"event: message\ndata: {json.dumps(_init_answer(request))}\n\n"
                return httpx.Response(
                    200,
                    headers={"content-type": "text/event-stream", "mcp-session-id": "s1"},
                    text=text,
                )
            return httpx.Response(202)
        return httpx.Response(405)

    run, final = await _run_mock(handler)
    assert final.state is ConnectionState.STOPPED
    assert final.stop_reason is StopReason.HTTP_STATUS
    assert "405" in final.message
    assert "no stream" in final.message
    assert [m for m, _ in seen] == ["POST", "POST", "GET"]
    assert seen[2][1]["mcp-session-id"] == "s1"
    assert seen[2][1]["mcp-protocol-version"] == "2025-06-18"
    assert run.hook.map_options["server_name"] == "mock"


async def test_endpoint_on_another_origin_is_rejected() -> None:
    """An `endpoint` event pointing at another origin stops the feed; nothing is posted there."""
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.append(str(request.url))
            return httpx.Response(404)  # the discover probe and initialize alike
        body = "event: endpoint\ndata: https://elsewhere.example/messages?s=1\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body)

    _, final = await _run_mock(handler, "http://mcp.test/sse")
    assert final.stop_reason is StopReason.FAILED
    assert "another origin" in final.message
    assert posted == ["http://mcp.test/sse"] * 2


async def test_user_headers_only_to_the_feed_origin() -> None:
    """User headers go with the handshake and the stream of the feed's origin."""
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        if _is_probe(request):
            return _pre_2026(request)
        if request.method == "POST":
            if "id" in json.loads(request.content):
                return httpx.Response(200, json=_init_answer(request))
            return httpx.Response(202)
        return httpx.Response(204)

    _, final = await _run_mock(handler)
    assert final.stop_reason is StopReason.NO_CONTENT
    run = _Run(
        "http://mcp.test/mcp",
        transport=httpx.MockTransport(handler),
        headers=[("Authorization", "Bearer t0k")],
    )
    seen.clear()
    async with asyncio.timeout(WAIT):
        await run.source.run()
    assert [h.get("authorization") for h in seen] == ["Bearer t0k"] * 4


async def test_retry_and_last_event_id_within_one_session() -> None:
    """Frequent EOFs after an id: the next GET waits `retry:` and resumes with Last-Event-ID."""
    gets: list[tuple[float, str | None]] = []
    loop = asyncio.get_running_loop()

    def handler(request: httpx.Request) -> httpx.Response:
        if _is_probe(request):
            return _pre_2026(request)
        if request.method == "POST":
            if "id" in json.loads(request.content):
                return httpx.Response(
                    200, json=_init_answer(request), headers={"mcp-session-id": "s"}
                )
            return httpx.Response(202)
        gets.append((loop.time(), request.headers.get("last-event-id")))
        n = len(gets)
        if n > 3:
            return httpx.Response(204)
        # A priming event, then one log message, then the server closes (2025-11-25).
        body = f"id: p{n}\nretry: 200\ndata:\n\nid: e{n}\ndata: {_log('info', f'm{n}')}\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body)

    run, final = await _run_mock(handler)
    assert final.stop_reason is StopReason.NO_CONTENT
    assert [lei for _, lei in gets] == [None, "e1", "e2", "e3"]
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(gets)]
    assert all(gap >= 0.19 for gap in gaps), gaps
    assert [n["body"] for n in run.notes()] == ["m1", "m2", "m3"]
    assert run.hook.initializations == 1


def _discover_answer(request: httpx.Request, versions: list[str]) -> httpx.Response:
    body = json.loads(request.content)
    result = {
        "supportedVersions": versions,
        "capabilities": {},
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "mocked", "title": "Mocked"}},
    }
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})


def _listen_error(request: httpx.Request, code: int, status: int) -> httpx.Response:
    body = json.loads(request.content)
    error = {"code": code, "message": f"nope {code}", "data": {"supported": ["2026-07-28"]}}
    return httpx.Response(status, json={"jsonrpc": "2.0", "id": body["id"], "error": error})


async def test_2026_listen_request_shape() -> None:
    """The listen POST: envelope, headers, filter from the options, no Last-Event-ID."""
    listens: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if _is_probe(request):
            return _discover_answer(request, ["2025-11-25", "2026-07-28"])
        listens.append(request)
        return httpx.Response(204)

    run = _Run(
        "http://mcp.test/mcp",
        {"subscribe": "file:///x, file:///y", "list_changed": "tools", "log_level": "Warning"},
        transport=httpx.MockTransport(handler),
        last_event_id="stale",
        resume=True,
    )
    async with asyncio.timeout(WAIT):
        final = await run.source.run()
    assert final.stop_reason is StopReason.NO_CONTENT
    (request,) = listens
    assert request.method == "POST"
    assert request.headers["mcp-protocol-version"] == "2026-07-28"
    assert request.headers["mcp-method"] == "subscriptions/listen"
    assert "application/json" in request.headers["accept"]
    assert "text/event-stream" in request.headers["accept"]
    assert request.headers["content-type"] == "application/json"
    assert "last-event-id" not in request.headers
    body = json.loads(request.content)
    assert body["method"] == "subscriptions/listen"
    assert body["params"]["notifications"] == {
        "toolsListChanged": True,
        "resourceSubscriptions": ["file:///x", "file:///y"],
    }
    meta = body["params"]["_meta"]
    assert meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    assert meta["io.modelcontextprotocol/clientCapabilities"] == {}
    assert meta["io.modelcontextprotocol/clientInfo"]["name"] == "tidings"
    assert meta["io.modelcontextprotocol/logLevel"] == "warning"
    assert run.hook.map_options["server_name"] == "Mocked"


async def test_2026_listen_method_not_found_stops() -> None:
    """A 2026 server that serves no listen stream (-32601 as HTTP 404) stops, saying why."""

    def handler(request: httpx.Request) -> httpx.Response:
        if _is_probe(request):
            return _discover_answer(request, ["2026-07-28"])
        return _listen_error(request, -32601, 404)

    _, final = await _run_mock(handler)
    assert final.state is ConnectionState.STOPPED
    assert final.stop_reason is StopReason.HTTP_STATUS
    assert "no subscriptions/listen stream" in final.message


async def test_2026_unsupported_version_negotiates_again_then_stops() -> None:
    """Listen answered -32022 (the server changed era): discover again, boundedly."""
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.headers.get("mcp-method", request.method))
        if _is_probe(request):
            return _discover_answer(request, ["2026-07-28"])
        return _listen_error(request, -32022, 400)

    _, final = await _run_mock(handler)
    assert final.stop_reason is StopReason.FAILED
    assert "refused subscriptions/listen" in final.message
    assert methods == ["server/discover", "subscriptions/listen"] * 4


async def test_2026_discover_without_the_modern_version_uses_the_handshake() -> None:
    """A discover result that lists only handshake revisions is a legacy advertisement."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("mcp-method") or request.method)
        if _is_probe(request):
            return _discover_answer(request, ["2025-11-25"])
        if request.method == "POST":
            if "id" in json.loads(request.content):
                return httpx.Response(200, json=_init_answer(request))
            return httpx.Response(202)
        return httpx.Response(204)

    run, final = await _run_mock(handler)
    assert final.stop_reason is StopReason.NO_CONTENT
    assert seen == ["server/discover", "POST", "POST", "GET"]
    assert run.hook.mode == "streamable"
    assert run.hook.replays is None


async def test_2026_discover_naming_only_unknown_revisions_stops() -> None:
    """-32022 naming only revisions Tidings does not know: stop, naming them."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        error = {"code": -32022, "message": "no", "data": {"supported": ["2031-01-01"]}}
        return httpx.Response(400, json={"jsonrpc": "2.0", "id": body["id"], "error": error})

    _, final = await _run_mock(handler)
    assert final.stop_reason is StopReason.FAILED
    assert "2031-01-01" in final.message


@pytest.mark.parametrize(("status", "state"), [(503, "retry"), (401, "credentials")])
async def test_2026_discover_status_classes(status: int, state: str) -> None:
    """The probe follows the status table: 5xx retries (and probes again), 401 needs credentials."""
    probes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if _is_probe(request):
            probes.append(1)
            return httpx.Response(status) if len(probes) <= 2 else _pre_2026(request)
        if request.method == "POST":
            if "id" in json.loads(request.content):
                return httpx.Response(200, json=_init_answer(request))
            return httpx.Response(202)
        return httpx.Response(204)

    _, final = await _run_mock(handler)
    if state == "retry":
        assert final.stop_reason is StopReason.NO_CONTENT  # the handshake after the third probe
        assert len(probes) == 3
    else:
        assert final.stop_reason is StopReason.NEEDS_CREDENTIALS
        assert len(probes) == 1


def test_hook_is_per_feed() -> None:
    """Each call makes a fresh connection state; other presets have no hook."""
    assert isinstance(PRESET.connect_hook(), McpConnection)
    assert PRESET.connect_hook() is not PRESET.connect_hook()
    assert get_preset("plain").connect_hook() is None
