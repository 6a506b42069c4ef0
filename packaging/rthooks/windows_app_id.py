"""PyInstaller runtime hook: give the Windows binary its AppUserModelID before anything else runs.

Windows attributes toasts and taskbar entries to the process's explicit
AppUserModelID; without one a frozen app shows up as its executable's name.
Qt-free and a no-op elsewhere. Only the binary runs it: ``pip`` installs on
Windows keep the interpreter's id (noted in packaging/README.md). Unverified:
no Windows machine runs our CI.
"""

from __future__ import annotations

import contextlib
import sys

APP_ID = "io.github.tidings.Tidings"

if sys.platform == "win32":
    import ctypes

    with contextlib.suppress(AttributeError, OSError):
        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_ID)
