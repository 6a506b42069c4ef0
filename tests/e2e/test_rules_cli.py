"""``tidings feeds mute|unmute|rules`` and ``tidings quiet-hours`` as subprocesses.

Each command's effect is checked in the settings file (loaded with
``config.load_settings``, as Tidings reads it), in what it prints, in its exit
codes for bad input, and on a broken file that must stay byte-for-byte as it
was. The last tests change the rules of a running ``tidings run --headless``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer
from tidings.core.config import load_settings
from tidings.core.models import ALL_DAYS, MUTED_FOREVER, Feed, FeedRules, QuietHours
from tidings.core.notification import Urgency
from tidings.core.rules import mute_until_tomorrow

from .conftest import WAIT, Finished, StartTidings, Tidings
from .test_feeds_cli import settings_path, tidings, write_settings

pytestmark = pytest.mark.timeout(90)

FEEDS = """\
    schema_version = 1

    [[feeds]]
    id = "f-ci"
    name = "CI"
    url = "https://ci.example.org/sse"

    [[feeds]]
    id = "f-wiki"
    name = "Wiki"
    url = "https://stream.example.org/v2/stream/recentchange"
    preset = "eventstreams"
"""


def one_feed(url: str) -> str:
    return f'schema_version = 1\n\n[[feeds]]\nid = "f-ci"\nname = "CI"\nurl = "{url}"\n'


def profile_with_feeds(tmp_path: Path) -> Path:
    profile = tmp_path / "p"
    write_settings(profile, FEEDS)
    return profile


def feed(profile: Path, feed_id: str = "f-ci") -> Feed:
    settings = load_settings(settings_path(profile))
    assert not settings.problems, settings.problems
    found = settings.feed(feed_id)
    assert found is not None
    return found


def quiet_hours(profile: Path) -> QuietHours:
    settings = load_settings(settings_path(profile))
    assert not settings.problems, settings.problems
    return settings.quiet_hours


def ok(done: Finished) -> Finished:
    assert done.returncode == 0, done.stderr
    return done


def usage_error(done: Finished, *words: str) -> None:
    """Exit 2 with one ``tidings: error:`` line that names the problem."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("tidings: error:")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]


# -- mute and unmute -------------------------------------------------------------------


async def test_mute_defaults_to_one_hour_and_shows_in_list_and_show(tmp_path: Path) -> None:
    """`feeds mute FEED` mutes for 1 h; list, show and --json say until when."""
    profile = profile_with_feeds(tmp_path)
    before = time.time()
    done = ok(await tidings(profile, "feeds", "mute", "CI"))
    after = time.time()
    until = feed(profile).rules.muted_until
    assert until is not None
    assert before + 3600 - 1 <= until <= after + 3600 + 1
    clock = dt.datetime.fromtimestamp(until).strftime("%Y-%m-%d %H:%M")
    assert f"muted feed f-ci 'CI' until {clock} (for 1 h)" in done.stdout
    assert "still logged" in done.stdout
    assert feed(profile, "f-wiki").rules.muted_until is None

    listed = ok(await tidings(profile, "feeds", "list"))
    (ci_row,) = [line for line in listed.stdout.splitlines() if line.startswith("f-ci")]
    assert f"active, muted until {clock}" in ci_row
    (wiki_row,) = [line for line in listed.stdout.splitlines() if line.startswith("f-wiki")]
    assert "muted" not in wiki_row

    shown = ok(await tidings(profile, "feeds", "show", "f-ci"))
    assert f"until {clock}" in shown.stdout
    as_json = json.loads(ok(await tidings(profile, "feeds", "show", "CI", "--json")).stdout)
    assert as_json["rules"]["muted"] is True
    assert dt.datetime.fromisoformat(as_json["rules"]["muted_until"]).timestamp() == until


async def test_mute_for_a_duration(tmp_path: Path) -> None:
    """--for takes 30m, 2d and combinations such as 1h30m."""
    profile = profile_with_feeds(tmp_path)
    for text, seconds in (("30m", 1800), ("2d", 172800), ("1h30m", 5400)):
        before = time.time()
        done = ok(await tidings(profile, "feeds", "mute", "f-ci", "--for", text, "--json"))
        until = feed(profile).rules.muted_until
        assert until is not None
        assert before + seconds - 1 <= until <= time.time() + seconds + 1, text
        assert json.loads(done.stdout)["muted"] is True


