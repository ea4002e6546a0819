"""Which channel a card goes to: the account's routes, first match wins, else its channel.

A route is keywords (`아이폰|iphone`) or a regular expression. Keywords
match like banned words do: case and Unicode form aside, whole words in
spaced scripts and anywhere in Hangul and CJK, where particles attach
("아이폰이"). Regular expressions run on RE2, which matches in time linear
in the text: a route someone typed can never hang delivery by backtracking.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import re2
from sqlalchemy.orm import Session

from bot.errors import Refused, RoostError
from bot.i18n import N_, _
from bot.runtime import Runtime
from bot.slack.channels import check_channel
from bot.slack.mrkdwn import escape
from bot.team.admin import find_account, require_manager_of
from bot.team.people import Who
from bot.words import find_word
from storage import routes as queries
from storage.events import record_event
from storage.models import Account, Mention, Route

logger = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 500
"""Characters in a route's keywords or regex; longer is a paste gone wrong."""

REGEX_MAX_MEM = 1 << 20
"""Bytes RE2 may use for one compiled route (its default is 8 MiB); a bigger one is refused."""

MAX_ROUTES = 20
"""Routes per account: every card is tried against each, and the routes list shows 20."""

PREVIEW_MAX = 1000
"""Most recent mentions a route's test may look through."""

MATCHER_CACHE = 256
"""Compiled routes kept (each RE2 one may hold up to REGEX_MAX_MEM); delivery matches every
card against its account's routes."""


class RouteError(RoostError):
    """A route or channel that cannot be used; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """Any of the keywords, each matched like a banned word (see bot.words)."""

    keywords: tuple[str, ...]

    def matches(self, text: str) -> bool:
        return find_word(text, self.keywords) is not None


@dataclass(frozen=True, slots=True)
class RegexMatcher:
    """A case-insensitive RE2 expression, searched anywhere in the text."""

    regex: Any  # re2._Regexp: google-re2 ships no type hints

    def matches(self, text: str) -> bool:
        return self.regex.search(unicodedata.normalize("NFC", text)) is not None


Matcher = KeywordMatcher | RegexMatcher


def compile_route(pattern: str, *, is_regex: bool) -> Matcher:
    """The matcher for a route's pattern; RouteError says what is wrong with it."""
    pattern = pattern.strip()
    if not pattern:
        raise RouteError(
            _("The route is empty: give keywords such as 아이폰|iphone, or a regular expression.")
        )
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RouteError(
            _("The route is {length:,} characters long; keep it under {limit}.").format(
                length=len(pattern), limit=MAX_PATTERN_LENGTH
            )
        )
    return _matcher(pattern, is_regex)


@functools.lru_cache(maxsize=MATCHER_CACHE)
def _matcher(pattern: str, is_regex: bool) -> Matcher:
    # Errors are not cached: a route that fails is reported again, not hidden.
    if is_regex:
        return RegexMatcher(_regex(pattern))
    keywords = tuple(dict.fromkeys(word.strip() for word in pattern.split("|") if word.strip()))
    if not keywords:
        raise RouteError(_("The route has no keywords: separate them with |, as in 아이폰|iphone."))
    return KeywordMatcher(keywords)


def _regex(pattern: str) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = REGEX_MAX_MEM
    options.log_errors = False  # the RouteError tells the person; stderr would tell nobody
    try:
        return re2.compile(unicodedata.normalize("NFC", pattern), options)
    except re2.error as exc:
        raise RouteError(_regex_problem(exc)) from None


