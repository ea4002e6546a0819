"""Block Kit for managing accounts and the team: pure builders."""

from __future__ import annotations

import json
from typing import Any

from bot.i18n import N_, _, ngettext
from bot.networks.links import OTHER_NETWORKS
from bot.slack.blocks import button, confirm, context, input_block, option, section
from bot.slack.mrkdwn import escape
from bot.team.admin import AccountSummary, TeamMember, role_name

ACTION_CONNECT = "accounts.connect"
ACTION_CONNECT_NETWORK = "accounts.connect_network"  # its value: "bluesky" or "mastodon"
ACTION_SETTINGS = "accounts.settings"
ACTION_DISCONNECT = "accounts.disconnect"
ACTION_ROUTES = "accounts.routes"
ACTION_GRANT = "team.grant"

SETTINGS_CALLBACK = "account.settings"
CONNECT_NETWORK_CALLBACK = "accounts.connect_network"
GRANT_CALLBACK = "team.grant"

ROLE_LABELS = {
    "owner": N_("Owner — manages the account and its people"),
    "agent": N_("Agent — replies, DMs, retweets"),
    "needs-approval": N_("Needs approval — acts through an owner"),
    "viewer": N_("Viewer — sees cards only"),
    "none": N_("No role (revoke)"),
}
"""Each role as the team modal offers it; shown `_(ROLE_LABELS[role])`."""

INTAKE_STATES = {
    "revoked": N_("revoked"),
    "forbidden": N_("forbidden"),
    "disconnected": N_("disconnected"),
}
"""Why an account's intake is stopped, as `/roost accounts` flags it."""

LIST_LIMIT = 20
"""Accounts, members or matches listed in one answer, within Slack's 50 blocks."""


def accounts_blocks(
    accounts: list[AccountSummary],
    connect_url: str | None,
    connect_hint: str | None,
    *,
    connect_networks: bool = False,
) -> list[dict[str, Any]]:
    """`/roost accounts`: each account with its channel, settings and people; for those
    who may connect one, the buttons that do (X's link, Bluesky's and Mastodon's forms)."""
    blocks: list[dict[str, Any]] = []
    if not accounts:
        blocks.append(section(_("No accounts are connected yet.")))
    for account in accounts[:LIST_LIMIT]:
        blocks.append(section(_account_text(account)))
        if account.manageable:
            value = str(account.id)
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"account:{account.id}",
                    "elements": [
                        button(_("Settings"), ACTION_SETTINGS, value),
                        button(_("Routes"), ACTION_ROUTES, value),
                        button(
                            _("Disconnect"),
                            ACTION_DISCONNECT,
                            value,
                            style="danger",
                            confirm=confirm(
                                _("Disconnect @{handle}?").format(handle=account.handle),
                                _(
                                    "Roost revokes its tokens at X and stops reading its "
                                    "mentions. Connect it again any time."
                                ),
                                _("Disconnect"),
                            ),
                        ),
                    ],
                }
            )
    connecting = []
    if connect_url:
        connect = button(_("Connect an account"), ACTION_CONNECT, "connect", style="primary")
        connect["url"] = connect_url
        connecting.append(connect)
    if connect_networks:
        connecting += [
            button(connect_title(network), ACTION_CONNECT_NETWORK, network)
            for network in OTHER_NETWORKS
        ]
    if connecting:
        blocks.append({"type": "actions", "block_id": "accounts:connect", "elements": connecting})
    if connect_hint:
        blocks.append(context(connect_hint))
    return blocks


def _account_text(account: AccountSummary) -> str:
    status = account.intake_status
    state = ""
    if status != "active":
        said = _(INTAKE_STATES[status]) if status in INTAKE_STATES else status
        state = f" · :warning: {said}"
    if account.cotags_enabled:
        cotags = _("CoTags on (DMs too)") if account.dm_cotags else _("CoTags on")
    else:
        cotags = _("CoTags off (DMs too)") if account.dm_cotags else _("CoTags off")
    reply = _("first reply within {minutes} min ({hours})").format(
        minutes=account.sla_minutes, hours=escape(account.business_hours)
    )
    routes = ngettext("{n} route", "{n} routes", account.routes).format(n=account.routes)
    lines = [
        f"*@{escape(account.handle)}* → <#{account.channel_id}>{state}",
        f"{cotags} · {reply} · {routes}",
    ]
    if account.banned_words:
        lines.append(
            _("Banned words: {words}").format(words=escape(", ".join(account.banned_words))[:500])
        )
    by_role: dict[str, list[str]] = {}
    for user, role in account.roles:
        by_role.setdefault(role, []).append(f"<@{user}>")
    people = " · ".join(
        f"{role_name(role)}: {', '.join(users)}" for role, users in sorted(by_role.items())
    )
    lines.append(people or _("_Nobody has a role yet._"))
    return "\n".join(lines)


