"""Checks a reply must pass before it goes out, as findings a person can act on.

A public reply is seen by everyone, so it is stopped when it is empty, uses a
word the brand has banned, has more cashtags than X takes, or carries a
customer's personal data (phone, e-mail, card, resident registration or bank
account number). A DM is private: personal data is often the point of it, so
only emptiness and banned words are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import phonenumbers

from bot.i18n import N_, _
from bot.words import find_word
from bot.x.text import MAX_CASHTAGS, cashtags, url_spans

PHONE_REGION = "KR"
"""Region for numbers written without a country code, unless the account says another
(`/roost region`): the team is Korean."""

ACCOUNT_MIN_DIGITS = 10
"""Shortest digit run read as a bank account; order numbers are shorter."""

MASK = "•"
"""Stands in for each hidden letter or digit of an excerpt."""


@dataclass(frozen=True, slots=True)
class Own:
    """What an account may say in public though it looks like personal data: its own
    numbers, e-mail addresses and domains (`/roost allow`), and the region its numbers
    are read in."""

    region: str = PHONE_REGION
    allowed: tuple[str, ...] = ()

    @classmethod
    def of(cls, region: str | None, allowed: Iterable[str] | None) -> Own:
        return cls(region or PHONE_REGION, tuple(allowed or ()))

    def allows(self, kind: str, excerpt: str) -> bool:
        """Whether this finding is the account's own: the same digits as an allowed
        number, or an e-mail at an allowed address or domain."""
        for entry in self.allowed:
            if kind == "email":
                address = excerpt.casefold()
                own = entry.casefold().lstrip("@")
                if address == own or address.endswith("@" + own):
                    return True
            elif _digits(entry) and _digits(entry) == _digits(excerpt):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a reply may not go out; `excerpt` never holds the full value."""

    kind: str
    excerpt: str
    message: str


def check_public(
    text: str, *, banned: Iterable[str], self_serve: bool = True, own: Own = Own()
) -> list[Finding]:
    """Everything that stops `text` going out as a public reply; empty means go.
    `self_serve`: X's rules for self-serve apps apply (one cashtag a post); `own`: what
    the account may say though it looks like personal data."""
    if not text.strip():
        return [_empty()]
    cashtag = _cashtag_findings(text) if self_serve else []
    return _banned_findings(text, banned) + cashtag + find_personal_data(text, own)


def _cashtag_findings(text: str) -> list[Finding]:
    found = cashtags(text)
    if len(found) <= MAX_CASHTAGS:
        return []
    listed = ", ".join(found)
    message = _(
        "X takes one cashtag a post from apps, and this has {count} ({listed}): keep one."
    ).format(count=len(found), listed=listed)
    return [Finding(kind="cashtags", excerpt=listed, message=message)]


def check_dm(text: str, *, banned: Iterable[str] = ()) -> list[Finding]:
    """Everything that stops `text` going out as a DM: emptiness and banned words.

    Personal data is allowed: sending it privately is why a reply becomes a DM.
    """
    if not text.strip():
        return [_empty()]
    return _banned_findings(text, banned)


def _banned_findings(text: str, banned: Iterable[str]) -> list[Finding]:
    word = find_word(text, banned)
    if word is None:
        return []
    message = _("“{word}” is on the banned-word list; reword the reply.").format(word=word)
    return [Finding(kind="banned_word", excerpt=word, message=message)]


def _empty() -> Finding:
    return Finding(
        kind="empty", excerpt="", message=_("The reply is empty; write something first.")
    )


# -- personal data --------------------------------------------------------------

_LOOKS_LIKE = {
    "phone": N_("This looks like a phone number ({excerpt}); take it out of the public reply."),
    "email": N_("This looks like an e-mail address ({excerpt}); take it out of the public reply."),
    "card": N_(
        "This looks like a payment-card number ({excerpt}); take it out of the public reply."
    ),
    "rrn": N_(
        "This looks like a resident registration number ({excerpt}); take it out of the "
        "public reply."
    ),
    "account_number": N_(
        "This looks like a bank account number ({excerpt}); take it out of the public reply."
    ),
}
"""Why each kind of personal data stops a public reply, its masked excerpt shown."""

# Not after an @: "@leo@example.social" is someone on Mastodon, not an address.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+@＠-])[A-Za-z0-9._%+-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
)
_HANDLE = re.compile(r"(?<![A-Za-z0-9_])[@＠][A-Za-z0-9_]{1,15}")
# As on X, a hashtag needs a letter: "#1234567890" is a number, not a tag.
_HASHTAG = re.compile(r"(?<!\w)[#＃](?=\w*[^\W\d_])\w+")
# Digits in groups joined by one space or hyphen. Not glued to Latin letters
# (order codes like A1234567890) nor to a decimal point or thousands comma
# (12,000,000,000원); Hangul may touch it, as particles do ("...5678로").
_DIGIT_RUN = re.compile(r"(?<![\dA-Za-z])(?<!\d[.,])\d+(?:[ -]\d+)*(?![\dA-Za-z])(?![.,]\d)")
_RRN = re.compile(r"(\d{2})(\d{2})(\d{2})[ -]?([1-8])\d{6}")
# Stands in for text already accounted for. Not a digit, Latin letter, currency
# sign or phone punctuation, so it neither joins nor breaks a number beside it.
_BLANK = "|"


