"""The ``[app]`` table: read, written back, and a bad value named without losing the table."""

from __future__ import annotations

from pathlib import Path

from tidings.core.config import load_settings, save_settings
from tidings.core.models import AppSettings


def test_app_settings_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'schema_version = 1\n[app]\nnotifications = false\nnotifier = "tray"\nflood_limit = 5\n',
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.problems == ()
    assert settings.app == AppSettings(notifications=False, notifier="tray", flood_limit=5)
    save_settings(path, settings.with_app(AppSettings(lost_connection_after=0)))
    assert load_settings(path).app == AppSettings(lost_connection_after=0)


def test_a_bad_app_value_is_named_and_the_table_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'schema_version = 1\n\n[app]\nnotifier = "loud"\nflood_limit = 5\n', encoding="utf-8"
    )
    settings = load_settings(path)
    (problem,) = settings.problems
    assert str(problem).startswith(f"{path}:3: app.notifier: must be one of")
    assert "the app uses its defaults until this is fixed" in str(problem)
    assert settings.app == AppSettings()
    save_settings(path, settings)  # another change saved: the user's table stays as written
    text = path.read_text(encoding="utf-8")
    assert 'notifier = "loud"' in text
    assert "flood_limit = 5" in text
