"""One command, one table: the performance figures of issue 9, on this machine, in one run.

    .venv/bin/python tests/benchmarks/report.py              # about 3-4 minutes on 2 cores
    .venv/bin/python tests/benchmarks/report.py --logs DIR   # also keep every benchmark's output

It runs the existing benchmarks with short settings, each as a child process
whose output it reads (``bench_listen.py --quick``, ``bench_hub.py --counts 0
200``, ``bench_history.py`` with a million events, ``bench_gui.py --quick``),
adds two measurements of its own, and prints one table:

- **latency**: a server process writes 100 events/s spread over 10 feeds,
  each carrying the server's ``time.monotonic_ns()`` taken just before the
  write (one clock for every process on Linux). A child process runs the
  real :class:`~tidings.core.hub.Hub` with the real history store and the
  real :class:`~tidings.notify.sink.NotifierSink` over a notifier that only
  records when ``show`` is called; flood and backlog limits are raised so
  that every event is meant to become a notification. Latency is measured
  from the server's write to the hub's sinks seeing the stored event (the
  store's transaction is done) and to the notifier being called.
- **memory with 1,000,000 stored events**: the desktop app (offscreen, the
  real composition root through ``on_ready``) started on the history file
  ``bench_history.py`` filled, its log window shown and scrolled ten pages
  down, against the same app on an empty history.

Nothing here asserts: the figures are for people to read. Every child is
ended by its PID; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY = sys.executable

LATENCY_FEEDS = 10
LATENCY_RATE = 100.0  # events/s over all feeds
LATENCY_SECONDS = 20.0
LATENCY_WARMUP = 2.0  # seconds of events not counted (connections settling)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def private_home(env: dict[str, str], root: Path) -> dict[str, str]:
    """HOME and the XDG folders inside ``root``: nothing of the user's is read or written."""
    home = root / "home"
    runtime = root / "run"
    home.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
    )
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(key, None)
    return env


def run_child(
    cmd: Sequence[str], *, bound: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``cmd`` to its end (killed by PID after ``bound`` s); its exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=str(ROOT), env=env
        )
        try:
            code = proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            code = -1
        out.seek(0)
        err.seek(0)
        return (
            code,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- parsing the existing benchmarks' output ------------------------------------------


def parse_listen(text: str) -> dict[str, Any]:
    """The main table of bench_listen.py: per case, the wall and CPU ratios."""
    found: dict[str, Any] = {}
    for label, key in (("small (~40 B)", "small"), ("1 KiB", "1k"), ("16 KiB", "16k")):
        m = re.search(
            rf"^{re.escape(label)}\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+([\d.]+)x\s+([\d.]+)x",
            text,
            re.MULTILINE,
        )
        if m:
            found[key] = (float(m.group(1)), float(m.group(2)))
    m = re.search(r"^correctness.*?\n-+.*?\n((?:.+\n)+?)\n", text, re.MULTILINE)
    found["identical"] = bool(m) and "NO" not in m.group(1) if m else False
    return found


def parse_hub(text: str) -> dict[int, float]:
    """bench_hub.py's table: feeds -> median RSS MiB of a hub process with that many open."""
    rows = {}
    for m in re.finditer(r"^\s*(\d+)\s+([\d.]+)\s+[\d.]+-[\d.]+\s", text, re.MULTILINE):
        rows[int(m.group(1))] = float(m.group(2))
    return rows


def parse_history(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    m = re.search(r"insert: ([\d,]+) events/s", text)
    if m:
        found["insert"] = m.group(1)
    m = re.search(r"search 'xylophone' \(rare\), newest first\s+median\s+([\d.]+) ms", text)
    if m:
        found["search_rare_ms"] = float(m.group(1))
    m = re.search(r"page of 200 anywhere \(no filter\)\s+median\s+([\d.]+) ms", text)
    if m:
        found["page_ms"] = float(m.group(1))
    m = re.search(r"database size: ([\d,]+) MiB for ([\d,]+) events", text)
    if m:
        found["db_mib"] = m.group(1)
        found["events"] = m.group(2)
    return found


# -- latency: a paced server process and a hub child ----------------------------------


async def latency_server(rate_per_feed: float, seconds: float) -> None:
    """``GET /lat/<n>``: events at ``rate_per_feed``, each with its write time; then quiet."""
    start_at = asyncio.Event()
    origin: list[float] = []
    connected: set[str] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            target = head.split(b" ", 2)[1].decode()
            name = target.rsplit("/", 1)[-1]
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n: hello\n\n"
            )
            await writer.drain()
            connected.add(name)
            if len(connected) >= LATENCY_FEEDS and not start_at.is_set():
                origin.append(time.monotonic() + 0.5)
                start_at.set()
            await asyncio.wait_for(start_at.wait(), timeout=60)
            phase = (int(name) % LATENCY_FEEDS) / (LATENCY_FEEDS * rate_per_feed)
            total = round(rate_per_feed * seconds)
            loop = asyncio.get_running_loop()
            for i in range(1, total + 1):
                due = origin[0] + phase + (i - 1) / rate_per_feed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                stamp = time.monotonic_ns()
                writer.write(b"id: %d\ndata: t=%d n=%d\n\n" % (i, stamp, i))
                await writer.drain()
            for _ in range(120):
                await asyncio.sleep(1)
                writer.write(b": idle\n\n")
                await writer.drain()
            del loop
        except (Exception, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, sys.stdin.read), 600
        )
    server.close()


