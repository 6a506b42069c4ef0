"""The fault cases, shared by the pytest suite (small counts) and fault_suite.py (large).

The client is ``tidings listen URL --json`` in a child process (what a user
or a script runs; its stdout is the delivered events, its stderr says each
connection attempt), except for the DNS case, whose seam is the Hub's
``transport_factory``, and the feed's ``tls.ca_file``: those run a Hub (what
the apps run, with a real history store) in this process. Servers are
:class:`~faults.servers.FaultServer` on 127.0.0.1, in this process's loop
or, for the kill-and-restart cases, a process of their own. Each case
returns a :class:`Row`; nothing here asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import itertools
import json
import os
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from faults.servers import FaultServer, payload
from tidings.core.history import HistoryStore, StoredEvent
from tidings.core.hub import Hub
from tidings.core.models import ConnectionPolicy, ConnectionState, Feed, FeedStatus, TlsOptions
from tidings.core.secrets import MemoryStore

SERVERS_PY = Path(__file__).with_name("servers.py")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SECRET = "s3cret-token-0xFA17"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUTF8"] = "1"
    env.pop("PYTHONUNBUFFERED", None)
    env.update(extra or {})
    return env


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


@dataclass
class ListenRun:
    """What one ``tidings listen --json`` child did, with arrival times (monotonic s)."""

    returncode: int | None = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    stderr: list[tuple[float, str]] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    peak_rss_kib: int = 0
    timed_out: bool = False

    @property
    def ticks(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e.get("event") == "tick"]

    @property
    def attempts(self) -> int:
        return sum(1 for _, line in self.stderr if "connecting to" in line)

    @property
    def error_line(self) -> str:
        return next((line for _, line in self.stderr if line.startswith("error: ")), "")

    @property
    def stderr_text(self) -> str:
        return "\n".join(line for _, line in self.stderr)


async def run_listen(
    url: str,
    *extra: str,
    env: dict[str, str] | None = None,
    limit: float = 60.0,
    stop_after: float | None = None,
    during: Callable[[ListenRun], Awaitable[None]] | None = None,
) -> ListenRun:
    """Run the client until it exits, ``stop_after`` s pass (SIGTERM) or ``limit`` s (kill)."""
    run = ListenRun()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "listen",
        url,
        "--json",
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(env),
        limit=16 * 1024 * 1024,
    )
    run.started = time.monotonic()
    assert proc.stdout is not None
    assert proc.stderr is not None

    async def pump_out(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            run.events.append((time.monotonic(), json.loads(line)))

    async def pump_err(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            run.stderr.append((time.monotonic(), text))

    async def sample_rss() -> None:
        while True:
            hwm = _vm_hwm_kib(proc.pid)
            if hwm is not None:
                run.peak_rss_kib = max(run.peak_rss_kib, hwm)
            await asyncio.sleep(0.05)

    helpers = [asyncio.create_task(sample_rss())]
    if during is not None:
        helpers.append(asyncio.create_task(during(run)))
    pumps = asyncio.gather(pump_out(proc.stdout), pump_err(proc.stderr))
    try:
        wait = stop_after if stop_after is not None else limit
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=wait)
        except TimeoutError:
            run.timed_out = stop_after is None
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM if stop_after is not None else signal.SIGKILL)
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        run.ended = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pumps, timeout=10)
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumps
    run.returncode = proc.returncode
    return run


@dataclass
class Row:
    """One case's figures (``None``: does not apply)."""

    case: str
    client: str = "listen"
    sent: int | None = None
    received: int | None = None
    lost: int | None = None
    dup: int | None = None
    bad_data: int = 0
    recovery: float | None = None
    attempts: int = 0
    duration: float = 0.0
    rss_mib: float | None = None
    outcome: str = ""
    run: ListenRun | None = None
    statuses: list[FeedStatus] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def per_minute(self) -> float:
        return self.attempts / self.duration * 60 if self.duration > 0 else 0.0


def _figures(row: Row, total: int, arrivals: Sequence[tuple[float, int, str]]) -> Row:
    """Fill sent/received/lost/dup/bad data/recovery from (time, id, data) of each tick."""
    ids = [i for _, i, _ in arrivals]
    distinct = set(ids)
    row.sent = total
    row.received = len(ids)
    row.lost = len(set(range(1, total + 1)) - distinct)
    row.dup = len(ids) - len(distinct)
    row.bad_data = sum(1 for _, i, data in arrivals if data != payload(i))
    times = [t for t, _, _ in arrivals]
    row.recovery = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    return row


