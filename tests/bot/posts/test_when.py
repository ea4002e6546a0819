"""A scheduled post's time, from the person's local date and time to UTC: pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.posts.when import WhenError, check_run_at, local_to_utc


@pytest.mark.parametrize(
    ("day", "at", "zone", "utc", "noted"),
    [
        ("2026-12-24", "09:00", "Asia/Seoul", datetime(2026, 12, 24, 0, 0, tzinfo=UTC), False),
        ("2026-12-24", "23:30", "UTC", datetime(2026, 12, 24, 23, 30, tzinfo=UTC), False),
        ("2026-07-01", "12:00", "Europe/Berlin", datetime(2026, 7, 1, 10, 0, tzinfo=UTC), False),
        # The clocks go back at 03:00 CEST on 2026-10-25: 02:30 happens twice, first in CEST.
        ("2026-10-25", "02:30", "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), True),
        ("2026-11-01", "01:30", "America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), True),
    ],
)
def test_local_times_are_made_utc(day: str, at: str, zone: str, utc: datetime, noted: bool) -> None:
    moment, note = local_to_utc(day, at, zone)
    assert moment == utc
    assert (note is not None) == noted
    if note:
        assert "happens twice" in note and "first time" in note


@pytest.mark.parametrize(
    ("day", "at", "zone", "says"),
    [
        ("2026-03-29", "02:30", "Europe/Berlin", "does not exist"),  # the clocks jump forward
        ("2026-03-08", "02:15", "America/New_York", "does not exist"),
        ("2026-12-24", "09:00", "Mars/Olympus_Mons", "unknown to Roost"),
        ("2026-02-30", "09:00", "UTC", "Pick a date and a time"),
        ("2026-12-24", "25:00", "UTC", "Pick a date and a time"),
    ],
)
def test_times_that_cannot_be_used_say_why(day: str, at: str, zone: str, says: str) -> None:
    with pytest.raises(WhenError, match=says):
        local_to_utc(day, at, zone)


NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("run_at", "says"),
    [
        (NOW, "has passed"),
        (NOW - timedelta(minutes=1), "has passed"),
        (NOW + timedelta(days=366), "at most 365 days"),
    ],
)
def test_a_time_past_or_too_far_ahead_is_refused(run_at: datetime, says: str) -> None:
    with pytest.raises(WhenError, match=says):
        check_run_at(run_at, NOW, 365)


def test_a_time_within_the_window_is_taken() -> None:
    check_run_at(NOW + timedelta(minutes=1), NOW, 365)
    check_run_at(NOW + timedelta(days=365), NOW, 365)
