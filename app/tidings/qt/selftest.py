"""``tidings --self-test``: does this build carry every part the app needs? (offscreen, no network)

Made for the PyInstaller binary on a clean machine (CI runs it on each
build), and works from a source tree or a wheel too. It checks, in order:
the Qt platform (offscreen), Qt's plugins (the desktop platform plugins load
with their system libraries; the svg icon engine and image format), the
resources and every tray icon rendered, a temporary history store (SQLite
with FTS5), the keyring backend, the notification backend, and the CA
bundles. It prints one line per check and exits 0, or 1 naming what is
missing.

What counts as missing is a defect of the build or the install: a module,
plugin, resource or data file that is not there. What depends on the session
is reported, not failed: no D-Bus session bus or notification server (Tidings
then falls back to the tray balloon), no keyring service answering (feeds
without secrets still run), an empty OS certificate store (install
``ca-certificates``), one of xcb or wayland not loading while the other does.
Without a display server plugin that loads at all, the app cannot show
anything: that is missing.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.resources
import os
import platform
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO, TypeVar

__all__ = ["Check", "exit_code", "run"]

Status = Literal["ok", "warning", "missing"]
_T = TypeVar("_T")

DESKTOP_FILE = "io.github.tidings.Tidings.desktop"
METAINFO_FILE = "io.github.tidings.Tidings.metainfo.xml"
DEFAULT_TIMEOUT = 5.0
"""The longest a check that may block (keyring, D-Bus) may take."""

# The OS certificate bundles truststore looks for on Linux (truststore/_openssl.py).
_CA_FILES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


@dataclass(frozen=True, slots=True)
class Check:
    """One part's verdict: ``ok``, ``warning`` (works, with a caveat) or ``missing``."""

    name: str
    status: Status
    detail: str


def exit_code(checks: Sequence[Check]) -> int:
    """0 when nothing is missing, else 1."""
    return 1 if any(check.status == "missing" for check in checks) else 0


