"""The App Home: a person's work in every domain, on one page.

What is assigned to them and what waits unassigned in their accounts (the inbox),
then their scheduled posts (posts). It sits above both domains, beside the entry
points; the inbox refreshes a person's Home through `Runtime.publish_home`, which
the entry points set to `publish_home` here.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from bot.digest.spend import digest_line
from bot.help import HELP
from bot.i18n import _, speaking
from bot.inbox.duty import duty_blocks, is_on_duty
from bot.inbox.worklists import HOME_ITEMS, WorkList, home_list, work_lists
from bot.posts.compose import queue_of
from bot.posts.views import queue_blocks
from bot.runtime import Runtime
from bot.slack.blocks import context, header
from bot.slack.mrkdwn import escape
from bot.team.language import as_person
from bot.team.people import Who
from storage.models import Account
from storage.team import roles_of

HOME_POSTS = 10
"""Scheduled posts in the App Home (2 blocks each); `/roost queue` lists them all."""


def publish_home(rt: Runtime, team_id: str, user_id: str) -> None:
    """Show the person their Home as it is now, in their own language."""
    with speaking(as_person(rt, user_id)):
        mine, open_ = work_lists(rt, team_id, user_id, HOME_ITEMS)
        scheduled = queue_of(rt, Who(team_id, user_id), mine_only=True)[:HOME_POSTS]
        posts = queue_blocks(scheduled, user_id) if scheduled else []
        view = home_view(
            mine,
            open_,
            posts,
            _spend(rt, team_id, user_id),
            on_duty=is_on_duty(rt, team_id, user_id),
        )
        rt.slack.views_publish(user_id=user_id, view=view)


def _spend(rt: Runtime, team_id: str, user_id: str) -> list[str]:
    """What X bills for each account the person owns: owners watch the budget."""
    with rt.sessions() as session:
        owned = [
            (account.id, account.handle, account.x_budget_cents)
            for account_id, role in roles_of(session, team_id, user_id).items()
            if role == "owner" and (account := session.get(Account, account_id)) is not None
        ]
    try:
        found = [digest_line(rt, *account) for account in sorted(owned, key=lambda a: a[1])]
    except RedisError:
        return []  # the Home shows the rest; the figures come back with Redis
    return [line for line in found if line is not None]


def home_view(
    mine: WorkList,
    open_: WorkList,
    scheduled: list[dict[str, Any]] | None = None,
    spend: list[str] | None = None,
    *,
    on_duty: bool = False,
) -> dict[str, Any]:
    """The App Home: whether I am on duty, assigned to me, then unassigned in my
    accounts, each with its buttons; then the person's scheduled posts, and what X bills
    for the accounts they own."""
    blocks: list[dict[str, Any]] = [*duty_blocks(on_duty), header(_("Assigned to me"))]
    mine_empty = _("Nothing is assigned to you. :tada:")
    blocks.extend(home_list(mine, mine_empty, "/roost mine"))  # not spoken: a command
    blocks.append(header(_("Unassigned in your accounts")))
    open_empty = _("Every open mention has someone.")
    blocks.extend(home_list(open_, open_empty, "/roost inbox"))  # not spoken: a command
    if scheduled:
        blocks.append(header(_("Your scheduled posts")))
        blocks.extend(scheduled)
    if spend:
        blocks.append(header(_("What X bills for your accounts")))
        blocks.extend(context(escape(line)) for line in spend)
        blocks.append(context(_("`/roost spend` has the detail, by kind of call.")))
    blocks.append({"type": "divider"})
    blocks.extend(context(part) for part in help_parts(_(HELP)))
    return {"type": "home", "blocks": blocks}


HELP_PART = 1900
"""Most of the help one context block holds: Slack takes 2,000 characters of text in a
context element."""


def help_parts(text: str) -> list[str]:
    """The help in whole lines (one point each), as few parts as fit: never a word, a
    code span or a sentence cut off."""
    parts: list[str] = []
    for line in text.splitlines():
        if parts and len(parts[-1]) + 1 + len(line) <= HELP_PART:
            parts[-1] += " " + line
        else:
            parts.append(line[:HELP_PART])
    return parts
