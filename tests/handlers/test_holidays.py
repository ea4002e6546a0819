"""Holidays and days off through Slack: `/roost holidays` (owners and admins) closes an
account's business hours on its country's public holidays and the team's own days off,
its cards' SLA clocks stop then too, and changing the hours keeps them."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from sqlalchemy import update

from bot.runtime import Runtime
from bot.team.admin import save_settings, summary
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from storage.models import Account
from tests.conftest import AGENT, OWNER
from tests.handlers.signed import command, make_app

WEEK = {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = OWNER) -> str:
    assert command(app, fake_slack, text, user=user).status == 200
    return str(fake_slack.responses[-1].get("text", ""))


def hours_of(rt: Runtime, brand: Account) -> dict[str, Any]:
    with rt.sessions() as session:
        return dict(session.get_one(Account, brand.id).business_hours or {})


def test_holidays_and_days_off_close_the_hours_and_outlive_a_change_of_hours(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    assert "set its business hours first" in roost(app, fake_slack, "holidays @brand KR")
    with rt.sessions.begin() as session:
        session.execute(update(Account).where(Account.id == brand.id).values(business_hours=WEEK))
    assert "Only an owner" in roost(app, fake_slack, "holidays @brand KR", user=AGENT)
    assert "No public holidays are known for “XX”" in roost(app, fake_slack, "holidays @brand XX")
    assert "Closed on KR's public holidays." in roost(app, fake_slack, "holidays @brand kr")
    said = roost(app, fake_slack, "holidays @brand off 2026-12-31")
    assert "1 day off (2026-12-31)" in said
    assert "not a date" in roost(app, fake_slack, "holidays @brand off tomorrow")
    assert hours_of(rt, brand) == WEEK | {"holidays": "KR", "off": ["2026-12-31"]}

    # New hours from the settings window keep them.
    form = {"sla_minutes": "60", "business_hours": "Mon-Sat 08:00-20:00 Asia/Seoul"}
    form |= {"cotags_enabled": True, "banned_words": "", "budget": ""}
    assert save_settings(rt, Who(fake_slack.team_id, OWNER), brand.id, form) == {}
    assert hours_of(rt, brand)["holidays"] == "KR" and hours_of(rt, brand)["off"] == ["2026-12-31"]
    assert summary(rt, Who(fake_slack.team_id, OWNER), brand.id)
    said = roost(app, fake_slack, "holidays @brand open 2026-12-31")
    assert "Closed on KR's public holidays." in said
    assert "No holidays or days off." in roost(app, fake_slack, "holidays @brand none")
