"""Poll intake against the fake X, a real Redis and both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from bot.errors import XUnavailable
from bot.inbox.delivery import sweep_mentions
from bot.inbox.intake import Intake, LeaseLost, Listener
from bot.runtime import Runtime
from bot.team.setup import list_accounts
from bot.x.client import READ_RETRIES
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Event, IntakeCursor, Mention, SetAside
from tests.conftest import BRAND_CHANNEL, add_brand_account, queued_mentions, run_jobs, wait_for


def stored(rt: Runtime) -> list[Mention]:
    with rt.sessions() as session:
        return list(session.scalars(select(Mention).order_by(Mention.tweet_id)))


def since_id(rt: Runtime, account: Account) -> int | None:
    with rt.sessions() as session:
        cursor = session.get(IntakeCursor, account.id)
        return int(cursor.position) if cursor and cursor.position else None


def test_poll_stores_new_mentions_once_and_queues_their_cards(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane", name="Jane Doe", followers=42)
    tweets = [fake_x.post_mention("brand", author="jane", text=f"@brand #{n}") for n in range(3)]
    intake = Intake(rt)

    assert intake.poll(brand) == 3
    assert [m.tweet_id for m in stored(rt)] == [int(t["id"]) for t in tweets]
    assert since_id(rt, brand) == int(tweets[-1]["id"])
    assert queued_mentions(rt) == 3

    # Polling again asks X only for what is newer, and stores nothing twice.
    assert intake.poll(brand) == 0
    last_call = fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions")[-1]
    assert last_call.query["since_id"] == tweets[-1]["id"]
    assert queued_mentions(rt) == 3


def test_poll_pages_through_a_burst(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.add_user("jane")
    Intake(rt).poll(brand)  # start the cursor
    for n in range(250):
        fake_x.post_mention("brand", author="jane", text=f"@brand burst {n}")
    assert Intake(rt).poll(brand) == 250
    assert len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions")) == 1 + 3
    assert len(stored(rt)) == 250


def test_first_poll_does_not_replay_history(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.add_user("jane")
    an_hour_ago = rt.clock() - timedelta(hours=1)  # before the account was added
    old = fake_x.post_mention("brand", author="jane", text="@brand hi", created_at=an_hour_ago)
    new = fake_x.post_mention("brand", author="jane", text="@brand after Roost")
    Intake(rt).poll(brand)
    assert [m.tweet_id for m in stored(rt)] == [int(new["id"])]
    assert int(old["id"]) < (since_id(rt, brand) or 0)


class Killed(BaseException):
    """Stands for the listener process dying between two pages of a burst."""


def test_listener_killed_mid_burst_loses_nothing_and_doubles_nothing(
    rt: Runtime, fake_x: FakeX, brand: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_x.add_user("jane")
    Intake(rt).poll(brand)
    before = since_id(rt, brand)
    for n in range(150):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")

    dying = Intake(rt)
    pages = 0
    real_store = Intake.store

    def store_then_die(self: Intake, *args: object, **kwargs: object) -> int:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise Killed
        return real_store(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Intake, "store", store_then_die)
    with pytest.raises(Killed):
        dying.poll(brand)
    monkeypatch.undo()
    assert len(stored(rt)) == 100  # the oldest hundred made it
    assert since_id(rt, brand) == before  # the cursor waits for the whole burst

    fake_x.post_mention("brand", author="jane", text="@brand 150")
    assert Intake(rt).poll(brand) == 51  # the restarted listener
    tweet_ids = [m.tweet_id for m in stored(rt)]
    assert len(tweet_ids) == len(set(tweet_ids)) == 151
    assert queued_mentions(rt) == 151


def test_x_failing_mid_burst_is_retried_without_loss(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    Intake(rt).poll(brand)
    fake_x.post_mention("brand", author="jane")
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 503, times=READ_RETRIES + 1)
    with pytest.raises(XUnavailable, match="503"):
        Intake(rt).poll(brand)
    assert Intake(rt).poll(brand) == 1


def test_429_waits_for_x_reset_time(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 429, reset_in=600)
    listener = Listener(rt)
    listener.cycle()
    entry = listener.held[brand.id]
    assert entry.next_poll_at > rt.clock() + timedelta(minutes=9)
    assert stored(rt) == []
    entry.next_poll_at = rt.clock()  # X's reset time has come
    listener.cycle()
    assert len(stored(rt)) == 1
    listener.release_all()


def test_503_backs_off_and_recovers(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 503, times=2 * (READ_RETRIES + 1))
    listener = Listener(rt)
    listener.cycle()
    first_wait = listener.held[brand.id].next_poll_at - rt.clock()
    listener.held[brand.id].next_poll_at = rt.clock()
    listener.cycle()
    second_wait = listener.held[brand.id].next_poll_at - rt.clock()
    assert timedelta(seconds=3) < first_wait < second_wait <= timedelta(minutes=5)
    listener.held[brand.id].next_poll_at = rt.clock()
    listener.cycle()
    assert len(stored(rt)) == 1
    listener.release_all()


def test_revoked_token_stops_that_account_tells_its_channel_once_and_others_go_on(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_slack.add_channel("C0OTHER", "x-other")
    other = add_brand_account(rt, fake_x, "other", "C0OTHER")
    fake_x.add_user("jane")
    with rt.sessions() as session:
        sealed = session.get_one(Account, brand.id).credentials
    fake_x.revoke(rt.box.open(sealed)["access_token"])
    fake_x.post_mention("brand", author="jane")
    fake_x.post_mention("other", author="jane")

    listener = Listener(rt)
    listener.cycle()
    for entry in listener.held.values():
        entry.next_poll_at = rt.clock()
    listener.cycle()
    run_jobs(rt)

    with rt.sessions() as session:
        assert session.get_one(Account, brand.id).intake_status == "revoked"
        assert session.get_one(Account, other.id).intake_status == "active"
        stopped = session.scalars(select(Event).where(Event.kind == "intake.stopped")).all()
        assert [(e.account_id, e.detail["status"]) for e in stopped] == [(brand.id, "revoked")]
    assert [m.account_id for m in stored(rt)] == [other.id]
    notices = [m for m in fake_slack.messages(BRAND_CHANNEL) if "stopped reading" in m["text"]]
    assert len(notices) == 1
    assert "revoked or has expired" in notices[0]["text"]
    assert "roost accounts add --handle brand" in notices[0]["text"]
    assert brand.id not in listener.held
    listener.release_all()


def test_only_one_listener_reads_an_account_and_the_standby_takes_over(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    first, standby = Listener(rt, lease_seconds=0.5), Listener(rt, lease_seconds=0.5)
    first.cycle()
    standby.cycle()
    assert brand.id in first.held and brand.id not in standby.held

    fake_x.post_mention("brand", author="jane")
    # The first listener dies without releasing its lease; the lease expires.
    wait_for(lambda: standby.cycle() is not None and brand.id in standby.held, timeout=3)
    standby.held[brand.id].next_poll_at = rt.clock()
    standby.cycle()
    assert len(stored(rt)) == 1
    standby.release_all()


def test_a_post_the_database_refuses_is_set_aside_and_holds_back_nothing(
    rt: Runtime, fake_x: FakeX, brand: Account, db_url: str
) -> None:
    """Before, the refusal was taken for a database outage: the listener paused every
    account, and found the same post again at each try, for ever."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite stores a name of any length: the poison here is PostgreSQL's")
    add_brand_account(rt, fake_x, "other", BRAND_CHANNEL)
    fake_x.add_user("jane")
    fake_x.add_user("poison")
    # A language tag longer than the column holds (a name is clipped to what it holds).
    fake_x.post_mention(
        "brand", author="poison", text="@brand I refuse to be stored", lang="x" * 40
    )
    fake_x.post_mention("brand", author="jane", text="@brand after the poison")
    fake_x.post_mention("brand", author="jane", text="@brand nul\x00 made storable")
    fake_x.post_mention("other", author="jane", text="@other another account")
    listener = Listener(rt)
    listener.cycle()
    listener.release_all()
    assert sorted(m.text for m in stored(rt)) == [
        "@brand after the poison",
        "@brand nul made storable",
        "@other another account",
    ]
    with rt.sessions() as session:
        (aside,) = session.scalars(select(SetAside)).all()
        assert aside.account_id == brand.id and "value too long" in aside.reason
        assert session.get_one(IntakeCursor, brand.id).position is not None  # moved past it
    lines = list_accounts(rt.settings.model_copy(update={"database_url": db_url}))
    assert any(
        line.startswith("\tset aside: account") and "value too long" in line for line in lines
    )


