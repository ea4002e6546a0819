"""Business hours and the SLA clock: pure tables, daylight saving time included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.team.business_hours import (
    AROUND_THE_CLOCK,
    business_clock,
    describe_hours,
    open_between,
    parse_hours,
    sla_due,
)

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")  # 2025: forward on Sun 30 March, back on Sun 26 October


def at(zone: ZoneInfo, *when: int) -> datetime:
    """A wall-clock time in `zone` (the first of two, when clocks go back), as UTC."""
    return datetime(*when, tzinfo=zone).astimezone(UTC)


PARSED = [
    (
        "Mon-Fri 09:00-18:00 Asia/Seoul",
        {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"},
    ),
    (
        "mon,tue,thu 8:30-17:00 Europe/Berlin",
        {"tz": "Europe/Berlin", "days": [0, 1, 3], "start": "08:30", "end": "17:00"},
    ),
    (
        "  Mon - Fri   09:00 - 18:00  asia/seoul ",
        {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"},
    ),
    (
        "MONDAY, Wednesday, fri 10:00-16:00 UTC",
        {"tz": "UTC", "days": [0, 2, 4], "start": "10:00", "end": "16:00"},
    ),
    (
        "월~금 09:00~18:00 Asia/Seoul",
        {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"},
    ),
    (
        "토요일,일요일 10:00-14:00 Asia/Seoul",
        {"tz": "Asia/Seoul", "days": [5, 6], "start": "10:00", "end": "14:00"},
    ),
    (  # a range may wrap past Sunday
        "Fri-Mon 10:00-14:00 UTC",
        {"tz": "UTC", "days": [0, 4, 5, 6], "start": "10:00", "end": "14:00"},
    ),
    (  # a night shift: it belongs to the day it opens on
        "weekdays 22:00-06:00 Asia/Seoul",
        {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "22:00", "end": "06:00"},
    ),
    (
        "daily 00:00-24:00 Europe/Berlin",
        {"tz": "Europe/Berlin", "days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"},
    ),
    (
        "Sat,Sun,Sat 07:05-23:59 America/New_York",
        {"tz": "America/New_York", "days": [5, 6], "start": "07:05", "end": "23:59"},
    ),
]


@pytest.mark.parametrize(("text", "hours"), PARSED)
def test_business_hours_are_read_as_stored(text: str, hours: dict[str, Any]) -> None:
    assert parse_hours(text) == hours


@pytest.mark.parametrize(("text", "hours"), PARSED)
def test_described_hours_read_back_the_same(text: str, hours: dict[str, Any]) -> None:
    assert parse_hours(describe_hours(hours)) == hours


@pytest.mark.parametrize(
    ("hours", "shown"),
    [
        (None, "around the clock"),
        (PARSED[0][1], "Mon-Fri 09:00-18:00 Asia/Seoul"),
        (PARSED[1][1], "Mon, Tue, Thu 08:30-17:00 Europe/Berlin"),
        (PARSED[6][1], "Mon, Fri-Sun 10:00-14:00 UTC"),
        ({"tz": "Nowhere/Land", "days": [0], "start": "09:00", "end": "18:00"}, "unreadable"),
    ],
)
def test_hours_are_described_for_people(hours: dict[str, Any] | None, shown: str) -> None:
    assert shown in describe_hours(hours)


@pytest.mark.parametrize("text", ["", "   ", "off", "OFF", "none", "24/7", AROUND_THE_CLOCK])
def test_no_business_hours_is_around_the_clock(text: str) -> None:
    assert parse_hours(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 9-18 Asia/Seoul", "such as “Mon-Fri 09:00-18:00 Asia/Seoul”"),
        ("Mon-Fri 09:00-18:00", "such as"),  # no zone
        ("09:00-18:00 Asia/Seoul", "such as"),  # no days
        ("Mon-Fri 9am-6pm Asia/Seoul", "such as"),
        ("x" * 1000, "such as"),
        ("Mon-Fri 09:00-18:00 Mars/Olympus", "Unknown time zone “Mars/Olympus”"),
        ("Mon-Fri 09:00-18:00 Asia", "Unknown time zone"),  # a folder of zones
        ("Mon-Fri 09:00-18:00 ../../etc/passwd", "Unknown time zone"),
        ("Mon-Fri 09:00-18:00 KST", "IANA name such as Asia/Seoul"),
        ("Funday 09:00-18:00 UTC", "“Funday” is not a day"),
        ("Mo-Fr 09:00-18:00 UTC", "“Mo” is not a day"),
        ("Mon-Fri,Sat- 09:00-18:00 UTC", "not a day"),
        (", 09:00-18:00 UTC", "not a day"),
        ("Mon-Fri 25:00-18:00 UTC", "“25:00” is not a time of day"),
        ("Mon-Fri 09:60-18:00 UTC", "“09:60” is not a time of day"),
        ("Mon-Fri 24:00-18:00 UTC", "“24:00” is not a time of day"),  # 24:00 only ends
        ("Mon-Fri 09:00-24:30 UTC", "“24:30” is not a time of day"),
        ("Mon-Fri 09:00-09:00 UTC", "open and close at the same time"),
    ],
)
def test_unreadable_hours_say_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_hours(text)
    assert says in str(caught.value)


WEEKDAYS_SEOUL = parse_hours("Mon-Fri 09:00-18:00 Asia/Seoul")
NIGHTS_SEOUL = parse_hours("Mon-Fri 22:00-06:00 Asia/Seoul")
SUNDAY_NIGHT_BERLIN = parse_hours("Sun 01:00-05:00 Europe/Berlin")  # spans the changed hour
SUNDAY_GAP_BERLIN = parse_hours("Sun 02:30-05:00 Europe/Berlin")  # opens in the changed hour
WEEKDAYS_BERLIN = parse_hours("Mon-Fri 09:00-18:00 Europe/Berlin")
ALWAYS_BERLIN = parse_hours("daily 00:00-24:00 Europe/Berlin")

# (start, minutes, hours, due); 2025-06-13 is a Friday.
SLA = [
    # Seoul has no daylight saving time.
    (at(SEOUL, 2025, 6, 13, 17, 50), 60, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 16, 9, 50)),
    (at(SEOUL, 2025, 6, 11, 7, 0), 60, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 11, 10, 0)),
    (at(SEOUL, 2025, 6, 11, 12, 0), 60, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 11, 13, 0)),
    (at(SEOUL, 2025, 6, 11, 18, 0), 60, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 12, 10, 0)),
    (at(SEOUL, 2025, 6, 11, 9, 0), 540, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 11, 18, 0)),
    (at(SEOUL, 2025, 6, 11, 17, 0), 600, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 12, 18, 0)),
    (at(SEOUL, 2025, 6, 14, 12, 0), 30, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 16, 9, 30)),
    (at(SEOUL, 2025, 6, 14, 12, 0), 0, WEEKDAYS_SEOUL, at(SEOUL, 2025, 6, 16, 9, 0)),
    (at(SEOUL, 2025, 6, 13, 17, 0), 7 * 24 * 60, WEEKDAYS_SEOUL, at(SEOUL, 2025, 7, 10, 14, 0)),
    # Night shifts, Friday's running into Saturday morning.
    (at(SEOUL, 2025, 6, 14, 3, 0), 60, NIGHTS_SEOUL, at(SEOUL, 2025, 6, 14, 4, 0)),
    (at(SEOUL, 2025, 6, 14, 5, 30), 60, NIGHTS_SEOUL, at(SEOUL, 2025, 6, 16, 22, 30)),
    (at(SEOUL, 2025, 6, 15, 23, 0), 60, NIGHTS_SEOUL, at(SEOUL, 2025, 6, 16, 23, 0)),
    # Berlin, spring forward: 02:00 CET is 03:00 CEST, so 01:00-05:00 is three hours.
    (at(BERLIN, 2025, 3, 30, 0, 30), 180, SUNDAY_NIGHT_BERLIN, at(BERLIN, 2025, 3, 30, 5, 0)),
    (at(BERLIN, 2025, 3, 30, 0, 30), 181, SUNDAY_NIGHT_BERLIN, at(BERLIN, 2025, 4, 6, 1, 1)),
    (at(BERLIN, 2025, 3, 30, 1, 30), 60, SUNDAY_NIGHT_BERLIN, at(BERLIN, 2025, 3, 30, 3, 30)),
    # ...and back in autumn: 02:00-03:00 happens twice, so 01:00-05:00 is five hours.
    (
        at(BERLIN, 2025, 10, 26, 0, 30),
        240,
        SUNDAY_NIGHT_BERLIN,
        datetime(2025, 10, 26, 3, tzinfo=UTC),
    ),
    (at(BERLIN, 2025, 10, 26, 0, 30), 300, SUNDAY_NIGHT_BERLIN, at(BERLIN, 2025, 10, 26, 5, 0)),
    # Opening at a time that does not exist that day: shifted forward by the gap.
    (at(BERLIN, 2025, 3, 30, 0, 0), 30, SUNDAY_GAP_BERLIN, at(BERLIN, 2025, 3, 30, 4, 0)),
    # ...and at one that happens twice: the first.
    (at(BERLIN, 2025, 10, 26, 0, 0), 210, SUNDAY_GAP_BERLIN, at(BERLIN, 2025, 10, 26, 5, 0)),
    # Over a weekend when the clocks change, the offset of Monday counts.
    (at(BERLIN, 2025, 3, 28, 17, 30), 60, WEEKDAYS_BERLIN, at(BERLIN, 2025, 3, 31, 9, 30)),
    (at(BERLIN, 2025, 10, 24, 17, 30), 60, WEEKDAYS_BERLIN, at(BERLIN, 2025, 10, 27, 9, 30)),
    # Open all day every day is the same as no business hours, in real time.
    (at(BERLIN, 2025, 3, 30, 0, 30), 120, ALWAYS_BERLIN, datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
    (
        at(BERLIN, 2025, 10, 26, 1, 30),
        120,
        ALWAYS_BERLIN,
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
    ),
    # No business hours: the plain sum.
    (at(SEOUL, 2025, 6, 14, 12, 0), 90, None, at(SEOUL, 2025, 6, 14, 13, 30)),
]


@pytest.mark.parametrize(("start", "minutes", "hours", "due"), SLA)
def test_the_sla_clock_runs_in_business_hours_only(
    start: datetime, minutes: int, hours: dict[str, Any] | None, due: datetime
) -> None:
    found = sla_due(start, minutes, hours)
    assert found == due
    assert found.utcoffset() == timedelta(0)


def test_a_start_in_another_zone_is_the_same_instant() -> None:
    start = datetime(2025, 6, 13, 10, 50, tzinfo=ZoneInfo("Europe/London"))  # 18:50 in Seoul
    assert sla_due(start, 60, WEEKDAYS_SEOUL) == at(SEOUL, 2025, 6, 16, 10, 0)


@pytest.mark.parametrize(
    ("start", "minutes", "hours", "says"),
    [
        (datetime(2025, 6, 13, 9, 0), 60, None, "timezone-aware"),
        (at(SEOUL, 2025, 6, 13, 9, 0), -1, None, "cannot be negative"),
        (at(SEOUL, 2025, 6, 13, 9, 0), 10**12, None, "beyond the calendar"),
        (at(SEOUL, 2025, 6, 13, 9, 0), 60, {"tz": "Asia/Seoul"}, "need tz, days"),
        (at(SEOUL, 2025, 6, 13, 9, 0), 60, ["Mon-Fri"], "need tz, days"),
        (
            at(SEOUL, 2025, 6, 13, 9, 0),
            60,
            {"tz": "Asia/Seoul", "days": [], "start": "09:00", "end": "18:00"},
            "at least one day",
        ),
        (
            at(SEOUL, 2025, 6, 13, 9, 0),
            60,
            {"tz": "Asia/Seoul", "days": [7], "start": "09:00", "end": "18:00"},
            "0 (Monday) to 6",
        ),
        (
            at(SEOUL, 2025, 6, 13, 9, 0),
            60,
            {"tz": "Asia/Seoul", "days": [0], "start": "9am", "end": "18:00"},
            "not a time of day",
        ),
        (
            at(SEOUL, 2025, 6, 13, 9, 0),
            60,
            {"tz": "Atlantis", "days": [0], "start": "09:00", "end": "18:00"},
            "Unknown time zone",
        ),
        (
            at(SEOUL, 2025, 6, 13, 9, 0),
            60,
            {"tz": "UTC", "days": [0], "start": "09:00", "end": "09:00"},
            "same time",
        ),
        # A minute a week never adds up to a week: it gives up instead of looping.
        (at(SEOUL, 2025, 6, 13, 9, 0), 7 * 24 * 60, parse_hours("Mon 09:00-09:01 UTC"), "fit"),
    ],
)
def test_impossible_sla_targets_raise(start: datetime, minutes: int, hours: Any, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        sla_due(start, minutes, hours)
    assert says in str(caught.value)


KST = ZoneInfo("Asia/Seoul")
WEEK_KR = {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}


def test_the_sla_clock_skips_public_holidays_and_the_teams_days_off() -> None:
    """Christmas Eve at 17:00, two hours to answer: an hour that evening, then Christmas
    (a public holiday in Korea) and the weekend are closed, so it is due Monday 10:00;
    with Monday a day off of the team's own, Tuesday 10:00."""
    eve = datetime(2026, 12, 24, 17, 0, tzinfo=KST)
    assert sla_due(eve, 120, WEEK_KR) == datetime(2026, 12, 25, 10, 0, tzinfo=KST)
    holidays_kr = WEEK_KR | {"holidays": "KR"}
    assert sla_due(eve, 120, holidays_kr) == datetime(2026, 12, 28, 10, 0, tzinfo=KST)
    day_off = holidays_kr | {"off": ["2026-12-28"]}
    assert sla_due(eve, 120, day_off) == datetime(2026, 12, 29, 10, 0, tzinfo=KST)
    clock = business_clock(day_off)
    assert clock(eve, datetime(2026, 12, 29, 10, 0, tzinfo=KST)) == timedelta(hours=2)


