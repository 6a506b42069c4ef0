"""Feeds to and from a file, without secrets: the format of ``tidings feeds export`` and ``import``.

The file is a ``feeds`` array of feed tables (the settings file's own shape)
and a ``schema_version``, as TOML or JSON; a settings file imports too. No
secret is ever written: auth kinds and secret header names are kept, their
values stay in the keyring, and a URL or proxy that carries a credential is
written redacted. On import each feed gets a new id unless its own is free,
a name in use gets a number, and a feed whose token comes from a command
arrives paused: Tidings never runs a command from a file without asking.

The desktop app (qt/feed_files.py) and ``tidings feeds export/import``
(cli/feeds.py) both use this module. They word an import's notes differently:
the desktop app's words are :class:`ImportWording`'s own, the command line
subclasses it (commands to run, terse markers), and it may allow token
commands (``allow_command``) where the desktop app never does.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import tomli_w

from tidings.core.config import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Settings,
    feed_from_dict,
    feed_to_dict,
    new_feed_id,
)
from tidings.core.errors import UsageError
from tidings.core.models import AuthKind, Feed
from tidings.core.redact import SECRET_PARAMS, redact_url
from tidings.core.secrets import auth_slot, header_slot

__all__ = [
    "DESKTOP_WORDING",
    "EXPORT_HEADER",
    "ImportPlan",
    "ImportWording",
    "IncomingFeed",
    "export_text",
    "plan_import",
    "read_import",
    "refuse_credentials_in_url",
    "secret_slots",
]

EXPORT_HEADER = (
    "# Tidings feeds, exported without secrets: `tidings feeds import FILE` asks for them.\n"
)
_KEYRING_AUTH = frozenset({AuthKind.BASIC, AuthKind.BEARER, AuthKind.HEADER, AuthKind.QUERY})


class ImportWording:
    """The words of an import's notes, and the advice that comes with a credential refused in a
    URL: the desktop app's. ``tidings feeds import`` subclasses it with its own."""

    def credential_advice(self, what: str, param: str | None) -> str:
        """What to do instead of a credential in the ``what`` (``URL`` or ``proxy``): ``param``
        names the query parameter that carries it, ``None`` means a password; empty for none."""
        return "" if param is None else "use query authentication (kept in the keyring) instead"

    def command_allowed(self, feed: Feed) -> str:
        """The note of a feed whose token command may run (the user allowed it)."""
        return f"its token command is allowed to run: {feed.auth.command}"

    def command_paused(self, feed: Feed, *, was_paused: bool) -> str | None:
        """The note of a feed kept paused because a command gives its token (``None``: none)."""
        if was_paused:
            return None
        return (
            f"paused: its token comes from the command `{feed.auth.command}`, which "
            "Tidings does not run until you check it and resume the feed"
        )

    def tls_off(self, feed: Feed) -> str:
        """The note of a feed that does not verify TLS certificates."""
        return "TLS certificate verification is OFF for this feed"

    def ca_file_missing(self, feed: Feed) -> str:
        """The note of a feed whose CA file is not on this machine."""
        return f"its CA file {feed.tls.ca_file} is not on this machine"

    def needs_credentials(self, feed: Feed) -> str | None:
        """The note of a feed that needs keyring secrets (``None``: the caller says it later)."""
        return "it needs its credentials: edit the feed to enter them"


DESKTOP_WORDING = ImportWording()
"""The desktop app's words, the default."""


def secret_slots(feed: Feed) -> list[str]:
    """The keyring slots a feed's configuration needs: its auth secret, then its secret headers."""
    slots = [auth_slot()] if feed.auth.kind in _KEYRING_AUTH else []
    slots += [header_slot(h.name) for h in feed.headers if h.secret]
    return slots


def export_text(feeds: Sequence[Feed], fmt: str = "toml") -> tuple[str, list[str]]:
    """The export file's text (``fmt``: ``toml`` or ``json``) and a warning per redacted value."""
    tables = []
    warnings = []
    for feed in feeds:
        table = feed_to_dict(feed)
        for key in ("url", "proxy"):
            if key in table and redact_url(table[key]) != table[key]:
                table[key] = redact_url(table[key])
                warnings.append(
                    f"feed {feed.name!r}: its {key} carries a credential, exported as ***; "
                    "set it again after importing"
                )
        tables.append(table)
    doc = {"schema_version": SCHEMA_VERSION, "feeds": tables}
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n", warnings
    if fmt != "toml":
        raise ValueError(f"unknown export format {fmt!r}")
    return EXPORT_HEADER + tomli_w.dumps(doc), warnings


