"""The rules in the settings file: each feed's ``rules`` table and the ``[quiet_hours]`` table.

Real files in a temporary directory, as in test_config.py: what is written
loads back equal, defaults stay out of the file, and every problem names its
key (and the line of its table) without losing what the person wrote.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from tidings.core.config import (
    Settings,
    feed_from_dict,
    feed_to_dict,
    load_settings,
    quiet_hours_from_dict,
    quiet_hours_to_dict,
    rules_from_dict,
    rules_to_dict,
    save_settings,
)
from tidings.core.models import MUTED_FOREVER, Feed, FeedRules, QuietHours
from tidings.core.notification import Urgency

MUTE_AT = float(int(time.time()) + 3 * 86400)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """Where the settings file of a test lives."""
    return tmp_path / "config" / "settings.toml"


def rules_feeds() -> list[Feed]:
    """Feeds that together use every rule setting."""
    return [
        Feed(id="f-default", name="Defaults", url="https://a.example/sse"),
        Feed(
            id="f-all",
            name="Every rule",
            url="https://ntfy.example/ci/sse",
            preset="ntfy",
            rules=FeedRules(
                notifications=True,
                event_types=("push", "release"),
                text_filter=r"fail(ed|ure)\s+in\s+\w+",
                min_urgency=Urgency.NORMAL,
                muted_until=MUTE_AT,
            ),
        ),
        Feed(
            id="f-forever",
            name="Muted for good",
            url="https://b.example/sse",
            rules=FeedRules(muted_until=MUTED_FOREVER, min_urgency=Urgency.CRITICAL),
        ),
        Feed(
            id="f-wiki",
            name="Wiki, turned off explicitly",
            url="https://stream.wikimedia.org/v2/stream/recentchange",
            preset="eventstreams",
            rules=FeedRules(notifications=False),
        ),
    ]


QUIET = QuietHours(
    enabled=True,
    days=frozenset({0, 1, 2, 3, 4}),
    start=dt.time(22, 30),
    end=dt.time(7, 0),
    break_through=Urgency.NORMAL,
)


# -- round trip ---------------------------------------------------------------------------


def test_rules_and_quiet_hours_round_trip(settings_file: Path) -> None:
    """Feeds with every rule and quiet hours save and load back equal, with no problem."""
    feeds = rules_feeds()
    save_settings(settings_file, Settings(feeds=tuple(feeds), quiet_hours=QUIET))
    loaded = load_settings(settings_file)
    assert loaded.problems == ()
    assert list(loaded.feeds) == feeds
    assert loaded.quiet_hours == QUIET
    save_settings(settings_file, loaded)
    assert load_settings(settings_file) == loaded


def test_saved_rules_read_well(settings_file: Path) -> None:
    """The file shows rules as a person writes them: a [feeds.rules] table, "22:30", day names."""
    save_settings(settings_file, Settings(feeds=tuple(rules_feeds()), quiet_hours=QUIET))
    text = settings_file.read_text(encoding="utf-8")
    assert "[feeds.rules]" in text
    assert "[quiet_hours]" in text
    assert 'start = "22:30"' in text
    assert 'muted_until = "forever"' in text
    doc = tomllib.loads(text)
    assert doc["quiet_hours"] == {
        "enabled": True,
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "22:30",
        "end": "07:00",
        "break_through": "normal",
    }
    every = doc["feeds"][1]["rules"]
    assert every["filter"] == r"fail(ed|ure)\s+in\s+\w+"
    assert isinstance(every["muted_until"], dt.datetime)
    assert every["muted_until"].utcoffset() is not None  # an offset: the instant is unambiguous
    assert every["muted_until"].timestamp() == MUTE_AT


def test_defaults_stay_out_of_the_file(settings_file: Path) -> None:
    """Default rules write no rules table, default quiet hours no [quiet_hours] table."""
    save_settings(settings_file, Settings(feeds=(rules_feeds()[0],)))
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert "rules" not in doc["feeds"][0]
    assert "quiet_hours" not in doc
    assert rules_to_dict(FeedRules()) == {}
    assert feed_to_dict(rules_feeds()[0]).get("rules") is None


def test_notifications_not_set_is_not_the_same_as_on() -> None:
    """Leaving ``notifications`` out keeps the preset's default; true and false are kept as set."""
    assert rules_from_dict({}).notifications is None
    assert rules_from_dict({"notifications": True}).notifications is True
    assert rules_from_dict({"notifications": False}).notifications is False
    assert "notifications" not in rules_to_dict(FeedRules())
    assert rules_to_dict(FeedRules(notifications=False)) == {"notifications": False}


