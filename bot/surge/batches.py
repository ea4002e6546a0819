"""One answer to many: "Reply to all" on a surge group's card, and "Send to customer
service" (the account's customer-service DM to each author).

A batch names the group's mentions up to the last one the person saw when they opened
the modal. It never sends anything itself: every ROOST_BATCH_SECONDS the worker's
`advance` job releases as many of its mentions as X's limits leave room for, each as an
outbound row of its own (Outbound.batch_id) that bot.outbound.sending sends exactly
once, as it sends a single reply. What X allows is counted from Roost's own rows: the
calls started in the last window (and a margin), the rows released but not sent yet,
and the posts scheduled to fall due in the coming window. Part of each window is left
to the team's own replies and DMs, which must never wait behind a batch.

Each mention is checked again as it is released: one answered meanwhile, by a person or
by an earlier batch, is skipped; each author gets one reply (their oldest mention's) and
one DM in the whole surge. Pause stops the releasing; Cancel stops it and withdraws what
was released and not yet sent; whoever resumes a batch sends it from then on.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, exists, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot import runtime
from bot.errors import Refused
from bot.i18n import N_, _
from bot.inbox.access import Scene, scene_for
from bot.lease import Lease
from bot.networks import links
from bot.networks.rules import rules_for
from bot.outbound.acting import cotag_for
from bot.outbound.guards import PHONE_REGION, Own, check_dm, check_public, has_personal_data
from bot.outbound.sending import enqueue_send
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from bot.slack.notices import post_notice
from bot.surge.updates import latest_link
from bot.team.admin import change_account, require_manager_of
from bot.team.budget import budget_of
from bot.team.language import in_channel
from bot.team.people import Who, visible_accounts
from bot.x.prices import load_prices, price_of, send_kind
from bot.x.text import measure
from storage import outbound as rows
from storage.events import record_event
from storage.models import (
    Account,
    Batch,
    Member,
    Mention,
    Outbound,
    Surge,
    SurgeGroup,
)
from storage.team import role_on

logger = logging.getLogger(__name__)

KINDS = {"reply": N_("Reply to all"), "dm": N_("Send to customer service")}
"""An answer to a whole group, by its kind, as the team calls it (shown with _())."""


@dataclass(frozen=True, slots=True)
class XLimit:
    """What X allows one endpoint, as its rate-limit table states it (2026): calls per
    user each 15-minute window, and per app (every account together) each 24 hours."""

    what: str  # as X's limit notes name it (storage.accounts.note_x_limit)
    kinds: tuple[str, ...]  # Roost's outbound kinds that call the endpoint
    per_window: int
    per_day: int
    kept: int  # a window's calls batches leave to the team's own

    @property
    def for_batches(self) -> int:
        """A window's calls a batch may use."""
        return self.per_window - self.kept


LIMITS = {  # not spoken: `what` names the limit as X's limit notes do
    "reply": XLimit(
        "posts and replies", ("reply", "post"), per_window=100, per_day=10_000, kept=10
    ),
    "dm": XLimit("DMs", ("dm",), per_window=15, per_day=1_440, kept=5),
}
"""POST /2/tweets, and POST /2/dm_conversations/with/{id}/messages. Of X's 15 DMs a
window a third stays with the team: it answers personal data by DM while a batch runs."""

WINDOW_MARGIN = timedelta(seconds=2)
"""Counted beyond X's window: X's windows are fixed ones that can end a second after
the window's length has passed since they began, and Roost counts a sliding one."""

DAY = timedelta(hours=24)
LONGEST_HANDLE = "@" + "x" * 15
"""What a reply's text is measured with: the longest name X gives a user."""

RUNNING, PAUSED, CANCELLED, DONE = "running", "paused", "cancelled", "done"

SENDING_ROLES = frozenset({"owner", "agent"})
"""Roles that may answer a whole group: it is not approved a reply at a time."""

SENDER_LEFT = N_("its sender no longer has a role that sends as the account")
BUDGET = N_("X's budget")
"""Why a batch paused, as stored (Batch.why) and translated where shown (progress_line)."""

LEASE_SECONDS = 10
"""How long one worker alone releases an account's batches: a run takes well under a
second, and a worker killed in one holds the others back no longer than this."""
IN_FLIGHT = ("pending", "sending")


