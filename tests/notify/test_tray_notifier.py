"""TrayNotifier offscreen: no tray there, so it reports FAILED; the mapping and the click
path are tested directly (showMessage does nothing offscreen, per ENV.md)."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from tidings.core.notification import Notification, Urgency
from tidings.notify import FallbackNotifier, NotifierError, NotifierState
from tidings.qt.tray_notifier import TrayNotifier, urgency_icon

from .conftest import RecordingHandler


def test_urgency_maps_to_the_balloon_icon() -> None:
    """critical shows the critical icon; normal and low show information."""
    assert urgency_icon(Urgency.CRITICAL) is QSystemTrayIcon.MessageIcon.Critical
    assert urgency_icon(Urgency.NORMAL) is QSystemTrayIcon.MessageIcon.Information
    assert urgency_icon(Urgency.LOW) is QSystemTrayIcon.MessageIcon.Information


def test_no_tray_means_failed(qapp: QApplication, handler: RecordingHandler) -> None:
    """Offscreen there is no system tray: start fails with a sentence, show refuses."""
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    notifier = TrayNotifier(QSystemTrayIcon(), handler)

    async def scenario() -> None:
        with pytest.raises(NotifierError, match="no system tray"):
            await notifier.start()
        assert notifier.state is NotifierState.FAILED
        with pytest.raises(NotifierError):
            await notifier.show(Notification(title="x"))
        chain = FallbackNotifier([notifier])
        await chain.start()
        assert chain.state is NotifierState.FAILED
        assert "tray balloon: no system tray" in chain.detail
        await chain.show(Notification(title="dropped quietly"))
        await chain.close()

    asyncio.run(scenario())


def test_a_click_opens_the_last_shown(qapp: QApplication, handler: RecordingHandler) -> None:
    """messageClicked opens the last balloon's URL, or its event when it has none; a
    withdrawn one opens nothing."""
    tray = QSystemTrayIcon()
    notifier = TrayNotifier(tray, handler)

    async def scenario() -> None:
        # Offscreen has no tray; what start() would do once it found one:
        notifier.state = NotifierState.OK
        tray.messageClicked.connect(notifier._on_tray_message_clicked)
        await notifier.show(Notification(title="a", url="https://example.org/a"), rowid=1)
        tray.messageClicked.emit()
        await notifier.show(Notification(title="b", feed_id="f", replace_key="k"), rowid=2)
        tray.messageClicked.emit()
        await notifier.withdraw("k")
        tray.messageClicked.emit()

    asyncio.run(scenario())
    assert handler.calls == [("open_url", "https://example.org/a"), ("open_event", "f", 2)]
