"""The throughput baseline of bench_listen.py: a bare httpx-sse loop printing tidings' JSON lines.

Run as ``python baseline_httpx_sse.py URL [--flush event|end]``. It does what
``tidings listen URL --json --once`` does on a healthy stream and nothing more:
one ``httpx.AsyncClient``, one ``aconnect_sse`` request, no reconnection, the
same ``json.dumps`` call per event written through ``sys.stdout``. With
``--flush event`` (the default) every event is flushed as soon as it is
decoded, which is the promptness ``tidings listen`` promises (it flushes once
per network read, which httpx-sse's API does not let a caller see).
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
from httpx_sse import aconnect_sse


async def _run(url: str, *, flush_each: bool) -> int:
    dumps = json.dumps
    out = sys.stdout
    write = out.write
    flush = out.flush
    # The same timeouts as tidings' defaults (connect 30 s, no bytes for 90 s).
    timeout = httpx.Timeout(30.0, read=90.0)
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        if source.response.status_code != 200:
            print(f"error: HTTP {source.response.status_code}", file=sys.stderr)
            return 1
        async for sse in source.aiter_sse():
            write(
                dumps({"event": sse.event, "data": sse.data, "id": sse.id}, ensure_ascii=False)
                + "\n"
            )
            if flush_each:
                flush()
    flush()
    return 0


def main() -> int:
    args = sys.argv[1:]
    flush_each = True
    if "--flush" in args:
        at = args.index("--flush")
        flush_each = args[at + 1] == "event"
        del args[at : at + 2]
    if len(args) != 1:
        print("usage: baseline_httpx_sse.py URL [--flush event|end]", file=sys.stderr)
        return 2
    return asyncio.run(_run(args[0], flush_each=flush_each))


if __name__ == "__main__":
    sys.exit(main())
