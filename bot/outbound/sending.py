"""Sending outbound rows to X, Bluesky and Mastodon, exactly once: the RQ jobs behind
Publish, Retweet and Approve.

Every network is reached through its account's adapter (bot.networks), on the same rows,
claims and settling. X and Bluesky take no idempotency key and RQ runs a job at least
once, so the row is the guard: `send_outbound` moves it pending → sending before the
call and never calls for a row that is not pending. When the network's answer is lost (a
timeout, a dropped connection, a 5xx, a worker killed mid-call) nobody knows whether the
post went out: the row is reconciled by looking for it among the account's own
(`Network.find_sent`), and is marked `unknown` for a person to check if it is not there.
Nothing is sent again blindly: only where the network itself refuses a second copy (X, by
its text; Mastodon, by the row's key, handed over as its Idempotency-Key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

from rq import Queue
from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import (
    Duplicate,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    RoostError,
    SlackUnavailable,
    Unavailable,
)
from bot.i18n import _
from bot.inbox.sla import cancel_reminder
from bot.networks import links
from bot.networks.base import Attachment, Author, Found, Network, Write
from bot.networks.rules import rules_for
from bot.outbound.media import download
from bot.outbound.reports import note, report
from bot.runtime import Runtime
from bot.team.budget import budget_of
from bot.team.language import in_channel
from bot.team.networks import network_for
from bot.worker import current_worker, worker_alive
from bot.x.prices import send_kind
from storage import outbound as rows
from storage.accounts import note_x_limit
from storage.events import record_event
from storage.models import Account, Mention, Outbound, Post
from storage.posts import next_part, previous_part
from storage.refs import refs_of
from storage.team import role_on

logger = logging.getLogger(__name__)

JOB_TIMEOUT = 900
"""Seconds a send job may take: one call to the network, one reconciliation, a few Slack
calls, and for a post with a video its upload and X's processing (up to ten minutes)."""

SENDING_STALE = timedelta(minutes=2)
"""A row still `sending` this long after its call began lost its worker: longer than any
one call may take (the adapters' timeouts), so a live call is never overtaken."""

PENDING_GRACE = timedelta(minutes=1)
"""A row due this long and still pending lost its job (Redis flushed, a failed enqueue);
sooner, it is most likely only waiting its turn in the queue."""

EARLY_WAIT = timedelta(seconds=2)
"""RQ files scheduled jobs by the whole second, so one may start up to a second early:
a job this close to its row's time waits for it rather than sending early."""

RECHECK_AFTER = timedelta(minutes=1)
"""A network can take a moment to list a new post; an unknown outcome is checked once more
after this."""

RECONCILE_SKEW = timedelta(minutes=2)
"""How far before a call began a post it made may be dated (clocks differ)."""

_LIMITED_KIND = {  # not spoken: the names X's limit notes match (bot.surge.batches.XLimit)
    "reply": "posts and replies",
    "post": "posts and replies",
    "dm": "DMs",
    "retweet": "retweets",
    "unretweet": "retweets",
}
"""What waits when the network rate-limits a row of each kind: X limits each endpoint on
its own."""

SEND_AGAIN_KINDS = frozenset({"reply", "post", "retweet", "unretweet"})
"""What goes out again when its worker died mid-call and its network shows no trace of it
(where the network refuses a second copy of a post, `_reconcile_row`): a repeated post
is refused and the first one found, and reposting is idempotent. A DM has no such guard:
it stays unknown, for a person to check."""

MAX_UNAVAILABLE_ATTEMPTS = 6
"""Calls that never reached the network before the row fails with its error."""

UNAVAILABLE_BACKOFF = (10, 30, 60, 300, 900)
"""Seconds before trying again after the network could not be reached (nothing was sent)."""


def enqueue_send(queue: Queue, outbound_id: int, *, at: datetime | None = None) -> None:
    """Queue the row's send, now or at `at`; a second job for one row is harmless."""
    options: dict[str, Any] = {
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": 0,
        "description": f"send outbound {outbound_id}",  # not spoken: RQ's job description
    }
    if at is None:
        queue.enqueue(send_outbound, outbound_id, **options)
    else:
        queue.enqueue_at(at, send_outbound, outbound_id, **options)


