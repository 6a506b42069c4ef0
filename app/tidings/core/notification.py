"""The Notification value: what a person is shown for one event, before any platform touches it.

Everything here is plain text. Nothing from a server is ever interpreted as
HTML or rich text; a notifier whose platform reads markup escapes it. A
click URL is kept only when it is http or https (:func:`safe_url`).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BODY_LIMIT", "Action", "Notification", "Urgency", "safe_url", "shorten"]

logger = logging.getLogger(__name__)

BODY_LIMIT = 1000
"""Characters of body shown in a notification (DESIGN.md's defaults table); the log keeps all."""


class Urgency(enum.Enum):
    """The freedesktop urgency levels, which every platform can map onto its own."""

    LOW = "low"
    NORMAL = "normal"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"low": 0, "normal": 1, "critical": 2}[self.value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """A button on a notification.

    ``view`` opens ``url``. ``http`` sends a request (method, headers, body)
    only after the user clicks it, never before. ``command`` is one of
    Tidings' own actions (``mute-1h``, ``mark-read``), with no URL.
    """

    label: str
    kind: str  # "view", "http" or "command"
    url: str = ""
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "kind": self.kind}
        if self.url:
            data["url"] = self.url
        if self.kind == "http":
            data["method"] = self.method
            data["headers"] = dict(self.headers)
            data["body"] = self.body
        if self.command:
            data["command"] = self.command
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One notification, platform-neutral."""

    title: str
    body: str = ""
    urgency: Urgency = Urgency.NORMAL
    icon: str = ""
    """An icon URL from the server (http/https), or empty for the feed's or the app's icon."""
    url: str = ""
    """What a click opens (http/https); empty opens the event in the log window."""
    actions: tuple[Action, ...] = ()
    tags: tuple[str, ...] = ()
    feed_id: str = ""
    replace_key: str = ""
    """Notifications with the same non-empty key replace each other (updates, flood summaries)."""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def short_body(self) -> str:
        """The body cut to what a popup shows (the log keeps the full text)."""
        return shorten(self.body, BODY_LIMIT)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape ``tidings listen --preset`` prints."""
        return {
            "title": self.title,
            "body": self.body,
            "urgency": self.urgency.value,
            "icon": self.icon,
            "url": self.url,
            "actions": [a.to_json() for a in self.actions],
            "tags": list(self.tags),
            "replace_key": self.replace_key,
        }


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(value: object, *, what: str = "URL") -> str:
    """``value`` if it is an absolute http(s) URL, else ``""`` (and a log line saying why)."""
    if not isinstance(value, str) or not value:
        return ""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value.strip()):
        # urlsplit silently drops tabs and line breaks; a URL carrying them is not trusted.
        logger.info("dropped a %s with control characters", what)
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        logger.info("dropped an unparseable %s from a server", what)
        return ""
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        logger.info("dropped a %s with scheme %r: only http and https open", what, parts.scheme)
        return ""
    return value.strip()
