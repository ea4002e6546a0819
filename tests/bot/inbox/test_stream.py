"""Stream intake: the filtered stream with back-fill, against the fake X."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from sqlalchemy import func, select

from bot.inbox.stream import StreamListener, backfill_since, stream_rules
from bot.runtime import Runtime
from sandbox.x_api import FakeX
from storage.models import Account, Mention
from storage.set_aside import set_aside_of
from tests.conftest import BRAND_CHANNEL, add_brand_account, queued_mentions, wait_for
from tests.sandbox import openapi


def stored_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Mention)) or 0)


def stored_ids(rt: Runtime) -> list[int]:
    with rt.sessions() as session:
        return list(session.scalars(select(Mention.tweet_id).order_by(Mention.tweet_id)))


def backfills(listener: StreamListener) -> int:
    return listener.stream.backfills if listener.stream else 0


@pytest.fixture
def streaming(rt: Runtime, fake_x: FakeX, brand: Account) -> Iterator[StreamListener]:
    fake_x.add_user("jane")
    listener = StreamListener(rt, lease_seconds=1.5, retry_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: fake_x.open_streams == 1 and backfills(listener) == 1, timeout=5)
    yield listener
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def reasons_set_aside(rt: Runtime, account: Account) -> str:
    """What `roost accounts list` shows set aside under the account."""
    with rt.sessions() as session:
        return " ".join(item.reason for item in set_aside_of(session).get(account.id, []))


@contextmanager
def listening(rt: Runtime, fake_x: FakeX, **options: float) -> Iterator[StreamListener]:
    """A stream listener running until the block ends, once it has back-filled."""
    listener = StreamListener(rt, lease_seconds=1.5, retry_seconds=0.2, **options)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: fake_x.open_streams == 1 and backfills(listener) >= 1, timeout=5)
        yield listener
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_rules_are_derived_from_the_accounts(brand: Account) -> None:
    assert stream_rules([brand]) == {f"roost:{brand.id}": "@brand -is:retweet"}


def test_backfill_reads_from_a_little_before_the_cursor() -> None:
    assert backfill_since(None) is None
    newest = 1_860_000_000_000_000_000
    since = backfill_since(newest)
    assert since is not None and since < newest
    assert (newest - since) >> 22 == 120_000  # two minutes of X's id clock


def test_stream_stores_and_queues_mentions_as_they_come(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    rules = fake_x.calls_to("/2/tweets/search/stream/rules", method="POST")
    assert rules and "@brand" in rules[-1].body.decode()
    tweet = fake_x.post_mention("brand", author="jane", text="@brand live")
    wait_for(lambda: stored_ids(rt) == [int(tweet["id"])])
    # Stored, then queued: the queue may trail the row by a moment.
    wait_for(lambda: queued_mentions(rt) == 1)


def test_retweets_are_never_stored_from_the_stream_nor_the_backfill(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    """ "RT @brand: …" and retweets of a mention reach X's mentions timeline, and a rule
    without -is:retweet; each would be a card nobody can answer."""
    fake_x.add_user("fan")
    mention = fake_x.post_mention("brand", author="jane", text="@brand where is my parcel")
    wait_for(lambda: stored_ids(rt) == [int(mention["id"])])
    own = fake_x.post_mention("jane", author="brand", text="@jane Our sale starts today")
    retweets = [fake_x.retweet("fan", mention["id"]), fake_x.retweet("fan", own["id"])]
    quote = fake_x.post_mention("brand", author="fan", text="@brand real?", quote_of=own["id"])
    wait_for(lambda: int(quote["id"]) in stored_ids(rt))
    fake_x.drop_streams(after_lines=0)  # the reconnect back-fills from the timeline
    wait_for(lambda: backfills(streaming) == 2, timeout=10)

    assert {r["id"] for r in retweets} <= {m["id"] for m in fake_x.mentions_of("brand")}
    assert stored_ids(rt) == [int(mention["id"]), int(quote["id"])]


def test_a_rule_another_tool_made_with_the_same_value_serves_the_account(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """X keeps one rule per value and answers a duplicate with an error in a 200; Roost
    used to ignore both, so the account's tweets arrived under a tag it did not know."""
    requests.post(
        f"{fake_x.url}/2/tweets/search/stream/rules",
        json={"add": [{"value": "@brand -is:retweet", "tag": "the other tool"}]},
        headers={"Authorization": f"Bearer {fake_x.app_bearer}"},
        timeout=5,
    ).raise_for_status()
    fake_x.add_user("jane")
    with listening(rt, fake_x, rules_retry_seconds=0.3) as listener:
        tweet = fake_x.post_mention("brand", author="jane", text="@brand live")
        wait_for(lambda: stored_ids(rt) == [int(tweet["id"])])
        assert listener.stream is not None and listener.stream.unruled == {}
        assert [rule["tag"] for rule in fake_x.rules()] == ["the other tool"]
        # The other tool deletes its rule: Roost notices at its next look, adds its own.
        requests.post(
            f"{fake_x.url}/2/tweets/search/stream/rules",
            json={"delete": {"ids": [fake_x.rules()[0]["id"]]}},
            headers={"Authorization": f"Bearer {fake_x.app_bearer}"},
            timeout=5,
        ).raise_for_status()
        gap = fake_x.post_mention("brand", author="jane", text="@brand while no rule served")
        wait_for(lambda: [r["tag"] for r in fake_x.rules()] == [f"roost:{brand.id}"], timeout=5)
        later = fake_x.post_mention("brand", author="jane", text="@brand again")
        wait_for(lambda: int(later["id"]) in stored_ids(rt))
        wait_for(lambda: int(gap["id"]) in stored_ids(rt))  # read from the timeline


