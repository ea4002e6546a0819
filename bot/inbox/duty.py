"""Who is on duty, and new cards given to them in turn.

`/roost duty on|off` puts a person on or off duty. An account with auto-assign on
(`/roost autoassign @account on 5`) gives each new card to the next person on duty who
holds a role that acts on it and has fewer than its limit of open items: the one given
a card longest ago first. No one fits: the card waits in the inbox, as without
auto-assign. Going off duty with open items offers to hand them to someone or return
them to the inbox; off duty, SLA reminders ping the channel, not them.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import N_, _, ngettext
from bot.inbox.assignment import assign
from bot.runtime import Runtime
from bot.slack.blocks import button, context, section
from bot.team.admin import change_account, require_manager_of
from bot.team.business_hours import describe_hours, overlap, parse_hours
from bot.team.people import Who, visible_accounts
from storage.assignments import OPEN
from storage.events import record_event
from storage.models import Member, Mention
from storage.team import ACTING_ROLES, member, role_on

DUTY_USAGE = N_(
    "`/roost duty on` or `off` puts you on or off duty; `/roost duty` says who is on. "
    "`/roost autoassign @account on 5` gives its new cards to those on duty in turn, five "
    "open items each at most; `off` stops it (owners and admins)."
)
RETURN_ACTION = "duty.return"
"""Going off duty: the button that returns one's open items to the inbox."""
GIVE_ACTION = "duty.give"
"""Going off duty: the person picker that hands one's open items to someone."""
TOGGLE_ACTION = "duty.toggle"
"""The App Home's button that puts its person on or off duty (its value says which)."""

MOST_OPEN = 100
"""The highest limit of open items auto-assign takes."""


def duty_command(rt: Runtime, who: Who, text: str) -> tuple[str, list[dict[str, Any]] | None]:
    word = text.strip().lower()
    now = rt.clock()
    if word not in ("", "on", "off"):
        raise ValueError(_(DUTY_USAGE))
    if not word:
        with rt.sessions() as session:
            on = list(
                session.scalars(
                    select(Member.user_id)
                    .where(Member.team_id == who.team_id, Member.on_duty.is_(True))
                    .order_by(Member.duty_since)
                )
            )
        listed = ", ".join(f"<@{user}>" for user in on) or _("nobody")
        return _("On duty: {people}.").format(people=listed) + " " + _(DUTY_USAGE), None
    with rt.sessions.begin() as session:
        me = member(session, who.team_id, who.user_id, now)
        if me.on_duty != (word == "on"):  # the audit, and the digest, hear of changes only
            me.on_duty, me.duty_since = word == "on", now
            record_event(session, f"duty.{word}", now, actor=who.user_id)
        open_items = _open_of(session, me.id)
    if word == "on":
        return _("You are on duty: auto-assigning accounts give you new cards in turn."), None
    if not open_items:
        return _("You are off duty, with nothing open."), None
    text = (
        ngettext(
            "You are off duty, with {n} open item still yours.",
            "You are off duty, with {n} open items still yours.",
            open_items,
        ).format(n=open_items)
        + " "
        + _("Hand them to someone on duty, or return them to the inbox.")
    )
    picker = {
        "type": "users_select",
        "action_id": GIVE_ACTION,
        "placeholder": {"type": "plain_text", "text": _("Give them to…")},
    }
    actions = [button(_("Return them to the inbox"), RETURN_ACTION, "inbox"), picker]
    return text, [
        section(text),
        {"type": "actions", "block_id": "duty_handover", "elements": actions},
        context(_("Nothing moves until you choose.")),
    ]


def _open_of(session: Session, member_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(Mention.id)).where(
                Mention.assignee_id == member_id, Mention.status.in_(OPEN)
            )
        )
        or 0
    )


def hand_over(rt: Runtime, who: Who, target: str | None) -> str:
    """Give every open item of the person's to `target`, or back to the inbox (None), each
    as its own Assign would; what was done, and what could not be."""
    with rt.sessions() as session:
        me = member(session, who.team_id, who.user_id, rt.clock())
        mine = list(
            session.scalars(
                select(Mention.id).where(Mention.assignee_id == me.id, Mention.status.in_(OPEN))
            )
        )
    moved, refused = 0, []
    for mention_id in mine:
        try:
            assign(rt, who, mention_id, target, via="duty")
            moved += 1
        except Refused as exc:
            refused.append(str(exc))
    if target:
        said = ngettext(
            "Moved {n} open item to <@{user}>.", "Moved {n} open items to <@{user}>.", moved
        ).format(n=moved, user=target)
    else:
        said = ngettext(
            "Moved {n} open item back to the inbox.",
            "Moved {n} open items back to the inbox.",
            moved,
        ).format(n=moved)
    if refused:
        said += " " + _("{n} stayed yours: {why}").format(n=len(refused), why=refused[0])
    return said


