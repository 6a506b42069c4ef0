# ruff: noqa: TID251  (a bare PySide6 app is the point: Qt is imported on purpose)
"""The start-up baseline for bench_gui.py: a bare PySide6 app that shows one tray icon.

``python bare_tray.py [--icon FILE] [--exit-after SECONDS]``: a QApplication,
a QSystemTrayIcon with the icon (a file such as Tidings' SVG, or a drawn
64x64 pixmap without ``--icon``) and a tooltip, shown; nothing else. It
quits on SIGTERM or SIGINT, and after ``--exit-after`` seconds in any case.
"""

from __future__ import annotations

import argparse
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--icon", help="an icon file (default: a drawn pixmap)")
    parser.add_argument("--exit-after", type=float, default=60.0)
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    if args.icon:
        icon = QIcon(args.icon)
    else:
        pixmap = QPixmap(64, 64)
        pixmap.fill(QColor("#2a7ae2"))
        icon = QIcon(pixmap)
    tray = QSystemTrayIcon(icon)
    tray.setToolTip("bare tray")
    tray.show()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes: wake it up now and then.
    waker = QTimer()
    waker.timeout.connect(lambda: None)
    waker.start(100)
    QTimer.singleShot(int(args.exit_after * 1000), app.quit)
    code = app.exec()
    tray.hide()
    return code


if __name__ == "__main__":
    sys.exit(main())
