"""Presets: what Tidings knows about each kind of server, from request to notification.

A preset shapes the request (ntfy's ``/sse`` endpoint and ``since=`` cursor),
maps each event to a :class:`~tidings.core.notification.Notification` or says
why none is due (keep-alives, canaries, control events), names the id that is
stable across connections (for de-duplication) and the cursor to resume from,
and turns a server's "stop" (Firebase ``cancel``) into a stop of the feed.

Mapping is pure: no I/O, no clock, no state between events, so that
``tidings listen --preset`` and the hub agree and tests can check every
preset with recorded streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from tidings.core.decoder import DecodedEvent
from tidings.core.models import StopReason
from tidings.core.notification import Notification
from tidings.core.sse import ConnectHook

__all__ = [
    "PRESETS",
    "MapContext",
    "Mapped",
    "Preset",
    "Stop",
    "get_preset",
    "preset_names",
]


@dataclass(frozen=True, slots=True)
class Stop:
    """The server told us to stop (Firebase ``cancel``, ``auth_revoked``)."""

    reason: StopReason
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MapContext:
    """What a preset may know about the feed an event came from."""

    feed_id: str = ""
    feed_name: str = ""
    url: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    """Preset options from the feed's settings (the generic JSON preset's paths, say)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Mapped:
    """What a preset makes of one event."""

    notification: Notification | None
    reason: str = ""
    """Why there is no notification: ``keep-alive``, ``control``, ``canary``..."""
    cursor: str | None = None
    """The preset's own resume cursor after this event (ntfy's message id), if it has one."""
    dedupe_id: str | None = None
    """An id that names this event across connections, for presets whose servers keep ids stable."""
    withdraw_key: str | None = None
    """A replace key whose notification the server withdrew (ntfy ``message_delete``)."""
    stop: Stop | None = None
    bad_payload: bool = False
    """The data could not be decoded as the preset expects: shown raw, logged, never fatal."""


class Preset:
    """The generic behaviour; each preset overrides what its servers do differently."""

    name: ClassVar[str] = "plain"
    label: ClassVar[str] = "Plain text"
    stable_ids: ClassVar[bool] = False
    """Ids are stable across connections, so an own-block id may de-duplicate a replay."""
    replays: ClassVar[bool | None] = None
    """The server can replay what was missed: True, False, or None for "if it sends ids"."""
    firehose: ClassVar[bool] = False
    """Tens of events a second: log only until the user turns notifications on."""

    def normalize_url(self, url: str) -> str:
        """The subscription URL for what a user pasted (ntfy: a topic URL gets ``/sse``)."""
        return url

    def request_url(self, url: httpx.URL, cursor: str | None) -> httpx.URL:
        """The URL of one connection attempt, given the stored cursor (ntfy: ``since=``)."""
        return url

    def uses_last_event_id(self) -> bool:
        """Whether the resume cursor is the SSE last event ID (else the preset's own)."""
        return True

    def connect_hook(self, options: Mapping[str, str] | None = None) -> ConnectHook | None:
        """Per-feed connection logic run before each attempt (MCP's handshake); none by default.

        Create one per feed and pass it as ``EventSource(connect_hook=...)``.
        """
        return None

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """Plain text: the data is the body, the feed name (or event type) the title."""
        title = context.feed_name or event.type
        return Mapped(
            notification=Notification(title=title, body=event.data, feed_id=context.feed_id),
            dedupe_id=self.dedupe_id(event),
        )

    def dedupe_id(self, event: DecodedEvent) -> str | None:
        """The event's own-block id, for presets whose ids are stable (SSE.md section 5)."""
        if self.stable_ids and event.has_own_id and event.id:
            return event.id
        return None


PRESETS: dict[str, Preset] = {"plain": Preset()}


def register(preset: Preset) -> Preset:
    """Add a preset to the registry (each preset module calls this once, at import)."""
    PRESETS[preset.name] = preset
    return preset


def preset_names() -> list[str]:
    _load_all()
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``KeyError`` names the known ones."""
    _load_all()
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})") from None


def _load_all() -> None:
    # Imported here, not at the top: each module registers itself and imports this one.
    from tidings.core.presets import (  # noqa: F401, PLC0415
        eventstreams,
        firebase,
        json_preset,
        mcp,
        mercure,
        ntfy,
        smee,
    )