async def latency_client(base: str, seconds: float, out: Path) -> None:
    """The real hub, store and notifier sink; records when each event is stored and shown."""
    from tidings.core.history import HistoryStore, StoredEvent
    from tidings.core.hub import Hub
    from tidings.core.models import AppSettings, Feed, FeedStatus
    from tidings.core.notification import Notification
    from tidings.core.rules import RuleLimits
    from tidings.core.secrets import MemoryStore
    from tidings.notify.base import NotifierState
    from tidings.notify.sink import NotifierSink

    stored: list[tuple[int, int]] = []  # (server write ns, stored ns)
    shown: list[tuple[int, int]] = []
    pattern = re.compile(r"t=(\d+) n=")

    class Recorder:
        name = "recorder"
        state = NotifierState.OK
        detail = "records the time of each show"

        async def start(self) -> None:
            return None

        async def show(self, notification: Notification, *, rowid: int | None = None) -> None:
            now = time.monotonic_ns()
            m = pattern.search(notification.body)
            if m:
                shown.append((int(m.group(1)), now))

        async def withdraw(self, replace_key: str) -> None:
            return None

        async def close(self) -> None:
            return None

    class StoredSink:
        def events_stored(self, feed: Feed, events: Sequence[StoredEvent]) -> None:
            now = time.monotonic_ns()
            for event in events:
                m = pattern.search(event.data)
                if m:
                    stored.append((int(m.group(1)), now))

        def status_changed(self, feed: Feed, status: FeedStatus) -> None:
            return None

    with tempfile.TemporaryDirectory(prefix="tidings-latency-") as tmp:
        store = HistoryStore(Path(tmp) / "history.sqlite3")
        await store.open()
        notifier_sink = NotifierSink(
            notifier=Recorder(),
            app=AppSettings(lost_connection_after=0.0),
        )
        await notifier_sink.start()
        limits = RuleLimits(flood_limit=10**9, backlog_threshold=10**9)
        hub = Hub(
            store=store,
            secrets=MemoryStore(),
            sinks=[StoredSink(), notifier_sink],
            rule_limits=limits,
        )
        feeds = [
            Feed(id=f"lat-{n}", name=f"Latency {n}", url=f"{base}/lat/{n}")
            for n in range(LATENCY_FEEDS)
        ]
        expected = round(LATENCY_RATE / LATENCY_FEEDS * seconds) * LATENCY_FEEDS
        await hub.start(feeds)
        deadline = time.monotonic() + seconds + 40
        while len(shown) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        await hub.stop()
        await notifier_sink.close()
        await store.close()
    result = json.dumps({"stored": stored, "shown": shown, "expected": expected})
    await asyncio.to_thread(out.write_text, result)


