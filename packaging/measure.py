# ruff: noqa: T201  (a report script: it prints figures)
"""Figures for the binaries: sizes, and the time from launch to the tray icon (binary vs source).

    .venv/bin/python packaging/build.py && .venv/bin/python packaging/build.py --onefile
    .venv/bin/python packaging/measure.py [--rounds 5]
    .venv/bin/python packaging/measure.py --trim-report DIST   # sizes each drop of trim.py

Start-up runs under Xvfb with a private D-Bus session and the test tray host
(tests/support/tray_host.py, a StatusNotifierWatcher): the time from spawning
``tidings --background`` (fresh profile, no feeds) to the host's ``registered``
line, for ``python -m tidings``, the onedir binary and the onefile binary,
taking turns after one untimed warm-up each; medians. ``--version`` (the CLI's
start-up, no Qt) is timed the same way. The session helpers come from
tests/benchmarks/bench_gui.py. Prints figures, asserts nothing (not a test).
``--trim-report`` takes an untrimmed build (``build.py --no-trim --dist DIR``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests"), str(ROOT / "tests" / "benchmarks")]

import bench_gui  # noqa: E402
from build import executable, size_of  # noqa: E402
from trim import drop_reason, unreachable_libraries  # noqa: E402

MB = 1e6


def sizes(dist: Path) -> None:
    onedir = executable(dist, onefile=False).parent
    onefile = executable(dist, onefile=True)
    print("size")
    for label, path in (("onedir folder", onedir), ("onefile program", onefile)):
        text = f"{size_of(path) / MB:7.1f} MB  {path.name}" if path.exists() else "not built"
        print(f"  {label:<18} {text}")
    for packed in sorted(dist.glob(f"{onedir.name}.*")):
        print(f"  {'archive':<18} {packed.stat().st_size / MB:7.1f} MB  {packed.name}")


def time_version(cmd: list[str], rounds: int) -> float:
    runs = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        subprocess.run([*cmd, "--version"], capture_output=True, timeout=60, check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs[1:])


def startup(cmds: dict[str, list[str]], rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tidings-measure-") as tmp:
        root = Path(tmp)
        procs: list[subprocess.Popen[Any]] = []
        pids: list[int] = []
        try:
            env, procs, pids = bench_gui.start_session(root)
            host_proc = subprocess.Popen(
                [sys.executable, "-m", "support.tray_host"],
                cwd=str(ROOT / "tests"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            procs.append(host_proc)
            assert host_proc.stdout is not None
            host = bench_gui.LineReader(host_proc.stdout)
            if host.wait_for("ready", bench_gui.SPAWN_WITHIN) is None:
                return {"error": "the tray host did not print ready"}
            runs: dict[str, list[float]] = {name: [] for name in cmds}
            failures: dict[str, int] = dict.fromkeys(cmds, 0)
            for index in range(rounds + 1):  # round 0: untimed warm-up
                order = list(cmds) if index % 2 == 0 else list(reversed(cmds))
                for name in order:
                    profile = root / f"profile-{name}-{index}"
                    cmd = [
                        *cmds[name], "--profile-dir", str(profile), "--background",
                        "--exit-after", str(bench_gui.SPAWN_WITHIN + 10),
                    ]  # fmt: skip
                    seconds = bench_gui.time_to_tray(cmd, env, host, root / f"{name}.log")
                    if index == 0:
                        continue
                    if seconds is None:
                        failures[name] += 1
                    else:
                        runs[name].append(seconds)
            return {"runs": runs, "failures": failures}
        finally:
            for proc in reversed(procs):
                bench_gui.stop_process(proc)
            for pid in pids:
                bench_gui.kill_pid(pid)


def trim_report(dist: Path) -> None:
    """What each drop group of trim.py would remove from an untrimmed onedir build."""
    folder = next((p for p in dist.iterdir() if p.is_dir() and p.name.startswith("tidings-")), None)
    if folder is None:
        raise SystemExit(f"error: no untrimmed onedir build in {dist}")
    internal = folder / "_internal"
    files = [p for p in internal.rglob("*") if p.is_file() and not p.is_symlink()]
    groups: dict[str, int] = {}
    kept = []
    for path in files:
        reason = drop_reason(path.relative_to(internal).as_posix())
        if reason is None:
            kept.append(path)
        else:
            groups[reason] = groups.get(reason, 0) + path.stat().st_size
    if sys.platform.startswith("linux"):
        from PyInstaller.depend.bindepend import get_imports  # noqa: PLC0415

        binaries = [
            (p.relative_to(internal).as_posix(), str(p))
            for p in kept
            if ".so" in p.name or p == folder / "tidings"
        ]
        unused = unreachable_libraries(binaries, lambda s: [n for n, _ in get_imports(s)])
        groups["libraries only those needed (ldd walk)"] = sum(
            (internal / dest).stat().st_size for dest in unused
        )
    total = size_of(folder)
    print(f"untrimmed onedir: {total / MB:.1f} MB ({folder.name})")
    for group, size in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {size / MB:6.1f} MB  {group}")
    print(f"trimmed (estimate): {(total - sum(groups.values())) / MB:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--rounds", type=int, default=5, help="timed start-ups of each program")
    parser.add_argument("--trim-report", type=Path, metavar="DIST", help="size trim.py's drops")
    args = parser.parse_args(argv)
    if args.trim_report is not None:
        trim_report(args.trim_report)
        return 0
    sizes(args.dist)
    cmds = {"python -m tidings": [sys.executable, "-m", "tidings"]}
    for label, onefile in (("onedir binary", False), ("onefile binary", True)):
        exe = executable(args.dist, onefile=onefile)
        if exe.is_file():
            cmds[label] = [str(exe)]
    print(f"\n--version (CLI start-up, no Qt), median of {args.rounds}")
    for name, cmd in cmds.items():
        print(f"  {name:<18} {time_version(cmd, args.rounds) * 1000:6.0f} ms")
    print(f"\nlaunch to tray icon (Xvfb + tray host), median of {args.rounds}")
    result = startup(cmds, args.rounds)
    if "error" in result:
        print(f"  error: {result['error']}")
        return 1
    base = None
    for name, runs in result["runs"].items():
        if not runs:
            print(f"  {name:<18} never registered ({result['failures'][name]} failures)")
            continue
        median = statistics.median(runs)
        base = base or median
        spread = f"{min(runs) * 1000:.0f}-{max(runs) * 1000:.0f}"
        print(
            f"  {name:<18} {median * 1000:6.0f} ms  (x{median / base:.2f}; {spread} ms;"
            f" {result['failures'][name]} failures)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
