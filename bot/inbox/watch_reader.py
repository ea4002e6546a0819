"""The listener's reading of watched words (bot.inbox.watch): X's recent search for each
running watch, every ROOST_WATCH_SECONDS, into storage and onto the card queue.

Each watch has its own lease, renewed before every page, so several listeners share the
watches as they share the accounts and never read one at once. A read covers the posts
after the watch's cursor (at first, from when it was added) up to X_SEARCH_LAG_SECONDS
ago: X takes no later end, and indexes a post a few seconds after it is posted. It goes
newest first, page by page, each page no larger than what is left of the watch's budget
can pay for at its worst; each page's posts are stored (once: a post found again is not
stored again) and its cost counted before the next is asked for.

A read cut short (the budget, the account's hard cap, X's limit or X failing) keeps X's
next_token with its span, and the next read goes on from there: nothing is read twice
nor skipped. The cursor moves to the read's newest post once it is whole. X keeps a
next_token only so long: if it no longer serves one, what was left of that read is
skipped, and its channel hears of it in the list (`/roost watch`). X reaches seven days
back: a cursor older than that starts from as far back as X reaches.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import (
    RoostError,
    XForbidden,
    XQueryRefused,
    XRateLimited,
    XSearchSpanRefused,
)
from bot.i18n import _
from bot.inbox.intake import (
    FIRST_BACKOFF,
    MAX_BACKOFF,
    NOTICE_RETRY,
    OUTAGE_WAIT,
    Intake,
    LeaseLost,
    release_all,
)
from bot.inbox.watch import (
    SEARCH_REACH,
    SMALLEST_PAGE,
    capped_text,
    month_of,
    refused_text,
    search_query,
    worst_per_post,
)
from bot.lease import LEASE_SECONDS, Lease
from bot.runtime import Runtime
from bot.team.budget import budget_of
from bot.team.language import in_channel
from bot.x.client import SEARCH_PAGE_SIZE, XClient
from bot.x.normalize import mentions_from_payload, parse_time
from bot.x.prices import charges, load_prices, price_of
from storage.models import Account, Watch
from storage.watches import (
    cap,
    count_read,
    month_micros,
    read_cut_short,
    read_whole,
    running_watches,
)

logger = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"

TOKEN = frozenset({"next_token", "pagination_token"})
CURSOR = frozenset({"since_id"})

REACH_MARGIN = timedelta(hours=1)
"""How far inside X's seven days a read starts when its cursor is older than that."""


