"""The generic JSON preset: paths and templates for title, body, URL, priority and id; defaults.

Payloads are the kind of JSON a CI relay, a home-automation bridge or an
uptime monitor sends as SSE data.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.scripted_server import ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.notification import Notification, Urgency
from tidings.core.presets import MapContext, Mapped, get_preset
from tidings.core.presets.json_preset import (
    check_options,
    parse_urgency,
    preview,
    resolve_path,
)

JSON = get_preset("json")

CI_EVENT = {
    "data": {
        "title": "Build #812 failed",
        "status": "failure",
        "links": {"html": "https://ci.example/builds/812"},
    },
    "repo": {"name": "tidings", "owner": "octo-org"},
    "items": [{"name": "unit tests", "ok": False}, {"name": "lint", "ok": True}],
    "severity": "critical",
    "build_id": 812,
}


def json_map(
    payload: Any, options: dict[str, str] | None = None, *, raw: bool = False, feed: str = "CI"
) -> Mapped:
    data = payload if raw else json.dumps(payload)
    context = MapContext(feed_id="ci", feed_name=feed, options=options or {})
    return JSON.map(DecodedEvent("message", data, "17", True), context)


def note_of(payload: Any, options: dict[str, str] | None = None, **kw: Any) -> Notification:
    note = json_map(payload, options, **kw).notification
    assert note is not None
    return note


def test_configured_paths_pick_each_field() -> None:
    """Dotted paths (with list indexes) pick title, body, URL, priority and id."""
    options = {
        "title": "data.title",
        "body": "items.0.name",
        "url": "data.links.html",
        "priority": "severity",
        "id": "build_id",
    }
    mapped = json_map(CI_EVENT, options)
    assert mapped.notification == Notification(
        title="Build #812 failed",
        body="unit tests",
        urgency=Urgency.CRITICAL,
        url="https://ci.example/builds/812",
        feed_id="ci",
    )
    assert mapped.dedupe_id == "812"
    assert mapped.bad_payload is False


def test_templates_fill_placeholders() -> None:
    """A template's {path} placeholders are filled; {{ and }} are literal braces."""
    options = {
        "title": "{repo.owner}/{repo.name}: {data.status}",
        "body": "{items[1].name} ok={items.1.ok}, missing=[{nope.nothing}] {{literal}}",
        "url": "https://ci.example/{repo.name}/{build_id}",
    }
    note = note_of(CI_EVENT, options)
    assert note.title == "octo-org/tidings: failure"
    assert note.body == "lint ok=true, missing=[] {literal}"
    assert note.url == "https://ci.example/tidings/812"


def test_defaults_without_options() -> None:
    """Without options: common keys give the title, body, URL and priority."""
    note = note_of(
        {
            "subject": "Disk almost full",
            "description": "/var at 97%",
            "link": "https://grafana.example/d/1",
            "priority": 5,
        }
    )
    assert (note.title, note.body, note.url, note.urgency) == (
        "Disk almost full",
        "/var at 97%",
        "https://grafana.example/d/1",
        Urgency.CRITICAL,
    )
    assert json_map({"title": "x"}).dedupe_id is None  # ids only from a configured path
    event = note_of({"event": "door.opened", "text": "Front door", "level": "info"})
    assert (event.title, event.body, event.urgency) == ("door.opened", "Front door", Urgency.NORMAL)


def test_defaults_fall_back_to_feed_name_and_a_json_summary() -> None:
    """No title key: the feed name; no body key: the event as compact JSON (cut short)."""
    note = note_of({"temp": 21.5, "room": "office"})
    assert note.title == "CI"
    assert note.body == '{"temp": 21.5, "room": "office"}'
    assert len(note_of({"blob": "x" * 5000}).body) <= 300
    assert note_of({"a": 1}, feed="").title == "message"  # no feed name: the event type


def test_non_object_json() -> None:
    """A JSON string is the body; a number or list is shown as JSON; paths index lists."""
    assert note_of("just a string").body == "just a string"
    assert note_of(42).body == "42"
    assert note_of([{"name": "a"}], {"title": "0.name"}).title == "a"


