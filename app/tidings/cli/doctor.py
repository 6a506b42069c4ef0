"""``tidings doctor``: what Tidings runs on and whether each part works; never shows a secret.

Qt is probed in a child interpreter, so that this command (like every
headless one) never loads PySide6 itself. The keyring is probed with a
lookup of a key that never exists, under a timeout. Exit 0 when everything
that headless use needs works (warnings aside), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tidings import __version__
from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    ArgumentParser,
    positive_float,
)
from tidings.cli._context import Context, secret_slots
from tidings.core.config import Settings
from tidings.core.errors import SecretStoreError
from tidings.core.models import Feed
from tidings.core.redact import redact_url
from tidings.core.secrets import SecretStore
from tidings.notify.base import NotifierError
from tidings.notify.freedesktop import probe_server

__all__ = ["QT_PROBE", "register"]

OK, WARNING, ERROR, INFO = "ok", "warning", "error", "info"

GUI_INSTALL_HINT = "pip install 'tidings[gui]'"

# Run as `python -c QT_PROBE`; prints one JSON object. Never run in doctor's own process.
QT_PROBE = textwrap.dedent(
    """
    import json, os, sys
    report = {"installed": False}
    try:
        import PySide6
        from PySide6 import QtCore
    except ImportError as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(report))
        raise SystemExit(0)
    report.update(installed=True, version=PySide6.__version__, qt_version=QtCore.qVersion())
    unix_desktop = not sys.platform.startswith(("win", "darwin"))
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if unix_desktop and not display and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        report["offscreen_forced"] = True
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QSystemTrayIcon
    app = QGuiApplication([sys.argv[0] or "tidings-doctor"])
    report["platform"] = QGuiApplication.platformName()
    report["tray_available"] = bool(QSystemTrayIcon.isSystemTrayAvailable())
    print(json.dumps(report))
    """
)


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings doctor`` to the command line."""
    doctor = commands.add_parser(
        "doctor",
        help="check Python, paths, settings, keyring, Qt and notifications (no secrets shown)",
        description="Check what Tidings runs on and whether each part works. Exit 0 when "
        "everything headless use needs works, 1 otherwise. Never shows a secret.",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON object for scripts")
    doctor.add_argument(
        "--keyring-timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the keyring to answer (default: %(default)g)",
    )
    doctor.add_argument(
        "--qt-timeout",
        type=positive_float,
        default=20.0,
        metavar="SECONDS",
        help="how long the Qt probe (a child process) may take (default: %(default)g)",
    )
    doctor.add_argument(
        "--notify-timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the notification server to answer (default: %(default)g)",
    )
    doctor.set_defaults(handler=run)


@dataclass
class Check:
    """One part's verdict: ``status`` is ok, warning, error or info; ``message`` says it plainly."""

    name: str
    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, **self.details}


# -- the checks --------------------------------------------------------------------


def check_settings(context: Context, settings: Settings) -> Check:
    path = context.paths.settings_file
    problems = [
        {
            "file": str(p.file),
            "where": p.where,
            "line": p.line,
            "message": p.message,
            "text": str(p),
        }
        for p in settings.problems
    ]
    details: dict[str, Any] = {
        "file": str(path),
        "exists": path.exists(),
        "feeds": len(settings.feeds),
        "problems": problems,
        "saveable": not settings.unsaveable,
    }
    if settings.problems:
        word = "problem" if len(problems) == 1 else "problems"
        message = f"{path} has {len(problems)} {word}; {len(settings.feeds)} feed(s) load"
        return Check("settings", ERROR, message, details)
    if not details["exists"]:
        return Check("settings", OK, f"{path} does not exist yet (no feeds)", details)
    return Check("settings", OK, f"{path} loads: {len(settings.feeds)} feed(s)", details)


async def check_keyring(context: Context, store: SecretStore, *, needed: bool) -> Check:
    details: dict[str, Any] = {"backend": None, "state": "ok", "needed": needed}
    try:
        await context.probe_keyring(store)
    except SecretStoreError as exc:
        details["state"] = exc.state
        if exc.state != "timeout":  # after a timeout, detecting the backend may block too
            details["backend"] = store.name
        why = "some feeds need it" if needed else "no feed needs it yet"
        return Check(
            "keyring", ERROR if needed else WARNING, f"{exc.state}: {exc} ({why})", details
        )
    details["backend"] = store.name
    return Check("keyring", OK, f"{details['backend']} works", details)


