# ruff: noqa: TID251  (the self-test is Qt code: its checks need a QApplication)
"""``tidings --self-test`` from the source tree: the report, its verdicts and its exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging_helpers import child_env
from PySide6.QtWidgets import QApplication

from support.desktop import DesktopSession
from tidings.qt import selftest
from tidings.qt.selftest import Check, exit_code

pytestmark = pytest.mark.timeout(90)

CHECKS = (
    "qt platform",
    "qt plugins",
    "svg",
    "resources",
    "tray icons",
    "history",
    "keyring",
    "notifications",
    "certificates",
)


def self_test(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", "--self-test", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def verdicts(stdout: str) -> dict[str, str]:
    """{check name: status} from the report's lines ("  <status:8> <name:14> <detail>")."""
    return {
        line[11:25].strip(): line.split()[0] for line in stdout.splitlines() if line[:2] == "  "
    }


def test_passes_without_a_desktop_session_and_reports_what_is_missing_there(
    tmp_path: Path,
) -> None:
    """No bus, no keyring, no display: every check runs, the session's gaps are warnings, exit 0."""
    proc = self_test(child_env(), "--profile-dir", str(tmp_path / "profile"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = verdicts(proc.stdout)
    assert set(found) == set(CHECKS), proc.stdout
    assert found["notifications"] == "warning"
    assert "no D-Bus session bus" in proc.stdout
    assert found["keyring"] == "warning"
    for name in ("qt platform", "qt plugins", "svg", "resources", "tray icons", "history"):
        assert found[name] == "ok", proc.stdout
    assert "self-test passed" in proc.stdout
    # Before any lock, settings or history: the profile directory is never created.
    assert not (tmp_path / "profile").exists()


@pytest.mark.desktop
def test_names_the_notification_server(dunst_session: DesktopSession) -> None:
    """With dunst on the session bus, the notification backend is named, with the server."""
    proc = self_test(child_env(DBUS_SESSION_BUS_ADDRESS=dunst_session.bus_address))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdicts(proc.stdout)["notifications"] == "ok"
    assert "freedesktop (dunst" in proc.stdout


@pytest.mark.desktop
def test_names_the_keyring_backend(gnome_keyring: DesktopSession) -> None:
    """With gnome-keyring's Secret Service on the bus, the keyring backend is SecretService."""
    proc = self_test(child_env(DBUS_SESSION_BUS_ADDRESS=gnome_keyring.bus_address))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdicts(proc.stdout)["keyring"] == "ok"
    assert "keyring.backends.SecretService.Keyring" in proc.stdout


def test_exit_code_is_one_only_when_something_is_missing() -> None:
    """Warnings pass; a single missing part fails."""
    ok = Check("svg", "ok", "")
    warned = Check("keyring", "warning", "no service")
    assert exit_code([ok, warned]) == 0
    assert exit_code([ok, warned, Check("history", "missing", "no FTS5")]) == 1


def test_platform_plugins_missing_are_named(qapp: QApplication, tmp_path: Path) -> None:
    """A plugin folder without platform plugins is a missing part, not a crash."""
    (tmp_path / "platforms").mkdir()
    check = selftest.check_platform_plugins(dirs=[str(tmp_path)])
    assert check.status == "missing"
    assert "xcb" in check.detail or "windows" in check.detail or "cocoa" in check.detail


def test_svg_icon_engine_missing_is_named(qapp: QApplication, tmp_path: Path) -> None:
    """Without the svg icon engine plugin the check says which plugin is missing."""
    check = selftest.check_svg(dirs=[str(tmp_path)])
    assert check.status == "missing"
    assert "svg icon engine" in check.detail


def test_a_missing_certifi_bundle_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """httpx's default CA bundle must ship: its absence fails the self-test."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(tmp_path / "cacert.pem"))
    check = selftest.check_certificates()
    assert check.status == "missing"
    assert "certifi" in check.detail


def test_no_os_certificates_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OS without CA certificates is the machine's gap (install ca-certificates), not ours."""
    import ssl

    if sys.platform in ("darwin", "win32"):
        pytest.skip("the OS verifier is used there, not CA files")
    monkeypatch.setattr(
        ssl,
        "get_default_verify_paths",
        lambda: ssl.DefaultVerifyPaths(None, None, "", "", "", ""),  # type: ignore[arg-type]
    )
    check = selftest.check_certificates(ca_files=[str(tmp_path / "none.pem")])
    assert check.status == "warning"
    assert "ca-certificates" in check.detail
