"""The ntfy preset: topic URLs, ``since=`` resume, and what each event of ntfy's SSE stream becomes.

The recorded stream below is ntfy's wire format as SSE.md section 4 describes
it: ``event: <type>`` + ``data: <json>`` for everything but messages, bare
``data: <json>`` for messages, and no ``id:`` or ``retry:`` lines. The hub
test runs a loopback server that speaks that format and honours ``since=``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.scripted_server import BodyPart, RecordedRequest, Reply, ScriptedServer
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.models import ConnectionPolicy, Feed, FeedStatus
from tidings.core.notification import Action, Notification, Urgency
from tidings.core.presets import MapContext, Mapped, get_preset
from tidings.core.presets.ntfy import EMOJI, emoji_for
from tidings.core.secrets import MemoryStore

NTFY = get_preset("ntfy")
CONTEXT = MapContext(feed_id="f1", feed_name="Alerts", url="https://ntfy.example/mytopic/sse")


def message_event(payload: dict[str, Any] | str, event_type: str = "message") -> DecodedEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return DecodedEvent(event_type, data, "", False)


def ntfy_map(payload: dict[str, Any] | str, event_type: str = "message") -> Mapped:
    return NTFY.map(message_event(payload, event_type), CONTEXT)


def note_of(payload: dict[str, Any]) -> Notification:
    note = ntfy_map(payload).notification
    assert note is not None
    return note


def msg(**fields: Any) -> dict[str, Any]:
    """An ntfy message as the server sends it, with the given fields on top."""
    base: dict[str, Any] = {
        "id": "sPs71M8A2T1x",
        "time": 1717171717,
        "expires": 1717214917,
        "event": "message",
        "topic": "mytopic",
        "message": "Backup finished",
    }
    base.update(fields)
    return base


# -- the request -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "subscribed"),
    [
        ("https://ntfy.sh/mytopic", "https://ntfy.sh/mytopic/sse"),
        ("https://ntfy.sh/mytopic/", "https://ntfy.sh/mytopic/sse"),
        ("https://ntfy.sh/alerts,backups", "https://ntfy.sh/alerts,backups/sse"),
        ("https://ntfy.sh/mytopic/sse", "https://ntfy.sh/mytopic/sse"),
        ("https://ntfy.sh/mytopic/json", "https://ntfy.sh/mytopic/sse"),
        ("https://ntfy.sh/mytopic/raw", "https://ntfy.sh/mytopic/sse"),
        ("https://ntfy.sh/mytopic/ws", "https://ntfy.sh/mytopic/sse"),
        (
            "https://ntfy.sh/mytopic/json?poll=1&auth=QmFzaWM",
            "https://ntfy.sh/mytopic/sse?poll=1&auth=QmFzaWM",
        ),
        (
            "http://host:8080/ntfy/mytopic?priority=4,5",
            "http://host:8080/ntfy/mytopic/sse?priority=4,5",
        ),
        # A topic named like an endpoint is still a topic when it is the only segment.
        ("https://ntfy.sh/json", "https://ntfy.sh/json/sse"),
    ],
)
def test_topic_urls_subscribe_through_sse(pasted: str, subscribed: str) -> None:
    """A pasted topic URL (one or several topics, or a sibling endpoint) becomes its /sse URL."""
    assert NTFY.normalize_url(pasted) == subscribed
    assert NTFY.normalize_url(subscribed) == subscribed  # idempotent


@pytest.mark.parametrize(
    "url", ["https://ntfy.sh/", "https://ntfy.sh", "ftp://ntfy.sh/t", "nonsense"]
)
def test_urls_without_a_topic_stay_as_they_are(url: str) -> None:
    """No topic, or not an http(s) URL: left for URL validation and the connection to judge."""
    assert NTFY.normalize_url(url) == url


def test_since_is_the_cursor_and_other_parameters_stay() -> None:
    """request_url adds since=<last message id> only with a cursor, keeping auth= and filters."""
    url = httpx.URL("https://ntfy.example/mytopic/sse?auth=QmVhcmVy&tags=backup")
    assert NTFY.request_url(url, None) == url
    assert NTFY.request_url(url, "") == url
    resumed = NTFY.request_url(url, "hwQ2YpKdmg9z")
    assert resumed.params["since"] == "hwQ2YpKdmg9z"
    assert resumed.params["auth"] == "QmVhcmVy"
    assert resumed.params["tags"] == "backup"
    # The cursor replaces a since= the user pasted (that one was for the first connection).
    pasted = httpx.URL("https://ntfy.example/mytopic/sse?since=all")
    assert NTFY.request_url(pasted, "abc").params.get_list("since") == ["abc"]


def test_resume_and_dedupe_flags() -> None:
    """ntfy resumes with its own cursor (no Last-Event-ID), ids are stable, the cache replays."""
    assert NTFY.uses_last_event_id() is False
    assert NTFY.stable_ids is True
    assert NTFY.replays is True


# -- a recorded stream -----------------------------------------------------------------

RECORDED = b"".join(
    [
        b'event: open\ndata: {"id":"k5lPzQVa3Rn0","time":1717171700,"event":"open",'
        b'"topic":"mytopic"}\n\n',
        b'data: {"id":"sPs71M8A2T1x","time":1717171710,"expires":1717214910,"event":"message",'
        b'"topic":"mytopic","title":"Disk almost full","message":"/var is at 97%","priority":5,'
        b'"tags":["warning","rotating_light","db-01"],"click":"https://grafana.example/d/disk",'
        b'"icon":"https://ntfy.example/static/disk.png"}\n\n',
        b'event: keepalive\ndata: {"id":"Y3ifsBr0Tj9V","time":1717171745,"event":"keepalive",'
        b'"topic":"mytopic"}\n\n',
        b'data: {"id":"Qm8vA1bC2dE3","time":1717171750,"expires":1717214950,"event":"message",'
        b'"topic":"mytopic","message":"Deploy waiting for approval","priority":4,"tags":["rocket"],'
        b'"sequence_id":"deploy-42","actions":[{"id":"a1","action":"view","label":"Open run",'
        b'"url":"https://ci.example/runs/42","clear":false},{"id":"a2","action":"http",'
        b'"label":"Approve","url":"https://ci.example/api/runs/42/approve","method":"PUT",'
        b'"headers":{"Authorization":"Bearer tk_abc"},"body":"{\\"approved\\":true}","clear":true},'
        b'{"id":"a3","action":"broadcast","label":"Tasker","intent":"io.heckel.ntfy.USER_ACTION",'
        b'"extras":{"cmd":"approve"}}]}\n\n',
        b'data: {"id":"Rt5uV6wX7yZ8","time":1717171760,"expires":1717214960,"event":"message",'
        b'"topic":"mytopic","message":"You received a file: report.pdf",'
        b'"attachment":{"name":"report.pdf",'
        b'"type":"application/pdf","size":482133,"expires":1717182560,'
        b'"url":"https://ntfy.example/file/Rt5uV6wX7yZ8.pdf"}}\n\n',
        b'data: {"id":"Hj3kL4mN5pQ6","time":1717171770,"expires":1717214970,"event":"message",'
        b'"topic":"mytopic","message":"Deploy approved","priority":3,'
        b'"sequence_id":"deploy-42"}\n\n',
        b'event: message_delete\ndata: {"id":"Zx9cV8bN7mA6","time":1717171780,'
        b'"event":"message_delete","topic":"mytopic","sequence_id":"deploy-42"}\n\n',
        b'event: poll_request\ndata: {"id":"Pp1Oo2Ii3Uu4","time":1717171790,"event":"poll_request",'
        b'"topic":"mytopic","message":"New message","poll_id":"Xx0Yy9Zz8Ww7"}\n\n',
    ]
)


def decode(body: bytes) -> list[DecodedEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    return events


def test_recorded_stream_maps_each_event() -> None:
    """A recorded ntfy stream: control events drop, messages notify, a delete withdraws."""
    events = decode(RECORDED)
    assert [e.type for e in events] == [
        "open",
        "message",
        "keepalive",
        "message",
        "message",
        "message",
        "message_delete",
        "poll_request",
    ]
    assert all(e.id == "" for e in events)  # ntfy sends no id: lines
    mapped = [NTFY.map(e, CONTEXT) for e in events]
    assert [m.notification is None for m in mapped] == [
        True,
        False,
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    assert [m.reason for m in mapped] == [
        "control",
        "",
        "keep-alive",
        "",
        "",
        "",
        "withdrawn",
        "control",
    ]
    assert not any(m.bad_payload for m in mapped)
    # The cursor is the last message (or withdrawal) id; control events carry none.
    assert [m.cursor for m in mapped] == [
        None,
        "sPs71M8A2T1x",
        None,
        "Qm8vA1bC2dE3",
        "Rt5uV6wX7yZ8",
        "Hj3kL4mN5pQ6",
        "Zx9cV8bN7mA6",
        None,
    ]
    assert [m.dedupe_id for m in mapped] == [m.cursor for m in mapped]

    disk = mapped[1].notification
    assert disk == Notification(
        title="\u26a0\ufe0f \U0001f6a8 Disk almost full",
        body="/var is at 97%\nTags: db-01",
        urgency=Urgency.CRITICAL,
        icon="https://ntfy.example/static/disk.png",
        url="https://grafana.example/d/disk",
        tags=("db-01",),
        feed_id="f1",
        replace_key="sPs71M8A2T1x",
        extra={"topic": "mytopic"},
    )

    deploy = mapped[3].notification
    assert deploy is not None
    assert deploy.title == "mytopic"  # no title: the topic
    assert deploy.body == "\U0001f680 Deploy waiting for approval"  # emoji lead the message
    assert deploy.urgency is Urgency.NORMAL
    assert deploy.replace_key == "deploy-42"
    assert deploy.actions == (
        Action(label="Open run", kind="view", url="https://ci.example/runs/42"),
        Action(
            label="Approve",
            kind="http",
            url="https://ci.example/api/runs/42/approve",
            method="PUT",
            headers=(("Authorization", "Bearer tk_abc"),),
            body='{"approved":true}',
        ),
    )

    report = mapped[4].notification
    assert report is not None
    assert report.body == "You received a file: report.pdf\nAttachment: report.pdf (482.1 KB)"
    assert report.actions == (
        Action(
            label="Open attachment", kind="view", url="https://ntfy.example/file/Rt5uV6wX7yZ8.pdf"
        ),
    )

    approved = mapped[5].notification
    assert approved is not None
    assert approved.replace_key == deploy.replace_key  # the update replaces the first one
    assert mapped[6].withdraw_key == "deploy-42"  # and the delete removes it


# -- fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "urgency"),
    [
        (1, Urgency.LOW),
        (2, Urgency.LOW),
        (3, Urgency.NORMAL),
        (4, Urgency.NORMAL),
        (5, Urgency.CRITICAL),
        (None, Urgency.NORMAL),
        (0, Urgency.NORMAL),
        (9, Urgency.NORMAL),
        ("5", Urgency.CRITICAL),
        ("high", Urgency.NORMAL),
        (True, Urgency.NORMAL),
        ([5], Urgency.NORMAL),
    ],
)
def test_priority_maps_to_urgency(priority: Any, urgency: Urgency) -> None:
    """Priority 1-2 is low, 3-4 normal, 5 critical; missing or odd values are normal."""
    fields = {} if priority is None else {"priority": priority}
    assert note_of(msg(**fields)).urgency is urgency


def test_emoji_tags_lead_the_title_and_other_tags_stay_tags() -> None:
    """Emoji short codes become emoji before the title; other tags are kept and shown."""
    note = note_of(msg(title="Backup", tags=["white_check_mark", "nightly", "+1", ":tada:", "", 7]))
    assert note.title == "\u2705 \U0001f44d \U0001f389 Backup"
    assert note.tags == ("nightly", "7")
    assert note.body == "Backup finished\nTags: nightly, 7"


def test_emoji_without_title_lead_the_message_and_the_topic_is_the_title() -> None:
    """Without a title, the emoji lead the message and the title is the topic."""
    note = note_of(msg(tags=["skull"]))
    assert note.title == "mytopic"
    assert note.body == "\U0001f480 Backup finished"
    assert note_of(msg(tags=["skull"], message="")).body == "\U0001f480"


def test_emoji_table_covers_the_common_short_codes() -> None:
    """At least 40 short codes, including the ones ntfy's docs and users use most."""
    assert len(EMOJI) >= 40
    common = [
        "warning",
        "rotating_light",
        "white_check_mark",
        "heavy_check_mark",
        "x",
        "skull",
        "tada",
        "+1",
        "-1",
        "partying_face",
        "loudspeaker",
        "no_entry",
        "lock",
        "key",
        "computer",
        "fire",
        "rocket",
        "bell",
    ]
    for code in common:
        assert emoji_for(code), code
    assert emoji_for("WARNING") == emoji_for("warning")
    assert emoji_for("backup") is None
    # Every value is emoji, never text that could be mistaken for a tag.
    assert all(not value.isascii() for value in EMOJI.values())


