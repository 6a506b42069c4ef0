"""How feeds reach their presets: options in settings, stops mid-batch, unsafe URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.core.config import load_settings, save_settings
from tidings.core.decoder import DecodedEvent
from tidings.core.notification import safe_url
from tidings.core.presets import MapContext, get_preset


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_preset_options_round_trip_through_the_settings_file(tmp_path: Path) -> None:
    """A generic JSON feed's title and body paths load, save and load back unchanged."""
    path = write(
        tmp_path / "settings.toml",
        'schema_version = 1\n[[feeds]]\nid = "f-1"\nname = "CI"\nurl = "https://ci.example/events"\n'
        'preset = "json"\n[feeds.preset_options]\ntitle = "{repo.name}: {status}"\nbody = "who"\n',
    )
    settings = load_settings(path)
    assert settings.problems == ()
    feed = settings.feeds[0]
    assert dict(feed.preset_options) == {"title": "{repo.name}: {status}", "body": "who"}
    save_settings(path, settings)
    assert load_settings(path).feeds[0] == feed


def test_a_bad_preset_option_is_named_and_the_feed_kept(tmp_path: Path) -> None:
    """An unknown generic JSON option is a problem naming the key; the file is kept as written."""
    path = write(
        tmp_path / "settings.toml",
        'schema_version = 1\n[[feeds]]\nid = "f-1"\nname = "CI"\nurl = "https://ci.example/e"\n'
        'preset = "json"\n[feeds.preset_options]\ntitel = "x"\n',
    )
    settings = load_settings(path)
    assert settings.feeds == ()
    assert "feeds[0].preset_options" in str(settings.problems[0])
    assert "titel" in str(settings.problems[0])


def test_the_json_preset_uses_the_options_it_is_given() -> None:
    """The options in the map context pick the title and body out of the JSON."""
    preset = get_preset("json")
    event = DecodedEvent("message", '{"repo": {"name": "acme/api"}, "status": "ok"}', "", False)
    context = MapContext(options={"title": "{repo.name}: {status}", "body": "status"})
    note = preset.map(event, context).notification
    assert note is not None
    assert (note.title, note.body) == ("acme/api: ok", "ok")


@pytest.mark.parametrize(
    "url",
    [
        "https://ok.example/\nhttps://evil.example",
        "https://a.example/\tpath",
        "http://x.example/\x7f",
    ],
)
def test_urls_with_control_characters_are_dropped(url: str) -> None:
    """A click URL with a line break, tab or DEL is not trusted, though urlsplit accepts it."""
    assert safe_url(url) == ""


def test_a_plain_https_url_is_kept() -> None:
    """An ordinary https URL passes through unchanged."""
    assert safe_url("https://ok.example/a?b=1") == "https://ok.example/a?b=1"