def advance() -> int:
    """RQ job (recurring): release what X's limits allow of every running batch."""
    return advance_batches(runtime.current())


# --- what a batch would send -------------------------------------------------------------


class Target(NamedTuple):
    """What a batch needs of a mention: to leave it out, or to answer it."""

    id: int
    tweet_id: int
    author_id: int | None
    author_username: str | None
    status: str
    summons: bool | None
    text: str


TARGET_COLUMNS = (
    Mention.id,
    Mention.tweet_id,
    Mention.author_id,
    Mention.author_username,
    Mention.status,
    Mention.summons,
    Mention.text,
)
"""Read as these columns, not as whole rows: a surge group's thousands are read again
every few seconds."""


@dataclass(slots=True)
class Plan:
    """What answering the group would do now: to whom, who is left out and why, what X
    would bill, and how long X's limits make it take."""

    kind: str
    handle: str
    targets: list[Target]
    left_out: Counter[str] = field(default_factory=Counter)
    room: int = 0  # how many X allows now
    window: timedelta = timedelta(minutes=15)
    per_window: int = 0

    def takes(self) -> timedelta:
        """How long until the last goes out, at X's pace: what X allows now at once, the
        rest a window's share at a time."""
        rest = len(self.targets) - self.room
        if rest <= 0:
            return timedelta(0)
        return self.window * math.ceil(rest / self.per_window)


LEFT_OUT = {
    "answered": N_("{n:,} answered already"),
    "personal": N_("{n:,} wrote personal data in their post (answer them one by one, by DM)"),
    "not_summoned": N_("{n:,} did not summon the account, so X would refuse a public reply"),
    "same_author": N_("{n:,} are further mentions of someone who gets one already"),
    "ignored": N_("{n:,} were ignored as spam or noise"),
    "no_author": N_("{n:,} have no author on X any more"),
    "dm_sent": N_("{n:,} were sent a DM already"),
}
"""Why mentions are left out of an answer to the group, with how many (shown with _())."""


def plan(
    rt: Runtime,
    session: Session,
    group: SurgeGroup,
    kind: str,
    upto: int,
    *,
    batch_id: int | None = None,
) -> Plan:
    """Who in the group, up to mention `upto`, would get the reply (or DM) now; with
    `batch_id`, less those that batch took already, however that ended."""
    surge_account = session.get_one(Account, _account_id(session, group))
    limit = LIMITS[kind]
    found = Plan(kind, surge_account.handle, [])
    region = surge_account.phone_region or PHONE_REGION  # how its customers write numbers
    seen: set[int] = set()
    for *columns, answered, in_batch in session.execute(
        select(*TARGET_COLUMNS, _answered(kind, group.surge_id), _in_batch(batch_id))
        .where(Mention.surge_group_id == group.id, Mention.id <= upto)
        .order_by(Mention.id)
    ):
        mention = Target(*columns)
        why = _left_out(rt, mention, kind, answered=answered or in_batch, seen=seen, region=region)
        if why is None:
            found.targets.append(mention)
        else:
            found.left_out[why] += 1
        if why in (None, "answered", "dm_sent"):
            seen.add(mention.author_id or 0)  # one answer to a person about one thing
    found.window = timedelta(seconds=rt.settings.x_rate_window_seconds)
    found.per_window = limit.for_batches
    found.room = room_for(rt, session, surge_account, kind)
    return found


def _left_out(
    rt: Runtime, mention: Target, kind: str, *, answered: bool, seen: set[int], region: str
) -> str | None:
    """Why a mention gets no reply (or its author no DM) from the batch, or None."""
    if mention.status == "ignored":
        return "ignored"
    if mention.author_id is None or mention.author_username is None:
        return "no_author"
    if answered:
        return "answered" if kind == "reply" else "dm_sent"
    if mention.author_id in seen:
        return "same_author"
    if kind == "reply":
        if mention.summons is False and rt.settings.self_serve:
            return "not_summoned"
        if has_personal_data(mention.text, region):
            return "personal"
    return None


ANSWERING = ("awaiting_approval", "pending", "sending", "sent", "unknown")
"""A row in one of these answers its mention, or is about to."""


