"""Operational metrics for /metrics, in Prometheus's text format, read from shared state.

The web, worker and listener are separate processes, so nothing is counted in
memory: every value is read when Prometheus scrapes, from the database and
Redis, and the 429s every process meets are counted in Redis. A scrape is a
few indexed queries and a few Redis reads. When the database or Redis is down
it still answers, with `roost_up` 0 for it and without the metrics it holds.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import Connection, case, func, literal, select
from sqlalchemy.exc import SQLAlchemyError

from bot.rate_limits import SERVICES, rate_limit_key
from bot.runtime import Runtime
from bot.x.meter import total_key
from storage.mentions import MAX_CARD_ATTEMPTS
from storage.models import Account, IntakeCursor, Mention, Outbound, SetAside

logger = logging.getLogger(__name__)


def authorized(token: SecretStr | None, authorization: str | None) -> bool:
    """Whether an `Authorization` header may read the metrics: any, with no token set."""
    if token is None:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    # Bytes: compare_digest refuses str with characters outside ASCII.
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def metrics_registry(rt: Runtime) -> CollectorRegistry:
    """A registry of its own holding Roost's collector, for one web app."""
    registry = CollectorRegistry()
    registry.register(RoostCollector(rt))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus's text format (CONTENT_TYPE_LATEST)."""
    return generate_latest(registry)


