"""``tidings run --headless``: every enabled feed through the hub, no GUI; events on stdout.

Useful on a server, and the second proof that the core needs no Qt. It holds
the profile's instance lock, keeps a log file (redacted like every output),
and follows the settings file: feeds added, edited, paused or removed with
``tidings feeds`` take effect within seconds, without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import webbrowser
from collections.abc import Sequence
from dataclasses import replace
from logging.handlers import RotatingFileHandler
from typing import IO

from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    ArgumentParser,
    Messages,
    StopSignals,
    positive_float,
    terminal_safe,
)
from tidings.cli._context import Context
from tidings.core.config import Settings
from tidings.core.errors import ConfigError
from tidings.core.history import HistoryStore, HistoryUnavailableError, Retention, StoredEvent
from tidings.core.hub import Hub
from tidings.core.instance import InstanceLock
from tidings.core.live import LiveSettings, keep_retention
from tidings.core.models import ConnectionState, Feed, FeedStatus, StopReason
from tidings.core.redact import RedactingFilter
from tidings.core.rules import muted
from tidings.core.wake import ResumeWatcher
from tidings.notify import Notifier, NotifierSink, NotifierState, build_notifier

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)

SETTINGS_POLL_SECONDS = 2.0


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings run`` to the command line."""
    parser = commands.add_parser(
        "run",
        help="run every feed (with --headless: no GUI, events on stdout)",
        description=(
            "Run every feed of the profile through the hub. With --headless there is no GUI: "
            "events go to stdout (JSON lines with --json), status to stderr, and a log file "
            "to the profile's state directory. Edits made with `tidings feeds` apply live."
        ),
    )
    parser.add_argument(
        "--headless", action="store_true", help="no GUI (required until the desktop app ships)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event per line")
    parser.add_argument(
        "--no-notify",
        action="store_true",
        help="no desktop notifications (by default each notification is also shown natively)",
    )
    # Hidden: how often the settings file is checked for edits (tests need it quick).
    parser.add_argument(
        "--settings-poll",
        type=positive_float,
        default=SETTINGS_POLL_SECONDS,
        help=argparse.SUPPRESS,
    )
    parser.set_defaults(handler=run)


class _Output(Messages):
    """Stored events to stdout, status changes to stderr."""

    def __init__(self, *, as_json: bool, out: IO[str]) -> None:
        super().__init__()
        self._as_json = as_json
        self._out = out
        self.closed = False
        self._last_state: dict[str, ConnectionState] = {}

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        if self.closed:
            return
        if self._as_json:
            text = "".join(
                json.dumps(
                    {
                        "feed": feed.id,
                        "feed_name": feed.name,
                        "event": e.type,
                        "data": e.data,
                        "id": e.event_id,
                        "received_at": e.received_at,
                        # What a person would be shown, after the preset and the rules.
                        "notification": None
                        if e.notification is None
                        else e.notification.to_json(),
                        "reason": e.reason,
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for e in events
            )
        else:
            text = "".join(self._human(feed, e) for e in events)
        try:
            self._out.write(text)
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self.closed = True

    @staticmethod
    def _human(feed: Feed, event: StoredEvent) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.received_at))
        ident = f"  #{event.event_id}" if event.event_id else ""
        body = "".join(f"    {line}\n" for line in terminal_safe(event.data).split("\n"))
        return terminal_safe(f"{stamp}  [{feed.name}]  {event.type}{ident}") + f"\n{body}"

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        state = status.state
        previous = self._last_state.get(feed.id)
        self._last_state[feed.id] = state
        name = f"[{feed.name}]"
        if state is ConnectionState.OPEN:
            self.say(f"{name} connected")
        elif state is ConnectionState.RETRYING:
            self.say(f"{name} {status.message}; retrying in {status.delay or 0:.1f} s")
        elif state is ConnectionState.STOPPED and status.stop_reason is not StopReason.CLOSED:
            self.say(f"{name} stopped: {status.message}")
        elif state is ConnectionState.PAUSED and previous is not ConnectionState.PAUSED:
            self.say(f"{name} paused")


def run(args: argparse.Namespace) -> int:
    """Run the hub until Ctrl-C or SIGTERM; return the exit code."""
    messages = Messages()
    if not args.headless:
        messages.error(
            "`tidings run` needs --headless (no window, no tray); the desktop app starts "
            "with `tidings` alone"
        )
        return EXIT_FAILURE
    context = Context.from_args(args)
    lock = InstanceLock(context.paths.lock_file)
    if not lock.acquire():
        holder = lock.holder()
        who = f" (pid {holder})" if holder else ""
        messages.error(
            f"Tidings is already running with this profile{who}; stop it first, or use "
            "--profile-dir for a separate profile"
        )
        return EXIT_FAILURE
    try:
        _log_to_file(context)
        output = _Output(as_json=args.json, out=sys.stdout)
        try:
            return asyncio.run(
                _run(context, output, poll=args.settings_poll, notify=not args.no_notify)
            )
        except KeyboardInterrupt:
            return EXIT_SIGINT
        except HistoryUnavailableError as exc:
            # Without a history nothing can be stored, so no event may be acknowledged.
            messages.error(f"{exc}; no feed was started")
            return EXIT_FAILURE
    finally:
        lock.release()


