"""Every X call priced where it is made, and counted in Redis: one round trip a call, no
database write.

The adapter hands each successful answer's charges (bot.x.prices) to the account's Meter.
A resource read is charged once per UTC day across the whole app, as X deduplicates: the
day's resource ids are kept in a Redis set per kind, and only those new to it are counted.
Each account's day is a Redis hash of units and micro-dollars per kind, kept SPEND_DAYS;
its running total (for /metrics) is another, kept while Redis keeps its data. The sweep
copies each day to the database (keep_days), which answers for the days Redis no longer
holds whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from bot.x.prices import Charge, Prices, price_of
from storage.spend import save_day, saved_days

logger = logging.getLogger(__name__)

SPEND_DAYS = 70
"""How long an account's daily spend is kept in Redis: this month and all of the last."""

SEEN_SECONDS = 2 * 24 * 3600
"""How long a day's set of resources read outlives the day (X's window is the UTC day)."""

RESOURCE = {"read:post": "post", "read:owned_post": "post"}
"""The resource a read is of, as X deduplicates it: a post read once as the account's own
and once not is one post, charged once a day."""

_COUNT = (  # not spoken: a Lua script for Redis
    """
local day, total, seen_prefix = KEYS[1], KEYS[2], KEYS[3]
local seen_ttl, spend_ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local i = 3
while i <= #ARGV do
  local kind, resource = ARGV[i], ARGV[i + 1]
  local micros, n = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local units = 1
  if n > 0 then
    local seen = seen_prefix .. resource
    units = redis.call('SADD', seen, unpack(ARGV, i + 4, i + 3 + n))
    redis.call('EXPIRE', seen, seen_ttl)
  end
  if units > 0 then
    redis.call('HINCRBY', day, kind .. ':units', units)
    redis.call('HINCRBY', day, kind .. ':micros', units * micros)
    redis.call('HINCRBY', total, kind .. ':micros', units * micros)
  end
  i = i + 4 + n
end
redis.call('EXPIRE', day, spend_ttl)
return 1
"""
)
"""One call's charges counted, in one round trip: for each, a read's resources new today
(SADD), or one request; units and micro-dollars added to the account's day and total."""


def day_key(account_id: int, day: str) -> str:
    """The account's spend on `day` (YYYY-MM-DD, UTC): `<kind>:units`, `<kind>:micros`."""
    return f"roost:x-spend:{account_id}:{day}"


SAVED = "saved"
"""The field that marks a day's hash as copied to the database at least once. A hash
without it, when the database holds the day, is what is left of a Redis that lost its data:
the database's counts are added to it (keep_days), and until then to what it says."""

_RESTORE = (  # not spoken: a Lua script for Redis
    """
local marked = redis.call('HEXISTS', KEYS[1], 'saved') == 1
local i = 1
while i <= #ARGV do
  local field, kept = ARGV[i], tonumber(ARGV[i + 1])
  if not marked then
    redis.call('HINCRBY', KEYS[1], field, kept)
  elseif tonumber(redis.call('HGET', KEYS[1], field) or '0') < kept then
    redis.call('HSET', KEYS[1], field, kept)
  end
  i = i + 2
end
redis.call('HSET', KEYS[1], 'saved', 1)
return 1
"""
)
"""Mark a day's hash as saved, first adding the database's counts to it if it was not
(at most once, however many sweeps race). A marked hash below the database's count is a
Redis restored from an older snapshot: it is raised to the count, the most it is known
to have reached."""

Sessions = Callable[[], Session]


def days_spent(
    redis: Redis, sessions: Sessions, account_id: int, days: Sequence[date]
) -> list[dict[str, int]]:
    """The account's counts on each of `days`: `<kind>:units` and `<kind>:micros` to whole
    numbers (empty where nothing was counted). One Redis round trip; the database is read
    only for days Redis does not hold whole (before the sweep's first copy of the day, or
    after Redis lost or let go of it)."""
    found = dict(zip(days, _read(redis, account_id, days), strict=True))
    partial = [day for day, counts in found.items() if SAVED not in counts]
    if partial:
        with sessions() as session:
            saved = saved_days(session, account_id, partial)
        # Read again after the database: a sweep that restored a day in between has
        # marked it, and its count is then Redis's alone; one that has not, has not yet
        # added the database's count, which is added here.
        for day, counts in zip(partial, _read(redis, account_id, partial), strict=True):
            if SAVED not in counts:
                for field, value in saved.get(day, {}).items():
                    counts[field] = counts.get(field, 0) + value
            found[day] = counts
    for counts in found.values():
        counts.pop(SAVED, None)
    return [found[day] for day in days]


def _read(redis: Redis, account_id: int, days: Sequence[date]) -> list[dict[str, int]]:
    with redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hgetall(day_key(account_id, day.isoformat()))
        return [_counts(raw) for raw in pipe.execute()]


def keep_days(redis: Redis, sessions: Sessions, account_id: int, days: Sequence[date]) -> int:
    """Copy the account's counts on `days` from Redis to the database (the sweep, for
    today and yesterday); how many days were copied. A day Redis lost mid-way gets the
    database's counts back first, so the copy never shrinks."""
    restore = redis.register_script(_RESTORE)
    copied = 0
    for day in days:
        key = day_key(account_id, day.isoformat())
        if not redis.exists(key):
            continue  # nothing counted since Redis started; the database has the rest
        with sessions() as session:
            before = saved_days(session, account_id, [day]).get(day, {})
        restore(keys=[key], args=[item for pair in before.items() for item in pair])
        counts = _counts(redis.hgetall(key))
        counts.pop(SAVED, None)
        with sessions() as session, session.begin():
            save_day(session, account_id, day, counts)
        copied += 1
    return copied


def _counts(raw: Any) -> dict[str, int]:
    """A day's hash as Redis answers it (bytes to bytes), as whole numbers by field."""
    return {field.decode(): int(value) for field, value in raw.items()}


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
            resource = RESOURCE.get(charge.kind, charge.kind)
            args += [charge.kind, resource, micros, len(charge.resources), *charge.resources]
        keys = [day_key(self.account_id, day), total_key(self.account_id), f"roost:x-seen:{day}:"]
        try:
            self._count(keys=keys, args=args)
        except RedisError as exc:
            logger.warning("X spend of account %s not counted: %s", self.account_id, exc)
