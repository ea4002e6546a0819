"""Words watched on X beyond the brand's @mentions: `/roost watch`.

An owner or admin of an account adds a watch: `/roost watch @acme "아이폰 배송" -from:brand`.
Roost asks X about the query at once, so a query X refuses is answered with X's words
before anything is saved. From then on the listener reads X's recent search for it every
ROOST_WATCH_SECONDS (bot.inbox.watch_reader): the posts that match, leaving out the
account's own, those that mention it (they are mentions already) and retweets, come into
the chosen channel as cards marked as not addressed to the account. X lets an app reply
in public only to a post that mentions the account or quotes one of its posts, so such a
card's Reply says so and points to the DM.

Each watch has a monthly budget ($10 unless given). Its reads are priced as X bills them
(each post and each author returned), counted before X's once-a-day deduplication, so its
figure is never below what X bills for it; a read that could pass the budget is not made,
and the watch stops for the month, its channel told once. Its reads count towards the
account's own budget too.

Recent search rather than stream rules, even with the stream: a rule delivers, and X
bills, every match as it comes, and only deleting the rule stops it, while a search's
page size bounds each read's cost before it is made.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import Refused, XError, XQueryRefused, XRateLimited
from bot.i18n import N_, _, clock, ngettext
from bot.i18n import month as month_name
from bot.networks import links
from bot.networks.rules import rules_for
from bot.runtime import Runtime
from bot.slack.channels import check_channel
from bot.slack.mrkdwn import escape
from bot.slack.notices import post_notice
from bot.team.admin import find_account, require_manager_of
from bot.team.credentials import x_client
from bot.team.people import Who, visible_accounts
from bot.x.prices import Prices, load_prices, price_of
from storage.events import record_event
from storage.models import Account, Watch
from storage.watches import live_watches, month_micros, watches_of

USAGE = N_(
    '`/roost watch @account "words" -from:brand` watches X for posts with those words '
    "that do not mention the account, into this channel (add `in #channel` for another, "
    "`budget $20` for a monthly budget other than $10); `/roost watch` lists the watches, "
    "`/roost watch stop 3` stops one, `/roost watch budget 3 $20` changes its budget "
    "(owners and admins)."
)

QUERY_LIMIT = 512
"""The most characters X takes in a recent-search query on self-serve plans, with what
Roost adds to it."""

DEFAULT_BUDGET_MICROS = 10_000_000
"""A watch's monthly budget unless its owner gives one: $10."""

MOST_BUDGET_MICROS = 10_000_000_000
"""The highest monthly budget a watch takes: $10,000."""

MOST_WATCHES = 10
"""Watches an account may run at once: each reads X every ROOST_WATCH_SECONDS, and X
allows 300 searches an account each 15 minutes (150 for ten, at a minute each)."""

CHECK_SPAN = timedelta(seconds=30)
"""How far back the check of a new query looks: X answers whether it takes the query,
and bills the few posts it finds."""

SEARCH_REACH = timedelta(days=7)
"""How far back X's recent search reaches."""

SMALLEST_PAGE = 10
"""The fewest posts X lets a search page ask for."""

_CHANNEL = re.compile(r"(?:^|\s+)(?:in\s+)?<#([CG][A-Z0-9]+)(?:\|[^>]*)?>\s*$", re.IGNORECASE)
_BUDGET = re.compile(r"(?:^|\s+)budget\s+(\S+)\s*$", re.IGNORECASE)
_DOLLARS = re.compile(r"\$?([0-9]{1,6}(?:\.[0-9]{1,2})?)")
_BRAND = re.compile(r"(?<![A-Za-z0-9_])(from:|to:|@)brand(?![A-Za-z0-9_])", re.IGNORECASE)


def search_query(query: str, handle: str) -> str:
    """What Roost asks X for: the owner's words (`brand` in `from:brand`, `to:brand` and
    `@brand` standing for the account), without the account's own posts, its mentions
    and retweets."""
    words = _BRAND.sub(lambda found: found.group(1) + handle, query.strip())
    return f"({words}) -from:{handle} -@{handle} -is:retweet"


def watch_command(
    rt: Runtime, who: Who, text: str, channel_id: str | None
) -> tuple[str, list[dict[str, Any]] | None]:
    """`/roost watch …`: list, add, stop, or change a budget."""
    words = text.split()
    if not words:
        return _listing(rt, who, None), None
    verb = words[0].lower()
    if verb == "stop" and len(words) == 2:
        return _stop(rt, who, _number(words[1])), None
    if verb == "budget" and len(words) == 3:
        return _rebudget(rt, who, _number(words[1]), _micros(words[2])), None
    if not words[0].startswith("@"):
        raise ValueError(_(USAGE))
    handle = words[0].lstrip("@")
    if len(words) == 1:
        return _listing(rt, who, handle), None
    return _add(rt, who, handle, text.split(maxsplit=1)[1], channel_id), None


