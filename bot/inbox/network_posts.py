"""Posts from every network, as the mentions intake stores them.

A network's adapter (bot.networks) gives its posts in its own ids; storage keeps numbers
(storage.refs): X's ids are numbers already, and the others' are numbered. Numbering a
page oldest first, each post after the thread's first post and the post it answers,
keeps mentions sorted by number sorted by time, as X's ids are, so a conversation's card
goes to its first mention on every network.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.networks.base import Post
from bot.x.normalize import clean
from storage.mentions import IncomingMention
from storage.models import Mention, Outbound
from storage.refs import numbers

HANDLE_KEPT = 300
"""The longest handle a mention keeps (a domain name, or a Mastodon user and instance)."""

NAME_KEPT = 640
"""The longest display name a mention keeps (Bluesky's own bound, in bytes, is 640)."""


def incoming(
    session: Session, account_id: int, network: str, posts: Sequence[Post]
) -> list[IncomingMention]:
    """`posts` as mentions of the account to store, oldest first, their ids numbered for
    Roost."""
    ordered = sorted(posts, key=lambda post: post.created_at)
    refs: list[str] = []
    for post in ordered:
        refs += [ref for ref in (post.root_ref, post.parent_ref, *post.versions, post.ref) if ref]
    numbered = numbers(session, network, refs)
    people = numbers(session, network, [post.author.ref for post in ordered])
    conversations = _conversations(session, account_id, ordered, numbered)
    return [
        IncomingMention(
            tweet_id=numbered[post.ref],
            conversation_id=conversations[post.ref],
            author_id=people[post.author.ref],
            text=clean(post.text),
            created_at=post.created_at,
            in_reply_to_tweet_id=numbered[post.parent_ref] if post.parent_ref else None,
            author_username=clean(post.author.handle)[:HANDLE_KEPT] or None,
            author_name=clean(post.author.name)[:NAME_KEPT] if post.author.name else None,
            author_followers=post.author.followers,
            author_verified=post.author.verified,
            author_protected=post.author.protected,
            lang=post.lang,
            media=[_media(item.kind, item.url, item.alt) for item in post.media],
            summons=post.summons,
            edit_history=tuple(numbered[version] for version in post.versions),
            url=post.url,
        )
        for post in ordered
    ]


def _conversations(
    session: Session, account_id: int, ordered: Sequence[Post], numbered: dict[str, int]
) -> dict[str, int]:
    """Each post's conversation: its thread's first post where the network names it
    (Bluesky's reply root). Where it does not (Mastodon names only the post answered), the
    conversation of the post answered, if Roost knows it (a stored mention, one earlier in
    this page, or the account's own reply to one), else that post: so an answer to the
    brand's reply goes into the card's thread, as on X."""
    parents = {numbered[p.parent_ref] for p in ordered if p.root_ref is None and p.parent_ref}
    known: dict[int, int] = {}
    if parents:
        stored = session.execute(
            select(Mention.tweet_id, Mention.conversation_id).where(
                Mention.account_id == account_id, Mention.tweet_id.in_(parents)
            )
        )
        known.update((tweet_id, conversation) for tweet_id, conversation in stored)
        replied = {p.parent_ref for p in ordered if p.root_ref is None and p.parent_ref}
        for x_id, conversation in session.execute(
            select(Outbound.x_id, Mention.conversation_id)
            .join(Mention, Mention.id == Outbound.mention_id)
            .where(Outbound.account_id == account_id, Outbound.x_id.in_(replied))
        ):
            if x_id is not None:
                known[numbered[x_id]] = conversation
    found: dict[str, int] = {}
    for post in ordered:
        if post.root_ref is not None or post.parent_ref is None:
            found[post.ref] = numbered[post.root_ref or post.ref]
        else:
            parent = numbered[post.parent_ref]
            found[post.ref] = known.get(parent, parent)
        known[numbered[post.ref]] = found[post.ref]
    return found


def since_added(posts: Sequence[Post], added_at: datetime) -> list[Post]:
    """The posts made since the account was added: connecting an account does not replay
    its history."""
    return [post for post in posts if post.created_at >= added_at]


def _media(kind: str, url: str, alt: str | None) -> dict[str, str]:
    entry = {"type": clean(kind)}
    if url:
        entry["url"] = clean(url)
    if alt:
        entry["alt"] = clean(alt)
    return entry
