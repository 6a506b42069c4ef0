"""Hostile servers and bad networks against ``tidings listen --json`` (a real child process).

Small versions of tests/benchmarks/fault_suite.py's cases (faults/harness.py
has them; faults/servers.py is the server). What is asserted is what users
see: every event exactly once where the server replays from Last-Event-ID,
one clear ``error:`` line where the feed cannot work, a bounded number of
attempts, bounded memory. Timings are figures of the script, never asserted
here, except that a server which never works gets few attempts (no hot loop).
"""

from __future__ import annotations

import pytest

from faults import harness
from faults.harness import SECRET, Row
from tidings.core.models import ConnectionState, StopReason

RSS_BOUND_MIB = 120
"""A 200 MiB line or a 10 MB id must not be held: far below what holding them would take."""


def assert_exactly_once(row: Row) -> None:
    """Every event the server sent, each once, with its data intact; the client ended well."""
    assert row.run is None or row.run.returncode == 0, row.run.stderr_text
    assert (row.lost, row.dup, row.bad_data) == (0, 0, 0), (row, row.notes)
    assert row.received == row.sent
    if row.run is not None:
        assert "Traceback" not in row.run.stderr_text, row.run.stderr_text


async def test_server_killed_and_restarted_repeatedly_loses_nothing() -> None:
    row = await harness.case_kill_restart(total=600, rate=300, every=0.6, down=0.3)
    assert row.notes["kills"] >= 2
    assert_exactly_once(row)


async def test_port_closed_for_a_while_then_back_loses_nothing() -> None:
    row = await harness.case_port_closed(total=300, rate=200, down=1.5)
    assert_exactly_once(row)
    assert row.run is not None
    assert "cannot connect" in row.run.stderr_text


async def test_connections_cut_between_events_mid_line_and_mid_character() -> None:
    row = await harness.case_cuts(total=600)
    assert row.notes["connections"] >= 12
    assert_exactly_once(row)


async def test_stall_past_the_idle_timeout_reconnects_and_resumes() -> None:
    row = await harness.case_fault("stall", total=20, extra=("--idle-timeout", "1"))
    assert_exactly_once(row)
    assert row.run is not None
    assert "no data for 1 s" in row.run.stderr_text
    assert row.notes["requests"] == 3  # the stall, the rest of the stream, the 204


async def test_a_drip_of_bytes_keeps_the_connection_and_decodes_every_character() -> None:
    # 3 ms between bytes, far under the 1 s idle timeout: never presumed dead.
    row = await harness.case_fault(
        "", total=6, query="&drip=3", extra=("--idle-timeout", "1"), label="drip"
    )
    assert_exactly_once(row)
    assert row.notes["requests"] == 2  # the stream and the final 204: no reconnect between


@pytest.mark.parametrize("path", ["/accept-close", "/empty"])
async def test_accept_then_close_forever_backs_off(path: str) -> None:
    """A server that accepts and closes (or ends an empty 200) at once: no hot loop."""
    row = await harness.case_forever(path, seconds=4, label=path)
    # T = 1 s, then T + up to T, T + up to 3T, ...: at most 5 attempts in 4 s (a hot loop
    # would make hundreds); the client's own count and the server's agree.
    assert 2 <= row.attempts <= 5, row.run.stderr_text if row.run else row
    assert row.notes["requests"] == row.attempts
    assert row.run is not None
    assert row.run.returncode == 143
    assert "Traceback" not in row.run.stderr_text


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("huge-line", "a line longer than 4,194,304 bytes"),
        ("endless-block", "an event larger than 4,194,304 bytes"),
        ("endless-short", "an event larger than 4,194,304 bytes"),
        ("huge-id", "a line longer than 4,194,304 bytes"),
    ],
)
async def test_oversized_input_drops_the_connection_in_bounded_memory(
    fault: str, said: str
) -> None:
    """200 MiB without a newline, data lines without end, a 10 MB id: cut off at the cap,
    memory stays bounded, and the resumed stream brings every event."""
    row = await harness.case_fault(fault, total=20)
    assert_exactly_once(row)
    assert row.run is not None
    assert said in row.run.stderr_text
    assert row.rss_mib is not None
    assert 0 < row.rss_mib < RSS_BOUND_MIB


async def test_a_5000_digit_retry_does_not_crash() -> None:
    # The retry is clamped to the 10 min ceiling, so the client ends with --max-events.
    row = await harness.case_fault("retry-digits", total=20, extra=("--max-events", "20"))
    assert_exactly_once(row)
    assert row.notes["requests"] == 1


async def test_invalid_utf8_becomes_replacement_characters() -> None:
    row = await harness.case_fault("invalid-utf8", total=20)
    assert_exactly_once(row)
    assert [(f["data"], f["id"]) for f in row.notes["faults"]] == [
        ("bad \ufffd\ufffd\ufffd( bytes \ufffd\ufffd\ufffd end", "5")
    ]


async def test_nul_bytes_pass_in_data_and_an_id_with_nul_is_ignored() -> None:
    row = await harness.case_fault("nul", total=20)
    assert_exactly_once(row)
    # The NUL id is ignored (R24): the event keeps the sticky id 5; resuming still works.
    assert [(f["data"], f["id"]) for f in row.notes["faults"]] == [("a\x00b", "5")]


