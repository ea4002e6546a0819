"""The daily digest: when each channel's is due, what it says, and sending it exactly once.

The worker's sweep (bot.sweep) asks every period which channels' digests are
due and queues them. A digest is claimed in the database for its channel and
scheduled time (its slot) before anything is posted, so two workers at the
same minute, a restart, or a job run twice still make one digest; a channel
that already had one on its local day gets no second. A claim whose holder
died before recording the message is taken over after STALE_CLAIM, and the
new holder looks for the message (it carries its slot) before posting. Each
person with open items gets one DM a day, claimed the same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import i18n, runtime
from bot.digest.charts import activity_chart, busiest_hours
from bot.digest.figures import Clock, Period, period_figures
from bot.digest.spend import digest_line
from bot.digest.topics import recurring_terms
from bot.digest.views import (
    HANDLES_NAMED,
    LIST_ITEMS,
    TERM_TEXTS,
    DigestFacts,
    Item,
    Scheduled,
    digest_blocks,
    person_blocks,
)
from bot.errors import Refused
from bot.i18n import N_, _, speaking
from bot.inbox.delivery import card_url
from bot.runtime import Runtime
from bot.slack.blocks import context
from bot.slack.client import dm_channel, find_posted, send_dm
from bot.slack.mrkdwn import escape
from bot.surge.groups import surge_lines
from bot.team.business_hours import business_clock, open_between
from bot.team.language import as_person, in_channel
from bot.team.people import Who, display_names, is_admin
from storage.digests import (
    OpenCard,
    claim_digest,
    digest_channels,
    finish_digest,
    last_covered,
    latest_digests,
    leads_of,
    mark_chart,
    oldest_open,
    on_duty_between,
    open_by_assignee,
    received_between,
    response_rows,
    role_holders,
    save_schedule,
    scheduled_between,
    schedules,
    scope_accounts,
    stale_claims,
    texts_between,
)
from storage.events import record_event
from storage.models import Account, Digest, DigestSchedule, Member
from storage.team import roles_of

logger = logging.getLogger(__name__)

DEFAULT_AT = 9 * 60
"""09:00, in minutes after midnight."""

STALE_CLAIM = timedelta(minutes=5)
"""A claim this old that posted nothing was held by a worker that died."""

OVERNIGHT_FROM = time(18, 0)
"""The evening before: what came in after this and before the digest's time is "overnight"."""

METADATA_EVENT = "roost_digest"
"""The metadata type every digest carries, so a retry can find one already posted."""

FIND_POSTED_PAGES = 5

_INVITE = N_(
    "Invite Roost back with `/invite @Roost` in that channel, or turn its digest off there "
    "with `/roost digest off`."
)
_REPORT = N_("This is Roost's fault, not yours: please pass it on to whoever runs Roost.")
_RECONNECT = N_("Roost's Slack token no longer works there: reinstall the Roost app.")

GIVE_UP = {
    "not_in_channel": (N_("Roost is not a member of that channel any more"), _INVITE),
    "channel_not_found": (N_("that channel no longer exists, or Roost cannot see it"), _INVITE),
    "is_archived": (N_("that channel is archived"), _INVITE),
    "restricted_action": (N_("the workspace does not let Roost post there"), _INVITE),
    "invalid_blocks": (N_("Slack refused the digest's layout"), _REPORT),
    "msg_too_long": (N_("the digest was too long for Slack"), _REPORT),
    "invalid_metadata_format": (N_("Slack refused the digest's metadata"), _REPORT),
    "missing_scope": (N_("Roost lacks a Slack permission it needs"), _RECONNECT),
    "not_authed": (N_("Roost's Slack token was not accepted"), _RECONNECT),
    "invalid_auth": (N_("Roost's Slack token was not accepted"), _RECONNECT),
    "token_revoked": (N_("Roost's Slack token was revoked"), _RECONNECT),
    "account_inactive": (N_("Roost's Slack token was revoked"), _RECONNECT),
}
"""Slack's answers that no retry today can fix: what happened, and what the lead can do
(marked for the catalogue, said in the lead's language)."""