@lru_cache(maxsize=20_000)
def has_personal_data(text: str, region: str = PHONE_REGION) -> bool:
    """Whether `text` holds personal data. Remembered: answering a surge group reads the
    same posts again every few seconds, and the phone-number matcher is the slow part."""
    return bool(find_personal_data(text, Own(region)))


def find_personal_data(text: str, own: Own = Own()) -> list[Finding]:
    """Personal data in `text`, each value once, in the order found; less what `own`
    allows, numbers read in its region.

    Digits inside URLs, @handles and #hashtags are not data: a tweet link
    holds a 19-digit id. Each stretch of text is reported as one kind only.
    """
    found: dict[tuple[str, str], Finding] = {}
    blanked = text

    def report(kind: str, start: int, end: int) -> None:
        nonlocal blanked
        excerpt = text[start:end]
        key = (kind, excerpt.casefold() if kind == "email" else _digits(excerpt))
        if not own.allows(kind, excerpt):
            found.setdefault(key, _personal(kind, excerpt))
        blanked = blanked[:start] + _BLANK * (end - start) + blanked[end:]

    for m in _EMAIL.finditer(blanked):
        report("email", m.start(), m.end())
    for start, end in _not_data(blanked):
        blanked = blanked[:start] + _BLANK * (end - start) + blanked[end:]
    # Phone numbers first: the matcher knows their punctuation, "(02) 123-4567".
    for match in phonenumbers.PhoneNumberMatcher(blanked, own.region):
        report("phone", match.start, match.end)
    for run in list(_DIGIT_RUN.finditer(blanked)):
        for kind, start, end in _classify_run(run.group(), run.start(), own.region):
            report(kind, start, end)
    return list(found.values())


def _not_data(text: str) -> Iterator[tuple[int, int]]:
    """Spans of URLs, @handles and #hashtags."""
    yield from url_spans(text)
    for pattern in (_HANDLE, _HASHTAG):
        for m in pattern.finditer(text):
            yield m.start(), m.end()


def _classify_run(run: str, offset: int, region: str) -> Iterator[tuple[str, int, int]]:
    """Kinds of data in one run of digit groups, with spans in the whole text.

    A run may hold several values side by side ("4111 1111 1111 1111 2026"),
    so groups are tried from the left, the most telling kind first and the
    longest stretch first within a kind.
    """
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d[\d-]*", run)]
    i = 0
    while i < len(groups):
        hit = _first_hit(run, groups, i, region)
        if hit is None:
            i += 1
            continue
        kind, j = hit
        yield kind, offset + groups[i][0], offset + groups[j - 1][1]
        i = j


_Test = Callable[[str, str, int, str], bool]

_LONGEST_STRETCH = 19
"""Most digits in a value spread over several groups: a long card number."""


def _first_hit(
    run: str, groups: list[tuple[int, int]], i: int, region: str
) -> tuple[str, int] | None:
    stretches = []
    for j in range(i + 1, len(groups) + 1):
        piece = run[groups[i][0] : groups[j - 1][1]]
        digits = _digits(piece)
        # One group is always tried, however long: an account number may be.
        if j > i + 1 and len(digits) > _LONGEST_STRETCH:
            break
        stretches.append((j, piece, digits))
    for kind, test in _RUN_KINDS:
        for j, piece, digits in reversed(stretches):
            if test(piece, digits, j - i, region):
                return kind, j
    return None


def _is_rrn(piece: str, digits: str, _groups: int, _region: str) -> bool:
    m = _RRN.fullmatch(piece)
    if m is None:
        return False
    yy, mm, dd, g = (int(x) for x in m.groups())
    # The digit after the birth date gives the century: 1, 2, 5, 6 born in the 1900s.
    year = (1900 if g in (1, 2, 5, 6) else 2000) + yy
    try:
        date(year, mm, dd)
    except ValueError:
        return False
    return True


def _is_card(piece: str, digits: str, _groups: int, _region: str) -> bool:
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


def _is_phone(piece: str, digits: str, _groups: int, region: str) -> bool:
    # The matcher on the whole text gives up when a phone number sits right
    # beside other digits ("010 1234 5678 900101-1234567"); alone it is found.
    return any(
        m.start == 0 and m.end == len(piece) for m in phonenumbers.PhoneNumberMatcher(piece, region)
    )


def _is_account(piece: str, digits: str, groups: int, _region: str) -> bool:
    # Accounts are written whole or with hyphens; space-separated short
    # numbers side by side are more often scores or lists than an account.
    return groups == 1 and len(digits) >= ACCOUNT_MIN_DIGITS


_RUN_KINDS: tuple[tuple[str, _Test], ...] = (
    ("rrn", _is_rrn),
    ("card", _is_card),
    ("phone", _is_phone),
    ("account_number", _is_account),
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _personal(kind: str, excerpt: str) -> Finding:
    masked = mask(excerpt)
    return Finding(
        kind=kind,
        excerpt=masked,
        message=_(_LOOKS_LIKE[kind]).format(excerpt=masked),
    )


def mask(excerpt: str) -> str:
    """`excerpt` with every letter and digit hidden but the last few.

    The last 4 stay (2 when short), enough to tell which number is meant
    without repeating it; separators stay so the shape is recognisable.
    """
    hidden = sum(c.isalnum() for c in excerpt)
    keep = 4 if hidden >= 10 else 2
    out = []
    for char in reversed(excerpt):
        if char.isalnum():
            out.append(char if keep > 0 else MASK)
            keep -= 1
        else:
            out.append(char)
    return "".join(reversed(out))
