"""A private desktop session for tests: our own D-Bus session bus, and gnome-keyring on it.

Never the host's bus: each session binds a bus socket in a temporary
directory and points ``DBUS_SESSION_BUS_ADDRESS`` at it. Every process
started here is killed by PID when the session ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["DesktopSession", "require_binaries"]


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

    @property
    def bus_address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]

    def start_bus(self) -> None:
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
        proc = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--nopidfile",
                f"--address=unix:path={socket}",
                "--print-address=1",
            ],
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
