"""The audit log as a CSV file: `/roost audit [@account] [days]`.

Connecting and disconnecting accounts, grants and revocations, setting
changes and everything sent as an account are events (storage/events.py).
An account's owners may export its events; workspace admins and the
bootstrap admins (ROOST_ADMINS) any account's, or every account's at once.
The file goes to the person's DM, never to a channel, and the export is
itself an event.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import N_, _, ngettext
from bot.runtime import Runtime
from bot.slack.client import dm_channel
from bot.slack.mrkdwn import escape
from bot.team.people import is_admin
from storage.accounts import account_by_handle
from storage.events import record_event
from storage.models import Account, Event, Grant, Member, Mention
from storage.team import owners_of

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 30
"""How far back `/roost audit` looks when no number of days is given."""

MAX_DAYS = 366
"""The longest export: a year, leap day included."""

USAGE = N_("`/roost audit [@account] [days]`, days 1–{max_days}")
"""Shown as `_(USAGE).format(max_days=MAX_DAYS)`."""

COLUMNS = (N_("at"), N_("kind"), N_("actor"), N_("account"), N_("mention"), N_("detail"))
"""The CSV's header, in the reader's language; `actor` is a Slack user id, empty when Roost
itself acted. The values under it are data, as stored."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list)."""

CREDENTIAL_KEYS = frozenset(
    {
        "credentials",
        "access_token",
        "refresh_token",
        "consumer_key",
        "consumer_secret",
        "access_token_secret",
        "token",
        "secret",
    }
)
"""Detail keys whose values never leave in an export, should an event ever hold one."""

REDACTED = "[redacted]"

_DAYS = re.compile(r"(\d+)(?:d|days?)?", re.IGNORECASE)
_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_DAYS_WORDS = frozenset({"d", "day", "days"})


def parse_audit_args(text: str) -> tuple[str | None, int]:
    """The account handle (without @, or None for every account) and the days to cover.

    Reads what follows `/roost audit`: "", "@brand", "7", "@brand 90", "brand 7d".
    Anything else raises ValueError with the usage.
    """
    handle: str | None = None
    days: int | None = None
    after_days = False
    for word in text.split():
        days_match = _DAYS.fullmatch(word)
        handle_match = None if days_match else _HANDLE.fullmatch(word)
        if days_match and days is None:
            digits = days_match[1]
            days = int(digits) if len(digits) <= len(str(MAX_DAYS)) else MAX_DAYS + 1
        elif after_days and word.lower() in _DAYS_WORDS:
            pass  # "7 days"
        elif handle_match and handle is None:
            handle = handle_match[1]
        else:
            raise ValueError(
                _("Usage: {usage}; for example `/roost audit @brand 90`.").format(usage=_usage())
            )
        after_days = days_match is not None
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(
            _("Days must be 1–{max_days}. Usage: {usage}.").format(
                max_days=MAX_DAYS, usage=_usage()
            )
        )
    return handle, days


def _usage() -> str:
    return _(USAGE).format(max_days=MAX_DAYS)


def audit_csv(session: Session, *, account_id: int | None, since: datetime) -> bytes:
    """Events at or after `since` (of one account, or all), oldest first, as CSV bytes.

    UTF-8 with a byte-order mark, so that spreadsheets show Korean as written.
    """
    return _encode(_rows(session, account_id=account_id, since=since))


def _rows(session: Session, *, account_id: int | None, since: datetime) -> list[list[str]]:
    query = (
        select(Event.at, Event.kind, Event.actor, Account.handle, Mention.tweet_id, Event.detail)
        .outerjoin(Account, Account.id == Event.account_id)
        .outerjoin(Mention, Mention.id == Event.mention_id)
        .where(Event.at >= since)
        .order_by(Event.at, Event.id)
    )
    if account_id is not None:
        query = query.where(Event.account_id == account_id)
    return [
        [
            _cell(value)
            for value in (
                at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                kind,
                actor or "",
                handle or "",
                "" if tweet_id is None else str(tweet_id),
                json.dumps(
                    _without_credentials(detail or {}),
                    ensure_ascii=False,
                    separators=(",", ":"),
                    sort_keys=True,
                    default=str,
                ),
            )
        ]
        for at, kind, actor, handle, tweet_id, detail in session.execute(query)
    ]