def test_title_falls_back_to_the_feed_name_without_topic() -> None:
    """No title and no topic: the feed name."""
    payload = msg()
    del payload["topic"]
    assert note_of(payload).title == "Alerts"


def test_click_and_icon_must_be_http() -> None:
    """click and icon URLs other than http(s) are dropped (mailto:, javascript:, relative)."""
    note = note_of(msg(click="javascript:alert(1)", icon="file:///etc/passwd"))
    assert note.url == ""
    assert note.icon == ""
    assert note_of(msg(click="mailto:ops@example.org")).url == ""
    assert note_of(msg(click="/relative")).url == ""
    assert note_of(msg(click="https://ok.example/x")).url == "https://ok.example/x"


def test_actions_keep_view_and_http_and_drop_the_rest() -> None:
    """view and http actions are kept (http runs only on click); broadcast, copy and bad ones go."""
    actions = [
        {"action": "broadcast", "label": "Tasker", "extras": {"a": "b"}},
        {"action": "copy", "label": "Copy code", "value": "123456"},
        {"action": "view", "label": "Map", "url": "geo:0,0?q=1600+Amphitheatre"},
        {"action": "view", "label": "Evil", "url": "javascript:alert(1)"},
        {"action": "view", "url": "https://example.org/a"},
        {"action": "http", "label": "Ping", "url": "https://example.org/hook"},
        {
            "action": "HTTP",
            "label": "Bad headers",
            "url": "https://example.org/h",
            "method": "delete",
            "headers": {
                "X-Good": "yes",
                "X-Bad": "a\r\nInjected: 1",
                "Bad Name": "x",
                "X-Number": 5,
                "X-Unicode": "caf\u00e9",
            },
            "body": 42,
        },
        {"action": "http", "label": "Bad method", "url": "https://example.org/m", "method": "GE T"},
        "not an object",
    ]
    note = note_of(msg(actions=actions))
    assert note.actions == (
        Action(label="Open", kind="view", url="https://example.org/a"),
        Action(label="Ping", kind="http", url="https://example.org/hook", method="POST"),
        Action(
            label="Bad headers",
            kind="http",
            url="https://example.org/h",
            method="DELETE",
            headers=(("X-Good", "yes"),),
            body="42",
        ),
    )
    assert note_of(msg(actions={"action": "view"})).actions == ()


