"""Mention intake: from each account's network into storage and onto the queue, nothing
lost, nothing doubled.

Polling (the default) reads each account's mentions through its network's adapter
(`Network.mentions`) since its cursor. The stream mode holds X's filtered stream for X's
accounts and, after every connect, back-fills from the timeline, because X only replays
a stream's gap on Enterprise plans. Either way a post is stored once (unique per account
and post number), its delivery is queued, and the cursor moves only after what it covers
is stored: a listener killed mid-burst resumes where it stopped and the duplicates it
re-reads are ignored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import Forbidden, NetworkError, RateLimited, RoostError, TokenRevoked
from bot.i18n import N_, _
from bot.inbox.delivery import queue_deliveries
from bot.inbox.network_posts import incoming, since_added
from bot.lease import LEASE_SECONDS, Lease
from bot.networks.base import MentionPage, Network
from bot.networks.x import XNetwork
from bot.runtime import Runtime
from bot.slack.client import translate_errors
from bot.slack.mrkdwn import escape
from bot.team.budget import POLL_WORST_CASE, budget_of
from bot.team.credentials import REFRESH_AHEAD
from bot.team.language import in_channel
from bot.team.networks import network_for
from bot.x.client import XClient
from bot.x.normalize import mentions_from_payload
from storage.accounts import active_accounts, cursor, note_x_limit, stop_intake
from storage.mentions import Edit, IncomingMention, apply_edits, store_mentions
from storage.models import Account
from storage.set_aside import set_aside

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
"""The longest wait between tries while X keeps failing for an account."""

FIRST_BACKOFF = timedelta(seconds=5)

STORE_BATCH = 100
"""Mentions stored per transaction."""

OUTAGE_WAIT = 5.0
"""Seconds between a listener's tries while Redis or the database is down."""

NOTICE_RETRY = Retry(max=3, interval=[5, 30, 120])


@dataclass
class AccountIntake:
    """What this process knows about reading one account, between polls."""

    account_id: int
    lease: Lease
    next_poll_at: datetime
    backoff: timedelta = FIRST_BACKOFF


class LeaseLost(RoostError):
    """This listener no longer holds the account's lease; another one reads it now."""


