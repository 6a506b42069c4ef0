"""The log model: pages from the history store, filters by re-querying, follows new events."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QTableView

from qt.conftest import ControllerEnv
from qt.log_support import add_feed, bulk_insert, settle, store_events
from tidings.core.history import PAGE_SIZE, HistoryFilter
from tidings.core.notification import Urgency
from tidings.qt.log_model import EVENT_ROLE, Column, LogModel, one_line


@pytest.fixture
def env(controller_env: ControllerEnv) -> ControllerEnv:
    add_feed(controller_env, "a", "Alpha")
    add_feed(controller_env, "b", "Beta")
    return controller_env


def make_model(
    env: ControllerEnv, page_size: int = PAGE_SIZE, max_live_rows: int = 10_000
) -> LogModel:
    """A model under Qt's model tester (fatal on any inconsistency), first page loaded."""
    model = LogModel(env.controller, page_size=page_size, max_live_rows=max_live_rows)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.setProperty("tester", tester)  # keep it alive as long as the model
    model._tester = tester  # type: ignore[attr-defined]
    env.run(model.wait_idle())
    return model


def shown(model: LogModel, column: int = Column.TITLE) -> list[str]:
    return [
        str(model.data(model.index(row, column), Qt.ItemDataRole.DisplayRole))
        for row in range(model.rowCount())
    ]


def test_first_page_then_older_pages_newest_first(env: ControllerEnv) -> None:
    """The model loads one page, newest first, and each fetch adds the next older page."""
    store_events(env, "a", 250)
    model = make_model(env, page_size=100)
    assert model.rowCount() == 100
    assert shown(model)[:3] == ["Event 249", "Event 248", "Event 247"]
    assert model.canFetchMore(QModelIndex())
    env.run(model.fetch_older())
    env.run(model.fetch_older())
    assert model.rowCount() == 250
    assert shown(model)[-1] == "Event 0"
    assert not model.canFetchMore(QModelIndex())
    assert len(set(shown(model))) == 250  # no row twice


def test_200k_events_load_a_page_and_more_only_on_scroll(env: ControllerEnv, qtbot: object) -> None:
    """With 200,000 stored events the model holds one page; scrolling to the end adds one."""
    bulk_insert(env.paths.history_db, "a", 200_000, start=time.time() - 3600)
    model = make_model(env)
    assert model.rowCount() == PAGE_SIZE
    view = QTableView()
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    settle(env, 0.2)
    assert model.rowCount() == PAGE_SIZE  # a filled viewport asks for nothing more
    view.scrollToBottom()
    settle(env, 0.3)
    env.run(model.wait_idle())
    assert model.rowCount() == 2 * PAGE_SIZE
    assert model.data(model.index(0, Column.SUMMARY)) == "bulk event 199999"
    view.close()


def test_filters_are_applied_by_the_store(env: ControllerEnv) -> None:
    """Feed, full text, urgency, unread and time filters re-query; a filter matching nothing
    gives an empty model that cannot fetch more."""
    store_events(env, "a", 5, title=lambda i: f"alpha {i}", body=lambda i: f"deploy web {i}")
    store_events(
        env,
        "b",
        5,
        title=lambda i: f"beta {i}",
        body=lambda i: "kettle boiled" if i == 3 else "nothing",
        urgency=lambda i: Urgency.CRITICAL if i % 2 else Urgency.LOW,
    )
    model = make_model(env)
    assert model.rowCount() == 10
    env.run(model.set_filter(HistoryFilter(feeds=("a",))))
    assert shown(model) == [f"alpha {i}" for i in range(4, -1, -1)]
    env.run(model.set_filter(HistoryFilter(query="kettle")))
    assert shown(model) == ["beta 3"]
    env.run(model.set_filter(HistoryFilter(min_urgency=Urgency.CRITICAL)))
    assert shown(model) == ["beta 3", "beta 1"]
    env.run(model.set_filter(HistoryFilter(since=time.time() + 60)))
    assert model.rowCount() == 0
    assert not model.canFetchMore(QModelIndex())


def test_new_events_appear_at_the_top_only_when_they_match(env: ControllerEnv) -> None:
    """Live events that match the filter are inserted at the top in arrival order; others not."""
    store_events(env, "a", 3)
    model = make_model(env)
    env.run(model.set_filter(HistoryFilter(feeds=("a",))))
    assert model.rowCount() == 3
    store_events(env, "b", 2, title=lambda i: f"other {i}", deliver=True)
    store_events(env, "a", 2, title=lambda i: f"new {i}", deliver=True)
    env.wait_for(lambda: model.rowCount() == 5)
    env.run(model.wait_idle())
    assert shown(model) == ["new 1", "new 0", "Event 2", "Event 1", "Event 0"]


def test_live_events_reach_an_empty_filtered_model(env: ControllerEnv) -> None:
    """A search that matched nothing shows a matching event as soon as it arrives, and never
    reads the old history into the model."""
    store_events(env, "a", 300, body=lambda i: "ordinary")
    model = make_model(env)
    env.run(model.set_filter(HistoryFilter(query="unicorn")))
    assert model.rowCount() == 0
    store_events(env, "a", 1, body=lambda i: "a unicorn appeared", deliver=True)
    env.wait_for(lambda: model.rowCount() == 1)
    env.run(model.wait_idle())
    assert shown(model, Column.SUMMARY) == ["a unicorn appeared"]


