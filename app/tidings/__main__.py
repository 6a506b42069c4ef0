"""``tidings`` and ``python -m tidings``: a small dispatcher that loads Qt only for the GUI.

``tidings`` alone (or with only the desktop app's options: ``--demo``,
``--background``, ``--profile-dir``, ``--log-level``) starts the desktop app;
any command word (``listen``, ``feeds``, ``run``...) or ``--help`` /
``--version`` goes to the headless command line, which never imports Qt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main", "wants_gui"]

GUI_FLAGS = frozenset({"--demo", "--background", "--self-test"})
_GLOBAL_WITH_VALUE = frozenset({"--profile-dir", "--log-level"})
# Hidden options of the desktop app (tests, benchmarks, screencasts).
_HIDDEN_WITH_VALUE = frozenset({"--demo-interval", "--exit-after"})


def wants_gui(argv: Sequence[str]) -> bool:
    """Whether these arguments ask for the desktop app rather than a headless command."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_WITH_VALUE | _HIDDEN_WITH_VALUE:
            skip = "=" not in arg
            continue
        if name in GUI_FLAGS:
            continue
        return False  # a command word, --help, --version or anything the CLI should judge
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_gui(args):
        from tidings.qt.main import main as gui_main

        return gui_main(args)
    from tidings.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
