"""Who may act on a mention: the mention, its account and the person, checked in one query.

Every button on a card and every thread command asks this first; someone without an
acting role on the mention's account is refused with who can grant one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import _
from bot.team.admin import role_name
from bot.team.people import Who
from storage.models import Account, Grant, Member, Mention
from storage.team import ACTING_ROLES, owners_of


@dataclass(frozen=True, slots=True)
class Scene:
    """A mention, its account, and the person acting on it with their role there."""

    mention: Mention
    account: Account
    member: Member
    role: str


def scene_for(session: Session, who: Who, mention_id: int, now: datetime) -> Scene:
    """The mention, its account and the person, or Refused if they may not act as it.

    One query: it runs on every click. Someone Roost has never seen holds no role.
    """
    found = session.execute(
        select(Mention, Account, Member, Grant.role)
        .join(Account, Account.id == Mention.account_id)
        .outerjoin(Member, and_(Member.team_id == who.team_id, Member.user_id == who.user_id))
        .outerjoin(Grant, and_(Grant.member_id == Member.id, Grant.account_id == Account.id))
        .where(Mention.id == mention_id)
    ).one_or_none()
    if found is None:
        raise Refused(_("This mention is no longer in Roost."))
    mention, account, someone, role = found
    if someone is None or role not in ACTING_ROLES:
        raise Refused(_no_access(account.handle, role, owners_of(session, account.id)))
    return Scene(mention, account, someone, role)


def _no_access(handle: str, role: str | None, owners: list[str]) -> str:
    if role:
        what = _("Your role on *@{handle}* ({role}) does not let you act as it.").format(
            handle=handle, role=role_name(role)
        )
    else:
        what = _("You have no role on *@{handle}*, so you cannot act as it.").format(handle=handle)
    if owners:
        return (
            what
            + " "
            + _("Ask an owner to grant you access: {owners}.").format(
                owners=", ".join(f"<@{u}>" for u in owners)
            )
        )
    return (
        what
        + " "
        + _(
            "Nobody owns @{handle} in Roost yet: whoever runs Roost can grant roles with "
            "`roost grants add --account {handle} --user YOUR_SLACK_ID --role agent`."
        ).format(handle=handle)
    )
