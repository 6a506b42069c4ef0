"""The settings file as a user sees it: what is written, what is kept, what is refused.

Every test works on a real file in a temporary directory. The kill -9 test
runs real writer processes and kills them at random moments.
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tidings.core.config import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ConfigProblem,
    Settings,
    feed_from_dict,
    feed_to_dict,
    load_settings,
    new_feed_id,
    save_settings,
)
from tidings.core.errors import ConfigError
from tidings.core.models import Auth, AuthKind, Feed, Header, TlsOptions

SECRET = "tok-5ecret-9f8e7d6c"


def every_field_feeds() -> list[Feed]:
    """Feeds that together use every field and every auth kind."""
    return [
        Feed(id="f-plain", name="Plain", url="https://plain.example/sse"),
        Feed(
            id="f-basic",
            name="Basic, paused",
            url="http://basic.example:8080/events?topic=a",
            preset="json",
            paused=True,
            auth=Auth(kind=AuthKind.BASIC, username="alice"),
            idle_timeout=30.0,
        ),
        Feed(
            id="f-bearer",
            name="Bearer via SOCKS",
            url="https://ntfy.example.org/ci/sse",
            preset="ntfy",
            auth=Auth(kind=AuthKind.BEARER),
            proxy="socks5://127.0.0.1:1080",
            idle_timeout=12.5,
        ),
        Feed(
            id="f-header",
            name="Header credential",
            url="https://mercure.example/.well-known/mercure?topic=x",
            preset="mercure",
            auth=Auth(kind=AuthKind.HEADER, header_name="X-Api-Key"),
            headers=(
                Header(name="X-Env", value="prod"),
                Header(name="X-Secret", secret=True),
                Header(name="X-Empty", value=""),
            ),
            tls=TlsOptions(verify=False),
        ),
        Feed(
            id="f-query",
            name="Query token",
            url="https://ntfy.example.org/alerts/sse",
            auth=Auth(kind=AuthKind.QUERY, query_param="auth"),
            tls=TlsOptions(verify=True, ca_file="/etc/ssl/private-ca.pem"),
            proxy="http://proxy.example:3128",
        ),
        Feed(
            id="f-command",
            name="Token from pass",
            url="https://hub.example/sse",
            preset="mcp",
            auth=Auth(kind=AuthKind.COMMAND, command="pass show tidings/hub"),
            headers=(Header(name="Accept-Language", value="de"),),
            tls=TlsOptions(verify=False, ca_file="C:\\certs\\ca.pem"),
            idle_timeout=600.0,
        ),
        Feed(
            id="f-unicode",
            name='Wiki "recent" changes \u2014 \u65e5\u672c',
            url="https://stream.wikimedia.org/v2/stream/recentchange",
            preset="eventstreams",
        ),
    ]


def write(path: Path, text: str) -> bytes:
    """Write a settings file the way a person would, and return its bytes."""
    data = textwrap.dedent(text).lstrip("\n").encode("utf-8")
    path.write_bytes(data)
    return data


def where_and_message(settings: Settings) -> list[tuple[str, str]]:
    """The problems without their line numbers (a save reformats the file)."""
    return [(p.where, p.message) for p in settings.problems]


def temp_files(directory: Path) -> list[Path]:
    """The temporary files a save leaves beside settings.toml while it is in flight."""
    return sorted(directory.glob(".settings.toml.*.tmp"))


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """Where the settings file of a test lives (created by the test)."""
    return tmp_path / "config" / "settings.toml"


# -- round trip ----------------------------------------------------------------


def test_every_field_round_trips(settings_file: Path) -> None:
    """Feeds with every field set save and load back equal, with no problem."""
    feeds = every_field_feeds()
    save_settings(settings_file, Settings(feeds=tuple(feeds)))
    loaded = load_settings(settings_file)
    assert loaded.problems == ()
    assert list(loaded.feeds) == feeds
    assert loaded.kept_feeds == ()


def test_saved_file_is_readable_toml(settings_file: Path) -> None:
    """The saved file is TOML a person can read: a keyring comment, schema_version, [[feeds]]."""
    feeds = every_field_feeds()
    save_settings(settings_file, Settings(feeds=tuple(feeds)))
    text = settings_file.read_text(encoding="utf-8")
    first_lines = text.splitlines()[:3]
    assert all(line.startswith("#") for line in first_lines[:2])
    assert "keyring" in " ".join(first_lines)
    doc = tomllib.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert len(doc["feeds"]) == len(feeds)
    assert text.count("[[feeds]]\n") == len(feeds)
    assert 'name = "Plain"' in text
    assert "idle_timeout = 30\n" in text
    assert 'command = "pass show tidings/hub"' in text
    # Defaults are left out, so a plain feed is three lines.
    assert doc["feeds"][0] == {"id": "f-plain", "name": "Plain", "url": "https://plain.example/sse"}


def test_secret_header_value_never_reaches_the_file(settings_file: Path) -> None:
    """A secret header's value (even if set in memory) is never written: only its name."""
    feed = Feed(
        id=new_feed_id(),
        name="Leaky?",
        url="https://example.org/sse",
        headers=(Header(name="X-Token", value=SECRET, secret=True),),
    )
    save_settings(settings_file, Settings(feeds=(feed,)))
    text = settings_file.read_text(encoding="utf-8")
    assert SECRET not in text
    assert "X-Token" in text
    assert tomllib.loads(text)["feeds"][0]["headers"] == [{"name": "X-Token", "secret": True}]
    (loaded,) = load_settings(settings_file).feeds
    assert loaded.headers == (Header(name="X-Token", value="", secret=True),)


