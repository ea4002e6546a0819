"""The languages channels speak (bot.team.language): queries over their table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import ChannelLanguage


def channel_language(session: Session, channel_id: str) -> str | None:
    """The language set for the channel; None where nobody set one."""
    return session.scalar(
        select(ChannelLanguage.language).where(ChannelLanguage.channel_id == channel_id)
    )


def set_channel_language(
    session: Session, channel_id: str, language: str | None, user: str, now: datetime
) -> None:
    """Set the channel's language, or (None) let it speak the workspace's again. Two
    settings at once: the later one stands (an upsert, not a delete and an insert)."""
    if language is None:
        session.execute(delete(ChannelLanguage).where(ChannelLanguage.channel_id == channel_id))
        return
    values = {"channel_id": channel_id, "language": language, "set_by": user, "set_at": now}
    session.execute(
        insert_into(session, ChannelLanguage.__table__)
        .values(**values)
        .on_conflict_do_update(index_elements=["channel_id"], set_=values)
    )
