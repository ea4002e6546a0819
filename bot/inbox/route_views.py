"""Block Kit for an account's routes and what a route would catch: pure builders."""

from __future__ import annotations

from typing import Any

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
            f"*@{escape(handle)}*: mentions go to <#{channel_id}> unless a route below matches "
            "first. Add one with `/roost route @account 아이폰|iphone #channel` (keywords) or "
            "`/roost route @account /regex/ #channel`; `/roost route @account #channel` moves "
            "the default."
        )
    ]
    for route in routes[:MAX_ROUTES]:
        kind = "regex" if route.is_regex else "keywords"
        shown, _ = escape_within(route.pattern, 300)
        blocks.append(section(f"{route.position + 1}. {kind} `{shown}` → <#{route.channel_id}>"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"route:{route.id}",
                "elements": [
                    button("Test", ACTION_ROUTE_TEST, str(route.id)),
                    button("Remove", ACTION_ROUTE_REMOVE, str(route.id), style="danger"),
                ],
            }
        )
    return blocks


def matches_text(pattern: str, found: list[Mention], looked_at: int) -> str:
    """What a route would have caught among the recent mentions."""
    shown, _ = escape_within(pattern, 200)
    if not found:
        return f"`{shown}` matches none of the latest {looked_at} mentions."
    lines = [f"`{shown}` would have matched {len(found)} of the latest {looked_at} mentions:"]
    for mention in found[:10]:
        text, cut = escape_within(" ".join(mention.text.split()), 120)
        who = f"@{escape(mention.author_username)}" if mention.author_username else "someone"
        lines.append(f"• {who}: {text}{'…' if cut else ''}")
    return "\n".join(lines)