def test_missing_file_is_an_empty_configuration(settings_file: Path) -> None:
    """No settings file yet means no feeds and no problem; nothing is created by loading."""
    settings = load_settings(settings_file)
    assert settings == Settings()
    assert not settings_file.parent.exists()


def test_empty_file_is_not_migrated(settings_file: Path) -> None:
    """An empty file loads as no feeds and is left alone (no backup, no rewrite)."""
    settings_file.parent.mkdir()
    settings_file.write_bytes(b"")
    settings = load_settings(settings_file)
    assert settings.feeds == ()
    assert settings.problems == ()
    assert settings_file.read_bytes() == b""
    assert list(settings_file.parent.iterdir()) == [settings_file]


def test_byte_order_mark_is_accepted(settings_file: Path) -> None:
    """A file saved by an editor that adds a UTF-8 byte order mark still loads."""
    settings_file.parent.mkdir()
    settings_file.write_bytes(
        b'\xef\xbb\xbfschema_version = 1\n[[feeds]]\nid = "a"\nurl = "https://a.example/"\n'
    )
    settings = load_settings(settings_file)
    assert settings.problems == ()
    assert [f.id for f in settings.feeds] == ["a"]


def test_save_is_idempotent(settings_file: Path) -> None:
    """Loading and saving again changes no byte: the file does not drift."""
    save_settings(settings_file, Settings(feeds=tuple(every_field_feeds())))
    first = settings_file.read_bytes()
    save_settings(settings_file, load_settings(settings_file))
    assert settings_file.read_bytes() == first


# -- broken files ----------------------------------------------------------------


def test_syntax_error_names_the_line_and_blocks_saving(settings_file: Path) -> None:
    """A TOML syntax error names file and line; no save touches the file until it is fixed."""
    settings_file.parent.mkdir()
    original = write(
        settings_file,
        """
        schema_version = 1

        [[feeds]]
        id = "a"
        url = "https://a.example/sse"
        name = "half-edited
        """,
    )
    settings = load_settings(settings_file)
    assert settings.feeds == ()
    (problem,) = settings.problems
    assert problem.line == 6
    assert str(problem).startswith(f"{settings_file}:6: ")
    assert "syntax" in problem.message
    assert settings.unsaveable
    with pytest.raises(ConfigError, match="not saving over"):
        save_settings(settings_file, settings)
    extra_feed = Feed(id="b", name="B", url="https://b.example/")
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings.with_feeds([extra_feed]))
    assert settings_file.read_bytes() == original
    assert temp_files(settings_file.parent) == []


def test_syntax_error_at_end_of_file_names_the_last_line(settings_file: Path) -> None:
    """An error that tomllib places at the end of the document still gets a line number."""
    settings_file.parent.mkdir()
    write(settings_file, 'schema_version = 1\nfeeds = [\n  { id = "a" },\n')
    (problem,) = load_settings(settings_file).problems
    assert problem.line == 4
    assert problem.where == "line 4"


