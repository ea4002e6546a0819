"""`/roost spend [@account] [YYYY-MM]`: what X bills for each account, as Roost counts it
(bot.x.meter): yesterday, the month so far and where the month is heading, by kind of call.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot import i18n
from bot.i18n import N_, _
from bot.runtime import Runtime
from bot.slack.blocks import context, section
from bot.slack.mrkdwn import escape
from bot.team.budget import ALLOWANCE_NAMES, allowance_of, allowance_use
from bot.team.people import Who, visible_accounts
from bot.x.meter import days_spent
from bot.x.prices import ALLOWANCE_KINDS

KIND_NAMES = {
    "read:post": N_("posts read"),
    "read:owned_post": N_("own posts and mentions read (owned reads)"),
    "read:user": N_("profiles read"),
    "read:dm_event": N_("DMs read"),
    "write:post": N_("posts"),
    "write:post_with_url": N_("posts with a link"),
    "write:summoned_reply": N_("replies"),
    "write:dm": N_("DMs sent"),
    "write:user_interaction": N_("retweets and their undoing"),
    "write:delete": N_("deletions"),
}
"""What each priced kind of call is, as a person reads it (translated where shown)."""

USAGE = N_("Use `/roost spend`, `/roost spend @brand` or `/roost spend @brand 2026-11`.")


@dataclass(frozen=True)
class Spend:
    """One account's spend in one month: dollars and units by kind, per day."""

    handle: str
    month: date  # its first day
    days: dict[date, dict[str, tuple[int, float]]]  # day -> kind -> (units, dollars)

    def total(self, day: date | None = None) -> float:
        picked = [self.days.get(day, {})] if day is not None else list(self.days.values())
        return sum(dollars for kinds in picked for _, dollars in kinds.values())

    def by_kind(self) -> dict[str, tuple[int, float]]:
        found: dict[str, tuple[int, float]] = {}
        for kinds in self.days.values():
            for kind, (units, dollars) in kinds.items():
                had = found.get(kind, (0, 0.0))
                found[kind] = (had[0] + units, had[1] + dollars)
        return found


def parse_spend_args(text: str) -> tuple[str | None, str | None]:
    """(handle, YYYY-MM) from `[@handle] [YYYY-MM]`, in either order; ValueError says how."""
    handle = month = None
    for word in text.split():
        if re.fullmatch(r"\d{4}-\d{2}", word):
            month = word
        elif re.fullmatch(r"@?[A-Za-z0-9_]{1,15}", word) and handle is None:
            handle = word.lstrip("@")
        else:
            raise ValueError(
                _("“{word}” is neither an account nor a month. {usage}").format(
                    word=escape(word), usage=_(USAGE)
                )
            )
    return handle, month


def month_spend(rt: Runtime, account_id: int, handle: str, first: date) -> Spend:
    """What Roost counted for the account on each day of the month starting `first`."""
    days_in = calendar.monthrange(first.year, first.month)[1]
    days = [first + timedelta(days=n) for n in range(days_in)]
    found: dict[date, dict[str, tuple[int, float]]] = {}
    for day, fields in zip(days, days_spent(rt.redis, rt.sessions, account_id, days), strict=True):
        kinds = {name.rsplit(":", 1)[0] for name in fields}
        if kinds:
            found[day] = {
                kind: (fields.get(f"{kind}:units", 0), fields.get(f"{kind}:micros", 0) / 1e6)
                for kind in kinds
            }
    return Spend(handle, first, found)


