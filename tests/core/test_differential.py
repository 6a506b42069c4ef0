"""Differential tests: where httpx-sse is right, Tidings' decoder must agree with it exactly.

Generated streams leave out the constructs of the known gaps (SSE.md section
2): no BOM at the start, no ``retry`` lines, and every block has a ``data``
line, with no extra blank lines (so no phantom events). They keep everything
else: CR, LF and CRLF line ends (httpx-sse's line splitter handles a CR split
across chunks), ids with NUL, empty ids, comments, unknown fields, fields
without a colon, any Unicode in values, and an unterminated trailing block.
httpx-sse's own line and event decoders are fed text in random pieces; ours is
fed the UTF-8 bytes in random pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import httpx
import httpx_sse
import pytest
from httpx_sse._decoders import SSEDecoder as UpstreamDecoder
from httpx_sse._decoders import SSELineDecoder as UpstreamLineDecoder
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from support.scripted_server import BodyPart, Pause, ScriptedServer, sse_reply
from tidings.core.decoder import DecodedEvent, SSEDecoder
from tidings.core.models import ConnectionPolicy, StopReason
from tidings.core.sse import EventSource

Event = tuple[str, str, str]  # (type, data, id)

_KNOWN_FIELDS = frozenset({"data", "event", "id", "retry"})
_EOL: tuple[str | bytes, ...] = ("\r", "\n", b"\r", b"\n")

# Field values: any text without a line end (surrogates cannot be encoded).
_values = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_line_ends = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def _field_line(draw: st.DrawFn, name: str) -> str:
    value = draw(_values) if name != "id" else draw(_values | st.just("a\x00b"))
    form = draw(st.sampled_from(["colon", "colon-space", "bare"]))
    if form == "bare":
        return name  # a field without a colon has an empty value
    return f"{name}:{' ' if form == 'colon-space' else ''}{value}"


_unknown_names = st.text(
    st.characters(codec="utf-8", exclude_characters=":\r\n"), min_size=1, max_size=6
).filter(lambda name: name not in _KNOWN_FIELDS)
_other_lines = st.one_of(
    _field_line("event"),
    _field_line("id"),
    _values.map(lambda v: ":" + v),  # a comment
    st.tuples(_unknown_names, _values).map(lambda nv: f"{nv[0]}: {nv[1]}"),
)


@st.composite
def _block(draw: st.DrawFn) -> list[str]:
    """The lines of one block: at least one data line, among other fields and comments."""
    lines = draw(st.lists(_field_line("data"), min_size=1, max_size=4))
    for other in draw(st.lists(_other_lines, max_size=4)):
        lines.insert(draw(st.integers(0, len(lines))), other)
    return lines


@st.composite
def _stream(draw: st.DrawFn) -> str:
    """A body of blocks, each ended by one blank line, maybe followed by an unterminated one."""
    parts: list[str] = []
    for block in draw(st.lists(_block(), max_size=6)):
        parts.extend(line + draw(_line_ends) for line in block)
        parts.append(draw(_line_ends))
    trailing = draw(st.lists(_other_lines | _field_line("data"), max_size=2))
    parts.extend(line + draw(_line_ends) for line in trailing)
    if draw(st.booleans()):
        parts.append(draw(_field_line("data")))  # a last line with no line end
    text = "".join(parts)
    assume(not text.startswith("\ufeff"))  # G1
    return text


def _pieces(data: st.DataObject, whole: str | bytes, label: str) -> list[int]:
    """Chunk bounds: random cuts, biased to land just before or after a CR or LF."""
    ends = [i + k for i in range(len(whole)) if whole[i : i + 1] in _EOL for k in (0, 1)]
    point = st.integers(0, len(whole))
    if ends:
        point |= st.sampled_from(ends)
    cuts = data.draw(st.lists(point, max_size=6), label=label)
    return [0, *sorted(cuts), len(whole)]


def _upstream(text_chunks: Sequence[str]) -> list[Event]:
    """httpx-sse's decoding, exactly as EventSource.aiter_sse drives it."""
    lines_decoder, decoder = UpstreamLineDecoder(), UpstreamDecoder()
    lines = [line for chunk in text_chunks if chunk for line in lines_decoder.decode(chunk)]
    lines += lines_decoder.flush()
    events = (decoder.decode(line.rstrip("\n")) for line in lines)
    return [(sse.event, sse.data, sse.id) for sse in events if sse is not None]


