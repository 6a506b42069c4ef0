"""What every headless command shares: the argument parser, exit codes, logging, messages."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import IO

from tidings.core.errors import UsageError
from tidings.core.redact import KnownSecrets, RedactingFilter

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "PROG",
    "ArgumentParser",
    "CommandFailedError",
    "CommandLineError",
    "Messages",
    "StopSignals",
    "positive_float",
    "positive_int",
    "print_json",
    "print_rows",
    "quiet_closed_stdout",
    "setup_logging",
    "terminal_safe",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

PROG = "tidings"


class CommandLineError(UsageError):
    """A usage error found by argparse, with the usage of the (sub)command it concerns."""

    def __init__(self, message: str, *, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandLineError(message, usage=self.format_usage())


def positive_float(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


class Messages:
    """Status lines and the one ``error: ...`` line, on stderr; never raises on a closed stream."""

    def __init__(self, err: IO[str] | None = None) -> None:
        self._err = err if err is not None else sys.stderr

    def say(self, text: str) -> None:
        """One status line on stderr."""
        self._write(f"{PROG}: {text}\n")

    def error(self, text: str) -> None:
        """The one ``error: ...`` line of a failed run."""
        self._write(f"error: {text}\n")

    def _write(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._err.write(line)
            self._err.flush()


def setup_logging(level: str = "warning", known: KnownSecrets | None = None) -> logging.Handler:
    """Log to stderr through the redacting filter; return the handler (to add a file one alike)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    handler.addFilter(RedactingFilter(known))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    return handler


class StopSignals:
    """Ctrl-C and SIGTERM end a command cleanly: ``on_stop`` runs, then the exit code says which."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.caught: list[int] = []
        self._on_stop = on_stop
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._caught, signum)

    def _caught(self, signum: int) -> None:
        self.caught.append(signum)
        self._on_stop()

    @property
    def exit_code(self) -> int | None:
        """130 after SIGINT, 143 after SIGTERM, ``None`` when no signal came."""
        if not self.caught:
            return None
        return EXIT_SIGINT if self.caught[0] == signal.SIGINT else EXIT_SIGTERM


class CommandFailedError(Exception):
    """A command that cannot do what was asked: one ``error: ...`` line, exit 1."""


def print_json(value: object) -> None:
    """Pretty JSON on stdout, for ``--json``."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_rows(rows: Sequence[tuple[str, str]]) -> None:
    """``key  value`` rows, the keys padded to one column."""
    width = max(len(key) for key, _ in rows)
    print("\n".join(f"{key.ljust(width)}  {value}".rstrip() for key, value in rows))


def quiet_closed_stdout() -> None:
    """After ``| head`` closed stdout: keep the interpreter from complaining when it flushes."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


_UNSAFE_ON_A_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """A server's text fit for a terminal: control characters (ESC starts sequences that
    set the window title, rewrite the screen or write the clipboard) and bidi overrides are
    shown as ``\\x1b`` / ``\\u202e`` escapes instead of being obeyed; tab and line feed stay.
    ``--json`` output is not passed through this: JSON escapes control characters itself."""
    if _UNSAFE_ON_A_TERMINAL.search(text) is None:
        return text
    return _UNSAFE_ON_A_TERMINAL.sub(_escaped, text)
