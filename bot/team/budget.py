"""Each account's monthly X budget: what it has spent this month (bot.x.meter), the
channel told once at 80% and once at 100%, and with the hard cap, no call of Roost's own
that would take the month past it.

The budget is set by an owner in the account's settings, in dollars a month. Past it,
a hard cap pauses intake (polling) and refuses sends before anything reaches X, each
with the reason; without the hard cap Roost only says so. What X bills is X's: these are
Roost's own counts of its own calls, from X's price list.

On a legacy subscription (X_PLAN basic or pro) the app pays a fixed fee for monthly
allowances shared by every account: those, not dollars, are what the month is held to,
and as X stops serving an allowance once it is used, they are always a hard cap.

The sweep also copies each day's counts from Redis to the database (keep_spend).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from sqlalchemy import select

from bot.errors import Refused
from bot.i18n import N_, SOURCE, _, day, language
from bot.networks.rules import rules_for
from bot.runtime import Runtime
from bot.slack.notices import try_notice
from bot.team.language import in_channel
from bot.x.meter import days_spent, keep_days
from bot.x.prices import (
    ALLOWANCE_KINDS,
    POLL_WORST_CASE,
    Allowance,
    Prices,
    load_prices,
    price_of,
)
from storage.models import Account

logger = logging.getLogger(__name__)

NOTICE_AT = (80, 100)
"""The shares of a budget, in percent, at which the account's channel is told, once a
month each."""


def month_spent(rt: Runtime, account_id: int, today: date) -> float:
    """Dollars counted for the account from the first of `today`'s month to today."""
    return month_micros(rt, account_id, today) / 1_000_000


def month_micros(rt: Runtime, account_id: int, today: date) -> int:
    """Micro-dollars counted for the account this month: whole numbers, so a budget's
    thresholds are met exactly, not a float's rounding away."""
    return sum(
        value
        for counts in days_spent(rt.redis, rt.sessions, account_id, _month_so_far(today))
        for field, value in counts.items()
        if field.endswith(":micros")
    )


def _month_so_far(today: date) -> list[date]:
    return [today.replace(day=n) for n in range(1, today.day + 1)]


class Limit(Protocol):
    """What a month's spend is held to: an account's budget, or the app's subscription."""

    def reached(self, percent: int) -> bool:
        """Whether `percent` of it is used."""
        ...

    def refuses(self, units: Mapping[str, int]) -> bool:
        """Whether a call of these units ("write:dm": 1, ...) must not be made."""
        ...

    def why(self) -> str:
        """Why it refuses, as the person refused reads it."""
        ...


@dataclass(frozen=True)
class Budget:
    """An account's budget this month and what is spent of it, in micro-dollars."""

    handle: str
    micros: int
    hard: bool
    spent_micros: int
    prices: Prices

    @property
    def dollars(self) -> float:
        return self.micros / 1_000_000

    @property
    def spent(self) -> float:
        return self.spent_micros / 1_000_000

    def reached(self, percent: int) -> bool:
        return self.spent_micros * 100 >= percent * self.micros

    def cost(self, units: Mapping[str, int]) -> float:
        """What these units ("read:post": 100, ...) cost at X's prices."""
        return sum(price_of(self.prices, kind) * n for kind, n in units.items())

    def refuses(self, units: Mapping[str, int]) -> bool:
        """A hard cap the call would pass, at its worst."""
        return self.hard and self.spent_micros + round(self.cost(units) * 1_000_000) > self.micros

    def why(self) -> str:
        return _(
            "@{handle}'s X budget for this month is spent (${spent} of ${budget}, a hard "
            "cap). An owner can raise it in the account's settings (`/roost accounts`)."
        ).format(handle=self.handle, spent=f"{self.spent:,.2f}", budget=f"{self.dollars:,.2f}")


