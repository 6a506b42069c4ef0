"""``tidings install-desktop-entry``: a menu entry, icons and metainfo for the user (Linux, BSDs).

For people who run the binary or a pip/pipx install: a system package would
install these itself. Everything goes below ``$XDG_DATA_HOME`` (default
``~/.local/share``), nothing needs root::

    applications/io.github.tidings.Tidings.desktop      Exec= this very program
    icons/hicolor/<N>x<N>/apps/io.github.tidings.Tidings.png, scalable/apps/...svg
    metainfo/io.github.tidings.Tidings.metainfo.xml

``--uninstall`` removes exactly those files. The entry is the one in
``resources/`` with ``Exec`` and ``TryExec`` pointing at the program that ran
the command: the frozen executable, or ``<python> -m tidings``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tidings.cli._common import EXIT_FAILURE, EXIT_OK, ArgumentParser
from tidings.core.autostart import BACKGROUND_FLAG, desktop_exec, launch_command
from tidings.core.resources import resource_path

__all__ = ["APP_ID", "data_home", "desktop_entry_text", "planned_files", "register"]

APP_ID = "io.github.tidings.Tidings"
_HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
_CACHE_TIMEOUT = 20.0


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings install-desktop-entry`` to the command line."""
    parser = commands.add_parser(
        "install-desktop-entry",
        help="add Tidings to your applications menu (Linux: desktop entry, icons, metainfo)",
        description="Install a desktop entry that starts this Tidings (the binary or this "
        "Python's `-m tidings`), its icons and its AppStream metainfo below $XDG_DATA_HOME "
        "(~/.local/share). No root needed. --uninstall removes them.",
    )
    parser.add_argument(
        "--uninstall", action="store_true", help="remove the files this command installs"
    )
    parser.set_defaults(handler=run)


def data_home(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` when it is absolute (the spec ignores a relative one), else
    ``~/.local/share``."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local/share"


def planned_files(home: Path) -> dict[Path, str]:
    """Each installed file and the resource it comes from (the desktop entry is rewritten)."""
    files = {
        home / "applications" / f"{APP_ID}.desktop": f"{APP_ID}.desktop",
        home / "metainfo" / f"{APP_ID}.metainfo.xml": f"{APP_ID}.metainfo.xml",
        home / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg": "icons/tidings.svg",
    }
    for size in _HICOLOR_SIZES:
        name = f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"
        files[home / name] = name
    return files


def desktop_entry_text(template: str, command: Sequence[str]) -> str:
    """The packaged desktop entry with ``Exec`` and ``TryExec`` set to ``command``."""
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            lines.append(f"Exec={desktop_exec(command)}")
        elif line.startswith("TryExec="):
            lines.append(f"TryExec={desktop_exec(command[:1])}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _command(profile_dir: str | None) -> list[str]:
    command = [arg for arg in launch_command() if arg != BACKGROUND_FLAG]
    if profile_dir:
        command += ["--profile-dir", str(Path(profile_dir).expanduser().resolve())]
    return command


def run(args: argparse.Namespace) -> int:
    if sys.platform in ("win32", "darwin"):
        print(
            "tidings: install-desktop-entry is for Linux and other freedesktop desktops "
            "(the Windows and macOS builds need no menu entry)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    home = data_home()
    files = planned_files(home)
    if args.uninstall:
        for target in files:
            if target.exists():
                target.unlink()
                print(f"removed {target}")
        _refresh_caches(home)
        return EXIT_OK
    command = _command(getattr(args, "profile_dir", None))
    try:
        for target, name in files.items():
            source = resource_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".desktop":
                text = desktop_entry_text(source.read_text(encoding="utf-8"), command)
                target.write_text(text, encoding="utf-8")
            else:
                shutil.copyfile(source, target)
            print(f"installed {target}")
    except OSError as exc:
        print(f"tidings: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    _refresh_caches(home)
    print(f"Tidings is in your applications menu; it starts: {' '.join(command)}")
    return EXIT_OK


def _refresh_caches(home: Path) -> None:
    """Tell the menu and the icon theme about the change, when their tools are installed
    (desktops also notice on their own, some only at the next login)."""
    for tool, target in (
        ("update-desktop-database", home / "applications"),
        ("gtk-update-icon-cache", home / "icons/hicolor"),
    ):
        path = shutil.which(tool)
        if path is None or not target.is_dir():
            continue
        extra = ["-f", "-t"] if tool == "gtk-update-icon-cache" else []
        # A stale cache only delays the icon until the next login: failures are not errors.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [path, "-q", *extra, str(target)],
                timeout=_CACHE_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
