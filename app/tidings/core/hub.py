"""The hub: runs every feed as a task and moves each event from the wire to the store and sinks.

Each feed has its own :class:`~tidings.core.sse.EventSource` (its own HTTP
connection), its own status, and can be added, removed, edited, paused,
resumed or reconnected while the others keep running. Every batch of events
is stored with the feed's resume cursor in one transaction before any sink
sees it; a restart resumes from that cursor.

Between the store and the sinks, the feed's rules (:mod:`tidings.core.rules`)
decide what pops up: each :class:`StoredEvent` reaches the sinks with
``notification`` set to what is to be shown (``None`` when nothing is) and
``reason`` saying why not. Every event still reaches every sink (the log).
Flood and backlog summaries reach sinks that have a ``summary_updated``
method (:class:`SummarySink`), once per batch and replace key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import httpx
import truststore

from tidings.core.auth import FeedAuth
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import CredentialsError, SecretStoreError, TidingsError
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.models import (
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedRules,
    FeedStatus,
    QuietHours,
    StopReason,
)
from tidings.core.notification import Notification
from tidings.core.presets import MapContext, Mapped, Preset, get_preset
from tidings.core.redact import KnownSecrets, redact_url
from tidings.core.rules import (
    Candidate,
    FeedRuleState,
    Reason,
    RuleContext,
    RuleLimits,
    muted,
    unmuted,
)
from tidings.core.secrets import SecretStore
from tidings.core.sse import EventSource

__all__ = ["STABLE_ID_PRESETS", "Hub", "HubSink", "SummarySink", "ssl_context_for"]

logger = logging.getLogger(__name__)

# Presets whose servers keep ids stable across connections (SSE.md section 5):
# only their own-block ids may de-duplicate a replay.
STABLE_ID_PRESETS = frozenset({"ntfy", "mercure", "eventstreams"})

HALT_TIMEOUT = 10.0
"""The longest the hub waits for one feed's task to end when stopping or restarting it."""
RECORD_GRACE = 5.0
"""When a feed is stopped while its batch is being committed, how long to wait for the commit."""


class HubSink(Protocol):
    """Receives what the hub produces: stored events and status changes."""

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None: ...

    def status_changed(self, feed: Feed, status: FeedStatus) -> None: ...


class SummarySink(HubSink, Protocol):
    """A sink that also shows summaries; the hub calls ``summary_updated`` only where it exists.

    ``notification`` is a flood summary ("37 more from CI", replace key
    ``flood:<feed id>``) or a backlog summary ("12 events from CI while you
    were away", ``backlog:<feed id>``): show it, or update the one shown with
    the same replace key in place. It is called after ``events_stored`` for
    the batch that changed it.
    """

    def summary_updated(self, feed: Feed, notification: Notification) -> None: ...


def ssl_context_for(feed: Feed) -> ssl.SSLContext | bool:
    """The OS trust store (plus the feed's CA file), or no verification when the user chose so."""
    if not feed.tls.verify:
        return False
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if feed.tls.ca_file:
        context.load_verify_locations(cafile=feed.tls.ca_file)
    return context


