"""The settings file: load, migrate, validate and save atomically. It never holds a secret.

The file is TOML (``settings.toml`` in the config directory), written for
people to read and edit::

    # Tidings settings. Secrets (tokens, passwords, secret headers) are kept in the
    # OS keyring, never in this file. ...
    schema_version = 1

    [[feeds]]
    id = "f-6c1d0e2a9b7f"
    name = "CI builds"
    url = "https://ntfy.example.org/ci/sse"
    headers = [
        { name = "X-Env", value = "prod" },
        { name = "X-Token", secret = true },
    ]

    [feeds.auth]
    kind = "bearer"

    [feeds.rules]                 # what may pop up (everything is logged anyway)
    notifications = true          # leave out for the preset's default (off for eventstreams)
    event_types = ["push"]        # empty or left out: every type
    filter = "deploy|fail(ed|ure)"  # a regular expression searched in title, body and data
    min_urgency = "normal"        # low, normal or critical
    muted_until = 2026-05-01T08:00:00+02:00  # or "forever" (until unmuted)

    [quiet_hours]                 # one for all feeds; may come before or after the feeds
    enabled = true
    days = ["mon", "tue", "wed", "thu", "fri"]  # the day a period starts on; default: all
    start = "22:00"               # a period that ends before it starts crosses midnight
    end = "07:00"
    break_through = "critical"    # these still pop up during quiet hours

    [history]                     # how long the history keeps events; left out: the defaults
    max_age_days = 30             # events older than this are deleted
    max_events_per_feed = 100000  # only the newest this many of each feed are kept
    max_events_total = false      # a cap over all feeds; false or left out: none

    # ... and in a feed, after its [[feeds]] header, its own limits (left out: [history]'s):
    # [feeds.retention]
    # max_age_days = 7
    # max_events = 5000

A broken file is never overwritten or reset. Syntax errors name the line;
semantic problems name the key (``feeds[2].url``, counted from 0) and the line
of the feed's ``[[feeds]]`` header. Feeds that are fine load; feeds that are
not are kept verbatim and written back unchanged, in their place, on the next
save. A file that cannot be rewritten without losing something (a syntax
error, a newer schema, ``feeds`` that is not an array of tables) refuses every
save until it is fixed. Top-level settings this version does not know are
kept as they are.

Migrations run in order (``MIGRATIONS[n]`` turns version n into n + 1) and
back the original bytes up first (``settings.toml.v0.bak``). Saves are
atomic: the new text goes to a temporary file beside the settings file, is
flushed to disk, then renamed over it, so a crash or ``kill -9`` leaves
either the old file or the new one, never a torn one. A temporary file left
by a killed writer is removed by the next save.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import hashlib
import math
import os
import re
import secrets as _secrets
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from tidings.core.errors import ConfigError, InvalidURLError, UsageError
from tidings.core.history import FeedRetention as FeedLimits
from tidings.core.history import Retention
from tidings.core.models import (
    MUTED_FOREVER,
    NOTIFIER_CHOICES,
    AppSettings,
    Auth,
    AuthKind,
    Feed,
    FeedRetention,
    FeedRules,
    Header,
    QuietHours,
    TlsOptions,
)
from tidings.core.notification import Urgency
from tidings.core.redact import redact_url
from tidings.core.rules import compile_filter
from tidings.core.sse import validate_header, validate_url

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ConfigProblem",
    "Migration",
    "Settings",
    "app_from_dict",
    "app_to_dict",
    "feed_from_dict",
    "feed_retention_from_dict",
    "feed_retention_to_dict",
    "feed_to_dict",
    "history_from_dict",
    "history_to_dict",
    "load_settings",
    "new_feed_id",
    "quiet_hours_from_dict",
    "quiet_hours_to_dict",
    "rules_from_dict",
    "rules_to_dict",
    "save_settings",
]

T = TypeVar("T")

SCHEMA_VERSION = 1
KNOWN_PRESETS = frozenset(
    {"plain", "json", "ntfy", "mercure", "eventstreams", "firebase", "smee", "mcp"}
)
DEFAULT_IDLE_TIMEOUT = 90.0

Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a settings document of version N into version N + 1."""

FILE_HEADER = (
    "# Tidings settings. Secrets (tokens, passwords, secret headers) are kept in the\n"
    "# OS keyring, never in this file. Edit freely: Tidings names any problem it finds\n"
    "# and never overwrites a file it cannot read.\n"
)

# A temporary file older than this is left over from a crash, whoever wrote it.
_STALE_TEMP_AGE = 3600.0


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    # Version 0 (the format before schema_version existed) named feeds `subscriptions`.
    doc = dict(doc)
    if "subscriptions" in doc and "feeds" not in doc:
        doc["feeds"] = doc.pop("subscriptions")
    return doc


