"""Queries on the team: members, their CoTags and their roles on accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.events import record_event
from storage.models import Account, Grant, Member

ROLES = ("owner", "agent", "needs-approval", "viewer")
"""Roles on an account, most to least trusted."""

ACTING_ROLES = frozenset({"owner", "agent", "needs-approval"})
"""Roles that may reply, DM, retweet and resolve as an account (needs-approval through an owner)."""


class CoTagTaken(Exception):
    """Another member of the team already signs with this CoTag."""


def member(session: Session, team_id: str, user_id: str, now: datetime) -> Member:
    """The team's member for a Slack user, created on first sight."""
    known = _member(session, team_id, user_id)
    if known is not None:
        return known
    # Two first clicks at once: the constraint keeps one row, and both read it.
    session.execute(
        insert_into(session, Member.__table__)
        .values(team_id=team_id, user_id=user_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "user_id"])
    )
    found = _member(session, team_id, user_id)
    assert found is not None
    return found


def _member(session: Session, team_id: str, user_id: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.team_id == team_id, Member.user_id == user_id)
    )


def set_cotag(
    session: Session, someone: Member, cotag: str, now: datetime, *, actor: str | None = None
) -> None:
    """Give the member this CoTag; raises CoTagTaken if a teammate has it."""
    holder = session.scalar(
        select(Member.user_id).where(
            Member.team_id == someone.team_id, Member.cotag == cotag, Member.id != someone.id
        )
    )
    if holder is not None:
        raise CoTagTaken(holder)
    previous = someone.cotag
    someone.cotag = cotag
    try:
        # The unique constraint settles a race between two people claiming one CoTag.
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise CoTagTaken(None) from None
    record_event(
        session,
        "member.cotag",
        now,
        actor=actor or someone.user_id,
        user=someone.user_id,
        previous=previous,
        cotag=cotag,
    )


def role_on(session: Session, member_id: int, account_id: int) -> str | None:
    return session.scalar(
        select(Grant.role).where(Grant.member_id == member_id, Grant.account_id == account_id)
    )


def roles_of(session: Session, team_id: str, user_id: str) -> dict[int, str]:
    """A Slack user's role on each account they hold one on: account id to role."""
    found = session.execute(
        select(Grant.account_id, Grant.role)
        .join(Member, Member.id == Grant.member_id)
        .where(Member.team_id == team_id, Member.user_id == user_id)
    )
    return {account_id: role for account_id, role in found}


def owners_of(session: Session, account_id: int) -> list[str]:
    """Slack user ids of the account's owners, who grant access and approve replies."""
    return list(
        session.scalars(
            select(Member.user_id)
            .join(Grant, Grant.member_id == Member.id)
            .where(Grant.account_id == account_id, Grant.role == "owner")
            .order_by(Member.user_id)
        )
    )


def grant(
    session: Session,
    account: Account,
    someone: Member,
    role: str,
    now: datetime,
    *,
    actor: str | None = None,
) -> None:
    """Give the member this role on the account, replacing any role they had."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    found = session.scalar(
        select(Grant).where(Grant.member_id == someone.id, Grant.account_id == account.id)
    )
    previous = found.role if found else None
    if found is None:
        session.add(Grant(member_id=someone.id, account_id=account.id, role=role, created_at=now))
    else:
        found.role = role
    record_event(
        session,
        "grant.set",
        now,
        actor=actor,
        account_id=account.id,
        user=someone.user_id,
        role=role,
        previous=previous,
    )


def revoke(
    session: Session, account: Account, someone: Member, now: datetime, *, actor: str | None
) -> str | None:
    """Take away the member's role on the account; the role they had, or None."""
    found = session.scalar(
        select(Grant).where(Grant.member_id == someone.id, Grant.account_id == account.id)
    )
    if found is None:
        return None
    session.delete(found)
    record_event(
        session,
        "grant.revoked",
        now,
        actor=actor,
        account_id=account.id,
        user=someone.user_id,
        previous=found.role,
    )
    return found.role


def grants_in_team(session: Session, team_id: str) -> list[tuple[Member, Account, str]]:
    """Every role in the team: (member, account, role), by member then account."""
    found = session.execute(
        select(Member, Account, Grant.role)
        .join(Grant, Grant.member_id == Member.id)
        .join(Account, Account.id == Grant.account_id)
        .where(Member.team_id == team_id)
        .order_by(Member.user_id, Account.handle)
    )
    return [(m, a, role) for m, a, role in found]


def members_of(session: Session, team_id: str) -> list[Member]:
    return list(
        session.scalars(select(Member).where(Member.team_id == team_id).order_by(Member.user_id))
    )


def grants_on(session: Session, account_id: int) -> list[tuple[str, str]]:
    """(Slack user id, role) of everyone with a role on the account."""
    found = session.execute(
        select(Member.user_id, Grant.role)
        .join(Grant, Grant.member_id == Member.id)
        .where(Grant.account_id == account_id)
        .order_by(Member.user_id)
    )
    return [(user, role) for user, role in found]
