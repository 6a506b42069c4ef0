"""``tidings listen`` end to end: a real child process against a scripted loopback server.

Each test checks one clause of DESIGN.md's "headless command contract":
output shape, exit codes, headers, secrets, reconnection, signals and pipes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import tidings
from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply

if TYPE_CHECKING:
    from conftest import RunTidings, StartTidings

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cret"


def _everything_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, text


# -- --json output ----------------------------------------------------------------


async def test_json_lines_carry_event_data_and_id(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """--json prints one object per event with event, data and id ("" when none), nothing else."""
    server.set_script(
        [
            sse_reply(
                b"retry: 100\n\n"
                b"data: first\n\n"
                b"event: update\nid: 7\ndata: line one\ndata: line two\n\n"
                b"data: sticky \xe2\x9c\x93\n\n"
                b'id\nevent: \ndata: {"k": 1}\n\n'
                b"data: a\xe2\x80\xa8b\xc2\x85c\x0bd\n\n",
                end="hang",
            )
        ]
    )
    result = await run_tidings("listen", server.url(), "--json", "--max-events", "5")
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 5
    assert result.returncode == 0, result.stderr
    assert result.json_lines == [
        {"event": "message", "data": "first", "id": ""},
        {"event": "update", "data": "line one\nline two", "id": "7"},
        {"event": "message", "data": "sticky \u2713", "id": "7"},
        {"event": "message", "data": '{"k": 1}', "id": ""},
        {"event": "message", "data": "a\u2028b\x85c\x0bd", "id": ""},
    ]
    # Status went to stderr, and only there.
    assert "connected" in result.stderr
    assert "connect" not in result.stdout
    result.assert_no_traceback()


async def test_event_reaches_a_pipe_promptly(
    server: ScriptedServer, start_tidings: StartTidings
) -> None:
    """With stdout a pipe, an event is readable at once while the stream stays open."""
    server.set_script([sse_reply(b"id: 1\ndata: hello\n\n", end="hang")])
    child = await start_tidings("listen", server.url(), "--json")
    await server.wait_for_requests(1)
    started = time.monotonic()
    line = await child.json_line(within=2.0)
    assert time.monotonic() - started < 2.0
    assert line == {"event": "message", "data": "hello", "id": "1"}
    assert child.running


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
async def test_event_reaches_a_terminal_promptly(
    server: ScriptedServer, start_tidings: StartTidings
) -> None:
    """With stdout a terminal, human output shows an event at once while the stream stays open."""
    server.set_script([sse_reply(b"event: deploy\nid: 1\ndata: hello\n\n", end="hang")])
    child = await start_tidings("listen", server.url(), tty=True)
    await server.wait_for_requests(1)
    lines: list[str] = []
    try:
        async with asyncio.timeout(2.0):
            while not lines or "hello" not in lines[-1]:
                lines.append(await child.readline())
    except TimeoutError:
        pytest.fail(f"no event on the terminal within 2 s: {lines}; stderr:\n{child.stderr_so_far}")
    assert "deploy" in lines[0]
    assert "#1" in lines[0]
    assert child.running


async def test_max_events_stops_inside_one_chunk(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """--max-events N exits 0 after exactly N events even when one read carries more."""
    chunk = b"".join(b"id: %d\ndata: event %d\n\n" % (n, n) for n in range(1, 6))
    server.set_script([sse_reply(chunk, end="hang")])
    result = await run_tidings("listen", server.url(), "--json", "--max-events", "3")
    assert result.returncode == 0, result.stderr
    assert [e["id"] for e in result.json_lines] == ["1", "2", "3"]
    assert result.error_lines == []


# -- exit codes of the status classes ------------------------------------------------


async def test_no_content_exits_zero(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """A 204 answer stops the command with exit 0 and no error line."""
    server.set_script([Reply(status=204, headers=(), framing="length")])
    result = await run_tidings("listen", server.url(), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.error_lines == []
    assert len(server.requests) == 1
    result.assert_no_traceback()


def _redirect_loop(request: RecordedRequest) -> Reply:
    target = "/b" if request.target.startswith("/a") else "/a"
    return Reply(status=302, headers=(("Location", f"{target}?token={SECRET}"),), framing="length")


@pytest.mark.parametrize(
    ("script", "path", "named", "requests"),
    [
        pytest.param(
            [Reply(status=404, headers=(("Content-Type", "text/plain"),), body=[b"nope"])],
            "/events",
            "404",
            1,
            id="404",
        ),
        pytest.param(
            [Reply(status=401, headers=(("Content-Type", "text/plain"),), body=[b"who?"])],
            "/events",
            "401",
            1,
            id="401",
        ),
        pytest.param(
            [sse_reply(b"<html>data: no</html>\n\n", content_type="text/html; charset=utf-8")],
            "/events",
            "text/html",
            1,
            id="text-html",
        ),
        pytest.param(_redirect_loop, f"/a?token={SECRET}", "redirect loop", 2, id="redirect-loop"),
    ],
)
async def test_fatal_answers_exit_one_with_one_error_line(
    server: ScriptedServer,
    run_tidings: RunTidings,
    *,
    script: object,
    path: str,
    named: str,
    requests: int,
) -> None:
    """A fatal answer exits 1 at once with exactly one 'error: ' line naming the problem."""
    server.set_script(script)  # type: ignore[arg-type]
    result = await run_tidings("listen", server.url(path), "--json")
    assert result.returncode == 1, result.stderr
    assert len(result.error_lines) == 1, result.stderr
    assert named in result.error_lines[0]
    assert result.stdout == ""
    assert len(server.requests) == requests  # never retried
    _no_secret(result.stdout, result.stderr)
    result.assert_no_traceback()


async def test_once_with_a_transient_failure_exits_one(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """With --once a 503 is not retried: exit 1 with one error line."""
    server.set_script(
        [Reply(status=503, headers=(("Content-Type", "text/plain"),), body=[b"busy"])]
    )
    result = await run_tidings("listen", server.url(), "--once")
    assert result.returncode == 1, result.stderr
    assert len(result.error_lines) == 1, result.stderr
    assert "503" in result.error_lines[0]
    assert len(server.requests) == 1
    result.assert_no_traceback()


async def test_once_with_a_clean_end_exits_zero(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """With --once a stream that ends cleanly exits 0 after printing its events."""
    server.set_script([sse_reply(b"id: 1\ndata: only\n\n")])
    result = await run_tidings("listen", server.url(), "--once", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json_lines == [{"event": "message", "data": "only", "id": "1"}]
    assert result.error_lines == []
    assert len(server.requests) == 1


async def test_clean_end_reconnects_with_last_event_id(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """Without --once a clean end reconnects, and the second request carries Last-Event-ID."""
    server.set_script(
        [
            sse_reply(b"retry: 100\nid: 1\ndata: a\n\n"),
            sse_reply(b"data: b\n\n", end="hang"),
        ]
    )
    result = await run_tidings("listen", server.url(), "--json", "--max-events", "2")
    assert result.returncode == 0, result.stderr
    # The id sticks across the reconnect (SSE.md R38).
    assert result.json_lines == [
        {"event": "message", "data": "a", "id": "1"},
        {"event": "message", "data": "b", "id": "1"},
    ]
    first, second = server.requests
    assert not first.has_header("Last-Event-ID")
    assert second.header("Last-Event-ID") == "1"
    assert "reconnecting" in result.stderr


# -- usage errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-url"),
        pytest.param(["ftp://x"], id="ftp"),
        pytest.param(["not a url"], id="not-a-url"),
        pytest.param(["-H", f"Bearer {SECRET}", "{url}"], id="malformed-header"),
        pytest.param(["-H", "Bad Name: x", "{url}"], id="bad-header-name"),
        pytest.param(["--no-such-flag", "{url}"], id="unknown-flag"),
        pytest.param(["--max-events", "0", "{url}"], id="max-events-0"),
        pytest.param(["-H", "@missing-headers.txt", "{url}"], id="missing-header-file"),
        pytest.param(["--demo", "{url}"], id="url-and-demo"),
    ],
)
async def test_usage_errors_exit_two(
    server: ScriptedServer, run_tidings: RunTidings, args: list[str]
) -> None:
    """A bad command line exits 2 before any request, with a message on stderr only."""
    server.set_script([sse_reply(b"data: x\n\n", end="hang")])
    result = await run_tidings("listen", *[a.format(url=server.url()) for a in args])
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "error" in result.stderr
    assert server.requests == []
    _no_secret(result.stderr)  # a token pasted without its name is not echoed
    result.assert_no_traceback()


async def test_bad_line_in_header_file_is_a_usage_error_that_echoes_nothing(
    server: ScriptedServer, run_tidings: RunTidings, tmp_path: Path
) -> None:
    """A header file line that is not 'Name: value' exits 2 naming the line, not its content."""
    header_file = tmp_path / "headers.txt"
    header_file.write_text(f"# token\n{SECRET}\n", encoding="utf-8")
    result = await run_tidings("listen", server.url(), "-H", f"@{header_file}")
    assert result.returncode == 2, result.stderr
    assert f"{header_file}:2" in result.stderr
    assert server.requests == []
    _no_secret(result.stdout, result.stderr)


async def test_usage_error_shows_the_listen_usage(run_tidings: RunTidings) -> None:
    """A misused 'listen' prints the usage of 'tidings listen' (its options), then the error."""
    result = await run_tidings("listen", "--max-events", "0", "http://127.0.0.1:9/")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: tidings listen ")
    assert "--max-events" in result.stderr
    assert "tidings: error: argument --max-events" in result.stderr


# -- headers and secrets --------------------------------------------------------------


async def test_authorization_header_reaches_server_and_stays_secret(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """-H 'Authorization: Bearer ...' is sent, and the token is never printed."""
    server.set_script([sse_reply(b"data: ok\n\n", end="hang")])
    result = await run_tidings(
        "listen", server.url(), "-H", f"Authorization: Bearer {SECRET}", "--max-events", "1"
    )
    assert result.returncode == 0, result.stderr
    assert server.requests[0].header("Authorization") == f"Bearer {SECRET}"
    _no_secret(result.stdout, result.stderr)


async def test_header_file_is_read_skipping_comments_and_blanks(
    server: ScriptedServer, run_tidings: RunTidings, tmp_path: Path
) -> None:
    """-H @FILE sends each 'Name: value' line of the file, skipping comments and blank lines."""
    header_file = tmp_path / "headers.txt"
    header_file.write_text(
        "# a token for the test feed\n"
        "\n"
        f"Authorization: Bearer {SECRET}\r\n"
        "   \n"
        "# X-Commented-Out: yes\n"
        "X-Tidings-Test: from the file\n",
        encoding="utf-8",
    )
    server.set_script([sse_reply(b"data: ok\n\n", end="hang")])
    result = await run_tidings(
        "listen", server.url(), "-H", f"@{header_file}", "--json", "--max-events", "1"
    )
    assert result.returncode == 0, result.stderr
    request = server.requests[0]
    assert request.header("Authorization") == f"Bearer {SECRET}"
    assert request.header("X-Tidings-Test") == "from the file"
    assert not request.has_header("X-Commented-Out")
    names = [name.decode().lower() for name, _ in request.raw_headers]
    assert not any(name.startswith("#") for name in names)
    _no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("userinfo", "path", "shown"),
    [
        pytest.param("", f"/events?topic=t&auth={SECRET}", "auth=***", id="query-token"),
        pytest.param(f"me:{SECRET}@", "/events", "me:***@", id="password"),
    ],
)
async def test_credentials_in_the_url_are_redacted_in_status_lines(
    server: ScriptedServer, run_tidings: RunTidings, userinfo: str, path: str, shown: str
) -> None:
    """A URL's ?auth= token or password is used but shown redacted on stderr, even on reconnect."""
    server.set_script(
        [
            sse_reply(b"retry: 100\nid: 1\ndata: a\n\n"),
            sse_reply(b"data: b\n\n", end="hang"),
        ]
    )
    url = f"http://{userinfo}127.0.0.1:{server.port}{path}"
    result = await run_tidings("listen", url, "--json", "--max-events", "2")
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 2
    for request in server.requests:
        assert request.target == path
        assert userinfo == "" or request.has_header("Authorization")
    assert "connecting to" in result.stderr
    assert "reconnecting to" in result.stderr
    assert shown in result.stderr
    _no_secret(result.stdout, result.stderr)


