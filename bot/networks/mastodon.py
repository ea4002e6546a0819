"""The Mastodon adapter: one account on one instance, acted through Mastodon.py, with
Mastodon's errors made Roost's.

Mastodon.py is built with no version check (building it touches nothing, and Roost needs
none of its endpoint gating), `ratelimit_method="throw"` (Roost decides when to call again,
from the instance's X-RateLimit-Reset, instead of Mastodon.py sleeping in a worker) and a
request timeout (its own is five minutes). A response hook on its session keeps each
thread's last answer's headers: Mastodon.py raises a 429 without them.

Writes carry Roost's key as Mastodon's Idempotency-Key, so the instance answers a repeat
within the hour with the status the first try made. Their errors still say whether the call
can have taken effect: `Unavailable` only when it never reached the instance,
`OutcomeUnknown` when it may have.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)
from urllib3.exceptions import MaxRetryError, NewConnectionError

from bot import clock
from bot.errors import (
    Forbidden,
    NetworkError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    TokenRevoked,
    TooLong,
    Unavailable,
)
from bot.i18n import N_, _
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
    MASTODON_MAX_CHARACTERS,
    MASTODON_MENTION,
    MASTODON_URL_LENGTH,
    status_length,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for every call; Mastodon.py's own default is 300."""

INSTANCE_TTL = timedelta(hours=1)
"""How long an instance's limits are kept before they are read again: an admin may change
them, rarely."""

MAX_CHARACTERS = MASTODON_MAX_CHARACTERS


URL_LENGTH = MASTODON_URL_LENGTH

MAX_MEDIA = 4
"""Attachments a status may carry, for an instance that does not say."""

MENTIONS_PAGE_SIZE = 80
"""The most notifications Mastodon serves on a page."""

MENTIONS_PAGES = 10
"""Pages `mentions` reads at most in one go; the cursor picks up where it stopped."""

OWN_POSTS_PAGE_SIZE = 40
"""The most statuses Mastodon serves on a page of an account's statuses."""

OWN_POSTS_PAGES = 5
"""Pages of the account's own statuses `find_sent` reads at most: in a burst of sends, the
one looked for can be a hundred statuses back."""

DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=5)
"""How long to back off after a 429 that carries no usable reset: Mastodon's API window."""

MEDIA_PROCESSING_WAIT = 60.0
"""Seconds an upload may take to be processed (a GIF made a video) before it is given up."""

MEDIA_POLL_SECONDS = 0.5
"""Seconds between looks at an upload still being processed."""

DM_WORD = N_("direct message")
"""What Mastodon calls a private message: a status with direct visibility."""

_MEDIA_KINDS = {"image": "photo", "gifv": "animated_gif", "video": "video"}
"""Mastodon's attachment types as Roost's `Media.kind`; audio and unknown ones are left out."""

