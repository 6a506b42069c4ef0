"""Running a notification's ``http`` action (ntfy's kind) when, and only when, a person clicks it.

Nothing here runs by itself: a notifier calls :func:`run_http_action` from the
click handler of the button. The request goes to an http(s) URL only, with a
timeout; a redirect is followed only within the same origin (scheme, host,
port), so a server cannot bounce the action's headers (often a token) to
somebody else. The outcome is logged (URL redacted, headers never) and
returned.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import truststore

from tidings.core.notification import Action, safe_url
from tidings.core.redact import redact_url

__all__ = ["HTTP_ACTION_TIMEOUT", "HttpActionResult", "default_client_factory", "run_http_action"]

logger = logging.getLogger(__name__)

HTTP_ACTION_TIMEOUT = 15.0
"""Seconds an action's request may take, connect to last byte."""
MAX_SAME_ORIGIN_REDIRECTS = 5
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpActionResult:
    """What became of one click: ``ok`` for a 2xx answer; ``detail`` says it for a person."""

    ok: bool
    status: int | None
    detail: str


ClientFactory = Callable[[], httpx.AsyncClient]


def default_client_factory() -> httpx.AsyncClient:
    """A client with the OS trust store, a timeout, and redirects left to us."""
    return httpx.AsyncClient(
        verify=truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        timeout=HTTP_ACTION_TIMEOUT,
        follow_redirects=False,
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port)


async def run_http_action(
    action: Action, *, client_factory: ClientFactory = default_client_factory
) -> HttpActionResult:
    """Send ``action``'s request (method, headers, body) once; never raises for network errors."""
    url = safe_url(action.url, what="http action URL")
    shown = redact_url(action.url) if url else "(no URL)"
    if action.kind != "http" or not url:
        result = HttpActionResult(ok=False, status=None, detail="not an http(s) action")
        logger.warning("http action %r refused: %s", action.label, result.detail)
        return result
    method = (action.method or "POST").upper()
    if method not in _METHODS:
        result = HttpActionResult(ok=False, status=None, detail=f"method {method} not allowed")
        logger.warning("http action %r refused: %s", action.label, result.detail)
        return result
    origin = _origin(url)
    body = action.body.encode() if action.body else None
    try:
        async with client_factory() as client:
            for _ in range(MAX_SAME_ORIGIN_REDIRECTS + 1):
                response = await client.request(
                    method,
                    url,
                    headers=list(action.headers),
                    content=body,
                    timeout=HTTP_ACTION_TIMEOUT,
                    follow_redirects=False,
                )
                await response.aclose()
                location = response.headers.get("location")
                if not (response.is_redirect and location):
                    break
                target = urljoin(url, location)
                if not safe_url(target) or _origin(target) != origin:
                    result = HttpActionResult(
                        ok=False,
                        status=response.status_code,
                        detail="redirected to another origin: not followed",
                    )
                    logger.warning("http action %r to %s: %s", action.label, shown, result.detail)
                    return result
                url = target
                if response.status_code == 303:
                    method, body = "GET", None
            else:
                result = HttpActionResult(
                    ok=False, status=response.status_code, detail="too many redirects"
                )
                logger.warning("http action %r to %s: %s", action.label, shown, result.detail)
                return result
    except httpx.HTTPError as exc:
        result = HttpActionResult(ok=False, status=None, detail=f"{type(exc).__name__}: {exc}")
        logger.warning("http action %r to %s failed: %s", action.label, shown, result.detail)
        return result
    ok = response.is_success
    result = HttpActionResult(
        ok=ok, status=response.status_code, detail=f"HTTP {response.status_code}"
    )
    if ok:
        logger.info("http action %r to %s: %s", action.label, shown, result.detail)
    else:
        logger.warning("http action %r to %s: %s", action.label, shown, result.detail)
    return result
