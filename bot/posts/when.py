"""When a scheduled post goes out: a date and time in the person's zone, made UTC.

Pure. Slack's date and time pickers give a local date and a local time; the
person's zone comes from their Slack profile. Daylight-saving changes make
some local times not exist (clocks jump forward) and others happen twice
(clocks go back): the first is refused, the second taken at its first
occurrence and said so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import _, clock


class WhenError(ValueError):
    """The time cannot be used; the message says why, for the person."""


def local_to_utc(day: str, at: str, zone: str) -> tuple[datetime, str | None]:
    """("2026-03-29", "02:30", "Europe/Berlin") → the UTC moment, and a note if it was
    ambiguous. WhenError for a malformed or non-existent time."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise WhenError(
            _("Your Slack time zone {zone!r} is unknown to Roost.").format(zone=zone)
        ) from None
    try:
        local = datetime.combine(date.fromisoformat(day), time.fromisoformat(at))
    except ValueError:
        raise WhenError(_("Pick a date and a time.")) from None
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either the clocks jumped over this time or went back through it.
        round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if round_trip != local:
            raise WhenError(
                _(
                    "{at} does not exist on {day} in {zone}: the clocks jump forward then. Pick "
                    "another time."
                ).format(at=at, day=day, zone=zone)
            )
        note = _(
            "{at} happens twice on {day} in {zone} (the clocks go back): the post goes out the "
            "first time, {time}."
        ).format(at=at, day=day, zone=zone, time=f"{clock(first)} {first:%Z}")
        return first.astimezone(UTC), note
    return first.astimezone(UTC), None


def check_run_at(run_at: datetime, now: datetime, max_days: int) -> None:
    """WhenError if the moment is past, or further ahead than Roost schedules."""
    if run_at <= now:
        raise WhenError(_("That time has passed: pick a time from now on, or post now."))
    if run_at - now > timedelta(days=max_days):
        raise WhenError(_("Roost schedules at most {days} days ahead.").format(days=max_days))
