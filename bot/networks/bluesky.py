"""The Bluesky adapter: one account, through the atproto SDK, as a `bot.networks.base.Network`.

The account signs in with an app password once (`connect`); from then on Roost keeps the
session string the SDK exports, and stores it again whenever the SDK refreshes it (`on_session`),
because a refresh rotates the refresh token and the old one soon stops answering. The SDK
refreshes an access token 15 minutes before its ``exp``; one the server ended early
(400 ExpiredToken) is refreshed here, once, and the call tried again.

Bluesky's ids are at:// URIs; its errors become Roost's kinds with a sentence a person can act
on. Writes (createRecord, deleteRecord, sendMessage) say whether they can have taken effect:
`Unavailable` only when the connection was never made, `OutcomeUnknown` when the request may
have reached Bluesky (a timeout, a dropped connection, a 5xx). Reads that fail that way are
`Unavailable`: nothing was changed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import httpx
from atproto import Client, models
from atproto_client.client.session import Session, SessionEvent
from atproto_client.exceptions import LoginRequiredError, RequestErrorBase
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_response_model
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from bot import clock
from bot.errors import (
    Forbidden,
    NetworkError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RecipientClosed,
    TokenRevoked,
    TooLong,
    Unavailable,
)
from bot.i18n import _
from bot.networks.base import (
    Attachment,
    Author,
    Capabilities,
    Found,
    Limits,
    Media,
    MentionPage,
    Post,
    Write,
)
from bot.networks.lengths import (
    BLUESKY_MAX_BYTES,
    BLUESKY_MAX_DM_GRAPHEMES,
    BLUESKY_MAX_GRAPHEMES,
    graphemes,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
"""Seconds for every call (5 to connect): the SDK's own default waits 5 for the answer, short
for an upload."""

MAX_GRAPHEMES = BLUESKY_MAX_GRAPHEMES
MAX_BYTES = BLUESKY_MAX_BYTES
MAX_DM_GRAPHEMES = BLUESKY_MAX_DM_GRAPHEMES

MENTION_REASONS = ["mention", "reply", "quote"]
"""The notifications that are posts asking the account for something."""

PAGE_SIZE = 100
"""The largest page listNotifications and listRecords serve."""

MENTION_PAGES = 500
"""Pages of notifications `mentions` reads back, at most, looking for its cursor (50,000
notifications). Bluesky serves them newest first only, so the cursor can move only once
everything after it is read: the bound is never met in practice (a minute's poll would
need 800 mentions a second), and is there so that a cursor Bluesky no longer serves does
not read forever; past it, what is older is left behind, and said in the log."""

OWN_PAGES = 3
"""Pages of the account's own records `find_sent` and `undo_repost` read, newest first."""

DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
"""How long to back off after a 429 that carries no ``ratelimit-reset``."""

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
APP_URL = "https://bsky.app"

_REVOKED = frozenset({"AuthenticationRequired", "InvalidToken", "ExpiredToken"})
_CLOSED = ("disabled incoming messages", "requires incoming messages")  # not spoken: Bluesky's
_RecordModel = models.AppBskyFeedPost.Record


def length(text: str) -> int:
    """`text`'s length as Bluesky counts it (bot.networks.lengths.graphemes)."""
    return graphemes(text)


def post_url(handle: str, ref: str) -> str:
    """Where a person opens the post at:// `ref` by `handle` on bsky.app."""
    return f"{APP_URL}/profile/{handle}/post/{ref.rsplit('/', 1)[-1]}"


