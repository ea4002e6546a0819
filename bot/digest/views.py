"""What the digest, a person's DM digest and /roost stats look like: pure Block Kit.

Every list is cut to fit Slack's limits (3,000 characters a section, 50
blocks a message), however much is waiting, and says how many it left out
and where the rest is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from bot import i18n
from bot.digest.figures import Line, Period, duration, trend
from bot.i18n import N_, _, ngettext
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

INBOX = "/roost inbox"  # not spoken: the commands that show the rest of a list
MINE = "/roost mine"  # not spoken
QUEUE = "/roost queue"  # not spoken


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
    """(notification text, blocks) for a channel's daily digest, in the context's language
    (the channel's, when it is posted)."""
    title = _("Roost digest · {day}").format(day=i18n.day(facts.day))
    whose = _named(facts.handles)
    since = _since(facts)
    if facts.quiet:
        text = _("{title}: a quiet day. No new mentions {since}, and nothing is open.").format(
            title=title, since=since
        )
        quiet = [
            header(title),
            section(
                _(
                    ":sunny: *A quiet day.* No new mentions {since}, and nothing is open "
                    "for {whose}. Enjoy it."
                ).format(since=since, whose=whose)
            ),
            *_scheduled_blocks(facts),
            *_spend_blocks(facts),
            context(_footer(facts.zone)),
        ]
        return text, quiet

    new = _new_mentions(facts.received)
    text = _("{title}: {mentions}, {open} open, {overdue} overdue.").format(
        title=title, mentions=new, open=facts.open_total, overdue=facts.overdue_total
    )
    came_in = _("*{mentions}* {since} ({count} {overnight}) for {whose}.").format(
        mentions=new,
        since=since,
        count=facts.received_overnight,
        overnight=facts.overnight_label,
        whose=whose,
    )
    blocks: list[dict[str, Any]] = [header(title), section(came_in)]
    blocks.extend(section(line) for line in facts.surges)
    if facts.on_duty:
        on = ", ".join(_who(user, facts.names) for user in facts.on_duty)
        if facts.since_last:
            duty = _(":large_green_circle: On duty since the last digest: {people}")
        else:
            duty = _(":large_green_circle: On duty in the last 24 hours: {people}")
        blocks.append(context(duty.format(people=on)))
    blocks.append(section(_open_text(facts)))
    if facts.overdue_total:
        blocks.append(
            section(
                _list(
                    _(":alarm_clock: *Overdue* ({count}): past the reply target").format(
                        count=facts.overdue_total
                    ),
                    facts.overdue,
                    facts.overdue_total,
                    INBOX,
                    facts.names,
                )
            )
        )
    blocks.append(section(_period_text(_("This week"), facts.week)))
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
    """A person's morning DM: what is assigned to them (`total`), `overdue` of it late, in
    the context's language (theirs, when it is sent)."""
    title = ngettext(
        "Good morning. {count} item assigned to you",
        "Good morning. {count} items assigned to you",
        total,
    ).format(count=f"{total:,}")
    text = f"{title}."
    head = f"*{title}*"
    if overdue:
        text += " " + _("{count} overdue.").format(count=overdue)
        head += " " + _("({count} overdue)").format(count=overdue)
    body = _list(
        head,
        items,
        total,
        MINE,
        whose=False,  # a person's own DM lists only their items
    )
    footer = _("Your Roost digest for {day}.").format(day=i18n.day(day))
    return text, [section(body), context(footer)]


def stats_blocks(facts: StatsFacts) -> tuple[str, list[dict[str, Any]]]:
    """`/roost stats`: the period's figures against the one before."""
    period = facts.period
    whose = _named(facts.handles)
    title = _("Last {days} days for {whose}").format(days=period.days, whose=whose)
    text = _("{title}: {mentions}, median first response {duration}.").format(
        title=title,
        mentions=_mentions(period.received),
        duration=duration(period.first_response.median),
    )
    blocks: list[dict[str, Any]] = [
        section(f"*{escape_within(title, 200)[0]}*"),
        section(_period_text(_("Last {days} days").format(days=period.days), period)),
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
        return _(":white_check_mark: *Nothing is open.*")
    who = []
    for assignee, count in facts.open_by_assignee[:LIST_ITEMS]:
        who.append(_("{who} {count}").format(who=_who(assignee, facts.names), count=count))
    rest = len(facts.open_by_assignee) - LIST_ITEMS
    if rest > 0:
        who.append(_("{count} more people").format(count=rest))
    head = _(":inbox_tray: *Open* ({count}): {people}").format(
        count=facts.open_total, people=" · ".join(who)
    )
    return _list(
        head + "\n" + _("Oldest first:"),
        facts.oldest_open,
        facts.open_total,
        INBOX,
        facts.names,
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
        lines.append(_more(total - shown, more))
    return "\n".join(lines)


def _more(count: int, command: str) -> str:
    """The line that ends a cut list: how many more, and the command that shows them."""
    return _("… and {count} more: `{command}`").format(count=count, command=command)


def _line(item: Item, names: dict[str, str], whose: bool) -> str:
    quoted, cut = escape_within(" ".join(item.text.split()), PREVIEW)
    author = f"@{escape(item.author)}" if item.author else _("someone")
    what = _("{author} to @{handle}: {text}").format(
        author=author, handle=escape(item.handle), text=f"{quoted}{'…' if cut else ''}"
    )
    shown = f"<{item.url}|{what.replace('|', '∣')}>" if item.url else what
    whom = f" · {_who(item.assignee, names)}" if whose else ""
    earlier = _("earlier")  # what Slack shows where it cannot render the date
    since = f"<!date^{int(item.created_at.timestamp())}^{{date_short_pretty}} {{time}}|{earlier}>"
    late = " · " + _("overdue") if item.overdue else ""
    return f"{shown}\n    {since}{whom}{late}"


def _period_text(name: str, period: Period) -> str:
    first, resolution = period.first_response, period.resolution
    lines = [
        _(
            ":stopwatch: *{name}*: {mentions} ({before} in the {days} days before), "
            "{answered} answered, {resolved} resolved."
        ).format(
            name=name,
            mentions=_mentions(period.received),
            before=period.received_before,
            days=period.days,
            answered=period.answered,
            resolved=period.resolved,
        ),
        _("Median first response *{duration}* ({trend})").format(
            duration=duration(first.median), trend=trend(first.median, first.before)
        ),
        _("Median resolution *{duration}* ({trend})").format(
            duration=duration(resolution.median),
            trend=trend(resolution.median, resolution.before, NONE_RESOLVED),
        ),
    ]
    if len(period.accounts) > 1:
        lines.extend(
            _line_of(f"@{escape(a.key)}", a, account=True) for a in period.accounts[:LIST_ITEMS]
        )
        if len(period.accounts) > LIST_ITEMS:
            lines.append(
                _("… and {count} more accounts").format(count=len(period.accounts) - LIST_ITEMS)
            )
    return "\n".join(lines)


def _people_text(people: list[Line], names: dict[str, str]) -> str | None:
    if not people:
        return None
    lines = [_("*By person*: first responses sent, and mentions resolved")]
    lines.extend(_line_of(_who(p.key, names), p) for p in people[:LIST_ITEMS])
    if len(people) > LIST_ITEMS:
        lines.append(_("… and {count} more people").format(count=len(people) - LIST_ITEMS))
    return "\n".join(lines)


NONE_ANSWERED = N_("none answered")
NONE_RESOLVED = N_("none resolved")


def _line_of(label: str, line: Line, *, account: bool = False) -> str:
    """One account's or person's figures: a measure with nothing now or before is left out."""
    parts = [_mentions(line.received)] if account else []
    for figure, did, none, none_before in (
        (
            line.first_response,
            _("{count} answered, median {duration} ({trend})"),
            NONE_ANSWERED,
            _("none answered (median {duration} the period before)"),
        ),
        (
            line.resolution,
            _("{count} resolved, median {duration} ({trend})"),
            NONE_RESOLVED,
            _("none resolved (median {duration} the period before)"),
        ),
    ):
        if figure.count:
            parts.append(
                did.format(
                    count=figure.count,
                    duration=duration(figure.median),
                    trend=trend(figure.median, figure.before, none),
                )
            )
        elif figure.before is not None:
            parts.append(none_before.format(duration=duration(figure.before)))
    return f"• {label}: " + ("; ".join(parts) or _("nothing this period"))


_MARKS = str.maketrans("", "", "*_~`")


def _who(user: str | None, names: dict[str, str]) -> str:
    """A person, named without pinging them: by the name Slack gave, their CoTag, or,
    where Roost knows neither, their Slack id (a mention would notify them)."""
    if user is None:
        return _("unassigned")
    # Slack has no escape for its formatting marks: a name with ``` would open a code block.
    name = names.get(user, "").translate(_MARKS).strip()
    if not name:
        return _("a teammate ({user})").format(user=escape(user))
    return escape(name) if name.startswith("^") else f"@{escape(name)}"


def _habits_text(busiest: list[int], terms: list[tuple[str, int]], read: int) -> str | None:
    parts = []
    if busiest:
        hours = ", ".join(f"{_hour(h)}–{_hour((h + 1) % 24)}" for h in busiest)
        parts.append(_(":bar_chart: *Busiest hours*: {hours}").format(hours=hours))
    if terms:
        words = ", ".join(
            f"{escape_within(term, TERM_CHARS)[0]} ({count})" for term, count in terms[:TERMS]
        )
        if read >= TERM_TEXTS:
            recurring = _(":speech_balloon: *Recurring* (in the latest {read} mentions): {words}")
        else:
            recurring = _(":speech_balloon: *Recurring*: {words}")
        parts.append(recurring.format(read=f"{read:,}", words=words))
    return "\n".join(parts) or None


def _hour(hour: int) -> str:
    """An hour of day on the clock: "09:00", "오전 9:00"."""
    return i18n.clock(datetime.combine(date(2000, 1, 1), time(hour), UTC))


def _scheduled_blocks(facts: DigestFacts) -> list[dict[str, Any]]:
    if not facts.scheduled:
        return []
    lines = [_(":calendar: *Scheduled today* ({count})").format(count=len(facts.scheduled))]
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
        lines.append(_more(len(facts.scheduled) - shown, QUEUE))
    return [section("\n".join(lines))]


def _named(handles: list[str]) -> str:
    named = ", ".join(f"@{escape(h)}" for h in handles[:HANDLES_NAMED]) or _("no accounts")
    more = len(handles) - HANDLES_NAMED
    if more > 0:
        return _("{accounts} and {count} more accounts").format(accounts=named, count=more)
    return named


def _since(facts: DigestFacts) -> str:
    if not facts.since_last:
        return _("in the last 24 hours")
    at = int(facts.since.timestamp())
    fallback = f"{facts.since:%d %b %H:%M} UTC"
    when = f"<!date^{at}^{{date_short_pretty}} {{time}}|{fallback}>"
    return _("since the last digest ({when})").format(when=when)


def _footer(zone: str) -> str:
    return _(
        "Hours in {zone}. `/roost stats` for 7 or 30 days, `/roost inbox` for everything open."
    ).format(zone=zone)


def _new_mentions(n: int) -> str:
    return ngettext("{count} new mention", "{count} new mentions", n).format(count=f"{n:,}")


def _mentions(n: int) -> str:
    return ngettext("{count} mention", "{count} mentions", n).format(count=f"{n:,}")