def test_attachment_without_a_safe_url_is_mentioned_without_an_action() -> None:
    """An attachment is named in the body; only an http(s) link becomes an action."""
    note = note_of(msg(attachment={"name": "a.bin", "url": "file:///tmp/a.bin"}))
    assert note.body == "Backup finished\nAttachment: a.bin"
    assert note.actions == ()
    assert note_of(msg(attachment={"url": "https://x.example/f"})).body.endswith("Attachment: file")
    big = note_of(msg(attachment={"name": "big.iso", "size": 3_500_000_000, "url": ""}))
    assert big.body.endswith("Attachment: big.iso (3.5 GB)")
    small = note_of(msg(attachment={"name": "t.txt", "size": 12, "url": ""}))
    assert small.body.endswith("Attachment: t.txt (12 bytes)")


def test_replace_key_is_the_sequence_id_else_the_message_id() -> None:
    """Updates with one sequence_id share a replace key; a message without one uses its id."""
    assert note_of(msg()).replace_key == "sPs71M8A2T1x"
    assert note_of(msg(sequence_id="backup-job")).replace_key == "backup-job"
    assert note_of(msg(id="other", sequence_id="backup-job")).replace_key == "backup-job"


@pytest.mark.parametrize("kind", ["message_delete", "message_clear"])
def test_delete_and_clear_withdraw_the_notification(kind: str) -> None:
    """message_delete and message_clear show nothing and withdraw the sequence's notification."""
    payload = {"id": "Zx9cV8bN7mA6", "time": 1, "event": kind, "topic": "t", "sequence_id": "s1"}
    mapped = ntfy_map(payload, kind)
    assert mapped.notification is None
    assert mapped.withdraw_key == "s1"
    assert mapped.dedupe_id == "Zx9cV8bN7mA6"
    del payload["sequence_id"]
    assert ntfy_map(payload, kind).withdraw_key == "Zx9cV8bN7mA6"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("open", "control"), ("keepalive", "keep-alive"), ("poll_request", "control")],
)
def test_control_events_are_not_notifications(kind: str, reason: str) -> None:
    """open, keepalive and poll_request: no notification, no cursor, no dedupe id."""
    mapped = ntfy_map({"id": "k5lPzQVa3Rn0", "time": 1, "event": kind, "topic": "t"}, kind)
    assert mapped == Mapped(notification=None, reason=reason)


