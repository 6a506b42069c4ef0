"""Single instance per profile: a second launch asks the running one to show its window.

The instance lock (:class:`tidings.core.instance.InstanceLock`, a file lock) says
who runs; this local socket carries the message. Its name is derived from the
profile directory, so tests and portable profiles run side by side.

On Wayland a compositor only raises a window for a request carrying an
activation token; the sender passes ``XDG_ACTIVATION_TOKEN`` along when it has
one, and the window uses it. Nothing here runs a Wayland session: untested.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QByteArray
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from tidings.core.paths import Paths

__all__ = ["InstanceMessenger"]

logger = logging.getLogger(__name__)

_TIMEOUT_MS = 2000


class InstanceMessenger:
    """Sends to, or listens as, the running instance of one profile."""

    def __init__(self, paths: Paths) -> None:
        digest = hashlib.sha256(str(paths.settings_file.parent.resolve()).encode()).hexdigest()
        self.name = f"tidings-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest[:16]}"
        self._server: QLocalServer | None = None
        self._on_message: Callable[[str], None] | None = None

    def send(self, message: str) -> bool:
        """Deliver ``message`` to the running instance; ``False`` when none answers."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(_TIMEOUT_MS):
            return False
        token = os.environ.get("XDG_ACTIVATION_TOKEN", "")
        socket.write(QByteArray(f"{message} {token}".strip().encode() + b"\n"))
        ok = socket.waitForBytesWritten(_TIMEOUT_MS)
        socket.disconnectFromServer()
        return ok

    def listen(self, on_message: Callable[[str], None]) -> None:
        self._on_message = on_message
        server = QLocalServer()
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # We hold the instance lock: a socket file left by a crash is stale.
        QLocalServer.removeServer(self.name)
        if not server.listen(self.name):
            logger.warning("a second launch cannot reach this one: %s", server.errorString())
            return
        server.newConnection.connect(self._accept)
        self._server = server

    def _accept(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data()).decode(errors="replace").strip()
            message, _, token = line.partition(" ")
            if token:
                os.environ["XDG_ACTIVATION_TOKEN"] = token  # Qt's xdg-activation reads it
            if self._on_message is not None and message:
                self._on_message(message[:64])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
