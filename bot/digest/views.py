"""What the digest, a person's DM digest and /roost stats look like: pure Block Kit.

Every list is cut to fit Slack's limits (3,000 characters a section, 50
blocks a message), however much is waiting, and says how many it left out
and where the rest is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.digest.figures import Line, Period, duration, trend
from bot.slack.blocks import SECTION_LIMIT, context, header, section
from bot.slack.mrkdwn import escape, escape_within

LIST_ITEMS = 10
"""Items a digest lists by name; the rest are counted."""

PREVIEW = 90
"""Characters of a mention shown in a digest."""

TERMS = 8

TERM_CHARS = 40
"""Characters of a recurring term shown: a run of text with no spaces can be one long term."""

HANDLES_NAMED = 10
"""Accounts a digest names; more are counted."""

TERM_TEXTS = 20_000
"""Mentions read for recurring words, newest first: enough to show what recurs, and a
bound on the time it takes however busy the accounts are."""


@dataclass(frozen=True, slots=True)
class Item:
    """An open card as a digest lists it."""

    handle: str
    author: str | None
    text: str
    created_at: datetime
    url: str | None
    assignee: str | None  # Slack user id
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class Scheduled:
    run_at: datetime
    handles: list[str]
    text: str


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """Everything a channel's digest says, read from storage at one moment."""

    day: date
    zone: str
    handles: list[str]
    since: datetime  # the last digest, or 24 hours before
    since_last: bool  # whether `since` is the last digest's time
    received: int  # since then
    received_overnight: int  # since 18:00 the evening before, until the digest's time
    open_total: int
    open_by_assignee: list[tuple[str | None, int]]
    oldest_open: list[Item]
    overdue_total: int
    overdue: list[Item]
    week: Period
    busiest: list[int]
    terms: list[tuple[str, int]]
    terms_read: int  # how many texts the terms were counted in
    scheduled: list[Scheduled]
    names: dict[str, str]  # Slack user id -> name, to name people without pinging them
    spend: list[str] = field(default_factory=list)  # a line per account on what X bills
    surges: list[str] = field(default_factory=list)  # a line per surge since, mrkdwn
    overnight_label: str = "overnight"  # "since Friday evening", for Monday's weekday digest
    # Slack users on duty at some time since `since`: by their own say, or by a rota.
    on_duty: list[str] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return self.received == 0 and self.open_total == 0 and self.overdue_total == 0


@dataclass(frozen=True, slots=True)
class StatsFacts:
    handles: list[str]
    period: Period
    busiest: list[int]
    terms: list[tuple[str, int]]
    terms_read: int


def digest_blocks(facts: DigestFacts) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) for a channel's daily digest."""
    title = f"Roost digest · {facts.day:%a %-d %b}"
    whose = _named(facts.handles)
    since = _since(facts)
    if facts.quiet:
        text = f"{title}: a quiet day. No new mentions {since}, and nothing is open."
        quiet = [
            header(title),
            section(
                f":sunny: *A quiet day.* No new mentions {since}, and nothing is open "
                f"for {whose}. Enjoy it."
            ),
            *_scheduled_blocks(facts),
            *_spend_blocks(facts),
            context(_footer(facts.zone)),
        ]
        return text, quiet

    text = (
        f"{title}: {_count(facts.received, 'new mention')}, {facts.open_total} open, "
        f"{facts.overdue_total} overdue."
    )
    came_in = (
        f"*{_count(facts.received, 'new mention')}* {since}"
        f" ({facts.received_overnight} {facts.overnight_label}) for {whose}."
    )
    blocks: list[dict[str, Any]] = [header(title), section(came_in)]
    blocks.extend(section(line) for line in facts.surges)
    if facts.on_duty:
        on = ", ".join(_who(user, facts.names) for user in facts.on_duty)
        when = "since the last digest" if facts.since_last else "in the last 24 hours"
        blocks.append(context(f":large_green_circle: On duty {when}: {on}"))
    blocks.append(section(_open_text(facts)))
    if facts.overdue_total:
        blocks.append(
            section(
                _list(
                    f":alarm_clock: *Overdue* ({facts.overdue_total}): past the reply target",
                    facts.overdue,
                    facts.overdue_total,
                    "/roost inbox",
                    facts.names,
                )
            )
        )
    blocks.append(section(_period_text("This week", facts.week)))
    people = _people_text(facts.week.people, facts.names)
    if people:
        blocks.append(section(people))
    habits = _habits_text(facts.busiest, facts.terms, facts.terms_read)
    if habits:
        blocks.append(section(habits))
    blocks.extend(_scheduled_blocks(facts))
    blocks.extend(_spend_blocks(facts))
    blocks.append(context(_footer(facts.zone)))
    return text, blocks


