"""The rules as pure functions and one state object, with the clock passed in.

Unit tests pin each rule (preset default, mute, filters, quiet hours, flood,
backlog); hypothesis checks the promises that must hold for any sequence of
events: at most 3 popups per feed in any 10 s, one decision per event,
summary counts equal to what was held back, quiet hours that cross midnight,
mutes that expire.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.core.models import Feed
from tidings.core.notification import Notification, Urgency
from tidings.core.rules import (
    ALL_DAYS,
    MUTED_FOREVER,
    Candidate,
    Decision,
    FeedRules,
    FeedRuleState,
    QuietHours,
    Reason,
    RuleContext,
    RuleLimits,
    backlog_key,
    flood_key,
    in_quiet_hours,
    mute_until_tomorrow,
    muted,
    screen,
    unmuted,
)

UTC = dt.UTC
# Wednesday 2026-01-07 12:00 UTC: a plain working-day noon.
NOON = dt.datetime(2026, 1, 7, 12, 0, tzinfo=UTC).timestamp()
FRI, SAT, SUN = 4, 5, 6


def note(
    title: str = "hello", *, urgency: Urgency = Urgency.NORMAL, body: str = ""
) -> Notification:
    return Notification(title=title, body=body, urgency=urgency, feed_id="ci")


def cand(
    title: str = "hello",
    *,
    event_type: str = "message",
    data: str = "",
    urgency: Urgency = Urgency.NORMAL,
    body: str = "",
    none: bool = False,
) -> Candidate:
    return Candidate(
        event_type=event_type,
        data=data or title,
        notification=None if none else note(title, urgency=urgency, body=body),
    )


def ctx(
    rules: FeedRules | None = None, *, firehose: bool = False, quiet: QuietHours | None = None
) -> RuleContext:
    return RuleContext(
        feed_id="ci",
        feed_name="CI",
        rules=rules or FeedRules(),
        firehose=firehose,
        quiet_hours=quiet or QuietHours(),
    )


def reason_of(candidate: Candidate, context: RuleContext, now: float = NOON) -> Reason | None:
    return screen(candidate, context, now=now, tz=UTC)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- the decision -------------------------------------------------------------------------


def test_decision_is_either_shown_or_has_a_reason() -> None:
    """A Decision holds a notification or a reason, never both and never neither."""
    assert Decision.show(note()).shown
    hidden = Decision.hide(Reason.FLOOD, note("3 more"))
    assert not hidden.shown
    assert hidden.summary is not None
    with pytest.raises(ValueError, match="either"):
        Decision(note(), Reason.MUTED)
    with pytest.raises(ValueError, match="either"):
        Decision(None, None)


def test_reasons_read_as_the_log_shows_them() -> None:
    """The reason codes are the words the log and the CLI show."""
    assert [r.value for r in Reason] == [
        "no-notification",
        "off",
        "muted",
        "filtered",
        "quiet",
        "backlog",
        "flood",
    ]
    assert str(Reason.NO_NOTIFICATION) == "no-notification"


# -- steps 1-4: preset default, mute, filters ---------------------------------------------


def test_event_without_notification_is_no_notification() -> None:
    """An event the preset made nothing of (keep-alive) is not shown, whatever the rules."""
    assert reason_of(cand(none=True), ctx()) is Reason.NO_NOTIFICATION


def test_notifications_default_depends_on_the_preset() -> None:
    """Not set: off for a firehose preset, on otherwise; set, it wins either way."""
    assert reason_of(cand(), ctx()) is None
    assert reason_of(cand(), ctx(firehose=True)) is Reason.OFF
    assert reason_of(cand(), ctx(FeedRules(notifications=True), firehose=True)) is None
    assert reason_of(cand(), ctx(FeedRules(notifications=False))) is Reason.OFF
    assert FeedRules().enabled(firehose=True) is False
    assert FeedRules().enabled(firehose=False) is True


def test_mute_until_a_time_expires() -> None:
    """A mute until T holds before T and is over at T."""
    rules = FeedRules(muted_until=NOON + 3600)
    assert reason_of(cand(), ctx(rules), NOON) is Reason.MUTED
    assert reason_of(cand(), ctx(rules), NOON + 3599.9) is Reason.MUTED
    assert reason_of(cand(), ctx(rules), NOON + 3600) is None


def test_mute_forever_lasts_until_unmuted() -> None:
    """A mute "until unmuted" holds at any time; unmuting ends it."""
    rules = muted(FeedRules())
    assert rules.muted_until == MUTED_FOREVER
    assert reason_of(cand(), ctx(rules), NOON + 10 * 365 * 86400) is Reason.MUTED
    assert reason_of(cand(), ctx(unmuted(rules))) is None
    assert unmuted(rules).muted_until is None


def test_muted_rounds_up_to_whole_seconds() -> None:
    """A timed mute is kept in whole seconds (stored exactly in the file), never shorter."""
    rules = muted(FeedRules(min_urgency=Urgency.NORMAL), NOON + 0.25)
    assert rules.muted_until == NOON + 1
    assert rules.min_urgency is Urgency.NORMAL  # the other rules are untouched
    assert muted(FeedRules(), math.inf).muted_until == MUTED_FOREVER


def test_mute_until_tomorrow_is_next_morning() -> None:
    """A mute "until tomorrow" ends at 08:00 local time on the next day, from any hour today."""
    for hour in (0, 7, 12, 23):
        now = at(2026, 1, 7, hour).timestamp()
        assert mute_until_tomorrow(now, tz=UTC) == at(2026, 1, 8, 8).timestamp()
    assert mute_until_tomorrow(NOON, hour=6, tz=UTC) == at(2026, 1, 8, 6).timestamp()


def test_mute_wins_over_filters_and_off_wins_over_mute() -> None:
    """The reason shown is the first rule that applies: off, then muted, then filtered."""
    rules = FeedRules(muted_until=MUTED_FOREVER, event_types=("push",))
    assert reason_of(cand(), ctx(rules)) is Reason.MUTED
    assert reason_of(cand(), ctx(rules, firehose=True)) is Reason.OFF


def test_event_types_filter() -> None:
    """With event types chosen, only those notify; an empty list lets every type through."""
    rules = FeedRules(event_types=("push", "release"))
    assert reason_of(cand(event_type="push"), ctx(rules)) is None
    assert reason_of(cand(event_type="release"), ctx(rules)) is None
    assert reason_of(cand(event_type="message"), ctx(rules)) is Reason.FILTERED
    assert reason_of(cand(event_type="anything"), ctx()) is None


def test_text_filter_searches_title_body_and_data() -> None:
    """The regex is searched (not anchored) in the title, the body and the raw data."""
    rules = FeedRules(text_filter=r"fail(ed|ure)")
    assert reason_of(cand("build failed"), ctx(rules)) is None
    assert reason_of(cand("build", body="a failure in step 3"), ctx(rules)) is None
    assert reason_of(cand("build", data='{"status": "failed"}'), ctx(rules)) is None
    assert reason_of(cand("build passed", data="ok"), ctx(rules)) is Reason.FILTERED
    # Case matters unless the pattern says otherwise.
    assert reason_of(cand("BUILD FAILED"), ctx(rules)) is Reason.FILTERED
    assert reason_of(cand("BUILD FAILED"), ctx(FeedRules(text_filter="(?i)failed"))) is None


def test_invalid_text_filter_lets_nothing_through() -> None:
    """A pattern that does not compile (the loader refuses them) filters everything out."""
    assert reason_of(cand("x"), ctx(FeedRules(text_filter="("))) is Reason.FILTERED


def test_minimum_urgency() -> None:
    """Events below the feed's minimum urgency are filtered; at or above pass."""
    rules = FeedRules(min_urgency=Urgency.NORMAL)
    assert reason_of(cand(urgency=Urgency.LOW), ctx(rules)) is Reason.FILTERED
    assert reason_of(cand(urgency=Urgency.NORMAL), ctx(rules)) is None
    assert reason_of(cand(urgency=Urgency.CRITICAL), ctx(rules)) is None


