"""What Roost counts of X's bill, against what the fake X bills from its own answers:
equal to the micro-dollar, for reads (deduplicated per day), writes and the stream."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from bot.inbox.intake import Intake
from bot.inbox.stream import StreamListener
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.team.people import Who
from bot.x.meter import day_key, total_key
from bot.x.prices import load_prices
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention, Outbound
from tests.conftest import AGENT, run_jobs, wait_for


def counted(rt: Runtime, account: Account) -> float:
    """Roost's count of the account's X spend so far, in dollars."""
    micros = rt.redis.hgetall(total_key(account.id))
    return round(sum(int(v) for v in micros.values()) / 1_000_000, 6)


def mention_id(rt: Runtime) -> int:
    with rt.sessions() as session:
        found: int = session.query(Mention.id).order_by(Mention.id).first()[0]
    return found


def send(rt: Runtime, fake_slack: FakeSlack, kind: str, text: str) -> None:
    draft = dataclasses.replace(Draft.new(mention_id(rt), kind), text=text)
    assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)


def test_roosts_count_of_the_bill_is_what_x_bills_to_the_cent(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    send(rt, fake_slack, "reply", "@jane on our way")  # a summoned reply
    send(rt, fake_slack, "dm", "Your order number, please?")
    acting.retweet(rt, Who(fake_slack.team_id, AGENT), mention_id(rt))
    run_jobs(rt)
    for n in range(3):
        fake_x.post_mention("brand", author="jane", text=f"@brand and {n}")
    Intake(rt).poll(brand)
    # Read again the same day: X bills each post once, and so does Roost's count.
    Intake(rt).poll(brand, position="1")

    assert fake_x.spend("brand") > 0
    assert counted(rt, brand) == fake_x.spend("brand")
    day = rt.redis.hgetall(day_key(brand.id, rt.clock().strftime("%Y-%m-%d")))
    units = {k.decode(): int(v) for k, v in day.items() if k.endswith(b":units")}
    # jane's four posts and the brand's own retweet (X bills it, though no card shows it)
    assert units["read:post:units"] == 5
    assert units["write:summoned_reply:units"] == 1 and units["write:dm:units"] == 1
    assert units["write:user_interaction:units"] == 1


def test_owned_reads_are_counted_at_the_owned_price(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.app_owner = str(brand.x_user_id)
    rt.settings = rt.settings.model_copy(update={"x_app_owner": "brand"})
    fake_x.add_user("jane")
    for n in range(5):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)
    prices = load_prices()
    users = prices.reads["user"]  # jane, expanded as the author
    assert (
        counted(rt, brand)
        == fake_x.spend("brand")
        == round(5 * prices.reads["owned_post"] + users, 6)
    )


def test_the_stream_and_its_back_fill_never_pay_twice_for_one_post(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    listener = StreamListener(rt, lease_seconds=1.5, retry_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: fake_x.open_streams == 1, timeout=5)
        tweets = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(3)]
        wait_for(lambda: rt.redis.hgetall(total_key(brand.id)) and counted(rt, brand) >= 0.015)
        fake_x.drop_streams(after_lines=0)  # the reconnect back-fills: the same posts again
        wait_for(lambda: listener.stream is not None and listener.stream.backfills >= 2, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert tweets
    assert counted(rt, brand) == round(fake_x.spend(None) + fake_x.spend("brand"), 6)
    prices = load_prices()
    assert counted(rt, brand) == round(3 * prices.reads["post"] + prices.reads["user"], 6)


@pytest.mark.parametrize("bad", ['{"as_of": "x"}', "not json"])
def test_a_price_file_that_is_not_one_is_named(tmp_path: Any, bad: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(bad)
    with pytest.raises(ValueError, match="is not a price list"):
        load_prices(path)


@pytest.mark.parametrize(
    ("method", "path", "sent", "answer", "expected"),
    [
        ("POST", "/2/tweets", {"text": "see https://x.co/a"}, {}, ["write:post_with_url"]),
        (
            "POST",
            "/2/tweets",
            {"text": "hi", "reply": {"in_reply_to_tweet_id": "1"}},
            {},
            ["write:summoned_reply"],
        ),
        ("POST", "/2/tweets", {"text": "hi"}, {}, ["write:post"]),
        ("POST", "/2/tweets", {"text": "see roost.example.com/x"}, {}, ["write:post_with_url"]),
        (
            "GET",
            "/2/users/by/username/jane",
            None,
            {"data": {"id": "7", "username": "jane"}},
            ["read:user"],
        ),
        ("POST", "/2/dm_conversations/with/7/messages", {"text": "hi"}, {}, ["write:dm"]),
        ("POST", "/2/users/1/retweets", {"tweet_id": "2"}, {}, ["write:user_interaction"]),
        ("DELETE", "/2/users/1/retweets/2", None, {}, ["write:user_interaction"]),
        ("GET", "/2/tweets/search/stream/rules", None, {"data": [{"id": "9"}]}, []),
        ("POST", "/2/media/upload/initialize", {"total_bytes": 1}, {"data": {"id": "3"}}, []),
        (
            "GET",
            "/2/tweets/5/retweeted_by",
            None,
            {"data": [{"id": "1", "username": "a"}]},
            ["read:user"],
        ),
        (
            "GET",
            "/2/dm_conversations/with/7/dm_events",
            None,
            {"data": [{"id": "e1"}], "includes": {"users": [{"id": "7"}]}},
            ["read:dm_event", "read:user"],
        ),
    ],
)
def test_each_call_is_priced_as_xs_list_says(
    method: str, path: str, sent: Any, answer: Any, expected: list[str]
) -> None:
    from bot.x.prices import charges

    assert [c.kind for c in charges(method, path, sent, answer, owned=False)] == expected


def test_a_retweet_whose_answer_was_lost_is_confirmed_by_the_cheapest_read(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    """The retweeters list bills a user read for every retweeter (up to $3 for three pages);
    the account's own timeline shows its retweet for the price of a post read."""
    fans = [fake_x.add_user(f"fan{n}") for n in range(30)]
    with rt.sessions() as session:
        tweet_id = str(session.query(Mention.tweet_id).scalar())
    for fan in fans:
        fake_x.retweet(fan["username"], tweet_id)
    before = fake_x.spend("brand")
    fake_x.lose_answer(f"/2/users/{brand.x_user_id}/retweets", method="POST")

    acting.retweet(rt, Who(fake_slack.team_id, AGENT), mention_id(rt))
    run_jobs(rt)

    with rt.sessions() as session:
        (status,) = session.query(Outbound.status).all()[0:1]
    assert status[0] == "sent"
    assert fake_x.calls_to(f"/2/tweets/{tweet_id}/retweeted_by") == []
    confirming = round(fake_x.spend("brand") - before - load_prices().writes["user_interaction"], 6)
    assert confirming <= load_prices().reads["post"]  # the retweet itself, read once
    assert counted(rt, brand) == fake_x.spend("brand")


