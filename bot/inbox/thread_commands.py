"""What a message in a card's thread asks Roost to do, if anything: pure parsing.

People talk in a card's thread; only a message that *starts* with an
instruction assigns: `@bob can you take this?`, `assign @bob`, `unassign`,
`take` — also after a mention of Roost itself. A message that names someone
mid-sentence ("thanks @bob, fixed") is a note and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTIONS = re.compile(r"^(?:<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s,:]*(?:and\s+|&\s+)?)+")

SHORT_COMMAND_WORDS = 4
"""`take` and `unassign` count only in a message this short: "take it", not a sentence."""


@dataclass(frozen=True, slots=True)
class ThreadCommand:
    """assign (to `users[0]`), unassign, take, or ambiguous (several people named)."""

    kind: str
    users: tuple[str, ...] = ()


def parse(text: str, bot_user_id: str | None = None) -> ThreadCommand | None:
    """The instruction a thread message starts with, or None for a plain note."""
    rest = text.strip()
    if bot_user_id:
        rest = re.sub(rf"^<@{re.escape(bot_user_id)}(?:\|[^>]*)?>[\s,:]*", "", rest)
    leading = _LEADING_MENTIONS.match(rest)
    if leading:
        return _assign(_MENTION.findall(leading.group(0)))
    words = rest.split()
    if not words:
        return None
    first = words[0].casefold().rstrip(":,.!")
    if first == "assign" and len(words) > 1:
        named = _LEADING_MENTIONS.match(" ".join(words[1:]))
        return _assign(_MENTION.findall(named.group(0))) if named else None
    if len(words) <= SHORT_COMMAND_WORDS and not _MENTION.search(rest):
        if first == "unassign":
            return ThreadCommand("unassign")
        if first == "take":
            return ThreadCommand("take")
    return None


def _assign(users: list[str]) -> ThreadCommand:
    distinct = tuple(dict.fromkeys(users))
    return ThreadCommand("assign" if len(distinct) == 1 else "ambiguous", distinct)
