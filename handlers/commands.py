"""The /roost command: one word says what, the rest is its argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, Respond

from bot.digest.daily import digest_command
from bot.digest.spend import spend
from bot.digest.stats import stats
from bot.help import HELP
from bot.i18n import _
from bot.inbox import routing
from bot.inbox.duty import auto_assign_command, duty_command, rota_command
from bot.inbox.people import flag_command, note_command
from bot.inbox.route_views import matches_text, routes_blocks
from bot.inbox.watch import watch_command
from bot.inbox.worklists import LIST_ITEMS, list_text, work_lists
from bot.outbound.own import allow_command, region_command
from bot.outbound.saved import replies_command
from bot.posts.compose import queue_of as post_queue
from bot.posts.views import queue_blocks
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape, unescape
from bot.surge.batches import care_command
from bot.surge.detect import surge_command
from bot.surge.groups import group_command
from bot.team import admin, audit
from bot.team.admin import holidays_command
from bot.team.cotags import change_cotag
from bot.team.language import language_command
from bot.team.people import Who
from bot.team.views import accounts_blocks, team_blocks
from handlers.ack import acknowledge, answering
from handlers.posts import open_composer

Answer = tuple[str, list[dict[str, Any]] | None]


def register(app: App, rt: Runtime) -> None:
    subcommands: dict[str, Callable[[Who, str, dict[str, Any]], Answer]] = {
        "cotag": lambda who, rest, command: (change_cotag(rt, who, rest), None),
        "mine": lambda who, rest, command: _mine(rt, who),
        "inbox": lambda who, rest, command: _inbox(rt, who, rest.strip() or None),
        "accounts": lambda who, rest, command: _accounts(rt, who, command.get("channel_id")),
        "team": lambda who, rest, command: _team(rt, who),
        "route": lambda who, rest, command: _route(rt, who, rest),
        "routes": lambda who, rest, command: _routes(rt, who, rest),
        "queue": lambda who, rest, command: (
            _("Scheduled posts"),
            queue_blocks(post_queue(rt, who, mine_only=False), who.user_id),
        ),
        "digest": lambda who, rest, command: digest_command(rt, who, rest, command["channel_id"]),
        "stats": lambda who, rest, command: stats(rt, who, rest),
        "spend": lambda who, rest, command: spend(rt, who, rest),
        "surge": lambda who, rest, command: surge_command(rt, who, rest),
        "group": lambda who, rest, command: group_command(rt, who, rest),
        "care": lambda who, rest, command: care_command(rt, who, rest),
        "replies": lambda who, rest, command: replies_command(rt, who, rest),
        "note": lambda who, rest, command: note_command(rt, who, rest),
        "flag": lambda who, rest, command: flag_command(rt, who, rest),
        "allow": lambda who, rest, command: allow_command(rt, who, rest),
        "region": lambda who, rest, command: region_command(rt, who, rest),
        "holidays": lambda who, rest, command: holidays_command(rt, who, rest),
        "duty": lambda who, rest, command: duty_command(rt, who, rest),
        "autoassign": lambda who, rest, command: auto_assign_command(rt, who, rest),
        "rota": lambda who, rest, command: rota_command(rt, who, rest),
        "language": lambda who, rest, command: (
            language_command(rt, who, rest, command.get("channel_id")),
            None,
        ),
        "watch": lambda who, rest, command: watch_command(rt, who, rest, command.get("channel_id")),
        "audit": lambda who, rest, command: (
            audit.send_audit(rt, team_id=who.team_id, user_id=who.user_id, text=rest),
            None,
        ),
    }

    def roost(command: dict[str, Any], respond: Respond) -> None:
        # Slack escapes the person's &, < and >: each command reads what they typed, and
        # escapes whatever of it it shows (bot.slack.mrkdwn).
        word, _space, rest = unescape(command.get("text") or "").strip().partition(" ")
        who = Who(team_id=command["team_id"], user_id=command["user_id"])
        # Refusals are the person's answer; anything unexpected is logged and they are
        # told, rather than left waiting for an answer that never comes.
        with answering(rt, command, respond):
            if word.lower() == "post":
                open_composer(rt, rt.slack, command["trigger_id"], who)
                return
            run = subcommands.get(word.lower())
            try:
                text, blocks = run(who, rest, command) if run else (_(HELP), None)
            except ValueError as exc:  # the arguments did not parse: the message says how
                text, blocks = str(exc), None
            respond(text=text, blocks=blocks, response_type="ephemeral")

    app.command("/roost")(ack=acknowledge, lazy=[roost])


def _mine(rt: Runtime, who: Who) -> Answer:
    mine, _open = work_lists(rt, who.team_id, who.user_id, LIST_ITEMS)
    return list_text(_("Assigned to you"), mine, _("Nothing is assigned to you. :tada:")), None


def _inbox(rt: Runtime, who: Who, handle: str | None) -> Answer:
    _assigned, waiting = work_lists(rt, who.team_id, who.user_id, LIST_ITEMS, handle=handle)
    title = (
        _("Unassigned, open mentions of {handle}").format(handle=escape(handle))
        if handle
        else _("Unassigned, open")
    )
    return list_text(title, waiting, _("Nothing waits without an assignee.")), None


def _accounts(rt: Runtime, who: Who, channel_id: str | None) -> Answer:
    url, hint = admin.connect_offer(rt, who, channel_id)
    found = admin.account_summaries(rt, who)
    blocks = accounts_blocks(found, url, hint, connect_networks=admin.may_connect(rt, who))
    return _("The connected accounts"), blocks


def _team(rt: Runtime, who: Who) -> Answer:
    members = admin.team(rt, who.team_id)
    can_grant = bool(admin.manageable_accounts(rt, who))
    return _("The team"), team_blocks(members, can_grant)


def _route(rt: Runtime, who: Who, rest: str) -> Answer:
    change = routing.apply_route(rt, who, rest)
    if change.pattern is None:
        return _("Mentions of *@{handle}* now go to <#{channel}>.").format(
            handle=change.handle, channel=change.channel_id
        ), None
    added = _("Added: mentions of *@{handle}* matching it go to <#{channel}>.").format(
        handle=change.handle, channel=change.channel_id
    )
    return added + "\n" + matches_text(
        change.pattern, change.matches, routing.PREVIEW_MENTIONS
    ), None


def _routes(rt: Runtime, who: Who, rest: str) -> Answer:
    account, found = routing.routes_for(rt, who, admin.find_account(rt, rest.strip() or "@").id)
    return _("Routes of @{handle}").format(handle=account.handle), routes_blocks(
        account.handle, account.channel_id, found
    )