def test_rules_written_by_hand_load(settings_file: Path) -> None:
    """A hand-written rules table: single-quoted regex, local or offset mute times, any case."""
    write(
        settings_file,
        """
        schema_version = 1

        [[feeds]]
        id = "ci"
        url = "https://ci.example/sse"
        rules = { filter = '\\bdeploy(ed)?\\b', min_urgency = "Critical", event_types = ["push"] }

        [[feeds]]
        id = "local"
        url = "https://local.example/sse"
        [feeds.rules]
        muted_until = 2031-05-01T08:00:00

        [[feeds]]
        id = "offset"
        url = "https://offset.example/sse"
        [feeds.rules]
        muted_until = 2031-05-01T08:00:00Z
        """,
    )
    settings = load_settings(settings_file)
    assert settings.problems == ()
    ci, local, offset = settings.feeds
    assert ci.rules.text_filter == r"\bdeploy(ed)?\b"
    assert ci.rules.min_urgency is Urgency.CRITICAL
    assert ci.rules.event_types == ("push",)
    assert local.rules.muted_until == dt.datetime(2031, 5, 1, 8).timestamp()  # local time
    assert offset.rules.muted_until == dt.datetime(2031, 5, 1, 8, tzinfo=dt.UTC).timestamp()


def test_quiet_hours_written_by_hand_load(settings_file: Path) -> None:
    """[quiet_hours] accepts TOML times or "HH:MM", full or short day names; defaults fill in."""
    write(
        settings_file,
        """
        schema_version = 1

        [quiet_hours]
        start = 23:15:00
        end = "6:30"
        days = ["Saturday", "sun"]
        """,
    )
    settings = load_settings(settings_file)
    assert settings.problems == ()
    assert settings.quiet_hours == QuietHours(
        enabled=True,
        days=frozenset({5, 6}),
        start=dt.time(23, 15),
        end=dt.time(6, 30),
        break_through=Urgency.CRITICAL,
    )


def test_quiet_hours_sit_beside_unknown_tables(settings_file: Path) -> None:
    """[quiet_hours] is known (no problem); unknown tables beside it are still kept as they are."""
    write(
        settings_file,
        """
        schema_version = 1
        telemetry = false

        [quiet_hours]
        start = "22:00"
        end = "07:00"

        [notifications.sounds]
        critical = "bell"

        [[feeds]]
        id = "a"
        url = "https://a.example/"
        """,
    )
    settings = load_settings(settings_file)
    assert sorted(p.where for p in settings.problems) == ["notifications", "telemetry"]
    assert settings.quiet_hours.enabled
    save_settings(settings_file, settings.with_quiet_hours(QUIET))
    doc = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    assert doc["notifications"] == {"sounds": {"critical": "bell"}}
    assert doc["telemetry"] is False
    assert doc["quiet_hours"]["start"] == "22:30"
    assert load_settings(settings_file).quiet_hours == QUIET


def test_with_feed_replaces_one_feed() -> None:
    """Settings.with_feed puts a feed the hub changed (a mute) in place, or adds a new one."""
    feeds = rules_feeds()
    settings = Settings(feeds=tuple(feeds))
    muted = Feed(
        id="f-default",
        name="Defaults",
        url="https://a.example/sse",
        rules=FeedRules(muted_until=MUTED_FOREVER),
    )
    changed = settings.with_feed(muted)
    assert [f.id for f in changed.feeds] == [f.id for f in feeds]
    assert changed.feed("f-default") == muted
    added = settings.with_feed(Feed(id="new", name="New", url="https://n.example/"))
    assert [f.id for f in added.feeds][-1] == "new"


# -- problems ---------------------------------------------------------------------------------

BAD_RULES = {
    "not a table": ('rules = "strict"', "feeds[0].rules", "must be a table"),
    "unknown key": ("rules = { muted = true }", "feeds[0].rules.muted", "unknown key"),
    "notifications as text": (
        'rules = { notifications = "on" }',
        "feeds[0].rules.notifications",
        "must be true or false",
    ),
    "event types as text": (
        'rules = { event_types = "push" }',
        "feeds[0].rules.event_types",
        "must be an array",
    ),
    "event type as a number": (
        'rules = { event_types = ["push", 3] }',
        "feeds[0].rules.event_types[1]",
        "must be an event type in quotes",
    ),
    "empty event type": (
        'rules = { event_types = [""] }',
        "feeds[0].rules.event_types[0]",
        "must be an event type",
    ),
    "invalid regex": (
        "rules = { filter = 'fail(ed' }",
        "feeds[0].rules.filter",
        "not a valid regular expression (missing ), unterminated subpattern",
    ),
    "unknown urgency": (
        'rules = { min_urgency = "urgent" }',
        "feeds[0].rules.min_urgency",
        'unknown urgency \'urgent\'; the known ones are "low", "normal", "critical"',
    ),
    "mute as text": (
        'rules = { muted_until = "tomorrow" }',
        "feeds[0].rules.muted_until",
        'or "forever"',
    ),
    "mute as a number": (
        "rules = { muted_until = 1700000000 }",
        "feeds[0].rules.muted_until",
        "not the number 1700000000",
    ),
    "mute as a date": (
        "rules = { muted_until = 2031-05-01 }",
        "feeds[0].rules.muted_until",
        "must be a date and time",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RULES))
