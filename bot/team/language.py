"""Whose language Roost speaks (bot.i18n): a person's own Slack locale for what only they
see (ephemerals, DMs, modals, their App Home); a channel's, set with `/roost language`,
for what everyone there sees (cards, digests, notices); ROOST_LANGUAGE where neither
says.

A person's locale costs a `users.info` call, so it is asked once an hour at most, and
only when something is said to them; Slack not answering means the default, never a
wait.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.errors import Refused
from bot.i18n import LANGUAGES, Resolver, _, name_of, speaking, supported
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape
from bot.team.people import Who, is_admin
from storage.digests import scope_accounts
from storage.events import record_event
from storage.languages import channel_language as stored_language
from storage.languages import set_channel_language
from storage.team import roles_of

logger = logging.getLogger(__name__)

LOCALE_CACHE_SECONDS = 3600.0
"""How long a person's Slack locale is taken as known."""

FAILED_CACHE_SECONDS = 60.0
"""How long a failed lookup stands before Slack is asked again."""

LOOKUP_SECONDS = 1
"""The longest a locale lookup waits for Slack: the rest of a click's 3 seconds is the
modal's."""

CHANNEL_CACHE_SECONDS = 30.0
"""How long a channel's language is taken as known (a change shows within this)."""

_people: dict[tuple[str, str], tuple[float, str | None]] = {}
_channels: dict[tuple[str, str], tuple[float, str | None]] = {}
_quick_clients: dict[tuple[str, str], WebClient] = {}


def person_language(rt: Runtime, user: str) -> str:
    """The language of the person's Slack locale if Roost speaks it, else the default.

    Asked of Slack at most once an hour, with a client of its own that waits LOOKUP_SECONDS
    at most and never retries: a modal opens within its trigger's 3 seconds, in the
    default language if Slack is slow, and a failed lookup is asked again a minute later."""
    key = (rt.settings.slack_api_url, user)
    cached = _people.get(key)
    if cached is None or cached[0] <= time.monotonic():
        try:
            # Slack's pace for users.info (Tier 4), shared with every other lookup of a
            # person: twenty people clicking at once must not cost a 429.
            pace = getattr(rt.slack, "pace", None)
            if pace is not None and not pace.wait("users.info", "", longest=LOOKUP_SECONDS / 2):
                raise OSError("Slack's pace for users.info is used for now")  # not spoken
            found = _quick(rt).users_info(user=user, include_locale=True)["user"]
            cached = (time.monotonic() + LOCALE_CACHE_SECONDS, supported(found.get("locale")))
        except (SlackClientError, OSError, KeyError) as exc:
            logger.info("no Slack locale for %s (%s): the default language", user, exc)
            cached = (time.monotonic() + FAILED_CACHE_SECONDS, None)
        _people[key] = cached
    return cached[1] or rt.settings.roost_language


def _quick(rt: Runtime) -> WebClient:
    """A Slack client for the locale lookup alone: a short timeout, no retries."""
    key = (rt.settings.slack_api_url, rt.slack.token or "")
    client = _quick_clients.get(key)
    if client is None:
        client = WebClient(token=rt.slack.token, base_url=rt.slack.base_url, timeout=LOOKUP_SECONDS)
        client.retry_handlers = []
        _quick_clients[key] = client
    return client


def as_person(rt: Runtime, user: str) -> Resolver:
    """The person's language, found when first needed (bot.i18n.speaking)."""
    return lambda: person_language(rt, user)


def channel_language(rt: Runtime, channel: str | None) -> str:
    """The language set for the channel, else the default."""
    if not channel:
        return rt.settings.roost_language
    key = (rt.settings.slack_api_url, channel)
    cached = _channels.get(key)
    if cached is None or cached[0] <= time.monotonic():
        with rt.sessions() as session:
            cached = (time.monotonic() + CHANNEL_CACHE_SECONDS, stored_language(session, channel))
        _channels[key] = cached
    return cached[1] or rt.settings.roost_language


def in_channel(rt: Runtime, channel: str | None) -> Any:
    """Speak the channel's language inside: `with in_channel(rt, channel): …`."""
    return speaking(channel_language(rt, channel))


def language_command(rt: Runtime, who: Who, text: str, channel: str | None) -> str:
    """`/roost language [ko|en|default]`: what this channel speaks, or set it (owners of
    its accounts and Slack admins)."""
    word = text.strip().lower()
    if not channel or channel[:1] not in ("C", "G"):
        raise Refused(_("Set a channel's language in that channel: `/roost language ko`."))
    if not word:
        current = channel_language(rt, channel)
        return _(
            "This channel speaks {language}. `/roost language ko` or `en` changes it; your own "
            "views follow your Slack language."
        ).format(language=name_of(current))
    chosen = None if word == "default" else supported(word) or _korean_word(word)
    if chosen is None and word != "default":
        raise Refused(
            _("Roost speaks {languages}: `/roost language {word}` is none of them.").format(
                languages=", ".join(f"{code} ({name_of(code)})" for code in LANGUAGES),
                word=escape(word),
            )
        )
    with rt.sessions.begin() as session:
        accounts = scope_accounts(session, channel)
        if not is_admin(rt, who.user_id):
            held = roles_of(session, who.team_id, who.user_id)
            if not accounts or any(held.get(a.id) != "owner" for a in accounts):
                raise Refused(
                    _(
                        "Only owners of the accounts whose cards come here, and Slack admins, "
                        "set this channel's language."
                    )
                )
        now = rt.clock()
        set_channel_language(session, channel, chosen, who.user_id, now)
        record_event(
            session, "channel.language", now, actor=who.user_id, channel=channel, language=chosen
        )
    _channels.pop((rt.settings.slack_api_url, channel), None)
    spoken = chosen or rt.settings.roost_language
    with speaking(spoken):
        return _("This channel's cards, digests and notices now speak {language}.").format(
            language=name_of(spoken)
        )


_KOREAN_WORDS = {"한국어": "ko", "한글": "ko", "영어": "en", "english": "en", "korean": "ko"}


def _korean_word(word: str) -> str | None:
    return _KOREAN_WORDS.get(word)
