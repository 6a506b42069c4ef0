"""The secret store: the real Secret Service (gnome-keyring on a private bus) and the memory one.

Contract tests run over both stores. Keyring-specific behaviour (where the
values land, a locked or silent keyring, no bus at all, backends that must be
refused, the timeout) is checked against the real daemon where it can be, and
through fake backends only at the backend seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import keyring.backends.fail
import keyring.backends.null
import keyring.backends.SecretService
import pytest
from keyring import errors as kerr

from support.desktop import DesktopSession
from tidings.core.errors import SecretStoreError
from tidings.core.secrets import (
    SERVICE,
    KeyringStore,
    MemoryStore,
    SecretStore,
    auth_slot,
    header_slot,
)

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10.0  # every async test is bounded by this (seconds)


def real_keyring(timeout: float = 5.0) -> KeyringStore:
    """A KeyringStore on gnome-keyring's Secret Service (the session must be active)."""
    return KeyringStore(backend=keyring.backends.SecretService.Keyring(), timeout=timeout)


@pytest.fixture(params=["memory", pytest.param("keyring", marks=pytest.mark.desktop)])
def store(request: pytest.FixtureRequest) -> SecretStore:
    """Each contract test runs on the memory store and on the real Secret Service."""
    if request.param == "memory":
        return MemoryStore()
    request.getfixturevalue("gnome_keyring")
    return real_keyring()


@pytest.fixture
async def bounded() -> AsyncIterator[None]:
    """Bound the test body in time."""
    async with asyncio.timeout(LIMIT):
        yield


# -- the contract, on both stores ---------------------------------------------------


async def test_set_get_delete(store: SecretStore, bounded: None) -> None:
    """A value set is read back, and is gone after delete."""
    assert await store.get("f-1", auth_slot()) is None
    await store.set("f-1", auth_slot(), "s3cret-value")
    assert await store.get("f-1", auth_slot()) == "s3cret-value"
    await store.delete("f-1", auth_slot())
    assert await store.get("f-1", auth_slot()) is None


async def test_set_replaces_the_old_value(store: SecretStore, bounded: None) -> None:
    """Setting a slot again replaces its value (a changed credential)."""
    await store.set("f-1", auth_slot(), "old-token")
    await store.set("f-1", auth_slot(), "new-token")
    assert await store.get("f-1", auth_slot()) == "new-token"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("pässwörd ключ 秘密 🔑", id="unicode"),
        pytest.param("x" * 20_000, id="long"),
        pytest.param("with spaces, = & ? # and 'quotes\"", id="punctuation"),
        pytest.param("a" * 500 + "🔑" * 500, id="long-unicode"),
    ],
)
async def test_values_round_trip_exactly(store: SecretStore, value: str, bounded: None) -> None:
    """Unicode and long values come back unchanged."""
    await store.set("f-u", auth_slot(), value)
    assert await store.get("f-u", auth_slot()) == value


async def test_deleting_a_missing_secret_is_fine(store: SecretStore, bounded: None) -> None:
    """Removing a feed without a stored secret (or twice) raises nothing."""
    await store.delete("f-never", auth_slot())
    await store.set("f-twice", auth_slot(), "value")
    await store.delete("f-twice", auth_slot())
    await store.delete("f-twice", auth_slot())
    assert await store.get("f-twice", auth_slot()) is None


async def test_feeds_and_slots_do_not_see_each_other(store: SecretStore, bounded: None) -> None:
    """Two feeds, and two slots of one feed, keep separate values."""
    await store.set("f-a", auth_slot(), "token-of-a")
    await store.set("f-b", auth_slot(), "token-of-b")
    await store.set("f-a", header_slot("X-Api-Key"), "key-of-a")
    assert await store.get("f-a", auth_slot()) == "token-of-a"
    assert await store.get("f-b", auth_slot()) == "token-of-b"
    assert await store.get("f-b", header_slot("X-Api-Key")) is None
    assert await store.get("f-a", header_slot("x-api-key")) == "key-of-a"
    await store.delete("f-a", auth_slot())
    assert await store.get("f-b", auth_slot()) == "token-of-b"
    assert await store.get("f-a", header_slot("X-Api-Key")) == "key-of-a"


def test_header_slots_ignore_case() -> None:
    """A header's slot is the same whatever the case of its name (HTTP names are caseless)."""
    assert header_slot("X-Api-Key") == header_slot("x-api-key") == "header:x-api-key"
    assert auth_slot() == "auth"


