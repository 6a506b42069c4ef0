"""The tray icon's pictures: one SVG per state and theme, rendered sharp at each size, with a badge.

``resources/icons/tray-<state>-<theme>.svg`` holds each state (ok, retrying,
error, paused) for a light and a dark theme (``-light`` is drawn for a light
desktop: a dark glyph). :class:`TrayIcons` renders them with QSvgRenderer at
the usual tray sizes and the screens' device pixel ratio, draws the unread
badge on top (a number, ``99+`` above 99), follows the system colour scheme
and emits :attr:`TrayIcons.theme_changed` when it changes, so the tray
re-renders. Which state applies is decided in :mod:`tidings.core.tray_state`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QIcon,
    QImage,
    QPainter,
    QPainterPath,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer

from tidings.core.resources import resource_path
from tidings.core.tray_state import TrayState, badge_text

__all__ = ["BADGE_COLOR", "ICON_SIZES", "TrayIcons", "icon_file"]

logger = logging.getLogger(__name__)

ICON_SIZES = (16, 20, 22, 24, 32, 48, 64)
"""Square sizes (logical pixels) rendered into each QIcon: the tray picks the nearest."""
BADGE_COLOR = QColor("#1f6feb")
"""The brand blue: red stays the colour of the error state."""
_SMALL = 22
"""Below this size a badge of two or more characters is a dot: digits would be unreadable."""


def icon_file(state: TrayState, *, dark: bool) -> str:
    """The resource name of a state's SVG for a dark or a light desktop."""
    return f"icons/tray-{state.value}-{'dark' if dark else 'light'}.svg"


class TrayIcons(QObject):
    """Renders and caches the tray's icons; re-renders when the system colour scheme changes."""

    theme_changed = Signal()
    """The colour scheme changed: icons asked for from now on use the other theme."""

    def __init__(self, *, dark: bool | None = None, parent: QObject | None = None) -> None:
        """``dark``: force a theme (tests, a user choice); ``None`` follows the system."""
        super().__init__(parent)
        self._forced = dark
        self._renderers: dict[tuple[TrayState, bool], QSvgRenderer] = {}
        self._icons: dict[tuple[TrayState, str, bool], QIcon] = {}
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_style_hints_color_scheme_changed)

    @property
    def dark(self) -> bool:
        """Whether the dark-theme icons are in use."""
        if self._forced is not None:
            return self._forced
        hints = QGuiApplication.styleHints()
        scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
        if scheme is Qt.ColorScheme.Dark:
            return True
        if scheme is Qt.ColorScheme.Light:
            return False
        # Unknown (older desktops): judge by the palette's window colour.
        return QGuiApplication.palette().window().color().lightnessF() < 0.5

    def set_dark(self, dark: bool | None) -> None:
        """Force a theme (``None``: follow the system again)."""
        if dark != self._forced:
            self._forced = dark
            self._icons.clear()
            self.theme_changed.emit()

    def icon(self, state: TrayState, unread: int = 0) -> QIcon:
        """The icon of ``state`` with the ``unread`` badge, at every size in :data:`ICON_SIZES`."""
        text = badge_text(unread)
        dark = self.dark
        key = (state, text, dark)
        cached = self._icons.get(key)
        if cached is not None:
            return cached
        icon = QIcon()
        for ratio in _ratios():
            for size in ICON_SIZES:
                image = self._render(state, text, size, ratio, dark)
                icon.addPixmap(QPixmap.fromImage(image))
        if len(self._icons) > 64:  # unread counts vary: keep the cache small
            self._icons.clear()
        self._icons[key] = icon
        return icon

    def image(
        self, state: TrayState, unread: int = 0, *, size: int = 32, ratio: float = 1.0
    ) -> QImage:
        """One rendering (``size`` logical pixels at ``ratio``): for tests and screenshots."""
        return self._render(state, badge_text(unread), size, ratio, self.dark)

    def _renderer(self, state: TrayState, dark: bool) -> QSvgRenderer:
        key = (state, dark)
        renderer = self._renderers.get(key)
        if renderer is None:
            path = resource_path(icon_file(state, dark=dark))
            renderer = QSvgRenderer(str(path), self)
            if not renderer.isValid():
                logger.error("the tray icon %s is not a valid SVG", path)
            self._renderers[key] = renderer
        return renderer

    def _render(self, state: TrayState, text: str, size: int, ratio: float, dark: bool) -> QImage:
        pixels = max(1, round(size * ratio))
        image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            self._renderer(state, dark).render(painter, QRectF(0, 0, pixels, pixels))
            if text:
                _draw_badge(painter, text, pixels, small=size < _SMALL)
        finally:
            painter.end()
        image.setDevicePixelRatio(ratio)
        return image

    def _on_style_hints_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._forced is None:
            self._icons.clear()
            self.theme_changed.emit()


def _ratios() -> list[float]:
    """1.0 and every other device pixel ratio of the screens (2.0 on a HiDPI laptop)."""
    ratios = {1.0}
    for screen in QGuiApplication.screens():
        ratios.add(float(screen.devicePixelRatio()))
    return sorted(ratios)


def _draw_badge(painter: QPainter, text: str, pixels: int, *, small: bool) -> None:
    """A rounded badge at the top right: the count in white, or a dot when too small to read."""
    height = pixels * 0.5
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(BADGE_COLOR)
    if small and len(text) > 1:
        dot = pixels * 0.4
        painter.drawEllipse(QRectF(pixels - dot, 0, dot, dot))
        return
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(1, round(height * 0.78)))
    metrics = QFontMetricsF(font)
    width = min(float(pixels), max(height, metrics.horizontalAdvance(text) + height * 0.45))
    rect = QRectF(pixels - width, 0, width, height)
    path = QPainterPath()
    path.addRoundedRect(rect, height / 2, height / 2)
    painter.drawPath(path)
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
