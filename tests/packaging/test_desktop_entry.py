"""``tidings install-desktop-entry``: the menu entry, icons and metainfo below $XDG_DATA_HOME."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging_helpers import APP_ID, child_env

from tidings.cli.desktop_entry import data_home, desktop_entry_text

pytestmark = pytest.mark.timeout(60)


def tidings(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args],
        capture_output=True,
        text=True,
        env=child_env(XDG_DATA_HOME=str(home), HOME=str(home.parent)),
        timeout=45,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_installs_an_entry_that_starts_this_tidings_then_uninstalls(tmp_path: Path) -> None:
    """Entry (Exec: this Python's -m tidings), 9 PNGs, the SVG, metainfo; --uninstall removes."""
    home = tmp_path / "data"
    proc = tidings(home, "install-desktop-entry")
    assert proc.returncode == 0, proc.stderr
    entry = home / "applications" / f"{APP_ID}.desktop"
    text = entry.read_text(encoding="utf-8")
    assert f"Exec={sys.executable} -m tidings\n" in text
    assert f"TryExec={sys.executable}\n" in text
    assert f"Icon={APP_ID}\n" in text
    pngs = sorted(home.glob(f"icons/hicolor/*/apps/{APP_ID}.png"))
    assert len(pngs) == 9
    assert (home / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    assert (home / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    validate = shutil.which("desktop-file-validate")
    if validate is not None:
        check = subprocess.run(
            [validate, str(entry)], capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stdout

    proc = tidings(home, "install-desktop-entry", "--uninstall")
    assert proc.returncode == 0, proc.stderr
    assert not entry.exists()
    assert not list(home.glob(f"icons/hicolor/*/apps/{APP_ID}.*"))
    assert not (home / "metainfo" / f"{APP_ID}.metainfo.xml").exists()


def test_profile_dir_goes_into_the_entry(tmp_path: Path) -> None:
    """`tidings --profile-dir DIR install-desktop-entry`: the menu starts that profile."""
    home = tmp_path / "data"
    profile = tmp_path / "my profile"
    proc = tidings(home, "--profile-dir", str(profile), "install-desktop-entry")
    assert proc.returncode == 0, proc.stderr
    text = (home / "applications" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    assert f'--profile-dir "{profile}"' in text


def test_a_binary_path_with_spaces_is_quoted_as_the_spec_says() -> None:
    """Exec quotes an argument with a space; TryExec names the program alone."""
    template = "[Desktop Entry]\nExec=tidings\nTryExec=tidings\nName=Tidings\n"
    text = desktop_entry_text(template, ["/opt/My Apps/tidings"])
    assert 'Exec="/opt/My Apps/tidings"\n' in text
    assert 'TryExec="/opt/My Apps/tidings"\n' in text
    assert "Name=Tidings\n" in text


def test_data_home_follows_xdg_and_ignores_a_relative_value(tmp_path: Path) -> None:
    """$XDG_DATA_HOME when absolute, else ~/.local/share (the base-directory spec)."""
    assert data_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path
    assert data_home({"XDG_DATA_HOME": "relative/dir"}) == Path.home() / ".local/share"
    assert data_home({}) == Path.home() / ".local/share"
