"""Autostart at login: the XDG desktop entry for real, the Windows and macOS entries' content."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tidings.core.autostart import (
    APP_ID,
    MacAutostart,
    WindowsAutostart,
    XdgAutostart,
    autostart_for,
    desktop_exec,
    launch_command,
)


def _unescape_exec(value: str) -> list[str]:
    """The Exec value as a desktop environment reads it: string unescaping, then the quoting."""
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return _split_exec("".join(x or "" for x in out))


def _split_exec(value: str) -> list[str]:
    """The spec's argument rules: spaces separate; inside double quotes a backslash escapes
    one of ``"`$\\``; ``%%`` is a literal percent."""
    args: list[str] = []
    current: list[str] = []
    quoted = in_arg = False
    i = 0
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\" and i + 1 < len(value) and value[i + 1] in '"`$\\':
                current.append(value[i + 1])
                i += 2
                continue
            if c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == '"':
            quoted = in_arg = True
        elif c == " ":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


def test_launch_command_runs_the_module_or_the_frozen_executable() -> None:
    """From source it is `<python> -m tidings --background`; frozen, the executable itself."""
    assert launch_command(frozen=False, executable="/usr/bin/python3") == [
        "/usr/bin/python3",
        "-m",
        "tidings",
        "--background",
    ]
    assert launch_command(["--profile-dir", "/p"], frozen=True, executable="/opt/Tidings") == [
        "/opt/Tidings",
        "--background",
        "--profile-dir",
        "/p",
    ]
    assert launch_command()[0] == sys.executable


@pytest.mark.parametrize(
    "command",
    [
        ["/usr/bin/python3", "-m", "tidings", "--background"],
        ["/home/a b/venv/bin/python", "-m", "tidings", "--background"],
        ["/opt/x", "--profile-dir", '/srv/it\'s "quoted" $HOME `x` 100% \\ back'],
    ],
)
def test_desktop_exec_round_trips_through_the_spec_quoting(command: list[str]) -> None:
    """Spaces, quotes, dollars, backticks, percents and backslashes come back unchanged."""
    assert _unescape_exec(desktop_exec(command)) == command


def test_desktop_exec_quotes_as_the_spec_spells_it() -> None:
    """Reserved characters force double quotes, `"` and `$` get a backslash (itself escaped
    once more as a string), and a percent sign is doubled."""
    assert desktop_exec(["/a b", "100%", 'x"$']) == '"/a b" 100%% "x\\\\"\\\\$"'


def test_xdg_enable_writes_a_valid_entry_and_disable_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enable() writes $XDG_CONFIG_HOME/autostart/<id>.desktop; desktop-file-validate accepts it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    command = launch_command(["--profile-dir", str(tmp_path / "my profile")])
    autostart = XdgAutostart(command=command)
    path = tmp_path / "config" / "autostart" / f"{APP_ID}.desktop"
    assert autostart.path == path
    assert not autostart.is_enabled()

    autostart.enable()
    assert autostart.is_enabled()
    text = path.read_text(encoding="utf-8")
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert _unescape_exec(exec_line.removeprefix("Exec=")) == command
    assert "--background" in exec_line
    validator = shutil.which("desktop-file-validate")
    if validator is not None:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == ""

    autostart.disable()
    assert not path.exists()
    assert not autostart.is_enabled()
    autostart.disable()  # removing what is not there is fine


def test_xdg_entry_turned_off_by_the_desktop_counts_as_disabled(tmp_path: Path) -> None:
    """GNOME's Tweaks writes X-GNOME-Autostart-enabled=false, others Hidden=true: both are off."""
    autostart = XdgAutostart(command=["/bin/true"], config_home=tmp_path)
    autostart.enable()
    text = autostart.path.read_text(encoding="utf-8")
    autostart.path.write_text(
        text.replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"),
        encoding="utf-8",
    )
    assert not autostart.is_enabled()
    autostart.path.write_text(text + "Hidden=true\n", encoding="utf-8")
    assert not autostart.is_enabled()


def test_a_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The base directory spec says a relative $XDG_CONFIG_HOME is invalid: ~/.config is used."""
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert XdgAutostart(command=["/bin/true"]).path == (
        Path.home() / ".config" / "autostart" / f"{APP_ID}.desktop"
    )


def test_macos_launch_agent_plist(tmp_path: Path) -> None:
    """The LaunchAgent runs the command at load; written and removed under the given home."""
    agent = MacAutostart(command=["/Applications/Tidings.app/x", "--background"], home=tmp_path)
    assert not agent.is_enabled()
    agent.enable()
    data = plistlib.loads(agent.path.read_bytes())
    assert data["Label"] == APP_ID
    assert data["ProgramArguments"] == ["/Applications/Tidings.app/x", "--background"]
    assert data["RunAtLoad"] is True
    assert agent.is_enabled()
    agent.disable()
    assert not agent.is_enabled()


def test_windows_run_value_is_one_quoted_command_line() -> None:
    """The Run key's value quotes a path with spaces (the registry part runs on Windows only)."""
    run = WindowsAutostart(command=[r"C:\Program Files\Tidings\Tidings.exe", "--background"])
    assert run.value() == r'"C:\Program Files\Tidings\Tidings.exe" --background'
    if sys.platform != "win32":
        assert not run.is_enabled()
        with pytest.raises(OSError, match="Windows only"):
            run.enable()


def test_autostart_for_picks_the_platform() -> None:
    """Linux and the BSDs get XDG, macOS a LaunchAgent, Windows the Run key."""
    assert isinstance(autostart_for(platform="linux"), XdgAutostart)
    assert isinstance(autostart_for(platform="freebsd14"), XdgAutostart)
    assert isinstance(autostart_for(platform="darwin"), MacAutostart)
    assert isinstance(autostart_for(platform="win32"), WindowsAutostart)
