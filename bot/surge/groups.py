"""A surge's mentions put in groups as they come, kept in the database (each mention's
group, each group's count, label and samples), with the grouper's state in Redis between
runs, rebuilt from the database when Redis lost it. Run by the worker's sweep for each
open surge: one run at a time per surge, under a lease.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.i18n import N_, _
from bot.lease import Lease
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from bot.surge.grouping import Grouper
from bot.surge.updates import first_update_at
from bot.team.admin import require_manager_of
from bot.team.people import Who, visible_accounts
from storage.models import Account, GroupName, Mention, Surge, SurgeGroup

logger = logging.getLogger(__name__)

BATCH = 2_000
"""Mentions grouped in one transaction."""

SAMPLES = 3
"""Mentions a group keeps to show what it is about."""

STATE_SECONDS = 2 * 24 * 3600
"""How long a surge's grouper state stays in Redis after its last use."""


def state_key(surge_id: int) -> str:
    return f"roost:surge:{surge_id}:grouper"


def group_surges(rt: Runtime) -> int:
    """Group what each open surge's accounts received since the last run; how many."""
    with rt.sessions() as session:
        surges = list(session.scalars(select(Surge).where(Surge.ended_at.is_(None))))
    return sum(group_surge(rt, surge) for surge in surges)


def group_surge(rt: Runtime, surge: Surge) -> int:
    """Group the surge's mentions not grouped yet (from the window that showed it on);
    how many. Another run at it already: nothing, this time."""
    lease = Lease(rt.redis, f"surge-groups:{surge.id}", seconds=60)
    if not lease.acquire():
        return 0
    try:
        grouper = _load(rt, surge)
        since = surge.started_at - timedelta(seconds=rt.settings.roost_surge_window_seconds)
        grouped = 0
        while True:
            with rt.sessions.begin() as session:
                arrivals = list(
                    session.execute(
                        select(Mention.id, Mention.text, Mention.received_at)
                        .where(
                            Mention.account_id == surge.account_id,
                            # Those that came in the surge, and any held for it (one
                            # stored earlier and delivered late, behind a backlog).
                            (Mention.received_at >= since) | Mention.surge_held_at.is_not(None),
                            Mention.surge_group_id.is_(None),
                            Mention.watch_id.is_(None),  # not addressed to the account
                        )
                        .order_by(Mention.id)
                        .limit(BATCH)
                    )
                )
                if not arrivals:
                    break
                _assign(session, grouper, surge, [(a.id, a.text, a.received_at) for a in arrivals])
                grouped += len(arrivals)
            _save(rt, surge, grouper)
            lease.renew()
        return grouped
    finally:
        lease.release()


def _assign(
    session: Session,
    grouper: Grouper,
    surge: Surge,
    arrivals: Sequence[tuple[int, str, datetime]],
) -> None:
    """Group each arrival (id, text, when stored); count, label and sample each group it
    went to, and note its group on each mention."""
    rows = {
        row.key: row
        for row in session.scalars(select(SurgeGroup).where(SurgeGroup.surge_id == surge.id))
    }
    members: dict[int, list[int]] = {}
    for mention_id, text, received_at in arrivals:
        group = grouper.assign(text)
        row = rows.get(group.key)
        if row is None:
            row = rows[group.key] = SurgeGroup(
                surge_id=surge.id,
                key=group.key,
                name=group.name,
                size=0,
                first_at=received_at,
                last_at=received_at,
                samples=[],
                label=[],
            )
            session.add(row)
        row.size = group.size
        row.first_at = min(row.first_at, received_at)
        row.last_at = max(row.last_at, received_at)
        if len(row.samples) < SAMPLES:
            row.samples = [*row.samples, mention_id]
        members.setdefault(group.key, []).append(mention_id)
    session.flush()
    for key, ids in members.items():
        row = rows[key]
        group = next(g for g in grouper.groups if g.key == key)
        row.label = grouper.label(group)
        session.execute(
            update(Mention).where(Mention.id.in_(ids)).values(surge_group_id=row.id),
            execution_options={"synchronize_session": False},
        )


def _load(rt: Runtime, surge: Surge) -> Grouper:
    """The surge's grouper as the last run left it; rebuilt from the database if Redis
    does not hold it; with the account's named groups as they are now."""
    raw = rt.redis.get(state_key(surge.id))
    with rt.sessions() as session:
        names = list(
            session.scalars(
                select(GroupName)
                .where(GroupName.account_id == surge.account_id)
                .order_by(GroupName.id)
            )
        )
        grouper = Grouper.from_json(raw) if raw is not None else None
        if grouper is None or grouper.seen != _grouped(session, surge.id):
            # Lost, or behind what the database holds (a run died between the two): the
            # database is the record.
            grouper = _rebuild(session, surge, names)
    for named in names:
        grouper.name(named.name, named.keywords)
    current = {named.name for named in names}
    for group in grouper.groups:
        if group.name is not None and group.name not in current:
            group.keywords = ()  # its name was dropped: it groups by likeness now
    return grouper