def _spend_blocks(facts: DigestFacts) -> list[dict[str, Any]]:
    """What X bills, as Roost counts it: one line an account (its handle is Roost's own
    text; `/roost spend` has the detail)."""
    if not facts.spend:
        return []
    return [context(":money_with_wings: " + " · ".join(escape(line) for line in facts.spend))]


def person_blocks(
    day: date, items: list[Item], total: int, overdue: int
) -> tuple[str, list[dict[str, Any]]]:
    """A person's morning DM: what is assigned to them (`total`), `overdue` of it late."""
    title = f"Good morning. {_count(total, 'item')} assigned to you"
    text = f"{title}." + (f" {overdue} overdue." if overdue else "")
    body = _list(
        f"*{title}*" + (f" ({overdue} overdue)" if overdue else ""),
        items,
        total,
        "/roost mine",
        whose=False,  # a person's own DM lists only their items
    )
    return text, [section(body), context(f"Your Roost digest for {day:%a %-d %b}.")]


def stats_blocks(facts: StatsFacts) -> tuple[str, list[dict[str, Any]]]:
    """`/roost stats`: the period's figures against the one before."""
    period = facts.period
    whose = _named(facts.handles)
    title = f"Last {period.days} days for {whose}"
    text = (
        f"{title}: {_count(period.received, 'mention')}, median first response "
        f"{duration(period.first_response.median)}."
    )
    blocks: list[dict[str, Any]] = [
        section(f"*{escape_within(title, 200)[0]}*"),
        section(_period_text(f"Last {period.days} days", period)),
    ]
    people = _people_text(period.people, {})
    if people:
        blocks.append(section(people))
    habits = _habits_text(facts.busiest, facts.terms, facts.terms_read)
    if habits:
        blocks.append(section(habits))
    blocks.append(context(_footer(period.zone)))
    return text, blocks


# ---------------------------------------------------------------- pieces


def _open_text(facts: DigestFacts) -> str:
    if facts.open_total == 0:
        return ":white_check_mark: *Nothing is open.*"
    who = []
    for assignee, count in facts.open_by_assignee[:LIST_ITEMS]:
        who.append(f"{_who(assignee, facts.names)} {count}")
    rest = len(facts.open_by_assignee) - LIST_ITEMS
    if rest > 0:
        who.append(f"{rest} more people")
    head = f":inbox_tray: *Open* ({facts.open_total}): " + " · ".join(who)
    return _list(
        head + "\nOldest first:", facts.oldest_open, facts.open_total, "/roost inbox", facts.names
    )


def _list(
    head: str,
    items: list[Item],
    total: int,
    more: str,
    names: dict[str, str] | None = None,
    *,
    whose: bool = True,
) -> str:
    """A heading and one line per item, cut to fit a section, ending with what was left."""
    lines = [head]
    shown = 0
    reserve = 120  # room for the "and N more" line
    for item in items:
        line = "• " + _line(item, names or {}, whose)
        if sum(len(x) + 1 for x in lines) + len(line) + reserve > SECTION_LIMIT:
            break
        lines.append(line)
        shown += 1
    if total > shown:
        lines.append(f"… and {total - shown} more: `{more}`")
    return "\n".join(lines)


def _line(item: Item, names: dict[str, str], whose: bool) -> str:
    quoted, cut = escape_within(" ".join(item.text.split()), PREVIEW)
    author = f"@{escape(item.author)}" if item.author else "someone"
    what = f"{author} to @{escape(item.handle)}: {quoted}{'…' if cut else ''}"
    shown = f"<{item.url}|{what.replace('|', '∣')}>" if item.url else what
    whom = f" · {_who(item.assignee, names)}" if whose else ""
    since = f"<!date^{int(item.created_at.timestamp())}^{{date_short_pretty}} {{time}}|earlier>"
    return f"{shown}\n    {since}{whom}{' · overdue' if item.overdue else ''}"


