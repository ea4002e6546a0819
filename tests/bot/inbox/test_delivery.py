"""Delivering cards: fake X to the fake Slack, through a real Redis and both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from bot.errors import SlackRateLimited
from bot.inbox import routing
from bot.inbox.delivery import CLAIM_STALE_AFTER, post_mention, reminder_job_id, sweep_mentions
from bot.inbox.intake import Intake
from bot.inbox.routing import RouteError
from bot.runtime import Runtime
from bot.team.business_hours import parse_hours
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.mentions import claim_card
from storage.models import Account, Mention
from tests.conftest import BRAND_CHANNEL, OWNER, run_jobs


def mentions(rt: Runtime) -> list[Mention]:
    with rt.sessions() as session:
        return list(session.scalars(select(Mention).order_by(Mention.tweet_id)))


def cards(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]


def one_mention_stored(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    """@jane mentions @brand and intake stores it; its delivery is queued."""
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    Intake(rt).poll(brand)


def card_and_reply_stored(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    """@jane mentions @brand, then replies in the same conversation; both stored at once."""
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand one")
    fake_x.post_mention("brand", author="jane", text="@brand two", reply_to=first["id"])
    Intake(rt).poll(brand)


def section_texts(message: dict) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def test_a_mention_becomes_a_card_in_the_accounts_channel(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane", name="Jane Doe", followers=1234)
    tweet = fake_x.post_mention("brand", author="jane", text="@brand <!channel> my order & refund")
    Intake(rt).poll(brand)
    run_jobs(rt)

    (card,) = cards(fake_slack)
    body = section_texts(card)[1]
    assert body == "@brand &lt;!channel&gt; my order &amp; refund"
    assert "*Jane Doe* <https://x.com/jane|@jane> · 1,234 followers" in section_texts(card)[0]
    assert card["metadata"]["event_payload"]["mention_id"] == mentions(rt)[0].id
    assert "<!channel>" not in card["text"]
    (stored,) = mentions(rt)
    assert (stored.slack_channel, stored.slack_ts) == (BRAND_CHANNEL, card["ts"])
    assert stored.card_posted_at is not None and stored.tweet_id == int(tweet["id"])


def test_follow_ups_in_the_same_conversation_land_in_the_cards_thread(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand help")
    Intake(rt).poll(brand)
    run_jobs(rt)
    fake_x.post_mention("brand", author="jane", text="@brand still broken", reply_to=first["id"])
    fake_x.post_mention("brand", author="jane", text="@brand hello?", reply_to=first["id"])
    fake_x.post_mention("brand", author="jane", text="@brand something else")
    Intake(rt).poll(brand)
    run_jobs(rt)

    top_level = cards(fake_slack)
    assert len(top_level) == 2
    card = top_level[0]
    replies = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    assert [section_texts(r)[1] for r in replies] == ["@brand still broken", "@brand hello?"]
    refreshed = fake_slack.message(BRAND_CHANNEL, card["ts"])
    status = refreshed["blocks"][-1]["elements"][0]["text"]
    assert status.startswith("Open · reply due by <!date^")
    assert status.endswith(" · 2 more mentions in the thread")


def test_a_follow_up_arriving_with_its_card_waits_for_it(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    card_and_reply_stored(rt, fake_x, brand)
    # Deliver the follow-up first, as a second worker might.
    follow_up = mentions(rt)[1]
    assert post_mention(rt, follow_up.id) == "posted"
    (card,) = cards(fake_slack)
    assert len(fake_slack.thread(BRAND_CHANNEL, card["ts"])) == 1
    run_jobs(rt)  # the card's own job finds it already posted
    assert len(fake_slack.messages(BRAND_CHANNEL)) == 2


def test_the_same_job_twice_posts_one_card(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    one_mention_stored(rt, fake_x, brand)
    (mention,) = mentions(rt)
    assert post_mention(rt, mention.id) == "posted"
    assert post_mention(rt, mention.id) == "already posted"
    run_jobs(rt)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_a_worker_that_died_after_posting_is_not_doubled(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """The card reached Slack but the worker died before recording its ts."""
    one_mention_stored(rt, fake_x, brand)
    (mention,) = mentions(rt)
    assert post_mention(rt, mention.id) == "posted"
    with rt.sessions.begin() as session:  # forget the ts, keep the claim: the crash
        row = session.get_one(Mention, mention.id)
        row.slack_ts = row.slack_channel = None
        row.card_claimed_at = rt.clock()

    assert post_mention(rt, mention.id) == "claimed by another worker"
    later = rt.clock() + CLAIM_STALE_AFTER + timedelta(seconds=1)
    rt.clock = lambda: later
    assert post_mention(rt, mention.id) == "posted"
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert mentions(rt)[0].slack_ts == cards(fake_slack)[0]["ts"]


def test_slack_429_delays_the_card_and_never_drops_it(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    one_mention_stored(rt, fake_x, brand)
    # More 429s than the client absorbs in-process: the job reschedules itself.
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=3)
    run_jobs(rt)
    assert cards(fake_slack) == []
    registry = ScheduledJobRegistry(queue=rt.card_queue)
    assert registry.count == 1
    (mention,) = mentions(rt)
    assert mention.card_claimed_at is None and mention.slack_ts is None

    for job_id in registry.get_job_ids():  # the scheduler's moment comes
        rt.card_queue.enqueue_job(rt.card_queue.fetch_job(job_id))  # type: ignore[arg-type]
        registry.remove(job_id)
    run_jobs(rt)
    assert len(cards(fake_slack)) == 1


def test_a_channel_roost_is_not_in_is_recorded_and_retried_later(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    fake_slack.remove_bot_from(BRAND_CHANNEL)
    Intake(rt).poll(brand)
    run_jobs(rt)
    (mention,) = mentions(rt)
    assert mention.slack_ts is None
    assert mention.card_error == (
        f"Cannot post: Roost is not a member of channel {BRAND_CHANNEL}: "
        "invite it with /invite @Roost."
    )
    # The claim stays until it is stale, so the sweep does not hammer Slack...
    with rt.sessions.begin() as session:
        assert not claim_card(session, mention.id, rt.clock(), CLAIM_STALE_AFTER)
    # ...and once someone invited Roost, the card goes out.
    fake_slack.add_channel(BRAND_CHANNEL, "x-brand")
    later = rt.clock() + CLAIM_STALE_AFTER * 2
    rt.clock = lambda: later
    assert sweep_mentions(rt, brand.id) == 1
    run_jobs(rt)
    assert len(cards(fake_slack)) == 1
    assert mentions(rt)[0].card_error is None


def test_slack_5xx_is_retried_with_backoff(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    one_mention_stored(rt, fake_x, brand)
    fake_slack.fail("chat.postMessage", status=503)
    run_jobs(rt)
    registry = ScheduledJobRegistry(queue=rt.card_queue)
    assert registry.count == 1  # RQ's retry, at the first backoff interval
    assert mentions(rt)[0].card_claimed_at is None


def test_deleted_and_protected_authors_and_a_25000_char_post(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    gone = fake_x.add_user("gone")
    fake_x.add_user("locked", protected=True)
    fake_x.post_mention("brand", author="gone", text="@brand bye")
    fake_x.delete_user(gone["id"])
    fake_x.post_mention("brand", author="locked", text="@brand psst")
    fake_x.post_mention("brand", author="locked", note_text="@brand " + "long " * 5000)
    Intake(rt).poll(brand)
    run_jobs(rt)
    deleted, protected, long_post = cards(fake_slack)
    assert "Unknown author" in section_texts(deleted)[0]
    assert ":lock: protected account" in section_texts(protected)[0]
    assert len(section_texts(long_post)[1]) <= 3000
    assert "Read the whole post on X (25,007 characters)" in section_texts(long_post)[1]


def test_a_message_slack_refuses_does_not_hold_back_the_others(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    for n in range(3):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)
    fake_slack.fail("chat.postMessage", error="msg_blocks_too_long")
    run_jobs(rt)
    refused, *posted = mentions(rt)
    assert len(cards(fake_slack)) == 2
    assert all(m.slack_ts for m in posted)
    assert refused.slack_ts is None
    assert refused.card_error == (
        f"Slack refused the call for channel {BRAND_CHANNEL}: msg_blocks_too_long."
    )


def test_a_thread_reply_gives_its_claim_back_when_its_card_cannot_be_posted(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    card_and_reply_stored(rt, fake_x, brand)
    card, reply = mentions(rt)
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=3)
    with pytest.raises(SlackRateLimited):
        post_mention(rt, reply.id)  # posting the card first is what Slack refuses
    assert [m.card_claimed_at for m in mentions(rt)] == [None, None]
    assert post_mention(rt, reply.id) == "posted"
    assert len(fake_slack.thread(BRAND_CHANNEL, mentions(rt)[0].slack_ts or "")) == 1


# --- routes and business hours -------------------------------------------------------------

MOBILE = "C0MOBILE"


def route_iphones_to_mobile(rt: Runtime, fake_slack: FakeSlack, brand: Account) -> None:
    """#cs-mobile answers questions about iPhones: a route sends them there."""
    fake_slack.add_channel(MOBILE, "cs-mobile")
    routing.add_route(
        rt,
        account_id=brand.id,
        pattern="아이폰|iphone",
        is_regex=False,
        channel_id=MOBILE,
        actor=OWNER,
    )


