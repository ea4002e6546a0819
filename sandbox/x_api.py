"""A fake X API v2 server speaking real HTTP on loopback.

Tests (and a person running Roost locally) point tweepy at this server instead of X: mount a
``requests`` adapter on ``tweepy.Client.session`` that rewrites ``https://api.twitter.com`` to
``FakeX.url``. The fake serves the endpoints Roost uses, in the shapes of X's OpenAPI
description (``shared/x-api/openapi.json``, see ``OPENAPI_PATH``):

- ``GET /i/oauth2/authorize`` (a consent that answers at once, see ``FakeX.consent_as``),
  ``POST /2/oauth2/token`` and ``POST /2/oauth2/revoke`` (OAuth 2.0 with PKCE, see
  ``FakeX.register_client``)
- ``GET /2/users/me``, ``GET /2/users/{id}``, ``GET /2/users/{id}/mentions``
- ``GET /2/tweets/search/stream`` (filtered stream, chunked, one connection per app)
- ``GET /2/tweets/search/recent`` (the last seven days, by the rules' query language)
- ``GET`` and ``POST /2/tweets/search/stream/rules``
- ``POST /2/tweets``, ``GET`` and ``DELETE /2/tweets/{id}``, ``GET /2/users/{id}/tweets``
- ``POST /2/users/{id}/retweets``, ``DELETE /2/users/{id}/retweets/{source_tweet_id}``,
  ``GET /2/tweets/{id}/retweeted_by``
- ``POST /2/dm_conversations/with/{participant_id}/messages``,
  ``GET /2/dm_conversations/with/{participant_id}/dm_events``
- ``POST /2/media/upload`` (one shot, images), ``POST /2/media/upload/initialize``,
  ``POST /2/media/upload/{id}/append``, ``POST /2/media/upload/{id}/finalize`` (chunked) and
  ``GET /2/media/upload?command=STATUS`` (video processing, see ``FakeX.video_polls``)

plus ``/_control/...`` endpoints to drive it from outside the process (see ``FakeX._control``).

Authentication is checked as X checks it: bearer tokens by value, OAuth 1.0a by its HMAC-SHA1
signature over the URL the request was sent to (so a client that signs for api.twitter.com and
then sends elsewhere gets 401), with a fresh timestamp and an unused nonce.

Posting follows X's rules for self-serve apps (since 2026-02-23): at most 280 weighted characters
(twitter-text), at most one cashtag, no duplicate of the author's own recent text, and replies
only where the replied-to post's author summoned the account, by mentioning it or quoting one of
its posts (``restrict_replies``).
Retweets are posts of their own, as on X: "RT @author: text", referencing the original
(``retweeted``) and mentioning its author, so they reach mentions timelines and any stream rule
without ``-is:retweet``. Quote posts reference theirs (``quoted``). An edit (``edit_tweet``) is
a new version with a new id and the whole ``edit_history_tweet_ids``; timelines serve the newest
version only, the stream delivers each version, and a looked-up older version still answers.

Media: uploads are checked against X's limits (``max_image_bytes``, ``max_gif_bytes``,
``max_video_bytes``, smaller in tests), images by their leading bytes as X sniffs them, videos
by the ``ftyp`` box an MP4 or MOV starts with. A post may attach only media its author uploaded
and that finished processing: up to four images, or one video or GIF. A failed processing carries
``processing_info.error`` (code, name, message), as the live API sends it although the OpenAPI
snapshot leaves it out.

Naming: the OpenAPI snapshot (2.167) spells some names "post" (``post.fields``, ``note_post``,
``referenced_posts``, ``edit_history_post_ids``, ``includes.posts``) where X's field documentation,
the live API and tweepy say "tweet". The fake takes either spelling and answers in the one it was
asked in: ``tweet.fields`` gets tweet names, ``post.fields`` post names. Problem ``type``
URLs use ``https://api.x.com/2/problems/...``: that is what the snapshot declares and what X
answers since its host move (older clients saw ``https://api.twitter.com/2/problems/...``), so
clients should match on the ``/2/problems/<name>`` suffix.

Run standalone with ``python -m sandbox.x_api [--port 8081] [--user brand]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import copy
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import twitter_text

from sandbox.loopback import is_loopback_host

JsonDict = dict[str, Any]

# In CI the repository is cloned into some folder with `shared/` beside it.
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "shared" / "x-api" / "openapi.json"

PROBLEMS_BASE = "https://api.x.com/2/problems/"

# Snowflake-like ids: 19 digits, strictly increasing. The step is one millisecond of a real
# snowflake (the low 22 bits hold worker and sequence numbers).
_SNOWFLAKE_STEP = 1 << 22
_FIRST_USER_ID = 1_500_000_000_000_000_000
_FIRST_TWEET_ID = 1_860_000_000_000_000_000
_FIRST_MEDIA_ID = 1_865_000_000_000_000_000
_FIRST_RULE_ID = 1_870_000_000_000_000_000
_FIRST_DM_EVENT_ID = 1_875_000_000_000_000_000

NOTE_TWEET_THRESHOLD = 280
TWEET_WEIGHTED_LIMIT = 280  # twitter-text weighted length: CJK and emoji count 2, links 23.
MENTIONS_TIMELINE_DEPTH = 800  # X serves only the 800 most recent mentions.
USER_TIMELINE_DEPTH = 3200  # ...and a user's 3,200 most recent posts.
DUPLICATE_WINDOW = timedelta(hours=24)
EDITS_PER_POST = 5  # edits X allows a post, each within EDIT_WINDOW of the first version
EDIT_WINDOW = timedelta(hours=1)
OAUTH1_TIMESTAMP_SKEW = 300  # seconds an OAuth 1.0a timestamp may be off X's clock
"""How far back X looks for the same author's identical text."""
RULE_CAP = 1000  # filtered-stream rules per app (self-serve)
QUERY_LIMIT = 512  # characters in a recent-search query (self-serve plans)
SEARCH_DAYS = 7  # how far back recent search reaches
SEARCH_LAG_SECONDS = 10  # how long before the request a search's start_time or end_time must be
NEGATION_ONLY = "Rules must contain a non-negation term"
RATE_WINDOW_SECONDS = 15 * 60
# How often an idle stream checks whether its client went away, so a reconnect is not refused
# as a second connection for long.
_PEER_CHECK_SECONDS = 0.1

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
# An @mention: not glued to a preceding word or @, and not longer than a username can be.
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@])")
_SNOWFLAKE = re.compile(r"[0-9]{1,19}")
# twitter-text's cashtag: $ and 1-6 letters (plus an optional .xx or _xx), after a space or
# the start, before a space, punctuation or the end.
_CASHTAG = re.compile(
    r"(?:^|(?<=\s))[$＄]([a-z]{1,6}(?:[._][a-z]{1,2})?)(?=$|\s|[!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$])",
    re.IGNORECASE,
)

# X's own words for refused writes (all 403, ``about:blank`` problems).
REPLY_TARGET_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
REPLY_NOT_ALLOWED = (
    "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to."
)
TEXT_TOO_LONG = (
    "Your Tweet text is too long. For more information on how Twitter determines text length "
    "see https://github.com/twitter/twitter-text."
)
# X's pay-per-use prices (its pricing page, as of 2026-08), in micro-dollars.
PRICE_POST_READ = 5_000
PRICE_OWNED_READ = 1_000
PRICE_USER_READ = 10_000
PRICE_DM_EVENT_READ = 10_000
PRICE_POST = 15_000
PRICE_POST_WITH_URL = 200_000
PRICE_SUMMONED_REPLY = 10_000
PRICE_DM = 15_000
PRICE_INTERACTION = 15_000
PRICE_DELETE = 10_000

TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
DUPLICATE_CONTENT = "You are not allowed to create a Tweet with duplicate content."
MAX_CASHTAGS = 1  # per post from a self-serve app, since 2026-02-23
# X documents the rule, not its words: this is the fake's wording of the refusal.
TOO_MANY_CASHTAGS = "Posts created via the API may contain at most 1 cashtag."
DMS_REFUSED = "You cannot send messages to this user."
INVALID_MEDIA_IDS = "Your media IDs are invalid."
MEDIA_TYPE_UNRECOGNIZED = "media type unrecognized."
SEGMENTS_MISMATCH = "Segments do not add up to provided total file size."
PROCESSING_FAILED = {
    "code": 1,
    "name": "InvalidMedia",
    "message": "Invalid or Unsupported media, Reason: UnsupportedMedia.",
}
"""The ``processing_info.error`` X answers for a video it cannot process."""

# X's media limits (2026): images 5 MB, animated GIFs 15 MB, videos 512 MB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_GIF_BYTES = 15 * 1024 * 1024
MAX_VIDEO_BYTES = 512 * 1024 * 1024
MEDIA_EXPIRES_SECONDS = 86_400
"""How long an uploaded media id stays usable: 24 hours."""
MAX_MEDIA_PER_POST = 4
# Values the OpenAPI description allows (InitializeMediaUploadRequest, MediaUploadRequest).
UPLOAD_MEDIA_TYPES = frozenset(
    "video/mp4 video/webm video/mp2t video/quicktime text/srt text/vtt image/jpeg image/gif "
    "image/bmp image/png image/webp image/pjpeg image/tiff model/gltf-binary "
    "model/vnd.usdz+zip".split()
)
ONE_SHOT_CATEGORIES = frozenset(
    "tweet_image tweet_video tweet_gif dm_image dm_video dm_gif subtitles".split()
)
CHUNKED_CATEGORIES = ONE_SHOT_CATEGORIES | {"amplify_video"}

# Field and expansion names X accepts (from the OpenAPI request parameters). Names outside these
# lists get a 400, as from X; names inside but not modelled by the fake are simply absent.
TWEET_FIELDS = frozenset(
    "article attachments author_id card_uri community_id context_annotations conversation_id "
    "created_at display_text_range edit_controls edit_history_tweet_ids entities geo id "
    "in_reply_to_user_id lang matched_media_notes media_metadata non_public_metrics "
    "note_request_suggestions note_tweet organic_metrics paid_partnership possibly_sensitive "
    "promoted_metrics public_metrics referenced_tweets reply_settings scopes source "
    "suggested_source_links suggested_source_links_with_counts text withheld".split()
)
USER_FIELDS = frozenset(
    "affiliation confirmed_email connection_status created_at description entities id "
    "is_identity_verified location most_recent_tweet_id name parody pinned_tweet_id "
    "profile_banner_url profile_image_url protected public_metrics receives_your_dm "
    "subscription subscription_type url username verified verified_followers_count "
    "verified_type withheld".split()
)
MEDIA_FIELDS = frozenset(
    "alt_text duration_ms height media_key non_public_metrics organic_metrics "
    "preview_image_url promoted_metrics public_metrics type url variants width".split()
)
EXPANSIONS = frozenset(
    "article.cover_media article.media_entities attachments.media_keys "
    "attachments.media_source_tweet attachments.poll_ids author_id edit_history_tweet_ids "
    "entities.mentions.username geo.place_id in_reply_to_user_id "
    "entities.note.mentions.username referenced_tweets.id "
    "referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id".split()
)
# X's OpenAPI snapshot (2.167) spells some of them "post" (its PostFieldsParameter is
# `post.fields`); the live API and tweepy say "tweet". The fake takes either, and answers
# in the spelling it was asked in.
TWEET_TO_POST_NAMES = {
    "note_tweet": "note_post",
    "referenced_tweets": "referenced_posts",
    "edit_history_tweet_ids": "edit_history_post_ids",
}
POST_TO_TWEET_NAMES = {post: tweet for tweet, post in TWEET_TO_POST_NAMES.items()}
POST_FIELDS = frozenset(TWEET_TO_POST_NAMES.get(name, name) for name in TWEET_FIELDS)
POST_EXPANSIONS = {
    "referenced_posts": "referenced_tweets.id",
    "edit_history_post_ids": "edit_history_tweet_ids",
}
"""The spec's expansions, and the live API's names for them."""
# Expansions of endpoints that answer users (retweeted_by). The snapshot says
# most_recent_post_id and pinned_post_id; the live API and tweepy say tweet.
USER_EXPANSIONS = frozenset({"affiliation", "most_recent_tweet_id", "pinned_tweet_id"})
# The snapshot lists sender_id, participant_ids and referenced posts only as expansions; X's
# field documentation lists them as fields too. The fake accepts both.
DM_EVENT_FIELDS = frozenset(
    "attachments created_at dm_conversation_id entities event_type id participant_ids "
    "referenced_tweets sender_id text".split()
)
DM_EXPANSIONS = frozenset(
    "attachments.media_keys participant_ids referenced_posts referenced_tweets.id sender_id".split()
)
DM_EVENT_TYPES = frozenset({"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"})
# The properties of X's CreatePostsRequest (it allows no others). Only text, reply and
# media.media_ids are modelled; the rest are accepted and ignored.
CREATE_TWEET_PROPERTIES = frozenset(
    "card_uri community_id direct_message_deep_link edit_options for_super_followers_only geo "
    "made_with_ai media nullcast paid_partnership poll quote_tweet_id reply reply_settings "
    "share_with_followers text".split()
)
_DEFAULT_TWEET_FIELDS = frozenset({"id", "text", "edit_history_tweet_ids"})
_DEFAULT_USER_FIELDS = frozenset({"id", "name", "username"})
_DEFAULT_MEDIA_FIELDS = frozenset({"media_key", "type"})
_DEFAULT_DM_EVENT_FIELDS = frozenset({"id", "event_type", "text"})
_REFERENCE_EXPANSIONS = frozenset(name for name in EXPANSIONS if name.startswith("referenced_"))
_MEDIA_KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}

# OAuth 2.0. X serves the consent page on its web host (x.com) and the token endpoints on the
# API host; the fake serves all three on its one host.
AUTHORIZE_PATH = "/i/oauth2/authorize"
TOKEN_PATH = "/2/oauth2/token"
REVOKE_PATH = "/2/oauth2/revoke"
AUTHORIZATION_CODE_SECONDS = 30.0
"""How long an authorization code can be exchanged: X's codes last 30 seconds."""
ACCESS_TOKEN_SECONDS = 7200
"""The ``expires_in`` of X's OAuth 2.0 user access tokens: two hours."""
# The scopes of OAuth2UserToken in the OpenAPI description.
OAUTH2_SCOPES = frozenset(
    "block.read block.write bookmark.read bookmark.write broadcast.read broadcast.write dm.read "
    "dm.write follows.read follows.write like.read like.write list.read list.write media.write "
    "mute.read mute.write offline.access space.read timeline.read tweet.moderate.write "
    "tweet.read tweet.write users.read".split()
)
# X's words for a code or refresh token it does not take (400 invalid_request).
INVALID_CODE = "Value passed for the authorization code was invalid."
INVALID_TOKEN = "Value passed for the token was invalid."
MISSING_BASIC_AUTH = "Missing valid authorization header"


# --- small helpers ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    """X's timestamp format: UTC, milliseconds, trailing Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _escape(text: str) -> str:
    """X serves `&`, `<` and `>` in post text as HTML entities (quotes stay as they are)."""
    return html.escape(text, quote=False)


def _problem(status: int, detail: str | None = None) -> JsonDict:
    """X's generic problem body (``about:blank``) for an HTTP status."""
    phrase = HTTPStatus(status).phrase
    return {"title": phrase, "type": "about:blank", "status": status, "detail": detail or phrase}


def _not_found(resource_type: str, parameter: str, resource_id: str) -> JsonDict:
    """The partial-error entry X adds when an expanded or requested object does not exist."""
    return {
        "value": resource_id,
        "detail": f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": resource_id,
        "type": PROBLEMS_BASE + "resource-not-found",
    }


def _encode_page_token(upper_bound: int) -> str:
    # Opaque to clients, like X's base32hex tokens; it holds the exclusive upper id bound.
    return base64.b32hexencode(str(upper_bound).encode()).decode().rstrip("=").lower()