def test_not_utf8_names_the_line_and_blocks_saving(settings_file: Path) -> None:
    """A file that is not UTF-8 names file and line, and is never rewritten."""
    settings_file.parent.mkdir()
    original = b'schema_version = 1\n[[feeds]]\nname = "Caf\xe9"\nid = "a"\n'
    settings_file.write_bytes(original)
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert problem.line == 3
    assert "UTF-8" in problem.message
    assert str(settings_file) in str(problem)
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.read_bytes() == original


BAD_FEEDS = {
    "unknown key": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\nidle_timout = 5',
        "feeds[1].idle_timout",
        "unknown key",
    ),
    "paused as text": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\npaused = "yes"',
        "feeds[1].paused",
        "must be true or false (without quotes), not text in quotes",
    ),
    "negative idle timeout": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\nidle_timeout = -1',
        "feeds[1].idle_timeout",
        "must be a positive number of seconds, not the number -1",
    ),
    "url as a number": (
        'id = "bad"\nname = "Bad"\nurl = 5',
        "feeds[1].url",
        "must be text in quotes, not the number 5",
    ),
    "no url": ('id = "bad"\nname = "Bad"', "feeds[1].url", "missing: every feed needs a URL"),
    "ftp url": (
        'id = "bad"\nname = "Bad"\nurl = "ftp://bad.example/"',
        "feeds[1].url",
        "unsupported URL",
    ),
    "no id": ('name = "Bad"\nurl = "https://bad.example/"', "feeds[1].id", "missing"),
    "duplicate id": (
        'id = "good-a"\nname = "Bad"\nurl = "https://bad.example/"',
        "feeds[1].id",
        "already the id of an earlier feed",
    ),
    "unknown preset": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\npreset = "rss"',
        "feeds[1].preset",
        "unknown preset 'rss'",
    ),
    "header auth without header_name": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\nauth = { kind = "header" }',
        "feeds[1].auth.header_name",
        "missing",
    ),
    "unknown auth kind": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\nauth = { kind = "oauth" }',
        "feeds[1].auth.kind",
        "unknown kind 'oauth'",
    ),
    "secret header with a value": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\n'
        f'headers = [{{ name = "X-Token", value = "{SECRET}", secret = true }}]',
        "feeds[1].headers[0].value",
        "keyring",
    ),
    "tls verify as text": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\ntls = { verify = "no" }',
        "feeds[1].tls.verify",
        "true or false",
    ),
    "socks4 proxy": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\nproxy = "socks4://p:1"',
        "feeds[1].proxy",
        "socks5://",
    ),
    "proxy password in the file": (
        'id = "bad"\nname = "Bad"\nurl = "https://bad.example/"\n'
        'proxy = "socks5://user:pw-SECRET@p:1080"',
        "feeds[1].proxy",
        "must not carry a user name or password",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_bad_feed_is_kept_verbatim_and_named(settings_file: Path, case: str) -> None:
    """A bad feed is named by key, kept verbatim in its place across saves; the others load."""
    body, where, fragment = BAD_FEEDS[case]
    settings_file.parent.mkdir()
    write(
        settings_file,
        f"""
schema_version = 1
future_flag = true

[ui]
theme = "dark"

[[feeds]]
id = "good-a"
name = "A"
url = "https://a.example/sse"

[[feeds]]
{body}

[[feeds]]
id = "good-c"
name = "C"
url = "https://c.example/sse"

[[plugins]]
name = "from a newer Tidings"
""",
    )
    raw_bad = tomllib.loads(settings_file.read_text(encoding="utf-8"))["feeds"][1]
    settings = load_settings(settings_file)
    assert [f.id for f in settings.feeds] == ["good-a", "good-c"]
    feed_problems = [p for p in settings.problems if p.where.startswith("feeds")]
    (problem,) = feed_problems
    assert problem.where == where
    assert fragment in problem.message
    assert problem.line == 12
    assert str(problem).startswith(f"{settings_file}:12: {where}: ")
    assert "is not loaded" in problem.message
    assert SECRET not in str(problem)
    assert [dict(t) for t in settings.kept_feeds] == [raw_bad]
    assert not settings.unsaveable

    save_settings(settings_file, settings)
    again = load_settings(settings_file)
    assert again.feeds == settings.feeds
    assert where_and_message(again) == where_and_message(settings)
    assert [dict(t) for t in again.kept_feeds] == [raw_bad]
    saved = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert saved["feeds"][1] == raw_bad
    assert saved["ui"] == {"theme": "dark"}
    assert saved["plugins"] == [{"name": "from a newer Tidings"}]
    assert saved["future_flag"] is True

    save_settings(settings_file, again)
    assert where_and_message(load_settings(settings_file)) == where_and_message(settings)


def test_problem_reads_as_a_sentence(settings_file: Path) -> None:
    """A feed without URL reads: file:line: feeds[2].url: missing: ...; this feed ('CI') ..."""
    settings_file.parent.mkdir()
    write(
        settings_file,
        """
        schema_version = 1

        [[feeds]]
        id = "a"
        url = "https://a.example/"

        [[feeds]]
        id = "b"
        url = "https://b.example/"

        [[feeds]]
        id = "ci"
        name = "CI"
        """,
    )
    (problem,) = load_settings(settings_file).problems
    assert str(problem) == (
        f"{settings_file}:11: feeds[2].url: missing: every feed needs a URL; "
        "this feed ('CI') is not loaded"
    )


def test_unnamed_bad_feed_is_labelled_by_its_redacted_url(settings_file: Path) -> None:
    """A bad feed without a name is labelled by its URL, with any token in it redacted."""
    settings_file.parent.mkdir()
    write(
        settings_file,
        f"""
        schema_version = 1
        [[feeds]]
        id = "a"
        url = "https://ntfy.example/t/sse?auth={SECRET}"
        paused = 1
        """,
    )
    (problem,) = load_settings(settings_file).problems
    assert SECRET not in str(problem)
    assert "ntfy.example" in problem.message
    assert problem.where == "feeds[0].paused"


def test_kept_feed_keeps_its_place_when_feeds_change(settings_file: Path) -> None:
    """Adding and removing feeds around a broken one keeps it where the user put it."""
    settings_file.parent.mkdir()
    write(
        settings_file,
        """
        schema_version = 1
        [[feeds]]
        id = "a"
        url = "https://a.example/"
        [[feeds]]
        id = "broken"
        url = "https://broken.example/"
        paused = "no"
        [[feeds]]
        id = "c"
        url = "https://c.example/"
        """,
    )
    settings = load_settings(settings_file)
    added = Feed(id="d", name="D", url="https://d.example/")
    save_settings(settings_file, settings.with_feeds([*settings.feeds, added]))
    again = load_settings(settings_file)
    assert [f.id for f in again.feeds] == ["a", "c", "d"]
    assert [p.where for p in again.problems] == ["feeds[1].paused"]
    without_a = again.with_feeds([f for f in again.feeds if f.id != "a"])
    save_settings(settings_file, without_a)
    ids = [t["id"] for t in tomllib.loads(settings_file.read_text(encoding="utf-8"))["feeds"]]
    assert ids == ["c", "broken", "d"]


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ('schema_version = 1\nfeeds = "all of them"\n', "text in quotes"),
        (
            'schema_version = 1\n[feeds]\nid = "a"\nurl = "https://a.example/"\n',
            "a table",
        ),
    ],
    ids=["text", "table"],
)
def test_feeds_not_an_array_is_refused_and_kept(
    settings_file: Path, text: str, described: str
) -> None:
    """`feeds` that is not an array of tables loads nothing, says so, and is never rewritten."""
    settings_file.parent.mkdir()
    original = write(settings_file, text)
    settings = load_settings(settings_file)
    assert settings.feeds == ()
    (problem,) = settings.problems
    assert problem.where == "feeds"
    assert "[[feeds]]" in problem.message
    assert described in problem.message
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.read_bytes() == original
    assert where_and_message(load_settings(settings_file)) == where_and_message(settings)


