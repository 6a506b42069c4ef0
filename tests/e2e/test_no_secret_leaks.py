"""A recognisable secret through every path of the feeds commands; it must surface nowhere.

The canary goes in through stdin (add), is replaced (edit --set-secret), is
sent to a server that accepts it and to one that rejects it (401), rides in
a query string, is exported and doctored, and runs in the headless hub, all
at ``--log-level debug``.
Afterwards every file under the profile directory and every captured stdout
and stderr is searched for it, raw and in the encodings it travels in.
"""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path
from urllib.parse import quote

import pytest

from support.desktop import DesktopSession
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply

from .conftest import Finished, StartTidings
from .test_feeds_cli import session_env, tidings

pytestmark = pytest.mark.timeout(60)

CANARY = "TIDINGS-LEAK-CANARY-7f3a9c"
BASIC = base64.b64encode(f"leaky:{CANARY}".encode()).decode()
FORMS = (CANARY, BASIC, quote(CANARY, safe=""), CANARY.lower())


def _carries_canary(request: RecordedRequest) -> bool:
    blob = request.target + " " + " ".join(v.decode("latin-1") for _, v in request.raw_headers)
    return CANARY in blob or BASIC in blob


def _accepting(request: RecordedRequest) -> Reply:
    if _carries_canary(request):
        return sse_reply(b"id: 1\ndata: welcome\n\n", end="hang")
    return Reply(status=401, headers=(("Content-Type", "text/plain"),), body=[b"who?"])


def _rejecting(request: RecordedRequest) -> Reply:
    return Reply(status=401, headers=(("Content-Type", "text/plain"),), body=[b"denied"])


def _assert_clean(where: str, data: bytes) -> None:
    for form in FORMS:
        assert form.encode() not in data, f"the secret ({form}) leaked into {where}"


@pytest.mark.desktop
async def test_the_canary_never_reaches_a_file_or_an_output(
    tmp_path: Path, gnome_keyring: DesktopSession, start_tidings: StartTidings
) -> None:
    """add, edit, test, export, doctor, run --headless: no trace of the secret anywhere."""
    profile = tmp_path / "profile"
    env = session_env(gnome_keyring)
    outputs: list[tuple[str, Finished]] = []

    async def run(*args: str, stdin: str | None = None, code: int | None = 0) -> Finished:
        done = await tidings(profile, "--log-level", "debug", *args, stdin=stdin, env=env)
        outputs.append((" ".join(args), done))
        if code is not None:
            assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    line = CANARY + "\n"
    async with ScriptedServer(_accepting) as good, ScriptedServer(_rejecting) as bad:
        await run("feeds", "add", "Bearer", good.url("/b"), "--auth", "bearer", stdin=line)
        await run("feeds", "add", "Basic", good.url("/basic"), "--username", "leaky", stdin=line)
        await run(
            "feeds", "add", "Header", good.url("/h"), "--header-name", "X-Api-Key", stdin=line
        )
        # A parameter name the URL redactor does not know: only the known-secret filter helps.
        await run("feeds", "add", "Query", good.url("/q"), "--query-param", "tok", stdin=line)
        await run("feeds", "add", "Ntfy", good.url("/n"), "--auth", "query", stdin=line)
        await run(
            "feeds",
            "add",
            "Rejected",
            bad.url("/r"),
            "--auth",
            "bearer",
            "--secret-header",
            "X-Extra",
            stdin=line * 2,
        )
        await run("feeds", "edit", "Bearer", "--set-secret", stdin=line)
        await run("feeds", "edit", "Rejected", "--set-secret", "X-Extra", stdin=line)

        # From here on nothing changes the profile: run the readers side by side.
        names = ("Bearer", "Basic", "Header", "Query", "Ntfy")
        tested = await asyncio.gather(
            *(run("feeds", "test", name, "--max-events", "1") for name in names)
        )
        assert all("welcome" in done.stdout for done in tested)
        rejected = await run("feeds", "test", "Rejected", code=1)
        assert "HTTP 401" in rejected.error_lines[0]
        readers: list[list[str]] = [
            # A token typed into a URL under a well-known name (ntfy's auth=): shown redacted.
            ["feeds", "test", good.url(f"/inline?auth={CANARY}"), "--max-events", "1"],
            ["feeds", "list"],
            ["feeds", "list", "--json"],
            *(["feeds", "show", name, "--json"] for name in (*names, "Rejected")),
            ["feeds", "show", "Rejected"],
            ["feeds", "export"],
            ["feeds", "export", str(profile / "feeds-export.toml")],
            ["feeds", "export", str(profile / "feeds-export.json")],
            ["doctor"],
            ["doctor", "--json"],
        ]
        await asyncio.gather(*(run(*args) for args in readers))
        # The hub: every feed at once, a log file at debug level, a 401 among them.
        hub = await start_tidings(
            "--profile-dir",
            str(profile),
            "--log-level",
            "debug",
            "run",
            "--headless",
            "--json",
            env=env,
        )
        welcomed = set()
        while len(welcomed) < len(names):
            got = await hub.json_line()
            assert got["data"] == "welcome"
            welcomed.add(got["feed_name"])
        async with asyncio.timeout(10):
            while "[Rejected] stopped: HTTP 401" not in hub.stderr_so_far:
                await asyncio.sleep(0.05)
        hub.send_signal(signal.SIGTERM)
        ran = await hub.finish()
        assert ran.returncode == 143
        outputs.append(("run --headless", ran))
        assert (profile / "state" / "log" / "tidings.log").exists()

        # A failed add after the canary was typed: the error says nothing of it.
        await run("feeds", "add", "Bearer", good.url("/x"), "--auth", "bearer", stdin=line, code=1)

        # The paths were really taken: the servers saw the canary, the logs were at debug level.
        assert sum(_carries_canary(r) for r in good.requests) >= 5
        assert any(_carries_canary(r) for r in bad.requests)
    assert any("HTTP Request:" in done.stderr for _, done in outputs)

    for command, done in outputs:
        _assert_clean(f"the stdout of `{command}`", done.stdout.encode())
        _assert_clean(f"the stderr of `{command}`", done.stderr.encode())
    files = [p for p in profile.rglob("*") if p.is_file()]
    assert any(p.name == "settings.toml" for p in files)
    for path in files:
        _assert_clean(str(path.relative_to(profile)), path.read_bytes())
