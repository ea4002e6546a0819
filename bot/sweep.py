"""The worker's sweep: what a lost job, a dead worker or a Redis that lost its data left
behind, the daily digests that are due, each account's X spend, kept and held to its
budget, and whether each account is in a surge.

It runs once per ROOST_SWEEP_SECONDS however many workers run (each period is claimed
in Redis by one of them; see bot.worker), and once more whenever a worker starts, so a
restart after a crash recovers at once rather than a period later. Each run is a job
of its own: none schedules the next, so none can cancel it.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot import runtime
from bot.digest.daily import queue_due_digests
from bot.inbox.delivery import sweep_mentions
from bot.inbox.sla import sweep_reminders
from bot.outbound.sending import sweep_outbound
from bot.runtime import Runtime
from bot.settings import Settings
from bot.surge.batches import advance
from bot.surge.cards import publish, release_unlisted
from bot.surge.detect import check_surges
from bot.surge.groups import group_surges
from bot.team.budget import keep_spend, tell_budgets
from bot.worker import Recurring, redis_forgot, requeue_orphans, worker_alive
from storage import outbound as outbound_rows
from storage.mentions import claim_owners, release_claims_of
from storage.models import Account

logger = logging.getLogger(__name__)

SWEEP_TIMEOUT = 600
"""Seconds a sweep may take: a few queries per account, and queueing what it finds."""


def recurring(settings: Settings) -> list[Recurring]:
    """What a worker runs on its own, every period: the sweep, a surge's cards, and its
    answers to many."""
    return [
        Recurring("sweep", settings.roost_sweep_seconds, sweep, timeout=SWEEP_TIMEOUT),
        Recurring("surge-cards", settings.roost_surge_publish_seconds, publish, timeout=300),
        Recurring("batches", settings.roost_batch_seconds, advance, timeout=300),
    ]


def sweep() -> int:
    """RQ job: one sweep of everything; how many lost things it queued again."""
    rt = runtime.current()
    found = sum(requeue_orphans(queue) for queue in rt.queues)
    forgot = redis_forgot(rt.redis)
    if forgot:
        logger.warning("Redis holds no jobs from before: queueing again all that waits")
    dead = dead_workers(rt)
    if dead:
        with rt.sessions.begin() as session:
            released = release_claims_of(session, dead)
        logger.warning("released %d claims of dead workers %s", released, ", ".join(sorted(dead)))
    try:
        queue_due_digests(rt)
    except Exception:  # one part's failure must not stop the others
        logger.exception("digests not checked by this sweep")
    try:
        keep_spend(rt)
        tell_budgets(rt)
    except Exception:
        logger.exception("X spend not kept or budgets not checked by this sweep")
    try:
        check_surges(rt)
        group_surges(rt)
        release_unlisted(rt)
    except Exception:
        logger.exception("surges not checked or grouped by this sweep")
    with rt.sessions() as session:
        accounts = list(session.scalars(select(Account.id)))
    for account_id in accounts:
        found += sweep_outbound(rt, account_id, dead=dead, everything=forgot)
        found += sweep_reminders(rt, account_id)
        found += sweep_mentions(rt, account_id, everything=forgot)
    return found


def dead_workers(rt: Runtime) -> set[str]:
    """The workers holding a claim (a card being posted, a call to X) that are not alive."""
    with rt.sessions() as session:
        owners = claim_owners(session) | outbound_rows.sending_owners(session)
    return {owner for owner in owners if not worker_alive(rt.redis, owner)}
