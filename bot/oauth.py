"""Connecting X accounts with OAuth 2.0: authorization code with PKCE, refresh, disconnect.

"Connect an account" in Slack stores a random state and code verifier and sends the
person to X's consent page; X sends the browser back to the web process's callback,
which checks the state, exchanges the code for tokens, asks X whose they are and stores
the account with its tokens sealed.

X's refresh tokens are single-use: a refresh answers a new pair and kills the refresh
token it was given. Two processes refreshing one account at once would lock it out (the
loser's token is dead, the winner's pair possibly unsaved), so a refresh runs under a
per-account lease in Redis, reads the row again once it holds the lease (another process
may have refreshed meanwhile) and stores the new pair and its expiry in one UPDATE.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import requests
from redis.exceptions import RedisError
from rq import Retry

from bot import runtime
from bot.errors import (
    RoostError,
    SettingsError,
    XError,
    XRateLimited,
    XTokenRevoked,
    XUnavailable,
)
from bot.lease import Lease
from bot.logs import remember_secret
from bot.rate_limits import count_rate_limit
from bot.settings import WHERE_TO_GET, Settings
from bot.slack.client import translate_errors
from bot.slack.mrkdwn import escape
from bot.x.client import DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, XClient
from storage.accounts import upsert_account
from storage.events import record_event
from storage.models import Account, OAuthState
from storage.oauth import (
    account_for_x_user,
    add_state,
    disconnect_account,
    forget_states,
    replace_tokens,
    use_state,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime

logger = logging.getLogger(__name__)

SCOPES = "tweet.read users.read tweet.write dm.read dm.write media.write offline.access"
"""What Roost asks X for: read posts and users (mentions), post and repost, read and send
DMs, upload media (v2), and offline.access, without which X gives no refresh token."""

CALLBACK_PATH = "/x/oauth/callback"
"""Where X sends the browser back: ROOST_PUBLIC_URL + this, served by the web process."""

TOKEN_PATH = "/2/oauth2/token"
REVOKE_PATH = "/2/oauth2/revoke"

STATE_TTL = timedelta(minutes=10)
"""How long a "Connect an account" link works after Roost made it."""

STATE_KEPT = timedelta(days=7)
"""How long spent states are kept, so that an old link still says why it fails."""

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

NOTICE_RETRY = Retry(max=3, interval=[5, 30, 120])

START_AGAIN = 'start again from Slack with "Connect an account"'


class ConnectRefused(RoostError):
    """The OAuth callback cannot connect an account; the message is shown on its page."""


@dataclass(frozen=True)
class _Pending:
    """What the callback needs of a state it has just used."""

    code_verifier: str
    user_id: str
    channel_id: str | None


class _TokenRefused(XError):
    """X's token endpoint refused the code or refresh token (400 invalid_request/grant)."""


# --- connecting ------------------------------------------------------------------------------


def authorize_url(rt: Runtime, *, team_id: str, user_id: str, channel_id: str | None) -> str:
    """X's consent page for a new connection started in Slack by `user_id`.

    Stores a random state and PKCE code verifier, for the callback to check and use;
    the account's cards will go to `channel_id` (None: its current channel, or
    ROOST_DEFAULT_CHANNEL).
    """
    settings = rt.settings
    client_id = _client_id(settings)
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
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": SCOPES,
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{settings.x_authorize_url}?{urlencode(query, quote_via=quote)}"


def code_challenge(verifier: str) -> str:
    """PKCE's S256 challenge: the verifier's SHA-256, base64url without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def redirect_uri(settings: Settings) -> str:
    """The callback address X sends people back to; it must be registered at X as is."""
    if not settings.roost_public_url:
        raise _missing("ROOST_PUBLIC_URL")
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
            f"X sent no authorization code back, so nothing was connected: {START_AGAIN}."
        )
    now = rt.clock()
    try:
        answer = _token_call(
            rt,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(rt.settings),
                "code_verifier": pending.code_verifier,
            },
            doing="exchanging the authorization code",
        )
    except _TokenRefused as exc:
        raise ConnectRefused(
            f"X did not accept this authorization ({exc}), so nothing was connected. "
            f"X's codes work once and only briefly: {START_AGAIN}."
        ) from None
    tokens = _tokens(answer)
    me = XClient(
        "oauth2",
        tokens,
        base_url=rt.settings.x_api_url,
        on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
    ).me()
    try:
        account = _store(rt, me, tokens, _expiry(answer, now), pending, now)
    except ConnectRefused:
        # Tokens nobody stores must not stay valid at X (Roost holds no others of this
        # user's that revoking these could take along).
        _revoke_all(rt, tokens, "the refused connection's tokens")
        raise
    try:
        rt.queue.enqueue(announce_connected, account.id, pending.user_id, retry=NOTICE_RETRY)
    except RedisError as exc:
        logger.error("could not queue the notice that @%s is connected (%s)", account.handle, exc)
    return account


def announce_connected(account_id: int, user_id: str) -> None:
    """RQ job: say in the account's channel that it is connected, and by whom."""
    rt = runtime.current()
    with rt.sessions() as session:
        account = session.get_one(Account, account_id)
        channel, handle = account.channel_id, account.handle
    with translate_errors(channel):
        rt.slack.chat_postMessage(channel=channel, text=connected_text(handle, user_id))


