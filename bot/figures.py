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

from storage.digests import ResponseRow

Clock = Callable[[datetime, datetime], timedelta]


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of a table: how many, and the median now and in the period before."""

    label: str
    count: int
    median: timedelta | None
    before: timedelta | None


@dataclass(frozen=True, slots=True)
class Period:
    days: int
    until: datetime
    received: int
    received_before: int
    answered: int
    resolved: int
    first_response: Figure
    resolution: Figure
    accounts: list[Figure]  # first response per account
    people: list[Figure]  # first response per person who answered first
    hours: list[int]  # mentions per local hour of day
    response_by_hour: list[float | None]  # median first response in minutes, by that hour
    zone: str


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
    business time per account (bot.business_hours.business_clock).
    """
    since = until - timedelta(days=days)
    before_since = since - timedelta(days=days)
    local = ZoneInfo(zone)
    hour_of: dict[int, int] = {}  # UTC quarter hour since the epoch -> the local hour of day
    now_first: dict[str, list[timedelta]] = defaultdict(list)
    then_first: dict[str, list[timedelta]] = defaultdict(list)
    now_resolve: list[timedelta] = []
    then_resolve: list[timedelta] = []
    received = received_before = 0
    hours = [0] * 24
    by_hour: list[list[float]] = [[] for _ in range(24)]
    for row in rows:
        if row.created_at >= until or row.created_at < before_since:
            continue
        current = row.created_at >= since
        clock = clocks[row.account_id]
        hour = 0
        if current:
            received += 1
            # Zones are whole quarter hours off UTC (India's :30, Nepal's :45), so the
            # local hour of day holds for a whole UTC quarter hour: worked out once each.
            quarter = int(row.created_at.timestamp()) // 900
            known = hour_of.get(quarter)
            if known is None:
                known = hour_of[quarter] = row.created_at.astimezone(local).hour
            hour = known
            hours[hour] += 1
        else:
            received_before += 1
        firsts = now_first if current else then_first
        if row.first_response_at is not None:
            waited = clock(row.created_at, row.first_response_at)
            firsts[f"a{row.account_id}"].append(waited)
            if row.responder is not None:
                firsts[f"p{row.responder}"].append(waited)
            if current:
                by_hour[hour].append(waited.total_seconds() / 60)
        if row.resolved_at is not None:
            (now_resolve if current else then_resolve).append(
                clock(row.created_at, row.resolved_at)
            )

    def figure(label: str, key: str | None) -> Figure:
        if key is None:
            now = [w for k, ws in now_first.items() if k[0] == "a" for w in ws]
            then = [w for k, ws in then_first.items() if k[0] == "a" for w in ws]
        else:
            now, then = now_first.get(key, []), then_first.get(key, [])
        return Figure(label, len(now), _median(now), _median(then))

    accounts = [
        figure(f"@{handles[account_id]}", f"a{account_id}")
        for account_id in sorted(handles, key=lambda a: handles[a].casefold())
    ]
    people_keys = {k for k in (*now_first, *then_first) if k[0] == "p"}
    people = sorted(
        (figure(f"<@{key[1:]}>", key) for key in people_keys),
        key=lambda f: (-f.count, f.label),
    )
    first_response = figure("All accounts", None)
    return Period(
        days=days,
        until=until,
        received=received,
        received_before=received_before,
        answered=first_response.count,
        resolved=len(now_resolve),
        first_response=first_response,
        resolution=Figure(
            "Resolution", len(now_resolve), _median(now_resolve), _median(then_resolve)
        ),
        accounts=accounts,
        people=people,
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
    """A median as people say it: "42 s", "14 min", "3 h 05 min", "2 d 4 h"; "–" for none."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def trend(now: timedelta | None, before: timedelta | None) -> str:
    """How a median moved: faster is better, so it says so."""
    if now is None or before is None:
        return "no figure to compare" if before is None else "none answered"
    if before.total_seconds() == 0:
        return "same as before" if now.total_seconds() == 0 else "slower"
    change = (now - before) / before
    if abs(change) < 0.05:
        return f"about the same as {duration(before)}"
    word = "faster" if change < 0 else "slower"
    return f"{abs(change):.0%} {word} than {duration(before)}"
