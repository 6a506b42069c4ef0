"""The desktop app after a full session with a known secret: no trace of it anywhere.

``tests/e2e/test_no_secret_leaks.py`` does this for the commands; this is the same idea for
the GUI. The secrets go into gnome-keyring (the store the app uses) through ``feeds add``;
the app then runs offscreen, at debug log level, in a child process, through its real
composition root (``gui_leak_driver.py``): it connects with them, shows the log, opens each
feed in the editor and tests it, and copies the diagnostics. Afterwards every file under
the profile and the private HOME, the app's stdout and stderr, and every text the driver
read off the widgets and the clipboard are searched for the secret, raw and encoded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from e2e.test_feeds_cli import session_env, tidings
from support.desktop import DesktopSession
from support.scripted_server import RecordedRequest, Reply, ScriptedServer, sse_reply

pytestmark = pytest.mark.timeout(90)

CANARY = "TIDINGS-GUI-CANARY-5e1b77"
FORMS = (
    CANARY,
    base64.b64encode(f"leaky:{CANARY}".encode()).decode(),
    quote(CANARY, safe=""),
    CANARY.lower(),
    CANARY[4:-4],  # a part of it, as a cut-off display would show
)
DRIVER = Path(__file__).with_name("gui_leak_driver.py")


def _carries(request: RecordedRequest) -> bool:
    blob = request.target + " " + " ".join(v.decode("latin-1") for _, v in request.raw_headers)
    return CANARY in blob or FORMS[1] in blob


def _answer(request: RecordedRequest) -> Reply:
    if _carries(request):
        # Three events: the editor's Test ends at its third, so it need not wait 10 s.
        events = b"".join(b"id: %d\ndata: welcome %d\n\n" % (i, i) for i in (1, 2, 3))
        return sse_reply(events, end="hang")
    return Reply(status=401, headers=(("Content-Type", "text/plain"),), body=[b"who?"])


def _assert_clean(where: str, data: bytes) -> None:
    for form in FORMS:
        assert form.encode() not in data, f"the secret ({form}) leaked into {where}"


@pytest.mark.desktop
async def test_the_desktop_app_leaks_no_secret(
    tmp_path: Path, gnome_keyring: DesktopSession
) -> None:
    profile = tmp_path / "profile"
    env = session_env(gnome_keyring)
    line = CANARY + "\n"
    async with ScriptedServer(_answer) as server:
        for args, stdin in (
            (("Bearer", server.url("/b"), "--auth", "bearer"), line),
            (("Basic", server.url("/basic"), "--username", "leaky"), line),
            (("Header", server.url("/h"), "--header-name", "X-Api-Key"), line),
        ):
            added = await tidings(profile, "feeds", "add", *args, stdin=stdin, env=env)
            assert added.returncode == 0, added.stderr

        result_file = tmp_path / "result.json"
        gui_env = {**env, "QT_QPA_PLATFORM": "offscreen"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(DRIVER), str(profile), str(result_file),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=gui_env, cwd=tmp_path,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=75)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # The paths were really taken: the server saw the secret from the hub and the editor.
        assert sum(_carries(r) for r in server.requests) >= 6, len(server.requests)

    assert result_file.exists(), err.decode(errors="replace")[-3000:]
    result = json.loads(result_file.read_text("utf-8"))
    assert "error" not in result, result["error"]
    assert result["done"] is True
    assert result["exit_code"] == 0
    assert result["feeds"] == ["Bearer", "Basic", "Header"]
    assert "welcome" in result["detail"][2]
    assert result["diagnostics"]
    assert result["clipboard"] == result["diagnostics"]
    assert b"DEBUG" in err or any(
        b"DEBUG" in p.read_bytes() for p in (profile / "state" / "log").glob("*")
    ), "the session did not log at debug level"

    _assert_clean("the app's stdout", out)
    _assert_clean("the app's stderr", err)
    _assert_clean("what the widgets and the clipboard showed", result_file.read_bytes())
    home = Path(gnome_keyring.env.get("HOME", str(tmp_path / "none")))
    scanned = 0
    for root in (profile, home):
        for path in sorted(root.rglob("*")) if root.exists() else ():
            if path.is_file() and "keyrings" not in path.parts:
                _assert_clean(str(path), path.read_bytes())
                scanned += 1
    assert scanned >= 3  # settings, history, log at least