def settings_modal(account: AccountSummary, plan: str | None = None) -> dict[str, Any]:
    """An account's settings; `plan`: the legacy X subscription the app holds, if any,
    whose allowances stand in for the budget."""
    public = option(_("CoTags on public posts and replies"), "cotags_enabled")
    dms = option(_("CoTags on DMs too"), "dm_cotags")
    checked = [
        option for option, on in ((public, account.cotags_enabled), (dms, account.dm_cotags)) if on
    ]
    cotags: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": "value",
        "options": [public, dms],
    }
    if checked:
        cotags["initial_options"] = checked
    hours = account.hours_form
    budget = "" if account.budget_cents is None else f"{account.budget_cents / 100:.2f}"
    hard_option = option(
        _("Hard cap: pause intake, and make no call of Roost's own past it"), "budget_hard"
    )
    hard_cap: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": "value",
        "options": [hard_option],
    }
    if account.budget_hard:
        hard_cap["initial_options"] = [hard_option]
    return {
        "type": "modal",
        "callback_id": SETTINGS_CALLBACK,
        "private_metadata": json.dumps({"account_id": account.id}),
        "title": {"type": "plain_text", "text": f"@{account.handle}"[:24]},
        "submit": {"type": "plain_text", "text": _("Save")},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": [
            input_block("cotags", _("Signing"), cotags, optional=True),
            input_block(
                "banned_words",
                _("Banned words (one a line, or comma separated)"),
                _text_input("\n".join(account.banned_words), multiline=True),
                optional=True,
            ),
            input_block(
                "sla_minutes",
                _("First reply within (minutes)"),
                _text_input(str(account.sla_minutes)),
            ),
            input_block(
                "business_hours",
                _("Business hours for that target (empty: around the clock)"),
                _text_input(hours, placeholder="Mon-Fri 09:00-18:00 Asia/Seoul"),
                optional=True,
            ),
            input_block(
                "budget",
                _("Monthly X budget in dollars (empty: none)"),
                _text_input(budget, placeholder="50"),
                optional=True,
            )
            | _budget_hint(plan),
            input_block("budget_hard", _("At the budget"), hard_cap, optional=True),
        ],
    }


def _budget_hint(plan: str | None) -> dict[str, Any]:
    if plan is None:
        return {}
    hint = _(
        "The app is on X's {plan} plan: its monthly allowances, shared by every "
        "account, hold the month instead. A budget here counts once it pays per use."
    ).format(plan=plan.title())
    return {"hint": {"type": "plain_text", "text": hint}}


def settings_form(values: dict[str, Any]) -> dict[str, Any]:
    """The settings modal's submitted values, by field."""
    ticked = {
        o["value"] for o in values.get("cotags", {}).get("value", {}).get("selected_options") or []
    }

    def text(block: str) -> str:
        return str(values.get(block, {}).get("value", {}).get("value") or "")

    return {
        "cotags_enabled": "cotags_enabled" in ticked,
        "dm_cotags": "dm_cotags" in ticked,
        "banned_words": text("banned_words"),
        "sla_minutes": text("sla_minutes"),
        "business_hours": text("business_hours"),
        "budget": text("budget"),
        "budget_hard": bool(values.get("budget_hard", {}).get("value", {}).get("selected_options")),
    }


def team_blocks(members: list[TeamMember], can_grant: bool) -> list[dict[str, Any]]:
    """`/roost team`: members, their CoTags and roles."""
    blocks: list[dict[str, Any]] = []
    if not members:
        blocks.append(section(_("Nobody has a role or a CoTag yet.")))
    for person in members[:40]:
        roles = ", ".join(
            _("{role} of @{handle}").format(role=role_name(role), handle=escape(handle))
            for handle, role in person.roles
        )
        tag = f" *{escape(person.cotag)}*" if person.cotag else " " + _("_(no CoTag)_")
        roles = roles or _("no role")
        blocks.append(context(f"<@{person.user_id}>{tag} — {roles}"))
    if len(members) > 40:
        blocks.append(context(_("… and {n} more.").format(n=len(members) - 40)))
    if can_grant:
        blocks.append(
            {
                "type": "actions",
                "block_id": "team:grant",
                "elements": [
                    button(
                        _("Grant or revoke a role, set a CoTag"),
                        ACTION_GRANT,
                        "grant",
                        style="primary",
                    )
                ],
            }
        )
    return blocks


