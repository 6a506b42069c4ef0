"""The decoder's memory against events made of very many short ``data`` lines.

An event's size cap (4 MiB) counted the text, but each line was held as its
own string until dispatch: 1.4 million ``data:ab`` lines (10 MiB on the wire)
took about 97 MiB before the 4 MiB cap stopped them. Lines are now folded into
blocks as the event grows; these tests pin the bound and that folding never
changes the text.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

from tidings.core.decoder import SSEDecoder
from tidings.core.errors import StreamLimitExceeded

CAP = 256 * 1024
"""The event size cap in these tests (small: tracemalloc slows every allocation)."""


@pytest.mark.parametrize("line", [b"data\n", b"data:ab\n", b"data: " + b"y" * 100 + b"\n"])
def test_an_endless_block_of_short_lines_stays_near_the_cap(line: bytes) -> None:
    decoder = SSEDecoder(max_event_size=CAP)
    chunk = line * (16384 // len(line))

    def feed_until_the_cap() -> None:
        for _ in range(1000):  # at most 16 MB: the cap stops it long before
            decoder.feed(chunk)

    tracemalloc.start()
    try:
        with pytest.raises(StreamLimitExceeded, match="an event larger than"):
            feed_until_the_cap()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The event's text (256 KiB of characters) plus a chunk's worth of work, not
    # tens of bytes of object overhead for every line (that was 2.4 and 5 MiB).
    assert peak < 4 * CAP, peak


@pytest.mark.parametrize("lines", [1023, 1024, 1025, 5000])
def test_folding_many_lines_keeps_the_text_exact(lines: int) -> None:
    rnd = random.Random(lines)
    values = [rnd.choice(["", "a", "é€", "😀x", "data: z", " lead"]) for _ in range(lines)]
    blob = "".join(f"data:{v}\n" for v in values).encode() + b"id: 7\n\ndata: next\n\n"
    blob = blob * 2
    decoder = SSEDecoder()
    events = []
    position = 0
    while position < len(blob):
        size = rnd.randint(1, 4096)
        events += decoder.feed(blob[position : position + size])
        position += size
    expected = "\n".join(v.removeprefix(" ") for v in values)  # R19: one space goes
    assert [(e.data, e.id) for e in events] == [(expected, "7"), ("next", "7")] * 2