async def test_mute_until_tomorrow_and_until_a_time(tmp_path: Path) -> None:
    """--until-tomorrow ends at 08:00 the next day; --until takes a local date and time."""
    profile = profile_with_feeds(tmp_path)
    expected = {mute_until_tomorrow(time.time(), hour=8)}
    ok(await tidings(profile, "feeds", "mute", "CI", "--until-tomorrow"))
    expected.add(mute_until_tomorrow(time.time(), hour=8))  # in case midnight just passed
    assert feed(profile).rules.muted_until in expected

    done = ok(await tidings(profile, "feeds", "mute", "CI", "--until", "2099-05-01 08:00"))
    assert feed(profile).rules.muted_until == dt.datetime(2099, 5, 1, 8, 0).timestamp()
    assert "until 2099-05-01 08:00" in done.stdout


async def test_mute_forever_then_unmute(tmp_path: Path) -> None:
    """--forever mutes until unmuted ("muted" in the list); unmute clears it, twice is fine."""
    profile = profile_with_feeds(tmp_path)
    done = ok(await tidings(profile, "feeds", "mute", "CI", "--forever"))
    assert feed(profile).rules.muted_until == MUTED_FOREVER
    assert "until you unmute it" in done.stdout
    assert 'muted_until = "forever"' in settings_path(profile).read_text("utf-8")
    listed = ok(await tidings(profile, "feeds", "list"))
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("f-ci")]
    assert "active, muted " in row
    assert "muted until" not in row
    shown = json.loads(ok(await tidings(profile, "feeds", "show", "CI", "--json")).stdout)
    assert shown["rules"]["muted_until"] == "forever"

    done = ok(await tidings(profile, "feeds", "unmute", "CI"))
    assert "unmuted feed f-ci 'CI'" in done.stdout
    assert feed(profile).rules.muted_until is None
    again = ok(await tidings(profile, "feeds", "unmute", "CI"))
    assert "was not muted" in again.stdout
    listed = ok(await tidings(profile, "feeds", "list"))
    assert "muted" not in listed.stdout


async def test_mute_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    """Bad durations, times in the past and two end options are usage errors; nothing changes."""
    profile = profile_with_feeds(tmp_path)
    before = settings_path(profile).read_bytes()
    cases = [
        (("--for", "soon"), ("--for", "'soon'", "duration")),
        (("--for", "0m"), ("--for", "'0m'")),
        (("--for", "400d"), ("--for", "--forever")),
        (("--until", "tomorrow-ish"), ("--until", "'tomorrow-ish'")),
        (("--until", "2001-01-01 00:00"), ("--until", "in the past")),
        (("--for", "1h", "--forever"), ("--forever", "not allowed with")),
    ]
    results = await asyncio.gather(
        *(tidings(profile, "feeds", "mute", "CI", *args) for args, _ in cases)
    )
    for (_, words), done in zip(cases, results, strict=True):
        usage_error(done, *words)
    assert settings_path(profile).read_bytes() == before
    missing = await tidings(profile, "feeds", "mute", "Nope")
    assert missing.returncode == 1
    assert "no feed has the id or name 'Nope'" in missing.error_lines[0]


# -- rules -------------------------------------------------------------------------


async def test_rules_show_the_defaults(tmp_path: Path) -> None:
    """`feeds rules FEED` alone shows every rule, the preset's default included."""
    profile = profile_with_feeds(tmp_path)
    before = settings_path(profile).read_bytes()
    done = ok(await tidings(profile, "feeds", "rules", "CI"))
    assert "notifications  on (the plain preset's default)" in done.stdout
    assert "event types    every type" in done.stdout
    assert "text filter    none" in done.stdout
    assert "min urgency    low" in done.stdout
    assert "muted          no" in done.stdout
    wiki = ok(await tidings(profile, "feeds", "rules", "Wiki", "--json"))
    rules = json.loads(wiki.stdout)["rules"]
    assert rules["notifications"] is None
    assert rules["notifications_on"] is False  # a firehose: log only by default
    assert settings_path(profile).read_bytes() == before