def test_a_routed_mention_is_carded_in_the_routes_channel_and_its_follow_ups_follow(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    route_iphones_to_mobile(rt, fake_slack, brand)
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand 아이폰이 안 켜져요")
    fake_x.post_mention("brand", author="jane", text="@brand where is my order?")
    Intake(rt).poll(brand)
    run_jobs(rt)
    # The follow-up does not mention iPhones: it follows its card all the same.
    fake_x.post_mention("brand", author="jane", text="@brand 아직도요", reply_to=first["id"])
    Intake(rt).poll(brand)
    run_jobs(rt)

    (card,) = [m for m in fake_slack.messages(MOBILE) if "thread_ts" not in m]
    assert section_texts(card)[1] == "@brand 아이폰이 안 켜져요"
    (follow_up,) = fake_slack.thread(MOBILE, card["ts"])
    assert section_texts(follow_up)[1] == "@brand 아직도요"
    (elsewhere,) = fake_slack.messages(BRAND_CHANNEL)
    assert section_texts(elsewhere)[1] == "@brand where is my order?"
    routed, unrouted, reply = mentions(rt)
    assert (routed.slack_channel, unrouted.slack_channel) == (MOBILE, BRAND_CHANNEL)
    assert (reply.slack_channel, reply.slack_thread_ts) == (MOBILE, card["ts"])


def test_a_follow_up_delivered_before_its_routed_card_lands_in_that_cards_thread(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    route_iphones_to_mobile(rt, fake_slack, brand)
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand iPhone 15 is stuck")
    fake_x.post_mention("brand", author="jane", text="@brand hello?", reply_to=first["id"])
    Intake(rt).poll(brand)
    assert post_mention(rt, mentions(rt)[1].id) == "posted"  # posts the card first

    card, follow_up = fake_slack.messages(MOBILE)
    assert follow_up["thread_ts"] == card["ts"]
    assert [section_texts(r)[1] for r in fake_slack.thread(MOBILE, card["ts"])] == ["@brand hello?"]
    assert fake_slack.messages(BRAND_CHANNEL) == []


def test_a_route_to_a_channel_roost_is_not_in_is_refused_with_how_to_invite_it(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_slack.add_channel(MOBILE, "cs-mobile", bot_is_member=False)
    with pytest.raises(RouteError) as caught:
        routing.add_route(
            rt,
            account_id=brand.id,
            pattern="iphone",
            is_regex=False,
            channel_id=MOBILE,
            actor=OWNER,
        )
    assert "invite it with /invite @Roost in <#C0MOBILE>" in str(caught.value)


SEOUL = ZoneInfo("Asia/Seoul")


def test_a_cards_sla_due_time_honours_the_accounts_business_hours(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    one_mention_stored(rt, fake_x, brand)
    friday_evening = datetime(2025, 6, 13, 17, 50, tzinfo=SEOUL)
    with rt.sessions.begin() as session:
        account = session.get_one(Account, brand.id)
        account.sla_minutes = 60
        account.business_hours = parse_hours("Mon-Fri 09:00-18:00 Asia/Seoul")
        (mention,) = session.scalars(select(Mention))
        mention.created_at = friday_evening

    assert post_mention(rt, mention.id) == "posted"
    monday = datetime(2025, 6, 16, 9, 50, tzinfo=SEOUL)
    assert mentions(rt)[0].sla_due_at == monday
    registry = ScheduledJobRegistry(queue=rt.team_queue)
    assert registry.get_scheduled_time(reminder_job_id(mention.id)) == monday.astimezone(UTC)
    status = cards(fake_slack)[0]["blocks"][-1]["elements"][0]["text"]
    assert f"reply due by <!date^{int(monday.timestamp())}^" in status


def test_unreadable_business_hours_do_not_hold_a_card_back(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    one_mention_stored(rt, fake_x, brand)
    with rt.sessions.begin() as session:
        account = session.get_one(Account, brand.id)
        account.business_hours = {"tz": "Atlantis", "days": [0], "start": "9", "end": "5"}

    run_jobs(rt)
    assert len(cards(fake_slack)) == 1
    (mention,) = mentions(rt)
    assert mention.sla_due_at == mention.created_at + timedelta(minutes=60)