def test_a_burst_while_following_is_not_lost(env: ControllerEnv) -> None:
    """Events that arrive while a newer-rows query runs are picked up by the next round."""
    model = make_model(env, page_size=10)
    for _ in range(6):
        store_events(env, "a", 7, deliver=True)
    env.wait_for(lambda: model.rowCount() == 42)
    env.run(model.wait_idle())
    rowids = [model.data(model.index(r, 0), EVENT_ROLE).rowid for r in range(model.rowCount())]
    assert rowids == sorted(rowids, reverse=True)
    assert len(set(rowids)) == 42


def test_a_flood_keeps_a_bounded_number_of_rows(env: ControllerEnv) -> None:
    """Live arrivals push the oldest loaded rows out beyond the cap; scrolling down reads them
    back, in order and each once."""
    store_events(env, "a", 30)
    model = make_model(env, page_size=10, max_live_rows=25)
    env.run(model.fetch_older())
    env.run(model.fetch_older())
    assert model.rowCount() == 30
    store_events(env, "a", 12, title=lambda i: f"new {i}", deliver=True)
    env.wait_for(lambda: model.rowCount() == 25 and not model.loading)
    assert shown(model)[0] == "new 11"
    assert shown(model)[-1] == "Event 17"
    assert model.canFetchMore(QModelIndex())
    for _ in range(3):
        env.run(model.fetch_older())
    assert shown(model) == [f"new {i}" for i in range(11, -1, -1)] + [
        f"Event {i}" for i in range(29, -1, -1)
    ]


def test_unread_rows_are_bold_and_mark_read_updates_them(env: ControllerEnv) -> None:
    """Unread rows carry a bold font; marking through the model, or all read through the
    controller (as the tray does), turns them normal."""
    events = store_events(env, "a", 4)
    env.run(env.controller.refresh_counts())
    model = make_model(env)

    def bold(row: int) -> bool:
        font = model.data(model.index(row, Column.TITLE), Qt.ItemDataRole.FontRole)
        return isinstance(font, QFont) and font.bold()

    assert [bold(r) for r in range(4)] == [True] * 4
    env.run(model.mark_read([events[3].rowid]))
    assert [bold(r) for r in range(4)] == [False, True, True, True]
    assert env.controller.unread["a"] == 3
    env.run(model.mark_read([events[3].rowid], read=False))
    assert bold(0)
    env.run(env.controller.mark_all_read())
    env.wait_for(lambda: not any(bold(r) for r in range(4)))
    assert env.controller.unread.get("a", 0) == 0


def test_delete_removes_the_rows_and_the_events(env: ControllerEnv) -> None:
    """Deleting through the model removes the rows and the stored events."""
    events = store_events(env, "a", 3)
    model = make_model(env)
    env.run(model.delete([events[1].rowid]))
    assert shown(model) == ["Event 2", "Event 0"]
    assert env.run(env.store.get(events[1].rowid)) is None


def test_markup_is_data_not_formatting(env: ControllerEnv) -> None:
    """A title, body or data with HTML is displayed as the characters it is made of."""
    store_events(env, "a", 1, title=lambda i: "<b>x</b>", body=lambda i: "<i>y</i>")
    store_events(env, "a", 1, title=None, data=lambda i: "<b>raw</b>", event_type="<u>t</u>")
    model = make_model(env)
    assert shown(model) == ["<u>t</u>", "<b>x</b>"]
    assert shown(model, Column.SUMMARY) == ["<b>raw</b>", "<i>y</i>"]


def test_feed_names_follow_renames(env: ControllerEnv) -> None:
    """The feed column shows the feed's current name."""
    store_events(env, "a", 1)
    model = make_model(env)
    assert shown(model, Column.FEED) == ["Alpha"]
    feed = env.controller.feed("a")
    assert feed is not None
    from dataclasses import replace

    env.run(env.controller.save_feed(replace(feed, name="Renamed")))
    assert shown(model, Column.FEED) == ["Renamed"]


def test_urgency_column_and_hidden_events(env: ControllerEnv) -> None:
    """The urgency column names a shown notification's urgency; a hidden event shows a dash
    and its tooltip says why it was not shown."""
    store_events(env, "a", 1, urgency=lambda i: Urgency.CRITICAL)
    store_events(env, "a", 1, title=None, reason="muted")
    model = make_model(env)
    assert shown(model, Column.URGENCY) == ["\u2014", "Critical"]
    tip = model.data(model.index(0, Column.URGENCY), Qt.ItemDataRole.ToolTipRole)
    assert "muted" in tip


def test_one_line_collapses_and_cuts() -> None:
    """The summary is one line, cut with an ellipsis, and reads only the start of huge data."""
    assert one_line("a\n\n b\tc") == "a b c"
    long = "word " * 10_000
    cut = one_line(long, 20)
    assert len(cut) <= 20
    assert cut.endswith("\u2026")
