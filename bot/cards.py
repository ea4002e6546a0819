"""Block Kit for mention cards: pure builders, tested against Slack's limits.

A conversation's first mention is a card in the account's channel; later
mentions in the same X conversation are replies in the card's thread, built
by the same function in its compact form.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.mrkdwn import escape, escape_within, link

SECTION_LIMIT = 3000
"""Slack's limit on a section's text."""

NOTIFICATION_PREVIEW = 150
"""Characters of the post shown in the notification text."""

ACTION_REPLY = "mention.reply"
ACTION_DM = "mention.dm"
ACTION_RETWEET = "mention.retweet"
ACTION_ASSIGN = "mention.assign"
ACTION_RESOLVE = "mention.resolve"
CARD_ACTIONS = (ACTION_REPLY, ACTION_DM, ACTION_RETWEET, ACTION_ASSIGN, ACTION_RESOLVE)
"""Stable action ids: Slack sends them back when a button is pressed."""

METADATA_EVENT = "roost_mention"
"""Message metadata type on every card, so a lost ts can be found again."""

STATUS_LABELS = {
    "open": "Open",
    "assigned": "Assigned",
    "replied": "Replied",
    "resolved": "Resolved",
    "ignored": "Ignored",
}


@dataclass(frozen=True, slots=True)
class CardMention:
    """What a card shows; built from a stored mention by the delivery job."""

    id: int
    tweet_id: int
    account_handle: str
    text: str
    created_at: datetime
    author_username: str | None = None
    author_name: str | None = None
    author_followers: int | None = None
    author_verified: bool = False
    author_protected: bool = False
    in_reply_to_tweet_id: int | None = None
    media: tuple[dict[str, str], ...] = ()
    status: str = "open"
    thread_count: int = 0


def tweet_url(tweet_id: int, author_username: str | None) -> str:
    """The post's address on X; X redirects the generic form when the author is unknown."""
    if author_username:
        return f"https://x.com/{author_username}/status/{tweet_id}"
    return f"https://x.com/i/web/status/{tweet_id}"


def build_mention_card(mention: CardMention, *, in_thread: bool = False) -> list[dict[str, Any]]:
    """The card's blocks; `in_thread` gives the compact form for a thread reply."""
    url = tweet_url(mention.tweet_id, mention.author_username)
    more = "…\n" + link(url, f"Read the whole post on X ({len(mention.text):,} characters)")
    body, cut = escape_within(mention.text, SECTION_LIMIT - len(more))
    if cut:
        body += more
    blocks: list[dict[str, Any]] = []
    if not in_thread:
        blocks.append(_context(f"Mention of *@{escape(mention.account_handle)}*"))
    blocks.append(_section(_author_line(mention) + " · " + _when(mention.created_at)))
    blocks.append(_section(body or "_(no text)_"))
    blocks.append(_context(" · ".join(_notes(mention) + [link(url, "View on X")])))
    blocks.append(_actions(mention, in_thread=in_thread))
    if not in_thread:
        blocks.append(_context(_status_line(mention)))
    return blocks


def notification_text(mention: CardMention) -> str:
    """The message's `text`: what notifications and screen readers show."""
    who = f"@{mention.author_username}" if mention.author_username else "an unknown author"
    preview, cut = escape_within(mention.text, NOTIFICATION_PREVIEW)
    return f"Mention of @{mention.account_handle} from {who}: {preview}{'…' if cut else ''}"


def card_metadata(mention: CardMention) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"mention_id": mention.id}}


def _author_line(mention: CardMention) -> str:
    if mention.author_username is None:
        return "*Unknown author* (the account was deleted or suspended)"
    name = escape(mention.author_name or mention.author_username)
    parts = [
        f"*{name}* "
        + link(f"https://x.com/{mention.author_username}", "@" + mention.author_username)
    ]
    if mention.author_followers is not None:
        noun = "follower" if mention.author_followers == 1 else "followers"
        parts.append(f"{mention.author_followers:,} {noun}")
    if mention.author_verified:
        parts.append("verified")
    if mention.author_protected:
        parts.append(":lock: protected account")
    return " · ".join(parts)


def _when(moment: datetime) -> str:
    # Slack renders this in each reader's own time zone.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _notes(mention: CardMention) -> list[str]:
    notes = []
    if mention.in_reply_to_tweet_id:
        notes.append(":leftwards_arrow_with_hook: a reply in a conversation")
    if mention.media:
        counts = Counter(item.get("type", "media") for item in mention.media)
        names = {"photo": "photo", "video": "video", "animated_gif": "GIF"}
        listed = ", ".join(
            f"{n} {names.get(kind, kind)}{'s' if n > 1 else ''}" for kind, n in counts.items()
        )
        notes.append(f":paperclip: {listed}")
    return notes


def _status_line(mention: CardMention) -> str:
    status = STATUS_LABELS.get(mention.status, mention.status.title())
    if mention.thread_count:
        more = "mention" if mention.thread_count == 1 else "mentions"
        status += f" · {mention.thread_count} more {more} in the thread"
    return status


def _actions(mention: CardMention, *, in_thread: bool) -> dict[str, Any]:
    value = str(mention.id)
    elements: list[dict[str, Any]] = [
        _button("Reply", ACTION_REPLY, value, style="primary"),
        _button("DM", ACTION_DM, value),
        _button("Retweet", ACTION_RETWEET, value),
    ]
    if not in_thread:
        elements.append(
            {
                "type": "users_select",
                "action_id": ACTION_ASSIGN,
                "placeholder": {"type": "plain_text", "text": "Assign"},
            }
        )
    elements.append(_button("Resolve", ACTION_RESOLVE, value))
    return {"type": "actions", "block_id": f"mention:{mention.id}", "elements": elements}


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
