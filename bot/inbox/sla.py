"""First-response targets: one reminder in the card's thread when a mention waits too long.

A card's target is set when it is posted (the account's SLA minutes after
the mention); an RQ job is scheduled for that moment (bot.inbox.delivery). When it
runs, the database decides: a reminder is claimed once, and only for a
mention still open and unanswered. A reply, a DM or a resolve cancels the
job; the listener's sweep sends reminders whose job was lost, late but once.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot import runtime
from bot.errors import SlackError
from bot.i18n import _
from bot.inbox.delivery import card_thread, refresh_card, reminder_job_id
from bot.runtime import Runtime
from bot.slack.notices import post_notice
from bot.team.language import in_channel
from storage.assignments import claim_reminder, release_reminder, reminders_due
from storage.events import record_event
from storage.models import Account, Member

logger = logging.getLogger(__name__)


def remind(mention_id: int) -> str:
    """RQ job: the reminder, if the mention still needs one; at most once."""
    rt = runtime.current()
    now = rt.clock()
    with rt.sessions.begin() as session:
        mention = claim_reminder(session, mention_id, now)
        if mention is None:
            return "not needed"  # not spoken: the job's result, for the log
        account = session.get_one(Account, mention.account_id)
        assignee = session.get(Member, mention.assignee_id) if mention.assignee_id else None
        off_duty = assignee is not None and not assignee.on_duty and assignee.duty_since is not None
        late = now - mention.sla_due_at if mention.sla_due_at else None
        record_event(
            session,
            "mention.sla_reminded",
            now,
            account_id=account.id,
            mention_id=mention_id,
            late_seconds=int(late.total_seconds()) if late else 0,
        )
        sla_minutes = account.sla_minutes
    thread = card_thread(rt, mention_id)
    if thread is not None:
        channel, thread_ts = thread
        try:
            with in_channel(rt, channel):
                if assignee is None:
                    text = _(
                        ":alarm_clock: <!here> nobody is assigned yet, and this mention has had "
                        "no reply for {minutes} min, the account's first-response target."
                    ).format(minutes=sla_minutes)
                elif off_duty:
                    # They said they are off duty: the channel is told, not their phone.
                    text = _(
                        ":alarm_clock: <!here> its assignee is off duty, and this mention has "
                        "had no reply for {minutes} min, the account's first-response target."
                    ).format(minutes=sla_minutes)
                else:
                    text = _(
                        ":alarm_clock: <@{user}> this mention has had no reply for {minutes} "
                        "min, the account's first-response target."
                    ).format(user=assignee.user_id, minutes=sla_minutes)
                post_notice(rt, f"reminder:{mention_id}", channel, text, thread_ts=thread_ts)
        except SlackError:
            # Not posted, or not known to be: give the claim back, so RQ's retry or the
            # sweep sends it (looking for it first, if a try may have posted it).
            with rt.sessions.begin() as session:
                release_reminder(session, mention_id)
            raise
    refresh_card(rt, mention_id)
    return "reminded"  # not spoken: the job's result, for the log


def cancel_reminder(rt: Runtime, mention_id: int) -> None:
    """Drop the scheduled reminder of a mention that was answered or closed."""
    try:
        Job.fetch(reminder_job_id(mention_id), connection=rt.redis).delete()
    except NoSuchJobError:
        pass
    except RedisError as exc:
        # The job re-checks the mention when it runs, and finds nothing to do.
        logger.warning("reminder of mention %s not cancelled (%s)", mention_id, exc)


def sweep_reminders(rt: Runtime, account_id: int) -> int:
    """Queue the reminders that fell due while no worker ran them (Redis flushed, all down)."""
    with rt.sessions() as session:
        due = reminders_due(session, account_id, rt.clock())
    for mention_id in due:
        rt.team_queue.enqueue(remind, mention_id, result_ttl=0)
    if due:
        logger.warning("queued %d overdue SLA reminders of account %s", len(due), account_id)
    return len(due)
