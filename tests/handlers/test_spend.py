"""`/roost spend` through the real app: figures the fake X's own bill confirms."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from slack_bolt import App

from bot.digest.spend import parse_spend_args, spend
from bot.home import publish_home
from bot.inbox.intake import Intake
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention
from tests.conftest import AGENT, OWNER, run_jobs
from tests.handlers.signed import command, make_app

STRANGER = "U0STRANGER"


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


def answer(app: App, fake_slack: FakeSlack, text: str, user: str = AGENT) -> dict[str, Any]:
    before = len(fake_slack.responses)
    command(app, fake_slack, text, user=user)
    answered: list[dict[str, Any]] = fake_slack.wait_for(
        lambda: fake_slack.responses[before:] and fake_slack.responses[before:]
    )
    return answered[0]


def test_spend_shows_this_months_figures_to_the_cent_of_xs_bill(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    jane_card: dict[str, Any],
) -> None:
    with rt.sessions() as session:
        mention_id = session.query(Mention.id).scalar()
    draft = dataclasses.replace(Draft.new(mention_id, "reply"), text="@jane on it")
    assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)
    for n in range(4):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)

    said = answer(app, fake_slack, "spend @brand")

    billed = fake_x.spend("brand")
    assert billed > 0
    assert f"${billed:.3f} this month" in said["text"]
    shown = json.dumps(said["blocks"])
    assert "posts read: 5 ($0.025)" in shown  # jane's five posts, each once
    assert "replies: 1 ($0.010)" in shown


def test_spend_is_refused_on_an_account_the_person_has_no_role_on(
    app: App, fake_slack: FakeSlack, brand: Account
) -> None:
    said = answer(app, fake_slack, "spend @brand", user=STRANGER)
    assert "no role on @brand" in said["text"]


def test_spend_arguments_that_do_not_parse_say_how() -> None:
    assert parse_spend_args("@brand 2026-11") == ("brand", "2026-11")
    assert parse_spend_args("2026-11 brand") == ("brand", "2026-11")
    with pytest.raises(ValueError, match="neither an account nor a month"):
        parse_spend_args("@brand last-month")


def test_a_month_that_is_not_one_says_how(rt: Runtime, fake_slack: FakeSlack) -> None:
    with pytest.raises(ValueError, match="“2026-13” is not a month"):
        spend(rt, Who(fake_slack.team_id, "U0ANYONE"), "2026-13")


def test_owners_see_what_x_bills_on_their_home_and_agents_do_not(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    for user in (OWNER, AGENT):
        publish_home(rt, fake_slack.team_id, user)
    homes = {
        v["user_id"]: json.dumps(v["view"]["blocks"], ensure_ascii=False) for v in fake_slack.views
    }
    billed = fake_x.spend("brand")
    assert "@brand — X:" in homes[OWNER] and f"${billed:.3f} this month" in homes[OWNER]
    assert "What X bills" not in homes[AGENT]
