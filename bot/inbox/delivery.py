"""Delivering mentions to Slack: the RQ jobs behind every card.

A mention's Slack message is posted once. The job claims the mention in the
database before posting and records the ts after; a worker that dies in
between leaves a claim that goes stale, and the next try first looks for
the message it may have posted (cards carry their mention id as message
metadata) before posting again. A Slack 429 delays a delivery, never drops it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from rq import Queue, Retry
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import (
    RoostError,
    SlackChannelUnavailable,
    SlackError,
    SlackRateLimited,
    SlackUnavailable,
)
from bot.i18n import _
from bot.inbox.cards import (
    METADATA_EVENT,
    CardMention,
    CardOutbound,
    build_mention_card,
    card_metadata,
    notification_text,
)
from bot.inbox.routing import channel_for
from bot.networks import links
from bot.runtime import Runtime
from bot.slack.client import find_posted, translate_errors
from bot.slack.mrkdwn import permalink
from bot.slack.pace import waiting, without_waiting
from bot.team.business_hours import sla_due, within
from bot.team.language import in_channel
from bot.worker import current_worker
from storage.assignments import Changed, next_on_duty, set_assignee
from storage.events import record_event
from storage.mentions import (
    claim_card,
    conversation_card,
    hold_for_surge,
    mark_queued,
    mention_ids,
    record_card,
    record_card_error,
    release_card,
    thread_size,
    undelivered,
)
from storage.models import Account, Member, Mention, Outbound, Watch
from storage.outbound import for_mention
from storage.people import Known, known_before
from storage.surges import open_surge

logger = logging.getLogger(__name__)

JOB_TIMEOUT = 300
"""Seconds a delivery job may run before RQ stops it (25 cards and a few 429 waits)."""

CLAIM_STALE_AFTER = timedelta(minutes=10)
"""A claim older than this belonged to a worker that died mid-delivery: well past
JOB_TIMEOUT, so a slow but living worker is never overtaken."""

QUEUE_GRACE = timedelta(seconds=10)
"""A mention stored this long ago and never queued lost its enqueue (its listener died
between the two); sooner, its listener may be queueing it at this moment."""

SWEEP_AFTER = timedelta(minutes=2)
"""A mention queued this long ago and still without a Slack message is queued again: its
job may be lost (a worker killed between taking it and starting it)."""

CARD_WAIT_SECONDS = 5.0
"""How long a thread reply waits for its conversation's card before retrying later."""

FIND_POSTED_PAGES = 10
"""Pages of 200 messages searched for a card an interrupted try may have posted."""

DELIVERY_CHUNK = 25
"""Mentions per delivery job."""

TRANSIENT_RETRY = Retry(max=6, interval=[2, 10, 30, 120, 300, 900])
"""Backoff for Slack 5xx and network errors; the sweep catches anything beyond."""


class CardNotReady(RoostError):
    """The conversation's card is still being posted by another worker."""


def enqueue_deliveries(queue: Queue, account_id: int, tweet_ids: Iterable[int]) -> None:
    """Queue the delivery of an account's new mentions, DELIVERY_CHUNK per job, in one round trip.

    Several per job rather than one: an RQ job costs more to queue and run than a card
    costs to post, and a burst still spreads over every worker. Jobs name
    mentions by tweet id, which intake knows without asking the database.
    """
    ids = list(tweet_ids)
    chunks = [ids[start : start + DELIVERY_CHUNK] for start in range(0, len(ids), DELIVERY_CHUNK)]
    jobs = [
        Queue.prepare_data(
            deliver_mentions,
            args=(account_id, chunk),
            retry=TRANSIENT_RETRY,
            result_ttl=0,
            timeout=JOB_TIMEOUT,
            description=f"deliver {len(chunk)} mentions of account {account_id}",  # not spoken
        )
        for chunk in chunks
    ]
    if jobs:
        queue.enqueue_many(jobs)


def queue_deliveries(rt: Runtime, account_id: int, tweet_ids: Sequence[int]) -> None:
    """Queue these mentions' delivery and note when, so the sweep can tell a lost enqueue
    from a job still waiting its turn. RedisError if Redis refused: stored is safe, the
    sweep queues them once Redis answers again."""
    enqueue_deliveries(rt.card_queue, account_id, tweet_ids)
    with rt.sessions.begin() as session:
        mark_queued(session, account_id, tweet_ids, rt.clock())