def enqueue_reconcile(queue: Queue, outbound_id: int, *, at: datetime | None = None) -> None:
    options: dict[str, Any] = {"job_timeout": JOB_TIMEOUT, "result_ttl": 0}
    if at is None:
        queue.enqueue(reconcile_outbound, outbound_id, **options)
    else:
        queue.enqueue_at(at, reconcile_outbound, outbound_id, **options)


def send_outbound(outbound_id: int) -> str:
    """RQ job: make the row's one call to its network, settle the row, show the result in
    Slack.

    What it says (the row's error, a note in the card's thread) is said in the language of
    the channel that shows the row. The return value is the job's result, for the log."""
    rt = runtime.current()
    with in_channel(rt, _shown_in(rt, outbound_id)):
        return _send(rt, outbound_id)


def _shown_in(rt: Runtime, outbound_id: int) -> str | None:
    """The channel that shows the row: its mention's card's, or its account's."""
    with rt.sessions() as session:
        row = session.get(Outbound, outbound_id)
        if row is None:
            return None
        mention = session.get(Mention, row.mention_id) if row.mention_id is not None else None
        if mention is not None and mention.slack_channel:
            return mention.slack_channel
        account = session.get(Account, row.account_id)
        return account.channel_id if account is not None else None


def _send(rt: Runtime, outbound_id: int) -> str:
    with rt.sessions.begin() as session:
        waiting = _waiting_for_earlier_part(session, outbound_id)
        if waiting is not None:
            return waiting
        early = _early_by(session, outbound_id, rt.clock())
        refused = _author_may_not_post(session, outbound_id)
        needs_media = _needs_media(session, outbound_id)
    refused = refused or _past_hard_cap(rt, outbound_id)
    if refused is not None:
        _fail_pending(rt, outbound_id, refused)
        return "failed"
    if early is not None:
        if early > EARLY_WAIT:
            # Queued well before its time (an edit, a clock): back on the schedule.
            enqueue_send(rt.team_queue, outbound_id, at=rt.clock() + early)
            return "not due yet"  # not spoken: the job's result
        time.sleep(early.total_seconds())
    if needs_media:
        waited = _upload_media(rt, outbound_id)
        if waited is not None:
            return waited
    with rt.sessions.begin() as session:
        row = rows.claim_for_sending(session, outbound_id, rt.clock(), by=current_worker())
        if row is None:
            found = session.get(Outbound, outbound_id)
            return f"not pending ({found.status if found else 'gone'})"  # not spoken: the result
        account = session.get_one(Account, row.account_id)
        mention = session.get(Mention, row.mention_id) if row.mention_id is not None else None
    network: Network | None = None
    try:
        # Opening the adapter may refresh the account's token, and fail as its network does.
        network = network_for(rt, account)
        made, url = _act(rt, network, row, mention)
    except RateLimited as exc:
        return _rate_limited(rt, row, exc)
    except Unavailable as exc:
        return _unavailable(rt, row, exc)
    except Duplicate as exc:
        # Refused as a repeat: of this row's own earlier, interrupted try, if it is there.
        assert network is not None
        outcome = _reconcile(
            rt, row, network, reason=str(exc), since=row.created_at, missing=str(exc)
        )
        report(rt, outbound_id)
        return outcome
    except OutcomeUnknown as exc:
        assert network is not None  # only the call itself has an unknown outcome
        outcome = _reconcile(rt, row, network, reason=str(exc))
        if outcome == "unknown":
            enqueue_reconcile(rt.team_queue, outbound_id, at=rt.clock() + RECHECK_AFTER)
        report(rt, outbound_id)
        return outcome
    except RoostError as exc:
        # Revoked token, deleted post, closed DMs, a plan that forbids it, tokens
        # Roost cannot decrypt: a person must act, and the message says how.
        _settle(rt, outbound_id, "failed", error=str(exc))
    else:
        _settle(rt, outbound_id, "sent", x_id=made, url=url)
    finally:
        if network is not None:
            network.close()
    # Anything else raised above leaves the row `sending`: its outcome is
    # unknown, and the sweep reconciles it once SENDING_STALE has passed.
    report(rt, outbound_id)
    with rt.sessions() as session:
        return session.get_one(Outbound, outbound_id).status