def read_import(path: Path) -> list[object]:
    """The feed tables of an export (or settings) file, migrated to this schema.

    Raises :class:`UsageError` saying what is wrong with the file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    doc: object
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: not valid TOML: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a table with a `feeds` array")
    version = doc.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise UsageError(f"{path}: schema_version must be a whole number")
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{path} comes from a newer Tidings (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade Tidings to import it"
        )
    for step in range(version, SCHEMA_VERSION):
        doc = MIGRATIONS[step](doc)
    feeds = doc.get("feeds", [])
    if not isinstance(feeds, list):
        raise UsageError(f"{path}: feeds must be an array of tables")
    return feeds


@dataclass
class IncomingFeed:
    """A feed ready to add, and what the user should know about it."""

    feed: Feed
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    """What an import would add, and what it skips (with the reason)."""

    incoming: list[IncomingFeed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def plan_import(
    tables: Sequence[object],
    settings: Settings,
    *,
    wording: ImportWording = DESKTOP_WORDING,
    allow_command: Callable[[Feed], bool] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> ImportPlan:
    """Validate ``tables`` against ``settings``: fresh ids and names, command tokens paused.

    A feed whose token comes from a command stays active only when it is not paused already
    and ``allow_command`` (asked in the file's order) says yes; without it, none does.
    ``on_skip`` hears each skipped entry's reason as soon as it is found (they are also in
    the plan's ``skipped``).
    """
    taken_ids = {f.id for f in settings.feeds} | {
        str(t.get("id")) for t in settings.kept_feeds if t.get("id")
    }
    taken_names = {f.name for f in settings.feeds} | {
        str(t.get("name")) for t in settings.kept_feeds if t.get("name")
    }
    plan = ImportPlan()

    def skip(reason: str) -> None:
        plan.skipped.append(reason)
        if on_skip is not None:
            on_skip(reason)

    for index, raw in enumerate(tables):
        where = f"feeds[{index}]"
        if not isinstance(raw, dict):
            skip(f"{where}: not a table")
            continue
        table: dict[str, Any] = dict(raw)
        feed_id = table.get("id")
        if not isinstance(feed_id, str) or not feed_id.strip() or feed_id in taken_ids:
            table["id"] = new_feed_id()
        try:
            feed = feed_from_dict(table, where=where)
            refuse_credentials_in_url(feed.url, "URL", wording)
            if feed.proxy:
                refuse_credentials_in_url(feed.proxy, "proxy", wording)
        except (ValueError, UsageError) as exc:
            message = str(exc)
            skip(message if message.startswith(where) else f"{where}: {message}")
            continue
        notes: list[str] = []
        if feed.name in taken_names:
            base, number = feed.name, 2
            while f"{base} ({number})" in taken_names:
                number += 1
            feed = replace(feed, name=f"{base} ({number})")
            notes.append(f"renamed from {base!r}, a name in use")
        if feed.auth.kind is AuthKind.COMMAND:
            if not feed.paused and allow_command is not None and allow_command(feed):
                notes.append(wording.command_allowed(feed))
            else:
                note = wording.command_paused(feed, was_paused=feed.paused)
                feed = replace(feed, paused=True)
                if note:
                    notes.append(note)
        if not feed.tls.verify:
            notes.append(wording.tls_off(feed))
        if feed.tls.ca_file and not Path(feed.tls.ca_file).is_file():
            notes.append(wording.ca_file_missing(feed))
        if secret_slots(feed) and (note := wording.needs_credentials(feed)):
            notes.append(note)
        taken_ids.add(feed.id)
        taken_names.add(feed.name)
        plan.incoming.append(IncomingFeed(feed, notes))
    return plan


def refuse_credentials_in_url(
    url: str, what: str, wording: ImportWording = DESKTOP_WORDING
) -> None:
    """Raise :class:`UsageError` when ``url`` carries a password or a credential parameter,
    which the settings file would keep in plaintext; ``wording`` gives the advice."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return  # validation says what is wrong with it
    found: tuple[str, str | None] | None = None
    if parts.password:
        found = ("a password", None)
    else:
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if value and name.lower() in SECRET_PARAMS:
                found = (f"a credential in its {name}= parameter", name)
                break
    if found is None:
        return
    carried, param = found
    advice = wording.credential_advice(what, param)
    raise UsageError(
        f"the {what} carries {carried}, which would be stored in plaintext"
        + (f": {advice}" if advice else "")
    )
