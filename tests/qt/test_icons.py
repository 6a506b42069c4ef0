"""Tray icons: every state's SVG loads in both themes, states look different, the badge shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from tidings.core.resources import resource_path
from tidings.core.tray_state import TrayState, badge_text
from tidings.qt.icons import BADGE_COLOR, ICON_SIZES, TrayIcons, icon_file

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _bytes(image: QImage) -> bytes:
    converted = image.convertToFormat(QImage.Format.Format_ARGB32)
    return bytes(converted.constBits())


def _opaque_pixels(image: QImage) -> int:
    converted = image.convertToFormat(QImage.Format.Format_ARGB32)
    return sum(
        1
        for y in range(converted.height())
        for x in range(converted.width())
        if converted.pixelColor(x, y).alpha() > 0
    )


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize("state", list(TrayState))
def test_every_state_svg_is_valid_and_renders(
    qapp: QApplication, state: TrayState, dark: bool
) -> None:
    """Each tray-<state>-<theme>.svg exists in resources/, parses, and paints something."""
    path = resource_path(icon_file(state, dark=dark))
    assert QSvgRenderer(str(path)).isValid()
    icons = TrayIcons(dark=dark)
    icon = icons.icon(state)
    assert not icon.isNull()
    for size in ICON_SIZES:
        assert not icon.pixmap(size, size).isNull()
    assert _opaque_pixels(icons.image(state, size=32)) > 50


@pytest.mark.parametrize("dark", [False, True])
def test_states_differ_from_each_other(qapp: QApplication, dark: bool) -> None:
    """Ok, retrying, error and paused are four different pictures at 22 px (a common tray size)."""
    icons = TrayIcons(dark=dark)
    pictures = {state: _bytes(icons.image(state, size=22)) for state in TrayState}
    assert len(set(pictures.values())) == len(TrayState)


def test_light_and_dark_themes_differ(qapp: QApplication) -> None:
    """The dark-theme glyph is light, the light-theme glyph dark, for every state."""
    for state in TrayState:
        light = TrayIcons(dark=False).image(state, size=32)
        dark = TrayIcons(dark=True).image(state, size=32)
        assert _bytes(light) != _bytes(dark)
    # The dot of the glyph, bottom centre: dark on light desktops, light on dark ones.
    light_dot = TrayIcons(dark=False).image(TrayState.OK, size=64).pixelColor(32, 51)
    dark_dot = TrayIcons(dark=True).image(TrayState.OK, size=64).pixelColor(32, 51)
    assert light_dot.lightnessF() < 0.3
    assert dark_dot.lightnessF() > 0.7


def test_badge_is_drawn_at_the_top_right(qapp: QApplication) -> None:
    """An unread count adds a brand-blue badge at the top right; none without unread events."""
    icons = TrayIcons(dark=False)
    plain = icons.image(TrayState.OK, 0, size=32)
    badged = icons.image(TrayState.OK, 5, size=32)
    assert _bytes(plain) != _bytes(badged)
    corner = badged.pixelColor(28, 4)
    assert corner.alpha() == 255
    assert _close(corner, BADGE_COLOR)
    assert plain.pixelColor(28, 4).alpha() == 0
    assert _bytes(icons.image(TrayState.OK, 5, size=32)) != _bytes(
        icons.image(TrayState.OK, 100, size=32)
    )


def test_badge_text_caps_at_99() -> None:
    """0 shows nothing, counts up to 99 show as they are, more shows 99+."""
    assert [badge_text(n) for n in (-1, 0, 1, 99, 100, 12345)] == ["", "", "1", "99", "99+", "99+"]


def test_icons_render_at_the_device_pixel_ratio(qapp: QApplication) -> None:
    """At ratio 2 the image has twice the pixels and says so, so HiDPI trays stay sharp."""
    image = TrayIcons(dark=False).image(TrayState.ERROR, 3, size=24, ratio=2.0)
    assert (image.width(), image.height()) == (48, 48)
    assert image.devicePixelRatio() == 2.0


def test_a_system_scheme_change_is_announced(qapp: QApplication) -> None:
    """The style hints' colorSchemeChanged makes the icons announce a change (the tray then
    re-renders); icons with a forced theme stay quiet. Offscreen Qt cannot switch the scheme
    itself, so the hints' signal is emitted as the platform would."""
    hints = QGuiApplication.styleHints()
    assert hints is not None
    following = TrayIcons()
    forced = TrayIcons(dark=True)
    announced: list[str] = []
    following.theme_changed.connect(lambda: announced.append("following"))
    forced.theme_changed.connect(lambda: announced.append("forced"))
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert announced == ["following"]


def test_dark_follows_the_scheme_else_the_palette(qapp: QApplication) -> None:
    """With a scheme known, it decides; unknown (offscreen), the palette's window colour does."""
    hints = QGuiApplication.styleHints()
    assert hints is not None
    scheme = hints.colorScheme()
    icons = TrayIcons()
    if scheme is Qt.ColorScheme.Unknown:
        window = QGuiApplication.palette().window().color()
        assert icons.dark is (window.lightnessF() < 0.5)
    else:
        assert icons.dark is (scheme is Qt.ColorScheme.Dark)


def test_forcing_a_theme_changes_the_picture(qapp: QApplication) -> None:
    """set_dark() switches the rendering and announces it; setting the same value does not."""
    icons = TrayIcons(dark=False)
    announced: list[bool] = []
    icons.theme_changed.connect(lambda: announced.append(icons.dark))
    light = _bytes(icons.image(TrayState.RETRYING))
    icons.set_dark(True)
    icons.set_dark(True)
    assert announced == [True]
    assert _bytes(icons.image(TrayState.RETRYING)) != light


def test_save_the_icons_for_review(qapp: QApplication) -> None:
    """Writes every state and theme, with and without a badge, to build/screenshots/ (a sheet)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    sheet = QImage(64 * 4 + 40, 64 * 4 + 40, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#ffffff"))
    painter = QPainter(sheet)
    for column, state in enumerate(TrayState):
        for row, (dark, unread) in enumerate(((False, 0), (False, 7), (True, 0), (True, 120))):
            x, y = 8 + column * 72, 8 + row * 72
            painter.fillRect(x - 4, y - 4, 72, 72, QColor("#202124" if dark else "#f1f3f4"))
            painter.drawImage(x, y, TrayIcons(dark=dark).image(state, unread, size=64))
    painter.end()
    assert sheet.save(str(SHOTS / "tray-icons.png"))


def _close(a: QColor, b: QColor, tolerance: int = 24) -> bool:
    return (
        abs(a.red() - b.red()) <= tolerance
        and abs(a.green() - b.green()) <= tolerance
        and abs(a.blue() - b.blue()) <= tolerance
    )
