"""Roost's own errors.

Slack, X and configuration failures are caught at the edges and turned into
one of these, each carrying a message a person can act on.
"""

from __future__ import annotations

from datetime import datetime


class RoostError(Exception):
    """Base of every error Roost raises on purpose."""


class Refused(RoostError):
    """The person may not do this, or it cannot be done now; the message says why."""


class SettingsError(RoostError):
    """A setting is missing or malformed; the message names the variable."""


class NetworkError(RoostError):
    """A social network (X, Bluesky, Mastodon) answered with an error, or could not be
    reached."""


class RateLimited(NetworkError):
    """The network answered 429; calls may resume at `reset_at`, when `window` ends."""

    def __init__(self, message: str, reset_at: datetime, *, window: str = "15-minute") -> None:
        super().__init__(message)
        self.reset_at = reset_at
        self.window = window


class TokenRevoked(NetworkError):
    """The account's token or session was revoked or expired: someone must reconnect it."""


class NotFound(NetworkError):
    """The post or person does not exist (any more)."""


class Forbidden(NetworkError):
    """The network refused the call for this account; the message says why."""


class RecipientClosed(Forbidden):
    """The recipient does not accept private messages from this account."""


class TooLong(NetworkError):
    """The network refused a post as longer than it takes."""


class Duplicate(NetworkError):
    """The network refused a post as a repeat of one the account made recently: if Roost's
    own earlier try made it, the post is there to be found."""


class Unavailable(NetworkError):
    """The network answered 5xx, timed out or dropped the connection; worth trying again.

    On a write it means the call never reached the network, so nothing happened there.
    """


class OutcomeUnknown(NetworkError):
    """A write may or may not have taken effect (timeout, dropped connection, 5xx).

    Never retry blindly: look for the post first.
    """


class XError(NetworkError):
    """X answered with an error, or could not be reached."""


class XRateLimited(XError, RateLimited):
    """X answered 429; calls may resume at `reset_at`, when `window` (X's 15-minute limit,
    or a daily cap) ends."""


class XTokenRevoked(XError, TokenRevoked):
    """The account's token was revoked or expired: someone must reconnect it."""


class XNotFound(XError, NotFound):
    """The tweet or user does not exist (any more)."""


class XForbidden(XError, Forbidden):
    """X refused the call: the account's plan or the app's access level forbids it."""


class XRecipientClosed(XForbidden, RecipientClosed):
    """The recipient does not accept DMs from this account; reply in public instead."""


class XQueryRefused(XError):
    """X refused a search query: its words say what to change."""


class XSearchSpanRefused(XError):
    """X refused where a search starts or ends (a since_id or start_time past its reach, a
    next_token it no longer serves, an end too close to now): the query stands, the span
    must change. `parameters`: the ones X named."""

    def __init__(self, message: str, parameters: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.parameters = parameters


class XDuplicate(XError, Duplicate):
    """X refused a post or reply as a repeat of one the account made recently."""


class XUnavailable(XError, Unavailable):
    """X answered 5xx, timed out or dropped the connection; worth trying again.

    On a write it means the call never reached X, so nothing happened there.
    """


class XOutcomeUnknown(XError, OutcomeUnknown):
    """A write may or may not have taken effect at X (timeout, dropped connection, 5xx).

    Never retry blindly: look for the post, DM or retweet at X first.
    """


class SlackError(RoostError):
    """Slack refused a call; the message says what a person can do about it."""


class SlackRateLimited(SlackError):
    """Slack answered 429 even after waiting; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlackChannelUnavailable(SlackError):
    """The channel does not exist, is archived, or Roost is not in it."""


class SlackUnavailable(SlackError):
    """Slack answered 5xx or could not be reached; worth trying again."""
