"""How each network counts a post and how long it may be, so that every modal, guard and
split says what the network itself will enforce; and what else about it the team's tools
must know before any call (whether calls are billed, whether it can be searched).

X counts a weighted length (twitter-text), Bluesky grapheme clusters, and Mastodon grapheme
clusters with a link as 23 and a mention as its local part, up to its instance's own limit
(kept on the account when it is connected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.networks.lengths import (
    BLUESKY_MAX_DM_GRAPHEMES,
    BLUESKY_MAX_GRAPHEMES,
    BLUESKY_MAX_IMAGE_BYTES,
    MASTODON_MAX_CHARACTERS,
    MASTODON_MAX_IMAGE_BYTES,
    graphemes,
    status_length,
)
from bot.x.text import MAX_WEIGHTED_LENGTH, weighted_length


@dataclass(frozen=True)
class Rules:
    """What a network takes in one post or private message."""

    count: Callable[[str], int]
    limit: int
    dm_limit: int
    # X's rules for self-serve apps since 2026-02-23: a public reply only to a post that
    # summoned the account, one cashtag a post (the other networks have neither).
    self_serve_rules: bool = False
    # Each server sets its own limit (Mastodon's instances): the account keeps its own.
    per_instance: bool = False
    # The largest image a post may carry (None: X's own checks, bot.outbound.media), and
    # whether a video or GIF may go instead of images.
    image_bytes: int | None = None
    video: bool = True
    # Whether each call is billed (X's pay-per-use API), so held to a budget.
    priced: bool = False
    # Whether Roost reads the network's search for watched words (bot.inbox.watch).
    searches: bool = False
    # How long an upload no post has used yet is trusted to last: a post kept waiting
    # longer (a rate limit, an outage) uploads its media again. X keeps a media id a day,
    # a Mastodon instance its unattached media about as long; Bluesky may delete an
    # unreferenced blob within minutes, so its go up again after any wait.
    uploads_kept: timedelta = timedelta(minutes=30)


RULES = {
    "x": Rules(
        weighted_length,
        MAX_WEIGHTED_LENGTH,
        10_000,
        self_serve_rules=True,
        priced=True,
        searches=True,
    ),
    "bluesky": Rules(
        graphemes,
        BLUESKY_MAX_GRAPHEMES,
        BLUESKY_MAX_DM_GRAPHEMES,
        image_bytes=BLUESKY_MAX_IMAGE_BYTES,
        video=False,
        uploads_kept=timedelta(0),
    ),
    "mastodon": Rules(
        status_length,
        MASTODON_MAX_CHARACTERS,
        MASTODON_MAX_CHARACTERS,
        per_instance=True,
        image_bytes=MASTODON_MAX_IMAGE_BYTES,
    ),
}


def rules_for(network: str, post_limit: int | None = None) -> Rules:
    """The network's rules; `post_limit` is the account's own instance's limit where the
    network lets each server choose (Mastodon's direct messages are posts too)."""
    rules = RULES[network]
    if post_limit is None or not rules.per_instance:
        return rules
    return replace(rules, limit=post_limit, dm_limit=post_limit)
