"""Each account's X spend per day, as the sweep copies it from Redis (bot.x.meter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import XSpendDay


def save_day(session: Session, account_id: int, day: date, counts: Mapping[str, int]) -> None:
    """Keep the account's counts for `day` (`<kind>:units`, `<kind>:micros`) where they
    are more than an earlier copy of the same day said: the count only grows."""
    larger = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    kinds = {field.rsplit(":", 1)[0] for field in counts}
    for kind in sorted(kinds):
        insert = insert_into(session, XSpendDay.__table__).values(
            account_id=account_id,
            day=day,
            kind=kind,
            units=counts.get(f"{kind}:units", 0),
            micros=counts.get(f"{kind}:micros", 0),
        )
        # Never less than before: a Redis restored from an older snapshot, or two sweeps
        # saving out of order, must not shrink what was counted.
        kept = {
            column: larger(XSpendDay.__table__.c[column], insert.excluded[column])
            for column in ("units", "micros")
        }
        session.execute(
            insert.on_conflict_do_update(index_elements=["account_id", "day", "kind"], set_=kept)
        )


def saved_days(
    session: Session, account_id: int, days: Sequence[date]
) -> dict[date, dict[str, int]]:
    """The kept counts of the account on those of `days` that have any, in the shape
    Redis holds them."""
    found: dict[date, dict[str, int]] = {}
    rows = session.scalars(
        select(XSpendDay).where(XSpendDay.account_id == account_id, XSpendDay.day.in_(days))
    )
    for row in rows:
        counts = found.setdefault(row.day, {})
        counts[f"{row.kind}:units"] = row.units
        counts[f"{row.kind}:micros"] = row.micros
    return found
