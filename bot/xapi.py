"""The X adapter: tweepy clients pointed at X_API_URL, and X's errors made Roost's.

tweepy builds its host in (`https://api.twitter.com`) and sends every call
through `client.session`, a requests.Session. An adapter mounted on that
session rewrites the host to X_API_URL, gives every call a timeout (tweepy
sets none), and records X's rate-limit headers so intake can honour them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from bot import clock
from bot.errors import XError, XForbidden, XNotFound, XRateLimited, XTokenRevoked, XUnavailable

logger = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
DEFAULT_TIMEOUT = (5.0, 20.0)
"""(connect, read) seconds for every call tweepy makes without its own timeout."""

DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
"""How long to back off after a 429 that carries no reset time."""

MENTIONS_PAGE_SIZE = 100
"""The largest page X serves on the mentions timeline."""

MENTION_EXPANSIONS = [
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "attachments.media_keys",
]
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "lang",
    "in_reply_to_user_id",
    "referenced_tweets",
    "attachments",
    "entities",
    "note_tweet",
]
USER_FIELDS = ["name", "username", "public_metrics", "verified", "protected", "profile_image_url"]
MEDIA_FIELDS = ["type", "url", "preview_image_url"]

MENTION_FIELDS: dict[str, list[str]] = {
    "expansions": MENTION_EXPANSIONS,
    "tweet_fields": TWEET_FIELDS,
    "user_fields": USER_FIELDS,
    "media_fields": MEDIA_FIELDS,
}
"""The fields every mention read asks for, as tweepy keywords (timeline and stream)."""


@dataclass
class RateLimit:
    """X's rate-limit headers from the latest answer on one client."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None

    def exhausted(self, now: datetime) -> bool:
        return self.remaining == 0 and self.reset_at is not None and self.reset_at > now


class XBaseAdapter(HTTPAdapter):
    """Routes tweepy's requests to another base URL and watches rate limits."""

    def __init__(self, base_url: str, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.rate_limit = RateLimit()

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST):
            request.url = self.base_url + url[len(TWEEPY_HOST) :]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        response = super().send(request, **kwargs)
        self._record(response)
        return response

    def _record(self, response: requests.Response) -> None:
        headers = response.headers
        if "x-rate-limit-remaining" not in headers:
            return
        self.rate_limit = RateLimit(
            limit=_int(headers.get("x-rate-limit-limit")),
            remaining=_int(headers.get("x-rate-limit-remaining")),
            reset_at=_epoch(headers.get("x-rate-limit-reset")),
        )


def mount(session: requests.Session, base_url: str) -> XBaseAdapter:
    """Point a tweepy session at base_url; returns the adapter for its rate limits."""
    adapter = XBaseAdapter(base_url)
    session.mount(TWEEPY_HOST, adapter)
    if not base_url.startswith(TWEEPY_HOST):
        session.mount(base_url, adapter)
    return adapter


class XClient:
    """One X account's client: tweepy under the hood, Roost's errors on top."""

    def __init__(self, auth_kind: str, credentials: dict[str, str], *, base_url: str) -> None:
        self._user_auth = auth_kind == "oauth1"
        if self._user_auth:
            self._client = tweepy.Client(
                consumer_key=credentials["consumer_key"],
                consumer_secret=credentials["consumer_secret"],
                access_token=credentials["access_token"],
                access_token_secret=credentials["access_token_secret"],
                return_type=dict,
            )
        else:
            # An OAuth 2.0 user access token is sent as a bearer token.
            self._client = tweepy.Client(bearer_token=credentials["access_token"], return_type=dict)
        self._adapter = mount(self._client.session, base_url)

    def __repr__(self) -> str:
        return f"XClient(user_auth={self._user_auth}, base_url={self._adapter.base_url!r})"

    @property
    def rate_limit(self) -> RateLimit:
        return self._adapter.rate_limit

    def me(self) -> dict[str, Any]:
        """The authenticated user: id, name, username."""
        with translate_errors("looking up the account"):
            answer = self._client.get_me(user_auth=self._user_auth, user_fields=["username"])
        data: dict[str, Any] = answer["data"]
        return data

    def mentions_page(
        self, user_id: int, *, since_id: int | None = None, pagination_token: str | None = None
    ) -> dict[str, Any]:
        """One page (up to 100, newest first) of the user's mentions timeline, raw JSON."""
        with translate_errors("reading mentions"):
            page: dict[str, Any] = self._client.get_users_mentions(
                user_id,
                user_auth=self._user_auth,
                max_results=MENTIONS_PAGE_SIZE,
                since_id=since_id,
                pagination_token=pagination_token,
                **MENTION_FIELDS,
            )
        return page


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Turn tweepy and requests failures into Roost's X errors."""
    try:
        yield
    except tweepy.TooManyRequests as exc:
        reset_at = _epoch(exc.response.headers.get("x-rate-limit-reset"))
        reset_at = reset_at or clock.now() + DEFAULT_RATE_LIMIT_WAIT
        raise XRateLimited(
            f"X rate-limited {doing}; it allows calls again at {reset_at:%H:%M:%S} UTC.",
            reset_at,
        ) from None
    except tweepy.Unauthorized:
        raise XTokenRevoked(
            f"X refused the account's token while {doing}: it was revoked or has expired. "
            "Reconnect the account to resume."
        ) from None
    except tweepy.Forbidden as exc:
        raise XForbidden(
            f"X forbids {doing} for this account or app ({_detail(exc)}). "
            "Check the app's access level and plan in the X developer portal."
        ) from None
    except tweepy.NotFound as exc:
        raise XNotFound(f"X found nothing while {doing} ({_detail(exc)}).") from None
    except tweepy.TwitterServerError as exc:
        raise XUnavailable(f"X is failing ({exc.response.status_code}) while {doing}.") from None
    except tweepy.HTTPException as exc:
        raise XError(f"X rejected {doing}: {_detail(exc)}.") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise XUnavailable(
            f"X could not be reached while {doing} ({type(exc).__name__})."
        ) from None


def _detail(exc: tweepy.HTTPException) -> str:
    return "; ".join(str(m) for m in exc.api_messages) or str(exc.response.status_code)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _epoch(value: str | None) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