class _SSLContexts:
    """One SSL context per trust configuration, shared by every feed that uses it.

    A context holds its own copy of the trust store once it has verified a
    server, so one per feed would cost memory in proportion to the feeds. A
    CA file is keyed by its path and modification time: editing it takes
    effect at the next connect.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], ssl.SSLContext] = {}

    def get(self, feed: Feed) -> ssl.SSLContext | bool:
        if not feed.tls.verify:
            return False
        ca_file = feed.tls.ca_file
        key = ("", 0, 0)
        if ca_file:
            st = Path(ca_file).stat()  # raises OSError for a missing file, as loading would
            key = (ca_file, st.st_mtime_ns, st.st_size)
        context = self._cache.get(key)
        if context is None:
            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if ca_file:
                context.load_verify_locations(cafile=ca_file)
            # An older version of the same CA file is no longer needed.
            self._cache = {k: v for k, v in self._cache.items() if k[0] != ca_file}
            self._cache[key] = context
        return context


class _Runner:
    """One feed's task and connection.

    Control calls on one feed (update, pause, resume, reconnect, remove) take
    its lock, so two of them never interleave and leave a second task running.
    """

    def __init__(self, feed: Feed, limits: RuleLimits) -> None:
        self.feed = feed
        self.rules = FeedRuleState(limits)
        """Flood and backlog state: lives as long as the feed is in the hub."""
        self.firehose = False
        """Whether the feed's preset is a firehose (set when its task starts)."""
        self.task: asyncio.Task[None] | None = None
        self.source: EventSource | None = None
        self.lock = asyncio.Lock()
        self.removed = False
        # Short jobs started from status callbacks (gap entries); kept so they are not lost.
        self.side_tasks: set[asyncio.Future[None]] = set()

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class Hub:
    """Runs feeds. Build it in a composition root; ``await hub.stop()`` before the loop ends.

    ``await hub.start(feeds)`` (or :meth:`add` per feed) starts them; every
    control call affects one feed (or, for the ``*_all`` ones, each feed on
    its own) and leaves the others' connections alone. Used as an async
    context manager, the hub stops on exit.
    """

    def __init__(
        self,
        *,
        store: HistoryStore,
        secrets: SecretStore,
        sinks: Sequence[HubSink] = (),
        policy: ConnectionPolicy | None = None,
        known_secrets: KnownSecrets | None = None,
        transport_factory: Callable[[Feed], httpx.AsyncBaseTransport | None] | None = None,
        quiet_hours: QuietHours | None = None,
        rule_limits: RuleLimits | None = None,
        clock: Callable[[], float] = time.time,
        tz: dt.tzinfo | None = None,
    ) -> None:
        """``clock`` (wall-clock seconds) and ``tz`` (``None``: the system's local time) are
        what the rules see: mute expiry, quiet hours, the flood and backlog windows."""
        self._store = store
        self._secrets = secrets
        self._sinks = list(sinks)
        self._policy = policy or ConnectionPolicy()
        self._known = known_secrets
        self._transport_factory = transport_factory
        self._runners: dict[str, _Runner] = {}
        self._ssl = _SSLContexts()
        self.statuses: dict[str, FeedStatus] = {}
        self._quiet = quiet_hours or QuietHours()
        self._limits = rule_limits or RuleLimits()
        self._clock = clock
        self._tz = tz

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- feeds ----------------------------------------------------------------------

    @property
    def feeds(self) -> list[Feed]:
        return [r.feed for r in self._runners.values()]

    def feed(self, feed_id: str) -> Feed | None:
        runner = self._runners.get(feed_id)
        return None if runner is None else runner.feed

    def add_sink(self, sink: HubSink) -> None:
        self._sinks.append(sink)

    async def start(self, feeds: Iterable[Feed]) -> None:
        """Add and start every feed (paused ones only show as paused): the CLI's and GUI's entry."""
        for feed in feeds:
            self.add(feed)

    def add(self, feed: Feed) -> None:
        """Start running a feed (unless it is paused)."""
        if feed.id in self._runners:
            raise ValueError(f"feed {feed.id} is already in the hub")
        runner = _Runner(feed, self._limits)
        self._runners[feed.id] = runner
        self._start_or_park(runner)

    async def remove(self, feed_id: str) -> None:
        """Stop a feed and forget it (its history stays until the caller deletes it)."""
        runner = self._runners.pop(feed_id, None)
        if runner is None:
            return
        runner.removed = True
        async with runner.lock:
            await self._halt(runner)
        if feed_id not in self._runners:  # not re-added meanwhile
            self.statuses.pop(feed_id, None)

    async def update(self, feed: Feed) -> None:
        """Replace a feed's settings; its connection restarts with them (the cursor is kept).

        An unchanged running (or paused) feed is left alone; an unchanged feed
        that had stopped (for credentials, say) connects again.
        """
        if feed.id not in self._runners:
            self.add(feed)
            return
        await self._change(feed.id, lambda _old: feed)

    async def pause(self, feed_id: str) -> None:
        """Close the feed's connection and keep it closed (state PAUSED) until resumed."""
        await self._change(feed_id, lambda old: old if old.paused else replace(old, paused=True))

    async def resume(self, feed_id: str) -> None:
        """Connect a paused feed again (from its stored cursor); a running feed is left alone."""
        await self._change(feed_id, lambda old: replace(old, paused=False) if old.paused else old)

    async def reconnect(self, feed_id: str) -> None:
        """Drop the feed's connection and connect again now (also after a stop for credentials)."""
        runner = self._runners[feed_id]
        async with runner.lock:
            if runner.removed or runner.feed.paused:
                return
            await self._halt(runner)
            self._start_or_park(runner)

    async def pause_all(self) -> None:
        await asyncio.gather(*(self.pause(feed_id) for feed_id in list(self._runners)))

    async def resume_all(self) -> None:
        await asyncio.gather(*(self.resume(feed_id) for feed_id in list(self._runners)))

    async def reconnect_all(self) -> None:
        await asyncio.gather(*(self.reconnect(feed_id) for feed_id in list(self._runners)))

    # -- rules --------------------------------------------------------------------------

    @property
    def quiet_hours(self) -> QuietHours:
        return self._quiet

    def set_quiet_hours(self, quiet_hours: QuietHours) -> None:
        """New quiet hours for every feed, from the next event on (the caller persists them)."""
        self._quiet = quiet_hours

    @property
    def rule_limits(self) -> RuleLimits:
        return self._limits

    def set_rule_limits(self, limits: RuleLimits) -> None:
        """New flood and backlog limits for every feed, from the next event on (the caller
        persists them); what each feed's flood window already counted is kept."""
        self._limits = limits
        for runner in self._runners.values():
            runner.rules.limits = limits

    async def set_rules(self, feed_id: str, rules: FeedRules) -> Feed:
        """Replace a feed's rules, from its next event on, without touching its connection.

        Returns the updated feed for the caller to persist (``Settings.with_feed``).
        ``KeyError`` for a feed that is not in the hub.
        """
        return await self._change_rules(feed_id, lambda _old: rules)

    async def mute(self, feed_id: str, until: float | None = None) -> Feed:
        """Mute a feed until ``until`` (a ``time.time()`` value), or until unmuted when ``None``.

        Events are still stored and reach the sinks (with reason ``muted``).
        Returns the updated feed for the caller to persist.
        """
        return await self._change_rules(feed_id, lambda old: muted(old, until))

    async def unmute(self, feed_id: str) -> Feed:
        """End a feed's mute; returns the updated feed for the caller to persist."""
        return await self._change_rules(feed_id, unmuted)

    async def _change_rules(self, feed_id: str, change: Callable[[FeedRules], FeedRules]) -> Feed:
        runner = self._runners[feed_id]
        async with runner.lock:  # after any restart in progress, so that it cannot undo this
            runner.feed = replace(runner.feed, rules=change(runner.feed.rules))
            return runner.feed

    # -- connections ------------------------------------------------------------------

    def wake_all(self) -> None:
        """Skip every pending reconnection wait (the network came back, the system resumed)."""
        for runner in self._runners.values():
            if runner.source is not None:
                runner.source.reconnect_now()

    async def stop(self) -> None:
        """Close every connection and wait for the tasks to end; each feed ends STOPPED (closed)."""

        async def stop_one(runner: _Runner) -> None:
            async with runner.lock:
                await self._halt(runner)
                status = self.statuses.get(runner.feed.id)
                if status is None or status.state not in (
                    ConnectionState.STOPPED,
                    ConnectionState.PAUSED,
                ):
                    self._set_status(
                        runner,
                        FeedStatus(
                            state=ConnectionState.STOPPED,
                            url=redact_url(runner.feed.url),
                            message="closed",
                            stop_reason=StopReason.CLOSED,
                        ),
                    )

        await asyncio.gather(*(stop_one(r) for r in list(self._runners.values())))

    # -- running ----------------------------------------------------------------------

    async def _change(self, feed_id: str, change: Callable[[Feed], Feed]) -> None:
        """Apply ``change`` to the feed's current settings under its lock; restart if needed."""
        runner = self._runners[feed_id]
        async with runner.lock:
            if runner.removed:
                return
            feed = change(runner.feed)
            same_connection = (
                replace(feed, rules=runner.feed.rules, retention=runner.feed.retention)
                == runner.feed
            )
            if same_connection and (runner.running or feed.paused):
                runner.feed = feed  # unchanged, or only rules or retention: the connection stays
                return
            await self._halt(runner)
            runner.feed = feed
            self._start_or_park(runner)

    def _start_or_park(self, runner: _Runner) -> None:
        feed = runner.feed
        if feed.paused:
            self._set_status(
                runner, FeedStatus(state=ConnectionState.PAUSED, url=redact_url(feed.url))
            )
            return
        # Every feed has a status from the start, before its task first runs.
        self._set_status(
            runner, FeedStatus(state=ConnectionState.CONNECTING, url=redact_url(feed.url))
        )
        runner.task = asyncio.create_task(self._run(runner, feed), name=f"tidings-feed-{feed.id}")

    async def _halt(self, runner: _Runner) -> None:
        """End the runner's task (closing its connection) and wait for it, bounded."""
        task, runner.task = runner.task, None
        source, runner.source = runner.source, None
        if task is None or task.done():
            return
        if source is not None:
            source.close()  # cancels the task it runs in, and ends with status STOPPED (closed)
        if not task.cancelling():
            task.cancel()
        # asyncio.wait neither raises the task's outcome nor cancels it if *we* are cancelled.
        done, _ = await asyncio.wait({task}, timeout=HALT_TIMEOUT)
        if not done:
            logger.warning("feed %s did not stop within %g s", runner.feed.id, HALT_TIMEOUT)

    def _set_status(self, runner: _Runner, status: FeedStatus) -> None:
        feed = runner.feed
        if self._runners.get(feed.id) is not runner:
            return  # a removed feed's last words
        self.statuses[feed.id] = status
        for sink in self._sinks:
            try:
                sink.status_changed(feed, status)
            except Exception:
                logger.exception("a status sink failed")

    def _deliver(
        self,
        runner: _Runner,
        stored: Sequence[StoredEvent],
        mapped: Sequence[Mapped],
        *,
        arrived: float,
    ) -> None:
        """Apply the rules to a stored batch, then hand it (and any summaries) to the sinks."""
        if not stored:
            return
        feed = runner.feed  # the current settings: a mute applies from the next event on
        events, summaries = self._decide(runner, stored, mapped, now=arrived)
        for sink in self._sinks:
            try:
                sink.events_stored(feed, events)
            except Exception:
                logger.exception("an event sink failed")
        for summary in summaries:
            for sink in self._sinks:
                summary_updated = getattr(sink, "summary_updated", None)
                if summary_updated is None:
                    continue
                try:
                    summary_updated(feed, summary)
                except Exception:
                    logger.exception("a summary sink failed")

    def _decide(
        self,
        runner: _Runner,
        stored: Sequence[StoredEvent],
        mapped: Sequence[Mapped],
        *,
        now: float,
    ) -> tuple[list[StoredEvent], list[Notification]]:
        """Each stored event with its decision, and the summaries that changed (last wins)."""
        preset = [
            mapped[s.batch_index] if 0 <= s.batch_index < len(mapped) else None for s in stored
        ]
        candidates = [
            Candidate(
                event_type=s.type,
                data=s.data,
                notification=m.notification if m is not None else s.notification,
            )
            for s, m in zip(stored, preset, strict=True)
        ]
        context = RuleContext.for_feed(
            runner.feed, firehose=runner.firehose, quiet_hours=self._quiet
        )
        try:
            decisions = runner.rules.decide(candidates, context, now=now, tz=self._tz)
        except Exception:
            # A bug in the rules must not cost the log: every event still reaches the sinks.
            logger.exception("feed %s: the rules failed on a batch", runner.feed.id)
            failed = [replace(s, notification=None, reason="error") for s in stored]
            self._store.save_decisions(failed)  # queued behind the batch's commit
            return failed, []
        events: list[StoredEvent] = []
        summaries: dict[str, Notification] = {}
        for s, m, decision in zip(stored, preset, decisions, strict=True):
            reason = "" if decision.reason is None else decision.reason.value
            if decision.reason is Reason.NO_NOTIFICATION and m is not None and m.reason:
                reason = m.reason  # the preset's own word: keep-alive, canary, gap...
            withdraw = (m.withdraw_key or "") if m is not None else ""
            events.append(
                replace(s, notification=decision.notification, reason=reason, withdraw_key=withdraw)
            )
            if decision.summary is not None:
                summaries.pop(decision.summary.replace_key, None)
                summaries[decision.summary.replace_key] = decision.summary
        self._store.save_decisions(events)  # queued behind the batch's commit
        return events, list(summaries.values())

    async def _record(
        self,
        runner: _Runner,
        feed: Feed,
        events: Sequence[DecodedEvent],
        cursor: str | None,
        *,
        mapped: Sequence[Mapped],
    ) -> None:
        """Store a batch with the cursor, then hand what was stored (and decided) to the sinks."""
        arrived = self._clock()  # the rules' time of the batch, however long the commit takes
        pending = asyncio.ensure_future(
            self._store.record(
                feed.id, events, cursor=cursor, dedupe_ids=[m.dedupe_id for m in mapped]
            )
        )
        # Its outcome reaches us through the shield below; if we stop waiting early,
        # nobody else asks, so mark it seen.
        pending.add_done_callback(_consume_outcome)
        try:
            stored = await asyncio.shield(pending)
        except asyncio.CancelledError:
            # The commit goes on in the worker thread whatever happens here: wait for it
            # (bounded) so that the sinks see what was stored, then stop as asked.
            if not pending.done():
                await asyncio.wait({pending}, timeout=RECORD_GRACE)
            if pending.done() and not pending.cancelled() and pending.exception() is None:
                self._deliver(runner, pending.result(), mapped, arrived=arrived)
            raise
        self._deliver(runner, stored, mapped, arrived=arrived)

    async def _record_gap(self, runner: _Runner, feed: Feed, entry: DecodedEvent) -> None:
        """A visible "possible gap" entry in the log (the cursor does not move)."""
        try:
            await self._record(
                runner, feed, [entry], None, mapped=[Mapped(notification=None, reason="gap")]
            )
        except Exception:
            logger.exception("feed %s: cannot record a gap entry", feed.id)

    async def _run(self, runner: _Runner, feed: Feed) -> None:
        display = redact_url(feed.url)

        def stopped(message: str, reason: StopReason) -> None:
            self._set_status(
                runner,
                FeedStatus(
                    state=ConnectionState.STOPPED, url=display, message=message, stop_reason=reason
                ),
            )

        try:
            preset = get_preset(feed.preset)
            runner.firehose = preset.firehose
            cursor = await self._store.cursor(feed.id)
            auth = FeedAuth(feed, secrets=self._secrets, known=self._known)
            hook = preset.connect_hook(dict(feed.preset_options))
            context = MapContext(
                feed_id=feed.id,
                feed_name=feed.name,
                url=feed.url,
                # What the connection learns (an MCP server's name) is read live from there.
                options=getattr(hook, "map_options", dict(feed.preset_options)),
            )
            uses_last_event_id = preset.uses_last_event_id()
            # The preset's own cursor (ntfy's message id) where it does not use Last-Event-ID.
            own_cursor = [None if uses_last_event_id else cursor]
            gap = _GapWatch(preset, hook=hook)
            source: EventSource

            async def on_events(events: Sequence[DecodedEvent]) -> None:
                mapped = [_map(preset, e, context) for e in events]
                # Nothing after a stop (Firebase cancel) counts, even in the same read.
                stop_at = next((i for i, m in enumerate(mapped) if m.stop is not None), None)
                if stop_at is not None:
                    events, mapped = events[: stop_at + 1], mapped[: stop_at + 1]
                if uses_last_event_id:
                    # The source's last event ID after this read: the id the next request
                    # would send, so a restart resumes exactly where a reconnect would.
                    batch_cursor: str | None = source.last_event_id
                else:
                    for m in mapped:
                        if m.cursor is not None:
                            own_cursor[0] = m.cursor
                    batch_cursor = own_cursor[0]
                await self._record(runner, feed, events, batch_cursor, mapped=mapped)
                for m in mapped:
                    if m.stop is not None:
                        source.stop(m.stop.reason, m.stop.message)
                        break

            def on_status(status: FeedStatus) -> None:
                if status.state is ConnectionState.OPEN:
                    # What arrives right after this may be a replay: one summary, not popups.
                    runner.rules.connection_opened(self._clock())
                self._set_status(runner, status)
                entry = gap.observe(status, last_event_id=source.last_event_id)
                if entry is not None:
                    job = asyncio.ensure_future(self._record_gap(runner, feed, entry))
                    runner.side_tasks.add(job)
                    job.add_done_callback(runner.side_tasks.discard)

            source = EventSource(
                preset.normalize_url(feed.url),
                on_events=on_events,
                on_status=on_status,
                prepare_url=None
                if uses_last_event_id
                else (lambda url: preset.request_url(url, own_cursor[0])),
                headers=[(h.name, h.value) for h in feed.headers if not h.secret],
                auth=auth if auth.needed else None,
                last_event_id=(cursor or "") if uses_last_event_id else "",
                resume=bool(cursor) and uses_last_event_id,
                policy=replace(self._policy, idle_timeout=feed.idle_timeout),
                verify=self._ssl.get(feed),
                proxy=feed.proxy or None,
                transport=self._transport_factory(feed) if self._transport_factory else None,
                connect_hook=hook,
            )
            if runner.task is not asyncio.current_task():
                return  # halted while reading the cursor
            runner.source = source
            await source.run()
        except asyncio.CancelledError:
            raise
        except sqlite3.Error as exc:
            # Nothing of the failed batch was stored and the cursor did not move, so a
            # reconnect (once the disk or lock is fixed) resumes without loss.
            logger.error("feed %s: cannot write the history: %s", feed.id, exc)
            stopped(
                f"cannot write the history ({exc}); events are not stored: reconnect when fixed",
                StopReason.FAILED,
            )
        except (OSError, ssl.SSLError) as exc:
            # A CA file that cannot be read, for instance.
            stopped(f"cannot start: {exc}", StopReason.TLS)
        except KeyError as exc:
            # An unknown preset name (the settings file validates them; this is a guard).
            stopped(str(exc.args[0]) if exc.args else "unknown preset", StopReason.FAILED)
        except TidingsError as exc:
            reason = (
                StopReason.KEYRING_UNAVAILABLE
                if isinstance(exc, SecretStoreError)
                else StopReason.NEEDS_CREDENTIALS
                if isinstance(exc, CredentialsError)
                else StopReason.FAILED
            )
            stopped(str(exc), reason)
        except Exception as exc:
            logger.exception("feed %s crashed", feed.id)
            stopped(f"internal error: {type(exc).__name__}", StopReason.FAILED)