# MIGRATIONS[n] migrates version n to n + 1.
MIGRATIONS: Mapping[int, Migration] = {0: _v0_to_v1}


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the settings file, phrased for the person who edits it.

    ``where`` is the key (``feeds[2].url``) or, for problems of the text
    itself, ``line N``; ``line`` is the line in the file when it is known.
    ``str()`` reads ``/path/settings.toml:14: feeds[2].url: missing: ...``,
    which editors and terminals turn into a link to the line.
    """

    file: Path
    where: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else str(self.file)
        if self.line and self.where == f"line {self.line}":
            return f"{place}: {self.message}"
        return f"{place}: {self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Settings:
    """What was loaded: the usable feeds, the problems, and what must survive a save verbatim."""

    feeds: tuple[Feed, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()
    kept_feeds: tuple[Mapping[str, Any], ...] = ()
    """Feed tables that did not validate: written back unchanged; nothing the user wrote is lost."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level tables this version does not know (from a newer Tidings, say): kept as they are."""
    unsaveable: str = ""
    """Non-empty when the file cannot be safely rewritten (a syntax error): the reason."""
    kept_positions: tuple[int, ...] = ()
    """For each kept feed, how many loaded feeds came before it in the file: a save puts it back
    in its place (after that many of :attr:`feeds`), so problems keep naming the same index."""
    schema_version: int = SCHEMA_VERSION
    """The version a save writes: the version the file was loaded (or migrated) to."""
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    """The ``[quiet_hours]`` table (off when absent or invalid)."""
    kept_quiet_hours: Any = None
    """A ``[quiet_hours]`` table that did not validate: written back unchanged until
    :meth:`with_quiet_hours` replaces it."""
    history_retention: Retention = field(default_factory=Retention)
    """The ``[history]`` table: the global limits, without the feeds' own (see :meth:`retention`);
    DESIGN.md's defaults when absent or invalid."""
    kept_history: Any = None
    """A ``[history]`` table that did not validate: written back unchanged until
    :meth:`with_history_retention` replaces it."""
    app: AppSettings = field(default_factory=AppSettings)
    """The ``[app]`` table (defaults when absent or invalid)."""
    kept_app: Any = None
    """An ``[app]`` table that did not validate: written back unchanged until :meth:`with_app`."""

    def feed(self, feed_id: str) -> Feed | None:
        return next((f for f in self.feeds if f.id == feed_id), None)

    def with_feeds(self, feeds: Sequence[Feed]) -> Settings:
        return replace(self, feeds=tuple(feeds))

    def with_feed(self, feed: Feed) -> Settings:
        """These settings with ``feed`` replacing the feed of the same id (or added at the end)."""
        if self.feed(feed.id) is None:
            return replace(self, feeds=(*self.feeds, feed))
        return replace(self, feeds=tuple(feed if f.id == feed.id else f for f in self.feeds))

    def with_quiet_hours(self, quiet_hours: QuietHours) -> Settings:
        """These settings with new quiet hours (replacing a table that did not validate)."""
        return replace(self, quiet_hours=quiet_hours, kept_quiet_hours=None)

    def with_history_retention(self, retention: Retention) -> Settings:
        """These settings with new global history limits (replacing a table that did not
        validate); ``retention.per_feed`` is ignored: the feeds' own limits live in the feeds."""
        return replace(self, history_retention=replace(retention, per_feed={}), kept_history=None)

    def with_app(self, app: AppSettings) -> Settings:
        """These settings with a new ``[app]`` table (replacing one that did not validate)."""
        return replace(self, app=app, kept_app=None)

    def retention(self) -> Retention:
        """What the history keeps: the ``[history]`` limits, and each feed's own
        ``[feeds.retention]`` limits (a limit a feed leaves unset is the global one)."""
        glob = self.history_retention
        per_feed = {
            f.id: FeedLimits(
                max_age_days=glob.max_age_days
                if f.retention.max_age_days is None
                else f.retention.max_age_days,
                max_events=glob.max_events_per_feed
                if f.retention.max_events is None
                else f.retention.max_events,
            )
            for f in self.feeds
            if f.retention != FeedRetention()
        }
        return replace(glob, per_feed=per_feed)


def new_feed_id() -> str:
    """A stable, random feed id: keys the keyring entries and the history, survives renames."""
    return "f-" + _secrets.token_hex(6)


# -- reading --------------------------------------------------------------------


