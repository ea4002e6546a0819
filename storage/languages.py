"""The languages channels speak (bot.team.language): queries over their table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import ChannelLanguage


def channel_language(session: Session, channel_id: str) -> str | None:
    """The language set for the channel; None where nobody set one."""
    return session.scalar(
        select(ChannelLanguage.language).where(ChannelLanguage.channel_id == channel_id)
    )


def set_channel_language(
    session: Session, channel_id: str, language: str | None, user: str, now: datetime
) -> None:
    """Set the channel's language, or (None) let it speak the workspace's again."""
    session.execute(delete(ChannelLanguage).where(ChannelLanguage.channel_id == channel_id))
    if language is not None:
        session.add(
            ChannelLanguage(channel_id=channel_id, language=language, set_by=user, set_at=now)
        )
