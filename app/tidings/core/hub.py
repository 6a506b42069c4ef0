"""The hub: runs every feed as a task and moves each event from the wire to the store and sinks.

Each feed has its own :class:`~tidings.core.sse.EventSource` (its own HTTP
connection), its own status, and can be added, removed, edited, paused,
resumed or reconnected while the others keep running. Every batch of events
is stored with the feed's resume cursor in one transaction before any sink
sees it; a restart resumes from that cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import httpx
import truststore

from tidings.core.auth import FeedAuth
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import CredentialsError, SecretStoreError, TidingsError
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.models import ConnectionPolicy, ConnectionState, Feed, FeedStatus, StopReason
from tidings.core.redact import KnownSecrets, redact_url
from tidings.core.secrets import SecretStore
from tidings.core.sse import EventSource

__all__ = ["STABLE_ID_PRESETS", "Hub", "HubSink", "ssl_context_for"]

logger = logging.getLogger(__name__)

# Presets whose servers keep ids stable across connections (SSE.md section 5):
# only their own-block ids may de-duplicate a replay.
STABLE_ID_PRESETS = frozenset({"ntfy", "mercure", "eventstreams"})


class HubSink(Protocol):
    """Receives what the hub produces: stored events and status changes."""

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None: ...

    def status_changed(self, feed: Feed, status: FeedStatus) -> None: ...


def ssl_context_for(feed: Feed) -> ssl.SSLContext | bool:
    """The OS trust store (plus the feed's CA file), or no verification when the user chose so."""
    if not feed.tls.verify:
        return False
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if feed.tls.ca_file:
        context.load_verify_locations(cafile=feed.tls.ca_file)
    return context


class _Runner:
    """One feed's task and connection."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.task: asyncio.Task[None] | None = None
        self.source: EventSource | None = None


class Hub:
    """Runs feeds. Build it in a composition root; ``await hub.stop()`` before the loop ends."""

    def __init__(
        self,
        *,
        store: HistoryStore,
        secrets: SecretStore,
        sinks: Sequence[HubSink] = (),
        policy: ConnectionPolicy | None = None,
        known_secrets: KnownSecrets | None = None,
        transport_factory: Callable[[Feed], httpx.AsyncBaseTransport | None] | None = None,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._sinks = list(sinks)
        self._policy = policy or ConnectionPolicy()
        self._known = known_secrets
        self._transport_factory = transport_factory
        self._runners: dict[str, _Runner] = {}
        self.statuses: dict[str, FeedStatus] = {}

    # -- feeds ----------------------------------------------------------------------

    @property
    def feeds(self) -> list[Feed]:
        return [r.feed for r in self._runners.values()]

    def feed(self, feed_id: str) -> Feed | None:
        runner = self._runners.get(feed_id)
        return None if runner is None else runner.feed

    def add_sink(self, sink: HubSink) -> None:
        self._sinks.append(sink)

    def add(self, feed: Feed) -> None:
        """Start running a feed (unless it is paused)."""
        if feed.id in self._runners:
            raise ValueError(f"feed {feed.id} is already in the hub")
        runner = _Runner(feed)
        self._runners[feed.id] = runner
        if feed.paused:
            self._set_status(
                feed, FeedStatus(state=ConnectionState.PAUSED, url=redact_url(feed.url))
            )
        else:
            self._start(runner)

    async def remove(self, feed_id: str) -> None:
        """Stop a feed and forget it (its history stays until the caller deletes it)."""
        runner = self._runners.pop(feed_id, None)
        if runner is not None:
            await self._halt(runner)
        self.statuses.pop(feed_id, None)

    async def update(self, feed: Feed) -> None:
        """Replace a feed's settings; its connection restarts with them (the cursor is kept)."""
        runner = self._runners.get(feed.id)
        if runner is None:
            self.add(feed)
            return
        await self._halt(runner)
        runner.feed = feed
        if feed.paused:
            self._set_status(
                feed, FeedStatus(state=ConnectionState.PAUSED, url=redact_url(feed.url))
            )
        else:
            self._start(runner)

    async def pause(self, feed_id: str) -> None:
        runner = self._runners[feed_id]
        await self.update(replace(runner.feed, paused=True))

    async def resume(self, feed_id: str) -> None:
        runner = self._runners[feed_id]
        await self.update(replace(runner.feed, paused=False))

    async def reconnect(self, feed_id: str) -> None:
        """Drop the feed's connection and connect again now (also after a stop for credentials)."""
        runner = self._runners[feed_id]
        if runner.feed.paused:
            return
        await self._halt(runner)
        self._start(runner)

    async def pause_all(self) -> None:
        for feed_id in list(self._runners):
            await self.pause(feed_id)

    async def resume_all(self) -> None:
        for feed_id in list(self._runners):
            await self.resume(feed_id)

    async def reconnect_all(self) -> None:
        for feed_id in list(self._runners):
            await self.reconnect(feed_id)

    def wake_all(self) -> None:
        """Skip every pending reconnection wait (the network came back, the system resumed)."""
        for runner in self._runners.values():
            if runner.source is not None:
                runner.source.reconnect_now()

    async def stop(self) -> None:
        """Close every connection and wait for the tasks to end."""
        await asyncio.gather(*(self._halt(r) for r in self._runners.values()))

    # -- running ----------------------------------------------------------------------

    def _start(self, runner: _Runner) -> None:
        runner.task = asyncio.create_task(self._run(runner), name=f"tidings-feed-{runner.feed.id}")

    async def _halt(self, runner: _Runner) -> None:
        task, runner.task = runner.task, None
        if runner.source is not None:
            runner.source.close()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner.source = None

    def _set_status(self, feed: Feed, status: FeedStatus) -> None:
        self.statuses[feed.id] = status
        for sink in self._sinks:
            try:
                sink.status_changed(feed, status)
            except Exception:
                logger.exception("a status sink failed")

    async def _run(self, runner: _Runner) -> None:
        feed = runner.feed
        display = redact_url(feed.url)
        try:
            cursor = await self._store.cursor(feed.id)
            auth = FeedAuth(feed, secrets=self._secrets, known=self._known)
            dedupe = feed.preset in STABLE_ID_PRESETS

            async def on_events(events: Sequence[DecodedEvent]) -> None:
                source = runner.source
                stored = await self._store.record(
                    feed.id,
                    events,
                    cursor=source.last_event_id if source is not None else None,
                    dedupe=dedupe,
                )
                if stored:
                    for sink in self._sinks:
                        try:
                            sink.events_stored(feed, stored)
                        except Exception:
                            logger.exception("an event sink failed")

            source = EventSource(
                feed.url,
                on_events=on_events,
                on_status=lambda status: self._set_status(feed, status),
                headers=[(h.name, h.value) for h in feed.headers if not h.secret],
                auth=auth if auth.needed else None,
                last_event_id=cursor or "",
                resume=bool(cursor),
                policy=replace(self._policy, idle_timeout=feed.idle_timeout),
                verify=ssl_context_for(feed),
                proxy=feed.proxy or None,
                transport=self._transport_factory(feed) if self._transport_factory else None,
            )
            runner.source = source
            await source.run()
        except asyncio.CancelledError:
            raise
        except (OSError, ssl.SSLError) as exc:
            # A CA file that cannot be read, for instance.
            self._set_status(
                feed,
                FeedStatus(
                    state=ConnectionState.STOPPED,
                    url=display,
                    message=f"cannot start: {exc}",
                    stop_reason=StopReason.TLS,
                ),
            )
        except TidingsError as exc:
            reason = (
                StopReason.KEYRING_UNAVAILABLE
                if isinstance(exc, SecretStoreError)
                else StopReason.NEEDS_CREDENTIALS
                if isinstance(exc, CredentialsError)
                else StopReason.FAILED
            )
            self._set_status(
                feed,
                FeedStatus(
                    state=ConnectionState.STOPPED, url=display, message=str(exc), stop_reason=reason
                ),
            )
        except Exception as exc:
            logger.exception("feed %s crashed", feed.id)
            self._set_status(
                feed,
                FeedStatus(
                    state=ConnectionState.STOPPED,
                    url=display,
                    message=f"internal error: {type(exc).__name__}",
                    stop_reason=StopReason.FAILED,
                ),
            )