def measure_latency(work: Path) -> dict[str, Any]:
    env = base_env()
    server = subprocess.Popen(
        [PY, str(Path(__file__)), "--role", "latency-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=str(ROOT),
        env=env,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip() or 0)
        out = work / "latency.json"
        code, _, err = run_child(
            [
                PY, str(Path(__file__)), "--role", "latency-client",
                "--base", f"http://127.0.0.1:{port}", "--out", str(out),
            ],
            bound=LATENCY_SECONDS + 90,
            env=env,
        )  # fmt: skip
        if not out.exists():
            return {"error": f"latency child exit {code}: {err[-500:]}"}
        data = json.loads(out.read_text())
    finally:
        if server.stdin is not None:
            with contextlib.suppress(OSError):
                server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    result: dict[str, Any] = {"expected": data["expected"]}
    for key in ("stored", "shown"):
        pairs = data[key]
        if not pairs:
            result[key] = None
            continue
        first = min(t for t, _ in pairs)
        ms = [(done - t) / 1e6 for t, done in pairs if t - first >= LATENCY_WARMUP * 1e9]
        result[key] = {
            "count": len(pairs),
            "p50": statistics.median(ms),
            "p99": pct(ms, 99),
            "max": max(ms),
        }
    return result


# -- memory of the desktop app over a million stored events ---------------------------


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def app_memory_child(profile: str, out: str) -> None:
    """The real app (offscreen): window shown, ten pages scrolled, RSS read after gc."""
    import gc

    from tidings.qt.main import main as gui_main

    result: dict[str, Any] = {}

    async def on_ready(controller: Any, ui: Any) -> None:
        try:
            ui.show_window()
            model = ui.window.log_view.model
            await asyncio.wait_for(model.wait_idle(), 30)
            await asyncio.sleep(1.0)
            gc.collect()
            result["rows_first"] = model.rowCount()
            result["rss_first"] = rss_mib()
            table = ui.window.log_view.table
            for _ in range(10):
                table.scrollToBottom()
                await asyncio.sleep(0.2)
                await asyncio.wait_for(model.wait_idle(), 30)
            await asyncio.sleep(1.0)
            gc.collect()
            result["rows_scrolled"] = model.rowCount()
            result["rss_scrolled"] = rss_mib()
            result["events"] = (
                await controller.store.count() if hasattr(controller, "store") else None
            )
        except BaseException as exc:
            result["error"] = repr(exc)
            raise
        finally:
            controller.quit()

    code = gui_main(
        ["--profile-dir", profile, "--background", "--exit-after", "120"], on_ready=on_ready
    )
    result["exit_code"] = code
    Path(out).write_text(json.dumps(result))


def measure_app_memory(work: Path, db: Path | None, label: str) -> dict[str, Any]:
    root = work / f"app-{label}"
    profile = root / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "app"))
    from tidings.core.paths import Paths

    target = Paths.resolve(profile).history_db
    if db is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(db) + suffix)
            if src.exists():
                shutil.move(str(src), str(target) + suffix)
    env = private_home(base_env(), root)
    env["QT_QPA_PLATFORM"] = "offscreen"
    out = root / "result.json"
    code, _, err = run_child(
        [
            PY,
            str(Path(__file__)),
            "--role",
            "app-memory",
            "--profile-dir",
            str(profile),
            "--out",
            str(out),
        ],
        bound=180,
        env=env,
    )
    if not out.exists():
        return {"error": f"app child exit {code}: {err[-800:]}"}
    return dict(json.loads(out.read_text()))


# -- the report --------------------------------------------------------------------------


def bench(name: str, args: Sequence[str], bound: float, logs: Path | None) -> str:
    progress(f"{name} {' '.join(args)}")
    started = time.perf_counter()
    code, out, err = run_child([PY, str(HERE / name), *args], bound=bound, env=base_env())
    progress(f"{name}: exit {code} after {time.perf_counter() - started:.0f} s")
    if logs is not None:
        (logs / f"{name}.out").write_text(out)
        (logs / f"{name}.err").write_text(err)
    if code != 0:
        print(f"{name} failed (exit {code}):\n{err[-1500:]}", file=sys.stderr)
    return out


def fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{spec}}{unit}"


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}, Linux"


def report(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    logs = Path(args.logs) if args.logs else None
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tidings-report-") as tmp:
        work = Path(tmp)
        listen = parse_listen(bench("bench_listen.py", ["--quick"], 600, logs))
        hub = parse_hub(
            bench("bench_hub.py", ["--counts", "0", "200", "--repeats", "1"], 300, logs)
        )
        db = work / "history-1m.sqlite3"
        history = parse_history(
            bench(
                "bench_history.py",
                ["--events", str(args.events), "--repeats", "5", "--db", str(db), "--reuse"],
                900,
                logs,
            )
        )
        gui_json = work / "gui.json"
        bench(
            "bench_gui.py",
            ["--quick", "--window", "shown", "--json", str(gui_json)],
            900,
            logs,
        )
        gui: dict[str, Any] = json.loads(gui_json.read_text()) if gui_json.exists() else {}
        progress("latency: 100 events/s over 10 feeds through the hub and the notifier sink")
        latency = measure_latency(work)
        progress(f"memory: the app over {args.events:,} stored events, and over none")
        mem_full = measure_app_memory(work, db if db.exists() else None, "full")
        mem_empty = measure_app_memory(work, None, "empty")

    def ratio(key: str, which: int) -> str:
        pair = listen.get(key)
        return f"{pair[which]:.2f}x" if pair else "n/a"

    rows.append(
        (
            "headless throughput, listen --json / httpx-sse loop",
            f"small {ratio('small', 0)}; 1 KiB {ratio('1k', 0)}; 16 KiB {ratio('16k', 0)}",
            f"CPU: {ratio('small', 1)}, {ratio('1k', 1)}, {ratio('16k', 1)}; same output: "
            + ("yes" if listen.get("identical") else "NO"),
        )
    )
    for key, what in (
        ("stored", "server write -> event stored"),
        ("shown", "server write -> notifier called"),
    ):
        lat = latency.get(key)
        if isinstance(lat, dict):
            rows.append(
                (
                    f"latency, {what}",
                    f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms",
                    f"max {lat['max']:.1f} ms; {lat['count']:,} of {latency['expected']:,} events",
                )
            )
        else:
            rows.append((f"latency, {what}", "n/a", str(latency.get("error", "no samples"))[:80]))
    flood = gui.get("flood-shown", {})
    rows.append(
        (
            "GUI loop lag, 5,000 events/s flood, log window shown",
            _gui_lag(flood),
            _gui_flood_note(flood),
        )
    )
    idle = gui.get("idle", {})
    rows.append(("idle CPU, 50 feeds (window hidden)", _gui_idle(idle), _gui_idle_note(idle)))
    startup = gui.get("startup", {})
    rows.append(("start-up to tray icon / bare PySide6 tray", *_gui_startup(startup)))
    rss0, rss200 = hub.get(0), hub.get(200)
    rows.append(
        (
            "memory, 200 idle feeds (headless hub process)",
            fmt(rss200, ".1f", " MiB"),
            f"{fmt(rss0, '.1f', ' MiB')} with none: "
            f"{fmt((rss200 - rss0) * 1024 / 200 if rss0 and rss200 else None, '.0f', ' KiB')}/feed",
        )
    )
    rows.append(
        (
            f"memory, {args.events:,} stored events (app, log shown)",
            fmt(mem_full.get("rss_scrolled"), ".1f", " MiB"),
            f"first page {fmt(mem_full.get('rss_first'), '.1f', ' MiB')}; empty history "
            f"{fmt(mem_empty.get('rss_scrolled'), '.1f', ' MiB')}; "
            f"db {history.get('db_mib', '?')} MiB; "
            f"rows loaded {mem_full.get('rows_scrolled', '?')}"
            + (f"; error {mem_full['error']}" if "error" in mem_full else ""),
        )
    )
    rows.append(
        (
            "history: rare-word search / a page of 200",
            f"{fmt(history.get('search_rare_ms'), '.2f', ' ms')} / "
            f"{fmt(history.get('page_ms'), '.2f', ' ms')}",
            f"insert {history.get('insert', '?')} events/s (batches of 200)",
        )
    )

    print(f"Tidings performance report ({machine()})")
    print("command: .venv/bin/python tests/benchmarks/report.py", *sys.argv[1:])
    print()
    widths = [max(len(r[i]) for r in [("figure", "value", "detail"), *rows]) for i in range(3)]
    header = ("figure", "value", "detail")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print()
    print(
        f"(whole run {time.perf_counter() - started:.0f} s; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; the machine is shared: compare runs, not single figures)"
    )
    return 0


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _gui_lag(flood: dict[str, Any]) -> str:
    if not flood or "error" in flood:
        return "n/a"
    lag = flood.get("lag_flood") or {}
    return f"p50 {fmt(lag.get('p50_ms'))} ms, p99 {fmt(lag.get('p99_ms'))} ms"


def _gui_flood_note(flood: dict[str, Any]) -> str:
    if not flood:
        return "no result"
    if "error" in flood:
        return str(flood["error"]).strip().splitlines()[-1][:80]
    lag = flood.get("lag_flood") or {}
    base = flood.get("lag_baseline") or {}
    history = flood.get("history") or {}
    return (
        f"max {fmt(lag.get('max_ms'))} ms (before the flood p99 {fmt(base.get('p99_ms'))} ms); "
        f"{flood.get('sent', 0):,} events over {flood.get('feeds', '?')} feeds: "
        f"{history.get('lost', '?')} lost, {history.get('duplicates', '?')} duplicated"
    )


def _gui_idle(idle: dict[str, Any]) -> str:
    if not idle or "error" in idle:
        return "n/a"
    return f"{fmt(_get(idle, 'connected', 'cpu_pct'), '.2f')} % of a core"


def _gui_idle_note(idle: dict[str, Any]) -> str:
    if not idle or "error" in idle:
        return (
            str(idle.get("error", "no result")).strip().splitlines()[-1][:80]
            if idle
            else "no result"
        )
    return (
        f"all paused: {fmt(_get(idle, 'paused', 'cpu_pct'), '.2f')} %; "
        f"{fmt(_get(idle, 'connected', 'switches_per_s'), '.1f')} wake-ups/s; "
        f"RSS {fmt(idle.get('rss'))} MiB"
    )


def _gui_startup(startup: dict[str, Any]) -> tuple[str, str]:
    if not startup or "error" in startup:
        text = str(startup.get("error", "no result")) if startup else "no result"
        return "n/a", text.strip().splitlines()[-1][:80]
    runs_t = _get(startup, "runs", "tidings") or []
    runs_b = _get(startup, "runs", "bare") or []
    t = statistics.median(runs_t) if runs_t else None
    b = statistics.median(runs_b) if runs_b else None
    r = t / b if t and b else None
    return fmt(r, ".2f", "x"), (
        f"tidings {fmt(t, '.2f', ' s')}, bare PySide6 tray {fmt(b, '.2f', ' s')} "
        f"(medians of {len(runs_t)}, Xvfb + a StatusNotifier host)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="stored events for memory")
    parser.add_argument("--logs", help="keep each benchmark's stdout and stderr in this folder")
    parser.add_argument(
        "--role",
        choices=("main", "latency-server", "latency-client", "app-memory"),
        default="main",
    )
    parser.add_argument("--base")
    parser.add_argument("--out")
    parser.add_argument("--profile-dir")
    args = parser.parse_args()
    if args.role == "latency-server":
        asyncio.run(latency_server(LATENCY_RATE / LATENCY_FEEDS, LATENCY_SECONDS))
        return 0
    if args.role == "latency-client":
        asyncio.run(latency_client(args.base, LATENCY_SECONDS, Path(args.out)))
        return 0
    if args.role == "app-memory":
        app_memory_child(args.profile_dir, args.out)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
