"""Queries for digests and team figures: schedules, the once-a-day claim, and the rows
the figures are computed from. A digest's numbers are computed in bot.digest, not here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, DateTime, func, select, type_coerce, update
from sqlalchemy.orm import Session, aliased

from storage.assignments import OPEN
from storage.db import insert_into
from storage.models import (
    Account,
    Digest,
    DigestSchedule,
    Event,
    Grant,
    Member,
    Mention,
    Outbound,
    Post,
)


class ResponseRow(NamedTuple):
    """A mention as the figures see it."""

    account_id: int
    created_at: datetime
    first_response_at: datetime | None
    responder: str | None  # Slack user id of who answered first
    resolved_at: datetime | None
    resolver: str | None  # Slack user id of who resolved it


class OpenCard(NamedTuple):
    mention: Mention
    handle: str
    assignee: str | None  # Slack user id


class ScheduledRow(NamedTuple):
    post_id: int
    run_at: datetime
    text: str
    handle: str


def digest_channels(session: Session) -> list[str]:
    """Every channel with a digest: those accounts' cards go to.

    A department's routed channel has none: its digest would list the whole
    account's work, not the department's.
    """
    return sorted(set(session.scalars(select(Account.channel_id))))


def schedules(session: Session) -> dict[str, DigestSchedule]:
    return {row.channel_id: row for row in session.scalars(select(DigestSchedule))}


def save_schedule(
    session: Session,
    channel_id: str,
    *,
    at_minute: int,
    tz: str | None,
    weekdays_only: bool,
    enabled: bool,
    set_by: str,
    now: datetime,
) -> None:
    values = {
        "at_minute": at_minute,
        "tz": tz,
        "weekdays_only": weekdays_only,
        "enabled": enabled,
        "set_by": set_by,
        "updated_at": now,
    }
    session.execute(
        insert_into(session, DigestSchedule.__table__)
        .values(channel_id=channel_id, **values)
        .on_conflict_do_update(index_elements=["channel_id"], set_=values)
    )


def scope_accounts(session: Session, channel_id: str) -> list[Account]:
    """The accounts a channel's digest covers: those whose cards go there. A channel with
    none has no digest, so that no channel shows accounts its members may not see."""
    return list(
        session.scalars(
            select(Account).where(Account.channel_id == channel_id).order_by(Account.handle)
        )
    )


def leads_of(session: Session, account_ids: Sequence[int]) -> list[str]:
    """Slack user ids of the owners of these accounts, who hear when a digest cannot go out."""
    return sorted(
        set(
            session.scalars(
                select(Member.user_id)
                .join(Grant, Grant.member_id == Member.id)
                .where(Grant.account_id.in_(account_ids), Grant.role == "owner")
            )
        )
    )


# ---------------------------------------------------------------- the daily claim


def latest_digests(session: Session, targets: Sequence[str]) -> dict[str, Digest]:
    """Each target's most recently claimed digest."""
    if not targets:
        return {}
    newest = (
        select(Digest.target, func.max(Digest.claimed_at).label("claimed_at"))
        .where(Digest.target.in_(targets))
        .group_by(Digest.target)
        .subquery()
    )
    found = session.scalars(
        select(Digest)
        .join(
            newest,
            (newest.c.target == Digest.target) & (newest.c.claimed_at == Digest.claimed_at),
        )
        .order_by(Digest.id)
    )
    return {row.target: row for row in found}


def claim_digest(
    session: Session, target: str, slot: str, kind: str, now: datetime, stale_after: timedelta
) -> Digest | None:
    """The right to send `target`'s digest for `slot`, or None: it is sent, given up, or
    being sent by someone else. A claim older than `stale_after` that never posted is
    taken over: its holder died (the new holder looks for its message before posting)."""
    # RETURNING, not rowcount: PostgreSQL's driver reports -1 for an INSERT it also returns from.
    inserted = session.scalar(
        insert_into(session, Digest.__table__)
        .values(target=target, slot=slot, kind=kind, claimed_at=now, attempts=1)
        .on_conflict_do_nothing(index_elements=["target", "slot"])
        .returning(Digest.id)
    )
    if inserted is not None:
        return session.get_one(Digest, inserted)
    retake = (
        update(Digest)
        .where(
            Digest.target == target,
            Digest.slot == slot,
            Digest.posted_at.is_(None),
            Digest.error.is_(None),
            Digest.claimed_at <= now - stale_after,
        )
        .values(claimed_at=now, attempts=Digest.attempts + 1)
        .returning(Digest)
    )
    return session.scalars(retake, execution_options={"synchronize_session": False}).one_or_none()


