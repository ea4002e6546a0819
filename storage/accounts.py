"""Queries on accounts and their intake cursors."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.events import record_event
from storage.models import Account, IntakeCursor


def upsert_account(
    session: Session,
    *,
    x_user_id: int,
    handle: str,
    name: str,
    channel_id: str,
    auth_kind: str,
    sealed_credentials: str,
    now: datetime,
    token_expires_at: datetime | None = None,
    network: str = "x",
    service_url: str | None = None,
    post_limit: int | None = None,
) -> tuple[Account, bool]:
    """Add the account, or update its tokens and channel if it is known.

    Returns the account and whether it is new. Updating tokens also resumes
    an intake that stopped on a revoked token. The tokens' expiry is the new
    tokens' (None: unknown), never the old ones'. `x_user_id` is the account's id on
    its network (storage.refs' number for it, off X).
    """
    account = session.scalar(select(Account).where(Account.x_user_id == x_user_id))
    created = account is None
    if account is None:
        account = Account(x_user_id=x_user_id, created_at=now, cotags_enabled=True)
        account.banned_words = []
        account.sla_minutes = 60
        session.add(account)
    account.network = network
    account.service_url = service_url
    account.post_limit = post_limit
    account.handle = handle
    account.name = name
    account.channel_id = channel_id
    account.auth_kind = auth_kind
    account.credentials = sealed_credentials
    account.token_expires_at = token_expires_at
    account.intake_status = "active"
    account.intake_error = None
    account.intake_stopped_at = None
    account.updated_at = now
    session.flush()
    record_event(
        session,
        "account.added" if created else "account.updated",
        now,
        account_id=account.id,
        handle=handle,
        channel=channel_id,
        auth=auth_kind,
        network=network,
    )
    return account, created


def account_by_handle(session: Session, handle: str) -> Account | None:
    """The account with this @handle, however it is written (case, a leading @)."""
    return session.scalar(
        select(Account).where(func.lower(Account.handle) == handle.lstrip("@").lower())
    )


def active_accounts(session: Session, networks: Collection[str] | None = None) -> list[Account]:
    """Accounts whose intake should run (on these networks only, if given)."""
    query = select(Account).where(Account.intake_status == "active").order_by(Account.id)
    if networks is not None:
        query = query.where(Account.network.in_(networks))
    return list(session.scalars(query))


def stop_intake(session: Session, account_id: int, status: str, error: str, now: datetime) -> bool:
    """Stop an account's intake; True if this call stopped it (so tell the channel once)."""
    account = session.get(Account, account_id, with_for_update=True)
    if account is None or account.intake_status != "active":
        return False
    account.intake_status = status
    account.intake_error = error
    account.intake_stopped_at = now
    account.updated_at = now
    record_event(session, "intake.stopped", now, account_id=account_id, status=status, error=error)
    return True


def note_x_limit(session: Session, account_id: int, what: str, until: datetime) -> None:
    """The account spent one of X's limits: `what` (which, and what waits) until `until`.
    A later end wins over an earlier one, so a daily cap is not hidden by a 15-minute one."""
    session.execute(
        update(Account)
        .where(
            Account.id == account_id,
            or_(Account.x_limited_until.is_(None), Account.x_limited_until <= until),
        )
        .values(x_limit=what[:200], x_limited_until=until),
        execution_options={"synchronize_session": False},
    )


def cursor(session: Session, account_id: int, now: datetime) -> IntakeCursor:
    """The account's intake cursor, created on first use."""
    found = session.get(IntakeCursor, account_id)
    if found is None:
        found = IntakeCursor(account_id=account_id, updated_at=now)
        session.add(found)
    return found


def accounts_with_cursors(session: Session) -> list[tuple[Account, IntakeCursor | None]]:
    """Every account, by handle, with its intake cursor if it has one."""
    found = session.execute(
        select(Account, IntakeCursor)
        .outerjoin(IntakeCursor, IntakeCursor.account_id == Account.id)
        .order_by(Account.handle)
    )
    return [(account, entry) for account, entry in found]
