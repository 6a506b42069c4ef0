"""A typical Python SSE backend for end-to-end tests: Starlette + sse-starlette under uvicorn.

:class:`FeedApp` serves a fixed list of events at ``/events`` with
sse-starlette's ``EventSourceResponse``: ids, named events, multi-line data,
``retry:``, CRLF line ends and keep-alive comments between events (a short
ping interval). It honours ``Last-Event-ID`` to resume after the event with
that id, ends each response after ``per_connection`` events (a server
rotating its connections), and once every event has been sent it keeps the
response open with only keep-alives. It records what each request asked for.

:class:`UvicornThread` runs an ASGI app with uvicorn on 127.0.0.1, port 0, in
a background thread, so the test's own asyncio loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

__all__ = ["FeedApp", "SentEvent", "UvicornThread", "make_events"]

_KINDS = ("build", "deploy", "message")


@dataclass(frozen=True)
class SentEvent:
    """One event the app sends, as a client must see it."""

    id: str
    event: str
    data: str

    def as_json_line(self) -> dict[str, str]:
        """The object ``tidings listen --json`` prints for this event."""
        return {"event": self.event, "data": self.data, "id": self.id}


def make_events(count: int) -> list[SentEvent]:
    """``count`` events: ids 1..count, three event types, every third one multi-line."""
    events = []
    for n in range(1, count + 1):
        data = f"event {n}"
        if n % 3 == 0:
            data += f"\nsecond line of {n}\n  indented third line"
        events.append(SentEvent(id=str(n), event=_KINDS[n % len(_KINDS)], data=data))
    return events


class FeedApp:
    """A Starlette app that serves ``events`` as an event stream at ``/events``."""

    def __init__(
        self,
        events: list[SentEvent],
        *,
        per_connection: int = 5,
        interval: float = 0.06,
        ping: float = 0.015,
        retry_ms: int = 100,
    ) -> None:
        self.events = events
        self.per_connection = per_connection
        self.interval = interval
        self.ping = ping
        self.retry_ms = retry_ms
        self.last_event_ids: list[str | None] = []
        """The Last-Event-ID header of each request, in order (``None`` when absent)."""
        self.pings = 0
        """Keep-alive comments sent so far, over all connections."""
        self._pinged = threading.Condition()
        self.sent: list[str] = []
        """The id of every event sent, over all connections, in order."""
        self.log: list[str] = []
        """What was sent, in order: an event's id, or ``"ping"`` for a keep-alive."""
        self.app = Starlette(routes=[Route("/events", self._stream)])

    def wait_for_pings(self, count: int, timeout: float) -> bool:
        """Block until ``count`` keep-alives have been sent in all (False after ``timeout`` s)."""
        with self._pinged:
            return self._pinged.wait_for(lambda: self.pings >= count, timeout)

    def _ping(self) -> ServerSentEvent:
        # sse-starlette's own keep-alive form, counted.
        with self._pinged:
            self.pings += 1
            self.log.append("ping")
            self._pinged.notify_all()
        return ServerSentEvent(comment=f"ping - {datetime.now(UTC)}")

    def _start_index(self, last_event_id: str | None) -> int:
        if last_event_id is None:
            return 0
        for index, event in enumerate(self.events):
            if event.id == last_event_id:
                return index + 1
        return 0

    async def _stream(self, request: Request) -> EventSourceResponse:
        last_event_id = request.headers.get("last-event-id")
        self.last_event_ids.append(last_event_id)
        start = self._start_index(last_event_id)
        batch = self.events[start : start + self.per_connection]

        async def body() -> AsyncIterator[ServerSentEvent]:
            yield ServerSentEvent(retry=self.retry_ms, comment="tidings e2e feed")
            for event in batch:
                await asyncio.sleep(self.interval)
                self.sent.append(event.id)
                self.log.append(event.id)
                yield ServerSentEvent(event.data, event=event.event, id=event.id)
            if start + len(batch) >= len(self.events):
                # Nothing left to send: stay open with keep-alives only.
                await asyncio.Event().wait()

        return EventSourceResponse(body(), ping=self.ping, ping_message_factory=self._ping)


class UvicornThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a background thread."""

    def __init__(
        self,
        app: object,
        *,
        start_timeout: float = 10.0,
        lifespan: str = "off",
        shutdown_grace: int = 2,
        name: str = "uvicorn-e2e",
    ) -> None:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=0,
            lifespan=lifespan,  # type: ignore[arg-type]
            ws="none",
            http="h11",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=shutdown_grace,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self._start_timeout = start_timeout
        self.port = 0

    def url(self, path: str = "/events") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(self._start_timeout / 0.01)):
            if self.server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)
        if not self.server.started:
            self.stop()
            raise RuntimeError("uvicorn did not start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(timeout=5)

    def __enter__(self) -> UvicornThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