def test_a_reply_to_a_post_that_did_not_summon_the_account_is_priced_as_a_post() -> None:
    """A thread's next part answers the account's own post; an Enterprise reply may answer
    a post that did not summon it: neither is X's cheaper summoned reply."""
    from bot.x.prices import charges, send_kind

    sent = {"text": "part two", "reply": {"in_reply_to_tweet_id": "1"}}
    assert [c.kind for c in charges("POST", "/2/tweets", sent, {}, False, summoned=False)] == [
        "write:post"
    ]
    assert send_kind("reply", "hi", summoned=False) == "write:post"
    assert send_kind("reply", "hi") == "write:summoned_reply"


def test_a_post_read_as_the_accounts_own_and_then_not_is_counted_once_a_day(
    rt: Runtime, brand: Account
) -> None:
    """X deduplicates the post, whatever the price it was first read at."""
    from bot.x.meter import Meter
    from bot.x.prices import Charge

    meter = Meter(rt.redis, load_prices(), brand.id, rt.clock)
    meter([Charge("read:owned_post", ("111",))])
    meter([Charge("read:post", ("111", "112"))])
    day = {
        k.decode(): int(v)
        for k, v in rt.redis.hgetall(day_key(brand.id, f"{rt.clock():%Y-%m-%d}")).items()
    }
    assert day["read:owned_post:units"] == 1 and day["read:post:units"] == 1


def test_a_thread_is_counted_as_x_bills_it_a_post_then_posts_not_summoned_replies(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    from bot.outbound.sending import send_outbound
    from storage.models import Outbound as Row

    before = fake_x.spend("brand")
    counted_before = counted(rt, brand)
    with rt.sessions.begin() as session:
        for part in range(2):
            session.add(
                Row(
                    idempotency_key=f"thread-{part}",
                    kind="post",
                    account_id=brand.id,
                    text=f"news part {part + 1}",
                    status="pending",
                    attempts=0,
                    created_at=rt.clock(),
                    part=part,
                )
            )
    with rt.sessions() as session:
        ids = [r.id for r in session.query(Row).filter(Row.kind == "post").order_by(Row.part)]
    for outbound_id in ids:
        assert send_outbound(outbound_id) == "sent"
    assert round(fake_x.spend("brand") - before, 6) == 0.030  # two posts at $0.015
    assert round(counted(rt, brand) - counted_before, 6) == 0.030
