"""Team figures: first response and resolution medians, exactly, with business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.figures import Clock, Period, duration, period_figures, trend
from bot.team.business_hours import business_clock
from storage.digests import ResponseRow

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # Thu 09:00 in Seoul
SEOUL_WEEKDAYS = {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
AROUND = business_clock(None)
HOUR = timedelta(hours=1)


def row(
    account: int,
    posted: datetime,
    answered_after: timedelta | None = None,
    *,
    by: str | None = None,
    resolved_after: timedelta | None = None,
    resolver: str | None = None,
) -> ResponseRow:
    return ResponseRow(
        account,
        posted,
        posted + answered_after if answered_after is not None else None,
        by,
        posted + resolved_after if resolved_after is not None else None,
        resolver,
    )


def figures(rows: list[ResponseRow], one: Clock = AROUND) -> Period:
    return period_figures(
        rows,
        until=NOW,
        days=7,
        zone="Asia/Seoul",
        handles={1: "brand", 2: "brand_help"},
        clocks={1: one, 2: AROUND},
    )


def test_medians_are_exact_and_compare_with_the_week_before() -> None:
    day = timedelta(days=1)
    rows = [
        row(1, NOW - day, timedelta(minutes=10), by="U1", resolved_after=HOUR, resolver="U2"),
        row(1, NOW - 2 * day, timedelta(minutes=20), by="U1", resolved_after=3 * HOUR),
        row(2, NOW - 3 * day, timedelta(minutes=30), by="U2"),
        row(2, NOW - 4 * day, timedelta(minutes=40), by="U2"),
        row(1, NOW - 5 * day),  # not answered: counted, not in the medians
        # The week before: slower.
        row(1, NOW - 8 * day, timedelta(minutes=60), by="U1", resolved_after=4 * HOUR),
        row(2, NOW - 9 * day, timedelta(minutes=80), by="U2"),
        # Older than both weeks, and from the future: ignored.
        row(1, NOW - 15 * day, timedelta(minutes=1), by="U1"),
        row(1, NOW + timedelta(minutes=1), timedelta(minutes=1), by="U1"),
    ]
    found = figures(rows)
    assert found.received == 5
    assert found.received_before == 2
    assert found.answered == 4
    first = found.first_response
    assert first.median == timedelta(minutes=25)  # the mean of the middle two of 10, 20, 30, 40
    assert first.before == timedelta(minutes=70)
    assert found.resolution.median == timedelta(hours=2)
    assert found.resolution.before == timedelta(hours=4)
    by_account = {line.key: line for line in found.accounts}
    assert by_account["brand"].first_response.median == timedelta(minutes=15)
    assert by_account["brand"].resolution == found.resolution  # every resolution is @brand's
    assert by_account["brand_help"].first_response.median == timedelta(minutes=35)
    assert by_account["brand_help"].first_response.before == timedelta(minutes=80)
    assert by_account["brand_help"].resolution.count == 0
    by_person = {line.key: line for line in found.people}
    assert [line.key for line in found.people] == ["U2", "U1"]  # the busiest first
    u1, u2 = by_person["U1"], by_person["U2"]
    assert u1.first_response.count == 2 and u1.first_response.median == timedelta(minutes=15)
    assert u1.resolution.count == 0  # resolved nothing themselves: no resolver was recorded
    assert u2.first_response.before == timedelta(minutes=80)
    assert u2.resolution.count == 1 and u2.resolution.median == HOUR
    assert by_account["brand"].received == 3 and by_account["brand_help"].received == 2


def test_people_busy_only_the_period_before_are_not_listed() -> None:
    rows = [row(1, NOW - timedelta(days=9), timedelta(minutes=5), by="U0GONE")]
    assert figures(rows).people == []


def test_hours_are_counted_in_the_zone_with_the_median_response_per_hour() -> None:
    ten_kst = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
    rows = [
        row(1, ten_kst, timedelta(minutes=4)),
        row(1, ten_kst + timedelta(minutes=5), timedelta(minutes=8)),
        row(1, ten_kst + timedelta(hours=5)),  # 15:00, unanswered
    ]
    found = figures(rows)
    assert found.hours[10] == 2 and found.hours[15] == 1 and sum(found.hours) == 3
    assert found.response_by_hour[10] == 6.0
    assert found.response_by_hour[15] is None


def test_hours_in_a_half_hour_zone_split_at_the_half_hour() -> None:
    ten_utc = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 15:30 in Kolkata
    rows = [row(1, ten_utc + timedelta(minutes=m)) for m in (0, 29, 30, 59)]
    found = period_figures(
        rows, until=NOW, days=7, zone="Asia/Kolkata", handles={1: "brand"}, clocks={1: AROUND}
    )
    assert found.hours[15] == 2 and found.hours[16] == 2


def test_business_hours_count_only_open_time() -> None:
    friday_five_pm = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # Fri 17:00 in Seoul
    monday_ten_am = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Mon 10:00 in Seoul
    clock = business_clock(SEOUL_WEEKDAYS)
    assert clock(friday_five_pm, monday_ten_am) == timedelta(hours=2)
    found = figures([row(1, friday_five_pm, monday_ten_am - friday_five_pm)], one=clock)
    assert found.first_response.median == timedelta(hours=2)
    # The same row on an account without hours: the whole weekend counts.
    assert figures(
        [row(2, friday_five_pm, monday_ten_am - friday_five_pm)]
    ).first_response.median == (monday_ten_am - friday_five_pm)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Both outside the hours, on a Saturday: nothing.
        ("2026-11-21T03:00", "2026-11-21T05:00", timedelta(0)),
        # Before opening to after closing on a Tuesday: the whole nine hours.
        ("2026-11-23T22:00", "2026-11-24T12:00", timedelta(hours=9)),
        # An end before the start counts as nothing.
        ("2026-11-24T05:00", "2026-11-24T04:00", timedelta(0)),
    ],
)
def test_business_clock_edges(start: str, end: str, expected: timedelta) -> None:
    clock = business_clock(SEOUL_WEEKDAYS)
    assert clock(_utc(start), _utc(end)) == expected


def test_business_clock_across_a_clock_change_counts_real_time() -> None:
    # Berlin goes back an hour on Sun 25 Oct 2026: open 00:00-24:00 that day is 25 h long.
    hours = {"tz": "Europe/Berlin", "days": [6], "start": "00:00", "end": "24:00"}
    clock = business_clock(hours)
    assert clock(_utc("2026-10-24T12:00"), _utc("2026-10-26T12:00")) == timedelta(hours=25)


def test_duration_and_trend_read_as_people_say_them() -> None:
    assert duration(None) == "–"
    assert duration(timedelta(seconds=42)) == "42 s"
    assert duration(timedelta(minutes=14, seconds=59)) == "14 min"
    assert duration(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert duration(timedelta(days=2, hours=4, minutes=1)) == "2 d 4 h"
    assert trend(timedelta(minutes=10), timedelta(minutes=20)) == "50% faster than 20 min"
    assert trend(timedelta(minutes=30), timedelta(minutes=20)) == "50% slower than 20 min"
    assert trend(timedelta(minutes=20), timedelta(minutes=20, seconds=30)).startswith(
        "about the same"
    )
    assert trend(timedelta(minutes=5), None) == "no figure to compare"
    assert trend(None, timedelta(minutes=5)) == "none answered; 5 min before"
    assert trend(None, timedelta(minutes=5), "none resolved") == "none resolved; 5 min before"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
