"""The export/import planning both front ends share: its desktop words by default, and the hooks
``tidings feeds import`` uses (its own words, allowing a token command, hearing a skip at once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.core.config import Settings
from tidings.core.errors import UsageError
from tidings.core.feed_io import (
    ImportWording,
    export_text,
    plan_import,
    read_import,
    refuse_credentials_in_url,
)
from tidings.core.models import Feed

COMMAND_FEED = {
    "id": "f-cmd",
    "name": "Cmd",
    "url": "https://c.example/sse",
    "auth": {"kind": "command", "command": "pass show c"},
}
PAUSED_COMMAND_FEED = {**COMMAND_FEED, "id": "f-cmd2", "name": "Cmd2", "paused": True}
TABLES: list[object] = [
    "not a table",
    COMMAND_FEED,
    {"id": "f-bad", "name": "Bad"},
    PAUSED_COMMAND_FEED,
    {"id": "f-tok", "name": "Tok", "url": "https://t.example/sse", "auth": {"kind": "bearer"}},
]


def test_by_default_a_command_feed_arrives_paused_and_notes_are_the_desktop_apps() -> None:
    plan = plan_import(TABLES, Settings())
    assert plan.skipped == [
        "feeds[0]: not a table",
        "feeds[2].url: missing: every feed needs a URL",
    ]
    notes = {item.feed.name: (item.feed.paused, item.notes) for item in plan.incoming}
    assert notes["Cmd"][0] is True
    assert notes["Cmd"][1][0].startswith("paused: its token comes from the command `pass show c`")
    assert notes["Cmd2"] == (True, [])  # paused already: nothing to say
    assert notes["Tok"] == (False, ["it needs its credentials: edit the feed to enter them"])


class _Terse(ImportWording):
    def command_paused(self, feed: Feed, *, was_paused: bool) -> str:
        return f"PAUSED {feed.id} (was paused: {was_paused})"

    def needs_credentials(self, feed: Feed) -> None:
        return None


def test_allow_command_is_asked_in_order_between_the_skips_and_the_words_can_change() -> None:
    heard: list[str] = []

    def allow(feed: Feed) -> bool:
        heard.append(f"asked {feed.name}")
        return True

    plan = plan_import(
        TABLES,
        Settings(),
        wording=_Terse(),
        allow_command=allow,
        on_skip=lambda reason: heard.append(f"skipped {reason.split(':')[0]}"),
    )
    # The paused one is not asked about: it stays paused.
    assert heard == ["skipped feeds[0]", "asked Cmd", "skipped feeds[2].url"]
    by_name = {item.feed.name: item for item in plan.incoming}
    assert by_name["Cmd"].feed.paused is False
    assert by_name["Cmd"].notes == ["its token command is allowed to run: pass show c"]
    assert by_name["Cmd2"].notes == ["PAUSED f-cmd2 (was paused: True)"]
    assert by_name["Tok"].notes == []
    assert len(plan.skipped) == 2


@pytest.mark.parametrize(
    ("url", "what", "message"),
    [
        (
            "https://u:pw@x.example/sse",
            "URL",
            "the URL carries a password, which would be stored in plaintext",
        ),
        (
            "http://proxy:1/?token=abc",
            "proxy",
            "the proxy carries a credential in its token= parameter, which would be stored in "
            "plaintext: use query authentication (kept in the keyring) instead",
        ),
    ],
)
def test_a_credential_in_a_url_is_refused(url: str, what: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        refuse_credentials_in_url(url, what)
    assert str(caught.value) == message
    refuse_credentials_in_url("https://x.example/sse?token=", what)  # empty: nothing carried


def test_the_advice_comes_from_the_wording() -> None:
    class Advising(ImportWording):
        def credential_advice(self, what: str, param: str | None) -> str:
            return f"advice for {what} {param}"

    with pytest.raises(UsageError, match=r"plaintext: advice for URL None$"):
        refuse_credentials_in_url("https://u:pw@x.example/", "URL", Advising())
    with pytest.raises(UsageError, match=r"plaintext: advice for proxy api_key$"):
        refuse_credentials_in_url("http://p:1/?api_key=z", "proxy", Advising())


def test_an_export_reads_back(tmp_path: Path) -> None:
    plan = plan_import(TABLES, Settings())
    feeds = [item.feed for item in plan.incoming]
    for name in ("feeds.toml", "feeds.json"):
        path = tmp_path / name
        text, warnings = export_text(feeds, "json" if name.endswith(".json") else "toml")
        assert warnings == []
        path.write_text(text, encoding="utf-8")
        assert [t["name"] for t in read_import(path) if isinstance(t, dict)] == [
            "Cmd",
            "Cmd2",
            "Tok",
        ]
