"""On duty and auto-assign through Slack: people go on and off duty, an auto-assigning
account gives its new cards to those on duty in turn within a limit of open items,
going off duty offers to hand one's items over, and off duty nobody's phone is pinged
by an SLA reminder."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from slack_bolt import App
from sqlalchemy import delete, select

from bot.inbox.duty import RETURN_ACTION
from bot.inbox.intake import Intake
from bot.inbox.sla import remind
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Event, Grant, Member, Mention
from tests.conftest import AGENT, BRAND_CHANNEL, LEAD, OWNER, run_jobs
from tests.handlers.signed import card_click, command, dispatch, make_app


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = OWNER) -> dict[str, Any]:
    assert command(app, fake_slack, text, user=user).status == 200
    return dict(fake_slack.responses[-1])


FANS = itertools.count()


def new_mentions(rt: Runtime, fake_x: FakeX, brand: Account, texts: list[str]) -> None:
    for text in texts:
        fan = fake_x.add_user(f"fan{next(FANS)}")["username"]
        fake_x.post_mention("brand", author=fan, text=f"@brand {text}")
    Intake(rt).poll(brand)
    run_jobs(rt)


def assignees(rt: Runtime) -> list[str | None]:
    with rt.sessions() as session:
        return [
            user
            for _, user in session.execute(
                select(Mention.id, Member.user_id)
                .outerjoin(Member, Member.id == Mention.assignee_id)
                .order_by(Mention.id)
            )
        ]


def test_new_cards_go_to_those_on_duty_in_turn_within_their_limit(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    assert "Only an owner" in roost(app, fake_slack, "autoassign @brand on 1", user=AGENT)["text"]
    assert "fewer than 1 open items" in roost(app, fake_slack, "autoassign @brand on 1")["text"]
    assert "on duty" in roost(app, fake_slack, "duty on", user=AGENT)["text"]
    roost(app, fake_slack, "duty on", user=LEAD)
    said = roost(app, fake_slack, "duty")["text"]
    assert f"<@{AGENT}>" in said and f"<@{LEAD}>" in said
    fake_slack.add_user(AGENT, "agent")
    digest = json.dumps(roost(app, fake_slack, "digest")["blocks"])
    # Named, not pinged.
    assert "On duty in the last 24 hours: @agent" in digest and f"<@{AGENT}>" not in digest

    new_mentions(rt, fake_x, brand, ["one", "two", "three"])

    first, *given = assignees(rt)  # jane's card came before auto-assign: in the inbox
    assert first is None and sorted(given[:2]) == sorted([AGENT, LEAD]) and given[2] is None
    cards = [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]
    assert f"assigned to <@{given[0]}>" in json.dumps(cards[1]["blocks"])
    with rt.sessions() as session:
        auto = session.scalars(select(Event).where(Event.kind == "mention.assigned")).all()
    assert [e.detail["via"] for e in auto] == ["auto", "auto"]


def test_going_off_duty_offers_to_hand_over_and_off_duty_is_not_pinged(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    roost(app, fake_slack, "autoassign @brand on 5")
    roost(app, fake_slack, "duty on", user=AGENT)
    new_mentions(rt, fake_x, brand, ["one", "two"])
    assert assignees(rt)[1:] == [AGENT, AGENT]

    answer = roost(app, fake_slack, "duty off", user=AGENT)
    assert "with 2 open items still yours" in answer["text"]
    later = rt.clock() + timedelta(hours=2)
    rt.clock = lambda: later
    with rt.sessions() as session:
        second = session.scalars(select(Mention.id).order_by(Mention.id)).all()[1]
    assert remind(second) == "reminded"
    reminders = [
        m["text"]
        for m in fake_slack.messages(BRAND_CHANNEL)
        if ":alarm_clock:" in m.get("text", "")
    ] + [
        m["text"]
        for card in fake_slack.messages(BRAND_CHANNEL)
        for m in fake_slack.thread(BRAND_CHANNEL, card["ts"])
        if ":alarm_clock:" in m.get("text", "")
    ]
    assert any("its assignee is off duty" in text for text in reminders)
    assert not any(f"<@{AGENT}>" in text for text in reminders)

    (button,) = [
        e
        for b in answer["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == RETURN_ACTION
    ]
    click = {
        "action_id": RETURN_ACTION,
        "block_id": "duty_handover",
        "type": "button",
        "value": "inbox",
    }
    assert dispatch(app, card_click(fake_slack, click, user=AGENT)).status == 200
    assert "Moved 2 open items back to the inbox" in fake_slack.responses[-1]["text"]
    assert assignees(rt)[1:] == [None, None]


def test_the_app_home_says_whether_one_is_on_duty_and_changes_it(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    from bot.home import publish_home
    from bot.inbox.duty import TOGGLE_ACTION
    from sandbox.slack_api import action_body

    app = make_app(rt)
    fake_slack.add_user(AGENT, "agent")
    publish_home(rt, fake_slack.team_id, AGENT)
    home = fake_slack.views[-1]["view"]
    assert "You are off duty" in json.dumps(home["blocks"])
    (flip,) = [
        b["accessory"]
        for b in home["blocks"]
        if b.get("accessory", {}).get("action_id") == TOGGLE_ACTION
    ]
    click = {
        "type": "block_actions",
        "team": {"id": fake_slack.team_id},
        "user": {"id": AGENT, "team_id": fake_slack.team_id},
        "api_app_id": "AROOST",
        "container": {"type": "view", "view_id": "V0HOME"},
        "view": {"id": "V0HOME", "type": "home"},
        "trigger_id": fake_slack.issue_trigger(),
        "actions": [
            {
                "action_id": TOGGLE_ACTION,
                "block_id": "duty",
                "type": "button",
                "value": flip["value"],
            }
        ],
    }
    assert flip["value"] == "on"
    assert dispatch(app, action_body(click)).status == 200
    fake_slack.wait_for(lambda: fake_slack.dms(AGENT) or None)
    assert "You are on duty" in fake_slack.dms(AGENT)[-1]["text"]
    fake_slack.wait_for(lambda: "You are on duty" in json.dumps(fake_slack.views[-1]["view"]))


def test_the_weekly_rota_puts_people_on_duty_in_their_hours_and_refuses_overlaps(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    roost(app, fake_slack, "autoassign @brand on 5")
    agent = f"<@{AGENT}|agent>"
    said = roost(app, fake_slack, f"rota @brand {agent} daily 00:00-24:00")["text"]
    assert f"<@{AGENT}> is on duty for *@brand* Mon-Sun 00:00-24:00 UTC each week" in said
    said = roost(app, fake_slack, f"rota @brand {agent} Mon-Fri 09:00-18:00")["text"]
    assert "That overlaps" in said
    said = roost(app, fake_slack, "rota @brand <@U0NOBODY|x> Mon-Fri 09:00-18:00")["text"]
    assert "has no role on *@brand*" in said
    assert "Cannot read" in roost(app, fake_slack, f"rota @brand {agent} sometimes")["text"]
    assert f"<@{AGENT}>: Mon-Sun" in roost(app, fake_slack, "rota @brand", user=AGENT)["text"]

    new_mentions(rt, fake_x, brand, ["one"])  # the agent never said "duty on": the rota did
    assert assignees(rt)[1:] == [AGENT]

    assert "is off" in roost(app, fake_slack, f"rota @brand off {agent}")["text"]
    new_mentions(rt, fake_x, brand, ["two"])
    assert assignees(rt)[1:] == [AGENT, None]


def test_the_digest_names_who_was_on_duty_by_their_say_or_the_rota_not_only_who_is_now(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    for user, name in ((AGENT, "agent"), (LEAD, "lead"), (OWNER, "owner")):
        fake_slack.add_user(user, name)
    roost(app, fake_slack, "duty on", user=LEAD)
    roost(app, fake_slack, "duty off", user=LEAD)  # on for the night, off by the morning
    roost(app, fake_slack, "duty off", user=AGENT)  # never on: nothing changed
    roost(app, fake_slack, f"rota @brand <@{OWNER}> daily 00:00-24:00")
    roost(app, fake_slack, f"rota @brand <@{AGENT}> daily 00:00-24:00")
    with rt.sessions.begin() as session:  # the agent's role is gone; the rota still names them
        agent = session.scalars(select(Member).where(Member.user_id == AGENT)).one()
        session.execute(delete(Grant).where(Grant.member_id == agent.id))

    (line,) = [
        element["text"]
        for block in roost(app, fake_slack, "digest")["blocks"]
        for element in block.get("elements", [])
        if "On duty" in element.get("text", "")
    ]
    assert line == ":large_green_circle: On duty in the last 24 hours: @lead, @owner"
