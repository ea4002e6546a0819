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

from bot.i18n import N_, _, ngettext, pgettext
from bot.networks import links
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
    "vip": N_(":star: VIP"),
    "press": N_(":newspaper: press"),
    "blocked": N_(":no_entry: blocked for abuse"),
}
"""The marks a team gives people, as a card shows them (marked: `_(FLAGS[flag])`)."""

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
    "open": N_("Open"),
    "assigned": N_("Assigned"),
    "replied": N_("Replied"),
    "resolved": N_("Resolved"),
    "ignored": N_("Ignored"),
}
"""A mention's status as people read it (marked: `_(STATUS_LABELS[status])`)."""


def status_label(status: str) -> str:
    """The status as a label, "Resolved", in this context's language."""
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else status.title()


def status_word(status: str) -> str:
    """The status inside a line, "resolved", in this context's language."""
    return _(STATUS_LABELS[status]).lower() if status in STATUS_LABELS else status


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
    x_url: str | None = None  # where it is on its network
    error: str | None = None
    undone: bool = False  # a retweet since undone
    network: str = "x"


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
    network: str = "x"  # the network it is on (bot.networks.links)
    url: str | None = None  # where it is, as its network gave it (None: X's, made)
    service_url: str | None = None  # the account's instance, for Mastodon's profiles


def tweet_url(tweet_id: int, author_username: str | None) -> str:
    """The post's address on X; X redirects the generic form when the author is unknown."""
    return links.post_url("x", author_username, tweet_id)


def mention_url(mention: CardMention) -> str:
    """Where a person opens the mention, on its network."""
    return links.post_url(
        mention.network, mention.author_username, mention.tweet_id, stored=mention.url
    )


def build_mention_card(mention: CardMention, *, in_thread: bool = False) -> list[dict[str, Any]]:
    """The card's blocks; `in_thread` gives the compact form for a thread reply."""
    url = mention_url(mention)
    network = links.label(mention.network)
    more = "…\n" + link(
        url,
        _("Read the whole post on {network} ({count:,} characters)").format(
            network=network, count=len(mention.text)
        ),
    )
    body, cut = escape_within(mention.text, SECTION_LIMIT - len(more))
    if cut:
        body += more
    blocks: list[dict[str, Any]] = []
    if not in_thread:
        blocks.append(context(_header(mention)))
    blocks.append(section(_author_line(mention) + " · " + _when(mention.created_at)))
    blocks.append(section(body or _("_(no text)_")))
    view_on = _("View on {network}").format(network=network)
    blocks.append(context(" · ".join(_notes(mention) + [link(url, view_on)])))
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
        return _("Mention of *@{handle}* on {network}").format(
            handle=handle, network=links.label(mention.network)
        )
    words = escape(mention.watched).replace("`", "ˋ")
    return (
        _(":eyes: *Watched words* for *@{handle}*: `{words}`").format(handle=handle, words=words)
        + " · "
        + _("not addressed to @{handle}: its author did not mention the account").format(
            handle=handle
        )
    )


