"""``tidings listen --preset`` end to end for ntfy, smee.io and generic JSON.

A real child process subscribes to a scripted loopback server that speaks
each server's wire format (SSE.md section 4); each ``--json`` line carries
the preset's ``notification`` (``null`` when the preset drops the event).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply

if TYPE_CHECKING:
    from conftest import RunTidings

pytestmark = pytest.mark.timeout(60)


def _ntfy_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":"))
    if message["event"] == "message":
        return f"data: {data}\n\n".encode()
    return f"event: {message['event']}\ndata: {data}\n\n".encode()


NTFY_EVENTS = [
    {"id": "k5lPzQVa3Rn0", "time": 1717171700, "event": "open", "topic": "mytopic"},
    {
        "id": "sPs71M8A2T1x",
        "time": 1717171710,
        "expires": 1717214910,
        "event": "message",
        "topic": "mytopic",
        "title": "Disk almost full",
        "message": "/var is at 97%",
        "priority": 5,
        "tags": ["warning", "db-01"],
        "click": "https://grafana.example/d/disk",
        "actions": [
            {
                "id": "a1",
                "action": "http",
                "label": "Clean up",
                "url": "https://ops.example/api/cleanup",
                "method": "POST",
                "headers": {"X-Token": "abc"},
                "body": "now",
                "clear": True,
            },
            {"id": "a2", "action": "broadcast", "label": "Tasker"},
        ],
    },
    {"id": "Y3ifsBr0Tj9V", "time": 1717171745, "event": "keepalive", "topic": "mytopic"},
    {
        "id": "Rt5uV6wX7yZ8",
        "time": 1717171760,
        "event": "message",
        "topic": "mytopic",
        "message": "You received a file: report.pdf",
        "sequence_id": "report",
        "attachment": {
            "name": "report.pdf",
            "size": 2048,
            "url": "https://ntfy.example/file/Rt5uV6wX7yZ8.pdf",
        },
    },
    {
        "id": "Zx9cV8bN7mA6",
        "time": 1717171780,
        "event": "message_delete",
        "topic": "mytopic",
        "sequence_id": "report",
    },
]


async def test_ntfy_topic_url(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """A pasted ntfy topic URL subscribes at /<topic>/sse and each event shows its notification."""

    def ntfy(request: RecordedRequest) -> Reply:
        if request.target.split("?", 1)[0] != "/mytopic/sse":
            return Reply(status=404, headers=(("Content-Type", "text/plain"),), framing="length")
        return sse_reply(
            b"".join(_ntfy_frame(e) for e in NTFY_EVENTS),
            content_type="text/event-stream; charset=utf-8",
            extra_headers=(("Access-Control-Allow-Origin", "*"),),
        )

    server.set_script(ntfy)
    url = server.url("/mytopic") + "?auth=QmFzaWMgZEdWemRBbz0"
    result = await run_tidings("listen", url, "--preset", "ntfy", "--json", "--once")
    assert result.returncode == 0, result.stderr
    result.assert_no_traceback()
    assert [r.target for r in server.requests] == ["/mytopic/sse?auth=QmFzaWMgZEdWemRBbz0"]
    lines = result.json_lines
    assert [(line["event"], line["id"]) for line in lines] == [
        ("open", ""),
        ("message", ""),
        ("keepalive", ""),
        ("message", ""),
        ("message_delete", ""),
    ]
    assert [json.loads(line["data"]) for line in lines] == NTFY_EVENTS
    notes = [line["notification"] for line in lines]
    assert notes[0] is None
    assert notes[2] is None
    assert notes[4] is None
    assert notes[1] == {
        "title": "\u26a0\ufe0f Disk almost full",
        "body": "/var is at 97%\nTags: db-01",
        "urgency": "critical",
        "icon": "",
        "url": "https://grafana.example/d/disk",
        "actions": [
            {
                "label": "Clean up",
                "kind": "http",
                "url": "https://ops.example/api/cleanup",
                "method": "POST",
                "headers": {"X-Token": "abc"},
                "body": "now",
            }
        ],
        "tags": ["db-01"],
        "replace_key": "sPs71M8A2T1x",
    }
    assert notes[3]["title"] == "mytopic"
    assert notes[3]["body"] == "You received a file: report.pdf\nAttachment: report.pdf (2.0 KB)"
    assert notes[3]["actions"] == [
        {
            "label": "Open attachment",
            "kind": "view",
            "url": "https://ntfy.example/file/Rt5uV6wX7yZ8.pdf",
        }
    ]
    assert notes[3]["replace_key"] == "report"


async def test_ntfy_human_output(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """Without --json, each event is followed by its notification or why there is none."""
    server.set_script([sse_reply(b"".join(_ntfy_frame(e) for e in NTFY_EVENTS[:3]))])
    result = await run_tidings("listen", server.url("/mytopic"), "--preset", "ntfy", "--once")
    assert result.returncode == 0, result.stderr
    assert server.requests[0].target == "/mytopic/sse"
    assert "(no notification: control)" in result.stdout
    assert "(no notification: keep-alive)" in result.stdout
    assert "-> [critical] \u26a0\ufe0f Disk almost full: /var is at 97%" in result.stdout


PUSH_DELIVERY = {
    "host": "smee.io",
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/7f3c1a2",
    "x-github-event": "push",
    "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "x-hub-signature-256": "sha256=d57c68ca6f92289e6987922ff26938930f6e66a2",
    "body": {
        "ref": "refs/heads/main",
        "compare": "https://github.com/octo-org/hello-world/compare/6113728f27ae...0d1a26e67d8f",
        "commits": [
            {"id": "a10867b14bb761a232cd80139fbd4c0d33264240", "message": "Fix login\n\nLong"},
        ],
        "repository": {
            "full_name": "octo-org/hello-world",
            "html_url": "https://github.com/octo-org/hello-world",
        },
        "pusher": {"name": "alice"},
        "sender": {"login": "alice"},
    },
    "query": {},
    "timestamp": 1717171717171,
}


async def test_smee_github_push(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """smee.io: ready and ping are null; a GitHub push reads "push to owner/repo by alice"."""
    body = (
        b"id: 0\nevent: ready\ndata: {}\n\n"
        b"id: 1\nevent: ping\ndata: {}\n\n"
        + f"id: 2\ndata: {json.dumps(PUSH_DELIVERY)}\n\n".encode()
    )
    server.set_script([sse_reply(body)])
    result = await run_tidings(
        "listen", server.url("/aBcDeF123"), "--preset", "smee", "--json", "--once"
    )
    assert result.returncode == 0, result.stderr
    result.assert_no_traceback()
    # smee.io answers with the stream only when Accept is exactly text/event-stream.
    assert server.requests[0].header("Accept") == "text/event-stream"
    assert server.requests[0].target == "/aBcDeF123"
    lines = result.json_lines
    assert [(line["event"], line["id"]) for line in lines] == [
        ("ready", "0"),
        ("ping", "1"),
        ("message", "2"),
    ]
    assert lines[0]["notification"] is None
    assert lines[1]["notification"] is None
    assert lines[2]["notification"] == {
        "title": "push to octo-org/hello-world by alice",
        "body": "1 commit to branch main\na10867b Fix login",
        "urgency": "normal",
        "icon": "",
        "url": "https://github.com/octo-org/hello-world/compare/6113728f27ae...0d1a26e67d8f",
        "actions": [],
        "tags": [],
        "replace_key": "",
    }


async def test_generic_json(server: ScriptedServer, run_tidings: RunTidings) -> None:
    """--preset json: defaults pick title, body, URL and priority; bad JSON is shown raw."""
    body = (
        b": ok\n\n"
        b'id: 1\nevent: build\ndata: {"title": "Build #812 failed", "message": "unit tests",'
        b' "url": "https://ci.example/812", "priority": "urgent"}\n\n'
        b'id: 2\ndata: {"temp": 21.5}\n\n'
        b"id: 3\ndata: not json\n\n"
        b'id: 4\ndata: {"title": "x", "url": "javascript:alert(1)"}\n\n'
    )
    server.set_script([sse_reply(body)])
    result = await run_tidings("listen", server.url(), "--preset", "json", "--json", "--once")
    assert result.returncode == 0, result.stderr
    result.assert_no_traceback()
    assert server.requests[0].target == "/events"
    notes = [line["notification"] for line in result.json_lines]
    assert [(n["title"], n["body"], n["urgency"], n["url"]) for n in notes] == [
        ("Build #812 failed", "unit tests", "critical", "https://ci.example/812"),
        ("message", '{"temp": 21.5}', "normal", ""),
        ("message", "not json", "normal", ""),
        ("x", '{"title": "x", "url": "javascript:alert(1)"}', "normal", ""),
    ]
    assert [line["id"] for line in result.json_lines] == ["1", "2", "3", "4"]
