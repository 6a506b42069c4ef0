"""The hub sink that shows notifications: stored events, summaries and lost-connection alerts.

The hub calls the sink on the event loop and must never wait for it: each
method only queues work, and one task shows the queue in order (so an update
never overtakes the notification it replaces). Whatever a notifier does,
nothing reaches the hub: errors are logged here.

The lost-connection alert (:mod:`tidings.core.alerts`) is driven by the
statuses the hub reports and one ``loop.call_at`` timer at the next deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from tidings.core.alerts import AlertKind, ConnectionAlert, ConnectionAlerts, replace_key_for
from tidings.core.history import StoredEvent
from tidings.core.models import AppSettings, Feed, FeedStatus
from tidings.core.notification import Notification, Urgency
from tidings.notify.base import Notifier

__all__ = ["QUEUE_LIMIT", "NotifierSink"]

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 200
"""Jobs waiting for the notifier; beyond this the oldest shows are dropped (the log has them)."""
CLOSE_WITHIN = 5.0


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def alert_notification(alert: ConnectionAlert) -> Notification:
    """The notification a person sees for a LOST or BACK alert."""
    key = replace_key_for(alert.feed_id)
    if alert.kind is AlertKind.BACK:
        return Notification(
            title=f"{alert.feed_name} is back",
            body=f"Connected again after {_duration(alert.down_for)}.",
            urgency=Urgency.LOW,
            feed_id=alert.feed_id,
            replace_key=key,
        )
    verb = "Lost connection to" if alert.ever_open else "Cannot connect to"
    reason = alert.message or "no answer"
    tail = (
        "Tidings stopped trying: fix the feed, then reconnect it."
        if alert.stopped
        else "Tidings keeps trying."
    )
    return Notification(
        title=f"{verb} {alert.feed_name}",
        body=f"Down for {_duration(alert.down_for)}: {reason}. {tail}",
        urgency=Urgency.NORMAL,
        feed_id=alert.feed_id,
        replace_key=key,
    )


class NotifierSink:
    """A hub sink (``events_stored``, ``status_changed``, ``summary_updated``) over a Notifier.

    It owns the notifier from :meth:`start` to :meth:`close`. Live changes:
    :meth:`set_app_settings` (notifications on/off, the lost-connection grace) and
    :meth:`replace_notifier` (the user picked another backend).
    """

    def __init__(
        self,
        *,
        notifier: Notifier,
        app: AppSettings,
        clock: Callable[[], float] = time.monotonic,
        queue_limit: int = QUEUE_LIMIT,
        feed_exists: Callable[[str], bool] | None = None,
    ) -> None:
        """``clock``: monotonic seconds (the alert timer runs on the loop's own clock).
        ``feed_exists`` (for example ``lambda feed_id: hub.feed(feed_id) is not None``) lets a
        LOST alert that comes due for a feed removed meanwhile be dropped: the hub reports
        no status for a removed feed."""
        self._notifier = notifier
        self._app = app
        self._clock = clock
        self._alerts = ConnectionAlerts(after=app.lost_connection_after)
        self._jobs: list[tuple[str, Notification | str, int | None]] = []
        self._feed_exists = feed_exists
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._limit = queue_limit
        self._dropped = 0
        self._closed = False

    @property
    def notifier(self) -> Notifier:
        return self._notifier

    @property
    def app_settings(self) -> AppSettings:
        return self._app

    async def start(self) -> None:
        """Start the notifier (a failing one reports it in its state, never raises here)."""
        with contextlib.suppress(Exception):
            await self._notifier.start()

    def set_app_settings(self, app: AppSettings) -> None:
        """New ``[app]`` settings, from now on (notifications off drops what is queued)."""
        self._app = app
        self._alerts.set_after(app.lost_connection_after)
        if not app.notifications:
            self._jobs.clear()
        self._schedule()

    async def replace_notifier(self, notifier: Notifier) -> None:
        """Start ``notifier``, switch to it (after what is queued), and close the old one."""
        with contextlib.suppress(Exception):
            await notifier.start()
        old, self._notifier = self._notifier, notifier
        try:
            await old.close()
        except Exception:
            logger.exception("closing the previous notifier failed")

    # -- hub sink ----------------------------------------------------------------------

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        for event in events:
            if event.withdraw_key:
                self._put("withdraw", event.withdraw_key, None)
            if event.notification is not None:
                self._put("show", event.notification, event.rowid)

    def summary_updated(self, feed: Feed, notification: Notification) -> None:
        self._put("show", notification, None)

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        now = self._clock()
        try:
            alerts = self._alerts.observe(feed.id, feed.name, status, now=now)
        except Exception:
            logger.exception("the lost-connection alert failed on a status")
            return
        self._tell(alerts)
        self._schedule()

    def feed_removed(self, feed_id: str) -> None:
        """Call when a feed leaves the hub: its alert watch ends (a LOST shown is withdrawn)."""
        self._tell(self._alerts.forget(feed_id))
        self._schedule()

    # -- the queue ---------------------------------------------------------------------

    def _tell(self, alerts: Sequence[ConnectionAlert]) -> None:
        for alert in alerts:
            if alert.kind is AlertKind.WITHDRAW:
                self._put("withdraw", replace_key_for(alert.feed_id), None)
            else:
                self._put("show", alert_notification(alert), None)

    def _put(self, kind: str, what: Notification | str, rowid: int | None) -> None:
        if self._closed or (kind == "show" and not self._app.notifications):
            return
        if kind == "show" and isinstance(what, Notification) and what.replace_key:
            # A summary updated 300 times a second is one update by the time it is shown: the
            # queued one it replaces goes, so no other feed's popup is pushed out behind it.
            key = what.replace_key
            self._jobs = [
                job
                for job in self._jobs
                if not (
                    job[0] == "show"
                    and isinstance(job[1], Notification)
                    and job[1].replace_key == key
                )
            ]
        if len(self._jobs) >= self._limit:
            self._jobs.pop(0)
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                logger.warning(
                    "notifications are arriving faster than they can be shown: %d dropped "
                    "(all are in the log)",
                    self._dropped,
                )
        self._jobs.append((kind, what, rowid))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="tidings-notifier-sink"
            )

    async def _work(self) -> None:
        while self._jobs:
            kind, what, rowid = self._jobs.pop(0)
            notifier = self._notifier
            try:
                if kind == "show" and isinstance(what, Notification):
                    if self._app.notifications:
                        await notifier.show(what, rowid=rowid)
                elif isinstance(what, str):
                    await notifier.withdraw(what)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("notifier %s failed", getattr(notifier, "name", "?"))

    async def drain(self, within: float = CLOSE_WITHIN) -> None:
        """Wait (bounded) until everything queued has been handed to the notifier."""
        worker = self._worker
        if worker is not None and not worker.done():
            await asyncio.wait({worker}, timeout=within)

    # -- the alert timer -----------------------------------------------------------------

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closed:
            return
        deadline = self._alerts.next_deadline()
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self._clock())
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            due = self._alerts.due(now=self._clock())
            if self._feed_exists is not None:
                for alert in due:
                    if not self._feed_exists(alert.feed_id):
                        self._alerts.forget(alert.feed_id)
                due = [a for a in due if self._feed_exists(a.feed_id)]
            self._tell(due)
        except Exception:
            logger.exception("the lost-connection alert failed")
        self._schedule()

    async def close(self) -> None:
        """Show what is queued (bounded), stop the timer, close the notifier."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.drain()
        self._closed = True
        worker = self._worker
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._jobs.clear()
        try:
            await self._notifier.close()
        except Exception:
            logger.exception("closing the notifier failed")
