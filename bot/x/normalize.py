"""X payloads to mentions: pure functions over the JSON X sends.

The same shape arrives from the mentions timeline (a page: `data` is a list)
and from the filtered stream (a line: `data` is one tweet), each with
`includes` for authors and media. Text is made storable on the way: no NUL
(PostgreSQL refuses it) and no lone surrogate (no database can encode one).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from storage.mentions import IncomingMention


def mentions_from_payload(
    payload: dict[str, Any], *, account_x_id: int | None = None
) -> list[IncomingMention]:
    """Every tweet in the payload as an IncomingMention, oldest first, as the account
    `account_x_id` receives them.

    The account's own tweets are left out: the team's own posts are not inbox items.
    So are retweets ("RT @brand: …", or of a post that mentions the brand): they reach
    the mentions timeline and the stream, yet nobody asked the brand anything. Quote
    posts stay. Each mention says whether it summons the account (see `summons`).
    """
    data = payload.get("data") or []
    tweets = [data] if isinstance(data, dict) else data
    tweets = [tweet for tweet in tweets if not _is_retweet(tweet)]
    includes = payload.get("includes") or {}
    users = {u["id"]: u for u in includes.get("users", [])}
    media = {m["media_key"]: m for m in includes.get("media", [])}
    # X's OpenAPI names the referenced posts `includes.posts`; the live API says tweets.
    referenced = {t["id"]: t for t in [*includes.get("tweets", []), *includes.get("posts", [])]}
    found = [_mention(tweet, users, media, referenced, account_x_id) for tweet in tweets]
    return sorted((m for m in found if m.author_id != account_x_id), key=lambda m: m.tweet_id)


def summons(
    tweet: dict[str, Any], account_x_id: int | None, referenced: dict[str, dict[str, Any]]
) -> bool | None:
    """Whether the tweet summons the account, which X requires of a post a self-serve app
    replies to: its author mentions the account in it, or quotes one of its posts. None
    when the payload cannot tell (no entities asked for, no account given)."""
    if account_x_id is None:
        return None
    note = _note(tweet)
    entities = note.get("entities") or tweet.get("entities")
    if entities is None and "referenced_tweets" not in tweet:
        return None
    mentioned = {str(m.get("id")) for m in (entities or {}).get("mentions") or []}
    if str(account_x_id) in mentioned:
        return True
    for ref in _references(tweet):
        quoted = referenced.get(str(ref.get("id"))) if ref.get("type") == "quoted" else None
        if quoted is not None and str(quoted.get("author_id")) == str(account_x_id):
            return True
    return False


def _mention(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    media: dict[str, dict[str, Any]],
    referenced: dict[str, dict[str, Any]],
    account_x_id: int | None,
) -> IncomingMention:
    tweet_id = int(tweet["id"])
    author_id = tweet.get("author_id")
    # A deleted or suspended author is absent from includes; the card says so.
    author = users.get(author_id, {}) if author_id else {}
    metrics = author.get("public_metrics") or {}
    note = _note(tweet)
    history = tweet.get("edit_history_tweet_ids") or tweet.get("edit_history_post_ids") or []
    return IncomingMention(
        tweet_id=tweet_id,
        conversation_id=int(tweet.get("conversation_id") or tweet_id),
        author_id=int(author_id or 0),
        # X escapes &, < and > in text; store what the person actually wrote.
        text=clean(html.unescape(note.get("text") or tweet.get("text") or "")),
        created_at=parse_time(tweet.get("created_at")),
        in_reply_to_tweet_id=_replied_to(_references(tweet)),
        author_username=_clean_or_none(author.get("username")),
        author_name=_clean_or_none(author.get("name")),
        author_followers=metrics.get("followers_count"),
        author_verified=bool(author.get("verified")),
        author_protected=bool(author.get("protected")),
        lang=_clean_or_none(tweet.get("lang")),
        media=_media((tweet.get("attachments") or {}).get("media_keys") or [], media),
        summons=summons(tweet, account_x_id, referenced),
        edit_history=tuple(int(version) for version in history),
    )


def _note(tweet: dict[str, Any]) -> dict[str, Any]:
    """A long post's whole text and entities; X's OpenAPI calls it `note_post`."""
    note: dict[str, Any] = tweet.get("note_tweet") or tweet.get("note_post") or {}
    return note


def _references(tweet: dict[str, Any]) -> list[dict[str, str]]:
    """The posts a tweet replies to, quotes or retweets (`referenced_posts` in X's OpenAPI)."""
    refs = tweet.get("referenced_tweets") or tweet.get("referenced_posts") or []
    return list(refs)


def _is_retweet(tweet: dict[str, Any]) -> bool:
    return any(ref.get("type") == "retweeted" for ref in _references(tweet))


def _replied_to(references: Iterable[dict[str, str]]) -> int | None:
    for reference in references:
        if reference.get("type") == "replied_to":
            return int(reference["id"])
    return None


def _media(keys: Iterable[str], media: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    found = []
    for key in keys:
        item = media.get(key, {})
        entry = {"type": clean(str(item.get("type", "media")))}
        url = item.get("url") or item.get("preview_image_url")
        if url:
            entry["url"] = clean(str(url))
        found.append(entry)
    return found


def clean(text: str) -> str:
    """`text` as every database stores it: NULs dropped, a lone surrogate (JSON can carry
    "\\ud800" alone) made U+FFFD; proper surrogate pairs become the character they encode."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _clean_or_none(value: Any) -> str | None:
    return clean(str(value)) if value is not None else None


def parse_time(value: str | None) -> datetime | None:
    """X's ISO 8601 time ("2026-11-26T04:00:00.000Z") as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
