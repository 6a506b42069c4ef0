"""In CI, a test skipped for a missing desktop piece fails the run instead of passing silently.

Mark such tests with ``@pytest.mark.desktop`` (or skip with a reason starting
``desktop:``). With ``CI=true`` in the environment their skips become failures,
so a CI machine that lacks Xvfb, a bus, a notification daemon or a keyring
cannot look green.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = (
        str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    )
    if item.get_closest_marker("desktop") is not None or "desktop:" in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true, and this desktop test was skipped: {reason}"
