"""The official MCP Python SDK's server, on loopback, for end-to-end tests of the MCP preset.

:class:`McpServerThread` serves an ``MCPServer`` (the SDK's FastMCP successor)
with either transport the SDK ships: Streamable HTTP at ``/mcp``
(``transport="streamable"``) or the 2024-11-05 HTTP+SSE transport at ``/sse``
(``transport="sse"``), under uvicorn on 127.0.0.1 (port 0) in a thread, with
the app's lifespan on (the session manager lives there).

A server middleware remembers each client session once it sent
``notifications/initialized``; :meth:`McpServerThread.log` then sends a
``notifications/message`` to every such connection on its standalone channel
(the GET stream, or the 2024-11-05 SSE stream), from the test's thread. An
ASGI wrapper records every HTTP request (method, path, headers, status).

Eras: the SDK's ``MCPServer`` speaks 2026-07-28 (``server/discover``,
``subscriptions/listen``) next to the handshake revisions. ``modern=False``
(the default) stands in for a Streamable HTTP server that predates 2026-07-28: a shim
answers any request naming a non-handshake ``MCP-Protocol-Version`` with 400
and a JSON-RPC error, as the SDK's 1.x servers do (the rest is the SDK's own
server untouched). ``modern=True`` serves the SDK as shipped; the tests then
publish change events on the server's own subscription bus
(:meth:`McpServerThread.publish`), which the SDK's ``ListenHandler`` fans
out to open listen streams, and can cut connections (:meth:`drop_connections`,
or ``cut_listens`` to cut every listen stream right after its first frame).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from mcp import types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS

from support.starlette_app import UvicornThread

__all__ = ["McpServerThread", "SeenRequest"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVER_NAME = "tidings-test-server"
LISTEN = "subscriptions/listen"


@dataclass
class SeenRequest:
    """One HTTP request the server received, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int | None = None
    done: bool = False


@dataclass
class _State:
    sessions: list[ServerSession] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    cut_listens: bool = False
    """Cut each listen stream's connection just after its first frame (the ack)."""
    on_cut: Callable[[], None] | None = None


class _Remember:
    """Server middleware: keep each connection that completed its handshake."""

    def __init__(self, state: _State) -> None:
        self._state = state

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method == "notifications/initialized":
            with self._state.changed:
                self._state.sessions.append(ctx.session)
                self._state.changed.notify_all()
        return result


def _is_listen(seen: SeenRequest) -> bool:
    return seen.method == "POST" and seen.headers.get("mcp-method") == LISTEN


class _Recorder:
    """ASGI wrapper recording each HTTP request and its status (and shimming the era)."""

    def __init__(self, app: ASGIApp, state: _State, *, shim: bool) -> None:
        self._app = app
        self._state = state
        self._shim = shim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        seen = SeenRequest(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        )
        with self._state.changed:
            self._state.requests.append(seen)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._state.changed:
                    seen.status = message["status"]
                    self._state.changed.notify_all()
            await send(message)
            cut = self._state.on_cut
            if (
                message["type"] == "http.response.body"
                and self._state.cut_listens
                and _is_listen(seen)
                and cut is not None
            ):
                asyncio.get_running_loop().call_later(0.05, cut)

        version = seen.headers.get("mcp-protocol-version")
        app = self._app
        if self._shim and version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            app = _pre_2026
        try:
            await app(scope, receive, recording_send)
        finally:
            with self._state.changed:
                seen.done = True
                self._state.changed.notify_all()


