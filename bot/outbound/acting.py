"""Acting on a mention as an account: who may, what is checked, and the outbound row.

The web process does only what must happen before Slack's 3 seconds are up:
check the person's role, validate the text, write the outbound row. The
call to X is the `send_outbound` job's (bot.outbound.sending).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import Refused
from bot.i18n import N_, _, speaking
from bot.inbox.access import Scene, scene_for
from bot.networks.rules import rules_for
from bot.outbound.guards import Finding, Own, check_dm, check_public
from bot.outbound.reply_modal import ComposeContext, Draft, reply_view
from bot.outbound.reports import enqueue_report
from bot.outbound.saved import Filled, fill, offered, usable
from bot.outbound.sending import enqueue_reconcile, enqueue_send
from bot.runtime import Runtime
from bot.team.budget import budget_of, refuse_past_cap
from bot.team.people import Who, display_names
from bot.x.prices import send_kind
from bot.x.text import Measured, measure
from storage import outbound as rows
from storage.events import record_event
from storage.models import Account, Member, Outbound
from storage.team import member, role_on

logger = logging.getLogger(__name__)

STATUS_NAMES = {
    "pending": N_("pending"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "unknown": N_("unknown"),
    "awaiting_approval": N_("awaiting approval"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
}
"""An outbound row's status, as a refusal names it."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A draft's text as it would go out, and what stands in its way."""

    handle: str
    measured: Measured
    problems: list[Finding]
    warnings: list[str]
    needs_approval: bool
    network: str = "x"

    @property
    def ok(self) -> bool:
        return not self.problems and self.measured.fits


def cotag_for(scene: Scene, kind: str) -> str | None:
    """The CoTag appended to this kind of text, or None; Refused if the person needs one."""
    wanted = scene.account.dm_cotags if kind == "dm" else scene.account.cotags_enabled
    if not wanted:
        return None
    if scene.member.cotag is None:
        raise Refused(
            _(
                "*@{handle}* signs everything it sends with the author's CoTag, and you have "
                "none yet. Set yours with `/roost cotag ^AB` (^ and 1 to 4 letters), then try "
                "again."
            ).format(handle=scene.account.handle)
        )
    return scene.member.cotag


def start(rt: Runtime, who: Who, mention_id: int, kind: str) -> tuple[Draft, ComposeContext]:
    """What the compose modal needs; Refused if the person may not reply or DM as the account."""
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, mention_id, rt.clock())
        cotag = cotag_for(scene, kind)
        if kind == "dm" and scene.mention.author_username is None:
            raise Refused(_("The author's account is gone from X, so there is nobody to DM."))
        summons_rule = rules_for(scene.account.network).self_serve_rules
        if (
            kind == "reply"
            and scene.mention.summons is False
            and rt.settings.self_serve
            and summons_rule
        ):
            raise Refused(
                not_summoned(scene) + " " + _("Send a DM instead (the card's DM button).")
            )
        context = ComposeContext(
            handle=scene.account.handle,
            author_username=scene.mention.author_username,
            mention_text=scene.mention.text,
            cotag=cotag,
            needs_approval=scene.role == "needs-approval",
            saved=tuple(offered(session, who.team_id, scene.account.id)),
        )
    return Draft.new(mention_id, kind), context


HANGUL = re.compile("[\uac00-\ud7a3]")
"""A Hangul syllable: a saved reply written in Korean."""


def fill_saved(rt: Runtime, who: Who, draft: Draft, saved_id: int) -> dict[str, Any]:
    """The compose view again, its text box filled with the saved reply picked, its
    placeholders filled for this mention and this person; Refused if it may not be used."""
    around = start(rt, who, draft.mention_id, draft.kind)[1]
    with rt.sessions() as session:
        scene = scene_for(session, who, draft.mention_id, rt.clock())
        saved = usable(session, who.team_id, scene.account.id, saved_id)
        author = scene.mention.author_username
        # The fallbacks go into the text box, and with it to X: in the saved reply's own
        # language, whoever picks it.
        written = "ko" if HANGUL.search(saved.text) else "en"  # not spoken: a language code
        with speaking(written):
            name = scene.mention.author_name or author or _("there")
            nobody = _("our team")
    agent = display_names(rt, [who.user_id]).get(who.user_id, nobody)
    text = fill(saved.text, Filled(name=name, handle=f"@{author}" if author else "", agent=agent))
    filled = dataclasses.replace(draft, saved=saved_id, fills=draft.fills + 1)
    return reply_view(filled, around, initial=text)


def check(rt: Runtime, who: Who, draft: Draft) -> Checked:
    """Validate the draft as the account would send it: CoTag, length, guards, warnings."""
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, draft.mention_id, rt.clock())
        checked = _check(session, scene, draft, self_serve=rt.settings.self_serve)
    summoned = scene.mention.summons is not False
    return _within_budget(rt, scene.account, draft.kind, checked, summoned=summoned)


def _within_budget(
    rt: Runtime, account: Account, kind: str, checked: Checked, *, summoned: bool
) -> Checked:
    """The check, refused too if sending would pass the account's hard cap: a person's
    reply is never dropped silently, nor sent past the budget."""
    budget = budget_of(rt, account)
    price = send_kind(kind, checked.measured.text, summoned=summoned)
    if budget is not None and budget.refuses({price: 1}):
        checked.problems.append(Finding("budget", "", budget.why()))
    return checked


def _check(session: Session, scene: Scene, draft: Draft, *, self_serve: bool) -> Checked:
    """The draft checked as the account's network would take it; `self_serve`: under X's
    self-serve rules, where the network has them."""
    cotag = cotag_for(scene, draft.kind)
    banned = scene.account.banned_words or []
    rules = rules_for(scene.account.network, scene.account.post_limit)
    self_serve = self_serve and rules.self_serve_rules
    if draft.kind == "reply":
        measured = measure(draft.text, cotag, limit=rules.limit, count=rules.count)
        own = Own.of(scene.account.phone_region, scene.account.own_data)
        found = check_public(draft.text, banned=banned, self_serve=self_serve, own=own)
        problems = [_offer_dm(p) for p in found]
        if scene.mention.summons is False and self_serve:
            problems.append(_offer_dm(Finding("not_summoned", "", not_summoned(scene))))
    else:
        measured = measure(draft.text, cotag, limit=rules.dm_limit, count=rules.count)
        problems = check_dm(draft.text, banned=banned)
    return Checked(
        scene.account.handle,
        measured,
        problems,
        _warnings(session, scene, draft.kind),
        scene.role == "needs-approval",
        scene.account.network,
    )


def not_summoned(scene: Scene) -> str:
    """Why X will refuse a public reply to this mention."""
    username = scene.mention.author_username
    handle = scene.account.handle
    if scene.mention.watch_id is not None:
        if username:
            return _(
                "X will refuse a public reply here: this post came from watched words, and "
                "@{author} did not write to @{handle}. Since February 2026 X lets apps reply in "
                "public only to posts that mention the account or quote one of its posts. "
                "Answer them by DM, if they take DMs, or from X itself."
            ).format(author=username, handle=handle)
        return _(
            "X will refuse a public reply here: this post came from watched words, and Its "
            "author did not write to @{handle}. Since February 2026 X lets apps reply in "
            "public only to posts that mention the account or quote one of its posts. Answer "
            "them by DM, if they take DMs, or from X itself."
        ).format(handle=handle)
    if username:
        return _(
            "X will refuse a public reply here: @{author} neither mentions @{handle} in this "
            "post nor quotes one of its posts, and X lets apps reply only then (quoting it "
            "instead needs X's Enterprise plan)."
        ).format(author=username, handle=handle)
    return _(
        "X will refuse a public reply here: Its author neither mentions @{handle} in this "
        "post nor quotes one of its posts, and X lets apps reply only then (quoting it "
        "instead needs X's Enterprise plan)."
    ).format(handle=handle)


def _offer_dm(finding: Finding) -> Finding:
    if finding.kind in ("empty", "banned_word"):
        return finding
    return Finding(
        finding.kind,
        finding.excerpt,
        finding.message + " " + _("Or tick “Send as a DM instead”."),
    )


def _warnings(session: Session, scene: Scene, kind: str) -> list[str]:
    warnings = []
    mention = scene.mention
    if mention.status == "resolved":
        warnings.append(_("This mention was marked resolved meanwhile; sending still goes ahead."))
    elif mention.status == "ignored":
        warnings.append(_("This mention was marked ignored meanwhile; sending still goes ahead."))
    if kind == "reply":
        earlier = [
            row
            for row in rows.for_mention(session, mention.id)
            if row.kind == "reply" and row.status in ("sent", "sending", "pending")
        ]
        if earlier:
            warnings.append(_("Someone already replied to this mention; this is another reply."))
    return warnings


def publish(rt: Runtime, who: Who, draft: Draft) -> Checked:
    """Check the draft again and write its outbound row (once per draft); queue the send.

    Returns the check; when it is not ok nothing was written. A second call
    for the same draft (a double click, Slack resending) writes nothing more.
    """
    now = rt.clock()
    with rt.sessions.begin() as session:
        # Checked again, in the transaction that writes: the role, the
        # account's banned words or the CoTag may have changed since the preview.
        scene = scene_for(session, who, draft.mention_id, now)
        checked = _check(session, scene, draft, self_serve=rt.settings.self_serve)
        summoned = scene.mention.summons is not False
        checked = _within_budget(rt, scene.account, draft.kind, checked, summoned=summoned)
        if not checked.ok:
            return checked
        status = _status_for(scene)
        outbound_id = _new_row(
            session,
            scene,
            now,
            key=draft.key,
            kind=draft.kind,
            status=status,
            text=checked.measured.text,
            cotag=cotag_for(scene, draft.kind),  # None where the account signs nothing
            target_tweet_id=scene.mention.tweet_id if draft.kind == "reply" else None,
            recipient_id=scene.mention.author_id if draft.kind == "dm" else None,
            saved_reply_id=draft.saved,
        )
        if outbound_id is not None:
            record_event(
                session,
                f"outbound.{'requested' if status == 'pending' else 'awaiting_approval'}",
                now,
                actor=who.user_id,
                account_id=scene.account.id,
                mention_id=scene.mention.id,
                outbound_id=outbound_id,
                action=draft.kind,
                text=checked.measured.text,
            )
    if outbound_id is None:
        logger.info("draft %s was published already", draft.key)
    else:
        _queue(rt, outbound_id, status)
    return checked


def _status_for(scene: Scene) -> str:
    """What a new row starts as: needs-approval roles wait for an owner."""
    return "awaiting_approval" if scene.role == "needs-approval" else "pending"


def _new_row(
    session: Session,
    scene: Scene,
    now: datetime,
    *,
    key: str,
    kind: str,
    status: str,
    **fields: Any,
) -> int | None:
    """The row for something the person does as the scene's account about its mention;
    None if a row with this key exists (a double click, Slack resending)."""
    return rows.create(
        session,
        idempotency_key=key,
        kind=kind,
        account_id=scene.account.id,
        mention_id=scene.mention.id,
        actor_id=scene.member.id,
        status=status,
        attempts=0,
        created_at=now,
        **fields,
    )


_ALREADY_SHARED = {
    "x": N_(
        "This post is already retweeted as @{handle}, or on its way: the card shows where it "
        "stands."
    ),
    "bluesky": N_(
        "This post is already reposted as @{handle}, or on its way: the card shows where it stands."
    ),
    "mastodon": N_(
        "This post is already boosted as @{handle}, or on its way: the card shows where it stands."
    ),
}
_ONLY_SHARED_UNDONE = {
    "x": N_("Only a retweet that went out can be undone."),
    "bluesky": N_("Only a repost that went out can be undone."),
    "mastodon": N_("Only a boost that went out can be undone."),
}
"""Refusals of a repost and of its undoing, in the network's own word for it."""


