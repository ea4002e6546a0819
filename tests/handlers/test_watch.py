"""Watched words through Slack: an owner watches words for an account, X's recent search
brings the posts that did not mention it into the chosen channel as marked cards, the
Reply button says what X allows for them, each watch shows its month's cost and stops at
its budget, and every wrong query, channel or budget is answered clearly."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import App
from sqlalchemy import select

from bot.inbox.cards import ACTION_REPLY
from bot.inbox.cards import METADATA_EVENT as CARD_EVENT
from bot.inbox.watch_reader import WatchReader
from bot.runtime import Runtime
from storage.models import Account, Mention, Watch
from storage.watches import running_watches
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give, run_jobs
from tests.fakes.slack_api import FakeSlack
from tests.fakes.x_api import FakeX
from tests.handlers.signed import command, make_app, press

WATCH_CHANNEL = "C0WATCH"
IN_WATCH = f"in <#{WATCH_CHANNEL}|brand-watch>"


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = OWNER) -> str:
    assert command(app, fake_slack, text, user=user).status == 200
    return str(fake_slack.responses[-1]["text"])


def command_blocks(app: App, fake_slack: FakeSlack, text: str) -> list[dict[str, Any]]:
    assert command(app, fake_slack, text, user=OWNER).status == 200
    return list(fake_slack.responses[-1].get("blocks") or [])


def watches(rt: Runtime) -> list[Watch]:
    with rt.sessions() as session:
        return list(session.scalars(select(Watch).order_by(Watch.id)))


def read_all(rt: Runtime) -> int:
    """One read of every running watch, as the listener makes it, then the cards posted."""
    reader = WatchReader(rt)
    with rt.sessions() as session:
        running = running_watches(session)
    stored = sum(reader.read(watch, account) for watch, account in running)
    run_jobs(rt)
    return stored


def cards_in(fake_slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in fake_slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == CARD_EVENT
    ]


def setup_team(rt: Runtime, fake_slack: FakeSlack) -> App:
    fake_slack.add_channel(WATCH_CHANNEL, "brand-watch")
    give(rt, fake_slack, AGENT, "agent", "^BK")
    give(rt, fake_slack, OWNER, "owner", "^OW")
    return make_app(rt)


def test_watched_words_come_as_marked_cards_in_their_channel_once_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack)
    said = roost(app, fake_slack, f'watch @brand "아이폰 배송" -from:brand {IN_WATCH} budget $5')
    assert "Watching X for" in said and f"<#{WATCH_CHANNEL}>" in said and "$5.00" in said
    assert "$0.005 for each post read" in said
    assert "Only an owner" in roost(app, fake_slack, 'watch @brand "갤럭시"', user=AGENT)
    (watch,) = watches(rt)
    assert watch.query == '"아이폰 배송" -from:brand' and watch.budget_micros == 5_000_000

    for name in ("alice", "bob", "carol"):
        fake_x.add_user(name)
    asked = fake_x.post_mention([], author="alice", text="아이폰 배송 언제 와요? <!channel>")
    fake_x.post_mention([], author="brand", text="아이폰 배송 안내드립니다")  # its own
    fake_x.post_mention("brand", author="bob", text="@brand 아이폰 배송 문의")  # a mention
    fake_x.retweet("carol", asked["id"])  # a retweet
    fake_x.post_mention([], author="carol", text="갤럭시 배송")  # other words

    assert read_all(rt) == 1
    (card,) = cards_in(fake_slack, WATCH_CHANNEL)
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "Watched words" in shown and "not addressed to @brand" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert cards_in(fake_slack, BRAND_CHANNEL) == []
    with rt.sessions() as session:
        (found,) = session.scalars(select(Mention)).all()
        assert found.watch_id == watch.id and found.summons is False
        assert found.sla_due_at is None and found.assignee_id is None

    fake_x.post_mention([], author="bob", text="아이폰 배송 아직이요")
    assert read_all(rt) == 1  # only what is new since the last read
    assert len(cards_in(fake_slack, WATCH_CHANNEL)) == 2
    assert read_all(rt) == 0

    # Listening, not the inbox: nothing waits for an answer, and the figures leave them out.
    assert "Nothing waits without an assignee" in roost(app, fake_slack, "inbox", user=AGENT)
    digest = json.dumps(command_blocks(app, fake_slack, "digest"), ensure_ascii=False)
    assert "아이폰" not in digest

    listed = roost(app, fake_slack, "watch", user=AGENT)
    # Two posts ($0.005 each) by two authors ($0.010 each), before X's daily deduplication.
    assert "$0.03 of $5.00" in listed and "2 posts read" in listed and "reading" in listed

    press(app, fake_slack, card, ACTION_REPLY)
    opened = fake_slack.wait_for(lambda: len(fake_slack.views) >= 2 and fake_slack.views)
    said = json.dumps(opened[-1]["view"]["blocks"])
    assert "came from watched words" in said and "DM" in said


def test_queries_channels_and_budgets_that_cannot_be_are_answered_and_nothing_is_saved(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack)
    said = roost(app, fake_slack, f"watch @brand -from:brand -is:reply {IN_WATCH}")
    assert "X refuses the search" in said and "non-negation term" in said
    assert "Nothing was saved" in said
    said = roost(app, fake_slack, f"watch @brand (배송 OR 택배 {IN_WATCH}")
    assert "X refuses the search" in said
    said = roost(app, fake_slack, f"watch @brand {'배송 ' * 200}{IN_WATCH}")
    assert "X takes 512" in said and "Shorten it by" in said
    assert "no account @nobody" in roost(app, fake_slack, f"watch @nobody 배송 {IN_WATCH}")
    fake_slack.add_channel("C0ELSE", "elsewhere", bot_is_member=False)
    assert "Roost is not in" in roost(app, fake_slack, "watch @brand 배송 in <#C0ELSE|elsewhere>")
    assert "is not a budget" in roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH} budget $0")
    assert "is not a budget" in roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH} budget lots")
    assert "Give the words" in roost(app, fake_slack, f"watch @brand {IN_WATCH}")
    assert watches(rt) == []
    # Typed where the cards should go, the channel is the one it was typed in.
    assert "Watching X for" in roost(app, fake_slack, "watch @brand 배송")
    assert watches(rt)[0].channel_id == BRAND_CHANNEL


def test_a_watch_stops_at_its_budget_tells_its_channel_once_and_resumes_when_raised(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack)
    roost(app, fake_slack, f"watch @brand 택배 {IN_WATCH} budget $0.50")
    for n in range(30):
        fake_x.add_user(f"fan{n}")
        fake_x.post_mention([], author=f"fan{n}", text=f"택배 {n}번 어디죠")

    # $0.50 pays for 20 posts at their worst ($0.025 each): 20 are read, at $0.015 each.
    assert read_all(rt) == 20
    assert read_all(rt) == 0  # stopped for the month
    notices = [m["text"] for m in fake_slack.messages(WATCH_CHANNEL) if "stopped at" in m["text"]]
    assert len(notices) == 1 and "$0.30 of $0.50" in notices[0]
    assert "stopped at its budget" in roost(app, fake_slack, "watch @brand")
    assert fake_x.spend("brand") <= 0.50

    said = roost(app, fake_slack, "watch budget 1 $5")
    assert "reads again from where it stopped" in said
    assert read_all(rt) == 10
    assert len(cards_in(fake_slack, WATCH_CHANNEL)) == 30  # each once
    assert "Only an owner" in roost(app, fake_slack, "watch budget 1 $500", user=AGENT)


def test_a_stopped_watch_reads_no_more_and_a_query_x_stops_taking_is_told_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack)
    roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH}")
    assert "Only an owner" in roost(app, fake_slack, "watch stop 1", user=AGENT)
    assert "Stopped watch 1" in roost(app, fake_slack, "watch stop 1")
    fake_x.add_user("alice")
    fake_x.post_mention([], author="alice", text="배송 문의")
    searches = len(fake_x.calls_to("/2/tweets/search/recent"))
    assert read_all(rt) == 0
    assert len(fake_x.calls_to("/2/tweets/search/recent")) == searches
    assert "stopped by" in roost(app, fake_slack, "watch")
    assert "There is no watch 9" in roost(app, fake_slack, "watch stop 9")

    # A query X took once and refuses now (its rules changed): the watch stops, once.
    with rt.sessions.begin() as session:
        session.add(
            Watch(
                account_id=brand.id,
                query="-배송",
                channel_id=WATCH_CHANNEL,
                budget_micros=1_000_000,
                created_by=OWNER,
                created_at=rt.clock(),
                month_posts=0,
                month_micros=0,
            )
        )
    reader = WatchReader(rt)
    for _ in range(2):
        reader.cycle()
        run_jobs(rt)
    told = [m["text"] for m in fake_slack.messages(WATCH_CHANNEL) if "non-negation" in m["text"]]
    assert len(told) == 1 and "Watch 2" in told[0]
    assert watches(rt)[1].refused is not None
