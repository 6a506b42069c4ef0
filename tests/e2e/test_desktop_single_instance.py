"""One desktop app per profile: a second launch brings the first one's window forward and exits."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from e2e.conftest import WAIT, StartTidings, Tidings

OFFSCREEN = {"QT_QPA_PLATFORM": "offscreen"}


async def stderr_has(child: Tidings, text: str, within: float = WAIT) -> None:
    async with asyncio.timeout(within):
        while text not in child.stderr_so_far:
            await asyncio.sleep(0.05)


async def test_a_second_launch_raises_the_first_and_exits(
    start_tidings: StartTidings, tmp_path: Path
) -> None:
    profile = str(tmp_path / "profile")
    first = await start_tidings(
        "--profile-dir", profile, "--background", "--log-level", "info", env=OFFSCREEN
    )
    await stderr_has(first, "ready:")

    second = await start_tidings("--profile-dir", profile, env=OFFSCREEN)
    raised = await second.finish()
    assert raised.returncode == 0
    assert "already running: its window was brought forward" in raised.stderr
    await stderr_has(first, "another launch asked for the window")

    # The headless hub cannot run on the same profile either, and says why.
    headless = await start_tidings("--profile-dir", profile, "run", "--headless", env=OFFSCREEN)
    refused = await headless.finish()
    assert refused.returncode == 1
    assert "already running with this profile" in refused.stderr

    # Another profile is another instance.
    other = await start_tidings(
        "--profile-dir",
        str(tmp_path / "other"),
        "--background",
        "--log-level",
        "info",
        env=OFFSCREEN,
    )
    await stderr_has(other, "ready:")

    for child in (first, other):
        child.send_signal(signal.SIGTERM)
        finished = await child.finish()
        assert finished.returncode == 0, finished.stderr
        finished.assert_no_traceback()
