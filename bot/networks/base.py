"""The seam between Roost and a social network: what Roost asks of every network, in the
network's own words for ids and in Roost's for everything else.

A network's ids are strings here (an X post id, a Bluesky at:// URI, a Mastodon status
id), its times are aware UTC datetimes, and its failures are Roost's network errors
(`bot.errors.NetworkError` and its kinds), each with a sentence a person can act on.
Writes say whether they can have taken effect: `Unavailable` only when the call never
reached the network, `OutcomeUnknown` when it may have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Author:
    """Someone on a network: `ref` is the network's id for them (an X user id, a
    Bluesky DID, a Mastodon account id), `handle` as the network writes it without the
    @ (acme, acme.bsky.social, acme@mastodon.social)."""

    ref: str
    handle: str
    name: str | None = None


@dataclass(frozen=True)
class Media:
    """An image, video or GIF attached to a post someone else made."""

    kind: str  # "photo", "video", "animated_gif"
    url: str
    alt: str | None = None


@dataclass(frozen=True)
class Attachment:
    """An image Roost attaches to a post it makes: the bytes, their type, and the text
    that describes it to people who cannot see it."""

    data: bytes
    mime: str
    alt: str = ""


@dataclass(frozen=True)
class Post:
    """One post as Roost keeps it, whichever network it is on.

    `root_ref` is the first post of its thread (None when it is that first post) and
    `parent_ref` the post it answers; `summons` whether it names the account (a reply
    in a thread the account is in need not). `visibility` is Mastodon's (public,
    unlisted, private, direct) and None elsewhere: a reply keeps its post's.
    """

    ref: str
    author: Author
    text: str
    created_at: datetime
    url: str
    root_ref: str | None = None
    parent_ref: str | None = None
    lang: str | None = None
    summons: bool = True
    visibility: str | None = None
    media: tuple[Media, ...] = ()


@dataclass(frozen=True)
class MentionPage:
    """What `Network.mentions` read: the posts, oldest first, and the cursor to read on
    from (to be kept only once they are stored)."""

    posts: list[Post]
    cursor: str | None
    more: bool = False  # the read stopped at its bound: more wait after the cursor


@dataclass(frozen=True)
class Capabilities:
    """What a network offers, so that cards show only the buttons it has."""

    dm: bool
    repost: bool = True
    media: int = 4  # images one post may carry
    dm_word: str = "DM"  # what the network calls a private message
    # Whether the network drops a repeated write by Roost's key (Mastodon's
    # Idempotency-Key): only then is a post whose answer was lost sent again unseen.
    keyed_writes: bool = False


@dataclass(frozen=True)
class Limits:
    """How long a post may be, counted as the network counts it."""

    max_length: int
    unit: str  # "weighted characters", "graphemes", "characters"
    extra: dict[str, int] = field(default_factory=dict)


class Network(Protocol):
    """One connected account on one network, as Roost acts through it."""

    name: str  # "x", "bluesky", "mastodon"
    label: str  # "X", "Bluesky", "Mastodon", as a person reads it
    capabilities: Capabilities

    def me(self) -> Author:
        """The account this adapter acts as (checks the credentials)."""
        ...

    def limits(self) -> Limits:
        """How long a post may be on this network (or instance)."""
        ...

    def length(self, text: str) -> int:
        """`text`'s length as this network counts it against `limits().max_length`."""
        ...

    def mentions(self, cursor: str | None) -> MentionPage:
        """Posts that mention or answer the account since `cursor` (None: only the
        newest page, never the whole history), oldest first."""
        ...

    def lookup(self, ref: str) -> Post:
        """One post by its id (`NotFound` when it is gone)."""
        ...

    def post(self, text: str, *, media: Sequence[Attachment] = (), key: str | None = None) -> Post:
        """A new post by the account. `key` is Roost's idempotency key for this write: a
        network that honours one (Mastodon's Idempotency-Key) drops a repeat of it, the
        others ignore it."""
        ...

    def reply(
        self,
        parent_ref: str,
        text: str,
        *,
        media: Sequence[Attachment] = (),
        key: str | None = None,
    ) -> Post:
        """The account's answer to `parent_ref`, in its thread (and, on Mastodon, at its
        visibility)."""
        ...

    def dm(self, to: Author, text: str, *, key: str | None = None) -> str:
        """A private message to `to`; the id of the message. `Forbidden` where the network
        or the person does not take one (`RecipientClosed` when the person does not)."""
        ...

    def find_own(self, text: str, *, since: datetime, parent_ref: str | None = None) -> Post | None:
        """The account's own post with `text` made since `since` (answering `parent_ref`
        when given), or None: how an `OutcomeUnknown` write is settled before any retry."""
        ...

    def repost(self, ref: str) -> str:
        """The account reposts `ref` (a retweet, a Bluesky repost, a Mastodon boost); the
        id of the repost."""
        ...

    def undo_repost(self, ref: str) -> None:
        """Takes the account's repost of `ref` back (nothing when there is none)."""
        ...

    def post_url(self, handle: str, ref: str) -> str:
        """Where a person opens the post `ref` by `handle`."""
        ...

    def close(self) -> None:
        """Let go of the adapter's connections (it is not used after)."""
        ...
