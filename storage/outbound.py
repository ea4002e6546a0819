"""Queries on outbound rows: the guard that makes every post, DM and retweet happen once.

Each status change is one conditional UPDATE, so two workers (or a worker
and a person clicking) can never both move a row from the same state.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import Outbound

SENDABLE = "pending"
FINAL = frozenset({"sent", "failed", "rejected", "cancelled"})
"""Statuses a row never leaves by itself; `unknown` waits for a person or a check."""


def create(session: Session, **values: Any) -> int | None:
    """Insert the row; its id, or None if a row with its idempotency key exists already."""
    return session.scalar(
        insert_into(session, Outbound.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Outbound.__table__.c.id)
    )


def _move(
    session: Session, outbound_id: int, from_: tuple[str, ...], **values: Any
) -> Outbound | None:
    moved = (
        update(Outbound)
        .where(Outbound.id == outbound_id, Outbound.status.in_(from_))
        .values(**values)
        .returning(Outbound)
    )
    return session.scalars(moved, execution_options={"synchronize_session": False}).one_or_none()


def claim_for_sending(
    session: Session, outbound_id: int, now: datetime, *, by: str | None = None
) -> Outbound | None:
    """pending → sending, for exactly one caller (`by`, the worker making the call); the
    row, or None if it is not pending."""
    return _move(
        session,
        outbound_id,
        (SENDABLE,),
        status="sending",
        started_at=now,
        claimed_by=by,
        attempts=Outbound.attempts + 1,
        error=None,
    )


def back_to_pending(
    session: Session,
    outbound_id: int,
    *,
    run_at: datetime | None,
    error: str | None,
    forget_media: bool = False,
) -> None:
    """sending → pending, only when the network certainly did nothing (a 429, a refused
    connection); `forget_media`: its uploads are not trusted to last until `run_at`, and go
    up again then."""
    media: dict[str, Any] = {"media_ids": None} if forget_media else {}
    _move(session, outbound_id, ("sending",), status=SENDABLE, run_at=run_at, error=error, **media)


def send_again(session: Session, outbound_id: int, *, error: str) -> Outbound | None:
    """sending or unknown → pending, for a call that certainly ended (its worker died)
    without leaving a trace at X; None if the row was elsewhere."""
    return _move(
        session, outbound_id, ("sending", "unknown"), status=SENDABLE, run_at=None, error=error
    )


def settle(
    session: Session,
    outbound_id: int,
    status: str,
    now: datetime,
    *,
    x_id: str | None = None,
    url: str | None = None,
    error: str | None = None,
) -> Outbound | None:
    """sending or unknown → sent, failed or unknown; None if the row was elsewhere.
    `x_id` is what the network calls what was made, `url` where it is (X's is made from
    its id)."""
    values: dict[str, Any] = {"status": status, "error": error}
    if status == "sent":
        values.update(sent_at=now, x_id=x_id, url=url)
    return _move(session, outbound_id, ("sending", "unknown"), **values)


def decide(
    session: Session, outbound_id: int, approver_id: int, approve: bool, now: datetime
) -> Outbound | None:
    """awaiting_approval → pending or rejected; None if someone decided first."""
    return _move(
        session,
        outbound_id,
        ("awaiting_approval",),
        status=SENDABLE if approve else "rejected",
        approver_id=approver_id,
        decided_at=now,
    )


def retry(session: Session, outbound_id: int) -> Outbound | None:
    """unknown or failed → pending, on a person's explicit say-so; its result is logged anew,
    and media the network may have expired meanwhile go up again."""
    return _move(
        session,
        outbound_id,
        ("unknown", "failed"),
        status=SENDABLE,
        run_at=None,
        logged_at=None,
        media_ids=None,
    )


def fail_pending(session: Session, outbound_id: int, error: str) -> Outbound | None:
    """pending → failed, when it must not be sent at all (nothing reached X)."""
    return _move(session, outbound_id, (SENDABLE,), status="failed", error=error)


def claim_upload(
    session: Session, outbound_id: int, by: str, now: datetime, *, taking_from: str | None
) -> bool:
    """The right to upload a pending row's media, for worker `by`: the row's upload claim
    was `taking_from` (None: nobody's; else a worker that died). Whether it was won."""
    claimed = session.execute(
        update(Outbound)
        .where(
            Outbound.id == outbound_id,
            Outbound.status == SENDABLE,
            Outbound.claimed_by.is_(None)
            if taking_from is None
            else Outbound.claimed_by == taking_from,
        )
        .values(claimed_by=by, started_at=now),
        execution_options={"synchronize_session": False},
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def set_media(session: Session, outbound_id: int, media_ids: list[str] | None) -> None:
    """What the network named the media uploaded (None: the upload gave up); the upload
    claim ends."""
    values: dict[str, Any] = {"claimed_by": None}
    if media_ids is not None:
        values["media_ids"] = media_ids
    session.execute(
        update(Outbound)
        .where(Outbound.id == outbound_id, Outbound.status == SENDABLE)
        .values(**values)
    )


def claim_log(session: Session, outbound_id: int, now: datetime) -> Outbound | None:
    """The right to log a final result in the card's thread, once."""
    claim = (
        update(Outbound)
        .where(
            Outbound.id == outbound_id,
            Outbound.logged_at.is_(None),
            Outbound.status.in_(FINAL),
        )
        .values(logged_at=now)
        .returning(Outbound)
    )
    return session.scalars(claim, execution_options={"synchronize_session": False}).one_or_none()


def unclaim_log(session: Session, outbound_id: int) -> None:
    session.execute(update(Outbound).where(Outbound.id == outbound_id).values(logged_at=None))


def for_mention(session: Session, mention_id: int) -> list[Outbound]:
    """The mention's outbound rows, oldest first: what its card shows."""
    return list(
        session.scalars(
            select(Outbound).where(Outbound.mention_id == mention_id).order_by(Outbound.id)
        )
    )


def x_ids_of(
    session: Session, account_id: int, kind: str, *, since: datetime, but: int
) -> set[str]:
    """X's ids recorded for the account's rows of this kind sent since `since`, but row `but`."""
    return set(
        session.scalars(
            select(Outbound.x_id).where(
                Outbound.account_id == account_id,
                Outbound.kind == kind,
                Outbound.x_id.is_not(None),
                Outbound.sent_at >= since,
                Outbound.id != but,
            )
        )
    )


def count_kind(session: Session, mention_id: int, kind: str, statuses: tuple[str, ...]) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Outbound)
        .where(
            Outbound.mention_id == mention_id,
            Outbound.kind == kind,
            Outbound.status.in_(statuses),
        )
    )
    return int(found or 0)


