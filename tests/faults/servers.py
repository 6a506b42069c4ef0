"""A hostile SSE server on 127.0.0.1 for the fault suite (tests/faults and fault_suite.py).

One asyncio server, stdlib only, so it runs in a test's loop or as its own
process (``python tests/faults/servers.py [--port N]`` prints ``port N`` and
serves until killed; the kill-and-restart cases SIGKILL it and start it
again on the same port).

``GET /replay`` is a stream that can always be resumed: events ``1..total``
(``id: i``, ``event: tick``, data from :func:`payload`, with multi-byte
UTF-8), starting after the ``Last-Event-ID`` it receives, then 204 No
Content (so the client ends on its own and duplicates show). Each body
starts with ``retry: <ms>``. Query parameters:

- ``total`` (default 1000), ``retry`` (ms, default 100), ``rate`` (events/s,
  0 = as fast as the socket takes them), ``seed``;
- ``cut=1``: every connection ends after 20-50 events at a random point,
  in turn between events, mid-line and mid-UTF-8 character, each time either
  with a clean FIN or a TCP reset;
- ``drip=MS``: every byte is written on its own, MS milliseconds apart;
- ``fault=KIND`` with ``at=N`` (default 5): on the first request with this
  exact query only, after N events, something hostile happens (see
  :data:`FAULTS`); later requests get the plain stream, resumed.

Other paths: ``/loop-a`` and ``/loop-b`` redirect to each other;
``/portal`` is a captive portal's HTML page; ``/accept-close`` reads the
request and closes without answering; ``/empty`` answers 200 event-stream and
ends at once. ``encoding=gzip|gzip-members|deflate|raw-deflate|br``
compresses the body (``gzip-members``: each write a gzip member of its own;
``br`` only names it: Tidings must refuse it). ``echo=1`` on ``/replay``
first sends an ``event: headers`` whose data is the JSON list of request
header names the server received.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import random
import socket
import ssl
import struct
import sys
import zlib
from collections import Counter
from urllib.parse import parse_qs, urlsplit

__all__ = ["FAULTS", "FaultServer", "event_bytes", "payload"]

FAULTS = (
    "stall",  # no byte any more (the client's idle timeout must fire)
    "huge-line",  # 200 MiB with no newline
    "endless-block",  # data lines forever, never a blank line
    "endless-short",  # the same with 3-character lines ("data:ab")
    "retry-digits",  # a 5,000-digit retry: field, then the stream goes on
    "invalid-utf8",  # an event (event: fault, no id) whose data is not UTF-8
    "nul",  # an event with NUL in its data and an id field holding NUL
    "huge-id",  # a 10 MB id
    "revoked",  # the stream closes; every later request gets 401 (token revoked)
    "429",  # the first request gets 429 with Retry-After: 2
    "503-burst",  # the first n requests (default 4) get 503
    "cross-origin",  # the first request is redirected to the other origin (localhost)
)

MIB = 1024 * 1024
_HEAD_LIMIT = 64 * 1024
_SSE = b"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"


def payload(i: int) -> str:
    """The data of event ``i``: ASCII, two- three- and four-byte characters."""
    return f"event {i} café €{'😀' * (1 + i % 3)} end"


def event_bytes(i: int) -> bytes:
    return f"id: {i}\nevent: tick\ndata: {payload(i)}\n\n".encode()


class _Request:
    def __init__(self, method: str, target: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        parts = urlsplit(target)
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}

    def int_param(self, name: str, default: int) -> int:
        value = self.query.get(name, "")
        return int(value) if value.isdigit() else default


class _Compressing:
    """A writer that compresses what is written (gzip, zlib deflate or raw deflate), flushed
    per write so each event reaches the client at once; ``br`` only names the coding."""

    def __init__(self, writer: asyncio.StreamWriter, coding: str) -> None:
        self._writer = writer
        self._coding = coding
        self.transport = writer.transport
        wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}.get(coding)
        self._compressor = None if wbits is None else zlib.compressobj(6, zlib.DEFLATED, wbits)

    def write(self, data: bytes) -> None:
        if self._coding == "gzip-members":
            data = gzip.compress(data, mtime=0)  # each write a gzip member of its own
        elif self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()


class FaultServer:
    """The hostile server; ``requests`` counts requests by target (path and query)."""

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self._ssl = ssl_context
        self.requests: Counter[str] = Counter()
        self.header_names: dict[str, list[list[str]]] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connection = 0

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True, ssl=self._ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> FaultServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    def url(self, target: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{target}"

    # -- plumbing -------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock: socket.socket | None = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                return
            lines = head[:-4].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip(" \t")
            request = _Request(method, target, headers)
            self.requests[target] += 1
            self.header_names.setdefault(target, []).append(sorted(headers))
            await self._route(request, writer, sock)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # ssl.SSLError is an OSError: a client that rejects our certificate
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter, status: str, headers: bytes = b"", body: bytes = b""
    ) -> None:
        writer.write(
            f"HTTP/1.1 {status}\r\n".encode()
            + headers
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter, sock: socket.socket | None) -> None:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    # -- routes -----------------------------------------------------------------

    async def _route(
        self, request: _Request, writer: asyncio.StreamWriter, sock: socket.socket | None
    ) -> None:
        path = request.path
        if path == "/accept-close":
            return
        if path == "/empty":
            writer.write(b"HTTP/1.1 200 OK\r\n" + _SSE + b"Connection: close\r\n\r\n")
            await writer.drain()
            return
        if path == "/portal":
            page = b"<!doctype html><title>Sign in to Hotel WiFi</title><form>...</form>"
            await self._answer(writer, "200 OK", b"Content-Type: text/html\r\n", page)
            return
        if path in ("/loop-a", "/loop-b"):
            other = "/loop-b" if path == "/loop-a" else "/loop-a"
            await self._answer(writer, "302 Found", f"Location: {other}\r\n".encode())
            return
        if path == "/replay":
            await self._replay(request, writer, sock)
            return
        await self._answer(writer, "404 Not Found")

    async def _replay(
        self, request: _Request, writer: asyncio.StreamWriter, sock: socket.socket | None
    ) -> None:
        total = request.int_param("total", 1000)
        fault = request.query.get("fault", "")
        first = self.requests[request.target] == 1
        count = self.requests[request.target]
        if fault == "revoked" and not first:
            await self._answer(writer, "401 Unauthorized", b"Content-Type: text/plain\r\n", b"no")
            return
        if fault == "429" and first:
            await self._answer(writer, "429 Too Many Requests", b"Retry-After: 2\r\n")
            return
        if fault == "503-burst" and count <= request.int_param("n", 4):
            await self._answer(writer, "503 Service Unavailable", b"Content-Type: text/plain\r\n")
            return
        if fault == "cross-origin" and "echo" not in request.query:
            target = request.target + "&echo=1"
            location = f"http://localhost:{self.port}{target}"
            await self._answer(
                writer, "307 Temporary Redirect", f"Location: {location}\r\n".encode()
            )
            return
        raw_id = request.headers.get("last-event-id", "")
        start = int(raw_id) + 1 if raw_id.isdigit() else 1
        if start > total:
            await self._answer(writer, "204 No Content")
            return
        self._connection += 1
        rnd = random.Random(request.int_param("seed", 0) * 100_003 + self._connection)
        coding = request.query.get("encoding", "")
        wire = b"HTTP/1.1 200 OK\r\n" + _SSE + b"Connection: close\r\n"
        if coding:
            name = {"raw-deflate": "deflate", "gzip-members": "gzip"}.get(coding, coding)
            wire += f"Content-Encoding: {name}\r\n".encode()
        writer.write(wire + b"\r\n")
        if coding:
            writer = _Compressing(writer, coding)  # type: ignore[assignment]
        retry = request.int_param("retry", 100)
        await self._write(writer, f"retry: {retry}\n\n".encode(), request)
        if "echo" in request.query:
            names = json.dumps(sorted(request.headers))
            await self._write(writer, f"event: headers\ndata: {names}\n\n".encode(), request)
        rate = request.int_param("rate", 0)
        cut = request.query.get("cut") == "1"
        at = request.int_param("at", 5)
        stop = total + 1
        if cut:
            stop = min(start + rnd.randint(20, 50), total + 1)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for i in range(start, stop):
            over = fault and first and i == start + at
            if over and await self._fault(fault, i - 1, writer, sock):
                return
            blob = event_bytes(i)
            if rnd.random() < 0.5:  # two writes: the split often falls inside a character
                split = rnd.randint(1, len(blob) - 1)
                await self._write(writer, blob[:split], request)
                await self._write(writer, blob[split:], request)
            else:
                await self._write(writer, blob, request)
            if rate:
                ahead = began + (i - start + 1) / rate - loop.time()
                if ahead > 0.005:
                    await asyncio.sleep(ahead)
        if cut and stop <= total:
            await self._cut(stop, writer, sock)

    async def _write(self, writer: asyncio.StreamWriter, blob: bytes, request: _Request) -> None:
        drip = request.int_param("drip", 0)
        if not drip:
            writer.write(blob)
            await writer.drain()
            return
        for k in range(len(blob)):
            writer.write(blob[k : k + 1])
            await writer.drain()
            await asyncio.sleep(drip / 1000)

    async def _cut(self, i: int, writer: asyncio.StreamWriter, sock: socket.socket | None) -> None:
        """End the connection at a point of event ``i``: between, mid-line or mid-character."""
        blob = event_bytes(i)
        kind = self._connection % 3
        if kind == 0:
            partial = b""
        elif kind == 1:
            partial = blob[: blob.index(b"data: ") + 8]  # "data: ev" (mid-line)
        else:
            emoji = blob.index("😀".encode())
            partial = blob[: emoji + 1 + self._connection % 3]  # inside the four bytes
        writer.write(partial)
        await writer.drain()
        if (self._connection // 3) % 2:
            self._reset(writer, sock)

    async def _fault(
        self, fault: str, last: int, writer: asyncio.StreamWriter, sock: socket.socket | None
    ) -> bool:
        """Do the hostile thing after event ``last``; True when the connection is over."""
        if fault == "stall":
            await asyncio.Event().wait()
        if fault in ("huge-line", "endless-block", "endless-short"):
            piece = {
                "huge-line": b"x" * MIB,
                "endless-block": (b"data: " + b"y" * 1018 + b"\n") * 1024,
                "endless-short": b"data:ab\n" * (MIB // 8),
            }[fault]
            writer.write(b"data: " if fault == "huge-line" else b"")
            for _ in range(200):  # 200 MiB, unless the client hangs up first
                writer.write(piece)
                await writer.drain()
            return True
        if fault == "retry-digits":
            writer.write(b"retry: " + b"7" * 5000 + b"\n\n")
        elif fault == "invalid-utf8":
            writer.write(b"event: fault\ndata: bad \xff\xfe\xc3( bytes \xed\xa0\x80 end\n\n")
        elif fault == "nul":
            writer.write(b"event: fault\nid: bad\x00id\ndata: a\x00b\n\n")
        elif fault == "huge-id":
            writer.write(b"id: " + b"9" * (10 * 1000 * 1000) + b"\ndata: never\n\n")
            await writer.drain()
            return True
        elif fault == "revoked":
            return True
        await writer.drain()
        return False


async def _serve(port: int) -> None:
    server = await FaultServer(port=port).start()
    print(f"port {server.port}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
