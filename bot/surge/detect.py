"""When an account is in a surge: its mention rate against its usual one for that hour of
the day, from the mentions stored over the last HISTORY_DAYS, with a floor, so a quiet
account's handful is not a surge. Or a team says so (`/roost surge on|off @account`).

The worker's sweep looks every period (check_surges): a surge starts at
ROOST_SURGE_FACTOR times the usual rate and at least ROOST_SURGE_FLOOR mentions in
ROOST_SURGE_WINDOW_SECONDS, and one Roost started ends once the rate is below half of
that; one a person started ends when a person ends it. The channel is told of each start
and end once, with the rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import N_, _, ngettext
from bot.runtime import Runtime
from bot.slack.blocks import context, section
from bot.slack.mrkdwn import escape
from bot.slack.notices import try_notice
from bot.surge.groups import first_update, group_surge, lasting, summaries, summary_lines
from bot.team.admin import require_manager_of
from bot.team.language import in_channel
from bot.team.people import Who, visible_accounts
from storage.accounts import account_by_handle, active_accounts
from storage.models import Account, Notice, Surge
from storage.surges import (
    end_surge,
    note_peak,
    open_surge,
    posted_between,
    posted_in,
    start_surge,
)

logger = logging.getLogger(__name__)

HISTORY_DAYS = 14
"""How many earlier days the usual rate for an hour is taken from."""

USAGE = N_("Use `/roost surge`, `/roost surge on @brand` or `/roost surge off @brand`.")


@dataclass(frozen=True)
class Pace:
    """An account's mentions in the last window against its usual, and the rate a surge
    starts at."""

    rate: int
    usual: float  # mentions a window, usually, at this hour of the day
    starts_at: float
    window: timedelta

    @property
    def surging(self) -> bool:
        return self.rate >= self.starts_at

    @property
    def calm(self) -> bool:
        """Below half the rate a surge starts at: one Roost started is over."""
        return self.rate < self.starts_at / 2

    def says(self) -> str:
        """ "240 mentions in the last 10 min, 12× the usual for this hour (about 20)"."""
        minutes = self.window.total_seconds() / 60
        span = (
            _("{minutes} min").format(minutes=f"{minutes:.0f}")
            if minutes >= 1
            else _("{seconds} s").format(seconds=f"{self.window.total_seconds():.0f}")
        )
        said = ngettext(
            "{n:,} mention in the last {span}", "{n:,} mentions in the last {span}", self.rate
        ).format(n=self.rate, span=span)
        if self.usual >= 0.5:
            said += ", " + _("{times}× the usual for this hour (about {usual})").format(
                times=f"{self.rate / self.usual:.0f}", usual=f"{self.usual:.0f}"
            )
        else:
            said += " " + _("(it usually has next to none at this hour)")
        return said


def pace_of(rt: Runtime, session: Session, account: Account, now: datetime) -> Pace:
    """The account's pace now: the last window's mentions, and the same hour's usual over
    the days it has had in Roost, up to HISTORY_DAYS."""
    settings = rt.settings
    window = timedelta(seconds=settings.roost_surge_window_seconds)
    rate = posted_between(session, account.id, now - window, now)
    days = max(0, min(HISTORY_DAYS, (now - account.created_at).days))
    hour = now.replace(minute=0, second=0, microsecond=0)
    spans = [
        (hour - timedelta(days=d), hour - timedelta(days=d, hours=-1)) for d in range(1, days + 1)
    ]
    before = posted_in(session, account.id, spans)
    usual = before / (days * 3600 / window.total_seconds()) if days else 0.0
    starts_at = max(float(settings.roost_surge_floor), settings.roost_surge_factor * usual)
    return Pace(rate, usual, starts_at, window)


def check_surges(rt: Runtime) -> int:
    """Start and end surges as each active account's pace says; tell their channels.
    How many notices went out. Run by the worker's sweep."""
    now = rt.clock()
    told = 0
    with rt.sessions() as session:
        accounts = active_accounts(session)
    for account in accounts:
        with rt.sessions.begin() as session:
            pace = pace_of(rt, session, account, now)
            surge = open_surge(session, account.id)
            if surge is not None:
                note_peak(session, surge.id, pace.rate)
        if surge is None and pace.surging:
            with rt.sessions.begin() as session:
                surge = start_surge(session, account.id, now, rate=pace.rate, usual=pace.usual)
            if surge is None:
                continue  # another sweep started it, and tells of it
            with in_channel(rt, account.channel_id):
                told += try_notice(
                    rt,
                    f"surge:{surge.id}:start",
                    account.channel_id,
                    started_text(account, surge, pace),
                )
        elif surge is not None and surge.started_by is None and pace.calm:
            # A person's surge ends when a person ends it; Roost's, a window after it began.
            if now - surge.started_at >= pace.window:
                told += _end(rt, account, surge, pace, by=None)  # told once, by its key
    window = timedelta(seconds=rt.settings.roost_surge_window_seconds)
    return told + tell_again(rt, window)


