"""How a feed's connection status reads to a person: one wording for the tray, menu and window.

Everything here is plain text (a server's message is never rich text) and
goes through ``QCoreApplication.translate("status", ...)``, so the tray menu
and the feeds panel say the same thing in every language.
"""

from __future__ import annotations

import enum
import math

from PySide6.QtCore import QCoreApplication

from tidings.core.models import ConnectionState, FeedStatus, StopReason
from tidings.core.notification import shorten

__all__ = ["StatusKind", "describe_status", "status_detail", "status_kind"]

MESSAGE_LIMIT = 80
"""Characters of a server's failure message shown inline; the full text is in the tooltip."""


def _tr(text: str) -> str:
    return QCoreApplication.translate("status", text)


class StatusKind(enum.Enum):
    """The few kinds of status that the tray icon and list decorations tell apart."""

    OK = "ok"
    """Connected, or connecting for the first time."""
    RETRYING = "retrying"
    """Lost and trying again: it may recover on its own."""
    ERROR = "error"
    """Stopped for a reason the user must look at: credentials, TLS, a wrong URL..."""
    PAUSED = "paused"
    """Paused by the user, or stopped on purpose (closed, ended, 204)."""


def status_kind(status: FeedStatus | None) -> StatusKind:
    """Which kind of status this is (``None``, not started yet, counts as OK)."""
    if status is None:
        return StatusKind.OK
    state = status.state
    if state is ConnectionState.PAUSED:
        return StatusKind.PAUSED
    if state is ConnectionState.RETRYING or (
        state is ConnectionState.CONNECTING and status.attempt > 1
    ):
        return StatusKind.RETRYING
    if state is ConnectionState.STOPPED:
        reason = status.stop_reason
        if reason is not None and reason.is_error:
            return StatusKind.ERROR
        return StatusKind.PAUSED
    return StatusKind.OK


def _countdown(seconds: float) -> str:
    if seconds < 1:
        return _tr("retrying now")
    if seconds < 90:
        return _tr("retrying in {seconds} s").format(seconds=math.ceil(seconds))
    return _tr("retrying in {minutes} min").format(minutes=math.ceil(seconds / 60))


def describe_status(status: FeedStatus | None, now: float) -> str:
    """One short line: connected / retrying in 12 s / needs credentials / failed: ... / paused.

    ``now`` is a wall-clock time (``time.time()``), for the countdown to the
    next attempt of a retrying feed. A failure's message is cut to
    :data:`MESSAGE_LIMIT` characters; :func:`status_detail` gives it whole.
    """
    if status is None:
        return _tr("starting")
    state = status.state
    if state is ConnectionState.OPEN:
        return _tr("connected")
    if state is ConnectionState.PAUSED:
        return _tr("paused")
    if state is ConnectionState.CONNECTING:
        return _tr("reconnecting") if status.attempt > 1 else _tr("connecting")
    if state is ConnectionState.RETRYING:
        if status.next_attempt_at is not None:
            return _countdown(status.next_attempt_at - now)
        if status.delay is not None:
            return _countdown(status.delay)
        return _tr("retrying")
    reason = status.stop_reason
    if reason is StopReason.NEEDS_CREDENTIALS:
        return _tr("needs credentials")
    if reason is StopReason.KEYRING_UNAVAILABLE:
        return _tr("keyring unavailable")
    if reason is StopReason.CLOSED:
        return _tr("stopped")
    if reason is StopReason.NO_CONTENT:
        return _tr("stopped by the server")
    if reason is StopReason.ENDED:
        return _tr("ended")
    message = " ".join(status.message.split())
    if not message:
        return _tr("failed")
    return _tr("failed: {message}").format(message=shorten(message, MESSAGE_LIMIT))


def status_detail(status: FeedStatus | None) -> str:
    """The whole message behind a status (why it retries or stopped), or ``""``; plain text."""
    if status is None or status.state in (ConnectionState.OPEN, ConnectionState.PAUSED):
        return ""
    return status.message if status.message != "closed" else ""
