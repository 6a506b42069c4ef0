"""Feeds to and from a file in the desktop app: File > Export/Import feeds in the main window
and the settings dialog's Export/Import buttons.

The file dialog opens with ``open()`` and a future (:func:`tidings.qt.loop.dialog_result`),
never ``exec()``. The format is :mod:`tidings.core.feed_io`'s (no secret is ever written);
imported feeds are saved through ``controller.add_feed``. Each caller shows the
:class:`Outcome` where it shows things (the main window: status bar and a message box, the
settings dialog: a line under its buttons).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

from tidings.core.errors import TidingsError
from tidings.core.feed_io import export_text, plan_import, read_import
from tidings.qt.controller import AppController
from tidings.qt.loop import dialog_result

__all__ = ["FILE_DIALOG_NAME", "Outcome", "choose_file", "export_feeds", "import_feeds"]

FILE_DIALOG_NAME = "tidings-feeds-file"
"""The object name of the file dialog (tests find it by this name)."""

_CONTEXT = "FeedFiles"


@dataclass(frozen=True)
class Outcome:
    """What an export or an import did: a summary line, details (may be none), and how many
    feeds it wrote or added. ``failed``: nothing was done, the summary says why."""

    summary: str
    details: tuple[str, ...] = ()
    count: int = 0
    failed: bool = False

    @property
    def text(self) -> str:
        """The summary, then each detail on its own line."""
        return "\n".join([self.summary, *self.details])


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def _plural(one: str, many: str, n: int) -> str:
    """English needs no translation file for its plural; other languages translate ``many``
    with Qt's numerus forms (``%n``)."""
    return _tr(one) if n == 1 else QCoreApplication.translate(_CONTEXT, many, None, n)


async def choose_file(parent: QWidget, *, save: bool) -> Path | None:
    """Ask for the file to export to (``save``) or import from; ``None`` when cancelled."""
    dialog = QFileDialog(
        parent, _tr("Export feeds") if save else _tr("Import feeds"), str(Path.home())
    )
    dialog.setObjectName(FILE_DIALOG_NAME)
    dialog.setNameFilters([_tr("Tidings feeds (*.toml *.json)"), _tr("All files (*)")])
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setDefaultSuffix("toml")
        dialog.selectFile("tidings-feeds.toml")
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    try:
        if await dialog_result(dialog) != QDialog.DialogCode.Accepted.value:
            return None
        files = dialog.selectedFiles()
    finally:
        dialog.deleteLater()
    return Path(files[0]) if files else None


def export_feeds(controller: AppController, path: Path) -> Outcome:
    """Write the saved feeds (never a secret, never the session-only demo) to ``path``: TOML,
    or JSON for a ``.json`` file. The details are the values exported redacted."""
    feeds = controller.settings.feeds
    text, warnings = export_text(feeds, "json" if path.suffix.lower() == ".json" else "toml")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return Outcome(
            _tr("Cannot write {path}: {reason}").format(path=path, reason=reason), failed=True
        )
    done = _plural(
        "Exported 1 feed to {path}, without secrets.",
        "Exported %n feeds to {path}, without secrets.",
        len(feeds),
    ).format(path=path)
    return Outcome(done, tuple(warnings), len(feeds))


async def import_feeds(controller: AppController, path: Path) -> Outcome:
    """Add the feeds of an exported (or settings) file, renamed when their name is taken and
    paused when a command gives their token. The details: what each feed needs, what could
    not be added, what was skipped."""
    try:
        tables = read_import(path)
    except TidingsError as exc:
        return Outcome(str(exc), failed=True)
    plan = plan_import(tables, controller.settings)
    added = 0
    lines: list[str] = []
    for item in plan.incoming:
        try:
            feed = await controller.add_feed(item.feed)
        except (TidingsError, OSError) as exc:
            lines.append(f"{item.feed.name}: {exc}")
            continue
        added += 1
        lines.extend(f"{feed.name}: {note}" for note in item.notes)
    lines.extend(_tr("Skipped {what}").format(what=what) for what in plan.skipped)
    done = _plural("Imported 1 feed.", "Imported %n feeds.", added)
    return Outcome(done, tuple(lines), added)
