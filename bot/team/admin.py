"""Managing accounts and the team from Slack: who may, and what changes.

An account is managed by its owners, the Slack workspace's admins and the
bootstrap admins of ROOST_ADMINS. Every change is checked here, whatever
surface it came from, and lands in the audit table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.errors import Refused, SettingsError
from bot.i18n import N_, _
from bot.runtime import Runtime
from bot.slack.channels import usable_channel
from bot.slack.mrkdwn import escape
from bot.team import connect
from bot.team.business_hours import (
    CLOSING_KEYS,
    closing,
    describe_hours,
    hours_form,
    parse_hours,
    sla_due,
)
from bot.team.people import Who, check_person, is_admin
from bot.x.text import parse_cotag
from storage.accounts import account_by_handle
from storage.events import record_event
from storage.models import Account, Member, Route
from storage.team import (
    ROLES,
    CoTagTaken,
    grant,
    grants_in_team,
    grants_on,
    member,
    owners_of,
    revoke,
    role_on,
    set_cotag,
)

MAX_SLA_MINUTES = 7 * 24 * 60
"""A first-response target longer than a week is a typo."""

MAX_BANNED_WORDS = 200
BANNED_WORDS_CHARS = 3000
"""The list is shown one word a line in a Slack text input, which holds 3,000 characters."""

ROLE_NAMES = {
    "owner": N_("owner"),
    "agent": N_("agent"),
    "needs-approval": N_("needs-approval"),
    "viewer": N_("viewer"),
}
"""A role as a sentence names it: `_(ROLE_NAMES[role])` ("is now owner on *@brand*")."""


def role_name(role: str) -> str:
    """The role in the reader's language; one Roost does not know, as stored."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account as `/roost accounts` and its settings modal show it."""

    id: int
    handle: str
    channel_id: str
    auth_kind: str
    intake_status: str
    cotags_enabled: bool
    dm_cotags: bool
    banned_words: list[str]
    sla_minutes: int
    business_hours: str  # as the reader reads them (describe_hours)
    routes: int
    budget_cents: int | None = None
    budget_hard: bool = False
    roles: list[tuple[str, str]] = field(default_factory=list)  # (Slack user id, role)
    manageable: bool = False
    hours_form: str = ""  # the business hours as the settings form holds them (hours_form)


@dataclass(frozen=True, slots=True)
class TeamMember:
    user_id: str
    cotag: str | None
    roles: list[tuple[str, str]]  # (handle, role)


def manages(rt: Runtime, session: Session, who: Who, account_id: int) -> bool:
    someone = session.scalar(
        select(Member).where(Member.team_id == who.team_id, Member.user_id == who.user_id)
    )
    if someone is not None and role_on(session, someone.id, account_id) == "owner":
        return True
    return is_admin(rt, who.user_id)


def _require_manager(rt: Runtime, session: Session, who: Who, account: Account) -> None:
    if manages(rt, session, who, account.id):
        return
    owners = owners_of(session, account.id)
    if owners:
        raise Refused(
            _(
                "Only an owner of *@{handle}* or a Slack admin manages it. Its owners: {owners}."
            ).format(handle=account.handle, owners=", ".join(f"<@{u}>" for u in owners))
        )
    raise Refused(
        _("Only an owner of *@{handle}* or a Slack admin manages it.").format(handle=account.handle)
    )


def may_connect(rt: Runtime, who: Who) -> bool:
    """Connecting an account: Slack admins, bootstrap admins, and owners of any account."""
    if is_admin(rt, who.user_id):
        return True
    with rt.sessions() as session:
        return any(
            role == "owner"
            for m, _account, role in grants_in_team(session, who.team_id)
            if m.user_id == who.user_id
        )


def account_summaries(rt: Runtime, who: Who) -> list[AccountSummary]:
    with rt.sessions() as session:
        accounts = list(session.scalars(select(Account).order_by(Account.handle)))
        routes = {a.id: 0 for a in accounts}
        for route in session.scalars(select(Route)):
            routes[route.account_id] = routes.get(route.account_id, 0) + 1
        return [
            AccountSummary(
                id=a.id,
                handle=a.handle,
                channel_id=a.channel_id,
                auth_kind=a.auth_kind,
                intake_status=a.intake_status,
                cotags_enabled=a.cotags_enabled,
                dm_cotags=a.dm_cotags,
                banned_words=list(a.banned_words or []),
                sla_minutes=a.sla_minutes,
                business_hours=describe_hours(a.business_hours),
                hours_form=hours_form(a.business_hours),
                routes=routes.get(a.id, 0),
                budget_cents=a.x_budget_cents,
                budget_hard=a.x_budget_hard,
                roles=grants_on(session, a.id),
                manageable=manages(rt, session, who, a.id),
            )
            for a in accounts
        ]