def _add(rt: Runtime, who: Who, handle: str, rest: str, here: str | None) -> str:
    query, channel, budget = _options(rest)
    channel = channel or (here if here and here[:1] in ("C", "G") else None)
    if channel is None:
        raise Refused(_("Name the channel its posts go to (`in #channel`).") + " " + _(USAGE))
    if not query:
        raise ValueError(_("Give the words to watch for.") + " " + _(USAGE))
    account = require_manager_of(rt, who, find_account(rt, handle).id)
    if not rules_for(account.network).searches:
        raise Refused(
            _(
                "Watched words are read through X's search, and *@{handle}* is on {network}: "
                "watch words for one of the X accounts."
            ).format(handle=escape(account.handle), network=links.label(account.network))
        )
    prices = load_prices(rt.settings.x_prices_file)
    micros = budget if budget is not None else DEFAULT_BUDGET_MICROS
    _require_a_read(micros, prices)
    searched = search_query(query, account.handle)
    if len(searched) > QUERY_LIMIT:
        raise Refused(
            _(
                "That query is {length:,} characters with what Roost adds to it (the account's "
                "own posts, its mentions and retweets left out); X takes {limit}. Shorten it "
                "by {over:,}."
            ).format(length=len(searched), limit=QUERY_LIMIT, over=len(searched) - QUERY_LIMIT)
        )
    with rt.sessions() as session:
        _require_room(session, account, query)
    problem = check_channel(rt.slack, channel)
    if problem is not None:
        raise Refused(problem)
    _ask_x(rt, account, searched)
    now = rt.clock()
    with rt.sessions.begin() as session:
        watch = Watch(
            account_id=account.id,
            query=query,
            channel_id=channel,
            budget_micros=micros,
            created_by=who.user_id,
            created_at=now,
            month_posts=0,
            month_micros=0,
        )
        session.add(watch)
        # Written first, then checked again with the account's row locked: of two adds at
        # once, the second sees the first (PostgreSQL waits on the lock; SQLite lets one
        # writer at a time begin), and one past the limit is undone with the transaction.
        session.flush()
        session.get_one(Account, account.id, with_for_update=True)
        _require_room(session, account, query, besides=watch.id)
        record_event(
            session,
            "watch.added",
            now,
            actor=who.user_id,
            account_id=account.id,
            watch=watch.id,
            query=query,
            channel=channel,
            budget=micros / 1_000_000,
        )
        number = watch.id
    return " ".join(
        [
            _(
                "Watching X for {words} on behalf of *@{handle}* (watch {number}): posts that "
                "match and do not mention it come to <#{channel}> as cards, read every {period}."
            ).format(
                words=_quoted(query),
                handle=escape(account.handle),
                number=number,
                channel=channel,
                period=_period(rt.settings.roost_watch_seconds),
            ),
            _price_line(prices),
            _("It stops for the month at {budget}.").format(budget=_dollars(micros)),
            _("`/roost watch stop {number}` stops it.").format(number=number),
        ]
    )


def _require_room(
    session: Session, account: Account, query: str, *, besides: int | None = None
) -> None:
    """Refused if the account runs as many watches as it may, or one of these words (not
    counting the watch `besides`)."""
    running = [w for w in live_watches(session, account.id) if w.id != besides]
    same = next((w for w in running if _same_words(w.query, query)), None)
    if same is not None:
        raise Refused(
            _(
                "Watch {number} already watches {words} for *@{handle}*: "
                "`/roost watch budget {number} $N` changes its budget."
            ).format(number=same.id, words=_quoted(query), handle=escape(account.handle))
        )
    if len(running) >= MOST_WATCHES:
        raise Refused(
            _(
                "*@{handle}* already has {most} watches, as many as X's search limits let Roost "
                "read each minute: stop one first (`/roost watch stop N`)."
            ).format(handle=escape(account.handle), most=MOST_WATCHES)
        )


def _same_words(one: str, other: str) -> bool:
    return " ".join(one.casefold().split()) == " ".join(other.casefold().split())


def _ask_x(rt: Runtime, account: Account, searched: str) -> None:
    """Whether X takes the query, asked over a few seconds of posts; Refused with X's words
    if not, or if X cannot answer now."""
    end = rt.clock() - timedelta(seconds=rt.settings.x_search_lag_seconds)
    try:
        x_client(rt, account).search_page(
            searched, start_time=end - CHECK_SPAN, end_time=end, max_results=SMALLEST_PAGE
        )
    except XQueryRefused as exc:
        raise Refused(f"{exc} " + _("Nothing was saved: change the words and try again.")) from None
    except XRateLimited as exc:
        raise Refused(
            _(
                "X's search limit for *@{handle}* is spent until {time} UTC: add the watch then."
            ).format(handle=escape(account.handle), time=clock(exc.reset_at))
        ) from None
    except XError as exc:
        raise Refused(f"{exc} " + _("Nothing was saved: try again in a moment.")) from None


