"""The Mercure hub preset: JSON(-LD) updates, resumed with Last-Event-ID across the hub's rotations.

A Mercure hub (``dunglas/mercure``, SSE.md section 4) gives every update an
``id:`` (an IRI or UUID) and replays what came after the ``Last-Event-ID`` a
reconnect sends, so the routine reconnect every few minutes (the hub's
``write_timeout``) loses nothing and de-duplication by an event's own id is
safe. Both generations of subscribe URL work as pasted: repeated ``topic=``
parameters (older hubs) and ``match=`` (the current spec); a bare hub URL is
fine too (the hub then decides what it sends).

The small text helpers at the bottom are shared with the EventStreams and
Firebase presets (the JSON ones come from the generic JSON preset).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tidings.core.decoder import DEFAULT_EVENT_TYPE, DecodedEvent
from tidings.core.notification import Notification, safe_url, shorten
from tidings.core.presets import MapContext, Mapped, Preset, register
from tidings.core.presets.json_preset import clean_text, compact_json, load_json

__all__ = ["TITLE_LIMIT", "MercurePreset", "first_text", "link", "one_line", "summarize", "text"]

TITLE_LIMIT = 200
"""Characters of a title built from server data (a title is one short line)."""

# Fields that commonly carry a short human text, in order of preference.
_BODY_FIELDS = ("message", "description", "text", "body", "summary")
_NAME_FIELDS = ("title", "name")
# An absolute URI starts with a scheme (RFC 3986); anything else is a relative reference.
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class MercurePreset(Preset):
    name = "mercure"
    label = "Mercure hub"
    stable_ids = True
    replays = True

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """Title from the event type or JSON ``@type``/``title``/``name``; body a short text."""
        # The publisher's ``type`` travels as the SSE event type; "message" means none was given.
        kind = one_line(event.type) if event.type != DEFAULT_EVENT_TYPE else ""
        fallback = context.feed_name or "Mercure update"
        ok, value = load_json(event.data)
        if not isinstance(value, dict):
            body = summarize(value) if ok else event.data
            title = shorten(kind or fallback, TITLE_LIMIT)
            note = Notification(title=title, body=body, feed_id=context.feed_id)
            return Mapped(notification=note, dedupe_id=self.dedupe_id(event))
        kind = kind or _jsonld_type(value.get("@type"))
        name = first_text(value, _NAME_FIELDS)
        title = f"{kind}: {name}" if kind and name else kind or name or fallback
        body = first_text(value, _BODY_FIELDS) or summarize(
            {k: v for k, v in value.items() if k != "@context"}
        )
        resource = text(value.get("@id"))
        note = Notification(
            title=shorten(one_line(title), TITLE_LIMIT),
            body=body,
            url=link(resource) or link(value.get("url")),
            feed_id=context.feed_id,
            # A later update of the same resource replaces the earlier notification.
            replace_key=f"mercure:{resource}" if resource else "",
        )
        return Mapped(notification=note, dedupe_id=self.dedupe_id(event))


def _jsonld_type(value: object) -> str:
    """A JSON-LD ``@type``: a string, or a list of them."""
    if isinstance(value, list):
        return ", ".join(t for t in (one_line(text(v)) for v in value) if t)
    return one_line(text(value))


# -- helpers shared with the EventStreams and Firebase presets ---------------------------


def text(value: object) -> str:
    """A JSON string as display text (stripped, lone surrogates replaced); ``""`` otherwise."""
    return clean_text(value.strip()) if isinstance(value, str) else ""


def one_line(value: str) -> str:
    """``value`` with every run of whitespace (line breaks included) turned into one space."""
    return " ".join(value.split())


def first_text(value: Mapping[str, object], keys: tuple[str, ...]) -> str:
    """The first non-empty string among ``value[key]`` for ``keys``."""
    for key in keys:
        found = text(value.get(key))
        if found:
            return found
    return ""


def summarize(value: object) -> str:
    """A JSON value as a short body: a string as itself, anything else as compact JSON."""
    return text(value) if isinstance(value, str) else compact_json(value)


def link(value: object) -> str:
    """``value`` if it is an absolute http(s) URL; relative references are dropped quietly."""
    value = text(value)
    if not _HAS_SCHEME.match(value):
        return ""
    return safe_url(value)


register(MercurePreset())
