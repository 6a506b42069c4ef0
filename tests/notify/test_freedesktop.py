"""The freedesktop backend against dunst on a private bus: what arrives, and what clicks do."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator

import pytest

from support.desktop import DesktopSession
from support.notify_monitor import NotifyMonitor
from tidings.core.notification import BODY_LIMIT, Action, Notification, Urgency
from tidings.notify import APP_ID, NotifierState
from tidings.notify.freedesktop import FreedesktopNotifier, probe_server

from .conftest import HttpRecorder, RecordingHandler, press

pytestmark = pytest.mark.desktop


@pytest.fixture
async def notifier(
    dunst_session: DesktopSession, handler: RecordingHandler
) -> AsyncIterator[FreedesktopNotifier]:
    backend = FreedesktopNotifier(handler=handler)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def history(session: DesktopSession) -> list[dict[str, str]]:
    """dunst's history (newest first) after closing everything shown, as plain strings."""
    session.dunstctl("close-all")
    data = json.loads(session.dunstctl("history"))["data"][0]
    return [{k: v["data"] for k, v in entry.items()} for entry in data]


async def test_start_names_the_server(notifier: FreedesktopNotifier) -> None:
    """start() asks the server who it is: the name says dunst and its version."""
    assert notifier.state is NotifierState.OK
    assert notifier.name.startswith("freedesktop notifications (dunst 1.9")
    assert notifier.server is not None
    assert "actions" in notifier.server.capabilities
    info = await probe_server()
    assert (info.name, info.spec_version) == ("dunst", "1.2")


async def test_every_field_arrives(
    notifier: FreedesktopNotifier, bus_monitor: NotifyMonitor
) -> None:
    """Title, escaped body, urgency, icon, desktop entry, click and buttons reach the daemon."""
    await notifier.show(
        Notification(
            title="Deploy <failed> & rolled back",
            body="<b>x</b> & y",
            urgency=Urgency.CRITICAL,
            url="https://ci.example.org/run/1",
            feed_id="f-ci",
            actions=(
                Action(label="Open run", kind="view", url="https://ci.example.org/run/1/log"),
                Action(label="Retry", kind="http", url="https://ci.example.org/retry"),
                Action(label="Bad", kind="view", url="javascript:alert(1)"),
            ),
        ),
        rowid=41,
    )
    (call,) = await bus_monitor.notified(1)
    assert call.app_name == "Tidings"
    assert call.replaces_id == 0
    assert call.summary == "Deploy <failed> & rolled back"  # the summary is never markup
    assert call.body == "&lt;b&gt;x&lt;/b&gt; &amp; y"  # dunst has body-markup: escaped
    assert call.hints["urgency"] == 2
    assert call.hints["desktop-entry"] == APP_ID
    assert call.app_icon.startswith("file://")
    assert call.app_icon.endswith("/icons/tidings.svg")
    assert call.expire_timeout == -1
    assert call.actions == [
        ("default", "Open"),
        ("view:0", "Open run"),
        ("http:1", "Retry"),
        ("tidings:mute-1h", "Mute feed 1 h"),
        ("tidings:mark-read", "Mark read"),
    ]


@pytest.mark.parametrize("markup", ["full", "strip"])
async def test_markup_in_a_body_shows_as_text(
    quiet_bus: DesktopSession, handler: RecordingHandler, markup: str
) -> None:
    """dunst renders the body as the literal text "<b>x</b> & y", not bold, in either mode."""
    quiet_bus.start_display()
    quiet_bus.start_dunst(markup=markup)
    backend = FreedesktopNotifier(handler=handler)
    await backend.start()
    try:
        await backend.show(Notification(title="T", body="<b>x</b> & y <i>z</i>"))
        await asyncio.sleep(0.2)
        (entry,) = history(quiet_bus)
    finally:
        await backend.close()
    # dunst hands the message to Pango: entities there render as the characters themselves.
    rendered_body = entry["message"].split("\n", 1)[1]
    assert rendered_body == html.escape("<b>x</b> & y <i>z</i>", quote=False)
    assert entry["summary"] == "T"


async def test_long_body_is_cut_to_the_popup_limit(
    notifier: FreedesktopNotifier, bus_monitor: NotifyMonitor
) -> None:
    """The body on the bus is Notification.short_body (1,000 characters with the ellipsis)."""
    await notifier.show(Notification(title="long", body="a" * 5000))
    (call,) = await bus_monitor.notified(1)
    assert len(call.body) == BODY_LIMIT
    assert call.body.endswith("…")


