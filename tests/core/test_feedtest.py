"""The feed editor's core: a test connection against real loopback servers, preset detection,
field-by-field checks and the keyring changes of an edit."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.feedtest import (
    FeedTestResult,
    check_feed,
    detect_preset,
    secret_changes,
)
from tidings.core.feedtest import test_feed as run_test
from tidings.core.models import Auth, AuthKind, Feed, FeedRules, Header, StopReason
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import MemoryStore, auth_slot, header_slot

LIMIT = 15.0
TOKEN = "tk_sEcReT-73c1"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@contextlib.asynccontextmanager
async def serving(*replies: Reply) -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(list(replies)) as server:
        yield server


def feed_at(server: ScriptedServer, **fields: object) -> Feed:
    return Feed(id="f-1", name="Builds", url=server.url(), **fields)  # type: ignore[arg-type]


async def run(feed: Feed, store: MemoryStore | None = None, **kwargs: object) -> FeedTestResult:
    async with asyncio.timeout(LIMIT):
        return await run_test(
            feed,
            secrets=store if store is not None else MemoryStore(),
            known=KnownSecrets(),
            **kwargs,  # type: ignore[arg-type]
        )


# -- failures, in words -------------------------------------------------------------------


async def test_a_401_with_a_token_says_the_token_was_rejected() -> None:
    """401 on a bearer feed: "401: the token was rejected"; the typed token was sent, not shown."""
    async with serving(Reply(status=401, body=[b"nope"], framing="length")) as server:
        feed = feed_at(server, auth=Auth(kind=AuthKind.BEARER))
        progress: list[str] = []
        result = await run(feed, extra_secrets={auth_slot(): TOKEN}, on_progress=progress.append)
    assert not result.ok
    assert result.message == "401: the token was rejected"
    assert result.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert result.http_status == 401
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"
    shown = " ".join([result.message, result.detail, *progress])
    assert TOKEN not in shown
    assert any("connecting to" in line for line in progress)


async def test_a_401_without_credentials_says_the_feed_sends_none() -> None:
    """401 on a feed without auth: the message says to choose an authentication."""
    async with serving(Reply(status=401, body=[b""], framing="length")) as server:
        result = await run(feed_at(server))
    assert result.message.startswith("401: the server needs credentials, and this feed sends none")


async def test_a_403_on_basic_auth_says_access_denied() -> None:
    """403 with a user name and password: access denied, naming what was sent."""
    async with serving(Reply(status=403, body=[b""], framing="length")) as server:
        store = MemoryStore()
        await store.set("f-1", auth_slot(), "pw")
        feed = feed_at(server, auth=Auth(kind=AuthKind.BASIC, username="alice"))
        result = await run(feed, store)
    assert result.message == "403: access denied: the user name or password has no access"


async def test_html_instead_of_an_event_stream_is_named() -> None:
    """200 text/html: "the server answered text/html, not an event stream"."""
    page = Reply(
        headers=(("Content-Type", "text/html; charset=utf-8"),),
        body=[b"<html>login</html>"],
        framing="length",
    )
    async with serving(page) as server:
        result = await run(feed_at(server))
    assert not result.ok
    assert result.message.startswith("the server answered text/html, not an event stream")
    assert result.stop_reason is StopReason.NOT_EVENT_STREAM


async def test_a_server_that_never_answers_times_out() -> None:
    """A server that accepts and never answers: "no answer within 0.5 s", bounded."""

    async def stall(_request: RecordedRequest) -> Reply:
        await asyncio.sleep(30)
        return Reply()

    async with ScriptedServer(stall) as server:
        started = asyncio.get_running_loop().time()
        result = await run(feed_at(server), timeout=0.5)
        elapsed = asyncio.get_running_loop().time() - started
    assert not result.ok
    assert result.message == "no answer within 0.5 s"
    assert elapsed < 5


async def test_a_connection_refused_is_a_failure_with_the_reason() -> None:
    """Nothing listens on the port: the test fails at once and says it cannot connect."""
    async with serving() as server:
        url = server.url()
    result = await run(Feed(id="f-1", name="x", url=url))
    assert not result.ok
    assert "cannot connect" in result.message


async def test_a_missing_secret_fails_before_connecting() -> None:
    """A bearer feed with no token typed or stored: no request, and a message saying so."""
    async with serving(sse_reply(b"data: a\n\n")) as server:
        result = await run(feed_at(server, auth=Auth(kind=AuthKind.BEARER)))
    assert not result.ok
    assert result.message == "no token entered or stored for this feed"
    assert server.requests == []


async def test_an_empty_typed_secret_hides_the_stored_one() -> None:
    """ "Remove stored secret" chosen in the editor: the test no longer uses the stored token."""
    store = MemoryStore()
    await store.set("f-1", auth_slot(), TOKEN)
    async with serving(sse_reply(b"data: a\n\n")) as server:
        feed = feed_at(server, auth=Auth(kind=AuthKind.BEARER))
        result = await run(feed, store, extra_secrets={auth_slot(): ""})
        stored = await run(feed, store)
    assert result.message == "no token entered or stored for this feed"
    assert stored.ok
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


async def test_a_secret_header_typed_in_the_editor_is_sent() -> None:
    """A secret header's typed value goes on the wire under its name."""
    async with serving(sse_reply(b"data: a\n\n")) as server:
        feed = feed_at(server, headers=(Header(name="X-Key", secret=True),))
        result = await run(feed, extra_secrets={header_slot("X-Key"): "v4lue"})
    assert result.ok
    assert server.requests[0].header("X-Key") == "v4lue"