def _decode_page_token(token: str) -> int | None:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        decoded = base64.b32hexdecode(padded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if _SNOWFLAKE.fullmatch(decoded) else None


def _mention_entities(text: str, user_ids: Mapping[str, str]) -> list[JsonDict]:
    """``entities.mentions`` of ``text``: codepoint offsets, exclusive end, id if the user exists.

    Offsets refer to the unescaped text, as X's do (clients unescape before slicing).
    """
    entities = []
    for match in _MENTION.finditer(text):
        entity: JsonDict = {"start": match.start(), "end": match.end(), "username": match[1]}
        user_id = user_ids.get(match[1].lower())
        if user_id is not None:
            entity["id"] = user_id
        entities.append(entity)
    return entities


class ApiError(Exception):
    """An answer other than success, raised anywhere while handling a request."""

    def __init__(self, status: int, body: JsonDict, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _UnknownControl(Exception):
    """No control endpoint has that method and path."""


def _invalid_request(parameter: str, value: str, message: str) -> ApiError:
    """X's 400 for a bad query parameter."""
    return ApiError(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": PROBLEMS_BASE + "invalid-request",
        },
    )


def _not_found_error(resource_type: str, parameter: str, resource_id: str) -> ApiError:
    """X's 404 for a write whose target does not exist: the resource-not-found problem."""
    return ApiError(404, {**_not_found(resource_type, parameter, resource_id), "status": 404})


def _forbidden(detail: str) -> ApiError:
    return ApiError(403, _problem(403, detail))


def _snowflake(parameter: str, value: str) -> str:
    """`value` if it is an id, else X's 400 naming `parameter`."""
    if not _SNOWFLAKE.fullmatch(value):
        raise _invalid_request(
            parameter, value, f"The `{parameter}` query parameter value [{value}] is not valid"
        )
    return value


def _json_object(body: bytes) -> JsonDict:
    """A request's JSON body, which must be an object; X's 400 otherwise."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise ApiError(
            400,
            {
                "errors": [{"message": "The request body must be a JSON object."}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": PROBLEMS_BASE + "invalid-request",
            },
        )
    return request


def _reject_unknown_properties(request: JsonDict, allowed: frozenset[str]) -> None:
    """X's 400 for a body property its schema does not have (they allow no others)."""
    unknown = sorted(request.keys() - allowed)
    if unknown:
        raise _invalid_request(
            unknown[0],
            json.dumps(request[unknown[0]]),
            f"`{unknown[0]}` is not a valid request property",
        )


def _parse_time(value: str) -> datetime:
    """An ISO 8601 time as X writes and accepts it ("...Z"), as an aware datetime."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time_parameter(query: Mapping[str, str], name: str) -> datetime | None:
    """A time query parameter (``start_time``, ``end_time``), or X's 400 if malformed."""
    if name not in query:
        return None
    try:
        return _parse_time(query[name])
    except ValueError:
        raise _invalid_request(
            name, query[name], f"The `{name}` query parameter value [{query[name]}] is invalid"
        ) from None


@dataclass(frozen=True)
class Limit:
    """One endpoint's rate limits as X's table states them (2026): requests per 15-minute
    window per user (user-context tokens) and per app (app-only bearer), and the 24-hour
    caps some endpoints add, per user and per app (all the app's users together)."""

    method: str
    pattern: str  # the path, {id} standing for one segment
    user: int | None = None
    app: int | None = None
    user_day: int | None = None
    app_day: int | None = None

    def matches(self, method: str, path: str) -> bool:
        regex = "/".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in self.pattern.split("/")
        )
        return method == self.method and re.fullmatch(regex, path) is not None


LIMITS = (
    Limit("GET", "/2/users/me", user=75),
    Limit("GET", "/2/users/{id}/mentions", user=300, app=450),
    Limit("GET", "/2/users/{id}/tweets", user=900, app=10_000),
    Limit("GET", "/2/users/{id}", user=900, app=300),
    Limit("POST", "/2/tweets", user=100, app_day=10_000),
    Limit("DELETE", "/2/tweets/{id}", user=50),
    Limit("GET", "/2/tweets/{id}", user=900, app=450),
    Limit("GET", "/2/tweets/{id}/retweeted_by", user=75, app=75),
    Limit("POST", "/2/users/{id}/retweets", user=50),
    Limit("DELETE", "/2/users/{id}/retweets/{id}", user=50),
    Limit("GET", "/2/dm_conversations/with/{id}/dm_events", user=15),
    Limit("POST", "/2/dm_conversations/with/{id}/messages", user=15, user_day=1_440, app_day=1_440),
    Limit("POST", "/2/media/upload", user=500, app_day=50_000),
    Limit("GET", "/2/media/upload", user=1_000, app_day=100_000),
    Limit("POST", "/2/media/upload/initialize", user=1_875, app_day=180_000),
    Limit("POST", "/2/media/upload/{id}/append", user=1_875, app_day=180_000),
    Limit("POST", "/2/media/upload/{id}/finalize", user=1_875, app_day=180_000),
    Limit("GET", "/2/tweets/search/recent", user=300, app=450),
    Limit("GET", "/2/tweets/search/stream", app=50),
    Limit("GET", "/2/tweets/search/stream/rules", app=450),
    Limit("POST", "/2/tweets/search/stream/rules", app=100),
)
"""X's per-endpoint limits for the endpoints the fake serves (X's rate-limit table)."""

DAY_SECONDS = 24 * 60 * 60


def _reference(tweet: JsonDict, kind: str) -> str | None:
    """The id of the tweet `tweet` replies to, quotes or retweets (`kind` is X's
    ``replied_to``, ``quoted`` or ``retweeted``), if it does."""
    for reference in tweet.get("referenced_tweets", ()):
        if reference["type"] == kind:
            return str(reference["id"])
    return None


def _is_reference(tweet: JsonDict, kind: str) -> bool:
    return _reference(tweet, kind) is not None


def _conversation_id(first_user_id: str, second_user_id: str) -> str:
    """A one-to-one DM conversation's id, as X forms it: both user ids, smaller first."""
    return "-".join(sorted((first_user_id, second_user_id), key=int))


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    """An OAuth 2.0 error body (RFC 6749), as X's token and revoke endpoints answer."""
    return ApiError(status, {"error": error, "error_description": description})


def _s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _with_query(url: str, parameters: Mapping[str, str]) -> str:
    """`url` with `parameters` added to its query string."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(parameters)]))
    return urlunsplit(parts._replace(query=query))


def _percent(value: str) -> str:
    """RFC 5849 3.6: every byte but ALPHA, DIGIT, "-", ".", "_" and "~" percent-encoded."""
    return quote(value, safe="~")


def _oauth1_signature(
    method: str,
    base_uri: str,
    parameters: Iterable[tuple[str, str]],
    consumer_secret: str,
    token_secret: str,
) -> str:
    """The HMAC-SHA1 signature of a request (RFC 5849 3.4), written out here rather than
    borrowed from oauthlib, so the fake checks tweepy's signing instead of repeating it."""
    normalized = "&".join(
        f"{name}={value}"
        for name, value in sorted((_percent(name), _percent(value)) for name, value in parameters)
    )
    base_string = "&".join((method.upper(), _percent(base_uri), _percent(normalized)))
    key = f"{_percent(consumer_secret)}&{_percent(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _oauth1_parameters(credentials: str) -> dict[str, str]:
    """The parameters of an `Authorization: OAuth ...` header, decoded."""
    return {name: unquote(value) for name, value in re.findall(r'([a-z_]+)="([^"]*)"', credentials)}


def _unsupported_auth(used: str, supported: str) -> ApiError:
    return ApiError(
        403,
        {
            "title": "Unsupported Authentication",
            "detail": f"Authenticating with {used} is forbidden for this endpoint.  "
            f"Supported authentication types are [{supported}].",
            "type": PROBLEMS_BASE + "unsupported-authentication",
            "status": 403,
        },
    )


_FORM_NAME = re.compile(rb';\s*name="([^"]*)"')
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


def _form(headers: Headers, body: bytes, allowed: frozenset[str]) -> dict[str, bytes]:
    """The fields of a media request: multipart/form-data (raw bytes), or JSON with ``media``
    base64-encoded, as the OpenAPI description allows both; X's 400 otherwise."""
    content_type = headers.get("content-type") or ""
    media_type = content_type.partition(";")[0].strip().lower()
    fields: dict[str, bytes] = {}
    if media_type == "application/json":
        for name, value in _json_object(body).items():
            if name != "media":
                fields[name] = str(value).encode()
                continue
            try:
                fields[name] = base64.b64decode(str(value), validate=True)
            except binascii.Error:
                raise _invalid_request("media", "...", "`media` must be base64") from None
    elif media_type == "multipart/form-data" and (boundary := _BOUNDARY.search(content_type)):
        delimiter = b"--" + boundary[1].encode()
        for part in body.split(delimiter)[1:]:
            if part.startswith(b"--"):
                break
            head, separator, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
            field_name = _FORM_NAME.search(head)
            if not separator or field_name is None:
                raise _invalid_request("media", "...", "The multipart body is malformed")
            fields[field_name[1].decode()] = content.removesuffix(b"\r\n")
    else:
        raise _invalid_request(
            "Content-Type", content_type, "Send multipart/form-data or application/json"
        )
    _reject_unknown_properties(dict.fromkeys(fields), allowed)
    return fields


def _media_ids(media: Any) -> list[str]:
    """``media.media_ids`` of a post: one to four ids (CreatePostsMedia); X's 400 otherwise."""
    ids = media.get("media_ids") if isinstance(media, dict) else None
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= MAX_MEDIA_PER_POST
        or not all(isinstance(media_id, str) and _SNOWFLAKE.fullmatch(media_id) for media_id in ids)
    ):
        raise _invalid_request(
            "media.media_ids", json.dumps(ids), "`media.media_ids` must hold 1 to 4 media ids"
        )
    return ids


def _sniff_image(data: bytes) -> str | None:
    """The image type X would find in `data`'s leading bytes, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _media_kind(category: str) -> str | None:
    """photo, video or animated_gif for an upload's ``media_category``; None if not modelled."""
    if category in ("tweet_image", "dm_image"):
        return "photo"
    if category in ("tweet_gif", "dm_gif"):
        return "animated_gif"
    if category in ("tweet_video", "dm_video", "amplify_video"):
        return "video"
    return None


def _too_big(limit: int) -> ApiError:
    return _invalid_request("total_bytes", str(limit), f"File size exceeds {limit} bytes.")


# --- records ---------------------------------------------------------------------------------


class Headers(dict[str, str]):
    """Request headers; keys are stored lower-case and looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as the fake received it (control endpoints are not recorded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    raw_query: str = ""  # as sent, for OAuth 1.0a signatures (`query` loses repeats)


@dataclass(frozen=True, slots=True)
class _StoredTweet:
    full: JsonDict  # every field, as X serves it (text HTML-escaped)
    text: str  # the full text as posted, unescaped
    mentioned: frozenset[str]  # lower-cased usernames mentioned in the full text
    search_text: str  # lower-cased unescaped full text, for rule terms
    author_username: str  # lower-cased, as at posting time
    reply_to_username: str | None


@dataclass(slots=True)
class _Upload:
    """One media upload: chunked ones gather segments until finalize, then (videos) process."""

    id: str
    key: str
    owner_id: str
    kind: str  # photo, video or animated_gif
    total_bytes: int
    segments: dict[int, bytes]
    state: str  # uploading, pending, in_progress, succeeded or failed
    polls: int = 0  # STATUS answers given since finalize
    failure: JsonDict | None = None  # the processing error it will end with

    @property
    def size(self) -> int:
        return sum(len(segment) for segment in self.segments.values())


@dataclass(frozen=True, slots=True)
class _DmEvent:
    id: str
    conversation_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: str

    def as_json(self) -> JsonDict:
        return {
            "id": self.id,
            "event_type": "MessageCreate",
            "text": self.text,
            "sender_id": self.sender_id,
            "created_at": self.created_at,
            "dm_conversation_id": self.conversation_id,
        }


@dataclass(frozen=True, slots=True)
class _Selection:
    """Which fields and expansions a request asked for."""

    tweet_fields: frozenset[str]
    user_fields: frozenset[str]
    media_fields: frozenset[str]
    expansions: frozenset[str]
    dm_event_fields: frozenset[str] = frozenset()
    post_names: bool = False  # asked as the spec spells it (post.fields): answer so too

    @classmethod
    def parse(
        cls,
        query: Mapping[str, str],
        *,
        expansions: frozenset[str] = EXPANSIONS,
        dm_event_fields: frozenset[str] = frozenset(),
    ) -> _Selection:
        """Parse the field and expansion parameters; `expansions` and `dm_event_fields` are
        the names the endpoint accepts (tweet expansions and none by default)."""

        def names(parameter: str, allowed: frozenset[str]) -> frozenset[str]:
            requested = frozenset(filter(None, query.get(parameter, "").split(",")))
            unknown = sorted(requested - allowed)
            if unknown:
                raise _invalid_request(
                    parameter,
                    unknown[0],
                    f"The `{parameter}` query parameter value [{unknown[0]}] is not one of "
                    f"[{','.join(sorted(allowed))}]",
                )
            return requested

        post_names = "post.fields" in query
        if post_names:
            tweet_fields = frozenset(
                POST_TO_TWEET_NAMES.get(name, name) for name in names("post.fields", POST_FIELDS)
            )
        else:
            tweet_fields = names("tweet.fields", TWEET_FIELDS)
        spec_expansions = frozenset(POST_EXPANSIONS) if expansions is EXPANSIONS else frozenset()
        return cls(
            tweet_fields=tweet_fields,
            user_fields=names("user.fields", USER_FIELDS),
            media_fields=names("media.fields", MEDIA_FIELDS),
            expansions=frozenset(
                POST_EXPANSIONS.get(name, name)
                for name in names("expansions", expansions | spec_expansions)
            ),
            dm_event_fields=names("dm_event.fields", dm_event_fields),
            post_names=post_names,
        )


@dataclass(frozen=True, slots=True)
class _Paging:
    """A page request over items with increasing snowflake ids, served newest first."""

    max_results: int
    since_id: int | None
    until_id: int | None
    page_bound: int | None  # exclusive upper id bound, from pagination_token

    @classmethod
    def parse(
        cls, query: Mapping[str, str], *, smallest: int = 5, largest: int = 100, default: int = 10
    ) -> _Paging:
        raw_max = query.get("max_results", str(default))
        if not raw_max.isdigit() or not smallest <= int(raw_max) <= largest:
            raise _invalid_request(
                "max_results",
                raw_max,
                f"The `max_results` query parameter value [{raw_max}] is not between "
                f"{smallest} and {largest}",
            )
        bounds: dict[str, int] = {}
        for name in ("since_id", "until_id"):
            if name in query:
                if not _SNOWFLAKE.fullmatch(query[name]):
                    raise _invalid_request(
                        name, query[name], f"The `{name}` query parameter value is invalid"
                    )
                bounds[name] = int(query[name])
        page_bound = None
        if "pagination_token" in query:
            page_bound = _decode_page_token(query["pagination_token"])
            if page_bound is None:
                raise _invalid_request(
                    "pagination_token",
                    query["pagination_token"],
                    "The `pagination_token` query parameter value is invalid",
                )
        return cls(int(raw_max), bounds.get("since_id"), bounds.get("until_id"), page_bound)

    def window(self, ids: Sequence[int], low: int = 0) -> tuple[int, int, int]:
        """(low, start, high): the page is ``ids[start:high]`` of ascending `ids`; `low` is the
        oldest index in reach, so a next page exists while ``start > low``."""
        if self.since_id is not None:
            low = max(low, bisect.bisect_right(ids, self.since_id))
        high = len(ids)
        for upper in (self.until_id, self.page_bound):
            if upper is not None:
                high = min(high, bisect.bisect_left(ids, upper))
        return low, max(low, high - self.max_results), high


@dataclass(slots=True)
class _Fault:
    path_prefix: str
    status: int
    times: int
    retry_after: int | None
    reset_in: int | None
    method: str | None
    body: JsonDict | None
    every: int = 1  # the fault hits every `every`-th matching request
    seen: int = 0


@dataclass(slots=True)
class _Delay:
    path_prefix: str
    seconds: float
    times: int


@dataclass(slots=True)
class _LostAnswer:
    path_prefix: str
    method: str | None
    times: int


@dataclass(frozen=True, slots=True)
class _Admission:
    """What the fault settings decided for one request."""

    delay: float
    fault: ApiError | None
    lose_answer: bool
    rate_headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _OAuthClient:
    """An app's OAuth 2.0 client, as registered in X's developer portal."""

    id: str
    secret: str | None  # None for a public client
    redirect_uris: frozenset[str]


@dataclass(frozen=True, slots=True)
class _AuthorizationCode:
    """What a consent granted, to be exchanged once for tokens."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    user_id: str
    scope: str
    expires_at: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _RefreshGrant:
    """What a refresh token renews."""

    client_id: str
    user_id: str
    scope: str


@dataclass(frozen=True, slots=True)
class _Principal:
    """Who a request authenticated as: the app (bearer) or a user (OAuth 2.0 or 1.0a)."""

    user_id: str | None  # None for the app

    @property
    def is_app(self) -> bool:
        return self.user_id is None


# --- filtered-stream rules -------------------------------------------------------------------

_Predicate = Callable[[_StoredTweet], bool]
_RULE_TOKEN = re.compile(r'"[^"]*"|\(|\)|-(?=\S)|[^\s()"]+')


