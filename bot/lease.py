"""Leases in Redis: one holder of a name at a time, across processes and machines.

A lease expires unless its holder renews it, so when a listener dies its
standby takes over within one lease period.
"""

from __future__ import annotations

import uuid

from redis import Redis

LEASE_SECONDS = 30.0
"""How long a lease lives without renewal: the longest a dead holder blocks its standby."""

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    """A named, expiring lock held by this process; renew it well inside its period."""

    def __init__(self, redis: Redis, name: str, *, seconds: float = LEASE_SECONDS) -> None:
        self.redis = redis
        self.key = f"roost:lease:{name}"
        self.token = uuid.uuid4().hex
        self.millis = int(seconds * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lease if it is free, or renew it if we hold it."""
        if self.redis.set(self.key, self.token, nx=True, px=self.millis):
            return True
        return self.renew()

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.token, self.millis]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])