def test_context_for_a_feed_takes_its_rules() -> None:
    """RuleContext.for_feed reads the feed's id, name and rules."""
    feed = Feed(id="f1", name="One", url="https://x.example/", rules=FeedRules(notifications=True))
    context = RuleContext.for_feed(feed, firehose=True)
    assert (context.feed_id, context.feed_name, context.rules) == ("f1", "One", feed.rules)
    assert context.quiet_hours == QuietHours()


# -- quiet hours ------------------------------------------------------------------------------


def test_quiet_hours_same_day_range() -> None:
    """09:00-17:00 on weekdays: quiet inside, not at the end minute, not at weekends."""
    quiet = QuietHours(enabled=True, days=frozenset(range(5)), start=dt.time(9), end=dt.time(17))
    assert in_quiet_hours(quiet, at(2026, 1, 7, 9))
    assert in_quiet_hours(quiet, at(2026, 1, 7, 16, 59))
    assert not in_quiet_hours(quiet, at(2026, 1, 7, 17))
    assert not in_quiet_hours(quiet, at(2026, 1, 7, 8, 59))
    assert not in_quiet_hours(quiet, at(2026, 1, 10, 12))  # a Saturday


def test_quiet_hours_cross_midnight_and_belong_to_their_start_day() -> None:
    """22:00-07:00 on Fridays only: Friday night and Saturday morning, not Friday morning."""
    quiet = QuietHours(enabled=True, days=frozenset({FRI}), start=dt.time(22), end=dt.time(7))
    friday, saturday = 9, 10  # January 2026
    assert in_quiet_hours(quiet, at(2026, 1, friday, 23))
    assert in_quiet_hours(quiet, at(2026, 1, saturday, 3))
    assert in_quiet_hours(quiet, at(2026, 1, saturday, 6, 59))
    assert not in_quiet_hours(quiet, at(2026, 1, saturday, 7))
    assert not in_quiet_hours(quiet, at(2026, 1, friday, 3))  # Thursday night is not quiet
    assert not in_quiet_hours(quiet, at(2026, 1, saturday, 23))


