"""An account's own numbers and region through Slack: `/roost allow` and `/roost region`
(owners and admins), and a reply with the brand's own care line no longer stopped."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.inbox.cards import ACTION_REPLY
from bot.outbound.reply_modal import TEXT_INPUT
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack
from tests.conftest import AGENT, OWNER
from tests.handlers.signed import command, make_app, opened_modal, press, submit


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = OWNER) -> str:
    assert command(app, fake_slack, text, user=user).status == 200
    return str(fake_slack.responses[-1].get("text", ""))


def preview(app: App, fake_slack: FakeSlack, card: dict[str, Any], text: str) -> dict:
    before = len(fake_slack.views)
    press(app, fake_slack, card, ACTION_REPLY)
    view = opened_modal(fake_slack, before)
    return submit(app, fake_slack, view, {"text": {TEXT_INPUT: {"value": text}}})


def test_the_brands_own_care_line_goes_out_once_it_is_on_the_accounts_list(
    rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    reply = "@jane call our care line 1588-0000, 9 to 6"
    refused = preview(app, fake_slack, jane_card, reply)
    assert refused["response_action"] == "errors" and "phone number" in refused["errors"]["text"]

    assert "Only an owner" in roost(app, fake_slack, "allow @brand 1588-0000", user=AGENT)
    assert "now lets `1588-0000`" in roost(app, fake_slack, "allow @brand 1588-0000")
    assert "needs no place here" in roost(app, fake_slack, "allow @brand hello")
    assert "`1588-0000`" in roost(app, fake_slack, "allow @brand", user=AGENT)
    assert preview(app, fake_slack, jane_card, reply)["response_action"] == "push"
    with_customer = preview(app, fake_slack, jane_card, reply + " or 010-1234-5678")
    assert with_customer["response_action"] == "errors"  # anyone else's still stops it

    assert "no longer lets" in roost(app, fake_slack, "allow @brand off 1588-0000")
    assert preview(app, fake_slack, jane_card, reply)["response_action"] == "errors"


def test_an_accounts_region_reads_its_numbers(
    rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    assert "not a region" in roost(app, fake_slack, "region @brand XX")
    assert "as US's (it was KR's)" in roost(app, fake_slack, "region @brand us")
    refused = preview(app, fake_slack, jane_card, "@jane we called 415-555-0132")
    assert "a phone number" in refused["errors"]["text"]