_SINCE_EVENING = (
    N_("since Monday evening"),
    N_("since Tuesday evening"),
    N_("since Wednesday evening"),
    N_("since Thursday evening"),
    N_("since Friday evening"),
    N_("since Saturday evening"),
    N_("since Sunday evening"),
)
"""What a digest after a day without one calls its night before, by that day (Monday first)."""

_DAY_OF_MONTH = (
    N_("{day} Jan"),
    N_("{day} Feb"),
    N_("{day} Mar"),
    N_("{day} Apr"),
    N_("{day} May"),
    N_("{day} Jun"),
    N_("{day} Jul"),
    N_("{day} Aug"),
    N_("{day} Sep"),
    N_("{day} Oct"),
    N_("{day} Nov"),
    N_("{day} Dec"),
)
"""A day of a month, short: "6 Dec", "12월 6일"."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A channel's digest schedule, with the defaults filled in."""

    channel: str
    at_minute: int
    zone: str
    weekdays_only: bool
    enabled: bool
    set_by: str | None

    def local_day(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.zone)).date()

    def due_slot(self, now: datetime) -> datetime | None:
        """Today's scheduled instant (UTC) if it has come, today being a day it runs."""
        if not self.enabled:
            return None
        local = now.astimezone(ZoneInfo(self.zone))
        if self.weekdays_only and local.weekday() >= 5:
            return None
        at = datetime.combine(local.date(), time(*divmod(self.at_minute, 60)), ZoneInfo(self.zone))
        return at.astimezone(UTC) if at <= local else None

    def overnight(self, day: date) -> tuple[datetime, datetime, str]:
        """The night before `day`'s digest, as this schedule has it: from OVERNIGHT_FROM
        on the last day it ran (Friday, for a weekday digest on Monday) to its time on
        `day`; and what to call it."""
        zone = ZoneInfo(self.zone)
        before = day - timedelta(days=1)
        while self.weekdays_only and before.weekday() >= 5:
            before -= timedelta(days=1)
        ends = datetime.combine(day, time(*divmod(self.at_minute, 60)), zone)
        if before == day - timedelta(days=1):
            label = _("overnight")
        else:
            label = _(_SINCE_EVENING[before.weekday()])
        return datetime.combine(before, OVERNIGHT_FROM, zone), ends, label

    def describe(self) -> str:
        """When it runs, in the context's language: "weekdays at 08:30 Asia/Seoul"."""
        if not self.enabled:
            return _("off")
        at = i18n.clock(datetime.combine(date(2000, 1, 1), time(*divmod(self.at_minute, 60))))
        if self.weekdays_only:
            return _("weekdays at {time} {zone}").format(time=at, zone=self.zone)
        return _("every day at {time} {zone}").format(time=at, zone=self.zone)


def plan_from(channel: str, row: DigestSchedule | None, workspace_zone: str) -> Plan:
    if row is None:
        return Plan(channel, DEFAULT_AT, workspace_zone, False, True, None)
    return Plan(
        channel,
        row.at_minute,
        row.tz or workspace_zone,
        row.weekdays_only,
        row.enabled,
        row.set_by,
    )


def plan_of(rt: Runtime, channel: str) -> Plan:
    with rt.sessions() as session:
        row = session.get(DigestSchedule, channel)
        return plan_from(channel, row, rt.settings.roost_time_zone)


# ---------------------------------------------------------------- what is due


