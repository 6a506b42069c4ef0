"""Composition root of the stateful headless commands: paths, settings, keyring, history."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    CommandFailedError,
    Messages,
    quiet_closed_stdout,
)
from tidings.core.config import ConfigProblem, Settings, load_settings, save_settings
from tidings.core.errors import ConfigError, SecretStoreError
from tidings.core.feed_io import secret_slots
from tidings.core.history import HistoryStore, HistoryUnavailableError
from tidings.core.paths import Paths
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import KeyringStore, SecretStore

__all__ = ["PROBE_FEED_ID", "Context", "secret_slots"]

# A keyring entry that never exists: a ``get`` of it proves the keyring answers and stores nothing.
PROBE_FEED_ID = "tidings-probe"
_PROBE_SLOT = "nonexistent"


@dataclass
class Context:
    """What a command works with. Built once per command from its arguments; nothing is opened
    or created until a command asks for it."""

    paths: Paths
    known: KnownSecrets = field(default_factory=KnownSecrets)
    keyring_timeout: float = 10.0
    messages: Messages = field(default_factory=Messages)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        # main() made one KnownSecrets for the process and gave it to the log handlers.
        known = getattr(args, "known_secrets", None)
        return cls(
            paths=Paths.resolve(getattr(args, "profile_dir", None)),
            known=known if isinstance(known, KnownSecrets) else KnownSecrets(),
        )

    # -- settings -------------------------------------------------------------------

    def load_settings(self) -> Settings:
        """The settings file as it is (problems included; a missing file is no feeds)."""
        return load_settings(self.paths.settings_file)

    def load_settings_reporting(self) -> Settings:
        """:meth:`load_settings`, saying each problem of the file on stderr."""
        settings = self.load_settings()
        self.report_problems(settings.problems)
        return settings

    def report_problems(self, problems: Sequence[ConfigProblem]) -> None:
        """One stderr line per problem of the settings file: which file, line or key, and what."""
        for problem in problems:
            self.messages.say(f"settings: {problem}")

    def save_settings(self, settings: Settings) -> None:
        """Save atomically; raises ConfigError when the file on disk must not be overwritten."""
        save_settings(self.paths.settings_file, settings)

    # -- keyring ----------------------------------------------------------------------

    def secrets(self) -> SecretStore:
        """The OS keyring (never a plaintext file)."""
        return KeyringStore(timeout=self.keyring_timeout)

    async def probe_keyring(self, store: SecretStore) -> None:
        """Raise SecretStoreError unless the keyring answers (a get of a key that never exists)."""
        await store.get(PROBE_FEED_ID, _PROBE_SLOT)

    # -- history ----------------------------------------------------------------------

    def history(self) -> HistoryStore:
        """The history store (open it with ``async with``)."""
        return HistoryStore(self.paths.history_db)

    def history_exists(self) -> bool:
        """Whether a history store was ever created (reading commands never create one)."""
        return self.paths.history_db.exists()


def command(
    work: Callable[[argparse.Namespace, Context], int],
) -> Callable[[argparse.Namespace], int]:
    """Build the context, run the command, and turn the failures it expects into exit codes."""

    @functools.wraps(work)
    def handler(args: argparse.Namespace) -> int:
        context = Context.from_args(args)
        try:
            return work(args, context)
        except CommandFailedError as exc:
            context.messages.error(str(exc))
        except ConfigError as exc:
            context.messages.error(str(exc))
        except SecretStoreError as exc:
            context.messages.error(f"keyring {exc.state}: {exc}")
        except HistoryUnavailableError as exc:
            context.messages.error(str(exc))
        except KeyboardInterrupt:
            return EXIT_SIGINT
        except BrokenPipeError:
            quiet_closed_stdout()  # `| head` closed stdout: stop quietly
            return EXIT_OK
        return EXIT_FAILURE

    return handler


def ensure_saveable(context: Context, settings: Settings) -> None:
    """Refuse early (before the keyring is touched) when the settings file must not be rewritten."""
    if settings.unsaveable:
        raise CommandFailedError(
            f"not changing {context.paths.settings_file}: it has a problem to fix first "
            f"({settings.unsaveable}); nothing was changed"
        )