def load_settings(
    path: Path, *, migrations: Mapping[int, Migration] = MIGRATIONS, current: int = SCHEMA_VERSION
) -> Settings:
    """Read the settings file; a missing file is an empty configuration, not an error.

    Never raises for what is in the file: every problem is in
    :attr:`Settings.problems`, and a file that must not be rewritten sets
    :attr:`Settings.unsaveable`. An older file is migrated (after a backup of
    its bytes) and rewritten; a newer one is refused and left alone.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings(schema_version=current)
    except OSError as exc:
        return _refused(ConfigProblem(path, "file", f"cannot read it: {exc.strerror or exc}"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _refused(
            ConfigProblem(
                path,
                f"line {line}",
                f"the file is not UTF-8 text (byte {exc.start} cannot be read as UTF-8); "
                "save it as UTF-8 and Tidings will read it",
                line,
            )
        )
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc), text)
        return _refused(ConfigProblem(path, f"line {line}", f"TOML syntax error: {exc}", line))
    version = doc.get("schema_version", 0 if doc else current)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        return _refused(
            ConfigProblem(
                path,
                "schema_version",
                f"must be a whole number such as {current}, not {_describe(version)}",
            )
        )
    if version > current:
        return _refused(
            ConfigProblem(
                path,
                "schema_version",
                f"version {version} was written by a newer Tidings (this one reads up to "
                f"version {current}); upgrade Tidings to use it; the file is left as it is",
            )
        )
    if version == current:
        return _validate(
            path,
            doc,
            current,
            _feed_lines(text),
            quiet_line=_table_line(text, "quiet_hours"),
            app_line=_table_line(text, "app"),
            history_line=_table_line(text, "history"),
        )
    return _migrate(path, raw=raw, doc=doc, version=version, current=current, migrations=migrations)


def _optional_table(
    doc: Mapping[str, Any],
    path: Path,
    problems: list[ConfigProblem],
    name: str,
    parse: Callable[[object], T],
    *,
    default: T,
    meanwhile: str,
    line: int | None,
) -> tuple[T, Any]:
    """A top-level table's value, and the raw table to keep when it does not validate (its
    problem, saying what holds ``meanwhile``, is added to ``problems``)."""
    if name not in doc:
        return default, None
    raw = doc[name]
    try:
        return parse(raw), None
    except _InvalidError as exc:
        problems.append(
            ConfigProblem(
                path,
                exc.where,
                f"{exc.message}; {meanwhile} until this is fixed (the table is kept in the "
                "file as it is)",
                line,
            )
        )
        return default, raw


def _refused(problem: ConfigProblem) -> Settings:
    return Settings(problems=(problem,), unsaveable=str(problem))


def _toml_error_line(message: str, text: str) -> int:
    # tomllib says "... (at line 3, column 7)" or "... (at end of document)".
    match = re.search(r"\(at line (\d+), column \d+\)$", message)
    if match:
        return int(match.group(1))
    return text.count("\n") + 1


_FEED_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*feeds[ \t]*\]\]")


def _feed_lines(text: str) -> list[int]:
    """The line of each ``[[feeds]]`` header, when the feeds are written that way."""
    return [n for n, line in enumerate(text.splitlines(), 1) if _FEED_HEADER_RE.match(line)]


def _table_line(text: str, name: str) -> int | None:
    """The line of the ``[name]`` header, when there is exactly one."""
    header = re.compile(rf"^[ \t]*\[[ \t]*{re.escape(name)}[ \t]*\]")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]
    return lines[0] if len(lines) == 1 else None


def _migrate(
    path: Path,
    *,
    raw: bytes,
    doc: dict[str, Any],
    version: int,
    current: int,
    migrations: Mapping[int, Migration],
) -> Settings:
    """Migrate in memory, back the original bytes up, then rewrite the file."""
    for step in range(version, current):
        migration = migrations.get(step)
        if migration is None:
            return _refused(
                ConfigProblem(
                    path,
                    "schema_version",
                    f"this Tidings cannot migrate version {step} to {step + 1} (it reads "
                    f"version {current}); the file is left as it is",
                )
            )
        try:
            migrated: object = migration(copy.deepcopy(doc))
        except Exception as exc:  # noqa: BLE001 - a faulty migration must not cost the file
            return _refused(
                ConfigProblem(
                    path,
                    "schema_version",
                    f"migrating version {step} to {step + 1} failed "
                    f"({type(exc).__name__}); "
                    "the file is left as it is",
                )
            )
        if not isinstance(migrated, dict):
            return _refused(
                ConfigProblem(
                    path,
                    "schema_version",
                    f"migrating version {step} to {step + 1} produced no settings; "
                    "the file is left as it is",
                )
            )
        doc = migrated
        doc["schema_version"] = step + 1
    settings = _validate(path, doc, current, [])
    if settings.unsaveable:
        return settings
    try:
        _backup(path, raw, version)
        save_settings(path, settings)
    except (OSError, ConfigError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = ConfigProblem(
            path,
            "schema_version",
            f"migrated from version {version} to {current} for this session, but the "
            f"file could not be rewritten ({detail}); it is left as it is",
        )
        return replace(settings, problems=(problem, *settings.problems), unsaveable=str(problem))
    return _reread(path, settings)


def _reread(path: Path, migrated: Settings) -> Settings:
    """The migrated file as written, so that its problems carry line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except (OSError, ValueError):
        return migrated
    if doc.get("schema_version") != migrated.schema_version:
        return migrated
    return _validate(
        path,
        doc,
        migrated.schema_version,
        _feed_lines(text),
        quiet_line=_table_line(text, "quiet_hours"),
        app_line=_table_line(text, "app"),
        history_line=_table_line(text, "history"),
    )


def _backup(path: Path, raw: bytes, version: int) -> Path:
    """Write the original bytes beside the file, never over a different earlier backup."""
    for n in range(1, 1000):
        suffix = f".v{version}.bak" if n == 1 else f".v{version}.{n}.bak"
        backup = path.with_name(path.name + suffix)
        try:
            existing = backup.read_bytes()
        except FileNotFoundError:
            _write_atomic(backup, raw)
            return backup
        if existing == raw:
            return backup
    raise ConfigError(f"too many backups of {path} already; remove some old ones")


_FEED_KEYS = frozenset(
    {
        "id",
        "name",
        "url",
        "preset",
        "paused",
        "auth",
        "headers",
        "tls",
        "proxy",
        "idle_timeout",
        "rules",
        "preset_options",
        "retention",
    }
)
_AUTH_KEYS = frozenset({"kind", "username", "header_name", "query_param", "command"})
_HEADER_KEYS = frozenset({"name", "value", "secret"})
_TLS_KEYS = frozenset({"verify", "ca_file"})
_RULES_KEYS = frozenset({"notifications", "event_types", "filter", "min_urgency", "muted_until"})
_QUIET_KEYS = frozenset({"enabled", "days", "start", "end", "break_through"})
_HISTORY_KEYS = frozenset({"max_age_days", "max_events_per_feed", "max_events_total"})
_FEED_RETENTION_KEYS = frozenset({"max_age_days", "max_events"})
_APP_KEYS = frozenset(
    {
        "notifications",
        "notifier",
        "lost_connection_after",
        "flood_limit",
        "flood_window",
        "show_window_at_start",
        "background_on_close",
    }
)
_TOP_KEYS = frozenset({"schema_version", "feeds", "quiet_hours", "history", "app"})