def test_quiet_hours_start_equal_end_is_a_whole_day() -> None:
    """start == end covers 24 hours: 00:00-00:00 on Sundays is all of Sunday."""
    quiet = QuietHours(enabled=True, days=frozenset({SUN}), start=dt.time(0), end=dt.time(0))
    sunday = 11
    assert in_quiet_hours(quiet, at(2026, 1, sunday, 0))
    assert in_quiet_hours(quiet, at(2026, 1, sunday, 23, 59))
    assert not in_quiet_hours(quiet, at(2026, 1, sunday + 1, 0))


def test_quiet_hours_off_or_without_days() -> None:
    """Disabled quiet hours, or none of the days chosen, are never quiet."""
    assert not in_quiet_hours(QuietHours(), at(2026, 1, 7, 23))
    assert not in_quiet_hours(QuietHours(enabled=True, days=frozenset()), at(2026, 1, 7, 23))


def test_quiet_hours_let_urgent_events_break_through() -> None:
    """During quiet hours only events at or above the break-through urgency pop up."""
    quiet = QuietHours(enabled=True, start=dt.time(0), end=dt.time(0), break_through=Urgency.NORMAL)
    context = ctx(quiet=quiet)
    assert reason_of(cand(urgency=Urgency.LOW), context) is Reason.QUIET
    assert reason_of(cand(urgency=Urgency.NORMAL), context) is None
    default = ctx(quiet=QuietHours(enabled=True, start=dt.time(0), end=dt.time(0)))
    assert reason_of(cand(urgency=Urgency.NORMAL), default) is Reason.QUIET
    assert reason_of(cand(urgency=Urgency.CRITICAL), default) is None


def test_quiet_hours_use_the_given_time_zone() -> None:
    """Quiet hours are local time: the same instant is quiet in one zone and not another."""
    quiet = QuietHours(enabled=True, start=dt.time(22), end=dt.time(7))
    context = ctx(quiet=quiet)
    instant = at(2026, 1, 7, 12).timestamp()  # noon UTC, 23:00 at UTC+11
    assert screen(cand(), context, now=instant, tz=UTC) is None
    plus11 = dt.timezone(dt.timedelta(hours=11))
    assert screen(cand(), context, now=instant, tz=plus11) is Reason.QUIET