@pytest.mark.parametrize(
    ("closing", "says"),
    [({"holidays": "XX"}, "No public holidays are known"), ({"off": ["soon"]}, "ISO dates")],
)
def test_holidays_and_days_off_that_cannot_be_read_say_so(closing: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        sla_due(datetime(2026, 12, 24, 17, 0, tzinfo=KST), 60, WEEK_KR | closing)


@pytest.mark.parametrize(
    ("hours", "start", "end", "expected"),
    [
        # 2026-12-04 is a Friday, in Seoul.
        ("WEEKDAYS", (2026, 12, 4, 17, 59), (2026, 12, 4, 20, 0), True),
        ("WEEKDAYS", (2026, 12, 4, 18, 0), (2026, 12, 7, 9, 0), False),  # a weekend
        ("WEEKDAYS", (2026, 12, 4, 18, 0), (2026, 12, 7, 9, 1), True),
        ("NIGHTS", (2026, 12, 5, 5, 0), (2026, 12, 5, 8, 0), True),  # Friday night's tail
        ("NIGHTS", (2026, 12, 5, 6, 0), (2026, 12, 7, 22, 0), False),
    ],
)
def test_open_between_finds_any_open_moment_in_a_span(
    hours: str, start: tuple[int, ...], end: tuple[int, ...], expected: bool
) -> None:
    week = WEEKDAYS_SEOUL if hours == "WEEKDAYS" else NIGHTS_SEOUL
    assert week is not None
    assert open_between(week, at(SEOUL, *start), at(SEOUL, *end)) is expected
