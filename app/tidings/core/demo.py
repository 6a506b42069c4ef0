"""The built-in demo SSE source: a small loopback server with realistic events at a human pace.

``tidings listen --demo`` (and later ``tidings --demo``) start it in-process on
127.0.0.1 and subscribe to it, so a newcomer sees Tidings work with no server
of their own. It behaves like a well-kept real server: ``retry:`` first, ids
on every event, a keep-alive comment when quiet, a rotated connection now and
then (as Mercure hubs do), and a replay of what was missed from
``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DemoServer", "demo_event"]

_FEED_PATH = "/events"

_SERVICES = ("api", "web", "worker", "billing", "search")
_PEOPLE = ("alice", "bob", "chen", "dana", "emeka", "farah")
_REPOS = ("acme/api", "acme/web", "acme/infra")


def demo_event(seq: int, rng: random.Random, now: float) -> tuple[str, dict[str, object]]:
    """The event type and JSON payload of demo event number ``seq``."""
    kind = ("build", "deploy", "message", "alert", "build", "message", "metric")[seq % 7]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    if kind == "build":
        ok = rng.random() > 0.25
        return kind, {
            "repo": rng.choice(_REPOS),
            "branch": rng.choice(("main", "release/1.4", "fix/login")),
            "status": "passed" if ok else "failed",
            "duration_s": rng.randint(40, 600),
            "by": rng.choice(_PEOPLE),
            "time": stamp,
        }
    if kind == "deploy":
        return kind, {
            "service": rng.choice(_SERVICES),
            "version": f"1.{rng.randint(0, 9)}.{rng.randint(0, 30)}",
            "environment": rng.choice(("staging", "production")),
            "by": rng.choice(_PEOPLE),
            "time": stamp,
        }
    if kind == "alert":
        return kind, {
            "severity": rng.choice(("warning", "critical")),
            "service": rng.choice(_SERVICES),
            "summary": rng.choice(
                ("p99 latency above 800 ms", "error rate 4.2%", "disk 91% full on db-2")
            ),
            "time": stamp,
        }
    if kind == "metric":
        return kind, {
            "service": rng.choice(_SERVICES),
            "requests_per_s": rng.randint(80, 4000),
            "time": stamp,
        }
    return kind, {
        "from": rng.choice(_PEOPLE),
        "text": rng.choice(
            (
                "Standup moved to 10:30",
                "Can someone review #482?",
                "Lunch order closes in 15 minutes\nReply here with your choice",
                "The staging database is back",
            )
        ),
        "time": stamp,
    }


@dataclass
class _Replay:
    """The last events sent, so a reconnect with Last-Event-ID misses nothing."""

    events: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=500))

    def after(self, last_id: int) -> list[bytes]:
        return [frame for seq, frame in self.events if seq > last_id]


class DemoServer:
    """A loopback SSE server that makes up events at a human pace.

    ``interval`` is the mean time between events in seconds; every
    ``rotate_every`` events it ends the response, as real servers do, and the
    client reconnects with ``Last-Event-ID``.
    """

    def __init__(
        self,
        *,
        interval: float = 1.5,
        rotate_every: int = 12,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = interval
        self._rotate_every = rotate_every
        self._rng = random.Random(seed)  # noqa: S311 - demo data, not security
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._replay = _Replay()
        self._seq = 0
        self._new_event = asyncio.Condition()
        self._producer: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port) and start making events; return the feed URL."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{_FEED_PATH}"
        self._producer = asyncio.create_task(self._produce(), name="tidings-demo-producer")
        return self.url

    async def close(self) -> None:
        """Stop making events and close every connection."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        if self._server is not None:
            self._server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _produce(self) -> None:
        while True:
            await asyncio.sleep(self._interval * self._rng.uniform(0.5, 1.5))
            self._seq += 1
            kind, payload = demo_event(self._seq, self._rng, self._clock())
            text = json.dumps(payload, ensure_ascii=False)
            data = "".join(f"data: {line}\n" for line in text.split("\n"))
            frame = f"event: {kind}\nid: {self._seq}\n{data}\n".encode()
            self._replay.events.append((self._seq, frame))
            async with self._new_event:
                self._new_event.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            await self._respond(head, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # the demo is closing: end this connection quietly
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _respond(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        path = parts[1] if len(parts) > 1 else ""
        if path.split("?", 1)[0] != _FEED_PATH:
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 10\r\nConnection: close\r\n\r\nnot found\n"
            )
            await writer.drain()
            return
        last_id = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "last-event-id" and value.strip().isdigit():
                last_id = int(value.strip())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            b": Tidings demo feed\nretry: 1000\n\n"
        )
        await writer.drain()
        # Replay what a reconnecting client missed; a new client starts from now.
        last_sent = last_id or self._seq
        sent = 0
        while sent < self._rotate_every:
            for frame in self._replay.after(last_sent):
                writer.write(frame)
                sent += 1
            last_sent = self._seq
            await writer.drain()
            async with self._new_event:
                if self._seq != last_sent:
                    continue  # made while drain() waited on a slow client: send it now
                try:
                    await asyncio.wait_for(self._new_event.wait(), timeout=15)
                except TimeoutError:
                    writer.write(b": keep-alive\n\n")