class RoostCollector(Collector):
    """Reads every metric at scrape time; a dependency that fails leaves its metrics out."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "roost_up",
            "1 if the dependency answered this scrape, else 0 and the metrics read from it "
            "are left out.",
            labels=["dependency"],
        )
        from_database: list[Metric] | None = None
        try:
            with self.rt.engine.connect() as connection:
                from_database = database_metrics(connection, self.rt.clock())
        except SQLAlchemyError as exc:
            logger.info("metrics without the database: %s", exc)
        from_redis: list[Metric] | None = None
        try:
            from_redis = redis_metrics(self.rt.redis, self.rt.queues)
        except RedisError as exc:
            logger.info("metrics without Redis: %s", exc)
        spend: Metric | None = None
        if from_database is not None and from_redis is not None:
            try:
                spend = spend_metric(self.rt)
            except (SQLAlchemyError, RedisError) as exc:
                logger.info("metrics without X spend: %s", exc)
        up.add_metric(["database"], 0 if from_database is None else 1)
        up.add_metric(["redis"], 0 if from_redis is None else 1)
        yield up
        yield from from_database or []
        yield from from_redis or []
        if spend is not None:
            yield spend


def spend_metric(rt: Runtime) -> Metric:
    """What X has billed each account, as Roost counts it (bot.x.meter), by kind of call."""
    spent = CounterMetricFamily(
        "roost_x_spend_usd",
        "Dollars X bills for the account's calls, by kind (read:post, write:summoned_reply, "
        "...), as Roost counts them from X's pay-per-use prices (X_PRICES_FILE); kept while "
        "Redis keeps its data.",
        labels=["account", "kind"],
    )
    with rt.sessions() as session:
        accounts = list(
            session.execute(select(Account.id, Account.handle).order_by(Account.handle))
        )
    with rt.redis.pipeline(transaction=False) as pipe:
        for account_id, _ in accounts:
            pipe.hgetall(total_key(account_id))
        totals = pipe.execute()
    for (_, handle), micros in zip(accounts, totals, strict=True):
        for field, value in sorted(micros.items()):
            spent.add_metric([handle, field.decode().removesuffix(":micros")], int(value) / 1e6)
    return spent


def database_metrics(connection: Connection, now: datetime) -> list[Metric]:
    """Intake per account, outbound rows, undelivered mentions and what was set aside."""
    return [
        *_intake(connection, now),
        _outbound(connection),
        *_undelivered(connection, now),
        _set_aside(connection),
    ]


def _set_aside(connection: Connection) -> Metric:
    aside = GaugeMetricFamily(
        "roost_set_aside",
        "Input that failed the same way every time, kept out of the way for a person to look "
        "at (`roost accounts list` shows each with its reason), by kind: mention (the "
        "database refused it), rule (X refused an account's filtered-stream rule).",
        labels=["kind"],
    )
    counts = dict(
        connection.execute(select(SetAside.kind, func.count()).group_by(SetAside.kind)).all()
    )
    aside.add_metric(["mention"], counts.pop("mention", 0))
    for kind, count in counts.items():
        aside.add_metric([kind], count)
    return aside


def _intake(connection: Connection, now: datetime) -> list[Metric]:
    age = GaugeMetricFamily(
        "roost_intake_poll_age_seconds",
        "Seconds since the account's mentions timeline was last read through without error "
        "(intake_cursors.last_polled_at), or since the account was added if it never was: "
        "mentions newer than that may not be in Slack yet. Polling reads it every "
        "X_POLL_SECONDS; with X_INTAKE=stream only the back-fill at each connect does, so "
        "there it grows while the stream is up and says nothing about the stream.",
        labels=["account"],
        unit="seconds",
    )
    status = GaugeMetricFamily(
        "roost_intake_status",
        "1 for the account's intake status: active, or why intake stopped (revoked, "
        "forbidden, ...).",
        labels=["account", "status"],
    )
    limited = GaugeMetricFamily(
        "roost_x_limited_seconds",
        "Seconds until the X limit the account spent last ends (a 15-minute window or a "
        "daily cap; `limit` says which and what waits), 0 when none is spent. What waits "
        "goes out by itself then, once.",
        labels=["account", "limit"],
        unit="seconds",
    )
    rows = connection.execute(
        select(
            Account.handle,
            Account.intake_status,
            Account.created_at,
            IntakeCursor.last_polled_at,
            Account.x_limit,
            Account.x_limited_until,
        )
        .outerjoin(IntakeCursor, IntakeCursor.account_id == Account.id)
        .order_by(Account.handle)
    )
    for handle, intake_status, added_at, last_polled_at, x_limit, limited_until in rows:
        since = last_polled_at or added_at
        age.add_metric([handle], max(0.0, (now - since).total_seconds()))
        status.add_metric([handle, intake_status], 1)
        left = (limited_until - now).total_seconds() if limited_until is not None else 0.0
        limited.add_metric([handle, x_limit or ""], max(0.0, left))
    return [age, status, limited]


def _outbound(connection: Connection) -> Metric:
    rows = GaugeMetricFamily(
        "roost_outbound_rows",
        "Outbound rows (every post, reply, DM and retweet the team sends) by status and kind; "
        "a pair with no rows is left out.",
        labels=["status", "kind"],
    )
    counts = connection.execute(
        select(Outbound.status, Outbound.kind, func.count()).group_by(
            Outbound.status, Outbound.kind
        )
    )
    for status, kind, count in counts:
        rows.add_metric([status, kind], count)
    return rows


def _undelivered(connection: Connection, now: datetime) -> list[Metric]:
    waiting = GaugeMetricFamily(
        "roost_mentions_undelivered",
        "Stored mentions whose Slack message (card or thread reply) is not posted: waiting "
        "(queued or retrying), refused (Slack refused the last try; retried once the claim "
        f"is stale) or given_up (after {MAX_CARD_ATTEMPTS} tries: a person must look).",
        labels=["state"],
    )
    oldest = GaugeMetricFamily(
        "roost_mentions_undelivered_age_seconds",
        "Seconds since the oldest mention still waiting or refused was stored; 0 when none.",
        unit="seconds",
    )
    state = case(
        (Mention.card_attempts >= MAX_CARD_ATTEMPTS, literal("given_up")),
        (Mention.card_error.is_not(None), literal("refused")),
        else_=literal("waiting"),
    ).label("state")
    counts = {"waiting": 0, "refused": 0, "given_up": 0}
    stored_at: list[datetime] = []
    rows = connection.execute(
        select(state, func.count(), func.min(Mention.received_at))
        .where(Mention.card_posted_at.is_(None))
        .group_by(state)
    )
    for name, count, first in rows:
        counts[name] = count
        if name != "given_up" and first is not None:
            stored_at.append(first)
    for name, count in counts.items():
        waiting.add_metric([name], count)
    oldest.add_metric([], max(0.0, (now - min(stored_at)).total_seconds()) if stored_at else 0)
    return [waiting, oldest]


def redis_metrics(redis: Redis, queues: Sequence[Queue]) -> list[Metric]:
    """The queues' depths and the 429 counters."""
    limited = CounterMetricFamily(
        "roost_rate_limited",
        "HTTP 429 answers from Slack or X met by any Roost process, those waited out and "
        "retried included.",
        labels=["service"],
    )
    counted = redis.mget([rate_limit_key(service) for service in SERVICES])
    for service, value in zip(SERVICES, counted, strict=True):
        limited.add_metric([service], int(value or 0))
    jobs = GaugeMetricFamily(
        "roost_queue_jobs",
        "Jobs on each RQ queue (queued) and in its scheduled, started and failed registries.",
        labels=["queue", "state"],
    )
    for queue in queues:
        # Counted without rq's cleanup: a scrape reads, the workers tidy.
        jobs.add_metric([queue.name, "queued"], queue.count)
        registries = {
            "scheduled": queue.scheduled_job_registry,
            "started": queue.started_job_registry,
            "failed": queue.failed_job_registry,
        }
        for name, registry in registries.items():
            jobs.add_metric([queue.name, name], registry.get_job_count(cleanup=False))
    return [limited, jobs]
