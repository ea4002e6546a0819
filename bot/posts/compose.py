"""Composing posts for one or several accounts, now or at a time: checked per account,
stored as one outbound row per account (and thread part), sent by the same machinery
as replies — once, with no blind retry, a 429 waiting for X's reset.

Scheduling is the database's: each row carries its run_at, an RQ job is queued for
that moment, and the sweep sends any row that is due and pending (Redis flushed,
workers down) — late, and saying how late.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy import select

from bot.errors import Refused
from bot.i18n import _
from bot.networks import links
from bot.networks.rules import Rules, rules_for
from bot.outbound.guards import Own, check_public
from bot.outbound.media import VIDEO_TYPES, check_files, human_size
from bot.outbound.sending import enqueue_send
from bot.posts.when import WhenError, check_run_at, local_to_utc
from bot.runtime import Runtime
from bot.team.people import Who, time_zone
from bot.x.text import Measured, measure, split_thread
from storage import outbound as rows
from storage.events import record_event
from storage.models import Account, Grant, Member, Post
from storage.posts import Started, create_post, rows_of, scheduled, withdraw
from storage.team import member, role_on

logger = logging.getLogger(__name__)

POSTING_ROLES = frozenset({"owner", "agent"})
"""Roles that post as an account on their own (needs-approval acts on mentions only)."""


@dataclass(frozen=True, slots=True)
class Compose:
    """What the post modal asked for."""

    text: str
    account_ids: list[int]
    run_at: datetime | None  # None: now
    media: list[dict[str, Any]] = field(default_factory=list)
    as_thread: bool = False
    when_note: str | None = None  # e.g. an ambiguous local time


@dataclass(frozen=True, slots=True)
class AccountPreview:
    account_id: int
    handle: str
    parts: list[str]  # the exact texts, CoTag included
    lengths: list[Measured]
    problems: list[str]  # about the text, as this account would post it
    allowed: bool = True  # may the person post as it
    network: str = "x"

    @property
    def refusal(self) -> str | None:
        if self.allowed:
            return None
        return _("You may not post as @{handle}: ask one of its owners.").format(handle=self.handle)

    @property
    def everything(self) -> list[str]:
        return ([self.refusal] if self.refusal else []) + self.problems

    @property
    def ok(self) -> bool:
        return self.allowed and not self.problems


@dataclass(frozen=True, slots=True)
class Preview:
    accounts: list[AccountPreview]
    problems: dict[str, list[str]]  # the whole post's, by the modal field they are about
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(a.ok for a in self.accounts)


DRAFT_SECONDS = 3600
"""How long a previewed post waits for Publish (kept in Redis, not in the modal)."""


def compose_from(rt: Runtime, who: Who, form: dict[str, Any]) -> Compose:
    """What the modal asked for, its local date and time made UTC in the person's zone;
    WhenError if the time cannot be used."""
    run_at: datetime | None = None
    note = None
    if form["later"]:
        if not form["day"] or not form["at"]:
            raise WhenError(_("Pick a date and a time, or choose Now."))
        zone = time_zone(rt, who.user_id)
        if zone is None:
            raise WhenError(_("Slack did not say what your time zone is; try again in a moment."))
        run_at, note = local_to_utc(form["day"], form["at"], zone)
    return Compose(
        text=form["text"],
        account_ids=form["account_ids"],
        run_at=run_at,
        media=form["media"],
        as_thread=form["as_thread"],
        when_note=note,
    )


def save_draft(rt: Runtime, nonce: str, form: dict[str, Any]) -> None:
    rt.redis.set(_draft_key(nonce), json.dumps(form), ex=DRAFT_SECONDS)


def load_draft(rt: Runtime, nonce: str) -> dict[str, Any]:
    saved = rt.redis.get(_draft_key(nonce))
    if saved is None:
        raise Refused(_("This preview has expired: close it and compose again."))
    found: dict[str, Any] = json.loads(saved)
    return found


def _draft_key(nonce: str) -> str:
    return f"roost:post-draft:{nonce}"


def local_time_of(rt: Runtime, who: Who, post: Post) -> tuple[str | None, str | None]:
    """The post's time as the date and time pickers show it to this person."""
    if post.run_at is None:
        return None, None
    local = post.run_at.astimezone(ZoneInfo(time_zone(rt, who.user_id) or "UTC"))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def postable_accounts(rt: Runtime, who: Who) -> list[tuple[int, str]]:
    """(id, handle) of the accounts the person may post as; when they are on more than one
    network, each says its own ("acme.bsky.social · Bluesky", "acme · X")."""
    with rt.sessions() as session:
        found = session.execute(
            select(Account.id, Account.handle, Account.network)
            .join(Grant, Grant.account_id == Account.id)
            .join(Member, Member.id == Grant.member_id)
            .where(
                Member.team_id == who.team_id,
                Member.user_id == who.user_id,
                Grant.role.in_(POSTING_ROLES),
            )
            .order_by(Account.handle)
        )
        accounts = [(account_id, handle, network) for account_id, handle, network in found]
    several = len({network for _id, _handle, network in accounts}) > 1
    return [
        (account_id, f"{handle} · {links.label(network)}" if several else handle)
        for account_id, handle, network in accounts
    ]


