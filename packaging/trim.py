"""What the PyInstaller build leaves out, and the artifacts' names: shared by the spec and scripts.

Kept on purpose, because the app uses them: QtCore, QtGui, QtWidgets, QtSvg
(tray icons), QtDBus (the StatusNotifierItem tray on Linux), QtNetwork (the
single-instance messenger's local socket), the xcb, wayland and offscreen
platform plugins with their shell, decoration and GL integrations, the compose
and ibus input contexts (dead keys, CJK input), the xdg-desktop-portal platform
theme (file dialogs and the colour scheme in sandboxes), the svg icon engine
and the svg and ico image formats, Qt's qtbase translations, keyring's backends
and metadata, secretstorage + cryptography (the Secret Service), dbus-fast,
desktop-notifier's data, certifi, and ``resources/``.

Everything in :data:`DROP_GROUPS` goes, then (Linux) every bundled shared
library that no kept binary links to any more. ``packaging/measure.py
--trim-report DIST`` sizes each group in an untrimmed build (``-- --no-trim``);
the figures are in packaging/README.md.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

__all__ = [
    "APP_ID",
    "DROP_GROUPS",
    "EXCLUDED_MODULES",
    "artifact_name",
    "drop_reason",
    "platform_tag",
    "unreachable_libraries",
]

APP_ID = "io.github.tidings.Tidings"

EXCLUDED_MODULES: tuple[str, ...] = (
    # Nothing in Tidings imports these; listed so that a stray import in a dependency can never
    # pull them (and their hundreds of MB: WebEngine alone is ~200 MB) into the bundle.
    "tkinter",
    "_tkinter",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtWebEngineQuick",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtMultimedia",
    "PySide6.QtSql",
    "PySide6.QtPrintSupport",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtTest",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    # Development-only modules some libraries import defensively.
    "pydoc",
    "doctest",
    "unittest",
    "lib2to3",
    "pytest",
    "IPython",
)

DROP_GROUPS: dict[str, tuple[str, ...]] = {
    # Platform plugins for kiosks and embedded boards, not desktops.
    "platforms: eglfs, linuxfb, minimal, vnc, vkkhrdisplay": (
        r"plugins/platforms/(lib)?q(eglfs|linuxfb|minimal|minimalegl|vnc|vkkhrdisplay)\.",
        r"plugins/egldeviceintegrations/",
        r"(^|/)libQt6EglFs",
    ),
    # Qt's GTK 3 theme links GTK, GDK, cairo, pango and atk: PyInstaller would copy the build
    # host's copies into the bundle. Without it Qt draws its own (Fusion) widgets and dialogs;
    # the xdg-desktop-portal theme still gives the system's colour scheme.
    "platformtheme: gtk3 (and GTK's libraries)": (r"plugins/platformthemes/(lib)?qgtk3\.",),
    # evdev and tslib input: for devices without a display server.
    "generic input plugins (evdev, tuio)": (r"plugins/generic/",),
    # The Qt Virtual Keyboard input context needs QtQuick.
    "input context: virtual keyboard": (r"plugins/platforminputcontexts/(lib)?qtvirtualkeyboard",),
    # The icons are SVG (and ICO on Windows): Tidings decodes no other image format.
    "image formats but svg, ico": (
        r"plugins/imageformats/(lib)?q(gif|jpeg|tiff|webp|wbmp|tga|pdf|icns)\.",
    ),
    # HTTPS goes through httpx with truststore; QtNetwork here only carries a local socket.
    "Qt TLS backends": (r"plugins/tls/",),
    # QNetworkInformation is not used (network changes are seen by the SSE connections).
    "network information plugins": (r"plugins/networkinformation/",),
    # Only qtbase_*.qm is loaded (qt/main.py): Qt's other catalogs are for modules not shipped.
    "translations but qtbase_*": (r"translations/(?!qtbase_)[^/]*\.qm$",),
}

_ALWAYS_KEEP = (
    # QtDBus may open libdbus at run time; Python's own library is loaded by the bootloader.
    re.compile(r"^libdbus-1\.so"),
    re.compile(r"^libpython"),
)
_SHARED_LIBRARY = re.compile(r"^lib[^/]*\.so(\.\d+)*$")


def drop_reason(dest: str) -> str | None:
    """The group that drops the bundled file ``dest`` (its path in the bundle), or None to keep."""
    path = dest.replace("\\", "/")
    for group, patterns in DROP_GROUPS.items():
        if any(re.search(pattern, path) for pattern in patterns):
            return group
    return None


def unreachable_libraries(
    binaries: Iterable[tuple[str, str]], imports: Callable[[str], Iterable[str]]
) -> set[str]:
    """The plain shared libraries (``lib*.so*``) among ``binaries`` that nothing kept links to.

    ``binaries``: (path in the bundle, file to inspect) pairs. ``imports(file)``: the names
    of the libraries that file loads, transitively (``ldd``'s view). Roots are every binary
    that is not a plain shared library: Python extensions, Qt plugins, the executable.
    Returns the bundle paths to drop. Linux only: elsewhere Qt's plugins link only Qt.
    """
    entries = [(dest.replace("\\", "/"), source) for dest, source in binaries]

    def is_library(dest: str) -> bool:
        name = PurePosixPath(dest).name
        return (
            "/plugins/" not in f"/{dest}"
            and _SHARED_LIBRARY.match(name) is not None
            and not any(pattern.match(name) for pattern in _ALWAYS_KEEP)
        )

    needed: set[str] = set()
    for dest, source in entries:
        if not is_library(dest):
            needed.update(PurePosixPath(name).name for name in imports(source))
    return {
        dest
        for dest, _source in entries
        if is_library(dest) and PurePosixPath(dest).name not in needed
    }


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-x86_64``, ``macos-arm64``...: the artifacts' platform part."""
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def artifact_name(version: str, *, onefile: bool = False) -> str:
    """``tidings-<version>-<platform>``: the onedir folder; with ``-onefile`` appended, the
    onefile executable (the same name would replace the folder in ``dist/``)."""
    return f"tidings-{version}-{platform_tag()}" + ("-onefile" if onefile else "")
