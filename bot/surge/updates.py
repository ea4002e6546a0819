"""Status updates in a surge, as the group cards and the answers to many read them: the
latest one X has, its link, the timeline in each group's thread, and how soon the first
came. They are composed and posted as the account's posts by bot.posts.status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import N_, _
from bot.networks import links
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape_within
from bot.slack.notices import post_notice
from bot.slack.pace import FOR_THE_TEAM, Pace, prepaid
from bot.team.language import in_channel
from storage.models import Account, Outbound, StatusUpdate, SurgeGroup
from storage.notices import posted

STATUSES = {
    "pending": N_("pending"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "unknown": N_("unknown"),
    "cancelled": N_("cancelled"),
}
"""A status update's post's status, as a card says it."""


@dataclass(frozen=True, slots=True)
class Update:
    """A status update as a card shows it."""

    id: int
    text: str
    by: str
    at: datetime
    status: str  # its post's: pending, sending, sent, failed, unknown
    url: str | None  # once its network has it


def updates_of(session: Session, group: SurgeGroup, handle: str) -> list[Update]:
    """The status updates about the group or its whole surge, oldest first."""
    return [
        Update(
            update.id,
            update.text,
            update.created_by,
            update.created_at,
            status,
            (
                links.post_url(network, handle, x_id, stored=url)
                if x_id and status == "sent"
                else None
            ),
        )
        for update, status, x_id, url, network in session.execute(
            select(StatusUpdate, Outbound.status, Outbound.x_id, Outbound.url, Account.network)
            .join(Outbound, (Outbound.post_id == StatusUpdate.post_id) & (Outbound.part == 0))
            .join(Account, Account.id == Outbound.account_id)
            .where(
                StatusUpdate.surge_id == group.surge_id,
                (StatusUpdate.group_id == group.id) | StatusUpdate.group_id.is_(None),
            )
            .order_by(StatusUpdate.created_at, StatusUpdate.id)
        )
    ]


def latest_update(session: Session, group: SurgeGroup, handle: str) -> Update | None:
    """The group's latest status update that is not a failed post."""
    live = [u for u in updates_of(session, group, handle) if u.status != "failed"]
    return live[-1] if live else None


def latest_link(session: Session, group: SurgeGroup, handle: str) -> str | None:
    """The link to the group's latest status update that X has, if one is up."""
    up = [u.url for u in updates_of(session, group, handle) if u.url]
    return up[-1] if up else None


def update_line(update: Update) -> str:
    """ "14:30 · <@ana>: “As of 14:30 KST, ...” (on X)"; mrkdwn, the text escaped."""
    quoted, cut = escape_within(update.text, 300)
    if update.url:
        where = " " + _("<{url}|on X>").format(url=update.url)
    else:
        status = STATUSES.get(update.status)
        where = f" ({_(status) if status else update.status})"
    return (
        f":mega: <!date^{int(update.at.timestamp())}^{{time}}|{update.at:%H:%M} UTC> · "
        f"<@{update.by}>: “{quoted}{'…' if cut else ''}”{where}"
    )


def post_timeline(rt: Runtime, session: Session, group: SurgeGroup, handle: str, pace: Pace) -> int:
    """Each status update X has, posted once in the group's thread: the group's timeline.
    Slack calls made."""
    if group.slack_channel is None or group.slack_ts is None:
        return 0
    calls = 0
    for update in updates_of(session, group, handle):
        if update.url is None:
            continue
        key = f"status-update:{update.id}:{group.id}"
        if posted(session, key):
            continue
        if not pace.may("chat.postMessage", group.slack_channel, keep=FOR_THE_TEAM):
            break
        with in_channel(rt, group.slack_channel), prepaid():
            post_notice(rt, key, group.slack_channel, update_line(update), thread_ts=group.slack_ts)
        calls += 1
    return calls


def first_update_at(session: Session, surge_id: int) -> datetime | None:
    """When the surge's first status update was written, if one was."""
    return session.scalar(
        select(StatusUpdate.created_at)
        .where(StatusUpdate.surge_id == surge_id)
        .order_by(StatusUpdate.created_at)
        .limit(1)
    )
