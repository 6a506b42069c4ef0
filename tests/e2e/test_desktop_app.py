"""The desktop app end to end, under Xvfb, with a tray host, dunst and gnome-keyring.

A person's first session: add a feed from the tray menu (typed into the feed
editor), receive its events (stored, counted, shown as notifications by the
real notification daemon), read one in the log window, mute the feed from its
tray submenu, and quit from the tray. The app runs in a child process
(``desktop_driver.py``) on a private D-Bus session; the feed is served by
uvicorn + sse-starlette on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.desktop import DesktopSession, require_binaries
from support.starlette_app import FeedApp, UvicornThread, make_events

pytestmark = pytest.mark.desktop

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[DesktopSession]:
    require_binaries("dbus-daemon", "Xvfb", "dunst", "gnome-keyring-daemon")
    session = DesktopSession(root=tmp_path / "desktop")
    try:
        session.start_bus(activation=False)
        session.start_display()
        session.start_keyring()
        session.start_dunst()
        yield session
    finally:
        session.close()


@pytest.fixture
def tray_host(desktop: DesktopSession) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, **desktop.env}
    host = subprocess.Popen(
        [sys.executable, "-m", "support.tray_host"],
        cwd=TESTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        line = host.stdout.readline()  # "ready" once it owns the watcher name
        assert line.strip() == "ready", host.stderr.read() if host.stderr else line
        yield host
    finally:
        host.terminate()
        try:
            host.wait(timeout=5)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait(timeout=5)
        for stream in (host.stdout, host.stderr):
            if stream is not None:
                stream.close()


def test_add_receive_read_mute_quit(
    desktop: DesktopSession, tray_host: subprocess.Popen[str], tmp_path: Path
) -> None:
    feed_app = FeedApp(make_events(3), per_connection=3, interval=0.05, ping=1.0)
    result_file = tmp_path / "result.json"
    shot = tmp_path / "log-window.png"
    env = {
        **os.environ,
        **desktop.env,
        "QT_QPA_PLATFORM": "xcb",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with UvicornThread(feed_app.app) as server:
        child = subprocess.run(
            [
                sys.executable,
                str(TESTS / "e2e" / "desktop_driver.py"),
                str(tmp_path / "profile"),
                server.url(),
                str(result_file),
                str(shot),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(result_file.read_text(encoding="utf-8"))
    assert "error" not in result, json.dumps(result) + "\n" + child.stderr[-3000:]

    # The tray icon showed, with its menu, before any feed existed.
    assert result["tray_available"] is True
    assert "no feeds yet" in result["tooltip_start"]
    assert any(label.startswith("Add a feed") for label in result["menu_start"])
    # Added from the editor: saved to the settings file.
    assert result["saved_feeds"] == ["Deploys"]
    # Received: all three events stored unread, the tray says so, dunst showed them.
    assert result["unread_after_receive"] == 3
    assert "3 unread" in result["tooltip_after_receive"]
    assert result["notifier_state"] == "ok"
    assert "freedesktop" in result["notifier"]
    desktop.dunstctl("close-all")  # closed notifications move to dunst's history
    history = json.loads(desktop.dunstctl("history"))["data"][0]
    apps = {entry["appname"]["data"] for entry in history}
    assert apps == {"Tidings"}
    assert len(history) >= 3
    # Read: selecting the newest row in the log marks it read; the tray count follows.
    assert result["log_rows"] >= 3
    assert result["unread_after_read"] == 2
    assert "2 unread" in result["tooltip_after_read"]
    assert shot.stat().st_size > 1000
    # Muted for an hour from the tray, saved, and the menu says so.
    assert 3500 < result["muted_for"] < 3602  # saved to the second
    assert "muted" in result["feed_row_after_mute"]
    # Quit from the tray: main() returned 0, promptly.
    assert result["quit_clicked"] is True
    assert result["exit_code"] == 0
    assert result["seconds"] < 60
    assert time.time() < result["muted_until"]
