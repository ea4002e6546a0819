"""Putting people's text into Slack mrkdwn safely: pure functions.

Slack reads `&`, `<` and `>` as control characters: `<!channel>` pings a
channel, `<@U123>` a person, `<url|label>` makes a link. Text from X passes
through `escape` so it shows as written and pings no one.
"""

from __future__ import annotations

import re

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """Escape Slack's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<((?:https?|mailto|tel):[^|<>]*)(?:\|([^<>]*))?>")


def unescape(text: str) -> str:
    """What a person typed, from text as Slack sends it (a slash command's, a message's):
    Slack makes a typed address a link (`<https://acme.example|acme.example>`,
    `<mailto:help@acme.example|help@acme.example>`) and escapes their `&`, `<` and `>`.
    Its mentions of people and channels stay as they are."""
    text = _LINK.sub(lambda link: link.group(2) or link.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_within(text: str, limit: int) -> tuple[str, bool]:
    """Escape text, cut so the escaped result fits `limit` characters.

    Cuts on the raw text, so an escape sequence is never split, and prefers a
    word boundary near the end. Returns the escaped text and whether it was cut.
    """
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped, False
    size = 0
    end = 0
    for end, char in enumerate(text):  # noqa: B007 - end is used after the loop
        size += len(_ESCAPES.get(char, char))
        if size > limit:
            break
    boundary = text.rfind(" ", max(0, end - 200), end)
    cut = text[: boundary if boundary > 0 else end].rstrip()
    return escape(cut), True


def link(url: str, label: str) -> str:
    """A mrkdwn link; the label is escaped, `|` in it would end the URL part."""
    return f"<{url}|{escape(label).replace('|', '∣')}>"


def permalink(workspace_url: str, channel: str, ts: str, thread_ts: str | None = None) -> str:
    """A message's address, in the form Slack's own permalinks take."""
    url = f"{workspace_url}/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts:
        url += f"?thread_ts={thread_ts}&cid={channel}"
    return url