def _rate_limited(rt: Runtime, row: Outbound, exc: RateLimited) -> str:
    """The network took nothing: wait for its reset, then send (uploading its media again
    if the wait is long)."""
    with rt.sessions.begin() as session:
        rows.back_to_pending(
            session,
            row.id,
            run_at=exc.reset_at,
            error=str(exc),
            forget_media=_uploads_lapse(session, row, exc.reset_at - rt.clock()),
        )
        note_x_limit(
            session, row.account_id, f"{_LIMITED_KIND[row.kind]} ({exc.window})", exc.reset_at
        )
    enqueue_send(rt.team_queue, row.id, at=exc.reset_at)
    note(rt, row.id, _(":hourglass: {error} It goes out then, once.").format(error=exc))
    return "rate limited"  # not spoken: the job's result


def _act(
    rt: Runtime, network: Network, row: Outbound, mention: Mention | None
) -> tuple[str | None, str | None]:
    """The row's one call through its account's network: what the network calls what it
    made, and where a person opens it."""
    key = row.idempotency_key
    with rt.sessions() as session:
        refs = refs_of(session, [n for n in (row.target_tweet_id, row.recipient_id) if n])
        earlier = previous_part(session, row) if row.kind == "post" else None
    if row.kind == "reply":
        assert row.target_tweet_id is not None
        made = network.reply(
            refs[row.target_tweet_id], row.text, key=key, summoned=_summoned(mention)
        )
        return made.ref, made.url
    if row.kind == "post":
        # The media went up before the row was claimed (`_upload_media`), on its first part.
        media = row.media_ids or ()
        if earlier is not None and earlier.x_id:
            made = network.reply(earlier.x_id, row.text, media=media, key=key, summoned=False)
        else:
            made = network.post(row.text, media=media, key=key)
        return made.ref, made.url
    if row.kind == "dm":
        assert row.recipient_id is not None
        handle = mention.author_username if mention is not None else None
        to = Author(refs[row.recipient_id], handle or "")
        return network.dm(to, row.text, key=key), None
    assert row.target_tweet_id is not None
    if row.kind == "retweet":
        return network.repost(refs[row.target_tweet_id]), None
    if row.kind == "unretweet":
        network.undo_repost(refs[row.target_tweet_id])
        return None, None
    raise ValueError(f"unknown outbound kind {row.kind!r}")  # not spoken: a bug


def _write(session: Session, row: Outbound, mention: Mention | None) -> Write:
    """The row as its network's `find_sent` looks for it."""
    refs = refs_of(session, [n for n in (row.target_tweet_id, row.recipient_id) if n])
    if row.kind == "post":
        earlier = previous_part(session, row)
        parent = earlier.x_id if earlier is not None else None
    elif row.kind == "reply" and row.target_tweet_id is not None:
        parent = refs.get(row.target_tweet_id)
    else:
        parent = None
    to = None
    if row.recipient_id is not None:
        handle = mention.author_username if mention is not None else None
        to = Author(refs[row.recipient_id], handle or "")
    return Write(
        row.kind,
        row.text,
        parent_ref=parent,
        target_ref=refs.get(row.target_tweet_id) if row.target_tweet_id is not None else None,
        to=to,
        summoned=row.kind != "post" and _summoned(mention),
    )


def reconcile_outbound(outbound_id: int) -> str:
    """RQ job: settle a row whose outcome is unknown by looking for it on its network
    (saying so in the language of the channel that shows the row)."""
    rt = runtime.current()
    with in_channel(rt, _shown_in(rt, outbound_id)):
        return _reconcile_row(rt, outbound_id)


def _reconcile_row(rt: Runtime, outbound_id: int) -> str:
    with rt.sessions() as session:
        row = session.get(Outbound, outbound_id)
        if row is None or row.status not in ("sending", "unknown"):
            return "nothing to reconcile"  # not spoken: the job's result
        if row.status == "sending" and _still_sending(rt, row):
            return "still sending"  # not spoken: the job's result
        account = session.get_one(Account, row.account_id)
    interrupted = row.status == "sending"
    if interrupted:
        reason = _("The send was interrupted before {network}'s answer was recorded.").format(
            network=links.label(account.network)
        )
    else:
        reason = _("Checked again.")
    with closing(network_for(rt, account)) as network:
        outcome = _reconcile(rt, row, network, reason=reason)
        # Its worker is known to have died, so its call has ended: what the network does
        # not show was not made. A post goes again only where the network itself refuses a
        # second copy (X, by its text; Mastodon, by Roost's key): Bluesky may still be
        # writing one, so it stays unknown there, for a person to check.
        capabilities = network.capabilities
        guarded = (
            capabilities.refuses_repeats
            or capabilities.keyed_writes
            or row.kind not in ("reply", "post")
        )
    if outcome == "unknown" and interrupted and row.claimed_by and guarded and _may_send_again(row):
        with rt.sessions.begin() as session:
            again = rows.send_again(session, outbound_id, error=reason + " " + _("Sent again."))
        if again is not None:
            logger.warning("outbound %s: interrupted, not found; sending again", outbound_id)
            enqueue_send(rt.team_queue, outbound_id)
            return "sending again"  # not spoken: the job's result
    report(rt, outbound_id)
    return outcome


