"""Queries on people on X as the team knows them: their earlier mentions, the notes that
follow them, and the marks the team gave them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Account, Member, Mention, PersonFlag, PersonNote


@dataclass(frozen=True, slots=True)
class Known:
    """What Roost knows of a mention's author from before it."""

    conversations: int  # earlier conversations with the brand's accounts
    last_at: datetime | None
    last_status: str | None
    last_answered_by: str | None  # a Slack user
    notes: int
    flag: str | None

    @property
    def anything(self) -> bool:
        return bool(self.conversations or self.notes or self.flag)


WITH_THE_BRAND = Mention.watch_id.is_(None) | Mention.first_response_at.is_not(None)
"""A post that was a conversation with the brand: a mention, or a post a watch found that
the team answered (a post it only saw is not)."""


def known_before(session: Session, author_id: int | None, mention_id: int) -> Known | None:
    """What is known of the author from before this mention; None for an unknown author."""
    if author_id is None:
        return None
    earlier = (
        Mention.author_id == author_id,
        Mention.id < mention_id,
        Mention.slack_thread_ts.is_(None),  # a card of its own: one a conversation
        WITH_THE_BRAND,
    )
    conversations = int(
        session.scalar(select(func.count(func.distinct(Mention.conversation_id))).where(*earlier))
        or 0
    )
    last = session.execute(
        select(Mention.created_at, Mention.status, Member.user_id)
        .outerjoin(Member, Member.id == Mention.first_responder_id)
        .where(*earlier)
        .order_by(Mention.id.desc())
        .limit(1)
    ).one_or_none()
    notes = int(session.scalar(select(func.count()).where(PersonNote.author_id == author_id)) or 0)
    flag = session.scalar(select(PersonFlag.flag).where(PersonFlag.author_id == author_id))
    return Known(
        conversations,
        last.created_at if last else None,
        last.status if last else None,
        last.user_id if last else None,
        notes,
        flag,
    )


def earlier_mentions(
    session: Session, author_id: int, before_id: int, limit: int
) -> list[tuple[Mention, str]]:
    """The author's earlier mentions with their cards (newest first) and the account's
    handle each was to."""
    return [
        (mention, handle)
        for mention, handle in session.execute(
            select(Mention, Account.handle)
            .join(Account, Account.id == Mention.account_id)
            .where(Mention.author_id == author_id, Mention.id < before_id, WITH_THE_BRAND)
            .order_by(Mention.id.desc())
            .limit(limit)
        )
    ]


def notes_about(session: Session, author_id: int, limit: int) -> list[PersonNote]:
    return list(
        session.scalars(
            select(PersonNote)
            .where(PersonNote.author_id == author_id)
            .order_by(PersonNote.created_at.desc(), PersonNote.id.desc())
            .limit(limit)
        )
    )


def author_by_handle(session: Session, handle: str) -> tuple[int, str] | None:
    """(X user id, @handle as X spells it) of someone who mentioned the brand, by handle."""
    found = session.execute(
        select(Mention.author_id, Mention.author_username)
        .where(
            func.lower(Mention.author_username) == handle.lstrip("@").lower(),
            Mention.author_id.is_not(None),
        )
        .order_by(Mention.id.desc())
        .limit(1)
    ).one_or_none()
    if found is None or found.author_id is None:
        return None
    return int(found.author_id), str(found.author_username)
