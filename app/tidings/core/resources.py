"""Finding the files in ``resources/`` (icons, desktop entry) however Tidings was installed.

Three layouts, tried in this order:

- a PyInstaller bundle: ``sys._MEIPASS/tidings/resources`` (the spec copies the
  top-level ``resources/`` there) or ``sys._MEIPASS/resources``;
- an installed wheel: ``tidings/resources`` next to the package (pyproject's
  ``force-include`` maps the top-level folder there);
- a source checkout or editable install: ``resources/`` at the repository root,
  two levels above ``app/tidings``.

Qt-free, so notifiers and the CLI can use it; the GUI uses the same helper.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["resource_path", "resource_roots"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def resource_roots(
    *, package_dir: Path = _PACKAGE_DIR, frozen_dir: str | None = None
) -> list[Path]:
    """The directories that may hold the resources, most specific first.

    ``frozen_dir`` defaults to PyInstaller's ``sys._MEIPASS`` when running frozen.
    """
    if frozen_dir is None:
        frozen_dir = getattr(sys, "_MEIPASS", None)
    roots: list[Path] = []
    if frozen_dir:
        roots += [Path(frozen_dir) / "tidings" / "resources", Path(frozen_dir) / "resources"]
    roots += [package_dir / "resources", package_dir.parent.parent / "resources"]
    return roots


def resource_path(
    name: str, *, package_dir: Path = _PACKAGE_DIR, frozen_dir: str | None = None
) -> Path:
    """The absolute path of ``name`` (for example ``icons/tidings.svg``) inside ``resources/``.

    Raises FileNotFoundError, naming every place looked at, when no layout has it.
    """
    roots = resource_roots(package_dir=package_dir, frozen_dir=frozen_dir)
    for root in roots:
        candidate = root / name
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(root) for root in roots)
    raise FileNotFoundError(f"resource {name!r} not found in any of: {tried}")
