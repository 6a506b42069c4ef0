"""Bad input around the feeds: broken settings files, no keyring, a read-only or full data
directory. Each case gets a clear error naming what is wrong and what to do, and nothing is
silently lost or reset: a refused save leaves the settings file byte-identical, and an event
the history could not store is never acknowledged (the feed resumes before it).

Cases already covered elsewhere are not repeated here: a TOML syntax error refused by every
``feeds`` change and a broken feed next to good ones (test_feeds_cli.py), a locked or
missing keyring for ``feeds add`` (test_feeds_cli.py), a broken feed under ``run
--headless`` (test_run_headless.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.desktop import DesktopSession
from support.scripted_server import Pause, RecordedRequest, Reply, ScriptedServer, sse_reply

from .conftest import StartTidings, child_env
from .test_feeds_cli import no_bus_env, session_env, tidings
from .test_run_headless import start_run, write_settings

pytestmark = pytest.mark.timeout(60)

FEED = '\n[[feeds]]\nid = "f-a"\nname = "A"\nurl = "http://127.0.0.1:9/a"\n'
BROKEN_FILES = {
    # The whole file is unusable: nothing loads, nothing may be written.
    "newer schema": "schema_version = 99\n[future_table]\nthing = 1\n" + FEED,
    "feeds of the wrong type": "schema_version = 1\nfeeds = 5\n",
    "not UTF-8": "schema_version = 1\n# caf\xe9\n" + FEED,
}


def _write(profile: Path, text: str) -> Path:
    path = profile / "config" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    return path


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
async def test_an_unusable_settings_file_is_named_and_never_rewritten(
    case: str, tmp_path: Path, start_tidings: StartTidings
) -> None:
    """``feeds add`` refuses (exit 1) naming the file; ``run --headless`` says no feed runs
    until the file is fixed (not "no feeds yet"); the bytes never change."""
    profile = tmp_path / "p"
    path = _write(profile, BROKEN_FILES[case])
    before = path.read_bytes()

    added = await tidings(profile, "feeds", "add", "New", "http://127.0.0.1:9/new")
    assert added.returncode == 1
    assert added.error_lines, added.stderr
    assert str(path) in added.error_lines[0]
    assert "nothing was changed" in added.error_lines[0]
    assert path.read_bytes() == before

    child = await start_run(start_tidings, profile, "--no-notify")
    async with asyncio.timeout(15):
        while "no feed runs until" not in child.stderr_so_far:
            assert child.running, child.stderr_so_far
            await asyncio.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    finished = await child.finish()
    assert finished.returncode == 143
    assert f"{path} is fixed" in finished.stderr
    assert "no feeds yet" not in finished.stderr
    assert str(path) in finished.stderr  # the problem itself, with the file's name
    assert path.read_bytes() == before


async def test_wrong_types_and_unknown_keys_are_named_by_line_and_kept(tmp_path: Path) -> None:
    """A wrong type in [app] or [history], an unknown top-level key and a typo'd key are each
    named with their line; a save keeps every one of them as the user wrote it."""
    profile = tmp_path / "p"
    path = _write(
        profile,
        'schema_version = 1\ncolour = "blue"\n\n[app]\nnotifications = "yes"\n'
        'notifcations = false\n\n[history]\nmax_age_days = "forever"\n' + FEED,
    )
    added = await tidings(profile, "feeds", "add", "New", "http://127.0.0.1:9/new")
    assert added.returncode == 0, added.stderr
    # A problem in a table is named with the table's line and the key's full name.
    for where in ("settings.toml: colour:", ":4: app.notifcations:", ":8: history.max_age_days:"):
        assert where in added.stderr, (where, added.stderr)
    text = path.read_text("utf-8")
    for kept in ('colour = "blue"', 'notifications = "yes"', "notifcations = false"):
        assert kept in text
    assert 'max_age_days = "forever"' in text
    assert 'name = "A"' in text
    assert 'name = "New"' in text


async def test_no_keyring_under_run_headless_stops_only_the_feed_that_needs_it(
    tmp_path: Path, start_tidings: StartTidings
) -> None:
    """With no keyring at all, the feed with a token says why it cannot start and what to do;
    the feed without one runs; the settings file is untouched."""
    env = no_bus_env(tmp_path / "home")
    # A bus address where nothing listens, so no session bus of the host is ever used.
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    token_lines = await _token_feed_under_run(tmp_path, start_tidings, env)
    assert any("keyring unavailable" in line for line in token_lines), token_lines
    assert any("Secret Service" in line for line in token_lines), token_lines


@pytest.mark.desktop
async def test_a_locked_keyring_under_run_headless_says_unlock_it(
    tmp_path: Path, start_tidings: StartTidings, dbus_session: DesktopSession
) -> None:
    """A locked keyring (nobody there to unlock it): the token feed stops at once saying the
    keyring is locked and to unlock it, instead of waiting for a prompt; the other runs."""
    dbus_session.start_keyring(password=None)
    token_lines = await _token_feed_under_run(tmp_path, start_tidings, session_env(dbus_session))
    assert any("locked" in line and "unlock" in line for line in token_lines), token_lines


async def _token_feed_under_run(
    tmp_path: Path, start_tidings: StartTidings, env: dict[str, str]
) -> list[str]:
    """``run --headless`` with a bearer feed and an open one; the bearer feed's stderr lines.
    The open feed must deliver, the bearer feed must never be requested without its token,
    and the settings file must stay as it was."""
    profile = tmp_path / "p"

    def answer(request: RecordedRequest) -> Reply:
        return sse_reply(b"id: 1\ndata: open feed\n\n", end="hang")

    async with ScriptedServer(answer) as server:
        path = _write(
            profile,
            "schema_version = 1\n"
            f'\n[[feeds]]\nid = "f-tok"\nname = "Token"\nurl = "{server.url("/t")}"\n'
            '[feeds.auth]\nkind = "bearer"\n'
            f'\n[[feeds]]\nid = "f-open"\nname = "Open"\nurl = "{server.url("/o")}"\n',
        )
        before = path.read_bytes()
        child = await start_tidings(
            "--profile-dir", str(profile), "run", "--headless", "--json", "--no-notify", env=env
        )
        event = await child.json_line()
        assert event["feed_name"] == "Open"
        async with asyncio.timeout(15):
            while "[Token]" not in child.stderr_so_far:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    token_lines = [line for line in finished.stderr.splitlines() if "[Token]" in line]
    assert token_lines, finished.stderr
    assert not any(r.target == "/t" for r in server.requests)  # never sent without its token
    assert path.read_bytes() == before
    assert "Traceback" not in finished.stderr
    return token_lines


@contextlib.contextmanager
def _small_disk(where: Path, size: str, *, read_only: bool = False) -> Iterator[None]:
    """A tmpfs of ``size`` mounted at ``where`` (root only), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tidings-test", str(where)],
        check=True,
        capture_output=True,
        timeout=10,
    )
    try:
        yield
    finally:
        done = subprocess.run(["umount", str(where)], check=False, capture_output=True, timeout=10)
        if done.returncode != 0:
            subprocess.run(
                ["umount", "-l", str(where)], check=False, capture_output=True, timeout=10
            )


