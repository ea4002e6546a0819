"""Watches (words watched on X beyond an account's @mentions): queries over the table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Account, Watch


def running_watches(session: Session) -> list[tuple[Watch, Account]]:
    """The watches to read: not stopped, not refused by X, of an account whose intake runs."""
    found = session.execute(
        select(Watch, Account)
        .join(Account, Account.id == Watch.account_id)
        .where(
            Watch.stopped_at.is_(None),
            Watch.refused.is_(None),
            Account.intake_status == "active",
        )
        .order_by(Watch.id)
    )
    return [(watch, account) for watch, account in found]


def watches_of(session: Session, account_ids: list[int]) -> list[Watch]:
    """The accounts' watches, running ones first, each group oldest first."""
    return list(
        session.scalars(
            select(Watch)
            .where(Watch.account_id.in_(account_ids))
            .order_by(Watch.stopped_at.is_not(None), Watch.id)
        )
    )


def live_watches(session: Session, account_id: int) -> list[Watch]:
    """The account's watches that are not stopped."""
    return list(
        session.scalars(
            select(Watch).where(Watch.account_id == account_id, Watch.stopped_at.is_(None))
        )
    )


def count_read(session: Session, watch_id: int, month: str, posts: int, micros: int) -> int:
    """Add a read's posts and cost to the watch's month (a new month starts from nothing);
    the month's micro-dollars so far."""
    watch = session.get_one(Watch, watch_id, with_for_update=True)
    if watch.month != month:
        watch.month, watch.month_posts, watch.month_micros = month, 0, 0
    watch.month_posts += posts
    watch.month_micros += micros
    return watch.month_micros


def month_micros(watch: Watch, month: str) -> int:
    """What the watch's reads cost in `month` (YYYY-MM)."""
    return watch.month_micros if watch.month == month else 0


def cap(session: Session, watch_id: int, month: str, budget_micros: int) -> bool:
    """Stop the watch for `month`, its budget of `budget_micros` reached; True if this call
    stopped it. A budget raised meanwhile stands: the watch is not stopped."""
    done = session.execute(
        update(Watch)
        .where(
            Watch.id == watch_id,
            Watch.budget_micros == budget_micros,
            (Watch.capped_month.is_(None)) | (Watch.capped_month != month),
        )
        .values(capped_month=month),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(done, "rowcount", 0))


def read_whole(
    session: Session,
    watch_id: int,
    newest: int | None,
    newest_at: datetime | None,
    now: datetime,
) -> None:
    """A read is whole: the cursor moves to its newest post, if it found one."""
    watch = session.get_one(Watch, watch_id)
    if newest is not None and (watch.since_id is None or newest > watch.since_id):
        watch.since_id, watch.since_at = newest, newest_at
    watch.resume = None
    watch.last_polled_at, watch.last_error = now, None


def read_cut_short(
    session: Session,
    watch_id: int,
    resume: dict[str, Any] | None,
    now: datetime,
    why: str | None,
) -> None:
    """A read stopped before its end: the next goes on from `resume` (None: starts anew)."""
    watch = session.get_one(Watch, watch_id)
    watch.resume = resume
    watch.last_polled_at, watch.last_error = now, why
