"""The lost-connection alert: when a feed has been down long enough to tell someone, once.

A small state machine per feed, fed status changes and a clock (monotonic
seconds), with no timers of its own: the caller asks :meth:`ConnectionAlerts.due`
at :meth:`ConnectionAlerts.next_deadline` (the notifier sink does it with
``loop.call_at``). The rules:

- a feed is *down* while it is connecting, retrying, or stopped for any reason
  but the user's (``StopReason.CLOSED``); it is *up* when OPEN;
- down for longer than ``after`` seconds: one ``LOST`` alert, with the last
  error text; nothing more while it stays down, however often it retries;
- back to OPEN after a ``LOST``: one ``BACK`` alert;
- paused, stopped by the user, or removed: the watch ends; a ``LOST`` already
  shown is withdrawn (``WITHDRAW``) since the person acted on the feed;
- ``after == 0`` turns the alert off (``LOST`` already shown still get ``BACK``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tidings.core.models import ConnectionState, FeedStatus, StopReason

__all__ = ["AlertKind", "ConnectionAlert", "ConnectionAlerts", "replace_key_for"]


class AlertKind(enum.Enum):
    LOST = "lost"
    BACK = "back"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionAlert:
    """One thing to tell (or take back). ``ever_open``: the feed was connected before it went
    down (else it never managed to connect). ``down_for``: seconds down, at the alert."""

    kind: AlertKind
    feed_id: str
    feed_name: str
    message: str = ""
    down_for: float = 0.0
    ever_open: bool = False
    stopped: bool = False
    """Down because it stopped (credentials, a fatal status): Tidings is not retrying."""


def replace_key_for(feed_id: str) -> str:
    """The replace key shared by a feed's LOST and BACK notifications."""
    return f"connection:{feed_id}"


@dataclass(slots=True)
class _Watch:
    name: str
    down_since: float | None = None
    message: str = ""
    stopped: bool = False
    alerted: bool = False
    ever_open: bool = False


def _is_down(status: FeedStatus) -> bool | None:
    """True (down), False (up) or None (not watched: paused or closed by the user)."""
    state = status.state
    if state is ConnectionState.OPEN:
        return False
    if state is ConnectionState.PAUSED:
        return None
    if state is ConnectionState.STOPPED and status.stop_reason in (None, StopReason.CLOSED):
        return None
    return True


def _describe(status: FeedStatus) -> str:
    message = status.message.strip()
    if status.http_status is not None and str(status.http_status) not in message:
        message = f"HTTP {status.http_status}" + (f": {message}" if message else "")
    return message


class ConnectionAlerts:
    """Every feed's watch. Not thread-safe: call it from the event loop only."""

    def __init__(self, *, after: float) -> None:
        self._after = after
        self._feeds: dict[str, _Watch] = {}

    @property
    def after(self) -> float:
        return self._after

    def set_after(self, after: float) -> None:
        """A new grace period (0: off), from now on; deadlines move with it."""
        self._after = after

    def observe(
        self, feed_id: str, feed_name: str, status: FeedStatus, *, now: float
    ) -> list[ConnectionAlert]:
        """Take in one status change; return what to tell right now (BACK or WITHDRAW)."""
        down = _is_down(status)
        watch = self._feeds.get(feed_id)
        if down is None:
            self._feeds.pop(feed_id, None)
            if watch is not None and watch.alerted:
                return [
                    ConnectionAlert(kind=AlertKind.WITHDRAW, feed_id=feed_id, feed_name=feed_name)
                ]
            return []
        if watch is None:
            watch = self._feeds[feed_id] = _Watch(name=feed_name)
        watch.name = feed_name
        if not down:
            alerts = []
            if watch.alerted and watch.down_since is not None:
                alerts.append(
                    ConnectionAlert(
                        kind=AlertKind.BACK,
                        feed_id=feed_id,
                        feed_name=feed_name,
                        down_for=max(0.0, now - watch.down_since),
                        ever_open=watch.ever_open,
                    )
                )
            watch.down_since = None
            watch.alerted = False
            watch.message = ""
            watch.stopped = False
            watch.ever_open = True
            return alerts
        if watch.down_since is None:
            watch.down_since = now
        described = _describe(status)
        if described:
            watch.message = described
        watch.stopped = status.state is ConnectionState.STOPPED
        return []

    def forget(self, feed_id: str) -> list[ConnectionAlert]:
        """The feed was removed: stop watching it (withdraw a LOST already shown)."""
        watch = self._feeds.pop(feed_id, None)
        if watch is not None and watch.alerted:
            return [ConnectionAlert(kind=AlertKind.WITHDRAW, feed_id=feed_id, feed_name=watch.name)]
        return []

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has something (a clock value), or None."""
        if self._after <= 0:
            return None
        pending = [
            w.down_since + self._after
            for w in self._feeds.values()
            if w.down_since is not None and not w.alerted
        ]
        return min(pending, default=None)

    def due(self, *, now: float) -> list[ConnectionAlert]:
        """The LOST alerts whose grace period has passed; each is returned once."""
        if self._after <= 0:
            return []
        alerts = []
        for feed_id, watch in self._feeds.items():
            if watch.down_since is None or watch.alerted:
                continue
            if now - watch.down_since >= self._after:
                watch.alerted = True
                alerts.append(
                    ConnectionAlert(
                        kind=AlertKind.LOST,
                        feed_id=feed_id,
                        feed_name=watch.name,
                        message=watch.message,
                        down_for=now - watch.down_since,
                        ever_open=watch.ever_open,
                        stopped=watch.stopped,
                    )
                )
        return alerts