def stale_claims(
    session: Session, kind: str, before: datetime, first_slot: str, max_attempts: int
) -> list[Digest]:
    """Claims of this kind, claimed before `before` and never finished (their holder died,
    or Slack failed), for slots from `first_slot` on, tried fewer than `max_attempts` times."""
    return list(
        session.scalars(
            select(Digest).where(
                Digest.kind == kind,
                Digest.posted_at.is_(None),
                Digest.error.is_(None),
                Digest.claimed_at <= before,
                Digest.slot >= first_slot,
                Digest.attempts < max_attempts,
            )
        )
    )


def last_covered(session: Session, channel: str, since: datetime) -> datetime | None:
    """Up to when the channel's latest posted digest since `since` counted what came in:
    the moment it was claimed, when it read the mentions."""
    return session.scalar(
        select(func.max(Digest.claimed_at)).where(
            Digest.target == channel,
            Digest.kind == "channel",
            Digest.posted_at.is_not(None),
            Digest.claimed_at >= since,
        )
    )


def finish_digest(
    session: Session,
    digest_id: int,
    now: datetime,
    *,
    channel: str | None = None,
    ts: str | None = None,
    error: str | None = None,
) -> None:
    """Record the digest as posted (channel and ts), or as given up for the day (error)."""
    values: dict[str, object] = {"slack_channel": channel, "slack_ts": ts}
    if error is None:
        values["posted_at"] = now
    else:
        values["error"] = error
    session.execute(
        update(Digest).where(Digest.id == digest_id).values(**values),
        execution_options={"synchronize_session": False},
    )


def mark_chart(session: Session, digest_id: int, now: datetime) -> None:
    """The digest's chart is in its thread."""
    session.execute(
        update(Digest).where(Digest.id == digest_id).values(chart_posted_at=now),
        execution_options={"synchronize_session": False},
    )


# ---------------------------------------------------------------- what the figures read


def response_rows(
    session: Session, account_ids: Sequence[int], since: datetime, until: datetime
) -> list[ResponseRow]:
    """Mentions posted in [since, until) with when and by whom they were answered.

    Read as plain rows on the connection, with the times made aware here: the figures
    read up to hundreds of thousands of them, and the ORM's per-value conversion was
    most of the time.
    """
    responder = aliased(Member)
    resolver = aliased(Member)
    table = Mention.__table__.c
    query = (
        select(
            table.account_id,
            type_coerce(table.created_at, DateTime()),
            type_coerce(table.first_response_at, DateTime()),
            responder.user_id,
            type_coerce(table.resolved_at, DateTime()),
            resolver.user_id,
        )
        .outerjoin(responder, responder.id == table.first_responder_id)
        .outerjoin(resolver, resolver.id == table.resolver_id)
        .where(
            table.account_id.in_(account_ids),
            table.created_at >= since,
            table.created_at < until,
            table.watch_id.is_(None),  # a watch's posts did not ask the brand anything
        )
    )
    return [
        ResponseRow(
            account_id,
            created.replace(tzinfo=UTC),
            answered.replace(tzinfo=UTC) if answered is not None else None,
            who,
            resolved.replace(tzinfo=UTC) if resolved is not None else None,
            closer,
        )
        for account_id, created, answered, who, resolved, closer in session.connection()
        .execute(query)
        .all()
    ]


def texts_between(
    session: Session, account_ids: Sequence[int], since: datetime, until: datetime, limit: int
) -> list[str]:
    """The texts of mentions posted in [since, until), newest first, at most `limit`."""
    return list(
        session.scalars(
            select(Mention.text)
            .where(
                Mention.account_id.in_(account_ids),
                Mention.created_at >= since,
                Mention.created_at < until,
                Mention.watch_id.is_(None),
            )
            .order_by(Mention.created_at.desc())
            .limit(limit)
        )
    )


