"""Notifiers that need no Qt: the Notifier protocol, native backends, and the hub sink.

The apps call :func:`build_notifier` with the ``[app]`` settings, an
:class:`ActionHandler` and (the GUI) a tray fallback, give the result to a
:class:`NotifierSink`, and register the sink with the hub.
"""

from __future__ import annotations

import sys

from tidings.core.actions import ClientFactory, default_client_factory
from tidings.core.models import AppSettings
from tidings.notify.base import (
    APP_ID,
    APP_NAME,
    ActionHandler,
    FallbackNotifier,
    Notifier,
    NotifierError,
    NotifierState,
    NullNotifier,
    StateListener,
)
from tidings.notify.freedesktop import FreedesktopNotifier
from tidings.notify.sink import NotifierSink

__all__ = [
    "APP_ID",
    "APP_NAME",
    "ActionHandler",
    "FallbackNotifier",
    "Notifier",
    "NotifierError",
    "NotifierSink",
    "NotifierState",
    "NullNotifier",
    "build_notifier",
    "native_notifier",
]


def native_notifier(
    *, handler: ActionHandler, client_factory: ClientFactory = default_client_factory
) -> Notifier:
    """The native backend for this platform (not started): the freedesktop service on Linux
    and the BSDs, desktop-notifier on macOS and Windows (imported only there)."""
    if sys.platform in ("darwin", "win32"):
        from tidings.notify.desktop import PlatformNotifier  # noqa: PLC0415 - only there

        return PlatformNotifier(handler=handler, client_factory=client_factory)
    return FreedesktopNotifier(handler=handler, client_factory=client_factory)


def build_notifier(
    app: AppSettings,
    *,
    handler: ActionHandler,
    fallback: Notifier | None = None,
    on_state_changed: StateListener | None = None,
    client_factory: ClientFactory = default_client_factory,
) -> Notifier:
    """The notifier ``app`` asks for (not started: ``await notifier.start()``, or let the sink).

    - ``app.notifications`` off: a :class:`NullNotifier` (state OFF).
    - ``notifier = "auto"``: the native backend, then ``fallback`` (the GUI's tray balloon).
    - ``"native"``: the native backend only. ``"tray"``: ``fallback`` only; without one
      (headless) a NullNotifier in state FAILED that says why.

    Anything but "off" is a :class:`FallbackNotifier`, so ``on_state_changed`` is
    called whenever the backend in use or its state changes.
    """
    if not app.notifications:
        return NullNotifier()
    backends: list[Notifier] = []
    if app.notifier in ("auto", "native"):
        backends.append(native_notifier(handler=handler, client_factory=client_factory))
    if app.notifier in ("auto", "tray") and fallback is not None:
        backends.append(fallback)
    if not backends:
        return NullNotifier(
            state=NotifierState.FAILED,
            detail='the tray balloon needs the desktop app (notifier = "tray")',
        )
    return FallbackNotifier(backends, on_state_changed=on_state_changed)