# -- flood control ---------------------------------------------------------------------------


def decide_one(
    state: FeedRuleState,
    now: float,
    candidate: Candidate | None = None,
    context: RuleContext | None = None,
) -> Decision:
    (decision,) = state.decide([candidate or cand()], context or ctx(), now=now, tz=UTC)
    return decision


def test_flood_three_popups_then_one_summary_updated_in_place() -> None:
    """A burst: 3 shown, the rest held back into one summary whose count goes up."""
    state = FeedRuleState()
    batch = [cand(f"event {n}") for n in range(40)]
    decisions = state.decide(batch, ctx(), now=NOON, tz=UTC)
    assert len(decisions) == 40
    assert [d.notification.title for d in decisions if d.notification] == [
        "event 0",
        "event 1",
        "event 2",
    ]
    held = decisions[3:]
    assert {d.reason for d in held} == {Reason.FLOOD}
    summaries = [d.summary for d in held]
    assert all(s is not None and s.replace_key == flood_key("ci") == "flood:ci" for s in summaries)
    assert [s.title for s in summaries if s][:2] == ["1 more from CI", "2 more from CI"]
    last = summaries[-1]
    assert last is not None
    assert last.title == "37 more from CI"
    assert last.body == "Latest: event 39"
    assert last.extra == {"summary": "flood", "count": "37"}
    assert last.feed_id == "ci"
    assert state.flood_count == 37


def test_summary_quotes_the_latest_event_briefly() -> None:
    """A summary quotes the latest title, or the body's first line when the title is the feed's."""
    state = FeedRuleState()
    plain = Candidate(
        event_type="message", data="d", notification=note("CI", body="line 1\nline 2")
    )
    long = cand("x" * 500)
    decisions = state.decide([plain] * 4 + [long], ctx(), now=NOON, tz=UTC)
    assert decisions[3].summary is not None
    assert decisions[3].summary.body == "Latest: line 1"
    assert decisions[4].summary is not None
    assert len(decisions[4].summary.body) == len("Latest: ") + 120
    assert decisions[4].summary.body.endswith("…")


def test_flood_window_slides() -> None:
    """Popups come back as old ones leave the 10 s window, one by one."""
    state = FeedRuleState()
    shown = [decide_one(state, NOON + t).shown for t in (0, 1, 2, 3, 9.9, 10.0, 10.5, 11.0, 12.0)]
    # 0,1,2 shown; 3 and 9.9 held; at 10.0 the popup of 0 has left; at 11.0 the one of 1.
    assert shown == [True, True, True, False, False, True, False, True, True]


