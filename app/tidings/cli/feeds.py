"""``tidings feeds``: list, add, show, edit, remove, pause, resume, mute, unmute, rules, test,
export and import feeds.

Secrets (passwords, tokens, secret header values) never come from an
argument, which would land in shell history and in ``ps``. On a terminal
they are asked for with a hidden prompt; otherwise they are read from stdin,
one per line, in this order: for each feed, first its auth secret (the
password for ``basic``, the token for ``bearer`` and ``query``, the header's
value for ``header``; ``command`` and ``none`` have none), then the value of
each secret header in the order the headers were given. They go to the OS
keyring under the feed's id; the settings file never holds one.

A settings file with problems is reported (file, line or key, what) on
stderr; commands still work on the feeds that load, and a file that cannot
be rewritten without losing something is never overwritten.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import json
import math
import re
import shlex
import signal
import ssl
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ArgumentParser,
    CommandFailedError,
    Messages,
    positive_float,
    positive_int,
    print_json,
    print_rows,
)
from tidings.cli._context import Context, command, ensure_saveable, secret_slots
from tidings.cli.listen import read_headers
from tidings.core.auth import FeedAuth
from tidings.core.config import (
    KNOWN_PRESETS,
    Settings,
    feed_from_dict,
    feed_to_dict,
    new_feed_id,
)
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import InvalidURLError, SecretStoreError, UsageError
from tidings.core.feed_io import (
    ImportWording,
    export_text,
    plan_import,
    read_import,
    refuse_credentials_in_url,
)
from tidings.core.hub import ssl_context_for
from tidings.core.models import (
    Auth,
    AuthKind,
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedRules,
    FeedStatus,
    Header,
    StopReason,
)
from tidings.core.notification import Urgency
from tidings.core.presets import get_preset
from tidings.core.redact import redact_url
from tidings.core.rules import compile_filter, mute_until_tomorrow, muted, unmuted
from tidings.core.secrets import SecretStore, auth_slot, header_slot
from tidings.core.sse import EventSource, validate_header, validate_url

__all__ = ["register"]

TLS_OFF = "[!] TLS verification OFF"
_TLS_OFF_WARNING = (
    "TLS certificate verification is OFF for feed {name!r}: anyone on the network path can "
    "read and change its events and credentials. Prefer --ca-file for a private CA"
)
_SECRETS_HELP = (
    "Secrets are never given as arguments: on a terminal they are asked for; otherwise they "
    "are read from stdin, one per line: first the auth secret (basic: password; bearer, "
    "query: token; header: the header's value), then the value of each --secret-header in "
    "the order given."
)
# Auth field -> (the option's dest, the auth kind it belongs to).
_AUTH_FIELDS = {
    "username": ("username", AuthKind.BASIC),
    "header_name": ("header_name", AuthKind.HEADER),
    "query_param": ("query_param", AuthKind.QUERY),
    "command": ("token_command", AuthKind.COMMAND),
}
_DEFAULT_QUERY_PARAM = "auth"
T = TypeVar("T")


# -- the command line ---------------------------------------------------------------


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings feeds ...`` to the command line."""
    feeds = commands.add_parser(
        "feeds",
        help="add, list, change, mute, test, export and import the feeds Tidings follows",
        description="Manage the feeds of this profile. Secrets go to the OS keyring, never to "
        "the settings file. Feeds are named by id or by exact name.",
    )
    actions = feeds.add_subparsers(
        dest="feeds_command", metavar="ACTION", parser_class=ArgumentParser, required=True
    )

    listing = actions.add_parser("list", help="list the feeds", description="List the feeds.")
    listing.add_argument("--json", action="store_true", help="one JSON document for scripts")
    listing.set_defaults(handler=_list)

    add = actions.add_parser(
        "add",
        help="add a feed",
        description="Add a feed. " + _SECRETS_HELP,
        epilog="Example: pass show ci/token | tidings feeds add 'CI builds' "
        "https://ntfy.example.org/ci/sse --auth bearer",
    )
    add.add_argument("name", metavar="NAME", help="a name to show (and to address the feed by)")
    add.add_argument("url", metavar="URL", help="the http(s) URL of the event stream")
    _feed_options(add, editing=False)
    add.add_argument("--json", action="store_true", help="print the new feed as JSON")
    add.set_defaults(handler=_add)

    show = actions.add_parser(
        "show", help="show one feed", description="Show one feed, and whether its secrets are set."
    )
    show.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    show.add_argument("--json", action="store_true", help="one JSON object for scripts")
    show.set_defaults(handler=_show)

    edit = actions.add_parser(
        "edit",
        help="change a feed or replace its secrets",
        description="Change a feed's settings; the options are those of `add`. A secret is "
        "asked for when the feed newly needs one (a new auth kind, a new --secret-header) or "
        "when --set-secret names it. " + _SECRETS_HELP,
    )
    edit.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    edit.add_argument("--name", help="a new name")
    edit.add_argument("--url", help="a new URL")
    _feed_options(edit, editing=True)
    edit.add_argument(
        "--set-secret",
        action="append",
        nargs="?",
        const="auth",
        default=[],
        metavar="WHICH",
        help="replace a stored secret: 'auth' (the default: the password or token) or the name "
        "of a secret header; repeatable. Put it after FEED",
    )
    edit.add_argument("--json", action="store_true", help="print the changed feed as JSON")
    edit.set_defaults(handler=_edit)

    remove = actions.add_parser(
        "remove",
        help="remove a feed, its secrets and its history",
        description="Remove a feed, its keyring entries and its stored events.",
    )
    remove.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    remove.add_argument(
        "--force",
        action="store_true",
        help="remove it even when the keyring cannot be reached (its secrets then stay there)",
    )
    remove.set_defaults(handler=_remove)

    for verb, paused in (("pause", True), ("resume", False)):
        parser = actions.add_parser(
            verb,
            help=f"{verb} feeds",
            description="Stop following a feed until it is resumed."
            if paused
            else "Follow a paused feed again.",
        )
        parser.add_argument("feeds", nargs="+", metavar="FEED", help="ids or exact names")
        parser.set_defaults(handler=_pause if paused else _resume)

    test = actions.add_parser(
        "test",
        help="connect once and show the first events or the exact failure",
        description="Connect once (no reconnection) to a feed, with its credentials, or to a "
        "URL, and print the first events. Exit 0 when the connection works, 1 when it fails.",
    )
    test.add_argument("feed", metavar="FEED|URL", help="a feed's id or exact name, or a URL")
    test.add_argument(
        "--max-events",
        type=positive_int,
        default=3,
        metavar="N",
        help="stop after N events (default: %(default)s)",
    )
    test.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="stop after this long (default: %(default)g)",
    )
    test.add_argument("--json", action="store_true", help="one JSON object per event per line")
    test.set_defaults(handler=_test)

    export = actions.add_parser(
        "export",
        help="write the feeds to a file, without secrets",
        description="Write the feeds as TOML (or JSON) without any secret: auth kinds and "
        "secret header names are kept, their values are not. `feeds import` asks for them.",
    )
    export.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="where to write (default: stdout)"
    )
    export.add_argument(
        "--format",
        choices=("toml", "json"),
        help="the file format (default: json for a .json FILE, else toml)",
    )
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export.set_defaults(handler=_export)

    imp = actions.add_parser(
        "import",
        help="add the feeds of an exported file, asking for their secrets",
        description="Add the feeds of a file written by `feeds export` (or a settings file). "
        "Each gets a new id unless its own is free. A feed whose token comes from a command "
        "is imported paused unless you allow the command (asked on a terminal, or "
        "--allow-commands): Tidings never runs a command from a file without asking. "
        "Secrets are asked for on a terminal (Enter skips one), or read from stdin, one per "
        "line, feed after feed in the file's order, each feed's auth secret first, then its "
        "secret headers; an empty line skips one.",
    )
    imp.add_argument("file", metavar="FILE", help="a .toml or .json file")
    imp.add_argument(
        "--allow-commands",
        action="store_true",
        help="allow the token commands of the imported feeds to run (they stay active)",
    )
    imp.add_argument(
        "--skip-secrets",
        action="store_true",
        help="ask for no secret (set them later with `tidings feeds edit FEED --set-secret`)",
    )
    imp.set_defaults(handler=_import)

    mute = actions.add_parser(
        "mute",
        help="keep a feed from popping up for a while (its events are still logged)",
        description="Mute a feed: nothing of it pops up until the mute ends; every event is "
        "still logged. Default: for 1 hour. A running Tidings applies it within seconds.",
        epilog="Examples: tidings feeds mute CI --for 30m; tidings feeds mute CI "
        "--until-tomorrow; tidings feeds mute CI --until '2026-05-01 08:00'",
    )
    mute.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    until = mute.add_mutually_exclusive_group()
    until.add_argument(
        "--for",
        dest="mute_for",
        type=_duration,
        metavar="DURATION",
        help="how long: 30m, 1h (the default), 1h30m, 2d, 1w",
    )
    until.add_argument(
        "--until-tomorrow",
        action="store_true",
        help=f"until {MUTE_MORNING_HOUR:02d}:00 tomorrow (local time)",
    )
    until.add_argument(
        "--until",
        dest="mute_until",
        type=_local_time,
        metavar="'YYYY-MM-DD HH:MM'",
        help="until this local date and time (or HH:MM: its next occurrence)",
    )
    until.add_argument("--forever", action="store_true", help="until `tidings feeds unmute`")
    mute.add_argument("--json", action="store_true", help="print the feed's mute as JSON")
    mute.set_defaults(handler=_mute)

    unmute = actions.add_parser(
        "unmute", help="end a feed's mute", description="End a feed's mute: it pops up again."
    )
    unmute.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    unmute.add_argument("--json", action="store_true", help="print the feed's mute as JSON")
    unmute.set_defaults(handler=_unmute)

    rules = actions.add_parser(
        "rules",
        help="show or change what of a feed pops up",
        description="Without options: show the feed's rules. With options: change them. Rules "
        "only decide what pops up; every event is logged whatever they say. A running Tidings "
        "applies them within seconds, without reconnecting.",
        epilog="Example: tidings feeds rules CI --types push,release --filter 'deploy|fail' "
        "--min-urgency normal",
    )
    rules.add_argument("feed", metavar="FEED", help="the feed's id or exact name")
    rules.add_argument(
        "--notify",
        choices=("on", "off", "default"),
        help="notifications on or off; default: the preset decides (off for firehoses such as "
        "eventstreams, on for the others)",
    )
    rules.add_argument(
        "--types",
        metavar="TYPE,TYPE",
        help="only these SSE event types pop up ('' for every type)",
    )
    rules.add_argument(
        "--filter",
        dest="text_filter",
        metavar="REGEX",
        help="only events whose title, body or data contain a match of this regular "
        "expression (Python syntax) pop up ('' for no filter)",
    )
    rules.add_argument(
        "--min-urgency",
        choices=[u.value for u in Urgency],
        help="events below this urgency do not pop up (default: low, so every one)",
    )
    rules.add_argument(
        "--clear",
        action="store_true",
        help="reset every rule to its default first (a mute stays: see `feeds unmute`)",
    )
    rules.add_argument("--json", action="store_true", help="print the rules as JSON")
    rules.set_defaults(handler=_rules)