def connected_text(handle: str, user_id: str) -> str:
    return (
        f":white_check_mark: Connected *@{escape(handle)}* (by <@{user_id}>): "
        "its mentions will arrive here as cards."
    )


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
                f"This link is not one Roost made, so nothing was connected: {START_AGAIN}."
            )
        if found.used_at is not None or not use_state(session, found.state, now):
            raise ConnectRefused(
                f"This link was already used. If the account is not connected yet, {START_AGAIN}."
            )
        if now - found.created_at > STATE_TTL:
            minutes = int(STATE_TTL.total_seconds() // 60)
            raise ConnectRefused(
                f"This link expired (links work for {minutes} minutes): {START_AGAIN}."
            )
        return _Pending(found.code_verifier, found.user_id, found.channel_id)


def _declined(error: str) -> str:
    said = error[:100]
    if error == "access_denied":
        return (
            f"X said: {said} — you declined, so nothing was connected. To connect the account, "
            f"{START_AGAIN} and authorize the app on X."
        )
    return f"X said: {said}. Nothing was connected: {START_AGAIN}."


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
                f"Roost does not know which Slack channel @{handle}'s mentions go to, so "
                f"nothing was connected: {START_AGAIN} from that channel, or set "
                "ROOST_DEFAULT_CHANNEL."
            )
        account, _ = upsert_account(
            session,
            x_user_id=int(me["id"]),
            handle=handle,
            name=str(me.get("name", "")),
            channel_id=channel,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal(tokens),
            now=now,
        )
        account.token_expires_at = expires_at
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


# --- refreshing ------------------------------------------------------------------------------


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
    credentials = _open(rt, account)
    if not refresh_due(account.auth_kind, credentials, account.token_expires_at, rt.clock()):
        return credentials
    if account.token_expires_at is None and not rt.settings.x_client_id:
        # Tokens given to `roost accounts add`, with no client to refresh them: as given.
        return credentials
    return _refreshed(rt, account.id)


def _refreshed(rt: Runtime, account_id: int) -> dict[str, str]:
    with _account_lease(rt, account_id) as held:
        # Read again: whoever held the lease before may have refreshed already, and X's
        # refresh tokens work once.
        account, credentials = _current(rt, account_id)
        if not refresh_due(account.auth_kind, credentials, account.token_expires_at, rt.clock()):
            return credentials
        if not held:
            raise XUnavailable(
                f"Another Roost process has been refreshing @{account.handle}'s X token for "
                f"over {REFRESH_WAIT_SECONDS:.0f} seconds; trying again shortly should work."
            )
        return _refresh(rt, account, credentials)


