"""The generic JSON preset: the user picks title, body, URL, priority and id from each event's JSON.

Options (:attr:`MapContext.options`, from the feed's settings), each optional:

``title``, ``body``, ``url``, ``priority``, ``id``
    A dotted path into the JSON (``data.title``, ``items.0.name``; ``items[0]``
    works too), or a template whose ``{path}`` placeholders are filled from
    the JSON (``"{repo.name}: {status}"``; ``{{`` and ``}}`` are literal
    braces). A value containing ``{`` is a template, anything else a path.
    A path or placeholder that finds nothing gives an empty text.

Without an option, sensible defaults apply: the title comes from a top-level
``title``, ``subject``, ``name`` or ``event`` (else the feed name), the body
from ``message``, ``body``, ``text`` or ``description`` (else a compact JSON
summary of the event), the URL from ``url``, ``link`` or ``html_url``, and
the priority from ``priority``, ``severity`` or ``level``. Priorities are
numbers 1-5 (1-2 low, 3-4 normal, 5 critical) or words (low, normal, high,
urgent, critical and common log levels). An event names itself for
de-duplication only through a configured ``id`` path: the SSE ids of
arbitrary servers may restart (SSE.md section 5).

Data that is not JSON is shown raw and marked ``bad_payload``; it never
fails. :func:`preview` maps a few events with given options, for the GUI's
live preview.

The module also holds the small JSON helpers the ntfy and smee.io presets
share (:func:`load_json`, :func:`clean_text`, :func:`compact_json`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tidings.core.decoder import DecodedEvent
from tidings.core.notification import BODY_LIMIT, Notification, Urgency, safe_url, shorten
from tidings.core.presets import MapContext, Mapped, Preset, register

__all__ = [
    "OPTION_NAMES",
    "JsonPresetPreset",
    "check_options",
    "clean_text",
    "compact_json",
    "load_json",
    "parse_urgency",
    "preview",
    "resolve_path",
]

OPTION_NAMES = ("title", "body", "url", "priority", "id")
"""The options the generic JSON preset reads from :attr:`MapContext.options`."""

TITLE_KEYS = ("title", "subject", "name", "event")
BODY_KEYS = ("message", "body", "text", "description")
URL_KEYS = ("url", "link", "html_url")
PRIORITY_KEYS = ("priority", "severity", "level")

SUMMARY_LIMIT = 300
"""Characters of a compact JSON summary used as a body when nothing better is found."""

_MISSING: Any = object()

# -- shared JSON helpers ----------------------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(data: str) -> tuple[bool, Any]:
    """``(True, value)`` for JSON text, else ``(False, None)``; never raises.

    Deeply nested input (a ``RecursionError`` in the parser) and integers
    too long to convert count as "not JSON", like any other bad text.
    """
    try:
        return True, json.loads(data)
    except (ValueError, RecursionError):
        return False, None


def clean_text(value: str) -> str:
    """``value`` with lone surrogates (which JSON escapes can carry) replaced by U+FFFD.

    Such text cannot be encoded as UTF-8, so a notifier or a JSON line with it would fail.
    """
    if _LONE_SURROGATE.search(value) is None:
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)


def compact_json(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    """A one-line JSON rendering of ``value``, cut to ``limit`` characters; never raises."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (ValueError, TypeError, RecursionError):
        try:
            text = repr(value)
        except RecursionError:  # as deep as what made json.dumps give up
            text = "(nested too deeply to show)"
    return shorten(clean_text(text), limit)


def scalar_text(value: Any) -> str:
    """Text for a JSON scalar (``""`` for null, ``true``/``false`` for booleans).

    Objects and arrays become compact JSON.
    """
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)  # 1e999 -> Infinity; never OverflowError
    return compact_json(value, BODY_LIMIT)


_INDEX = re.compile(r"\[(\d+)\]")


