"""``tidings history``: tail, search, export, clear, mark read, unread counts and prune the log.

Reading commands never create the history file; they open the one that the
running Tidings writes (SQLite WAL lets both work at once). Plain text for
people, ``--json`` (one object per line) for scripts; status on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, TypeVar

from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    ArgumentParser,
    CommandFailedError,
    StopSignals,
    positive_float,
    positive_int,
    quiet_closed_stdout,
    terminal_safe,
)
from tidings.cli._context import Context
from tidings.core.config import Settings
from tidings.core.history import (
    HistoryFilter,
    HistoryStore,
    StoredEvent,
    csv_header,
    event_to_json,
)
from tidings.core.notification import Urgency

__all__ = ["parse_when", "register"]

T = TypeVar("T")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, now: float | None = None) -> float:
    """``2h``, ``30m``, ``7d`` ago, or an ISO 8601 date or time (local time unless it says)."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        base = time.time() if now is None else now
        return base - float(match[1]) * _UNIT[match[2]]
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a time ago (30m, 2h, 7d) nor an ISO date (2024-05-01T10:00)"
        ) from None
    return when.timestamp()  # naive: local time


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings history ...`` to the command line."""
    history = commands.add_parser(
        "history",
        help="read, search, export and clear the stored events",
        description="The events Tidings stored, with what was shown for each (or why not).",
    )
    actions = history.add_subparsers(
        dest="history_command", metavar="ACTION", parser_class=ArgumentParser, required=True
    )

    tail = actions.add_parser(
        "tail", help="the newest events", description="Print the newest events, oldest first."
    )
    tail.add_argument("feed", nargs="?", metavar="FEED", help="only this feed (id or name)")
    tail.add_argument("-n", "--lines", type=positive_int, default=20, help="how many (20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument("--unread", action="store_true", help="only unread events")
    tail.add_argument("--json", action="store_true", help="one JSON object per event per line")
    tail.add_argument(
        "--interval", type=positive_float, default=0.5, help=argparse.SUPPRESS
    )  # how often --follow looks
    tail.set_defaults(handler=_sync(_tail))

    search = actions.add_parser(
        "search",
        help="full-text search over title, body and data",
        description="Find events whose title, body or data contain every word of QUERY "
        "(a trailing * matches a prefix). Newest first unless --relevance.",
    )
    search.add_argument("query", metavar="QUERY")
    _filters(search)
    search.add_argument("-n", "--limit", type=positive_int, default=50, help="how many (50)")
    search.add_argument("--relevance", action="store_true", help="best matches first")
    search.add_argument("--fts", action="store_true", help="QUERY is FTS5 syntax (OR, NEAR...)")
    search.add_argument("--json", action="store_true", help="one JSON object per event per line")
    search.set_defaults(handler=_sync(_search))

    export = actions.add_parser(
        "export",
        help="write a selection to JSON Lines or CSV",
        description="Write the selected events, oldest first, as JSON Lines (exact) or CSV. "
        "CSV cells that a spreadsheet would run as a formula get a leading ' unless --raw-csv.",
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument("--query", default="", help="only events matching these words")
    export.add_argument("--fts", action="store_true", help="--query is FTS5 syntax")
    export.add_argument("--raw-csv", action="store_true", help="no formula guard in CSV")
    _filters(export)
    export.set_defaults(handler=_sync(_export))

    clear = actions.add_parser(
        "clear",
        help="delete stored events of a feed or all",
        description="Delete stored events. Resume cursors stay, so no feed replays its "
        "server's backlog. Asks first on a terminal unless --yes.",
    )
    clear.add_argument("feed", nargs="?", metavar="FEED", help="the feed (id or name)")
    clear.add_argument("--all", action="store_true", help="every feed's events")
    clear.add_argument("-y", "--yes", action="store_true", help="do not ask")
    clear.add_argument("--json", action="store_true", help="print the count as JSON")
    clear.set_defaults(handler=_sync(_clear))

    mark = actions.add_parser("mark-read", help="mark events read", description="Mark events read.")
    mark.add_argument("feed", nargs="?", metavar="FEED", help="every event of this feed")
    mark.add_argument("--all", action="store_true", help="every event")
    mark.add_argument(
        "--id",
        type=int,
        action="append",
        default=[],
        metavar="ROWID",
        help="one event by its rowid (repeatable)",
    )
    mark.add_argument("--json", action="store_true", help="print the count as JSON")
    mark.set_defaults(handler=_sync(_mark_read))

    unread = actions.add_parser(
        "unread", help="events and unread events per feed", description="Counts per feed."
    )
    unread.add_argument("--json", action="store_true", help="one JSON document")
    unread.set_defaults(handler=_sync(_unread))

    prune = actions.add_parser(
        "prune",
        help="apply retention now",
        description="Delete events beyond the retention limits of the settings file: its "
        "[history] table and each feed's [feeds.retention] (default: older than 30 days, "
        "or beyond the newest 100,000 of a feed). The options below replace the [history] "
        "limits for this run; a feed's own limits still apply to it.",
    )
    prune.add_argument(
        "--days", type=positive_float, default=None, help="keep this many days (all feeds)"
    )
    prune.add_argument(
        "--max-per-feed", type=positive_int, default=None, help="keep this many per feed"
    )
    prune.add_argument(
        "--max-total", type=positive_int, default=None, help="keep this many over all feeds"
    )
    prune.add_argument("--json", action="store_true", help="print the count as JSON")
    prune.set_defaults(handler=_sync(_prune))


def _filters(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="FEED",
        help="only this feed (id or name; repeatable)",
    )
    parser.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="TYPE",
        help="only this event type (repeatable)",
    )
    parser.add_argument(
        "--urgency",
        choices=[u.value for u in Urgency],
        help="only shown notifications of at least this urgency",
    )
    parser.add_argument("--unread", action="store_true", help="only unread events")
    parser.add_argument("--since", type=parse_when, metavar="WHEN", help="30m, 2h, 7d or a date")
    parser.add_argument("--until", type=parse_when, metavar="WHEN", help="30m, 2h, 7d or a date")


# -- running ------------------------------------------------------------------------


Handler = Callable[[argparse.Namespace, Context, Settings], Coroutine[Any, Any, int]]


def _sync(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        context = Context.from_args(args)
        settings = context.load_settings()
        try:
            return asyncio.run(handler(args, context, settings))
        except CommandFailedError as exc:
            context.messages.error(str(exc))
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                quiet_closed_stdout()  # `| head` closed stdout: end quietly
                return EXIT_OK
            context.messages.error(f"history {context.paths.history_db}: {exc}")
        except KeyboardInterrupt:
            return 130
        return EXIT_FAILURE

    return run


def _feed_id(settings: Settings, ref: str) -> str:
    """A feed's id from its id or exact name; an unknown id passes (removed feeds' history)."""
    if settings.feed(ref) is not None:
        return ref
    named = [f.id for f in settings.feeds if f.name == ref]
    if len(named) > 1:
        raise CommandFailedError(
            f"{len(named)} feeds are named {ref!r} ({', '.join(named)}): use an id"
        )
    return named[0] if named else ref


def _filter(args: argparse.Namespace, settings: Settings, query: str = "") -> HistoryFilter:
    return HistoryFilter(
        feeds=tuple(_feed_id(settings, f) for f in args.feed),
        types=tuple(args.type),
        min_urgency=Urgency(args.urgency) if args.urgency else None,
        since=args.since,
        until=args.until,
        unread_only=args.unread,
        query=query,
        raw_query=bool(getattr(args, "fts", False)),
    )


class _Printer:
    def __init__(self, settings: Settings, *, as_json: bool, out: IO[str]) -> None:
        self._names = {f.id: f.name for f in settings.feeds}
        self._json = as_json
        self._out = out

    def rows(self, rows: list[StoredEvent]) -> None:
        self._out.write("".join(self._one(r) for r in rows))
        self._out.flush()

    def _one(self, event: StoredEvent) -> str:
        name = self._names.get(event.feed_id, event.feed_id)
        if self._json:
            value = event_to_json(event)
            value["feed_name"] = name
            return json.dumps(value, ensure_ascii=False) + "\n"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.received_at))
        ident = f"  #{event.event_id}" if event.event_id else ""
        mark = "" if event.read else "  *"
        n = event.notification
        shown = f"  -> {n.title} ({n.urgency.value})" if n else f"  ({event.reason})"
        body = "".join(f"    {line}\n" for line in terminal_safe(event.data).split("\n"))
        head = f"{stamp}  [{name}]  {event.type}{ident}{mark}{shown}  @{event.rowid}"
        return terminal_safe(head) + f"\n{body}"


async def _tail(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    printer = _Printer(settings, as_json=args.json, out=sys.stdout)
    flt = HistoryFilter(
        feeds=(_feed_id(settings, args.feed),) if args.feed else (), unread_only=args.unread
    )
    if not context.history_exists() and not args.follow:
        context.messages.say("no history yet")
        return EXIT_OK
    stop = asyncio.Event()
    signals = StopSignals(stop.set)
    while not context.history_exists():  # --follow before the first event was ever stored
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.interval)
        if stop.is_set():
            return signals.exit_code or EXIT_OK
    async with HistoryStore(context.paths.history_db) as store:
        page = await store.page(flt, limit=args.lines)
        rows = list(reversed(page.rows))
        printer.rows(rows)
        if not args.follow:
            return EXIT_OK
        after = rows[-1].key if rows else (0.0, 0)
        while not stop.is_set():
            fresh = await store.newer(flt, after=after, limit=500)
            if fresh.rows:
                printer.rows(fresh.rows)
                after = fresh.rows[-1].key
            if fresh.next_key is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.interval)
    return signals.exit_code or EXIT_OK


async def _search(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    flt = _filter(args, settings)
    if not args.fts and not args.query.split():
        raise CommandFailedError("the search has no words")
    if not context.history_exists():
        context.messages.say("no history yet")
        return EXIT_OK
    async with HistoryStore(context.paths.history_db) as store:
        try:
            page = await store.search(
                args.query, flt, order="relevance" if args.relevance else "newest", limit=args.limit
            )
            total = await store.count(HistoryFilter(**{**_fields(flt), "query": args.query}))
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc) or "syntax" in str(exc):
                raise CommandFailedError(f"the query is not valid FTS5 syntax: {exc}") from None
            raise
    _Printer(settings, as_json=args.json, out=sys.stdout).rows(page.rows)
    if not args.json:
        context.messages.say(f"{len(page.rows)} of {total} match(es) shown")
    return EXIT_OK


def _fields(flt: HistoryFilter) -> dict[str, Any]:
    return {name: getattr(flt, name) for name in HistoryFilter.__dataclass_fields__}


async def _export(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    flt = _filter(args, settings, args.query)
    if not context.history_exists():
        context.messages.say("no history yet: nothing exported")
        if args.output is None:
            return EXIT_OK
    target = Path(args.output) if args.output else None
    partial = target.with_name(target.name + ".part") if target else None
    out: IO[str]
    if partial is not None:
        out = partial.open("w", encoding="utf-8", newline="")
    else:
        out = sys.stdout
        if args.format == "csv" and isinstance(out, io.TextIOWrapper):
            out.reconfigure(newline="")  # the CSV writer's own CRLF, untranslated
    try:
        count = 0
        if context.history_exists():
            async with HistoryStore(context.paths.history_db) as store:
                count = await store.export(
                    out, flt, fmt=args.format, csv_formula_guard=not args.raw_csv
                )
        elif args.format == "csv":
            csv.writer(out).writerow(csv_header())
    except BaseException:
        if partial is not None:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    if partial is not None and target is not None:
        out.close()
        partial.replace(target)
        context.messages.say(f"exported {count} event(s) to {target}")
    return EXIT_OK


def _confirm(context: Context, what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandFailedError(f"not deleting {what} without confirmation: pass --yes")
    answer = input(f"Delete {what}? This cannot be undone. [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandFailedError("nothing deleted")


def _report(args: argparse.Namespace, key: str, count: int, text: str) -> int:
    if args.json:
        print(json.dumps({key: count}))
    else:
        print(text)
    return EXIT_OK


async def _clear(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    if bool(args.feed) == bool(args.all):
        raise CommandFailedError("name a FEED or pass --all")
    feed_id = _feed_id(settings, args.feed) if args.feed else None
    _confirm(
        context,
        f"the stored events of {args.feed!r}" if feed_id else "every stored event",
        args.yes,
    )
    count = 0
    if context.history_exists():
        async with HistoryStore(context.paths.history_db) as store:
            count = await (store.clear_feed(feed_id) if feed_id else store.clear_all())
    return _report(args, "deleted", count, f"deleted {count} event(s)")


async def _mark_read(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    chosen = sum((bool(args.feed), bool(args.all), bool(args.id)))
    if chosen != 1:
        raise CommandFailedError("name a FEED, --all, or --id ROWID")
    count = 0
    if context.history_exists():
        async with HistoryStore(context.paths.history_db) as store:
            if args.id:
                count = await store.mark_read(args.id)
            elif args.all:
                count = await store.mark_all_read()
            else:
                count = await store.mark_feed_read(_feed_id(settings, args.feed))
    return _report(args, "marked", count, f"marked {count} event(s) read")


async def _unread(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    counts = {}
    if context.history_exists():
        async with HistoryStore(context.paths.history_db) as store:
            counts = await store.counts()
    names = {f.id: f.name for f in settings.feeds}
    if args.json:
        print(
            json.dumps(
                {
                    "feeds": [
                        {
                            "feed": f,
                            "feed_name": names.get(f, f),
                            "total": c.total,
                            "unread": c.unread,
                        }
                        for f, c in counts.items()
                    ]
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    for feed_id, c in counts.items():
        print(f"{c.unread:>8} unread {c.total:>9} total  {names.get(feed_id, feed_id)}")
    if not counts:
        context.messages.say("no events stored")
    return EXIT_OK


async def _prune(args: argparse.Namespace, context: Context, settings: Settings) -> int:
    count = 0
    if context.history_exists():
        limits = settings.history_retention
        if args.days is not None:
            limits = replace(limits, max_age_days=args.days)
        if args.max_per_feed is not None:
            limits = replace(limits, max_events_per_feed=args.max_per_feed)
        if args.max_total is not None:
            limits = replace(limits, max_events_total=args.max_total)
        # Built after the overrides: a limit a feed leaves unset follows them.
        retention = settings.with_history_retention(limits).retention()
        async with HistoryStore(context.paths.history_db) as store:
            count = await store.apply_retention(retention)
    return _report(args, "deleted", count, f"deleted {count} event(s) beyond retention")