async def test_rules_options_land_in_the_settings_file(tmp_path: Path) -> None:
    """--notify, --types, --filter and --min-urgency are saved and printed."""
    profile = profile_with_feeds(tmp_path)
    done = ok(
        await tidings(
            profile,
            "feeds",
            "rules",
            "CI",
            "--notify",
            "off",
            "--types",
            "push, release,push",
            "--filter",
            r"deploy|fail(ed|ure)\b",
            "--min-urgency",
            "normal",
        )
    )
    assert feed(profile).rules == FeedRules(
        notifications=False,
        event_types=("push", "release"),
        text_filter=r"deploy|fail(ed|ure)\b",
        min_urgency=Urgency.NORMAL,
    )
    assert "changed the rules of feed f-ci 'CI'" in done.stdout
    assert "event types    push, release" in done.stdout
    assert r"text filter    deploy|fail(ed|ure)\b" in done.stdout
    assert "min urgency    normal" in done.stdout
    assert feed(profile, "f-wiki").rules == FeedRules()

    as_json = json.loads(ok(await tidings(profile, "feeds", "rules", "f-ci", "--json")).stdout)
    assert as_json["rules"]["event_types"] == ["push", "release"]
    assert as_json["rules"]["notifications"] is False

    # One option at a time leaves the others; '' means every type / no filter.
    ok(await tidings(profile, "feeds", "rules", "CI", "--notify", "default", "--types", ""))
    rules = feed(profile).rules
    assert (rules.notifications, rules.event_types) == (None, ())
    assert rules.text_filter == r"deploy|fail(ed|ure)\b"
    ok(await tidings(profile, "feeds", "rules", "CI", "--filter", ""))
    assert feed(profile).rules.text_filter == ""
    ok(await tidings(profile, "feeds", "rules", "Wiki", "--notify", "on"))
    assert feed(profile, "f-wiki").rules.notifications is True


async def test_rules_clear_resets_them_and_keeps_a_mute(tmp_path: Path) -> None:
    """--clear puts every rule back to its default; a mute stays until unmuted."""
    profile = profile_with_feeds(tmp_path)
    ok(
        await tidings(
            profile, "feeds", "rules", "CI", "--notify", "on", "--min-urgency", "critical"
        )
    )
    ok(await tidings(profile, "feeds", "mute", "CI", "--forever"))
    done = ok(await tidings(profile, "feeds", "rules", "CI", "--clear"))
    assert feed(profile).rules == FeedRules(muted_until=MUTED_FOREVER)
    assert "until you unmute it" in done.stdout
    ok(await tidings(profile, "feeds", "unmute", "CI"))
    assert "rules" not in settings_path(profile).read_text("utf-8")
    again = ok(await tidings(profile, "feeds", "rules", "CI", "--clear"))
    assert "already so" in again.stdout


async def test_rules_refuse_bad_input_with_exit_2(tmp_path: Path) -> None:
    """An invalid regex, urgency or --notify value exits 2 naming it; the file is unchanged."""
    profile = profile_with_feeds(tmp_path)
    before = settings_path(profile).read_bytes()
    cases = [
        (("--filter", "fail(ed"), ("--filter", "'fail(ed'", "not a valid regular expression")),
        (("--filter", "*"), ("--filter", "nothing to repeat")),
        (("--min-urgency", "urgent"), ("--min-urgency", "'urgent'")),
        (("--notify", "maybe"), ("--notify", "'maybe'")),
        (("--types", "a\nb"), ("--types", "one line")),
    ]
    results = await asyncio.gather(
        *(tidings(profile, "feeds", "rules", "CI", *args) for args, _ in cases)
    )
    for (_, words), done in zip(cases, results, strict=True):
        usage_error(done, *words)
    assert settings_path(profile).read_bytes() == before


# -- quiet hours ---------------------------------------------------------------------


async def test_quiet_hours_are_off_until_set(tmp_path: Path) -> None:
    """`quiet-hours` shows them off; --json says so for scripts; nothing is written."""
    profile = profile_with_feeds(tmp_path)
    before = settings_path(profile).read_bytes()
    done = ok(await tidings(profile, "quiet-hours"))
    assert done.stdout.startswith("quiet hours  off")
    as_json = json.loads(ok(await tidings(profile, "quiet-hours", "--json")).stdout)
    assert as_json["enabled"] is False
    assert as_json["quiet_now"] is False
    assert settings_path(profile).read_bytes() == before