def _stop(rt: Runtime, who: Who, number: int) -> str:
    watch = _watch(rt, number)
    account = require_manager_of(rt, who, watch.account_id)
    if watch.stopped_at is not None:
        return _("Watch {number} stopped already.").format(number=number)
    now = rt.clock()
    with rt.sessions.begin() as session:
        row = session.get_one(Watch, number)
        row.stopped_at, row.stopped_by = now, who.user_id
        record_event(
            session, "watch.stopped", now, actor=who.user_id, account_id=account.id, watch=number
        )
    return _(
        "Stopped watch {number} ({words} for *@{handle}*): its cards stay where they are."
    ).format(number=number, words=_quoted(watch.query), handle=escape(account.handle))


def _rebudget(rt: Runtime, who: Who, number: int, micros: int) -> str:
    watch = _watch(rt, number)
    account = require_manager_of(rt, who, watch.account_id)
    prices = load_prices(rt.settings.x_prices_file)
    _require_a_read(micros, prices)
    now = rt.clock()
    month = month_of(now)
    with rt.sessions.begin() as session:
        row = session.get_one(Watch, number, with_for_update=True)
        spent = month_micros(row, month)
        row.budget_micros = micros
        enough = micros - spent >= smallest_read(prices)
        resumed = row.capped_month == month and enough and row.stopped_at is None
        if resumed:
            row.capped_month = None
        record_event(
            session,
            "watch.budget",
            now,
            actor=who.user_id,
            account_id=account.id,
            watch=number,
            budget=micros / 1_000_000,
        )
    said = _(
        "Watch {number} ({words} for *@{handle}*) now has {budget} a month; {spent} is spent "
        "this month."
    ).format(
        number=number,
        words=_quoted(watch.query),
        handle=escape(account.handle),
        budget=_dollars(micros),
        spent=_dollars(spent),
    )
    if resumed:
        said += " " + _("It reads again from where it stopped.")
    elif not enough:
        said += " " + _(
            "That leaves less than X's smallest read ({smallest}), so it reads again on {day}."
        ).format(smallest=_dollars(smallest_read(prices)), day=_day_of_month(next_month(now)))
    return said


def _listing(rt: Runtime, who: Who, handle: str | None) -> str:
    now = rt.clock()
    with rt.sessions() as session:
        accounts = {a.id: a for a in visible_accounts(rt, session, who, handle)}
        found = watches_of(session, list(accounts))
    if not found:
        return _("No watches yet.") + " " + _(USAGE)
    month = month_of(now)
    lines = [
        f"• *{w.id}* · *@{escape(accounts[w.account_id].handle)}* · {_quoted(w.query)} → "
        f"<#{w.channel_id}> · {_spend_line(w, month, now)} · {state_of(w, month, now)}"
        for w in found
    ]
    return _("Watched words:") + "\n" + "\n".join(lines) + "\n" + _(USAGE)


def _spend_line(watch: Watch, this_month: str, now: datetime) -> str:
    posts = watch.month_posts if watch.month == this_month else 0
    return ngettext(
        "{spent} of {budget} in {month} ({posts:,} post read)",
        "{spent} of {budget} in {month} ({posts:,} posts read)",
        posts,
    ).format(
        spent=_dollars(month_micros(watch, this_month)),
        budget=_dollars(watch.budget_micros),
        month=month_name(now),
        posts=posts,
    )


def state_of(watch: Watch, month: str, now: datetime) -> str:
    """Where the watch stands, as its list says it."""
    if watch.stopped_at is not None:
        if watch.stopped_by:
            return _("stopped by <@{user}>").format(user=watch.stopped_by)
        return _("stopped")
    if watch.refused is not None:
        return _(":warning: {why} Stop it and add it again, changed.").format(
            why=escape(watch.refused)
        )
    if watch.capped_month == month:
        return _(
            ":double_vertical_bar: stopped at its budget; it reads again on {day}, or raise it "
            "(`/roost watch budget {number} $N`)"
        ).format(day=_day_of_month(next_month(now)), number=watch.id)
    if watch.last_error:
        return _("reading; the last read failed: {error}").format(error=escape(watch.last_error))
    return _("reading") if watch.last_polled_at else _("starting")