def test_unknown_event_types_are_not_notifications() -> None:
    """An event type a newer ntfy may add is logged without a notification."""
    mapped = ntfy_map({"id": "x", "event": "message_pin", "topic": "t"}, "message_pin")
    assert mapped.notification is None
    assert "message_pin" in mapped.reason


def test_the_json_event_field_wins_over_the_sse_type() -> None:
    """The JSON ``event`` names the event (a message has no SSE event line)."""
    assert ntfy_map({"id": "x", "event": "keepalive"}, "message").notification is None
    assert ntfy_map({"id": "x", "message": "hi"}, "message").notification is not None


@pytest.mark.parametrize("data", ["not json", "{", '["a", "b"]', "42", '"text"', "[" * 100_000])
def test_bad_payloads_are_shown_raw(data: str) -> None:
    """Data that is not a JSON object is shown raw and marked bad, never an exception."""
    mapped = ntfy_map(data)
    assert mapped.bad_payload is True
    assert mapped.notification is not None
    assert mapped.notification.body == data
    assert mapped.notification.title == "Alerts"
    assert mapped.cursor is None


def test_empty_data_is_not_a_notification() -> None:
    """An event with empty data has nothing to show."""
    assert ntfy_map("").notification is None
    assert ntfy_map("").bad_payload is False