def _grouped(session: Session, surge_id: int) -> int:
    """How many mentions the database has in the surge's groups."""
    return int(
        session.scalar(
            select(func.count(Mention.id))
            .join(SurgeGroup, Mention.surge_group_id == SurgeGroup.id)
            .where(SurgeGroup.surge_id == surge_id)
        )
        or 0
    )


def _rebuild(session: Session, surge: Surge, names: list[GroupName]) -> Grouper:
    started = time.perf_counter()
    grouper = Grouper(named=[])
    rows = session.scalars(select(SurgeGroup).where(SurgeGroup.surge_id == surge.id))
    for row in sorted(rows, key=lambda r: r.key):
        if row.name is not None:
            keywords = next((n.keywords for n in names if n.name == row.name), [])
            grouper.name(row.name, keywords, key=row.key)
    grouped = session.execute(
        select(Mention.text, SurgeGroup.key)
        .join(SurgeGroup, Mention.surge_group_id == SurgeGroup.id)
        .where(SurgeGroup.surge_id == surge.id)
        .order_by(Mention.id)
    )
    count = 0
    for text, key in grouped:
        grouper.add_known(text, key)
        count += 1
    logger.info(
        "surge %s: grouping rebuilt from %d mentions in %.2f s",
        surge.id,
        count,
        time.perf_counter() - started,
    )
    return grouper


def _save(rt: Runtime, surge: Surge, grouper: Grouper) -> None:
    rt.redis.set(state_key(surge.id), grouper.to_json(), ex=STATE_SECONDS)


GROUP_USAGE = N_(
    'Use `/roost group @brand 배송|delivery "Delivery delays"` to name a group by its '
    'words, `/roost group @brand` to list them, `/roost group @brand off "Delivery delays"` '
    "to drop one."
)

NAME_LIMIT = 80
KEYWORDS_LIMIT = 20


def group_command(rt: Runtime, who: Who, text: str) -> tuple[str, list[dict[str, Any]] | None]:
    """`/roost group @account [words "Name" | off "Name"]`: the groups a team named for an
    account, by the words that send a surge's mentions to them. Naming and dropping take
    an owner of the account or an admin; anyone with a role may list them."""
    try:
        words = shlex.split(text)
    except ValueError:
        raise ValueError(_("A quote is not closed. {usage}").format(usage=_(GROUP_USAGE))) from None
    if not words:
        raise ValueError(_(GROUP_USAGE))
    now = rt.clock()
    with rt.sessions() as session:
        (account,) = visible_accounts(rt, session, who, words[0].lstrip("@"))
    if len(words) == 1:
        with rt.sessions() as session:
            names = list(
                session.scalars(
                    select(GroupName)
                    .where(GroupName.account_id == account.id)
                    .order_by(GroupName.id)
                )
            )
        if not names:
            return _("*@{handle}* has no named groups. {usage}").format(
                handle=account.handle, usage=_(GROUP_USAGE)
            ), None
        listed = "\n".join(f"• *{escape(n.name)}*: {escape(' | '.join(n.keywords))}" for n in names)
        return _("Named groups of *@{handle}*:").format(handle=account.handle) + "\n" + listed, None
    require_manager_of(rt, who, account.id)
    if words[1].lower() == "off" and len(words) == 3:
        with rt.sessions.begin() as session:
            dropped = session.execute(
                delete(GroupName).where(
                    GroupName.account_id == account.id, GroupName.name == words[2]
                ),
                execution_options={"synchronize_session": False},
            )
        if not dropped.rowcount:  # type: ignore[attr-defined]
            return _("*@{handle}* has no group named “{name}”.").format(
                handle=account.handle, name=escape(words[2])
            ), None
        return _("Dropped the group “{name}” of *@{handle}*.").format(
            name=escape(words[2]), handle=account.handle
        ), None
    if len(words) != 3:
        raise ValueError(_(GROUP_USAGE))
    keywords = [word.strip() for word in words[1].split("|") if word.strip()]
    name = words[2].strip()
    if not name or len(name) > NAME_LIMIT:
        raise ValueError(
            _("A group's name is 1 to {limit} characters. {usage}").format(
                limit=NAME_LIMIT, usage=_(GROUP_USAGE)
            )
        )
    if not keywords or len(keywords) > KEYWORDS_LIMIT or any(len(k) > 40 for k in keywords):
        raise ValueError(
            _("Give 1 to {limit} words of at most 40 characters, between |. {usage}").format(
                limit=KEYWORDS_LIMIT, usage=_(GROUP_USAGE)
            )
        )
    with rt.sessions.begin() as session:
        named = session.scalar(
            select(GroupName).where(GroupName.account_id == account.id, GroupName.name == name)
        )
        if named is None:
            session.add(
                GroupName(
                    account_id=account.id,
                    name=name,
                    keywords=keywords,
                    created_by=who.user_id,
                    created_at=now,
                )
            )
        else:
            named.keywords = keywords
    shown = escape(" | ".join(keywords))
    return (
        _(
            "In a surge on *@{handle}*, mentions with {words} go to “{name}” first, from the "
            "next mention grouped."
        ).format(handle=account.handle, words=shown, name=escape(name)),
        None,
    )


