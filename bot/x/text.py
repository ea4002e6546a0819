"""Tweet text as X counts it, and the CoTag that signs every reply.

X does not count characters: it counts a weighted length (twitter-text v3),
in which a URL is always 23, CJK and Hangul are 2, and an emoji is 2 however
many code points it is made of. The modal must show the same number X will
enforce, so all counting goes through twitter-text.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from bot.i18n import _

with warnings.catch_warnings():
    # twitter-text-parser reads its emoji table through pkg_resources, which warns that it
    # is deprecated (setuptools is held below 82, where it is gone).
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)  # not spoken
    from twitter_text import extract_urls_with_indices, parse_tweet

MAX_WEIGHTED_LENGTH = 280
"""X's limit on a post's weighted length, for accounts without long posts."""

COTAG_MAX_LETTERS = 4
"""A CoTag's letters after the ^: short enough to cost little of the 280."""


def weighted_length(text: str) -> int:
    """The length X counts for `text` (twitter-text v3, NFC normalised first)."""
    return int(parse_tweet(text).weightedLength)


MAX_CASHTAGS = 1
"""Cashtags ($TSLA) X takes in one post from a self-serve app, since 2026-02-23."""

_CASHTAG = re.compile(
    # twitter-text's: $ and 1-6 letters (an optional .xx or _xx), after a space or the
    # start, before a space, punctuation or the end. "$1" and "a$B" are not cashtags.
    r"(?:^|(?<=\s))[$＄]([a-z]{1,6}(?:[._][a-z]{1,2})?)"
    r"(?=$|\s|[!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$])",
    re.IGNORECASE,
)


def cashtags(text: str) -> list[str]:
    """The cashtags in `text`, as X finds them, each with its $."""
    return ["$" + match for match in _CASHTAG.findall(text)]


def url_spans(text: str) -> list[tuple[int, int]]:
    """Where the URLs are in `text`, as X finds them: (start, end) offsets."""
    return [(url["indices"][0], url["indices"][1]) for url in extract_urls_with_indices(text)]


def parse_cotag(raw: str) -> str:
    """The canonical CoTag for what a person typed, e.g. " bk" -> "^BK".

    Letters are any Unicode letters so a Korean team may sign with Hangul;
    only ASCII letters are upper-cased. A missing ^ is added. Raises
    ValueError with a message to show the person when it is not a CoTag.
    """
    typed = unicodedata.normalize("NFC", raw).strip()
    # NFC first: a Hangul syllable typed as decomposed jamo is one letter, not three.
    letters = typed.removeprefix("^")
    if not 1 <= len(letters) <= COTAG_MAX_LETTERS or not letters.isalpha():
        if typed:
            raise ValueError(
                _("“{typed}” is not a CoTag. A CoTag is ^ and 1 to 4 letters, like ^BK.").format(
                    typed=typed
                )
            )
        raise ValueError(_("A CoTag is ^ and 1 to 4 letters, like ^BK."))
    return "^" + "".join(c.upper() if c.isascii() else c for c in letters)


def sign(text: str, cotag: str | None) -> str:
    """`text` signed with `cotag` (" ^BK" at the end); unchanged when cotag is None.

    Signing twice with the same CoTag leaves one signature, so a retried edit
    does not grow the reply.
    """
    if cotag is None:
        return text
    tag = parse_cotag(cotag)
    body = text.rstrip()
    if body == tag or body.endswith(" " + tag):
        return body
    return f"{body} {tag}" if body else tag


@dataclass(frozen=True, slots=True)
class Measured:
    """A reply as it will be posted, with its weighted length against X's limit."""

    text: str
    length: int
    limit: int
    overflow: int

    @property
    def fits(self) -> bool:
        """True when X will accept the text's length."""
        return self.overflow == 0


def measure(
    text: str,
    cotag: str | None,
    *,
    limit: int = MAX_WEIGHTED_LENGTH,
    count: Callable[[str], int] = weighted_length,
) -> Measured:
    """The signed text and its length against `limit`: the signature counts too.

    `limit` and `count` are X's post limit and weighted length unless the caller knows
    better (a DM's limit is larger; another network counts its own way).
    """
    signed = sign(text, cotag)
    length = count(signed)
    return Measured(text=signed, length=length, limit=limit, overflow=max(0, length - limit))


def describe_length(m: Measured) -> str:
    """A line for the modal: "120/280", or "283/280 — 3 over the limit"."""
    if m.overflow:
        return _("{length}/{limit} — {over} over the limit").format(
            length=m.length, limit=m.limit, over=m.overflow
        )
    return f"{m.length}/{m.limit}"


def split_thread(
    text: str,
    cotag: str | None,
    limit: int = MAX_WEIGHTED_LENGTH,
    count: Callable[[str], int] = weighted_length,
) -> list[str]:
    """A text too long for one post as a numbered thread: each part signed and numbered
    (" 1/3") and within `limit` as `count` counts it (X's weighted length unless another
    network's is given); split between words where it can.

    Returns the final texts. A "word" longer than a part (a long URL, text without
    spaces) is cut into pieces first, so nothing is dropped.
    """
    piece = limit // 4  # Hangul and emoji weigh 2: a piece of this many always fits
    words = [w[i : i + piece] for w in text.split() for i in range(0, len(w), piece)]
    if not words:
        return []
    for parts_guess in (9, 99, 999):
        suffix_room = len(f" {parts_guess}/{parts_guess}")
        parts: list[list[str]] = [[]]
        for word in words:
            candidate = " ".join([*parts[-1], word])
            if parts[-1] and count(sign(candidate, cotag)) + suffix_room > limit:
                parts.append([word])
            else:
                parts[-1].append(word)
        texts = [" ".join(p) for p in parts]
        if len(texts) <= parts_guess:
            break
    total = len(texts)
    return [sign(f"{body} {index}/{total}", cotag) for index, body in enumerate(texts, start=1)]
