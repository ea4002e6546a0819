"""Saved replies: what a team answers with again and again, for one account or for every
account, with placeholders filled when it is used ({name}: the author's name, {handle}:
their @handle, {agent}: the name of the person replying).

`/roost replies` lists them for anyone; owners add, edit and retire an account's, and
admins those for every account. The reply and DM modals offer them in a select that
fills the text box (bot.outbound.reply_modal); what comes out is checked as typed text
is (guards, length, CoTag), and each use is counted for `/roost stats`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import N_, _
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape, escape_within
from bot.team.admin import require_manager_of
from bot.team.people import Who, is_admin, visible_accounts
from bot.x.text import measure
from storage.accounts import account_by_handle
from storage.events import record_event
from storage.models import Account, Outbound, SavedReply

PLACEHOLDERS = {
    "name": N_("the author's name"),
    "handle": N_("the author's @handle"),
    "agent": N_("your name"),
}
LONGEST = {"name": "x" * 50, "handle": "@" + "x" * 15, "agent": "x" * 32}
"""What each placeholder can grow to: X's longest name and @handle, a long Slack name."""

NAME_LIMIT = 75
"""Characters of a saved reply's name: what Slack shows of a select's option."""

TEXT_LIMIT = 2_000
"""Characters of a saved reply: room for a DM, and short enough to read in a list."""

OFFERED = 100
"""Saved replies a modal's select offers: Slack's limit for one."""

USAGE = N_(
    '`/roost replies` lists the saved replies; `/roost replies add [@account] "Name" text` '
    'adds one (for every account without @account), `/roost replies edit [@account] "Name" '
    'text` changes it and `/roost replies retire [@account] "Name"` retires it. The text '
    "may use {name}, {handle} and {agent}."
)

_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Filled:
    """Who a saved reply is filled in for."""

    name: str
    handle: str
    agent: str


def fill(text: str, filled: Filled) -> str:
    """The saved reply with its placeholders replaced."""
    values = {"name": filled.name, "handle": filled.handle, "agent": filled.agent}
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def problems_with(text: str) -> list[str]:
    """What is wrong with a saved reply's text, in words a person can act on."""
    problems = []
    if not text.strip():
        problems.append(_("Give the reply's text after its name."))
    unknown = sorted({m.group(1) for m in _FIELD.finditer(text)} - set(PLACEHOLDERS))
    if unknown:
        known = ", ".join(f"{{{p}}} ({_(what)})" for p, what in PLACEHOLDERS.items())
        shown = ", ".join(f"{{{escape(u)}}}" for u in unknown)
        problems.append(
            _("Roost cannot fill {shown}: it knows {known}.").format(shown=shown, known=known)
        )
    if len(text) > TEXT_LIMIT:
        problems.append(
            _("It is {length:,} characters; keep it under {most:,}.").format(
                length=len(text), most=TEXT_LIMIT
            )
        )
    return problems


def too_long_to_post(text: str) -> str | None:
    """Why the reply, filled with the longest names, would not fit a public reply."""
    longest = measure(fill(text, Filled(**LONGEST)), None)
    if longest.fits:
        return None
    return _(
        "Filled with the longest names it is {length}/{limit} as X counts: it can go as a DM, "
        "but a public reply needs it shortened in the modal."
    ).format(length=longest.length, limit=longest.limit)


def uses(since: datetime | None = None) -> Any:
    """A subquery: each saved reply's uses (replies and DMs that began as it), since
    `since` if given."""
    query = select(Outbound.saved_reply_id, func.count().label("uses")).where(
        Outbound.saved_reply_id.is_not(None)
    )
    if since is not None:
        query = query.where(Outbound.created_at >= since)
    return query.group_by(Outbound.saved_reply_id).subquery()


def offered(session: Session, team_id: str, account_id: int) -> list[tuple[int, str]]:
    """(id, name) of the saved replies the modals offer for the account: its own, then
    every account's; the most used first."""
    used = uses()
    return [
        (saved_id, name)
        for saved_id, name in session.execute(
            select(SavedReply.id, SavedReply.name)
            .outerjoin(used, used.c.saved_reply_id == SavedReply.id)
            .where(
                SavedReply.team_id == team_id,
                SavedReply.retired_at.is_(None),
                or_(SavedReply.account_id == account_id, SavedReply.account_id.is_(None)),
            )
            .order_by(
                SavedReply.account_id.is_(None),
                func.coalesce(used.c.uses, 0).desc(),
                SavedReply.name,
            )
            .limit(OFFERED)
        )
    ]


def usable(session: Session, team_id: str, account_id: int, saved_id: int) -> SavedReply:
    """The saved reply, if a modal for the account's mention may use it; else Refused."""
    saved = session.get(SavedReply, saved_id)
    if (
        saved is None
        or saved.team_id != team_id
        or saved.retired_at is not None
        or saved.account_id not in (None, account_id)
    ):
        raise Refused(_("That saved reply was retired or is not this account's: pick another."))
    return saved