def resolve_path(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``a.b.0.c`` or ``a.b[0].c``), or ``None`` when absent.

    A number picks a list item (or an object member of that name); an
    empty path is the value itself.
    """
    path = _INDEX.sub(r".\1", path.strip()).strip(".")
    if not path:
        return value
    current = value
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and part.isascii():
            index = int(part)
            if index >= len(current):
                return None
            current = current[index]
        else:
            return None
    return current


_WORD_URGENCY = {
    **dict.fromkeys(("min", "minimum", "lowest", "low", "debug", "trace", "verbose"), Urgency.LOW),
    **dict.fromkeys(
        ("default", "normal", "medium", "moderate", "info", "notice", "high", "warn", "warning"),
        Urgency.NORMAL,
    ),
    **dict.fromkeys(
        (
            "max",
            "maximum",
            "highest",
            "urgent",
            "critical",
            "crit",
            "error",
            "err",
            "fatal",
            "alert",
            "emergency",
            "emerg",
        ),
        Urgency.CRITICAL,
    ),
}


def parse_urgency(value: Any) -> Urgency | None:
    """A priority as a number 1-5 (1-2 low, 3-4 normal, 5 critical) or a word; else ``None``."""
    number: float | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _WORD_URGENCY:
            return _WORD_URGENCY[text]
        try:
            number = float(text)
        except ValueError:
            return None
    if number is None or not math.isfinite(number) or not float(number).is_integer():
        return None
    level = int(number)
    if level in (1, 2):
        return Urgency.LOW
    if level in (3, 4):
        return Urgency.NORMAL
    if level == 5:
        return Urgency.CRITICAL
    return None


# -- templates ---------------------------------------------------------------------------


def _parse_template(template: str) -> list[tuple[bool, str]] | None:
    """``[(is_path, text), ...]`` for a ``{path}`` template; ``None`` for unbalanced braces."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        char = template[i]
        if char == "{" and template.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and template.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "{":
            end = template.find("}", i + 1)
            if end < 0 or "{" in template[i + 1 : end]:
                return None
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, template[i + 1 : end]))
            i = end + 1
        elif char == "}":
            return None
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def _extract(value: Any, spec: str) -> Any:
    """What an option ``spec`` (a path, or a template with ``{`` in it) picks from ``value``.

    A path gives the raw JSON value (or ``None``); a template always gives text.
    """
    if "{" not in spec:
        return resolve_path(value, spec)
    parts = _parse_template(spec)
    if parts is None:
        return spec  # unbalanced braces: shown as written (check_options says why)
    return "".join(
        scalar_text(resolve_path(value, text)) if is_path else text for is_path, text in parts
    )


def check_options(options: Mapping[str, str]) -> list[str]:
    """Problems with the generic JSON preset's options, as sentences (empty when all is well)."""
    problems: list[str] = []
    for name, spec in options.items():
        if name not in OPTION_NAMES:
            problems.append(f"unknown option {name!r} (known: {', '.join(OPTION_NAMES)})")
        elif ("{" in spec or "}" in spec) and _parse_template(spec) is None:
            problems.append(
                f"{name}: unbalanced braces in the template {spec!r} "
                "(write {{ and }} for literal braces)"
            )
    return problems


# -- the preset --------------------------------------------------------------------------


def _first(value: Any, keys: Sequence[str]) -> Any:
    if isinstance(value, dict):
        for key in keys:
            found = value.get(key)
            if isinstance(found, str) and found.strip():
                return found
            if isinstance(found, int | float) and not isinstance(found, bool):
                return found
    return None


class JsonPresetPreset(Preset):
    name = "json"
    label = "Generic JSON"

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """Title, body, URL, priority and id from the event's JSON, per the options."""
        fallback_title = context.feed_name or event.type
        if not event.data.strip():
            return Mapped(notification=None, reason="empty")
        ok, value = load_json(event.data)
        if not ok:
            return Mapped(
                notification=Notification(
                    title=fallback_title, body=event.data, feed_id=context.feed_id
                ),
                bad_payload=True,
            )
        options = context.options

        def pick(option: str, default_keys: Sequence[str]) -> Any:
            spec = options.get(option, "")
            if spec.strip():
                return _extract(value, spec)
            return _first(value, default_keys)

        title = scalar_text(pick("title", TITLE_KEYS)).strip() or fallback_title
        body = scalar_text(pick("body", BODY_KEYS))
        if not body.strip():
            body = scalar_text(value) if isinstance(value, str) else compact_json(value)
        url = safe_url(scalar_text(pick("url", URL_KEYS)), what="click URL")
        urgency = parse_urgency(pick("priority", PRIORITY_KEYS)) or Urgency.NORMAL
        dedupe_id: str | None = None
        id_spec = options.get("id", "")
        if id_spec.strip():
            dedupe_id = scalar_text(_extract(value, id_spec)).strip() or None
        return Mapped(
            notification=Notification(
                title=title,
                body=body,
                urgency=urgency,
                url=url,
                feed_id=context.feed_id,
            ),
            dedupe_id=dedupe_id,
        )


def preview(
    options: Mapping[str, str],
    events: Iterable[DecodedEvent | str],
    *,
    feed_name: str = "",
) -> list[Mapped]:
    """What the generic JSON preset makes of ``events`` with ``options`` (for a live preview).

    An event may be a :class:`DecodedEvent` or just its data (a ``message``
    event without an id). Pure: nothing is stored, shown or logged beyond
    what mapping logs.
    """
    context = MapContext(feed_name=feed_name, options=dict(options))
    mapped: list[Mapped] = []
    for event in events:
        decoded = DecodedEvent("message", event, "", False) if isinstance(event, str) else event
        mapped.append(PRESET.map(decoded, context))
    return mapped


PRESET = register(JsonPresetPreset())
