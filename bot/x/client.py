"""The X adapter: tweepy clients pointed at X_API_URL, and X's errors made Roost's.

tweepy builds its host in (`https://api.twitter.com`) and sends every call
through `client.session`, a requests.Session. An adapter mounted on that
session rewrites the host to X_API_URL (signing OAuth 1.0a calls again, for
the host they now go to: the signature covers the URL), gives every call a
timeout (tweepy sets none), records X's rate-limit headers so intake can
honour them, and reports each 429 for bot.rate_limits to count.

Writes (posts, DMs, retweets) take no idempotency key at X, so their errors
say whether the call can have taken effect: XUnavailable only when it never
reached X, XOutcomeUnknown when it may have.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1
from urllib3.exceptions import MaxRetryError, NewConnectionError

from bot import clock
from bot.errors import (
    XDuplicate,
    XError,
    XForbidden,
    XNotFound,
    XOutcomeUnknown,
    XQueryRefused,
    XRateLimited,
    XRecipientClosed,
    XSearchSpanRefused,
    XTokenRevoked,
    XUnavailable,
)
from bot.i18n import SOURCE, _, day, language
from bot.x.limits import Window, binding, header_int, windows
from bot.x.normalize import parse_time
from bot.x.prices import Charge, charges

logger = logging.getLogger(__name__)

_SUMMONED: ContextVar[bool] = ContextVar("summoned", default=True)
"""Whether the reply being posted answers a post that summoned the account: post_tweet
says so to the meter, which sees only the request (bot.x.prices.charges)."""

TWEEPY_HOST = "https://api.twitter.com"
DEFAULT_TIMEOUT = (5.0, 20.0)
"""(connect, read) seconds for every call tweepy makes without its own timeout."""

DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
"""How long to back off after a 429 that carries no reset time."""

READ_RETRIES = 2
"""Further tries of a read X failed (5xx, no answer) before the caller hears of it."""

READ_RETRY_WAIT = 0.5
"""Seconds before the first further try of a read; the next waits twice as long."""

MENTIONS_PAGE_SIZE = 100
"""The largest page X serves on the mentions timeline."""

SEARCH_PAGE_SIZE = 100
"""The most posts a page of recent search holds (X takes 10 to 100)."""

SEARCH_SPAN = frozenset(
    {"since_id", "until_id", "start_time", "end_time", "next_token", "pagination_token"}
)
"""The parameters of a search that say where it starts and ends, not what it finds."""

PAGE_SIZE = 100
"""The largest page X serves on the user timeline, DM events and retweeters."""

RECENT_POSTS_PAGES = 10
"""Pages of the account's own posts `recent_posts` reads at most: in a burst of sends, the
one looked for can be hundreds of posts back."""

DM_CHECK_EVENTS = 10
"""DM events `recent_dms` reads: each is billed ($0.010), and the DM looked for is among
the latest of the conversation, sent moments before."""

RETWEETERS_PAGES = 3
"""Pages of retweeters, newest first, that `retweeted` reads before answering no."""

POST_FIELDS = ["created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets"]
"""What `recent_posts` asks for besides id and text: enough to match a reply to its target."""

DM_EVENT_FIELDS = ["id", "event_type", "text", "created_at", "dm_conversation_id"]
"""DM event fields in both X's documentation and its OpenAPI (sender_id comes as expansion)."""

VIDEO_CHUNK_BYTES = 4 * 1024 * 1024
"""Bytes per appended segment of a chunked upload (X takes up to 5 MB a segment)."""

VIDEO_PROCESSING_WAIT = 600.0
"""Seconds `upload_video` waits, at most, for X to finish processing a video."""

DEFAULT_CHECK_AFTER = 1.0
"""Seconds between STATUS polls when X does not say (`check_after_secs`)."""

MEDIA_UPLOAD = "/2/media/upload"

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

SEARCH_FIELDS: dict[str, list[str]] = {
    **MENTION_FIELDS,
    "expansions": [e for e in MENTION_EXPANSIONS if e != "referenced_tweets.id.author_id"],
}
"""A search's fields: a mention's, without the authors of the posts referenced (each a
paid user read; the referenced post's own author_id says whether it is the account's)."""