def check_qt(timeout: float) -> Check:
    """Probe Qt in a child interpreter: this process never imports it."""
    details: dict[str, Any] = {
        "installed": None,
        "version": None,
        "platform": None,
        "tray_available": None,
    }
    if getattr(sys, "frozen", False):
        return Check("qt", WARNING, "not probed in a frozen build", details)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", QT_PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Check("qt", WARNING, f"the Qt probe did not finish within {timeout:g} s", details)
    except OSError as exc:
        return Check("qt", WARNING, f"cannot start the Qt probe: {exc.strerror or exc}", details)
    report: dict[str, Any] = {}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            report = json.loads(lines[-1])
        except json.JSONDecodeError:
            report = {}
    if not report:
        said = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        how = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit {proc.returncode}"
        )
        details["installed"] = True
        details["stderr"] = said[:5]
        return Check(
            "qt",
            WARNING,
            f"PySide6 is installed but Qt could not start ({how}): "
            + (" / ".join(said[:3]) or "no message"),
            details,
        )
    details["installed"] = bool(report.get("installed"))
    if not details["installed"]:
        return Check(
            "qt",
            WARNING,
            f"PySide6 is not installed: the desktop app needs it ({GUI_INSTALL_HINT}); "
            "headless commands do not",
            details,
        )
    details.update(
        version=report.get("version"),
        qt_version=report.get("qt_version"),
        platform=report.get("platform"),
        tray_available=report.get("tray_available"),
        offscreen_forced=bool(report.get("offscreen_forced")),
    )
    tray = "available" if details["tray_available"] else "not available"
    message = f"PySide6 {details['version']} on platform {details['platform']}; tray {tray}"
    if details["offscreen_forced"]:
        message += " (no display: probed offscreen)"
    return Check("qt", OK if details["tray_available"] else WARNING, message, details)


async def check_notifications(settings: Settings, limit: float) -> Check:
    """Which backend would show notifications, and whether it answers (never shows one)."""
    app = settings.app
    details: dict[str, Any] = {
        "backend": None,
        "enabled": app.notifications,
        "choice": app.notifier,
    }
    if not app.notifications:
        return Check(
            "notifications", INFO, "off in the settings ([app] notifications = false)", details
        )
    if sys.platform in ("darwin", "win32"):
        details["backend"] = "desktop-notifier"
        return Check(
            "notifications",
            INFO,
            "desktop-notifier (macOS Notification Center / Windows toasts): not probed; "
            "unverified on this platform",
            details,
        )
    details["backend"] = "freedesktop"
    tray = " (the desktop app falls back to tray balloons)" if app.notifier == "auto" else ""
    try:
        info = await probe_server(limit=limit)
    except NotifierError as exc:
        return Check("notifications", WARNING, f"freedesktop notifications: {exc}{tray}", details)
    caps = info.capabilities
    details.update(
        server={
            "name": info.name,
            "vendor": info.vendor,
            "version": info.version,
            "spec_version": info.spec_version,
        },
        capabilities=list(caps),
    )
    actions = "actions" if "actions" in caps else "NO actions (no buttons, clicks do nothing)"
    markup = "body markup (escaped)" if "body-markup" in caps else "plain bodies"
    return Check(
        "notifications",
        OK if "actions" in caps else WARNING,
        f"freedesktop notifications: {info.name} {info.version} ({info.vendor}, spec "
        f"{info.spec_version}): {actions}, {markup}",
        details,
    )


async def feed_reports(
    context: Context, feeds: tuple[Feed, ...], store: SecretStore | None
) -> tuple[Check, list[dict[str, Any]]]:
    """Each feed's state, secrets and last stored event; a check of the history store."""
    last: dict[str, tuple[float | None, int]] = {}
    path = context.paths.history_db
    if not path.exists():
        history = Check("history", OK, f"{path} not created yet", {"file": str(path)})
    else:
        try:
            async with context.history() as db:
                for feed in feeds:
                    recent = await db.recent(feed.id, limit=1)
                    count = await db.count(feed.id)
                    last[feed.id] = (recent[0].received_at if recent else None, count)
                total = await db.count()
        except (sqlite3.Error, OSError) as exc:
            history = Check("history", ERROR, f"{path} cannot be read: {exc}", {"file": str(path)})
        else:
            history = Check("history", OK, f"{path}: {total} event(s) stored", {"file": str(path)})
    reports = []
    for feed in feeds:
        slots = secret_slots(feed)
        secrets = "none needed"
        if slots:
            secrets = "unknown (keyring not working)"
            if store is not None:
                secrets = "stored"
                try:
                    for slot in slots:
                        value = await store.get(feed.id, slot)
                        if value:
                            context.known.add(value)
                        else:
                            secrets = "missing"
                except SecretStoreError as exc:
                    secrets = f"unknown (keyring {exc.state})"
        when, count = last.get(feed.id, (None, 0))
        reports.append(
            {
                "id": feed.id,
                "name": feed.name,
                "url": redact_url(feed.url),
                "paused": feed.paused,
                "auth": feed.auth.kind.value,
                "secrets": secrets,
                "tls_verify": feed.tls.verify,
                "last_event_at": _iso(when),
                "events_stored": count,
            }
        )
    return history, reports


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")


