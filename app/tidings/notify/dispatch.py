"""What a notification's click and buttons do: one plan shared by every backend.

A backend asks :meth:`Actions.buttons` which buttons to put on a notification
(each with a stable key) and calls :meth:`Actions.invoke` with the key the
person chose, ``DEFAULT`` for a click on the notification itself:

- click: ``handler.open_url(url)``, or ``handler.open_event(feed_id, rowid)`` when
  the notification has no URL;
- ntfy ``view``: ``handler.open_url``; ntfy ``http``: the request is sent now, on
  the click (:func:`tidings.core.actions.run_http_action`), never before;
- "Mute feed 1 h" (when the notification has a feed) and "Mark read" (when it has
  a stored row): ``handler.mute_feed`` and ``handler.mark_read``.

Async work runs as tasks kept here until done; a failure is logged, never raised
into the backend's signal handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from tidings.core.actions import ClientFactory, default_client_factory, run_http_action
from tidings.core.notification import Action, Notification, safe_url
from tidings.notify.base import ActionHandler

__all__ = ["DEFAULT", "MUTE_SECONDS", "Actions", "Button"]

logger = logging.getLogger(__name__)

DEFAULT = "default"
"""The freedesktop key of a click on the notification body."""
MUTE_SECONDS = 3600.0
MUTE_KEY = "tidings:mute-1h"
READ_KEY = "tidings:mark-read"


@dataclass(frozen=True, slots=True)
class Button:
    key: str
    label: str


class Actions:
    """Turns a person's choice into an :class:`ActionHandler` call."""

    def __init__(
        self, *, handler: ActionHandler, client_factory: ClientFactory = default_client_factory
    ) -> None:
        self._handler = handler
        self._client_factory = client_factory
        self._tasks: set[asyncio.Task[None]] = set()

    def buttons(self, notification: Notification, rowid: int | None) -> list[Button]:
        """The buttons to show, in order: the server's actions, then Tidings' own."""
        buttons = []
        own = {a.command for a in notification.actions if a.kind == "command"}
        for index, action in enumerate(notification.actions):
            if action.kind in ("view", "http") and safe_url(action.url, what="action URL"):
                buttons.append(Button(f"{action.kind}:{index}", action.label or action.url))
        if notification.feed_id and ("mute-1h" in own or not own):
            buttons.append(Button(MUTE_KEY, "Mute feed 1 h"))
        if rowid is not None and ("mark-read" in own or not own):
            buttons.append(Button(READ_KEY, "Mark read"))
        return buttons

    def invoke(self, key: str, notification: Notification, rowid: int | None) -> None:
        """Do what ``key`` means for ``notification``; never raises."""
        try:
            self._invoke(key, notification, rowid)
        except Exception:
            logger.exception("the action %r of a notification failed", key)

    def _invoke(self, key: str, notification: Notification, rowid: int | None) -> None:
        handler = self._handler
        if key == DEFAULT:
            url = safe_url(notification.url)
            if url:
                handler.open_url(url)
            else:
                handler.open_event(notification.feed_id, rowid)
        elif key == MUTE_KEY:
            if notification.feed_id:
                self._spawn(handler.mute_feed(notification.feed_id, MUTE_SECONDS), key)
        elif key == READ_KEY:
            if rowid is not None:
                self._spawn(handler.mark_read(rowid), key)
        else:
            action = self._server_action(key, notification)
            if action is None:
                logger.info("ignored an unknown notification action %r", key)
            elif action.kind == "view":
                url = safe_url(action.url, what="action URL")
                if url:
                    handler.open_url(url)
            else:
                self._spawn(self._http(action), key)

    @staticmethod
    def _server_action(key: str, notification: Notification) -> Action | None:
        kind, _, index = key.partition(":")
        if not index.isdigit() or int(index) >= len(notification.actions):
            return None
        action = notification.actions[int(index)]
        return action if action.kind == kind else None

    async def _http(self, action: Action) -> None:
        await run_http_action(action, client_factory=self._client_factory)

    def _spawn(self, work: Awaitable[None], key: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                logger.exception("the notification action %r failed", key)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float = 5.0) -> None:
        """Wait (bounded) for the actions still running; cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()
