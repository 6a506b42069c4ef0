"""Where Tidings keeps its files: one profile directory for everything, or the platform's places."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from tidings.core.errors import UsageError
from tidings.core.paths import APP_NAME, PROFILE_ENV, Paths

_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


@pytest.fixture(autouse=True)
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test here may see (or create anything in) the real home or profile."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in _XDG:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    return home


def every_path(paths: Paths) -> list[Path]:
    """Every location a Paths object names: directories and files."""
    return [
        paths.config_dir,
        paths.data_dir,
        paths.state_dir,
        paths.cache_dir,
        paths.log_dir,
        paths.settings_file,
        paths.history_db,
        paths.lock_file,
    ]


def test_profile_dir_holds_everything(tmp_path: Path) -> None:
    """With a profile directory, every location is below it and they are all distinct."""
    root = tmp_path / "profile"
    paths = Paths.resolve(root)
    assert paths.profile_dir == root
    for path in every_path(paths):
        assert path.is_relative_to(root), path
    assert len({paths.config_dir, paths.data_dir, paths.state_dir, paths.cache_dir}) == 4
    assert paths.settings_file.name == "settings.toml"
    assert paths.settings_file.parent == paths.config_dir


def test_profile_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TIDINGS_PROFILE_DIR puts everything below it, exactly as --profile-dir does."""
    root = tmp_path / "from-env"
    monkeypatch.setenv(PROFILE_ENV, str(root))
    assert Paths.resolve() == Paths.resolve(root)
    assert all(p.is_relative_to(root) for p in every_path(Paths.resolve()))


def test_explicit_profile_dir_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--profile-dir overrides TIDINGS_PROFILE_DIR."""
    monkeypatch.setenv(PROFILE_ENV, str(tmp_path / "env"))
    assert Paths.resolve(tmp_path / "flag").profile_dir == tmp_path / "flag"


def test_profile_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative profile directory or one with ~ becomes absolute, so a chdir cannot move it."""
    monkeypatch.chdir(tmp_path)
    assert Paths.resolve("portable").profile_dir == tmp_path / "portable"
    home = Path(os.environ["HOME"])
    assert Paths.resolve("~/tidings-profile").profile_dir == home / "tidings-profile"


def test_platform_locations_without_override(fake_home: Path) -> None:
    """Without an override, the locations are platformdirs' for the app."""
    paths = Paths.resolve()
    assert paths.profile_dir is None
    assert paths.config_dir == Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    assert paths.data_dir == Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    assert paths.state_dir == Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))
    assert paths.cache_dir == Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    assert paths.log_dir == Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    if os.name == "posix":
        # The fake home is really used: the real one is never touched by these tests.
        assert all(p.is_relative_to(fake_home) for p in every_path(paths))


def test_empty_environment_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """TIDINGS_PROFILE_DIR="" means no profile, not the current directory."""
    monkeypatch.setenv(PROFILE_ENV, "")
    assert Paths.resolve().profile_dir is None


def test_empty_profile_dir_argument_is_a_usage_error() -> None:
    """--profile-dir "" (an unset shell variable, say) is refused instead of meaning '.'."""
    with pytest.raises(UsageError, match="profile directory is empty"):
        Paths.resolve("")


@pytest.mark.parametrize("how", ["argument", "environment", "platform"])
def test_resolve_creates_nothing(
    tmp_path: Path, fake_home: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Resolving paths creates no file and no directory: writers create what they need."""
    before = sorted(tmp_path.rglob("*"))
    if how == "environment":
        monkeypatch.setenv(PROFILE_ENV, str(tmp_path / "profile"))
    paths = Paths.resolve(tmp_path / "profile" if how == "argument" else None)
    for path in every_path(paths):
        assert not path.exists(), path
    assert sorted(tmp_path.rglob("*")) == before
    assert not fake_home.exists()


def test_two_profiles_share_nothing(tmp_path: Path) -> None:
    """Two profile directories have no location in common (each is its own instance)."""
    first = set(every_path(Paths.resolve(tmp_path / "one")))
    second = set(every_path(Paths.resolve(tmp_path / "two")))
    assert first.isdisjoint(second)
