"""The frozen app's entry point: the same dispatcher as ``tidings`` and ``python -m tidings``."""

from __future__ import annotations

import sys

from tidings.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