_SENT = {
    "reply": N_(":white_check_mark: {who} replied as {handle}"),
    "dm": N_(":white_check_mark: {who} sent a DM as {handle}"),
    "retweet": N_(":white_check_mark: {who} retweeted as {handle}"),
    "unretweet": N_(":leftwards_arrow_with_hook: {who} undid the retweet as {handle}"),
    "repost": N_(":white_check_mark: {who} reposted as {handle}"),
    "unrepost": N_(":leftwards_arrow_with_hook: {who} undid the repost as {handle}"),
    "boost": N_(":white_check_mark: {who} boosted as {handle}"),
    "unboost": N_(":leftwards_arrow_with_hook: {who} undid the boost as {handle}"),
}
_SENT_AFTER = {
    "reply": N_(":white_check_mark: {who} replied as {handle} after {duration}"),
    "dm": N_(":white_check_mark: {who} sent a DM as {handle} after {duration}"),
}
_SINCE_UNDONE = {
    "retweet": N_(":white_check_mark: {who} retweeted as {handle} (since undone)"),
    "repost": N_(":white_check_mark: {who} reposted as {handle} (since undone)"),
    "boost": N_(":white_check_mark: {who} boosted as {handle} (since undone)"),
}
_AWAITING = {
    "reply": N_(":hourglass: {who}'s reply as {handle} is awaiting approval by an owner"),
    "dm": N_(":hourglass: {who}'s DM as {handle} is awaiting approval by an owner"),
    "retweet": N_(":hourglass: {who}'s retweet as {handle} is awaiting approval by an owner"),
    "unretweet": N_(
        ":hourglass: {who}'s undo of a retweet as {handle} is awaiting approval by an owner"
    ),
    "repost": N_(":hourglass: {who}'s repost as {handle} is awaiting approval by an owner"),
    "unrepost": N_(
        ":hourglass: {who}'s undo of a repost as {handle} is awaiting approval by an owner"
    ),
    "boost": N_(":hourglass: {who}'s boost as {handle} is awaiting approval by an owner"),
    "unboost": N_(
        ":hourglass: {who}'s undo of a boost as {handle} is awaiting approval by an owner"
    ),
}
_SENDING = {
    "reply": N_(":outbox_tray: {who}'s reply as {handle} is being sent"),
    "dm": N_(":outbox_tray: {who}'s DM as {handle} is being sent"),
    "retweet": N_(":outbox_tray: {who}'s retweet as {handle} is being sent"),
    "unretweet": N_(":outbox_tray: {who}'s undo of a retweet as {handle} is being sent"),
    "repost": N_(":outbox_tray: {who}'s repost as {handle} is being sent"),
    "unrepost": N_(":outbox_tray: {who}'s undo of a repost as {handle} is being sent"),
    "boost": N_(":outbox_tray: {who}'s boost as {handle} is being sent"),
    "unboost": N_(":outbox_tray: {who}'s undo of a boost as {handle} is being sent"),
}
_UNKNOWN = {
    "reply": N_(
        ":grey_question: {who}'s reply as {handle}: unknown whether {network} took it. {error} "
        "Check, and retry only if it is missing."
    ),
    "dm": N_(
        ":grey_question: {who}'s DM as {handle}: unknown whether {network} took it. {error} "
        "Check, and retry only if it is missing."
    ),
    "retweet": N_(
        ":grey_question: {who}'s retweet as {handle}: unknown whether {network} took it. {error} "
        "Check, and retry only if it is missing."
    ),
    "unretweet": N_(
        ":grey_question: {who}'s undo of a retweet as {handle}: unknown whether {network} took it. "
        "{error} Check, and retry only if it is missing."
    ),
    "repost": N_(
        ":grey_question: {who}'s repost as {handle}: unknown whether {network} took it. {error} "
        "Check, and retry only if it is missing."
    ),
    "unrepost": N_(
        ":grey_question: {who}'s undo of a repost as {handle}: unknown whether {network} took it. "
        "{error} Check, and retry only if it is missing."
    ),
    "boost": N_(
        ":grey_question: {who}'s boost as {handle}: unknown whether {network} took it. {error} "
        "Check, and retry only if it is missing."
    ),
    "unboost": N_(
        ":grey_question: {who}'s undo of a boost as {handle}: unknown whether {network} took it. "
        "{error} Check, and retry only if it is missing."
    ),
}
_REJECTED = {
    "reply": N_(":no_entry_sign: {who}'s reply as {handle} was rejected"),
    "dm": N_(":no_entry_sign: {who}'s DM as {handle} was rejected"),
    "retweet": N_(":no_entry_sign: {who}'s retweet as {handle} was rejected"),
    "unretweet": N_(":no_entry_sign: {who}'s undo of a retweet as {handle} was rejected"),
    "repost": N_(":no_entry_sign: {who}'s repost as {handle} was rejected"),
    "unrepost": N_(":no_entry_sign: {who}'s undo of a repost as {handle} was rejected"),
    "boost": N_(":no_entry_sign: {who}'s boost as {handle} was rejected"),
    "unboost": N_(":no_entry_sign: {who}'s undo of a boost as {handle} was rejected"),
}
_FAILED = {
    "reply": N_(":x: {who}'s reply as {handle} failed: {error}"),
    "dm": N_(":x: {who}'s DM as {handle} failed: {error}"),
    "retweet": N_(":x: {who}'s retweet as {handle} failed: {error}"),
    "unretweet": N_(":x: {who}'s undo of a retweet as {handle} failed: {error}"),
    "repost": N_(":x: {who}'s repost as {handle} failed: {error}"),
    "unrepost": N_(":x: {who}'s undo of a repost as {handle} failed: {error}"),
    "boost": N_(":x: {who}'s boost as {handle} failed: {error}"),
    "unboost": N_(":x: {who}'s undo of a boost as {handle} failed: {error}"),
}
"""An outbound action's line on the card, by its status and kind: whole sentences, as
Korean words them differently for each. Only replies, DMs and reposts and their undoing
reach a card; a repost is said in its network's word (`links.SHARED`)."""


