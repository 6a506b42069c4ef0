"""The settings file: load, migrate, validate and save atomically. It never holds a secret.

The file is TOML (``settings.toml`` in the config directory), written for
people to read and edit::

    schema_version = 1

    [[feeds]]
    id = "f-6c1d0e2a9b7f"
    name = "CI builds"
    url = "https://ntfy.example.org/ci/sse"
    auth = { kind = "bearer" }      # the token is in the OS keyring
    headers = [{ name = "X-Env", value = "prod" }]

A broken file is never overwritten or reset. Syntax errors name the line;
semantic problems name the key (``feeds[2].url``). Feeds that are fine load,
feeds that are not are kept verbatim and written back unchanged on the next
save, and a file with a syntax error refuses every save until it is fixed.
Migrations run in order and back the old file up first. Saves are atomic:
a crash leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets as _secrets
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from tidings.core.errors import ConfigError, InvalidURLError, UsageError
from tidings.core.models import Auth, AuthKind, Feed, Header, TlsOptions
from tidings.core.sse import validate_header, validate_url

__all__ = [
    "SCHEMA_VERSION",
    "ConfigProblem",
    "Migration",
    "Settings",
    "feed_from_dict",
    "feed_to_dict",
    "load_settings",
    "new_feed_id",
    "save_settings",
]

SCHEMA_VERSION = 1
KNOWN_PRESETS = frozenset(
    {"plain", "json", "ntfy", "mercure", "eventstreams", "firebase", "smee", "mcp"}
)

Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a settings document of version N into version N + 1."""


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
    """One thing wrong with the settings file, phrased for the person who edits it."""

    file: Path
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


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

    def feed(self, feed_id: str) -> Feed | None:
        return next((f for f in self.feeds if f.id == feed_id), None)

    def with_feeds(self, feeds: Sequence[Feed]) -> Settings:
        return replace(self, feeds=tuple(feeds))


def new_feed_id() -> str:
    """A stable, random feed id: keys the keyring entries and the history, survives renames."""
    return "f-" + _secrets.token_hex(6)


# -- reading --------------------------------------------------------------------