def _answered(kind: str, surge_id: int) -> Any:
    """Whether the mention was answered (for a reply), or its author was sent a DM about
    one of the surge's mentions, in any of its groups (for a DM): by a person or a batch,
    sent or on its way."""
    if kind == "reply":
        return Mention.first_response_at.is_not(None) | exists().where(
            Outbound.mention_id == Mention.id,
            Outbound.kind == "reply",
            Outbound.status.in_(ANSWERING),
        )
    listed = aliased(Mention)
    return exists().where(
        Outbound.kind == "dm",
        Outbound.recipient_id == Mention.author_id,
        Outbound.mention_id.in_(
            select(listed.id)
            .join(SurgeGroup, SurgeGroup.id == listed.surge_group_id)
            .where(SurgeGroup.surge_id == surge_id)
        ),
        Outbound.status.in_(ANSWERING),
    )


def _in_batch(batch_id: int | None) -> Any:
    """Whether the batch took the mention already, however that ended: one X refused is
    not tried again by its next run (another batch may)."""
    if batch_id is None:
        return false()
    return exists().where(Outbound.mention_id == Mention.id, Outbound.batch_id == batch_id)


def room_for(rt: Runtime, session: Session, account: Account, kind: str) -> int:
    """How many more calls of this kind X allows the account now, a tenth of each window
    kept for the team's own: the window's calls counted from the rows Roost started in
    it and those released and not sent yet, and the app's day likewise."""
    limit = LIMITS[kind]
    now = rt.clock()
    if (
        account.x_limited_until is not None
        and account.x_limited_until > now
        and (account.x_limit or "").startswith(limit.what)
    ):
        return 0  # X said so (a 429): nothing until its reset
    window = timedelta(seconds=rt.settings.x_rate_window_seconds) + WINDOW_MARGIN
    made = _calls(session, limit, now - window, now + window, account.id)
    today = _calls(session, limit, now - DAY, now + window, None)
    day_room = limit.per_day - max(1, limit.per_day // 10) - today
    return max(0, min(limit.for_batches - made, day_room))


def _calls(
    session: Session, limit: XLimit, since: datetime, until: datetime, account_id: int | None
) -> int:
    """Calls to the endpoint started since `since`, with the rows waiting to be sent that
    fall due before `until` (a post scheduled for the coming minutes has its place kept;
    one for tomorrow is not this window's)."""
    due = Outbound.status.in_(IN_FLIGHT) & (Outbound.run_at.is_(None) | (Outbound.run_at <= until))
    where: list[ColumnElement[bool]] = [
        Outbound.kind.in_(limit.kinds),
        (Outbound.started_at >= since) | due,
    ]
    if account_id is not None:
        where.append(Outbound.account_id == account_id)
    return int(session.scalar(select(func.count()).select_from(Outbound).where(*where)) or 0)


def _account_id(session: Session, group: SurgeGroup) -> int:
    return session.get_one(Surge, group.surge_id).account_id


def the_text(kind: str, text: str, author: str, link: str | None) -> str:
    """What one reply or DM says, before the CoTag: a reply names its author first (X
    takes no two posts of the same text from one account, and it reads as an answer to
    them), and ends with the status update's link if it carries one."""
    body = f"{text.strip()} {link}" if link else text.strip()
    return f"@{author} {body}" if kind == "reply" else body


# --- starting, pausing, cancelling -------------------------------------------------------


def check_text(rt: Runtime, scene: Scene, kind: str, text: str, link: str | None) -> list[str]:
    """What stands in the way of sending `text` to everyone: the guards, and the length
    (counted as the account's network counts it) with the longest name X gives anyone."""
    cotag = cotag_for(scene, kind)
    banned = scene.account.banned_words or []
    rules = rules_for(scene.account.network, scene.account.post_limit)
    if kind == "reply":
        own = Own.of(scene.account.phone_region, scene.account.own_data)
        self_serve = rt.settings.self_serve and rules.self_serve_rules
        findings = check_public(text, banned=banned, self_serve=self_serve, own=own)
        signed = the_text(kind, text, LONGEST_HANDLE[1:], link)
        measured = measure(signed, cotag, limit=rules.limit, count=rules.count)
    else:
        findings = check_dm(text, banned=banned)
        signed = the_text(kind, text, "", None)
        measured = measure(signed, cotag, limit=rules.dm_limit, count=rules.count)
    problems = [finding.message for finding in findings]
    if measured.overflow:
        network = links.label(scene.account.network)
        if link:
            too_long = _(
                "With a name of 15 characters, the link and the CoTag it is {over} over "
                "{network}'s limit of {limit}: shorten it."
            )
        else:
            too_long = _(
                "With a name of 15 characters and the CoTag it is {over} over {network}'s "
                "limit of {limit}: shorten it."
            )
        problems.append(
            too_long.format(over=measured.overflow, network=network, limit=measured.limit)
        )
    return problems


def start(
    rt: Runtime,
    who: Who,
    *,
    key: str,
    group_id: int,
    kind: str,
    upto: int,
    text: str,
    with_link: bool,
) -> list[str]:
    """Start answering the group (problems with the text, if any, and nothing started);
    a second submit of one modal (`key`) starts nothing more."""
    now = rt.clock()
    try:
        with rt.sessions.begin() as session:
            group, scene = group_scene(session, who, group_id, now)
            require_sender(scene, kind)
            link = latest_link(session, group, scene.account.handle) if with_link else None
            problems = check_text(rt, scene, kind, text, link)
            if problems:
                return problems
            if session.scalar(select(Batch.id).where(Batch.key == key)) is not None:
                return []  # this modal started it already
            under_way = session.scalar(
                select(Batch.status).where(
                    Batch.group_id == group.id,
                    Batch.kind == kind,
                    Batch.status.in_((RUNNING, PAUSED)),
                )
            )
            if under_way is not None:
                return [_under_way(kind, under_way)]
            found = plan(rt, session, group, kind, upto)
            batch = Batch(
                key=key,
                group_id=group.id,
                account_id=scene.account.id,
                actor_id=scene.member.id,
                kind=kind,
                text=f"{text.strip()} {link}" if link else text.strip(),
                cotag=cotag_for(scene, kind),
                upto_mention_id=upto,
                planned=len(found.targets),
                status=RUNNING,
                created_at=now,
            )
            session.add(batch)
            session.flush()
            record_event(
                session,
                "batch.started",
                now,
                actor=who.user_id,
                account_id=scene.account.id,
                batch_id=batch.id,
                group_id=group.id,
                action=kind,
                planned=batch.planned,
                text=batch.text,
            )
            session.execute(update(SurgeGroup).where(SurgeGroup.id == group.id).values(shown=None))
    except IntegrityError:  # another submit started one of this kind a moment ago
        return [_under_way(kind, RUNNING)]
    rt.team_queue.enqueue(advance, result_ttl=0)  # the first go out now, not next period
    return []


def _under_way(kind: str, status: str) -> str:
    if status == PAUSED:
        said = _(
            "A {what} of this group is paused already: its card has Pause and Cancel. "
            "Cancel it first to send another text."
        )
    else:
        said = _(
            "A {what} of this group is running already: its card has Pause and Cancel. "
            "Cancel it first to send another text."
        )
    return said.format(what=_(KINDS[kind]))


def require_sender(scene: Scene, kind: str) -> None:
    """Refused unless the person may send as the account without an owner's approval:
    an answer to a whole group is not approved a reply at a time."""
    if scene.role not in SENDING_ROLES:
        raise Refused(
            _(
                "{what} sends as *@{handle}* without an owner's approval, which your role does "
                "not allow. Ask an owner or an agent."
            ).format(what=_(KINDS[kind]), handle=scene.account.handle)
        )


def group_scene(
    session: Session, who: Who, group_id: int, now: datetime
) -> tuple[SurgeGroup, Scene]:
    group = session.get(SurgeGroup, group_id)
    if group is None or not group.samples:
        raise Refused(_("This group is no longer in Roost."))
    return group, scene_for(session, who, group.samples[0], now)  # refused without a role


def change(rt: Runtime, who: Who, batch_id: int, to: str) -> str:
    """Pause, resume or cancel a batch, as anyone who may act as its account; what was
    done. Cancelling withdraws what was released and not sent yet."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        batch = _locked(session, batch_id)
        if batch is None:
            raise Refused(_("This answer to the group is no longer in Roost."))
        _group, scene = group_scene(session, who, batch.group_id, now)
        if to == RUNNING:
            require_sender(scene, batch.kind)
            # What it sends from now on, they send, signed with their CoTag.
            batch.actor_id, batch.cotag = scene.member.id, cotag_for(scene, batch.kind)
        if batch.status == CANCELLED:
            return _("It was cancelled already.")
        if batch.status == DONE:
            return _("It was done already.")
        if to == RUNNING and batch.status == RUNNING:
            return _("It is running already.")
        batch.status, batch.why = to, None
        withdrawn = 0
        if to == CANCELLED:
            batch.finished_at = now
            withdrawn = int(
                session.execute(
                    update(Outbound)
                    .where(Outbound.batch_id == batch.id, Outbound.status == "pending")
                    .values(status="cancelled"),
                    execution_options={"synchronize_session": False},
                ).rowcount  # type: ignore[attr-defined]
                or 0
            )
        record_event(
            session,
            f"batch.{to}",
            now,
            actor=who.user_id,
            account_id=batch.account_id,
            batch_id=batch.id,
            withdrawn=withdrawn,
        )
        session.execute(
            update(SurgeGroup).where(SurgeGroup.id == batch.group_id).values(shown=None)
        )
        what = _(KINDS[batch.kind])
    if to == RUNNING:
        rt.team_queue.enqueue(advance, result_ttl=0)
        return _("{what} goes on.").format(what=what)
    if to == PAUSED:
        return _(
            "{what} is paused: nothing more is released to X until someone resumes it."
        ).format(what=what)
    return _("{what} is cancelled; {withdrawn:,} not yet sent were withdrawn.").format(
        what=what, withdrawn=withdrawn
    )


# --- releasing, a few at a time ----------------------------------------------------------


def advance_batches(rt: Runtime) -> int:
    """Release what X's limits allow of each running batch, oldest first, and finish
    those with nothing left; how many rows were released."""
    with rt.sessions() as session:
        running = list(
            session.scalars(
                select(Batch).where(Batch.status == RUNNING).order_by(Batch.created_at, Batch.id)
            )
        )
    released = 0
    for batch in running:
        lease = Lease(rt.redis, f"batches:{batch.account_id}", seconds=LEASE_SECONDS)
        if not lease.acquire():
            continue  # another worker is releasing this account's
        try:
            released += _advance(rt, batch.id)
        finally:
            lease.release()
    return released


def _advance(rt: Runtime, batch_id: int) -> int:
    now = rt.clock()
    # Whom to release is read first, with no lock held: a plan reads the whole group,
    # and in SQLite a lock is the whole database's. The release then takes the batch's
    # lock and looks at its status again; the rows' keys keep each mention's one.
    with rt.sessions() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status != RUNNING:
            return 0
        account = session.get_one(Account, batch.account_id)
        sender_left = role_on(session, batch.actor_id, account.id) not in SENDING_ROLES
        room = 0 if sender_left else room_for(rt, session, account, batch.kind)
        if not sender_left and room == 0:
            return 0  # X's window is used: nothing to look at until it moves on
        group = session.get_one(SurgeGroup, batch.group_id)
        found = plan(rt, session, group, batch.kind, batch.upto_mention_id, batch_id=batch.id)
        take = found.targets[:room]
        take = take[: _affordable(rt, session, account, batch, take)]
    released: list[int] = []
    finished = False
    with rt.sessions.begin() as session:
        # Locked: a Pause or Cancel made meanwhile waits for these rows, and then
        # withdraws them too; one made before this run is seen here.
        locked = _locked(session, batch_id)
        if locked is None or locked.status != RUNNING:
            return 0
        if sender_left:
            locked.status = PAUSED
            locked.why = SENDER_LEFT  # stored in English, shown in the reader's language
        elif not found.targets:
            if _in_flight(session, batch_id):
                return 0  # done when the last ones are
            locked.status, locked.finished_at = DONE, now
            finished = True
        elif not take:
            locked.status = PAUSED
            budget = budget_of(rt, account)
            locked.why = budget.why() if budget is not None else BUDGET
        for mention in take:
            outbound_id = _release(session, locked, mention, now)
            if outbound_id is not None:
                released.append(outbound_id)
        session.execute(update(SurgeGroup).where(SurgeGroup.id == group.id).values(shown=None))
    for outbound_id in released:
        enqueue_send(rt.team_queue, outbound_id)
    if finished:
        _tell_done(rt, batch_id)
    return len(released)


def _locked(session: Session, batch_id: int) -> Batch | None:
    """The batch, locked for the rest of the transaction (a row lock in PostgreSQL; in
    SQLite, the write that takes the database's)."""
    session.execute(
        update(Batch).where(Batch.id == batch_id).values(status=Batch.status),
        execution_options={"synchronize_session": False},
    )
    return session.get(Batch, batch_id, populate_existing=True, with_for_update=True)


def _in_flight(session: Session, batch_id: int) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Outbound)
            .where(Outbound.batch_id == batch_id, Outbound.status.in_(IN_FLIGHT))
        )
    )


