"""The Wikimedia EventStreams preset: recentchange and friends, a firehose logged by default.

EventStreams (``stream.wikimedia.org``, backed by KafkaSSE; SSE.md section 4)
sends ``event: message`` with a JSON array of Kafka positions as the ``id``,
which a reconnect sends back verbatim as ``Last-Event-ID`` (the connection
does that: the id is kept as the exact string the server sent). Canary
events (``meta.domain == "canary"``, the service's own health probes) are
dropped. ``event: error`` carries a KafkaSSE error as JSON: it becomes a log
entry with a reason, never a connection error (SSE.md section 5).

Tens of events a second: :attr:`EventstreamsPreset.firehose` keeps a feed
log-only until its user turns notifications on (DESIGN.md's defaults).
"""

from __future__ import annotations

from typing import Any

from tidings.core.decoder import DecodedEvent
from tidings.core.notification import Notification, Urgency, shorten
from tidings.core.presets import MapContext, Mapped, Preset, register
from tidings.core.presets.json_preset import load_json
from tidings.core.presets.mercure import TITLE_LIMIT, first_text, link, one_line, summarize, text

__all__ = ["EventstreamsPreset"]

# recentchange's ``type`` field, as a person would say it.
_CHANGE_KINDS = {
    "edit": "Edit",
    "new": "New page",
    "log": "Log entry",
    "categorize": "Category change",
    "external": "External change",
}
# Streams of the mediawiki/revision/create schema, by the end of their name.
_REVISION_STREAMS = {"page-create": "New page", "revision-create": "New revision"}


class EventstreamsPreset(Preset):
    name = "eventstreams"
    label = "Wikimedia EventStreams"
    stable_ids = True
    replays = True
    firehose = True

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """Canaries dropped, errors logged, changes titled "Edit on <wiki>: <page>"."""
        ok, value = load_json(event.data)
        if event.type == "error":
            return Mapped(notification=None, reason=_error_reason(value if ok else event.data))
        if not isinstance(value, dict):
            # EventStreams always sends a JSON object: anything else is shown raw.
            note = Notification(
                title=context.feed_name or "EventStreams", body=event.data, feed_id=context.feed_id
            )
            return Mapped(notification=note, dedupe_id=self.dedupe_id(event), bad_payload=True)
        meta = value.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        # meta.id is the event's own UUID: stabler than the Kafka positions in the SSE id.
        dedupe_id = text(meta.get("id")) or self.dedupe_id(event)
        if text(meta.get("domain")) == "canary":
            return Mapped(notification=None, reason="canary", dedupe_id=dedupe_id)
        return Mapped(notification=_notification(value, meta, context), dedupe_id=dedupe_id)


def _notification(value: dict[str, Any], meta: dict[str, Any], context: MapContext) -> Notification:
    domain = text(meta.get("domain")) or text(value.get("server_name"))
    stream = text(meta.get("stream")).rpartition(".")[2]  # "mediawiki.page-create" -> "page-create"
    tags: tuple[str, ...] = ()
    if "performer" in value or stream in _REVISION_STREAMS:
        # The mediawiki/revision/create schema (page-create, revision-create) and its kin.
        performer = value.get("performer")
        performer = performer if isinstance(performer, dict) else {}
        kind = _REVISION_STREAMS.get(stream) or stream or "Change"
        page = text(value.get("page_title")).replace("_", " ")
        user = text(performer.get("user_text"))
        bot = performer.get("user_is_bot") is True
        url = link(meta.get("uri"))
    else:
        change = text(value.get("type"))
        kind = _CHANGE_KINDS.get(change) or change or stream or "Change"
        if change == "log":
            action = "/".join(
                t for t in (text(value.get("log_type")), text(value.get("log_action"))) if t
            )
            kind = f"Log ({action})" if action else kind
        page = text(value.get("title"))
        user = text(value.get("user"))
        bot = value.get("bot") is True
        url = link(value.get("notify_url")) or link(meta.get("uri")) or link(value.get("title_url"))
        if value.get("minor") is True:
            tags += ("minor",)
    if bot:
        tags += ("bot",)
    where = f" on {domain}" if domain else ""
    title = f"{kind}{where}: {page}" if page else f"{kind}{where}"
    comment = first_text(value, ("comment", "log_action_comment"))
    if user:
        body = f"by {user}: {comment}" if comment else f"by {user}"
    else:
        body = comment or summarize(value)
    return Notification(
        title=shorten(one_line(title), TITLE_LIMIT),
        body=one_line(body),
        # Bots make most of the stream; a person's edit stands out.
        urgency=Urgency.LOW if bot else Urgency.NORMAL,
        url=url,
        tags=tags,
        feed_id=context.feed_id,
    )


def _error_reason(value: object) -> str:
    """The reason shown for an ``event: error`` (KafkaSSE's error JSON has a name and message)."""
    if isinstance(value, dict):
        named = (text(value.get("name")), text(value.get("message")))
        detail = ": ".join(t for t in named if t) or summarize(value)
    else:
        detail = summarize(value)
    detail = shorten(one_line(detail), TITLE_LIMIT)
    return f"server error: {detail}" if detail else "server error"


register(EventstreamsPreset())
