"""A diagnostics report to paste into a bug report: versions, backends, feeds, with secrets removed.

Every URL goes through :func:`~tidings.core.redact.redact_url`, the whole text
through :func:`~tidings.core.redact.redact_text`, and finally every secret
value this process knows (``KnownSecrets``) is replaced, whatever carried it.
Feed names are left out: they are the user's words and rarely help.
"""

from __future__ import annotations

import platform
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tidings.core.models import Feed, FeedStatus
from tidings.core.redact import KnownSecrets, redact_text, redact_url
from tidings.core.secrets import UNUSABLE_MODULES

__all__ = ["DiagnosticsInput", "diagnostics_report", "keyring_is_secure"]


def keyring_is_secure(name: str) -> bool:
    """Whether the keyring backend called ``name`` (``SecretStore.name``) keeps secrets safely
    and persistently: not the ``fail``/``null``/``keyrings.alt`` (plaintext) backends, not an
    unusable one, not the in-memory store."""
    if name.endswith("(unusable)") or name.startswith("memory"):
        return False
    # The same list KeyringStore refuses (one home for it: tidings.core.secrets).
    return not any(name == m or name.startswith(m + ".") for m in UNUSABLE_MODULES)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosticsInput:
    """What the report is made of; the GUI and ``doctor`` fill it from their running objects."""

    version: str
    qt_version: str = ""
    keyring: str = ""
    notifier: str = ""
    notifier_detail: str = ""
    feeds: Sequence[Feed] = ()
    statuses: Mapping[str, FeedStatus] | None = None
    settings_file: str = ""
    history_db: str = ""
    log_dir: str = ""


def diagnostics_report(info: DiagnosticsInput, known: KnownSecrets | None = None) -> str:
    """The report as plain text, redacted."""
    statuses = info.statuses or {}
    presets = Counter(f.preset for f in info.feeds)
    lines = [
        f"Tidings {info.version}",
        f"Python {platform.python_version()} ({sys.implementation.name})",
        f"Platform: {platform.platform()}",
        f"Qt: {info.qt_version or 'not loaded'}",
        f"Keyring: {info.keyring or 'unknown'}"
        + ("" if keyring_is_secure(info.keyring) else " [not a secure keyring]"),
        f"Notifications: {info.notifier or 'unknown'}"
        + (f" ({info.notifier_detail})" if info.notifier_detail else ""),
        f"Settings file: {info.settings_file}",
        f"History: {info.history_db}",
        f"Logs: {info.log_dir}",
        f"Feeds: {len(info.feeds)}"
        + (
            " (" + ", ".join(f"{name}: {n}" for name, n in sorted(presets.items())) + ")"
            if presets
            else ""
        ),
    ]
    for feed in info.feeds:
        status = statuses.get(feed.id)
        parts = [
            f"  - {feed.id}: preset {feed.preset}",
            f"auth {feed.auth.kind.value}",
            "paused" if feed.paused else "active",
            f"url {redact_url(feed.url)}",
        ]
        if feed.proxy:
            parts.append(f"proxy {redact_url(feed.proxy)}")
        if not feed.tls.verify:
            parts.append("TLS verification off")
        if status is None:
            parts.append("no status yet")
        else:
            state = status.state.value
            if status.stop_reason is not None:
                state += f" ({status.stop_reason.value})"
            if status.http_status is not None:
                state += f" HTTP {status.http_status}"
            parts.append(f"state {state}")
            if status.message:
                parts.append(f"message {status.message!r}")
        lines.append(", ".join(parts))
    text = redact_text("\n".join(lines) + "\n")
    return known.redact(text) if known is not None else text