_MENTION = MASTODON_MENTION
_SPACE = re.compile(r"\s+")
_LEADING_MENTIONS = re.compile(r"^(?:@\S+\s+)+")
_BLOCKS = frozenset({"p", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True)
class _Instance:
    """What Roost reads of an instance's configuration."""

    max_characters: int
    max_media: int
    read_at: datetime


_instances: dict[str, _Instance] = {}  # instance URL -> what was read of it
_instances_lock = threading.Lock()


def forget_instances() -> None:
    """Forget every instance's limits, to read them again at the next use (tests, whose
    fake instances may come back on a port an earlier one had)."""
    with _instances_lock:
        _instances.clear()


def plain_text(content: str) -> str:
    """A status's HTML as a person reads it: paragraphs and line breaks kept, links as
    their text (the whole URL, hidden parts too), entities unescaped."""
    parser = _PlainText()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n")
        elif tag in _BLOCKS and "".join(self.parts).strip():
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


class MastodonNetwork:
    """One Mastodon account on its instance, as Roost acts through it (`Network`)."""

    name = "mastodon"
    label = "Mastodon"  # not spoken: a name, the same in every language

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        """An adapter for the account `access_token` belongs to on `instance_url`; nothing
        is called until it is used (`connect` checks the token)."""
        if "://" not in instance_url:
            instance_url = "https://" + instance_url
        self.instance_url = instance_url.rstrip("/")
        self.capabilities = Capabilities(
            dm=True, media=MAX_MEDIA, dm_word=DM_WORD, keyed_writes=True
        )
        self._answers = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._keep_headers)
        self._session = session
        self._api = Mastodon(
            api_base_url=self.instance_url,
            access_token=access_token,
            ratelimit_method="throw",
            # Typed as a float, handed to requests as is: (connect, read) works.
            request_timeout=cast(float, timeout),
            version_check_mode="none",
            session=session,
        )
        self._account: Author | None = None
        self._versioned = False

    def __repr__(self) -> str:
        return f"MastodonNetwork({self.instance_url!r})"

    def close(self) -> None:
        """Close the connections the adapter's HTTP session holds."""
        self._session.close()

    # --- the account and its instance ---

    def me(self) -> Author:
        """The account the token acts as (`TokenRevoked` when the instance refuses it); its
        handle carries the instance's domain (brand@mastodon.social)."""
        with self._errors(_("checking the account")):
            account: Any = self._api.account_verify_credentials()
        handle = str(account.acct)
        if "@" not in handle:
            handle = f"{handle}@{self._domain}"
        self._account = Author(
            ref=str(account.id), handle=handle, name=account.display_name or None
        )
        return self._account

    def limits(self) -> Limits:
        """The instance's own limit on a status (`max_characters`), read once an hour per
        instance."""
        instance = self._instance()
        return Limits(
            max_length=instance.max_characters,
            unit="characters",
            extra={"characters_reserved_per_url": URL_LENGTH, "max_media": instance.max_media},
        )

    def length(self, text: str) -> int:
        """`text`'s length as Mastodon counts it (see `status_length`)."""
        return status_length(text)

    def post_url(self, handle: str, ref: str) -> str:
        """The status `ref` by `handle` on this instance, where a person signed in to it can
        answer or boost it."""
        local = handle.removeprefix("@").removesuffix("@" + self._domain)
        return f"{self.instance_url}/@{local}/{ref}"

    # --- reading ---

    def mentions(
        self,
        cursor: str | None,
        *,
        since: datetime | None = None,
        before_page: Callable[[], None] = lambda: None,
    ) -> MentionPage:
        """Statuses that mention the account, from its mention notifications, oldest first:
        those after `cursor` (a notification id), a few pages at most. With no cursor, those
        made since `since`, as far back as the same few pages; with neither, the newest
        page. The cursor it gives back is the newest notification read."""
        notifications: list[Any] = []
        more = False
        with self._errors(_("reading mentions")):
            if cursor is None:
                max_id = None
                for _page in range(MENTIONS_PAGES):
                    before_page()
                    page: Any = self._api.notifications(
                        types=["mention"], max_id=max_id, limit=MENTIONS_PAGE_SIZE
                    )
                    kept = [n for n in page if since is None or _aware(n.created_at) >= since]
                    notifications = list(reversed(kept)) + notifications
                    if since is None or len(kept) < len(page) or len(page) < MENTIONS_PAGE_SIZE:
                        break
                    max_id = page[-1].id
            else:
                newest = cursor
                for _page in range(MENTIONS_PAGES):
                    before_page()
                    # min_id: the page right after the cursor, so none is skipped.
                    page = self._api.notifications(
                        types=["mention"], min_id=newest, limit=MENTIONS_PAGE_SIZE
                    )
                    if not page:
                        break
                    notifications += reversed(page)
                    newest = str(page[0].id)
                    if len(page) < MENTIONS_PAGE_SIZE:
                        break
                else:
                    more = True  # read on from the new cursor at once
        posts, seen = [], set()
        for notification in notifications:
            status = notification.status
            if notification.type != "mention" or status is None or str(status.id) in seen:
                continue
            seen.add(str(status.id))
            posts.append(self._post(status))
        newest_id = str(notifications[-1].id) if notifications else cursor
        return MentionPage(posts=posts, cursor=newest_id, more=more)

    def after(self, position: str, other: str) -> bool:
        # Mastodon's ids rise with time: numbers as strings, which "may not be numbers".
        return (len(position), position) > (len(other), other)

    def lookup(self, ref: str) -> Post:
        """One status by its id, with the first status of its thread when it answers one
        (`NotFound` when it is gone or not visible to the account)."""
        doing = _("looking up the post")
        with self._errors(doing):
            status: Any = self._api.status(ref)
            root = None
            if status.in_reply_to_id is not None:
                ancestors = self._api.status_context(ref).ancestors
                root = str(ancestors[0].id) if ancestors else None
        me = self._account or self.me()
        summons = any(str(mention.id) == me.ref for mention in status.mentions)
        return self._post(status, root_ref=root, summons=summons)

    def find_sent(self, write: Write, *, since: datetime, exclude: frozenset[str]) -> Found:
        """A lost post or reply: the account's own status with its text made since `since`
        (answering `write.parent_ref`, or nothing when that is None). Texts are compared as
        Mastodon shows them: mentions by their local part, spacing aside, the mentions a
        reply starts with aside. A direct message or a boost is not looked for."""
        if write.kind not in ("reply", "post"):
            return Found(None)
        me = self._account or self.me()
        wanted = _comparable(write.text)
        max_id = None
        with self._errors(_("reading the account's recent posts")):
            for _page in range(OWN_POSTS_PAGES):
                page: Any = self._api.account_statuses(
                    me.ref,
                    since_id=since,
                    max_id=max_id,
                    exclude_reblogs=True,
                    limit=OWN_POSTS_PAGE_SIZE,
                )
                for status in page:
                    answers = None if status.in_reply_to_id is None else str(status.in_reply_to_id)
                    if (
                        answers == write.parent_ref
                        and _comparable(plain_text(status.content)) == wanted
                        and str(status.id) not in exclude
                    ):
                        return Found(True, str(status.id), str(status.url or status.uri))
                if len(page) < OWN_POSTS_PAGE_SIZE:
                    break
                max_id = page[-1].id
        return Found(False)

    # --- writing ---

    def upload(self, attachment: Attachment) -> str:
        """Upload the file (its alt text as its description); its id, once the instance has
        processed it."""
        doing = _("uploading the image")
        with self._errors(doing, write=True):
            if not self._versioned:
                # Mastodon.py picks /api/v2/media by the instance's version, and falls back
                # to the old endpoint without a word when it cannot read it.
                self._api.retrieve_mastodon_version(fail_hard=True)
                self._versioned = True
            upload: Any = self._api.media_post(
                attachment.data, mime_type=attachment.mime, description=attachment.alt or None
            )
            deadline = time.monotonic() + MEDIA_PROCESSING_WAIT
            while upload.url is None and time.monotonic() < deadline:
                time.sleep(MEDIA_POLL_SECONDS)
                upload = self._api.media(upload.id)
        if upload.url is None:
            raise Unavailable(
                _(
                    "Mastodon did not finish processing the image in time. "
                    "Try again in a few minutes."
                )
            )
        return str(upload.id)

    def post(self, text: str, *, media: Sequence[str] = (), key: str | None = None) -> Post:
        """A public status by the account, with the `media` uploaded for it. `key` is sent
        as the Idempotency-Key."""
        media_ids = list(media)
        with self._errors(_("posting"), write=True):
            status: Any = self._api.status_post(
                text, media_ids=media_ids or None, visibility="public", idempotency_key=key
            )
        return self._post(status)

    def reply(
        self,
        parent_ref: str,
        text: str,
        *,
        media: Sequence[str] = (),
        key: str | None = None,
        summoned: bool = True,
    ) -> Post:
        """The account's answer to `parent_ref`, at the parent's own visibility (an answer to
        a direct or followers-only status stays so), starting with the @acct of the person
        answered unless the text names them already."""
        with self._errors(_("looking up the post to answer")):
            parent: Any = self._api.status(parent_ref)
        me = self._account or self.me()
        acct = str(parent.account.acct)
        if str(parent.account.id) != me.ref and not self._names(text, acct):
            text = f"@{acct} {text}"
        media_ids = list(media)
        with self._errors(_("posting the reply"), write=True):
            status: Any = self._api.status_post(
                text,
                in_reply_to_id=parent_ref,
                media_ids=media_ids or None,
                visibility=parent.visibility,
                idempotency_key=key,
            )
        return self._post(status)

    def dm(self, to: Author, text: str, *, key: str | None = None) -> str:
        """A direct status to `to`, starting with their @acct unless the text names them
        already; its id."""
        if not self._names(text, to.handle):
            text = f"@{to.handle} {text}"
        with self._errors(_("sending the direct message"), write=True):
            status: Any = self._api.status_post(text, visibility="direct", idempotency_key=key)
        return str(status.id)

    def repost(self, ref: str) -> str | None:
        """The account boosts `ref` (a second boost is the first one); the boost's own id."""
        with self._errors(_("boosting the post"), write=True):
            boost: Any = self._api.status_reblog(ref)
        return str(boost.id)

    def undo_repost(self, ref: str) -> None:
        """The account's boost of `ref` taken back; nothing when there is none, or when the
        status is gone (its boosts went with it)."""
        try:
            with self._errors(_("undoing the boost"), write=True):
                self._api.status_unreblog(ref)
        except NotFound:
            pass

    # --- inside ---

    @property
    def _domain(self) -> str:
        return urlsplit(self.instance_url).netloc

    def _instance(self) -> _Instance:
        """The instance's configuration, shared by every account on it for INSTANCE_TTL."""
        now = clock.now()
        with _instances_lock:
            known = _instances.get(self.instance_url)
        if known is None or now - known.read_at > INSTANCE_TTL:
            with self._errors(_("reading the instance's limits")):
                try:
                    configuration: Any = self._api.instance_v2().configuration
                except MastodonNotFoundError:  # before Mastodon 4.0
                    configuration = self._api.instance_v1().get("configuration") or {}
            statuses = configuration.get("statuses") or {}
            known = _Instance(
                max_characters=int(statuses.get("max_characters") or MAX_CHARACTERS),
                max_media=int(statuses.get("max_media_attachments") or MAX_MEDIA),
                read_at=now,
            )
            with _instances_lock:
                _instances[self.instance_url] = known
        self.capabilities = replace(self.capabilities, media=known.max_media)
        return known

    def _names(self, text: str, acct: str) -> bool:
        """Whether `text` mentions `acct` (as written, or local ones with this instance's
        domain)."""
        wanted = acct.removeprefix("@").lower().removesuffix("@" + self._domain.lower())
        return any(
            match.group(1).lower().removesuffix("@" + self._domain.lower()) == wanted
            for match in _MENTION.finditer(text)
        )

    def _post(self, status: Any, *, root_ref: str | None = None, summons: bool = True) -> Post:
        account = status.account
        text = plain_text(status.content or "")
        if status.spoiler_text:
            text = f"{status.spoiler_text}\n\n{text}"
        created_at = _aware(status.created_at)
        return Post(
            ref=str(status.id),
            author=Author(
                ref=str(account.id), handle=str(account.acct), name=account.display_name or None
            ),
            text=text,
            created_at=created_at.astimezone(UTC),
            url=str(status.url or status.uri),
            root_ref=root_ref,
            parent_ref=None if status.in_reply_to_id is None else str(status.in_reply_to_id),
            lang=status.language,
            summons=summons,
            visibility=status.visibility,
            media=tuple(
                Media(
                    kind=_MEDIA_KINDS[attached.type],
                    url=str(attached.url or attached.remote_url or attached.preview_url),
                    alt=attached.description,
                )
                for attached in status.media_attachments
                if attached.type in _MEDIA_KINDS
            ),
        )

    def _keep_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._answers.headers = response.headers

    @contextmanager
    def _errors(self, doing: str, *, write: bool = False) -> Iterator[None]:
        """Mastodon.py's failures as Roost's errors. `doing` says what the call was doing,
        as a person reads it (already translated); for a `write`, a call that may have
        reached the instance without an answer is `OutcomeUnknown`."""
        self._answers.headers = {}
        try:
            yield
        except MastodonError as exc:
            raise self._translate(exc, doing, write) from None

    def _translate(self, exc: BaseException, doing: str, write: bool) -> NetworkError:
        if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
            return self._translate(exc.__cause__, doing, write)
        if isinstance(exc, MastodonRatelimitError):
            return self._rate_limited(doing)
        status, detail = _status_and_detail(exc)
        if isinstance(exc, MastodonUnauthorizedError):
            return TokenRevoked(
                _(
                    "Mastodon refused the access token while {doing}: it was revoked or is no "
                    "longer valid. Reconnect the account with a new one."
                ).format(doing=doing)
            )
        if isinstance(exc, MastodonNotFoundError):
            return NotFound(
                _(
                    "Mastodon found nothing while {doing}: it was deleted or is not visible "
                    "to this account."
                ).format(doing=doing)
            )
        if isinstance(exc, MastodonServerError):
            if write:
                return OutcomeUnknown(
                    _(
                        "Mastodon failed ({status}) while {doing}, so it may or may not have "
                        "been done. Check the account before trying again."
                    ).format(status=status, doing=doing)
                )
            return Unavailable(
                _(
                    "Mastodon is failing ({status}) while {doing}. Try again in a few minutes."
                ).format(status=status, doing=doing)
            )
        if isinstance(exc, MastodonNetworkError):
            return self._unanswered(exc, doing, write)
        if status == 422 and "character limit" in detail.lower():  # not spoken: Mastodon's words
            return TooLong(
                _(
                    "The post is too long for this Mastodon server ({detail}). Shorten it and "
                    "send it again."
                ).format(detail=detail)
            )
        if status == 403:
            return Forbidden(
                _("Mastodon refused {doing} for this account ({detail}).").format(
                    doing=doing, detail=detail
                )
            )
        if isinstance(exc, MastodonAPIError) and status is not None:
            return NetworkError(
                _("Mastodon refused {doing}: {detail}.").format(doing=doing, detail=detail)
            )
        logger.warning("Mastodon.py failed while %s: %r", doing, exc)
        return NetworkError(
            _("Mastodon could not be used while {doing} ({detail}).").format(
                doing=doing, detail=exc
            )
        )

    def _rate_limited(self, doing: str) -> RateLimited:
        """A 429 as Roost says it: calls resume at the instance's X-RateLimit-Reset."""
        now = clock.now()
        headers = getattr(self._answers, "headers", {}) or {}
        reset_at = _parse_time(headers.get("X-RateLimit-Reset"))
        if reset_at is None or reset_at <= now:
            reset_at = now + DEFAULT_RATE_LIMIT_WAIT
        left = reset_at - now
        if left <= timedelta(minutes=5):
            window = N_("5-minute")
        elif left <= timedelta(minutes=30):
            window = N_("30-minute")
        else:
            window = N_("3-hour")
        return RateLimited(
            _("Mastodon rate-limited {doing}; it allows calls again at {time} UTC.").format(
                doing=doing, time=f"{reset_at:%H:%M:%S}"
            ),
            reset_at,
            window=window,
        )

    def _unanswered(self, exc: MastodonNetworkError, doing: str, write: bool) -> NetworkError:
        """A call that got no answer: on a write, whether it can have reached the instance."""
        failure = exc.__context__
        if _never_sent(failure):
            return Unavailable(
                _(
                    "Mastodon could not be reached while {doing}; nothing was sent. Check "
                    "the server's address, or try again later."
                ).format(doing=doing)
            )
        if not write:
            return Unavailable(
                _("Mastodon did not answer while {doing}. Try again later.").format(doing=doing)
            )
        if isinstance(failure, requests.Timeout):
            return OutcomeUnknown(
                _(
                    "Mastodon gave no answer in time while {doing}, so it may or may not have "
                    "been done. Check the account before trying again."
                ).format(doing=doing)
            )
        return OutcomeUnknown(
            _(
                "The connection to Mastodon dropped while {doing}, so it may or may not "
                "have been done. Check the account before trying again."
            ).format(doing=doing)
        )


