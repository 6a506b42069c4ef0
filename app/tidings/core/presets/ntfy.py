"""The ntfy preset (``binwiederhier/ntfy``; SSE.md section 4).

Request: a pasted topic URL (``https://host/topic``, or ``https://host/t1,t2``
for several topics) subscribes through ``/<topics>/sse``; the sibling
endpoints ``/json``, ``/raw`` and ``/ws`` are turned into ``/sse``. Every
other query parameter (``auth=``, filters such as ``priority=`` or ``tags=``)
stays. ntfy sends no SSE ``id:`` lines, so Last-Event-ID never applies: each
connection asks for ``since=<last message id>`` instead.

Mapping: each event's data is a JSON object whose ``event`` is ``open``,
``keepalive``, ``poll_request`` (no notification), ``message`` (a
notification), or, since ntfy 2.16, ``message_delete`` and ``message_clear``
(no notification; the earlier one is withdrawn). A message's ``title``
(default: its topic), ``message``, ``priority`` (1-2 low, 3-4 normal, 5
critical), ``tags`` (emoji short codes become emoji, the others stay tags),
``click``, ``icon``, ``attachment`` and ``actions`` make the notification;
``sequence_id`` links updates of one notification (its replace key). Message
ids are stable, so they de-duplicate the whole cache that ntfy replays when
the ``since=`` id has expired.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tidings.core.decoder import DecodedEvent
from tidings.core.notification import Action, Notification, Urgency, safe_url
from tidings.core.presets import MapContext, Mapped, Preset, register
from tidings.core.presets.json_preset import clean_text, load_json, parse_urgency

__all__ = ["EMOJI", "NtfyPreset", "emoji_for"]

ENDPOINTS = frozenset({"sse", "json", "raw", "ws"})
"""The last path segments that name an ntfy subscribe endpoint rather than a topic."""

CONTROL_EVENTS = {"open": "control", "keepalive": "keep-alive", "poll_request": "control"}
WITHDRAW_EVENTS = frozenset({"message_delete", "message_clear"})

# The common emoji short codes of ntfy's tag list (gemoji names), as ntfy's apps show them.
EMOJI: dict[str, str] = {
    "+1": "\U0001f44d",
    "thumbsup": "\U0001f44d",
    "-1": "\U0001f44e",
    "thumbsdown": "\U0001f44e",
    "100": "\U0001f4af",
    "warning": "\u26a0\ufe0f",
    "rotating_light": "\U0001f6a8",
    "white_check_mark": "\u2705",
    "heavy_check_mark": "\u2714\ufe0f",
    "ballot_box_with_check": "\u2611\ufe0f",
    "x": "\u274c",
    "negative_squared_cross_mark": "\u274e",
    "heavy_multiplication_x": "\u2716\ufe0f",
    "skull": "\U0001f480",
    "skull_and_crossbones": "\u2620\ufe0f",
    "tada": "\U0001f389",
    "partying_face": "\U0001f973",
    "confetti_ball": "\U0001f38a",
    "loudspeaker": "\U0001f4e2",
    "mega": "\U0001f4e3",
    "no_entry": "\u26d4",
    "no_entry_sign": "\U0001f6ab",
    "stop_sign": "\U0001f6d1",
    "construction": "\U0001f6a7",
    "lock": "\U0001f512",
    "unlock": "\U0001f513",
    "closed_lock_with_key": "\U0001f510",
    "key": "\U0001f511",
    "shield": "\U0001f6e1\ufe0f",
    "computer": "\U0001f4bb",
    "desktop_computer": "\U0001f5a5\ufe0f",
    "keyboard": "\u2328\ufe0f",
    "iphone": "\U0001f4f1",
    "printer": "\U0001f5a8\ufe0f",
    "floppy_disk": "\U0001f4be",
    "cd": "\U0001f4bf",
    "dvd": "\U0001f4c0",
    "electric_plug": "\U0001f50c",
    "battery": "\U0001f50b",
    "satellite": "\U0001f4e1",
    "globe_with_meridians": "\U0001f310",
    "link": "\U0001f517",
    "fire": "\U0001f525",
    "rocket": "\U0001f680",
    "bell": "\U0001f514",
    "no_bell": "\U0001f515",
    "loud_sound": "\U0001f50a",
    "mute": "\U0001f507",
    "star": "\u2b50",
    "star2": "\U0001f31f",
    "sparkles": "\u2728",
    "zap": "\u26a1",
    "boom": "\U0001f4a5",
    "bug": "\U0001f41b",
    "wrench": "\U0001f527",
    "hammer": "\U0001f528",
    "hammer_and_wrench": "\U0001f6e0\ufe0f",
    "gear": "\u2699\ufe0f",
    "package": "\U0001f4e6",
    "robot": "\U0001f916",
    "ghost": "\U0001f47b",
    "heart": "\u2764\ufe0f",
    "broken_heart": "\U0001f494",
    "eyes": "\U0001f440",
    "information_source": "\u2139\ufe0f",
    "question": "\u2753",
    "grey_question": "\u2754",
    "exclamation": "\u2757",
    "heavy_exclamation_mark": "\u2757",
    "grey_exclamation": "\u2755",
    "bangbang": "\u203c\ufe0f",
    "sos": "\U0001f198",
    "new": "\U0001f195",
    "ok": "\U0001f197",
    "red_circle": "\U0001f534",
    "orange_circle": "\U0001f7e0",
    "yellow_circle": "\U0001f7e1",
    "green_circle": "\U0001f7e2",
    "large_blue_circle": "\U0001f535",
    "purple_circle": "\U0001f7e3",
    "white_circle": "\u26aa",
    "black_circle": "\u26ab",
    "hourglass": "\u231b",
    "hourglass_flowing_sand": "\u23f3",
    "alarm_clock": "\u23f0",
    "stopwatch": "\u23f1\ufe0f",
    "timer_clock": "\u23f2\ufe0f",
    "watch": "\u231a",
    "calendar": "\U0001f4c6",
    "date": "\U0001f4c5",
    "email": "\U0001f4e7",
    "envelope": "\u2709\ufe0f",
    "incoming_envelope": "\U0001f4e8",
    "inbox_tray": "\U0001f4e5",
    "outbox_tray": "\U0001f4e4",
    "memo": "\U0001f4dd",
    "pencil": "\U0001f4dd",
    "pencil2": "\u270f\ufe0f",
    "clipboard": "\U0001f4cb",
    "pushpin": "\U0001f4cc",
    "paperclip": "\U0001f4ce",
    "file_folder": "\U0001f4c1",
    "open_file_folder": "\U0001f4c2",
    "wastebasket": "\U0001f5d1\ufe0f",
    "books": "\U0001f4da",
    "mag": "\U0001f50d",
    "bar_chart": "\U0001f4ca",
    "chart_with_upwards_trend": "\U0001f4c8",
    "chart_with_downwards_trend": "\U0001f4c9",
    "moneybag": "\U0001f4b0",
    "dollar": "\U0001f4b5",
    "money_with_wings": "\U0001f4b8",
    "credit_card": "\U0001f4b3",
    "shopping_cart": "\U0001f6d2",
    "gift": "\U0001f381",
    "birthday": "\U0001f382",
    "trophy": "\U0001f3c6",
    "medal_sports": "\U0001f3c5",
    "checkered_flag": "\U0001f3c1",
    "triangular_flag_on_post": "\U0001f6a9",
    "dart": "\U0001f3af",
    "house": "\U0001f3e0",
    "door": "\U0001f6aa",
    "bulb": "\U0001f4a1",
    "thermometer": "\U0001f321\ufe0f",
    "sunny": "\u2600\ufe0f",
    "cloud": "\u2601\ufe0f",
    "umbrella": "\u2614",
    "snowflake": "\u2744\ufe0f",
    "droplet": "\U0001f4a7",
    "ocean": "\U0001f30a",
    "rainbow": "\U0001f308",
    "crescent_moon": "\U0001f319",
    "seedling": "\U0001f331",
    "evergreen_tree": "\U0001f332",
    "deciduous_tree": "\U0001f333",
    "cactus": "\U0001f335",
    "tulip": "\U0001f337",
    "rose": "\U0001f339",
    "ambulance": "\U0001f691",
    "police_car": "\U0001f693",
    "fire_engine": "\U0001f692",
    "car": "\U0001f697",
    "truck": "\U0001f69a",
    "airplane": "\u2708\ufe0f",
    "ship": "\U0001f6a2",
    "cat": "\U0001f431",
    "dog": "\U0001f436",
    "whale": "\U0001f433",
    "penguin": "\U0001f427",
    "snake": "\U0001f40d",
    "coffee": "\u2615",
    "beer": "\U0001f37a",
    "pizza": "\U0001f355",
    "cake": "\U0001f370",
    "video_game": "\U0001f3ae",
    "musical_note": "\U0001f3b5",
    "headphones": "\U0001f3a7",
    "camera": "\U0001f4f7",
    "movie_camera": "\U0001f3a5",
    "tv": "\U0001f4fa",
    "phone": "\u260e\ufe0f",
    "telephone_receiver": "\U0001f4de",
    "speech_balloon": "\U0001f4ac",
    "zzz": "\U0001f4a4",
    "recycle": "\u267b\ufe0f",
    "arrows_counterclockwise": "\U0001f504",
    "arrow_up": "\u2b06\ufe0f",
    "arrow_down": "\u2b07\ufe0f",
    "heavy_plus_sign": "\u2795",
    "heavy_minus_sign": "\u2796",
    "smile": "\U0001f604",
    "grinning": "\U0001f600",
    "slightly_smiling_face": "\U0001f642",
    "joy": "\U0001f602",
    "sweat_smile": "\U0001f605",
    "sunglasses": "\U0001f60e",
    "thinking": "\U0001f914",
    "cry": "\U0001f622",
    "sob": "\U0001f62d",
    "scream": "\U0001f631",
    "rage": "\U0001f621",
    "facepalm": "\U0001f926",
    "shrug": "\U0001f937",
    "wave": "\U0001f44b",
    "clap": "\U0001f44f",
    "pray": "\U0001f64f",
    "muscle": "\U0001f4aa",
    "ok_hand": "\U0001f44c",
    "see_no_evil": "\U0001f648",
}


def emoji_for(tag: str) -> str | None:
    """The emoji for an ntfy tag that is a short code (``warning``), else ``None``."""
    return EMOJI.get(tag.strip().strip(":").lower())


def _text(value: Any) -> str:
    """A JSON string (or number) as text; anything else as ``""``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    """An http action's headers, minus names that are not tokens and values HTTP cannot carry."""
    if not isinstance(value, dict):
        return ()
    return tuple(
        (name, text)
        for name, text in value.items()
        if isinstance(text, str)
        and _TOKEN.fullmatch(name)
        and text.isascii()
        and not _BAD_HEADER_VALUE.search(text)
    )


