"""The controller against a real hub, store and settings file, with a real SSE server."""

from __future__ import annotations

from typing import Any

from qt.conftest import ControllerEnv
from support.scripted_server import ScriptedServer, sse_reply
from tidings.core.config import load_settings
from tidings.core.models import ConnectionState, Feed


def test_add_feed_saves_it_runs_it_and_counts_unread(controller_env: ControllerEnv) -> None:
    env = controller_env
    seen: list[tuple[str, list[Any]]] = []
    env.controller.events_stored.connect(lambda feed_id, events: seen.append((feed_id, events)))
    server = ScriptedServer(
        [sse_reply(b"id: 1\ndata: hello\n\nid: 2\ndata: world\n\n", end="hang")]
    )
    env.run(server.__aenter__())
    try:
        feed = env.run(env.controller.add_feed(Feed(id="", name="Builds", url=server.url())))
        env.wait_for(lambda: sum(len(e) for f, e in seen if f == feed.id) >= 2)
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    saved = load_settings(env.paths.settings_file)
    assert [f.name for f in saved.feeds] == ["Builds"]
    assert env.controller.unread[feed.id] == 2
    env.run(env.controller.mark_all_read(feed.id))
    assert env.controller.unread.get(feed.id, 0) == 0


def test_pause_is_saved_and_shown_as_paused(controller_env: ControllerEnv) -> None:
    env = controller_env
    server = ScriptedServer([sse_reply(b"id: 1\ndata: hello\n\n", end="hang")])
    env.run(server.__aenter__())
    try:
        feed = env.run(env.controller.add_feed(Feed(id="", name="Idle", url=server.url())))
        env.wait_for(lambda: _state(env, feed.id) is ConnectionState.OPEN)
        env.run(env.controller.set_paused(feed.id, True))
        env.wait_for(lambda: _state(env, feed.id) is ConnectionState.PAUSED)
    finally:
        env.run(env.hub.stop())
        env.run(server.close())
    assert load_settings(env.paths.settings_file).feeds[0].paused is True


def _state(env: ControllerEnv, feed_id: str) -> ConnectionState | None:
    status = env.controller.status(feed_id)
    return None if status is None else status.state


def test_an_outside_edit_of_the_settings_file_applies_live(controller_env: ControllerEnv) -> None:
    env = controller_env
    feed = env.run(
        env.controller.add_feed(Feed(id="", name="Old", url="http://127.0.0.1:9/x", paused=True))
    )
    text = env.paths.settings_file.read_text(encoding="utf-8").replace('"Old"', '"Renamed"')
    env.paths.settings_file.write_text(text, encoding="utf-8")
    assert env.run(env.live.check()) is True
    assert env.controller.feed_name(feed.id) == "Renamed"
