"""The worker's own sweep: every minute, what a lost job or a dead worker left behind,
and the daily digests that are due.

The listener sweeps each account it reads, but an account whose intake is
stopped, rate-limited or failing is not read, and its queued replies and
reminders must not wait for that. So the worker keeps one self-renewing RQ
job (one id, however many workers start it) that sweeps every account.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select

from bot import runtime
from bot.digest.daily import queue_due_digests
from bot.inbox.sla import sweep_reminders
from bot.outbound.sending import sweep_outbound
from storage.models import Account

logger = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(minutes=1)
"""How often the worker looks for lost sends and reminders."""

SWEEP_JOB_ID = "roost-sweep"
"""One id for the sweep, so every worker that starts it keeps the same single job."""


def start_sweeping(queue: Queue) -> None:
    """Schedule the sweep; a worker calls this when it starts."""
    queue.enqueue_in(SWEEP_EVERY, sweep, job_id=SWEEP_JOB_ID, result_ttl=0)


def sweep() -> int:
    """RQ job: sweep every account and queue the digests that are due, then schedule the
    next sweep whatever happened. Returns how many lost sends and reminders it found."""
    rt = runtime.current()
    found = 0
    try:
        try:
            queue_due_digests(rt)
        except Exception:  # one part's failure must not stop the others each minute
            logger.exception("digests not checked this minute")
        with rt.sessions() as session:
            accounts = list(session.scalars(select(Account.id)))
        for account_id in accounts:
            found += sweep_outbound(rt, account_id) + sweep_reminders(rt, account_id)
    finally:
        try:
            start_sweeping(rt.queue)
        except RedisError as exc:
            logger.error("next sweep not scheduled (%s); it starts again with a worker", exc)
    return found
