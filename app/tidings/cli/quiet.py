"""``tidings quiet-hours``: show, set and turn off the quiet hours (one setting for all feeds).

During quiet hours only events at or above the break-through urgency pop up;
every event is still logged. A period belongs to the day it starts on, and a
period that ends before it starts crosses midnight (22:00 to 07:00). Changes
go to the settings file atomically, never over a file that cannot be saved,
and a running ``tidings run --headless`` applies them within seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tidings.cli._common import EXIT_OK, ArgumentParser, CommandFailedError, print_json, print_rows
from tidings.cli._context import Context, command, ensure_saveable
from tidings.core.errors import UsageError
from tidings.core.models import ALL_DAYS, QuietHours
from tidings.core.notification import Urgency
from tidings.core.rules import in_quiet_hours

__all__ = ["parse_days", "parse_time", "register"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_GROUPS: dict[str, frozenset[int]] = {
    "all": ALL_DAYS,
    "daily": ALL_DAYS,
    "every day": ALL_DAYS,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
    "weekend": frozenset({5, 6}),
}
_TIME_RE = re.compile(r"([01]?\d|2[0-3])(?::([0-5]\d))?")


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings quiet-hours ...`` to the command line."""
    quiet = commands.add_parser(
        "quiet-hours",
        help="show or change the quiet hours, when only urgent events pop up",
        description="Quiet hours (one setting for all feeds): only events at or above the "
        "break-through urgency pop up; every event is still logged. Without an action: show "
        "them. A running Tidings applies changes within seconds.",
    )
    quiet.add_argument("--json", action="store_true", help="one JSON object for scripts")
    quiet.set_defaults(handler=_show)
    actions = quiet.add_subparsers(
        dest="quiet_command", metavar="ACTION", parser_class=ArgumentParser
    )

    show = actions.add_parser("show", help="show the quiet hours (the default)")
    show.add_argument("--json", action="store_true", help="one JSON object for scripts")
    show.set_defaults(handler=_show)

    set_ = actions.add_parser(
        "set",
        help="turn quiet hours on, or change them",
        description="Turn quiet hours on with these times, days and break-through urgency. "
        "What is not given stays as it was (the first time: 22:00 to 07:00, every day, "
        "critical breaks through). A period belongs to the day it starts on; one that ends "
        "before it starts crosses midnight.",
        epilog="Example: tidings quiet-hours set --from 22:00 --to 07:00 --days mon-fri "
        "--break-through critical",
    )
    set_.add_argument(
        "--from", dest="start", type=parse_time, metavar="HH:MM", help="when they start"
    )
    set_.add_argument("--to", dest="end", type=parse_time, metavar="HH:MM", help="when they end")
    set_.add_argument(
        "--days",
        type=parse_days,
        metavar="DAYS",
        help="the days they start on: mon-fri, mon,wed,fri, sat-sun, weekdays, weekends or all",
    )
    set_.add_argument(
        "--break-through",
        choices=[u.value for u in Urgency],
        help="events at or above this urgency still pop up (first time: critical)",
    )
    set_.add_argument("--json", action="store_true", help="print the result as JSON")
    set_.set_defaults(handler=_set)

    off = actions.add_parser(
        "off",
        help="turn quiet hours off (their times are kept for `quiet-hours set`)",
        description="Turn quiet hours off. Their times and days stay in the settings file, so "
        "`tidings quiet-hours set` with no options turns the same ones on again.",
    )
    off.add_argument("--json", action="store_true", help="print the result as JSON")
    off.set_defaults(handler=_off)


# -- parsing -----------------------------------------------------------------------


def parse_time(text: str) -> dt.time:
    """An argparse type: a time of day on the 24-hour clock, ``22:00`` (or ``22``)."""
    match = _TIME_RE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time of day such as 22:00 (24-hour clock, 00:00 to 23:59)"
        )
    return dt.time(int(match.group(1)), int(match.group(2) or 0))


def _day(name: str, text: str) -> int:
    key = name.strip().lower()
    if key in _DAYS:
        return _DAYS.index(key)
    if key in _FULL_DAYS:
        return _FULL_DAYS.index(key)
    where = "" if name.strip() == text.strip() else f" in {text!r}"
    raise argparse.ArgumentTypeError(
        f"{name.strip()!r}{where} is not a day: use {', '.join(_DAYS)}, ranges such as "
        "mon-fri, or weekdays, weekends, all"
    )


