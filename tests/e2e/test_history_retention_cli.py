"""``tidings history prune`` applies the retention set in the settings file (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryStore

from .conftest import Finished, child_env

pytestmark = pytest.mark.timeout(60)


def tidings(profile: Path, *args: str) -> Finished:
    proc = subprocess.run(
        [sys.executable, "-m", "tidings", "--profile-dir", str(profile), *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
        check=False,
    )
    result = Finished(proc.returncode, proc.stdout, proc.stderr)
    result.assert_no_traceback()
    return result


async def fill(db: Path, feed_id: str, count: int) -> None:
    async with HistoryStore(db) as store:
        await store.record(
            feed_id,
            [DecodedEvent("message", f"event {i}", str(i), True) for i in range(count)],
            cursor=None,
        )


async def stored(db: Path) -> dict[str, int]:
    async with HistoryStore(db) as store:
        return {feed_id: c.total for feed_id, c in (await store.counts()).items()}


def test_prune_keeps_a_feeds_own_max_events(tmp_path: Path) -> None:
    """[feeds.retention] max_events = 5 leaves 5 of 20 events; another feed keeps all of its."""
    profile = tmp_path / "profile"
    settings = profile / "config" / "settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        textwrap.dedent(
            """
            schema_version = 1

            [[feeds]]
            id = "f-small"
            name = "Small"
            url = "http://127.0.0.1:9/small"

            [feeds.retention]
            max_events = 5

            [[feeds]]
            id = "f-big"
            name = "Big"
            url = "http://127.0.0.1:9/big"
            """
        ).lstrip(),
        encoding="utf-8",
    )
    db = profile / "data" / "history.sqlite3"
    asyncio.run(fill(db, "f-small", 20))
    asyncio.run(fill(db, "f-big", 20))

    result = tidings(profile, "history", "prune", "--json")
    assert result.returncode == 0, result.stderr
    assert "settings:" not in result.stderr
    assert json.loads(result.stdout) == {"deleted": 15}
    assert asyncio.run(stored(db)) == {"f-small": 5, "f-big": 20}

    # The newest five are the ones kept.
    async def kept_ids() -> set[str]:
        async with HistoryStore(db) as store:
            page = await store.page(limit=100)
            return {row.event_id for row in page.rows if row.feed_id == "f-small"}

    assert asyncio.run(kept_ids()) == {"15", "16", "17", "18", "19"}