def _can_mount() -> bool:
    return os.geteuid() == 0 and sys.platform.startswith("linux")


async def test_a_read_only_data_directory_is_a_clear_error(
    tmp_path: Path, start_tidings: StartTidings
) -> None:
    """``run --headless`` with a data directory it cannot write: exit 1, one error line that
    names the file and what to do, no traceback, no feed started."""
    profile = tmp_path / "p"
    write_settings(profile, ("f-a", "A", "http://127.0.0.1:9/a"))
    data = profile / "data"
    if _can_mount():
        cm: contextlib.AbstractContextManager[None] = _small_disk(data, "64k", read_only=True)
    else:
        # Not root: a data "directory" that is a file cannot hold the history either.
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text("not a directory")
        cm = contextlib.nullcontext()
    with cm:
        child = await start_run(start_tidings, profile, "--no-notify")
        finished = await child.finish()
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    (error,) = finished.error_lines
    assert "cannot open the history" in error
    assert str(data) in error
    assert "--profile-dir" in error
    assert "no feed was started" in error


async def test_the_desktop_app_with_a_read_only_data_directory_says_so(tmp_path: Path) -> None:
    profile = tmp_path / "p"
    write_settings(profile, ("f-a", "A", "http://127.0.0.1:9/a"))
    data = profile / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("not a directory")  # cannot hold the history, root or not
    env = {**child_env(), "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "--profile-dir", str(profile), "--background",
        "--exit-after", "20",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode(errors="replace")
    assert proc.returncode == 1
    assert "cannot open the history" in text
    assert "Traceback" not in text


def _numbered_big(total: int) -> ScriptedServer:
    """Events 1..total of about 2 KiB each, resuming after Last-Event-ID, then quiet."""
    pad = "x" * 2000

    def script(request: RecordedRequest) -> Reply:
        last = int(request.header("Last-Event-ID") or 0)
        chunks = [
            b"id: %d\ndata: %d %s\n\n" % (i, i, pad.encode()) for i in range(last + 1, total + 1)
        ]
        return sse_reply(*chunks, Pause(0.01), end="hang")

    return ScriptedServer(script)


async def test_a_full_data_directory_stores_nothing_it_cannot_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """The history fills the disk mid-stream: the feed stops saying why; every event printed
    was stored; after space is freed, the restarted hub resumes right after the last stored
    event: ids 1..N exactly once, none acknowledged that was not stored."""
    profile = tmp_path / "p"
    total = 600  # about 1.2 MiB of data: more than the 512 KiB disk holds
    limit = 512 * 1024
    async with _numbered_big(total) as server:
        write_settings(profile, ("f-big", "Big", server.url("/big")))
        data = profile / "data"
        saved = profile / "saved-data"
        # As root, a real 512 KiB tmpfs; otherwise the seam is the file-size limit of the
        # process (RLIMIT_FSIZE: a write past it fails with EFBIG, as on a full disk).
        disk = _small_disk(data, "512k") if _can_mount() else contextlib.nullcontext()
        with disk:
            out, err, _ = await _run_until(
                profile, "cannot write the history", 30, fsize=None if _can_mount() else limit
            )
            printed = [json.loads(line)["id"] for line in out.splitlines() if line.strip()]
            assert "cannot write the history" in err, err[-2000:]
            assert "Traceback" not in err
            stopped = [line for line in err.splitlines() if "[Big]" in line and "history" in line]
            assert stopped, err[-2000:]
            if _can_mount():  # copy what fitted off the small disk, to go on with more space
                await asyncio.to_thread(
                    subprocess.run, ["cp", "-a", f"{data}/.", str(saved)], check=True, timeout=30
                )
        assert printed, "nothing was stored before the disk filled"
        assert printed == [str(i) for i in range(1, len(printed) + 1)]
        assert len(printed) < total
        if saved.exists():
            saved.rename(data)
        out, err, _ = await _run_until(profile, None, 30, want_lines=total - len(printed))
        resumed = [json.loads(line)["id"] for line in out.splitlines() if line.strip()]
    # The restart asked for what came after the last stored event, and got the rest, once.
    assert resumed[0] == str(len(printed) + 1), (resumed[:3], len(printed))
    assert printed + resumed == [str(i) for i in range(1, total + 1)]
    last_ids = [r.header("Last-Event-ID") for r in server.requests]
    assert str(len(printed)) in last_ids


async def _run_until(
    profile: Path,
    marker: str | None,
    within: float,
    *,
    want_lines: int = 0,
    fsize: int | None = None,
) -> tuple[str, str, int]:
    """Run ``run --headless --json`` until ``marker`` is on stderr (or ``want_lines`` lines
    are on stdout), then SIGTERM it; its stdout, stderr and exit code. ``fsize`` limits the
    size of every file the child writes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write
    past it fails with EFBIG)."""

    def limit_files() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "--profile-dir", str(profile),
        "run", "--headless", "--json", "--no-notify",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=child_env(), preexec_fn=limit_files,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = bytearray(), bytearray()

    async def pump(stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(65536):
            into += chunk

    pumps = [
        asyncio.create_task(pump(proc.stdout, out)),
        asyncio.create_task(pump(proc.stderr, err)),
    ]
    try:
        async with asyncio.timeout(within):
            while True:
                if marker is not None and marker.encode() in err:
                    break
                if want_lines and out.count(b"\n") >= want_lines:
                    break
                if proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await asyncio.gather(*pumps)
    return out.decode(), err.decode(errors="replace"), proc.returncode or 0
