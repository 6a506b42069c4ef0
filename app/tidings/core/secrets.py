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
import contextlib
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

from tidings.core.errors import SecretStoreError

__all__ = [
    "SERVICE",
    "UNUSABLE_MODULES",
    "KeyringStore",
    "MemoryStore",
    "SecretStore",
    "auth_slot",
    "header_slot",
]

SERVICE = "tidings"
T = TypeVar("T")


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
    """The OS keyring through the ``keyring`` package (Secret Service, macOS Keychain, Windows).

    Every call, including the first one's backend detection (which talks to
    D-Bus on Linux), runs on a daemon thread and is abandoned after
    ``timeout`` seconds. A backend that stores nothing or stores plaintext
    (``fail``, ``null``, ``keyrings.alt``) is refused, also when keyring's
    chainer would fall back to it.
    """

    def __init__(self, *, backend: object | None = None, timeout: float = 10.0) -> None:
        """``backend``: a ``keyring.backend.KeyringBackend``; by default the one keyring picks."""
        self._given = backend
        self._backend: object | None = None
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stuck = 0  # calls that timed out and whose thread is still blocked

    def _keyring(self) -> object:
        """The usable backend (detected on first use); raises SecretStoreError("unavailable")."""
        backend = self._backend
        if backend is not None:
            return backend
        candidate = self._given
        if candidate is None:
            import keyring  # noqa: PLC0415 - lazily: loading the backends costs time

            candidate = keyring.get_keyring()
        backend = _usable(candidate)
        self._backend = backend
        return backend

    @property
    def name(self) -> str:
        """The backend in use (detecting it on first use, which may block: call it off the loop)."""
        try:
            return _describe(self._keyring())
        except SecretStoreError:
            shown = self._given
            if shown is None:
                import keyring  # noqa: PLC0415

                shown = keyring.get_keyring()
            return _describe(shown) + " (unusable)"

    async def get(self, feed_id: str, slot: str) -> str | None:
        username = _username(feed_id, slot)
        return await self._call(lambda: self._keyring().get_password(SERVICE, username))  # type: ignore[attr-defined]

    async def set(self, feed_id: str, slot: str, value: str) -> None:
        username = _username(feed_id, slot)
        await self._call(lambda: self._keyring().set_password(SERVICE, username, value))  # type: ignore[attr-defined]

    async def delete(self, feed_id: str, slot: str) -> None:
        """Remove a secret; removing one that does not exist is not an error."""
        username = _username(feed_id, slot)
        try:
            await self._call(lambda: self._keyring().delete_password(SERVICE, username))  # type: ignore[attr-defined]
        except SecretStoreError as exc:
            if exc.state != "missing":
                raise

    async def _call(self, work: Callable[[], T]) -> T:
        """Run one keyring call on a daemon thread; give up after the timeout."""
        with self._lock:
            if self._stuck >= _MAX_STUCK:
                # Earlier calls are still blocked: do not pile up more threads behind them.
                raise SecretStoreError(
                    f"the keyring has not answered {self._stuck} earlier requests; it may be "
                    "locked and waiting for a password: unlock it (log in to your desktop "
                    "session) and retry",
                    state="timeout",
                )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        call = _Call()

        def deliver(result: T | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def run() -> None:
            outcome: tuple[T | None, BaseException | None]
            try:
                outcome = (work(), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
                outcome = (None, _translate(exc))
                _close_abandoned_connections(exc)
            finally:
                with self._lock:
                    call.finished = True
                    if call.abandoned:
                        self._stuck -= 1
            # The loop may be closed by now (an abandoned call that finally returned).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, *outcome)

        threading.Thread(target=run, name="tidings-keyring", daemon=True).start()
        try:
            return await asyncio.wait_for(future, timeout=self._timeout)
        except TimeoutError:
            with self._lock:
                if not call.finished:
                    call.abandoned = True
                    self._stuck += 1
            raise SecretStoreError(
                f"the keyring did not answer within {self._timeout:g} s; it may be locked and "
                "waiting for a password: unlock it (log in to your desktop session) and retry",
                state="timeout",
            ) from None


# At most this many abandoned keyring threads at once; further calls fail fast.
_MAX_STUCK = 4

# Backends that store nothing, or store it in plaintext: never used for secrets.
UNUSABLE_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
_CHAINER_MODULE = "keyring.backends.chainer"


class _Call:
    """The shared state of one keyring call between its thread and its waiter."""

    __slots__ = ("abandoned", "finished")

    def __init__(self) -> None:
        self.finished = False
        self.abandoned = False


def _username(feed_id: str, slot: str) -> str:
    return f"{feed_id}/{slot}"


def _describe(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_plaintext_or_null(backend: object) -> bool:
    module = type(backend).__module__
    return any(module == m or module.startswith(m + ".") for m in UNUSABLE_MODULES)


def _usable(backend: object) -> object:
    """``backend`` itself, or for keyring's chainer its best safe member; else SecretStoreError."""
    if type(backend).__module__ == _CHAINER_MODULE:
        # The chainer would try each viable backend in turn, and so could store a secret in
        # keyrings.alt's plaintext file when the real keyring is locked: use only the best safe one.
        members = getattr(backend, "backends", ())
        for member in members:
            if not _is_plaintext_or_null(member):
                return member
        raise _no_keyring(backend)
    if _is_plaintext_or_null(backend):
        raise _no_keyring(backend)
    return backend


def _no_keyring(backend: object) -> SecretStoreError:
    return SecretStoreError(
        f"no usable keyring: the keyring backend is {_describe(backend)}, which would not keep "
        "secrets safely. Install and start a Secret Service provider (GNOME Keyring or KWallet) "
        "on Linux, then restart Tidings; macOS and Windows have one built in",
        state="unavailable",
    )


def _class_names(exc: BaseException) -> set[str]:
    """The class names of ``exc`` and of the exceptions it was raised from."""
    names: set[str] = set()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.update(c.__name__ for c in type(current).__mro__)
        current = current.__cause__ or current.__context__
    return names


def _close_abandoned_connections(exc: BaseException) -> None:
    """Close the D-Bus connections that a failed backend call left open.

    keyring's Secret Service backend (25.x) opens a connection per call and,
    when the collection is locked or cannot be created, raises from
    ``get_preferred_collection`` without closing it (jaraco/keyring#380 is
    the same leak on another path). Each failed call would leave a socket
    to the garbage collector, with a ResourceWarning. The connection is
    only in the failed call's frames, which nothing else uses.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if type(value).__module__.startswith("jeepney."):
                    close = getattr(value, "close", None)
                    if callable(close):
                        with contextlib.suppress(Exception):
                            close()
            tb = tb.tb_next
        current = current.__cause__ or current.__context__


_LOCKED_MESSAGE = (
    "the keyring is locked and no unlock prompt could be shown: unlock your login keyring "
    "(log in to your desktop session, or open your keyring manager, such as Seahorse or "
    "KWalletManager), then retry"
)


def _translate(exc: BaseException) -> BaseException:
    """keyring's exceptions (and the backends' own) as SecretStoreError with a way forward."""
    from keyring import errors as kerr  # noqa: PLC0415 - keyring loads lazily

    if isinstance(exc, SecretStoreError):
        return exc
    names = _class_names(exc)
    if isinstance(exc, kerr.PasswordDeleteError):
        return SecretStoreError("no such secret", state="missing")
    # secretstorage (Secret Service): a dismissed prompt, or a locked collection. A collection
    # that does not exist yet (a keyring never unlocked) needs a prompt to be created: the
    # same "Prompt dismissed" answer, wrapped in keyring's InitError.
    if isinstance(exc, kerr.KeyringLocked) or names & {
        "PromptDismissedException",
        "LockedException",
    }:
        return SecretStoreError(_LOCKED_MESSAGE, state="locked")
    if isinstance(exc, (kerr.NoKeyringError, kerr.InitError)) or (
        "SecretServiceNotAvailableException" in names
    ):
        return SecretStoreError(
            f"no usable keyring ({type(exc).__name__}); install and start GNOME Keyring or "
            "KWallet, unlock it, then retry",
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
