"""Adding the brand's X accounts: credentials checked against X, sealed, stored."""

from __future__ import annotations

from typing import Any

from bot import clock
from bot.crypto import token_box
from bot.errors import RoostError, SettingsError
from bot.settings import Settings
from bot.x.client import XClient
from storage.accounts import accounts_with_cursors, upsert_account
from storage.db import database_url, make_engine, session_factory
from storage.models import Account

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
    raise SettingsError(
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
        raise RoostError(
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


def list_accounts(settings: Settings) -> list[str]:
    """One line per account: handle, channel, auth, intake state and its latest error."""
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine)() as session:
            lines = []
            for account, entry in accounts_with_cursors(session):
                error = account.intake_error or (entry.last_error if entry else None)
                fields = [f"@{account.handle}", account.channel_id, account.auth_kind]
                lines.append(
                    "\t".join([*fields, account.intake_status, *([error] if error else [])])
                )
    finally:
        engine.dispose()
    return lines or ["No accounts yet: roost accounts add --handle NAME --channel CHANNEL_ID ..."]
