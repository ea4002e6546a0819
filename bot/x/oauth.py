"""X's OAuth 2.0 endpoints as Roost's client calls them: PKCE's challenge, exchanging a
code or a refresh token for tokens, revoking them, and X's answers made Roost's errors.

Roost is a public client (X_CLIENT_ID alone, the id sent in the form) or a
confidential one (X_CLIENT_SECRET too, sent as HTTP Basic). What to do with the
tokens is bot.team's: connecting, refreshing under a lease, disconnecting.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bot.errors import SettingsError, XError, XRateLimited, XUnavailable
from bot.i18n import _
from bot.logs import remember_secret
from bot.settings import WHERE_TO_GET, Settings
from bot.x.client import DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT

SCOPES = (
    "tweet.read users.read tweet.write dm.read dm.write media.write offline.access"  # not spoken
)
"""What Roost asks X for: read posts and users (mentions), post and repost, read and send
DMs, upload media (v2), and offline.access, without which X gives no refresh token."""

TOKEN_PATH = "/2/oauth2/token"

REVOKE_PATH = "/2/oauth2/revoke"


class TokenRefused(XError):
    """X's token endpoint refused the code or refresh token (400 invalid_request/grant)."""


def code_challenge(verifier: str) -> str:
    """PKCE's S256 challenge: the verifier's SHA-256, base64url without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_call(
    settings: Settings, form: dict[str, str], *, doing: str, on_rate_limit: Callable[[], None]
) -> dict[str, Any]:
    """POST the token endpoint; its answer, or Roost's error for X's (TokenRefused when X
    refuses the code or refresh token itself). `doing`, as a person reads it (translated):
    "exchanging the authorization code"."""
    response = _client_post(settings, TOKEN_PATH, form, doing, on_rate_limit)
    answer = _json(response)
    if response.status_code == 200 and answer.get("access_token"):
        return answer
    if response.status_code == 400 and answer.get("error") in ("invalid_request", "invalid_grant"):
        raise TokenRefused(_description(answer, response))
    _raise_for(response, doing)
    raise XError(_("X answered without an access token while {doing}.").format(doing=doing))


def revoke(settings: Settings, token: str, hint: str, *, on_rate_limit: Callable[[], None]) -> None:
    """Revoke one token at X (`hint`: access_token or refresh_token)."""
    doing = _("revoking a token")
    form = {"token": token, "token_type_hint": hint}
    response = _client_post(settings, REVOKE_PATH, form, doing, on_rate_limit)
    if response.status_code != 200:
        _raise_for(response, doing)


def tokens_from(answer: dict[str, Any]) -> dict[str, str]:
    """The credentials to keep from a token answer; each one kept out of the logs."""
    tokens = {"access_token": str(answer["access_token"])}
    if answer.get("refresh_token"):
        tokens["refresh_token"] = str(answer["refresh_token"])
    for value in tokens.values():
        remember_secret(value)
    return tokens


def expiry_of(answer: dict[str, Any], now: datetime) -> datetime | None:
    """When the answer's access token lapses; None if X did not say."""
    seconds = answer.get("expires_in")
    return now + timedelta(seconds=int(seconds)) if isinstance(seconds, int | float) else None


def client_id(settings: Settings) -> str:
    """X_CLIENT_ID; SettingsError saying where to get it when it is not set."""
    if not settings.x_client_id:
        raise missing_setting("X_CLIENT_ID")
    return settings.x_client_id


def missing_setting(name: str) -> SettingsError:
    return SettingsError(
        _("{name} is not set: it is {where}.").format(name=name, where=_(WHERE_TO_GET[name]))
    )


def _client_post(
    settings: Settings,
    path: str,
    form: dict[str, str],
    doing: str,
    on_rate_limit: Callable[[], None],
) -> requests.Response:
    """POST a form to X as Roost's OAuth 2.0 client: HTTP Basic for a confidential client
    (X_CLIENT_SECRET set), client_id in the form for a public one."""
    identity = client_id(settings)
    auth: tuple[str, str] | None = None
    if settings.x_client_secret is not None:
        auth = (identity, settings.x_client_secret.get_secret_value())
    else:
        form = {**form, "client_id": identity}
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
            _("X could not be reached while {doing} ({failure}).").format(
                doing=doing, failure=type(exc).__name__
            )
        ) from None
    if response.status_code == 429:  # not through XClient's adapter, so counted here
        on_rate_limit()
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
            _("X rate-limited {doing}; it allows calls again at {time} UTC.").format(
                doing=doing, time=f"{reset_at:%H:%M:%S}"
            ),
            reset_at,
        )
    if status >= 500:
        raise XUnavailable(
            _("X is failing ({status}) while {doing}.").format(status=status, doing=doing)
        )
    if status in (401, 403) or answer.get("error") in ("invalid_client", "unauthorized_client"):
        raise XError(
            _(
                "X refused Roost's OAuth 2.0 client while {doing} ({detail}): check "
                "X_CLIENT_ID and X_CLIENT_SECRET against 'Keys and tokens' in the X developer "
                "portal (a confidential client needs X_CLIENT_SECRET, a public one must leave "
                "it unset)."
            ).format(doing=doing, detail=_description(answer, response))
        )
    if status != 200:
        raise XError(
            _("X rejected {doing}: {detail}.").format(
                doing=doing, detail=_description(answer, response)
            )
        )


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _description(answer: dict[str, Any], response: requests.Response) -> str:
    said = answer.get("error_description") or answer.get("error") or response.status_code
    return str(said).rstrip(".")[:200]
