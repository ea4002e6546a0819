"""Business hours: when an account's first-response (SLA) clock runs.

Stored on the account as {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4],
"start": "09:00", "end": "18:00"} (Monday is 0), or None: around the clock. Two keys
may close days the hours would open: "holidays", a country whose public holidays they
skip (the `holidays` package's), and "off", the team's own days off (ISO dates); set by
`/roost holidays`, kept when the hours change.
Hours whose end is before their start run past midnight and belong to the
day they open on. The clock counts real elapsed time inside the hours: an
hour skipped when clocks go forward is not counted, and one lived twice
when they go back counts twice. A time of day that does not exist on a
spring-forward day is read as Python reads it, shifted forward by the gap;
one that happens twice is the first of the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

from bot.i18n import N_, _, ngettext
from bot.slack.mrkdwn import escape

AROUND_THE_CLOCK = N_("around the clock")
"""What describe_hours shows for no business hours (translated); parse_hours reads the
English back as None."""

DAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
"""The days as hours_form writes them (parse_hours reads them); describe_hours says them
in the reader's language."""

MAX_TEXT = 200
"""Characters of business hours read; anything longer is not business hours."""

MAX_SCAN_DAYS = 3 * 366
"""Calendar days sla_due looks ahead for enough open time before giving up."""

_OFF = {"", "off", "none", "24/7", AROUND_THE_CLOCK}
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_KOREAN_NAMES = "월화수목금토일"
_GROUPS = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7), "평일": range(5)}
_DASHES = "-–~"
_FORM = re.compile(
    rf"(?P<days>.+?) (?P<start>\d{{1,2}}:\d{{2}}) ?[{_DASHES}] ?(?P<end>\d{{1,2}}:\d{{2}}) "
    r"(?P<tz>\S+)"
)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_RANGE = re.compile(rf"(.+?)[{_DASHES}](.+)")
_DAY = 24 * 60


CLOSING_KEYS = ("holidays", "off")
"""What closes days the hours would open; kept when the hours themselves change."""