def load_settings(
    path: Path, *, migrations: Mapping[int, Migration] = MIGRATIONS, current: int = SCHEMA_VERSION
) -> Settings:
    """Read the settings file; a missing file is an empty configuration, not an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        problem = ConfigProblem(path, "file", f"cannot read it: {exc.strerror}")
        return Settings(problems=(problem,), unsaveable=str(problem))
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = ConfigProblem(path, f"byte {exc.start}", "the file is not UTF-8 text")
        return Settings(problems=(problem,), unsaveable=str(problem))
    except tomllib.TOMLDecodeError as exc:
        problem = ConfigProblem(path, _toml_where(str(exc)), f"TOML syntax error: {exc}")
        return Settings(problems=(problem,), unsaveable=str(problem))
    version = doc.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problem = ConfigProblem(path, "schema_version", f"must be a whole number, not {version!r}")
        return Settings(problems=(problem,), unsaveable=str(problem))
    if version > current:
        problem = ConfigProblem(
            path,
            "schema_version",
            f"version {version} comes from a newer Tidings (this one reads up to {current}); "
            "upgrade Tidings, the file is left as it is",
        )
        return Settings(problems=(problem,), unsaveable=str(problem))
    if version < current:
        doc = _migrate(path, doc, version, current, migrations)
    return _validate(path, doc)


def _toml_where(message: str) -> str:
    # tomllib says "... (at line 3, column 7)".
    if "(at line " in message:
        return "line " + message.rsplit("(at line ", 1)[1].rstrip(")").split(",")[0]
    return "file"


def _migrate(
    path: Path, doc: dict[str, Any], version: int, current: int, migrations: Mapping[int, Migration]
) -> dict[str, Any]:
    backup = path.with_name(f"{path.name}.v{version}.bak")
    if not backup.exists():
        shutil.copy2(path, backup)
    for step in range(version, current):
        doc = migrations[step](doc)
    doc["schema_version"] = current
    _write_atomic(path, tomli_w.dumps(doc).encode("utf-8"))
    return doc


_FEED_KEYS = frozenset(
    {"id", "name", "url", "preset", "paused", "auth", "headers", "tls", "proxy", "idle_timeout"}
)
_AUTH_KEYS = frozenset({"kind", "username", "header_name", "query_param", "command"})
_HEADER_KEYS = frozenset({"name", "value", "secret"})
_TLS_KEYS = frozenset({"verify", "ca_file"})


class _InvalidError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def _validate(path: Path, doc: dict[str, Any]) -> Settings:
    problems: list[ConfigProblem] = []
    feeds: list[Feed] = []
    kept: list[Mapping[str, Any]] = []
    extra = {k: v for k, v in doc.items() if k not in {"schema_version", "feeds"}}
    raw_feeds = doc.get("feeds", [])
    if not isinstance(raw_feeds, list):
        problem = ConfigProblem(path, "feeds", "must be an array of tables ([[feeds]])")
        return Settings(problems=(problem,), unsaveable=str(problem), extra=extra)
    seen_ids: set[str] = set()
    for index, table in enumerate(raw_feeds):
        where = f"feeds[{index}]"
        try:
            if not isinstance(table, dict):
                raise _InvalidError(where, "must be a table")
            feed = feed_from_dict(table, where=where)
            if feed.id in seen_ids:
                raise _InvalidError(f"{where}.id", f"{feed.id!r} is used by an earlier feed too")
        except _InvalidError as exc:
            name = table.get("name") if isinstance(table, dict) else None
            label = f" ({name!r})" if isinstance(name, str) and name else ""
            problems.append(
                ConfigProblem(path, exc.where, f"{exc.message}; this feed{label} is not loaded")
            )
            kept.append(table if isinstance(table, dict) else {"_invalid": table})
            continue
        seen_ids.add(feed.id)
        feeds.append(feed)
    return Settings(
        feeds=tuple(feeds), problems=tuple(problems), kept_feeds=tuple(kept), extra=extra
    )


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _InvalidError(
            f"{where}.{unknown[0]}", f"unknown key (known keys: {', '.join(sorted(allowed))})"
        )


def _get(
    table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _InvalidError(f"{where}.{key}", f"must be {_type_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise _InvalidError(
            f"{where}.{key}", f"must be {_type_name(kind)}, not {type(value).__name__}"
        )
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        bool: "true or false",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "a table",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


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
    feed_id = _get(table, "id", str, "", where)
    if not feed_id:
        raise _InvalidError(
            f"{where}.id",
            f'missing: every feed needs a stable id (for example id = "{new_feed_id()}")',
        )
    name = _get(table, "name", str, "", where) or url
    preset = _get(table, "preset", str, "plain", where)
    if preset not in KNOWN_PRESETS:
        raise _InvalidError(
            f"{where}.preset",
            f"unknown preset {preset!r} (known: {', '.join(sorted(KNOWN_PRESETS))})",
        )
    paused = _get(table, "paused", bool, False, where)
    idle = _get(table, "idle_timeout", (int, float), 90.0, where)
    if not math.isfinite(idle) or idle <= 0:
        raise _InvalidError(f"{where}.idle_timeout", "must be a positive number of seconds")
    proxy = _get(table, "proxy", str, "", where)
    if proxy and not proxy.startswith(("http://", "https://", "socks5://", "socks5h://")):
        raise _InvalidError(
            f"{where}.proxy", "must be an http://, https://, socks5:// or socks5h:// URL"
        )
    auth = _auth_from(table.get("auth", {}), f"{where}.auth")
    headers = _headers_from(table.get("headers", []), f"{where}.headers")
    tls = _tls_from(table.get("tls", {}), f"{where}.tls")
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
        idle_timeout=float(idle),
    )


def _auth_from(table: object, where: str) -> Auth:
    if not isinstance(table, dict):
        raise _InvalidError(where, 'must be a table, for example { kind = "bearer" }')
    _check_keys(table, _AUTH_KEYS, where)
    kind_text = _get(table, "kind", str, "none", where)
    try:
        kind = AuthKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in AuthKind)
        raise _InvalidError(
            f"{where}.kind", f"unknown kind {kind_text!r} (known: {known})"
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
                f"{where}.header_name", "missing: a header credential needs the header's name"
            )
        try:
            validate_header(auth.header_name, "")
        except UsageError as exc:
            raise _InvalidError(f"{where}.header_name", str(exc)) from None
    if kind is AuthKind.QUERY and not auth.query_param:
        raise _InvalidError(
            f"{where}.query_param", "missing: a query credential needs the parameter's name"
        )
    if kind is AuthKind.COMMAND and not auth.command:
        raise _InvalidError(f"{where}.command", "missing: the command that prints the token")
    return auth


def _headers_from(items: object, where: str) -> tuple[Header, ...]:
    if not isinstance(items, list):
        raise _InvalidError(
            where, 'must be an array of tables, for example [{ name = "X-Env", value = "prod" }]'
        )
    headers = []
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _InvalidError(here, "must be a table with name and value")
        _check_keys(item, _HEADER_KEYS, here)
        name = _get(item, "name", str, "", here)
        secret = _get(item, "secret", bool, False, here)
        value = _get(item, "value", str, "", here)
        if secret and value:
            raise _InvalidError(
                f"{here}.value",
                "a secret header keeps its value in the keyring, not in this file: "
                "remove the value and set it with `tidings feeds edit`",
            )
        try:
            validate_header(name, value)
        except UsageError as exc:
            raise _InvalidError(here, str(exc)) from None
        headers.append(Header(name=name, value=value, secret=secret))
    return tuple(headers)


def _tls_from(table: object, where: str) -> TlsOptions:
    if not isinstance(table, dict):
        raise _InvalidError(where, "must be a table, for example { verify = true }")
    _check_keys(table, _TLS_KEYS, where)
    return TlsOptions(
        verify=_get(table, "verify", bool, True, where),
        ca_file=_get(table, "ca_file", str, "", where),
    )


# -- writing --------------------------------------------------------------------


def feed_to_dict(feed: Feed) -> dict[str, Any]:
    """The TOML table of a feed, with defaults left out so the file stays short."""
    table: dict[str, Any] = {"id": feed.id, "name": feed.name, "url": feed.url}
    if feed.preset != "plain":
        table["preset"] = feed.preset
    if feed.paused:
        table["paused"] = True
    if feed.idle_timeout != 90.0:
        table["idle_timeout"] = feed.idle_timeout
    if feed.proxy:
        table["proxy"] = feed.proxy
    if feed.auth.kind is not AuthKind.NONE:
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
    return table


def save_settings(path: Path, settings: Settings) -> None:
    """Write the settings atomically; raise ConfigError when the file on disk was unreadable."""
    if settings.unsaveable:
        raise ConfigError(
            f"not saving over {path}: it has a problem to fix first ({settings.unsaveable})"
        )
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    doc.update(settings.extra)
    doc["feeds"] = [feed_to_dict(f) for f in settings.feeds] + [
        dict(t) for t in settings.kept_feeds
    ]
    header = (
        "# Tidings settings. Secrets (tokens, passwords, secret headers) are kept in the\n"
        "# OS keyring, never in this file. Edit freely: Tidings names any problem it finds.\n"
    )
    _write_atomic(path, header.encode("utf-8") + tomli_w.dumps(doc).encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
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
