"""The people behind the mentions through Slack: a returning author's card says what the
team knows of them (earlier conversations, who answered, notes, a mark), its History
button lists it, and notes and marks are made by command or by naming them in a thread."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from slack_bolt import App

from bot.inbox.cards import ACTION_HISTORY, ACTION_RESOLVE
from bot.inbox.intake import Intake
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, run_jobs
from tests.handlers.signed import command, make_app, opened_modal, press
from tests.handlers.test_assignment import say_in_thread


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = AGENT) -> str:
    assert command(app, fake_slack, text, user=user).status == 200
    return str(fake_slack.responses[-1].get("text", ""))


def cards(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]


def blocks_of(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def test_a_returning_authors_card_says_what_the_team_knows_and_history_lists_it(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    jane_card: dict[str, Any],
) -> None:
    app = make_app(rt)
    assert ":bust_in_silhouette:" not in blocks_of(jane_card)  # a first mention: nothing
    with rt.sessions() as session:
        first = session.query(Mention).one()
    draft = dataclasses.replace(Draft.new(first.id, "reply"), text="@jane try holding power")
    assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)
    press(app, fake_slack, jane_card, ACTION_RESOLVE)
    run_jobs(rt)
    say_in_thread(app, fake_slack, jane_card, "@jane prefers DMs <!channel>", user=OWNER)
    assert "Noted about *@jane*" in roost(app, fake_slack, "note @jane Ordered the blue one.")
    assert "marked :star: VIP" in roost(app, fake_slack, "flag @jane vip", user=OWNER)

    fake_x.post_mention("brand", author="jane", text="@brand it died again")
    Intake(rt).poll(brand)
    run_jobs(rt)
    second = cards(fake_slack)[-1]

    said = blocks_of(second)
    assert ":star: VIP · 1 earlier conversation, the last" in said
    assert f"answered by <@{AGENT}>, resolved · 2 notes about them" in said
    before = len(fake_slack.views)
    assert press(app, fake_slack, second, ACTION_HISTORY).status == 200
    history = blocks_of(opened_modal(fake_slack, before))
    assert "Ordered the blue one." in history and "prefers DMs &lt;!channel&gt;" in history
    assert "my phone will not turn on" in history and "archives" in history  # its card
    assert "<!channel>" not in history


def test_notes_and_marks_are_refused_clearly_where_they_cannot_be_made(
    rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    assert "no mention from @nobody" in roost(app, fake_slack, "note @nobody Hello")
    assert "Only an account's owner or an admin" in roost(app, fake_slack, "flag @jane vip")
    assert "is not a mark Roost knows" in roost(app, fake_slack, "flag @jane royal", OWNER)
    assert "/roost note @handle" in roost(app, fake_slack, "note jane")
    assert "no role on any account" in roost(app, fake_slack, "note @jane hi", user="U0NOBODY")
    assert "no longer marked" in roost(app, fake_slack, "flag @jane off", OWNER)
