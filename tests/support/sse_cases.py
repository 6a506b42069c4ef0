"""The byte-exact decoding cases of SSE.md rules R13-R35, kept as data.

Each :class:`Case` names the rules it pins, the body chunks a server sends,
and what the event source must end with: the events dispatched, the last
event ID string and, for ``retry`` cases, the reconnection time. The decoder
tests run every case with several chunkings (the result must never depend on
where the chunks break); the cases marked ``loopback`` also go through a real
server and :class:`tidings.core.sse.EventSource`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.core.decoder import DecodedEvent

__all__ = ["CASES", "DECODING_RULES", "LOOPBACK_CASES", "Case", "ev"]

# The decoding rules of SSE.md section 1 (C to H). R33 (nothing after close())
# belongs to the EventSource, not to the decoder.
DECODING_RULES = frozenset(f"R{n}" for n in range(13, 36)) - {"R33"}


def ev(data: str, *, type: str = "message", id: str = "", own: bool = False) -> DecodedEvent:
    """An expected event; ``own`` says the event's own block carried a valid id."""
    return DecodedEvent(type=type, data=data, id=id, has_own_id=own)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One body and what decoding it must give."""

    name: str
    rules: tuple[str, ...]
    chunks: tuple[bytes, ...]
    events: tuple[DecodedEvent, ...] = ()
    last_event_id: str | None = None
    """Expected last event ID string at the end; ``None``: the last event's id, else the seed."""
    seed: str = ""
    """The last event ID string the event source had before this body (a reconnect)."""
    retry_ms: int | None = None
    content_type: str = "text/event-stream"
    loopback: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def expected_last_event_id(self) -> str:
        if self.last_event_id is not None:
            return self.last_event_id
        return self.events[-1].id if self.events else self.seed


def _case(
    name: str,
    rules: str,
    *chunks: bytes,
    events: tuple[DecodedEvent, ...] = (),
    last_event_id: str | None = None,
    seed: str = "",
    retry_ms: int | None = None,
    content_type: str = "text/event-stream",
    loopback: bool = False,
) -> Case:
    return Case(
        name=name,
        rules=tuple(rules.split()),
        chunks=chunks,
        events=events,
        last_event_id=last_event_id,
        seed=seed,
        retry_ms=retry_ms,
        content_type=content_type,
        loopback=loopback,
    )


_INVALID_RETRY_VALUES = {
    "plus-sign": b"+5",
    "minus-sign": b"-5",
    "second-space": b" 1000",  # "retry:  1000": only one space is stripped
    "trailing-space": b"1000 ",
    "trailing-letter": b"1000x",
    "underscore": b"1_000",
    "exponent": b"1e3",
    "decimal-point": b"1.5",
    "hex": b"0x10",
    "tab": b"\t1000",
    "arabic-indic-digit": "\u0663".encode(),
    "fullwidth-digit": "\uff15".encode(),
    "superscript-digit": "\u00b2".encode(),
    "empty": b"",
}