# -- the real Secret Service ------------------------------------------------------------


def secret_tool_lookup(session: DesktopSession, username: str) -> subprocess.CompletedProcess[str]:
    """Ask libsecret's own command line tool, in the session's environment."""
    return subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE, "username", username],
        env=session.env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


@pytest.mark.desktop
async def test_values_are_stored_under_service_tidings_keyed_by_feed_id(
    gnome_keyring: DesktopSession,
) -> None:
    """The Secret Service holds the value under service "tidings", username "<feed>/<slot>"."""
    from support.desktop import require_binaries

    require_binaries("secret-tool")
    store = real_keyring()
    async with asyncio.timeout(LIMIT):
        await store.set("f-0a1b2c", auth_slot(), "stored-where-expected")
        await store.set("f-0a1b2c", header_slot("X-Api-Key"), "header-value")
    found = await asyncio.to_thread(secret_tool_lookup, gnome_keyring, "f-0a1b2c/auth")
    assert found.returncode == 0, found.stderr
    assert found.stdout == "stored-where-expected"
    found = await asyncio.to_thread(secret_tool_lookup, gnome_keyring, "f-0a1b2c/header:x-api-key")
    assert found.stdout == "header-value"
    async with asyncio.timeout(LIMIT):
        await store.delete("f-0a1b2c", auth_slot())
    gone = await asyncio.to_thread(secret_tool_lookup, gnome_keyring, "f-0a1b2c/auth")
    assert gone.returncode != 0
    assert gone.stdout == ""


@pytest.mark.desktop
async def test_the_default_backend_is_the_secret_service(gnome_keyring: DesktopSession) -> None:
    """Without a backend given, the store uses what keyring picks: here the Secret Service."""
    code = """
        import asyncio, json
        from tidings.core.secrets import KeyringStore
        store = KeyringStore(timeout=5)
        async def main():
            await store.set("f-default", "auth", "via-default")
            return await store.get("f-default", "auth")
        value = asyncio.run(main())
        print(json.dumps({"name": store.name, "value": value}))
    """
    result = await asyncio.to_thread(run_python, code, env=isolated_env(gnome_keyring.env))
    assert result["value"] == "via-default"
    assert result["name"] == "keyring.backends.SecretService.Keyring"


def keyring_owner_pid(session: DesktopSession) -> int:
    """The PID of the process that owns org.freedesktop.secrets on the test bus."""
    reply = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ],
        env=session.env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return int(reply.stdout.split()[-1])


@pytest.mark.desktop
async def test_a_silent_secret_service_times_out(gnome_keyring: DesktopSession) -> None:
    """A Secret Service that never answers (stopped) gives "timeout" in time, then recovers."""
    store = real_keyring(timeout=0.5)
    async with asyncio.timeout(LIMIT):
        await store.set("f-s", auth_slot(), "before-the-freeze")
    pid = keyring_owner_pid(gnome_keyring)
    os.kill(pid, signal.SIGSTOP)  # the daemon this test's fixture started
    try:
        started = time.monotonic()
        with pytest.raises(SecretStoreError) as caught:
            async with asyncio.timeout(LIMIT):
                await store.get("f-s", auth_slot())
        assert caught.value.state == "timeout"
        assert time.monotonic() - started < 3.0
        assert "unlock" in str(caught.value)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Once the daemon answers again, so does the same store: no restart needed.
    recovered = real_keyring(timeout=5.0)
    async with asyncio.timeout(LIMIT):
        assert await recovered.get("f-s", auth_slot()) == "before-the-freeze"
        assert await store.get("f-s", auth_slot()) == "before-the-freeze"


# -- a locked keyring -------------------------------------------------------------------


