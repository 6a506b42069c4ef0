"""The feed editor's core: test a feed before saving it, detect its preset, check its settings.

:func:`test_feed` connects once (no reconnect), collects the first few
events and what each would pop up as, and says in words why it failed
("401: the token was rejected", "the server answered text/html, not an event
stream", "no answer within 10 s"). It uses the secrets typed in the editor
(not saved yet) over the stored ones, and never writes, logs or returns a
secret.

The previews are the preset's mapping only, exactly as the hub maps events;
the feed's own rules are reported per event (:attr:`FeedTestResult.rule_reasons`:
off, muted, filtered) but flood limits, backlog summaries and quiet hours,
which depend on time and on other events, are not applied.

:func:`detect_preset` guesses the preset from a URL, :func:`check_feed`
names every problem of a feed's settings field by field (for inline
messages), and :func:`secret_changes` says which keyring slots an edit sets
or deletes.
"""

# ruff: noqa: PT028  (test_feed tests a feed; it is not a pytest test)
from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tidings.core.auth import FeedAuth
from tidings.core.config import KNOWN_PRESETS, feed_from_dict, feed_to_dict
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import InvalidURLError, SecretStoreError, TidingsError, UsageError
from tidings.core.hub import ssl_context_for
from tidings.core.models import (
    AuthKind,
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedStatus,
    StopReason,
)
from tidings.core.notification import Notification
from tidings.core.presets import MapContext, Mapped, Preset, get_preset
from tidings.core.redact import KnownSecrets
from tidings.core.rules import Candidate, RuleContext, compile_filter, screen
from tidings.core.secrets import SecretStore, auth_slot, header_slot
from tidings.core.sse import EventSource, validate_header, validate_url

__all__ = [
    "FeedProblem",
    "FeedTestResult",
    "check_feed",
    "detect_preset",
    "needed_slots",
    "secret_changes",
    "test_feed",
]

logger = logging.getLogger(__name__)

# -- preset detection ------------------------------------------------------------------

_NTFY_ENDPOINTS = frozenset({"sse", "json", "raw", "ws"})


def detect_preset(url: str) -> str:
    """The preset a URL most likely needs (``plain`` when nothing is recognised).

    ntfy.sh (or a host named ``ntfy.*``) and ``/<topic>/sse`` paths: ntfy;
    ``/.well-known/mercure``: mercure; stream.wikimedia.org: eventstreams;
    smee.io: smee; Firebase Realtime Database hosts: firebase; a path ending
    in ``/mcp``: mcp. Pure: no request is made.
    """
    try:
        parsed = validate_url(url.strip())
    except InvalidURLError:
        return "plain"
    host = parsed.host.lower()
    segments = [s for s in parsed.path.split("/") if s]
    if host == "stream.wikimedia.org":
        return "eventstreams"
    if host == "smee.io" or host.endswith(".smee.io"):
        return "smee"
    if host.endswith((".firebaseio.com", ".firebasedatabase.app")):
        return "firebase"
    if "/.well-known/mercure" in parsed.path:
        return "mercure"
    if host == "ntfy.sh" or host.startswith("ntfy."):
        return "ntfy"
    if len(segments) >= 2 and segments[-1] in _NTFY_ENDPOINTS:
        return "ntfy"
    if segments and segments[-1] == "mcp":
        return "mcp"
    return "plain"


# -- checking a feed's settings ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """One thing wrong with a feed's settings: the field (``url``, ``headers[1].name``...)."""

    field: str
    message: str


