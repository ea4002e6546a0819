"""A person's own CoTag: `/roost cotag ^BK`."""

from __future__ import annotations

from bot.i18n import _
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from bot.team.people import Who
from bot.x.text import parse_cotag
from storage.team import CoTagTaken, member, set_cotag


def change_cotag(rt: Runtime, who: Who, raw: str) -> str:
    """Set the person's own CoTag; the answer to show them."""
    if not raw.strip():
        with rt.sessions.begin() as session:
            current = member(session, who.team_id, who.user_id, rt.clock()).cotag
        if current:
            return _("Your CoTag is *{cotag}*. Change it with `/roost cotag ^AB`.").format(
                cotag=escape(current)
            )
        return _("You have no CoTag yet. Set one with `/roost cotag ^AB` (^ and 1 to 4 letters).")
    try:
        cotag = parse_cotag(raw)
    except ValueError as exc:
        return escape(str(exc))  # it quotes what they typed
    try:
        with rt.sessions.begin() as session:
            someone = member(session, who.team_id, who.user_id, rt.clock())
            set_cotag(session, someone, cotag, rt.clock())
    except CoTagTaken as exc:
        if exc.args and exc.args[0]:
            return _(
                "*{cotag}* is taken by <@{holder}>; CoTags are unique in the team. Pick another."
            ).format(cotag=escape(cotag), holder=exc.args[0])
        return _("*{cotag}* is taken; CoTags are unique in the team. Pick another.").format(
            cotag=escape(cotag)
        )
    return _("Your CoTag is now *{cotag}*: posts you send as the brand end with it.").format(
        cotag=escape(cotag)
    )