def _may_send_again(row: Outbound) -> bool:
    if row.kind in ("reply", "post"):
        return bool(row.text.strip())  # X's duplicate guard compares the text
    return row.kind in SEND_AGAIN_KINDS


def sweep_outbound(
    rt: Runtime, account_id: int, *, dead: Collection[str] = (), everything: bool = False
) -> int:
    """Queue the account's rows whose job went missing; reconcile those whose worker died
    (one in `dead`, or silent past SENDING_STALE).

    `everything`: Redis lost its data, so every pending row's job is gone: the due ones
    are queued now, the scheduled ones again for their time.
    """
    now = rt.clock()
    with rt.sessions() as session:
        pending, stuck = rows.stuck(
            session,
            account_id,
            now,
            sending_before=now - SENDING_STALE,
            due_before=now if everything else now - PENDING_GRACE,
            dead=dead,
        )
        later = rows.pending_later(session, account_id, now) if everything else []
    for outbound_id in pending:
        enqueue_send(rt.team_queue, outbound_id)
    for outbound_id, run_at in later:
        enqueue_send(rt.team_queue, outbound_id, at=run_at)
    for outbound_id in stuck:
        enqueue_reconcile(rt.team_queue, outbound_id)
    if pending or stuck:
        logger.warning(
            "outbound sweep: %d pending re-queued, %d interrupted sends to reconcile",
            len(pending),
            len(stuck),
        )
    return len(pending) + len(stuck)


def _still_sending(rt: Runtime, row: Outbound) -> bool:
    """Whether the row's call may still be under way: its worker lives (or, if Roost
    does not know whose it is, the call began less than SENDING_STALE ago)."""
    if row.claimed_by is not None:
        return worker_alive(rt.redis, row.claimed_by)
    return (row.started_at or rt.clock()) > rt.clock() - SENDING_STALE


def _early_by(session: Session, outbound_id: int, now: datetime) -> timedelta | None:
    """How long before its time the row is, if it is."""
    row = session.get(Outbound, outbound_id)
    if row is None or row.run_at is None or row.run_at <= now:
        return None
    return row.run_at - now


def _waiting_for_earlier_part(session: Session, outbound_id: int) -> str | None:
    """A thread's part goes out only after the part it replies to: the sweep may find a
    later part due while an earlier one waits for a person's Retry."""
    row = session.get(Outbound, outbound_id)
    if row is None or row.kind != "post" or row.part == 0:
        return None
    earlier = previous_part(session, row)
    if earlier is not None and earlier.status != "sent":
        return f"waiting for part {row.part} of the thread ({earlier.status})"  # not spoken
    return None


def _uploads_lapse(session: Session, row: Outbound, wait: timedelta) -> bool:
    """Whether the media uploaded for the row may be gone once it has waited `wait`, by its
    network's rules (Rules.uploads_kept): then they go up again when it is sent."""
    network = session.get_one(Account, row.account_id).network
    return wait > rules_for(network).uploads_kept


MEDIA_RETRY = timedelta(minutes=1)
"""When Slack or the network fail while the media go up, the post waits this long and
tries again."""


def _needs_media(session: Session, outbound_id: int) -> bool:
    row = session.get(Outbound, outbound_id)
    if row is None or row.kind != "post" or row.part != 0 or row.media_ids:
        return False
    post = session.get(Post, row.post_id) if row.post_id is not None else None
    return bool(post and post.media and row.status == "pending")


def _claim_upload(rt: Runtime, outbound_id: int) -> bool:
    """Whether this worker may upload the row's media: no live worker is uploading them.

    A video can take minutes to go up, longer than the sweep waits for a due row; a copy
    of the job it queued would upload the video again, beside the first.
    """
    by = current_worker()
    if by is None:
        return True  # not in a worker (a test, a script): nothing to share the row with
    with rt.sessions.begin() as session:
        holder = session.get_one(Outbound, outbound_id, populate_existing=True).claimed_by
        if holder not in (None, by) and worker_alive(rt.redis, holder):
            logger.info("outbound %s: %s is uploading its media", outbound_id, holder)
            return False
        return rows.claim_upload(session, outbound_id, by, rt.clock(), taking_from=holder)