class Intake:
    """Stores mentions read from X, Bluesky and Mastodon and queues their delivery, for one
    process."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._networks: dict[int, tuple[str, Network]] = {}
        # What each account's latest read said besides its posts: whether it paused, and
        # when the network lets it read again (the Listener's and the stream's to heed).
        self.latest: dict[int, MentionPage] = {}

    def network(self, account: Account) -> Network:
        """The account's adapter, kept between polls (and its connections with it)."""
        cached = self._networks.get(account.id)
        if cached is None or cached[0] != account.credentials or self._expiring(account):
            if cached is not None:
                cached[1].close()
            cached = (account.credentials, network_for(self.rt, account))
            self._networks[account.id] = cached
        return cached[1]

    def client(self, account: Account) -> XClient:
        """The X account's client, for what only X offers (its search, bot.inbox.watch)."""
        network = self.network(account)
        if not isinstance(network, XNetwork):
            raise TypeError(f"@{account.handle} is not on X")  # not spoken: a bug
        return network.client

    def close(self) -> None:
        """Let go of every adapter's connections."""
        for _credentials, network in self._networks.values():
            network.close()
        self._networks.clear()

    def _expiring(self, account: Account) -> bool:
        """An OAuth 2.0 token about to lapse: building the adapter refreshes it (once, under
        a lock)."""
        expires = account.token_expires_at
        return (
            account.auth_kind == "oauth2"
            and expires is not None
            and expires - REFRESH_AHEAD <= self.rt.clock()
        )

    def ingest(self, account: Account, payload: dict[str, Any], *, advance: bool = False) -> int:
        """Normalize, store (once) and queue delivery; returns how many were new.

        With `advance`, the account's cursor moves to the newest tweet in the
        payload, in the same transaction: the stream does this once a
        back-fill has made the account's intake complete up to the stream.
        """
        mentions = mentions_from_payload(payload, account_x_id=account.x_user_id)
        return self.store(account, mentions, advance=advance)

    def store(
        self, account: Account, mentions: list[IncomingMention], *, advance: bool = False
    ) -> int:
        """Store (once) and queue delivery of normalized mentions; returns how many were new.

        A mention the database refuses (it is not down: it says no to that row) is set
        aside with the reason, and the others are stored without it, so one bad post
        never holds back the ones after it.
        """
        now = self.rt.clock()
        edits: list[Edit] = []
        try:
            with self.rt.sessions.begin() as session:
                fresh, edits = apply_edits(session, account.id, mentions, now)
                new = store_mentions(session, account.id, fresh, now)
                if advance and mentions:
                    _advance(session, account.id, max(m.tweet_id for m in mentions), now)
        except SQLAlchemyError as exc:
            if not refused(exc):
                raise
            new, edits = self._store_each(account, mentions, now)
            if advance and mentions:
                with self.rt.sessions.begin() as session:
                    _advance(session, account.id, max(m.tweet_id for m in mentions), now)
        self._enqueue(account.id, new)
        self._show_edits(edits)
        return len(new)

    def _show_edits(self, edits: list[Edit]) -> None:
        for edit in edits:
            try:
                self.rt.card_queue.enqueue(
                    "bot.inbox.edits.show_edit",
                    edit.mention_id,
                    edit.version_id,
                    edit.old_text,
                    job_id=f"edit-{edit.mention_id}-{edit.version_id}",
                    retry=NOTICE_RETRY,
                    result_ttl=0,
                )
            except RedisError as exc:
                # The new text is stored; the card shows it at its next refresh.
                logger.error("edit of mention %s not shown (%s)", edit.mention_id, exc)

    def _store_each(
        self, account: Account, mentions: list[IncomingMention], now: datetime
    ) -> tuple[list[int], list[Edit]]:
        """One transaction a mention: those the database refuses are set aside."""
        new: list[int] = []
        edits: list[Edit] = []
        for mention in mentions:
            try:
                with self.rt.sessions.begin() as session:
                    fresh, edited = apply_edits(session, account.id, [mention], now)
                    new += store_mentions(session, account.id, fresh, now)
                    edits += edited
            except SQLAlchemyError as exc:
                if not refused(exc):
                    raise
                reason = _first_line(exc)
                logger.error(
                    "@%s: post %s set aside, the database refuses it: %s",
                    account.handle,
                    mention.tweet_id,
                    reason,
                )
                with self.rt.sessions.begin() as session:
                    set_aside(  # not spoken: for `roost accounts list` and /metrics
                        session,
                        "mention",
                        f"account {account.id}, post {mention.tweet_id}",
                        f"The database refused this post: {reason}",
                        now,
                        account.id,
                    )
        return new, edits

    def poll(
        self,
        account: Account,
        *,
        position: str | None = None,
        still_held: Callable[[], bool] = lambda: True,
    ) -> int:
        """Read the account's mentions since its cursor (or `position`) and store them.

        The cursor moves only once what it covers is stored, and a read that stopped at
        its bound goes on from there at once. A read the network's adapter paused (X's hard
        cap, which the next page could pass) stores what it read, and the cursor stays for
        the rest. A first read, with no cursor yet, takes only mentions posted since the
        account was added: connecting an account does not replay its history.
        `still_held` is asked before each page, so a listener whose lease ran out during a
        long burst stops before its standby starts the same.
        """
        network = self.network(account)

        def held() -> None:
            if not still_held():
                raise LeaseLost(f"another listener took over @{account.handle}")  # not spoken

        stored, more = 0, True
        while more:
            with self.rt.sessions.begin() as session:
                kept = cursor(session, account.id, self.rt.clock()).position
            start = position or kept
            page = network.mentions(start, since=account.created_at, before_page=held)
            posts = page.posts if start is not None else since_added(page.posts, account.created_at)
            with self.rt.sessions.begin() as session:
                mentions = incoming(session, account.id, account.network, posts)
            stored += sum(
                self.store(account, mentions[first : first + STORE_BATCH])
                for first in range(0, len(mentions), STORE_BATCH)
            )
            with self.rt.sessions.begin() as session:
                now = self.rt.clock()
                entry = cursor(session, account.id, now)
                # Only forward: a back-fill that starts before the cursor (X's stream) may
                # end there too, and the stream may have moved it meanwhile.
                if page.cursor is not None and page.paused is None:
                    if entry.position is None or network.after(page.cursor, entry.position):
                        entry.position = page.cursor
                        entry.updated_at = now
                entry.last_polled_at = now
                entry.last_error = page.paused
            self.latest[account.id] = replace(page, posts=[])
            if page.paused is not None:
                logger.info("@%s: intake paused mid-way, %s", account.handle, page.paused)
            more = page.more and page.paused is None and page.cursor not in (None, start)
            position = None
        return stored

    def note_error(self, account_id: int, error: Exception) -> None:
        """Keep the latest intake error on the account's cursor, for `roost accounts list`."""
        with self.rt.sessions.begin() as session:
            cursor(session, account_id, self.rt.clock()).last_error = str(error)

    def stop(self, account: Account, error: NetworkError) -> None:
        """Stop reading an account whose token or plan its network refuses; tell its
        channel once."""
        status = "revoked" if isinstance(error, TokenRevoked) else "forbidden"
        with self.rt.sessions.begin() as session:
            first = stop_intake(session, account.id, status, str(error), self.rt.clock())
        logger.error("intake for @%s stopped: %s", account.handle, error)
        if first:
            self.rt.queue.enqueue(notify_intake_stopped, account.id, retry=NOTICE_RETRY)

    def _enqueue(self, account_id: int, tweet_ids: list[int]) -> None:
        try:
            queue_deliveries(self.rt, account_id, tweet_ids)
        except RedisError as exc:
            # Stored is safe: the worker's sweep queues them once Redis answers again.
            logger.error("could not queue %d deliveries (%s)", len(tweet_ids), exc)


