"""What Roost says, in the reader's language: English (the source) and Korean.

Every sentence a person reads is written in English in the code, marked for the message
catalogue, and looked up when it is said:

    _("Watching X for {words}.").format(words=…)      # a sentence
    ngettext("{n} post", "{n} posts", n).format(n=n)   # a count: Korean has one form
    N_("Resolved")                                      # a constant, translated where shown
    pgettext("button", "Open")                          # the same English, meant otherwise

The catalogue is `bot/locale/<language>/LC_MESSAGES/roost.po`, read once, as text (no
compiled files to keep in step); `make messages` extracts the marked sentences into
`var/roost.pot` and brings each catalogue up to date with it.

Which language: the one `speaking(...)` set for this context, else ROOST_LANGUAGE. A
person's own views (ephemerals, modals, the App Home, DMs) speak their Slack locale;
what a channel sees (cards, digests, notices) speaks the channel's (`/roost language`).
Bolt's listeners run in other threads: bot.app copies the context to them.

Dates, times and numbers are written as each language writes them (Babel's CLDR data):
"Sun 6 Dec 14:30" in English as Roost always wrote it, "12월 6일 (일) 오후 2:30" in Korean.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, tzinfo
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("en", "ko")
"""The languages Roost speaks; the first is the one its code is written in."""

SOURCE = LANGUAGES[0]


LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "roost"

Resolver = Callable[[], str]

_default: str = SOURCE
_speaking: ContextVar[str | Resolver | None] = ContextVar("speaking", default=None)


def set_default(language: str) -> None:
    """The language spoken where nothing else says which (ROOST_LANGUAGE)."""
    global _default
    _default = supported(language) or SOURCE


def name_of(code: str) -> str:
    """A language's name in itself: "English", "한국어" (CLDR's, so a language added to
    LANGUAGES is named without more code)."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def supported(language: str | None) -> str | None:
    """The language Roost speaks for a code such as "ko", "ko-KR" or "en_US"; None if none."""
    if not language:
        return None
    code = language.replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


def language() -> str:
    """The language this context speaks. A person's, resolved at the first sentence."""
    chosen = _speaking.get()
    if callable(chosen):
        chosen = supported(chosen()) or _default
        _speaking.set(chosen)
    return chosen or _default


def speak(chosen: str | Resolver | None) -> None:
    """Say everything from here on in `chosen`, in this context: for a request whose thread
    is reused, set again by each (Bolt's middleware runs before, not around, listeners)."""
    _speaking.set(chosen if callable(chosen) else supported(chosen))


@contextmanager
def speaking(chosen: str | Resolver | None) -> Iterator[None]:
    """Say everything inside in `chosen`: a language code, or a function that finds one
    when first needed (a person's Slack locale costs a call). None: the default."""
    token = _speaking.set(chosen if callable(chosen) else supported(chosen))
    try:
        yield
    finally:
        _speaking.reset(token)


@functools.cache
def _translations(code: str) -> gettext.NullTranslations:
    if code == SOURCE:
        return gettext.NullTranslations()
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """`message` in this context's language."""
    return _translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted sentence for `n`, in this context's language."""
    return _translations(language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in this context's language, where the same English says two things: a
    button's "Open" (열기) is not a status's "Open" (열림)."""
    return _translations(language()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark a constant for the catalogue; it is translated where it is shown, with _()."""
    return message


def number(value: float, places: int = 0) -> str:
    """A number with the language's grouping: 12,345."""
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(value, format=pattern, locale=language())


def day(moment: date | datetime, zone: tzinfo | None = None) -> str:
    """A day: "Sun 6 Dec", "12월 6일 (일)"."""
    if isinstance(moment, datetime) and zone is not None:
        moment = moment.astimezone(zone)
    if language() == SOURCE:
        return f"{moment:%a %-d %b}"
    return format_skeleton("MMMEd", moment, locale=language())


def clock(moment: datetime, zone: tzinfo | None = None) -> str:
    """A time of day: "14:30", "오후 2:30"."""
    if zone is not None:
        moment = moment.astimezone(zone)
    if language() == SOURCE:
        return f"{moment:%H:%M}"
    return format_time(moment, "short", locale=language())


def day_and_clock(moment: datetime, zone: tzinfo | None = None) -> str:
    """ "Sun 6 Dec 14:30", "12월 6일 (일) 오후 2:30"."""
    return f"{day(moment, zone)} {clock(moment, zone)}"


def month(moment: date | datetime) -> str:
    """A month: "December", "12월"."""
    if language() == SOURCE:
        return f"{moment:%B}"
    return format_skeleton("MMMM", moment, locale=language())
