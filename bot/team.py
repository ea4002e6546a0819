"""The team in Slack: members' CoTags and roles."""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError

from bot import clock
from bot.errors import RoostError, SettingsError
from bot.outbox import Who
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.client import make_client
from bot.slack.mrkdwn import escape
from bot.x.text import parse_cotag
from storage.accounts import account_by_handle
from storage.db import database_url, make_engine, session_factory
from storage.team import ROLES, CoTagTaken, grant, member, set_cotag


def change_cotag(rt: Runtime, who: Who, raw: str) -> str:
    """Set the person's own CoTag; the answer to show them."""
    if not raw.strip():
        with rt.sessions.begin() as session:
            current = member(session, who.team_id, who.user_id, rt.clock()).cotag
        if current:
            return f"Your CoTag is *{escape(current)}*. Change it with `/roost cotag ^AB`."
        return "You have no CoTag yet. Set one with `/roost cotag ^AB` (^ and 1 to 4 letters)."
    try:
        cotag = parse_cotag(raw)
    except ValueError as exc:
        return str(exc)
    try:
        with rt.sessions.begin() as session:
            someone = member(session, who.team_id, who.user_id, rt.clock())
            set_cotag(session, someone, cotag, rt.clock())
    except CoTagTaken as exc:
        holder = f" by <@{exc.args[0]}>" if exc.args and exc.args[0] else ""
        return f"*{escape(cotag)}* is taken{holder}; CoTags are unique in the team. Pick another."
    return f"Your CoTag is now *{escape(cotag)}*: posts you send as the brand end with it."


def grant_role(
    settings: Settings, handle: str, user_id: str, role: str, team_id: str | None
) -> str:
    """`roost grants add`: give a Slack user a role on an account; the line to print."""
    if role not in ROLES:
        raise RoostError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
        raise RoostError(
            f"{user_id!r} is not a Slack user id: it looks like U012AB3CD "
            "(the person's profile > ⋮ > Copy member ID)."
        )
    team_id = team_id or _workspace(settings)
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine).begin() as session:
            account = account_by_handle(session, handle)
            if account is None:
                raise RoostError(f"No account @{handle.lstrip('@')}: see `roost accounts list`.")
            someone = member(session, team_id, user_id, clock.now())
            grant(session, account, someone, role, clock.now())
            return f"{user_id} is now {role} on @{account.handle}."
    finally:
        engine.dispose()


def _workspace(settings: Settings) -> str:
    """The Slack workspace Roost is installed in, from its bot token."""
    if settings.slack_bot_token is None:
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set, so the workspace is unknown: give --team T… "
            "(the workspace id, in the workspace's About page)."
        )
    slack = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    try:
        return str(slack.auth_test()["team_id"])
    except (SlackApiError, OSError) as exc:
        raise RoostError(
            f"Could not ask Slack which workspace this is ({exc}): give --team T…"
        ) from None
