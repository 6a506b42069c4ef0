"""An SSE server for the GUI benchmark: a paced flood on many feeds, or idle feeds with heartbeats.

Run it as a process; it binds 127.0.0.1 on port 0 and prints the port on its
first stdout line. It stops when its stdin closes (or its parent dies), and
after ``--lifetime`` seconds in any case. Routes:

``GET /flood/<name>``
    An event stream that stays quiet (a heartbeat comment every
    ``--heartbeat`` s) until the flood starts, then writes events with ids
    ``1, 2, ... N`` at the flood's per-feed rate, a small batch every
    ``tick`` (10 ms: 5 events at 500/s), catching up by the clock if it falls
    behind; then quiet again. A reconnect carrying ``Last-Event-ID: k``
    resumes at ``k + 1`` (a replay counts as written, not as sent).
``GET /idle/<name>``
    An event stream with no events: only a heartbeat comment every
    ``--heartbeat`` s.
``POST /start?rate=R&duration=D&tick=T``
    Start the flood on every ``/flood/`` feed (connected or not): ``R``
    events per second per feed for ``D`` seconds; answers JSON with the
    per-feed count ``N = round(R * D)``.
``GET /stats``
    JSON: per feed, the highest id written, events written (with replays),
    connections, and whether its flood is finished; the flood's start and
    end on this server's ``time.time()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
)
MAX_BODY = 1 << 16


@dataclass
class FeedState:
    """What the server knows of one ``/flood/`` feed."""

    highest: int = 0
    written: int = 0
    connections: int = 0
    finished: bool = False


@dataclass
class Flood:
    rate: float = 0.0
    total: int = 0
    started: float = 0.0  # time.monotonic()
    started_wall: float = 0.0
    duration: float = 0.0

    def due(self, now: float) -> int:
        """How many events each feed should have been sent by ``now`` (monotonic)."""
        if not self.total:
            return 0
        return min(self.total, math.floor((now - self.started) * self.rate))


class FloodServer:
    def __init__(self, heartbeat: float, lifetime: float) -> None:
        self.heartbeat = heartbeat
        self.lifetime = lifetime
        self.feeds: dict[str, FeedState] = {}
        self.flood = Flood()
        self.flood_started = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
            if length:
                await reader.readexactly(length)
            if method == "POST" and url.path == "/start":
                await self._answer(writer, self.start(query))
            elif method == "GET" and url.path == "/stats":
                await self._answer(writer, self.stats())
            elif method == "GET" and url.path.startswith("/flood/"):
                await self.flood_stream(writer, url.path[7:], headers.get("last-event-id", ""))
            elif method == "GET" and url.path.startswith("/idle/"):
                await self.idle_stream(writer)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (Exception, asyncio.CancelledError):
            pass  # the client went away, or the server is shutting down
        finally:
            self.handlers.discard(task)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, body: object) -> None:
        data = json.dumps(body).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    def start(self, query: dict[str, str]) -> dict[str, object]:
        rate = float(query.get("rate", "500"))
        duration = float(query.get("duration", "20"))
        self.tick = float(query.get("tick", "0.01"))
        self.flood = Flood(
            rate=rate,
            total=round(rate * duration),
            started=time.monotonic(),
            started_wall=time.time(),
            duration=duration,
        )
        self.flood_started.set()
        return {"per_feed": self.flood.total, "started": self.flood.started_wall}

    tick = 0.01

    def stats(self) -> dict[str, object]:
        return {
            "flood": {
                "per_feed": self.flood.total,
                "started": self.flood.started_wall,
                "duration": self.flood.duration,
            },
            "feeds": {
                name: {
                    "highest": s.highest,
                    "written": s.written,
                    "connections": s.connections,
                    "finished": s.finished,
                }
                for name, s in self.feeds.items()
            },
        }

    async def flood_stream(self, writer: asyncio.StreamWriter, name: str, last_id: str) -> None:
        state = self.feeds.setdefault(name, FeedState())
        state.connections += 1
        next_id = int(last_id) + 1 if last_id.isdigit() else 1
        writer.write(_HEAD + b": connected\n\n")
        await writer.drain()
        # Quiet (heartbeats only) until the flood starts.
        while not self.flood_started.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flood_started.wait(), timeout=self.heartbeat)
            if not self.flood_started.is_set():
                writer.write(b": heartbeat\n\n")
                await writer.drain()
        flood = self.flood
        deadline = flood.started + flood.duration + self.lifetime
        while next_id <= flood.total and time.monotonic() < deadline:
            due = flood.due(time.monotonic())
            if next_id <= due:
                chunk = b"".join(
                    b"id: %d\ndata: flood %s event %d\n\n" % (i, name.encode(), i)
                    for i in range(next_id, due + 1)
                )
                writer.write(chunk)
                await writer.drain()
                state.written += due + 1 - next_id
                state.highest = max(state.highest, due)
                next_id = due + 1
            await asyncio.sleep(self.tick)
        state.finished = True
        await self.idle_stream(writer, head=False)

    async def idle_stream(self, writer: asyncio.StreamWriter, *, head: bool = True) -> None:
        if head:
            writer.write(_HEAD + b": connected\n\n")
            await writer.drain()
        for _ in range(int(self.lifetime / self.heartbeat) + 1):
            await asyncio.sleep(self.heartbeat)
            writer.write(b": heartbeat\n\n")
            await writer.drain()


async def serve(heartbeat: float, lifetime: float) -> None:
    server_state = FloodServer(heartbeat, lifetime)
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def watch_stdin() -> None:  # the parent closes our stdin (or dies): stop
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=lifetime)
    server.close()
    for task in list(server_state.handlers):
        task.cancel()
    if server_state.handlers:
        await asyncio.wait(server_state.handlers, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--heartbeat", type=float, default=15.0, help="seconds between comments")
    parser.add_argument("--lifetime", type=float, default=1200.0, help="stop after this long")
    args = parser.parse_args()
    asyncio.run(serve(args.heartbeat, args.lifetime))


if __name__ == "__main__":
    main()
