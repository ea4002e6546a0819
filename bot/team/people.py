"""People in the Slack workspace: who is a person here, and who administers it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select

from bot.errors import Refused
from bot.i18n import _
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from storage.accounts import account_by_handle
from storage.models import Account
from storage.team import roles_of


@dataclass(frozen=True, slots=True)
class Who:
    """A person in Slack: who is asking, clicking or acting."""

    team_id: str
    user_id: str


ADMIN_CACHE_SECONDS = 300.0
"""How long a person's Slack admin status is trusted before asking Slack again."""

_admins: dict[tuple[str, str], tuple[float, bool]] = {}

NAME_CACHE_SECONDS = 3600.0
"""How long a person's display name is kept before asking Slack again."""

_names: dict[tuple[str, str], tuple[float, str]] = {}


def check_person(rt: Runtime, team_id: str, user: str) -> None:
    """Refused unless `user` is a person in this workspace (not a bot, not gone, not a guest
    from another workspace)."""
    try:
        found = rt.slack.users_info(user=user)["user"]
    except SlackApiError as exc:
        if exc.response.get("error") == "user_not_found":
            raise Refused(
                _("<@{user}> is not in this Slack workspace: invite them to Slack first.").format(
                    user=user
                )
            ) from None
        raise
    if found.get("is_bot") or found.get("is_app_user"):
        raise Refused(_("<@{user}> is a bot; mentions are assigned to people.").format(user=user))
    if found.get("deleted"):
        raise Refused(_("<@{user}> has left this workspace.").format(user=user))
    if team_id and found.get("team_id") not in (None, team_id):
        raise Refused(
            _("<@{user}> is in another workspace: invite them to this one first.").format(user=user)
        )


def is_admin(rt: Runtime, user: str) -> bool:
    """A bootstrap admin (ROOST_ADMINS) or an admin or owner of the Slack workspace."""
    if user in rt.settings.admins:
        return True
    key = (rt.settings.slack_api_url, user)
    cached = _admins.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        found = rt.slack.users_info(user=user)["user"]
    except SlackApiError:
        return False
    admin = bool(found.get("is_admin") or found.get("is_owner") or found.get("is_primary_owner"))
    _admins[key] = (time.monotonic() + ADMIN_CACHE_SECONDS, admin)
    return admin


def time_zone(rt: Runtime, user: str) -> str | None:
    """The person's time zone from their Slack profile; None if Slack does not say."""
    try:
        found = rt.slack.users_info(user=user)["user"]
    except SlackApiError:
        return None
    zone = found.get("tz")
    return str(zone) if zone else None


def display_names(rt: Runtime, users: Iterable[str]) -> dict[str, str]:
    """People's names as Slack shows them, for text that names without pinging.

    Someone Slack will not describe (or a Slack hiccup) is left out: the caller
    falls back to a mention.
    """
    found: dict[str, str] = {}
    for user in dict.fromkeys(users):
        key = (rt.settings.slack_api_url, user)
        cached = _names.get(key)
        if cached is not None and cached[0] > time.monotonic():
            found[user] = cached[1]
            continue
        try:
            described = rt.slack.users_info(user=user)["user"]
        except (SlackClientError, OSError):
            continue
        profile = described.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or described.get("name")
        if name:
            _names[key] = (time.monotonic() + NAME_CACHE_SECONDS, str(name))
            found[user] = str(name)
    return found


def visible_accounts(rt: Runtime, session: Any, who: Who, handle: str | None) -> list[Account]:
    """The accounts whose figures the person may see: those they hold a role on; admins,
    every account."""
    admin = is_admin(rt, who.user_id)
    if handle is not None:
        account = account_by_handle(session, handle)
        if account is None:
            raise Refused(
                _("There is no account @{handle} in Roost: `/roost accounts` lists them.").format(
                    handle=escape(handle)
                )
            )
        if not admin and account.id not in roles_of(session, who.team_id, who.user_id):
            raise Refused(
                _("You have no role on @{handle}, so its figures are not yours.").format(
                    handle=account.handle
                )
            )
        return [account]
    query = select(Account).order_by(Account.handle)
    if not admin:
        query = query.where(Account.id.in_(roles_of(session, who.team_id, who.user_id)))
    accounts = list(session.scalars(query))
    if not accounts:
        raise Refused(_("You have no role on any account yet; an owner can give you one."))
    return accounts