class _InvalidError(ValueError):
    """A feed table that does not validate: ``where`` names the key, ``message`` says why."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _validate(
    path: Path,
    doc: dict[str, Any],
    version: int,
    feed_lines: list[int],
    *,
    quiet_line: int | None = None,
    history_line: int | None = None,
    app_line: int | None = None,
) -> Settings:
    problems: list[ConfigProblem] = []
    extra = {k: v for k, v in doc.items() if k not in _TOP_KEYS}
    problems.extend(
        ConfigProblem(
            path,
            key,
            "unknown setting: this version of Tidings does not use it "
            "(it is kept in the file as it is)",
        )
        for key in sorted(extra)
    )
    kept_table = functools.partial(_optional_table, doc, path, problems)
    quiet_hours, kept_quiet = kept_table(
        "quiet_hours",
        quiet_hours_from_dict,
        default=QuietHours(),
        meanwhile="quiet hours are off",
        line=quiet_line,
    )
    history, kept_history = kept_table(
        "history",
        history_from_dict,
        default=Retention(),
        meanwhile="the history keeps its default limits (30 days, 100,000 events per feed)",
        line=history_line,
    )
    app, kept_app = kept_table(
        "app",
        app_from_dict,
        default=AppSettings(),
        meanwhile="the app uses its defaults",
        line=app_line,
    )
    raw_feeds = doc.get("feeds", [])
    if not isinstance(raw_feeds, list):
        problem = ConfigProblem(
            path,
            "feeds",
            f"must be an array of tables (each feed starts with [[feeds]]), not "
            f"{_describe(raw_feeds)}; no feed is loaded and the file is left as it is",
        )
        return Settings(
            problems=(*problems, problem),
            unsaveable=str(problem),
            extra=extra,
            schema_version=version,
            quiet_hours=quiet_hours,
            kept_quiet_hours=kept_quiet,
            history_retention=history,
            kept_history=kept_history,
            app=app,
            kept_app=kept_app,
        )
    if len(feed_lines) != len(raw_feeds):
        feed_lines = []
    feeds: list[Feed] = []
    kept: list[Mapping[str, Any]] = []
    positions: list[int] = []
    unsaveable = ""
    seen_ids: set[str] = set()
    for index, table in enumerate(raw_feeds):
        where = f"feeds[{index}]"
        line = feed_lines[index] if feed_lines else None
        if not isinstance(table, dict):
            problem = ConfigProblem(
                path,
                where,
                f"must be a table of settings, not {_describe(table)}; it is ignored, and "
                "Tidings will not save this file until it is fixed",
                line,
            )
            problems.append(problem)
            unsaveable = unsaveable or str(problem)
            continue
        try:
            feed = feed_from_dict(table, where=where)
            if feed.id in seen_ids:
                raise _InvalidError(
                    f"{where}.id",
                    f"{feed.id!r} is already the id of an earlier feed; every feed needs "
                    f'its own (for example id = "{_suggest_id(table, index)}")',
                )
        except _InvalidError as exc:
            problems.append(
                ConfigProblem(
                    path, exc.where, f"{exc.message}; this feed{_label(table)} is not loaded", line
                )
            )
            kept.append(table)
            positions.append(len(feeds))
            continue
        seen_ids.add(feed.id)
        feeds.append(feed)
    return Settings(
        feeds=tuple(feeds),
        problems=tuple(problems),
        kept_feeds=tuple(kept),
        extra=extra,
        unsaveable=unsaveable,
        kept_positions=tuple(positions),
        schema_version=version,
        quiet_hours=quiet_hours,
        kept_quiet_hours=kept_quiet,
        history_retention=history,
        kept_history=kept_history,
        app=app,
        kept_app=kept_app,
    )


def _suggest_id(table: Mapping[str, Any], salt: object) -> str:
    """An id to suggest in a problem: the same on every load, so the problem does not change."""
    seed = f"{table.get('url')!r}\0{table.get('name')!r}\0{salt!r}".encode()
    return "f-" + hashlib.sha256(seed).hexdigest()[:12]


def _label(table: Mapping[str, Any]) -> str:
    name = table.get("name")
    if isinstance(name, str) and name:
        return f" ({name!r})"
    url = table.get("url")
    if isinstance(url, str) and url:
        return f" ({redact_url(url)!r})"
    return ""


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _InvalidError(
            f"{where}.{unknown[0]}",
            f"unknown key (a typo?); the known keys here are {', '.join(sorted(allowed))}",
        )


def _describe(value: object) -> str:
    """A value as the person wrote it, without echoing text (it could be a secret)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text in quotes"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


_TYPE_NAMES: Mapping[type, str] = {
    str: "text in quotes",
    bool: "true or false (without quotes)",
    int: "a number",
    float: "a number",
    list: "an array",
    dict: "a table",
}