@dataclass(frozen=True)
class AllowanceUse:
    """The app's legacy subscription this month: how much of each allowance all of
    Roost's accounts have used. X stops serving an allowance once it is used, so Roost
    stops asking: it is always a hard cap."""

    allowance: Allowance
    used: dict[str, int]  # allowance name -> units this month
    month_end: date

    def reached(self, percent: int) -> bool:
        return any(
            self.used[name] * 100 >= percent * limit
            for name, limit in self.allowance.limits.items()
        )

    def refuses(self, units: Mapping[str, int]) -> bool:
        return any(
            self.used[name] >= limit and any(units.get(kind) for kind in ALLOWANCE_KINDS[name])
            for name, limit in self.allowance.limits.items()
        )

    def spent(self) -> list[str]:
        """The allowances used up, as a person reads them: "15,000 post reads"."""
        return [
            _(ALLOWANCE_COUNTS[name]).format(n=f"{limit:,}")
            for name, limit in self.allowance.limits.items()
            if self.used[name] >= limit
        ]

    def why(self) -> str:
        return _(
            "X's {plan} plan allows {allowances} a month for all of Roost's accounts, and "
            "this month's are used: X refuses more until {day}."
        ).format(
            plan=self.allowance.plan.title(),
            allowances=_and(self.spent()),
            day=_day_of_month(self.month_end + timedelta(days=1)),
        )

    def share(self) -> str:
        """Each allowance's use: "4,210 of 15,000 post reads (28%)"."""
        return _and(
            [
                _(ALLOWANCE_SHARES[name]).format(
                    used=f"{self.used[name]:,}",
                    limit=f"{limit:,}",
                    percent=self.used[name] * 100 // max(limit, 1),
                )
                for name, limit in self.allowance.limits.items()
            ]
        )

    def percents(self) -> str:
        """Each allowance's share used: "28% of post reads, 1% of posts"."""
        return ", ".join(
            _(ALLOWANCE_PERCENTS[name]).format(percent=self.used[name] * 100 // max(limit, 1))
            for name, limit in self.allowance.limits.items()
        )


ALLOWANCE_NAMES = {"post_reads": N_("post reads"), "posts": N_("posts")}
"""Each allowance as a person reads it: `_(ALLOWANCE_NAMES[name])`."""

ALLOWANCE_COUNTS = {"post_reads": N_("{n} post reads"), "posts": N_("{n} posts")}
"""So many of an allowance, `_(ALLOWANCE_COUNTS[name]).format(n=…)`: "15,000 post reads"."""

ALLOWANCE_SHARES = {
    "post_reads": N_("{used} of {limit} post reads ({percent}%)"),
    "posts": N_("{used} of {limit} posts ({percent}%)"),
}
ALLOWANCE_PERCENTS = {
    "post_reads": N_("{percent}% of post reads"),
    "posts": N_("{percent}% of posts"),
}


def _and(items: list[str]) -> str:
    """ "a and b and c", as the language joins them."""
    joined = items[0] if items else ""
    for item in items[1:]:
        joined = _("{first} and {second}").format(first=joined, second=item)
    return joined


def _day_of_month(moment: date) -> str:
    """ "01 January" as Roost has always written it in English; the language's own day
    elsewhere ("1월 1일 (목)")."""
    return f"{moment:%d %B}" if language() == SOURCE else day(moment)


def allowance_of(rt: Runtime) -> Allowance | None:
    """The app's legacy subscription, if X_PLAN names one the price list has terms for."""
    return load_prices(rt.settings.x_prices_file).subscriptions.get(rt.settings.x_plan)


def allowance_use(rt: Runtime, allowance: Allowance, today: date | None = None) -> AllowanceUse:
    """How much of the subscription's allowances all accounts have used in the month of
    `today` (by default, the clock's), up to that day."""
    today = today or rt.clock().date()
    with rt.sessions() as session:
        account_ids = list(session.scalars(select(Account.id)))
    units: dict[str, int] = {}
    for account_id in account_ids:
        for counts in days_spent(rt.redis, rt.sessions, account_id, _month_so_far(today)):
            for field, value in counts.items():
                if field.endswith(":units"):
                    kind = field.removesuffix(":units")
                    units[kind] = units.get(kind, 0) + value
    used = {name: sum(units.get(k, 0) for k in kinds) for name, kinds in ALLOWANCE_KINDS.items()}
    days_left = calendar.monthrange(today.year, today.month)[1] - today.day
    return AllowanceUse(allowance, used, today + timedelta(days=days_left))


def budget_of(rt: Runtime, account: Account) -> Limit | None:
    """What the account's X calls are held to this month: the app's subscription on a
    legacy plan, else the account's own budget; None if neither, or if its network does
    not charge for calls."""
    if not rules_for(account.network).priced:
        return None
    allowance = allowance_of(rt)
    if allowance is not None:
        return allowance_use(rt, allowance)
    if account.x_budget_cents is None:
        return None
    spent = month_micros(rt, account.id, rt.clock().date())
    prices = load_prices(rt.settings.x_prices_file)
    return Budget(
        account.handle, account.x_budget_cents * 10_000, account.x_budget_hard, spent, prices
    )


def budget_now(rt: Runtime, account_id: int) -> Limit | None:
    """`budget_of` the account as it is stored now: an owner may have changed its budget
    since a long-lived adapter was built (None once the account is gone)."""
    with rt.sessions() as session:
        account = session.get(Account, account_id)
        return budget_of(rt, account) if account is not None else None


def refuse_past_cap(rt: Runtime, account: Account, units: dict[str, int]) -> None:
    """Refused, with the reason, if a call of these units would pass the hard cap."""
    budget = budget_of(rt, account)
    if budget is not None and budget.refuses(units):
        raise Refused(budget.why())


def keep_spend(rt: Runtime) -> int:
    """Copy each account's X spend of today and yesterday from Redis to the database (the
    sweep); how many account-days were copied."""
    today = rt.clock().date()
    with rt.sessions() as session:
        account_ids = list(session.scalars(select(Account.id)))
    return sum(
        keep_days(rt.redis, rt.sessions, account_id, [today - timedelta(days=1), today])
        for account_id in account_ids
    )


def tell_budgets(rt: Runtime) -> int:
    """Tell each account's channel, once a month, that 80% and then all of its budget is
    spent, or of the app's subscription on a legacy plan; how many notices went out. Run
    by the worker's sweep."""
    today = rt.clock().date()
    allowance = allowance_of(rt)
    if allowance is not None:
        return _tell_allowance(rt, allowance_use(rt, allowance), today)
    with rt.sessions() as session:
        accounts = list(session.scalars(select(Account).where(Account.x_budget_cents.is_not(None))))
    told = 0
    for account in accounts:
        budget = budget_of(rt, account)
        if not isinstance(budget, Budget):
            continue
        # Keyed by the budget too: one an owner raises is told of again when it is met.
        month = f"{account.id}:{today:%Y-%m}:{account.x_budget_cents}"
        for percent in NOTICE_AT:
            if not budget.reached(percent):
                break
            key = f"budget:{month}:{percent}"
            with in_channel(rt, account.channel_id):
                told += try_notice(rt, key, account.channel_id, _notice(budget, percent, today))
        if budget.refuses(POLL_WORST_CASE) and not budget.reached(100):
            # Intake stops a page's worst cost short of a hard cap: say so when it does.
            key = f"budget:{month}:paused"
            with in_channel(rt, account.channel_id):
                told += try_notice(rt, key, account.channel_id, _paused_notice(budget, today))
    return told


def _tell_allowance(rt: Runtime, use: AllowanceUse, today: date) -> int:
    """The subscription is the whole app's: every account channel hears of it, once."""
    with rt.sessions() as session:
        channels = sorted(set(session.scalars(select(Account.channel_id))))
    told = 0
    for percent in NOTICE_AT:
        if not use.reached(percent):
            break
        for channel in channels:
            key = f"allowance:{channel}:{today:%Y-%m}:{percent}"
            with in_channel(rt, channel):
                told += try_notice(rt, key, channel, _allowance_notice(use, percent))
    return told


def _allowance_notice(use: AllowanceUse, percent: int) -> str:
    plan = use.allowance.plan.title()
    if percent < 100:
        return _(
            ":money_with_wings: Roost's accounts have used {percent}% of an allowance of X's "
            "{plan} plan this month: {share}. `/roost spend` says on what."
        ).format(percent=percent, plan=plan, share=use.share())
    return _(
        ":no_entry: {why} Roost has paused what that allowance pays for (reading "
        "mentions, or sending posts and replies) and refuses sends with this reason; "
        "so far: {share}."
    ).format(why=use.why(), share=use.share())


def _paused_notice(budget: Budget, today: date) -> str:
    month_end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    margin = budget.cost(POLL_WORST_CASE)
    return _(
        ":no_entry: @{handle}'s X budget is nearly spent (${spent} of its ${budget}, a hard "
        "cap), and a page of mentions can cost ${margin}: Roost has paused reading its "
        "mentions until {day}, or until an owner raises the budget in the account's "
        "settings. Nothing is lost: it reads on from where it stopped."
    ).format(
        handle=budget.handle,
        spent=f"{budget.spent:,.2f}",
        budget=f"{budget.dollars:,.2f}",
        margin=f"{margin:,.2f}",
        day=_day_of_month(month_end + timedelta(days=1)),
    )


def _notice(budget: Budget, percent: int, today: date) -> str:
    days_left = calendar.monthrange(today.year, today.month)[1] - today.day
    month_end = today + timedelta(days=days_left)
    amounts = {
        "handle": budget.handle,
        "spent": f"{budget.spent:,.2f}",
        "budget": f"{budget.dollars:,.2f}",
    }
    if percent < 100:
        return _(
            ":money_with_wings: @{handle} has used {percent}% of its X budget this month "
            "(${spent} of its ${budget}), with {days} days to go. `/roost spend @{handle}` "
            "says on what."
        ).format(percent=percent, days=days_left, **amounts)
    if budget.hard:
        return _(
            ":no_entry: @{handle}'s X budget for this month is spent (${spent} of its "
            "${budget}). It is a hard cap: Roost has paused reading its mentions and refuses "
            "sends until {day}, or until an owner raises it in the account's settings."
        ).format(day=_day_of_month(month_end + timedelta(days=1)), **amounts)
    return _(
        ":warning: @{handle}'s X budget for this month is spent (${spent} of its ${budget}). "
        "Roost goes on (it is not a hard cap) but makes only the cheapest checks of what it "
        "sends: one it cannot confirm that way is shown unknown, for a person to check. An "
        "owner can raise the budget, or make it a hard cap, in the account's settings."
    ).format(**amounts)