def retweet(rt: Runtime, who: Who, mention_id: int) -> None:
    """Write the retweet's row and queue it; a double click makes one row."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        scene = scene_for(session, who, mention_id, now)
        refuse_past_cap(rt, scene.account, {send_kind("retweet"): 1})
        # One retweet per mention until it is undone or turned down: those counts name
        # the row, so a double click finds it and a later retweet gets a new one.
        undone = rows.count_sent(session, mention_id, "unretweet")
        given_up = rows.count_kind(session, mention_id, "retweet", ("rejected", "cancelled"))
        status = _status_for(scene)
        outbound_id = _new_row(
            session,
            scene,
            now,
            key=f"retweet:{mention_id}:{undone}:{given_up}",
            kind="retweet",
            status=status,
            target_tweet_id=scene.mention.tweet_id,
        )
        if outbound_id is not None:
            record_event(
                session,
                "outbound.requested",
                now,
                actor=who.user_id,
                account_id=scene.account.id,
                mention_id=mention_id,
                outbound_id=outbound_id,
                action="retweet",
            )
    if outbound_id is None:
        network = scene.account.network
        already = _ALREADY_SHARED.get(network, _ALREADY_SHARED["x"])
        raise Refused(_(already).format(handle=scene.account.handle))
    _queue(rt, outbound_id, status)


def undo_retweet(rt: Runtime, who: Who, retweet_id: int) -> None:
    """Queue the undo of a sent retweet, once."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        original = _outbound(session, retweet_id)
        if original.kind != "retweet" or original.status != "sent":
            network = session.get_one(Account, original.account_id).network
            only = _ONLY_SHARED_UNDONE.get(network, _ONLY_SHARED_UNDONE["x"])
            raise Refused(_(only))
        scene = scene_for(session, who, _mention_of(original), now)
        status = _status_for(scene)
        outbound_id = _new_row(
            session,
            scene,
            now,
            key=f"unretweet:{retweet_id}",
            kind="unretweet",
            status=status,
            target_tweet_id=original.target_tweet_id,
        )
    if outbound_id is not None:
        _queue(rt, outbound_id, status)


