"""The audit log: who did what, as which account, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import Event


def record_event(
    session: Session,
    kind: str,
    at: datetime,
    *,
    actor: str | None = None,
    account_id: int | None = None,
    mention_id: int | None = None,
    **detail: Any,
) -> Event:
    """Add one entry; `actor` is a Slack user id, or None when Roost itself acted."""
    event = Event(
        kind=kind, at=at, actor=actor, account_id=account_id, mention_id=mention_id, detail=detail
    )
    session.add(event)
    return event