def test_base64_message_is_decoded() -> None:
    """A message ntfy sent base64-encoded (encoding: base64) is shown as text."""
    encoded = base64.b64encode("Gr\u00fc\u00dfe".encode()).decode()
    assert note_of(msg(message=encoded, encoding="base64")).body == "Gr\u00fc\u00dfe"
    assert note_of(msg(message="!!!", encoding="base64")).body == "!!!"


def test_lone_surrogates_become_replacement_characters() -> None:
    """JSON escapes can carry lone surrogates; the notification stays encodable as UTF-8."""
    note = note_of(msg(title="\ud800a", message="b\udfff", tags=["\udc80"]))
    text = json.dumps(note.to_json(), ensure_ascii=False)
    text.encode("utf-8")
    assert "\ufffd" in note.title
    assert "\ufffd" in note.body


def test_wrongly_typed_fields_are_ignored() -> None:
    """Fields of unexpected types do not break the mapping."""
    note = note_of(
        msg(title=["x"], message={"a": 1}, tags="warning", click=5, actions="view", attachment=[])
    )
    assert note.title == "mytopic"
    assert note.body == ""
    assert note.tags == ()
    assert note.actions == ()


# -- properties --------------------------------------------------------------------------

URLISH = st.sampled_from(
    [
        "https://ok.example/x",
        "HTTP://UPPER.example",
        " https://spaced.example/ ",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
        "http:/no-host",
        "https://[::1",
        "mailto:a@b.example",
        "ftp://files.example/",
        "",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | URLISH
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ACTIONS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(["view", "http", "broadcast", "copy"]) | JSON_VALUES,
            "label": st.text(max_size=10) | JSON_VALUES,
            "url": URLISH | JSON_VALUES,
            "method": st.sampled_from(["GET", "post", "", "A B"]) | JSON_VALUES,
            "headers": st.dictionaries(st.text(max_size=8), st.text(max_size=8) | JSON_VALUES),
            "body": JSON_VALUES,
        },
    )
    | JSON_VALUES,
    max_size=4,
)
NTFY_MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=12) | JSON_VALUES,
        "event": st.sampled_from(
            ["message", "open", "keepalive", "poll_request", "message_delete", "message_clear"]
        )
        | JSON_VALUES,
        "topic": st.text(max_size=10) | JSON_VALUES,
        "title": st.text(max_size=20) | JSON_VALUES,
        "message": st.text(max_size=40) | JSON_VALUES,
        "priority": st.integers(-3, 8) | JSON_VALUES,
        "tags": st.lists(st.sampled_from(sorted(EMOJI)) | st.text(max_size=8)) | JSON_VALUES,
        "click": URLISH | JSON_VALUES,
        "icon": URLISH | JSON_VALUES,
        "actions": ACTIONS,
        "attachment": st.fixed_dictionaries(
            {}, optional={"name": JSON_VALUES, "url": URLISH | JSON_VALUES, "size": JSON_VALUES}
        )
        | JSON_VALUES,
        "sequence_id": st.text(max_size=8) | JSON_VALUES,
        "encoding": st.just("base64") | JSON_VALUES,
    },
)


