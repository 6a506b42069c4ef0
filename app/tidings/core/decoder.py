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
events are assembled in linear time (pieces are joined once, at dispatch),
and an event made of very many short ``data`` lines is folded into blocks of
text as it grows: a list of a million tiny strings would cost some 60 bytes
of memory for each 3-byte ``data:ab`` line, 20 times the event size cap.
"""

from __future__ import annotations

from typing import NamedTuple

from tidings.core.errors import StreamLimitExceeded

__all__ = ["DEFAULT_EVENT_TYPE", "DecodedEvent", "SSEDecoder"]

DEFAULT_EVENT_TYPE = "message"

_BOM = b"\xef\xbb\xbf"
_CR = 0x0D
# A retry value longer than this is certainly above any ceiling; parsing it
# with int() would fail past 4,300 digits (CPython's int_max_str_digits).
_RETRY_MAX_DIGITS = 15
_RETRY_HUGE = 10**_RETRY_MAX_DIGITS
# Data lines held as separate strings before they are joined into one block.
_PIECES_PER_BLOCK = 1024


class DecodedEvent(NamedTuple):
    """One dispatched event, as the spec's MessageEvent would carry it.

    ``id`` is the event source's last event ID string after this dispatch
    (sticky: it may come from an earlier block or an earlier connection);
    ``has_own_id`` says whether this event's own block carried a valid ``id``
    field, which is the only kind of id fit for de-duplication.

    A NamedTuple rather than a dataclass: it is built once per event on the
    hot path, and costs a third as much to create.
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

    How it is fast: each chunk is cut at its last line terminator, the
    complete part is decoded from UTF-8 once and split on LF (after turning
    CRLF and CR into LF), and the lines run through one tight loop. Decoding
    a whole region at once gives the same text as decoding line by line:
    CR and LF are ASCII, so they never sit inside a multi-byte sequence, and
    an invalid sequence cut short by a line end becomes the same U+FFFD.
    Sizes are counted in characters of decoded text, except the line cap,
    which counts bytes.
    """

    __slots__ = (
        "_blocks",
        "_bom_checked",
        "_data",
        "_data_size",
        "_event_type",
        "_head",
        "_id_buffer",
        "_id_in_block",
        "_pending",
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
        # The first bytes of the body, held until we know whether they are a BOM.
        self._head = bytearray()
        self._bom_checked = False
        # An incomplete line: bytes after the last line terminator seen so far.
        self._pending = bytearray()
        self._skip_lf = False
        self._event_type = ""
        self._data: list[str] = []
        # Earlier data lines of the event, joined (never empty while ``_data`` is empty).
        self._blocks: list[str] = []
        self._data_size = 0
        # WPT seeds the per-stream id buffer with the current last event ID.
        self._id_buffer = last_event_id
        self._id_in_block = False

    def feed(self, chunk: bytes) -> list[DecodedEvent]:
        """Decode one chunk of the body; return the events it completed."""
        if not chunk:
            return []  # must not clear a pending CR's claim on the next LF
        if not self._bom_checked:
            head = self._head
            head += chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                return []  # could still become a BOM: wait for more bytes
            self._bom_checked = True
            chunk = bytes(head).removeprefix(_BOM)
            self._head = bytearray()
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1
        pending = self._pending
        limit = self.max_line_length
        if end == 0:
            # No line ends here: the line goes on (appending keeps this linear).
            if len(pending) + len(chunk) > limit:
                raise StreamLimitExceeded(f"a line longer than {limit:,} bytes")
            pending += chunk
            return []
        if pending:
            pending += chunk[:end]
            region = bytes(pending)
            pending.clear()
        else:
            region = chunk[:end]
        rest = chunk[end:]
        if rest:
            if len(rest) > limit:
                raise StreamLimitExceeded(f"a line longer than {limit:,} bytes")
            pending += rest
        elif region[-1] == _CR:
            # A CR at the end of a chunk ends its line; an LF first in the next
            # chunk belongs to it (R15). A CR followed by more bytes claims nothing.
            self._skip_lf = True
        text = region.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        lines.pop()  # the region ends with a line terminator: the last piece is empty
        if len(region) > limit and any(len(line.encode()) > limit for line in lines):
            raise StreamLimitExceeded(f"a line longer than {limit:,} bytes")
        return self._interpret(lines)

    def _interpret(self, lines: list[str]) -> list[DecodedEvent]:
        """Apply R17-R32 to complete lines; return the events dispatched."""
        events: list[DecodedEvent] = []
        data = self._data
        for line in lines:
            if not line:
                # A blank line dispatches. R27: the last event ID string is
                # committed even when no event fires.
                self.last_event_id = self._id_buffer
                if data:
                    if self._blocks:
                        data = [*self._blocks, *data]
                        self._blocks = []
                    events.append(
                        DecodedEvent(
                            self._event_type or DEFAULT_EVENT_TYPE,
                            data[0] if len(data) == 1 else "\n".join(data),
                            self.last_event_id,
                            self._id_in_block,
                        )
                    )
                    data = self._data = []
                    self._data_size = 0
                self._event_type = ""
                self._id_in_block = False
                continue
            name, _, value = line.partition(":")
            if not name:
                continue  # a line starting with ":" is a comment (R18)
            if value[:1] == " ":
                value = value[1:]  # exactly one space (R19)
            if name == "data":
                # The size counts one LF per line; the event's data drops the last one.
                self._data_size += len(value) + 1
                if self._data_size - 1 > self.max_event_size:
                    raise StreamLimitExceeded(
                        f"an event larger than {self.max_event_size:,} bytes", completed=events
                    )
                data.append(value)
                if len(data) >= _PIECES_PER_BLOCK:
                    # Fold all but the last line, so that ``data`` stays non-empty.
                    self._blocks.append("\n".join(data[:-1]))
                    del data[:-1]
            elif name == "event":
                self._event_type = value
            elif name == "id":
                if "\x00" in value:
                    continue  # R24: an id with NUL is ignored entirely
                if len(value) > self.max_id_length:
                    raise StreamLimitExceeded(
                        f"an event id longer than {self.max_id_length:,} bytes", completed=events
                    )
                self._id_buffer = value
                self._id_in_block = True
            elif name == "retry" and value.isascii() and value.isdigit():  # R25
                digits = value.lstrip("0")
                self.retry_ms = (
                    int(digits or "0") if len(digits) <= _RETRY_MAX_DIGITS else _RETRY_HUGE
                )
            # Any other field name is ignored (R21, R26).
        return events

    def close(self) -> None:
        """End of body: drop any partial line and undispatched block (R34)."""
        self._pending.clear()
        self._head.clear()
        self._data = []
        self._blocks = []
        self._data_size = 0
        self._event_type = ""
        self._id_in_block = False
        self._id_buffer = self.last_event_id
        self._skip_lf = False
