"""``tidings listen``: print the events of one SSE URL; stateless (no settings, history, keys)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from tidings.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    ArgumentParser,
    Messages,
    StopSignals,
    positive_float,
    positive_int,
    quiet_closed_stdout,
    terminal_safe,
)
from tidings.core.decoder import DecodedEvent
from tidings.core.demo import DemoServer
from tidings.core.errors import UsageError
from tidings.core.models import ConnectionPolicy, ConnectionState, FeedStatus, StopReason
from tidings.core.presets import MapContext, Preset, get_preset, preset_names
from tidings.core.sse import ConnectHook, EventSource, validate_header, validate_url

__all__ = ["read_headers", "register", "run"]

# json's own string encoder (the C one when available), as json.dumps(ensure_ascii=False) uses it.
_json_string: Callable[[str], str] = json.encoder.encode_basestring


def register(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    """Add ``tidings listen`` to the command line."""
    listen = commands.add_parser(
        "listen",
        help="print the events of one SSE URL (stateless: no settings, no history, no keyring)",
        description=(
            "Subscribe to one SSE URL and print its events: one per block on a terminal, "
            "one JSON object per line with --json. Status goes to stderr."
        ),
    )
    source = listen.add_mutually_exclusive_group(required=True)
    source.add_argument("url", nargs="?", metavar="URL", help="the http(s) URL of the event stream")
    source.add_argument(
        "--demo", action="store_true", help="subscribe to the built-in demo source on loopback"
    )
    listen.add_argument("--json", action="store_true", help="one JSON object per event per line")
    listen.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE' | @FILE",
        help="an extra request header; @FILE reads header lines from a file "
        "(keeps tokens out of shell history)",
    )
    listen.add_argument(
        "--last-event-id",
        default="",
        metavar="ID",
        help="resume from this id: it is sent as Last-Event-ID on the first connection too",
    )
    listen.add_argument(
        "--max-events", type=positive_int, metavar="N", help="exit 0 after N events"
    )
    listen.add_argument("--once", action="store_true", help="do not reconnect: any failure exits 1")
    listen.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=ConnectionPolicy().idle_timeout,
        metavar="SECONDS",
        help="reconnect after this long without a byte (default: %(default)g)",
    )
    listen.add_argument(
        "--preset",
        choices=preset_names(),
        metavar="NAME",
        help="shape the request and show each event's notification as this kind of server "
        f"would ({', '.join(preset_names())}); no feed rules apply",
    )
    listen.add_argument(
        "--preset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a preset option, e.g. for --preset json: title=repo.name or body='{who}: {text}'",
    )
    # Hidden: the demo's pace, so tests and screencasts need not wait.
    listen.add_argument("--demo-interval", type=positive_float, default=1.5, help=argparse.SUPPRESS)
    listen.set_defaults(handler=run)


def read_headers(values: Sequence[str]) -> list[tuple[str, str]]:
    """Parse ``-H`` values; ``@FILE`` reads ``Name: value`` lines (blank and # lines skipped)."""
    headers: list[tuple[str, str]] = []
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                # utf-8-sig: a header file saved with a BOM (PowerShell's utf8) reads as written.
                text = path.read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise UsageError(f"cannot read header file {str(path)!r}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise UsageError(f"header file {str(path)!r} is not UTF-8 text") from None
            for number, line in enumerate(text.splitlines(), start=1):
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                headers.append(_parse_header(stripped, where=f"{path}:{number}"))
        else:
            headers.append(_parse_header(value, where="-H"))
    return headers


def _preset_options(values: Sequence[str]) -> dict[str, str]:
    """``--preset-option KEY=VALUE`` pairs as a mapping (a usage error names a bad one)."""
    options: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--preset-option {value!r}: use KEY=VALUE")
        options[key.strip()] = rest
    return options


def _parse_header(text: str, *, where: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon:
        # Never echo the line: it may be a token pasted without its name.
        raise UsageError(f"{where}: a header must look like 'Name: value'")
    try:
        return validate_header(name.strip(), value)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


class _Printer(Messages):
    """Writes events to stdout and status to stderr, flushing after each network read."""

    def __init__(self, *, as_json: bool, out: IO[bytes], err: IO[str], max_events: int | None):
        super().__init__(err)
        self._as_json = as_json
        self._out = out
        self._remaining = max_events
        self.preset: Preset | None = None
        self.cursor: str | None = None
        self.context = MapContext()
        self.source: EventSource | None = None
        self.stdout_closed = False
        self._was_open = False

    async def events(self, events: Sequence[DecodedEvent]) -> None:
        if self._remaining is not None:
            events = events[: self._remaining]
            self._remaining -= len(events)
        if self.preset is not None:
            parts = []
            for event in events:
                parts.append(self._with_preset(event, self.preset))
                if self.source is not None and self.source.closed:
                    break  # the preset stopped the feed: nothing after that event counts
            blob = "".join(parts)
        elif self._as_json:
            # Same bytes as json.dumps({...}, ensure_ascii=False), without the per-call
            # overhead of building a dict and an encoder: this is the hot path.
            q = _json_string
            blob = "".join(
                [
                    f'{{"event": {q(e.type)}, "data": {q(e.data)}, "id": {q(e.id)}}}\n'
                    for e in events
                ]
            )
        else:
            blob = "".join([self._human(e) for e in events])
        try:
            self._out.write(blob.encode("utf-8", "surrogateescape"))
            self._out.flush()
        except (BrokenPipeError, ValueError):
            # `| head` closed the pipe: stop quietly.
            self.stdout_closed = True
            self._close()
            return
        if self._remaining == 0:
            self._close()

    def _close(self) -> None:
        if self.source is not None:
            self.source.close()

    def _with_preset(self, event: DecodedEvent, preset: Preset) -> str:
        """The event with the preset's mapping (no feed rules: listen has no feed)."""
        mapped = preset.map(event, self.context)
        note = mapped.notification
        if mapped.cursor is not None:
            self.cursor = mapped.cursor  # ntfy's since=: a reconnect resumes after it
        if mapped.stop is not None and self.source is not None:
            self.source.stop(mapped.stop.reason, mapped.stop.message)
        if self._as_json:
            line = {
                "event": event.type,
                "data": event.data,
                "id": event.id,
                "notification": None if note is None else note.to_json(),
            }
            return json.dumps(line, ensure_ascii=False) + "\n"
        text = self._human(event)
        if note is None:
            return text + f"    (no notification: {mapped.reason or 'dropped by the preset'})\n"
        shown = terminal_safe(f"{note.title}: {note.short_body}")
        return text + f"    -> [{note.urgency.value}] {shown}\n"

    @staticmethod
    def _human(event: DecodedEvent) -> str:
        stamp = time.strftime("%H:%M:%S")
        ident = f"  #{event.id}" if event.id else ""
        lines = terminal_safe(event.data).split("\n")
        head = terminal_safe(f"{stamp}  {event.type}{ident}") + "\n"
        return head + "".join(f"    {line}\n" for line in lines)

    def status(self, status: FeedStatus) -> None:
        state = status.state
        if state is ConnectionState.CONNECTING:
            verb = "reconnecting to" if self._was_open or status.attempt > 1 else "connecting to"
            self.say(f"{verb} {status.url}")
        elif state is ConnectionState.OPEN:
            self._was_open = True
            self.say(f"connected (HTTP {status.http_status})")
        elif state is ConnectionState.RETRYING:
            self.say(f"{status.message}; retrying in {status.delay or 0:.1f} s")
        elif status.stop_reason is StopReason.NO_CONTENT:
            self.say(status.message)


async def _listen(args: argparse.Namespace, printer: _Printer) -> int:
    headers = read_headers(args.header)
    demo: DemoServer | None = None
    if args.demo:
        demo = DemoServer(interval=args.demo_interval)
        url = await demo.start()
        printer.say(f"the demo feed runs at {url} (Ctrl-C to stop)")
    else:
        url = args.url
        validate_url(url)
    preset: Preset | None = None
    hook: ConnectHook | None = None
    if args.preset is not None:
        preset = get_preset(args.preset)  # the name was checked by argparse
        url = preset.normalize_url(url)
        validate_url(url)
        printer.preset = preset
        # A preset's per-feed connection logic (MCP's handshake); it may fill in map options.
        options = _preset_options(args.preset_option)
        hook = preset.connect_hook(options)
        printer.context = MapContext(url=url, options=getattr(hook, "map_options", options))
    policy = ConnectionPolicy(idle_timeout=args.idle_timeout)
    source = EventSource(
        url,
        prepare_url=None
        if preset is None or preset.uses_last_event_id()
        else (lambda u: preset.request_url(u, printer.cursor)),
        connect_hook=hook,
        on_events=printer.events,
        on_status=printer.status,
        headers=headers,
        last_event_id=args.last_event_id,
        resume=bool(args.last_event_id),
        reconnect=not args.once,
        policy=policy,
    )
    printer.source = source
    signals = StopSignals(source.close)
    try:
        final = await source.run()
    finally:
        if demo is not None:
            await demo.close()
    if signals.exit_code is not None:
        return signals.exit_code
    if printer.stdout_closed:
        return EXIT_OK
    reason = final.stop_reason
    if reason is not None and reason.is_error:
        printer.error(final.message)
        return EXIT_FAILURE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``tidings listen``; return the exit code."""
    printer = _Printer(
        as_json=args.json, out=sys.stdout.buffer, err=sys.stderr, max_events=args.max_events
    )
    try:
        code = asyncio.run(_listen(args, printer))
    except KeyboardInterrupt:
        return EXIT_SIGINT
    if printer.stdout_closed:
        quiet_closed_stdout()
    return code
