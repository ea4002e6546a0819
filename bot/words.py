"""Finding words in what people write, the way they mean them: pure functions.

Banned words and routes' keywords match alike: case and Unicode form aside,
whole words in spaced scripts, anywhere in Hangul and CJK, where particles
attach ("환불" is in "환불해").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Scripts written without spaces between words. Korean does use spaces, but
# particles attach to the word ("환불해", "환불은"), so it is matched like CJK.
_CJK = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_HAS_CJK = re.compile(f"[{_CJK}]")
# A letter or digit of a spaced script: what a whole-word match may not touch.
_SPACED_WORD_CHAR = f"[^\\W{_CJK}]"


def find_word(text: str, words: Iterable[str]) -> str | None:
    """The first of `words` that `text` uses, as given, or None.

    Case and Unicode form do not matter. Words in spaced scripts match whole
    words only ("ass" is not in "class"); Hangul and CJK words match anywhere,
    since Korean attaches particles ("환불" is in "환불해").
    """
    haystack = _fold(text)
    for word in words:
        if word.strip() and _word_pattern(word).search(haystack):
            return word
    return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _word_pattern(word: str) -> re.Pattern[str]:
    folded = _fold(word)
    phrase = r"\s+".join(re.escape(part) for part in folded.split())
    if _HAS_CJK.search(folded):
        return re.compile(phrase)
    return re.compile(f"(?<!{_SPACED_WORD_CHAR}){phrase}(?!{_SPACED_WORD_CHAR})")
