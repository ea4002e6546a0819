"""In a surge, group cards instead of a card a mention: held mentions listed in their
group's thread with Open, the cards updated as groups grow, everything a customer or a
team wrote escaped, and every call paced under Slack's limits."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.errors import Refused
from bot.inbox.delivery import sweep_mentions
from bot.inbox.intake import Intake
from bot.runtime import Runtime
from bot.slack.pace import Pace
from bot.surge.cards import (
    OPEN_ACTION,
    RESOLVE_ACTION,
    assign_group,
    carded_groups,
    open_mention,
    publish_surge,
    publish_surges,
    release_unlisted,
    resolve_group,
)
from bot.surge.detect import surge_command
from bot.surge.groups import group_command
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Event, Mention, Surge, SurgeGroup
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give, run_jobs

TEXTS = [
    "아이폰 배송 언제 되나요?",
    "배송이 아직도 안 왔어요 ㅠㅠ",
    "배송 지연 공지 좀 해주세요",
    "유심비 따로 내야 하나요",
    "가입비 유심비 둘 다 내요?",
]


def surge_on(rt: Runtime, fake_slack: FakeSlack) -> None:
    give(rt, fake_slack, OWNER, "owner", None)
    surge_command(rt, Who(fake_slack.team_id, OWNER), "on @brand")


FAST = {"chat.postMessage": (1000.0, 1000), "chat.update": (1000.0, 1000)}
"""A pace no test waits on, where pacing is not what is tested."""


def mentions_in(rt: Runtime, fake_x: FakeX, brand: Account, texts: list[str]) -> None:
    """Each text a mention of @brand from a fan of its own, read and delivered."""
    for text in texts:
        fan = fake_x.add_user(f"fan{next(FANS)}")["username"]
        fake_x.post_mention("brand", author=fan, text=f"@brand {text}")
    Intake(rt).poll(brand)
    run_jobs(rt)


FANS = itertools.count()


def top_level(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]


def group_cards(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in top_level(fake_slack) if m["text"].startswith("Surge group")]


def opens(message: dict) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in message["blocks"]
        if b.get("accessory", {}).get("action_id") == OPEN_ACTION
    ]


def test_in_a_surge_mentions_wait_for_their_group_card_not_a_card_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    mentions_in(rt, fake_x, brand, TEXTS * 3)  # 15 mentions, two topics
    assert group_cards(fake_slack) == [] and len(top_level(fake_slack)) == 1  # the notice
    assert sweep_mentions(rt, brand.id, everything=True) == 0  # held, not lost

    publish_surges(rt, Pace(rt.redis, FAST))

    cards = group_cards(fake_slack)
    assert len(cards) == 2
    delivery = next(c for c in cards if "배송" in c["text"])
    assert "*배송" in delivery["blocks"][0]["text"]["text"]
    assert (
        ": 9 mentions of *@brand* in this surge, 0 answered, 0 resolved"
        in delivery["blocks"][0]["text"]["text"]
    )
    listed = fake_slack.thread(BRAND_CHANNEL, delivery["ts"])
    assert [len(opens(m)) for m in listed] == [9]
    with rt.sessions() as session:
        assert session.query(Mention).filter(Mention.surge_listed_at.is_(None)).count() == 0


def test_a_group_card_grows_in_place_and_lists_ten_a_message(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    mentions_in(rt, fake_x, brand, TEXTS[:3])
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    assert publish_surges(rt, Pace(rt.redis, FAST)) == 0  # nothing new: no call
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(12)])
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    (grown,) = group_cards(fake_slack)
    assert grown["ts"] == card["ts"] and grown["edits"]
    assert (
        ": 15 mentions"
        in fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"][0]["text"]["text"]
    )
    assert [len(opens(m)) for m in fake_slack.thread(BRAND_CHANNEL, card["ts"])] == [3, 10, 2]


def test_what_customers_and_the_team_wrote_is_escaped_on_the_cards(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    group_command(rt, Who(fake_slack.team_id, OWNER), '@brand 배송 "<!here> Delivery"')
    mentions_in(rt, fake_x, brand, ["<!channel> 배송 <@U0BOSS> where?"] * 3)
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    (board,) = [m for m in top_level(fake_slack) if "switched surge mode on" in m["text"]]
    shown = json.dumps(card["blocks"]) + json.dumps(fake_slack.thread(BRAND_CHANNEL, card["ts"]))
    shown += board["text"]
    assert "<!channel>" not in shown and "<!here>" not in shown and "<@U0BOSS>" not in shown
    assert "&lt;!here&gt; Delivery" in shown and "&lt;!channel&gt;" in shown


def test_open_gives_a_listed_mention_its_own_card_to_act_on(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    mentions_in(rt, fake_x, brand, TEXTS[:2])
    publish_surges(rt, Pace(rt.redis, FAST))
    with rt.sessions() as session:
        first = session.scalars(select(Mention).order_by(Mention.id)).first()
    assert first is not None
    with pytest.raises(Refused):
        open_mention(rt, Who(fake_slack.team_id, "U0STRANGER"), first.id)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    assert open_mention(rt, Who(fake_slack.team_id, AGENT), first.id) == "posted"
    card = [m for m in top_level(fake_slack) if m["text"].startswith("Mention of @brand")]
    assert len(card) == 1 and TEXTS[0] in card[0]["text"]
    assert open_mention(rt, Who(fake_slack.team_id, AGENT), first.id) != "posted"  # once


def test_a_run_makes_no_more_calls_to_a_channel_than_slacks_pace_allows(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """Ten groups: the eight largest get cards, the two others are counted on the board
    and listed in its thread. A run posts Slack's burst less the one it keeps for the
    team's own messages (two) and the next runs go on, at a message a second, until
    every mention is listed."""
    surge_on(rt, fake_slack)
    topics = [
        "배송",
        "유심비",
        "개통",
        "재고",
        "환불",
        "가입비",
        "선가입",
        "매장",
        "요금",
        "위약금",
    ]
    sizes = dict(zip(topics, [6, 6, 5, 5, 4, 4, 4, 3, 1, 1], strict=True))
    mentions_in(rt, fake_x, brand, [f"{t} 문의드려요" for t in topics for _ in range(sizes[t])])
    with rt.sessions() as session:
        surge = session.scalars(select(Surge)).one()
    before = len(fake_slack.messages(BRAND_CHANNEL))
    publish_surges(rt)  # groups them, and posts Slack's burst but one: two cards or lists
    assert len(fake_slack.messages(BRAND_CHANNEL)) - before == 2
    assert Pace(rt.redis).wait("chat.postMessage", BRAND_CHANNEL, longest=0)  # the team's
    publish_surge(rt, surge, Pace(rt.redis, FAST))
    assert len(group_cards(fake_slack)) == 8
    (board,) = [m for m in top_level(fake_slack) if "switched surge mode on" in m["text"]]
    assert "*So far:* 39 mentions in 10 groups, 0 answered." in board["text"]
    assert "*요금*: 1 (0 answered), listed in this thread" in board["text"]
    listed = [
        block["accessory"]["value"]
        for message in fake_slack.thread(BRAND_CHANNEL, board["ts"])
        for block in message.get("blocks") or []
        if "accessory" in block
    ]
    assert len(listed) == 2
    with rt.sessions() as session:
        assert session.query(Mention).filter(Mention.surge_listed_at.is_(None)).count() == 0


def test_mentions_held_for_a_surge_long_over_and_never_listed_get_cards_of_their_own(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """No run listed them before the surge was an hour over (no worker ran, or Slack
    refused all that time): the held mentions are not left out of sight, the sweep
    delivers them as cards."""
    surge_on(rt, fake_slack)
    mentions_in(rt, fake_x, brand, TEXTS[:2])
    surge_command(rt, Who(fake_slack.team_id, OWNER), "off @brand")
    assert sweep_mentions(rt, brand.id, everything=True) == 0  # still its cards' to list
    later = rt.clock() + timedelta(hours=2)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))  # the surge is over: its cards are left be
    assert release_unlisted(rt) == 2  # the sweep
    assert sweep_mentions(rt, brand.id, everything=True) == 2
    run_jobs(rt)
    cards = [m for m in top_level(fake_slack) if m["text"].startswith("Mention of @brand")]
    assert len(cards) == 2


def test_a_reply_in_a_held_mentions_conversation_is_held_with_it_not_left_waiting(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand 배송 언제 와요")
    fake_x.post_mention("brand", author="jane", text="@brand 아직이요?", reply_to=first["id"])
    Intake(rt).poll(brand)
    run_jobs(rt)
    with rt.sessions() as session:
        held = [m.surge_held_at is not None for m in session.scalars(select(Mention))]
    assert held == [True, True]
    publish_surges(rt, Pace(rt.redis, FAST))
    listed = [v for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" in m for v in opens(m)]
    assert len(listed) == 2


def test_resolve_all_resolves_the_groups_open_mentions_once_each_and_says_so(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    mentions_in(rt, fake_x, brand, TEXTS[:3])  # one group: delivery
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    (group_id,) = [
        e["value"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == RESOLVE_ACTION
    ]
    with rt.sessions() as session:
        first = session.scalars(select(Mention).order_by(Mention.id)).first()
    assert first is not None
    give(rt, fake_slack, AGENT, "agent", "^BK")
    agent = Who(fake_slack.team_id, AGENT)
    open_mention(rt, agent, first.id)  # one was opened as a card of its own
    with pytest.raises(Refused):
        resolve_group(rt, Who(fake_slack.team_id, "U0STRANGER"), int(group_id))

    assert "Resolved 3 open mentions" in resolve_group(rt, agent, int(group_id))
    assert "resolved already" in resolve_group(rt, agent, int(group_id))

    with rt.sessions() as session:
        assert {m.status for m in session.scalars(select(Mention))} == {"resolved"}
        events = session.scalars(select(Event).where(Event.kind == "mention.resolved")).all()
    assert len(events) == 3 and all(e.detail["via"] == "group" for e in events)
    run_jobs(rt)  # the opened one's card shows it
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    shows = fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"][0]["text"]["text"]
    assert "0 answered, 3 resolved" in shows


def test_the_group_cards_buttons_work_through_slack(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """Open on a listed mention and Resolve all on the card, as Slack sends them: signed,
    acknowledged at once, the work done after."""
    from tests.handlers.signed import card_click, dispatch, make_app, press

    surge_on(rt, fake_slack)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    mentions_in(rt, fake_x, brand, TEXTS[:3])
    publish_surges(rt, Pace(rt.redis, FAST))
    app = make_app(rt)
    (card,) = group_cards(fake_slack)
    (listing,) = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    block = listing["blocks"][0]
    action = {
        "action_id": OPEN_ACTION,
        "block_id": block["block_id"],
        "type": "button",
        "value": block["accessory"]["value"],
    }
    assert dispatch(app, card_click(fake_slack, action)).status == 200
    run_jobs(rt)
    assert any(m["text"].startswith("Mention of @brand") for m in top_level(fake_slack))
    assert press(app, fake_slack, card, RESOLVE_ACTION).status == 200
    assert any("Resolved 3 open mentions" in r.get("text", "") for r in fake_slack.responses)


def test_a_group_is_given_to_one_person_with_one_dm_not_one_a_mention(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    from tests.handlers.signed import card_click, dispatch, make_app

    surge_on(rt, fake_slack)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    mentions_in(rt, fake_x, brand, TEXTS[:3])
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    (actions,) = [b for b in card["blocks"] if b.get("block_id", "").startswith("surge_group:")]
    picker = {
        "action_id": "surge_assign_group",
        "block_id": actions["block_id"],
        "type": "users_select",
        "selected_user": AGENT,
    }
    fake_slack.add_user(AGENT, name="agent")
    dms_before = len(fake_slack.calls_to("conversations.open"))
    app = make_app(rt)
    assert dispatch(app, card_click(fake_slack, picker, user=OWNER)).status == 200
    answers = [r.get("text", "") for r in fake_slack.responses]
    assert any("Gave <@U0AGENT> the 3 open mentions" in text for text in answers)
    assert len(fake_slack.calls_to("conversations.open")) == dms_before + 1  # one DM
    with rt.sessions() as session:
        mentions = list(session.scalars(select(Mention)))
        events = session.scalars(select(Event).where(Event.kind == "mention.assigned")).all()
    assert {m.status for m in mentions} == {"assigned"} and len(events) == 3
    group_id = int(actions["block_id"].split(":")[1])
    owner = Who(fake_slack.team_id, OWNER)
    assert "already" in assign_group(rt, owner, group_id, AGENT)
    fake_slack.add_user("U0NOROLE", name="norole")
    with pytest.raises(Refused, match="has no role"):
        assign_group(rt, owner, group_id, "U0NOROLE")


def test_a_surge_has_a_handful_of_cards_however_its_groups_change() -> None:
    """The eight largest groups of three or more get cards; one that grows into them
    later gets one too, and twelve is the most there ever are."""

    def groups(sizes: list[int], carded: set[int]) -> list[SurgeGroup]:
        found = [
            SurgeGroup(id=n, size=size, slack_ts="1.0" if n in carded else None)
            for n, size in enumerate(sizes)
        ]
        return sorted(found, key=lambda g: -g.size)

    assert carded_groups(groups([9, 8, 7, 6, 5, 4, 3, 3, 3, 2], set())) == set(range(8))
    grown = groups([9, 8, 7, 6, 5, 4, 3, 3, 3, 2, 50, 40], set(range(8)))
    assert carded_groups(grown) == set(range(8)) | {10, 11}
    crowded = groups([1] * 12 + [30] * 8, set(range(10)))
    assert carded_groups(crowded) == set(range(10)) | {12, 13}
