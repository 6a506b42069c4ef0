"""A private desktop session for tests: our own D-Bus session bus, gnome-keyring, Xvfb, dunst.

Never the host's bus: each session binds a bus socket in a temporary
directory and points ``DBUS_SESSION_BUS_ADDRESS`` at it. Every process
started here is killed by PID when the session ends.

``start_bus(activation=False)`` starts a bus that cannot start services on
demand (no service directories): a test that kills the notification daemon
then sees it gone, instead of the bus trying to start Debian's dunst again.
``start_display`` runs Xvfb on a free display; ``start_dunst`` runs dunst on
the bus and display with a test dunstrc (nothing expires, no stacking, a
``dmenu`` script that picks the context-menu line a test asks for).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["DUNSTRC", "DesktopSession", "require_binaries"]

# Nothing expires, nothing stacks or merges, and the context menu ("dunstctl context")
# is our script: it records the lines dunst offers and prints the one a test chose.
DUNSTRC = """\
[global]
    monitor = 0
    follow = none
    width = 300
    height = 300
    origin = top-right
    offset = 10x50
    notification_limit = 0
    indicate_hidden = yes
    font = Monospace 8
    markup = {markup}
    format = "<b>%s</b>\\n%b"
    stack_duplicates = false
    sticky_history = yes
    history_length = 100
    show_indicators = no
    dmenu = {dmenu}
    browser = /bin/true
    always_run_script = false
    mouse_left_click = do_action, close_current
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

_DMENU = """\
#!/bin/sh
# dunst pipes the context menu's lines here; print the line the test asked for.
cat > "{root}/dmenu-offered"
want=$(cat "{root}/dmenu-choice" 2>/dev/null)
grep -F -- "$want" "{root}/dmenu-offered" | head -n 1
"""

_BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def require_binaries(*names: str) -> None:
    """Skip (a failure in CI) when a desktop program is not installed."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"desktop: not installed: {', '.join(missing)} (scripts/test installs them)")


@dataclass
class DesktopSession:
    """A D-Bus session bus, optionally with an unlocked (or locked) gnome-keyring."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dunst_log: Path | None = None
    dunst: subprocess.Popen[bytes] | None = None
    """The last dunst started (a test may kill it)."""

    @property
    def bus_address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]

    def start_bus(self, *, activation: bool = True) -> None:
        """Start the bus; ``activation=False``: no service starts on demand (see above)."""
        require_binaries("dbus-daemon")
        home = self.root / "home"
        runtime = self.root / "run"
        home.mkdir(parents=True, exist_ok=True)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket = runtime / "bus"
        self.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
        for key in ("DISPLAY", "WAYLAND_DISPLAY", "GNOME_KEYRING_CONTROL", "SSH_AUTH_SOCK"):
            self.env.pop(key, None)
        if activation:
            how = ["--session", f"--address=unix:path={socket}"]
        else:
            config = self.root / "bus.conf"
            config.write_text(_BUS_CONFIG.format(socket=socket), encoding="utf-8")
            how = [f"--config-file={config}"]
        proc = subprocess.Popen(
            ["dbus-daemon", *how, "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        self._procs.append(proc)
        assert proc.stdout is not None
        address = proc.stdout.readline().decode().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not print its address")
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address

    def start_keyring(self, password: str | None = "tidings-test-password") -> None:
        """Start gnome-keyring's secrets component; unlocked with ``password``, or locked with None.

        The password must be non-empty: an empty one creates no login
        collection and every call fails with "Prompt dismissed".
        """
        require_binaries("gnome-keyring-daemon")
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if password is not None:
            args.insert(2, "--unlock")
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        self._procs.append(proc)
        assert proc.stdin is not None
        if password is not None:
            proc.stdin.write(password.encode())
        proc.stdin.close()
        self._wait_for_name("org.freedesktop.secrets")

    def start_display(self, within: float = 10.0) -> str:
        """Start Xvfb on a free display (``-displayfd``); returns and sets ``DISPLAY``."""
        require_binaries("Xvfb")
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    "1024x768x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.env,
            )
        finally:
            os.close(write_fd)
        self._procs.append(proc)
        number = b""
        deadline = time.monotonic() + within
        try:
            while not number.endswith(b"\n"):
                left = deadline - time.monotonic()
                ready, _, _ = select.select([read_fd], [], [], max(0.0, left))
                if not ready:
                    raise RuntimeError(f"Xvfb did not report a display within {within:g} s")
                chunk = os.read(read_fd, 64)
                if not chunk:
                    raise RuntimeError(f"Xvfb exited ({proc.poll()}) before reporting a display")
                number += chunk
        finally:
            os.close(read_fd)
        display = f":{number.decode().strip()}"
        self.env["DISPLAY"] = display
        return display

    def start_dunst(self, *, markup: str = "full") -> subprocess.Popen[bytes]:
        """Start dunst (needs :meth:`start_display` first) with the test dunstrc; returns it.

        ``markup``: dunst's ``markup`` setting (``full``, ``strip`` or ``no``).
        """
        require_binaries("dunst", "dunstctl")
        if "DISPLAY" not in self.env:
            raise RuntimeError("start_display() first: dunst needs an X display")
        config_dir = self.root / "dunst"
        config_dir.mkdir(parents=True, exist_ok=True)
        dmenu = config_dir / "dmenu"
        dmenu.write_text(_DMENU.format(root=config_dir), encoding="utf-8")
        dmenu.chmod(0o755)
        dunstrc = config_dir / "dunstrc"
        dunstrc.write_text(DUNSTRC.format(markup=markup, dmenu=dmenu), encoding="utf-8")
        self.dunst_log = config_dir / "dunst.log"
        log = self.dunst_log.open("ab")
        try:
            proc = subprocess.Popen(
                ["dunst", "-config", str(dunstrc)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
            )
        finally:
            log.close()
        self._procs.append(proc)
        self.dunst = proc
        self._wait_for_name("org.freedesktop.Notifications")
        return proc

    def choose_in_context_menu(self, text: str) -> None:
        """Make the next ``dunstctl context`` pick the menu line containing ``text``."""
        (self.root / "dunst" / "dmenu-choice").write_text(text, encoding="utf-8")

    def offered_in_context_menu(self) -> list[str]:
        """The lines dunst offered at the last ``dunstctl context``."""
        path = self.root / "dunst" / "dmenu-offered"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def dunstctl(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``dunstctl ARGS`` on this session's bus; its stdout."""
        result = subprocess.run(
            ["dunstctl", *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=timeout,
            text=True,
        )
        return result.stdout

    def _wait_for_name(self, name: str, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = subprocess.run(
                [
                    "dbus-send",
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    f"string:{name}",
                ],
                env=self.env,
                capture_output=True,
                check=False,
                timeout=5,
            )
            if b"boolean true" in result.stdout:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not appear on the test bus within {within:g} s")

    def close(self) -> None:
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Point this process's bus (and keyring lookups) at the session while inside."""
        saved = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        os.environ["XDG_RUNTIME_DIR"] = self.env["XDG_RUNTIME_DIR"]
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