def count_sent(session: Session, mention_id: int, kind: str) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Outbound)
        .where(Outbound.mention_id == mention_id, Outbound.kind == kind, Outbound.status == "sent")
    )
    return int(found or 0)


def stuck(
    session: Session,
    account_id: int,
    now: datetime,
    *,
    sending_before: datetime,
    due_before: datetime | None = None,
    dead: Collection[str] = (),
) -> tuple[list[int], list[int]]:
    """Rows the sweep must look at: (pending and due before `due_before`, sending since
    before `sending_before` or by a worker in `dead`).

    A pending row whose job was lost (Redis flushed, enqueue failed) is sent
    by queueing it again: the claim keeps a duplicate job harmless. A row
    still `sending` long after any call to X could last, or whose worker died,
    is reconciled, never sent again blindly.
    """
    pending = session.scalars(
        select(Outbound.id).where(
            Outbound.account_id == account_id,
            Outbound.status == SENDABLE,
            func.coalesce(Outbound.run_at, Outbound.created_at) <= (due_before or now),
            # Its media going up in a live worker: that worker sends it next.
            or_(Outbound.claimed_by.is_(None), Outbound.claimed_by.in_(dead)),
        )
    )
    sending = session.scalars(
        select(Outbound.id).where(
            Outbound.account_id == account_id,
            Outbound.status == "sending",
            or_(Outbound.started_at < sending_before, Outbound.claimed_by.in_(dead)),
        )
    )
    return list(pending), list(sending)


def pending_later(session: Session, account_id: int, now: datetime) -> list[tuple[int, datetime]]:
    """The account's pending rows due after `now`, with their times."""
    found = session.execute(
        select(Outbound.id, Outbound.run_at).where(
            Outbound.account_id == account_id,
            Outbound.status == SENDABLE,
            Outbound.run_at > now,
        )
    )
    return [(outbound_id, run_at) for outbound_id, run_at in found if run_at is not None]


def sending_owners(session: Session) -> set[str]:
    """The workers making calls to X for rows still `sending`, or uploading the media of
    rows still pending."""
    return set(
        session.scalars(
            select(Outbound.claimed_by)
            .where(Outbound.status.in_((SENDABLE, "sending")), Outbound.claimed_by.is_not(None))
            .distinct()
        )
    )
