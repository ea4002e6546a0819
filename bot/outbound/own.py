"""What an account may say in public though it looks like personal data: its own
customer-service numbers, e-mail addresses and domains (`/roost allow`), and the region
its numbers are read in (`/roost region`), which the personal-data guard applies to
every reply, post and answer to many (bot.outbound.guards.Own)."""

from __future__ import annotations

import phonenumbers

from bot.i18n import N_, _
from bot.outbound.guards import PHONE_REGION, Own, find_personal_data
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from bot.team.admin import change_account, require_manager_of
from bot.team.people import Who, visible_accounts

ALLOW_USAGE = N_(
    "`/roost allow @account 1588-0000` lets the account's own number, e-mail address or "
    "domain (`@brand.example`) through the personal-data guard; `/roost allow @account` "
    "lists them and `/roost allow @account off 1588-0000` takes one away (owners and admins)."
)
REGION_USAGE = N_(
    "`/roost region @account US` reads numbers written without a country code as that "
    "region's (two letters; Korea's, KR, until set)."
)
MOST = 20
"""Entries an account's allow-list holds."""


def allow_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    words = text.split(maxsplit=2)
    if not words or not words[0].startswith("@"):
        raise ValueError(_(ALLOW_USAGE))
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, words[0].lstrip("@"))
    allowed = list(account.own_data or [])
    if len(words) == 1:
        if not allowed:
            nothing = _("*@{handle}* lets nothing through yet.").format(handle=account.handle)
            return f"{nothing} {_(ALLOW_USAGE)}", None
        listed = ", ".join(f"`{escape(entry)}`" for entry in allowed)
        return _("*@{handle}* may say in public: {listed}.").format(
            handle=account.handle, listed=listed
        ), None
    require_manager_of(rt, who, account.id)
    dropping = words[1].lower() == "off"
    entry = (" ".join(words[2:]) if dropping else " ".join(words[1:])).strip()
    if not entry or len(entry) > 100:
        raise ValueError(_(ALLOW_USAGE))
    if dropping:
        if entry not in allowed:
            return _("`{entry}` is not on *@{handle}*'s list.").format(
                entry=escape(entry), handle=account.handle
            ), None
        allowed.remove(entry)
    else:
        if not _looks_like_data(entry, account.phone_region):
            return (
                _(
                    "`{entry}` is not something the guard stops (a phone, card or account "
                    "number, an e-mail address or a domain), so it needs no place here."
                ).format(entry=escape(entry)),
                None,
            )
        if entry in allowed:
            return _("`{entry}` is on the list already.").format(entry=escape(entry)), None
        if len(allowed) >= MOST:
            return _("*@{handle}* lets {most} through already: take one away first.").format(
                handle=account.handle, most=MOST
            ), None
        allowed.append(entry)
    change_account(rt, who, account.id, "account.own_data", own_data=allowed)
    if dropping:
        done = _("*@{handle}* no longer lets `{entry}` through in public.")
    else:
        done = _("*@{handle}* now lets `{entry}` through in public.")
    return done.format(handle=account.handle, entry=escape(entry)), None


def region_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    words = text.split()
    if len(words) != 2 or not words[0].startswith("@"):
        raise ValueError(_(REGION_USAGE))
    region = words[1].upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        not_one = _("“{word}” is not a region.").format(word=escape(words[1]))
        raise ValueError(f"{not_one} {_(REGION_USAGE)}")
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, words[0].lstrip("@"))
    require_manager_of(rt, who, account.id)
    change_account(rt, who, account.id, "account.own_data", phone_region=region)
    previous = account.phone_region or PHONE_REGION
    return (
        _(
            "*@{handle}* reads numbers without a country code as {region}'s (it was {previous}'s)."
        ).format(handle=account.handle, region=region, previous=previous),
        None,
    )


def _looks_like_data(entry: str, region: str | None) -> bool:
    if "@" in entry or ("." in entry and not any(c.isdigit() for c in entry)):
        return True  # an address or a domain
    return bool(find_personal_data(entry, Own.of(region, ())))
