"""Throughput and memory of ``tidings listen --json`` against a bare httpx-sse loop.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_listen.py            # full run, about a minute
    .venv/bin/python tests/benchmarks/bench_listen.py --quick    # half the events, 2 rounds
    .venv/bin/python tests/benchmarks/bench_listen.py --profile  # cProfile of both clients

A separate server process (plain sockets, one prebuilt payload per stream,
written with one ``sendall`` and then closed) serves each stream on
127.0.0.1. Both clients run as child processes with stdout to /dev/null; each
run is timed from ``Popen`` to ``os.wait4`` in this process, which also gives
the child's peak RSS. A "startup only" run against an empty stream gives the
fixed cost, so the per-event figure is ``(total - startup) / events``; the
same is done with the children's CPU time, which a busy machine disturbs less.

This script prints figures and never asserts on timings (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import pstats
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline_httpx_sse.py"

# The bar: tidings / httpx-sse throughput in every size case.
BAR = 0.8
GOAL = 1.0

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Connection: close\r\n"
    b"\r\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# -- the streams ------------------------------------------------------------


def _filler(size: int, seed: int) -> str:
    """Text of exactly ``size`` UTF-8 bytes: mostly ASCII words, a few accented ones."""
    words = ("lorem", "ipsum", "dolor", "sit", "amet", "café", "naïve", "déjà", "vu", "über")
    out: list[str] = []
    length = 0
    i = seed
    while length < size:
        word = words[i % len(words)] + " "
        i += 7
        out.append(word)
        length += len(word.encode("utf-8"))
    text = "".join(out).encode("utf-8")[:size].decode("utf-8", "ignore")
    return text + "x" * (size - len(text.encode("utf-8")))


def _small(n: int) -> Iterator[bytes]:
    # ~40 bytes of data, with id and event lines: a chat or ticker feed.
    for i in range(n):
        data = f'{{"seq":{i},"user":"u{i % 97:02d}","msg":"hi there"}}'
        yield f"id: {i}\nevent: tick\ndata: {data}\n\n".encode()


def _sized(n: int, size: int) -> Iterator[bytes]:
    # A JSON object of exactly ``size`` bytes of UTF-8 on one data line.
    body = _filler(size - len('{"seq":0000000,"text":""}'), 3)
    for i in range(n):
        data = f'{{"seq":{i:07d},"text":"{body}"}}'
        yield f"id: {i}\nevent: doc\ndata: {data}\n\n".encode()


def _keepalive(n: int) -> Iterator[bytes]:
    # Four keep-alive comment blocks before each small event. No ids: after an
    # id, httpx-sse 0.4.3 turns each comment block into a phantom empty event
    # (SSE.md section 2), and the two clients would not print the same lines.
    ping = b": keep-alive\n\n" * 4
    for i in range(n):
        data = f'{{"seq":{i},"user":"u{i % 97:02d}","msg":"hi there"}}'
        yield ping + f"event: tick\ndata: {data}\n\n".encode()


@dataclass(frozen=True)
class Case:
    """One stream shape."""

    name: str  # a key of _MAKERS
    events: int
    label: str
    in_bar: bool = True  # counted in the ratio verdict

    @property
    def path(self) -> str:
        return f"/{self.name}/{self.events}"

    def scaled(self, factor: int) -> Case:
        return Case(self.name, self.events * factor, self.label, self.in_bar)


_MAKERS: dict[str, Callable[[int], Iterator[bytes]]] = {
    "small": _small,
    "kib1": lambda n: _sized(n, 1024),
    "kib16": lambda n: _sized(n, 16 * 1024),
    "keepalive": _keepalive,
    "empty": lambda n: iter(()),
}


def cases(*, quick: bool) -> list[Case]:
    """The benchmark's streams; --quick halves the event counts."""
    div = 2 if quick else 1
    return [
        Case("small", 100_000 // div, "small (~40 B)"),
        Case("kib1", 10_000 // div, "1 KiB"),
        Case("kib16", 1_000 // div, "16 KiB"),
        Case("keepalive", 20_000 // div, "keep-alive x4", in_bar=False),
    ]


def payload(name: str, events: int) -> bytes:
    """The body of one stream."""
    return b"".join(_MAKERS[name](events))


# -- the server (a separate process) ------------------------------------------


def serve(specs: Sequence[str]) -> None:
    """Serve the prebuilt streams named ``NAME/EVENTS`` until killed; print the port first."""
    responses = {"/empty/0": _HEAD}
    for spec in specs:
        name, events = spec.split("/")
        responses[f"/{spec}"] = _HEAD + payload(name, int(events))
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(listener.getsockname()[1], flush=True)

    def handle(conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            target = request.split(b" ", 2)[1].decode("ascii", "replace").split("?")[0]
            with contextlib.suppress(OSError):
                # One large write (the kernel's send buffer autotunes): the bytes
                # move as fast as the client reads them.
                conn.sendall(responses.get(target, _NOT_FOUND))
                conn.shutdown(socket.SHUT_WR)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


class Server:
    """The server child process."""

    def __init__(self, specs: Sequence[str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", *specs],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip():
            raise SystemExit("the benchmark server did not start")
        self.port = int(line)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def raw_read(port: int, path: str) -> tuple[float, int]:
    """Read a whole response with a plain socket (the ceiling): seconds and bytes."""
    buf = bytearray(1024 * 1024)
    view = memoryview(buf)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        total = 0
        while n := sock.recv_into(view):
            total += n
    return time.perf_counter() - start, total


# -- running children -----------------------------------------------------------


@dataclass
class Run:
    """One child process run."""

    seconds: float
    cpu: float  # user + system CPU seconds of the child
    maxrss_kib: int
    exit_code: int
    stderr: str


@dataclass
class Series:
    """Repeated runs of one client on one stream."""

    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.exit_code == 0 for r in self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def spread(self) -> str:
        """The median total time with the fastest and slowest run."""
        times = [r.seconds for r in self.runs]
        return f"{self.seconds:.3f} ({min(times):.3f}-{max(times):.3f})"

    @property
    def rss_mib(self) -> float:
        return statistics.median(r.maxrss_kib for r in self.runs) / 1024


def child_env() -> dict[str, str]:
    """The environment of the clients: no proxy for loopback, nothing else changed."""
    env = dict(os.environ)
    for name in _PROXY_VARS:
        env.pop(name, None)
    return env


def tidings_cmd(url: str) -> list[str]:
    return [sys.executable, "-m", "tidings", "listen", url, "--json", "--once"]


def baseline_cmd(url: str, flush: str) -> list[str]:
    return [sys.executable, str(BASELINE), url, "--flush", flush]


def run_child(cmd: Sequence[str], *, stdout: IO[bytes] | int = subprocess.DEVNULL) -> Run:
    """Run one client; time it from start to exit and take its peak RSS from wait4."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen did not reap it itself
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss, proc.returncode, text)


def check_output(cmd: Sequence[str], expected: int) -> tuple[int, str, str]:
    """Run one client with stdout to a file: the count of JSON event lines, a digest, a note.

    The file is read line by line so this process stays small: on Linux a
    child's ru_maxrss starts from its parent's peak (it survives fork and exec).
    """
    digest = hashlib.sha256()
    count = 0
    with tempfile.TemporaryFile() as out:
        run = run_child(cmd, stdout=out)
        out.seek(0)
        for line in out:
            digest.update(line)
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict) and {"event", "data", "id"} <= obj.keys():
                    count += 1
    note = "" if run.exit_code == 0 else f"exit {run.exit_code}: {run.stderr.strip()[-300:]}"
    if count != expected and not note:
        note = f"{count} JSON lines for {expected} events"
    return count, digest.hexdigest(), note


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# -- reporting ------------------------------------------------------------------


def rate(events: int, total: float, startup: float) -> float | None:
    spent = total - startup
    return events / spent if spent > 0 else None


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("tidings", "httpx", "httpx-sse", "h11", "anyio"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
    return ", ".join(parts) + f"; {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


# -- the benchmark ----------------------------------------------------------------

CLIENTS = ("tidings", "baseline")


@dataclass
class Measured:
    """Everything one benchmark run measured."""

    cases: list[Case]
    long_small: Case
    sizes: dict[str, int] = field(default_factory=dict)
    ceiling: dict[str, float] = field(default_factory=dict)  # bytes per second
    correctness: list[list[str]] = field(default_factory=list)
    # case name -> client -> runs; the startup (empty stream) runs of each case's
    # rounds are pooled per client for the figures
    totals: dict[str, dict[str, Series]] = field(default_factory=dict)
    startups: dict[str, dict[str, Series]] = field(default_factory=dict)
    long_run: Run | None = None
    failures: list[str] = field(default_factory=list)

    def all_startups(self, who: str) -> Series:
        return Series([r for per in self.startups.values() for r in per[who].runs])


def bench(args: argparse.Namespace) -> int:
    quick = args.quick
    repeats = args.repeats or (2 if quick else 5)
    all_cases = cases(quick=quick)
    long_small = all_cases[0].scaled(4)
    started = time.perf_counter()
    print("tidings listen --json vs a bare httpx-sse loop")
    print(versions())
    print(
        f"mode: {'quick' if quick else 'default'}, {repeats} rounds alternating the clients, "
        f"median; httpx-sse loop flushes after each {args.baseline_flush}"
    )
    removed = [n for n in _PROXY_VARS if n in os.environ]
    if removed:
        print(f"(removed {', '.join(removed)} from the clients' environment)")
    load_before = os.getloadavg()[0]
    progress("building the streams in the server process")
    server = Server([c.path.lstrip("/") for c in [*all_cases, long_small]])
    try:
        measured = measure(args, server, all_cases, long_small, repeats)
    finally:
        server.close()
    report(measured)
    print(
        f"(whole run: {time.perf_counter() - started:.0f} s; load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after: other work on the "
        "machine widens the spread)"
    )
    return 0


def measure(
    args: argparse.Namespace, server: Server, all_cases: list[Case], long_small: Case, repeats: int
) -> Measured:
    m = Measured(all_cases, long_small)

    def command(who: str, url: str) -> list[str]:
        return tidings_cmd(url) if who == "tidings" else baseline_cmd(url, args.baseline_flush)

    # The ceiling: how fast the server delivers each stream to a plain socket reader.
    for case in all_cases:
        seconds, size = min(raw_read(server.port, case.path) for _ in range(3))
        m.sizes[case.name] = size
        m.ceiling[case.name] = size / seconds

    # Correctness, one run each (also the warm-up): the count of JSON lines, same bytes.
    empty = server.url("/empty/0")
    for who in CLIENTS:
        run_child(command(who, empty))
    for case in all_cases:
        progress(f"correctness run: {case.label}")
        url = server.url(case.path)
        t_count, t_digest, t_note = check_output(command("tidings", url), case.events)
        b_count, b_digest, b_note = check_output(command("baseline", url), case.events)
        same = "yes" if t_digest == b_digest else "NO"
        m.correctness.append([case.label, f"{case.events:,}", f"{t_count:,}", f"{b_count:,}", same])
        for who, note in (("tidings", t_note), ("httpx-sse", b_note)):
            if note:
                m.failures.append(f"{case.label}, {who}: {note}")

    # The timed runs: in each round, each client runs the empty stream and then the
    # case's stream, so the startup runs are spread over the same stretch of time
    # (and load) as the runs they are subtracted from.
    for case in all_cases:
        progress(f"timed runs: {case.label}, {case.events:,} events, {repeats} rounds")
        url = server.url(case.path)
        totals = {who: Series() for who in CLIENTS}
        startups = {who: Series() for who in CLIENTS}
        for rep in range(repeats):
            for who in CLIENTS if rep % 2 == 0 else reversed(CLIENTS):
                startups[who].runs.append(run_child(command(who, empty)))
                totals[who].runs.append(run_child(command(who, url)))
        for who in CLIENTS:
            for run in (*startups[who].runs, *totals[who].runs):
                if run.exit_code != 0:
                    m.failures.append(
                        f"{case.label}, {who}: exit {run.exit_code}: {run.stderr[-300:]}"
                    )
                    break
        m.totals[case.name] = totals
        m.startups[case.name] = startups

    # Memory flat in the stream length: the small stream at 4x.
    progress(f"memory run: {long_small.label} x4, {long_small.events:,} events")
    m.long_run = run_child(tidings_cmd(server.url(long_small.path)))
    if m.long_run.exit_code != 0:
        m.failures.append(f"x4, tidings: exit {m.long_run.exit_code}: {m.long_run.stderr[-300:]}")
    return m


def verdict(m: Measured, ratios: dict[str, float | None]) -> str:
    """The ratio verdict against the bar and the goal, over the cases in the bar."""
    in_bar = [ratios[c.name] for c in m.cases if c.in_bar]
    if m.failures or any(r is None for r in in_bar):
        return "none: a run failed or a stream was too short to measure"
    worst = min(r for r in in_bar if r is not None)
    if worst >= GOAL:
        text = f"meets the goal, {GOAL:.1f}x httpx-sse or better in every size"
    elif worst >= BAR:
        text = f"meets the bar ({BAR:.1f}x in every size), not the goal ({GOAL:.1f}x)"
    else:
        text = f"BELOW the bar of {BAR:.1f}x httpx-sse"
    return f"{text}; worst size {worst:.3f}x"


def report(m: Measured) -> None:
    t_startup = m.all_startups("tidings")
    b_startup = m.all_startups("baseline")
    print()
    print(
        f"startup only (empty stream, {len(t_startup.runs)} runs each): tidings "
        f"{t_startup.spread} s, peak RSS {t_startup.rss_mib:.1f} MiB; httpx-sse loop "
        f"{b_startup.spread} s, peak RSS {b_startup.rss_mib:.1f} MiB"
    )
    print()
    rows: list[list[str]] = []
    detail: list[list[str]] = []
    ratios: dict[str, float | None] = {}
    cpu_ratios: dict[str, float | None] = {}
    for case in m.cases:
        t, b = m.totals[case.name]["tidings"], m.totals[case.name]["baseline"]
        ts, bs = t_startup, b_startup
        t_rate = rate(case.events, t.seconds, ts.seconds)
        b_rate = rate(case.events, b.seconds, bs.seconds)
        ratio = t_rate / b_rate if t_rate and b_rate else None
        t_cpu = rate(case.events, t.cpu, ts.cpu)
        b_cpu = rate(case.events, b.cpu, bs.cpu)
        cpu_ratio = t_cpu / b_cpu if t_cpu and b_cpu else None
        ratios[case.name] = ratio
        cpu_ratios[case.name] = cpu_ratio
        rows.append(
            [
                case.label + ("" if case.in_bar else " *"),
                f"{case.events:,}",
                fmt_rate(t_rate),
                fmt_rate(b_rate),
                "n/a" if ratio is None else f"{ratio:.2f}x",
                "n/a" if cpu_ratio is None else f"{cpu_ratio:.2f}x",
                f"{t.rss_mib:.1f}",
                f"{b.rss_mib:.1f}",
            ]
        )
        ev_ceiling = m.ceiling[case.name] / m.sizes[case.name] * case.events
        faster = max(t_rate or 0, b_rate or 0)
        detail.append(
            [
                case.label,
                f"{m.sizes[case.name] / 2**20:.1f}",
                t.spread,
                b.spread,
                "n/a" if not t_rate else f"{1e6 / t_rate:.2f}",
                "n/a" if not b_rate else f"{1e6 / b_rate:.2f}",
                "n/a" if not t_cpu else f"{1e6 / t_cpu:.2f}",
                "n/a" if not b_cpu else f"{1e6 / b_cpu:.2f}",
                f"{m.ceiling[case.name] / 2**20:,.0f}",
                "n/a" if not faster else f"{ev_ceiling / faster:,.0f}x",
            ]
        )
    header = ["case", "events", "tidings ev/s", "httpx-sse ev/s", "ratio", "ratio (cpu)"]
    print(table(rows, [*header, "tidings RSS MiB", "baseline RSS MiB"]))
    print("  ev/s = events / (median total - median startup);")
    print("  ratio = tidings / httpx-sse; ratio (cpu) does the same with the children's CPU time")
    print("  (user + system, from wait4), which other work on the machine disturbs far less;")
    print("  RSS = median peak RSS of the runs (ru_maxrss)")
    print("  * not counted in the verdict: 4 keep-alive comments before each event, no ids")
    print()
    print(
        table(
            detail,
            [
                "case",
                "MiB sent",
                "tidings s (min-max)",
                "httpx-sse s (min-max)",
                "tidings us/ev",
                "httpx-sse us/ev",
                "cpu us/ev",
                "cpu us/ev",
                "ceiling MiB/s",
                "ceiling / faster",
            ],
        )
    )
    print("  s = median total per run, startup included; the ceiling is a plain socket read of")
    print("  the same stream by this process (best of 3): the server is not the bottleneck")
    print("  while 'ceiling / faster' (its events/s over the faster client's) is well above 1x")
    print()
    print(
        table(
            m.correctness,
            ["correctness", "events sent", "tidings lines", "httpx-sse lines", "same bytes"],
        )
    )
    print()
    small = m.cases[0]
    small_rss = m.totals[small.name]["tidings"].rss_mib
    assert m.long_run is not None
    long_rss = m.long_run.maxrss_kib / 1024
    long_rate = rate(m.long_small.events, m.long_run.seconds, t_startup.seconds)
    print(
        f"memory vs stream length (tidings, {small.label}): {small.events:,} events "
        f"{small_rss:.1f} MiB, {m.long_small.events:,} events {long_rss:.1f} MiB "
        f"({long_rss - small_rss:+.1f} MiB; the long run at {fmt_rate(long_rate)} ev/s)"
    )
    child_rss = [
        r.maxrss_kib / 1024
        for per in (*m.totals.values(), *m.startups.values())
        for series in per.values()
        for r in series.runs
    ]
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if own_rss < min(child_rss):
        print(
            f"(this process peaked at {own_rss:.1f} MiB, below every child's figure: Linux "
            "carries a parent's peak RSS into its children, so this had to hold)"
        )
    else:
        print(
            f"WARNING: this process peaked at {own_rss:.1f} MiB, and Linux carries a parent's "
            "peak RSS into its children: RSS figures near that are a floor, not a measure"
        )
    print()
    for label, values in (("wall-clock", ratios), ("CPU-time", cpu_ratios)):
        print(f"verdict on the {label} ratio of the three sizes: {verdict(m, values)}")
    for failure in m.failures:
        print(f"problem: {failure}")


# -- profiling ---------------------------------------------------------------------


def profile(args: argparse.Namespace) -> int:
    """cProfile both clients on the small-events stream; print our own code's top entries."""
    import tidings

    case = cases(quick=args.quick)[0]
    server = Server([case.path.lstrip("/")])
    own = str(Path(tidings.__file__).resolve().parent)
    try:
        url = server.url(case.path)
        with tempfile.TemporaryDirectory() as tmp:
            for who, cmd in (
                ("tidings", tidings_cmd(url)),
                ("httpx-sse loop", baseline_cmd(url, args.baseline_flush)),
            ):
                out = Path(tmp) / f"{who.split()[0]}.prof"
                prof_cmd = [sys.executable, "-m", "cProfile", "-o", str(out), *cmd[1:]]
                run = run_child(prof_cmd)
                if run.exit_code != 0:
                    print(f"{who}: exit {run.exit_code}: {run.stderr[-300:]}")
                    continue
                stats = pstats.Stats(str(out))
                total = stats.total_tt  # type: ignore[attr-defined]
                print(f"\n== {who}, {case.events:,} small events under cProfile: {total:.2f} s")
                entries = stats.stats  # type: ignore[attr-defined]
                if who == "tidings":
                    mine = [(k, v) for k, v in entries.items() if k[0].startswith(own)]
                    mine.sort(key=lambda kv: kv[1][3], reverse=True)
                    print("our own code, by cumulative time:")
                    _print_entries(mine[: args.top], own)
                rest = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)
                print("everything, by own time:")
                _print_entries(rest[: args.top], own)
    finally:
        server.close()
    print("\n(cProfile inflates the cost of each Python call; read the shares, not the times)")
    return 0


def _print_entries(
    entries: Sequence[tuple[tuple[str, int, str], tuple[Any, ...]]], own: str
) -> None:
    print(f"  {'ncalls':>10}  {'tottime':>8}  {'cumtime':>8}  function")
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in entries:
        where = filename
        if filename.startswith(own):
            where = "tidings" + filename[len(own) :]
        elif "site-packages" in filename:
            where = filename.split("site-packages/", 1)[1]
        elif filename.startswith(sys.base_prefix):
            where = Path(filename).name
        print(f"  {nc:>10,}  {tt:>8.3f}  {ct:>8.3f}  {where}:{line}({name})")


# -- command line ---------------------------------------------------------------------

ENV = child_env()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="half the events, 2 rounds")
    parser.add_argument(
        "--repeats", type=int, help="rounds: runs per client and stream (default 5, --quick 2)"
    )
    parser.add_argument(
        "--baseline-flush",
        choices=["event", "end"],
        default="event",
        help="when the httpx-sse loop flushes stdout (default: after each event)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile both clients instead")
    parser.add_argument("--top", type=int, default=15, help="entries per profile listing")
    parser.add_argument("--serve", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        with contextlib.suppress(KeyboardInterrupt):
            serve(args.serve)
        return 0
    if args.profile:
        return profile(args)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