def test_flood_summary_count_starts_again_after_a_quiet_window() -> None:
    """Once a whole window passes with nothing held back, the next summary counts from 1."""
    state = FeedRuleState()
    for t in range(5):
        decide_one(state, NOON + t * 0.1)
    assert state.flood_count == 2
    # Still within 10 s of the last held event: the count goes on.
    for offset in (0.5, 0.6, 0.7):
        decide_one(state, NOON + offset)
    assert state.flood_count == 5
    later = NOON + 0.7 + 10
    assert [decide_one(state, later + t * 0.01).shown for t in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert state.flood_count == 1


def test_flood_summary_is_as_urgent_as_its_most_urgent_event() -> None:
    """A critical event held back makes the summary critical (it is not lost in the noise)."""
    state = FeedRuleState()
    batch = [cand(f"e{n}", urgency=Urgency.LOW) for n in range(5)]
    batch.append(cand("disk full", urgency=Urgency.CRITICAL))
    batch.append(cand("e6", urgency=Urgency.LOW))
    decisions = state.decide(batch, ctx(), now=NOON, tz=UTC)
    summaries = [d.summary for d in decisions if d.summary]
    assert summaries[0].urgency is Urgency.LOW
    assert summaries[-1].urgency is Urgency.CRITICAL


def test_hidden_events_do_not_count_toward_the_flood_limit() -> None:
    """Filtered, muted or quiet events are not popups: the next passing ones still show."""
    state = FeedRuleState()
    rules = FeedRules(event_types=("push",))
    batch = [cand(event_type="ping") for _ in range(10)] + [cand(event_type="push")] * 3
    decisions = state.decide(batch, ctx(rules), now=NOON, tz=UTC)
    assert [d.reason for d in decisions[:10]] == [Reason.FILTERED] * 10
    assert all(d.shown for d in decisions[10:])
    assert all(d.summary is None for d in decisions)


def test_flood_state_is_per_state_object() -> None:
    """Two feeds (two state objects) each get their own 3 popups."""
    a, b = FeedRuleState(), FeedRuleState()
    assert sum(d.shown for d in a.decide([cand()] * 5, ctx(), now=NOON, tz=UTC)) == 3
    assert sum(d.shown for d in b.decide([cand()] * 5, ctx(), now=NOON, tz=UTC)) == 3


def test_clock_going_back_does_not_stall_popups() -> None:
    """Popups "in the future" (the wall clock was set back) no longer hold new ones back."""
    state = FeedRuleState()
    for _ in range(3):
        decide_one(state, NOON)
    assert decide_one(state, NOON - 3600).shown


# -- backlog -------------------------------------------------------------------------------------


def test_backlog_at_connect_becomes_one_summary() -> None:
    """12 events in the first read after the connection opened: no popups, one summary."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    batch = [cand(f"missed {n}") for n in range(12)]
    decisions = state.decide(batch, ctx(), now=NOON + 0.05, tz=UTC)
    assert not any(d.shown for d in decisions)
    assert {d.reason for d in decisions} == {Reason.BACKLOG}
    last = decisions[-1].summary
    assert last is not None
    assert last.title == "12 events from CI while you were away"
    assert last.replace_key == backlog_key("ci") == "backlog:ci"
    assert last.body == "Latest: missed 11"
    assert state.backlog_count == 12


def test_backlog_of_three_or_fewer_pops_up() -> None:
    """Up to 3 events at connect are ordinary events (the limit is "more than 3")."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    decisions = state.decide([cand()] * 3, ctx(), now=NOON + 0.1, tz=UTC)
    assert all(d.shown for d in decisions)


def test_backlog_spread_over_several_reads() -> None:
    """Reads within the window add up; once past the threshold the rest join the summary."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    first = state.decide([cand(), cand()], ctx(), now=NOON + 0.1, tz=UTC)
    second = state.decide([cand()] * 5, ctx(), now=NOON + 0.2, tz=UTC)
    assert all(d.shown for d in first)
    assert {d.reason for d in second} == {Reason.BACKLOG}
    assert second[-1].summary is not None
    assert second[-1].summary.title == "5 events from CI while you were away"


def test_backlog_never_counts_toward_the_flood_limit() -> None:
    """After a backlog summary, live events get their full 3 popups."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    state.decide([cand()] * 20, ctx(), now=NOON + 0.1, tz=UTC)
    live = state.decide([cand()] * 4, ctx(), now=NOON + 2, tz=UTC)
    assert [d.shown for d in live] == [True, True, True, False]
    assert live[-1].summary is not None
    assert live[-1].summary.title == "1 more from CI"


def test_backlog_window_ends() -> None:
    """Events after the backlog window are live: a burst then is a flood, not a backlog."""
    state = FeedRuleState(RuleLimits(backlog_window=1.0))
    state.connection_opened(NOON)
    decisions = state.decide([cand()] * 5, ctx(), now=NOON + 1.5, tz=UTC)
    assert [d.reason for d in decisions] == [None, None, None, Reason.FLOOD, Reason.FLOOD]


def test_backlog_counts_only_events_that_would_have_shown() -> None:
    """Keep-alives and filtered events in a replay are neither popups nor part of the summary."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    batch = [cand(none=True)] * 10 + [cand(event_type="ping")] * 10 + [cand()] * 2
    decisions = state.decide(batch, ctx(FeedRules(event_types=("message",))), now=NOON, tz=UTC)
    assert [d.reason for d in decisions[-2:]] == [None, None]
    assert all(d.summary is None for d in decisions)


def test_each_connection_has_its_own_backlog() -> None:
    """A reconnect starts a new backlog summary (same replace key) counting from 1."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    state.decide([cand()] * 10, ctx(), now=NOON, tz=UTC)
    state.connection_opened(NOON + 60)
    decisions = state.decide([cand()] * 4, ctx(), now=NOON + 60.2, tz=UTC)
    assert decisions[-1].summary is not None
    assert decisions[-1].summary.title == "4 events from CI while you were away"
    assert decisions[-1].summary.replace_key == "backlog:ci"


def test_quiet_hours_hold_a_backlog_without_a_summary() -> None:
    """During quiet hours a replay of ordinary events stays in the log: no summary pops up."""
    state = FeedRuleState()
    state.connection_opened(NOON)
    quiet = QuietHours(enabled=True, start=dt.time(0), end=dt.time(0))
    decisions = state.decide([cand()] * 10, ctx(quiet=quiet), now=NOON, tz=UTC)
    assert {d.reason for d in decisions} == {Reason.QUIET}
    assert all(d.summary is None for d in decisions)


# -- properties ----------------------------------------------------------------------------------

# Event times as gaps (seconds) between batches and batch sizes: dense bursts and long pauses.
gaps = st.one_of(
    st.floats(min_value=0, max_value=0.5),
    st.floats(min_value=0, max_value=30),
    st.sampled_from([0.0, 9.999, 10.0, 10.001]),
)
batches = st.lists(st.tuples(gaps, st.integers(min_value=1, max_value=8)), max_size=40)


def run_batches(
    spec: Sequence[tuple[float, int]],
    *,
    opened: Sequence[int] = (),
    rules: FeedRules | None = None,
    event_type_of: Sequence[str] = (),
) -> list[tuple[int, float, Decision]]:
    """Feed batches to one state object; return (batch, time, decision) per event, in order."""
    state = FeedRuleState()
    now = NOON
    out: list[tuple[int, float, Decision]] = []
    n = 0
    for index, (gap, size) in enumerate(spec):
        now += gap
        if index in opened:
            state.connection_opened(now)
        batch = []
        for _ in range(size):
            kind = event_type_of[n % len(event_type_of)] if event_type_of else "message"
            batch.append(cand(f"e{n}", event_type=kind))
            n += 1
        decisions = state.decide(batch, ctx(rules), now=now, tz=UTC)
        assert len(decisions) == len(batch)
        out.extend((index, now, d) for d in decisions)
    return out


@settings(max_examples=300, deadline=None)
@given(batches)
def test_property_never_more_than_three_popups_in_any_ten_seconds(
    spec: list[tuple[float, int]],
) -> None:
    """For any event times, any 10 s window holds at most 3 popups of the feed."""
    shown = [t for _, t, d in run_batches(spec) if d.shown]
    for t in shown:
        assert sum(1 for u in shown if t - 10 < u <= t) <= 3


@settings(max_examples=300, deadline=None)
@given(batches)
def test_property_a_popup_is_held_back_only_when_three_were_shown(
    spec: list[tuple[float, int]],
) -> None:
    """Flood control holds an event back only when 3 popups are already in the window."""
    shown: list[float] = []
    for _, t, d in run_batches(spec):
        recent = sum(1 for u in shown if t - 10 < u <= t)
        if d.shown:
            assert recent < 3
            shown.append(t)
        else:
            assert d.reason is Reason.FLOOD
            assert recent == 3


@settings(max_examples=300, deadline=None)
@given(
    batches,
    st.sets(st.integers(min_value=0, max_value=39)),
    st.lists(st.sampled_from(["message", "ping"]), min_size=1, max_size=5),
)
def test_property_one_decision_per_event_and_summaries_count_what_was_held(
    spec: list[tuple[float, int]], opened: set[int], kinds: list[str]
) -> None:
    """Each event gets one decision; each summary's count is the events held in its run."""
    rules = FeedRules(event_types=("message",))
    decided = run_batches(spec, opened=sorted(opened), rules=rules, event_type_of=kinds)
    assert len(decided) == sum(size for _, size in spec)
    flood_run = 0
    last_flood: float | None = None
    backlog_run = 0
    connection = -1  # the batch at which the current connection opened
    opened_at = 0.0
    for batch, t, d in decided:
        assert d.shown == (d.reason is None)
        if batch in opened and batch != connection:
            connection, opened_at, backlog_run = batch, t, 0
        if d.reason is Reason.FLOOD:
            if last_flood is None or t - last_flood >= 10:
                flood_run = 0
            flood_run += 1
            last_flood = t
            assert d.summary is not None
            assert d.summary.replace_key == "flood:ci"
            assert d.summary.extra["count"] == str(flood_run)
        elif d.reason is Reason.BACKLOG:
            assert connection >= 0
            assert 0 <= t - opened_at <= 1.0
            backlog_run += 1
            assert d.summary is not None
            assert d.summary.replace_key == "backlog:ci"
            assert d.summary.extra["count"] == str(backlog_run)
        else:
            assert d.summary is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=4, max_value=30), min_size=1, max_size=5))