def listen_row(case: str, run: ListenRun, total: int | None) -> Row:
    """The figures of one run; recovery also counts the wait before the first event."""
    row = Row(case=case, run=run)
    if total is not None:
        arrivals = [(t, int(e["id"]), e["data"]) for t, e in run.ticks]
        _figures(row, total, arrivals)
        connecting = next((t for t, line in run.stderr if "connecting to" in line), None)
        if arrivals and connecting is not None and row.recovery is not None:
            row.recovery = max(row.recovery, arrivals[0][0] - connecting)
    row.attempts = run.attempts
    row.duration = run.ended - run.started
    row.rss_mib = run.peak_rss_kib / 1024
    error = run.error_line
    row.outcome = f"exit {run.returncode}" + (f": {error}" if error else "")
    if run.timed_out:
        row.outcome += " (timed out)"
    return row


# -- the cases -----------------------------------------------------------------


class ServerProcess:
    """``servers.py`` in a process of its own, on a port that survives restarts."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.kills: list[tuple[float, float]] = []  # (killed at, back at)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVERS_PY),
            "--port",
            str(self.port),
            stdout=asyncio.subprocess.PIPE,
            env=child_env({"PYTHONPATH": str(SERVERS_PY.parent.parent)}),
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=15)
        self.port = int(line.split()[1])

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def outage(self, seconds: float) -> None:
        """SIGKILL the server, keep the port closed ``seconds``, start it again."""
        killed = time.monotonic()
        await self.kill()
        await asyncio.sleep(seconds)
        await self.start()
        self.kills.append((killed, time.monotonic()))


async def case_kill_restart(*, total: int, rate: int, every: float, down: float) -> Row:
    """SIGKILL the server process every ``every`` s, down ``down`` s each time."""
    server = ServerProcess()
    await server.start()
    try:

        async def killer(run: ListenRun) -> None:
            for _ in range(100):
                await asyncio.sleep(every)
                await server.outage(down)

        url = f"http://127.0.0.1:{server.port}/replay?total={total}&rate={rate}&retry=100"
        run = await run_listen(url, during=killer, limit=total / rate * 3 + 60)
    finally:
        await server.kill()
    row = listen_row(f"server SIGKILLed every {every:g} s, down {down:g} s", run, total)
    row.notes["kills"] = len(server.kills)
    row.recovery = _worst_recovery(run, server.kills)
    row.case += f" ({len(server.kills)}x)"
    return row


async def case_port_closed(*, total: int, rate: int, down: float) -> Row:
    """The server process is gone for ``down`` s once (connections refused meanwhile)."""
    server = ServerProcess()
    await server.start()
    try:

        async def once(run: ListenRun) -> None:
            await asyncio.sleep(total / rate / 3)
            await server.outage(down)

        url = f"http://127.0.0.1:{server.port}/replay?total={total}&rate={rate}&retry=100"
        run = await run_listen(url, during=once, limit=total / rate * 3 + down + 60)
    finally:
        await server.kill()
    row = listen_row(f"port closed {down:g} s, then back", run, total)
    row.recovery = _worst_recovery(run, server.kills)
    return row


def _worst_recovery(run: ListenRun, kills: Sequence[tuple[float, float]]) -> float | None:
    """The longest time from a server coming back to the next event the client printed."""
    worst: float | None = None
    for _killed, back in kills:
        after = [t for t, _ in run.ticks if t >= back]
        if after:
            worst = max(worst or 0.0, after[0] - back)
    return worst


async def case_cuts(*, total: int, query: str = "", label: str = "") -> Row:
    async with FaultServer() as server:
        url = server.url(f"/replay?cut=1&total={total}&retry=10&seed=7{query}")
        run = await run_listen(url)
        row = listen_row(label or f"cut every 20-50 events, {total:,} events", run, total)
        row.notes["connections"] = sum(server.requests.values())
        row.notes["header_names"] = server.header_names
    return row


async def case_fault(
    fault: str,
    *,
    total: int,
    extra: Sequence[str] = (),
    query: str = "",
    label: str = "",
    sent: int | None = None,
) -> Row:
    """``/replay`` with ``fault=<fault>`` on the first connection; the client reconnects.

    ``fault=""`` is the plain stream (with ``query``: ``&drip=3``). ``sent``: how
    many events the server sends when that is fewer than ``total``.
    """
    async with FaultServer() as server:
        url = server.url(f"/replay?fault={fault}&total={total}{query}")
        run = await run_listen(url, *extra, limit=90)
        row = listen_row(label or fault, run, total)
        if sent is not None:
            _figures(row, sent, [(t, int(e["id"]), e["data"]) for t, e in run.ticks])
        row.notes["header_names"] = server.header_names
        row.notes["requests"] = sum(server.requests.values())
        row.notes["faults"] = [e for _, e in run.events if e.get("event") == "fault"]
        row.notes["headers"] = [e for _, e in run.events if e.get("event") == "headers"]
    return row


async def case_forever(path: str, *, seconds: float, label: str) -> Row:
    """A server that never delivers: count the attempts in ``seconds``."""
    async with FaultServer() as server:
        run = await run_listen(server.url(path), stop_after=seconds)
        row = listen_row(label, run, None)
        row.notes["requests"] = sum(server.requests.values())
    return row


async def case_fatal(path: str, *extra: str, label: str) -> Row:
    async with FaultServer() as server:
        run = await run_listen(server.url(path), *extra, limit=30)
        row = listen_row(label, run, None)
        row.notes["requests"] = sum(server.requests.values())
    return row


class FailingDNS(httpx.AsyncBaseTransport):
    """The seam: the first ``failures`` connection attempts fail as a DNS lookup does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.failures:
            raise httpx.ConnectError(
                "[Errno -3] Temporary failure in name resolution", request=request
            )
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