def summary(rt: Runtime, who: Who, account_id: int) -> AccountSummary:
    for found in account_summaries(rt, who):
        if found.id == account_id:
            if not found.manageable:
                with rt.sessions() as session:
                    _require_manager(rt, session, who, session.get_one(Account, account_id))
            return found
    raise Refused(_("This account is no longer in Roost."))


def save_settings(rt: Runtime, who: Who, account_id: int, form: dict[str, Any]) -> dict[str, str]:
    """Apply the settings modal; errors by field (empty when saved)."""
    errors: dict[str, str] = {}
    try:
        minutes = int(str(form.get("sla_minutes") or "").strip())
        if not 1 <= minutes <= MAX_SLA_MINUTES:
            raise ValueError
    except ValueError:
        errors["sla_minutes"] = _("A whole number of minutes, 1 to {most}.").format(
            most=MAX_SLA_MINUTES
        )
        minutes = 0
    try:
        hours = parse_hours(str(form.get("business_hours") or ""))
    except ValueError as exc:
        errors["business_hours"] = str(exc)
        hours = None
    words = [
        w.strip()
        for w in str(form.get("banned_words") or "").replace("\n", ",").split(",")
        if w.strip()
    ]
    budget, hard = parse_budget(form.get("budget"), bool(form.get("budget_hard")), errors)
    if len(words) > MAX_BANNED_WORDS or len("\n".join(words)) > BANNED_WORDS_CHARS:
        errors["banned_words"] = _("At most {words} words and {characters} characters.").format(
            words=MAX_BANNED_WORDS, characters=f"{BANNED_WORDS_CHARS:,}"
        )
    if errors:
        return errors
    now = rt.clock()
    with rt.sessions.begin() as session:
        account = session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise Refused(_("This account is no longer in Roost."))
        _require_manager(rt, session, who, account)
        if hours is not None and account.business_hours:
            # Holidays and days off are set apart (/roost holidays): new hours keep them.
            kept = {
                k: account.business_hours[k] for k in CLOSING_KEYS if k in account.business_hours
            }
            hours = hours | kept
        new = {
            "cotags_enabled": bool(form.get("cotags_enabled")),
            "dm_cotags": bool(form.get("dm_cotags")),
            "banned_words": list(dict.fromkeys(words)),
            "sla_minutes": minutes,
            "business_hours": hours,
            "x_budget_cents": budget,
            "x_budget_hard": hard,
        }
        changes = {
            name: {"from": getattr(account, name), "to": value}
            for name, value in new.items()
            if getattr(account, name) != value
        }
        for name, value in new.items():
            setattr(account, name, value)
        account.updated_at = now
        if changes:
            record_event(
                session,
                "account.settings",
                now,
                actor=who.user_id,
                account_id=account_id,
                changes=changes,
            )
    return {}


MAX_BUDGET_DOLLARS = 1_000_000


def parse_budget(raw: object, hard: bool, errors: dict[str, str]) -> tuple[int | None, bool]:
    """The monthly X budget in cents from "$50" or "50.00" (empty: none), and whether it
    is a hard cap; a value that is not one goes to `errors`."""
    text = str(raw or "").strip().removeprefix("$").replace(",", "").strip()
    if not text:
        if hard:
            errors["budget"] = _("A hard cap needs a budget: give one, or untick the cap.")
        return None, False
    try:
        cents = round(float(text) * 100)
        if not 1 <= cents <= MAX_BUDGET_DOLLARS * 100:
            raise ValueError
    except ValueError:
        errors["budget"] = _(
            "Dollars a month, such as 50 or 12.50: at least $0.01 and at most ${most}."
        ).format(most=f"{MAX_BUDGET_DOLLARS:,}")
        return None, False
    return cents, hard


def team(rt: Runtime, team_id: str) -> list[TeamMember]:
    """Everyone with a CoTag or a role, with their roles."""
    with rt.sessions() as session:
        roles: dict[str, list[tuple[str, str]]] = {}
        for someone, account, role in grants_in_team(session, team_id):
            roles.setdefault(someone.user_id, []).append((account.handle, role))
        members = session.scalars(
            select(Member).where(Member.team_id == team_id).order_by(Member.user_id)
        )
        return [
            TeamMember(m.user_id, m.cotag, roles.get(m.user_id, []))
            for m in members
            if m.cotag or m.user_id in roles
        ]


