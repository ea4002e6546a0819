"""Roost's own messages that must appear once in Slack however often the job posting them
runs: a retry after Slack took the message but its answer was lost, or the sweep queueing
again what looked lost, finds the message by its metadata instead of posting it twice.

Slack's history is read only on such a second try, never on the first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.errors import SlackError
from bot.runtime import Runtime
from bot.slack.client import find_posted, translate_errors
from storage.notices import claim_notice, record_notice

logger = logging.getLogger(__name__)

METADATA_EVENT = "roost_notice"
"""The metadata type each notice carries, with its key."""

FIND_POSTED_PAGES = 2
"""Pages of 200 messages a second try looks through for its notice."""


def post_notice(
    rt: Runtime,
    key: str,
    channel: str,
    text: str,
    *,
    thread_ts: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> str:
    """Post the notice named `key` once; its ts. Raises Roost's Slack errors."""
    with rt.sessions.begin() as session:
        notice = claim_notice(session, key, rt.clock())
        posted, attempts, first_at = notice.slack_ts, notice.attempts, notice.first_at
    if posted is not None:
        return posted
    metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}}
    with translate_errors(channel):
        found = None
        if attempts > 1:  # an earlier try may have posted it before its answer was lost
            found = find_posted(
                rt.slack,
                channel,
                metadata,
                oldest=(first_at - timedelta(minutes=1)).timestamp(),
                thread_ts=thread_ts,
                pages=FIND_POSTED_PAGES,
            )
        ts = found or str(
            rt.slack.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=text,
                blocks=blocks,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )["ts"]
        )
    with rt.sessions.begin() as session:
        record_notice(session, key, channel, ts)
    return ts


def try_notice(rt: Runtime, key: str, channel: str, text: str) -> bool:
    """Post the notice named `key` once, if Slack takes it now; whether it is posted. A
    refusal is logged: a caller that looks again each period tries again then."""
    try:
        post_notice(rt, key, channel, text)
    except SlackError as exc:
        logger.warning("notice %s not posted: %s", key, exc)
        return False
    return True