def activity_line(item: CardOutbound) -> str:
    """One outbound action in a sentence: who did what as which account, and how it went."""
    who = f"<@{item.actor}>" if item.actor else "Roost"
    handle = f"@{escape(item.account_handle)}"
    kind = links.SHARED.get(item.network, {}).get(item.kind, item.kind)
    kind = kind if kind in _SENT else "reply"
    if item.status == "sent":
        if item.after is not None and kind in _SENT_AFTER:
            line = _(_SENT_AFTER[kind]).format(
                who=who, handle=handle, duration=_duration(item.after)
            )
        elif item.undone and kind in _SINCE_UNDONE:
            line = _(_SINCE_UNDONE[kind]).format(who=who, handle=handle)
        else:
            line = _(_SENT[kind]).format(who=who, handle=handle)
        if item.x_url:
            view_on = _("View on {network}").format(network=links.label(item.network))
            line += " · " + link(item.x_url, view_on)
        return line
    if item.status == "awaiting_approval":
        return _(_AWAITING[kind]).format(who=who, handle=handle)
    if item.status in ("pending", "sending"):
        return _(_SENDING[kind]).format(who=who, handle=handle)
    if item.status == "unknown":
        return _(_UNKNOWN[kind]).format(
            who=who,
            handle=handle,
            error=escape(item.error or ""),
            network=links.label(item.network),
        )
    if item.status == "rejected":
        return _(_REJECTED[kind]).format(who=who, handle=handle)
    error = escape(item.error or _("unknown error"))
    return _(_FAILED[kind]).format(who=who, handle=handle, error=error)


def _activity(item: CardOutbound) -> list[dict[str, Any]]:
    blocks = [context(activity_line(item))]
    value = str(item.id)
    if item.status == "awaiting_approval":
        body, _cut = escape_within(item.text, SECTION_LIMIT - 2)
        blocks.append(section(quote(body)))
        buttons = [
            button(_("Approve"), ACTION_APPROVE, value, style="primary"),
            button(_("Reject"), ACTION_REJECT, value, style="danger"),
        ]
    elif item.status == "unknown":
        buttons = [
            button(_("Check again"), ACTION_CHECK, value),
            button(
                _("Retry"),
                ACTION_RETRY,
                value,
                style="danger",
                confirm=_retry_confirm(item.network),
            ),
        ]
    elif item.status == "failed":
        buttons = [button(_("Retry"), ACTION_RETRY, value)]
    elif item.status == "sent" and item.kind == "retweet" and not item.undone:
        undo = links.UNDO_REPOST.get(item.network, links.UNDO_REPOST["x"])
        buttons = [button(_(undo), ACTION_UNDO_RETWEET, value)]
    else:
        return blocks
    blocks.append({"type": "actions", "block_id": f"outbound:{item.id}", "elements": buttons})
    return blocks


def _retry_confirm(network: str) -> dict[str, Any]:
    return confirm(
        _("Send it again?"),
        _(
            "Retry only after checking on {network} that it was not posted: if it was, "
            "retrying posts it twice."
        ).format(network=links.label(network)),
        _("Send again"),
    )


def _retweet_confirm(network: str) -> dict[str, Any]:
    return confirm(
        _(links.REPOST_ASKED[network]),
        _("Everyone following the account will see it."),
        _(links.REPOST[network]),
    )


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return _("less than a minute")
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if minutes:
            return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
        return _("{hours} h").format(hours=hours)
    return _("{days} days").format(days=hours // 24)


def notification_text(mention: CardMention) -> str:
    """The message's `text`: what notifications and screen readers show."""
    if mention.author_username:
        who = f"@{mention.author_username}"
    else:
        who = _("an unknown author")
    preview, cut = escape_within(mention.text, NOTIFICATION_PREVIEW)
    preview += "…" if cut else ""
    if mention.watched is not None:
        what = _("Watched words for @{handle} from {who}: {preview}")
    else:
        what = _("Mention of @{handle} from {who}: {preview}")
    return what.format(handle=mention.account_handle, who=who, preview=preview)


def card_metadata(mention: CardMention) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"mention_id": mention.id}}