@pytest.mark.desktop
@pytest.mark.parametrize("operation", ["get", "set", "delete"])
async def test_a_never_unlocked_keyring_is_reported_locked(
    dbus_session: DesktopSession, operation: str
) -> None:
    """gnome-keyring started without a password: every call says "locked" and how to fix it.

    What really happens: there is no login collection yet, creating one needs a
    prompt, no prompter can be shown, and the Secret Service answers "Prompt
    dismissed" at once (keyring raises InitError); no hang.
    """
    dbus_session.start_keyring(password=None)
    store = real_keyring(timeout=3.0)
    calls = {
        "get": lambda: store.get("f-l", auth_slot()),
        "set": lambda: store.set("f-l", auth_slot(), "never-stored"),
        "delete": lambda: store.delete("f-l", auth_slot()),
    }
    started = time.monotonic()
    with pytest.raises(SecretStoreError) as caught:
        await asyncio.wait_for(calls[operation](), timeout=LIMIT)
    assert caught.value.state == "locked"
    assert "unlock" in str(caught.value)
    assert "never-stored" not in str(caught.value)
    assert time.monotonic() - started < 3.0


@pytest.mark.desktop
async def test_a_locked_keyring_leaves_no_connection_open(dbus_session: DesktopSession) -> None:
    """Failed calls on a locked keyring close their D-Bus connection (keyring itself does not)."""
    dbus_session.start_keyring(password=None)
    store = real_keyring(timeout=3.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            with pytest.raises(SecretStoreError):
                async with asyncio.timeout(LIMIT):
                    await store.get("f-l", auth_slot())
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


@pytest.mark.desktop
async def test_a_locked_collection_is_reported_and_usable_once_unlocked(
    gnome_keyring: DesktopSession,
) -> None:
    """A login keyring locked after use gives "locked"; once unlocked, the same store works."""
    import secretstorage
    from jeepney import DBusAddress, new_method_call

    store = real_keyring(timeout=3.0)
    async with asyncio.timeout(LIMIT):
        await store.set("f-k", auth_slot(), "kept-while-locked")
    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        collection.lock()
        assert collection.is_locked()
        for call in (
            store.get("f-k", auth_slot()),
            store.set("f-k", auth_slot(), "refused"),
            store.delete("f-k", auth_slot()),
        ):
            with pytest.raises(SecretStoreError) as caught:
                async with asyncio.timeout(LIMIT):
                    await call
            assert caught.value.state == "locked"
            assert "unlock" in str(caught.value)
        # The user unlocks it (here through gnome-keyring's own unlock call, as a login does).
        service = DBusAddress(
            "/org/freedesktop/secrets",
            bus_name="org.freedesktop.secrets",
            interface="org.freedesktop.Secret.Service",
        )
        opened = connection.send_and_get_reply(
            new_method_call(service, "OpenSession", "sv", ("plain", ("s", ""))), timeout=5
        )
        internal = DBusAddress(
            "/org/freedesktop/secrets",
            bus_name="org.freedesktop.secrets",
            interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
        )
        password = b"tidings-test-password"  # the fixture's
        connection.send_and_get_reply(
            new_method_call(
                internal,
                "UnlockWithMasterPassword",
                "o(oayays)",
                (collection.collection_path, (opened.body[1], b"", password, "text/plain")),
            ),
            timeout=5,
        )
        assert not collection.is_locked()
    finally:
        connection.close()
    async with asyncio.timeout(LIMIT):
        assert await store.get("f-k", auth_slot()) == "kept-while-locked"


# -- no keyring at all, and backends that must be refused ------------------------------


def isolated_env(base: dict[str, str] | None = None, **changes: str | None) -> dict[str, str]:
    """An environment for a child Python: our sources on the path, no keyring config of the host."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "app"), str(ROOT / "tests")])
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code: str, *, env: dict[str, str], within: float = 30.0) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; return the JSON object it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=within,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


NO_BUS_PROBE = """
    import asyncio, json
    from tidings.core.errors import SecretStoreError
    from tidings.core.secrets import KeyringStore
    store = KeyringStore(timeout=5)
    states = {}
    async def main():
        for name, call in (
            ("get", lambda: store.get("f-1", "auth")),
            ("set", lambda: store.set("f-1", "auth", "must-not-land-anywhere")),
            ("delete", lambda: store.delete("f-1", "auth")),
        ):
            try:
                await call()
                states[name] = ["ok", ""]
            except SecretStoreError as exc:
                states[name] = [exc.state, str(exc)]
    asyncio.run(main())
    print(json.dumps({"states": states, "name": store.name}))
"""


@pytest.mark.parametrize(
    "bus_address",
    [pytest.param(None, id="no-bus-variable"), pytest.param("dead", id="dead-socket")],
)
def test_without_a_bus_the_keyring_is_unavailable(tmp_path: Path, bus_address: str | None) -> None:
    """No session bus: every call says "unavailable" with a way forward; nothing is stored."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    address = None if bus_address is None else f"unix:path={tmp_path / 'dead-bus'}"
    env = isolated_env(
        DBUS_SESSION_BUS_ADDRESS=address,
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_RUNTIME_DIR=str(runtime),
        DISPLAY=None,
    )
    result = run_python(NO_BUS_PROBE, env=env)
    states = result["states"]
    assert isinstance(states, dict)
    for name in ("get", "set", "delete"):
        state, message = states[name]
        assert state == "unavailable", (name, message)
        assert "Secret Service" in message
        assert "must-not-land-anywhere" not in message
    assert result["name"] == "keyring.backends.fail.Keyring (unusable)"
    # No plaintext fallback wrote the value anywhere under the child's home.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"must-not-land-anywhere" not in path.read_bytes(), path


class FakePlaintextKeyring:
    """Stands for keyrings.alt's file backends (not installed here): a dict that must stay empty."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.stored.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.stored[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.stored.pop((service, username))


FakePlaintextKeyring.__module__ = "keyrings.alt.file"


class FakeSafeKeyring(FakePlaintextKeyring):
    """A keyring that keeps secrets safely (for the seam's purposes)."""


FakeSafeKeyring.__module__ = __name__


class FakeChainer:
    """Stands for keyring.backends.chainer.ChainerBackend, which tries each backend in turn."""

    def __init__(self, *backends: object) -> None:
        self.backends = list(backends)

    def get_password(self, *args: str) -> str | None:
        raise AssertionError("the chainer itself must not be used")

    def set_password(self, *args: str) -> None:
        raise AssertionError("the chainer itself must not be used")

    def delete_password(self, *args: str) -> None:
        raise AssertionError("the chainer itself must not be used")


FakeChainer.__module__ = "keyring.backends.chainer"


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(keyring.backends.fail.Keyring(), id="fail"),
        pytest.param(keyring.backends.null.Keyring(), id="null"),
        pytest.param(FakePlaintextKeyring(), id="keyrings.alt"),
        pytest.param(FakeChainer(FakePlaintextKeyring()), id="chainer-of-plaintext"),
    ],
)
async def test_backends_that_store_nothing_or_plaintext_are_refused(
    backend: object, bounded: None
) -> None:
    """fail, null, keyrings.alt (also behind the chainer): "unavailable", nothing stored."""
    store = KeyringStore(backend=backend, timeout=2.0)
    for call in (
        lambda: store.get("f-1", auth_slot()),
        lambda: store.set("f-1", auth_slot(), "must-not-be-stored"),
        lambda: store.delete("f-1", auth_slot()),
    ):
        with pytest.raises(SecretStoreError) as caught:
            await call()
        assert caught.value.state == "unavailable"
        assert "GNOME Keyring" in str(caught.value)
    assert store.name.endswith("(unusable)")
    for member in [backend, *getattr(backend, "backends", [])]:
        assert not getattr(member, "stored", {})


