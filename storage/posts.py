"""Queries on composed posts and their outbound rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Account, Outbound, Post


def create_post(session: Session, **values: Any) -> int | None:
    """The post's id, or None if a post with its key (the modal's nonce) exists already."""
    return session.scalar(
        insert_into(session, Post.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Post.__table__.c.id)
    )


LIVE = Outbound.status != "cancelled"
"""The post's current rows: an edit cancels every row of the version it replaces."""


def rows_of(session: Session, post_id: int, *, with_cancelled: bool = False) -> list[Outbound]:
    query = select(Outbound).where(Outbound.post_id == post_id)
    if not with_cancelled:
        query = query.where(LIVE)
    return list(session.scalars(query.order_by(Outbound.account_id, Outbound.part)))


def previous_part(session: Session, row: Outbound) -> Outbound | None:
    """The thread part this part replies to."""
    if row.post_id is None or row.part == 0:
        return None
    return session.scalar(
        select(Outbound).where(
            Outbound.post_id == row.post_id,
            Outbound.account_id == row.account_id,
            Outbound.part == row.part - 1,
            LIVE,
        )
    )


def next_part(session: Session, row: Outbound) -> Outbound | None:
    if row.post_id is None:
        return None
    return session.scalar(
        select(Outbound).where(
            Outbound.post_id == row.post_id,
            Outbound.account_id == row.account_id,
            Outbound.part == row.part + 1,
            LIVE,
        )
    )


def parts_count(session: Session, row: Outbound) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Outbound)
        .where(Outbound.post_id == row.post_id, Outbound.account_id == row.account_id, LIVE)
    )
    return int(found or 0)


class Started(Exception):
    """Some of the post is being sent or was sent: it can no longer be changed."""


def withdraw(session: Session, post_id: int) -> None:
    """Cancel every row of the post, all or none: raises Started (rolling the caller's
    transaction back) if any row is sending or settled."""
    total = session.scalar(
        select(func.count()).select_from(Outbound).where(Outbound.post_id == post_id, LIVE)
    )
    moved = session.execute(
        update(Outbound)
        .where(Outbound.post_id == post_id, Outbound.status == "pending")
        .values(status="cancelled"),
        execution_options={"synchronize_session": False},
    )
    if moved.rowcount != total:  # type: ignore[attr-defined]
        raise Started(post_id)


def scheduled(
    session: Session, team_id: str, now: datetime, author_id: int | None = None
) -> list[tuple[Post, list[str]]]:
    """Posts with rows still waiting for their time, soonest first, with their accounts."""
    waiting = select(Outbound.post_id).where(Outbound.status == "pending")
    query = (
        select(Post)
        .where(
            Post.team_id == team_id,
            Post.cancelled_at.is_(None),
            Post.run_at > now,
            Post.id.in_(waiting),
        )
        .order_by(Post.run_at, Post.id)
    )
    if author_id is not None:
        query = query.where(Post.author_id == author_id)
    found = []
    for post in session.scalars(query):
        handles = session.scalars(
            select(Account.handle)
            .join(Outbound, Outbound.account_id == Account.id)
            .where(Outbound.post_id == post.id, Outbound.part == 0)
            .order_by(Account.handle)
        )
        found.append((post, list(handles)))
    return found
