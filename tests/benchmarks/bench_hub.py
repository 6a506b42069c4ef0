"""What an idle feed costs: RSS of a process running a hub with 0, 50 and 200 idle open feeds.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_hub.py               # http, 3 rounds, ~30 s
    .venv/bin/python tests/benchmarks/bench_hub.py --tls         # https too (self-signed CA)
    .venv/bin/python tests/benchmarks/bench_hub.py --counts 0 200 500 --repeats 1

A server child process (asyncio, 127.0.0.1) answers every path with one
event and then only a keep-alive comment every few seconds. For each feed
count, a fresh hub child process imports Tidings, opens a history store in a
temporary directory, starts a hub (in-memory secrets, default policy) with
that many feeds (``/f/0``, ``/f/1``, ... on the server), waits until every
feed is OPEN and has stored its one event, lets the process settle, runs
``gc.collect()`` and reads its own ``VmRSS`` from ``/proc/self/status``. The
0-feed run pays for the same imports and the open store, so
``(RSS(n) - RSS(0)) / n`` is what one idle feed costs. Each count runs
``--repeats`` times in fresh processes; the medians are printed.

Also printed: the time from ``hub.start()`` until the last feed is OPEN with
its event stored, the longest the event loop was stalled meanwhile (the
worst gap between 10 ms ticks of another task, beyond 10 ms: what a GUI
would feel), the time ``hub.stop()`` takes, and the open file
descriptors (one socket per feed: SSE.md section 5 gives each feed its own
connection).

This script prints figures and never asserts on them (see README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
# Bounds: no wait in this script is longer than these.
OPEN_WITHIN = 120.0
CHILD_WITHIN = 300.0
SERVER_LIFETIME = 1800.0


def rss_mib() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


# -- the server child ----------------------------------------------------------------------


async def serve(keepalive: float, cert: str | None, key: str | None) -> None:
    """Answer each request with one event, then a keep-alive comment every ``keepalive`` s."""
    import ssl

    context = None
    if cert and key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )

    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + b"id: 1\ndata: hello, idle feed\n\n")
            await writer.drain()
            for _ in range(int(SERVER_LIFETIME / keepalive) + 1):
                await asyncio.sleep(keepalive)
                writer.write(b": keep-alive\n\n")
                await writer.drain()
        except (Exception, asyncio.CancelledError):
            pass  # the client went away, or the server is shutting down
        finally:
            handlers.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048, ssl=context)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def watch_stdin() -> None:  # the parent closes our stdin (or dies): stop
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=SERVER_LIFETIME)
    server.close()
    for task in list(handlers):
        task.cancel()
    await asyncio.wait(handlers or {asyncio.create_task(asyncio.sleep(0))}, timeout=10)


# -- the hub child -------------------------------------------------------------------------


async def run_hub(base: str, count: int, ca_file: str | None, settle: float) -> dict[str, Any]:
    from tidings.core.history import HistoryStore, StoredEvent
    from tidings.core.hub import Hub
    from tidings.core.models import ConnectionState, Feed, FeedStatus, TlsOptions
    from tidings.core.secrets import MemoryStore

    class Counter:
        def __init__(self) -> None:
            self.open: set[str] = set()
            self.events: set[str] = set()
            self.changed = asyncio.Event()

        def events_stored(self, feed: Feed, events: Any) -> None:
            self.events.add(feed.id)
            self.changed.set()

        def status_changed(self, feed: Feed, status: FeedStatus) -> None:
            if status.state is ConnectionState.OPEN:
                self.open.add(feed.id)
            else:
                self.open.discard(feed.id)
            self.changed.set()

    assert StoredEvent  # imported like a real composition root would
    tmp = Path(tempfile.mkdtemp(prefix="tidings-bench-hub-"))
    try:
        store = HistoryStore(tmp / "history.sqlite3")
        await store.open()
        sink = Counter()
        hub = Hub(store=store, secrets=MemoryStore(), sinks=[sink])
        tls = TlsOptions(ca_file=ca_file) if ca_file else TlsOptions()
        feeds = [
            Feed(id=f"f{i}", name=f"feed {i}", url=f"{base}/f/{i}", tls=tls) for i in range(count)
        ]
        gc.collect()
        before = rss_mib()
        stalls: list[float] = []

        async def ticker() -> None:
            # How long the loop was busy elsewhere: the worst gap between 10 ms ticks.
            last = time.perf_counter()
            for _ in range(int(OPEN_WITHIN / 0.01)):
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                stalls.append(now - last - 0.01)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.perf_counter()
        await hub.start(feeds)
        async with asyncio.timeout(OPEN_WITHIN):
            while len(sink.open) < count or len(sink.events) < count:
                sink.changed.clear()
                await sink.changed.wait()
        opened = time.perf_counter() - started
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await asyncio.sleep(settle)
        gc.collect()
        after = rss_mib()
        fds = open_fds()
        stopping = time.perf_counter()
        await hub.stop()
        stopped = time.perf_counter() - stopping
        stored = await store.count()
        await store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "count": count,
        "rss_mib": after,
        "rss_before_start_mib": before,
        "open_s": opened,
        "max_stall_ms": max(stalls, default=0.0) * 1000,
        "stop_s": stopped,
        "fds": fds,
        "stored": stored,
    }


# -- the orchestrator ----------------------------------------------------------------------


def make_cert(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


def measure(
    scheme: str, counts: list[int], repeats: int, settle: float, keepalive: float
) -> dict[int, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="tidings-bench-cert-") as folder:
        cert = key = None
        if scheme == "https":
            cert, key = make_cert(Path(folder))
        server_cmd = [sys.executable, str(HERE), "--role", "server", "--keepalive", str(keepalive)]
        if cert and key:
            server_cmd += ["--cert", cert, "--key", key]
        server = subprocess.Popen(
            server_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env()
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            base = f"{scheme}://127.0.0.1:{port}"
            results: dict[int, list[dict[str, Any]]] = {c: [] for c in counts}
            for round_ in range(repeats):
                for count in counts:
                    cmd = [
                        sys.executable, str(HERE), "--role", "hub", "--base", base,
                        "--count", str(count), "--settle", str(settle),
                    ]  # fmt: skip
                    if cert:
                        cmd += ["--ca-file", cert]
                    done = subprocess.run(
                        cmd,
                        check=False,
                        capture_output=True,
                        text=True,
                        timeout=CHILD_WITHIN,
                        env=child_env(),
                    )
                    if done.returncode != 0:
                        sys.exit(f"hub child failed ({count} feeds):\n{done.stderr}")
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    results[count].append(result)
                    print(
                        f"  {scheme} round {round_ + 1}/{repeats}: {count:4d} feeds  "
                        f"RSS {result['rss_mib']:7.1f} MiB  open {result['open_s']:6.2f} s",
                        file=sys.stderr,
                    )
            return results
        finally:
            if server.stdin is not None:
                server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def report(scheme: str, results: dict[int, list[dict[str, Any]]]) -> None:
    def med(count: int, key: str) -> float:
        return statistics.median(r[key] for r in results[count])

    counts = sorted(results)
    base = counts[0]
    print(f"\n{scheme}: hub process RSS with idle open feeds (median of {len(results[base])})")
    print(
        f"{'feeds':>6} {'RSS MiB':>9} {'min-max':>13} {'MiB/feed':>9} {'KiB/feed':>9} "
        f"{'marginal KiB':>13} {'all OPEN s':>11} {'stall ms':>9} {'stop s':>7} {'fds':>5}"
    )
    previous = base
    for count in counts:
        rss = med(count, "rss_mib")
        low = min(r["rss_mib"] for r in results[count])
        high = max(r["rss_mib"] for r in results[count])
        if count == base:
            per_text = f"{'-':>9} {'-':>9} {'-':>13}"
        else:
            per = (rss - med(base, "rss_mib")) / (count - base)
            # Between this count and the one before: fixed costs (a first TLS
            # handshake loading the trust store, say) are left out.
            marginal = (rss - med(previous, "rss_mib")) / (count - previous) * 1024
            per_text = f"{per:9.3f} {per * 1024:9.0f} {marginal:13.0f}"
        previous = count
        print(
            f"{count:6d} {rss:9.1f} {f'{low:.1f}-{high:.1f}':>13} {per_text} "
            f"{med(count, 'open_s'):11.2f} {med(count, 'max_stall_ms'):9.0f} "
            f"{med(count, 'stop_s'):7.2f} {int(med(count, 'fds')):5d}"
        )
        if any(r["stored"] != count for r in results[count]):
            print(f"       (warning: a run stored {[r['stored'] for r in results[count]]} events)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--role", choices=("main", "server", "hub"), default="main")
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 50, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds idle before measuring")
    parser.add_argument("--keepalive", type=float, default=5.0)
    parser.add_argument("--tls", action="store_true", help="also measure https feeds")
    parser.add_argument("--base")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--ca-file")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    if args.role == "server":
        asyncio.run(serve(args.keepalive, args.cert, args.key))
        return
    if args.role == "hub":
        result = asyncio.run(run_hub(args.base, args.count, args.ca_file, args.settle))
        print(json.dumps(result))
        return

    counts = sorted(set(args.counts))
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}",
    )
    for scheme in ("http", "https") if args.tls else ("http",):
        report(scheme, measure(scheme, counts, args.repeats, args.settle, args.keepalive))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
