"""Block Kit for mention cards: pure builders, tested against Slack's limits.

A conversation's first mention is a card in the account's channel; later
mentions in the same X conversation are replies in the card's thread, built
by the same function in its compact form.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.slack.blocks import SECTION_LIMIT, button, confirm, context, quote, section
from bot.slack.mrkdwn import escape, escape_within, link
from storage.people import Known

NOTIFICATION_PREVIEW = 150
"""Characters of the post shown in the notification text."""

ACTION_REPLY = "mention.reply"
ACTION_DM = "mention.dm"
ACTION_RETWEET = "mention.retweet"
ACTION_ASSIGN = "mention.assign"
ACTION_RESOLVE = "mention.resolve"
ACTION_REOPEN = "mention.reopen"
ACTION_IGNORE = "mention.ignore"
CARD_ACTIONS = (
    ACTION_REPLY,
    ACTION_DM,
    ACTION_RETWEET,
    ACTION_ASSIGN,
    ACTION_RESOLVE,
    ACTION_REOPEN,
    ACTION_IGNORE,
)
"""Stable action ids: Slack sends them back when a button is pressed."""

ACTION_HISTORY = "mention.history"
"""The card's button that lists what Roost knows of its author; only where it knows some."""

FLAGS = {
    "vip": ":star: VIP",
    "press": ":newspaper: press",
    "blocked": ":no_entry: blocked for abuse",
}
"""The marks a team gives people, as a card shows them."""

ACTION_APPROVE = "outbound.approve"
ACTION_REJECT = "outbound.reject"
ACTION_CHECK = "outbound.check"
ACTION_RETRY = "outbound.retry"
ACTION_UNDO_RETWEET = "outbound.undo_retweet"
OUTBOUND_ACTIONS = (ACTION_APPROVE, ACTION_REJECT, ACTION_CHECK, ACTION_RETRY, ACTION_UNDO_RETWEET)
"""Buttons on one outbound action shown on the card; their value is the outbound id."""

ACTIVITY_SHOWN = 5
"""The latest outbound actions a card lists; the thread keeps the full log."""

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
class CardOutbound:
    """One reply, DM or retweet sent (or on its way) as an account, as the card shows it."""

    id: int
    kind: str  # reply, dm, retweet, unretweet
    status: str
    actor: str | None  # Slack user id
    account_handle: str
    text: str = ""
    after: timedelta | None = None  # from the mention to the send
    x_url: str | None = None
    error: str | None = None
    undone: bool = False  # a retweet since undone


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
    activity: tuple[CardOutbound, ...] = ()
    assignee: str | None = None  # Slack user id
    sla_due_at: datetime | None = None  # while nobody has answered
    overdue: bool = False
    edited: bool = False  # the author edited the post; the thread has the text before
    known: Known | None = None  # what Roost knows of the author from before
    watched: str | None = None  # the words of the watch that found it: not a mention


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
        blocks.append(context(_header(mention)))
    blocks.append(section(_author_line(mention) + " · " + _when(mention.created_at)))
    blocks.append(section(body or "_(no text)_"))
    blocks.append(context(" · ".join(_notes(mention) + [link(url, "View on X")])))
    if mention.known is not None and mention.known.anything:
        blocks.append(context(known_line(mention.known)))
    blocks.append(_actions(mention, in_thread=in_thread))
    for item in mention.activity[-ACTIVITY_SHOWN:]:
        blocks.extend(_activity(item))
    if not in_thread:
        blocks.append(context(_status_line(mention)))
    return blocks


def _header(mention: CardMention) -> str:
    handle = escape(mention.account_handle)
    if mention.watched is None:
        return f"Mention of *@{handle}*"
    words = escape(mention.watched).replace("`", "ˋ")
    return (
        f":eyes: *Watched words* for *@{handle}*: `{words}` · not addressed to @{handle}: "
        "its author did not mention the account"
    )


_KIND_DONE = {"reply": "replied", "dm": "sent a DM", "retweet": "retweeted", "unretweet": "undid"}
_KIND_NOUN = {"reply": "reply", "dm": "DM", "retweet": "retweet", "unretweet": "undo of a retweet"}


def activity_line(item: CardOutbound) -> str:
    """One outbound action in a sentence: who did what as which account, and how it went."""
    who = f"<@{item.actor}>" if item.actor else "Roost"
    handle = f"@{escape(item.account_handle)}"
    noun = _KIND_NOUN.get(item.kind, item.kind)
    if item.status == "sent":
        line = f":white_check_mark: {who} {_KIND_DONE.get(item.kind, item.kind)} as {handle}"
        if item.kind == "unretweet":
            line = f":leftwards_arrow_with_hook: {who} undid the retweet as {handle}"
        if item.after is not None and item.kind in ("reply", "dm"):
            line += f" after {_duration(item.after)}"
        if item.undone:
            line += " (since undone)"
        if item.x_url:
            line += " · " + link(item.x_url, "View on X")
        return line
    if item.status == "awaiting_approval":
        return f":hourglass: {who}'s {noun} as {handle} is awaiting approval by an owner"
    if item.status in ("pending", "sending"):
        return f":outbox_tray: {who}'s {noun} as {handle} is being sent"
    if item.status == "unknown":
        return (
            f":grey_question: {who}'s {noun} as {handle}: unknown whether X took it. "
            f"{escape(item.error or '')} Check, and retry only if it is missing."
        )
    if item.status == "rejected":
        return f":no_entry_sign: {who}'s {noun} as {handle} was rejected"
    return f":x: {who}'s {noun} as {handle} failed: {escape(item.error or 'unknown error')}"


