"""How each network counts a post and how long it may be, so that every modal, guard and
split says what the network itself will enforce.

X counts a weighted length (twitter-text), Bluesky grapheme clusters, and Mastodon grapheme
clusters with a link as 23 and a mention as its local part, up to its instance's own limit
(kept on the account when it is connected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.networks import bluesky, mastodon
from bot.x.text import MAX_WEIGHTED_LENGTH, weighted_length


@dataclass(frozen=True)
class Rules:
    """What a network takes in one post or private message."""

    count: Callable[[str], int]
    limit: int
    dm_limit: int
    # X's rule since 2026-02-23: a self-serve app replies in public only to posts that
    # summoned the account (the other networks let anyone answer).
    summons_rule: bool = False
    # Each server sets its own limit (Mastodon's instances): the account keeps its own.
    per_instance: bool = False


RULES = {
    "x": Rules(weighted_length, MAX_WEIGHTED_LENGTH, 10_000, summons_rule=True),
    "bluesky": Rules(bluesky.length, bluesky.MAX_GRAPHEMES, bluesky.MAX_DM_GRAPHEMES),
    "mastodon": Rules(
        mastodon.status_length,
        mastodon.MAX_CHARACTERS,
        mastodon.MAX_CHARACTERS,
        per_instance=True,
    ),
}


def rules_for(network: str, post_limit: int | None = None) -> Rules:
    """The network's rules; `post_limit` is the account's own instance's limit where the
    network lets each server choose (Mastodon's direct messages are posts too)."""
    rules = RULES[network]
    if post_limit is None or not rules.per_instance:
        return rules
    return replace(rules, limit=post_limit, dm_limit=post_limit)