def _affordable(
    rt: Runtime, session: Session, account: Account, batch: Batch, take: list[Target]
) -> int:
    """How many of `take` the account's hard cap allows (all, without one), beside what
    the account has released to X and X has not billed yet."""
    budget = budget_of(rt, account)
    if budget is None or not take:
        return len(take)
    price = send_kind(batch.kind, the_text(batch.kind, batch.text, "x", None))
    waiting: Counter[str] = Counter(
        send_kind(kind, text)
        for kind, text in session.execute(
            select(Outbound.kind, Outbound.text).where(
                Outbound.account_id == account.id, Outbound.status.in_(IN_FLIGHT)
            )
        )
    )  # every row of the account released and not billed yet, this batch's or not
    low, high = 0, len(take)
    while low < high:  # the most that the cap does not refuse
        middle = (low + high + 1) // 2
        if budget.refuses(waiting + Counter({price: middle})):
            high = middle - 1
        else:
            low = middle
    return low


def _release(session: Session, batch: Batch, mention: Target, now: datetime) -> int | None:
    """The mention's row of the batch, pending for the send job; None if it had one."""
    assert mention.author_username is not None
    text = measure(the_text(batch.kind, batch.text, mention.author_username, None), batch.cotag)
    outbound_id = rows.create(
        session,
        idempotency_key=f"batch:{batch.id}:{mention.id}",
        kind=batch.kind,
        account_id=batch.account_id,
        mention_id=mention.id,
        actor_id=batch.actor_id,
        status="pending",
        attempts=0,
        created_at=now,
        text=text.text,
        cotag=batch.cotag,
        target_tweet_id=mention.tweet_id if batch.kind == "reply" else None,
        recipient_id=mention.author_id if batch.kind == "dm" else None,
        batch_id=batch.id,
    )
    if outbound_id is not None:
        record_event(
            session,
            "outbound.requested",
            now,
            account_id=batch.account_id,
            mention_id=mention.id,
            outbound_id=outbound_id,
            action=batch.kind,
            batch_id=batch.id,
        )
    return outbound_id


