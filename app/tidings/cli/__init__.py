"""Headless commands (``tidings listen``, ``tidings --version``, ...): core only, never Qt.

Each command lives in a module of this package with ``register(commands)``,
which adds its parser and sets ``handler``: a function from the parsed
arguments to the exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tidings import __version__
from tidings.cli import desktop_entry, doctor, feeds, history, listen, quiet, run
from tidings.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    ArgumentParser,
    CommandLineError,
    setup_logging,
)
from tidings.core.errors import UsageError
from tidings.core.redact import KnownSecrets

__all__ = ["build_parser", "main"]

_LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> ArgumentParser:
    """The command-line grammar of the headless commands."""
    parser = ArgumentParser(
        prog=PROG,
        description="Tidings: a desktop client for Server-Sent Events.",
        epilog="New here? Try: tidings listen --demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--profile-dir",
        metavar="DIR",
        help="keep settings, history and state below DIR instead of the platform's places "
        "(also TIDINGS_PROFILE_DIR)",
    )
    parser.add_argument(
        "--log-level", choices=_LOG_LEVELS, default="warning", help="what to log on stderr"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    listen.register(commands)
    run.register(commands)
    feeds.register(commands)
    quiet.register(commands)
    history.register(commands)
    doctor.register(commands)
    desktop_entry.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a headless command; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        # The usage of the command that was misused (`tidings listen ...`), not only the top's.
        usage = exc.usage if isinstance(exc, CommandLineError) else parser.format_usage()
        sys.stderr.write(usage)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    # One set of live secrets per process: every log handler redacts them.
    args.known_secrets = KnownSecrets()
    setup_logging(args.log_level, args.known_secrets)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code
