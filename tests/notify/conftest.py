"""Doubles at the notifier seams: an ActionHandler that records, a fallback that records,
and a loopback HTTP server that records what an ``http`` action sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from support.desktop import DesktopSession
from tidings.core.notification import Notification
from tidings.notify import NotifierState

WAIT = 10.0


class RecordingHandler:
    """The ActionHandler seam: records each call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self._changed = asyncio.Event()

    def _record(self, *call: object) -> None:
        self.calls.append(call)
        self._changed.set()

    def open_url(self, url: str) -> None:
        self._record("open_url", url)

    def open_event(self, feed_id: str, rowid: int | None) -> None:
        self._record("open_event", feed_id, rowid)

    async def mute_feed(self, feed_id: str, seconds: float) -> None:
        self._record("mute_feed", feed_id, seconds)

    async def mark_read(self, rowid: int) -> None:
        self._record("mark_read", rowid)

    async def wait_for(self, count: int, within: float = WAIT) -> list[tuple[object, ...]]:
        async with asyncio.timeout(within):
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.calls


class RecordingNotifier:
    """A fallback backend (what the GUI's tray balloon is in the chain) that records shows."""

    def __init__(self, name: str = "recording fallback") -> None:
        self.name = name
        self.state = NotifierState.FAILED
        self.detail = "not started"
        self.shown: list[tuple[Notification, int | None]] = []
        self.withdrawn: list[str] = []

    async def start(self) -> None:
        self.state, self.detail = NotifierState.OK, "ready"

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        self.shown.append((notification, rowid))

    async def withdraw(self, replace_key: str) -> None:
        self.withdrawn.append(replace_key)

    async def close(self) -> None:
        self.state, self.detail = NotifierState.OFF, "closed"


async def press(session: DesktopSession, platform_id: int, key: str) -> None:
    """Choose the action ``key`` of notification ``platform_id`` in dunst's context menu."""
    session.choose_in_context_menu(f"[{platform_id},{key}]")
    await asyncio.to_thread(session.dunstctl, "context")


@dataclass
class HttpHit:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpRecorder:
    """A loopback HTTP/1.1 server (port 0) that records requests and answers a fixed reply."""

    status: int = 200
    location: str = ""
    hits: list[HttpHit] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/action") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            async with asyncio.timeout(WAIT):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(WAIT):
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.hits.append(HttpHit(method, target, headers, body))
                self.arrived.set()
                extra = f"Location: {self.location}\r\n" if self.location else ""
                writer.write(
                    f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n{extra}"
                    "Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
        finally:
            writer.close()

    async def wait_for(self, count: int, within: float = WAIT) -> list[HttpHit]:
        async with asyncio.timeout(within):
            while len(self.hits) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.hits


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
async def http_recorder() -> AsyncIterator[HttpRecorder]:
    recorder = HttpRecorder()
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.close()