def slot_key(slot: datetime) -> str:
    return f"{slot.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def queue_due_digests(rt: Runtime) -> int:
    """Queue every channel's digest that is due and not yet sent today; returns how many.

    Called by the worker's sweep each minute. Queuing twice is harmless: the
    claim in send_digest lets one through.
    """
    now = rt.clock()
    with rt.sessions() as session:
        rows = schedules(session)
        plans = [
            plan_from(channel, rows.get(channel), rt.settings.roost_time_zone)
            for channel in digest_channels(session)
        ]
        latest = latest_digests(session, [plan.channel for plan in plans])
    queued = 0
    for plan in plans:
        slot = plan.due_slot(now)
        if slot is None or not _wanted(plan, slot_key(slot), latest.get(plan.channel), now):
            continue
        rt.queue.enqueue(
            "bot.digest.daily.send_digest",
            plan.channel,
            slot_key(slot),
            job_id=f"roost-digest-{plan.channel}-{slot:%Y%m%d%H%M}",
            result_ttl=0,
            failure_ttl=int(timedelta(days=1).total_seconds()),
        )
        queued += 1
    with rt.sessions() as session:
        yesterday = (now - timedelta(days=1)).date().isoformat()
        stale = stale_claims(session, "person", now - STALE_CLAIM, yesterday, PERSON_ATTEMPTS)
    for claim in stale:
        rt.queue.enqueue(
            "bot.digest.daily.retry_person_digest",
            claim.target,
            claim.slot,
            job_id=f"roost-digest-person-{claim.target}-{claim.slot}",
            result_ttl=0,
            failure_ttl=int(timedelta(days=1).total_seconds()),
        )
    return queued + len(stale)


def _wanted(plan: Plan, slot: str, latest: Digest | None, now: datetime) -> bool:
    """Whether this slot's digest should be (re)tried: it is not done or underway, and the
    channel has not had a digest on this local day already (say, before a change of zone).
    One that was given up does not count: after the fix, a new time brings today's."""
    if latest is None:
        return True
    if latest.slot == slot:
        underway = latest.posted_at is None and latest.error is None
        return underway and latest.claimed_at <= now - STALE_CLAIM
    return not _posted_today(plan, latest, now)


def _posted_today(plan: Plan, latest: Digest | None, now: datetime) -> bool:
    return (
        latest is not None
        and latest.posted_at is not None
        and plan.local_day(latest.posted_at) == plan.local_day(now)
    )


# ---------------------------------------------------------------- what it says


def gather(rt: Runtime, channel: str, plan: Plan, now: datetime) -> DigestFacts:
    """Read everything a channel's digest says at `now`: a few indexed queries.

    "Came in" counts from the channel's last digest (so Monday's, after a weekend
    without, covers the weekend), at most a week back; without one, the last day.
    """
    zone = plan.zone
    local_now = now.astimezone(ZoneInfo(zone))
    yesterday = now - timedelta(days=1)
    overnight_from, morning, overnight_label = plan.overnight(local_now.date())
    day_ends = datetime.combine(local_now.date() + timedelta(days=1), time(0), ZoneInfo(zone))
    with rt.sessions() as session:
        accounts = scope_accounts(session, channel)
        ids = [account.id for account in accounts]
        last = last_covered(session, channel, now - timedelta(days=7))
        since = last if last is not None and last < now else yesterday
        rows = response_rows(session, ids, now - timedelta(days=14), now)
        received = received_between(session, ids, since, now)
        overnight = received_between(session, ids, max(overnight_from, since), min(morning, now))
        by_assignee = open_by_assignee(session, ids)
        oldest, open_total = oldest_open(session, ids, LIST_ITEMS)
        overdue, overdue_total = oldest_open(session, ids, LIST_ITEMS, overdue_at=now)
        texts = texts_between(session, ids, since, now, TERM_TEXTS)
        scheduled = scheduled_between(session, ids, now, day_ends)
        surges = surge_lines(session, ids, since, now)
        said_so = on_duty_between(session, ids, since, now)
        holders = role_holders(session, ids)
    # A rota's person counts while they hold a role on its account.
    rostered = {user for user, account_id in _rostered(accounts, since, now) & holders}
    on_duty = sorted(set(said_so) | rostered)
    week = period_figures(
        rows, until=now, days=7, zone=zone, handles=_handles(accounts), clocks=clocks(accounts)
    )
    return DigestFacts(
        day=local_now.date(),
        zone=zone,
        handles=[account.handle for account in accounts],
        since=since,
        since_last=last is not None and since == last,
        received=received,
        received_overnight=overnight,
        overnight_label=overnight_label,
        open_total=open_total,
        open_by_assignee=by_assignee,
        oldest_open=[_item(rt, card, now) for card in oldest],
        overdue_total=overdue_total,
        overdue=[_item(rt, card, now) for card in overdue],
        week=week,
        busiest=busiest_hours(week.hours),
        terms=recurring_terms(texts, exclude=own_words(accounts)),
        terms_read=len(texts),
        scheduled=_scheduled(scheduled),
        names=_names(rt, _named_people(by_assignee, oldest, overdue, week) + on_duty),
        spend=_spend_lines(rt, accounts),
        surges=surges,
        on_duty=on_duty,
    )