def preview(rt: Runtime, who: Who, compose: Compose) -> Preview:
    """The post as each account would send it, and everything that stands in its way."""
    problems: dict[str, list[str]] = {"media": check_files(compose.media), "time": []}
    problems["accounts"] = []
    notes = [compose.when_note] if compose.when_note else []
    if compose.run_at is not None:
        try:
            check_run_at(compose.run_at, rt.clock(), rt.settings.roost_max_schedule_days)
        except WhenError as exc:
            problems["time"].append(str(exc))
    if not compose.account_ids:
        problems["accounts"].append(_("Pick at least one account to post as."))
    allowed = dict(postable_accounts(rt, who))
    with rt.sessions() as session:
        cotag = session.scalar(
            select(Member.cotag).where(Member.team_id == who.team_id, Member.user_id == who.user_id)
        )
        accounts = []
        for account_id in compose.account_ids:
            account = session.get(Account, account_id)
            if account is None:
                problems["accounts"].append(_("One of the accounts is no longer in Roost."))
                continue
            accounts.append(
                _for_account(account, compose, cotag, account_id in allowed, rt.settings.self_serve)
            )
    return Preview(accounts, {k: v for k, v in problems.items() if v}, notes)


def _for_account(
    account: Account, compose: Compose, cotag: str | None, allowed: bool, self_serve: bool
) -> AccountPreview:
    problems: list[str] = []
    signs = cotag if account.cotags_enabled else None
    if account.cotags_enabled and cotag is None:
        problems.append(
            _("@{handle} signs posts with a CoTag and you have none: `/roost cotag ^AB`.").format(
                handle=account.handle
            )
        )
    rules = rules_for(account.network, account.post_limit)
    self_serve = self_serve and rules.self_serve_rules
    own = Own.of(account.phone_region, account.own_data)
    found = check_public(compose.text, banned=account.banned_words, self_serve=self_serve, own=own)
    problems.extend(f.message for f in found)
    problems.extend(media_problems(account.network, rules, compose.media))
    single = measure(compose.text, signs, limit=rules.limit, count=rules.count)
    if single.fits or not compose.as_thread:
        parts = [single.text] if compose.text.strip() else []
        lengths = [single]
        if not single.fits:
            problems.append(
                _(
                    "Too long for @{handle}: {length}/{limit}. Shorten it, or tick “Post as a "
                    "numbered thread”."
                ).format(handle=account.handle, length=single.length, limit=single.limit)
            )
    else:
        parts = split_thread(compose.text, signs, rules.limit, rules.count)
        # Media go with the first part.
        lengths = [measure(part, None, limit=rules.limit, count=rules.count) for part in parts]
    return AccountPreview(
        account.id, account.handle, parts, lengths, problems, allowed, account.network
    )


