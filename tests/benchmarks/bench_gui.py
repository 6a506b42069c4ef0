"""The desktop app's responsiveness: loop lag under a flood, idle CPU, start-up to the tray icon.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_gui.py            # everything, about 5 minutes
    .venv/bin/python tests/benchmarks/bench_gui.py --quick    # shorter phases, ~2 minutes
    .venv/bin/python tests/benchmarks/bench_gui.py --only flood --window shown --profile

Three parts, each in fresh child processes (this script only orchestrates):

flood
    ``flood_server.py`` (another process, 127.0.0.1, port 0) serves
    ``--feeds`` event streams. The whole app runs in a child process
    (``tidings.qt.main.main(argv, on_ready=...)``, ``QT_QPA_PLATFORM=offscreen``,
    a temporary ``--profile-dir`` whose settings file this script writes
    first). Once every feed is open, the child measures a quiet baseline,
    then asks the server to send ``--rate`` events/s in total for
    ``--flood-seconds`` (ids 1..N per feed, small batches every 10 ms). A
    task ticking every 10 ms on the app's loop records its lateness; a
    counting sink on the hub counts what was stored, the ids per feed, the
    popups the rules decided (events with ``.notification``) and the flood
    summaries; VmRSS is sampled every 250 ms. ``--after`` seconds after the
    flood ends (and a ``gc.collect()``) the RSS is read again. The history
    database is then checked from this process: per feed, rows = distinct
    ids = N and ids 1..N (no loss, no duplicate). It runs with the main window
    shown (the log model's live inserts and repaints are part of the cost)
    and hidden (``--window``).
idle
    ``--idle-feeds`` feeds that only get a heartbeat comment every
    ``--heartbeat`` s; once all are open and settled, the app's CPU time
    (``resource.getrusage``, all threads) over ``--idle-seconds``, as % of
    one core; then the same app with every feed paused (no connection) as
    the baseline. The window is hidden (the tray app's usual state).
startup
    Xvfb (``-displayfd``), a private D-Bus session bus and the test tray host
    (``tests/support/tray_host.py``, a StatusNotifierWatcher) are started
    first. The time from spawning ``python -m tidings --profile-dir TMP
    --background`` to the host's ``registered`` line, against
    ``bare_tray.py`` (a bare PySide6 tray icon), alternating, after one
    untimed warm-up of each; medians and the ratio.

Every process started here is killed by PID in a ``finally``; every wait is
bounded. This script prints figures and never asserts on them (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import pstats
import queue
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FLOOD_SERVER = HERE / "flood_server.py"
BARE_TRAY = HERE / "bare_tray.py"
TESTS = ROOT / "tests"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

LAG_TARGET_MS = 50.0
IDLE_TARGET_PCT = 1.0
TICK = 0.01
# Bounds: no wait in this script is longer than these.
OPEN_WITHIN = 60.0
DRAIN_WITHIN = 120.0
SPAWN_WITHIN = 30.0
STOP_WITHIN = 15.0


# -- small helpers ---------------------------------------------------------------------------


def rss_mib(field: str = "VmRSS") -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    """This process's CPU time, every thread, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_seconds(tid: int) -> float:
    """One thread's CPU time (``/proc/self/task/<tid>/stat`` utime + stime)."""
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def private_home(env: dict[str, str], root: Path) -> dict[str, str]:
    """Point HOME and the XDG folders into ``root``: nothing of the user's is read or written."""
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
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "QT_QPA_PLATFORM"):
        env.pop(key, None)
    return env


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """End a child we started (by its PID): ``sig`` first, SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_WITHIN)


def kill_pid(pid: int) -> None:
    """End a daemon that forked away from us (dbus-daemon --fork), by the PID it printed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class LineReader:
    """Reads a child's output lines on a daemon thread, each stamped with ``perf_counter``."""

    def __init__(self, stream: IO[bytes], echo: list[str] | None = None) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.echo = echo
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            if self.echo is not None:
                self.echo.append(line)
            self.lines.put((time.perf_counter(), line))

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.lines.get_nowait()

    def wait_for(self, prefix: str, within: float) -> float | None:
        """The time the next line starting with ``prefix`` was read, or None after ``within``."""
        deadline = time.perf_counter() + within
        while (left := deadline - time.perf_counter()) > 0:
            try:
                stamp, line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line.startswith(prefix):
                return stamp
        return None