def _get(
    table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    value = table.get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        wanted = " or ".join(dict.fromkeys(_TYPE_NAMES.get(k, k.__name__) for k in kinds))
        raise _InvalidError(f"{where}.{key}", f"must be {wanted}, not {_describe(value)}")
    return value


def feed_from_dict(table: Mapping[str, Any], *, where: str = "feed") -> Feed:
    """Validate one feed table; raise a ``ValueError`` whose message names the key."""
    _check_keys(table, _FEED_KEYS, where)
    if "url" not in table:
        raise _InvalidError(f"{where}.url", "missing: every feed needs a URL")
    url = _get(table, "url", str, "", where)
    try:
        validate_url(url)
    except InvalidURLError as exc:
        raise _InvalidError(f"{where}.url", str(exc)) from None
    if "id" not in table:
        raise _InvalidError(
            f"{where}.id",
            f"missing: every feed needs a stable id "
            f'(for example id = "{_suggest_id(table, where)}")',
        )
    feed_id = _get(table, "id", str, "", where)
    if not feed_id.strip():
        raise _InvalidError(
            f"{where}.id", f'must not be empty (for example id = "{_suggest_id(table, where)}")'
        )
    name = _get(table, "name", str, "", where) or redact_url(url)
    preset = _get(table, "preset", str, "plain", where)
    if preset not in KNOWN_PRESETS:
        raise _InvalidError(
            f"{where}.preset",
            f"unknown preset {preset!r}; the known ones are {', '.join(sorted(KNOWN_PRESETS))}",
        )
    paused = _get(table, "paused", bool, False, where)
    idle = _get(table, "idle_timeout", (int, float), DEFAULT_IDLE_TIMEOUT, where)
    try:
        idle = float(idle)
    except OverflowError:
        idle = math.inf
    if not math.isfinite(idle) or idle <= 0:
        raise _InvalidError(
            f"{where}.idle_timeout",
            f"must be a positive number of seconds, not {_describe(table['idle_timeout'])}",
        )
    proxy = _get(table, "proxy", str, "", where)
    if proxy and not proxy.lower().startswith(("http://", "https://", "socks5://", "socks5h://")):
        raise _InvalidError(
            f"{where}.proxy",
            "must be an http://, https://, socks5:// or socks5h:// URL "
            "(leave it out to use the system's proxy)",
        )
    if proxy and "@" in proxy.split("://", 1)[1].split("/", 1)[0]:
        # A password here would sit in plaintext in this file and reach httpcore's logs.
        raise _InvalidError(
            f"{where}.proxy",
            "must not carry a user name or password (user:password@): proxies that need "
            "credentials are not supported yet",
        )
    auth = _auth_from(table.get("auth", {}), f"{where}.auth")
    headers = _headers_from(table.get("headers", []), f"{where}.headers")
    tls = _tls_from(table.get("tls", {}), f"{where}.tls")
    rules = rules_from_dict(table.get("rules", {}), where=f"{where}.rules")
    options = _preset_options_from(
        table.get("preset_options", {}), preset, f"{where}.preset_options"
    )
    retention = feed_retention_from_dict(table.get("retention", {}), where=f"{where}.retention")
    return Feed(
        id=feed_id,
        name=name,
        url=url,
        preset=preset,
        paused=paused,
        auth=auth,
        headers=headers,
        tls=tls,
        proxy=proxy,
        idle_timeout=idle,
        rules=rules,
        preset_options=options,
        retention=retention,
    )


def _preset_options_from(table: object, preset: str, where: str) -> tuple[tuple[str, str], ...]:
    """The preset's options (the generic JSON preset's paths and templates), checked."""
    if not isinstance(table, dict):
        raise _InvalidError(
            where, f'must be a table, for example {{ title = "repo.name" }}, not {_describe(table)}'
        )
    options: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(value, str):
            raise _InvalidError(f"{where}.{key}", f"must be text in quotes, not {_describe(value)}")
        options[key] = value
    if options and preset == "json":
        from tidings.core.presets.json_preset import check_options  # noqa: PLC0415

        problems = check_options(options)
        if problems:
            raise _InvalidError(where, "; ".join(problems))
    return tuple(sorted(options.items()))


def _auth_from(table: object, where: str) -> Auth:
    if not isinstance(table, dict):
        raise _InvalidError(
            where, f'must be a table, for example {{ kind = "bearer" }}, not {_describe(table)}'
        )
    _check_keys(table, _AUTH_KEYS, where)
    kind_text = _get(table, "kind", str, "none", where)
    try:
        kind = AuthKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in AuthKind)
        raise _InvalidError(
            f"{where}.kind", f"unknown kind {kind_text!r}; the known ones are {known}"
        ) from None
    auth = Auth(
        kind=kind,
        username=_get(table, "username", str, "", where),
        header_name=_get(table, "header_name", str, "", where),
        query_param=_get(table, "query_param", str, "", where),
        command=_get(table, "command", str, "", where),
    )
    if kind is AuthKind.HEADER:
        if not auth.header_name:
            raise _InvalidError(
                f"{where}.header_name",
                'missing: kind = "header" needs the header\'s name '
                '(for example header_name = "X-Api-Key")',
            )
        try:
            validate_header(auth.header_name, "")
        except UsageError as exc:
            raise _InvalidError(f"{where}.header_name", str(exc)) from None
    if kind is AuthKind.QUERY and not auth.query_param:
        raise _InvalidError(
            f"{where}.query_param",
            'missing: kind = "query" needs the parameter\'s name (for example query_param = '
            '"auth")',
        )
    if kind is AuthKind.COMMAND and not auth.command.strip():
        raise _InvalidError(
            f"{where}.command", 'missing: kind = "command" needs the command that prints the token'
        )
    return auth


def _headers_from(items: object, where: str) -> tuple[Header, ...]:
    if not isinstance(items, list):
        raise _InvalidError(
            where,
            'must be an array of tables, for example [{ name = "X-Env", value = "prod" }], '
            f"not {_describe(items)}",
        )
    headers = []
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _InvalidError(
                here, f"must be a table with a name and a value, not {_describe(item)}"
            )
        _check_keys(item, _HEADER_KEYS, here)
        if "name" not in item:
            raise _InvalidError(f"{here}.name", "missing: every header needs a name")
        name = _get(item, "name", str, "", here)
        secret = _get(item, "secret", bool, False, here)
        value = _get(item, "value", str, "", here)
        if secret and value:
            raise _InvalidError(
                f"{here}.value",
                "a secret header keeps its value in the keyring, not in this file: "
                "remove the value here and set it with `tidings feeds edit`",
            )
        for key, check in (("name", ""), ("value", value)):
            try:
                validate_header(name, check)
            except UsageError as exc:
                raise _InvalidError(f"{here}.{key}", str(exc)) from None
        headers.append(Header(name=name, value=value, secret=secret))
    return tuple(headers)


def _tls_from(table: object, where: str) -> TlsOptions:
    if not isinstance(table, dict):
        raise _InvalidError(
            where, f"must be a table, for example {{ verify = true }}, not {_describe(table)}"
        )
    _check_keys(table, _TLS_KEYS, where)
    return TlsOptions(
        verify=_get(table, "verify", bool, True, where),
        ca_file=_get(table, "ca_file", str, "", where),
    )


_URGENCIES = ", ".join(f'"{u.value}"' for u in Urgency)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _urgency_from(table: Mapping[str, Any], key: str, default: Urgency, where: str) -> Urgency:
    text = _get(table, key, str, default.value, where)
    try:
        return Urgency(text.lower())
    except ValueError:
        raise _InvalidError(
            f"{where}.{key}", f"unknown urgency {text!r}; the known ones are {_URGENCIES}"
        ) from None


