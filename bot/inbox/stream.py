"""Stream intake: X's filtered stream, with a timeline back-fill after every connect.

X allows one filtered-stream connection per app, so one listener holds the
stream lease and reads for every account; the others stand by. Rules are
derived from the accounts (`@handle -is:retweet`, tagged with the account id);
a rule X refuses (in the errors of a 200 answer) is logged, set aside for
`roost accounts list` and /metrics, and tried again, while that account's
timeline is read instead. A rule with the same value under another tag (X
keeps one rule per value) is used as it is: tweets are routed by rule id. tweepy's
StreamingClient keeps the connection and reconnects with X's backoff; each
time it connects, each account's mentions timeline is read from just before
its cursor, which covers whatever the stream missed while it was down. A
back-fill that fails is retried while the stream runs, and until it succeeds
the stream does not move that account's cursor.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from functools import partial
from typing import Any

import tweepy
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import RoostError, XError, XForbidden, XTokenRevoked
from bot.inbox.intake import OUTAGE_WAIT, Intake
from bot.lease import LEASE_SECONDS, Lease
from bot.rate_limits import count_rate_limit
from bot.runtime import Runtime
from bot.team.budget import POLL_WORST_CASE, Budget, budget_of
from bot.x.client import MENTION_FIELDS, mount, translate_errors
from bot.x.meter import Meter
from bot.x.prices import charges, load_prices, price_of
from storage.accounts import active_accounts, cursor
from storage.models import Account
from storage.set_aside import forget, set_aside

logger = logging.getLogger(__name__)

STREAM_PATH = "/2/tweets/search/stream"

X_ONLY = ("x",)
"""The stream is X's: accounts on other networks are polled beside it (bot.inbox.intake)."""

RULE_TAG_PREFIX = "roost:"
"""Rules Roost manages are tagged `roost:<account id>`; others are left alone (yet used,
when one has the very value an account needs: X keeps one rule per value)."""

BACKFILL_OVERLAP_MS = 120_000
"""The back-fill re-reads this much before the account's cursor: a stream may
deliver near-simultaneous tweets out of order, and duplicates are free."""

BACKFILL_RETRY_SECONDS = 60.0
"""How often a failed back-fill is tried again while the stream runs."""

SNOWFLAKE_TIME_SHIFT = 22
"""X ids carry their creation time (ms) above bit 22, so an id can be moved back in time."""


REFUSED_WAIT = timedelta(minutes=5)
"""How long to stand aside after X refused the app's bearer token."""

SETUP_WAIT = timedelta(minutes=1)
"""How long to wait after the rules could not be read or set."""


def bearer_refused(why: str) -> str:
    """Why the stream stopped, for the log."""
    return (  # not spoken: for the log
        f"X refused X_BEARER_TOKEN ({why}): check the app's bearer token and that its plan "
        "includes the filtered stream, or use X_INTAKE=poll."
    )


def stream_rules(accounts: list[Account]) -> dict[str, str]:
    """The rules the accounts need: tag -> value. Retweets are left out at X, as its own
    example for mentions does: each would be a paid read that normalize drops anyway."""
    return {f"{RULE_TAG_PREFIX}{a.id}": f"@{a.handle} -is:retweet" for a in accounts}


def backfill_since(complete_to: int | None) -> int | None:
    """The since_id for a back-fill: a little before where the account's intake is complete."""
    if complete_to is None:
        return None
    return max(1, complete_to - (BACKFILL_OVERLAP_MS << SNOWFLAKE_TIME_SHIFT))


