"""Where people find their mentions: `/roost mine`, `/roost inbox`, and the App Home's lists.

Builders are pure; `work_lists` gathers what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import _, pgettext
from bot.inbox.cards import ACTION_DM, ACTION_REPLY, ACTION_RESOLVE, status_word
from bot.inbox.delivery import card_url
from bot.runtime import Runtime
from bot.slack.blocks import button, context, section
from bot.slack.mrkdwn import escape, escape_within
from storage.accounts import account_by_handle
from storage.assignments import assigned_to, unassigned
from storage.models import Mention
from storage.team import member

HOME_ITEMS = 12
"""Items per list in the App Home: each takes 3 blocks, and a Home holds 100."""

LIST_ITEMS = 25
"""Items per private list (`/roost mine`, `/roost inbox`)."""

PREVIEW = 140
"""Characters of a mention shown in a list."""


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A mention as the lists show it."""

    mention_id: int
    handle: str
    author_username: str | None
    text: str
    created_at: datetime
    status: str
    url: str | None  # the card in Slack
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class WorkList:
    items: list[WorkItem]
    total: int


def work_lists(
    rt: Runtime, team_id: str, user_id: str, limit: int, *, handle: str | None = None
) -> tuple[WorkList, WorkList]:
    """(assigned to the person, unassigned in their accounts), open items, oldest first."""
    with rt.sessions.begin() as session:
        someone = member(session, team_id, user_id, rt.clock())
        account_ids = None
        if handle is not None:
            named = account_by_handle(session, handle)
            account_ids = [named.id] if named is not None else []
        mine, mine_total = assigned_to(session, someone.id, limit)
        open_, open_total = unassigned(session, someone.id, limit, account_ids)
    return (
        WorkList([_item(rt, m, h) for m, h in mine], mine_total),
        WorkList([_item(rt, m, h) for m, h in open_], open_total),
    )


def _item(rt: Runtime, mention: Mention, handle: str) -> WorkItem:
    return WorkItem(
        mention_id=mention.id,
        handle=handle,
        author_username=mention.author_username,
        text=mention.text,
        created_at=mention.created_at,
        status=mention.status,
        url=card_url(rt, mention),
        overdue=mention.sla_reminded_at is not None and mention.first_response_at is None,
    )


def home_list(found: WorkList, empty: str, more: str) -> list[dict[str, Any]]:
    if not found.items:
        return [context(empty)]
    blocks: list[dict[str, Any]] = []
    for item in found.items:
        blocks.append(section(_line(item)))
        value = str(item.mention_id)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"mention:{item.mention_id}",
                "elements": [
                    button(_("Reply"), ACTION_REPLY, value, style="primary"),
                    button(pgettext("button", "DM"), ACTION_DM, value),
                    button(_("Resolve"), ACTION_RESOLVE, value),
                ],
            }
        )
    if found.total > len(found.items):
        left = found.total - len(found.items)
        blocks.append(context(_("… and {n} more: `{command}`").format(n=left, command=more)))
    return blocks


def list_text(title: str, found: WorkList, empty: str) -> str:
    """A private list for `/roost mine` and `/roost inbox`."""
    if not found.items:
        return f"*{title}*\n{empty}"
    lines = [f"*{title}* ({found.total})"]
    lines.extend("• " + _line(item) for item in found.items)
    if found.total > len(found.items):
        left = found.total - len(found.items)
        lines.append(_("… and {n} more, oldest shown first.").format(n=left))
    return "\n".join(lines)


def _line(item: WorkItem) -> str:
    quoted, cut = escape_within(" ".join(item.text.split()), PREVIEW)
    who = f"@{escape(item.author_username)}" if item.author_username else _("someone")
    what = _("{who} to @{handle}: {text}").format(
        who=who, handle=escape(item.handle), text=quoted + ("…" if cut else "")
    )
    stamp, earlier = int(item.created_at.timestamp()), _("earlier")
    when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{earlier}>"
    line = f"<{item.url}|{what}>" if item.url else what
    parts = [when, status_word(item.status)]
    if item.overdue:
        parts.append(_(":alarm_clock: overdue"))
    return f"{line}\n" + " · ".join(parts)
