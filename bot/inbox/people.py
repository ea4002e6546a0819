"""The people behind the mentions, as the team knows them: their earlier conversations
with the brand, the notes that follow them (`/roost note @handle …`, or a card's thread
note that names them), and the marks the team gives them (`/roost flag @handle vip`).

Every card of theirs says it in a line (bot.inbox.cards.known_line), with a History
button that lists it all; this module answers those commands and that button.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import N_, _
from bot.inbox.access import scene_for
from bot.inbox.cards import FLAGS, status_label, tweet_url
from bot.inbox.delivery import card_url
from bot.runtime import Runtime
from bot.slack.blocks import context, notice_modal, section
from bot.slack.mrkdwn import escape, escape_within, link
from bot.team.people import Who, is_admin
from storage.db import insert_into
from storage.events import record_event
from storage.models import Mention, PersonFlag, PersonNote
from storage.people import author_by_handle, earlier_mentions, notes_about
from storage.team import roles_of

NOTE_LIMIT = 1_000
"""Characters of a note about a person."""

SHOWN = 20
"""Earlier mentions, and notes, the History window lists."""

NOTE_USAGE = N_("`/roost note @handle what the team should know` adds a note about someone.")
FLAG_USAGE = N_(
    "`/roost flag @handle vip|press|blocked` marks someone on every card of theirs; "
    "`/roost flag @handle off` takes the mark away (owners and admins)."
)


def note_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost note @handle text`: a note that follows the person to every later card,
    by anyone who holds a role on an account."""
    handle, _space, note = text.strip().partition(" ")
    if not handle.startswith("@") or not note.strip():
        raise ValueError(_(NOTE_USAGE))
    if len(note) > NOTE_LIMIT:
        raise ValueError(
            _("A note is at most {limit:,} characters; this is {length:,}.").format(
                limit=NOTE_LIMIT, length=len(note)
            )
        )
    now = rt.clock()
    with rt.sessions.begin() as session:
        _require_role(rt, session, who)
        author_id, username = _known(session, handle)
        session.add(
            PersonNote(
                author_id=author_id,
                username=username,
                text=note.strip(),
                written_by=who.user_id,
                created_at=now,
            )
        )
        record_event(session, "person.noted", now, actor=who.user_id, username=username)
    return _("Noted about *@{name}*; their next cards say so.").format(name=escape(username)), None


def flag_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost flag @handle vip|press|blocked|off`, by an owner of an account or an admin."""
    words = text.split()
    if len(words) != 2 or not words[0].startswith("@"):
        raise ValueError(_(FLAG_USAGE))
    handle, flag = words[0], words[1].lower()
    if flag not in (*FLAGS, "off"):
        unknown = _("“{flag}” is not a mark Roost knows.").format(flag=escape(flag))
        raise ValueError(unknown + " " + _(FLAG_USAGE))
    now = rt.clock()
    with rt.sessions.begin() as session:
        if (
            not is_admin(rt, who.user_id)
            and "owner" not in roles_of(session, who.team_id, who.user_id).values()
        ):
            raise Refused(_("Only an account's owner or an admin marks people."))
        author_id, username = _known(session, handle)
        session.execute(delete(PersonFlag).where(PersonFlag.author_id == author_id))
        if flag != "off":
            session.execute(
                insert_into(session, PersonFlag.__table__).values(
                    author_id=author_id, flag=flag, set_by=who.user_id, set_at=now
                )
            )
        record_event(
            session, "person.flagged", now, actor=who.user_id, username=username, flag=flag
        )
    if flag == "off":
        return _("*@{name}* is no longer marked.").format(name=escape(username)), None
    return _("*@{name}* is marked {flag} on every card of theirs.").format(
        name=escape(username), flag=_(FLAGS[flag])
    ), None


def _require_role(rt: Runtime, session: Session, who: Who) -> None:
    if not is_admin(rt, who.user_id) and not roles_of(session, who.team_id, who.user_id):
        raise Refused(_("You have no role on any account yet; an owner can give you one."))


def _known(session: Session, handle: str) -> tuple[int, str]:
    found = author_by_handle(session, handle)
    if found is None:
        raise Refused(
            _(
                "Roost has no mention from {handle}: it notes and marks people who wrote to the "
                "brand."
            ).format(handle=escape(handle))
        )
    return found


def note_if_named(session: Session, card: Mention, author: str, text: str, now: datetime) -> bool:
    """Keep a card's thread note as a note about the card's author too, if it names them
    (their @handle); whether it did."""
    if card.author_id is None or not card.author_username:
        return False
    named = re.compile(rf"(?<![\w@])@{re.escape(card.author_username)}(?!\w)", re.IGNORECASE)
    if not named.search(text):
        return False
    session.add(
        PersonNote(
            author_id=card.author_id,
            username=card.author_username,
            text=text[:NOTE_LIMIT],
            written_by=author,
            mention_id=card.id,
            created_at=now,
        )
    )
    return True


def history_view(rt: Runtime, who: Who, mention_id: int) -> dict[str, Any]:
    """The History window of a card's author: their mark, the notes about them, and their
    earlier mentions with a link to each card; for anyone who may act on the card."""
    with rt.sessions() as session:
        scene = scene_for(session, who, mention_id, rt.clock())
        mention = scene.mention
        if mention.author_id is None:
            return notice_modal(_("History"), _("The author's account is gone from X."))
        flag = session.get(PersonFlag, mention.author_id)
        notes = notes_about(session, mention.author_id, SHOWN)
        earlier = earlier_mentions(session, mention.author_id, mention.id, SHOWN)
        cards = {m.id: card_url(rt, m) for m, _handle in earlier}
    who_ = escape(mention.author_name or mention.author_username or _("them"))
    blocks: list[dict[str, Any]] = [
        section(
            _("*{name}* (@{handle}), as the team knows them").format(
                name=who_, handle=escape(mention.author_username or "")
            )
        )
    ]
    if flag is not None:
        mark = _(FLAGS[flag.flag]) if flag.flag in FLAGS else flag.flag
        blocks.append(context(_("{flag}, marked by <@{user}>").format(flag=mark, user=flag.set_by)))
    if notes:
        blocks.append(section(_("*Notes*")))
        for note in notes:
            quoted, cut = escape_within(note.text, 500)
            when = _date(note.created_at)
            blocks.append(context(f"{when} · <@{note.written_by}>: {quoted}{'…' * cut}"))
    if earlier:
        blocks.append(section(_("*Earlier mentions*")))
        for earlier_mention, handle in earlier:
            quoted, cut = escape_within(earlier_mention.text, 200)
            when = _date(earlier_mention.created_at)
            status = status_label(earlier_mention.status)
            # A post off X keeps the link its network gave; X's is made from its id.
            url = (
                cards.get(earlier_mention.id)
                or earlier_mention.url
                or tweet_url(earlier_mention.tweet_id, earlier_mention.author_username)
            )
            to = _("to @{handle}").format(handle=escape(handle))
            said = " · ".join([when, to, status, link(url, _("open"))])
            blocks.append(context(f"{said}: {quoted}{'…' * cut}"))
    if len(blocks) == 1:
        blocks.append(context(_("Nothing yet: this is their first mention of the brand.")))
    blocks.append(context(f"{_(NOTE_USAGE)} {_(FLAG_USAGE)}"))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": _("History")},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": blocks[:100],
    }


def _date(at: datetime) -> str:
    return f"<!date^{int(at.timestamp())}^{{date_short}}|{at:%d %b}>"