def _author_line(mention: CardMention) -> str:
    if mention.author_username is None:
        return _("*Unknown author* (the account was deleted or suspended)")
    name = escape(mention.author_name or mention.author_username)
    profile = links.profile_url(
        mention.network, mention.author_username, service_url=mention.service_url
    )
    parts = [f"*{name}* " + link(profile, "@" + mention.author_username)]
    if mention.author_followers is not None:
        followers = mention.author_followers
        parts.append(ngettext("{n:,} follower", "{n:,} followers", followers).format(n=followers))
    if mention.author_verified:
        parts.append(_("verified"))
    if mention.author_protected:
        parts.append(_(":lock: protected account"))
    return " · ".join(parts)


def known_line(known: Known) -> str:
    """ ":star: VIP · 3 earlier conversations, the last 2 Dec, answered by @ana, resolved ·
    2 notes"."""
    parts = [_(FLAGS[known.flag])] if known.flag in FLAGS else []
    if known.conversations:
        count = known.conversations
        earlier = [
            ngettext("{n:,} earlier conversation", "{n:,} earlier conversations", count).format(
                n=count
            )
        ]
        if known.last_at is not None:
            earlier.append(_("the last {when}").format(when=_when(known.last_at)))
            if known.last_answered_by:
                earlier.append(_("answered by <@{user}>").format(user=known.last_answered_by))
            if known.last_status:
                earlier.append(status_word(known.last_status))
        parts.append(", ".join(earlier))
    else:
        parts.append(_("first time writing to the brand"))
    if known.notes:
        notes = known.notes
        parts.append(
            ngettext("{n:,} note about them", "{n:,} notes about them", notes).format(n=notes)
        )
    return ":bust_in_silhouette: " + " · ".join(parts)


def _when(moment: datetime) -> str:
    # Slack renders this in each reader's own time zone.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _notes(mention: CardMention) -> list[str]:
    notes = [_(":pencil2: edited (the text before is in the thread)")] if mention.edited else []
    if mention.in_reply_to_tweet_id:
        notes.append(_(":leftwards_arrow_with_hook: a reply in a conversation"))
    if mention.media:
        counts = Counter(item.get("type", "media") for item in mention.media)
        listed = ", ".join(_media(kind, n) for kind, n in counts.items())
        notes.append(f":paperclip: {listed}")
    return notes


def _media(kind: str, n: int) -> str:
    if kind == "photo":
        return ngettext("{n} photo", "{n} photos", n).format(n=n)
    if kind == "video":
        return ngettext("{n} video", "{n} videos", n).format(n=n)
    if kind == "animated_gif":
        return ngettext("{n} GIF", "{n} GIFs", n).format(n=n)
    return f"{n} {kind}{'s' if n > 1 else ''}"  # a kind X has not named before


def _status_line(mention: CardMention) -> str:
    parts = [status_label(mention.status)]
    if mention.assignee:
        parts.append(_("assigned to <@{user}>").format(user=mention.assignee))
    if mention.sla_due_at is not None and mention.status not in ("resolved", "ignored"):
        if mention.overdue:
            parts.append(
                _(":alarm_clock: overdue: no reply since {when}").format(
                    when=_when(mention.created_at)
                )
            )
        else:
            parts.append(_("reply due by {when}").format(when=_when(mention.sla_due_at)))
    if mention.thread_count:
        count = mention.thread_count
        parts.append(
            ngettext(
                "{n} more mention in the thread", "{n} more mentions in the thread", count
            ).format(n=count)
        )
    return " · ".join(parts)


def _actions(mention: CardMention, *, in_thread: bool) -> dict[str, Any]:
    value = str(mention.id)
    elements: list[dict[str, Any]] = [
        button(_("Reply"), ACTION_REPLY, value, style="primary"),
        button(pgettext("button", "DM"), ACTION_DM, value),
        button(
            _(links.REPOST[mention.network]),
            ACTION_RETWEET,
            value,
            confirm=_retweet_confirm(mention.network),
        ),
    ]
    if not in_thread:
        elements.append(
            {
                "type": "users_select",
                "action_id": ACTION_ASSIGN,
                "placeholder": {"type": "plain_text", "text": _("Assign")},
                **({"initial_user": mention.assignee} if mention.assignee else {}),
            }
        )
    if not in_thread and mention.known is not None and mention.known.anything:
        elements.append(button(_("History"), ACTION_HISTORY, value))
    if mention.status in ("resolved", "ignored"):
        elements.append(button(_("Reopen"), ACTION_REOPEN, value))
    else:
        elements.append(button(_("Resolve"), ACTION_RESOLVE, value))
        if not in_thread:
            elements.append(button(_("Ignore"), ACTION_IGNORE, value))
    return {"type": "actions", "block_id": f"mention:{mention.id}", "elements": elements}
