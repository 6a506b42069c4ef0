"""Rules: which events pop up, and which only reach the log (and why).

Everything here is pure: the time comes in as an argument (a wall-clock
``time.time()`` value plus an optional time zone for quiet hours), so tests
drive it with any clock. The one piece of state, :class:`FeedRuleState`, is a
plain object the hub keeps per feed: the recent popups (flood control), the
open flood summary, and the backlog window after a connection opened.

For each event, in this order:

1. ``no-notification``: the preset made no notification (keep-alive, canary,
   control event); the hub keeps the preset's own reason where it gave one.
2. ``off``: notifications are off for the feed (the default of firehose
   presets such as EventStreams, until the user turns them on).
3. ``muted``: the feed is muted (for a while, or until unmuted).
4. ``filtered``: the event type is not one of the chosen ones, the text
   filter does not match, or the urgency is below the feed's minimum.
5. ``quiet``: quiet hours, and the urgency is below the break-through level.
6. ``backlog``: the event arrived right after the connection opened (within
   :attr:`RuleLimits.backlog_window`) together with more than
   :attr:`RuleLimits.backlog_threshold` others that passed 1-5: a replay of
   what was missed. They become one summary ("12 events from CI while you
   were away") and never count toward the flood limit.
7. ``flood``: the feed already showed :attr:`RuleLimits.flood_limit` popups in
   the last :attr:`RuleLimits.flood_window` seconds (a sliding window). The
   rest become one summary ("37 more from CI") updated in place; its count
   starts again once a whole window has passed with nothing held back.

Only events that pass every step are shown. Summaries carry a replace key
(``flood:<feed id>``, ``backlog:<feed id>``) so a notifier updates them in
place. The limits are DESIGN.md's defaults table.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tidings.core.models import ALL_DAYS, MUTED_FOREVER, Feed, FeedRules, QuietHours
from tidings.core.notification import Notification, Urgency, shorten

__all__ = [
    "ALL_DAYS",
    "FILTER_SCAN_LIMIT",
    "MUTED_FOREVER",
    "Candidate",
    "Decision",
    "FeedRuleState",
    "FeedRules",
    "QuietHours",
    "Reason",
    "RuleContext",
    "RuleLimits",
    "backlog_key",
    "backlog_summary",
    "compile_filter",
    "flood_key",
    "flood_summary",
    "in_quiet_hours",
    "matches_filters",
    "mute_until_tomorrow",
    "muted",
    "screen",
    "unmuted",
]

FILTER_SCAN_LIMIT = 100_000
"""The text filter searches the first this many characters of the title, the body and the data
(a server's 4 MiB event must not hold the loop up under an unlucky pattern)."""


class Reason(enum.StrEnum):
    """Why an event did not pop up (the log shows it)."""

    NO_NOTIFICATION = "no-notification"
    OFF = "off"
    MUTED = "muted"
    FILTERED = "filtered"
    QUIET = "quiet"
    BACKLOG = "backlog"
    FLOOD = "flood"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleLimits:
    """Flood and backlog limits (DESIGN.md's defaults table); tests shrink the windows."""

    flood_limit: int = 3
    """Popups per feed per :attr:`flood_window`."""
    flood_window: float = 10.0
    backlog_threshold: int = 3
    """More than this many events right after a connection opened are a replayed backlog."""
    backlog_window: float = 1.0
    """How long after the connection opened arriving events count as the backlog."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one event: ``notification`` is shown, or ``reason`` says why not.

    ``summary``, when set, is a summary notification to show or to update in
    place (its ``replace_key`` says which): the flood or backlog summary this
    event was counted into.
    """

    notification: Notification | None
    reason: Reason | None = None
    summary: Notification | None = None

    def __post_init__(self) -> None:
        if (self.notification is None) == (self.reason is None):
            raise ValueError("a decision either shows a notification or gives a reason")

    @property
    def shown(self) -> bool:
        return self.notification is not None

    @classmethod
    def show(cls, notification: Notification) -> Decision:
        return cls(notification)

    @classmethod
    def hide(cls, reason: Reason, summary: Notification | None = None) -> Decision:
        return cls(None, reason, summary)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One event as the rules see it: its SSE type, its data and the preset's notification."""

    event_type: str
    data: str
    notification: Notification | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleContext:
    """What the rules know about the feed an event came from, at the time of the decision."""

    feed_id: str
    feed_name: str
    rules: FeedRules = field(default_factory=FeedRules)
    firehose: bool = False
    """The preset is a firehose: notifications are off unless the feed's rules turn them on."""
    quiet_hours: QuietHours = field(default_factory=QuietHours)

    @classmethod
    def for_feed(
        cls, feed: Feed, *, firehose: bool = False, quiet_hours: QuietHours | None = None
    ) -> RuleContext:
        return cls(
            feed_id=feed.id,
            feed_name=feed.name,
            rules=feed.rules,
            firehose=firehose,
            quiet_hours=quiet_hours or QuietHours(),
        )


# -- pure checks ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def compile_filter(pattern: str) -> re.Pattern[str]:
    """The compiled text filter; raises ``re.error`` for an invalid pattern."""
    return re.compile(pattern)


def matches_filters(rules: FeedRules, candidate: Candidate) -> bool:
    """Whether the event type, the text filter and the minimum urgency let the event through."""
    notification = candidate.notification
    if rules.event_types and candidate.event_type not in rules.event_types:
        return False
    if notification is not None and notification.urgency.rank < rules.min_urgency.rank:
        return False
    if rules.text_filter:
        try:
            pattern = compile_filter(rules.text_filter)
        except re.error:
            return False  # the settings loader refuses these; a bad pattern lets nothing through
        texts = [candidate.data]
        if notification is not None:
            texts = [notification.title, notification.body, candidate.data]
        if not any(pattern.search(text[:FILTER_SCAN_LIMIT]) for text in texts):
            return False
    return True


def in_quiet_hours(quiet: QuietHours, when: dt.datetime) -> bool:
    """Whether ``when`` (local time) falls in the quiet hours.

    A period belongs to the day it starts on: with 22:00-07:00 on Fridays
    only, Saturday 03:00 is quiet and Friday 03:00 is not.
    """
    if not quiet.enabled or not quiet.days:
        return False
    now = when.time()
    day = when.weekday()
    yesterday = (day - 1) % 7
    if quiet.start < quiet.end:
        return day in quiet.days and quiet.start <= now < quiet.end
    # Crosses midnight (start == end: a whole day from start).
    return (day in quiet.days and now >= quiet.start) or (
        yesterday in quiet.days and now < quiet.end
    )


def screen(
    candidate: Candidate, context: RuleContext, *, now: float, tz: dt.tzinfo | None = None
) -> Reason | None:
    """Steps 1-5 (no state): the reason the event is not shown, or ``None`` if it may pop up."""
    notification = candidate.notification
    if notification is None:
        return Reason.NO_NOTIFICATION
    rules = context.rules
    if not rules.enabled(firehose=context.firehose):
        return Reason.OFF
    if rules.muted_at(now):
        return Reason.MUTED
    if not matches_filters(rules, candidate):
        return Reason.FILTERED
    quiet = context.quiet_hours
    if (
        quiet.enabled
        and notification.urgency.rank < quiet.break_through.rank
        and in_quiet_hours(quiet, _local(now, tz))
    ):
        return Reason.QUIET
    return None


def _local(now: float, tz: dt.tzinfo | None) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(now, tz)
    except (OverflowError, OSError, ValueError):
        return dt.datetime.fromtimestamp(0, tz)


# -- summaries ----------------------------------------------------------------------------


def flood_key(feed_id: str) -> str:
    return f"flood:{feed_id}"


def backlog_key(feed_id: str) -> str:
    return f"backlog:{feed_id}"


def flood_summary(
    context: RuleContext, count: int, *, urgency: Urgency, latest: str = ""
) -> Notification:
    """The flood summary ("37 more from CI"): the events held back, updated in place.

    As urgent as the most urgent event it holds; ``latest`` is the last one's title.
    """
    name = context.feed_name or context.feed_id
    body = f"Latest: {latest}" if latest else ""
    return Notification(
        title=f"{count} more from {name}",
        body=body,
        urgency=urgency,
        feed_id=context.feed_id,
        replace_key=flood_key(context.feed_id),
        extra={"summary": "flood", "count": str(count)},
    )


def backlog_summary(
    context: RuleContext, count: int, *, urgency: Urgency, latest: str = ""
) -> Notification:
    """The backlog summary ("12 events from CI while you were away"): a replay at connect."""
    name = context.feed_name or context.feed_id
    noun = "event" if count == 1 else "events"
    body = f"Latest: {latest}" if latest else ""
    return Notification(
        title=f"{count} {noun} from {name} while you were away",
        body=body,
        urgency=urgency,
        feed_id=context.feed_id,
        replace_key=backlog_key(context.feed_id),
        extra={"summary": "backlog", "count": str(count)},
    )


GIST_LIMIT = 120
"""Characters of the latest event that a summary's body quotes."""


def _gist(notification: Notification, context: RuleContext) -> str:
    """What a summary quotes of an event: its title, or its body's first line when the title is
    only the feed's name (plain text)."""
    text = notification.title
    if not text.strip() or text == context.feed_name:
        text = (notification.body.strip().splitlines() or [text])[0]
    return shorten(text.strip(), GIST_LIMIT)


def _max_urgency(a: Urgency, b: Urgency) -> Urgency:
    return a if a.rank >= b.rank else b


# -- mute helpers ---------------------------------------------------------------------------


def mute_until_tomorrow(now: float, *, hour: int = 8, tz: dt.tzinfo | None = None) -> float:
    """The "until tomorrow" mute: ``hour`` o'clock (local) on the next calendar day."""
    today = _local(now, tz)
    morning = dt.datetime.combine(
        today.date() + dt.timedelta(days=1), dt.time(hour), tzinfo=today.tzinfo
    )
    return morning.timestamp()


def muted(rules: FeedRules, until: float | None = None) -> FeedRules:
    """``rules`` muted until ``until`` (a wall-clock time), or until unmuted when ``None``."""
    if until is None or math.isinf(until):
        return replace(rules, muted_until=MUTED_FOREVER)
    # Whole seconds: the settings file keeps them exactly.
    return replace(rules, muted_until=float(math.ceil(until)))


def unmuted(rules: FeedRules) -> FeedRules:
    return replace(rules, muted_until=None)


# -- per-feed state -------------------------------------------------------------------------


class FeedRuleState:
    """What the rules remember about one feed: recent popups, the summaries, the backlog window.

    The hub keeps one per feed for as long as the feed is in the hub (across
    reconnects and settings changes), calls :meth:`connection_opened` when its
    connection opens and :meth:`decide` for each stored batch, in order.
    """

    def __init__(self, limits: RuleLimits | None = None) -> None:
        self.limits = limits or RuleLimits()
        self._popups: deque[float] = deque()
        """Times of the popups within the last flood window."""
        self._flood_count = 0
        self._flood_urgency = Urgency.LOW
        self._last_flood: float | None = None
        self._opened_at: float | None = None
        self._backlog_seen = 0
        """Events (that passed steps 1-5) in the current backlog window."""
        self._backlog_count = 0
        self._backlog_urgency = Urgency.LOW

    @property
    def flood_count(self) -> int:
        """Events held back in the current flood summary (0 when none is open)."""
        return self._flood_count

    @property
    def backlog_count(self) -> int:
        """Events in the backlog summary of the current connection."""
        return self._backlog_count

    def connection_opened(self, now: float) -> None:
        """A connection opened: what arrives in the next backlog window may be a replay."""
        self._opened_at = now
        self._backlog_seen = 0
        self._backlog_count = 0
        self._backlog_urgency = Urgency.LOW

    def decide(
        self,
        batch: Sequence[Candidate],
        context: RuleContext,
        *,
        now: float,
        tz: dt.tzinfo | None = None,
    ) -> list[Decision]:
        """One decision per event of ``batch`` (events that arrived together), in order."""
        reasons = [screen(c, context, now=now, tz=tz) for c in batch]
        passing = sum(1 for r in reasons if r is None)
        backlog = self._in_backlog(now, passing)
        decisions: list[Decision] = []
        for candidate, reason in zip(batch, reasons, strict=True):
            if reason is not None:
                decisions.append(Decision.hide(reason))
            elif backlog:
                decisions.append(self._to_backlog(candidate, context))
            else:
                decisions.append(self._flood_control(candidate, context, now))
        return decisions

    def _in_backlog(self, now: float, passing: int) -> bool:
        opened = self._opened_at
        if opened is None or not 0 <= now - opened <= self.limits.backlog_window:
            return False
        self._backlog_seen += passing
        return passing > 0 and self._backlog_seen > self.limits.backlog_threshold

    def _to_backlog(self, candidate: Candidate, context: RuleContext) -> Decision:
        notification = candidate.notification
        assert notification is not None  # screened
        self._backlog_count += 1
        self._backlog_urgency = _max_urgency(self._backlog_urgency, notification.urgency)
        summary = backlog_summary(
            context,
            self._backlog_count,
            urgency=self._backlog_urgency,
            latest=_gist(notification, context),
        )
        return Decision.hide(Reason.BACKLOG, summary)

    def _flood_control(self, candidate: Candidate, context: RuleContext, now: float) -> Decision:
        notification = candidate.notification
        assert notification is not None  # screened
        window = self.limits.flood_window
        popups = self._popups
        # The window slides; a clock that went back drops what now lies in the future.
        while popups and not now - window < popups[0] <= now:
            popups.popleft()
        if self._last_flood is not None and not 0 <= now - self._last_flood < window:
            self._flood_count = 0
            self._flood_urgency = Urgency.LOW
            self._last_flood = None
        if len(popups) < self.limits.flood_limit:
            popups.append(now)
            return Decision.show(notification)
        self._flood_count += 1
        self._flood_urgency = _max_urgency(self._flood_urgency, notification.urgency)
        self._last_flood = now
        summary = flood_summary(
            context,
            self._flood_count,
            urgency=self._flood_urgency,
            latest=_gist(notification, context),
        )
        return Decision.hide(Reason.FLOOD, summary)
