"""The fault suite: hostile servers and bad networks, one table row per case.

Run from the repository root::

    .venv/bin/python tests/benchmarks/fault_suite.py            # every case, about 2.5 minutes
    .venv/bin/python tests/benchmarks/fault_suite.py --quick    # smaller counts, about 1 minute
    .venv/bin/python tests/benchmarks/fault_suite.py --only cuts kill-restart

The cases live in tests/faults/harness.py (tests/faults/test_hostile_servers.py
runs them with small counts and asserts); the server is
tests/faults/servers.py, on 127.0.0.1 only. The client is ``tidings listen
URL --json`` as a child process, except the DNS case (its seam is the Hub's
transport_factory) and the feed's tls.ca_file case: a Hub in this process.

This script prints figures and never asserts (see README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from faults import harness  # noqa: E402
from faults.harness import SECRET, Row  # noqa: E402

CaseFactory = Callable[[bool], Awaitable[Row]]


def _cases() -> dict[str, CaseFactory]:
    """name -> factory(quick) of one case's row."""

    def scale(quick: bool, full: int, small: int) -> int:
        return small if quick else full

    auth = ("-H", f"Authorization: Bearer {SECRET}", "-H", f"X-Token: {SECRET}")
    return {
        "baseline": lambda q: harness.case_fault(
            "", total=scale(q, 5000, 1000), label="healthy stream (baseline)"
        ),
        "kill-restart": lambda q: harness.case_kill_restart(
            total=scale(q, 5000, 1500), rate=500, every=1.5, down=0.5
        ),
        "port-closed": lambda q: harness.case_port_closed(
            total=scale(q, 3000, 1000), rate=500, down=5.0 if not q else 2.0
        ),
        "cuts": lambda q: harness.case_cuts(total=scale(q, 5000, 1500)),
        "stall": lambda q: harness.case_fault(
            "stall",
            total=100,
            extra=("--idle-timeout", "2"),
            label="stall past the idle timeout (2 s)",
        ),
        "drip": lambda q: harness.case_fault(
            "",
            total=scale(q, 30, 10),
            query="&drip=3",
            extra=("--idle-timeout", "2"),
            label="drip: a byte every 3 ms",
        ),
        "huge-line": lambda q: harness.case_fault(
            "huge-line", total=100, label="200 MiB line, no newline"
        ),
        "gzip-bomb": lambda q: harness.case_fault(
            "huge-line",
            total=100,
            query="&encoding=gzip",
            label="gzip bomb: 200 MiB line, ~200 KiB sent",
        ),
        "gzip-cuts": lambda q: harness.case_cuts(
            total=scale(q, 2000, 500),
            query="&encoding=gzip",
            label="gzip stream, cut every 20-50 events",
        ),
        "endless-block": lambda q: harness.case_fault(
            "endless-block", total=100, label="never-ending event block"
        ),
        "endless-short": lambda q: harness.case_fault(
            "endless-short", total=100, label="never-ending block of 'data:ab' lines"
        ),
        "retry-digits": lambda q: harness.case_fault(
            "retry-digits",
            total=100,
            extra=("--max-events", "100"),
            label="5,000-digit retry: (ends by --max-events)",
        ),
        "invalid-utf8": lambda q: harness.case_fault(
            "invalid-utf8", total=100, label="invalid UTF-8 event"
        ),
        "nul": lambda q: harness.case_fault("nul", total=100, label="NUL in data and in an id"),
        "huge-id": lambda q: harness.case_fault("huge-id", total=100, label="10 MB id"),
        "revoked": lambda q: harness.case_fault(
            "revoked", total=100, sent=5, label="401 after 5 events (token revoked)"
        ),
        "429": lambda q: harness.case_fault("429", total=100, label="429, Retry-After: 2"),
        "503-burst": lambda q: harness.case_fault(
            "503-burst", total=100, query="&n=4", label="4 x 503, then the stream"
        ),
        "redirect-loop": lambda q: harness.case_fatal("/loop-a", label="redirect loop"),
        "cross-origin": lambda q: _cross_origin(
            harness.case_fault("cross-origin", total=100, extra=auth)
        ),
        "portal": lambda q: harness.case_fatal("/portal", label="captive portal (200 text/html)"),
        "dns": lambda q: harness.case_dns(total=100, failures=5),
        "tls-untrusted": lambda q: harness.case_tls(trusted=False, total=100),
        "tls-trusted": lambda q: harness.case_tls(trusted=True, total=100),
        "tls-ca-file": lambda q: harness.case_tls_ca_file(total=100),
    }


