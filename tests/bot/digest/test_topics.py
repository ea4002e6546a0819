"""Recurring terms in mentions: pure tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.digest.topics import recurring_terms


def terms(texts: list[str]) -> list[str]:
    """Every term found, even once, in rank order."""
    return [term for term, _ in recurring_terms(texts, min_count=1, top=100)]


def test_korean_particles_fold_into_one_term() -> None:
    texts = ["배송이 늦어요", "배송은 언제 오나요", "배송을 기다리는 중", "배송에서 문제가"]
    assert recurring_terms(texts) == [("배송", 4)]


@pytest.mark.parametrize(
    ("word", "term"),
    [
        ("고객센터에서", "고객센터"),  # the longest ending, not just "서"
        ("고객센터에서는", "고객센터"),
        ("서비스가", "서비스"),
        ("환불을", "환불"),
        ("환불", "환불"),
        ("고객님께서", "고객님"),
        ("아이폰으로", "아이폰"),
        ("앱이", "앱이"),  # one syllable would be left
        ("집으로", "집으로"),  # nor does it fall back to a shorter ending ("집으")
        ("iphone이", "iphone"),
    ],
)
def test_one_trailing_particle_is_stripped_when_two_syllables_stay(word: str, term: str) -> None:
    assert terms([word]) == [term]


def test_hashtags_keep_their_hash_and_are_not_the_bare_word() -> None:
    texts = ["#Outage again", "big outage #outage", "outage in 부산 ＃OUTAGE"]
    assert recurring_terms(texts, top=2) == [("#outage", 3), ("outage", 2)]


def test_handles_links_numbers_and_single_characters_are_dropped() -> None:
    text = (
        "@Acme_KR ＠acme_help @someone x 2 1234 3.5 10:30 https://t.co/AbC123 "
        "http://example.com/path t.co/zzz refund"
    )
    assert terms([text]) == ["refund"]


def test_a_bare_domain_leaves_no_com_behind() -> None:
    assert terms(["see acme.com for the refund form"]) == ["see", "acme", "refund", "form"]


def test_stop_words_are_dropped_in_both_languages() -> None:
    texts = [
        "RT I don't think the app is working &amp; it's not ok",
        "그런데 진짜 너무 앱이 안 돼요 ㅋㅋㅋ ㅠㅠ 저희는 정말 있어요",
    ]
    assert terms(texts) == ["think", "app", "working", "앱이", "돼요"]


def test_a_possessive_is_the_word() -> None:
    assert recurring_terms(["Acme's app", "acme’s support", "acme support"]) == [
        ("acme", 3),
        ("support", 2),
    ]


def test_emoji_are_dropped_and_do_not_glue_words() -> None:
    texts = ["love🔥this product 👍🏽", "❤️❤️ product 👩\u200d💻"]
    assert recurring_terms(texts) == [("product", 2)]


def test_other_scripts_are_tokenised_by_word_characters() -> None:
    assert terms(["配送が遅い。返金して", "配送が遅い"]) == ["配送が遅い", "返金して"]


def test_a_term_counts_once_per_text() -> None:
    spam = "refund refund REFUND Refund #refund #refund 환불 환불이 환불을"
    texts = [spam, "delivery refund", "delivery", "delivery 환불"]
    assert recurring_terms(texts) == [("delivery", 3), ("refund", 2), ("환불", 2)]


def test_exclude_drops_the_brands_own_names_case_insensitively() -> None:
    texts = [
        "@acme_kr Acme_KR ACME coffee is cold, #Acme",
        "acme coffee cold again",
        "아크미 커피가 식었어요",
        "아크미가 왜",
    ]
    found = recurring_terms(texts, exclude=["@acme_kr", "Acme Coffee", "아크미"])
    assert found == [("cold", 2)]


def test_min_count_is_inclusive_and_top_cuts() -> None:
    texts = ["alpha beta gamma", "alpha beta", "alpha"]
    assert recurring_terms(texts, min_count=2) == [("alpha", 3), ("beta", 2)]
    assert recurring_terms(texts, min_count=3) == [("alpha", 3)]
    assert recurring_terms(texts, min_count=4) == []
    assert recurring_terms(texts, min_count=1, top=2) == [("alpha", 3), ("beta", 2)]
    assert recurring_terms(texts, top=0) == []


def test_ties_keep_the_order_of_first_appearance() -> None:
    texts = ["zebra mango", "apple 배송이", "mango zebra apple 배송"]
    assert recurring_terms(texts) == [("zebra", 2), ("mango", 2), ("apple", 2), ("배송", 2)]


def test_first_appearance_counts_any_form_of_the_term() -> None:
    # "배송을" comes before "배송", so 배송 ranks ahead of login on the tie.
    texts = ["배송을 login", "login 배송"]
    assert recurring_terms(texts) == [("배송", 2), ("login", 2)]


def test_texts_may_be_any_iterable_read_once() -> None:
    def stream() -> Iterator[str]:
        yield "refund please"
        yield "refund now"

    assert recurring_terms(stream()) == [("refund", 2)]


@pytest.mark.parametrize("texts", [[], [""], ["   "], ["@acme https://t.co/x 🔥 123"]])
def test_nothing_to_say_is_an_empty_list(texts: list[str]) -> None:
    assert recurring_terms(texts) == []