@dataclass(frozen=True, slots=True)
class _Hours:
    zone: ZoneInfo
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 24:00; before `start`: the next day
    country: holidays.HolidayBase | None = None  # its public holidays are closed
    off: frozenset[date] = frozenset()  # the team's own days off

    def opens_on(self, day: date) -> bool:
        """Whether the hours open on `day`: a working day, not a holiday nor a day off."""
        if day.weekday() not in self.days or day in self.off:
            return False
        return self.country is None or day not in self.country

    def window(self, day: date) -> tuple[datetime, datetime]:
        """When the hours that open on `day` open and close, in UTC."""
        close_day = day if self.end > self.start else day + timedelta(days=1)
        return self._instant(day, self.start), self._instant(close_day, self.end)

    def _instant(self, day: date, minutes: int) -> datetime:
        day += timedelta(days=minutes // _DAY)  # 24:00 is the next day's 00:00
        hour, minute = divmod(minutes % _DAY, 60)
        local = datetime.combine(day, time(hour, minute), tzinfo=self.zone)
        return local.astimezone(UTC)


def parse_hours(text: str) -> dict[str, Any] | None:
    """Business hours as a person writes them, as stored; None for around the clock.

    Days are names (Mon, monday, 월) or groups (weekdays, daily), in lists
    and ranges (Mon-Fri, Fri-Sun, mon,tue,thu); hours are 24-hour times;
    the zone is an IANA name. ValueError says what was expected.
    """
    cleaned = " ".join(text.split())
    if cleaned.casefold() in _OFF:
        return None
    found = _FORM.fullmatch(cleaned) if len(cleaned) <= MAX_TEXT else None
    if found is None:
        raise ValueError(
            _(
                "Cannot read “{text}” as business hours. Write the days, the hours and a time "
                "zone, such as “Mon-Fri 09:00-18:00 Asia/Seoul” or “mon,tue,thu 8:30-17:00 "
                "Europe/Berlin”; “off” for around the clock."
            ).format(text=escape(cleaned[:60]))
        )
    start = _minutes(found["start"], allow_midnight_end=False)
    end = _minutes(found["end"], allow_midnight_end=True)
    if start == end:
        raise ValueError(
            _("The hours open and close at the same time; for around the clock, write “off”.")
        )
    return {
        "tz": _zone(found["tz"]).key,
        "days": _days(found["days"]),
        "start": _clock(start),
        "end": _clock(end),
    }


def describe_hours(hours: dict[str, Any] | None) -> str:
    """Business hours as a person reads them, in their language: "Mon-Fri 09:00-18:00
    Asia/Seoul" (in English, the form parse_hours reads back), "월-금 09:00-18:00 Asia/Seoul"."""
    if hours is None:
        return _(AROUND_THE_CLOCK)
    try:
        week = _read(hours)
    except ValueError:
        return _("around the clock (the stored business hours are unreadable)")
    days = _describe_days(week.days, [_(name) for name in DAY_NAMES])
    return f"{days} {_clock(week.start)}-{_clock(week.end)} {week.zone.key}"


def hours_form(hours: dict[str, Any] | None) -> str:
    """Business hours as typed into a form, which parse_hours reads back whatever the
    reader's language ("Mon-Fri 09:00-18:00 Asia/Seoul"); empty for around the clock."""
    if hours is None:
        return ""
    try:
        week = _read(hours)
    except ValueError:
        return describe_hours(hours)  # unreadable: saved as it is, it is refused, and says so
    days = _describe_days(week.days, list(DAY_NAMES))
    return f"{days} {_clock(week.start)}-{_clock(week.end)} {week.zone.key}"


def sla_due(start: datetime, minutes: int, hours: dict[str, Any] | None) -> datetime:
    """When a first response is due: `minutes` of business hours after `start`, in UTC.

    Without business hours the clock runs around the clock. A start outside
    the hours waits for them to open. ValueError for a naive start, negative
    minutes, unreadable hours, or a target that does not fit in
    MAX_SCAN_DAYS of them.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("The SLA start must be timezone-aware.")  # not spoken: a bug
    if minutes < 0:
        raise ValueError(f"An SLA target cannot be negative ({minutes} minutes).")  # not spoken
    start = start.astimezone(UTC)
    try:
        left = timedelta(minutes=minutes)
        if hours is None:
            return start + left
    except OverflowError:
        raise ValueError(
            _("An SLA target of {minutes} minutes is beyond the calendar.").format(minutes=minutes)
        ) from None
    week = _read(hours)
    counted_until = start
    # Hours opened yesterday may still run past midnight.
    day = start.astimezone(week.zone).date() - timedelta(days=1)
    for _scanned in range(MAX_SCAN_DAYS):
        if week.opens_on(day):
            opens, closes = week.window(day)
            # Never count a moment twice, should a clock change make windows overlap.
            opens = max(opens, counted_until)
            if closes > opens:
                if left <= closes - opens:
                    return opens + left
                left -= closes - opens
                counted_until = closes
        day += timedelta(days=1)
    raise ValueError(
        _(
            "An SLA target of {minutes} minutes does not fit in {days} days of these business "
            "hours."
        ).format(minutes=minutes, days=MAX_SCAN_DAYS)
    )


def business_clock(hours: dict[str, Any] | None) -> Callable[[datetime, datetime], timedelta]:
    """A function of (start, end): the time between them that falls inside the hours.

    The hours are read once, so a figure over many mentions pays for it once.
    Without business hours it is plain elapsed time. An end before the start
    counts as nothing. ValueError for unreadable hours.
    """
    if hours is None:
        return lambda start, end: max(end - start, timedelta(0))
    week = _read(hours)
    windows: dict[date, tuple[datetime, datetime] | None] = {}

    def window(day: date) -> tuple[datetime, datetime] | None:
        """The day's open window, worked out once per day however many mentions ask."""
        if day not in windows:
            windows[day] = week.window(day) if week.opens_on(day) else None
        return windows[day]

    def elapsed(start: datetime, end: datetime) -> timedelta:
        counted = timedelta(0)
        counted_until = start
        day = start.astimezone(week.zone).date() - timedelta(days=1)
        last = end.astimezone(week.zone).date()
        while day <= last:
            if (open_ := window(day)) is not None:
                # Never count a moment twice, should a clock change make windows overlap.
                opens = max(open_[0], counted_until)
                closes = min(open_[1], end)
                if closes > opens:
                    counted += closes - opens
                    counted_until = closes
            day += timedelta(days=1)
        return counted

    return elapsed


def _read(hours: dict[str, Any]) -> _Hours:
    """Stored business hours, checked: they may have been written by hand."""
    try:
        zone, days, start, end = hours["tz"], hours["days"], hours["start"], hours["end"]
    except (KeyError, TypeError):
        raise ValueError(
            _("Business hours need tz, days, start and end: {hours}").format(hours=repr(hours))
        ) from None
    if not isinstance(days, list) or not days:
        raise ValueError(_("Business hours need at least one day: {days}").format(days=repr(days)))
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days):
        raise ValueError(
            _("Business days are 0 (Monday) to 6 (Sunday): {days}").format(days=repr(days))
        )
    if not isinstance(zone, str) or not isinstance(start, str) or not isinstance(end, str):
        raise ValueError(_("Business hours are text: {hours}").format(hours=repr(hours)))
    opens = _minutes(start, allow_midnight_end=False)
    closes = _minutes(end, allow_midnight_end=True)
    if opens == closes:
        raise ValueError(_("Business hours open and close at the same time."))
    return _Hours(
        _zone(zone),
        frozenset(days),
        opens,
        closes,
        _country(hours.get("holidays")),
        _days_off(hours.get("off")),
    )


def _country(code: object) -> holidays.HolidayBase | None:
    if code is None:
        return None
    if not isinstance(code, str) or code.upper() not in holidays.list_supported_countries():
        raise ValueError(
            _("No public holidays are known for “{country}”.").format(country=f"{code!s:.20}")
        )
    return holidays.country_holidays(code.upper())


