"""The seam between Roost and a social network: what Roost asks of every network, in the
network's own words for ids and in Roost's for everything else.

A network's ids are strings here (an X post id, a Bluesky at:// URI, a Mastodon status
id), its times are aware UTC datetimes, and its failures are Roost's network errors
(`bot.errors.NetworkError` and its kinds), each with a sentence a person can act on.
Writes say whether they can have taken effect: `Unavailable` only when the call never
reached the network, `OutcomeUnknown` when it may have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    followers: int | None = None  # where the network says (X)
    verified: bool = False
    protected: bool = False  # their posts are shown to their followers only


@dataclass(frozen=True)
class Media:
    """An image, video or GIF attached to a post someone else made."""

    kind: str  # "photo", "video", "animated_gif"
    url: str = ""  # empty where the network gives none (an X video without a preview)
    alt: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file Roost attaches to a post it makes: the bytes, their type, and the text that
    describes it to people who cannot see it. It goes up with `Network.upload` before the
    post is made, which then names it by what the upload returned."""

    data: bytes
    mime: str
    alt: str = ""


@dataclass(frozen=True)
class Post:
    """One post as Roost keeps it, whichever network it is on.

    `root_ref` is the first post of its thread (None when it is that first post) and
    `parent_ref` the post it answers; `summons` whether it names the account (a reply
    in a thread the account is in need not; None: the network did not say). `visibility`
    is Mastodon's (public, unlisted, private, direct) and None elsewhere: a reply keeps
    its post's. `versions`: every version's id, oldest first, when it was edited (X gives
    each version an id of its own; `ref` is the newest).
    """

    ref: str
    author: Author
    text: str
    created_at: datetime
    url: str
    root_ref: str | None = None
    parent_ref: str | None = None
    lang: str | None = None
    summons: bool | None = True
    visibility: str | None = None
    media: tuple[Media, ...] = ()
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class MentionPage:
    """What `Network.mentions` read: the posts, oldest first, and the cursor to read on
    from (to be kept only once they are stored; None: it stays where it was)."""

    posts: list[Post]
    cursor: str | None
    more: bool = False  # the read stopped at its bound: more wait after the cursor
    # Why the read stopped before everything after the cursor was read (X's hard cap):
    # what was read is stored, the cursor stays, and the rest is read later.
    paused: str | None = None
    # The earliest the network lets the account read again, where its answers said so
    # (X's headers show a window spent); None: at the next period.
    next_read_at: datetime | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a network offers, so that cards show only the buttons it has, and how far a
    write whose answer was lost may be trusted to go again."""

    dm: bool
    repost: bool = True
    media: int = 4  # images one post may carry
    dm_word: str = "DM"  # what the network calls a private message
    # Whether the network drops a repeated write by Roost's key (Mastodon's
    # Idempotency-Key): then a post whose answer was lost may go again unseen.
    keyed_writes: bool = False
    # Whether it refuses a post repeating one the account just made (X, by its text),
    # raising `Duplicate`: then too a lost post may go again, and is found if it was made.
    refuses_repeats: bool = False


@dataclass(frozen=True)
class Write:
    """A write Roost made whose answer was lost, as `Network.find_sent` looks for it.

    `kind` is Roost's ("reply", "post", "dm", "retweet", "unretweet"); `parent_ref` the
    post a reply or a thread's next part answers, `target_ref` the post a repost is of,
    `to` whom a DM went to. `summoned`: the post answered named the account (X bills
    such a reply lower, and so bills it when it is found).
    """

    kind: str
    text: str = ""
    parent_ref: str | None = None
    target_ref: str | None = None
    to: Author | None = None
    summoned: bool = True


@dataclass(frozen=True)
class Found:
    """What `Network.find_sent` saw: `made` True (with the network's id and link for it,
    where it names one), False (not among what it shows yet), or None (the network shows
    nothing that could tell, such as a Bluesky repost). `notes` say in sentences what
    limited the look, for the person who settles it."""

    made: bool | None
    ref: str | None = None
    url: str | None = None
    notes: tuple[str, ...] = ()


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

    def mentions(
        self,
        cursor: str | None,
        *,
        since: datetime | None = None,
        before_page: Callable[[], None] = lambda: None,
    ) -> MentionPage:
        """Posts that mention or answer the account after `cursor`, oldest first. With no
        cursor yet, those made since `since` (when the account was connected: never its
        whole history), as far back as the network pages; None: the newest page.
        `before_page` is called before each page is read: what it raises ends the read
        (a listener that lost its lease stops before its standby reads the same)."""
        ...

    def after(self, position: str, other: str) -> bool:
        """Whether the cursor `position` stands past `other`: a cursor only moves forward."""
        ...

    def lookup(self, ref: str) -> Post:
        """One post by its id (`NotFound` when it is gone)."""
        ...

    def upload(self, attachment: Attachment) -> str:
        """Put a file up for a post to carry (an upload alone posts nothing); what the post
        names it by. Done before the post's write is claimed: a video may take minutes."""
        ...

    def post(self, text: str, *, media: Sequence[str] = (), key: str | None = None) -> Post:
        """A new post by the account, carrying the `media` uploaded for it. `key` is
        Roost's idempotency key for this write: a network that honours one (Mastodon's
        Idempotency-Key) drops a repeat of it, the others ignore it."""
        ...

    def reply(
        self,
        parent_ref: str,
        text: str,
        *,
        media: Sequence[str] = (),
        key: str | None = None,
        summoned: bool = True,
    ) -> Post:
        """The account's answer to `parent_ref`, in its thread (and, on Mastodon, at its
        visibility). `summoned`: `parent_ref` named the account, which X bills lower (not
        so a thread's next part, which answers the account's own post)."""
        ...

    def dm(self, to: Author, text: str, *, key: str | None = None) -> str:
        """A private message to `to`; the id of the message. `Forbidden` where the network
        or the person does not take one (`RecipientClosed` when the person does not)."""
        ...

    def find_sent(self, write: Write, *, since: datetime, exclude: frozenset[str]) -> Found:
        """Whether the account's `write` shows on the network, made since `since` and not
        one of `exclude` (what Roost's other writes made): how a write whose answer was
        lost is settled before anything is sent again."""
        ...

    def repost(self, ref: str) -> str | None:
        """The account reposts `ref` (a retweet, a Bluesky repost, a Mastodon boost); the
        id of the repost, where the network names one."""
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
