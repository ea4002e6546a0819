"""Setting Roost up from the server: `roost accounts add|list` and `roost grants add`.

An account's credentials are checked against X (they must be its own), sealed and
stored; a grant gives a Slack user a role on an account. What these say is said to the
operator at the command line, not in Slack: it is not translated.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import clock
from bot.crypto import token_box
from bot.errors import RoostError, SettingsError
from bot.settings import Settings
from bot.slack.client import make_client
from bot.team.networks import connect_account
from bot.x.client import XClient
from storage.accounts import account_by_handle, accounts_with_cursors, upsert_account
from storage.db import database_url, make_engine, session_factory
from storage.models import Account
from storage.set_aside import set_aside_of
from storage.team import ROLES, grant, member

OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


def credentials_from(options: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The auth kind and credentials given on the command line: OAuth 2.0 or the four 1.0a keys."""
    if options.get("oauth2_access_token"):
        credentials = {"access_token": options["oauth2_access_token"]}
        if options.get("oauth2_refresh_token"):
            credentials["refresh_token"] = options["oauth2_refresh_token"]
        return "oauth2", credentials
    given = {key: options.get(key) for key in OAUTH1_KEYS}
    if all(given.values()):
        return "oauth1", {key: str(value) for key, value in given.items()}
    missing = [f"--{key.replace('_', '-')}" for key, value in given.items() if not value]
    raise SettingsError(  # not spoken: the command line
        "Give --oauth2-access-token (and --oauth2-refresh-token), or all four OAuth 1.0a keys "
        f"(missing: {', '.join(missing)}). They are in the X developer portal under "
        "'Keys and tokens'."
    )


def add_account(
    settings: Settings, handle: str, channel: str, auth_kind: str, credentials: dict[str, str]
) -> tuple[Account, bool]:
    """Look the account up on X with its own tokens, then store it sealed.

    The tokens must belong to `handle`: a token for another account would
    post as the wrong brand. Adding a known account updates its tokens and
    channel, and resumes an intake stopped by a revoked token.
    """
    me = XClient(auth_kind, credentials, base_url=settings.x_api_url).me()
    if me["username"].lower() != handle.lstrip("@").lower():
        raise RoostError(  # not spoken: the command line
            f"These tokens belong to @{me['username']}, not @{handle.lstrip('@')}: "
            "check which account authorized them."
        )
    box = token_box(settings)
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine).begin() as session:
            return upsert_account(
                session,
                x_user_id=int(me["id"]),
                handle=me["username"],
                name=me.get("name", ""),
                channel_id=channel,
                auth_kind=auth_kind,
                sealed_credentials=box.seal(credentials),
                now=clock.now(),
            )
    finally:
        engine.dispose()


def add_network_account(
    settings: Settings, network: str, service: str, secrets: dict[str, str], channel: str
) -> tuple[Account, bool]:
    """Sign in to a Bluesky or Mastodon account with its own secrets, then store it sealed
    (see bot.team.networks.connect_account)."""
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        return connect_account(
            session_factory(engine),
            token_box(settings),
            clock.now(),
            network=network,
            service=service,
            secrets=secrets,
            channel=channel,
        )
    finally:
        engine.dispose()


def list_accounts(settings: Settings) -> list[str]:
    """One line per account: handle, channel, auth, intake state and its latest error;
    under it, the X limit it has spent while that lasts, and one indented line for each of
    its posts set aside, with the reason."""
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine)() as session:
            lines = []
            aside = set_aside_of(session)
            for account, entry in accounts_with_cursors(session):
                error = account.intake_error or (entry.last_error if entry else None)
                how = account.service_url or account.auth_kind  # a server, or X's OAuth
                fields = [f"@{account.handle}", account.channel_id, f"{account.network} ({how})"]
                lines.append(
                    "\t".join([*fields, account.intake_status, *([error] if error else [])])
                )
                until = account.x_limited_until
                if until is not None and until > clock.now():
                    lines.append(  # not spoken: the command line
                        f"\tX limit spent: {account.x_limit}; resumes by itself at "
                        f"{until:%Y-%m-%d %H:%M} UTC"
                    )
                lines += [  # not spoken: the command line
                    f"\tset aside: {item.ref}, {item.times}× (last {item.last_at:%Y-%m-%d %H:%M} "
                    f"UTC): {item.reason}"
                    for item in aside.get(account.id, [])
                ]
    finally:
        engine.dispose()
    return lines or [  # not spoken: the command line
        "No accounts yet: roost accounts add --handle NAME --channel CHANNEL_ID ..."
    ]


def grant_role(
    settings: Settings, handle: str, user_id: str, role: str, team_id: str | None
) -> str:
    """`roost grants add`: give a Slack user a role on an account; the line to print."""
    if role not in ROLES:
        raise RoostError(  # not spoken: the command line
            f"Unknown role {role!r}: use one of {', '.join(ROLES)}."
        )
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
        raise RoostError(  # not spoken: the command line
            f"{user_id!r} is not a Slack user id: it looks like U012AB3CD "
            "(the person's profile > ⋮ > Copy member ID)."
        )
    team_id = team_id or _workspace(settings)
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine).begin() as session:
            account = account_by_handle(session, handle)
            if account is None:
                raise RoostError(  # not spoken: the command line
                    f"No account @{handle.lstrip('@')}: see `roost accounts list`."
                )
            someone = member(session, team_id, user_id, clock.now())
            grant(session, account, someone, role, clock.now())
            return f"{user_id} is now {role} on @{account.handle}."  # not spoken: the command line
    finally:
        engine.dispose()


def _workspace(settings: Settings) -> str:
    """The Slack workspace Roost is installed in, from its bot token."""
    if settings.slack_bot_token is None:
        raise SettingsError(  # not spoken: the command line
            "SLACK_BOT_TOKEN is not set, so the workspace is unknown: give --team T… "
            "(the workspace id, in the workspace's About page)."
        )
    slack = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    try:
        return str(slack.auth_test()["team_id"])
    except (SlackApiError, OSError) as exc:
        raise RoostError(  # not spoken: the command line
            f"Could not ask Slack which workspace this is ({exc}): give --team T…"
        ) from None
