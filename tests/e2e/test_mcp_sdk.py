"""``tidings listen --preset mcp`` against the official MCP Python SDK's server (a real peer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from e2e.conftest import WAIT, StartTidings
from support.mcp_server import SERVER_NAME, McpServerThread


@pytest.fixture
def streamable() -> Iterator[McpServerThread]:
    with McpServerThread(transport="streamable") as server:
        yield server


@pytest.fixture
def legacy() -> Iterator[McpServerThread]:
    with McpServerThread(transport="sse") as server:
        yield server


async def test_listen_prints_log_messages_as_notifications(
    streamable: McpServerThread, start_tidings: StartTidings
) -> None:
    """Streamable HTTP: three log messages become three notifications, then exit 0."""
    child = await start_tidings(
        "listen", streamable.url, "--preset", "mcp", "--json", "--max-events", "3"
    )
    assert await asyncio.to_thread(streamable.wait_for_stream), (
        child.stderr_so_far,
        [(r.method, r.status, r.headers) for r in streamable.requests],
    )
    await asyncio.to_thread(streamable.log, "debug", "cache warm", "cache")
    await asyncio.to_thread(streamable.log, "warning", {"disk": "91%"})
    await asyncio.to_thread(streamable.log, "emergency", "database down", "db")
    done = await child.finish(WAIT)
    done.assert_no_traceback()
    assert done.returncode == 0, done.stderr
    notes = [line["notification"] for line in done.json_lines]
    assert [(n["title"], n["body"], n["urgency"]) for n in notes] == [
        ("cache", "cache warm", "low"),
        (SERVER_NAME, '{"disk": "91%"}', "normal"),
        ("db", "database down", "critical"),
    ]
    get = next(r for r in streamable.requests if r.method == "GET")
    assert get.headers.get("mcp-session-id")
    assert get.headers.get("mcp-protocol-version") == "2025-11-25"


async def test_listen_survives_a_deleted_session(
    streamable: McpServerThread, start_tidings: StartTidings
) -> None:
    """After the session is deleted (404 on the next GET), listen initialises a new one."""
    child = await start_tidings(
        "listen", streamable.url, "--preset", "mcp", "--json", "--max-events", "2"
    )
    assert await asyncio.to_thread(streamable.wait_for_stream), (
        child.stderr_so_far,
        [(r.method, r.status, r.headers) for r in streamable.requests],
    )
    await asyncio.to_thread(streamable.log, "info", "first")
    first = await child.json_line()
    assert first["notification"]["body"] == "first"
    session = next(r for r in streamable.requests if r.method == "GET").headers["mcp-session-id"]
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.delete(streamable.url, headers={"mcp-session-id": session})
    assert await asyncio.to_thread(streamable.wait_for_stream, 2), child.stderr_so_far
    await asyncio.to_thread(streamable.log, "error", "second")
    done = await child.finish(WAIT)
    assert done.returncode == 0, done.stderr
    assert done.json_lines[-1]["notification"]["body"] == "second"
    assert "session expired" in done.stderr
    initializes = [r for r in streamable.requests if r.method == "POST" and r.status == 200]
    assert len(initializes) == 2


async def test_listen_speaks_2024_11_05_http_sse(
    legacy: McpServerThread, start_tidings: StartTidings
) -> None:
    """The SDK's SseServerTransport: the endpoint event, initialize there, then log messages."""
    child = await start_tidings(
        "listen", legacy.url, "--preset", "mcp", "--json", "--max-events", "3"
    )
    assert await asyncio.to_thread(legacy.wait_for_stream), child.stderr_so_far
    await asyncio.to_thread(legacy.log, "notice", "hello from 2024", "old")
    done = await child.finish(WAIT)
    done.assert_no_traceback()
    assert done.returncode == 0, done.stderr
    lines = done.json_lines
    assert lines[0]["event"] == "endpoint"
    assert lines[0]["notification"] is None
    assert lines[1]["notification"] is None  # the initialize response
    assert lines[2]["notification"]["title"] == "old"
    assert lines[2]["notification"]["urgency"] == "low"


@pytest.fixture
def modern() -> Iterator[McpServerThread]:
    with McpServerThread(transport="streamable", modern=True) as server:
        yield server


async def test_listen_2026_resource_update_becomes_a_notification(
    modern: McpServerThread, start_tidings: StartTidings
) -> None:
    """2026-07-28: discover, POST subscriptions/listen; a pushed resource update is printed."""
    uri = "file:///srv/reports/q3%20summary.md"
    child = await start_tidings(
        "listen",
        modern.url,
        "--preset",
        "mcp",
        "--preset-option",
        f"subscribe={uri}",
        "--json",
        "--max-events",
        "3",
    )
    assert await asyncio.to_thread(modern.wait_for_listen), (
        child.stderr_so_far,
        [(r.method, r.status, r.headers) for r in modern.requests],
    )
    ack = await child.json_line()
    assert ack["notification"] is None
    assert "acknowledged" in json.dumps(ack)
    await asyncio.to_thread(modern.resource_updated, "file:///not/subscribed.txt")
    await asyncio.to_thread(modern.resource_updated, uri)
    await asyncio.to_thread(modern.list_changed, "tools")
    done = await child.finish(WAIT)
    done.assert_no_traceback()
    assert done.returncode == 0, done.stderr
    lines = done.json_lines
    assert lines[0] == ack
    notes = [line["notification"] for line in lines[1:]]
    # The server never sends the URI the listen filter did not name.
    assert notes[0]["title"] == "q3 summary.md updated"
    assert notes[0]["body"] == uri
    assert notes[0]["urgency"] == "normal"
    assert (notes[1]["title"], notes[1]["urgency"]) == (f"{SERVER_NAME}: tools changed", "low")
    probe, listen = [r for r in modern.requests if r.method == "POST"]
    assert (probe.headers["mcp-method"], probe.status) == ("server/discover", 200)
    assert listen.headers["mcp-method"] == "subscriptions/listen"
    assert listen.headers["mcp-protocol-version"] == "2026-07-28"
    assert "mcp-session-id" not in listen.headers
    assert "last-event-id" not in listen.headers
    assert not [r for r in modern.requests if r.method == "GET"]


async def test_listen_2026_reconnects_with_a_new_post_after_a_drop(
    modern: McpServerThread, start_tidings: StartTidings
) -> None:
    """2026-07-28: a cut listen stream is listened to again (a new POST, no resume)."""
    child = await start_tidings(
        "listen",
        modern.url,
        "--preset",
        "mcp",
        "--preset-option",
        "subscribe=file:///a.txt",
        "--json",
        "--max-events",
        "3",
    )
    assert await asyncio.to_thread(modern.wait_for_listen), child.stderr_so_far
    assert (await child.json_line())["notification"] is None  # the acknowledgement
    await asyncio.to_thread(modern.drop_connections)
    assert await asyncio.to_thread(modern.wait_for_listen, 2), child.stderr_so_far
    await asyncio.to_thread(modern.resource_updated, "file:///a.txt")
    done = await child.finish(WAIT)
    done.assert_no_traceback()
    assert done.returncode == 0, done.stderr
    lines = done.json_lines
    assert lines[1]["notification"] is None  # the second stream's acknowledgement
    assert lines[2]["notification"]["body"] == "file:///a.txt"
    listens = modern.listens()
    assert len(listens) == 2
    assert all("last-event-id" not in r.headers for r in listens)
    probes = [r for r in modern.requests if r.headers.get("mcp-method") == "server/discover"]
    assert len(probes) == 1  # the era is known: no new probe per reconnect
