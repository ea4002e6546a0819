"""Watched words through Slack: an owner watches words for an account, X's recent search
brings the posts that did not mention it into the chosen channel as marked cards, the
Reply button says what X allows for them, each watch shows its month's cost and stops at
its budget, and every wrong query, channel or budget is answered clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.errors import XRateLimited
from bot.inbox.cards import ACTION_REPLY
from bot.inbox.cards import METADATA_EVENT as CARD_EVENT
from bot.inbox.intake import Intake, LeaseLost
from bot.inbox.watch_reader import WatchReader
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention, Watch
from storage.watches import running_watches
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give, run_jobs
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


def indexed(fake_x: FakeX, to: str | list[str], *, author: str, text: str) -> dict[str, Any]:
    """A post X has indexed: two seconds old, as a search ends on a whole second."""
    return fake_x.post_mention(
        to, author=author, text=text, created_at=datetime.now(UTC) - timedelta(seconds=2)
    )


def read_all(rt: Runtime) -> int:
    """One read of every running watch, as the listener makes it, then the cards posted.
    Each watch reads as if added a minute ago, so that what X indexed a moment before
    falls in its span."""
    reader = WatchReader(rt)
    with rt.sessions.begin() as session:
        a_minute_ago = rt.clock() - timedelta(minutes=1)
        for watch in session.scalars(select(Watch).where(Watch.created_at > a_minute_ago)):
            watch.created_at = a_minute_ago
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


def setup_team(
    rt: Runtime, fake_slack: FakeSlack, fake_x: FakeX, *, keep_x_lag: bool = False
) -> App:
    """The watch channel, an agent and an owner on @brand. X takes a search's end only
    10 s before the request: unless `keep_x_lag`, that rule and Roost's lag behind it are
    shortened alike, for tests that cannot wait."""
    if not keep_x_lag:
        fake_x.search_lag_seconds = 0
        rt.settings = rt.settings.model_copy(update={"x_search_lag_seconds": 0})
    fake_slack.add_channel(WATCH_CHANNEL, "brand-watch")
    give(rt, fake_slack, AGENT, "agent", "^BK")
    give(rt, fake_slack, OWNER, "owner", "^OW")
    return make_app(rt)


def test_watched_words_come_as_marked_cards_in_their_channel_once_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack, fake_x)
    said = roost(app, fake_slack, f'watch @brand "아이폰 배송" -from:brand {IN_WATCH} budget $5')
    assert "Watching X for" in said and f"<#{WATCH_CHANNEL}>" in said and "$5.00" in said
    assert "$0.005 for each post read" in said
    assert "Only an owner" in roost(app, fake_slack, 'watch @brand "갤럭시"', user=AGENT)
    (watch,) = watches(rt)
    assert watch.query == '"아이폰 배송" -from:brand' and watch.budget_micros == 5_000_000

    for name in ("alice", "bob", "carol"):
        fake_x.add_user(name)
    asked = indexed(fake_x, [], author="alice", text="아이폰 배송 언제 와요? <!channel>")
    indexed(fake_x, [], author="brand", text="아이폰 배송 안내드립니다")  # its own
    indexed(fake_x, "brand", author="bob", text="@brand 아이폰 배송 문의")  # a mention
    fake_x.retweet("carol", asked["id"])  # a retweet
    indexed(fake_x, [], author="carol", text="갤럭시 배송")  # other words

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

    indexed(fake_x, [], author="bob", text="아이폰 배송 아직이요")
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

    # What alice posted about the brand was not a conversation with it.
    fake_x.post_mention("brand", author="alice", text="@brand 배송 문의드려요")
    Intake(rt).poll(brand)
    run_jobs(rt)
    (mention_card,) = [m for m in cards_in(fake_slack, BRAND_CHANNEL) if "문의드려요" in m["text"]]
    assert "earlier conversation" not in json.dumps(mention_card["blocks"])


def test_words_are_read_as_typed_and_options_come_in_either_order(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """Slack escapes a command's & < and >: X is asked for what the person typed, and the
    answer shows it escaped once; `budget` and `in #channel` come in either order."""
    app = setup_team(rt, fake_slack, fake_x)
    said = roost(app, fake_slack, f"watch @brand AT&T <배송> budget $20 {IN_WATCH}")
    assert "`AT&amp;T &lt;배송&gt;`" in said and "$20.00" in said
    (watch,) = watches(rt)
    assert watch.query == "AT&T <배송>" and watch.budget_micros == 20_000_000
    assert watch.channel_id == WATCH_CHANNEL
    asked = fake_x.calls_to("/2/tweets/search/recent")[-1].query["query"]
    assert asked == "(AT&T <배송>) -from:brand -@brand -is:retweet"
    fake_x.add_user("alice")
    indexed(fake_x, [], author="alice", text="AT&T <배송> 늦어요")
    assert read_all(rt) == 1
    said = roost(app, fake_slack, "watch @brand at&t   <배송>")
    assert "Watch 1 already watches" in said and len(watches(rt)) == 1


def test_queries_channels_and_budgets_that_cannot_be_are_answered_and_nothing_is_saved(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack, fake_x)
    said = roost(app, fake_slack, f"watch @brand -from:brand -is:reply {IN_WATCH}")
    assert "X refuses the search" in said and "non-negation term" in said
    assert "Nothing was saved" in said
    said = roost(app, fake_slack, f"watch @brand (배송 OR 택배 {IN_WATCH}")
    assert "X refuses the search" in said
    said = roost(app, fake_slack, f"watch @brand {'배송 ' * 200}{IN_WATCH}")
    assert "X takes 512" in said and "Shorten it by" in said
    assert "No account @nobody" in roost(app, fake_slack, f"watch @nobody 배송 {IN_WATCH}")
    fake_slack.add_channel("C0ELSE", "elsewhere", bot_is_member=False)
    assert "Roost is not in" in roost(app, fake_slack, "watch @brand 배송 in <#C0ELSE|elsewhere>")
    assert "is not a budget" in roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH} budget $0")
    assert "is not a budget" in roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH} budget lots")
    said = roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH} budget $0.20")
    assert "must pay for X's smallest read (10 posts, $0.25" in said
    assert "Give the words" in roost(app, fake_slack, f"watch @brand {IN_WATCH}")
    assert watches(rt) == []
    # Typed where the cards should go, the channel is the one it was typed in.
    assert "Watching X for" in roost(app, fake_slack, "watch @brand 배송")
    assert watches(rt)[0].channel_id == BRAND_CHANNEL


def test_a_watch_stops_at_its_budget_tells_its_channel_once_and_resumes_when_raised(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack, fake_x)
    roost(app, fake_slack, f"watch @brand 택배 {IN_WATCH} budget $0.50")
    for n in range(30):
        fake_x.add_user(f"fan{n}")
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 {n}번 어디죠")

    # $0.50 pays for 20 posts at their worst ($0.025 each): 20 are read, at $0.015 each.
    assert read_all(rt) == 20
    assert read_all(rt) == 0  # stopped for the month
    notices = [m["text"] for m in fake_slack.messages(WATCH_CHANNEL) if "stopped at" in m["text"]]
    assert len(notices) == 1 and "$0.30 of $0.50" in notices[0]
    assert "stopped at its budget" in roost(app, fake_slack, "watch @brand")
    assert fake_x.spend("brand") <= 0.50

    said = roost(app, fake_slack, "watch budget 1 $0.52")
    assert "less than X's smallest read ($0.25)" in said and "reads again on 1 " in said
    assert read_all(rt) == 0
    said = roost(app, fake_slack, "watch budget 1 $5")
    assert "reads again from where it stopped" in said
    assert read_all(rt) == 10  # the ten older posts the first read had not reached
    assert len(cards_in(fake_slack, WATCH_CHANNEL)) == 30  # each once
    # Nothing read twice: the watch counts what X bills, 30 posts and their 30 authors.
    (watch,) = watches(rt)
    assert watch.month_posts == 30 and watch.month_micros == 450_000
    assert fake_x.spend("brand") == 0.45
    indexed(fake_x, [], author="fan0", text="택배 또 늦네")
    assert read_all(rt) == 1 and watches(rt)[0].resume is None
    assert "Only an owner" in roost(app, fake_slack, "watch budget 1 $500", user=AGENT)


def test_a_stopped_watch_reads_no_more_and_a_query_x_stops_taking_is_told_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack, fake_x)
    roost(app, fake_slack, f"watch @brand 배송 {IN_WATCH}")
    assert "Only an owner" in roost(app, fake_slack, "watch stop 1", user=AGENT)
    assert "Stopped watch 1" in roost(app, fake_slack, "watch stop 1")
    fake_x.add_user("alice")
    indexed(fake_x, [], author="alice", text="배송 문의")
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
                created_at=rt.clock() - timedelta(minutes=1),
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


def test_a_cursor_past_xs_reach_starts_again_as_far_back_as_x_reaches(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """X refuses a since_id older than seven days: a watch quiet that long, or stopped at
    its budget, reads on from as far back as X reaches instead of stopping."""
    setup_team(rt, fake_slack, fake_x)
    fake_x.add_user("alice")
    eight_days_ago = rt.clock() - timedelta(days=8)
    old = fake_x.post_mention([], author="alice", text="배송 오래전", created_at=eight_days_ago)
    with rt.sessions.begin() as session:
        session.add(
            Watch(
                account_id=brand.id,
                query="배송",
                channel_id=WATCH_CHANNEL,
                budget_micros=1_000_000,
                created_by=OWNER,
                created_at=eight_days_ago,
                since_id=int(old["id"]),
                since_at=rt.clock(),  # as if the post were recent: X is the judge
                month_posts=0,
                month_micros=0,
            )
        )
    fake_x.post_mention(
        [], author="alice", text="배송 어제", created_at=rt.clock() - timedelta(days=1)
    )
    assert read_all(rt) == 0  # X refused the cursor: it is let go
    (watch,) = watches(rt)
    assert watch.refused is None and watch.since_id is None
    assert read_all(rt) == 1  # from as far back as X reaches: yesterday's, not last week's
    assert "오래전" not in json.dumps(fake_slack.messages(WATCH_CHANNEL), ensure_ascii=False)


def test_with_xs_own_lag_a_new_watch_is_taken_and_reads_what_x_has_indexed(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """X takes a search's start and end only 10 s before the request: Roost checks a query,
    and reads, no later than X_SEARCH_LAG_SECONDS (15 s) ago, so X never refuses it."""
    app = setup_team(rt, fake_slack, fake_x, keep_x_lag=True)
    assert "Watching X for" in roost(app, fake_slack, f"watch @brand 택배 {IN_WATCH}")
    reader = WatchReader(rt)
    reader.cycle()  # added just now: nothing it may read yet, and X is not asked
    assert len(fake_x.calls_to("/2/tweets/search/recent")) == 1  # the check at adding
    with rt.sessions.begin() as session:
        session.scalars(select(Watch)).one().created_at = rt.clock() - timedelta(minutes=1)
    fake_x.add_user("alice")
    fake_x.post_mention(
        [], author="alice", text="택배 30초 전", created_at=rt.clock() - timedelta(seconds=30)
    )
    fake_x.post_mention([], author="alice", text="택배 방금")
    assert read_all(rt) == 1  # the post of a moment ago comes at a later read
    (watch,) = watches(rt)
    assert watch.refused is None and watch.last_error is None
    shown = json.dumps(fake_slack.messages(WATCH_CHANNEL), ensure_ascii=False)
    assert "30초 전" in shown and "방금" not in shown


def test_a_read_x_stops_mid_way_goes_on_from_there_and_a_lost_lease_writes_nothing(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """X's limit on the second page: the next read goes on from that page, nothing read
    twice. A listener whose lease ran out mid-read stops, and keeps nothing of its own."""
    app = setup_team(rt, fake_slack, fake_x)
    roost(app, fake_slack, f"watch @brand 택배 {IN_WATCH}")
    for n in range(150):
        fake_x.add_user(f"fan{n}")
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 {n}")
    read_all(rt)  # two pages: all 150
    assert len(cards_in(fake_slack, WATCH_CHANNEL)) == 150
    for n in range(150):
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 다시 {n}")
    reader = WatchReader(rt)
    with rt.sessions() as session:
        ((watch, account),) = running_watches(session)
    pages = iter([True, False])  # lost before the second page

    def held() -> bool:
        return next(pages)

    with pytest.raises(LeaseLost):
        reader.read(watch, account, still_held=held)
    assert watches(rt)[0].resume is None  # the listener that took over decides

    with rt.sessions() as session:
        ((watch, account),) = running_watches(session)
    asked = len(fake_x.calls_to("/2/tweets/search/recent"))

    def then_limited() -> bool:
        if len(fake_x.calls_to("/2/tweets/search/recent")) == asked + 1:
            fake_x.fail("/2/tweets/search/recent", 429, reset_in=1)
        return True

    with pytest.raises(XRateLimited):
        reader.read(watch, account, still_held=then_limited)
    kept = watches(rt)[0].resume
    assert kept is not None and kept["token"]
    billed = watches(rt)[0].month_micros
    assert read_all(rt) == 50  # the page X refused, and no other
    assert len(cards_in(fake_slack, WATCH_CHANNEL)) == 300
    (watch_row,) = watches(rt)
    assert watch_row.resume is None
    # The one page read again: 50 posts and their authors, as counted before X's dedup.
    assert watch_row.month_micros - billed == 50 * (5_000 + 10_000)


def test_an_end_x_refuses_keeps_the_cursor_and_a_second_budget_stop_is_told_again(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    app = setup_team(rt, fake_slack, fake_x)
    roost(app, fake_slack, f"watch @brand 택배 {IN_WATCH} budget $0.50")
    for n in range(12):
        fake_x.add_user(f"fan{n}")
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 {n}")
    assert read_all(rt) == 12
    (watch,) = watches(rt)
    cursor = watch.since_id
    assert cursor is not None

    # Roost's lag under X's rule (a clock ahead of X's): X refuses the end, not the cursor.
    fake_x.search_lag_seconds = 30
    assert read_all(rt) == 0
    (watch,) = watches(rt)
    assert watch.since_id == cursor and "minimum of 30 seconds" in (watch.last_error or "")
    fake_x.search_lag_seconds = 0

    for n in range(12, 40):
        fake_x.add_user(f"fan{n}")
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 {n}")
    read_all(rt)  # $0.18 spent, $0.32 left: 12 more, then stopped at $0.36
    roost(app, fake_slack, "watch budget 1 $0.90")
    read_all(rt)  # the other 16: $0.60
    for n in range(40, 70):
        fake_x.add_user(f"fan{n}")
        indexed(fake_x, [], author=f"fan{n}", text=f"택배 {n}")
    read_all(rt)  # 12 more, $0.78, and stopped again
    told = [m for m in fake_slack.messages(WATCH_CHANNEL) if "stopped at its budget" in m["text"]]
    assert len(told) == 2 and "of $0.50" in told[0]["text"] and "of $0.90" in told[1]["text"]