def sweep_mentions(rt: Runtime, account_id: int, *, everything: bool = False) -> int:
    """Queue again the account's mentions whose delivery went missing; how many.

    `everything`: Redis lost its data, so every mention not posted and not claimed is.
    """
    now = rt.clock()
    with rt.sessions() as session:
        lost = undelivered(
            session,
            account_id,
            never_queued_before=now - QUEUE_GRACE,
            queued_before=now - SWEEP_AFTER,
            claimed_before=now - CLAIM_STALE_AFTER,
            everything=everything,
        )
    if lost:
        logger.warning("re-queueing %d undelivered mentions of account %s", len(lost), account_id)
        queue_deliveries(rt, account_id, lost)
    return len(lost)


def deliver_mentions(account_id: int, tweet_ids: list[int]) -> dict[int, str]:
    """RQ job: post each mention's card, or its reply in its conversation's card thread.

    Each mention fails alone: one that Slack refuses does not hold back the
    others. A Slack 429 puts this mention and the rest back on the queue for
    when Slack allows posting again; other passing failures (5xx, network,
    a card still being posted) fail the job at the end, and RQ's retry of
    the whole job skips what is already posted.
    """
    rt = runtime.current()
    with rt.sessions() as session:
        mentions = mention_ids(session, account_id, tweet_ids)
        account = session.get(Account, account_id)
    outcomes: dict[int, str] = {}
    passing: list[RoostError] = []
    for position, (mention_id, _tweet_id) in enumerate(mentions):
        try:
            with without_waiting():  # a card waits on the queue, not in a worker
                outcomes[mention_id] = post_mention(rt, mention_id, account)
        except SlackRateLimited as exc:
            rest = [tweet_id for _id, tweet_id in mentions[position:]]
            rt.card_queue.enqueue_in(
                timedelta(seconds=exc.retry_after),
                deliver_mentions,
                account_id,
                rest,
                retry=TRANSIENT_RETRY,
                job_timeout=JOB_TIMEOUT,
            )
            logger.warning("%s; %d mentions retry in %ss", exc, len(rest), exc.retry_after)
            outcomes[mention_id] = "rate limited"  # not spoken: for the log
            break
        except (SlackUnavailable, CardNotReady) as exc:
            outcomes[mention_id] = "will retry"  # not spoken: for the log
            passing.append(exc)
    if passing:
        raise passing[0]
    return outcomes


