"""Resolve, Reopen and Ignore: a mention's status, changed by a person, shown on its card."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry

from bot import runtime
from bot.delivery import card_thread, refresh_card
from bot.outbox import Refused, Who, scene_for
from bot.runtime import Runtime
from bot.slack import translate_errors
from storage.events import record_event
from storage.models import Mention

logger = logging.getLogger(__name__)

CHANGES = {
    "resolve": ("resolved", ":white_check_mark: Resolved by <@{user}>."),
    "ignore": ("ignored", ":see_no_evil: Marked as ignored (spam or noise) by <@{user}>."),
    "reopen": ("open", ":arrows_counterclockwise: Reopened by <@{user}>."),
}
"""What each button does: the new status, and the line logged in the card's thread."""

SHOW_RETRY = Retry(max=5, interval=[5, 30, 60, 300, 900])


def change_status(rt: Runtime, who: Who, mention_id: int, change: str) -> None:
    """Resolve, ignore or reopen the mention; Refused if it is already so, or not theirs to."""
    status, line = CHANGES[change]
    now = rt.clock()
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, mention_id, now)
        mention = session.get_one(Mention, mention_id, with_for_update=True)
        if change == "reopen":
            if mention.status not in ("resolved", "ignored"):
                raise Refused("This mention is already open.")
            status = _reopened_status(mention)
            mention.resolved_at = None
        elif mention.status in ("resolved", "ignored"):
            raise Refused(f"This mention is already {mention.status}.")
        if change == "resolve":
            mention.resolved_at = now
        previous, mention.status = mention.status, status
        record_event(
            session,
            f"mention.{status if change != 'reopen' else 'reopened'}",
            now,
            actor=who.user_id,
            account_id=scene.account.id,
            mention_id=mention_id,
            previous=previous,
        )
    try:
        rt.queue.enqueue(
            show_status, mention_id, line.format(user=who.user_id), retry=SHOW_RETRY, result_ttl=0
        )
    except RedisError as exc:
        # The status is saved; only its display waits for the next card refresh.
        logger.error("status of mention %s not shown (%s)", mention_id, exc)


def _reopened_status(mention: Mention) -> str:
    if mention.first_response_at is not None:
        return "replied"
    return "assigned" if mention.assignee_id is not None else "open"


def show_status(mention_id: int, line: str) -> None:
    """RQ job: the card shows the new status; its thread logs who changed it."""
    rt = runtime.current()
    refresh_card(rt, mention_id)
    thread = card_thread(rt, mention_id)
    if thread is None:
        return
    channel, thread_ts = thread
    with translate_errors(channel):
        rt.slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=line)
