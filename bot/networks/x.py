"""The X adapter: one account, through `bot.x.client.XClient` (tweepy), as a
`bot.networks.base.Network`.

What only X has rides with it. Every call is priced and metered (bot.x.meter), and the
account's budget is asked before each page of mentions and before looking for a lost
write: a look that could pass the hard cap is not made, and one made on a spent budget
reads a single page. X refuses a post that repeats one the account just made
(`Duplicate`), so a post whose answer was lost may go again. Media go up before the post,
a video in chunks and then processed, which can take minutes.

X's ids are numbers, written out here as strings like every network's.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot import clock
from bot.errors import NotFound
from bot.i18n import _
from bot.networks import links
from bot.networks.base import (
    Attachment,
    Author,
    Capabilities,
    Found,
    Limits,
    Media,
    MentionPage,
    Post,
    Write,
)
from bot.x.client import RECENT_POSTS_PAGES, XClient
from bot.x.media import upload
from bot.x.normalize import mentions_from_payload, parse_time
from bot.x.prices import CHECK_WORST_CASE, POLL_WORST_CASE, Charge, send_kind
from bot.x.text import MAX_WEIGHTED_LENGTH, weighted_length
from storage.mentions import IncomingMention

MENTION_PAGES = 500
"""Pages of mentions one read takes at most. X pages newest first, so the cursor can move
only once everything after it is read; its timeline serves the newest 800 mentions (8
pages), so the bound is never met: it is there so that no answer makes a read endless
(past it, the cursor would move on and what is older be left behind)."""

_URL = re.compile(r"https?://\S+")


class Allowance(Protocol):
    """What the account's X calls are held to this month (bot.team.budget.Limit)."""

    def reached(self, percent: int) -> bool: ...

    def refuses(self, units: Mapping[str, int]) -> bool: ...

    def why(self) -> str: ...


def post_url(handle: str | None, ref: str) -> str:
    return links.post_url("x", handle, ref)