def _feed_options(parser: ArgumentParser, *, editing: bool) -> None:
    """The options that describe a feed: shared by ``add`` and ``edit``."""
    parser.add_argument(
        "--preset",
        choices=sorted(KNOWN_PRESETS),
        help="what kind of server it is (default for a new feed: plain)",
    )
    parser.add_argument(
        "--auth",
        choices=[k.value for k in AuthKind],
        help="how the feed authenticates; inferred from --username, --header-name, "
        "--query-param or --command when left out",
    )
    parser.add_argument("--username", help="the user name for --auth basic")
    parser.add_argument(
        "--header-name", metavar="NAME", help="the header that carries the secret (--auth header)"
    )
    parser.add_argument(
        "--query-param",
        metavar="NAME",
        help=f"the query parameter that carries the token (--auth query; default: "
        f"{_DEFAULT_QUERY_PARAM}, as ntfy uses)",
    )
    parser.add_argument(
        "--command",
        dest="token_command",  # not `command`: main() dispatches on that one
        metavar="COMMAND",
        help="a command that prints the token, such as 'pass show ntfy/token' (--auth command)",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE' | @FILE",
        help="a plain (not secret) request header, stored in the settings file; repeatable",
    )
    parser.add_argument(
        "--secret-header",
        action="append",
        default=[],
        metavar="NAME",
        help="a header whose value is a secret (asked for, kept in the keyring); repeatable",
    )
    if editing:
        parser.add_argument(
            "--remove-header", action="append", default=[], metavar="NAME", help="drop a header"
        )
    parser.add_argument(
        "--ca-file",
        metavar="PATH",
        help="also trust this CA certificate file (PEM)" + ("; '' drops it" if editing else ""),
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="turn TLS certificate verification OFF for this feed (warned about everywhere)",
    )
    if editing:
        tls.add_argument(
            "--verify-tls", action="store_true", help="turn TLS certificate verification on"
        )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="an http(s):// or socks5:// proxy for this feed (default: the system's)"
        + ("; '' goes back to the system's" if editing else ""),
    )
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="reconnect after this long without a byte (default for a new feed: 90)",
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--paused", action="store_true", help="do not follow it until resumed")
    if editing:
        state.add_argument("--active", action="store_true", help="follow it (resume it)")