def _end(rt: Runtime, account: Account, surge: Surge, pace: Pace, by: str | None) -> bool:
    """End the surge, its last arrivals grouped first, and tell the channel once; False
    if another sweep or a person ended it already."""
    group_surge(rt, surge)
    with in_channel(rt, account.channel_id):
        with rt.sessions.begin() as session:
            if not end_surge(session, surge.id, rt.clock(), by=by):
                return False
            ended = session.get_one(Surge, surge.id, populate_existing=True)
            text = _over(session, account, ended, pace.window)
        try_notice(rt, f"surge:{surge.id}:end", account.channel_id, text)
    return True


def tell_again(rt: Runtime, window: timedelta) -> int:
    """Post the start and end notices Slack would not take when they were due (a 429 in
    a flood, an outage): each sweep tries those of the surges open or ended in the last
    day whose notice is not in the channel yet. How many went out now."""
    now = rt.clock()
    with rt.sessions() as session:
        surges = list(
            session.scalars(
                select(Surge).where(
                    (Surge.ended_at.is_(None)) | (Surge.ended_at >= now - timedelta(days=1))
                )
            )
        )
        # An open surge's start; an ended one's end (its start, told late, would mislead).
        wanted = {f"surge:{s.id}:{'end' if s.ended_at else 'start'}": s for s in surges}
        posted = set(
            session.scalars(
                select(Notice.key).where(Notice.key.in_(wanted), Notice.slack_ts.is_not(None))
            )
        )
        due = [
            (key, surge, session.get_one(Account, surge.account_id))
            for key, surge in wanted.items()
            if key not in posted
        ]
    told = 0
    for key, surge, account in due:
        # Each notice in its channel's language.
        with in_channel(rt, account.channel_id):
            with rt.sessions() as session:
                text = (
                    _over(session, account, surge, window)
                    if key.endswith(":end")
                    else started_text(account, surge, Pace(surge.rate, surge.usual, 0.0, window))
                )
            told += try_notice(rt, key, account.channel_id, text)
    return told


def started_text(account: Account, surge: Surge, pace: Pace) -> str:
    if surge.started_by is None:
        opening = _(":rotating_light: A surge on *@{handle}*: {pace}.").format(
            handle=account.handle, pace=pace.says()
        )
    else:
        opening = _(
            ":rotating_light: <@{user}> switched surge mode on for *@{handle}*: {pace}."
        ).format(user=surge.started_by, handle=account.handle, pace=pace.says())
    return opening + " " + _meanwhile(account.handle)


def _meanwhile(handle: str) -> str:
    return _(
        "While it lasts Roost groups its mentions by what they are about. "
        "`/roost surge off @{handle}` ends it; `/roost surge` shows every account's pace."
    ).format(handle=handle)