@dataclass
class Span:
    """What one read asks X for, kept as it is while a next_token pages through it."""

    since_id: int | None
    start: datetime | None
    end: datetime
    token: str | None = None
    newest: int | None = None  # the newest post the read has found
    newest_at: datetime | None = None  # when that post was posted

    def as_json(self) -> dict[str, Any]:
        return {
            "since_id": self.since_id,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
            "token": self.token,
            "newest": self.newest,
            "newest_at": self.newest_at.isoformat() if self.newest_at else None,
        }

    @classmethod
    def from_json(cls, kept: dict[str, Any]) -> Span:
        def moment(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        end = moment(kept["end"])
        assert end is not None, "a kept span always has its end"
        return cls(
            kept.get("since_id"),
            moment(kept.get("start")),
            end,
            kept.get("token"),
            kept.get("newest"),
            moment(kept.get("newest_at")),
        )


def _hold(still_held: Callable[[], bool], watch: Watch) -> None:
    """Go on only while this listener holds the watch's lease: before each page, and before
    writing what a read found."""
    if not still_held():
        raise LeaseLost(f"another listener took over watch {watch.id}")  # not spoken


def next_span(watch: Watch, now: datetime, lag: timedelta) -> Span | None:
    """Where the watch's next read goes on from, or starts: after its cursor, from when it
    was added, or from as far back as X reaches, whichever is latest, up to `lag` ago.
    None: nothing it may read yet (added less than `lag` ago)."""
    if watch.resume:
        return Span.from_json(watch.resume)
    # In whole seconds, as X reads them (and tweepy sends them).
    end = _second(now - lag)
    reach = now - SEARCH_REACH + REACH_MARGIN
    if watch.since_id is not None and watch.since_at is not None and watch.since_at > reach:
        return Span(watch.since_id, None, end)
    start = max(watch.created_at, reach)
    if watch.since_at is not None:
        start = max(start, watch.since_at)
    start = _second(start)
    return Span(None, start, end) if start < end else None


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


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
            release_all(self.held)

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
            stored = self.read(watch, account, still_held=entry.lease.renew)
        except LeaseLost as exc:
            logger.warning("%s; standing by", exc)
            self.held.pop(watch.id)
            return
        except (XQueryRefused, XForbidden) as exc:
            # Asking again changes nothing: the watch stops, its channel told why.
            self._refused(watch, account, str(exc))
            return
        except XRateLimited as exc:
            logger.warning("watch %s: %s", watch.id, exc)
            entry.next_read_at = max(exc.reset_at, entry.next_read_at)
            self._failed(watch.id, exc)
            return
        except RoostError as exc:
            logger.warning("watch %s: %s; trying again in %s", watch.id, exc, entry.backoff)
            entry.next_read_at = now + entry.backoff
            entry.backoff = min(entry.backoff * 2, MAX_BACKOFF)
            self._failed(watch.id, exc)
            return
        entry.backoff = FIRST_BACKOFF
        if stored:
            logger.info("watch %s (@%s): %d new posts", watch.id, account.handle, stored)

    def read(
        self, watch: Watch, account: Account, *, still_held: Callable[[], bool] = lambda: True
    ) -> int:
        """Read the watch's new posts and store them; how many were new. Stops short of its
        budget and of the account's hard cap, to go on from there at its next read."""
        now = self.rt.clock()
        month = month_of(now)
        if watch.capped_month == month:
            return 0
        span = next_span(watch, now, timedelta(seconds=self.rt.settings.x_search_lag_seconds))
        if span is None:
            return 0
        client = self.intake.client(account)
        spent = month_micros(watch, month)
        stored = 0
        try:
            while True:
                _hold(still_held, watch)
                size = min(SEARCH_PAGE_SIZE, (watch.budget_micros - spent) // self.per_post)
                if size < SMALLEST_PAGE:
                    self._cap(watch, account, span, month, now)
                    return stored
                limit = budget_of(self.rt, account)
                if limit is not None and limit.refuses({"read:post": 3 * size, "read:user": size}):
                    # The account's hard cap: read on once an owner raises it, or next month.
                    logger.info("watch %s: %s", watch.id, limit.why())
                    with in_channel(self.rt, watch.channel_id):  # kept, to be listed
                        why = limit.why()
                    self._cut_short(watch.id, span, now, why)
                    return stored
                page = self._page(client, watch, account, span, size, still_held)
                if page is None:
                    return stored
                new, spent = self._keep(watch, account, page, month)
                stored += new
                span.token = (page.get("meta") or {}).get("next_token")
                if not span.token:
                    _hold(still_held, watch)
                    with self.rt.sessions.begin() as session:
                        read_whole(session, watch.id, span.newest, span.newest_at, now)
                    return stored
        except LeaseLost:
            raise  # another listener reads it now: what it keeps is its own
        except RoostError:
            # X failed mid-way: the next read goes on from this page, unless another
            # listener has taken the watch over meanwhile (what it keeps is its own).
            if span.token and still_held():
                self._cut_short(watch.id, span, now, None)
            raise

    @property
    def per_post(self) -> int:
        return worst_per_post(self.prices)

    def _page(
        self,
        client: XClient,
        watch: Watch,
        account: Account,
        span: Span,
        size: int,
        still_held: Callable[[], bool],
    ) -> dict[str, Any] | None:
        """One page of the span, or None if X refuses the span (the read is then over)."""
        try:
            page = client.search_page(
                search_query(watch.query, account.handle),
                since_id=span.since_id,
                start_time=span.start,
                end_time=span.end,
                max_results=size,
                next_token=span.token,
            )
        except XSearchSpanRefused as exc:
            logger.warning("watch %s: %s", watch.id, exc)
            # Kept to be listed (`/roost watch`): in the words of the watch's channel.
            with in_channel(self.rt, watch.channel_id):
                skipped = _("The rest of a read cut short was skipped.")
            _hold(still_held, watch)
            with self.rt.sessions.begin() as session:
                row = session.get_one(Watch, watch.id)
                if exc.parameters & TOKEN:
                    # A next_token X no longer serves: the rest of that read is skipped.
                    read_whole(session, watch.id, span.newest, span.newest_at, self.rt.clock())
                    row.last_error = f"{exc} {skipped}"
                elif exc.parameters & CURSOR:
                    # A cursor past X's reach (X knows better than since_at when its
                    # since_id was posted): the next read starts as far back as X reaches.
                    row.since_id = row.since_at = None
                    row.resume = None
                else:
                    # Its start or end: the cursor stands, and the list says why (a clock
                    # ahead of X's, or X_SEARCH_LAG_SECONDS under X's 10 s).
                    row.last_error = str(exc)
            return None
        data = page.get("data") or []
        if span.newest is None and data:
            span.newest = int(data[0]["id"])
            span.newest_at = parse_time(data[0].get("created_at"))
        return page

    def _keep(
        self, watch: Watch, account: Account, page: dict[str, Any], month: str
    ) -> tuple[int, int]:
        """Store a page's posts and count its cost: (how many were new, the month's spend)."""
        found = [
            dataclasses.replace(m, watch_id=watch.id)
            for m in mentions_from_payload(page, account_x_id=account.x_user_id)
        ]
        new = self.intake.store(account, found)
        posts = (page.get("meta") or {}).get("result_count", 0)
        with self.rt.sessions.begin() as session:
            spent = count_read(session, watch.id, month, posts, self._cost(page))
        return new, spent

    def _cost(self, page: dict[str, Any]) -> int:
        """What X bills for a page, in micro-dollars, before its once-a-day deduplication."""
        return sum(
            round(price_of(self.prices, charge.kind) * 1_000_000) * len(charge.resources)
            for charge in charges("GET", SEARCH_PATH, None, page, owned=False)
        )

    def _cut_short(self, watch_id: int, span: Span, now: datetime, why: str | None) -> None:
        with self.rt.sessions.begin() as session:
            read_cut_short(session, watch_id, span.as_json() if span.token else None, now, why)

    def _cap(self, watch: Watch, account: Account, span: Span, month: str, now: datetime) -> None:
        """The watch's budget is reached: it stops for the month, its channel told once."""
        # The notice is written in the channel's language, and posted by tell_watch.
        with in_channel(self.rt, watch.channel_id), self.rt.sessions.begin() as session:
            read_cut_short(session, watch.id, span.as_json() if span.token else None, now, None)
            first = cap(session, watch.id, month, watch.budget_micros)
            if first:
                text = capped_text(session.get_one(Watch, watch.id), account.handle, now)
        if first:
            self.rt.queue.enqueue(
                "bot.inbox.watch.tell_watch",
                watch.id,
                # Once a budget: a raise that is spent too is told again.
                f"watch:{watch.id}:capped:{month}:{watch.budget_micros}",
                text,
                retry=NOTICE_RETRY,
            )

    def _refused(self, watch: Watch, account: Account, why: str) -> None:
        logger.warning("watch %s: %s", watch.id, why)
        with self.rt.sessions.begin() as session:
            session.get_one(Watch, watch.id).refused = why
        with in_channel(self.rt, watch.channel_id):
            text = refused_text(watch, account.handle, why)
        self.rt.queue.enqueue(
            "bot.inbox.watch.tell_watch",
            watch.id,
            f"watch:{watch.id}:refused",
            text,
            retry=NOTICE_RETRY,
        )

    def _failed(self, watch_id: int, error: Exception) -> None:
        with self.rt.sessions.begin() as session:
            session.get_one(Watch, watch_id).last_error = str(error)
