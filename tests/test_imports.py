"""Import hygiene, checked in fresh interpreters (DESIGN.md, "Entry points").

Headless commands never load PySide6, qasync or desktop-notifier, even when
they are installed: a meta-path hook in the child records every attempt to
import them (a guarded ``try: import PySide6`` counts too), and sys.modules is
checked afterwards. ``import tidings`` itself has no side effects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

_CHILD_PRELUDE = """
import json, sys

BANNED = ("PySide6", "qasync", "desktop_notifier", "shiboken6")
attempts = []

class RecordBanned:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith(BANNED):
            attempts.append(name)
        return None

sys.meta_path.insert(0, RecordBanned())

def banned_loaded():
    return sorted(m for m in sys.modules if m.split(".")[0].startswith(BANNED))
"""


def _run_child(code: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; its last stdout line is a JSON report."""
    env = {
        name: value
        for name, value in (env or os.environ).items()
        if name.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD_PRELUDE) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(report, dict)
    report["stderr"] = proc.stderr
    return report


def test_headless_listen_never_imports_qt_or_desktop_notifier(tmp_path: Path) -> None:
    """Importing tidings.cli and a 'listen --demo' run load no Qt, qasync or desktop-notifier."""
    report = _run_child(
        """
        import tidings.cli
        after_import = banned_loaded()
        code = tidings.cli.main(
            ["listen", "--demo", "--max-events", "1", "--demo-interval", "0.05", "--json"]
        )
        sys.stdout.flush()
        print()
        print(json.dumps({
            "code": code,
            "after_import": after_import,
            "after_listen": banned_loaded(),
            "attempts": attempts,
        }))
        """,
        cwd=tmp_path,
    )
    assert report["code"] == 0, report["stderr"]
    assert report["after_import"] == []
    assert report["after_listen"] == []
    assert report["attempts"] == []


def test_import_tidings_has_no_side_effects(tmp_path: Path) -> None:
    """import tidings starts no thread, writes no file and touches no global state."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(home / "tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    (home / "tmp").mkdir()
    report = _run_child(
        """
        import logging, signal, threading
        threads = {t.ident for t in threading.enumerate()}
        modules = set(sys.modules)
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        root_handlers = list(logging.getLogger().handlers)

        import tidings

        new_modules = sorted(
            m for m in set(sys.modules) - modules
            if m.split(".")[0] not in sys.stdlib_module_names and m != "tidings"
        )
        print(json.dumps({
            "version": tidings.__version__,
            "new_threads": len({t.ident for t in threading.enumerate()} - threads),
            "non_stdlib_modules": new_modules,
            "signals_changed": any(signal.getsignal(s) != h for s, h in handlers.items()),
            "logging_changed": logging.getLogger().handlers != root_handlers,
            "attempts": attempts,
        }))
        """,
        cwd=tmp_path,
        env=env,
    )
    assert report["version"]
    assert report["new_threads"] == 0
    assert report["non_stdlib_modules"] == []
    assert report["signals_changed"] is False
    assert report["logging_changed"] is False
    assert report["attempts"] == []
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == []
