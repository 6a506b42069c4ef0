"""The MCP server preset: a server's log messages and resource updates as notifications.

Mapping (pure, :meth:`McpPreset.map`): ``notifications/message`` becomes a
notification whose urgency follows the log level (debug, info, notice: low;
warning: normal; error and above: critical), titled with the ``logger`` or
the server's name, with ``data`` as the body; ``notifications/resources/updated``
becomes one per resource, titled from its URI (later updates replace it);
``notifications/{tools,prompts,resources}/list_changed`` become low-urgency
notifications, one per list (later ones replace it). Every other JSON-RPC
message is no notification, with a reason: responses (the end of a
``subscriptions/listen`` stream among them), server requests such as
``ping``, ``notifications/progress`` and ``notifications/cancelled`` (about one
request, not news), ``notifications/subscriptions/acknowledged`` (the listen
stream's first frame, control). Empty-data priming events (2025-11-25: an id
and empty data) and the 2024-11-05 ``endpoint`` event are normal and silent.

Connecting (:class:`McpConnection`, one per feed, created by
:meth:`McpPreset.connect_hook`) follows the spec's backwards-compatible
client (SSE.md section 4, MCP), newest first:

- 2026-07-28 (stateless, "modern"): the ``initialize`` handshake cannot reach
  this revision (a dual-era server such as the official SDK's answers an
  initialize offering 2026-07-28 with 2025-11-25), so each feed first POSTs
  ``server/discover`` at 2026-07-28 (the ``_meta`` envelope plus the
  ``MCP-Protocol-Version`` and ``Mcp-Method`` headers), as the SDK's own
  client does. A result whose ``supportedVersions`` lists 2026-07-28 selects
  it; the stream request is then a POST ``subscriptions/listen`` (its filter:
  the three list changes and the ``subscribe`` URIs) whose response is the
  event stream. No session, no ``Last-Event-ID``, nothing replayed: every
  reconnect is a new POST and a possible gap (:attr:`McpConnection.replays`
  is False). A listen answered ``-32022`` (the server no longer speaks it)
  negotiates again; ``-32601`` stops (the server serves no listen stream).
  Any other answer to the probe (400 from a 2025 server, a JSON-RPC error, a
  result without 2026-07-28) falls back to the handshake below; a 405 means
  the URL takes no POST at all: straight to HTTP+SSE.
- Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25): POST ``initialize``
  (the answer may be JSON or an event stream), then
  ``notifications/initialized``; the stream is a GET carrying
  ``MCP-Session-Id`` and ``MCP-Protocol-Version``; ``Last-Event-ID`` only
  within one session (ids are per-session cursors); a 404 means the session
  is gone: the next attempt initialises a new one; a 405 on the GET means the
  server has no stream: stop, saying so.
- HTTP+SSE (2024-11-05): when the initialize POST answers 400, 404 or 405,
  GET the URL and wait for the ``endpoint`` event; its URI (resolved against
  the stream URL, same origin only) receives ``initialize`` and the rest.
- Server-to-client requests get an answer (``ping``: an empty result; anything
  else: method not found) so that a server never waits on us.

User headers and credentials go only to the feed's own origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import httpx

from tidings import __version__
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.models import StopReason
from tidings.core.notification import Notification, Urgency
from tidings.core.presets import MapContext, Mapped, Preset, register
from tidings.core.sse import (
    ConnectContext,
    ConnectRetry,
    ConnectStop,
    StreamRequest,
    body_chunks,
    content_type_essence,
)

__all__ = [
    "HANDSHAKE_VERSIONS",
    "LATEST_HANDSHAKE_VERSION",
    "MODERN_VERSION",
    "McpConnection",
    "McpPreset",
    "level_urgency",
]

logger = logging.getLogger(__name__)

HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
"""The revisions reached with ``initialize``, newest first."""
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[0]
MODERN_VERSION = "2026-07-28"
"""The stateless revision, reached with ``server/discover`` (no handshake, no session)."""

_LOW_LEVELS = frozenset({"debug", "info", "notice"})
_NORMAL_LEVELS = frozenset({"warning"})
_CRITICAL_LEVELS = frozenset({"error", "critical", "alert", "emergency"})
_ACCEPT_BOTH = "application/json, text/event-stream"
_JSON = "application/json"
_DEFAULT_TITLE = "MCP server"
# The most of an initialize answer we read (it is small; a stream that never answers is not).
_MAX_HANDSHAKE_BYTES = 4 * 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The per-request envelope of 2026-07-28 (``params._meta``) and its reserved keys.
_META_VERSION = "io.modelcontextprotocol/protocolVersion"
_META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
_META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
_META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
_META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
_META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
_UNSUPPORTED_PROTOCOL_VERSION = -32022
_METHOD_NOT_FOUND = -32601
_LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}
_LIST_FILTER_KEYS = {
    "tools": "toolsListChanged",
    "prompts": "promptsListChanged",
    "resources": "resourcesListChanged",
}
_SILENT_NOTIFICATIONS = {
    "notifications/subscriptions/acknowledged": (
        "control: the server acknowledged subscriptions/listen (the stream's first frame)"
    ),
    "notifications/progress": "progress of one request (not news)",
    "notifications/cancelled": "a request was cancelled (control)",
}
# Renegotiations in a row (listen answered -32022 each time) before the feed stops.
_MAX_RENEGOTIATIONS = 3
_MAX_TITLE = 120


def level_urgency(level: object) -> Urgency:
    """The urgency of an MCP (syslog) log level; an unknown level is normal."""
    name = level.lower() if isinstance(level, str) else ""
    if name in _LOW_LEVELS:
        return Urgency.LOW
    if name in _CRITICAL_LEVELS:
        return Urgency.CRITICAL
    return Urgency.NORMAL


def _text(value: object) -> str:
    """A log message's ``data`` as plain text (JSON for anything but a string)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def resource_name(uri: str) -> str:
    """A resource's short title: its last path segment (decoded), else its host, else the URI."""
    text = uri.strip()
    try:
        url = httpx.URL(text)
        # An opaque URI (urn:..., mailto:...) has no segments: it is its own name.
        segments = [p for p in url.path.split("/") if p] if url.path.startswith("/") else []
        name = unquote(segments[-1], errors="replace") if segments else ""
        if not name:
            name = url.host or ""
    except (httpx.InvalidURL, ValueError, TypeError):
        name = ""
    name = " ".join((name or text).split())
    if len(name) > _MAX_TITLE:
        name = name[: _MAX_TITLE - 1] + "\u2026"
    return name or "resource"