def _days_off(days: object) -> frozenset[date]:
    if days is None:
        return frozenset()
    try:
        return frozenset(date.fromisoformat(str(day)) for day in days)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(
            _("Days off are ISO dates (2026-12-31): {days}").format(days=f"{days!r:.60}")
        ) from None


def closing(hours: dict[str, Any] | None, *, country: str | None, off: list[str]) -> str:
    """How public holidays and days off close these hours, in a line."""
    if hours is None:
        return _(
            "Around the clock: holidays and days off close nothing until business hours are set."
        )
    dates = ", ".join(off[:5])
    if country and off:
        return ngettext(
            "Closed on {country}'s public holidays and {n} day off ({dates}).",
            "Closed on {country}'s public holidays and {n} days off ({dates}).",
            len(off),
        ).format(country=country, n=len(off), dates=dates)
    if country:
        return _("Closed on {country}'s public holidays.").format(country=country)
    if off:
        return ngettext(
            "Closed on {n} day off ({dates}).", "Closed on {n} days off ({dates}).", len(off)
        ).format(n=len(off), dates=dates)
    return _("No holidays or days off.")


def _minutes(text: str, *, allow_midnight_end: bool) -> int:
    found = _CLOCK.fullmatch(text)
    if found is not None:
        hour, minute = int(found[1]), int(found[2])
        if minute < 60 and (hour < 24 or (allow_midnight_end and (hour, minute) == (24, 0))):
            return hour * 60 + minute
    raise ValueError(
        _("“{text}” is not a time of day: use 24-hour times such as 09:00 or 17:30.").format(
            text=text
        )
    )


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # or a folder, such as "Asia"
        pass
    # Zone names are case-sensitive on disk, but nobody means "asia/seoul" as another zone.
    for key in available_timezones():
        if key.casefold() == name.casefold():
            return ZoneInfo(key)
    raise ValueError(
        _(
            "Unknown time zone “{zone}”: use an IANA name such as Asia/Seoul or Europe/Berlin."
        ).format(zone=name[:60])
    )


def _days(text: str) -> list[int]:
    days: set[int] = set()
    joined = re.sub(rf" ?([{_DASHES}]) ?", r"\1", text)  # "Mon - Fri" is "Mon-Fri"
    for part in re.split(r"[,\s]+", joined.strip(", ")):
        ends = _RANGE.fullmatch(part)
        if ends is not None:
            begin, finish = _day(ends[1]), _day(ends[2])
            # A range may wrap past Sunday: Fri-Mon is Friday to Monday.
            days.update((begin + n) % 7 for n in range((finish - begin) % 7 + 1))
        else:
            days.update(_day_or_group(part))
    return sorted(days)


def _day_or_group(word: str) -> range | tuple[int]:
    group = _GROUPS.get(word.casefold())
    return group if group is not None else (_day(word),)


def _day(word: str) -> int:
    folded = word.casefold()
    if len(folded) >= 3:
        for number, name in enumerate(_FULL_NAMES):
            if name.startswith(folded):
                return number
    korean = folded.removesuffix("요일")
    if len(korean) == 1 and korean in _KOREAN_NAMES:
        return _KOREAN_NAMES.index(korean)
    raise ValueError(
        _(
            "“{word}” is not a day: use Mon, Tue, Wed, Thu, Fri, Sat and Sun, "
            "in lists (mon,tue,thu) and ranges (Mon-Fri)."
        ).format(word=word[:30])
    )


def _describe_days(days: frozenset[int], names: list[str]) -> str:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        f"{names[run[0]]}-{names[run[-1]]}" if len(run) >= 3 else ", ".join(names[d] for d in run)
        for run in runs
    )


def within(hours: dict[str, Any], moment: datetime) -> bool:
    """Whether `moment` falls inside the hours (their windows of the day before and the
    day itself: hours past midnight belong to the day they open on)."""
    week = _read(hours)
    day = moment.astimezone(week.zone).date()
    for opening in (day - timedelta(days=1), day):
        if week.opens_on(opening):
            opens, closes = week.window(opening)
            if opens <= moment < closes:
                return True
    return False


def open_between(hours: dict[str, Any], start: datetime, end: datetime) -> bool:
    """Whether the hours are open at some moment from `start` to `end`."""
    week = _read(hours)
    day = start.astimezone(week.zone).date() - timedelta(days=1)
    while day <= end.astimezone(week.zone).date():
        if week.opens_on(day):
            opens, closes = week.window(day)
            if opens < end and start < closes:
                return True
        day += timedelta(days=1)
    return False


def overlap(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two weekly hours share a moment, tried over a whole week of each's windows."""
    one, other = _read(first), _read(second)
    start = date(2026, 1, 5)  # a Monday; a week of windows shows any overlap
    windows = [one.window(start + timedelta(days=n)) for n in range(7) if n in one.days]
    theirs = [other.window(start + timedelta(days=n)) for n in range(-1, 8) if n % 7 in other.days]
    return any(a < d and c < b for a, b in windows for c, d in theirs)