class BlueskyNetwork:
    """One Bluesky account, as Roost acts through it (see `bot.networks.base.Network`)."""

    name = "bluesky"
    label = "Bluesky"  # not spoken: a name, the same in every language
    capabilities = Capabilities(dm=True, repost=True, media=4, dm_word="DM")

    def __init__(
        self,
        service_url: str,
        *,
        session: str | None = None,
        handle: str | None = None,
        app_password: str | None = None,
        on_session: Callable[[str], None] | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        """An adapter for the account whose saved `session` string (or `handle` and
        `app_password`) it signs in with, on first use. `on_session` receives the session
        string each time the SDK makes or refreshes it: Roost stores it in its place."""
        if session is None and not (handle and app_password):
            raise ValueError(
                "a session string, or a handle and an app password, is required"
            )  # not spoken
        self._service_url = service_url
        self._saved = session
        self._handle = handle
        self._password = app_password
        self._on_session = on_session
        self._client = Client(base_url=service_url, request=Request(timeout=timeout))
        self._client.on_session_change(self._session_changed)
        self._chat: Client | None = None
        self._signed_in = False
        self._own: Author | None = None
        self._lock = threading.Lock()

    # --- session ---

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH) and self._on_session is not None:
            self._on_session(session.export())

    @property
    def session_string(self) -> str:
        """The session as the SDK exports it (signing in first if need be): what to store."""
        self._sign_in()
        return self._client.export_session_string()

    def _sign_in(self) -> None:
        with self._lock:
            if self._signed_in:
                return
            try:
                if self._saved is not None:
                    self._client.login(session_string=self._saved, fetch_bsky_profile=False)
                else:
                    self._client.login(self._handle, self._password, fetch_bsky_profile=False)
            except (AtProtocolError, httpx.HTTPError, ValueError) as error:
                raise _translated(error, write=False) from error
            self._signed_in = True

    def _refresh(self) -> None:
        """A new access token for one the server called expired; the app password again when
        Roost holds it and the refresh token is refused too."""
        with self._lock:
            try:
                self._client._refresh_and_set_session()  # the SDK's own refresh (0.0.73)
                return
            except (AtProtocolError, httpx.HTTPError) as error:
                refused = _translated(error, write=False)
                if not isinstance(refused, TokenRevoked) or self._password is None:
                    raise refused from error
            try:
                self._client.login(self._handle, self._password, fetch_bsky_profile=False)
            except (AtProtocolError, httpx.HTTPError) as error:
                raise _translated(error, write=False) from error

    def _call(self, action: Callable[[], T], *, write: bool = False) -> T:
        """`action()` with Bluesky's failures made Roost's; an expired access token is
        refreshed once and the call tried again (the server refused it before acting)."""
        self._sign_in()
        try:
            return action()
        except (AtProtocolError, httpx.HTTPError) as error:
            if _error_name(error) != "ExpiredToken":
                raise _translated(error, write=write) from error
        self._refresh()
        try:
            return action()
        except (AtProtocolError, httpx.HTTPError) as error:
            raise _translated(error, write=write) from error

    def _chat_client(self) -> Client:
        """The client that reaches the chat service through the PDS (atproto-proxy); it
        shares the session, refreshes included."""
        if self._chat is None:
            self._chat = self._client.with_bsky_chat_proxy()
        return self._chat

    def close(self) -> None:
        """Close the connections the SDK's HTTP clients hold."""
        if self._chat is not None:
            self._chat.request.close()
        self._client.request.close()

    # --- the Network protocol ---

    def me(self) -> Author:
        """The account this adapter acts as (checks the session)."""
        if self._own is None:
            session = self._call(lambda: self._client.com.atproto.server.get_session())
            profile = self._call(lambda: self._client.get_profile(session.did))
            self._own = Author(ref=profile.did, handle=profile.handle, name=profile.display_name)
        return self._own

    def limits(self) -> Limits:
        return Limits(max_length=MAX_GRAPHEMES, unit="graphemes", extra={"bytes": MAX_BYTES})

    def length(self, text: str) -> int:
        return length(text)

    def mentions(
        self,
        cursor: str | None,
        *,
        since: datetime | None = None,
        before_page: Callable[[], None] = lambda: None,
    ) -> MentionPage:
        """Mentions, replies and quotes of the account newer than `cursor` (the newest
        notification read: its indexedAt and URI), oldest first. With no cursor, those
        indexed since `since`; with neither, the newest page."""
        after = _parse_cursor(cursor)
        if after is None and since is not None:
            after = (since, "")  # before every notification indexed at `since` itself
        read: list[Any] = []
        page_cursor: str | None = None
        for _page in range(MENTION_PAGES):
            before_page()
            params = models.AppBskyNotificationListNotifications.Params(
                reasons=MENTION_REASONS, limit=PAGE_SIZE, cursor=page_cursor
            )
            page = self._call(
                partial(self._client.app.bsky.notification.list_notifications, params)
            )
            reached = False
            for notification in page.notifications:
                if after is not None and _key(notification) <= after:
                    reached = True
                    break
                read.append(notification)
            if after is None or reached or not page.cursor:
                break
            page_cursor = page.cursor
        else:
            logger.error(
                "Bluesky mentions: %d pages read without reaching the cursor; older ones are "
                "left behind",
                MENTION_PAGES,
            )
        newest = _cursor_of(read[0]) if read else cursor
        own = self.me()
        posts: list[Post] = []
        seen: set[str] = set()
        for notification in reversed(read):
            if notification.uri in seen or notification.reason not in MENTION_REASONS:
                continue
            seen.add(notification.uri)
            if notification.author.did == own.ref or not isinstance(
                notification.record, _RecordModel
            ):
                continue
            author = Author(
                notification.author.did,
                notification.author.handle,
                notification.author.display_name,
            )
            post = _post(
                notification.uri,
                author,
                notification.record,
                _media_of_record(author.ref, notification.record),
            )
            posts.append(_with_summons(post, notification.reason, notification.record, own.ref))
        return MentionPage(posts=posts, cursor=newest)

    def after(self, position: str, other: str) -> bool:
        mine, theirs = _parse_cursor(position), _parse_cursor(other)
        return mine is not None and (theirs is None or mine > theirs)

    def lookup(self, ref: str) -> Post:
        view = self._view(ref)
        author = Author(view.author.did, view.author.handle, view.author.display_name)
        return _post(view.uri, author, view.record, _media_of_view(view.embed))

    def upload(self, attachment: Attachment) -> str:
        """Put an image up as a blob; the blob's reference and the image's alt text, as the
        post's images embed will name it (JSON)."""
        if not attachment.mime.startswith("image/"):
            raise Forbidden(
                _("Bluesky takes images only: post the {mime} file to X alone.").format(
                    mime=attachment.mime
                )
            )
        # As raw `content`: the SDK's upload_blob hands httpx `data=bytes`, deprecated there.
        upload = partial(
            self._client.invoke_procedure,
            "com.atproto.repo.uploadBlob",
            content=attachment.data,
            headers={"Content-Type": attachment.mime},
            output_encoding="application/json",
        )
        uploaded = get_response_model(self._call(upload), models.ComAtprotoRepoUploadBlob.Response)
        return json.dumps({"blob": uploaded.blob.model_dump(by_alias=True), "alt": attachment.alt})

    def post(self, text: str, *, media: Sequence[str] = (), key: str | None = None) -> Post:
        """A new post (Bluesky takes no idempotency key: `key` is ignored)."""
        return self._create(text, media=media)

    def reply(
        self,
        parent_ref: str,
        text: str,
        *,
        media: Sequence[str] = (),
        key: str | None = None,
        summoned: bool = True,
    ) -> Post:
        """The account's answer to `parent_ref`, in its thread (its root, as the parent's own
        reply reference says) and in its languages."""
        _check_length(text)
        parent = self._view(parent_ref)
        parent_strong = models.ComAtprotoRepoStrongRef.Main(uri=parent.uri, cid=parent.cid)
        record = parent.record
        root = (
            record.reply.root
            if isinstance(record, _RecordModel) and record.reply
            else parent_strong
        )
        langs = record.langs if isinstance(record, _RecordModel) else None
        reply = models.AppBskyFeedPost.ReplyRef(
            root=models.ComAtprotoRepoStrongRef.Main(uri=root.uri, cid=root.cid),
            parent=parent_strong,
        )
        return self._create(text, media=media, reply=reply, langs=langs)

    def dm(self, to: Author, text: str, *, key: str | None = None) -> str:
        """A chat message to `to` through Bluesky's chat service; the message's id."""
        if length(text) > MAX_DM_GRAPHEMES:
            raise TooLong(
                _("Bluesky takes direct messages of up to {limit} characters: shorten it.").format(
                    limit=MAX_DM_GRAPHEMES
                )
            )
        chat = self._chat_client()
        did = to.ref if to.ref.startswith("did:") else self._resolve(to.handle)
        convo = self._call(
            lambda: chat.chat.bsky.convo.get_convo_for_members(
                models.ChatBskyConvoGetConvoForMembers.Params(members=[did])
            )
        ).convo
        facets = self._call(lambda: self._client.detect_facets(text))
        message = models.ChatBskyConvoDefs.MessageInput(text=text, facets=facets or None)
        sent = self._call(
            lambda: chat.chat.bsky.convo.send_message(
                models.ChatBskyConvoSendMessage.Data(convo_id=convo.id, message=message)
            ),
            write=True,
        )
        return sent.id

    def find_sent(self, write: Write, *, since: datetime, exclude: frozenset[str]) -> Found:
        """A lost post or reply: the account's newest post with its text made since `since`
        (answering `write.parent_ref` when given), read from its repository. Bluesky has
        no record of a chat message or a repost that could tell them from an earlier one."""
        if write.kind not in ("reply", "post"):
            return Found(None)
        own = self.me()
        for record in self._own_records(POST):
            value = record.value
            if not isinstance(value, _RecordModel):
                continue
            if _created_at(value) < since - timedelta(milliseconds=1):  # records keep milliseconds
                break
            parent = value.reply.parent.uri if value.reply else None
            mine = record.uri not in exclude
            if mine and value.text == write.text and parent == write.parent_ref:
                return Found(True, record.uri, post_url(own.handle, record.uri))
        return Found(False)

    def repost(self, ref: str) -> str | None:
        """The account reposts `ref` (once: an existing repost of it is answered again)."""
        view = self._view(ref)
        if view.viewer is not None and view.viewer.repost:
            return view.viewer.repost
        record = models.AppBskyFeedRepost.Record(
            subject=models.ComAtprotoRepoStrongRef.Main(uri=view.uri, cid=view.cid),
            created_at=_iso(clock.now()),
        )
        own = self.me().ref
        created = self._call(
            lambda: self._client.app.bsky.feed.repost.create(own, record), write=True
        )
        return created.uri

    def undo_repost(self, ref: str) -> None:
        """Deletes the account's repost of `ref`, found through the post's viewer state, or in
        the account's own reposts when the post itself is gone."""
        try:
            view = self._view(ref)
            repost_uri = view.viewer.repost if view.viewer is not None else None
        except NotFound:
            repost_uri = next(
                (
                    record.uri
                    for record in self._own_records(REPOST)
                    if getattr(record.value, "subject", None) is not None
                    and record.value.subject.uri == ref
                ),
                None,
            )
        if not repost_uri:
            return
        own = self.me().ref
        rkey = repost_uri.rsplit("/", 1)[-1]
        self._call(
            lambda: self._client.com.atproto.repo.delete_record(
                models.ComAtprotoRepoDeleteRecord.Data(repo=own, collection=REPOST, rkey=rkey)
            ),
            write=True,
        )

    def post_url(self, handle: str, ref: str) -> str:
        return post_url(handle, ref)

    # --- helpers ---

    def _view(self, ref: str) -> Any:
        """The post view of `ref` (`NotFound` when the AppView has none)."""
        if not ref.startswith("at://"):
            raise NotFound(_("This is not a Bluesky post address: {ref}").format(ref=ref))
        posts = self._call(lambda: self._client.get_posts([ref])).posts
        if not posts:
            raise NotFound(_("The post is no longer on Bluesky."))
        return posts[0]

    def _resolve(self, handle: str) -> str:
        return self._call(lambda: self._client.resolve_handle(handle.lstrip("@"))).did

    def _own_records(self, collection: str) -> list[Any]:
        """The account's records in `collection`, newest first, up to OWN_PAGES pages."""
        own = self.me().ref
        records: list[Any] = []
        cursor: str | None = None
        for _page in range(OWN_PAGES):
            params = models.ComAtprotoRepoListRecords.Params(
                repo=own, collection=collection, limit=PAGE_SIZE, cursor=cursor
            )
            page = self._call(partial(self._client.com.atproto.repo.list_records, params))
            records.extend(page.records)
            if not page.cursor:
                break
            cursor = page.cursor
        return records

    def _create(
        self,
        text: str,
        *,
        media: Sequence[str],
        reply: models.AppBskyFeedPost.ReplyRef | None = None,
        langs: list[str] | None = None,
    ) -> Post:
        _check_length(text)
        own = self.me()
        facets = self._call(lambda: self._client.detect_facets(text))
        embed = self._images(media)
        now = clock.now()
        created_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the record says
        record = models.AppBskyFeedPost.Record(
            text=text,
            created_at=_iso(created_at),
            facets=facets or None,
            reply=reply,
            embed=embed,
            langs=langs or None,
        )
        created = self._call(
            lambda: self._client.app.bsky.feed.post.create(own.ref, record), write=True
        )
        return Post(
            ref=created.uri,
            author=own,
            text=text,
            created_at=created_at,
            url=post_url(own.handle, created.uri),
            root_ref=reply.root.uri if reply else None,
            parent_ref=reply.parent.uri if reply else None,
            lang=langs[0] if langs else None,
            summons=False,
        )

    def _images(self, media: Sequence[str]) -> models.AppBskyEmbedImages.Main | None:
        """The images embed naming the blobs `upload` put up."""
        if not media:
            return None
        if len(media) > self.capabilities.media:
            raise Forbidden(
                _("Bluesky takes at most {n} images a post: remove some.").format(
                    n=self.capabilities.media
                )
            )
        images = []
        for uploaded in map(json.loads, media):
            blob = models.blob_ref.BlobRef.model_validate(uploaded["blob"])
            images.append(models.AppBskyEmbedImages.Image(alt=uploaded["alt"], image=blob))
        return models.AppBskyEmbedImages.Main(images=images)