def post_mention(
    rt: Runtime, mention_id: int, account: Account | None = None, *, opened: bool = False
) -> str:
    """Post the mention's Slack message once; returns what happened, for the log.

    In a surge a mention that would start a card is held for its group's card instead
    (bot.surge): unless a person `opened` it from there.

    Raises SlackRateLimited, SlackUnavailable or CardNotReady, the claim
    given back, for the caller to try again later.
    """
    with rt.sessions.begin() as session:
        mention = claim_card(
            session, mention_id, rt.clock(), CLAIM_STALE_AFTER, by=current_worker()
        )
        if mention is None:
            return _why_not_claimed(session, mention_id)
        account = account or session.get_one(Account, mention.account_id)
        card = conversation_card(session, mention)
        # Held too: a reply whose conversation's first mention is itself held, with no
        # card for it to follow.
        held_card = card is not None and card.slack_ts is None and card.surge_held_at is not None
        # A post a watch found did not address the account: no surge holds it, nobody is
        # given it, no first-response clock runs for it, and it goes to the watch's channel.
        watch = session.get(Watch, mention.watch_id) if mention.watch_id else None
        if (card is None or held_card) and not opened and watch is None:
            if held_card or open_surge(session, account.id) is not None:
                hold_for_surge(session, mention_id, rt.clock())
                return "held for its surge group"  # not spoken: for the log
        # What is known of its author, on a card of its own; a thread reply's is its card's.
        known = known_before(session, mention.author_id, mention.id) if card is None else None
        # A new card of an auto-assigning account goes to the next person on duty.
        inbox_card = card is None and watch is None
        given = _auto_assign(session, account, mention, rt.clock()) if inbox_card else None
        # A new card goes where the account's routes send it; a thread reply follows its card.
        if watch is not None:
            channel = watch.channel_id
        elif card is None:
            channel = channel_for(session, account, mention.text)
        else:
            channel = card.slack_channel or channel_for(session, account, card.text)
        watched = watch.query if watch is not None else None
    broken: tuple[str, str] | None = None
    try:
        thread_ts = None
        if card is not None:
            # Usually the card is long posted; otherwise post it (or wait for it) first.
            thread_ts = card.slack_ts or _card_ts(rt, card.id)
            if thread_ts is None:
                raise CardNotReady(  # not spoken: RQ retries the job, and logs why
                    f"the card for mention {card.id} is not in Slack yet"
                )
            if card.slack_channel is None:  # posted just now: wherever routing sent it
                with rt.sessions() as session:
                    channel = session.get_one(Mention, card.id).slack_channel or channel
        # A card is an inbox item: its first-response target starts now, in business hours.
        sla_due_at = None
        if inbox_card:
            try:
                sla_due_at = sla_due(
                    mention.created_at, account.sla_minutes, account.business_hours
                )
            except ValueError as exc:
                # Hours written by hand into the database must not hold cards back.
                logger.error("account %s: %s; SLA counted around the clock", account.id, exc)
                sla_due_at = mention.created_at + timedelta(minutes=account.sla_minutes)
        view = _view(
            mention,
            account,
            thread_count=0,
            sla_due_at=sla_due_at,
            known=known,
            assignee=given.user_id if given else None,
            watched=watched,
        )
        try:
            ts = _post_once(rt, channel, mention, view, thread_ts)
        except SlackChannelUnavailable as exc:
            if card is not None or channel == account.channel_id:
                raise
            # A route's channel Roost cannot post in must not swallow the mentions it
            # matches: the card goes to the account's own channel and says why.
            logger.warning("mention %s: routed channel unusable (%s)", mention_id, exc)
            broken, channel = (channel, str(exc)), account.channel_id
            ts = _post_once(rt, channel, mention, view, thread_ts)
    except SlackRateLimited:
        # Slack refused the call outright: nothing was posted.
        with rt.sessions.begin() as session:
            release_card(session, mention_id, posted_maybe=False)
        raise
    except SlackError as exc:
        if isinstance(exc, SlackUnavailable):
            with rt.sessions.begin() as session:
                release_card(session, mention_id, posted_maybe=True)
            raise
        # Not worth trying again at once (no such channel, Roost not in it,
        # a refused message): keep the claim, so the sweep tries again only
        # once it is stale, by when someone may have fixed the channel.
        with rt.sessions.begin() as session:
            record_card_error(session, mention_id, str(exc))
        logger.error("mention %s not delivered: %s", mention_id, exc)
        return "failed"
    except BaseException:
        # Anything else, a card not yet posted included: give the claim back.
        with rt.sessions.begin() as session:
            release_card(session, mention_id, posted_maybe=True)
        raise
    with rt.sessions.begin() as session:
        record_card(session, mention_id, channel, ts, thread_ts, rt.clock(), sla_due_at)
    if given is not None:
        try:
            rt.publish_home(rt, given.team_id, given.user_id)
        except SlackError as exc:
            logger.warning("Home of %s not refreshed: %s", given.user_id, exc)
    with waiting():  # the card is up: what follows it is not tried again if refused
        if broken is not None:
            _say_route_broken(rt, channel, ts, account.handle, *broken, watched=watch)
        if card is not None:
            refresh_card(rt, card.id)
    if sla_due_at is not None:
        schedule_reminder(rt.team_queue, mention_id, sla_due_at)
    return "posted"


def _post_once(
    rt: Runtime, channel: str, mention: Mention, view: CardMention, thread_ts: str | None
) -> str:
    """Post the message, unless an earlier, interrupted try did; its ts. In the channel's
    language."""
    with translate_errors(channel), in_channel(rt, channel):
        ts = None
        if mention.card_attempts > 1:  # an earlier try may have posted before it died
            ts = _find_posted(rt.slack, channel, mention, thread_ts)
        return ts or _post(rt.slack, channel, view, thread_ts)


def _say_route_broken(
    rt: Runtime,
    channel: str,
    ts: str,
    handle: str,
    routed: str,
    why: str,
    *,
    watched: Watch | None = None,
) -> None:
    try:
        with translate_errors(channel), in_channel(rt, channel):
            if watched is not None:
                text = _(
                    ":warning: Watch {watch} brings its posts to <#{routed}>, but Roost cannot "
                    "post there ({why}) so this one came here. Invite Roost there, or stop the "
                    "watch and add it again with another channel: `/roost watch @{handle}`."
                ).format(watch=watched.id, routed=routed, why=why, handle=handle)
            else:
                text = _(
                    ":warning: This mention matched a route to <#{routed}>, but Roost cannot "
                    "post there ({why}) so it came here. Invite Roost there, or fix the route: "
                    "`/roost routes @{handle}`."
                ).format(routed=routed, why=why, handle=handle)
            rt.slack.chat_postMessage(channel=channel, thread_ts=ts, text=text)
    except SlackError as exc:
        logger.warning("note about the broken route not posted: %s", exc)


