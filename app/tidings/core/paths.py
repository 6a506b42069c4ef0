"""Where Tidings keeps its files: the platform's places, or one profile directory for all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from tidings.core.errors import UsageError

__all__ = ["APP_NAME", "PROFILE_ENV", "Paths"]

APP_NAME = "tidings"
PROFILE_ENV = "TIDINGS_PROFILE_DIR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    """The directories of one profile. Nothing is created until a writer asks for it.

    With a profile directory (``--profile-dir`` or ``TIDINGS_PROFILE_DIR``),
    config, data, state, logs and cache all live below it, so tests and
    portable installs never touch the real home. Without one, each is the
    platform's place for it (platformdirs). Each profile is its own single
    instance (the lock file lives in :attr:`state_dir`).
    """

    config_dir: Path
    data_dir: Path
    state_dir: Path
    cache_dir: Path
    log_dir: Path
    profile_dir: Path | None = None

    @classmethod
    def resolve(cls, profile_dir: str | os.PathLike[str] | None = None) -> Paths:
        """The paths for an explicit profile, else ``$TIDINGS_PROFILE_DIR``, else the platform's.

        An empty explicit profile directory is a usage error (it would otherwise
        mean the current directory, or the real home); an empty environment
        variable counts as unset.
        """
        if profile_dir is not None and not os.fspath(profile_dir):
            raise UsageError("the profile directory is empty: give a directory path")
        chosen = profile_dir if profile_dir is not None else os.environ.get(PROFILE_ENV) or None
        if chosen is not None:
            root = Path(chosen).expanduser().absolute()
            return cls(
                config_dir=root / "config",
                data_dir=root / "data",
                state_dir=root / "state",
                cache_dir=root / "cache",
                log_dir=root / "state" / "log",
                profile_dir=root,
            )
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            state_dir=Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @property
    def settings_file(self) -> Path:
        """The one human-readable settings file."""
        return self.config_dir / "settings.toml"

    @property
    def history_db(self) -> Path:
        """The SQLite history store (events, decisions, per-feed resume cursors)."""
        return self.data_dir / "history.sqlite3"

    @property
    def lock_file(self) -> Path:
        """Held by the running instance of this profile."""
        return self.state_dir / "instance.lock"
