"""ntfy's ?auth= parameter: the whole Authorization header value, base64 without padding."""

from __future__ import annotations

import asyncio
import base64

import pytest

from support.scripted_server import Reply, ScriptedServer
from tidings.core.auth import FeedAuth, ntfy_auth_param
from tidings.core.models import Auth, AuthKind, ConnectionPolicy, Feed
from tidings.core.secrets import MemoryStore, auth_slot
from tidings.core.sse import EventSource

# ntfy's documentation: testuser:fakepassword becomes this auth= value.
DOCS_EXAMPLE = "QmFzaWMgZEdWemRIVnpaWEk2Wm1GclpYQmhjM04zYjNKaw"


def test_user_and_password_become_the_documented_basic_value() -> None:
    """user:password is sent as Basic, encoded exactly as ntfy's documentation shows."""
    assert ntfy_auth_param("testuser:fakepassword") == DOCS_EXAMPLE


def test_an_access_token_becomes_bearer() -> None:
    """A tk_ token is sent as the Bearer header value, base64 without padding."""
    value = ntfy_auth_param("tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2")
    assert "=" not in value
    padded = value + "=" * (-len(value) % 4)
    assert base64.urlsafe_b64decode(padded) == b"Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


def test_an_already_encoded_value_is_kept() -> None:
    """A value that already decodes to an Authorization header is sent as it is."""
    assert ntfy_auth_param(DOCS_EXAMPLE) == DOCS_EXAMPLE


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("ntfy", DOCS_EXAMPLE), ("plain", "testuser:fakepassword")],
)
async def test_the_query_credential_reaches_the_server_in_the_presets_form(
    preset: str, expected: str
) -> None:
    """An ntfy feed encodes its auth= token as ntfy wants; other presets send it unchanged."""
    secrets = MemoryStore()
    await secrets.set("f-1", auth_slot(), "testuser:fakepassword")
    async with ScriptedServer([Reply(status=204)]) as server:
        feed = Feed(
            id="f-1",
            name="n",
            url=server.url("/topic/sse"),
            preset=preset,
            auth=Auth(kind=AuthKind.QUERY, query_param="auth"),
        )

        async def ignore(events: object) -> None:
            return None

        source = EventSource(
            feed.url,
            on_events=ignore,
            auth=FeedAuth(feed, secrets=secrets),
            policy=ConnectionPolicy(reconnection_time=0.02),
        )
        async with asyncio.timeout(10):
            await source.run()
        target = server.requests[0].target
    assert target == f"/topic/sse?auth={expected.replace(':', '%3A')}"
