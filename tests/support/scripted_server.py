"""A scripted HTTP/1.1 server on 127.0.0.1 for byte-exact SSE tests.

Each incoming request is recorded (method, target, raw header bytes) and
answered by the next :class:`Reply` of the script (the last one repeats), or
by a callable that picks a reply from the request. A reply sends any status
and headers, then its body as chosen chunks with pauses between them, and
ends as told: a clean close, a hang (stall), an abrupt reset, or a cut
mid-body when the framing is chunked.

Two servers make two origins: one is reached as ``127.0.0.1`` and the other
as ``localhost`` (see :meth:`ScriptedServer.url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Pause", "RecordedRequest", "Reply", "ScriptedServer", "sse_reply"]


@dataclass(frozen=True)
class Pause:
    """Wait this many seconds before sending the next chunk."""

    seconds: float


BodyPart = bytes | Pause
BodyFactory = Callable[["RecordedRequest"], AsyncIterator[BodyPart]]


@dataclass
class Reply:
    """What the server sends for one request.

    ``body`` is a list of byte chunks (each written and drained on its own,
    with TCP_NODELAY, so it usually reaches the client as one read) and
    :class:`Pause` items, or an async generator factory for endless bodies.
    ``end``: ``close`` ends the body cleanly; ``hang`` keeps the connection
    open without sending anything more (until the test ends); ``reset``
    aborts with a TCP RST. ``framing``: ``close`` (body delimited by the
    connection close, like most SSE servers), ``chunked`` (then ``cut``
    ends without the final zero chunk: an incomplete body), or ``length``
    (a Content-Length of the static body).
    """

    status: int = 200
    reason: str = ""
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/event-stream"),)
    body: Sequence[BodyPart] | BodyFactory = ()
    end: Literal["close", "hang", "reset", "cut"] = "close"
    framing: Literal["close", "chunked", "length"] = "close"


def sse_reply(
    *chunks: BodyPart,
    end: Literal["close", "hang", "reset", "cut"] = "close",
    content_type: str = "text/event-stream",
    extra_headers: Sequence[tuple[str, str]] = (),
) -> Reply:
    """A 200 event-stream reply with the given body chunks."""
    return Reply(
        headers=(("Content-Type", content_type), *extra_headers),
        body=list(chunks),
        end=end,
        framing="chunked" if end == "cut" else "close",
    )


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    target: str
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive name), decoded as latin-1."""
        raw = self.header_bytes(name)
        return None if raw is None else raw.decode("latin-1")

    def header_bytes(self, name: str) -> bytes | None:
        """The first raw value of a header, exactly as it came on the wire (minus OWS)."""
        key = name.lower().encode("ascii")
        for n, v in self.raw_headers:
            if n.lower() == key:
                return v
        return None

    def has_header(self, name: str) -> bool:
        return self.header_bytes(name) is not None


_REASONS = {
    200: "OK",
    204: "No Content",
    205: "Reset Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ScriptedServer:
    """An asyncio server on 127.0.0.1 that answers with scripted replies."""

    def __init__(
        self,
        script: Sequence[Reply] | Callable[[RecordedRequest], Reply | Awaitable[Reply]] = (),
        *,
        host_name: str = "127.0.0.1",
    ) -> None:
        self._script = script
        self._index = 0
        self.host_name = host_name
        self.requests: list[RecordedRequest] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.request_arrived = asyncio.Event()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    def url(self, path: str = "/events") -> str:
        """The URL of ``path`` on this server, with this server's host name."""
        return f"http://{self.host_name}:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://{self.host_name}:{self.port}"

    def set_script(self, script: Sequence[Reply] | Callable[[RecordedRequest], Reply]) -> None:
        self._script = script
        self._index = 0

    async def wait_for_requests(self, count: int, within: float = 10.0) -> None:
        """Wait until at least ``count`` requests have arrived (at most ``within`` seconds)."""
        async with asyncio.timeout(within):
            while len(self.requests) < count:
                self.request_arrived.clear()
                await self.request_arrived.wait()

    async def _next_reply(self, request: RecordedRequest) -> Reply:
        script = self._script
        if callable(script):
            reply = script(request)
            if isinstance(reply, Reply):
                return reply
            return await reply
        if not script:
            return Reply(
                status=404,
                headers=(("Content-Type", "text/plain"),),
                body=[b"no script"],
                framing="length",
            )
        reply = script[min(self._index, len(script) - 1)]
        self._index += 1
        return reply

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            method, target, _ = lines[0].decode("latin-1").split(" ", 2)
            raw_headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                raw_headers.append((name.strip(), value.strip(b" \t")))
            request = RecordedRequest(method=method, target=target, raw_headers=raw_headers)
            self.requests.append(request)
            self.request_arrived.set()
            reply = await self._next_reply(request)
            await self._send(reply, request, writer, sock)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(
        self,
        reply: Reply,
        request: RecordedRequest,
        writer: asyncio.StreamWriter,
        sock: socket.socket | None,
    ) -> None:
        reason = reply.reason or _REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        head += [f"{n}: {v}" for n, v in reply.headers]
        static = reply.body if not callable(reply.body) else None
        if reply.framing == "length":
            size = sum(len(p) for p in (static or ()) if isinstance(p, bytes))
            head.append(f"Content-Length: {size}")
        elif reply.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        parts: AsyncIterator[BodyPart] = (
            reply.body(request) if callable(reply.body) else _iterate(static or ())
        )
        async for part in parts:
            if isinstance(part, Pause):
                await asyncio.sleep(part.seconds)
                continue
            if not part:
                continue
            if reply.framing == "chunked":
                writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            else:
                writer.write(part)
            await writer.drain()
        if reply.end == "hang":
            await asyncio.Event().wait()  # until cancelled by close()
        elif reply.end == "reset" and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif reply.end == "cut":
            # Chunked framing without the final zero-size chunk: the body is incomplete.
            writer.transport.abort()
        else:
            if reply.framing == "chunked":
                writer.write(b"0\r\n\r\n")
            await writer.drain()


async def _iterate(parts: Sequence[BodyPart]) -> AsyncIterator[BodyPart]:
    for part in parts:
        yield part