class _HubSink:
    """Collects what the hub stores and the statuses it reports, with arrival times."""

    def __init__(self) -> None:
        self.events: list[tuple[float, StoredEvent]] = []
        self.statuses: list[FeedStatus] = []
        self.stopped = asyncio.Event()

    def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
        now = time.monotonic()
        self.events.extend((now, e) for e in events)

    def status_changed(self, feed: Feed, status: FeedStatus) -> None:
        self.statuses.append(status)
        if status.state is ConnectionState.STOPPED:
            self.stopped.set()


async def run_hub_feed(
    url: str,
    *,
    total: int,
    label: str,
    transport: httpx.AsyncBaseTransport | None = None,
    tls: TlsOptions | None = None,
) -> Row:
    """One feed in a Hub (in this process) with a real history store, until it stops."""
    sink = _HubSink()
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore(Path(folder) / "history.sqlite3")
        await store.open()
        hub = Hub(
            store=store,
            secrets=MemoryStore(),
            sinks=[sink],
            policy=ConnectionPolicy(reconnection_time=0.1, idle_timeout=10),
            transport_factory=None if transport is None else (lambda feed: transport),
        )
        feed = Feed(id="fault", name="fault", url=url, tls=tls or TlsOptions())
        started = time.monotonic()
        try:
            await hub.start([feed])
            async with asyncio.timeout(60):
                await sink.stopped.wait()
            ended = time.monotonic()
            stored = await store.recent("fault", limit=total * 2 + 10)
        finally:
            await hub.stop()
            await store.close()
    ticks = [(t, int(e.event_id), e.data) for t, e in sink.events if e.type == "tick"]
    row = _figures(Row(case=label, client="Hub"), total, ticks)
    row.statuses = sink.statuses
    row.attempts = sum(1 for s in sink.statuses if s.state is ConnectionState.CONNECTING)
    row.duration = ended - started
    if ticks and row.recovery is not None:
        row.recovery = max(row.recovery, ticks[0][0] - started)
    final = sink.statuses[-1]
    row.outcome = f"stopped: {final.message}"
    row.notes["stored_ids"] = sorted(int(e.event_id) for e in stored if e.type == "tick")
    row.notes["retry_messages"] = [
        s.message for s in sink.statuses if s.state is ConnectionState.RETRYING
    ]
    return row


async def case_dns(*, total: int, failures: int) -> Row:
    """DNS fails ``failures`` times (the Hub's transport_factory seam), then resolves."""
    transport = FailingDNS(failures)
    async with FaultServer() as server:
        row = await run_hub_feed(
            server.url(f"/replay?total={total}&retry=100"),
            total=total,
            label=f"DNS fails {failures}x (transport seam)",
            transport=transport,
        )
    row.notes["connecting_statuses"] = row.attempts
    row.attempts = transport.calls  # each a connection attempt, failed lookups included
    return row


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings fault-suite CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


async def case_tls(*, trusted: bool, total: int) -> Row:
    """An https server whose certificate comes from a private CA, trusted or not.

    ``listen`` has no CA option: it uses the OS trust store (truststore), which
    OpenSSL's ``SSL_CERT_FILE`` points at a bundle; feeds have ``tls.ca_file``.
    """
    with tempfile.TemporaryDirectory() as folder:
        ca, cert, key = make_certificates(Path(folder))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        async with FaultServer(ssl_context=context) as server:
            url = server.url(f"/replay?total={total}").replace("http://", "https://")
            env = {"SSL_CERT_FILE": str(ca)} if trusted else None
            run = await run_listen(url, env=env, limit=30)
    label = "TLS, private CA configured" if trusted else "TLS, private CA not configured"
    return listen_row(label, run, total if trusted else None)


async def case_tls_ca_file(*, total: int) -> Row:
    """The app's way to trust a private CA: the feed's ``tls.ca_file``, in a Hub."""
    with tempfile.TemporaryDirectory() as folder:
        ca, cert, key = make_certificates(Path(folder))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        async with FaultServer(ssl_context=context) as server:
            url = server.url(f"/replay?total={total}").replace("http://", "https://")
            return await run_hub_feed(
                url,
                total=total,
                label="TLS, private CA as the feed's ca_file",
                tls=TlsOptions(ca_file=str(ca)),
            )