@dataclass
class RateLimit:
    """X's limits (15-minute window, daily caps) from the latest answer on one client."""

    windows: list[Window] = field(default_factory=list)

    def spent(self, now: datetime) -> Window | None:
        """The spent limit that ends last, if one is spent: nothing goes through before."""
        return binding(self.windows, now)


class XBaseAdapter(HTTPAdapter):
    """Routes tweepy's requests to another base URL and watches rate limits."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        on_rate_limit: Callable[[], None] | None = None,
        oauth1: OAuth1 | None = None,
        meter: Callable[[list[Charge]], None] | None = None,
        owner_x_id: int | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.rate_limit = RateLimit()
        self.on_rate_limit = on_rate_limit
        self.oauth1 = oauth1
        self.meter = meter
        self.owned = re.compile(rf"/2/users/{owner_x_id}/(mentions|tweets)") if owner_x_id else None

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST) and self.base_url != TWEEPY_HOST:
            request.url = self.base_url + url[len(TWEEPY_HOST) :]
            if self.oauth1 is not None and _signed_oauth1(request):
                # tweepy signed for api.twitter.com; X checks the host the call reached.
                del request.headers["Authorization"]
                self.oauth1(request)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        response = super().send(request, **kwargs)
        self._record(response)
        if (
            self.meter is not None
            and 200 <= response.status_code < 300
            and not kwargs.get("stream")
        ):
            self._meter(request, response)
        # Every call to X passes here (the stream's connects too), so a 429 is seen once.
        if response.status_code == 429 and self.on_rate_limit is not None:
            self.on_rate_limit()
        return response

    def _meter(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Price the call as X does and count it; never fails the call (it went through)."""
        assert self.meter is not None
        try:
            path = urlsplit(request.url or "").path
            body = request.body
            sent: dict[str, Any] | None = None
            if body and "json" in str(request.headers.get("Content-Type", "")):
                sent = json.loads(body)
            answer = response.json() if response.content else {}
            # tweepy reads the answer next: hand it this parse rather than a second one.
            response.json = lambda **_: answer  # type: ignore[method-assign]
            owned = self.owned is not None and self.owned.fullmatch(path) is not None
            summoned = _SUMMONED.get()
            found = charges(request.method or "GET", path, sent, answer, owned, summoned=summoned)
            if found:
                self.meter(found)
        except Exception:
            logger.exception("X call to %s not priced", request.url)

    def _record(self, response: requests.Response) -> None:
        found = windows(response.headers)
        if found:
            self.rate_limit = RateLimit(found)


def _signed_oauth1(request: requests.PreparedRequest) -> bool:
    authorization = request.headers.get("Authorization", "")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    return authorization.startswith("OAuth ")


def mount(
    session: requests.Session,
    base_url: str,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    on_rate_limit: Callable[[], None] | None = None,
    oauth1: OAuth1 | None = None,
    meter: Callable[[list[Charge]], None] | None = None,
    owner_x_id: int | None = None,
) -> XBaseAdapter:
    """Point a tweepy session at base_url; returns the adapter for its rate limits.

    `on_rate_limit` is called for every 429 X answers (bot.rate_limits counts them); it must
    not raise. `oauth1` signs OAuth 1.0a calls again for base_url. `meter` is given what
    each successful call costs (bot.x.prices); `owner_x_id` is the account's X id when it
    owns the developer app, whose reads of its own posts and mentions X prices lower.
    """
    adapter = XBaseAdapter(
        base_url,
        timeout=timeout,
        on_rate_limit=on_rate_limit,
        oauth1=oauth1,
        meter=meter,
        owner_x_id=owner_x_id,
    )
    session.mount(TWEEPY_HOST, adapter)
    if not base_url.startswith(TWEEPY_HOST):
        session.mount(base_url, adapter)
    return adapter


