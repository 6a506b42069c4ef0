"""One feed's connection: request, judge the response, decode, reconnect.

This is the EventSource of the WHATWG spec (SSE.md section 1) with the
policies of SSE.md section 5, over httpx:

- every request is a GET with ``Accept: text/event-stream`` and
  ``Cache-Control: no-cache``, to the original URL (R39), with
  ``Last-Event-ID`` as UTF-8 bytes on reconnects (R5);
- redirects are followed here, bounded, and on a hop to another origin no
  user-supplied header goes along (httpx alone would forward all but
  ``Authorization``);
- the status and Content-Type are judged before any byte is parsed, and the
  outcome is one of: open, stop (204), transient (retry with backoff) or
  fatal (stop with the reason);
- the body goes through our byte-level :class:`~tidings.core.decoder.SSEDecoder`;
- the last event ID and the reconnection time survive reconnects;
- no bytes for the idle timeout (httpx's read timeout, which bounds the wait
  for each chunk) means the connection is dead;
- a compressed body (``gzip``, ``deflate``: the only encodings asked for) is
  inflated here in bounded pieces, so the decoder's caps also bound memory
  against a compression bomb (httpx would inflate each read whole: 64 KiB of
  gzip can hold 64 MiB of one line).

Events and status changes go to two callbacks. Run :meth:`EventSource.run`
in a task; :meth:`EventSource.close` (or cancelling that task) stops it.

A preset whose server needs more than one GET (MCP: ``initialize`` first, a
session header on the stream, a POST whose response is the stream) passes a
:class:`ConnectHook`. EventSource awaits :meth:`ConnectHook.before_connect`
before each attempt (it may make requests with the same client and returns a
:class:`StreamRequest`), lets :meth:`ConnectHook.judge` look at each final
response first, and shows it each batch of events before ``on_events``. The
hook raises :class:`ConnectStop` or :class:`ConnectRetry` to end an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
import ssl
import time
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import truststore

from tidings import __version__
from tidings.core.backoff import Backoff
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.errors import (
    CredentialsError,
    InvalidURLError,
    SecretStoreError,
    StreamLimitExceeded,
    UsageError,
)
from tidings.core.models import ConnectionPolicy, ConnectionState, FeedStatus, StopReason
from tidings.core.redact import redact_text, redact_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "ConnectContext",
    "ConnectHook",
    "ConnectRetry",
    "ConnectStop",
    "EventSource",
    "EventsCallback",
    "StatusCallback",
    "StreamRequest",
    "content_type_essence",
    "validate_header",
    "validate_url",
]

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"Tidings/{__version__} (desktop SSE client)"
EventsCallback = Callable[[Sequence[DecodedEvent]], Awaitable[None]]
StatusCallback = Callable[[FeedStatus], None]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters HTTP/1.1 cannot carry in a header value (h11 rejects them).
_UNSENDABLE_ID_CHARS = frozenset("\x00\r\n\x0b\x0c")
# The content codings asked for (httpx would add br and zstd when their packages
# are installed); each is inflated in pieces of at most _INFLATE_PIECE bytes.
_ACCEPT_ENCODING = b"gzip, deflate"
_INFLATE_PIECE = 64 * 1024
_IDENTITY = frozenset({"", "identity"})
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def validate_url(url: str) -> httpx.URL:
    """Parse a feed URL; raise :class:`InvalidURLError` unless it is an absolute http(s) URL."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidURLError(f"cannot parse the URL {redact_url(url)!r}: {exc}") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        shown = parsed.scheme or "no scheme"
        raise InvalidURLError(
            f"unsupported URL {redact_url(url)!r} ({shown}): Tidings subscribes to http:// "
            "and https:// URLs"
        )
    if not parsed.host:
        raise InvalidURLError(f"the URL {redact_url(url)!r} names no host")
    return parsed


def validate_header(name: str, value: str) -> tuple[str, str]:
    """Check one user-supplied header; raise :class:`UsageError` naming what is wrong."""
    if not name or any(c not in _TOKEN_CHARS for c in name):
        raise UsageError(f"invalid header name {name!r}: use letters, digits and '-'")
    if any(c in "\r\n\x00" for c in value):
        raise UsageError(f"the value of header {name!r} contains a line break or NUL")
    return name, value.strip(" \t")


def content_type_essence(value: str | None) -> str:
    """The lower-cased MIME essence of a Content-Type header (``""`` when missing)."""
    if not value:
        return ""
    return value.split(";", 1)[0].strip(" \t").lower()


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