def _rostered(accounts: list[Account], since: datetime, until: datetime) -> set[tuple[str, int]]:
    """(person, account) of the accounts' weekly rotas that put someone on duty at some
    time from `since` to `until`."""
    return {
        (entry["user"], account.id)
        for account in accounts
        for entry in account.rota or ()
        if open_between(entry["hours"], since, until)
    }


def _names(rt: Runtime, users: list[str]) -> dict[str, str]:
    """How the digest names people without pinging them: as Slack shows them, else by
    their CoTag (a digest that pinged a dozen people would be a dozen notifications)."""
    names = display_names(rt, users)
    missing = [user for user in users if user not in names]
    if missing:
        with rt.sessions() as session:
            names |= {
                user: cotag
                for user, cotag in session.execute(
                    select(Member.user_id, Member.cotag).where(
                        Member.user_id.in_(missing), Member.cotag.is_not(None)
                    )
                )
                if cotag
            }
    return names


def _spend_lines(rt: Runtime, accounts: list[Account]) -> list[str]:
    """What X bills for each account, as the digest says it; none if Redis is away."""
    try:
        found = [digest_line(rt, a.id, a.handle, a.x_budget_cents) for a in accounts]
    except RedisError as exc:
        logger.warning("digest without X spend: %s", exc)
        return []
    return [line for line in found if line is not None]


def _named_people(
    by_assignee: list[tuple[str | None, int]],
    oldest: list[OpenCard],
    overdue: list[OpenCard],
    week: Period,
) -> list[str]:
    """Everyone the digest names, so it can name them without pinging them each morning."""
    found = [user for user, _ in by_assignee[:LIST_ITEMS] if user]
    found += [card.assignee for card in (*oldest, *overdue) if card.assignee]
    found += [line.key for line in week.people[:LIST_ITEMS]]
    return found


def clocks(accounts: list[Account]) -> dict[int, Clock]:
    """Each account's business-time clock; unreadable stored hours count around the clock."""
    found = {}
    for account in accounts:
        try:
            found[account.id] = business_clock(account.business_hours)
        except ValueError:
            logger.warning(
                "@%s: stored business hours unreadable; figures ignore them", account.handle
            )
            found[account.id] = business_clock(None)
    return found


def _handles(accounts: list[Account]) -> dict[int, str]:
    return {account.id: account.handle for account in accounts}


def own_words(accounts: list[Account]) -> list[str]:
    words = [account.handle for account in accounts]
    words += [word for account in accounts for word in account.name.split()]
    return words


def _item(rt: Runtime, card: OpenCard, now: datetime) -> Item:
    mention = card.mention
    return Item(
        handle=card.handle,
        author=mention.author_username,
        text=mention.text,
        created_at=mention.created_at,
        url=card_url(rt, mention),
        assignee=card.assignee,
        overdue=(
            mention.first_response_at is None
            and mention.sla_due_at is not None
            and mention.sla_due_at <= now
        ),
    )


