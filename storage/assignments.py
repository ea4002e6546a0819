"""Queries on who handles what: assignees, the lists people work from, thread notes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Account, Grant, Member, Mention, Note
from storage.team import ACTING_ROLES

CLOSED = ("resolved", "ignored")
"""Statuses that take a mention off everyone's list."""

OPEN = ("open", "assigned", "replied")
"""Every other status: IN on these, unlike NOT IN on CLOSED, can use an index on status."""


def set_assignee(
    session: Session, mention: Mention, assignee_id: int | None, now: datetime
) -> int | None:
    """Give the mention to `assignee_id` (None: to nobody), if it still has the assignee and
    status the caller read; returns the previous assignee, or raises Changed.

    An open mention becomes `assigned`, an assigned one `open` again when
    unassigned; a replied or closed one keeps its status. The UPDATE is
    conditional, so of two people assigning at once one wins and the other
    hears it changed (SQLite takes no row locks).
    """
    previous = mention.assignee_id
    status = mention.status
    if assignee_id is not None and status == "open":
        status = "assigned"
    elif assignee_id is None and status == "assigned":
        status = "open"
    same_assignee = (
        Mention.assignee_id.is_(None) if previous is None else Mention.assignee_id == previous
    )
    moved = session.execute(
        update(Mention)
        .where(Mention.id == mention.id, same_assignee, Mention.status == mention.status)
        .values(
            assignee_id=assignee_id,
            assigned_at=now if assignee_id is not None else None,
            status=status,
        ),
        execution_options={"synchronize_session": False},
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        raise Changed(mention.id)
    session.expire(mention)
    return previous


class Changed(Exception):
    """The mention's assignee or status changed since it was read."""


def card_in_thread(session: Session, channel: str, thread_ts: str) -> Mention | None:
    """The card whose thread this is, if it is a Roost card's."""
    return session.scalar(
        select(Mention).where(
            Mention.slack_channel == channel,
            Mention.slack_ts == thread_ts,
            Mention.slack_thread_ts.is_(None),
        )
    )


def add_note(
    session: Session, mention_id: int, author: str, channel: str, ts: str, text: str, now: datetime
) -> bool:
    """Keep a thread message as the mention's note; False if it was kept already."""
    # RETURNING, not rowcount: PostgreSQL's driver reports -1 for a conflicting INSERT here.
    kept = session.scalar(
        insert_into(session, Note.__table__)
        .values(
            mention_id=mention_id,
            author=author,
            slack_channel=channel,
            slack_ts=ts,
            text=text,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["slack_channel", "slack_ts"])
        .returning(Note.id)
    )
    return kept is not None


def notes_of(session: Session, mention_id: int) -> list[Note]:
    return list(
        session.scalars(select(Note).where(Note.mention_id == mention_id).order_by(Note.id))
    )


def _open_cards() -> Select[Mention, str]:
    return (
        select(Mention, Account.handle)
        .join(Account, Account.id == Mention.account_id)
        .where(Mention.tweet_id == Mention.root_tweet_id, Mention.status.not_in(CLOSED))
    )


def assigned_to(
    session: Session, member_id: int, limit: int
) -> tuple[list[tuple[Mention, str]], int]:
    """The member's open items, oldest first (at most `limit`), and how many there are."""
    query = _open_cards().where(Mention.assignee_id == member_id)
    return _page(session, query, limit)


def unassigned(
    session: Session, member_id: int, limit: int, account_ids: Sequence[int] | None = None
) -> tuple[list[tuple[Mention, str]], int]:
    """Open, unassigned items in the accounts the member has a role on, oldest first."""
    mine = select(Grant.account_id).where(Grant.member_id == member_id)
    # A watch's posts are not waiting for an answer: they are listed once someone takes one.
    query = _open_cards().where(
        Mention.assignee_id.is_(None), Mention.account_id.in_(mine), Mention.watch_id.is_(None)
    )
    if account_ids is not None:
        query = query.where(Mention.account_id.in_(account_ids))
    return _page(session, query, limit)


def _page(
    session: Session, query: Select[Mention, str], limit: int
) -> tuple[list[tuple[Mention, str]], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    found = session.execute(query.order_by(Mention.created_at, Mention.id).limit(limit))
    return [(mention, handle) for mention, handle in found], int(total)


def claim_reminder(session: Session, mention_id: int, now: datetime) -> Mention | None:
    """The right to send the mention's one SLA reminder: it is due, unanswered and open."""
    claim = (
        update(Mention)
        .where(
            Mention.id == mention_id,
            Mention.sla_reminded_at.is_(None),
            Mention.sla_due_at <= now,
            Mention.first_response_at.is_(None),
            Mention.status.not_in(CLOSED),
        )
        .values(sla_reminded_at=now)
        .returning(Mention)
    )
    return session.scalars(claim, execution_options={"synchronize_session": False}).one_or_none()


def release_reminder(session: Session, mention_id: int) -> None:
    session.execute(
        update(Mention).where(Mention.id == mention_id).values(sla_reminded_at=None),
        execution_options={"synchronize_session": False},
    )


def reminders_due(session: Session, account_id: int, now: datetime, limit: int = 200) -> list[int]:
    """Mentions whose reminder is due and was never sent (workers were down, Redis flushed)."""
    return list(
        session.scalars(
            select(Mention.id)
            .where(
                Mention.account_id == account_id,
                Mention.sla_reminded_at.is_(None),
                Mention.sla_due_at <= now,
                Mention.first_response_at.is_(None),
                Mention.status.not_in(CLOSED),
            )
            .limit(limit)
        )
    )


def next_on_duty(
    session: Session, account: Account, now: datetime, rostered: Collection[str] = ()
) -> Member | None:
    """The person on duty (by hand, or `rostered` by the account's rota now) the account's
    next card goes to, marked as given one now; None if auto-assign is off or nobody
    fits."""
    if account.auto_assign_max is None:
        return None
    open_items = (
        select(Mention.assignee_id, func.count(Mention.id).label("open"))
        .where(Mention.status.in_(OPEN), Mention.assignee_id.is_not(None))
        .group_by(Mention.assignee_id)
        .subquery()
    )
    chosen = session.scalar(
        select(Member)
        .join(Grant, Grant.member_id == Member.id)
        .outerjoin(open_items, open_items.c.assignee_id == Member.id)
        .where(
            Member.on_duty.is_(True) | Member.user_id.in_(list(rostered)),
            Grant.account_id == account.id,
            Grant.role.in_(ACTING_ROLES),
            func.coalesce(open_items.c.open, 0) < account.auto_assign_max,
        )
        .order_by(Member.auto_assigned_at.is_not(None), Member.auto_assigned_at, Member.id)
        .limit(1)
        .with_for_update(of=Member)
    )
    if chosen is not None:
        chosen.auto_assigned_at = now
    return chosen
