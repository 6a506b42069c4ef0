"""The Firebase Realtime Database preset: put and patch notify, cancel and auth_revoked stop.

Firebase's REST streaming (SSE.md section 4) sends named events with JSON
data: ``put`` and ``patch`` carry ``{"path", "data"}`` relative to the
subscribed location, ``keep-alive`` carries nothing, ``cancel`` ends the
stream (the security rules no longer allow the read, or the data is too
large) and ``auth_revoked`` says the credential in ``auth=`` expired. The
server sends no ids and cannot replay, so a reconnect starts from a fresh
snapshot and the hub logs a "possible gap" entry.

The 307 to the serving host is followed by the connection; ``auth=`` and
``access_token=`` survive it because they are part of the URL (an
``Authorization`` header would not cross to the other origin).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tidings.core.decoder import DecodedEvent
from tidings.core.models import StopReason
from tidings.core.notification import Notification, shorten
from tidings.core.presets import MapContext, Mapped, Preset, Stop, register
from tidings.core.presets.json_preset import load_json
from tidings.core.presets.mercure import TITLE_LIMIT, one_line, summarize, text

__all__ = ["FirebasePreset"]

# Hosts of Firebase Realtime Database instances (default and regional URLs).
_FIREBASE_HOSTS = (".firebaseio.com", ".firebasedatabase.app")


class FirebasePreset(Preset):
    name = "firebase"
    label = "Firebase Realtime Database"
    stable_ids = False
    replays = False

    def normalize_url(self, url: str) -> str:
        """A database location pasted without ``.json`` gets it (the REST API needs it)."""
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return url
        host = (parts.hostname or "").lower()
        if not host.endswith(_FIREBASE_HOSTS) or parts.path.endswith(".json"):
            return url
        path = parts.path.rstrip("/")
        return urlunsplit(parts._replace(path=f"{path}.json" if path else "/.json"))

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """``put``/``patch``: "<feed>: <path>" and a summary of the data; control events stop."""
        kind = event.type
        if kind == "keep-alive":
            return Mapped(notification=None, reason="keep-alive")
        ok, value = load_json(event.data)
        if kind == "cancel":
            detail = _detail(value if ok else event.data)
            message = "the server cancelled the stream" + (f": {detail}" if detail else "")
            return Mapped(notification=None, reason="cancel", stop=Stop(StopReason.FAILED, message))
        if kind == "auth_revoked":
            detail = _detail(value if ok else event.data)
            message = (
                "the credential in the URL (auth= or access_token=) expired or was revoked"
                + (f" ({detail})" if detail else "")
                + ": set a fresh token"
            )
            return Mapped(
                notification=None,
                reason="auth_revoked",
                stop=Stop(StopReason.NEEDS_CREDENTIALS, message),
            )
        name = context.feed_name or _host(context.url) or "Firebase"
        if (
            kind in ("put", "patch")
            and isinstance(value, dict)
            and isinstance(value.get("path"), str)
        ):
            path = text(value["path"]) or "/"
            data = value.get("data")
            body = "(deleted)" if data is None and kind == "put" else summarize(data)
            note = Notification(
                title=shorten(one_line(f"{name}: {path}"), TITLE_LIMIT),
                body=body,
                feed_id=context.feed_id,
                # A later change at the same location replaces the earlier notification.
                replace_key=f"firebase:{path}",
            )
            return Mapped(notification=note)
        # Not what Firebase sends: shown raw (bad put/patch data is marked so).
        note = Notification(title=name, body=event.data, feed_id=context.feed_id)
        return Mapped(notification=note, bad_payload=kind in ("put", "patch"))


def _detail(value: object) -> str:
    """The server's reason text (a JSON string, usually), on one short line."""
    return shorten(one_line(summarize(value)), TITLE_LIMIT) if value is not None else ""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


register(FirebasePreset())