class MentionStream(tweepy.StreamingClient):
    """tweepy's stream, with Roost's handling of connects and tweets."""

    def __init__(self, rt: Runtime, intake: Intake) -> None:
        assert rt.settings.x_bearer_token is not None, "Settings.require('listener') checks it"
        super().__init__(rt.settings.x_bearer_token.get_secret_value(), return_type=dict)
        mount(
            self.session,
            rt.settings.x_api_url,
            on_rate_limit=partial(count_rate_limit, rt.redis, "x"),
        )
        self.rt = rt
        self.intake = intake
        self.accounts: dict[int, Account] = {}
        self.rule_accounts: dict[str, int] = {}  # X's rule id -> the account it serves
        # Rules Roost deleted, and the account each served: a line already on its way when
        # its rule went is still billed, so still counted and stored.
        self.retired: dict[str, Account] = {}
        self.unruled: dict[int, str] = {}  # account id -> why X has no rule for it
        self.paused: set[int] = set()  # accounts whose hard cap paused their stream
        self.meters: dict[int, Meter] = {}  # by account: built once, not for every line
        # Micro-dollars a hard-capped account's stream may still bill before its rule must
        # go, as of the last look at its budget; lines count it down as they come.
        self.headroom: dict[int, int] = {}
        self.fatal: str | None = None
        self.backfills = 0
        # Accounts whose last back-fill has not succeeded yet.
        self.pending: set[int] = set()
        # Back-fills (main thread) and stream lines (tweepy's thread) take turns.
        self.lock = threading.RLock()

    def sync_rules(self) -> None:
        """Make X's rules match the accounts: add what is missing, delete what is stale;
        then learn which rule serves which account, and which account X gave none."""
        with self.rt.sessions() as session:
            active = active_accounts(session, X_ONLY)
        accounts, headroom = self._streaming(active)
        paused = {a.id for a in active} - {a.id for a in accounts}
        wanted = stream_rules(accounts)
        with translate_errors("reading the stream rules"):  # not spoken: for the log
            current = self.get_rules().get("data") or []
        ours = [r for r in current if str(r.get("tag", "")).startswith(RULE_TAG_PREFIX)]
        stale = [r["id"] for r in ours if wanted.get(r["tag"]) != r["value"]]
        present = {r["value"] for r in current if r["id"] not in stale}
        missing = [
            tweepy.StreamRule(value, tag) for tag, value in wanted.items() if value not in present
        ]
        refused: dict[str, str] = {}
        with translate_errors("updating the stream rules"):  # not spoken: for the log
            if stale:
                self.delete_rules(stale)
            if missing:
                answer = self.add_rules(missing)
                for error in answer.get("errors") or []:
                    why = (  # not spoken: for the log and `roost accounts list`
                        error.get("detail") or error.get("title") or "no reason given"
                    )
                    refused[str(error.get("value"))] = str(why)
                current = self.get_rules().get("data") or []
        rule_ids = {r["value"]: str(r["id"]) for r in current}
        rule_accounts: dict[str, int] = {}
        unruled: dict[int, str] = {}
        for account in accounts:
            value = wanted[f"{RULE_TAG_PREFIX}{account.id}"]
            if value in rule_ids:
                rule_accounts[rule_ids[value]] = account.id
            else:
                unruled[account.id] = refused.get(value, "X did not keep the rule")  # not spoken
        self._record_refusals(accounts, wanted, unruled)
        # Accounts served before whose rule is new (X granted one it had refused, or another
        # tool deleted the one they relied on): the stream missed what came in between.
        before = {account_id: rule_id for rule_id, account_id in self.rule_accounts.items()}
        regained = {
            account_id
            for rule_id, account_id in rule_accounts.items()
            if (account_id in self.accounts or account_id in self.paused)
            and before.get(account_id) != rule_id
        }
        # Whole, and only now: the stream's thread reads them as tweets come.
        with self.lock:
            for rule_id, account_id in self.rule_accounts.items():
                if rule_id not in rule_accounts and account_id in self.accounts:
                    self.retired[rule_id] = self.accounts[account_id]
            self.accounts = {a.id: a for a in accounts}
            self.rule_accounts, self.unruled, self.paused = rule_accounts, unruled, paused
            self.headroom = headroom
            # An account the stream no longer serves is not waiting for a back-fill here:
            # when it is served again, it is back-filled from its cursor then (`regained`).
            self.pending &= set(self.accounts)
        if regained:
            self.backfill(regained)

    def _record_refusals(
        self, accounts: list[Account], wanted: dict[str, str], unruled: dict[int, str]
    ) -> None:
        """Log and set aside each rule X refused; forget those it now keeps."""
        now = self.rt.clock()
        with self.rt.sessions.begin() as session:
            for account in accounts:
                value = wanted[f"{RULE_TAG_PREFIX}{account.id}"]
                ref = f"stream rule {value}"  # not spoken: a set-aside's name
                why = unruled.get(account.id)
                if why is None:
                    forget(session, "rule", ref)
                    continue
                logger.error(
                    "X refused the stream rule for @%s (%s); reading its timeline instead "
                    "and asking again",
                    account.handle,
                    why,
                )
                # Set aside for `roost accounts list` and /metrics: for the operator.
                reason = f"X refused the filtered-stream rule: {why}"  # not spoken
                set_aside(session, "rule", ref, reason, now, account.id)

    def accounts_changed(self) -> bool:
        """Whether accounts were added, removed, renamed, paused or resumed by their budget
        since the rules were set."""
        with self.rt.sessions() as session:
            streaming, headroom = self._streaming(active_accounts(session, X_ONLY))
        with self.lock:  # what the stream may still bill, as the budgets say it now
            self.headroom = {k: v for k, v in headroom.items() if k in self.headroom}
        return stream_rules(streaming) != stream_rules(list(self.accounts.values()))

    def _streaming(self, accounts: list[Account]) -> tuple[list[Account], dict[int, int]]:
        """The accounts to stream for: not those whose hard cap a page of mentions could
        pass (X bills each post the stream delivers). Their rule goes, and comes back, with
        a read of the timeline from the cursor, once an owner raises the budget. And for
        each hard-capped one, the micro-dollars its stream may bill before that margin."""
        kept = []
        headroom: dict[int, int] = {}
        for account in accounts:
            budget = budget_of(self.rt, account)
            if budget is not None and budget.refuses(POLL_WORST_CASE):
                logger.info("@%s: stream paused, %s", account.handle, budget.why())
                continue
            if isinstance(budget, Budget) and budget.hard:
                margin = round(budget.cost(POLL_WORST_CASE) * 1_000_000)
                headroom[account.id] = budget.micros - budget.spent_micros - margin
            kept.append(account)
        return kept, headroom

    def backfill(self, account_ids: set[int] | None = None) -> None:
        """Read the timelines of these accounts (all by default) from their cursors.

        An account stays pending until its back-fill succeeds: meanwhile the
        stream's tweets do not move its cursor, so a gap before them is read
        by the retry rather than skipped.
        """
        with self.lock:
            for account in list(self.accounts.values()):
                if account_ids is not None and account.id not in account_ids:
                    continue
                self.pending.add(account.id)
                with self.rt.sessions.begin() as session:
                    position = cursor(session, account.id, self.rt.clock()).position
                since = backfill_since(int(position) if position else None)
                try:
                    stored = self.intake.poll(account, position=str(since) if since else None)
                except (XTokenRevoked, XForbidden) as exc:
                    self.intake.stop(account, exc)
                    self.accounts.pop(account.id, None)
                    self.pending.discard(account.id)
                    continue
                except RoostError as exc:
                    logger.warning(
                        "back-fill for @%s failed, retried soon: %s", account.handle, exc
                    )
                    continue
                if stored:
                    logger.info("back-filled %d mentions of @%s", stored, account.handle)
                latest = self.intake.latest.get(account.id)
                if latest is not None and latest.paused is not None:
                    # Read only in part (a hard cap): the stream must not move the cursor
                    # past the rest, which the next back-fill reads once the budget allows.
                    logger.info("back-fill for @%s paused: %s", account.handle, latest.paused)
                    continue
                self.pending.discard(account.id)
            self.backfills += 1

    def on_connect(self) -> None:
        logger.info("stream connected; back-filling from the timelines")
        self.backfill()

    def on_data(self, raw_data: bytes) -> None:
        payload: dict[str, Any] = json.loads(raw_data)
        if "data" not in payload:
            logger.warning("stream message without data: %s", payload.get("errors"))
            return
        with self.lock:
            billed = False
            for rule in payload.get("matching_rules") or []:
                rule_id = str(rule.get("id"))
                account_id = self.rule_accounts.get(rule_id)
                account = self.accounts.get(account_id) if account_id is not None else None
                account = account or self.retired.get(rule_id)
                if account is not None:
                    if not billed:  # X bills the app once a line, whatever rules matched
                        self._meter(account.id, payload)
                        billed = True
                    complete = account.id not in self.pending
                    self.intake.ingest(account, payload, advance=complete)

    def _meter(self, account_id: int, payload: dict[str, Any]) -> None:
        """What X bills for a stream line (its posts and users, as reads), counted as the
        first matching account's."""
        meter = self.meters.get(account_id)
        if meter is None:
            prices = load_prices(self.rt.settings.x_prices_file)
            meter = self.meters[account_id] = Meter(
                self.rt.redis, prices, account_id, self.rt.clock
            )
        found = charges("GET", STREAM_PATH, None, payload, owned=False)
        meter(found)
        if account_id in self.headroom:
            self.headroom[account_id] -= sum(
                round(price_of(meter.prices, c.kind) * 1_000_000) * len(c.resources) for c in found
            )
            if self.headroom[account_id] < 0:
                self._cap_reached(account_id)

    def _cap_reached(self, account_id: int) -> None:
        """The account's stream has billed what its hard cap leaves, short of the margin a
        page of mentions keeps: its rule goes now, from this thread, not at the next look.
        Lines already on their way are still stored; the budget's next look pauses it."""
        del self.headroom[account_id]
        rule_ids = [rule for rule, owner in self.rule_accounts.items() if owner == account_id]
        logger.info(
            "@%s: hard cap near; its stream rule goes now", self.accounts[account_id].handle
        )
        try:
            with translate_errors("pausing a stream rule at its budget"):  # not spoken: the log
                self.delete_rules(rule_ids)
        except XError as exc:
            logger.error("stream rule of account %s not deleted: %s", account_id, exc)

    def on_request_error(self, status_code: int) -> None:
        if status_code in (401, 403):
            self.fatal = bearer_refused(str(status_code))
            logger.error(self.fatal)
            self.disconnect()
        else:
            logger.warning("stream answered %s; tweepy reconnects with X's backoff", status_code)

    def on_connection_error(self) -> None:
        logger.warning("stream connection dropped; reconnecting")

    def on_closed(self, response: Any) -> None:
        logger.warning("X closed the stream; reconnecting")


