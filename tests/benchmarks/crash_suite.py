"""Crash and freeze suite: ``kill -9`` of Tidings under load, and SIGSTOP past the idle timeout.

```
.venv/bin/python tests/benchmarks/crash_suite.py              # 20 kills, 3 freezes of each kind
.venv/bin/python tests/benchmarks/crash_suite.py --kills 5 --freezes 1
```

What runs: a replaying SSE server (:class:`HeadServer`, a ScriptedServer on
127.0.0.1, port 0, in this process) whose feeds each have a *head* that
grows with time (``--rate`` ids per second per feed); a connection sends
every id after its ``Last-Event-ID`` up to the head, then follows the head.
``tidings run --headless --json --no-notify`` runs as a child process on a
temporary profile with ``--feeds`` such feeds.

- **kills**: the child is started, killed with SIGKILL at a random moment
  (uniform in ``--kill-window`` seconds after its start: some during
  start-up, most under load), and started again, ``--kills`` times; then a
  last run ends with SIGTERM. After each kill the history database gets
  ``PRAGMA integrity_check`` and the settings file is compared byte for
  byte and loaded; at the end, each feed's stored ids must be 1..max with
  none missing (lost) and none twice (duplicated).
- **freezes**: SIGSTOP for ``--idle`` + 1 s (each feed's idle timeout is
  ``--idle``), then SIGCONT. *stream*: the server keeps writing to the
  frozen client's socket. *stall*: the server stops writing on every open
  connection as the freeze begins (a dead connection); only a reconnect
  gets the rest. Recovery is the time from SIGCONT until every feed has
  printed the id its head had reached at SIGCONT; the bound is the idle
  timeout plus the reconnection time (1 s, the default T).

It prints a table per part; nothing asserts (a script, not a test). The
pytest version, with fewer rounds, is tests/faults/test_freeze_and_crash.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for entry in (ROOT / "tests", ROOT / "app"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from support.scripted_server import (  # noqa: E402
    BodyPart,
    Pause,
    RecordedRequest,
    Reply,
    ScriptedServer,
)

__all__ = [
    "Child",
    "HeadServer",
    "ProfileCheck",
    "check_profile",
    "start_child",
    "write_profile",
]

RECONNECTION_TIME = 1.0
"""Tidings' default T (the server sends no ``retry:``)."""
TOLERANCE = 0.25
"""Allowed on top of idle + T for the child to be scheduled and send its request."""
STEP = 0.01
"""How often the server follows a feed's head (seconds)."""


class HeadServer:
    """Feeds ``/f0`` .. ``/f{n-1}``; each id's time is fixed by the rate, and a reconnect
    with Last-Event-ID resumes after it: a server that can always replay."""

    def __init__(self, feeds: int, rate: float) -> None:
        self.feeds = [f"f{n}" for n in range(feeds)]
        self.rate = rate
        self.started = time.monotonic()
        self.sent: dict[str, int] = dict.fromkeys(self.feeds, 0)
        """The highest id written to any connection, per feed."""
        self.generation = 0
        self.requests: list[tuple[float, str]] = []
        """Each request's time (monotonic) and feed."""
        self.server = ScriptedServer(self._reply)

    def head(self) -> int:
        """The newest id of every feed now."""
        return int((time.monotonic() - self.started) * self.rate)

    def stall(self) -> None:
        """Every open connection goes silent (stays open); new connections are served."""
        self.generation += 1

    def url(self, feed: str) -> str:
        return self.server.url("/" + feed)

    async def __aenter__(self) -> HeadServer:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    def _reply(self, request: RecordedRequest) -> Reply:
        feed = request.target.split("?", 1)[0].lstrip("/")
        self.requests.append((time.monotonic(), feed))
        if feed not in self.sent:
            return Reply(status=404, headers=(("Content-Type", "text/plain"),), framing="length")
        raw = request.header("Last-Event-ID")
        after = int(raw) if raw and raw.isdigit() else 0
        generation = self.generation

        async def body() -> AsyncIterator[BodyPart]:
            nonlocal after
            yield b": hello\n\n"
            while generation == self.generation:
                head = self.head()
                if head > after:
                    upto = min(head, after + 500)
                    yield b"".join(
                        b"id: %d\ndata: %s %d\n\n" % (n, feed.encode(), n)
                        for n in range(after + 1, upto + 1)
                    )
                    self.sent[feed] = max(self.sent[feed], upto)
                    after = upto
                yield Pause(STEP)
            # Stalled: the connection stays open, silent, until the client gives up.
            yield Pause(3600)

        return Reply(body=lambda _request: body(), end="hang")


