"""The security checks reuse the Qt tests' fixtures: offscreen Qt and a running app controller."""

from __future__ import annotations

from qt.conftest import controller_env, loop

__all__ = ["controller_env", "loop"]
