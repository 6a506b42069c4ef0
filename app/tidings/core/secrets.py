"""Where secrets live: the OS keyring, called off the event loop with a timeout.

Every secret is keyed by a feed's stable id and a slot name (``auth``, or
``header:<Name>``), never by its name or URL, so renaming a feed or changing
its URL keeps its credentials, and removing it removes them.

A keyring call can block forever (a Secret Service that waits on an unlock
prompt nobody answers), so each call runs on its own daemon thread and the
caller waits at most ``timeout`` seconds. A missing backend, a locked
collection or a timeout raise :class:`~tidings.core.errors.SecretStoreError`
with a state and a way forward; nothing ever falls back to plaintext.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

from tidings.core.errors import SecretStoreError

__all__ = ["SERVICE", "KeyringStore", "MemoryStore", "SecretStore", "auth_slot", "header_slot"]

SERVICE = "tidings"
T = TypeVar("T")

# Backends that store nothing, or store it in plaintext: never used for secrets.
_UNUSABLE_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def auth_slot() -> str:
    """The slot of a feed's password or token."""
    return "auth"


def header_slot(name: str) -> str:
    """The slot of a secret header's value (names are case-insensitive in HTTP)."""
    return f"header:{name.lower()}"


class SecretStore(Protocol):
    """Where feed secrets are kept. Implementations never log or echo a value."""

    @property
    def name(self) -> str:
        """The backend in use, to show in ``doctor`` and the settings."""
        ...

    async def get(self, feed_id: str, slot: str) -> str | None: ...

    async def set(self, feed_id: str, slot: str, value: str) -> None: ...

    async def delete(self, feed_id: str, slot: str) -> None: ...


class MemoryStore:
    """Secrets in a dict: for tests and for ``listen``-style one-shot use. Never persisted."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], str] = {}

    @property
    def name(self) -> str:
        return "memory (not persisted)"

    async def get(self, feed_id: str, slot: str) -> str | None:
        return self._values.get((feed_id, slot))

    async def set(self, feed_id: str, slot: str, value: str) -> None:
        self._values[(feed_id, slot)] = value

    async def delete(self, feed_id: str, slot: str) -> None:
        self._values.pop((feed_id, slot), None)


class KeyringStore:
    """The OS keyring through the ``keyring`` package (Secret Service, macOS Keychain, Windows)."""

    def __init__(self, *, backend: object | None = None, timeout: float = 10.0) -> None:
        """``backend``: a ``keyring.backend.KeyringBackend``; by default the one keyring picks."""
        self._backend = backend
        self._timeout = timeout

    def _keyring(self) -> object:
        if self._backend is None:
            import keyring  # noqa: PLC0415 - lazily: loading the backends costs time

            self._backend = keyring.get_keyring()
        backend = self._backend
        module = type(backend).__module__
        if module.startswith(_UNUSABLE_BACKENDS):
            raise SecretStoreError(
                f"no usable keyring: the keyring backend is {_describe(backend)}. Install and "
                "unlock a Secret Service provider (GNOME Keyring or KWallet) on Linux; macOS "
                "and Windows have one built in",
                state="unavailable",
            )
        return backend

    @property
    def name(self) -> str:
        try:
            return _describe(self._keyring())
        except SecretStoreError:
            return _describe(self._backend) + " (unusable)"

    async def get(self, feed_id: str, slot: str) -> str | None:
        backend = self._keyring()
        return await self._call(lambda: backend.get_password(SERVICE, f"{feed_id}/{slot}"))  # type: ignore[attr-defined]

    async def set(self, feed_id: str, slot: str, value: str) -> None:
        backend = self._keyring()
        await self._call(lambda: backend.set_password(SERVICE, f"{feed_id}/{slot}", value))  # type: ignore[attr-defined]

    async def delete(self, feed_id: str, slot: str) -> None:
        backend = self._keyring()
        try:
            await self._call(lambda: backend.delete_password(SERVICE, f"{feed_id}/{slot}"))  # type: ignore[attr-defined]
        except SecretStoreError as exc:
            if exc.state != "missing":
                raise

    async def _call(self, work: Callable[[], T]) -> T:
        """Run one keyring call on a daemon thread; give up after the timeout."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def deliver(result: T | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def run() -> None:
            try:
                result = work()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
                loop.call_soon_threadsafe(deliver, None, _translate(exc))
            else:
                loop.call_soon_threadsafe(deliver, result, None)

        threading.Thread(target=run, name="tidings-keyring", daemon=True).start()
        try:
            return await asyncio.wait_for(future, timeout=self._timeout)
        except TimeoutError:
            raise SecretStoreError(
                f"the keyring did not answer within {self._timeout:g} s; it may be locked and "
                "waiting for a password: unlock it (log in to your desktop session) and retry",
                state="timeout",
            ) from None


def _describe(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _translate(exc: BaseException) -> BaseException:
    """keyring's exceptions (and the backends' own) as SecretStoreError with a way forward."""
    from keyring import errors as kerr  # noqa: PLC0415 - keyring loads lazily

    if isinstance(exc, kerr.PasswordDeleteError):
        return SecretStoreError("no such secret", state="missing")
    if isinstance(exc, kerr.KeyringLocked):
        return SecretStoreError(
            "the keyring is locked: unlock it (for example by logging in to your desktop "
            "session, or with your keyring manager) and retry",
            state="locked",
        )
    if isinstance(exc, (kerr.NoKeyringError, kerr.InitError)):
        return SecretStoreError(
            f"no usable keyring ({exc}); install and unlock GNOME Keyring or KWallet",
            state="unavailable",
        )
    if isinstance(exc, Exception):
        # Backends raise their own types (D-Bus errors, for instance): keep the class name only,
        # since a message might quote what was being stored.
        return SecretStoreError(
            f"the keyring refused the request ({type(exc).__name__}); check that it is "
            "unlocked and retry",
            state="error",
        )
    return exc
