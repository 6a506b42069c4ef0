"""Byte-level, incremental decoder for the ``text/event-stream`` format.

It implements the WHATWG HTML "event stream interpretation" exactly (SSE.md
section 1, rules R13-R35) over raw bytes, because httpx-sse's text decoder
has gaps that cannot be closed from outside its API (SSE.md section 2):

- the body is always UTF-8, whatever charset the response claims, with one
  leading BOM removed (even when its bytes arrive in different chunks) and
  invalid sequences turned into U+FFFD;
- only CR, LF and CRLF end a line, including a CRLF split across chunks;
- a block without a ``data`` line dispatches nothing, so keep-alive comments
  never produce phantom events;
- the last event ID is only committed when a block is dispatched, and the
  caller seeds each new decoder with it, so it survives reconnects;
- ``retry`` is accepted only when it is all ASCII digits.

Memory is bounded: a line, an event's data and an id longer than the caps
raise :class:`StreamLimitExceeded` instead of growing without end. Large
events are assembled in linear time (pieces are joined once, at dispatch).
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.core.errors import StreamLimitExceeded

__all__ = ["DEFAULT_EVENT_TYPE", "DecodedEvent", "SSEDecoder"]

DEFAULT_EVENT_TYPE = "message"

_BOM = b"\xef\xbb\xbf"
_CR = 0x0D
_LF = 0x0A
# A retry value longer than this is certainly above any ceiling; parsing it
# with int() would fail past 4,300 digits (CPython's int_max_str_digits).
_RETRY_MAX_DIGITS = 15
_RETRY_HUGE = 10**_RETRY_MAX_DIGITS


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """One dispatched event, as the spec's MessageEvent would carry it.

    ``id`` is the event source's last event ID string after this dispatch
    (sticky: it may come from an earlier block or an earlier connection);
    ``has_own_id`` says whether this event's own block carried a valid ``id``
    field, which is the only kind of id fit for de-duplication.
    """

    type: str
    data: str
    id: str
    has_own_id: bool


class SSEDecoder:
    """Turns the bytes of one response body into events.

    Create one decoder per response body, seeded with the event source's last
    event ID string, feed it every chunk with :meth:`feed`, and call
    :meth:`close` at the end of the body (which discards an unterminated
    block, as R34 requires). The reconnection time the server asked for is in
    :attr:`retry_ms` (``None`` until a valid ``retry`` field arrives).
    """

    __slots__ = (
        "_bom_checked",
        "_bom_pending",
        "_data",
        "_data_size",
        "_event_type",
        "_has_data",
        "_id_buffer",
        "_id_in_block",
        "_line",
        "_skip_lf",
        "last_event_id",
        "max_event_size",
        "max_id_length",
        "max_line_length",
        "retry_ms",
    )

    def __init__(
        self,
        *,
        last_event_id: str = "",
        max_line_length: int = 4 * 1024 * 1024,
        max_event_size: int = 4 * 1024 * 1024,
        max_id_length: int = 4 * 1024,
    ) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self.max_line_length = max_line_length
        self.max_event_size = max_event_size
        self.max_id_length = max_id_length
        self._bom_pending = bytearray()
        self._line = bytearray()
        self._skip_lf = False
        self._event_type = ""
        self._data: list[str] = []
        self._data_size = 0
        self._has_data = False
        # WPT seeds the per-stream id buffer with the current last event ID.
        self._id_buffer = last_event_id
        self._id_in_block = False
        # True once the start of the body has been looked at for a BOM.
        self._bom_checked = False

    # -- bytes to lines ---------------------------------------------------

    def feed(self, chunk: bytes) -> list[DecodedEvent]:
        """Decode one chunk of the body; return the events it completed."""
        if not self._bom_checked:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        events: list[DecodedEvent] = []
        lines = chunk.splitlines(keepends=True)
        last = lines[-1] if lines else b""
        complete = lines
        partial = b""
        if last and last[-1] not in (_CR, _LF):
            complete = lines[:-1]
            partial = last
        for raw in complete:
            if self._line:
                self._line += raw
                line = bytes(self._line)
                self._line.clear()
                self._process_line(line, events)
            else:
                self._process_line(raw, events)
        if complete and complete[-1][-1] == _CR:
            # A CR at the end of a chunk ends the line; an LF first in the
            # next chunk belongs to it (R15).
            self._skip_lf = True
        if partial:
            if len(self._line) + len(partial) > self.max_line_length:
                raise StreamLimitExceeded(f"a line longer than {self.max_line_length:,} bytes")
            self._line += partial
        return events

    def close(self) -> None:
        """End of body: drop any partial line and undispatched block (R34)."""
        self._line.clear()
        self._reset_block()
        self._id_buffer = self.last_event_id
        self._bom_pending.clear()
        self._skip_lf = False

    def _strip_bom(self, chunk: bytes) -> bytes:
        pending = self._bom_pending + chunk
        if len(pending) < len(_BOM) and _BOM.startswith(pending):
            # Could still become a BOM: wait for more bytes.
            self._bom_pending = pending
            return b""
        self._bom_checked = True
        self._bom_pending = bytearray()
        data = bytes(pending)
        return data.removeprefix(_BOM)

    # -- lines to events --------------------------------------------------

    def _process_line(self, raw: bytes, events: list[DecodedEvent]) -> None:
        # Strip the line terminator (CRLF, CR or LF).
        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if len(body) > self.max_line_length:
            raise StreamLimitExceeded(f"a line longer than {self.max_line_length:,} bytes")
        if not body:
            self._dispatch(events)
            return
        if body[0] == 0x3A:  # ":" starts a comment (R18)
            return
        colon = body.find(b":")
        if colon < 0:
            name = body
            value = b""
        else:
            name = body[:colon]
            start = colon + 2 if body[colon + 1 : colon + 2] == b" " else colon + 1
            value = body[start:]
        if name == b"data":
            text = value.decode("utf-8", "replace")
            self._data_size += len(value) + 1
            if self._data_size > self.max_event_size:
                raise StreamLimitExceeded(f"an event larger than {self.max_event_size:,} bytes")
            self._data.append(text)
            self._has_data = True
        elif name == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" in value:
                return  # R24: an id with NUL is ignored entirely
            if len(value) > self.max_id_length:
                raise StreamLimitExceeded(f"an event id longer than {self.max_id_length:,} bytes")
            self._id_buffer = value.decode("utf-8", "replace")
            self._id_in_block = True
        elif name == b"retry" and value.isdigit():  # bytes.isdigit: ASCII only, not empty (R25)
            digits = value.lstrip(b"0")
            self.retry_ms = int(digits or b"0") if len(digits) <= _RETRY_MAX_DIGITS else _RETRY_HUGE
        # Any other field name is ignored (R21, R26).

    def _dispatch(self, events: list[DecodedEvent]) -> None:
        # R27: the last event ID string is committed even if nothing fires.
        self.last_event_id = self._id_buffer
        if self._has_data:
            events.append(
                DecodedEvent(
                    type=self._event_type or DEFAULT_EVENT_TYPE,
                    data="\n".join(self._data),
                    id=self.last_event_id,
                    has_own_id=self._id_in_block,
                )
            )
        self._reset_block()

    def _reset_block(self) -> None:
        self._event_type = ""
        self._data = []
        self._data_size = 0
        self._has_data = False
        self._id_in_block = False
