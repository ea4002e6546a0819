"""Storing mentions: once per account and tweet, grouped by conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.runtime import Runtime
from storage.mentions import (
    IncomingMention,
    claim_card,
    claim_owners,
    mark_queued,
    mention_ids,
    release_claims_of,
    store_mentions,
    thread_size,
    undelivered,
)
from storage.models import Account, Mention

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def incoming(tweet_id: int, conversation_id: int | None = None) -> IncomingMention:
    return IncomingMention(
        tweet_id=tweet_id,
        conversation_id=conversation_id or tweet_id,
        author_id=200,
        text=f"@brand {tweet_id}",
        created_at=NOW,
        author_username="jane",
    )


def test_same_tweet_twice_is_stored_once(rt: Runtime, brand: Account) -> None:
    with rt.sessions.begin() as session:
        first = store_mentions(session, brand.id, [incoming(10), incoming(11)], NOW)
    with rt.sessions.begin() as session:
        again = store_mentions(session, brand.id, [incoming(11), incoming(12), incoming(12)], NOW)
    assert len(first) == 2 and len(again) == 1
    with rt.sessions() as session:
        assert session.scalars(select(Mention.tweet_id).order_by(Mention.tweet_id)).all() == [
            10,
            11,
            12,
        ]


def test_a_conversation_has_one_card_and_the_rest_go_in_its_thread(
    rt: Runtime, brand: Account
) -> None:
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, [incoming(21, 20), incoming(22, 20)], NOW)
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, [incoming(23, 20), incoming(30)], NOW)
    with rt.sessions() as session:
        rows = {m.tweet_id: m for m in session.scalars(select(Mention))}
        assert rows[21].is_card and not rows[22].is_card and not rows[23].is_card
        assert rows[22].root_tweet_id == rows[23].root_tweet_id == 21
        assert rows[30].is_card
        assert thread_size(session, rows[21]) == 2


def test_one_claim_at_a_time_until_it_goes_stale(rt: Runtime, brand: Account) -> None:
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, [incoming(40)], NOW)
        ((mention_id, _),) = mention_ids(session, brand.id, [40])
    stale = timedelta(minutes=2)
    with rt.sessions.begin() as session:
        assert claim_card(session, mention_id, NOW, stale)
    with rt.sessions.begin() as session:
        assert not claim_card(session, mention_id, NOW + timedelta(minutes=1), stale)
        assert claim_card(session, mention_id, NOW + timedelta(minutes=3), stale)


def test_undelivered_finds_mentions_whose_delivery_may_be_lost(rt: Runtime, brand: Account) -> None:
    with rt.sessions.begin() as session:
        never_queued = store_mentions(session, brand.id, [incoming(50)], NOW - timedelta(minutes=1))
        store_mentions(session, brand.id, [incoming(51)], NOW)  # its listener is queueing it
        queued_long_ago = store_mentions(
            session, brand.id, [incoming(52)], NOW - timedelta(hours=1)
        )
        mark_queued(session, brand.id, queued_long_ago, NOW - timedelta(minutes=5))
        waiting = store_mentions(session, brand.id, [incoming(53)], NOW - timedelta(hours=1))
        mark_queued(session, brand.id, waiting, NOW - timedelta(seconds=30))  # in a backlog
    with rt.sessions() as session:
        found = undelivered(
            session,
            brand.id,
            never_queued_before=NOW - timedelta(seconds=10),
            queued_before=NOW - timedelta(minutes=2),
            claimed_before=NOW - timedelta(minutes=10),
        )
        assert found == never_queued + queued_long_ago
        everything = undelivered(
            session,
            brand.id,
            never_queued_before=NOW,
            queued_before=NOW,
            claimed_before=NOW - timedelta(minutes=10),
            everything=True,
        )
        assert everything == [50, 51, 52, 53]


def test_a_dead_workers_claims_are_released_and_count_as_tries(rt: Runtime, brand: Account) -> None:
    with rt.sessions.begin() as session:
        ids = store_mentions(session, brand.id, [incoming(70), incoming(71)], NOW)
        claimed = [
            session.scalars(select(Mention.id).where(Mention.tweet_id == tweet_id)).one()
            for tweet_id in ids
        ]
        claim_card(session, claimed[0], NOW, timedelta(minutes=10), by="dead-worker")
        claim_card(session, claimed[1], NOW, timedelta(minutes=10), by="live-worker")
    with rt.sessions.begin() as session:
        assert claim_owners(session) == {"dead-worker", "live-worker"}
        assert release_claims_of(session, {"dead-worker"}) == 1
    with rt.sessions.begin() as session:
        again = claim_card(session, claimed[0], NOW, timedelta(minutes=10), by="new-worker")
        assert again is not None and again.card_attempts == 2  # so it looks before posting
        assert claim_card(session, claimed[1], NOW, timedelta(minutes=10)) is None


def test_a_reply_read_again_with_its_stored_card_joins_the_card(
    rt: Runtime, brand: Account
) -> None:
    """The stream stored the first tweet; a back-fill re-reads it with a new reply."""
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, [incoming(60)], NOW)
    with rt.sessions.begin() as session:
        assert store_mentions(session, brand.id, [incoming(60), incoming(61, 60)], NOW) == [61]
    with rt.sessions() as session:
        reply = session.scalars(select(Mention).where(Mention.tweet_id == 61)).one()
        assert reply.root_tweet_id == 60 and not reply.is_card
