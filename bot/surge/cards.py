"""In a surge, a handful of group cards instead of a card a mention: each group's card
(how many, how many answered, since and until when, its words, three of them to read),
updated in place as it grows, and its mentions listed in the card's thread ten a message,
each with a button that opens it as a card of its own.

Run every ROOST_SURGE_PUBLISH_SECONDS by the worker (a recurring job) for each surge
open or just ended: it groups what came, then posts and updates what changed, asking
bot.slack.pace before each call so that Slack never has to answer 429. What the pace
does not allow now waits for the next run; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot import runtime
from bot.errors import Refused, SlackError
from bot.i18n import _, ngettext, pgettext, speaking
from bot.inbox.access import scene_for
from bot.inbox.delivery import post_mention
from bot.inbox.sla import cancel_reminder
from bot.inbox.triage import OPEN, SHOW_RETRY, show_status
from bot.lease import Lease
from bot.runtime import Runtime
from bot.slack.blocks import button, confirm, context, section
from bot.slack.client import send_dm, translate_errors
from bot.slack.mrkdwn import escape, escape_within, permalink
from bot.slack.notices import METADATA_EVENT, post_notice
from bot.slack.pace import FOR_THE_TEAM, Pace, paces, prepaid
from bot.surge.batches import PAUSED, RUNNING, Progress, progress, progress_line
from bot.surge.detect import Pace as DetectPace
from bot.surge.detect import started_text
from bot.surge.grouping import REST
from bot.surge.groups import group_surge
from bot.surge.updates import Update, latest_update, post_timeline, update_line
from bot.team.language import as_person, in_channel
from bot.team.people import Who, check_person
from storage.assignments import Changed, set_assignee
from storage.events import record_event
from storage.mentions import release_from_surge
from storage.models import Account, Batch, Member, Mention, Notice, Surge, SurgeGroup
from storage.team import ACTING_ROLES, member, role_on

logger = logging.getLogger(__name__)

OPEN_ACTION = "surge_open"
"""The button on a listed mention that opens it as a card of its own."""

LINES = 10
"""Mentions listed in one thread message."""

MAX_CARDS = 8
"""Groups of a surge with a card of their own, the largest: a handful to act on, each
kept up to date within Slack's limits (chat.update: about 50 a minute a workspace)."""

LAST_CARDS = 12
"""The most cards a surge's groups ever have."""

CARD_AT = 3
"""Mentions a group has before it may have a card of its own: one or two are read in
the board's thread."""

BOARD_EVERY = timedelta(seconds=2)
"""The least time between two updates of a surge's board."""

BOARD_LINES = 12
"""Groups named on a surge's board; the rest are counted together."""

UPDATE_EVERY = timedelta(seconds=5)
"""The least time between two updates of one group's card."""

JUST_ENDED = timedelta(hours=1)
"""How long after a surge ends its cards are still brought up to date."""


def shown(name: str) -> str:
    """A group's name as a person reads it: the catch-all group's in their language (its
    stored name is Roost's own English); the others are the customers' or the team's words."""
    return _("Everything else") if name == REST else name


def publish() -> int:
    """RQ job (recurring): every surge's groups brought up to date in Slack."""
    return publish_surges(runtime.current())


def publish_surges(rt: Runtime, pace: Pace | None = None) -> int:
    """Group and show what came in each surge open or just ended, at `pace` (Slack's, by
    default); Slack calls made."""
    now = rt.clock()
    answering = (
        select(SurgeGroup.surge_id)
        .join(Batch, Batch.group_id == SurgeGroup.id)
        .where(Batch.status.in_((RUNNING, PAUSED)))
    )
    with rt.sessions() as session:
        surges = list(
            session.scalars(
                select(Surge).where(
                    (Surge.ended_at.is_(None))
                    | (Surge.ended_at >= now - JUST_ENDED)
                    | Surge.id.in_(answering)  # an answer to many outlasts its surge
                )
            )
        )
    calls = 0
    for surge in surges:
        lease = Lease(rt.redis, f"surge-cards:{surge.id}", seconds=60)
        if not lease.acquire():
            continue  # another worker is at it
        try:
            if surge.ended_at is None:
                group_surge(rt, surge)
            slack = pace or Pace(rt.redis, paces(rt.settings.roost_slack_pace))
            calls += publish_surge(rt, surge, slack)
        finally:
            lease.release()
    return calls