def manageable_accounts(rt: Runtime, who: Who) -> list[tuple[int, str]]:
    return [(a.id, a.handle) for a in account_summaries(rt, who) if a.manageable]


def set_role(rt: Runtime, who: Who, account_id: int, target: str, role: str | None) -> str:
    """Grant `role` on the account to `target`, or revoke their role (None); the answer."""
    if role is not None and role not in ROLES:
        raise Refused(_("Unknown role {role}.").format(role=repr(role)))
    with rt.sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise Refused(_("This account is no longer in Roost."))
        _require_manager(rt, session, who, account)
    if role is not None:
        check_person(rt, who.team_id, target)
    now = rt.clock()
    with rt.sessions.begin() as session:
        account = session.get_one(Account, account_id)
        someone = member(session, who.team_id, target, now)
        if role is None:
            previous = revoke(session, account, someone, now, actor=who.user_id)
            if previous is None:
                return _("<@{user}> had no role on *@{handle}*.").format(
                    user=target, handle=account.handle
                )
            return _("<@{user}> is no longer {role} on *@{handle}*.").format(
                user=target, role=role_name(previous), handle=account.handle
            )
        if role_on(session, someone.id, account.id) == role:
            return _("<@{user}> is already {role} on *@{handle}*.").format(
                user=target, role=role_name(role), handle=account.handle
            )
        grant(session, account, someone, role, now, actor=who.user_id)
        return _("<@{user}> is now {role} on *@{handle}*.").format(
            user=target, role=role_name(role), handle=account.handle
        )


def check_cotag_free(rt: Runtime, team_id: str, target: str, raw: str) -> None:
    """Refused if `raw` is no CoTag or a teammate other than `target` holds it: checked
    before anything else in the same form is changed."""
    try:
        cotag = parse_cotag(raw)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    with rt.sessions() as session:
        holder = session.scalar(
            select(Member.user_id).where(
                Member.team_id == team_id, Member.cotag == cotag, Member.user_id != target
            )
        )
    if holder is not None:
        raise Refused(
            _("*{cotag}* is taken by <@{holder}>; CoTags are unique in the team.").format(
                cotag=cotag, holder=holder
            )
        )


def set_cotag_of(rt: Runtime, who: Who, target: str, raw: str) -> str:
    """Set someone's CoTag: their own, or a teammate's as an owner of every account they act
    for (or a Slack admin)."""
    try:
        cotag = parse_cotag(raw)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    now = rt.clock()
    with rt.sessions.begin() as session:
        someone = member(session, who.team_id, target, now)
        if target != who.user_id and not is_admin(rt, who.user_id):
            # A CoTag signs for the whole workspace: changing someone else's takes owning
            # every account they act for, not just one of them.
            theirs = {
                a.id for m, a, _role in grants_in_team(session, who.team_id) if m.id == someone.id
            }
            if not theirs or not all(manages(rt, session, who, a) for a in theirs):
                raise Refused(
                    _(
                        "Only <@{user}>, an owner of every account they act for, or a Slack "
                        "admin sets their CoTag: it signs what they send as any of them."
                    ).format(user=target)
                )
        if someone.cotag == cotag:
            return _("<@{user}>'s CoTag is already *{cotag}*.").format(user=target, cotag=cotag)
        try:
            set_cotag(session, someone, cotag, now, actor=who.user_id)
        except CoTagTaken as exc:
            if exc.args and exc.args[0]:
                raise Refused(
                    _("*{cotag}* is taken by <@{holder}>; CoTags are unique in the team.").format(
                        cotag=cotag, holder=exc.args[0]
                    )
                ) from None
            raise Refused(
                _("*{cotag}* is taken; CoTags are unique in the team.").format(cotag=cotag)
            ) from None
    return _("<@{user}>'s CoTag is now *{cotag}*.").format(user=target, cotag=cotag)


def find_account(rt: Runtime, handle: str) -> Account:
    with rt.sessions() as session:
        account = account_by_handle(session, handle)
    if account is not None:
        return account
    raise Refused(
        _("No account @{handle} in Roost: see `/roost accounts`.").format(
            handle=escape(handle.lstrip("@"))
        )
    )


def change_account(rt: Runtime, who: Who, account_id: int, event: str, **values: Any) -> None:
    """Set these fields of the account, with an audit event that names them; the caller
    has checked that the person may."""
    with rt.sessions.begin() as session:
        session.execute(update(Account).where(Account.id == account_id).values(**values))
        record_event(session, event, rt.clock(), actor=who.user_id, account_id=account_id, **values)


def require_manager_of(rt: Runtime, who: Who, account_id: int) -> Account:
    with rt.sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise Refused(_("This account is no longer in Roost."))
        _require_manager(rt, session, who, account)
        return account