def decide(rt: Runtime, who: Who, outbound_id: int, *, approve: bool) -> str:
    """An owner approves or rejects a reply awaiting approval; never its author."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        row = _outbound(session, outbound_id)
        someone = member(session, who.team_id, who.user_id, now)
        if role_on(session, someone.id, row.account_id) != "owner":
            raise Refused(_("Only an owner of the account approves or rejects what others send."))
        if row.actor_id == someone.id:
            raise Refused(
                _(
                    "You wrote this one, so another owner must approve it: approving your own "
                    "reply would skip the check it is waiting for."
                )
            )
        decided = rows.decide(session, outbound_id, someone.id, approve, now)
        if decided is None:
            raise Refused(
                _("This was already decided: it is {status}.").format(status=_status_name(row))
            )
        record_event(
            session,
            "outbound.approved" if approve else "outbound.rejected",
            now,
            actor=who.user_id,
            account_id=row.account_id,
            mention_id=row.mention_id,
            outbound_id=outbound_id,
        )
    _queue(rt, outbound_id, "pending" if approve else "rejected")
    return "approved" if approve else "rejected"


def retry(rt: Runtime, who: Who, outbound_id: int) -> None:
    """Send a failed or unknown row again, on a person's explicit say-so after checking X."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        row = _outbound(session, outbound_id)
        _may_act_on(session, who, row, now)
        if rows.retry(session, outbound_id) is None:
            raise Refused(_("Nothing to retry: it is {status}.").format(status=_status_name(row)))
        record_event(
            session,
            "outbound.retried",
            now,
            actor=who.user_id,
            account_id=row.account_id,
            mention_id=row.mention_id,
            outbound_id=outbound_id,
        )
    _queue(rt, outbound_id, "pending")