# -- a working feed ------------------------------------------------------------------------


async def test_a_working_stream_gives_events_and_previews() -> None:
    """Three events of a hanging stream: ok, the events, and each one's popup per the preset."""
    payloads = [json.dumps({"title": f"Build {i}", "message": "<b>done</b>"}) for i in range(1, 5)]
    body = "".join(f"id: {i}\ndata: {p}\n\n" for i, p in enumerate(payloads, 1)).encode()
    async with serving(sse_reply(body, end="hang")) as server:
        progress: list[str] = []
        result = await run(feed_at(server, preset="json"), on_progress=progress.append)
    assert result.ok
    assert result.message == "the feed works: 3 event(s) received"
    assert [e.id for e in result.events] == ["1", "2", "3"]
    assert [p.title if p else None for p in result.previews] == ["Build 1", "Build 2", "Build 3"]
    assert result.previews[0] is not None
    assert result.previews[0].body == "<b>done</b>"
    assert result.rule_reasons == ("", "", "")
    assert any(line.startswith("connected (HTTP 200)") for line in progress)


async def test_a_quiet_stream_still_works_after_the_timeout() -> None:
    """Connected, nothing sent within the time: the feed works, with 0 events."""
    async with serving(sse_reply(b": hello\n\n", end="hang")) as server:
        result = await run(feed_at(server), timeout=0.5)
    assert result.ok
    assert result.message == "the feed works: connected, 0 event(s) within 0.5 s"


async def test_a_stream_that_ends_is_reported_with_its_events() -> None:
    """The server closes after one event: ok, said so."""
    async with serving(sse_reply(b"data: only\n\n")) as server:
        result = await run(feed_at(server))
    assert result.ok
    assert result.message == "the feed works: the server closed the stream after 1 event(s)"
    assert result.previews[0] is not None
    assert result.previews[0].title == "Builds"


async def test_keep_alives_have_no_preview_and_say_why() -> None:
    """ntfy's open and keepalive events: no popup, with the preset's reason."""
    body = (
        b'data: {"id":"a","time":1,"event":"open","topic":"t"}\n\n'
        b'data: {"id":"b","time":2,"event":"keepalive","topic":"t"}\n\n'
        b'data: {"id":"c","time":3,"event":"message","topic":"t","message":"hi","title":"T"}\n\n'
    )
    async with serving(sse_reply(body, end="hang")) as server:
        feed = Feed(id="f-1", name="n", url=server.url("/t/sse"), preset="ntfy")
        result = await run(feed)
    assert result.ok
    assert result.previews[:2] == (None, None)
    assert result.preview_reasons[:2] == ("control", "keep-alive")
    assert result.previews[2] is not None
    assert result.previews[2].title == "T"


