"""Surges found from the pace of an account's mentions against its usual for the hour,
with a floor; switched on and off by hand; each start and end told once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from slack_bolt import App
from sqlalchemy import update

from bot.errors import Refused
from bot.runtime import Runtime
from bot.slack.client import WORKER_MAX_WAIT, make_client
from bot.surge.detect import check_surges, pace_of, surge_command
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from storage.mentions import IncomingMention, store_mentions
from storage.models import Account, Surge
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give


@pytest.fixture
def at_two(rt: Runtime, brand: Account) -> Runtime:  # and `brand`, added three weeks ago
    """The clock at 14:30 UTC on a Saturday; @brand in Roost for three weeks."""
    now = datetime.fromisoformat("2026-12-05T14:30:00+00:00")
    rt.clock = lambda: now
    with rt.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id == brand.id)
            .values(created_at=now - timedelta(days=21))
        )
    brand.created_at = now - timedelta(days=21)
    return rt


def arrive(rt: Runtime, account: Account, count: int, at: datetime, start: int = 0) -> None:
    """`count` mentions stored at `at`."""
    mentions = [
        IncomingMention(10_000 + start + n, 10_000 + start + n, 200, f"@brand {n}", at)
        for n in range(count)
    ]
    with rt.sessions.begin() as session:
        store_mentions(session, account.id, mentions, at)


def notices(fake_slack: FakeSlack) -> list[str]:
    return [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "surge" in m["text"]]


def usual_history(rt: Runtime, brand: Account, per_hour: int) -> None:
    """`per_hour` mentions in this hour of each of the last 14 days."""
    now = rt.clock()
    for day in range(1, 15):
        arrive(rt, brand, per_hour, now - timedelta(days=day), start=day * 1_000)


def test_a_quiet_accounts_handful_is_no_surge(at_two: Runtime, brand: Account) -> None:
    arrive(at_two, brand, 20, at_two.clock() - timedelta(minutes=1), start=900_000)
    with at_two.sessions() as session:
        pace = pace_of(at_two, session, brand, at_two.clock())
    assert pace.rate == 20 and pace.usual == 0 and pace.starts_at == 100 and not pace.surging


def test_a_surge_is_four_times_the_usual_for_the_hour(at_two: Runtime, brand: Account) -> None:
    """240 mentions in this hour on each of 14 days: 40 every 10 minutes, usually; a surge
    starts at 160."""
    usual_history(at_two, brand, 240)
    arrive(at_two, brand, 159, at_two.clock() - timedelta(minutes=2), start=900_000)
    with at_two.sessions() as session:
        pace = pace_of(at_two, session, brand, at_two.clock())
    assert pace.usual == pytest.approx(40) and pace.starts_at == pytest.approx(160)
    assert not pace.surging
    arrive(at_two, brand, 1, at_two.clock() - timedelta(minutes=1), start=990_000)
    with at_two.sessions() as session:
        assert pace_of(at_two, session, brand, at_two.clock()).surging


def test_the_channel_is_told_once_when_a_surge_starts_and_once_when_it_ends(
    at_two: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    start = at_two.clock()
    arrive(at_two, brand, 240, start - timedelta(minutes=3), start=900_000)
    assert check_surges(at_two) == 1
    assert check_surges(at_two) == 0
    (started,) = notices(fake_slack)
    assert "A surge on *@brand*: 240 mentions in the last 10 min" in started
    assert "next to none at this hour" in started

    later = start + timedelta(minutes=5)  # still coming: the peak grows, it goes on
    at_two.clock = lambda: later
    arrive(at_two, brand, 100, later - timedelta(minutes=1), start=950_000)
    check_surges(at_two)
    calm = start + timedelta(minutes=30)  # nothing for twenty minutes
    at_two.clock = lambda: calm
    assert check_surges(at_two) == 1
    assert check_surges(at_two) == 0
    ended = notices(fake_slack)[-1]
    assert "The surge on *@brand* is over after 30 min: 340 mentions" in ended
    assert "at most 340 in one window" in ended
    with at_two.sessions() as session:
        (surge,) = session.query(Surge).all()
    assert surge.ended_at == calm and surge.peak == 340 and surge.started_by is None


def test_a_surge_switched_on_by_hand_lasts_until_switched_off(
    at_two: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(at_two, fake_slack, OWNER, "owner", None)
    owner = Who(fake_slack.team_id, OWNER)
    answer, _ = surge_command(at_two, owner, "on @brand")
    assert "Surge mode is on for *@brand*" in answer
    assert f"<@{OWNER}> switched surge mode on for *@brand*" in notices(fake_slack)[0]
    assert "already on" in surge_command(at_two, owner, "on @brand")[0]
    later = at_two.clock() + timedelta(hours=2)
    at_two.clock = lambda: later
    check_surges(at_two)  # calm, but a person's surge waits for a person
    assert len(notices(fake_slack)) == 1
    text, _ = surge_command(at_two, owner, "")
    assert "*@brand*: a surge since" in text
    assert "is over" in surge_command(at_two, owner, "off @brand")[0]
    assert (
        f"over after 2 h 0 min: 0 mentions, at most 0 in one window, no status update. "
        f"<@{OWNER}> ended it" in (notices(fake_slack)[-1])
    )
    assert "no surge on *@brand* to end" in surge_command(at_two, owner, "off @brand")[0]


def test_only_owners_and_admins_switch_a_surge_and_what_is_typed_is_escaped(
    at_two: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(at_two, fake_slack, AGENT, "agent", "^BK")
    agent = Who(fake_slack.team_id, AGENT)
    with pytest.raises(Refused, match="Only an owner of"):
        surge_command(at_two, agent, "on @brand")
    with pytest.raises(Refused) as refused:
        surge_command(at_two, agent, "on <!channel>")
    assert "<!channel>" not in str(refused.value) and "&lt;!channel&gt;" in str(refused.value)
    with pytest.raises(ValueError, match="Use `/roost surge`"):
        surge_command(at_two, agent, "maybe @brand")


def test_the_command_is_wired(rt: Runtime, fake_slack: FakeSlack, brand: Account) -> None:
    from tests.handlers.signed import command, make_app

    give(rt, fake_slack, OWNER, "owner", None)
    app: App = make_app(rt)
    command(app, fake_slack, "surge on @brand", user=OWNER)
    assert any("switched surge mode on" in text for text in notices(fake_slack))


def test_a_notice_slack_would_not_take_in_the_flood_goes_out_at_the_next_sweep(
    at_two: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    at_two.slack = make_client(fake_slack.bot_token, fake_slack.url, max_wait=WORKER_MAX_WAIT)
    arrive(at_two, brand, 240, at_two.clock() - timedelta(minutes=3), start=900_000)
    # Longer than a worker waits, and again when tried at once.
    fake_slack.fail("chat.postMessage", retry_after=30, times=2)
    check_surges(at_two)
    assert notices(fake_slack) == []
    check_surges(at_two)
    check_surges(at_two)
    (started,) = notices(fake_slack)
    assert "A surge on *@brand*: 240 mentions" in started
    calm = at_two.clock() + timedelta(minutes=30)
    at_two.clock = lambda: calm
    fake_slack.fail("chat.postMessage", retry_after=30, times=2)
    check_surges(at_two)  # ended, its notice refused
    check_surges(at_two)
    assert len(notices(fake_slack)) == 2 and "is over" in notices(fake_slack)[1]


def test_mentions_read_late_count_when_they_were_posted_not_when_read(
    at_two: Runtime, brand: Account
) -> None:
    """A back-fill after an outage stores six hours of mentions at once: no surge."""
    now = at_two.clock()
    backlog = [
        IncomingMention(70_000 + n, 70_000 + n, 200, f"@brand {n}", now - timedelta(minutes=6 * n))
        for n in range(60)
    ]
    with at_two.sessions.begin() as session:
        store_mentions(session, brand.id, backlog, now)
    with at_two.sessions() as session:
        pace = pace_of(at_two, session, brand, now)
    assert pace.rate == 2 and not pace.surging  # posted in the last 10 minutes: two