def reminder_job_id(mention_id: int) -> str:
    return f"sla-reminder-{mention_id}"


def schedule_reminder(queue: Queue, mention_id: int, due: datetime) -> None:
    """Queue the mention's SLA reminder for when it falls due; one job per mention.

    Named by path: bot.inbox.sla builds on this module. The database decides
    whether it is still wanted when it runs, and the sweep sends it if the
    job was lost.
    """
    queue.enqueue_at(
        due,
        "bot.inbox.sla.remind",
        mention_id,
        job_id=reminder_job_id(mention_id),
        result_ttl=0,
        retry=TRANSIENT_RETRY,
    )


def _why_not_claimed(session: Session, mention_id: int) -> str:
    mention = session.get(Mention, mention_id)
    if mention is None:
        return "gone"
    if mention.slack_ts is not None:
        return "already posted"  # not spoken: for the log
    return "claimed by another worker"  # not spoken: for the log


def refresh_card(rt: Runtime, mention_id: int) -> None:
    """Re-render a mention's posted message in place (status, actions, thread count)."""
    with rt.sessions.begin() as session:
        mention = session.get_one(Mention, mention_id)
        account = session.get_one(Account, mention.account_id)
        in_thread = mention.slack_thread_ts is not None
        assignee = session.get(Member, mention.assignee_id) if mention.assignee_id else None
        view = _view(
            mention,
            account,
            thread_count=0 if in_thread else thread_size(session, mention),
            activity=activity_for(session, mention_id),
            assignee=assignee.user_id if assignee else None,
            sla_due_at=mention.sla_due_at if mention.first_response_at is None else None,
            overdue=mention.sla_reminded_at is not None,
            known=None if in_thread else known_before(session, mention.author_id, mention.id),
            watched=_watched(session, mention),
        )
    if mention.slack_channel is None or mention.slack_ts is None:
        return
    try:
        with translate_errors(mention.slack_channel), in_channel(rt, mention.slack_channel):
            rt.slack.chat_update(
                channel=mention.slack_channel,
                ts=mention.slack_ts,
                text=notification_text(view),
                blocks=build_mention_card(view, in_thread=in_thread),
            )
    except SlackError as exc:
        # What changed is logged in the thread too; a stale card is cosmetic.
        logger.warning("card %s not refreshed: %s", mention_id, exc)


def card_url(rt: Runtime, mention: Mention) -> str | None:
    """The card's address in Slack, in the form Slack's own permalinks take."""
    if mention.slack_channel is None or mention.slack_ts is None:
        return None
    return permalink(
        rt.workspace_url(), mention.slack_channel, mention.slack_ts, mention.slack_thread_ts
    )


def card_thread(rt: Runtime, mention_id: int) -> tuple[str, str] | None:
    """(channel, thread ts) where a mention's log goes: its card's thread; None if not posted."""
    with rt.sessions() as session:
        mention = session.get_one(Mention, mention_id)
    if mention.slack_channel is None or mention.slack_ts is None:
        return None
    return mention.slack_channel, mention.slack_thread_ts or mention.slack_ts


def activity_for(session: Session, mention_id: int) -> tuple[CardOutbound, ...]:
    """The mention's replies, DMs and retweets, as its card lists them."""
    found = for_mention(session, mention_id)
    undone = {
        int(row.idempotency_key.split(":")[1])
        for row in found
        if row.kind == "unretweet" and row.status == "sent"
    }
    return tuple(card_item(session, row, undone=row.id in undone) for row in found)