def _response_reason(message: Mapping[str, Any]) -> str:
    """Why a JSON-RPC response is no notification (the end of a listen stream among them)."""
    error = message.get("error")
    if "error" in message:
        detail = error.get("message") if isinstance(error, dict) else None
        text = f": {detail[:200]}" if isinstance(detail, str) and detail else ""
        return f"JSON-RPC error response{text}"
    result = message.get("result")
    meta = result.get("_meta") if isinstance(result, dict) else None
    if isinstance(meta, dict) and _META_SUBSCRIPTION_ID in meta:
        return "JSON-RPC response: the server ended the subscriptions/listen stream"
    return "JSON-RPC response"


class McpPreset(Preset):
    name = "mcp"
    label = "MCP server"
    # Ids are per-session (Streamable HTTP) or absent: never de-duplicate by them.
    stable_ids = False

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """A log message or resource update becomes a notification; the rest is silent."""
        if event.type == "endpoint":
            return Mapped(notification=None, reason="control: the 2024-11-05 endpoint event")
        if not event.data.strip():
            return Mapped(notification=None, reason="priming event (an id, no data)")
        try:
            message = json.loads(event.data)
        except (ValueError, RecursionError):
            # Not JSON-RPC: a per-event problem, shown raw (SSE.md section 5).
            return Mapped(
                notification=Notification(
                    title=self._server_title(context),
                    body=event.data,
                    urgency=Urgency.LOW,
                    feed_id=context.feed_id,
                ),
                bad_payload=True,
            )
        if isinstance(message, list):
            return Mapped(notification=None, reason="a JSON-RPC batch (not a notification)")
        if not isinstance(message, dict):
            return Mapped(notification=None, reason="not a JSON-RPC message", bad_payload=True)
        method = message.get("method")
        params = message.get("params")
        if not isinstance(params, dict):
            params = {}
        if method == "notifications/message":
            return self._log_message(params, context)
        if method == "notifications/resources/updated":
            return self._resource_updated(params, context)
        if isinstance(method, str) and method in _LIST_CHANGED:
            return self._list_changed(_LIST_CHANGED[method], context)
        if isinstance(method, str) and method in _SILENT_NOTIFICATIONS and "id" not in message:
            return Mapped(
                notification=None,
                reason=f"JSON-RPC notification {method}: {_SILENT_NOTIFICATIONS[method]}",
            )
        if isinstance(method, str):
            kind = "request" if "id" in message else "notification"
            return Mapped(notification=None, reason=f"JSON-RPC {kind} {method}")
        if "result" in message or "error" in message:
            return Mapped(notification=None, reason=_response_reason(message))
        return Mapped(notification=None, reason="not a JSON-RPC message", bad_payload=True)

    def _server_title(self, context: MapContext) -> str:
        return context.options.get("server_name") or context.feed_name or _DEFAULT_TITLE

    def _log_message(self, params: Mapping[str, Any], context: MapContext) -> Mapped:
        source = params.get("logger")
        title = source if isinstance(source, str) and source.strip() else ""
        level = params.get("level")
        tags = (level.lower(),) if isinstance(level, str) and level else ()
        return Mapped(
            notification=Notification(
                title=title or self._server_title(context),
                body=_text(params.get("data")),
                urgency=level_urgency(level),
                tags=tags,
                feed_id=context.feed_id,
            )
        )

    def _resource_updated(self, params: Mapping[str, Any], context: MapContext) -> Mapped:
        uri = params.get("uri")
        if not isinstance(uri, str) or not uri.strip():
            return Mapped(notification=None, reason="resource update without a URI")
        # The SDK sends the URI alone (and a _meta); a server may add a title.
        title = params.get("title")
        extra = title.strip() if isinstance(title, str) else ""
        return Mapped(
            notification=Notification(
                title=f"{resource_name(uri)} updated",
                body=f"{extra}\n{uri}" if extra else uri,
                tags=("resource",),
                feed_id=context.feed_id,
                replace_key=f"mcp-resource:{uri}",
            )
        )

    def _list_changed(self, kind: str, context: MapContext) -> Mapped:
        return Mapped(
            notification=Notification(
                title=f"{self._server_title(context)}: {kind} changed",
                body=f"The server's list of {kind} changed.",
                urgency=Urgency.LOW,
                tags=(kind,),
                feed_id=context.feed_id,
                replace_key=f"mcp-list:{kind}",
            )
        )

    def connect_hook(self, options: Mapping[str, str] | None = None) -> McpConnection:
        """The per-feed connection state; see :class:`McpConnection` for the options."""
        return McpConnection(options=options or {})


