"""``tidings`` and ``python -m tidings``: a small dispatcher that loads Qt only for the GUI."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a headless command; the GUI modes arrive with the desktop app."""
    from tidings.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