def _id_unsendable_reason(value: str) -> str | None:
    if value != value.strip(" \t"):
        return "it starts or ends with a space or tab"
    if any(c in _UNSENDABLE_ID_CHARS for c in value):
        return "it contains a control character that HTTP/1.1 cannot carry"
    return None


def _content_coding(response: httpx.Response) -> str | None:
    """The body's content coding: ``""``, ``gzip`` or ``deflate``; ``None``: not supported."""
    value = response.headers.get("content-encoding", "").strip(" \t").lower()
    if value in _IDENTITY:
        return ""
    if value in ("gzip", "x-gzip"):
        return "gzip"
    if value == "deflate":
        return "deflate"
    return None


async def body_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body's bytes, inflated in bounded pieces when the server compressed them."""
    if response.is_stream_consumed:
        # Read already (a hook that read it, a test double built from bytes): httpx decoded it.
        try:
            content = response.content
        except httpx.ResponseNotRead:  # streamed by someone else: nothing is left
            content = b""
        if content:
            yield content
        return
    coding = _content_coding(response)
    if not coding:
        async for chunk in response.aiter_raw():
            yield chunk
        return
    # gzip, or deflate with its zlib header (auto-detected); raw deflate if that header is absent.
    # A gzip body may hold several members one after the other (RFC 1952): each is inflated.
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
    first = True
    async for raw in response.aiter_raw():
        data = raw
        while data:
            if inflater.eof:
                if coding != "gzip":
                    break  # bytes after the end of a deflate stream are ignored
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            try:
                piece = inflater.decompress(data, _INFLATE_PIECE)
            except zlib.error as exc:
                if not (first and coding == "deflate"):
                    raise httpx.DecodingError(f"the {coding} body is corrupt: {exc}") from None
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                first = False
                continue
            first = False
            data = inflater.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) == _INFLATE_PIECE:
                # The input is used up but output may be pending: ask again without input.
                while piece := inflater.decompress(b"", _INFLATE_PIECE):
                    yield piece
            if inflater.eof:
                data = inflater.unused_data