def rules_from_dict(table: object, *, where: str = "rules") -> FeedRules:
    """Validate a feed's ``rules`` table; raise a ``ValueError`` whose message names the key."""
    if not isinstance(table, dict):
        raise _InvalidError(
            where,
            f'must be a table, for example {{ min_urgency = "normal" }}, not {_describe(table)}',
        )
    _check_keys(table, _RULES_KEYS, where)
    notifications = None
    if "notifications" in table:
        notifications = _get(table, "notifications", bool, None, where)
    types = _get(table, "event_types", list, [], where)
    for index, item in enumerate(types):
        if not isinstance(item, str) or not item:
            raise _InvalidError(
                f"{where}.event_types[{index}]",
                f'must be an event type in quotes, such as "message", not {_describe(item)}',
            )
    pattern = _get(table, "filter", str, "", where)
    if pattern:
        try:
            compile_filter(pattern)
        except re.error as exc:
            raise _InvalidError(
                f"{where}.filter",
                f"not a valid regular expression ({exc}); in TOML, write it in single "
                "quotes ('...') so backslashes stay as they are",
            ) from None
    return FeedRules(
        notifications=notifications,
        event_types=tuple(dict.fromkeys(types)),
        text_filter=pattern,
        min_urgency=_urgency_from(table, "min_urgency", Urgency.LOW, where),
        muted_until=_muted_until_from(table, where),
    )


def _muted_until_from(table: Mapping[str, Any], where: str) -> float | None:
    if "muted_until" not in table:
        return None
    value = table["muted_until"]
    if value == "forever":
        return MUTED_FOREVER
    if isinstance(value, dt.datetime):
        # A date-time without an offset is local time, as a person means it.
        return value.timestamp()
    raise _InvalidError(
        f"{where}.muted_until",
        "must be a date and time such as 2026-05-01T08:00:00+02:00 (without quotes), or "
        f'"forever" to stay muted until unmuted, not {_describe(value)}',
    )


def rules_to_dict(rules: FeedRules) -> dict[str, Any]:
    """The ``rules`` table of a feed, defaults left out (empty when every rule is the default)."""
    table: dict[str, Any] = {}
    if rules.notifications is not None:
        table["notifications"] = rules.notifications
    if rules.event_types:
        table["event_types"] = list(rules.event_types)
    if rules.text_filter:
        table["filter"] = rules.text_filter
    if rules.min_urgency is not Urgency.LOW:
        table["min_urgency"] = rules.min_urgency.value
    if rules.muted_until is not None:
        if math.isinf(rules.muted_until):
            table["muted_until"] = "forever"
        else:
            when = dt.datetime.fromtimestamp(rules.muted_until).astimezone()
            table["muted_until"] = when
    return table


def _time_from(table: Mapping[str, Any], key: str, default: dt.time, where: str) -> dt.time:
    value = table.get(key, default)
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str):
        match = _TIME_RE.fullmatch(value.strip())
        if match:
            return dt.time(int(match.group(1)), int(match.group(2)))
    raise _InvalidError(
        f"{where}.{key}",
        f'must be a time of day such as "22:00" (24-hour clock), not '
        f"{'that text' if isinstance(value, str) else _describe(value)}",
    )


def quiet_hours_from_dict(table: object, *, where: str = "quiet_hours") -> QuietHours:
    """Validate the ``[quiet_hours]`` table; raise a ``ValueError`` whose message names the key."""
    if not isinstance(table, dict):
        raise _InvalidError(
            where,
            f'must be a table, for example {{ start = "22:00", end = "07:00" }}, '
            f"not {_describe(table)}",
        )
    _check_keys(table, _QUIET_KEYS, where)
    defaults = QuietHours()
    days: set[int] = set()
    raw_days = _get(table, "days", list, list(_DAY_NAMES), where)
    for index, item in enumerate(raw_days):
        name = item.strip().lower() if isinstance(item, str) else None
        if name in _DAY_NAMES:
            days.add(_DAY_NAMES.index(name))
        elif name in _FULL_DAY_NAMES:
            days.add(_FULL_DAY_NAMES.index(name))
        else:
            raise _InvalidError(
                f"{where}.days[{index}]",
                f'must be a day such as "mon" ({", ".join(_DAY_NAMES)}), '
                f"not {'that text' if isinstance(item, str) else _describe(item)}",
            )
    return QuietHours(
        enabled=_get(table, "enabled", bool, True, where),
        days=frozenset(days),
        start=_time_from(table, "start", defaults.start, where),
        end=_time_from(table, "end", defaults.end, where),
        break_through=_urgency_from(table, "break_through", defaults.break_through, where),
    )


def quiet_hours_to_dict(quiet: QuietHours) -> dict[str, Any]:
    """The ``[quiet_hours]`` table, every key written so a person sees what applies."""
    return {
        "enabled": quiet.enabled,
        "days": [_DAY_NAMES[d] for d in sorted(quiet.days)],
        "start": quiet.start.strftime("%H:%M"),
        "end": quiet.end.strftime("%H:%M"),
        "break_through": quiet.break_through.value,
    }


def _days_from(
    table: Mapping[str, Any], key: str, default: float | None, where: str
) -> float | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            days = float(value)
        except OverflowError:
            days = math.inf
        if math.isfinite(days) and days > 0:
            return days
    raise _InvalidError(
        f"{where}.{key}",
        f"must be a positive number of days, such as 30, not {_describe(value)}",
    )


def _count_from(
    table: Mapping[str, Any], key: str, default: int | None, where: str, *, may_be_off: bool
) -> int | None:
    if key not in table:
        return default
    value = table[key]
    if may_be_off and value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    example = "100000, or false for no limit" if may_be_off else "100000"
    raise _InvalidError(
        f"{where}.{key}",
        f"must be a positive whole number of events, such as {example}, not {_describe(value)}",
    )