def test_property_backlog_summary_counts_each_replayed_event(sizes: list[int]) -> None:
    """Per connection, the backlog summary's final count equals the events it holds back."""
    state = FeedRuleState()
    now = NOON
    for size in sizes:
        now += 100
        state.connection_opened(now)
        decisions = state.decide([cand()] * size, ctx(), now=now + 0.5, tz=UTC)
        held = [d for d in decisions if d.reason is Reason.BACKLOG]
        assert len(held) == size
        assert decisions[-1].summary is not None
        assert decisions[-1].summary.extra["count"] == str(size)
        assert state.backlog_count == size


def reference_quiet(quiet: QuietHours, when: dt.datetime) -> bool:
    """Quiet hours by another route: is ``when`` within [start, start + length) of a chosen day?"""
    start_minute = quiet.start.hour * 60 + quiet.start.minute
    end_minute = quiet.end.hour * 60 + quiet.end.minute
    length = (end_minute - start_minute) % 1440 or 1440
    for back in (0, 1):
        day = when.date() - dt.timedelta(days=back)
        if day.weekday() not in quiet.days:
            continue
        begin = dt.datetime.combine(day, quiet.start, tzinfo=when.tzinfo)
        if begin <= when < begin + dt.timedelta(minutes=length):
            return True
    return False


