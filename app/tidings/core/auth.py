"""A feed's credentials, fetched from the secret store at each connection attempt.

Implemented as an ``httpx.Auth`` so that a credential changed while Tidings
runs is used at the next connect without a restart, and so that the
connection applies it only to requests to the feed's own origin (never to a
redirect target elsewhere).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shlex
import signal
from collections.abc import AsyncGenerator
from urllib.parse import quote, quote_plus

import httpx

from tidings.core.errors import CredentialsError
from tidings.core.models import AuthKind, Feed
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import SecretStore, auth_slot, header_slot

__all__ = ["FeedAuth", "ntfy_auth_param", "run_token_command"]

COMMAND_TIMEOUT = 30.0

# Characters that no HTTP header value can carry (h11 refuses them, quoting the value).
_HEADER_FORBIDDEN = frozenset(chr(c) for c in (*range(0x20), 0x7F)) - {"\t"}


async def run_token_command(command: str, *, within: float = COMMAND_TIMEOUT) -> str:
    """Run a user's token command (no shell) and return the first line it prints.

    Its stderr is read and dropped, never shown: a password manager may print
    sensitive hints there. The command runs in its own process group, which
    is killed when it overruns ``within`` seconds or when the caller is
    cancelled, so that nothing it started lingers.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CredentialsError(f"cannot parse the token command: {exc}") from None
    if not argv:
        raise CredentialsError("the token command is empty")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=os.environ.copy(),
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CredentialsError(
            f"cannot run the token command {argv[0]!r}: {reason}; fix it with `tidings feeds edit`"
        ) from None
    try:
        try:
            out, _err = await asyncio.wait_for(proc.communicate(), timeout=within)
        except TimeoutError:
            raise CredentialsError(
                f"the token command {argv[0]!r} did not finish within {within:g} s"
            ) from None
    finally:
        if proc.returncode is None:
            await _kill(proc)
    if proc.returncode != 0:
        raise CredentialsError(
            f"the token command {argv[0]!r} failed (exit {proc.returncode}); run it in a "
            "terminal to see why"
        )
    token = out.decode("utf-8", "replace").strip().split("\n", 1)[0].strip()
    if not token:
        raise CredentialsError(f"the token command {argv[0]!r} printed nothing")
    return token


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill a token command and everything in its process group, then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    # Shielded: even when our caller is being cancelled, the child is reaped.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(proc.wait())


def ntfy_auth_param(secret: str) -> str:
    """ntfy's ``?auth=``: the whole Authorization header value, base64 without padding.

    The stored secret is an access token (``tk_...``: Bearer) or ``user:password``
    (Basic); a value that already decodes to such a header is used as it is.
    """
    padded = secret + "=" * (-len(secret) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        decoded = ""
    if decoded.startswith(("Bearer ", "Basic ")):
        return secret
    if ":" in secret:
        header = "Basic " + base64.b64encode(secret.encode("utf-8")).decode("ascii")
    else:
        header = "Bearer " + secret
    return base64.urlsafe_b64encode(header.encode("utf-8")).decode("ascii").rstrip("=")


class FeedAuth(httpx.Auth):
    """Adds a feed's credentials and secret headers to each request, read fresh each time.

    Every value read is registered with ``known`` (when given), so that a
    :class:`~tidings.core.redact.RedactingFilter` can keep it out of any log
    line, in whatever form it travels (raw, percent-encoded, base64).
    """

    def __init__(
        self,
        feed: Feed,
        *,
        secrets: SecretStore,
        known: KnownSecrets | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self._feed = feed
        self._secrets = secrets
        self._known = known
        self._command_timeout = command_timeout

    @property
    def needed(self) -> bool:
        """Whether this feed has any credential to apply at all."""
        return self._feed.auth.kind is not AuthKind.NONE or any(
            h.secret for h in self._feed.headers
        )

    async def _secret(self, slot: str, what: str) -> str:
        value = await self._secrets.get(self._feed.id, slot)
        if not value:
            raise CredentialsError(
                f"no {what} stored for this feed: set it with "
                f"`tidings feeds edit {self._feed.id} --set-secret`"
            )
        self._remember(value)
        return value

    async def _header_secret(self, slot: str, what: str) -> str:
        """A stored value that goes into a header: surrounding whitespace dropped, checked."""
        return self._header_value(await self._secret(slot, what), what)

    def _header_value(self, value: str, what: str) -> str:
        value = value.strip()
        if not value or any(c in _HEADER_FORBIDDEN for c in value):
            # Never quote it: the value is the secret.
            raise CredentialsError(
                f"the {what} of this feed contains a line break or control character, which "
                f"an HTTP header cannot carry: set it again with `tidings feeds edit "
                f"{self._feed.id} --set-secret`"
            )
        return value

    def _remember(self, value: str) -> None:
        if self._known is not None:
            self._known.add(value)
            encoded = quote(value, safe="")
            if encoded != value:
                self._known.add(encoded)
            plus = quote_plus(value, safe="")
            if plus not in (value, encoded):
                self._known.add(plus)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        auth = self._feed.auth
        kind = auth.kind
        if kind is AuthKind.BASIC:
            password = await self._secret(auth_slot(), "password")
            pair = f"{auth.username}:{password}".encode()
            encoded = base64.b64encode(pair).decode("ascii")
            self._remember(encoded)
            request.headers["Authorization"] = "Basic " + encoded
        elif kind is AuthKind.BEARER:
            token = await self._header_secret(auth_slot(), "token")
            request.headers["Authorization"] = "Bearer " + token
        elif kind is AuthKind.HEADER:
            request.headers[auth.header_name] = await self._header_secret(
                auth_slot(), "secret header value"
            )
        elif kind is AuthKind.QUERY:
            token = (await self._secret(auth_slot(), "token")).strip()
            self._remember(token)
            if self._feed.preset == "ntfy" and auth.query_param == "auth":
                token = ntfy_auth_param(token)
                self._remember(token)
            request.url = request.url.copy_merge_params({auth.query_param: token})
            # The query as httpx encoded it, which is how it shows in a logged URL.
            for name, value in _raw_pairs(request.url.query):
                if name == auth.query_param.encode():
                    self._remember(value.decode("ascii", "replace"))
        elif kind is AuthKind.COMMAND:
            token = await run_token_command(auth.command, within=self._command_timeout)
            self._remember(token)
            token = self._header_value(token, "token printed by the token command")
            request.headers["Authorization"] = "Bearer " + token
        for header in self._feed.headers:
            if header.secret:
                request.headers[header.name] = await self._header_secret(
                    header_slot(header.name), f"value for header {header.name}"
                )
        yield request


def _raw_pairs(query: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for piece in query.split(b"&"):
        name, _, value = piece.partition(b"=")
        pairs.append((name, value))
    return pairs