def test_feed_entry_that_is_not_a_table(settings_file: Path) -> None:
    """An array entry that is no table is named; the good feeds load; the file is not rewritten."""
    settings_file.parent.mkdir()
    original = write(
        settings_file,
        'schema_version = 1\nfeeds = [{ id = "a", url = "https://a.example/" }, 7]\n',
    )
    settings = load_settings(settings_file)
    assert [f.id for f in settings.feeds] == ["a"]
    (problem,) = settings.problems
    assert problem.where == "feeds[1]"
    assert "the number 7" in problem.message
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.read_bytes() == original


def test_unknown_top_level_settings_survive(settings_file: Path) -> None:
    """Settings this version does not know are reported and written back as they were."""
    settings_file.parent.mkdir()
    write(
        settings_file,
        """
        schema_version = 1
        telemetry = false

        [notifications.quiet_hours]
        start = 22:00:00
        end = 07:00:00

        [[feeds]]
        id = "a"
        url = "https://a.example/"
        """,
    )
    before = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    settings = load_settings(settings_file)
    assert sorted(p.where for p in settings.problems) == ["notifications", "telemetry"]
    assert all("kept" in p.message for p in settings.problems)
    save_settings(settings_file, settings)
    after = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert after["notifications"] == before["notifications"]
    assert after["telemetry"] is False


