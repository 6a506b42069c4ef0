"""Starting Tidings at login: XDG autostart (Linux), the Run key (Windows), a LaunchAgent (macOS).

Every platform's way is one small class with ``is_enabled()``, ``enable()``
and ``disable()``; :func:`autostart_for` picks the one for this machine. The
command started at login is the frozen executable (a PyInstaller build) or
``<python> -m tidings``, always with ``--background`` so that the app starts
in the tray. Only the Linux one runs in CI; the Windows and macOS ones are
written from their documentation and unverified until someone runs them there.

Qt-free on purpose: ``tidings doctor`` may report it, and the GUI only calls it.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

__all__ = [
    "APP_ID",
    "Autostart",
    "MacAutostart",
    "WindowsAutostart",
    "XdgAutostart",
    "autostart_for",
    "desktop_exec",
    "launch_command",
]

APP_ID = "io.github.tidings.Tidings"
"""The reverse-DNS id: the autostart file's and the LaunchAgent's name (as in qt/main.py)."""
BACKGROUND_FLAG = "--background"
_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
_RUN_VALUE = "Tidings"


class Autostart(Protocol):
    """One platform's way of starting Tidings at login."""

    @property
    def location(self) -> str:
        """Where the entry lives (a file, a registry value), to show to the user."""
        ...

    def is_enabled(self) -> bool: ...

    def enable(self) -> None:
        """Install (or rewrite) the entry. Raises OSError when it cannot be written."""
        ...

    def disable(self) -> None:
        """Remove the entry; removing one that is not there is not an error."""
        ...


def launch_command(
    extra: Sequence[str] = (),
    *,
    frozen: bool | None = None,
    executable: str | None = None,
) -> list[str]:
    """The command that starts Tidings in the background: the frozen executable, or
    ``<python> -m tidings``, then ``--background`` and ``extra`` (``--profile-dir DIR``)."""
    if frozen is None:
        frozen = bool(getattr(sys, "frozen", False))
    exe = executable or sys.executable
    base = [exe] if frozen else [exe, "-m", "tidings"]
    return [*base, BACKGROUND_FLAG, *extra]


# -- Linux and other freedesktop systems ---------------------------------------------

# Characters that force an argument into double quotes (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_exec(command: Sequence[str]) -> str:
    """``command`` as the value of a desktop entry's ``Exec`` key.

    Two layers, as the spec says: an argument with a reserved character is
    double-quoted with ``"`` `` ` `` ``$`` ``\\`` backslash-escaped inside; a
    literal ``%`` is doubled (field codes); then the whole value is escaped as
    a desktop-entry string (``\\`` doubled, control characters as ``\\n`` ...).
    """
    quoted = []
    for arg in command:
        text = arg.replace("%", "%%")
        if not text or any(c in _RESERVED for c in text):
            inner = "".join("\\" + c if c in '"`$\\' else c for c in text)
            text = f'"{inner}"'
        quoted.append(text)
    value = " ".join(quoted)
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


class XdgAutostart:
    """``$XDG_CONFIG_HOME/autostart/<APP_ID>.desktop`` (freedesktop's Desktop Application
    Autostart spec), read by GNOME, KDE, Xfce and most others."""

    def __init__(
        self, *, command: Sequence[str] | None = None, config_home: Path | None = None
    ) -> None:
        """``config_home`` defaults to ``$XDG_CONFIG_HOME``, else ``~/.config``, read when used."""
        self._command = list(command) if command is not None else launch_command()
        self._config_home = config_home

    @property
    def path(self) -> Path:
        home = self._config_home
        if home is None:
            env = os.environ.get("XDG_CONFIG_HOME", "")
            # The spec: a relative value is invalid and must be ignored.
            home = Path(env) if env and Path(env).is_absolute() else Path.home() / ".config"
        return home / "autostart" / f"{APP_ID}.desktop"

    @property
    def location(self) -> str:
        return str(self.path)

    def entry(self) -> str:
        """The desktop entry's text."""
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            "Name=Tidings",
            "Comment=Server-Sent Events as desktop notifications",
            f"Exec={desktop_exec(self._command)}",
            "Terminal=false",
            "Categories=Network;",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
        return "\n".join(lines)

    def is_enabled(self) -> bool:
        """Installed, and neither hidden nor turned off by the desktop's own autostart tool."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        keys = _desktop_keys(text)
        return (
            keys.get("Hidden", "false") != "true"
            and keys.get("X-GNOME-Autostart-enabled", "true") != "false"
        )

    def enable(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(self.entry(), encoding="utf-8")
        temp.replace(path)

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


def _desktop_keys(text: str) -> dict[str, str]:
    """The keys of a desktop file's ``[Desktop Entry]`` group (unlocalised, unescaped enough
    for booleans)."""
    keys: dict[str, str] = {}
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        if group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


# -- macOS ----------------------------------------------------------------------------


class MacAutostart:
    """``~/Library/LaunchAgents/<APP_ID>.plist`` with ``RunAtLoad``. Untested here (no macOS)."""

    def __init__(self, *, command: Sequence[str] | None = None, home: Path | None = None) -> None:
        self._command = list(command) if command is not None else launch_command()
        self._home = home

    @property
    def path(self) -> Path:
        home = self._home or Path.home()
        return home / "Library" / "LaunchAgents" / f"{APP_ID}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def plist(self) -> bytes:
        return plistlib.dumps(
            {
                "Label": APP_ID,
                "ProgramArguments": self._command,
                "RunAtLoad": True,
                "ProcessType": "Interactive",
            }
        )

    def is_enabled(self) -> bool:
        try:
            data = plistlib.loads(self.path.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            return False
        return bool(data.get("RunAtLoad")) and not data.get("Disabled", False)

    def enable(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.plist())

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


# -- Windows --------------------------------------------------------------------------


class WindowsAutostart:
    """The ``HKCU\\...\\CurrentVersion\\Run`` value ``Tidings``. Untested here (no Windows)."""

    def __init__(self, *, command: Sequence[str] | None = None) -> None:
        command = list(command) if command is not None else launch_command()
        if command and Path(command[0]).name.lower() == "python.exe":
            # pythonw.exe runs the same interpreter without opening a console window.
            windowless = Path(command[0]).with_name("pythonw.exe")
            if windowless.is_file():
                command[0] = str(windowless)
        self._command = command

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{_RUN_KEY}\\{_RUN_VALUE}"

    def value(self) -> str:
        return subprocess.list2cmdline(self._command)

    def is_enabled(self) -> bool:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415 - Windows only

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                    value, _kind = winreg.QueryValueEx(key, _RUN_VALUE)
            except OSError:
                return False
            return bool(value)
        return False

    def enable(self) -> None:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415

            with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                winreg.SetValueEx(key, _RUN_VALUE, 0, winreg.REG_SZ, self.value())
        else:
            raise OSError("the Run key exists on Windows only")

    def disable(self) -> None:
        if sys.platform == "win32":
            import winreg  # noqa: PLC0415

            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE
                ) as key:
                    winreg.DeleteValue(key, _RUN_VALUE)
            except FileNotFoundError:
                pass


def autostart_for(
    extra: Sequence[str] = (), *, platform: str | None = None
) -> XdgAutostart | MacAutostart | WindowsAutostart:
    """This machine's autostart, starting ``launch_command(extra)``."""
    platform = platform or sys.platform
    command = launch_command(extra)
    if platform.startswith("win"):
        return WindowsAutostart(command=command)
    if platform == "darwin":
        return MacAutostart(command=command)
    return XdgAutostart(command=command)