def app_from_dict(table: object, *, where: str = "app") -> AppSettings:
    """Validate the ``[app]`` table; raise a ``ValueError`` whose message names the key."""
    if not isinstance(table, dict):
        raise _InvalidError(
            where,
            f"must be a table, for example {{ notifications = true }}, not {_describe(table)}",
        )
    _check_keys(table, _APP_KEYS, where)
    d = AppSettings()

    def flag(key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise _InvalidError(f"{where}.{key}", f"must be true or false, not {_describe(value)}")
        return value

    def number(key: str, default: float, *, low: float, high: float, what: str) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _InvalidError(f"{where}.{key}", f"must be {what}, not {_describe(value)}")
        if not (low <= float(value) <= high):
            raise _InvalidError(f"{where}.{key}", f"must be {what}, not {_describe(value)}")
        return float(value)

    def choice(key: str, default: str, choices: Sequence[str]) -> str:
        value = table.get(key, default)
        if value not in choices:
            names = ", ".join(f'"{c}"' for c in choices)
            raise _InvalidError(f"{where}.{key}", f"must be one of {names}, not {_describe(value)}")
        return str(value)

    return AppSettings(
        notifications=flag("notifications", d.notifications),
        notifier=choice("notifier", d.notifier, NOTIFIER_CHOICES),
        lost_connection_after=number(
            "lost_connection_after",
            d.lost_connection_after,
            low=0,
            high=7 * 86400,
            what="a number of seconds from 0 (never) to 604800 (a week)",
        ),
        flood_limit=int(
            number(
                "flood_limit", d.flood_limit, low=1, high=1000, what="a whole number from 1 to 1000"
            )
        ),
        flood_window=number(
            "flood_window",
            d.flood_window,
            low=1,
            high=3600,
            what="a number of seconds from 1 to 3600",
        ),
        show_window_at_start=flag("show_window_at_start", d.show_window_at_start),
        background_on_close=choice(
            "background_on_close", d.background_on_close, ("ask", "keep", "quit")
        ),
    )


def app_to_dict(app: AppSettings) -> dict[str, Any]:
    """The ``[app]`` table, every key written so a person sees what applies."""
    return {
        "notifications": app.notifications,
        "notifier": app.notifier,
        "lost_connection_after": int(app.lost_connection_after)
        if float(app.lost_connection_after).is_integer()
        else app.lost_connection_after,
        "flood_limit": app.flood_limit,
        "flood_window": int(app.flood_window)
        if float(app.flood_window).is_integer()
        else app.flood_window,
        "show_window_at_start": app.show_window_at_start,
        "background_on_close": app.background_on_close,
    }


def history_from_dict(table: object, *, where: str = "history") -> Retention:
    """Validate the ``[history]`` table; raise a ``ValueError`` whose message names the key.

    Left out: 30 days and 100,000 events per feed, and no cap over all feeds
    (DESIGN.md); only that cap may be ``false`` (no limit).
    """
    if not isinstance(table, dict):
        raise _InvalidError(
            where,
            f"must be a table, for example {{ max_age_days = 30 }}, not {_describe(table)}",
        )
    _check_keys(table, _HISTORY_KEYS, where)
    defaults = Retention()
    return Retention(
        max_age_days=_days_from(table, "max_age_days", defaults.max_age_days, where),
        max_events_per_feed=_count_from(
            table, "max_events_per_feed", defaults.max_events_per_feed, where, may_be_off=False
        ),
        max_events_total=_count_from(
            table, "max_events_total", defaults.max_events_total, where, may_be_off=True
        ),
    )


def history_to_dict(retention: Retention) -> dict[str, Any]:
    """The ``[history]`` table: the age and per-feed limits always, the total cap when set."""
    table: dict[str, Any] = {}
    if retention.max_age_days is not None:
        days = retention.max_age_days
        table["max_age_days"] = int(days) if float(days).is_integer() else days
    if retention.max_events_per_feed is not None:
        table["max_events_per_feed"] = retention.max_events_per_feed
    if retention.max_events_total is not None:
        table["max_events_total"] = retention.max_events_total
    return table


def feed_retention_from_dict(table: object, *, where: str = "retention") -> FeedRetention:
    """Validate a feed's ``retention`` table; raise a ``ValueError`` whose message names the key.

    A limit left out is the ``[history]`` table's.
    """
    if not isinstance(table, dict):
        raise _InvalidError(
            where, f"must be a table, for example {{ max_events = 5000 }}, not {_describe(table)}"
        )
    _check_keys(table, _FEED_RETENTION_KEYS, where)
    return FeedRetention(
        max_age_days=_days_from(table, "max_age_days", None, where),
        max_events=_count_from(table, "max_events", None, where, may_be_off=False),
    )


def feed_retention_to_dict(retention: FeedRetention) -> dict[str, Any]:
    """A feed's ``retention`` table, unset limits left out (empty when none is set)."""
    table: dict[str, Any] = {}
    if retention.max_age_days is not None:
        days = retention.max_age_days
        table["max_age_days"] = int(days) if float(days).is_integer() else days
    if retention.max_events is not None:
        table["max_events"] = retention.max_events
    return table


# -- writing --------------------------------------------------------------------


def feed_to_dict(feed: Feed) -> dict[str, Any]:
    """The TOML table of a feed, with defaults left out so the file stays short.

    A secret header is written with its name only: its value lives in the keyring.
    """
    table: dict[str, Any] = {"id": feed.id, "name": feed.name, "url": feed.url}
    if feed.preset != "plain":
        table["preset"] = feed.preset
    if feed.paused:
        table["paused"] = True
    if feed.idle_timeout != DEFAULT_IDLE_TIMEOUT:
        idle = feed.idle_timeout
        table["idle_timeout"] = int(idle) if float(idle).is_integer() else idle
    if feed.proxy:
        table["proxy"] = feed.proxy
    if feed.auth != Auth():
        auth: dict[str, Any] = {"kind": feed.auth.kind.value}
        for key in ("username", "header_name", "query_param", "command"):
            value = getattr(feed.auth, key)
            if value:
                auth[key] = value
        table["auth"] = auth
    if feed.headers:
        table["headers"] = [
            {"name": h.name, "secret": True} if h.secret else {"name": h.name, "value": h.value}
            for h in feed.headers
        ]
    if feed.tls != TlsOptions():
        tls: dict[str, Any] = {"verify": feed.tls.verify}
        if feed.tls.ca_file:
            tls["ca_file"] = feed.tls.ca_file
        table["tls"] = tls
    rules = rules_to_dict(feed.rules)
    if rules:
        table["rules"] = rules
    if feed.preset_options:
        table["preset_options"] = dict(feed.preset_options)
    retention = feed_retention_to_dict(feed.retention)
    if retention:
        table["retention"] = retention
    return table


def save_settings(path: Path, settings: Settings) -> None:
    """Write the settings atomically, kept feeds in their places and unknown settings kept.

    Raises :class:`ConfigError` (the file on disk is then unchanged) when the
    file that was loaded must not be rewritten (:attr:`Settings.unsaveable`),
    when a feed would not load back (two feeds with one id, an invalid value),
    or when the file cannot be written (a read-only directory, a full disk).
    """
    if settings.unsaveable:
        raise ConfigError(
            f"not saving over {path}: it has a problem to fix first ({settings.unsaveable})"
        )
    tables = []
    seen: set[str] = set()
    for feed in settings.feeds:
        table = feed_to_dict(feed)
        try:
            feed_from_dict(table, where=f"feed {feed.name!r}")
        except _InvalidError as exc:
            raise ConfigError(f"not saving {path}: {exc}") from None
        if feed.id in seen:
            raise ConfigError(f"not saving {path}: two feeds have the id {feed.id!r}")
        seen.add(feed.id)
        tables.append(table)
    top: dict[str, Any] = {"schema_version": settings.schema_version}
    top.update((k, v) for k, v in settings.extra.items() if k not in _TOP_KEYS)
    if settings.quiet_hours != QuietHours():
        top["quiet_hours"] = quiet_hours_to_dict(settings.quiet_hours)
    elif settings.kept_quiet_hours is not None:
        top["quiet_hours"] = settings.kept_quiet_hours
    history = replace(settings.history_retention, per_feed={})
    if history != Retention():
        top["history"] = history_to_dict(history)
    elif settings.kept_history is not None:
        top["history"] = settings.kept_history
    if settings.app != AppSettings():
        top["app"] = app_to_dict(settings.app)
    elif settings.kept_app is not None:
        top["app"] = settings.kept_app
    merged = _merge_kept(tables, settings)
    try:
        text = "\n".join([FILE_HEADER + tomli_w.dumps(top), *map(_feed_toml, merged)])
        # Read it back before it replaces anything: what is written must load.
        written = tomllib.loads(text).get("feeds", [])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not saving {path}: a value cannot be written as TOML ({exc})") from None
    if len(written) != len(merged):
        raise ConfigError(f"not saving {path}: the feeds did not survive writing them as TOML")
    try:
        _write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot save the settings to {path}: {exc.strerror or exc}; "
            "the file there is unchanged"
        ) from exc


