"""The qasync event loop, with the two fixes STYLE.md records, and coroutine helpers for Qt code.

- qasync's ``run_forever`` installs no async-generator hooks, so an unclosed
  httpx stream would be finalised outside the loop: :class:`AppLoop` installs
  them (as asyncio's own loop does) and shuts async generators down at close.
- A dialog must never ``exec()`` inside a coroutine: :func:`dialog_result`
  opens it with ``open()`` and awaits its ``finished`` signal.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import qasync
from PySide6.QtWidgets import QDialog

__all__ = ["AppLoop", "TaskKeeper", "dialog_result"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AppLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop with asyncio's async-generator hooks installed while it runs."""

    _until_complete = False

    def run_forever(self) -> Any:
        old = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook,
            finalizer=self._asyncgen_finalizer_hook,
        )
        try:
            return super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*old)
            if self._until_complete:
                # qasync's run_until_complete processes Qt events once more after run_forever:
                # a task stepped there must still find its running loop (httpx, anyio ask).
                asyncio.events._set_running_loop(self)

    def run_until_complete(self, future: Any) -> Any:
        self._until_complete = True
        try:
            return super().run_until_complete(future)
        finally:
            self._until_complete = False
            asyncio.events._set_running_loop(None)

    def close(self) -> None:
        if not self.is_closed() and not self.is_running():
            try:
                self.run_until_complete(self.shutdown_asyncgens())
            except Exception:
                logger.exception("shutting down async generators failed")
        super().close()


class TaskKeeper:
    """Holds the tasks that Qt slots start, so none is garbage-collected mid-flight, and logs
    (instead of losing) what a failed one raised."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str = "") -> asyncio.Task[T]:
        task = asyncio.get_event_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("a background task failed: %s", task.get_name(), exc_info=exc)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def dialog_result(dialog: QDialog) -> int:
    """Open ``dialog`` (window-modal, without a nested event loop) and await its result code."""
    future: asyncio.Future[int] = asyncio.get_event_loop().create_future()

    def finished(code: int) -> None:
        if not future.done():
            future.set_result(code)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        dialog.finished.disconnect(finished)