def auto_assign_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost autoassign @account on [N] | off`: see DUTY_USAGE."""
    words = text.split()
    if len(words) not in (2, 3) or not words[0].startswith("@"):
        raise ValueError(_(DUTY_USAGE))
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, words[0].lstrip("@"))
    require_manager_of(rt, who, account.id)
    if words[1].lower() == "off" and len(words) == 2:
        limit = None
    elif words[1].lower() == "on":
        raw = words[2] if len(words) == 3 else "5"
        if not raw.isdigit() or not 1 <= int(raw) <= MOST_OPEN:
            raise ValueError(
                _("The limit is a number of open items, 1 to {most}.").format(most=MOST_OPEN)
            )
        limit = int(raw)
    else:
        raise ValueError(_(DUTY_USAGE))
    change_account(rt, who, account.id, "account.auto_assign", auto_assign_max=limit)
    if limit is None:
        return _("*@{handle}*'s new cards wait in the inbox again.").format(
            handle=account.handle
        ), None
    return (
        _(
            "*@{handle}* gives each new card to the next person on duty with a role on it and "
            "fewer than {limit} open items."
        ).format(handle=account.handle, limit=limit),
        None,
    )


def duty_blocks(on_duty: bool) -> list[dict[str, Any]]:
    """The App Home's line on the person's duty, with the button that changes it."""
    if on_duty:
        said = _(
            ":large_green_circle: You are on duty: auto-assigning accounts give you new cards."
        )
        flip = button(_("Go off duty"), TOGGLE_ACTION, "off")
    else:
        said = _(":white_circle: You are off duty.")
        flip = button(_("Go on duty"), TOGGLE_ACTION, "on", style="primary")
    return [section(said) | {"accessory": flip}]


def is_on_duty(rt: Runtime, team_id: str, user_id: str) -> bool:
    with rt.sessions() as session:
        return bool(
            session.scalar(
                select(Member.on_duty).where(Member.team_id == team_id, Member.user_id == user_id)
            )
        )


ROTA_USAGE = N_(
    "`/roost rota @account @person Mon-Fri 09:00-18:00` puts someone on the account's "
    "weekly rota, in the workspace's time zone; `/roost rota @account` shows it and "
    "`/roost rota @account off @person` takes them off it (owners and admins)."
)
_PERSON = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{2,})")


def rota_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost rota @account [@person hours | off @person]`: whose hours make them on duty
    for the account each week. A person's hours that overlap their own are refused."""
    words = text.split(maxsplit=2)
    if not words or not words[0].startswith("@"):
        raise ValueError(_(ROTA_USAGE))
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, words[0].lstrip("@"))
    rota = list(account.rota or [])
    if len(words) == 1:
        if not rota:
            said = _("*@{handle}* has no rota.").format(handle=account.handle)
            return said + " " + _(ROTA_USAGE), None
        lines = [f"• <@{e['user']}>: {describe_hours(e['hours'])}" for e in rota]
        said = _("*@{handle}*'s rota:").format(handle=account.handle)
        return said + "\n" + "\n".join(lines), None
    require_manager_of(rt, who, account.id)
    if words[1].lower() == "off" and len(words) == 3:
        person = _person(words[2])
        kept = [e for e in rota if e["user"] != person]
        if len(kept) == len(rota):
            return _("<@{user}> is not on *@{handle}*'s rota.").format(
                user=person, handle=account.handle
            ), None
        change_account(rt, who, account.id, "account.rota", rota=kept or None)
        return _("<@{user}> is off *@{handle}*'s rota.").format(
            user=person, handle=account.handle
        ), None
    if len(words) != 3:
        raise ValueError(_(ROTA_USAGE))
    person = _person(words[1])
    try:
        hours = parse_hours(f"{words[2]} {rt.settings.roost_time_zone}")
    except ValueError as exc:
        raise ValueError(f"{exc} {_(ROTA_USAGE)}") from None
    if hours is None:
        raise ValueError(_(ROTA_USAGE))
    with rt.sessions() as session:
        someone = session.scalar(
            select(Member).where(Member.team_id == who.team_id, Member.user_id == person)
        )
        role = role_on(session, someone.id, account.id) if someone is not None else None
    if role not in ACTING_ROLES:
        raise Refused(
            _("<@{user}> has no role on *@{handle}* that acts on its cards.").format(
                user=person, handle=account.handle
            )
        )
    clash = next((e for e in rota if e["user"] == person and overlap(e["hours"], hours)), None)
    if clash is not None:
        raise Refused(
            _(
                "That overlaps <@{user}>'s {hours} on the rota: take them off it first "
                "(`/roost rota @{handle} off <@{user}>`)."
            ).format(user=person, hours=describe_hours(clash["hours"]), handle=account.handle)
        )
    rota.append({"user": person, "hours": hours})
    change_account(rt, who, account.id, "account.rota", rota=rota)
    return (
        _("<@{user}> is on duty for *@{handle}* {hours} each week.").format(
            user=person, handle=account.handle, hours=describe_hours(hours)
        ),
        None,
    )


def _person(word: str) -> str:
    found = _PERSON.fullmatch(word.strip())
    if found is None:
        raise ValueError(_("Name the person as @someone.") + " " + _(ROTA_USAGE))
    return found.group(1) or found.group(2)