# --- how far it got ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    batch_id: int
    kind: str
    actor: str | None
    status: str
    why: str | None
    planned: int
    sent: int
    failed: int
    waiting: int  # released and not settled
    errors: list[tuple[str, int]]


def progress(session: Session, group_id: int) -> list[Progress]:
    """The group's batches, oldest first, with how far each got."""
    found = []
    for batch, actor in session.execute(
        select(Batch, Member.user_id)
        .outerjoin(Member, Member.id == Batch.actor_id)
        .where(Batch.group_id == group_id)
        .order_by(Batch.id)
    ):
        counts = dict(
            session.execute(
                select(Outbound.status, func.count())
                .where(Outbound.batch_id == batch.id)
                .group_by(Outbound.status)
            ).all()
        )
        errors = session.execute(
            select(Outbound.error, func.count())
            .where(Outbound.batch_id == batch.id, Outbound.status == "failed")
            .group_by(Outbound.error)
            .order_by(func.count().desc())
            .limit(3)
        ).all()
        found.append(
            Progress(
                batch.id,
                batch.kind,
                actor,
                batch.status,
                batch.why,
                batch.planned,
                int(counts.get("sent", 0)),
                int(counts.get("failed", 0)) + int(counts.get("unknown", 0)),
                sum(int(counts.get(s, 0)) for s in IN_FLIGHT),
                [(str(error or _("no reason given")), int(n)) for error, n in errors],
            )
        )
    return found


