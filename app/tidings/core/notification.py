"""The Notification value: what a person is shown for one event, before any platform touches it.

Everything here is plain text. Nothing from a server is ever interpreted as
HTML or rich text; a notifier whose platform reads markup escapes it. A
click URL is kept only when it is http or https (:func:`safe_url`).
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BIDI_CONTROLS",
    "BODY_LIMIT",
    "TITLE_LIMIT",
    "Action",
    "Notification",
    "Urgency",
    "plain_title",
    "safe_url",
    "shorten",
    "strip_bidi_controls",
]

logger = logging.getLogger(__name__)

BODY_LIMIT = 1000
"""Characters of body shown in a notification (DESIGN.md's defaults table); the log keeps all."""

TITLE_LIMIT = 250
"""Characters of a title: a title is one line (the raw data keeps everything)."""

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: a server's text can use them to reorder what follows
it on the same line ("gpj.exe" shown as "exe.jpg"). Titles and one-line views drop them; the
raw data keeps them. The marks (LRM, RLM, ALM) cannot reorder anything and stay."""
_BIDI_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
_LINE_CONTROLS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


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

    def __post_init__(self) -> None:
        # The title is shown on one line everywhere (popup summary, tray menu, log row): a
        # server's bidi override or line break must not reach it, however it was built.
        title = plain_title(self.title)
        if title != self.title:
            object.__setattr__(self, "title", title)

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
    """``text`` cut to ``limit`` characters, with an ellipsis when cut.

    The cut never splits what a reader sees as one character: an emoji sequence joined by
    ZWJ, a flag (a pair of regional indicators), a skin tone or variation selector, or a
    letter with its combining marks is kept whole or left out whole.
    """
    if len(text) <= limit:
        return text
    cut = max(0, limit - 1)
    for _ in range(64):  # bounded: a pathological run of marks is cut anyway
        if cut <= 0 or not _continues_cluster(text, cut):
            break
        cut -= 1
    return text[:cut].rstrip() + "…"


def _is_extender(ch: str) -> bool:
    code = ord(ch)
    return (
        code == 0x200D  # ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in {"Mn", "Me", "Mc"}
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _continues_cluster(text: str, cut: int) -> bool:
    """Whether ``text[cut]`` belongs to the same visible character as ``text[cut - 1]``."""
    after, before = text[cut], text[cut - 1]
    if _is_extender(after) or before == "\u200d":
        return True
    if _is_regional(after) and _is_regional(before):
        run = 0
        i = cut - 1
        while i >= 0 and _is_regional(text[i]) and run < 64:
            run += 1
            i -= 1
        return run % 2 == 1  # an odd run before the cut: ``after`` completes a flag
    return False


def strip_bidi_controls(text: str) -> str:
    """``text`` without bidi embeddings, overrides and isolates (see :data:`BIDI_CONTROLS`)."""
    return _BIDI_RE.sub("", text) if _BIDI_RE.search(text) else text


def plain_title(text: str, limit: int = TITLE_LIMIT) -> str:
    """A server's title fit for one line: no bidi controls, control characters or line breaks
    (a run of them becomes one space), cut to ``limit`` characters."""
    text = strip_bidi_controls(text)
    if _LINE_CONTROLS_RE.search(text):
        text = _LINE_CONTROLS_RE.sub(" ", text).strip()
    return shorten(text, limit)


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
