"""Only http(s) URLs ever open, whatever a server puts in an event; ``http`` actions run only
on a click. Covered elsewhere and not repeated: an http action runs on a click and not
before (tests/notify/test_freedesktop.py, against dunst), a cross-origin redirect of an
action is not followed (tests/notify/test_actions_resources.py)."""

from __future__ import annotations

import json

import pytest

from qt.conftest import ControllerEnv
from tidings.core.actions import run_http_action
from tidings.core.decoder import DecodedEvent
from tidings.core.notification import Action, safe_url
from tidings.core.presets import MapContext, get_preset

REFUSED = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "javascript://example.org/%0aalert(1)",
    "file:///etc/passwd",
    "FILE:///home/me/.ssh/id_ed25519",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "tidings://mute-all",
    "ssh://example.org",
    "ftp://example.org/x",
    "smb://host/share",
    "//evil.example/x",  # scheme-relative
    "https:evil.example",  # no host
    "https://",
    "https://exa\nmple.org/",
    "\x00https://example.org/",
    "about:blank",
    "",
]


@pytest.mark.parametrize("url", REFUSED)
def test_only_absolute_http_urls_are_kept(url: str) -> None:
    assert safe_url(url) == ""


@pytest.mark.parametrize(
    "url", ["https://example.org/a?b=1#c", "HTTP://Example.org:8080/x", "https://[::1]:9/"]
)
def test_http_and_https_are_kept(url: str) -> None:
    assert safe_url(url) == url


def test_the_app_opens_nothing_but_http(controller_env: ControllerEnv) -> None:
    """The controller is the one door to the browser: only http(s) gets through it."""
    opened: list[str] = []
    controller_env.controller._open_url = lambda url: opened.append(url) or True
    for url in REFUSED:
        assert controller_env.controller.open_url(url) is False
    assert opened == []
    assert controller_env.controller.open_url("https://example.org/ok") is True
    assert opened == ["https://example.org/ok"]


def test_a_hostile_ntfy_message_yields_no_unsafe_url() -> None:
    """click, icon, attachment and every action carry a refused scheme: none survives."""
    message = {
        "id": "m1",
        "event": "message",
        "time": 1,
        "topic": "t",
        "title": "hello",
        "message": "body",
        "click": "javascript:alert(1)",
        "icon": "file:///etc/passwd",
        "attachment": {"name": "x", "url": "data:text/html,hi"},
        "actions": [
            {"action": "view", "label": "Open", "url": "tidings://mute-all"},
            {"action": "http", "label": "Run", "url": "file:///tmp/x", "method": "POST"},
            {"action": "view", "label": "Fine", "url": "https://example.org/fine"},
        ],
    }
    mapped = get_preset("ntfy").map(
        DecodedEvent("message", json.dumps(message), "", False),
        MapContext(feed_id="f", feed_name="N"),
    )
    note = mapped.notification
    assert note is not None
    assert note.url == ""
    assert note.icon == ""
    urls = [a.url for a in note.actions if a.url]
    assert urls == ["https://example.org/fine"]
    assert all(safe_url(u) == u for u in urls)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:x", "tidings://x", "ftp://h/"])
async def test_an_http_action_to_another_scheme_is_refused_without_a_request(url: str) -> None:
    def no_client() -> object:
        raise AssertionError("no client may be built for a refused action")

    result = await run_http_action(
        Action(label="Go", kind="http", url=url),
        client_factory=no_client,  # type: ignore[arg-type]
    )
    assert result.ok is False
    assert result.status is None
