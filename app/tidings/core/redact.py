"""Keeping secrets out of anything shown or logged: URLs, header lists, log records."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "KnownSecrets",
    "RedactingFilter",
    "redact_text",
    "redact_url",
]

REDACTED = "***"

# Query parameters that carry credentials in the servers our users run:
# ntfy `auth=`, Firebase `auth=`/`access_token=`, Mercure `authorization=`, and the usual suspects.
SECRET_PARAMS = frozenset(
    {
        "auth",
        "authorization",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
        "sig",
        "signature",
        "jwt",
    }
)
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# A query piece outside a full URL (a request target such as ``/events?auth=...``).
_QUERY_PIECE_RE = re.compile(r"(?<=[?&;])([A-Za-z0-9_.%-]+)=([^&;#\s'\"<>]*)")
# Credentials as they appear in an Authorization header.
_SCHEME_CREDENTIAL_RE = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _is_secret_name(raw_name: str) -> bool:
    return unquote_plus(raw_name).strip().lower() in SECRET_PARAMS


def _redact_query(query: str) -> str:
    """``query`` with the values of credential parameters replaced; everything else as written."""
    pieces = query.split("&")
    for index, piece in enumerate(pieces):
        name, sep, _value = piece.partition("=")
        if sep and _is_secret_name(name):
            pieces[index] = f"{name}={REDACTED}"
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """The URL with its password and credential query parameters replaced by ``***``.

    User info without a password (``https://TOKEN@host``) is often a token
    itself, so it goes too. The rest of the URL is kept exactly as written.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    # OAuth's implicit flow puts access_token= in the fragment: treat it like a query.
    query = _redact_query(parts.query) if parts.query else ""
    fragment = _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: str) -> str:
    """Credentials in a free-form text redacted (for log lines such as httpx's).

    Every URL, every credential query piece outside a URL (a request target),
    and every ``Bearer``/``Basic`` credential.
    """
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    text = _QUERY_PIECE_RE.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if _is_secret_name(m.group(1)) else m.group(0),
        text,
    )
    return _SCHEME_CREDENTIAL_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class KnownSecrets:
    """The secret values in use in this process, so that no output can ever carry one.

    Credentials are registered when they are read from the keyring; every log
    line then has them replaced, whatever parameter or header carried them.
    Safe to use from several threads.
    """

    _MIN_LENGTH = 4  # shorter values would redact ordinary words

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) < self._MIN_LENGTH or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            # Longest first, so that a secret containing another is replaced whole.
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites log records so that URLs in them never carry credentials, nor any known secret.

    The message, the formatted exception and the stack are cleaned. Attach it
    to a handler (a logger's filters do not see its children's records). It
    never drops a record and never raises.
    """

    def __init__(self, known: KnownSecrets | None = None) -> None:
        super().__init__()
        self._known = known

    def _clean(self, text: str) -> str:
        cleaned = redact_text(text)
        if self._known is not None:
            cleaned = self._known.redact(cleaned)
        return cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: the handler reports it
            return True
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text: fill it, cleaned, before they format.
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