def refused(exc: SQLAlchemyError) -> bool:
    """Whether the database refused the data (a value too long, a character it cannot
    hold), as opposed to not answering (an outage, which pauses intake instead)."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _first_line(exc: Exception) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip()
    return (detail.splitlines() or [type(exc).__name__])[0][:300]


def _which(exc: Exception) -> str:
    return "Redis" if isinstance(exc, RedisError) else "the database"  # not spoken: for the log


def _advance(session: Session, account_id: int, tweet_id: int, now: datetime) -> None:
    """Move an X account's cursor to `tweet_id`, if that is newer (X's ids rise with time)."""
    entry = cursor(session, account_id, now)
    if entry.position is None or tweet_id > int(entry.position):
        entry.position = str(tweet_id)
    entry.updated_at = now


@dataclass
class Listener:
    """The `listener` process: polls the accounts whose lease it holds (on X, unless X's
    stream reads them, on Bluesky and on Mastodon).

    Every account has its own lease, so several listeners on several
    machines share the accounts, and a standby takes over an account
    within one lease period after its holder dies.
    """

    rt: Runtime
    lease_seconds: float = LEASE_SECONDS
    outage_wait: float = OUTAGE_WAIT
    # The networks whose accounts it reads (None: every one); beside X's stream, the others.
    networks: tuple[str, ...] | None = None
    intake: Intake = field(init=False)
    held: dict[int, AccountIntake] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.intake = Intake(self.rt)

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.rt.settings.poll_seconds)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; leases are given back on the way out.

        Without Redis no lease can be held, and without the database nothing
        can be stored: intake then pauses, and resumes from its cursors once
        both answer, so what X received meanwhile is read then.
        """
        warning = self.rt.settings.poll_warning()
        if warning is not None:
            logger.warning(warning)
        try:
            while not stop.is_set():
                try:
                    wait = self.cycle()
                except (RedisError, SQLAlchemyError) as exc:
                    # The leases are kept: once Redis answers they renew, or,
                    # if they expired meanwhile, are taken again.
                    logger.error("intake paused: %s failed (%s)", _which(exc), exc)
                    wait = self.outage_wait
                stop.wait(wait)
        finally:
            self.release_all()

    def cycle(self) -> float:
        """Renew leases, poll every held account that is due; seconds until the next due."""
        now = self.rt.clock()
        with self.rt.sessions() as session:
            accounts = {a.id: a for a in active_accounts(session, self.networks)}
        for gone in set(self.held) - set(accounts):
            self.held.pop(gone).lease.release()
        for account in accounts.values():
            entry = self.held.get(account.id) or AccountIntake(
                account.id,
                Lease(self.rt.redis, f"intake:{account.id}", seconds=self.lease_seconds),
                now,
            )
            if not entry.lease.acquire():
                self.held.pop(account.id, None)
                continue
            self.held[account.id] = entry
            if entry.next_poll_at <= now:
                self._poll(account, entry)
        renew_by = self.rt.clock() + timedelta(seconds=self.lease_seconds / 3)
        next_due = min([e.next_poll_at for e in self.held.values()] + [renew_by])
        return max(0.05, (next_due - self.rt.clock()).total_seconds())

    def _poll(self, account: Account, entry: AccountIntake) -> None:
        now = self.rt.clock()
        budget = budget_of(self.rt, account)
        if budget is not None and budget.refuses(POLL_WORST_CASE):
            # A hard cap: no read that could pass it. The sweep tells the channel; an owner
            # raising the budget, or the next month, resumes from the cursor, nothing lost.
            logger.info("@%s: intake paused, %s", account.handle, budget.why())
            entry.next_poll_at = now + self.interval
            return
        try:
            stored = self.intake.poll(account, still_held=entry.lease.renew)
        except LeaseLost as exc:
            logger.warning("%s; standing by", exc)
            self.held.pop(account.id)
            return
        except (TokenRevoked, Forbidden) as exc:
            self.intake.stop(account, exc)
            self.held.pop(account.id).lease.release()
            return
        except RateLimited as exc:
            logger.warning("@%s: %s", account.handle, exc)
            entry.next_poll_at = max(exc.reset_at, now + self.interval)
            self.intake.note_error(account.id, exc)
            with self.rt.sessions.begin() as session:
                note_x_limit(  # not spoken: a /metrics label, and `roost accounts list`'s
                    session, account.id, f"mentions reads ({exc.window})", exc.reset_at
                )
            return
        except (RoostError, SQLAlchemyError) as exc:
            if isinstance(exc, SQLAlchemyError) and not refused(exc):
                raise  # the database is down: intake pauses for every account
            # X failing, this account's tokens unreadable, or something of its the database
            # refuses: back off for this account only; the others go on.
            logger.warning("@%s: %s; trying again in %s", account.handle, exc, entry.backoff)
            entry.next_poll_at = now + entry.backoff
            entry.backoff = min(entry.backoff * 2, MAX_BACKOFF)
            self.intake.note_error(account.id, exc)
            return
        if stored:
            logger.info("@%s: %d new mentions", account.handle, stored)
        entry.backoff = FIRST_BACKOFF
        entry.next_poll_at = now + self.interval
        latest = self.intake.latest.get(account.id)
        resting = latest.next_read_at if latest is not None else None
        if resting is not None and resting > entry.next_poll_at:
            logger.info("@%s: its network's limit is spent until %s", account.handle, resting)
            entry.next_poll_at = resting

    def release_all(self) -> None:
        release_all(self.held)
        self.intake.close()


