"""Unit tests of the reconnection timing (SSE.md section 5): Backoff and parse_retry_after."""

from __future__ import annotations

import email.utils
import itertools

import pytest

from tidings.core.backoff import Backoff, parse_retry_after
from tidings.core.models import ConnectionPolicy

NOW = 1_700_000_000.0


def make(random: float = 1.0, **changes: float) -> Backoff:
    policy = ConnectionPolicy(**changes)  # type: ignore[arg-type]
    return Backoff(policy=policy, random=lambda: random, clock=lambda: NOW)


def failures(backoff: Backoff, count: int, **kwargs: object) -> list[float]:
    return [backoff.next_delay(healthy=False, clean_end=False, **kwargs) for _ in range(count)]  # type: ignore[arg-type]


def test_default_reconnection_time_is_the_policy_default() -> None:
    """DESIGN.md defaults: T is 1 s until the server says otherwise."""
    backoff = make()
    assert backoff.reconnection_time == 1.0
    assert backoff.failures == 0


def test_failures_double_with_full_jitter() -> None:
    """§5: with random=1 the waits are T, 2T, 4T, 8T, ... (T + T x (2^(n-1) - 1))."""
    backoff = make(1.0, reconnection_time=1.0)
    assert failures(backoff, 6) == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert backoff.failures == 6


def test_exact_sequence_with_half_jitter() -> None:
    """§5: the added wait is random() x min(cap, T x (2^(n-1) - 1))."""
    backoff = make(0.5, reconnection_time=2.0)
    assert failures(backoff, 4) == [2.0, 3.0, 5.0, 9.0]


def test_zero_jitter_is_exactly_t() -> None:
    """§5: never sooner than T: with random=0 every wait is T."""
    backoff = make(0.0, reconnection_time=0.5)
    assert failures(backoff, 10) == [0.5] * 10


def test_backoff_cap_bounds_the_added_wait() -> None:
    """§5: the part added on top of T never exceeds the backoff cap."""
    backoff = make(1.0, reconnection_time=1.0, backoff_cap=5.0)
    assert failures(backoff, 6) == [1.0, 2.0, 4.0, 6.0, 6.0, 6.0]


@pytest.mark.parametrize("random", [0.0, 0.01, 0.3, 0.5, 0.99, 0.999999])
def test_never_below_t_nor_above_t_plus_cap(random: float) -> None:
    """§5: every wait lies in [T, T + cap], whatever the jitter and however many failures."""
    backoff = make(random, reconnection_time=0.25, backoff_cap=3.0)
    for delay in failures(backoff, 80):
        assert 0.25 <= delay <= 3.25


def test_very_many_failures_do_not_overflow() -> None:
    """§5: thousands of failures keep the wait at T + cap (no OverflowError)."""
    backoff = make(1.0, reconnection_time=1.0, backoff_cap=300.0)
    backoff.failures = 100_000
    assert backoff.next_delay(healthy=False, clean_end=True) == 301.0


def test_healthy_clean_end_waits_exactly_t_and_resets() -> None:
    """§5: after a clean end of a healthy stream the wait is exactly T (no jitter) and n = 0."""
    backoff = make(1.0, reconnection_time=1.0)
    failures(backoff, 3)
    assert backoff.next_delay(healthy=True, clean_end=True) == 1.0
    assert backoff.failures == 0
    assert failures(backoff, 2) == [1.0, 2.0]


def test_healthy_but_broken_connection_counts_as_the_first_failure() -> None:
    """§5: a healthy connection that broke resets n, then counts one failure (wait T)."""
    backoff = make(1.0, reconnection_time=1.0)
    failures(backoff, 4)
    assert backoff.next_delay(healthy=True, clean_end=False) == 1.0
    assert backoff.failures == 1
    assert failures(backoff, 1) == [2.0]


def test_unhealthy_clean_end_is_a_failure() -> None:
    """§5: a server that accepts and closes at once (clean end, no events) backs off."""
    backoff = make(1.0, reconnection_time=1.0)
    delays = [backoff.next_delay(healthy=False, clean_end=True) for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    ("retry_ms", "expected"),
    [
        (5000, 5.0),
        (100, 0.1),
        (99, 0.1),
        (0, 0.1),
        (1, 0.1),
        (600_000, 600.0),
        (600_001, 600.0),
        (10**15, 600.0),
    ],
)
def test_retry_field_is_clamped_to_floor_and_ceiling(retry_ms: int, expected: float) -> None:
    """DESIGN.md: retry: is clamped to 100 ms .. 10 min."""
    backoff = make()
    backoff.set_retry_ms(retry_ms)
    assert backoff.reconnection_time == pytest.approx(expected)


def test_retry_field_becomes_t_for_the_backoff() -> None:
    """R25/§5: the server's retry: is the T that the backoff starts from."""
    backoff = make(1.0)
    backoff.set_retry_ms(3000)
    assert failures(backoff, 3) == [3.0, 6.0, 12.0]
    assert backoff.next_delay(healthy=True, clean_end=True) == 3.0


