"""Who handles a mention: assigning from the card's picker or its thread, Undo, and the news.

The web process decides (permission, target, the database change) and
answers refusals at once; the `announce_assignment` job tells everyone
concerned: the card's thread (with Undo), the card, DMs, App Homes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import Refused, SlackError
from bot.i18n import _, speaking
from bot.inbox.access import scene_for
from bot.inbox.delivery import card_thread, card_url, refresh_card
from bot.inbox.people import note_if_named
from bot.inbox.thread_commands import parse
from bot.runtime import Runtime
from bot.slack.blocks import button, section
from bot.slack.client import send_dm, translate_errors
from bot.slack.mrkdwn import escape_within, unescape
from bot.slack.notices import post_notice
from bot.team.language import as_person, in_channel
from bot.team.people import Who, check_person
from storage.assignments import Changed, add_note, card_in_thread, set_assignee
from storage.events import record_event
from storage.models import Account, Event, Member, Mention
from storage.team import ACTING_ROLES, member, owners_of, role_on

logger = logging.getLogger(__name__)

ACTION_UNDO_ASSIGN = "assignment.undo"
"""The Undo button under an assignment's thread answer; its value is the event id."""

ANNOUNCE_RETRY = Retry(max=5, interval=[5, 30, 60, 300, 900])

DM_PREVIEW = 200
"""Characters of the mention quoted in an assignee's DM."""


def assign(rt: Runtime, who: Who, mention_id: int, target: str | None, *, via: str) -> None:
    """Give the mention to `target` (a Slack user id; None: to nobody); Refused says why not."""
    now = rt.clock()
    if target is not None:
        with rt.sessions() as session:
            scene_for(session, who, mention_id, now)  # may they assign at all? Before asking Slack
        check_person(rt, who.team_id, target)
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, mention_id, now)
        mention = scene.mention
        new = None
        if target is not None:
            new = member(session, who.team_id, target, now)
            if role_on(session, new.id, scene.account.id) not in ACTING_ROLES:
                owners = owners_of(session, scene.account.id)
                said = _(
                    "<@{user}> has no role on *@{handle}* that lets them act as it, so they "
                    "cannot take this mention."
                ).format(user=target, handle=scene.account.handle)
                if owners:
                    said += " " + _("An owner can grant one: {owners}.").format(
                        owners=_people(owners)
                    )
                raise Refused(said)
        if mention.assignee_id == (new.id if new else None):
            if target:
                raise Refused(_("Already assigned to <@{user}>.").format(user=target))
            raise Refused(_("Nobody is assigned."))
        previous = _user_of(session, _set(session, mention, new.id if new else None, now))
        event = record_event(
            session,
            "mention.assigned" if target else "mention.unassigned",
            now,
            actor=who.user_id,
            account_id=scene.account.id,
            mention_id=mention_id,
            previous=previous,
            assignee=target,
            via=via,
        )
        session.flush()
        event_id = event.id
    _announce(rt, event_id)


def undo(rt: Runtime, who: Who, event_id: int) -> None:
    """Put back the assignee an assignment replaced: its author or an owner may."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        event = session.get(Event, event_id)
        if event is None or event.mention_id is None or not event.kind.startswith("mention."):
            raise Refused(_("Roost has no record of this assignment."))
        scene = scene_for(session, who, event.mention_id, now)  # may act on the account now
        mention = scene.mention
        if who.user_id != event.actor and scene.role != "owner":
            raise Refused(
                _("Only <@{user}>, who made this change, or an owner can undo it.").format(
                    user=event.actor
                )
            )
        restored = event.detail.get("previous")
        if _user_of(session, mention.assignee_id) != event.detail.get("assignee"):
            raise Refused(_("The assignment has changed since; nothing was undone."))
        back = member(session, who.team_id, restored, now) if restored else None
        if back is not None and role_on(session, back.id, mention.account_id) not in ACTING_ROLES:
            raise Refused(
                _(
                    "<@{user}> no longer has a role on this account, so it cannot go back to them."
                ).format(user=restored)
            )
        _set(session, mention, back.id if back else None, now)
        undone = record_event(
            session,
            "mention.assigned" if restored else "mention.unassigned",
            now,
            actor=who.user_id,
            account_id=mention.account_id,
            mention_id=mention.id,
            previous=event.detail.get("assignee"),
            assignee=restored,
            via="undo",
            undoes=event_id,
        )
        session.flush()
        undone_id = undone.id
    _announce(rt, undone_id)


PERSONS_MESSAGES = frozenset({None, "thread_broadcast", "file_share"})
"""Message subtypes a person writes: plain, a thread reply also sent to the channel, one
with a file. Edits, deletions, joins and bots' messages are not notes."""


def on_thread_message(
    rt: Runtime, event: dict[str, Any], team_id: str, bot_user_id: str | None
) -> None:
    """A message in a channel: under a card, a note, and perhaps an instruction to assign."""
    if event.get("subtype") not in PERSONS_MESSAGES or event.get("bot_id") or not event.get("user"):
        return
    thread_ts, ts, channel = event.get("thread_ts"), event.get("ts"), event.get("channel")
    if not thread_ts or not ts or thread_ts == ts or not channel:
        return
    # What they typed: kept as a note, and shown escaped wherever it is shown.
    text, author = unescape(str(event.get("text") or "")), str(event["user"])
    with rt.sessions.begin() as session:
        card = card_in_thread(session, channel, thread_ts)
        if card is None:
            return  # a thread that is not a Roost card's
        # The note's unique ts is also what makes a twice-delivered event act once.
        if not add_note(session, card.id, author, channel, ts, text, rt.clock()):
            return
        note_if_named(session, card, author, text, rt.clock())  # it follows them on
        card_id = card.id
    command = parse(text, bot_user_id)
    if command is None:
        return
    who = Who(team_id=team_id, user_id=author)
    try:
        if command.kind == "ambiguous":
            raise Refused(
                _(
                    "Assign to whom? You named {people}: write one of them alone at the start "
                    "of a message."
                ).format(people=_people(list(command.users)))
            )
        if command.kind == "assign":
            target: str | None = command.users[0]
        else:
            target = author if command.kind == "take" else None
        assign(rt, who, card_id, target, via="thread")
    except Refused as exc:
        with translate_errors(channel):
            rt.slack.chat_postEphemeral(
                channel=channel, user=author, thread_ts=thread_ts, text=str(exc)
            )


