"""The Slack Web API client, and Slack's errors made Roost's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.errors import SlackChannelUnavailable, SlackError, SlackRateLimited, SlackUnavailable
from bot.i18n import N_, _
from bot.slack.pace import PACES, Pace, is_prepaid, waits

logger = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 2
"""429s absorbed in-process (sleeping Retry-After) before the caller gets the last."""

WORKER_MAX_WAIT = 2.0
"""The longest Retry-After a worker sleeps through in-process: a DM or a card refresh,
which nothing would try again, still gets through Slack's short limits, and a longer wait
goes back to the job (a card delivery queues itself again for then)."""

DEFAULT_RETRY_AFTER = 30.0
"""Seconds to wait after a 429 that names no Retry-After."""

_CHANNEL_ERRORS = {
    "channel_not_found": N_(
        "Cannot post: channel {channel} does not exist (or Roost cannot see it)."
    ),
    "not_in_channel": N_(
        "Cannot post: Roost is not a member of channel {channel}: invite it with /invite @Roost."
    ),
    "is_archived": N_("Cannot post: channel {channel} is archived."),
}


class CountingRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, which waits out Retry-After silently, telling
    `on_rate_limit` (if given) of every 429 first: the ones it absorbs and the last one it
    gives up on. With `max_wait`, a 429 asking for a longer wait is not waited out: the
    caller gets it at once (a worker's job is queued again for when Slack allows)."""

    def __init__(
        self,
        on_rate_limit: Callable[[], None] | None,
        *,
        max_retry_count: int,
        max_wait: float | None = None,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.on_rate_limit = on_rate_limit
        self.max_wait = max_wait

    def __deepcopy__(self, memo: dict[int, Any]) -> CountingRateLimitHandler:
        # Bolt deep-copies each request, its client included, for lazy listeners; the
        # callback holds a Redis pool and its locks, which cannot be copied and need not be.
        return CountingRateLimitHandler(
            self.on_rate_limit, max_retry_count=self.max_retry_count, max_wait=self.max_wait
        )

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        # The client asks its one handler once per answer, so each 429 is told once.
        if response is not None and response.status_code == 429:
            if self.on_rate_limit is not None:
                self.on_rate_limit()
            if self.max_wait is not None and _retry_after(response) > self.max_wait:
                return False
        return super().can_retry(state=state, request=request, response=response, error=error)


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            try:
                return float(values[0] if isinstance(values, list) else values)
            except (TypeError, ValueError, IndexError):
                break
    return DEFAULT_RETRY_AFTER


PACE_WAIT = 3.0
"""The longest a call waits for its token from the pace before it goes anyway."""

SHORT_WAIT = 0.25
"""The longest a call that does not wait (a card delivery, bot.slack.pace.without_waiting)
still waits for a token due within it: queued again instead, it would wait for RQ's
scheduler, which moves what is due once a second."""


class PacedClient(WebClient):
    """A WebClient whose every chat.postMessage and chat.update first takes a token from
    the pace that every Roost process shares (bot.slack.pace)."""

    def __init__(self, *args: Any, pace: Pace | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pace = pace
        self.dm_channels: dict[str, str] = {}  # a person -> the DM channel opened with them

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        if self.pace is not None and api_method in PACES and not is_prepaid():
            sent = kwargs.get("json") or kwargs.get("data") or kwargs.get("params") or {}
            channel = str(sent.get("channel", ""))
            rate, _burst = self.pace.paces[api_method]
            longest = PACE_WAIT if waits() else SHORT_WAIT
            if not self.pace.wait(api_method, channel, longest=longest):
                if not waits():
                    raise SlackRateLimited(
                        _("Slack's pace for {method} in {channel} is used for now").format(
                            method=api_method, channel=channel
                        ),
                        1 / rate,
                    )
                logger.info("%s went without its pace's token", api_method)
        return super().api_call(api_method, **kwargs)


def make_client(
    token: str,
    base_url: str,
    *,
    on_rate_limit: Callable[[], None] | None = None,
    max_wait: float | None = None,
    pace: Pace | None = None,
) -> WebClient:
    """A WebClient that waits out Slack's rate limits instead of failing.

    A 429 means Slack took nothing, so trying again is safe. A dropped
    connection is not retried here: Slack may have posted the message
    already, and the delivery job knows how to look before posting again.
    `on_rate_limit` is called for every 429 Slack answers (bot.rate_limits counts them);
    it must not raise. A worker's client waits out only short ones (`max_wait`, at most
    WORKER_MAX_WAIT): for a longer one its job is queued again for when Slack allows,
    rather than holding the worker asleep. With `pace`, its messages keep to the pace
    every Roost process shares.
    """
    handler = CountingRateLimitHandler(
        on_rate_limit, max_retry_count=RATE_LIMIT_RETRIES, max_wait=max_wait
    )
    return PacedClient(
        token=token, base_url=base_url, timeout=15, retry_handlers=[handler], pace=pace
    )


def dm_channel(slack: WebClient, user: str) -> str:
    """The DM channel with a person, opened once a client: it never changes, and
    conversations.open is one of Slack's Tier 3 methods (50 calls a minute)."""
    known = slack.dm_channels if isinstance(slack, PacedClient) else {}
    if user not in known:
        known[user] = str(slack.conversations_open(users=user)["channel"]["id"])
    return known[user]


def send_dm(slack: WebClient, user: str, text: str) -> bool:
    """A DM from Roost to one person; False (and a warning) if Slack would not deliver it,
    so that a person who cannot get one never stops what else is being told."""
    try:
        channel = dm_channel(slack, user)
        slack.chat_postMessage(channel=channel, text=text, unfurl_links=False)
    except (SlackApiError, SlackError, OSError) as exc:  # SlackError: the pace refused it
        logger.warning("no DM to %s: %s", user, exc)
        return False
    return True


def find_posted(
    slack: WebClient,
    channel: str,
    metadata: dict[str, Any],
    *,
    oldest: float,
    thread_ts: str | None = None,
    pages: int,
) -> str | None:
    """The ts of a message posted since `oldest` carrying exactly this metadata (its
    event_type and every key of its payload), in the channel or in one thread: how a retry
    finds what an interrupted try already posted. Looks at `pages` pages of 200 at most."""
    wanted = metadata["event_payload"]
    cursor = None
    for _page in range(pages):
        window: dict[str, Any] = {
            "channel": channel,
            "oldest": str(oldest),
            "include_all_metadata": True,
            "limit": 200,
            "cursor": cursor,
        }
        answer = (
            slack.conversations_history(**window)
            if thread_ts is None
            else slack.conversations_replies(ts=thread_ts, **window)
        )
        for message in answer.get("messages") or []:
            found = message.get("metadata") or {}
            payload = found.get("event_payload") or {}
            if found.get("event_type") == metadata["event_type"] and all(
                payload.get(key) == value for key, value in wanted.items()
            ):
                return str(message["ts"])
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    logger.warning("%s: no earlier post in %d pages of %s; posting", wanted, pages, channel)
    return None


@contextmanager
def translate_errors(channel: str) -> Iterator[None]:
    """Turn SlackApiError into Roost's Slack errors with an actionable message."""
    try:
        yield
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if exc.response.status_code == 429 or error == "ratelimited":
            # Not counted here: make_client's handler counted each 429 as it came.
            retry_after = float(exc.response.headers.get("Retry-After", DEFAULT_RETRY_AFTER))
            raise SlackRateLimited(
                _("Slack rate-limited posting to {channel}").format(channel=channel), retry_after
            ) from None
        if exc.response.status_code >= 500:
            raise SlackUnavailable(
                _("Slack is failing ({status}).").format(status=exc.response.status_code)
            ) from None
        if error in _CHANNEL_ERRORS:
            raise SlackChannelUnavailable(
                _(_CHANNEL_ERRORS[error]).format(channel=channel)
            ) from None
        raise SlackError(
            _("Slack refused the call for channel {channel}: {error}.").format(
                channel=channel, error=error
            )
        ) from None
    except OSError as exc:  # urllib's URLError and socket errors, after the retries
        raise SlackUnavailable(
            _("Slack could not be reached ({problem}).").format(problem=exc)
        ) from None