def spend(rt: Runtime, who: Who, text: str) -> tuple[str, list[dict[str, Any]]]:
    """`/roost spend`: each account the person may see, this month or the month named."""
    handle, month = parse_spend_args(text)
    today = rt.clock().date()
    try:
        first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError:
        raise ValueError(
            _("“{month}” is not a month. {usage}").format(month=month, usage=_(USAGE))
        ) from None
    with rt.sessions() as session:
        accounts = [(a.id, a.handle) for a in visible_accounts(rt, session, who, handle)]
    spends = [month_spend(rt, account_id, name, first) for account_id, name in accounts]
    blocks: list[dict[str, Any]] = []
    lines = []
    allowance = allowance_of(rt)
    if allowance is not None:
        last = min(today, _month_end(first))
        if last == today:
            said = _(
                "*X's {plan} plan* ({price} a month, shared by all of Roost's accounts): "
                "{share} this month."
            )
        else:
            said = _(
                "*X's {plan} plan* ({price} a month, shared by all of Roost's accounts): "
                "{share} in {month}."
            )
        plan = said.format(
            plan=allowance.plan.title(),
            price=f"${allowance.usd_per_month:,.0f}",
            share=allowance_use(rt, allowance, last).share(),
            month=_month_of_year(first),
        )
        lines.append(plan)
        blocks.append(section(plan))
    for found in spends:
        summary = _summary(found, today)
        lines.append(summary)
        blocks.append(section(summary))
        kinds = sorted(found.by_kind().items(), key=lambda item: -item[1][1])
        if kinds:
            blocks.append(
                context(
                    " · ".join(
                        f"{_kind_name(kind)}: {units:,} ({_usd(dollars)})"
                        for kind, (units, dollars) in kinds
                    )
                )
            )
    caveat = _(
        "As Roost counts X's pay-per-use prices for its own calls; X's own bill, in its "
        "developer console, is the one that counts."
    )
    if allowance is not None:
        caveat += " " + _(
            "On a subscription the dollars are what the same calls would cost paying per use."
        )
    blocks.append(context(caveat))
    return "\n".join(lines), blocks


def _kind_name(kind: str) -> str:
    """A priced kind of call as a person reads it; a kind Roost has no name for, as X has it."""
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def _month_of_year(first: date) -> str:
    """A month and its year: "December 2026", "2026년 12월"."""
    return _("{month} {year}").format(month=i18n.month(first), year=first.year)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _summary(found: Spend, today: date) -> str:
    name = f"*@{found.handle}*"
    total = _usd(found.total())
    if (found.month.year, found.month.month) != (today.year, today.month):
        return _("{account} — X: {total} in {month}.").format(
            account=name, total=total, month=_month_of_year(found.month)
        )
    days_in = calendar.monthrange(today.year, today.month)[1]
    projected = _usd(found.total() / today.day * days_in)
    yesterday = today - timedelta(days=1)
    if yesterday.month == today.month:
        return _(
            "{account} — X: {yesterday} yesterday, {total} this month, on course for "
            "{projected} by its end."
        ).format(
            account=name,
            yesterday=_usd(found.total(yesterday)),
            total=total,
            projected=projected,
        )
    return _("{account} — X: {total} this month, on course for {projected} by its end.").format(
        account=name, total=total, projected=projected
    )


def _usd(dollars: float) -> str:
    """Dollars as a person reads them: $14.50; tenths of a cent below a dollar."""
    return f"${dollars:,.2f}" if dollars >= 1 or dollars == 0 else f"${dollars:.3f}"


def digest_line(rt: Runtime, account_id: int, handle: str, budget_cents: int | None) -> str | None:
    """The channel digest's line on an account's X spend, or None when there is nothing to
    say: "@brand — X: $1.23 yesterday, $14.50 this month of $50"."""
    today = rt.clock().date()
    found = month_spend(rt, account_id, handle, today.replace(day=1))
    if not found.days and budget_cents is None:
        return None
    yesterday = today - timedelta(days=1)
    parts = []
    if yesterday.month == today.month:
        parts.append(_("{dollars} yesterday").format(dollars=_usd(found.total(yesterday))))
    allowance = allowance_of(rt)
    if allowance is not None:
        kinds = found.by_kind()
        used = [
            _("{count} {allowance}").format(count=f"{n:,}", allowance=_(ALLOWANCE_NAMES[name]))
            for name, kind_names in ALLOWANCE_KINDS.items()
            if (n := sum(kinds.get(kind, (0, 0.0))[0] for kind in kind_names))
        ]
        plan = _("{plan} plan, all accounts: {shares}").format(
            plan=allowance.plan.title(), shares=allowance_use(rt, allowance, today).percents()
        )
        return _("@{handle} — X: {used} this month ({plan})").format(
            handle=handle, used=_and(used) or _("nothing"), plan=plan
        )
    if budget_cents is not None:
        month = _("{dollars} this month of {budget}").format(
            dollars=_usd(found.total()), budget=f"${budget_cents / 100:,.2f}"
        )
    else:
        month = _("{dollars} this month").format(dollars=_usd(found.total()))
    return f"@{handle} — X: " + ", ".join([*parts, month])


def _and(items: list[str]) -> str:
    """ "a and b and c", as the language joins them; "" for none."""
    if not items:
        return ""
    joined = items[0]
    for item in items[1:]:
        joined = _("{first} and {second}").format(first=joined, second=item)
    return joined