def write_profile(profile: Path, urls: dict[str, str], *, idle: float | None = None) -> bytes:
    """A settings file with one feed per URL; returns its bytes (to compare later)."""
    config = profile / "config"
    config.mkdir(parents=True, exist_ok=True)
    text = "schema_version = 1\n"
    for feed_id, url in urls.items():
        text += f'\n[[feeds]]\nid = "{feed_id}"\nname = "Feed {feed_id}"\nurl = "{url}"\n'
        if idle is not None:
            text += f"idle_timeout = {idle}\n"
    data = text.encode()
    (config / "settings.toml").write_bytes(data)
    return data


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUTF8"] = "1"
    env.pop("PYTHONUNBUFFERED", None)
    return env


@dataclass
class Child:
    """A running ``tidings run --headless --json``; a task reads its stdout as it comes."""

    proc: asyncio.subprocess.Process
    lines: int = 0
    last_id: dict[str, int] = field(default_factory=dict)
    """The highest id printed, per feed."""
    seen: dict[str, list[int]] = field(default_factory=dict)
    """Every id printed, per feed, in order."""
    stderr: bytearray = field(default_factory=bytearray)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                event = json.loads(line)
                number = int(event["id"])
            except (ValueError, KeyError, TypeError):
                continue
            feed = str(event["feed"])
            self.lines += 1
            self.seen.setdefault(feed, []).append(number)
            self.last_id[feed] = max(self.last_id.get(feed, 0), number)
            self.changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.stderr += chunk

    async def wait_until(self, predicate: object, within: float) -> bool:
        """Wait until ``predicate()`` holds (True) or ``within`` seconds pass (False)."""
        assert callable(predicate)
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    self.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 0.05)
        except TimeoutError:
            return False
        return True

    async def finish(self, sig: signal.Signals | None, within: float = 20.0) -> int:
        """Send ``sig`` (none: just wait) and wait for the exit and the last output."""
        if sig is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks), 10)
        assert self.proc.returncode is not None
        return self.proc.returncode


async def start_child(profile: Path, *, cwd: Path | None = None) -> Child:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "--profile-dir",
        str(profile),
        "run",
        "--headless",
        "--json",
        "--no-notify",
        "--settings-poll",
        "0.5",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd or profile,
        env=child_env(),
        limit=2**20,
    )
    child = Child(proc)
    child._tasks = [
        asyncio.create_task(child._read_stdout()),
        asyncio.create_task(child._read_stderr()),
    ]
    return child


@dataclass
class ProfileCheck:
    """What a profile holds after a crash."""

    integrity: str
    """``PRAGMA integrity_check``'s answer ("ok"), or why it could not run."""
    settings_intact: bool
    stored: dict[str, list[int]]
    """Every stored id per feed, sorted."""
    stats_match: bool
    """Whether the per-feed counters (feed_stats) agree with the rows."""

    def lost(self, feed: str) -> int:
        ids = self.stored.get(feed, [])
        return (max(ids) - len(set(ids))) if ids else 0

    def duplicated(self, feed: str) -> int:
        ids = self.stored.get(feed, [])
        return len(ids) - len(set(ids))


