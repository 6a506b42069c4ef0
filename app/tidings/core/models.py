"""Value types shared by the core, the CLI and the GUI: connection policy and status."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field

from tidings.core.notification import Urgency

__all__ = [
    "ALL_DAYS",
    "MUTED_FOREVER",
    "NOTIFIER_CHOICES",
    "AppSettings",
    "ConnectionPolicy",
    "ConnectionState",
    "FeedRetention",
    "FeedRules",
    "FeedStatus",
    "QuietHours",
    "StopReason",
]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionPolicy:
    """Timing and size limits of one feed connection.

    The defaults are DESIGN.md's defaults table; SSE.md section 5 says how
    they are used. Times are in seconds, sizes in bytes.
    """

    reconnection_time: float = 1.0
    """T, when the server sends no ``retry:`` field."""
    retry_floor: float = 0.1
    retry_ceiling: float = 600.0
    backoff_cap: float = 300.0
    """The most that backoff adds on top of T."""
    healthy_after: float = 30.0
    """A connection open this long (or that delivered an event) resets the failure count."""
    retry_after_cap: float = 600.0
    idle_timeout: float = 90.0
    """No bytes at all for this long means the connection is dead."""
    connect_timeout: float = 30.0
    max_event_size: int = 4 * MIB
    max_line_length: int = 4 * MIB
    max_id_length: int = 4 * KIB
    max_redirects: int = 10


class ConnectionState(enum.Enum):
    """Where one feed connection is (R36-R41): the readyState, plus why."""

    CONNECTING = "connecting"
    OPEN = "open"
    RETRYING = "retrying"
    STOPPED = "stopped"
    PAUSED = "paused"
    """Not connected because the user paused the feed (a hub state; a connection never has it)."""


class StopReason(enum.Enum):
    """Why a connection stopped for good."""

    CLOSED = "closed"
    """Closed by the user or the app."""
    NO_CONTENT = "no-content"
    """The server answered 204: its documented way to say "do not reconnect"."""
    NEEDS_CREDENTIALS = "needs-credentials"
    """401 or 403: nothing changes until the user changes the credentials."""
    HTTP_STATUS = "http-status"
    """Any other status that is neither 200 nor transient."""
    NOT_EVENT_STREAM = "not-event-stream"
    """200, but the Content-Type is not text/event-stream."""
    REDIRECT = "redirect"
    """A redirect loop, too many redirects, or a redirect to an unsupported scheme."""
    TLS = "tls"
    """The server's certificate was rejected."""
    ENDED = "ended"
    """With reconnection off: the stream ended cleanly."""
    FAILED = "failed"
    """With reconnection off: a failure that would otherwise have been retried."""
    KEYRING_UNAVAILABLE = "keyring-unavailable"
    """The feed's credential could not be read: the keyring is missing, locked or silent."""

    @property
    def is_error(self) -> bool:
        """Whether this stop is a failure to report (exit 1 in the CLI)."""
        return self not in {StopReason.CLOSED, StopReason.NO_CONTENT, StopReason.ENDED}


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedStatus:
    """One status change of a feed connection, fit to show to a person.

    ``url`` is already redacted (no tokens, no passwords): it is safe to log
    and display. ``next_attempt_at`` is a wall-clock time (``time.time()``)
    and ``delay`` the wait in seconds, both set only while retrying.
    """

    state: ConnectionState
    url: str
    message: str = ""
    attempt: int = 0
    http_status: int | None = None
    delay: float | None = None
    next_attempt_at: float | None = None
    stop_reason: StopReason | None = None


# -- feeds ----------------------------------------------------------------------


