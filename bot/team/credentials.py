"""The X credentials an account acts with: opened from their seal, an OAuth 2.0 access
token refreshed before it lapses, and the X client acting as the account.

X's refresh tokens are single-use: a refresh answers a new pair and kills the refresh
token it was given. Two processes refreshing one account at once would lock it out (the
loser's token is dead, the winner's pair possibly unsaved), so a refresh runs under a
per-account lease in Redis, reads the row again once it holds the lease (another process
may have refreshed meanwhile) and stores the new pair and its expiry in one UPDATE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial

from bot.errors import RoostError, XTokenRevoked, XUnavailable
from bot.i18n import _
from bot.lease import Lease
from bot.logs import remember_secret
from bot.rate_limits import count_rate_limit
from bot.runtime import Runtime
from bot.x.client import XClient
from bot.x.meter import Meter
from bot.x.oauth import TokenRefused, expiry_of, token_call, tokens_from
from bot.x.prices import load_prices
from storage.models import Account
from storage.oauth import replace_tokens

logger = logging.getLogger(__name__)

NOT_SECRET = frozenset({"handle"})
"""Credentials' fields that are not secrets (a Bluesky account's handle): the logs keep
them, where every other value is scrubbed."""

REFRESH_AHEAD = timedelta(minutes=5)
"""An access token this close to its expiry is refreshed before use, so that a call
started with it does not meet the expiry midway."""

REFRESH_LEASE_SECONDS = 60.0
"""Life of the per-account refresh lease: more than a token call can take (DEFAULT_TIMEOUT),
so a live holder never loses it; and the longest a holder that died blocks the others."""

REFRESH_WAIT_SECONDS = 30.0
"""How long a process waits for another one's refresh of the same account to end."""

REFRESH_POLL_SECONDS = 0.05
"""How often a waiting process looks whether the refresh lease is free."""


def x_client(rt: Runtime, account: Account) -> XClient:
    """A client acting as this account, with its decrypted tokens; an OAuth 2.0 access
    token about to expire is refreshed first (see fresh_credentials)."""
    owner = rt.settings.x_app_owner
    return XClient(
        account.auth_kind,
        fresh_credentials(rt, account),
        base_url=rt.settings.x_api_url,
        on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
        meter=Meter(rt.redis, load_prices(rt.settings.x_prices_file), account.id, rt.clock),
        owner_x_id=account.x_user_id if owner == account.handle.lower() else None,
    )


def refresh_due(
    auth_kind: str, credentials: dict[str, str], expires_at: datetime | None, now: datetime
) -> bool:
    """Whether these credentials need a refresh before use: an OAuth 2.0 access token with a
    refresh token, expiring within REFRESH_AHEAD (or at an unknown time)."""
    if auth_kind != "oauth2" or not credentials.get("refresh_token"):
        return False
    return expires_at is None or expires_at - REFRESH_AHEAD <= now


def fresh_credentials(rt: Runtime, account: Account) -> dict[str, str]:
    """The account's decrypted credentials, its access token refreshed first if due.

    Without a refresh due this touches neither Redis nor the database. A refresh runs
    under the account's lease (one at a time, across processes and machines). Raises
    XTokenRevoked when the account is disconnected or X refuses its refresh token.
    """
    credentials = open_credentials(rt, account)
    if not refresh_due(account.auth_kind, credentials, account.token_expires_at, rt.clock()):
        return credentials
    if account.token_expires_at is None and not rt.settings.x_client_id:
        # Tokens given to `roost accounts add`, with no client to refresh them: as given.
        return credentials
    return _refreshed(rt, account.id)


def _refreshed(rt: Runtime, account_id: int) -> dict[str, str]:
    with refresh_lease(rt, account_id) as held:
        # Read again: whoever held the lease before may have refreshed already, and X's
        # refresh tokens work once.
        account, credentials = current_credentials(rt, account_id)
        if not refresh_due(account.auth_kind, credentials, account.token_expires_at, rt.clock()):
            return credentials
        if not held:
            raise XUnavailable(
                _(
                    "Another Roost process has been refreshing @{handle}'s X token for "
                    "over {seconds} seconds; trying again shortly should work."
                ).format(handle=account.handle, seconds=f"{REFRESH_WAIT_SECONDS:.0f}")
            )
        return _refresh(rt, account, credentials)


def _refresh(rt: Runtime, account: Account, credentials: dict[str, str]) -> dict[str, str]:
    """Trade the refresh token for a new pair and store it (the caller holds the lease)."""
    now = rt.clock()
    try:
        answer = token_call(
            rt.settings,
            {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
            doing=_("refreshing @{handle}'s token").format(handle=account.handle),
            on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
        )
    except TokenRefused:
        current, latest = current_credentials(rt, account.id)
        if current.credentials != account.credentials and latest.get("access_token"):
            return latest  # connected again meanwhile: those tokens are the ones to use
        raise XTokenRevoked(
            _(
                "X refused @{handle}'s refresh token: its access was revoked at X or "
                'has lapsed. Reconnect the account with "Connect an account" in Slack.'
            ).format(handle=account.handle)
        ) from None
    tokens = tokens_from(answer)
    expected = account.credentials
    for _attempt in range(3):
        with rt.sessions.begin() as session:
            stored = replace_tokens(
                session,
                account.id,
                expected=expected,
                sealed_credentials=rt.box.seal(tokens),
                expires_at=expiry_of(answer, now),
                now=rt.clock(),
            )
        if stored:
            logger.info("refreshed @%s's X access token", account.handle)
            return tokens
        current, latest = current_credentials(rt, account.id)
        if latest.get("refresh_token") != credentials["refresh_token"]:
            break
        # The same tokens, sealed anew (`roost keys rotate` ran meanwhile): store the new
        # pair over them, or the spent refresh token would lock the account out.
        expected = current.credentials
    # Connected again while X answered: the row's tokens are the newer grant. The pair just
    # made is dropped, not revoked: X may end a whole grant with one of its tokens.
    _current, latest = current_credentials(rt, account.id)
    return latest


@contextmanager
def refresh_lease(rt: Runtime, account_id: int) -> Iterator[bool]:
    """Hold the account's refresh lease, waiting up to REFRESH_WAIT_SECONDS for it; yields
    whether it is held (False: the wait ran out)."""
    lease = Lease(rt.redis, f"x-refresh:{account_id}", seconds=REFRESH_LEASE_SECONDS)
    deadline = time.monotonic() + REFRESH_WAIT_SECONDS
    held = lease.acquire()
    while not held and time.monotonic() < deadline:
        time.sleep(REFRESH_POLL_SECONDS)
        held = lease.acquire()
    try:
        yield held
    finally:
        if held:
            lease.release()


def current_credentials(rt: Runtime, account_id: int) -> tuple[Account, dict[str, str]]:
    with rt.sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise RoostError(
                _("Account {account} is not in Roost any more.").format(account=account_id)
            )
    return account, open_credentials(rt, account)


def open_credentials(rt: Runtime, account: Account) -> dict[str, str]:
    credentials = rt.box.open(account.credentials)
    if not credentials:
        raise _disconnected(account.handle)
    for key, value in credentials.items():
        if key not in NOT_SECRET:
            remember_secret(value)
    return credentials


def _disconnected(handle: str) -> XTokenRevoked:
    return XTokenRevoked(
        _(
            '@{handle} is disconnected from Roost. Reconnect it with "Connect an account" in Slack.'
        ).format(handle=handle)
    )