def _refresh(rt: Runtime, account: Account, credentials: dict[str, str]) -> dict[str, str]:
    """Trade the refresh token for a new pair and store it (the caller holds the lease)."""
    now = rt.clock()
    try:
        answer = _token_call(
            rt,
            {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
            doing=f"refreshing @{account.handle}'s token",
        )
    except _TokenRefused:
        current, latest = _current(rt, account.id)
        if current.credentials != account.credentials and latest.get("access_token"):
            return latest  # connected again meanwhile: those tokens are the ones to use
        raise XTokenRevoked(
            f"X refused @{account.handle}'s refresh token: its access was revoked at X or "
            'has lapsed. Reconnect the account with "Connect an account" in Slack.'
        ) from None
    tokens = _tokens(answer)
    expected = account.credentials
    for _ in range(3):
        with rt.sessions.begin() as session:
            stored = replace_tokens(
                session,
                account.id,
                expected=expected,
                sealed_credentials=rt.box.seal(tokens),
                expires_at=_expiry(answer, now),
                now=rt.clock(),
            )
        if stored:
            logger.info("refreshed @%s's X access token", account.handle)
            return tokens
        current, latest = _current(rt, account.id)
        if latest.get("refresh_token") != credentials["refresh_token"]:
            break
        # The same tokens, sealed anew (`roost keys rotate` ran meanwhile): store the new
        # pair over them, or the spent refresh token would lock the account out.
        expected = current.credentials
    # Connected again while X answered: the row's tokens are the newer grant. The pair just
    # made is dropped, not revoked: X may end a whole grant with one of its tokens.
    _, latest = _current(rt, account.id)
    return latest


@contextmanager
def _account_lease(rt: Runtime, account_id: int) -> Iterator[bool]:
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


def _current(rt: Runtime, account_id: int) -> tuple[Account, dict[str, str]]:
    with rt.sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise RoostError(f"Account {account_id} is not in Roost any more.")
    return account, _open(rt, account)


def _open(rt: Runtime, account: Account) -> dict[str, str]:
    credentials = rt.box.open(account.credentials)
    if not credentials:
        raise _disconnected(account.handle)
    for value in credentials.values():
        remember_secret(value)
    return credentials


def _disconnected(handle: str) -> XTokenRevoked:
    return XTokenRevoked(
        f'@{handle} is disconnected from Roost. Reconnect it with "Connect an account" in Slack.'
    )


# --- disconnecting ---------------------------------------------------------------------------


def disconnect(rt: Runtime, account_id: int, *, actor: str) -> None:
    """Revoke the account's tokens at X, forget them and stop its intake ("disconnected").

    A failure to revoke is logged and does not stop the forgetting. Runs under the
    refresh lease, so no refresh stores a new pair behind it.
    """
    with _account_lease(rt, account_id) as held:
        if not held:
            logger.warning("disconnecting account %s without its refresh lease", account_id)
        with rt.sessions() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise RoostError(f"Account {account_id} is not in Roost any more.")
        try:
            credentials = rt.box.open(account.credentials)
        except RoostError as exc:
            logger.warning("cannot revoke @%s's tokens at X: %s", account.handle, exc)
            credentials = {}
        for value in credentials.values():
            remember_secret(value)
        if account.auth_kind == "oauth2":
            _revoke_all(rt, credentials, f"@{account.handle}'s tokens")
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
            _revoke(rt, token, hint)
        except RoostError as exc:
            logger.warning("could not revoke %s (%s) at X: %s", whose, hint, exc)


def _revoke(rt: Runtime, token: str, hint: str) -> None:
    doing = "revoking a token"
    response = _client_post(rt, REVOKE_PATH, {"token": token, "token_type_hint": hint}, doing)
    if response.status_code != 200:
        _raise_for(response, doing)


# --- X's token endpoints ---------------------------------------------------------------------


def _token_call(rt: Runtime, form: dict[str, str], *, doing: str) -> dict[str, Any]:
    """POST the token endpoint; its answer, or Roost's error for X's."""
    response = _client_post(rt, TOKEN_PATH, form, doing)
    answer = _json(response)
    if response.status_code == 200 and answer.get("access_token"):
        return answer
    if response.status_code == 400 and answer.get("error") in ("invalid_request", "invalid_grant"):
        raise _TokenRefused(_description(answer, response))
    _raise_for(response, doing)
    raise XError(f"X answered without an access token while {doing}.")


def _client_post(rt: Runtime, path: str, form: dict[str, str], doing: str) -> requests.Response:
    """POST a form to X as Roost's OAuth 2.0 client: HTTP Basic for a confidential client
    (X_CLIENT_SECRET set), client_id in the form for a public one."""
    settings = rt.settings
    client_id = _client_id(settings)
    auth: tuple[str, str] | None = None
    if settings.x_client_secret is not None:
        auth = (client_id, settings.x_client_secret.get_secret_value())
    else:
        form = {**form, "client_id": client_id}
    try:
        response = requests.post(
            settings.x_api_url + path,
            data=form,
            auth=auth,
            timeout=DEFAULT_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise XUnavailable(
            f"X could not be reached while {doing} ({type(exc).__name__})."
        ) from None
    if response.status_code == 429:  # not through XBaseAdapter, so counted here
        count_rate_limit(rt.redis, "x")
    return response


def _raise_for(response: requests.Response, doing: str) -> None:
    """Raise Roost's error for a failed answer from X's token or revoke endpoint."""
    status = response.status_code
    answer = _json(response)
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        reset_at = (
            datetime.fromtimestamp(int(reset), UTC)
            if reset.isdigit()
            else datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT
        )
        raise XRateLimited(
            f"X rate-limited {doing}; it allows calls again at {reset_at:%H:%M:%S} UTC.",
            reset_at,
        )
    if status >= 500:
        raise XUnavailable(f"X is failing ({status}) while {doing}.")
    if status in (401, 403) or answer.get("error") in ("invalid_client", "unauthorized_client"):
        raise XError(
            f"X refused Roost's OAuth 2.0 client while {doing} "
            f"({_description(answer, response)}): check X_CLIENT_ID and X_CLIENT_SECRET against "
            "'Keys and tokens' in the X developer portal (a confidential client needs "
            "X_CLIENT_SECRET, a public one must leave it unset)."
        )
    if status != 200:
        raise XError(f"X rejected {doing}: {_description(answer, response)}.")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _description(answer: dict[str, Any], response: requests.Response) -> str:
    said = answer.get("error_description") or answer.get("error") or response.status_code
    return str(said).rstrip(".")[:200]


def _tokens(answer: dict[str, Any]) -> dict[str, str]:
    """The credentials to keep from a token answer; each one kept out of the logs."""
    tokens = {"access_token": str(answer["access_token"])}
    if answer.get("refresh_token"):
        tokens["refresh_token"] = str(answer["refresh_token"])
    for value in tokens.values():
        remember_secret(value)
    return tokens


def _expiry(answer: dict[str, Any], now: datetime) -> datetime | None:
    seconds = answer.get("expires_in")
    return now + timedelta(seconds=int(seconds)) if isinstance(seconds, int | float) else None


def _client_id(settings: Settings) -> str:
    if not settings.x_client_id:
        raise _missing("X_CLIENT_ID")
    return settings.x_client_id


def _missing(name: str) -> SettingsError:
    return SettingsError(f"{name} is not set: it is {WHERE_TO_GET[name]}.")