def test_a_rule_x_refuses_is_shown_read_around_and_asked_for_again(
    rt: Runtime, fake_x: FakeX, brand: Account, caplog: pytest.LogCaptureFixture
) -> None:
    shop = add_brand_account(rt, fake_x, "shop", BRAND_CHANNEL)
    fake_x.add_user("jane")
    fake_x.rule_cap = 1
    with listening(rt, fake_x, rules_retry_seconds=0.5) as listener:
        assert listener.stream is not None
        wait_for(lambda: shop.id in listener.stream.unruled or brand.id in listener.stream.unruled)
        refused = shop if shop.id in listener.stream.unruled else brand
        assert "X refused the stream rule for @" + refused.handle in caplog.text
        assert "Rule cap of 1 reached" in reasons_set_aside(rt, refused)
        # Its mentions still come, from its timeline, read while the rule is refused.
        tweet = fake_x.post_mention(refused.handle, author="jane")
        wait_for(lambda: int(tweet["id"]) in stored_ids(rt), timeout=10)

        fake_x.rule_cap = 10  # room again: the next try gets the rule
        wait_for(lambda: listener.stream is not None and not listener.stream.unruled, timeout=10)
        assert reasons_set_aside(rt, refused) == ""
        live = fake_x.post_mention(refused.handle, author="jane", text=f"@{refused.handle} live")
        wait_for(lambda: int(live["id"]) in stored_ids(rt))
    assert len(fake_x.rules()) == 2


def test_every_call_the_stream_listener_makes_is_one_xs_openapi_description_allows(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    """The rules read and written, the stream's connect and the back-fill's reads, as the
    fake received them from tweepy's StreamingClient and Roost's client."""
    tweet = fake_x.post_mention("brand", author="jane", text="@brand live")
    wait_for(lambda: int(tweet["id"]) in stored_ids(rt))
    registry = openapi.registry()
    paths = {call.path.split("/")[-1] for call in fake_x.calls}
    assert {"rules", "stream", "mentions"} <= paths
    for call in fake_x.calls:
        openapi.assert_call_is_described(registry, call)


def test_stream_dropped_mid_burst_is_backfilled_without_doubles(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    fake_x.drop_streams(after_lines=2)
    burst = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(6)]
    expected = sorted(int(t["id"]) for t in burst)
    # The stream delivered two, then dropped; the reconnect back-fills the rest.
    # One back-fill when the stream first connected, one after the drop.
    wait_for(lambda: backfills(streaming) == 2, timeout=10)
    assert stored_ids(rt) == expected
    wait_for(lambda: queued_mentions(rt) == 6)
    later = fake_x.post_mention("brand", author="jane", text="@brand after")
    wait_for(lambda: int(later["id"]) in stored_ids(rt))
    assert stored_count(rt) == 7


def test_a_second_listener_stands_by_while_the_first_streams(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    standby = StreamListener(rt, lease_seconds=1.5)
    assert not standby.lease.acquire()
    assert fake_x.open_streams == 1


def test_a_refused_bearer_token_is_named_and_nothing_crashes(
    rt: Runtime, fake_x: FakeX, brand: Account, caplog: pytest.LogCaptureFixture
) -> None:
    fake_x.revoke(fake_x.app_bearer)
    listener = StreamListener(rt, lease_seconds=1.5)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: "X refused X_BEARER_TOKEN" in caplog.text)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert "X_INTAKE=poll" in caplog.text
    assert fake_x.open_streams == 0


def test_a_failed_backfill_is_retried_and_the_gap_is_not_skipped(
    rt: Runtime, fake_x: FakeX, brand: Account, streaming: StreamListener
) -> None:
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 503)
    fake_x.drop_streams(after_lines=0)
    missed = fake_x.post_mention("brand", author="jane", text="@brand while the stream was down")
    wait_for(lambda: backfills(streaming) >= 2)  # the reconnect's back-fill (it failed)
    live = fake_x.post_mention("brand", author="jane", text="@brand after the reconnect")
    wait_for(lambda: stored_ids(rt) == sorted([int(missed["id"]), int(live["id"])]), timeout=10)
    wait_for(lambda: streaming.stream is not None and not streaming.stream.pending)


def test_a_backfill_a_hard_cap_paused_is_finished_once_the_budget_allows_nothing_skipped(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """A back-fill stopped by the hard cap read only the newest page; the account was taken
    for complete, so the stream's next post moved the cursor past the rest, never read."""
    from bot.inbox.intake import Intake

    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand before")
    assert Intake(rt).poll(brand) == 1
    backlog = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(150)]
    with rt.sessions.begin() as session:
        account = session.get_one(Account, brand.id)
        # Room for one page of the timeline ($1.50 at worst), not for two.
        account.x_budget_cents, account.x_budget_hard = 180, True
    with listening(rt, fake_x) as listener:
        assert listener.stream is not None
        wait_for(lambda: len(stored_ids(rt)) == 1 + 100)
        assert brand.id in listener.stream.pending  # read in part: not complete
        live = fake_x.post_mention("brand", author="jane", text="@brand live")
        wait_for(lambda: int(live["id"]) in stored_ids(rt))
        with rt.sessions.begin() as session:
            session.get_one(Account, brand.id).x_budget_cents = 100_000
        wanted = sorted(int(t["id"]) for t in [first, *backlog, live])
        wait_for(lambda: stored_ids(rt) == wanted, timeout=10)
        wait_for(lambda: not listener.stream.pending)
