"""Redaction: URLs, free text, known secrets, and log records (httpx's own included)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Iterator, Sequence

import pytest

from support.scripted_server import ScriptedServer, sse_reply
from tidings.core.auth import FeedAuth
from tidings.core.decoder import DecodedEvent
from tidings.core.models import Auth, AuthKind, ConnectionPolicy, Feed, StopReason
from tidings.core.redact import (
    REDACTED,
    KnownSecrets,
    RedactingFilter,
    redact_text,
    redact_url,
)
from tidings.core.secrets import MemoryStore, auth_slot
from tidings.core.sse import EventSource

# -- redact_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ntfy.sh/topic/sse?auth=tk_abc", "https://ntfy.sh/topic/sse?auth=***"),
        ("https://h/e?token=abc&since=all", "https://h/e?token=***&since=all"),
        ("https://h/e?since=all&access_token=abc", "https://h/e?since=all&access_token=***"),
        (
            "https://h/e?AUTH=a&Token=b&Access_Token=c",
            "https://h/e?AUTH=***&Token=***&Access_Token=***",
        ),
        ("https://h/e?api_key=k&key=k2&password=p", "https://h/e?api_key=***&key=***&password=***"),
        ("https://user:pa55@h:8443/e", "https://user:***@h:8443/e"),
        ("https://tk_only@h/e", "https://***@h/e"),
        ("socks5://proxyuser:proxypw@proxy:1080", "socks5://proxyuser:***@proxy:1080"),
        ("http://u:p@h/e?auth=x&a=1", "http://u:***@h/e?auth=***&a=1"),
        ("https://h/e", "https://h/e"),
        ("https://h/e?since=all&topic=a%20b", "https://h/e?since=all&topic=a%20b"),
        ("https://h/e?flag&x=1;y=2", "https://h/e?flag&x=1;y=2"),
        ("https://h/e?%61uth=abc", "https://h/e?%61uth=***"),
        ("https://h/e?auth=", "https://h/e?auth=***"),
        ("https://h/cb#access_token=abc&state=s", "https://h/cb#access_token=***&state=s"),
        ("https://h/e#section-2", "https://h/e#section-2"),
        ("http://[::1", REDACTED),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """Passwords, user-info tokens and credential query parameters go; the rest stays as written."""
    assert redact_url(url) == expected


def test_redact_url_keeps_an_innocent_url_identical() -> None:
    """A URL without credentials comes back as the very same string (no re-encoding)."""
    url = "https://stream.wikimedia.org/v2/stream/recentchange?since=2024-01-01T00:00:00Z&x=a+b"
    assert redact_url(url) == url


# -- redact_text --------------------------------------------------------------------------


def test_redact_text_cleans_urls_inside_free_text() -> None:
    """httpx's request line, with the URL inside quotes and words around it."""
    line = 'HTTP Request: GET http://127.0.0.1:8080/t/sse?auth=tk_SECRET "HTTP/1.1 200 OK"'
    assert redact_text(line) == (
        'HTTP Request: GET http://127.0.0.1:8080/t/sse?auth=*** "HTTP/1.1 200 OK"'
    )
    quoted = "cannot reach 'https://u:pw@h/e?token=abc' (refused); see <https://h/?key=k>"
    assert redact_text(quoted) == (
        "cannot reach 'https://u:***@h/e?token=***' (refused); see <https://h/?key=***>"
    )


def test_redact_text_cleans_request_targets_and_authorization_values() -> None:
    """A bare request target, and Bearer/Basic credentials, are cleaned too."""
    assert redact_text("GET /t/sse?since=1&auth=tk_abc HTTP/1.1") == (
        "GET /t/sse?since=1&auth=*** HTTP/1.1"
    )
    assert redact_text("Authorization: Bearer eyJhbGciOi.J9.x-y_z") == "Authorization: Bearer ***"
    assert redact_text("authorization: basic YWxpY2U6cHc=") == "authorization: basic ***"


def test_redact_text_leaves_ordinary_text_alone() -> None:
    """Text without credentials is unchanged."""
    text = "feed 'news' open at https://h/e?since=all (3 events, token bucket ok)"
    assert redact_text(text) == text


# -- KnownSecrets -------------------------------------------------------------------------