def _ours(byte_chunks: Sequence[bytes]) -> list[Event]:
    decoder = SSEDecoder()
    events = [e for chunk in byte_chunks for e in decoder.feed(chunk)]
    decoder.close()
    return [(e.type, e.data, e.id) for e in events]


@settings(max_examples=200, deadline=None)
@given(text=_stream(), data=st.data())
def test_generated_streams_decode_like_httpx_sse(text: str, data: st.DataObject) -> None:
    """Streams without gap constructs give the same (type, data, id) list, however chunked."""
    body = text.encode("utf-8")
    tb = _pieces(data, text, "text cuts")
    bb = _pieces(data, body, "byte cuts")
    note(f"body={body!r}")
    upstream = _upstream([text[a:b] for a, b in pairwise(tb)])
    ours = _ours([body[a:b] for a, b in pairwise(bb)])
    assert ours == upstream


def test_generator_produces_rich_streams() -> None:
    """The stream strategy does reach events, CR line ends, NUL ids and trailing blocks."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(text=_stream())
    def probe(text: str) -> None:
        events = _upstream([text])
        if len(events) >= 3:
            seen.add("three events")
        if "\r" in text.replace("\r\n", ""):
            seen.add("bare CR")
        if "\x00" in text:
            seen.add("NUL")
        if any(e[2] for e in events):
            seen.add("id")
        if any(e[0] != "message" for e in events):
            seen.add("event type")

    probe()
    assert seen == {"three events", "bare CR", "NUL", "id", "event type"}


# -- through real connections -----------------------------------------------------

_SMOKE_BODIES = {
    "mixed": (
        b": welcome\r\n\r\n",
        b'id: 1\r\nevent: put\r\ndata: {"path": "/",\r\ndata:  "data": null}\r\n\r\n',
        b"data: caf\xc3",
        b"\xa9\rdata\r\r",
        b"id\ndata:x:y\n\nevent: \ndata: \xe2\x80\xa8 kept\x0b\n\n",
        b"id: 9\x00\nfoo: bar\ndata: last\n\n",
        b"data: unterminated\n",
    ),
    "cr-only": (b"id: a\rdata: 1\r", b"\rdata: 2\r\r", b"event: e\rdata: 3\r\r"),
}


@pytest.mark.parametrize("name", sorted(_SMOKE_BODIES))
async def test_loopback_smoke_same_events_as_httpx_sse(name: str) -> None:
    """Over real connections, EventSource and httpx-sse's aiter_sse deliver the same events."""
    chunks = _SMOKE_BODIES[name]
    parts: list[BodyPart] = []
    for chunk in chunks:
        parts += [chunk, Pause(0.005)]
    ours: list[Event] = []

    async def on_events(events: Sequence[DecodedEvent]) -> None:
        ours.extend((e.type, e.data, e.id) for e in events)

    upstream: list[Event] = []
    async with ScriptedServer([sse_reply(*parts)]) as server:
        source = EventSource(
            server.url(),
            on_events=on_events,
            reconnect=False,
            policy=ConnectionPolicy(connect_timeout=10, idle_timeout=10),
        )
        status = await source.run()
        async with (
            httpx.AsyncClient(timeout=10) as client,
            httpx_sse.aconnect_sse(client, "GET", server.url()) as event_source,
        ):
            upstream = [(s.event, s.data, s.id) async for s in event_source.aiter_sse()]
    assert status.stop_reason is StopReason.ENDED
    assert len(ours) >= 3
    assert ours == upstream
    assert ours == _ours([b"".join(chunks)])