def check_feed(feed: Feed, *, other_names: Collection[str] = ()) -> list[FeedProblem]:
    """Every problem of ``feed`` that the settings file would refuse, one per field.

    Field names: ``name``, ``url``, ``preset``, ``preset_options``,
    ``auth.username``, ``auth.header_name``, ``auth.query_param``,
    ``auth.command``, ``headers[i].name``, ``headers[i].value``, ``proxy``,
    ``idle_timeout``, ``tls.ca_file``, ``rules.filter``, ``rules.event_types``.
    ``other_names`` are the names of the other feeds (names must be unique,
    compared without case). Pure apart from checking that a CA file exists.
    """
    problems: list[FeedProblem] = []

    def add(field: str, message: str) -> None:
        problems.append(FeedProblem(field, message))

    name = feed.name.strip()
    if not name:
        add("name", "give the feed a name")
    elif name.casefold() in {n.strip().casefold() for n in other_names}:
        add("name", f"another feed is already called {name!r}")
    if not feed.url.strip():
        add("url", "enter the URL of the event stream (http:// or https://)")
    else:
        try:
            validate_url(feed.url)
        except InvalidURLError as exc:
            add("url", str(exc))
    if feed.preset not in KNOWN_PRESETS:
        add("preset", f"unknown preset {feed.preset!r}")
    elif feed.preset == "json" and feed.preset_options:
        from tidings.core.presets.json_preset import check_options  # noqa: PLC0415

        for problem in check_options(dict(feed.preset_options)):
            add("preset_options", problem)
    auth = feed.auth
    if auth.kind is AuthKind.BASIC and not auth.username.strip():
        add("auth.username", "enter the user name")
    if auth.kind is AuthKind.HEADER:
        if not auth.header_name:
            add("auth.header_name", "enter the header's name, for example X-Api-Key")
        else:
            try:
                validate_header(auth.header_name, "")
            except UsageError as exc:
                add("auth.header_name", str(exc))
    if auth.kind is AuthKind.QUERY and not auth.query_param.strip():
        add("auth.query_param", "enter the query parameter's name, for example auth")
    if auth.kind is AuthKind.COMMAND and not auth.command.strip():
        add("auth.command", "enter the command that prints the token")
    seen: set[str] = set()
    for index, header in enumerate(feed.headers):
        where = f"headers[{index}]"
        try:
            validate_header(header.name, "")
        except UsageError as exc:
            add(f"{where}.name", str(exc))
            continue
        if header.name.lower() in seen:
            add(f"{where}.name", f"the header {header.name!r} is listed twice")
        seen.add(header.name.lower())
        if not header.secret:
            try:
                validate_header(header.name, header.value)
            except UsageError as exc:
                add(f"{where}.value", str(exc))
    proxy = feed.proxy.strip()
    if proxy:
        if not proxy.lower().startswith(("http://", "https://", "socks5://", "socks5h://")):
            add("proxy", "use an http://, https://, socks5:// or socks5h:// URL, or leave it empty")
        elif "@" in proxy.split("://", 1)[1].split("/", 1)[0]:
            add("proxy", "a proxy with a user name or password is not supported yet")
    if not feed.idle_timeout > 0:
        add("idle_timeout", "must be a positive number of seconds")
    if feed.tls.ca_file and not Path(feed.tls.ca_file).is_file():
        add("tls.ca_file", f"no such file: {feed.tls.ca_file}")
    if feed.rules.text_filter:
        try:
            compile_filter(feed.rules.text_filter)
        except re.error as exc:
            add("rules.filter", f"not a valid regular expression: {exc}")
    if any(not t.strip() for t in feed.rules.event_types):
        add("rules.event_types", "an event type cannot be empty")
    if not problems:
        # Whatever else the settings file would refuse (one message, where it applies).
        try:
            feed_from_dict(feed_to_dict(replace(feed, id=feed.id or "new")), where="feed")
        except ValueError as exc:
            where = getattr(exc, "where", "feed")
            message = getattr(exc, "message", str(exc))
            add(where.removeprefix("feed").lstrip(".") or "feed", message)
    return problems


# -- secrets ----------------------------------------------------------------------------


def needed_slots(feed: Feed) -> list[tuple[str, str]]:
    """The keyring slots ``feed`` reads when it connects, each with what it holds (in words)."""
    slots: list[tuple[str, str]] = []
    what = {
        AuthKind.BASIC: "password",
        AuthKind.BEARER: "token",
        AuthKind.HEADER: "secret header value",
        AuthKind.QUERY: "token",
    }.get(feed.auth.kind)
    if what is not None:
        slots.append((auth_slot(), what))
    slots.extend(
        (header_slot(h.name), f"value of the header {h.name}") for h in feed.headers if h.secret
    )
    return slots


def secret_changes(
    old: Feed | None,
    new: Feed,
    *,
    typed: Mapping[str, str],
    remove: Collection[str] = (),
) -> dict[str, str]:
    """The ``{slot: value}`` map to save for an edit: typed values, and ``""`` to delete.

    ``typed`` holds the non-empty values the user typed (by slot); ``remove``
    the slots the user asked to forget. A slot the old feed used and the new
    one no longer reads (auth turned off, a secret header removed or renamed)
    is deleted too, so no orphaned secret stays in the keyring. Moving a
    renamed header's stored value is the caller's business (it needs a read).
    """
    wanted = {slot for slot, _ in needed_slots(new)}
    changes: dict[str, str] = dict.fromkeys(remove, "")
    if old is not None:
        for slot, _ in needed_slots(old):
            if slot not in wanted:
                changes[slot] = ""
    for slot, value in typed.items():
        if value and slot in wanted:
            changes[slot] = value
    return changes