async def test_token_revoked_after_working_a_while_stops_with_a_clear_error() -> None:
    row = await harness.case_fault("revoked", total=20, sent=5)
    assert row.run is not None
    assert row.run.returncode == 1
    assert (row.received, row.lost, row.dup) == (5, 0, 0)
    assert row.run.error_line.startswith("error: HTTP 401 Unauthorized: the server needs valid")
    assert row.notes["requests"] == 2  # no retry against a 401


async def test_429_with_retry_after_waits_and_then_works() -> None:
    row = await harness.case_fault("429", total=20)
    assert_exactly_once(row)
    assert row.run is not None
    assert "HTTP 429 Too Many Requests; retrying in 2.0 s" in row.run.stderr_text


async def test_a_burst_of_503_is_retried_until_the_server_is_back() -> None:
    row = await harness.case_fault("503-burst", total=20, query="&n=2")
    assert_exactly_once(row)
    assert row.run is not None
    assert row.run.stderr_text.count("HTTP 503 Service Unavailable; retrying") == 2


async def test_redirect_loop_stops_with_a_clear_error() -> None:
    row = await harness.case_fatal("/loop-a", label="redirect loop")
    assert row.run is not None
    assert row.run.returncode == 1
    assert row.run.error_line.startswith("error: redirect loop at http://127.0.0.1:")
    assert row.notes["requests"] == 2


async def test_no_credential_follows_a_redirect_to_another_origin() -> None:
    headers = ("-H", f"Authorization: Bearer {SECRET}", "-H", f"X-Token: {SECRET}")
    row = await harness.case_fault("cross-origin", total=20, extra=headers)
    assert_exactly_once(row)
    seen: dict[str, list[list[str]]] = row.notes["header_names"]
    first = [names for target, calls in seen.items() if "echo" not in target for names in calls]
    other = [names for target, calls in seen.items() if "echo" in target for names in calls]
    assert first
    assert other
    assert all({"authorization", "x-token"} <= set(names) for names in first)
    assert not any({"authorization", "x-token"} & set(names) for names in other)
    assert row.run is not None
    assert SECRET not in row.run.stderr_text
    assert all(SECRET not in str(event) for _, event in row.run.events)


async def test_a_captive_portal_page_stops_with_a_clear_error() -> None:
    row = await harness.case_fatal("/portal", label="portal")
    assert row.run is not None
    assert row.run.returncode == 1
    assert row.run.error_line == (
        "error: the server answered text/html, not an event stream (is the URL right?)"
    )
    assert row.notes["requests"] == 1


async def test_dns_failure_through_the_hubs_transport_seam_is_retried() -> None:
    row = await harness.case_dns(total=30, failures=3)
    assert_exactly_once(row)
    assert row.notes["stored_ids"] == list(range(1, 31))  # in the history, once each
    assert (
        row.notes["retry_messages"][:3]
        == ["cannot connect: [Errno -3] Temporary failure in name resolution"] * 3
    )
    assert row.statuses[-1].stop_reason is StopReason.NO_CONTENT
    assert row.statuses[-1].state is ConnectionState.STOPPED


async def test_tls_with_an_unknown_ca_stops_with_a_clear_error() -> None:
    row = await harness.case_tls(trusted=False, total=10)
    assert row.run is not None
    assert row.run.returncode == 1
    error = row.run.error_line
    assert error.startswith("error: the server's TLS certificate was rejected (")
    assert "add that CA to the system's trust store" in error
    assert row.attempts == 1  # fatal: no retry


async def test_tls_with_the_ca_configured_works() -> None:
    row = await harness.case_tls(trusted=True, total=10)
    assert_exactly_once(row)


@pytest.mark.parametrize("encoding", ["gzip", "gzip-members", "deflate", "raw-deflate"])
async def test_compressed_streams_decode_exactly_across_cuts(encoding: str) -> None:
    row = await harness.case_cuts(total=300, query=f"&encoding={encoding}")
    assert_exactly_once(row)
    assert all(
        "accept-encoding" in names
        for calls in row.notes["header_names"].values()
        for names in calls
    )


async def test_a_gzip_bomb_is_inflated_in_bounded_memory() -> None:
    """A 200 MiB line that gzip squeezes into a few hundred KiB: cut off at the line cap,
    never inflated whole (httpx's own decoder would inflate each 64 KiB read at once)."""
    row = await harness.case_fault("huge-line", total=20, query="&encoding=gzip")
    assert_exactly_once(row)
    assert row.run is not None
    assert "a line longer than 4,194,304 bytes" in row.run.stderr_text
    assert row.rss_mib is not None
    assert 0 < row.rss_mib < RSS_BOUND_MIB


async def test_an_encoding_not_asked_for_stops_with_a_clear_error() -> None:
    row = await harness.case_fault("", total=5, query="&encoding=br")
    assert row.run is not None
    assert row.run.returncode == 1
    assert row.run.error_line == (
        "error: the server compressed the stream as 'br', which Tidings did not ask for "
        "and cannot read"
    )


async def test_tls_with_the_ca_as_the_feeds_ca_file_works_in_the_hub() -> None:
    row = await harness.case_tls_ca_file(total=10)
    assert_exactly_once(row)
    assert row.notes["stored_ids"] == list(range(1, 11))