def progress_line(p: Progress) -> str:
    """ "Reply to all by @ana: 230 of 1,000 sent, 2 failed · running"."""
    what = _(KINDS[p.kind])
    if p.actor:
        line = _("*{what}* by <@{user}>: {sent:,} of {planned:,} sent").format(
            what=what, user=p.actor, sent=p.sent, planned=p.planned
        )
    else:
        line = _("*{what}*: {sent:,} of {planned:,} sent").format(
            what=what, sent=p.sent, planned=p.planned
        )
    if p.failed:
        line += ", " + _("{failed:,} failed or unsure").format(failed=p.failed)
    if p.status == RUNNING:
        state = _("going out as X's limits allow")
    elif p.status == PAUSED:
        # Why, as stored: Roost's own reasons in English, translated here.
        state = _("paused: {why}").format(why=_(p.why)) if p.why else _("paused")
    elif p.status == CANCELLED:
        state = _("cancelled")
    else:
        state = _("done")
    return f"{line} · {state}"


def _tell_done(rt: Runtime, batch_id: int) -> None:
    """Say in the group's thread, once, how the batch ended."""
    with rt.sessions() as session:
        batch = session.get_one(Batch, batch_id)
        group = session.get_one(SurgeGroup, batch.group_id)
    if group.slack_channel is None or group.slack_ts is None:
        return
    with in_channel(rt, group.slack_channel):
        with rt.sessions() as session:
            (found,) = [p for p in progress(session, group.id) if p.batch_id == batch_id]
        lines = [":white_check_mark: " + progress_line(found) + "."]
        lines += [f"• {n:,}× {escape(error)}" for error, n in found.errors]
        try:
            post_notice(
                rt,
                f"batch-done:{batch_id}",
                group.slack_channel,
                "\n".join(lines),
                thread_ts=group.slack_ts,
            )
        except Exception:  # the card shows it too; the thread's line is a courtesy
            logger.warning("batch %s's end not told in its group's thread", batch_id, exc_info=True)