def _actions(value: Any) -> list[Action]:
    """ntfy's ``view`` and ``http`` actions (``broadcast`` is Android-only and ignored)."""
    if not isinstance(value, list):
        return []
    actions: list[Action] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        kind = _text(item.get("action")).strip().lower()
        if kind not in ("view", "http"):
            continue  # broadcast (an Android intent), copy, and whatever comes next
        url = safe_url(_text(item.get("url")), what=f"{kind} action URL")
        if not url:
            continue
        label = _text(item.get("label")).strip() or ("Open" if kind == "view" else "Send")
        if kind == "view":
            actions.append(Action(label=label, kind="view", url=url))
            continue
        method = _text(item.get("method")).strip().upper() or "POST"
        if not _TOKEN.fullmatch(method):
            continue
        actions.append(
            Action(
                label=label,
                kind="http",
                url=url,
                method=method,
                headers=_headers(item.get("headers")),
                body=_text(item.get("body")),
            )
        )
    return actions


def _size(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return ""
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{value} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # pragma: no cover - the loop always returns


def _message_text(message: dict[str, Any]) -> str:
    text = _text(message.get("message"))
    if message.get("encoding") == "base64" and text:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return text
        return clean_text(raw.decode("utf-8", "replace"))
    return text


class NtfyPreset(Preset):
    name = "ntfy"
    label = "ntfy"
    stable_ids = True
    replays = True

    def normalize_url(self, url: str) -> str:
        """``https://host/topic`` (or ``/t1,t2``, ``/topic/json``, ``/topic/raw``) -> ``/sse``."""
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return url
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return url
        segments = [s for s in parts.path.split("/") if s]
        if not segments:
            return url  # no topic: leave it to the connection to say what is wrong
        if len(segments) >= 2 and segments[-1].lower() in ENDPOINTS:
            segments[-1] = "sse"
        else:
            segments.append("sse")
        return urlunsplit(parts._replace(path="/" + "/".join(segments), fragment=""))

    def request_url(self, url: httpx.URL, cursor: str | None) -> httpx.URL:
        """Add ``since=<last message id>`` when there is a cursor (other parameters stay)."""
        if cursor:
            return url.copy_set_param("since", cursor)
        return url

    def uses_last_event_id(self) -> bool:
        return False

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """One ntfy event: a message, a withdrawal, or a control event with no notification."""
        if not event.data.strip():
            return Mapped(notification=None, reason="empty")
        ok, message = load_json(event.data)
        if not ok or not isinstance(message, dict):
            return Mapped(
                notification=Notification(
                    title=context.feed_name or "ntfy", body=event.data, feed_id=context.feed_id
                ),
                bad_payload=True,
            )
        kind = _text(message.get("event")) or event.type
        message_id = _text(message.get("id")) or None
        if kind in CONTROL_EVENTS:
            return Mapped(notification=None, reason=CONTROL_EVENTS[kind])
        if kind in WITHDRAW_EVENTS:
            # ntfy keeps these in its cache like messages, so their ids are valid cursors.
            key = _text(message.get("sequence_id")) or message_id
            return Mapped(
                notification=None,
                reason="withdrawn",
                withdraw_key=key,
                cursor=message_id,
                dedupe_id=message_id,
            )
        if kind != "message":
            return Mapped(notification=None, reason=f"ntfy event {kind!r} is not a message")
        return Mapped(
            notification=self._notification(message, context),
            cursor=message_id,
            dedupe_id=message_id,
        )

    def _notification(self, message: dict[str, Any], context: MapContext) -> Notification:
        topic = _text(message.get("topic"))
        title = _text(message.get("title")).strip()
        body = _message_text(message)

        emojis: list[str] = []
        tags: list[str] = []
        raw_tags = message.get("tags")
        for tag in raw_tags if isinstance(raw_tags, list) else ():
            text = _text(tag).strip()
            if not text:
                continue
            emoji = emoji_for(text)
            if emoji is not None:
                emojis.append(emoji)
            else:
                tags.append(text)
        # As ntfy's own apps: emoji lead the title when there is one, else the message.
        if emojis:
            prefix = " ".join(emojis)
            if title:
                title = f"{prefix} {title}"
            else:
                body = f"{prefix} {body}" if body else prefix
        title = title or topic or context.feed_name or "ntfy"

        actions = _actions(message.get("actions"))
        lines = [body] if body else []
        attachment = message.get("attachment")
        if isinstance(attachment, dict):
            name = _text(attachment.get("name")).strip() or "file"
            size = _size(attachment.get("size"))
            lines.append(f"Attachment: {name}" + (f" ({size})" if size else ""))
            link = safe_url(_text(attachment.get("url")), what="attachment URL")
            if link:
                actions.append(Action(label="Open attachment", kind="view", url=link))
        if tags:
            lines.append("Tags: " + ", ".join(tags))

        message_id = _text(message.get("id"))
        sequence_id = _text(message.get("sequence_id"))
        extra = {"topic": topic} if topic else {}
        return Notification(
            title=title,
            body="\n".join(lines),
            urgency=parse_urgency(message.get("priority")) or Urgency.NORMAL,
            icon=safe_url(_text(message.get("icon")), what="icon URL"),
            url=safe_url(_text(message.get("click")), what="click URL"),
            actions=tuple(actions),
            tags=tuple(tags),
            feed_id=context.feed_id,
            replace_key=sequence_id or message_id,
            extra=extra,
        )


register(NtfyPreset())