def run(*, out: TextIO | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Run every check, print the report on ``out`` (stdout), return the exit code."""
    stream = out if out is not None else sys.stdout
    # Before the QApplication exists: offscreen needs no display and opens no window.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import __version__ as pyside_version  # noqa: PLC0415 - after the env is set
    from PySide6.QtCore import qVersion  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    import tidings  # noqa: PLC0415

    kind = "frozen build" if getattr(sys, "frozen", False) else "source/wheel"
    stream.write(
        f"Tidings {tidings.__version__} self-test ({kind}; {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}; Qt {qVersion()}, "
        f"PySide6 {pyside_version})\n"
    )
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "tidings"])
    checks: list[Check] = []
    steps: list[Callable[[], Check]] = [
        check_qt_platform,
        check_platform_plugins,
        check_svg,
        check_resources,
        check_tray_icons,
        lambda: check_history(timeout),
        lambda: check_keyring(timeout),
        lambda: check_notifications(timeout),
        check_certificates,
    ]
    for step in steps:
        try:
            check = step()
        except Exception as exc:  # noqa: BLE001 - a crash in a check is a finding, not the end
            name = getattr(step, "__name__", "check").removeprefix("check_")
            check = Check(name, "missing", f"crashed: {type(exc).__name__}: {exc}")
        checks.append(check)
        stream.write(f"  {check.status:<8} {check.name:<14} {check.detail}\n")
    del app
    code = exit_code(checks)
    missing = [check.name for check in checks if check.status == "missing"]
    warnings = sum(check.status == "warning" for check in checks)
    if code:
        stream.write(f"self-test FAILED: missing {', '.join(missing)}\n")
    else:
        stream.write(f"self-test passed ({warnings} warning{'s' * (warnings != 1)})\n")
    stream.flush()
    return code


# -- Qt ---------------------------------------------------------------------------------------


def check_qt_platform() -> Check:
    from PySide6.QtGui import QGuiApplication  # noqa: PLC0415

    name = QGuiApplication.platformName()
    if name != "offscreen":
        return Check("qt platform", "missing", f"expected offscreen, got {name!r}")
    return Check("qt platform", "ok", "offscreen")


def _plugin_files(kind: str, stem: str, dirs: Sequence[str] | None = None) -> list[Path]:
    """Plugin files of ``kind`` (a plugins subfolder) whose name contains ``stem``."""
    from PySide6.QtCore import QCoreApplication  # noqa: PLC0415

    found: list[Path] = []
    for directory in QCoreApplication.libraryPaths() if dirs is None else dirs:
        folder = Path(directory, kind)
        if folder.is_dir():
            found += sorted(
                p
                for p in folder.iterdir()
                if stem in p.name and p.suffix in {".so", ".dll", ".dylib"}
            )
    return found


def _load_plugin(kind: str, stem: str, dirs: Sequence[str] | None = None) -> str | None:
    """None when the plugin loads with its libraries, else why not (the missing library)."""
    from PySide6.QtCore import QPluginLoader  # noqa: PLC0415

    files = _plugin_files(kind, stem, dirs)
    if not files:
        return f"no {kind}/{stem} plugin file"
    loader = QPluginLoader(str(files[0]))
    if loader.load():
        return None
    return loader.errorString()


def check_platform_plugins(dirs: Sequence[str] | None = None) -> Check:
    """The desktop platform plugins load (their system libraries are present)."""
    wanted = {"win32": ("qwindows",), "darwin": ("qcocoa",)}.get(sys.platform, ("qxcb", "qwayland"))
    errors = {stem: _load_plugin("platforms", stem, dirs) for stem in wanted}
    offscreen = _plugin_files("platforms", "qoffscreen", dirs)
    loaded = [stem.removeprefix("q") for stem, error in errors.items() if error is None]
    failed = {stem.removeprefix("q"): error for stem, error in errors.items() if error is not None}
    said = "; ".join(f"{stem} does not load: {error}" for stem, error in failed.items())
    if not loaded:
        return Check("qt plugins", "missing", said or "no platform plugin")
    if not offscreen:
        return Check("qt plugins", "missing", "no platforms/qoffscreen plugin")
    text = f"platforms {', '.join([*loaded, 'offscreen'])} load"
    if failed:
        return Check("qt plugins", "warning", f"{text}; {said}")
    return Check("qt plugins", "ok", text)


def check_svg(dirs: Sequence[str] | None = None) -> Check:
    """The svg image format and icon engine: every icon Tidings draws is an SVG."""
    from PySide6.QtGui import QImageReader  # noqa: PLC0415

    problems = []
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    if "svg" not in formats:
        problems.append("no svg image format (imageformats/qsvg)")
    error = _load_plugin("iconengines", "qsvgicon", dirs)
    if error is not None:
        problems.append(f"no svg icon engine ({error})")
    if problems:
        return Check("svg", "missing", "; ".join(problems))
    return Check("svg", "ok", "svg image format and icon engine")


def check_resources() -> Check:
    from tidings.core.resources import resource_path  # noqa: PLC0415

    names = ["icons/tidings.svg", DESKTOP_FILE, METAINFO_FILE]
    missing = []
    for name in names:
        try:
            resource_path(name)
        except FileNotFoundError:
            missing.append(name)
    if missing:
        return Check("resources", "missing", f"not found: {', '.join(missing)}")
    return Check("resources", "ok", str(resource_path(names[0]).parent.parent))


def check_tray_icons() -> Check:
    """Every tray state in both themes renders into a non-empty picture, with a badge."""
    from PySide6.QtGui import QIcon  # noqa: PLC0415

    from tidings.core.resources import resource_path  # noqa: PLC0415
    from tidings.core.tray_state import TrayState  # noqa: PLC0415
    from tidings.qt.icons import TrayIcons  # noqa: PLC0415

    bad: list[str] = []
    count = 0
    for dark in (False, True):
        icons = TrayIcons(dark=dark)
        for state in TrayState:
            image = icons.image(state, unread=3, size=32)
            count += 1
            if image.isNull() or not any(
                image.pixelColor(x, y).alpha() for x in range(0, 32, 2) for y in range(0, 32, 2)
            ):
                bad.append(f"{state.value}-{'dark' if dark else 'light'}")
    if QIcon(str(resource_path("icons/tidings.svg"))).pixmap(48, 48).isNull():
        bad.append("tidings.svg")
    if bad:
        return Check("tray icons", "missing", f"blank or unreadable: {', '.join(bad)}")
    return Check("tray icons", "ok", f"{count} tray icons and the app icon render")


# -- the rest of the app ----------------------------------------------------------------------


def check_history(timeout: float) -> Check:
    """A temporary history store opens (schema, WAL, FTS5) and answers a search."""
    from tidings.core.history import HistoryStore  # noqa: PLC0415

    async def probe(path: Path) -> int:
        async with asyncio.timeout(timeout), HistoryStore(path) as store:
            await store.search("selftest")
            return await store.count()

    with tempfile.TemporaryDirectory(prefix="tidings-selftest-") as tmp:
        count = asyncio.run(probe(Path(tmp) / "history.sqlite3"))
    return Check("history", "ok", f"SQLite {_sqlite_version()} with FTS5 ({count} events)")


def _sqlite_version() -> str:
    import sqlite3  # noqa: PLC0415

    return sqlite3.sqlite_version


def _bounded(work: Callable[[], _T], timeout: float) -> _T:
    """``work()`` on a daemon thread, abandoned after ``timeout`` (TimeoutError)."""
    result: list[_T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            error.append(exc)

    thread = threading.Thread(target=target, name="tidings-selftest", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if error:
        raise error[0]
    return result[0]


_KEYRING_MODULES = {
    "linux": ("keyring.backends.SecretService", "secretstorage", "jeepney"),
    "win32": ("keyring.backends.Windows",),
    "darwin": ("keyring.backends.macOS",),
}


def check_keyring(timeout: float) -> Check:
    """keyring's backends are bundled (modules and entry points); which one answers here."""
    from tidings.core.secrets import KeyringStore  # noqa: PLC0415

    modules = _KEYRING_MODULES.get(sys.platform, _KEYRING_MODULES["linux"])
    absent = [name for name in modules if not _importable(name)]
    entry_points = importlib.metadata.entry_points(group="keyring.backends")
    if not entry_points:
        absent.append("keyring's entry points (its metadata)")
    if absent:
        return Check("keyring", "missing", f"not bundled: {', '.join(absent)}")
    store = KeyringStore(timeout=timeout)
    try:
        name = _bounded(lambda: store.name, timeout)
    except TimeoutError as exc:
        return Check("keyring", "warning", f"the keyring did not answer: {exc}")
    if name.endswith("(unusable)"):
        return Check(
            "keyring", "warning", f"{name}: no keyring service here (feeds with secrets wait)"
        )
    return Check("keyring", "ok", name)


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def check_notifications(timeout: float) -> Check:
    """The native notification backend is bundled; who answers on this session (if anyone)."""
    if sys.platform in ("darwin", "win32"):
        return _check_desktop_notifier()
    if not _importable("dbus_fast.aio"):
        return Check("notifications", "missing", "not bundled: dbus_fast")
    from tidings.notify.base import NotifierError  # noqa: PLC0415
    from tidings.notify.freedesktop import probe_server  # noqa: PLC0415

    try:
        info = asyncio.run(probe_server(limit=timeout))
    except NotifierError as exc:
        return Check("notifications", "warning", f"freedesktop: {exc} (tray balloon fallback)")
    return Check("notifications", "ok", f"freedesktop ({info.label})")


def _check_desktop_notifier() -> Check:
    try:
        from desktop_notifier.main import get_backend_class  # noqa: PLC0415

        backend = get_backend_class()
        icons = [p.name for p in importlib.resources.files("desktop_notifier.resources").iterdir()]
    except (ImportError, RuntimeError, OSError) as exc:
        return Check("notifications", "missing", f"desktop-notifier: {exc}")
    if not any(name.endswith(".png") for name in icons):
        return Check("notifications", "missing", "desktop-notifier's resources are not bundled")
    return Check("notifications", "ok", f"desktop-notifier ({backend.__name__})")


def check_certificates(*, ca_files: Sequence[str] = _CA_FILES) -> Check:
    """truststore works and finds the OS certificates; certifi's bundle is there."""
    try:
        import certifi  # noqa: PLC0415
        import truststore  # noqa: PLC0415

        truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bundle = Path(certifi.where())
    except (ImportError, OSError, ssl.SSLError) as exc:
        return Check("certificates", "missing", f"{type(exc).__name__}: {exc}")
    certifi_count = _count_cas(str(bundle)) if bundle.is_file() else 0
    if not certifi_count:
        return Check("certificates", "missing", f"certifi's CA bundle is missing: {bundle}")
    if sys.platform in ("darwin", "win32"):
        return Check("certificates", "ok", f"OS verifier (truststore); certifi {certifi_count} CAs")
    system = _system_ca_count(ca_files)
    if not system:
        return Check(
            "certificates",
            "warning",
            f"no OS CA certificates found (install ca-certificates); certifi {certifi_count} CAs",
        )
    return Check(
        "certificates", "ok", f"OS store {system} CAs (truststore); certifi {certifi_count}"
    )


def _system_ca_count(ca_files: Sequence[str]) -> int:
    defaults = ssl.get_default_verify_paths()
    if defaults.cafile:
        return _count_cas(defaults.cafile)
    if defaults.capath and Path(defaults.capath).is_dir():
        count = sum(1 for p in Path(defaults.capath).iterdir() if p.name[-2:-1] == ".")
        if count:
            return count
    for candidate in ca_files:
        if Path(candidate).is_file():
            return _count_cas(candidate)
    return 0


def _count_cas(cafile: str) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=cafile)
    except (OSError, ssl.SSLError):
        return 0
    return int(context.cert_store_stats()["x509_ca"])
