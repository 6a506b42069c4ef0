"""A feed's credentials, fetched from the secret store at each connection attempt.

Implemented as an ``httpx.Auth`` so that a credential changed while Tidings
runs is used at the next connect without a restart, and so that the
connection applies it only to requests to the feed's own origin (never to a
redirect target elsewhere).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
from collections.abc import AsyncGenerator

import httpx

from tidings.core.errors import CredentialsError
from tidings.core.models import AuthKind, Feed
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import SecretStore, auth_slot, header_slot

__all__ = ["FeedAuth", "run_token_command"]

COMMAND_TIMEOUT = 30.0


async def run_token_command(command: str, *, within: float = COMMAND_TIMEOUT) -> str:
    """Run a user's token command (no shell) and return the first line it prints."""
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
        )
    except OSError as exc:
        raise CredentialsError(
            f"cannot run the token command {argv[0]!r}: {exc.strerror}"
        ) from None
    try:
        out, _err = await asyncio.wait_for(proc.communicate(), timeout=within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CredentialsError(
            f"the token command {argv[0]!r} did not finish within {within:g} s"
        ) from None
    if proc.returncode != 0:
        # Its stderr is not shown: a password manager may print sensitive hints there.
        raise CredentialsError(f"the token command {argv[0]!r} failed (exit {proc.returncode})")
    token = out.decode("utf-8", "replace").strip().split("\n", 1)[0].strip()
    if not token:
        raise CredentialsError(f"the token command {argv[0]!r} printed nothing")
    return token


class FeedAuth(httpx.Auth):
    """Adds a feed's credentials and secret headers to each request, read fresh each time."""

    def __init__(
        self, feed: Feed, *, secrets: SecretStore, known: KnownSecrets | None = None
    ) -> None:
        self._feed = feed
        self._secrets = secrets
        self._known = known

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
                f"no {what} stored for this feed: set it with `tidings feeds edit {self._feed.id}`"
            )
        self._remember(value)
        return value

    def _remember(self, value: str) -> None:
        if self._known is not None:
            self._known.add(value)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        auth = self._feed.auth
        kind = auth.kind
        if kind is AuthKind.BASIC:
            password = await self._secret(auth_slot(), "password")
            pair = f"{auth.username}:{password}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif kind is AuthKind.BEARER:
            request.headers["Authorization"] = "Bearer " + await self._secret(auth_slot(), "token")
        elif kind is AuthKind.HEADER:
            request.headers[auth.header_name] = await self._secret(
                auth_slot(), "secret header value"
            )
        elif kind is AuthKind.QUERY:
            token = await self._secret(auth_slot(), "token")
            request.url = request.url.copy_merge_params({auth.query_param: token})
        elif kind is AuthKind.COMMAND:
            token = await run_token_command(auth.command)
            self._remember(token)
            request.headers["Authorization"] = "Bearer " + token
        for header in self._feed.headers:
            if header.secret:
                request.headers[header.name] = await self._secret(
                    header_slot(header.name), f"value for header {header.name}"
                )
        yield request