@contextlib.contextmanager
def flood_server(heartbeat: float, lifetime: float) -> Iterator[str]:
    server = subprocess.Popen(
        [
            sys.executable,
            str(FLOOD_SERVER),
            "--heartbeat",
            str(heartbeat),
            "--lifetime",
            str(lifetime),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=base_env(),
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process(server, signal.SIGKILL)


def write_profile(profile: Path, base: str, kind: str, count: int) -> list[str]:
    """The settings file of a fresh profile with ``count`` feeds on the flood server."""
    from tidings.core.config import Settings, save_settings
    from tidings.core.models import AppSettings, Feed
    from tidings.core.paths import Paths

    paths = Paths.resolve(profile)
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    feeds = [
        Feed(id=f"{kind}{i}", name=f"{kind} {i}", url=f"{base}/{kind}/{i}") for i in range(count)
    ]
    save_settings(paths.settings_file, Settings(feeds=tuple(feeds), app=AppSettings()))
    return [f.id for f in feeds]


# -- the app child: the whole app in this process, driven through on_ready ------------------


class CountingSink:
    """A hub sink that counts what the app stored and what the rules decided to pop up."""

    def __init__(self) -> None:
        self.stored: dict[str, int] = defaultdict(int)
        self.ids: dict[str, set[int]] = defaultdict(set)
        self.duplicates: dict[str, int] = defaultdict(int)
        self.other = 0
        self.popups: dict[str, list[float]] = defaultdict(list)
        self.summaries: list[tuple[str, str, float]] = []
        self.open: set[str] = set()
        self.status_changes = 0
        self.batches = 0

    def events_stored(self, feed: Any, events: Sequence[Any]) -> None:
        now = time.monotonic()
        self.batches += 1
        ids = self.ids[feed.id]
        for event in events:
            self.stored[feed.id] += 1
            if not event.event_id.isdigit():
                self.other += 1  # a "possible gap" entry, say
            else:
                number = int(event.event_id)
                if number in ids:
                    self.duplicates[feed.id] += 1
                ids.add(number)
            if event.notification is not None:
                self.popups[feed.id].append(now)

    def status_changed(self, feed: Any, status: Any) -> None:
        from tidings.core.models import ConnectionState

        self.status_changes += 1
        if status.state is ConnectionState.OPEN:
            self.open.add(feed.id)
        else:
            self.open.discard(feed.id)

    def summary_updated(self, feed: Any, notification: Any) -> None:
        self.summaries.append((feed.id, notification.replace_key or "", time.monotonic()))


class Sampler:
    """The 10 ms ticker (loop lateness) and the RSS sampler, both tasks on the app's loop."""

    def __init__(self) -> None:
        self.ticks: list[tuple[float, float]] = []  # (when, lateness s)
        self.rss: list[tuple[float, float]] = []  # (when, MiB)
        self.tasks: list[Any] = []

    async def _tick(self) -> None:
        import asyncio

        last = time.perf_counter()
        for _ in range(int(3600 / TICK)):
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.ticks.append((now, now - last - TICK))
            last = now

    async def _rss(self) -> None:
        import asyncio

        for _ in range(4 * 3600):
            self.rss.append((time.perf_counter(), rss_mib()))
            await asyncio.sleep(0.25)

    def start(self) -> None:
        import asyncio

        self.tasks = [asyncio.ensure_future(self._tick()), asyncio.ensure_future(self._rss())]

    async def stop(self) -> None:
        import asyncio

        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def lag(self, start: float, end: float) -> dict[str, float]:
        late = [lateness * 1000 for when, lateness in self.ticks if start <= when < end]
        return {
            "ticks": len(late),
            "expected_ticks": int((end - start) / TICK),
            "p50_ms": pct(late, 50),
            "p99_ms": pct(late, 99),
            "max_ms": max(late, default=float("nan")),
            "over_50ms": sum(1 for x in late if x > LAG_TARGET_MS),
        }

    def peak_rss(self, start: float, end: float) -> float:
        return max((mib for when, mib in self.rss if start <= when <= end), default=float("nan"))


async def wait_until(check: Callable[[], bool], within: float, step: float = 0.1) -> bool:
    import asyncio

    deadline = time.perf_counter() + within
    while not check():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most popups of one feed within any ``window`` seconds (times as delivered)."""
    best = 0
    first = 0
    ordered = sorted(times)
    for last, when in enumerate(ordered):
        while when - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


async def drive_flood(controller: Any, ui: Any, args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    import httpx

    feed_ids = [f.id for f in controller.feeds]
    sink = CountingSink()
    controller.hub.add_sink(sink)
    from tidings.core.models import ConnectionState

    for feed_id, status in controller.hub.statuses.items():
        if status.state is ConnectionState.OPEN:
            sink.open.add(feed_id)
    if args.window == "shown":
        ui.show_window()
    else:
        ui.window.hide()
    if not await wait_until(lambda: len(sink.open) >= len(feed_ids), OPEN_WITHIN):
        return {"error": f"only {len(sink.open)} of {len(feed_ids)} feeds opened"}
    await asyncio.sleep(args.settle)
    gc.collect()
    rss_before = rss_mib()
    sampler = Sampler()
    sampler.start()
    main_tid = threading.get_native_id()
    baseline_start = time.perf_counter()
    await asyncio.sleep(args.baseline_seconds)
    profiler = None
    if args.profile_out:
        import cProfile

        profiler = cProfile.Profile()
    per_feed_rate = args.rate / len(feed_ids)
    async with httpx.AsyncClient(base_url=args.base, trust_env=False, timeout=10) as http:
        cpu0, main0 = cpu_seconds(), thread_cpu_seconds(main_tid)
        flood_start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        answer = await http.post(
            "/start", params={"rate": per_feed_rate, "duration": args.flood_seconds}
        )
        per_feed = int(answer.json()["per_feed"])
        flood_end = flood_start + args.flood_seconds
        screenshot = ""
        if args.screenshot and args.window == "shown":
            await asyncio.sleep(args.flood_seconds / 2)
            path = Path(args.screenshot)
            ui.window.grab().save(str(path))
            screenshot = str(path)
        drained_ok = await wait_until(
            lambda: all(sink.stored[f] >= per_feed for f in feed_ids),
            args.flood_seconds + DRAIN_WITHIN,
            step=0.05,
        )
        drained = time.perf_counter()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_out)
        cpu1, main1 = cpu_seconds(), thread_cpu_seconds(main_tid)
        stats = (await http.get("/stats")).json()
    await asyncio.sleep(max(0.0, flood_end + args.after - time.perf_counter()))
    after_end = time.perf_counter()
    await sampler.stop()
    gc.collect()
    rss_after = rss_mib()
    counts = await controller.store.counts()
    busy = drained - flood_start
    window = controller.app_settings.flood_window
    limit = controller.app_settings.flood_limit
    popups_per_feed = {f: len(sink.popups[f]) for f in feed_ids}
    summary_keys = {key for _, key, _ in sink.summaries}
    return {
        "feeds": len(feed_ids),
        "per_feed": per_feed,
        "sent": sum(s["highest"] for s in stats["feeds"].values()),
        "written": sum(s["written"] for s in stats["feeds"].values()),
        "connections": sum(s["connections"] for s in stats["feeds"].values()),
        "drained": drained_ok,
        "drain_after_flood_s": drained - flood_end,
        "lag_baseline": sampler.lag(baseline_start, flood_start),
        "lag_flood": sampler.lag(flood_start, drained),
        "lag_after": sampler.lag(drained, after_end),
        "rss_before": rss_before,
        "rss_peak": sampler.peak_rss(flood_start, drained),
        "rss_after": rss_after,
        "rss_hwm": rss_mib("VmHWM"),
        "cpu_flood_pct": (cpu1 - cpu0) / busy * 100,
        "cpu_main_thread_pct": (main1 - main0) / busy * 100,
        "stored_sink": sum(sink.stored[f] for f in feed_ids),
        "stored_store": sum(counts[f].total for f in feed_ids if f in counts),
        "sink_duplicates": sum(sink.duplicates.values()),
        "sink_other": sink.other,
        "sink_batches": sink.batches,
        "popups": sum(popups_per_feed.values()),
        "popups_max_feed": max(popups_per_feed.values(), default=0),
        # Delivery times lag the rules' clock by a varying commit time: count within a window
        # a quarter second shorter, so that jitter at the window's edge is not called a breach.
        "popups_max_in_window": max(
            (max_in_window(sink.popups[f], window - 0.25) for f in feed_ids), default=0
        ),
        "popup_bound_per_feed": limit * (math.floor(busy / window) + 1),
        "flood_limit": limit,
        "flood_window": window,
        "summary_updates": len(sink.summaries),
        "summary_keys": len(summary_keys),
        "status_changes": sink.status_changes,
        "notifier": f"{controller.notifier_name} ({getattr(controller, 'notifier_state', '?')})",
        "screenshot": screenshot,
    }


async def drive_idle(controller: Any, ui: Any, args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    from tidings.core.models import ConnectionState

    feed_ids = [f.id for f in controller.feeds]
    sink = CountingSink()
    controller.hub.add_sink(sink)
    for feed_id, status in controller.hub.statuses.items():
        if status.state is ConnectionState.OPEN:
            sink.open.add(feed_id)
    if args.window == "shown":
        ui.show_window()
    else:
        ui.window.hide()
    if not await wait_until(lambda: len(sink.open) >= len(feed_ids), OPEN_WITHIN, step=0.5):
        return {"error": f"only {len(sink.open)} of {len(feed_ids)} feeds opened"}
    await asyncio.sleep(args.settle)
    gc.collect()

    def window_cpu(seconds: float) -> Any:
        async def measure() -> dict[str, float]:
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
            wall0 = time.perf_counter()
            await asyncio.sleep(seconds)
            usage1 = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.perf_counter() - wall0
            cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
            switches = (usage1.ru_nvcsw - usage0.ru_nvcsw) + (usage1.ru_nivcsw - usage0.ru_nivcsw)
            return {"cpu_pct": cpu / wall * 100, "wall_s": wall, "switches_per_s": switches / wall}

        return measure()

    rss_connected = rss_mib()
    status_changes_before = sink.status_changes
    connected = await window_cpu(args.idle_seconds)
    still_open = len(sink.open)
    status_changes = sink.status_changes - status_changes_before
    baseline: dict[str, float] = {}
    if args.idle_baseline_seconds > 0:
        await controller.set_all_paused(True)
        await wait_until(lambda: not sink.open, OPEN_WITHIN, step=0.5)
        await asyncio.sleep(args.settle)
        gc.collect()
        baseline = await window_cpu(args.idle_baseline_seconds)
    return {
        "feeds": len(feed_ids),
        "open_at_end": still_open,
        "status_changes": status_changes,
        "connected": connected,
        "paused": baseline,
        "rss": rss_connected,
    }


def run_app(args: argparse.Namespace) -> None:
    """The app child: the real composition root, with a driver awaited once it is up."""
    from tidings.qt.main import main as gui_main

    result: dict[str, Any] = {}
    drive = drive_flood if args.mode == "flood" else drive_idle

    async def on_ready(controller: Any, ui: Any) -> None:
        try:
            result.update(await drive(controller, ui, args))
        except BaseException:
            result["error"] = traceback.format_exc()
            raise
        finally:
            controller.quit()

    started = time.perf_counter()
    argv = ["--profile-dir", args.profile_dir, "--background", "--exit-after", str(args.bound)]
    code = gui_main(argv, on_ready=on_ready)
    result["exit_code"] = code
    result["app_seconds"] = time.perf_counter() - started
    Path(args.result).write_text(json.dumps(result))


# -- the orchestrator: flood and idle ------------------------------------------------------


def app_child(
    mode: str,
    profile: Path,
    base: str,
    args: argparse.Namespace,
    *,
    extra: Sequence[str],
    bound: float,
) -> dict[str, Any]:
    result_file = profile / "result.json"
    stderr_file = profile / "stderr.txt"
    env = private_home(base_env(), profile)
    env["QT_QPA_PLATFORM"] = "offscreen"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--role", "app", "--mode", mode,
        "--profile-dir", str(profile / "profile"), "--base", base, "--result", str(result_file),
        "--settle", str(args.settle), "--bound", str(bound), *extra,
    ]  # fmt: skip
    with stderr_file.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, env=env, cwd=str(ROOT))
        try:
            proc.wait(timeout=bound + 60)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop_process(proc)
    log = stderr_file.read_text(errors="replace")
    if not result_file.exists():
        return {"error": f"the app child left no result (exit {proc.returncode}):\n{log[-3000:]}"}
    result: dict[str, Any] = json.loads(result_file.read_text())
    result["stderr_lines"] = len(log.splitlines())
    result["stderr_tail"] = log.splitlines()[-5:]
    return result


def check_history(db: Path, feed_ids: Sequence[str], per_feed: int) -> dict[str, Any]:
    """Per feed: rows, distinct ids, lowest and highest id, straight from the database."""
    rows = {}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        for feed_id, count, distinct, low, high in conn.execute(
            "SELECT feed_id, count(*), count(DISTINCT event_id), min(CAST(event_id AS INTEGER)), "
            "max(CAST(event_id AS INTEGER)) FROM events GROUP BY feed_id"
        ):
            rows[feed_id] = (count, distinct, low, high)
    complete = [
        f for f in feed_ids if rows.get(f) == (per_feed, per_feed, 1, per_feed) and per_feed > 0
    ]
    return {
        "rows": sum(r[0] for r in rows.values()),
        "distinct": sum(r[1] for r in rows.values()),
        "feeds_complete": len(complete),
        "lost": sum(max(0, per_feed - rows.get(f, (0, 0, 0, 0))[1]) for f in feed_ids),
        "duplicates": sum(r[0] - r[1] for r in rows.values()),
    }


def run_flood(args: argparse.Namespace, window: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tidings-bench-gui-") as tmp:
        root = Path(tmp)
        bound = args.settle + args.baseline_seconds + args.flood_seconds + args.after + 150
        with flood_server(15.0, bound + 120) as base:
            feed_ids = write_profile(root / "profile", base, "flood", args.feeds)
            extra = [
                "--window", window, "--rate", str(args.rate),
                "--flood-seconds", str(args.flood_seconds), "--after", str(args.after),
                "--baseline-seconds", str(args.baseline_seconds),
            ]  # fmt: skip
            if args.profile:
                extra += ["--profile-out", str(root / "flood.pstats")]
            if args.screenshot and window == "shown":
                extra += ["--screenshot", args.screenshot]
            result = app_child("flood", root, base, args, extra=extra, bound=bound)
        if "error" in result:
            return result
        from tidings.core.paths import Paths

        result["history"] = check_history(
            Paths.resolve(root / "profile").history_db, feed_ids, result["per_feed"]
        )
        if args.profile and (root / "flood.pstats").exists():
            print_profile(root / "flood.pstats", window, args.top)
        return result


def print_profile(path: Path, window: str, top: int) -> None:
    print(f"\n-- cProfile of the app's main thread during the flood (window {window}) --")
    print("   (cProfile inflates each Python call: read shares, not seconds)")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("tidings", top)


def run_idle(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tidings-bench-idle-") as tmp:
        root = Path(tmp)
        bound = args.settle * 2 + args.idle_seconds + args.idle_baseline_seconds + 120
        with flood_server(args.heartbeat, bound + 120) as base:
            write_profile(root / "profile", base, "idle", args.idle_feeds)
            extra = [
                "--window", "shown" if args.idle_window else "hidden",
                "--idle-seconds", str(args.idle_seconds),
                "--idle-baseline-seconds", str(args.idle_baseline_seconds),
            ]  # fmt: skip
            return app_child("idle", root, base, args, extra=extra, bound=bound)


# -- the orchestrator: start-up to the tray icon -------------------------------------------


def start_session(root: Path) -> tuple[dict[str, str], list[subprocess.Popen[Any]], list[int]]:
    """Xvfb on a free display and a private session bus; returns the env and what to kill."""
    env = private_home(base_env(), root)
    procs: list[subprocess.Popen[Any]] = []
    pids: list[int] = []
    read_fd, write_fd = os.pipe()
    try:
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    finally:
        os.close(write_fd)
    procs.append(xvfb)
    number = b""
    deadline = time.monotonic() + SPAWN_WITHIN
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        import select

        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = pipe.read(16)
            if not chunk:
                break
            number += chunk
    if not number.strip():
        raise RuntimeError("Xvfb did not report a display")
    env["DISPLAY"] = f":{int(number)}"
    socket = Path(env["XDG_RUNTIME_DIR"]) / "bus"
    done = subprocess.run(
        [
            "dbus-daemon", "--session", "--fork", f"--address=unix:path={socket}",
            "--print-pid=1", "--nopidfile",
        ],
        capture_output=True,
        text=True,
        timeout=SPAWN_WITHIN,
        env=env,
        check=True,
    )  # fmt: skip
    pids.append(int(done.stdout.split()[0]))
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={socket}"
    return env, procs, pids


def time_to_tray(
    cmd: Sequence[str], env: dict[str, str], host: LineReader, log: Path
) -> float | None:
    """Spawn ``cmd``; seconds until the tray host prints ``registered`` (None: never)."""
    host.drain()
    with log.open("ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        try:
            registered = host.wait_for("registered", SPAWN_WITHIN)
            return None if registered is None else registered - started
        finally:
            stop_process(proc)


def run_startup(args: argparse.Namespace) -> dict[str, Any]:
    missing = [b for b in ("Xvfb", "dbus-daemon") if shutil.which(b) is None]
    if missing:
        return {"error": f"not installed: {', '.join(missing)} (scripts/test installs them)"}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-start-") as tmp:
        root = Path(tmp)
        procs: list[subprocess.Popen[Any]] = []
        pids: list[int] = []
        try:
            env, procs, pids = start_session(root)
            host_proc = subprocess.Popen(
                [sys.executable, "-m", "support.tray_host"],
                cwd=str(TESTS),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            procs.append(host_proc)
            assert host_proc.stdout is not None
            host = LineReader(host_proc.stdout)
            if host.wait_for("ready", SPAWN_WITHIN) is None:
                return {"error": "the tray host did not print ready"}
            profile = root / "profile"
            write_profile(profile, "http://127.0.0.1:9", "none", 0)
            from tidings.core.resources import resource_path

            try:
                icon = str(resource_path("icons/tidings.svg"))
            except FileNotFoundError:
                icon = ""
            tidings_cmd = [
                sys.executable, "-m", "tidings", "--profile-dir", str(profile), "--background",
                "--exit-after", str(SPAWN_WITHIN + 10),
            ]  # fmt: skip
            bare_cmd = [sys.executable, str(BARE_TRAY), "--exit-after", str(SPAWN_WITHIN + 10)]
            if icon:
                bare_cmd += ["--icon", icon]
            runs: dict[str, list[float]] = {"tidings": [], "bare": []}
            warm: dict[str, float | None] = {}
            cmds = {"tidings": tidings_cmd, "bare": bare_cmd}
            for name in ("tidings", "bare"):  # untimed warm-up: caches, the history file
                warm[name] = time_to_tray(cmds[name], env, host, root / f"{name}.log")
            failures = 0
            for round_ in range(args.startup_rounds):
                order = ("tidings", "bare") if round_ % 2 == 0 else ("bare", "tidings")
                for name in order:
                    seconds = time_to_tray(cmds[name], env, host, root / f"{name}.log")
                    if seconds is None:
                        failures += 1
                    else:
                        runs[name].append(seconds)
                print(
                    f"  start-up round {round_ + 1}/{args.startup_rounds}: "
                    + "  ".join(f"{n} {runs[n][-1] * 1000:.0f} ms" for n in order if runs[n]),
                    file=sys.stderr,
                )
            return {"runs": runs, "warm": warm, "failures": failures, "icon": icon}
        finally:
            for proc in reversed(procs):
                stop_process(proc)
            for pid in pids:
                kill_pid(pid)


# -- the report ------------------------------------------------------------------------------


def fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{spec}}{unit}"


def machine_info() -> list[str]:
    import importlib.metadata

    from PySide6.QtCore import qVersion  # noqa: TID251 (only the version, for the report)

    try:
        with Path("/proc/cpuinfo").open() as info:
            model = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), "?")
    except OSError:
        model = "?"
    return [
        f"machine: {os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, Qt {qVersion()}, "
        f"PySide6 {importlib.metadata.version('PySide6-Essentials')}, "
        f"qasync {importlib.metadata.version('qasync')}",
    ]


def report(results: dict[str, Any], args: argparse.Namespace, command: str, elapsed: float) -> None:
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, note: str = "") -> None:
        rows.append((what, value, note))

    for window in ("shown", "hidden"):
        flood = results.get(f"flood-{window}")
        if flood is None:
            continue
        tag = f"flood, window {window}"
        if "error" in flood:
            row(tag, "FAILED", flood["error"].strip().splitlines()[-1][:80])
            continue
        base, during, after = flood["lag_baseline"], flood["lag_flood"], flood["lag_after"]
        verdict = "met" if during["p99_ms"] < LAG_TARGET_MS else "MISSED"
        row(
            f"{tag}: loop lag p50 / p99 / max",
            f"{fmt(during['p50_ms'])} / {fmt(during['p99_ms'])} / {fmt(during['max_ms'])} ms",
            f"target p99 < {LAG_TARGET_MS:.0f} ms: {verdict}; "
            f"{during['over_50ms']} of {during['ticks']} ticks over 50 ms",
        )
        ratio = during["p99_ms"] / base["p99_ms"] if base["p99_ms"] > 0 else float("nan")
        row(
            f"{tag}: lag before the flood (baseline)",
            f"{fmt(base['p50_ms'])} / {fmt(base['p99_ms'])} / {fmt(base['max_ms'])} ms",
            f"flood p99 = {fmt(ratio, '.1f')}x baseline p99",
        )
        row(
            f"{tag}: lag after it drained",
            f"{fmt(after['p50_ms'])} / {fmt(after['p99_ms'])} / {fmt(after['max_ms'])} ms",
        )
        row(
            f"{tag}: ticks seen / expected in the flood",
            f"{during['ticks']} / {during['expected_ticks']}",
            "fewer ticks: the loop was busy",
        )
        hist = flood["history"]
        total = flood["per_feed"] * flood["feeds"]
        row(
            f"{tag}: events sent / stored (history) / seen by sink",
            f"{flood['sent']} / {hist['rows']} / {flood['stored_sink']}",
            f"{hist['feeds_complete']}/{flood['feeds']} feeds ids 1..{flood['per_feed']} exact; "
            f"lost {hist['lost']}, duplicates {hist['duplicates']}"
            + ("" if flood["sent"] == total else f" (server sent {flood['sent']} of {total})"),
        )
        row(
            f"{tag}: flood rate achieved / drained",
            f"{fmt(total / (args.flood_seconds + max(0.0, flood['drain_after_flood_s'])), '.0f')}"
            f" ev/s",
            f"all stored {fmt(flood['drain_after_flood_s'], '.2f')} s after the flood's end; "
            f"{flood['sink_batches']} batches, {flood['connections']} connections",
        )
        row(
            f"{tag}: popups decided (max per feed) / bound",
            f"{flood['popups']} ({flood['popups_max_feed']}) / "
            f"{flood['popup_bound_per_feed'] * flood['feeds']} "
            f"({flood['popup_bound_per_feed']})",
            f"most in any {flood['flood_window']:.0f} s window of one feed: "
            f"{flood['popups_max_in_window']} (limit {flood['flood_limit']})",
        )
        row(
            f"{tag}: flood summaries",
            f"{flood['summary_keys']} bubbles",
            f"{flood['summary_updates']} in-place updates "
            f"({fmt(flood['summary_updates'] / args.flood_seconds, '.0f')}/s); "
            f"notifier: {flood['notifier']}",
        )
        row(
            f"{tag}: RSS before / peak / after",
            f"{fmt(flood['rss_before'])} / {fmt(flood['rss_peak'])} / "
            f"{fmt(flood['rss_after'])} MiB",
            f"after = {args.after:.0f} s after the flood, after gc; VmHWM {fmt(flood['rss_hwm'])}",
        )
        row(
            f"{tag}: CPU during the flood",
            f"{fmt(flood['cpu_flood_pct'], '.0f')} % of a core",
            f"main (GUI/loop) thread {fmt(flood['cpu_main_thread_pct'], '.0f')} %",
        )
    idle = results.get("idle")
    if idle is not None:
        if "error" in idle:
            row("idle", "FAILED", idle["error"].strip().splitlines()[-1][:80])
        else:
            connected, paused = idle["connected"], idle["paused"]
            verdict = "met" if connected["cpu_pct"] < IDLE_TARGET_PCT else "MISSED"
            row(
                f"idle, {idle['feeds']} open feeds, {args.heartbeat:.0f} s heartbeats: CPU",
                f"{fmt(connected['cpu_pct'], '.2f')} % of a core",
                f"over {connected['wall_s']:.0f} s; target < {IDLE_TARGET_PCT:.0f} %: {verdict}; "
                f"{fmt(connected['switches_per_s'], '.0f')} context switches/s",
            )
            if paused:
                row(
                    "idle, same app, every feed paused (baseline): CPU",
                    f"{fmt(paused['cpu_pct'], '.2f')} % of a core",
                    f"over {paused['wall_s']:.0f} s; "
                    f"{fmt(paused['switches_per_s'], '.0f')} context switches/s",
                )
            row(
                "idle: feeds still open / status changes / RSS",
                f"{idle['open_at_end']}/{idle['feeds']} / {idle['status_changes']} / "
                f"{fmt(idle['rss'])} MiB",
            )
    startup = results.get("startup")
    if startup is not None:
        if "error" in startup:
            row("start-up to tray icon", "FAILED", startup["error"][:80])
        else:
            runs = startup["runs"]
            med = {n: statistics.median(v) if v else float("nan") for n, v in runs.items()}
            spread = {
                n: f"{min(v) * 1000:.0f}-{max(v) * 1000:.0f}" if v else "-" for n, v in runs.items()
            }
            row(
                "start-up to tray icon: tidings --background",
                f"{fmt(med['tidings'] * 1000, '.0f')} ms",
                f"median of {len(runs['tidings'])}, {spread['tidings']} ms; warm-up "
                f"{fmt((startup['warm']['tidings'] or float('nan')) * 1000, '.0f')} ms",
            )
            row(
                "start-up to tray icon: bare PySide6 tray (baseline)",
                f"{fmt(med['bare'] * 1000, '.0f')} ms",
                f"median of {len(runs['bare'])}, {spread['bare']} ms; icon "
                f"{'Tidings SVG' if startup['icon'] else 'drawn pixmap'}",
            )
            row(
                "start-up to tray icon: ratio tidings / bare",
                f"{fmt(med['tidings'] / med['bare'], '.2f')}x",
                f"{startup['failures']} launches never registered",
            )
    width = max((len(r[0]) for r in rows), default=10)
    value_width = max((len(r[1]) for r in rows), default=10)
    print("\n" + "=" * 100)
    print("Tidings desktop app: responsiveness")
    for line in machine_info():
        print(line)
    print(f"command: {command}")
    print(
        f"flood {args.rate:.0f} events/s over {args.feeds} feeds for {args.flood_seconds:.0f} s "
        f"(offscreen); idle {args.idle_feeds} feeds for {args.idle_seconds:.0f} s; "
        f"start-up {args.startup_rounds} rounds under Xvfb"
    )
    print("-" * 100)
    for what, value, note in rows:
        print(f"{what:<{width}}  {value:>{value_width}}  {note}")
    print("-" * 100)
    for name, result in results.items():
        if result.get("stderr_lines"):
            print(f"{name}: the app wrote {result['stderr_lines']} log lines; the last:")
            for line in result["stderr_tail"]:
                print(f"    {line[:160]}")
    print(
        f"total {elapsed:.0f} s; load average at the end {os.getloadavg()[0]:.2f}; "
        f"this script's own peak RSS {rss_mib('VmHWM'):.0f} MiB"
    )


# -- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", nargs="+", choices=("flood", "idle", "startup"))
    parser.add_argument("--quick", action="store_true", help="shorter phases (about 2 minutes)")
    parser.add_argument("--rate", type=float, default=5000.0, help="flood events/s, all feeds")
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=30.0, help="RSS this long after the flood")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--window", choices=("both", "shown", "hidden"), default="both")
    parser.add_argument("--idle-feeds", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--idle-baseline-seconds", type=float, default=20.0)
    parser.add_argument("--idle-window", action="store_true", help="idle with the window shown")
    parser.add_argument("--heartbeat", type=float, default=15.0)
    parser.add_argument("--startup-rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the flood's main thread")
    parser.add_argument("--top", type=int, default=25, help="entries per profile listing")
    parser.add_argument("--screenshot", help="save the window mid-flood to this PNG")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    # The app child's own options.
    parser.add_argument("--role", choices=("main", "app"), default="main")
    parser.add_argument("--mode", choices=("flood", "idle"))
    parser.add_argument("--profile-dir")
    parser.add_argument("--base")
    parser.add_argument("--result")
    parser.add_argument("--bound", type=float, default=600.0)
    parser.add_argument("--profile-out")
    args = parser.parse_args()

    if args.role == "app":
        run_app(args)
        return
    if args.quick:
        args.flood_seconds = min(args.flood_seconds, 10.0)
        args.after = min(args.after, 10.0)
        args.idle_seconds = min(args.idle_seconds, 20.0)
        args.idle_baseline_seconds = min(args.idle_baseline_seconds, 10.0)
        args.startup_rounds = min(args.startup_rounds, 3)
    parts = args.only or ["flood", "idle", "startup"]
    command = " ".join([Path(sys.executable).name, *sys.argv])
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if "flood" in parts:
        for window in ("shown", "hidden") if args.window == "both" else (args.window,):
            print(f"flood, window {window}...", file=sys.stderr)
            results[f"flood-{window}"] = run_flood(args, window)
    if "idle" in parts:
        print("idle...", file=sys.stderr)
        results["idle"] = run_idle(args)
    if "startup" in parts:
        print("start-up to the tray icon...", file=sys.stderr)
        results["startup"] = run_startup(args)
    for name, result in results.items():
        if "error" in result:
            print(f"\n{name} failed:\n{result['error']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    report(results, args, command, time.perf_counter() - started)


if __name__ == "__main__":
    main()
