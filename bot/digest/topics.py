"""Recurring terms in mentions: what people keep writing about, for the digest and /roost stats.

Pure and fast: a precompiled regex splits a text into tokens, and each
distinct token is turned into a term (or dropped) once per call, however many
texts it appears in. Terms are shown casefolded ("Outage" and "OUTAGE" are
"outage"); hashtags keep their `#` ("#outage") and are not the same term as
the bare word; Korean words lose a trailing particle ("배송이", "배송은" and
"배송을" are all "배송"). Plurals are not folded: "order" and "orders" are two
terms. Other scripts are split at what is not a letter or digit, so Japanese
runs between punctuation are single terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

TOP_TERMS = 8
"""How many terms the digest shows."""

MIN_TEXTS = 2
"""A term found in fewer texts than this is not recurring."""

ENGLISH_STOP_WORDS = frozenset(  # not spoken: words matched in mentions, never said
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each few for from further get got had has have having he her here hers herself him
    himself his how i if in into is it its itself just let like me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves
    rt amp via http https www com net org co kr
    im ive id ill youre youve youll theyre weve isnt arent wasnt werent dont
    doesnt didnt cant couldnt wont wouldnt shouldnt hasnt havent hadnt thats whats theres
    lets ok okay yes yeah hi hey hello pls please thanks thank thx lol u ur
    """.split()
)
"""Words too common in any mention to say what it is about, apostrophes removed
("don't" is "dont"), plus X's own noise: "rt", "amp" (an escaped &) and the
pieces of a bare domain."""

KOREAN_STOP_WORDS = frozenset(
    """
    그리고 그런데 그래서 그러나 하지만 근데 그냥 너무 진짜 정말 완전 아주 매우 좀 조금 많이
    이거 저거 그거 이것 저것 그것 이건 저건 그건 여기 저기 거기 이런 저런 그런 이렇게 저렇게
    그렇게 저희 우리 제가 저는 나는 내가 당신 혹시 제발 지금 오늘 어제 내일 아직 계속 다시 벌써
    있어요 없어요 있습니다 없습니다 있는데 없는데 있는 없는 있고 없고 해요 했어요 합니다 했습니다
    하는 하고 해서 하면 되나요 되는 됩니다 안녕하세요 감사합니다 고맙습니다 수고하세요 어떻게 언제
    ㅋㅋ ㅎㅎ ㅠㅠ
    """.split()
)
"""Korean words as common as English stop words: conjunctions, intensifiers,
pronouns, greetings and the commonest verb forms."""

KOREAN_PARTICLES = frozenset(
    """
    은 는 이 가 을 를 에 에서 에게 에게서 한테 한테서 께 께서 의 와 과 도 로 으로 만 요
    랑 이랑 부터 까지 처럼 보다 이나 에는 에도 에서는 에서도 으로는 로는 으로도 로도 은요 는요
    이요 이에요 예요 입니다 이라고 라고
    """.split()
)
"""Endings stripped from a Korean word, the longest that matches: "배송에서"
is "배송", not "배송에"."""

_LONGEST_PARTICLE = max(map(len, KOREAN_PARTICLES))

_STEM_SYLLABLES = 2
"""A particle is stripped only if this much of the word is left: "배송이" is
"배송", but "고가" (a high price) keeps its "가"."""

# Links go first, and only from texts that have one: a search for a literal
# is fast, a regex that tries a link at every word is not.
_LINK = re.compile(r"https?://\S*|\bt\.co/\S*")
# Words, hashtags and @handles; an apostrophe stays inside a word ("don't").
# A bare domain ("acme.com/help") falls apart into words, and its "com" is a
# stop word.
_TOKEN = re.compile(r"[#＃@＠]?\w+(?:['’]\w+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_APOSTROPHE = re.compile(r"['’]")
_HANGUL_JAMO = re.compile(r"[\u3131-\u318e]+")


def recurring_terms(
    texts: Iterable[str],
    *,
    exclude: Iterable[str] = (),
    top: int = TOP_TERMS,
    min_count: int = MIN_TEXTS,
) -> list[tuple[str, int]]:
    """The `top` terms found in at least `min_count` texts, with how many texts each is in.

    A term counts once per text, so one post repeating a word cannot make it a
    topic. Dropped: @handles, links, numbers, single characters, emoji, stop
    words in English and Korean, and `exclude` (the brand's own handles and
    names; compared casefolded, a leading @ or # ignored, a name of several
    words excluding each of them). Ties keep the order in which terms first
    appeared.
    """
    terms = _Terms(_excluded(exclude))
    found: Counter[str] = Counter()
    # The loop is the hot path (100,000 texts a digest): C calls only, with the
    # work per distinct token done once in _Terms.
    term_of, tokens, link, count = terms.__getitem__, _TOKEN.findall, _LINK.sub, found.update
    for text in texts:
        folded = text.casefold()
        if "://" in folded or "t.co/" in folded:
            folded = link(" ", folded)
        count(set(map(term_of, tokens(folded))))
    recurring = [term for term in terms.first_seen if term and found[term] >= min_count]
    # sorted is stable: equal counts stay in order of first appearance.
    recurring.sort(key=lambda term: -found[term])
    return [(term, found[term]) for term in recurring[: max(top, 0)]]


def _excluded(exclude: Iterable[str]) -> frozenset[str]:
    # A handle is a name here, not noise: "@acme_kr" excludes "acme_kr".
    names = (name.casefold().lstrip("@＠#＃") for name in exclude)
    return frozenset(_stem(word) for name in names for word in _TOKEN.findall(name))


class _Terms(dict[str, str]):
    """Token to term ("" when dropped), worked out once per distinct token.

    Tokens arrive in reading order, so the first token to give a term is that
    term's first appearance: `first_seen` keeps terms in that order.
    """

    def __init__(self, excluded: frozenset[str]) -> None:
        super().__init__()
        self.excluded = excluded
        self.first_seen: dict[str, None] = {}

    def __missing__(self, token: str) -> str:
        term = self[token] = _term(token, self.excluded)
        self.first_seen.setdefault(term)
        return term


def _term(token: str, excluded: frozenset[str]) -> str:
    first = token[0]
    if first in "@＠":
        return ""
    if first in "#＃":
        tag = token[1:]
        if not tag.strip("_") or tag.isdigit() or _stem(tag) in excluded:
            return ""
        return "#" + tag
    if token.isdigit():
        return ""
    word = _stem(token)
    if (
        len(word) < 2
        or word in excluded
        or word in ENGLISH_STOP_WORDS
        or word in KOREAN_STOP_WORDS
        or token in KOREAN_STOP_WORDS
        or _HANGUL_JAMO.fullmatch(word)
    ):
        return ""
    return word


def _stem(word: str) -> str:
    """The word without a possessive 's, apostrophes or a trailing Korean particle."""
    if "'" in word or "’" in word:
        word = _APOSTROPHE.sub("", _POSSESSIVE.sub("", word))
    if word.isascii():
        return word
    for size in range(min(_LONGEST_PARTICLE, len(word)), 0, -1):
        if word[-size:] in KOREAN_PARTICLES:
            # Only the longest ending counts: "집으로" keeps its "으로" rather
            # than lose just the "로" and become "집으".
            return word[:-size] if len(word) - size >= _STEM_SYLLABLES else word
    return word