def check_again(rt: Runtime, who: Who, outbound_id: int) -> None:
    """Look at X again for a row whose outcome is unknown."""
    with rt.sessions.begin() as session:
        row = _outbound(session, outbound_id)
        _may_act_on(session, who, row, rt.clock())
    enqueue_reconcile(rt.team_queue, outbound_id)


def _status_name(row: Outbound) -> str:
    named = STATUS_NAMES.get(row.status)
    return _(named) if named else row.status.replace("_", " ")


def _outbound(session: Session, outbound_id: int) -> Outbound:
    row = session.get(Outbound, outbound_id)
    if row is None:
        raise Refused(_("Roost has no record of this any more."))
    return row


def _may_act_on(session: Session, who: Who, row: Outbound, now: datetime) -> None:
    """Refused unless the person may act as the row's account: for a mention's row, as the
    card's buttons check; for a composed post, as an owner or agent of its account."""
    if row.mention_id is not None or row.post_id is None:
        scene_for(session, who, _mention_of(row), now)
        return
    someone = session.scalar(
        select(Member).where(Member.team_id == who.team_id, Member.user_id == who.user_id)
    )
    role = role_on(session, someone.id, row.account_id) if someone else None
    if role not in ("owner", "agent"):
        raise Refused(_("Only an owner or agent of the account can do that."))


def _mention_of(row: Outbound) -> int:
    if row.mention_id is None:
        raise Refused(_("The mention this belonged to is gone."))
    return row.mention_id


def _queue(rt: Runtime, outbound_id: int, status: str) -> None:
    try:
        if status == "pending":
            enqueue_send(rt.team_queue, outbound_id)
        else:
            enqueue_report(rt.team_queue, outbound_id)
    except RedisError as exc:
        # The row is written: the sweep finds it pending and sends it once Redis is back.
        logger.error("outbound %s not queued (%s); the sweep will send it", outbound_id, exc)
