"""A server's text printed for a person on a terminal never drives the terminal: escape
sequences (window title, screen clear, OSC 52 clipboard writes) and bidi overrides are shown
as visible escapes. ``--json`` keeps the exact text (JSON escapes control characters)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from e2e.conftest import child_env
from e2e.test_feeds_cli import tidings
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07 hello \u202eevil\x9b31m"
EVENT = ("event: ale\x1b[8mrt\nid: 7\x1b[1m\ndata: " + HOSTILE + "\n\n").encode()


def _answer(request: RecordedRequest) -> Reply:
    return sse_reply(EVENT, end="hang")


async def _listen(url: str, *more: str) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "listen", url, "--max-events", "1", *more,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out


def _assert_inert(out: bytes) -> None:
    assert b"\x1b" not in out
    assert b"\x07" not in out
    assert "\u202e".encode() not in out
    assert "\x9b".encode() not in out
    text = out.decode()
    assert "\\x1b]0;pwned\\x07" in text
    assert "hello \\u202eevil\\x9b31m" in text


async def test_listen_and_run_show_escapes_instead_of_obeying_them(tmp_path: Path) -> None:
    async with ScriptedServer(_answer) as server:
        code, out = await _listen(server.url())
        assert code == 0
        _assert_inert(out)
        assert "ale\\x1b[8mrt" in out.decode()  # the event type too

        code, out = await _listen(server.url(), "--preset", "plain")
        assert code == 0
        _assert_inert(out)

        code, out = await _listen(server.url(), "--json")
        assert code == 0
        assert json.loads(out)["data"] == HOSTILE  # scripts get the exact text

        profile = tmp_path / "p"
        added = await tidings(profile, "feeds", "add", "Hostile", server.url())
        assert added.returncode == 0, added.stderr
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tidings", "--profile-dir", str(profile),
            "run", "--headless", "--no-notify",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            head = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
            body = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.communicate(), timeout=20)
        _assert_inert(head + body)

    tail = await tidings(profile, "history", "tail", "Hostile")
    assert tail.returncode == 0, tail.stderr
    _assert_inert(tail.stdout.encode())