class _Overlay:
    """The stored secrets, with the values typed in the editor on top (``""``: deleted)."""

    def __init__(self, store: SecretStore | None, feed_id: str, extra: Mapping[str, str]) -> None:
        self._store = store
        self._feed_id = feed_id
        self._extra = dict(extra)

    @property
    def name(self) -> str:
        return "editor" if self._store is None else self._store.name

    async def get(self, feed_id: str, slot: str) -> str | None:
        if slot in self._extra:
            return self._extra[slot] or None
        if self._store is None or not self._feed_id:
            return None  # a new feed has nothing stored yet
        return await self._store.get(self._feed_id, slot)

    async def set(self, feed_id: str, slot: str, value: str) -> None:
        raise TidingsError("a feed test never writes a secret")

    async def delete(self, feed_id: str, slot: str) -> None:
        raise TidingsError("a feed test never deletes a secret")


# -- testing a feed ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedTestResult:
    """What one test connection found."""

    ok: bool
    message: str
    """The outcome in words: "the feed works: 3 event(s) received", or the exact failure."""
    events: tuple[DecodedEvent, ...] = ()
    previews: tuple[Notification | None, ...] = ()
    """Per event, what the preset makes of it (``None``: no popup, see :attr:`preview_reasons`)."""
    preview_reasons: tuple[str, ...] = ()
    """Per event, why the preset shows nothing (``keep-alive``, ``control``...), else ``""``."""
    rule_reasons: tuple[str, ...] = ()
    """Per event, why the feed's rules would not show the preview (``off``, ``filtered``,
    ``muted``), else ``""``. Flood limits and quiet hours are not applied."""
    http_status: int | None = None
    stop_reason: StopReason | None = None
    detail: str = ""
    """The connection's own message, when :attr:`message` rephrases it."""


def _credential_message(feed: Feed, status: FeedStatus) -> str:
    """A 401/403 in words that say which credential the server did not take."""
    code = status.http_status
    if code is None:
        return status.message  # a missing or unusable credential: auth.py's message says which
    kind = feed.auth.kind
    secret_headers = [h.name for h in feed.headers if h.secret]
    if kind is AuthKind.NONE and not secret_headers:
        what = "the server needs credentials, and this feed sends none (choose an authentication)"
    elif kind is AuthKind.BASIC:
        what = "the user name or password was rejected"
    elif kind in (AuthKind.BEARER, AuthKind.QUERY, AuthKind.COMMAND):
        what = "the token was rejected"
    elif kind is AuthKind.HEADER:
        what = f"the value of the {feed.auth.header_name} header was rejected"
    else:
        what = f"the credentials were rejected (secret headers: {', '.join(secret_headers)})"
    if code == 403:
        what = "access denied: " + what.replace("was rejected", "has no access").replace(
            "were rejected", "have no access"
        )
    return f"{code}: {what}"


async def test_feed(
    feed: Feed,
    *,
    secrets: SecretStore | None,
    known: KnownSecrets | None = None,
    extra_secrets: Mapping[str, str] | None = None,
    max_events: int = 3,
    timeout: float = 10.0,  # noqa: ASYNC109 (a deadline for the test, not for a call)
    on_progress: Callable[[str], None] | None = None,
) -> FeedTestResult:
    """Connect to ``feed`` once and report what happened; never raises for a feed's failure.

    ``extra_secrets`` are values typed in the editor and not saved yet, by
    slot (``""`` hides a stored one); they win over ``secrets`` (the stored
    ones, read under ``feed.id``). The test ends after ``max_events`` events,
    after ``timeout`` seconds (a connected feed that sent fewer events still
    works), or at the first failure. Cancelling the calling task closes the
    connection. ``on_progress`` gets short plain-text lines while it runs.
    """
    say = on_progress or (lambda _line: None)
    store = _Overlay(secrets, feed.id, extra_secrets or {})
    for slot, what in needed_slots(feed):
        try:
            value = await store.get(feed.id, slot)
        except SecretStoreError as exc:
            return FeedTestResult(ok=False, message=f"keyring unavailable: {exc}")
        if not value:
            return FeedTestResult(
                ok=False,
                message=f"no {what} entered or stored for this feed",
                stop_reason=StopReason.NEEDS_CREDENTIALS,
            )
    try:
        preset = get_preset(feed.preset)
    except KeyError as exc:
        return FeedTestResult(ok=False, message=str(exc.args[0]))
    try:
        verify = ssl_context_for(feed)
    except (OSError, ssl.SSLError) as exc:
        return FeedTestResult(
            ok=False, message=f"cannot use the CA file {feed.tls.ca_file}: {exc}", stop_reason=None
        )
    if not feed.tls.verify:
        say("warning: certificate checks are off for this feed")
    if feed.auth.kind is AuthKind.COMMAND:
        say("running the token command")
    collector = _Collector(feed, preset, max_events=max_events, say=say)
    hook = preset.connect_hook(dict(feed.preset_options))
    collector.context = MapContext(
        feed_id=feed.id,
        feed_name=feed.name,
        url=feed.url,
        options=getattr(hook, "map_options", dict(feed.preset_options)),
    )
    auth = FeedAuth(feed, secrets=store, known=known)
    policy = ConnectionPolicy(connect_timeout=timeout, idle_timeout=feed.idle_timeout)
    try:
        source = EventSource(
            preset.normalize_url(feed.url),
            on_events=collector.events,
            on_status=collector.status,
            prepare_url=None
            if preset.uses_last_event_id()
            else (lambda url: preset.request_url(url, None)),
            headers=[(h.name, h.value) for h in feed.headers if not h.secret],
            auth=auth if auth.needed else None,
            reconnect=False,
            policy=policy,
            verify=verify,
            proxy=feed.proxy or None,
            connect_hook=hook,
        )
    except TidingsError as exc:
        return FeedTestResult(ok=False, message=str(exc))
    collector.source = source
    loop = asyncio.get_running_loop()
    timed_out: list[bool] = []

    def on_timeout() -> None:
        timed_out.append(True)
        source.close()

    timer = loop.call_later(timeout, on_timeout)
    try:
        final = await source.run()
    finally:
        timer.cancel()
    return collector.result(final, timed_out=bool(timed_out), timeout=timeout)


