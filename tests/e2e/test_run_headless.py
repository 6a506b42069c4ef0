"""``tidings run --headless`` as a subprocess: the hub with every feed, no GUI."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply

from .conftest import WAIT, StartTidings, Tidings

POLL = "0.1"


def numbered_feed(total: int = 1000, per_connection: int = 3) -> Callable[[RecordedRequest], Reply]:
    """A server script holding events 1..total that resumes from Last-Event-ID."""

    def script(request: RecordedRequest) -> Reply:
        last = int(request.header("Last-Event-ID") or 0)
        chunks = [
            b"id: %d\ndata: event %d\n\n" % (i, i)
            for i in range(last + 1, min(last + per_connection, total) + 1)
        ]
        return sse_reply(*chunks, Pause(0.05))

    return script


def write_settings(profile: Path, *feeds: tuple[str, str, str], extra: str = "") -> None:
    """Write a settings file with (id, name, url) feeds."""
    config = profile / "config"
    config.mkdir(parents=True, exist_ok=True)
    text = "schema_version = 1\n"
    for feed_id, name, url in feeds:
        text += f'\n[[feeds]]\nid = "{feed_id}"\nname = "{name}"\nurl = "{url}"\n'
    (config / "settings.toml").write_text(text + extra, encoding="utf-8")


async def start_run(start: StartTidings, profile: Path, *more: str) -> Tidings:
    return await start(
        "--profile-dir", str(profile), "run", "--headless", "--json", "--settings-poll", POLL, *more
    )


async def read_events(child: Tidings, count: int) -> list[dict[str, object]]:
    return [await child.json_line() for _ in range(count)]


async def test_events_of_every_feed_reach_stdout_as_json(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """Two feeds run at once; each event line names its feed, and SIGTERM exits 143 cleanly."""
    async with ScriptedServer(numbered_feed()) as one, ScriptedServer(numbered_feed()) as two:
        write_settings(tmp_path, ("f-one", "One", one.url()), ("f-two", "Two", two.url()))
        child = await start_run(start_tidings, tmp_path)
        events = await read_events(child, 8)
        feeds = {e["feed"] for e in events}
        assert feeds == {"f-one", "f-two"}
        assert all({"feed_name", "event", "data", "id"} <= e.keys() for e in events)
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    assert finished.returncode == 143
    finished.assert_no_traceback()


async def test_ctrl_c_exits_130(start_tidings: StartTidings, tmp_path: Path) -> None:
    """SIGINT ends the run with 130 after a clean close."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path, ("f-1", "One", srv.url()))
        child = await start_run(start_tidings, tmp_path)
        await child.json_line()
        child.send_signal(signal.SIGINT)
        finished = await child.finish()
    assert finished.returncode == 130
    finished.assert_no_traceback()