def _is_tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectContext:
    """What a :class:`ConnectHook` gets before each attempt."""

    client: httpx.AsyncClient
    """The feed's own client: requests made with it share its proxy, TLS and timeouts."""
    url: httpx.URL
    """The URL of this attempt (after ``prepare_url``)."""
    headers: tuple[tuple[str, str], ...]
    """The user's headers: for ``url``'s origin only, never for another."""
    auth: httpx.Auth | None
    """The feed's credentials: for ``url``'s origin only, never for another."""
    user_agent: str
    last_event_id: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRequest:
    """The stream request a :class:`ConnectHook` asks for (the default is a plain GET)."""

    url: httpx.URL | None = None
    """``None``: the attempt's URL. Another origin gets no user header and no credentials."""
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers; one named like a default (``Accept``) replaces it."""
    content: bytes | None = None
    send_last_event_id: bool = True
    """Whether ``Last-Event-ID`` goes along (False when the hook knows it means nothing)."""


class ConnectStop(Exception):  # noqa: N818 (a signal, not an error of ours)
    """Raised by a hook: stop the feed for good with this reason."""

    def __init__(self, reason: StopReason, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.http_status = http_status


class ConnectRetry(Exception):  # noqa: N818 (a signal, not an error of ours)
    """Raised by a hook: this attempt failed transiently; reconnect with the usual backoff."""

    def __init__(
        self, message: str, http_status: int | None = None, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after


class ConnectHook(Protocol):
    """Per-feed connection logic of a preset (MCP's handshake); one instance per feed."""

    async def before_connect(self, context: ConnectContext) -> StreamRequest:
        """Prepare one attempt (may send requests with ``context.client``)."""
        ...

    async def judge(self, response: httpx.Response) -> None:
        """See the final response before the default checks; may raise ConnectStop/ConnectRetry."""
        ...

    async def on_events(self, events: Sequence[DecodedEvent]) -> None:
        """See each batch of events before ``on_events`` (may raise ConnectStop/ConnectRetry)."""
        ...

    async def aclose(self) -> None:
        """The source stops: end whatever the hook started."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outcome:
    """How one connection attempt ended."""

    kind: str  # "transient", "fatal" or "stop"
    message: str
    stop_reason: StopReason | None = None
    http_status: int | None = None
    retry_after: str | None = None
    clean_end: bool = False
    healthy: bool = False


def _hook_outcome(exc: ConnectStop | ConnectRetry) -> _Outcome:
    """What a connect hook's stop or retry means for this attempt."""
    if isinstance(exc, ConnectStop):
        return _fatal(exc.reason, exc.message, exc.http_status)
    return _Outcome(
        kind="transient",
        message=exc.message,
        http_status=exc.http_status,
        retry_after=exc.retry_after,
    )


def _fatal(reason: StopReason, message: str, status: int | None = None) -> _Outcome:
    return _Outcome(kind="fatal", message=message, stop_reason=reason, http_status=status)


class EventSource:
    """A subscription to one SSE URL, reconnecting as SSE.md says until closed or stopped."""

    def __init__(
        self,
        url: str,
        *,
        on_events: EventsCallback,
        on_status: StatusCallback | None = None,
        headers: Sequence[tuple[str, str]] = (),
        last_event_id: str = "",
        resume: bool = False,
        reconnect: bool = True,
        policy: ConnectionPolicy | None = None,
        verify: ssl.SSLContext | bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        proxy: str | None = None,
        prepare_url: Callable[[httpx.URL], httpx.URL] | None = None,
        connect_hook: ConnectHook | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare (but do not start) a subscription.

        ``last_event_id`` seeds the last event ID string; with ``resume`` it
        is sent on the first connection too (a persisted cursor), not only
        on reconnects. ``reconnect=False`` stops at the first end or failure.
        Raises :class:`InvalidURLError` or :class:`UsageError` for bad input.
        """
        self._url = validate_url(url)
        self.display_url = redact_url(str(self._url))
        self._headers = [validate_header(n, v) for n, v in headers]
        self.last_event_id = last_event_id
        self._resume = resume
        self._reconnect = reconnect
        self._policy = policy or ConnectionPolicy()
        self._verify = verify
        self._transport = transport
        self._auth = auth
        self._proxy = proxy
        self._prepare_url = prepare_url
        self._hook = connect_hook
        self._stop_with: tuple[StopReason, str] | None = None
        self._user_agent = user_agent
        self._clock = clock
        self._monotonic = monotonic
        self._on_events = on_events
        self._on_status = on_status
        self._backoff = Backoff(policy=self._policy, random=random, clock=clock)
        self._closed = False
        self._task: asyncio.Task[FeedStatus] | None = None
        self._wake: asyncio.Event | None = None
        self._warned_ids: set[str] = set()
        self.status = FeedStatus(state=ConnectionState.CONNECTING, url=self.display_url)
        self.origin = ""

    # -- public control ---------------------------------------------------

    @property
    def reconnection_time(self) -> float:
        """The current reconnection time T in seconds (the server's ``retry:`` or the default)."""
        return self._backoff.reconnection_time

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: no event is delivered after that (R33)."""
        return self._closed

    def _is_closed(self) -> bool:
        # A method, not the attribute: callbacks awaited in between may close us.
        return self._closed

    def close(self) -> None:
        """Stop for good: abort the in-flight request, cancel a pending reconnect (R41)."""
        if self._closed:
            return
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        task = self._task
        if task is not None and not task.done():
            try:
                current = asyncio.current_task()
            except RuntimeError:
                current = None
            if task is not current:
                task.cancel()

    def stop(self, reason: StopReason, message: str) -> None:
        """Stop for good because of what the stream said (a preset's control event)."""
        if self._stop_with is None:
            self._stop_with = (reason, message)
        self.close()

    def reconnect_now(self) -> None:
        """Skip the rest of a pending reconnection wait (network back, system resumed)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> FeedStatus:
        """Connect and keep connecting until closed or stopped; return the final status."""
        self._task = asyncio.current_task()
        self._wake = asyncio.Event()
        verify = self._verify
        if verify is None:
            verify = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        timeout = httpx.Timeout(
            connect=self._policy.connect_timeout,
            read=self._policy.idle_timeout,
            write=self._policy.connect_timeout,
            pool=self._policy.connect_timeout,
        )
        try:
            async with httpx.AsyncClient(
                transport=self._transport,
                proxy=self._proxy,
                verify=verify,
                timeout=timeout,
                follow_redirects=False,
                trust_env=True,
            ) as client:
                try:
                    return await self._loop(client)
                finally:
                    if self._hook is not None:
                        await self._hook.aclose()
        except asyncio.CancelledError:
            task = self._task
            if self._closed and task is not None and task.uncancel() == 0:
                return self._stopped(StopReason.CLOSED, "closed")
            raise

    # -- the reconnect loop -------------------------------------------------

    async def _loop(self, client: httpx.AsyncClient) -> FeedStatus:
        attempt = 0
        while not self._closed:
            attempt += 1
            outcome = await self._attempt(client, attempt)
            if self._is_closed():
                break
            if outcome.kind != "transient":
                assert outcome.stop_reason is not None
                return self._stopped(outcome.stop_reason, outcome.message, outcome.http_status)
            if not self._reconnect:
                reason = StopReason.ENDED if outcome.clean_end else StopReason.FAILED
                return self._stopped(reason, outcome.message, outcome.http_status)
            delay = self._backoff.next_delay(
                healthy=outcome.healthy,
                clean_end=outcome.clean_end,
                retry_after=outcome.retry_after,
            )
            self._emit(
                ConnectionState.RETRYING,
                message=outcome.message,
                attempt=attempt,
                http_status=outcome.http_status,
                delay=delay,
                next_attempt_at=self._clock() + delay,
            )
            await self._sleep(delay)
        return self._stopped(StopReason.CLOSED, "closed")

    async def _sleep(self, delay: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _emit(self, state: ConnectionState, **fields: object) -> None:
        self.status = FeedStatus(state=state, url=self.display_url, **fields)  # type: ignore[arg-type]
        if self._on_status is not None:
            self._on_status(self.status)

    def _stopped(
        self, reason: StopReason, message: str, http_status: int | None = None
    ) -> FeedStatus:
        self._closed = True
        if reason is StopReason.CLOSED and self._stop_with is not None:
            reason, message = self._stop_with
        self._emit(
            ConnectionState.STOPPED, message=message, stop_reason=reason, http_status=http_status
        )
        return self.status

    # -- one attempt ------------------------------------------------------------

    def _request_headers(
        self, *, first: bool, same_origin: bool, plan: StreamRequest | None = None
    ) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = [
            (b"Accept", b"text/event-stream"),
            (b"Accept-Encoding", _ACCEPT_ENCODING),
            (b"Cache-Control", b"no-cache"),
            (b"User-Agent", self._user_agent.encode()),
        ]
        if plan is not None and plan.headers and same_origin:
            replaced = {n.lower().encode("ascii") for n, _ in plan.headers}
            headers = [(n, v) for n, v in headers if n.lower() not in replaced]
            headers.extend((n.encode("ascii"), v.encode("utf-8")) for n, v in plan.headers)
        if same_origin:
            headers.extend((n.encode("ascii"), v.encode("utf-8")) for n, v in self._headers)
        last_id = self.last_event_id
        send_id = plan is None or plan.send_last_event_id
        if last_id and send_id and (self._resume or not first):
            why = _id_unsendable_reason(last_id)
            if why is None:
                # R5: the value is the string encoded as UTF-8 bytes (a str would go as ASCII).
                headers.append((b"Last-Event-ID", last_id.encode("utf-8")))
            elif last_id not in self._warned_ids:
                self._warned_ids.add(last_id)
                logger.warning(
                    "%s: not sending Last-Event-ID %r: %s; reconnecting without it",
                    self.display_url,
                    last_id[:80],
                    why,
                )
        return headers

    async def _attempt(self, client: httpx.AsyncClient, attempt: int) -> _Outcome:
        self._emit(ConnectionState.CONNECTING, attempt=attempt)
        if self._is_closed():  # the status callback may have closed us: send nothing (R41)
            return _Outcome(kind="transient", message="closed")
        try:
            plan = await self._before_connect(client, attempt)
            opened = await self._open(client, first=attempt == 1, plan=plan)
        except (ConnectStop, ConnectRetry) as exc:
            return _hook_outcome(exc)
        except httpx.HTTPError as exc:
            return self._classify(exc)
        except SecretStoreError as exc:
            # Retrying on our own could pop up an unlock prompt again and again: stop, say why.
            return _fatal(StopReason.KEYRING_UNAVAILABLE, f"keyring unavailable: {exc}")
        except CredentialsError as exc:
            return _fatal(StopReason.NEEDS_CREDENTIALS, str(exc))
        if isinstance(opened, _Outcome):
            return opened
        response = opened
        try:
            if self._hook is not None:
                try:
                    await self._hook.judge(response)
                except (ConnectStop, ConnectRetry) as exc:
                    return _hook_outcome(exc)
                except httpx.HTTPError as exc:
                    return self._classify(exc)
            verdict = self._judge(response)
            if verdict is not None:
                return verdict
            return await self._consume(response)
        finally:
            await response.aclose()

    def _attempt_url(self) -> httpx.URL:
        # A preset may shape each attempt (ntfy's since=<cursor>); the feed's URL stays the base.
        return self._url if self._prepare_url is None else self._prepare_url(self._url)

    async def _before_connect(
        self, client: httpx.AsyncClient, attempt: int
    ) -> StreamRequest | None:
        if self._hook is None:
            return None
        context = ConnectContext(
            client=client,
            url=self._attempt_url(),
            headers=tuple(self._headers),
            auth=self._auth,
            user_agent=self._user_agent,
            last_event_id=self.last_event_id,
            attempt=attempt,
        )
        return await self._hook.before_connect(context)

    async def _open(
        self, client: httpx.AsyncClient, *, first: bool, plan: StreamRequest | None = None
    ) -> httpx.Response | _Outcome:
        """Send the request and follow redirects (bounded); return the final response."""
        url = self._attempt_url()
        start_origin = _origin(url)
        method = "GET"
        content: bytes | None = None
        if plan is not None:
            method = plan.method
            content = plan.content
            if plan.url is not None:
                url = plan.url
        same_origin = _origin(url) == start_origin
        visited = {str(url)}
        for _hop in range(self._policy.max_redirects + 1):
            request = client.build_request(
                method,
                url,
                headers=self._request_headers(first=first, same_origin=same_origin, plan=plan),
                content=content,
            )
            # Credentials go only to the feed's own origin, never to a redirect target elsewhere.
            auth = (
                self._auth if same_origin and self._auth is not None else httpx.USE_CLIENT_DEFAULT
            )
            response = await client.send(request, stream=True, auth=auth)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or location is None:
                self.origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
                return response
            await response.aclose()
            try:
                target = url.join(location)
            except httpx.InvalidURL:
                return _fatal(
                    StopReason.REDIRECT,
                    f"the server redirected to an invalid URL {redact_url(location)!r}",
                    response.status_code,
                )
            if target.scheme not in _DEFAULT_PORTS:
                return _fatal(
                    StopReason.REDIRECT,
                    f"the server redirected to an unsupported URL {redact_url(str(target))!r}",
                    response.status_code,
                )
            if _origin(target) != start_origin:
                # Once the chain leaves the feed's origin, no user-supplied
                # header (credentials, cookies, -H) goes along, even if it returns.
                same_origin = False
            key = str(target)
            if key in visited:
                return _fatal(
                    StopReason.REDIRECT,
                    f"redirect loop at {redact_url(key)}",
                    response.status_code,
                )
            visited.add(key)
            url = target
            if response.status_code in (301, 302, 303) and method != "GET":
                # As browsers do: the body is not sent again to where a 303 points.
                method, content = "GET", None
        return _fatal(
            StopReason.REDIRECT,
            f"too many redirects (more than {self._policy.max_redirects})",
        )

    def _judge(self, response: httpx.Response) -> _Outcome | None:
        """Status and Content-Type checks (SSE.md section 5); ``None`` means open."""
        status = response.status_code
        phrase = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status == 200:
            essence = content_type_essence(response.headers.get("content-type"))
            if essence == "text/event-stream":
                if _content_coding(response) is None:
                    coding = response.headers.get("content-encoding", "")
                    return _fatal(
                        StopReason.NOT_EVENT_STREAM,
                        f"the server compressed the stream as {redact_text(coding[:40])!r}, "
                        "which Tidings did not ask for and cannot read",
                        status,
                    )
                return None
            shown = essence or "no Content-Type"
            return _fatal(
                StopReason.NOT_EVENT_STREAM,
                f"the server answered {shown}, not an event stream (is the URL right?)",
                status,
            )
        if status == 204:
            return _Outcome(
                kind="stop",
                message="the server answered 204 No Content: it asks not to reconnect",
                stop_reason=StopReason.NO_CONTENT,
                http_status=status,
            )
        if status in (408, 429) or 500 <= status <= 599:
            return _Outcome(
                kind="transient",
                message=phrase,
                http_status=status,
                retry_after=response.headers.get("retry-after"),
            )
        if status in (401, 403):
            return _fatal(
                StopReason.NEEDS_CREDENTIALS,
                f"{phrase}: the server needs valid credentials (check the token or password)",
                status,
            )
        return _fatal(StopReason.HTTP_STATUS, phrase, status)

    async def _consume(self, response: httpx.Response) -> _Outcome:
        """Announce the connection, then decode the body until it ends."""
        self._emit(ConnectionState.OPEN, http_status=response.status_code)
        opened_at = self._monotonic()
        policy = self._policy
        decoder = SSEDecoder(
            last_event_id=self.last_event_id,
            max_line_length=policy.max_line_length,
            max_event_size=policy.max_event_size,
            max_id_length=policy.max_id_length,
        )
        delivered = False
        outcome: _Outcome
        try:
            async with contextlib.aclosing(body_chunks(response)) as chunks:
                async for chunk in chunks:
                    events = decoder.feed(chunk)
                    self._absorb(decoder)
                    if events:
                        if self._is_closed():
                            break
                        delivered = True
                        if self._hook is not None:
                            await self._hook.on_events(events)
                        await self._on_events(events)
                        if self._is_closed():
                            break
            decoder.close()
            outcome = _Outcome(
                kind="transient", message="the server closed the stream", clean_end=True
            )
        except StreamLimitExceeded as exc:
            # Events completed in the same read before the offending bytes are good: keep them.
            self._absorb(decoder)
            if exc.completed and not self._is_closed():
                delivered = True
                await self._on_events(exc.completed)
            outcome = _Outcome(
                kind="transient", message=f"the server sent {exc}; dropped the connection"
            )
        except httpx.HTTPError as exc:
            outcome = self._classify(exc)
        except ConnectStop as exc:
            outcome = _fatal(exc.reason, exc.message, exc.http_status)
        except ConnectRetry as exc:
            outcome = _Outcome(kind="transient", message=exc.message)
        healthy = delivered or self._monotonic() - opened_at >= policy.healthy_after
        return _Outcome(
            kind=outcome.kind,
            message=outcome.message,
            stop_reason=outcome.stop_reason,
            clean_end=outcome.clean_end,
            healthy=healthy,
        )

    def _absorb(self, decoder: SSEDecoder) -> None:
        """Take over what the decoder committed: the last event ID and a new ``retry:``."""
        if decoder.retry_ms is not None:
            self._backoff.set_retry_ms(decoder.retry_ms)
            decoder.retry_ms = None
        self.last_event_id = decoder.last_event_id

    def _classify(self, exc: httpx.HTTPError) -> _Outcome:
        """Map an httpx failure to fatal (TLS) or transient (everything else on the wire)."""
        tls = _is_tls_failure(exc)
        if tls is not None:
            detail = getattr(tls, "verify_message", None) or str(tls)
            return _fatal(
                StopReason.TLS,
                f"the server's TLS certificate was rejected ({detail}); if it comes from a "
                "private CA, add that CA to the system's trust store",
            )
        if isinstance(exc, httpx.ReadTimeout):
            message = (
                f"no data for {self._policy.idle_timeout:g} s; the connection is presumed dead"
            )
        elif isinstance(exc, httpx.ConnectTimeout):
            message = "connecting timed out"
        elif isinstance(exc, httpx.TimeoutException):
            message = "the request timed out"
        elif isinstance(exc, httpx.ConnectError):
            message = f"cannot connect: {_short(exc)}"
        elif isinstance(exc, httpx.RemoteProtocolError):
            message = f"the connection broke: {_short(exc)}"
        elif isinstance(exc, httpx.UnsupportedProtocol):
            return _fatal(StopReason.REDIRECT, f"unsupported URL: {_short(exc)}")
        elif isinstance(exc, httpx.LocalProtocolError):
            return _fatal(StopReason.FAILED, f"cannot send the request: {_short(exc)}")
        elif isinstance(exc, httpx.ProxyError) and "password" in str(exc).lower():
            # The proxy refused our credentials: retrying changes nothing (as for 401/403).
            return _fatal(
                StopReason.NEEDS_CREDENTIALS, f"the proxy refused the credentials: {_short(exc)}"
            )
        else:
            message = f"connection lost: {_short(exc)}"
        return _Outcome(kind="transient", message=message)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().split("\n", 1)[0] or type(exc).__name__
    return redact_text(text)