# -- finding feeds ----------------------------------------------------------------


def _find(settings: Settings, ref: str) -> Feed | None:
    """The feed with this id, else the one feed with this exact name; ``None`` when none."""
    by_id = settings.feed(ref)
    if by_id is not None:
        return by_id
    named = [f for f in settings.feeds if f.name == ref]
    if len(named) > 1:
        ids = ", ".join(f.id for f in named)
        raise CommandFailedError(
            f"{len(named)} feeds are named {ref!r} ({ids}): name one by its id"
        )
    return named[0] if named else None


def _resolve(context: Context, settings: Settings, ref: str) -> Feed:
    feed = _find(settings, ref)
    if feed is not None:
        return feed
    for table in settings.kept_feeds:
        if ref in (table.get("id"), table.get("name")):
            raise CommandFailedError(
                f"feed {ref!r} is in {context.paths.settings_file} but does not load (see the "
                "problem above): fix it in the file first"
            )
    if settings.unsaveable:
        raise CommandFailedError(
            f"no feed {ref!r} could be loaded: {context.paths.settings_file} has a problem to "
            f"fix first ({settings.unsaveable})"
        )
    raise CommandFailedError(f"no feed has the id or name {ref!r} (see `tidings feeds list`)")


def _check_name_free(settings: Settings, name: str, *, own_id: str = "") -> None:
    taken = [f for f in settings.feeds if f.name == name and f.id != own_id]
    taken_kept = [t for t in settings.kept_feeds if t.get("name") == name]
    if taken or taken_kept:
        other = taken[0].id if taken else "a feed that does not load"
        raise CommandFailedError(
            f"a feed named {name!r} exists already ({other}): choose another name"
        )


# -- building a feed from the options ---------------------------------------------


def _build_feed(args: argparse.Namespace, *, current: Feed | None, feed_id: str) -> Feed:
    """The feed the options describe: a new one, or ``current`` changed; validated."""
    table: dict[str, Any] = feed_to_dict(current) if current is not None else {"id": feed_id}
    if args.name is not None:
        if not args.name.strip():
            raise UsageError("the feed's name must not be empty")
        table["name"] = args.name
    if args.url is not None:
        refuse_credentials_in_url(args.url, "URL", _WORDING)
        table["url"] = args.url
    if args.preset is not None:
        table["preset"] = args.preset
    if args.paused:
        table["paused"] = True
    elif getattr(args, "active", False):
        table.pop("paused", None)
    if args.idle_timeout is not None:
        table["idle_timeout"] = args.idle_timeout
    if args.proxy is not None:
        if args.proxy:
            refuse_credentials_in_url(args.proxy, "proxy", _WORDING)
            table["proxy"] = args.proxy
        else:
            table.pop("proxy", None)
    table["auth"] = _auth_table(args, current.auth if current is not None else Auth())
    table["headers"] = _header_tables(args, list(current.headers) if current is not None else [])
    if not table["headers"]:
        del table["headers"]
    tls = dict(table.get("tls", {}))
    if args.insecure:
        tls["verify"] = False
    elif getattr(args, "verify_tls", False):
        tls["verify"] = True
    if args.ca_file is not None:
        if args.ca_file:
            path = Path(args.ca_file).expanduser()
            if not path.is_file():
                raise UsageError(f"--ca-file: {str(path)!r} is not a file")
            tls["ca_file"] = str(path.absolute())
        else:
            tls.pop("ca_file", None)
    table["tls"] = tls
    try:
        feed = feed_from_dict(table, where="feed")
    except ValueError as exc:
        raise UsageError(str(exc).removeprefix("feed.")) from None
    if feed.auth.kind is AuthKind.HEADER and any(
        h.name.lower() == feed.auth.header_name.lower() for h in feed.headers
    ):
        raise UsageError(
            f"the header {feed.auth.header_name} carries the auth secret: do not give it as a "
            "header too"
        )
    return feed


class _CliWording(ImportWording):
    """What ``feeds add/edit/import`` say: the options to use, and how to resume a feed."""

    def credential_advice(self, what: str, param: str | None) -> str:
        if param is not None:
            return (
                f"leave it out of the URL and use --auth query --query-param {param} "
                "(the token is asked for and kept in the keyring)"
            )
        if what == "proxy":
            return "proxy passwords are not supported yet; use a proxy without one"
        return "use --auth basic --username NAME (the password is asked for)"

    def command_paused(self, feed: Feed, *, was_paused: bool) -> str:
        return (
            f"PAUSED: its token comes from the command `{feed.auth.command}`, which "
            f"Tidings does not run until you check it and resume the feed "
            f"(tidings feeds resume {feed.id})"
        )

    def tls_off(self, feed: Feed) -> str:
        return TLS_OFF

    def ca_file_missing(self, feed: Feed) -> str:
        return f"{super().ca_file_missing(feed)}: fix it first"

    def needs_credentials(self, feed: Feed) -> None:
        return None  # said once the secrets are read: how many are still not set


_WORDING = _CliWording()


def _auth_table(args: argparse.Namespace, current: Auth) -> dict[str, Any]:
    given = {
        key: getattr(args, dest)
        for key, (dest, _) in _AUTH_FIELDS.items()
        if getattr(args, dest) is not None
    }
    if args.auth is not None:
        kind = AuthKind(args.auth)
    elif given:
        kinds = {_AUTH_FIELDS[k][1] for k in given}
        if len(kinds) > 1:
            raise UsageError(
                "--username, --header-name, --query-param and --command belong to different "
                "auth kinds: choose one with --auth"
            )
        kind = kinds.pop()
    else:
        kind = current.kind
    for key in given:
        if _AUTH_FIELDS[key][1] is not kind:
            raise UsageError(f"--{key.replace('_', '-')} does not apply to --auth {kind.value}")

    def pick(key: str) -> str:
        value: str = given.get(key) or (getattr(current, key) if current.kind is kind else "")
        return value.strip()

    table: dict[str, Any] = {"kind": kind.value}
    if kind is AuthKind.BASIC:
        username = pick("username")
        if not username:
            raise UsageError(
                "--auth basic needs --username NAME (the password is asked for, never given as "
                "an argument)"
            )
        table["username"] = username
    elif kind is AuthKind.HEADER:
        header_name = pick("header_name")
        if not header_name:
            raise UsageError("--auth header needs --header-name NAME (for example X-Api-Key)")
        table["header_name"] = header_name
    elif kind is AuthKind.QUERY:
        table["query_param"] = pick("query_param") or _DEFAULT_QUERY_PARAM
    elif kind is AuthKind.COMMAND:
        command = pick("command")
        if not command:
            raise UsageError("--auth command needs --command 'COMMAND THAT PRINTS THE TOKEN'")
        table["command"] = command
    return table


