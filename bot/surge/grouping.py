"""Mentions grouped by what they are about, one at a time as they come: pure code.

Each mention becomes a bag of features. A word of a spaced script (English) is itself,
folded and crudely stemmed, unless it is a stop word. A Hangul word is its stem (the word
with a particle or ending it carries stripped: "배송이", "배송은" → "배송") and the
stem's character bigrams, so "배송지연" meets "배송 지연" and a typo still shares most of
a word. Handles, links and numbers say nothing of the topic and are dropped.

A mention joins the group whose features are most like its own (cosine of TF-IDF, the
document frequencies counted as mentions come) if that is at least JOIN_AT, else it
starts a group. A group a team named by keywords (`/roost group`) takes every mention
that uses one of them first.

Chosen over a morphological analyser: `make bench-grouping` measures both on the
labelled set (bench/data/surge_mentions.jsonl) when kiwipiepy is installed beside Roost,
and the figures are in the README. Bigrams need no model (kiwipiepy's takes 3 s and
500 MB to load in each worker) and group better on short, misspelt posts. MinHash (as in
datasketch) was not tried: it finds near-copies of one text, and a surge's mentions
about one thing are rarely copies.

At most MAX_GROUPS groups form by likeness; past that a mention joins the closest group
however little alike, or, sharing nothing with any, the one group of the rest, so a
flood of unlike posts cannot make each mention a comparison with thousands of groups.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bot.words import find_word

JOIN_AT = 0.2
"""The least cosine similarity at which a mention joins a group rather than start one."""

IDF_EVERY = 64
"""Mentions between two readings of the document frequencies (every one of the first
IDF_EVERY, while they change most)."""

MAX_GROUPS = 200
"""The most groups that form by likeness (named groups aside)."""

REST = "Everything else"  # not spoken: a group's stored name, data like the others
"""The name of the group of mentions like no other, once MAX_GROUPS have formed."""

BIGRAM_WEIGHT = 0.5
"""A Hangul bigram counts half a word: it backs a stem up rather than stands for one."""

_HANDLE = re.compile(r"[@＠]\w+")
_LINK = re.compile(r"https?://\S+|\b\w+\.(?:com|net|co|kr|ly|io)/\S*", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")

PARTICLES = tuple(
    sorted(
        # Case particles, and the endings customers' posts end nouns with most.
        (
            "이 가 은 는 을 를 에 에서 에게 께 으로 로 와 과 도 만 랑 이랑 하고 의 요 이요 "
            "이에요 예요 인가요 인데 이라도 라도 부터 까지 처럼 보다 이나 나 이라고 라고 "
            "이라는 라는 이래요 래요"
        ).split(),
        key=len,
        reverse=True,
    )
)
"""What is stripped from the end of a Hangul word to find its noun, longest first."""

VERB_ENDINGS = tuple(
    sorted(
        {
            stem + ending
            for stem in "하 되 해 돼 했 됐 할 될 한 된 합 됩".split()
            for ending in (
                ["", *"다 요 면 고 서 는 지 죠 야 어".split()]
                + "나요 어요 세요 주세요 줘요 는데 니다 습니다 야지".split()
                + "래요 게요 까요 려면 던데 려고".split()
            )
        }
        | set("해주세요 해줘요 해야 해야지 받을 받았어요 받았는데 안돼요 안되나요".split()),
        key=len,
        reverse=True,
    )
)
"""The endings of verbs made of a noun with 하다 or 되다, the commonest in complaints:
stripped, they leave the noun ("환불해주세요" → "환불")."""

PREDICATE_ENDS = (
    "요",
    "다",
    "까",
    "죠",
    "네",
    "데",
    "면",
    "니",
    "어",
    "지",
    "래",
    "음",
    "함",
    "됨",
)
"""How a word that is only a verb or an adjective ends, once no noun was found in it."""

STOP_WORDS = frozenset(  # not spoken: English words the grouper drops
    """a an the and or but if is are was were be been am i you he she it we they me my
    your our their this that these those to of in on at by for with from as so not no do
    does did have has had will would can could should just still yet now any all what when
    where who why how which there here than then too very again also about up out into
    over after before get got its it's im i'm dont don't lol plz asap omg""".split()
)

