"""What the PyInstaller build drops (packaging/trim.py): never a part the app needs."""

from __future__ import annotations

import re

import pytest
from packaging_helpers import ROOT, load_packaging_module

trim = load_packaging_module("trim")

KEPT = [
    "PySide6/Qt/plugins/platforms/libqxcb.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/qwindows.dll",
    "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
    "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so",
    "PySide6/Qt/plugins/imageformats/qico.dll",
    "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
    "PySide6/Qt/plugins/platforminputcontexts/libcomposeplatforminputcontextplugin.so",
    "PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
    "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
    "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
    "PySide6/Qt/lib/libQt6DBus.so.6",
    "PySide6/Qt/lib/libQt6Svg.so.6",
    "PySide6/Qt/translations/qtbase_de.qm",
    "tidings/resources/icons/tidings.svg",
    "keyring-25.7.0.dist-info/entry_points.txt",
    "certifi/cacert.pem",
    "desktop_notifier/resources/python.png",
]
DROPPED = [
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimal.so",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "PySide6/Qt/plugins/imageformats/qwebp.dll",
    "PySide6/Qt/plugins/tls/libqopensslbackend.so",
    "PySide6/Qt/plugins/generic/libqevdevmouseplugin.so",
    "PySide6/Qt/translations/qtwebengine_de.qm",
    "PySide6/Qt/translations/qt_de.qm",
]


@pytest.mark.parametrize("dest", KEPT)
def test_what_the_app_needs_is_kept(dest: str) -> None:
    """Platform, svg and input plugins, Qt's own translations and our data stay in the bundle."""
    assert trim.drop_reason(dest) is None


@pytest.mark.parametrize("dest", DROPPED)
def test_what_it_never_uses_is_dropped(dest: str) -> None:
    """Kiosk platforms, the GTK theme, other image formats, TLS plugins and catalogs go."""
    assert trim.drop_reason(dest) is not None
    assert trim.drop_reason(dest.replace("/", "\\")) is not None  # Windows paths too


def test_libraries_only_dropped_plugins_needed_go_too() -> None:
    """A library no kept binary links to is unreachable; libdbus and libpython always stay."""
    binaries = [
        ("PySide6/QtGui.abi3.so", "/src/QtGui.abi3.so"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/src/libqxcb.so"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6"),
        ("libxcb-cursor.so.0", "/src/libxcb-cursor.so.0"),
        ("libgtk-3.so.0", "/src/libgtk-3.so.0"),
        ("libdbus-1.so.3", "/src/libdbus-1.so.3"),
        ("libpython3.11.so.1.0", "/src/libpython3.11.so.1.0"),
    ]
    links = {
        "/src/QtGui.abi3.so": ["libQt6Gui.so.6"],
        "/src/libqxcb.so": ["/some/where/libxcb-cursor.so.0", "libQt6Gui.so.6"],
    }
    unused = trim.unreachable_libraries(binaries, lambda source: links.get(source, []))
    assert unused == {"libgtk-3.so.0"}


def test_artifact_names_carry_version_and_platform() -> None:
    """dist/tidings-<version>-<os>-<arch>: what the build script and the workflow upload."""
    name = trim.artifact_name("1.2.3")
    assert re.fullmatch(r"tidings-1\.2\.3-(linux|windows|macos)-[a-z0-9_]+", name), name
    # The onefile program must not take the onedir folder's name: it would replace it.
    assert trim.artifact_name("1.2.3", onefile=True) == f"{name}-onefile"


def test_the_spec_uses_the_shared_rules() -> None:
    """The spec excludes, trims and names through trim.py, and collects what ENV.md names."""
    spec = (ROOT / "packaging" / "tidings.spec").read_text(encoding="utf-8")
    for needle in (
        "EXCLUDED_MODULES",
        "drop_reason",
        "unreachable_libraries",
        "artifact_name",
        'collect_submodules("keyring.backends")',
        'copy_metadata("keyring")',
        '"desktop_notifier.resources"',
        'collect_data_files("desktop_notifier")',
        'collect_data_files("certifi")',
        '"LSUIElement": True',
        "windows_app_id.py",
    ):
        assert needle in spec, needle
