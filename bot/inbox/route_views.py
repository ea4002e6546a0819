"""Block Kit for an account's routes and what a route would catch: pure builders."""

from __future__ import annotations

from typing import Any

from bot.i18n import _
from bot.inbox.routing import MAX_ROUTES
from bot.slack.blocks import button, section
from bot.slack.mrkdwn import escape, escape_within
from storage.models import Mention, Route

ACTION_ROUTE_TEST = "routes.test"
ACTION_ROUTE_REMOVE = "routes.remove"


def routes_blocks(handle: str, channel_id: str, routes: list[Route]) -> list[dict[str, Any]]:
    """The account's routes, first match wins, each with Test and Remove."""
    blocks: list[dict[str, Any]] = [
        section(
            _(
                "*@{handle}*: mentions go to <#{channel}> unless a route below matches first. "
                "Add one with `/roost route @account 아이폰|iphone #channel` (keywords) or "
                "`/roost route @account /regex/ #channel`; `/roost route @account #channel` "
                "moves the default."
            ).format(handle=escape(handle), channel=channel_id)
        )
    ]
    for route in routes[:MAX_ROUTES]:
        kind = _("regex") if route.is_regex else _("keywords")
        shown, _cut = escape_within(route.pattern, 300)
        blocks.append(section(f"{route.position + 1}. {kind} `{shown}` → <#{route.channel_id}>"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"route:{route.id}",
                "elements": [
                    button(_("Test"), ACTION_ROUTE_TEST, str(route.id)),
                    button(_("Remove"), ACTION_ROUTE_REMOVE, str(route.id), style="danger"),
                ],
            }
        )
    return blocks


def matches_text(pattern: str, found: list[Mention], looked_at: int) -> str:
    """What a route would have caught among the recent mentions."""
    shown, _cut = escape_within(pattern, 200)
    if not found:
        return _("`{pattern}` matches none of the latest {count} mentions.").format(
            pattern=shown, count=looked_at
        )
    lines = [
        _("`{pattern}` would have matched {found} of the latest {count} mentions:").format(
            pattern=shown, found=len(found), count=looked_at
        )
    ]
    for mention in found[:10]:
        text, cut = escape_within(" ".join(mention.text.split()), 120)
        who = f"@{escape(mention.author_username)}" if mention.author_username else _("someone")
        lines.append(f"• {who}: {text}{'…' if cut else ''}")
    return "\n".join(lines)