CASES: tuple[Case, ...] = (
    # -- R13: always UTF-8, invalid bytes become U+FFFD -----------------------
    _case(
        "utf8-multibyte",
        "R13",
        b"data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n\n",
        events=(ev("caf\u00e9 \u20ac \U0001f600"),),
        loopback=True,
    ),
    _case(
        "utf8-char-split-across-chunks",
        "R13",
        b"data: \xf0\x9f",
        b"\x98\x80 \xe2",
        b"\x82\xac\n\n",
        events=(ev("\U0001f600 \u20ac"),),
        loopback=True,
    ),
    _case(
        "utf8-invalid-bytes-replaced",
        "R13",
        b"data: a\xffb\xc3(c\n\n",
        events=(ev("a\ufffdb\ufffd(c"),),
        loopback=True,
    ),
    _case(
        "utf8-truncated-sequence-before-line-end",
        "R13 R15",
        b"data: \xe2\x82\ndata: x\xf0\x9f\r\n\n",
        events=(ev("\ufffd\nx\ufffd"),),
    ),
    _case(
        "utf8-surrogate-and-overlong-replaced",
        "R13",
        b"data: \xed\xa0\x80|\xc0\xaf\n\n",
        events=(ev("\ufffd\ufffd\ufffd|\ufffd\ufffd"),),
    ),
    _case(
        "utf8-invalid-byte-in-field-name-makes-unknown-field",
        "R13 R21",
        b"d\xffata: x\n\ndata\xff: y\n\ndata: z\n\n",
        events=(ev("z"),),
    ),
    _case(
        "utf8-invalid-bytes-in-event-type-and-id",
        "R13 R22 R24",
        b"event: \xfe\nid: \xff1\ndata: x\n\n",
        events=(ev("x", type="\ufffd", id="\ufffd1", own=True),),
    ),
    _case(
        "charset-windows-1252-ignored",
        "R13",
        b"data: \xc3\xa9t\xc3\xa9 ok\xe2\x80\xa6\n\n",
        events=(ev("\u00e9t\u00e9 ok\u2026"),),
        content_type="text/event-stream; charset=windows-1252",
        loopback=True,
    ),
    _case(
        "charset-utf-16-ignored",
        "R13",
        b"data: ok\n\n",
        events=(ev("ok"),),
        content_type="text/event-stream;charset=utf-16",
        loopback=True,
    ),
    _case(
        "charset-us-ascii-ignored",
        "R13",
        b"data: \xe2\x9c\x93\n\n",
        events=(ev("\u2713"),),
        content_type="Text/Event-Stream; charset=us-ascii",
    ),
    # -- R14: one leading BOM ------------------------------------------------
    _case(
        "bom-stripped",
        "R14",
        b"\xef\xbb\xbfdata: a\n\n",
        events=(ev("a"),),
        loopback=True,
    ),
    _case(
        "bom-split-across-chunks",
        "R14",
        b"\xef",
        b"\xbb",
        b"\xbfdata: a\n\n",
        events=(ev("a"),),
        loopback=True,
    ),
    _case(
        "bom-second-kept-as-feff-unknown-field",
        "R14 R21",
        b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n",
        events=(ev("b"),),
        loopback=True,
    ),
    _case(
        "bom-at-start-of-later-line-kept",
        "R14 R21",
        b"data: a\n\n\xef\xbb\xbfdata: b\n\n",
        events=(ev("a"),),
    ),
    _case(
        "bom-inside-value-kept",
        "R14",
        b"data: \xef\xbb\xbfx\n\n",
        events=(ev("\ufeffx"),),
    ),
    _case(
        "bom-prefix-only-is-invalid-utf8",
        "R13 R14",
        b"\xef\xbb",
        b"data: a\n\ndata: b\n\n",
        events=(ev("b"),),
    ),
    _case(
        "bom-then-blank-line",
        "R14 R17",
        b"\xef\xbb\xbf\r\ndata: a\r\n\r\n",
        events=(ev("a"),),
    ),
    # -- R15: CR, LF and CRLF end a line ---------------------------------------
    _case("lf-line-ends", "R15 R17", b"data: a\n\ndata: b\n\n", events=(ev("a"), ev("b"))),
    _case(
        "crlf-line-ends",
        "R15",
        b"data: a\r\ndata: b\r\n\r\n",
        events=(ev("a\nb"),),
        loopback=True,
    ),
    _case(
        "cr-line-ends",
        "R15",
        b"data: a\rdata: b\r\rdata: c\r\r",
        events=(ev("a\nb"), ev("c")),
        loopback=True,
    ),
    _case(
        "mixed-line-ends",
        "R15 R35",
        b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r",
        events=(ev("a\nb\nc"), ev("d")),
    ),
    _case(
        "crlf-split-across-chunks-is-one-line-end",
        "R15",
        b"data: a\r",
        b"\ndata: b\r",
        b"\n\r",
        b"\n",
        events=(ev("a\nb"),),
        loopback=True,
    ),
    _case(
        "lf-then-cr-is-two-line-ends",
        "R15 R17",
        b"data: a\n\rdata: b\n\n",
        events=(ev("a"), ev("b")),
    ),
    # -- R16: nothing else ends a line -------------------------------------------
    _case(
        "unicode-line-separators-are-not-line-ends",
        "R16",
        b"data: a\xe2\x80\xa8b\xe2\x80\xa9c\xc2\x85d\n\n",
        events=(ev("a\u2028b\u2029c\x85d"),),
        loopback=True,
    ),
    _case(
        "control-characters-are-not-line-ends",
        "R16",
        b"data: a\x0bb\x0cc\x1cd\x1de\x1ef\n\n",
        events=(ev("a\x0bb\x0cc\x1cd\x1de\x1ef"),),
        loopback=True,
    ),
    _case(
        "nel-before-a-field-name-does-not-start-a-line",
        "R16",
        b"data: a\xc2\x85data: b\xe2\x80\xa8id: 1\n\n",
        events=(ev("a\x85data: b\u2028id: 1"),),
    ),
    # -- R17, R18: blank lines and comments -------------------------------------
    _case(
        "comments-ignored",
        "R18",
        b": hello\ndata: a\n:\n: data: b\n\n",
        events=(ev("a"),),
    ),
    _case(
        "comment-with-any-bytes",
        "R18",
        b":\x00\xff\xfe \r\n:data\ndata: a\n\n",
        events=(ev("a"),),
    ),
    _case("comment-only-block-fires-nothing", "R18 R28", b": keep-alive\n\n"),
    _case(
        "keep-alive-after-id-fires-nothing",
        "R18 R28",
        b"id: 1\ndata: a\n\n: ping\r\n\r\n:\n\n",
        events=(ev("a", id="1", own=True),),
        loopback=True,
    ),
    _case(
        "extra-blank-lines-fire-nothing",
        "R17 R28",
        b"\n\n\ndata: a\n\n\n\nid: 2\n\n\n",
        events=(ev("a"),),
        last_event_id="2",
    ),
    # -- R19, R20: splitting a field ---------------------------------------------
    _case("first-colon-splits", "R19", b"data:a:b: c\n\n", events=(ev("a:b: c"),)),
    _case("one-space-stripped", "R19", b"data:  two\n\n", events=(ev(" two"),)),
    _case("no-space-after-colon", "R19", b"data:x\n\n", events=(ev("x"),)),
    _case("tab-after-colon-kept", "R19", b"data:\tx\n\n", events=(ev("\tx"),)),
    _case("trailing-space-kept", "R19", b"data: x \n\n", events=(ev("x "),)),
    _case(
        "space-only-values",
        "R19 R23",
        b"data: \ndata:  \n\n",
        events=(ev("\n "),),
    ),
    _case(
        "event-type-keeps-second-space",
        "R19 R22",
        b"event:  x\ndata: y\n\n",
        events=(ev("y", type=" x"),),
    ),
    _case("data-without-colon-is-empty-line", "R20 R29", b"data\n\n", events=(ev(""),)),
    _case("data-without-colon-twice", "R20 R29", b"data\ndata\n\n", events=(ev("\n"),)),
    _case(
        "event-without-colon-means-message",
        "R20 R22 R30",
        b"event: a\nevent\ndata: x\n\n",
        events=(ev("x"),),
    ),
    _case(
        "id-without-colon-resets",
        "R20 R24",
        b"id\ndata: x\n\n",
        events=(ev("x", id="", own=True),),
        seed="5",
    ),
    _case("unknown-name-without-colon", "R20 R26", b"foo\ndata: x\n\n", events=(ev("x"),)),
    # -- R21, R26: field names ------------------------------------------------------
    _case(
        "field-names-are-case-and-byte-sensitive",
        "R21 R26",
        b"Data: 1\nDATA: 2\ndata : 3\n data: 4\ndata\x00: 5\nda-ta: 6\ndata_5: 7\n"
        b"Event: e\nID: 9\nRetry: 5\nfoo: bar\ndata: ok\n\n",
        events=(ev("ok"),),
        loopback=True,
    ),
    # -- R22, R30: event type --------------------------------------------------------
    _case(
        "event-type-last-wins",
        "R22",
        b"event: a\nevent: b\ndata: x\n\n",
        events=(ev("x", type="b"),),
    ),
    _case(
        "event-type-not-sticky",
        "R22 R32",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        events=(ev("1", type="a"), ev("2")),
    ),
    _case(
        "empty-event-type-means-message",
        "R30",
        b"event:\ndata: x\n\nevent: \ndata: y\n\nevent: a\nevent:\ndata: z\n\n",
        events=(ev("x"), ev("y"), ev("z")),
    ),
    _case(
        "error-and-open-are-ordinary-types",
        "R22",
        b"event: error\ndata: x\n\nevent: open\ndata: y\n\n",
        events=(ev("x", type="error"), ev("y", type="open")),
    ),
    # -- R23, R29: data -------------------------------------------------------------
    _case(
        "data-lines-joined-with-lf",
        "R23 R29",
        b"data: a\ndata: b\ndata: c\n\n",
        events=(ev("a\nb\nc"),),
    ),
    _case("data-empty-once", "R23 R29", b"data:\n\n", events=(ev(""),)),
    _case("data-last-line-empty", "R23 R29", b"data: a\ndata:\n\n", events=(ev("a\n"),)),
    _case("data-first-line-empty", "R23 R29", b"data:\ndata: b\n\n", events=(ev("\nb"),)),
    _case(
        "data-keeps-nul-and-json",
        "R23",
        b'data: {"a": "\x00"}\n\n',
        events=(ev('{"a": "\x00"}'),),
    ),
    # -- R24: id ------------------------------------------------------------------------
    _case(
        "id-with-nul-ignored",
        "R24",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        events=(ev("a", id="1", own=True), ev("b", id="1")),
        loopback=True,
    ),
    _case(
        "id-with-nul-does-not-undo-earlier-id-of-block",
        "R24",
        b"id: 1\nid: \x00\ndata: a\n\n",
        events=(ev("a", id="1", own=True),),
    ),
    _case(
        "empty-id-resets",
        "R24 R32",
        b"id: 1\ndata: a\n\nid:\ndata: b\n\ndata: c\n\n",
        events=(ev("a", id="1", own=True), ev("b", id="", own=True), ev("c")),
    ),
    _case(
        "id-last-wins-in-block",
        "R24",
        b"id: 1\nid: 2\ndata: a\n\n",
        events=(ev("a", id="2", own=True),),
    ),
    _case(
        "id-kept-verbatim",
        "R19 R24",
        b"id:  <x>\xc3\xa9 \ndata: a\n\n",
        events=(ev("a", id=" <x>\u00e9 ", own=True),),
    ),
    # -- R25: retry -------------------------------------------------------------------
    _case("retry-valid", "R25 R28", b"retry: 2500\n\n", retry_ms=2500),
    _case("retry-leading-zeros", "R25", b"retry: 02000\n\n", retry_ms=2000),
    _case("retry-zero", "R25", b"retry:0\n\n", retry_ms=0),
    _case(
        "retry-takes-effect-without-dispatch",
        "R25 R34",
        b"data: x\nretry: 1500\n",
        retry_ms=1500,
    ),
    _case(
        "retry-invalid-after-valid-keeps-valid",
        "R25",
        b"retry: 3000\nretry: x\nretry:\ndata: y\n\n",
        events=(ev("y"),),
        retry_ms=3000,
    ),
    _case("retry-unterminated-line-ignored", "R25 R34", b"retry: 3000"),
    *(
        _case(
            f"retry-invalid-{label}",
            "R25",
            b"retry: " + value + b"\ndata: x\n\n",
            events=(ev("x"),),
        )
        for label, value in _INVALID_RETRY_VALUES.items()
    ),
    _case("retry-without-colon-ignored", "R20 R25", b"retry\ndata: x\n\n", events=(ev("x"),)),
    # -- R27, R28: dispatch -----------------------------------------------------------
    _case("id-only-block-commits-id", "R27 R28", b"id: 7\n\n", last_event_id="7", loopback=True),
    _case(
        "id-only-block-then-data-inherits-id",
        "R27 R32",
        b"id: 7\n\ndata: x\n\n",
        events=(ev("x", id="7"),),
        loopback=True,
    ),
    _case(
        "event-only-block-fires-nothing",
        "R28",
        b"event: x\n\ndata: y\n\n",
        events=(ev("y"),),
    ),
    # -- R31, R32: the id sticks -----------------------------------------------------
    _case(
        "sticky-id-across-events",
        "R31 R32",
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\ndata: d\n\n",
        events=(
            ev("a", id="1", own=True),
            ev("b", id="1"),
            ev("c", id="2", own=True),
            ev("d", id="2"),
        ),
        loopback=True,
    ),
    # -- R34, R35: end of body --------------------------------------------------------
    _case(
        "trailing-block-discarded-with-its-id",  # WPT format-data-before-final-empty-line
        "R34",
        b"id: 1\ndata: a\n\nid: 2\ndata: b\n",
        events=(ev("a", id="1", own=True),),
        loopback=True,
    ),
    _case("trailing-partial-line-discarded", "R34", b"data: a\n\ndata: b", events=(ev("a"),)),
    _case(
        "trailing-unterminated-id-line-discarded",
        "R34",
        b"data: a\n\nid: 9",
        events=(ev("a"),),
    ),
    _case("trailing-single-line-end-discarded", "R34", b"data: a\n"),
    _case("trailing-cr-ends-line-but-not-block", "R34 R35", b"data: a\r"),
    _case(
        "lone-cr-at-end-is-blank-line",
        "R35",
        b"data: a\n\r",
        events=(ev("a"),),
        loopback=True,
    ),
    _case("crlf-then-lone-cr-at-end", "R35", b"data: a\r\n\r", events=(ev("a"),)),
    # -- R38: the id seeded from the previous connection --------------------------------
    _case(
        "seeded-id-sticks",
        "R32",
        b"data: a\n\n",
        events=(ev("a", id="42"),),
        seed="42",
        loopback=True,
    ),
    _case(
        "seeded-id-replaced",
        "R24 R32",
        b"id: 43\ndata: a\n\ndata: b\n\n",
        events=(ev("a", id="43", own=True), ev("b", id="43")),
        seed="42",
    ),
    _case(
        "seeded-id-kept-when-block-discarded",
        "R34",
        b"data: a\nid: 43\n",
        seed="42",
    ),
    _case(
        "seeded-id-reset-by-empty-id-only-block",
        "R24 R27",
        b"id:\n\ndata: a\n\n",
        events=(ev("a", id=""),),
        seed="42",
    ),
)

LOOPBACK_CASES: tuple[Case, ...] = tuple(c for c in CASES if c.loopback)
