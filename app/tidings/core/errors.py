"""The one exception tree of Tidings.

    TidingsError                   base of everything Tidings raises on purpose
    ├── UsageError                 a command line or value the user must fix (exit 2)
    │   └── InvalidURLError        a feed URL that cannot be parsed or is not http(s)
    ├── ConfigError                the settings file cannot be saved safely (it is kept as is)
    ├── SecretStoreError           the keyring cannot be used: missing, locked, timed out
    ├── CredentialsError           a feed's credential is missing or its token command failed
    └── StreamError                something wrong with one SSE connection
        └── StreamLimitExceeded    the server sent a line, event or id over a cap;
                                   the connection is dropped and retried with backoff

Connection outcomes (fatal, transient, stop) are values, not exceptions: see
``tidings.core.models.FeedStatus`` and ``tidings.core.sse``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ConfigError",
    "CredentialsError",
    "InvalidURLError",
    "SecretStoreError",
    "StreamError",
    "StreamLimitExceeded",
    "TidingsError",
    "UsageError",
]


class TidingsError(Exception):
    """Base class of the errors Tidings raises on purpose."""


class UsageError(TidingsError):
    """A command line or setting value that the user has to correct."""


class InvalidURLError(UsageError):
    """A feed URL that cannot be parsed, or whose scheme is not http or https."""


class ConfigError(TidingsError):
    """The settings file cannot be written without losing what the user wrote."""


class SecretStoreError(TidingsError):
    """The OS keyring is missing, locked, refused access or did not answer in time.

    ``state`` is a short machine-readable word (``unavailable``, ``locked``,
    ``timeout``, ``error``); the message says what to do.
    """

    def __init__(self, message: str, *, state: str = "error") -> None:
        super().__init__(message)
        self.state = state


class CredentialsError(TidingsError):
    """A feed's credential is missing, or the command that prints it failed."""


class StreamError(TidingsError):
    """A problem with one SSE connection's body."""


class StreamLimitExceeded(StreamError):  # noqa: N818 - names the event, like TimeoutError
    """The server sent more than a cap allows (line length, event size, id length).

    ``completed`` holds the events that the same chunk completed before the
    offending bytes: they are good and should still be delivered.
    """

    def __init__(self, message: str, *, completed: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.completed: Sequence[Any] = completed
