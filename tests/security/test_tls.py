"""TLS verification is on by default; turning it off is explicit, per feed, and visible.

A real TLS server on 127.0.0.1 with a self-signed certificate: by default every path
(`listen`, `feeds test`) refuses it with an error that says what to do; the feed that
names the certificate as its CA connects; the feed added with ``--insecure`` connects
too, and is flagged wherever it appears, while its neighbour is not.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt  # noqa: TID251 - the feeds panel's real model
from pytestqt.qtbot import QtBot

from e2e.conftest import child_env
from e2e.test_feeds_cli import tidings
from qt.conftest import ControllerEnv
from tidings.core.models import Feed, TlsOptions

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An SSE server over TLS with a fresh self-signed certificate: (its URL, the cert)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a certificate"
    await asyncio.to_thread(
        subprocess.run,
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Connection: close\r\n\r\nid: 1\ndata: over tls\n\n"
            )
            await writer.drain()
            await asyncio.sleep(10)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}/events", cert
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), timeout=10)


async def _listen(url: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "listen", url, "--json", "--max-events", "1", "--once",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_self_signed_server_is_refused_unless_the_feed_says_otherwise(
    tmp_path: Path, tls_server: tuple[str, Path]
) -> None:
    url, cert = tls_server
    code, out, err = await _listen(url)
    assert code == 1
    assert out == ""
    error = err.strip().splitlines()[-1]
    assert error.startswith("error: ")
    assert "certificate was rejected" in error

    profile = tmp_path / "profile"
    for args in (
        ("feeds", "add", "Default", url),
        ("feeds", "add", "Pinned", url, "--ca-file", str(cert)),
        ("feeds", "add", "Lab", url, "--insecure"),
    ):
        added = await tidings(profile, *args)
        assert added.returncode == 0, added.stderr
    assert "verification is OFF" in added.stderr  # the --insecure add says so at once

    refused = await tidings(profile, "feeds", "test", "Default", "--max-events", "1")
    assert refused.returncode == 1
    assert "certificate" in refused.stderr.lower()
    # The error says what to do about it: name the CA, or turn verification off on purpose.
    assert "--ca-file" in refused.stderr or "--insecure" in refused.stderr, refused.stderr
    for name in ("Pinned", "Lab"):
        ok = await tidings(profile, "feeds", "test", name, "--max-events", "1")
        assert ok.returncode == 0, ok.stderr
        assert "over tls" in ok.stdout

    listed = json.loads((await tidings(profile, "feeds", "list", "--json")).stdout)
    flags = {f["name"]: (f["tls"]["verify"], f["warnings"]) for f in listed["feeds"]}
    assert flags == {
        "Default": (True, []),
        "Pinned": (True, []),
        "Lab": (False, ["tls-verification-off"]),
    }
    text = (await tidings(profile, "feeds", "list")).stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "TLS verification OFF" in text
    assert all("TLS" not in lines[n] for n in ("Default", "Pinned") if n in lines)


def test_the_feeds_panel_flags_a_feed_with_certificate_checks_off(
    controller_env: ControllerEnv, qtbot: QtBot
) -> None:
    from tidings.qt.feeds_panel import FeedsPanel

    env = controller_env
    lab = Feed(
        id="", name="Lab", url="https://127.0.0.1:9/x", paused=True, tls=TlsOptions(verify=False)
    )
    safe = Feed(id="", name="Safe", url="https://127.0.0.1:9/y", paused=True)
    lab = env.run(env.controller.add_feed(lab))
    safe = env.run(env.controller.add_feed(safe))
    panel = FeedsPanel(env.controller)
    qtbot.addWidget(panel)

    def shown(feed_id: str) -> str:
        row = panel.model.row_of(feed_id)
        cells = [panel.model.index(row, c) for c in range(4)]
        texts = [str(i.data() or "") for i in cells]
        texts += [str(i.data(Qt.ItemDataRole.ToolTipRole) or "") for i in cells]
        return " ".join(texts).lower()

    assert "certificate" not in shown(safe.id)
    assert "certificate" in shown(lab.id)
