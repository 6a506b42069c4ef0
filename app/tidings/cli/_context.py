"""Composition root of the stateful headless commands: paths, settings, keyring, history."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from tidings.core.config import Settings, load_settings, save_settings
from tidings.core.history import HistoryStore
from tidings.core.paths import Paths
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import KeyringStore, SecretStore

__all__ = ["Context"]


@dataclass
class Context:
    """What a command works with. Built once per command from its arguments; nothing is opened
    or created until a command asks for it."""

    paths: Paths
    known: KnownSecrets = field(default_factory=KnownSecrets)
    keyring_timeout: float = 10.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        # main() made one KnownSecrets for the process and gave it to the log handlers.
        known = getattr(args, "known_secrets", None)
        return cls(
            paths=Paths.resolve(getattr(args, "profile_dir", None)),
            known=known if isinstance(known, KnownSecrets) else KnownSecrets(),
        )

    def load_settings(self) -> Settings:
        """The settings file as it is (problems included; a missing file is no feeds)."""
        return load_settings(self.paths.settings_file)

    def save_settings(self, settings: Settings) -> None:
        """Save atomically; raises ConfigError when the file on disk must not be overwritten."""
        save_settings(self.paths.settings_file, settings)

    def secrets(self) -> SecretStore:
        """The OS keyring (never a plaintext file)."""
        return KeyringStore(timeout=self.keyring_timeout)

    def history(self) -> HistoryStore:
        """The history store (open it with ``async with``)."""
        return HistoryStore(self.paths.history_db)
