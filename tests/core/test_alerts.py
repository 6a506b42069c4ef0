"""The lost-connection alert's state machine, driven by statuses and a fake clock."""

from __future__ import annotations

from tidings.core.alerts import AlertKind, ConnectionAlerts, replace_key_for
from tidings.core.models import ConnectionState, FeedStatus, StopReason

URL = "https://example.org/sse"


def status(state: ConnectionState, **kw: object) -> FeedStatus:
    return FeedStatus(state=state, url=URL, **kw)  # type: ignore[arg-type]


OPEN = status(ConnectionState.OPEN)
CONNECTING = status(ConnectionState.CONNECTING)
PAUSED = status(ConnectionState.PAUSED)


def retrying(message: str = "connection refused", **kw: object) -> FeedStatus:
    return status(ConnectionState.RETRYING, message=message, delay=1.0, **kw)


def test_one_lost_alert_after_the_grace_period_and_no_repeat() -> None:
    """Down 60 s gives one LOST (with the last error); retries after that say nothing more."""
    alerts = ConnectionAlerts(after=60)
    assert alerts.observe("f", "CI", OPEN, now=0) == []
    assert alerts.observe("f", "CI", retrying("refused"), now=10) == []
    assert alerts.next_deadline() == 70
    assert alerts.due(now=69.9) == []
    alerts.observe("f", "CI", CONNECTING, now=40)
    alerts.observe("f", "CI", retrying("HTTP 502: bad gateway"), now=41)
    (lost,) = alerts.due(now=70)
    assert lost.kind is AlertKind.LOST
    assert (lost.feed_id, lost.feed_name, lost.message) == ("f", "CI", "HTTP 502: bad gateway")
    assert lost.ever_open
    assert not lost.stopped
    assert lost.down_for == 60
    for t in range(71, 500, 7):
        alerts.observe("f", "CI", retrying(), now=t)
        assert alerts.due(now=t) == []
    assert alerts.next_deadline() is None


def test_back_once_when_open_again() -> None:
    """OPEN after a LOST gives one BACK; a short outage (no LOST) gives nothing."""
    alerts = ConnectionAlerts(after=60)
    alerts.observe("f", "CI", OPEN, now=0)
    alerts.observe("f", "CI", retrying(), now=1)
    assert alerts.observe("f", "CI", OPEN, now=30) == []  # back before the grace: silent
    alerts.observe("f", "CI", retrying(), now=100)
    assert [a.kind for a in alerts.due(now=161)] == [AlertKind.LOST]
    (back,) = alerts.observe("f", "CI", OPEN, now=220)
    assert back.kind is AlertKind.BACK
    assert back.down_for == 120
    assert alerts.observe("f", "CI", OPEN, now=221) == []
    assert alerts.due(now=1000) == []


def test_pause_and_user_stop_cancel_and_withdraw() -> None:
    """Pausing before the grace cancels; pausing after a LOST withdraws it; CLOSED is the user's."""
    alerts = ConnectionAlerts(after=60)
    alerts.observe("f", "CI", retrying(), now=0)
    assert alerts.observe("f", "CI", PAUSED, now=30) == []
    assert alerts.due(now=100) == []
    assert alerts.next_deadline() is None
    alerts.observe("f", "CI", retrying(), now=100)
    assert len(alerts.due(now=160)) == 1
    closed = status(ConnectionState.STOPPED, stop_reason=StopReason.CLOSED)
    (withdraw,) = alerts.observe("f", "CI", closed, now=170)
    assert withdraw.kind is AlertKind.WITHDRAW
    assert alerts.observe("f", "CI", OPEN, now=200) == []  # nothing to say "back" about


def test_a_fatal_stop_counts_as_down_and_never_connected_says_so() -> None:
    """A stop for credentials is down (Tidings stopped trying); a feed never open is flagged."""
    alerts = ConnectionAlerts(after=5)
    stop = status(
        ConnectionState.STOPPED,
        message="401 Unauthorized",
        http_status=401,
        stop_reason=StopReason.NEEDS_CREDENTIALS,
    )
    alerts.observe("f", "CI", CONNECTING, now=0)
    alerts.observe("f", "CI", stop, now=1)
    (lost,) = alerts.due(now=5)
    assert lost.stopped
    assert not lost.ever_open
    assert lost.message == "401 Unauthorized"


def test_removed_feed_and_zero_grace() -> None:
    """forget() withdraws a LOST shown; after=0 turns the alert off."""
    alerts = ConnectionAlerts(after=10)
    alerts.observe("f", "CI", retrying(), now=0)
    alerts.due(now=10)
    assert [a.kind for a in alerts.forget("f")] == [AlertKind.WITHDRAW]
    assert alerts.forget("f") == []
    off = ConnectionAlerts(after=0)
    off.observe("g", "G", retrying(), now=0)
    assert off.next_deadline() is None
    assert off.due(now=10**6) == []
    off.set_after(30)
    assert off.next_deadline() == 30


def test_feeds_are_independent_and_keys_are_per_feed() -> None:
    """Each feed has its own watch and its own replace key."""
    alerts = ConnectionAlerts(after=10)
    alerts.observe("a", "A", retrying(), now=0)
    alerts.observe("b", "B", retrying(), now=5)
    assert [a.feed_id for a in alerts.due(now=10)] == ["a"]
    assert [a.feed_id for a in alerts.due(now=15)] == ["b"]
    assert replace_key_for("a") != replace_key_for("b")
