"""``tidings listen --preset`` end to end for Mercure, EventStreams and Firebase.

A real child process against scripted loopback servers speaking each
server's wire format (SSE.md section 4): per event, the JSON line carries
the preset's ``notification`` (``null`` when the preset drops the event), and
a server's "stop" exits as DESIGN.md's contract says.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply

if TYPE_CHECKING:
    from conftest import RunTidings

pytestmark = pytest.mark.timeout(60)

TOKEN = "ID-TOKEN-e2e-123"
HEADER_SECRET = "hdr-secret-456"

# -- Wikimedia EventStreams ---------------------------------------------------------


def _es_event(data: dict[str, Any], timestamp: int) -> bytes:
    ident = json.dumps(
        [
            {"topic": "eqiad.mediawiki.recentchange", "partition": 0, "timestamp": timestamp},
            {"topic": "codfw.mediawiki.recentchange", "partition": 0, "offset": -1},
        ],
        separators=(",", ":"),
    )
    payload = json.dumps(data, separators=(",", ":"))
    return f"event: message\nid: {ident}\ndata: {payload}\n\n".encode()


def _recentchange(domain: str, title: str, user: str, comment: str) -> dict[str, Any]:
    return {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": f"https://{domain}/wiki/{title.replace(' ', '_')}",
            "id": f"id-{domain}-{title}",
            "dt": "2024-05-01T12:00:00Z",
            "domain": domain,
            "stream": "mediawiki.recentchange",
        },
        "type": "edit",
        "title": title,
        "comment": comment,
        "user": user,
        "bot": False,
        "notify_url": f"https://{domain}/w/index.php?diff=2&oldid=1",
        "server_name": domain,
    }


async def test_eventstreams_canary_is_null_and_an_edit_is_mapped(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """--preset eventstreams: a canary prints notification null, an edit prints its mapping."""
    server.set_script(
        [
            sse_reply(
                b":ok\n\n",
                _es_event(_recentchange("canary", "Canary", "Probe", "canary"), 1714564800000),
                _es_event(
                    _recentchange("en.wikipedia.org", "Example page", "Alice", "fix typo"),
                    1714564800123,
                ),
                end="hang",
            )
        ]
    )
    result = await run_tidings(
        "listen",
        server.url("/v2/stream/recentchange"),
        "--preset",
        "eventstreams",
        "--json",
        "--max-events",
        "2",
    )
    assert result.returncode == 0, result.stderr
    canary, edit = result.json_lines
    assert canary["notification"] is None
    assert json.loads(canary["data"])["meta"]["domain"] == "canary"
    assert json.loads(edit["id"])[0]["timestamp"] == 1714564800123  # the id, as sent
    assert edit["notification"] == {
        "title": "Edit on en.wikipedia.org: Example page",
        "body": "by Alice: fix typo",
        "urgency": "normal",
        "icon": "",
        "url": "https://en.wikipedia.org/w/index.php?diff=2&oldid=1",
        "actions": [],
        "tags": [],
        "replace_key": "",
    }
    result.assert_no_traceback()


# -- Firebase --------------------------------------------------------------------------

SNAPSHOT = b'event: put\ndata: {"path":"/","data":{"-Nx1":{"text":"hello"}}}\n\n'
KEEP_ALIVE = b"event: keep-alive\ndata: null\n\n"
PATCH = b'event: patch\ndata: {"path":"/-Nx1","data":{"text":"hello, all"}}\n\n'


@pytest.mark.parametrize(
    ("name", "data", "named"),
    [
        ("auth_revoked", '"credential is no longer valid"', "no longer valid"),
        ("cancel", '"Permission denied"', "Permission denied"),
    ],
)
async def test_firebase_stop_event_exits_one_with_an_error_line(
    server: ScriptedServer, run_tidings: RunTidings, name: str, data: str, named: str
) -> None:
    """--preset firebase: auth_revoked (or cancel) exits 1 with one error line."""
    control = f"event: {name}\ndata: {data}\n\n".encode()
    server.set_script([sse_reply(SNAPSHOT, KEEP_ALIVE, PATCH, control, end="hang")])
    result = await run_tidings(
        "listen", server.url("/rooms.json"), "--preset", "firebase", "--json"
    )
    assert result.returncode == 1, result.stderr
    assert len(result.error_lines) == 1, result.stderr
    assert named in result.error_lines[0]
    lines = result.json_lines
    assert [line["event"] for line in lines] == ["put", "keep-alive", "patch", name]
    put, keep_alive, patch, stop = (line["notification"] for line in lines)
    assert put["title"] == "127.0.0.1: /"
    assert put["body"] == '{"-Nx1": {"text": "hello"}}'
    assert keep_alive is None
    assert (patch["title"], patch["body"]) == ("127.0.0.1: /-Nx1", '{"text": "hello, all"}')
    assert stop is None
    assert len(server.requests) == 1  # a stop is not retried
    result.assert_no_traceback()


async def test_firebase_307_to_another_origin_keeps_the_url_token(run_tidings: RunTidings) -> None:
    """A Firebase-style 307 to the serving host works; auth= goes along, Authorization does not."""
    async with ScriptedServer(host_name="localhost") as serving:
        serving.set_script([sse_reply(SNAPSHOT, end="hang")])

        def redirect(request: RecordedRequest) -> Reply:
            # Like Firebase: the same path and query (auth= included) on the serving host.
            return Reply(
                status=307, headers=(("Location", serving.url(request.target)),), framing="length"
            )

        async with ScriptedServer(redirect) as front:
            result = await run_tidings(
                "listen",
                front.url(f"/rooms.json?auth={TOKEN}"),
                "--preset",
                "firebase",
                "--json",
                "-H",
                f"Authorization: Bearer {HEADER_SECRET}",
                "--max-events",
                "1",
            )
    assert result.returncode == 0, result.stderr
    [line] = result.json_lines
    assert line["notification"]["title"] == "127.0.0.1: /"
    [first] = front.requests
    [served] = serving.requests
    assert first.header("Authorization") == f"Bearer {HEADER_SECRET}"
    assert served.target == f"/rooms.json?auth={TOKEN}"  # part of the URL: it survives
    assert not served.has_header("Authorization")  # a header never crosses to another origin
    assert TOKEN not in result.stderr  # the URL shown in status lines is redacted
    result.assert_no_traceback()


# -- Mercure ---------------------------------------------------------------------------


async def test_mercure_rotation_resumes_with_last_event_id(
    server: ScriptedServer, run_tidings: RunTidings
) -> None:
    """--preset mercure: the hub closes after one update; the reconnect resumes after its id."""

    def hub(request: RecordedRequest) -> Reply:
        if request.header("Last-Event-ID") == "urn:uuid:1":
            body = b'event: Book\nid: urn:uuid:2\ndata: {"@type": "Book", "title": "Emma"}\n\n'
            return sse_reply(b":\n", body, end="hang")
        body = (
            b"retry: 100\nid: urn:uuid:1\n"
            b'data: {"@id": "https://example.com/books/1",\n'
            b'data:  "@type": "Book", "title": "Dune", "description": "Spice."}\n\n'
        )
        return sse_reply(body)

    server.set_script(hub)
    query = (
        "?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&topic=https%3A%2F%2Fexample.com%2Fa"
    )
    result = await run_tidings(
        "listen",
        server.url("/.well-known/mercure" + query),
        "--preset",
        "mercure",
        "--json",
        "--max-events",
        "2",
    )
    assert result.returncode == 0, result.stderr
    first, second = (line["notification"] for line in result.json_lines)
    assert (first["title"], first["body"], first["url"]) == (
        "Book: Dune",
        "Spice.",
        "https://example.com/books/1",
    )
    assert second["title"] == "Book: Emma"
    assert [r.target for r in server.requests] == ["/.well-known/mercure" + query] * 2
    assert [r.header("Last-Event-ID") for r in server.requests] == [None, "urn:uuid:1"]
    result.assert_no_traceback()
