"""Each account's monthly X budget: what it has spent this month (bot.x.meter), the
channel told once at 80% and once at 100%, and with the hard cap, no call of Roost's own
that would take the month past it.

The budget is set by an owner in the account's settings, in dollars a month. Past it,
a hard cap pauses intake (polling) and refuses sends before anything reaches X, each
with the reason; without the hard cap Roost only says so. What X bills is X's: these are
Roost's own counts of its own calls, from X's price list.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from redis import Redis
from sqlalchemy import select

from bot.errors import Refused, SlackError
from bot.runtime import Runtime
from bot.slack.notices import post_notice
from bot.x.meter import days_spent
from bot.x.prices import load_prices, price_of
from storage.models import Account

logger = logging.getLogger(__name__)

NOTICE_AT = (80, 100)
"""The shares of a budget, in percent, at which the account's channel is told, once a
month each."""

POLL_WORST_CASE = {"read:post": 100, "read:user": 100}
"""What one page of the mentions timeline can cost at most: 100 posts and their authors."""


def month_spent(redis: Redis, account_id: int, today: date) -> float:
    """Dollars counted for the account from the first of `today`'s month to today."""
    return month_micros(redis, account_id, today) / 1_000_000


def month_micros(redis: Redis, account_id: int, today: date) -> int:
    """Micro-dollars counted for the account this month: whole numbers, so a budget's
    thresholds are met exactly, not a float's rounding away."""
    days = [today.replace(day=n) for n in range(1, today.day + 1)]
    return sum(
        value
        for counts in days_spent(redis, account_id, days)
        for field, value in counts.items()
        if field.endswith(":micros")
    )


@dataclass(frozen=True)
class Budget:
    """An account's budget this month and what is spent of it, in micro-dollars."""

    handle: str
    micros: int
    hard: bool
    spent_micros: int

    @property
    def dollars(self) -> float:
        return self.micros / 1_000_000

    @property
    def spent(self) -> float:
        return self.spent_micros / 1_000_000

    def reached(self, percent: int) -> bool:
        return self.spent_micros * 100 >= percent * self.micros

    def refuses(self, cost: float) -> bool:
        """Whether a call costing `cost` dollars must not be made: a hard cap it would
        pass."""
        return self.hard and self.spent_micros + round(cost * 1_000_000) > self.micros

    def why(self) -> str:
        return (
            f"@{self.handle}'s X budget for this month is spent (${self.spent:,.2f} of "
            f"${self.dollars:,.2f}, a hard cap). An owner can raise it in the account's "
            "settings (`/roost accounts`)."
        )


def budget_of(rt: Runtime, account: Account) -> Budget | None:
    """The account's budget this month, or None if it has none."""
    if account.x_budget_cents is None:
        return None
    spent = month_micros(rt.redis, account.id, rt.clock().date())
    return Budget(account.handle, account.x_budget_cents * 10_000, account.x_budget_hard, spent)


def cost_of(rt: Runtime, units: dict[str, int]) -> float:
    """What `units` of each kind ("write:dm": 1, ...) cost at X's prices."""
    prices = load_prices(rt.settings.x_prices_file)
    return sum(price_of(prices, kind) * n for kind, n in units.items())


def refuse_past_cap(rt: Runtime, account: Account, units: dict[str, int]) -> None:
    """Refused, with the reason, if a call of these units would pass the hard cap."""
    budget = budget_of(rt, account)
    if budget is not None and budget.refuses(cost_of(rt, units)):
        raise Refused(budget.why())


def tell_budgets(rt: Runtime) -> int:
    """Tell each account's channel, once a month, that 80% and then all of its budget is
    spent; how many notices went out. Run by the worker's sweep."""
    today = rt.clock().date()
    with rt.sessions() as session:
        accounts = list(session.scalars(select(Account).where(Account.x_budget_cents.is_not(None))))
    told = 0
    for account in accounts:
        budget = budget_of(rt, account)
        if budget is None:
            continue
        for percent in NOTICE_AT:
            if not budget.reached(percent):
                break
            key = f"budget:{account.id}:{today:%Y-%m}:{percent}"
            try:
                post_notice(rt, key, account.channel_id, _notice(budget, percent, today))
                told += 1
            except SlackError as exc:
                logger.warning("budget notice for @%s not posted: %s", account.handle, exc)
    return told


def _notice(budget: Budget, percent: int, today: date) -> str:
    days_left = calendar.monthrange(today.year, today.month)[1] - today.day
    month_end = today + timedelta(days=days_left)
    spent = f"${budget.spent:,.2f} of its ${budget.dollars:,.2f}"
    if percent < 100:
        return (
            f":money_with_wings: @{budget.handle} has used {percent}% of its X budget this "
            f"month ({spent}), with {days_left} days to go. `/roost spend @{budget.handle}` "
            "says on what."
        )
    if budget.hard:
        return (
            f":no_entry: @{budget.handle}'s X budget for this month is spent ({spent}). It "
            "is a hard cap: Roost has paused reading its mentions and refuses sends until "
            f"{month_end + timedelta(days=1):%d %B}, or until an owner raises it in the "
            "account's settings."
        )
    return (
        f":warning: @{budget.handle}'s X budget for this month is spent ({spent}). Roost goes "
        "on (it is not a hard cap) but makes only the cheapest checks of what it sends: one "
        "it cannot confirm that way is shown unknown, for a person to check. An owner can "
        "raise the budget, or make it a hard cap, in the account's settings."
    )