def _upload_media(rt: Runtime, outbound_id: int) -> str | None:
    """Download the post's files from Slack and upload them to the account's network,
    before the row is claimed: uploading posts nothing, so a failure here only means
    trying again, and a long video processing never looks like an interrupted send.
    None when the media are up; otherwise what happened."""
    if not _claim_upload(rt, outbound_id):
        return "media upload under way in another worker"  # not spoken: the job's result
    with rt.sessions() as session:
        row = session.get_one(Outbound, outbound_id)
        account = session.get_one(Account, row.account_id)
        files = list(session.get_one(Post, row.post_id).media)
    network: Network | None = None
    try:
        network = network_for(rt, account)
        media_ids = [network.upload(Attachment(download(rt, f), f["mimetype"])) for f in files]
    except (Unavailable, OutcomeUnknown, RateLimited, SlackUnavailable) as exc:
        at = exc.reset_at if isinstance(exc, RateLimited) else rt.clock() + MEDIA_RETRY
        logger.warning("outbound %s: media not uploaded (%s); trying again at %s", row.id, exc, at)
        with rt.sessions.begin() as session:
            rows.set_media(session, outbound_id, None)
        enqueue_send(rt.team_queue, outbound_id, at=at)
        return "media upload will be tried again"  # not spoken: the job's result
    except RoostError as exc:
        _fail_pending(
            rt,
            outbound_id,
            _("The media could not go up to {network}: {error}").format(
                network=links.label(account.network), error=exc
            ),
        )
        return "failed"
    except BaseException:
        # Anything else (a bug, RQ's job timeout) ends the upload too: let go of the row,
        # or no other worker would take it while this one lives.
        with rt.sessions.begin() as session:
            rows.set_media(session, outbound_id, None)
        raise
    finally:
        if network is not None:
            network.close()
    with rt.sessions.begin() as session:
        rows.set_media(session, outbound_id, media_ids)
    return None


def _past_hard_cap(rt: Runtime, outbound_id: int) -> str | None:
    """Why the row must not go: its send would take the account past its hard cap."""
    with rt.sessions() as session:
        row = session.get(Outbound, outbound_id)
        if row is None or row.status != "pending":
            return None
        account = session.get_one(Account, row.account_id)
    budget = budget_of(rt, account)
    if budget is None:
        return None
    return budget.why() if budget.refuses({_price_kind(rt, row): 1}) else None


def _price_kind(rt: Runtime, row: Outbound) -> str:
    """What X bills for the row's send (bot.x.prices.send_kind): a reply to a post that did
    not summon the account is priced as a post."""
    summoned = True
    if row.kind == "reply" and row.mention_id is not None:
        with rt.sessions() as session:
            summoned = _summoned(session.get(Mention, row.mention_id))
    return send_kind(row.kind, row.text, summoned=summoned)


def _summoned(mention: Mention | None) -> bool:
    """Whether the post a reply answers summoned the account (unknown counts as so)."""
    return mention is None or mention.summons is not False


def _author_may_not_post(session: Session, outbound_id: int) -> str | None:
    """Why a composed post's author, or the sender of an answer to a whole surge group, may
    no longer send as its account, if they may not: neither must outlive its author's
    role."""
    row = session.get(Outbound, outbound_id)
    if row is None or row.actor_id is None or row.status != "pending":
        return None
    if row.kind != "post" and row.batch_id is None:
        return None
    if role_on(session, row.actor_id, row.account_id) in ("owner", "agent"):
        return None
    return _("Its author no longer has a role that posts as this account, so it was not sent.")


def _fail_pending(rt: Runtime, outbound_id: int, error: str) -> None:
    with rt.sessions.begin() as session:
        failed = rows.fail_pending(session, outbound_id, error)
        if failed is not None:
            record_event(
                session,
                "outbound.failed",
                rt.clock(),
                account_id=failed.account_id,
                outbound_id=outbound_id,
                action=failed.kind,
                error=error,
            )
    report(rt, outbound_id)


