"""Weighted length, CoTags and measuring: pure tables."""

from __future__ import annotations

import unicodedata

import pytest

from bot.x.text import (
    MAX_WEIGHTED_LENGTH,
    Measured,
    describe_length,
    measure,
    parse_cotag,
    sign,
    weighted_length,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one ZWJ sequence
KOREA_FLAG = "\U0001f1f0\U0001f1f7"
THUMBS_UP_DARK = "\U0001f44d\U0001f3fd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("hello world", 11),
        ("가", 2),
        ("환불 문의", 9),
        ("中", 2),
        ("ア", 2),
        ("😀", 2),
        (FAMILY, 2),
        (KOREA_FLAG, 2),
        (THUMBS_UP_DARK, 2),
        ("❤️", 2),
        ("https://x.com/brand/status/1234567890123456789", 23),
        ("example.com", 23),
        ("see https://example.com/" + "a" * 100, 4 + 23),
        ("é", 1),
        (unicodedata.normalize("NFD", "é"), 1),
        (unicodedata.normalize("NFD", "한국어"), 6),
        ("—", 1),
    ],
)
def test_weighted_length_counts_as_x_does(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("가" * 130 + "😀" * 10, 280),
        ("가" * 130 + "😀" * 10 + "a", 281),
        ("가" * 139 + "a" * 2, 280),
        ("가" * 140 + "a", 281),
        ("a" * 257 + " https://x.com/a/status/1", 281),
    ],
)
def test_the_280_boundary(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("^BK", "^BK"),
        ("^bk", "^BK"),
        ("bk", "^BK"),
        ("  ^Bk \n", "^BK"),
        ("^A", "^A"),
        ("^ABCD", "^ABCD"),
        ("^민수", "^민수"),
        ("민", "^민"),
        (unicodedata.normalize("NFD", "^민수"), "^민수"),
        ("^é", "^é"),
    ],
)
def test_parse_cotag_gives_the_canonical_form(raw: str, expected: str) -> None:
    assert parse_cotag(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "^", "^ABCDE", "^B1", "^B K", "^^BK", "^B-K", "^😀", "^가나다라마"],
)
def test_parse_cotag_rejects_with_a_message_to_act_on(raw: str) -> None:
    with pytest.raises(ValueError, match=r"A CoTag is \^ and 1 to 4 letters, like \^BK\."):
        parse_cotag(raw)


@pytest.mark.parametrize(
    ("text", "cotag", "expected"),
    [
        ("Thanks!", "^BK", "Thanks! ^BK"),
        ("Thanks!  \n", "^BK", "Thanks! ^BK"),
        ("Thanks!", "bk", "Thanks! ^BK"),
        ("감사합니다", "^민수", "감사합니다 ^민수"),
        ("Thanks!  \n", None, "Thanks!  \n"),
        ("Thanks! ^BK", "^BK", "Thanks! ^BK"),
        ("Thanks! ^BK", "^JO", "Thanks! ^BK ^JO"),
        ("Thanks!^BK", "^BK", "Thanks!^BK ^BK"),
        ("", "^BK", "^BK"),
    ],
)
def test_sign(text: str, cotag: str | None, expected: str) -> None:
    assert sign(text, cotag) == expected


def test_sign_refuses_a_bad_cotag() -> None:
    with pytest.raises(ValueError, match="like"):
        sign("Thanks!", "^B1")


@pytest.mark.parametrize(
    ("text", "cotag", "length", "overflow"),
    [
        ("a" * 276, "^BK", 280, 0),
        ("a" * 277, "^BK", 281, 1),
        ("a" * 278, "^BK", 282, 2),
        ("a" * 278, None, 278, 0),
        ("a" * 276, "^민", 280, 0),
        ("a" * 277, "^민", 281, 1),
        ("가" * 130 + "😀" * 8, "^BK", 280, 0),
        ("가" * 130 + "😀" * 10, "^BK", 284, 4),
    ],
)
def test_measure_counts_the_signed_text(
    text: str, cotag: str | None, length: int, overflow: int
) -> None:
    m = measure(text, cotag)
    assert m.text == sign(text, cotag)
    assert (m.length, m.limit, m.overflow) == (length, MAX_WEIGHTED_LENGTH, overflow)
    assert m.fits is (overflow == 0)


@pytest.mark.parametrize(
    ("limit", "overflow", "fits"),
    [(10_000, 0, True), (283, 0, True), (282, 1, False)],
)
def test_measure_against_another_limit(limit: int, overflow: int, fits: bool) -> None:
    m = measure("a" * 279, "^BK", limit=limit)
    assert (m.length, m.limit, m.overflow, m.fits) == (283, limit, overflow, fits)


@pytest.mark.parametrize(
    ("m", "expected"),
    [
        (Measured(text="", length=0, limit=280, overflow=0), "0/280"),
        (Measured(text="", length=120, limit=280, overflow=0), "120/280"),
        (Measured(text="", length=280, limit=280, overflow=0), "280/280"),
        (Measured(text="", length=283, limit=280, overflow=3), "283/280 — 3 over the limit"),
    ],
)
def test_describe_length(m: Measured, expected: str) -> None:
    assert describe_length(m) == expected


def test_describe_length_of_a_measured_reply() -> None:
    assert describe_length(measure("a" * 279, "^BK")) == "283/280 — 3 over the limit"
