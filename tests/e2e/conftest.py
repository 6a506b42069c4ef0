"""Fixtures for end-to-end tests: ``tidings`` run as a real subprocess.

The test's own asyncio loop serves the loopback servers (ScriptedServer), so
the child is started with :func:`asyncio.create_subprocess_exec` and every
wait on it is bounded. Its stdout is an ``os.pipe()`` that the test owns, so
a test can close the read end early, like ``| head`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.scripted_server import ScriptedServer

# A bound on every single wait in these tests; a healthy run needs a fraction of it.
WAIT = 10.0

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def child_env() -> dict[str, str]:
    """The environment of a child: no proxy, no forced unbuffering, UTF-8 everywhere."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in _PROXY_VARS and name != "PYTHONUNBUFFERED"
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUTF8"] = "1"
    return env


@dataclass(frozen=True)
class Finished:
    """What a finished ``tidings`` run left behind."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as one JSON object (fails if any line is something else).

        Lines end at "\\n" only, as for any JSON Lines reader: U+2028 or NEL inside a
        string is not a line end (str.splitlines() would split there).
        """
        assert self.stdout == "" or self.stdout.endswith("\n"), self.stdout[-200:]
        objects = []
        for line in self.stdout.split("\n")[:-1]:
            value = json.loads(line)
            assert isinstance(value, dict), line
            objects.append(value)
        return objects

    @property
    def error_lines(self) -> list[str]:
        """The stderr lines of the ``error: ...`` form."""
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]

    def assert_no_traceback(self) -> None:
        """No traceback or interpreter complaint on stderr."""
        for marker in ("Traceback", "Exception ignored", "BrokenPipeError"):
            assert marker not in self.stderr, self.stderr


class Tidings:
    """One running ``python -m tidings ...`` child process."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        stdout: asyncio.StreamReader,
        stdout_transport: asyncio.ReadTransport,
    ) -> None:
        self.proc = proc
        self._stdout = stdout
        self._stdout_transport = stdout_transport
        self._stdout_seen = bytearray()
        self._stderr = bytearray()
        assert proc.stderr is not None
        self._stderr_task = asyncio.create_task(self._pump_stderr(proc.stderr))

    async def _pump_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._stderr += chunk

    @property
    def stderr_so_far(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def readline(self, within: float = WAIT) -> str:
        """The next stdout line (without its newline); fails on EOF or after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                line = await self._stdout.readline()
        except TimeoutError:
            pytest.fail(f"no stdout line within {within} s; stderr so far:\n{self.stderr_so_far}")
        assert line.endswith(b"\n"), f"stdout ended: {line!r}; stderr:\n{self.stderr_so_far}"
        self._stdout_seen += line
        # A terminal (tty=True) turns "\n" into "\r\n".
        return line.decode("utf-8").removesuffix("\n").removesuffix("\r")

    async def json_line(self, within: float = WAIT) -> dict[str, Any]:
        value = json.loads(await self.readline(within))
        assert isinstance(value, dict)
        return value

    def close_stdout(self) -> None:
        """Close the read end of the child's stdout pipe, as ``| head`` does when done."""
        self._stdout_transport.close()

    def send_signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    async def finish(self, within: float = WAIT) -> Finished:
        """Wait (at most ``within`` s) for the child to exit on its own; collect its output."""
        try:
            async with asyncio.timeout(within):
                rest = b"" if self._stdout_transport.is_closing() else await self._stdout.read()
                await self.proc.wait()
                await self._stderr_task
        except TimeoutError:
            await self.kill()
            pytest.fail(f"tidings did not exit within {within} s; stderr:\n{self.stderr_so_far}")
        assert self.proc.returncode is not None
        return Finished(
            returncode=self.proc.returncode,
            stdout=(bytes(self._stdout_seen) + rest).decode("utf-8"),
            stderr=self.stderr_so_far,
        )

    async def kill(self) -> None:
        """End the child by force (teardown only) and release its pipes."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), timeout=WAIT)
        self._stdout_transport.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._stderr_task, timeout=WAIT)


StartTidings = Callable[..., Awaitable[Tidings]]
RunTidings = Callable[..., Awaitable[Finished]]


@pytest.fixture
async def start_tidings(tmp_path: Path) -> AsyncIterator[StartTidings]:
    """Start ``python -m tidings ARGS...`` (a fresh cwd, no proxies); killed at teardown."""
    children: list[Tidings] = []
    loop = asyncio.get_running_loop()

    async def start(*args: str, env: dict[str, str] | None = None, tty: bool = False) -> Tidings:
        """``env`` adds to the child's environment; ``tty`` makes its stdout a terminal."""
        read_fd, write_fd = os.openpty() if tty else os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tidings",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                stderr=asyncio.subprocess.PIPE,
                cwd=tmp_path,
                env={**child_env(), **(env or {})},
            )
        finally:
            os.close(write_fd)
        reader = asyncio.StreamReader(limit=2**20)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader),
            os.fdopen(read_fd, "rb", buffering=0),
        )
        child = Tidings(proc, reader, transport)
        children.append(child)
        return child

    yield start
    for child in children:
        await child.kill()


@pytest.fixture
def run_tidings(start_tidings: StartTidings) -> RunTidings:
    """Run ``python -m tidings ARGS...`` to the end (bounded) and return what it wrote."""

    async def run(*args: str, within: float = WAIT, env: dict[str, str] | None = None) -> Finished:
        child = await start_tidings(*args, env=env)
        return await child.finish(within)

    return run


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """A scripted SSE server on 127.0.0.1 (port 0); tests set its script."""
    async with ScriptedServer() as scripted:
        yield scripted
