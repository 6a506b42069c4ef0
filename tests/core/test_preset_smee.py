"""The smee.io preset: GitHub webhook deliveries as "push to owner/repo by alice" notifications.

Recorded payloads follow smee.io's wire format (SSE.md section 4): ``ready``
on connect, ``ping`` every 30 s, and each delivery a default ``message``
whose JSON carries the original request's lower-case headers plus ``body``,
``query`` and ``timestamp``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.scripted_server import ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.models import ConnectionPolicy, Feed, FeedStatus
from tidings.core.notification import Notification, Urgency
from tidings.core.presets import MapContext, Mapped, get_preset
from tidings.core.secrets import MemoryStore

SMEE = get_preset("smee")
CONTEXT = MapContext(feed_id="gh", feed_name="GitHub hooks", url="https://smee.io/abcDEF123")

REPO = {
    "id": 1296269,
    "name": "hello-world",
    "full_name": "octo-org/hello-world",
    "html_url": "https://github.com/octo-org/hello-world",
    "stargazers_count": 80,
}
SENDER = {"login": "alice", "id": 583231, "type": "User"}


def delivery(event: str | None, body: Any, **headers: str) -> dict[str, Any]:
    """A smee.io delivery: the request headers GitHub sent, plus body, query and timestamp."""
    data: dict[str, Any] = {
        "host": "smee.io",
        "connection": "close",
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/7f3c1a2",
        "accept": "*/*",
    }
    if event is not None:
        data |= {
            "x-github-event": event,
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "x-github-hook-id": "292430182",
            "x-hub-signature-256": "sha256=" + "d57c68ca6f92289e6987922ff26938930f6e66a2"
            "d161ef06abdf1859230aa23c",
        }
    data |= headers
    data |= {"body": body, "query": {}, "timestamp": 1717171717171}
    return data


def smee_map(payload: dict[str, Any] | str, event_type: str = "message") -> Mapped:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return SMEE.map(DecodedEvent(event_type, data, "3", True), CONTEXT)


def note_of(payload: dict[str, Any]) -> Notification:
    note = smee_map(payload).notification
    assert note is not None
    return note


PUSH: dict[str, Any] = {
    "ref": "refs/heads/main",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    "created": False,
    "deleted": False,
    "forced": False,
    "compare": "https://github.com/octo-org/hello-world/compare/6113728f27ae...0d1a26e67d8f",
    "commits": [
        {
            "id": "a10867b14bb761a232cd80139fbd4c0d33264240",
            "message": "Fix the login redirect\n\nIt looped on Safari.",
            "url": "https://github.com/octo-org/hello-world/commit/a10867b14bb7",
            "author": {"name": "Alice", "username": "alice"},
        },
        {
            "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
            "message": "Update the changelog",
            "url": "https://github.com/octo-org/hello-world/commit/0d1a26e67d8f",
            "author": {"name": "Alice", "username": "alice"},
        },
    ],
    "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
    "repository": REPO,
    "pusher": {"name": "alice", "email": "alice@example.org"},
    "sender": SENDER,
}


def test_flags_never_dedupe_and_never_replay() -> None:
    """smee.io ids restart per connection: no de-duplication, and no replay after a gap."""
    assert SMEE.stable_ids is False
    assert SMEE.replays is False
    assert smee_map(delivery("push", PUSH)).dedupe_id is None


def test_recorded_stream_push_delivery() -> None:
    """ready and ping drop; a GitHub push reads "push to owner/repo by alice"."""
    body = (
        b"id: 0\nevent: ready\ndata: {}\n\n"
        b"id: 1\nevent: ping\ndata: {}\n\n"
        + f"id: 2\ndata: {json.dumps(delivery('push', PUSH))}\n\n".encode()
        + b"id: 3\nevent: ping\ndata: {}\n\n"
    )
    decoder = SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    mapped = [SMEE.map(e, CONTEXT) for e in events]
    assert [m.notification is None for m in mapped] == [True, True, False, True]
    assert [m.reason for m in mapped] == ["control", "keep-alive", "", "keep-alive"]
    assert all(m.dedupe_id is None and m.cursor is None for m in mapped)
    assert mapped[2].notification == Notification(
        title="push to octo-org/hello-world by alice",
        body="2 commits to branch main\n"
        "a10867b Fix the login redirect\n"
        "0d1a26e Update the changelog",
        url=PUSH["compare"],
        feed_id="gh",
        extra={"github_event": "push"},
    )


@pytest.mark.parametrize(
    ("changes", "first_line"),
    [
        ({"ref": "refs/tags/v2.0.0", "commits": []}, "0 commits to tag v2.0.0"),
        ({"deleted": True, "commits": []}, "branch main deleted"),
        ({"created": True, "commits": []}, "branch main created"),
        ({"forced": True}, "branch main force-pushed"),
        ({"commits": PUSH["commits"][:1]}, "1 commit to branch main"),
    ],
)
def test_push_variants(changes: dict[str, Any], first_line: str) -> None:
    """Tags, deleted, created and force-pushed branches, one commit: each says so."""
    note = note_of(delivery("push", PUSH | changes))
    assert note.body.splitlines()[0] == first_line


def test_push_lists_at_most_five_commits() -> None:
    """A long push lists the last five commit subjects and how many more."""
    commits = [{"id": f"{n:07x}" + "0" * 33, "message": f"change {n}"} for n in range(8)]
    note = note_of(delivery("push", PUSH | {"commits": commits}))
    lines = note.body.splitlines()
    assert lines[0] == "8 commits to branch main"
    assert lines[1:6] == [f"{n:07x} change {n}" for n in range(3, 8)]
    assert lines[6] == "... and 3 more"


GITHUB_CASES = [
    (
        "pull_request",
        {
            "action": "opened",
            "number": 42,
            "pull_request": {
                "number": 42,
                "title": "Add dark mode",
                "html_url": "https://github.com/octo-org/hello-world/pull/42",
                "merged": False,
                "head": {"ref": "dark-mode"},
                "base": {"ref": "main"},
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "pull request #42 opened in octo-org/hello-world by alice",
        "Add dark mode\ndark-mode -> main",
        "https://github.com/octo-org/hello-world/pull/42",
        Urgency.NORMAL,
    ),
    (
        "pull_request",
        {
            "action": "closed",
            "number": 42,
            "pull_request": {
                "title": "Add dark mode",
                "merged": True,
                "html_url": "https://github.com/octo-org/hello-world/pull/42",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "pull request #42 merged in octo-org/hello-world by alice",
        "Add dark mode",
        "https://github.com/octo-org/hello-world/pull/42",
        Urgency.NORMAL,
    ),
    (
        "issues",
        {
            "action": "opened",
            "issue": {
                "number": 7,
                "title": "Crash on start",
                "html_url": "https://github.com/octo-org/hello-world/issues/7",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "issue #7 opened in octo-org/hello-world by alice",
        "Crash on start",
        "https://github.com/octo-org/hello-world/issues/7",
        Urgency.NORMAL,
    ),
    (
        "issue_comment",
        {
            "action": "created",
            "issue": {
                "number": 42,
                "title": "Add dark mode",
                "pull_request": {
                    "url": "https://api.github.com/repos/octo-org/hello-world/pulls/42"
                },
                "html_url": "https://github.com/octo-org/hello-world/pull/42",
            },
            "comment": {
                "body": "LGTM, but please add a test.",
                "html_url": "https://github.com/octo-org/hello-world/pull/42#issuecomment-1",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "comment on pull request #42 in octo-org/hello-world by alice",
        "Add dark mode\nLGTM, but please add a test.",
        "https://github.com/octo-org/hello-world/pull/42#issuecomment-1",
        Urgency.NORMAL,
    ),
    (
        "release",
        {
            "action": "published",
            "release": {
                "tag_name": "v1.2.0",
                "name": "Spring release",
                "body": "Faster startup.",
                "html_url": "https://github.com/octo-org/hello-world/releases/tag/v1.2.0",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "release v1.2.0 published in octo-org/hello-world by alice",
        "Spring release\nFaster startup.",
        "https://github.com/octo-org/hello-world/releases/tag/v1.2.0",
        Urgency.NORMAL,
    ),
    (
        "workflow_run",
        {
            "action": "completed",
            "workflow_run": {
                "id": 30433642,
                "name": "CI",
                "head_branch": "main",
                "run_number": 562,
                "event": "push",
                "status": "completed",
                "conclusion": "failure",
                "html_url": "https://github.com/octo-org/hello-world/actions/runs/30433642",
                "head_commit": {"message": "Fix the login redirect\n\nmore"},
                "actor": {"login": "alice"},
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "workflow CI failure in octo-org/hello-world",
        "branch main, run #562, on push\nFix the login redirect\nby alice",
        "https://github.com/octo-org/hello-world/actions/runs/30433642",
        Urgency.CRITICAL,
    ),
    (
        "workflow_run",
        {
            "action": "in_progress",
            "workflow_run": {"id": 30433642, "name": "CI", "status": "in_progress"},
            "repository": REPO,
            "sender": SENDER,
        },
        "workflow CI in progress in octo-org/hello-world",
        "by alice",
        "",
        Urgency.LOW,
    ),
    (
        "check_run",
        {
            "action": "completed",
            "check_run": {
                "id": 128620228,
                "name": "lint",
                "status": "completed",
                "conclusion": "success",
                "head_sha": "ce587453ced02b1526dfb4cb910479d431683101",
                "html_url": "https://github.com/octo-org/hello-world/runs/128620228",
                "output": {"title": "No problems", "summary": "0 errors"},
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "check lint success in octo-org/hello-world",
        "No problems\n0 errors\ncommit ce58745",
        "https://github.com/octo-org/hello-world/runs/128620228",
        Urgency.NORMAL,
    ),
    (
        "ping",
        {
            "zen": "Keep it logically awesome.",
            "hook_id": 292430182,
            "hook": {"type": "Repository"},
            "repository": REPO,
            "sender": SENDER,
        },
        "webhook ping from octo-org/hello-world",
        "Keep it logically awesome.",
        "https://github.com/octo-org/hello-world",
        Urgency.LOW,
    ),
    (
        "star",
        {
            "action": "created",
            "starred_at": "2024-06-01T12:00:00Z",
            "repository": REPO,
            "sender": SENDER,
        },
        "octo-org/hello-world starred by alice",
        "80 stars now",
        "https://github.com/octo-org/hello-world",
        Urgency.LOW,
    ),
    (
        "fork",
        {
            "forkee": {
                "full_name": "alice/hello-world",
                "html_url": "https://github.com/alice/hello-world",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "octo-org/hello-world forked by alice",
        "new fork: alice/hello-world",
        "https://github.com/alice/hello-world",
        Urgency.LOW,
    ),
    (
        "discussion",
        {
            "action": "created",
            "discussion": {
                "title": "Roadmap 2025",
                "html_url": "https://github.com/octo-org/hello-world/discussions/90",
            },
            "repository": REPO,
            "sender": SENDER,
        },
        "discussion created in octo-org/hello-world by alice",
        "Roadmap 2025",
        "https://github.com/octo-org/hello-world/discussions/90",
        Urgency.NORMAL,
    ),
    (
        "deployment_status",
        {"deployment_status": {"state": "success"}, "repository": REPO, "sender": SENDER},
        "deployment status in octo-org/hello-world by alice",
        "",
        "https://github.com/octo-org/hello-world",
        Urgency.NORMAL,
    ),
]


@pytest.mark.parametrize(
    "case", GITHUB_CASES, ids=[f"{case[0]}-{n}" for n, case in enumerate(GITHUB_CASES)]
)
def test_github_events(case: tuple[str, dict[str, Any], str, str, str, Urgency]) -> None:
    """Each common GitHub event gets its own title, body, link and urgency; others a generic one."""
    event, body, title, text, url, urgency = case
    note = note_of(delivery(event, body))
    assert (note.title, note.body, note.url, note.urgency) == (title, text, url, urgency)
    assert note.extra == {"github_event": event}


def test_workflow_and_check_runs_update_in_place() -> None:
    """Later deliveries about the same workflow run or check run replace the earlier one."""
    started = note_of(delivery("workflow_run", {"workflow_run": {"id": 5, "status": "queued"}}))
    done = note_of(delivery("workflow_run", {"workflow_run": {"id": 5, "status": "completed"}}))
    assert started.replace_key == done.replace_key == "github:workflow_run:5"
    check = note_of(delivery("check_run", {"check_run": {"id": 9}}))
    assert check.replace_key == "github:check_run:9"
    assert note_of(delivery("push", PUSH)).replace_key == ""


def test_form_encoded_github_delivery() -> None:
    """A webhook set to application/x-www-form-urlencoded carries its JSON in ``payload``."""
    form = delivery(
        "issues",
        {"payload": json.dumps({"action": "closed", "issue": {"number": 3}, "repository": REPO})},
        **{"content-type": "application/x-www-form-urlencoded"},
    )
    assert note_of(form).title == "issue #3 closed in octo-org/hello-world"


def test_unsafe_github_urls_are_dropped() -> None:
    """An html_url that is not http(s) never becomes the click URL."""
    body = {"action": "opened", "issue": {"number": 1, "html_url": "javascript:alert(1)"}}
    assert note_of(delivery("issues", body)).url == ""


def test_other_webhooks_show_the_feed_name_and_a_json_summary() -> None:
    """A delivery without x-github-event: the feed name as title, the body as compact JSON."""
    stripe = delivery(None, {"type": "invoice.paid", "data": {"object": {"amount": 4200}}})
    note = note_of(stripe)
    assert note.title == "GitHub hooks"
    assert note.body == '{"type": "invoice.paid", "data": {"object": {"amount": 4200}}}'
    huge = note_of(delivery(None, {"blob": "x" * 5000}))
    assert len(huge.body) <= 300
    assert note_of(delivery(None, "plain text body")).body == "plain text body"
    no_body = {"host": "smee.io", "x-custom": "1", "timestamp": 1}
    assert note_of(no_body).body == '{"host": "smee.io", "x-custom": "1"}'


@pytest.mark.parametrize("data", ["not json", "[1, 2]", "{", "null"])
def test_bad_payloads_are_shown_raw(data: str) -> None:
    """Data that is not a JSON object is shown raw and marked bad."""
    mapped = smee_map(data)
    assert mapped.bad_payload is True
    assert mapped.notification is not None
    assert mapped.notification.body == data


def test_other_event_types_are_not_notifications() -> None:
    """An event type smee.io does not document is logged without a notification."""
    assert smee_map("{}", "error").notification is None
    assert smee_map("", "message").notification is None


# -- properties -------------------------------------------------------------------------

URLISH = st.sampled_from(
    [
        "https://github.com/o/r",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "//evil.example",
        "data:,x",
        "",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | URLISH,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "html_url",
                    "compare",
                    "url",
                    "full_name",
                    "login",
                    "number",
                    "id",
                    "name",
                    "title",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)
GITHUB_BODIES = st.dictionaries(
    st.sampled_from(
        [
            "action",
            "ref",
            "commits",
            "compare",
            "repository",
            "sender",
            "pusher",
            "pull_request",
            "issue",
            "comment",
            "release",
            "workflow_run",
            "check_run",
            "forkee",
            "zen",
            "number",
            "deleted",
            "forced",
            "created",
            "payload",
        ]
    ),
    JSON_VALUES,
    max_size=8,
)
EVENT_NAMES = st.sampled_from(
    [
        "push",
        "pull_request",
        "issues",
        "issue_comment",
        "release",
        "workflow_run",
        "check_run",
        "ping",
        "star",
        "fork",
        "deployment",
    ]
) | st.text(max_size=10)


def assert_safe(mapped: Mapped) -> None:
    note = mapped.notification
    if note is None:
        return
    for url in (note.url, note.icon, *(a.url for a in note.actions)):
        if url:
            assert urlsplit(url).scheme.lower() in ("http", "https"), url
            assert urlsplit(url).netloc, url
    json.dumps(note.to_json(), ensure_ascii=False).encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=EVENT_NAMES | st.none(), body=GITHUB_BODIES | JSON_VALUES)
def test_map_never_raises_on_github_shaped_deliveries(event: str | None, body: Any) -> None:
    """Any GitHub-shaped delivery maps without an exception, with http(s) URLs only."""
    assert_safe(smee_map(delivery(event, body)))


@settings(max_examples=200, deadline=None)
@given(data=st.text() | JSON_VALUES.map(json.dumps))
def test_map_never_raises_on_arbitrary_data(data: str) -> None:
    """Arbitrary text or JSON: a mapping, never an exception."""
    assert_safe(smee_map(data))


# -- the hub: a reconnect is a possible gap, and repeated ids are not replays ---------------

POLICY = ConnectionPolicy(
    reconnection_time=0.05, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)


class Sink:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.changed = asyncio.Event()

    def events_stored(self, feed: Feed, events: Any) -> None:
        self.events.extend(events)
        self.changed.set()

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.changed.set()

    async def wait_for(self, predicate: Callable[[], object]) -> None:
        async with asyncio.timeout(10.0):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def test_hub_keeps_restarted_ids_and_records_a_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each connection restarts ids at 0: every delivery is stored, and a gap entry follows."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    stream = (
        b"id: 0\nevent: ready\ndata: {}\n\n"
        + f"id: 1\ndata: {json.dumps(delivery('push', PUSH))}\n\n".encode()
    )
    store = HistoryStore(tmp_path / "history.sqlite3")
    await store.open()
    sink = Sink()
    hub = Hub(store=store, secrets=MemoryStore(), sinks=[sink], policy=POLICY)
    try:
        async with ScriptedServer([sse_reply(stream), sse_reply(stream, end="hang")]) as server:
            hub.add(Feed(id="gh", name="GitHub hooks", url=server.url("/abc"), preset="smee"))
            await sink.wait_for(
                lambda: (
                    sum(e.type == "message" for e in sink.events) == 2
                    and any(e.type == "tidings:gap" for e in sink.events)
                )
            )
            assert server.requests[0].header("Accept") == "text/event-stream"
            pushes = [e for e in sink.events if e.type == "message"]
            assert [e.event_id for e in pushes] == ["1", "1"]
            assert all(
                e.notification is not None
                and e.notification.title == "push to octo-org/hello-world by alice"
                for e in pushes
            )
            gap = next(e for e in sink.events if e.type == "tidings:gap")
            assert gap.notification is None
            assert "possible gap" in gap.data
    finally:
        await hub.stop()
        await store.close()


def test_query_string_is_not_part_of_the_title() -> None:
    """A delivery's query parameters stay out of the notification."""
    payload = delivery("push", PUSH)
    payload["query"] = {"token": "s3cret"}
    note = note_of(payload)
    assert "s3cret" not in note.title + note.body
