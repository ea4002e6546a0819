"""Queries on mentions: storing intake once, claiming cards for delivery."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Mention


@dataclass(frozen=True, slots=True)
class IncomingMention:
    """A mention as intake stores it: what the card needs, nothing from the wire."""

    tweet_id: int
    conversation_id: int
    author_id: int
    text: str
    created_at: datetime | None
    in_reply_to_tweet_id: int | None = None
    author_username: str | None = None
    author_name: str | None = None
    author_followers: int | None = None
    author_verified: bool = False
    author_protected: bool = False
    lang: str | None = None
    media: list[dict[str, str]] = field(default_factory=list)
    summons: bool | None = None  # see bot.x.normalize.summons
    edit_history: tuple[int, ...] = ()  # every version's id, oldest first, if edited
    watch_id: int | None = None  # the watch that found it (bot.inbox.watch), not a mention
    url: str | None = None  # where a person opens it, as its network gave it (else made)


@dataclass(frozen=True)
class Edit:
    """A stored mention whose post was edited: the text it had, and the new version."""

    mention_id: int
    version_id: int
    old_text: str


def apply_edits(
    session: Session, account_id: int, mentions: Sequence[IncomingMention], now: datetime
) -> tuple[list[IncomingMention], list[Edit]]:
    """Take the new versions of stored mentions out of `mentions`: each updates its stored
    mention (text, media, whether it summons; tweet_id stays the first version's) instead
    of becoming a mention of its own. Returns the mentions left to store, and the edits
    made. A version older than the stored one, seen late, changes nothing.
    """
    edited = [m for m in mentions if len(m.edit_history) > 1]
    if not edited:
        return list(mentions), []
    earlier = {version for m in edited for version in m.edit_history[:-1]}
    stored = {
        mention.tweet_id: mention
        for mention in session.scalars(
            select(Mention).where(Mention.account_id == account_id, Mention.tweet_id.in_(earlier))
        )
    }
    consumed: set[int] = set()
    edits = []
    for m in sorted(edited, key=lambda m: m.tweet_id):
        target = next((stored[v] for v in m.edit_history[:-1] if v in stored), None)
        if target is None:
            continue  # its first version was never a mention here: a mention of its own
        consumed.add(m.tweet_id)
        if target.version_id is not None and target.version_id >= m.tweet_id:
            continue
        edits.append(Edit(target.id, m.tweet_id, target.text))
        target.text, target.media, target.summons = m.text, m.media, m.summons
        target.version_id, target.edited_at = m.tweet_id, now
    return [m for m in mentions if m.tweet_id not in consumed], edits


def store_mentions(
    session: Session, account_id: int, mentions: Sequence[IncomingMention], received_at: datetime
) -> list[int]:
    """Insert the mentions not stored yet; return their tweet ids, oldest first.

    Unique on (account, tweet id), so a tweet seen twice — by poll and stream,
    after a restart, in a replayed page — is stored once and carded once.
    Each new mention is pointed at its conversation's card: the first mention
    of that conversation stored for this account.
    """
    if not mentions:
        return []
    seen = _stored_tweet_ids(session, account_id, {m.tweet_id for m in mentions})
    fresh = sorted(
        {m.tweet_id: m for m in mentions if m.tweet_id not in seen}.values(),
        key=lambda m: m.tweet_id,
    )
    if not fresh:
        return []
    # A new tweet that starts its conversation has nothing stored before it,
    # so only the other conversations' cards are looked up.
    # A post a watch found is a card of its own, and never a mention's: the two answer
    # differently (X lets Roost reply to mentions only).
    starters = {m.tweet_id for m in fresh}
    conversations = {m.conversation_id for m in fresh if m.watch_id is None}
    roots = _cards(session, account_id, conversations - starters)
    rows = [
        _row(
            account_id,
            m,
            m.tweet_id if m.watch_id else roots.setdefault(m.conversation_id, m.tweet_id),
            received_at,
        )
        for m in fresh
    ]
    # Executed once for many rows without RETURNING, so the driver pipelines
    # one prepared INSERT; ON CONFLICT covers a row stored meanwhile by
    # another process (its delivery is then queued twice, which the card
    # claim makes harmless).
    session.execute(
        insert_into(session, Mention.__table__).on_conflict_do_nothing(
            index_elements=["account_id", "tweet_id"]
        ),
        rows,
    )
    return [m.tweet_id for m in fresh]


def mention_ids(
    session: Session, account_id: int, tweet_ids: Sequence[int]
) -> list[tuple[int, int]]:
    """(mention id, tweet id) of the stored mentions of these tweets, oldest first."""
    found = session.execute(
        select(Mention.id, Mention.tweet_id)
        .where(Mention.account_id == account_id, Mention.tweet_id.in_(tweet_ids))
        .order_by(Mention.tweet_id)
    )
    return [(row.id, row.tweet_id) for row in found]


def _row(account_id: int, m: IncomingMention, root: int, received_at: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "tweet_id": m.tweet_id,
        "conversation_id": m.conversation_id,
        "root_tweet_id": root,
        "in_reply_to_tweet_id": m.in_reply_to_tweet_id,
        "author_id": m.author_id,
        "author_username": m.author_username,
        "author_name": m.author_name,
        "author_followers": m.author_followers,
        "author_verified": m.author_verified,
        "author_protected": m.author_protected,
        "text": m.text,
        "url": m.url,
        "lang": m.lang,
        "media": m.media,
        "summons": m.summons,
        "watch_id": m.watch_id,
        "created_at": m.created_at or received_at,
        "received_at": received_at,
        "status": "open",
        "flags": [],
    }


def _stored_tweet_ids(session: Session, account_id: int, tweet_ids: set[int]) -> set[int]:
    # A range, not a list: one short scan of the unique index, planned in no
    # time, and empty in the usual case of a page newer than all stored.
    in_range = session.scalars(
        select(Mention.tweet_id).where(
            Mention.account_id == account_id,
            Mention.tweet_id.between(min(tweet_ids), max(tweet_ids)),
        )
    )
    return set(in_range) & tweet_ids


def _cards(session: Session, account_id: int, conversations: set[int]) -> dict[int, int]:
    """The card (its tweet id) of each of these conversations that has one."""
    if not conversations:
        return {}
    cards = session.execute(
        select(Mention.conversation_id, Mention.root_tweet_id).where(
            Mention.account_id == account_id,
            Mention.conversation_id.in_(conversations),
            Mention.tweet_id == Mention.root_tweet_id,
            Mention.watch_id.is_(None),
        )
    )
    return {row.conversation_id: row.root_tweet_id for row in cards}


def claim_card(
    session: Session,
    mention_id: int,
    now: datetime,
    stale_after: timedelta,
    *,
    by: str | None = None,
) -> Mention | None:
    """Claim the right to post this mention's Slack message; the mention, or None.

    The mention for exactly one caller at a time: it has no message yet and
    nobody claimed it, or a claim went stale (its worker died: the sweep
    releases the claims of dead workers at once, and claims of unknown owners
    go stale after `stale_after`). `by` is the claiming worker's name.
    """
    claim = (
        update(Mention)
        .where(
            Mention.id == mention_id,
            Mention.slack_ts.is_(None),
            or_(Mention.card_claimed_at.is_(None), Mention.card_claimed_at < now - stale_after),
        )
        .values(card_claimed_at=now, card_claimed_by=by, card_attempts=Mention.card_attempts + 1)
        .returning(Mention)
    )
    return session.scalars(claim, execution_options={"synchronize_session": False}).one_or_none()


def release_card(session: Session, mention_id: int, *, posted_maybe: bool) -> None:
    """Give a claim back. Unless the try may have posted, it does not count as an
    attempt, so the next one need not look for its message first."""
    attempts = Mention.card_attempts if posted_maybe else Mention.card_attempts - 1
    session.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.slack_ts.is_(None))
        .values(card_claimed_at=None, card_claimed_by=None, card_attempts=attempts)
    )


def record_card(
    session: Session,
    mention_id: int,
    channel: str,
    ts: str,
    thread_ts: str | None,
    now: datetime,
    sla_due_at: datetime | None = None,
) -> None:
    session.execute(
        update(Mention)
        .where(Mention.id == mention_id)
        .values(
            slack_channel=channel,
            slack_ts=ts,
            slack_thread_ts=thread_ts,
            card_posted_at=now,
            card_error=None,
            sla_due_at=sla_due_at,
        )
    )


def record_card_error(session: Session, mention_id: int, error: str) -> None:
    """Note why the message could not be posted; the claim stays until it is stale,
    whatever becomes of the worker that made it."""
    session.execute(
        update(Mention)
        .where(Mention.id == mention_id)
        .values(card_error=error, card_claimed_by=None)
    )


def mark_queued(session: Session, account_id: int, tweet_ids: Sequence[int], now: datetime) -> None:
    """Note that these mentions' delivery is on the queue."""
    if tweet_ids:
        session.execute(
            update(Mention)
            .where(Mention.account_id == account_id, Mention.tweet_id.in_(tweet_ids))
            .values(queued_at=now)
        )


def claim_owners(session: Session) -> set[str]:
    """The workers holding claims on mentions not posted yet."""
    return set(
        session.scalars(
            select(Mention.card_claimed_by)
            .where(Mention.card_posted_at.is_(None), Mention.card_claimed_by.is_not(None))
            .distinct()
        )
    )


def release_claims_of(session: Session, workers: Collection[str]) -> int:
    """Release the claims these (dead) workers held; how many. Their tries count: the
    next one looks for a message they may have posted before dying."""
    if not workers:
        return 0
    released = session.execute(
        update(Mention)
        .where(Mention.card_posted_at.is_(None), Mention.card_claimed_by.in_(workers))
        .values(card_claimed_at=None, card_claimed_by=None)
    )
    return int(released.rowcount or 0)  # type: ignore[attr-defined]


def conversation_card(session: Session, mention: Mention) -> Mention | None:
    """The card a follow-up belongs under (None for a card itself)."""
    if mention.is_card:
        return None
    return session.scalar(
        select(Mention).where(
            Mention.account_id == mention.account_id, Mention.tweet_id == mention.root_tweet_id
        )
    )


def thread_size(session: Session, card: Mention) -> int:
    """How many later mentions of the card's conversation are in its thread."""
    count = session.scalar(
        select(func.count())
        .select_from(Mention)
        .where(
            Mention.account_id == card.account_id,
            Mention.root_tweet_id == card.tweet_id,
            Mention.tweet_id != card.tweet_id,
        )
    )
    return int(count or 0)


MAX_CARD_ATTEMPTS = 20
"""Past this many tries a mention's card needs a person; the sweep stops retrying it."""


def undelivered(
    session: Session,
    account_id: int,
    *,
    never_queued_before: datetime,
    queued_before: datetime,
    claimed_before: datetime,
    everything: bool = False,
    limit: int = 500,
) -> list[int]:
    """Tweet ids of mentions whose Slack message is missing and whose delivery job may be
    lost: never queued though stored before `never_queued_before` (the listener died
    between storing and queueing), or queued before `queued_before` and still not posted
    (Redis flushed, a job that keeps failing). With `everything` (Redis lost its data),
    all of them. A live claim is left alone.
    """
    lost = or_(
        and_(Mention.queued_at.is_(None), Mention.received_at < never_queued_before),
        Mention.queued_at < queued_before,
    )
    return list(
        session.scalars(
            select(Mention.tweet_id)
            .where(
                Mention.account_id == account_id,
                Mention.card_posted_at.is_(None),
                Mention.surge_held_at.is_(None),  # its surge group's card lists it
                *(() if everything else (lost,)),
                or_(Mention.card_claimed_at.is_(None), Mention.card_claimed_at < claimed_before),
                Mention.card_attempts < MAX_CARD_ATTEMPTS,
            )
            .order_by(Mention.tweet_id)
            .limit(limit)
        )
    )


def hold_for_surge(session: Session, mention_id: int, now: datetime) -> None:
    """Give back a card's claim (nothing was posted: not an attempt) and hold the mention
    for its surge group's card instead."""
    release_card(session, mention_id, posted_maybe=False)
    session.execute(
        update(Mention).where(Mention.id == mention_id).values(surge_held_at=now),
        execution_options={"synchronize_session": False},
    )


def release_from_surge(session: Session, mention_id: int) -> bool:
    """Let a held mention have its own card (a person opened it from its group); whether
    it was held."""
    released = session.execute(
        update(Mention)
        .where(Mention.id == mention_id, Mention.surge_held_at.is_not(None))
        .values(surge_held_at=None),
        execution_options={"synchronize_session": False},
    )
    return bool(released.rowcount)  # type: ignore[attr-defined]
