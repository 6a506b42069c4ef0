"""``tidings listen`` against a real third-party stack: uvicorn + Starlette + sse-starlette.

sse-starlette is the typical Python SSE backend (SSE.md section 4): CRLF line
ends, keep-alive comment blocks (``: ping - <time>``) between events, and
multi-line data split over several ``data:`` lines. The keep-alives are the
construct that makes httpx-sse report phantom events; Tidings must not.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from support.starlette_app import FeedApp, UvicornThread, make_events

if TYPE_CHECKING:
    from conftest import RunTidings, StartTidings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def feed() -> FeedApp:
    """Twelve events; each response ends after five of them."""
    return FeedApp(make_events(12), per_connection=5)


@pytest.fixture
def uvicorn_server(feed: FeedApp) -> Iterator[UvicornThread]:
    """The feed app served by uvicorn on 127.0.0.1 (port 0) in a background thread."""
    with UvicornThread(feed.app) as served:
        yield served


async def test_events_arrive_exactly_without_phantoms_from_keep_alives(
    start_tidings: StartTidings,
) -> None:
    """Every event sse-starlette sends is printed once, with its id and type; pings add nothing."""
    feed = FeedApp(make_events(4), per_connection=10)
    with UvicornThread(feed.app) as served:
        child = await start_tidings("listen", served.url(), "--json")
        lines = [await child.json_line() for _ in range(4)]
        assert lines == [e.as_json_line() for e in feed.events]
        # The stream stays open with keep-alives only: let several go by after the last id.
        assert await asyncio.to_thread(feed.wait_for_pings, feed.pings + 5, 5.0)
        await asyncio.sleep(0.05)
        assert child.running
        child.send_signal(signal.SIGTERM)
        result = await child.finish()
    assert result.returncode == 143, result.stderr
    assert result.json_lines == lines  # nothing after the four events
    # Keep-alive comments really came between events, not only after the last one.
    between = feed.log[feed.log.index("1") : feed.log.index("4")]
    assert "ping" in between, feed.log
    assert feed.last_event_ids == [None]
    result.assert_no_traceback()


async def test_reconnects_after_the_app_ends_the_stream_without_loss_or_duplicates(
    feed: FeedApp, uvicorn_server: UvicornThread, run_tidings: RunTidings
) -> None:
    """When the app ends its response after 5 events, tidings resumes with Last-Event-ID."""
    result = await run_tidings("listen", uvicorn_server.url(), "--json", "--max-events", "12")
    assert result.returncode == 0, result.stderr
    assert result.json_lines == [e.as_json_line() for e in feed.events]
    assert feed.last_event_ids == [None, "5", "10"]
    assert feed.sent == [str(n) for n in range(1, 13)]  # the server resent nothing
    assert result.stderr.count("reconnecting to") == 2
    assert result.error_lines == []
    result.assert_no_traceback()


async def test_last_event_id_resumes_mid_feed(
    feed: FeedApp, uvicorn_server: UvicornThread, run_tidings: RunTidings
) -> None:
    """--last-event-id 3 makes the app resume at event 4 on the first request."""
    result = await run_tidings(
        "listen", uvicorn_server.url(), "--json", "--last-event-id", "3", "--max-events", "6"
    )
    assert result.returncode == 0, result.stderr
    assert result.json_lines == [e.as_json_line() for e in feed.events[3:9]]
    assert feed.last_event_ids == ["3", "8"]
