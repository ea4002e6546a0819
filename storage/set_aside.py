"""Queries on what was set aside: input that failed the same way every time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import SetAside

REASON_CHARS = 1000
"""Of a reason (often a database's error), what is kept."""


def set_aside(
    session: Session, kind: str, ref: str, reason: str, now: datetime, account_id: int | None
) -> None:
    """Keep `ref` aside with its reason; a second time counts and refreshes the reason."""
    reason = reason[:REASON_CHARS]
    session.execute(
        insert_into(session, SetAside.__table__)
        .values(
            kind=kind,
            ref=ref,
            account_id=account_id,
            reason=reason,
            times=0,
            first_at=now,
            last_at=now,
        )
        .on_conflict_do_nothing(index_elements=["kind", "ref"])
    )
    session.execute(
        update(SetAside)
        .where(SetAside.kind == kind, SetAside.ref == ref)
        .values(times=SetAside.times + 1, reason=reason, last_at=now),
        execution_options={"synchronize_session": False},
    )


def set_aside_of(session: Session) -> dict[int | None, list[SetAside]]:
    """Everything set aside, by account (None: no account), latest first."""
    found: dict[int | None, list[SetAside]] = {}
    for item in session.scalars(select(SetAside).order_by(SetAside.last_at.desc())):
        found.setdefault(item.account_id, []).append(item)
    return found


def forget(session: Session, kind: str, ref: str) -> None:
    """`ref` is no longer set aside: it worked after all."""
    session.execute(
        delete(SetAside).where(SetAside.kind == kind, SetAside.ref == ref),
        execution_options={"synchronize_session": False},
    )