class _RuleParser:
    """Compiles a rule value into a predicate.

    Grammar (a subset of X's): terms joined by spaces (AND) or ``OR`` (AND binds tighter),
    parentheses, ``-`` negation. Terms: ``@name`` (mentions), ``"a phrase"`` and bare words
    (case-insensitive substring of the text), ``from:name``, ``to:name``, ``is:reply``,
    ``is:retweet``, ``is:quote``, ``has:media``, ``has:mentions``, ``lang:xx``.
    """

    def __init__(self, value: str) -> None:
        self._tokens = _RULE_TOKEN.findall(value)
        self._position = 0
        self._negations = 0  # how many `-` the term being read is under
        self._positive = False  # whether a term not under any `-` was read

    def compile(self) -> _Predicate:
        if not self._tokens:
            raise ValueError("a rule needs at least one term")
        predicate = self._any_of()
        if self._position != len(self._tokens):
            raise ValueError(f"unexpected {self._tokens[self._position]!r}")
        if not self._positive:
            raise ValueError(NEGATION_ONLY)
        return predicate

    def _peek(self) -> str | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("the rule ends too early")
        self._position += 1
        return token

    def _any_of(self) -> _Predicate:
        alternatives = [self._all_of()]
        while self._peek() == "OR":
            self._take()
            alternatives.append(self._all_of())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda tweet: any(alternative(tweet) for alternative in alternatives)

    def _all_of(self) -> _Predicate:
        parts: list[_Predicate] = []
        while self._peek() not in (None, ")", "OR"):
            parts.append(self._unary())
        if not parts:
            raise ValueError("expected a term")
        if len(parts) == 1:
            return parts[0]
        return lambda tweet: all(part(tweet) for part in parts)

    def _unary(self) -> _Predicate:
        token = self._take()
        if token == "-":
            self._negations += 1
            inner = self._unary()
            self._negations -= 1
            return lambda tweet: not inner(tweet)
        if token == "(":
            inner = self._any_of()
            if self._take() != ")":
                raise ValueError("unbalanced parentheses")
            return inner
        if token == ")":
            raise ValueError("unbalanced parentheses")
        self._positive = self._positive or not self._negations
        return self._term(token)

    @staticmethod
    def _term(token: str) -> _Predicate:
        lowered = token.lower()
        if lowered.startswith("@") and _USERNAME.fullmatch(lowered[1:]):
            username = lowered[1:]
            return lambda tweet: username in tweet.mentioned
        if lowered.startswith('"'):
            phrase = lowered[1:-1]
            if not phrase:
                raise ValueError("empty quoted phrase")
            return lambda tweet: phrase in tweet.search_text
        operator, colon, argument = lowered.partition(":")
        if colon and argument:
            match operator, argument:
                case "from", _:
                    return lambda tweet: tweet.author_username == argument
                case "to", _:
                    return lambda tweet: tweet.reply_to_username == argument
                case "is", "reply":
                    return lambda tweet: "in_reply_to_user_id" in tweet.full
                case "is", "retweet":
                    return lambda tweet: _is_reference(tweet.full, "retweeted")
                case "is", "quote":
                    return lambda tweet: _is_reference(tweet.full, "quoted")
                case "has", "media":
                    return lambda tweet: "attachments" in tweet.full
                case "has", "mentions":
                    return lambda tweet: bool(tweet.mentioned)
                case "lang", _:
                    return lambda tweet: tweet.full.get("lang") == argument
                case (("is" | "has"), _):
                    raise ValueError(f"unsupported operator {token!r}")
        return lambda tweet: lowered in tweet.search_text


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    value: str
    tag: str | None
    matches: _Predicate

    def as_json(self) -> JsonDict:
        rule: JsonDict = {"id": self.id, "value": self.value}
        if self.tag is not None:
            rule["tag"] = self.tag
        return rule


# --- filtered-stream connections -------------------------------------------------------------


class _StreamEnded(Exception):
    """The stream must end now: the fake stops, or a drop was asked for."""


class _StreamConnection:
    """Lines waiting to be written to one open filtered-stream connection."""

    def __init__(self, selection: _Selection) -> None:
        self.selection = selection
        self._lines: deque[bytes] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._ended = False
        self._lines_before_drop: int | None = None

    def push(self, line: bytes) -> None:
        with self._ready:
            self._lines.append(line)
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify()

    def drop_after(self, lines: int) -> None:
        with self._ready:
            self._lines_before_drop = lines
            self._ready.notify()

    def _ending(self) -> bool:
        return self._ended or self._lines_before_drop == 0

    def next_line(self, timeout: float) -> bytes | None:
        """The next line to send, or None after `timeout`; raises _StreamEnded to stop."""
        with self._ready:
            if not self._lines and not self._ending():
                self._ready.wait(timeout)
            if self._ending():
                raise _StreamEnded
            if not self._lines:
                return None
            if self._lines_before_drop is not None:
                self._lines_before_drop -= 1
            return self._lines.popleft()


# --- the fake --------------------------------------------------------------------------------