async def test_quiet_hours_set_lands_in_the_settings_file(tmp_path: Path) -> None:
    """`quiet-hours set` saves times, days and break-through, and shows what now applies."""
    profile = profile_with_feeds(tmp_path)
    done = ok(
        await tidings(
            profile,
            "quiet-hours",
            "set",
            "--from",
            "22:00",
            "--to",
            "07:00",
            "--days",
            "mon-fri",
            "--break-through",
            "normal",
        )
    )
    assert quiet_hours(profile) == QuietHours(
        enabled=True,
        days=frozenset(range(5)),
        start=dt.time(22, 0),
        end=dt.time(7, 0),
        break_through=Urgency.NORMAL,
    )
    assert "quiet hours    on: Mon-Fri, 22:00 to 07:00 (into the next day)" in done.stdout
    assert "break through  normal and above" in done.stdout
    assert "right now" in done.stdout
    assert len(load_settings(settings_path(profile)).feeds) == 2

    # What is not given stays; the days come in several spellings.
    for days, expected in (
        ("mon,wed,fri", {0, 2, 4}),
        ("fri-mon", {4, 5, 6, 0}),
        ("Saturday,sun", {5, 6}),
        ("weekdays", set(range(5))),
        ("all", set(ALL_DAYS)),
    ):
        ok(await tidings(profile, "quiet-hours", "set", "--days", days))
        quiet = quiet_hours(profile)
        assert quiet.days == frozenset(expected), days
        assert (quiet.start, quiet.end, quiet.break_through) == (
            dt.time(22, 0),
            dt.time(7, 0),
            Urgency.NORMAL,
        )
    shown = json.loads(ok(await tidings(profile, "quiet-hours", "show", "--json")).stdout)
    assert shown["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert (shown["start"], shown["end"], shown["enabled"]) == ("22:00", "07:00", True)


async def test_quiet_hours_off_keeps_the_times_for_later(tmp_path: Path) -> None:
    """`quiet-hours off` turns them off but keeps times; `set` alone turns them on again."""
    profile = profile_with_feeds(tmp_path)
    ok(await tidings(profile, "quiet-hours", "set", "--from", "23:30", "--to", "6:15"))
    done = ok(await tidings(profile, "quiet-hours", "off"))
    quiet = quiet_hours(profile)
    assert quiet.enabled is False
    assert (quiet.start, quiet.end) == (dt.time(23, 30), dt.time(6, 15))
    assert "quiet hours off" in done.stdout
    assert "kept" in done.stdout
    again = ok(await tidings(profile, "quiet-hours", "off"))
    assert "already off" in again.stdout
    ok(await tidings(profile, "quiet-hours", "set"))
    assert quiet_hours(profile) == QuietHours(
        enabled=True, start=dt.time(23, 30), end=dt.time(6, 15)
    )


async def test_quiet_hours_refuse_bad_input_with_exit_2(tmp_path: Path) -> None:
    """Bad times, days or urgencies exit 2 naming the option; the file is unchanged."""
    profile = profile_with_feeds(tmp_path)
    before = settings_path(profile).read_bytes()
    cases = [
        (("--from", "25:00"), ("--from", "'25:00'", "time of day")),
        (("--to", "7pm"), ("--to", "'7pm'")),
        (("--days", "funday"), ("--days", "'funday'", "not a day")),
        (("--days", "mon-xyz"), ("--days", "'xyz'")),
        (("--days", ","), ("--days", "no day")),
        (("--break-through", "loud"), ("--break-through", "'loud'")),
    ]
    results = await asyncio.gather(
        *(tidings(profile, "quiet-hours", "set", *args) for args, _ in cases)
    )
    for (_, words), done in zip(cases, results, strict=True):
        usage_error(done, *words)
    assert settings_path(profile).read_bytes() == before


# -- a settings file that must not be rewritten --------------------------------------------


async def test_a_broken_settings_file_is_left_byte_for_byte(tmp_path: Path) -> None:
    """With a TOML syntax error every changing command exits 1 naming it; the file stays."""
    profile = tmp_path / "p"
    path = write_settings(profile, FEEDS + '\n[quiet_hours]\nstart = "22:00\n')
    before = path.read_bytes()
    commands = [
        ("feeds", "mute", "CI"),
        ("feeds", "mute", "CI", "--forever"),
        ("feeds", "unmute", "CI"),
        ("feeds", "rules", "CI", "--notify", "off"),
        ("feeds", "rules", "CI", "--clear"),
        ("quiet-hours", "set", "--from", "21:00"),
        ("quiet-hours", "off"),
        ("quiet-hours",),
    ]
    results = await asyncio.gather(*(tidings(profile, *args) for args in commands))
    for args, done in zip(commands, results, strict=True):
        assert done.returncode == 1, (args, done.stderr)
        assert len(done.error_lines) == 1, (args, done.stderr)
        assert "TOML syntax error" in done.error_lines[0], (args, done.stderr)
        assert f"{path}:" in done.stderr
    assert path.read_bytes() == before


async def test_a_feed_that_does_not_load_is_kept_when_another_changes(tmp_path: Path) -> None:
    """Muting a good feed keeps an invalid one verbatim; the invalid one itself is refused."""
    profile = tmp_path / "p"
    path = write_settings(
        profile, FEEDS + '\n    [[feeds]]\n    id = "f-bad"\n    name = "Bad"\n    url = 5\n'
    )
    before = path.read_bytes()
    refused = await tidings(profile, "feeds", "mute", "Bad")
    assert refused.returncode == 1
    assert "does not load" in refused.error_lines[0]
    assert path.read_bytes() == before
    ok(await tidings(profile, "feeds", "mute", "CI", "--forever"))
    settings = load_settings(path)
    assert [t["id"] for t in settings.kept_feeds] == ["f-bad"]
    assert settings.feed("f-ci") is not None
    assert settings.feed("f-ci").rules.muted_until == MUTED_FOREVER  # type: ignore[union-attr]


# -- a running `tidings run --headless` ------------------------------------------------------


class Events:
    """A scripted SSE feed that sends each event when the test says so."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent = 0

    def reply(self, _request: RecordedRequest) -> Reply:
        async def body(_request: RecordedRequest) -> AsyncIterator[bytes]:
            while True:
                yield await self.queue.get()

        return Reply(body=body, end="hang")

    def send(self, data: str) -> None:
        self.sent += 1
        self.queue.put_nowait(f"id: {self.sent}\ndata: {data}\n\n".encode())


async def start_headless(start: StartTidings, profile: Path) -> Tidings:
    return await start(
        "--profile-dir", str(profile), "run", "--headless", "--json", "--settings-poll", "0.1"
    )


async def stderr_count(child: Tidings, text: str, count: int) -> None:
    """Wait until ``text`` appears ``count`` times on the child's stderr."""
    async with asyncio.timeout(WAIT):
        while child.stderr_so_far.count(text) < count:
            await asyncio.sleep(0.05)


async def next_event(child: Tidings, events: Events, data: str) -> dict[str, object]:
    events.send(data)
    line = await child.json_line()
    assert line["data"] == data
    return line


async def test_mute_and_unmute_apply_to_a_running_headless_run(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """While muted, events still print with notification null and reason muted; unmute ends it."""
    events = Events()
    async with ScriptedServer(events.reply) as srv:
        profile = tmp_path / "p"
        write_settings(profile, one_feed(srv.url()))
        child = await start_headless(start_tidings, profile)
        await stderr_count(child, "[CI] connected", 1)

        shown = await next_event(child, events, "before the mute")
        assert shown["notification"] is not None
        assert not shown["reason"]

        ok(await tidings(profile, "feeds", "mute", "CI"))
        await stderr_count(child, "[CI] settings changed", 1)
        for n in range(3):
            hushed = await next_event(child, events, f"while muted {n}")
            assert hushed["notification"] is None
            assert hushed["reason"] == "muted"

        ok(await tidings(profile, "feeds", "unmute", "CI"))
        await stderr_count(child, "[CI] settings changed", 2)
        back = await next_event(child, events, "after the mute")
        assert back["notification"] is not None
        assert not back["reason"]

        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    assert finished.returncode == 143
    # Changing the rules never reconnected the feed.
    assert len(srv.requests) == 1


async def test_quiet_hours_and_rules_apply_to_a_running_headless_run(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    """Quiet hours around now hold events back (reason quiet); rules --notify off says off."""
    events = Events()
    async with ScriptedServer(events.reply) as srv:
        profile = tmp_path / "p"
        write_settings(profile, one_feed(srv.url()))
        child = await start_headless(start_tidings, profile)
        await stderr_count(child, "[CI] connected", 1)
        assert (await next_event(child, events, "one"))["notification"] is not None

        now = dt.datetime.now()
        start = (now - dt.timedelta(hours=1)).strftime("%H:%M")
        end = (now + dt.timedelta(hours=1)).strftime("%H:%M")
        stamp = settings_path(profile).stat().st_mtime_ns
        ok(await tidings(profile, "quiet-hours", "set", "--from", start, "--to", end))
        assert settings_path(profile).stat().st_mtime_ns != stamp
        # Quiet hours are not a feed's settings: wait until an event shows them applied.
        async with asyncio.timeout(WAIT):
            while (await next_event(child, events, "quiet?"))["reason"] != "quiet":
                await asyncio.sleep(0.1)

        ok(await tidings(profile, "quiet-hours", "off"))
        async with asyncio.timeout(WAIT):
            while (await next_event(child, events, "loud?"))["reason"] == "quiet":
                await asyncio.sleep(0.1)

        ok(await tidings(profile, "feeds", "rules", "CI", "--notify", "off"))
        await stderr_count(child, "[CI] settings changed", 1)
        off = await next_event(child, events, "off")
        assert (off["notification"], off["reason"]) == (None, "off")

        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
    assert finished.returncode == 143
