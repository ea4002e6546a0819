"""Roost's numbers for every network's ids: X's are their own; the others' are numbered
once each, below X's, rising as numbered."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from storage.refs import REF_BASE, is_numbered, number, numbers, ref_of, refs_of

POST = "at://did:plc:abc/app.bsky.feed.post/3kq2a7xyz"


def test_an_id_is_numbered_once_and_read_back(engine: Engine) -> None:
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        first = numbers(session, "bluesky", [POST, "did:plc:abc", POST])
    with sessions.begin() as session:
        again = number(session, "bluesky", POST)
        assert refs_of(session, [again, first["did:plc:abc"], REF_BASE + 99]) == {
            again: POST,
            first["did:plc:abc"]: "did:plc:abc",
        }
    assert again == first[POST]
    assert len(first) == 2


def test_numbers_are_below_every_x_id_and_rise_in_order(engine: Engine) -> None:
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        older = numbers(session, "mastodon", ["109", "110"])
        newer = number(session, "mastodon", "111")
    assert older["109"] < older["110"] < newer < 0
    assert all(is_numbered(n) for n in [*older.values(), newer])
    assert not is_numbered(1_900_000_000_000_000_000)


def test_an_x_id_is_its_own_number(engine: Engine) -> None:
    with sessionmaker(engine).begin() as session:
        assert numbers(session, "x", ["1900000000000000001", "5"]) == {
            "1900000000000000001": 1_900_000_000_000_000_001,
            "5": 5,
        }
        assert refs_of(session, [1_900_000_000_000_000_001]) == {
            1_900_000_000_000_000_001: "1900000000000000001"
        }
        assert ref_of(session, 5) == "5"


def test_the_same_id_on_two_networks_is_two_numbers(engine: Engine) -> None:
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        on_mastodon = number(session, "mastodon", "42")
        on_other = number(session, "bluesky", "42")
    assert on_mastodon != on_other


def test_a_number_given_to_nothing_is_refused(engine: Engine) -> None:
    with sessionmaker(engine).begin() as session, pytest.raises(LookupError):
        ref_of(session, -17)
    with sessionmaker(engine).begin() as session, pytest.raises(LookupError):
        ref_of(session, REF_BASE + 99)