class AuthKind(enum.Enum):
    """How a feed proves who it is. The secret itself lives in the OS keyring, never here."""

    NONE = "none"
    BASIC = "basic"
    """HTTP Basic: ``username`` here, the password in the keyring."""
    BEARER = "bearer"
    """``Authorization: Bearer <token>``."""
    HEADER = "header"
    """A custom header (``header_name``, for example ``X-Api-Key``) whose value is the secret."""
    QUERY = "query"
    """A query parameter (``query_param``, for example ntfy's ``auth``) carrying the token."""
    COMMAND = "command"
    """A command (``command``) that prints the bearer token: pass, 1Password, secret-tool."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    """A feed's credentials, minus the secret (which is in the keyring under the feed's id)."""

    kind: AuthKind = AuthKind.NONE
    username: str = ""
    header_name: str = ""
    query_param: str = ""
    command: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """An extra request header. A secret one keeps its value in the keyring, not in settings."""

    name: str
    value: str = ""
    secret: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOptions:
    """Certificate checking: the OS trust store by default, plus an optional CA file."""

    verify: bool = True
    ca_file: str = ""


MUTED_FOREVER = math.inf
"""``FeedRules.muted_until`` for "muted until the user unmutes it"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRetention:
    """A feed's own history limits (its ``[feeds.retention]`` table).

    ``None`` means "not set": the global ``[history]`` limit of that kind applies.
    """

    max_age_days: float | None = None
    """Events older than this many days are deleted."""
    max_events: int | None = None
    """Only the newest this many events of the feed are kept."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRules:
    """Which of a feed's events may pop up (``tidings.core.rules`` applies them).

    Every event is logged whatever these say; they only decide what is shown.
    The defaults let everything through, except that ``notifications = None``
    ("not set") takes the preset's default: off for firehose presets
    (EventStreams), on for the others.
    """

    notifications: bool | None = None
    """On or off; ``None`` means the preset decides (off for firehose presets)."""
    event_types: tuple[str, ...] = ()
    """The SSE event types (``message``, ``push``...) that may notify; empty means all."""
    text_filter: str = ""
    """A regular expression (Python syntax, searched, not anchored) that the title, body or
    data must contain; empty means no filter. Validated when the settings are loaded."""
    min_urgency: Urgency = Urgency.LOW
    """Events below this urgency are not shown."""
    muted_until: float | None = None
    """A wall-clock time (``time.time()``) until which nothing pops up, :data:`MUTED_FOREVER`
    until unmuted, or ``None`` (not muted). A time in the past is simply no longer a mute."""

    def enabled(self, *, firehose: bool) -> bool:
        """Whether notifications are on, given the preset's ``firehose`` flag."""
        return (not firehose) if self.notifications is None else self.notifications

    def muted_at(self, now: float) -> bool:
        return self.muted_until is not None and now < self.muted_until


ALL_DAYS: frozenset[int] = frozenset(range(7))
"""Monday (0) to Sunday (6), as ``datetime.weekday()`` counts them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """Times when only urgent events pop up (one setting for all feeds); all are still logged.

    The quiet period starts at ``start`` on each of ``days`` and ends at the next ``end``:
    when ``end`` is not after ``start`` it crosses midnight (22:00 to 07:00 on Friday runs
    into Saturday morning), and ``start == end`` is a whole day. Times are local.
    """

    enabled: bool = False
    days: frozenset[int] = field(default=ALL_DAYS)
    start: dt.time = dt.time(22, 0)
    end: dt.time = dt.time(7, 0)
    break_through: Urgency = Urgency.CRITICAL
    """Events at or above this urgency still pop up during quiet hours."""


NOTIFIER_CHOICES = ("auto", "native", "tray")
"""``auto`` tries the native service and falls back to the tray icon's balloon."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSettings:
    """The ``[app]`` table: how the desktop app behaves (DESIGN.md's defaults)."""

    notifications: bool = True
    """Off: everything is still logged, nothing pops up."""
    notifier: str = "auto"
    """One of :data:`NOTIFIER_CHOICES`."""
    lost_connection_after: float = 60.0
    """Seconds a feed may be down before one "lost connection" notification (0: never)."""
    flood_limit: int = 3
    """Popups per feed per :attr:`flood_window` seconds, then one summary updated in place."""
    flood_window: float = 10.0
    show_window_at_start: bool = False
    """Show the log window at every start, not only at the first or when there is no tray."""
    background_on_close: str = "ask"
    """Without a tray, what closing the window does: ``ask``, ``keep`` running or ``quit``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """One subscription as the user configured it. Holds no secret."""

    id: str
    name: str
    url: str
    preset: str = "plain"
    paused: bool = False
    auth: Auth = Auth()
    headers: tuple[Header, ...] = ()
    tls: TlsOptions = TlsOptions()
    proxy: str = ""
    """``""`` uses the system or environment proxy; otherwise an http(s):// or socks5:// URL."""
    idle_timeout: float = 90.0
    rules: FeedRules = FeedRules()
    preset_options: tuple[tuple[str, str], ...] = ()
    """The preset's own settings, such as the generic JSON preset's title and body paths."""
    """What may pop up; changing only these never restarts the connection."""
    retention: FeedRetention = FeedRetention()
    """How long this feed's history is kept; unset limits follow the ``[history]`` table."""
