"""Queries on notices: Roost's own Slack messages, each posted once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Notice


def claim_notice(session: Session, key: str, now: datetime) -> Notice:
    """Count one more try at posting this notice; the notice, its ts set if it is posted."""
    session.execute(
        insert_into(session, Notice.__table__)
        .values(key=key, attempts=0, first_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    session.execute(
        update(Notice).where(Notice.key == key).values(attempts=Notice.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    return session.get_one(Notice, key, populate_existing=True)


def record_notice(session: Session, key: str, channel: str, ts: str) -> None:
    session.execute(
        update(Notice).where(Notice.key == key).values(slack_channel=channel, slack_ts=ts),
        execution_options={"synchronize_session": False},
    )


def posted(session: Session, key: str) -> bool:
    """Whether the notice named `key` is in Slack."""
    notice = session.get(Notice, key)
    return notice is not None and notice.slack_ts is not None