def _log_to_file(context: Context) -> None:
    log_dir = context.paths.log_dir
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            log_dir / "tidings.log", maxBytes=1024 * 1024, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        Messages().say(f"cannot write a log file in {log_dir} ({exc.strerror}): stderr only")
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(context.known))
    logging.getLogger().addHandler(handler)


class _HeadlessActions:
    """What a click on a notification does without a GUI (the ActionHandler of ``run``)."""

    def __init__(self, *, hub: Hub, store: HistoryStore, live: LiveSettings, say: Messages) -> None:
        self._hub = hub
        self._store = store
        self._live = live
        self._messages = say

    def open_url(self, url: str) -> None:
        # webbrowser may start a process: off the loop.
        asyncio.get_running_loop().run_in_executor(None, webbrowser.open, url)

    def open_event(self, feed_id: str, rowid: int | None) -> None:
        feed = self._hub.feed(feed_id)
        name = feed.name if feed is not None else feed_id
        where = f" (event {rowid})" if rowid is not None else ""
        self._messages.say(f"[{name}] notification clicked{where}: see `tidings history tail`")

    async def mute_feed(self, feed_id: str, seconds: float) -> None:
        until = time.time() + seconds

        def change(settings: Settings) -> Settings:
            feed = settings.feed(feed_id)
            if feed is None:
                return settings
            return settings.with_feed(replace(feed, rules=muted(feed.rules, until)))

        try:
            await self._live.change(change)  # saved, so a reload does not undo it
        except ConfigError as exc:
            logger.warning(
                "muting %s in the settings failed (%s): muted until restart", feed_id, exc
            )
            await self._hub.mute(feed_id, until)
        feed = self._hub.feed(feed_id)
        self._messages.say(f"[{feed.name if feed else feed_id}] muted for {seconds / 3600:g} h")

    async def mark_read(self, rowid: int) -> None:
        await self._store.mark_read([rowid])


async def _run(context: Context, output: _Output, *, poll: float, notify: bool = True) -> int:
    stop = asyncio.Event()
    signals = StopSignals(stop.set)

    async with context.history() as store:
        hub = Hub(
            store=store, secrets=context.secrets(), sinks=[output], known_secrets=context.known
        )
        retention: list[Retention] = []
        sinks: list[NotifierSink] = []
        rebuilds: set[asyncio.Future[None]] = set()

        def reloaded(fresh: Settings) -> None:
            retention[0] = fresh.retention()
            for sink in sinks:
                if fresh.app.notifications != sink.app_settings.notifications:
                    # On or off: another notifier (the native one, or the null one).
                    job = asyncio.ensure_future(sink.replace_notifier(_notifier(fresh, handler)))
                    rebuilds.add(job)
                    job.add_done_callback(rebuilds.discard)
                sink.set_app_settings(fresh.app)

        live = LiveSettings(context.paths.settings_file, hub, say=output.say, on_reload=reloaded)
        handler = _HeadlessActions(hub=hub, store=store, live=live, say=output)
        retention.append(live.current.retention())
        live.report_problems()
        if notify:
            sinks.append(await _notifier_sink(hub, live, handler, output))
        await live.start()
        current = live.current
        if not current.feeds and (current.unsaveable or current.kept_feeds):
            # Not "no feeds yet": the file has feeds, and `feeds add` would be refused.
            output.say(
                f"no feed runs until {context.paths.settings_file} is fixed (the problems "
                "are named above); a fixed file applies live, nothing in it was changed"
            )
        elif not current.feeds:
            output.say("no feeds yet: add one with `tidings feeds add NAME URL` (applies live)")
        else:
            output.say(f"running {len(live.current.feeds)} feed(s); Ctrl-C to stop")
        watcher = asyncio.create_task(live.follow(poll))
        pruner = asyncio.create_task(keep_retention(store, lambda: retention[0]))
        resume = ResumeWatcher(hub=hub)  # after a suspend, every feed reconnects at once
        resume.start()
        try:
            await stop.wait()
        finally:
            await resume.stop()
            for job in (watcher, pruner):
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            await hub.stop()
            for sink in sinks:
                await sink.close()
    return signals.exit_code if signals.exit_code is not None else EXIT_OK


def _notifier(settings: Settings, handler: _HeadlessActions) -> Notifier:
    """Native notifications only: there is no tray without a GUI."""
    return build_notifier(replace(settings.app, notifier="native"), handler=handler)


async def _notifier_sink(
    hub: Hub, live: LiveSettings, handler: _HeadlessActions, output: Messages
) -> NotifierSink:
    """The notifier sink, registered with the hub; says on stderr what shows notifications."""
    app = live.current.app
    notifier = _notifier(live.current, handler)
    sink = NotifierSink(
        notifier=notifier, app=app, feed_exists=lambda feed_id: hub.feed(feed_id) is not None
    )
    await sink.start()
    if notifier.state is NotifierState.OK:
        output.say(f"notifications: {notifier.name}")
    elif notifier.state is NotifierState.OFF:
        output.say("notifications: off in the settings ([app] notifications = false)")
    # A notifier that failed has said so once in the log (stderr), with the reason.
    hub.add_sink(sink)
    return sink