KO_STOP_WORDS = frozenset(
    "진짜 정말 너무 아직 아직도 그냥 지금 오늘 이거 그거 저 제 좀 왜 언제 어떻게 뭐 다 또 "
    "ㅋㅋ ㅋㅋㅋㅋ ㅠㅠ ㅜㅜ ㅎㅎ 있나요 하나요 되나요 해요 했는데 하는 있어요 없어요".split()
)


def features(text: str) -> Counter[str]:
    """The mention's features: `w:` words and stems, `b:` Hangul bigrams."""
    folded = unicodedata.normalize("NFC", text).casefold()
    folded = _LINK.sub(" ", _HANDLE.sub(" ", folded))
    found: Counter[str] = Counter()
    for word in _WORD.findall(folded):
        if _HANGUL.search(word):
            stem = _stem_hangul(word)
            if len(stem) < 2 or stem in KO_STOP_WORDS:
                continue
            found[f"w:{stem}"] += 1
            for at in range(len(stem) - 1):
                found[f"b:{stem[at : at + 2]}"] += 1
        elif word.isascii():
            if len(word) < 3 or word in STOP_WORDS:
                continue
            found[f"w:{_stem_latin(word)}"] += 1
    return found


def _stem_hangul(word: str) -> str:
    """The word's noun, as far as endings tell: "배송이" → "배송", "취소하면" → "취소",
    "개통됐어요" → "개통"; "" for a word that is only a predicate ("기다리는", "있나요")."""
    for ending in VERB_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 2:
            return word[: -len(ending)]  # 하다 and 되다 verbs: the noun they are made of
    if word.endswith(PREDICATE_ENDS):
        return ""  # a verb or an adjective, ending its sentence or clause
    for particle in PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


