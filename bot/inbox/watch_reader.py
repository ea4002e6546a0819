"""The listener's reading of watched words (bot.inbox.watch): X's recent search for each
running watch, every ROOST_WATCH_SECONDS, into storage and onto the card queue.

Each watch has its own lease, so several listeners share the watches as they share the
accounts. A read goes newest first, page by page, each page no larger than what is left
of the watch's budget can pay for at its worst; each page's posts are stored (once: a
post found again is not stored again) and its cost counted before the next is asked for.
The cursor moves to the newest post only once the whole read is stored, so a listener
killed mid-read reads the same again, and a read cut short by the budget resumes from
where it was when the watch reads again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import RoostError, XQueryRefused, XRateLimited
from bot.inbox.intake import FIRST_BACKOFF, MAX_BACKOFF, NOTICE_RETRY, OUTAGE_WAIT, Intake
from bot.inbox.watch import (
    SEARCH_REACH,
    capped_text,
    month_of,
    refused_text,
    search_query,
    worst_per_post,
)
from bot.lease import LEASE_SECONDS, Lease
from bot.runtime import Runtime
from bot.team.budget import budget_of
from bot.x.client import SEARCH_PAGE_SIZE
from bot.x.normalize import mentions_from_payload
from bot.x.prices import charges, load_prices, price_of
from storage.models import Account, Watch
from storage.watches import cap, count_read, month_micros, read_done, running_watches

logger = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"

SMALLEST_PAGE = 10
"""The fewest posts X lets a search page ask for: a watch whose budget cannot pay for a
page this size at its worst has reached its budget."""


@dataclass
class WatchIntake:
    """What this process knows about reading one watch, between reads."""

    lease: Lease
    next_read_at: datetime
    backoff: timedelta = FIRST_BACKOFF


@dataclass
class WatchReader:
    """Reads every running watch whose lease this process holds, each when it is due."""

    rt: Runtime
    lease_seconds: float = LEASE_SECONDS
    outage_wait: float = OUTAGE_WAIT
    intake: Intake = field(init=False)
    held: dict[int, WatchIntake] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.intake = Intake(self.rt)
        self.prices = load_prices(self.rt.settings.x_prices_file)

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.rt.settings.roost_watch_seconds)

    def run(self, stop: threading.Event) -> None:
        """Read until `stop` is set; leases are given back on the way out."""
        try:
            while not stop.is_set():
                try:
                    wait = self.cycle()
                except (RedisError, SQLAlchemyError) as exc:
                    logger.error("watches paused: %s", exc)
                    wait = self.outage_wait
                stop.wait(wait)
        finally:
            for entry in self.held.values():
                try:
                    entry.lease.release()
                except RedisError:
                    pass  # the lease expires by itself
            self.held.clear()

    def cycle(self) -> float:
        """Renew leases, read every held watch that is due; seconds until the next is."""
        now = self.rt.clock()
        with self.rt.sessions() as session:
            running = {watch.id: (watch, account) for watch, account in running_watches(session)}
        for gone in set(self.held) - set(running):
            self.held.pop(gone).lease.release()
        for watch_id, (watch, account) in running.items():
            entry = self.held.get(watch_id) or WatchIntake(
                Lease(self.rt.redis, f"watch:{watch_id}", seconds=self.lease_seconds), now
            )
            if not entry.lease.acquire():
                self.held.pop(watch_id, None)
                continue
            self.held[watch_id] = entry
            if entry.next_read_at <= now:
                self._read(watch, account, entry)
        renew_by = self.rt.clock() + timedelta(seconds=self.lease_seconds / 3)
        next_due = min([e.next_read_at for e in self.held.values()] + [renew_by])
        return max(0.05, (next_due - self.rt.clock()).total_seconds())

    def _read(self, watch: Watch, account: Account, entry: WatchIntake) -> None:
        now = self.rt.clock()
        entry.next_read_at = now + self.interval
        try:
            stored = self.read(watch, account)
        except XQueryRefused as exc:
            self._refused(watch, account, str(exc))
            return
        except XRateLimited as exc:
            logger.warning("watch %s: %s", watch.id, exc)
            entry.next_read_at = max(exc.reset_at, entry.next_read_at)
            self._failed(watch.id, exc)
            return
        except (RoostError, SQLAlchemyError) as exc:
            if isinstance(exc, SQLAlchemyError):
                raise  # the database is down: every watch pauses
            logger.warning("watch %s: %s; trying again in %s", watch.id, exc, entry.backoff)
            entry.next_read_at = now + entry.backoff
            entry.backoff = min(entry.backoff * 2, MAX_BACKOFF)
            self._failed(watch.id, exc)
            return
        entry.backoff = FIRST_BACKOFF
        if stored:
            logger.info("watch %s (@%s): %d new posts", watch.id, account.handle, stored)

    def read(self, watch: Watch, account: Account) -> int:
        """Read the watch's new posts and store them; how many were new. Stops short of its
        budget (and of the account's hard cap), the cursor staying where it was."""
        now = self.rt.clock()
        month = month_of(now)
        if watch.capped_month == month:
            return 0
        spent = month_micros(watch, month)
        per_post = worst_per_post(self.prices)
        client = self.intake.client(account)
        searched = search_query(watch.query, account.handle)
        since = watch.since_id
        # A first read starts when the watch was added, as far back as X reaches.
        start = None if since else max(watch.created_at, now - SEARCH_REACH + timedelta(minutes=1))
        newest: int | None = None
        token: str | None = None
        stored = 0
        capped = complete = False
        while True:
            size = min(SEARCH_PAGE_SIZE, (watch.budget_micros - spent) // per_post)
            if size < SMALLEST_PAGE:
                capped = True
                break
            limit = budget_of(self.rt, account)
            if limit is not None and limit.refuses({"read:post": 3 * size, "read:user": size}):
                # The account's hard cap: read again once an owner raises it, or next month.
                logger.info("watch %s: %s", watch.id, limit.why())
                break
            page = client.search_page(
                searched, since_id=since, start_time=start, max_results=size, next_token=token
            )
            meta = page.get("meta") or {}
            if newest is None and meta.get("newest_id"):
                newest = int(meta["newest_id"])
            found = [
                dataclasses.replace(m, watch_id=watch.id)
                for m in mentions_from_payload(page, account_x_id=account.x_user_id)
            ]
            stored += self.intake.store(account, found)
            with self.rt.sessions.begin() as session:
                spent = count_read(
                    session, watch.id, month, meta.get("result_count", 0), self._cost(page)
                )
            token = meta.get("next_token")
            if not token:
                complete = True
                break
        with self.rt.sessions.begin() as session:
            read_done(session, watch.id, newest if complete else None, now, None)
            first = capped and cap(session, watch.id, month)
            if first:
                watch = session.get_one(Watch, watch.id)
                text = capped_text(watch, account.handle, now)
        if first:
            self.rt.queue.enqueue(
                "bot.inbox.watch.tell_watch",
                watch.id,
                f"watch:{watch.id}:capped:{month}",
                text,
                retry=NOTICE_RETRY,
            )
        return stored

    def _cost(self, page: dict[str, Any]) -> int:
        """What X bills for a page, in micro-dollars, before its once-a-day deduplication."""
        return sum(
            round(price_of(self.prices, charge.kind) * 1_000_000) * len(charge.resources)
            for charge in charges("GET", SEARCH_PATH, None, page, owned=False)
        )

    def _refused(self, watch: Watch, account: Account, why: str) -> None:
        logger.warning("watch %s: %s", watch.id, why)
        with self.rt.sessions.begin() as session:
            row = session.get_one(Watch, watch.id)
            row.refused = why
        self.rt.queue.enqueue(
            "bot.inbox.watch.tell_watch",
            watch.id,
            f"watch:{watch.id}:refused",
            refused_text(watch, account.handle, why),
            retry=NOTICE_RETRY,
        )

    def _failed(self, watch_id: int, error: Exception) -> None:
        with self.rt.sessions.begin() as session:
            session.get_one(Watch, watch_id).last_error = str(error)