def grant_modal(accounts: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": GRANT_CALLBACK,
        "title": {"type": "plain_text", "text": _("Team")},
        "submit": {"type": "plain_text", "text": _("Save")},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": [
            input_block("who", _("Person"), {"type": "users_select", "action_id": "value"}),
            input_block(
                "account",
                _("Account"),
                {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [option(f"@{handle}", str(id_)) for id_, handle in accounts[:100]],
                },
                optional=True,
            ),
            input_block(
                "role",
                _("Role on that account"),
                {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [option(_(label), role) for role, label in ROLE_LABELS.items()],
                },
                optional=True,
            ),
            input_block(
                "cotag",
                _("CoTag (optional)"),
                _text_input("", placeholder="^BK"),
                optional=True,
            ),
        ],
    }


def grant_form(values: dict[str, Any]) -> dict[str, str | None]:
    def picked(block: str, key: str) -> str | None:
        element = values.get(block, {}).get("value", {})
        found = element.get(key)
        if isinstance(found, dict):
            return str(found.get("value")) if found.get("value") else None
        return str(found) if found else None

    return {
        "user": picked("who", "selected_user"),
        "account_id": picked("account", "selected_option"),
        "role": picked("role", "selected_option"),
        "cotag": (picked("cotag", "value") or "").strip() or None,
    }


def team_done_view(lines: list[str]) -> dict[str, Any]:
    """What the team modal shows once its changes are made."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": _("Team")},
        "close": {"type": "plain_text", "text": _("Done")},
        "blocks": [section(line) for line in lines],
    }


def _text_input(initial: str, *, multiline: bool = False, placeholder: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    return element


def connect_title(network: str) -> str:
    """The connect form's title (and its button's words) for Bluesky or Mastodon."""
    return _("Connect Bluesky") if network == "bluesky" else _("Connect Mastodon")


def connect_network_modal(network: str, channel: str) -> dict[str, Any]:
    """The form that connects a Bluesky or Mastodon account, its cards going to `channel`."""
    title = connect_title(network)
    if network == "bluesky":
        blocks = [
            input_block(
                "handle",
                _("Handle"),
                _text_input("", placeholder="acme.bsky.social"),
            ),
            input_block(
                "secret",
                _("App password"),
                _text_input("", placeholder="xxxx-xxxx-xxxx-xxxx"),
            ),
            context(
                _(
                    "Make an app password for Roost in Bluesky: Settings › Privacy and "
                    "security › App passwords (tick direct messages to let Roost send them). "
                    "Roost seals it and never shows it again."
                )
            ),
            input_block(
                "service",
                _("Server"),
                _text_input("bsky.social"),
            ),
        ]
    else:
        blocks = [
            input_block("service", _("Instance"), _text_input("", placeholder="mastodon.social")),
            input_block("secret", _("Access token"), _text_input("")),
            context(
                _(
                    "Make one on the instance: Preferences › Development › New application, "
                    "with the read and write scopes; then copy “Your access token”. Roost "
                    "seals it and never shows it again."
                )
            ),
        ]
    blocks.append(context(_("Its mentions will come to <#{channel}>.").format(channel=channel)))
    return {
        "type": "modal",
        "callback_id": CONNECT_NETWORK_CALLBACK,
        "private_metadata": json.dumps({"network": network, "channel": channel}),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": _("Connect")},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": blocks,
    }


def connect_network_form(view: dict[str, Any]) -> tuple[str, str, str, dict[str, str]]:
    """What the connect form says: (network, channel, server, secrets)."""
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]

    def typed(block: str) -> str:
        return str((values.get(block, {}).get("value") or {}).get("value") or "").strip()

    network = str(meta.get("network", ""))
    if network == "bluesky":
        secrets = {"handle": typed("handle"), "app_password": typed("secret")}
    else:
        secrets = {"access_token": typed("secret")}
    return network, str(meta.get("channel", "")), typed("service"), secrets