def _stem_latin(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@dataclass
class Group:
    """Mentions about one thing: how many, their summed features, and a name if a team
    gave it keywords."""

    key: int
    name: str | None = None
    keywords: tuple[str, ...] = ()
    size: int = 0
    terms: Counter[str] = field(default_factory=Counter)


class Grouper:
    """Groups mentions as they come, in one pass: assign() each, read groups() at any time.

    Document frequencies are read as of the last IDF_EVERY mentions, so a group's weight
    is worked out once for each of those rounds, not for every mention compared with it.
    """

    def __init__(
        self,
        named: Sequence[tuple[str, Sequence[str]]] = (),
        join_at: float = JOIN_AT,
        read: Callable[[str], Counter[str]] | None = None,
    ) -> None:
        """`read`: how a mention becomes features (`features` by default; the benchmark
        tries a morphological analyser in its place)."""
        self.read = read or features
        self.join_at = join_at
        self.seen = 0
        self.df: Counter[str] = Counter()
        self.idf: dict[str, float] = {}
        self.groups: list[Group] = [
            Group(key=n, name=name, keywords=tuple(words)) for n, (name, words) in enumerate(named)
        ]
        self._norms: dict[int, float] = {}

    def assign(self, text: str) -> Group:
        """The group the mention joins (a new one if it is like none)."""
        found = self.read(text)
        self.seen += 1
        self.df.update(found.keys())
        if self.seen <= IDF_EVERY or self.seen % IDF_EVERY == 0:
            self.idf = {term: self._idf_now(term) for term in self.df}
            self._norms.clear()
        group = self._named(text)
        if group is None:
            closest, score = self._closest(found)
            full = sum(1 for g in self.groups if not g.keywords) >= MAX_GROUPS
            if closest is not None and (score >= self.join_at or full):
                group = closest
            else:
                group = self._rest() if full else Group(key=self._next_key())
            if group not in self.groups:
                self.groups.append(group)
        group.size += 1
        group.terms.update(found)
        self._norms.pop(group.key, None)
        return group

    def name(self, name: str, keywords: Sequence[str], key: int | None = None) -> Group:
        """A group named by keywords, added if it is not there yet (a team named it during
        a surge; `key`: the number it had before): from now on its words send mentions
        to it first."""
        for group in self.groups:
            if group.name == name:
                group.keywords = tuple(keywords)
                return group
        group = Group(
            key=self._next_key() if key is None else key, name=name, keywords=tuple(keywords)
        )
        self.groups.append(group)
        return group

    def to_json(self) -> str:
        """The grouper's state, to carry from one job to the next (from_json)."""
        return json.dumps(
            {
                "join_at": self.join_at,
                "seen": self.seen,
                "df": self.df,
                "groups": [
                    {
                        "key": g.key,
                        "name": g.name,
                        "keywords": list(g.keywords),
                        "size": g.size,
                        "terms": g.terms,
                    }
                    for g in self.groups
                ],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Grouper:
        state = json.loads(raw)
        grouper = cls(join_at=float(state["join_at"]))
        grouper.seen = int(state["seen"])
        grouper.df = Counter(state["df"])
        grouper.groups = [
            Group(
                key=int(g["key"]),
                name=g["name"],
                keywords=tuple(g["keywords"]),
                size=int(g["size"]),
                terms=Counter(g["terms"]),
            )
            for g in state["groups"]
        ]
        grouper.idf = {term: grouper._idf_now(term) for term in grouper.df}
        return grouper

    def add_known(self, text: str, key: int) -> None:
        """Count a mention already in group `key` (rebuilding the state from what was
        stored), without grouping it again."""
        found = self.read(text)
        self.seen += 1
        self.df.update(found.keys())
        group = next((g for g in self.groups if g.key == key), None)
        if group is None:
            group = Group(key=key)
            self.groups.append(group)
        group.size += 1
        group.terms.update(found)
        self.idf = {}
        self._norms.clear()

    def _next_key(self) -> int:
        return max((g.key for g in self.groups), default=-1) + 1

    def label(self, group: Group, words: int = 3) -> list[str]:
        """The group's top words: those most its own, by TF-IDF."""
        scored = [
            (count * self._weight(term), term[2:])
            for term, count in group.terms.items()
            if term.startswith("w:")
        ]
        return [word for _, word in sorted(scored, key=lambda item: (-item[0], item[1]))[:words]]

    def _named(self, text: str) -> Group | None:
        for group in self.groups:
            if group.keywords and find_word(text, group.keywords) is not None:
                return group
        return None

    def _rest(self) -> Group:
        """The group of mentions like no other, once MAX_GROUPS have formed."""
        for group in self.groups:
            if group.name == REST:
                return group
        return Group(key=self._next_key(), name=REST)

    def _closest(self, found: Counter[str]) -> tuple[Group | None, float]:
        """The group most like these features, and how alike (cosine); None if none shares
        a feature with them."""
        mine = {term: count * self._weight(term) for term, count in found.items()}
        norm = math.sqrt(sum(v * v for v in mine.values()))
        best, best_score = None, 0.0
        if not norm:
            return best, best_score
        for group in self.groups:
            if group.keywords or not group.size:
                continue
            terms = group.terms
            dot = sum(w * terms[t] * self._weight(t) for t, w in mine.items() if t in terms)
            if dot <= 0:
                continue
            score = dot / (norm * self._norm(group))
            if score > best_score:
                best, best_score = group, score
        return best, best_score

    def _norm(self, group: Group) -> float:
        found = self._norms.get(group.key)
        if found is None:
            found = math.sqrt(sum((c * self._weight(t)) ** 2 for t, c in group.terms.items()))
            self._norms[group.key] = found
        return found

    def _weight(self, term: str) -> float:
        idf = self.idf.get(term)
        if idf is None:
            idf = self._idf_now(term)
        return idf * (BIGRAM_WEIGHT if term.startswith("b:") else 1.0)

    def _idf_now(self, term: str) -> float:
        return math.log((1 + self.seen) / (1 + self.df[term])) + 1


def purity(assigned: Iterable[tuple[int, str]]) -> float:
    """Of (group key, true label) pairs, the share in a group whose most common label is
    theirs: 1.0 when no group mixes topics."""
    by_group: dict[int, Counter[str]] = {}
    total = 0
    for key, label in assigned:
        by_group.setdefault(key, Counter())[label] += 1
        total += 1
    return sum(max(labels.values()) for labels in by_group.values()) / max(total, 1)