def media_problems(network: str, rules: Rules, files: list[dict[str, Any]]) -> list[str]:
    """What stops these files going on a post to `network` beyond X's own checks (which
    every post's files pass first): Bluesky takes images only, each up to 1 MB."""
    problems = []
    label = links.label(network)
    for file in files:
        name = str(file.get("name") or file.get("title") or _("a file"))
        mime = str(file.get("mimetype") or "")
        size = int(file.get("size") or 0)
        if not rules.video and (mime in VIDEO_TYPES or mime == "image/gif"):
            problems.append(
                _("{name}: {network} takes images only; post it to X alone.").format(
                    name=name, network=label
                )
            )
        elif rules.image_bytes is not None and size > rules.image_bytes:
            problems.append(
                _("{name} is {size}; {network} takes an image of up to {limit}.").format(
                    name=name,
                    size=human_size(size),
                    network=label,
                    limit=human_size(rules.image_bytes),
                )
            )
    return problems


def submit(rt: Runtime, who: Who, compose: Compose, key: str) -> int | None:
    """Check again and store the post and its rows; queue each account's first part at
    its time. The post's id, or None if this modal's post was stored already."""
    checked = preview(rt, who, compose)
    if not checked.ok:
        raise Refused(" ".join(_all_problems(checked)))
    now = rt.clock()
    with rt.sessions.begin() as session:
        author = member(session, who.team_id, who.user_id, now)
        post_id = create_post(
            session,
            key=key,
            team_id=who.team_id,
            author_id=author.id,
            text=compose.text,
            media=compose.media,
            run_at=compose.run_at,
            as_thread=compose.as_thread,
            created_at=now,
            updated_at=now,
        )
        if post_id is None:
            return None
        firsts = _write_rows(session, post_id, author, checked, compose.run_at, now, version=0)
        record_event(
            session,
            "post.scheduled" if compose.run_at else "post.created",
            now,
            actor=who.user_id,
            post_id=post_id,
            accounts=[a.handle for a in checked.accounts],
            run_at=compose.run_at.isoformat() if compose.run_at else None,
        )
    _queue(rt, firsts, compose.run_at)
    return post_id


def _write_rows(
    session: Any,
    post_id: int,
    author: Member,
    checked: Preview,
    run_at: datetime | None,
    now: datetime,
    *,
    version: int,
) -> list[int]:
    firsts = []
    for account in checked.accounts:
        for part, text in enumerate(account.parts):
            outbound_id = rows.create(
                session,
                idempotency_key=f"post:{post_id}:{version}:{account.account_id}:{part}",
                kind="post",
                account_id=account.account_id,
                actor_id=author.id,
                text=text,
                cotag=author.cotag,
                status="pending",
                attempts=0,
                run_at=run_at or now,
                created_at=now,
                post_id=post_id,
                part=part,
            )
            if part == 0 and outbound_id is not None:
                firsts.append(outbound_id)
    return firsts


def _queue(rt: Runtime, outbound_ids: list[int], run_at: datetime | None) -> None:
    try:
        for outbound_id in outbound_ids:
            enqueue_send(rt.team_queue, outbound_id, at=run_at)
    except RedisError as exc:
        # Stored is safe: the sweep sends pending rows that are due.
        logger.error("post rows not queued (%s); the sweep will send them", exc)


