"""People in the Slack workspace: who is a person here, and who administers it."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError

from bot.outbox import Refused
from bot.runtime import Runtime

ADMIN_CACHE_SECONDS = 300.0
"""How long a person's Slack admin status is trusted before asking Slack again."""

_admins: dict[tuple[str, str], tuple[float, bool]] = {}


def check_person(rt: Runtime, team_id: str, user: str) -> None:
    """Refused unless `user` is a person in this workspace (not a bot, not gone, not a guest
    from another workspace)."""
    try:
        found = rt.slack.users_info(user=user)["user"]
    except SlackApiError as exc:
        if exc.response.get("error") == "user_not_found":
            raise Refused(
                f"<@{user}> is not in this Slack workspace: invite them to Slack first."
            ) from None
        raise
    if found.get("is_bot") or found.get("is_app_user"):
        raise Refused(f"<@{user}> is a bot; mentions are assigned to people.")
    if found.get("deleted"):
        raise Refused(f"<@{user}> has left this workspace.")
    if team_id and found.get("team_id") not in (None, team_id):
        raise Refused(f"<@{user}> is in another workspace: invite them to this one first.")


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
