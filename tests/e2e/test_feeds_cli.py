"""``tidings feeds ...`` as a subprocess: settings file, keyring, history, test, export, import.

Every run gets ``--profile-dir`` in the test's tmp_path. Keyring tests run
against gnome-keyring on a private bus (the ``gnome_keyring`` fixture) and
check the keyring from outside Tidings with ``secret-tool``. The helpers
here are shared with the doctor and secret-leak tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from support.desktop import DesktopSession
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent
from tidings.core.history import HistoryStore

from .conftest import WAIT, Finished, child_env

pytestmark = pytest.mark.timeout(60)

_SESSION_VARS = (
    "HOME",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
)


# -- helpers (also used by test_doctor and test_no_secret_leaks) ---------------------


def session_env(session: DesktopSession) -> dict[str, str]:
    """A child's environment inside the private desktop session (its bus and keyring)."""
    env = child_env()
    env.update({k: session.env[k] for k in _SESSION_VARS if k in session.env})
    return env


def no_bus_env(home: Path) -> dict[str, str]:
    """A child's environment with no D-Bus session at all: keyring falls back to nothing."""
    home.mkdir(parents=True, exist_ok=True)
    env = child_env()
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["HOME"] = str(home)
    for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        env.pop(key, None)
    return env


async def tidings(
    profile: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    within: float = WAIT,
) -> Finished:
    """Run ``python -m tidings --profile-dir PROFILE ARGS...`` to the end (bounded)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "--profile-dir",
        str(profile),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=profile.parent,
        env=env if env is not None else child_env(),
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout=within
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"tidings {' '.join(args)} did not finish within {within} s")
    assert proc.returncode is not None
    finished = Finished(proc.returncode, out.decode(), err.decode())
    finished.assert_no_traceback()
    return finished


def keyring_lookup(session: DesktopSession, feed_id: str, slot: str) -> str | None:
    """The secret stored for a feed's slot, read from outside Tidings (``None`` when absent)."""
    username = f"{feed_id}/{slot}"
    if shutil.which("secret-tool"):
        argv = ["secret-tool", "lookup", "service", "tidings", "username", username]
    else:  # libsecret-tools missing: ask the keyring library directly, still outside Tidings
        code = f"import keyring; v = keyring.get_password('tidings', {username!r}); print(v or '')"
        argv = [sys.executable, "-c", code]
    result = subprocess.run(
        argv, env=session.env, capture_output=True, text=True, timeout=10, check=False
    )
    value = result.stdout.rstrip("\n")
    return value or None


def feed_ids(profile: Path) -> dict[str, str]:
    """Name -> id of the feeds in the profile's settings file, read directly."""
    doc = tomllib.loads((profile / "config" / "settings.toml").read_text("utf-8"))
    return {f["name"]: f["id"] for f in doc.get("feeds", [])}


def settings_path(profile: Path) -> Path:
    return profile / "config" / "settings.toml"


def write_settings(profile: Path, text: str) -> Path:
    path = settings_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


async def store_event(profile: Path, feed_id: str, data: str = "hello") -> None:
    """Put one event for a feed in the profile's history store."""
    async with HistoryStore(profile / "data" / "history.sqlite3") as store:
        await store.record(
            feed_id, [DecodedEvent("message", data, "1", True)], cursor="1", dedupe=False
        )


# -- round trip without secrets ------------------------------------------------------