# -- the command ---------------------------------------------------------------------


async def _gather(args: argparse.Namespace, context: Context) -> dict[str, Any]:
    paths = context.paths
    settings = context.load_settings()
    context.keyring_timeout = args.keyring_timeout
    store = context.secrets()
    needed = any(secret_slots(f) for f in settings.feeds)
    # The Qt probe (a child process, bounded) runs while the keyring answers.
    keyring, qt, notifications = await asyncio.gather(
        check_keyring(context, store, needed=needed),
        asyncio.to_thread(check_qt, args.qt_timeout),
        check_notifications(settings, args.notify_timeout),
    )
    history, feeds = await feed_reports(
        context, settings.feeds, store if keyring.status == OK else None
    )
    checks = [
        check_settings(context, settings),
        keyring,
        history,
        qt,
        notifications,
    ]
    return {
        "ok": not any(c.status == ERROR for c in checks),
        "tidings": {"version": __version__},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(),
        },
        "paths": {
            "profile_dir": str(paths.profile_dir) if paths.profile_dir else None,
            "config_dir": str(paths.config_dir),
            "settings_file": str(paths.settings_file),
            "data_dir": str(paths.data_dir),
            "history_db": str(paths.history_db),
            "state_dir": str(paths.state_dir),
            "log_dir": str(paths.log_dir),
            "cache_dir": str(paths.cache_dir),
        },
        "checks": checks,
        "feeds": feeds,
    }


def _text(report: dict[str, Any]) -> str:
    py = report["python"]
    paths = report["paths"]
    lines = [
        f"Tidings {report['tidings']['version']}",
        f"  python       {py['implementation']} {py['version']} ({py['executable']})",
        f"  system       {py['platform']}",
        "",
        "Paths" + (f" (profile {paths['profile_dir']})" if paths["profile_dir"] else ""),
    ]
    for key, label in (
        ("settings_file", "settings"),
        ("config_dir", "config"),
        ("data_dir", "data"),
        ("history_db", "history"),
        ("state_dir", "state"),
        ("log_dir", "logs"),
        ("cache_dir", "cache"),
    ):
        lines.append(f"  {label.ljust(11)}  {paths[key]}")
    lines.append("")
    checks: list[Check] = report["checks"]
    for check in checks:
        lines.append(f"{check.status.ljust(8)} {check.name}: {check.message}")
        if check.name == "settings":
            lines.extend(f"         - {p['text']}" for p in check.details["problems"])
    feeds = report["feeds"]
    lines.append("")
    lines.append("Feeds" if feeds else "Feeds: none yet (tidings feeds add NAME URL)")
    rows = []
    for feed in feeds:
        last = (
            f"last event {feed['last_event_at']} ({feed['events_stored']} stored)"
            if feed["last_event_at"]
            else "no events stored"
        )
        notes = [] if feed["secrets"] == "none needed" else [f"secrets {feed['secrets']}"]
        if not feed["tls_verify"]:
            notes.append("[!] TLS verification OFF")
        state = "paused" if feed["paused"] else "active"
        rows.append([feed["id"], feed["name"], state, last, "  ".join(notes)])
    if rows:
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append(("  " + "  ".join([*cells, row[4]])).rstrip())
    lines.append("")
    if report["ok"]:
        lines.append("Ready for headless use.")
    else:
        failing = ", ".join(c.name for c in checks if c.status == ERROR)
        lines.append(f"Not ready for headless use: fix {failing} (see above).")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``tidings doctor``; return the exit code."""
    context = Context.from_args(args)
    try:
        report = asyncio.run(_gather(args, context))
    except KeyboardInterrupt:
        return EXIT_SIGINT
    if args.json:
        out = {
            **{k: v for k, v in report.items() if k != "checks"},
            **{c.name: c.as_json() for c in report["checks"]},
        }
        text = json.dumps(out, indent=2, ensure_ascii=False)
    else:
        text = _text(report)
    # A last guard: any secret this process read (doctor reads none it shows) never gets out.
    print(context.known.redact(text))
    return EXIT_OK if report["ok"] else EXIT_FAILURE
