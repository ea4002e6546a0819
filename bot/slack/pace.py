"""Keeping under Slack's rate limits before Slack has to say so: a token bucket in Redis
per channel and method, shared by every worker.

Slack lets `chat.postMessage` post about one message a second in a channel, with short
bursts over it, and `chat.update` about 50 a minute for the whole workspace (its Tier 3);
past them it answers 429. Roost's surge cards ask here before each call and, told to
wait, leave the call to their next run.
"""

from __future__ import annotations

import time

from redis import Redis

PACES: dict[str, tuple[float, int]] = {
    "chat.postMessage": (1.0, 3),
    "chat.update": (0.8, 3),
}
"""Per method: calls a second, and the burst allowed over that; in one channel, or for
the workspace (WORKSPACE_WIDE)."""

WORKSPACE_WIDE = frozenset({"chat.update"})
"""Methods whose limit is the workspace's, whatever the channel."""

_TAKE = """
local tokens_key, now = KEYS[1], tonumber(ARGV[3])
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', tokens_key, 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local took = 0
if tokens >= 1 then
  tokens = tokens - 1
  took = 1
end
redis.call('HSET', tokens_key, 'tokens', tokens, 'at', now)
redis.call('EXPIRE', tokens_key, math.ceil(burst / rate) + 60)
return took
"""


class Pace:
    """Asks whether a call to Slack may go now: `may(method, channel)` takes a token."""

    def __init__(self, redis: Redis, paces: dict[str, tuple[float, int]] | None = None) -> None:
        self.paces = paces or PACES
        self._take = redis.register_script(_TAKE)

    def may(self, method: str, channel: str) -> bool:
        rate, burst = self.paces[method]
        where = "" if method in WORKSPACE_WIDE else channel
        key = f"roost:pace:{method}:{where}"
        return bool(self._take(keys=[key], args=[rate, burst, time.time()]))
