"""Connecting X accounts with OAuth 2.0 (authorization code with PKCE), and disconnecting.

"Connect an account" in Slack stores a random state and code verifier and sends the
person to X's consent page; X sends the browser back to the web process's callback,
which checks the state, exchanges the code for tokens, asks X whose they are and stores
the account with its tokens sealed. Disconnecting revokes the tokens at X and forgets
them, under the same lease as a refresh (bot.team.credentials).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

from redis.exceptions import RedisError
from rq import Retry

from bot import runtime
from bot.errors import RoostError
from bot.i18n import _
from bot.logs import remember_secret
from bot.rate_limits import count_rate_limit
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.client import translate_errors
from bot.slack.mrkdwn import escape
from bot.team.credentials import refresh_lease
from bot.team.language import in_channel
from bot.x.client import XClient
from bot.x.meter import Meter
from bot.x.oauth import (
    SCOPES,
    TokenRefused,
    client_id,
    code_challenge,
    expiry_of,
    missing_setting,
    revoke,
    token_call,
    tokens_from,
)
from bot.x.prices import Charge, load_prices
from storage.accounts import upsert_account
from storage.events import record_event
from storage.models import Account, OAuthState
from storage.oauth import (
    account_for_x_user,
    add_state,
    disconnect_account,
    forget_states,
    use_state,
)

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/x/oauth/callback"
"""Where X sends the browser back: ROOST_PUBLIC_URL + this, served by the web process."""

STATE_TTL = timedelta(minutes=10)
"""How long a "Connect an account" link works after Roost made it."""

STATE_KEPT = timedelta(days=7)
"""How long spent states are kept, so that an old link still says why it fails."""

NOTICE_RETRY = Retry(max=3, interval=[5, 30, 120])


class ConnectRefused(RoostError):
    """The OAuth callback cannot connect an account; the message is shown on its page (in
    the default language: the web process knows no one's)."""


@dataclass(frozen=True)
class _Pending:
    """What the callback needs of a state it has just used."""

    code_verifier: str
    user_id: str
    channel_id: str | None


def authorize_url(rt: Runtime, *, team_id: str, user_id: str, channel_id: str | None) -> str:
    """X's consent page for a new connection started in Slack by `user_id`.

    Stores a random state and PKCE code verifier, for the callback to check and use;
    the account's cards will go to `channel_id` (None: its current channel, or
    ROOST_DEFAULT_CHANNEL).
    """
    settings = rt.settings
    identity = client_id(settings)
    redirect = redirect_uri(settings)
    state = secrets.token_urlsafe(32)  # 43 characters
    verifier = secrets.token_urlsafe(64)  # 86 of PKCE's unreserved characters (43 to 128)
    now = rt.clock()
    with rt.sessions.begin() as session:
        forget_states(session, created_before=now - STATE_KEPT)
        add_state(
            session,
            state=state,
            code_verifier=verifier,
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            now=now,
        )
    query = {
        "response_type": "code",
        "client_id": identity,
        "redirect_uri": redirect,
        "scope": SCOPES,
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{settings.x_authorize_url}?{urlencode(query, quote_via=quote)}"


def redirect_uri(settings: Settings) -> str:
    """The callback address X sends people back to; it must be registered at X as is."""
    if not settings.roost_public_url:
        raise missing_setting("ROOST_PUBLIC_URL")
    return settings.roost_public_url.rstrip("/") + CALLBACK_PATH


def complete(rt: Runtime, *, state: str | None, code: str | None, error: str | None) -> Account:
    """Finish a connection on X's callback: check and spend the state, exchange the code,
    ask X whose tokens they are, store the account, and queue a notice to its channel.

    Connecting a known account updates its tokens (and resumes its intake). Raises
    ConnectRefused with what the person can do about it.
    """
    pending = _spend_state(rt, state)
    if error:
        raise ConnectRefused(_declined(error))
    if not code:
        raise ConnectRefused(
            _(
                "X sent no authorization code back, so nothing was connected: start again "
                'from Slack with "Connect an account".'
            )
        )
    now = rt.clock()
    try:
        answer = token_call(
            rt.settings,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(rt.settings),
                "code_verifier": pending.code_verifier,
            },
            doing=_("exchanging the authorization code"),
            on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
        )
    except TokenRefused as exc:
        raise ConnectRefused(
            _(
                "X did not accept this authorization ({problem}), so nothing was connected. "
                "X's codes work once and only briefly: start again from Slack with \"Connect "
                'an account".'
            ).format(problem=exc)
        ) from None
    tokens = tokens_from(answer)
    me = XClient(
        "oauth2",
        tokens,
        base_url=rt.settings.x_api_url,
        on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
    ).me()
    try:
        account = _store(rt, me, tokens, expiry_of(answer, now), pending, now)
    except ConnectRefused:
        # Tokens nobody stores must not stay valid at X (Roost holds no others of this
        # user's that revoking these could take along).
        _revoke_all(rt, tokens, "the refused connection's tokens")  # not spoken: for the log
        raise
    # The profile read, counted once the account it is billed to exists.
    meter = Meter(rt.redis, load_prices(rt.settings.x_prices_file), account.id, rt.clock)
    meter([Charge("read:user", (str(me["id"]),))])
    try:
        rt.team_queue.enqueue(announce_connected, account.id, pending.user_id, retry=NOTICE_RETRY)
    except RedisError as exc:
        logger.error("could not queue the notice that @%s is connected (%s)", account.handle, exc)
    return account


def announce_connected(account_id: int, user_id: str) -> None:
    """RQ job: say in the account's channel that it is connected, and by whom."""
    rt = runtime.current()
    with rt.sessions() as session:
        account = session.get_one(Account, account_id)
        channel, handle = account.channel_id, account.handle
    with in_channel(rt, channel), translate_errors(channel):
        rt.slack.chat_postMessage(channel=channel, text=connected_text(handle, user_id))


def connected_text(handle: str, user_id: str) -> str:
    return _(
        ":white_check_mark: Connected *@{handle}* (by <@{user}>): "
        "its mentions will arrive here as cards."
    ).format(handle=escape(handle), user=user_id)


_STATE_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
"""What secrets.token_urlsafe(32) makes: anything else is not a state Roost issued."""


def _spend_state(rt: Runtime, state: str | None) -> _Pending:
    """Check the state X sent back and mark it used, committed before anything else: of two
    callbacks racing with one link, only one gets past this."""
    now = rt.clock()
    if state is not None and not _STATE_SHAPE.fullmatch(state):
        state = None  # not one of ours; and a NUL byte would trouble PostgreSQL
    with rt.sessions.begin() as session:
        found = session.get(OAuthState, state) if state else None
        if found is None:
            raise ConnectRefused(
                _(
                    "This link is not one Roost made, so nothing was connected: start again "
                    'from Slack with "Connect an account".'
                )
            )
        if found.used_at is not None or not use_state(session, found.state, now):
            raise ConnectRefused(
                _(
                    "This link was already used. If the account is not connected yet, start "
                    'again from Slack with "Connect an account".'
                )
            )
        if now - found.created_at > STATE_TTL:
            minutes = int(STATE_TTL.total_seconds() // 60)
            raise ConnectRefused(
                _(
                    "This link expired (links work for {minutes} minutes): start again from "
                    'Slack with "Connect an account".'
                ).format(minutes=minutes)
            )
        return _Pending(found.code_verifier, found.user_id, found.channel_id)


def _declined(error: str) -> str:
    said = error[:100]
    if error == "access_denied":
        return _(
            "X said: {said} — you declined, so nothing was connected. To connect the account, "
            'start again from Slack with "Connect an account" and authorize the app on X.'
        ).format(said=said)
    return _(
        'X said: {said}. Nothing was connected: start again from Slack with "Connect an account".'
    ).format(said=said)


def _store(
    rt: Runtime,
    me: dict[str, Any],
    tokens: dict[str, str],
    expires_at: datetime | None,
    pending: _Pending,
    now: datetime,
) -> Account:
    handle = str(me["username"])
    with rt.sessions.begin() as session:
        known = account_for_x_user(session, int(me["id"]))
        # A connected account keeps its channel (moving it is `/roost route`); a new
        # one's cards go where "Connect an account" was pressed.
        channel = (
            (known.channel_id if known is not None else None)
            or pending.channel_id
            or rt.settings.roost_default_channel
        )
        if not channel:
            raise ConnectRefused(
                _(
                    "Roost does not know which Slack channel @{handle}'s mentions go to, so "
                    'nothing was connected: start again from Slack with "Connect an account" '
                    "from that channel, or set ROOST_DEFAULT_CHANNEL."
                ).format(handle=handle)
            )
        account, _created = upsert_account(
            session,
            x_user_id=int(me["id"]),
            handle=handle,
            name=str(me.get("name", "")),
            channel_id=channel,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal(tokens),
            now=now,
            token_expires_at=expires_at,
        )
        account.connected_by = pending.user_id
        record_event(
            session,
            "account.connected",
            now,
            actor=pending.user_id,
            account_id=account.id,
            handle=handle,
            channel=channel,
        )
    return account


def disconnect(rt: Runtime, account_id: int, *, actor: str) -> None:
    """Revoke the account's tokens at X, forget them and stop its intake ("disconnected").

    A failure to revoke is logged and does not stop the forgetting. Runs under the
    refresh lease, so no refresh stores a new pair behind it.
    """
    with refresh_lease(rt, account_id) as held:
        if not held:
            logger.warning("disconnecting account %s without its refresh lease", account_id)
        with rt.sessions() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise RoostError(
                    _("Account {account} is not in Roost any more.").format(account=account_id)
                )
        try:
            credentials = rt.box.open(account.credentials)
        except RoostError as exc:
            logger.warning("cannot revoke @%s's tokens at X: %s", account.handle, exc)
            credentials = {}
        for value in credentials.values():
            remember_secret(value)
        if account.auth_kind == "oauth2":
            _revoke_all(rt, credentials, f"@{account.handle}'s tokens")  # not spoken: for the log
        with rt.sessions.begin() as session:
            disconnect_account(
                session,
                account_id,
                sealed_credentials=rt.box.seal({}),
                actor=actor,
                now=rt.clock(),
            )
    logger.info("@%s disconnected by %s", account.handle, actor)


def _revoke_all(rt: Runtime, credentials: dict[str, str], whose: str) -> None:
    """Revoke the refresh token, then the access token, at X; failures are logged only."""
    for hint in ("refresh_token", "access_token"):
        token = credentials.get(hint)
        if not token:
            continue
        try:
            revoke(rt.settings, token, hint, on_rate_limit=partial(count_rate_limit, rt.redis, "x"))
        except RoostError as exc:
            logger.warning("could not revoke %s (%s) at X: %s", whose, hint, exc)