times_of_day = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))


@settings(max_examples=500, deadline=None)
@given(
    start=times_of_day,
    end=times_of_day,
    days=st.frozensets(st.integers(0, 6)),
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_property_quiet_hours_match_a_reference(
    start: dt.time, end: dt.time, days: frozenset[int], when: dt.datetime
) -> None:
    """Quiet hours (crossing midnight or not) agree with a period-by-period reference."""
    quiet = QuietHours(enabled=True, days=days, start=start, end=end)
    assert in_quiet_hours(quiet, when) == reference_quiet(quiet, when)


@settings(max_examples=200, deadline=None)
@given(
    start=times_of_day,
    end=times_of_day,
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_property_quiet_hours_on_every_day_depend_on_the_time_only(
    start: dt.time, end: dt.time, when: dt.datetime
) -> None:
    """With every day chosen, quiet iff the time of day lies in [start, end) around the clock."""
    quiet = QuietHours(enabled=True, days=ALL_DAYS, start=start, end=end)
    t = when.time()
    expected = start <= t < end if start < end else (t >= start or t < end)
    assert in_quiet_hours(quiet, when) == expected


@settings(max_examples=300, deadline=None)
@given(
    until=st.one_of(st.none(), st.just(MUTED_FOREVER), st.floats(NOON - 1e6, NOON + 1e6)),
    offset=st.floats(-2e6, 2e6),
)
def test_property_mute_holds_until_it_expires(until: float | None, offset: float) -> None:
    """An event is muted exactly while now is before muted_until, then shows again."""
    rules = FeedRules() if until is None else muted(FeedRules(), until)
    now = NOON + offset
    expected_muted = rules.muted_until is not None and now < rules.muted_until
    assert (reason_of(cand(), ctx(rules), now) is Reason.MUTED) == expected_muted
    if not expected_muted:
        assert reason_of(cand(), ctx(rules), now) is None
