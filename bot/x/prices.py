"""What X charges for each call, by its pay-per-use price list: pure functions.

Reads are charged per resource returned (each post, user or DM event in `data` and in
`includes`); the same resource is charged once per UTC day, across the whole developer app.
Reads of an account's own posts and mentions cost the owned-read price only when that
account owns the developer app. Writes are charged per request: a post, one with a URL, a
reply X counts as summoned, a DM, a retweet or its undoing.

The prices ship as `prices.json`, dated; X_PRICES_FILE names a file of the same shape that
replaces them (prices change). It also holds the monthly allowances of X's legacy
subscriptions (Basic, Pro), which X_PLAN picks instead of paying per use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.x.text import url_spans

SHIPPED = Path(__file__).with_name("prices.json")


POLL_WORST_CASE = {"read:post": 100, "read:user": 100}
"""What the next page of mentions can cost: 100 posts and their 100 authors."""

CHECK_WORST_CASE = {"read:post": 100, "read:user": 100}
"""What the cheapest look for a write whose answer was lost can cost: a page of the
account's posts, or of a post's retweeters."""

ALLOWANCE_KINDS: dict[str, tuple[str, ...]] = {
    "post_reads": ("read:post", "read:owned_post"),
    "posts": ("write:post", "write:post_with_url", "write:summoned_reply"),
}
"""What each of a subscription's monthly allowances counts, by priced kind of call."""


@dataclass(frozen=True)
class Allowance:
    """A legacy subscription: its monthly fee and how many of each allowance
    (ALLOWANCE_KINDS) it gives the whole developer app a month."""

    plan: str
    usd_per_month: float
    limits: dict[str, int]


@dataclass(frozen=True)
class Prices:
    """X's prices in dollars: per resource read, per request written; and the allowances
    of the subscriptions X still honours, by plan."""

    as_of: str
    reads: dict[str, float]
    writes: dict[str, float]
    subscriptions: dict[str, Allowance]


@cache
def load_prices(path: Path | None = None) -> Prices:
    """The shipped price list, or the one in `path`; ValueError names what is wrong."""
    source = path or SHIPPED
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
        prices = Prices(
            as_of=str(raw["as_of"]),
            reads={k: float(v) for k, v in raw["reads_per_resource"].items()},
            writes={k: float(v) for k, v in raw["writes_per_request"].items()},
            subscriptions={
                plan: Allowance(
                    plan,
                    float(terms["usd_per_month"]),
                    {name: int(terms[name]) for name in ALLOWANCE_KINDS},
                )
                for plan, terms in (raw.get("subscriptions") or {}).items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(  # not spoken: X_PRICES_FILE, for the operator
            f"{source} is not a price list like {SHIPPED.name}: {exc}"
        ) from None
    missing = (set(_READS) - set(prices.reads)) | (set(_WRITES) - set(prices.writes))
    if missing:
        raise ValueError(  # not spoken: X_PRICES_FILE, for the operator
            f"{source} has no price for {', '.join(sorted(missing))}"
        )
    return prices


_READS = ("post", "owned_post", "user", "dm_event")
_WRITES = ("post", "post_with_url", "summoned_reply", "dm", "user_interaction", "delete")


@dataclass(frozen=True)
class Charge:
    """What one call costs, before the day's deduplication: `kind` (a price name such as
    "read:post" or "write:dm") and, for reads, the ids of the resources returned."""

    kind: str
    resources: tuple[str, ...] = ()


def charges(
    method: str,
    path: str,
    request: dict[str, Any] | None,
    answer: dict[str, Any],
    owned: bool,
    *,
    summoned: bool = True,
) -> list[Charge]:
    """What X charges for one successful call to `path`, given its JSON `request` body and
    its `answer`. `owned`: the call reads the app owner's own posts or mentions;
    `summoned`: a reply it makes answers a post that summoned the account (not one of the
    account's own, as a thread's next part does)."""
    if path.startswith("/2/tweets/search/stream/rules") or path.startswith("/2/media/"):
        return []  # rules and uploads are not on X's price list
    if method == "GET":
        return _reads(path, answer, owned)
    if method == "POST" and path == "/2/tweets":
        # X prices a reply to a post that summoned the account lower; a self-serve app may
        # reply nowhere else but to its own posts (bot.x.normalize.summons).
        kind = "reply" if (request or {}).get("reply") else "post"
        text = str((request or {}).get("text", ""))
        return [Charge(send_kind(kind, text, summoned=summoned))]
    if method == "POST" and re.fullmatch(r"/2/dm_conversations/with/[^/]+/messages", path):
        return [Charge("write:dm")]
    if re.fullmatch(r"/2/users/[^/]+/retweets(/[^/]+)?", path):
        return [Charge("write:user_interaction")]
    if method == "DELETE" and re.fullmatch(r"/2/tweets/[^/]+", path):
        return [Charge("write:delete")]
    return []  # media uploads, stream rules, OAuth: not on X's price list


def send_kind(kind: str, text: str = "", *, summoned: bool = True) -> str:
    """The price X bills for sending one of Roost's outbound kinds (reply, post, dm,
    retweet, unretweet) with `text`: the same rules `charges` applies to the request. A
    reply is a summoned one unless `summoned` says its post did not summon the account."""
    if kind in ("reply", "post"):
        if url_spans(text):  # X links "example.com/x" as it does "https://…"
            return "write:post_with_url"
        return "write:summoned_reply" if kind == "reply" and summoned else "write:post"
    if kind == "dm":
        return "write:dm"
    return "write:user_interaction"


def _reads(path: str, answer: dict[str, Any], owned: bool) -> list[Charge]:
    data = answer.get("data")
    items = [data] if isinstance(data, dict) else list(data or [])
    includes = answer.get("includes") or {}
    if "/dm_conversations/" in path or path.startswith("/2/dm_events"):
        kind, users = "read:dm_event", list(includes.get("users") or [])
        return _nonempty([Charge(kind, _ids(items)), Charge("read:user", _ids(users))])
    if re.fullmatch(
        r"/2/users/[^/]+|/2/users/by/username/[^/]+|/2/users/by|/2/users/me"
        r"|/2/tweets/[^/]+/retweeted_by",
        path,
    ):
        return _nonempty([Charge("read:user", _ids(items + list(includes.get("users") or [])))])
    post_kind = "read:owned_post" if owned else "read:post"
    posts = items + list(includes.get("tweets") or includes.get("posts") or [])
    return _nonempty(
        [
            Charge(post_kind, _ids(posts)),
            Charge("read:user", _ids(list(includes.get("users") or []))),
        ]
    )


def _ids(items: list[Any]) -> tuple[str, ...]:
    return tuple(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)


def _nonempty(found: list[Charge]) -> list[Charge]:
    return [charge for charge in found if charge.resources]


def price_of(prices: Prices, kind: str) -> float:
    """The dollars one unit of `kind` ("read:post", "write:dm", ...) costs."""
    side, _, name = kind.partition(":")
    return (prices.reads if side == "read" else prices.writes)[name]