def _period_text(name: str, period: Period) -> str:
    first, resolution = period.first_response, period.resolution
    lines = [
        f":stopwatch: *{name}*: {_count(period.received, 'mention')} "
        f"({period.received_before} in the {period.days} days before), "
        f"{period.answered} answered, {period.resolved} resolved.",
        f"Median first response *{duration(first.median)}* ({trend(first.median, first.before)})",
        f"Median resolution *{duration(resolution.median)}* "
        f"({trend(resolution.median, resolution.before, 'none resolved')})",
    ]
    if len(period.accounts) > 1:
        lines.extend(
            _line_of(f"@{escape(a.key)}", a, account=True) for a in period.accounts[:LIST_ITEMS]
        )
        if len(period.accounts) > LIST_ITEMS:
            lines.append(f"… and {len(period.accounts) - LIST_ITEMS} more accounts")
    return "\n".join(lines)


def _people_text(people: list[Line], names: dict[str, str]) -> str | None:
    if not people:
        return None
    lines = ["*By person*: first responses sent, and mentions resolved"]
    lines.extend(_line_of(_who(p.key, names), p) for p in people[:LIST_ITEMS])
    if len(people) > LIST_ITEMS:
        lines.append(f"… and {len(people) - LIST_ITEMS} more people")
    return "\n".join(lines)


def _line_of(label: str, line: Line, *, account: bool = False) -> str:
    """One account's or person's figures: a measure with nothing now or before is left out."""
    parts = [_count(line.received, "mention")] if account else []
    for figure, did, none in (
        (line.first_response, "answered", "none answered"),
        (line.resolution, "resolved", "none resolved"),
    ):
        if figure.count:
            parts.append(
                f"{figure.count} {did}, median {duration(figure.median)} "
                f"({trend(figure.median, figure.before, none)})"
            )
        elif figure.before is not None:
            parts.append(f"{none} (median {duration(figure.before)} the period before)")
    return f"• {label}: " + ("; ".join(parts) or "nothing this period")


_MARKS = str.maketrans("", "", "*_~`")


def _who(user: str | None, names: dict[str, str]) -> str:
    """A person, named without pinging them: by the name Slack gave, their CoTag, or,
    where Roost knows neither, their Slack id (a mention would notify them)."""
    if user is None:
        return "unassigned"
    # Slack has no escape for its formatting marks: a name with ``` would open a code block.
    name = names.get(user, "").translate(_MARKS).strip()
    if not name:
        return f"a teammate ({escape(user)})"
    return escape(name) if name.startswith("^") else f"@{escape(name)}"


def _habits_text(busiest: list[int], terms: list[tuple[str, int]], read: int) -> str | None:
    parts = []
    if busiest:
        parts.append(
            ":bar_chart: *Busiest hours*: "
            + ", ".join(f"{h:02d}:00–{(h + 1) % 24:02d}:00" for h in busiest)
        )
    if terms:
        words = ", ".join(
            f"{escape_within(term, TERM_CHARS)[0]} ({count})" for term, count in terms[:TERMS]
        )
        among = f" (in the latest {read:,} mentions)" if read >= TERM_TEXTS else ""
        parts.append(f":speech_balloon: *Recurring*{among}: {words}")
    return "\n".join(parts) or None


def _scheduled_blocks(facts: DigestFacts) -> list[dict[str, Any]]:
    if not facts.scheduled:
        return []
    lines = [f":calendar: *Scheduled today* ({len(facts.scheduled)})"]
    shown = 0
    for post in facts.scheduled:
        preview, cut = escape_within(" ".join(post.text.split()), PREVIEW)
        when = f"<!date^{int(post.run_at.timestamp())}^{{time}}|{post.run_at:%H:%M} UTC>"
        handles = ", ".join(f"@{escape(h)}" for h in post.handles)
        line = f"• {when} {handles}: {preview}{'…' if cut else ''}"
        if sum(len(x) + 1 for x in lines) + len(line) + 120 > SECTION_LIMIT:
            break
        lines.append(line)
        shown += 1
    if len(facts.scheduled) > shown:
        lines.append(f"… and {len(facts.scheduled) - shown} more: `/roost queue`")
    return [section("\n".join(lines))]


def _named(handles: list[str]) -> str:
    named = ", ".join(f"@{escape(h)}" for h in handles[:HANDLES_NAMED]) or "no accounts"
    more = len(handles) - HANDLES_NAMED
    return named + (f" and {more} more accounts" if more > 0 else "")


def _since(facts: DigestFacts) -> str:
    if not facts.since_last:
        return "in the last 24 hours"
    at = int(facts.since.timestamp())
    fallback = f"{facts.since:%d %b %H:%M} UTC"
    return f"since the last digest (<!date^{at}^{{date_short_pretty}} {{time}}|{fallback}>)"


def _footer(zone: str) -> str:
    return f"Hours in {zone}. `/roost stats` for 7 or 30 days, `/roost inbox` for everything open."


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