def test_bad_rules_name_the_key_and_keep_the_feed(settings_file: Path, case: str) -> None:
    """A bad rules table is a problem naming its key; the feed is kept verbatim, not lost."""
    line, where, fragment = BAD_RULES[case]
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
    save_settings(settings_file, settings)
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["feeds"][0] == raw


def test_feed_from_dict_names_the_bad_filter() -> None:
    """feed_from_dict (used by commands that import a feed) names the rules key too."""
    table = {"id": "x", "url": "https://x.example/", "rules": {"filter": "(["}}
    with pytest.raises(ValueError, match=r"^imported\.rules\.filter: not a valid regular"):
        feed_from_dict(table, where="imported")


BAD_QUIET = {
    "not a table": ('quiet_hours = "22-7"', "quiet_hours", "must be a table", None),
    "unknown key": ('[quiet_hours]\nfrom = "22:00"', "quiet_hours.from", "unknown key", 3),
    "bad start": ('[quiet_hours]\nstart = "25:00"', "quiet_hours.start", 'such as "22:00"', 3),
    "start as a number": (
        "[quiet_hours]\nstart = 22",
        "quiet_hours.start",
        "not the number 22",
        3,
    ),
    "unknown day": (
        '[quiet_hours]\ndays = ["mon", "funday"]',
        "quiet_hours.days[1]",
        'must be a day such as "mon"',
        3,
    ),
    "days as text": ('[quiet_hours]\ndays = "weekends"', "quiet_hours.days", "an array", 3),
    "unknown urgency": (
        '[quiet_hours]\nbreak_through = "high"',
        "quiet_hours.break_through",
        "unknown urgency 'high'",
        3,
    ),
    "enabled as text": (
        '[quiet_hours]\nenabled = "yes"',
        "quiet_hours.enabled",
        "must be true or false",
        3,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_QUIET))
def test_bad_quiet_hours_are_named_off_and_kept(settings_file: Path, case: str) -> None:
    """Bad quiet hours: a problem naming the key, quiet hours off, the table kept verbatim."""
    body, where, fragment, line = BAD_QUIET[case]
    write(
        settings_file,
        f'schema_version = 1\n\n{body}\n\n[[feeds]]\nid = "a"\nurl = "https://a.example/"\n',
    )
    raw = tomllib.loads(settings_file.read_text(encoding="utf-8"))["quiet_hours"]
    settings = load_settings(settings_file)
    (problem,) = settings.problems
    assert problem.where == where
    assert fragment in problem.message
    assert "quiet hours are off until this is fixed" in problem.message
    assert problem.line == line
    assert settings.quiet_hours == QuietHours()
    assert [f.id for f in settings.feeds] == ["a"]
    assert not settings.unsaveable

    save_settings(settings_file, settings)
    assert tomllib.loads(settings_file.read_text(encoding="utf-8"))["quiet_hours"] == raw
    assert [(p.where, p.message) for p in load_settings(settings_file).problems] == [
        (problem.where, problem.message)
    ]

    # Setting new quiet hours replaces the broken table.
    save_settings(settings_file, settings.with_quiet_hours(QUIET))
    fixed = load_settings(settings_file)
    assert fixed.problems == ()
    assert fixed.quiet_hours == QUIET


def test_quiet_hours_functions_round_trip() -> None:
    """quiet_hours_to_dict and quiet_hours_from_dict are inverse for any valid value."""
    for quiet in (QuietHours(), QUIET, QuietHours(enabled=True, days=frozenset())):
        assert quiet_hours_from_dict(quiet_hours_to_dict(quiet)) == quiet
    with pytest.raises(ValueError, match=r"^qh\.end: "):
        quiet_hours_from_dict({"end": "7pm"}, where="qh")