def test_known_secrets_are_replaced_anywhere() -> None:
    """A registered value is replaced wherever it appears, the longest one first."""
    known = KnownSecrets()
    known.add("abcd")
    known.add("abcdefgh")
    known.add("xyz")  # too short to redact safely: ignored
    assert known.redact("k=abcdefgh; j=abcd; xyz") == "k=***; j=***; xyz"


# -- RedactingFilter ----------------------------------------------------------------------


def make_record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("failed at https://h/e?token=in-exception")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def formatted(record: logging.LogRecord, known: KnownSecrets | None = None) -> str:
    assert RedactingFilter(known).filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_filter_redacts_message_arguments_and_known_secrets() -> None:
    """The formatted message is cleaned: URL credentials and registered values."""
    known = KnownSecrets()
    known.add("custom-param-token")
    record = make_record("GET %s with %s", "https://h/e?auth=a1b2", "custom-param-token")
    assert formatted(record, known) == "GET https://h/e?auth=*** with ***"


def test_filter_redacts_exception_text() -> None:
    """A traceback attached to a record is cleaned too."""
    text = formatted(make_record("boom", exc=True))
    assert "in-exception" not in text
    assert "token=***" in text


def test_filter_never_raises_on_a_bad_record() -> None:
    """A record whose arguments do not fit its format passes through untouched."""
    record = make_record("%d items", "not-a-number")
    assert RedactingFilter().filter(record)
    assert record.args == ("not-a-number",)


# -- the real thing: an EventSource at DEBUG with httpx's loggers ------------------------

NAMES = ("", "httpx", "httpcore", "tidings", "asyncio")


@pytest.fixture
def debug_logging() -> Iterator[None]:
    """Every relevant logger at DEBUG for the test; levels restored afterwards."""
    loggers = [logging.getLogger(n) for n in NAMES]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


async def run_logged(param: str, token: str, *, with_filter: bool) -> str:
    """Run a query-token feed once with a root handler; return everything it logged."""
    store = MemoryStore()
    await store.set("f-log", auth_slot(), token)
    known = KnownSecrets()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    if with_filter:
        handler.addFilter(RedactingFilter(known))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with ScriptedServer([sse_reply(b"data: one\n\n")]) as server:
            feed = Feed(
                id="f-log",
                name="log test",
                url=server.url("/t/sse?since=all"),
                auth=Auth(kind=AuthKind.QUERY, query_param=param),
            )

            async def ignore(events: Sequence[DecodedEvent]) -> None:
                pass

            source = EventSource(
                feed.url,
                on_events=ignore,
                auth=FeedAuth(feed, secrets=store, known=known),
                reconnect=False,
                policy=ConnectionPolicy(idle_timeout=5.0, connect_timeout=5.0),
            )
            async with asyncio.timeout(10):
                final = await source.run()
            assert final.stop_reason is StopReason.ENDED
            logging.getLogger("tidings.test").debug("connected to %s", server.requests[0].target)
    finally:
        root.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize(
    ("param", "token"),
    [
        pytest.param("auth", "tk_NtfyToken123", id="ntfy-auth"),
        pytest.param("k", "custom+param/token=1", id="custom-param-encoded"),
    ],
)
@pytest.mark.usefixtures("debug_logging")
async def test_no_log_line_carries_the_token_with_the_filter(param: str, token: str) -> None:
    """At DEBUG, with httpx and httpcore logging, the filtered handler never shows the token."""
    logged = await run_logged(param, token, with_filter=True)
    assert "HTTP Request: GET" in logged  # httpx did log the request URL
    assert "connect_tcp" in logged  # httpcore's DEBUG lines are in
    assert token not in logged
    assert "NtfyToken" not in logged
    assert "custom" not in logged


@pytest.mark.parametrize(
    ("param", "token"),
    [
        pytest.param("auth", "tk_NtfyToken123", id="ntfy-auth"),
        pytest.param("k", "customparamtoken1", id="custom-param"),
    ],
)
@pytest.mark.usefixtures("debug_logging")
async def test_without_the_filter_the_token_does_show(param: str, token: str) -> None:
    """The same run without the filter leaks the token: the test above can fail."""
    logged = await run_logged(param, token, with_filter=False)
    assert token in logged