async def test_the_chainer_is_reduced_to_its_safe_member(bounded: None) -> None:
    """A chainer of a plaintext and a safe backend: only the safe one ever sees a secret."""
    plaintext, safe = FakePlaintextKeyring(), FakeSafeKeyring()
    store = KeyringStore(backend=FakeChainer(plaintext, safe))
    await store.set("f-1", auth_slot(), "only-in-the-safe-one")
    assert await store.get("f-1", auth_slot()) == "only-in-the-safe-one"
    assert safe.stored == {(SERVICE, "f-1/auth"): "only-in-the-safe-one"}
    assert plaintext.stored == {}
    assert store.name == f"{__name__}.FakeSafeKeyring"


class RaisingKeyring:
    """A backend whose every call raises the given exception."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def get_password(self, *args: str) -> str | None:
        raise self.exc

    def set_password(self, *args: str) -> None:
        raise self.exc

    def delete_password(self, *args: str) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "state"),
    [
        pytest.param(kerr.KeyringLocked("Failed to unlock the collection!"), "locked", id="locked"),
        pytest.param(kerr.NoKeyringError("no backend"), "unavailable", id="no-keyring"),
        pytest.param(kerr.InitError("Failed to create: bus gone"), "unavailable", id="init"),
        pytest.param(RuntimeError("D-Bus said no to 'leaky-secret'"), "error", id="other"),
    ],
)
async def test_backend_errors_become_secret_store_errors(
    exc: BaseException, state: str, bounded: None
) -> None:
    """Each kind of backend failure is a SecretStoreError with a state and no quoted secret."""
    store = KeyringStore(backend=RaisingKeyring(exc), timeout=2.0)
    with pytest.raises(SecretStoreError) as caught:
        await store.set("f-1", auth_slot(), "leaky-secret")
    assert caught.value.state == state
    assert "leaky-secret" not in str(caught.value)
    assert caught.value.__cause__ is None


# -- the timeout --------------------------------------------------------------------------


class BlockingKeyring:
    """A backend whose get_password blocks until released (forever, unless the test releases it)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self.values: dict[str, str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        self.entered += 1
        self.release.wait()
        return self.values.get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[username] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop(username, None)


@pytest.fixture
def blocking() -> Iterator[BlockingKeyring]:
    """A blocking backend whose threads are released when the test ends."""
    backend = BlockingKeyring()
    try:
        yield backend
    finally:
        backend.release.set()


def keyring_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tidings-keyring" and t.is_alive()]


async def test_a_blocked_call_times_out_while_the_loop_runs_on(blocking: BlockingKeyring) -> None:
    """get() on a backend that never returns: "timeout" after 0.3 s; other tasks keep ticking."""
    store = KeyringStore(backend=blocking, timeout=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        with pytest.raises(SecretStoreError) as caught:
            async with asyncio.timeout(LIMIT):
                await store.get("f-1", auth_slot())
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    elapsed = time.monotonic() - started
    assert caught.value.state == "timeout"
    assert "0.3 s" in str(caught.value)
    assert "unlock" in str(caught.value)
    assert 0.25 <= elapsed < 1.5
    assert ticks >= 10  # the loop ran all along
    blocked = keyring_threads()
    assert blocked, "the blocked call's thread should still be there"
    assert all(t.daemon for t in blocked)


async def test_stuck_calls_are_capped_and_recover(blocking: BlockingKeyring) -> None:
    """Calls behind several stuck ones fail at once without a new thread; then recover."""
    store = KeyringStore(backend=blocking, timeout=0.05)
    async with asyncio.timeout(LIMIT):
        for _ in range(4):
            with pytest.raises(SecretStoreError):
                await store.get("f-1", auth_slot())
        assert blocking.entered == 4
        started = time.monotonic()
        with pytest.raises(SecretStoreError) as caught:
            await store.get("f-1", auth_slot())
        assert caught.value.state == "timeout"
        assert time.monotonic() - started < 0.5
        assert blocking.entered == 4  # no fifth thread was started
        blocking.release.set()
        while keyring_threads():
            await asyncio.sleep(0.01)
        await store.set("f-1", auth_slot(), "after-recovery")
        assert await store.get("f-1", auth_slot()) == "after-recovery"


def test_a_call_that_returns_after_its_loop_closed_is_harmless(
    blocking: BlockingKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out call whose backend finally answers after the loop closed raises nowhere."""
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    store = KeyringStore(backend=blocking, timeout=0.05)

    async def main() -> str:
        try:
            await store.get("f-1", auth_slot())
        except SecretStoreError as exc:
            return exc.state
        return "answered"

    assert asyncio.run(main()) == "timeout"
    threads = keyring_threads()
    blocking.release.set()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert failures == []


def test_a_blocked_call_does_not_keep_the_interpreter_alive(tmp_path: Path) -> None:
    """The thread of a call blocked forever is a daemon: the process still exits promptly."""
    code = """
        import asyncio, json, threading
        from tidings.core.errors import SecretStoreError
        from tidings.core.secrets import KeyringStore

        class Forever:
            def get_password(self, service, username):
                threading.Event().wait()

        async def main():
            try:
                await KeyringStore(backend=Forever(), timeout=0.3).get("f-1", "auth")
            except SecretStoreError as exc:
                return exc.state

        state = asyncio.run(main())
        blocked = [t.daemon for t in threading.enumerate() if t.name == "tidings-keyring"]
        print(json.dumps({"state": state, "blocked": blocked}))
    """
    started = time.monotonic()
    result = run_python(code, env=isolated_env(), within=10.0)
    assert time.monotonic() - started < 5.0
    assert result == {"state": "timeout", "blocked": [True]}
