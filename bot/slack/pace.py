"""Keeping under Slack's rate limits before Slack has to say so: a token bucket in Redis
per channel and method, shared by every worker.

Slack lets `chat.postMessage` post about one message a second in a channel, with short
bursts over it, and `chat.update` about 50 a minute for the whole workspace (its Tier 3);
past them it answers 429. Every call of Roost's to those methods takes a token here
first, in whichever process: Roost's own messages (a card, a result in a thread, a
notice) wait for one (bot.slack.client), and the surge cards, which ask with `may` and
say they paid with `prepaid`, leave a call to their next run when told to wait. So the
team's messages come first, and Slack never has more than its burst to refuse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from redis import Redis

PACES: dict[str, tuple[float, int]] = {
    "chat.postMessage": (1.0, 3),
    "chat.update": (0.8, 3),
    "users.info": (100 / 60, 10),  # Tier 4: each person's name, role and language
}
"""Per method: calls a second, and the burst allowed over that; in one channel, or for
the workspace (WORKSPACE_WIDE)."""


FOR_THE_TEAM = 1
"""Tokens what can wait (a surge's board, cards and lists) leaves in the bucket for the
team's own messages: results, notices, a card a person opened."""


def paces(factor: float) -> dict[str, tuple[float, int]]:
    """PACES at `factor` times Slack's pace (ROOST_SLACK_PACE; 1 against the real Slack)."""
    return {method: (rate * factor, burst) for method, (rate, burst) in PACES.items()}


WORKSPACE_WIDE = frozenset({"chat.update", "users.info"})
"""Methods whose limit is the workspace's, whatever the channel."""

_TAKE = (  # not spoken: a Lua script for Redis
    """
local tokens_key, now = KEYS[1], tonumber(ARGV[3])
local rate, burst, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local state = redis.call('HMGET', tokens_key, 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local took = 0
if tokens >= 1 + keep then
  tokens = tokens - 1
  took = 1
end
redis.call('HSET', tokens_key, 'tokens', tokens, 'at', now)
redis.call('EXPIRE', tokens_key, math.ceil(burst / rate) + 60)
return took
"""
)


_PREPAID: ContextVar[bool] = ContextVar("roost_slack_prepaid", default=False)


@contextmanager
def prepaid() -> Iterator[None]:
    """The Slack calls made inside took their token with `may` already."""
    token = _PREPAID.set(True)
    try:
        yield
    finally:
        _PREPAID.reset(token)


def is_prepaid() -> bool:
    return _PREPAID.get()


_WAITING: ContextVar[bool] = ContextVar("roost_slack_pace_waits", default=True)


@contextmanager
def without_waiting() -> Iterator[None]:
    """The Slack calls made inside do not wait for their token beyond a moment
    (bot.slack.client.SHORT_WAIT): without one they are refused, as a 429 would be (a card
    delivery queues itself again for then, rather than hold a worker asleep)."""
    token = _WAITING.set(False)
    try:
        yield
    finally:
        _WAITING.reset(token)


@contextmanager
def waiting() -> Iterator[None]:
    """The Slack calls made inside wait a moment for their token even where the caller's
    do not: a card's refresh, which nothing would try again."""
    token = _WAITING.set(True)
    try:
        yield
    finally:
        _WAITING.reset(token)


def waits() -> bool:
    return _WAITING.get()


class Pace:
    """Asks whether a call to Slack may go now: `may(method, channel)` takes a token;
    `wait` waits a moment for one."""

    def __init__(self, redis: Redis, paces: dict[str, tuple[float, int]] | None = None) -> None:
        self.paces = paces or PACES
        self._take = redis.register_script(_TAKE)

    def __deepcopy__(self, memo: dict[int, Any]) -> Pace:
        return self  # Bolt deep-copies the client that holds it; the Redis pool is shared

    def may(self, method: str, channel: str, *, keep: int = 0) -> bool:
        """Take a token if there is one, and `keep` more left after it: what can wait
        (a surge's cards) keeps one for the team's own messages, which wait for it."""
        rate, burst = self.paces[method]
        where = "" if method in WORKSPACE_WIDE else channel
        key = f"roost:pace:{method}:{where}"
        return bool(self._take(keys=[key], args=[rate, burst, time.time(), keep]))

    def wait(self, method: str, channel: str, *, longest: float) -> bool:
        """Take a token, waiting up to `longest` seconds for one; whether one was had (a
        call that goes without one may be refused, and is waited out as any 429)."""
        deadline = time.monotonic() + longest
        rate, _ = self.paces[method]
        while not self.may(method, channel):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.25 / rate, max(0.0, deadline - time.monotonic())))
        return True
