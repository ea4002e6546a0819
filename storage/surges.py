"""Queries on surges, and the mention counts that find them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Mention, Surge


def open_surge(session: Session, account_id: int) -> Surge | None:
    """The account's surge under way, if one is."""
    return session.scalar(
        select(Surge).where(Surge.account_id == account_id, Surge.ended_at.is_(None))
    )


def start_surge(
    session: Session,
    account_id: int,
    now: datetime,
    *,
    rate: int,
    usual: float,
    by: str | None = None,
) -> Surge | None:
    """Open a surge for the account; None if one was open already (of two sweeps or
    clicks at once, one opens it)."""
    inserted = session.execute(
        insert_into(session, Surge.__table__)
        .values(
            account_id=account_id,
            started_at=now,
            started_by=by,
            rate=rate,
            usual=usual,
            peak=rate,
        )
        .on_conflict_do_nothing(index_elements=["account_id"], index_where=Surge.ended_at.is_(None))
        .returning(Surge.id)
    ).scalar()
    return session.get(Surge, inserted) if inserted is not None else None


def end_surge(session: Session, surge_id: int, now: datetime, by: str | None = None) -> bool:
    """End the surge if it is still open; whether this call ended it."""
    ended = session.execute(
        update(Surge)
        .where(Surge.id == surge_id, Surge.ended_at.is_(None))
        .values(ended_at=now, ended_by=by),
        execution_options={"synchronize_session": False},
    )
    return bool(ended.rowcount)  # type: ignore[attr-defined]


def note_peak(session: Session, surge_id: int, rate: int) -> None:
    session.execute(
        update(Surge).where(Surge.id == surge_id, Surge.peak < rate).values(peak=rate),
        execution_options={"synchronize_session": False},
    )


def posted_between(session: Session, account_id: int, start: datetime, end: datetime) -> int:
    """How many of the account's mentions were posted from `start` to `end`, both in, as X
    dates them: mentions read late (a back-fill after an outage) count when they were
    posted, not all at once when they were read."""
    return (
        session.scalar(
            select(func.count(Mention.id)).where(
                Mention.account_id == account_id,
                Mention.watch_id.is_(None),  # a watch's posts did not address the account
                Mention.created_at >= start,
                Mention.created_at <= end,
            )
        )
        or 0
    )


def posted_in(session: Session, account_id: int, spans: Sequence[tuple[datetime, datetime]]) -> int:
    """How many of the account's mentions were posted in any of `spans`, in one query."""
    if not spans:
        return 0
    return (
        session.scalar(
            select(func.count(Mention.id)).where(
                Mention.account_id == account_id,
                Mention.watch_id.is_(None),
                or_(
                    *(
                        Mention.created_at.between(s, e - timedelta(microseconds=1))
                        for s, e in spans
                    )
                ),
            )
        )
        or 0
    )