def test_listener_runs_until_stopped(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.add_user("jane")
    stop = threading.Event()
    thread = threading.Thread(target=Listener(rt).run, args=(stop,))
    thread.start()
    try:
        fake_x.post_mention("brand", author="jane")
        wait_for(lambda: stored(rt), timeout=5)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert rt.redis.keys("roost:lease:*") == []


def test_undelivered_mentions_are_queued_again_by_the_sweep(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    intake = Intake(rt)
    intake.poll(brand)
    rt.redis.flushdb()  # the queued delivery is lost
    assert sweep_mentions(rt, brand.id) == 0  # too recent to call lost
    later = rt.clock() + timedelta(minutes=3)
    rt.clock = lambda: later
    assert sweep_mentions(rt, brand.id) == 1
    assert queued_mentions(rt) == 1


def test_redis_down_pauses_intake_and_it_resumes_without_loss(
    rt: Runtime, fake_x: FakeX, brand: Account, caplog: pytest.LogCaptureFixture
) -> None:
    fake_x.add_user("jane")
    live = rt.redis
    rt.redis = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    stop = threading.Event()
    thread = threading.Thread(target=Listener(rt, outage_wait=0.05).run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: "intake paused: Redis failed" in caplog.text)
        fake_x.post_mention("brand", author="jane", text="@brand while Redis was down")
        assert stored(rt) == []
        rt.redis = live  # Redis is back
        wait_for(lambda: len(stored(rt)) == 1)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert queued_mentions(rt) == 1


def test_a_conversation_spanning_pages_has_one_card(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    Intake(rt).poll(brand)
    first = fake_x.post_mention("brand", author="jane", text="@brand my order")
    for n in range(150):
        fake_x.post_mention("brand", author="jane", text=f"@brand other {n}")
    reply = fake_x.post_mention("brand", author="jane", text="@brand hello?", reply_to=first["id"])
    Intake(rt).poll(brand)  # the reply is on the first page, its conversation's start on the last
    rows = {m.tweet_id: m for m in stored(rt)}
    assert rows[int(first["id"])].is_card
    assert rows[int(reply["id"])].root_tweet_id == int(first["id"])


def test_an_edited_post_updates_its_card_and_keeps_the_old_text_in_the_thread(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """X makes an edit a new post with a new id; it used to become a second card."""
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand my order <!channel> is lost")
    Intake(rt).poll(brand)
    run_jobs(rt)
    (card,) = fake_slack.messages(BRAND_CHANNEL)

    edited = fake_x.edit_tweet(first["id"], "@brand my order 1234 is lost")
    # Seen twice, as the stream and a back-fill would: one edit all the same.
    assert Intake(rt).poll(brand) == 0
    assert Intake(rt).poll(brand, position=str(int(first["id"]) - 1)) == 0
    run_jobs(rt)

    cards = [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]
    assert [m["ts"] for m in cards] == [card["ts"]]  # no second card
    (mention,) = stored(rt)
    assert (mention.tweet_id, mention.version_id) == (int(first["id"]), int(edited["id"]))
    assert mention.text == "@brand my order 1234 is lost"
    shown = str(fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"])
    assert "my order 1234 is lost" in shown and "edited" in shown
    (note,) = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    assert "@jane edited the post" in note["text"]
    assert "my order &lt;!channel&gt; is lost" in str(note["blocks"])
    assert "<!channel>" not in str(note)


def test_a_budget_changed_meanwhile_holds_the_kept_adapter_at_once(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """The listener keeps each account's adapter between polls; it read the budget it was
    built with, so a cap set later was passed, and a cap raised later kept it paused."""
    fake_x.add_user("jane")
    intake = Intake(rt)
    intake.poll(brand)  # the adapter is kept from here on
    fake_x.post_mention("brand", author="jane", text="@brand after the cap")
    with rt.sessions.begin() as session:
        account = session.get_one(Account, brand.id)
        account.x_budget_cents, account.x_budget_hard = 0, True
    before = since_id(rt, brand)
    assert intake.poll(brand) == 0
    with rt.sessions() as session:
        assert "hard cap" in (session.get_one(IntakeCursor, brand.id).last_error or "")
    assert since_id(rt, brand) == before
    with rt.sessions.begin() as session:
        session.get_one(Account, brand.id).x_budget_cents = 10_000
    assert intake.poll(brand) == 1
    intake.close()


def test_a_read_from_before_the_cursor_never_moves_it_back(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """X's stream back-fills from a little before the cursor; when what came after is gone,
    the read ends before the cursor, which stays."""
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand one")
    second = fake_x.post_mention("brand", author="jane", text="@brand two")
    assert Intake(rt).poll(brand) == 2
    fake_x.delete_tweet(second["id"])
    assert Intake(rt).poll(brand, position=str(int(first["id"]) - 1)) == 0
    assert since_id(rt, brand) == int(second["id"])


def test_a_lease_lost_between_two_pages_stops_the_read_storing_nothing(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    Intake(rt).poll(brand)  # start the cursor
    for n in range(150):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    answers = iter([True, False])
    with pytest.raises(LeaseLost):
        Intake(rt).poll(brand, still_held=lambda: next(answers))
    assert stored(rt) == []
    assert len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions")) == 1 + 1
