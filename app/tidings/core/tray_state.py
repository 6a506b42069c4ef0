"""What the tray icon shows, decided without Qt: the state of all feeds at once and the badge."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping, Sequence

from tidings.core.models import ConnectionState, Feed, FeedStatus, QuietHours
from tidings.core.rules import in_quiet_hours

__all__ = [
    "BADGE_CAP",
    "TrayState",
    "badge_text",
    "connected_count",
    "is_quiet",
    "next_quiet_change",
    "tray_state",
]

BADGE_CAP = 99
"""Unread counts above this show as ``99+``."""


class TrayState(enum.Enum):
    """The tray icon's states, most urgent first (:func:`tray_state` picks the first that holds)."""

    ERROR = "error"
    """A running feed stopped on a failure (needs credentials, not an event stream, TLS...)."""
    RETRYING = "retrying"
    """A running feed lost its connection and waits to retry."""
    PAUSED = "paused"
    """Every feed is paused, or nothing pops up now (quiet mode, quiet hours)."""
    OK = "ok"
    """Every running feed is connected or connecting (or there is no feed yet)."""


def tray_state(statuses: Mapping[str, FeedStatus], feeds: Sequence[Feed], quiet: bool) -> TrayState:
    """The icon for these feeds and their latest statuses; ``quiet``: nothing pops up now.

    A failure outranks everything (the user must act), then a retry; a quiet or all-paused
    app shows as paused; otherwise all is well. A paused feed's last status is ignored.
    """
    running = [f for f in feeds if not f.paused]
    if any(_failed(statuses.get(f.id)) for f in running):
        return TrayState.ERROR
    if any(_retrying(statuses.get(f.id)) for f in running):
        return TrayState.RETRYING
    if quiet or (feeds and not running):
        return TrayState.PAUSED
    return TrayState.OK


def _failed(status: FeedStatus | None) -> bool:
    return (
        status is not None
        and status.state is ConnectionState.STOPPED
        and status.stop_reason is not None
        and status.stop_reason.is_error
    )


def _retrying(status: FeedStatus | None) -> bool:
    # A second connecting attempt is a retry too (as tidings.qt.status_text counts it).
    return status is not None and (
        status.state is ConnectionState.RETRYING
        or (status.state is ConnectionState.CONNECTING and status.attempt > 1)
    )


def connected_count(statuses: Mapping[str, FeedStatus], feeds: Sequence[Feed]) -> int:
    """How many of ``feeds`` have an open connection now."""
    return sum(
        1
        for f in feeds
        if (s := statuses.get(f.id)) is not None and s.state is ConnectionState.OPEN
    )


def is_quiet(
    feeds: Sequence[Feed], quiet_hours: QuietHours, now: float, *, tz: dt.tzinfo | None = None
) -> bool:
    """Whether nothing ordinary pops up at ``now``: the quiet hours are on, or every running
    feed is muted (the tray's "Quiet until..." mutes them all)."""
    if quiet_hours.enabled and in_quiet_hours(quiet_hours, dt.datetime.fromtimestamp(now, tz)):
        return True
    running = [f for f in feeds if not f.paused]
    return bool(running) and all(f.rules.muted_at(now) for f in running)


def next_quiet_change(feeds: Sequence[Feed], quiet_hours: QuietHours, now: float) -> float | None:
    """Seconds until :func:`is_quiet` may change by itself (a mute ends, or, with quiet hours
    on, the next minute), or ``None`` when nothing is pending."""
    ends = [
        f.rules.muted_until - now
        for f in feeds
        if f.rules.muted_until is not None
        and math.isfinite(f.rules.muted_until)
        and f.rules.muted_until > now
    ]
    if quiet_hours.enabled:
        ends.append(60.0 - (now % 60.0))  # quiet hours start and end on the minute
    return min(ends) if ends else None


def badge_text(unread: int) -> str:
    """The badge's text: empty for none, the count, or ``99+`` above :data:`BADGE_CAP`."""
    if unread <= 0:
        return ""
    return f"{BADGE_CAP}+" if unread > BADGE_CAP else str(unread)
