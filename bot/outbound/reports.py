"""How a send ended, shown in Slack, once: on a mention's card and in its thread; for a
composed post, a message in the account's channel and a DM to its author, per account,
with Retry where a person can act.

A Slack failure here never fails the send itself: the report is queued again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from rq import Queue, Retry
from sqlalchemy.orm import Session

from bot import runtime
from bot.errors import SlackError, SlackRateLimited
from bot.i18n import _, speaking
from bot.inbox.cards import ACTION_CHECK, ACTION_RETRY, activity_line
from bot.inbox.delivery import card_item, card_thread, refresh_card
from bot.networks import links
from bot.runtime import Runtime
from bot.slack.blocks import button, confirm, quote, section
from bot.slack.client import send_dm, translate_errors
from bot.slack.mrkdwn import escape, escape_within
from bot.slack.pace import waiting, without_waiting
from bot.team.language import as_person, in_channel
from storage import outbound as rows
from storage.models import Account, Member, Outbound
from storage.posts import parts_count, rows_of

logger = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=1)
"""A post sent this long after its time is reported late, with how late."""


JOB_TIMEOUT = 900
"""Seconds a report may take: a few Slack calls, each waiting out Slack's 429s."""

REPORT_RETRY = Retry(max=5, interval=[5, 30, 60, 300, 900])
"""Logging in Slack waits out a Slack outage; the post itself is already settled."""


def enqueue_report(queue: Queue, outbound_id: int, *, after: float = 0) -> None:
    """Queue the row's report, now or `after` seconds from now."""
    options: dict[str, Any] = {
        "retry": REPORT_RETRY,
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": 0,
    }
    if after > 0:
        queue.enqueue_in(timedelta(seconds=after), report_outbound, outbound_id, **options)
    else:
        queue.enqueue(report_outbound, outbound_id, **options)


def report_outbound(outbound_id: int) -> None:
    """RQ job: show a row's state on its card and log a final result in the card's thread."""
    report(runtime.current(), outbound_id, raise_on_slack=True)


def report(rt: Runtime, outbound_id: int, *, raise_on_slack: bool = False) -> None:
    """Show the row on its card, and log a final result once in the card's thread.

    A Slack failure here never fails the send: the report is queued again. Nor does it
    wait for Slack's pace in the worker: without a token now it is queued for then.
    """
    try:
        with without_waiting():
            _report(rt, outbound_id)
    except SlackRateLimited as exc:  # Slack's pace, or Slack itself: nothing was shown
        logger.info("outbound %s shown in %ss: %s", outbound_id, exc.retry_after, exc)
        enqueue_report(rt.team_queue, outbound_id, after=exc.retry_after)
    except SlackError as exc:
        if raise_on_slack:
            raise
        logger.warning("outbound %s not shown in Slack yet (%s); queued again", outbound_id, exc)
        enqueue_report(rt.team_queue, outbound_id)


def _report(rt: Runtime, outbound_id: int) -> None:
    with rt.sessions() as session:
        row = session.get_one(Outbound, outbound_id)
        mention_id = row.mention_id
    if row.post_id is not None:
        report_post(rt, outbound_id)
        return
    if mention_id is None:
        return
    thread = card_thread(rt, mention_id)
    # The card and its thread speak the language of the channel the card is in.
    with in_channel(rt, thread[0] if thread else None):
        with waiting():  # a card left showing "Open" would never be refreshed again
            refresh_card(rt, mention_id)
        if thread is None:
            return
        with rt.sessions.begin() as session:
            claimed = rows.claim_log(session, outbound_id, rt.clock())
            text = log_text(session, claimed) if claimed else None
        if text is None:
            if row.status in ("unknown", "awaiting_approval"):
                _post_in_thread(rt, thread, _log_line(rt, outbound_id))
            return
        try:
            _post_in_thread(rt, thread, text)
        except BaseException:
            with rt.sessions.begin() as session:
                rows.unclaim_log(session, outbound_id)
            raise


def report_post(rt: Runtime, outbound_id: int) -> None:
    """Tell the account's channel and the author, once, how this row ended: each in their
    own language."""
    with rt.sessions.begin() as session:
        row = session.get_one(Outbound, outbound_id)
        if row.status == "sent" and row.part + 1 < parts_count(session, row):
            return  # a thread is reported when its last part is up (or one fails)
        if row.status not in ("sent", "failed", "unknown"):
            return
        if row.status != "unknown" and rows.claim_log(session, outbound_id, rt.clock()) is None:
            return
        account = session.get_one(Account, row.account_id)
        author = session.get(Member, row.actor_id) if row.actor_id else None
        siblings = [r for r in rows_of(session, row.post_id or 0) if r.account_id == row.account_id]
        handle, channel, network = account.handle, account.channel_id, account.network
        user = author.user_id if author else None
    try:
        with in_channel(rt, channel):
            text, blocks = _message(row, handle, user, siblings, network)
            with translate_errors(channel):
                rt.slack.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, unfurl_links=False
                )
    except SlackError:
        with rt.sessions.begin() as session:
            rows.unclaim_log(session, outbound_id)
        raise
    if user is not None:
        with speaking(as_person(rt, user)):
            send_dm(rt.slack, user, _message(row, handle, user, siblings, network)[0])