def _regex_problem(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else _("unknown error")
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    if "too large" in detail:  # not spoken: RE2's words
        return _(
            "The regular expression is too large to match safely: shorten it, "
            "or use smaller repetition counts."
        )
    message = _("The regular expression does not compile: {detail}.").format(detail=detail)
    _before, bad_escape, escaped = detail.partition("escape sequence: \\")  # not spoken: RE2's
    if "perl operator" in detail or (bad_escape and escaped[:1].isdigit()):  # not spoken: RE2's
        # RE2 refuses exactly what makes other engines backtrack for ever.
        message += " " + _(
            "Roost matches routes with RE2, which has no backreferences (\\1) or "
            "lookarounds ((?=…), (?!…), (?<=…)): rewrite it without them, or use keywords."
        )
    elif bad_escape and escaped == "Z":
        message += " " + _("For the end of the text, write \\z.")
    return message


def add_route(
    rt: Runtime, *, account_id: int, pattern: str, is_regex: bool, channel_id: str, actor: str
) -> int:
    """Add a route, tried after the account's others; returns its id.

    RouteError if the pattern does not compile, the channel is not usable
    or the account has MAX_ROUTES already.
    """
    compile_route(pattern, is_regex=is_regex)
    _require_usable(rt, channel_id)
    now = rt.clock()
    with rt.sessions.begin() as session:
        if session.get(Account, account_id) is None:
            raise RouteError(_("This account is no longer in Roost."))
        if len(queries.routes_of(session, account_id)) >= MAX_ROUTES:
            raise RouteError(
                _("An account has at most {most} routes: remove one first.").format(most=MAX_ROUTES)
            )
        added = queries.append_route(
            session,
            account_id=account_id,
            pattern=pattern.strip(),
            is_regex=is_regex,
            channel_id=channel_id,
            created_by=actor,
            now=now,
        )
        record_event(
            session,
            "route.added",
            now,
            actor=actor,
            account_id=account_id,
            route_id=added.id,
            pattern=added.pattern,
            is_regex=is_regex,
            channel=channel_id,
        )
        return added.id


def remove_route(rt: Runtime, route_id: int, *, actor: str) -> None:
    """Remove a route; RouteError if it was removed already."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        removed = queries.delete_route(session, route_id)
        if removed is None:
            raise RouteError(_("This route was removed already."))
        record_event(
            session,
            "route.removed",
            now,
            actor=actor,
            account_id=removed.account_id,
            route_id=route_id,
            pattern=removed.pattern,
            is_regex=removed.is_regex,
            channel=removed.channel_id,
        )


def route(rt: Runtime, route_id: int) -> Route | None:
    """One route, or None if it was removed."""
    with rt.sessions() as session:
        return session.get(Route, route_id)


def routes_for(rt: Runtime, who: Who, account_id: int) -> tuple[Account, list[Route]]:
    """The account and its routes, for someone who manages it; Refused otherwise."""
    account = require_manager_of(rt, who, account_id)
    return account, routes_of(rt, account.id)


def test_saved_route(rt: Runtime, who: Who, route_id: int) -> tuple[Route, list[Mention]]:
    """A route's Test: what it would have caught lately, for someone who manages it."""
    found = _managed_route(rt, who, route_id)
    matches = preview_route(
        rt, found.account_id, found.pattern, is_regex=found.is_regex, limit=PREVIEW_MENTIONS
    )
    return found, matches


def remove_saved_route(rt: Runtime, who: Who, route_id: int) -> Route:
    """A route's Remove, by someone who manages its account; the route removed."""
    found = _managed_route(rt, who, route_id)
    try:
        remove_route(rt, found.id, actor=who.user_id)
    except RouteError as exc:
        raise Refused(str(exc)) from None
    return found


def _managed_route(rt: Runtime, who: Who, route_id: int) -> Route:
    found = route(rt, route_id)
    if found is None:
        raise Refused(_("This route was removed already."))
    require_manager_of(rt, who, found.account_id)
    return found


def routes_of(rt: Runtime, account_id: int) -> list[Route]:
    """The account's routes in the order they are tried."""
    with rt.sessions() as session:
        return queries.routes_of(session, account_id)


def set_default_channel(rt: Runtime, account_id: int, channel_id: str, *, actor: str) -> None:
    """Send the account's cards that no route matches to `channel_id`.

    Cards already posted stay where they are, and their threads with them.
    """
    _require_usable(rt, channel_id)
    now = rt.clock()
    with rt.sessions.begin() as session:
        previous = queries.set_account_channel(session, account_id, channel_id, now)
        if previous is None:
            raise RouteError(_("This account is no longer in Roost."))
        record_event(
            session,
            "account.channel",
            now,
            actor=actor,
            account_id=account_id,
            previous=previous,
            channel=channel_id,
        )


def preview_route(
    rt: Runtime, account_id: int, pattern: str, *, is_regex: bool, limit: int = 200
) -> list[Mention]:
    """Which of the account's latest `limit` cards the pattern would have matched, newest first.

    What a route's Test button shows. Cards only: thread replies follow
    their card wherever it went.
    """
    matcher = compile_route(pattern, is_regex=is_regex)
    with rt.sessions() as session:
        recent = queries.latest_cards(session, account_id, max(0, min(limit, PREVIEW_MAX)))
    return [mention for mention in recent if matcher.matches(mention.text)]


def channel_for(session: Session, account: Account, text: str) -> str:
    """Where a new card with this text goes: the first matching route's channel, else the
    account's own."""
    for found in queries.routes_of(session, account.id):
        try:
            matcher = compile_route(found.pattern, is_regex=found.is_regex)
        except RouteError as exc:
            # Stored before a stricter check, or typed into the database: skip, never drop.
            logger.warning("route %s of account %s skipped: %s", found.id, account.id, exc)
            continue
        if matcher.matches(text):
            return found.channel_id
    return account.channel_id


def _require_usable(rt: Runtime, channel_id: str) -> None:
    problem = check_channel(rt.slack, channel_id)
    if problem is not None:
        raise RouteError(problem)


_CHANNEL = re.compile(r"^(?:<#([CG][A-Z0-9]+)(?:\|[^>]*)?>|([CG][A-Z0-9]{4,}))$")


@dataclass(frozen=True, slots=True)
class RouteArgs:
    handle: str
    channel_id: str
    pattern: str | None = None  # None: move the account's default channel
    is_regex: bool = False


ROUTE_USAGE = N_(
    "`/roost route @account #channel` moves the account's cards; "
    "`/roost route @account 아이폰|iphone #channel` routes mentions with those words; "
    "`/roost route @account /regex/ #channel` routes by a regular expression."
)


def parse_route_args(text: str) -> RouteArgs:
    """`@brand #channel`, `@brand words|more #channel` or `@brand /regex/ #channel`."""
    words = text.split()
    if len(words) < 2 or not words[0].startswith("@"):
        raise Refused(_(ROUTE_USAGE))
    channel = _CHANNEL.match(words[-1])
    if channel is None:
        raise Refused(
            _("{word} is not a channel: pick one with # so Slack links it.").format(
                word=repr(escape(words[-1]))
            )
            + " "
            + _(ROUTE_USAGE)
        )
    channel_id = channel.group(1) or channel.group(2)
    middle = " ".join(words[1:-1]).strip()
    if not middle:
        return RouteArgs(words[0][1:], channel_id)
    if len(middle) > 1 and middle.startswith("/") and middle.endswith("/"):
        return RouteArgs(words[0][1:], channel_id, middle[1:-1], True)
    return RouteArgs(words[0][1:], channel_id, middle, False)


@dataclass(frozen=True, slots=True)
class RouteChange:
    """What `/roost route` did: moved the default channel, or added a route (with the
    recent mentions it would have caught)."""

    handle: str
    channel_id: str
    pattern: str | None = None
    matches: list[Mention] = field(default_factory=list)


PREVIEW_MENTIONS = 200
"""Recent mentions a new route, or a route's Test, looks through."""


def apply_route(rt: Runtime, who: Who, text: str) -> RouteChange:
    """`/roost route @account [pattern] #channel`, by an owner or admin."""
    args = parse_route_args(text)
    account = find_account(rt, args.handle)
    require_manager_of(rt, who, account.id)
    try:
        if args.pattern is None:
            set_default_channel(rt, account.id, args.channel_id, actor=who.user_id)
            return RouteChange(account.handle, args.channel_id)
        add_route(
            rt,
            account_id=account.id,
            pattern=args.pattern,
            is_regex=args.is_regex,
            channel_id=args.channel_id,
            actor=who.user_id,
        )
    except RoostError as exc:
        raise Refused(str(exc)) from None
    found = preview_route(
        rt, account.id, args.pattern, is_regex=args.is_regex, limit=PREVIEW_MENTIONS
    )
    return RouteChange(account.handle, args.channel_id, args.pattern, found)