async def test_add_list_show_edit_pause_resume_remove_round_trip(tmp_path: Path) -> None:
    """A feed without secrets goes through every change, and the settings file follows each."""
    profile = tmp_path / "p"
    added = await tidings(
        profile, "feeds", "add", "Builds", "https://ci.example.org/sse", "-H", "X-Env: prod"
    )
    assert added.returncode == 0, added.stderr
    fid = feed_ids(profile)["Builds"]
    assert fid in added.stdout

    listed = await tidings(profile, "feeds", "list")
    assert listed.returncode == 0
    assert fid in listed.stdout
    assert "Builds" in listed.stdout
    assert "active" in listed.stdout

    shown = await tidings(profile, "feeds", "show", "Builds", "--json")
    feed = json.loads(shown.stdout)
    assert feed["id"] == fid
    assert feed["url"] == "https://ci.example.org/sse"
    assert feed["headers"] == [{"name": "X-Env", "value": "prod"}]
    assert feed["auth"] == {"kind": "none"}

    edited = await tidings(
        profile,
        "feeds",
        "edit",
        fid,
        "--name",
        "CI",
        "--url",
        "https://ci.example.org/v2/sse",
        "--preset",
        "json",
        "--idle-timeout",
        "45",
        "--remove-header",
        "X-Env",
    )
    assert edited.returncode == 0, edited.stderr
    feed = json.loads((await tidings(profile, "feeds", "show", "CI", "--json")).stdout)
    assert (feed["name"], feed["url"], feed["preset"], feed["idle_timeout"]) == (
        "CI",
        "https://ci.example.org/v2/sse",
        "json",
        45.0,
    )
    assert feed["headers"] == []

    assert (await tidings(profile, "feeds", "pause", "CI")).returncode == 0
    listed = json.loads((await tidings(profile, "feeds", "list", "--json")).stdout)
    assert listed["feeds"][0]["paused"] is True
    again = await tidings(profile, "feeds", "pause", fid)
    assert again.returncode == 0
    assert "already paused" in again.stdout
    assert (await tidings(profile, "feeds", "resume", fid)).returncode == 0
    listed = json.loads((await tidings(profile, "feeds", "list", "--json")).stdout)
    assert listed["feeds"][0]["paused"] is False

    removed = await tidings(profile, "feeds", "remove", "CI")
    assert removed.returncode == 0, removed.stderr
    assert feed_ids(profile) == {}
    gone = await tidings(profile, "feeds", "show", fid)
    assert gone.returncode == 1
    assert gone.error_lines
    assert "no feed" in gone.error_lines[0]


async def test_add_paused_with_options_lands_in_the_settings_file(tmp_path: Path) -> None:
    """add's options (preset, proxy, idle timeout, paused, CA file) are saved as given."""
    profile = tmp_path / "p"
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked until a connection uses it\n")
    done = await tidings(
        profile,
        "feeds",
        "add",
        "Wiki",
        "https://stream.example.org/v2/stream/recentchange",
        "--preset",
        "eventstreams",
        "--proxy",
        "socks5://127.0.0.1:1080",
        "--idle-timeout",
        "120",
        "--ca-file",
        str(ca),
        "--paused",
    )
    assert done.returncode == 0, done.stderr
    doc = tomllib.loads(settings_path(profile).read_text("utf-8"))
    (table,) = doc["feeds"]
    assert table["preset"] == "eventstreams"
    assert table["proxy"] == "socks5://127.0.0.1:1080"
    assert table["idle_timeout"] == 120
    assert table["paused"] is True
    assert table["tls"] == {"verify": True, "ca_file": str(ca)}


async def test_insecure_feeds_carry_a_warning_everywhere_they_appear(tmp_path: Path) -> None:
    """--insecure is explicit and warned about; list, show and --json flag the feed."""
    profile = tmp_path / "p"
    added = await tidings(profile, "feeds", "add", "Lab", "https://10.0.0.9/sse", "--insecure")
    assert added.returncode == 0
    assert "verification is OFF" in added.stderr
    listed = await tidings(profile, "feeds", "list")
    assert "TLS verification OFF" in listed.stdout
    assert "verification is OFF" in listed.stderr
    shown = await tidings(profile, "feeds", "show", "Lab")
    assert "TLS verification OFF" in shown.stdout
    as_json = json.loads((await tidings(profile, "feeds", "list", "--json")).stdout)
    assert as_json["feeds"][0]["warnings"] == ["tls-verification-off"]
    assert as_json["feeds"][0]["tls"]["verify"] is False
    fixed = await tidings(profile, "feeds", "edit", "Lab", "--verify-tls")
    assert fixed.returncode == 0
    assert "TLS" not in (await tidings(profile, "feeds", "list")).stdout