def _message(
    row: Outbound, handle: str, author: str | None, siblings: list[Outbound], network: str = "x"
) -> tuple[str, list[dict[str, Any]]]:
    at = f"@{escape(handle)}"
    first = next((r for r in siblings if r.part == 0), row)
    link = links.post_url(network, handle, first.x_id, stored=first.url) if first.x_id else None
    if row.status == "sent":
        if author:
            text = _(":white_check_mark: <@{user}> posted as {handle}").format(
                user=author, handle=at
            )
        else:
            text = _(":white_check_mark: Someone posted as {handle}").format(handle=at)
        if len(siblings) > 1:
            text += ", " + _("a thread of {parts} parts").format(parts=len(siblings))
        late = first.sent_at - first.run_at if first.sent_at and first.run_at else None
        if late is not None and late > LATE_AFTER:
            text += ", " + _("late by {span} (Roost could not send it at its time)").format(
                span=_span(late)
            )
        if link:
            view_on = _("View on {network}").format(network=links.label(network))
            text += f": <{link}|{view_on}>"
        return text, [section(text)]
    quoted, cut = escape_within(row.text, 500)
    if len(siblings) > 1:
        where = _("part {part} of {parts}").format(part=row.part + 1, parts=len(siblings))
    else:
        where = _("the post")
    up = (
        " "
        + _("Parts 1–{last} are up (<{link}|the thread>); resume continues from here.").format(
            last=row.part, link=link
        )
        if row.part and link
        else ""
    )
    if row.status == "unknown":
        if author:
            unknown = _(
                ":grey_question: <@{user}>'s post as {handle}: unknown whether {network} took "
                "{where}. {error} Check, and retry only if it is missing."
            )
        else:
            unknown = _(
                ":grey_question: Someone's post as {handle}: unknown whether {network} took "
                "{where}. {error} Check, and retry only if it is missing."
            )
        text = unknown.format(
            user=author,
            handle=at,
            where=where,
            error=escape(row.error or ""),
            network=links.label(network),
        )
        buttons = [
            button(_("Check again"), ACTION_CHECK, str(row.id)),
            button(
                _("Retry"),
                ACTION_RETRY,
                str(row.id),
                style="danger",
                confirm=confirm(
                    _("Send it again?"),
                    _("Only if it is not on {network}.").format(network=links.label(network)),
                    _("Send again"),
                ),
            ),
        ]
    else:
        if author:
            failed = _(":x: <@{user}>'s post as {handle} failed at {where}: {error}.")
        else:
            failed = _(":x: Someone's post as {handle} failed at {where}: {error}.")
        # The sentence ends the error: its own full stop, if it has one, goes.
        error = escape(row.error or _("unknown")).rstrip().removesuffix(".")
        text = failed.format(user=author, handle=at, where=where, error=error) + up
        buttons = [button(_("Resume") if row.part else _("Retry"), ACTION_RETRY, str(row.id))]
    text += f"\n> {quoted}{'…' if cut else ''}"
    blocks = [
        section(text),
        {"type": "actions", "block_id": f"outbound:{row.id}", "elements": buttons},
    ]
    return text, blocks


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return _("{minutes} min").format(minutes=max(minutes, 1))
    return _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)


def note(rt: Runtime, outbound_id: int, text: str) -> None:
    """A passing note in the card's thread (a rate-limit wait); lost notes are harmless.
    `text` is said in the card's channel's language (the caller's `in_channel`)."""
    with rt.sessions() as session:
        mention_id = session.get_one(Outbound, outbound_id).mention_id
    thread = card_thread(rt, mention_id) if mention_id is not None else None
    if thread is None:
        return
    try:
        _post_in_thread(rt, thread, text)
    except SlackError as exc:
        logger.warning("note on outbound %s not posted: %s", outbound_id, exc)


def _log_line(rt: Runtime, outbound_id: int) -> str:
    with rt.sessions() as session:
        row = session.get_one(Outbound, outbound_id)
        return log_text(session, row)


def log_text(session: Session, row: Outbound) -> str:
    """The thread's log entry for a row: the activity line, and what was said."""
    line = activity_line(card_item(session, row))
    if row.text:
        shown, cut = escape_within(row.text, 2500)
        line += "\n" + quote(shown + ("…" if cut else ""))
    return line


def _post_in_thread(rt: Runtime, thread: tuple[str, str], text: str) -> None:
    channel, thread_ts = thread
    with translate_errors(channel):
        rt.slack.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