def _scheduled(rows: list[Any]) -> list[Scheduled]:
    posts: dict[int, Scheduled] = {}
    for row in rows:
        found = posts.get(row.post_id)
        if found is None:
            posts[row.post_id] = Scheduled(row.run_at, [row.handle], row.text)
        elif row.handle not in found.handles:
            found.handles.append(row.handle)
    return sorted(posts.values(), key=lambda post: post.run_at)


# ---------------------------------------------------------------- sending it


def send_digest(channel: str, slot: str) -> str:
    """RQ job: the channel's digest for its scheduled `slot`, once. Returns what became of it."""
    rt = runtime.current()
    now = rt.clock()
    plan = plan_of(rt, channel)
    due = plan.due_slot(now)
    if due is None or slot_key(due) != slot:
        # The schedule changed, or the day is over (workers were down): the next slot it is.
        logger.info("digest for %s at %s no longer due at %s; skipped", channel, slot, now)
        return "not due"  # not spoken: what became of the job, for RQ
    with rt.sessions.begin() as session:
        claim = claim_digest(session, channel, slot, "channel", now, STALE_CLAIM)
        if claim is None:
            return "taken"
        digest_id, attempts = claim.id, claim.attempts
    with in_channel(rt, channel):  # the channel's digest speaks the channel's language
        facts = gather(rt, channel, plan, now)
        text, blocks = digest_blocks(facts)
        try:
            ts = _find_posted(rt, channel, slot, now) if attempts > 1 else None
            if ts is None:
                ts = _post(rt, channel, text, blocks, slot)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error not in GIVE_UP:
                raise  # Slack may come back: the claim goes stale and the sweep tries again
            _give_up(rt, plan, digest_id, error)
            return error
    with rt.sessions.begin() as session:
        finish_digest(session, digest_id, rt.clock(), channel=channel, ts=ts)
    logger.info("digest for %s at %s posted as %s", channel, slot, ts)
    if facts.week.received:
        _attach_chart(rt, digest_id, channel, ts, facts)
    day = facts.day.isoformat()
    for user, _count in facts.open_by_assignee:
        if user is not None:
            send_person_digest(rt, user, day)
    return "posted"


def _post(rt: Runtime, channel: str, text: str, blocks: list[Any], slot: str) -> str:
    """Post a digest carrying its slot, so that a retry can find it; its ts."""
    answer = rt.slack.chat_postMessage(
        channel=channel,
        text=text,
        blocks=blocks,
        metadata=_metadata(slot),
        unfurl_links=False,
        unfurl_media=False,
    )
    return str(answer["ts"])


def _metadata(slot: str) -> dict[str, Any]:
    """What every digest carries, so that a retry can find it."""
    return {"event_type": METADATA_EVENT, "event_payload": {"slot": slot}}


def _find_posted(rt: Runtime, channel: str, slot: str, now: datetime) -> str | None:
    """The ts of this slot's digest if an earlier, interrupted try posted it."""
    found = find_posted(
        rt.slack,
        channel,
        _metadata(slot),
        oldest=(now - timedelta(days=1)).timestamp(),
        pages=FIND_POSTED_PAGES,
    )
    if found is not None:
        logger.info("digest %s in %s was already posted as %s", slot, channel, found)
    return found


def _give_up(rt: Runtime, plan: Plan, digest_id: int, error: str) -> None:
    """Record why today's digest cannot go out, and tell the people who can fix it."""
    reason, advice = GIVE_UP[error]
    logger.error("digest for %s not posted: %s (%s)", plan.channel, reason, error)
    with rt.sessions.begin() as session:
        finish_digest(session, digest_id, rt.clock(), error=error)
        accounts = scope_accounts(session, plan.channel)
        leads = [plan.set_by] if plan.set_by else leads_of(session, [a.id for a in accounts])
        if not leads:
            leads = sorted({a.connected_by for a in accounts if a.connected_by})
    if not leads:
        logger.error("digest for %s: no one to tell (no owner or schedule setter)", plan.channel)
    for lead in leads:
        with speaking(as_person(rt, lead)):  # a DM: the lead's own language
            message = _(
                "Roost could not post today's digest in <#{channel}>: {reason} (`{error}`)."
            ).format(channel=plan.channel, reason=_(reason), error=error)
            send_dm(rt.slack, lead, message + " " + _(advice))