def release_all(held: dict[int, Any]) -> None:
    """Give back every lease in `held` (entries with a `lease`), and forget them."""
    for entry in held.values():
        try:
            entry.lease.release()
        except RedisError:
            pass  # the lease expires by itself
    held.clear()


def notify_intake_stopped(account_id: int) -> None:
    """RQ job: tell the account's channel, once, that its intake stopped and why."""
    rt = runtime.current()
    with rt.sessions.begin() as session:
        account = session.get_one(Account, account_id)
        channel, handle, error = account.channel_id, account.handle, account.intake_error
        network = account.network
    with translate_errors(channel), in_channel(rt, channel):
        text = intake_stopped(handle, channel, error, network)
        rt.slack.chat_postMessage(channel=channel, text=text)


_RECONNECT = {
    "x": N_(
        "Mentions will flow again once the account is reconnected: *Connect an account* "
        "in `/roost accounts`, or on the server `roost accounts add --handle {handle} "
        "--channel {channel} ...` with fresh tokens."
    ),
    "bluesky": N_(
        "Mentions will flow again once the account is reconnected with a new app "
        "password: *Connect Bluesky* in `/roost accounts`, or on the server `roost "
        "accounts add --network bluesky --handle {handle} --app-password - --channel "
        "{channel}`."
    ),
    "mastodon": N_(
        "Mentions will flow again once the account is reconnected with a new access "
        "token: *Connect Mastodon* in `/roost accounts`, or on the server `roost accounts "
        "add --network mastodon --service-url ... --access-token - --channel {channel}`."
    ),
}
"""How an account whose intake stopped is connected again, on its network."""


def intake_stopped(handle: str, channel: str, error: str | None, network: str = "x") -> str:
    """The one notice a channel gets when the network refuses its account's token or plan,
    saying how to reconnect it there."""
    stopped = _(":warning: Roost stopped reading mentions of *@{handle}*: {error}").format(
        handle=escape(handle), error=escape(error or _("unknown error"))
    )
    again = _(_RECONNECT.get(network, _RECONNECT["x"]))
    return stopped + "\n" + again.format(handle=escape(handle), channel=channel)