def test_feed_from_dict_error_names_the_key() -> None:
    """The error of feed_from_dict names the key, for commands that import one feed."""
    with pytest.raises(ValueError, match=r"^imported\.url: missing") as info:
        feed_from_dict({"id": "x", "name": "X"}, where="imported")
    assert "imported.url" in str(info.value)


def test_feed_to_dict_holds_no_secret() -> None:
    """A feed's table has no secret value, whatever the in-memory feed holds."""
    feed = Feed(
        id="x",
        name="X",
        url="https://x.example/",
        auth=Auth(kind=AuthKind.BEARER),
        headers=(Header(name="X-Key", value=SECRET, secret=True),),
    )
    assert SECRET not in repr(feed_to_dict(feed))


def test_save_refuses_feeds_that_would_not_load_back(settings_file: Path) -> None:
    """Saving two feeds with one id, or an invalid feed, fails before the file is touched."""
    save_settings(settings_file, Settings(feeds=(Feed(id="a", name="A", url="https://a.x/"),)))
    original = settings_file.read_bytes()
    twins = (Feed(id="a", name="A", url="https://a.x/"), Feed(id="a", name="B", url="https://b.x/"))
    with pytest.raises(ConfigError, match="two feeds have the id 'a'"):
        save_settings(settings_file, Settings(feeds=twins))
    bad = Feed(id="b", name="B", url="ftp://b.x/")
    with pytest.raises(ConfigError, match="url"):
        save_settings(settings_file, Settings(feeds=(bad,)))
    assert settings_file.read_bytes() == original


# -- schema versions ---------------------------------------------------------------


def test_newer_schema_is_refused_and_never_rewritten(settings_file: Path) -> None:
    """A file from a newer Tidings names both versions and stays byte-for-byte as it was."""
    settings_file.parent.mkdir()
    newer = SCHEMA_VERSION + 1
    original = write(
        settings_file,
        f'schema_version = {newer}\n[[feeds]]\nid = "a"\nurl = "https://a.example/"\n',
    )
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert problem.where == "schema_version"
    assert f"version {newer}" in problem.message
    assert f"version {SCHEMA_VERSION}" in problem.message
    assert settings.feeds == ()
    with pytest.raises(ConfigError):
        save_settings(
            settings_file, settings.with_feeds([Feed(id="b", name="B", url="https://b/")])
        )
    assert settings_file.read_bytes() == original
    assert list(settings_file.parent.iterdir()) == [settings_file]


@pytest.mark.parametrize("value", ['"1"', "1.0", "-1", "true"])
def test_bad_schema_version_is_refused(settings_file: Path, value: str) -> None:
    """A schema_version that is not a whole number is named and the file kept."""
    settings_file.parent.mkdir()
    original = write(settings_file, f"schema_version = {value}\n")
    settings = load_settings(settings_file)
    assert [p.where for p in settings.problems] == ["schema_version"]
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.read_bytes() == original


V0_FILE = """
# my feeds, from before schema_version existed
[[subscriptions]]
id = "old-1"
name = "Old CI"
url = "https://ci.example/sse"

[[subscriptions]]
id = "old-2"
url = "https://other.example/sse"
paused = true
"""


def test_version_0_migrates_after_a_backup(settings_file: Path) -> None:
    """A version-0 file is backed up byte for byte, then rewritten as the current version."""
    settings_file.parent.mkdir()
    original = write(settings_file, V0_FILE)
    settings = load_settings(settings_file)
    assert settings.problems == ()
    assert [f.id for f in settings.feeds] == ["old-1", "old-2"]
    assert settings.feeds[1].paused
    backup = settings_file.with_name("settings.toml.v0.bak")
    assert backup.read_bytes() == original
    text = settings_file.read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert "subscriptions" not in doc
    assert "keyring" in text.splitlines()[0] + text.splitlines()[1]
    migrated = settings_file.read_bytes()
    assert load_settings(settings_file).feeds == settings.feeds
    assert settings_file.read_bytes() == migrated
    assert sorted(p.name for p in settings_file.parent.iterdir()) == [
        "settings.toml",
        "settings.toml.v0.bak",
    ]