def _unavailable(rt: Runtime, row: Outbound, exc: Unavailable | SlackUnavailable) -> str:
    """The network could not be reached, so nothing was sent: try again later, within
    reason."""
    if row.attempts >= MAX_UNAVAILABLE_ATTEMPTS:
        gave_up = _("Gave up after {tries} tries.").format(tries=row.attempts)
        _settle(rt, row.id, "failed", error=f"{exc} {gave_up}")
        report(rt, row.id)
        return "failed"
    delay = UNAVAILABLE_BACKOFF[min(row.attempts, len(UNAVAILABLE_BACKOFF)) - 1]
    at = rt.clock() + timedelta(seconds=delay)
    with rt.sessions.begin() as session:
        lapse = _uploads_lapse(session, row, at - rt.clock())
        rows.back_to_pending(session, row.id, run_at=at, error=str(exc), forget_media=lapse)
    enqueue_send(rt.team_queue, row.id, at=at)
    logger.warning("outbound %s: %s; trying again in %ss", row.id, exc, delay)
    return "will retry"  # not spoken: the job's result


def _reconcile(
    rt: Runtime,
    row: Outbound,
    network: Network,
    *,
    reason: str,
    since: datetime | None = None,
    missing: str | None = None,
) -> str:
    """Look for the row's effect on its network, made at or after `since` (by default,
    when its call began) and not another row's: `sent` if found; else `failed` with the
    message `missing`, if given, or `unknown`, saying why."""
    with rt.sessions() as session:
        since = (since or row.started_at or row.created_at) - RECONCILE_SKEW
        claimed = rows.x_ids_of(session, row.account_id, row.kind, since=since, but=row.id)
        mention = session.get(Mention, row.mention_id) if row.mention_id is not None else None
        write = _write(session, row, mention)
        handle = session.get_one(Account, row.account_id).handle
    try:
        found = network.find_sent(write, since=since, exclude=frozenset(claimed))
    except NetworkError as exc:
        found = Found(False)
        reason += " " + _("Checking {network} failed too ({error}).").format(
            network=network.label, error=exc
        )
    reason = " ".join([reason, *found.notes])
    if found.made:
        logger.info("outbound %s was sent after all (%s)", row.id, found.ref)
        _settle(rt, row.id, "sent", x_id=found.ref, url=found.url)
        return "sent"
    if missing is not None:
        _settle(rt, row.id, "failed", error=missing)
        return "failed"
    if found.made is False:
        if row.kind != "dm":
            missing_now = _("The post is not among @{handle}'s latest on {network} yet.")
        else:
            missing_now = _("The DM is not among @{handle}'s latest on {network} yet.")
        reason += " " + missing_now.format(handle=handle, network=network.label)
    _settle(rt, row.id, "unknown", error=reason)
    return "unknown"


def _settle(
    rt: Runtime,
    outbound_id: int,
    status: str,
    *,
    x_id: str | None = None,
    url: str | None = None,
    error: str | None = None,
) -> None:
    now = rt.clock()
    with rt.sessions.begin() as session:
        row = rows.settle(session, outbound_id, status, now, x_id=x_id, url=url, error=error)
        if row is None:
            return
        if status == "sent" and row.mention_id is not None:
            _responded(session, row, now)
        account = session.get_one(Account, row.account_id)
        record_event(
            session,
            f"outbound.{status}",
            now,
            account_id=row.account_id,
            mention_id=row.mention_id,
            outbound_id=row.id,
            action=row.kind,
            x_id=x_id,
            url=(
                links.post_url(account.network, account.handle, x_id, stored=url)
                if x_id and row.kind == "reply"
                else None
            ),
            error=error,
        )
    if status == "sent" and row.kind in ("reply", "dm") and row.mention_id is not None:
        cancel_reminder(rt, row.mention_id)
    if status == "sent" and row.kind == "post":
        with rt.sessions() as session:
            following = next_part(session, row)
        if following is not None and following.status == "pending":
            enqueue_send(rt.team_queue, following.id)


def _responded(session: Session, row: Outbound, now: datetime) -> None:
    """A reply or DM answers the mention: its first response time, and status `replied`."""
    if row.kind not in ("reply", "dm"):
        return
    mention = session.get_one(Mention, row.mention_id, with_for_update=True)
    if mention.first_response_at is None or now < mention.first_response_at:
        mention.first_response_at = now
        mention.first_responder_id = row.actor_id
    if mention.status in ("open", "assigned"):
        mention.status = "replied"
