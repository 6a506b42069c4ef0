"""Keeping secrets out of anything shown or logged: URLs, header lists, log records."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def redact_url(url: str) -> str:
    """The URL with its password and credential query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_PARAMS for name, _ in pairs):
            query = urlencode(
                [(n, REDACTED if n.lower() in SECRET_PARAMS else v) for n, v in pairs],
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every URL inside a free-form text redacted (for log lines such as httpx's)."""
    return _URL_RE.sub(lambda m: redact_url(m.group(0)), text)


class KnownSecrets:
    """The secret values in use in this process, so that no output can ever carry one.

    Credentials are registered when they are read from the keyring; every log
    line then has them replaced, whatever parameter or header carried them.
    """

    _MIN_LENGTH = 4  # shorter values would redact ordinary words

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if len(value) >= self._MIN_LENGTH:
            self._values.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites log records so that URLs in them never carry credentials, nor any known secret.

    Attach it to a handler (a logger's filters do not see its children's records).
    """

    def __init__(self, known: KnownSecrets | None = None) -> None:
        super().__init__()
        self._known = known

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if self._known is not None:
            cleaned = self._known.redact(cleaned)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