def _header_tables(args: argparse.Namespace, headers: list[Header]) -> list[dict[str, Any]]:
    def without(name: str) -> list[Header]:
        return [h for h in headers if h.name.lower() != name.lower()]

    for name in getattr(args, "remove_header", []):
        if not any(h.name.lower() == name.lower() for h in headers):
            raise UsageError(f"--remove-header: the feed has no header {name!r}")
        headers = without(name)
    seen: set[str] = set()
    for name, value in read_headers(args.header):
        if name.lower() in seen:
            raise UsageError(f"the header {name} is given twice")
        seen.add(name.lower())
        headers = [*without(name), Header(name=name, value=value)]
    for name in args.secret_header:
        validate_header(name, "")
        if name.lower() in seen:
            raise UsageError(f"the header {name} is given twice (or both as -H and as secret)")
        seen.add(name.lower())
        headers = [*without(name), Header(name=name, secret=True)]
    return [
        {"name": h.name, "secret": True} if h.secret else {"name": h.name, "value": h.value}
        for h in headers
    ]


# -- secrets -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Need:
    """One secret to ask for."""

    feed: Feed
    slot: str

    @property
    def label(self) -> str:
        feed = self.feed
        if self.slot == auth_slot():
            auth = feed.auth
            what = {
                AuthKind.BASIC: f"password of {auth.username!r}",
                AuthKind.BEARER: "bearer token",
                AuthKind.HEADER: f"value of the {auth.header_name} header",
                AuthKind.QUERY: f"token for the {auth.query_param}= parameter",
            }.get(auth.kind, "secret")
        else:
            name = next((h.name for h in feed.headers if header_slot(h.name) == self.slot), "?")
            what = f"value of the secret header {name}"
        return f"{what} of feed {feed.name!r}"


class _SecretReader:
    """Reads secrets from a hidden prompt on a terminal, else one per line from stdin."""

    def __init__(self, context: Context, stdin: IO[str] | None = None) -> None:
        self._known = context.known
        self._stdin = stdin if stdin is not None else sys.stdin
        self._line = 0

    @property
    def interactive(self) -> bool:
        try:
            return self._stdin is not None and self._stdin.isatty()
        except (ValueError, OSError):
            return False

    def read(self, needs: Sequence[_Need], *, optional: bool = False) -> list[str | None]:
        """One value per need; with ``optional`` an empty answer skips it (``None``)."""
        values: list[str | None] = []
        for need in needs:
            value = self._one(need, needs, optional=optional)
            if value:
                self._known.add(value)
            values.append(value or None)
        return values

    def _one(self, need: _Need, needs: Sequence[_Need], *, optional: bool) -> str:
        if self.interactive:
            hint = " (Enter to skip)" if optional else ""
            label = need.label
            try:
                value = getpass.getpass(f"{label[0].upper()}{label[1:]}{hint}: ")
            except EOFError:
                raise CommandFailedError("no secret given: nothing was changed") from None
        else:
            line = self._stdin.readline() if self._stdin is not None else ""
            self._line += 1
            if not line:
                order = "; ".join(f"{i}. {n.label}" for i, n in enumerate(needs, start=1))
                raise CommandFailedError(
                    f"stdin ended before line {self._line}, the {need.label}: nothing was "
                    f"changed. Secrets are asked for on a terminal, or read from stdin one per "
                    f"line, in this order: {order}"
                )
            value = line.rstrip("\r\n")
        if not value and not optional:
            raise CommandFailedError(f"the {need.label} is empty: nothing was changed")
        return value

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on a terminal; ``False`` when there is no terminal to ask on."""
        if not self.interactive:
            return False
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        answer = self._stdin.readline() if self._stdin is not None else ""
        return answer.strip().lower() in {"y", "yes"}


class _KeyringChanges:
    """Secrets written by one command, so that a later failure can put the old ones back."""

    def __init__(self, store: SecretStore) -> None:
        self.store = store
        self._undo: list[tuple[str, str, str | None]] = []

    async def set(self, feed_id: str, slot: str, value: str, *, previous: str | None) -> None:
        await self.store.set(feed_id, slot, value)
        self._undo.append((feed_id, slot, previous))

    async def undo(self) -> None:
        for feed_id, slot, previous in reversed(self._undo):
            with contextlib.suppress(SecretStoreError):
                if previous is None:
                    await self.store.delete(feed_id, slot)
                else:
                    await self.store.set(feed_id, slot, previous)
        self._undo.clear()


async def _store_and_save(
    context: Context,
    store: SecretStore | None,
    writes: Sequence[tuple[str, str, str]],
    settings: Settings,
    *,
    keep_previous: bool,
) -> None:
    """Write the secrets, then the settings file; on any failure undo the keyring writes."""
    changes = _KeyringChanges(store) if store is not None else None
    try:
        for feed_id, slot, value in writes:
            assert changes is not None
            previous = await changes.store.get(feed_id, slot) if keep_previous else None
            if previous:
                context.known.add(previous)
            await changes.set(feed_id, slot, value, previous=previous)
        context.save_settings(settings)
    except BaseException:
        if changes is not None:
            await changes.undo()
        raise


def _keyring_needed_failure(exc: SecretStoreError, *, hint: str = "") -> CommandFailedError:
    return CommandFailedError(f"keyring {exc.state}: {exc}; nothing was changed{hint}")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one step of a command on a fresh event loop (keyring and history calls are async)."""
    return asyncio.run(coro)


# -- showing feeds -------------------------------------------------------------------


def _feed_json(feed: Feed) -> dict[str, Any]:
    """A feed for scripts: every setting, URLs redacted, never a secret."""
    auth: dict[str, Any] = {"kind": feed.auth.kind.value}
    for key in ("username", "header_name", "query_param", "command"):
        value = getattr(feed.auth, key)
        if value:
            auth[key] = value
    return {
        "id": feed.id,
        "name": feed.name,
        "url": redact_url(feed.url),
        "preset": feed.preset,
        "paused": feed.paused,
        "auth": auth,
        "headers": [
            {"name": h.name, "secret": True} if h.secret else {"name": h.name, "value": h.value}
            for h in feed.headers
        ],
        "tls": {"verify": feed.tls.verify, "ca_file": feed.tls.ca_file},
        "proxy": redact_url(feed.proxy) if feed.proxy else "",
        "idle_timeout": feed.idle_timeout,
        "rules": _rules_json(feed, time.time()),
        "warnings": [] if feed.tls.verify else ["tls-verification-off"],
    }


def _one_line(feed: Feed) -> str:
    return f"{feed.id} {feed.name!r}"


def _warn_tls(context: Context, feed: Feed) -> None:
    if not feed.tls.verify:
        context.messages.say("warning: " + _TLS_OFF_WARNING.format(name=feed.name))


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


