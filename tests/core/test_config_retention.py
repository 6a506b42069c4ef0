"""History retention in the settings file: the ``[history]`` table and each feed's ``retention``.

Real files in a temporary directory, as in test_config_rules.py: what is written
loads back equal, defaults stay what DESIGN.md says, and every problem names its
key (and the line of its table) without losing what the person wrote.
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from tidings.core.config import (
    Settings,
    feed_from_dict,
    feed_retention_from_dict,
    feed_retention_to_dict,
    history_from_dict,
    history_to_dict,
    load_settings,
    save_settings,
)
from tidings.core.history import (
    DEFAULT_MAX_AGE_DAYS,
    DEFAULT_MAX_EVENTS_PER_FEED,
    Retention,
)
from tidings.core.history import (
    FeedRetention as FeedLimits,
)
from tidings.core.models import Feed, FeedRetention


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """Where the settings file of a test lives."""
    return tmp_path / "config" / "settings.toml"


GLOBAL = Retention(max_age_days=7.5, max_events_per_feed=2000, max_events_total=50_000)


def retention_feeds() -> list[Feed]:
    """Feeds with no own limits, one limit each kind, and both."""
    return [
        Feed(id="f-plain", name="Plain", url="https://a.example/sse"),
        Feed(
            id="f-count",
            name="Count only",
            url="https://b.example/sse",
            retention=FeedRetention(max_events=5),
        ),
        Feed(
            id="f-age",
            name="Age only",
            url="https://c.example/sse",
            retention=FeedRetention(max_age_days=1),
        ),
        Feed(
            id="f-both",
            name="Both",
            url="https://d.example/sse",
            retention=FeedRetention(max_age_days=0.5, max_events=10),
        ),
    ]


def test_defaults_are_design_md(settings_file: Path) -> None:
    """No [history] table: 30 days, 100,000 per feed, no global cap, no per-feed overrides."""
    write(
        settings_file,
        """
        schema_version = 1

        [[feeds]]
        id = "a"
        url = "https://a.example/"
        """,
    )
    settings = load_settings(settings_file)
    assert settings.problems == ()
    assert settings.history_retention == Retention()
    retention = settings.retention()
    assert retention.max_age_days == DEFAULT_MAX_AGE_DAYS == 30
    assert retention.max_events_per_feed == DEFAULT_MAX_EVENTS_PER_FEED == 100_000
    assert retention.max_events_total is None
    assert retention.per_feed == {}
    assert Settings().retention() == Retention()
    # Defaults stay out of the file.
    save_settings(settings_file, settings)
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert "history" not in doc
    assert "retention" not in doc["feeds"][0]


def test_round_trip(settings_file: Path) -> None:
    """Global and per-feed limits are written, load back equal, and build the Retention."""
    settings = Settings(feeds=tuple(retention_feeds())).with_history_retention(GLOBAL)
    save_settings(settings_file, settings)
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert doc["history"] == {
        "max_age_days": 7.5,
        "max_events_per_feed": 2000,
        "max_events_total": 50_000,
    }
    assert [f.get("retention") for f in doc["feeds"]] == [
        None,
        {"max_events": 5},
        {"max_age_days": 1},
        {"max_age_days": 0.5, "max_events": 10},
    ]
    loaded = load_settings(settings_file)
    assert loaded.problems == ()
    assert loaded.feeds == settings.feeds
    assert loaded.history_retention == GLOBAL
    retention = loaded.retention()
    assert retention.max_events_total == 50_000
    # A limit a feed leaves unset is the global one; a feed with none has no entry.
    assert dict(retention.per_feed) == {
        "f-count": FeedLimits(max_age_days=7.5, max_events=5),
        "f-age": FeedLimits(max_age_days=1, max_events=2000),
        "f-both": FeedLimits(max_age_days=0.5, max_events=10),
    }
    assert retention.for_feed("f-plain") == FeedLimits(max_age_days=7.5, max_events=2000)


def test_written_by_hand(settings_file: Path) -> None:
    """A hand-written file: integers for days, false for no global cap, tables in any order."""
    write(
        settings_file,
        """
        schema_version = 1

        [[feeds]]
        id = "ci"
        url = "https://ci.example/sse"

        [feeds.retention]
        max_events = 5

        [history]
        max_age_days = 90
        max_events_total = false
        """,
    )
    settings = load_settings(settings_file)
    assert settings.problems == ()
    assert settings.history_retention == Retention(
        max_age_days=90, max_events_per_feed=100_000, max_events_total=None
    )
    assert settings.feeds[0].retention == FeedRetention(max_events=5)
    assert settings.retention().per_feed == {"ci": FeedLimits(max_age_days=90, max_events=5)}


def test_history_sits_beside_unknown_tables(settings_file: Path) -> None:
    """[history] is known (no problem); unknown tables beside it are still kept as they are."""
    write(
        settings_file,
        """
        schema_version = 1
        telemetry = false

        [history]
        max_events_per_feed = 10

        [notifications.sounds]
        critical = "bell"
        """,
    )
    settings = load_settings(settings_file)
    assert sorted(p.where for p in settings.problems) == ["notifications", "telemetry"]
    assert settings.history_retention.max_events_per_feed == 10
    save_settings(settings_file, settings.with_history_retention(GLOBAL))
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert doc["notifications"] == {"sounds": {"critical": "bell"}}
    assert doc["telemetry"] is False
    assert load_settings(settings_file).history_retention == GLOBAL


BAD_HISTORY = {
    "not a table": ("history = 30", "history", "must be a table", None),
    "unknown key": ("[history]\nmax_days = 30", "history.max_days", "unknown key", 3),
    "age as text": (
        '[history]\nmax_age_days = "30"',
        "history.max_age_days",
        "positive number of days",
        3,
    ),
    "age zero": ("[history]\nmax_age_days = 0", "history.max_age_days", "not the number 0", 3),
    "age negative": (
        "[history]\nmax_age_days = -1.5",
        "history.max_age_days",
        "not the number -1.5",
        3,
    ),
    "age infinite": ("[history]\nmax_age_days = inf", "history.max_age_days", "positive", 3),
    "age off": ("[history]\nmax_age_days = false", "history.max_age_days", "not false", 3),
    "per feed off": (
        "[history]\nmax_events_per_feed = false",
        "history.max_events_per_feed",
        "not false",
        3,
    ),
    "per feed fraction": (
        "[history]\nmax_events_per_feed = 10.5",
        "history.max_events_per_feed",
        "positive whole number",
        3,
    ),
    "total zero": (
        "[history]\nmax_events_total = 0",
        "history.max_events_total",
        "or false for no limit",
        3,
    ),
    "total true": ("[history]\nmax_events_total = true", "history.max_events_total", "not true", 3),
}


@pytest.mark.parametrize("case", sorted(BAD_HISTORY))
def test_bad_history_is_named_defaulted_and_kept(settings_file: Path, case: str) -> None:
    """A bad [history]: a problem naming the key, the defaults apply, the table kept verbatim."""
    body, where, fragment, line = BAD_HISTORY[case]
    write(
        settings_file,
        f'schema_version = 1\n\n{body}\n\n[[feeds]]\nid = "a"\nurl = "https://a.example/"\n',
    )
    raw = tomllib.loads(settings_file.read_text(encoding="utf-8"))["history"]
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert problem.where == where
    assert fragment in problem.message
    assert "default limits" in problem.message
    assert "kept in the file as it is" in problem.message
    assert problem.line == line
    assert settings.history_retention == Retention()
    assert settings.retention() == Retention()
    assert [f.id for f in settings.feeds] == ["a"]
    assert not settings.unsaveable

    save_settings(settings_file, settings)
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["history"] == raw
    assert [(p.where, p.message) for p in load_settings(settings_file).problems] == [
        (problem.where, problem.message)
    ]

    # Setting new limits replaces the broken table.
    save_settings(settings_file, settings.with_history_retention(GLOBAL))
    fixed = load_settings(settings_file)
    assert fixed.problems == ()
    assert fixed.history_retention == GLOBAL


BAD_FEED_RETENTION = {
    "not a table": ("retention = 5", "feeds[0].retention", "must be a table"),
    "unknown key": (
        "retention = { max_age = 3 }",
        "feeds[0].retention.max_age",
        "unknown key",
    ),
    "count as text": (
        'retention = { max_events = "5" }',
        "feeds[0].retention.max_events",
        "not text in quotes",
    ),
    "count zero": (
        "retention = { max_events = 0 }",
        "feeds[0].retention.max_events",
        "positive whole number",
    ),
    "count off": (
        "retention = { max_events = false }",
        "feeds[0].retention.max_events",
        "not false",
    ),
    "age negative": (
        "retention = { max_age_days = -2 }",
        "feeds[0].retention.max_age_days",
        "positive number of days",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FEED_RETENTION))
def test_bad_feed_retention_names_the_key_and_keeps_the_feed(
    settings_file: Path, case: str
) -> None:
    """A bad feed retention table is a problem naming its key; the feed is kept verbatim."""
    line, where, fragment = BAD_FEED_RETENTION[case]
    write(
        settings_file,
        f"""
        schema_version = 1

        [[feeds]]
        id = "bad"
        name = "Bad"
        url = "https://bad.example/"
        {line}

        [[feeds]]
        id = "good"
        url = "https://good.example/"
        retention = {{ max_events = 3 }}
        """,
    )
    raw = tomllib.loads(settings_file.read_text(encoding="utf-8"))["feeds"][0]
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert problem.where == where
    assert fragment in problem.message
    assert problem.line == 3
    assert "is not loaded" in problem.message
    assert [f.id for f in settings.feeds] == ["good"]
    assert settings.retention().per_feed == {"good": FeedLimits(max_age_days=30, max_events=3)}
    save_settings(settings_file, settings)
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["feeds"][0] == raw


def test_retention_functions_round_trip() -> None:
    """The to/from functions are inverse, and their errors name the key under ``where``."""
    for limits in (Retention(), GLOBAL, Retention(max_age_days=1, max_events_per_feed=1)):
        assert history_from_dict(history_to_dict(limits)) == limits
    for own in (FeedRetention(), FeedRetention(max_events=5), FeedRetention(max_age_days=2.5)):
        assert feed_retention_from_dict(feed_retention_to_dict(own)) == own
    with pytest.raises(ValueError, match=r"^h\.max_events_total: "):
        history_from_dict({"max_events_total": -1}, where="h")
    table = {"id": "x", "url": "https://x.example/", "retention": {"max_events": 0}}
    with pytest.raises(ValueError, match=r"^imported\.retention\.max_events: "):
        feed_from_dict(table, where="imported")