async def test_the_feeds_rules_are_reported_per_event() -> None:
    """A text filter that the second event does not match: that one would be filtered."""
    async with serving(sse_reply(b"data: deploy ok\n\ndata: lint\n\n", end="hang")) as server:
        feed = feed_at(server, rules=FeedRules(text_filter="deploy"))
        result = await run(feed, max_events=2)
    assert result.rule_reasons == ("", "filtered")


async def test_cancelling_the_test_closes_the_connection() -> None:
    """Cancelling the task running the test ends it promptly (the editor's Cancel)."""
    async with serving(sse_reply(b": x\n\n", end="hang")) as server:
        task = asyncio.ensure_future(run(feed_at(server), timeout=30))
        await server.wait_for_requests(1)
        await asyncio.sleep(0.1)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done


# -- detection, checks and secrets (pure) --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "preset"),
    [
        ("https://ntfy.sh/mytopic", "ntfy"),
        ("https://ntfy.example.org/alerts", "ntfy"),
        ("https://push.example.org/alerts/sse", "ntfy"),
        ("https://example.org/.well-known/mercure?topic=x", "mercure"),
        ("https://stream.wikimedia.org/v2/stream/recentchange", "eventstreams"),
        ("https://smee.io/AbCdEf", "smee"),
        ("https://my-db.firebaseio.com/items.json", "firebase"),
        ("https://my-db.europe-west1.firebasedatabase.app/x.json", "firebase"),
        ("http://127.0.0.1:8000/mcp", "mcp"),
        ("https://example.org/events", "plain"),
        ("not a url", "plain"),
    ],
)
def test_detect_preset(url: str, preset: str) -> None:
    """Known servers are recognised from the URL alone; anything else is plain."""
    assert detect_preset(url) == preset


def test_check_feed_names_each_bad_field() -> None:
    """Every bad field gets its own message: URL, duplicate name, regex, header, proxy."""
    feed = Feed(
        id="f-1",
        name="CI",
        url="ftp://example.org",
        headers=(Header(name="Bad Name", value="x"),),
        proxy="gopher://p",
        rules=FeedRules(text_filter="("),
        auth=Auth(kind=AuthKind.HEADER),
    )
    problems = {p.field: p.message for p in check_feed(feed, other_names=["ci"])}
    assert set(problems) == {
        "name",
        "url",
        "headers[0].name",
        "proxy",
        "rules.filter",
        "auth.header_name",
    }
    assert problems["name"] == "another feed is already called 'CI'"
    assert "http://" in problems["url"]
    assert problems["rules.filter"].startswith("not a valid regular expression")


def test_check_feed_accepts_a_good_feed() -> None:
    """A complete, valid feed has no problem."""
    feed = Feed(
        id="",
        name="CI",
        url="https://example.org/events",
        preset="json",
        preset_options=(("title", "repo.name"),),
        headers=(Header(name="X-Env", value="prod"), Header(name="X-Key", secret=True)),
        auth=Auth(kind=AuthKind.BASIC, username="u"),
    )
    assert check_feed(feed, other_names=["Other"]) == []


def test_check_feed_refuses_bad_json_options() -> None:
    """The JSON preset's templates are checked (unbalanced braces)."""
    feed = Feed(
        id="f", name="n", url="https://e.org/", preset="json", preset_options=(("title", "{a"),)
    )
    (problem,) = check_feed(feed)
    assert problem.field == "preset_options"


def test_secret_changes_keep_set_and_delete() -> None:
    """Typed values are set, unused slots of the old feed deleted, "remove" deletes."""
    old = Feed(
        id="f",
        name="n",
        url="https://e.org/",
        auth=Auth(kind=AuthKind.BEARER),
        headers=(Header(name="X-Old", secret=True), Header(name="X-Keep", secret=True)),
    )
    new = replace(old, auth=Auth(), headers=(Header(name="X-Keep", secret=True),))
    assert secret_changes(old, new, typed={}) == {auth_slot(): "", header_slot("X-Old"): ""}
    assert secret_changes(old, old, typed={auth_slot(): "t"}) == {auth_slot(): "t"}
    assert secret_changes(old, old, typed={}, remove=[auth_slot()]) == {auth_slot(): ""}
    # A typed value for a slot the feed does not read is not saved.
    assert secret_changes(None, new, typed={auth_slot(): "t"}) == {}
