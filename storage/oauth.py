"""Queries for connecting accounts with OAuth 2.0: states in flight, tokens stored and forgotten."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.accounts import stop_intake
from storage.events import record_event
from storage.models import Account, OAuthState


def add_state(
    session: Session,
    *,
    state: str,
    code_verifier: str,
    team_id: str,
    user_id: str,
    channel_id: str | None,
    now: datetime,
) -> None:
    """Remember a "Connect an account" started in Slack until X sends its state back."""
    session.add(
        OAuthState(
            state=state,
            code_verifier=code_verifier,
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            created_at=now,
        )
    )


def forget_states(session: Session, *, created_before: datetime) -> int:
    """Delete the states started before `created_before`; how many went."""
    gone = session.execute(delete(OAuthState).where(OAuthState.created_at < created_before))
    return int(gone.rowcount)  # type: ignore[attr-defined]


def use_state(session: Session, state: str, now: datetime) -> bool:
    """Mark the state used; False if it was used already (or never existed).

    One conditional UPDATE: of two callbacks racing with the same state,
    exactly one sees True.
    """
    used = session.execute(
        update(OAuthState)
        .where(OAuthState.state == state, OAuthState.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(used.rowcount)  # type: ignore[attr-defined]


def account_for_x_user(session: Session, x_user_id: int) -> Account | None:
    return session.scalar(select(Account).where(Account.x_user_id == x_user_id))


def replace_tokens(
    session: Session,
    account_id: int,
    *,
    expected: str,
    sealed_credentials: str,
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Store a refreshed token pair and its expiry in one UPDATE; False if the row no longer
    holds the `expected` sealed credentials (reconnected or disconnected meanwhile)."""
    stored = session.execute(
        update(Account)
        .where(Account.id == account_id, Account.credentials == expected)
        .values(credentials=sealed_credentials, token_expires_at=expires_at, updated_at=now)
    )
    return bool(stored.rowcount)  # type: ignore[attr-defined]


def disconnect_account(
    session: Session, account_id: int, *, sealed_credentials: str, actor: str, now: datetime
) -> Account | None:
    """Forget the account's tokens and stop its intake as "disconnected", with an audit entry."""
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        return None
    account.credentials = sealed_credentials
    account.token_expires_at = None
    error = "Disconnected from Roost; connect the account again to resume."
    if not stop_intake(session, account_id, "disconnected", error, now):
        # Already stopped (a revoked token, say): it is disconnected now all the same.
        account.intake_status = "disconnected"
        account.intake_error = error
    account.updated_at = now
    record_event(
        session,
        "account.disconnected",
        now,
        actor=actor,
        account_id=account_id,
        handle=account.handle,
    )
    return account