_BAD_ADDS = [
    (["https://h.example/sse?auth=abc123"], "--auth query"),
    (["https://user:pw@h.example/sse"], "--auth basic"),
    (["https://h.example/sse", "--auth", "basic"], "--username"),
    (["https://h.example/sse", "--auth", "header"], "--header-name"),
    (["https://h.example/sse", "--username", "u", "--command", "x"], "different auth kinds"),
    (["https://h.example/sse", "--auth", "bearer", "--username", "u"], "does not apply"),
    (["ftp://h.example/sse"], "unsupported URL"),
    (["https://h.example/sse", "--proxy", "http://u:pw@proxy:3128"], "proxy"),
    (["https://h.example/sse", "-H", "no colon here"], "Name: value"),
    (["https://h.example/sse", "--insecure", "--ca-file", "/nonexistent.pem"], "not a file"),
    (["https://h.example/sse", "--secret-header", "X-K", "-H", "X-K: v"], "given twice"),
]


async def test_bad_add_is_a_usage_error_that_writes_nothing(tmp_path: Path) -> None:
    """Invalid options exit 2 with a message saying what to do, and create no file."""
    profile = tmp_path / "p"
    runs = await asyncio.gather(
        *(tidings(profile, "feeds", "add", "X", *args) for args, _ in _BAD_ADDS)
    )
    for (args, needle), done in zip(_BAD_ADDS, runs, strict=True):
        assert done.returncode == 2, (args, done.stderr)
        assert needle in done.stderr, (args, done.stderr)
        assert "abc123" not in done.stderr
        assert "pw@" not in done.stderr
    assert not profile.exists() or not any(p.is_file() for p in profile.rglob("*"))


async def test_names_are_unique_and_unknown_feeds_fail(tmp_path: Path) -> None:
    """A second feed with a taken name is refused (exit 1); an unknown feed name exits 1."""
    profile = tmp_path / "p"
    assert (await tidings(profile, "feeds", "add", "A", "https://a.example/sse")).returncode == 0
    again = await tidings(profile, "feeds", "add", "A", "https://b.example/sse")
    assert again.returncode == 1
    assert "exists already" in again.error_lines[0]
    assert len(feed_ids(profile)) == 1
    verbs = ("show", "edit", "remove", "pause", "resume", "test")
    runs = await asyncio.gather(*(tidings(profile, "feeds", verb, "nope") for verb in verbs))
    for verb, missing in zip(verbs, runs, strict=True):
        assert missing.returncode == 1, (verb, missing.stderr)
        assert "no feed" in missing.stderr


# -- a settings file with problems ----------------------------------------------------