test_feed.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name


class _Collector:
    """Gathers one test's events, previews and progress."""

    def __init__(
        self, feed: Feed, preset: Preset, *, max_events: int, say: Callable[[str], None]
    ) -> None:
        self.feed = feed
        self.preset = preset
        self.remaining = max_events
        self.say = say
        self.context = MapContext()
        self.source: EventSource | None = None
        self.events_seen: list[DecodedEvent] = []
        self.mapped: list[Mapped] = []
        self.opened_with: int | None = None
        self._rules = RuleContext.for_feed(feed, firehose=preset.firehose)

    async def events(self, events: Sequence[DecodedEvent]) -> None:
        for event in events[: max(self.remaining, 0)]:
            mapped = _map(self.preset, event, self.context)
            self.events_seen.append(event)
            self.mapped.append(mapped)
            self.remaining -= 1
            if mapped.stop is not None and self.source is not None:
                self.source.stop(mapped.stop.reason, mapped.stop.message)
                break
        self.say(f"received {len(self.events_seen)} event(s)")
        if self.remaining <= 0 and self.source is not None:
            self.source.close()

    def status(self, status: FeedStatus) -> None:
        if status.state is ConnectionState.CONNECTING:
            self.say(f"connecting to {status.url}")
        elif status.state is ConnectionState.OPEN:
            self.opened_with = status.http_status or 200
            self.say(f"connected (HTTP {self.opened_with}); waiting for events")

    def result(self, final: FeedStatus, *, timed_out: bool, timeout: float) -> FeedTestResult:
        now = time.time()
        previews = tuple(m.notification for m in self.mapped)
        preview_reasons = tuple(
            "" if m.notification is not None else (m.reason or "dropped by the preset")
            for m in self.mapped
        )
        rule_reasons = []
        for event, m in zip(self.events_seen, self.mapped, strict=True):
            if m.notification is None:
                rule_reasons.append("")
                continue
            candidate = Candidate(
                event_type=event.type, data=event.data, notification=m.notification
            )
            verdict = screen(candidate, self._rules, now=now)
            rule_reasons.append("" if verdict is None else verdict.value)
        got = len(self.events_seen)
        base = FeedTestResult(
            ok=True,
            message="",
            events=tuple(self.events_seen),
            previews=previews,
            preview_reasons=preview_reasons,
            rule_reasons=tuple(rule_reasons),
            http_status=final.http_status or self.opened_with,
        )
        reason = final.stop_reason
        if self.remaining <= 0:
            return replace(base, message=f"the feed works: {got} event(s) received")
        if timed_out:
            if self.opened_with is not None:
                message = f"the feed works: connected, {got} event(s) within {timeout:g} s"
                return replace(base, message=message)
            return replace(
                base,
                ok=False,
                message=f"no answer within {timeout:g} s",
                stop_reason=StopReason.FAILED,
            )
        if reason is StopReason.NEEDS_CREDENTIALS:
            return replace(
                base,
                ok=False,
                message=_credential_message(self.feed, final),
                stop_reason=reason,
                detail=final.message,
            )
        if reason is not None and reason.is_error:
            return replace(base, ok=False, message=final.message, stop_reason=reason)
        if reason is StopReason.ENDED:
            message = f"the feed works: the server closed the stream after {got} event(s)"
            return replace(base, message=message, stop_reason=reason)
        return replace(base, message=final.message, stop_reason=reason)


def _map(preset: Preset, event: DecodedEvent, context: MapContext) -> Mapped:
    """The preset's mapping, as the hub does it: a preset failing on odd data shows it raw."""
    try:
        return preset.map(event, context)
    except Exception:
        logger.exception("preset %s failed on a test event", preset.name)
        return Mapped(
            notification=Notification(title=context.feed_name or event.type, body=event.data),
            bad_payload=True,
        )