def card_item(session: Session, row: Outbound, *, undone: bool = False) -> CardOutbound:
    """The row as its card shows it."""
    account = session.get_one(Account, row.account_id)
    actor = session.get(Member, row.actor_id) if row.actor_id is not None else None
    mention = session.get(Mention, row.mention_id) if row.mention_id is not None else None
    after = row.sent_at - mention.created_at if row.sent_at and mention else None
    if row.kind == "reply" and row.x_id:
        x_url: str | None = links.post_url(
            account.network, account.handle, row.x_id, stored=row.url
        )
    elif row.kind in ("retweet", "unretweet") and mention is not None and row.status == "sent":
        x_url = links.post_url(
            account.network, mention.author_username, mention.tweet_id, stored=mention.url
        )
    else:
        x_url = None
    return CardOutbound(
        id=row.id,
        kind=row.kind,
        status=row.status,
        actor=actor.user_id if actor else None,
        account_handle=account.handle,
        text=row.text,
        after=after,
        x_url=x_url,
        error=row.error,
        undone=undone,
        network=account.network,
    )


def _auto_assign(
    session: Session, account: Account, mention: Mention, now: datetime
) -> Member | None:
    """Give the new card to the next person on duty, if the account auto-assigns and
    someone fits; whom. A card posted again after Slack refused it keeps whom it had."""
    if mention.assignee_id is not None:
        return session.get(Member, mention.assignee_id)
    rostered = [entry["user"] for entry in account.rota or () if within(entry["hours"], now)]
    given = next_on_duty(session, account, now, rostered)
    if given is None:
        return None
    try:
        set_assignee(session, mention, given.id, now)
    except Changed:
        return None  # someone assigned it meanwhile: theirs stands
    record_event(
        session,
        "mention.assigned",
        now,
        account_id=account.id,
        mention_id=mention.id,
        previous=None,
        assignee=given.user_id,
        via="auto",
    )
    return given


def _view(
    mention: Mention,
    account: Account,
    *,
    thread_count: int,
    activity: tuple[CardOutbound, ...] = (),
    assignee: str | None = None,
    sla_due_at: datetime | None = None,
    overdue: bool = False,
    known: Known | None = None,
    watched: str | None = None,
) -> CardMention:
    return CardMention(
        id=mention.id,
        tweet_id=mention.tweet_id,
        account_handle=account.handle,
        text=mention.text,
        created_at=mention.created_at,
        author_username=mention.author_username,
        author_name=mention.author_name,
        author_followers=mention.author_followers,
        author_verified=mention.author_verified,
        author_protected=mention.author_protected,
        in_reply_to_tweet_id=mention.in_reply_to_tweet_id,
        media=tuple(mention.media or ()),
        status=mention.status,
        thread_count=thread_count,
        activity=activity,
        assignee=assignee,
        sla_due_at=sla_due_at,
        overdue=overdue,
        edited=mention.edited_at is not None,
        known=known,
        watched=watched,
        network=account.network,
        url=mention.url,
        service_url=account.service_url,
    )


def _watched(session: Session, mention: Mention) -> str | None:
    """The words of the watch that found the post, if one did."""
    watch = session.get(Watch, mention.watch_id) if mention.watch_id else None
    return watch.query if watch is not None else None


def _card_ts(rt: Runtime, card_id: int) -> str | None:
    """The card's ts, posting the card first if nobody has; waits briefly for another worker."""
    deadline = time.monotonic() + CARD_WAIT_SECONDS
    post_mention(rt, card_id)
    while True:
        with rt.sessions() as session:
            ts = session.get_one(Mention, card_id).slack_ts
        if ts is not None or time.monotonic() > deadline:
            return ts
        time.sleep(0.1)


def _post(slack: WebClient, channel: str, view: CardMention, thread_ts: str | None) -> str:
    answer = slack.chat_postMessage(
        channel=channel,
        text=notification_text(view),
        blocks=build_mention_card(view, in_thread=thread_ts is not None),
        thread_ts=thread_ts,
        metadata=card_metadata(view),
        unfurl_links=False,
        unfurl_media=False,
    )
    return str(answer["ts"])


def _find_posted(
    slack: WebClient, channel: str, mention: Mention, thread_ts: str | None
) -> str | None:
    """The ts of this mention's message if an earlier, interrupted try posted it."""
    found = find_posted(
        slack,
        channel,
        {"event_type": METADATA_EVENT, "event_payload": {"mention_id": mention.id}},
        # Nothing about this mention was posted before intake stored it.
        oldest=(mention.received_at - timedelta(minutes=1)).timestamp(),
        thread_ts=thread_ts,
        pages=FIND_POSTED_PAGES,
    )
    if found is not None:
        logger.info("mention %s was already posted as %s", mention.id, found)
    return found
