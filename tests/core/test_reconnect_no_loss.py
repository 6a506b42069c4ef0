"""No event lost or repeated across many broken connections (R5, R12, R34, R35, R38).

A resuming server holds events 1..500 and answers each request from the
Last-Event-ID it receives. It ends every connection after 20-50 events, in
turn: cleanly between events, by cutting the chunked body in the middle of an
event, by closing cleanly in the middle of a block (R34: the partial block is
dropped and its id not committed), and once with CRLF line ends split between
the CR and the LF, ending on a lone CR (R15, R35). Whatever the client decoded
must match the id it sends back, so every event arrives exactly once, in order.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer
from tidings.core.decoder import DecodedEvent
from tidings.core.models import ConnectionPolicy, ConnectionState, FeedStatus, StopReason
from tidings.core.sse import EventSource

TOTAL = 500
MODES = ("clean", "cut-mid-event", "close-mid-block")
CONTENT_TYPE = (("Content-Type", "text/event-stream"),)


def event_bytes(i: int, eol: bytes = b"\n") -> bytes:
    lines = [b"id: %d" % i, b"event: tick", b"data: event %d" % i, b"data: second line", b""]
    return eol.join(lines) + eol


def expected_data(i: int) -> str:
    return f"event {i}\nsecond line"


def random_chunks(rnd: random.Random, blob: bytes) -> list[bytes | Pause]:
    """Split a body at a few random places, with the odd short pause between the pieces."""
    cuts = sorted(rnd.sample(range(1, len(blob)), k=min(len(blob) - 1, rnd.randint(0, 6))))
    pieces = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
    parts: list[bytes | Pause] = []
    for piece in pieces:
        parts.append(piece)
        if rnd.random() < 0.3:
            parts.append(Pause(0.002))
    return parts


@dataclass
class ResumingServer:
    """The script: resumes after Last-Event-ID, breaks each connection after 20-50 events."""

    seed: int
    rnd: random.Random = field(init=False)
    modes: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)

    def __call__(self, request: RecordedRequest) -> Reply:
        raw = request.header_bytes("Last-Event-ID")
        start = int(raw) + 1 if raw is not None else 1
        self.starts.append(start)
        if start > TOTAL:
            return Reply(status=204, headers=())
        n = len(self.modes)
        mode = "crlf-split" if n == 3 else MODES[n % len(MODES)]
        self.modes.append(mode)
        stop = min(start + self.rnd.randint(20, 50), TOTAL + 1)
        if mode == "crlf-split":
            return self._crlf_split(start, stop)
        body = b"".join(event_bytes(i) for i in range(start, stop))
        if mode == "clean":
            return Reply(headers=CONTENT_TYPE, body=random_chunks(self.rnd, body))
        if stop <= TOTAL:
            partial = event_bytes(stop)
            body += partial[: self.rnd.randint(1, len(partial) - 1)]
        if mode == "cut-mid-event":
            return Reply(
                headers=CONTENT_TYPE,
                body=random_chunks(self.rnd, body),
                end="cut",
                framing="chunked",
            )
        return Reply(headers=CONTENT_TYPE, body=random_chunks(self.rnd, body))

    def _crlf_split(self, start: int, stop: int) -> Reply:
        """CRLF line ends, each chunk ending right after a CR; the body ends on that lone CR."""
        blob = b"".join(event_bytes(i, b"\r\n") for i in range(start, stop))
        blob = blob.removesuffix(b"\n")  # the last block ends "\r\n\r": a lone CR at EOF (R35)
        parts: list[bytes | Pause] = []
        for piece in blob.split(b"\n"):
            parts += [b"\n" + piece if parts else piece, Pause(0.001)]
        return Reply(headers=CONTENT_TYPE, body=parts)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_event_arrives_exactly_once_in_order(seed: int) -> None:
    """500 events over ~15 broken connections: each delivered once, in order, none invented."""
    server = ResumingServer(seed)
    received: list[DecodedEvent] = []
    statuses: list[FeedStatus] = []

    async def on_events(events: Sequence[DecodedEvent]) -> None:
        received.extend(events)

    policy = ConnectionPolicy(reconnection_time=0.02, retry_floor=0.01, idle_timeout=5.0)
    async with asyncio.timeout(30), ScriptedServer(server) as srv:
        source = EventSource(
            srv.url(),
            on_events=on_events,
            on_status=statuses.append,
            policy=policy,
            random=lambda: 0.0,
        )
        final = await source.run()

    assert final.stop_reason is StopReason.NO_CONTENT
    assert [e.id for e in received] == [str(i) for i in range(1, TOTAL + 1)]
    assert [e.data for e in received] == [expected_data(i) for i in range(1, TOTAL + 1)]
    assert all(e.type == "tick" and e.has_own_id for e in received)
    assert set(server.modes) == {*MODES, "crlf-split"}
    assert server.modes.count("crlf-split") == 1
    assert len(server.modes) >= 10
    # Each request resumed right after the last event delivered before it.
    assert server.starts[0] == 1
    assert not srv.requests[0].has_header("Last-Event-ID")
    assert server.starts[-1] == TOTAL + 1
    assert len(statuses) > 0
    retrying = [s for s in statuses if s.state is ConnectionState.RETRYING]
    assert len(retrying) == len(server.modes)
    # Every connection delivered events, so the count never grows: each wait is T.
    assert all(s.delay == pytest.approx(0.02) for s in retrying)
