"""Queries on routes, and on the channel an account's cards go to when no route matches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Account, Mention, Route


def routes_of(session: Session, account_id: int) -> list[Route]:
    """The account's routes in the order they are tried: the first match wins."""
    return list(
        session.scalars(
            select(Route).where(Route.account_id == account_id).order_by(Route.position, Route.id)
        )
    )


def append_route(
    session: Session,
    *,
    account_id: int,
    pattern: str,
    is_regex: bool,
    channel_id: str,
    created_by: str | None,
    now: datetime,
) -> Route:
    """Add a route after the account's others, so it is tried last."""
    # Two routes added at once may share a position; the id then orders them.
    last = session.scalar(select(func.max(Route.position)).where(Route.account_id == account_id))
    route = Route(
        account_id=account_id,
        pattern=pattern,
        is_regex=is_regex,
        channel_id=channel_id,
        position=0 if last is None else last + 1,
        created_by=created_by,
        created_at=now,
    )
    session.add(route)
    session.flush()
    return route


def delete_route(session: Session, route_id: int) -> Route | None:
    """Remove the route; returns it as it was, or None if it was gone already."""
    route = session.get(Route, route_id)
    if route is not None:
        session.delete(route)
        session.flush()
    return route


def set_account_channel(
    session: Session, account_id: int, channel_id: str, now: datetime
) -> str | None:
    """Send the account's unrouted cards to `channel_id`; returns the channel it had."""
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        return None
    previous = account.channel_id
    account.channel_id = channel_id
    account.updated_at = now
    return previous


def latest_cards(session: Session, account_id: int, limit: int) -> list[Mention]:
    """The account's latest `limit` cards (conversations' first mentions), newest first."""
    return list(
        session.scalars(
            select(Mention)
            .where(
                Mention.account_id == account_id,
                Mention.root_tweet_id == Mention.tweet_id,
                Mention.watch_id.is_(None),  # routes send mentions; a watch has its channel
            )
            .order_by(Mention.tweet_id.desc())
            .limit(limit)
        )
    )
