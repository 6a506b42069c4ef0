"""Run the built binary the way a user would, offline: --version, --self-test, and ``listen``.

    .venv/bin/python packaging/smoke_test.py dist/tidings-0.1.0-linux-x86_64/tidings

``listen`` runs against a scripted SSE server on 127.0.0.1 (port 0, from
tests/support): two events, then the stream ends; the binary must reconnect
with ``Last-Event-ID: 2`` and take the third, then exit 0 after
``--max-events 3`` with exactly the expected JSON lines. Every child runs under
a timeout. Exit 0 when all pass, 1 with what failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.scripted_server import Pause, ScriptedServer, sse_reply  # noqa: E402

STEP_TIMEOUT = 60.0
EXPECTED = [
    {"event": "deploy", "data": "web 1.2.3 to staging", "id": "1"},
    {"event": "message", "data": "line one\nline two: ünïcødé ✓", "id": "2"},
    {"event": "alert", "data": '{"level": "critical"}', "id": "3"},
]


class SmokeError(Exception):
    """One step did not do what a user would expect."""


def run(exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    sys.stdout.write(f"$ {exe.name} {' '.join(args)}  -> exit {proc.returncode}\n{proc.stdout}")
    if proc.stderr.strip():
        sys.stdout.write(f"(stderr)\n{proc.stderr}")
    return proc


def check_version(exe: Path) -> None:
    text = (ROOT / "app" / "tidings" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    assert match is not None
    proc = run(exe, "--version")
    if proc.returncode != 0 or proc.stdout.strip() != f"tidings {match.group(1)}":
        raise SmokeError(f"--version said {proc.stdout.strip()!r}, exit {proc.returncode}")


def check_self_test(exe: Path) -> None:
    proc = run(exe, "--self-test")
    if proc.returncode != 0:
        raise SmokeError("--self-test failed")


async def check_listen(exe: Path) -> None:
    first = sse_reply(
        b"retry: 100\n\n",
        b"event: deploy\nid: 1\ndata: web 1.2.3 to staging\n\n",
        Pause(0.05),
        "id: 2\ndata: line one\ndata: line two: ünïcødé ✓\n\n".encode(),
        end="close",
    )
    second = sse_reply(b'event: alert\nid: 3\ndata: {"level": "critical"}\n\n', end="hang")
    async with ScriptedServer([first, second]) as server:
        args = ["listen", server.url(), "--max-events", "3", "--json"]
        child = await asyncio.create_subprocess_exec(
            str(exe),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                out, err = await child.communicate()
        except TimeoutError as exc:
            child.kill()
            await child.wait()
            raise SmokeError(f"listen did not finish within {STEP_TIMEOUT:g} s") from exc
        sys.stdout.write(f"$ {exe.name} {' '.join(args)}  -> exit {child.returncode}\n")
        sys.stdout.write(out.decode(errors="replace"))
        if child.returncode != 0:
            raise SmokeError(f"listen exited {child.returncode}: {err.decode(errors='replace')}")
        lines = [json.loads(line) for line in out.decode().splitlines()]
        if lines != EXPECTED:
            raise SmokeError(f"listen printed {lines!r}, expected {EXPECTED!r}")
        resumed = server.requests[1].header("Last-Event-ID") if len(server.requests) > 1 else None
        if resumed != "2":
            raise SmokeError(f"the reconnect sent Last-Event-ID {resumed!r}, expected '2'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executable", type=Path, help="the built tidings program")
    args = parser.parse_args(argv)
    exe: Path = args.executable.resolve()
    if not exe.is_file():
        sys.stderr.write(f"error: no program at {exe}\n")
        return 1
    failures = []
    steps = [
        ("--version", lambda: check_version(exe)),
        ("--self-test", lambda: check_self_test(exe)),
        ("listen", lambda: asyncio.run(check_listen(exe))),
    ]
    for name, step in steps:
        try:
            step()
        except (SmokeError, subprocess.TimeoutExpired, OSError) as exc:
            failures.append(f"{name}: {exc}")
    if failures:
        sys.stdout.write("smoke test FAILED:\n" + "".join(f"  {f}\n" for f in failures))
        return 1
    sys.stdout.write("smoke test passed: --version, --self-test, listen (with a reconnect)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
