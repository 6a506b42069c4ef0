"""Fixtures of the Qt tests: offscreen Qt, one AppLoop per test, and a running app controller.

Per ENV.md, anything fed by asyncio tasks is driven with ``loop.run_until_complete``
and waits inside with ``asyncio.sleep``; ``qtbot.wait*`` is only for pure-Qt behaviour.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from tidings.core.history import HistoryStore
from tidings.core.hub import Hub
from tidings.core.live import LiveSettings
from tidings.core.paths import Paths
from tidings.core.redact import KnownSecrets
from tidings.core.rules import RuleLimits
from tidings.core.secrets import MemoryStore
from tidings.qt.controller import AppController
from tidings.qt.loop import AppLoop

T = TypeVar("T")

_CLOSED_LOOPS: list[AppLoop] = []
"""Every closed loop, kept until the process ends: a qasync loop owns QObjects (its timer,
its socket notifiers) whose deallocation by Python's garbage collector at an arbitrary later
moment, in the middle of another test's Qt event dispatch, crashed the run."""


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[AppLoop]:
    """A qasync loop on the test's QApplication, set as the current loop, closed at teardown."""
    qapp.setQuitOnLastWindowClosed(False)
    event_loop = AppLoop(qapp)
    asyncio.set_event_loop(event_loop)
    try:
        yield event_loop
    finally:
        pending = [t for t in asyncio.all_tasks(event_loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            event_loop.run_until_complete(asyncio.wait(pending, timeout=5))
        event_loop.close()
        asyncio.set_event_loop(None)
        _CLOSED_LOOPS.append(event_loop)


@dataclass
class ControllerEnv:
    """A real app without windows: history store, hub, live settings, in-memory keyring."""

    loop: AppLoop
    paths: Paths
    store: HistoryStore
    hub: Hub
    live: LiveSettings
    secrets: MemoryStore
    controller: AppController
    quit_requested: list[bool]

    def run(self, work: Awaitable[T], timeout: float = 30) -> T:
        """Run a coroutine on the loop (bounded), e.g. ``env.run(controller.add_feed(feed))``."""
        return self.loop.run_until_complete(asyncio.wait_for(work, timeout))  # type: ignore[no-any-return]

    def wait_for(
        self, condition: Callable[[], Any], timeout: float = 10, step: float = 0.02
    ) -> None:
        """Spin the loop until ``condition()`` is true; fail after ``timeout`` seconds."""

        async def until() -> None:
            deadline = asyncio.get_running_loop().time() + timeout
            while not condition():
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"condition not met within {timeout} s")
                await asyncio.sleep(step)

        self.run(until(), timeout + 5)


@pytest.fixture
def controller_env(
    loop: AppLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ControllerEnv]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    paths = Paths.resolve(tmp_path / "profile")
    store = HistoryStore(paths.history_db)
    loop.run_until_complete(store.open())
    secrets = MemoryStore()
    hub = Hub(
        store=store,
        secrets=secrets,
        known_secrets=KnownSecrets(),
        rule_limits=RuleLimits(),
    )
    live = LiveSettings(paths.settings_file, hub)
    quit_requested: list[bool] = []
    controller = AppController(
        paths=paths,
        store=store,
        hub=hub,
        live=live,
        secrets=secrets,
        known=KnownSecrets(),
        request_quit=lambda: quit_requested.append(True),
        open_url=lambda url: True,
    )
    loop.run_until_complete(live.start())
    env = ControllerEnv(loop, paths, store, hub, live, secrets, controller, quit_requested)
    try:
        yield env
    finally:
        loop.run_until_complete(controller.tasks.cancel_all())
        loop.run_until_complete(hub.stop())
        loop.run_until_complete(store.close())