class StreamListener:
    """The `listener` process in stream mode: holds the stream lease, or stands by."""

    def __init__(
        self,
        rt: Runtime,
        *,
        lease_seconds: float = LEASE_SECONDS,
        retry_seconds: float = BACKFILL_RETRY_SECONDS,
        rules_retry_seconds: float = SETUP_WAIT.total_seconds(),
        outage_wait: float = OUTAGE_WAIT,
    ) -> None:
        self.rt = rt
        self.rules_retry_seconds = rules_retry_seconds
        self.intake = Intake(rt)
        self.lease = Lease(rt.redis, "intake:stream", seconds=lease_seconds)
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self.outage_wait = outage_wait
        self.stream: MentionStream | None = None

    def run(self, stop: threading.Event) -> None:
        """Stream while holding the lease; renew it; give it back when stopped.

        While Redis or the database is down the stream is closed and intake
        pauses; the back-fill at the next connect reads what came meanwhile.
        """
        try:
            while not stop.is_set():
                try:
                    if not self.lease.acquire():
                        stop.wait(self.lease_seconds / 3)
                        continue
                    self._stream_while_held(stop)
                except (RedisError, SQLAlchemyError) as exc:
                    logger.error("stream intake paused: %s", exc)
                    stop.wait(self.outage_wait)
        finally:
            try:
                self.lease.release()
            except RedisError:
                pass  # the lease expires by itself

    def _stream_while_held(self, stop: threading.Event) -> None:
        stream = self.stream = MentionStream(self.rt, self.intake)
        try:
            stream.sync_rules()
        except (XTokenRevoked, XForbidden) as exc:
            logger.error(bearer_refused(type(exc).__name__))
            stop.wait(REFUSED_WAIT.total_seconds())
            return
        except XError as exc:
            logger.error("cannot set up the stream: %s; trying again in a minute", exc)
            stop.wait(SETUP_WAIT.total_seconds())
            return
        thread = stream.filter(threaded=True, **MENTION_FIELDS)
        try:
            last_retry = last_rules = time.monotonic()
            tick = min(self.lease_seconds / 3, self.retry_seconds, self.rules_retry_seconds)
            while not stop.is_set() and thread.is_alive():
                stop.wait(tick)
                if not self.lease.renew():
                    logger.warning("lost the stream lease; standing by")
                    break
                # Now and then even when nothing changed here: X may have refused a rule,
                # and another tool may have deleted one of the same value Roost relied on.
                rules_due = time.monotonic() - last_rules >= self.rules_retry_seconds
                if stream.accounts_changed() or rules_due:
                    stream.sync_rules()
                    last_rules = time.monotonic()
                # Accounts without a rule are read from their timelines meanwhile.
                behind = set(stream.pending) | set(stream.unruled)
                if behind and time.monotonic() - last_retry >= self.retry_seconds:
                    stream.backfill(behind)
                    last_retry = time.monotonic()
        finally:
            stream.disconnect()
            thread.join(timeout=30)
        if stream.fatal:
            stop.wait(REFUSED_WAIT.total_seconds())
