"""`/roost stats [7d|30d] [@account]`: the team's figures for a period, and its chart."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackClientError
from sqlalchemy import func, select

from bot.digest.charts import activity_chart, busiest_hours
from bot.digest.daily import clocks, own_words
from bot.digest.figures import period_figures
from bot.digest.topics import recurring_terms
from bot.digest.views import TERM_TEXTS, StatsFacts, stats_blocks
from bot.i18n import N_, _, speaking
from bot.runtime import Runtime
from bot.slack.blocks import context
from bot.slack.client import dm_channel
from bot.slack.mrkdwn import escape
from bot.team.language import as_person
from bot.team.people import Who, time_zone, visible_accounts
from storage.digests import response_rows, texts_between
from storage.models import Account, Outbound, SavedReply

logger = logging.getLogger(__name__)

PERIODS = (7, 30)
USAGE = N_("Write `/roost stats`, `/roost stats 30d` or `/roost stats 7d @account`.")
_DAYS = re.compile(r"(\d+)\s*d(?:ays?)?")


def parse_stats_args(text: str) -> tuple[int, str | None]:
    """(days, @handle or None) from `30d @brand`; ValueError names what is wrong."""
    days, handle = 7, None
    for word in text.split():
        lowered = word.lower()
        if (found := _DAYS.fullmatch(lowered)) or lowered.isdigit():
            days = int(found.group(1) if found else lowered)
            if days not in PERIODS:
                raise ValueError(
                    _("Stats cover 7 or 30 days, not {days}. {usage}").format(
                        days=days, usage=_(USAGE)
                    )
                )
        elif word.startswith("@") and len(word) > 1 and handle is None:
            handle = word[1:]
        else:
            raise ValueError(
                _("I could not read `{word}`. {usage}").format(word=escape(word), usage=_(USAGE))
            )
    return days, handle


def stats(rt: Runtime, who: Who, text: str) -> tuple[str, list[dict[str, Any]]]:
    """The figures for the person's accounts (or the one named), the chart to their DM."""
    days, handle = parse_stats_args(text)
    with rt.sessions() as session:
        accounts = visible_accounts(rt, session, who, handle)
    zone = time_zone(rt, who.user_id) or rt.settings.roost_time_zone
    facts = gather_stats(rt, accounts, days, zone)
    answer, blocks = stats_blocks(facts)
    saved = saved_replies_used(rt, who, accounts, days)
    if saved:
        blocks.append(context(saved))
    if facts.period.received:
        blocks.append(context(_send_chart(rt, who, facts)))
    return answer, blocks


def saved_replies_used(rt: Runtime, who: Who, accounts: list[Account], days: int) -> str | None:
    """ "Saved replies used: Delivery delays 41×, ..." over the period, the most used
    first; None if none was."""
    since = rt.clock() - timedelta(days=days)
    uses = func.count(Outbound.id)
    with rt.sessions() as session:
        found = session.execute(
            select(SavedReply.name, uses)
            .join(Outbound, Outbound.saved_reply_id == SavedReply.id)
            .where(
                SavedReply.team_id == who.team_id,
                Outbound.account_id.in_([a.id for a in accounts]),
                Outbound.created_at >= since,
            )
            .group_by(SavedReply.id, SavedReply.name)
            .order_by(uses.desc(), SavedReply.name)
            .limit(5)
        ).all()
    if not found:
        return None
    return _("Saved replies used: {replies}").format(
        replies=", ".join(f"{escape(name)} {n:,}×" for name, n in found)
    )


def gather_stats(rt: Runtime, accounts: list[Account], days: int, zone: str) -> StatsFacts:
    """The figures for these accounts over the `days` before now, against the days before."""
    now = rt.clock()
    ids = [account.id for account in accounts]
    with rt.sessions() as session:
        rows = response_rows(session, ids, now - timedelta(days=2 * days), now)
        texts = texts_between(session, ids, now - timedelta(days=days), now, TERM_TEXTS)
    period = period_figures(
        rows,
        until=now,
        days=days,
        zone=zone,
        handles={account.id: account.handle for account in accounts},
        clocks=clocks(accounts),
    )
    return StatsFacts(
        handles=[account.handle for account in accounts],
        period=period,
        busiest=busiest_hours(period.hours),
        terms=recurring_terms(texts, exclude=own_words(accounts)),
        terms_read=len(texts),
    )


def _send_chart(rt: Runtime, who: Who, facts: StatsFacts) -> str:
    """The period's chart to the person's DM, in their language; what to tell them about it."""
    period = facts.period
    whose = ", ".join(f"@{handle}" for handle in facts.handles)
    try:
        with speaking(as_person(rt, who.user_id)):
            png = activity_chart(
                period.hours,
                period.response_by_hour,
                title=_(
                    "Mentions and first response by hour, last {days} days · {accounts}"
                ).format(days=period.days, accounts=whose),
                zone=period.zone,
            )
            channel = dm_channel(rt.slack, who.user_id)
            rt.slack.files_upload_v2(
                channel=channel,
                content=png,
                filename=f"roost-stats-{period.days}d.png",
                title=_("Busiest hours, last {days} days").format(days=period.days),
                initial_comment=_(
                    "Mentions per hour and the median first response for {accounts}."
                ).format(accounts=whose),
            )
    except (SlackClientError, OSError) as exc:
        logger.warning("stats chart for %s not sent: %s", who.user_id, exc)
        return _(
            "The chart could not be sent to your DM ({error}); the figures above stand."
        ).format(error=exc)
    return _("The chart is in your DM with Roost.")
