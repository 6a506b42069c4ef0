"""``tidings doctor`` as a subprocess: what it reports, its exit code, and that it loads no Qt."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from support.desktop import DesktopSession

from .conftest import child_env
from .test_feeds_cli import no_bus_env, session_env, store_event, tidings, write_settings

pytestmark = pytest.mark.timeout(60)

# Logs each process's start (pid, parent pid) and every attempt it makes to import Qt, even one
# that fails (PySide6 may not be installed).
_IMPORT_HOOK = textwrap.dedent(
    """
    import os, sys
    _log = os.environ.get("TIDINGS_TEST_IMPORT_LOG")
    if _log:
        def _write(line):
            with open(_log, "a", encoding="utf-8") as log:
                log.write(line + "\\n")
        _write(f"start {os.getpid()} {os.getppid()}")
        class _RecordQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "shiboken6", "qasync"):
                    _write(f"import {os.getpid()} {name}")
                return None
        sys.meta_path.insert(0, _RecordQt())
    """
)

_BEARER_FEED = """\
    schema_version = 1
    [[feeds]]
    id = "f-secretive"
    name = "Secretive"
    url = "https://s.example/sse"
    auth = { kind = "bearer" }
    """


def _report(stdout: str) -> dict[str, object]:
    value = json.loads(stdout)
    assert isinstance(value, dict)
    return value


@pytest.mark.desktop
async def test_doctor_reports_every_part_and_is_ready_with_a_keyring(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """With a keyring: exit 0; Python, paths, settings, keyring, Qt, notifications, feeds."""
    profile = tmp_path / "p"
    env = session_env(gnome_keyring)
    add = await tidings(
        profile,
        "feeds",
        "add",
        "Alerts",
        "https://a.example/sse",
        "--auth",
        "bearer",
        stdin="doctor-token-1234\n",
        env=env,
    )
    assert add.returncode == 0, add.stderr
    await tidings(profile, "feeds", "add", "Lab", "https://10.1.1.1/", "--insecure", env=env)
    text = await tidings(profile, "doctor", env=env)
    assert text.returncode == 0, text.stdout + text.stderr
    out = text.stdout
    for needle in (
        "Tidings ",
        "python",
        str(profile / "config" / "settings.toml"),
        str(profile / "data"),
        str(profile / "state"),
        "ok       keyring: keyring.backends.SecretService.Keyring works",
        "notifications: freedesktop notifications: ",
        "secrets stored",
        "[!] TLS verification OFF",
        "Ready for headless use.",
    ):
        assert needle in out, (needle, out)
    assert "doctor-token-1234" not in out + text.stderr

    as_json = await tidings(profile, "doctor", "--json", env=env)
    assert as_json.returncode == 0
    report = _report(as_json.stdout)
    assert report["ok"] is True
    assert {
        "tidings",
        "python",
        "paths",
        "settings",
        "keyring",
        "qt",
        "notifications",
        "feeds",
    } <= (report.keys())
    keyring = report["keyring"]
    assert isinstance(keyring, dict)
    assert (keyring["status"], keyring["state"], keyring["needed"]) == ("ok", "ok", True)
    qt = report["qt"]
    assert isinstance(qt, dict)
    if qt["installed"]:
        assert qt["platform"]
        assert isinstance(qt["tray_available"], bool)
    else:
        assert "tidings[gui]" in str(qt["message"])
    notifications = report["notifications"]
    assert isinstance(notifications, dict)
    # This session's bus has no notification daemon (its dunst cannot start without a display).
    assert (notifications["status"], notifications["backend"]) == ("warning", "freedesktop")
    feeds = report["feeds"]
    assert isinstance(feeds, list)
    assert [(f["name"], f["secrets"], f["tls_verify"]) for f in feeds] == [
        ("Alerts", "stored", True),
        ("Lab", "none needed", False),
    ]


async def test_doctor_without_a_keyring(tmp_path: Path) -> None:
    """No keyring: a warning while no feed needs one (exit 0), an error once one does (exit 1)."""
    profile = tmp_path / "p"
    env = no_bus_env(tmp_path / "home")
    first = await tidings(profile, "doctor", "--json", env=env)
    assert first.returncode == 0, first.stdout
    keyring = _report(first.stdout)["keyring"]
    assert isinstance(keyring, dict)
    assert (keyring["status"], keyring["state"], keyring["needed"]) == (
        "warning",
        "unavailable",
        False,
    )
    write_settings(profile, _BEARER_FEED)
    second = await tidings(profile, "doctor", env=env)
    assert second.returncode == 1
    assert "error    keyring: unavailable" in second.stdout
    assert "Not ready for headless use: fix keyring" in second.stdout


@pytest.mark.desktop
async def test_doctor_says_plainly_that_the_keyring_is_locked(
    tmp_path: Path, dbus_session: DesktopSession
) -> None:
    """A locked keyring that a feed needs: state "locked", a way forward, exit 1."""
    dbus_session.start_keyring(password=None)
    profile = tmp_path / "p"
    write_settings(profile, _BEARER_FEED)
    done = await tidings(profile, "doctor", "--json", env=session_env(dbus_session))
    assert done.returncode == 1
    keyring = _report(done.stdout)["keyring"]
    assert isinstance(keyring, dict)
    assert (keyring["status"], keyring["state"]) == ("error", "locked")
    assert "unlock" in str(keyring["message"])


async def test_doctor_lists_settings_problems_with_their_line(tmp_path: Path) -> None:
    """A broken settings file makes doctor exit 1 and name the file, the line and the problem."""
    profile = tmp_path / "p"
    path = write_settings(profile, 'schema_version = 1\n[[feeds]]\nid = "f-1"\nurl = \n')
    done = await tidings(profile, "doctor", env=no_bus_env(tmp_path / "home"))
    assert done.returncode == 1
    assert f"{path}:4" in done.stdout
    assert "error    settings" in done.stdout
    report = _report((await tidings(profile, "doctor", "--json")).stdout)
    settings = report["settings"]
    assert isinstance(settings, dict)
    assert settings["status"] == "error"
    assert settings["saveable"] is False
    assert settings["problems"][0]["line"] == 4


async def test_doctor_shows_each_feeds_last_stored_event(tmp_path: Path) -> None:
    """The last event time and count per feed come from the history store."""
    profile = tmp_path / "p"
    write_settings(
        profile,
        """\
        schema_version = 1
        [[feeds]]
        id = "f-busy"
        name = "Busy"
        url = "https://b.example/sse"
        [[feeds]]
        id = "f-quiet"
        name = "Quiet"
        url = "https://q.example/sse"
        """,
    )
    await store_event(profile, "f-busy", "one")
    await store_event(profile, "f-busy", "two")
    report = _report((await tidings(profile, "doctor", "--json")).stdout)
    feeds = {f["id"]: f for f in report["feeds"]}  # type: ignore[attr-defined]
    assert feeds["f-busy"]["events_stored"] == 2
    assert feeds["f-busy"]["last_event_at"]
    assert feeds["f-quiet"]["events_stored"] == 0
    assert feeds["f-quiet"]["last_event_at"] is None
    history = report["history"]
    assert isinstance(history, dict)
    assert history["status"] == "ok"
    assert "2 event(s)" in str(history["message"])


async def test_doctor_itself_never_imports_qt(tmp_path: Path) -> None:
    """Qt is probed in a child process: the doctor process never even tries to import PySide6."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_IMPORT_HOOK, encoding="utf-8")
    log = tmp_path / "imports.log"
    env = child_env()
    env["PYTHONPATH"] = str(hook)
    env["TIDINGS_TEST_IMPORT_LOG"] = str(log)
    done = await tidings(tmp_path / "p", "--log-level", "debug", "doctor", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert isinstance(_report(done.stdout)["qt"], dict)
    lines = [line.split(" ") for line in log.read_text("utf-8").splitlines()]
    parents = {pid: ppid for kind, pid, ppid in lines if kind == "start"}
    (doctor_pid,) = [pid for pid, ppid in parents.items() if ppid == str(os.getpid())]
    probes = [pid for pid, ppid in parents.items() if ppid == doctor_pid]
    attempts = [(pid, name) for kind, pid, name in lines if kind == "import"]
    assert probes, lines  # the Qt probe ran in a child of the doctor process
    assert {pid for pid, _ in attempts} <= set(probes), attempts
    assert any(name == "PySide6" for _, name in attempts), attempts  # the hook works there
