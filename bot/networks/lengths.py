"""Post lengths as Bluesky and Mastodon count them, and their bounds: pure functions with
no SDK behind them, so that a modal, a guard or a split counts without importing atproto or
Mastodon.py (atproto alone takes over a second to import).
"""

from __future__ import annotations

import re

import regex
import twitter_text

BLUESKY_MAX_GRAPHEMES = 300
"""A post's length as Bluesky counts it: grapheme clusters (app.bsky.feed.post)."""

BLUESKY_MAX_BYTES = 3000
"""A post's text in UTF-8 bytes: the lexicon's second bound, reached before 300 graphemes only
by long clusters (ZWJ emoji sequences, combining marks)."""

BLUESKY_MAX_DM_GRAPHEMES = 1000
"""A chat message's length (chat.bsky.convo.defs#messageInput)."""

BLUESKY_MAX_IMAGE_BYTES = 1_000_000
"""The largest image a post embeds (app.bsky.embed.images#image, its blob's maxSize)."""

MASTODON_MAX_CHARACTERS = 500
"""Mastodon's own limit, for an instance that does not say its own."""

MASTODON_MAX_IMAGE_BYTES = 16 * 1024 * 1024
"""The largest image Mastodon (4.x) takes by default; an instance may take less."""

MASTODON_URL_LENGTH = 23
"""What a URL counts for in a status, whatever its length (characters_reserved_per_url,
fixed in Mastodon's StatusLengthValidator)."""

# Account::MENTION_RE (Mastodon 4.3), with twitter-text's end-of-mention rule.
MASTODON_MENTION = re.compile(
    r"(?<![=/\w])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w+)?)(?![@＠\w]|://)",
    re.IGNORECASE,
)
_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """`text`'s length as Bluesky counts it: grapheme clusters (Unicode's UAX #29)."""
    return len(_GRAPHEME.findall(text))


def status_length(text: str) -> int:
    """`text`'s length as Mastodon's StatusLengthValidator counts it: grapheme clusters,
    with each URL as 23 and each mention as its local part (``@alice@example.org`` as
    ``@alice``). Roost sets no content warning, which would count too."""
    if not text.strip():
        return 0
    entities = [
        (url["indices"][0], url["indices"][1], "x" * MASTODON_URL_LENGTH)
        for url in twitter_text.extract_urls_with_indices(text, extract_urls_without_protocol=False)
    ]
    entities += [
        (match.start(), match.end(), "@" + match.group(2))
        for match in MASTODON_MENTION.finditer(text)
    ]
    countable, position = [], 0
    for start, end, counted in sorted(entities):
        if start < position:  # overlapping entities: the first one wins, as in Mastodon
            continue
        countable += [text[position:start], counted]
        position = end
    countable.append(text[position:])
    return graphemes("".join(countable))