@command
def _list(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    if args.json:
        print_json(
            {
                "feeds": [_feed_json(f) for f in settings.feeds],
                "problems": [
                    {"file": str(p.file), "where": p.where, "line": p.line, "message": p.message}
                    for p in settings.problems
                ],
            }
        )
        return EXIT_OK
    if not settings.feeds:
        context.messages.say("no feeds yet: add one with `tidings feeds add NAME URL`")
        return EXIT_OK
    rows = [("ID", "NAME", "STATE", "AUTH", "URL")]
    now = time.time()
    for feed in settings.feeds:
        url = redact_url(feed.url) + ("" if feed.tls.verify else f"  {TLS_OFF}")
        state = ", ".join(
            part
            for part in ("paused" if feed.paused else "active", _mute_text(feed.rules, now))
            if part
        )
        rows.append((feed.id, feed.name, state, feed.auth.kind.value, url))
    print(_table(rows))
    insecure = [f for f in settings.feeds if not f.tls.verify]
    if insecure:
        names = ", ".join(repr(f.name) for f in insecure)
        context.messages.say(f"warning: TLS certificate verification is OFF for {names}")
    return EXIT_OK


async def _secret_states(context: Context, feed: Feed) -> dict[str, str]:
    """For each secret the feed needs: ``stored``, ``missing``, or why it is unknown."""
    slots = secret_slots(feed)
    if not slots:
        return {}
    store = context.secrets()
    states: dict[str, str] = {}
    for slot in slots:
        try:
            value = await store.get(feed.id, slot)
        except SecretStoreError as exc:
            return dict.fromkeys(slots, f"unknown (keyring {exc.state})")
        if value:
            context.known.add(value)
        states[slot] = "stored" if value else "missing"
    return states


@command
def _show(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    feed = _resolve(context, settings, args.feed)
    states: dict[str, str] = _run(_secret_states(context, feed))
    if args.json:
        print_json({**_feed_json(feed), "secrets": states})
        return EXIT_OK
    auth = feed.auth
    auth_text = auth.kind.value
    detail = {
        AuthKind.BASIC: f"user {auth.username!r}",
        AuthKind.HEADER: f"header {auth.header_name}",
        AuthKind.QUERY: f"parameter {auth.query_param}=",
        AuthKind.COMMAND: f"token from the command: {auth.command}",
    }.get(auth.kind)
    if detail:
        auth_text += f" ({detail})"
    if auth_slot() in states:
        auth_text += f"; secret in the keyring: {states[auth_slot()]}"
    header_lines = []
    for header in feed.headers:
        if header.secret:
            state = states.get(header_slot(header.name), "?")
            header_lines.append(f"{header.name}: (secret, in the keyring: {state})")
        else:
            header_lines.append(f"{header.name}: {header.value}")
    if feed.tls.verify:
        tls_text = "verified against the OS trust store"
        if feed.tls.ca_file:
            tls_text += f" and {feed.tls.ca_file}"
    else:
        tls_text = f"{TLS_OFF}: certificates are not checked"
    rows = [
        ("id", feed.id),
        ("name", feed.name),
        ("url", redact_url(feed.url)),
        ("state", "paused" if feed.paused else "active"),
        ("preset", feed.preset),
        ("auth", auth_text),
        *[("headers" if i == 0 else "", line) for i, line in enumerate(header_lines)],
        ("tls", tls_text),
        ("proxy", redact_url(feed.proxy) if feed.proxy else "the system's (environment)"),
        ("idle timeout", f"{feed.idle_timeout:g} s"),
        *_rules_rows(feed, time.time()),
    ]
    print_rows(rows)
    missing = [slot for slot, state in states.items() if state == "missing"]
    if missing:
        context.messages.say(
            f"warning: {len(missing)} secret(s) of this feed are not in the keyring: set them "
            f"with `tidings feeds edit {feed.id} --set-secret`"
        )
    _warn_tls(context, feed)
    return EXIT_OK


# -- changing feeds ----------------------------------------------------------------


@command
def _add(args: argparse.Namespace, context: Context) -> int:
    feed = _build_feed(args, current=None, feed_id=new_feed_id())
    settings = context.load_settings_reporting()
    ensure_saveable(context, settings)
    _check_name_free(settings, feed.name)
    needs = [_Need(feed, slot) for slot in secret_slots(feed)]
    store = context.secrets() if needs else None
    if store is not None:
        # Before any prompt: no point typing a password the keyring cannot keep.
        try:
            _run(context.probe_keyring(store))
        except SecretStoreError as exc:
            raise _keyring_needed_failure(exc) from None
    values = _SecretReader(context).read(needs)
    writes = [(feed.id, n.slot, v) for n, v in zip(needs, values, strict=True) if v is not None]
    _run(
        _store_and_save(
            context,
            store,
            writes,
            settings.with_feeds([*settings.feeds, feed]),
            keep_previous=False,
        )
    )
    if args.json:
        print_json(_feed_json(feed))
    else:
        print(f"added feed {_one_line(feed)}" + (" (paused)" if feed.paused else ""))
    if writes:
        context.messages.say(f"{len(writes)} secret(s) stored in the keyring")
    _warn_tls(context, feed)
    return EXIT_OK


@command
def _edit(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    current = _resolve(context, settings, args.feed)
    feed = _build_feed(args, current=current, feed_id=current.id)
    if feed.name != current.name:
        _check_name_free(settings, feed.name, own_id=feed.id)
    old_slots = secret_slots(current)
    new_slots = secret_slots(feed)
    wanted = {s for s in new_slots if s not in old_slots}
    wanted.update(header_slot(name) for name in args.secret_header)
    for which in args.set_secret:
        slot = auth_slot() if which.lower() == "auth" else header_slot(which)
        if slot not in new_slots:
            raise UsageError(
                f"--set-secret {which}: feed {feed.name!r} has no such secret (its secrets: "
                + (", ".join(_slot_name(feed, s) for s in new_slots) or "none")
                + ")"
            )
        wanted.add(slot)
    ask = [_Need(feed, s) for s in new_slots if s in wanted]
    drop = [s for s in old_slots if s not in new_slots]
    if feed == current and not ask:
        print(f"feed {_one_line(feed)} unchanged")
        return EXIT_OK
    ensure_saveable(context, settings)
    store = context.secrets() if (ask or drop) else None
    if store is not None:
        try:
            _run(context.probe_keyring(store))
        except SecretStoreError as exc:
            raise _keyring_needed_failure(exc) from None
    values = _SecretReader(context).read(ask)
    writes = [(feed.id, n.slot, v) for n, v in zip(ask, values, strict=True) if v is not None]
    feeds = [feed if f.id == feed.id else f for f in settings.feeds]
    _run(_store_and_save(context, store, writes, settings.with_feeds(feeds), keep_previous=True))
    failed = _run(_delete_secrets(store, feed.id, drop)) if store is not None and drop else []
    if args.json:
        print_json(_feed_json(feed))
    else:
        print(f"changed feed {_one_line(feed)}")
    if writes:
        context.messages.say(f"{len(writes)} secret(s) stored in the keyring")
    if failed:
        context.messages.say(
            f"warning: could not delete {len(failed)} secret(s) the feed no longer uses from "
            "the keyring"
        )
    if current.tls.verify and not feed.tls.verify:
        _warn_tls(context, feed)
    return EXIT_OK


def _slot_name(feed: Feed, slot: str) -> str:
    if slot == auth_slot():
        return "auth"
    return next((h.name for h in feed.headers if header_slot(h.name) == slot), slot)


async def _delete_secrets(store: SecretStore, feed_id: str, slots: Sequence[str]) -> list[str]:
    """Delete the slots; return those that could not be deleted."""
    failed = []
    for slot in slots:
        try:
            await store.delete(feed_id, slot)
        except SecretStoreError:
            failed.append(slot)
    return failed


@command
def _remove(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    feed = _resolve(context, settings, args.feed)
    ensure_saveable(context, settings)
    slots = secret_slots(feed)
    store = context.secrets() if slots else None
    if store is not None:
        try:
            _run(context.probe_keyring(store))
        except SecretStoreError as exc:
            if not args.force:
                raise _keyring_needed_failure(
                    exc, hint=" (--force removes the feed anyway and leaves its secrets there)"
                ) from None
            context.messages.say(f"warning: keyring {exc.state}: its secrets stay in the keyring")
            store = None
    context.save_settings(settings.with_feeds([f for f in settings.feeds if f.id != feed.id]))
    failed: list[str] = []
    if store is not None:
        # Every header's slot too: one that was secret once may still hold a value.
        every = list(dict.fromkeys([*slots, *(header_slot(h.name) for h in feed.headers)]))
        failed = _run(_delete_secrets(store, feed.id, every))
    events = _run(_forget_history(context, feed.id)) if context.history_exists() else 0
    removed = [f"{len(slots) - len([s for s in failed if s in slots])} keyring secret(s)"]
    removed.append(f"{events} stored event(s)")
    print(f"removed feed {_one_line(feed)} ({', '.join(removed)})")
    if failed:
        context.messages.error(
            f"could not delete {len(failed)} secret(s) of {feed.id} from the keyring; the feed "
            "itself is removed"
        )
        return EXIT_FAILURE
    return EXIT_OK


async def _forget_history(context: Context, feed_id: str) -> int:
    async with context.history() as store:
        count = await store.count(feed_id)
        await store.forget_feed(feed_id)
    return count


def _set_paused(args: argparse.Namespace, context: Context, paused: bool) -> int:
    settings = context.load_settings_reporting()
    targets = [_resolve(context, settings, ref) for ref in args.feeds]
    changing = {f.id for f in targets if f.paused != paused}
    verb = "paused" if paused else "resumed"
    if changing:
        ensure_saveable(context, settings)
        feeds = [replace(f, paused=paused) if f.id in changing else f for f in settings.feeds]
        context.save_settings(settings.with_feeds(feeds))
    for feed in {f.id: f for f in targets}.values():
        if feed.id in changing:
            print(f"{verb} feed {_one_line(feed)}")
        else:
            print(f"feed {_one_line(feed)} was already {'paused' if paused else 'active'}")
    return EXIT_OK


@command
def _pause(args: argparse.Namespace, context: Context) -> int:
    return _set_paused(args, context, True)


@command
def _resume(args: argparse.Namespace, context: Context) -> int:
    return _set_paused(args, context, False)


# -- feeds test --------------------------------------------------------------------


class _TestPrinter(Messages):
    """Prints the first events (stdout) and the connection's progress (stderr)."""

    def __init__(self, *, as_json: bool, max_events: int) -> None:
        super().__init__()
        self._as_json = as_json
        self.remaining = max_events
        self.received = 0
        self.opened = False
        self.source: EventSource | None = None

    async def events(self, events: Sequence[DecodedEvent]) -> None:
        for event in events[: self.remaining]:
            if self._as_json:
                line = json.dumps(
                    {"event": event.type, "data": event.data, "id": event.id}, ensure_ascii=False
                )
                text = line + "\n"
            else:
                ident = f"  #{event.id}" if event.id else ""
                text = f"{time.strftime('%H:%M:%S')}  {event.type}{ident}\n" + "".join(
                    f"    {line}\n" for line in event.data.split("\n")
                )
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.write(text)
                sys.stdout.flush()
            self.received += 1
            self.remaining -= 1
        if self.remaining <= 0 and self.source is not None:
            self.source.close()

    def status(self, status: FeedStatus) -> None:
        if status.state is ConnectionState.CONNECTING:
            self.say(f"connecting to {status.url}")
        elif status.state is ConnectionState.OPEN:
            self.opened = True
            self.say(f"connected (HTTP {status.http_status})")


@command
def _test(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    feed = _find(settings, args.feed)
    if feed is None and "://" not in args.feed:
        _resolve(context, settings, args.feed)  # raises with the right message
    printer = _TestPrinter(as_json=args.json, max_events=args.max_events)
    return _run(_test_connection(args, context, feed, printer))


async def _test_connection(
    args: argparse.Namespace, context: Context, feed: Feed | None, printer: _TestPrinter
) -> int:
    timeout: float = args.timeout
    policy = ConnectionPolicy(connect_timeout=timeout)
    if feed is None:
        try:
            validate_url(args.feed)
        except InvalidURLError as exc:
            raise UsageError(str(exc)) from None
        source = EventSource(
            args.feed,
            on_events=printer.events,
            on_status=printer.status,
            reconnect=False,
            policy=policy,
        )
    else:
        try:
            verify = ssl_context_for(feed)
        except (OSError, ssl.SSLError) as exc:
            raise CommandFailedError(f"cannot use the CA file {feed.tls.ca_file}: {exc}") from None
        if not feed.tls.verify:
            _warn_tls(context, feed)
        if feed.paused:
            printer.say(f"feed {feed.name!r} is paused; testing it anyway")
        if feed.auth.kind is AuthKind.COMMAND:
            printer.say(f"running the feed's token command: {feed.auth.command}")
        auth = FeedAuth(feed, secrets=context.secrets(), known=context.known)
        source = EventSource(
            feed.url,
            on_events=printer.events,
            on_status=printer.status,
            headers=[(h.name, h.value) for h in feed.headers if not h.secret],
            auth=auth if auth.needed else None,
            reconnect=False,
            policy=replace(policy, idle_timeout=feed.idle_timeout),
            verify=verify,
            proxy=feed.proxy or None,
        )
    printer.source = source
    loop = asyncio.get_running_loop()
    timed_out: list[bool] = []
    caught: list[int] = []

    def on_timeout() -> None:
        timed_out.append(True)
        source.close()

    def on_signal(signum: int) -> None:
        caught.append(signum)
        source.close()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    timer = loop.call_later(timeout, on_timeout)
    try:
        final = await source.run()
    finally:
        timer.cancel()
    if caught:
        return EXIT_SIGINT if caught[0] == signal.SIGINT else EXIT_SIGTERM
    got = f"{printer.received} event(s)"
    if printer.remaining <= 0:
        printer.say(f"the feed works: {got} received")
        return EXIT_OK
    if timed_out:
        if printer.opened:
            printer.say(f"the feed works: connected, {got} within {timeout:g} s")
            return EXIT_OK
        printer.error(f"no answer within {timeout:g} s")
        return EXIT_FAILURE
    reason = final.stop_reason
    if reason is not None and reason.is_error:
        message = final.message
        if reason is StopReason.TLS and feed is not None and feed.tls.verify:
            # A saved feed can carry its own CA: say how, next to the system-wide way.
            message += (
                f"; or give this feed its CA: tidings feeds edit {shlex.quote(feed.name)} "
                "--ca-file PEM"
            )
        printer.error(message)
        return EXIT_FAILURE
    if reason is StopReason.ENDED:
        printer.say(f"the feed works: the server closed the stream after {got}")
    else:
        printer.say(final.message)
    return EXIT_OK


# -- export and import --------------------------------------------------------------


@command
def _export(args: argparse.Namespace, context: Context) -> int:
    settings = context.load_settings_reporting()
    fmt = args.format or ("json" if args.file.lower().endswith(".json") else "toml")
    text, warnings = export_text(settings.feeds, fmt)
    for warning in warnings:
        context.messages.say(f"warning: {warning}")
    if args.file == "-":
        sys.stdout.write(text)
    else:
        path = Path(args.file)
        try:
            with path.open("x" if not args.force else "w", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            raise CommandFailedError(
                f"{path} exists already: choose another file, or --force"
            ) from None
        except OSError as exc:
            raise CommandFailedError(f"cannot write {path}: {exc.strerror or exc}") from None
    where = "stdout" if args.file == "-" else args.file
    context.messages.say(
        f"exported {len(settings.feeds)} feed(s) to {where}, without secrets (import asks for them)"
    )
    return EXIT_OK


@command
def _import(args: argparse.Namespace, context: Context) -> int:
    path = Path(args.file)
    try:
        tables = read_import(path)
    except UsageError as exc:
        raise CommandFailedError(str(exc)) from None
    settings = context.load_settings_reporting()
    ensure_saveable(context, settings)
    reader = _SecretReader(context)

    def allow_command(feed: Feed) -> bool:
        return bool(args.allow_commands) or reader.confirm(
            f"Feed {feed.name!r} gets its token by running this command:\n"
            f"    {feed.auth.command}\nAllow Tidings to run it?"
        )

    plan = plan_import(
        tables,
        settings,
        wording=_WORDING,
        allow_command=allow_command,
        on_skip=lambda reason: context.messages.say(f"{path}: {reason}; skipped"),
    )
    incoming, problems = plan.incoming, len(plan.skipped)
    if not incoming:
        raise CommandFailedError(f"{path}: no feed to import")
    needs = (
        []
        if args.skip_secrets
        else [_Need(item.feed, slot) for item in incoming for slot in secret_slots(item.feed)]
    )
    store = context.secrets() if needs else None
    if store is not None:
        try:
            _run(context.probe_keyring(store))
        except SecretStoreError as exc:
            raise _keyring_needed_failure(
                exc, hint=" (--skip-secrets imports the feeds without their secrets)"
            ) from None
    values = reader.read(needs, optional=True)
    writes = [(n.feed.id, n.slot, v) for n, v in zip(needs, values, strict=True) if v is not None]
    stored = {(feed_id, slot) for feed_id, slot, _ in writes}
    new_feeds = [*settings.feeds, *(item.feed for item in incoming)]
    _run(
        _store_and_save(context, store, writes, settings.with_feeds(new_feeds), keep_previous=True)
    )
    for item in incoming:
        feed = item.feed
        unset = [s for s in secret_slots(feed) if (feed.id, s) not in stored]
        if unset:
            item.notes.append(
                f"{len(unset)} secret(s) not set: it needs credentials until you run "
                f"`tidings feeds edit {feed.id} --set-secret`"
            )
        print(f"imported feed {_one_line(feed)}" + (" (paused)" if feed.paused else ""))
        for note in item.notes:
            print(f"    {note}")
    context.messages.say(
        f"imported {len(incoming)} feed(s)"
        + (f"; {problems} skipped (see above)" if problems else "")
    )
    return EXIT_FAILURE if problems else EXIT_OK


# -- mute and rules ------------------------------------------------------------------

MUTE_MORNING_HOUR = 8
"""``--until-tomorrow`` mutes until this hour (local time) of the next day."""
DEFAULT_MUTE_SECONDS = 3600.0
MAX_MUTE_SECONDS = 366 * 86400.0
"""Longer than this is what ``--forever`` is for (and keeps the date in range)."""

_DURATION_UNITS = r"weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s"
_DURATION_PART = re.compile(rf"(\d+(?:\.\d+)?)\s*({_DURATION_UNITS})", re.IGNORECASE)
_DURATION_WHOLE = re.compile(rf"(?:\s*\d+(?:\.\d+)?\s*(?:{_DURATION_UNITS})\s*)+", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_UNTIL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
_CLOCK_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _duration(text: str) -> float:
    """An argparse type: ``30m``, ``1h``, ``1h30m``, ``2d``, ``1w`` as seconds."""
    if not _DURATION_WHOLE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 30m, 1h, 1h30m, 2d or 1w"
        )
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit[0].lower()]
        for number, unit in _DURATION_PART.findall(text)
    )
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is no time at all: give a longer duration")
    if seconds > MAX_MUTE_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than a year: use --forever to mute until you unmute"
        )
    return seconds


def _local_time(text: str) -> dt.datetime:
    """An argparse type: ``YYYY-MM-DD HH:MM`` (local), or ``HH:MM``: its next occurrence."""
    value = text.strip()
    clock = _CLOCK_RE.fullmatch(value)
    if clock:
        now = dt.datetime.now()
        when = now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        return when if when > now else when + dt.timedelta(days=1)
    for fmt in _UNTIL_FORMATS:
        with contextlib.suppress(ValueError):
            return dt.datetime.strptime(value, fmt)  # local time, as a person means it
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a local date and time such as '2026-05-01 08:00' (or 08:00)"
    )


def _clock_text(timestamp: float) -> str:
    """A wall-clock time as a person reads it: ``2026-05-01 08:00`` (local time)."""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _span_text(seconds: float) -> str:
    """``45 min``, ``3 h 20 min``, ``2 d 4 h``: roughly how long."""
    minutes = max(1, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _mute_text(rules: FeedRules, now: float) -> str:
    """``muted``, ``muted until 2026-05-01 08:00``, or ``""`` when not muted now."""
    until = rules.muted_until
    if until is None or not rules.muted_at(now):
        return ""
    if math.isinf(until):
        return "muted"
    return f"muted until {_clock_text(until)}"


def _mute_json(rules: FeedRules, now: float) -> dict[str, Any]:
    """``muted`` and ``muted_until`` (ISO 8601 with offset, ``"forever"`` or ``null``)."""
    until = rules.muted_until
    if until is None or not rules.muted_at(now):
        return {"muted": False, "muted_until": None}
    if math.isinf(until):
        return {"muted": True, "muted_until": "forever"}
    stamp = dt.datetime.fromtimestamp(until).astimezone().isoformat(timespec="seconds")
    return {"muted": True, "muted_until": stamp}


def _firehose(feed: Feed) -> bool:
    try:
        return get_preset(feed.preset).firehose
    except KeyError:
        return False


def _notify_text(feed: Feed) -> str:
    rules = feed.rules
    if rules.notifications is not None:
        return "on" if rules.notifications else "off (events are only logged)"
    if _firehose(feed):
        return f"off (the {feed.preset} preset's default: a firehose; events are only logged)"
    return f"on (the {feed.preset} preset's default)"


def _rules_json(feed: Feed, now: float) -> dict[str, Any]:
    """A feed's rules for scripts: as set (``notifications`` may be null) and as they apply."""
    rules = feed.rules
    return {
        "notifications": rules.notifications,
        "notifications_on": rules.enabled(firehose=_firehose(feed)),
        "event_types": list(rules.event_types),
        "filter": rules.text_filter,
        "min_urgency": rules.min_urgency.value,
        **_mute_json(rules, now),
    }


def _rules_rows(feed: Feed, now: float) -> list[tuple[str, str]]:
    rules = feed.rules
    until = rules.muted_until
    if until is None or not rules.muted_at(now):
        mute = "no"
    elif math.isinf(until):
        mute = f"until you unmute it (tidings feeds unmute {feed.id})"
    else:
        mute = f"until {_clock_text(until)} (for {_span_text(until - now)} more)"
    return [
        ("notifications", _notify_text(feed)),
        ("event types", ", ".join(rules.event_types) if rules.event_types else "every type"),
        ("text filter", rules.text_filter or "none"),
        (
            "min urgency",
            rules.min_urgency.value
            + (" (every event)" if rules.min_urgency is Urgency.LOW else ""),
        ),
        ("muted", mute),
    ]


def _save_feed(context: Context, settings: Settings, feed: Feed) -> None:
    """Save ``settings`` with ``feed`` changed, never over a file that cannot be rewritten."""
    ensure_saveable(context, settings)
    context.save_settings(settings.with_feed(feed))


def _mute_until(args: argparse.Namespace, now: float) -> float | None:
    """The wall-clock end of the mute the options ask for; ``None`` for ``--forever``."""
    if args.forever:
        return None
    if args.until_tomorrow:
        return mute_until_tomorrow(now, hour=MUTE_MORNING_HOUR)
    if args.mute_until is not None:
        until: float = args.mute_until.timestamp()
        if until <= now:
            raise UsageError(
                f"--until: {args.mute_until:%Y-%m-%d %H:%M} is in the past; give a later time"
            )
        return until
    return now + (args.mute_for if args.mute_for is not None else DEFAULT_MUTE_SECONDS)


@command
def _mute(args: argparse.Namespace, context: Context) -> int:
    now = time.time()
    until = _mute_until(args, now)
    settings = context.load_settings_reporting()
    feed = _resolve(context, settings, args.feed)
    feed = replace(feed, rules=muted(feed.rules, until))
    _save_feed(context, settings, feed)
    if args.json:
        print_json({"id": feed.id, "name": feed.name, **_mute_json(feed.rules, now)})
        return EXIT_OK
    if until is None:
        ends = f"until you unmute it (tidings feeds unmute {feed.id})"
    else:
        ends = (
            f"until {_clock_text(feed.rules.muted_until or until)} (for {_span_text(until - now)})"
        )
    print(f"muted feed {_one_line(feed)} {ends}; its events are still logged")
    return EXIT_OK


@command
def _unmute(args: argparse.Namespace, context: Context) -> int:
    now = time.time()
    settings = context.load_settings_reporting()
    feed = _resolve(context, settings, args.feed)
    was_muted = feed.rules.muted_at(now)
    if feed.rules.muted_until is not None:
        # An ended mute is cleared too, so the file no longer mentions it.
        feed = replace(feed, rules=unmuted(feed.rules))
        _save_feed(context, settings, feed)
    if args.json:
        print_json({"id": feed.id, "name": feed.name, **_mute_json(feed.rules, now)})
    elif was_muted:
        print(f"unmuted feed {_one_line(feed)}: its notifications pop up again")
    else:
        print(f"feed {_one_line(feed)} was not muted")
    return EXIT_OK


def _rule_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The FeedRules fields the options set, checked (a usage error names the option)."""
    changes: dict[str, Any] = {}
    if args.notify is not None:
        changes["notifications"] = {"on": True, "off": False, "default": None}[args.notify]
    if args.types is not None:
        types = [t.strip() for t in args.types.split(",")]
        for kind in types:
            if "\n" in kind or "\r" in kind:
                raise UsageError("--types: an event type is one line of text")
        changes["event_types"] = tuple(dict.fromkeys(t for t in types if t))
    if args.text_filter is not None:
        if args.text_filter:
            try:
                compile_filter(args.text_filter)
            except re.error as exc:
                raise UsageError(
                    f"--filter: {args.text_filter!r} is not a valid regular expression ({exc})"
                ) from None
        changes["text_filter"] = args.text_filter
    if args.min_urgency is not None:
        changes["min_urgency"] = Urgency(args.min_urgency)
    return changes


@command
def _rules(args: argparse.Namespace, context: Context) -> int:
    changes = _rule_changes(args)
    now = time.time()
    settings = context.load_settings_reporting()
    current = _resolve(context, settings, args.feed)
    feed = current
    if changes or args.clear:
        base = FeedRules(muted_until=current.rules.muted_until) if args.clear else current.rules
        feed = replace(current, rules=replace(base, **changes))
        if feed != current:
            _save_feed(context, settings, feed)
    if args.json:
        print_json({"id": feed.id, "name": feed.name, "rules": _rules_json(feed, now)})
        return EXIT_OK
    if feed != current:
        print(f"changed the rules of feed {_one_line(feed)}:")
    elif changes or args.clear:
        print(f"the rules of feed {_one_line(feed)} were already so:")
    else:
        print(f"rules of feed {_one_line(feed)} (every event is logged whatever they say):")
    print_rows(_rules_rows(feed, now))
    return EXIT_OK