def release_unlisted(rt: Runtime) -> int:
    """Mentions held for a surge that ended over JUST_ENDED ago and were never listed in a
    group's thread (Slack refused all that time) go back to cards of their own, which the
    sweep delivers: held, none is ever out of sight for long. How many. Run by the
    sweep."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        # Accounts whose cards are still being brought up to date: those are left be.
        current = select(Surge.account_id).where(
            (Surge.ended_at.is_(None)) | (Surge.ended_at >= now - JUST_ENDED)
        )
        released = session.execute(
            update(Mention)
            .where(
                Mention.surge_held_at.is_not(None),
                Mention.surge_listed_at.is_(None),
                Mention.account_id.not_in(current),
            )
            .values(surge_held_at=None),
            execution_options={"synchronize_session": False},
        )
    count = int(released.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        logger.warning("%d mentions held for a surge long over get cards of their own", count)
    return count


def publish_surge(rt: Runtime, surge: Surge, pace: Pace) -> int:
    """Bring the surge's board up to date, post or update the cards of its largest groups,
    and list new mentions in their threads (those of the smaller groups in the board's),
    as far as the pace allows now; Slack calls made."""
    with rt.sessions() as session:
        account = session.get_one(Account, surge.account_id)
        groups = list(
            session.scalars(
                select(SurgeGroup)
                .where(SurgeGroup.surge_id == surge.id)
                .order_by(SurgeGroup.size.desc(), SurgeGroup.key)
            )
        )
        notice = session.get(Notice, f"surge:{surge.id}:start")
        board = (
            (notice.slack_channel, notice.slack_ts)
            if notice is not None and notice.slack_channel and notice.slack_ts
            else None
        )
    carded = carded_groups(groups)
    calls = 0
    try:
        if board is not None:
            calls += _show_board(rt, account, surge, groups, board, pace)
    except SlackError as exc:
        logger.warning("the board of surge %s not brought up to date: %s", surge.id, exc)
    lists: list[tuple[tuple[str, str], list[int], str]] = []
    for group in groups:
        if group.id not in carded:
            continue
        try:
            calls += _show(rt, account, group, pace)
            with rt.sessions() as session:
                calls += post_timeline(rt, session, group, account.handle, pace)
        except SlackError as exc:
            logger.warning("surge group %s not brought up to date: %s", group.id, exc)
        if group.slack_channel and group.slack_ts:
            place = (group.slack_channel, group.slack_ts)
            lists.append((place, [group.id], f"surge-list:{group.id}"))
    rest = [group.id for group in groups if group.id not in carded]
    if board is not None and rest:
        lists.append((board, rest, f"surge-list:board:{surge.id}"))
    # A message a thread in turn, largest group first, while the pace allows: every
    # group's list moves on, none waits for a larger one's to be done.
    while lists:
        for listing in list(lists):
            place, group_ids, key = listing
            try:
                listed = _list(rt, place, group_ids, key, pace)
            except SlackError as exc:
                logger.warning("surge mentions not listed under %s: %s", key, exc)
                listed = 0
            if not listed:
                lists.remove(listing)
            calls += listed
    return calls


def carded_groups(groups: Sequence[SurgeGroup]) -> set[int]:
    """The groups with a card of their own (`groups` largest first): those that have one,
    and those among the MAX_CARDS largest of CARD_AT mentions or more, up to LAST_CARDS
    in all (a group that grows into the largest later gets one too). A handful to act on,
    each kept up to date within Slack's limits; the rest are counted on the surge's
    board and listed in its thread."""
    have = {g.id for g in groups if g.slack_ts is not None}
    room = max(0, LAST_CARDS - len(have))
    largest = [g.id for g in groups[:MAX_CARDS] if g.size >= CARD_AT and g.id not in have]
    return have | set(largest[:room])


def _show_board(
    rt: Runtime,
    account: Account,
    surge: Surge,
    groups: Sequence[SurgeGroup],
    board: tuple[str, str],
    pace: Pace,
) -> int:
    """Update the surge's start notice into its board: how many so far, and each group's
    count, updated every BOARD_EVERY at most; the first place every mention is counted."""
    now = rt.clock()
    with rt.sessions() as session:
        answered = {
            group_id: int(count)
            for group_id, count in session.execute(
                select(Mention.surge_group_id, func.count(Mention.first_response_at))
                .where(Mention.surge_group_id.in_([g.id for g in groups]))
                .group_by(Mention.surge_group_id)
            )
            if group_id is not None
        }
    sizes = {str(g.id): g.size for g in groups}
    shown = hashlib.sha256(repr((sizes, answered, surge.ended_at)).encode()).hexdigest()[:32]
    if shown == surge.board_shown or (
        surge.board_shown_at is not None and now - surge.board_shown_at < BOARD_EVERY
    ):
        return 0
    channel, ts = board
    if not pace.may("chat.update", channel, keep=FOR_THE_TEAM):
        return 0
    window = timedelta(seconds=rt.settings.roost_surge_window_seconds)
    key = f"surge:{surge.id}:start"
    metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key, "sizes": sizes}}
    with in_channel(rt, channel):
        opening = started_text(account, surge, DetectPace(surge.rate, surge.usual, 0.0, window))
        text = opening + "\n" + board_lines(groups, answered, carded_groups(groups))
        with translate_errors(channel), prepaid():
            rt.slack.chat_update(channel=channel, ts=ts, text=text, metadata=metadata)
    with rt.sessions.begin() as session:
        session.execute(
            update(Surge).where(Surge.id == surge.id).values(board_shown=shown, board_shown_at=now)
        )
    surge.board_shown, surge.board_shown_at = shown, now
    return 1


def board_lines(groups: Sequence[SurgeGroup], answered: dict[int, int], carded: set[int]) -> str:
    """ "*So far:* 4,512 mentions in 23 groups, 56 answered", then the largest groups'
    counts, and the smaller ones together."""
    total = sum(g.size for g in groups)
    lines = [
        _("*So far:* {mentions} in {groups}, {answered:,} answered.").format(
            mentions=ngettext("{n:,} mention", "{n:,} mentions", total).format(n=total),
            groups=ngettext("{n:,} group", "{n:,} groups", len(groups)).format(n=len(groups)),
            answered=sum(answered.values()),
        )
    ]
    for group in groups[:BOARD_LINES]:
        name = escape(
            group.name and shown(group.name) or ", ".join(group.label) or _("(no words in common)")
        )
        counted = (
            _("*{name}*: {size:,} ({answered:,} answered), its card")
            if group.id in carded
            else _("*{name}*: {size:,} ({answered:,} answered), listed in this thread")
        )
        lines.append(
            "• " + counted.format(name=name, size=group.size, answered=answered.get(group.id, 0))
        )
    rest = groups[BOARD_LINES:]
    if rest:
        lines.append(
            "• "
            + _("{groups:,} smaller groups: {mentions:,} mentions").format(
                groups=len(rest), mentions=sum(g.size for g in rest)
            )
        )
    return "\n".join(lines)


def _show(rt: Runtime, account: Account, group: SurgeGroup, pace: Pace) -> int:
    """Post the group's card, or update it if it changed and was not just updated."""
    now = rt.clock()
    with rt.sessions() as session:
        answered, resolved = _answered(session, group.id)
        samples = {
            mention_id: (author, text)
            for mention_id, author, text in session.execute(
                select(Mention.id, Mention.author_username, Mention.text).where(
                    Mention.id.in_(group.samples)
                )
            )
        }
        answers = progress(session, group.id)
        latest = latest_update(session, group, account.handle)
    # What the card shows, as a key: an update only when it changed.
    shown = hashlib.sha256(
        repr((group.size, answered, resolved, group.label, answers, latest)).encode()
    ).hexdigest()[:32]
    if group.slack_ts is not None and (
        shown == group.shown or (group.shown_at and now - group.shown_at < UPDATE_EVERY)
    ):
        return 0
    channel = group.slack_channel or account.channel_id
    method = "chat.update" if group.slack_ts else "chat.postMessage"
    if not pace.may(method, channel, keep=FOR_THE_TEAM):
        return 0
    with in_channel(rt, channel):
        text, blocks = group_card(
            account.handle, group, (answered, resolved), samples, answers=answers, latest=latest
        )
        if group.slack_ts is None:
            with prepaid():
                ts = post_notice(rt, f"surge-group:{group.id}", channel, text, blocks=blocks)
        else:
            ts = group.slack_ts
            with translate_errors(channel), prepaid():
                rt.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    with rt.sessions.begin() as session:
        session.execute(
            update(SurgeGroup)
            .where(SurgeGroup.id == group.id)
            .values(slack_channel=channel, slack_ts=ts, shown_at=now, shown=shown)
        )
    group.slack_channel, group.slack_ts, group.shown_at, group.shown = channel, ts, now, shown
    return 1


def _list(rt: Runtime, place: tuple[str, str], group_ids: list[int], key: str, pace: Pace) -> int:
    """List the next LINES held mentions of these groups not listed yet, in one message
    in the thread at `place` (channel, ts), if the pace allows; messages posted."""
    channel, thread_ts = place
    with rt.sessions() as session:
        unlisted = list(
            session.execute(
                select(Mention.id, Mention.author_username, Mention.text, Mention.created_at)
                .where(
                    Mention.surge_group_id.in_(group_ids),
                    Mention.surge_held_at.is_not(None),
                    Mention.surge_listed_at.is_(None),
                )
                .order_by(Mention.id)
                .limit(LINES)
            )
        )
    if not unlisted or not pace.may("chat.postMessage", channel, keep=FOR_THE_TEAM):
        return 0
    # Keyed by its first and last mention: a run that died after posting does not post it
    # twice, and one that finds more since posts them (some again), never fewer.
    with in_channel(rt, channel):
        text, blocks = batch_lines(
            [(m.id, m.author_username, m.text, m.created_at) for m in unlisted]
        )
        with prepaid():
            post_notice(
                rt,
                f"{key}:{unlisted[0].id}-{unlisted[-1].id}",
                channel,
                text,
                thread_ts=thread_ts,
                blocks=blocks,
            )
    with rt.sessions.begin() as session:
        session.execute(
            update(Mention)
            .where(Mention.id.in_([m.id for m in unlisted]))
            .values(surge_listed_at=rt.clock()),
            execution_options={"synchronize_session": False},
        )
    return 1


def _answered(session: Any, group_id: int) -> tuple[int, int]:
    """How many of the group's mentions were answered, and how many are resolved."""
    answered, resolved = session.execute(
        select(
            func.count(Mention.first_response_at),
            func.count(Mention.resolved_at),
        ).where(Mention.surge_group_id == group_id)
    ).one()
    return int(answered), int(resolved)


def group_card(
    handle: str,
    group: SurgeGroup,
    counts: tuple[int, int],
    samples: dict[int, tuple[str | None, str]],
    *,
    answers: Sequence[Progress] = (),
    latest: Update | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The group's card: its name or words, how many and how many answered, since and
    until when, three of its mentions, the latest status update, how far each answer to
    the whole group got (with Pause, Resume and Cancel), and the buttons that act on the
    group; every text a customer or a team wrote escaped. `counts`: how many were
    answered, and how many resolved."""
    answered, resolved = counts
    name = (
        escape(shown(group.name))
        if group.name
        else escape(", ".join(group.label) or _("(no words)"))
    )
    counts_said = ngettext(
        ":rotating_light: *{name}*: {n:,} mention of *@{handle}* in this surge, "
        "{answered:,} answered, {resolved:,} resolved",
        ":rotating_light: *{name}*: {n:,} mentions of *@{handle}* in this surge, "
        "{answered:,} answered, {resolved:,} resolved",
        group.size,
    ).format(name=name, n=group.size, handle=handle, answered=answered, resolved=resolved)
    span = _("{first} to {last}").format(first=_when(group.first_at), last=_when(group.last_at))
    blocks: list[dict[str, Any]] = [section(f"{counts_said} · {span}")]
    if group.name and group.label:
        blocks.append(context(_("Its words: {words}").format(words=escape(", ".join(group.label)))))
    for mention_id in group.samples:
        if mention_id in samples:
            author, text = samples[mention_id]
            quoted, cut = escape_within(text, 280)
            who = f"@{escape(author)}" if author else _("someone")
            blocks.append(context(f"{who}: “{quoted}{'…' if cut else ''}”"))
    if latest is not None:
        blocks.append(
            context(_("Latest status update: {update}").format(update=update_line(latest)))
        )
    for answer in answers:
        blocks.append(section(progress_line(answer)))
        if answer.status in (RUNNING, PAUSED):
            blocks.append(_batch_buttons(answer))
    blocks.append(
        context(_("Each mention is listed in this thread, with *Open* to act on it as a card."))
    )
    answer_all = [
        button(_("Reply to all"), REPLY_ALL_ACTION, str(group.id), style="primary"),
        button(_("Send to customer service"), CARE_ACTION, str(group.id)),
        button(_("Post a status update"), STATUS_ACTION, str(group.id)),
    ]
    blocks.append(
        {"type": "actions", "block_id": f"surge_answer:{group.id}", "elements": answer_all}
    )
    resolve = button(
        _("Resolve all"),
        RESOLVE_ACTION,
        str(group.id),
        confirm=confirm(
            _("Resolve the group?"),
            _("Every open mention of *{name}* is resolved, as its own Resolve would.").format(
                name=name
            ),
            _("Resolve all"),
        ),
    )
    assign = {
        "type": "users_select",
        "action_id": ASSIGN_ACTION,
        "placeholder": {"type": "plain_text", "text": _("Give the group to…")},
    }
    # The picker carries no value: the block names the group.
    blocks.append(
        {"type": "actions", "block_id": f"surge_group:{group.id}", "elements": [resolve, assign]}
    )
    said = _("Surge group {name}: {size} mentions of @{handle}").format(
        name=name, size=group.size, handle=handle
    )
    return said, blocks


def _batch_buttons(answer: Progress) -> dict[str, Any]:
    """Pause (or Resume) and Cancel, for an answer to the group under way."""
    value = str(answer.batch_id)
    flip = (
        button(_("Pause"), PAUSE_ACTION, value)
        if answer.status == RUNNING
        else button(_("Resume"), RESUME_ACTION, value)
    )
    cancel = button(
        _("Cancel"),
        CANCEL_ACTION,
        value,
        style="danger",
        confirm=confirm(
            _("Cancel it?"),
            _(
                "Nothing more goes out; what was released to X and not sent yet is withdrawn. "
                "What X has already posted stays."
            ),
            _("Cancel it"),
        ),
    )
    return {"type": "actions", "block_id": f"batch:{value}", "elements": [flip, cancel]}


def batch_lines(
    mentions: list[tuple[int, str | None, str, datetime]],
) -> tuple[str, list[dict[str, Any]]]:
    """A thread message listing mentions, each with its Open button."""
    blocks = []
    for mention_id, author, text, created_at in mentions:
        quoted, cut = escape_within(text, 500)
        who = f"@{escape(author)}" if author else _("someone")
        line = f"{_when(created_at)} *{who}*: {quoted}{'…' if cut else ''}"
        opens = button(pgettext("button", "Open"), OPEN_ACTION, str(mention_id))
        blocks.append(section(line) | {"block_id": f"listed-{mention_id}", "accessory": opens})
    more = ngettext(
        "{n} more mention in this group", "{n} more mentions in this group", len(mentions)
    ).format(n=len(mentions))
    return more, blocks


def _when(at: datetime) -> str:
    return f"<!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC>"


def open_mention(rt: Runtime, who: Who, mention_id: int) -> str:
    """A person opened a listed mention: it gets its card of its own, in the channel its
    routes send it to, to act on as any other. Anyone with a role on the account may."""
    with rt.sessions.begin() as session:
        scene_for(session, who, mention_id, rt.clock())  # refused without a role on it
        release_from_surge(session, mention_id)
    return post_mention(rt, mention_id, opened=True)


REPLY_ALL_ACTION = "surge_reply_all"
CARE_ACTION = "surge_care_dm"
STATUS_ACTION = "surge_status_update"
PAUSE_ACTION = "batch_pause"
RESUME_ACTION = "batch_resume"
CANCEL_ACTION = "batch_cancel"
"""The group card's buttons that answer the whole group, and those of an answer under way."""

RESOLVE_ACTION = "surge_resolve_all"
"""The group card's button that resolves every open mention of the group."""


def resolve_group(rt: Runtime, who: Who, group_id: int) -> str:
    """Resolve every open mention of the group at once (after the status update answered
    them, say): each as its own Resolve would, one event each for the audit and the
    figures, the cards of those opened shown resolved. What was done, to tell the person."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        group = session.get(SurgeGroup, group_id)
        if group is None or not group.samples:
            raise Refused(_("This group is no longer in Roost."))
        scene = scene_for(session, who, group.samples[0], now)  # refused without a role
        was: dict[int, str] = {
            mention_id: status
            for mention_id, status in session.execute(
                select(Mention.id, Mention.status).where(
                    Mention.surge_group_id == group_id, Mention.status.in_(OPEN)
                )
            )
        }
        # Conditional, so a mention someone resolved a moment ago is not resolved twice.
        resolved: list[tuple[int, str | None, str | None]] = [
            (mention_id, channel, slack_ts)
            for mention_id, channel, slack_ts in session.execute(
                update(Mention)
                .where(Mention.id.in_(was), Mention.status.in_(OPEN))
                .values(status="resolved", resolved_at=now, resolver_id=scene.member.id)
                .returning(Mention.id, Mention.slack_channel, Mention.slack_ts),
                execution_options={"synchronize_session": False},
            )
        ]
        for mention_id, _channel, _ts in resolved:
            record_event(
                session,
                "mention.resolved",
                now,
                actor=who.user_id,
                account_id=scene.account.id,
                mention_id=mention_id,
                previous=was[mention_id],
                via="group",
            )
        session.execute(
            update(SurgeGroup).where(SurgeGroup.id == group_id).values(shown=None)
        )  # its card shows the new counts at the next run
        name = group.name and shown(group.name) or ", ".join(group.label)
    lines = _in_each_channel(
        rt,
        resolved,
        lambda: _(":white_check_mark: Resolved by <@{user}> with its group.").format(
            user=who.user_id
        ),
    )
    for mention_id, channel, slack_ts in resolved:
        cancel_reminder(rt, mention_id)
        if slack_ts is not None:
            line = lines[channel]
            rt.team_queue.enqueue(show_status, mention_id, line, retry=SHOW_RETRY, result_ttl=0)
    if not resolved:
        return _("Every mention of “{name}” was resolved already.").format(name=escape(name))
    return _("Resolved {n:,} open mentions of “{name}”.").format(n=len(resolved), name=escape(name))


def _in_each_channel(
    rt: Runtime, mentions: list[tuple[int, str | None, str | None]], say: Callable[[], str]
) -> dict[str | None, str]:
    """What `say` says in the language of each channel these mentions' cards are in (their
    threads' lines are posted there)."""
    said: dict[str | None, str] = {}
    for _mention_id, channel, _ts in mentions:
        if channel not in said:
            with in_channel(rt, channel):
                said[channel] = say()
    return said


ASSIGN_ACTION = "surge_assign_group"
"""The group card's person picker: every open mention of the group to that person."""


def assign_group(rt: Runtime, who: Who, group_id: int, target: str | None) -> str:
    """Give every open mention of the group to `target`, as its own Assign would (one
    audit event each), and tell them once, not once a mention. What was done."""
    if target is None:
        raise Refused(_("Pick the person to give the group to."))
    now = rt.clock()
    with rt.sessions() as session:
        group = session.get(SurgeGroup, group_id)
        if group is None or not group.samples:
            raise Refused(_("This group is no longer in Roost."))
        scene_for(session, who, group.samples[0], now)  # may they assign at all? Before Slack
    check_person(rt, who.team_id, target)
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, group.samples[0], now)
        new = member(session, who.team_id, target, now)
        if role_on(session, new.id, scene.account.id) not in ACTING_ROLES:
            raise Refused(
                _(
                    "<@{user}> has no role on *@{handle}* that lets them act as it, so they "
                    "cannot take this group."
                ).format(user=target, handle=scene.account.handle)
            )
        mentions = list(
            session.scalars(
                select(Mention).where(
                    Mention.surge_group_id == group_id,
                    Mention.status.in_(OPEN),
                    Mention.assignee_id.is_distinct_from(new.id),
                )
            )
        )
        given: list[tuple[int, str | None, str | None]] = []
        for mention in mentions:
            try:
                previous = set_assignee(session, mention, new.id, now)
            except Changed:
                continue  # someone changed it a moment ago: theirs stands
            was = session.get(Member, previous) if previous is not None else None
            record_event(
                session,
                "mention.assigned",
                now,
                actor=who.user_id,
                account_id=scene.account.id,
                mention_id=mention.id,
                previous=was.user_id if was else None,
                assignee=target,
                via="group",
            )
            given.append((mention.id, mention.slack_channel, mention.slack_ts))
        session.execute(update(SurgeGroup).where(SurgeGroup.id == group_id).values(shown=None))
        name = escape(group.name and shown(group.name) or ", ".join(group.label))
        handle = scene.account.handle
        url = _group_url(rt, group)
    if not given:
        return _("Every open mention of “{name}” is <@{user}>'s already.").format(
            name=name, user=target
        )
    if target != who.user_id:
        with speaking(as_person(rt, target)):  # a DM: in their own language
            link = " " + _("<{url}|The group>").format(url=url) if url else ""
            gave = _(
                "<@{user}> gave you the {n:,} open mentions of “{name}” in *@{handle}*'s surge."
            ).format(user=who.user_id, n=len(given), name=name, handle=handle)
            send_dm(rt.slack, target, gave + link)
    lines = _in_each_channel(
        rt,
        given,
        lambda: _(":bust_in_silhouette: Assigned to <@{user}> by <@{by}> with its group.").format(
            user=target, by=who.user_id
        ),
    )
    for mention_id, channel, slack_ts in given:
        if slack_ts is not None:
            line = lines[channel]
            rt.team_queue.enqueue(show_status, mention_id, line, retry=SHOW_RETRY, result_ttl=0)
    try:
        rt.publish_home(rt, who.team_id, target)
    except SlackError as exc:
        logger.warning("Home of %s not refreshed: %s", target, exc)
    return _("Gave <@{user}> the {n:,} open mentions of “{name}”.").format(
        user=target, n=len(given), name=name
    )


def _group_url(rt: Runtime, group: SurgeGroup) -> str | None:
    """The link to the group's card, if it has one and Slack says where."""
    if group.slack_channel is None or group.slack_ts is None:
        return None
    try:
        base = rt.workspace_url()
    except SlackError:
        return None
    return permalink(base, group.slack_channel, group.slack_ts)
