"""The plain text preset: the data is the body, the feed name (or event type) the title."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.notification import Notification, Urgency
from tidings.core.presets import MapContext, Mapped, get_preset

PLAIN = get_preset("plain")


def test_data_is_the_body_and_the_feed_name_the_title() -> None:
    """A plain event: body = data (all lines), title = feed name, normal urgency."""
    event = DecodedEvent("message", "line one\nline two", "4", True)
    mapped = PLAIN.map(event, MapContext(feed_id="f", feed_name="Build log"))
    assert mapped == Mapped(
        notification=Notification(
            title="Build log", body="line one\nline two", urgency=Urgency.NORMAL, feed_id="f"
        )
    )


def test_without_a_feed_name_the_event_type_is_the_title() -> None:
    """listen has no feed: the title is the event type."""
    mapped = PLAIN.map(DecodedEvent("deploy", "ok", "", False), MapContext())
    assert mapped.notification is not None
    assert mapped.notification.title == "deploy"


def test_ids_never_dedupe_and_the_request_is_unchanged() -> None:
    """Plain ids may restart, so none de-duplicates; URL and Last-Event-ID pass through."""
    assert PLAIN.stable_ids is False
    assert PLAIN.map(DecodedEvent("message", "x", "9", True), MapContext()).dedupe_id is None
    assert PLAIN.uses_last_event_id() is True
    assert PLAIN.normalize_url("https://example.org/events?x=1") == "https://example.org/events?x=1"
    url = httpx.URL("https://example.org/events")
    assert PLAIN.request_url(url, "42") == url


def test_recorded_stream_maps_every_event() -> None:
    """A recorded plain stream (comments, ids, event names, UTF-8): one notification per event."""
    decoder = SSEDecoder()
    events = decoder.feed(
        b": hello\n\nid: 1\ndata: first\n\n"
        b"event: note\ndata: caf\xc3\xa9\n\ndata: <b>not html</b>\n\n"
    )
    decoder.close()
    mapped = [PLAIN.map(e, MapContext(feed_name="Feed")) for e in events]
    assert [(m.notification.title, m.notification.body) for m in mapped if m.notification] == [
        ("Feed", "first"),
        ("Feed", "caf\u00e9"),
        ("Feed", "<b>not html</b>"),  # plain text, shown as written
    ]


@settings(max_examples=200, deadline=None)
@given(data=st.text(), event_type=st.text(min_size=1, max_size=10))
def test_map_never_raises_and_has_no_url(data: str, event_type: str) -> None:
    """Any text: a notification whose body is the data, with no URL, icon or action."""
    mapped = PLAIN.map(DecodedEvent(event_type, data, "", False), MapContext())
    assert mapped.notification is not None
    assert mapped.notification.body == data
    assert (mapped.notification.url, mapped.notification.icon) == ("", "")
    assert mapped.notification.actions == ()