async def test_syntax_error_is_reported_and_the_file_is_never_overwritten(tmp_path: Path) -> None:
    """A TOML syntax error is named by line; every change fails (exit 1), the bytes stay."""
    profile = tmp_path / "p"
    path = write_settings(
        profile,
        """\
        schema_version = 1

        [[feeds]]
        id = "f-good"
        name = "Good"
        url = "https://good.example/sse"
        paused = tru
        """,
    )
    before = path.read_bytes()
    listed = await tidings(profile, "feeds", "list")
    assert listed.returncode == 0
    assert f"{path}:7" in listed.stderr
    for args in (
        ["feeds", "add", "New", "https://new.example/sse"],
        ["feeds", "pause", "f-good"],
        ["feeds", "import", str(tmp_path / "x.toml")],
    ):
        if args[1] == "import":
            (tmp_path / "x.toml").write_text(
                'schema_version = 1\n[[feeds]]\nid = "f-x"\nurl = "https://x.example/"\n'
            )
        done = await tidings(profile, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert done.error_lines, done.stderr
        assert str(path) in done.error_lines[0]
        assert path.read_bytes() == before


async def test_a_broken_feed_is_reported_and_the_good_ones_keep_working(tmp_path: Path) -> None:
    """A feed without URL and one with an unknown key are named; the good feed can be changed."""
    profile = tmp_path / "p"
    path = write_settings(
        profile,
        """\
        schema_version = 1

        [[feeds]]
        id = "f-good"
        name = "Good"
        url = "https://good.example/sse"

        [[feeds]]
        id = "f-nourl"
        name = "No URL"

        [[feeds]]
        id = "f-typo"
        name = "Typo"
        url = "https://typo.example/sse"
        pasued = true
        """,
    )
    listed = await tidings(profile, "feeds", "list", "--json")
    assert listed.returncode == 0
    doc = json.loads(listed.stdout)
    assert [f["id"] for f in doc["feeds"]] == ["f-good"]
    wheres = {p["where"] for p in doc["problems"]}
    assert {"feeds[1].url", "feeds[2].pasued"} <= wheres
    assert "feeds[1].url" in listed.stderr
    assert "feeds[2].pasued" in listed.stderr
    assert str(path) in listed.stderr

    paused = await tidings(profile, "feeds", "pause", "Good")
    assert paused.returncode == 0, paused.stderr
    assert "feeds[1].url" in paused.stderr
    doc = tomllib.loads(path.read_text("utf-8"))
    tables = {t["id"]: t for t in doc["feeds"]}
    assert tables["f-good"]["paused"] is True
    assert tables["f-nourl"] == {"id": "f-nourl", "name": "No URL"}
    assert tables["f-typo"]["pasued"] is True

    broken = await tidings(profile, "feeds", "show", "Typo")
    assert broken.returncode == 1
    assert "does not load" in broken.error_lines[0]


# -- keyring ---------------------------------------------------------------------------


@pytest.mark.desktop
async def test_secrets_go_to_the_keyring_and_never_to_the_settings_file(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """add reads the token, then the secret header, from stdin: keyring has both, file none."""
    profile = tmp_path / "p"
    env = session_env(gnome_keyring)
    done = await tidings(
        profile,
        "feeds",
        "add",
        "Alerts",
        "https://ntfy.example.org/alerts/sse",
        "--auth",
        "bearer",
        "--secret-header",
        "X-Api-Key",
        stdin="token-one-1111\nheader-two-2222\n",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    fid = feed_ids(profile)["Alerts"]
    assert keyring_lookup(gnome_keyring, fid, "auth") == "token-one-1111"
    assert keyring_lookup(gnome_keyring, fid, "header:x-api-key") == "header-two-2222"
    text = settings_path(profile).read_text("utf-8")
    assert "token-one-1111" not in text
    assert "header-two-2222" not in text
    doc = tomllib.loads(text)
    assert doc["feeds"][0]["auth"] == {"kind": "bearer"}
    assert doc["feeds"][0]["headers"] == [{"name": "X-Api-Key", "secret": True}]

    shown = json.loads((await tidings(profile, "feeds", "show", fid, "--json", env=env)).stdout)
    assert shown["secrets"] == {"auth": "stored", "header:x-api-key": "stored"}

    replaced = await tidings(
        profile, "feeds", "edit", fid, "--set-secret", stdin="token-three-3333\n", env=env
    )
    assert replaced.returncode == 0, replaced.stderr
    assert keyring_lookup(gnome_keyring, fid, "auth") == "token-three-3333"
    assert keyring_lookup(gnome_keyring, fid, "header:x-api-key") == "header-two-2222"

    # No longer secret: the header's keyring entry goes with it.
    plain = await tidings(profile, "feeds", "edit", fid, "-H", "X-Api-Key: public", env=env)
    assert plain.returncode == 0, plain.stderr
    assert keyring_lookup(gnome_keyring, fid, "header:x-api-key") is None

    await store_event(profile, fid)
    await store_event(profile, "f-other")
    removed = await tidings(profile, "feeds", "remove", fid, env=env)
    assert removed.returncode == 0, removed.stderr
    assert keyring_lookup(gnome_keyring, fid, "auth") is None
    async with HistoryStore(profile / "data" / "history.sqlite3") as store:
        assert await store.count(fid) == 0
        assert await store.count("f-other") == 1


@pytest.mark.desktop
async def test_basic_auth_edits_swap_the_secrets_they_need(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """Changing the auth kind asks for the new secret and deletes the one no longer used."""
    profile = tmp_path / "p"
    env = session_env(gnome_keyring)
    add = await tidings(
        profile,
        "feeds",
        "add",
        "Hub",
        "https://hub.example/.well-known/mercure",
        "--username",
        "alice",
        stdin="pass-word-1\n",
        env=env,
    )
    assert add.returncode == 0, add.stderr
    fid = feed_ids(profile)["Hub"]
    assert keyring_lookup(gnome_keyring, fid, "auth") == "pass-word-1"
    # Same kind, new user: the password stays unless --set-secret says otherwise.
    assert (
        await tidings(profile, "feeds", "edit", fid, "--username", "bob", env=env)
    ).returncode == 0
    assert keyring_lookup(gnome_keyring, fid, "auth") == "pass-word-1"
    to_command = await tidings(
        profile, "feeds", "edit", fid, "--command", "pass show hub/token", env=env
    )
    assert to_command.returncode == 0, to_command.stderr
    assert keyring_lookup(gnome_keyring, fid, "auth") is None
    to_query = await tidings(
        profile, "feeds", "edit", fid, "--auth", "query", stdin="qtoken-9\n", env=env
    )
    assert to_query.returncode == 0, to_query.stderr
    assert keyring_lookup(gnome_keyring, fid, "auth") == "qtoken-9"
    shown = json.loads((await tidings(profile, "feeds", "show", fid, "--json", env=env)).stdout)
    assert shown["auth"] == {"kind": "query", "query_param": "auth"}
    wrong = await tidings(profile, "feeds", "edit", fid, "--set-secret", "X-Nope", env=env)
    assert wrong.returncode == 2
    assert "no such secret" in wrong.stderr


@pytest.mark.desktop
async def test_a_missing_secret_line_changes_nothing(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """Two secrets needed, one line given: exit 1, the order explained, no feed, no secret left."""
    profile = tmp_path / "p"
    env = session_env(gnome_keyring)
    done = await tidings(
        profile,
        "feeds",
        "add",
        "Half",
        "https://half.example/sse",
        "--auth",
        "header",
        "--header-name",
        "X-Token",
        "--secret-header",
        "X-Other",
        stdin="only-one-line\n",
        env=env,
    )
    assert done.returncode == 1
    (error,) = done.error_lines
    assert "X-Other" in error
    assert "1. value of the X-Token header" in error
    assert "only-one-line" not in done.stderr
    assert not settings_path(profile).exists()
    empty = await tidings(
        profile, "feeds", "add", "Empty", "https://e.example/sse", "--auth", "bearer", stdin="\n"
    )
    assert empty.returncode == 1
    assert "empty" in empty.error_lines[0]


@pytest.mark.desktop
async def test_locked_keyring_add_fails_cleanly(
    tmp_path: Path, dbus_session: DesktopSession
) -> None:
    """A locked keyring (nobody to unlock it) fails add at once with exit 1 and writes nothing."""
    dbus_session.start_keyring(password=None)
    profile = tmp_path / "p"
    done = await tidings(
        profile,
        "feeds",
        "add",
        "X",
        "https://x.example/sse",
        "--auth",
        "bearer",
        stdin="locked-out-5151\n",
        env=session_env(dbus_session),
    )
    assert done.returncode == 1
    (error,) = done.error_lines
    assert "keyring locked" in error
    assert "unlock" in error
    assert not settings_path(profile).exists()


async def test_keyring_unavailable_add_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    """With no D-Bus session there is no keyring: add exits 1, says so, and writes no file."""
    profile = tmp_path / "p"
    env = no_bus_env(tmp_path / "home")
    done = await tidings(
        profile,
        "feeds",
        "add",
        "Secretive",
        "https://s.example/sse",
        "--auth",
        "bearer",
        stdin="never-stored-4444\n",
        env=env,
    )
    assert done.returncode == 1
    (error,) = done.error_lines
    assert "keyring unavailable" in error
    assert "nothing was changed" in error
    assert "never-stored-4444" not in done.stdout + done.stderr
    assert not profile.exists() or not any(p.is_file() for p in profile.rglob("*"))
    # An existing file stays byte for byte; a feed without secrets needs no keyring.
    ok = await tidings(profile, "feeds", "add", "Open", "https://o.example/sse", env=env)
    assert ok.returncode == 0, ok.stderr
    before = settings_path(profile).read_bytes()
    again = await tidings(
        profile,
        "feeds",
        "add",
        "Secretive",
        "https://s.example/sse",
        "--secret-header",
        "X-Key",
        stdin="never-stored-4444\n",
        env=env,
    )
    assert again.returncode == 1
    assert settings_path(profile).read_bytes() == before
    # remove of a feed with secrets refuses too, unless --force.
    write_settings(
        profile,
        """\
        schema_version = 1
        [[feeds]]
        id = "f-locked"
        name = "Locked"
        url = "https://l.example/sse"
        auth = { kind = "bearer" }
        """,
    )
    refused = await tidings(profile, "feeds", "remove", "Locked", env=env)
    assert refused.returncode == 1
    assert "--force" in refused.error_lines[0]
    assert "f-locked" in settings_path(profile).read_text("utf-8")
    forced = await tidings(profile, "feeds", "remove", "Locked", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "f-locked" not in settings_path(profile).read_text("utf-8")


# -- feeds test ---------------------------------------------------------------------------


async def test_feeds_test_shows_the_first_events(server: ScriptedServer, tmp_path: Path) -> None:
    """`feeds test` connects once with the feed's headers and prints up to --max-events events."""
    server.set_script(
        [
            sse_reply(
                b"id: 1\ndata: one\n\n",
                b"event: update\nid: 2\ndata: two\n\n",
                b"data: three\n\n",
                end="hang",
            )
        ]
    )
    profile = tmp_path / "p"
    add = await tidings(profile, "feeds", "add", "Local", server.url(), "-H", "X-Env: test")
    assert add.returncode == 0, add.stderr
    done = await tidings(profile, "feeds", "test", "Local", "--max-events", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert done.json_lines == [
        {"event": "message", "data": "one", "id": "1"},
        {"event": "update", "data": "two", "id": "2"},
    ]
    assert "connected (HTTP 200)" in done.stderr
    assert len(server.requests) == 1
    assert server.requests[0].header("X-Env") == "test"
    human = await tidings(profile, "feeds", "test", server.url(), "--max-events", "1")
    assert human.returncode == 0
    assert "message  #1" in human.stdout
    assert "    one" in human.stdout


async def test_feeds_test_of_an_open_quiet_stream_succeeds_at_the_timeout(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """A stream that opens but sends nothing is a working feed: exit 0 after --timeout."""
    server.set_script([sse_reply(end="hang")])
    done = await tidings(tmp_path / "p", "feeds", "test", server.url(), "--timeout", "0.5")
    assert done.returncode == 0, done.stderr
    assert "connected" in done.stderr
    assert "0 event(s)" in done.stderr


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(status=401, headers=(("Content-Type", "text/plain"),)), "HTTP 401"),
        (Reply(status=404, headers=(("Content-Type", "text/plain"),)), "HTTP 404"),
        (sse_reply(content_type="text/html"), "not an event stream"),
        (Reply(status=503, headers=(("Content-Type", "text/plain"),)), "503"),
    ],
)
async def test_feeds_test_shows_the_exact_failure(
    server: ScriptedServer, tmp_path: Path, reply: Reply, message: str
) -> None:
    """A refused connection exits 1 with one error line that says what the server answered."""
    server.set_script([reply])
    done = await tidings(tmp_path / "p", "feeds", "test", server.url())
    assert done.returncode == 1
    (error,) = done.error_lines
    assert message in error
    assert len(server.requests) == 1  # once: no reconnection


@pytest.mark.desktop
async def test_feeds_test_sends_the_keyring_credential(
    server: ScriptedServer, tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """The token stored with add reaches the server; a wrong one gets the server's 401."""

    def script(request: RecordedRequest) -> Reply:
        if request.header("Authorization") == "Bearer right-token-5555":
            return sse_reply(b"data: welcome\n\n", end="hang")
        return Reply(status=401, headers=(("Content-Type", "text/plain"),))

    server.set_script(script)
    profile = tmp_path / "p"
    env = session_env(gnome_keyring)
    add = await tidings(
        profile,
        "feeds",
        "add",
        "Auth",
        server.url(),
        "--auth",
        "bearer",
        stdin="right-token-5555\n",
        env=env,
    )
    assert add.returncode == 0, add.stderr
    good = await tidings(profile, "feeds", "test", "Auth", "--max-events", "1", env=env)
    assert good.returncode == 0, good.stderr
    assert "welcome" in good.stdout
    edit = await tidings(
        profile, "feeds", "edit", "Auth", "--set-secret", stdin="wrong-token-6666\n", env=env
    )
    assert edit.returncode == 0, edit.stderr
    bad = await tidings(profile, "feeds", "test", "Auth", env=env)
    assert bad.returncode == 1
    assert "HTTP 401" in bad.error_lines[0]


# -- export and import -------------------------------------------------------------------


@pytest.mark.desktop
async def test_export_leaves_secrets_out_and_import_asks_for_them(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """Export keeps auth kinds, not values; import stores new secrets under new or free ids."""
    source, target = tmp_path / "src", tmp_path / "dst"
    env = session_env(gnome_keyring)
    for args, secrets in (
        (["Bearer", "https://b.example/sse", "--auth", "bearer"], "export-secret-7777\n"),
        (
            ["Basic", "https://c.example/sse", "--username", "u", "--secret-header", "X-K"],
            "pw-8\nhv-9\n",
        ),
        (["Cmd", "https://d.example/sse", "--command", "pass show d"], None),
    ):
        done = await tidings(source, "feeds", "add", *args, stdin=secrets, env=env)
        assert done.returncode == 0, done.stderr
    ids = feed_ids(source)
    toml_file, json_file = tmp_path / "feeds.toml", tmp_path / "feeds.json"
    for path in (toml_file, json_file):
        done = await tidings(source, "feeds", "export", str(path), env=env)
        assert done.returncode == 0, done.stderr
        text = path.read_text("utf-8")
        for secret in ("export-secret-7777", "pw-8", "hv-9"):
            assert secret not in text
    assert json.loads(json_file.read_text("utf-8"))["feeds"][1]["headers"] == [
        {"name": "X-K", "secret": True}
    ]
    stdout_export = await tidings(source, "feeds", "export", env=env)
    assert tomllib.loads(stdout_export.stdout)["feeds"][0]["auth"] == {"kind": "bearer"}
    refused = await tidings(source, "feeds", "export", str(toml_file), env=env)
    assert refused.returncode == 1
    assert "exists" in refused.error_lines[0]

    # Into a profile that already uses the Bearer feed's id: that one gets a new id.
    write_settings(
        target,
        f"""\
        schema_version = 1
        [[feeds]]
        id = "{ids["Bearer"]}"
        name = "Bearer"
        url = "https://taken.example/sse"
        """,
    )
    imported = await tidings(
        target, "feeds", "import", str(toml_file), stdin="imp-token-1\nimp-pw-2\n\n", env=env
    )
    assert imported.returncode == 0, imported.stderr
    new = feed_ids(target)
    assert set(new) == {"Bearer", "Bearer (2)", "Basic", "Cmd"}
    assert new["Bearer (2)"] != ids["Bearer"]
    assert new["Basic"] == ids["Basic"]
    assert new["Cmd"] == ids["Cmd"]
    assert keyring_lookup(gnome_keyring, new["Bearer (2)"], "auth") == "imp-token-1"
    assert keyring_lookup(gnome_keyring, new["Basic"], "auth") == "imp-pw-2"
    assert "1 secret(s) not set" in imported.stdout  # the skipped header value
    assert "PAUSED" in imported.stdout
    assert "pass show d" in imported.stdout
    listed = json.loads((await tidings(target, "feeds", "list", "--json", env=env)).stdout)
    by_name = {f["name"]: f for f in listed["feeds"]}
    assert by_name["Cmd"]["paused"] is True
    assert by_name["Basic"]["paused"] is False


async def test_import_runs_no_command_without_asking(tmp_path: Path) -> None:
    """Command feeds are imported paused without a terminal; --allow-commands keeps them active."""
    marker = tmp_path / "ran"
    file = tmp_path / "in.json"
    command = f"touch {marker}"
    file.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "feeds": [
                    {
                        "id": "f-cmd",
                        "name": "Cmd",
                        "url": "https://x.example/sse",
                        "auth": {"kind": "command", "command": command},
                    },
                    {"id": "f-open", "name": "Open", "url": "https://y.example/sse"},
                    {"id": "f-bad", "name": "Bad"},
                ],
            }
        )
    )
    profile = tmp_path / "p"
    done = await tidings(profile, "feeds", "import", str(file), stdin="y\n")
    assert done.returncode == 1  # one entry was skipped
    assert "feeds[2].url" in done.stderr
    assert "PAUSED" in done.stdout
    assert command in done.stdout
    listed = json.loads((await tidings(profile, "feeds", "list", "--json")).stdout)
    assert {f["id"]: f["paused"] for f in listed["feeds"]} == {"f-cmd": True, "f-open": False}
    assert not marker.exists()
    allowed = await tidings(tmp_path / "q", "feeds", "import", str(file), "--allow-commands")
    assert "allowed to run" in allowed.stdout
    listed = json.loads((await tidings(tmp_path / "q", "feeds", "list", "--json")).stdout)
    assert {f["id"]: f["paused"] for f in listed["feeds"]} == {"f-cmd": False, "f-open": False}
    assert not marker.exists()


async def test_commands_that_need_no_keyring_never_touch_it(
    server: ScriptedServer, tmp_path: Path
) -> None:
    """list, show, test, export and pause work with no keyring when no feed has a secret."""
    server.set_script([sse_reply(b"data: hi\n\n", end="hang")])
    profile = tmp_path / "p"
    env = no_bus_env(tmp_path / "home")
    added = await tidings(profile, "feeds", "add", "A", server.url(), env=env)
    assert added.returncode == 0
    reads = (["list"], ["show", "A"], ["export"], ["test", "A", "--max-events", "1"])
    runs = await asyncio.gather(*(tidings(profile, "feeds", *args, env=env) for args in reads))
    runs.append(await tidings(profile, "feeds", "pause", "A", env=env))
    for done in runs:
        assert "keyring" not in done.stderr, done.stderr
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0]


def _converse(
    argv: list[str], env: dict[str, str], script: list[tuple[str, str]], within: float = WAIT
) -> tuple[int, str]:
    """Run argv on a pseudo-terminal; on each expected prompt, type its answer. (code, output)"""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + within
    pending = list(script)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal (EIO)
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0].encode() in seen:
                os.write(master, pending.pop(0)[1].encode() + b"\n")
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, seen.decode("utf-8", "replace")


@pytest.mark.desktop
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
def test_on_a_terminal_import_asks_before_allowing_a_command_and_prompts_for_secrets(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    """On a terminal, import asks before allowing a token command, and prompts for secrets."""
    file = tmp_path / "in.toml"
    file.write_text(
        textwrap.dedent(
            """\
            schema_version = 1
            [[feeds]]
            id = "f-cmd"
            name = "Cmd"
            url = "https://x.example/sse"
            auth = { kind = "command", command = "pass show x/token" }
            [[feeds]]
            id = "f-tok"
            name = "Tok"
            url = "https://y.example/sse"
            auth = { kind = "bearer" }
            """
        )
    )
    profile = tmp_path / "p"
    argv = [sys.executable, "-m", "tidings", "--profile-dir", str(profile), "feeds", "import"]
    code, output = _converse(
        [*argv, str(file)],
        session_env(gnome_keyring),
        [("Allow Tidings to run it? [y/N]", "y"), ("Bearer token of feed 'Tok'", "typed-tok-42")],
    )
    assert code == 0, output
    assert "pass show x/token" in output
    assert "allowed to run" in output
    assert keyring_lookup(gnome_keyring, "f-tok", "auth") == "typed-tok-42"
    doc = tomllib.loads(settings_path(profile).read_text("utf-8"))
    assert {t["id"]: t.get("paused", False) for t in doc["feeds"]} == {
        "f-cmd": False,
        "f-tok": False,
    }