async def test_restart_resumes_without_loss_or_duplicates(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """Stopping and starting again resumes from the stored cursor: ids are 1..N, each once."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path, ("f-1", "One", srv.url()))
        seen: list[int] = []
        for _round in range(3):
            child = await start_run(start_tidings, tmp_path)
            await read_events(child, 5)
            child.send_signal(signal.SIGTERM)
            finished = await child.finish()
            assert finished.returncode == 143
            # Everything this run printed, the 5 lines read above included.
            seen += [int(str(e["id"])) for e in finished.json_lines]
        first_requests = [r for r in srv.requests if r.header("Last-Event-ID") is not None]
    assert seen == list(range(1, len(seen) + 1))
    # Each restart's first request resumed (carried the stored cursor).
    assert len(first_requests) >= len(srv.requests) - 1


async def test_a_second_instance_of_a_profile_refuses_to_start(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """One instance per profile: the second exits 1 naming the first; another profile runs."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path / "a", ("f-1", "One", srv.url()))
        write_settings(tmp_path / "b", ("f-1", "One", srv.url()))
        first = await start_run(start_tidings, tmp_path / "a")
        await first.json_line()
        second = await start_run(start_tidings, tmp_path / "a")
        refused = await second.finish()
        other = await start_run(start_tidings, tmp_path / "b")
        await other.json_line()
        for child in (first, other):
            child.send_signal(signal.SIGTERM)
            assert (await child.finish()).returncode == 143
    assert refused.returncode == 1
    assert len(refused.error_lines) == 1
    assert "already running with this profile" in refused.error_lines[0]
    assert f"pid {first.proc.pid}" in refused.error_lines[0]


async def test_settings_edits_apply_while_running(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """A feed added to the settings file starts, and a removed one stops, without a restart."""
    async with ScriptedServer(numbered_feed()) as one, ScriptedServer(numbered_feed()) as two:
        write_settings(tmp_path, ("f-one", "One", one.url()))
        child = await start_run(start_tidings, tmp_path)
        await child.json_line()
        write_settings(tmp_path, ("f-one", "One", one.url()), ("f-two", "Two", two.url()))
        async with asyncio.timeout(WAIT):
            while True:
                if (await child.json_line())["feed"] == "f-two":
                    break
        write_settings(tmp_path, ("f-two", "Two", two.url()))
        async with asyncio.timeout(WAIT):
            while "[One] removed" not in child.stderr_so_far:
                await asyncio.sleep(0.05)
        requests_after_removal = len(one.requests)
        await asyncio.sleep(0.5)
        assert len(one.requests) == requests_after_removal
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    assert "[Two] added" in finished.stderr
    assert finished.returncode == 143


async def test_a_broken_feed_is_reported_and_the_others_run(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """A feed without a usable URL is named on stderr; the good feed still delivers events."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(
            tmp_path,
            ("f-1", "Good", srv.url()),
            extra='\n[[feeds]]\nid = "f-2"\nname = "Bad"\nurl = 5\n',
        )
        before = (tmp_path / "config" / "settings.toml").read_bytes()
        child = await start_run(start_tidings, tmp_path)
        event = await child.json_line()
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    assert event["feed"] == "f-1"
    assert "feeds[1].url" in finished.stderr
    assert "'Bad'" in finished.stderr
    assert (tmp_path / "config" / "settings.toml").read_bytes() == before


async def test_without_headless_it_points_to_the_desktop_app(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """`tidings run` without --headless exits 1 with a way forward."""
    child = await start_tidings("--profile-dir", str(tmp_path), "run")
    finished = await child.finish()
    assert finished.returncode == 1
    assert "--headless" in finished.error_lines[0]


async def test_run_headless_never_loads_qt(tmp_path: Path) -> None:
    """The headless hub runs without PySide6, qasync or desktop-notifier in the process."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path, ("f-1", "One", srv.url()))
        code = (
            "import os, signal, sys, threading, tidings.cli\n"
            "threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
            f"rc = tidings.cli.main(['--profile-dir', {str(tmp_path)!r}, 'run', '--headless'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'PySide6', 'shiboken6', 'qasync', 'desktop_notifier'})\n"
            "print('RC', rc, 'BAD', bad, file=sys.stderr)\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        async with asyncio.timeout(WAIT):
            out, err = await proc.communicate()
    text = err.decode()
    assert "RC 143 BAD []" in text, text
    assert b"event 1" in out


async def test_log_file_is_written_and_redacted(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """At debug level the run logs requests to a file in the state directory, tokens redacted."""
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path, ("f-1", "One", srv.url() + "?topic=x&token=tok-SECRET-123"))
        child = await start_tidings(
            "--profile-dir", str(tmp_path), "--log-level", "debug", "run", "--headless", "--json"
        )
        await child.json_line()
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    log = (tmp_path / "state" / "log" / "tidings.log").read_text(encoding="utf-8")
    assert "HTTP Request: GET" in log
    assert "token=***" in log
    assert "tok-SECRET-123" not in log
    assert "tok-SECRET-123" not in finished.stderr


async def test_old_history_is_pruned_when_the_hub_starts(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """Events older than the 30-day retention are removed at start; recent ones stay."""
    from tidings.core.decoder import DecodedEvent
    from tidings.core.history import HistoryStore

    now = time.time()
    db = tmp_path / "data" / "history.sqlite3"
    old = HistoryStore(db, clock=lambda: now - 40 * 86400)
    await old.open()
    await old.record("f-1", [DecodedEvent("message", "ancient", "", False)] * 3, cursor=None)
    await old.close()
    async with ScriptedServer(numbered_feed()) as srv:
        write_settings(tmp_path, ("f-1", "One", srv.url()))
        child = await start_run(start_tidings, tmp_path)
        await child.json_line()
        child.send_signal(signal.SIGTERM)
        assert (await child.finish()).returncode == 143
    store = HistoryStore(db)
    await store.open()
    try:
        kept = [e.data for e in await store.recent("f-1", limit=100)]
    finally:
        await store.close()
    assert "ancient" not in kept
    assert any(data.startswith("event ") for data in kept)
