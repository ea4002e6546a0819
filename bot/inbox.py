"""Looking up mentions for the Slack surfaces."""

from __future__ import annotations

from bot.cards import tweet_url
from bot.runtime import Runtime
from storage.models import Mention


def mention_url(rt: Runtime, mention_id: int) -> str | None:
    """The X address of a stored mention, or None if there is no such mention."""
    with rt.sessions() as session:
        mention = session.get(Mention, mention_id)
        return tweet_url(mention.tweet_id, mention.author_username) if mention else None