async def test_header_file_with_a_byte_order_mark(
    server: ScriptedServer, run_tidings: RunTidings, tmp_path: Path
) -> None:
    """A header file saved with a UTF-8 BOM (PowerShell's utf8) still reads as written."""
    header_file = tmp_path / "headers.txt"
    header_file.write_bytes(b"\xef\xbb\xbfX-Tidings-Test: bom\r\n")
    server.set_script([sse_reply(b"data: ok\n\n", end="hang")])
    result = await run_tidings("listen", server.url(), "-H", f"@{header_file}", "--max-events", "1")
    assert result.returncode == 0, result.stderr
    assert server.requests[0].header("X-Tidings-Test") == "bom"


async def test_listen_is_stateless(
    server: ScriptedServer, run_tidings: RunTidings, tmp_path: Path
) -> None:
    """listen writes no settings, history or cache: its home and working directory stay empty."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    server.set_script([sse_reply(b"id: 1\ndata: a\n\n")])
    result = await run_tidings("listen", server.url(), "--once", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert result.json_lines == [{"event": "message", "data": "a", "id": "1"}]
    assert _everything_under(tmp_path) == [home]


async def test_last_event_id_is_sent_on_the_first_request(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """--last-event-id 42 goes out as Last-Event-ID on the very first request."""
    server.set_script([sse_reply(b"id: 43\ndata: next\n\n")])
    result = await run_tidings("listen", server.url(), "--last-event-id", "42", "--once", "--json")
    assert result.returncode == 0, result.stderr
    assert server.requests[0].header("Last-Event-ID") == "42"
    assert result.json_lines == [{"event": "message", "data": "next", "id": "43"}]


# -- reconnection ----------------------------------------------------------------------


async def test_idle_timeout_reconnects(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """--idle-timeout 0.5: a stream that stalls after one event is dropped and reconnected."""
    server.set_script(
        [
            sse_reply(b"retry: 100\nid: 1\ndata: a\n\n", end="hang"),
            sse_reply(b"id: 2\ndata: b\n\n", end="hang"),
        ]
    )
    started = time.monotonic()
    result = await run_tidings(
        "listen", server.url(), "--json", "--idle-timeout", "0.5", "--max-events", "2"
    )
    assert result.returncode == 0, result.stderr
    assert [e["id"] for e in result.json_lines] == ["1", "2"]
    assert "no data for 0.5 s" in result.stderr
    assert "reconnecting" in result.stderr
    assert len(server.requests) == 2
    assert server.requests[1].header("Last-Event-ID") == "1"
    assert time.monotonic() - started < 8


# -- signals and pipes -----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
async def test_signal_exits_after_a_clean_close(
    server: ScriptedServer, start_tidings: StartTidings, signum: signal.Signals, code: int
) -> None:
    """SIGINT exits 130 and SIGTERM 143, quietly, while connected and waiting for events."""
    server.set_script([sse_reply(b"id: 1\ndata: one\n\n", end="hang")])
    child = await start_tidings("listen", server.url(), "--json")
    assert await child.json_line() == {"event": "message", "data": "one", "id": "1"}
    await asyncio.sleep(0.1)  # connected, idle, waiting for the next event
    assert child.running
    child.send_signal(signum)
    result = await child.finish(within=5)
    assert result.returncode == code, result.stderr
    assert result.error_lines == []
    result.assert_no_traceback()


async def _one_event_every_20_ms(_request: RecordedRequest) -> AsyncIterator[bytes | Pause]:
    for n in range(1, 10_000):
        yield b"id: %d\ndata: event %d\n\n" % (n, n)
        yield Pause(0.02)


async def test_closed_stdout_ends_quietly(
    server: ScriptedServer, start_tidings: StartTidings
) -> None:
    """Closing the read end of stdout after two lines (like '| head -n 2') ends with exit 0."""
    server.set_script([Reply(body=_one_event_every_20_ms)])
    child = await start_tidings("listen", server.url(), "--json")
    assert (await child.json_line())["id"] == "1"
    assert (await child.json_line())["id"] == "2"
    child.close_stdout()
    result = await child.finish(within=5)
    assert result.returncode == 0, result.stderr
    assert result.error_lines == []
    result.assert_no_traceback()


# -- human output, the demo, the version --------------------------------------------------


async def test_human_output_shows_type_id_and_data(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """Without --json each event shows its type, id and every data line on stdout."""
    server.set_script(
        [sse_reply(b"event: deploy\nid: 7\ndata: api 1.4.2\ndata: to production\n\n", end="hang")]
    )
    result = await run_tidings("listen", server.url(), "--max-events", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "deploy" in out
    assert "7" in out
    assert "api 1.4.2" in out
    assert "to production" in out
    assert "connected" not in out
    assert "connected" in result.stderr


async def test_demo_prints_events_with_ids_and_types(run_tidings: RunTidings) -> None:
    """listen --demo --json prints events with increasing ids and several types, then exits 0."""
    result = await run_tidings(
        "listen", "--demo", "--demo-interval", "0.05", "--max-events", "5", "--json"
    )
    assert result.returncode == 0, result.stderr
    events = result.json_lines
    assert len(events) == 5
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids))
    assert len({e["event"] for e in events}) >= 2
    for event in events:
        assert isinstance(json.loads(event["data"]), dict)
    result.assert_no_traceback()


async def test_version_from_module_and_console_script(run_tidings: RunTidings) -> None:
    """'python -m tidings --version' and the 'tidings' script both print the version."""
    result = await run_tidings("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tidings {tidings.__version__}"

    script = shutil.which("tidings", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the tidings console script is not installed next to this Python")
    proc = await asyncio.create_subprocess_exec(
        script,
        "--version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, stderr
    assert stdout.decode().strip() == f"tidings {tidings.__version__}"