def test_a_configured_path_that_finds_nothing() -> None:
    """A configured path that finds nothing: the default title, a JSON body, no URL, no id."""
    options = {"title": "nope", "body": "nope", "url": "nope", "priority": "nope", "id": "nope"}
    mapped = json_map({"title": "ignored", "a": 1}, options)
    assert mapped.notification is not None
    assert mapped.notification.title == "CI"
    assert mapped.notification.body == '{"title": "ignored", "a": 1}'
    assert mapped.notification.url == ""
    assert mapped.notification.urgency is Urgency.NORMAL
    assert mapped.dedupe_id is None


def test_blank_options_count_as_absent() -> None:
    """An option left blank in the settings uses the default."""
    assert note_of({"title": "T"}, {"title": "  "}).title == "T"


def test_unsafe_urls_are_dropped() -> None:
    """A picked URL that is not http(s) is dropped."""
    assert note_of({"url": "javascript:alert(1)"}).url == ""
    assert note_of({"u": "file:///etc/passwd"}, {"url": "u"}).url == ""
    assert note_of({"id": 1}, {"url": "{id}"}).url == ""  # relative


@pytest.mark.parametrize(
    ("value", "urgency"),
    [
        (1, Urgency.LOW),
        (2, Urgency.LOW),
        (3, Urgency.NORMAL),
        (4, Urgency.NORMAL),
        (5, Urgency.CRITICAL),
        (5.0, Urgency.CRITICAL),
        ("2", Urgency.LOW),
        ("low", Urgency.LOW),
        ("Normal", Urgency.NORMAL),
        ("high", Urgency.NORMAL),
        ("URGENT", Urgency.CRITICAL),
        ("critical", Urgency.CRITICAL),
        ("error", Urgency.CRITICAL),
        ("debug", Urgency.LOW),
        (0, None),
        (6, None),
        (4.5, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        ("loud", None),
        (None, None),
        ([1], None),
    ],
)
def test_priority_words_and_numbers(value: Any, urgency: Urgency | None) -> None:
    """Numbers 1-5 and words map to an urgency; anything else to none (normal)."""
    assert parse_urgency(value) is urgency


def test_dedupe_id_only_from_a_configured_path() -> None:
    """The SSE id never de-duplicates; a configured id path does (text or number)."""
    assert json_map({"id": "a1"}).dedupe_id is None
    assert json_map({"id": "a1"}, {"id": "id"}).dedupe_id == "a1"
    assert json_map({"job": {"id": 7}}, {"id": "job-{job.id}"}).dedupe_id == "job-7"
    assert json_map({"id": ""}, {"id": "id"}).dedupe_id is None


@pytest.mark.parametrize(
    "data", ["not json", "{", "{'single': 'quotes'}", "[" * 100_000, "1" * 5000]
)
def test_bad_json_is_shown_raw(data: str) -> None:
    """Data that is not JSON is shown raw and marked bad, never an exception."""
    mapped = json_map(data, raw=True)
    assert mapped.bad_payload is True
    assert mapped.notification == Notification(title="CI", body=data, feed_id="ci")


def test_empty_data_is_not_a_notification() -> None:
    """An empty event (an MCP-style priming event, say) has nothing to show."""
    mapped = json_map("", raw=True)
    assert mapped.notification is None
    assert mapped.reason == "empty"


def test_resolve_path() -> None:
    """Paths walk objects and lists; anything absent is None."""
    assert resolve_path(CI_EVENT, "repo.name") == "tidings"
    assert resolve_path(CI_EVENT, "items.1.name") == "lint"
    assert resolve_path(CI_EVENT, "items[0].ok") is False
    assert resolve_path(CI_EVENT, "items.9.name") is None
    assert resolve_path(CI_EVENT, "items.-1") is None
    assert resolve_path(CI_EVENT, "repo.name.first") is None
    assert resolve_path({"0": "key"}, "0") == "key"
    assert resolve_path(CI_EVENT, "") is CI_EVENT


def test_check_options() -> None:
    """Unknown options and unbalanced braces are reported; good ones are not."""
    assert check_options({"title": "{repo.name}: {status}", "body": "message", "id": "a.0"}) == []
    problems = check_options({"titel": "x", "body": "{unclosed", "url": "a}b"})
    assert len(problems) == 3
    assert "titel" in problems[0]
    # An unbalanced template is shown as written rather than failing.
    assert note_of({"a": 1}, {"title": "{unclosed"}).title == "{unclosed"


def test_preview_maps_recent_events_with_options() -> None:
    """preview() maps the feed's last events (decoded, or just their data) with given options."""
    events: list[DecodedEvent | str] = [
        json.dumps(CI_EVENT),
        DecodedEvent("status", '{"data": {"title": "Build #813 passed"}}', "18", True),
        "not json",
    ]
    mapped = preview({"title": "data.title", "id": "build_id"}, events, feed_name="CI")
    assert [m.notification.title if m.notification else None for m in mapped] == [
        "Build #812 failed",
        "Build #813 passed",
        "CI",
    ]
    assert [m.dedupe_id for m in mapped] == ["812", None, None]
    assert [m.bad_payload for m in mapped] == [False, False, True]
    assert preview({}, []) == []


def test_lone_surrogates_become_replacement_characters() -> None:
    """JSON escapes can carry lone surrogates; the result stays encodable as UTF-8."""
    note = note_of('{"title": "a\\ud800", "message": "\\udfffb"}', raw=True)
    json.dumps(note.to_json(), ensure_ascii=False).encode("utf-8")
    assert note.title == "a\ufffd"


async def test_recorded_stream_over_loopback() -> None:
    """A recorded stream of JSON events, decoded from a real loopback response, maps as expected."""
    body = (
        b": keep-alive\n\n"
        b'id: 1\ndata: {"title": "Deploy started", "message": "prod", "priority": "low"}\n\n'
        b'id: 2\ndata: {"title": "Deploy done",\ndata:  "message": "prod", "url": "https://x.example/d/2"}\n\n'
        b"id: 3\ndata: oops\n\n"
    )
    async with (
        ScriptedServer([sse_reply(body)]) as server,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        response = await client.get(server.url())
        raw = response.content
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    decoder.close()
    mapped = [JSON.map(e, MapContext(feed_name="Deploys")) for e in events]
    notes = [m.notification for m in mapped]
    assert [(n.title, n.body, n.urgency) for n in notes if n] == [
        ("Deploy started", "prod", Urgency.LOW),
        ("Deploy done", "prod", Urgency.NORMAL),
        ("Deploys", "oops", Urgency.NORMAL),
    ]
    assert [m.dedupe_id for m in mapped] == [None, None, None]  # SSE ids never dedupe here


# -- properties ---------------------------------------------------------------------------

URLISH = st.sampled_from(
    ["https://ok.example", "javascript:alert(1)", "file:///x", "//evil", "data:,x", ""]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | URLISH,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["title", "message", "url", "link", "html_url", "priority", "level", "a"]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)
SPECS = st.sampled_from(["title", "a.b", "0", "a.0.b", "{a}", "{url}/{title}", "{", "}{", ""]) | (
    st.text(max_size=12)
)
OPTIONS = st.dictionaries(st.sampled_from(["title", "body", "url", "priority", "id", "x"]), SPECS)


def assert_safe(mapped: Mapped) -> None:
    note = mapped.notification
    if note is None:
        return
    for url in (note.url, note.icon, *(a.url for a in note.actions)):
        if url:
            assert urlsplit(url).scheme.lower() in ("http", "https"), url
            assert urlsplit(url).netloc, url
    json.dumps(note.to_json(), ensure_ascii=False).encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON_VALUES, options=OPTIONS)
def test_map_never_raises_with_any_options(value: Any, options: dict[str, str]) -> None:
    """Any JSON with any options: a mapping with http(s) URLs only, never an exception."""
    assert_safe(json_map(value, options))


@settings(max_examples=200, deadline=None)
@given(data=st.text(), options=OPTIONS)
def test_map_never_raises_on_arbitrary_text(data: str, options: dict[str, str]) -> None:
    """Arbitrary text: a mapping (maybe bad_payload), never an exception."""
    assert_safe(json_map(data, options, raw=True))
