"""Fixtures of the core tests: the hub tests' environment, shared by the preset hub tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.test_hub import Env


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    """A history store, in-memory secrets and a collecting sink; its hubs stop at the end."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    e = Env(tmp_path)
    await e.store.open()
    try:
        yield e
    finally:
        await e.close()
