"""Grouping mentions by what they are about: the features a mention is read as, named
groups first, and the quality measured on the labelled launch-weekend set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.surge.grouping import Grouper, features, purity

LABELLED = Path(__file__).parents[3] / "bench" / "data" / "surge_mentions.jsonl"


def labelled() -> list[dict[str, str]]:
    with LABELLED.open(encoding="utf-8") as rows:
        return [json.loads(row) for row in rows]


def test_a_korean_word_is_its_noun_whatever_particle_or_ending_it_carries() -> None:
    for text in ("배송이 늦어요", "배송은 언제", "배송을 기다려요", "배송 지연"):
        assert features(text)["w:배송"] == 1, text
    assert "w:취소" in features("예약 취소하면 환불되나요")
    assert "w:환불" in features("환불해주세요")
    assert "w:개통" in features("개통됐어요")


def test_handles_links_numbers_and_predicates_say_nothing_of_the_topic() -> None:
    found = features("@olleh_kt 3일째 기다리는 중 https://t.co/abc 있나요")
    assert not any("olleh" in term or "t.co" in term for term in found)
    assert "w:있나요" not in found and "w:있나" not in found
    assert features("@acme where is my phone?") == Counter({"w:phone": 1})


def test_mentions_of_one_thing_group_together_in_both_languages() -> None:
    grouper = Grouper()
    first = grouper.assign("@olleh_kt 아이폰 배송 언제 되나요?")
    assert grouper.assign("배송이 아직도 안 왔어요 ㅠㅠ @olleh_kt").key == first.key
    assert grouper.assign("@olleh_kt 유심비 따로 내야 하나요").key != first.key
    english = grouper.assign("@acme where is my delivery? still not shipped")
    assert grouper.assign("@acme my delivery has not shipped yet!!").key == english.key
    assert "배송" in grouper.label(first)


def test_a_named_group_takes_every_mention_with_its_words_first() -> None:
    grouper = Grouper(named=[("Delivery delays", ["배송", "택배", "delivery"])])
    for text in (
        "배송 언제 와요",
        "택배 기사님 연락이 없어요",
        "my delivery is late",
        "배송비 환불",
    ):
        group = grouper.assign(text)
        assert group.name == "Delivery delays" and group.key == 0, text
    assert grouper.assign("유심비 얼마예요").name is None


def test_grouping_on_the_labelled_set_is_pure_and_keeps_topics_together() -> None:
    """576 launch-weekend mentions in 8 topics, Korean and English (bench/data): at least
    85% of them sit in a group whose topic is theirs, in fewer than 64 groups. The
    figures, and a morphological analyser's for comparison, are printed by
    `make bench-grouping`."""
    rows = labelled()
    assert len(rows) >= 500 and {r["label"] for r in rows} >= {"delivery", "fees"}
    grouper = Grouper()
    pairs = [(grouper.assign(row["text"]).key, row["label"]) for row in rows]
    assert purity(pairs) >= 0.85
    assert len({key for key, _ in pairs}) == len(grouper.groups) < 64


def test_purity_is_the_share_in_a_group_whose_topic_is_theirs() -> None:
    assert purity([(1, "a"), (1, "a"), (2, "b")]) == 1.0
    assert purity([(1, "a"), (1, "b"), (1, "b"), (2, "a")]) == 0.75
    assert purity([]) == 0.0


def test_past_the_cap_a_mention_joins_the_closest_group_or_everything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.surge.grouping as grouping

    monkeypatch.setattr(grouping, "MAX_GROUPS", 2)
    grouper = Grouper()
    delivery = grouper.assign("배송 언제 와요")
    fees = grouper.assign("유심비 얼마예요")
    assert grouper.assign("배송비도 유심비도 궁금해요").key in (delivery.key, fees.key)
    rest = grouper.assign("오늘 날씨 좋네요 weather lovely")
    assert rest.name == "Everything else"
    assert grouper.assign("점심 메뉴 추천 lunch").key == rest.key
    assert len(grouper.groups) == 3