def cancel(rt: Runtime, who: Who, post_id: int) -> str:
    """Withdraw a scheduled post, unless sending has begun for any of its accounts."""
    now = rt.clock()
    try:
        with rt.sessions.begin() as session:
            post = _own_post(session, who, post_id)
            withdraw(session, post_id)
            post.cancelled_at = now
            record_event(session, "post.cancelled", now, actor=who.user_id, post_id=post_id)
    except Started:
        raise Refused(
            _(
                "This post is already being sent (or was sent) for at least one account, so it "
                "can no longer be cancelled; the account's channel shows how it went."
            )
        ) from None
    return _("Cancelled: nothing of it will be posted.")


def edit(rt: Runtime, who: Who, post_id: int, compose: Compose) -> str:
    """Replace a scheduled post's text, time or media, checked again; until sending begins."""
    checked = preview(rt, who, compose)
    if not checked.ok:
        raise Refused(" ".join(_all_problems(checked)))
    now = rt.clock()
    try:
        with rt.sessions.begin() as session:
            post = _own_post(session, who, post_id)
            withdraw(session, post_id)
            # Keys stay unique across versions: count every row ever made for the post.
            version = len(rows_of(session, post_id, with_cancelled=True))
            author = session.get_one(Member, post.author_id)
            firsts = _write_rows(
                session, post_id, author, checked, compose.run_at, now, version=version
            )
            post.text, post.run_at = compose.text, compose.run_at
            post.media = compose.media or post.media  # Slack cannot show attached files again
            post.as_thread, post.updated_at = compose.as_thread, now
            record_event(session, "post.edited", now, actor=who.user_id, post_id=post_id)
    except Started:
        raise Refused(
            _(
                "This post is already being sent for at least one account, so it can no longer "
                "be edited."
            )
        ) from None
    _queue(rt, firsts, compose.run_at)
    return _("Saved: the post goes out as edited.")


def _all_problems(checked: Preview) -> list[str]:
    return [p for found in checked.problems.values() for p in found] + [
        p for a in checked.accounts for p in a.everything
    ]


def own_post(rt: Runtime, who: Who, post_id: int) -> Post:
    """The person's own post, still scheduled; Refused otherwise."""
    with rt.sessions() as session:
        return _own_post(session, who, post_id)


def accounts_of(rt: Runtime, post_id: int) -> list[int]:
    with rt.sessions() as session:
        return sorted({r.account_id for r in rows_of(session, post_id) if r.status == "pending"})


def _own_post(session: Any, who: Who, post_id: int) -> Post:
    """The post, if the person may change it: its author, or an owner of every account it
    goes to (an owner can stop what a former agent scheduled)."""
    post = session.get(Post, post_id)
    if post is None or post.cancelled_at is not None:
        raise Refused(_("This post is no longer scheduled."))
    author = session.get(Member, post.author_id)
    if author is not None and author.user_id == who.user_id:
        return post
    someone = session.scalar(
        select(Member).where(Member.team_id == who.team_id, Member.user_id == who.user_id)
    )
    accounts = {r.account_id for r in rows_of(session, post_id)}
    if (
        someone is not None
        and accounts
        and all(role_on(session, someone.id, account_id) == "owner" for account_id in accounts)
    ):
        return post
    raise Refused(
        _("Only <@{user}>, who wrote it, or an owner of its accounts changes it.").format(
            user=author.user_id if author else "?"
        )
    )


def queue_of(rt: Runtime, who: Who, *, mine_only: bool) -> list[tuple[Post, list[str]]]:
    """Scheduled posts the person may see: their own, or (not mine_only) every post going
    to an account they hold a role on."""
    with rt.sessions() as session:
        someone = session.scalar(
            select(Member).where(Member.team_id == who.team_id, Member.user_id == who.user_id)
        )
        if someone is None:
            return []
        found = scheduled(session, who.team_id, rt.clock(), someone.id if mine_only else None)
        if mine_only:
            return found
        mine = set(
            session.scalars(
                select(Account.handle)
                .join(Grant, Grant.account_id == Account.id)
                .where(Grant.member_id == someone.id)
            )
        )
        return [(post, handles) for post, handles in found if set(handles) <= mine]