def assert_safe(mapped: Mapped) -> None:
    """Every URL in the mapping is absolute http(s), and the whole is UTF-8 encodable."""
    note = mapped.notification
    if note is None:
        return
    for url in (note.url, note.icon, *(a.url for a in note.actions)):
        if url:
            parts = urlsplit(url)
            assert parts.scheme.lower() in ("http", "https"), url
            assert parts.netloc, url
    json.dumps(note.to_json(), ensure_ascii=False).encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=NTFY_MESSAGES, event_type=st.sampled_from(["message", "open", "keepalive", "x"]))
def test_map_never_raises_and_urls_stay_http(payload: dict[str, Any], event_type: str) -> None:
    """On any ntfy-shaped JSON, map() returns a mapping whose URLs are all http(s)."""
    assert_safe(NTFY.map(message_event(payload, event_type), CONTEXT))


@settings(max_examples=200, deadline=None)
@given(data=st.text() | JSON_VALUES.map(json.dumps))
def test_map_never_raises_on_arbitrary_data(data: str) -> None:
    """Arbitrary text or JSON: a mapping (maybe bad_payload), never an exception."""
    assert_safe(NTFY.map(message_event(data), CONTEXT))


# -- the hub against a loopback ntfy -------------------------------------------------------

POLICY = ConnectionPolicy(
    reconnection_time=0.05, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
LIMIT = 10.0


def _ntfy_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":"))
    if message["event"] == "message":
        return f"data: {data}\n\n".encode()
    return f"event: {message['event']}\ndata: {data}\n\n".encode()


