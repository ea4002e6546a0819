"""`/roost digest` and `/roost stats` through the real, signed Bolt app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt import App

from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack, command_body
from sandbox.x_api import FakeX
from storage.models import Account
from tests.conftest import AGENT, BRAND_CHANNEL, LEAD, OWNER, add_brand_account, give
from tests.handlers.signed import command, dispatch, make_app
from tests.stored import add_mentions

NINE_KST = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
STRANGER = "U0STRANGER"


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack, brand: Account) -> App:
    rt.settings = rt.settings.model_copy(update={"roost_time_zone": "Asia/Seoul"})
    rt.clock = lambda: NINE_KST
    for user, name in ((OWNER, "owner"), (AGENT, "agent"), (LEAD, "lead"), (STRANGER, "x")):
        fake_slack.add_user(user, name)
    give(rt, fake_slack, OWNER, "owner", None)
    give(rt, fake_slack, AGENT, "agent", None)
    return make_app(rt)


def ask(app: App, fake_slack: FakeSlack, text: str, user: str = AGENT) -> dict[str, Any]:
    before = len(fake_slack.responses)
    assert command(app, fake_slack, text, user=user).status == 200
    return fake_slack.wait_for(lambda: len(fake_slack.responses) > before and fake_slack.responses)[
        -1
    ]


def said(answer: dict[str, Any]) -> str:
    parts = [answer.get("text") or ""]
    for block in answer.get("blocks") or []:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(parts)


def test_digest_shows_this_channels_digest_now_to_the_asker_alone(
    rt: Runtime, app: App, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(rt, brand, {"created": NINE_KST - timedelta(hours=2), "assignee": AGENT})
    answer = ask(app, fake_slack, "digest")
    assert answer["response_type"] == "ephemeral"
    text = said(answer)
    assert "*1 new mention* in the last 24 hours" in text
    assert "This channel's digest runs every day at 09:00 Asia/Seoul" in text
    # Shown, not sent: today's digest still goes out at its time, and nobody was DMed.
    assert fake_slack.messages("C0BRAND") == []
    assert fake_slack.dms(AGENT) == []


def test_digest_schedule_changes_by_owners_only(
    rt: Runtime, app: App, fake_slack: FakeSlack
) -> None:
    refused = said(ask(app, fake_slack, "digest at 08:30 weekdays", user=AGENT))
    assert "Only owners of @brand and Slack admins" in refused
    changed = said(ask(app, fake_slack, "digest at 08:30 weekdays Europe/Berlin", user=OWNER))
    assert "weekdays at 08:30 Europe/Berlin" in changed
    assert "The next one: Thu 26 Nov 08:30" in changed
    wrong = said(ask(app, fake_slack, "digest at 8:99", user=OWNER))
    assert "8:99 is not a time of day" in wrong
    assert "is off" in said(ask(app, fake_slack, "digest off", user=OWNER))
    assert "I don't know `sometimes`" in said(ask(app, fake_slack, "digest sometimes"))


def test_digest_refuses_someone_without_a_role(app: App, fake_slack: FakeSlack) -> None:
    refused = said(ask(app, fake_slack, "digest", user=STRANGER))
    assert "it takes a role on each of them" in refused


def test_a_channel_without_accounts_has_no_digest_to_show_or_set(
    app: App, fake_slack: FakeSlack
) -> None:
    for text, user in (("digest", AGENT), ("digest at 09:00", OWNER)):
        body = command_body(
            "/roost",
            text,
            user_id=user,
            channel_id="C0GENERAL",
            team_id=fake_slack.team_id,
            response_url=fake_slack.response_url(),
        )
        dispatch(app, body)
        answer = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
        assert "No account's cards come to this channel" in said(answer)
    assert fake_slack.messages("C0BRAND") == []


def test_a_digest_covering_two_accounts_takes_a_role_on_both(
    rt: Runtime, app: App, fake_slack: FakeSlack, fake_x: FakeX
) -> None:
    secret = add_brand_account(rt, fake_x, "secret", BRAND_CHANNEL)
    add_mentions(rt, secret, {"created": NINE_KST - timedelta(hours=1), "text": "@secret psst"})
    assert "it takes a role on each of them" in said(ask(app, fake_slack, "digest", user=AGENT))
    refused = said(ask(app, fake_slack, "digest off", user=OWNER))
    assert "Only owners of @brand, @secret and Slack admins" in refused


def test_stats_answers_with_figures_and_sends_the_chart(
    rt: Runtime, app: App, fake_slack: FakeSlack, brand: Account
) -> None:
    add_mentions(
        rt,
        brand,
        {
            "created": NINE_KST - timedelta(days=20),
            "answered": timedelta(minutes=12),
            "responder": AGENT,
            "status": "replied",
        },
        {
            "created": NINE_KST - timedelta(days=40),
            "answered": timedelta(minutes=30),
            "responder": AGENT,
            "status": "replied",
        },
    )
    week = said(ask(app, fake_slack, "stats"))
    assert "Last 7 days for @brand" in week and "0 mentions" in week
    month = said(ask(app, fake_slack, "stats 30d @brand"))
    assert "Median first response *12 min* (60% faster than 30 min)" in month
    assert "The chart is in your DM with Roost" in month
    (chart,) = fake_slack.files
    assert chart["filename"] == "roost-stats-30d.png" and chart["content"].startswith(b"\x89PNG")
    assert chart["channel"] == fake_slack.dms(AGENT)[0]["channel"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("stats 14d", "Stats cover 7 or 30 days, not 14"),
        ("stats soon", "I could not read `soon`"),
        ("stats @nobody", "There is no account @nobody"),
    ],
)
def test_stats_says_what_is_wrong_with_a_request(
    app: App, fake_slack: FakeSlack, text: str, problem: str
) -> None:
    assert problem in said(ask(app, fake_slack, text))


def test_stats_shows_only_accounts_the_person_has_a_role_on(
    app: App, fake_slack: FakeSlack
) -> None:
    assert "You have no role on @brand" in said(ask(app, fake_slack, "stats @brand", user=STRANGER))
    assert "You have no role on any account" in said(ask(app, fake_slack, "stats", user=STRANGER))