def _activity(item: CardOutbound) -> list[dict[str, Any]]:
    blocks = [context(activity_line(item))]
    value = str(item.id)
    if item.status == "awaiting_approval":
        body, _ = escape_within(item.text, SECTION_LIMIT - 2)
        blocks.append(section(quote(body)))
        buttons = [
            button("Approve", ACTION_APPROVE, value, style="primary"),
            button("Reject", ACTION_REJECT, value, style="danger"),
        ]
    elif item.status == "unknown":
        buttons = [
            button("Check again", ACTION_CHECK, value),
            button("Retry", ACTION_RETRY, value, style="danger", confirm=_RETRY_CONFIRM),
        ]
    elif item.status == "failed":
        buttons = [button("Retry", ACTION_RETRY, value)]
    elif item.status == "sent" and item.kind == "retweet" and not item.undone:
        buttons = [button("Undo retweet", ACTION_UNDO_RETWEET, value)]
    else:
        return blocks
    blocks.append({"type": "actions", "block_id": f"outbound:{item.id}", "elements": buttons})
    return blocks


_RETRY_CONFIRM = confirm(
    "Send it again?",
    "Retry only after checking on X that it was not posted: if it was, retrying posts it twice.",
    "Send again",
)

_RETWEET_CONFIRM = confirm(
    "Retweet this post?", "Everyone following the account will see it.", "Retweet"
)


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def notification_text(mention: CardMention) -> str:
    """The message's `text`: what notifications and screen readers show."""
    who = f"@{mention.author_username}" if mention.author_username else "an unknown author"
    preview, cut = escape_within(mention.text, NOTIFICATION_PREVIEW)
    what = "Watched words for" if mention.watched is not None else "Mention of"
    return f"{what} @{mention.account_handle} from {who}: {preview}{'…' if cut else ''}"


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


def known_line(known: Known) -> str:
    """ ":star: VIP · 3 earlier conversations, the last 2 Dec, answered by @ana, resolved ·
    2 notes"."""
    parts = [FLAGS[known.flag]] if known.flag in FLAGS else []
    if known.conversations:
        earlier = (
            "1 earlier conversation"
            if known.conversations == 1
            else f"{known.conversations:,} earlier conversations"
        )
        if known.last_at is not None:
            earlier += f", the last {_when(known.last_at)}"
            if known.last_answered_by:
                earlier += f", answered by <@{known.last_answered_by}>"
            if known.last_status:
                earlier += f", {STATUS_LABELS.get(known.last_status, known.last_status).lower()}"
        parts.append(earlier)
    else:
        parts.append("first time writing to the brand")
    if known.notes:
        parts.append(f"{known.notes:,} note{'s' * (known.notes != 1)} about them")
    return ":bust_in_silhouette: " + " · ".join(parts)


def _when(moment: datetime) -> str:
    # Slack renders this in each reader's own time zone.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _notes(mention: CardMention) -> list[str]:
    notes = [":pencil2: edited (the text before is in the thread)"] if mention.edited else []
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
    parts = [STATUS_LABELS.get(mention.status, mention.status.title())]
    if mention.assignee:
        parts.append(f"assigned to <@{mention.assignee}>")
    if mention.sla_due_at is not None and mention.status not in ("resolved", "ignored"):
        if mention.overdue:
            parts.append(f":alarm_clock: overdue: no reply since {_when(mention.created_at)}")
        else:
            parts.append(f"reply due by {_when(mention.sla_due_at)}")
    if mention.thread_count:
        more = "mention" if mention.thread_count == 1 else "mentions"
        parts.append(f"{mention.thread_count} more {more} in the thread")
    return " · ".join(parts)


def _actions(mention: CardMention, *, in_thread: bool) -> dict[str, Any]:
    value = str(mention.id)
    elements: list[dict[str, Any]] = [
        button("Reply", ACTION_REPLY, value, style="primary"),
        button("DM", ACTION_DM, value),
        button("Retweet", ACTION_RETWEET, value, confirm=_RETWEET_CONFIRM),
    ]
    if not in_thread:
        elements.append(
            {
                "type": "users_select",
                "action_id": ACTION_ASSIGN,
                "placeholder": {"type": "plain_text", "text": "Assign"},
                **({"initial_user": mention.assignee} if mention.assignee else {}),
            }
        )
    if not in_thread and mention.known is not None and mention.known.anything:
        elements.append(button("History", ACTION_HISTORY, value))
    if mention.status in ("resolved", "ignored"):
        elements.append(button("Reopen", ACTION_REOPEN, value))
    else:
        elements.append(button("Resolve", ACTION_RESOLVE, value))
        if not in_thread:
            elements.append(button("Ignore", ACTION_IGNORE, value))
    return {"type": "actions", "block_id": f"mention:{mention.id}", "elements": elements}
