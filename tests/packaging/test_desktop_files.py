"""The Linux desktop integration in resources/: entry, metainfo and icons pass their validators."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from packaging_helpers import APP_ID, RESOURCES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_desktop_file_is_valid() -> None:
    """desktop-file-validate accepts the entry with no error or warning."""
    validate = tool("desktop-file-validate", "desktop-file-utils")
    proc = subprocess.run(
        [validate, str(RESOURCES / f"{APP_ID}.desktop")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stdout, proc.stdout
    assert "warning" not in proc.stdout, proc.stdout


def test_metainfo_is_valid() -> None:
    """appstreamcli validate --no-net (no web here) accepts the metainfo with no warning."""
    appstreamcli = tool("appstreamcli", "appstream")
    proc = subprocess.run(
        [appstreamcli, "validate", "--no-net", str(RESOURCES / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert not [line for line in lines if line.startswith(("E:", "W:"))], proc.stdout


def test_entry_and_metainfo_agree_on_the_app_id() -> None:
    """The desktop file's name, its icon, the metainfo id and launchable are the one app id."""
    entry = (RESOURCES / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    meta = (RESOURCES / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    assert f"Icon={APP_ID}\n" in entry
    assert f"<id>{APP_ID}</id>" in meta
    assert f'<launchable type="desktop-id">{APP_ID}.desktop</launchable>' in meta


@pytest.mark.parametrize("size", HICOLOR_SIZES)
def test_hicolor_pngs_have_their_folder_size(size: int) -> None:
    """Each hicolor/<N>x<N> PNG is N by N pixels."""
    path = RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    assert png_size(path.read_bytes()) == (size, size)


def test_ico_holds_png_entries_up_to_256() -> None:
    """The Windows icon: an ICO directory whose entries are PNGs of the sizes they claim."""
    data = (RESOURCES / "tidings.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for index in range(count):
        width, _h, _c, _r, _p, _b, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * index : 22 + 16 * index]
        )
        png = data[offset : offset + length]
        assert png_size(png)[0] == (width or 256)
        sizes.append(width or 256)
    assert {16, 32, 48, 256} <= set(sizes)


def test_icns_holds_png_entries() -> None:
    """The macOS icon: an ICNS container of PNG entries, its length field right."""
    data = (RESOURCES / "tidings.icns").read_bytes()
    assert data[:4] == b"icns"
    assert struct.unpack(">I", data[4:8])[0] == len(data)
    kinds, offset = {}, 8
    while offset < len(data):
        kind, length = (
            data[offset : offset + 4],
            struct.unpack(">I", data[offset + 4 : offset + 8])[0],
        )
        kinds[kind] = png_size(data[offset + 8 : offset + length])[0]
        offset += length
    assert kinds[b"ic07"] == 128
    assert kinds[b"ic10"] == 1024


def test_render_script_reproduces_the_committed_sizes(tmp_path: Path) -> None:
    """packaging/render_icons.py regenerates every icon file from the SVG (sizes checked)."""
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    shutil.copy(RESOURCES / "icons" / "tidings.svg", tmp_path / "resources" / "icons")
    from packaging_helpers import load_packaging_module

    render = load_packaging_module("render_icons")
    assert render.main(["--root", str(tmp_path)]) == 0
    for size in HICOLOR_SIZES:
        made = tmp_path / "resources/icons/hicolor" / f"{size}x{size}/apps/{APP_ID}.png"
        assert png_size(made.read_bytes()) == (size, size)
    assert (tmp_path / "resources" / "tidings.ico").stat().st_size > 1000
    assert (tmp_path / "resources" / "tidings.icns").stat().st_size > 1000