def check_profile(profile: Path, settings: bytes) -> ProfileCheck:
    """Open the history as a restart would (WAL recovery included) and check it all."""
    from tidings.core.config import load_settings  # after sys.path
    from tidings.core.paths import Paths

    paths = Paths.resolve(profile)
    intact = paths.settings_file.read_bytes() == settings
    try:
        load_settings(paths.settings_file)
    except Exception:
        intact = False
    stored: dict[str, list[int]] = {}
    stats_match = True
    if not paths.history_db.exists():
        return ProfileCheck("no database yet", intact, stored, stats_match)
    db = sqlite3.connect(paths.history_db, timeout=10)
    try:
        integrity = "; ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
        rows = db.execute("SELECT feed_id, event_id FROM events ORDER BY feed_id, event_id + 0")
        for feed_id, event_id in rows:
            if str(event_id).isdigit():
                stored.setdefault(feed_id, []).append(int(event_id))
        with contextlib.suppress(sqlite3.Error):
            counted = dict(db.execute("SELECT feed_id, count(*) FROM events GROUP BY feed_id"))
            stats = {f: t for f, t in db.execute("SELECT feed_id, total FROM feed_stats") if t}
            stats_match = counted == stats
    except sqlite3.Error as exc:
        integrity = f"error: {exc}"
    finally:
        db.close()
    return ProfileCheck(integrity, intact, stored, stats_match)


# -- the suite -----------------------------------------------------------------------------


@dataclass
class KillRound:
    delay: float
    printed: int
    rows: int
    integrity: str
    settings_intact: bool


async def run_kills(args: argparse.Namespace, work: Path, rng: random.Random) -> None:
    profile = work / "kills"
    async with HeadServer(args.feeds, args.rate) as server:
        settings = write_profile(profile, {f: server.url(f) for f in server.feeds})
        rounds: list[KillRound] = []
        for _ in range(args.kills):
            child = await start_child(profile)
            delay = rng.uniform(*args.kill_window)
            await asyncio.sleep(delay)
            await child.finish(signal.SIGKILL)
            check = check_profile(profile, settings)
            rows = sum(len(v) for v in check.stored.values())
            rounds.append(
                KillRound(delay, child.lines, rows, check.integrity, check.settings_intact)
            )
        # A last, clean run: everything the kills left in flight is replayed.
        child = await start_child(profile)
        target = server.head()
        await child.wait_until(
            lambda: all(child.last_id.get(f, 0) >= target for f in server.feeds), 30
        )
        code = await child.finish(signal.SIGTERM)
        final = check_profile(profile, settings)
        sent = sum(server.sent.values())

    print(
        f"\nkill -9 under load: {args.feeds} feeds x {args.rate:g} events/s, kills at "
        f"{args.kill_window[0]:g}-{args.kill_window[1]:g} s after start"
    )
    print(f"{'kill':>4} {'at s':>6} {'printed':>8} {'stored':>8}  integrity  settings")
    for n, r in enumerate(rounds, 1):
        print(
            f"{n:>4} {r.delay:>6.2f} {r.printed:>8} {r.rows:>8}  {r.integrity:<9}  "
            f"{'intact' if r.settings_intact else 'CHANGED'}"
        )
    stored = sum(len(v) for v in final.stored.values())
    lost = sum(final.lost(f) for f in server.feeds)
    duplicated = sum(final.duplicated(f) for f in server.feeds)
    pending = sum(server.sent[f] - max(final.stored.get(f, [0])) for f in server.feeds)
    bad_rounds = sum(1 for r in rounds if r.integrity not in {"ok", "no database yet"})
    print()
    print(
        f"{'kills':>5} {'sent':>8} {'stored':>8} {'lost':>5} {'dup':>5} {'unread tail':>11} "
        f"{'integrity':>10} {'settings':>9} {'counters':>9}  last exit"
    )
    print(
        f"{len(rounds):>5} {sent:>8} {stored:>8} {lost:>5} {duplicated:>5} {pending:>11} "
        f"{'ok' if final.integrity == 'ok' and not bad_rounds else 'FAILED':>10} "
        f"{'intact' if final.settings_intact else 'CHANGED':>9} "
        f"{'match' if final.stats_match else 'DIFFER':>9}  {code}"
    )
    print(
        "sent: distinct ids the server wrote; lost: ids missing below each feed's highest "
        "stored id; unread tail: sent after the last run's final read (replayable, not lost)"
    )


@dataclass
class Freeze:
    recovery: float | None
    """SIGCONT until every feed printed its head at SIGCONT (None: not within the bound)."""
    reconnect: float | None
    """SIGCONT until the last feed's new request (None: no feed reconnected)."""
    lost: int
    duplicated: int


