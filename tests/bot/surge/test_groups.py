"""A surge's mentions grouped as they come and kept: each mention's group, each group's
count, label and samples; the grouper's state rebuilt when Redis lost it; groups a team
named by their words; what the channel and `/roost surge` say of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.errors import Refused
from bot.runtime import Runtime
from bot.surge.detect import check_surges, surge_command
from bot.surge.groups import group_command, group_surge, group_surges, state_key
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from storage.mentions import IncomingMention, store_mentions
from storage.models import Account, Mention, Surge, SurgeGroup
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give

DELIVERY = [
    "@brand 아이폰 배송 언제 되나요?",
    "배송이 아직도 안 왔어요 ㅠㅠ",
    "@brand 배송 지연 공지 좀",
]
FEES = ["@brand 유심비 따로 내야 하나요", "가입비 유심비 둘 다 내요?", "@brand 유심비 면제 맞나요"]


def arrive(rt: Runtime, account: Account, texts: list[str], start: int) -> None:
    now = rt.clock()
    mentions = [
        IncomingMention(50_000 + start + n, 50_000 + start + n, 200, text, now)
        for n, text in enumerate(texts)
    ]
    with rt.sessions.begin() as session:
        store_mentions(session, account.id, mentions, now)


def surge_on(rt: Runtime, fake_slack: FakeSlack) -> Surge:
    give(rt, fake_slack, OWNER, "owner", None)
    surge_command(rt, Who(fake_slack.team_id, OWNER), "on @brand")
    with rt.sessions() as session:
        return session.scalars(select(Surge)).one()


def groups(rt: Runtime) -> list[SurgeGroup]:
    with rt.sessions() as session:
        return list(session.scalars(select(SurgeGroup).order_by(SurgeGroup.key)))


def test_a_surges_mentions_are_grouped_once_with_counts_labels_and_samples(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    surge = surge_on(rt, fake_slack)
    arrive(rt, brand, DELIVERY + FEES, 0)
    assert group_surges(rt) == 6
    assert group_surges(rt) == 0  # nothing new
    delivery, fees = groups(rt)
    assert delivery.size == 3 and "배송" in delivery.label and len(delivery.samples) == 3
    assert fees.size == 3 and "유심비" in fees.label
    with rt.sessions() as session:
        assert {m.surge_group_id for m in session.scalars(select(Mention))} == {
            delivery.id,
            fees.id,
        }
    arrive(rt, brand, ["@brand 배송 언제 와요 제발"], 100)
    assert group_surge(rt, surge) == 1
    assert groups(rt)[0].size == 4


def test_a_redis_that_lost_the_grouping_gets_it_rebuilt_from_the_database(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    surge = surge_on(rt, fake_slack)
    arrive(rt, brand, DELIVERY + FEES, 0)
    group_surges(rt)
    rt.redis.delete(state_key(surge.id))
    arrive(rt, brand, ["유심비 얼마예요 @brand", "@brand 배송 아직이에요"], 100)
    group_surges(rt)
    delivery, fees = groups(rt)
    assert (delivery.size, fees.size) == (4, 4)


def test_a_named_group_takes_its_words_first_and_only_owners_name_one(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(rt, fake_slack, AGENT, "agent", "^BK")
    agent, owner = Who(fake_slack.team_id, AGENT), Who(fake_slack.team_id, OWNER)
    surge_on(rt, fake_slack)
    with pytest.raises(Refused, match="Only an owner"):
        group_command(rt, agent, '@brand 배송|delivery "Delivery delays"')
    answer, _ = group_command(rt, owner, '@brand 배송|택배|delivery "Delivery <!channel>"')
    assert "go to “Delivery &lt;!channel&gt;” first" in answer
    assert "배송 | 택배 | delivery" in group_command(rt, agent, "@brand")[0]
    arrive(rt, brand, [*DELIVERY, "@brand 택배 기사님 연락이 없어요"], 0)
    group_surges(rt)
    (named,) = [g for g in groups(rt) if g.name]
    assert named.name == "Delivery <!channel>" and named.size == 4
    assert "Dropped" in group_command(rt, owner, '@brand off "Delivery <!channel>"')[0]
    with pytest.raises(ValueError, match="quote is not closed"):
        group_command(rt, owner, '@brand 배송 "Delivery')


def test_the_channel_hears_what_a_surge_was_about_when_it_ends(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    arrive(rt, brand, DELIVERY + DELIVERY[:2] + FEES, 0)
    owner = Who(fake_slack.team_id, OWNER)
    status, _ = surge_command(rt, owner, "")
    assert "*@brand*: a surge since" in status
    group_surges(rt)
    assert "(0 answered)" in surge_command(rt, owner, "")[0]
    later = rt.clock() + timedelta(minutes=20)
    rt.clock = lambda: later
    surge_command(rt, owner, "off @brand")
    ended = [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "is over" in m["text"]][0]
    about = ended.split("What they were about:\n")[1].splitlines()
    assert about[0].startswith("• *배송") and ": 5 (0 answered)" in about[0]
    assert "유심비" in about[1] and ": 3 (0 answered)" in about[1]
    check_surges(rt)  # ended: nothing more is said
    assert len([m for m in fake_slack.messages(BRAND_CHANNEL) if "is over" in m["text"]]) == 1


def test_mentions_before_a_surge_are_not_its_own(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    arrive(rt, brand, DELIVERY, 0)
    later = rt.clock() + timedelta(hours=1)
    rt.clock = lambda: later
    surge_on(rt, fake_slack)
    arrive(rt, brand, FEES, 100)
    assert group_surges(rt) == 3


def test_the_next_digest_says_what_the_surge_was_about_and_how_long_people_waited(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    from bot.digest.daily import gather, plan_of

    surge_on(rt, fake_slack)
    arrive(rt, brand, DELIVERY + FEES, 0)
    group_surges(rt)
    with rt.sessions.begin() as session:
        first = session.scalars(select(Mention).order_by(Mention.id)).first()
        assert first is not None
        first.first_response_at = first.received_at + timedelta(minutes=12)
    later = rt.clock() + timedelta(minutes=45)
    rt.clock = lambda: later
    surge_command(rt, Who(fake_slack.team_id, OWNER), "off @brand")

    facts = gather(rt, BRAND_CHANNEL, plan_of(rt, BRAND_CHANNEL), later + timedelta(hours=1))

    (line,) = facts.surges
    assert "*@brand* had a surge from" in line and "for 45 min" in line
    assert "6 mentions grouped, 1 answered" in line
    assert "the longest wait for a first reply 1 h 45 min" in line  # the unanswered wait on
    assert "(1 answered)" in line and "(0 answered)" in line


def test_a_grouping_state_behind_the_database_is_rebuilt_not_trusted(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    """A run that died after its database commit left Redis one batch behind."""
    surge = surge_on(rt, fake_slack)
    arrive(rt, brand, DELIVERY, 0)
    group_surges(rt)
    behind = rt.redis.get(state_key(surge.id))
    arrive(rt, brand, FEES, 100)
    group_surges(rt)
    assert behind is not None
    rt.redis.set(state_key(surge.id), behind)
    arrive(rt, brand, ["@brand 유심비 얼마예요"], 200)
    group_surges(rt)
    delivery, fees = groups(rt)
    assert (delivery.size, fees.size) == (3, 4)
