"""Every X call priced where it is made, and counted in Redis: one round trip a call, no
database write.

The adapter hands each successful answer's charges (bot.x.prices) to the account's Meter.
A resource read is charged once per UTC day across the whole app, as X deduplicates: the
day's resource ids are kept in a Redis set per kind, and only those new to it are counted.
Each account's day is a Redis hash of units and micro-dollars per kind, kept SPEND_DAYS;
its running total (for /metrics) is another, kept while Redis keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime

from redis import Redis
from redis.exceptions import RedisError

from bot.x.prices import Charge, Prices, price_of

logger = logging.getLogger(__name__)

SPEND_DAYS = 70
"""How long an account's daily spend is kept in Redis: this month and all of the last."""

SEEN_SECONDS = 2 * 24 * 3600
"""How long a day's set of resources read outlives the day (X's window is the UTC day)."""

_COUNT = """
local day, total, seen_prefix = KEYS[1], KEYS[2], KEYS[3]
local seen_ttl, spend_ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local i = 3
while i <= #ARGV do
  local kind, micros, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local units = 1
  if n > 0 then
    local seen = seen_prefix .. kind
    units = redis.call('SADD', seen, unpack(ARGV, i + 3, i + 2 + n))
    redis.call('EXPIRE', seen, seen_ttl)
  end
  if units > 0 then
    redis.call('HINCRBY', day, kind .. ':units', units)
    redis.call('HINCRBY', day, kind .. ':micros', units * micros)
    redis.call('HINCRBY', total, kind .. ':micros', units * micros)
  end
  i = i + 3 + n
end
redis.call('EXPIRE', day, spend_ttl)
return 1
"""
"""One call's charges counted, in one round trip: for each, a read's resources new today
(SADD), or one request; units and micro-dollars added to the account's day and total."""


def day_key(account_id: int, day: str) -> str:
    """The account's spend on `day` (YYYY-MM-DD, UTC): `<kind>:units`, `<kind>:micros`."""
    return f"roost:x-spend:{account_id}:{day}"


def days_spent(redis: Redis, account_id: int, days: Sequence[date]) -> list[dict[str, int]]:
    """The account's counts on each of `days`, in one round trip: `<kind>:units` and
    `<kind>:micros` to whole numbers (empty where nothing was counted)."""
    with redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hgetall(day_key(account_id, day.isoformat()))
        answers = pipe.execute()
    return [{field.decode(): int(value) for field, value in raw.items()} for raw in answers]


def total_key(account_id: int) -> str:
    """The account's spend so far, in micro-dollars by kind."""
    return f"roost:x-spend-total:{account_id}"


class Meter:
    """Counts one account's X charges; a failure to count never fails the call."""

    def __init__(
        self, redis: Redis, prices: Prices, account_id: int, now: Callable[[], datetime]
    ) -> None:
        self.redis = redis
        self.prices = prices
        self.account_id = account_id
        self.now = now
        self._count = redis.register_script(_COUNT)

    def __call__(self, charges: Sequence[Charge]) -> None:
        if not charges:
            return
        day = self.now().strftime("%Y-%m-%d")
        args: list[str | int] = [SEEN_SECONDS, SPEND_DAYS * 86_400]
        for charge in charges:
            micros = round(price_of(self.prices, charge.kind) * 1_000_000)
            args += [charge.kind, micros, len(charge.resources), *charge.resources]
        keys = [day_key(self.account_id, day), total_key(self.account_id), f"roost:x-seen:{day}:"]
        try:
            self._count(keys=keys, args=args)
        except RedisError as exc:
            logger.warning("X spend of account %s not counted: %s", self.account_id, exc)