def test_migration_never_overwrites_an_earlier_backup(settings_file: Path) -> None:
    """A second, different version-0 file is backed up beside the first backup, not over it."""
    settings_file.parent.mkdir()
    earlier = settings_file.with_name("settings.toml.v0.bak")
    earlier.write_bytes(b"# an older backup the user keeps\n")
    original = write(settings_file, V0_FILE)
    load_settings(settings_file)
    assert earlier.read_bytes() == b"# an older backup the user keeps\n"
    assert settings_file.with_name("settings.toml.v0.2.bak").read_bytes() == original


def test_migration_keeps_bad_feeds_and_unknown_tables(settings_file: Path) -> None:
    """Migrating a version-0 file with a broken feed keeps that feed verbatim and names it."""
    settings_file.parent.mkdir()
    write(
        settings_file,
        V0_FILE + '\n[[subscriptions]]\nid = "old-3"\nname = "No URL"\n\n[window]\nwidth = 800\n',
    )
    settings = load_settings(settings_file)
    assert [f.id for f in settings.feeds] == ["old-1", "old-2"]
    (problem,) = [p for p in settings.problems if p.where == "feeds[2].url"]
    lines = settings_file.read_text(encoding="utf-8").splitlines()
    assert problem.line is not None
    assert lines[problem.line - 1] == "[[feeds]]"
    assert lines[problem.line] == 'id = "old-3"'
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert doc["feeds"][2] == {"id": "old-3", "name": "No URL"}
    assert doc["window"] == {"width": 800}


def test_migration_chain_runs_in_order(settings_file: Path) -> None:
    """Injected migrations run one after another, in order, each on the previous result."""
    calls: list[int] = []

    def step(n: int) -> Any:
        def migrate(doc: dict[str, Any]) -> dict[str, Any]:
            calls.append(n)
            assert doc.get("schema_version", 0) == n
            doc["trail"] = [*doc.get("trail", []), n]
            return doc

        return migrate

    settings_file.parent.mkdir()
    original = write(settings_file, 'schema_version = 1\n[[feeds]]\nid = "a"\nurl = "https://a/"\n')
    migrations = {0: step(0), 1: step(1), 2: step(2), 3: step(3)}
    settings = load_settings(settings_file, migrations=migrations, current=4)
    assert calls == [1, 2, 3]
    assert [f.id for f in settings.feeds] == ["a"]
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert doc["schema_version"] == 4
    assert doc["trail"] == [1, 2, 3]
    assert settings_file.with_name("settings.toml.v1.bak").read_bytes() == original
    calls.clear()
    again = load_settings(settings_file, migrations=migrations, current=4)
    assert calls == []
    assert again.feeds == settings.feeds


def test_default_migrations_cover_every_version() -> None:
    """Every version below the current one has a migration to the next."""
    assert sorted(MIGRATIONS) == list(range(SCHEMA_VERSION))


@pytest.mark.parametrize("failure", ["raises", "missing", "not a dict"])
def test_failed_migration_leaves_the_file(settings_file: Path, failure: str) -> None:
    """A migration that fails, is missing or returns nonsense leaves the file and no backup."""

    def broken(doc: dict[str, Any]) -> Any:
        if failure == "raises":
            raise KeyError("subscriptions")
        return ["not", "a", "document"]

    migrations = {} if failure == "missing" else {0: broken}
    settings_file.parent.mkdir()
    original = write(settings_file, V0_FILE)
    settings = load_settings(settings_file, migrations=migrations, current=1)
    (problem,) = settings.problems
    assert problem.where == "schema_version"
    assert "left as it is" in problem.message
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.read_bytes() == original
    assert list(settings_file.parent.iterdir()) == [settings_file]


# -- atomic writes ----------------------------------------------------------------