def replies_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost replies [add | edit | retire] ...`: see USAGE."""
    word, rest = text.strip().partition(" ")[::2]
    if not word:
        return _listed(rt, who), None
    if word.lower() not in ("add", "edit", "retire"):
        raise ValueError(_(USAGE))
    account, name, body = _parse(rt, rest)
    _may_manage(rt, who, account)
    now = rt.clock()
    where = f"*@{account.handle}*" if account else _("every account")
    with rt.sessions.begin() as session:
        existing = session.scalar(
            select(SavedReply).where(
                SavedReply.team_id == who.team_id,
                SavedReply.account_id.is_(None)
                if account is None
                else SavedReply.account_id == account.id,
                SavedReply.name == name,
                SavedReply.retired_at.is_(None),
            )
        )
        if word.lower() == "retire":
            if existing is None:
                return _("{where} has no saved reply “{name}”.").format(
                    where=where, name=escape(name)
                ), None
            existing.retired_at = now
            _audit(session, who, account, "saved_reply.retired", name, now)
            return _("Retired the saved reply “{name}” of {where}.").format(
                name=escape(name), where=where
            ), None
        problems = problems_with(body)
        if problems:
            return " ".join(problems), None
        if word.lower() == "add":
            if existing is not None:
                return (
                    _(
                        "{where} has a saved reply “{name}” already: `/roost replies edit` "
                        "changes it."
                    ).format(where=where, name=escape(name)),
                    None,
                )
            session.add(
                SavedReply(
                    team_id=who.team_id,
                    account_id=account.id if account else None,
                    name=name,
                    text=body,
                    created_by=who.user_id,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            if existing is None:
                return _("{where} has no saved reply “{name}” to edit.").format(
                    where=where, name=escape(name)
                ), None
            existing.text, existing.updated_at = body, now
        kind = f"saved_reply.{'added' if word.lower() == 'add' else 'edited'}"
        _audit(session, who, account, kind, name, now)
    note = too_long_to_post(body)
    if word.lower() == "add":
        done = _("Saved “{name}” for {where}:")
    else:
        done = _("Changed “{name}” for {where}:")
    quoted, cut = escape_within(body, 500)
    return (
        done.format(name=escape(name), where=where)
        + f"\n>{quoted}{'…' if cut else ''}"
        + (f"\n:warning: {note}" if note else ""),
        None,
    )


def _parse(rt: Runtime, rest: str) -> tuple[Account | None, str, str]:
    """([@account], "Name" or one word, the text after it)."""
    rest = rest.strip()
    account = None
    if rest.startswith("@"):
        handle, rest = rest.partition(" ")[::2]
        with rt.sessions() as session:
            account = account_by_handle(session, handle)
        if account is None:
            raise Refused(
                _("There is no account {handle} in Roost: `/roost accounts`.").format(
                    handle=escape(handle)
                )
            )
        rest = rest.strip()
    if rest.startswith(('"', "“")):
        closing = rest.find("”" if rest[0] == "“" else '"', 1)
        if closing < 0:
            raise ValueError(_("The name's quote is not closed.") + " " + _(USAGE))
        name, body = rest[1:closing], rest[closing + 1 :]
    else:
        name, body = rest.partition(" ")[::2]
    name = name.strip()
    if not name or len(name) > NAME_LIMIT:
        limit = _("A saved reply's name is 1 to {most} characters.").format(most=NAME_LIMIT)
        raise ValueError(f"{limit} {_(USAGE)}")
    return account, name, body.strip()


def _may_manage(rt: Runtime, who: Who, account: Account | None) -> None:
    if account is not None:
        require_manager_of(rt, who, account.id)
    elif not is_admin(rt, who.user_id):
        raise Refused(
            _(
                "Only an admin adds, edits or retires the saved replies for every account; an "
                "account's owners manage its own (`/roost replies add @account ...`)."
            )
        )


def _audit(
    session: Session, who: Who, account: Account | None, kind: str, name: str, now: datetime
) -> None:
    record_event(
        session, kind, now, actor=who.user_id, account_id=account.id if account else None, name=name
    )


def _listed(rt: Runtime, who: Who) -> str:
    with rt.sessions() as session:
        accounts = visible_accounts(rt, session, who, None)
        handles = {a.id: a.handle for a in accounts}
        found = list(
            session.scalars(
                select(SavedReply)
                .where(
                    SavedReply.team_id == who.team_id,
                    SavedReply.retired_at.is_(None),
                    or_(SavedReply.account_id.in_(handles), SavedReply.account_id.is_(None)),
                )
                .order_by(SavedReply.account_id.is_not(None), SavedReply.name)
            )
        )
        used = uses()
        counts: dict[int, int] = dict(
            session.execute(select(used.c.saved_reply_id, used.c.uses)).all()
        )
    if not found:
        return _("No saved replies yet.") + " " + _(USAGE)
    lines = [_("*Saved replies* (the reply and DM windows offer them):")]
    for saved in found:
        where = f"@{handles[saved.account_id]}" if saved.account_id else _("every account")
        quoted, cut = escape_within(saved.text, 120)
        times = int(counts.get(saved.id, 0))
        lines.append(
            _("• *{name}* ({where}, used {times:,}×): {text}").format(
                name=escape(saved.name), where=where, times=times, text=quoted + "…" * cut
            )
        )
    return "\n".join(lines)