class FakeX:
    """A fake X API v2 server on loopback; all state lives under one lock."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_seconds: float = 1.0,
        timeline_depth: int = MENTIONS_TIMELINE_DEPTH,
        restrict_replies: bool = True,
        log_requests: bool = False,
    ) -> None:
        """Configure the server; nothing listens until `start()`.

        `timeline_depth` is how many of a user's most recent mentions the mentions timeline
        reaches (800 on X). `restrict_replies` refuses replies, as X does for self-serve apps,
        unless the replied-to post is the account's own, mentions it, or quotes one of its
        posts. `log_requests` prints one line per request to stderr.
        """
        self._address = (host, port)
        self.keepalive_seconds = keepalive_seconds
        self.timeline_depth = timeline_depth
        self.restrict_replies = restrict_replies
        self.log_requests = log_requests
        # Media: X's limits, and how video processing goes (see fail_processing).
        self.max_image_bytes = MAX_IMAGE_BYTES
        self.max_gif_bytes = MAX_GIF_BYTES
        self.max_video_bytes = MAX_VIDEO_BYTES
        self.video_polls = 2
        """STATUS answers before a video is done: the last says succeeded (or failed); 0 makes
        finalize answer succeeded at once."""
        self.check_after_secs = 1

        self._lock = threading.Lock()
        self._connections_changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()

        self.app_bearer = "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(40)
        self._app_tokens = {self.app_bearer}
        self._consumer_key = secrets.token_urlsafe(18)
        self._consumer_secret = secrets.token_urlsafe(36)
        self._oauth2_users: dict[str, str] = {}  # OAuth 2.0 access token -> user id
        self._oauth1_users: dict[str, str] = {}  # OAuth 1.0a access token -> user id
        self._oauth1_secrets: dict[str, str] = {}  # OAuth 1.0a access token -> its secret
        self._oauth1_nonces: set[tuple[str, int]] = set()  # (nonce, timestamp) seen
        # OAuth 2.0 (authorization code with PKCE): tokens from the token endpoint expire.
        self.code_seconds = AUTHORIZATION_CODE_SECONDS
        self.token_seconds = ACCESS_TOKEN_SECONDS
        self._oauth_clients: dict[str, _OAuthClient] = {}
        self._codes: dict[str, _AuthorizationCode] = {}
        self._refresh_tokens: dict[str, _RefreshGrant] = {}
        self._token_deadlines: dict[str, float] = {}  # access token -> time.monotonic()
        self._consenting: str | None = None  # lower-cased username
        self.loopback_only = False
        """Refuse any request whose Host is not this computer: the sandbox's browser can
        reach the fake (its consent page), and so could a page elsewhere, by another name."""
        self.consent_choices: list[str] = []
        """Usernames the consent page offers to sign in as, when neither `consent_as` nor
        ``fake_user`` says (the sandbox's brands: a person reconnects one by hand)."""
        self._denials = 0

        self._users: dict[str, JsonDict] = {}  # user id -> full user object
        self._user_ids: dict[str, str] = {}  # lower-cased username -> user id
        self._tweets: dict[int, _StoredTweet] = {}
        # Mentions by lower-cased username, ascending tweet ids: bisect serves since_id,
        # until_id and pagination without scanning.
        self._mentions: dict[str, list[int]] = {}
        self._timelines: dict[str, list[int]] = {}  # author id -> ascending tweet ids
        # Retweets by source tweet id: retweeter's user id -> the retweet's own id.
        self._retweets: dict[int, dict[str, int]] = {}
        self._replaced: set[int] = set()  # ids of versions an edit replaced
        self._dm_events: list[_DmEvent] = []  # ascending ids
        self._dms_closed: set[str] = set()  # user ids that accept DMs from nobody
        self._refused: set[str] = set()  # user ids whose every token answers 401 (refuse_tokens)
        self._watchers: list[Callable[[], None]] = []
        self._media: dict[str, JsonDict] = {}
        self._uploads: dict[str, _Upload] = {}  # media id -> upload
        self._processing_failures: deque[JsonDict] = deque()
        self._rules: dict[str, _Rule] = {}
        self.rule_cap = RULE_CAP
        """Stream rules the app may hold; more are refused one by one in a 200 answer."""
        self.search_lag_seconds: float = SEARCH_LAG_SECONDS
        """How long before the request recent search takes a start_time or end_time (X's
        rule); tests that cannot wait shorten it."""
        self._stream: _StreamConnection | None = None

        self._next_user_id = _FIRST_USER_ID
        self._next_tweet_id = _FIRST_TWEET_ID
        self._next_media_id = _FIRST_MEDIA_ID
        self._next_rule_id = _FIRST_RULE_ID
        self._next_dm_event_id = _FIRST_DM_EVENT_ID

        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._lost_answers: list[_LostAnswer] = []
        # (method, endpoint, whose, window seconds) -> (reset epoch, calls counted)
        self._rate_windows: dict[tuple[str, str, str, int], tuple[int, int]] = {}
        self.limit_factor = 1.0
        """Multiplies every rate limit in LIMITS: benchmarks raise it far past their load."""
        self.window_seconds = RATE_WINDOW_SECONDS
        self.rate_limited: Counter[str] = Counter()
        """The 429s answered, by endpoint ("POST /2/tweets")."""
        """X's rate-limit window: tests and benchmarks that must see it pass shorten it
        (and Roost's X_RATE_WINDOW_SECONDS with it)."""
        # Billing: whose calls ("user:<id>" or "app") -> what -> micro-dollars, and the
        # resources billed today (X bills a resource once a UTC day per app).
        self._ledger: dict[str, dict[str, int]] = {}
        self._billed_today: dict[tuple[str, str], set[str]] = {}
        self.app_owner: str | None = None
        """The user id of the account that owns the developer app: its reads of its own
        posts and mentions are billed as owned reads."""

    # --- lifecycle ---

    def start(self) -> FakeX:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeX is already started")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-x",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end open streams, close client connections, release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            stream, sockets = self._stream, list(self._sockets)
        if stream is not None:
            stream.end()
        for sock in sockets:
            # Idle keep-alive connections would otherwise keep answering after stop().
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        with self._connections_changed:
            while self._sockets and time.monotonic() < deadline:
                self._connections_changed.wait(deadline - time.monotonic())
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeX:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeX is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- users and credentials ---

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        followers: int = 0,
        verified: bool = False,
        protected: bool = False,
        accepts_dms: bool = True,
    ) -> JsonDict:
        """Create a user and return its full user object (id as a string).

        With `accepts_dms` false, DMs to the user are refused as X refuses them.
        """
        if not _USERNAME.fullmatch(username):
            raise ValueError(f"invalid X username {username!r}")
        with self._lock:
            if username.lower() in self._user_ids:
                raise ValueError(f"username {username!r} is taken")
            user_id = str(self._next_user_id)
            self._next_user_id += _SNOWFLAKE_STEP
            user = {
                "id": user_id,
                "name": name if name is not None else username,
                "username": username,
                "created_at": _iso(datetime.now(UTC)),
                "description": "",
                "profile_image_url": (
                    f"https://pbs.twimg.com/profile_images/{user_id}/{username}_normal.jpg"
                ),
                "protected": protected,
                "verified": verified,
                "public_metrics": {
                    "followers_count": followers,
                    "following_count": 0,
                    "tweet_count": 0,
                    "listed_count": 0,
                    "like_count": 0,
                    "media_count": 0,
                },
            }
            self._users[user_id] = user
            self._user_ids[username.lower()] = user_id
            if not accepts_dms:
                self._dms_closed.add(user_id)
            return copy.deepcopy(user)

    def issue_token(self, user_id: str) -> str:
        """Issue an OAuth 2.0 user access token (sent as ``Authorization: Bearer <token>``)."""
        with self._lock:
            self._require_user(user_id)
            token = secrets.token_urlsafe(48)
            self._oauth2_users[token] = user_id
            return token

    def issue_oauth1(self, user_id: str) -> tuple[str, str, str, str]:
        """Issue OAuth 1.0a credentials for a user.

        Returns (consumer_key, consumer_secret, access_token, access_token_secret). Requests
        must be signed with them (HMAC-SHA1) for the URL they are sent to: a signature made for
        another host, a stale timestamp or a reused nonce answers 401, as X does.
        """
        with self._lock:
            self._require_user(user_id)
            access_token = f"{user_id}-{secrets.token_urlsafe(30)}"
            access_secret = secrets.token_urlsafe(33)
            self._oauth1_users[access_token] = user_id
            self._oauth1_secrets[access_token] = access_secret
            return self._consumer_key, self._consumer_secret, access_token, access_secret

    def revoke(self, token: str) -> None:
        """Make a bearer, OAuth 2.0 or OAuth 1.0a access token answer 401 from now on, or an
        OAuth 2.0 refresh token refused."""
        with self._lock:
            known = self._forget_token(token) or token in self._app_tokens
            self._app_tokens.discard(token)
        if not known:
            raise ValueError("unknown token")

    def refuse_tokens(self, username: str, refused: bool = True) -> None:
        """Answer 401 to every token of `username` (and refuse its refresh tokens) while
        `refused`, as X does once the account revoked the app; unlike `revoke`, lifting it
        lets the same tokens work again, so a person can switch the revocation off."""
        with self._lock:
            user_id = self._user_ids.get(username.lower())
            if user_id is None:
                raise ValueError(f"no user named {username!r}")
            if refused:
                self._refused.add(user_id)
            else:
                self._refused.discard(user_id)
            self._changed()

    def refuses_tokens(self, username: str) -> bool:
        """Whether `refuse_tokens` is on for `username`."""
        with self._lock:
            return self._user_ids.get(username.lower()) in self._refused

    def register_client(
        self, redirect_uris: str | Sequence[str], *, confidential: bool = False
    ) -> tuple[str, str | None]:
        """Register an app's OAuth 2.0 client with its callback URLs; (client_id, secret).

        A public client (the default) has no secret and names itself with ``client_id`` in
        token requests; a `confidential` one must authenticate with HTTP Basic, as on X.
        """
        uris = [redirect_uris] if isinstance(redirect_uris, str) else list(redirect_uris)
        if not uris or not all(uri.startswith(("http://", "https://")) for uri in uris):
            raise ValueError(f"invalid redirect URIs {redirect_uris!r}")
        client = _OAuthClient(
            id=secrets.token_urlsafe(24),
            secret=secrets.token_urlsafe(36) if confidential else None,
            redirect_uris=frozenset(uris),
        )
        with self._lock:
            self._oauth_clients[client.id] = client
        return client.id, client.secret

    def consent_as(self, username: str) -> None:
        """Make the fake consent page authorize as this user from now on.

        A request's own ``fake_user`` query parameter takes precedence.
        """
        with self._lock:
            if username.lower() not in self._user_ids:
                raise ValueError(f"no user named {username!r}")
            self._consenting = username.lower()

    def deny_consent(self, times: int = 1) -> None:
        """Make the next `times` consents decline: back to the app with
        ``error=access_denied``, as when a person clicks Cancel on X."""
        with self._lock:
            self._denials += times

    def _issue_pair(self, user_id: str, client_id: str, scope: str) -> JsonDict:
        """A token endpoint answer: an expiring access token, and a refresh token if the scope
        has ``offline.access`` (caller holds the lock)."""
        access_token = secrets.token_urlsafe(48)
        self._oauth2_users[access_token] = user_id
        self._token_deadlines[access_token] = time.monotonic() + self.token_seconds
        answer: JsonDict = {
            "token_type": "bearer",
            "expires_in": self.token_seconds,
            "access_token": access_token,
            "scope": scope,
        }
        if "offline.access" in scope.split():
            refresh_token = secrets.token_urlsafe(48)
            self._refresh_tokens[refresh_token] = _RefreshGrant(client_id, user_id, scope)
            answer["refresh_token"] = refresh_token
        return answer

    def _forget_token(self, token: str) -> bool:
        """Drop a user access token or refresh token; whether it existed (caller holds the
        lock)."""
        self._token_deadlines.pop(token, None)
        self._oauth1_secrets.pop(token, None)
        return (
            self._oauth2_users.pop(token, None) is not None
            or self._oauth1_users.pop(token, None) is not None
            or self._refresh_tokens.pop(token, None) is not None
        )

    def delete_user(self, user_id: str) -> None:
        """Delete a user: their tokens stop working and they vanish from includes.

        Their tweets remain; where one is expanded, an ``errors`` entry names the missing user.
        """
        with self._lock:
            user = self._require_user(user_id)
            del self._users[user_id]
            del self._user_ids[user["username"].lower()]

    def user_id(self, username: str) -> str:
        """The id of the user named `username` (any case)."""
        with self._lock:
            user_id = self._user_ids.get(username.lower())
        if user_id is None:
            raise ValueError(f"no user named {username!r}")
        return user_id

    def username(self, user_id: str) -> str:
        """The username of the user with id `user_id`."""
        with self._lock:
            return str(self._require_user(user_id)["username"])

    def close_dms(self, user_id: str) -> None:
        """Make the user refuse DMs from everyone from now on, as `accepts_dms=False` does."""
        with self._lock:
            self._require_user(user_id)
            self._dms_closed.add(user_id)

    def _require_user(self, user_id: str) -> JsonDict:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"no user with id {user_id!r}")
        return user

    # --- posts ---

    def post_mention(
        self,
        to: str | Sequence[str],
        *,
        author: str,
        text: str | None = None,
        note_text: str | None = None,
        reply_to: str | None = None,
        media: Sequence[str] = (),
        lang: str = "en",
        created_at: datetime | str | None = None,
        quote_of: str | None = None,
    ) -> JsonDict:
        """Post a tweet mentioning `to` (a username or several) by the existing user `author`;
        with `to` empty, a post by `author` that mentions nobody (its `text` is then needed).

        The text defaults to ``"@to hello"``; a missing ``@to`` is prepended. `note_text` makes
        a long post: `text` is then its first 280 characters and ``note_tweet`` holds it all.
        `reply_to` (a tweet id) makes a reply in that tweet's conversation. `media` lists kinds
        (``photo``, ``video``, ``animated_gif``) to attach. `created_at` (a datetime or an ISO
        8601 string) defaults to now. `quote_of` (a tweet id) makes a quote post of that
        tweet. Returns the tweet with every field, as X would serve it, and pushes it to an
        open filtered stream if rules match.
        """
        recipients = [to] if isinstance(to, str) else list(to)
        if not all(_USERNAME.fullmatch(name) for name in recipients):
            raise ValueError(f"invalid recipients {to!r}")
        if not recipients and text is None and note_text is None:
            raise ValueError("a post that mentions nobody needs its text")
        if text is not None and note_text is not None:
            raise ValueError("give text or note_text, not both")
        unknown_media = set(media) - _MEDIA_KEY_PREFIX.keys()
        if unknown_media:
            raise ValueError(f"unknown media kinds {sorted(unknown_media)}")
        body = note_text if note_text is not None else text
        if body is None:
            body = " ".join(f"@{name}" for name in recipients) + " hello"
        mentioned_in_body = {match[1].lower() for match in _MENTION.finditer(body)}
        missing = [name for name in recipients if name.lower() not in mentioned_in_body]
        if missing:
            body = " ".join(f"@{name}" for name in missing) + " " + body
        if isinstance(created_at, datetime):
            created_at = _iso(created_at)

        with self._lock:
            author_id = self._user_ids.get(author.lower())
            if author_id is None:
                raise ValueError(f"no user named {author!r}")
            parent = None if reply_to is None else self._tweet_or_error(reply_to)
            quoted = None if quote_of is None else self._tweet_or_error(quote_of)
            stored = self._store_tweet(
                author_id,
                body,
                long=note_text is not None,
                parent=parent,
                quoted=quoted,
                media=media,
                lang=lang,
                created_at=created_at,
            )
            return copy.deepcopy(stored.full)

    def _tweet_or_error(self, tweet_id: str) -> _StoredTweet:
        """The current version of a stored tweet, for the test driving the fake (caller holds
        the lock)."""
        stored = self._tweets.get(int(tweet_id)) if str(tweet_id).isdigit() else None
        if stored is None or int(tweet_id) in self._replaced:
            raise ValueError(f"no tweet with id {tweet_id!r}")
        return stored

    def retweet(self, username: str, tweet_id: str) -> JsonDict:
        """Retweet `tweet_id` as the existing user `username`, as X shapes it: a post of its
        own, "RT @author: text", referencing the original (type ``retweeted``) and mentioning
        its author, so it reaches mentions timelines and matching stream rules. Again is
        harmless. Returns the retweet with every field."""
        with self._lock:
            user_id = self._user_ids.get(username.lower())
            if user_id is None:
                raise ValueError(f"no user named {username!r}")
            retweet = self._store_retweet(user_id, self._tweet_or_error(tweet_id))
            return copy.deepcopy(retweet.full)

    def edit_tweet(self, tweet_id: str, text: str) -> JsonDict:
        """Edit a tweet as its author would: X makes a new version with a new id, lists every
        version in ``edit_history_tweet_ids`` (oldest first), serves only the newest in
        timelines and pushes it to the stream. A post can be edited 5 times in its first hour;
        a retweet never. Returns the new version with every field."""
        with self._lock:
            original = self._tweet_or_error(tweet_id)
            history = original.full["edit_history_tweet_ids"]
            first = self._tweets[int(history[0])].full
            if _is_reference(original.full, "retweeted"):
                raise ValueError("a retweet cannot be edited")
            if len(history) > EDITS_PER_POST:
                raise ValueError(f"a post can be edited {EDITS_PER_POST} times")
            if datetime.now(UTC) - _parse_time(first["created_at"]) > EDIT_WINDOW:
                raise ValueError("a post can be edited only in its first hour")
            parent_id = _reference(original.full, "replied_to")
            quoted_id = _reference(original.full, "quoted")
            stored = self._store_tweet(
                original.full["author_id"],
                text,
                long=twitter_text.parse_tweet(text).weightedLength > NOTE_TWEET_THRESHOLD,
                parent=None if parent_id is None else self._tweets.get(int(parent_id)),
                quoted=None if quoted_id is None else self._tweets.get(int(quoted_id)),
                media_keys=original.full.get("attachments", {}).get("media_keys", ()),
                lang=original.full.get("lang", "en"),
                edit_of=original,
            )
            return copy.deepcopy(stored.full)

    def delete_tweet(self, tweet_id: str) -> None:
        """Delete a tweet: it leaves every timeline, its retweets go, and expansions
        referencing it report it missing in ``errors``."""
        with self._lock:
            if int(tweet_id) not in self._tweets:
                raise ValueError(f"no tweet with id {tweet_id!r}")
            self._remove_tweet(int(tweet_id))

    def mentions_of(self, username: str) -> list[JsonDict]:
        """Every stored tweet mentioning `username`, newest first, with every field."""
        with self._lock:
            ids = self._mentions.get(username.lower(), [])
            return [copy.deepcopy(self._tweets[tweet_id].full) for tweet_id in reversed(ids)]

    def rules(self) -> list[JsonDict]:
        """The app's filtered-stream rules, oldest first: id, value and tag."""
        with self._lock:
            return [rule.as_json() for rule in self._rules.values()]

    def tweet(self, tweet_id: str) -> JsonDict:
        """A stored tweet (any version of an edited one) with every field."""
        with self._lock:
            stored = self._tweets.get(int(tweet_id))
            if stored is None:
                raise ValueError(f"no tweet with id {tweet_id!r}")
            return copy.deepcopy(stored.full)

    def posts_by(self, username: str) -> list[JsonDict]:
        """What the user posted, newest first, retweets left out (see `retweeters_of`):
        ``id``, ``text`` (as posted, unescaped), ``in_reply_to_tweet_id`` (None unless a
        reply), ``created_at`` and ``media_ids`` (the uploaded media attached, in order; empty
        if none)."""
        with self._lock:
            user_id = self._user_ids.get(username.lower())
            ids = self._timelines.get(user_id, []) if user_id is not None else []
            posts = []
            for tweet_id in reversed(ids):
                stored = self._tweets[tweet_id]
                if _is_reference(stored.full, "retweeted"):
                    continue
                replied_to = [
                    reference["id"]
                    for reference in stored.full.get("referenced_tweets", [])
                    if reference["type"] == "replied_to"
                ]
                posts.append(
                    {
                        "id": stored.full["id"],
                        "text": stored.text,
                        "in_reply_to_tweet_id": replied_to[0] if replied_to else None,
                        "created_at": stored.full["created_at"],
                        "media_ids": [
                            key.partition("_")[2]
                            for key in stored.full.get("attachments", {}).get("media_keys", [])
                        ],
                    }
                )
            return posts

    def uploads_by(self, username: str) -> list[JsonDict]:
        """The user's media uploads, oldest first: ``id``, ``media_key``, ``type`` (photo,
        video, animated_gif), ``size`` (bytes received), ``total_bytes`` and ``state``
        (uploading, pending, in_progress, succeeded, failed)."""
        with self._lock:
            user_id = self._user_ids.get(username.lower())
            return [
                {
                    "id": upload.id,
                    "media_key": upload.key,
                    "type": upload.kind,
                    "size": upload.size,
                    "total_bytes": upload.total_bytes,
                    "state": upload.state,
                }
                for upload in self._uploads.values()
                if upload.owner_id == user_id
            ]

    def fail_processing(self, *, times: int = 1, error: JsonDict | None = None) -> None:
        """Make the next `times` finalized videos fail processing: their last STATUS says
        ``failed`` with `error` (X's InvalidMedia by default) in ``processing_info``."""
        with self._lock:
            self._processing_failures.extend([error or PROCESSING_FAILED] * times)

    def dms_between(self, sender: str, recipient: str) -> list[JsonDict]:
        """The DMs `sender` sent `recipient` (usernames), newest first, as X's events."""
        with self._lock:
            sender_id = self._user_ids.get(sender.lower())
            recipient_id = self._user_ids.get(recipient.lower())
            return [
                event.as_json()
                for event in reversed(self._dm_events)
                if event.sender_id == sender_id and event.recipient_id == recipient_id
            ]

    def retweeters_of(self, tweet_id: str) -> set[str]:
        """The ids of the users who retweet `tweet_id` now."""
        with self._lock:
            return set(self._retweets.get(int(tweet_id), {}))

    def _store_tweet(
        self,
        author_id: str,
        body: str,
        *,
        long: bool = False,
        parent: _StoredTweet | None = None,
        quoted: _StoredTweet | None = None,
        retweeted: _StoredTweet | None = None,
        edit_of: _StoredTweet | None = None,
        media: Sequence[str] = (),
        media_keys: Sequence[str] = (),
        lang: str = "en",
        created_at: str | None = None,
    ) -> _StoredTweet:
        """Store a new tweet by `author_id` with full text `body` (caller holds the lock).

        A `long` body is a note tweet: ``text`` holds its first 280 characters. `parent`,
        `quoted` and `retweeted` are the tweets it replies to, quotes or retweets; `edit_of`
        the version it replaces (which leaves every timeline). `media` lists kinds of new
        media to attach, `media_keys` uploaded media already stored. Indexes the tweet in its
        author's timeline and the mentions of everyone it names, and pushes it to an open
        filtered stream if rules match.
        """
        tweet_id = str(self._next_tweet_id)
        self._next_tweet_id += _SNOWFLAKE_STEP

        short_text = body[:NOTE_TWEET_THRESHOLD] if long else body
        history = [*edit_of.full["edit_history_tweet_ids"], tweet_id] if edit_of else [tweet_id]
        full: JsonDict = {
            "id": tweet_id,
            "text": _escape(short_text),
            "edit_history_tweet_ids": history,
            "author_id": author_id,
            "conversation_id": parent.full["conversation_id"] if parent else history[0],
            "created_at": created_at or _iso(datetime.now(UTC)),
            "lang": lang,
        }
        references = []
        if parent is not None:
            full["in_reply_to_user_id"] = parent.full["author_id"]
            references.append({"type": "replied_to", "id": parent.full["id"]})
        if quoted is not None:
            references.append({"type": "quoted", "id": quoted.full["id"]})
        if retweeted is not None:
            references.append({"type": "retweeted", "id": retweeted.full["id"]})
        if references:
            full["referenced_tweets"] = references
        first_created = created_at or full["created_at"]
        if edit_of is not None:
            first_created = self._tweets[int(history[0])].full["created_at"]
        full["edit_controls"] = {
            "edits_remaining": EDITS_PER_POST + 1 - len(history),
            "is_edit_eligible": retweeted is None,
            "editable_until": _iso(_parse_time(first_created) + EDIT_WINDOW),
        }
        if media or media_keys:
            keys = [*media_keys, *(self._add_media(kind) for kind in media)]
            full["attachments"] = {"media_keys": keys}
        full["entities"] = {"mentions": _mention_entities(short_text, self._user_ids)}
        if long:
            full["note_tweet"] = {
                "text": _escape(body),
                "entities": {"mentions": _mention_entities(body, self._user_ids)},
            }
        full["public_metrics"] = {
            "retweet_count": 0,
            "reply_count": 0,
            "like_count": 0,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 0,
        }
        stored = _StoredTweet(
            full=full,
            text=body,
            mentioned=frozenset(match[1].lower() for match in _MENTION.finditer(body)),
            search_text=body.lower(),
            author_username=self._users[author_id]["username"].lower(),
            reply_to_username=parent.author_username if parent is not None else None,
        )
        self._tweets[int(tweet_id)] = stored
        if edit_of is not None:
            # Every version lists the whole history; only the newest stays in timelines.
            for version in history[:-1]:
                self._tweets[int(version)].full["edit_history_tweet_ids"] = list(history)
                self._tweets[int(version)].full["edit_controls"]["edits_remaining"] = 0
            self._unindex(int(edit_of.full["id"]))
            self._replaced.add(int(edit_of.full["id"]))
        # Ids only grow, so appending keeps every index sorted.
        self._timelines.setdefault(author_id, []).append(int(tweet_id))
        for username in stored.mentioned:
            self._mentions.setdefault(username, []).append(int(tweet_id))
        self._push_to_stream(stored)
        self._changed()
        return stored

    def _store_retweet(self, user_id: str, source: _StoredTweet) -> _StoredTweet:
        """`user_id`'s retweet of `source`, stored once (caller holds the lock)."""
        retweeters = self._retweets.setdefault(int(source.full["id"]), {})
        if user_id in retweeters:  # retweeting again changes nothing
            return self._tweets[retweeters[user_id]]
        author = self._users[source.full["author_id"]]["username"]
        short_text = html.unescape(source.full["text"])
        retweet = self._store_tweet(
            user_id,
            f"RT @{author}: {short_text}",
            retweeted=source,
            media_keys=source.full.get("attachments", {}).get("media_keys", ()),
            lang=source.full.get("lang", "en"),
        )
        retweeters[user_id] = int(retweet.full["id"])
        source.full["public_metrics"]["retweet_count"] += 1
        return retweet

    def _unindex(self, tweet_id: int) -> None:
        """Take a stored tweet out of its author's timeline and every mentions timeline
        (caller holds the lock)."""
        stored = self._tweets[tweet_id]
        for ids in (
            self._timelines[stored.full["author_id"]],
            *(self._mentions[username] for username in stored.mentioned),
        ):
            at = bisect.bisect_left(ids, tweet_id)
            if at < len(ids) and ids[at] == tweet_id:
                del ids[at]

    def _remove_tweet(self, tweet_id: int) -> None:
        """Drop a stored tweet, its other versions and its retweets from every index (caller
        holds the lock)."""
        for version in self._tweets[tweet_id].full["edit_history_tweet_ids"]:
            if int(version) not in self._tweets:
                continue
            self._unindex(int(version))
            stored = self._tweets.pop(int(version))
            self._replaced.discard(int(version))
            for retweet_id in self._retweets.pop(int(version), {}).values():
                if retweet_id in self._tweets:
                    self._remove_tweet(retweet_id)
            source_id = _reference(stored.full, "retweeted")
            if source_id is not None:
                retweeters = self._retweets.get(int(source_id), {})
                retweeters.pop(stored.full["author_id"], None)
                if int(source_id) in self._tweets:
                    self._tweets[int(source_id)].full["public_metrics"]["retweet_count"] -= 1
        self._changed()

    def _new_media_id(self) -> int:
        media_id = self._next_media_id
        self._next_media_id += _SNOWFLAKE_STEP
        return media_id

    def _add_media(self, kind: str, media_id: int | None = None) -> str:
        """Store a media object of `kind` (a new id unless given); its media key."""
        if media_id is None:
            media_id = self._new_media_id()
        key = f"{_MEDIA_KEY_PREFIX[kind]}_{media_id}"
        item: JsonDict = {"media_key": key, "type": kind}
        if kind == "photo":
            item.update(url=f"https://pbs.twimg.com/media/{media_id}.jpg", width=1200, height=800)
        else:
            item.update(
                preview_image_url=f"https://pbs.twimg.com/tweet_video_thumb/{media_id}.jpg",
                width=1280,
                height=720,
            )
            if kind == "video":
                item["duration_ms"] = 15_000
            item["variants"] = [
                {
                    "bit_rate": 2_176_000,
                    "content_type": "video/mp4",
                    "url": f"https://video.twimg.com/ext_tw_video/{media_id}/vid/1280x720.mp4",
                }
            ]
        self._media[key] = item
        return key

    # --- faults and inspection ---

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        reset_in: int | None = None,
        method: str | None = None,
        body: JsonDict | None = None,
        every: int = 1,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`
        (with `every`, every `every`-th of them instead: a storm rather than an outage).

        The body is X's problem format for that status unless `body` is given. A 429 carries
        ``x-rate-limit-remaining: 0`` and ``x-rate-limit-reset`` = now + `reset_in` (default
        1 s); `retry_after` adds a ``Retry-After`` header. `method` limits it to one method.
        """
        if times < 1 or every < 1:
            raise ValueError("times and every must be at least 1")
        with self._lock:
            self._faults.append(
                _Fault(path_prefix, status, times, retry_after, reset_in, method, body, every)
            )
            self._changed()

    def clear_faults(self, path_prefix: str, status: int) -> None:
        """Forget the pending faults `fail(path_prefix, status, ...)` set: the end of an
        outage or a rate limit that was meant to last until switched off."""
        with self._lock:
            self._faults = [
                pending
                for pending in self._faults
                if (pending.path_prefix, pending.status) != (path_prefix, status)
            ]
            self._changed()

    def faulting(self, path_prefix: str, status: int) -> bool:
        """Whether faults set by `fail(path_prefix, status, ...)` are still pending."""
        with self._lock:
            return any(
                (pending.path_prefix, pending.status) == (path_prefix, status)
                for pending in self._faults
            )

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after each change to posts, DMs, faults or refused tokens, e.g.
        to wake a page showing them. It runs under the fake's lock: keep it quick and do not
        call back into the fake."""
        with self._lock:
            self._watchers.append(callback)

    def _changed(self) -> None:
        """Tell the watchers (caller holds the lock)."""
        for callback in self._watchers:
            callback()

    def slow(self, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Delay the answers to the next `times` requests whose path starts with `path_prefix`.

        The request is carried out at once and only its answer waits, so a write exists while
        a client that gave up on the answer does not know it (a stream opens after the delay).
        """
        with self._lock:
            self._delays.append(_Delay(path_prefix, seconds, times))

    def lose_answer(self, path_prefix: str, *, method: str | None = "POST", times: int = 1) -> None:
        """Carry out the next `times` requests whose path starts with `path_prefix` (and of
        `method`; None for any), then close their connections without an answer.

        The client sees a dropped connection although the post, DM or retweet exists: the
        outcome of a write it cannot know.
        """
        with self._lock:
            self._lost_answers.append(_LostAnswer(path_prefix, method, times))

    def drop_streams(self, after_lines: int = 0) -> None:
        """Cut open stream connections, as a network drop would, after `after_lines` more
        tweet lines (keep-alives do not count). The chunked body never gets its end."""
        with self._lock:
            if self._stream is not None:
                self._stream.drop_after(after_lines)

    @property
    def open_streams(self) -> int:
        """How many filtered-stream connections are open (0 or 1)."""
        with self._lock:
            return 0 if self._stream is None else 1

    @property
    def calls(self) -> list[Call]:
        """Every API request so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, path_prefix: str, method: str | None = None) -> list[Call]:
        """The API requests whose path starts with `path_prefix` (and of `method`, if given)."""
        with self._lock:
            return [
                call
                for call in self._calls
                if call.path.startswith(path_prefix)
                and (method is None or call.method == method.upper())
            ]

    # --- request handling (called from handler threads) ---

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._connections_changed:
            self._sockets.discard(sock)
            self._connections_changed.notify_all()

    def _admit(self, call: Call) -> _Admission:
        """Record a call; decide its delay, injected fault, lost answer and rate-limit headers."""
        now = time.time()
        with self._lock:
            self._calls.append(call)
            delay = 0.0
            for slow in self._delays:
                if call.path.startswith(slow.path_prefix):
                    delay = slow.seconds
                    slow.times -= 1
                    break
            self._delays = [slow for slow in self._delays if slow.times > 0]

            headers, limited = self._count(call, now)

            fault = None
            for pending in self._faults:
                if call.path.startswith(pending.path_prefix) and (
                    pending.method is None or pending.method.upper() == call.method
                ):
                    pending.seen += 1
                    if pending.seen % pending.every == 0:
                        fault = pending
                        pending.times -= 1
                    break
            self._faults = [pending for pending in self._faults if pending.times > 0]

            lose_answer = False
            for lost in self._lost_answers:
                if call.path.startswith(lost.path_prefix) and (
                    lost.method is None or lost.method.upper() == call.method
                ):
                    lose_answer = True
                    lost.times -= 1
                    break
            self._lost_answers = [lost for lost in self._lost_answers if lost.times > 0]
        if fault is None:
            return _Admission(delay, limited, lose_answer, headers)
        if fault.status == 429:
            headers["x-rate-limit-remaining"] = "0"
            reset_in = 1 if fault.reset_in is None else fault.reset_in
            headers["x-rate-limit-reset"] = str(math.ceil(now + reset_in))
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body if fault.body is not None else _problem(fault.status)
        return _Admission(delay, ApiError(fault.status, body, headers), lose_answer, headers)

    # --- billing, as X's pay-per-use price list has it ---

    def spend(self, username: str | None = None) -> float:
        """Dollars X would bill: for the calls made with `username`'s tokens, or (None) for
        the app's own (the stream). Resources read are billed once per UTC day per app."""
        with self._lock:
            if username is None:
                whose = "app"
            else:
                whose = f"user:{self._user_ids[username.lower()]}"
            return round(sum(self._ledger.get(whose, {}).values()) / 1_000_000, 6)

    def spend_by_kind(self, username: str) -> dict[str, float]:
        with self._lock:
            whose = f"user:{self._user_ids[username.lower()]}"
            return {k: v / 1_000_000 for k, v in self._ledger.get(whose, {}).items()}

    def _bill(self, call: Call, status: int, payload: JsonDict) -> None:
        """Bill a successful answer (called from handler threads)."""
        unpriced = ("/2/oauth2/", "/2/media/", "/2/tweets/search/stream/rules")
        if not 200 <= status < 300 or call.path.startswith(unpriced):
            return
        with self._lock:
            whose = self._rate_principal(call.headers) or "nobody"
            if call.method == "GET":
                owned = (
                    self.app_owner is not None
                    and whose == f"user:{self.app_owner}"
                    and call.path
                    in (f"/2/users/{self.app_owner}/mentions", f"/2/users/{self.app_owner}/tweets")
                )
                self._bill_resources(whose, payload, owned=owned, dms="/dm_" in call.path)
                return
            price = None
            if call.method == "POST" and call.path == "/2/tweets":
                request = json.loads(call.body or b"{}")
                text = str(request.get("text", ""))
                parent_id = (request.get("reply") or {}).get("in_reply_to_tweet_id")
                parent = self._tweets.get(int(parent_id)) if parent_id else None
                if twitter_text.extract_urls(text):  # X links "example.com" too
                    price = PRICE_POST_WITH_URL
                elif parent is not None and self._summoned(whose.removeprefix("user:"), parent):
                    price = PRICE_SUMMONED_REPLY
                else:  # a post, or a reply to one's own post or one that did not summon
                    price = PRICE_POST
            elif call.method == "POST" and call.path.endswith("/messages"):
                price = PRICE_DM
            elif "/retweets" in call.path:
                price = PRICE_INTERACTION
            elif call.method == "DELETE" and call.path.startswith("/2/tweets/"):
                price = PRICE_DELETE
            if price is not None:
                kinds = self._ledger.setdefault(whose, {})
                kinds[f"{call.method} {call.path}"] = (
                    kinds.get(f"{call.method} {call.path}", 0) + price
                )

    def _bill_resources(
        self, whose: str, payload: JsonDict, *, owned: bool, dms: bool = False
    ) -> None:
        """Bill what an answer returned, once a day per resource (caller holds the lock)."""
        data = payload.get("data")
        items = [data] if isinstance(data, dict) else list(data or [])
        includes = payload.get("includes") or {}
        if dms:
            groups = [("dm_event", items, PRICE_DM_EVENT_READ)]
        elif items and "username" in items[0]:
            groups = [("user", items, PRICE_USER_READ)]
        else:
            post_price = PRICE_OWNED_READ if owned else PRICE_POST_READ
            posts = items + list(includes.get("tweets", [])) + list(includes.get("posts", []))
            groups = [("post", posts, post_price)]
        groups.append(("user", list(includes.get("users", [])), PRICE_USER_READ))
        day = datetime.now(UTC).date().isoformat()
        for kind, resources, price in groups:
            seen = self._billed_today.setdefault((day, kind), set())
            new = {str(r["id"]) for r in resources if isinstance(r, dict) and "id" in r} - seen
            seen |= new
            if new:
                kinds = self._ledger.setdefault(whose, {})
                key = f"{kind} read{' (owned)' if owned and kind == 'post' else ''}"
                kinds[key] = kinds.get(key, 0) + price * len(new)

    def _rate_principal(self, headers: Headers) -> str | None:
        """Whose limits a call counts against: "app" for the app's bearer token, else the
        user its token stands for (caller holds the lock). None when it names nobody: its
        401 comes later."""
        scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
        if scheme == "Bearer":
            if credentials in self._app_tokens:
                return "app"
            user_id = self._oauth2_users.get(credentials)
        elif scheme == "OAuth":
            user_id = self._oauth1_users.get(_oauth1_parameters(credentials).get("oauth_token", ""))
        else:
            user_id = None
        return None if user_id is None else f"user:{user_id}"

    def _count(self, call: Call, now: float) -> tuple[dict[str, str], ApiError | None]:
        """Count a call against its endpoint's limits (caller holds the lock): X's headers
        for them, and the 429 if one is exhausted (a refused call does not count)."""
        limit = next((lim for lim in LIMITS if lim.matches(call.method, call.path)), None)
        principal = self._rate_principal(call.headers)
        if limit is None or principal is None:
            return {}, None
        app_only = principal == "app"
        windows: list[tuple[str, int | None, int, str]] = [
            ("x-rate-limit", limit.app if app_only else limit.user, self.window_seconds, principal),
            ("x-user-limit-24hour", None if app_only else limit.user_day, DAY_SECONDS, principal),
            ("x-app-limit-24hour", limit.app_day, DAY_SECONDS, "app"),
        ]
        counted = []
        for prefix, allowed, seconds, whose in windows:
            if allowed is None:
                continue
            key = (limit.method, limit.pattern, whose, seconds)
            reset, count = self._rate_windows.get(key, (0, 0))
            if now >= reset:
                reset, count = math.ceil(now + seconds), 0
            counted.append((prefix, max(1, round(allowed * self.limit_factor)), key, reset, count))
        exhausted = any(count >= allowed for _, allowed, _, _, count in counted)
        headers = {}
        for prefix, allowed, key, reset, count in counted:
            if not exhausted:
                count += 1
            self._rate_windows[key] = (reset, count)
            headers[f"{prefix}-limit"] = str(allowed)
            headers[f"{prefix}-remaining"] = str(max(allowed - count, 0))
            headers[f"{prefix}-reset"] = str(reset)
        if not exhausted:
            return headers, None
        self.rate_limited[f"{limit.method} {limit.pattern}"] += 1
        return headers, ApiError(429, TOO_MANY_REQUESTS, headers)

    def _authenticate(self, call: Call) -> _Principal:
        scheme, _, credentials = (call.headers.get("authorization") or "").partition(" ")
        if scheme == "OAuth":
            return self._authenticate_oauth1(call, _oauth1_parameters(credentials))
        with self._lock:
            if scheme == "Bearer":
                if credentials in self._app_tokens:
                    return _Principal(None)
                deadline = self._token_deadlines.get(credentials)
                if deadline is not None and time.monotonic() >= deadline:
                    self._forget_token(credentials)
                user_id = self._oauth2_users.get(credentials)
            else:
                user_id = None
            if user_id is None or user_id not in self._users or user_id in self._refused:
                raise ApiError(401, _problem(401))
            return _Principal(user_id)

    def _authenticate_oauth1(self, call: Call, oauth: dict[str, str]) -> _Principal:
        """Check an OAuth 1.0a request as X does: a known consumer key and access token, a
        fresh timestamp and nonce, and an HMAC-SHA1 signature over the method, the URL the
        request was sent to (scheme, Host header, path), its query and any form body."""
        token = oauth.get("oauth_token", "")
        parameters = [(name, value) for name, value in oauth.items() if name.startswith("oauth_")]
        parameters = [(name, value) for name, value in parameters if name != "oauth_signature"]
        parameters += parse_qsl(call.raw_query, keep_blank_values=True)
        if (call.headers.get("content-type") or "").startswith("application/x-www-form-urlencoded"):
            parameters += parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True)
        host = (call.headers.get("host") or "").lower().removesuffix(":80")
        try:
            timestamp = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            timestamp = 0
        nonce = (oauth.get("oauth_nonce", ""), timestamp)
        with self._lock:
            user_id = self._oauth1_users.get(token)
            secret = self._oauth1_secrets.get(token, "")
            expected = _oauth1_signature(
                call.method, f"http://{host}{call.path}", parameters, self._consumer_secret, secret
            )
            valid = (
                user_id in self._users
                and user_id not in self._refused
                and oauth.get("oauth_consumer_key") == self._consumer_key
                and oauth.get("oauth_signature_method") == "HMAC-SHA1"
                and abs(time.time() - timestamp) <= OAUTH1_TIMESTAMP_SKEW
                and nonce not in self._oauth1_nonces
                and hmac.compare_digest(expected, oauth.get("oauth_signature", ""))
            )
            if not valid or user_id is None:
                raise ApiError(401, _problem(401))
            self._oauth1_nonces.add(nonce)
            return _Principal(user_id)

    @staticmethod
    def _require_user_context(principal: _Principal) -> str:
        if principal.user_id is None:
            raise _unsupported_auth(
                "OAuth 2.0 Application-Only", "OAuth 1.0a User Context, OAuth 2.0 User Context"
            )
        return principal.user_id

    @staticmethod
    def _require_app(principal: _Principal) -> None:
        if not principal.is_app:
            raise _unsupported_auth("OAuth 2.0 User Context", "OAuth 2.0 Application-Only")

    def _handle_api(self, call: Call) -> tuple[int, JsonDict]:
        """Answer one API request (all but the stream) with (status, payload); raises ApiError
        for failures."""
        method, path, query, headers, body = (
            call.method,
            call.path,
            call.query,
            call.headers,
            call.body,
        )
        if path in (TOKEN_PATH, REVOKE_PATH):
            if method != "POST":
                raise ApiError(405, _problem(405))
            form = self._oauth_form(headers, body)
            client = self._oauth_client(headers, form)
            if path == TOKEN_PATH:
                return 200, self._token(client, form)
            return 200, self._revoke_token(form)
        principal = self._authenticate(call)
        if method == "GET" and path == "/2/users/me":
            user_id = self._require_user_context(principal)
            return 200, self._get_user(user_id, query, parameter="id")
        if path == "/2/tweets/search/stream/rules" and method in ("GET", "POST"):
            self._require_app(principal)
            if method == "GET":
                return 200, self._get_rules(query)
            return 200, self._update_rules(query, body)
        if method == "GET" and path == "/2/tweets/search/recent":
            return 200, self._search_recent(query)
        if method == "POST" and path == "/2/tweets":
            return 201, self._create_tweet(self._require_user_context(principal), body)
        if (match := re.fullmatch(r"/2/tweets/([^/]+)", path)) and method == "DELETE":
            user_id = self._require_user_context(principal)
            return 200, self._delete_own_tweet(user_id, _snowflake("id", match[1]))
        if (match := re.fullmatch(r"/2/tweets/([^/]+)", path)) and method == "GET":
            return 200, self._get_tweet(_snowflake("id", match[1]), query)
        if (match := re.fullmatch(r"/2/tweets/([^/]+)/retweeted_by", path)) and method == "GET":
            return 200, self._get_retweeters(_snowflake("id", match[1]), query)
        match = re.fullmatch(r"/2/users/([^/]+)(/mentions|/tweets)?", path)
        if match and method == "GET":
            user_id = _snowflake("id", match[1])
            if match[2] is None:
                return 200, self._get_user(user_id, query, parameter="id")
            if match[2] == "/tweets":
                return 200, self._get_user_tweets(user_id, query)
            if self._require_user_context(principal) != user_id:
                raise ApiError(403, _problem(403))
            return 200, self._get_mentions(user_id, query)
        match = re.fullmatch(r"/2/users/([^/]+)/retweets(?:/([^/]+))?", path)
        if match and (method, match[2] is None) in (("POST", True), ("DELETE", False)):
            user_id = self._require_user_context(principal)
            if _snowflake("id", match[1]) != user_id:
                raise ApiError(403, _problem(403))
            if method == "POST":
                return 200, self._retweet(user_id, body)
            return 200, self._unretweet(user_id, _snowflake("source_tweet_id", match[2]))
        match = re.fullmatch(r"/2/dm_conversations/with/([^/]+)/(messages|dm_events)", path)
        if match and (method, match[2]) in (("POST", "messages"), ("GET", "dm_events")):
            user_id = self._require_user_context(principal)
            participant_id = _snowflake("participant_id", match[1])
            if method == "POST":
                return 201, self._send_dm(user_id, participant_id, body)
            return 200, self._get_dm_events(user_id, participant_id, query)
        if path == "/2/media/upload" or path.startswith("/2/media/upload/"):
            return 200, self._handle_media(method, path, query, headers, body, principal)
        raise ApiError(404, _problem(404))

    # --- OAuth 2.0 ---

    def _consent(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The consent page's answer: (302, where to send the browser) or (400, why not).

        Like X, it never redirects to an address it cannot trust (an unknown client or a
        callback URL the client did not register); other mistakes go back to the app as
        ``error=...``. The user consents at once: ``fake_user`` in the query, else the one
        `consent_as` chose; `deny_consent` makes it decline instead.
        """
        with self._lock:
            client = self._oauth_clients.get(query.get("client_id", ""))
            if client is None:
                return 400, "Something went wrong: the app's client_id is not known to X."
            redirect_uri = query.get("redirect_uri", "")
            if redirect_uri not in client.redirect_uris:
                return 400, "Something went wrong: redirect_uri is not a callback URL of the app."
            answer = {"state": query["state"]} if "state" in query else {}

            def back(**parameters: str) -> tuple[int, str]:
                return 302, _with_query(redirect_uri, {**parameters, **answer})

            if query.get("response_type") != "code":
                return back(error="unsupported_response_type")
            scopes = query.get("scope", "").split()
            if not scopes or set(scopes) - OAUTH2_SCOPES:
                return back(error="invalid_scope")
            method = query.get("code_challenge_method", "plain")
            if not answer or not query.get("code_challenge") or method not in ("S256", "plain"):
                return back(error="invalid_request")
            if self._denials:
                self._denials -= 1
                return back(error="access_denied")
            username = query.get("fake_user", "").lower() or self._consenting
            user_id = self._user_ids.get(username or "")
            if user_id is None and self.consent_choices:
                return 200, urlencode(query)  # the page asks whose account it is
            if user_id is None:
                return 400, "Nobody to consent as: call consent_as(username) or add fake_user=."
            code = secrets.token_urlsafe(60)
            self._codes[code] = _AuthorizationCode(
                client_id=client.id,
                redirect_uri=redirect_uri,
                code_challenge=query["code_challenge"],
                code_challenge_method=method,
                user_id=user_id,
                scope=" ".join(scopes),
                expires_at=time.monotonic() + self.code_seconds,
            )
            return back(code=code)

    @staticmethod
    def _oauth_form(headers: Headers, body: bytes) -> dict[str, str]:
        """A token or revoke request's form fields; X takes no other encoding."""
        content_type = headers.get("content-type") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise _oauth_error(
                400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded."
            )
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _oauth_client(self, headers: Headers, form: Mapping[str, str]) -> _OAuthClient:
        """The client making a token or revoke request: a confidential one by HTTP Basic, a
        public one by ``client_id`` in the form."""
        scheme, _, encoded = (headers.get("authorization") or "").partition(" ")
        with self._lock:
            if scheme == "Basic":
                try:
                    decoded = base64.b64decode(encoded, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                client_id, _, secret = decoded.partition(":")
                client = self._oauth_clients.get(unquote(client_id))
                if client is not None and client.secret == unquote(secret):
                    return client
            else:
                client = self._oauth_clients.get(form.get("client_id", ""))
                if client is not None and client.secret is None:
                    return client
        raise _oauth_error(401, "unauthorized_client", MISSING_BASIC_AUTH)

    def _token(self, client: _OAuthClient, form: Mapping[str, str]) -> JsonDict:
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri", "code_verifier"):
                if not form.get(name):
                    raise _oauth_error(
                        400, "invalid_request", f"Missing required parameter [{name}]."
                    )
            with self._lock:
                # Single-use: a code is gone after its first exchange, successful or not.
                code = self._codes.pop(form["code"], None)
                if code is None or code.expires_at <= time.monotonic():
                    raise _oauth_error(400, "invalid_request", INVALID_CODE)
                if code.client_id != client.id or code.redirect_uri != form["redirect_uri"]:
                    raise _oauth_error(400, "invalid_request", INVALID_CODE)
                verifier = form["code_verifier"]
                expected = _s256(verifier) if code.code_challenge_method == "S256" else verifier
                if not secrets.compare_digest(expected, code.code_challenge):
                    raise _oauth_error(400, "invalid_request", INVALID_CODE)
                if code.user_id not in self._users:
                    raise _oauth_error(400, "invalid_request", INVALID_CODE)
                return self._issue_pair(code.user_id, client.id, code.scope)
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise _oauth_error(
                    400, "invalid_request", "Missing required parameter [refresh_token]."
                )
            with self._lock:
                # Rotation: a refresh token works once, and the answer carries its successor.
                grant = self._refresh_tokens.pop(form["refresh_token"], None)
                if grant is None or grant.client_id != client.id:
                    if grant is not None:
                        self._refresh_tokens[form["refresh_token"]] = grant
                    raise _oauth_error(400, "invalid_request", INVALID_TOKEN)
                if grant.user_id not in self._users or grant.user_id in self._refused:
                    raise _oauth_error(400, "invalid_request", INVALID_TOKEN)
                return self._issue_pair(grant.user_id, client.id, grant.scope)
        if not grant_type:
            raise _oauth_error(400, "invalid_request", "Missing required parameter [grant_type].")
        raise _oauth_error(400, "unsupported_grant_type", f"Grant type {grant_type} is unknown.")

    def _revoke_token(self, form: Mapping[str, str]) -> JsonDict:
        if not form.get("token"):
            raise _oauth_error(400, "invalid_request", "Missing required parameter [token].")
        hint = form.get("token_type_hint")
        if hint is not None and hint not in ("access_token", "refresh_token"):
            raise _oauth_error(400, "unsupported_token_type", f"Token type {hint} is unknown.")
        with self._lock:
            # RFC 7009: an unknown or already revoked token is no error.
            self._forget_token(form["token"])
        return {"revoked": True}

    # --- reads ---

    def _get_user(self, user_id: str, query: Mapping[str, str], *, parameter: str) -> JsonDict:
        selection = _Selection.parse(query)
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                return {"errors": [_not_found("user", parameter, user_id)]}
            return {"data": self._render_user(user, selection)}

    def _get_mentions(self, user_id: str, query: Mapping[str, str]) -> JsonDict:
        selection = _Selection.parse(query)
        paging = _Paging.parse(query)
        with self._lock:
            user = self._users.get(user_id)
            if user is None:  # deleted since the request authenticated
                raise ApiError(401, _problem(401))
            ids = self._mentions.get(user["username"].lower(), [])
            return self._tweet_page(ids, paging, selection, depth=self.timeline_depth)

    def _search_recent(self, query: Mapping[str, str]) -> JsonDict:
        """Recent search: the posts of the last SEARCH_DAYS matching `query`, newest first,
        retweets included unless the query leaves them out (`-is:retweet`); an edited
        post by its newest version only, as timelines serve it."""
        text = query.get("query", "")
        if not text.strip():
            raise _invalid_request("query", text, "The `query` query parameter can not be empty")
        if len(text) > QUERY_LIMIT:
            raise _invalid_request(
                "query",
                text,
                f"There were errors processing your request: Query is too long "
                f"({len(text)} characters; the maximum is {QUERY_LIMIT})",
            )
        try:
            matches = _RuleParser(text).compile()
        except ValueError as error:
            raise _invalid_request(
                "query", text, f"There were errors processing your request: {error}"
            ) from None
        if "next_token" in query and "pagination_token" in query:
            raise _invalid_request(
                "next_token",
                query["next_token"],
                "At most one of `pagination_token`, `next_token` may be provided",
            )
        if "next_token" in query:  # X's name for it here; the timelines' is pagination_token
            query = {**query, "pagination_token": query["next_token"]}
        selection = _Selection.parse(query)
        paging = _Paging.parse(query, smallest=10)
        now = datetime.now(UTC)
        reach = now - timedelta(days=SEARCH_DAYS)
        start_time = _time_parameter(query, "start_time")
        end_time = _time_parameter(query, "end_time")
        latest = now - timedelta(seconds=self.search_lag_seconds)
        for name, moment in (("start_time", start_time), ("end_time", end_time)):
            if moment is not None and moment > latest:
                raise _invalid_request(
                    name,
                    query[name],
                    f"Invalid '{name}':'{query[name]}'. '{name}' must be a minimum of "
                    f"{self.search_lag_seconds:g} seconds prior to the request time.",
                )
        if start_time is not None and end_time is not None and end_time <= start_time:
            raise _invalid_request(
                "end_time",
                query["end_time"],
                f"Invalid 'end_time':'{query['end_time']}'. 'end_time' must be after "
                f"'start_time':'{query['start_time']}'.",
            )
        if start_time is not None and start_time < reach:
            raise _invalid_request(
                "start_time",
                query["start_time"],
                f"Invalid 'start_time':'{query['start_time']}'. 'start_time' must be on or "
                f"after {_iso(reach)}",
            )
        if start_time is not None and paging.since_id is not None:
            raise _invalid_request(
                "since_id",
                str(paging.since_id),
                "At most one of `start_time`, `since_id` may be provided",
            )
        since = max(reach, start_time) if start_time is not None else reach
        with self._lock:
            known = self._tweets.get(paging.since_id) if paging.since_id is not None else None
            if known is not None and _parse_time(known.full["created_at"]) < reach:
                raise _invalid_request(
                    "since_id",
                    str(paging.since_id),
                    f"Invalid 'since_id':'{paging.since_id}'. 'since_id' must be a tweet id "
                    f"created after {_iso(reach)}.",
                )
            ids = []
            for timeline in self._timelines.values():
                for tweet_id in timeline:
                    stored = self._tweets[tweet_id]
                    posted = _parse_time(stored.full["created_at"])
                    if since <= posted and (end_time is None or posted < end_time):
                        if matches(stored):
                            ids.append(tweet_id)
            return self._tweet_page(sorted(ids), paging, selection)

    def _get_tweet(self, tweet_id: str, query: Mapping[str, str]) -> JsonDict:
        """One post by its id, its expansions in ``includes``; a post that is gone is a 200
        whose ``errors`` say so, as X answers a lookup."""
        selection = _Selection.parse(query)
        with self._lock:
            tweet = self._tweets.get(int(tweet_id))
            if tweet is None:
                return {"errors": [_not_found("tweet", "id", tweet_id)]}
            response = self._render_tweets([tweet], selection)
        response["data"] = response["data"][0]
        return response

    def _get_user_tweets(self, user_id: str, query: Mapping[str, str]) -> JsonDict:
        selection = _Selection.parse(query)
        paging = _Paging.parse(query)
        start_time = _time_parameter(query, "start_time")
        end_time = _time_parameter(query, "end_time")
        excluded = frozenset(filter(None, query.get("exclude", "").split(",")))
        if excluded - {"replies", "retweets"}:
            raise _invalid_request(
                "exclude",
                query["exclude"],
                f"The `exclude` query parameter value [{query['exclude']}] is not one of "
                "[replies,retweets]",
            )
        with self._lock:
            if user_id not in self._users:
                return {"errors": [_not_found("user", "id", user_id)]}
            ids = []
            for tweet_id in self._timelines.get(user_id, [])[-USER_TIMELINE_DEPTH:]:
                tweet = self._tweets[tweet_id].full
                created_at = _parse_time(tweet["created_at"])
                if (
                    (start_time is None or created_at >= start_time)
                    and (end_time is None or created_at < end_time)
                    and not ("replies" in excluded and "in_reply_to_user_id" in tweet)
                    and not ("retweets" in excluded and _is_reference(tweet, "retweeted"))
                ):
                    ids.append(tweet_id)
            return self._tweet_page(ids, paging, selection)

    def _tweet_page(
        self,
        ids: Sequence[int],
        paging: _Paging,
        selection: _Selection,
        *,
        depth: int | None = None,
    ) -> JsonDict:
        """One page, newest first, of the tweets with ascending `ids`, of which only the
        `depth` most recent are in reach (caller holds the lock)."""
        floor = 0 if depth is None else max(len(ids) - depth, 0)
        low, start, high = paging.window(ids, floor)
        if start >= high:
            return {"meta": {"result_count": 0}}
        page = [self._tweets[tweet_id] for tweet_id in reversed(ids[start:high])]
        response = self._render_tweets(page, selection)
        meta: JsonDict = {
            "result_count": len(page),
            "newest_id": page[0].full["id"],
            "oldest_id": page[-1].full["id"],
        }
        if start > low:
            meta["next_token"] = _encode_page_token(ids[start])
        response["meta"] = meta
        return response

    def _get_retweeters(self, tweet_id: str, query: Mapping[str, str]) -> JsonDict:
        selection = _Selection.parse(query, expansions=USER_EXPANSIONS)
        paging = _Paging.parse(query, smallest=1, default=100)
        with self._lock:
            if int(tweet_id) not in self._tweets:
                return {"errors": [_not_found("tweet", "id", tweet_id)]}
            # Newest retweet first, paged by the retweets' own ids.
            retweets = sorted(
                (retweet_id, user_id)
                for user_id, retweet_id in self._retweets.get(int(tweet_id), {}).items()
                if user_id in self._users
            )
            ids = [retweet_id for retweet_id, _ in retweets]
            low, start, high = paging.window(ids)
            page = [self._users[user_id] for _, user_id in reversed(retweets[start:high])]
            response: JsonDict = {}
            if page:
                response["data"] = [self._render_user(user, selection) for user in page]
            response["meta"] = {"result_count": len(page)}
            if start > low:
                response["meta"]["next_token"] = _encode_page_token(ids[start])
            return response

    def _get_dm_events(
        self, user_id: str, participant_id: str, query: Mapping[str, str]
    ) -> JsonDict:
        selection = _Selection.parse(
            query, expansions=DM_EXPANSIONS, dm_event_fields=DM_EVENT_FIELDS
        )
        paging = _Paging.parse(query, smallest=1, default=100)
        event_types = frozenset(filter(None, query.get("event_types", "").split(",")))
        if event_types - DM_EVENT_TYPES:
            raise _invalid_request(
                "event_types",
                query["event_types"],
                f"The `event_types` query parameter value [{query['event_types']}] is not one "
                f"of [{','.join(sorted(DM_EVENT_TYPES))}]",
            )
        fields = _DEFAULT_DM_EVENT_FIELDS | selection.dm_event_fields
        if "sender_id" in selection.expansions:
            fields |= {"sender_id"}
        conversation_id = _conversation_id(user_id, participant_id)
        with self._lock:
            # The fake's conversations hold only messages, no joins or leaves.
            events = [
                event
                for event in self._dm_events
                if event.conversation_id == conversation_id
                and (not event_types or "MessageCreate" in event_types)
            ]
            low, start, high = paging.window([int(event.id) for event in events])
            page = events[start:high][::-1]
            response: JsonDict = {}
            if page:
                response["data"] = [
                    {key: value for key, value in event.as_json().items() if key in fields}
                    for event in page
                ]
            if "sender_id" in selection.expansions:
                users: dict[str, JsonDict] = {}
                errors: dict[str, JsonDict] = {}
                for event in page:
                    sender = self._users.get(event.sender_id)
                    if sender is not None:
                        users[event.sender_id] = self._render_user(sender, selection)
                    else:
                        errors[event.sender_id] = _not_found("user", "sender_id", event.sender_id)
                if users:
                    response["includes"] = {"users": list(users.values())}
                if errors:
                    response["errors"] = list(errors.values())
            response["meta"] = {"result_count": len(page)}
            if start > low:
                response["meta"]["next_token"] = _encode_page_token(int(events[start].id))
            return response

    # --- writes ---

    def _create_tweet(self, user_id: str, body: bytes) -> JsonDict:
        request = _json_object(body)
        _reject_unknown_properties(request, CREATE_TWEET_PROPERTIES)
        text = request.get("text", "")
        if not isinstance(text, str) or not (text.strip() or "media" in request):
            raise _invalid_request(
                "text", json.dumps(text), "The `text` field is required unless `media` is given"
            )
        reply_to = None
        if "reply" in request:
            reply = request["reply"]
            reply_to = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
            if not isinstance(reply_to, str) or not _SNOWFLAKE.fullmatch(reply_to):
                raise _invalid_request(
                    "reply.in_reply_to_tweet_id",
                    json.dumps(reply_to),
                    "`reply.in_reply_to_tweet_id` must be a post id",
                )
        media_ids = _media_ids(request["media"]) if "media" in request else []
        if twitter_text.parse_tweet(text).weightedLength > TWEET_WEIGHTED_LIMIT:
            raise _forbidden(TEXT_TOO_LONG)
        if len(_CASHTAG.findall(text)) > MAX_CASHTAGS:
            raise _forbidden(TOO_MANY_CASHTAGS)
        with self._lock:
            media_keys = self._attachable(user_id, media_ids)
            parent = None
            if reply_to is not None:
                parent = self._tweets.get(int(reply_to))
                if parent is None:
                    raise _forbidden(REPLY_TARGET_GONE)
                if self.restrict_replies and not self._may_reply(user_id, parent):
                    raise _forbidden(REPLY_NOT_ALLOWED)
            if text.strip() and self._is_duplicate(user_id, text):
                raise _forbidden(DUPLICATE_CONTENT)
            stored = self._store_tweet(user_id, text, parent=parent, media_keys=media_keys)
        return {
            "data": {
                key: copy.deepcopy(stored.full[key])
                for key in ("id", "text", "edit_history_tweet_ids")
            }
        }

    def _attachable(self, user_id: str, media_ids: list[str]) -> list[str]:
        """The media keys of `media_ids`, if the user uploaded them all, they finished
        processing and they fit in one post (images only, or one video or GIF); X's 400
        otherwise (caller holds the lock)."""
        uploads = [self._uploads.get(media_id) for media_id in media_ids]
        ready = [
            upload
            for upload in uploads
            if upload is not None and upload.owner_id == user_id and upload.state == "succeeded"
        ]
        mixed = len(ready) > 1 and any(upload.kind != "photo" for upload in ready)
        if len(ready) != len(media_ids) or mixed:
            raise _invalid_request("media.media_ids", json.dumps(media_ids), INVALID_MEDIA_IDS)
        return [upload.key for upload in ready]

    def _may_reply(self, user_id: str, parent: _StoredTweet) -> bool:
        """Whether a self-serve app's user may reply to `parent`, under X's rule since
        2026-02-23: only where its author summoned the user, by mentioning them in it or
        quoting one of their posts (and, as ever, to the user's own posts). Having joined
        the conversation earlier no longer counts (caller holds the lock)."""
        return parent.full["author_id"] == user_id or self._summoned(user_id, parent)

    def _summoned(self, user_id: str, parent: _StoredTweet) -> bool:
        """Whether `parent`'s author summoned the user: mentioned them in it, or quoted one
        of their posts. X prices a reply to such a post lower (caller holds the lock)."""
        if parent.full["author_id"] == user_id or user_id not in self._users:
            return False
        if self._users[user_id]["username"].lower() in parent.mentioned:
            return True
        quoted = _reference(parent.full, "quoted")
        quoted_tweet = self._tweets.get(int(quoted)) if quoted is not None else None
        return quoted_tweet is not None and quoted_tweet.full["author_id"] == user_id

    def _is_duplicate(self, user_id: str, text: str) -> bool:
        """Whether the user posted exactly `text` recently (caller holds the lock)."""
        since = datetime.now(UTC) - DUPLICATE_WINDOW
        return any(
            self._tweets[tweet_id].text == text
            and _parse_time(self._tweets[tweet_id].full["created_at"]) >= since
            for tweet_id in self._timelines.get(user_id, [])
        )

    def _delete_own_tweet(self, user_id: str, tweet_id: str) -> JsonDict:
        with self._lock:
            stored = self._tweets.get(int(tweet_id))
            if stored is None:
                raise _not_found_error("tweet", "id", tweet_id)
            if stored.full["author_id"] != user_id:
                raise ApiError(403, _problem(403))
            self._remove_tweet(int(tweet_id))
        return {"data": {"deleted": True}}

    def _retweet(self, user_id: str, body: bytes) -> JsonDict:
        tweet_id = _json_object(body).get("tweet_id")
        if not isinstance(tweet_id, str) or not _SNOWFLAKE.fullmatch(tweet_id):
            raise _invalid_request("tweet_id", json.dumps(tweet_id), "`tweet_id` must be a post id")
        with self._lock:
            stored = self._tweets.get(int(tweet_id))
            if stored is None:
                raise _not_found_error("tweet", "tweet_id", tweet_id)
            retweet = self._store_retweet(user_id, stored)
            return {"data": {"retweeted": True, "rest_id": retweet.full["id"]}}

    def _unretweet(self, user_id: str, tweet_id: str) -> JsonDict:
        with self._lock:
            retweet_id = self._retweets.get(int(tweet_id), {}).get(user_id)
            if retweet_id is not None:
                self._remove_tweet(retweet_id)
        return {"data": {"retweeted": False}}

    def _send_dm(self, sender_id: str, participant_id: str, body: bytes) -> JsonDict:
        request = _json_object(body)
        _reject_unknown_properties(request, frozenset({"text", "attachments"}))
        text = request.get("text")
        if not (isinstance(text, str) and text) and "attachments" not in request:
            raise _invalid_request(
                "text", json.dumps(text), "One of `text` or `attachments` is required"
            )
        with self._lock:
            if participant_id not in self._users:
                raise _not_found_error("user", "participant_id", participant_id)
            if participant_id in self._dms_closed:
                raise _forbidden(DMS_REFUSED)
            event = _DmEvent(
                id=str(self._next_dm_event_id),
                conversation_id=_conversation_id(sender_id, participant_id),
                sender_id=sender_id,
                recipient_id=participant_id,
                text=text or "",
                created_at=_iso(datetime.now(UTC)),
            )
            self._next_dm_event_id += _SNOWFLAKE_STEP
            self._dm_events.append(event)
            self._changed()
        return {"data": {"dm_conversation_id": event.conversation_id, "dm_event_id": event.id}}

    # --- media uploads ---

    def _handle_media(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Headers,
        body: bytes,
        principal: _Principal,
    ) -> JsonDict:
        user_id = self._require_user_context(principal)
        if path == "/2/media/upload" and method == "POST":
            return self._upload_one_shot(user_id, headers, body)
        if path == "/2/media/upload" and method == "GET":
            return self._upload_status(user_id, query)
        if path == "/2/media/upload/initialize" and method == "POST":
            return self._initialize_upload(user_id, body)
        match = re.fullmatch(r"/2/media/upload/([^/]+)/(append|finalize)", path)
        if match and method == "POST":
            media_id = _snowflake("id", match[1])
            if match[2] == "append":
                return self._append_upload(user_id, media_id, headers, body)
            return self._finalize_upload(user_id, media_id)
        raise ApiError(404, _problem(404))

    def _limit(self, kind: str) -> int:
        if kind == "video":
            return self.max_video_bytes
        return self.max_gif_bytes if kind == "animated_gif" else self.max_image_bytes

    def _upload_one_shot(self, user_id: str, headers: Headers, body: bytes) -> JsonDict:
        """``POST /2/media/upload``: an image in one request, usable at once. X documents
        this "simple" upload for images only: animated GIFs and videos need the chunked
        upload, whose processing X requires of them."""
        form = _form(headers, body, frozenset({"media", "media_category", "additional_owners"}))
        category = form.get("media_category", b"").decode("utf-8", "replace")
        kind = _media_kind(category)
        if kind != "photo":
            raise _invalid_request(
                "media_category",
                category,
                "`media_category` must be one of [tweet_image,dm_image]: animated GIFs and "
                "videos need the chunked upload",
            )
        data = form.get("media")
        if not data:
            raise _invalid_request("media", "", "`media` is required")
        self._check_image(kind, data)
        with self._lock:
            upload = _Upload(
                id=str(self._new_media_id()),
                key="",
                owner_id=user_id,
                kind=kind,
                total_bytes=len(data),
                segments={0: data},
                state="succeeded",
            )
            upload.key = self._add_media(kind, int(upload.id))
            self._uploads[upload.id] = upload
            return {"data": self._upload_json(upload)}

    def _check_image(self, kind: str, data: bytes) -> None:
        """X's 400 for an image or GIF it would not take: too big, or not an image at all."""
        if len(data) > self._limit(kind):
            raise _too_big(self._limit(kind))
        sniffed = _sniff_image(data)
        if sniffed is None or (kind == "animated_gif" and sniffed != "image/gif"):
            raise _invalid_request("media", "...", MEDIA_TYPE_UNRECOGNIZED)

    def _initialize_upload(self, user_id: str, body: bytes) -> JsonDict:
        """``POST /2/media/upload/initialize``: open a chunked upload of `total_bytes`."""
        request = _json_object(body)
        _reject_unknown_properties(
            request,
            frozenset(
                {"additional_owners", "media_category", "media_type", "shared", "total_bytes"}
            ),
        )
        media_type = request.get("media_type")
        if media_type not in UPLOAD_MEDIA_TYPES:
            raise _invalid_request(
                "media_type", json.dumps(media_type), "`media_type` is not a supported type"
            )
        category = request.get("media_category")
        kind = _media_kind(category) if isinstance(category, str) else None
        if kind is None:
            raise _invalid_request(
                "media_category", json.dumps(category), "`media_category` is not supported"
            )
        expected = {"video": "video/", "animated_gif": "image/gif", "photo": "image/"}[kind]
        if not media_type.startswith(expected):
            raise _invalid_request(
                "media_type",
                media_type,
                f"`media_type` {media_type} does not fit `media_category` {category}",
            )
        total = request.get("total_bytes")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise _invalid_request(
                "total_bytes", json.dumps(total), "`total_bytes` must be a whole number of bytes"
            )
        if total > self._limit(kind):
            raise _too_big(self._limit(kind))
        with self._lock:
            media_id = self._new_media_id()
            upload = _Upload(
                id=str(media_id),
                key=f"{_MEDIA_KEY_PREFIX[kind]}_{media_id}",
                owner_id=user_id,
                kind=kind,
                total_bytes=total,
                segments={},
                state="uploading",
            )
            self._uploads[upload.id] = upload
            return {
                "data": {
                    "id": upload.id,
                    "media_key": upload.key,
                    "expires_after_secs": MEDIA_EXPIRES_SECONDS,
                }
            }

    def _own_upload(self, user_id: str, media_id: str, parameter: str) -> _Upload:
        """The user's upload `media_id`, or X's 400 (caller holds the lock)."""
        upload = self._uploads.get(media_id)
        if upload is None or upload.owner_id != user_id:
            raise _invalid_request(
                parameter, media_id, f"The `{parameter}` value [{media_id}] is not a known upload"
            )
        return upload

    def _append_upload(
        self, user_id: str, media_id: str, headers: Headers, body: bytes
    ) -> JsonDict:
        """``POST /2/media/upload/{id}/append``: one segment (index 0-999) of the upload."""
        form = _form(headers, body, frozenset({"media", "segment_index"}))
        index = form.get("segment_index", b"").decode("utf-8", "replace")
        if not index.isdigit() or int(index) > 999:
            raise _invalid_request(
                "segment_index", index, "`segment_index` must be a whole number from 0 to 999"
            )
        if "media" not in form:
            raise _invalid_request("media", "", "`media` is required")
        with self._lock:
            upload = self._own_upload(user_id, media_id, "id")
            if upload.state != "uploading":
                raise _invalid_request("id", media_id, "The upload was finalized already")
            upload.segments[int(index)] = form["media"]
        return {"data": {"expires_at": int(time.time()) + MEDIA_EXPIRES_SECONDS}}

    def _finalize_upload(self, user_id: str, media_id: str) -> JsonDict:
        """``POST /2/media/upload/{id}/finalize``: images are ready at once, videos and
        animated GIFs start processing (see `video_polls` and `fail_processing`)."""
        with self._lock:
            upload = self._own_upload(user_id, media_id, "id")
            if upload.state != "uploading":
                raise _invalid_request("id", media_id, "The upload was finalized already")
            contiguous = sorted(upload.segments) == list(range(len(upload.segments)))
            if upload.size != upload.total_bytes or not contiguous:
                raise _invalid_request("id", media_id, SEGMENTS_MISMATCH)
            data = b"".join(upload.segments[index] for index in sorted(upload.segments))
            if upload.kind == "photo":
                self._check_image(upload.kind, data)
                upload.state = "succeeded"
                self._add_media(upload.kind, int(upload.id))
                return {"data": self._upload_json(upload)}
            # An MP4 or MOV starts with its ftyp box, a GIF with its signature; anything
            # else cannot be processed.
            playable = (
                data[4:8] == b"ftyp"
                if upload.kind == "video"
                else data.startswith((b"GIF87a", b"GIF89a"))
            )
            if self._processing_failures:
                upload.failure = self._processing_failures.popleft()
            elif not playable:
                upload.failure = PROCESSING_FAILED
            upload.state = "pending"
            if self.video_polls <= 0:
                self._finish_processing(upload)
            return {"data": self._upload_json(upload)}

    def _upload_status(self, user_id: str, query: Mapping[str, str]) -> JsonDict:
        """``GET /2/media/upload?command=STATUS``: each call moves processing on a step."""
        media_id = _snowflake("media_id", query.get("media_id", ""))
        if query.get("command", "STATUS") != "STATUS":
            raise _invalid_request(
                "command", query["command"], "The `command` query parameter must be STATUS"
            )
        with self._lock:
            upload = self._own_upload(user_id, media_id, "media_id")
            if upload.state in ("pending", "in_progress"):
                upload.polls += 1
                if upload.polls >= self.video_polls:
                    self._finish_processing(upload)
                else:
                    upload.state = "in_progress"
            return {"data": self._upload_json(upload)}

    def _finish_processing(self, upload: _Upload) -> None:
        """End a video's or GIF's processing as decided at finalize (caller holds the lock)."""
        upload.state = "failed" if upload.failure is not None else "succeeded"
        if upload.state == "succeeded":
            self._add_media(upload.kind, int(upload.id))

    def _upload_json(self, upload: _Upload) -> JsonDict:
        """An upload as finalize and STATUS describe it (caller holds the lock)."""
        data: JsonDict = {
            "id": upload.id,
            "media_key": upload.key,
            "size": upload.size,
            "expires_after_secs": MEDIA_EXPIRES_SECONDS,
        }
        if upload.kind != "photo" and upload.state != "uploading":
            info: JsonDict = {"state": upload.state}
            if upload.state in ("pending", "in_progress"):
                info["check_after_secs"] = self.check_after_secs
                info["progress_percent"] = upload.polls * 100 // max(self.video_polls, 1)
            else:
                info["progress_percent"] = 100
            if upload.state == "failed":
                info["error"] = copy.deepcopy(upload.failure)
            data["processing_info"] = info
        return data

    # --- rendering (callers hold the lock) ---

    @staticmethod
    def _render_user(user: JsonDict, selection: _Selection) -> JsonDict:
        return {
            key: value
            for key, value in user.items()
            if key in _DEFAULT_USER_FIELDS or key in selection.user_fields
        }

    @staticmethod
    def _render_tweet(tweet: _StoredTweet, selection: _Selection) -> JsonDict:
        rendered = {
            key: value
            for key, value in tweet.full.items()
            if key in _DEFAULT_TWEET_FIELDS or key in selection.tweet_fields
        }
        if selection.post_names:
            rendered = {TWEET_TO_POST_NAMES.get(k, k): v for k, v in rendered.items()}
        return rendered

    def _render_tweets(self, tweets: list[_StoredTweet], selection: _Selection) -> JsonDict:
        """``data`` for `tweets` plus the ``includes`` and ``errors`` their expansions call for."""
        expansions = selection.expansions
        users: dict[str, JsonDict] = {}
        referenced: dict[str, JsonDict] = {}
        media: dict[str, JsonDict] = {}
        errors: dict[tuple[str, str], JsonDict] = {}

        def include_user(user_id: str, parameter: str) -> None:
            if user_id in users:
                return
            user = self._users.get(user_id)
            if user is None:
                errors.setdefault((parameter, user_id), _not_found("user", parameter, user_id))
            else:
                users[user_id] = self._render_user(user, selection)

        def include_media(tweet: JsonDict) -> None:
            for key in tweet.get("attachments", {}).get("media_keys", []):
                media[key] = {
                    name: value
                    for name, value in self._media[key].items()
                    if name in _DEFAULT_MEDIA_FIELDS or name in selection.media_fields
                }

        for tweet in tweets:
            full = tweet.full
            if "author_id" in expansions:
                include_user(full["author_id"], "author_id")
            if "in_reply_to_user_id" in expansions and "in_reply_to_user_id" in full:
                include_user(full["in_reply_to_user_id"], "in_reply_to_user_id")
            if "entities.mentions.username" in expansions:
                for mention in full["entities"]["mentions"]:
                    if "id" in mention:
                        include_user(mention["id"], "entities.mentions.username")
            if "attachments.media_keys" in expansions:
                include_media(full)
            if not expansions & _REFERENCE_EXPANSIONS:
                continue
            for reference in full.get("referenced_tweets", []):
                target = self._tweets.get(int(reference["id"]))
                if target is None:
                    errors.setdefault(
                        ("referenced_tweets.id", reference["id"]),
                        _not_found("tweet", "referenced_tweets.id", reference["id"]),
                    )
                    continue
                if "referenced_tweets.id" in expansions:
                    referenced[reference["id"]] = self._render_tweet(target, selection)
                if "referenced_tweets.id.author_id" in expansions:
                    include_user(target.full["author_id"], "referenced_tweets.id.author_id")
                if "referenced_tweets.id.attachments.media_keys" in expansions:
                    include_media(target.full)

        response: JsonDict = {"data": [self._render_tweet(tweet, selection) for tweet in tweets]}
        posts_name = "posts" if selection.post_names else "tweets"
        includes = {
            name: list(objects.values())
            for name, objects in (("users", users), (posts_name, referenced), ("media", media))
            if objects
        }
        if includes:
            response["includes"] = includes
        if errors:
            response["errors"] = list(errors.values())
        return response

    # --- filtered stream ---

    def _open_stream(self, selection: _Selection) -> _StreamConnection:
        with self._lock:
            if self._stream is not None:
                raise ApiError(
                    429,
                    {
                        "title": "ConnectionException",
                        "detail": "This stream is currently at the maximum allowed connection "
                        "limit.",
                        "connection_issue": "TooManyConnections",
                        "type": PROBLEMS_BASE + "streaming-connection",
                    },
                )
            self._stream = _StreamConnection(selection)
            return self._stream

    def _close_stream(self, connection: _StreamConnection) -> None:
        with self._lock:
            if self._stream is connection:
                self._stream = None

    def _push_to_stream(self, tweet: _StoredTweet) -> None:
        """Send a new tweet to the open stream if rules match (caller holds the lock)."""
        if self._stream is None:
            return
        matching = [rule for rule in self._rules.values() if rule.matches(tweet)]
        if not matching:
            return
        rendered = self._render_tweets([tweet], self._stream.selection)
        line: JsonDict = {"data": rendered["data"][0]}
        for key in ("includes", "errors"):
            if key in rendered:
                line[key] = rendered[key]
        line["matching_rules"] = [
            {"id": rule.id, "tag": rule.tag} if rule.tag is not None else {"id": rule.id}
            for rule in matching
        ]
        self._stream.push(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
        self._bill_resources("app", line, owned=False)

    def _get_rules(self, query: Mapping[str, str]) -> JsonDict:
        wanted = set(filter(None, query.get("ids", "").split(",")))
        with self._lock:
            rules = [
                rule.as_json() for rule in self._rules.values() if not wanted or rule.id in wanted
            ]
        meta = {"sent": _iso(datetime.now(UTC)), "result_count": len(rules)}
        return {"data": rules, "meta": meta} if rules else {"meta": meta}

    def _update_rules(self, query: Mapping[str, str], body: bytes) -> JsonDict:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict) or len(request.keys() & {"add", "delete"}) != 1:
            raise ApiError(
                400,
                {
                    "errors": [{"message": "Exactly one of `add` or `delete` must be given."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": PROBLEMS_BASE + "invalid-request",
                },
            )
        dry_run = query.get("dry_run", "false").lower() == "true"
        if "add" in request:
            return self._add_rules(request["add"], dry_run=dry_run)
        return self._delete_rules(request["delete"], dry_run=dry_run)

    def _add_rules(self, additions: Any, *, dry_run: bool) -> JsonDict:
        if not isinstance(additions, list):
            raise ApiError(400, _problem(400, "`add` must be a list of rules"))
        created: list[_Rule] = []
        errors: list[JsonDict] = []
        invalid = 0
        with self._lock:
            taken = {rule.value: rule.id for rule in self._rules.values()}
            for addition in additions:
                value = addition.get("value") if isinstance(addition, dict) else None
                tag = addition.get("tag") if isinstance(addition, dict) else None
                try:
                    if not isinstance(value, str) or not (tag is None or isinstance(tag, str)):
                        raise ValueError("a rule needs a string `value` and an optional `tag`")
                    predicate = _RuleParser(value).compile()
                except ValueError as error:
                    invalid += 1
                    errors.append(
                        {
                            "value": str(value),
                            "details": [str(error)],
                            "title": "UnprocessableEntity",
                            "type": PROBLEMS_BASE + "invalid-rules",
                        }
                    )
                    continue
                if value in taken:
                    errors.append(
                        {
                            "value": value,
                            "id": taken[value],
                            "title": "DuplicateRule",
                            "type": PROBLEMS_BASE + "duplicate-rules",
                        }
                    )
                    continue
                if len(self._rules) + len(created) >= self.rule_cap:
                    errors.append(
                        {
                            "value": value,
                            "title": "RulesCapExceeded",
                            "detail": f"Rule cap of {self.rule_cap} reached for this app.",
                            "type": PROBLEMS_BASE + "rule-cap",
                        }
                    )
                    continue
                rule = _Rule(str(self._next_rule_id), value, tag, predicate)
                self._next_rule_id += _SNOWFLAKE_STEP
                taken[value] = rule.id
                created.append(rule)
            if not dry_run:
                self._rules.update((rule.id, rule) for rule in created)
        response: JsonDict = {}
        if created:
            response["data"] = [rule.as_json() for rule in created]
        response["meta"] = {
            "sent": _iso(datetime.now(UTC)),
            "summary": {
                "created": len(created),
                "not_created": len(additions) - len(created),
                "valid": len(additions) - invalid,
                "invalid": invalid,
            },
        }
        if errors:
            response["errors"] = errors
        return response

    def _delete_rules(self, deletion: Any, *, dry_run: bool) -> JsonDict:
        if not isinstance(deletion, dict):
            raise ApiError(400, _problem(400, "`delete` must name `ids` or `values`"))
        ids = [str(rule_id) for rule_id in deletion.get("ids", [])]
        values = [str(value) for value in deletion.get("values", [])]
        with self._lock:
            by_value = {rule.value: rule.id for rule in self._rules.values()}
            targets = ids + [by_value.get(value, value) for value in values]
            found = [rule_id for rule_id in targets if rule_id in self._rules]
            if not dry_run:
                for rule_id in found:
                    self._rules.pop(rule_id, None)
        missing = len(targets) - len(found)
        response: JsonDict = {
            "meta": {
                "sent": _iso(datetime.now(UTC)),
                "summary": {"deleted": len(found), "not_deleted": missing},
            }
        }
        if missing:
            response["errors"] = [
                {
                    "errors": [{"parameters": {}, "message": "Rule does not exist"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": PROBLEMS_BASE + "invalid-request",
                }
            ]
        return response

    # --- control endpoints (for running standalone) ---

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Answer a ``/_control/...`` request: (status, JSON payload)."""
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return 200, self._control_action(method, path, payload)
        except _UnknownControl:
            return 404, {"error": f"no control endpoint {method} {path}"}
        except KeyError as error:
            return 400, {"error": f"missing field {error}"}
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}

    def _control_action(self, method: str, path: str, payload: JsonDict) -> Any:
        action = (method, path.removeprefix("/_control/"))
        if action == ("POST", "users"):
            user = self.add_user(
                payload["username"],
                name=payload.get("name"),
                followers=int(payload.get("followers", 0)),
                verified=bool(payload.get("verified", False)),
                protected=bool(payload.get("protected", False)),
                accepts_dms=bool(payload.get("accepts_dms", True)),
            )
            consumer_key, consumer_secret, access_token, access_secret = self.issue_oauth1(
                user["id"]
            )
            return {
                "user": user,
                "access_token": self.issue_token(user["id"]),
                "oauth1": {
                    "consumer_key": consumer_key,
                    "consumer_secret": consumer_secret,
                    "access_token": access_token,
                    "access_token_secret": access_secret,
                },
            }
        if action == ("POST", "mentions"):
            with self._lock:
                author_exists = str(payload["author"]).lower() in self._user_ids
            if not author_exists:
                self.add_user(payload["author"])
            return self.post_mention(
                payload.get("to", []),
                author=payload["author"],
                text=payload.get("text"),
                note_text=payload.get("note_text"),
                reply_to=None if payload.get("reply_to") is None else str(payload["reply_to"]),
                media=payload.get("media", ()),
                lang=payload.get("lang", "en"),
                created_at=payload.get("created_at"),
                quote_of=None if payload.get("quote_of") is None else str(payload["quote_of"]),
            )
        if action == ("POST", "retweets"):
            return self.retweet(payload["username"], str(payload["tweet_id"]))
        if action == ("POST", "edits"):
            return self.edit_tweet(str(payload["tweet_id"]), payload["text"])
        if action == ("POST", "faults"):
            self.fail(
                payload["path_prefix"],
                int(payload["status"]),
                times=int(payload.get("times", 1)),
                retry_after=payload.get("retry_after"),
                reset_in=payload.get("reset_in"),
                method=payload.get("method"),
                body=payload.get("body"),
                every=int(payload.get("every", 1)),
            )
            return {"ok": True}
        if action == ("POST", "lose_answer"):
            self.lose_answer(
                payload["path_prefix"],
                method=payload.get("method", "POST"),
                times=int(payload.get("times", 1)),
            )
            return {"ok": True}
        if action == ("POST", "media"):
            with self._lock:
                for name in (
                    "video_polls",
                    "check_after_secs",
                    "max_image_bytes",
                    "max_gif_bytes",
                    "max_video_bytes",
                ):
                    if name in payload:
                        setattr(self, name, int(payload[name]))
            if payload.get("fail_processing"):
                self.fail_processing(
                    times=int(payload["fail_processing"]), error=payload.get("error")
                )
            return {"ok": True}
        if action == ("POST", "drop_streams"):
            self.drop_streams(int(payload.get("after_lines", 0)))
            return {"ok": True}
        if action == ("POST", "revoke"):
            self.revoke(payload["token"])
            return {"ok": True}
        if action == ("POST", "oauth/clients"):
            client_id, client_secret = self.register_client(
                payload["redirect_uris"], confidential=bool(payload.get("confidential", False))
            )
            return {"client_id": client_id, "client_secret": client_secret}
        if action == ("POST", "oauth/consent"):
            if payload.get("deny"):
                self.deny_consent(int(payload.get("times", 1)))
            else:
                self.consent_as(payload["username"])
            return {"ok": True}
        if action == ("GET", "calls"):
            return [
                {
                    "method": call.method,
                    "path": call.path,
                    "query": call.query,
                    "headers": dict(call.headers),
                    "body": call.body.decode("utf-8", "replace"),
                }
                for call in self.calls
            ]
        if action == ("GET", "state"):
            with self._lock:
                return {
                    "users": list(self._users.values()),
                    "tweets": len(self._tweets),
                    "mentions": {name: len(ids) for name, ids in self._mentions.items()},
                    "posts": {
                        self._users[user_id]["username"]: len(ids)
                        for user_id, ids in self._timelines.items()
                        if user_id in self._users and ids
                    },
                    "retweets": sum(len(users) for users in self._retweets.values()),
                    "dms": len(self._dm_events),
                    "uploads": len(self._uploads),
                    "rules": [rule.as_json() for rule in self._rules.values()],
                    "open_streams": 0 if self._stream is None else 1,
                    "calls": len(self._calls),
                }
        raise _UnknownControl(path)


# --- HTTP plumbing ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeX) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "FakeX/1.0"
    sys_version = ""
    # One buffered write per answer (flushed by handle_one_request) and no Nagle delay:
    # small header+body writes otherwise stall keep-alive clients on delayed ACKs.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeX:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        # Read the body before answering anything, or leftovers would corrupt the next
        # request on this keep-alive connection.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if fake.loopback_only and not is_loopback_host(self.headers.get("Host") or ""):
            self.close_connection = True
            self._send_json(403, {"title": "Forbidden", "detail": "Only this computer."})
            return
        if parts.path.startswith("/_control/"):
            self._send_json(*fake._control(self.command, parts.path, body))
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = Headers(self.headers.items())
        call = Call(self.command, parts.path, query, headers, body, parts.query)
        admission = fake._admit(call)
        answer_headers = admission.rate_headers
        try:
            if admission.fault is not None:
                raise admission.fault
            if self.command == "GET" and parts.path == AUTHORIZE_PATH:
                self._send_consent(*fake._consent(query))
                return
            if self.command == "GET" and parts.path == "/2/tweets/search/stream":
                if admission.delay:
                    fake._stopping.wait(admission.delay)
                if admission.lose_answer:
                    self._hang_up()
                else:
                    self._serve_stream(call, answer_headers)
                return
            status, payload = fake._handle_api(call)
            fake._bill(call, status, payload)
        except ApiError as error:
            status, payload = error.status, error.body
            answer_headers = {**answer_headers, **error.headers}
        except Exception as error:
            # A bug in the fake: answer like X's 500 instead of dropping the connection,
            # and log it so the failing test shows why.
            self.log_error("fake X failed on %s %s: %r", self.command, self.path, error)
            status, payload = 500, _problem(500, repr(error))
        if admission.delay:
            # X has carried the request out; only its answer is late.
            fake._stopping.wait(admission.delay)
        if admission.lose_answer:
            self._hang_up()
            return
        self._send_json(status, payload, answer_headers)

    def _hang_up(self) -> None:
        """End the connection without a byte of answer, as a network drop after the request
        reached X would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_consent(self, status: int, answer: str) -> None:
        """The consent page: a redirect back to the app, or a page saying what is wrong."""
        if status == 302:
            self.send_response(302)
            self.send_header("Location", answer)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if status == 200:
            body = self._choose_account(answer).encode()
        else:
            body = f"<!doctype html><title>X</title><p>{html.escape(answer)}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _choose_account(self, query: str) -> str:
        """X's consent page, as far as a sandbox needs it: which account authorizes the app."""
        links = "".join(
            f'<li><a href="{html.escape(f"{AUTHORIZE_PATH}?{query}&fake_user={quote(name)}")}">'
            f"Authorize as @{html.escape(name)}</a></li>"
            for name in self.fake.consent_choices
        )
        return (
            "<!doctype html><meta charset=utf-8><title>Authorize app · X (sandbox)</title>"
            f"<h1>An app wants to act as one of your accounts</h1><ul>{links}</ul>"
        )

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _serve_stream(self, call: Call, rate_headers: Mapping[str, str]) -> None:
        fake = self.fake
        fake._require_app(fake._authenticate(call))
        connection = fake._open_stream(_Selection.parse(call.query))
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in rate_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            self._pump(connection, fake.keepalive_seconds)
        finally:
            # Free the slot before the socket closes, so a prompt reconnect is not refused.
            fake._close_stream(connection)

    def _pump(self, connection: _StreamConnection, keepalive_seconds: float) -> None:
        """Write tweet lines and keep-alives until the stream ends or the client goes away.

        Returning without the terminating zero-length chunk is what makes an ended stream look
        like a dropped connection to the client.
        """
        next_keepalive = time.monotonic() + keepalive_seconds
        while True:
            wait = min(_PEER_CHECK_SECONDS, max(next_keepalive - time.monotonic(), 0.0))
            try:
                line = connection.next_line(wait)
            except _StreamEnded:
                return
            if line is None:
                if self._client_gone():
                    return
                if time.monotonic() < next_keepalive:
                    continue
                line = b""
            try:
                chunk = line + b"\r\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            except OSError:
                return
            next_keepalive = time.monotonic() + keepalive_seconds

    def _client_gone(self) -> bool:
        # A streaming client sends nothing after its request: readable means closed.
        readable, _, _ = select.select([self.connection], [], [], 0)
        return bool(readable)


# --- standalone ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake in the foreground with one brand user, printing how to configure Roost."""
    parser = argparse.ArgumentParser(description="Serve a fake X API v2 on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--user", default="brand", help="username of the brand account")
    parser.add_argument("--keepalive", type=float, default=20.0, help="stream keep-alive seconds")
    parser.add_argument(
        "--redirect-uri",
        default="http://localhost:3000/x/oauth/callback",
        help="the OAuth 2.0 callback URL of the app (ROOST_PUBLIC_URL + /x/oauth/callback)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    options = parser.parse_args(argv)

    fake = FakeX(
        host=options.host,
        port=options.port,
        keepalive_seconds=options.keepalive,
        log_requests=not options.quiet,
    ).start()
    try:
        brand = fake.add_user(options.user)
        consumer_key, consumer_secret, access_token, access_secret = fake.issue_oauth1(brand["id"])
        client_id, _ = fake.register_client(options.redirect_uri)
        fake.consent_as(brand["username"])
        example = json.dumps(
            {"to": brand["username"], "author": "alice", "text": f"@{brand['username']} hi!"}
        )
        print(
            f"Fake X API listening on {fake.url}\n"
            f"  brand user:            @{brand['username']} (id {brand['id']})\n"
            f"  OAuth 2.0 user token:  {fake.issue_token(brand['id'])}\n"
            f"  OAuth 1.0a:            consumer_key={consumer_key}\n"
            f"                         consumer_secret={consumer_secret}\n"
            f"                         access_token={access_token}\n"
            f"                         access_token_secret={access_secret}\n"
            f"  app bearer:            {fake.app_bearer}\n"
            f"  OAuth 2.0 client:      X_CLIENT_ID={client_id}\n"
            f"                         X_AUTHORIZE_URL={fake.url}{AUTHORIZE_PATH}\n"
            f"                         (consents as @{brand['username']}, back to "
            f"{options.redirect_uri})\n"
            f"Inject a mention:\n"
            f"  curl -s -X POST {fake.url}/_control/mentions "
            f"-H 'Content-Type: application/json' -d '{example}'\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