def _cell(value: str) -> str:
    """Defuse a cell a spreadsheet would run: tweets and settings are people's text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _without_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in CREDENTIAL_KEYS else _without_credentials(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_credentials(item) for item in value]
    return value


def _encode(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_(column) for column in COLUMNS])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def send_audit(rt: Runtime, *, team_id: str, user_id: str, text: str) -> str:
    """`/roost audit [@account] [days]`: the CSV to the person's DM, if they may have it.

    Returns what to answer them: where the file went, or why it did not.
    """
    try:
        handle, days = parse_audit_args(text)
    except ValueError as exc:
        return str(exc)
    with rt.sessions() as session:
        account = account_by_handle(session, handle) if handle else None
        if handle and account is None:
            return _(
                "There is no account @{handle} in Roost: `/roost accounts` lists them."
            ).format(handle=escape(handle))
        refusal = _refusal(rt, session, team_id, user_id, account)
    if refusal:
        return refusal

    since = rt.clock() - timedelta(days=days)
    account_id = account.id if account else None
    with rt.sessions() as session:
        rows = _rows(session, account_id=account_id, since=since)
    handle = account.handle if account else None
    # "The last day" is not a count of one: a language with one form for counts still
    # says it as its own phrase.
    span = _("the last day") if days == 1 else _("the last {days} days").format(days=days)
    if not rows:
        if handle is None:
            return _("No events for all accounts in {span}.").format(span=span)
        return _("No events for @{handle} in {span}.").format(handle=handle, span=span)
    events = ngettext("{n} event", "{n} events", len(rows)).format(n=len(rows))
    since_utc = f"{since:%Y-%m-%d %H:%M}"
    if handle is None:
        comment = _(
            "The audit of all accounts for {span} ({events}, since {since} UTC), oldest first."
        ).format(span=span, events=events, since=since_utc)
    else:
        comment = _(
            "The audit of @{handle} for {span} ({events}, since {since} UTC), oldest first."
        ).format(handle=handle, span=span, events=events, since=since_utc)
    try:
        channel = dm_channel(rt.slack, user_id)
        rt.slack.files_upload_v2(
            channel=channel,
            filename=f"roost-audit-{account.handle if account else 'all'}-{days}d.csv",
            content=_encode(rows),
            initial_comment=comment,
        )
    except (SlackClientError, OSError) as exc:
        logger.warning("audit for %s not sent: %s", user_id, exc)
        return _("Could not send the audit to your DM: {problem}. Try again shortly.").format(
            problem=_slack_problem(exc)
        )
    with rt.sessions.begin() as session:
        record_event(
            session,
            "audit.exported",
            rt.clock(),
            actor=user_id,
            account_id=account_id,
            days=days,
            events=len(rows),
        )
    if handle is None:
        return _(
            "Sent you the audit of all accounts for {span} ({events}) as a CSV in your DM."
        ).format(span=span, events=events)
    return _("Sent you the audit of @{handle} for {span} ({events}) as a CSV in your DM.").format(
        handle=handle, span=span, events=events
    )


def _refusal(
    rt: Runtime, session: Session, team_id: str, user_id: str, account: Account | None
) -> str | None:
    """Why this person may not export this account's audit (None: every account's), or None."""
    owned = _owned(session, team_id, user_id)
    if (account is not None and account.id in owned) or is_admin(rt, user_id):
        return None
    if account is not None:
        owners = owners_of(session, account.id)
        if owners:
            return _(
                "Only owners of @{handle} and workspace admins may export its audit. Ask {owners}."
            ).format(handle=account.handle, owners=", ".join(f"<@{owner}>" for owner in owners))
        return _(
            "Only owners of @{handle} and workspace admins may export its audit. It has no "
            "owner yet; ask a workspace admin."
        ).format(handle=account.handle)
    commands = (f"`/roost audit @{handle}`" for handle in owned.values())  # not spoken
    mine = ", ".join(commands)
    if mine:
        return _(
            "Only workspace admins may export the audit of every account. As an owner, ask "
            "for one account: {commands}."
        ).format(commands=mine)
    return _("Only workspace admins may export the audit of every account.")


def _owned(session: Session, team_id: str, user_id: str) -> dict[int, str]:
    """The accounts this person owns: id to handle."""
    found = session.execute(
        select(Account.id, Account.handle)
        .join(Grant, Grant.account_id == Account.id)
        .join(Member, Member.id == Grant.member_id)
        .where(Member.team_id == team_id, Member.user_id == user_id, Grant.role == "owner")
        .order_by(Account.handle)
    )
    return {account_id: handle for account_id, handle in found}


def _slack_problem(exc: SlackClientError | OSError) -> str:
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error")
        if error is None:
            return _("Slack answered with an error")
        return _("Slack answered {error}").format(error=error)
    return _("Slack could not take it ({problem})").format(problem=exc)