def received_between(
    session: Session, account_ids: Sequence[int], since: datetime, until: datetime
) -> int:
    """Mentions Roost took in during [since, until), by when they arrived."""
    return int(
        session.scalar(
            select(func.count()).where(
                Mention.account_id.in_(account_ids),
                Mention.received_at >= since,
                Mention.received_at < until,
                Mention.watch_id.is_(None),
            )
        )
        or 0
    )


def _open_cards(account_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
    conditions = [
        Mention.status.in_(OPEN),
        Mention.tweet_id == Mention.root_tweet_id,
        # A watch's post is the team's work once someone takes it, not before.
        Mention.watch_id.is_(None) | Mention.assignee_id.is_not(None),
    ]
    if account_ids is not None:
        conditions.append(Mention.account_id.in_(account_ids))
    return conditions


def open_by_assignee(session: Session, account_ids: Sequence[int]) -> list[tuple[str | None, int]]:
    """Open cards per assignee (None: nobody), most first."""
    found = session.execute(
        select(Member.user_id, func.count())
        .select_from(Mention)
        .outerjoin(Member, Member.id == Mention.assignee_id)
        .where(*_open_cards(account_ids))
        .group_by(Member.user_id)
    )
    return sorted(((who, int(count)) for who, count in found), key=lambda p: (-p[1], p[0] or ""))


def oldest_open(
    session: Session,
    account_ids: Sequence[int] | None,
    limit: int,
    *,
    overdue_at: datetime | None = None,
    assignee: str | None = None,
) -> tuple[list[OpenCard], int]:
    """The oldest open cards in these accounts (None: all) and how many there are in all;
    only those past their reply target at `overdue_at`, or assigned to `assignee` (a Slack
    user id), when given."""
    conditions = _open_cards(account_ids)
    if overdue_at is not None:
        conditions += [Mention.first_response_at.is_(None), Mention.sla_due_at <= overdue_at]
    if assignee is not None:
        conditions.append(
            Mention.assignee_id.in_(select(Member.id).where(Member.user_id == assignee))
        )
    total = session.scalar(select(func.count()).select_from(Mention).where(*conditions)) or 0
    found = session.execute(
        select(Mention, Account.handle, Member.user_id)
        .join(Account, Account.id == Mention.account_id)
        .outerjoin(Member, Member.id == Mention.assignee_id)
        .where(*conditions)
        .order_by(Mention.created_at, Mention.id)
        .limit(limit)
    )
    return [OpenCard(*row) for row in found], int(total)


def scheduled_between(
    session: Session, account_ids: Sequence[int], since: datetime, until: datetime
) -> list[ScheduledRow]:
    """Posts still to go out in [since, until) from these accounts: one row per account."""
    found = session.execute(
        select(Post.id, Outbound.run_at, Post.text, Account.handle)
        .join(Outbound, Outbound.post_id == Post.id)
        .join(Account, Account.id == Outbound.account_id)
        .where(
            Outbound.account_id.in_(account_ids),
            Outbound.part == 0,
            Outbound.status == "pending",
            Post.cancelled_at.is_(None),
            Outbound.run_at >= since,
            Outbound.run_at < until,
        )
        .order_by(Outbound.run_at, Post.id, Account.handle)
    )
    return [
        ScheduledRow(post_id, run_at, text, handle)
        for post_id, run_at, text, handle in found
        if run_at is not None
    ]


def on_duty_between(
    session: Session, account_ids: Sequence[int], since: datetime, until: datetime
) -> list[str]:
    """Who, of those with a role on these accounts, was on duty by their own say at some
    time from `since` to `until`: on duty now, or going on or off in that time."""
    changed = select(Event.actor).where(
        Event.kind.in_(("duty.on", "duty.off")), Event.at >= since, Event.at < until
    )
    return list(
        session.scalars(
            select(Member.user_id)
            .join(Grant, Grant.member_id == Member.id)
            .where(
                Grant.account_id.in_(account_ids),
                Member.on_duty.is_(True) | Member.user_id.in_(changed),
            )
            .distinct()
            .order_by(Member.user_id)
        )
    )


def role_holders(session: Session, account_ids: Sequence[int]) -> set[tuple[str, int]]:
    """(Slack user, account) for every role held on these accounts."""
    found = session.execute(
        select(Member.user_id, Grant.account_id)
        .join(Grant, Grant.member_id == Member.id)
        .where(Grant.account_id.in_(account_ids))
    )
    return {(user, account_id) for user, account_id in found}
