"""The settings dialog over a running app: values saved to the settings file on OK, problems
shown inline, autostart written, diagnostics without secrets, feeds exported and imported."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTime
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QLineEdit,
)

from qt.conftest import ControllerEnv
from tidings.core.autostart import APP_ID
from tidings.core.config import load_settings
from tidings.core.models import Auth, AuthKind, Feed, Header
from tidings.core.notification import Urgency
from tidings.core.secrets import auth_slot
from tidings.qt.settings_dialog import SettingsDialog, open_settings

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / f"{APP_ID}.desktop"


def _dialog(env: ControllerEnv, opened: list[Path] | None = None) -> SettingsDialog:
    folders = opened if opened is not None else []
    dialog = SettingsDialog(env.controller, open_folder=lambda p: folders.append(p) or True)
    dialog.show()
    _settle(env)
    return dialog


def _settle(env: ControllerEnv) -> None:
    env.run(asyncio.sleep(0.05))


def _close(env: ControllerEnv, dialog: QDialog) -> None:
    """Delete the dialog while this test's loop still runs (not in the next test's)."""
    dialog.hide()
    dialog.deleteLater()
    _settle(env)


def _ok(env: ControllerEnv, dialog: SettingsDialog) -> None:
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None
    button.click()
    _settle(env)


def test_ok_saves_every_page_to_the_settings_file(controller_env: ControllerEnv, xdg: Path) -> None:
    """Values changed on each page reach the settings file; autostart writes its entry."""
    env = controller_env
    dialog = _dialog(env)
    dialog.notifications.setChecked(False)
    dialog.notifier.setCurrentIndex(dialog.notifier.findData("tray"))
    dialog.lost_after.setValue(120)
    dialog.flood_limit.setValue(5)
    dialog.flood_window.setValue(20)
    dialog.quiet_enabled.setChecked(True)
    for day, box in dialog.day_boxes.items():
        box.setChecked(day in (0, 1))
    dialog.quiet_start.setTime(QTime(21, 30))
    dialog.quiet_end.setTime(QTime(6, 15))
    dialog.break_through.setCurrentIndex(dialog.break_through.findData("normal"))
    dialog.max_age.setValue(7)
    dialog.max_per_feed.setValue(500)
    dialog.total_enabled.setChecked(True)
    dialog.max_total.setValue(10_000)
    dialog.autostart.setChecked(True)
    dialog.show_window.setChecked(True)
    dialog.on_close.setCurrentIndex(dialog.on_close.findData("keep"))
    changed: list[bool] = []
    env.controller.settings_changed.connect(lambda: changed.append(True))

    _ok(env, dialog)
    env.wait_for(lambda: dialog.result() == QDialog.DialogCode.Accepted.value)
    assert not dialog.isVisible()
    saved = load_settings(env.paths.settings_file)
    assert not saved.problems
    app = saved.app
    assert (app.notifications, app.notifier, app.lost_connection_after) == (False, "tray", 120)
    assert (app.flood_limit, app.flood_window) == (5, 20)
    assert (app.show_window_at_start, app.background_on_close) == (True, "keep")
    quiet = saved.quiet_hours
    assert quiet.enabled
    assert quiet.days == frozenset({0, 1})
    assert (quiet.start, quiet.end) == (dt.time(21, 30), dt.time(6, 15))
    assert quiet.break_through is Urgency.NORMAL
    retention = saved.history_retention
    assert (retention.max_age_days, retention.max_events_per_feed) == (7, 500)
    assert retention.max_events_total == 10_000
    assert changed
    entry = xdg.read_text(encoding="utf-8")
    assert "--background" in entry
    assert str(env.paths.profile_dir) in entry
    _close(env, dialog)


def test_unchecking_autostart_removes_the_entry(controller_env: ControllerEnv, xdg: Path) -> None:
    """The checkbox shows an installed entry as on; turning it off and OK removes the file."""
    env = controller_env
    first = _dialog(env)
    first.autostart.setChecked(True)
    _ok(env, first)
    assert xdg.exists()
    second = _dialog(env)
    assert second.autostart.isChecked()
    second.autostart.setChecked(False)
    _ok(env, second)
    assert not xdg.exists()
    _close(env, first)
    _close(env, second)


def test_invalid_input_is_shown_inline_and_nothing_is_saved(
    controller_env: ControllerEnv, xdg: Path
) -> None:
    """Quiet hours on with no day chosen: OK says so next to the buttons and keeps the dialog."""
    env = controller_env
    dialog = _dialog(env)
    dialog.quiet_enabled.setChecked(True)
    for box in dialog.day_boxes.values():
        box.setChecked(False)
    dialog.notifications.setChecked(False)
    _ok(env, dialog)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert "at least one day" in dialog.error_label.text()
    assert (
        not env.paths.settings_file.exists()
        or load_settings(env.paths.settings_file).app.notifications
    )
    dialog.day_boxes[4].setChecked(True)
    _ok(env, dialog)
    env.wait_for(lambda: not dialog.isVisible())
    assert not dialog.error_label.isVisible()
    assert load_settings(env.paths.settings_file).quiet_hours.days == frozenset({4})
    _close(env, dialog)


def test_cancel_changes_nothing(controller_env: ControllerEnv, xdg: Path) -> None:
    """Cancel closes without writing the settings file or an autostart entry."""
    env = controller_env
    dialog = _dialog(env)
    dialog.notifications.setChecked(False)
    dialog.autostart.setChecked(True)
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    assert button is not None
    button.click()
    _settle(env)
    assert dialog.result() == QDialog.DialogCode.Rejected.value
    assert (
        not env.paths.settings_file.exists()
        or load_settings(env.paths.settings_file).app.notifications
    )
    assert not xdg.exists()
    _close(env, dialog)


def test_keyring_and_backend_are_shown_as_plain_text_with_a_warning(
    controller_env: ControllerEnv, xdg: Path
) -> None:
    """The in-memory keyring is named and warned about; the notifier's state is shown as
    plain text (a `<b>` in it stays literal)."""
    env = controller_env
    env.controller.notifier_name = "freedesktop"
    env.controller.notifier_detail = "<b>dunst</b> 1.9"
    dialog = _dialog(env)
    env.wait_for(lambda: dialog.keyring_label.text() == "memory (not persisted)")
    assert not dialog.keyring_warning.isHidden()
    assert "not a secure" in dialog.keyring_warning.text()
    assert dialog.backend_label.text() == "freedesktop (<b>dunst</b> 1.9)"
    for label in dialog.findChildren(QLabel):
        if label.accessibleName() in {"Backend in use", "Keyring in use", "Result", "Problem"}:
            assert label.textFormat() is Qt.TextFormat.PlainText
    dialog.show_keyring("keyring.backends.SecretService.Keyring")
    assert dialog.keyring_warning.isHidden()
    dialog.show_keyring("keyrings.alt.file.PlaintextKeyring")
    assert not dialog.keyring_warning.isHidden()
    _close(env, dialog)


def test_diagnostics_carry_no_secret(controller_env: ControllerEnv, xdg: Path) -> None:
    """Copy diagnostics puts versions, backends and feed statuses on the clipboard with every
    known secret removed, whatever carried it (query parameter, odd parameter, keyring)."""
    env = controller_env
    secret = "s3cr3t-Token-4242"
    odd = "ZZtopsecretZZ"
    env.controller.known.add(secret)
    env.controller.known.add(odd)
    feed = env.run(
        env.controller.add_feed(
            Feed(
                id="",
                name="Private",
                url=f"http://127.0.0.1:9/events?t={odd}&token={secret}",
                preset="ntfy",
                auth=Auth(kind=AuthKind.QUERY, query_param="auth"),
                headers=(Header(name="X-Key", secret=True),),
            ),
            {auth_slot(): secret},
        )
    )
    assert env.run(env.secrets.get(feed.id, auth_slot())) == secret
    dialog = _dialog(env)
    dialog.copy_diagnostics.click()
    text = dialog.last_diagnostics
    clipboard = QGuiApplication.clipboard()
    assert clipboard is not None
    assert clipboard.text() == text
    assert "Tidings 0.1.0" in text
    assert "Feeds: 1 (ntfy: 1)" in text
    assert feed.id in text
    assert "memory (not persisted) [not a secure keyring]" in text
    assert secret not in text
    assert odd not in text
    assert "Private" not in text
    assert "copied" in dialog.files_status.text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.tabs.setCurrentIndex(4)
    _settle(env)
    assert dialog.grab().save(str(SHOTS / "settings-privacy.png"))
    _close(env, dialog)


def test_open_folder_buttons_create_and_open_the_folder(
    controller_env: ControllerEnv, xdg: Path
) -> None:
    """Each "Open folder" opens where that file lives (created first, so there is something)."""
    env = controller_env
    opened: list[Path] = []
    dialog = _dialog(env, opened)
    dialog.folder_buttons["logs"].click()
    dialog.folder_buttons["history"].click()
    assert opened == [env.paths.log_dir, env.paths.history_db.parent]
    assert env.paths.log_dir.is_dir()
    _close(env, dialog)


def test_export_then_import_feeds(controller_env: ControllerEnv, xdg: Path, tmp_path: Path) -> None:
    """Export writes the feeds without secrets; importing the file adds them again, renamed
    when the name is taken, with a note that they need their credentials."""
    env = controller_env
    secret = "export-me-not-123"
    env.run(
        env.controller.add_feed(
            Feed(
                id="",
                name="Alerts",
                url="http://127.0.0.1:9/a",
                auth=Auth(kind=AuthKind.BEARER),
            ),
            {auth_slot(): secret},
        )
    )
    env.run(env.controller.add_feed(Feed(id="", name="Plain", url="http://127.0.0.1:9/p")))
    dialog = _dialog(env)
    target = tmp_path / "feeds.toml"
    assert dialog.export_feeds(target)
    text = target.read_text(encoding="utf-8")
    assert "Alerts" in text
    assert 'kind = "bearer"' in text
    assert secret not in text
    assert "Exported 2 feed" in dialog.files_status.text()

    added = env.run(dialog.import_feeds(target))
    assert added == 2
    names = [f.name for f in load_settings(env.paths.settings_file).feeds]
    assert names == ["Alerts", "Plain", "Alerts (2)", "Plain (2)"]
    status = dialog.files_status.text()
    assert "Imported 2 feed" in status
    assert "Alerts (2): it needs its credentials" in status

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert env.run(dialog.import_feeds(bad)) == 0
    assert "not valid JSON" in dialog.files_status.text()
    _close(env, dialog)


def test_export_button_asks_for_a_file(
    controller_env: ControllerEnv, xdg: Path, tmp_path: Path
) -> None:
    """The Export button opens a save dialog (without a nested event loop); accepting it writes
    the file chosen."""
    env = controller_env
    env.run(env.controller.add_feed(Feed(id="", name="One", url="http://127.0.0.1:9/1")))
    dialog = _dialog(env)
    dialog.export_button.click()
    _settle(env)
    choosers = [d for d in dialog.findChildren(QFileDialog) if d.isVisible()]
    assert len(choosers) == 1
    target = tmp_path / "chosen.json"
    name_field = choosers[0].findChild(QLineEdit, "fileNameEdit")  # Qt's own file dialog
    assert isinstance(name_field, QLineEdit)
    name_field.setText(str(target))
    choosers[0].accept()
    _settle(env)
    env.wait_for(target.exists)
    assert '"feeds"' in target.read_text(encoding="utf-8")
    _close(env, dialog)


def test_open_settings_opens_once_and_returns_when_closed(
    controller_env: ControllerEnv, xdg: Path
) -> None:
    """open_settings shows the dialog; a second call brings the same one forward; closing it
    ends the first call."""
    env = controller_env
    first = env.controller.tasks.spawn(open_settings(env.controller, None))
    _settle(env)
    shown = QApplication.activeModalWidget()
    assert isinstance(shown, SettingsDialog)
    assert shown.controller is env.controller
    assert shown.isVisible()
    env.run(open_settings(env.controller, None))  # returns at once: one is open already
    assert QApplication.activeModalWidget() is shown
    shown.reject()
    env.run(first)
    assert first.done()


def test_every_control_has_an_accessible_name(controller_env: ControllerEnv, xdg: Path) -> None:
    """Screen readers can name every input and button of every page."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox

    env = controller_env
    dialog = _dialog(env)
    unnamed = []
    for kind in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit):
        for widget in dialog.findChildren(kind):
            if widget.parent() is dialog.buttons:
                continue  # OK and Cancel: named by their text
            if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QAbstractSpinBox):
                continue
            name = widget.accessibleName() or (
                widget.text() if isinstance(widget, QAbstractButton) else ""
            )
            if not name:
                unnamed.append(type(widget).__name__)
    assert unnamed == []
    _close(env, dialog)


@pytest.mark.parametrize("index", range(5))
def test_pages_survive_large_fonts_and_right_to_left(
    controller_env: ControllerEnv, xdg: Path, qapp: QApplication, index: int
) -> None:
    """With a 2x font and right-to-left layout, each page still fits its size hint (no clipped
    fixed sizes) and is saved as a screenshot for review."""
    env = controller_env
    font = qapp.font()
    original = QApplication.layoutDirection()
    try:
        big = type(font)(font)
        big.setPointSizeF(font.pointSizeF() * 2)
        qapp.setFont(big)
        QApplication.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        dialog = _dialog(env)
        dialog.tabs.setCurrentIndex(index)
        dialog.adjustSize()
        _settle(env)
        page = dialog.tabs.currentWidget()
        assert page is not None
        assert page.width() >= page.minimumSizeHint().width()
        assert page.height() >= page.minimumSizeHint().height()
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert dialog.grab().save(str(SHOTS / f"settings-rtl-large-{index}.png"))
        _close(env, dialog)
    finally:
        qapp.setFont(font)
        QApplication.setLayoutDirection(original)