def _map(preset: Preset, event: DecodedEvent, context: MapContext) -> Mapped:
    """The preset's mapping; a preset that fails on odd data shows the event raw instead."""
    try:
        return preset.map(event, context)
    except Exception:
        logger.exception("preset %s failed on an event of feed %s", preset.name, context.feed_id)
        return Mapped(
            notification=Notification(
                title=context.feed_name or event.type, body=event.data, feed_id=context.feed_id
            ),
            bad_payload=True,
        )


GAP_EVENT_TYPE = "tidings:gap"


class _GapWatch:
    """Notices a reconnect after a loss on a feed whose server cannot replay what was missed."""

    def __init__(
        self, preset: Preset, clock: Callable[[], float] = time.time, hook: object = None
    ) -> None:
        self._preset = preset
        # A connect hook may know better than the preset (MCP 2026-07-28 cannot replay).
        self._hook = hook
        self._clock = clock
        self._was_open = False
        self._lost_at: float | None = None

    def observe(self, status: FeedStatus, *, last_event_id: str) -> DecodedEvent | None:
        state = status.state
        if state is ConnectionState.OPEN:
            lost_at, self._lost_at = self._lost_at, None
            self._was_open = True
            replays = getattr(self._hook, "replays", self._preset.replays)
            if replays is None:
                replays = bool(last_event_id)  # a server that sends ids can be asked to replay
            if lost_at is not None and not replays:
                start = _iso(lost_at)
                end = _iso(self._clock())
                return DecodedEvent(
                    GAP_EVENT_TYPE,
                    f"possible gap from {start} to {end}: this server cannot replay events "
                    "sent while Tidings was disconnected",
                    "",
                    False,
                )
        elif (
            state in (ConnectionState.RETRYING, ConnectionState.CONNECTING)
            and self._was_open
            and self._lost_at is None
        ):
            self._lost_at = self._clock()
        return None


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Mark a background future's exception as seen (it was logged where it mattered)."""
    if not future.cancelled():
        future.exception()