def capped_text(watch: Watch, handle: str, now: datetime) -> str:
    """The channel's one notice of the month when a watch reaches its budget: said in the
    language of the context it is built in (the channel's: bot.inbox.watch_reader)."""
    return _(
        ":double_vertical_bar: Watch {number} ({words} for *@{handle}*) stopped at its budget: "
        "{spent} of {budget} this month. It reads again on {day}, from where it stopped, or "
        "sooner if an owner raises it: `/roost watch budget {number} $N`."
    ).format(
        number=watch.id,
        words=_quoted(watch.query),
        handle=escape(handle),
        spent=_dollars(month_micros(watch, month_of(now))),
        budget=_dollars(watch.budget_micros),
        day=_day_of_month(next_month(now)),
    )


def refused_text(watch: Watch, handle: str, why: str) -> str:
    """The channel's notice when X stops taking a watch's query: said in the language of
    the context it is built in (the channel's: bot.inbox.watch_reader)."""
    return _(
        ":warning: Watch {number} ({words} for *@{handle}*) stopped: {why} Stop it "
        "(`/roost watch stop {number}`) and add it again with words X takes."
    ).format(number=watch.id, words=_quoted(watch.query), handle=escape(handle), why=escape(why))


def tell_watch(watch_id: int, key: str, text: str) -> None:
    """RQ job: post a watch's notice in its channel, once however often it runs."""
    rt = runtime.current()
    with rt.sessions() as session:
        channel = session.get_one(Watch, watch_id).channel_id
    post_notice(rt, key, channel, text)  # written in the channel's language when queued


def month_of(moment: datetime) -> str:
    """The UTC month a read is counted in: YYYY-MM."""
    return f"{moment:%Y-%m}"


def next_month(moment: datetime) -> datetime:
    return (moment.replace(day=1) + timedelta(days=32)).replace(day=1)


def smallest_read(prices: Prices) -> int:
    """What X's smallest search page (SMALLEST_PAGE posts) can cost at its worst: a
    watch's budget must leave this much for it to read, in micro-dollars."""
    return SMALLEST_PAGE * worst_per_post(prices)


def _require_a_read(micros: int, prices: Prices) -> None:
    if micros < smallest_read(prices):
        raise Refused(
            _(
                "A watch's budget must pay for X's smallest read ({posts} posts, {cost} at their "
                "worst): give at least that."
            ).format(posts=SMALLEST_PAGE, cost=_dollars(smallest_read(prices)))
        )


def worst_per_post(prices: Prices) -> int:
    """The most a post found can cost, in micro-dollars: itself, the two posts it can
    reference (the one it replies to, the one it quotes), and its author."""
    return round((3 * price_of(prices, "read:post") + price_of(prices, "read:user")) * 1e6)


def _price_line(prices: Prices) -> str:
    post, user = price_of(prices, "read:post"), price_of(prices, "read:user")
    return _("X bills ${post:.3f} for each post read and ${user:.3f} for each author.").format(
        post=post, user=user
    )


def _options(text: str) -> tuple[str, str | None, int | None]:
    """(the words, the channel, the budget) of an add: `in #channel` and `budget $N` come
    after the words, in either order."""
    channel: str | None = None
    budget: int | None = None
    while True:
        if channel is None and (found := _CHANNEL.search(text)) is not None:
            channel, text = found.group(1), text[: found.start()]
        elif budget is None and (found := _BUDGET.search(text)) is not None:
            budget, text = _micros(found.group(1)), text[: found.start()]
        else:
            return text.strip(), channel, budget


def _micros(word: str) -> int:
    found = _DOLLARS.fullmatch(word.strip())
    micros = round(float(found.group(1)) * 1_000_000) if found else 0
    if not 0 < micros <= MOST_BUDGET_MICROS:
        raise ValueError(
            _("{word} is not a budget: give dollars a month, such as `$20`, up to {most}.").format(
                word=escape(repr(word)), most=_dollars(MOST_BUDGET_MICROS)
            )
        )
    return micros


def _number(word: str) -> int:
    if not word.isdigit():
        raise ValueError(
            _("{word} is not a watch's number: `/roost watch` lists them.").format(
                word=escape(repr(word))
            )
        )
    return int(word)


def _watch(rt: Runtime, number: int) -> Watch:
    with rt.sessions() as session:
        watch = session.get(Watch, number)
    if watch is None:
        raise Refused(
            _("There is no watch {number}: `/roost watch` lists them.").format(number=number)
        )
    return watch


def _quoted(query: str) -> str:
    return f"`{escape(query).replace('`', 'ˋ')}`"


def _dollars(micros: int) -> str:
    """Dollars with cents, or with tenths of a cent where X's prices leave some: $0.015."""
    places = 2 if micros % 10_000 == 0 else 3
    return f"${micros / 1_000_000:,.{places}f}"


def _period(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        if minutes == 1:
            return _("minute")
        return _("{n} minutes").format(n=minutes)
    return _("{n} seconds").format(n=f"{seconds:g}")


def _day_of_month(moment: datetime) -> str:
    """ "1 December", "12월 1일"."""
    return _("{day} {month}").format(day=moment.day, month=month_name(moment))