@dataclass(frozen=True)
class GroupSummary:
    """A surge's group as people read it."""

    name: str  # the team's name, or its top words
    size: int
    answered: int
    first_at: datetime
    last_at: datetime
    samples: list[str]


def summaries(session: Session, surge_id: int, top: int = 5) -> list[GroupSummary]:
    """The surge's largest groups, largest first, with how many of each were answered."""
    rows = list(
        session.scalars(
            select(SurgeGroup)
            .where(SurgeGroup.surge_id == surge_id)
            .order_by(SurgeGroup.size.desc(), SurgeGroup.key)
            .limit(top)
        )
    )
    answered = dict(
        session.execute(
            select(Mention.surge_group_id, func.count(Mention.id))
            .where(
                Mention.surge_group_id.in_([r.id for r in rows]),
                Mention.first_response_at.is_not(None),
            )
            .group_by(Mention.surge_group_id)
        ).all()
    )
    texts = dict(
        session.execute(
            select(Mention.id, Mention.text).where(
                Mention.id.in_([m for r in rows for m in r.samples])
            )
        ).all()
    )
    return [
        GroupSummary(
            name=r.name or ", ".join(r.label) or _("(no words in common)"),
            size=r.size,
            answered=int(answered.get(r.id, 0)),
            first_at=r.first_at,
            last_at=r.last_at,
            samples=[texts[m] for m in r.samples if m in texts],
        )
        for r in rows
    ]


def summary_lines(found: list[GroupSummary]) -> str:
    """ "• *Delivery delays*: 120 (3 answered), the last at 14:32"; one a line."""
    return "\n".join(
        "• "
        + _("*{name}*: {size:,} ({answered:,} answered), the last at {time}").format(
            name=escape(g.name),
            size=g.size,
            answered=g.answered,
            time=f"<!date^{int(g.last_at.timestamp())}^{{time}}|{g.last_at:%H:%M} UTC>",
        )
        for g in found
    )


def surge_lines(
    session: Session, account_ids: list[int], since: datetime, now: datetime
) -> list[str]:
    """What the digest says of the surges of these accounts since `since`: when, how many,
    what about, how many answered and the longest wait for a first reply. Already mrkdwn:
    names a team typed are escaped here."""
    surges = session.scalars(
        select(Surge)
        .where(
            Surge.account_id.in_(account_ids),
            (Surge.ended_at.is_(None)) | (Surge.ended_at >= since),
        )
        .order_by(Surge.started_at)
    )
    lines = []
    for surge in surges:
        handle = session.get_one(Account, surge.account_id).handle
        until = surge.ended_at or now
        counts = session.execute(
            select(
                func.count(Mention.id),
                func.count(Mention.first_response_at),
            )
            .join(SurgeGroup, Mention.surge_group_id == SurgeGroup.id)
            .where(SurgeGroup.surge_id == surge.id)
        ).one()
        waits = [
            (answered or now) - received
            for received, answered in session.execute(
                select(Mention.received_at, Mention.first_response_at)
                .join(SurgeGroup, Mention.surge_group_id == SurgeGroup.id)
                .where(SurgeGroup.surge_id == surge.id)
            )
        ]
        when = (
            f"<!date^{int(surge.started_at.timestamp())}^{{date_short}} {{time}}|"
            f"{surge.started_at:%d %b %H:%M} UTC>"
        )
        if surge.ended_at is None:
            line = _(
                ":rotating_light: *@{handle}* had a surge from {when}, still on: "
                "{grouped:,} mentions grouped, {answered:,} answered"
            ).format(handle=handle, when=when, grouped=counts[0], answered=counts[1])
        else:
            line = _(
                ":rotating_light: *@{handle}* had a surge from {when}, for {took}: "
                "{grouped:,} mentions grouped, {answered:,} answered"
            ).format(
                handle=handle,
                when=when,
                took=lasting(until - surge.started_at),
                grouped=counts[0],
                answered=counts[1],
            )
        if waits:
            line += ", " + _("the longest wait for a first reply {took}").format(
                took=lasting(max(waits))
            )
        line += ", " + first_update(session, surge)
        groups = summaries(session, surge.id, top=3)
        if groups:
            line += ". " + " · ".join(
                _("{name} {size:,} ({answered:,} answered)").format(
                    name=escape(g.name), size=g.size, answered=g.answered
                )
                for g in groups
            )
        lines.append(line + ".")
    return lines


def first_update(session: Session, surge: Surge) -> str:
    """How soon the surge's first status update came: "the first status update 12 min
    in", or that none came."""
    first = first_update_at(session, surge.id)
    if first is None:
        return _("no status update")
    return _("the first status update {took} in").format(took=lasting(first - surge.started_at))


def lasting(span: timedelta) -> str:
    """A span as people say it: "45 min", "1 h 18 min"."""
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return _("{minutes} min").format(minutes=minutes)