def parse_days(text: str) -> frozenset[int]:
    """An argparse type: ``mon-fri``, ``mon,wed,fri``, ``fri-mon`` (wraps), ``weekends``..."""
    days: set[int] = set()
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("no day given: use mon-fri, mon,wed,fri or all")
    for part in parts:
        if not part:
            continue
        group = _DAY_GROUPS.get(part.lower())
        if group is not None:
            days |= group
        elif "-" in part:
            first, _, last = part.partition("-")
            start, stop = _day(first, text), _day(last, text)
            days.update((start + n) % 7 for n in range((stop - start) % 7 + 1))
        else:
            days.add(_day(part, text))
    return frozenset(days)


# -- showing -----------------------------------------------------------------------


def days_text(days: frozenset[int]) -> str:
    """``every day``, ``Mon-Fri``, ``Mon, Wed, Fri``, ``Fri-Mon`` (runs of days joined)."""
    if days == ALL_DAYS:
        return "every day"
    if not days:
        return "no day"
    names = [d.capitalize() for d in _DAYS]
    # Start the walk right after a day that is off, so a run across Sunday stays whole.
    first = next(d for d in range(7) if (d - 1) % 7 not in days and d in days)
    runs: list[list[int]] = []
    for offset in range(7):
        day = (first + offset) % 7
        if day not in days:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) > 2:
            parts.append(f"{names[run[0]]}-{names[run[-1]]}")
        else:
            parts.extend(names[d] for d in run)
    return ", ".join(parts)


def period_text(quiet: QuietHours) -> str:
    """``22:00 to 07:00 (into the next day)``, or ``all day from 22:00``."""
    start, end = quiet.start.strftime("%H:%M"), quiet.end.strftime("%H:%M")
    if quiet.start == quiet.end:
        return f"a whole day from {start}"
    if quiet.end < quiet.start:
        return f"{start} to {end} (into the next day)"
    return f"{start} to {end}"


def _rows(quiet: QuietHours, now: dt.datetime) -> Sequence[tuple[str, str]]:
    when = f"{days_text(quiet.days)}, {period_text(quiet)}"
    if not quiet.enabled:
        if quiet == QuietHours():
            return [("quiet hours", "off (`tidings quiet-hours set` turns them on)")]
        return [
            ("quiet hours", "off (`tidings quiet-hours set` turns these on again)"),
            ("kept", f"{when}; {quiet.break_through.value} breaks through"),
        ]
    return [
        ("quiet hours", f"on: {when}"),
        (
            "break through",
            f"{quiet.break_through.value} and above still pop up; every event is still logged",
        ),
        ("right now", "quiet" if in_quiet_hours(quiet, now) else "not quiet"),
    ]


def _json(quiet: QuietHours, now: dt.datetime) -> dict[str, Any]:
    return {
        "enabled": quiet.enabled,
        "days": [_DAYS[d] for d in sorted(quiet.days)],
        "start": quiet.start.strftime("%H:%M"),
        "end": quiet.end.strftime("%H:%M"),
        "break_through": quiet.break_through.value,
        "quiet_now": in_quiet_hours(quiet, now),
    }


def _report(args: argparse.Namespace, quiet: QuietHours, headline: str = "") -> int:
    now = dt.datetime.now()
    if args.json:
        print_json(_json(quiet, now))
        return EXIT_OK
    if headline:
        print(headline)
    print_rows(_rows(quiet, now))
    return EXIT_OK


# -- commands ----------------------------------------------------------------------


@command
def _show(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    if settings.unsaveable:
        raise CommandFailedError(
            f"cannot tell the quiet hours: {context.paths.settings_file} has a problem to fix "
            f"first ({settings.unsaveable})"
        )
    return _report(args, settings.quiet_hours)


@command
def _set(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    ensure_saveable(context, settings)
    current = settings.quiet_hours
    changes: dict[str, Any] = {"enabled": True}
    if args.start is not None:
        changes["start"] = args.start
    if args.end is not None:
        changes["end"] = args.end
    if args.days is not None:
        changes["days"] = args.days
    if args.break_through is not None:
        changes["break_through"] = Urgency(args.break_through)
    quiet = replace(current, **changes)
    if not quiet.days:  # cannot happen from the options; a guard for the file's own value
        raise UsageError("--days: quiet hours need at least one day")
    if quiet == current and settings.kept_quiet_hours is None:
        return _report(args, quiet, "quiet hours unchanged:")
    context.save_settings(settings.with_quiet_hours(quiet))
    return _report(args, quiet, "quiet hours set:")


@command
def _off(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    ensure_saveable(context, settings)
    current = settings.quiet_hours
    quiet = replace(current, enabled=False)
    if quiet == current and settings.kept_quiet_hours is None:
        return _report(args, quiet, "quiet hours were already off:")
    context.save_settings(settings.with_quiet_hours(quiet))
    return _report(args, quiet, "quiet hours off:")