def _attach_chart(rt: Runtime, digest_id: int, channel: str, ts: str, facts: DigestFacts) -> None:
    """The week's chart in the digest's thread, in the channel's language; the digest stands
    without it if this fails."""
    whose = ", ".join(f"@{h}" for h in facts.handles[:HANDLES_NAMED])
    try:
        with in_channel(rt, channel):
            png = activity_chart(
                facts.week.hours,
                facts.week.response_by_hour,
                title=_(
                    "Mentions and first response by hour, last {days} days · {accounts}"
                ).format(days=7, accounts=whose),
                zone=facts.zone,
            )
            week_to = _(_DAY_OF_MONTH[facts.day.month - 1]).format(day=facts.day.day)
            rt.slack.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                content=png,
                filename=f"roost-digest-{facts.day.isoformat()}.png",
                title=_("Busiest hours, week to {day}").format(day=week_to),
                initial_comment=_("Mentions per hour and the median first response, last 7 days."),
            )
    except (SlackClientError, OSError) as exc:
        logger.warning("digest chart for %s not attached: %s", channel, exc)
        return
    with rt.sessions.begin() as session:
        mark_chart(session, digest_id, rt.clock())


def send_person_digest(rt: Runtime, user: str, day: str) -> str:
    """One short DM a day to a person with open items, listing all of theirs, once.

    Like a channel's digest it is claimed first; a claim left by a worker that
    died is retaken by the sweep, which looks in the DM before posting again.
    """
    now = rt.clock()
    with rt.sessions.begin() as session:
        claim = claim_digest(session, user, day, "person", now, STALE_CLAIM)
        if claim is None:
            return "taken"
        digest_id, attempts = claim.id, claim.attempts
        cards, total = oldest_open(session, None, LIST_ITEMS, assignee=user)
        overdue = oldest_open(session, None, 0, assignee=user, overdue_at=now)[1]
    if not total:
        with rt.sessions.begin() as session:
            finish_digest(session, digest_id, rt.clock(), error="nothing open")  # not spoken
        return "nothing open"  # not spoken: what became of the job, for RQ
    items = [_item(rt, card, now) for card in cards]
    with speaking(as_person(rt, user)):  # a DM: the person's own language
        text, blocks = person_blocks(date.fromisoformat(day), items, total, overdue)
        try:
            channel = dm_channel(rt.slack, user)
            ts = _find_in_dm(rt, channel, day, now) if attempts > 1 else None
            if ts is None:
                ts = _post(rt, channel, text, blocks, day)
        except (SlackClientError, OSError) as exc:
            error = exc.response.get("error", "") if isinstance(exc, SlackApiError) else ""
            if error not in GIVE_UP and error not in PERSON_GONE:
                # Perhaps sent, perhaps not: the claim goes stale and the sweep looks again.
                logger.warning("digest DM to %s not sent yet: %s", user, exc)
                return "retry"
            logger.warning("digest DM to %s not sent: %s", user, error)
            with rt.sessions.begin() as session:
                finish_digest(session, digest_id, rt.clock(), error=str(error))
            return str(error)
    with rt.sessions.begin() as session:
        finish_digest(session, digest_id, rt.clock(), channel=channel, ts=ts)
    return "posted"


PERSON_GONE = {"user_not_found", "user_disabled", "cannot_dm_bot", "user_not_visible"}
"""Slack's answers for a person no DM can reach."""

