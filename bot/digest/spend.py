"""`/roost spend [@account] [YYYY-MM]`: what X bills for each account, as Roost counts it
(bot.x.meter): yesterday, the month so far and where the month is heading, by kind of call.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.runtime import Runtime
from bot.slack.blocks import context, section
from bot.slack.mrkdwn import escape
from bot.team.budget import ALLOWANCE_NAMES, allowance_of, allowance_use
from bot.team.people import Who, visible_accounts
from bot.x.meter import days_spent
from bot.x.prices import ALLOWANCE_KINDS

KIND_NAMES = {
    "read:post": "posts read",
    "read:owned_post": "own posts and mentions read (owned reads)",
    "read:user": "profiles read",
    "read:dm_event": "DMs read",
    "write:post": "posts",
    "write:post_with_url": "posts with a link",
    "write:summoned_reply": "replies",
    "write:dm": "DMs sent",
    "write:user_interaction": "retweets and their undoing",
    "write:delete": "deletions",
}
"""What each priced kind of call is, as a person reads it."""

USAGE = "Use `/roost spend`, `/roost spend @brand` or `/roost spend @brand 2026-11`."


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
            raise ValueError(f"“{escape(word)}” is neither an account nor a month. {USAGE}")
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
        raise ValueError(f"“{month}” is not a month. {USAGE}") from None
    with rt.sessions() as session:
        accounts = [(a.id, a.handle) for a in visible_accounts(rt, session, who, handle)]
    spends = [month_spend(rt, account_id, name, first) for account_id, name in accounts]
    blocks: list[dict[str, Any]] = []
    lines = []
    allowance = allowance_of(rt)
    if allowance is not None:
        last = min(today, _month_end(first))
        plan = (
            f"*X's {allowance.plan.title()} plan* (${allowance.usd_per_month:,.0f} a month, "
            f"shared by all of Roost's accounts): {allowance_use(rt, allowance, last).share()} "
            f"{'this month' if last == today else 'in ' + first.strftime('%B %Y')}."
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
                        f"{KIND_NAMES.get(kind, kind)}: {units:,} ({_usd(dollars)})"
                        for kind, (units, dollars) in kinds
                    )
                )
            )
    blocks.append(
        context(
            "As Roost counts X's pay-per-use prices for its own calls; X's own bill, in its "
            "developer console, is the one that counts."
            + (
                " On a subscription the dollars are what the same calls would cost paying per use."
                if allowance is not None
                else ""
            )
        )
    )
    return "\n".join(lines), blocks


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _summary(found: Spend, today: date) -> str:
    name = f"*@{found.handle}*"
    month_name = found.month.strftime("%B %Y")
    total = _usd(found.total())
    if (found.month.year, found.month.month) != (today.year, today.month):
        return f"{name} — X: {total} in {month_name}."
    days_in = calendar.monthrange(today.year, today.month)[1]
    projected = found.total() / today.day * days_in
    yesterday = today - timedelta(days=1)
    said_yesterday = (
        f"{_usd(found.total(yesterday))} yesterday, " if yesterday.month == today.month else ""
    )
    return (
        f"{name} — X: {said_yesterday}{total} this month, on course for "
        f"{_usd(projected)} by its end."
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
    parts = [f"{_usd(found.total(yesterday))} yesterday"] if yesterday.month == today.month else []
    month = f"{_usd(found.total())} this month"
    allowance = allowance_of(rt)
    if allowance is not None:
        kinds = found.by_kind()
        used = [
            f"{n:,} {ALLOWANCE_NAMES[name]}"
            for name, kind_names in ALLOWANCE_KINDS.items()
            if (n := sum(kinds.get(kind, (0, 0.0))[0] for kind in kind_names))
        ]
        shares = allowance_use(rt, allowance, today).percents()
        plan = f"{allowance.plan.title()} plan, all accounts: {shares}"
        return f"@{handle} — X: {' and '.join(used) or 'nothing'} this month ({plan})"
    if budget_cents is not None:
        month += f" of ${budget_cents / 100:,.2f}"
    return f"@{handle} — X: " + ", ".join([*parts, month])