def connect(
    service_url: str,
    handle: str,
    app_password: str,
    *,
    on_session: Callable[[str], None] | None = None,
) -> tuple[BlueskyNetwork, str]:
    """Sign in with an app password: the adapter and the session string to store (the app
    password itself need not be kept)."""
    network = BlueskyNetwork(
        service_url, handle=handle, app_password=app_password, on_session=on_session
    )
    try:
        network.me()
    except NetworkError:
        network.close()
        raise
    return network, network.session_string


# --- errors -----------------------------------------------------------------------------------


def _error_name(error: BaseException) -> str | None:
    """The XRPC error name (``ExpiredToken``, ``RateLimitExceeded``...) an answer carried."""
    if isinstance(error, RequestErrorBase) and error.response is not None:
        content = error.response.content
        if isinstance(content, XrpcError):
            return content.error
    return None


def _error_message(error: BaseException) -> str:
    if isinstance(error, RequestErrorBase) and error.response is not None:
        content = error.response.content
        if isinstance(content, XrpcError):
            return content.message or content.error
    return ""


def _translated(error: BaseException, *, write: bool) -> NetworkError:
    """Roost's error for a failure of the SDK or of its HTTP client."""
    if isinstance(error, LoginRequiredError | ValueError):
        return TokenRevoked(
            _("Bluesky refused the session: reconnect the account with a new app password.")
        )
    response = error.response if isinstance(error, RequestErrorBase) else None
    if response is None:
        cause = error.__cause__ if isinstance(error, RequestErrorBase) else error
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return Unavailable(_("Bluesky could not be reached: try again in a few minutes."))
        if write:
            return OutcomeUnknown(
                _(
                    "Bluesky did not answer, so it may or may not have gone through: "
                    "check the account before trying again."
                )
            )
        return Unavailable(_("Bluesky did not answer: try again in a few minutes."))
    status = response.status_code
    name, message = _error_name(error), _error_message(error)
    if status == 429:
        reset_at = _reset_at(response.headers)
        return RateLimited(
            _("Bluesky is limiting this account's calls: Roost tries again when the limit resets."),
            reset_at,
            window=_window(response.headers.get("ratelimit-policy")),
        )
    if name in ("AccountTakedown", "AccountDeactivated"):
        return Forbidden(
            _("Bluesky has suspended or deactivated this account: see its settings on bsky.app.")
        )
    if status == 401 or name in _REVOKED:
        return TokenRevoked(
            _("Bluesky refused the session: reconnect the account with a new app password.")
        )
    gone = message.startswith("Could not locate record")  # not spoken: Bluesky's words
    if name in ("RecordNotFound", "NotFound") or gone:
        return NotFound(_("The post is no longer on Bluesky."))
    if any(words in message for words in _CLOSED):
        return RecipientClosed(
            _(
                "This person does not take direct messages from the brand on Bluesky: "
                "reply in public instead."
            )
        )
    too_long = "text must not be longer" in message  # not spoken: Bluesky's words
    if status == 400 and too_long:
        return TooLong(_("Bluesky refused the post as too long: shorten it to 300 characters."))
    if status == 413:
        return Forbidden(_("Bluesky refused an image as too large: attach one under 1 MB."))
    if status == 403:
        return Forbidden(_("Bluesky refused this for the account: {reason}").format(reason=message))
    if status >= 500:
        if write:
            return OutcomeUnknown(
                _(
                    "Bluesky failed partway, so it may or may not have gone through: "
                    "check the account before trying again."
                )
            )
        return Unavailable(_("Bluesky is having trouble: try again in a few minutes."))
    return NetworkError(_("Bluesky refused the request: {reason}").format(reason=message or status))