_WRITER = """
import os
import sys
import time
from pathlib import Path

from tidings.core.config import load_settings, save_settings

# A slow disk: each fsync takes 20 ms more, so that many kills land while a save is in
# flight (its temporary file written, not yet renamed), not only between saves. The
# parent starts its random delay when the first save reaches the disk.
real_fsync = os.fsync
started = False


def slow_fsync(fd):
    global started
    if not started:
        started = True
        print("saving", flush=True)
    time.sleep(0.02)
    real_fsync(fd)


os.fsync = slow_fsync
target, first, second = (Path(p) for p in sys.argv[1:4])
contents = [load_settings(first), load_settings(second)]
deadline = time.monotonic() + 60
for n in range(100_000):
    save_settings(target, contents[n % 2])
    if time.monotonic() > deadline:
        break
"""


def big_settings(tag: str, count: int = 400) -> Settings:
    """A large settings file: hundreds of feeds, with headers and auth."""
    feeds = [
        Feed(
            id=f"{tag}-{n:04d}",
            name=f"{tag} feed number {n} with a longer name to make the file bigger",
            url=f"https://{tag}.example.org/topic/{n}/sse?since=all",
            auth=Auth(kind=AuthKind.BEARER) if n % 3 == 0 else Auth(),
            headers=(Header(name="X-Env", value=f"{tag}-{n}"), Header(name="X-Key", secret=True)),
            idle_timeout=float(30 + n % 60),
        )
        for n in range(count)
    ]
    return Settings(feeds=tuple(feeds))


def _wait_for_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return b""
    return proc.stdout.readline()


@pytest.mark.timeout(180)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_during_saves_never_tears_the_file(tmp_path: Path) -> None:
    """Writers killed with SIGKILL at random moments leave the old or the new file, never a tear."""
    target = tmp_path / "settings.toml"
    sources = [tmp_path / "a.toml", tmp_path / "b.toml"]
    expected = [big_settings("alpha"), big_settings("beta")]
    for source, settings in zip(sources, expected, strict=True):
        save_settings(source, settings)
    contents = [source.read_bytes() for source in sources]
    assert len(contents[0]) > 100_000
    target.write_bytes(contents[1])
    rng = random.Random(0x7D1)
    kills = 30
    in_flight = 0
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), *map(str, sources)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            line = _wait_for_line(proc, timeout=30)
            if line == b"saving\n":
                time.sleep(rng.uniform(0, 0.05))
        finally:
            proc.kill()
            _, stderr = proc.communicate(timeout=10)
        assert line == b"saving\n", stderr.decode(errors="replace")
        assert proc.returncode == -9
        data = target.read_bytes()
        assert data in contents, f"torn file: {len(data)} bytes"
        loaded = load_settings(target)
        assert loaded.problems == ()
        assert loaded.feeds in (expected[0].feeds, expected[1].feeds)
        leftovers = temp_files(tmp_path)
        assert len(leftovers) <= 1, leftovers
        in_flight += len(leftovers)
    # The next save clears what the last killed writer left, and leaves nothing behind.
    save_settings(target, expected[0])
    assert temp_files(tmp_path) == []
    assert target.read_bytes() == contents[0]
    # About a third of the kills land mid-save; none of them at all would mean this test
    # no longer tests what it says (the chance of that by bad luck is about 1 in 40,000).
    print(f"{in_flight} of {kills} kills landed mid-save")
    assert in_flight >= 1, "no kill landed while a save was in flight"


