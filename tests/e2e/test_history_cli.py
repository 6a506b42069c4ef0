"""``tidings history ...`` as a subprocess against a real history file in ``--profile-dir``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryStore

from .conftest import Finished, child_env

pytestmark = pytest.mark.timeout(60)


def tidings(profile: Path, *args: str, stdin: str = "") -> Finished:
    proc = subprocess.run(
        [sys.executable, "-m", "tidings", "--profile-dir", str(profile), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
        check=False,
    )
    result = Finished(proc.returncode, proc.stdout, proc.stderr)
    result.assert_no_traceback()
    return result


def db_path(profile: Path) -> Path:
    return profile / "data" / "history.sqlite3"


async def fill(profile: Path, feed_id: str, datas: list[str]) -> None:
    async with HistoryStore(db_path(profile)) as store:
        await store.record(
            feed_id,
            [DecodedEvent("message", d, str(i), True) for i, d in enumerate(datas)],
            cursor=None,
        )


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    root = tmp_path / "profile"
    added = tidings(root, "feeds", "add", "CI", "http://127.0.0.1:9/sse", "--json")
    assert added.returncode == 0, added.stderr
    feed_id = json.loads(added.stdout)["id"]
    asyncio.run(fill(root, feed_id, [f"build {i} passed" for i in range(30)] + ["deploy failed"]))
    asyncio.run(fill(root, "gone", ["orphan deploy, with comma"]))
    return root


def test_reading_commands_never_create_the_file(tmp_path: Path) -> None:
    """tail, search and export on a fresh profile print nothing and create no history file."""
    root = tmp_path / "empty"
    assert tidings(root, "history", "tail").returncode == 0
    assert tidings(root, "history", "search", "x", "--json").stdout == ""
    assert tidings(root, "history", "export").stdout == ""
    assert not db_path(root).exists()


def test_tail_json_and_text(profile: Path) -> None:
    """tail prints the newest N oldest first; a feed is named by name; --json is one per line."""
    out = tidings(profile, "history", "tail", "-n", "3", "--json")
    assert out.returncode == 0
    lines = out.json_lines
    assert [line["data"] for line in lines] == [
        "build 29 passed",
        "deploy failed",
        "orphan deploy, with comma",
    ]
    assert lines[0]["feed_name"] == "CI"
    ci = tidings(profile, "history", "tail", "CI", "-n", "2")
    assert ci.returncode == 0
    assert "[CI]" in ci.stdout
    assert "deploy failed" in ci.stdout
    assert "orphan" not in ci.stdout


def test_search_filters_and_bad_query(profile: Path) -> None:
    """search finds words across feeds, narrows by --feed and --unread, rejects bad FTS syntax."""
    everywhere = tidings(profile, "history", "search", "deploy", "--json").json_lines
    assert [line["data"] for line in everywhere] == ["orphan deploy, with comma", "deploy failed"]
    ci = tidings(profile, "history", "search", "deploy", "--feed", "CI", "--json").json_lines
    assert [line["data"] for line in ci] == ["deploy failed"]
    assert tidings(profile, "history", "mark-read", "gone").returncode == 0
    unread = tidings(profile, "history", "search", "deploy", "--unread", "--json").json_lines
    assert [line["data"] for line in unread] == ["deploy failed"]
    since = tidings(profile, "history", "search", "deploy", "--since", "1h", "--json").json_lines
    assert len(since) == 2
    bad = tidings(profile, "history", "search", "AND AND (", "--fts")
    assert bad.returncode == 1
    assert bad.error_lines


def test_export_csv_and_jsonl_to_files(profile: Path, tmp_path: Path) -> None:
    """export writes CSV (quoted properly) and JSON Lines to --output with filters applied."""
    target = tmp_path / "out.csv"
    done = tidings(
        profile,
        "history",
        "export",
        "--format",
        "csv",
        "--output",
        str(target),
        "--query",
        "deploy",
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert [r["data"] for r in rows] == ["deploy failed", "orphan deploy, with comma"]
    jsonl = tidings(profile, "history", "export", "--feed", "gone")
    assert [json.loads(line)["data"] for line in jsonl.stdout.splitlines()] == [
        "orphan deploy, with comma"
    ]


def test_unread_mark_read_and_clear(profile: Path) -> None:
    """unread counts per feed; mark-read and clear change them; clear needs --yes off a tty."""
    counts = json.loads(tidings(profile, "history", "unread", "--json").stdout)["feeds"]
    assert {c["feed_name"]: c["unread"] for c in counts} == {"CI": 31, "gone": 1}
    marked = tidings(profile, "history", "mark-read", "CI", "--json")
    assert json.loads(marked.stdout) == {"marked": 31}
    refused = tidings(profile, "history", "clear", "--all")
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    cleared = tidings(profile, "history", "clear", "CI", "--yes", "--json")
    assert json.loads(cleared.stdout) == {"deleted": 31}
    counts = json.loads(tidings(profile, "history", "unread", "--json").stdout)["feeds"]
    assert [(c["feed"], c["total"]) for c in counts] == [("gone", 1)]
    assert json.loads(tidings(profile, "history", "clear", "--all", "-y", "--json").stdout) == {
        "deleted": 1
    }
    assert tidings(profile, "history", "tail").stdout == ""
    usage = tidings(profile, "history", "clear")
    assert usage.returncode == 1


def test_tail_follow_prints_new_events(profile: Path) -> None:
    """tail --follow prints events stored after it started, and ends on SIGTERM with 143."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidings",
            "--profile-dir",
            str(profile),
            "history",
            "tail",
            "-n",
            "1",
            "--follow",
            "--json",
            "--interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["data"] == "orphan deploy, with comma"
        asyncio.run(fill(profile, "later", ["fresh one"]))
        deadline = time.monotonic() + 10
        line = proc.stdout.readline()
        assert time.monotonic() < deadline
        assert json.loads(line)["data"] == "fresh one"
        proc.terminate()
        assert proc.wait(timeout=10) == 143
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
