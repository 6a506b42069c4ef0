"""A feed's credentials on the wire: FeedAuth inside a real EventSource, against a scripted server.

Each auth kind is checked on the request the server really received; every
failure to get a credential stops the feed with a reason and a way forward;
credentials never follow a redirect to another origin.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.auth import FeedAuth, run_token_command
from tidings.core.decoder import DecodedEvent
from tidings.core.errors import CredentialsError, SecretStoreError
from tidings.core.models import (
    Auth,
    AuthKind,
    ConnectionPolicy,
    ConnectionState,
    Feed,
    FeedStatus,
    Header,
    StopReason,
)
from tidings.core.redact import KnownSecrets
from tidings.core.secrets import MemoryStore, SecretStore, auth_slot, header_slot
from tidings.core.sse import EventSource

LIMIT = 10.0
FAST = ConnectionPolicy(
    reconnection_time=0.02, retry_floor=0.01, idle_timeout=5.0, connect_timeout=5.0
)
ONE_EVENT = sse_reply(b"id: 7\ndata: hello\n\n")
TOKEN = "tok-3f9a_Zq.81"


class Run:
    """One EventSource run: its events, its statuses, the final status."""

    def __init__(self) -> None:
        self.events: list[DecodedEvent] = []
        self.statuses: list[FeedStatus] = []
        self.final: FeedStatus | None = None

    async def on_events(self, events: Sequence[DecodedEvent]) -> None:
        self.events.extend(events)

    def texts(self) -> str:
        """Everything a user could be shown: every status's URL and message."""
        return "\n".join(f"{s.url} {s.message}" for s in self.statuses)


async def run_feed(
    feed: Feed,
    store: SecretStore,
    *,
    url: str | None = None,
    known: KnownSecrets | None = None,
    command_timeout: float = 5.0,
    last_event_id: str = "",
) -> Run:
    """Run the feed once (no reconnect) until it stops; bounded in time."""
    run = Run()
    auth = FeedAuth(feed, secrets=store, known=known, command_timeout=command_timeout)
    source = EventSource(
        url or feed.url,
        on_events=run.on_events,
        on_status=run.statuses.append,
        auth=auth if auth.needed else None,
        reconnect=False,
        policy=FAST,
        last_event_id=last_event_id,
        resume=bool(last_event_id),
    )
    async with asyncio.timeout(LIMIT):
        run.final = await source.run()
    return run


def feed_for(server: ScriptedServer, auth: Auth, *headers: Header, fid: str = "f-0001") -> Feed:
    return Feed(id=fid, name="test feed", url=server.url(), auth=auth, headers=headers)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """A scripted server on 127.0.0.1 answering one event per request."""
    async with ScriptedServer([ONE_EVENT]) as srv:
        yield srv


# -- each kind on the wire ----------------------------------------------------------------