def surge_command(rt: Runtime, who: Who, text: str) -> tuple[str, list[dict[str, Any]] | None]:
    """`/roost surge [on|off @account]`: the pace of each account the person may see, or a
    surge switched on or off by one of the account's owners or an admin."""
    words = text.split()
    if not words:
        return _status(rt, who)
    if len(words) != 2 or words[0].lower() not in ("on", "off"):
        raise ValueError(_(USAGE))
    switch, handle = words[0].lower(), words[1]
    now = rt.clock()
    with rt.sessions() as session:
        account = account_by_handle(session, handle)
    if account is None:
        shown = escape(handle[:40])
        raise Refused(
            _("There is no account {handle} in Roost: `/roost accounts` lists them.").format(
                handle=shown
            )
        )
    require_manager_of(rt, who, account.id)
    with rt.sessions.begin() as session:
        pace = pace_of(rt, session, account, now)
        surge = open_surge(session, account.id)
        if switch == "on" and surge is not None:
            if surge.started_by is None:  # Roost's: now the person's, to end by hand
                surge.started_by = who.user_id
            return _("A surge on *@{handle}* is already on: {pace}.").format(
                handle=account.handle, pace=pace.says()
            ), None
        if switch == "on":
            surge = start_surge(
                session, account.id, now, rate=pace.rate, usual=pace.usual, by=who.user_id
            )
    if switch == "off":
        if surge is None or not _end(rt, account, surge, pace, by=who.user_id):
            return _("There is no surge on *@{handle}* to end.").format(handle=account.handle), None
        return _("The surge on *@{handle}* is over; its channel is told.").format(
            handle=account.handle
        ), None
    if surge is None:
        return _("A surge on *@{handle}* is already on.").format(handle=account.handle), None
    with in_channel(rt, account.channel_id):
        try_notice(
            rt, f"surge:{surge.id}:start", account.channel_id, started_text(account, surge, pace)
        )
    return _("Surge mode is on for *@{handle}*; its channel is told.").format(
        handle=account.handle
    ), None


def _status(rt: Runtime, who: Who) -> tuple[str, list[dict[str, Any]]]:
    now = rt.clock()
    lines = []
    with rt.sessions() as session:
        for account in visible_accounts(rt, session, who, None):
            pace = pace_of(rt, session, account, now)
            surge = open_surge(session, account.id)
            state = (
                _("a surge since {time}").format(
                    time=f"<!date^{int(surge.started_at.timestamp())}^{{time}}|"
                    f"{surge.started_at:%H:%M} UTC>"
                )
                if surge is not None
                else _("no surge (one starts at {rate})").format(rate=f"{pace.starts_at:,.0f}")
            )
            lines.append(f"*@{account.handle}*: {state}; {pace.says()}.")
            if surge is not None and (groups := summaries(session, surge.id)):
                lines.append(summary_lines(groups))
    blocks = [section("\n".join(lines)), context(_(USAGE))]
    return "\n".join(lines), blocks


def _over(session: Session, account: Account, surge: Surge, window: timedelta) -> str:
    """The end of a surge told: how long, how many (from the window that showed it), the
    peak."""
    assert surge.ended_at is not None
    took = lasting(surge.ended_at - surge.started_at)
    since = surge.started_at - window if surge.started_by is None else surge.started_at
    mentions = posted_between(session, account.id, since, surge.ended_at)
    by = " " + _("<@{user}> ended it.").format(user=surge.ended_by) if surge.ended_by else ""
    groups = summaries(session, surge.id)
    about = "\n" + _("What they were about:") + "\n" + summary_lines(groups) if groups else ""
    over = _(
        ":white_check_mark: The surge on *@{handle}* is over after {took}: {mentions:,} "
        "mentions, at most {peak:,} in one window, {first_update}."
    ).format(
        handle=account.handle,
        took=took,
        mentions=mentions,
        peak=surge.peak,
        first_update=first_update(session, surge),
    )
    return over + by + about