async def _pre_2026(scope: Scope, receive: Receive, send: Send) -> None:
    """What a server predating 2026-07-28 answers a request at a revision it does not know."""
    version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode("latin-1")
    supported = ", ".join(HANDSHAKE_PROTOCOL_VERSIONS)
    body = (
        '{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":'
        f'"Bad Request: Unsupported protocol version: {version}. Supported versions: '
        f'{supported}"}}}}'
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class McpServerThread:
    """The SDK's server under uvicorn on 127.0.0.1 in a background thread."""

    def __init__(
        self, *, transport: str = "streamable", modern: bool = False, start_timeout: float = 10.0
    ) -> None:
        self.state = _State()
        self.bus = InMemorySubscriptionBus()
        self.mcp = MCPServer(
            name=SERVER_NAME, middleware=[_Remember(self.state)], subscriptions=self.bus
        )
        if transport == "streamable":
            app: Any = self.mcp.streamable_http_app()
            self.path = "/mcp"
        else:
            app = self.mcp.sse_app()
            self.path = "/sse"
        self._uvicorn = UvicornThread(
            # The 2024-11-05 routes never see the era header (POST /sse is a 405 anyway).
            _Recorder(app, self.state, shim=transport == "streamable" and not modern),
            start_timeout=start_timeout,
            lifespan="on",
            shutdown_grace=1,
            name="uvicorn-mcp",
        )
        self.server = self._uvicorn.server
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def requests(self) -> list[SeenRequest]:
        with self.state.changed:
            return list(self.state.requests)

    def start(self) -> McpServerThread:
        self.port = self._uvicorn.start().port
        self.loop = self.server.servers[0].get_loop()
        self.state.on_cut = self._close_connections
        return self

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate()`` (checked on each request or handshake) or the timeout."""
        with self.state.changed:
            return self.state.changed.wait_for(predicate, timeout)

    def wait_for_stream(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``count`` stream GETs have been answered 200 and a handshake is done."""

        def ready() -> bool:
            opened = [
                r
                for r in self.state.requests
                if r.method == "GET" and r.status == 200 and not r.done
            ]
            seen_all = [r for r in self.state.requests if r.method == "GET" and r.status == 200]
            return bool(opened) and len(seen_all) >= count and bool(self.state.sessions)

        ok = self.wait_for(ready, timeout)
        if ok:
            # The SDK registers the stream's writer just after answering 200.
            threading.Event().wait(0.2)
        return ok

    def listens(self) -> list[SeenRequest]:
        """The ``subscriptions/listen`` POSTs so far."""
        return [r for r in self.requests if _is_listen(r)]

    def wait_for_listen(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``count`` listen POSTs were answered 200 and one of them is still open."""

        def ready() -> bool:
            answered = [r for r in self.state.requests if _is_listen(r) and r.status == 200]
            return len(answered) >= count and not answered[-1].done

        # The SDK subscribes a listen stream to the bus before its first frame (the 200).
        return self.wait_for(ready, timeout)

    def publish(self, event: ServerEvent, timeout: float = 5.0) -> None:
        """Publish a change event on the server's bus (2026-07-28 listen streams get it)."""
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.bus.publish(event), self.loop).result(timeout)

    def list_changed(self, kind: str, timeout: float = 5.0) -> None:
        """Publish ``notifications/<kind>/list_changed`` (tools, prompts, resources)."""
        events: dict[str, ServerEvent] = {
            "tools": ToolsListChanged(),
            "prompts": PromptsListChanged(),
            "resources": ResourcesListChanged(),
        }
        self.publish(events[kind], timeout)

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Cut every open HTTP connection (the listen stream among them), as a network drop."""
        assert self.loop is not None
        done = threading.Event()

        def cut() -> None:
            self._close_connections()
            done.set()

        self.loop.call_soon_threadsafe(cut)
        done.wait(timeout)

    def _close_connections(self) -> None:
        for connection in list(self.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()

    def log(self, level: str, data: Any, logger: str | None = None, timeout: float = 5.0) -> None:
        """Send ``notifications/message`` to every initialised connection (standalone channel)."""
        self._notify_all(
            types.LoggingMessageNotification(
                params=types.LoggingMessageNotificationParams(
                    level=level,  # type: ignore[arg-type]
                    data=data,
                    logger=logger,
                )
            ),
            timeout,
        )

    def resource_updated(self, uri: str, timeout: float = 5.0) -> None:
        """Announce a change of ``uri``: on listen streams (2026) and standalone channels."""
        self.publish(ResourceUpdated(uri=uri), timeout)
        self._notify_all(
            types.ResourceUpdatedNotification(
                params=types.ResourceUpdatedNotificationParams(uri=uri)
            ),
            timeout,
        )

    def _notify_all(self, notification: Any, timeout: float) -> None:
        assert self.loop is not None
        with self.state.changed:
            sessions = list(self.state.sessions)

        async def send() -> None:
            # No related request: the notification takes the standalone channel.
            for session in sessions:
                await session.send_notification(notification)

        asyncio.run_coroutine_threadsafe(send(), self.loop).result(timeout)

    def stop(self) -> None:
        self._uvicorn.stop()

    def __enter__(self) -> McpServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