async def test_same_replace_key_updates_in_place_and_withdraw_closes(
    notifier: FreedesktopNotifier, bus_monitor: NotifyMonitor, dunst_session: DesktopSession
) -> None:
    """A flood summary updated twice is one notification (replaces_id); withdraw closes it."""
    for count in (4, 9, 37):
        await notifier.show(
            Notification(title=f"{count} more from CI", feed_id="f-ci", replace_key="flood:f-ci")
        )
    await notifier.show(Notification(title="other", feed_id="f-ci"))
    first, second, third, other = await bus_monitor.notified(4)
    assert first.replaces_id == 0
    assert second.replaces_id == first.returned_id
    assert third.replaces_id == first.returned_id
    assert third.returned_id == first.returned_id
    assert other.replaces_id == 0
    assert other.returned_id != first.returned_id
    await asyncio.sleep(0.2)
    assert "Currently displayed: 2" in dunst_session.dunstctl("count")
    await notifier.withdraw("flood:f-ci")
    await bus_monitor.wait_until(lambda: bus_monitor.closes == [first.returned_id], what="close")
    await asyncio.sleep(0.2)
    assert "Currently displayed: 1" in dunst_session.dunstctl("count")
    await notifier.withdraw("flood:f-ci")  # a second withdraw is a no-op
    assert bus_monitor.closes == [first.returned_id]


async def test_a_click_opens_the_url_or_the_event(
    notifier: FreedesktopNotifier,
    bus_monitor: NotifyMonitor,
    dunst_session: DesktopSession,
    handler: RecordingHandler,
) -> None:
    """The default action opens the URL; without a URL it opens the event in the log."""
    await notifier.show(Notification(title="a", url="https://example.org/a", feed_id="f"), rowid=3)
    await notifier.show(Notification(title="b", feed_id="f"), rowid=4)
    with_url, without = await bus_monitor.notified(2)
    assert with_url.returned_id is not None
    assert without.returned_id is not None
    await press(dunst_session, with_url.returned_id, "default")
    await handler.wait_for(1)
    await press(dunst_session, without.returned_id, "default")
    assert await handler.wait_for(2) == [
        ("open_url", "https://example.org/a"),
        ("open_event", "f", 4),
    ]


async def test_buttons_call_the_handler(
    notifier: FreedesktopNotifier,
    bus_monitor: NotifyMonitor,
    dunst_session: DesktopSession,
    handler: RecordingHandler,
) -> None:
    """view opens its URL; "Mute feed 1 h" mutes for 3600 s; "Mark read" marks the row."""
    note = Notification(
        title="n",
        feed_id="f-ci",
        actions=(Action(label="Logs", kind="view", url="https://ci.example.org/logs"),),
    )
    for key in ("view:0", "tidings:mute-1h", "tidings:mark-read"):
        await notifier.show(note, rowid=77)
        calls = await bus_monitor.notified(len(bus_monitor.notifies))
        platform_id = calls[-1].returned_id
        assert platform_id is not None
        await press(dunst_session, platform_id, key)
        await handler.wait_for(len(handler.calls) + 1)
    assert handler.calls == [
        ("open_url", "https://ci.example.org/logs"),
        ("mute_feed", "f-ci", 3600.0),
        ("mark_read", 77),
    ]
    assert any("[" in line for line in dunst_session.offered_in_context_menu())


async def test_http_action_runs_only_on_click(
    notifier: FreedesktopNotifier,
    bus_monitor: NotifyMonitor,
    dunst_session: DesktopSession,
    http_recorder: HttpRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ntfy's http action sends its request when pressed, with its method, headers and body."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    action = Action(
        label="Close door",
        kind="http",
        url=http_recorder.url("/door"),
        method="PUT",
        headers=(("X-Token", "t0k"),),
        body='{"door": "closed"}',
    )
    await notifier.show(Notification(title="Door open", feed_id="f", actions=(action,)))
    (call,) = await bus_monitor.notified(1)
    await asyncio.sleep(0.3)
    assert http_recorder.hits == []  # shown, not clicked: nothing sent
    assert call.returned_id is not None
    await press(dunst_session, call.returned_id, "http:0")
    (hit,) = await http_recorder.wait_for(1)
    assert (hit.method, hit.target, hit.body) == ("PUT", "/door", b'{"door": "closed"}')
    assert hit.headers["x-token"] == "t0k"