async def test_basic_auth_sends_user_and_password(server: ScriptedServer) -> None:
    """Basic: Authorization is "Basic " + base64(user:password), password from the store."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), "pä ss:word")
    run = await run_feed(feed_for(server, Auth(kind=AuthKind.BASIC, username="alice")), store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    expected = base64.b64encode("alice:pä ss:word".encode()).decode("ascii")
    assert server.requests[0].header("Authorization") == f"Basic {expected}"
    assert [e.data for e in run.events] == ["hello"]


async def test_bearer_auth_sends_the_token(server: ScriptedServer) -> None:
    """Bearer: Authorization is "Bearer <token>"."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)
    run = await run_feed(feed_for(server, Auth(kind=AuthKind.BEARER)), store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


async def test_custom_header_auth_sends_the_named_header(server: ScriptedServer) -> None:
    """Custom header: the secret goes in the named header (X-Api-Key), no Authorization."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)
    feed = feed_for(server, Auth(kind=AuthKind.HEADER, header_name="X-Api-Key"))
    run = await run_feed(feed, store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    assert server.requests[0].header("X-Api-Key") == TOKEN
    assert not server.requests[0].has_header("Authorization")


@pytest.mark.parametrize(
    "token", [TOKEN, "needs enc/ding+&=?#%", "ünïcødé-token"], ids=["plain", "reserved", "unicode"]
)
async def test_query_auth_appends_the_token_and_never_shows_it(
    token: str, server: ScriptedServer
) -> None:
    """Query: ?auth=<token> is on the wire; the display URL and statuses never carry it."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), token)
    feed = Feed(
        id="f-0001",
        name="ntfy",
        url=server.url("/mytopic/sse?since=all"),
        auth=Auth(kind=AuthKind.QUERY, query_param="auth"),
    )
    run = await run_feed(feed, store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    target = urlsplit(server.requests[0].target)
    assert target.path == "/mytopic/sse"
    assert parse_qs(target.query) == {"since": ["all"], "auth": [token]}
    assert not server.requests[0].has_header("Authorization")
    shown = run.texts()
    assert token not in shown
    assert "auth" not in shown  # the token is added per request, not to the feed's URL
    assert all(s.url == server.url("/mytopic/sse?since=all") for s in run.statuses)


async def test_secret_headers_come_from_the_store(server: ScriptedServer) -> None:
    """Headers marked secret get their value from the store, next to the auth kind's header."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)
    await store.set("f-0001", header_slot("X-Tenant-Secret"), "tenant-s3cret")
    feed = feed_for(
        server,
        Auth(kind=AuthKind.BEARER),
        Header(name="X-Tenant-Secret", secret=True),
    )
    run = await run_feed(feed, store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    assert server.requests[0].header("X-Tenant-Secret") == "tenant-s3cret"
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


async def test_a_feed_without_credentials_needs_no_auth() -> None:
    """No auth kind and no secret header: the hub passes no auth at all."""
    feed = Feed(id="f-1", name="n", url="http://127.0.0.1:9/", headers=(Header(name="X-A"),))
    assert not FeedAuth(feed, secrets=MemoryStore()).needed
    assert FeedAuth(
        Feed(id="f-1", name="n", url="http://x/", headers=(Header(name="X-A", secret=True),)),
        secrets=MemoryStore(),
    ).needed


async def test_surrounding_whitespace_of_a_stored_token_is_dropped(
    server: ScriptedServer,
) -> None:
    """A token pasted with a trailing newline still works as a header value."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), f"  {TOKEN}\r\n")
    run = await run_feed(feed_for(server, Auth(kind=AuthKind.BEARER)), store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "kind", [AuthKind.BEARER, AuthKind.HEADER], ids=["bearer", "custom-header"]
)
async def test_a_token_no_header_can_carry_stops_without_quoting_it(
    kind: AuthKind, server: ScriptedServer
) -> None:
    """A stored token with a line break inside: needs credentials, and the token is not shown."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), "first-half\nsecond-half")
    feed = feed_for(server, Auth(kind=kind, header_name="X-Api-Key"))
    run = await run_feed(feed, store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "line break" in run.final.message
    assert "tidings feeds edit f-0001" in run.final.message
    assert "half" not in run.texts()
    assert server.requests == []


# -- the token command ------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> str:
    """A tiny Python script; returns the token command that runs it."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return f"{sys.executable} {path}"


def command_feed(server: ScriptedServer, command: str) -> Feed:
    return feed_for(server, Auth(kind=AuthKind.COMMAND, command=command))


async def test_command_auth_sends_what_the_command_prints(
    tmp_path: Path, server: ScriptedServer
) -> None:
    """Command: the first line the command prints is the bearer token."""
    command = script(
        tmp_path,
        "token.py",
        f"""
        import sys
        print("{TOKEN}")
        print("second line is ignored")
        print("and stderr is ignored", file=sys.stderr)
        """,
    )
    run = await run_feed(command_feed(server, command), MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


async def test_a_failing_command_needs_credentials_and_hides_its_stderr(
    tmp_path: Path, server: ScriptedServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """A command that fails stops the feed (needs credentials); its stderr is never shown."""
    command = script(
        tmp_path,
        "fails.py",
        """
        import sys
        print("partial-output-xyz")
        print("HINT: master password is hunter2", file=sys.stderr)
        sys.exit(3)
        """,
    )
    run = await run_feed(command_feed(server, command), MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "failed (exit 3)" in run.final.message
    assert server.requests == []
    out, err = capfd.readouterr()
    for text in (run.texts(), out, err):
        assert "hunter2" not in text
        assert "partial-output-xyz" not in text


async def test_a_command_that_prints_nothing_needs_credentials(
    tmp_path: Path, server: ScriptedServer
) -> None:
    """A command that succeeds but prints no token stops the feed with a clear message."""
    command = script(tmp_path, "empty.py", "print('   ')\n")
    run = await run_feed(command_feed(server, command), MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "printed nothing" in run.final.message


def process_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (gone, or a zombie waiting for a reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


HANGING = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    print("never-delivered-token", flush=True)
    time.sleep(60)
"""


def read_pids(path: Path) -> list[int]:
    """The PIDs the hanging script wrote (itself and its child), or [] before it did."""
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


async def wait_for_pids(path: Path) -> list[int]:
    while not (pids := read_pids(path)):
        await asyncio.sleep(0.02)
    return pids


async def test_a_hanging_command_times_out_and_is_killed(
    tmp_path: Path, server: ScriptedServer
) -> None:
    """A command that hangs: needs credentials after its timeout; it and its children are killed."""
    pids_file = tmp_path / "pids"
    command = script(tmp_path, "hangs.py", HANGING) + f" {pids_file}"
    started = time.monotonic()
    run = await run_feed(command_feed(server, command), MemoryStore(), command_timeout=1.0)
    assert time.monotonic() - started < 5.0
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "did not finish within 1 s" in run.final.message
    assert "never-delivered-token" not in run.texts()
    assert server.requests == []
    pids = await wait_for_pids(pids_file)
    async with asyncio.timeout(LIMIT):
        while not all(process_gone(pid) for pid in pids):
            await asyncio.sleep(0.02)


async def test_closing_the_feed_kills_a_running_command(
    tmp_path: Path, server: ScriptedServer
) -> None:
    """Closing a feed while its token command runs kills the command (and its children)."""
    pids_file = tmp_path / "pids"
    command = script(tmp_path, "hangs.py", HANGING) + f" {pids_file}"
    auth = FeedAuth(command_feed(server, command), secrets=MemoryStore(), command_timeout=30)
    statuses: list[FeedStatus] = []

    async def ignore(events: Sequence[DecodedEvent]) -> None:
        pass

    source = EventSource(
        server.url(), on_events=ignore, on_status=statuses.append, auth=auth, policy=FAST
    )
    async with asyncio.timeout(LIMIT):
        task = asyncio.create_task(source.run())
        pids = await wait_for_pids(pids_file)
        source.close()
        final = await task
        assert final.stop_reason is StopReason.CLOSED
        while not all(process_gone(pid) for pid in pids):
            await asyncio.sleep(0.02)
    assert server.requests == []


async def test_a_missing_command_needs_credentials(server: ScriptedServer) -> None:
    """A token command that does not exist: needs credentials, naming the command."""
    feed = command_feed(server, "/nonexistent/bin/tidings-token --field password")
    run = await run_feed(feed, MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "cannot run the token command '/nonexistent/bin/tidings-token'" in run.final.message
    assert "No such file or directory" in run.final.message
    assert server.requests == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [("", "is empty"), ("pass show 'unterminated", "cannot parse")],
    ids=["empty", "bad-quoting"],
)
async def test_an_unusable_command_line_is_a_credentials_error(command: str, expected: str) -> None:
    """An empty or unparseable token command is a CredentialsError, not a crash."""
    with pytest.raises(CredentialsError, match=expected):
        await run_token_command(command)


async def test_the_command_runs_without_a_shell(tmp_path: Path) -> None:
    """Shell syntax in the command is passed as arguments, never interpreted."""
    marker = tmp_path / "marker"
    token = await run_token_command(f"echo token-ok ; touch {marker}")
    assert token == f"token-ok ; touch {marker}"
    assert not marker.exists()


# -- what the store says ------------------------------------------------------------------


@pytest.mark.parametrize(
    "feed_auth",
    [
        Auth(kind=AuthKind.BASIC, username="alice"),
        Auth(kind=AuthKind.BEARER),
        Auth(kind=AuthKind.HEADER, header_name="X-Api-Key"),
        Auth(kind=AuthKind.QUERY, query_param="auth"),
    ],
    ids=lambda a: a.kind.value,
)
async def test_a_missing_secret_needs_credentials(feed_auth: Auth, server: ScriptedServer) -> None:
    """No secret stored: the feed stops with needs-credentials and `tidings feeds edit <id>`."""
    run = await run_feed(feed_for(server, feed_auth, fid="f-9c1d"), MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert run.final.state is ConnectionState.STOPPED
    assert "tidings feeds edit f-9c1d" in run.final.message
    assert server.requests == []


async def test_a_missing_secret_header_needs_credentials(server: ScriptedServer) -> None:
    """A secret header with no stored value: needs credentials, naming the header."""
    feed = feed_for(server, Auth(), Header(name="X-Secret", secret=True))
    run = await run_feed(feed, MemoryStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.NEEDS_CREDENTIALS
    assert "X-Secret" in run.final.message
    assert "tidings feeds edit f-0001" in run.final.message


class UnavailableStore:
    """A store whose keyring is locked."""

    name = "locked test keyring"

    async def get(self, feed_id: str, slot: str) -> str | None:
        raise SecretStoreError("the keyring is locked: unlock it and retry", state="locked")

    async def set(self, feed_id: str, slot: str, value: str) -> None:
        raise AssertionError("not used")

    async def delete(self, feed_id: str, slot: str) -> None:
        raise AssertionError("not used")


async def test_a_keyring_error_stops_with_keyring_unavailable(server: ScriptedServer) -> None:
    """A SecretStoreError while reading the credential stops the feed: keyring unavailable."""
    run = await run_feed(feed_for(server, Auth(kind=AuthKind.BEARER)), UnavailableStore())
    assert run.final is not None
    assert run.final.stop_reason is StopReason.KEYRING_UNAVAILABLE
    assert "unlock it" in run.final.message
    assert server.requests == []


async def test_a_changed_credential_is_used_at_the_next_connect() -> None:
    """The token changed in the store between two connections goes out on the reconnect."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), "first-token")
    async with ScriptedServer([ONE_EVENT, sse_reply(end="hang")]) as server:
        feed = feed_for(server, Auth(kind=AuthKind.BEARER))

        async def on_events(events: Sequence[DecodedEvent]) -> None:
            await store.set("f-0001", auth_slot(), "second-token")

        source = EventSource(
            server.url(),
            on_events=on_events,
            auth=FeedAuth(feed, secrets=store),
            policy=FAST,
        )
        async with asyncio.timeout(LIMIT):
            task = asyncio.create_task(source.run())
            await server.wait_for_requests(2)
            source.close()
            await task
    assert [r.header("Authorization") for r in server.requests[:2]] == [
        "Bearer first-token",
        "Bearer second-token",
    ]
    assert server.requests[1].header("Last-Event-ID") == "7"


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_credential_stops_with_needs_credentials(status: int) -> None:
    """401/403: the feed stops (no retry loop) with needs-credentials."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)
    rejected = Reply(status=status, headers=(("Content-Type", "text/plain"),), body=[b"no"])
    async with ScriptedServer([rejected]) as server:
        auth = FeedAuth(feed_for(server, Auth(kind=AuthKind.BEARER)), secrets=store)
        statuses: list[FeedStatus] = []

        async def ignore(events: Sequence[DecodedEvent]) -> None:
            pass

        source = EventSource(
            server.url(), on_events=ignore, on_status=statuses.append, auth=auth, policy=FAST
        )
        async with asyncio.timeout(LIMIT):
            final = await source.run()
        assert final.stop_reason is StopReason.NEEDS_CREDENTIALS
        assert final.http_status == status
        assert len(server.requests) == 1
        assert TOKEN not in "\n".join(s.message for s in statuses)


# -- redirects --------------------------------------------------------------------------


def credential_sent(request: RecordedRequest, kind: AuthKind) -> bool:
    """Whether the request carried TOKEN the way ``kind`` sends it."""
    if kind is AuthKind.QUERY:
        return parse_qs(urlsplit(request.target).query).get("auth") == [TOKEN]
    if kind is AuthKind.HEADER:
        return request.header("X-Api-Key") == TOKEN
    if kind is AuthKind.BASIC:
        pair = base64.b64encode(f"alice:{TOKEN}".encode()).decode()
        return request.header("Authorization") == f"Basic {pair}"
    return request.header("Authorization") == f"Bearer {TOKEN}"


def redirect_to(url: str, status: int = 307) -> Reply:
    return Reply(status=status, headers=(("Location", url),), framing="length")


@pytest.mark.parametrize(
    "feed_auth",
    [
        Auth(kind=AuthKind.BASIC, username="alice"),
        Auth(kind=AuthKind.BEARER),
        Auth(kind=AuthKind.HEADER, header_name="X-Api-Key"),
        Auth(kind=AuthKind.QUERY, query_param="auth"),
    ],
    ids=lambda a: a.kind.value,
)
async def test_a_cross_origin_redirect_carries_no_credential(feed_auth: Auth) -> None:
    """127.0.0.1 redirects to localhost: no Authorization, no secret header, no token there.

    Last-Event-ID still goes along: it is the stream's position, not a credential.
    """
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)
    await store.set("f-0001", header_slot("X-Secret"), "secret-header-value")
    async with (
        ScriptedServer([ONE_EVENT], host_name="localhost") as other,
        ScriptedServer([redirect_to(other.url("/elsewhere"))]) as origin,
    ):
        feed = feed_for(origin, feed_auth, Header(name="X-Secret", secret=True))
        run = await run_feed(feed, store, last_event_id="41")
        assert run.final is not None
        assert run.final.stop_reason is StopReason.ENDED
        assert [e.data for e in run.events] == ["hello"]
        first, second = origin.requests[0], other.requests[0]
    assert first.header("X-Secret") == "secret-header-value"
    assert credential_sent(first, feed_auth.kind)
    assert second.target == "/elsewhere"
    assert not second.has_header("Authorization")
    assert not second.has_header("X-Api-Key")
    assert not second.has_header("X-Secret")
    raw = b"\n".join(n + b": " + v for n, v in second.raw_headers).decode("latin-1")
    assert TOKEN not in raw
    assert "secret-header-value" not in raw
    assert second.header("Last-Event-ID") == "41"


async def test_a_same_origin_redirect_keeps_the_credentials() -> None:
    """A redirect within the feed's origin gets the credentials again."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), TOKEN)

    def script_(request: RecordedRequest) -> Reply:
        if request.target.startswith("/events"):
            return redirect_to("/moved?x=1", 308)
        return ONE_EVENT

    async with ScriptedServer(script_) as server:
        feed = feed_for(server, Auth(kind=AuthKind.QUERY, query_param="auth"))
        run = await run_feed(feed, store)
    assert run.final is not None
    assert run.final.stop_reason is StopReason.ENDED
    moved = urlsplit(server.requests[1].target)
    assert moved.path == "/moved"
    assert parse_qs(moved.query) == {"x": ["1"], "auth": [TOKEN]}


# -- known secrets ------------------------------------------------------------------------


async def test_every_form_of_a_credential_becomes_known(server: ScriptedServer) -> None:
    """The raw value, its base64 (Basic) and its percent-encoding (query) are all registered."""
    store = MemoryStore()
    await store.set("f-0001", auth_slot(), "pw with/slash+plus")
    known = KnownSecrets()
    await run_feed(feed_for(server, Auth(kind=AuthKind.BASIC, username="bob")), store, known=known)
    basic = base64.b64encode(b"bob:pw with/slash+plus").decode()
    assert known.redact(f"Authorization: Basic {basic}") == "Authorization: Basic ***"
    known = KnownSecrets()
    feed = feed_for(server, Auth(kind=AuthKind.QUERY, query_param="k"))
    await run_feed(feed, store, known=known)
    wire = server.requests[-1].target
    assert "pw" in wire
    assert "pw" not in known.redact(wire)
