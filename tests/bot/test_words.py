"""Finding words the way people mean them: pure tables."""

from __future__ import annotations

import unicodedata

import pytest

from bot.words import find_word


@pytest.mark.parametrize(
    ("text", "banned", "expected"),
    [
        ("환불해 주세요", ["환불"], "환불"),
        ("환불은 어렵습니다", ["환불"], "환불"),
        ("전액환불", ["환불"], "환불"),
        (unicodedata.normalize("NFD", "환불해"), ["환불"], "환불"),
        ("환불해", [unicodedata.normalize("NFD", "환불")], unicodedata.normalize("NFD", "환불")),
        ("这是诈骗", ["诈骗"], "诈骗"),
        ("We can't REFUND that", ["refund"], "refund"),
        ("No refund!", ["Refund"], "Refund"),
        ("refund해 드릴게요", ["refund"], "refund"),
        ("#refund", ["refund"], "refund"),
        ("free  money here", ["free money"], "free money"),
        ("STRASSE", ["straße"], "straße"),
        ("class act", ["ass"], None),
        ("passing by", ["ass"], None),
        ("refunds", ["refund"], None),
        ("non_refund", ["refund"], None),
        ("freemoney", ["free money"], None),
        ("다음에 뵙겠습니다", ["환불"], None),
        ("anything", ["", "  "], None),
        ("anything", [], None),
        ("kick ass", ["scam", "ass"], "ass"),
    ],
)
def test_find_word(text: str, banned: list[str], expected: str | None) -> None:
    assert find_word(text, banned) == expected


def test_words_may_be_any_iterable() -> None:
    assert find_word("환불해", (w for w in ["scam", "환불"])) == "환불"