def connect(
    instance_url: str,
    access_token: str,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> MastodonNetwork:
    """The account `access_token` belongs to on `instance_url`, its token checked and its
    instance's limits read (`TokenRevoked` when the instance refuses the token)."""
    network = MastodonNetwork(instance_url, access_token, timeout=timeout)
    network.me()
    network.limits()
    return network


def _status_and_detail(exc: BaseException) -> tuple[int | None, str]:
    """The HTTP status and Mastodon's own words from a MastodonAPIError's args
    ("Mastodon API returned error", status, reason, error)."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        return args[1], str(args[3] or args[2])
    return None, str(exc)


def _never_sent(failure: BaseException | None) -> bool:
    """Whether a call cannot have reached the instance: no connection was ever made."""
    if isinstance(failure, requests.ConnectTimeout):
        return True
    if not isinstance(failure, requests.ConnectionError):
        return False
    reason = failure.args[0] if failure.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _aware(moment: datetime | str) -> datetime:
    """A time Mastodon.py gives (a datetime, or the string it could not cast) in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time from a header (Mastodon's X-RateLimit-Reset), or None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _comparable(text: str) -> str:
    """Text as two renderings of one status compare: mentions by their local part (as
    Mastodon's HTML shows them), spacing collapsed, the mentions it starts with left out."""
    local = _MENTION.sub(lambda match: "@" + match.group(2), text)
    collapsed = _SPACE.sub(" ", local).strip()
    return _LEADING_MENTIONS.sub("", collapsed)