class XNetwork:
    """One X account, as Roost acts through it (see `bot.networks.base.Network`)."""

    name = "x"
    label = "X"  # not spoken: a name, the same in every language
    capabilities = Capabilities(dm=True, repost=True, media=4, refuses_repeats=True)

    def __init__(
        self,
        client: XClient,
        *,
        user_id: int,
        handle: str,
        name: str | None = None,
        budget: Callable[[], Allowance | None] = lambda: None,
    ) -> None:
        """The account `user_id` (@`handle`) through `client`; `budget` says what its calls
        are held to now (None: nothing)."""
        self.client = client
        self._me = Author(str(user_id), handle, name)
        self._user_id = user_id
        self._budget = budget

    def __repr__(self) -> str:
        return f"XNetwork(@{self._me.handle})"

    def close(self) -> None:
        self.client.close()

    def me(self) -> Author:
        found = self.client.me()
        return Author(str(found["id"]), found["username"], found.get("name"))

    def limits(self) -> Limits:
        return Limits(max_length=MAX_WEIGHTED_LENGTH, unit="weighted")  # not spoken: a unit

    def length(self, text: str) -> int:
        return weighted_length(text)

    def post_url(self, handle: str, ref: str) -> str:
        return post_url(handle, ref)

    # --- reading ---

    def mentions(
        self,
        cursor: str | None,
        *,
        since: datetime | None = None,
        before_page: Callable[[], None] = lambda: None,
    ) -> MentionPage:
        """The account's mentions after `cursor` (the newest id read), oldest first, page by
        page until the cursor; with no cursor, back to the first made before `since` (or
        only the newest page). A budget whose hard cap the next page could pass stops the
        read there: what was read is given, the cursor stays (`paused` says why), and the
        rest is read, free the same UTC day, once the budget allows."""
        since_id = int(cursor) if cursor is not None else None
        newest: str | None = None
        token: str | None = None
        read: list[IncomingMention] = []
        for _page in range(MENTION_PAGES):
            before_page()
            budget = self._budget()
            if budget is not None and budget.refuses(POLL_WORST_CASE):
                return MentionPage(_posts(read), None, paused=budget.why())
            page = self.client.mentions_page(
                self._user_id, since_id=since_id, pagination_token=token
            )
            meta = page.get("meta") or {}
            newest = newest or meta.get("newest_id")
            read += mentions_from_payload(page, account_x_id=self._user_id)
            token = meta.get("next_token")
            if not token or (since_id is None and _reaches(page, since)):
                break
        spent = self.client.rate_limit.spent(clock.now())
        return MentionPage(
            _posts(read),
            str(newest) if newest is not None else cursor,
            next_read_at=spent.reset_at if spent is not None else None,
        )

    def after(self, position: str, other: str) -> bool:
        return int(position) > int(other)  # X's ids rise with time

    def lookup(self, ref: str) -> Post:
        """One post by its id (`NotFound` when it is gone, or is a retweet of another)."""
        found = mentions_from_payload(self.client.post(int(ref)))
        if not found:
            raise NotFound(_("That is a retweet on X: look up the post it shares."))
        return _post(found[0])

    def find_sent(self, write: Write, *, since: datetime, exclude: frozenset[str]) -> Found:
        """The account's `write` at X, made since `since`: a post or reply among its recent
        posts, a DM among the conversation's latest, a retweet on its timeline or among the
        post's retweeters. Within the budget: no look that could pass its hard cap, and on
        a spent budget only the cheapest read. What X billed for the write whose answer was
        lost is counted when it is found."""
        budget = self._budget()
        if budget is not None and budget.refuses(CHECK_WORST_CASE):
            # Not even the cheapest look fits under the hard cap: a person checks instead.
            return Found(False, notes=(_("X was not asked: {why}").format(why=budget.why()),))
        frugal = budget is not None and budget.reached(100)
        made, ref = self._find(write, since, exclude, frugal)
        if made:
            kind = send_kind(write.kind, write.text, summoned=write.summoned)
            self.client.bill([Charge(kind)])
            if ref is None or write.kind not in ("reply", "post"):
                return Found(True, ref)
            return Found(True, ref, post_url(self._me.handle, ref))
        notes: tuple[str, ...] = ()
        if frugal:
            notes = (
                _(
                    "Only the cheapest check was made: @{handle}'s X budget for this month is "
                    "spent."
                ).format(handle=self._me.handle),
            )
        return Found(False, notes=notes)

    def _find(
        self, write: Write, since: datetime, exclude: frozenset[str], frugal: bool
    ) -> tuple[bool, str | None]:
        if write.kind in ("reply", "post"):
            pages = 1 if frugal else RECENT_POSTS_PAGES
            for post in self.client.recent_posts(self._user_id, since=since, pages=pages):
                replied_to = [
                    str(ref["id"])
                    for ref in post.get("referenced_tweets") or []
                    if ref.get("type") == "replied_to"
                ]
                if (
                    (write.parent_ref in replied_to if write.parent_ref else not replied_to)
                    and same_text(post["text"], write.text)
                    and str(post["id"]) not in exclude
                ):
                    return True, str(post["id"])
            return False, None
        if write.kind == "dm":
            assert write.to is not None
            for event in self.client.recent_dms(int(write.to.ref)):
                created = parse_time(event.get("created_at"))
                if (
                    str(event.get("sender_id")) == str(self._user_id)
                    and same_text(event.get("text", ""), write.text)
                    and created is not None
                    and created >= since
                    and str(event["id"]) not in exclude
                ):
                    return True, str(event["id"])
            return False, None
        assert write.target_ref is not None
        target = int(write.target_ref)
        if write.kind == "retweet":
            # The cheapest answer first: the account's own timeline (owned reads).
            shown = self.client.retweeted_since(self._user_id, target, since=since)
            if shown is not None:
                return shown, None
        if frugal:
            return False, None  # not shown by the cheapest read: unknown, and said why
        # An undo, or a timeline too full to tell: the retweeters, one page (billed a user
        # read each), not three.
        retweeted = self.client.retweeted(self._user_id, target, pages=1)
        return (retweeted if write.kind == "retweet" else not retweeted), None

    # --- writing ---

    def upload(self, attachment: Attachment) -> str:
        """An image in one request, a GIF or a video in chunks and then processed (which
        can take minutes); its media id."""
        return upload(self.client, attachment.data, attachment.mime)

    def post(self, text: str, *, media: Sequence[str] = (), key: str | None = None) -> Post:
        """A new post (X takes no idempotency key, and refuses a repeat of the account's
        latest text instead)."""
        made = self.client.post_tweet(text, media_ids=list(media) or None, summoned=False)
        return self._made(made, text)

    def reply(
        self,
        parent_ref: str,
        text: str,
        *,
        media: Sequence[str] = (),
        key: str | None = None,
        summoned: bool = True,
    ) -> Post:
        made = self.client.post_tweet(
            text, reply_to=int(parent_ref), media_ids=list(media) or None, summoned=summoned
        )
        return self._made(made, text, parent_ref)

    def dm(self, to: Author, text: str, *, key: str | None = None) -> str:
        return self.client.send_dm(int(to.ref), text, handle=to.handle or None)

    def repost(self, ref: str) -> str | None:
        """The account retweets `ref` (again is harmless); X names no id for it."""
        self.client.retweet(self._user_id, int(ref))
        return None

    def undo_repost(self, ref: str) -> None:
        self.client.unretweet(self._user_id, int(ref))

    def _made(self, ref: str, text: str, parent_ref: str | None = None) -> Post:
        return Post(
            ref=ref,
            author=self._me,
            text=text,
            created_at=clock.now(),
            url=post_url(self._me.handle, ref),
            parent_ref=parent_ref,
            summons=False,
        )


def same_text(at_x: str, sent: str) -> bool:
    """X escapes &, < and > and shortens links, so compare what survives both."""

    def plain(text: str) -> str:
        return " ".join(_URL.sub("", html.unescape(text)).split())

    return plain(at_x) == plain(sent)


def _reaches(page: dict[str, Any], since: datetime | None) -> bool:
    """Whether the page holds a post made before `since` (None: the first page will do)."""
    if since is None:
        return True
    return any(
        (parse_time(tweet.get("created_at")) or since) < since for tweet in page.get("data") or []
    )


def _posts(read: Iterable[IncomingMention]) -> list[Post]:
    """The mentions read, oldest first, once each (pages can overlap while X adds posts)."""
    unique = {mention.tweet_id: mention for mention in read}
    return [_post(unique[tweet_id]) for tweet_id in sorted(unique)]


def _post(mention: IncomingMention) -> Post:
    """A mention as X's payload gave it (bot.x.normalize), carried as the seam's Post."""
    ref = str(mention.tweet_id)
    conversation = str(mention.conversation_id)
    return Post(
        ref=ref,
        author=Author(
            str(mention.author_id),
            mention.author_username or "",
            mention.author_name,
            followers=mention.author_followers,
            verified=mention.author_verified,
            protected=mention.author_protected,
        ),
        text=mention.text,
        created_at=mention.created_at or clock.now(),
        url=post_url(mention.author_username, ref),
        root_ref=conversation if conversation != ref else None,
        parent_ref=str(mention.in_reply_to_tweet_id) if mention.in_reply_to_tweet_id else None,
        lang=mention.lang,
        summons=mention.summons,
        media=tuple(Media(m["type"], m.get("url", ""), m.get("alt")) for m in mention.media),
        versions=tuple(str(version) for version in mention.edit_history),
    )