async def freeze_once(profile: Path, server: HeadServer, *, idle: float, mode: str) -> Freeze:
    """One freeze, judged from the ids the child printed."""
    child = await start_child(profile)
    try:
        ok = await child.wait_until(
            lambda: (
                all(child.last_id.get(f, 0) >= server.head() - 5 for f in server.feeds)
                and len(child.last_id) == len(server.feeds)
            ),
            20,
        )
        if not ok:
            return Freeze(None, None, 0, 0)
        child.proc.send_signal(signal.SIGSTOP)
        if mode == "stall":
            server.stall()
        await asyncio.sleep(idle + 1.0)
        target = server.head()
        resumed = time.monotonic()
        child.proc.send_signal(signal.SIGCONT)
        caught_up = await child.wait_until(
            lambda: all(child.last_id.get(f, 0) >= target for f in server.feeds),
            idle + RECONNECTION_TIME + 20,
        )
        recovery = time.monotonic() - resumed if caught_up else None
        again = {feed: at for at, feed in server.requests if at >= resumed}
        reconnect = max(again.values()) - resumed if len(again) == len(server.feeds) else None
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGCONT)
        await child.finish(signal.SIGTERM)
    lost = duplicated = 0
    for ids in child.seen.values():
        duplicated += len(ids) - len(set(ids))
        present = set(ids)
        lost += sum(1 for n in range(min(ids), max(ids) + 1) if n not in present)
    return Freeze(recovery, reconnect, lost, duplicated)


async def run_freezes(args: argparse.Namespace, work: Path) -> None:
    print(
        f"\nSIGSTOP for {args.idle + 1:g} s (idle timeout {args.idle:g} s, T "
        f"{RECONNECTION_TIME:g} s: bound {args.idle + RECONNECTION_TIME:g} s + {TOLERANCE:g} s "
        "to send the request), then SIGCONT; "
        f"{args.feeds} feeds x {args.rate:g} events/s"
    )
    print(
        f"{'mode':<7} {'runs':>4} {'recovered':>9} {'reconnect p50/max s':>19} "
        f"{'within bound':>12} {'caught up p50/max s':>19} {'lost':>5} {'dup':>5}"
    )
    bound = args.idle + RECONNECTION_TIME
    for mode in ("stream", "stall"):
        runs: list[Freeze] = []
        for n in range(args.freezes):
            profile = work / f"freeze-{mode}-{n}"
            async with HeadServer(args.feeds, args.rate) as server:
                write_profile(profile, {f: server.url(f) for f in server.feeds}, idle=args.idle)
                runs.append(await freeze_once(profile, server, idle=args.idle, mode=mode))
        times = [r.recovery for r in runs if r.recovery is not None]
        reconnects = [r.reconnect for r in runs if r.reconnect is not None]
        within = sum(1 for t in reconnects if t <= bound + TOLERANCE)
        print(
            f"{mode:<7} {len(runs):>4} {len(times):>9} {_spread(reconnects):>19} "
            f"{f'{within} of {len(reconnects)}':>12} {_spread(times):>19} "
            f"{sum(r.lost for r in runs):>5} {sum(r.duplicated for r in runs):>5}"
        )
    print(
        "reconnect: SIGCONT to the last feed's new request ('-': none needed, the connection "
        "lived); caught up: to every feed printing the id its head had at SIGCONT"
    )


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0, help="ids per second per feed")
    parser.add_argument(
        "--kill-window", type=float, nargs=2, default=(0.3, 2.5), metavar=("MIN", "MAX")
    )
    parser.add_argument("--freezes", type=int, default=3, help="freezes of each kind")
    parser.add_argument("--idle", type=float, default=2.0, help="each feed's idle timeout (s)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    import tempfile

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tidings-crash-") as tmp:
        work = Path(tmp)
        if args.kills:
            asyncio.run(run_kills(args, work, random.Random(seed)))
        if args.freezes:
            asyncio.run(run_freezes(args, work))
    print(
        f"\nseed {seed}; {time.monotonic() - started:.0f} s; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores"
    )
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
