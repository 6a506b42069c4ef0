"""The sink's queue under a flood: summary updates merge, other feeds' popups are not pushed out."""

from __future__ import annotations

import asyncio

from tidings.core.models import AppSettings, Feed
from tidings.core.notification import Notification
from tidings.notify import NotifierSink

from .conftest import RecordingNotifier


class SlowNotifier(RecordingNotifier):
    """Takes 50 ms per notification, as a busy notification daemon may."""

    async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
        await asyncio.sleep(0.05)
        await super().show(notification, rowid=rowid)


async def test_a_flood_of_summary_updates_is_shown_as_few_updates_and_loses_no_popup() -> None:
    notifier = SlowNotifier()
    sink = NotifierSink(notifier=notifier, app=AppSettings(), queue_limit=20)
    await sink.start()
    flooding = Feed(id="ci", name="CI", url="http://127.0.0.1:9/ci")
    quiet = Feed(id="ops", name="Ops", url="http://127.0.0.1:9/ops")
    for count in range(1, 301):
        summary = Notification(title=f"{count} more from CI", replace_key="flood:ci", feed_id="ci")
        sink.summary_updated(flooding, summary)
        if count == 150:
            sink.summary_updated(quiet, Notification(title="Disk full", feed_id="ops"))
    await sink.drain(within=10)
    titles = [n.title for n, _ in notifier.shown]
    assert "Disk full" in titles  # not dropped behind 300 queued updates
    assert titles[-1] == "300 more from CI"  # the last update is what stays on screen
    assert len(titles) <= 4  # one in flight, then only the newest update of each key
    await sink.close()