class NtfyTopic:
    """One ntfy topic on a ScriptedServer: a message cache, live subscribers, ``since=``.

    ``since=<id>`` sends the cached messages after that id; an id the cache
    no longer knows (``forget_ids``) sends the whole cache, as ntfy does.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.cache: list[dict[str, Any]] = []
        self.queues: list[asyncio.Queue[dict[str, Any] | None]] = []
        self.forget_ids = False
        self.since: list[str | None] = []

    def publish(self, text: str, **fields: Any) -> dict[str, Any]:
        message = {
            "id": _ntfy_id(),
            "time": int(time.time()),
            "expires": int(time.time()) + 43200,
            "event": "message",
            "topic": self.topic,
            "message": text,
            **fields,
        }
        self.cache.append(message)
        for queue in self.queues:
            queue.put_nowait(message)
        return message

    def drop_connections(self) -> None:
        for queue in self.queues:
            queue.put_nowait(None)

    def _backlog(self, since: str | None) -> list[dict[str, Any]]:
        if since is None:
            return []
        ids = [m["id"] for m in self.cache]
        if since == "all" or self.forget_ids or since not in ids:
            return list(self.cache)
        return self.cache[ids.index(since) + 1 :]

    def __call__(self, request: RecordedRequest) -> Reply:
        path, _, query = request.target.partition("?")
        if path != f"/{self.topic}/sse":
            return Reply(status=404, headers=(("Content-Type", "text/plain"),), framing="length")
        since = parse_qs(query).get("since", [None])[0]
        self.since.append(since)
        # Taken together, so that nothing published from here on is lost or sent twice.
        backlog = self._backlog(since)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.queues.append(queue)

        def body(_request: RecordedRequest) -> AsyncIterator[BodyPart]:
            async def parts() -> AsyncIterator[BodyPart]:
                try:
                    opened = {"id": _ntfy_id(), "time": int(time.time()), "event": "open"}
                    yield _frame({**opened, "topic": self.topic})
                    yield _frame({**opened, "id": _ntfy_id(), "event": "keepalive"})
                    for cached in backlog:
                        yield _frame(cached)
                    while (live := await queue.get()) is not None:
                        yield _frame(live)
                finally:
                    self.queues.remove(queue)

            return parts()

        return Reply(
            headers=(("Content-Type", "text/event-stream; charset=utf-8"),), body=body, end="close"
        )


class Sink:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.changed = asyncio.Event()

    def events_stored(self, feed: Feed, events: Any) -> None:
        self.events.extend(events)
        self.changed.set()

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.changed.set()

    def of_type(self, kind: str) -> list[StoredEvent]:
        return [e for e in self.events if e.type == kind]

    async def wait_for(self, predicate: Callable[[], object]) -> None:
        async with asyncio.timeout(LIMIT):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def _message_id(event: StoredEvent) -> str:
    value = json.loads(event.data)["id"]
    assert isinstance(value, str)
    return value


async def test_hub_resumes_with_since_and_stores_each_message_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconnects and restarts ask for since=<last id>; an expired id's replay is deduped."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    topic = NtfyTopic("mytopic")
    store = HistoryStore(tmp_path / "history.sqlite3")
    await store.open()
    hubs: list[Hub] = []

    def new_hub(sink: Sink) -> Hub:
        hub = Hub(store=store, secrets=MemoryStore(), sinks=[sink], policy=POLICY)
        hubs.append(hub)
        return hub

    try:
        async with ScriptedServer(topic) as server:
            feed = Feed(id="n", name="Alerts", url=server.url("/mytopic"), preset="ntfy")
            sink = Sink()
            hub = new_hub(sink)
            hub.add(feed)
            await sink.wait_for(lambda: len(sink.of_type("open")) == 1)
            assert server.requests[0].target == "/mytopic/sse"
            sent = [topic.publish(f"message {n}", priority=n) for n in (1, 2, 3)]
            await sink.wait_for(lambda: len(sink.of_type("message")) == 3)

            # The server drops the connection: the reconnect asks for what came after m3.
            topic.drop_connections()
            await sink.wait_for(lambda: len(sink.of_type("open")) == 2)
            sent.append(topic.publish("message 4"))
            await sink.wait_for(lambda: len(sink.of_type("message")) == 4)
            await hub.stop()
            assert await store.cursor("n") == sent[3]["id"]

            # Published while Tidings was not running.
            sent += [topic.publish(f"message {n}") for n in (5, 6)]
            sink2 = Sink()
            again = new_hub(sink2)
            again.add(feed)
            await sink2.wait_for(lambda: len(sink2.of_type("message")) == 2)

            # The cursor expired on the server: it replays its whole cache; all deduped.
            topic.forget_ids = True
            topic.drop_connections()
            await sink2.wait_for(lambda: len(sink2.of_type("open")) == 2)
            sent.append(topic.publish("message 7"))
            await sink2.wait_for(lambda: len(sink2.of_type("message")) == 3)
            await again.stop()

            assert topic.since == [None, sent[2]["id"], sent[3]["id"], sent[5]["id"]]
            stored = [
                e for e in reversed(await store.recent("n", limit=1000)) if e.type == "message"
            ]
            assert [_message_id(e) for e in stored] == [m["id"] for m in sent]
            assert [_message_id(e) for e in sink.of_type("message") + sink2.of_type("message")] == [
                m["id"] for m in sent
            ]
            assert await store.cursor("n") == sent[-1]["id"]
            assert not [e for e in await store.recent("n", limit=1000) if e.type == "tidings:gap"]
            notes = [e.notification for e in sink.of_type("message")]
            assert [n.urgency if n else None for n in notes[:3]] == [
                Urgency.LOW,
                Urgency.LOW,
                Urgency.NORMAL,
            ]
            assert all(e.event_id == "" for e in await store.recent("n", limit=1000))
    finally:
        for hub in hubs:
            await hub.stop()
        await store.close()