def test_longer_retry_after_replaces_the_wait() -> None:
    """§5: a Retry-After longer than the computed wait replaces it."""
    backoff = make(1.0, reconnection_time=1.0)
    assert backoff.next_delay(healthy=False, clean_end=False, retry_after="30") == 30.0
    assert backoff.failures == 1


def test_shorter_retry_after_is_ignored() -> None:
    """§5: a Retry-After shorter than the computed wait never shortens it (never below T)."""
    backoff = make(1.0, reconnection_time=1.0)
    failures(backoff, 2)
    assert backoff.next_delay(healthy=False, clean_end=False, retry_after="2") == 4.0
    assert backoff.next_delay(healthy=False, clean_end=False, retry_after="0") == 8.0


def test_retry_after_is_capped() -> None:
    """DESIGN.md: Retry-After is capped at 10 minutes."""
    backoff = make(0.0, reconnection_time=1.0)
    assert backoff.next_delay(healthy=False, clean_end=False, retry_after="86400") == 600.0


def test_retry_after_date_uses_the_injected_clock() -> None:
    """§5: an HTTP-date Retry-After is measured from the injected clock."""
    backoff = make(0.0, reconnection_time=1.0)
    when = email.utils.formatdate(NOW + 42, usegmt=True)
    assert backoff.next_delay(healthy=False, clean_end=False, retry_after=when) == 42.0


def test_garbage_retry_after_keeps_the_computed_wait() -> None:
    """§5: an unreadable Retry-After is ignored."""
    backoff = make(1.0, reconnection_time=1.0)
    junk = ["soon", "", "-5", "Sun, 06 Nov 99999999999999999999 08:49:37 GMT"]
    assert [
        backoff.next_delay(healthy=False, clean_end=False, retry_after=value) for value in junk
    ] == [1.0, 2.0, 4.0, 8.0]


# -- parse_retry_after ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("007", 7.0),
        ("600", 600.0),
        ("601", 600.0),
    ],
)
def test_parse_delta_seconds(value: str, expected: float) -> None:
    """Retry-After as delta seconds, capped."""
    assert parse_retry_after(value, now=NOW, cap=600.0) == expected


@pytest.mark.parametrize("digits", [13, 20, 400, 5000])
def test_parse_huge_numbers_hit_the_cap(digits: int) -> None:
    """Absurdly long digit strings are the cap, never an error (int_max_str_digits is 4300)."""
    assert parse_retry_after("9" * digits, now=NOW, cap=600.0) == 600.0
    assert parse_retry_after("1" + "0" * (digits - 1), now=NOW, cap=5.0) == 5.0


@pytest.mark.parametrize(
    ("offset", "expected"), [(90, 90.0), (0, 0.0), (-3600, 0.0), (86400, 600.0)]
)
def test_parse_http_date(offset: int, expected: float) -> None:
    """Retry-After as an IMF-fixdate: seconds from now, never negative, capped."""
    value = email.utils.formatdate(NOW + offset, usegmt=True)
    assert value.endswith("GMT")
    assert parse_retry_after(value, now=NOW, cap=600.0) == expected


def test_parse_http_date_with_numeric_zone() -> None:
    """A date with a numeric UTC offset is understood too."""
    value = email.utils.formatdate(NOW + 60, localtime=False)  # "... -0000" means unknown zone
    assert parse_retry_after(value, now=NOW, cap=600.0) is None
    plus_one = "Tue, 14 Nov 2023 23:14:20 +0100"  # NOW + 60 s, written in UTC+1
    assert parse_retry_after(plus_one, now=NOW, cap=600.0) == 60.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "1.5",
        "-5",
        "+5",
        "5s",
        "1e3",
        "1_000",
        "١٢",  # non-ASCII digits
        "\x00",
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Mon, 32 Foo 2020 99:99:99 GMT",
        "Sun, 06 Nov 1994 25:61:61 GMT",
        "Sun, 06 Nov 1994 08:49:37 +9999",
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",  # OverflowError inside email.utils
        "Sun, 99999999999999999999 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 99999999999999999999:49:37 GMT",
    ],
)
def test_parse_garbage_is_none(value: str | None) -> None:
    """Anything unreadable is None, never an exception (a server controls this header)."""
    assert parse_retry_after(value, now=NOW, cap=600.0) is None


def test_parse_never_raises_on_odd_dates() -> None:
    """Mangled date-like strings give a number or None, never an exception."""
    parts = ["Sun,", "06", "Nov", "1994", "08:49:37", "GMT", "99999999999999999999", "-0000", "x"]
    for combo in itertools.permutations(parts, 5):
        result = parse_retry_after(" ".join(combo), now=NOW, cap=600.0)
        assert result is None or 0.0 <= result <= 600.0