def price(rt: Runtime, kind: str, text: str) -> float:
    """What X bills for one reply or DM of the batch, in dollars."""
    return price_of(load_prices(rt.settings.x_prices_file), send_kind(kind, text))


CARE_USAGE = N_(
    "`/roost care @account <message>` sets what “Send to customer service” DMs the authors "
    "of a surge group (the team's contact, in your words); `/roost care @account` shows it."
)


def care_command(rt: Runtime, who: Who, text: str) -> tuple[str, None]:
    """`/roost care @account [message]`: the account's customer-service DM, shown to
    anyone with a role on it and set by an owner or an admin, checked as a DM is."""
    handle, _space, message = text.strip().partition(" ")
    if not handle:
        raise ValueError(_(CARE_USAGE))
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, handle.lstrip("@"))
    if not message.strip():
        if account.care_dm is None:
            return _("*@{handle}* has no customer-service message yet. {usage}").format(
                handle=account.handle, usage=_(CARE_USAGE)
            ), None
        return _("*@{handle}*'s customer-service DM:").format(
            handle=account.handle
        ) + f"\n>{escape(account.care_dm)}", None
    require_manager_of(rt, who, account.id)
    message = message.strip()
    problems = [f.message for f in check_dm(message, banned=account.banned_words or [])]
    if len(message) > CARE_LIMIT:
        problems.append(
            _("It is {n:,} characters; keep it under {limit:,}.").format(
                n=len(message), limit=CARE_LIMIT
            )
        )
    if problems:
        return " ".join(problems), None
    change_account(rt, who, account.id, "account.care_dm", care_dm=message)
    return (
        _("“Send to customer service” on *@{handle}*'s surge groups now DMs:").format(
            handle=account.handle
        )
        + f"\n>{escape(message)}",
        None,
    )


CARE_LIMIT = 2000
"""Characters of a customer-service DM: room for the CoTag under X's DM limit, and short
enough to read."""
