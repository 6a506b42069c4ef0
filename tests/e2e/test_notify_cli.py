"""``tidings run --headless`` and ``tidings doctor`` with a real notification daemon (dunst)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import tomllib
from pathlib import Path

import pytest

from support.desktop import DesktopSession
from support.notify_monitor import NotifyMonitor
from support.scripted_server import Pause, ScriptedServer, sse_reply

from .conftest import StartTidings, Tidings
from .test_run_headless import POLL, write_settings

pytestmark = pytest.mark.desktop


async def start_run(start: StartTidings, profile: Path, *more: str, env: dict[str, str]) -> Tidings:
    return await start(
        "--profile-dir",
        str(profile),
        "run",
        "--headless",
        "--json",
        "--settings-poll",
        POLL,
        *more,
        env=env,
    )


def bus_env(session: DesktopSession) -> dict[str, str]:
    return {k: session.env[k] for k in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "XDG_RUNTIME_DIR")}


async def test_doctor_names_the_server(
    start_tidings: StartTidings, tmp_path: Path, dunst_session: DesktopSession
) -> None:
    """doctor asks the server: dunst, its version, its capabilities; status ok."""
    child = await start_tidings(
        "--profile-dir", str(tmp_path / "p"), "doctor", "--json", env=bus_env(dunst_session)
    )
    done = await child.finish(30)
    report = json.loads(done.stdout)
    notifications = report["notifications"]
    assert notifications["status"] == "ok"
    assert notifications["backend"] == "freedesktop"
    assert notifications["server"]["name"] == "dunst"
    assert notifications["server"]["spec_version"] == "1.2"
    assert {"actions", "body-markup"} <= set(notifications["capabilities"])
    text = await start_tidings(
        "--profile-dir", str(tmp_path / "p"), "doctor", env=bus_env(dunst_session)
    )
    out = (await text.finish(30)).stdout
    assert "ok       notifications: freedesktop notifications: dunst 1.9" in out
    assert "actions, body markup (escaped)" in out


async def test_doctor_without_a_server_or_a_bus(
    start_tidings: StartTidings, tmp_path: Path, quiet_bus: DesktopSession
) -> None:
    """A bus without a daemon, and no bus at all: a warning that says which, exit still 0."""
    env = {"DBUS_SESSION_BUS_ADDRESS": quiet_bus.bus_address}
    child = await start_tidings("--profile-dir", str(tmp_path / "p"), "doctor", "--json", env=env)
    report = json.loads((await child.finish(30)).stdout)
    assert report["notifications"]["status"] == "warning"
    assert "no notification server on the session bus" in report["notifications"]["message"]
    no_bus = {"DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": str(tmp_path / "nothing")}
    child = await start_tidings(
        "--profile-dir", str(tmp_path / "p"), "doctor", "--json", env=no_bus
    )
    report = json.loads((await child.finish(30)).stdout)
    assert report["notifications"]["status"] == "warning"
    assert "no D-Bus session bus" in report["notifications"]["message"]


async def test_run_headless_notifies_and_a_mute_is_saved(
    start_tidings: StartTidings,
    tmp_path: Path,
    dunst_session: DesktopSession,
    bus_monitor: NotifyMonitor,
) -> None:
    """An event becomes a dunst notification; "Mute feed 1 h" mutes the feed in the running
    hub and in settings.toml."""
    async with ScriptedServer(
        [sse_reply(b"id: 1\ndata: <i>build</i> broke\n\n", Pause(60))]
    ) as srv:
        write_settings(tmp_path, ("f-ci", "CI", srv.url()))
        child = await start_run(start_tidings, tmp_path, env=bus_env(dunst_session))
        try:
            await child.json_line()
            (call,) = await bus_monitor.notified(1, within=20)
            assert (call.summary, call.body) == ("CI", "&lt;i&gt;build&lt;/i&gt; broke")
            assert call.hints["desktop-entry"] == "io.github.tidings.Tidings"
            assert call.returned_id is not None
            dunst_session.choose_in_context_menu(f"[{call.returned_id},tidings:mute-1h]")
            await asyncio.to_thread(dunst_session.dunstctl, "context")
            settings = tmp_path / "config" / "settings.toml"
            async with asyncio.timeout(10):
                while "muted_until" not in settings.read_text(encoding="utf-8"):
                    await asyncio.sleep(0.05)
            saved = tomllib.loads(settings.read_text(encoding="utf-8"))
            until = saved["feeds"][0]["rules"]["muted_until"]
            assert 3500 < until.timestamp() - time.time() <= 3601
        finally:
            child.send_signal(signal.SIGTERM)
            done = await child.finish(20)
    assert done.returncode == 143
    done.assert_no_traceback()
    assert "notifications: freedesktop notifications (dunst 1.9" in done.stderr
    assert "[CI] muted for 1 h" in done.stderr


async def test_run_headless_no_notify(
    start_tidings: StartTidings,
    tmp_path: Path,
    dunst_session: DesktopSession,
    bus_monitor: NotifyMonitor,
) -> None:
    """--no-notify: events on stdout, nothing to the daemon."""
    async with ScriptedServer([sse_reply(b"id: 1\ndata: hi\n\n", Pause(60))]) as srv:
        write_settings(tmp_path, ("f-ci", "CI", srv.url()))
        child = await start_run(start_tidings, tmp_path, "--no-notify", env=bus_env(dunst_session))
        try:
            assert (await child.json_line())["data"] == "hi"
            await asyncio.sleep(0.5)
        finally:
            child.send_signal(signal.SIGTERM)
            done = await child.finish(20)
    assert bus_monitor.notifies == []
    assert "notifications:" not in done.stderr