PERSON_ATTEMPTS = 12
"""Tries at a person's DM digest (the sweep retries every STALE_CLAIM): an hour, then it is
left for tomorrow's rather than arriving stale."""


def _find_in_dm(rt: Runtime, channel: str, day: str, now: datetime) -> str | None:
    """The DM digest an earlier try may have sent. Installs from before Roost asked for
    `im:history` cannot look: then it is sent (a rare second DM beats a lost one)."""
    try:
        return _find_posted(rt, channel, day, now)
    except SlackApiError as exc:
        if exc.response.get("error") != "missing_scope":
            raise
        logger.warning("cannot read DMs (reinstall Roost for im:history); sending %s", day)
        return None


def retry_person_digest(user: str, day: str) -> str:
    """RQ job: a person's DM digest whose claim went stale."""
    return send_person_digest(runtime.current(), user, day)


# ---------------------------------------------------------------- /roost digest

USAGE = N_(
    "`/roost digest` shows this channel's digest now. "
    "`/roost digest at 08:30 [weekdays|daily] [Asia/Seoul]` sets when it runs, "
    "`/roost digest off` and `/roost digest on` stop and restart it."
)

NO_DIGEST_HERE = N_(
    "No account's cards come to this channel, so it has no digest. Run `/roost digest` in "
    "an account's channel: `/roost accounts` shows which."
)

_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?")


def digest_command(rt: Runtime, who: Who, text: str, channel: str) -> tuple[str, list[Any] | None]:
    """`/roost digest [now | at HH:MM [weekdays|daily] [Zone] | off | on]` in a channel."""
    words = text.split()
    verb = words[0].lower() if words else "now"
    if verb in ("now", "show"):
        return show_digest(rt, who, channel)
    if verb in ("at", "off", "on"):
        return set_schedule(rt, who, channel, verb, words[1:]), None
    raise ValueError(
        _("I don't know `{verb}` here. {usage}").format(verb=escape(verb), usage=_(USAGE))
    )


def show_digest(rt: Runtime, who: Who, channel: str) -> tuple[str, list[Any]]:
    """The channel's digest as it would be now, for the person alone."""
    with rt.sessions() as session:
        accounts = scope_accounts(session, channel)
        if not accounts:
            raise Refused(_(NO_DIGEST_HERE))
        _require_role(rt, session, who, accounts, manage=False)
    plan = plan_of(rt, channel)
    text, blocks = digest_blocks(gather(rt, channel, plan, rt.clock()))
    note = _("This channel's digest runs {schedule}.").format(schedule=plan.describe())
    note += " " + _(USAGE)
    return text, [*blocks, context(note)]


def set_schedule(rt: Runtime, who: Who, channel: str, verb: str, args: list[str]) -> str:
    """Change when the channel's digest runs; owners of its accounts and admins may."""
    now = rt.clock()
    with rt.sessions() as session:
        accounts = scope_accounts(session, channel)
        if not accounts:
            raise Refused(_(NO_DIGEST_HERE))
        _require_role(rt, session, who, accounts, manage=True)
        row = session.get(DigestSchedule, channel)
        current = plan_from(channel, row, rt.settings.roost_time_zone)
        stored_zone = row.tz if row is not None else None  # None: the workspace's, as it changes
    at_minute, weekdays_only = current.at_minute, current.weekdays_only
    enabled = verb != "off"
    if verb == "at":
        at_minute, weekdays_only, named_zone = parse_schedule(args, weekdays_only)
        stored_zone = named_zone or stored_zone
    elif args:
        raise ValueError(
            _("`/roost digest {verb}` takes nothing after it. {usage}").format(
                verb=verb, usage=_(USAGE)
            )
        )
    with rt.sessions.begin() as session:
        save_schedule(
            session,
            channel,
            at_minute=at_minute,
            tz=stored_zone,
            weekdays_only=weekdays_only,
            enabled=enabled,
            set_by=who.user_id,
            now=now,
        )
        record_event(
            session,
            "digest.scheduled",
            now,
            actor=who.user_id,
            channel=channel,
            at_minute=at_minute,
            tz=stored_zone or rt.settings.roost_time_zone,
            weekdays_only=weekdays_only,
            enabled=enabled,
        )
    plan = plan_of(rt, channel)
    if not plan.enabled:
        return _("This channel's daily digest is off. `/roost digest on` starts it again.")
    with rt.sessions() as session:
        latest = latest_digests(session, [channel]).get(channel)
    sent = _posted_today(plan, latest, now)
    return _("This channel's digest now runs {schedule}. The next one: {when} {zone}.").format(
        schedule=plan.describe(),
        when=i18n.day_and_clock(next_run(plan, now, sent_today=sent)),
        zone=plan.zone,
    )