FOREVER = {
    "accept-close": ("/accept-close", "accept, then close at once, forever"),
    "empty-200": ("/empty", "200 with an empty body, forever"),
}


async def _cross_origin(pending: Awaitable[Row]) -> Row:
    """Say in the row whether a credential reached the other origin."""
    row = await pending
    leaked = any(
        {"authorization", "x-token"} & set(names)
        for target, calls in row.notes["header_names"].items()
        if "echo" in target
        for names in calls
    )
    row.case = "redirect to another origin (-H creds)"
    row.outcome += "; credentials at the other origin: " + ("YES" if leaked else "none")
    return row


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _short(outcome: str, width: int) -> str:
    return outcome if len(outcome) <= width else outcome[: width - 3] + "..."


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'case':<44} {'client':<11} {'sent':>6} {'recv':>6} {'lost':>5} {'dup':>4} "
        f"{'recov s':>8} {'tries':>5} {'/min':>6} {'time s':>7} {'RSS MiB':>8}  outcome"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{_short(r.case, 44):<44} {r.client:<11} {_fmt(r.sent, 'd'):>6} "
            f"{_fmt(r.received, 'd'):>6} {_fmt(r.lost, 'd'):>5} {_fmt(r.dup, 'd'):>4} "
            f"{_fmt(r.recovery, '.2f'):>8} {r.attempts:>5} {r.per_minute:>6.0f} "
            f"{r.duration:>7.1f} {_fmt(r.rss_mib, '.1f'):>8}  {_short(r.outcome, 90)}"
        )
        if r.bad_data:
            print(f"{'':<44} ! {r.bad_data} events arrived with data other than sent")


async def main_async(args: argparse.Namespace) -> None:
    cases = _cases()
    wanted = args.only or [*cases, *FOREVER]
    unknown = set(wanted) - set(cases) - set(FOREVER)
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    for name in wanted:
        if name in cases:
            started = time.monotonic()
            row = await cases[name](args.quick)
            rows.append(row)
            print(f"  {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    forever = [name for name in wanted if name in FOREVER]
    if forever:
        seconds = args.forever_seconds or (20.0 if args.quick else 60.0)
        print(f"  {', '.join(forever)}: {seconds:g} s each, together", file=sys.stderr)
        rows += await asyncio.gather(
            *(
                harness.case_forever(FOREVER[n][0], seconds=seconds, label=FOREVER[n][1])
                for n in forever
            )
        )
    print()
    print("Fault suite: hostile servers and bad networks (tests/benchmarks/fault_suite.py)")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    print_table(rows)
    print()
    print(
        "sent: events the server sent (ids 1..sent, replayed after Last-Event-ID); recv: "
        "events printed (tick events only);\nlost/dup: ids never printed / printed more than "
        "once; recov: longest wait for an event (between two, or from the first attempt\n"
        "to the first event; for kills: from the server's restart to the next event); tries: "
        "connection attempts (the client's\nstderr; the seam's calls for DNS; the "
        "connecting statuses of the other Hub row); /min: tries per minute of the run;\n"
        "RSS: the client's peak (VmHWM), '-' in-process."
    )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, shorter runs")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    parser.add_argument(
        "--forever-seconds",
        type=float,
        metavar="S",
        help="how long the never-working servers run (default 60, 20 with --quick)",
    )
    parser.add_argument("--list", action="store_true", help="list the case names")
    args = parser.parse_args()
    if args.list:
        print("\n".join([*_cases(), *FOREVER]))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