def announce_assignment(event_id: int) -> None:
    """RQ job: the thread answer with Undo, the card, DMs to the people concerned, their Homes."""
    rt = runtime.current()
    with rt.sessions() as session:
        event = session.get_one(Event, event_id)
        assert event.mention_id is not None
        mention = session.get_one(Mention, event.mention_id)
        handle = session.get_one(Account, mention.account_id).handle
        team_id = _team_of(session, event.actor) or ""
    actor, new, previous = event.actor, event.detail.get("assignee"), event.detail.get("previous")
    refresh_card(rt, mention.id)
    thread = card_thread(rt, mention.id)
    if thread is not None:
        channel = thread[0]
        with in_channel(rt, channel):
            _post_answer(rt, thread, _answer_text(event.detail, actor), event_id, event.detail)
    link = card_url(rt, mention)
    quoted, cut = escape_within(mention.text, DM_PREVIEW)
    quoted += "…" if cut else ""
    if new and new != actor:
        with speaking(as_person(rt, new)):
            send_dm(
                rt.slack,
                new,
                _(
                    "<@{actor}> assigned you a mention of *@{handle}* from {author}: "
                    "“{quoted}” <{link}|Open the card>"
                ).format(
                    actor=actor,
                    handle=handle,
                    author=_author(mention),
                    quoted=quoted,
                    link=link,
                ),
            )
    if previous and previous != actor:
        with speaking(as_person(rt, previous)):
            if new:
                said = _(
                    "<@{actor}> handed a mention of *@{handle}* from {author}: “{quoted}” "
                    "to <@{user}>. <{link}|Open the card>"
                )
            else:
                said = _(
                    "<@{actor}> handed a mention of *@{handle}* from {author}: “{quoted}” "
                    "to nobody. <{link}|Open the card>"
                )
            send_dm(
                rt.slack,
                previous,
                said.format(
                    actor=actor,
                    handle=handle,
                    author=_author(mention),
                    quoted=quoted,
                    user=new,
                    link=link,
                ),
            )
    for user in {u for u in (new, previous) if u}:
        try:
            rt.publish_home(rt, team_id, user)
        except (SlackApiError, SlackError) as exc:
            # The rest is told; a Home refreshes again when it is opened.
            logger.warning("Home of %s not refreshed: %s", user, exc)


def _answer_text(detail: dict[str, Any], actor: str | None) -> str:
    new, previous = detail.get("assignee"), detail.get("previous")
    if detail.get("via") == "undo":
        if new:
            return _(
                ":leftwards_arrow_with_hook: <@{actor}> undid that: assigned to <@{user}> again."
            ).format(actor=actor, user=new)
        return _(
            ":leftwards_arrow_with_hook: <@{actor}> undid that: assigned to nobody again."
        ).format(actor=actor)
    if new is None:
        return _("Unassigned by <@{actor}> (it was <@{user}>'s).").format(
            actor=actor, user=previous
        )
    if new == actor and detail.get("via") == "thread":
        return _("<@{actor}> took this.").format(actor=actor)
    return _("Assigned to <@{user}> by <@{actor}>.").format(user=new, actor=actor)


def _post_answer(
    rt: Runtime, thread: tuple[str, str], text: str, event_id: int, detail: dict[str, Any]
) -> None:
    channel, thread_ts = thread
    blocks: list[dict[str, Any]] = [section(text)]
    if detail.get("via") != "undo":  # an undo is not undone in turn
        blocks.append(
            {
                "type": "actions",
                "block_id": f"assignment:{event_id}",
                "elements": [button(_("Undo"), ACTION_UNDO_ASSIGN, str(event_id))],
            }
        )
    # Once, even when a retry of the job comes after Slack took it but its answer was lost.
    post_notice(rt, f"assignment:{event_id}", channel, text, thread_ts=thread_ts, blocks=blocks)


def _announce(rt: Runtime, event_id: int) -> None:
    try:
        rt.team_queue.enqueue(announce_assignment, event_id, retry=ANNOUNCE_RETRY, result_ttl=0)
    except RedisError as exc:
        # The assignment is saved; only the news of it is lost.
        logger.error("assignment %s not announced (%s)", event_id, exc)


def _set(session: Session, mention: Mention, assignee_id: int | None, now: datetime) -> int | None:
    try:
        return set_assignee(session, mention, assignee_id, now)
    except Changed:
        raise Refused(
            _("Someone changed this mention a moment ago; look at the card again.")
        ) from None


def _user_of(session: Session, member_id: int | None) -> str | None:
    found = session.get(Member, member_id) if member_id is not None else None
    return found.user_id if found else None


def _team_of(session: Session, user_id: str | None) -> str | None:
    return session.scalar(select(Member.team_id).where(Member.user_id == user_id).limit(1))


def _people(users: list[str]) -> str:
    return ", ".join(f"<@{user}>" for user in users)


def _author(mention: Mention) -> str:
    """Who wrote the mention, as a DM names them: @handle, or someone Roost cannot name."""
    return f"@{mention.author_username}" if mention.author_username else _("someone")
