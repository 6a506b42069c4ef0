"""The one exception tree of Tidings.

    TidingsError                   base of everything Tidings raises on purpose
    ├── UsageError                 a command line or value the user must fix (exit 2)
    │   └── InvalidURLError        a feed URL that cannot be parsed or is not http(s)
    └── StreamError                something wrong with one SSE connection
        └── StreamLimitExceeded    the server sent a line, event or id over a cap;
                                   the connection is dropped and retried with backoff

Connection outcomes (fatal, transient, stop) are values, not exceptions: see
``tidings.core.models.FeedStatus`` and ``tidings.core.sse``.
"""

from __future__ import annotations

__all__ = [
    "InvalidURLError",
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


class StreamError(TidingsError):
    """A problem with one SSE connection's body."""


class StreamLimitExceeded(StreamError):  # noqa: N818 - names the event, like TimeoutError
    """The server sent more than a cap allows (line length, event size, id length)."""