def test_leftover_temp_file_is_harmless(settings_file: Path) -> None:
    """A temp file left by a killed writer does not disturb loading; the next save removes it."""
    save_settings(settings_file, Settings(feeds=tuple(every_field_feeds())))
    directory = settings_file.parent
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    by_dead_writer = directory / f".settings.toml.{dead}.k3j2h1g0.tmp"
    by_dead_writer.write_bytes(b'schema_version = 1\n[[feeds]]\nid = "torn')
    ancient = directory / ".settings.toml.no-pid.tmp"
    ancient.write_bytes(b"garbage")
    long_ago = time.time() - 2 * 3600
    os.utime(ancient, (long_ago, long_ago))
    by_live_writer = directory / f".settings.toml.{os.getppid()}.a1b2c3d4.tmp"
    by_live_writer.write_bytes(b"in flight")
    unrelated = directory / ".other.toml.1.x.tmp"
    unrelated.write_bytes(b"not ours")

    loaded = load_settings(settings_file)
    assert loaded.problems == ()
    assert list(loaded.feeds) == every_field_feeds()
    save_settings(settings_file, loaded)
    assert temp_files(directory) == [by_live_writer]
    assert unrelated.exists()


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make a directory read-only for this process, also when tests run as root."""
    directory.chmod(0o555)
    try:
        if os.geteuid() != 0:
            yield
            return
        try:
            os.seteuid(65534)  # nobody: root ignores permission bits
        except OSError as exc:
            pytest.skip(f"cannot drop root to test a read-only directory: {exc}")
        try:
            yield
        finally:
            os.seteuid(0)
    finally:
        directory.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_save_into_read_only_directory_fails_clearly() -> None:
    """Saving where the directory is read-only raises a clear ConfigError; the old file stays."""
    # Not tmp_path: its parents are private to root, and the test may drop to `nobody`.
    root = Path(tempfile.mkdtemp(prefix="tidings-ro-"))
    try:
        root.chmod(0o755)
        settings_file = root / "config" / "settings.toml"
        save_settings(settings_file, Settings(feeds=(Feed(id="a", name="A", url="https://a/"),)))
        settings_file.chmod(0o644)
        original = settings_file.read_bytes()
        changed = Settings(feeds=(Feed(id="b", name="B", url="https://b/"),))
        with read_only(settings_file.parent), pytest.raises(ConfigError) as info:
            save_settings(settings_file, changed)
        message = str(info.value)
        assert str(settings_file) in message
        assert "Permission denied" in message
        assert "unchanged" in message
        assert settings_file.read_bytes() == original
        assert temp_files(settings_file.parent) == []
    finally:
        shutil.rmtree(root)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_migration_in_read_only_directory_leaves_the_file() -> None:
    """A version-0 file that cannot be backed up is used as is, never rewritten or saved over."""
    root = Path(tempfile.mkdtemp(prefix="tidings-ro-"))
    try:
        root.chmod(0o755)
        settings_file = root / "config" / "settings.toml"
        settings_file.parent.mkdir()
        original = write(settings_file, V0_FILE)
        settings_file.chmod(0o644)
        with read_only(settings_file.parent):
            settings = load_settings(settings_file)
        assert [f.id for f in settings.feeds] == ["old-1", "old-2"]
        assert settings.problems[0].where == "schema_version"
        assert "could not be rewritten" in settings.problems[0].message
        with pytest.raises(ConfigError):
            save_settings(settings_file, settings)
        assert settings_file.read_bytes() == original
        assert list(settings_file.parent.iterdir()) == [settings_file]
    finally:
        shutil.rmtree(root)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinked_settings_file_stays_a_symlink(tmp_path: Path) -> None:
    """A settings file that is a symlink (dotfiles) is saved through the link, not replaced."""
    dotfiles = tmp_path / "dotfiles" / "tidings.toml"
    dotfiles.parent.mkdir()
    dotfiles.write_text("schema_version = 1\n", encoding="utf-8")
    link = tmp_path / "config" / "settings.toml"
    link.parent.mkdir()
    link.symlink_to(dotfiles)
    feeds = every_field_feeds()
    save_settings(link, Settings(feeds=tuple(feeds)))
    assert link.is_symlink()
    assert list(load_settings(dotfiles).feeds) == feeds
    assert temp_files(link.parent) == []
    assert list(dotfiles.parent.glob(".*.tmp")) == []


def test_unreadable_path_is_a_problem_not_a_crash(settings_file: Path) -> None:
    """A settings path that is a directory is named as a problem and never replaced."""
    settings_file.mkdir(parents=True)
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert str(settings_file) in str(problem)
    with pytest.raises(ConfigError):
        save_settings(settings_file, settings)
    assert settings_file.is_dir()


def test_problem_without_line_reads_plainly(tmp_path: Path) -> None:
    """A problem with no known line reads file: key: message."""
    problem = ConfigProblem(tmp_path / "s.toml", "feeds[0].url", "missing")
    assert str(problem) == f"{tmp_path / 's.toml'}: feeds[0].url: missing"
    assert str(replace(problem, line=3)) == f"{tmp_path / 's.toml'}:3: feeds[0].url: missing"


def test_failed_write_leaves_the_old_file(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fails mid-save (full disk) leaves the old file and no temporary file."""
    save_settings(settings_file, Settings(feeds=(Feed(id="a", name="A", url="https://a/"),)))
    original = settings_file.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ConfigError, match="No space left on device"):
        save_settings(settings_file, Settings(feeds=(Feed(id="b", name="B", url="https://b/"),)))
    monkeypatch.undo()
    assert settings_file.read_bytes() == original
    assert temp_files(settings_file.parent) == []