def _merge_kept(tables: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The feed tables in file order: each kept table after as many loaded feeds as before."""
    kept = [
        (settings.kept_positions[i] if i < len(settings.kept_positions) else len(tables), dict(t))
        for i, t in enumerate(settings.kept_feeds)
    ]
    merged: list[dict[str, Any]] = []
    for slot in range(len(tables) + 1):
        merged.extend(t for pos, t in kept if min(pos, len(tables)) == slot)
        if slot < len(tables):
            merged.append(tables[slot])
    return merged


def _feed_toml(table: Mapping[str, Any]) -> str:
    """One feed as a ``[[feeds]]`` table (never squeezed into an inline array), tables inside."""
    # tomli_w writes {"feeds": {"m": table}} as "[feeds.m]" plus "[feeds.m.auth]"-style
    # sub-tables; renaming those headers gives the same data under one [[feeds]] entry.
    # Only header lines start with "[": values are on one line or indented.
    lines = tomli_w.dumps({"feeds": {"m": table}}).splitlines()
    out = [] if lines[:1] == ["[feeds.m]"] else ["[[feeds]]"]
    for line in lines:
        if line == "[feeds.m]":
            out.append("[[feeds]]")
        elif line.startswith(("[feeds.m.", "[[feeds.m.")):
            out.append(line.replace("feeds.m.", "feeds.", 1))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename over ``path``.

    A symlinked settings file (dotfiles) stays a symlink: its target is replaced.
    Temporary files of earlier writers that were killed are removed first.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            tmp.chmod(path.stat().st_mode & 0o777)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _remove_stale_temps(path: Path) -> None:
    """Remove ``.NAME.PID.*.tmp`` files whose writer is gone (or that are an hour old)."""
    prefix = f".{path.name}."
    now = time.time()
    try:
        candidates = [
            entry
            for entry in os.scandir(path.parent)
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp")
        ]
    except OSError:
        return
    for entry in candidates[:1000]:
        pid_text = entry.name[len(prefix) :].partition(".")[0]
        try:
            stale = now - entry.stat(follow_symlinks=False).st_mtime > _STALE_TEMP_AGE
        except OSError:
            continue
        if stale or (pid_text.isdigit() and not _process_alive(int(pid_text))):
            with contextlib.suppress(OSError):
                Path(entry.path).unlink()


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists; unknown (so: yes) where it cannot be asked."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
