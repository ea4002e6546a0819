"""The daily digest: due at its local time, exactly once, and saying what waits for whom.

Real Slack calls go to the fake Slack, real jobs run on a real Redis, rows are in
SQLite and PostgreSQL. Mentions are written straight to the database, with the
times the figures are computed from.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.digest.daily import (
    METADATA_EVENT,
    STALE_CLAIM,
    Plan,
    plan_of,
    queue_due_digests,
    send_digest,
    set_schedule,
    slot_key,
)
from bot.errors import Refused
from bot.runtime import Runtime
from bot.team.people import Who
from bot.x.meter import day_key
from sandbox.slack_api import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, FakeSlack
from storage.models import Account, Digest, Member, Outbound, Post
from storage.team import member
from tests.conftest import AGENT, BRAND_CHANNEL, LEAD, OWNER, give, run_jobs
from tests.stored import add_mentions, fresh_id

SEOUL = "Asia/Seoul"
NINE_KST = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # Thursday 09:00 in Seoul


@pytest.fixture
def seoul(rt: Runtime) -> Runtime:
    """The workspace is in Seoul; the clock says Thursday 09:00 there."""
    rt.settings = rt.settings.model_copy(update={"roost_time_zone": SEOUL})
    rt.clock = lambda: NINE_KST
    return rt


@pytest.fixture(autouse=True)
def people(fake_slack: FakeSlack) -> None:
    for user, name in ((AGENT, "agent"), (OWNER, "owner"), (LEAD, "lead")):
        fake_slack.add_user(user, name)


def at(rt: Runtime, moment: datetime) -> None:
    rt.clock = lambda: moment


def digests(fake_slack: FakeSlack, channel: str = BRAND_CHANNEL) -> list[dict[str, Any]]:
    return [
        message
        for message in fake_slack.messages(channel)
        if (message.get("metadata") or {}).get("event_type") == METADATA_EVENT
    ]


def text_of(message: dict[str, Any]) -> str:
    parts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(parts)


def sweep_and_run(rt: Runtime) -> int:
    queued = queue_due_digests(rt)
    run_jobs(rt)
    return queued


# --- when ----------------------------------------------------------------------------


def test_the_digest_waits_for_nine_then_goes_out_once(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    at(seoul, NINE_KST - timedelta(minutes=1))
    assert sweep_and_run(seoul) == 0
    assert digests(fake_slack) == []

    at(seoul, NINE_KST)
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 1

    for later in (timedelta(minutes=1), timedelta(hours=5), timedelta(hours=14, minutes=59)):
        at(seoul, NINE_KST + later)
        assert sweep_and_run(seoul) == 0
    assert len(digests(fake_slack)) == 1

    at(seoul, NINE_KST + timedelta(days=1))  # Friday 09:00
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 2


def test_the_workers_sweep_queues_the_digest(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    from bot.sweep import sweep

    at(seoul, NINE_KST - timedelta(minutes=1))
    sweep()
    assert [job.id for job in seoul.queue.get_jobs()] == []
    at(seoul, NINE_KST)
    sweep()
    run_jobs(seoul)
    assert len(digests(fake_slack)) == 1


def test_weekdays_only_skips_the_weekend_and_off_stops_it(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    who = Who(fake_slack.team_id, OWNER)
    answer = set_schedule(seoul, who, BRAND_CHANNEL, "at", ["08:30", "weekdays"])
    assert "weekdays at 08:30 Asia/Seoul" in answer
    saturday = NINE_KST + timedelta(days=2)
    at(seoul, saturday)
    assert sweep_and_run(seoul) == 0
    at(seoul, saturday + timedelta(days=2))  # Monday
    assert sweep_and_run(seoul) == 1

    set_schedule(seoul, who, BRAND_CHANNEL, "off", [])
    at(seoul, saturday + timedelta(days=3))
    assert sweep_and_run(seoul) == 0
    assert "runs weekdays at 08:30" in set_schedule(seoul, who, BRAND_CHANNEL, "on", [])


def test_a_change_of_time_zone_neither_repeats_nor_skips_a_day(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    assert sweep_and_run(seoul) == 1  # Thursday 09:00 in Seoul

    # An hour later the team moves to New York, where it is still Wednesday evening.
    at(seoul, NINE_KST + timedelta(hours=1))
    answer = set_schedule(
        seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", ["09:00", "America/New_York"]
    )
    assert "every day at 09:00 America/New_York" in answer
    assert "Thu 26 Nov 09:00" in answer  # the next one: Thursday morning in New York
    for hours in (1, 5, 13):
        at(seoul, NINE_KST + timedelta(hours=hours, minutes=59))
        assert sweep_and_run(seoul) == 0, f"{hours} h after"
    at(seoul, NINE_KST + timedelta(hours=14))  # Thursday 09:00 in New York
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 2

    # And back east: Friday 09:00 in Seoul is ten hours later, a new day there.
    at(seoul, NINE_KST + timedelta(hours=15))
    set_schedule(seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", ["09:00", SEOUL])
    at(seoul, NINE_KST + timedelta(hours=23, minutes=59))
    assert sweep_and_run(seoul) == 0
    at(seoul, NINE_KST + timedelta(days=1))
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 3


def test_the_workspace_zone_is_the_default(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    plan = plan_of(seoul, BRAND_CHANNEL)
    assert plan.describe() == "every day at 09:00 Asia/Seoul"
    seoul.settings = seoul.settings.model_copy(update={"roost_time_zone": "Europe/Berlin"})
    assert plan_of(seoul, BRAND_CHANNEL).describe() == "every day at 09:00 Europe/Berlin"
    assert sweep_and_run(seoul) == 0  # 01:00 in Berlin


# --- exactly once --------------------------------------------------------------------


def test_two_workers_at_the_digests_minute_make_one_digest(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=3), "assignee": AGENT})
    slot = slot_key(NINE_KST)
    results: list[str] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        results.append(send_digest(BRAND_CHANNEL, slot))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["posted", "taken", "taken", "taken"]
    # Two sweeps queue it twice, and the queue runs both: still one.
    assert queue_due_digests(seoul) == 0
    seoul.queue.enqueue("bot.digest.daily.send_digest", BRAND_CHANNEL, slot)
    seoul.queue.enqueue("bot.digest.daily.send_digest", BRAND_CHANNEL, slot)
    run_jobs(seoul)
    assert len(digests(fake_slack)) == 1
    assert len(fake_slack.dms(AGENT)) == 1  # and one DM digest for the assignee


def test_a_digest_whose_worker_died_after_posting_is_not_posted_again(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    slot = slot_key(NINE_KST)
    # The dead worker's claim, and the message it got out before dying.
    posted = seoul.slack.chat_postMessage(
        channel=BRAND_CHANNEL,
        text="Roost digest",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"slot": slot}},
    )
    with seoul.sessions.begin() as session:
        session.add(Digest(target=BRAND_CHANNEL, slot=slot, kind="channel", claimed_at=NINE_KST))

    at(seoul, NINE_KST + timedelta(minutes=1))
    assert sweep_and_run(seoul) == 0  # the claim is fresh: its holder may be alive
    at(seoul, NINE_KST + STALE_CLAIM)
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 1
    with seoul.sessions() as session:
        row = session.scalars(select(Digest)).one()
        assert row.slack_ts == posted["ts"] and row.posted_at is not None and row.attempts == 2


def test_a_slack_outage_delays_the_digest_and_loses_nothing(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_slack.fail("chat.postMessage", status=503)
    assert sweep_and_run(seoul) == 1
    assert digests(fake_slack) == []
    assert len(seoul.queue.failed_job_registry) == 1
    at(seoul, NINE_KST + STALE_CLAIM)
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 1


def test_a_channel_roost_was_removed_from_is_logged_and_its_lead_told_once(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account, caplog: pytest.LogCaptureFixture
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    give(seoul, fake_slack, AGENT, "agent", None)
    fake_slack.remove_bot_from(BRAND_CHANNEL)
    with caplog.at_level(logging.ERROR, logger="bot.digest.daily"):
        assert sweep_and_run(seoul) == 1
    assert digests(fake_slack) == []
    assert any("not_in_channel" in record.getMessage() for record in caplog.records)
    told = fake_slack.dms(OWNER)
    assert len(told) == 1
    assert "not a member of that channel" in told[0]["text"]
    assert f"<#{BRAND_CHANNEL}>" in told[0]["text"] and "/invite @Roost" in told[0]["text"]
    assert fake_slack.dms(AGENT) == []

    for later in (STALE_CLAIM, timedelta(hours=3)):
        at(seoul, NINE_KST + later)
        assert sweep_and_run(seoul) == 0
    assert len(fake_slack.dms(OWNER)) == 1
    with seoul.sessions() as session:
        assert session.scalars(select(Digest.error)).one() == "not_in_channel"


# --- what it says --------------------------------------------------------------------


def test_a_day_with_no_mentions_gets_a_short_friendly_digest(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    assert sweep_and_run(seoul) == 1
    (digest,) = digests(fake_slack)
    assert "A quiet day" in text_of(digest)
    assert "nothing is open" in text_of(digest)
    assert len(digest["blocks"]) <= 4
    assert fake_slack.files == []  # no chart of nothing


def test_the_digest_says_what_waits_for_whom_and_how_fast_the_team_answers(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    hour = timedelta(hours=1)
    add_mentions(
        seoul,
        brand,
        # Overnight (after 18:00 yesterday): one assigned to the agent, overdue; one unassigned.
        {
            "created": NINE_KST - 2 * hour,
            "assignee": AGENT,
            "sla_due": NINE_KST - hour,
            "text": "@brand #배송 배송이 너무 늦어요",
        },
        {"created": NINE_KST - 3 * hour, "author": "sam", "text": "@brand 배송은 언제 오나요?"},
        # Yesterday afternoon, answered in 10 minutes by the agent and resolved.
        {
            "created": NINE_KST - 20 * hour,
            "answered": timedelta(minutes=10),
            "responder": AGENT,
            "resolved": hour,
            "resolver": OWNER,
            "status": "resolved",
            "text": "@brand 배송 문의",
        },
        # The week before: answered in 40 minutes.
        {
            "created": NINE_KST - timedelta(days=9),
            "answered": timedelta(minutes=40),
            "responder": AGENT,
            "status": "resolved",
            "resolved": 2 * hour,
        },
    )
    _schedule_post(seoul, brand, NINE_KST + 3 * hour, "Our winter sale starts at noon")
    _schedule_post(seoul, brand, NINE_KST + timedelta(days=1), "Tomorrow's post is not today's")

    assert sweep_and_run(seoul) == 1
    (digest,) = digests(fake_slack)
    said = text_of(digest)
    assert "*3 new mentions* in the last 24 hours (2 overnight) for @brand" in said
    # People are named, not pinged: the digest would ping them every morning.
    assert "*Open* (2): unassigned 1 · @agent 1" in said
    assert f"<@{AGENT}>" not in said and f"<@{OWNER}>" not in said
    assert "*Overdue* (1)" in said
    assert f"{seoul.workspace_url()}/archives/{BRAND_CHANNEL}/p" in said  # links to the cards
    assert "Median first response *10 min* (75% faster than 40 min)" in said
    assert "Median resolution *1 h 00 min*" in said
    assert "@agent: 1 answered, median 10 min (75% faster than 40 min)" in said
    assert "@owner: 1 resolved, median 1 h 00 min (no figure to compare)" in said
    assert "Busiest hours" in said
    assert "배송 (3)" in said
    assert "Our winter sale starts at noon" in said
    assert "Tomorrow's post" not in said
    assert len(digest["blocks"]) <= MAX_MESSAGE_BLOCKS

    # The chart, in the digest's thread.
    (chart,) = fake_slack.files
    assert chart["filename"] == "roost-digest-2026-11-26.png"
    assert chart["content"].startswith(b"\x89PNG")
    in_thread = fake_slack.thread(BRAND_CHANNEL, digest["ts"])
    assert any(message.get("files") for message in in_thread)

    # The agent's own short DM: their one item, overdue.
    (dm,) = fake_slack.dms(AGENT)
    assert "1 item assigned to you" in dm["text"] and "1 overdue" in dm["text"]
    assert "배송이 너무 늦어요" in text_of(dm)
    assert "<@" not in text_of(dm)  # their own list: it need not say whose each item is


def test_user_text_in_a_digest_pings_no_one(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(
        seoul,
        brand,
        {"created": NINE_KST - timedelta(hours=1), "text": "@brand <!channel> hi <@U0BOSS>"},
    )
    assert sweep_and_run(seoul) == 1
    said = text_of(digests(fake_slack)[0])
    assert "<!channel>" not in said and "<@U0BOSS>" not in said
    assert "&lt;!channel&gt;" in said


def test_thousands_of_open_items_stay_within_slacks_limits(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    people = [f"U0P{n:04d}" for n in range(40)]
    for person in people:
        fake_slack.add_user(person, person.lower())
    add_mentions(
        seoul,
        brand,
        *(
            {
                "created": NINE_KST - timedelta(minutes=5 + n),
                "assignee": people[n % 40] if n % 3 else None,
                "sla_due": NINE_KST - timedelta(minutes=1),
                "text": "@brand " + "아주 긴 불만 " * 40 + f"#{n}",
            }
            for n in range(3000)
        ),
    )
    assert sweep_and_run(seoul) == 1  # the fake Slack refuses anything over Slack's limits
    (digest,) = digests(fake_slack)
    assert len(digest["blocks"]) <= MAX_MESSAGE_BLOCKS
    for block in digest["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    said = text_of(digest)
    assert "*Open* (3,000)" in said or "*Open* (3000)" in said
    assert "more: `/roost inbox`" in said
    # 40 assignees, each told once, each list cut with a pointer to /roost mine.
    assert all(len(fake_slack.dms(person)) == 1 for person in people)
    dm = fake_slack.dms(people[1])[0]
    assert "more: `/roost mine`" in text_of(dm)
    assert "50 items assigned to you* (50 overdue)" in text_of(dm)  # all, not the ten shown


def _schedule_post(rt: Runtime, account: Account, run_at: datetime, text: str) -> None:
    with rt.sessions.begin() as session:
        author = member(session, "T0ROOST", LEAD, NINE_KST)
        post = Post(
            key=f"k{fresh_id()}",
            team_id="T0ROOST",
            author_id=author.id,
            text=text,
            media=[],
            run_at=run_at,
            as_thread=False,
            created_at=NINE_KST,
            updated_at=NINE_KST,
        )
        session.add(post)
        session.flush()
        session.add(
            Outbound(
                idempotency_key=f"post:{post.id}:{account.id}:0",
                kind="post",
                account_id=account.id,
                actor_id=author.id,
                text=text,
                status="pending",
                run_at=run_at,
                created_at=NINE_KST,
                post_id=post.id,
                part=0,
            )
        )


# --- who may change it ---------------------------------------------------------------


def test_only_owners_and_admins_change_a_channels_digest(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, AGENT, "agent", None)
    with pytest.raises(Refused, match="Only owners of @brand"):
        set_schedule(seoul, Who(fake_slack.team_id, AGENT), BRAND_CHANNEL, "off", [])
    with seoul.sessions() as session:
        assert session.scalars(select(Member).where(Member.user_id == AGENT)).one()
    assert plan_of(seoul, BRAND_CHANNEL).enabled


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["25:00"], "is not a time of day"),
        (["9:75"], "is not a time of day"),
        (["weekdays"], "Say when"),
        (["09:00", "Mars/Olympus"], "is not a time zone I know"),
        (["09:00", "tomorrow"], "I could not read `tomorrow`"),
    ],
)
def test_a_schedule_that_cannot_be_read_says_why_and_changes_nothing(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account, args: list[str], problem: str
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    with pytest.raises(ValueError, match=problem):
        set_schedule(seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", args)
    assert plan_of(seoul, BRAND_CHANNEL).describe() == "every day at 09:00 Asia/Seoul"


# --- what the review found -----------------------------------------------------------


def test_a_retry_in_a_channel_roost_was_removed_from_gives_up_and_tells_the_lead(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    with seoul.sessions.begin() as session:
        session.add(
            Digest(
                target=BRAND_CHANNEL, slot=slot_key(NINE_KST), kind="channel", claimed_at=NINE_KST
            )
        )
    fake_slack.remove_bot_from(BRAND_CHANNEL)  # so the look for the earlier post fails too
    at(seoul, NINE_KST + STALE_CLAIM)
    assert sweep_and_run(seoul) == 1
    assert len(seoul.queue.failed_job_registry) == 0
    assert len(fake_slack.dms(OWNER)) == 1
    at(seoul, NINE_KST + 3 * STALE_CLAIM)
    assert sweep_and_run(seoul) == 0
    assert len(fake_slack.dms(OWNER)) == 1


def test_after_a_given_up_digest_is_fixed_a_new_time_brings_todays(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    fake_slack.remove_bot_from(BRAND_CHANNEL)
    assert sweep_and_run(seoul) == 1
    assert digests(fake_slack) == []

    fake_slack.add_channel(BRAND_CHANNEL, "x-brand")  # invited back
    at(seoul, NINE_KST + timedelta(minutes=30))
    answer = set_schedule(seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", ["10:00"])
    assert "The next one: Thu 26 Nov 10:00" in answer
    at(seoul, NINE_KST + timedelta(hours=1))
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 1


def test_long_runs_of_text_in_mentions_cannot_break_the_digest(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    words = " ".join(chr(ord("a") + n) * 400 for n in range(8))
    add_mentions(
        seoul,
        brand,
        *({"created": NINE_KST - timedelta(hours=h), "text": f"@brand {words}"} for h in (1, 2)),
    )
    assert sweep_and_run(seoul) == 1
    (digest,) = digests(fake_slack)
    assert "*Recurring*: " + "a" * 39 in text_of(digest)


def test_a_person_dm_that_failed_is_retried_by_the_sweep_and_sent_once(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": AGENT})
    fake_slack.fail("conversations.open", status=503)
    assert sweep_and_run(seoul) == 1
    assert len(digests(fake_slack)) == 1 and fake_slack.dms(AGENT) == []
    at(seoul, NINE_KST + STALE_CLAIM)
    assert sweep_and_run(seoul) == 1  # the person's digest, retried
    assert len(fake_slack.dms(AGENT)) == 1
    at(seoul, NINE_KST + 3 * STALE_CLAIM)
    assert sweep_and_run(seoul) == 0
    assert len(fake_slack.dms(AGENT)) == 1


def test_a_person_dm_whose_answer_was_lost_is_not_sent_again(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": AGENT})
    day = "2026-11-26"
    dm = seoul.slack.conversations_open(users=AGENT)["channel"]["id"]
    seoul.slack.chat_postMessage(
        channel=dm,
        text="Good morning.",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"slot": day}},
    )
    with seoul.sessions.begin() as session:
        session.add(Digest(target=AGENT, slot=day, kind="person", claimed_at=NINE_KST))
    at(seoul, NINE_KST + STALE_CLAIM)
    sweep_and_run(seoul)
    assert len(fake_slack.dms(AGENT)) == 1  # the channel digest's turn found it taken
    with seoul.sessions() as session:
        person = session.scalars(select(Digest).where(Digest.kind == "person")).one()
        assert person.posted_at is not None and person.attempts == 2


def test_a_monday_digest_counts_the_weekend(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    set_schedule(seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", ["09:00", "weekdays"])
    friday = NINE_KST + timedelta(days=1)
    at(seoul, friday)
    assert sweep_and_run(seoul) == 1
    saturday_noon = friday + timedelta(days=1, hours=3)
    add_mentions(seoul, brand, {"created": saturday_noon}, {"created": saturday_noon})
    monday = friday + timedelta(days=3)
    at(seoul, monday)
    assert sweep_and_run(seoul) == 1
    said = text_of(digests(fake_slack)[-1])
    assert "*2 new mentions* since the last digest" in said


@pytest.mark.parametrize("zone", ["America/Indiana", "America/Argentina", "../etc"])
def test_a_folder_of_zones_is_not_a_zone(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account, zone: str
) -> None:
    give(seoul, fake_slack, OWNER, "owner", None)
    with pytest.raises(ValueError):
        set_schedule(seoul, Who(fake_slack.team_id, OWNER), BRAND_CHANNEL, "at", ["09:00", zone])


def test_a_person_dm_failing_all_day_stops_after_an_hour_of_tries(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    from bot.digest.daily import PERSON_ATTEMPTS

    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": AGENT})
    fake_slack.fail("conversations.open", error="internal_error", times=100)
    assert sweep_and_run(seoul) == 1
    retried = 0
    for n in range(1, 40):
        at(seoul, NINE_KST + n * STALE_CLAIM)
        retried += sweep_and_run(seoul)
    assert retried == PERSON_ATTEMPTS - 1
    at(seoul, NINE_KST + timedelta(days=3, minutes=1))  # Sunday: nothing of Thursday's comes back
    before = len(fake_slack.calls_to("conversations.open"))
    sweep_and_run(seoul)
    assert len(fake_slack.calls_to("conversations.open")) == before + 1  # Sunday's own try only


def test_a_retried_person_dm_is_sent_where_roost_may_not_read_dms(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": AGENT})
    fake_slack.fail("conversations.open", status=503)
    assert sweep_and_run(seoul) == 1
    fake_slack.fail("conversations.history", error="missing_scope")  # installed before im:history
    at(seoul, NINE_KST + STALE_CLAIM)
    sweep_and_run(seoul)
    assert len(fake_slack.dms(AGENT)) == 1


def test_names_cannot_format_or_ping(seoul: Runtime, fake_slack: FakeSlack, brand: Account) -> None:
    fake_slack.add_user(AGENT, "```<!channel> *boss*")
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=1), "assignee": AGENT})
    assert sweep_and_run(seoul) == 1
    said = text_of(digests(fake_slack)[0])
    assert "@&lt;!channel&gt; boss 1" in said
    assert "```" not in said and "<!channel>" not in said


def test_someone_slack_cannot_name_is_named_by_their_cotag_not_pinged(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(seoul, fake_slack, "U0GONE", "agent", "^GN")  # Slack no longer describes them
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=1), "assignee": "U0GONE"})
    add_mentions(seoul, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": "U0LOST"})
    assert sweep_and_run(seoul) == 1
    said = text_of(digests(fake_slack)[0])
    assert "^GN 1" in said and "a teammate (U0LOST) 1" in said
    assert "<@U0GONE>" not in said and "<@U0LOST>" not in said


def test_the_digest_says_what_x_billed_yesterday_and_this_month_of_the_budget(
    seoul: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    with seoul.sessions.begin() as session:
        session.get_one(Account, brand.id).x_budget_cents = 5000
    today = seoul.clock().astimezone(UTC).date()
    for day, micros in ((today - timedelta(days=1), 1_230_000), (today, 250_000)):
        if day.month == today.month:
            seoul.redis.hincrby(day_key(brand.id, day.isoformat()), "read:post:micros", micros)
    send_digest(BRAND_CHANNEL, slot_key(NINE_KST))
    (digest,) = digests(fake_slack)
    said = json.dumps(digest["blocks"], ensure_ascii=False)
    assert "@brand — X: $1.23 yesterday, $1.48 this month of $50.00" in said


def test_overnight_follows_the_channels_schedule() -> None:
    """A weekday digest at 08:30 on Monday counts the weekend, from Friday evening; a
    daily one at 07:00 counts the night until 07:00, not a fixed 09:00."""
    seoul = ZoneInfo(SEOUL)
    weekdays = Plan(BRAND_CHANNEL, 8 * 60 + 30, SEOUL, True, True, None)
    begins, ends, label = weekdays.overnight(date(2026, 12, 7))  # a Monday
    assert begins == datetime(2026, 12, 4, 18, 0, tzinfo=seoul)
    assert ends == datetime(2026, 12, 7, 8, 30, tzinfo=seoul)
    assert label == "since Friday evening"
    daily = Plan(BRAND_CHANNEL, 7 * 60, SEOUL, False, True, None)
    begins, ends, label = daily.overnight(date(2026, 12, 10))
    assert (begins, ends, label) == (
        datetime(2026, 12, 9, 18, 0, tzinfo=seoul),
        datetime(2026, 12, 10, 7, 0, tzinfo=seoul),
        "overnight",
    )
