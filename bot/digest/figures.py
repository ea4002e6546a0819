"""The team's figures over a period, against the period before: pure functions over rows.

First response is the time from a mention's posting to the first reply or DM
the team sent for it; resolution, to when it was resolved. Both count only
business hours where the account sets them. Medians are over the mentions
posted in the period that were answered (resolved); those still waiting are
counted apart, not as zero or as infinity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from bot.i18n import N_, _
from storage.digests import ResponseRow

Clock = Callable[[datetime, datetime], timedelta]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measure: how many, and the median now and in the period before."""

    count: int
    median: timedelta | None
    before: timedelta | None


@dataclass(frozen=True, slots=True)
class Line:
    """An account or a person: first responses they sent (or got), and resolutions."""

    key: str  # an account's @handle, or a person's Slack user id
    first_response: Figure
    resolution: Figure
    received: int = 0  # an account's mentions in the period


@dataclass(frozen=True, slots=True)
class Period:
    days: int
    until: datetime
    received: int
    received_before: int
    first_response: Figure
    resolution: Figure
    accounts: list[Line]  # every account, by handle
    people: list[Line]  # who answered first or resolved, busiest first
    hours: list[int]  # mentions per local hour of day
    response_by_hour: list[float | None]  # median first response in minutes, by that hour
    zone: str

    @property
    def answered(self) -> int:
        return self.first_response.count

    @property
    def resolved(self) -> int:
        return self.resolution.count


_ALL = "*"


def period_figures(
    rows: Iterable[ResponseRow],
    *,
    until: datetime,
    days: int,
    zone: str,
    handles: Mapping[int, str],
    clocks: Mapping[int, Clock],
) -> Period:
    """The figures for the `days` before `until`, against the `days` before those.

    `rows` are the mentions posted in both periods; `clocks` count elapsed
    business time per account (bot.team.business_hours.business_clock). A mention
    counts for its account, for the person who answered it first, and for the
    person who resolved it.
    """
    since = until - timedelta(days=days)
    before_since = since - timedelta(days=days)
    local = ZoneInfo(zone)
    hour_of: dict[int, int] = {}  # UTC quarter hour since the epoch -> the local hour of day
    # (measure, period, key) -> durations; period 0 is now, 1 the one before.
    waits: dict[tuple[str, int, str], list[timedelta]] = defaultdict(list)
    received = [0, 0]
    hours = [0] * 24
    by_hour: list[list[float]] = [[] for _ in range(24)]
    people: set[str] = set()  # who answered or resolved something in the period
    received_by: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.created_at >= until or row.created_at < before_since:
            continue
        period = 0 if row.created_at >= since else 1
        received[period] += 1
        clock = clocks[row.account_id]
        account = handles[row.account_id]
        hour = 0
        if period == 0:
            # Zones are whole quarter hours off UTC (India's :30, Nepal's :45), so the
            # local hour of day holds for a whole UTC quarter hour: worked out once each.
            quarter = int(row.created_at.timestamp()) // 900
            known = hour_of.get(quarter)
            if known is None:
                known = hour_of[quarter] = row.created_at.astimezone(local).hour
            hour = known
            hours[hour] += 1
            received_by[account] += 1
        if row.first_response_at is not None:
            waited = clock(row.created_at, row.first_response_at)
            for key in (_ALL, account, row.responder):
                if key is not None:
                    waits["first", period, key].append(waited)
            if period == 0:
                by_hour[hour].append(waited.total_seconds() / 60)
                if row.responder is not None:
                    people.add(row.responder)
        if row.resolved_at is not None:
            took = clock(row.created_at, row.resolved_at)
            for key in (_ALL, account, row.resolver):
                if key is not None:
                    waits["resolve", period, key].append(took)
            if row.resolver is not None and period == 0:
                people.add(row.resolver)

    def figure(measure: str, key: str) -> Figure:
        now = waits.get((measure, 0, key), [])
        return Figure(len(now), _median(now), _median(waits.get((measure, 1, key), [])))

    def line(key: str) -> Line:
        return Line(key, figure("first", key), figure("resolve", key), received_by.get(key, 0))

    by_person = [line(person) for person in people]
    by_person.sort(key=lambda p: (-p.first_response.count - p.resolution.count, p.key))
    return Period(
        days=days,
        until=until,
        received=received[0],
        received_before=received[1],
        first_response=figure("first", _ALL),
        resolution=figure("resolve", _ALL),
        accounts=[line(handle) for handle in sorted(handles.values(), key=str.casefold)],
        people=by_person,
        hours=hours,
        response_by_hour=[median(v) if v else None for v in by_hour],
        zone=zone,
    )


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def duration(value: timedelta | None) -> str:
    """A median as people say it: "42 s", "14 min", "3 h 05 min", "2 d 4 h"; "–" for none
    (in Korean "42초", "14분", "3시간 5분", "2일 4시간")."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return _("{seconds} s").format(seconds=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        # Whole messages for the English zero padding, so Korean says "3시간 5분", "1시간".
        if minutes == 0:
            return _("{hours} h 00 min").format(hours=hours)
        if minutes < 10:
            return _("{hours} h 0{minutes} min").format(hours=hours, minutes=minutes)
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    if hours == 0:
        return _("{days} d 0 h").format(days=days)
    return _("{days} d {hours} h").format(days=days, hours=hours)


def trend(now: timedelta | None, before: timedelta | None, none: str = N_("none answered")) -> str:
    """How a median moved: faster is better, so it says so. `none` says there was none now
    (a constant marked with N_, said here in the context's language)."""
    if now is None or before is None:
        if before is None:
            return _("no figure to compare")
        return _("{none}; {duration} before").format(none=_(none), duration=duration(before))
    if before.total_seconds() == 0:
        return _("same as before") if now.total_seconds() == 0 else _("slower")
    change = (now - before) / before
    if abs(change) < 0.05:
        return _("about the same as {duration}").format(duration=duration(before))
    percent = f"{abs(change):.0%}"
    if change < 0:
        return _("{percent} faster than {duration}").format(
            percent=percent, duration=duration(before)
        )
    return _("{percent} slower than {duration}").format(percent=percent, duration=duration(before))