def _reset_at(headers: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(headers["ratelimit-reset"]), UTC)
    except (KeyError, ValueError):
        return clock.now() + DEFAULT_RATE_LIMIT_WAIT


def _window(policy: str | None) -> str:
    """The limit's window as Roost names it, from ``ratelimit-policy`` (``5000;w=3600``)."""
    seconds = 0
    for part in (policy or "").split(";")[1:]:
        key, _sep, value = part.partition("=")
        if key.strip() == "w" and value.strip().isdigit():
            seconds = int(value)
    if seconds >= 86400:
        return "daily"
    if seconds >= 3600:
        return "hourly"
    if seconds:
        return f"{max(seconds // 60, 1)}-minute"
    return "5-minute"


def _check_length(text: str) -> None:
    if length(text) > MAX_GRAPHEMES:
        raise TooLong(
            _("The text is {length} characters long and Bluesky takes {limit}: shorten it.").format(
                length=length(text), limit=MAX_GRAPHEMES
            )
        )
    if len(text.encode()) > MAX_BYTES:
        raise TooLong(_("The text is longer than Bluesky takes (3,000 bytes): shorten it."))


# --- posts ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _created_at(record: Any) -> datetime:
    try:
        return _parse_time(record.created_at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _key(notification: Any) -> tuple[datetime, str]:
    return _parse_time(notification.indexed_at), notification.uri


def _cursor_of(notification: Any) -> str:
    return f"{notification.indexed_at} {notification.uri}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    indexed_at, _sep, uri = cursor.partition(" ")
    try:
        return _parse_time(indexed_at), uri
    except ValueError:
        logger.warning("Bluesky mentions: unreadable cursor %r, reading the newest page", cursor)
        return None


def _post(uri: str, author: Author, record: Any, media: tuple[Media, ...]) -> Post:
    reply = record.reply if isinstance(record, _RecordModel) else None
    langs = record.langs if isinstance(record, _RecordModel) else None
    return Post(
        ref=uri,
        author=author,
        text=record.text,
        created_at=_created_at(record),
        url=post_url(author.handle, uri),
        root_ref=reply.root.uri if reply else None,
        parent_ref=reply.parent.uri if reply else None,
        lang=langs[0] if langs else None,
        media=media,
    )


def _with_summons(post: Post, reason: str, record: Any, own_did: str) -> Post:
    """Whether the post names the account: a mention, a quote of its post, or an answer to its
    own post (a reply further down a thread it is in does not)."""
    mentioned = any(
        getattr(feature, "did", None) == own_did
        for facet in record.facets or []
        for feature in facet.features
    )
    answers = post.parent_ref is not None and post.parent_ref.startswith(f"at://{own_did}/")
    summons = mentioned or reason in ("mention", "quote") or answers
    if summons == post.summons:
        return post
    return replace(post, summons=summons)


def _media_of_record(did: str, record: Any) -> tuple[Media, ...]:
    """The images a post record embeds, at the CDN addresses the AppView serves them from."""
    embed = getattr(record, "embed", None)
    images = getattr(getattr(embed, "media", embed), "images", None) or []
    found = []
    for image in images:
        blob = getattr(image, "image", None)
        if blob is None:
            continue
        url = f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{str(blob.cid)}@jpeg"
        found.append(Media(kind="photo", url=url, alt=image.alt or None))
    return tuple(found)


def _media_of_view(embed: Any) -> tuple[Media, ...]:
    images = getattr(getattr(embed, "media", embed), "images", None) or []
    return tuple(
        Media(kind="photo", url=image.fullsize, alt=image.alt or None)
        for image in images
        if getattr(image, "fullsize", None)
    )