def parse_schedule(args: list[str], weekdays_only: bool) -> tuple[int, bool, str | None]:
    """(minutes after midnight, weekdays only, zone or None) from `08:30 weekdays Asia/Seoul`."""
    at_minute = None
    zone = None
    for word in args:
        lowered = word.lower()
        if (clock := _TIME.fullmatch(lowered)) is not None:
            hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
            if hour > 23 or minute > 59:
                raise ValueError(
                    _("{word} is not a time of day: write it as 08:30.").format(word=escape(word))
                )
            at_minute = hour * 60 + minute
        elif lowered in ("weekdays", "평일"):
            weekdays_only = True
        elif lowered in ("daily", "everyday", "every-day"):
            weekdays_only = False
        elif _is_zone(word):
            zone = word
        elif "/" in word:
            raise ValueError(
                _("{word} is not a time zone I know: write one such as Asia/Seoul.").format(
                    word=escape(word)
                )
            )
        else:
            raise ValueError(
                _(
                    "I could not read `{word}`: give a time such as 08:30, `weekdays` or "
                    "`daily`, and a time zone such as Asia/Seoul."
                ).format(word=escape(word))
            )
    if at_minute is None:
        raise ValueError(_("Say when: {usage}").format(usage=_(USAGE)))
    return at_minute, weekdays_only, zone


def _is_zone(word: str) -> bool:
    if "/" not in word and word != "UTC":
        return False
    try:
        ZoneInfo(word)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, America/Indiana
        return False
    return True


def next_run(plan: Plan, now: datetime, *, sent_today: bool) -> datetime:
    """When the digest next goes out, local to its zone."""
    zone = ZoneInfo(plan.zone)
    day = now.astimezone(zone).date()
    for _day in range(8):
        at = datetime.combine(day, time(*divmod(plan.at_minute, 60)), zone)
        runs = not (plan.weekdays_only and day.weekday() >= 5)
        today = day == now.astimezone(zone).date()
        if runs and (not today or not sent_today):
            return max(at, now.astimezone(zone)) if today else at
        day += timedelta(days=1)
    raise AssertionError("a digest runs at least five days a week")  # not spoken: a bug


def _require_role(
    rt: Runtime, session: Session, who: Who, accounts: list[Account], *, manage: bool
) -> None:
    """A channel's digest shows every account whose cards go there: reading it takes a role
    on each of them, changing it takes being owner of each (or a Slack admin)."""
    if is_admin(rt, who.user_id):
        return
    held = roles_of(session, who.team_id, who.user_id)
    roles = [held.get(account.id) for account in accounts]
    if manage and all(role == "owner" for role in roles):
        return
    if not manage and all(roles):
        return
    handles = ", ".join(f"@{a.handle}" for a in accounts)
    if manage:
        raise Refused(
            _("Only owners of {accounts} and Slack admins change this channel's digest.").format(
                accounts=handles
            )
        )
    raise Refused(
        _("This channel's digest covers {accounts}; it takes a role on each of them.").format(
            accounts=handles
        )
    )