class XClient:
    """One X account's client: tweepy under the hood, Roost's errors on top."""

    def __init__(
        self,
        auth_kind: str,
        credentials: dict[str, str],
        *,
        base_url: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        on_rate_limit: Callable[[], None] | None = None,
        meter: Callable[[list[Charge]], None] | None = None,
        owner_x_id: int | None = None,
    ) -> None:
        """A client for one account; `timeout` is (connect, read) seconds for every call,
        `on_rate_limit` is told of every 429, `meter` of what each call costs (see
        `mount`)."""
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
        self._adapter = mount(
            self._client.session,
            base_url,
            timeout=timeout,
            on_rate_limit=on_rate_limit,
            oauth1=self._oauth1(),
            meter=meter,
            owner_x_id=owner_x_id,
        )

    def _oauth1(self) -> OAuth1 | None:
        """The OAuth 1.0a signer tweepy itself uses for this client's keys, if it has them."""
        if not self._user_auth:
            return None
        client = self._client
        auth: OAuth1 = tweepy.OAuth1UserHandler(
            client.consumer_key,
            client.consumer_secret,
            client.access_token,
            client.access_token_secret,
        ).apply_auth()
        return auth

    def __repr__(self) -> str:
        return f"XClient(user_auth={self._user_auth}, base_url={self._adapter.base_url!r})"

    @property
    def rate_limit(self) -> RateLimit:
        return self._adapter.rate_limit

    def bill(self, found: list[Charge]) -> None:
        """Count what X billed for a call whose answer never came, once it is found to have
        been made (nothing counted it then)."""
        if self._adapter.meter is not None:
            self._adapter.meter(found)

    def close(self) -> None:
        """Let go of the client's connections (it is not used after)."""
        self._client.session.close()

    def me(self) -> dict[str, Any]:
        """The authenticated user: id, name, username."""
        with translate_errors(_("looking up the account")):
            answer = self._client.get_me(user_auth=self._user_auth, user_fields=["username"])
        data: dict[str, Any] = answer["data"]
        return data

    def _read(self, doing: str, call: Callable[[], Any]) -> Any:
        """An idempotent read. X failing (a 5xx, no answer) is tried READ_RETRIES more
        times, a moment apart, before XUnavailable: one flaky answer in a page of many
        should not cost the whole poll, nor leave a storm impossible to read through."""
        for attempt in range(READ_RETRIES + 1):
            try:
                with translate_errors(doing):
                    return call()
            except XUnavailable:
                if attempt == READ_RETRIES:
                    raise
                time.sleep(READ_RETRY_WAIT * (attempt + 1))
        raise AssertionError("unreachable")

    def mentions_page(
        self, user_id: int, *, since_id: int | None = None, pagination_token: str | None = None
    ) -> dict[str, Any]:
        """One page (up to 100, newest first) of the user's mentions timeline, raw JSON."""
        page: dict[str, Any] = self._read(
            _("reading mentions"),
            lambda: self._client.get_users_mentions(
                user_id,
                user_auth=self._user_auth,
                max_results=MENTIONS_PAGE_SIZE,
                since_id=since_id,
                pagination_token=pagination_token,
                **MENTION_FIELDS,
            ),
        )
        return page

    def post(self, tweet_id: int) -> dict[str, Any]:
        """One post by its id, as a page of one: `data` the post, `includes` its author and
        media, raw JSON (XNotFound when it is gone or not visible to the account)."""
        doing = _("looking up the post")
        page: dict[str, Any] = self._read(
            doing,
            lambda: self._client.get_tweet(tweet_id, user_auth=self._user_auth, **MENTION_FIELDS),
        )
        _data(page, doing)
        return page

    def search_page(
        self,
        query: str,
        *,
        since_id: int | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        max_results: int = SEARCH_PAGE_SIZE,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """One page (newest first) of X's recent search for `query`, raw JSON, with the
        fields a mention is read with. A query X refuses raises XQueryRefused, in X's words;
        a span it refuses (a since_id past its reach, a stale next_token),
        XSearchSpanRefused."""

        def search() -> Any:
            try:
                return self._client.search_recent_tweets(
                    query,
                    user_auth=self._user_auth,
                    max_results=max_results,
                    since_id=since_id,
                    start_time=start_time,
                    end_time=end_time,
                    next_token=next_token,
                    **SEARCH_FIELDS,
                )
            except tweepy.BadRequest as exc:
                named = {
                    name
                    for error in exc.api_errors
                    if isinstance(error, dict)
                    for name in error.get("parameters") or {}
                }
                if "query" in named:
                    raise XQueryRefused(
                        _("X refuses the search: {detail}.").format(detail=_detail(exc))
                    ) from None
                if named & SEARCH_SPAN:
                    raise XSearchSpanRefused(
                        _("X refuses the search's span: {detail}.").format(detail=_detail(exc)),
                        frozenset(named),
                    ) from None
                raise

        page: dict[str, Any] = self._read(_("searching X"), search)
        return page

    def post_tweet(
        self,
        text: str,
        *,
        reply_to: int | None = None,
        media_ids: list[str] | None = None,
        summoned: bool = True,
    ) -> str:
        """Post `text` as the account, replying to the post `reply_to` if given, with the
        uploaded `media_ids` attached (up to four images, or one video); the new id.
        `summoned`: the post replied to summoned the account (X prices such a reply lower);
        not so for a thread's next part, which answers the account's own post."""
        doing = _("posting the reply") if reply_to is not None else _("posting")
        priced = _SUMMONED.set(summoned)
        try:
            with translate_errors(doing, write=True):
                answer = self._client.create_tweet(
                    text=text,
                    in_reply_to_tweet_id=reply_to,
                    media_ids=media_ids or None,
                    user_auth=self._user_auth,
                )
        finally:
            _SUMMONED.reset(priced)
        return str(_data(answer, doing)["id"])

    # A failed upload posts nothing: at worst X holds a media id nobody uses, which expires
    # in a day. So although uploads go through translate_errors as writes (an unanswered one
    # says XOutcomeUnknown), uploading again from the start is always safe.

    def upload_image(self, data: bytes, mime: str) -> str:
        """Upload a still image in one request (X's "simple" upload, for images only); its
        media id. An animated GIF goes through `upload_gif`."""
        doing = _("uploading the image")
        with translate_errors(doing, write=True):
            answer = self._multipart(MEDIA_UPLOAD, {"media_category": "tweet_image"}, data, mime)
        return str(_data(answer, doing)["id"])

    def upload_gif(self, data: bytes, *, poll: Callable[[float], None] = time.sleep) -> str:
        """Upload an animated GIF in chunks, as X requires, and wait until X has processed
        it; its media id. See `upload_video`."""
        return self._upload_chunked(data, "image/gif", "tweet_gif", "GIF", poll=poll)

    def upload_video(
        self,
        data: bytes,
        mime: str,
        *,
        chunk_bytes: int = VIDEO_CHUNK_BYTES,
        poll: Callable[[float], None] = time.sleep,
    ) -> str:
        """Upload a video in chunks and wait until X has processed it; its media id.

        `poll` sleeps between STATUS checks (X says how long); a video X cannot process, or
        one still processing after VIDEO_PROCESSING_WAIT seconds, raises XError.
        """
        return self._upload_chunked(
            data, mime, "tweet_video", "video", chunk_bytes=chunk_bytes, poll=poll
        )

    def _upload_chunked(
        self,
        data: bytes,
        mime: str,
        category: str,
        noun: str,
        *,
        chunk_bytes: int = VIDEO_CHUNK_BYTES,
        poll: Callable[[float], None] = time.sleep,
    ) -> str:
        """INITIALIZE, APPEND in segments, FINALIZE, then STATUS until processed. `noun`:
        "video" or "GIF"."""
        video = noun == "video"
        doing = _("uploading the video") if video else _("uploading the GIF")
        with translate_errors(doing, write=True):
            started = self._client.request(
                "POST",
                f"{MEDIA_UPLOAD}/initialize",
                json={
                    "media_type": mime,
                    "total_bytes": len(data),
                    "media_category": category,
                },
                user_auth=self._user_auth,
            )
            media_id = str(_data(started.json(), doing)["id"])
            for index, offset in enumerate(range(0, len(data), chunk_bytes)):
                self._multipart(
                    f"{MEDIA_UPLOAD}/{media_id}/append",
                    {"segment_index": str(index)},
                    data[offset : offset + chunk_bytes],
                    mime,
                )
            finalized = self._client.request(
                "POST", f"{MEDIA_UPLOAD}/{media_id}/finalize", user_auth=self._user_auth
            )
        state = _data(finalized.json(), doing)
        waited = 0.0
        while True:
            info = state.get("processing_info") or {"state": "succeeded"}
            if info.get("state") == "succeeded":
                return media_id
            if info.get("state") == "failed":
                error = info.get("error") or {}
                reason = str(error.get("message") or error.get("name") or _("no reason given"))
                if video:
                    failed = _(
                        "X could not process the video ({reason}). Check that it is an MP4 or "
                        "MOV with H.264 video and AAC audio, or attach another."
                    )
                else:
                    failed = _(
                        "X could not process the GIF ({reason}). Check that it is an animated "
                        "GIF X can play (under 15 MB, at most 1280×1080 and 350 frames), or "
                        "attach another."
                    )
                raise XError(failed.format(reason=reason.rstrip(".")))
            delay = float(info.get("check_after_secs") or DEFAULT_CHECK_AFTER)
            if waited + delay > VIDEO_PROCESSING_WAIT:
                still = (
                    _(
                        "X was still processing the video after {minutes} minutes. Try again "
                        "later, or attach a smaller one."
                    )
                    if video
                    else _(
                        "X was still processing the GIF after {minutes} minutes. Try again "
                        "later, or attach a smaller one."
                    )
                )
                raise XError(still.format(minutes=f"{VIDEO_PROCESSING_WAIT / 60:.0f}"))
            poll(delay)
            waited += delay
            checking = (
                _("checking the video's processing")
                if video
                else _("checking the GIF's processing")
            )
            with translate_errors(checking):
                status = self._client.request(
                    "GET",
                    MEDIA_UPLOAD,
                    params={"media_id": media_id, "command": "STATUS"},
                    user_auth=self._user_auth,
                )
            state = _data(status.json(), checking)

    def _multipart(
        self, route: str, fields: dict[str, str], data: bytes, mime: str
    ) -> dict[str, Any]:
        """POST a multipart form with `data` as its `media` part; X's answer as JSON.

        tweepy's `Client.request` sends only JSON bodies, so this signs the call the way it
        does (OAuth 1.0a, which leaves multipart bodies out of the signature, or the bearer
        token) and raises tweepy's exceptions for translate_errors.
        """
        client = self._client
        headers = {"User-Agent": client.user_agent}
        auth = self._oauth1()
        if auth is None:
            headers["Authorization"] = f"Bearer {client.bearer_token}"
        with client.session.post(
            TWEEPY_HOST + route,
            data=fields,
            files={"media": ("media", data, mime)},
            headers=headers,
            auth=auth,
        ) as response:
            _raise_for_status(response)
            answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    def recent_posts(
        self, user_id: int, *, since: datetime, pages: int = RECENT_POSTS_PAGES
    ) -> Iterator[dict[str, Any]]:
        """The account's own posts (its retweets left out) created at or after `since`,
        newest first, page by page (up to `pages` of 100) while the caller reads on.

        Raw X objects: id, text (HTML-escaped, links shortened, as X serves it),
        created_at, conversation_id, in_reply_to_user_id, referenced_tweets.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        token: str | None = None
        for _page in range(pages):
            page = self._read(
                _("reading the account's recent posts"),
                partial(
                    self._client.get_users_tweets,
                    user_id,
                    user_auth=self._user_auth,
                    max_results=PAGE_SIZE,
                    start_time=since,
                    tweet_fields=POST_FIELDS,
                    exclude=["retweets"],
                    pagination_token=token,
                ),
            )
            # start_time has whole seconds only: drop what falls in the second before.
            for post in page.get("data") or []:
                if (parse_time(post.get("created_at")) or since) >= since:
                    yield post
            token = (page.get("meta") or {}).get("next_token")
            if token is None:
                return

    def retweet(self, user_id: int, tweet_id: int) -> None:
        """Retweet the post as the account `user_id` (this client's own); again is harmless."""
        doing = _("retweeting the post")
        with translate_errors(doing, write=True):
            response = self._client.request(
                "POST",
                f"/2/users/{user_id}/retweets",
                json={"tweet_id": str(tweet_id)},
                user_auth=self._user_auth,
            )
        _data(response.json(), doing)

    def unretweet(self, user_id: int, tweet_id: int) -> None:
        """Undo the account's retweet of the post; harmless if it has none."""
        doing = _("undoing the retweet")
        with translate_errors(doing, write=True):
            response = self._client.request(
                "DELETE", f"/2/users/{user_id}/retweets/{tweet_id}", user_auth=self._user_auth
            )
        _data(response.json(), doing)

    def retweeted_since(self, user_id: int, tweet_id: int, *, since: datetime) -> bool | None:
        """Whether the account's own timeline shows its retweet of the post since `since`:
        X bills this as reads of the account's own posts (one page, the cheapest answer;
        the retweeters list bills each retweeter as a user read). None when a full page
        holds no answer: too much was posted since to tell."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        page = self._read(
            _("reading the account's recent retweets"),
            lambda: self._client.get_users_tweets(
                user_id,
                user_auth=self._user_auth,
                max_results=PAGE_SIZE,
                start_time=since,
                tweet_fields=["referenced_tweets"],
            ),
        )
        posts = page.get("data") or []
        for post in posts:
            for ref in post.get("referenced_tweets") or []:
                if ref.get("type") == "retweeted" and str(ref.get("id")) == str(tweet_id):
                    return True
        return None if (page.get("meta") or {}).get("next_token") else False

    def retweeted(self, user_id: int, tweet_id: int, *, pages: int = RETWEETERS_PAGES) -> bool:
        """Whether the account `user_id` is among the post's latest retweeters (up to
        `pages` pages; each retweeter listed is billed as a user read)."""
        doing = _("checking the post's retweets")
        token: str | None = None
        for _page in range(pages):
            with translate_errors(doing):
                page = self._client.get_retweeters(
                    tweet_id,
                    user_auth=self._user_auth,
                    max_results=PAGE_SIZE,
                    pagination_token=token,
                )
            if "data" not in page and page.get("errors"):
                _data(page, doing)  # raises: the post is gone
            if any(str(user["id"]) == str(user_id) for user in page.get("data") or []):
                return True
            token = page.get("meta", {}).get("next_token")
            if token is None:
                break
        return False

    def send_dm(self, participant_id: int, text: str, *, handle: str | None = None) -> str:
        """Send `text` as a DM to the user `participant_id` (@`handle`, for messages); the
        new DM event's id."""
        doing = _("sending the DM")
        with translate_errors(doing, write=True, recipient=handle):
            answer = self._client.create_direct_message(
                participant_id=participant_id, text=text, user_auth=self._user_auth
            )
        return str(_data(answer, doing)["dm_event_id"])

    def recent_dms(self, participant_id: int) -> list[dict[str, Any]]:
        """The latest messages (up to DM_CHECK_EVENTS, newest first) between the account and
        the user.

        Raw X events: id, event_type, text, sender_id, created_at, dm_conversation_id.
        """
        with translate_errors(_("reading the DM conversation")):
            page = self._client.get_direct_message_events(
                participant_id=participant_id,
                user_auth=self._user_auth,
                max_results=DM_CHECK_EVENTS,
                event_types=["MessageCreate"],
                dm_event_fields=DM_EVENT_FIELDS,
                expansions=["sender_id"],
            )
        events: list[dict[str, Any]] = page.get("data") or []
        return events


_NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
"""requests' failures that leave the call without an answer from X."""


@contextmanager
def translate_errors(
    doing: str, *, write: bool = False, recipient: str | None = None
) -> Iterator[None]:
    """Turn tweepy and requests failures into Roost's X errors.

    For a `write`, a call that may have reached X without an answer (a read
    timeout, a dropped connection, a 5xx) is XOutcomeUnknown; XUnavailable
    means it never reached X. `doing` says what the call was doing, as a person reads it
    (already translated: "reading mentions"); `recipient` names a DM's recipient in
    messages.
    """
    try:
        yield
    except tweepy.TooManyRequests as exc:  # counted already, by the session's XBaseAdapter
        raise rate_limited(exc.response.headers, doing) from None
    except tweepy.Unauthorized:
        raise XTokenRevoked(
            _(
                "X refused the account's token while {doing}: it was revoked or has expired. "
                "Reconnect the account to resume."
            ).format(doing=doing)
        ) from None
    except tweepy.Forbidden as exc:
        raise _refusal(exc, doing, recipient) from None
    except tweepy.NotFound as exc:
        raise XNotFound(
            _(
                "X found nothing while {doing} ({detail}): it was deleted or is not "
                "visible to this account."
            ).format(doing=doing, detail=_detail(exc))
        ) from None
    except tweepy.TwitterServerError as exc:
        status = exc.response.status_code
        if write:
            raise _outcome_unknown(doing, _("X answered {status}").format(status=status)) from None
        raise XUnavailable(
            _("X is failing ({status}) while {doing}.").format(status=status, doing=doing)
        ) from None
    except tweepy.HTTPException as exc:
        raise XError(
            _("X rejected {doing}: {detail}.").format(doing=doing, detail=_detail(exc))
        ) from None
    except _NO_ANSWER as exc:
        failure = type(exc).__name__
        if not write:
            raise XUnavailable(
                _("X could not be reached while {doing} ({failure}).").format(
                    doing=doing, failure=failure
                )
            ) from None
        if _never_sent(exc):
            raise XUnavailable(
                _("X could not be reached while {doing} ({failure}); nothing was sent.").format(
                    doing=doing, failure=failure
                )
            ) from None
        if isinstance(exc, requests.Timeout):
            raise _outcome_unknown(doing, _("no answer in time")) from None
        raise _outcome_unknown(doing, _("the connection dropped")) from None


def rate_limited(headers: Mapping[str, str], doing: str) -> XRateLimited:
    """A 429 as Roost says it: which of X's limits is spent, and when calls resume (for a
    daily cap, its own reset, not the next 15-minute window's)."""
    now = clock.now()
    found = windows(headers)
    spent = binding(found, now)
    if spent is None:
        # A 429 that names no spent window (a burst X smooths, a shared limit): the
        # 15-minute window's reset, else X's Retry-After, else a minute. Never a daily
        # cap's reset: a cap not spent is not what refused the call.
        quarter = next((w.reset_at for w in found if not w.daily and w.reset_at), None)
        retry_after = header_int(headers.get("retry-after"))
        if quarter is not None and quarter > now:
            reset_at = quarter
        elif retry_after is not None:
            reset_at = now + timedelta(seconds=retry_after)
        else:
            reset_at = now + DEFAULT_RATE_LIMIT_WAIT
        return XRateLimited(
            _("X rate-limited {doing}; it allows calls again at {time} UTC.").format(
                doing=doing, time=f"{reset_at:%H:%M:%S}"
            ),
            reset_at,
            window="15-minute",  # not spoken: bot.x.limits names it (N_)
        )
    assert spent.reset_at is not None
    if not spent.daily:
        return XRateLimited(
            _(
                "X rate-limited {doing} (its 15-minute limit of {limit} is spent); it "
                "allows calls again at {time} UTC."
            ).format(doing=doing, limit=spent.limit, time=f"{spent.reset_at:%H:%M:%S}"),
            spent.reset_at,
            window=spent.name,
        )
    return XRateLimited(
        _(
            "X's daily cap is spent ({window}: {limit} a day) while {doing}; it "
            "allows more at {time} UTC on {day}."
        ).format(
            window=_(spent.name),
            limit=spent.limit,
            doing=doing,
            time=f"{spent.reset_at:%H:%M}",
            day=_day_of(spent.reset_at),
        ),
        spent.reset_at,
        window=spent.name,
    )


def _day_of(moment: datetime) -> str:
    """The UTC day a daily cap resets on: "06 Dec" as Roost has always written it in
    English, the language's own day elsewhere ("12월 6일 (일)")."""
    return f"{moment:%d %b}" if language() == SOURCE else day(moment)


def _refusal(exc: tweepy.Forbidden, doing: str, recipient: str | None) -> XError:
    """The error for X's 403, told apart by X's words."""
    detail = _detail(exc)
    said = detail.lower()
    if "deleted or not visible" in said:  # not spoken: X's words, matched
        return XNotFound(
            _(
                "X refused {doing}: the post was deleted or is no longer visible to this "
                "account. Nothing was posted."
            ).format(doing=doing)
        )
    if "cannot send messages" in said:  # not spoken: X's words, matched
        if recipient:
            closed = _(
                "@{recipient} does not accept DMs from this account. Reply in public instead."
            ).format(recipient=recipient)
        else:
            closed = _(
                "The recipient does not accept DMs from this account. Reply in public instead."
            )
        return XRecipientClosed(closed)
    if "not been mentioned or otherwise engaged" in said:  # not spoken: X's words, matched
        return XForbidden(
            _(
                "X lets apps reply only to a post whose author mentions the account in it or "
                "quotes one of its posts, and this one does neither. Send a DM instead."
            )
        )
    if "cashtag" in said:
        return XError(
            _(
                "X takes at most one cashtag ($TSLA) in a post from an app. Keep one and send "
                "it again."
            )
        )
    if "duplicate content" in said:  # not spoken: X's words, matched
        return XDuplicate(
            _(
                "X refused the post as a duplicate of one this account posted recently. "
                "Change the wording and send it again."
            )
        )
    if "too long" in said:  # not spoken: X's words, matched
        return XError(
            _(
                "The post is longer than X allows (280 characters; a link counts as 23, an "
                "emoji or CJK character as 2). Shorten it and send it again."
            )
        )
    return XForbidden(
        _(
            "X forbids {doing} for this account or app ({detail}). "
            "Check the app's access level and plan in the X developer portal."
        ).format(doing=doing, detail=detail)
    )


def _raise_for_status(response: requests.Response) -> None:
    """Raise what tweepy's `Client.request` raises for the same answer."""
    status = response.status_code
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset")
        raise tweepy.TooManyRequests(response, reset_time=header_int(reset))
    errors: dict[int, type[tweepy.HTTPException]] = {
        400: tweepy.BadRequest,
        401: tweepy.Unauthorized,
        403: tweepy.Forbidden,
        404: tweepy.NotFound,
    }
    if status in errors:
        raise errors[status](response)
    if status >= 500:
        raise tweepy.TwitterServerError(response)
    if not 200 <= status < 300:
        raise tweepy.HTTPException(response)


def _outcome_unknown(doing: str, why: str) -> XOutcomeUnknown:
    return XOutcomeUnknown(
        _(
            "X did not confirm {doing} ({why}), so it may have gone through. "
            "Check the account on X before trying again."
        ).format(doing=doing, why=why)
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the call cannot have reached X: no connection to it was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _data(answer: dict[str, Any], doing: str) -> dict[str, Any]:
    """The `data` of a successful answer, or the error X sent in its place."""
    data = answer.get("data")
    if isinstance(data, dict):
        return data
    errors = answer.get("errors") or []
    details = "; ".join(str(error.get("detail", error)).rstrip(".") for error in errors)
    if any(str(error.get("type", "")).endswith("/resource-not-found") for error in errors):
        raise XNotFound(
            _(
                "X found nothing while {doing} ({detail}): it was deleted or is not "
                "visible to this account."
            ).format(doing=doing, detail=details)
        )
    if errors:
        raise XError(_("X rejected {doing}: {detail}.").format(doing=doing, detail=details))
    raise _outcome_unknown(doing, _("X's answer had no result"))


def _detail(exc: tweepy.HTTPException) -> str:
    messages = (str(message).rstrip(".") for message in exc.api_messages)
    return "; ".join(messages) or str(exc.response.status_code)
