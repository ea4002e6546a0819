"""Rows as the rest of Roost would have stored them, written straight to the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select

from bot.runtime import Runtime
from storage.db import insert_into
from storage.models import Account, Mention
from storage.team import member

_ids = count(10**15)


def fresh_id() -> int:
    """A tweet id (or any key) no other row in this process has."""
    return next(_ids)


def add_mentions(rt: Runtime, account: Account, *rows: dict[str, Any]) -> list[int]:
    """Mentions of `account` as intake and delivery would have stored them: each row gives
    `created` and, as wanted, status, assignee (a Slack user), answered/resolved delays,
    responder, resolver, sla_due, text; each is a card in the account's channel."""
    values = []
    created_at = rt.clock()
    with rt.sessions.begin() as session:
        members: dict[str, int] = {}

        def member_id(user: str | None) -> int | None:
            if user is None:
                return None
            if user not in members:
                members[user] = member(session, "T0ROOST", user, created_at).id
            return members[user]

        for row in rows:
            tweet_id = fresh_id()
            created: datetime = row["created"]
            answered = row.get("answered")
            resolved = row.get("resolved")
            values.append(
                {
                    "account_id": account.id,
                    "tweet_id": tweet_id,
                    "conversation_id": tweet_id,
                    "root_tweet_id": tweet_id,
                    "author_id": 42,
                    "author_username": row.get("author", "jane"),
                    "text": row.get("text", "@brand my phone will not turn on"),
                    "media": [],
                    "flags": [],
                    "created_at": created,
                    "received_at": created + timedelta(seconds=5),
                    "status": row.get("status", "assigned" if row.get("assignee") else "open"),
                    "assignee_id": member_id(row.get("assignee")),
                    "first_response_at": created + answered if answered is not None else None,
                    "first_responder_id": member_id(row.get("responder")),
                    "resolver_id": member_id(row.get("resolver")),
                    "resolved_at": created + resolved if resolved is not None else None,
                    "sla_due_at": row.get("sla_due"),
                    "slack_channel": account.channel_id,
                    "slack_ts": f"{int(created.timestamp())}.{tweet_id % 10**6:06d}",
                    "card_posted_at": created + timedelta(seconds=6),
                    "card_attempts": 1,
                    "author_verified": False,
                    "author_protected": False,
                }
            )
        session.execute(insert_into(session, Mention.__table__), values)
        found = session.scalars(
            select(Mention.id).where(Mention.tweet_id.in_([v["tweet_id"] for v in values]))
        )
        return list(found)