class McpConnection:
    """One feed's MCP handshake and session; see the module docstring for the flows.

    Options: ``subscribe`` (resource URIs separated by spaces or commas),
    ``list_changed`` (2026-07-28: which list changes the listen stream asks
    for, from ``tools prompts resources``, all by default, ``none`` for
    none), ``log_level`` (2026-07-28: the listen request's log opt-in, a
    syslog level; by default none, so the server sends no log there).

    ``map_options`` is a live mapping the hook fills as it learns things
    (``server_name``, ``protocol_version``); pass it as the
    :class:`MapContext`'s ``options`` so titles can name the server.
    """

    def __init__(self, *, options: Mapping[str, str]) -> None:
        self._subscribe = tuple(options.get("subscribe", "").replace(",", " ").split())
        lists = options.get("list_changed", " ".join(_LIST_FILTER_KEYS)).replace(",", " ")
        self._lists = tuple(k for k in _LIST_FILTER_KEYS if k in lists.lower().split())
        level = options.get("log_level", "").strip().lower()
        self._log_level = level if level in _LOG_LEVELS else None
        self.map_options: dict[str, str] = {}
        self.mode: str | None = None
        """``None`` until known, then ``"modern"`` (2026-07-28), ``"streamable"`` or ``"sse"``."""
        self.listens = 0
        """How many ``subscriptions/listen`` POSTs were planned (2026-07-28)."""
        self.honored: dict[str, Any] | None = None
        """The filter the server last acknowledged on a listen stream (2026-07-28)."""
        self._listen_id: int | None = None
        self._renegotiations = 0
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.initializations = 0
        """How many sessions were started (a new one after each expiry)."""
        self._needs_init = True
        self._fresh_session = False
        self._ids = itertools.count(1)
        self._init_id: int | None = None
        self._context: ConnectContext | None = None
        self._endpoint: httpx.URL | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._fallback_status: tuple[str, int] | None = None

    @property
    def replays(self) -> bool | None:
        """Whether the server can replay what was missed (the hub's ``Preset.replays``).

        False on 2026-07-28 (no resumption at all: every reconnect is a possible
        gap); None otherwise ("if the server sends ids", as the class says).
        """
        return False if self.mode == "modern" else None

    # -- the ConnectHook protocol ---------------------------------------------

    async def before_connect(self, context: ConnectContext) -> StreamRequest:
        self._context = context
        await self._cancel_tasks()
        if self.mode == "sse":
            return self._sse_plan()
        mode = self.mode if self.mode is not None else await self._discover(context)
        if mode == "sse":
            return self._sse_plan()
        if mode == "modern":
            return self._listen_plan()
        if self._needs_init:
            initialised = await self._initialize_streamable(context)
            if not initialised:
                self.mode = "sse"
                return self._sse_plan()
        headers: list[tuple[str, str]] = []
        if self.session_id is not None:
            headers.append(("MCP-Session-Id", self.session_id))
        if self.protocol_version is not None:
            headers.append(("MCP-Protocol-Version", self.protocol_version))
        # Event ids are cursors of one session: an id from an older one means nothing now.
        fresh, self._fresh_session = self._fresh_session, False
        return StreamRequest(headers=tuple(headers), send_last_event_id=not fresh)

    async def judge(self, response: httpx.Response) -> None:
        status = response.status_code
        if self.mode == "modern":
            await self._judge_listen(response)
            return
        if self.mode == "sse" and self._fallback_status is not None:
            (what, first), self._fallback_status = self._fallback_status, None
            if status != 200:
                raise ConnectStop(
                    StopReason.HTTP_STATUS,
                    f"not an MCP server? POST {what} answered HTTP {first} and the "
                    f"HTTP+SSE GET answered HTTP {status}",
                    http_status=status,
                )
        if self.mode != "streamable":
            return
        if status == 404 and self.session_id is not None:
            self._needs_init = True
            self.session_id = None
            raise ConnectRetry(
                "the MCP session expired (HTTP 404); starting a new one", http_status=404
            )
        if status == 405:
            raise ConnectStop(
                StopReason.HTTP_STATUS,
                "the MCP server offers no stream of its own (GET answered 405 Method Not "
                "Allowed): it sends nothing a subscriber could show",
                http_status=405,
            )

    async def on_events(self, events: Sequence[DecodedEvent]) -> None:
        for event in events:
            if self.mode == "sse" and event.type == "endpoint":
                self._on_endpoint(event.data)
                continue
            if not event.data.strip():
                continue
            try:
                message = json.loads(event.data)
            except (ValueError, RecursionError):
                continue
            if isinstance(message, dict):
                if self.mode == "modern":
                    self._on_listen_message(message)
                else:
                    self._on_message(message)

    async def aclose(self) -> None:
        await self._cancel_tasks()
        self._context = None

    # -- 2026-07-28: server/discover, then subscriptions/listen ---------------

    def _envelope(self) -> dict[str, Any]:
        """The per-request ``_meta`` envelope of 2026-07-28."""
        return {
            _META_VERSION: MODERN_VERSION,
            _META_CAPABILITIES: {},
            _META_CLIENT_INFO: {"name": "tidings", "version": __version__},
        }

    async def _discover(self, context: ConnectContext) -> str | None:
        """Probe ``server/discover`` at 2026-07-28; set and return ``mode`` (``"modern"``: served).

        Otherwise ``mode`` stays ``None`` (the handshake follows) or becomes
        ``"sse"`` when the URL takes no POST (405). Transient statuses retry
        (the next attempt probes again); credentials and redirects stop.
        """
        request_id = next(self._ids)
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "server/discover",
            "params": {"_meta": self._envelope()},
        }
        extra = (("MCP-Protocol-Version", MODERN_VERSION), ("Mcp-Method", "server/discover"))
        status, headers, answer = await self._post(
            context, context.url, body, extra=extra, want_id=request_id, any_status=True
        )
        if status == 405:
            # The URL takes no POST at all: the 2024-11-05 HTTP+SSE transport (or nothing).
            logger.info("POST server/discover answered 405: trying the HTTP+SSE transport")
            self.mode = "sse"
            self._fallback_status = ("server/discover", status)
            return self.mode
        if status in (401, 403, 408, 429) or 300 <= status < 400 or status >= 500:
            self._check_status(status, headers, "server/discover")
        result = answer.get("result") if answer is not None else None
        error = answer.get("error") if answer is not None else None
        if isinstance(result, dict):
            versions = result.get("supportedVersions")
            if isinstance(versions, list) and MODERN_VERSION in versions:
                self._adopt_modern(result)
                return self.mode
            logger.info("MCP server/discover lists no %s: using the handshake", MODERN_VERSION)
            return None
        if isinstance(error, dict) and error.get("code") == _UNSUPPORTED_PROTOCOL_VERSION:
            data = error.get("data")
            supported = data.get("supported") if isinstance(data, dict) else None
            if (
                isinstance(supported, list)
                and supported
                and not any(v in HANDSHAKE_VERSIONS or v == MODERN_VERSION for v in supported)
            ):
                shown = ", ".join(str(v) for v in supported[:5])
                raise ConnectStop(
                    StopReason.FAILED,
                    "the MCP server speaks only protocol revisions Tidings does not know "
                    f"({shown})",
                )
        logger.info(
            "POST server/discover answered HTTP %s: the server predates %s; using the handshake",
            status,
            MODERN_VERSION,
        )
        return None

    def _adopt_modern(self, result: Mapping[str, Any]) -> None:
        self.mode = "modern"
        self.session_id = None
        self.protocol_version = MODERN_VERSION
        self.map_options["protocol_version"] = MODERN_VERSION
        meta = result.get("_meta")
        info = meta.get(_META_SERVER_INFO) if isinstance(meta, dict) else None
        if isinstance(info, dict):
            name = info.get("title") or info.get("name")
            if isinstance(name, str) and name.strip():
                self.map_options["server_name"] = name.strip()

    def _listen_filter(self) -> dict[str, Any]:
        wanted: dict[str, Any] = {_LIST_FILTER_KEYS[k]: True for k in self._lists}
        if self._subscribe:
            wanted["resourceSubscriptions"] = list(self._subscribe)
        return wanted

    def _listen_plan(self) -> StreamRequest:
        """The stream request of 2026-07-28: a fresh POST ``subscriptions/listen``."""
        self._listen_id = next(self._ids)
        self.listens += 1
        meta = self._envelope()
        if self._log_level is not None:
            meta[_META_LOG_LEVEL] = self._log_level
        body = {
            "jsonrpc": "2.0",
            "id": self._listen_id,
            "method": "subscriptions/listen",
            "params": {"_meta": meta, "notifications": self._listen_filter()},
        }
        return StreamRequest(
            method="POST",
            headers=(
                ("Accept", _ACCEPT_BOTH),
                ("Content-Type", _JSON),
                ("MCP-Protocol-Version", MODERN_VERSION),
                ("Mcp-Method", "subscriptions/listen"),
            ),
            content=json.dumps(body).encode("utf-8"),
            # Nothing to resume on this revision: an id would mean nothing to the server.
            send_last_event_id=False,
        )

    async def _judge_listen(self, response: httpx.Response) -> None:
        """A listen POST answered with JSON is a refusal: say why (or negotiate again)."""
        status = response.status_code
        essence = content_type_essence(response.headers.get("content-type"))
        if status in (401, 403, 408, 429) or status >= 500:
            return  # the usual status classes (SSE.md section 5)
        if status == 200 and essence == "text/event-stream":
            return
        if essence != _JSON:
            return
        body = b""
        async with contextlib.aclosing(body_chunks(response)) as chunks:
            async for chunk in chunks:  # inflated in bounded pieces: no gzip bomb
                body += chunk
                if len(body) > _MAX_HANDSHAKE_BYTES:
                    return
        try:
            answer = json.loads(body.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            return
        code = error.get("code")
        message = error.get("message")
        detail = message[:200] if isinstance(message, str) and message else f"error {code}"
        if code == _UNSUPPORTED_PROTOCOL_VERSION:
            self._renegotiations += 1
            if self._renegotiations <= _MAX_RENEGOTIATIONS:
                self.mode = None
                self._needs_init = True
                self.protocol_version = None
                raise ConnectRetry(
                    f"the MCP server no longer speaks {MODERN_VERSION} ({detail}); "
                    "negotiating again",
                    http_status=status,
                )
        if code == _METHOD_NOT_FOUND:
            raise ConnectStop(
                StopReason.HTTP_STATUS,
                "the MCP server offers no subscriptions/listen stream (method not found): "
                "it sends nothing a subscriber could show",
                http_status=status,
            )
        raise ConnectStop(
            StopReason.FAILED,
            f"the MCP server refused subscriptions/listen (HTTP {status}): {detail}",
            http_status=status,
        )

    def _on_listen_message(self, message: Mapping[str, Any]) -> None:
        """Frames of a listen stream: the acknowledgement, the end, the rest is for ``map``."""
        method = message.get("method")
        if method == "notifications/subscriptions/acknowledged":
            self._renegotiations = 0
            params = message.get("params")
            honored = params.get("notifications") if isinstance(params, dict) else None
            self.honored = honored if isinstance(honored, dict) else {}
            uris = self.honored.get("resourceSubscriptions")
            missing = [u for u in self._subscribe if not (isinstance(uris, list) and u in uris)]
            if missing:
                logger.warning("MCP: the server does not honor subscriptions to %s", missing)
            return
        if method is not None or message.get("id") != self._listen_id:
            # 2026-07-28 has no back-channel: a server request here gets no answer from us.
            return
        error = message.get("error")
        if isinstance(error, dict):
            text = error.get("message")
            raise ConnectRetry(
                "the MCP server ended the listen stream with an error: "
                f"{text[:200] if isinstance(text, str) else error.get('code')}"
            )
        logger.info("MCP: the server ended the subscriptions/listen stream; listening again")

    # -- Streamable HTTP ------------------------------------------------------

    def _initialize_body(self, request_id: int) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "initialize",
            "params": {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "tidings", "version": __version__},
            },
        }

    async def _initialize_streamable(self, context: ConnectContext) -> bool:
        """POST initialize; True when the server speaks Streamable HTTP, False for HTTP+SSE."""
        request_id = next(self._ids)
        status, headers, answer = await self._post(
            context, context.url, self._initialize_body(request_id), want_id=request_id
        )
        if status in (400, 404, 405) and self.mode is None:
            # The backwards-compatible client: an old server answers the POST so (2024-11-05).
            logger.info("POST initialize answered %s: trying the HTTP+SSE transport", status)
            self._fallback_status = ("initialize", status)
            return False
        self._check_status(status, headers, "initialize")
        if answer is None:
            raise ConnectRetry("the MCP server sent no answer to initialize")
        result = self._result_of(answer, "initialize")
        self.mode = "streamable"
        self.session_id = headers.get("mcp-session-id") or None
        self._adopt(result)
        extra = self._session_headers()
        status, headers, _ = await self._post(
            context,
            context.url,
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            extra=extra,
        )
        self._check_status(status, headers, "notifications/initialized")
        for uri in self._subscribe:
            body = {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": "resources/subscribe",
                "params": {"uri": uri},
            }
            status, headers, _ = await self._post(context, context.url, body, extra=extra)
            self._check_status(status, headers, "resources/subscribe")
        self._needs_init = False
        self._fresh_session = True
        self.initializations += 1
        return True

    def _session_headers(self) -> tuple[tuple[str, str], ...]:
        headers: list[tuple[str, str]] = []
        if self.session_id is not None:
            headers.append(("MCP-Session-Id", self.session_id))
        if self.protocol_version is not None:
            headers.append(("MCP-Protocol-Version", self.protocol_version))
        return tuple(headers)

    def _adopt(self, result: Mapping[str, Any]) -> None:
        version = result.get("protocolVersion")
        self.protocol_version = version if isinstance(version, str) else LATEST_HANDSHAKE_VERSION
        self.map_options["protocol_version"] = self.protocol_version
        info = result.get("serverInfo")
        if isinstance(info, dict):
            name = info.get("title") or info.get("name")
            if isinstance(name, str) and name.strip():
                self.map_options["server_name"] = name.strip()

    @staticmethod
    def _result_of(answer: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        error = answer.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            raise ConnectStop(
                StopReason.FAILED,
                f"the MCP server refused {what}: {message if isinstance(message, str) else error}",
            )
        result = answer.get("result")
        if not isinstance(result, dict):
            raise ConnectStop(StopReason.FAILED, f"the MCP server's answer to {what} has no result")
        return result

    @staticmethod
    def _check_status(status: int, headers: httpx.Headers, what: str) -> None:
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise ConnectStop(
                StopReason.NEEDS_CREDENTIALS,
                f"HTTP {status} on {what}: the MCP server needs valid credentials",
                status,
            )
        if status in (408, 429) or 500 <= status <= 599:
            raise ConnectRetry(
                f"HTTP {status} on {what}",
                http_status=status,
                retry_after=headers.get("retry-after"),
            )
        if 300 <= status < 400:
            raise ConnectStop(
                StopReason.REDIRECT,
                f"the MCP server redirected {what} (HTTP {status}); use the URL it points to",
                status,
            )
        raise ConnectStop(StopReason.HTTP_STATUS, f"HTTP {status} on {what}", status)

    async def _post(
        self,
        context: ConnectContext,
        url: httpx.URL,
        body: Mapping[str, Any],
        *,
        extra: Sequence[tuple[str, str]] = (),
        want_id: int | None = None,
        any_status: bool = False,
    ) -> tuple[int, httpx.Headers, dict[str, Any] | None]:
        """POST one JSON-RPC message; the answer to ``want_id`` from a JSON or SSE response.

        Only a 2xx answer is read unless ``any_status`` (a JSON-RPC error may come with a 4xx).
        """
        same_origin = _origin(url) == _origin(context.url)
        headers: list[tuple[str, str]] = [
            ("Accept", _ACCEPT_BOTH),
            ("Content-Type", _JSON),
            ("User-Agent", context.user_agent),
            *extra,
        ]
        if same_origin:
            headers.extend(context.headers)
        request = context.client.build_request(
            "POST", url, headers=headers, content=json.dumps(body).encode("utf-8")
        )
        auth = context.auth if same_origin and context.auth is not None else None
        response = await context.client.send(
            request, stream=True, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT
        )
        try:
            answer = None
            readable = any_status and response.status_code < 500
            if want_id is not None and (readable or 200 <= response.status_code < 300):
                answer = await _read_answer(response, want_id)
            return response.status_code, response.headers, answer
        finally:
            await response.aclose()

    # -- HTTP+SSE (2024-11-05) ------------------------------------------------

    def _sse_plan(self) -> StreamRequest:
        # Each GET is a new session there: a new endpoint, a new initialize.
        self._endpoint = None
        self._init_id = None
        return StreamRequest(send_last_event_id=False)

    def _on_endpoint(self, data: str) -> None:
        context = self._context
        if context is None:
            return
        try:
            endpoint = context.url.join(data.strip())
        except httpx.InvalidURL:
            raise ConnectStop(
                StopReason.FAILED, "the MCP server sent an endpoint that is not a URL"
            ) from None
        if _origin(endpoint) != _origin(context.url):
            raise ConnectStop(
                StopReason.FAILED,
                "the MCP server's endpoint event points to another origin "
                f"({endpoint.scheme}://{endpoint.host}); refusing to send messages there",
            )
        self._endpoint = endpoint
        self._init_id = next(self._ids)
        body = self._initialize_body(self._init_id)
        body["params"]["protocolVersion"] = "2024-11-05"
        self._spawn(self._send(body))

    def _on_message(self, message: Mapping[str, Any]) -> None:
        request_id = message.get("id")
        method = message.get("method")
        if isinstance(method, str) and request_id is not None:
            # A server-to-client request: answer, so the server never waits on us.
            if method == "ping":
                reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": {}}
            else:
                reply = {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": f"Tidings does not serve {method}"},
                }
            self._spawn(self._send(reply))
            return
        if self.mode == "sse" and request_id is not None and request_id == self._init_id:
            self._init_id = None
            result = message.get("result")
            if not isinstance(result, dict):
                logger.warning("the MCP server refused initialize: %s", message.get("error"))
                return
            self._adopt(result)
            self.initializations += 1
            self._spawn(self._after_sse_initialize())

    async def _after_sse_initialize(self) -> None:
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for uri in self._subscribe:
            await self._send(
                {
                    "jsonrpc": "2.0",
                    "id": next(self._ids),
                    "method": "resources/subscribe",
                    "params": {"uri": uri},
                }
            )

    async def _send(self, body: Mapping[str, Any]) -> None:
        """POST a message where this transport takes them (no answer awaited here)."""
        context = self._context
        if context is None:
            return
        extra: tuple[tuple[str, str], ...] = ()
        if self.mode == "sse":
            if self._endpoint is None:
                return
            url = self._endpoint
        else:
            url, extra = context.url, self._session_headers()
        try:
            status, _, _ = await self._post(context, url, body, extra=extra)
        except httpx.HTTPError as exc:
            logger.warning("MCP: sending %s failed: %s", body.get("method", "a reply"), exc)
            return
        if not 200 <= status < 300:
            logger.warning("MCP: %s answered HTTP %s", body.get("method", "a reply"), status)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


async def _read_answer(response: httpx.Response, want_id: int) -> dict[str, Any] | None:
    """The JSON-RPC message answering ``want_id`` in a JSON body or an event stream."""
    essence = content_type_essence(response.headers.get("content-type"))
    if essence == "text/event-stream":
        decoder = SSEDecoder()
        seen = 0
        async with contextlib.aclosing(body_chunks(response)) as chunks:
            async for chunk in chunks:  # inflated in bounded pieces: no gzip bomb
                seen += len(chunk)
                for event in decoder.feed(chunk):
                    found = _match(event.data, want_id)
                    if found is not None:
                        return found
                if seen > _MAX_HANDSHAKE_BYTES:
                    break
        return None
    body = b""
    async with contextlib.aclosing(body_chunks(response)) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > _MAX_HANDSHAKE_BYTES:
                return None  # a JSON answer this large is not a handshake
    return _match(body.decode("utf-8", "replace"), want_id)


def _match(text: str, want_id: int) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and item.get("id") == want_id and "method" not in item:
            return item
    return None


register(McpPreset())