class FieldRefused(Refused):
    """A form that cannot be applied, and the field the person should look at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def apply_team_form(rt: Runtime, who: Who, form: dict[str, str | None]) -> list[str]:
    """The team modal: a role on an account and/or a CoTag for one person; what was done.

    The CoTag is checked before anything changes, so a refused form changes nothing."""
    user, cotag, role = form["user"], form["cotag"], form["role"]
    if user is None:
        raise FieldRefused("who", _("Pick a person."))
    if not role and not cotag:
        raise FieldRefused("role", _("Pick a role, or type a CoTag."))
    done: list[str] = []
    if cotag:
        with _refused_on("cotag"):
            check_cotag_free(rt, who.team_id, user, cotag)
    if role is not None:
        with _refused_on("who"):
            if form["account_id"] is None:
                raise Refused(_("Pick the account the role is on."))
            done.append(
                set_role(rt, who, int(form["account_id"]), user, None if role == "none" else role)
            )
    if cotag:
        with _refused_on("cotag"):
            done.append(set_cotag_of(rt, who, user, cotag))
    return done


@contextmanager
def _refused_on(field: str) -> Iterator[None]:
    """A refusal inside, on the form's `field`: the CoTag's steps on the CoTag, the role's on
    the person."""
    try:
        yield
    except FieldRefused:
        raise
    except Refused as exc:
        raise FieldRefused(field, str(exc)) from None


def connect_offer(rt: Runtime, who: Who, channel_id: str | None) -> tuple[str | None, str | None]:
    """The "Connect an account" link for this person, if they may connect one, and a line
    saying where a new account's cards will go (or what the server still needs)."""
    if not may_connect(rt, who):
        return None, None
    usable = usable_channel(rt.slack, channel_id)
    try:
        url = connect.authorize_url(rt, team_id=who.team_id, user_id=who.user_id, channel_id=usable)
    except SettingsError as exc:
        return None, _("Connecting from Slack needs setting up on the server: {problem}").format(
            problem=exc
        )
    if usable:
        return url, _("Connect an account: a new one's cards come to this channel.")
    return url, _(
        "Roost cannot post in this conversation, so a new account's cards would go to "
        "ROOST_DEFAULT_CHANNEL: run `/roost accounts` in the channel they belong in (with "
        "Roost invited) to connect one there."
    )


HOLIDAYS_USAGE = N_(
    "`/roost holidays @account KR` closes its business hours on that country's public "
    "holidays (`none` reopens them); `/roost holidays @account off 2026-12-31` adds a day "
    "off of the team's own, `open 2026-12-31` takes it away; `/roost holidays @account` "
    "says what is closed (owners and admins change it)."
)


def holidays_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost holidays @account [CC | none | off DATE | open DATE]`: what closes the
    account's business hours besides the week, so its SLA clocks stop then too."""
    words = text.split()
    if not words or not words[0].startswith("@"):
        raise ValueError(_(HOLIDAYS_USAGE))
    account = find_account(rt, words[0])
    hours = dict(account.business_hours or {})
    country, off = hours.get("holidays"), list(hours.get("off") or [])
    if len(words) == 1:
        return f"*@{account.handle}*: " + closing(
            account.business_hours, country=country, off=off
        ), None
    require_manager_of(rt, who, account.id)
    if not account.business_hours:
        raise Refused(
            _(
                "*@{handle}* answers around the clock: set its business hours first "
                "(`/roost accounts` → Settings); holidays close those."
            ).format(handle=account.handle)
        )
    verb = words[1].lower()
    if verb in ("off", "open") and len(words) == 3:
        try:
            day = date.fromisoformat(words[2]).isoformat()
        except ValueError:
            raise ValueError(
                _("“{text}” is not a date such as 2026-12-31.").format(text=escape(words[2]))
            ) from None
        off = sorted({*off, day}) if verb == "off" else [d for d in off if d != day]
    elif len(words) == 2 and verb == "none":
        country = None
    elif len(words) == 2:
        country = words[1].upper()
    else:
        raise ValueError(_(HOLIDAYS_USAGE))
    changed = {**hours, "holidays": country, "off": off}
    changed = {k: v for k, v in changed.items() if v not in (None, [])}
    try:
        sla_due(rt.clock(), account.sla_minutes, changed)  # read as the SLA will read it
    except ValueError as exc:
        raise Refused(str(exc)) from None
    change_account(rt, who, account.id, "account.holidays", business_hours=changed)
    return f"*@{account.handle}*: " + closing(changed, country=country, off=off), None
