"""Resolve, Reopen and Ignore: a mention's status, changed by a person, shown on its card."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import update

from bot import runtime
from bot.errors import Refused
from bot.i18n import N_, _
from bot.inbox.access import scene_for
from bot.inbox.delivery import card_thread, refresh_card
from bot.inbox.sla import cancel_reminder
from bot.runtime import Runtime
from bot.slack.client import translate_errors
from bot.team.language import in_channel
from bot.team.people import Who
from storage.events import record_event
from storage.models import Mention

logger = logging.getLogger(__name__)

CHANGES = {
    "resolve": ("resolved", N_(":white_check_mark: Resolved by <@{user}>.")),
    "ignore": ("ignored", N_(":see_no_evil: Marked as ignored (spam or noise) by <@{user}>.")),
    "reopen": ("open", N_(":arrows_counterclockwise: Reopened by <@{user}>.")),
}
"""What each button does: the new status, and the line logged in the card's thread (said
in the channel's language by show_status)."""

OPEN: tuple[str, ...] = ("open", "assigned", "replied")
CLOSED: tuple[str, ...] = ("resolved", "ignored")

SHOW_RETRY = Retry(max=5, interval=[5, 30, 60, 300, 900])


def change_status(rt: Runtime, who: Who, mention_id: int, change: str) -> None:
    """Resolve, ignore or reopen the mention; Refused if it is already so, or not theirs to."""
    status, line = CHANGES[change]
    now = rt.clock()
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, mention_id, now)
        mention = scene.mention
        if change == "reopen":
            if mention.status not in CLOSED:
                raise Refused(_("This mention is already open."))
            status, resolved_at, moving_from = _reopened_status(mention), None, CLOSED
            resolver_id = None
        else:
            if mention.status == "resolved":
                raise Refused(_("This mention is already resolved."))
            if mention.status in CLOSED:
                raise Refused(_("This mention is already ignored."))
            resolving = change == "resolve"
            resolved_at = now if resolving else mention.resolved_at
            resolver_id = scene.member.id if resolving else mention.resolver_id
            moving_from = OPEN
        # Conditional, so two people pressing at once change it once.
        moved = session.execute(
            update(Mention)
            .where(Mention.id == mention_id, Mention.status.in_(moving_from))
            .values(status=status, resolved_at=resolved_at, resolver_id=resolver_id),
            execution_options={"synchronize_session": False},
        )
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            raise Refused(_("Someone changed this mention a moment ago; look at the card again."))
        record_event(
            session,
            f"mention.{status if change != 'reopen' else 'reopened'}",
            now,
            actor=who.user_id,
            account_id=scene.account.id,
            mention_id=mention_id,
            previous=mention.status,
        )
    if status in CLOSED:
        cancel_reminder(rt, mention_id)
    try:
        rt.team_queue.enqueue(
            show_status, mention_id, line, who.user_id, retry=SHOW_RETRY, result_ttl=0
        )
    except RedisError as exc:
        # The status is saved; only its display waits for the next card refresh.
        logger.error("status of mention %s not shown (%s)", mention_id, exc)


def _reopened_status(mention: Mention) -> str:
    if mention.first_response_at is not None:
        return "replied"
    return "assigned" if mention.assignee_id is not None else "open"


def show_status(mention_id: int, line: str, user: str | None = None) -> None:
    """RQ job: the card shows the new status; its thread logs who changed it.

    With `user`, `line` is one of CHANGES' sentences, said here in the channel's language
    with the person who changed it; without, a line already written, logged as it is."""
    rt = runtime.current()
    refresh_card(rt, mention_id)
    thread = card_thread(rt, mention_id)
    if thread is None:
        return
    channel, thread_ts = thread
    with translate_errors(channel), in_channel(rt, channel):
        text = _(line).format(user=user) if user is not None else line
        rt.slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
