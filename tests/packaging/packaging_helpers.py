"""Helpers of the packaging tests (no conftest: this folder is not a package, so that its name
cannot shadow the `packaging` library): paths, packaging/trim.py, a child's environment."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
APP_ID = "io.github.tidings.Tidings"


def load_packaging_module(name: str) -> ModuleType:
    """A script of packaging/ (not a package) imported by path."""
    path = ROOT / "packaging" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tidings_packaging_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``tidings``: no session bus unless given, offscreen Qt."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"}
    }
    env.update(extra)
    return env
